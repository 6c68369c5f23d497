/*
 * httpcfg: see httpcfg.h. KEDA's typed config reads each field from its sources in order,
 * trims it, treats an empty value as absent, then converts it by the field's Go type; a nested
 * struct marked optional (the auth block) makes every field in it optional, and its Validate()
 * then checks what each enabled mode needs.
 */
#include "common/base64.h"
#include "common/json.h"
#include "scaleworker/scalers/httpcfg.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HC_QUOTE 64 /* at most this much of a bad value is quoted back */

const sw_src_t sw_order_meta[] = {SW_SRC_METADATA, SW_SRC_END};
const sw_src_t sw_order_meta_auth[] = {SW_SRC_METADATA, SW_SRC_AUTH, SW_SRC_END};
const sw_src_t sw_order_auth[] = {SW_SRC_AUTH, SW_SRC_END};

static const char *hc_order_name(const sw_src_t *order)
{
    return order == sw_order_auth        ? "[authParams]"
           : order == sw_order_meta_auth ? "[triggerMetadata authParams]"
                                         : "[triggerMetadata]";
}

static int hc_find(const sw_params_t *p, const char *name, const sw_src_t *order, sw_param_t *v)
{
    const char *names[] = {name, NULL};
    int r = sw_param_find(p, names, order, v);
    return r == 1 ? 1 : 0; /* no order here includes the target's env */
}

static int hc_bad(const sw_param_t *v, const char *what, char *err, size_t errlen)
{
    int n = v->len > HC_QUOTE ? HC_QUOTE : (int)v->len;

    snprintf(err, errlen, "%s.%s: \"%.*s%s\" %s", sw_src_prefix(v->src), v->name, n, v->value,
             v->len > HC_QUOTE ? "..." : "", what);
    return -EINVAL;
}

static int hc_missing(const char *name, const sw_src_t *order, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s.%s: missing required parameter \"%s\" in %s",
             order == sw_order_auth ? "authentication" : "metadata", name, name,
             hc_order_name(order));
    return -EINVAL;
}

static char *hc_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int sw_cfg_str(const sw_params_t *p, const char *name, const sw_src_t *order, bool required,
               char **ret, char *err, size_t errlen)
{
    sw_param_t v;

    if (!hc_find(p, name, order, &v))
        return required ? hc_missing(name, order, err, errlen) : 0;
    if (!(*ret = hc_dup(v.value, v.len)))
        return -ENOMEM;
    return 1;
}

int sw_go_parse_float(const char *s, size_t n, double *ret)
{
    char buf[512], *end;
    size_t i = 0;
    bool digits = false;

    if (n == 0 || n >= sizeof buf)
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (buf[0] == '+' || buf[0] == '-')
        i++;
    if (strcasecmp(buf + i, "inf") == 0 || strcasecmp(buf + i, "infinity") == 0) {
        *ret = buf[0] == '-' ? -INFINITY : INFINITY;
        return 0;
    }
    if (strcasecmp(buf, "nan") == 0) {
        *ret = NAN;
        return 0;
    }
    /* decimal only: digits [. digits] [e [sign] digits] */
    for (; isdigit((unsigned char)buf[i]); i++)
        digits = true;
    if (buf[i] == '.')
        for (i++; isdigit((unsigned char)buf[i]); i++)
            digits = true;
    if (!digits)
        return -EINVAL;
    if (buf[i] == 'e' || buf[i] == 'E') {
        i++;
        if (buf[i] == '+' || buf[i] == '-')
            i++;
        if (!isdigit((unsigned char)buf[i]))
            return -EINVAL;
        while (isdigit((unsigned char)buf[i]))
            i++;
    }
    if (buf[i])
        return -EINVAL;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno == ERANGE && isinf(v))
        return -ERANGE;
    *ret = v;
    return 0;
}

