/*
 * nats_jetstream: the `nats-jetstream` scaler's parameters, the extraction of its value from a
 * /jsz answer and KEDA's bookkeeping between polls, separate from the HTTP polling so that unit
 * tests and the fuzz harness can run them. Runs in the nats-jetstream workers.
 */
#ifndef CKEDA_SCALEWORKER_SCALERS_NATS_JETSTREAM_H
#define CKEDA_SCALEWORKER_SCALERS_NATS_JETSTREAM_H

#include "scaleworker/scaler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SW_NJ_LEADER_MAX 256 /* a server name */

/* KEDA's natsJetStreamMetadata. Strings are malloc'ed; account may be "" when only accountID
 * was given, account_id is account's value when only account was. */
typedef struct sw_nj_cfg {
    char *account, *account_id;
    char *stream, *consumer;
    int64_t lag_threshold;            /* 10; the watcher's copy is in the table */
    int64_t activation_lag_threshold; /* 0; likewise */
    bool use_https;
    char *endpoint; /* natsServerMonitoringEndpoint: host:port */
    char *url;      /* http(s)://<endpoint>/jsz?acc=<account_id>&config=true&consumers=true */
} sw_nj_cfg_t;

/* -EINVAL with a message naming the field, or -ENOMEM. */
int sw_nj_cfg_parse(const sw_params_t *p, sw_nj_cfg_t *ret, char *err, size_t errlen);
void sw_nj_cfg_free(sw_nj_cfg_t *c);

/* What one /jsz answer says about the trigger's stream and consumer (KEDA's
 * setNATSJetStreamMonitoringData): in the accounts whose id is account_id or whose name is
 * account, the first stream of that name listing the consumer, else the last stream of that
 * name. */
typedef struct sw_jsz {
    int64_t cluster_size;          /* meta_cluster.cluster_size (0 when absent) */
    bool stream_found;             /* a stream of that name in a matching account */
    bool consumer_found;           /* ... listing the consumer */
    int64_t pending;               /* the consumer's num_pending + num_ack_pending */
    char leader[SW_NJ_LEADER_MAX]; /* the consumer's cluster.leader */
} sw_jsz_t;

/* Parses a /jsz body as KEDA's json decoding does (null and absent fields are zero). 0, or
 * -EINVAL with the reason in err. */
int sw_jsz_extract(const char *body, size_t len, const sw_nj_cfg_t *c, sw_jsz_t *ret, char *err,
                   size_t errlen);

/* KEDA's scaler state between polls: the stream it last saw (s.stream, nil after an
 * invalidation) and the consumer's leader. Starts zeroed (KEDA starts with an empty stream). */
typedef struct sw_nj_state {
    bool stream_nil;
    bool stream_has_consumer;
    int64_t pending;
    char leader[SW_NJ_LEADER_MAX];
} sw_nj_state_t;

/* One poll's decision from its /jsz answer (getNATSJetstreamMonitoringData then getMaxMsgLag):
 * 0 with the value, or -EINVAL with KEDA's error in err (clustered servers: ckeda's). */
int sw_nj_step(sw_nj_state_t *st, const sw_jsz_t *jsz, const sw_nj_cfg_t *c, double *ret_value,
               char *err, size_t errlen);

#endif
