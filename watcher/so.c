/*
 * so: see so.h. Runs in the watcher on every ScaledObject event; input is the API server's
 * JSON (already schema-validated by the CRD, but the watcher never trusts that: a malformed
 * object gets an error, never a crash).
 */
#include "watcher/so.h"

#include "common/json.h"
#include "common/scaler_registry.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SO_ANNOTATION_PREFIX "autoscaling.keda.sh/"

static int so_copy(const cJSON *obj, const char *path, char *buf, size_t cap, const char *def,
                   errtext_t *err)
{
    int r = jsonu_copy_string(obj, path, buf, cap, err);
    if (r == -ENOENT) {
        snprintf(buf, cap, "%s", def);
        return 0;
    }
    return r;
}

static int so_int(const cJSON *obj, const char *path, int32_t min, int32_t def, int32_t *ret,
                  bool *ret_set, errtext_t *err)
{
    int r = jsonu_get_int32(obj, path, min, INT32_MAX, ret, err);
    if (ret_set)
        *ret_set = r == 0;
    if (r == -ENOENT) {
        *ret = def;
        return 0;
    }
    return r;
}

static int so_parse_meta(const cJSON *obj, watch_so_t *so, errtext_t *err)
{
    int r;
    int64_t gen = 0;

    if ((r = jsonu_copy_string(obj, "metadata.namespace", so->ns, sizeof so->ns, err)) < 0 ||
        (r = jsonu_copy_string(obj, "metadata.name", so->name, sizeof so->name, err)) < 0 ||
        (r = so_copy(obj, "metadata.uid", so->uid, sizeof so->uid, "", err)) < 0)
        return r;
    if (jsonu_get_int64(obj, "metadata.generation", 0, INT64_MAX, &gen, NULL) == 0)
        so->generation = gen;
    so->deleting = jsonu_lookup(obj, "metadata.deletionTimestamp") != NULL;
    so->labels = jsonu_lookup(obj, "metadata.labels");
    so->annotations = jsonu_lookup(obj, "metadata.annotations");
    return 0;
}

static int so_parse_target(const cJSON *obj, watch_so_t *so, errtext_t *err)
{
    int r = jsonu_copy_string(obj, "spec.scaleTargetRef.name", so->target_name,
                              sizeof so->target_name, err);
    if (r == -ENOENT || (r == 0 && !so->target_name[0])) {
        errtext_set(err, "ScaledObject.spec.scaleTargetRef.name is missing");
        return -EINVAL;
    }
    if (r < 0 ||
        (r = so_copy(obj, "spec.scaleTargetRef.apiVersion", so->target_api_version,
                     sizeof so->target_api_version, "apps/v1", err)) < 0 ||
        (r = so_copy(obj, "spec.scaleTargetRef.kind", so->target_kind, sizeof so->target_kind,
                     "Deployment", err)) < 0 ||
        (r = so_copy(obj, "spec.scaleTargetRef.envSourceContainerName", so->env_source_container,
                     sizeof so->env_source_container, "", err)) < 0)
        return r;
    if (!so->target_api_version[0])
        snprintf(so->target_api_version, sizeof so->target_api_version, "apps/v1");
    if (!so->target_kind[0])
        snprintf(so->target_kind, sizeof so->target_kind, "Deployment");
    return 0;
}

static int so_parse_counts(const cJSON *obj, watch_so_t *so, errtext_t *err)
{
    bool idle_set;
    int r;

    if ((r = so_int(obj, "spec.pollingInterval", 1, 30, &so->polling_interval_s, NULL, err)) < 0 ||
        (r = so_int(obj, "spec.cooldownPeriod", 0, 300, &so->cooldown_s, NULL, err)) < 0 ||
        (r = so_int(obj, "spec.initialCooldownPeriod", 0, 0, &so->initial_cooldown_s, NULL, err)) <
            0 ||
        (r = so_int(obj, "spec.minReplicaCount", 0, 0, &so->min_replicas, &so->has_min, err)) < 0 ||
        (r = so_int(obj, "spec.maxReplicaCount", 0, 100, &so->max_replicas, NULL, err)) < 0 ||
        (r = so_int(obj, "spec.idleReplicaCount", 0, -1, &so->idle_replicas, &idle_set, err)) < 0)
        return r;
    return 0;
}

