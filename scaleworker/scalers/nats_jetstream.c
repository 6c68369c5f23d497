/*
 * nats_jetstream: the `nats-jetstream` scaler, as KEDA's nats_jetstream_scaler.go. Runs in the
 * nats-jetstream workers.
 *
 * Parameters (KEDA's natsJetStreamMetadata): natsServerMonitoringEndpoint (host:port, from the
 * authentication, then the metadata; required), account and accountID (the same sources; one
 * of them required; accountID defaults to account), stream and consumer (metadata, required),
 * lagThreshold (10), activationLagThreshold (0), useHttps (false).
 *
 * A poll is one GET http(s)://<endpoint>/jsz?acc=<accountID>&config=true&consumers=true on the
 * worker's HTTP client (one kept-alive connection per trigger). The body is decoded whatever
 * the status, as KEDA does; the value is num_pending + num_ack_pending of the consumer, found in
 * the accounts whose id is accountID or whose name is account. KEDA keeps the stream it last
 * saw and the consumer's leader between polls, and its errors depend on them ("stream not
 * found" once a consumer it had found is gone, else `consumer "c" not found in stream "s"`):
 * sw_nj_step() keeps the same state. Activation and target are the watcher's.
 *
 * Left out: clustered servers. When meta_cluster.cluster_size is above 1, KEDA asks /varz for
 * the cluster's nodes and polls the consumer's leader node's /jsz; ckeda reports an error
 * instead of a value that may come from a follower.
 */
#include "scaleworker/scalers/nats_jetstream.h"
#include "scaleworker/scalers/httpcfg.h"

#include "common/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NJ_ERR_MAX 1024

static const sw_src_t nj_auth_meta[] = {SW_SRC_AUTH, SW_SRC_METADATA, SW_SRC_END};

/* ---- parameters ---------------------------------------------------------------------------- */

/* An int64 as KEDA's typed config reads one (json.Unmarshal): a JSON number without fraction
 * or exponent, in range. *ret keeps its default when absent. */
static int nj_int(const sw_params_t *p, const char *name, int64_t *ret, char *err, size_t errlen)
{
    const char *names[] = {name, NULL};
    sw_param_t v;
    char buf[32], *end;

    if (sw_param_find(p, names, sw_order_meta, &v) != 1)
        return 0;
    if (v.len < sizeof buf && jsonu_is_number(v.value, v.len) && !memchr(v.value, '.', v.len) &&
        !memchr(v.value, 'e', v.len) && !memchr(v.value, 'E', v.len)) {
        memcpy(buf, v.value, v.len);
        buf[v.len] = '\0';
        errno = 0;
        long long n = strtoll(buf, &end, 10);
        if (errno != ERANGE && !*end) {
            *ret = n;
            return 1;
        }
    }
    snprintf(err, errlen, "metadata.%s: \"%.*s\" is not an integer", name,
             (int)(v.len > 64 ? 64 : v.len), v.value);
    return -EINVAL;
}

/* The /jsz URL as Go's url.URL{Scheme, Host, Path, RawQuery: url.Values.Encode()} writes it. */
static int nj_url(sw_nj_cfg_t *c, char *err, size_t errlen)
{
    sw_buf_t b = {0};

    if (strpbrk(c->endpoint, "/?#@ \t")) {
        snprintf(err, errlen, "natsServerMonitoringEndpoint: must be host:port");
        return -EINVAL;
    }
    if (sw_buf_addf(&b, "%s://%s/jsz?acc=", c->use_https ? "https" : "http", c->endpoint) < 0 ||
        sw_buf_query_escape(&b, c->account_id, strlen(c->account_id)) < 0 ||
        sw_buf_add(&b, "&config=true&consumers=true", 27) < 0 || sw_buf_add(&b, "", 1) < 0) {
        sw_buf_free(&b);
        return -ENOMEM;
    }
    c->url = b.p;
    return 0;
}

