/*
 * grpc: see grpc.h. Runs in scale workers, on their one event loop.
 *
 * The connection goes IDLE -> CONNECTING (net.h) -> TLS (handshake, for h2) -> READY; any
 * failure closes it and ends its open calls with UNAVAILABLE (grpc-go's code for a transport
 * failure), and the next call starts again from IDLE. The nghttp2 session is created with the
 * connection, so calls submitted while connecting are framed at once and written when it is up.
 * nghttp2 produces bytes with mem_send into `out` and consumes what we read with mem_recv; its
 * callbacks deliver messages and ends. A session is never freed inside its own callbacks: a
 * close asked for there is carried out once mem_recv returns.
 *
 * Invariants: a call is in calls[] exactly while it is open; on_end runs once per call, after
 * the call was removed; the buffers of a call are freed when it ends.
 */
#include "scaleworker/conn.h"
#include "scaleworker/grpc.h"
#include "scaleworker/tls.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G_CALLS_MAX  8
#define G_READ_CHUNK 16384

typedef enum { G_IDLE, G_CONNECTING, G_TLS, G_READY } g_phase_t;

struct sw_grpc {
    char host[SW_HOST_MAX];
    char port[SW_PORT_MAX];
    char authority[SW_HOST_MAX + SW_PORT_MAX + 4];
    bool tls, unsafe_ssl;
    SSL_CTX *ctx;
    sw_conn_t conn;
    nghttp2_session *h2;
    g_phase_t phase;
    const uint8_t *out; /* nghttp2's bytes not yet written (valid until the next mem_send) */
    size_t out_len;
    bool in_cb;         /* inside mem_recv: no close, no write */
    bool close_pending; /* a close was asked for inside mem_recv */
    bool goaway;        /* the server will take no new streams on this connection */
    sw_grpc_call_t *calls[G_CALLS_MAX];
    char why[SW_GRPC_ERR_MAX];
};

const char *sw_grpc_code_name(int code)
{
    /* grpc-go's codes.Code String(), which its error texts carry */
    static const char *const names[] = {
        "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
        "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
        "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
        "DataLoss", "Unauthenticated"};
    return code >= 0 && code < (int)(sizeof names / sizeof names[0]) ? names[code] : "UNKNOWN";
}

/* ---- TLS context ------------------------------------------------------------------------- */

static int g_ctx_create(sw_grpc_t *g, const sw_grpc_opts_t *o, char *err, size_t errlen)
{
    static const unsigned char alpn[] = "\x02h2";
    const sw_tls_client_opts_t t = {
        .min_version = TLS1_2_VERSION, /* HTTP/2 needs 1.2 at least */
        .skip_dotfiles = true,
        .ca_pem = o->ca_pem,
        .cert_pem = o->cert_pem,
        .key_pem = o->key_pem,
        .ca_err = "authentication.caCert: error appending CA certs",
        .cert_field = "authentication.tlsClientCert/tlsClientKey",
    };
    int r = sw_tls_client_ctx_new(&t, &g->ctx, err, errlen);

    if (r == 0)
        SSL_CTX_set_alpn_protos(g->ctx, alpn, sizeof alpn - 1);
    return r;
}

/* ---- the connection ------------------------------------------------------------------------ */

static sw_grpc_t *g_of(sw_io_t *io)
{
    return (sw_grpc_t *)((char *)io - offsetof(sw_grpc_t, conn.tcp.io));
}

static void g_call_free(sw_grpc_call_t *c)
{
    free(c->req);
    free(c->in);
    c->req = c->in = NULL;
    c->req_len = c->req_off = c->in_len = c->in_cap = 0;
}

static void g_call_remove(sw_grpc_t *g, sw_grpc_call_t *c)
{
    for (int i = 0; i < G_CALLS_MAX; i++)
        if (g->calls[i] == c)
            g->calls[i] = NULL;
    c->open = false;
    g_call_free(c);
}

/* Ends c with a callback. */
static void g_call_end(sw_grpc_t *g, sw_grpc_call_t *c, int code, const char *msg)
{
    char text[SW_GRPC_ERR_MAX];

    if (!c->open)
        return;
    snprintf(text, sizeof text, "%s", msg ? msg : "");
    g_call_remove(g, c);
    c->on_end(c, code, text);
}

