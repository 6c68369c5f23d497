/*
 * amqp: the AMQP 0-9-1 client of the rabbitmq scaler (see amqp.h). Runs in the rabbitmq
 * workers, on their loop.
 *
 * One connection per client, a state machine driven by readiness callbacks:
 *   CLOSED -> CONNECTING (net.h) [-> TLS handshake] -> OPEN (protocol header, Start/Start-Ok,
 *   Tune/Tune-Ok + Open, Open-Ok, Channel.Open, Declare) -> IDLE (kept, watched for reads) or
 *   CLOSED.
 * `expect` names the one method the request waits for; any other method (but a Close, a
 * Blocked or a heartbeat) breaks the protocol and drops the connection. A request on a kept
 * connection that breaks before any byte of the answer (the broker closed it while idle, or
 * forced it closed) connects again, once. A Channel.Close (a missing queue: 404) is answered
 * with Close-Ok and ends the request with the broker's text; the connection stays and the
 * next request opens the channel again.
 *
 * OpenSSL: the error queue is cleared before each call and drained into the message on failure.
 * The codec and URIs are in amqp_codec.c.
 */
#include "scaleworker/conn.h"
#include "scaleworker/scalers/amqp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define A_ERR_MAX     1024
#define A_CHANNEL     1
#define A_CHANNEL_MAX 2047 /* amqp091-go's default */

/* amqp091-go's errors for what the broker did not say in words. */
#define A_ERR_CREDENTIALS 403, "username or password not allowed"
#define A_ERR_VHOST       403, "no access to this vhost"
#define A_ERR_SASL        403, "SASL could not negotiate a shared mechanism"
#define A_ERR_FRAME       501, "frame could not be parsed"
#define A_ERR_COMMAND     503, "unexpected command received"
#define A_ERR_UNEXPECTED  505, "unexpected frame received"

/* ---- the client ---------------------------------------------------------------------------- */

typedef enum { A_CLOSED, A_CONNECTING, A_TLS, A_OPEN, A_IDLE } a_state_t;

struct sw_amqp {
    sw_conn_t conn;
    SSL_CTX *ctx; /* the caller's */
    bool unsafe_ssl, external;
    char host[SW_HOST_MAX], port[SW_PORT_MAX];
    char *username, *password, *vhost, *connection_name;
    a_state_t state;
    uint32_t expect;   /* the method the request waits for; 0 when none */
    bool channel_open; /* channel 1 is open on the connection */
    bool opening;      /* between the TCP connection and Open-Ok */
    bool reused, retried, got_bytes, in_call;
    sw_buf_t out;
    size_t out_off;
    uint8_t in[SW_AMQP_IN_MAX];
    size_t in_len;
    char queue[SW_AMQP_SHORTSTR + 1];
    sw_amqp_done_fn done;
    void *arg;
    int call_err; /* a failure while sw_amqp_declare() runs */
    char call_text[A_ERR_MAX];
};

static sw_amqp_t *a_of_io(sw_io_t *io)
{
    return (sw_amqp_t *)((char *)io - offsetof(sw_amqp_t, conn.tcp.io));
}

static void a_drop(sw_amqp_t *a)
{
    sw_conn_close(&a->conn, false);
    sw_buf_free(&a->out); /* wipes: it may have held Start-Ok */
    a->out_off = a->in_len = 0;
    a->state = A_CLOSED;
    a->expect = 0;
    a->channel_open = a->opening = false;
}

/* Ends the request with a failure; the connection is dropped unless keep. */
static void a_end(sw_amqp_t *a, int err, unsigned flags, const char *text, bool keep)
{
    sw_amqp_done_fn done = a->done;
    void *arg = a->arg;

    if (keep) {
        a->state = A_IDLE;
        a->expect = 0;
        sw_io_want(&a->conn.tcp.io, SW_IO_READ);
    } else {
        a_drop(a);
    }
    a->done = NULL;
    if (a->in_call) {
        a->call_err = err;
        snprintf(a->call_text, sizeof a->call_text, "%s", text);
        return;
    }
    if (done)
        done(arg, err, 0, text, flags);
}

