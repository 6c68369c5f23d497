/*
 * request: one request to the adapter (adapter process, httpd's event-loop thread).
 *
 * httpd hands over a complete request (head, decoded path; bodies never reach here, httpd
 * refuses them with 413 for the adapter). This file routes it per listener, authenticates the
 * caller on the secure port (authn.c: front proxy or client certificate; else tokens.c: a
 * bearer token through a TokenReview), authorizes value reads with a SubjectAccessReview
 * (authz.c), and answers from the table (values.c, prom.c) or with discovery and health
 * documents (routes.c). While a review is made the request is parked in httpd (at most
 * ADP_AUTHZ_TIMEOUT_MS for both reviews together). Every allocation comes from the
 * connection's arena.
 *
 * Failures, as k8s.io/apiserver answers them: no identity, a rejected token or a TokenReview
 * that failed: 401; a denial: 403; a SubjectAccessReview that failed: 500; too many reviews
 * queued: 429.
 */
#include "adapter/adp_server.h"

#include "common/log.h"
#include "shm/shm.h"

#include <errno.h>
#include <string.h>

static adp_conn_state_t *req_state(httpd_conn_t *c)
{
    return httpd_conn_user(c);
}

/* ---- serving ------------------------------------------------------------------------------- */

static void req_serve_health(httpd_conn_t *c)
{
    adp_conn_state_t *st = req_state(c);
    adp_server_t *s = st->srv;
    httpd_arena_t *a = httpd_conn_arena(c);
    shm_header_info_t hi;
    shm_watcher_t w;
    adp_health_t h;
    adp_sbuf_t body;
    char *v = NULL;
    uint64_t now = shm_now_mono_ms();

    shm_header_get(s->table, &hi);
    if (!s->watcher_synced && shm_watcher_read(s->table, &w) == 0 && w.synced)
        s->watcher_synced = true; /* once synced since this adapter started, it stays so */
    h.table_ok = hi.layout_version == SHM_LAYOUT_VERSION;
    h.watcher_synced = s->watcher_synced;
    h.supervisor_fresh = now < hi.supervisor_heartbeat_mono_ms + 5000;
    adp_sbuf_init(&body, a);
    int code = adp_health_write(
        st->route.id, &h, adp_http_query_get(a, httpd_conn_request(c)->query, "verbose", &v) == 0,
        &body);
    httpd_respond(c, code, "text/plain; charset=utf-8", &body, NULL);
}

static void req_serve_value(httpd_conn_t *c)
{
    adp_conn_state_t *st = req_state(c);
    httpd_arena_t *a = httpd_conn_arena(c);
    adp_answer_t ans;
    char *selector = NULL;
    int r = adp_http_query_get(a, httpd_conn_request(c)->query, "labelSelector", &selector);

    if (r == -EINVAL) {
        httpd_respond_status(c, 400, "malformed query string", NULL, NULL);
        return;
    }
    adp_values_serve(st->srv->table, a, st->route.ns, st->route.metric, selector, shm_now_mono_ms(),
                     &ans);
    if (ans.code == 200)
        httpd_respond(c, 200, "application/json", &ans.body, NULL);
    else
        httpd_respond_status(c, ans.code, ans.message, &ans.details, NULL);
}

/* The metrics port's plain HTTP: a scrape may need more than one request's usual arena. */
static void req_serve_metrics(httpd_conn_t *c)
{
    httpd_arena_t *a = httpd_conn_arena(c);
    adp_prom_model_t m;
    adp_sbuf_t body;

    a->limit = ADP_PROM_ARENA_LIMIT; /* back to the default when the arena is reset */
    adp_sbuf_init(&body, a);
    if (adp_prom_collect(req_state(c)->srv->table, a, shm_now_mono_ms(), &m) == 0)
        adp_prom_write(&body, &m);
    if (body.failed) {
        log_warning(-ENOMEM, "/metrics does not fit in %u bytes", ADP_PROM_ARENA_LIMIT);
        adp_arena_reset(a); /* room for the error; nothing of the request is kept there */
        httpd_respond_status(c, 500, "metrics exceed the response limit", NULL, NULL);
        return;
    }
    httpd_respond(c, 200, ADP_PROM_CONTENT_TYPE, &body, NULL);
}

static void req_serve(httpd_conn_t *c)
{
    adp_sbuf_t body;

    switch (req_state(c)->route.id) {
    case ADP_ROUTE_HEALTHZ:
    case ADP_ROUTE_LIVEZ:
    case ADP_ROUTE_READYZ:
        req_serve_health(c);
        break;
    case ADP_ROUTE_VALUE:
        req_serve_value(c);
        break;
    case ADP_ROUTE_METRICS:
        req_serve_metrics(c);
        break;
    default:
        adp_sbuf_init(&body, httpd_conn_arena(c));
        adp_discovery_write(req_state(c)->route.id, &body);
        httpd_respond(c, 200, "application/json", &body, NULL);
        break;
    }
}

