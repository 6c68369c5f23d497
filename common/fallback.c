/*
 * fallback: see fallback.h. Mirrors KEDA's pkg/fallback (GetMetricsWithFallback, doFallback,
 * HasValidFallback) and pkg/scaling/modifiers (calculateScalingModifiersFormula,
 * scalingModifierTriggerValue, scalingModifiersFallbackTarget); comments name the KEDA branch.
 */
#include "common/fallback.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool fallback_configured(const shm_so_spec_t *so)
{
    return so->fallback_failure_threshold >= 0;
}

bool fallback_valid(const shm_so_spec_t *so)
{
    return fallback_configured(so) && so->fallback_replicas >= 0 &&
           !(so->flags & SHM_SO_F_FALLBACK_INVALID);
}

bool fallback_exceeded(const shm_so_spec_t *so, const shm_trig_view_t *v)
{
    return fallback_valid(so) && v->state == SHM_STATE_ERROR &&
           shm_cause_is_source_failure(v->cause) &&
           (int64_t)v->res.consecutive_failures > (int64_t)so->fallback_failure_threshold;
}

/* Go's int64(x) of a float, saturated where Go's result is undefined. */
static int64_t fallback_int64(double x)
{
    if (isnan(x))
        return 0;
    if (x >= 9.2e18)
        return INT64_MAX;
    if (x <= -9.2e18)
        return INT64_MIN + 1;
    return (int64_t)x; /* truncates toward zero, as Go does */
}

/* doFallback's replica count (before the Value division); -ENODATA when the current count is
 * needed and unknown (GetCurrentReplicas failed: KEDA answers the trigger's error). */
static int fallback_replicas(const shm_so_spec_t *so, const shm_so_observed_t *obs, double *ret)
{
    int32_t fb = so->fallback_replicas, cur = 0;
    uint32_t b = so->fallback_behavior;

    if (b == SHM_FALLBACK_CURRENT || b == SHM_FALLBACK_CURRENT_IF_HIGHER ||
        b == SHM_FALLBACK_CURRENT_IF_LOWER) {
        if (!obs || obs->spec_replicas < 0)
            return -ENODATA;
        cur = obs->spec_replicas;
    }
    switch (b) {
    case SHM_FALLBACK_CURRENT:
        *ret = cur;
        break;
    case SHM_FALLBACK_CURRENT_IF_HIGHER:
        *ret = cur > fb ? cur : fb;
        break;
    case SHM_FALLBACK_CURRENT_IF_LOWER:
        *ret = cur < fb ? cur : fb;
        break;
    default: /* static, and KEDA's default */
        *ret = fb;
        break;
    }
    return 0;
}

int fallback_milli(const shm_so_spec_t *so, const shm_so_observed_t *obs, const shm_trig_view_t *v,
                   int64_t *ret_milli)
{
    bool modifiers = so->modifiers_formula[0] != '\0';
    uint32_t type = modifiers ? so->modifiers_metric_type : v->cfg.metric_type;
    double replicas, target;

    /* behaviour scalingModifiers: GetMetricsWithFallback answers a placeholder, the formula
     * reads the trigger as nil */
    if (!fallback_exceeded(so, v) || so->fallback_behavior == SHM_FALLBACK_SCALING_MODIFIERS ||
        (type != SHM_METRIC_AVERAGE_VALUE && type != SHM_METRIC_VALUE))
        return -ENOENT;
    if (fallback_replicas(so, obs, &replicas) < 0)
        return -ENODATA;
    if (type == SHM_METRIC_VALUE) {
        /* "error performing fallback": unknown or zero ready replicas */
        if (!obs || obs->ready_replicas <= 0)
            return -ENODATA;
        replicas /= obs->ready_replicas;
    }
    /* without modifiers KEDA reads the target from the HPA, which holds it truncated to milli
     * precision; with them it parses scalingModifiers.target */
    target = modifiers ? so->modifiers_target
                       : trunc(shm_spec_target(&v->cfg, &v->res) * 1000.0) / 1000.0;
    if (!isfinite(target))
        target = 0;
    *ret_milli = fallback_int64(target * 1000 * replicas);
    if (*ret_milli < 0)
        *ret_milli = 0;
    return 0;
}