static void a_fail(sw_amqp_t *a, int err, unsigned code, const char *reason)
{
    char text[A_ERR_MAX];
    unsigned flags = a->opening ? SW_AMQP_ERR_CONNECT : 0;

    sw_amqp_exception(text, sizeof text, code, reason);
    a_end(a, err, flags, text, false);
}

static void a_connect(sw_amqp_t *a);

/* The kept connection broke before any byte of the answer: connect again, once. */
static bool a_retry(sw_amqp_t *a)
{
    if (!a->done || !a->reused || a->retried || a->got_bytes)
        return false;
    a->retried = true;
    a->reused = false;
    a_drop(a);
    a_connect(a);
    return true;
}

/* Writes what is left of out: 1 done, 0 waiting, -1 failed (reported). */
static int a_flush(sw_amqp_t *a)
{
    while (a->out_off < a->out.len) {
        uint32_t want = 0;
        char why[256];
        ssize_t w = sw_conn_write(&a->conn, a->out.p + a->out_off, a->out.len - a->out_off, &want,
                                  why, sizeof why);
        if (w == -EAGAIN) { /* in clear, reads go on meanwhile: the broker may close */
            sw_io_want(&a->conn.tcp.io, a->conn.ssl ? want : SW_IO_READ | SW_IO_WRITE);
            return 0;
        }
        if (w < 0) {
            if (!a_retry(a))
                a_fail(a, (int)w, 501, why);
            return -1;
        }
        a->out_off += (size_t)w;
    }
    sw_buf_free(&a->out);
    a->out_off = 0;
    sw_io_want(&a->conn.tcp.io, SW_IO_READ);
    return 1;
}

/* Queues what put() appended and expects the answer `expect` (0: none). */
static void a_send(sw_amqp_t *a, int put_result, uint32_t expect)
{
    if (put_result < 0) {
        a_fail(a, put_result, 501, put_result == -ENOMEM ? "out of memory" : "field too long");
        return;
    }
    a->expect = expect;
    a_flush(a);
}

/* Best effort, never waiting: one write of a Close or Close-Ok before the connection goes. */
static void a_send_now(sw_amqp_t *a, int put_result)
{
    if (put_result == 0 && a->out_off < a->out.len)
        sw_conn_write_now(&a->conn, a->out.p + a->out_off, a->out.len - a->out_off);
    sw_buf_free(&a->out);
    a->out_off = 0;
}

static void a_succeed(sw_amqp_t *a, uint32_t count)
{
    sw_amqp_done_fn done = a->done;
    void *arg = a->arg;

    a->state = A_IDLE;
    a->expect = 0;
    a->done = NULL;
    sw_io_want(&a->conn.tcp.io, SW_IO_READ);
    if (done)
        done(arg, 0, count, NULL, 0);
}

/* Connection.Start: answer with our mechanism and credentials. */
static void a_on_start(sw_amqp_t *a, const sw_amqp_method_t *m)
{
    const char *mech = a->external ? "EXTERNAL" : "PLAIN";
    sw_buf_t resp = {0};
    int r;

    if (!sw_amqp_has_word(m->mechanisms, mech)) {
        a_fail(a, -EPROTO, A_ERR_SASL);
        return;
    }
    /* PLAIN: authzid (empty) NUL authcid NUL password; EXTERNAL: empty */
    if (a->external)
        r = 0;
    else if ((r = sw_buf_add(&resp, "", 1)) == 0 &&
             (r = sw_buf_add(&resp, a->username, strlen(a->username))) == 0 &&
             (r = sw_buf_add(&resp, "", 1)) == 0)
        r = sw_buf_add(&resp, a->password, strlen(a->password));
    if (r == 0)
        r = sw_amqp_put_start_ok(&a->out, mech, resp.p ? resp.p : "", resp.len, a->connection_name);
    sw_buf_free(&resp);
    a_send(a, r, SW_AMQP_CONNECTION_TUNE);
}

static void a_on_tune(sw_amqp_t *a, const sw_amqp_method_t *m)
{
    uint16_t ch =
        m->channel_max == 0 || m->channel_max > A_CHANNEL_MAX ? A_CHANNEL_MAX : m->channel_max;
    uint32_t fm =
        m->frame_max == 0 || m->frame_max > SW_AMQP_IN_MAX ? SW_AMQP_IN_MAX : m->frame_max;
    int r = sw_amqp_put_tune_ok(&a->out, ch, fm, 0);

    if (r == 0)
        r = sw_amqp_put_open(&a->out, a->vhost);
    a_send(a, r, SW_AMQP_CONNECTION_OPEN_OK);
}

