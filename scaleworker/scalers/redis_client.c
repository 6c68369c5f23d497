/*
 * redis_client: the connection of the redis scalers (redis.c, redis_streams.c): RESP2 over our
 * own non-blocking socket (conn.h), one connection per trigger, kept between polls. Runs in the
 * redis workers.
 *
 * A new connection sends AUTH (username and password, or password alone) and SELECT (only for
 * a database index > 0, as go-redis) pipelined with the poll's first commands, which the
 * scaler queues (sw_redis_ops_t). Replies pass the strict bounded reader (resp.h) and go to the
 * scaler in order, each with the tag of the command it answers.
 *
 * Invariants: a reply is matched to the command queued for it, in order; a connection that
 * fails, times out, breaks the protocol, sends data nobody asked for, or ends a poll while
 * replies are still owed is closed and the next poll reconnects; a rejected AUTH (or NOAUTH,
 * WRONGPASS on any command) is reported with sw_poll_auth_rejected() so the worker resolves the
 * credentials again. Buffers that held the password are wiped.
 */
#include "scaleworker/scalers/redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RC_IN_FIRST  16384 /* most replies are a few bytes; an error line at most 4 KiB */
#define RC_ERROR_MAX 200

enum { RC_TAG_AUTH = -1, RC_TAG_SELECT = -2 };

static sw_redis_client_t *rc_of(sw_io_t *io)
{
    return (sw_redis_client_t *)((char *)io - offsetof(sw_redis_client_t, conn.tcp.io));
}

static void rc_disconnect(sw_redis_client_t *c)
{
    sw_conn_close(&c->conn, false);
    explicit_bzero(c->out, c->out_cap); /* it may have held AUTH */
    c->out_len = c->out_off = c->in_len = 0;
    c->n_expect = c->i_expect = 0;
}

void sw_redis_fail(sw_redis_client_t *c, unsigned how, const char *fmt, const char *a, size_t alen)
{
    sw_poll_t *p = c->poll;
    char detail[RC_ERROR_MAX + 64], msg[sizeof detail + SW_HOST_MAX + 32];

    snprintf(detail, sizeof detail, fmt, (int)alen, a);
    if (how & SW_REDIS_NAMED)
        snprintf(msg, sizeof msg, "redis: %s", detail);
    else
        snprintf(msg, sizeof msg, "redis %s:%s: %s", c->cfg->host, c->cfg->port, detail);
    /* Replies still owed would be matched to the next poll's commands: start afresh. */
    if ((how & SW_REDIS_DROP) || c->i_expect < c->n_expect)
        rc_disconnect(c);
    c->n_expect = c->i_expect = 0;
    c->poll = NULL;
    if (!p)
        return;
    if (how & SW_REDIS_AUTH)
        sw_poll_auth_rejected(p);
    sw_poll_done(p, false, 0, msg);
}

void sw_redis_fail_text(sw_redis_client_t *c, unsigned how, const char *text)
{
    sw_redis_fail(c, how, "%.*s", text, strlen(text));
}

void sw_redis_succeed(sw_redis_client_t *c, double value)
{
    sw_poll_t *p = c->poll;

    if (c->i_expect < c->n_expect)
        rc_disconnect(c);
    c->poll = NULL;
    c->n_expect = c->i_expect = 0; /* anything after this reply is unexpected: rc_consume */
    sw_poll_done(p, true, value, NULL);
}

void sw_redis_send(sw_redis_client_t *c)
{
    while (c->out_off < c->out_len) {
        uint32_t want;
        char why[128];
        ssize_t n = sw_conn_write(&c->conn, c->out + c->out_off, c->out_len - c->out_off, &want,
                                  why, sizeof why);
        if (n == -EAGAIN) {
            sw_io_want(&c->conn.tcp.io, SW_IO_READ | SW_IO_WRITE);
            return;
        }
        if (n < 0) {
            sw_redis_fail(c, SW_REDIS_DROP, "sending: %.*s", why, strlen(why));
            return;
        }
        c->out_off += (size_t)n;
    }
    explicit_bzero(c->out, c->out_len);
    c->out_len = c->out_off = 0;
    sw_io_want(&c->conn.tcp.io, SW_IO_READ);
}

