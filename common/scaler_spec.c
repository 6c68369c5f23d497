/*
 * scaler_spec: see scaler_spec.h. One small function per scaler type; adding a scaler adds one
 * here (its metric name and thresholds, from KEDA's GetMetricSpecForScaling).
 */
#include "common/json.h"
#include "common/scaler_spec.h"

#include "common/cron.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void scaler_normalize(char *s)
{
    for (; *s; s++)
        if (strchr("/.:%()", *s))
            *s = '-';
}

int scaler_metric_name(uint32_t index, const char *part, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "s%u-%s", index, part);
    return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

const char *scaler_meta_str(const cJSON *metadata, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(metadata, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

int scaler_meta_double(const cJSON *metadata, const char *key, double def, double min, double max,
                       double *ret, errtext_t *err)
{
    const char *s = scaler_meta_str(metadata, key);
    char *end;
    double v;

    if (!s) {
        *ret = def;
        return 0;
    }
    v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < min || v > max) {
        errtext_set(err, "metadata.%s: \"%s\" is not a number in [%g, %g]", key, s, min, max);
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

/* An integer parameter (KEDA's int64 fields), returned as a double. */
static int scaler_meta_int(const cJSON *md, const char *key, double def, double *ret,
                           errtext_t *err)
{
    double v;
    int r = scaler_meta_double(md, key, def, -9007199254740991.0, 9007199254740991.0, &v, err);
    if (r == 0 && v != floor(v)) {
        errtext_set(err, "metadata.%s: \"%s\" is not an integer", key, scaler_meta_str(md, key));
        return -EINVAL;
    }
    if (r == 0)
        *ret = v;
    return r;
}

/* redis (lists): metric `sN-redis-<listName>`, target listLength (5), activationListLength (0). */
static int spec_redis(uint32_t index, const cJSON *md, scaler_spec_t *s, errtext_t *err)
{
    const char *list = scaler_meta_str(md, "listName");
    char part[SHM_METRIC_MAX];
    int r;

    if (!list) {
        errtext_set(err, "metadata.listName: no list name given");
        return -EINVAL;
    }
    if ((r = scaler_meta_int(md, "listLength", 5, &s->target, err)) < 0 ||
        (r = scaler_meta_int(md, "activationListLength", 0, &s->activation, err)) < 0)
        return r;
    snprintf(part, sizeof part, "redis-%s", list);
    scaler_normalize(part);
    if (scaler_metric_name(index, part, s->metric_name, sizeof s->metric_name) < 0) {
        errtext_set(err, "metadata.listName: too long for a metric name");
        return -EINVAL;
    }
    return 0;
}

/* cron: metric `sN-cron-<timezone>-<start>-<end>` (fields rewritten as KEDA does), target 1 so
 * the HPA wants exactly desiredReplicas, activation 0 (the value is 0 outside the window). */
static int spec_cron(uint32_t index, const cJSON *md, scaler_spec_t *s, errtext_t *err)
{
    const char *tz = scaler_meta_str(md, "timezone"), *start = scaler_meta_str(md, "start");
    const char *end = scaler_meta_str(md, "end");
    char part[SHM_METRIC_MAX];

    if (!tz || !start || !end) {
        errtext_set(err, "metadata.%s: is required", !tz ? "timezone" : !start ? "start" : "end");
        return -EINVAL;
    }
    if (cron_metric_name(tz, start, end, part, sizeof part) < 0 ||
        scaler_metric_name(index, part, s->metric_name, sizeof s->metric_name) < 0) {
        errtext_set(err, "metadata: timezone, start and end are too long for a metric name");
        return -EINVAL;
    }
    s->target = 1;
    s->activation = 0;
    return 0;
}

/* A trimmed metadata value (KEDA's typed config trims), or NULL when absent or blank. */
static const char *spec_trimmed(const cJSON *md, const char *key, size_t *ret_len)
{
    const char *s = scaler_meta_str(md, key);
    size_t n;

    if (!s)
        return NULL;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' || *s == '\f')
        s++;
    n = strlen(s);
    while (n > 0 && strchr(" \t\n\r\v\f", s[n - 1]))
        n--;
    *ret_len = n;
    return n ? s : NULL;
}

/* A float parameter as KEDA's typed config reads one; def when absent, unless required. */
static int spec_float(const cJSON *md, const char *key, bool required, double def, double *ret,
                      errtext_t *err)
{
    size_t n = 0;
    const char *s = spec_trimmed(md, key, &n);
    char buf[64];

    if (!s && required) {
        errtext_set(err, "metadata.%s: missing required parameter", key);
        return -EINVAL;
    }
    if (!s) {
        *ret = def;
        return 0;
    }
    if (!jsonu_is_number(s, n) || n >= sizeof buf) {
        errtext_set(err, "metadata.%s: \"%.*s\" is not a number", key, (int)(n > 64 ? 64 : n), s);
        return -EINVAL;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    *ret = strtod(buf, NULL);
    if (!isfinite(*ret)) {
        errtext_set(err, "metadata.%s: \"%s\" is out of range", key, buf);
        return -EINVAL;
    }
    return 0;
}

/* postgresql: metric `sN-postgresql`, target targetQueryValue (required, non-zero: KEDA allows 0
 * only for a scalingModifiers source), activation activationTargetQueryValue (0). The
 * connection and query are checked by the worker, which sees the authentication too. */
static int spec_postgresql(uint32_t index, const cJSON *md, scaler_spec_t *s, errtext_t *err)
{
    size_t n;
    int r;

    if ((r = spec_float(md, "targetQueryValue", false, 0, &s->target, err)) < 0 ||
        (r = spec_float(md, "activationTargetQueryValue", false, 0, &s->activation, err)) < 0)
        return r;
    if (!spec_trimmed(md, "query", &n)) {
        errtext_set(err, "metadata.query: missing required parameter");
        return -EINVAL;
    }
    if (s->target == 0) {
        errtext_set(err, "metadata.targetQueryValue: no targetQueryValue given");
        return -EINVAL;
    }
    return scaler_metric_name(index, "postgresql", s->metric_name, sizeof s->metric_name);
}

/* mysql: metric `sN-mysql-<dbName>` (normalized), target queryValue (required), activation
 * activationQueryValue (0). KEDA takes dbName from a connection string when one is given, which
 * only the worker sees: then the name keeps the metadata's dbName (empty when absent). */
static int spec_mysql(uint32_t index, const cJSON *md, scaler_spec_t *s, errtext_t *err)
{
    char part[SHM_METRIC_MAX];
    size_t n = 0;
    const char *db = spec_trimmed(md, "dbName", &n);
    int r;

    if (!spec_trimmed(md, "query", &n)) {
        errtext_set(err, "metadata.query: missing required parameter");
        return -EINVAL;
    }
    if ((r = spec_float(md, "queryValue", true, 0, &s->target, err)) < 0 ||
        (r = spec_float(md, "activationQueryValue", false, 0, &s->activation, err)) < 0)
        return r;
    db = spec_trimmed(md, "dbName", &n);
    if (snprintf(part, sizeof part, "mysql-%.*s", db ? (int)n : 0, db ? db : "") >=
            (int)sizeof part ||
        (scaler_normalize(part),
         scaler_metric_name(index, part, s->metric_name, sizeof s->metric_name) < 0)) {
        errtext_set(err, "metadata.dbName: too long for a metric name");
        return -EINVAL;
    }
    return 0;
}

/* prometheus: metric `sN-prometheus`, target threshold (required), activationThreshold (0). */
static int spec_prometheus(uint32_t index, const cJSON *md, scaler_spec_t *s, errtext_t *err)
{
    int r;

    if (!scaler_meta_str(md, "threshold")) {
        errtext_set(err, "metadata.threshold: missing required parameter \"threshold\"");
        return -EINVAL;
    }
    if ((r = scaler_meta_double(md, "threshold", 0, -1e300, 1e300, &s->target, err)) < 0 ||
        (r = scaler_meta_double(md, "activationThreshold", 0, -1e300, 1e300, &s->activation, err)) <
            0)
        return r;
    return scaler_metric_name(index, "prometheus", s->metric_name, sizeof s->metric_name);
}

/* metrics-api: metric `sN-metric-api-<valueLocation>` (normalized), target targetValue (required
 * and not 0, as KEDA outside scalingModifiers), activationTargetValue (0). */
static int spec_metrics_api(uint32_t index, const cJSON *md, scaler_spec_t *s, errtext_t *err)
{
    const char *loc = scaler_meta_str(md, "valueLocation");
    char part[SHM_METRIC_MAX];
    int r;

    if (!loc) {
        errtext_set(err, "metadata.valueLocation: missing required parameter \"valueLocation\"");
        return -EINVAL;
    }
    if ((r = scaler_meta_double(md, "targetValue", 0, -1e300, 1e300, &s->target, err)) < 0 ||
        (r = scaler_meta_double(md, "activationTargetValue", 0, -1e300, 1e300, &s->activation,
                                err)) < 0)
        return r;
    if (s->target == 0) {
        errtext_set(err, "metadata.targetValue: no targetValue given in metadata");
        return -EINVAL;
    }
    snprintf(part, sizeof part, "metric-api-%s", loc);
    scaler_normalize(part);
    if (scaler_metric_name(index, part, s->metric_name, sizeof s->metric_name) < 0) {
        errtext_set(err, "metadata.valueLocation: too long for a metric name");
        return -EINVAL;
    }
    return 0;
}

/* Go's strconv.ParseBool, for KEDA's typed-config booleans. */
static bool spec_parse_bool(const char *s, size_t n)
{
    static const char *const ok[] = {"1", "t", "T", "TRUE",  "true",  "True",
                                     "0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strlen(ok[i]) == n && memcmp(ok[i], s, n) == 0)
            return true;
    return false;
}

/* external, external-push: the metric name and target come from the server's GetMetricSpec,
 * which only the worker asks: from_source, with `sN-<type>` standing in until the worker
 * publishes `sN-<metricName>`; activity is the server's IsActive, so no activation threshold.
 * KEDA's metadata checks: scalerAddress required, enableTLS and unsafeSsl booleans. */
static int spec_external(uint32_t index, const cJSON *md, scaler_spec_t *s, errtext_t *err,
                         const char *type)
{
    static const char *const bools[] = {"enableTLS", "unsafeSsl"};
    size_t n = 0;
    const char *v;

    if (!spec_trimmed(md, "scalerAddress", &n)) {
        errtext_set(err, "metadata.scalerAddress: missing required parameter \"scalerAddress\" in "
                         "[triggerMetadata]");
        return -EINVAL;
    }
    for (size_t i = 0; i < 2; i++)
        if ((v = spec_trimmed(md, bools[i], &n)) && !spec_parse_bool(v, n)) {
            errtext_set(err, "metadata.%s: unable to parse boolean value \"%.*s\"", bools[i],
                        (int)(n > 64 ? 64 : n), v);
            return -EINVAL;
        }
    s->from_source = true;
    s->target = 0;
    s->activation = 0;
    return scaler_metric_name(index, type, s->metric_name, sizeof s->metric_name);
}

static int spec_external_pull(uint32_t index, const cJSON *md, scaler_spec_t *s, errtext_t *err)
{
    return spec_external(index, md, s, err, "external");
}

static int spec_external_push(uint32_t index, const cJSON *md, scaler_spec_t *s, errtext_t *err)
{
    return spec_external(index, md, s, err, "external-push");
}

/* kubernetes-workload: KEDA names the metric `sN-workload-<ScaledObject namespace>`, which the
 * metadata does not hold: scaler_spec_set_namespace() names it once the object's namespace is
 * known; without one (a spec built from metadata alone) it is from_source, with
 * `sN-kubernetes-workload` standing in until the worker publishes it. Target value (a float > 0),
 * activation activationValue (0); podSelector required (the API server parses it), groupByNode
 * a boolean. */
static int spec_kubernetes_workload(uint32_t index, const cJSON *md, scaler_spec_t *s,
                                    errtext_t *err)
{
    size_t n = 0;
    const char *v;
    int r;

    if (!spec_trimmed(md, "podSelector", &n)) {
        errtext_set(err, "metadata.podSelector: missing required parameter \"podSelector\" in "
                         "[triggerMetadata]");
        return -EINVAL;
    }
    if ((r = spec_float(md, "value", false, 0, &s->target, err)) < 0 ||
        (r = spec_float(md, "activationValue", false, 0, &s->activation, err)) < 0)
        return r;
    if ((v = spec_trimmed(md, "groupByNode", &n)) && !spec_parse_bool(v, n)) {
        errtext_set(err, "metadata.groupByNode: unable to parse boolean value \"%.*s\"",
                    (int)(n > 64 ? 64 : n), v);
        return -EINVAL;
    }
    if (!(s->target > 0)) {
        errtext_set(err, "metadata.value: value must be a float greater than 0");
        return -EINVAL;
    }
    s->from_source = true;
    return scaler_metric_name(index, "kubernetes-workload", s->metric_name, sizeof s->metric_name);
}

/* A metric name `sN-<prefix><value of key>` (normalized), the value trimmed and required. */
static int spec_named(uint32_t index, const cJSON *md, const char *key, const char *prefix,
                      scaler_spec_t *s, errtext_t *err)
{
    char part[SHM_METRIC_MAX];
    size_t n = 0;
    const char *v = spec_trimmed(md, key, &n);

    if (!v) {
        errtext_set(err, "metadata.%s: missing required parameter", key);
        return -EINVAL;
    }
    if (snprintf(part, sizeof part, "%s%.*s", prefix, (int)n, v) >= (int)sizeof part ||
        (scaler_normalize(part),
         scaler_metric_name(index, part, s->metric_name, sizeof s->metric_name) < 0)) {
        errtext_set(err, "metadata.%s: too long for a metric name", key);
        return -EINVAL;
    }
    return 0;
}

/* redis-streams: metric `sN-redis-streams-<stream>`; the target by KEDA's mode: lagCount with
 * a consumerGroup and a non-zero lagCount, pendingEntriesCount (5) with a consumerGroup,
 * streamLength (5) without; activation activationLagCount (0) in every mode. */
static int spec_redis_streams(uint32_t index, const cJSON *md, scaler_spec_t *s, errtext_t *err)
{
    double pending, length, lag;
    size_t n = 0;
    int r;

    if ((r = scaler_meta_int(md, "pendingEntriesCount", 5, &pending, err)) < 0 ||
        (r = scaler_meta_int(md, "streamLength", 5, &length, err)) < 0 ||
        (r = scaler_meta_int(md, "lagCount", 0, &lag, err)) < 0 ||
        (r = spec_named(index, md, "stream", "redis-streams-", s, err)) < 0 ||
        (r = scaler_meta_int(md, "activationLagCount", 0, &s->activation, err)) < 0)
        return r;
    if (!spec_trimmed(md, "consumerGroup", &n))
        s->target = length;
    else
        s->target = lag != 0 ? lag : pending;
    return 0;
}

/* nats-jetstream: metric `sN-nats-jetstream-<stream>`, target lagThreshold (10), activation
 * activationLagThreshold (0). The endpoint and account may come from the authentication, which
 * the worker checks. */
static int spec_nats_jetstream(uint32_t index, const cJSON *md, scaler_spec_t *s, errtext_t *err)
{
    size_t n = 0;
    int r;

    if ((r = spec_named(index, md, "stream", "nats-jetstream-", s, err)) < 0)
        return r;
    if (!spec_trimmed(md, "consumer", &n)) {
        errtext_set(err, "metadata.consumer: missing required parameter");
        return -EINVAL;
    }
    if ((r = scaler_meta_int(md, "lagThreshold", 10, &s->target, err)) < 0 ||
        (r = scaler_meta_int(md, "activationLagThreshold", 0, &s->activation, err)) < 0)
        return r;
    return 0;
}

#ifdef CKEDA_TEST_SCALERS
/* ckeda-test (test builds only): metric `sN-ckeda-test`, target `target` (1), activation
 * `activation` (0). */
static int spec_test(uint32_t index, const cJSON *md, scaler_spec_t *s, errtext_t *err)
{
    int r;
    if ((r = scaler_meta_double(md, "target", 1, 1e-9, 1e15, &s->target, err)) < 0 ||
        (r = scaler_meta_double(md, "activation", 0, -1e15, 1e15, &s->activation, err)) < 0)
        return r;
    return scaler_metric_name(index, "ckeda-test", s->metric_name, sizeof s->metric_name);
}
#endif

bool scaler_is_resource(const char *type)
{
    return strcmp(type, "cpu") == 0 || strcmp(type, "memory") == 0;
}

/* strconv.ParseInt(value, 10, 32) and its error texts. */
static int spec_utilization(const char *v, scaler_resource_t *r, errtext_t *err)
{
    const char *p = v + (*v == '+' || *v == '-');
    char *end;
    long long n;

    errno = 0;
    n = strtoll(v, &end, 10);
    if (!*p || !isdigit((unsigned char)*p) || *end) {
        errtext_set(err, "metadata.value: strconv.ParseInt: parsing \"%.64s\": invalid syntax", v);
        return -EINVAL;
    }
    if (errno == ERANGE || n < INT32_MIN || n > INT32_MAX) {
        errtext_set(err, "metadata.value: strconv.ParseInt: parsing \"%.64s\": value out of range",
                    v);
        return -EINVAL;
    }
    r->utilization = true;
    r->average_utilization = (int32_t)n;
    return 0;
}

int scaler_spec_resource(const char *type, const char *metric_type, const cJSON *md,
                         scaler_spec_t *ret, errtext_t *err)
{
    scaler_resource_t *r = &ret->resource;
    const char *v = scaler_meta_str(md, "type");
    char value[64];
    size_t n;

    memset(ret, 0, sizeof *ret);
    ret->is_resource = true;
    if (v && *v) {
        errtext_set(err,
                    "metadata.type: scaler %s info: The 'type' setting is DEPRECATED and is "
                    "removed in v2.18 - Use 'metricType' instead.",
                    type);
        return -EINVAL;
    }
    if (!(v = spec_trimmed(md, "value", &n))) {
        errtext_set(err,
                    "metadata.value: missing required parameter \"value\" in [triggerMetadata]");
        return -EINVAL;
    }
    if (n >= sizeof value) {
        errtext_set(err, "metadata.value: too long");
        return -EINVAL;
    }
    memcpy(value, v, n);
    value[n] = '\0';
    if ((v = scaler_meta_str(md, "containerName")) && *v) {
        if (strlen(v) >= sizeof r->container) {
            errtext_set(err, "metadata.containerName: too long");
            return -EINVAL;
        }
        snprintf(r->container, sizeof r->container, "%s", v);
    }
    if (metric_type && strcmp(metric_type, "Utilization") == 0)
        return spec_utilization(value, r, err);
    if (metric_type && strcmp(metric_type, "AverageValue") == 0) {
        if (qty_canonical(value, r->average_value, sizeof r->average_value) < 0) {
            errtext_set(err, "metadata.value: \"%s\" is not a quantity (\"500m\", \"512Mi\")",
                        value);
            return -EINVAL;
        }
        return 0;
    }
    errtext_set(err,
                "metricType: unknown metric type: %.32s, allowed values are 'Utilization' or "
                "'AverageValue'",
                metric_type ? metric_type : "");
    return -EINVAL;
}

/* rabbitmq: metric `sN-rabbitmq-<QueryEscape(queueName)>` (normalized), target `value` of the
 * mode (or the deprecated queueLength; QueueLength 20 when none is given), activationValue (0).
 * Checks that need the host (which may come from the authentication) are the worker's. */
static int spec_rabbitmq(uint32_t index, const cJSON *md, scaler_spec_t *s, errtext_t *err)
{
    static const char *const modes[] = {"QueueLength", "MessageRate", "DeliverGetRate",
                                        "PublishedToDeliveredRatio",
                                        "ExpectedQueueConsumptionTime"};
    char part[SHM_METRIC_MAX];
    size_t n = 0, qn = 0, o;
    const char *q = spec_trimmed(md, "queueName", &qn), *mode = spec_trimmed(md, "mode", &n);
    double qlen = 0;
    bool known = false;
    int r;

    if (!q) {
        errtext_set(err, "metadata.queueName: missing required parameter \"queueName\" in "
                         "[triggerMetadata]");
        return -EINVAL;
    }
    if ((r = spec_float(md, "queueLength", false, 0, &qlen, err)) < 0 ||
        (r = spec_float(md, "value", false, 0, &s->target, err)) < 0 ||
        (r = spec_float(md, "activationValue", false, 0, &s->activation, err)) < 0)
        return r;
    for (size_t i = 0; mode && i < sizeof modes / sizeof modes[0]; i++)
        known |= strlen(modes[i]) == n && memcmp(modes[i], mode, n) == 0;
    if (qlen != 0 && (mode || s->target != 0)) {
        errtext_set(err, "metadata.queueLength: queueLength is deprecated; use mode and value");
        return -EINVAL;
    }
    if (qlen != 0 || (!mode && s->target == 0)) {
        s->target = qlen != 0 ? qlen : 20;
    } else if (!mode || s->target == 0) {
        errtext_set(err, "metadata.%s: %s must be specified", !mode ? "mode" : "value",
                    !mode ? "mode" : "value");
        return -EINVAL;
    } else if (!known) {
        errtext_set(err,
                    "metadata.mode: trigger mode %.*s must be one of QueueLength, "
                    "MessageRate, DeliverGetRate, PublishedToDeliveredRatio or "
                    "ExpectedQueueConsumptionTime",
                    (int)(n > 64 ? 64 : n), mode);
        return -EINVAL;
    }
    /* Go's url.QueryEscape, then NormalizeString */
    o = (size_t)snprintf(part, sizeof part, "rabbitmq-");
    for (size_t i = 0; i < qn && o + 4 < sizeof part; i++) {
        unsigned char c = (unsigned char)q[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-_.~", c))
            part[o++] = (char)c;
        else if (c == ' ')
            part[o++] = '+';
        else
            o += (size_t)snprintf(part + o, sizeof part - o, "%%%02X", c);
    }
    part[o] = '\0';
    scaler_normalize(part);
    if (o + 4 >= sizeof part ||
        scaler_metric_name(index, part, s->metric_name, sizeof s->metric_name) < 0) {
        errtext_set(err, "metadata.queueName: too long for a metric name");
        return -EINVAL;
    }
    return 0;
}

typedef int (*spec_fn_t)(uint32_t, const cJSON *, scaler_spec_t *, errtext_t *);

static const struct {
    const char *type;
    spec_fn_t fn;
} scaler_specs[] = {
    {"redis", spec_redis},
    {"redis-streams", spec_redis_streams},
    {"nats-jetstream", spec_nats_jetstream},
    {"cron", spec_cron},
    {"prometheus", spec_prometheus},
    {"metrics-api", spec_metrics_api},
    {"postgresql", spec_postgresql},
    {"mysql", spec_mysql},
    {"external", spec_external_pull},
    {"external-push", spec_external_push},
    {"rabbitmq", spec_rabbitmq},
    {"kubernetes-workload", spec_kubernetes_workload},
#ifdef CKEDA_TEST_SCALERS
    {"ckeda-test", spec_test},
#endif
};

void scaler_spec_set_namespace(const char *type, uint32_t index, const char *ns, scaler_spec_t *s)
{
    char part[SHM_METRIC_MAX];

    if (strcmp(type, "kubernetes-workload") != 0 || !ns || !*ns)
        return;
    snprintf(part, sizeof part, "workload-%s", ns);
    scaler_normalize(part);
    if (scaler_metric_name(index, part, s->metric_name, sizeof s->metric_name) == 0)
        s->from_source = false;
}

int scaler_spec_build(const char *type, uint32_t index, const cJSON *metadata, scaler_spec_t *ret,
                      errtext_t *err)
{
    scaler_spec_t s;

    for (size_t i = 0; i < sizeof scaler_specs / sizeof scaler_specs[0]; i++) {
        if (strcmp(scaler_specs[i].type, type) != 0)
            continue;
        memset(&s, 0, sizeof s);
        int r = scaler_specs[i].fn(index, metadata, &s, err);
        if (r == 0)
            *ret = s;
        return r;
    }
    errtext_set(err, "scaler type %s is not supported by ckeda %s", type, CKEDA_VERSION);
    return -EOPNOTSUPP;
}
