/*
 * server: the webhook's HTTPS server (webhook process, its event-loop thread): common/httpd.h
 * on the inherited FD_WEBHOOK, server TLS only (no client certificates), the certificate from
 * --cert-dir (tls.crt, tls.key; reloaded on change and SIGHUP) or generated in memory.
 *
 *   POST /validate-keda-sh-v1alpha1-{scaledobject,scaledjob,triggerauthentication,
 *        clustertriggerauthentication}   AdmissionReview v1 in, AdmissionReview v1 out (200);
 *        a body that is not a review 400, over WH_BODY_MAX 413, more than WH_INFLIGHT_MAX
 *        reviews in validation 429
 *   GET  /healthz   "ok" while the loop runs;  /readyz   also needs the HPA informer listed
 *   GET  /metrics   KEDA's keda_webhook_* counters of this process (Prometheus text)
 *
 * Reviews are judged on pool.c's threads; the request waits parked in httpd meanwhile.
 */
#include "webhook/wh_internal.h"

#include "common/fds.h"
#include "common/log.h"
#include "common/role.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wh_server {
    role_ctx_t *ctx;
    httpd_server_t *httpd;
    httpd_tls_t *tls;
    wh_cluster_t *cluster;
    wh_pool_t *pool;
    wh_counters_t counters;
} wh_server_t;

/* What the webhook keeps per connection (httpd_conn_user). */
typedef struct wh_conn_state {
    wh_job_t *job; /* the review in validation, while the request is parked */
} wh_conn_state_t;

/* ---- metrics ------------------------------------------------------------------------------- */

static void counters_bump(wh_counters_t *cs, const char *ns, const char *action, const char *reason)
{
    for (unsigned i = 0; i < cs->n; i++) {
        wh_counter_t *c = &cs->c[i];
        if (c->reason == reason && strcmp(c->ns, ns) == 0 && strcmp(c->action, action) == 0) {
            c->n++;
            return;
        }
    }
    if (cs->n >= WH_COUNTERS_MAX) {
        if (!cs->full_logged)
            log_warning(0, "more than %d webhook counters: new label sets are not counted",
                        WH_COUNTERS_MAX);
        cs->full_logged = true;
        return;
    }
    wh_counter_t *c = &cs->c[cs->n++];
    snprintf(c->ns, sizeof c->ns, "%s", ns);
    snprintf(c->action, sizeof c->action, "%s", action);
    c->reason = reason;
    c->n = 1;
}

void wh_counters_add(wh_counters_t *cs, const char *ns, const char *action, const char *reason)
{
    counters_bump(cs, ns, action, NULL);
    if (reason)
        counters_bump(cs, ns, action, reason);
}

static void counters_label(httpd_sbuf_t *b, const char *name, const char *v, bool first)
{
    httpd_sbuf_printf(b, "%s%s=\"", first ? "" : ",", name);
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            httpd_sbuf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            httpd_sbuf_puts(b, "\\n");
        else
            httpd_sbuf_append(b, v, 1);
    }
    httpd_sbuf_puts(b, "\"");
}

void wh_counters_write(const wh_counters_t *cs, httpd_sbuf_t *b)
{
    for (int errors = 0; errors < 2; errors++) {
        const char *name = errors ? "keda_webhook_scaled_object_validation_errors_total"
                                  : "keda_webhook_scaled_object_validations_total";
        httpd_sbuf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name,
                          errors ? "Total number of scaled object validating errors"
                                 : "Total number of scaled object validations",
                          name);
        for (unsigned i = 0; i < cs->n; i++) {
            const wh_counter_t *c = &cs->c[i];
            if (!c->reason != !errors)
                continue;
            httpd_sbuf_printf(b, "%s{", name);
            counters_label(b, "action", c->action, true);
            counters_label(b, "namespace", c->ns, false);
            if (c->reason)
                counters_label(b, "reason", c->reason, false);
            httpd_sbuf_printf(b, "} %llu\n", (unsigned long long)c->n);
        }
    }
}