int sw_redis_queue(sw_redis_client_t *c, int tag, int argc, const char *const *argv,
                   const size_t *argl)
{
    long n = sw_resp_command(c->out, c->out_len, c->out_cap, argc, argv, argl);

    if (n < 0 || c->n_expect >= SW_REDIS_EXPECT)
        return -EMSGSIZE;
    c->out_len = (size_t)n;
    c->expect[c->n_expect++] = tag;
    return 0;
}

/* AUTH and SELECT on a new connection, then the scaler's commands. */
static void rc_send_query(sw_redis_client_t *c, bool handshake)
{
    const sw_redis_conn_cfg_t *cfg = c->cfg;
    char db[24];
    int r = 0;

    c->n_expect = c->i_expect = 0;
    if (handshake && cfg->password) {
        const char *argv[] = {"AUTH", cfg->username ? cfg->username : cfg->password, cfg->password};
        const size_t argl[] = {4, strlen(argv[1]), strlen(cfg->password)};
        r = sw_redis_queue(c, RC_TAG_AUTH, cfg->username ? 3 : 2, argv, argl);
    }
    if (r == 0 && handshake && cfg->database_index > 0) {
        snprintf(db, sizeof db, "%lld", (long long)cfg->database_index);
        const char *argv[] = {"SELECT", db};
        const size_t argl[] = {6, strlen(db)};
        r = sw_redis_queue(c, RC_TAG_SELECT, 2, argv, argl);
    }
    if (r == 0)
        r = c->ops->query(c);
    if (r < 0) {
        sw_redis_fail_text(c, SW_REDIS_DROP, "command too large");
        return;
    }
    sw_redis_send(c);
}

static bool rc_is_auth_error(const sw_resp_reply_t *rep)
{
    return rep->type == SW_RESP_ERROR && ((rep->len >= 6 && memcmp(rep->str, "NOAUTH", 6) == 0) ||
                                          (rep->len >= 9 && memcmp(rep->str, "WRONGPASS", 9) == 0));
}

/* One reply, matched to the command it answers. */
static void rc_reply(sw_redis_client_t *c, const sw_resp_reply_t *rep)
{
    int tag = c->expect[c->i_expect++];
    bool handshake = tag == RC_TAG_AUTH || tag == RC_TAG_SELECT;

    if (rep->type == SW_RESP_ERROR && (handshake || rc_is_auth_error(rep))) {
        bool auth = tag == RC_TAG_AUTH || rc_is_auth_error(rep);
        sw_redis_fail(c, SW_REDIS_DROP | (auth ? SW_REDIS_AUTH : 0), "%.*s", rep->str, rep->len);
        return;
    }
    if (handshake) {
        if (rep->type != SW_RESP_STATUS) /* +OK */
            sw_redis_fail_text(c, SW_REDIS_DROP, "unexpected reply to AUTH or SELECT");
        return;
    }
    c->ops->reply(c, tag, c->i_expect == c->n_expect, rep);
}

/* Room for a reply of up to in_max bytes: grows the buffer. false when it is full. */
static bool rc_room(sw_redis_client_t *c)
{
    size_t cap = c->in_cap * 2 > c->in_max ? c->in_max : c->in_cap * 2;
    char *in;

    if (c->in_len < c->in_cap)
        return true;
    if (c->in_cap >= c->in_max || !(in = realloc(c->in, cap)))
        return false;
    c->in = in;
    c->in_cap = cap;
    return true;
}

