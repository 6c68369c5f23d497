/*
 * redis: the `redis` scaler (lists), as KEDA's redis_scaler.go. Runs in the redis workers.
 *
 * The value is the length of `listName` by its type, as KEDA's Lua script measures it: TYPE,
 * then ZCARD (zset), SCARD (set), HLEN (hash) or LLEN (list, or a missing key: 0); any other
 * type is the error "ERR unsupported key type: <type>". Activation and target are the
 * watcher's (the table's trigger config); this file reports the value only.
 *
 * Protocol: RESP2 over our own non-blocking socket (net.h), one connection per trigger, kept
 * between polls. A new connection sends AUTH (username and password, or password alone) and
 * SELECT (only for a database index > 0, as go-redis) pipelined with the first query. A query
 * is TYPE and LLEN pipelined (one round trip for lists and missing keys); for the other types
 * a second command follows. Replies pass a strict bounded reader (resp.h).
 *
 * Invariants: a reply is matched to the command queued for it, in order; a connection that
 * fails, times out, breaks the protocol or sends data nobody asked for is closed and the next
 * poll reconnects; a rejected AUTH (or NOAUTH) is reported with sw_poll_auth_rejected() so the
 * worker resolves the credentials again. Buffers that held the password are wiped.
 */
#include "scaleworker/scalers/redis.h"
#include "scaleworker/scalers/resp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RS_IN_MAX    16384 /* replies here are a few bytes; an error line at most 4 KiB */
#define RS_EXPECT    5
#define RS_TYPE_MAX  16
#define RS_ERROR_MAX 200

typedef enum { RX_AUTH, RX_SELECT, RX_TYPE, RX_LLEN, RX_COUNT } rs_expect_t;

typedef struct rs_state {
    sw_redis_cfg_t cfg;
    sw_tcp_t tcp;
    sw_poll_t *poll; /* the poll in flight, NULL between polls */
    char *out;
    size_t out_len, out_off, out_cap;
    char in[RS_IN_MAX];
    size_t in_len;
    rs_expect_t expect[RS_EXPECT];
    unsigned n_expect, i_expect;
    char type[RS_TYPE_MAX]; /* reply to TYPE */
    bool llen_ok;
    int64_t llen;
    char llen_err[RS_ERROR_MAX];
} rs_state_t;

static rs_state_t *rs_of(sw_io_t *io)
{
    return (rs_state_t *)((char *)io - offsetof(rs_state_t, tcp) - offsetof(sw_tcp_t, io));
}

static void rs_disconnect(rs_state_t *st)
{
    sw_tcp_close(&st->tcp);
    explicit_bzero(st->out, st->out_cap); /* it may have held AUTH */
    st->out_len = st->out_off = st->in_len = 0;
    st->n_expect = st->i_expect = 0;
}

enum {
    RS_KEEP = 0,        /* the connection stays usable */
    RS_DROP = 1u << 0,  /* close the connection */
    RS_AUTH = 1u << 1,  /* the server refused the credentials */
    RS_NAMED = 1u << 2, /* the text already names the address */
};

/* Completes the poll with an error "redis host:port: <fmt with a>"; fmt has one "%.*s". */
static void rs_fail(rs_state_t *st, unsigned how, const char *fmt, const char *a, size_t alen)
{
    sw_poll_t *p = st->poll;
    char detail[RS_ERROR_MAX + 64], msg[sizeof detail + SW_HOST_MAX + 32];

    snprintf(detail, sizeof detail, fmt, (int)alen, a);
    if (how & RS_NAMED)
        snprintf(msg, sizeof msg, "redis: %s", detail);
    else
        snprintf(msg, sizeof msg, "redis %s:%s: %s", st->cfg.host, st->cfg.port, detail);
    if (how & RS_DROP)
        rs_disconnect(st);
    st->poll = NULL;
    if (!p)
        return;
    if (how & RS_AUTH)
        sw_poll_auth_rejected(p);
    sw_poll_done(p, false, 0, msg);
}

static void rs_fail_text(rs_state_t *st, unsigned how, const char *text)
{
    rs_fail(st, how, "%.*s", text, strlen(text));
}

static void rs_succeed(rs_state_t *st, int64_t value)
{
    sw_poll_t *p = st->poll;

    st->poll = NULL;
    st->n_expect = st->i_expect = 0; /* anything after this reply is unexpected: rs_consume */
    sw_poll_done(p, true, (double)value, NULL);
}

static void rs_flush(rs_state_t *st)
{
    while (st->out_off < st->out_len) {
        ssize_t n =
            send(st->tcp.io.fd, st->out + st->out_off, st->out_len - st->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            sw_io_want(&st->tcp.io, SW_IO_READ | SW_IO_WRITE);
            return;
        }
        if (n < 0) {
            const char *e = strerror(errno);
            rs_fail(st, RS_DROP, "sending: %.*s", e, strlen(e));
            return;
        }
        st->out_off += (size_t)n;
    }
    explicit_bzero(st->out, st->out_len);
    st->out_len = st->out_off = 0;
    sw_io_want(&st->tcp.io, SW_IO_READ);
}