/* ---- authentication and authorization ------------------------------------------------------ */

static void req_forbidden(httpd_conn_t *c, const char *reason)
{
    adp_conn_state_t *st = req_state(c);
    const char *resource = st->route.metric;
    char *msg =
        adp_arena_printf(httpd_conn_arena(c),
                         "%s.%s is forbidden: User \"%s\" cannot list resource \"%s\" in "
                         "API group \"%s\" in the namespace \"%s\"%s%s",
                         resource, ADP_GROUP, st->id.user, resource, ADP_GROUP, st->route.ns,
                         reason && reason[0] ? ": " : "", reason ? reason : "");
    adp_status_details_t d = {.group = ADP_GROUP, .kind = resource};

    log_info("forbidden: %s (%s) may not read %s/%s", st->id.user, st->id.via, st->route.ns,
             resource);
    httpd_respond_status(c, 403, msg, &d, NULL);
}

static void req_authorized(httpd_conn_t *c, adp_authz_result_t r, const char *reason)
{
    adp_conn_state_t *st = req_state(c);

    switch (r) {
    case ADP_AUTHZ_ALLOW:
        req_serve(c);
        break;
    case ADP_AUTHZ_DENY:
        req_forbidden(c, reason);
        break;
    case ADP_AUTHZ_BUSY:
        httpd_respond_status(c, 429, "too many authorization reviews in flight; retry", NULL,
                             "Retry-After: 1\r\n");
        break;
    default:
        log_warning(0, "authorization of %s failed: %s", st->id.user, reason ? reason : "");
        httpd_respond_status(c, 500,
                             adp_arena_printf(httpd_conn_arena(c),
                                              "authorization review failed: %s",
                                              reason && reason[0] ? reason : "unknown error"),
                             NULL, NULL);
        break;
    }
}

void adp_request_authz_done(void *waiter, adp_authz_result_t result, const char *reason)
{
    httpd_conn_t *c = waiter;

    if (!httpd_conn_waiting(c) || req_state(c)->waiting != ADP_WAIT_AUTHZ)
        return;
    req_state(c)->waiting = ADP_WAIT_NONE;
    req_authorized(c, result, reason); /* answered: no longer a waiter */
    httpd_conn_resume(c);
}

static void req_unauthorized(httpd_conn_t *c)
{
    httpd_respond_status(c, 401, "Unauthorized", NULL, NULL);
}

void adp_request_wait_expired(httpd_conn_t *c, void *ud)
{
    adp_server_t *s = ud;
    adp_conn_state_t *st = req_state(c);

    if (st->waiting == ADP_WAIT_TOKEN) {
        adp_tokens_forget(s->tokens, c);
        log_warning(0, "TokenReview timed out (the request gets 401)");
        req_unauthorized(c); /* a webhook authenticator's timeout is a 401 in k8s.io/apiserver */
    } else {
        adp_authz_forget(s->authz, c);
        httpd_respond_status(c, 500, "authorization review timed out", NULL, NULL);
    }
    st->waiting = ADP_WAIT_NONE;
}

void adp_request_conn_closed(httpd_conn_t *c, void *ud)
{
    adp_server_t *s = ud;

    if (httpd_conn_waiting(c)) {
        adp_authz_forget(s->authz, c);
        adp_tokens_forget(s->tokens, c);
    }
    adp_peer_clear(&req_state(c)->peer);
    adp_authn_memo_clear(&req_state(c)->memo);
    adp_authz_idkey_clear(&req_state(c)->idkey);
}

/* Adds system:authenticated, as k8s.io/apiserver's AuthenticatedGroupAdder does for every
 * authenticator. */
static int req_add_authenticated(adp_identity_t *id)
{
    for (uint32_t i = 0; i < id->ngroups; i++)
        if (strcmp(id->groups[i], "system:authenticated") == 0)
            return 0;
    if (id->ngroups >= ADP_GROUPS_MAX)
        return -E2BIG;
    id->groups[id->ngroups++] = "system:authenticated";
    return 0;
}

/* The bearer token's answer: 0 when the identity is set, else the response is set up. */
static int req_token_result(httpd_conn_t *c, adp_token_result_t r)
{
    switch (r) {
    case ADP_TOKEN_OK:
        if (req_add_authenticated(&req_state(c)->id) == 0)
            return 0;
        req_unauthorized(c);
        return -EACCES;
    case ADP_TOKEN_BUSY:
        httpd_respond_status(c, 429, "too many authentication reviews in flight; retry", NULL,
                             "Retry-After: 1\r\n");
        return -EBUSY;
    default: /* DENIED, ERROR: tokens.c logged why */
        req_unauthorized(c);
        return -EACCES;
    }
}