/* Drops the connection; calls end without callbacks. */
static void g_close(sw_grpc_t *g)
{
    if (g->in_cb) {
        g->close_pending = true;
        return;
    }
    if (g->h2)
        nghttp2_session_del(g->h2);
    g->h2 = NULL;
    sw_conn_close(&g->conn, false);
    g->phase = G_IDLE;
    g->out = NULL;
    g->out_len = 0;
    g->goaway = false;
    g->close_pending = false;
}

/* Drops the connection and ends every open call with code and the reason. */
static void g_fail(sw_grpc_t *g, int code, const char *why)
{
    sw_grpc_call_t *ended[G_CALLS_MAX];
    char text[SW_GRPC_ERR_MAX];
    int n = 0;

    snprintf(text, sizeof text, "%s", why);
    for (int i = 0; i < G_CALLS_MAX; i++)
        if (g->calls[i]) {
            ended[n++] = g->calls[i];
            g_call_remove(g, g->calls[i]);
        }
    g_close(g);
    for (int i = 0; i < n; i++)
        ended[i]->on_end(ended[i], code, text);
}

static void g_failf(sw_grpc_t *g, int code, const char *what, const char *detail)
{
    char msg[SW_GRPC_ERR_MAX];

    snprintf(msg, sizeof msg, "connection error: %s %s:%s: %s", what, g->host, g->port, detail);
    g_fail(g, code, msg);
}

void sw_grpc_disconnect(sw_grpc_t *g)
{
    for (int i = 0; i < G_CALLS_MAX; i++)
        if (g->calls[i])
            g_call_remove(g, g->calls[i]);
    g_close(g);
}

bool sw_grpc_connected(const sw_grpc_t *g)
{
    return g->phase == G_READY;
}

const char *sw_grpc_phase(const sw_grpc_t *g)
{
    static char buf[SW_HOST_MAX + 64];
    const char *what = g->phase == G_CONNECTING ? "connecting to"
                       : g->phase == G_TLS      ? "in the TLS handshake with"
                                                : "waiting for a reply from";
    snprintf(buf, sizeof buf, "%s %s:%s", what, g->host, g->port);
    return buf;
}

/* Writes what nghttp2 has to send; sets the interest. 0, or -1 when the connection failed. */
static int g_flush(sw_grpc_t *g)
{
    if (g->phase != G_READY || g->in_cb)
        return 0;
    for (;;) {
        if (g->out_len == 0) {
            ssize_t n = nghttp2_session_mem_send(g->h2, &g->out);
            if (n < 0) {
                g_failf(g, SW_GRPC_INTERNAL, "HTTP/2 with", nghttp2_strerror((int)n));
                return -1;
            }
            g->out_len = (size_t)n;
            if (n == 0)
                break;
        }
        uint32_t want;
        char why[256];
        ssize_t w = sw_conn_write(&g->conn, g->out, g->out_len, &want, why, sizeof why);
        if (w == -EAGAIN)
            break;
        if (w < 0) {
            g_failf(g, SW_GRPC_UNAVAILABLE, "writing to", why);
            return -1;
        }
        g->out += w;
        g->out_len -= (size_t)w;
    }
    if (!nghttp2_session_want_read(g->h2) && !nghttp2_session_want_write(g->h2) &&
        g->out_len == 0) {
        g_failf(g, SW_GRPC_UNAVAILABLE, "closed by", "the server went away");
        return -1;
    }
    sw_io_want(&g->conn.tcp.io, SW_IO_READ | (g->out_len ? SW_IO_WRITE : 0));
    return 0;
}

static void g_on_read(sw_grpc_t *g)
{
    uint8_t buf[G_READ_CHUNK];

    for (;;) {
        uint32_t want;
        char why[256];
        ssize_t n = sw_conn_read(&g->conn, buf, sizeof buf, &want, why, sizeof why);
        if (n == -EAGAIN) /* the interest is g_flush's */
            break;
        if (n <= 0) {
            g_failf(g, SW_GRPC_UNAVAILABLE, "reading from",
                    n == 0 ? "the server closed the connection" : why);
            return;
        }
        g->in_cb = true;
        ssize_t r = nghttp2_session_mem_recv(g->h2, buf, (size_t)n);
        g->in_cb = false;
        if (g->close_pending) {
            g->close_pending = false;
            g_close(g);
            return;
        }
        if (r < 0) {
            g_failf(g, SW_GRPC_INTERNAL, "HTTP/2 from", nghttp2_strerror((int)r));
            return;
        }
    }
    g_flush(g);
}

