/*
 * conn: one client connection of the adapter (adapter process, event-loop thread).
 *
 * A state machine driven by epoll readiness: TLS handshake (secure port only), reading a
 * request head, waiting for an authorization review, writing the response; then the next
 * request on the same connection (HTTP/1.1 keep-alive, pipelining in order) or close. Every
 * state has a deadline (adp_server.h), so slow or idle clients cost a descriptor and ~20 KiB,
 * never the loop's time. A request is served from the connection's arena, reset when its
 * response has been written.
 *
 * Failures caused by the peer (bad TLS, resets, malformed requests) are logged at info or
 * debug; the OpenSSL error queue is cleared before each call and drained into the message.
 */
#include "adapter/adp_server.h"

#include "common/log.h"
#include "shm/shm.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef enum { C_HANDSHAKE, C_READING, C_WAIT_AUTHZ, C_WRITING, C_CLOSING } conn_state_t;
typedef enum { STEP_AGAIN, STEP_BLOCKED } conn_step_t;

struct adp_conn {
    adp_ev_t ev; /* ADP_EV_CONN */
    adp_server_t *srv;
    int fd;
    adp_listener_t where;
    SSL *ssl;
    conn_state_t state;
    uint32_t want;     /* epoll interest now */
    adp_timer_t tkind; /* list it is on, ADP_T_NONE */
    adp_conn_t *tprev, *tnext;
    uint64_t deadline_ms;
    size_t in_len, scan;
    bool close_after;
    adp_arena_t arena;
    adp_http_req_t req;
    adp_route_t route;
    adp_identity_t id;
    adp_peer_t peer;
    const char *out;
    size_t out_len, out_off;
    struct timespec started;
    char in[ADP_HTTP_HEAD_MAX];
};

/* ---- timers ------------------------------------------------------------------------------ */

static const uint32_t conn_timeouts[ADP_T_COUNT] = {ADP_HEADER_TIMEOUT_MS, ADP_IDLE_TIMEOUT_MS,
                                                    ADP_WRITE_TIMEOUT_MS, ADP_AUTHZ_TIMEOUT_MS};

static void timer_unlink(adp_conn_t *c)
{
    adp_timer_list_t *l;

    if (c->tkind == ADP_T_NONE)
        return;
    l = &c->srv->timers[c->tkind];
    if (c->tprev)
        c->tprev->tnext = c->tnext;
    else
        l->head = c->tnext;
    if (c->tnext)
        c->tnext->tprev = c->tprev;
    else
        l->tail = c->tprev;
    c->tprev = c->tnext = NULL;
    c->tkind = ADP_T_NONE;
}

/* Every list has one timeout, so appending keeps it sorted by deadline. */
static void timer_set(adp_conn_t *c, adp_timer_t kind)
{
    adp_timer_list_t *l = &c->srv->timers[kind];

    timer_unlink(c);
    c->tkind = kind;
    c->deadline_ms = shm_now_mono_ms() + conn_timeouts[kind];
    c->tprev = l->tail;
    if (l->tail)
        l->tail->tnext = c;
    else
        l->head = c;
    l->tail = c;
}

adp_conn_t *adp_timer_first(adp_server_t *s, adp_timer_t t, uint64_t *ret_deadline)
{
    adp_conn_t *c = s->timers[t].head;
    if (c)
        *ret_deadline = c->deadline_ms;
    return c;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void conn_want(adp_conn_t *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};

    if (c->want == events)
        return;
    if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        log_warning(-errno, "epoll_ctl");
    c->want = events;
}

void adp_conn_accept(adp_server_t *s, adp_listen_t *l, int fd)
{
    adp_conn_t *c = calloc(1, sizeof *c);
    struct epoll_event ev = {.events = EPOLLIN};
    int one = 1;

    if (!c || (l->where == ADP_LISTENER_SECURE && !(c->ssl = SSL_new(adp_tls_ctx(s->tls)))) ||
        (c->ssl && SSL_set_fd(c->ssl, fd) != 1)) {
        log_warning(-ENOMEM, "cannot set up a connection");
        if (c)
            SSL_free(c->ssl);
        free(c);
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ev = ADP_EV_CONN;
    c->srv = s;
    c->fd = fd;
    c->where = l->where;
    c->tkind = ADP_T_NONE;
    c->want = EPOLLIN;
    c->state = c->ssl ? C_HANDSHAKE : C_READING;
    if (c->ssl)
        SSL_set_accept_state(c->ssl);
    ev.data.ptr = c;
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        log_warning(-errno, "epoll_ctl");
        SSL_free(c->ssl);
        free(c);
        close(fd);
        return;
    }
    s->nconns++;
    timer_set(c, c->ssl ? ADP_T_HEADER : ADP_T_IDLE);
}

