/*
 * so: a ScaledObject as the watcher understands it, parsed from the API object with KEDA's
 * defaults and reconcile-time checks (reference keda.md §1.1, §1.2, §1.6 step 5 and 7).
 * Strings are copied into bounded buffers sized as the table's; JSON subtrees the watcher passes
 * on verbatim (trigger metadata, HPA behavior, labels, annotations) are borrowed from the object,
 * which must outlive the parsed form.
 */
#ifndef CKEDA_WATCHER_SO_H
#define CKEDA_WATCHER_SO_H

#include "common/errtext.h"
#include "common/scaler_spec.h"
#include "shm/shm.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#define WATCH_HPA_NAME_MAX (SHM_NAME_MAX + 16) /* "keda-hpa-" + name */

typedef struct watch_trigger {
    char type[SHM_TYPE_MAX];
    char name[SHM_TRIGNAME_MAX];
    uint32_t type_id;     /* SCALER_TYPE_NONE: not supported by ckeda */
    uint32_t metric_type; /* shm_metric_type_t */
    bool use_cached_metrics;
    char auth_name[SHM_NAME_MAX]; /* "" when no authenticationRef */
    bool auth_cluster;            /* ClusterTriggerAuthentication */
    const cJSON *metadata;        /* borrowed; an object of strings */
    scaler_spec_t spec;
} watch_trigger_t;

/* Which of KEDA's reconcile steps (keda.md §1.6) a parse error belongs to, so the Ready message
 * carries that step's prefix and the error is reported in KEDA's order. */
typedef enum {
    WATCH_STEP_NONE,        /* parsed and checked */
    WATCH_STEP_TARGET,      /* step 5: scaleTargetRef */
    WATCH_STEP_BOUNDS,      /* step 7: CheckReplicaCountBoundsAreValid */
    WATCH_STEP_TRIGGERS,    /* step 7: ValidateTriggers (and ckeda's per-object trigger cap) */
    WATCH_STEP_SCALERS,     /* step 8: building the metric specs (metadata, metricType, ...) */
    WATCH_STEP_UNSUPPORTED, /* a scaler type ckeda does not serve */
} watch_step_t;

typedef struct watch_so {
    watch_step_t failed_step; /* set by watch_so_parse on an error */
    char ns[SHM_NS_MAX];
    char name[SHM_NAME_MAX];
    char uid[SHM_UID_MAX];
    int64_t generation;
    bool deleting; /* metadata.deletionTimestamp is set */
    char target_api_version[SHM_APIVERSION_MAX];
    char target_kind[SHM_KIND_MAX];
    char target_name[SHM_NAME_MAX];
    char env_source_container[SHM_NAME_MAX];
    int32_t polling_interval_s;
    int32_t cooldown_s;
    int32_t initial_cooldown_s;
    bool has_min;
    int32_t min_replicas;  /* 0 when unset */
    int32_t max_replicas;  /* 100 when unset */
    int32_t idle_replicas; /* -1 when unset */
    bool restore_to_original;
    char hpa_name[WATCH_HPA_NAME_MAX];
    const cJSON *hpa_behavior; /* borrowed, NULL when unset */
    bool has_fallback;
    int32_t fallback_failure_threshold;
    int32_t fallback_replicas;
    uint32_t fallback_behavior; /* shm_fallback_behavior_t */
    const cJSON *labels;        /* borrowed */
    const cJSON *annotations;   /* borrowed */
    uint32_t ntriggers;
    watch_trigger_t triggers[SHM_TRIGGERS_PER_SO_MAX];
} watch_so_t;

/* Parses and checks a ScaledObject. On a problem with the object itself returns -EINVAL and a
 * message for its Ready condition (naming the field); an unsupported scaler type is
 * -EOPNOTSUPP with "scaler type X is not supported by ckeda <version>"; more triggers than
 * max_triggers is -E2BIG. ret is filled as far as parsing got in every case. */
int watch_so_parse(const cJSON *obj, uint32_t max_triggers, watch_so_t *ret, errtext_t *err);

/* One spec.triggers entry; index is its position. Same errors as watch_so_parse. */
int watch_trigger_parse(const cJSON *t, uint32_t index, watch_trigger_t *ret, errtext_t *err);

/* KEDA's GetHPAMinReplicas: minReplicaCount if > 0, else 1. */
int32_t watch_so_hpa_min(const watch_so_t *so);

#endif
