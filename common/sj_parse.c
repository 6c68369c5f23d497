/*
 * sj_parse: see scaledjob.h. Runs on every ScaledJob the watcher or `ckeda validate` reads;
 * input is outside JSON (schema-checked by the CRD when it comes from the API server, never
 * trusted: a malformed object gets an error, never a crash). The checks follow KEDA's reconcile
 * order: jobTargetRef, (pause), ValidateTriggers, the scalers, metricType.
 */
#include "common/scaledjob.h"

#include "common/json.h"
#include "common/validate_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Go's strconv.ParseFloat ---- */

/* Length of the digits of base (10 or 16) at s. */
static size_t gf_digits(const char *s, bool hex)
{
    size_t n = 0;
    while (hex ? isxdigit((unsigned char)s[n]) : isdigit((unsigned char)s[n]))
        n++;
    return n;
}

/* Whether s (after the sign) is, whole, a literal of Go's readFloat. */
static bool gf_literal(const char *s)
{
    bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    size_t mant;

    if (hex)
        s += 2;
    mant = gf_digits(s, hex);
    s += mant;
    if (*s == '.') {
        size_t frac = gf_digits(s + 1, hex);
        mant += frac;
        s += 1 + frac;
    }
    if (mant == 0)
        return false;
    if (*s == (hex ? 'p' : 'e') || *s == (hex ? 'P' : 'E')) {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (gf_digits(s, false) == 0)
            return false;
        s += gf_digits(s, false);
    } else if (hex) {
        return false; /* "hexadecimal mantissa requires a 'p' exponent" */
    }
    return *s == '\0';
}

int sj_parse_go_float(const char *s, double *ret)
{
    const char *body = s + (*s == '+' || *s == '-');
    double v;
    char *end;

    if (strcasecmp(body, "inf") == 0 || strcasecmp(body, "infinity") == 0) {
        *ret = *s == '-' ? -INFINITY : INFINITY;
        return 0;
    }
    if (body == s && strcasecmp(s, "nan") == 0) {
        *ret = NAN;
        return 0;
    }
    if (!gf_literal(body))
        return -EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (*end || (errno == ERANGE && isinf(v)))
        return -ERANGE; /* Go: ErrRange beyond the largest double; underflow is no error */
    *ret = v;
    return 0;
}

/* ---- fields ---- */

/* An optional string field: NULL when missing or null. */
static int sj_str(const cJSON *obj, const char *path, const char **ret, errtext_t *err)
{
    int r = jsonu_get_string(obj, path, 4096, ret, err);
    if (r == -ENOENT) {
        *ret = NULL;
        return 0;
    }
    return r;
}

static int sj_parse_meta(const cJSON *obj, sj_t *sj, errtext_t *err)
{
    const char *paused;
    int64_t gen = 0;
    int r;

    if ((r = jsonu_copy_string(obj, "metadata.namespace", sj->ns, sizeof sj->ns, err)) < 0 ||
        (r = jsonu_copy_string(obj, "metadata.name", sj->name, sizeof sj->name, err)) < 0)
        return r;
    r = jsonu_copy_string(obj, "metadata.uid", sj->uid, sizeof sj->uid, err);
    if (r < 0 && r != -ENOENT)
        return r;
    if (jsonu_get_int64(obj, "metadata.generation", 0, INT64_MAX, &gen, NULL) == 0)
        sj->generation = gen;
    sj->deleting = jsonu_lookup(obj, "metadata.deletionTimestamp") != NULL;
    sj->labels = jsonu_lookup(obj, "metadata.labels");
    sj->annotations = jsonu_lookup(obj, "metadata.annotations");
    paused = so_annotation(sj->annotations, SJ_ANNOTATION_PAUSED);
    sj->paused = paused != NULL;
    if (paused)
        (void)so_parse_bool(paused, &sj->paused); /* not a boolean: paused */
    sj->job_excluded_labels = so_annotation(sj->annotations, SJ_ANNOTATION_EXCLUDED);
    return 0;
}