int sw_cfg_float(const sw_params_t *p, const char *name, bool required, double *ret, char *err,
                 size_t errlen)
{
    sw_param_t v;
    double d;

    if (!hc_find(p, name, sw_order_meta, &v))
        return required ? hc_missing(name, sw_order_meta, err, errlen) : 0;
    if (v.len == 4 && memcmp(v.value, "null", 4) == 0) {
        *ret = 0; /* json.Unmarshal leaves the field as it was */
        return 1;
    }
    if (!jsonu_is_number(v.value, v.len))
        return hc_bad(&v, "is not a number", err, errlen);
    if (sw_go_parse_float(v.value, v.len, &d) < 0)
        return hc_bad(&v, "is out of range for a float64", err, errlen);
    *ret = d;
    return 1;
}

int sw_cfg_bool(const sw_params_t *p, const char *name, bool *ret, char *err, size_t errlen)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    sw_param_t v;

    if (!hc_find(p, name, sw_order_meta, &v))
        return 0;
    for (size_t i = 0; i < 6; i++) {
        if (strlen(yes[i]) == v.len && memcmp(yes[i], v.value, v.len) == 0) {
            *ret = true;
            return 1;
        }
        if (strlen(no[i]) == v.len && memcmp(no[i], v.value, v.len) == 0) {
            *ret = false;
            return 1;
        }
    }
    return hc_bad(&v, "is not a boolean", err, errlen);
}

/* Go's time.ParseDuration, to milliseconds (truncated); -EINVAL on bad syntax or < 0. */
static int hc_go_duration(const char *s, size_t n, uint64_t *ret)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"\xce\xbcs", 1e-3},
                 {"ms", 1},    {"s", 1e3},   {"m", 6e4},          {"h", 3.6e6}};
    size_t i = 0;
    double total = 0;
    bool neg = false;

    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (n - i == 1 && s[i] == '0') {
        *ret = 0;
        return 0;
    }
    if (i == n)
        return -EINVAL;
    while (i < n) {
        size_t start = i;
        bool digits = false;
        while (i < n && isdigit((unsigned char)s[i])) {
            i++;
            digits = true;
        }
        if (i < n && s[i] == '.')
            for (i++; i < n && isdigit((unsigned char)s[i]); i++)
                digits = true;
        if (!digits)
            return -EINVAL;
        char nb[64];
        if (i - start >= sizeof nb)
            return -EINVAL;
        memcpy(nb, s + start, i - start);
        nb[i - start] = '\0';
        double num = strtod(nb, NULL);
        size_t u, best = 0, bl = 0;
        for (u = 0; u < sizeof units / sizeof units[0]; u++) {
            size_t ul = strlen(units[u].unit);
            if (ul <= n - i && memcmp(s + i, units[u].unit, ul) == 0 && ul > bl) {
                best = u;
                bl = ul;
            }
        }
        if (bl == 0)
            return -EINVAL; /* "missing unit" */
        total += num * units[best].ms;
        i += bl;
    }
    if (neg && total > 0)
        return -ERANGE;
    if (total > 9.2e12)
        return -EINVAL;
    *ret = (uint64_t)total;
    return 0;
}

int sw_cfg_duration_ms(const sw_params_t *p, const char *name, uint64_t *ret, char *err,
                       size_t errlen)
{
    sw_param_t v;
    int r;

    if (!hc_find(p, name, sw_order_meta, &v))
        return 0;
    if ((r = hc_go_duration(v.value, v.len, ret)) == 0)
        return 1;
    if (r == -ERANGE)
        return hc_bad(&v, "is negative: a duration cannot be negative", err, errlen);
    /* else whole milliseconds */
    char buf[32], *end;
    if (v.len >= sizeof buf)
        return hc_bad(&v, "is not a duration (e.g. '30s', '5m') or a number of milliseconds", err,
                      errlen);
    memcpy(buf, v.value, v.len);
    buf[v.len] = '\0';
    errno = 0;
    long long ms = strtoll(buf, &end, 10);
    if (end == buf || *end || errno || isspace((unsigned char)buf[0]))
        return hc_bad(&v, "is not a duration (e.g. '30s', '5m') or a number of milliseconds", err,
                      errlen);
    if (ms < 0)
        return hc_bad(&v, "is negative: a duration cannot be negative", err, errlen);
    *ret = (uint64_t)ms;
    return 1;
}