static void a_send_declare(sw_amqp_t *a)
{
    if (!a->channel_open)
        a_send(a, sw_amqp_put_channel_open(&a->out, A_CHANNEL), SW_AMQP_CHANNEL_OPEN_OK);
    else
        a_send(a, sw_amqp_put_declare_passive(&a->out, A_CHANNEL, a->queue),
               SW_AMQP_QUEUE_DECLARE_OK);
}

/* The broker closes the connection (Connection.Close on channel 0). */
static void a_on_connection_close(sw_amqp_t *a, const sw_amqp_method_t *m)
{
    uint32_t expect = a->expect;
    char text[A_ERR_MAX];

    a_send_now(a, sw_amqp_put_close_ok(&a->out, 0, false));
    if (!a->done) { /* idle: the next request connects again */
        a_drop(a);
        return;
    }
    if (expect == SW_AMQP_CONNECTION_TUNE) { /* refused at login, as amqp091-go reports it */
        sw_amqp_exception(text, sizeof text, A_ERR_CREDENTIALS);
        a_end(a, -EACCES, SW_AMQP_ERR_CONNECT | SW_AMQP_ERR_AUTH, text, false);
        return;
    }
    if (expect == SW_AMQP_CONNECTION_OPEN_OK) {
        a_fail(a, -EACCES, A_ERR_VHOST);
        return;
    }
    if (a_retry(a))
        return;
    a_fail(a, -ECONNRESET, m->reply_code, m->reply_text);
}

/* The broker closes our channel (a missing queue: 404): Close-Ok, keep the connection. */
static void a_on_channel_close(sw_amqp_t *a, const sw_amqp_method_t *m)
{
    char text[A_ERR_MAX];
    int r = sw_amqp_put_close_ok(&a->out, A_CHANNEL, true);

    a->channel_open = false;
    if (r < 0 || a_flush(a) < 0) {
        if (r < 0)
            a_fail(a, r, 501, "out of memory");
        return;
    }
    if (!a->done)
        return;
    sw_amqp_exception(text, sizeof text, m->reply_code, m->reply_text);
    a_end(a, m->reply_code == 404 ? -ENOENT : -EIO, 0, text, true);
}

static void a_on_method(sw_amqp_t *a, uint16_t channel, const sw_amqp_method_t *m)
{
    bool conn_class = (m->id >> 16) == 10;

    if (conn_class != (channel == 0) || (!conn_class && channel != A_CHANNEL)) {
        a_fail(a, -EPROTO, A_ERR_UNEXPECTED);
        return;
    }
    if (m->id == SW_AMQP_CONNECTION_CLOSE) {
        a_on_connection_close(a, m);
        return;
    }
    if (m->id == SW_AMQP_CHANNEL_CLOSE) {
        a_on_channel_close(a, m);
        return;
    }
    if (m->id == SW_AMQP_CONNECTION_BLOCKED || m->id == SW_AMQP_CONNECTION_UNBLOCKED)
        return; /* we publish nothing: a blocked connection still answers */
    if (!a->done || m->id != a->expect) {
        if (!a->done) {
            a_drop(a);
            return;
        }
        a_fail(a, -EPROTO, A_ERR_COMMAND);
        return;
    }
    switch (m->id) {
    case SW_AMQP_CONNECTION_START:
        a_on_start(a, m);
        break;
    case SW_AMQP_CONNECTION_TUNE:
        a_on_tune(a, m);
        break;
    case SW_AMQP_CONNECTION_OPEN_OK:
        a->opening = false;
        a_send_declare(a);
        break;
    case SW_AMQP_CHANNEL_OPEN_OK:
        a->channel_open = true;
        a_send_declare(a);
        break;
    default: /* SW_AMQP_QUEUE_DECLARE_OK */
        a_succeed(a, m->message_count);
        break;
    }
}