static int sj_parse_counts(const cJSON *obj, sj_t *sj, errtext_t *err)
{
    int r;

    if ((r = jsonu_get_int32_or(obj, "spec.pollingInterval", 1, SJ_DEFAULT_POLLING_S,
                                &sj->polling_interval_s, NULL, err)) < 0 ||
        (r = jsonu_get_int32_or(obj, "spec.successfulJobsHistoryLimit", 0, SJ_DEFAULT_HISTORY_LIMIT,
                                &sj->successful_history_limit, NULL, err)) < 0 ||
        (r = jsonu_get_int32_or(obj, "spec.failedJobsHistoryLimit", 0, SJ_DEFAULT_HISTORY_LIMIT,
                                &sj->failed_history_limit, NULL, err)) < 0 ||
        (r = jsonu_get_int32_or(obj, "spec.minReplicaCount", 0, 0, &sj->min_replicas, &sj->has_min,
                                err)) < 0 ||
        (r = jsonu_get_int32_or(obj, "spec.maxReplicaCount", 1, SJ_DEFAULT_MAX_REPLICAS,
                                &sj->max_replicas, &sj->has_max, err)) < 0)
        return r;
    return 0;
}

/* deletePreviousVersionScaleJobs: the deprecated rolloutStrategy wins when non-empty; only
 * "gradual" keeps old Jobs, and only "foreground" changes the propagation. */
static int sj_parse_rollout(const cJSON *obj, sj_t *sj, errtext_t *err)
{
    const char *old, *strategy, *policy;
    int r;

    if ((r = sj_str(obj, "spec.rolloutStrategy", &old, err)) < 0 ||
        (r = sj_str(obj, "spec.rollout.strategy", &strategy, err)) < 0 ||
        (r = sj_str(obj, "spec.rollout.propagationPolicy", &policy, err)) < 0)
        return r;
    if (old && old[0])
        strategy = old;
    sj->rollout_gradual = strategy && strcmp(strategy, "gradual") == 0;
    sj->rollout_foreground = policy && strcmp(policy, "foreground") == 0;
    return 0;
}

static int sj_parse_env_source(const cJSON *obj, sj_t *sj, errtext_t *err)
{
    int r = jsonu_copy_string(obj, "spec.envSourceContainerName", sj->env_source_container,
                              sizeof sj->env_source_container, err);
    return r == -ENOENT ? 0 : r;
}

static int sj_parse_pending_conditions(const cJSON *obj, sj_scaling_t *s, errtext_t *err)
{
    const cJSON *arr = jsonu_lookup(obj, "spec.scalingStrategy.pendingPodConditions"), *c;
    uint32_t i = 0;

    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr)) {
        errtext_set(err, "spec.scalingStrategy.pendingPodConditions: not an array");
        return -EINVAL;
    }
    cJSON_ArrayForEach(c, arr)
    {
        if (!cJSON_IsString(c)) {
            errtext_set(err, "spec.scalingStrategy.pendingPodConditions[%u]: not a string", i);
            return -EINVAL;
        }
        i++;
    }
    s->pending_conditions = i ? arr : NULL;
    s->npending_conditions = i;
    return 0;
}

/* NewScalingStrategy: custom needs a percentage ParseFloat accepts, else it is default. */
static void sj_select_strategy(const char *name, const char *percentage, sj_scaling_t *s)
{
    s->strategy = SJ_STRATEGY_DEFAULT;
    if (!name)
        return;
    if (strcmp(name, "accurate") == 0)
        s->strategy = SJ_STRATEGY_ACCURATE;
    else if (strcmp(name, "eager") == 0)
        s->strategy = SJ_STRATEGY_EAGER;
    else if (strcmp(name, "custom") == 0) {
        if (sj_parse_go_float(percentage ? percentage : "", &s->percentage) == 0)
            s->strategy = SJ_STRATEGY_CUSTOM;
        else
            s->custom_fallback = true;
    }
}

