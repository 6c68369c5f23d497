/*
 * scaledjob: a ScaledJob parsed from the API object with KEDA's defaults and reconcile-time
 * checks (reference keda.md §1.15; KEDA's apis/keda/v1alpha1/scaledjob_types.go and
 * controllers/keda/scaledjob_controller.go). The watcher will serve ScaledJobs from it;
 * `ckeda validate` and the webhook can check them with it.
 *
 * Strings are copied into bounded buffers sized as the table's; JSON subtrees passed on verbatim
 * (jobTargetRef, labels, annotations, pendingPodConditions, trigger metadata) are borrowed from
 * the object, which must outlive the parsed form.
 */
#ifndef CKEDA_COMMON_SCALEDJOB_H
#define CKEDA_COMMON_SCALEDJOB_H

#include "common/errtext.h"
#include "common/scaledobject.h"
#include "shm/shm.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#define SJ_LABEL_NAME            "scaledjob.keda.sh/name"
#define SJ_ANNOTATION_GENERATION "scaledjob.keda.sh/generation"
#define SJ_ANNOTATION_EXCLUDED   "scaledjob.keda.sh/job-excluded-labels"
#define SJ_ANNOTATION_PAUSED     "autoscaling.keda.sh/paused"

#define SJ_DEFAULT_POLLING_S     30
#define SJ_DEFAULT_HISTORY_LIMIT 100
#define SJ_DEFAULT_MAX_REPLICAS  100

/* Which of KEDA's ScaledJob reconcile steps a parse error belongs to; sj_step_message() gives
 * the text KEDA puts before the error in the Ready condition. */
typedef enum {
    SJ_STEP_NONE,        /* parsed and checked */
    SJ_STEP_SPEC,        /* a field of the wrong type or out of the CRD's range (KEDA's API
                          * server would have refused the object) */
    SJ_STEP_JOB_TARGET,  /* spec.jobTargetRef missing (KEDA: an Event, no condition) */
    SJ_STEP_TRIGGERS,    /* ValidateTriggers (and ckeda's per-object trigger cap) */
    SJ_STEP_SCALERS,     /* building the scalers: metadata, metricType Utilization, ... */
    SJ_STEP_METRIC_TYPE, /* metricType set on a trigger */
    SJ_STEP_UNSUPPORTED, /* a scaler type ckeda does not serve */
} sj_step_t;

/* scalingStrategy.strategy as KEDA's NewScalingStrategy selects it. */
typedef enum {
    SJ_STRATEGY_DEFAULT,
    SJ_STRATEGY_CUSTOM,
    SJ_STRATEGY_ACCURATE,
    SJ_STRATEGY_EAGER,
} sj_strategy_t;

/* scalingStrategy.multipleScalersCalculation; anything else is max, as KEDA's switch. */
typedef enum {
    SJ_CALC_MAX,
    SJ_CALC_MIN,
    SJ_CALC_AVG,
    SJ_CALC_SUM,
} sj_calc_t;

typedef struct sj_scaling {
    /* The strategy KEDA runs: `custom` whose customScalingRunningJobPercentage Go's
     * strconv.ParseFloat rejects (empty included) runs as `default`, with custom_fallback set.
     * Any other unknown name is `default` (the CRD's enum rejects them first). */
    sj_strategy_t strategy;
    bool custom_fallback;
    int32_t deduction; /* customScalingQueueLengthDeduction; 0 when unset */
    double percentage; /* customScalingRunningJobPercentage, parsed; 0 unless custom */
    sj_calc_t calc;    /* multipleScalersCalculation */
    const cJSON *pending_conditions; /* borrowed array of strings; NULL when unset or empty */
    uint32_t npending_conditions;    /* its length, duplicates counted (KEDA compares lengths) */
} sj_scaling_t;

typedef struct sj {
    sj_step_t failed_step; /* set by sj_parse on an error */
    char ns[SHM_NS_MAX];
    char name[SHM_NAME_MAX];
    char uid[SHM_UID_MAX];
    int64_t generation;
    bool deleting;            /* metadata.deletionTimestamp is set */
    const cJSON *labels;      /* borrowed */
    const cJSON *annotations; /* borrowed */
    /* autoscaling.keda.sh/paused read as KEDA's NeedToBePausedByAnnotation (absent: false, not
     * a strconv.ParseBool boolean: true). KEDA checks it before anything else: a paused
     * ScaledJob is not validated, so callers look at it before at sj_parse's error. KEDA does
     * not honour paused-replicas, paused-scale-in/out or force-activation on ScaledJobs. */
    bool paused;
    const char *job_excluded_labels; /* borrowed "a,b"; NULL when unset */
    const cJSON *job_target;         /* borrowed spec.jobTargetRef (a batch/v1 JobSpec) */
    char env_source_container[SHM_NAME_MAX];
    int32_t polling_interval_s;
    int32_t successful_history_limit;
    int32_t failed_history_limit;
    bool has_min, has_max;
    int32_t min_replicas;    /* spec.minReplicaCount as written (0 when unset) */
    int32_t max_replicas;    /* spec.maxReplicaCount as written (100 when unset) */
    bool rollout_gradual;    /* rolloutStrategy (deprecated, wins when set) or rollout.strategy */
    bool rollout_foreground; /* rollout.propagationPolicy foreground; else background */
    sj_scaling_t scaling;
    uint32_t ntriggers;
    so_trigger_t triggers[SHM_TRIGGERS_PER_SO_MAX];
} sj_t;

/* Parses and checks a ScaledJob. On a problem with the object itself returns -EINVAL and a
 * message naming the field (failed_step says which of KEDA's steps refused it); an unsupported
 * scaler type is -EOPNOTSUPP with "scaler type X is not supported by ckeda <version>"; more
 * triggers than max_triggers is -E2BIG. ret is filled as far as parsing got in every case. */
int sj_parse(const cJSON *obj, uint32_t max_triggers, sj_t *ret, errtext_t *err);

/* KEDA's ScaledJob.MinReplicaCount(): minReplicaCount, or maxReplicaCount when min > max. */
int64_t sj_min_replicas(const sj_t *sj);
/* KEDA's ScaledJob.MaxReplicaCount(): max - MinReplicaCount(), or max when min > max; 100 when
 * maxReplicaCount is unset (whatever min is). */
int64_t sj_max_replicas(const sj_t *sj);

/* The message KEDA's reconcile gives a failed step ("ScaledJob doesn't have correct triggers
 * specification", ...); "" for SJ_STEP_NONE. */
const char *sj_step_message(sj_step_t step);

/* Go's strconv.ParseFloat(s, 64) succeeding: decimal and hexadecimal (p exponent required)
 * floating-point literals, Inf/Infinity/NaN in any case; no spaces; out of range fails. Digit
 * separators ('_') are refused (Go accepts them after a base prefix only). */
int sj_parse_go_float(const char *s, double *ret);

#endif
