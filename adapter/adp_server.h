/*
 * adp_server: the adapter's use of common/httpd.h: its server state (server.c) and the serving
 * of one request (request.c). Private.
 */
#ifndef CKEDA_ADAPTER_ADP_SERVER_H
#define CKEDA_ADAPTER_ADP_SERVER_H

#include "adapter/adp_kube.h"
#include "common/httpd.h"
#include "common/role.h"

#define ADP_AUTHZ_TIMEOUT_MS 15000 /* waiting for a review (reviews time out at 5 s each) */

typedef struct adp_server {
    role_ctx_t *ctx;
    struct shm_table *table;
    httpd_server_t *httpd;
    httpd_tls_t *tls;
    adp_kube_t *kube;       /* NULL: no cluster */
    adp_authz_t *authz;     /* always present */
    adp_tokens_t *tokens;   /* always present */
    adp_authcfg_t *authcfg; /* NULL until read from the cluster */
    uint64_t authgen;       /* bumped when authcfg or the client CA changes */
    X509_STORE *client_ca_seen;
    bool watcher_synced; /* latched */
    bool insecure_skip;  /* --authorization-insecure-skip: warned about every minute */
    uint64_t insecure_warned_ms;
    /* authz.c's and tokens.c's counts already added to the process slot's stats */
    adp_authz_counts_t authz_published;
    adp_token_counts_t tokens_published;
} adp_server_t;

/* Why a request is parked (httpd_conn_wait). */
typedef enum { ADP_WAIT_NONE, ADP_WAIT_TOKEN, ADP_WAIT_AUTHZ } adp_wait_t;

/* What the adapter keeps per connection (httpd_conn_user). */
typedef struct adp_conn_state {
    adp_server_t *srv;
    adp_route_t route; /* of the current request */
    adp_identity_t id; /* of the current request */
    adp_peer_t peer;   /* the client certificate's meaning: connection lifetime */
    /* the identity of the connection's last request authenticated by certificate or front
     * proxy (authn.c), and authz.c's key part for it: the next request with the same
     * identity headers reuses both */
    adp_authn_memo_t memo;
    adp_authz_idkey_t idkey;
    const adp_authz_idkey_t *req_idkey; /* &idkey when the current request's id is memo's */
    adp_wait_t waiting;
} adp_conn_state_t;

int adp_server_run(role_ctx_t *ctx);

/* ---- request.c ---------------------------------------------------------------------------- */

/* httpd's callbacks (ud: the adp_server_t). */
void adp_request_serve(httpd_conn_t *c, void *ud);
void adp_request_wait_expired(httpd_conn_t *c, void *ud);
void adp_request_conn_closed(httpd_conn_t *c, void *ud);
/* authz.c's wake-up of a connection waiting for a review. */
void adp_request_authz_done(void *waiter, adp_authz_result_t result, const char *reason);
/* tokens.c's wake-up of a connection waiting for a TokenReview. */
void adp_request_token_done(void *waiter, adp_token_result_t result, const struct cJSON *user);

/* ---- server.c ----------------------------------------------------------------------------- */

/* Adds authz.c's and tokens.c's new counts to the process slot's stats. */
void adp_server_publish_counts(adp_server_t *s);

#endif
