/*
 * so_trigger: one entry of spec.triggers parsed (keda.md §1.2): type, name, metricType,
 * useCachedMetrics, authenticationRef, metadata (an object of strings), and the scaler's metric
 * spec (common/scaler_spec.c).
 */
#include "common/scaledobject.h"

#include "common/json.h"
#include "common/scaler_registry.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int trig_metric_type(const cJSON *t, uint32_t index, so_trigger_t *ret, errtext_t *err)
{
    const char *mt = "AverageValue";
    int r = jsonu_get_string(t, "metricType", 32, &mt, err);

    if (r < 0 && r != -ENOENT) {
        errtext_prefix(err, "spec.triggers[%u]", index);
        return r;
    }
    if (strcmp(mt, "AverageValue") == 0 || !mt[0]) {
        ret->metric_type = SHM_METRIC_AVERAGE_VALUE;
    } else if (strcmp(mt, "Value") == 0) {
        ret->metric_type = SHM_METRIC_VALUE;
    } else if (strcmp(mt, "Utilization") == 0) {
        errtext_set(err,
                    "spec.triggers[%u]: 'Utilization' metric type is unsupported for "
                    "external metrics",
                    index);
        return -EINVAL;
    } else {
        errtext_set(err, "spec.triggers[%u].metricType: \"%s\" is not AverageValue or Value", index,
                    mt);
        return -EINVAL;
    }
    return 0;
}

static int trig_auth(const cJSON *t, uint32_t index, so_trigger_t *ret, errtext_t *err)
{
    const char *kind = "TriggerAuthentication";
    int r;

    if (!jsonu_lookup(t, "authenticationRef"))
        return 0;
    r = jsonu_copy_string(t, "authenticationRef.name", ret->auth_name, sizeof ret->auth_name, err);
    if (r == 0 && !ret->auth_name[0])
        r = -ENOENT;
    if (r == 0 && (r = jsonu_get_string(t, "authenticationRef.kind", 64, &kind, err)) == -ENOENT)
        r = 0;
    if (r == 0 && kind[0] && strcmp(kind, "TriggerAuthentication") != 0 &&
        strcmp(kind, "ClusterTriggerAuthentication") != 0) {
        errtext_set(err,
                    "authenticationRef.kind: \"%s\" is not TriggerAuthentication or "
                    "ClusterTriggerAuthentication",
                    kind);
        r = -EINVAL;
    }
    if (r < 0) {
        if (r == -ENOENT)
            errtext_set(err, "authenticationRef.name is required");
        errtext_prefix(err, "spec.triggers[%u]", index);
        return -EINVAL;
    }
    ret->auth_cluster = strcmp(kind, "ClusterTriggerAuthentication") == 0;
    return 0;
}

static int trig_metadata(const cJSON *t, uint32_t index, so_trigger_t *ret, errtext_t *err)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(t, "metadata"), *v;

    if (md && !cJSON_IsNull(md) && !cJSON_IsObject(md)) {
        errtext_set(err, "spec.triggers[%u].metadata: not an object", index);
        return -EINVAL;
    }
    cJSON_ArrayForEach(v, md) if (!cJSON_IsString(v))
    {
        errtext_set(err, "spec.triggers[%u].metadata.%s: not a string", index, v->string);
        return -EINVAL;
    }
    ret->metadata = cJSON_IsObject(md) ? md : NULL;
    return 0;
}

/* cpu, memory: an HPA Resource metric; metricType Utilization or AverageValue, no default. */
static int trig_resource(const cJSON *t, uint32_t index, so_trigger_t *ret, errtext_t *err)
{
    const char *mt = NULL;
    int r = jsonu_get_string(t, "metricType", 32, &mt, err);

    if (r < 0 && r != -ENOENT) {
        errtext_prefix(err, "spec.triggers[%u]", index);
        return r;
    }
    if ((r = trig_auth(t, index, ret, err)) < 0 || (r = trig_metadata(t, index, ret, err)) < 0)
        return r;
    if ((r = scaler_spec_resource(ret->type, mt, ret->metadata, &ret->spec, err)) < 0) {
        errtext_prefix(err, "spec.triggers[%u]", index);
        return r;
    }
    ret->metric_type =
        ret->spec.resource.utilization ? SHM_METRIC_UTILIZATION : SHM_METRIC_AVERAGE_VALUE;
    ret->type_id = scaler_type_id(ret->type);
    return 0;
}

int so_trigger_parse(const cJSON *t, uint32_t index, so_trigger_t *ret, errtext_t *err)
{
    bool cached = false;
    int r;

    memset(ret, 0, sizeof *ret);
    r = jsonu_copy_string(t, "type", ret->type, sizeof ret->type, err);
    if (r < 0 || !ret->type[0]) {
        errtext_set(err, "spec.triggers[%u].type: %s", index,
                    r == -ENAMETOOLONG ? "too long" : "is required");
        return -EINVAL;
    }
    if ((r = jsonu_copy_string(t, "name", ret->name, sizeof ret->name, err)) < 0 && r != -ENOENT) {
        errtext_prefix(err, "spec.triggers[%u]", index);
        return -EINVAL;
    }
    if (jsonu_get_bool(t, "useCachedMetrics", &cached, NULL) == 0)
        ret->use_cached_metrics = cached;
    if (scaler_is_resource(ret->type))
        return trig_resource(t, index, ret, err);
    if ((r = trig_metric_type(t, index, ret, err)) < 0 || (r = trig_auth(t, index, ret, err)) < 0 ||
        (r = trig_metadata(t, index, ret, err)) < 0)
        return r;
    ret->type_id = scaler_type_id(ret->type);
    r = scaler_spec_build(ret->type, index, ret->metadata, &ret->spec, err);
    if (r == -EINVAL)
        errtext_prefix(err, "spec.triggers[%u]", index);
    if (r == 0 && ret->type_id == SCALER_TYPE_NONE) {
        errtext_set(err, "scaler type %s is not supported by ckeda %s", ret->type, CKEDA_VERSION);
        r = -EOPNOTSUPP;
    }
    return r;
}
