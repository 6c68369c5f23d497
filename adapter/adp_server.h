/*
 * adp_server: the adapter's event loop (server.c) and its connections (conn.c). Private.
 */
#ifndef CKEDA_ADAPTER_ADP_SERVER_H
#define CKEDA_ADAPTER_ADP_SERVER_H

#include "adapter/adp_kube.h"
#include "common/role.h"

#define ADP_CONNS_MAX          4096   /* per adapter process; past it the listeners pause */
#define ADP_HEADER_TIMEOUT_MS  10000  /* TLS handshake, or a request head from its first byte */
#define ADP_IDLE_TIMEOUT_MS    120000 /* keep-alive between requests */
#define ADP_WRITE_TIMEOUT_MS   10000  /* one response */
#define ADP_AUTHZ_TIMEOUT_MS   15000  /* waiting for a review (reviews time out at 5 s each) */
#define ADP_ACCEPTS_PER_WAKEUP 32

/* What an epoll event belongs to: the first member of each registered object. */
typedef enum { ADP_EV_LISTENER, ADP_EV_CONN, ADP_EV_SIGNAL, ADP_EV_LIVENESS, ADP_EV_KUBE } adp_ev_t;

typedef enum {
    ADP_T_HEADER,
    ADP_T_IDLE,
    ADP_T_WRITE,
    ADP_T_AUTHZ,
    ADP_T_COUNT,
    ADP_T_NONE
} adp_timer_t;

typedef struct adp_conn adp_conn_t;

typedef struct adp_timer_list {
    adp_conn_t *head, *tail;
} adp_timer_list_t;

typedef struct adp_listen {
    adp_ev_t ev; /* ADP_EV_LISTENER */
    int fd;
    adp_listener_t where;
    bool armed;
} adp_listen_t;

typedef struct adp_server {
    role_ctx_t *ctx;
    struct shm_table *table;
    int epfd;
    adp_tls_t *tls;
    adp_kube_t *kube;       /* NULL: no cluster */
    adp_authz_t *authz;     /* always present */
    adp_authcfg_t *authcfg; /* NULL until read from the cluster */
    uint64_t authgen;       /* bumped when authcfg or the client CA changes */
    X509_STORE *client_ca_seen;
    adp_listen_t listeners[3];
    adp_timer_list_t timers[ADP_T_COUNT];
    unsigned nconns;
    bool stopping;
    bool watcher_synced; /* latched */
    uint64_t requests;
} adp_server_t;

int adp_server_run(role_ctx_t *ctx);

/* ---- conn.c -------------------------------------------------------------------------------- */

void adp_conn_accept(adp_server_t *s, adp_listen_t *l, int fd);
void adp_conn_event(adp_conn_t *c, uint32_t events);
/* The timer of c's current state expired. */
void adp_conn_expire(adp_conn_t *c, uint64_t now_ms);
void adp_conn_close(adp_conn_t *c);
/* authz.c's wake-up of a connection waiting for a review. */
void adp_conn_authz_done(void *waiter, adp_authz_result_t result, const char *reason);
/* Oldest connection of a timer list, its deadline. */
adp_conn_t *adp_timer_first(adp_server_t *s, adp_timer_t t, uint64_t *ret_deadline);
/* Closes every connection that is not in the middle of a request (shutdown). */
void adp_conn_close_idle(adp_server_t *s);

#endif
