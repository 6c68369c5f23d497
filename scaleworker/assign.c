/*
 * assign: which triggers this worker owns. The supervisor names the owner in each trigger's
 * control group and rings our doorbell; we rescan, start or stop polling, and acknowledge the
 * assignment generation we loaded, after which the supervisor may give a released trigger to
 * another worker. A released trigger is never written by us again.
 */
#include "scaleworker/sw_internal.h"

#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int sw_assign_init(sw_worker_t *w)
{
    uint32_t n = shm_table_caps(w->ctx.table)->max_trig;

    w->by_slot = calloc(n, sizeof *w->by_slot);
    w->trig = calloc(n, sizeof *w->trig);
    w->rang_seq = calloc(n, sizeof *w->rang_seq);
    if (!w->by_slot || !w->trig || !w->rang_seq)
        return log_error(-ENOMEM, "could not allocate the assignment");
    return 0;
}

static void sw_trigger_drop(sw_worker_t *w, uint32_t slot)
{
    sw_trigger_t *t = w->by_slot[slot];

    for (uint32_t i = 0; i < w->ntrig; i++)
        if (w->trig[i] == t) {
            w->trig[i] = w->trig[--w->ntrig];
            break;
        }
    if (t->state)
        t->scaler->close(t->state);
    free(t);
    w->by_slot[slot] = NULL;
}

static void sw_trigger_add(sw_worker_t *w, uint32_t slot)
{
    sw_trigger_t *t = calloc(1, sizeof *t);

    if (!t) {
        log_error(-ENOMEM, "could not take trigger %u", slot);
        return;
    }
    t->slot = slot;
    t->scaler = w->scaler;
    t->cfg_gen = UINT64_MAX; /* loads on the next refresh */
    shm_trig_result_read(w->ctx.table, slot, &t->last);
    w->rang_seq[slot] = t->last.activity_seq;
    w->by_slot[slot] = t;
    w->trig[w->ntrig++] = t;
}

void sw_assign_load(sw_worker_t *w)
{
    uint32_t n = shm_table_caps(w->ctx.table)->max_trig;
    shm_proc_ctl_t me;
    shm_trig_ctl_t ctl;

    if (shm_proc_ctl_read(w->ctx.table, w->ctx.slot, &me) < 0)
        return; /* the supervisor is mid-write: the doorbell rings again */
    w->suspect = me.suspect;
    for (uint32_t s = 0; s < n; s++) {
        bool mine = shm_trig_ctl_read(w->ctx.table, s, &ctl) == 0 && ctl.worker == w->ctx.slot;
        if (mine && !w->by_slot[s])
            sw_trigger_add(w, s);
        else if (!mine && w->by_slot[s])
            sw_trigger_drop(w, s);
    }
    shm_proc_ack(w->ctx.table, w->ctx.slot, me.assign_gen);
}

void sw_assign_refresh(sw_worker_t *w)
{
    for (uint32_t i = 0; i < w->ntrig; i++) {
        sw_trigger_t *t = w->trig[i];
        shm_trig_cfg_t cfg;
        if (t->in_flight || shm_trig_cfg_read(w->ctx.table, t->slot, &cfg) < 0 ||
            !(cfg.flags & SHM_F_VALID) || cfg.cfg_gen == t->cfg_gen)
            continue;
        t->cfg = cfg;
        sw_trigger_load_cfg(w, t);
    }
}

void sw_assign_free(sw_worker_t *w)
{
    for (uint32_t s = 0; w->by_slot && s < shm_table_caps(w->ctx.table)->max_trig; s++)
        if (w->by_slot[s])
            sw_trigger_drop(w, s);
    free(w->by_slot);
    free(w->trig);
    free(w->rang_seq);
}
