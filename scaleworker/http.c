/*
 * http: the scalers' HTTP/1.1 client (see http.h). Runs in scale workers, on their loop.
 *
 * One connection per client, as a small state machine driven by readiness callbacks:
 *   CLOSED -> CONNECTING (net.h) [-> PROXY: CONNECT through an http proxy] [-> TLS handshake]
 *   -> EXCHANGE (write the request, read the response) -> IDLE (kept alive) or CLOSED.
 * An idle connection stays registered with no interest; before it is reused a peek checks that
 * the server has not closed it. A request that fails on a reused connection before any byte of
 * the answer arrived is retried once on a new connection, as Go's transport retries.
 *
 * OpenSSL: the error queue is cleared before each call and drained into the message on failure;
 * TLS contexts are per client, created when first needed (or at once when the client carries a
 * certificate or CA of its own, so a bad PEM is a configuration error).
 */
#include "scaleworker/conn.h"
#include "scaleworker/http.h"
#include "scaleworker/tls.h"

#include "common/base64.h"
#include "shm/shm.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define H_ERR_MAX  (SW_URL_SHOWN_MAX + 512)
#define H_READ_BUF 16384

typedef enum { H_CLOSED, H_IDLE, H_CONNECTING, H_PROXY, H_TLS, H_EXCHANGE } h_state_t;

struct sw_http {
    sw_conn_t conn;
    sw_io_t timer; /* the request's own deadline; fd -1 until first used */
    SSL_CTX *ctx;
    bool unsafe_ssl;
    char *ca_pem, *cert_pem, *key_pem; /* copies; wiped when freed */
    h_state_t state;
    char conn_key[2 * SW_HOST_MAX + 32]; /* what the open connection reaches, and how */
    /* the request in flight */
    bool https, via_proxy, reused, retried, got_bytes, in_call;
    char host[SW_HOST_MAX], port[SW_PORT_MAX];           /* the origin */
    char conn_host[SW_HOST_MAX], conn_port[SW_PORT_MAX]; /* where we connect */
    char method[16];
    char shown[SW_URL_SHOWN_MAX];
    sw_buf_t req;     /* the request's bytes (may hold credentials) */
    sw_buf_t connect; /* CONNECT request to the proxy */
    sw_buf_t *out;    /* what is being written */
    size_t out_off;
    sw_http_parser_t parser;
    sw_http_done_fn done;
    void *arg;
    int call_err; /* a failure while sw_http_request() runs */
    char call_text[H_ERR_MAX];
};

static int h_min_tls = -1;    /* from KEDA_HTTP_MIN_TLS_VERSION */
static int h_keep_alive = -1; /* from KEDA_HTTP_DISABLE_KEEP_ALIVE */

static void h_env_once(void)
{
    const char *v;

    if (h_min_tls >= 0)
        return;
    h_min_tls = TLS1_2_VERSION; /* KEDA's default */
    if ((v = getenv("KEDA_HTTP_MIN_TLS_VERSION"))) {
        if (strcmp(v, "TLS10") == 0)
            h_min_tls = TLS1_VERSION;
        else if (strcmp(v, "TLS11") == 0)
            h_min_tls = TLS1_1_VERSION;
        else if (strcmp(v, "TLS13") == 0)
            h_min_tls = TLS1_3_VERSION;
    }
    v = getenv("KEDA_HTTP_DISABLE_KEEP_ALIVE");
    h_keep_alive = !(v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 ||
                           strcmp(v, "t") == 0 || strcmp(v, "T") == 0));
}

/* ---- TLS contexts -------------------------------------------------------------------------- */