/* Reads: >0 bytes, 0 end of stream, -EAGAIN waiting, other -errno with why. */
static ssize_t a_recv(sw_amqp_t *a, char *why, size_t whylen)
{
    uint32_t want = 0;
    ssize_t n =
        sw_conn_read(&a->conn, a->in + a->in_len, sizeof a->in - a->in_len, &want, why, whylen);

    if (n == -EAGAIN && want == SW_IO_WRITE) /* TLS wants to write: keep reading too */
        sw_io_want(&a->conn.tcp.io, SW_IO_READ | SW_IO_WRITE);
    return n;
}

static void a_on_eof(sw_amqp_t *a, int err, const char *why)
{
    char text[A_ERR_MAX];

    if (!a->done) { /* idle: the broker went away; the next request connects again */
        a_drop(a);
        return;
    }
    if (a->expect == SW_AMQP_CONNECTION_TUNE) { /* amqp091-go: a refused login */
        sw_amqp_exception(text, sizeof text, A_ERR_CREDENTIALS);
        a_end(a, -EACCES, SW_AMQP_ERR_CONNECT | SW_AMQP_ERR_AUTH, text, false);
        return;
    }
    if (a_retry(a))
        return;
    a_fail(a, err ? err : -EPIPE, 501, why && *why ? why : "EOF");
}

/* Handles every complete frame in the buffer. */
static void a_frames(sw_amqp_t *a)
{
    while (a->state != A_CLOSED && a->in_len > 0) {
        sw_amqp_frame_t f;
        sw_amqp_method_t m;
        size_t used;
        int r = sw_amqp_frame_parse(a->in, a->in_len, sizeof a->in, &f, &used);

        if (r == -EAGAIN)
            return;
        if (r == 0 && f.type == SW_AMQP_FRAME_METHOD)
            r = sw_amqp_method_parse(f.payload, f.size, &m);
        if (r < 0) {
            a_fail(a, -EBADMSG, A_ERR_FRAME);
            return;
        }
        uint8_t type = f.type;
        uint16_t channel = f.channel;
        memmove(a->in, a->in + used, a->in_len - used); /* m holds copies of what it needs */
        a->in_len -= used;
        if (type == SW_AMQP_FRAME_HEARTBEAT)
            continue;
        if (type != SW_AMQP_FRAME_METHOD) {
            if (a->done)
                a_fail(a, -EPROTO, A_ERR_UNEXPECTED);
            else
                a_drop(a);
            return;
        }
        a_on_method(a, channel, &m);
    }
}

static void a_read(sw_amqp_t *a)
{
    char why[256] = "";

    for (;;) {
        ssize_t n = a_recv(a, why, sizeof why);
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            a_on_eof(a, (int)n, why);
            return;
        }
        if (a->done)
            a->got_bytes = true;
        a->in_len += (size_t)n;
        a_frames(a);
        if (a->state == A_CLOSED || a->state == A_CONNECTING)
            return; /* dropped, or connecting again */
    }
}

static void a_start_protocol(sw_amqp_t *a)
{
    a->state = A_OPEN;
    a_send(a, sw_amqp_put_header(&a->out), SW_AMQP_CONNECTION_START);
}

static void a_tls_step(sw_amqp_t *a)
{
    char why[300], detail[256];
    int r = sw_conn_handshake(&a->conn, detail, sizeof detail);

    if (r == -EAGAIN)
        return;
    if (r < 0) {
        snprintf(why, sizeof why, "TLS handshake with %s:%s: %s", a->host, a->port, detail);
        a_end(a, r, SW_AMQP_ERR_CONNECT, why, false);
        return;
    }
    a_start_protocol(a);
}

static void a_connected(sw_amqp_t *a)
{
    if (!a->ctx) {
        a_start_protocol(a);
        return;
    }
    if (sw_conn_tls_start(&a->conn, a->ctx, a->host, a->unsafe_ssl) < 0) {
        a_end(a, -ENOMEM, SW_AMQP_ERR_CONNECT, "could not create a TLS session", false);
        return;
    }
    a->state = A_TLS;
    a_tls_step(a);
}