void adp_conn_close(adp_conn_t *c)
{
    adp_server_t *s = c->srv;

    timer_unlink(c);
    if (c->state == C_WAIT_AUTHZ)
        adp_authz_forget(s->authz, c);
    if (c->ssl && SSL_is_init_finished(c->ssl)) {
        ERR_clear_error();
        SSL_shutdown(c->ssl); /* one close_notify, best effort: never wait for the peer's */
    }
    ERR_clear_error();
    SSL_free(c->ssl);
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    adp_arena_free(&c->arena);
    adp_peer_clear(&c->peer);
    free(c);
    s->nconns--;
}

void adp_conn_close_idle(adp_server_t *s)
{
    adp_conn_t *c;

    while ((c = s->timers[ADP_T_IDLE].head))
        adp_conn_close(c);
}

/* ---- I/O ----------------------------------------------------------------------------------- */

/* Peer-caused TLS failure: info, with OpenSSL's reasons. */
static void conn_tls_fail(adp_conn_t *c, const char *what, int err)
{
    char msg[512];

    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        log_debug("connection closed by the peer during %s", what);
        ERR_clear_error();
        return;
    }
    adp_tls_errors(msg, sizeof msg);
    log_info("TLS %s failed: %s", what, msg);
}

/* > 0 bytes, 0 end of stream, -EAGAIN (c->want set) or another -errno (logged). */
static ssize_t conn_recv(adp_conn_t *c, char *buf, size_t n)
{
    size_t got = 0;
    ssize_t r;

    if (!c->ssl) {
        r = recv(c->fd, buf, n, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_want(c, EPOLLIN);
            return -EAGAIN;
        }
        return r < 0 ? -errno : r;
    }
    ERR_clear_error();
    if (SSL_read_ex(c->ssl, buf, n, &got) == 1)
        return (ssize_t)got;
    switch (SSL_get_error(c->ssl, 0)) {
    case SSL_ERROR_WANT_READ:
        conn_want(c, EPOLLIN);
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        conn_want(c, EPOLLOUT);
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        conn_tls_fail(c, "read", SSL_get_error(c->ssl, 0));
        return -EPROTO;
    }
}

static ssize_t conn_send(adp_conn_t *c, const char *buf, size_t n)
{
    size_t put = 0;
    ssize_t r;

    if (!c->ssl) {
        r = send(c->fd, buf, n, MSG_NOSIGNAL);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_want(c, EPOLLOUT);
            return -EAGAIN;
        }
        return r < 0 ? -errno : r;
    }
    ERR_clear_error();
    if (SSL_write_ex(c->ssl, buf, n, &put) == 1)
        return (ssize_t)put;
    int err = SSL_get_error(c->ssl, 0);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        conn_want(c, err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN);
        return -EAGAIN;
    }
    conn_tls_fail(c, "write", err);
    return -EPROTO;
}

/* ---- responses ----------------------------------------------------------------------------- */

static const char *conn_date(void)
{
    static char buf[40];
    static time_t last;
    time_t now = time(NULL);
    struct tm tm;

    if (now != last) {
        gmtime_r(&now, &tm);
        strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return buf;
}

static double conn_elapsed_ms(const adp_conn_t *c)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - c->started.tv_sec) * 1e3 +
           (double)(now.tv_nsec - c->started.tv_nsec) / 1e6;
}

