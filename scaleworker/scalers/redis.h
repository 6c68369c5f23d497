/*
 * redis: private declarations of the redis scaler (redis.c: the connection and the protocol;
 * redis_cfg.c: its parameters, parsed exactly as KEDA's redis_scaler.go reads them).
 */
#ifndef CKEDA_SCALEWORKER_REDIS_H
#define CKEDA_SCALEWORKER_REDIS_H

#include "scaleworker/net.h"
#include "scaleworker/scaler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SW_REDIS_ARG_MAX 65536 /* listName, username, password */

typedef struct sw_redis_cfg {
    char host[SW_HOST_MAX]; /* the first address (KEDA's redis, not -cluster, uses only it) */
    char port[SW_PORT_MAX];
    char *list_name;
    size_t list_len;
    char *username; /* NULL when not given; wiped when freed */
    char *password;
    int64_t list_length;            /* target (the watcher's copy is in the table) */
    int64_t activation_list_length; /* likewise */
    int64_t database_index;         /* SELECT only when > 0, as go-redis */
    bool enable_tls;
    bool unsafe_ssl;
} sw_redis_cfg_t;

/* Parses and validates; on failure writes "metadata.<field>: ..." into err and returns -EINVAL
 * (or -ENOMEM); nothing is left allocated then. */
int sw_redis_cfg_parse(const sw_params_t *params, sw_redis_cfg_t *ret, char *err, size_t errlen);
void sw_redis_cfg_free(sw_redis_cfg_t *c);

#endif