/* Queues one command and the reply it expects. Capacity was sized at parse time. */
static int rs_queue(rs_state_t *st, rs_expect_t kind, int argc, const char *const *argv,
                    const size_t *argl)
{
    long n = sw_resp_command(st->out, st->out_len, st->out_cap, argc, argv, argl);

    if (n < 0 || st->n_expect >= RS_EXPECT)
        return -EMSGSIZE;
    st->out_len = (size_t)n;
    st->expect[st->n_expect++] = kind;
    return 0;
}

static int rs_queue_key(rs_state_t *st, rs_expect_t kind, const char *cmd)
{
    const char *argv[] = {cmd, st->cfg.list_name};
    const size_t argl[] = {strlen(cmd), st->cfg.list_len};

    return rs_queue(st, kind, 2, argv, argl);
}

/* TYPE and LLEN, after AUTH and SELECT on a new connection. */
static void rs_send_query(rs_state_t *st, bool handshake)
{
    const sw_redis_cfg_t *c = &st->cfg;
    char db[24];
    int r = 0;

    st->n_expect = st->i_expect = 0;
    st->type[0] = '\0';
    st->llen_ok = false;
    if (handshake && c->password) {
        const char *argv[] = {"AUTH", c->username ? c->username : c->password, c->password};
        const size_t argl[] = {4, strlen(argv[1]), strlen(c->password)};
        r = rs_queue(st, RX_AUTH, c->username ? 3 : 2, argv, argl);
    }
    if (r == 0 && handshake && c->database_index > 0) {
        snprintf(db, sizeof db, "%lld", (long long)c->database_index);
        const char *argv[] = {"SELECT", db};
        const size_t argl[] = {6, strlen(db)};
        r = rs_queue(st, RX_SELECT, 2, argv, argl);
    }
    if (r == 0 && (r = rs_queue_key(st, RX_TYPE, "TYPE")) == 0)
        r = rs_queue_key(st, RX_LLEN, "LLEN");
    if (r < 0) {
        rs_fail_text(st, RS_DROP, "command too large");
        return;
    }
    rs_flush(st);
}

static bool rs_is_auth_error(const sw_resp_reply_t *rep)
{
    return rep->type == SW_RESP_ERROR && ((rep->len >= 6 && memcmp(rep->str, "NOAUTH", 6) == 0) ||
                                          (rep->len >= 9 && memcmp(rep->str, "WRONGPASS", 9) == 0));
}

/* Both replies of TYPE and LLEN are in: finish, or ask for the count of another type. */
static void rs_decide(rs_state_t *st)
{
    static const struct {
        const char *type, *cmd;
    } counts[] = {{"zset", "ZCARD"}, {"set", "SCARD"}, {"hash", "HLEN"}};

    if (strcmp(st->type, "list") == 0 || strcmp(st->type, "none") == 0) {
        if (st->llen_ok)
            rs_succeed(st, st->llen);
        else
            rs_fail_text(st, RS_KEEP, st->llen_err);
        return;
    }
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (strcmp(st->type, counts[i].type) == 0) {
            st->n_expect = st->i_expect = 0;
            if (rs_queue_key(st, RX_COUNT, counts[i].cmd) < 0)
                rs_fail_text(st, RS_DROP, "command too large");
            else
                rs_flush(st);
            return;
        }
    rs_fail(st, RS_KEEP, "ERR unsupported key type: %.*s", st->type, strlen(st->type));
}

/* One reply, matched to the command it answers. */
static void rs_reply(rs_state_t *st, const sw_resp_reply_t *rep)
{
    rs_expect_t kind = st->expect[st->i_expect++];
    bool last = st->i_expect == st->n_expect;

    if (rep->type == SW_RESP_ERROR && kind != RX_LLEN) {
        bool auth = kind == RX_AUTH || rs_is_auth_error(rep);
        /* After a failed AUTH or SELECT the rest of the pipeline is moot: start afresh. */
        rs_fail(st, (!last || auth || kind == RX_SELECT ? RS_DROP : 0) | (auth ? RS_AUTH : 0),
                "%.*s", rep->str, rep->len);
        return;
    }
    if (kind == RX_TYPE) {
        if (rep->type != SW_RESP_STATUS || rep->len >= RS_TYPE_MAX) {
            rs_fail_text(st, RS_DROP, "unexpected reply to TYPE");
            return;
        }
        memcpy(st->type, rep->str, rep->len);
        st->type[rep->len] = '\0';
    } else if (kind == RX_LLEN) {
        st->llen_ok = rep->type == SW_RESP_INTEGER;
        st->llen = rep->integer;
        snprintf(st->llen_err, sizeof st->llen_err, "%.*s",
                 rep->type == SW_RESP_ERROR ? (int)rep->len : 24,
                 rep->type == SW_RESP_ERROR ? rep->str : "unexpected reply to LLEN");
        if (last)
            rs_decide(st);
    } else if (kind == RX_COUNT) {
        if (rep->type == SW_RESP_INTEGER)
            rs_succeed(st, rep->integer);
        else
            rs_fail_text(st, RS_DROP, "unexpected reply to a count");
    } else if (rep->type != SW_RESP_STATUS) { /* AUTH, SELECT: +OK */
        rs_fail_text(st, RS_DROP, "unexpected reply to AUTH or SELECT");
    }
}

