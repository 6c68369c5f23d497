/*
 * scaledobject: a ScaledObject parsed from the API object with KEDA's defaults and
 * reconcile-time checks (reference keda.md §1.1, §1.2, §1.5, §1.6 step 5 and 7). The watcher
 * serves objects from it; `ckeda validate` and the webhook check them with it.
 * Strings are copied into bounded buffers sized as the table's; JSON subtrees the watcher passes
 * on verbatim (trigger metadata, HPA behavior, labels, annotations) are borrowed from the object,
 * which must outlive the parsed form.
 */
#ifndef CKEDA_COMMON_SCALEDOBJECT_H
#define CKEDA_COMMON_SCALEDOBJECT_H

#include "common/errtext.h"
#include "common/scaler_spec.h"
#include "shm/shm.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#define SO_HPA_NAME_MAX (SHM_NAME_MAX + 16) /* "keda-hpa-" + name */

typedef struct so_trigger {
    char type[SHM_TYPE_MAX];
    char name[SHM_TRIGNAME_MAX];
    uint32_t type_id;     /* SCALER_TYPE_NONE: not supported by ckeda */
    uint32_t metric_type; /* shm_metric_type_t */
    bool use_cached_metrics;
    char auth_name[SHM_NAME_MAX]; /* "" when no authenticationRef */
    bool auth_cluster;            /* ClusterTriggerAuthentication */
    const cJSON *metadata;        /* borrowed; an object of strings */
    scaler_spec_t spec;
} so_trigger_t;

/* Which of KEDA's reconcile steps (keda.md §1.6) a parse error belongs to, so the Ready message
 * carries that step's prefix and the error is reported in KEDA's order. */
typedef enum {
    SO_STEP_NONE,        /* parsed and checked */
    SO_STEP_TARGET,      /* step 5: scaleTargetRef */
    SO_STEP_BOUNDS,      /* step 7: CheckReplicaCountBoundsAreValid */
    SO_STEP_TRIGGERS,    /* step 7: ValidateTriggers (and ckeda's per-object trigger cap) */
    SO_STEP_SCALERS,     /* step 8: building the metric specs (metadata, metricType, ...) */
    SO_STEP_UNSUPPORTED, /* a scaler type ckeda does not serve */
} so_step_t;

/* The pause annotations (keda.md §1.5), read as KEDA's getBoolAnnotation does: absent is false,
 * a value strconv.ParseBool rejects is true. */
typedef struct so_pause {
    bool paused;           /* autoscaling.keda.sh/paused, or paused-replicas present */
    bool has_replicas;     /* autoscaling.keda.sh/paused-replicas is a valid count */
    bool replicas_invalid; /* present but not an integer in [0, 2^31) */
    int32_t replicas;
    bool scale_in;         /* autoscaling.keda.sh/paused-scale-in */
    bool scale_out;        /* autoscaling.keda.sh/paused-scale-out */
    bool force_activation; /* autoscaling.keda.sh/force-activation */
} so_pause_t;

/* spec.advanced.scalingModifiers; strings borrowed, NULL when unset. Checked by the validation
 * rules (common/validate.h), not here. */
typedef struct so_modifiers {
    const char *formula;
    const char *target;
    const char *activation_target;
    uint32_t metric_type; /* shm_metric_type_t; "Utilization" is refused */
    bool utilization;     /* metricType Utilization was asked for */
} so_modifiers_t;

typedef struct so {
    so_step_t failed_step; /* set by so_parse on an error */
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
    char hpa_name[SO_HPA_NAME_MAX];
    const cJSON *hpa_behavior; /* borrowed, NULL when unset */
    bool has_fallback;
    int32_t fallback_failure_threshold;
    int32_t fallback_replicas;
    uint32_t fallback_behavior; /* shm_fallback_behavior_t */
    const cJSON *labels;        /* borrowed */
    const cJSON *annotations;   /* borrowed */
    so_pause_t pause;
    bool transfer_hpa_ownership;     /* scaledobject.keda.sh/transfer-hpa-ownership */
    const char *hpa_excluded_labels; /* borrowed "a,b"; NULL when unset */
    so_modifiers_t modifiers;
    uint32_t ntriggers;
    so_trigger_t triggers[SHM_TRIGGERS_PER_SO_MAX];
} so_t;

/* Parses and checks a ScaledObject. On a problem with the object itself returns -EINVAL and a
 * message for its Ready condition (naming the field); an unsupported scaler type is
 * -EOPNOTSUPP with "scaler type X is not supported by ckeda <version>"; more triggers than
 * max_triggers is -E2BIG. ret is filled as far as parsing got in every case. */
int so_parse(const cJSON *obj, uint32_t max_triggers, so_t *ret, errtext_t *err);

/* One spec.triggers entry; index is its position. Same errors as so_parse. */
int so_trigger_parse(const cJSON *t, uint32_t index, so_trigger_t *ret, errtext_t *err);

/* The value of annotation key on the object's annotations (borrowed), or NULL. */
const char *so_annotation(const cJSON *annotations, const char *key);
/* strconv.ParseBool's spelling of true or false; -EINVAL for anything else. */
int so_parse_bool(const char *s, bool *ret);

/* KEDA's GetHPAMinReplicas: minReplicaCount if > 0, else 1. */
int32_t so_hpa_min(const so_t *so);

#endif