double fallback_formula_value(double v)
{
    char buf[400];

    if (!isfinite(v))
        return 0;
    snprintf(buf, sizeof buf, "%.3f", v); /* GenerateMetricInMili */
    return strtod(buf, NULL);
}

/* cpu and memory: an HPA Resource metric, flagged so by the watcher's mirror. */
static bool fallback_is_resource(const shm_trig_view_t *v)
{
    return (v->cfg.flags & SHM_F_RESOURCE) != 0;
}

int fallback_formula_compile(const shm_so_spec_t *so, const shm_trig_view_t *v, size_t n,
                             expr_t **ret, errtext_t *err)
{
    const char *names[SHM_TRIGGERS_PER_SO_MAX];

    if (n > SHM_TRIGGERS_PER_SO_MAX) {
        errtext_set(err, "too many triggers");
        return -E2BIG;
    }
    for (size_t i = 0; i < n; i++)
        names[i] = fallback_is_resource(&v[i]) || !v[i].cfg.name[0] ? NULL : v[i].cfg.name;
    return expr_compile(so->modifiers_formula, names, n, ret, err);
}

/* The formula's inputs: each trigger's value, or nil (present false) for one past the
 * threshold under behaviour scalingModifiers; fallback values and errors into ret. */
static void fallback_inputs(const shm_so_spec_t *so, const shm_so_observed_t *obs,
                            const shm_trig_view_t *v, size_t n, double *vals, bool *present,
                            fallback_composite_t *ret)
{
    for (size_t i = 0; i < n; i++) {
        int64_t m;

        vals[i] = 0;
        present[i] = true;
        if (fallback_is_resource(&v[i])) /* no External metric: not in the formula */
            continue;
        if (v[i].state != SHM_STATE_ERROR) {
            vals[i] = fallback_formula_value(v[i].res.value);
        } else if (so->fallback_behavior == SHM_FALLBACK_SCALING_MODIFIERS &&
                   fallback_exceeded(so, &v[i])) {
            present[i] = false; /* scalingModifierTriggerValue: nil */
        } else if (fallback_milli(so, obs, &v[i], &m) == 0) {
            if (!ret->fallback) /* HandleScalingModifiers takes fallbackMetrics[0] */
                ret->milli = m;
            ret->fallback = true;
        } else if (!ret->any_error) {
            ret->any_error = true;
            ret->failed = i;
        }
    }
}

int fallback_composite(const shm_so_spec_t *so, const shm_so_observed_t *obs,
                       const shm_trig_view_t *v, size_t n, const expr_t *prog,
                       fallback_composite_t *ret, errtext_t *err)
{
    double vals[SHM_TRIGGERS_PER_SO_MAX], out;
    bool present[SHM_TRIGGERS_PER_SO_MAX], nil;
    int r;

    memset(ret, 0, sizeof *ret);
    ret->failed = n;
    if (n > SHM_TRIGGERS_PER_SO_MAX || !prog) {
        errtext_set(err, "cached compiled formula is nil during its calculation");
        return -EDOM;
    }
    fallback_inputs(so, obs, v, n, vals, present, ret);
    if (ret->fallback)
        return 0; /* the fallback value, renamed composite-metric */
    if (ret->any_error)
        return -EIO; /* "metric:... encountered error" */
    r = expr_eval(prog, vals, present, &out, &nil, err);
    if (r < 0) {
        errtext_prefix(err, "error trying to run custom formula");
        return -EDOM;
    }
    if (nil) { /* scalingModifiersFallbackTarget */
        if (!fallback_configured(so)) {
            errtext_set(err, "scalingModifiers formula evaluated to nil but no fallback is "
                             "configured");
            return -EDOM;
        }
        out = (double)so->fallback_replicas * so->modifiers_target;
        ret->nil_result = true;
    }
    ret->milli = fallback_int64(out * 1000); /* SetMilli(int64(out * 1000)) */
    return 0;
}
