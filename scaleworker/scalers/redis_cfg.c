/*
 * redis_cfg: the redis scalers' parameters (the connection both share, and the `redis` list
 * scaler's own), read as KEDA's redis_scaler.go reads them through its typed config
 * (pkg/scalers/scalersconfig): the same names, sources and order, values trimmed, an empty value
 * treated as absent, integers parsed as Go's json.Unmarshal parses them and booleans as
 * strconv.ParseBool. Runs in the redis worker when a trigger's configuration is loaded
 * (redis_streams.c reads its own fields with the helpers here). Error messages name the field and
 * its source ("metadata.listLength: ...") and never quote a credential.
 *
 * `<name>FromEnv` reads the scale target's container environment (sw_param_find).
 *
 * Where ckeda differs, on purpose and with a clear configuration error: TLS (enableTLS, auth
 * `tls`) is not supported yet; the address's port must be numeric (a Go dial would also
 * accept a service name).
 */
#include "scaleworker/scalers/redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RC_QUOTE 64 /* at most this much of a bad value is quoted back */

static const sw_src_t rc_meta[] = {SW_SRC_METADATA, SW_SRC_END};
static const sw_src_t rc_meta_auth_env[] = {SW_SRC_METADATA, SW_SRC_AUTH, SW_SRC_ENV, SW_SRC_END};
static const sw_src_t rc_meta_env_auth[] = {SW_SRC_METADATA, SW_SRC_ENV, SW_SRC_AUTH, SW_SRC_END};
static const sw_src_t rc_auth[] = {SW_SRC_AUTH, SW_SRC_END};

/* sw_param_find, with `<name>FromEnv` turned into a configuration error. 1 found, 0 absent. */
static int rc_find(const sw_params_t *p, const char *const *names, const sw_src_t *order,
                   sw_param_t *v, char *err, size_t errlen)
{
    int r = sw_param_find(p, names, order, v);

    if (r == -ENOTSUP) {
        snprintf(err, errlen,
                 "metadata.%sFromEnv: reading the scale target's container environment is not "
                 "supported by ckeda yet",
                 v->name);
        return -EINVAL;
    }
    return r;
}

static int rc_bad(const sw_param_t *v, const char *what, char *err, size_t errlen)
{
    int n = v->len > RC_QUOTE ? RC_QUOTE : (int)v->len;

    snprintf(err, errlen, "%s.%s: \"%.*s%s\" %s", sw_src_prefix(v->src), v->name, n, v->value,
             v->len > RC_QUOTE ? "..." : "", what);
    return -EINVAL;
}

/* An integer as Go's json.Unmarshal reads one into int64: -?(0|[1-9][0-9]*), in range. */
static int rc_int(const sw_param_t *v, int64_t *ret, char *err, size_t errlen)
{
    char buf[32], *end;
    size_t i = 0;
    bool digits = true;

    if (v->len >= sizeof buf)
        return rc_bad(v, "is not a number", err, errlen);
    memcpy(buf, v->value, v->len);
    buf[v->len] = '\0';
    if (buf[0] == '-')
        i++;
    for (size_t j = i; buf[j]; j++)
        digits &= buf[j] >= '0' && buf[j] <= '9';
    if (!digits || !buf[i] || (buf[i] == '0' && buf[i + 1])) {
        strtod(buf, &end);
        return rc_bad(v, end != buf && !*end ? "is not an integer" : "is not a number", err,
                      errlen);
    }
    errno = 0;
    long long n = strtoll(buf, &end, 10);
    if (errno == ERANGE)
        return rc_bad(v, "is out of range", err, errlen);
    *ret = n;
    return 0;
}

/* strconv.ParseBool. */
static int rc_bool(const sw_param_t *v, bool *ret, char *err, size_t errlen)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};

    for (size_t i = 0; i < 6; i++) {
        if (strlen(yes[i]) == v->len && memcmp(yes[i], v->value, v->len) == 0) {
            *ret = true;
            return 0;
        }
        if (strlen(no[i]) == v->len && memcmp(no[i], v->value, v->len) == 0) {
            *ret = false;
            return 0;
        }
    }
    return rc_bad(v, "is not a boolean", err, errlen);
}

int sw_redis_meta_int(const sw_params_t *p, const char *name, int64_t *ret, char *err,
                      size_t errlen)
{
    const char *names[] = {name, NULL};
    sw_param_t v;

    if (sw_param_find(p, names, rc_meta, &v) != 1)
        return 0;
    return rc_int(&v, ret, err, errlen) < 0 ? -EINVAL : 1;
}

