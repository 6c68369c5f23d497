/*
 * decide: see decide.h. Mirrors KEDA's scale_scaledobjects.go RequestScale case by case;
 * comments name the KEDA branch each case is.
 */
#include "watcher/decide.h"

#include "common/fallback.h"

#include <math.h>
#include <string.h>

/* getScalerState for one trigger: a value, its fallback (which counts as active and is no
 * error), nil for `??` under behaviour scalingModifiers (neither), or an error. Health is
 * written for source results only; ckeda's own unavailability leaves it as it is. */
static void decide_trigger(const shm_so_spec_t *so, const shm_so_observed_t *obs,
                           const shm_trig_view_t *v, watch_trig_eval_t *t)
{
    int64_t milli;

    memset(t, 0, sizeof *t);
    if (v->cfg.flags & SHM_F_RESOURCE) /* no External metric: not part of isActive */
        return;
    if (v->state != SHM_STATE_ERROR) {
        t->active = v->state == SHM_STATE_ACTIVE;
        t->health = fallback_valid(so);
        return;
    }
    if (shm_cause_is_source_failure(v->cause) && fallback_valid(so)) {
        t->health = t->failing = true;
        t->failures = v->res.consecutive_failures;
    }
    if (fallback_milli(so, obs, v, &milli) == 0)
        t->fallback = t->active = true;
    else if (!(so->fallback_behavior == SHM_FALLBACK_SCALING_MODIFIERS && fallback_exceeded(so, v)))
        t->error = true;
}

/* With scalingModifiers the object is active when the composite metric, computed only when no
 * trigger errs, is above activationTarget; the triggers' own activity does not count. */
static void decide_composite(const shm_so_spec_t *so, const shm_so_observed_t *obs,
                             const shm_trig_view_t *v, size_t n, const expr_t *prog,
                             watch_trig_summary_t *out)
{
    fallback_composite_t c;

    out->active = false;
    if (out->error)
        return;
    if (isnan(so->modifiers_activation)) { /* "scalingModifiers.ActivationTarget parsing error" */
        out->skip = true;
        return;
    }
    if (!prog || fallback_composite(so, obs, v, n, prog, &c, NULL) < 0)
        return; /* the formula failed: no metric, not active */
    out->composite = true;
    out->composite_milli = c.milli;
    out->active = (double)c.milli / 1000.0 > so->modifiers_activation;
}

void watch_decide_triggers(const shm_so_spec_t *so, const shm_so_observed_t *obs,
                           const shm_trig_view_t *v, size_t n, const expr_t *prog,
                           watch_trig_summary_t *out)
{
    size_t resources = 0;

    memset(out, 0, sizeof *out);
    if (n > SHM_TRIGGERS_PER_SO_MAX)
        n = SHM_TRIGGERS_PER_SO_MAX;
    for (size_t i = 0; i < n; i++) {
        watch_trig_eval_t *t = &out->trig[i];

        decide_trigger(so, obs, &v[i], t);
        out->active |= t->active;
        out->error |= t->error;
        out->fallback_active |= t->fallback;
        resources += (v[i].cfg.flags & SHM_F_RESOURCE) != 0;
    }
    if (so->modifiers_formula[0])
        decide_composite(so, obs, v, n, prog, out);
    /* only cpu/memory triggers could never scale from zero: such an object is always active */
    if (n > 0 && resources == n && !out->error)
        out->active = true;
}

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

uint64_t watch_decide_backoff_ms(uint32_t polling_interval_s, uint32_t failures)
{
    uint64_t d = (uint64_t)(polling_interval_s ? polling_interval_s : 1) * 1000;
    uint64_t cap = d > WATCH_SCALE_BACKOFF_MAX_MS ? d : WATCH_SCALE_BACKOFF_MAX_MS;

    if (failures == 0)
        return 0;
    for (uint32_t i = 1; i < failures && d < cap; i++)
        d *= 2; /* d <= cap < 2^43: never overflows */
    return d < cap ? d : cap;
}
