/*
 * metrics_api: the `metrics-api` scaler, as KEDA's metrics_api_scaler.go. Runs in the
 * metrics-api workers.
 *
 * A poll is one GET of `url`; only 200 is an answer. Authentication (authModes): apiKey in the
 * header `X-API-KEY` (or keyParamName), or with method=query in the query parameter `api_key`
 * (or keyParamName), the query re-encoded sorted by key as Go's url.Values.Encode; basic
 * (Authorization: Basic); bearer (Authorization: Bearer); tls (client certificate, `ca`,
 * honouring unsafeSsl). A URL's userinfo is sent as basic auth, as Go's client does. The value
 * comes from the body by `format` and `valueLocation` (metrics_api_value.c).
 *
 * The url may carry credentials (userinfo, query keys): it is never in an error text, a log
 * line or the table; messages name the request by scheme, host, port and path only.
 *
 * Where ckeda differs, on purpose and with a clear configuration error:
 * aggregateFromKubeServiceEndpoints (needs EndpointSlices from the API server) is not supported
 * yet; targetValue is required even for a scalingModifiers source; `timeout` shortens a poll but
 * cannot lengthen it past the trigger's timeout.
 */
#include "scaleworker/scalers/httpscalers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MA_ERR_MAX 1024

/* ---- configuration ------------------------------------------------------------------------- */

void sw_mapi_cfg_free(sw_mapi_cfg_t *c)
{
    if (c->url)
        explicit_bzero(c->url, strlen(c->url));
    free(c->url);
    free(c->value_location);
    sw_http_auth_free(&c->auth);
    memset(c, 0, sizeof *c);
}