int sw_nj_cfg_parse(const sw_params_t *p, sw_nj_cfg_t *ret, char *err, size_t errlen)
{
    sw_nj_cfg_t c = {.lag_threshold = 10};
    int r;

    /* the fields in the order of KEDA's natsJetStreamMetadata */
    if ((r = sw_cfg_str(p, "account", nj_auth_meta, false, &c.account, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "accountID", nj_auth_meta, false, &c.account_id, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "stream", sw_order_meta, true, &c.stream, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "consumer", sw_order_meta, true, &c.consumer, err, errlen)) < 0 ||
        (r = nj_int(p, "lagThreshold", &c.lag_threshold, err, errlen)) < 0 ||
        (r = nj_int(p, "activationLagThreshold", &c.activation_lag_threshold, err, errlen)) < 0 ||
        (r = sw_cfg_bool(p, "useHttps", &c.use_https, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "natsServerMonitoringEndpoint", nj_auth_meta, true, &c.endpoint, err,
                        errlen)) < 0)
        goto fail;
    r = -ENOMEM;
    if (!c.account && !c.account_id) {
        snprintf(err, errlen, "metadata.account: no account name or id given");
        r = -EINVAL;
        goto fail;
    }
    if ((!c.account && !(c.account = strdup(""))) ||
        (!c.account_id && !(c.account_id = strdup(c.account))))
        goto fail;
    if ((r = nj_url(&c, err, errlen)) < 0)
        goto fail;
    *ret = c;
    return 0;
fail:
    if (r == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    sw_nj_cfg_free(&c);
    return r;
}

void sw_nj_cfg_free(sw_nj_cfg_t *c)
{
    free(c->account);
    free(c->account_id);
    free(c->stream);
    free(c->consumer);
    free(c->endpoint);
    free(c->url);
    memset(c, 0, sizeof *c);
}

/* ---- the /jsz answer ----------------------------------------------------------------------- */

/* A string field as Go decodes it: absent or null is "", anything else but a string fails. */
static int nj_str(const cJSON *o, const char *key, const char **ret)
{
    const cJSON *v = cJSON_GetObjectItem(o, key); /* Go matches keys case-insensitively */

    if (!v || cJSON_IsNull(v)) {
        *ret = "";
        return 0;
    }
    if (!cJSON_IsString(v))
        return -EINVAL;
    *ret = v->valuestring;
    return 0;
}

/* An int field: absent or null is 0; a number must be an integer in range. */
static int nj_num(const cJSON *o, const char *key, int64_t *ret)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);

    *ret = 0;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        fabs(v->valuedouble) > (double)JSONU_INT_EXACT_MAX)
        return -EINVAL;
    *ret = (int64_t)v->valuedouble;
    return 0;
}

/* An array field: absent or null is empty. */
static int nj_arr(const cJSON *o, const char *key, const cJSON **ret)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);

    *ret = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsArray(v))
        return -EINVAL;
    *ret = v;
    return 0;
}

/* The consumer in one stream's consumer_detail: 1 found (filled in), 0 not listed. */
static int nj_consumer(const cJSON *stream, const sw_nj_cfg_t *c, sw_jsz_t *j)
{
    const cJSON *consumers, *cons;
    const char *name, *leader;
    int64_t pending, ack;

    if (nj_arr(stream, "consumer_detail", &consumers) < 0)
        return -EINVAL;
    cJSON_ArrayForEach(cons, consumers)
    {
        const cJSON *cluster = cJSON_GetObjectItem(cons, "cluster");
        if (!cJSON_IsObject(cons) || nj_str(cons, "name", &name) < 0)
            return -EINVAL;
        if (strcmp(name, c->consumer) != 0)
            continue;
        if (nj_num(cons, "num_pending", &pending) < 0 ||
            nj_num(cons, "num_ack_pending", &ack) < 0 ||
            (cluster && !cJSON_IsNull(cluster) && !cJSON_IsObject(cluster)) ||
            nj_str(cluster, "leader", &leader) < 0)
            return -EINVAL;
        j->pending = pending + ack;
        snprintf(j->leader, sizeof j->leader, "%s", leader);
        return 1;
    }
    return 0;
}

/* The streams of one matching account: 1 once the consumer is found. */
static int nj_account(const cJSON *acc, const sw_nj_cfg_t *c, sw_jsz_t *j)
{
    const cJSON *streams, *s;
    const char *name;
    int r;

    if (nj_arr(acc, "stream_detail", &streams) < 0)
        return -EINVAL;
    cJSON_ArrayForEach(s, streams)
    {
        if (!cJSON_IsObject(s) || nj_str(s, "name", &name) < 0)
            return -EINVAL;
        if (strcmp(name, c->stream) != 0)
            continue;
        j->stream_found = true;
        if ((r = nj_consumer(s, c, j)) != 0)
            return r;
    }
    return 0;
}

int sw_jsz_extract(const char *body, size_t len, const sw_nj_cfg_t *c, sw_jsz_t *ret, char *err,
                   size_t errlen)
{
    sw_jsz_t j = {0};
    cJSON *root = NULL;
    const cJSON *accounts, *acc, *meta;
    const char *id, *name;
    errtext_t e;
    int r = 0;

    if (jsonu_parse(body, len, &root, &e) < 0 || !cJSON_IsObject(root)) {
        snprintf(err, errlen, "unable to decode NATS JetStream account details: %s",
                 root ? "not a JSON object" : "not JSON");
        cJSON_Delete(root);
        return -EINVAL;
    }
    meta = cJSON_GetObjectItem(root, "meta_cluster");
    if ((meta && !cJSON_IsNull(meta) && !cJSON_IsObject(meta)) ||
        nj_num(meta, "cluster_size", &j.cluster_size) < 0 ||
        nj_arr(root, "account_details", &accounts) < 0)
        r = -EINVAL;
    if (r < 0)
        accounts = NULL;
    cJSON_ArrayForEach(acc, accounts)
    {
        if (!cJSON_IsObject(acc) || nj_str(acc, "id", &id) < 0 || nj_str(acc, "name", &name) < 0) {
            r = -EINVAL;
            break;
        }
        if (strcmp(id, c->account_id) != 0 && strcmp(name, c->account) != 0)
            continue;
        if ((r = nj_account(acc, c, &j)) != 0)
            break;
    }
    cJSON_Delete(root);
    if (r < 0) {
        snprintf(err, errlen,
                 "unable to decode NATS JetStream account details: a field has the wrong type");
        return -EINVAL;
    }
    j.consumer_found = r == 1;
    *ret = j;
    return 0;
}