/* Parses every complete reply in the buffer. */
static void rc_consume(sw_redis_client_t *c)
{
    while (c->in_len > 0) {
        sw_resp_reply_t rep;
        size_t used;
        int r = sw_resp_parse(c->in, c->in_len, &rep, &used);
        if (r == -EAGAIN && (c->in_len < c->in_cap || rc_room(c)))
            return;
        if (r < 0 || !c->poll || c->i_expect >= c->n_expect) {
            const char *e = r == -EAGAIN || r == -EMSGSIZE ? "reply too large"
                            : r < 0                        ? "malformed reply"
                                                           : "unexpected reply";
            sw_redis_fail_text(c, SW_REDIS_DROP, e);
            return;
        }
        rc_reply(c, &rep); /* may complete the poll or disconnect (in_len = 0) */
        if (c->in_len >= used) {
            memmove(c->in, c->in + used, c->in_len - used);
            c->in_len -= used;
        }
    }
}

static void rc_read(sw_redis_client_t *c)
{
    uint32_t want;
    char why[128];
    ssize_t n =
        sw_conn_read(&c->conn, c->in + c->in_len, c->in_cap - c->in_len, &want, why, sizeof why);

    if (n == -EAGAIN)
        return;
    if (n <= 0) {
        sw_redis_fail_text(c, SW_REDIS_DROP, n == 0 ? "connection closed by the server" : why);
        return;
    }
    c->in_len += (size_t)n;
    rc_consume(c);
}

static void rc_on_io(sw_io_t *io, uint32_t revents)
{
    sw_redis_client_t *c = rc_of(io);

    if ((revents & SW_IO_WRITE) && c->out_off < c->out_len) {
        sw_redis_send(c);
        if (c->conn.tcp.io.fd < 0)
            return;
    }
    if (revents & (SW_IO_READ | EPOLLHUP | EPOLLERR))
        rc_read(c);
}

static void rc_on_connect(sw_tcp_t *t, int err, const char *errtext)
{
    sw_redis_client_t *c = (sw_redis_client_t *)((char *)t - offsetof(sw_redis_client_t, conn.tcp));

    if (err)
        sw_redis_fail_text(c, SW_REDIS_DROP | SW_REDIS_NAMED, errtext);
    else
        rc_send_query(c, true);
}

void sw_redis_client_poll(sw_redis_client_t *c, sw_poll_t *p)
{
    char err[SW_HOST_MAX + 128];
    int r;

    c->poll = p;
    if (c->conn.tcp.connected) {
        rc_send_query(c, false);
        return;
    }
    rc_disconnect(c);
    r = sw_tcp_connect(&c->conn.tcp, c->cfg->host, c->cfg->port, rc_on_connect, rc_on_io, err,
                       sizeof err);
    if (r == 0)
        rc_send_query(c, true);
    else if (r != -EINPROGRESS)
        sw_redis_fail_text(c, SW_REDIS_DROP | SW_REDIS_NAMED, err);
}

void sw_redis_client_cancel(sw_redis_client_t *c, char *why, size_t len)
{
    snprintf(why, len, "%s %s:%s",
             c->conn.tcp.connected ? "waiting for a reply from" : "connecting to", c->cfg->host,
             c->cfg->port);
    c->poll = NULL;
    rc_disconnect(c);
}

int sw_redis_client_init(sw_redis_client_t *c, const sw_redis_conn_cfg_t *cfg,
                         const sw_redis_ops_t *ops, size_t args, size_t in_max)
{
    *c = (sw_redis_client_t){.cfg = cfg, .ops = ops};
    /* AUTH, SELECT and the scaler's commands at once; each command's framing is under 64
     * bytes. */
    c->out_cap = 512 + args + (cfg->username ? strlen(cfg->username) : 0) +
                 (cfg->password ? strlen(cfg->password) : 0);
    c->in_cap = RC_IN_FIRST < in_max ? RC_IN_FIRST : in_max;
    c->in_max = in_max;
    if (!(c->out = calloc(1, c->out_cap)) || !(c->in = malloc(c->in_cap))) {
        free(c->out);
        c->out = NULL;
        return -ENOMEM;
    }
    sw_conn_init(&c->conn);
    return 0;
}

void sw_redis_client_fini(sw_redis_client_t *c)
{
    if (!c->out)
        return;
    rc_disconnect(c);
    free(c->out);
    free(c->in);
    c->out = c->in = NULL;
}
