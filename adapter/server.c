/*
 * server: the adapter's server (adapter process, its one event-loop thread): common/httpd.h
 * configured with the adapter's three inherited listeners (the secure port over TLS, the
 * health and metrics ports in plain HTTP), its TLS context, and its own descriptors: the
 * signal self-pipe, the supervisor's liveness pipe and the eventfd of the Kubernetes threads.
 *
 * The listeners are shared by every adapter process (EPOLLEXCLUSIVE, non-blocking accept:
 * common/httpd_server.c), so queued connections outlive a crashed adapter. SIGTERM, or the
 * supervisor going away, stops accepting and lets responses in progress finish for up to
 * HTTPD_DRAIN_MS. SIGHUP reloads the certificates.
 */
#include "adapter/adp_server.h"

#include "common/fds.h"
#include "common/log.h"
#include "common/sigpipe.h"
#include "shm/shm.h"

#include <errno.h>
#include <signal.h>

static void server_kube_apply(adp_server_t *s, uint64_t now)
{
    adp_authcfg_t *cfg = adp_kube_authcfg_take(s->kube);

    if (cfg) {
        adp_authcfg_free(s->authcfg);
        s->authcfg = cfg;
        s->authgen++;
        log_debug("front-proxy configuration updated (%u allowed names)", cfg->allowed_names.n);
    }
    adp_authz_dispatch(s->authz, now);
}

static bool server_on_kube(void *arg, uint64_t now)
{
    server_kube_apply(arg, now);
    return true;
}

static bool server_on_signal(void *arg, uint64_t now)
{
    adp_server_t *s = arg;

    if (sigpipe_take(SIGHUP))
        httpd_tls_maybe_reload(s->tls, now, true);
    return !((int)sigpipe_take(SIGTERM) | (int)sigpipe_take(SIGINT)); /* both taken */
}

static bool server_on_liveness(void *arg, uint64_t now)
{
    log_info("the supervisor is gone; exiting");
    return false;
}

static void server_tick(void *ud, uint64_t now)
{
    adp_server_t *s = ud;

    role_heartbeat(s->ctx);
    httpd_tls_maybe_reload(s->tls, now, false);
}

static int server_setup(adp_server_t *s, role_ctx_t *ctx)
{
    httpd_tls_opts_t topts = {
        .cert_dir = ctx->cfg.cert_dir,
        .request_client_cert = true,
        .self_cn = "ckeda-adapter",
        .self_sans = "DNS:localhost,IP:127.0.0.1,IP:::1,"
                     "DNS:keda-operator-metrics-apiserver.keda.svc,"
                     "DNS:keda-metrics-apiserver.keda.svc",
    };
    httpd_config_t hc = {
        .listeners = {{FD_SECURE, true, ADP_LISTENER_SECURE},
                      {FD_HEALTH, false, ADP_LISTENER_HEALTH},
                      {FD_METRICS, false, ADP_LISTENER_METRICS}},
        .nlisteners = 3,
        .body_max = 0, /* this API takes no bodies */
        .wait_timeout_ms = ADP_AUTHZ_TIMEOUT_MS,
        .tick_ms = 500,
        .ud = s,
        .serve = adp_request_serve,
        .wait_expired = adp_request_wait_expired,
        .conn_closed = adp_request_conn_closed,
        .tick = server_tick,
        .conn_user_size = sizeof(adp_conn_state_t),
    };
    int r;

    s->ctx = ctx;
    s->table = ctx->table;
    if ((r = httpd_tls_new(&topts, &s->tls)) < 0)
        return r;
    if (adp_kube_start(&ctx->cfg, &s->kube) < 0)
        s->kube = NULL; /* logged: no cluster, so no front proxy and no reviews */
    if (!(s->authz = adp_authz_new(s->kube, adp_request_authz_done)))
        return log_error(-ENOMEM, "cannot create the authorization cache");
    hc.tls = s->tls;
    if (!(s->httpd = httpd_server_new(&hc)))
        return -ENOMEM;
    if ((r = httpd_server_watch(s->httpd, sigpipe_fd(), server_on_signal, s, false)) < 0 ||
        (r = httpd_server_watch(s->httpd, FD_LIVENESS, server_on_liveness, s, false)) < 0 ||
        (s->kube &&
         (r = httpd_server_watch(s->httpd, adp_kube_fd(s->kube), server_on_kube, s, true)) < 0))
        return log_error(r, "cannot watch the adapter's descriptors");
    return 0;
}

static void server_free(adp_server_t *s)
{
    httpd_server_free(s->httpd); /* first: closing a waiting connection forgets its review */
    adp_kube_stop(s->kube);      /* before the cache: completed reviews are freed with it */
    adp_authz_free(s->authz);
    adp_authcfg_free(s->authcfg);
    httpd_tls_free(s->tls);
}

int adp_server_run(role_ctx_t *ctx)
{
    adp_server_t s = {0};
    int r = server_setup(&s, ctx);

    if (r < 0) {
        server_free(&s);
        return r;
    }
    log_info("serving external.metrics.k8s.io/v1beta1 (%s)",
             s.kube ? "delegated authentication and authorization"
                    : "no cluster: client certificates of --cert-dir's CA only");
    httpd_server_run(s.httpd);
    server_free(&s);
    return 0;
}
