/*
 * decide: KEDA's scale-loop decision for one ScaledObject (keda.md §1.9, RequestScale), as a
 * pure function of what the loop observed. The watcher's scale loop gathers the inputs from the
 * table (trigger states through shm_trigger_state) and the target's /scale, and carries out
 * the decision. KEDA only moves 0 <-> min (or idle <-> min); 1 <-> N belongs to the HPA.
 */
#ifndef CKEDA_WATCHER_DECIDE_H
#define CKEDA_WATCHER_DECIDE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct watch_decide_in {
    bool active; /* OR over triggers (value > activation), or in fallback */
    bool error;  /* some trigger is in ERROR */
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

#endif
