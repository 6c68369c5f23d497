/*
 * mysql: the `mysql` scaler, as KEDA's mysql_scaler.go. Runs in the mysql workers.
 *
 * Parameters (KEDA's typed config, same names, sources and order): `connectionString`
 * (authentication, then `connectionStringFromEnv`), else `username` (metadata, authentication,
 * `usernameFromEnv`), `password` (authentication, `passwordFromEnv`), `host`, `port`, `dbName`
 * (metadata, then authentication) formatted as go-sql-driver's FormatDSN does
 * ("user:pw@tcp(host:port)/db"); `query` (required); `queryValue` (required) and
 * `activationQueryValue` (0), numbers as Go's json.Unmarshal reads them; `metricName` is read and
 * ignored, as KEDA does. The DSN, given or built, is read as go-sql-driver's ParseDSN reads it
 * (the last '/' starts the database name, the last '@' ends the user and password, the first ':'
 * splits them, "net(addr)", the port defaulting to 3306). Activation and target are the
 * watcher's (the table); this file reports the value only.
 *
 * The value, as KEDA's QueryRowContext(query).Scan(&float64): the first column of the first row
 * parsed as a float; no row is "sql: no rows in result set", NULL and text that is not a number
 * are database/sql's scan errors. Every failure reads "error inspecting MySQL: <driver error>",
 * server errors as go-sql-driver writes them ("Error 1045 (28000): Access denied ...").
 *
 * I/O: MariaDB Connector/C's non-blocking API (its calls suspend on a private stack and return
 * what they wait for) on the worker's loop. Host names are looked up with net.h's asynchronous
 * resolver and each address is tried in turn (the library's own lookup would block). The
 * connection is kept between polls (KEDA keeps its sql.DB); a kept connection that turns out
 * broken is replaced once within the same poll, as database/sql retries a bad connection. The
 * poll's deadline is the query timeout: `cancel` aborts the operation (mariadb_cancel makes its
 * I/O fail) and drops the connection. LOAD DATA LOCAL is off (go-sql-driver refuses it unless
 * allowAllFiles). A refused password makes the worker resolve the authentication again.
 *
 * `<name>FromEnv` names a variable of the scale target's container environment (resolved by the
 * worker as KEDA's resolveEnv); one that is not set or empty counts as absent.
 *
 * Where ckeda differs, with a clear configuration error: TLS (`tls` other than false) and DSN
 * parameters that go-sql-driver sends as system variables are not supported yet;
 * timeouts in the DSN are ignored (the trigger's timeout bounds every poll). A value that is NaN
 * or infinite is an error.
 */
#include "scaleworker/net.h"
#include "scaleworker/scalers/sql.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <errmsg.h>
#include <fcntl.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MY_QUOTE     64
#define MY_ADDRS_MAX 8
#define MY_ERROR_MAX 1024
#define MY_PREFIX    "error inspecting MySQL: "

/* ---- parameters ---------------------------------------------------------------------------- */

static const sw_src_t mc_meta[] = {SW_SRC_METADATA, SW_SRC_END};
static const sw_src_t mc_auth_env[] = {SW_SRC_AUTH, SW_SRC_ENV, SW_SRC_END};
static const sw_src_t mc_meta_auth[] = {SW_SRC_METADATA, SW_SRC_AUTH, SW_SRC_END};
static const sw_src_t mc_meta_auth_env[] = {SW_SRC_METADATA, SW_SRC_AUTH, SW_SRC_ENV, SW_SRC_END};

/* A number in the metadata: required (KEDA's queryValue) or def when absent. */
static int mc_number(const sw_params_t *p, const char *name, bool required, double def, double *ret,
                     char *err, size_t errlen)
{
    sw_param_t v;
    int r = sw_sql_find(p, name, mc_meta, &v, err, errlen);

    if (r < 0)
        return r;
    if (r == 0 && required) {
        snprintf(err, errlen, "metadata.%s: missing required parameter", name);
        return -EINVAL;
    }
    if (r == 0) {
        *ret = def;
        return 0;
    }
    return sw_sql_number(&v, ret, err, errlen);
}

/* Go's url.PathEscape, for the database name in a DSN. */
static char *mc_path_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(3 * strlen(s) + 1), *o = out;

    if (!out)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || strchr("-_.~$&+:=@", c)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* Go's url.PathUnescape; -EINVAL on a bad escape. */
