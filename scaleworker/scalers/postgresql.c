/*
 * postgresql: the `postgresql` scaler, as KEDA's postgresql_scaler.go. Runs in the postgresql
 * workers.
 *
 * Parameters (KEDA's typed config, same names, sources and order): `connection` (authentication,
 * then `connectionFromEnv`), else `host`, `port`, `userName`, `dbName`, `sslmode` (authentication,
 * then metadata; all required then) and `password` (authentication, then `passwordFromEnv`) joined
 * into KEDA's "host=... port=... user=... dbname=... sslmode=... password=..." with KEDA's
 * escaping; `query` (metadata, required); `targetQueryValue` (required and non-zero) and
 * `activationTargetQueryValue` (0), numbers as Go's json.Unmarshal reads them. Activation and
 * target are the watcher's (the table); this file reports the value only.
 *
 * The value, as KEDA's QueryRowContext(query).Scan(&float64): the first column of the first row,
 * parsed as a float; no row is "sql: no rows in result set", NULL and text that is not a number
 * are database/sql's scan errors. Every failure reads "error inspecting postgreSQL: could not
 * query postgreSQL: <driver error>", as KEDA's.
 *
 * I/O: libpq's non-blocking API on the worker's loop. Host names are looked up with net.h's
 * asynchronous resolver and handed to libpq as `hostaddr` (libpq's own lookup would block);
 * every address of a name is tried in turn, as libpq and pgx do. The connection is kept between
 * polls (KEDA keeps its sql.DB); a kept connection that turns out broken is replaced once within
 * the same poll, as database/sql retries a bad connection. The query runs with the extended
 * protocol and no parameters (pgx's way: one statement) in single-row mode, so a query returning
 * many rows never buffers them. The poll's deadline is the query timeout: `cancel` drops the
 * connection. A refused password makes the worker resolve the authentication again.
 *
 * `<name>FromEnv` names a variable of the scale target's container environment (resolved by the
 * worker as KEDA's resolveEnv); one that is not set or empty counts as absent.
 *
 * Where ckeda differs, with a clear configuration error: pod identities are not supported yet.
 * A value that is NaN or
 * infinite is an error (the table never holds one). GSS encryption is off unless the
 * connection string asks for it (pgx has none).
 */
#include "scaleworker/net.h"
#include "scaleworker/scalers/sql.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_HOSTS_MAX 16   /* entries of a multi-host connection string */
#define PG_ADDRS_MAX 8    /* addresses tried per host name */
#define PG_ERROR_MAX 1024 /* a driver error, before the worker's bound */
#define PG_PREFIX    "error inspecting postgreSQL: could not query postgreSQL: "

/* ---- parameters ---------------------------------------------------------------------------- */

static const sw_src_t pc_meta[] = {SW_SRC_METADATA, SW_SRC_END};
static const sw_src_t pc_auth_env[] = {SW_SRC_AUTH, SW_SRC_ENV, SW_SRC_END};
static const sw_src_t pc_auth_meta[] = {SW_SRC_AUTH, SW_SRC_METADATA, SW_SRC_END};

static int pc_meta_number(const sw_params_t *p, const char *name, double *ret, char *err,
                          size_t errlen)
{
    sw_param_t v;
    int r = sw_sql_find(p, name, pc_meta, &v, err, errlen);

    return r == 1 ? sw_sql_number(&v, ret, err, errlen) : r;
}

char *sw_pg_escape(const char *s, size_t len)
{
    bool quote = false;
    char *out, *o;

    for (size_t i = 0; i < len; i++)
        quote |= isspace((unsigned char)s[i]) || s[i] == '\'' || s[i] == '\\';
    if (!(out = malloc(2 * len + 3)))
        return NULL;
    o = out;
    if (quote)
        *o++ = '\'';
    for (size_t i = 0; i < len; i++) {
        if (quote && (s[i] == '\'' || s[i] == '\\'))
            *o++ = '\\';
        *o++ = s[i];
    }
    if (quote)
        *o++ = '\'';
    *o = '\0';
    return out;
}

/* Appends " key=<escaped value>" to *buf. */
static int pc_append(char **buf, size_t *len, const char *key, const char *v, size_t vlen)
{
    char *e = sw_pg_escape(v, vlen), *nb;
    size_t need;

    if (!e)
        return -ENOMEM;
    need = *len + strlen(key) + strlen(e) + 3;
    if (!(nb = malloc(need))) {
        sw_secret_str_free(e);
        return -ENOMEM;
    }
    snprintf(nb, need, "%s%s%s=%s", *buf ? *buf : "", *len ? " " : "", key, e);
    sw_secret_str_free(e);
    sw_secret_str_free(*buf);
    *buf = nb;
    *len = strlen(nb);
    return 0;
}

