/*
 * scaler_spec: what KEDA's GetMetricSpecForScaling gives for each scaler type, computed from a
 * trigger's metadata without touching the event source: the external metric name the HPA asks
 * for (`s<index>-<scaler part>`, normalized as KEDA does), the target and the activation
 * threshold. The watcher builds HPAs and trigger configs from it; the workers only poll.
 *
 * Scalers whose spec KEDA learns only from the source (external, external-push) set from_source
 * (metric_name is then a stand-in `s<index>-<type>`): the worker publishes the real one with its
 * results (shm_trig_result_t has_spec, spec_metric_name, spec_target).
 */
#ifndef CKEDA_COMMON_SCALER_SPEC_H
#define CKEDA_COMMON_SCALER_SPEC_H

#include "common/errtext.h"
#include "common/qty.h"
#include "shm/shm.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* cpu and memory: a Resource metric of the HPA (ContainerResource with a container), served by
 * the resource metrics API, not by ckeda; nothing polls them. */
typedef struct scaler_resource {
    bool utilization;            /* metricType Utilization: averageUtilization, else averageValue */
    int32_t average_utilization; /* percent */
    char average_value[QTY_MAX]; /* canonical quantity */
    char container[SHM_NAME_MAX]; /* "": every container of the pods */
} scaler_resource_t;

typedef struct scaler_spec {
    char metric_name[SHM_METRIC_MAX]; /* "" for cpu and memory: no External metric */
    double target;
    double activation;
    bool from_source;
    bool is_resource;
    scaler_resource_t resource;
} scaler_spec_t;

/* KEDA's NormalizeString: each of / . : % ( ) becomes '-'; nothing else changes. */
void scaler_normalize(char *s);
/* `s<index>-<part>` (part normalized by the caller as KEDA does for that scaler). */
int scaler_metric_name(uint32_t index, const char *part, char *buf, size_t cap);

/* -EOPNOTSUPP for a type ckeda does not serve; -EINVAL with a message naming the metadata
 * field otherwise. metadata is the trigger's `metadata` object (may be NULL). */
int scaler_spec_build(const char *type, uint32_t index, const cJSON *metadata, scaler_spec_t *ret,
                      errtext_t *err);

/* For the types whose metric name holds the ScaledObject's namespace (kubernetes-workload), names
 * it and clears from_source; others are left as they are. */
void scaler_spec_set_namespace(const char *type, uint32_t index, const char *ns, scaler_spec_t *s);
/* True for the types whose trigger is an HPA Resource metric (cpu, memory). */
bool scaler_is_resource(const char *type);
/* cpu, memory (KEDA's parseResourceMetadata): metricType is the trigger's (NULL when absent),
 * which must be Utilization (an integer `value`) or AverageValue (a quantity). -EINVAL with a
 * message naming the field. */
int scaler_spec_resource(const char *type, const char *metric_type, const cJSON *metadata,
                         scaler_spec_t *ret, errtext_t *err);

/* Metadata helpers shared with the scalers: the string at key, or NULL. A number in [min, max]
 * parsed from the string at key, def when absent; -EINVAL naming metadata.<key> otherwise. */
const char *scaler_meta_str(const cJSON *metadata, const char *key);
int scaler_meta_double(const cJSON *metadata, const char *key, double def, double min, double max,
                       double *ret, errtext_t *err);

#endif