int sw_mapi_cfg_parse(const sw_params_t *p, sw_mapi_cfg_t *ret, char *err, size_t errlen)
{
    static const char *const formats[] = {"prometheus", "json", "xml", "yaml", NULL};
    static const char *const aggs[] = {"average", "sum", "max", "min", NULL};
    sw_mapi_cfg_t c = {.format = SW_MAPI_JSON};
    bool aggregate = false;
    int fmt = SW_MAPI_JSON, r;

    /* the fields in the order of KEDA's metricsAPIScalerMetadata */
    if ((r = sw_cfg_float(p, "targetValue", false, &c.target_value, err, errlen)) < 0 ||
        (r = sw_cfg_float(p, "activationTargetValue", false, &c.activation_target_value, err,
                          errlen)) < 0 ||
        (r = sw_cfg_str(p, "url", sw_order_meta, true, &c.url, err, errlen)) < 0 ||
        (r = sw_cfg_enum(p, "format", formats, &fmt, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "valueLocation", sw_order_meta, true, &c.value_location, err, errlen)) <
            0 ||
        (r = sw_cfg_bool(p, "unsafeSsl", &c.unsafe_ssl, err, errlen)) < 0 ||
        (r = sw_cfg_bool(p, "aggregateFromKubeServiceEndpoints", &aggregate, err, errlen)) < 0 ||
        (r = sw_cfg_enum(p, "aggregationType", aggs, &c.aggregation_type, err, errlen)) < 0 ||
        (r = sw_cfg_duration_ms(p, "timeout", &c.timeout_ms, err, errlen)) < 0 ||
        (r = sw_http_auth_parse(p, &c.auth, err, errlen)) < 0)
        goto fail;
    c.format = (sw_mapi_format_t)fmt;
    r = -EINVAL;
    if (c.target_value == 0) {
        snprintf(err, errlen, "metadata.targetValue: no targetValue given in metadata");
        goto fail;
    }
    if (aggregate) {
        snprintf(err, errlen,
                 "metadata.aggregateFromKubeServiceEndpoints: aggregating over a Service's "
                 "endpoints is not supported by ckeda yet");
        goto fail;
    }
    if (c.format == SW_MAPI_JSON && sw_mapi_location_check(c.value_location, err, errlen) < 0)
        goto fail;
    *ret = c;
    return 0;
fail:
    if (r == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    sw_mapi_cfg_free(&c);
    return r;
}

/* ---- the request --------------------------------------------------------------------------- */

typedef struct ma_pair {
    char *k, *v;
} ma_pair_t;

static int ma_pair_cmp(const void *a, const void *b)
{
    const ma_pair_t *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : (x < y ? -1 : 1); /* stable: values of one key keep their order */
}

/* Go's url.Query(), Set(name, value), Encode(): pairs that do not decode are dropped. */
static int ma_query_set(sw_url_t *u, const char *name, const char *value)
{
    size_t n = 0, cap = 8;
    ma_pair_t *pairs = calloc(cap, sizeof *pairs);
    char *q = u->query ? strdup(u->query) : NULL, *save = NULL, *tok;
    sw_buf_t b = {0};
    int r = -ENOMEM;

    if (!pairs || (u->query && !q))
        goto out;
    for (tok = q ? strtok_r(q, "&", &save) : NULL; tok; tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        if (strchr(tok, ';'))
            continue;
        if (eq)
            *eq = '\0';
        if (sw_url_unescape(tok, true) < 0 || (eq && sw_url_unescape(eq + 1, true) < 0) ||
            strcmp(tok, name) == 0)
            continue;
        if (n + 1 >= cap) {
            ma_pair_t *np = realloc(pairs, 2 * cap * sizeof *np);
            if (!np)
                goto out;
            pairs = np;
            cap *= 2;
        }
        pairs[n++] = (ma_pair_t){tok, eq ? eq + 1 : ""};
    }
    pairs[n++] = (ma_pair_t){(char *)name, (char *)value};
    qsort(pairs, n, sizeof *pairs, ma_pair_cmp);
    r = 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (i)
            r = sw_buf_add(&b, "&", 1);
        if (r == 0)
            r = sw_buf_query_escape(&b, pairs[i].k, strlen(pairs[i].k));
        if (r == 0)
            r = sw_buf_add(&b, "=", 1);
        if (r == 0)
            r = sw_buf_query_escape(&b, pairs[i].v, strlen(pairs[i].v));
    }
    if (r == 0)
        r = sw_url_set_query(u, b.p ? b.p : "");
out:
    sw_buf_free(&b);
    if (q) {
        explicit_bzero(q, strlen(q));
        free(q);
    }
    free(pairs);
    return r;
}

/* ---- the scaler ---------------------------------------------------------------------------- */

typedef struct ma_state {
    sw_mapi_cfg_t cfg;
    sw_url_t url; /* with the api key in its query when method=query */
    sw_http_t *http;
    sw_poll_t *poll;
    char *basic, *bearer; /* header values; wiped when freed */
    sw_http_header_t headers[3];
    size_t nheaders;
} ma_state_t;

static void ma_done(void *arg, int e, const sw_http_response_t *resp, const char *errtext)
{
    ma_state_t *st = arg;
    sw_poll_t *p = st->poll;
    char err[MA_ERR_MAX], msg[MA_ERR_MAX + 64];
    double v;

    st->poll = NULL;
    if (!p)
        return;
    if (e) {
        snprintf(msg, sizeof msg, "error requesting metrics endpoint: %s", errtext);
        sw_poll_done(p, false, 0, msg);
        return;
    }
    if (resp->status != 200) {
        if (resp->status == 401 || resp->status == 403)
            sw_poll_auth_rejected(p);
        snprintf(msg, sizeof msg, "error requesting metrics endpoint: %s: api returned %d",
                 st->url.path[0] ? st->url.path : "/", resp->status);
        sw_poll_done(p, false, 0, msg);
        return;
    }
    if (sw_mapi_value(resp->body, resp->body_len, st->cfg.value_location, st->cfg.format, &v, err,
                      sizeof err) < 0) {
        snprintf(msg, sizeof msg, "error requesting metrics endpoint: %s", err);
        sw_poll_done(p, false, 0, msg);
        return;
    }
    sw_poll_done(p, true, v, NULL);
}

