/*
 * so_parse: see scaledobject.h. Runs on every ScaledObject event and every object `ckeda
 * validate` reads; input is outside JSON (schema-validated by the CRD when it comes from the API
 * server, but never trusted: a malformed object gets an error, never a crash).
 */
#include "common/scaledobject.h"

#include "common/json.h"
#include "common/scaler_registry.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
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

static int so_parse_meta(const cJSON *obj, so_t *so, errtext_t *err)
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

const char *so_annotation(const cJSON *annotations, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(annotations, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int so_parse_bool(const char *s, bool *ret)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};

    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(s, t[i]) == 0)
            return *ret = true, 0;
        if (strcmp(s, f[i]) == 0)
            return *ret = false, 0;
    }
    return -EINVAL;
}

/* KEDA's getBoolAnnotation. */
static bool so_bool_annotation(const cJSON *annotations, const char *key)
{
    const char *v = so_annotation(annotations, key);
    bool b = true;

    if (!v)
        return false;
    (void)so_parse_bool(v, &b); /* not a boolean: true */
    return b;
}

static void so_parse_pause(so_t *so)
{
    const char *pr = so_annotation(so->annotations, SO_ANNOTATION_PREFIX "paused-replicas");
    so_pause_t *p = &so->pause;
    char *end;
    long n;

    p->paused = so_bool_annotation(so->annotations, SO_ANNOTATION_PREFIX "paused") || pr;
    p->scale_in = so_bool_annotation(so->annotations, SO_ANNOTATION_PREFIX "paused-scale-in");
    p->scale_out = so_bool_annotation(so->annotations, SO_ANNOTATION_PREFIX "paused-scale-out");
    p->force_activation =
        so_bool_annotation(so->annotations, SO_ANNOTATION_PREFIX "force-activation");
    so->transfer_hpa_ownership =
        so_bool_annotation(so->annotations, "scaledobject.keda.sh/transfer-hpa-ownership");
    so->hpa_excluded_labels =
        so_annotation(so->annotations, "scaledobject.keda.sh/hpa-excluded-labels");
    if (!pr)
        return;
    errno = 0;
    n = strtol(pr, &end, 10);
    p->replicas_invalid = !pr[0] || *end || errno || n < 0 || n > INT32_MAX ||
                          !(pr[0] == '-' || pr[0] == '+' || (pr[0] >= '0' && pr[0] <= '9'));
    p->has_replicas = !p->replicas_invalid;
    p->replicas = p->has_replicas ? (int32_t)n : 0;
}

static int so_parse_target(const cJSON *obj, so_t *so, errtext_t *err)
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

static int so_parse_counts(const cJSON *obj, so_t *so, errtext_t *err)
{
    bool idle_set;
    int r;

    if ((r = jsonu_get_int32_or(obj, "spec.pollingInterval", 1, 30, &so->polling_interval_s, NULL,
                                err)) < 0 ||
        (r = jsonu_get_int32_or(obj, "spec.cooldownPeriod", 0, 300, &so->cooldown_s, NULL, err)) <
            0 ||
        (r = jsonu_get_int32_or(obj, "spec.initialCooldownPeriod", 0, 0, &so->initial_cooldown_s,
                                NULL, err)) < 0 ||
        (r = jsonu_get_int32_or(obj, "spec.minReplicaCount", 0, 0, &so->min_replicas, &so->has_min,
                                err)) < 0 ||
        (r = jsonu_get_int32_or(obj, "spec.maxReplicaCount", 0, 100, &so->max_replicas, NULL,
                                err)) < 0 ||
        (r = jsonu_get_int32_or(obj, "spec.idleReplicaCount", 0, -1, &so->idle_replicas, &idle_set,
                                err)) < 0)
        return r;
    return 0;
}

/* KEDA's CheckReplicaCountBoundsAreValid, messages included. */
static int so_check_bounds(const so_t *so, errtext_t *err)
{
    int32_t min = so->has_min ? so_hpa_min(so) : 0;

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

static int so_modifier_string(const cJSON *obj, const char *key, const char **ret, errtext_t *err)
{
    char path[96];
    int r;

    snprintf(path, sizeof path, "spec.advanced.scalingModifiers.%s", key);
    r = jsonu_get_string(obj, path, 64 * 1024, ret, err);
    if (r == -ENOENT || (r == 0 && !(*ret)[0])) {
        *ret = NULL;
        return 0;
    }
    return r;
}

static int so_parse_modifiers(const cJSON *obj, so_t *so, errtext_t *err)
{
    so_modifiers_t *m = &so->modifiers;
    const char *mt = NULL;
    int r;

    if ((r = so_modifier_string(obj, "formula", &m->formula, err)) < 0 ||
        (r = so_modifier_string(obj, "target", &m->target, err)) < 0 ||
        (r = so_modifier_string(obj, "activationTarget", &m->activation_target, err)) < 0 ||
        (r = so_modifier_string(obj, "metricType", &mt, err)) < 0)
        return r;
    m->metric_type = SHM_METRIC_AVERAGE_VALUE;
    if (mt && strcmp(mt, "Value") == 0)
        m->metric_type = SHM_METRIC_VALUE;
    else if (mt && strcmp(mt, "Utilization") == 0)
        m->utilization = true;
    else if (mt && strcmp(mt, "AverageValue") != 0) {
        errtext_set(err,
                    "spec.advanced.scalingModifiers.metricType: \"%s\" is not AverageValue or "
                    "Value",
                    mt);
        return -EINVAL;
    }
    return 0;
}

static int so_parse_advanced(const cJSON *obj, so_t *so, errtext_t *err)
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
    return so_parse_modifiers(obj, so, err);
}