/* ---- requests ------------------------------------------------------------------------------ */

static void server_review(wh_server_t *s, httpd_conn_t *c, wh_kind_t kind)
{
    const httpd_request_t *rq = httpd_conn_request(c);
    wh_job_t *j;
    int r;

    if (rq->head->method != HTTPD_POST) {
        httpd_respond_status(c, 405, "admission reviews are POSTed", NULL, "Allow: POST\r\n");
        return;
    }
    if (!rq->body || rq->body_len == 0) {
        httpd_respond_status(c, 400, "request body is empty", NULL, NULL);
        return;
    }
    if (!(j = calloc(1, sizeof *j)) || !(j->body = malloc(rq->body_len + 1))) {
        wh_job_free(j);
        httpd_respond_status(c, 500, NULL, NULL, NULL);
        return;
    }
    memcpy(j->body, rq->body, rq->body_len + 1);
    j->body_len = rq->body_len;
    j->kind = kind;
    j->owner = c;
    if ((r = wh_pool_submit(s->pool, j)) < 0) {
        wh_job_free(j);
        httpd_respond_status(c, 429, "too many admission reviews in validation; retry", NULL,
                             "Retry-After: 1\r\n");
        return;
    }
    ((wh_conn_state_t *)httpd_conn_user(c))->job = j;
    httpd_conn_wait(c);
}

static void server_serve(httpd_conn_t *c, void *ud)
{
    wh_server_t *s = ud;
    const httpd_request_t *rq = httpd_conn_request(c);
    wh_kind_t kind = wh_kind_of_path(rq->path);
    httpd_sbuf_t body;
    bool get = rq->head->method == HTTPD_GET || rq->head->method == HTTPD_HEAD;

    httpd_conn_set_log(c, rq->path, NULL);
    if (kind != WH_KIND_NONE) {
        server_review(s, c, kind);
        return;
    }
    bool health = strcmp(rq->path, "/healthz") == 0, ready = strcmp(rq->path, "/readyz") == 0;
    bool metrics = strcmp(rq->path, "/metrics") == 0;
    if (!health && !ready && !metrics) {
        httpd_respond_status(c, 404, "the server could not find the requested resource", NULL,
                             NULL);
        return;
    }
    if (!get) {
        httpd_respond_status(c, 405,
                             "the server does not allow this method on the requested resource",
                             NULL, "Allow: GET, HEAD\r\n");
        return;
    }
    httpd_sbuf_init(&body, httpd_conn_arena(c));
    if (metrics) {
        wh_counters_write(&s->counters, &body);
        httpd_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", &body, NULL);
        return;
    }
    bool ok = health || wh_cluster_synced(s->cluster);
    httpd_sbuf_puts(&body, ok ? "ok" : "[-]hpa-informer-synced failed\nreadyz check failed\n");
    httpd_respond(c, ok ? 200 : 500, "text/plain; charset=utf-8", &body, NULL);
}

static void server_answer(wh_server_t *s, wh_job_t *j)
{
    httpd_conn_t *c = j->owner;
    httpd_sbuf_t body;

    if (j->so_validated) {
        wh_counters_add(&s->counters, j->ns, j->action, j->deny_reason);
        if (j->deny_reason)
            log_info("refused a ScaledObject in %s (%s)", j->ns[0] ? j->ns : "-", j->deny_reason);
    }
    if (!c)
        return; /* the connection went away meanwhile */
    ((wh_conn_state_t *)httpd_conn_user(c))->job = NULL;
    if (j->http_code == 200) {
        httpd_sbuf_init(&body, httpd_conn_arena(c));
        httpd_sbuf_puts(&body, j->answer);
        httpd_respond(c, 200, "application/json", &body, NULL);
    } else {
        if (j->http_code == 400)
            log_info("rejected a request that is not an AdmissionReview: %s", j->message);
        httpd_respond_status(c, j->http_code, j->message, NULL, NULL);
    }
    httpd_conn_resume(c);
}