static void ma_poll(sw_poll_t *p, void *state)
{
    ma_state_t *st = state;
    char err[MA_ERR_MAX], msg[MA_ERR_MAX + 64];
    int r;

    st->poll = p;
    r = sw_http_request(st->http, "GET", &st->url, st->headers, st->nheaders, NULL, 0,
                        sw_poll_own_deadline_ms(p, st->cfg.timeout_ms), ma_done, st, err,
                        sizeof err);
    if (r < 0) {
        st->poll = NULL;
        snprintf(msg, sizeof msg, "error requesting metrics endpoint: %s", err);
        sw_poll_done(p, false, 0, msg);
    }
}

static void ma_cancel(void *state, char *why, size_t len)
{
    ma_state_t *st = state;

    st->poll = NULL;
    sw_http_cancel(st->http, why, len);
}

static void ma_close(void *state)
{
    ma_state_t *st = state;

    if (!st)
        return;
    sw_http_free(st->http);
    sw_url_free(&st->url);
    sw_mapi_cfg_free(&st->cfg);
    sw_secret_str_free(st->basic);
    sw_secret_str_free(st->bearer);
    free(st);
}

/* The headers of every request, as KEDA's getMetricAPIServerRequest adds them. */
static int ma_headers(ma_state_t *st)
{
    const sw_http_auth_t *a = &st->cfg.auth;

    if ((a->modes & SW_AUTH_APIKEY) && !a->api_key_query)
        st->headers[st->nheaders++] =
            (sw_http_header_t){a->key_param_name ? a->key_param_name : "X-API-KEY", a->api_key};
    if (a->modes & SW_AUTH_BASIC) {
        if (!(st->basic = sw_http_basic_value(a->username, a->password)))
            return -ENOMEM;
        st->headers[st->nheaders++] = (sw_http_header_t){"Authorization", st->basic};
    }
    if (a->modes & SW_AUTH_BEARER) {
        if (asprintf(&st->bearer, "Bearer %s", a->bearer_token) < 0) {
            st->bearer = NULL;
            return -ENOMEM;
        }
        st->headers[st->nheaders++] = (sw_http_header_t){"Authorization", st->bearer};
    }
    return 0;
}

static int ma_parse(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    ma_state_t *st = calloc(1, sizeof *st);
    sw_http_tls_opts_t tls = {0};
    char why[256];
    int r;

    if (!st)
        return -ENOMEM;
    if ((r = sw_mapi_cfg_parse(params, &st->cfg, err, errlen)) < 0) {
        free(st);
        return r;
    }
    const sw_mapi_cfg_t *c = &st->cfg;
    if (sw_url_parse(c->url, strlen(c->url), &st->url, why, sizeof why) < 0) {
        snprintf(err, errlen, "metadata.url: %s", why);
        ma_close(st);
        return -EINVAL;
    }
    tls.unsafe_ssl = c->unsafe_ssl;
    if (c->auth.modes & SW_AUTH_TLS) {
        tls.ca_pem = c->auth.ca;
        tls.cert_pem = c->auth.cert;
        tls.key_pem = c->auth.key;
    }
    err[0] = '\0';
    if (((c->auth.modes & SW_AUTH_APIKEY) && c->auth.api_key_query &&
         ma_query_set(&st->url, c->auth.key_param_name ? c->auth.key_param_name : "api_key",
                      c->auth.api_key) < 0) ||
        ma_headers(st) < 0 || !(st->http = sw_http_new(&tls, err, errlen))) {
        if (!err[0])
            snprintf(err, errlen, "out of memory");
        ma_close(st);
        return -EINVAL;
    }
    *ret = st;
    return 0;
}

const sw_scaler_t sw_scaler_metrics_api = {
    .name = "metrics-api",
    .parse = ma_parse,
    .poll = ma_poll,
    .cancel = ma_cancel,
    .close = ma_close,
};
