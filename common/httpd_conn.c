/*
 * httpd_conn: one client connection of httpd (the serving role's process, its event-loop
 * thread).
 *
 * A state machine driven by epoll readiness: TLS handshake (TLS listeners only), reading a
 * request head, reading its body (only with a Content-Length within the server's body_max),
 * the role's serve callback, possibly parked while the role waits for something (the adapter's
 * authorization reviews), writing the response; then the next request on the same connection
 * (HTTP/1.1 keep-alive, pipelining in order) or close. Every state has a deadline
 * (httpd.h), so slow or idle clients cost a descriptor and ~20 KiB, never the loop's time. A
 * request is served from the connection's arena, reset when its response has been written.
 *
 * Failures caused by the peer (bad TLS, resets, malformed requests) are logged at info or
 * debug; the OpenSSL error queue is cleared before each call and drained into the message.
 */
#include "common/httpd_internal.h"

#include "common/log.h"
#include "shm/shm.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef enum {
    C_HANDSHAKE,
    C_READING,
    C_BODY,
    C_WAITING,
    C_WRITING,
    C_DISCARDING,
    C_CLOSING
} conn_state_t;
typedef enum { STEP_AGAIN, STEP_BLOCKED } conn_step_t;

struct httpd_conn {
    httpd_ev_t ev; /* HTTPD_EV_CONN */
    httpd_server_t *srv;
    int fd;
    int tag;
    SSL *ssl;
    conn_state_t state;
    uint32_t want;       /* epoll interest now */
    httpd_timer_t tkind; /* list it is on, HTTPD_T_NONE */
    httpd_conn_t *tprev, *tnext;
    uint64_t deadline_ms;
    size_t in_len, scan;
    size_t consumed; /* bytes of in[] the current request used (head and body bytes) */
    bool close_after;
    httpd_arena_t arena;
    httpd_req_t req;
    httpd_request_t request;
    char *body; /* arena, content_length + 1 bytes */
    size_t body_have;
    uint64_t discard; /* bytes of a refused body to read and drop before closing */
    const char *log_what, *log_who;
    const char *out;
    size_t out_len, out_off;
    struct timespec started;
    char in[HTTPD_HEAD_MAX];
    max_align_t user[]; /* the role's conn_user_size bytes */
};

/* ---- timers ------------------------------------------------------------------------------ */

static void timer_unlink(httpd_conn_t *c)
{
    httpd_timer_list_t *l;

    if (c->tkind == HTTPD_T_NONE)
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
    c->tkind = HTTPD_T_NONE;
}

/* Every list has one timeout, so appending keeps it sorted by deadline. */
static void timer_set(httpd_conn_t *c, httpd_timer_t kind)
{
    httpd_timer_list_t *l = &c->srv->timers[kind];

    timer_unlink(c);
    c->tkind = kind;
    c->deadline_ms = shm_now_mono_ms() + c->srv->timeouts[kind];
    c->tprev = l->tail;
    if (l->tail)
        l->tail->tnext = c;
    else
        l->head = c;
    l->tail = c;
}

httpd_conn_t *httpd_timer_first(httpd_server_t *s, httpd_timer_t t, uint64_t *ret_deadline)
{
    httpd_conn_t *c = s->timers[t].head;
    if (c)
        *ret_deadline = c->deadline_ms;
    return c;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void conn_want(httpd_conn_t *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};

    if (c->want == events)
        return;
    if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        log_warning(-errno, "epoll_ctl");
    c->want = events;
}