int sw_cfg_enum(const sw_params_t *p, const char *name, const char *const *values, int *ret,
                char *err, size_t errlen)
{
    sw_param_t v;
    char all[256] = "";

    if (!hc_find(p, name, sw_order_meta, &v))
        return 0;
    for (int i = 0; values[i]; i++) {
        if (strlen(values[i]) == v.len && memcmp(values[i], v.value, v.len) == 0) {
            *ret = i;
            return 1;
        }
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? ", " : "", values[i]);
    }
    char what[300];
    snprintf(what, sizeof what, "must be one of [%s]", all);
    return hc_bad(&v, what, err, errlen);
}

void sw_kvs_free(sw_kvs_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].key);
        if (m->v[i].value)
            explicit_bzero(m->v[i].value, strlen(m->v[i].value));
        free(m->v[i].value);
    }
    free(m->v);
    memset(m, 0, sizeof *m);
}

static void hc_trim(const char **s, size_t *n)
{
    while (*n > 0 && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static int hc_map_put(sw_kvs_t *m, const char *k, size_t kl, const char *v, size_t vl)
{
    char *val = hc_dup(v, vl);

    if (!val)
        return -ENOMEM;
    for (size_t i = 0; i < m->n; i++)
        if (strlen(m->v[i].key) == kl && memcmp(m->v[i].key, k, kl) == 0) {
            free(m->v[i].value);
            m->v[i].value = val;
            return 0;
        }
    sw_kv_t *nv = realloc(m->v, (m->n + 1) * sizeof *nv);
    if (!nv || !(nv[m->n].key = hc_dup(k, kl))) {
        if (nv)
            m->v = nv;
        free(val);
        return -ENOMEM;
    }
    nv[m->n].value = val;
    m->v = nv;
    m->n++;
    return 0;
}

int sw_cfg_map(const sw_params_t *p, const char *name, sw_kvs_t *ret, char *err, size_t errlen)
{
    sw_param_t v;
    sw_kvs_t m = {0};
    const char *s, *end;

    if (!hc_find(p, name, sw_order_meta, &v))
        return 0;
    for (s = v.value, end = v.value + v.len;;) {
        const char *c = memchr(s, ',', (size_t)(end - s));
        const char *e = s;
        size_t n = (size_t)((c ? c : end) - s);
        hc_trim(&e, &n);
        const char *eq = memchr(e, '=', n);
        if (!eq || memchr(eq + 1, '=', n - (size_t)(eq - e) - 1)) {
            sw_kvs_free(&m);
            sw_param_t bad = {.name = v.name, .value = e, .len = n, .src = v.src};
            return hc_bad(&bad, "is not in the format key=value", err, errlen);
        }
        const char *k = e, *val = eq + 1;
        size_t kl = (size_t)(eq - e), vl = n - kl - 1;
        hc_trim(&k, &kl);
        hc_trim(&val, &vl);
        if (hc_map_put(&m, k, kl, val, vl) < 0) {
            sw_kvs_free(&m);
            return -ENOMEM;
        }
        if (!c)
            break;
        s = c + 1;
    }
    *ret = m;
    return 1;
}

/* ---- the auth block ------------------------------------------------------------------------ */

static const char *const hc_modes[] = {"apiKey", "basic", "tls", "bearer", "custom", "oauth"};

static int hc_auth_modes(const sw_params_t *p, sw_http_auth_t *a, char *err, size_t errlen)
{
    static const char *const names[] = {"authModes", "authMode", NULL};
    sw_param_t v;
    const char *s, *end;
    int exclusive = 0;

    if (sw_param_find(p, names, sw_order_meta_auth, &v) != 1)
        return 0;
    for (s = v.value, end = v.value + v.len;;) {
        const char *c = memchr(s, ',', (size_t)(end - s));
        const char *e = s;
        size_t n = (size_t)((c ? c : end) - s), i;
        hc_trim(&e, &n);
        for (i = 0; i < 6; i++)
            if (strlen(hc_modes[i]) == n && memcmp(hc_modes[i], e, n) == 0)
                break;
        if (i == 6)
            return hc_bad(&v, "must be one of [apiKey basic tls bearer custom oauth]", err, errlen);
        if ((1u << i) & (SW_AUTH_BEARER | SW_AUTH_BASIC | SW_AUTH_OAUTH))
            exclusive++;
        a->modes |= 1u << i;
        if (!c)
            break;
        s = c + 1;
    }
    if (exclusive > 1)
        return hc_bad(&v, "must contain only one of [bearer basic oauth]", err, errlen);
    return 0;
}

static int hc_auth_strings(const sw_params_t *p, sw_http_auth_t *a, char *err, size_t errlen)
{
    const struct {
        const char *name;
        const sw_src_t *order;
        char **dst;
    } f[] = {
        {"username", sw_order_auth, &a->username},
        {"password", sw_order_auth, &a->password},
        {"cert", sw_order_auth, &a->cert},
        {"key", sw_order_auth, &a->key},
        {"ca", sw_order_auth, &a->ca},
        {"customAuthHeader", sw_order_auth, &a->custom_header},
        {"customAuthValue", sw_order_auth, &a->custom_value},
        {"apiKey", sw_order_meta_auth, &a->api_key},
        {"keyParamName", sw_order_meta_auth, &a->key_param_name},
    };
    int r;

    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if ((r = sw_cfg_str(p, f[i].name, f[i].order, false, f[i].dst, err, errlen)) < 0)
            return r;
    if ((r = sw_cfg_str(p, "bearerToken", sw_order_auth, false, &a->bearer_token, err, errlen)) < 0)
        return r;
    if (r == 0 &&
        (r = sw_cfg_str(p, "token", sw_order_auth, false, &a->bearer_token, err, errlen)) < 0)
        return r;
    return 0;
}

static int hc_auth_method(const sw_params_t *p, sw_http_auth_t *a, char *err, size_t errlen)
{
    static const char *const names[] = {"method", NULL};
    sw_param_t v;

    if (sw_param_find(p, names, sw_order_meta_auth, &v) != 1)
        return 0; /* default header */
    if (v.len == 5 && memcmp(v.value, "query", 5) == 0)
        a->api_key_query = true;
    else if (!(v.len == 6 && memcmp(v.value, "header", 6) == 0))
        return hc_bad(&v, "must be one of [header query]", err, errlen);
    return 0;
}

static bool hc_oauth_has(const sw_params_t *p, const char *name)
{
    const char *names[] = {name, NULL};
    sw_param_t v;
    return sw_param_find(p, names, sw_order_auth, &v) == 1;
}

/* Config.Validate, in its order. */
static int hc_auth_validate(const sw_params_t *p, const sw_http_auth_t *a, char *err, size_t errlen)
{
    const char *why = NULL;

    if ((a->modes & SW_AUTH_BEARER) && !a->bearer_token)
        why = "authentication.bearerToken: bearer token=<empty> is required when bearer auth is "
              "enabled";
    else if ((a->modes & SW_AUTH_BASIC) && !a->username)
        why = "authentication.username: username=<empty> is required when basic auth is enabled";
    else if ((a->modes & SW_AUTH_TLS) && (!a->cert || !a->key))
        why = "authentication.cert/key: cert and key are required when tls auth is enabled";
    else if ((a->modes & SW_AUTH_OAUTH) &&
             (!hc_oauth_has(p, "oauthTokenURI") || !hc_oauth_has(p, "clientID")))
        why = "authentication.oauthTokenURI/clientID: oauthTokenURI and clientID are required "
              "when oauth is enabled";
    else if ((a->modes & SW_AUTH_CUSTOM) && (!a->custom_header || !a->custom_value))
        why = "authentication.customAuthHeader/customAuthValue: customAuthHeader and "
              "customAuthValue are required when custom auth is enabled";
    else if ((a->modes & SW_AUTH_APIKEY) && !a->api_key)
        why = "authentication.apiKey: apiKey is required when apiKey auth is enabled";
    if (why) {
        snprintf(err, errlen, "%s", why);
        return -EINVAL;
    }
    return 0;
}

int sw_http_auth_parse(const sw_params_t *p, sw_http_auth_t *ret, char *err, size_t errlen)
{
    sw_http_auth_t a = {0};
    int r;

    if ((r = hc_auth_modes(p, &a, err, errlen)) < 0 ||
        (r = hc_auth_strings(p, &a, err, errlen)) < 0 ||
        (r = hc_auth_method(p, &a, err, errlen)) < 0 ||
        (a.modes && (r = hc_auth_validate(p, &a, err, errlen)) < 0)) {
        sw_http_auth_free(&a);
        if (r == -ENOMEM)
            snprintf(err, errlen, "out of memory");
        return r;
    }
    *ret = a;
    return 0;
}

void sw_http_auth_free(sw_http_auth_t *a)
{
    char **all[] = {
        &a->bearer_token, &a->username,      &a->password,     &a->cert,    &a->key,
        &a->ca,           &a->custom_header, &a->custom_value, &a->api_key, &a->key_param_name};

    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sw_secret_str_free(*all[i]);
    memset(a, 0, sizeof *a);
}

char *sw_http_basic_value(const char *username, const char *password)
{
    sw_buf_t b = {0};
    char *enc, *value;

    if (sw_buf_addf(&b, "%s:%s", username, password ? password : "") < 0)
        return NULL;
    enc = base64_encode(b.p, b.len);
    sw_buf_free(&b);
    if (!enc || asprintf(&value, "Basic %s", enc) < 0)
        value = NULL;
    sw_secret_str_free(enc);
    return value;
}

/* ---- Kubernetes quantities ----------------------------------------------------------------- */

int sw_quantity_parse(const char *s, size_t n, double *ret)
{
    static const struct {
        const char *sfx;
        int base, exp;
    } sfx[] = {{"Ki", 2, 10}, {"Mi", 2, 20}, {"Gi", 2, 30}, {"Ti", 2, 40}, {"Pi", 2, 50},
               {"Ei", 2, 60}, {"n", 10, -9}, {"u", 10, -6}, {"m", 10, -3}, {"k", 10, 3},
               {"M", 10, 6},  {"G", 10, 9},  {"T", 10, 12}, {"P", 10, 15}, {"E", 10, 18}};
    size_t i = 0, digits = 0;
    long double mant = 0, frac = 1;
    bool neg = false;

    if (n == 0)
        return -EINVAL;
    if (s[0] == '+' || s[0] == '-')
        neg = s[i++] == '-';
    for (; i < n && isdigit((unsigned char)s[i]); i++, digits++)
        mant = mant * 10 + (s[i] - '0');
    if (i < n && s[i] == '.')
        for (i++; i < n && isdigit((unsigned char)s[i]); i++, digits++) {
            frac /= 10;
            mant += (s[i] - '0') * frac;
        }
    if (digits == 0)
        return -EINVAL;
    const char *rest = s + i;
    size_t rl = n - i;
    long double v = mant;
    if (rl == 0) {
        /* no suffix */
    } else if ((rest[0] == 'e' || rest[0] == 'E') && rl > 1) {
        size_t j = 1;
        bool eneg = false;
        long e = 0;
        if (rest[j] == '+' || rest[j] == '-')
            eneg = rest[j++] == '-';
        if (j >= rl)
            return -EINVAL;
        for (; j < rl; j++) {
            if (!isdigit((unsigned char)rest[j]) || e > 100000)
                return -EINVAL;
            e = e * 10 + (rest[j] - '0');
        }
        v = mant * powl(10, eneg ? -e : e);
    } else {
        size_t k;
        for (k = 0; k < sizeof sfx / sizeof sfx[0]; k++)
            if (strlen(sfx[k].sfx) == rl && memcmp(sfx[k].sfx, rest, rl) == 0)
                break;
        if (k == sizeof sfx / sizeof sfx[0])
            return -EINVAL;
        v = mant * powl(sfx[k].base, sfx[k].exp);
    }
    *ret = (double)(neg ? -v : v);
    return 0;
}
