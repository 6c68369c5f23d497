/*
 * prometheus: the `prometheus` scaler, as KEDA's prometheus_scaler.go. Runs in the prometheus
 * workers.
 *
 * A poll is one GET {serverAddress}/api/v1/query?query=<QueryEscape>&time=<now, RFC 3339 UTC>,
 * then &namespace=<namespace> (as written) and each queryParameters pair (escaped); headers are
 * customHeaders, then the auth block's: bearer (Authorization: Bearer), else basic, else custom
 * (customAuthHeader: customAuthValue) -- one of them, in that order, as KEDA's switch. TLS:
 * with an auth mode and a `ca` or mode tls, KEDA builds its transport with verification on
 * whatever unsafeSsl says (its CreateHTTPRoundTripper passes false); otherwise unsafeSsl holds.
 *
 * The value (KEDA's ExecutePromQuery): a non-2xx status is an error; no series, or a series
 * with an empty value list, is 0 with ignoreNullValues (default true) and an error without;
 * more than one series is an error; value[1] is parsed as Go's ParseFloat; NaN and +-Inf are 0
 * with ignoreNullValues, else an error; a null value[1] is -1, as KEDA returns it. Activation and
 * target are the watcher's (the table's trigger config).
 *
 * Where ckeda differs, on purpose: Azure/GCP/AWS managed Prometheus (pod identity) is not
 * supported; `timeout` shortens a poll but cannot lengthen it past the trigger's timeout; the
 * serverAddress must be an http(s) URL at parse time (KEDA fails at each poll instead).
 */
#include "scaleworker/scalers/httpscalers.h"

#include "shm/shm.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PR_ERR_MAX 1024
#define PR_HDR_MAX 64

/* ---- configuration ------------------------------------------------------------------------- */

void sw_prom_cfg_free(sw_prom_cfg_t *c)
{
    free(c->server_address);
    free(c->query);
    free(c->namespace_);
    free(c->aws_region);
    free(c->identity_owner);
    sw_kvs_free(&c->query_parameters);
    sw_kvs_free(&c->custom_headers);
    sw_http_auth_free(&c->auth);
    memset(c, 0, sizeof *c);
}

int sw_prom_cfg_parse(const sw_params_t *p, sw_prom_cfg_t *ret, char *err, size_t errlen)
{
    sw_prom_cfg_t c = {.ignore_null_values = true};
    int r;

    /* the fields in the order of KEDA's prometheusMetadata */
    if ((r = sw_http_auth_parse(p, &c.auth, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "serverAddress", sw_order_meta, true, &c.server_address, err, errlen)) <
            0 ||
        (r = sw_cfg_str(p, "query", sw_order_meta, true, &c.query, err, errlen)) < 0 ||
        (r = sw_cfg_map(p, "queryParameters", &c.query_parameters, err, errlen)) < 0 ||
        (r = sw_cfg_float(p, "threshold", true, &c.threshold, err, errlen)) < 0 ||
        (r = sw_cfg_float(p, "activationThreshold", false, &c.activation_threshold, err, errlen)) <
            0 ||
        (r = sw_cfg_str(p, "namespace", sw_order_meta, false, &c.namespace_, err, errlen)) < 0 ||
        (r = sw_cfg_map(p, "customHeaders", &c.custom_headers, err, errlen)) < 0 ||
        (r = sw_cfg_bool(p, "ignoreNullValues", &c.ignore_null_values, err, errlen)) < 0 ||
        (r = sw_cfg_bool(p, "unsafeSsl", &c.unsafe_ssl, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "awsRegion", sw_order_meta_auth, false, &c.aws_region, err, errlen)) <
            0 ||
        (r = sw_cfg_duration_ms(p, "timeout", &c.timeout_ms, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "identityOwner", sw_order_meta, false, &c.identity_owner, err, errlen)) <
            0) {
        if (r == -ENOMEM)
            snprintf(err, errlen, "out of memory");
        sw_prom_cfg_free(&c);
        return r;
    }
    *ret = c;
    return 0;
}