/* KEDA's Validate and buildConnArray: host, port, userName, dbName and sslmode are required
 * without `connection`; password may be empty ("password="). */
static int pc_build(const sw_params_t *p, sw_pg_cfg_t *c, char *err, size_t errlen)
{
    static const struct {
        const char *param, *key;
    } parts[] = {{"host", "host"},     {"port", "port"},       {"userName", "user"},
                 {"dbName", "dbname"}, {"sslmode", "sslmode"}, {"password", "password"}};
    size_t len = 0;
    int r;

    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        bool pw = i == 5;
        sw_param_t v = {.value = "", .len = 0};
        if ((r = sw_sql_find(p, parts[i].param, pw ? pc_auth_env : pc_auth_meta, &v, err, errlen)) <
            0)
            return r;
        if (r == 0 && !pw) {
            snprintf(err, errlen, "metadata.%s: no %s given", parts[i].param, parts[i].param);
            return -EINVAL;
        }
        if ((r = pc_append(&c->conninfo, &len, parts[i].key, v.value, v.len)) < 0)
            return r;
    }
    return 0;
}

int sw_pg_cfg_parse(const sw_params_t *params, sw_pg_cfg_t *ret, char *err, size_t errlen)
{
    sw_pg_cfg_t c = {0};
    sw_param_t v;
    int r;

    if ((r = pc_meta_number(params, "targetQueryValue", &c.target, err, errlen)) < 0 ||
        (r = pc_meta_number(params, "activationTargetQueryValue", &c.activation, err, errlen)) <
            0 ||
        (r = sw_sql_find(params, "connection", pc_auth_env, &v, err, errlen)) < 0)
        goto fail;
    if (r == 1) {
        c.conninfo_given = true;
        if (!(c.conninfo = sw_sql_strndup(v.value, v.len))) {
            r = -ENOMEM;
            goto fail;
        }
    }
    if ((r = sw_sql_find(params, "query", pc_meta, &v, err, errlen)) <= 0) {
        if (r == 0)
            snprintf(err, errlen, "metadata.query: missing required parameter");
        r = -EINVAL;
        goto fail;
    }
    if (!(c.query = sw_sql_strndup(v.value, v.len))) {
        r = -ENOMEM;
        goto fail;
    }
    if (!c.conninfo && (r = pc_build(params, &c, err, errlen)) < 0)
        goto fail;
    if (c.target == 0) { /* (KEDA allows 0 for a scalingModifiers source only) */
        snprintf(err, errlen, "metadata.targetQueryValue: no targetQueryValue given");
        r = -EINVAL;
        goto fail;
    }
    *ret = c;
    return 0;
fail:
    sw_pg_cfg_free(&c);
    if (r == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    return r;
}

void sw_pg_cfg_free(sw_pg_cfg_t *c)
{
    sw_secret_str_free(c->conninfo);
    free(c->query);
    memset(c, 0, sizeof *c);
}

/* ---- the connection ------------------------------------------------------------------------ */

typedef enum { PG_IDLE, PG_RESOLVING, PG_CONNECTING, PG_READY, PG_QUERY } pg_phase_t;

typedef struct pg_buf {
    char *p;
    size_t len, cap;
} pg_buf_t;

typedef struct pg_state {
    sw_pg_cfg_t cfg;
    PQconninfoOption *opts; /* the parsed connection string; holds the password */
    sw_poll_t *poll;        /* the poll in flight, NULL between polls */
    pg_phase_t phase;
    PGconn *conn;
    sw_io_t io;
    bool reused;  /* the connection served an earlier poll */
    bool retried; /* this poll already replaced a broken connection */
    /* name lookups before libpq connects: one host entry at a time */
    sw_tcp_t dns;
    char *hostlist, *portlist;    /* copies of the `host` and `port` options, split in place */
    char *hosts[PG_HOSTS_MAX];    /* their entries */
    char *ports[PG_HOSTS_MAX];    /* (nports 0: a single port, or none, applies to all) */
    size_t nhosts, nports, ihost; /* ihost: the entry being looked up */
    pg_buf_t out_host, out_addr, out_port;
    size_t nout;
    char lookup_err[SW_HOST_MAX + 96];
    /* the query */
    bool got_row;
    double value;
    char qerr[PG_ERROR_MAX];
} pg_state_t;

static const char *pg_opt(const pg_state_t *st, const char *key)
{
    for (const PQconninfoOption *o = st->opts; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0)
            return o->val && o->val[0] ? o->val : NULL;
    return NULL;
}

static int pg_buf_add(pg_buf_t *b, const char *s)
{
    size_t n = strlen(s), need = b->len + n + 2;

    if (need > b->cap) {
        char *p = realloc(b->p, need * 2);
        if (!p)
            return -ENOMEM;
        b->p = p;
        b->cap = need * 2;
    }
    if (b->len)
        b->p[b->len++] = ',';
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
    return 0;
}

static void pg_lists_reset(pg_state_t *st)
{
    free(st->hostlist);
    free(st->portlist);
    st->hostlist = st->portlist = NULL;
    st->nhosts = st->nports = st->ihost = st->nout = 0;
    st->out_host.len = st->out_addr.len = st->out_port.len = 0;
    st->lookup_err[0] = '\0';
}

static void pg_drop(pg_state_t *st)
{
    sw_io_stop(&st->io);
    st->io.fd = -1;
    if (st->conn)
        PQfinish(st->conn); /* non-blocking: at most a Terminate message, never a wait */
    st->conn = NULL;
    sw_tcp_close(&st->dns);
    pg_lists_reset(st);
    st->phase = PG_IDLE;
    st->reused = false;
}

/* libpq's message on one line ("...\n...\n" from several hosts tried). */
static void pg_oneline(const char *msg, char *out, size_t cap)
{
    size_t o = 0;

    for (const char *s = msg; s && *s && o + 3 < cap; s++) {
        if (*s == '\n') {
            if (s[1] && o > 0) {
                out[o++] = ';';
                out[o++] = ' ';
            }
        } else if (*s != '\r') {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

enum { PG_KEEP = 0, PG_DROP = 1u << 0, PG_AUTH = 1u << 1 };

static void pg_fail(pg_state_t *st, unsigned how, const char *detail)
{
    sw_poll_t *p = st->poll;
    char msg[sizeof PG_PREFIX + PG_ERROR_MAX];

    snprintf(msg, sizeof msg, PG_PREFIX "%s", detail);
    if (how & PG_DROP)
        pg_drop(st);
    st->poll = NULL;
    if (!p)
        return;
    if (how & PG_AUTH)
        sw_poll_auth_rejected(p);
    sw_poll_done(p, false, 0, msg);
}

static void pg_fail_conn(pg_state_t *st)
{
    char line[PG_ERROR_MAX];
    const char *msg = st->conn ? PQerrorMessage(st->conn) : "out of memory";
    bool auth =
        st->conn && (strstr(msg, "authentication failed") || PQconnectionNeedsPassword(st->conn));

    pg_oneline(msg, line, sizeof line);
    pg_fail(st, PG_DROP | (auth ? PG_AUTH : 0), line[0] ? line : "connection failed");
}

static void pg_on_io(sw_io_t *io, uint32_t revents);
static void pg_start(pg_state_t *st);
static void pg_send(pg_state_t *st);

/* Watches libpq's socket. While connecting libpq may move to another socket (the next address),
 * possibly with the same number, so each step registers it afresh. */
static void pg_arm(pg_state_t *st, uint32_t events, bool fresh)
{
    int fd = PQsocket(st->conn);

    if (fd < 0) {
        pg_fail_conn(st);
        return;
    }
    if (fresh || fd != st->io.fd) {
        sw_io_stop(&st->io);
        sw_io_init(&st->io, fd, pg_on_io);
    }
    if (sw_io_want(&st->io, events) < 0)
        pg_fail(st, PG_DROP, "could not watch the connection's socket");
}

static void pg_connect_step(pg_state_t *st, PostgresPollingStatusType s)
{
    switch (s) {
    case PGRES_POLLING_READING:
        pg_arm(st, SW_IO_READ, true);
        return;
    case PGRES_POLLING_WRITING:
        pg_arm(st, SW_IO_WRITE, true);
        return;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(st->conn, 1) != 0) {
            pg_fail_conn(st);
            return;
        }
        st->phase = PG_READY;
        st->reused = false;
        pg_send(st);
        return;
    default:
        pg_fail_conn(st);
    }
}

/* Notices go nowhere: libpq's default prints them on our stderr, the log stream. */
static void pg_notice_ignore(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* The options for libpq: the parsed string's, with our lookups as hostaddr. */
static void pg_connect(pg_state_t *st)
{
    size_t n = 0, cap = 2;
    const char **kw, **val;
    bool gss = false;

    for (PQconninfoOption *o = st->opts; o->keyword; o++)
        cap++;
    kw = calloc(cap, sizeof *kw);
    val = calloc(cap, sizeof *val);
    for (PQconninfoOption *o = st->opts; kw && val && o->keyword; o++) {
        const char *v = o->val;
        if (st->nout && strcmp(o->keyword, "host") == 0)
            v = st->out_host.p;
        else if (st->nout && strcmp(o->keyword, "port") == 0 && st->nports > 0)
            v = st->out_port.p;
        else if (st->nout && strcmp(o->keyword, "hostaddr") == 0)
            continue; /* added below */
        gss |= strcmp(o->keyword, "gssencmode") == 0 && v;
        if (v) {
            kw[n] = o->keyword;
            val[n++] = v;
        }
    }
    if (kw && val && st->nout) {
        kw[n] = "hostaddr";
        val[n++] = st->out_addr.p;
    }
    if (kw && val && !gss) {
        kw[n] = "gssencmode";
        val[n++] = "disable";
    }
    st->conn = kw && val ? PQconnectStartParams(kw, val, 0) : NULL;
    free(kw);
    free(val);
    st->phase = PG_CONNECTING;
    if (!st->conn || PQstatus(st->conn) == CONNECTION_BAD) {
        pg_fail_conn(st);
        return;
    }
    PQsetNoticeProcessor(st->conn, pg_notice_ignore, NULL);
    pg_connect_step(st, PGRES_POLLING_WRITING);
}

static int pg_add_target(pg_state_t *st, const char *host, const char *addr)
{
    const char *port = st->nports > 0 ? st->ports[st->ihost] : NULL;

    if (st->nout >= PG_HOSTS_MAX * PG_ADDRS_MAX)
        return 0;
    st->nout++;
    if (pg_buf_add(&st->out_host, host) < 0 || pg_buf_add(&st->out_addr, addr) < 0 ||
        (port && pg_buf_add(&st->out_port, port) < 0))
        return -ENOMEM;
    return 0;
}

static bool pg_numeric(const char *h)
{
    unsigned char a[16];
    return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

static void pg_resolved(sw_tcp_t *c, int err, const char *errtext);

/* Looks up the remaining host entries, one at a time; connects after the last. */
static void pg_lookup_next(pg_state_t *st)
{
    char err[SW_HOST_MAX + 96];

    for (; st->ihost < st->nhosts; st->ihost++) {
        const char *h = st->hosts[st->ihost];
        int r = 0;
        if (!h[0] || h[0] == '/' || h[0] == '@') /* a unix socket: libpq needs no lookup */
            r = pg_add_target(st, h, "");
        else if (pg_numeric(h))
            r = pg_add_target(st, h, h);
        else if ((r = sw_tcp_resolve(&st->dns, h, "0", pg_resolved, err, sizeof err)) ==
                 -EINPROGRESS)
            return;
        else if (r == 0) { /* numeric after all ("127.1"): the addresses are there */
            pg_resolved(&st->dns, 0, NULL);
            return;
        } else if (r < 0) /* as libpq, skip a host that does not resolve */
            snprintf(st->lookup_err, sizeof st->lookup_err,
                     "could not translate host name \"%s\" to address: %s", h, err);
        if (r == -ENOMEM) {
            pg_fail(st, PG_DROP, "out of memory");
            return;
        }
    }
    if (st->nout == 0) {
        pg_fail(st, PG_DROP, st->lookup_err[0] ? st->lookup_err : "no host to connect to");
        return;
    }
    pg_connect(st);
}

static void pg_resolved(sw_tcp_t *c, int err, const char *errtext)
{
    pg_state_t *st = (pg_state_t *)((char *)c - offsetof(pg_state_t, dns));
    const char *h = st->hosts[st->ihost];
    size_t n = 0;

    if (err) {
        snprintf(st->lookup_err, sizeof st->lookup_err,
                 "could not translate host name \"%s\" to address: %s", h, errtext);
    } else {
        for (struct addrinfo *ai = c->ai; ai && n < PG_ADDRS_MAX; ai = ai->ai_next, n++) {
            char addr[NI_MAXHOST];
            if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof addr, NULL, 0,
                            NI_NUMERICHOST) != 0)
                continue;
            if (pg_add_target(st, h, addr) < 0) {
                sw_tcp_close(c);
                pg_fail(st, PG_DROP, "out of memory");
                return;
            }
        }
    }
    sw_tcp_close(c);
    st->ihost++;
    pg_lookup_next(st);
}

/* Splits s in place at commas into at most max entries; the count, or max + 1 if more. */
static size_t pg_split(char *s, char **out, size_t max)
{
    size_t n = 0;

    for (char *e = s;; e++) {
        if (*e != ',' && *e)
            continue;
        if (n == max)
            return max + 1;
        out[n++] = s;
        if (!*e)
            return n;
        *e = '\0';
        s = e + 1;
    }
}

/* A new connection: look up the host names (unless hostaddr is given), then connect. */
static void pg_start(pg_state_t *st)
{
    const char *host = pg_opt(st, "host"), *port = pg_opt(st, "port");

    pg_drop(st);
    if (!host || pg_opt(st, "hostaddr")) { /* libpq's defaults, or the caller's addresses */
        pg_connect(st);
        return;
    }
    if (!(st->hostlist = strdup(host)) || (port && !(st->portlist = strdup(port)))) {
        pg_fail(st, PG_DROP, "out of memory");
        return;
    }
    st->nhosts = pg_split(st->hostlist, st->hosts, PG_HOSTS_MAX);
    if (st->portlist)
        st->nports = pg_split(st->portlist, st->ports, PG_HOSTS_MAX);
    if (st->nhosts > PG_HOSTS_MAX) {
        pg_fail(st, PG_DROP, "more than 16 hosts in the connection string");
        return;
    }
    if (st->nports != st->nhosts) /* one port for all (or a count libpq will reject) */
        st->nports = 0;
    st->phase = PG_RESOLVING;
    pg_lookup_next(st);
}

/* ---- the query ----------------------------------------------------------------------------- */

/* A broken connection that served an earlier poll is replaced once, before any result came. */
static bool pg_retry(pg_state_t *st)
{
    if (!st->reused || st->retried || st->got_row || st->qerr[0])
        return false;
    st->retried = true;
    pg_start(st);
    return true;
}

/* database/sql's Scan of the first column into a float64. */
static void pg_take_row(pg_state_t *st, const PGresult *res)
{
    const char *name = PQnfields(res) > 0 ? PQfname(res, 0) : "";
    double d;

    st->got_row = true;
    if (PQnfields(res) < 1) {
        snprintf(st->qerr, sizeof st->qerr, "sql: expected 0 destination arguments in Scan, not 1");
        return;
    }
    if (sw_sql_scan_float(name, PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0), "string", &d,
                          st->qerr, sizeof st->qerr) == 0)
        st->value = d;
}

/* pgx's PgError text: "SEVERITY: message (SQLSTATE code)". */
static void pg_take_error(pg_state_t *st, const PGresult *res)
{
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    if (st->qerr[0])
        return;
    if (msg)
        snprintf(st->qerr, sizeof st->qerr, "%s: %s (SQLSTATE %s)", sev ? sev : "ERROR", msg,
                 code ? code : "");
    else
        pg_oneline(PQresultErrorMessage(res), st->qerr, sizeof st->qerr);
}

static void pg_finish_query(pg_state_t *st)
{
    sw_poll_t *p = st->poll;

    st->phase = PG_READY;
    st->reused = true;
    sw_io_want(&st->io, SW_IO_READ); /* idle: notices, or the server going away */
    if (st->qerr[0]) {
        pg_fail(st, PG_KEEP, st->qerr);
        return;
    }
    if (!st->got_row) {
        pg_fail(st, PG_KEEP, "sql: no rows in result set");
        return;
    }
    st->poll = NULL;
    sw_poll_done(p, true, st->value, NULL);
}

/* Takes every result that is complete; finishes the poll after the last. */
static void pg_results(pg_state_t *st)
{
    while (!PQisBusy(st->conn)) {
        PGresult *res = PQgetResult(st->conn);
        if (!res) {
            pg_finish_query(st);
            return;
        }
        switch (PQresultStatus(res)) {
        case PGRES_SINGLE_TUPLE:
            if (!st->got_row && !st->qerr[0])
                pg_take_row(st, res);
            break;
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY:
            break;
        default:
            pg_take_error(st, res);
        }
        PQclear(res);
    }
}

static void pg_flush(pg_state_t *st)
{
    int r = PQflush(st->conn);

    if (r < 0) {
        if (!pg_retry(st))
            pg_fail_conn(st);
        return;
    }
    sw_io_want(&st->io, r == 1 ? SW_IO_READ | SW_IO_WRITE : SW_IO_READ);
}

static void pg_send(pg_state_t *st)
{
    st->got_row = false;
    st->qerr[0] = '\0';
    if (!PQsendQueryParams(st->conn, st->cfg.query, 0, NULL, NULL, NULL, NULL, 0)) {
        if (!pg_retry(st))
            pg_fail_conn(st);
        return;
    }
    PQsetSingleRowMode(st->conn);
    st->phase = PG_QUERY;
    pg_arm(st, SW_IO_READ, false);
    if (st->conn)
        pg_flush(st);
}

static void pg_on_io(sw_io_t *io, uint32_t revents)
{
    pg_state_t *st = (pg_state_t *)((char *)io - offsetof(pg_state_t, io));

    if (st->phase == PG_CONNECTING) {
        pg_connect_step(st, PQconnectPoll(st->conn));
        return;
    }
    if (st->phase == PG_READY) { /* between polls: consume notices; drop a dead connection */
        if (!PQconsumeInput(st->conn) || PQstatus(st->conn) != CONNECTION_OK ||
            (revents & (EPOLLHUP | EPOLLERR)))
            pg_drop(st);
        return;
    }
    if ((revents & SW_IO_WRITE) && PQflush(st->conn) == 0)
        sw_io_want(&st->io, SW_IO_READ);
    if (!(revents & (SW_IO_READ | EPOLLHUP | EPOLLERR)))
        return;
    if (!PQconsumeInput(st->conn)) {
        if (!pg_retry(st))
            pg_fail_conn(st);
        return;
    }
    pg_results(st);
}

/* ---- the scaler ---------------------------------------------------------------------------- */

static void pg_poll(sw_poll_t *p, void *state)
{
    pg_state_t *st = state;

    st->poll = p;
    st->retried = false;
    st->got_row = false;
    st->qerr[0] = '\0';
    if (st->phase == PG_READY && st->conn && PQstatus(st->conn) == CONNECTION_OK)
        pg_send(st);
    else
        pg_start(st);
}

static void pg_cancel(void *state, char *why, size_t len)
{
    pg_state_t *st = state;
    const char *host = pg_opt(st, "host");

    snprintf(why, len, "%s postgreSQL%s%.200s",
             st->phase == PG_QUERY ? "waiting for the query's result from" : "connecting to",
             host ? " at " : "", host ? host : "");
    st->poll = NULL;
    pg_drop(st);
}

static void pg_free_opts(pg_state_t *st)
{
    for (PQconninfoOption *o = st->opts; o && o->keyword; o++)
        if (o->val)
            explicit_bzero(o->val, strlen(o->val));
    PQconninfoFree(st->opts);
    st->opts = NULL;
}

static void pg_close(void *state)
{
    pg_state_t *st = state;

    pg_drop(st);
    free(st->out_host.p);
    free(st->out_addr.p);
    free(st->out_port.p);
    pg_free_opts(st);
    sw_pg_cfg_free(&st->cfg);
    free(st);
}

static int pg_parse(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    pg_state_t *st = calloc(1, sizeof *st);
    char *perr = NULL;
    int r;

    if (!st)
        return -ENOMEM;
    if ((r = sw_pg_cfg_parse(params, &st->cfg, err, errlen)) < 0) {
        free(st);
        return r;
    }
    /* libpq's message may quote the string, password and all: never pass it on. */
    st->opts = PQconninfoParse(st->cfg.conninfo, &perr);
    PQfreemem(perr);
    if (!st->opts) {
        snprintf(err, errlen,
                 st->cfg.conninfo_given
                     ? "authentication.connection: not a connection string libpq can parse"
                     : "metadata: the connection parameters do not form a connection string "
                       "libpq can parse");
        sw_pg_cfg_free(&st->cfg);
        free(st);
        return -EINVAL;
    }
    sw_io_init(&st->io, -1, pg_on_io);
    sw_tcp_init(&st->dns);
    *ret = st;
    return 0;
}

const sw_scaler_t sw_scaler_postgresql = {
    .name = "postgresql",
    .parse = pg_parse,
    .poll = pg_poll,
    .cancel = pg_cancel,
    .close = pg_close,
};