/* Parses every complete reply in the buffer. */
static void rs_consume(rs_state_t *st)
{
    while (st->in_len > 0) {
        sw_resp_reply_t rep;
        size_t used;
        int r = sw_resp_parse(st->in, st->in_len, &rep, &used);
        if (r == -EAGAIN && st->in_len < sizeof st->in)
            return;
        if (r < 0 || !st->poll || st->i_expect >= st->n_expect) {
            const char *e = r == -EAGAIN || r == -EMSGSIZE ? "reply too large"
                            : r < 0                        ? "malformed reply"
                                                           : "unexpected reply";
            rs_fail_text(st, RS_DROP, e);
            return;
        }
        rs_reply(st, &rep); /* may complete the poll or disconnect (in_len = 0) */
        if (st->in_len >= used) {
            memmove(st->in, st->in + used, st->in_len - used);
            st->in_len -= used;
        }
    }
}

static void rs_read(rs_state_t *st)
{
    ssize_t n = read(st->tcp.io.fd, st->in + st->in_len, sizeof st->in - st->in_len);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        const char *e = n == 0 ? "connection closed by the server" : strerror(errno);
        rs_fail_text(st, RS_DROP, e);
        return;
    }
    st->in_len += (size_t)n;
    rs_consume(st);
}

static void rs_on_io(sw_io_t *io, uint32_t revents)
{
    rs_state_t *st = rs_of(io);

    if ((revents & SW_IO_WRITE) && st->out_off < st->out_len) {
        rs_flush(st);
        if (st->tcp.io.fd < 0)
            return;
    }
    if (revents & (SW_IO_READ | EPOLLHUP | EPOLLERR))
        rs_read(st);
}

static void rs_on_connect(sw_tcp_t *c, int err, const char *errtext)
{
    rs_state_t *st = (rs_state_t *)((char *)c - offsetof(rs_state_t, tcp));

    if (err)
        rs_fail_text(st, RS_DROP | RS_NAMED, errtext);
    else
        rs_send_query(st, true);
}

static void rs_poll(sw_poll_t *p, void *state)
{
    rs_state_t *st = state;
    char err[SW_HOST_MAX + 128];
    int r;

    st->poll = p;
    if (st->tcp.connected) {
        rs_send_query(st, false);
        return;
    }
    rs_disconnect(st);
    r = sw_tcp_connect(&st->tcp, st->cfg.host, st->cfg.port, rs_on_connect, rs_on_io, err,
                       sizeof err);
    if (r == 0)
        rs_send_query(st, true);
    else if (r != -EINPROGRESS)
        rs_fail_text(st, RS_DROP | RS_NAMED, err);
}

static void rs_cancel(void *state, char *why, size_t len)
{
    rs_state_t *st = state;

    snprintf(why, len, "%s %s:%s", st->tcp.connected ? "waiting for a reply from" : "connecting to",
             st->cfg.host, st->cfg.port);
    st->poll = NULL;
    rs_disconnect(st);
}

static void rs_close(void *state)
{
    rs_state_t *st = state;

    rs_disconnect(st);
    sw_redis_cfg_free(&st->cfg);
    free(st->out);
    free(st);
}

static int rs_parse(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    rs_state_t *st = calloc(1, sizeof *st);
    int r;

    if (!st)
        return -ENOMEM;
    if ((r = sw_redis_cfg_parse(params, &st->cfg, err, errlen)) < 0) {
        free(st);
        return r;
    }
    /* AUTH, SELECT, TYPE and LLEN at once; each command's framing is under 64 bytes. */
    st->out_cap = 512 + 2 * st->cfg.list_len + (st->cfg.username ? strlen(st->cfg.username) : 0) +
                  (st->cfg.password ? strlen(st->cfg.password) : 0);
    if (!(st->out = calloc(1, st->out_cap))) {
        sw_redis_cfg_free(&st->cfg);
        free(st);
        return -ENOMEM;
    }
    sw_tcp_init(&st->tcp);
    *ret = st;
    return 0;
}

const sw_scaler_t sw_scaler_redis = {
    .name = "redis",
    .parse = rs_parse,
    .poll = rs_poll,
    .cancel = rs_cancel,
    .close = rs_close,
};
