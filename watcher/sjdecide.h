/*
 * sjdecide: KEDA's per-poll decision for one ScaledJob (keda.md §1.15; KEDA's
 * pkg/scaling/scaledjob/metrics.go, pkg/scaling/executor/scale_jobs.go), as pure functions of
 * what the poll observed, and the Jobs KEDA creates and deletes (sjjob.c). The watcher's
 * ScaledJob loop gathers the inputs (trigger results from the table, the Jobs and their pods
 * from the API) and carries the decision out.
 *
 * Arithmetic is Go's: int64 wraps, and a float64 converted to int64 out of range saturates
 * (NaN is 0) as KEDA's arm64 build does (amd64 gives MinInt64 there, and KEDA then panics
 * making a negative number of Jobs; ckeda creates none).
 */
#ifndef CKEDA_WATCHER_SJDECIDE_H
#define CKEDA_WATCHER_SJDECIDE_H

#include "common/scaledjob.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the triggers (getScaledJobMetrics, IsScaledJobActive) ---- */

/* One trigger as one poll sees it. */
typedef struct watch_sj_trig {
    const double *values; /* the metric's values; their sum is the trigger's queueLength */
    size_t nvalues;
    double target; /* the metric's target average value (0 when none: maxValue stays 0) */
    bool active;   /* the scaler says active */
    bool error;    /* the poll failed: the trigger contributes nothing, isError is set */
    bool resource; /* cpu/memory: no External metric, KEDA skips it */
} watch_sj_trig_t;

/* One trigger's contribution (KEDA's ScalerMetrics). */
typedef struct watch_sj_metric {
    double queue_length;
    double max_value; /* min(queueLength / target, MaxReplicaCount()) */
    bool active;
} watch_sj_metric_t;

/* KEDA's IsScaledJobActive over the contributions m[0..n). */
typedef struct watch_sj_combined {
    bool active;
    int64_t queue_length; /* ceil of the combined queueLength: KEDA's scaleTo */
    int64_t max_scale;    /* ceil of max_value: KEDA's maxScale */
    double max_value;     /* combined, capped at MaxReplicaCount() (KEDA logs it) */
} watch_sj_combined_t;

void watch_sj_combine(const watch_sj_metric_t *m, size_t n, sj_calc_t calc, int64_t min_replicas,
                      int64_t max_replicas, watch_sj_combined_t *out);

/* ---- the strategies (GetEffectiveMaxScale, getScalingDecision) ---- */

/* The strategy's effective max scale (not yet clamped at 0); *scale_to is replaced where the
 * strategy says so (eager: MaxReplicaCount()). running is the non-finished Jobs minus
 * MinReplicaCount(). */
int64_t watch_sj_effective_max(const sj_scaling_t *s, int64_t max_scale, int64_t running,
                               int64_t pending, int64_t max_replicas, int64_t *scale_to);

/* ---- the decision (RequestJobScale) ---- */

typedef struct watch_sj_decide_in {
    const watch_sj_trig_t *trig; /* spec order */
    size_t ntrig;
    int64_t running; /* Jobs labelled scaledjob.keda.sh/name=<sj> not finished */
    int64_t pending; /* of those, pending (watch_sj_job_pending) */
} watch_sj_decide_in_t;

typedef struct watch_sj_decision {
    bool active; /* isActive: an active trigger was chosen, or minReplicaCount > 0 */
    bool error;  /* isError: some trigger failed */
    /* What KEDA logs and records, in its names: */
    int64_t queue_length;        /* IsScaledJobActive's scaleTo (ceil of queueLength) */
    int64_t max_scale;           /* IsScaledJobActive's maxScale */
    double max_value;            /* its float maxValue */
    int64_t max_replicas;        /* MaxReplicaCount() */
    int64_t scale_to;            /* after getScalingDecision */
    int64_t effective_max_scale; /* after getScalingDecision, clamped at 0 */
    int64_t create;              /* Jobs to create now (0 unless active) */
} watch_sj_decision_t;

void watch_sj_decide(const sj_t *sj, const watch_sj_decide_in_t *in, watch_sj_decision_t *out);

/* ---- Jobs and pods (sjdecide.c) ---- */

typedef enum {
    WATCH_SJ_JOB_UNFINISHED,
    WATCH_SJ_JOB_COMPLETE,
    WATCH_SJ_JOB_FAILED,
} watch_sj_job_state_t;

/* The first status condition of type Complete or Failed with status "True", else unfinished. */
watch_sj_job_state_t watch_sj_job_state(const cJSON *job);

/* Whether a Job counts as pending: not finished and, without pendingPodConditions, no pod of it
 * Running or Succeeded; with them, no pod having every listed condition "True" (KEDA compares
 * the count of distinct conditions met with the list's length, so a duplicated entry is never
 * met). pods: an array of the Job's pods (label job-name=<job>), NULL when none. */
bool watch_sj_job_pending(const sj_t *sj, const cJSON *job, const cJSON *pods);

/* ---- Jobs KEDA creates and deletes (sjjob.c) ---- */

/* One batch/v1 Job as KEDA's generateJobs makes it: generateName "<sj>-", KEDA's labels and the
 * ScaledJob's (less scaledjob.keda.sh/job-excluded-labels), the ScaledJob's annotations over
 * scaledjob.keda.sh/generation, a controller ownerReference, jobTargetRef as the spec with the
 * pod template labelled and restartPolicy OnFailure when empty. NULL when memory runs out. */
cJSON *watch_sj_job_build(const sj_t *sj);

/* The finished Jobs of jobs (an array) beyond the history limits, oldest first: the Complete
 * ones beyond successfulJobsHistoryLimit, then the Failed ones beyond failedJobsHistoryLimit.
 * Writes at most cap pointers into jobs to out; returns their count, or -ENOMEM. */
int watch_sj_history_select(const sj_t *sj, const cJSON *jobs, const cJSON **out, size_t cap);

/* The Jobs a rollout deletes: none when gradual, else every Job whose annotation
 * scaledjob.keda.sh/generation is missing or not sj's generation. Same contract as above. */
int watch_sj_rollout_select(const sj_t *sj, const cJSON *jobs, const cJSON **out, size_t cap);

/* The DeleteOptions propagationPolicy of a rollout: "Foreground" or "Background" (history
 * clean-up always uses "Background"). */
const char *watch_sj_rollout_propagation(const sj_t *sj);

#endif
