/*
 * redis: the `redis` scaler (lists), as KEDA's redis_scaler.go. Runs in the redis workers.
 *
 * The value is the length of `listName` by its type, as KEDA's Lua script measures it: TYPE,
 * then ZCARD (zset), SCARD (set), HLEN (hash) or LLEN (list, or a missing key: 0); any other
 * type is the error "ERR unsupported key type: <type>". Activation and target are the
 * watcher's (the table's trigger config); this file reports the value only.
 *
 * The connection (AUTH, SELECT, pipelining, reconnects) is redis_client.c's. A query is TYPE
 * and LLEN pipelined (one round trip for lists and missing keys); for the other types a second
 * command follows.
 */
#include "scaleworker/scalers/redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RS_IN_MAX    16384 /* replies here are a few bytes; an error line at most 4 KiB */
#define RS_TYPE_MAX  16
#define RS_ERROR_MAX 200

typedef enum { RX_TYPE, RX_LLEN, RX_COUNT } rs_expect_t;

typedef struct rs_state {
    sw_redis_cfg_t cfg;
    sw_redis_client_t client;
    char type[RS_TYPE_MAX]; /* reply to TYPE */
    bool llen_ok;
    int64_t llen;
    char llen_err[RS_ERROR_MAX];
} rs_state_t;

static rs_state_t *rs_of(sw_redis_client_t *c)
{
    return (rs_state_t *)((char *)c - offsetof(rs_state_t, client));
}

static int rs_queue_key(rs_state_t *st, rs_expect_t kind, const char *cmd)
{
    const char *argv[] = {cmd, st->cfg.list_name};
    const size_t argl[] = {strlen(cmd), st->cfg.list_len};

    return sw_redis_queue(&st->client, kind, 2, argv, argl);
}

/* TYPE and LLEN. */
static int rs_query(sw_redis_client_t *c)
{
    rs_state_t *st = rs_of(c);
    int r;

    st->type[0] = '\0';
    st->llen_ok = false;
    if ((r = rs_queue_key(st, RX_TYPE, "TYPE")) < 0)
        return r;
    return rs_queue_key(st, RX_LLEN, "LLEN");
}

/* Both replies of TYPE and LLEN are in: finish, or ask for the count of another type. */
static void rs_decide(rs_state_t *st)
{
    static const struct {
        const char *type, *cmd;
    } counts[] = {{"zset", "ZCARD"}, {"set", "SCARD"}, {"hash", "HLEN"}};

    if (strcmp(st->type, "list") == 0 || strcmp(st->type, "none") == 0) {
        if (st->llen_ok)
            sw_redis_succeed(&st->client, (double)st->llen);
        else
            sw_redis_fail_text(&st->client, SW_REDIS_KEEP, st->llen_err);
        return;
    }
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (strcmp(st->type, counts[i].type) == 0) {
            if (rs_queue_key(st, RX_COUNT, counts[i].cmd) < 0)
                sw_redis_fail_text(&st->client, SW_REDIS_DROP, "command too large");
            else
                sw_redis_send(&st->client);
            return;
        }
    sw_redis_fail(&st->client, SW_REDIS_KEEP, "ERR unsupported key type: %.*s", st->type,
                  strlen(st->type));
}

static void rs_reply(sw_redis_client_t *c, int kind, bool last, const sw_resp_reply_t *rep)
{
    rs_state_t *st = rs_of(c);

    if (rep->type == SW_RESP_ERROR && kind != RX_LLEN) {
        sw_redis_fail(c, SW_REDIS_KEEP, "%.*s", rep->str, rep->len);
        return;
    }
    if (kind == RX_TYPE) {
        if (rep->type != SW_RESP_STATUS || rep->len >= RS_TYPE_MAX) {
            sw_redis_fail_text(c, SW_REDIS_DROP, "unexpected reply to TYPE");
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
    } else if (rep->type == SW_RESP_INTEGER) { /* RX_COUNT */
        sw_redis_succeed(c, (double)rep->integer);
    } else {
        sw_redis_fail_text(c, SW_REDIS_DROP, "unexpected reply to a count");
    }
}

static const sw_redis_ops_t rs_ops = {.query = rs_query, .reply = rs_reply};

static void rs_poll(sw_poll_t *p, void *state)
{
    sw_redis_client_poll(&((rs_state_t *)state)->client, p);
}

static void rs_cancel(void *state, char *why, size_t len)
{
    sw_redis_client_cancel(&((rs_state_t *)state)->client, why, len);
}

static void rs_close(void *state)
{
    rs_state_t *st = state;

    sw_redis_client_fini(&st->client);
    sw_redis_cfg_free(&st->cfg);
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
    if (sw_redis_client_init(&st->client, &st->cfg.conn, &rs_ops, 2 * st->cfg.list_len, RS_IN_MAX) <
        0) {
        sw_redis_cfg_free(&st->cfg);
        free(st);
        return -ENOMEM;
    }
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