static int h_ctx_create(sw_http_t *h, char *err, size_t errlen)
{
    sw_tls_client_opts_t t = {
        .skip_dotfiles = false,
        .ca_pem = h->ca_pem,
        .cert_pem = h->cert_pem,
        .key_pem = h->key_pem,
        .ca_err = "authentication.ca: error appending CA certs (no PEM certificate)",
        .cert_field = "authentication.cert/key",
    };
    int r;

    h_env_once();
    t.min_version = h_min_tls;
    if ((r = sw_tls_client_ctx_new(&t, &h->ctx, err, errlen)) < 0)
        return r;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(h->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    return 0;
}

static char *h_dup_secret(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

sw_http_t *sw_http_new(const sw_http_tls_opts_t *tls, char *err, size_t errlen)
{
    sw_http_t *h = calloc(1, sizeof *h);

    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sw_conn_init(&h->conn);
    h->timer.fd = -1;
    if (tls) {
        h->unsafe_ssl = tls->unsafe_ssl;
        h->ca_pem = h_dup_secret(tls->ca_pem);
        h->cert_pem = h_dup_secret(tls->cert_pem);
        h->key_pem = h_dup_secret(tls->key_pem);
        if ((h->ca_pem || h->cert_pem) && h_ctx_create(h, err, errlen) < 0) {
            sw_http_free(h);
            return NULL;
        }
    }
    return h;
}

/* ---- connection ---------------------------------------------------------------------------- */

static sw_http_t *h_of_io(sw_io_t *io)
{
    return (sw_http_t *)((char *)io - offsetof(sw_http_t, conn.tcp.io));
}

static void h_close(sw_http_t *h)
{
    sw_conn_close(&h->conn, h->state == H_IDLE); /* one close_notify, never waited for */
    h->state = H_CLOSED;
    h->conn_key[0] = '\0';
}

static void h_timer_stop(sw_http_t *h)
{
    if (h->timer.fd >= 0) {
        struct itimerspec off = {0};
        timerfd_settime(h->timer.fd, 0, &off, NULL);
        sw_io_want(&h->timer, 0);
    }
}

/* Ends the request: the connection closes, the caller hears of the failure. */
static void h_fail(sw_http_t *h, int err, const char *why)
{
    sw_http_done_fn done = h->done;
    void *arg = h->arg;
    char text[H_ERR_MAX];

    snprintf(text, sizeof text, "%s %s: %s", h->method, h->shown, why);
    h_close(h);
    h_timer_stop(h);
    sw_buf_free(&h->req);
    sw_buf_free(&h->connect);
    sw_http_parser_free(&h->parser);
    h->done = NULL;
    if (h->in_call) {
        h->call_err = err;
        snprintf(h->call_text, sizeof h->call_text, "%s", text);
        return;
    }
    if (done)
        done(arg, err, NULL, text);
}

static void h_start_exchange(sw_http_t *h);
static void h_connect(sw_http_t *h);

/* A failure before any byte of the answer on a reused connection: the server closed it while
 * it was idle; try once more on a new one. */
static bool h_retry(sw_http_t *h)
{
    if (!h->reused || h->retried || h->got_bytes)
        return false;
    h->retried = true;
    h->reused = false;
    h_close(h);
    h_connect(h);
    return true;
}

static void h_want(sw_http_t *h, uint32_t ev)
{
    int r = sw_io_want(&h->conn.tcp.io, ev);
    if (r < 0)
        h_fail(h, r, strerror(-r));
}

/* Writes what is left of h->out: 1 done, 0 waiting, -1 failed (reported). */
static int h_flush(sw_http_t *h)
{
    while (h->out_off < h->out->len) {
        uint32_t want = 0;
        char why[256];
        ssize_t w = sw_conn_write(&h->conn, h->out->p + h->out_off, h->out->len - h->out_off, &want,
                                  why, sizeof why);
        if (w == -EAGAIN) {
            h_want(h, want);
            return 0;
        }
        if (w < 0) {
            if (!h_retry(h))
                h_fail(h, (int)w, why);
            return -1;
        }
        h->out_off += (size_t)w;
    }
    return 1;
}

/* Starts writing b (the request, or CONNECT to the proxy), then reads the answer. */
static void h_send(sw_http_t *h, sw_buf_t *b)
{
    h->out = b;
    h->out_off = 0;
    if (h_flush(h) == 1)
        h_want(h, SW_IO_READ);
}

static void h_complete(sw_http_t *h)
{
    sw_http_parser_t p = h->parser; /* the callback may start the next request */
    sw_http_done_fn done = h->done;
    void *arg = h->arg;
    sw_http_response_t resp = {
        .status = p.status, .body = p.body ? p.body : "", .body_len = p.body_len};

    memset(&h->parser, 0, sizeof h->parser);
    h_timer_stop(h);
    sw_buf_free(&h->req);
    h->done = NULL;
    if (h->state == H_EXCHANGE && p.keep_alive && h_keep_alive) {
        h->state = H_IDLE;
        sw_io_want(&h->conn.tcp.io, 0);
    } else {
        h_close(h);
    }
    if (done)
        done(arg, 0, &resp, NULL);
    sw_http_parser_free(&p);
}

/* Reads: >0 bytes, 0 end of stream, -EAGAIN waiting (interest set), other -errno. */
static ssize_t h_recv(sw_http_t *h, char *buf, size_t cap, char *why, size_t whylen)
{
    uint32_t want = 0;
    ssize_t n = sw_conn_read(&h->conn, buf, cap, &want, why, whylen);

    if (n == -EAGAIN)
        sw_io_want(&h->conn.tcp.io, want);
    return n;
}

static const char *h_parse_why(const sw_http_parser_t *p, long r)
{
    return p->error ? p->error : r == -ENOMEM ? "out of memory" : "malformed response";
}

/* Reads the answer (to CONNECT in H_PROXY, to the request in H_EXCHANGE). */
static void h_read(sw_http_t *h)
{
    char buf[H_READ_BUF], why[256] = "";

    for (;;) {
        ssize_t n = h_recv(h, buf, sizeof buf, why, sizeof why);
        if (n == -EAGAIN)
            return;
        if (n < 0 || n == 0) {
            if (n == 0 && sw_http_parser_eof(&h->parser) == 0)
                break;
            if (h_retry(h))
                return;
            h_fail(h, n == 0 ? -EPIPE : (int)n,
                   n == 0   ? h->parser.error
                   : why[0] ? why
                            : strerror((int)-n));
            return;
        }
        h->got_bytes = true;
        long r = sw_http_parser_feed(&h->parser, buf, (size_t)n);
        if (r < 0) {
            h_fail(h, (int)r, h_parse_why(&h->parser, r));
            return;
        }
        if (h->parser.state == SW_HTTP_P_DONE) {
            if ((size_t)r < (size_t)n)
                h->parser.keep_alive = false; /* bytes nobody asked for */
            break;
        }
    }
    if (h->state == H_PROXY) {
        int status = h->parser.status;
        sw_http_parser_free(&h->parser);
        if (status < 200 || status > 299) {
            snprintf(why, sizeof why, "proxy %s:%s refused CONNECT with status %d", h->conn_host,
                     h->conn_port, status);
            h_fail(h, -ECONNREFUSED, why);
            return;
        }
        sw_http_parser_init(&h->parser, SW_HTTP_BODY_MAX, false);
        h->got_bytes = false;
        h_start_exchange(h); /* the TLS handshake inside the tunnel */
        return;
    }
    h_complete(h);
}

static void h_tls_step(sw_http_t *h)
{
    char why[300], detail[256];
    int r = sw_conn_handshake(&h->conn, detail, sizeof detail);

    if (r == -EAGAIN)
        return;
    if (r < 0) {
        snprintf(why, sizeof why, "TLS handshake with %s:%s: %s", h->host, h->port, detail);
        h_fail(h, r, why);
        return;
    }
    h->state = H_EXCHANGE;
    h_send(h, &h->req);
}

static void h_tls_start(sw_http_t *h)
{
    char err[H_ERR_MAX];

    if (!h->ctx && h_ctx_create(h, err, sizeof err) < 0) {
        h_fail(h, -EINVAL, err);
        return;
    }
    if (sw_conn_tls_start(&h->conn, h->ctx, h->host, h->unsafe_ssl) < 0) {
        h_fail(h, -ENOMEM, "creating a TLS session");
        return;
    }
    h->state = H_TLS;
    h_tls_step(h);
}

/* Connected (to the origin, or through the proxy's tunnel): TLS if https, then the request. */
static void h_start_exchange(sw_http_t *h)
{
    if (h->https) {
        h_tls_start(h);
        return;
    }
    h->state = H_EXCHANGE;
    h_send(h, &h->req);
}

static void h_connected(sw_http_t *h)
{
    if (h->via_proxy && h->https) {
        h->state = H_PROXY;
        sw_http_parser_init(&h->parser, SW_HTTP_BODY_MAX, true);
        h_send(h, &h->connect);
        return;
    }
    h_start_exchange(h);
}

static void h_on_io(sw_io_t *io, uint32_t revents)
{
    sw_http_t *h = h_of_io(io);

    switch (h->state) {
    case H_TLS:
        h_tls_step(h);
        return;
    case H_PROXY:
    case H_EXCHANGE:
        if (h->out_off < h->out->len) {
            if (h_flush(h) == 1)
                h_want(h, SW_IO_READ);
            return;
        }
        if (h->conn.ssl && SSL_want_write(h->conn.ssl) && !(revents & SW_IO_WRITE))
            return;
        h_read(h);
        return;
    default: /* idle: the server closed it or sent what nobody asked for */
        h_close(h);
        return;
    }
}

static void h_on_connect(sw_tcp_t *c, int err, const char *errtext)
{
    sw_http_t *h = (sw_http_t *)((char *)c - offsetof(sw_http_t, conn.tcp));

    if (err) {
        h_fail(h, err, errtext);
        return;
    }
    h_connected(h);
}

static void h_connect(sw_http_t *h)
{
    char err[SW_HOST_MAX + 128];
    int r;

    h_close(h);
    h->state = H_CONNECTING;
    h->got_bytes = false;
    sw_http_parser_free(&h->parser);
    sw_http_parser_init(&h->parser, SW_HTTP_BODY_MAX, strcmp(h->method, "HEAD") == 0);
    snprintf(h->conn_key, sizeof h->conn_key, "%d|%s|%s|%s|%s", h->https, h->host, h->port,
             h->via_proxy ? h->conn_host : "", h->via_proxy ? h->conn_port : "");
    r = sw_tcp_connect(&h->conn.tcp, h->conn_host, h->conn_port, h_on_connect, h_on_io, err,
                       sizeof err);
    if (r == 0)
        h_connected(h);
    else if (r != -EINPROGRESS)
        h_fail(h, r, err);
}

/* An idle connection the server has not closed and sent nothing on. */
static bool h_idle_usable(sw_http_t *h)
{
    char c;
    ssize_t n;

    if (h->state != H_IDLE || h->conn.tcp.io.fd < 0)
        return false;
    n = recv(h->conn.tcp.io.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* ---- requests ------------------------------------------------------------------------------ */

static bool h_token_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f ||
            strchr("\"(),/:;<=>?@[\\]{}", *s))
            return false;
    return true;
}

static bool h_value_ok(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n' || *s == '\0')
            return false;
    return true;
}

/* The path and query, bytes that may not appear raw percent-encoded (as Go's EscapedPath). */
static int h_add_target(sw_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int r = 0;

    for (; *s && r == 0; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f) {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            r = sw_buf_add(b, e, 3);
        } else {
            r = sw_buf_add(b, s, 1);
        }
    }
    return r;
}

static bool h_has_header(const sw_http_header_t *hd, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(hd[i].name, name) == 0)
            return true;
    return false;
}

