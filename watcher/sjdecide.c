/*
 * sjdecide: see sjdecide.h. Pure functions, run by the watcher; no I/O, no state. The Jobs and
 * pods they read are API objects (untrusted: a field of the wrong type reads as absent).
 */
#include "watcher/sjdecide.h"

#include "common/json.h"

#include <math.h>
#include <string.h>

/* ---- Go's arithmetic ---- */

/* int64(x) for a float64 x, saturating (NaN: 0), as arm64 converts. */
static int64_t sj_go_int64(double x)
{
    if (isnan(x))
        return 0;
    if (x >= 9223372036854775808.0)
        return INT64_MAX;
    if (x < -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)x;
}

/* a - b and a + b with Go's two's-complement wrap-around. */
static int64_t sj_sub(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}

static int64_t sj_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static int64_t sj_min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Go's min(float64, float64): NaN wins. */
static double sj_fmin(double a, double b)
{
    if (isnan(a) || isnan(b))
        return NAN;
    return a < b ? a : b;
}

/* ---- the triggers ---- */

/* CalculateQueueLengthAndMaxValue for one trigger. */
static void sj_trig_metric(const watch_sj_trig_t *t, int64_t max_replicas, watch_sj_metric_t *m)
{
    m->queue_length = 0;
    for (size_t i = 0; i < t->nvalues; i++)
        m->queue_length += t->values[i];
    m->max_value = 0;
    if (t->target != 0)
        m->max_value = sj_fmin(m->queue_length / t->target, (double)max_replicas);
    m->active = t->active;
}

/* KEDA's "min" keeps replacing a chosen queueLength of 0 by the next active trigger's. */
static void sj_pick_min(const watch_sj_metric_t *m, size_t n, double *ql, double *mv, bool *act)
{
    for (size_t i = 0; i < n; i++)
        if ((*ql == 0 || m[i].queue_length < *ql) && m[i].active) {
            *ql = m[i].queue_length;
            *mv = m[i].max_value;
            *act = true;
        }
}

/* KEDA's "max" chooses only a queueLength above 0: an active trigger with an empty queue does
 * not make the ScaledJob active. */
static void sj_pick_max(const watch_sj_metric_t *m, size_t n, double *ql, double *mv, bool *act)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].queue_length > *ql && m[i].active) {
            *ql = m[i].queue_length;
            *mv = m[i].max_value;
            *act = true;
        }
}

static void sj_pick_sum(const watch_sj_metric_t *m, size_t n, bool avg, double *ql, double *mv,
                        bool *act)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        if (m[i].active) {
            *ql += m[i].queue_length;
            *mv += m[i].max_value;
            *act = true;
            k++;
        }
    if (avg && k) {
        *ql /= (double)k;
        *mv /= (double)k;
    }
}

void watch_sj_combine(const watch_sj_metric_t *m, size_t n, sj_calc_t calc, int64_t min_replicas,
                      int64_t max_replicas, watch_sj_combined_t *out)
{
    double ql = 0, mv = 0;
    bool act = false;

    switch (calc) {
    case SJ_CALC_MIN:
        sj_pick_min(m, n, &ql, &mv, &act);
        break;
    case SJ_CALC_AVG:
    case SJ_CALC_SUM:
        sj_pick_sum(m, n, calc == SJ_CALC_AVG, &ql, &mv, &act);
        break;
    case SJ_CALC_MAX:
        sj_pick_max(m, n, &ql, &mv, &act);
        break;
    }
    if (min_replicas > 0)
        act = true;
    mv = sj_fmin(mv, (double)max_replicas);
    out->active = act;
    out->queue_length = sj_go_int64(ceil(ql));
    out->max_scale = sj_go_int64(ceil(mv));
    out->max_value = mv;
}

/* ---- the strategies ---- */

int64_t watch_sj_effective_max(const sj_scaling_t *s, int64_t max_scale, int64_t running,
                               int64_t pending, int64_t max_replicas, int64_t *scale_to)
{
    int64_t r;

    switch (s->strategy) {
    case SJ_STRATEGY_CUSTOM:
        r = sj_sub(sj_sub(max_scale, s->deduction), sj_go_int64((double)running * s->percentage));
        return sj_min64(r, max_replicas);
    case SJ_STRATEGY_ACCURATE: /* pending in the test since KEDA #7329 / PR #7417 */
        if (sj_sub(sj_add(max_scale, running), pending) > max_replicas)
            return sj_sub(max_replicas, running);
        return sj_sub(max_scale, pending);
    case SJ_STRATEGY_EAGER:
        *scale_to = max_replicas;
        return sj_min64(sj_sub(sj_sub(max_replicas, running), pending), max_scale);
    case SJ_STRATEGY_DEFAULT:
        break;
    }
    return sj_sub(max_scale, running);
}