void httpd_conn_accept(httpd_server_t *s, httpd_listener_t *l, int fd)
{
    httpd_conn_t *c = calloc(1, sizeof *c + s->cfg.conn_user_size);
    struct epoll_event ev = {.events = EPOLLIN};
    int one = 1;

    if (!c || (l->cfg.tls && !(c->ssl = SSL_new(httpd_tls_ctx(s->cfg.tls)))) ||
        (c->ssl && SSL_set_fd(c->ssl, fd) != 1)) {
        log_warning(-ENOMEM, "cannot set up a connection");
        if (c)
            SSL_free(c->ssl);
        free(c);
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ev = HTTPD_EV_CONN;
    c->srv = s;
    c->fd = fd;
    c->tag = l->cfg.tag;
    c->tkind = HTTPD_T_NONE;
    c->want = EPOLLIN;
    c->state = c->ssl ? C_HANDSHAKE : C_READING;
    c->arena.limit = s->cfg.arena_limit;
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
    timer_set(c, c->ssl ? HTTPD_T_HEADER : HTTPD_T_IDLE);
}

void httpd_conn_close(httpd_conn_t *c)
{
    httpd_server_t *s = c->srv;

    if (s->cfg.conn_closed)
        s->cfg.conn_closed(c, s->cfg.ud); /* first: it may still look at the request */
    timer_unlink(c);
    if (c->ssl && SSL_is_init_finished(c->ssl)) {
        ERR_clear_error();
        SSL_shutdown(c->ssl); /* one close_notify, best effort: never wait for the peer's */
    }
    ERR_clear_error();
    SSL_free(c->ssl);
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    httpd_arena_free(&c->arena);
    free(c);
    s->nconns--;
}

void httpd_conn_close_idle(httpd_server_t *s)
{
    httpd_conn_t *c;

    while ((c = s->timers[HTTPD_T_IDLE].head))
        httpd_conn_close(c);
}

/* ---- accessors ----------------------------------------------------------------------------- */

const httpd_request_t *httpd_conn_request(const httpd_conn_t *c)
{
    return &c->request;
}

httpd_arena_t *httpd_conn_arena(httpd_conn_t *c)
{
    return &c->arena;
}

int httpd_conn_listener(const httpd_conn_t *c)
{
    return c->tag;
}

struct ssl_st *httpd_conn_ssl(const httpd_conn_t *c)
{
    return c->ssl;
}

void *httpd_conn_user(httpd_conn_t *c)
{
    return c->user;
}

void httpd_conn_set_log(httpd_conn_t *c, const char *what, const char *who)
{
    c->log_what = what;
    c->log_who = who;
}

/* ---- I/O ----------------------------------------------------------------------------------- */

/* Peer-caused TLS failure: info, with OpenSSL's reasons. */
static void conn_tls_fail(const char *what, int err)
{
    char msg[512];

    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        log_debug("connection closed by the peer during %s", what);
        ERR_clear_error();
        return;
    }
    httpd_tls_errors(msg, sizeof msg);
    log_info("TLS %s failed: %s", what, msg);
}

/* > 0 bytes, 0 end of stream, -EAGAIN (c->want set) or another -errno (logged). */
static ssize_t conn_recv(httpd_conn_t *c, char *buf, size_t n)
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
        conn_tls_fail("read", SSL_get_error(c->ssl, 0));
        return -EPROTO;
    }
}

static ssize_t conn_send(httpd_conn_t *c, const char *buf, size_t n)
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
    conn_tls_fail("write", err);
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

static double conn_elapsed_ms(const httpd_conn_t *c)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - c->started.tv_sec) * 1e3 +
           (double)(now.tv_nsec - c->started.tv_nsec) / 1e6;
}

#define CONN_PUT_LIT(b, lit) httpd_sbuf_append((b), (lit), sizeof(lit) - 1)

/* The status line and headers, from fixed parts (this runs for every response). */
static void conn_put_head(httpd_conn_t *c, httpd_sbuf_t *out, int code, const char *ctype,
                          size_t blen, const char *extra_headers)
{
    char status[4] = {(char)('0' + code / 100 % 10), (char)('0' + code / 10 % 10),
                      (char)('0' + code % 10), ' '};
    char digits[20];
    size_t nd = 0;

    do
        digits[sizeof digits - ++nd] = (char)('0' + blen % 10);
    while ((blen /= 10) > 0);
    CONN_PUT_LIT(out, "HTTP/1.1 ");
    httpd_sbuf_append(out, status, sizeof status);
    httpd_sbuf_puts(out, httpd_reason_phrase(code));
    CONN_PUT_LIT(out, "\r\nContent-Type: ");
    httpd_sbuf_puts(out, ctype);
    CONN_PUT_LIT(out, "\r\nContent-Length: ");
    httpd_sbuf_append(out, digits + sizeof digits - nd, nd);
    CONN_PUT_LIT(out, "\r\nDate: ");
    httpd_sbuf_puts(out, conn_date());
    CONN_PUT_LIT(out,
                 "\r\nCache-Control: no-cache, private\r\nX-Content-Type-Options: nosniff\r\n");
    if (extra_headers)
        httpd_sbuf_puts(out, extra_headers);
    if (c->close_after)
        CONN_PUT_LIT(out, "Connection: close\r\n");
    CONN_PUT_LIT(out, "\r\n");
}