static int h_basic(sw_buf_t *b, const char *header, const char *userinfo)
{
    char *enc = base64_encode(userinfo, strlen(userinfo));
    int r;

    if (!enc)
        return -ENOMEM;
    r = sw_buf_addf(b, "%s: Basic %s\r\n", header, enc);
    explicit_bzero(enc, strlen(enc));
    free(enc);
    return r;
}

static int h_build(sw_http_t *h, const char *method, const sw_url_t *u, const sw_url_t *proxy,
                   const sw_http_header_t *hd, size_t nh, const char *body, size_t blen)
{
    sw_buf_t *b = &h->req;
    int r = sw_buf_addf(b, "%s ", method);

    if (r == 0 && proxy && !u->https)
        r = sw_buf_addf(b, "http://%s", u->authority);
    if (r == 0)
        r = h_add_target(b, u->path[0] ? u->path : "/");
    if (r == 0 && u->query) {
        r = sw_buf_add(b, "?", 1);
        if (r == 0)
            r = h_add_target(b, u->query);
    }
    if (r == 0)
        r = sw_buf_addf(b, " HTTP/1.1\r\nHost: %s\r\nUser-Agent: ckeda/%s\r\n", u->authority,
                        CKEDA_VERSION);
    for (size_t i = 0; r == 0 && i < nh; i++)
        r = sw_buf_addf(b, "%s: %s\r\n", hd[i].name, hd[i].value);
    if (r == 0 && u->userinfo && !h_has_header(hd, nh, "Authorization"))
        r = h_basic(b, "Authorization", u->userinfo);
    if (r == 0 && proxy && proxy->userinfo && !u->https)
        r = h_basic(b, "Proxy-Authorization", proxy->userinfo);
    if (r == 0 && (blen > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0))
        r = sw_buf_addf(b, "Content-Length: %zu\r\n", blen);
    if (r == 0 && !h_keep_alive)
        r = sw_buf_addf(b, "Connection: close\r\n");
    if (r == 0)
        r = sw_buf_add(b, "\r\n", 2);
    if (r == 0 && blen > 0)
        r = sw_buf_add(b, body, blen);
    if (r == 0 && proxy && u->https) {
        r = sw_buf_addf(&h->connect, "CONNECT %s:%s HTTP/1.1\r\nHost: %s:%s\r\n", u->host, u->port,
                        u->host, u->port);
        if (r == 0 && proxy->userinfo)
            r = h_basic(&h->connect, "Proxy-Authorization", proxy->userinfo);
        if (r == 0)
            r = sw_buf_add(&h->connect, "\r\n", 2);
    }
    return r;
}

