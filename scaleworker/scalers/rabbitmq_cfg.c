/*
 * rabbitmq_cfg: the rabbitmq scaler's parameters, read and validated as KEDA's
 * rabbitmq_scaler.go does (parseRabbitMQMetadata, Validate, validateTrigger), the management
 * API's URL and answer as KEDA builds and decodes them, and each mode's value and activity
 * (GetMetricsAndActivity). Pure: no I/O. Runs in the rabbitmq workers when a trigger's
 * configuration is loaded and when a poll completes. Messages name the field and never quote
 * the host or a credential.
 */
#include "scaleworker/scalers/httpcfg.h"
#include "scaleworker/scalers/rabbitmq.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const rq_modes[] = {"QueueLength",
                                       "MessageRate",
                                       "DeliverGetRate",
                                       "PublishedToDeliveredRatio",
                                       "ExpectedQueueConsumptionTime",
                                       NULL};

/* ---- configuration ------------------------------------------------------------------------- */

static void rq_free_secret(char **s)
{
    if (*s) {
        explicit_bzero(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void sw_rmq_cfg_free(sw_rmq_cfg_t *c)
{
    free(c->queue_name);
    rq_free_secret(&c->host);
    free(c->vhost_name);
    free(c->operation);
    rq_free_secret(&c->username);
    rq_free_secret(&c->password);
    rq_free_secret(&c->ca);
    rq_free_secret(&c->cert);
    rq_free_secret(&c->key);
    rq_free_secret(&c->key_password);
    memset(c, 0, sizeof *c);
}

/* A string from the given sources, then `<name>FromEnv`, which ckeda cannot read yet. */
static int rq_str_env(const sw_params_t *p, const char *name, const sw_src_t *order, bool required,
                      char **ret, char *err, size_t errlen)
{
    const char *names[] = {name, NULL};
    sw_param_t v;
    int r = sw_param_find(p, names, order, &v);

    if (r == -ENOTSUP) {
        snprintf(err, errlen,
                 "metadata.%sFromEnv: reading the scale target's container environment is not "
                 "supported by ckeda yet",
                 name);
        return -EINVAL;
    }
    if (r == 0) {
        if (required)
            snprintf(err, errlen,
                     "metadata.%s: missing required parameter \"%s\" in "
                     "[triggerMetadata authParams resolvedEnv]",
                     name, name);
        return required ? -EINVAL : 0;
    }
    if (!(*ret = strndup(v.value, v.len)))
        return -ENOMEM;
    return 1;
}

/* An int64 as KEDA's typed config reads one (strconv.ParseInt of the trimmed text). */
static int rq_int(const sw_params_t *p, const char *name, int64_t *ret, char *err, size_t errlen)
{
    const char *names[] = {name, NULL};
    const sw_src_t order[] = {SW_SRC_METADATA, SW_SRC_END};
    sw_param_t v;
    char buf[32], *end;

    if (sw_param_find(p, names, order, &v) != 1)
        return 0;
    if (v.len >= sizeof buf || v.len == 0)
        goto bad;
    memcpy(buf, v.value, v.len);
    buf[v.len] = '\0';
    errno = 0;
    long long n = strtoll(buf, &end, 10);
    if (*end || errno || isspace((unsigned char)buf[0]))
        goto bad;
    *ret = n;
    return 1;
bad:
    snprintf(err, errlen, "metadata.%s: \"%.*s\" is not an integer", name,
             (int)(v.len > 64 ? 64 : v.len), v.value);
    return -EINVAL;
}

/* Parameters KEDA accepts that need what ckeda does not have (a token endpoint client, pod
 * identities): refused by name rather than ignored. */
static int rq_unsupported(const sw_params_t *p, char *err, size_t errlen)
{
    static const char *const names[] = {"workloadIdentityResource",
                                        "oauthTokenURI",
                                        "clientID",
                                        "clientSecret",
                                        "scopes",
                                        "scope",
                                        "endpointParams"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *one[] = {names[i], NULL};
        sw_param_t v;
        if (sw_param_find(p, one, sw_order_auth, &v) == 1) {
            snprintf(err, errlen, "authentication.%s: %s is not supported by ckeda", names[i],
                     i == 0 ? "Azure workload identity" : "OAuth2 authentication");
            return -EINVAL;
        }
    }
    return 0;
}

static int rq_read(const sw_params_t *p, sw_rmq_cfg_t *c, char **mode, char **protocol, char **tls,
                   double *queue_length, char *err, size_t errlen)
{
    static const sw_src_t host_order[] = {SW_SRC_METADATA, SW_SRC_AUTH, SW_SRC_ENV, SW_SRC_END};
    static const sw_src_t cred_order[] = {SW_SRC_AUTH, SW_SRC_ENV, SW_SRC_END};
    int r;

    /* the fields in the order of KEDA's rabbitMQMetadata */
    if ((r = sw_cfg_str(p, "queueName", sw_order_meta, true, &c->queue_name, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "mode", sw_order_meta, false, mode, err, errlen)) < 0 ||
        (r = sw_cfg_float(p, "queueLength", false, queue_length, err, errlen)) < 0 ||
        (r = sw_cfg_float(p, "value", false, &c->value, err, errlen)) < 0 ||
        (r = sw_cfg_float(p, "activationValue", false, &c->activation_value, err, errlen)) < 0 ||
        (r = rq_str_env(p, "host", host_order, true, &c->host, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "protocol", sw_order_meta_auth, false, protocol, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "vhostName", sw_order_meta_auth, false, &c->vhost_name, err, errlen)) <
            0 ||
        (r = sw_cfg_bool(p, "useRegex", &c->use_regex, err, errlen)) < 0 ||
        (r = sw_cfg_bool(p, "excludeUnacknowledged", &c->exclude_unacknowledged, err, errlen)) <
            0 ||
        (r = rq_int(p, "pageSize", &c->page_size, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "operation", sw_order_meta, false, &c->operation, err, errlen)) < 0 ||
        (r = sw_cfg_duration_ms(p, "timeout", &c->timeout_ms, err, errlen)) < 0 ||
        (r = rq_str_env(p, "username", cred_order, false, &c->username, err, errlen)) < 0 ||
        (r = rq_str_env(p, "password", cred_order, false, &c->password, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "ca", sw_order_auth, false, &c->ca, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "cert", sw_order_auth, false, &c->cert, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "key", sw_order_auth, false, &c->key, err, errlen)) < 0 ||
        (r = sw_cfg_str(p, "keyPassword", sw_order_auth, false, &c->key_password, err, errlen)) <
            0 ||
        (r = sw_cfg_str(p, "tls", sw_order_auth, false, tls, err, errlen)) < 0 ||
        (r = sw_cfg_bool(p, "unsafeSsl", &c->unsafe_ssl, err, errlen)) < 0)
        return r;
    if (!c->operation && !(c->operation = strdup("sum")))
        return -ENOMEM;
    return rq_unsupported(p, err, errlen);
}

/* The scheme of the host URL, lower-cased as Go's url.Parse does: 0, or -EINVAL. */
static int rq_scheme(const char *host, char *ret, size_t cap)
{
    size_t n = 0;

    if (!isalpha((unsigned char)host[0]))
        return host[0] == ':' ? -EINVAL : (ret[0] = '\0', 0); /* no scheme: "" */
    while (host[n] && (isalnum((unsigned char)host[n]) || strchr("+-.", host[n])))
        n++;
    if (host[n] != ':') {
        ret[0] = '\0';
        return 0;
    }
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        ret[i] = (char)tolower((unsigned char)host[i]);
    ret[n] = '\0';
    return 0;
}

/* KEDA's validateTrigger: the mode and its target, defaults, the deprecated queueLength. */
static int rq_validate_trigger(sw_rmq_cfg_t *c, const char *mode, double queue_length, char *err,
                               size_t errlen)
{
    int m = -1;

    if (queue_length == 0 && !mode && c->value == 0) {
        c->mode = SW_RMQ_QUEUE_LENGTH;
        c->value = 20;
        return 0;
    }
    if (queue_length != 0 && (mode || c->value != 0)) {
        snprintf(err, errlen,
                 "metadata.queueLength: queueLength is deprecated; use mode and value");
        return -EINVAL;
    }
    if (queue_length != 0) {
        c->mode = SW_RMQ_QUEUE_LENGTH;
        c->value = queue_length;
        return 0;
    }
    if (!mode) {
        snprintf(err, errlen, "metadata.mode: mode must be specified");
        return -EINVAL;
    }
    if (c->value == 0) {
        snprintf(err, errlen, "metadata.value: value must be specified");
        return -EINVAL;
    }
    for (int i = 0; rq_modes[i]; i++)
        if (strcmp(rq_modes[i], mode) == 0)
            m = i;
    if (m < 0) {
        snprintf(err, errlen,
                 "metadata.mode: trigger mode %.64s must be one of QueueLength, MessageRate, "
                 "DeliverGetRate, PublishedToDeliveredRatio or ExpectedQueueConsumptionTime",
                 mode);
        return -EINVAL;
    }
    c->mode = (sw_rmq_mode_t)m;
    if (m != SW_RMQ_QUEUE_LENGTH && c->protocol != SW_RMQ_HTTP) {
        snprintf(err, errlen,
                 "metadata.mode: protocol amqp not supported; must be HTTP to use "
                 "trigger mode %s",
                 mode);
        return -EINVAL;
    }
    if (c->protocol == SW_RMQ_AMQP && c->timeout_ms != 0) {
        snprintf(err, errlen,
                 "metadata.timeout: AMQP protocol doesn't support custom timeouts: %llu",
                 (unsigned long long)c->timeout_ms * 1000000ull);
        return -EINVAL;
    }
    return 0;
}

/* KEDA's Validate, in its order. */
static int rq_validate(sw_rmq_cfg_t *c, const char *mode, const char *protocol, const char *tls,
                       double queue_length, char *err, size_t errlen)
{
    char scheme[16];

    if (protocol && strcmp(protocol, "amqp") != 0 && strcmp(protocol, "http") != 0 &&
        strcmp(protocol, "auto") != 0) {
        snprintf(err, errlen,
                 "metadata.protocol: the protocol has to be either `amqp`, `http`, or `auto` but "
                 "is `%.64s`",
                 protocol);
        return -EINVAL;
    }
    if (tls && strcmp(tls, "enable") != 0 && strcmp(tls, "disable") != 0) {
        snprintf(err, errlen, "authentication.tls: incorrect value for TLS given: %.64s", tls);
        return -EINVAL;
    }
    c->tls = tls && strcmp(tls, "enable") == 0;
    if (!c->cert != !c->key) {
        snprintf(err, errlen, "authentication.cert/key: both key and certificate must be provided");
        return -EINVAL;
    }
    if (c->page_size < 1) {
        snprintf(err, errlen, "metadata.pageSize: pageSize should be 1 or greater");
        return -EINVAL;
    }
    if (!c->username != !c->password) {
        snprintf(err, errlen,
                 "authentication.username/password: username and password must be given together");
        return -EINVAL;
    }
    if (!protocol || strcmp(protocol, "auto") == 0) {
        if (rq_scheme(c->host, scheme, sizeof scheme) < 0) {
            snprintf(err, errlen, "metadata.host: can't parse host to find protocol");
            return -EINVAL;
        }
        if (strcmp(scheme, "amqp") == 0 || strcmp(scheme, "amqps") == 0) {
            c->protocol = SW_RMQ_AMQP;
        } else if (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) {
            c->protocol = SW_RMQ_HTTP;
        } else {
            snprintf(err, errlen, "metadata.host: unknown host URL scheme: `%s`", scheme);
            return -EINVAL;
        }
    } else {
        c->protocol = strcmp(protocol, "http") == 0 ? SW_RMQ_HTTP : SW_RMQ_AMQP;
    }
    if (c->use_regex && c->protocol != SW_RMQ_HTTP) {
        snprintf(err, errlen, "metadata.useRegex: configure useRegex=true only with HTTP protocol");
        return -EINVAL;
    }
    if (c->exclude_unacknowledged && c->protocol != SW_RMQ_HTTP) {
        snprintf(err, errlen,
                 "metadata.excludeUnacknowledged: configure "
                 "excludeUnacknowledged=true only with HTTP protocol");
        return -EINVAL;
    }
    return rq_validate_trigger(c, mode, queue_length, err, errlen);
}

int sw_rmq_cfg_parse(const sw_params_t *p, sw_rmq_cfg_t *ret, char *err, size_t errlen)
{
    sw_rmq_cfg_t c = {.page_size = 100};
    char *mode = NULL, *protocol = NULL, *tls = NULL;
    double queue_length = 0;
    int r;

    if ((r = rq_read(p, &c, &mode, &protocol, &tls, &queue_length, err, errlen)) >= 0)
        r = rq_validate(&c, mode, protocol, tls, queue_length, err, errlen);
    free(mode);
    free(protocol);
    free(tls);
    if (r < 0) {
        if (r == -ENOMEM)
            snprintf(err, errlen, "out of memory");
        sw_rmq_cfg_free(&c);
        return r;
    }
    snprintf(c.connection_name, sizeof c.connection_name, "keda-%s-%s",
             p->so_namespace ? p->so_namespace : "", p->so_name ? p->so_name : "");
    *ret = c;
    return 0;
}

/* ---- the management API -------------------------------------------------------------------- */

/* Percent-escapes everything but Go's unreserved characters (userinfo from the authentication). */
static int rq_escape_userinfo(sw_buf_t *b, const char *s)
{
    int r = 0;

    for (; *s && r == 0; s++)
        r = isalnum((unsigned char)*s) || strchr("-._~", *s)
                ? sw_buf_add(b, s, 1)
                : sw_buf_addf(b, "%%%02X", (unsigned char)*s);
    return r;
}

/* KEDA's getVhostAndPathFromURL: the last segment of the path is the vhost (vhostName replaces
 * it; none is %2F), the rest, cleaned as path.Join does, a prefix of the API. */
static int rq_path_parts(const char *path, const char *vhost_name, sw_buf_t *prefix,
                         sw_buf_t *vhost)
{
    const char *last = strrchr(path, '/');
    const char *seg = last ? last + 1 : path;
    size_t plen = last ? (size_t)(last - path) : 0;
    int r = 0;

    for (size_t i = 0; i < plen && r == 0;) { /* path.Join: skip empty and "." segments */
        size_t k = strcspn(path + i, "/");
        if (k > plen - i)
            k = plen - i;
        if (k > 0 && !(k == 1 && path[i] == '.')) {
            if (k == 2 && memcmp(path + i, "..", 2) == 0) {
                char *sl = prefix->len ? memrchr(prefix->p, '/', prefix->len) : NULL;
                prefix->len = sl ? (size_t)(sl - prefix->p) : 0;
            } else if ((r = sw_buf_add(prefix, "/", 1)) == 0) {
                r = sw_buf_add(prefix, path + i, k);
            }
        }
        i += k + 1;
    }
    if (r < 0)
        return r;
    if (vhost_name)
        return (r = sw_buf_add(vhost, "/", 1)) < 0
                   ? r
                   : sw_buf_query_escape(vhost, vhost_name, strlen(vhost_name));
    if (*seg)
        return sw_buf_addf(vhost, "/%s", seg);
    return sw_buf_add(vhost, "/%2F", 4);
}

char *sw_rmq_http_url(const sw_rmq_cfg_t *c)
{
    sw_buf_t b = {0}, prefix = {0}, vhost = {0};
    char err[256];
    sw_url_t u;
    int r;

    if (sw_url_parse(c->host, strlen(c->host), &u, err, sizeof err) < 0)
        return NULL;
    r = sw_buf_addf(&b, "%s://", u.https ? "https" : "http");
    if (r == 0 && (c->username || u.userinfo)) {
        const char *ui = u.userinfo, *colon = ui ? strchr(ui, ':') : NULL;
        char *user = c->username ? strdup(c->username)
                                 : strndup(ui, colon ? (size_t)(colon - ui) : strlen(ui));
        const char *pass = c->username ? c->password : colon ? colon + 1 : NULL;
        r = !user ? -ENOMEM : rq_escape_userinfo(&b, user);
        if (r == 0 && pass && (r = sw_buf_add(&b, ":", 1)) == 0)
            r = rq_escape_userinfo(&b, pass);
        if (r == 0)
            r = sw_buf_add(&b, "@", 1);
        rq_free_secret(&user);
    }
    if (r == 0 && (r = sw_buf_add(&b, u.authority, strlen(u.authority))) == 0 &&
        (r = rq_path_parts(u.path, c->vhost_name, &prefix, &vhost)) == 0 &&
        (r = sw_buf_add(&b, prefix.p ? prefix.p : "", prefix.len)) == 0 &&
        (r = sw_buf_addf(&b, "/api/queues%.*s", (int)vhost.len, vhost.p ? vhost.p : "")) == 0) {
        if (c->use_regex) {
            r = sw_buf_add(&b, "?page=1&use_regex=true&pagination=false&name=", 45);
            if (r == 0)
                r = sw_buf_query_escape(&b, c->queue_name, strlen(c->queue_name));
            if (r == 0)
                r = sw_buf_addf(&b, "&page_size=%lld", (long long)c->page_size);
        } else if ((r = sw_buf_add(&b, "/", 1)) == 0) {
            r = sw_buf_query_escape(&b, c->queue_name, strlen(c->queue_name));
        }
    }
    sw_url_free(&u);
    sw_buf_free(&prefix);
    sw_buf_free(&vhost);
    if (r < 0) {
        sw_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* json.Unmarshal of one numeric field: int fields take only integers; null keeps 0. */
static int rq_json_num(const cJSON *obj, const char *name, bool integer, double *ret, char *err,
                       size_t errlen)
{
    const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;

    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsNumber(v) &&
        (!integer || (v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9.2e18))) {
        *ret = v->valuedouble;
        return 0;
    }
    snprintf(err, errlen, "json: cannot unmarshal %s into Go struct field of type %s",
             cJSON_IsNumber(v)   ? "number"
             : cJSON_IsString(v) ? "string"
             : cJSON_IsBool(v)   ? "bool"
             : cJSON_IsArray(v)  ? "array"
                                 : "object",
             integer ? "int" : "float64");
    return -EINVAL;
}

typedef struct rq_queue {
    double messages, ready, publish, deliver;
} rq_queue_t;

static int rq_json_queue(const cJSON *q, rq_queue_t *ret, char *err, size_t errlen)
{
    const cJSON *stats =
        cJSON_IsObject(q) ? cJSON_GetObjectItemCaseSensitive(q, "message_stats") : NULL;
    const cJSON *pub =
        cJSON_IsObject(stats) ? cJSON_GetObjectItemCaseSensitive(stats, "publish_details") : NULL;
    const cJSON *del = cJSON_IsObject(stats)
                           ? cJSON_GetObjectItemCaseSensitive(stats, "deliver_get_details")
                           : NULL;
    rq_queue_t v = {0};
    int r;

    if (!cJSON_IsObject(q) && !cJSON_IsNull(q)) {
        snprintf(err, errlen,
                 "json: cannot unmarshal a non-object into Go value of type queueInfo");
        return -EINVAL;
    }
    if ((r = rq_json_num(q, "messages", true, &v.messages, err, errlen)) < 0 ||
        (r = rq_json_num(q, "messages_ready", true, &v.ready, err, errlen)) < 0 ||
        (r = rq_json_num(pub, "rate", false, &v.publish, err, errlen)) < 0 ||
        (r = rq_json_num(del, "rate", false, &v.deliver, err, errlen)) < 0)
        return r;
    *ret = v;
    return 0;
}

/* getComposedQueue: sum, avg (integer division of the counts, as Go's int) or max. */
static int rq_compose(const cJSON *items, const sw_rmq_cfg_t *c, rq_queue_t *ret, char *err,
                      size_t errlen)
{
    int n = cJSON_GetArraySize(items), op;
    rq_queue_t acc = {0}, q;
    const cJSON *it;

    if (n == 0) {
        *ret = acc;
        return 0;
    }
    op = strcmp(c->operation, "sum") == 0   ? 0
         : strcmp(c->operation, "avg") == 0 ? 1
         : strcmp(c->operation, "max") == 0 ? 2
                                            : -1;
    if (op < 0) {
        snprintf(err, errlen, "operation mode %.64s must be one of sum, avg, max", c->operation);
        return -EINVAL;
    }
    cJSON_ArrayForEach(it, items)
    {
        if (rq_json_queue(it, &q, err, errlen) < 0)
            return -EINVAL;
        if (op == 2) {
            acc.messages = fmax(acc.messages, q.messages);
            acc.ready = fmax(acc.ready, q.ready);
            acc.publish = fmax(acc.publish, q.publish);
            acc.deliver = fmax(acc.deliver, q.deliver);
        } else {
            acc.messages += q.messages;
            acc.ready += q.ready;
            acc.publish += q.publish;
            acc.deliver += q.deliver;
        }
    }
    if (op == 1) {
        acc.messages = trunc(acc.messages / n);
        acc.ready = trunc(acc.ready / n);
        acc.publish /= n;
        acc.deliver /= n;
    }
    *ret = acc;
    return 0;
}

int sw_rmq_http_stats(const char *body, size_t len, const sw_rmq_cfg_t *c, sw_rmq_stats_t *ret,
                      char *err, size_t errlen)
{
    cJSON *doc = cJSON_ParseWithLength(body, len);
    rq_queue_t q = {0};
    int r;

    if (!doc) {
        snprintf(err, errlen, "invalid JSON in the management API's answer");
        return -EINVAL;
    }
    if (c->use_regex) {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
        double pages = 0;
        if ((r = rq_json_num(doc, "page_count", true, &pages, err, errlen)) < 0)
            goto out;
        if (items && !cJSON_IsArray(items) && !cJSON_IsNull(items)) {
            snprintf(err, errlen,
                     "json: cannot unmarshal into Go struct field items of type "
                     "[]queueInfo");
            r = -EINVAL;
            goto out;
        }
        if (pages > 1) {
            snprintf(err, errlen, "regex matches more queues than can be recovered at once");
            r = -EINVAL;
            goto out;
        }
        r = rq_compose(items, c, &q, err, errlen);
    } else {
        r = rq_json_queue(doc, &q, err, errlen);
    }
    if (r == 0) {
        ret->messages = (int64_t)(c->exclude_unacknowledged ? q.ready : q.messages);
        ret->publish_rate = q.publish;
        ret->deliver_get_rate = q.deliver;
    }
out:
    cJSON_Delete(doc);
    return r;
}

void sw_rmq_metric(const sw_rmq_cfg_t *c, const sw_rmq_stats_t *s, double *ret_value,
                   bool *ret_active)
{
    double a = c->activation_value, msgs = (double)s->messages;
    double pub = s->publish_rate, del = s->deliver_get_rate, v = 0;
    bool active = false;

    switch (c->mode) {
    case SW_RMQ_QUEUE_LENGTH:
        v = msgs;
        active = msgs > a;
        break;
    case SW_RMQ_MESSAGE_RATE:
        v = pub;
        active = pub > a || msgs > a;
        break;
    case SW_RMQ_DELIVER_GET_RATE:
        v = del;
        active = del > a;
        break;
    case SW_RMQ_PUBLISHED_TO_DELIVERED_RATIO:
        if (pub > 0 && del == 0)
            v = a;
        else if (pub > 0 && del > 0)
            v = pub / del;
        active = v > a || (pub > 0 && del == 0);
        break;
    case SW_RMQ_EXPECTED_QUEUE_CONSUMPTION_TIME:
        v = s->messages == 0 ? 0 : del == 0 ? a : (pub - del) / del + msgs / del;
        active = v > a || (del == 0 && s->messages > 0);
        break;
    }
    *ret_value = v;
    *ret_active = active;
}