void httpd_respond(httpd_conn_t *c, int code, const char *ctype, const httpd_sbuf_t *body,
                   const char *extra_headers)
{
    httpd_sbuf_t out;
    size_t blen = body && !body->failed ? body->len : 0;

    if (!c->req.keep_alive || c->srv->stopping)
        c->close_after = true;
    httpd_sbuf_init(&out, &c->arena);
    conn_put_head(c, &out, code, ctype, blen, extra_headers);
    if (blen && c->req.method != HTTPD_HEAD)
        httpd_sbuf_append(&out, body->p, blen);
    timer_unlink(c);
    if (out.failed) { /* the arena limit: nothing sensible can be sent */
        c->state = C_CLOSING;
        return;
    }
    double ms = conn_elapsed_ms(c);
    log_debug("%.*s %s %d %.2fms %s", (int)c->req.method_name.n, c->req.method_name.p,
              c->log_what ? c->log_what : "-", code, ms, c->log_who ? c->log_who : "-");
    if (c->srv->cfg.responded)
        c->srv->cfg.responded(c->srv->cfg.ud, c->tag, code, ms > 0 ? (uint64_t)(ms * 1e3) : 0);
    c->out = out.p;
    c->out_len = out.len;
    c->out_off = 0;
    c->state = C_WRITING;
    timer_set(c, HTTPD_T_WRITE);
}

void httpd_respond_status(httpd_conn_t *c, int code, const char *message,
                          const httpd_status_details_t *d, const char *extra_headers)
{
    httpd_sbuf_t body;

    httpd_sbuf_init(&body, &c->arena);
    httpd_status_json(&body, code, message ? message : "out of memory", d);
    httpd_respond(c, code, "application/json", &body, extra_headers);
}

void httpd_conn_wait(httpd_conn_t *c)
{
    c->state = C_WAITING;
    conn_want(c, 0);
    timer_set(c, HTTPD_T_WAIT);
}

bool httpd_conn_waiting(const httpd_conn_t *c)
{
    return c->state == C_WAITING;
}

void httpd_conn_resume(httpd_conn_t *c)
{
    httpd_conn_event(c, 0);
}

/* ---- requests ------------------------------------------------------------------------------ */

static void conn_serve(httpd_conn_t *c)
{
    httpd_server_t *s = c->srv;

    if (c->body) {
        c->body[c->body_have] = '\0';
        c->request.body = c->body;
        c->request.body_len = c->body_have;
    }
    s->requests++;
    s->cfg.serve(c, s->cfg.ud);
    if (c->state == C_READING || c->state == C_BODY) { /* the role gave no answer */
        log_warning(0, "no response to %.*s %s", (int)c->req.method_name.n, c->req.method_name.p,
                    c->request.path);
        httpd_respond_status(c, 500, "the server produced no response", NULL, NULL);
    }
}

/* A complete request head is in c->req: decode its path, take its body or refuse it. */
static void conn_head(httpd_conn_t *c)
{
    httpd_server_t *s = c->srv;
    httpd_slice_t path;
    char *decoded;

    clock_gettime(CLOCK_MONOTONIC, &c->started);
    c->consumed = c->req.head_len;
    c->request = (httpd_request_t){.head = &c->req};
    httpd_target_split(c->req.target, &path, &c->request.query);
    if (httpd_unescape(&c->arena, path, false, &decoded) < 0) {
        httpd_respond_status(c, 400, "malformed request path", NULL, NULL);
        return;
    }
    c->request.path = decoded;
    if (c->req.content_length > 0 &&
        (s->cfg.body_max == 0 || c->req.content_length > s->cfg.body_max)) {
        c->req.keep_alive = false; /* the body is not read: nothing more can be parsed */
        /* A server that takes bodies lets a client that sends its body before reading the
         * answer (most do) finish sending it, so the 413 reaches it instead of a reset. */
        if (s->cfg.body_max && c->req.content_length <= HTTPD_DISCARD_MAX)
            c->discard =
                c->req.content_length - (c->in_len - c->req.head_len < c->req.content_length
                                             ? c->in_len - c->req.head_len
                                             : c->req.content_length);
        httpd_respond_status(c, 413,
                             s->cfg.body_max == 0
                                 ? "request bodies are not accepted"
                                 : httpd_arena_printf(&c->arena,
                                                      "request body larger than %llu bytes",
                                                      (unsigned long long)s->cfg.body_max),
                             NULL, NULL);
        return;
    }
    if (c->req.content_length == 0) {
        conn_serve(c);
        return;
    }
    if (!(c->body = httpd_arena_alloc(&c->arena, (size_t)c->req.content_length + 1))) {
        c->req.keep_alive = false;
        httpd_respond_status(c, 413, "request body does not fit in memory", NULL, NULL);
        return;
    }
    size_t have = c->in_len - c->req.head_len;
    if (have > c->req.content_length)
        have = (size_t)c->req.content_length;
    memcpy(c->body, c->in + c->req.head_len, have);
    c->body_have = have;
    c->consumed += have;
    c->state = C_BODY;
    if (c->body_have == c->req.content_length)
        conn_serve(c);
}