int sw_nj_step(sw_nj_state_t *st, const sw_jsz_t *jsz, const sw_nj_cfg_t *c, double *ret_value,
               char *err, size_t errlen)
{
    char cached[SW_NJ_LEADER_MAX];

    memcpy(cached, st->leader, sizeof cached);
    if (jsz->stream_found) { /* KEDA points s.stream at it; otherwise s.stream stays */
        st->stream_nil = false;
        st->stream_has_consumer = jsz->consumer_found;
        st->pending = jsz->pending;
    }
    if (jsz->consumer_found)
        memcpy(st->leader, jsz->leader, sizeof st->leader);
    if (cached[0] && !jsz->consumer_found) { /* invalidate the cached data */
        st->leader[0] = '\0';
        st->stream_nil = true;
    }
    bool same_leader = jsz->consumer_found && cached[0] && strcmp(cached, st->leader) == 0;
    if (!same_leader && jsz->cluster_size > 1) {
        st->leader[0] = '\0'; /* never take the shortcut on a follower's answer */
        snprintf(err, errlen,
                 "NATS JetStream cluster of %lld servers: finding the consumer's leader node "
                 "(/varz) is not supported by ckeda yet",
                 (long long)jsz->cluster_size);
        return -EINVAL;
    }
    if (st->stream_nil) {
        snprintf(err, errlen, "stream not found");
        return -EINVAL;
    }
    if (!st->stream_has_consumer) {
        snprintf(err, errlen, "consumer \"%.200s\" not found in stream \"%.200s\"", c->consumer,
                 c->stream);
        return -EINVAL;
    }
    *ret_value = (double)st->pending;
    return 0;
}

/* ---- the scaler ---------------------------------------------------------------------------- */

typedef struct nj_scaler {
    sw_nj_cfg_t cfg;
    sw_nj_state_t st;
    sw_http_t *http;
    sw_url_t url;
    sw_poll_t *poll;
} nj_scaler_t;

static void nj_done(void *arg, int e, const sw_http_response_t *resp, const char *errtext)
{
    nj_scaler_t *s = arg;
    sw_poll_t *p = s->poll;
    char err[NJ_ERR_MAX], msg[NJ_ERR_MAX + SW_URL_SHOWN_MAX + 64];
    sw_jsz_t jsz;
    double v;

    s->poll = NULL;
    if (!p)
        return;
    if (e) {
        sw_poll_done(p, false, 0, errtext);
        return;
    }
    if (sw_jsz_extract(resp->body, resp->body_len, &s->cfg, &jsz, err, sizeof err) < 0) {
        snprintf(msg, sizeof msg, "GET %s: HTTP %d: %s", s->url.shown, resp->status, err);
        sw_poll_done(p, false, 0, msg);
        return;
    }
    if (sw_nj_step(&s->st, &jsz, &s->cfg, &v, err, sizeof err) < 0)
        sw_poll_done(p, false, 0, err);
    else
        sw_poll_done(p, true, v, NULL);
}

static void nj_poll(sw_poll_t *p, void *state)
{
    nj_scaler_t *s = state;
    char err[NJ_ERR_MAX];

    s->poll = p;
    if (sw_http_request(s->http, "GET", &s->url, NULL, 0, NULL, 0, 0, nj_done, s, err, sizeof err) <
        0) {
        s->poll = NULL;
        sw_poll_done(p, false, 0, err);
    }
}

static void nj_cancel(void *state, char *why, size_t len)
{
    nj_scaler_t *s = state;

    s->poll = NULL;
    sw_http_cancel(s->http, why, len);
}

static void nj_close(void *state)
{
    nj_scaler_t *s = state;

    if (!s)
        return;
    sw_http_free(s->http);
    sw_url_free(&s->url);
    sw_nj_cfg_free(&s->cfg);
    free(s);
}

static int nj_parse(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    nj_scaler_t *s = calloc(1, sizeof *s);
    sw_http_tls_opts_t tls = {0}; /* KEDA's client verifies (CreateHTTPClient(_, false)) */
    char why[256];
    int r;

    if (!s)
        return -ENOMEM;
    if ((r = sw_nj_cfg_parse(params, &s->cfg, err, errlen)) < 0) {
        free(s);
        return r;
    }
    if (sw_url_parse(s->cfg.url, strlen(s->cfg.url), &s->url, why, sizeof why) < 0) {
        snprintf(err, errlen, "natsServerMonitoringEndpoint: %s", why);
        sw_nj_cfg_free(&s->cfg);
        free(s);
        return -EINVAL;
    }
    if (!(s->http = sw_http_new(&tls, err, errlen))) {
        nj_close(s);
        return -EINVAL;
    }
    *ret = s;
    return 0;
}

const sw_scaler_t sw_scaler_nats_jetstream = {
    .name = "nats-jetstream",
    .parse = nj_parse,
    .poll = nj_poll,
    .cancel = nj_cancel,
    .close = nj_close,
};
