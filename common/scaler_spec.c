/*
 * scaler_spec: see scaler_spec.h. One small function per scaler type; adding a scaler adds one
 * here (its metric name and thresholds, from KEDA's GetMetricSpecForScaling).
 */
#include "common/scaler_spec.h"

#include "common/cron.h"

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

typedef int (*spec_fn_t)(uint32_t, const cJSON *, scaler_spec_t *, errtext_t *);

static const struct {
    const char *type;
    spec_fn_t fn;
} scaler_specs[] = {
    {"redis", spec_redis},
    {"cron", spec_cron},
#ifdef CKEDA_TEST_SCALERS
    {"ckeda-test", spec_test},
#endif
};

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