static int sj_parse_scaling(const cJSON *obj, sj_scaling_t *s, errtext_t *err)
{
    const char *name, *percentage, *calc;
    int r;

    if ((r = sj_str(obj, "spec.scalingStrategy.strategy", &name, err)) < 0 ||
        (r = sj_str(obj, "spec.scalingStrategy.customScalingRunningJobPercentage", &percentage,
                    err)) < 0 ||
        (r = sj_str(obj, "spec.scalingStrategy.multipleScalersCalculation", &calc, err)) < 0)
        return r;
    r = jsonu_get_int32(obj, "spec.scalingStrategy.customScalingQueueLengthDeduction", INT32_MIN,
                        INT32_MAX, &s->deduction, err);
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == -ENOENT)
        s->deduction = 0; /* nil: no deduction (KEDA #7798) */
    sj_select_strategy(name, percentage, s);
    s->calc = SJ_CALC_MAX;
    if (calc && strcmp(calc, "min") == 0)
        s->calc = SJ_CALC_MIN;
    else if (calc && strcmp(calc, "avg") == 0)
        s->calc = SJ_CALC_AVG;
    else if (calc && strcmp(calc, "sum") == 0)
        s->calc = SJ_CALC_SUM;
    return sj_parse_pending_conditions(obj, s, err);
}

static int sj_parse_job_target(const cJSON *obj, sj_t *sj, errtext_t *err)
{
    const cJSON *jt = jsonu_lookup(obj, "spec.jobTargetRef"), *tpl;

    if (!jt) {
        errtext_set(err, "spec.jobTargetRef: ScaledJob.spec.jobTargetRef not found");
        return -EINVAL;
    }
    if (!cJSON_IsObject(jt)) {
        errtext_set(err, "spec.jobTargetRef: not an object");
        return -EINVAL;
    }
    tpl = cJSON_GetObjectItemCaseSensitive(jt, "template");
    if (tpl && !cJSON_IsNull(tpl) && !cJSON_IsObject(tpl)) {
        errtext_set(err, "spec.jobTargetRef.template: not an object");
        return -EINVAL;
    }
    sj->job_target = jt;
    return 0;
}

/* ---- triggers ---- */

/* KEDA's ValidateTriggers (common/validate.c), and ckeda's per-object cap. */
static int sj_validate_triggers(const cJSON *obj, uint32_t max_triggers, sj_t *sj, errtext_t *err)
{
    const cJSON *arr = jsonu_lookup(obj, "spec.triggers");
    validate_report_t *rep;
    int r;

    sj->failed_step = SJ_STEP_TRIGGERS;
    if (arr && !cJSON_IsArray(arr)) {
        errtext_set(err, "spec.triggers: not an array");
        return -EINVAL;
    }
    if (cJSON_GetArraySize(arr) > 0 && (uint32_t)cJSON_GetArraySize(arr) > max_triggers) {
        errtext_set(err,
                    "spec.triggers: %d triggers, more than the %u this ckeda accepts per "
                    "ScaledJob (max-triggers-per-scaledobject)",
                    cJSON_GetArraySize(arr), max_triggers);
        return -E2BIG;
    }
    if (!(rep = calloc(1, sizeof *rep))) {
        errtext_set(err, "out of memory");
        return -ENOMEM;
    }
    validate_triggers_rule(obj, rep);
    r = rep->n > 0 ? -EINVAL : 0;
    if (r < 0)
        errtext_set(err, "%s: %s", rep->findings[0].field, rep->findings[0].message);
    free(rep);
    return r;
}

/* The scalers, as GetScalersCache builds them; an unsupported type is reported after every
 * trigger parsed, so a later malformed one is not hidden. */