static char *rc_strdup(const sw_param_t *v)
{
    char *s = malloc(v->len + 1);

    if (s) {
        memcpy(s, v->value, v->len);
        s[v->len] = '\0';
    }
    return s;
}

/* The i-th element (trimmed) of a comma-separated list, as KEDA splits slices. */
static bool rc_elem(const sw_param_t *v, size_t i, sw_param_t *ret)
{
    const char *s = v->value, *end = v->value + v->len;

    for (; i > 0; i--) {
        const char *c = memchr(s, ',', (size_t)(end - s));
        if (!c)
            return false;
        s = c + 1;
    }
    const char *c = memchr(s, ',', (size_t)(end - s));
    const char *e = c ? c : end;
    while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    *ret = (sw_param_t){.name = v->name, .value = s, .len = (size_t)(e - s), .src = v->src};
    return true;
}

static size_t rc_count(const sw_param_t *v)
{
    size_t n = 1;

    for (size_t i = 0; i < v->len; i++)
        n += v->value[i] == ',';
    return n;
}

static int rc_copy(const sw_param_t *v, char *out, size_t cap, const char *what, char *err,
                   size_t errlen)
{
    if (v->len == 0 || v->len >= cap)
        return rc_bad(v, what, err, errlen);
    memcpy(out, v->value, v->len);
    out[v->len] = '\0';
    return 0;
}

static int rc_port(const sw_param_t *v, char *out, size_t cap, char *err, size_t errlen)
{
    int64_t n = 0;

    if (v->len == 0 || v->len >= cap || v->value[0] == '-' || rc_int(v, &n, err, errlen) < 0 ||
        n < 1 || n > 65535)
        return rc_bad(v, "is not a port number", err, errlen);
    return rc_copy(v, out, cap, "is not a port number", err, errlen);
}

static int rc_no_address(char *err, size_t errlen)
{
    snprintf(err, errlen,
             "metadata.address: no addresses or hosts given. address should be a "
             "comma separated list of host:port or set the host/port values");
    return -EINVAL;
}

/* KEDA's validateRedisAddress: the address list, then host:port pairs appended to it; a
 * single-instance redis uses the first. */
static int rc_address(const sw_params_t *p, sw_redis_conn_cfg_t *c, char *err, size_t errlen)
{
    static const char *const an[] = {"address", "addresses", NULL};
    static const char *const hn[] = {"host", "hosts", NULL};
    static const char *const pn[] = {"port", "ports", NULL};
    sw_param_t a, h, pt, e, ep;
    int ra, rh, rp;
    char why[64];

    if ((ra = rc_find(p, an, rc_meta_auth_env, &a, err, errlen)) < 0 ||
        (rh = rc_find(p, hn, rc_meta_env_auth, &h, err, errlen)) < 0 ||
        (rp = rc_find(p, pn, rc_meta_env_auth, &pt, err, errlen)) < 0)
        return -EINVAL;
    if (rh && rp && rc_count(&h) != rc_count(&pt)) {
        snprintf(err, errlen,
                 "%s.%s: not enough hosts or ports given. number of hosts should be "
                 "equal to the number of ports",
                 sw_src_prefix(h.src), h.name);
        return -EINVAL;
    }
    if (ra) {
        if (!rc_elem(&a, 0, &e) || e.len == 0)
            return rc_no_address(err, errlen);
        if (sw_hostport_split(e.value, e.len, c->host, sizeof c->host, c->port, sizeof c->port, why,
                              sizeof why) < 0)
            return rc_bad(&e, why, err, errlen);
        return 0;
    }
    if (!rh || !rp)
        return rc_no_address(err, errlen);
    rc_elem(&h, 0, &e);
    rc_elem(&pt, 0, &ep);
    if (rc_copy(&e, c->host, sizeof c->host, "is not a host name", err, errlen) < 0)
        return -EINVAL;
    return rc_port(&ep, c->port, sizeof c->port, err, errlen);
}

/* KEDA's SetEnableTLS: metadata enableTLS (a boolean) or auth `tls` (enable|disable), not
 * both. ckeda does not speak TLS to redis yet: asking for it is a configuration error. */
