/*
 * redis: private declarations of the redis scalers: `redis` (lists: redis.c) and
 * `redis-streams` (redis_streams.c). What they share: the connection parameters, parsed exactly
 * as KEDA's redis_scaler.go reads its redisConnectionInfo (redis_cfg.c), and one non-blocking
 * RESP2 connection per trigger with AUTH, SELECT and command pipelining (redis_client.c). Each
 * scaler adds its own parameters, its commands and what it makes of their replies.
 */
#ifndef CKEDA_SCALEWORKER_REDIS_H
#define CKEDA_SCALEWORKER_REDIS_H

#include "scaleworker/conn.h"
#include "scaleworker/scaler.h"
#include "scaleworker/scalers/resp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SW_REDIS_ARG_MAX 65536 /* a key name, username, password */

/* ---- parameters (redis_cfg.c) -------------------------------------------------------------- */

/* KEDA's redisConnectionInfo (single instance: no cluster, no sentinel) and databaseIndex. */
typedef struct sw_redis_conn_cfg {
    char host[SW_HOST_MAX]; /* the first address (KEDA's redis, not -cluster, uses only it) */
    char port[SW_PORT_MAX];
    char *username; /* NULL when not given; wiped when freed */
    char *password;
    int64_t database_index; /* SELECT only when > 0, as go-redis */
    bool enable_tls;
    bool unsafe_ssl;
} sw_redis_conn_cfg_t;

/* The `redis` (lists) scaler's parameters. */
typedef struct sw_redis_cfg {
    sw_redis_conn_cfg_t conn;
    char *list_name;
    size_t list_len;
    int64_t list_length;            /* target (the watcher's copy is in the table) */
    int64_t activation_list_length; /* likewise */
} sw_redis_cfg_t;

/* Each parser validates; on failure it writes "metadata.<field>: ..." into err and returns
 * -EINVAL (or -ENOMEM); nothing is left allocated then. */
int sw_redis_cfg_parse(const sw_params_t *params, sw_redis_cfg_t *ret, char *err, size_t errlen);
void sw_redis_cfg_free(sw_redis_cfg_t *c);
/* The connection: address/addresses or host(s)+port(s), username, password, enableTLS or auth
 * `tls`, unsafeSsl, databaseIndex. */
int sw_redis_conn_parse(const sw_params_t *params, sw_redis_conn_cfg_t *ret, char *err,
                        size_t errlen);
void sw_redis_conn_free(sw_redis_conn_cfg_t *c);
/* An optional integer of the metadata, as KEDA's typed config reads an int64 (json.Unmarshal);
 * *ret keeps its default when absent. 1 found, 0 absent, -EINVAL. */
int sw_redis_meta_int(const sw_params_t *p, const char *name, int64_t *ret, char *err,
                      size_t errlen);
/* A key name of the metadata (at most SW_REDIS_ARG_MAX bytes), malloc'ed into *ret with its
 * length. required: absence is an error. 1 found, 0 absent, -EINVAL, -ENOMEM. */
int sw_redis_meta_key(const sw_params_t *p, const char *name, bool required, char **ret,
                      size_t *ret_len, char *err, size_t errlen);

/* The `redis-streams` scaler's parameters (redis_streams.c). */
typedef enum {
    SW_RSTREAM_PENDING = 1, /* consumerGroup without lagCount: XPENDING's count */
    SW_RSTREAM_LENGTH,      /* no consumerGroup: XLEN */
    SW_RSTREAM_LAG,         /* consumerGroup and lagCount: the group's lag (XINFO GROUPS) */
} sw_rstream_mode_t;

typedef struct sw_rstream_cfg {
    sw_redis_conn_cfg_t conn;
    char *stream;
    size_t stream_len;
    char *group; /* NULL without consumerGroup */
    size_t group_len;
    sw_rstream_mode_t mode;
    int64_t pending_entries_count; /* the mode's target (the watcher's copy is in the table) */
    int64_t stream_length;
    int64_t lag_count;
    int64_t activation_lag_count;
} sw_rstream_cfg_t;

int sw_rstream_cfg_parse(const sw_params_t *params, sw_rstream_cfg_t *ret, char *err,
                         size_t errlen);
void sw_rstream_cfg_free(sw_rstream_cfg_t *c);