static int so_parse_fallback(const cJSON *obj, so_t *so, errtext_t *err)
{
    static const char *const names[] = {"static", "currentReplicas", "currentReplicasIfHigher",
                                        "currentReplicasIfLower", "scalingModifiers"};
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
    for (uint32_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(behavior, names[i]) == 0) {
            so->fallback_behavior = i;
            return 0;
        }
    errtext_set(err, "spec.fallback.behavior: \"%s\" is not supported by ckeda %s", behavior,
                CKEDA_VERSION);
    return -EOPNOTSUPP;
}

int32_t so_hpa_min(const so_t *so)
{
    return so->min_replicas > 0 ? so->min_replicas : 1;
}

static int so_parse_triggers(const cJSON *obj, uint32_t max_triggers, so_t *so, errtext_t *err)
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
        r = so_trigger_parse(t, so->ntriggers, &so->triggers[so->ntriggers], err);
        if (r == -EOPNOTSUPP && !unsupported) {
            unsupported = r; /* keep parsing: a later trigger may be malformed */
            continue;
        }
        if (r < 0 && r != -EOPNOTSUPP)
            return r;
        so_trigger_t *tr = &so->triggers[so->ntriggers];
        scaler_spec_set_namespace(tr->type, so->ntriggers, so->ns, &tr->spec);
        so->ntriggers++;
    }
    return unsupported;
}

/* KEDA's ValidateTriggers: unique names; useCachedMetrics not on cpu, memory or cron. */
static int so_validate_triggers(so_t *so, errtext_t *err)
{
    for (uint32_t i = 0; i < so->ntriggers; i++) {
        const so_trigger_t *t = &so->triggers[i];
        if (t->use_cached_metrics &&
            (strcmp(t->type, "cpu") == 0 || strcmp(t->type, "memory") == 0 ||
             strcmp(t->type, "cron") == 0)) {
            errtext_set(err, "property \"useCachedMetrics\" is not supported for \"%s\" scaler",
                        t->type);
            so->failed_step = SO_STEP_TRIGGERS;
            return -EINVAL;
        }
        for (uint32_t j = 0; t->name[0] && j < i; j++)
            if (strcmp(so->triggers[j].name, t->name) == 0) {
                errtext_set(err,
                            "triggerName \"%s\" is defined multiple times in the "
                            "ScaledObject, but it must be unique",
                            t->name);
                so->failed_step = SO_STEP_TRIGGERS;
                return -EINVAL;
            }
    }
    return 0;
}

/* KEDA's check while building the HPA's metric specs (a later step than ValidateTriggers). */
static int so_check_metric_names(so_t *so, errtext_t *err)
{
    for (uint32_t i = 0; i < so->ntriggers; i++)
        for (uint32_t j = 0; j < i; j++)
            if (so->triggers[i].spec.metric_name[0] && !so->triggers[i].spec.from_source &&
                strcmp(so->triggers[j].spec.metric_name, so->triggers[i].spec.metric_name) == 0) {
                errtext_set(err, "metricName %s defined multiple times in ScaledObject %s",
                            so->triggers[i].spec.metric_name, so->name);
                so->failed_step = SO_STEP_SCALERS;
                return -EINVAL;
            }
    return 0;
}

static int so_check_triggers(so_t *so, errtext_t *err)
{
    int r = so_validate_triggers(so, err);
    return r < 0 ? r : so_check_metric_names(so, err);
}

int so_parse(const cJSON *obj, uint32_t max_triggers, so_t *ret, errtext_t *err)
{
    int r;

    memset(ret, 0, sizeof *ret);
    ret->idle_replicas = -1;
    if (!cJSON_IsObject(obj)) {
        errtext_set(err, "not a JSON object");
        return -EINVAL;
    }
    ret->failed_step = SO_STEP_SCALERS;
    if ((r = so_parse_meta(obj, ret, err)) < 0)
        return r;
    so_parse_pause(ret);
    ret->failed_step = SO_STEP_TARGET;
    if ((r = so_parse_target(obj, ret, err)) < 0)
        return r;
    ret->failed_step = SO_STEP_BOUNDS;
    if ((r = so_parse_counts(obj, ret, err)) < 0 || (r = so_check_bounds(ret, err)) < 0)
        return r;
    ret->failed_step = SO_STEP_SCALERS;
    if ((r = so_parse_advanced(obj, ret, err)) < 0 || (r = so_parse_fallback(obj, ret, err)) < 0)
        return r;
    r = so_parse_triggers(obj, max_triggers, ret, err);
    if (r < 0) {
        ret->failed_step = r == -EOPNOTSUPP ? SO_STEP_UNSUPPORTED
                           : r == -E2BIG    ? SO_STEP_TRIGGERS
                                            : SO_STEP_SCALERS;
        return r;
    }
    r = so_check_triggers(ret, err);
    ret->failed_step = r == 0 ? SO_STEP_NONE : ret->failed_step;
    return r;
}