/* KEDA's CheckReplicaCountBoundsAreValid, messages included. */
static int so_check_bounds(const watch_so_t *so, errtext_t *err)
{
    int32_t min = so->has_min ? watch_so_hpa_min(so) : 0;

    if (min > so->max_replicas) {
        errtext_set(err, "MinReplicaCount=%d must be less than MaxReplicaCount=%d", min,
                    so->max_replicas);
        return -EINVAL;
    }
    if (so->idle_replicas >= 0 && so->idle_replicas >= min) {
        errtext_set(err, "IdleReplicaCount=%d must be less than MinReplicaCount=%d",
                    so->idle_replicas, min);
        return -EINVAL;
    }
    return 0;
}

static int so_parse_advanced(const cJSON *obj, watch_so_t *so, errtext_t *err)
{
    const cJSON *behavior =
        jsonu_lookup(obj, "spec.advanced.horizontalPodAutoscalerConfig.behavior");
    bool restore = false;
    int r;

    if (jsonu_get_bool(obj, "spec.advanced.restoreToOriginalReplicaCount", &restore, NULL) == 0)
        so->restore_to_original = restore;
    r = jsonu_copy_string(obj, "spec.advanced.horizontalPodAutoscalerConfig.name", so->hpa_name,
                          sizeof so->hpa_name, err);
    if (r == -ENOENT || (r == 0 && !so->hpa_name[0]))
        snprintf(so->hpa_name, sizeof so->hpa_name, "keda-hpa-%s", so->name);
    else if (r < 0)
        return r;
    if (behavior && !cJSON_IsObject(behavior)) {
        errtext_set(err, "spec.advanced.horizontalPodAutoscalerConfig.behavior: not an object");
        return -EINVAL;
    }
    so->hpa_behavior = behavior;
    return 0;
}

static int so_parse_fallback(const cJSON *obj, watch_so_t *so, errtext_t *err)
{
    static const char *const names[] = {"static", "currentReplicas", "currentReplicasIfHigher",
                                        "currentReplicasIfLower"};
    const char *behavior = "static";
    int r;

    so->has_fallback = jsonu_lookup(obj, "spec.fallback") != NULL;
    if (!so->has_fallback)
        return 0;
    if ((r = jsonu_get_int32(obj, "spec.fallback.failureThreshold", 0, INT32_MAX,
                             &so->fallback_failure_threshold, err)) < 0 ||
        (r = jsonu_get_int32(obj, "spec.fallback.replicas", 0, INT32_MAX, &so->fallback_replicas,
                             err)) < 0)
        return r;
    r = jsonu_get_string(obj, "spec.fallback.behavior", 64, &behavior, err);
    if (r < 0 && r != -ENOENT)
        return r;
    for (uint32_t i = 0; i < 4; i++)
        if (strcmp(behavior, names[i]) == 0) {
            so->fallback_behavior = i;
            return 0;
        }
    errtext_set(err, "spec.fallback.behavior: \"%s\" is not supported by ckeda %s", behavior,
                CKEDA_VERSION);
    return -EOPNOTSUPP;
}

int32_t watch_so_hpa_min(const watch_so_t *so)
{
    return so->min_replicas > 0 ? so->min_replicas : 1;
}

static int so_parse_triggers(const cJSON *obj, uint32_t max_triggers, watch_so_t *so,
                             errtext_t *err)
{
    const cJSON *arr = jsonu_lookup(obj, "spec.triggers"), *t;
    int r, unsupported = 0;

    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        errtext_set(err, "spec.triggers: at least one trigger is required");
        return -EINVAL;
    }
    if ((uint32_t)cJSON_GetArraySize(arr) > max_triggers) {
        errtext_set(err,
                    "spec.triggers: %d triggers, more than the %u this ckeda accepts per "
                    "ScaledObject (max-triggers-per-scaledobject)",
                    cJSON_GetArraySize(arr), max_triggers);
        return -E2BIG;
    }
    cJSON_ArrayForEach(t, arr)
    {
        r = watch_trigger_parse(t, so->ntriggers, &so->triggers[so->ntriggers], err);
        if (r == -EOPNOTSUPP && !unsupported) {
            unsupported = r; /* keep parsing: a later trigger may be malformed */
            continue;
        }
        if (r < 0 && r != -EOPNOTSUPP)
            return r;
        so->ntriggers++;
    }
    return unsupported;
}