static void h_on_timer(sw_io_t *io, uint32_t revents)
{
    sw_http_t *h = (sw_http_t *)((char *)io - offsetof(sw_http_t, timer));
    uint64_t n;
    ssize_t rd = read(io->fd, &n, sizeof n);

    (void)rd;
    if (h->done)
        h_fail(h, -ETIMEDOUT, "timed out (the trigger's timeout)");
}

static int h_timer_arm(sw_http_t *h, uint64_t deadline_ms)
{
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(deadline_ms / 1000),
                                          .tv_nsec = (long)(deadline_ms % 1000) * 1000000}};
    int fd;

    if (h->timer.fd < 0) {
        if ((fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0)
            return -errno;
        sw_io_init(&h->timer, fd, h_on_timer);
    }
    if (timerfd_settime(h->timer.fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        return -errno;
    return sw_io_want(&h->timer, SW_IO_READ);
}

int sw_http_request(sw_http_t *h, const char *method, const sw_url_t *url,
                    const sw_http_header_t *headers, size_t nheaders, const char *body,
                    size_t body_len, uint64_t deadline_ms, sw_http_done_fn done, void *arg,
                    char *err, size_t errlen)
{
    sw_url_t proxy = {0};
    char key[sizeof h->conn_key];
    int r;

    h_env_once();
    if (h->done) {
        snprintf(err, errlen, "%s %s: a request is already in flight", method, url->shown);
        return -EBUSY;
    }
    for (size_t i = 0; i < nheaders; i++)
        if (!h_token_ok(headers[i].name) || !h_value_ok(headers[i].value)) {
            snprintf(err, errlen, "%s %s: invalid header field %s", method, url->shown,
                     h_token_ok(headers[i].name) ? "value" : "name");
            return -EINVAL;
        }
    if ((r = sw_http_proxy_for(url, &proxy, err, errlen)) < 0)
        return r;
    snprintf(h->method, sizeof h->method, "%s", method);
    snprintf(h->shown, sizeof h->shown, "%s", url->shown);
    snprintf(h->host, sizeof h->host, "%s", url->host);
    snprintf(h->port, sizeof h->port, "%s", url->port);
    h->https = url->https;
    h->via_proxy = r == 1;
    snprintf(h->conn_host, sizeof h->conn_host, "%s", h->via_proxy ? proxy.host : url->host);
    snprintf(h->conn_port, sizeof h->conn_port, "%s", h->via_proxy ? proxy.port : url->port);
    sw_buf_free(&h->req);
    sw_buf_free(&h->connect);
    r = h_build(h, method, url, h->via_proxy ? &proxy : NULL, headers, nheaders, body, body_len);
    sw_url_free(&proxy);
    if (r < 0 || (deadline_ms && (r = h_timer_arm(h, deadline_ms)) < 0)) {
        snprintf(err, errlen, "%s %s: %s", method, url->shown, strerror(-r));
        sw_buf_free(&h->req);
        sw_buf_free(&h->connect);
        return r;
    }
    h->done = done;
    h->arg = arg;
    h->retried = false;
    h->call_err = 0;
    h->in_call = true;
    snprintf(key, sizeof key, "%d|%s|%s|%s|%s", h->https, h->host, h->port,
             h->via_proxy ? h->conn_host : "", h->via_proxy ? h->conn_port : "");
    if (strcmp(key, h->conn_key) == 0 && h_idle_usable(h)) {
        h->reused = true;
        h->got_bytes = false;
        h->state = H_EXCHANGE;
        sw_http_parser_free(&h->parser);
        sw_http_parser_init(&h->parser, SW_HTTP_BODY_MAX, strcmp(method, "HEAD") == 0);
        h_send(h, &h->req);
    } else {
        h->reused = false;
        h_connect(h);
    }
    h->in_call = false;
    if (h->call_err) {
        snprintf(err, errlen, "%s", h->call_text);
        return h->call_err;
    }
    return 0;
}

void sw_http_cancel(sw_http_t *h, char *why, size_t len)
{
    static const char *const what[] = {[H_CLOSED] = "starting",
                                       [H_IDLE] = "starting",
                                       [H_CONNECTING] = "connecting to",
                                       [H_PROXY] = "opening a tunnel through the proxy to",
                                       [H_TLS] = "the TLS handshake with",
                                       [H_EXCHANGE] = "waiting for a response from"};

    if (why && len)
        snprintf(why, len, "%s %s %s", what[h->state], h->method, h->shown);
    h->done = NULL;
    h_close(h);
    h_timer_stop(h);
    sw_buf_free(&h->req);
    sw_buf_free(&h->connect);
    sw_http_parser_free(&h->parser);
}

void sw_http_free(sw_http_t *h)
{
    if (!h)
        return;
    sw_http_cancel(h, NULL, 0);
    if (h->timer.fd >= 0) {
        sw_io_stop(&h->timer);
        close(h->timer.fd);
    }
    SSL_CTX_free(h->ctx);
    sw_secret_str_free(h->ca_pem);
    sw_secret_str_free(h->cert_pem);
    sw_secret_str_free(h->key_pem);
    free(h);
}
