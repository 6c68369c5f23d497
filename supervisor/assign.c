/*
 * assign: which scale worker polls which trigger, and what a worker's crash costs.
 *
 * Unassigned triggers go to a worker of their type (spawned when missing, sharded past
 * worker-shard-size, retired when idle). A trigger changes worker only through "unassigned":
 * the supervisor clears the assignment, bumps the old worker's assign_gen and rings it, and
 * reassigns only once that worker has acknowledged the generation (or is dead).
 *
 * Crash attribution: when a worker dies, every trigger in its in-flight list gets a strike and
 * moves to its type's suspect shard, which polls one trigger at a time; a crash there names the
 * culprit, which is quarantined with exponential backoff. Worker crashes never count toward the
 * supervisor's give-up limit.
 */
#include "supervisor/sup_internal.h"

#include "common/log.h"
#include "common/role.h"
#include "common/scaler_registry.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void sup_ctl_get(sup_t *s, uint32_t t, shm_trig_ctl_t *ctl)
{
    /* Our own group: no writer can be mid-write, the read always succeeds. */
    if (shm_trig_ctl_read(s->table, t, ctl) < 0)
        memset(ctl, 0, sizeof *ctl);
}

static bool sup_worker_live(const sup_child_t *c)
{
    return c->role == SHM_ROLE_SCALEWORKER &&
           (c->state == SHM_PROC_RUNNING || c->state == SHM_PROC_BACKOFF);
}

/* A worker's assignment changes: bump its generation now (a release waits for the worker to
 * acknowledge it), but publish it and ring the worker only once the trigger's control group
 * is written (sup_worker_notify). A worker woken earlier would load the old control group,
 * acknowledge the new generation and never look again: a new trigger would never be polled,
 * and a released one would stay with its old worker after the supervisor handed it on. */
static void sup_worker_changed(sup_t *s, uint32_t w)
{
    s->child[w].assign_gen++;
    s->child[w].notify = true;
}

static void sup_worker_notify(sup_t *s, uint32_t w)
{
    if (w == SHM_NONE || !s->child[w].notify)
        return;
    s->child[w].notify = false;
    sup_child_publish(s, w);
    role_bell_ring(s->bells[w]);
}

static uint32_t sup_worker_pick(sup_t *s, uint32_t type_id, bool suspect)
{
    uint32_t best = SHM_NONE;

    for (uint32_t i = s->first_worker; i < s->nproc; i++) {
        const sup_child_t *c = &s->child[i];
        if (!sup_worker_live(c) || c->type_id != type_id || c->suspect != suspect || c->retiring)
            continue;
        if (!suspect && c->ntriggers >= s->cfg.worker_shard_size)
            continue;
        if (best == SHM_NONE || c->ntriggers < s->child[best].ntriggers)
            best = i;
    }
    return best;
}

static uint32_t sup_worker_start(sup_t *s, uint32_t type_id, bool suspect)
{
    uint32_t slot = SHM_NONE, shard = 0;
    bool used;

    for (uint32_t i = s->first_worker; i < s->nproc && slot == SHM_NONE; i++)
        if (s->child[i].role == SHM_ROLE_COUNT)
            slot = i;
    if (slot == SHM_NONE) {
        log_error(0, "no free process slot for a %s worker (max-processes %u)",
                  scaler_type_name(type_id), s->cfg.max_processes);
        return SHM_NONE;
    }
    do { /* the lowest shard number not in use for this type */
        used = false;
        for (uint32_t i = s->first_worker; i < s->nproc; i++)
            used |= s->child[i].role == SHM_ROLE_SCALEWORKER && s->child[i].type_id == type_id &&
                    s->child[i].suspect == suspect && s->child[i].shard == shard;
    } while (used && ++shard);
    sup_child_t *c = &s->child[slot];
    *c = (sup_child_t){.role = SHM_ROLE_SCALEWORKER,
                       .type_id = type_id,
                       .shard = shard,
                       .suspect = suspect,
                       .state = SHM_PROC_EMPTY,
                       .last_exit = INT32_MIN,
                       .assign_gen = c->assign_gen};
    return sup_child_spawn(s, slot) == 0 ? slot : SHM_NONE;
}

