/*
 * redis_streams: the `redis-streams` scaler, as KEDA's redis_streams_scaler.go. Runs in the
 * redis-streams workers.
 *
 * Parameters (KEDA's redisStreamsMetadata): `stream` (required), `consumerGroup`,
 * `pendingEntriesCount` (5), `streamLength` (5), `lagCount`, `activationLagCount` (0), and the
 * connection of the redis scaler (redis_cfg.c: address/host/port, username, password,
 * databaseIndex, enableTLS or auth `tls`, unsafeSsl). The mode follows KEDA's Validate: without
 * consumerGroup the value is XLEN; with it and a non-zero lagCount it is the group's lag; with
 * it otherwise, XPENDING's count. The target is that mode's parameter (the watcher's, in the
 * table); every mode is active when value > activationLagCount (the table's activation).
 *
 * The lag mode, as KEDA: INFO must show redis_version 7 or later, then XINFO GROUPS: "ERR no
 * such key" is 0 (the stream does not exist yet); the group's `lag` is the value (-1 when the
 * server cannot tell, as go-redis reads a null lag); a group not listed (or any other XINFO
 * failure) is XLEN, what the lag would be had the group been created. The three commands go in
 * one pipelined round trip (INFO asks for its `server` section only, which holds the version);
 * the reply of each is read as it arrives and the decision is made on the last.
 *
 * The connection (AUTH, SELECT, reconnects, rejected credentials) is redis_client.c's, its
 * parameters redis_cfg.c's (the same sources as the redis scaler's). Where ckeda differs: as
 * the redis scaler, no TLS; no redis-cluster-streams or redis-sentinel-streams.
 */
#include "scaleworker/scalers/redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RX_IN_MAX    (1u << 20) /* XINFO GROUPS of a few thousand groups */
#define RX_ERROR_MAX 200

/* ---- parameters ---------------------------------------------------------------------------- */

int sw_rstream_cfg_parse(const sw_params_t *params, sw_rstream_cfg_t *ret, char *err, size_t errlen)
{
    sw_rstream_cfg_t c = {.pending_entries_count = 5, .stream_length = 5};
    int r;

    /* the fields in the order of KEDA's redisStreamsMetadata */
    if ((r = sw_redis_meta_int(params, "pendingEntriesCount", &c.pending_entries_count, err,
                               errlen)) < 0 ||
        (r = sw_redis_meta_int(params, "streamLength", &c.stream_length, err, errlen)) < 0 ||
        (r = sw_redis_meta_int(params, "lagCount", &c.lag_count, err, errlen)) < 0 ||
        (r = sw_redis_meta_key(params, "stream", true, &c.stream, &c.stream_len, err, errlen)) <
            0 ||
        (r = sw_redis_meta_key(params, "consumerGroup", false, &c.group, &c.group_len, err,
                               errlen)) < 0 ||
        (r = sw_redis_conn_parse(params, &c.conn, err, errlen)) < 0 ||
        (r = sw_redis_meta_int(params, "activationLagCount", &c.activation_lag_count, err,
                               errlen)) < 0) {
        sw_rstream_cfg_free(&c);
        if (r == -ENOMEM)
            snprintf(err, errlen, "out of memory");
        return r;
    }
    if (!c.group)
        c.mode = SW_RSTREAM_LENGTH;
    else
        c.mode = c.lag_count != 0 ? SW_RSTREAM_LAG : SW_RSTREAM_PENDING;
    *ret = c;
    return 0;
}

void sw_rstream_cfg_free(sw_rstream_cfg_t *c)
{
    free(c->stream);
    free(c->group);
    sw_redis_conn_free(&c->conn);
    memset(c, 0, sizeof *c);
}

/* ---- reading replies ----------------------------------------------------------------------- */

/* Go's strconv.ParseInt(s, 10, 64). */
static bool rx_parse_int(const char *s, size_t n, int64_t *ret)
{
    char buf[24], *end;
    size_t i = n > 0 && (s[0] == '+' || s[0] == '-');

    if (n == 0 || n >= sizeof buf || i == n)
        return false;
    for (size_t j = i; j < n; j++)
        if (s[j] < '0' || s[j] > '9')
            return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno == ERANGE || *end)
        return false;
    *ret = v;
    return true;
}

