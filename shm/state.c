/*
 * state: the one function that turns a trigger's groups into ACTIVE, INACTIVE or ERROR.
 * The scale loop, the adapter, /metrics and ckedactl all call it, so "absent" can never mean
 * "inactive" in one place and "error" in another (DESIGN.md, "Trigger state").
 */
#include "shm/shm_internal.h"

#include <errno.h>
#include <string.h>

uint64_t shm_stale_after_ms(const shm_trig_cfg_t *cfg)
{
    uint64_t pi = cfg->polling_interval_ms, a = 2 * pi, b = pi + cfg->timeout_ms;
    return (a > b ? a : b) + SHM_BACKOFF_CAP_MS;
}

shm_state_t shm_trigger_state(const shm_trig_cfg_t *cfg, const shm_trig_ctl_t *ctl,
                              const shm_trig_result_t *res, uint64_t now_mono_ms,
                              shm_cause_t *ret_cause)
{
    shm_cause_t cause = SHM_CAUSE_NONE;

    if (cfg->flags & SHM_F_RESOURCE) { /* nothing to poll: always active */
        if (ret_cause)
            *ret_cause = cause;
        return SHM_STATE_ACTIVE;
    }
    if (ctl && ctl->quarantined_until_mono_ms > now_mono_ms)
        cause = SHM_CAUSE_QUARANTINED;
    else if (!res || res->for_cfg_gen != cfg->cfg_gen || res->measured_mono_ms == 0)
        cause = SHM_CAUSE_NO_RESULT;
    else if (!(res->flags & SHM_F_VALID) && res->failure == SHM_FAIL_CONFIG)
        cause = SHM_CAUSE_CONFIG; /* terminal until the configuration changes */
    else if (now_mono_ms > res->measured_mono_ms &&
             now_mono_ms - res->measured_mono_ms > shm_stale_after_ms(cfg))
        cause = SHM_CAUSE_STALE; /* even an old failure: its owner is gone, not the source */
    else if (!(res->flags & SHM_F_VALID))
        cause = res->failure == SHM_FAIL_CONFIG   ? SHM_CAUSE_CONFIG
                : res->failure == SHM_FAIL_SOURCE ? SHM_CAUSE_SOURCE
                                                  : SHM_CAUSE_NO_RESULT; /* repaired */
    if (ret_cause)
        *ret_cause = cause;
    if (cause != SHM_CAUSE_NONE)
        return SHM_STATE_ERROR;
    if (res->flags & SHM_F_OWN_ACTIVITY)
        return res->active ? SHM_STATE_ACTIVE : SHM_STATE_INACTIVE;
    return res->value > cfg->activation ? SHM_STATE_ACTIVE : SHM_STATE_INACTIVE;
}

int shm_trig_view_load(const shm_table_t *t, uint32_t slot, uint64_t now_mono_ms,
                       shm_trig_view_t *ret)
{
    shm_trig_view_t v = {.slot = slot};

    if (shm_trig_cfg_read(t, slot, &v.cfg) < 0 || !(v.cfg.flags & SHM_F_VALID))
        return -ENOENT;
    if (shm_trig_ctl_read(t, slot, &v.ctl) < 0) {
        memset(&v.ctl, 0, sizeof v.ctl);
        v.ctl.worker = SHM_NONE;
    }
    if (shm_trig_result_read(t, slot, &v.res) < 0)
        memset(&v.res, 0, sizeof v.res);
    v.state = shm_trigger_state(&v.cfg, &v.ctl, &v.res, now_mono_ms, &v.cause);
    *ret = v;
    return 0;
}

bool shm_spec_published(const shm_trig_cfg_t *cfg, const shm_trig_result_t *res)
{
    return res->has_spec && res->spec_metric_name[0] && res->for_cfg_gen == cfg->cfg_gen;
}

const char *shm_spec_metric_name(const shm_trig_cfg_t *cfg, const shm_trig_result_t *res)
{
    return shm_spec_published(cfg, res) ? res->spec_metric_name : cfg->metric_name;
}

double shm_spec_target(const shm_trig_cfg_t *cfg, const shm_trig_result_t *res)
{
    return shm_spec_published(cfg, res) ? res->spec_target : cfg->target;
}

bool shm_cause_is_settled(shm_cause_t cause)
{
    return cause != SHM_CAUSE_NO_RESULT;
}

bool shm_cause_is_source_failure(shm_cause_t cause)
{
    return cause == SHM_CAUSE_SOURCE;
}

const char *shm_state_name(shm_state_t s)
{
    switch (s) {
    case SHM_STATE_ACTIVE:
        return "ACTIVE";
    case SHM_STATE_INACTIVE:
        return "INACTIVE";
    default:
        return "ERROR";
    }
}

const char *shm_cause_name(shm_cause_t c)
{
    static const char *const names[] = {
        "", "no result yet", "stale", "source failure", "configuration error", "quarantined"};
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "unknown";
}

const char *shm_proc_state_name(uint32_t state)
{
    static const char *const names[] = {"empty",   "starting", "running",
                                        "backoff", "stopping", "disabled"};
    return state < sizeof names / sizeof names[0] ? names[state] : "unknown";
}