/* KEDA's ValidateTriggers: unique names; useCachedMetrics not on cpu, memory or cron. */
static int so_validate_triggers(watch_so_t *so, errtext_t *err)
{
    for (uint32_t i = 0; i < so->ntriggers; i++) {
        const watch_trigger_t *t = &so->triggers[i];
        if (t->use_cached_metrics &&
            (strcmp(t->type, "cpu") == 0 || strcmp(t->type, "memory") == 0 ||
             strcmp(t->type, "cron") == 0)) {
            errtext_set(err, "property \"useCachedMetrics\" is not supported for \"%s\" scaler",
                        t->type);
            so->failed_step = WATCH_STEP_TRIGGERS;
            return -EINVAL;
        }
        for (uint32_t j = 0; t->name[0] && j < i; j++)
            if (strcmp(so->triggers[j].name, t->name) == 0) {
                errtext_set(err,
                            "triggerName \"%s\" is defined multiple times in the "
                            "ScaledObject, but it must be unique",
                            t->name);
                so->failed_step = WATCH_STEP_TRIGGERS;
                return -EINVAL;
            }
    }
    return 0;
}

/* KEDA's check while building the HPA's metric specs (a later step than ValidateTriggers). */
static int so_check_metric_names(watch_so_t *so, errtext_t *err)
{
    for (uint32_t i = 0; i < so->ntriggers; i++)
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(so->triggers[j].spec.metric_name, so->triggers[i].spec.metric_name) == 0 &&
                !so->triggers[i].spec.from_source) {
                errtext_set(err, "metricName %s defined multiple times in ScaledObject %s",
                            so->triggers[i].spec.metric_name, so->name);
                so->failed_step = WATCH_STEP_SCALERS;
                return -EINVAL;
            }
    return 0;
}

static int so_check_triggers(watch_so_t *so, errtext_t *err)
{
    int r = so_validate_triggers(so, err);
    return r < 0 ? r : so_check_metric_names(so, err);
}

int watch_so_parse(const cJSON *obj, uint32_t max_triggers, watch_so_t *ret, errtext_t *err)
{
    int r;

    memset(ret, 0, sizeof *ret);
    ret->idle_replicas = -1;
    if (!cJSON_IsObject(obj)) {
        errtext_set(err, "not a JSON object");
        return -EINVAL;
    }
    ret->failed_step = WATCH_STEP_SCALERS;
    if ((r = so_parse_meta(obj, ret, err)) < 0)
        return r;
    ret->failed_step = WATCH_STEP_TARGET;
    if ((r = so_parse_target(obj, ret, err)) < 0)
        return r;
    ret->failed_step = WATCH_STEP_BOUNDS;
    if ((r = so_parse_counts(obj, ret, err)) < 0 || (r = so_check_bounds(ret, err)) < 0)
        return r;
    ret->failed_step = WATCH_STEP_SCALERS;
    if ((r = so_parse_advanced(obj, ret, err)) < 0 || (r = so_parse_fallback(obj, ret, err)) < 0)
        return r;
    r = so_parse_triggers(obj, max_triggers, ret, err);
    if (r < 0) {
        ret->failed_step = r == -EOPNOTSUPP ? WATCH_STEP_UNSUPPORTED
                           : r == -E2BIG    ? WATCH_STEP_TRIGGERS
                                            : WATCH_STEP_SCALERS;
        return r;
    }
    r = so_check_triggers(ret, err);
    ret->failed_step = r == 0 ? WATCH_STEP_NONE : ret->failed_step;
    return r;
}