int sw_rstream_version(const char *info, size_t len, int64_t *ret_major, const char **ret_why)
{
    const char *line = info, *end = info + len;

    /* KEDA splits on "\n", then each line on ":"; the field's value ends at the next ':'. */
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        const char *le = eol ? eol : end;
        const char *colon = memchr(line, ':', (size_t)(le - line));
        if (colon && (size_t)(colon - line) == 13 && memcmp(line, "redis_version", 13) == 0) {
            const char *v = colon + 1;
            const char *ve = memchr(v, ':', (size_t)(le - v));
            const char *dot = memchr(v, '.', (size_t)((ve ? ve : le) - v));
            int64_t major;
            if (!rx_parse_int(v, (size_t)((dot ? dot : ve ? ve : le) - v), &major)) {
                *ret_why = "redis version could not be converted to number";
                return -EINVAL;
            }
            if (major < 7) {
                *ret_why = "redis version 7+ required for lag";
                return -EINVAL;
            }
            *ret_major = major;
            return 0;
        }
        line = le + 1;
    }
    *ret_why = "could not find Redis version number";
    return -EINVAL;
}

static bool rx_is_string(const sw_resp_reply_t *r)
{
    return r->type == SW_RESP_BULK || r->type == SW_RESP_STATUS;
}

/* One group of XINFO GROUPS (field, value, ...): 1 when it is `group`, with its lag. */
static int rx_group(const sw_resp_reply_t *g, const char *group, size_t group_len, int64_t *ret_lag)
{
    sw_resp_reply_t k, v;
    size_t off = 0;
    bool match = false;
    int64_t lag = 0; /* go-redis leaves 0 when the field is absent */
    int r;

    if (g->type != SW_RESP_ARRAY || g->integer % 2 != 0)
        return -EPROTO;
    while ((r = sw_resp_array_next(g, &off, &k)) == 1) {
        if (sw_resp_array_next(g, &off, &v) != 1 || !rx_is_string(&k))
            return -EPROTO;
        if (k.len == 4 && memcmp(k.str, "name", 4) == 0) {
            if (!rx_is_string(&v))
                return -EPROTO;
            match = v.len == group_len && memcmp(v.str, group, group_len) == 0;
        } else if (k.len == 3 && memcmp(k.str, "lag", 3) == 0) {
            if (v.type == SW_RESP_NIL)
                lag = -1;
            else if (v.type == SW_RESP_INTEGER)
                lag = v.integer;
            else
                return -EPROTO;
        }
    }
    if (r < 0)
        return r;
    if (match)
        *ret_lag = lag;
    return match;
}

int sw_rstream_group_lag(const sw_resp_reply_t *groups, const char *group, size_t group_len,
                         int64_t *ret_lag)
{
    sw_resp_reply_t g;
    size_t off = 0;
    int found = 0, r;
    int64_t lag = 0, l;

    if (groups->type != SW_RESP_ARRAY)
        return -EPROTO;
    while ((r = sw_resp_array_next(groups, &off, &g)) == 1) {
        if ((r = rx_group(&g, group, group_len, &l)) < 0)
            return r;
        if (r == 1 && !found) {
            found = 1;
            lag = l;
        }
    }
    if (r < 0)
        return r;
    if (found)
        *ret_lag = lag;
    return found;
}

int sw_rstream_pending_count(const sw_resp_reply_t *rep, int64_t *ret_count)
{
    sw_resp_reply_t count;
    size_t off = 0;

    if (rep->type != SW_RESP_ARRAY || rep->integer != 4 ||
        sw_resp_array_next(rep, &off, &count) != 1 || count.type != SW_RESP_INTEGER)
        return -EPROTO;
    *ret_count = count.integer;
    return 0;
}

/* ---- the scaler ---------------------------------------------------------------------------- */

typedef enum { RX_XLEN, RX_XPENDING, RX_INFO, RX_GROUPS } rx_tag_t;

/* What the lag mode's replies said, until the last one is in. */
typedef enum { RX_G_XLEN = 0, RX_G_FOUND, RX_G_NO_KEY } rx_groups_t;

typedef struct rx_state {
    sw_rstream_cfg_t cfg;
    sw_redis_client_t client;
    const char *version_why; /* NULL when INFO showed redis 7 or later */
    rx_groups_t groups;
    int64_t lag;
} rx_state_t;

static rx_state_t *rx_of(sw_redis_client_t *c)
{
    return (rx_state_t *)((char *)c - offsetof(rx_state_t, client));
}

