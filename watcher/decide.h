/*
 * decide: KEDA's scale-loop decision for one ScaledObject (keda.md §1.9, RequestScale), as a
 * pure function of what the loop observed. The watcher's scale loop gathers the inputs from the
 * table (trigger states through shm_trigger_state, fallback and the scalingModifiers composite
 * through common/fallback.h: watch_decide_triggers) and the target's /scale, and carries out
 * the decision. KEDA only moves 0 <-> min (or idle <-> min); 1 <-> N belongs to the HPA.
 */
#ifndef CKEDA_WATCHER_DECIDE_H
#define CKEDA_WATCHER_DECIDE_H

#include "common/expr.h"
#include "shm/shm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the triggers (KEDA's getScaledObjectState / getScalerState) ---- */

/* One trigger as one poll of the loop sees it. */
typedef struct watch_trig_eval {
    bool active;   /* value > activation, or falling back (KEDA v2.19, #7239) */
    bool error;    /* ERROR and not answered by a fallback (nor nil for `??`) */
    bool fallback; /* answered by its fallback value (KEDA's fallbackActive) */
    bool health;   /* status.health[metric] is set by this poll (a valid fallback) */
    bool failing;  /* ... to Failing with `failures`; else Happy with 0 */
    uint32_t failures;
} watch_trig_eval_t;

typedef struct watch_trig_summary {
    bool active;          /* isActive (with scalingModifiers: composite > activationTarget) */
    bool error;           /* isError */
    bool fallback_active; /* isFallbackActive: some trigger falls back (drives the Events) */
    bool skip;            /* KEDA's loop gives up this poll: nothing is decided or written */
    bool composite;       /* composite_milli holds the composite metric */
    int64_t composite_milli;
    watch_trig_eval_t trig[SHM_TRIGGERS_PER_SO_MAX];
} watch_trig_summary_t;

/* Derives activity, errors and health of v[0..n) (the object's triggers in spec order, every
 * one settled) under so's fallback and scalingModifiers, with the same rules the adapter
 * answers the HPA with (common/fallback.h). obs: the target's replica counts, NULL when
 * unknown. prog: so's formula compiled for v (NULL without scalingModifiers, or when it could
 * not be compiled: then the composite has no value). */
void watch_decide_triggers(const shm_so_spec_t *so, const shm_so_observed_t *obs,
                           const shm_trig_view_t *v, size_t n, const expr_t *prog,
                           watch_trig_summary_t *out);

/* ---- the decision (RequestScale) ---- */

typedef struct watch_decide_in {
    bool active; /* watch_trig_summary_t.active */
    bool error;  /* watch_trig_summary_t.error */
    bool paused; /* paused or paused-replicas annotation */
    bool paused_scale_in;
    bool paused_scale_out;
    bool force_activation;
    int32_t current;       /* target's spec.replicas */
    int32_t min_replicas;  /* minReplicaCount, 0 when unset */
    int32_t idle_replicas; /* -1 when unset */
    bool has_fallback;
    int32_t fallback_replicas;
    uint64_t now_ms;         /* real time */
    uint64_t last_active_ms; /* status.lastActiveTime, 0 when nil */
    uint64_t created_ms;     /* metadata.creationTimestamp */
    uint32_t cooldown_s;
    uint32_t initial_cooldown_s;
} watch_decide_in_t;

typedef enum {
    WATCH_ACT_NONE,
    WATCH_ACT_ACTIVATE,   /* scale from zero/idle: event KEDAScaleTargetActivated */
    WATCH_ACT_DEACTIVATE, /* scale to zero/idle: event KEDAScaleTargetDeactivated */
    WATCH_ACT_FIXUP,      /* below min without idle: raise to min (no event) */
} watch_action_t;

typedef enum {
    WATCH_COND_KEEP,
    WATCH_COND_TRUE,
    WATCH_COND_FALSE,
    WATCH_COND_UNKNOWN
} watch_cond_t;

typedef struct watch_decide_out {
    watch_action_t action;
    int32_t replicas;          /* the /scale target of the action */
    watch_cond_t active;       /* Active condition */
    const char *active_reason; /* ScalerActive, ScalerNotActive, ScalerCooldown */
    watch_cond_t ready;        /* Ready condition change, WATCH_COND_KEEP for none */
    const char *ready_reason;  /* PartialTriggerError, TriggerError */
    bool touch_last_active;    /* set status.lastActiveTime = now */
    bool forced;               /* active by the force-activation annotation */
} watch_decide_out_t;

void watch_decide(const watch_decide_in_t *in, watch_decide_out_t *out);

/* ---- a /scale write the API refused ---- */

#define WATCH_SCALE_BACKOFF_MAX_MS 300000u /* 5 min, as the work queue's retries */

/* How long the loop holds an object's /scale writes after the failures-th refused write in a
 * row (0 for none). KEDA retries on every poll; ckeda retries first on the next poll, then
 * waits twice as long after each further refusal, up to WATCH_SCALE_BACKOFF_MAX_MS (or one
 * pollingInterval if that is longer), so a target that can never be scaled costs a few writes
 * an hour rather than one per poll. */
uint64_t watch_decide_backoff_ms(uint32_t polling_interval_s, uint32_t failures);

#endif
