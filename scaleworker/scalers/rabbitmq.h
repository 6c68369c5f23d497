/*
 * rabbitmq: private declarations of the rabbitmq scaler (rabbitmq.c: the connections and the
 * polls; rabbitmq_cfg.c: the rest), for its files and its unit tests: the parameters as KEDA's
 * rabbitmq_scaler.go reads and validates them, the management API's URL and answer, and the value
 * and activity of each mode. Runs in the rabbitmq workers.
 */
#ifndef CKEDA_SCALEWORKER_RABBITMQ_H
#define CKEDA_SCALEWORKER_RABBITMQ_H

#include "scaleworker/scaler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SW_RMQ_AMQP, SW_RMQ_HTTP } sw_rmq_protocol_t;

typedef enum {
    SW_RMQ_QUEUE_LENGTH,
    SW_RMQ_MESSAGE_RATE,
    SW_RMQ_DELIVER_GET_RATE,
    SW_RMQ_PUBLISHED_TO_DELIVERED_RATIO,
    SW_RMQ_EXPECTED_QUEUE_CONSUMPTION_TIME,
} sw_rmq_mode_t;

/* Strings are NULL when absent; the credentials among them are wiped when freed. */
typedef struct sw_rmq_cfg {
    char *queue_name;
    sw_rmq_mode_t mode;         /* QueueLength when nothing is given */
    double value;               /* the target (20 by default); the watcher's copy is in the table */
    double activation_value;    /* activationValue (0) */
    char *host;                 /* a secret: it may hold credentials */
    sw_rmq_protocol_t protocol; /* `auto` resolved by the host's scheme */
    char *vhost_name;
    bool use_regex, exclude_unacknowledged;
    int64_t page_size;   /* 100 */
    char *operation;     /* sum (default), avg, max: checked when a regex matches, as KEDA */
    uint64_t timeout_ms; /* `timeout` (HTTP only), 0: none */
    char *username, *password;
    char *ca, *cert, *key, *key_password;
    bool tls; /* auth `tls`: enable */
    bool unsafe_ssl;
    char connection_name[600]; /* keda-<namespace>-<name>, as KEDA names its AMQP connection */
} sw_rmq_cfg_t;

/* Parses and validates as KEDA's parseRabbitMQMetadata and Validate do; on failure writes a
 * message naming the field into err (never quoting host or a credential) and returns -EINVAL
 * (or -ENOMEM). Nothing is left allocated then. */
int sw_rmq_cfg_parse(const sw_params_t *p, sw_rmq_cfg_t *ret, char *err, size_t errlen);
void sw_rmq_cfg_free(sw_rmq_cfg_t *c);

/* The management API request KEDA makes (`/api/queues/<vhost>/<queue>`, or the regex listing),
 * malloc'ed; userinfo from the host or from username/password. NULL when host is no URL. */
char *sw_rmq_http_url(const sw_rmq_cfg_t *c);

typedef struct sw_rmq_stats {
    int64_t messages; /* messages, or messages_ready with excludeUnacknowledged */
    double publish_rate, deliver_get_rate;
} sw_rmq_stats_t;

/* Reads a 200 answer of the management API as KEDA decodes it (one queue, or with useRegex the
 * listing composed by `operation`). 0, or -EINVAL with KEDA's message in err. */
int sw_rmq_http_stats(const char *body, size_t len, const sw_rmq_cfg_t *c, sw_rmq_stats_t *ret,
                      char *err, size_t errlen);
/* KEDA's GetMetricsAndActivity: the value of the mode and whether the trigger is active. */
void sw_rmq_metric(const sw_rmq_cfg_t *c, const sw_rmq_stats_t *s, double *ret_value,
                   bool *ret_active);

#endif