/* Queues a response: status line, headers, body (omitted for HEAD). */
static void conn_respond(adp_conn_t *c, int code, const char *ctype, const adp_sbuf_t *body,
                         const char *extra_headers)
{
    adp_sbuf_t out;
    size_t blen = body && !body->failed ? body->len : 0;

    if (!c->req.keep_alive || c->srv->stopping)
        c->close_after = true;
    adp_sbuf_init(&out, &c->arena);
    adp_sbuf_printf(&out,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nDate: %s\r\n"
                    "Cache-Control: no-cache, private\r\nX-Content-Type-Options: nosniff\r\n%s%s"
                    "\r\n",
                    code, adp_http_reason_phrase(code), ctype, blen, conn_date(),
                    extra_headers ? extra_headers : "",
                    c->close_after ? "Connection: close\r\n" : "");
    if (blen && c->req.method != ADP_HTTP_HEAD)
        adp_sbuf_append(&out, body->p, blen);
    if (out.failed) { /* the arena limit: nothing sensible can be sent */
        c->state = C_CLOSING;
        return;
    }
    log_debug("%.*s %s %d %.2fms %s", (int)c->req.method_name.n, c->req.method_name.p,
              c->route.metric ? c->route.metric : "-", code, conn_elapsed_ms(c),
              c->id.user ? c->id.user : "-");
    c->out = out.p;
    c->out_len = out.len;
    c->out_off = 0;
    c->state = C_WRITING;
    timer_set(c, ADP_T_WRITE);
}