static int rc_tls(const sw_params_t *p, sw_redis_conn_cfg_t *c, char *err, size_t errlen)
{
    static const char *const mn[] = {"enableTLS", NULL}, *const an[] = {"tls", NULL};
    static const char *const un[] = {"unsafeSsl", NULL};
    sw_param_t m, a, u;
    int rm = sw_param_find(p, mn, rc_meta, &m), ra = sw_param_find(p, an, rc_auth, &a);

    if (sw_param_find(p, un, rc_meta, &u) == 1 && rc_bool(&u, &c->unsafe_ssl, err, errlen) < 0)
        return -EINVAL;
    if (rm == 1 && ra == 1) {
        snprintf(err, errlen,
                 "metadata.enableTLS: unable to set `tls` in both ScaledObject and "
                 "TriggerAuthentication together");
        return -EINVAL;
    }
    if (rm == 1 && rc_bool(&m, &c->enable_tls, err, errlen) < 0)
        return -EINVAL;
    if (ra == 1) {
        if (a.len == 6 && memcmp(a.value, "enable", 6) == 0)
            c->enable_tls = true;
        else if (!(a.len == 7 && memcmp(a.value, "disable", 7) == 0))
            return rc_bad(&a, "is not enable or disable", err, errlen);
    }
    if (c->enable_tls) {
        snprintf(err, errlen, "%s: TLS connections to redis are not supported by ckeda yet",
                 rm == 1 ? "metadata.enableTLS" : "authentication.tls");
        return -EINVAL;
    }
    return 0;
}

/* username and password: metadata, then `<name>FromEnv`, then authentication. */
static int rc_secret(const sw_params_t *p, const char *name, char **ret, char *err, size_t errlen)
{
    const char *names[] = {name, NULL};
    sw_param_t v;
    int r = rc_find(p, names, rc_meta_env_auth, &v, err, errlen);

    if (r <= 0)
        return r;
    if (v.len > SW_REDIS_ARG_MAX) {
        snprintf(err, errlen, "%s.%s: longer than %d bytes", sw_src_prefix(v.src), name,
                 SW_REDIS_ARG_MAX);
        return -EINVAL;
    }
    return (*ret = rc_strdup(&v)) ? 0 : -ENOMEM;
}

int sw_redis_meta_key(const sw_params_t *p, const char *name, bool required, char **ret,
                      size_t *ret_len, char *err, size_t errlen)
{
    const char *names[] = {name, NULL};
    sw_param_t v;

    if (sw_param_find(p, names, rc_meta, &v) != 1) {
        if (!required)
            return 0;
        snprintf(err, errlen, "metadata.%s: missing required parameter", name);
        return -EINVAL;
    }
    if (v.len > SW_REDIS_ARG_MAX) {
        snprintf(err, errlen, "metadata.%s: longer than %d bytes", name, SW_REDIS_ARG_MAX);
        return -EINVAL;
    }
    if (!(*ret = rc_strdup(&v)))
        return -ENOMEM;
    *ret_len = v.len;
    return 1;
}

int sw_redis_conn_parse(const sw_params_t *params, sw_redis_conn_cfg_t *ret, char *err,
                        size_t errlen)
{
    sw_redis_conn_cfg_t c = {0};
    int r;

    if ((r = sw_redis_meta_int(params, "databaseIndex", &c.database_index, err, errlen)) < 0 ||
        (r = rc_address(params, &c, err, errlen)) < 0 ||
        (r = rc_tls(params, &c, err, errlen)) < 0 ||
        (r = rc_secret(params, "username", &c.username, err, errlen)) < 0 ||
        (r = rc_secret(params, "password", &c.password, err, errlen)) < 0) {
        sw_redis_conn_free(&c);
        return r;
    }
    *ret = c;
    return 0;
}

int sw_redis_cfg_parse(const sw_params_t *params, sw_redis_cfg_t *ret, char *err, size_t errlen)
{
    sw_redis_cfg_t c = {.list_length = 5};
    int r;

    if ((r = sw_redis_meta_int(params, "listLength", &c.list_length, err, errlen)) < 0 ||
        (r = sw_redis_meta_int(params, "activationListLength", &c.activation_list_length, err,
                               errlen)) < 0 ||
        (r = sw_redis_meta_key(params, "listName", true, &c.list_name, &c.list_len, err, errlen)) <
            0 ||
        (r = sw_redis_conn_parse(params, &c.conn, err, errlen)) < 0) {
        sw_redis_cfg_free(&c);
        if (r == -ENOMEM)
            snprintf(err, errlen, "out of memory");
        return r;
    }
    *ret = c;
    return 0;
}

void sw_redis_conn_free(sw_redis_conn_cfg_t *c)
{
    sw_secret_str_free(c->username);
    sw_secret_str_free(c->password);
    memset(c, 0, sizeof *c);
}

void sw_redis_cfg_free(sw_redis_cfg_t *c)
{
    free(c->list_name);
    sw_redis_conn_free(&c->conn);
    memset(c, 0, sizeof *c);
}
