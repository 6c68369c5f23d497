/*
 * fallback: KEDA's fallback (pkg/fallback/fallback.go, reference keda.md §1.11) and the
 * scalingModifiers composite metric (pkg/scaling/modifiers/formula.go, §1.12), decided from the
 * table. The adapter answers the HPA with them and the watcher's scale loop derives activity,
 * status.health and the Fallback condition from them, so the two can never disagree about
 * whether a trigger falls back or what the composite metric is. Pure functions; any process.
 *
 * Only source failures count toward failureThreshold (DESIGN.md, "Trigger state"):
 * consecutive_failures is the worker's count of failed polls in a row. ckeda's own
 * unavailability (no result yet, stale, quarantine, bad metadata) never falls back.
 */
#ifndef CKEDA_COMMON_FALLBACK_H
#define CKEDA_COMMON_FALLBACK_H

#include "common/errtext.h"
#include "common/expr.h"
#include "shm/shm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FALLBACK_COMPOSITE_METRIC "composite-metric" /* KEDA's CompositeMetricName */

/* spec.fallback is set. */
bool fallback_configured(const shm_so_spec_t *so);
/* spec.fallback is set and KEDA's HasValidFallback holds: health is tracked, values fall back. */
bool fallback_valid(const shm_so_spec_t *so);
/* The trigger has failed at its source more than failureThreshold times in a row under a valid
 * fallback (KEDA: health numberOfFailures > failureThreshold). */
bool fallback_exceeded(const shm_so_spec_t *so, const shm_trig_view_t *v);

/* KEDA's doFallback for one trigger, in milli-units: target x R, R = fallback.replicas or from
 * the current (spec) replica count per behaviour, divided by the ready replicas for a Value
 * target. With scalingModifiers the target and metric type are the modifiers' (the value is
 * the composite metric's). obs: the target's replica counts, NULL when unknown. 0 with
 * *ret_milli when the trigger falls back; -ENOENT when it does not (not exceeded, or behaviour
 * scalingModifiers, where the trigger is nil in the formula instead); -ENODATA when it would
 * but a count it needs is unknown or no replica is ready (KEDA then reports the error). */
int fallback_milli(const shm_so_spec_t *so, const shm_so_observed_t *obs, const shm_trig_view_t *v,
                   int64_t *ret_milli);

/* A trigger's value as KEDA's formula reads it: the scaler's milli-quantity (Sprintf("%.3f"))
 * read back as a float64. Non-finite values read as 0. */
double fallback_formula_value(double v);

/* The composite metric of a ScaledObject with scalingModifiers, over all its triggers v[0..n)
 * (in spec order; the formula's variables are their names, cpu/memory excluded). */
typedef struct fallback_composite {
    int64_t milli;   /* the value (0 returned) */
    bool fallback;   /* some trigger falls back: milli is its fallback value (KEDA's
                        isFallbackActive) */
    bool any_error;  /* some trigger is in ERROR without falling back (or nil for `??`) */
    size_t failed;   /* the first such trigger (any_error) */
    bool nil_result; /* the formula gave nil: milli is fallback.replicas x target */
} fallback_composite_t;

/* Compiles so's formula with v's trigger names. 0, or -errno with a message. */
int fallback_formula_compile(const shm_so_spec_t *so, const shm_trig_view_t *v, size_t n,
                             expr_t **ret, errtext_t *err);
/* KEDA's GetScaledObjectMetrics with HandleScalingModifiers: 0 with ret->milli; -EIO when a
 * trigger is in error and none falls back (ret->failed names it: KEDA answers that error);
 * -EDOM when the formula cannot give a number (KEDA answers no item), with a message. ret's
 * flags are set in every case. prog: from fallback_formula_compile for the same triggers. */
int fallback_composite(const shm_so_spec_t *so, const shm_so_observed_t *obs,
                       const shm_trig_view_t *v, size_t n, const expr_t *prog,
                       fallback_composite_t *ret, errtext_t *err);

#endif