static void a_on_io(sw_io_t *io, uint32_t revents)
{
    sw_amqp_t *a = a_of_io(io);

    if (a->state == A_TLS) {
        a_tls_step(a);
        return;
    }
    if (a->out_off < a->out.len) {
        if (a_flush(a) < 0)
            return;
        if (!(revents & (SW_IO_READ | EPOLLHUP | EPOLLERR)))
            return;
    }
    if (revents & (SW_IO_READ | SW_IO_WRITE | EPOLLHUP | EPOLLERR))
        a_read(a);
}

static void a_on_connect(sw_tcp_t *c, int err, const char *errtext)
{
    sw_amqp_t *a = (sw_amqp_t *)((char *)c - offsetof(sw_amqp_t, conn.tcp));

    if (err) {
        a_end(a, err, SW_AMQP_ERR_CONNECT, errtext, false);
        return;
    }
    a_connected(a);
}

static void a_connect(sw_amqp_t *a)
{
    char err[A_ERR_MAX];
    int r;

    a->state = A_CONNECTING;
    a->opening = true;
    a->got_bytes = false;
    r = sw_tcp_connect(&a->conn.tcp, a->host, a->port, a_on_connect, a_on_io, err, sizeof err);
    if (r == 0)
        a_connected(a);
    else if (r != -EINPROGRESS)
        a_end(a, r, SW_AMQP_ERR_CONNECT, err, false);
}

int sw_amqp_declare(sw_amqp_t *a, const char *queue, sw_amqp_done_fn done, void *arg, char *err,
                    size_t errlen)
{
    if (a->done) {
        snprintf(err, errlen, "a request is already in flight");
        return -EBUSY;
    }
    if (strlen(queue) > SW_AMQP_SHORTSTR) {
        snprintf(err, errlen, "queue name longer than %d bytes", SW_AMQP_SHORTSTR);
        return -EINVAL;
    }
    snprintf(a->queue, sizeof a->queue, "%s", queue);
    a->done = done;
    a->arg = arg;
    a->retried = a->got_bytes = false;
    a->reused = a->state == A_IDLE;
    a->call_err = 0;
    a->in_call = true;
    if (a->state == A_IDLE) {
        a->state = A_OPEN;
        a_send_declare(a);
    } else {
        a_drop(a);
        a_connect(a);
    }
    a->in_call = false;
    if (a->call_err) {
        snprintf(err, errlen, "%s", a->call_text);
        return a->call_err;
    }
    return 0;
}

void sw_amqp_cancel(sw_amqp_t *a, char *why, size_t len)
{
    const char *what = a->state == A_CONNECTING ? "connecting to"
                       : a->state == A_TLS      ? "TLS handshake with"
                       : a->opening             ? "opening an AMQP connection to"
                                                : "waiting for a reply from";

    snprintf(why, len, "%s %s:%s", what, a->host, a->port);
    a->done = NULL;
    a_drop(a);
}

sw_amqp_t *sw_amqp_new(const sw_amqp_opts_t *o)
{
    sw_amqp_t *a = calloc(1, sizeof *a);

    if (!a)
        return NULL;
    sw_conn_init(&a->conn);
    snprintf(a->host, sizeof a->host, "%s", o->host);
    snprintf(a->port, sizeof a->port, "%s", o->port);
    a->ctx = o->ctx;
    a->unsafe_ssl = o->unsafe_ssl;
    a->external = o->external;
    a->username = strdup(o->username ? o->username : "");
    a->password = strdup(o->password ? o->password : "");
    a->vhost = strdup(o->vhost ? o->vhost : "/");
    a->connection_name = strdup(o->connection_name ? o->connection_name : "");
    if (!a->username || !a->password || !a->vhost || !a->connection_name) {
        sw_amqp_free(a);
        return NULL;
    }
    return a;
}

void sw_amqp_free(sw_amqp_t *a)
{
    if (!a)
        return;
    if (a->state == A_IDLE) /* a polite goodbye; the broker logs an abrupt close otherwise */
        a_send_now(a, sw_amqp_put_close(&a->out, 0, false));
    if (a->state == A_IDLE)
        sw_conn_close(&a->conn, true);
    a->done = NULL;
    a_drop(a);
    sw_secret_str_free(a->username);
    sw_secret_str_free(a->password);
    free(a->vhost);
    free(a->connection_name);
    free(a);
}