static void conn_status(adp_conn_t *c, int code, const char *message, const adp_status_details_t *d,
                        const char *extra_headers)
{
    adp_sbuf_t body;

    adp_sbuf_init(&body, &c->arena);
    adp_status_json(&body, code, message ? message : "out of memory", d);
    conn_respond(c, code, "application/json", &body, extra_headers);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static void conn_serve_health(adp_conn_t *c, adp_slice_t query)
{
    adp_server_t *s = c->srv;
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
    adp_sbuf_init(&body, &c->arena);
    int code = adp_health_write(c->route.id, &h,
                                adp_http_query_get(&c->arena, query, "verbose", &v) == 0, &body);
    conn_respond(c, code, "text/plain; charset=utf-8", &body, NULL);
}

static void conn_serve_value(adp_conn_t *c, adp_slice_t query)
{
    adp_answer_t ans;
    char *selector = NULL;
    int r = adp_http_query_get(&c->arena, query, "labelSelector", &selector);

    if (r == -EINVAL) {
        conn_status(c, 400, "malformed query string", NULL, NULL);
        return;
    }
    adp_values_serve(c->srv->table, &c->arena, c->route.ns, c->route.metric, selector,
                     shm_now_mono_ms(), &ans);
    if (ans.code == 200)
        conn_respond(c, 200, "application/json", &ans.body, NULL);
    else
        conn_status(c, ans.code, ans.message, &ans.details, NULL);
}

/* The metrics port's plain HTTP: a scrape may need more than one request's usual arena. */
static void conn_serve_metrics(adp_conn_t *c)
{
    adp_prom_model_t m;
    adp_sbuf_t body;

    c->arena.limit = ADP_PROM_ARENA_LIMIT; /* back to the default when the arena is reset */
    adp_sbuf_init(&body, &c->arena);
    if (adp_prom_collect(c->srv->table, &c->arena, shm_now_mono_ms(), &m) == 0)
        adp_prom_write(&body, &m);
    if (body.failed) {
        log_warning(-ENOMEM, "/metrics does not fit in %u bytes", ADP_PROM_ARENA_LIMIT);
        adp_arena_reset(&c->arena); /* room for the error; nothing of the request is kept there */
        conn_status(c, 500, "metrics exceed the response limit", NULL, NULL);
        return;
    }
    conn_respond(c, 200, ADP_PROM_CONTENT_TYPE, &body, NULL);
}

static void conn_serve(adp_conn_t *c)
{
    adp_slice_t path, query;
    adp_sbuf_t body;

    adp_http_target_split(c->req.target, &path, &query);
    c->srv->requests++;
    switch (c->route.id) {
    case ADP_ROUTE_HEALTHZ:
    case ADP_ROUTE_LIVEZ:
    case ADP_ROUTE_READYZ:
        conn_serve_health(c, query);
        break;
    case ADP_ROUTE_VALUE:
        conn_serve_value(c, query);
        break;
    case ADP_ROUTE_METRICS:
        conn_serve_metrics(c);
        break;
    default:
        adp_sbuf_init(&body, &c->arena);
        adp_discovery_write(c->route.id, &body);
        conn_respond(c, 200, "application/json", &body, NULL);
        break;
    }
}

static void conn_forbidden(adp_conn_t *c, const char *reason)
{
    const char *resource = c->route.metric;
    char *msg = adp_arena_printf(&c->arena,
                                 "%s.%s is forbidden: User \"%s\" cannot list resource \"%s\" in "
                                 "API group \"%s\" in the namespace \"%s\"%s%s",
                                 resource, ADP_GROUP, c->id.user, resource, ADP_GROUP, c->route.ns,
                                 reason && reason[0] ? ": " : "", reason ? reason : "");
    adp_status_details_t d = {.group = ADP_GROUP, .kind = resource};

    log_info("forbidden: %s (%s) may not read %s/%s", c->id.user, c->id.via, c->route.ns, resource);
    conn_status(c, 403, msg, &d, NULL);
}

static void conn_authorized(adp_conn_t *c, adp_authz_result_t r, const char *reason)
{
    switch (r) {
    case ADP_AUTHZ_ALLOW:
        conn_serve(c);
        break;
    case ADP_AUTHZ_DENY:
        conn_forbidden(c, reason);
        break;
    case ADP_AUTHZ_BUSY:
        conn_status(c, 429, "too many authorization reviews in flight; retry", NULL,
                    "Retry-After: 1\r\n");
        break;
    default:
        log_warning(0, "authorization of %s failed: %s", c->id.user, reason ? reason : "");
        conn_status(c, 500,
                    adp_arena_printf(&c->arena, "authorization review failed: %s",
                                     reason && reason[0] ? reason : "unknown error"),
                    NULL, NULL);
        break;
    }
}

void adp_conn_authz_done(void *waiter, adp_authz_result_t result, const char *reason)
{
    adp_conn_t *c = waiter;

    if (c->state != C_WAIT_AUTHZ)
        return;
    c->state = C_READING; /* no longer a waiter: closing it must not forget it again */
    conn_authorized(c, result, reason);
    adp_conn_event(c, 0);
}

static int conn_authenticate(adp_conn_t *c)
{
    adp_server_t *s = c->srv;
    X509_STORE *cca = adp_tls_client_ca(s->tls);

    if (cca != s->client_ca_seen) { /* the certificate directory was reloaded */
        s->client_ca_seen = cca;
        s->authgen++;
    }
    return adp_authn_request(s->authcfg, cca, s->authgen, c->ssl, &c->peer, &c->req, &c->arena,
                             &c->id);
}

/* Routes and checks the request; 0 when it may be served now, else the response (or the wait
 * for a review) is already set up. */
static int conn_admit(adp_conn_t *c)
{
    adp_slice_t path, query;
    char *decoded;

    adp_http_target_split(c->req.target, &path, &query);
    if (adp_http_unescape(&c->arena, path, false, &decoded) < 0) {
        conn_status(c, 400, "malformed request path", NULL, NULL);
        return -EINVAL;
    }
    adp_route_match(c->where, decoded, &c->route);
    if (c->req.content_length > 0) { /* this API takes no bodies; the rest is not read */
        c->req.keep_alive = false;
        conn_status(c, 413, "request bodies are not accepted", NULL, NULL);
    } else if (c->route.id == ADP_ROUTE_NONE) {
        conn_status(c, 404, "the server could not find the requested resource", NULL, NULL);
    } else if (c->req.method == ADP_HTTP_OTHER) {
        conn_status(c, 405, "the server does not allow this method on the requested resource", NULL,
                    "Allow: GET, HEAD\r\n");
    } else if (c->where == ADP_LISTENER_SECURE && !adp_route_is_public(c->route.id) &&
               conn_authenticate(c) < 0) {
        conn_status(c, 401, "Unauthorized", NULL, NULL);
    } else {
        return 0;
    }
    return -EACCES;
}

/* A complete request head is in c->req: route, check, serve (or wait for a review). */
static void conn_dispatch(adp_conn_t *c)
{
    adp_authz_result_t r;

    clock_gettime(CLOCK_MONOTONIC, &c->started);
    memset(&c->id, 0, sizeof c->id);
    c->route = (adp_route_t){.id = ADP_ROUTE_NONE};
    if (conn_admit(c) < 0)
        return;
    if (!adp_route_needs_authz(c->route.id)) {
        conn_serve(c);
        return;
    }
    r = adp_authz_check(c->srv->authz, &c->id, c->route.ns, c->route.metric, c, shm_now_mono_ms());
    if (r != ADP_AUTHZ_PENDING) {
        conn_authorized(c, r, "");
        return;
    }
    c->state = C_WAIT_AUTHZ;
    conn_want(c, 0);
    timer_set(c, ADP_T_AUTHZ);
}

/* ---- the state machine --------------------------------------------------------------------- */

static conn_step_t conn_step_handshake(adp_conn_t *c)
{
    int r;

    ERR_clear_error();
    r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->state = C_READING;
        timer_set(c, ADP_T_IDLE);
        return STEP_AGAIN;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        conn_want(c, EPOLLIN);
        return STEP_BLOCKED;
    case SSL_ERROR_WANT_WRITE:
        conn_want(c, EPOLLOUT);
        return STEP_BLOCKED;
    default:
        conn_tls_fail(c, "handshake", SSL_get_error(c->ssl, r));
        c->state = C_CLOSING;
        return STEP_AGAIN;
    }
}