/* What the lag mode makes of its replies, as KEDA does (pure; the unit tests feed replies).
 * The major version from an INFO reply's redis_version line: 0, or -EINVAL with KEDA's text in
 * *ret_why. */
int sw_rstream_version(const char *info, size_t len, int64_t *ret_major, const char **ret_why);
/* The lag of group in an XINFO GROUPS reply: 1 with *ret_lag (-1 when the server reports none,
 * as go-redis), 0 when the group is not listed, -EPROTO when the reply is malformed. */
int sw_rstream_group_lag(const sw_resp_reply_t *groups, const char *group, size_t group_len,
                         int64_t *ret_lag);
/* The count of an XPENDING summary reply: 0, or -EPROTO. */
int sw_rstream_pending_count(const sw_resp_reply_t *rep, int64_t *ret_count);

/* ---- the connection (redis_client.c) ------------------------------------------------------- */

#define SW_REDIS_EXPECT 8 /* commands in flight on one connection */

typedef struct sw_redis_client sw_redis_client_t;

/* The scaler's half of a poll. `query` queues the poll's commands with sw_redis_queue() (the
 * client sends them after AUTH and SELECT on a new connection); 0 or -EMSGSIZE. `reply` gets
 * each reply in order with the tag it was queued with (last: no other reply is owed), except
 * NOAUTH/WRONGPASS errors, which fail the poll as rejected credentials. It completes the poll
 * with sw_redis_succeed() or sw_redis_fail(), or queues more and calls sw_redis_send(). */
typedef struct sw_redis_ops {
    int (*query)(sw_redis_client_t *c);
    void (*reply)(sw_redis_client_t *c, int tag, bool last, const sw_resp_reply_t *rep);
} sw_redis_ops_t;

/* Embedded in the scaler's state; fields are the client's. */
struct sw_redis_client {
    const sw_redis_conn_cfg_t *cfg;
    const sw_redis_ops_t *ops;
    sw_conn_t conn;  /* in clear: TLS is not supported */
    sw_poll_t *poll; /* the poll in flight, NULL between polls */
    char *out;       /* commands not yet sent; wiped once sent (AUTH) */
    size_t out_len, out_off, out_cap;
    char *in; /* replies not yet parsed */
    size_t in_len, in_cap, in_max;
    int expect[SW_REDIS_EXPECT]; /* tags of the replies owed, in order */
    unsigned n_expect, i_expect;
};

/* args: the bytes of every argument a poll may queue at once (key names), beyond the
 * credentials; in_max: the largest reply the scaler accepts. 0 or -ENOMEM. */
int sw_redis_client_init(sw_redis_client_t *c, const sw_redis_conn_cfg_t *cfg,
                         const sw_redis_ops_t *ops, size_t args, size_t in_max);
void sw_redis_client_fini(sw_redis_client_t *c);
/* Starts a poll: connects when needed, then runs ops->query. */
void sw_redis_client_poll(sw_redis_client_t *c, sw_poll_t *p);
/* The scaler's `cancel`: drops the connection, says what it was waiting for. */
void sw_redis_client_cancel(sw_redis_client_t *c, char *why, size_t len);

/* Queues one command whose reply comes back with tag (>= 0). 0 or -EMSGSIZE. */
int sw_redis_queue(sw_redis_client_t *c, int tag, int argc, const char *const *argv,
                   const size_t *argl);
/* Sends what was queued from within `reply`. */
void sw_redis_send(sw_redis_client_t *c);

enum {
    SW_REDIS_KEEP = 0,        /* the connection stays usable (unless replies are still owed) */
    SW_REDIS_DROP = 1u << 0,  /* close the connection */
    SW_REDIS_AUTH = 1u << 1,  /* the server refused the credentials */
    SW_REDIS_NAMED = 1u << 2, /* the text already names the address */
};
/* Completes the poll with the value. */
void sw_redis_succeed(sw_redis_client_t *c, double value);
/* Completes the poll with the error "redis host:port: <fmt with a>"; fmt has one "%.*s". */
void sw_redis_fail(sw_redis_client_t *c, unsigned how, const char *fmt, const char *a, size_t alen);
void sw_redis_fail_text(sw_redis_client_t *c, unsigned how, const char *text);

#endif