static void sup_release(sup_t *s, uint32_t t, shm_trig_ctl_t *ctl)
{
    uint32_t w = ctl->worker;

    s->child[w].ntriggers--;
    if (s->child[w].ntriggers == 0)
        s->child[w].idle_since_ms = shm_now_mono_ms();
    sup_worker_changed(s, w);
    ctl->release_from = w;
    ctl->release_gen = s->child[w].assign_gen;
    ctl->worker = SHM_NONE;
}

static bool sup_released(sup_t *s, shm_trig_ctl_t *ctl)
{
    shm_proc_self_t self;
    const sup_child_t *w;

    if (ctl->release_from == SHM_NONE)
        return true;
    w = &s->child[ctl->release_from];
    shm_proc_self_read(s->table, ctl->release_from, &self);
    if (w->pid == 0 || (int32_t)(self.ack_assign_gen - ctl->release_gen) >= 0) {
        ctl->release_from = SHM_NONE;
        return true;
    }
    return false;
}

static void sup_assign_one(sup_t *s, uint32_t t, const shm_trig_cfg_t *cfg, shm_trig_ctl_t *ctl)
{
    uint32_t w = sup_worker_pick(s, cfg->type_id, ctl->suspect);

    if (w == SHM_NONE)
        w = sup_worker_start(s, cfg->type_id, ctl->suspect);
    if (w == SHM_NONE)
        return;
    ctl->worker = w;
    ctl->type_id = cfg->type_id;
    s->child[w].ntriggers++;
    sup_worker_changed(s, w);
}

/* A new configuration (or a reused slot) starts with a clean record. */
static void sup_ctl_reset(shm_trig_ctl_t *ctl, const shm_trig_cfg_t *cfg)
{
    ctl->cfg_gen = cfg->cfg_gen;
    ctl->strikes = 0;
    ctl->suspect = 0;
    ctl->quarantines = 0;
    ctl->quarantined_until_mono_ms = 0;
    ctl->reason[0] = '\0';
}

static void sup_assign_trigger(sup_t *s, uint32_t t, uint64_t now)
{
    shm_trig_cfg_t cfg;
    shm_trig_ctl_t ctl, before;
    bool valid = shm_trig_cfg_read(s->table, t, &cfg) == 0 && (cfg.flags & SHM_F_VALID) &&
                 !(cfg.flags & SHM_F_RESOURCE) && cfg.type_id < scaler_type_count();

    sup_ctl_get(s, t, &ctl);
    before = ctl;
    if (valid && ctl.cfg_gen != cfg.cfg_gen) {
        if (ctl.worker != SHM_NONE && ctl.suspect)
            sup_release(s, t, &ctl); /* back to a normal shard */
        sup_ctl_reset(&ctl, &cfg);
    }
    if (ctl.worker != SHM_NONE && (!valid || cfg.type_id != ctl.type_id))
        sup_release(s, t, &ctl);
    if (ctl.worker != SHM_NONE && ctl.suspect && !ctl.quarantines &&
        now - ctl.suspect_since_mono_ms > (uint64_t)s->cfg.suspect_probation_s * 1000) {
        sup_release(s, t, &ctl); /* served its probation without a crash */
        ctl.suspect = 0;
        ctl.strikes = 0;
    }
    if (valid && ctl.worker == SHM_NONE && sup_released(s, &ctl) &&
        ctl.quarantined_until_mono_ms <= now)
        sup_assign_one(s, t, &cfg, &ctl);
    ctl.flags = SHM_F_VALID;
    if (memcmp(&ctl, &before, sizeof ctl) != 0)
        shm_trig_ctl_write(s->table, t, &ctl);
    sup_worker_notify(s, before.worker); /* released */
    sup_worker_notify(s, ctl.worker);    /* assigned */
}

