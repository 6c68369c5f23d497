/*
 * worker: the scale worker's runtime. Loads the assignment the supervisor published (trigger
 * control entries naming this process slot), reads each trigger's config blob when its cfg_gen
 * changes, polls each trigger every pollingInterval (the first poll at once, then jittered so
 * objects created together do not poll in lock-step), publishes results under the result
 * seqlock tagged with the cfg_gen they were computed for, heartbeats, and acknowledges every
 * assignment generation it has loaded.
 *
 * The suspect shard of a type (proc control `suspect`) has one poll in flight at a time, so a
 * crash there names its trigger.
 */
#include "scaleworker/scaleworker.h"
#include "scaleworker/sw_internal.h"

#include "common/fds.h"
#include "common/log.h"
#include "common/redact.h"
#include "common/role.h"
#include "common/scaler_registry.h"
#include "shm/blob.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sw_poll {
    sw_worker_t *w;
    sw_trigger_t *t;
    uint64_t started_ms;
};

static void sw_trigger_unload(sw_trigger_t *t)
{
    if (t->state && t->scaler)
        t->scaler->close(t->state);
    t->state = NULL;
}

/* Reads the config blob of cfg_gen and parses its metadata; a failure is published as a
 * configuration error (terminal until the config changes). */
void sw_trigger_load_cfg(sw_worker_t *w, sw_trigger_t *t)
{
    char *blob = NULL, err[SHM_ERROR_MAX] = "";
    size_t len;
    cJSON *doc = NULL;
    int r;

    sw_trigger_unload(t);
    t->cfg_gen = t->cfg.cfg_gen;
    r = shm_blob_read(FD_BLOBS, t->slot, t->cfg.cfg_gen, &blob, &len);
    if (r < 0) {
        snprintf(err, sizeof err, "could not read the trigger's configuration: %s", strerror(-r));
    } else if (!(doc = cJSON_ParseWithLength(blob, len)) ||
               !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "metadata"))) {
        snprintf(err, sizeof err, "the trigger's configuration is not a JSON object with metadata");
    } else {
        r = t->scaler->parse(cJSON_GetObjectItemCaseSensitive(doc, "metadata"), &t->cfg, &t->state,
                             err, sizeof err);
    }
    cJSON_Delete(doc);
    free(blob);
    t->config_error = t->state == NULL;
    if (t->config_error)
        sw_publish(w, t, false, 0, SHM_FAIL_CONFIG, err[0] ? err : "invalid metadata", 0);
    t->next_poll_ms = shm_now_mono_ms(); /* first poll at once */
    t->first_poll = true;
}

void sw_poll_done(sw_poll_t *p, bool ok, double value, const char *error)
{
    uint64_t now = shm_now_mono_ms();

    shm_proc_inflight_del(p->w->ctx.table, p->w->ctx.slot, p->t->slot);
    p->t->in_flight = false;
    sw_publish(p->w, p->t, ok, value, ok ? SHM_FAIL_NONE : SHM_FAIL_SOURCE, error,
               (uint32_t)((now - p->started_ms) * 1000));
    shm_proc_count(p->w->ctx.table, p->w->ctx.slot, 1, ok ? 0 : 1);
    p->t->next_poll_ms = now + p->t->cfg.polling_interval_ms;
    if (p->t->first_poll) { /* spread objects created together over a tenth of the interval */
        p->t->first_poll = false;
        p->t->next_poll_ms -= (uint64_t)random() % (p->t->cfg.polling_interval_ms / 10 + 1);
    }
}

void sw_publish(sw_worker_t *w, sw_trigger_t *t, bool ok, double value, shm_fail_t failure,
                const char *error, uint32_t latency_us)
{
    shm_trig_result_t r = t->last;
    bool active = ok && value > t->cfg.activation;

    r.flags = ok ? SHM_F_VALID : 0;
    r.failure = failure;
    r.for_cfg_gen = t->cfg.cfg_gen;
    r.measured_mono_ms = shm_now_mono_ms();
    r.measured_real_ms = shm_now_real_ms();
    r.latency_us = latency_us;
    r.polls_total++;
    if (ok) {
        r.value = value;
        r.consecutive_failures = 0;
        r.error[0] = '\0';
    } else {
        r.consecutive_failures++;
        r.errors_total++;
        redact_text(error ? error : "unknown error", r.error, sizeof r.error);
    }
    if (ok && (bool)r.active != active) {
        r.active = active;
        r.activity_seq++;
    }
    t->last = r;
    shm_trig_result_write(w->ctx.table, t->slot, &r);
    if (r.activity_seq != w->rang_seq[t->slot]) {
        w->rang_seq[t->slot] = r.activity_seq;
        role_bell_ring(FD_WATCHER_BELL);
    }
}

static void sw_trigger_poll(sw_worker_t *w, sw_trigger_t *t)
{
    sw_poll_t p = {.w = w, .t = t, .started_ms = shm_now_mono_ms()};

    if (shm_proc_inflight_add(w->ctx.table, w->ctx.slot, t->slot) < 0)
        return; /* SHM_INFLIGHT_MAX polls running: try again on the next turn */
    t->in_flight = true;
    t->scaler->poll(&p, t->state);
}

/* Polls every trigger that is due; returns ms until the next one is. */
int sw_poll_due(sw_worker_t *w)
{
    uint64_t now = shm_now_mono_ms(), next = now + 1000;

    for (uint32_t i = 0; i < w->ntrig; i++) {
        sw_trigger_t *t = w->trig[i];
        if (t->config_error || t->in_flight)
            continue;
        if (t->next_poll_ms <= now) {
            sw_trigger_poll(w, t);
            role_heartbeat(&w->ctx);
            now = shm_now_mono_ms();
        }
        if (t->next_poll_ms < next)
            next = t->next_poll_ms;
    }
    return next > now ? (int)(next - now) : 0;
}

int sw_main(int argc, char **argv)
{
    sw_worker_t w = {0};
    int bell = FD_OWN_BELL, timeout = 0;
    bool ready;

    role_init(&w.ctx, argc, argv);
    if (!w.ctx.type || (w.type_id = scaler_type_id(w.ctx.type)) == SCALER_TYPE_NONE ||
        !(w.scaler = sw_scaler_find(w.ctx.type))) {
        log_error(-EINVAL, "unknown scaler type %s", w.ctx.type ? w.ctx.type : "(none)");
        return 78;
    }
    if (sw_assign_init(&w) < 0)
        return 1;
    log_info("scale worker (slot %u) started", w.ctx.slot);
    sw_assign_load(&w);
    while (role_wait(&w.ctx, &bell, 1, timeout, &ready)) {
        if (ready) {
            role_bell_drain(bell);
            sw_assign_load(&w);
        }
        sw_assign_refresh(&w);
        timeout = sw_poll_due(&w);
        role_heartbeat(&w.ctx);
    }
    sw_assign_free(&w);
    role_done(&w.ctx);
    return 0;
}