static void g_tls_step(sw_grpc_t *g)
{
    const unsigned char *proto = NULL;
    unsigned plen = 0;
    char why[300];
    int r = sw_conn_handshake(&g->conn, why, sizeof why);

    if (r == -EAGAIN)
        return;
    if (r < 0) {
        g_failf(g, SW_GRPC_UNAVAILABLE, "TLS handshake with", why);
        return;
    }
    SSL_get0_alpn_selected(g->conn.ssl, &proto, &plen);
    if (plen && (plen != 2 || memcmp(proto, "h2", 2) != 0)) {
        g_failf(g, SW_GRPC_UNAVAILABLE, "TLS handshake with",
                "the server did not select the ALPN protocol h2");
        return;
    }
    g->phase = G_READY;
    g_flush(g);
}

static void g_tls_start(sw_grpc_t *g)
{
    if (sw_conn_tls_start(&g->conn, g->ctx, g->host, g->unsafe_ssl) < 0) {
        g_failf(g, SW_GRPC_INTERNAL, "TLS with", "could not create a TLS session");
        return;
    }
    g->phase = G_TLS;
    g_tls_step(g);
}

static void g_connected(sw_grpc_t *g)
{
    if (g->tls) {
        g_tls_start(g);
        return;
    }
    g->phase = G_READY;
    g_flush(g);
}

/* Asks for a write turn: the loop flushes, so that a failure never runs a callback from within
 * the caller. */
static void g_kick(sw_grpc_t *g)
{
    if (g->phase == G_READY && !g->in_cb)
        sw_io_want(&g->conn.tcp.io, SW_IO_READ | SW_IO_WRITE);
}

static void g_on_io(sw_io_t *io, uint32_t revents)
{
    sw_grpc_t *g = g_of(io);

    if (g->phase == G_CONNECTING) { /* connected at once (g_connect) */
        g_connected(g);
        return;
    }
    if (g->phase == G_TLS) {
        g_tls_step(g);
        return;
    }
    if (g->phase != G_READY)
        return;
    if (revents & (SW_IO_READ | EPOLLHUP | EPOLLERR)) {
        g_on_read(g);
        if (g->phase != G_READY)
            return;
    }
    if (revents & SW_IO_WRITE)
        g_flush(g);
}

static void g_on_connect(sw_tcp_t *c, int err, const char *errtext)
{
    sw_grpc_t *g = (sw_grpc_t *)((char *)c - offsetof(sw_grpc_t, conn.tcp));
    char msg[SW_GRPC_ERR_MAX];

    if (err) {
        snprintf(msg, sizeof msg, "connection error: %s", errtext);
        g_fail(g, SW_GRPC_UNAVAILABLE, msg);
        return;
    }
    g_connected(g);
}

/* ---- nghttp2 callbacks ----------------------------------------------------------------- */

static sw_grpc_call_t *g_call_of(nghttp2_session *s, int32_t id)
{
    sw_grpc_call_t *c = nghttp2_session_get_stream_user_data(s, id);
    return c && c->open && c->stream_id == id ? c : NULL;
}

/* Ends c now: RST_STREAM, then the callback. */
static void g_call_abort(sw_grpc_t *g, sw_grpc_call_t *c, int code, const char *msg)
{
    nghttp2_submit_rst_stream(g->h2, NGHTTP2_FLAG_NONE, c->stream_id, NGHTTP2_CANCEL);
    nghttp2_session_set_stream_user_data(g->h2, c->stream_id, NULL);
    g_call_end(g, c, code, msg);
}