static void sup_retire_idle(sup_t *s, uint64_t now)
{
    for (uint32_t i = s->first_worker; i < s->nproc; i++) {
        sup_child_t *c = &s->child[i];
        if (c->role != SHM_ROLE_SCALEWORKER || c->ntriggers || c->retiring)
            continue;
        if (c->state == SHM_PROC_BACKOFF) { /* nothing left to restart it for */
            c->role = SHM_ROLE_COUNT;
            sup_child_set_state(s, i, SHM_PROC_EMPTY, "no triggers left");
        } else if (c->state == SHM_PROC_RUNNING &&
                   now - c->idle_since_ms > (uint64_t)s->cfg.worker_idle_retire_s * 1000) {
            c->retiring = true;
            kill(c->pid, SIGTERM);
            sup_child_set_state(s, i, SHM_PROC_STOPPING, "idle");
        }
    }
}

void sup_assign_scan(sup_t *s, uint64_t now)
{
    if (s->stopping)
        return;
    for (uint32_t t = 0; t < shm_table_caps(s->table)->max_trig; t++)
        sup_assign_trigger(s, t, now);
    sup_retire_idle(s, now);
}

static void sup_charge_one(sup_t *s, uint32_t t, const sup_child_t *w, int32_t code, uint64_t now)
{
    shm_trig_ctl_t ctl;

    sup_ctl_get(s, t, &ctl);
    if (ctl.worker != (uint32_t)(w - s->child))
        return; /* already moved away */
    ctl.strikes++;
    if (w->suspect) { /* alone in flight: this trigger is the culprit */
        ctl.quarantines++;
        uint64_t ms =
            sup_quarantine_ms(ctl.quarantines, s->cfg.quarantine_base_s, s->cfg.quarantine_max_s);
        ctl.quarantined_until_mono_ms = now + ms;
        snprintf(ctl.reason, sizeof ctl.reason,
                 "crashed its scaler worker (%s %d) %u times; quarantined for %llu s",
                 code < 0 ? "signal" : "exit", code < 0 ? -code : code, ctl.strikes,
                 (unsigned long long)(ms / 1000));
        log_warning(0, "trigger %u %s", t, ctl.reason);
    } else {
        ctl.suspect = 1;
        ctl.suspect_since_mono_ms = now;
        snprintf(ctl.reason, sizeof ctl.reason, "in flight when its scaler worker crashed");
    }
    ctl.worker = SHM_NONE; /* the worker is dead: nothing to acknowledge */
    ctl.release_from = SHM_NONE;
    s->child[w - s->child].ntriggers--;
    shm_trig_ctl_write(s->table, t, &ctl);
}

unsigned sup_assign_charge(sup_t *s, uint32_t slot, const shm_proc_self_t *self, int32_t code,
                           uint64_t now)
{
    const sup_child_t *w = &s->child[slot];

    for (uint32_t i = 0; i < self->inflight_count; i++)
        if (self->inflight[i] < shm_table_caps(s->table)->max_trig)
            sup_charge_one(s, self->inflight[i], w, code, now);
    sup_assign_forget(s, slot);
    if (s->child[slot].ntriggers == 0)
        s->child[slot].idle_since_ms = now;
    return self->inflight_count;
}

void sup_assign_forget(sup_t *s, uint32_t slot)
{
    shm_trig_ctl_t ctl;

    for (uint32_t t = 0; t < shm_table_caps(s->table)->max_trig; t++) {
        sup_ctl_get(s, t, &ctl);
        if (ctl.release_from == slot) {
            ctl.release_from = SHM_NONE;
            shm_trig_ctl_write(s->table, t, &ctl);
        }
    }
}
