/*
 * decide: see decide.h. Mirrors KEDA's scale_scaledobjects.go RequestScale case by case;
 * comments name the KEDA branch each case is.
 */
#include "watcher/decide.h"

#include <string.h>

static void decide_active(const watch_decide_in_t *in, watch_decide_out_t *out)
{
    int32_t to = in->min_replicas > 0 ? in->min_replicas : 1;

    out->active = WATCH_COND_TRUE;
    out->active_reason = "ScalerActive";
    out->forced = in->force_activation;
    /* scale from zero or idle */
    if ((in->idle_replicas >= 0 && in->current < in->min_replicas) || in->current == 0) {
        if (!in->paused_scale_out) {
            out->action = WATCH_ACT_ACTIVATE;
            out->replicas = to;
        }
        out->touch_last_active = true;
        return;
    }
    if (in->error) { /* active, but some trigger failed: lastActiveTime is not refreshed */
        out->ready = WATCH_COND_UNKNOWN;
        out->ready_reason = "PartialTriggerError";
        return;
    }
    out->touch_last_active = true; /* the HPA handles 1 <-> N */
}

static bool decide_cooled_down(const watch_decide_in_t *in)
{
    if (in->last_active_ms == 0)
        return in->created_ms + (uint64_t)in->initial_cooldown_s * 1000 < in->now_ms;
    return in->last_active_ms + (uint64_t)in->cooldown_s * 1000 < in->now_ms;
}

static void decide_inactive(const watch_decide_in_t *in, watch_decide_out_t *out)
{
    out->active = WATCH_COND_FALSE;
    out->active_reason = "ScalerNotActive";
    if (in->error && in->has_fallback && in->fallback_replicas != 0)
        return; /* never scale to zero on errors when a fallback is set */
    if (in->error && !in->has_fallback) {
        out->ready = WATCH_COND_FALSE;
        out->ready_reason = "TriggerError";
        return; /* errors never scale to zero */
    }
    if ((in->idle_replicas >= 0 && in->current > in->idle_replicas) ||
        (in->current > 0 && in->min_replicas == 0)) {
        if (in->paused_scale_in)
            return;
        if (decide_cooled_down(in)) {
            out->action = WATCH_ACT_DEACTIVATE;
            out->replicas = in->idle_replicas >= 0 ? in->idle_replicas : in->min_replicas;
        } else {
            out->active_reason = "ScalerCooldown";
        }
        return;
    }
    if (in->idle_replicas < 0 && in->current < in->min_replicas) {
        out->action = WATCH_ACT_FIXUP;
        out->replicas = in->min_replicas;
    }
}

void watch_decide(const watch_decide_in_t *in, watch_decide_out_t *out)
{
    memset(out, 0, sizeof *out);
    if (in->paused)
        return; /* only the Paused condition, set elsewhere */
    if (in->active || in->force_activation)
        decide_active(in, out);
    else
        decide_inactive(in, out);
}