static void g_percent_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t j = 0;

    for (size_t i = 0; i < n && j + 1 < cap; i++) {
        unsigned v;
        if (s[i] == '%' && i + 2 < n && sscanf(s + i + 1, "%2x", &v) == 1) {
            out[j++] = (char)v;
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
}

static int g_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                       size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                       void *ud)
{
    sw_grpc_call_t *c = g_call_of(s, f->hd.stream_id);
    char v[16];

    (void)flags;
    (void)ud;
    if (!c || f->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        snprintf(v, sizeof v, "%.*s", (int)(valuelen < 8 ? valuelen : 8), (const char *)value);
        c->http_status = atoi(v);
    } else if (namelen == 12 && memcmp(name, "content-type", 12) == 0) {
        c->grpc_content = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
                          (valuelen == 16 || value[16] == '+' || value[16] == ';');
    } else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        snprintf(v, sizeof v, "%.*s", (int)(valuelen < 8 ? valuelen : 8), (const char *)value);
        c->got_status = true;
        c->status = valuelen > 0 && valuelen < 4 && strspn(v, "0123456789") == valuelen
                        ? atoi(v)
                        : SW_GRPC_UNKNOWN;
    } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        g_percent_decode((const char *)value, valuelen, c->message, sizeof c->message);
    }
    return 0;
}

/* Whole messages out of the call's reply buffer. */
static void g_call_messages(sw_grpc_t *g, sw_grpc_call_t *c)
{
    size_t off = 0;

    while (c->open && c->in_len - off >= 5) {
        const uint8_t *h = c->in + off;
        uint32_t n = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
        if (h[0] != 0) {
            g_call_abort(g, c, SW_GRPC_INTERNAL,
                         "grpc: compressed flag set with identity or empty encoding");
            return;
        }
        if (n > SW_GRPC_MSG_MAX) {
            char msg[128];
            snprintf(msg, sizeof msg, "grpc: received message larger than max (%u vs. %u)", n,
                     SW_GRPC_MSG_MAX);
            g_call_abort(g, c, SW_GRPC_RESOURCE_EXHAUSTED, msg);
            return;
        }
        if (c->in_len - off - 5 < n)
            break;
        if (c->on_msg(c, h + 5, n) < 0) {
            g_call_abort(g, c, SW_GRPC_INTERNAL, "grpc: error unmarshalling the reply");
            return;
        }
        off += 5 + (size_t)n;
    }
    if (c->open && off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

static int g_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                     void *ud)
{
    sw_grpc_call_t *c = g_call_of(s, id);
    sw_grpc_t *g = ud;

    (void)flags;
    if (!c)
        return 0;
    if (c->in_len + len > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : 4096;
        while (cap < c->in_len + len)
            cap *= 2;
        if (cap > SW_GRPC_MSG_MAX + 5 + G_READ_CHUNK)
            cap = SW_GRPC_MSG_MAX + 5 + G_READ_CHUNK;
        uint8_t *p = cap >= c->in_len + len ? realloc(c->in, cap) : NULL;
        if (!p) {
            g_call_abort(g, c, SW_GRPC_RESOURCE_EXHAUSTED, "grpc: reply too large");
            return 0;
        }
        c->in = p;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, data, len);
    c->in_len += len;
    g_call_messages(g, c);
    return 0;
}

/* grpc-go's codes for an HTTP status without grpc-status. */
static int g_http_code(int status)
{
    switch (status) {
    case 400:
        return SW_GRPC_INTERNAL;
    case 401:
        return 16;
    case 403:
        return 7;
    case 404:
        return SW_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return SW_GRPC_UNAVAILABLE;
    default:
        return SW_GRPC_UNKNOWN;
    }
}

static int g_on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud)
{
    sw_grpc_call_t *c = g_call_of(s, id);
    sw_grpc_t *g = ud;
    char msg[SW_GRPC_ERR_MAX];

    if (!c)
        return 0;
    if (c->http_status != 200 && !c->got_status) {
        snprintf(msg, sizeof msg, "unexpected HTTP status code received from server: %d",
                 c->http_status);
        g_call_end(g, c, c->http_status ? g_http_code(c->http_status) : SW_GRPC_INTERNAL, msg);
    } else if (c->got_status && !c->grpc_content && c->http_status == 200 && c->status == 0) {
        g_call_end(g, c, SW_GRPC_INTERNAL, "unexpected content-type of the reply");
    } else if (c->got_status && c->status == 0 && c->in_len) {
        g_call_end(g, c, SW_GRPC_INTERNAL, "the stream ended inside a message");
    } else if (c->got_status) {
        g_call_end(g, c, c->status, c->message);
    } else if (error_code == NGHTTP2_CANCEL || error_code == NGHTTP2_REFUSED_STREAM) {
        snprintf(msg, sizeof msg, "stream terminated by RST_STREAM with error code: %s",
                 nghttp2_http2_strerror(error_code));
        g_call_end(g, c, error_code == NGHTTP2_CANCEL ? SW_GRPC_CANCELLED : SW_GRPC_UNAVAILABLE,
                   msg);
    } else if (error_code != NGHTTP2_NO_ERROR) {
        snprintf(msg, sizeof msg, "stream terminated by RST_STREAM with error code: %s",
                 nghttp2_http2_strerror(error_code));
        g_call_end(g, c, SW_GRPC_INTERNAL, msg);
    } else {
        g_call_end(g, c, SW_GRPC_INTERNAL, "server closed the stream without sending trailers");
    }
    return 0;
}

