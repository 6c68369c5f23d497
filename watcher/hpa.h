/*
 * hpa: the HorizontalPodAutoscaler KEDA generates for a ScaledObject (keda.md §1.7), built as
 * JSON, and the test for "does the live HPA need an update".
 */
#ifndef CKEDA_WATCHER_HPA_H
#define CKEDA_WATCHER_HPA_H

#include "common/scaledobject.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

/* target_group/target_version: the resolved scale target's API group and version. Returns a new
 * object (autoscaling/v2 HorizontalPodAutoscaler) or NULL when memory runs out. */
cJSON *watch_hpa_build(const so_t *so);
/* True when `live` differs from `want` in a way KEDA would update for: a metric count, spec
 * field, label or annotation that differs. Fields the API server adds (defaults, status) are not
 * differences: the spec compares as a derivative (every field of want equals live's). */
bool watch_hpa_needs_update(const cJSON *want, const cJSON *live);
/* Every field of `want` is present and equal in `have` (objects recursively, arrays element by
 * element with equal lengths). */
bool watch_json_derivative(const cJSON *want, const cJSON *have);

#endif