static int rx_query(sw_redis_client_t *c)
{
    rx_state_t *st = rx_of(c);
    const sw_rstream_cfg_t *cfg = &st->cfg;
    const char *xlen[] = {"XLEN", cfg->stream};
    const size_t xlen_l[] = {4, cfg->stream_len};
    int r;

    if (cfg->mode == SW_RSTREAM_PENDING) {
        const char *argv[] = {"XPENDING", cfg->stream, cfg->group};
        const size_t argl[] = {8, cfg->stream_len, cfg->group_len};
        return sw_redis_queue(c, RX_XPENDING, 3, argv, argl);
    }
    if (cfg->mode == SW_RSTREAM_LAG) {
        const char *info[] = {"INFO", "server"};
        const size_t info_l[] = {4, 6};
        const char *groups[] = {"XINFO", "GROUPS", cfg->stream};
        const size_t groups_l[] = {5, 6, cfg->stream_len};
        st->version_why = "could not find Redis version";
        st->groups = RX_G_XLEN;
        if ((r = sw_redis_queue(c, RX_INFO, 2, info, info_l)) < 0 ||
            (r = sw_redis_queue(c, RX_GROUPS, 3, groups, groups_l)) < 0)
            return r;
    }
    return sw_redis_queue(c, RX_XLEN, 2, xlen, xlen_l);
}

/* The lag mode's replies to INFO and XINFO GROUPS: remembered until XLEN's. */
static void rx_lag_reply(rx_state_t *st, int tag, const sw_resp_reply_t *rep)
{
    const char *why;
    int64_t major;

    if (tag == RX_INFO) { /* anything but a text keeps "could not find Redis version" */
        if (rep->type == SW_RESP_BULK)
            st->version_why =
                sw_rstream_version(rep->str, rep->len, &major, &why) == 0 ? NULL : why;
        return;
    }
    if (rep->type == SW_RESP_ERROR)
        st->groups = rep->len == 15 && memcmp(rep->str, "ERR no such key", 15) == 0 ? RX_G_NO_KEY
                                                                                    : RX_G_XLEN;
    else
        st->groups = sw_rstream_group_lag(rep, st->cfg.group, st->cfg.group_len, &st->lag) == 1
                         ? RX_G_FOUND
                         : RX_G_XLEN;
}

static void rx_reply(sw_redis_client_t *c, int tag, bool last, const sw_resp_reply_t *rep)
{
    rx_state_t *st = rx_of(c);
    int64_t n;

    if (tag == RX_INFO || tag == RX_GROUPS) {
        rx_lag_reply(st, tag, rep);
        return;
    }
    if (st->cfg.mode == SW_RSTREAM_LAG && st->version_why) {
        sw_redis_fail_text(c, SW_REDIS_KEEP, st->version_why);
        return;
    }
    if (st->cfg.mode == SW_RSTREAM_LAG && st->groups != RX_G_XLEN) {
        sw_redis_succeed(c, st->groups == RX_G_FOUND ? (double)st->lag : 0);
        return;
    }
    if (rep->type == SW_RESP_ERROR) {
        sw_redis_fail(c, SW_REDIS_KEEP, "%.*s", rep->str, rep->len);
        return;
    }
    if (tag == RX_XPENDING && sw_rstream_pending_count(rep, &n) == 0)
        sw_redis_succeed(c, (double)n);
    else if (tag == RX_XLEN && rep->type == SW_RESP_INTEGER)
        sw_redis_succeed(c, (double)rep->integer);
    else
        sw_redis_fail_text(c, SW_REDIS_DROP,
                           tag == RX_XLEN ? "unexpected reply to XLEN"
                                          : "unexpected reply to "
                                            "XPENDING");
}

static const sw_redis_ops_t rx_ops = {.query = rx_query, .reply = rx_reply};

static void rx_poll(sw_poll_t *p, void *state)
{
    sw_redis_client_poll(&((rx_state_t *)state)->client, p);
}

static void rx_cancel(void *state, char *why, size_t len)
{
    sw_redis_client_cancel(&((rx_state_t *)state)->client, why, len);
}

static void rx_close(void *state)
{
    rx_state_t *st = state;

    sw_redis_client_fini(&st->client);
    sw_rstream_cfg_free(&st->cfg);
    free(st);
}

static int rx_parse(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    rx_state_t *st = calloc(1, sizeof *st);
    int r;

    if (!st)
        return -ENOMEM;
    if ((r = sw_rstream_cfg_parse(params, &st->cfg, err, errlen)) < 0) {
        free(st);
        return r;
    }
    if (sw_redis_client_init(&st->client, &st->cfg.conn, &rx_ops,
                             2 * st->cfg.stream_len + st->cfg.group_len, RX_IN_MAX) < 0) {
        sw_rstream_cfg_free(&st->cfg);
        free(st);
        return -ENOMEM;
    }
    *ret = st;
    return 0;
}

const sw_scaler_t sw_scaler_redis_streams = {
    .name = "redis-streams",
    .parse = rx_parse,
    .poll = rx_poll,
    .cancel = rx_cancel,
    .close = rx_close,
};