/* ---- the state machine --------------------------------------------------------------------- */

static conn_step_t conn_step_handshake(httpd_conn_t *c)
{
    int r;

    ERR_clear_error();
    r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->state = C_READING;
        timer_set(c, HTTPD_T_IDLE);
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
        conn_tls_fail("handshake", SSL_get_error(c->ssl, r));
        c->state = C_CLOSING;
        return STEP_AGAIN;
    }
}

static conn_step_t conn_step_read(httpd_conn_t *c)
{
    int status = 0;
    int r = c->in_len ? httpd_parse(c->in, c->in_len, &c->scan, &c->req, &status) : -EAGAIN;

    if (r == 0) {
        conn_head(c);
        return STEP_AGAIN;
    }
    if (r == -EPROTO) {
        log_debug("rejected a malformed request (%d)", status);
        memset(&c->req, 0, offsetof(httpd_req_t, headers));
        c->close_after = true;
        clock_gettime(CLOCK_MONOTONIC, &c->started);
        httpd_respond_status(c, status, httpd_reason_phrase(status), NULL, NULL);
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
        timer_set(c, HTTPD_T_HEADER); /* a request started: it has HTTPD_HEADER_TIMEOUT_MS */
    c->in_len += (size_t)n;
    return STEP_AGAIN;
}

/* The rest of a body, straight into its buffer (under the deadline of the request's head). */
static conn_step_t conn_step_body(httpd_conn_t *c)
{
    size_t want = (size_t)c->req.content_length - c->body_have;
    ssize_t n = conn_recv(c, c->body + c->body_have, want);

    if (n == -EAGAIN)
        return STEP_BLOCKED;
    if (n <= 0) {
        c->state = C_CLOSING;
        return STEP_AGAIN;
    }
    c->body_have += (size_t)n;
    if (c->body_have == c->req.content_length)
        conn_serve(c);
    return STEP_AGAIN;
}

/* The response is out: keep the bytes of the next (pipelined) request, reset the arena. */
static void conn_next_request(httpd_conn_t *c)
{
    size_t used = c->consumed;

    if (used > c->in_len)
        used = c->in_len;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    c->scan = 0;
    c->consumed = 0;
    c->body = NULL;
    c->body_have = 0;
    c->request = (httpd_request_t){0};
    c->log_what = c->log_who = NULL;
    httpd_arena_reset(&c->arena);
    c->arena.limit = c->srv->cfg.arena_limit;
    c->state = C_READING;
    timer_set(c, c->in_len ? HTTPD_T_HEADER : HTTPD_T_IDLE);
}

static conn_step_t conn_step_write(httpd_conn_t *c)
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
        c->state = c->discard ? C_DISCARDING : C_CLOSING;
        if (c->discard)
            timer_set(c, HTTPD_T_HEADER);
        return STEP_AGAIN;
    }
    conn_next_request(c);
    return STEP_AGAIN;
}

/* After a refused body: read and drop it (under a header deadline), then close. */
static conn_step_t conn_step_discard(httpd_conn_t *c)
{
    while (c->discard) {
        ssize_t n =
            conn_recv(c, c->in, c->discard < sizeof c->in ? (size_t)c->discard : sizeof c->in);
        if (n == -EAGAIN)
            return STEP_BLOCKED;
        if (n <= 0)
            break;
        c->discard -= (uint64_t)n;
    }
    c->state = C_CLOSING;
    return STEP_AGAIN;
}

void httpd_conn_event(httpd_conn_t *c, uint32_t events)
{
    if ((events & (EPOLLERR | EPOLLHUP)) && c->state != C_WRITING && c->state != C_READING &&
        c->state != C_BODY && c->state != C_DISCARDING) {
        httpd_conn_close(c);
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
        case C_BODY:
            step = conn_step_body(c);
            break;
        case C_WRITING:
            step = conn_step_write(c);
            break;
        case C_DISCARDING:
            step = conn_step_discard(c);
            break;
        case C_WAITING:
            return;
        default:
            httpd_conn_close(c);
            return;
        }
        if (step == STEP_BLOCKED)
            return;
    }
}

void httpd_conn_expire(httpd_conn_t *c)
{
    httpd_server_t *s = c->srv;

    if (c->state == C_WAITING) {
        if (s->cfg.wait_expired)
            s->cfg.wait_expired(c, s->cfg.ud);
        if (c->state == C_WAITING) {
            httpd_conn_close(c);
            return;
        }
        httpd_conn_event(c, 0);
        return;
    }
    if ((c->state == C_READING && c->in_len) || c->state == C_BODY)
        log_debug("closing a connection whose request did not arrive in time");
    httpd_conn_close(c);
}