static int g_on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    sw_grpc_t *g = ud;

    (void)s;
    if (f->hd.type == NGHTTP2_GOAWAY)
        g->goaway = true;
    return 0;
}

static ssize_t g_read_req(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                          nghttp2_data_source *src, void *ud)
{
    sw_grpc_call_t *c = src->ptr;
    size_t n;

    (void)s;
    (void)id;
    (void)ud;
    if (!c->req) { /* cancelled meanwhile */
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    n = c->req_len - c->req_off < len ? c->req_len - c->req_off : len;
    memcpy(buf, c->req + c->req_off, n);
    c->req_off += n;
    if (c->req_off == c->req_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        free(c->req); /* the request may hold metadata with credentials: keep it no longer */
        c->req = NULL;
    }
    return (ssize_t)n;
}

static int g_session_new(sw_grpc_t *g)
{
    nghttp2_session_callbacks *cb;
    nghttp2_settings_entry set[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    int r;

    if (nghttp2_session_callbacks_new(&cb) != 0)
        return -ENOMEM;
    nghttp2_session_callbacks_set_on_header_callback(cb, g_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, g_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, g_on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, g_on_frame);
    r = nghttp2_session_client_new(&g->h2, cb, g);
    nghttp2_session_callbacks_del(cb);
    if (r != 0)
        return -ENOMEM;
    if (nghttp2_submit_settings(g->h2, NGHTTP2_FLAG_NONE, set, sizeof set / sizeof set[0]) != 0) {
        nghttp2_session_del(g->h2);
        g->h2 = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* IDLE -> CONNECTING. 0 or -errno with a reason. */
static int g_connect(sw_grpc_t *g, char *err, size_t errlen)
{
    char why[SW_GRPC_ERR_MAX];
    int r;

    if (g_session_new(g) < 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    g->phase = G_CONNECTING;
    r = sw_tcp_connect(&g->conn.tcp, g->host, g->port, g_on_connect, g_on_io, why, sizeof why);
    if (r == 0) /* connected at once: carry on from the loop, not from within the caller */
        r = sw_io_want(&g->conn.tcp.io, SW_IO_WRITE) < 0 ? -EIO : -EINPROGRESS;
    if (r != -EINPROGRESS) {
        snprintf(err, errlen, "connection error: %s", why);
        g_close(g);
        return r;
    }
    return 0;
}

/* ---- public ------------------------------------------------------------------------------ */

sw_grpc_t *sw_grpc_new(const sw_grpc_opts_t *o, char *err, size_t errlen)
{
    sw_grpc_t *g = calloc(1, sizeof *g);
    bool v6;

    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(g->host, sizeof g->host, "%s", o->host);
    snprintf(g->port, sizeof g->port, "%s", o->port);
    v6 = strchr(g->host, ':') != NULL;
    snprintf(g->authority, sizeof g->authority, "%s%s%s:%s", v6 ? "[" : "", g->host, v6 ? "]" : "",
             g->port);
    g->tls = o->tls;
    g->unsafe_ssl = o->unsafe_ssl;
    sw_conn_init(&g->conn);
    if (g->tls && g_ctx_create(g, o, err, errlen) < 0) {
        free(g);
        return NULL;
    }
    return g;
}

void sw_grpc_free(sw_grpc_t *g)
{
    if (!g)
        return;
    g->in_cb = false;
    sw_grpc_disconnect(g);
    SSL_CTX_free(g->ctx);
    free(g);
}

void sw_grpc_call_cancel(sw_grpc_call_t *c)
{
    sw_grpc_t *g = c->g;

    if (!c->open || !g)
        return;
    if (g->h2 && c->stream_id > 0) {
        nghttp2_submit_rst_stream(g->h2, NGHTTP2_FLAG_NONE, c->stream_id, NGHTTP2_CANCEL);
        nghttp2_session_set_stream_user_data(g->h2, c->stream_id, NULL);
    }
    g_call_remove(g, c);
    g_kick(g);
}

static int g_slot(sw_grpc_t *g)
{
    for (int i = 0; i < G_CALLS_MAX; i++)
        if (!g->calls[i])
            return i;
    return -1;
}

int sw_grpc_call_start(sw_grpc_t *g, sw_grpc_call_t *c, const char *path, const uint8_t *msg,
                       size_t len, uint32_t timeout_ms, sw_grpc_msg_fn on_msg,
                       sw_grpc_end_fn on_end, char *err, size_t errlen)
{
    char timeout[16];
    nghttp2_nv nv[8];
    size_t n = 0;
    int slot, r;

    if (len > SW_GRPC_MSG_MAX) {
        snprintf(err, errlen, "grpc: request message too large (%zu bytes)", len);
        return -EMSGSIZE;
    }
    if (g->goaway && !g->in_cb) /* the server takes no new streams here: a new connection */
        g_fail(g, SW_GRPC_UNAVAILABLE, "the server closed the connection (GOAWAY)");
    if ((slot = g_slot(g)) < 0) {
        snprintf(err, errlen, "grpc: too many calls in flight");
        return -EBUSY;
    }
    *c = (sw_grpc_call_t){.g = g, .on_msg = on_msg, .on_end = on_end};
    if (!(c->req = malloc(len + 5))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->req[0] = 0;
    c->req[1] = (uint8_t)(len >> 24);
    c->req[2] = (uint8_t)(len >> 16);
    c->req[3] = (uint8_t)(len >> 8);
    c->req[4] = (uint8_t)len;
    memcpy(c->req + 5, msg, len);
    c->req_len = len + 5;
    if (g->phase == G_IDLE && (r = g_connect(g, err, errlen)) < 0) {
        g_call_free(c);
        return r;
    }
#define G_NV(n_, v_)                                                                               \
    (nghttp2_nv){(uint8_t *)(n_), (uint8_t *)(v_), strlen(n_), strlen(v_), NGHTTP2_NV_FLAG_NONE}
    nv[n++] = G_NV(":method", "POST");
    nv[n++] = G_NV(":scheme", g->tls ? "https" : "http");
    nv[n++] = G_NV(":path", path);
    nv[n++] = G_NV(":authority", g->authority);
    nv[n++] = G_NV("content-type", "application/grpc");
    nv[n++] = G_NV("te", "trailers");
    nv[n++] = G_NV("user-agent", "ckeda-grpc/" CKEDA_VERSION);
    if (timeout_ms) {
        snprintf(timeout, sizeof timeout, "%um", timeout_ms > 99999999 ? 99999999 : timeout_ms);
        nv[n++] = G_NV("grpc-timeout", timeout);
    }
#undef G_NV
    nghttp2_data_provider dp = {.source.ptr = c, .read_callback = g_read_req};
    int32_t id = nghttp2_submit_request(g->h2, NULL, nv, n, &dp, c);
    if (id < 0) {
        snprintf(err, errlen, "grpc: could not start a stream: %s", nghttp2_strerror(id));
        g_call_free(c);
        return -EIO;
    }
    c->stream_id = id;
    c->open = true;
    g->calls[slot] = c;
    g_kick(g);
    return 0;
}