static bool server_on_pool(void *arg, uint64_t now)
{
    wh_server_t *s = arg;
    wh_job_t *j = wh_pool_done(s->pool);

    while (j) {
        wh_job_t *next = j->next;
        server_answer(s, j);
        wh_job_free(j);
        j = next;
    }
    return true;
}

static void server_wait_expired(httpd_conn_t *c, void *ud)
{
    wh_conn_state_t *st = httpd_conn_user(c);

    if (st->job)
        st->job->owner = NULL;
    st->job = NULL;
    log_warning(0, "an admission review was not judged within %d ms", WH_WAIT_MS);
    httpd_respond_status(c, 500, "the review was not judged in time", NULL, NULL);
}

static void server_conn_closed(httpd_conn_t *c, void *ud)
{
    wh_conn_state_t *st = httpd_conn_user(c);

    if (st->job)
        st->job->owner = NULL; /* its result is dropped when it comes back */
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void server_tick(void *ud, uint64_t now)
{
    wh_server_t *s = ud;

    role_heartbeat(s->ctx);
    httpd_tls_maybe_reload(s->tls, now, false);
}

static int server_setup(wh_server_t *s, role_ctx_t *ctx)
{
    httpd_tls_opts_t topts = {
        .cert_dir = ctx->cfg.cert_dir,
        .request_client_cert = false,
        .wait_for_files = ctx->cfg.enable_cert_rotation,
        .self_cn = "ckeda-webhook",
        .self_sans = "DNS:localhost,IP:127.0.0.1,IP:::1,DNS:keda-admission-webhooks.keda.svc,"
                     "DNS:keda-admission-webhooks.keda.svc.cluster.local",
    };
    httpd_config_t hc = {
        .listeners = {{FD_WEBHOOK, true, 0}},
        .nlisteners = 1,
        .body_max = WH_BODY_MAX,
        .arena_limit = WH_ARENA_LIMIT,
        .wait_timeout_ms = WH_WAIT_MS,
        .tick_ms = 500,
        .ud = s,
        .serve = server_serve,
        .wait_expired = server_wait_expired,
        .conn_closed = server_conn_closed,
        .tick = server_tick,
        .conn_user_size = sizeof(wh_conn_state_t),
    };
    int r;

    s->ctx = ctx;
    if ((r = httpd_tls_new(&topts, &s->tls)) < 0)
        return r;
    if (!(s->cluster = wh_cluster_new(ctx->table, &ctx->cfg)) ||
        !(s->pool = wh_pool_new(s->cluster, WH_THREADS)))
        return log_error(-ENOMEM, "cannot start the webhook");
    hc.tls = s->tls;
    if (!(s->httpd = httpd_server_new(&hc)))
        return -ENOMEM;
    if ((r = httpd_server_watch_role(s->httpd, s->tls)) < 0 ||
        (r = httpd_server_watch(s->httpd, wh_pool_fd(s->pool), server_on_pool, s, true)) < 0)
        return log_error(r, "cannot watch the webhook's descriptors");
    return 0;
}

static void server_free(wh_server_t *s)
{
    httpd_server_free(s->httpd); /* first: parked requests drop their jobs' owner */
    wh_pool_free(s->pool);
    wh_cluster_free(s->cluster);
    httpd_tls_free(s->tls);
}

int wh_server_run(role_ctx_t *ctx)
{
    wh_server_t *s = calloc(1, sizeof *s);
    int r;

    if (!s)
        return log_error(-ENOMEM, "cannot start the webhook");
    if ((r = server_setup(s, ctx)) == 0) {
        log_info("serving KEDA's admission webhooks");
        httpd_server_run(s->httpd);
    }
    server_free(s);
    free(s);
    return r;
}