/* ---- the query ----------------------------------------------------------------------------- */

char *sw_prom_url(const sw_prom_cfg_t *c, long long now_s)
{
    sw_buf_t b = {0};
    char when[32];
    time_t t = (time_t)now_s;
    struct tm tm;
    int r;

    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    r = sw_buf_addf(&b, "%s/api/v1/query?query=", c->server_address);
    if (r == 0)
        r = sw_buf_query_escape(&b, c->query, strlen(c->query));
    if (r == 0)
        r = sw_buf_addf(&b, "&time=%s", when);
    if (r == 0 && c->namespace_)
        r = sw_buf_addf(&b, "&namespace=%s", c->namespace_);
    for (size_t i = 0; r == 0 && i < c->query_parameters.n; i++) {
        const sw_kv_t *kv = &c->query_parameters.v[i];
        if ((r = sw_buf_add(&b, "&", 1)) == 0 &&
            (r = sw_buf_query_escape(&b, kv->key, strlen(kv->key))) == 0 &&
            (r = sw_buf_add(&b, "=", 1)) == 0)
            r = sw_buf_query_escape(&b, kv->value, strlen(kv->value));
    }
    if (r < 0) {
        sw_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* json.Unmarshal into KEDA's promQueryResult: a field of the wrong JSON type is an error. */
static bool pr_type_ok(const cJSON *v, int want)
{
    return !v || cJSON_IsNull(v) || (v->type & 0xff) == want;
}

static int pr_fail(char *err, size_t errlen, const char *fmt, const char *a)
{
    snprintf(err, errlen, fmt, a);
    return -EINVAL;
}

/* Go's %f of a float64 that is NaN or an infinity. */
static const char *pr_go_special(double v)
{
    return isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
}

static int pr_series_value(const cJSON *value, const sw_prom_cfg_t *c, double *ret, char *err,
                           size_t errlen)
{
    int n = cJSON_GetArraySize(value);
    const cJSON *v;
    double d = -1;

    if (n == 0) {
        if (c->ignore_null_values) {
            *ret = 0;
            return 0;
        }
        return pr_fail(err, errlen,
                       "prometheus metrics 'prometheus' target may be lost, the value list is "
                       "empty%s",
                       "");
    }
    if (n < 2)
        return pr_fail(err, errlen, "prometheus query %s didn't return enough values", c->query);
    v = cJSON_GetArrayItem(value, 1);
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (sw_go_parse_float(s, strlen(s), &d) < 0) {
            snprintf(err, errlen, "strconv.ParseFloat: parsing \"%.64s\": %s", s,
                     strlen(s) > 0 && strspn(s, "+-.0123456789eE") == strlen(s)
                         ? "value out of range"
                         : "invalid syntax");
            return -EINVAL;
        }
    } else if (!cJSON_IsNull(v)) {
        return pr_fail(err, errlen, "prometheus query %s returned a value that is not a string",
                       c->query);
    }
    if (isinf(d) || isnan(d)) {
        if (c->ignore_null_values) {
            *ret = 0;
            return 0;
        }
        return pr_fail(err, errlen, "prometheus query returns %s", pr_go_special(d));
    }
    *ret = d;
    return 0;
}

int sw_prom_value(const char *body, size_t len, const sw_prom_cfg_t *c, double *ret, char *err,
                  size_t errlen)
{
    cJSON *doc = cJSON_ParseWithLength(body, len);
    const cJSON *data, *result, *el;
    int r = -EINVAL, n;

    if (!doc)
        return pr_fail(err, errlen, "prometheus query api returned a body that is not JSON%s", "");
    if (!pr_type_ok(doc, cJSON_Object))
        goto bad_type;
    data = cJSON_IsObject(doc) ? cJSON_GetObjectItem(doc, "data") : NULL;
    if (!pr_type_ok(data, cJSON_Object))
        goto bad_type;
    result = cJSON_IsObject(data) ? cJSON_GetObjectItem(data, "result") : NULL;
    if (!pr_type_ok(result, cJSON_Array))
        goto bad_type;
    const cJSON *series = cJSON_IsArray(result) ? result : NULL;
    cJSON_ArrayForEach(el, series)
    {
        if (!pr_type_ok(el, cJSON_Object))
            goto bad_type;
        if (cJSON_IsObject(el) && (!pr_type_ok(cJSON_GetObjectItem(el, "value"), cJSON_Array) ||
                                   !pr_type_ok(cJSON_GetObjectItem(el, "metric"), cJSON_Object)))
            goto bad_type;
    }
    n = cJSON_IsArray(result) ? cJSON_GetArraySize(result) : 0;
    if (n == 0) {
        if (c->ignore_null_values) {
            *ret = 0;
            r = 0;
        } else {
            r = pr_fail(err, errlen,
                        "prometheus metrics 'prometheus' target may be lost, the result is "
                        "empty%s",
                        "");
        }
    } else if (n > 1) {
        r = pr_fail(err, errlen, "prometheus query %s returned multiple elements", c->query);
    } else {
        el = cJSON_GetArrayItem(result, 0);
        r = pr_series_value(cJSON_IsObject(el) ? cJSON_GetObjectItem(el, "value") : NULL, c, ret,
                            err, errlen);
    }
    cJSON_Delete(doc);
    return r;
bad_type:
    cJSON_Delete(doc);
    return pr_fail(err, errlen,
                   "prometheus query api returned JSON that does not have the shape of a query "
                   "result%s",
                   "");
}

/* ---- the scaler ---------------------------------------------------------------------------- */

typedef struct pr_state {
    sw_prom_cfg_t cfg;
    sw_http_t *http;
    sw_poll_t *poll;
    char *basic; /* "Basic <base64>" for basic auth; wiped when freed */
    char *bearer;
} pr_state_t;

/* Adds or replaces (Header.Set) a header. */
static void pr_header_set(sw_http_header_t *h, size_t *n, const char *name, const char *value)
{
    for (size_t i = 0; i < *n; i++)
        if (strcasecmp(h[i].name, name) == 0) {
            h[i].value = value;
            return;
        }
    if (*n < PR_HDR_MAX)
        h[(*n)++] = (sw_http_header_t){name, value};
}

static size_t pr_headers(const pr_state_t *st, sw_http_header_t *h)
{
    const sw_prom_cfg_t *c = &st->cfg;
    size_t n = 0;

    for (size_t i = 0; i < c->custom_headers.n && n < PR_HDR_MAX; i++)
        h[n++] = (sw_http_header_t){c->custom_headers.v[i].key, c->custom_headers.v[i].value};
    if (c->auth.modes & SW_AUTH_BEARER)
        pr_header_set(h, &n, "Authorization", st->bearer);
    else if (c->auth.modes & SW_AUTH_BASIC)
        pr_header_set(h, &n, "Authorization", st->basic);
    else if (c->auth.modes & SW_AUTH_CUSTOM)
        pr_header_set(h, &n, c->auth.custom_header, c->auth.custom_value);
    return n;
}

static void pr_done(void *arg, int e, const sw_http_response_t *resp, const char *errtext)
{
    pr_state_t *st = arg;
    sw_poll_t *p = st->poll;
    char err[PR_ERR_MAX];
    double v;

    st->poll = NULL;
    if (!p)
        return;
    if (e) {
        sw_poll_done(p, false, 0, errtext);
        return;
    }
    if (resp->status < 200 || resp->status > 299) {
        if (resp->status == 401 || resp->status == 403)
            sw_poll_auth_rejected(p);
        snprintf(err, sizeof err, "prometheus query api returned error. status: %d", resp->status);
        sw_poll_done(p, false, 0, err);
        return;
    }
    if (sw_prom_value(resp->body, resp->body_len, &st->cfg, &v, err, sizeof err) < 0)
        sw_poll_done(p, false, 0, err);
    else
        sw_poll_done(p, true, v, NULL);
}

static void pr_poll(sw_poll_t *p, void *state)
{
    pr_state_t *st = state;
    sw_http_header_t h[PR_HDR_MAX];
    char err[PR_ERR_MAX];
    char *url = sw_prom_url(&st->cfg, (long long)(shm_now_real_ms() / 1000));
    sw_url_t u;
    int r;

    if (!url) {
        sw_poll_done(p, false, 0, "out of memory");
        return;
    }
    r = sw_url_parse(url, strlen(url), &u, err, sizeof err);
    explicit_bzero(url, strlen(url));
    free(url);
    if (r < 0) {
        char msg[PR_ERR_MAX + 32];
        snprintf(msg, sizeof msg, "serverAddress: %s", err);
        sw_poll_done(p, false, 0, msg);
        return;
    }
    st->poll = p;
    r = sw_http_request(st->http, "GET", &u, h, pr_headers(st, h), NULL, 0,
                        sw_poll_own_deadline_ms(p, st->cfg.timeout_ms), pr_done, st, err,
                        sizeof err);
    sw_url_free(&u);
    if (r < 0) {
        st->poll = NULL;
        sw_poll_done(p, false, 0, err);
    }
}

static void pr_cancel(void *state, char *why, size_t len)
{
    pr_state_t *st = state;

    st->poll = NULL;
    sw_http_cancel(st->http, why, len);
}

static void pr_close(void *state)
{
    pr_state_t *st = state;

    if (!st)
        return;
    sw_http_free(st->http);
    sw_prom_cfg_free(&st->cfg);
    sw_secret_str_free(st->basic);
    sw_secret_str_free(st->bearer);
    free(st);
}

/* "Basic base64(user:password)" and "Bearer <token>". */
static int pr_auth_values(pr_state_t *st)
{
    const sw_http_auth_t *a = &st->cfg.auth;

    if (a->bearer_token && asprintf(&st->bearer, "Bearer %s", a->bearer_token) < 0) {
        st->bearer = NULL;
        return -ENOMEM;
    }
    if (a->username && !(st->basic = sw_http_basic_value(a->username, a->password)))
        return -ENOMEM;
    return 0;
}

static int pr_parse(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    pr_state_t *st = calloc(1, sizeof *st);
    sw_http_tls_opts_t tls = {0};
    sw_url_t u;
    int r;

    if (!st)
        return -ENOMEM;
    if ((r = sw_prom_cfg_parse(params, &st->cfg, err, errlen)) < 0) {
        free(st);
        return r;
    }
    const sw_prom_cfg_t *c = &st->cfg;
    if ((r = sw_url_parse(c->server_address, strlen(c->server_address), &u, err, errlen)) < 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen, "metadata.serverAddress: %s", why);
        pr_close(st);
        return -EINVAL;
    }
    sw_url_free(&u);
    if (c->auth.modes && (c->auth.ca || (c->auth.modes & SW_AUTH_TLS))) {
        tls.ca_pem = c->auth.ca;
        if (c->auth.cert && c->auth.key) {
            tls.cert_pem = c->auth.cert;
            tls.key_pem = c->auth.key;
        }
    } else {
        tls.unsafe_ssl = c->unsafe_ssl;
    }
    if (pr_auth_values(st) < 0 || !(st->http = sw_http_new(&tls, err, errlen))) {
        if (!st->http && !err[0])
            snprintf(err, errlen, "out of memory");
        pr_close(st);
        return -EINVAL;
    }
    *ret = st;
    return 0;
}

const sw_scaler_t sw_scaler_prometheus = {
    .name = "prometheus",
    .parse = pr_parse,
    .poll = pr_poll,
    .cancel = pr_cancel,
    .close = pr_close,
};
