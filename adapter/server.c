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
 *
 * It also counts every response of the secure port, by status and duration, and what authz.c
 * and tokens.c decided, into the stats of its own process slot (prom.c sums them over every
 * adapter). With --authorization-insecure-skip it says so loudly at start and every minute.
 */
#include "adapter/adp_server.h"

#include "common/fds.h"
#include "common/log.h"
#include "shm/shm.h"

#include <errno.h>

#define ADP_INSECURE_WARN_MS 60000

static void server_kube_apply(adp_server_t *s, uint64_t now)
{
    adp_authcfg_t *cfg = adp_kube_authcfg_take(s->kube);
    adp_review_t *rv = adp_kube_done(s->kube);

    if (cfg) {
        adp_authcfg_free(s->authcfg);
        s->authcfg = cfg;
        s->authgen++;
        log_debug("front-proxy configuration updated (%u allowed names)", cfg->allowed_names.n);
    }
    while (rv) {
        adp_review_t *next = rv->next;
        if (rv->kind == ADP_REVIEW_TOKEN)
            adp_tokens_complete(s->tokens, rv, now);
        else
            adp_authz_complete(s->authz, rv, now);
        rv = next;
    }
    adp_server_publish_counts(s);
}

void adp_server_publish_counts(adp_server_t *s)
{
    const adp_authz_counts_t *z = adp_authz_counts(s->authz);
    const adp_token_counts_t *tk = adp_tokens_counts(s->tokens);
    const struct {
        uint32_t idx;
        uint64_t now, *published;
    } c[] = {
        {ADP_STAT_AUTHZ_HITS, z->cache_hits, &s->authz_published.cache_hits},
        {ADP_STAT_AUTHZ_MISSES, z->cache_misses, &s->authz_published.cache_misses},
        {ADP_STAT_TOKEN_AUTHENTICATED, tk->authenticated, &s->tokens_published.authenticated},
        {ADP_STAT_TOKEN_UNAUTHENTICATED, tk->unauthenticated, &s->tokens_published.unauthenticated},
        {ADP_STAT_TOKEN_ERROR, tk->errors, &s->tokens_published.errors},
    };

    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        if (c[i].now != *c[i].published) {
            shm_proc_stat_add(s->table, s->ctx->slot, c[i].idx, c[i].now - *c[i].published);
            *c[i].published = c[i].now;
        }
}

static void server_responded(void *ud, int listener, int code, uint64_t elapsed_us)
{
    adp_server_t *s = ud;

    if (listener != ADP_LISTENER_SECURE)
        return; /* probes and scrapes are not the metrics API */
    shm_proc_stat_add(s->table, s->ctx->slot, adp_stat_code_index(code), 1);
    shm_proc_stat_add(s->table, s->ctx->slot, adp_stat_bucket_index(elapsed_us), 1);
    shm_proc_stat_add(s->table, s->ctx->slot, ADP_STAT_DURATION_SUM_US, elapsed_us);
    adp_server_publish_counts(s); /* a decision from the cache is counted with its answer */
}

static void server_warn_insecure(adp_server_t *s, uint64_t now)
{
    if (!s->insecure_skip ||
        (s->insecure_warned_ms && now < s->insecure_warned_ms + ADP_INSECURE_WARN_MS))
        return;
    s->insecure_warned_ms = now;
    log_warning(0, "INSECURE: authorization is disabled (--authorization-insecure-skip): the "
                   "external metrics API is open to every authenticated client, without "
                   "SubjectAccessReviews; use it only for local experiments");
}

static int server_submit(void *ud, adp_review_t *rv)
{
    return adp_kube_submit(ud, rv);
}

static bool server_on_kube(void *arg, uint64_t now)
{
    server_kube_apply(arg, now);
    return true;
}

static void server_tick(void *ud, uint64_t now)
{
    adp_server_t *s = ud;

    role_heartbeat(s->ctx);
    httpd_tls_maybe_reload(s->tls, now, false);
    server_warn_insecure(s, now);
}

static int server_setup(adp_server_t *s, role_ctx_t *ctx)
{
    httpd_tls_opts_t topts = {
        .cert_dir = ctx->cfg.cert_dir,
        .request_client_cert = true,
        .wait_for_files = ctx->cfg.enable_cert_rotation,
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
        .conns_max = ctx->cfg.max_connections,
        .responded = server_responded,
    };
    adp_authz_opts_t zopts = {.allow_ttl_ms = ctx->cfg.authz_allow_cache_ttl_ms,
                              .deny_ttl_ms = ctx->cfg.authz_deny_cache_ttl_ms,
                              .insecure_skip = ctx->cfg.authz_insecure_skip};
    int r;

    s->ctx = ctx;
    s->table = ctx->table;
    s->insecure_skip = ctx->cfg.authz_insecure_skip;
    if ((r = httpd_tls_new(&topts, &s->tls)) < 0)
        return r;
    if (adp_kube_start(&ctx->cfg, &s->kube) < 0)
        s->kube = NULL; /* logged: no cluster, so no front proxy and no reviews */
    if (!(s->authz = adp_authz_new(s->kube, &zopts, adp_request_authz_done)) ||
        !(s->tokens = adp_tokens_new(s->kube ? server_submit : NULL, s->kube,
                                     ctx->cfg.authn_token_cache_ttl_ms, adp_request_token_done)))
        return log_error(-ENOMEM, "cannot create the authentication and authorization caches");
    hc.tls = s->tls;
    if (!(s->httpd = httpd_server_new(&hc)))
        return -ENOMEM;
    if ((r = httpd_server_watch_role(s->httpd, s->tls)) < 0 ||
        (s->kube &&
         (r = httpd_server_watch(s->httpd, adp_kube_fd(s->kube), server_on_kube, s, true)) < 0))
        return log_error(r, "cannot watch the adapter's descriptors");
    return 0;
}

static void server_free(adp_server_t *s)
{
    httpd_server_free(s->httpd); /* first: closing a waiting connection forgets its review */
    adp_kube_stop(s->kube);      /* before the caches: completed reviews are freed with it */
    adp_authz_free(s->authz);
    adp_tokens_free(s->tokens);
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
    server_warn_insecure(&s, shm_now_mono_ms());
    httpd_server_run(s.httpd);
    server_free(&s);
    return 0;
}