/* 0: authenticated; -EINPROGRESS: waiting for a TokenReview; else the response is set up. */
static int req_authenticate(httpd_conn_t *c)
{
    adp_conn_state_t *st = req_state(c);
    adp_server_t *s = st->srv;
    X509_STORE *cca = httpd_tls_client_ca(s->tls);
    adp_slice_t token;
    adp_token_result_t tr;
    int r;

    if (cca != s->client_ca_seen) { /* the certificate directory was reloaded */
        s->client_ca_seen = cca;
        s->authgen++;
    }
    r = adp_authn_request_memo(s->authcfg, cca, s->authgen, httpd_conn_ssl(c), &st->peer,
                               httpd_conn_request(c)->head, httpd_conn_arena(c), &st->memo,
                               &st->id);
    if (r >= 0) {
        if (r == 0) { /* a new identity: its part of the authorization keys too */
            adp_authz_idkey_clear(&st->idkey);
            if (st->memo.valid) /* on failure authz.c builds it per request */
                (void)adp_authz_idkey_make(&st->memo.id, &st->idkey);
        }
        st->req_idkey = st->memo.valid ? &st->idkey : NULL;
        return 0;
    }
    adp_authz_idkey_clear(&st->idkey); /* the memo is gone with it */
    memset(&st->id, 0, sizeof st->id);
    if (adp_bearer_token(httpd_conn_request(c)->head, &token) < 0) {
        req_unauthorized(c);
        return -EACCES;
    }
    tr = adp_tokens_check(s->tokens, token, c, httpd_conn_arena(c), shm_now_mono_ms(), &st->id);
    if (tr == ADP_TOKEN_PENDING) {
        st->waiting = ADP_WAIT_TOKEN;
        return -EINPROGRESS;
    }
    return req_token_result(c, tr);
}

/* Routes and checks the request: 0 when it may go on, -EINPROGRESS when it waits for a
 * TokenReview, else the response is set up. */
static int req_admit(httpd_conn_t *c)
{
    adp_conn_state_t *st = req_state(c);
    const httpd_request_t *rq = httpd_conn_request(c);
    adp_listener_t where = (adp_listener_t)httpd_conn_listener(c);

    adp_route_match(where, rq->path, &st->route);
    httpd_conn_set_log(c, st->route.metric, NULL);
    if (st->route.id == ADP_ROUTE_NONE) {
        httpd_respond_status(c, 404, "the server could not find the requested resource", NULL,
                             NULL);
        return -ENOENT;
    }
    if (rq->head->method != HTTPD_GET && rq->head->method != HTTPD_HEAD) {
        httpd_respond_status(c, 405,
                             "the server does not allow this method on the requested resource",
                             NULL, "Allow: GET, HEAD\r\n");
        return -EPERM;
    }
    if (where == ADP_LISTENER_SECURE && !adp_route_is_public(st->route.id))
        return req_authenticate(c);
    return 0;
}

/* After authentication: authorizes (maybe parking the request) and serves. True when the
 * request waits for a SubjectAccessReview. */
static bool req_authenticated(httpd_conn_t *c)
{
    adp_conn_state_t *st = req_state(c);
    adp_authz_result_t r;

    httpd_conn_set_log(c, st->route.metric, st->id.user);
    if (!adp_route_needs_authz(st->route.id)) {
        req_serve(c);
        return false;
    }
    r = adp_authz_check(st->srv->authz, &st->id, st->req_idkey, st->route.ns, st->route.metric, c,
                        shm_now_mono_ms());
    if (r == ADP_AUTHZ_PENDING) {
        st->waiting = ADP_WAIT_AUTHZ;
        return true;
    }
    req_authorized(c, r, "");
    return false;
}

void adp_request_token_done(void *waiter, adp_token_result_t result, const struct cJSON *user)
{
    httpd_conn_t *c = waiter;
    adp_conn_state_t *st = req_state(c);

    if (!httpd_conn_waiting(c) || st->waiting != ADP_WAIT_TOKEN)
        return;
    st->waiting = ADP_WAIT_NONE;
    if (result == ADP_TOKEN_OK && adp_token_user_parse(user, httpd_conn_arena(c), &st->id) < 0) {
        log_warning(-EINVAL, "a TokenReview's user cannot be used (the request gets 401)");
        result = ADP_TOKEN_ERROR;
    }
    if (req_token_result(c, result) == 0 && req_authenticated(c))
        return; /* parked on: now for its SubjectAccessReview */
    httpd_conn_resume(c);
}

void adp_request_serve(httpd_conn_t *c, void *ud)
{
    adp_conn_state_t *st = req_state(c);
    int r;

    st->srv = ud;
    st->waiting = ADP_WAIT_NONE;
    memset(&st->id, 0, sizeof st->id);
    st->req_idkey = NULL;
    st->route = (adp_route_t){.id = ADP_ROUTE_NONE};
    r = req_admit(c);
    if (r == -EINPROGRESS)
        httpd_conn_wait(c);
    else if (r == 0 && req_authenticated(c))
        httpd_conn_wait(c);
}