static conn_step_t conn_step_read(adp_conn_t *c)
{
    int status = 0;
    int r = c->in_len ? adp_http_parse(c->in, c->in_len, &c->scan, &c->req, &status) : -EAGAIN;

    if (r == 0) {
        conn_dispatch(c);
        return STEP_AGAIN;
    }
    if (r == -EPROTO) {
        log_debug("rejected a malformed request (%d)", status);
        memset(&c->req, 0, offsetof(adp_http_req_t, headers));
        c->close_after = true;
        conn_status(c, status, adp_http_reason_phrase(status), NULL, NULL);
        return STEP_AGAIN;
    }
    ssize_t n = conn_recv(c, c->in + c->in_len, sizeof c->in - c->in_len);
    if (n == -EAGAIN)
        return STEP_BLOCKED;
    if (n <= 0) {
        c->state = C_CLOSING;
        return STEP_AGAIN;
    }
    if (c->in_len == 0)
        timer_set(c, ADP_T_HEADER); /* a request started: it has ADP_HEADER_TIMEOUT_MS */
    c->in_len += (size_t)n;
    return STEP_AGAIN;
}

/* The response is out: keep the bytes of the next (pipelined) request, reset the arena. */
static void conn_next_request(adp_conn_t *c)
{
    size_t used = c->req.head_len;

    if (used > c->in_len)
        used = c->in_len;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    c->scan = 0;
    adp_arena_reset(&c->arena);
    c->arena.limit = 0;
    memset(&c->id, 0, sizeof c->id);
    c->route = (adp_route_t){.id = ADP_ROUTE_NONE};
    c->state = C_READING;
    timer_set(c, c->in_len ? ADP_T_HEADER : ADP_T_IDLE);
}

static conn_step_t conn_step_write(adp_conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = conn_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n == -EAGAIN)
            return STEP_BLOCKED;
        if (n <= 0) {
            c->state = C_CLOSING;
            return STEP_AGAIN;
        }
        c->out_off += (size_t)n;
    }
    if (c->close_after) {
        c->state = C_CLOSING;
        return STEP_AGAIN;
    }
    conn_next_request(c);
    return STEP_AGAIN;
}

void adp_conn_event(adp_conn_t *c, uint32_t events)
{
    if ((events & (EPOLLERR | EPOLLHUP)) && c->state != C_WRITING && c->state != C_READING) {
        adp_conn_close(c);
        return;
    }
    for (;;) {
        conn_step_t step;
        switch (c->state) {
        case C_HANDSHAKE:
            step = conn_step_handshake(c);
            break;
        case C_READING:
            step = conn_step_read(c);
            break;
        case C_WRITING:
            step = conn_step_write(c);
            break;
        case C_WAIT_AUTHZ:
            return;
        default:
            adp_conn_close(c);
            return;
        }
        if (step == STEP_BLOCKED)
            return;
    }
}

void adp_conn_expire(adp_conn_t *c, uint64_t now_ms)
{
    (void)now_ms;
    if (c->state == C_WAIT_AUTHZ) {
        adp_authz_forget(c->srv->authz, c);
        c->state = C_READING;
        conn_status(c, 500, "authorization review timed out", NULL, NULL);
        adp_conn_event(c, 0);
        return;
    }
    if (c->state == C_READING && c->in_len)
        log_debug("closing a connection whose request head did not arrive in time");
    adp_conn_close(c);
}