static int sj_parse_triggers(const cJSON *obj, sj_t *sj, errtext_t *err)
{
    const cJSON *t;
    errtext_t e, unsupported = {{0}};
    uint32_t i = 0;
    int r;

    sj->failed_step = SJ_STEP_SCALERS;
    cJSON_ArrayForEach(t, jsonu_lookup(obj, "spec.triggers"))
    {
        e.text[0] = '\0';
        r = so_trigger_parse(t, i++, &sj->triggers[sj->ntriggers], &e);
        if (r == -EOPNOTSUPP && !unsupported.text[0])
            unsupported = e;
        else if (r < 0 && r != -EOPNOTSUPP) {
            errtext_set(err, "%s", e.text);
            return r;
        } else if (r == 0)
            sj->ntriggers++;
    }
    if (unsupported.text[0]) {
        errtext_set(err, "%s", unsupported.text);
        sj->failed_step = SJ_STEP_UNSUPPORTED;
        return -EOPNOTSUPP;
    }
    return 0;
}

/* KEDA refuses metricType on ScaledJob triggers after building the scalers. */
static int sj_check_metric_type(const cJSON *obj, sj_t *sj, errtext_t *err)
{
    const cJSON *t;
    uint32_t i = 0;

    cJSON_ArrayForEach(t, jsonu_lookup(obj, "spec.triggers"))
    {
        if (validate_str0(t, "metricType")[0]) {
            errtext_set(err,
                        "spec.triggers[%u].metricType: metricType is set in one of the "
                        "ScaledJob scaler",
                        i);
            sj->failed_step = SJ_STEP_METRIC_TYPE;
            return -EINVAL;
        }
        i++;
    }
    return 0;
}

/* ---- the object ---- */

static int sj_parse_spec(const cJSON *obj, sj_t *sj, errtext_t *err)
{
    int r;

    sj->failed_step = SJ_STEP_SPEC;
    if ((r = sj_parse_counts(obj, sj, err)) < 0 || (r = sj_parse_rollout(obj, sj, err)) < 0 ||
        (r = sj_parse_env_source(obj, sj, err)) < 0 ||
        (r = sj_parse_scaling(obj, &sj->scaling, err)) < 0)
        return r;
    sj->failed_step = SJ_STEP_JOB_TARGET;
    return sj_parse_job_target(obj, sj, err);
}

int sj_parse(const cJSON *obj, uint32_t max_triggers, sj_t *ret, errtext_t *err)
{
    int r;

    memset(ret, 0, sizeof *ret);
    ret->failed_step = SJ_STEP_SPEC;
    if (!cJSON_IsObject(obj)) {
        errtext_set(err, "not a JSON object");
        return -EINVAL;
    }
    if ((r = sj_parse_meta(obj, ret, err)) < 0 || (r = sj_parse_spec(obj, ret, err)) < 0 ||
        (r = sj_validate_triggers(obj, max_triggers, ret, err)) < 0 ||
        (r = sj_parse_triggers(obj, ret, err)) < 0 || (r = sj_check_metric_type(obj, ret, err)) < 0)
        return r;
    ret->failed_step = SJ_STEP_NONE;
    return 0;
}

int64_t sj_min_replicas(const sj_t *sj)
{
    if (sj->has_min && sj->has_max && sj->min_replicas > sj->max_replicas)
        return sj->max_replicas;
    return sj->has_min ? sj->min_replicas : 0;
}

int64_t sj_max_replicas(const sj_t *sj)
{
    if (!sj->has_max)
        return SJ_DEFAULT_MAX_REPLICAS;
    if (sj->has_min && sj->min_replicas > sj->max_replicas)
        return sj->max_replicas;
    return (int64_t)sj->max_replicas - sj_min_replicas(sj);
}

const char *sj_step_message(sj_step_t step)
{
    switch (step) {
    case SJ_STEP_SPEC:
        return "ScaledJob spec is invalid";
    case SJ_STEP_JOB_TARGET:
        return "ScaledJob.spec.jobTargetRef not found";
    case SJ_STEP_TRIGGERS:
        return "ScaledJob doesn't have correct triggers specification";
    case SJ_STEP_SCALERS:
    case SJ_STEP_UNSUPPORTED:
        return "Failed to ensure ScaledJob is correctly created";
    case SJ_STEP_METRIC_TYPE:
        return "Cannot set metricType in ScaledJob triggers";
    case SJ_STEP_NONE:
        break;
    }
    return "";
}