static int mc_path_unescape(const char *s, size_t n, char **ret)
{
    char *out = malloc(n + 1), *o = out;

    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
            !isxdigit((unsigned char)s[i + 2])) {
            free(out);
            return -EINVAL;
        }
        char h[3] = {s[i + 1], s[i + 2], 0};
        *o++ = (char)strtol(h, NULL, 16);
        i += 2;
    }
    *o = '\0';
    *ret = out;
    return 0;
}

/* net.JoinHostPort. */
static char *mc_join_host_port(const char *host, const char *port)
{
    size_t n = strlen(host) + strlen(port) + 4;
    char *s = malloc(n);

    if (s)
        snprintf(s, n, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
    return s;
}

/* go-sql-driver's FormatDSN for {User, Passwd, Net: tcp, Addr, DBName}. */
static char *mc_format_dsn(const char *user, const char *pw, const char *addr, const char *db)
{
    char *edb = mc_path_escape(db), *s = NULL;
    size_t n;

    if (!edb)
        return NULL;
    n = strlen(user) + strlen(pw) + strlen(addr) + strlen(edb) + 16;
    if ((s = malloc(n)))
        snprintf(s, n, "%s%s%s%stcp(%s)/%s", user, user[0] && pw[0] ? ":" : "", user[0] ? pw : "",
                 user[0] ? "@" : "", addr, edb);
    free(edb);
    return s;
}

/* net.SplitHostPort succeeds (go-sql-driver's ensureHavePort adds :3306 otherwise). */
static bool mc_has_port(const char *a)
{
    const char *colon = strrchr(a, ':');

    if (!colon)
        return false;
    if (a[0] == '[') {
        const char *close = strchr(a, ']');
        return close && close + 1 == colon && !strchr(close + 1 + 1, ']');
    }
    return strchr(a, ':') == colon && !strchr(a, '[') && !strchr(a, ']');
}

/* The DSN's parameters, as go-sql-driver's parseDSNParams reads them. */
static int mc_dsn_params(sw_mysql_cfg_t *c, const char *p, const char *where, char *err,
                         size_t errlen)
{
    static const char *const ignored[] = {"allowAllFiles",
                                          "allowCleartextPasswords",
                                          "allowFallbackToPlaintext",
                                          "allowNativePasswords",
                                          "allowOldPasswords",
                                          "checkConnLiveness",
                                          "clientFoundRows",
                                          "collation",
                                          "columnsWithAlias",
                                          "compress",
                                          "connectionAttributes",
                                          "interpolateParams",
                                          "loc",
                                          "maxAllowedPacket",
                                          "multiStatements",
                                          "parseTime",
                                          "readTimeout",
                                          "rejectReadOnly",
                                          "serverPubKey",
                                          "timeTruncate",
                                          "timeout",
                                          "writeTimeout"};

    while (*p) {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t kl = eq ? (size_t)(eq - p) : (size_t)(end - p);
        bool known = false;
        if (!eq) {
            snprintf(err, errlen, "%s: invalid DSN: a parameter without '='", where);
            return -EINVAL;
        }
        for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
            known |= strlen(ignored[i]) == kl && memcmp(ignored[i], p, kl) == 0;
        if (kl == 7 && memcmp(p, "charset", 7) == 0) {
            const char *v = eq + 1, *comma = memchr(v, ',', (size_t)(end - v));
            free(c->charset);
            if (!(c->charset = sw_sql_strndup(v, (size_t)((comma ? comma : end) - v))))
                return -ENOMEM;
        } else if (kl == 3 && memcmp(p, "tls", 3) == 0) {
            if (!((size_t)(end - eq - 1) == 5 && memcmp(eq + 1, "false", 5) == 0)) {
                snprintf(err, errlen,
                         "%s: tls: TLS connections to MySQL are not supported by "
                         "ckeda yet",
                         where);
                return -EINVAL;
            }
        } else if (!known) {
            snprintf(err, errlen,
                     "%s: the DSN parameter %.*s (a system variable go-sql-driver would SET) is "
                     "not supported by ckeda yet",
                     where, (int)(kl > MY_QUOTE ? MY_QUOTE : kl), p);
            return -EINVAL;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
}

/* go-sql-driver's ParseDSN and normalize. Messages never quote the DSN (it holds the password). */
static int mc_parse_dsn(sw_mysql_cfg_t *c, const char *dsn, const char *where, char *err,
                        size_t errlen)
{
    const char *slash = strrchr(dsn, '/'), *q, *left_end;
    size_t j, k, i;
    int r;

    if (!slash) {
        snprintf(err, errlen, "%s: invalid DSN: missing the slash separating the database name",
                 where);
        return -EINVAL;
    }
    i = (size_t)(slash - dsn);
    left_end = dsn + i;
    const char *at = NULL;
    for (const char *s = dsn; s < left_end; s++) /* the last '@' before the slash */
        if (*s == '@')
            at = s;
    j = at ? (size_t)(at - dsn) : 0;
    if (at) {
        const char *colon = memchr(dsn, ':', j);
        k = colon ? (size_t)(colon - dsn) : j;
        if (!(c->user = sw_sql_strndup(dsn, k)) ||
            !(c->password = colon ? sw_sql_strndup(colon + 1, j - k - 1) : strdup("")))
            return -ENOMEM;
    } else if (!(c->user = strdup("")) || !(c->password = strdup(""))) {
        return -ENOMEM;
    }
    size_t netstart = at ? j + 1 : 0;
    const char *paren = memchr(dsn + netstart, '(', i - netstart);
    if (paren && i > 0 && dsn[i - 1] != ')') {
        snprintf(err, errlen, "%s: invalid DSN: %s", where,
                 memchr(paren + 1, ')', (size_t)(left_end - paren - 1))
                     ? "did you forget to escape a param value?"
                     : "network address not terminated (missing closing brace)");
        return -EINVAL;
    }
    size_t netend = paren ? (size_t)(paren - dsn) : i;
    if (!(c->net = sw_sql_strndup(dsn + netstart, netend - netstart)) ||
        !(c->addr =
              paren ? sw_sql_strndup(paren + 1, (size_t)(left_end - 1 - paren - 1)) : strdup("")))
        return -ENOMEM;
    q = strchr(slash + 1, '?');
    if (q && (r = mc_dsn_params(c, q + 1, where, err, errlen)) < 0)
        return r;
    r = mc_path_unescape(slash + 1, q ? (size_t)(q - slash - 1) : strlen(slash + 1), &c->dbname);
    if (r == -EINVAL)
        snprintf(err, errlen, "%s: invalid DSN: the database name has a bad %%-escape", where);
    if (r < 0)
        return r;
    /* normalize */
    if (!c->net[0]) {
        free(c->net);
        if (!(c->net = strdup("tcp")))
            return -ENOMEM;
    }
    if (strcmp(c->net, "tcp") != 0 && strcmp(c->net, "tcp4") != 0 && strcmp(c->net, "tcp6") != 0 &&
        strcmp(c->net, "unix") != 0) {
        snprintf(err, errlen, "%s: network %.16s is not supported (tcp or unix)", where, c->net);
        return -EINVAL;
    }
    bool unix_net = strcmp(c->net, "unix") == 0;
    if (!c->addr[0] || (!unix_net && !mc_has_port(c->addr))) {
        char *a = !c->addr[0] ? strdup(unix_net ? "/tmp/mysql.sock" : "127.0.0.1:3306")
                              : mc_join_host_port(c->addr, "3306");
        if (!a)
            return -ENOMEM;
        free(c->addr);
        c->addr = a;
    }
    return 0;
}

int sw_mysql_cfg_parse(const sw_params_t *params, sw_mysql_cfg_t *ret, char *err, size_t errlen)
{
    sw_mysql_cfg_t c = {0};
    sw_param_t cs, user = {.value = ""}, pw = {.value = ""}, host = {.value = ""},
                   port = {.value = ""}, db = {.value = ""}, q;
    char *u = NULL, *p = NULL, *h = NULL, *pt = NULL, *d = NULL, *addr = NULL;
    int rc, r;

    if ((rc = sw_sql_find(params, "connectionString", mc_auth_env, &cs, err, errlen)) < 0 ||
        (r = sw_sql_find(params, "username", mc_meta_auth_env, &user, err, errlen)) < 0 ||
        (r = sw_sql_find(params, "password", mc_auth_env, &pw, err, errlen)) < 0 ||
        (r = sw_sql_find(params, "host", mc_meta_auth, &host, err, errlen)) < 0 ||
        (r = sw_sql_find(params, "port", mc_meta_auth, &port, err, errlen)) < 0 ||
        (r = sw_sql_find(params, "dbName", mc_meta_auth, &db, err, errlen)) < 0 ||
        (r = sw_sql_find(params, "query", mc_meta, &q, err, errlen)) < 0) {
        r = -EINVAL;
        goto out;
    }
    if (r == 0) {
        snprintf(err, errlen, "metadata.query: missing required parameter");
        r = -EINVAL;
        goto out;
    }
    if ((r = mc_number(params, "queryValue", true, 0, &c.query_value, err, errlen)) < 0 ||
        (r = mc_number(params, "activationQueryValue", false, 0, &c.activation, err, errlen)) < 0)
        goto out;
    r = -ENOMEM;
    if (!(c.query = sw_sql_strndup(q.value, q.len)))
        goto out;
    if (rc == 1) {
        if (!(c.dsn = sw_sql_strndup(cs.value, cs.len)))
            goto out;
    } else {
        if (!(u = sw_sql_strndup(user.value, user.len)) ||
            !(p = sw_sql_strndup(pw.value, pw.len)) ||
            !(h = sw_sql_strndup(host.value, host.len)) ||
            !(pt = sw_sql_strndup(port.value, port.len)) ||
            !(d = sw_sql_strndup(db.value, db.len)) || !(addr = mc_join_host_port(h, pt)) ||
            !(c.dsn = mc_format_dsn(u, p, addr, d)))
            goto out;
    }
    r = mc_parse_dsn(&c, c.dsn,
                     rc == 1 ? "authentication.connectionString" : "metadata (host, port, dbName)",
                     err, errlen);
out:
    sw_secret_str_free(p);
    free(u);
    free(h);
    free(pt);
    free(d);
    free(addr);
    if (r < 0) {
        sw_mysql_cfg_free(&c);
        if (r == -ENOMEM)
            snprintf(err, errlen, "out of memory");
        return r;
    }
    *ret = c;
    return 0;
}

void sw_mysql_cfg_free(sw_mysql_cfg_t *c)
{
    sw_secret_str_free(c->dsn);
    sw_secret_str_free(c->password);
    free(c->user);
    free(c->net);
    free(c->addr);
    free(c->dbname);
    free(c->charset);
    free(c->query);
    memset(c, 0, sizeof *c);
}

/* ---- the connection ------------------------------------------------------------------------ */

typedef enum { MY_IDLE, MY_RESOLVING, MY_CONNECTING, MY_READY, MY_QUERY, MY_STORE } my_phase_t;

typedef struct my_state {
    sw_mysql_cfg_t cfg;
    char host[SW_HOST_MAX]; /* the address's host part ("": the local system) */
    char port[SW_PORT_MAX];
    unsigned port_n;
    sw_poll_t *poll; /* the poll in flight, NULL between polls */
    my_phase_t phase;
    MYSQL *m;
    sw_io_t io;
    int wait; /* MYSQL_WAIT_* the operation in progress waits for; 0: none */
    MYSQL *mret;
    int iret;
    MYSQL_RES *res;
    bool reused, retried;
    sw_tcp_t dns;
    char addrs[MY_ADDRS_MAX][INET6_ADDRSTRLEN];
    size_t naddrs, iaddr;
} my_state_t;

static void my_on_io(sw_io_t *io, uint32_t revents);
static void my_start(my_state_t *st);
static void my_send(my_state_t *st);

/* Resumes the operation in progress with what is ready. */
static int my_cont(my_state_t *st, int ready)
{
    switch (st->phase) {
    case MY_CONNECTING:
        return mysql_real_connect_cont(&st->mret, st->m, ready);
    case MY_QUERY:
        return mysql_real_query_cont(&st->iret, st->m, ready);
    case MY_STORE:
        return mysql_store_result_cont(&st->res, st->m, ready);
    default:
        return 0;
    }
}

static void my_drop(my_state_t *st)
{
    sw_io_stop(&st->io);
    st->io.fd = -1;
    if (st->m && st->wait) {
        /* Mid-operation: make its I/O fail, let it unwind, then close without a QUIT. */
        mariadb_cancel(st->m);
        for (int i = 0; i < 4 && st->wait; i++)
            st->wait = my_cont(st, MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
    } else if (st->m && st->phase != MY_READY) {
        mariadb_cancel(st->m);
    }
    if (st->res)
        mysql_free_result(st->res);
    st->res = NULL;
    if (st->m)
        mysql_close(st->m); /* idle: a QUIT into an empty socket buffer; else the write fails */
    st->m = NULL;
    st->wait = 0;
    sw_tcp_close(&st->dns);
    st->phase = MY_IDLE;
    st->reused = false;
}

enum { MY_KEEP = 0, MY_DROP = 1u << 0, MY_AUTH = 1u << 1 };

static void my_fail(my_state_t *st, unsigned how, const char *detail)
{
    sw_poll_t *p = st->poll;
    char msg[sizeof MY_PREFIX + MY_ERROR_MAX];

    snprintf(msg, sizeof msg, MY_PREFIX "%s", detail);
    if (how & MY_DROP)
        my_drop(st);
    st->poll = NULL;
    if (!p)
        return;
    if (how & MY_AUTH)
        sw_poll_auth_rejected(p);
    sw_poll_done(p, false, 0, msg);
}

/* go-sql-driver's MySQLError text. */
static void my_error_text(MYSQL *m, char *out, size_t cap)
{
    const char *state = mysql_sqlstate(m);

    if (state && state[0] && strcmp(state, "00000") != 0)
        snprintf(out, cap, "Error %u (%s): %s", mysql_errno(m), state, mysql_error(m));
    else
        snprintf(out, cap, "Error %u: %s", mysql_errno(m), mysql_error(m));
}

static void my_fail_db(my_state_t *st, unsigned how)
{
    char text[MY_ERROR_MAX];
    unsigned e = mysql_errno(st->m);

    my_error_text(st->m, text, sizeof text);
    if (e == ER_ACCESS_DENIED_ERROR || e == ER_ACCESS_DENIED_NO_PASSWORD_ERROR)
        how |= MY_AUTH;
    my_fail(st, how, text);
}

/* Watches the library's socket for what it waits for. Connecting may move to another socket,
 * possibly with the same number, so each step there registers it afresh. */
static void my_arm(my_state_t *st, bool fresh)
{
    int fd = (int)mysql_get_socket(st->m);
    uint32_t ev = 0;

    if (fd < 0) {
        my_fail(st, MY_DROP, "the connection has no socket");
        return;
    }
    if (fresh || fd != st->io.fd) {
        sw_io_stop(&st->io);
        sw_io_init(&st->io, fd, my_on_io);
        fcntl(fd, F_SETFD, FD_CLOEXEC); /* the library does not ask for it */
    }
    ev |= st->wait & MYSQL_WAIT_READ ? SW_IO_READ : 0;
    ev |= st->wait & MYSQL_WAIT_WRITE ? SW_IO_WRITE : 0;
    ev |= st->wait & MYSQL_WAIT_EXCEPT ? EPOLLPRI : 0;
    /* MYSQL_WAIT_TIMEOUT alone: no library timeouts are set; the poll's deadline ends it. */
    if (sw_io_want(&st->io, ev) < 0)
        my_fail(st, MY_DROP, "could not watch the connection's socket");
}

/* database/sql's Scan of the first column into a float64. */
static void my_stored(my_state_t *st)
{
    char text[MY_ERROR_MAX];
    MYSQL_ROW row;
    const char *name;
    double d = 0;

    st->phase = MY_READY;
    st->reused = true;
    if (!st->res) {
        if (mysql_errno(st->m)) {
            my_fail_db(st, MY_DROP);
            return;
        }
        sw_io_want(&st->io, SW_IO_READ);
        my_fail(st, MY_KEEP, "sql: no rows in result set"); /* a statement without rows */
        return;
    }
    sw_io_want(&st->io, SW_IO_READ); /* idle: the server going away */
    row = mysql_fetch_row(st->res);
    name = mysql_num_fields(st->res) > 0 ? mysql_fetch_field_direct(st->res, 0)->name : "";
    text[0] = '\0';
    if (!row) {
        snprintf(text, sizeof text, "sql: no rows in result set");
    } else if (mysql_num_fields(st->res) < 1) {
        snprintf(text, sizeof text, "sql: expected 0 destination arguments in Scan, not 1");
    } else {
        sw_sql_scan_float(name, row[0], "[]uint8", &d, text, sizeof text);
    }
    mysql_free_result(st->res);
    st->res = NULL;
    if (text[0]) {
        my_fail(st, MY_KEEP, text);
        return;
    }
    sw_poll_t *p = st->poll;
    st->poll = NULL;
    sw_poll_done(p, true, d, NULL);
}

/* A broken kept connection is replaced once, as database/sql retries a bad connection. */
static bool my_retry(my_state_t *st)
{
    unsigned e = mysql_errno(st->m);

    if (!st->reused || st->retried ||
        (e != CR_SERVER_GONE_ERROR && e != CR_SERVER_LOST && e != CR_CONNECTION_ERROR))
        return false;
    st->retried = true;
    my_start(st);
    return true;
}

/* An operation returned: what it waits for now, or its end. */
static void my_step(my_state_t *st, int status)
{
    st->wait = status;
    if (status) {
        my_arm(st, st->phase == MY_CONNECTING);
        return;
    }
    switch (st->phase) {
    case MY_CONNECTING:
        if (!st->mret) {
            unsigned e = mysql_errno(st->m);
            if ((e == CR_CONN_HOST_ERROR || e == CR_CONNECTION_ERROR) &&
                st->iaddr + 1 < st->naddrs) {
                st->iaddr++;
                my_start(st); /* the next address */
                return;
            }
            my_fail_db(st, MY_DROP);
            return;
        }
        st->phase = MY_READY;
        st->reused = false;
        my_send(st);
        return;
    case MY_QUERY:
        if (st->iret != 0) {
            if (my_retry(st))
                return;
            if (mysql_errno(st->m) >= 2000) { /* the client's own: the connection is unusable */
                my_fail_db(st, MY_DROP);
                return;
            }
            st->phase = MY_READY; /* a server error: the connection serves the next poll */
            st->reused = true;
            sw_io_want(&st->io, SW_IO_READ);
            my_fail_db(st, MY_KEEP);
            return;
        }
        st->phase = MY_STORE;
        my_step(st, mysql_store_result_start(&st->res, st->m));
        return;
    case MY_STORE:
        my_stored(st);
        return;
    default:
        return;
    }
}

static void my_send(my_state_t *st)
{
    st->phase = MY_QUERY;
    my_step(st, mysql_real_query_start(&st->iret, st->m, st->cfg.query, strlen(st->cfg.query)));
}

static void my_on_io(sw_io_t *io, uint32_t revents)
{
    my_state_t *st = (my_state_t *)((char *)io - offsetof(my_state_t, io));
    int ready = 0;

    if (st->phase == MY_READY) { /* between polls the server has nothing to say: it is going */
        my_drop(st);
        return;
    }
    if (revents & (SW_IO_READ | EPOLLHUP | EPOLLERR))
        ready |= MYSQL_WAIT_READ;
    if (revents & (SW_IO_WRITE | EPOLLHUP | EPOLLERR))
        ready |= MYSQL_WAIT_WRITE;
    if (revents & EPOLLPRI)
        ready |= MYSQL_WAIT_EXCEPT;
    ready &= st->wait;
    if (!ready && (revents & (EPOLLHUP | EPOLLERR))) { /* nothing asked can end it: give up */
        my_fail(st, MY_DROP, "the connection to the server failed");
        return;
    }
    if (ready)
        my_step(st, my_cont(st, ready));
}

/* Connects to addrs[iaddr] (or the unix socket). */
static void my_connect(my_state_t *st)
{
    unsigned int zero = 0, proto;
    bool unix_net = strcmp(st->cfg.net, "unix") == 0;

    if (!(st->m = mysql_init(NULL))) {
        my_fail(st, MY_DROP, "out of memory");
        return;
    }
    proto = unix_net ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
    mysql_options(st->m, MYSQL_OPT_NONBLOCK, 0);
    mysql_options(st->m, MYSQL_OPT_PROTOCOL, &proto);
    mysql_options(st->m, MYSQL_OPT_LOCAL_INFILE, &zero);
    mysql_options(st->m, MYSQL_SET_CHARSET_NAME, st->cfg.charset ? st->cfg.charset : "utf8mb4");
    st->phase = MY_CONNECTING;
    my_step(st, mysql_real_connect_start(
                    &st->mret, st->m, unix_net ? "localhost" : st->addrs[st->iaddr], st->cfg.user,
                    st->cfg.password, st->cfg.dbname[0] ? st->cfg.dbname : NULL,
                    unix_net ? 0 : st->port_n, unix_net ? st->cfg.addr : NULL, 0));
}

static void my_resolved(sw_tcp_t *c, int err, const char *errtext)
{
    my_state_t *st = (my_state_t *)((char *)c - offsetof(my_state_t, dns));
    char text[SW_HOST_MAX + 160];

    st->naddrs = 0;
    for (struct addrinfo *ai = err ? NULL : c->ai; ai && st->naddrs < MY_ADDRS_MAX;
         ai = ai->ai_next)
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, st->addrs[st->naddrs], sizeof st->addrs[0],
                        NULL, 0, NI_NUMERICHOST) == 0)
            st->naddrs++;
    sw_tcp_close(c);
    if (st->naddrs == 0) {
        snprintf(text, sizeof text, "dial tcp %s: %s", st->cfg.addr, err ? errtext : "no address");
        my_fail(st, MY_DROP, text);
        return;
    }
    st->iaddr = 0;
    my_connect(st);
}

/* A new connection: the address (looked up once per connection), then the handshake. */
static void my_start(my_state_t *st)
{
    size_t keep = st->iaddr;
    char text[SW_HOST_MAX + 160];
    int r;

    my_drop(st);
    if (strcmp(st->cfg.net, "unix") == 0) {
        my_connect(st);
        return;
    }
    if (st->naddrs && keep < st->naddrs) { /* trying the next address of the same lookup */
        st->iaddr = keep;
        my_connect(st);
        return;
    }
    if (st->port_n == 0) {
        snprintf(text, sizeof text, "dial tcp %s: invalid port", st->cfg.addr);
        my_fail(st, MY_DROP, text);
        return;
    }
    st->phase = MY_RESOLVING;
    r = sw_tcp_resolve(&st->dns, st->host[0] ? st->host : "127.0.0.1", st->port, my_resolved, text,
                       sizeof text);
    if (r == 0)
        my_resolved(&st->dns, 0, NULL);
    else if (r != -EINPROGRESS)
        my_resolved(&st->dns, r, text);
}

/* ---- the scaler ---------------------------------------------------------------------------- */

static void my_poll(sw_poll_t *p, void *state)
{
    my_state_t *st = state;

    st->poll = p;
    st->retried = false;
    if (st->phase == MY_READY && st->m) {
        my_send(st);
        return;
    }
    st->naddrs = st->iaddr = 0; /* look the name up again */
    my_start(st);
}

static void my_cancel(void *state, char *why, size_t len)
{
    my_state_t *st = state;

    snprintf(why, len, "%s MySQL at %.200s",
             st->phase == MY_QUERY || st->phase == MY_STORE ? "waiting for the query's result from"
                                                            : "connecting to",
             st->cfg.addr);
    st->poll = NULL;
    my_drop(st);
}

static void my_close(void *state)
{
    my_state_t *st = state;

    my_drop(st);
    sw_mysql_cfg_free(&st->cfg);
    free(st);
}

/* The tcp address's host and port, as net.SplitHostPort (after ensureHavePort). */
static void my_split_addr(my_state_t *st)
{
    const char *a = st->cfg.addr, *colon = strrchr(a, ':');
    size_t hl;
    char *end;
    long n;

    if (!colon)
        return;
    if (a[0] == '[') {
        hl = (size_t)(colon - a) - 2;
        a++;
    } else {
        hl = (size_t)(colon - a);
    }
    if (hl < sizeof st->host) {
        memcpy(st->host, a, hl);
        st->host[hl] = '\0';
    }
    snprintf(st->port, sizeof st->port, "%s", colon + 1);
    n = strtol(st->port, &end, 10);
    st->port_n = st->port[0] && !*end && n > 0 && n <= 65535 ? (unsigned)n : 0;
}

static int my_parse(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    my_state_t *st = calloc(1, sizeof *st);
    int r;

    if (!st)
        return -ENOMEM;
    if ((r = sw_mysql_cfg_parse(params, &st->cfg, err, errlen)) < 0) {
        free(st);
        return r;
    }
    if (strcmp(st->cfg.net, "unix") != 0)
        my_split_addr(st);
    sw_io_init(&st->io, -1, my_on_io);
    sw_tcp_init(&st->dns);
    *ret = st;
    return 0;
}

const sw_scaler_t sw_scaler_mysql = {
    .name = "mysql",
    .parse = my_parse,
    .poll = my_poll,
    .cancel = my_cancel,
    .close = my_close,
};