/* ---- the decision ---- */

/* getScaledJobMetrics: errored and cpu/memory triggers contribute nothing. */
static size_t sj_metrics(const sj_t *sj, const watch_sj_decide_in_t *in, watch_sj_metric_t *m,
                         bool *error)
{
    size_t n = 0;

    *error = false;
    for (size_t i = 0; i < in->ntrig && n < SHM_TRIGGERS_PER_SO_MAX; i++) {
        if (in->trig[i].resource)
            continue;
        if (in->trig[i].error) {
            *error = true;
            continue;
        }
        sj_trig_metric(&in->trig[i], sj_max_replicas(sj), &m[n++]);
    }
    return n;
}

void watch_sj_decide(const sj_t *sj, const watch_sj_decide_in_t *in, watch_sj_decision_t *out)
{
    watch_sj_metric_t m[SHM_TRIGGERS_PER_SO_MAX];
    watch_sj_combined_t c;
    int64_t min = sj_min_replicas(sj), eff, scale_to;
    size_t n = sj_metrics(sj, in, m, &out->error);

    out->max_replicas = sj_max_replicas(sj);
    watch_sj_combine(m, n, sj->scaling.calc, min, out->max_replicas, &c);
    out->active = c.active;
    out->queue_length = c.queue_length;
    out->max_scale = c.max_scale;
    out->max_value = c.max_value;
    scale_to = c.queue_length;
    if (in->running < min) { /* getScalingDecision: make up minReplicaCount first */
        scale_to = eff = min - in->running;
    } else {
        eff = watch_sj_effective_max(&sj->scaling, c.max_scale, sj_sub(in->running, min),
                                     in->pending, out->max_replicas, &scale_to);
    }
    out->scale_to = scale_to;
    out->effective_max_scale = eff < 0 ? 0 : eff;
    out->create = 0;
    /* createJobs: nothing when the effective max is 0; a negative scaleTo (negative metric
     * values) creates none where KEDA would panic */
    if (out->active && out->effective_max_scale > 0 && scale_to > 0)
        out->create = sj_min64(scale_to, out->effective_max_scale);
}

/* ---- Jobs and pods ---- */

static bool sj_cond_true(const cJSON *c, const char *type)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(c, "status");
    return cJSON_IsString(t) && cJSON_IsString(s) && strcmp(t->valuestring, type) == 0 &&
           strcmp(s->valuestring, "True") == 0;
}

watch_sj_job_state_t watch_sj_job_state(const cJSON *job)
{
    const cJSON *c;

    cJSON_ArrayForEach(c, jsonu_lookup(job, "status.conditions"))
    {
        if (sj_cond_true(c, "Complete"))
            return WATCH_SJ_JOB_COMPLETE;
        if (sj_cond_true(c, "Failed"))
            return WATCH_SJ_JOB_FAILED;
    }
    return WATCH_SJ_JOB_UNFINISHED;
}

/* isAnyPodRunningOrCompleted */
static bool sj_pod_running_or_done(const cJSON *pod)
{
    const char *phase = cJSON_GetStringValue(jsonu_lookup(pod, "status.phase"));
    return phase && (strcmp(phase, "Running") == 0 || strcmp(phase, "Succeeded") == 0);
}

/* One pod of areAllPendingPodConditionsFulfilled: the distinct listed conditions that are True
 * number as many as the list's entries. */
static bool sj_pod_conditions_met(const sj_scaling_t *s, const cJSON *pod)
{
    const cJSON *want, *prev;
    uint32_t met = 0;

    cJSON_ArrayForEach(want, s->pending_conditions)
    {
        bool seen = false, is_true = false;
        const cJSON *c;

        for (prev = s->pending_conditions->child; prev != want && !seen; prev = prev->next)
            seen = strcmp(prev->valuestring, want->valuestring) == 0;
        cJSON_ArrayForEach(c, jsonu_lookup(pod, "status.conditions")) is_true =
            is_true || sj_cond_true(c, want->valuestring);
        met += !seen && is_true;
    }
    return met == s->npending_conditions;
}

bool watch_sj_job_pending(const sj_t *sj, const cJSON *job, const cJSON *pods)
{
    const cJSON *pod;

    if (watch_sj_job_state(job) != WATCH_SJ_JOB_UNFINISHED)
        return false;
    cJSON_ArrayForEach(pod, pods)
    {
        if (sj->scaling.npending_conditions ? sj_pod_conditions_met(&sj->scaling, pod)
                                            : sj_pod_running_or_done(pod))
            return false;
    }
    return true;
}
