/*
 * poll: the life of one poll in the scale worker. A trigger is polled every pollingInterval
 * (the first poll at once, then jittered so objects created together do not poll in
 * lock-step); each poll is recorded in flight (shm_proc_inflight_add) before it starts and
 * released when it completes, succeeds or fails or times out; its result is published under the
 * result seqlock tagged with the cfg_gen it was computed for. An activity change rings the
 * watcher's doorbell.
 *
 * Freshness (DESIGN.md): a trigger without useCachedMetrics is also polled once after each HPA
 * read, as KEDA queries the source on each read. The adapter stamps the trigger's demand
 * (shm_trig_demand_stamp) and never waits; a loop turn at least SW_DEMAND_SCAN_MS after the
 * last look (so at least once a second) compares every such trigger's stamp with the start of
 * its last poll. A newer stamp makes one poll
 * due at max(start of the last poll + min(pollingInterval, SW_DEMAND_GAP_MS), now). Whatever
 * the number of readers, a trigger is thus polled on demand at most once per gap, every stamp
 * is answered by a poll that starts after it (within a second and the gap), and stamps that
 * arrive during a poll or within the gap fold into one poll; with the HPA's 15 s period that
 * is one poll per read, the load KEDA puts on the source. A demand poll is a poll: the next
 * interval poll is one interval after it. A trigger with useCachedMetrics polls on its
 * interval only.
 *
 * The schedule: idle triggers wait in the worker's due heap by next_poll_ms, polls in flight in
 * its deadline heap by deadline (heap.c), so a turn touches only what is due or overdue and the
 * work per poll does not grow with the number of triggers; sw_sched() files a trigger after
 * every change of its poll time, flight or configuration.
 *
 * Invariants: a trigger has at most one poll in flight; a poll completes once (a late
 * sw_poll_done after a timeout is ignored); the suspect shard (proc control `suspect`) has at
 * most one poll in flight in the whole process, so a crash there names its trigger; a poll never
 * outlives its deadline by more than one loop turn; demand never starts a second poll of a
 * trigger, nor a poll beyond the suspect shard's one.
 */
#include "scaleworker/sw_internal.h"

#include "common/log.h"
#include "common/redact.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t sw_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Microseconds since the poll started, saturated to the field's width. */
static uint32_t sw_poll_latency_us(const sw_poll_t *p)
{
    uint64_t us = sw_now_us() - p->started_us;
    return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Publishes a result; own: the activity the source decided (0 or 1), or -1 for value >
 * activation. */
static void sw_publish_result(sw_worker_t *w, sw_trigger_t *t, bool ok, double value, int own,
                              shm_fail_t failure, const char *error, uint32_t latency_us)
{
    shm_trig_result_t r = t->last;
    bool active = ok && (own >= 0 ? own > 0 : value > t->cfg.activation);

    r.flags = ok ? SHM_F_VALID | (own >= 0 ? SHM_F_OWN_ACTIVITY : 0) : 0;
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
        role_bell_ring(w->watcher_bell);
    }
}

void sw_publish(sw_worker_t *w, sw_trigger_t *t, bool ok, double value, shm_fail_t failure,
                const char *error, uint32_t latency_us)
{
    sw_publish_result(w, t, ok, value, -1, failure, error, latency_us);
}

void sw_trigger_push_active(sw_trigger_t *t)
{
    sw_worker_t *w = t->w;
    shm_trig_result_t r = t->last;

    if (!t->state || t->config_error || t->cfg_gen != t->cfg.cfg_gen)
        return; /* its configuration is changing: the next poll speaks for it */
    /* The value stays the last one measured: the push says "active", not how much. */
    r.flags = SHM_F_VALID | SHM_F_OWN_ACTIVITY;
    r.failure = SHM_FAIL_NONE;
    r.for_cfg_gen = t->cfg.cfg_gen;
    r.measured_mono_ms = shm_now_mono_ms();
    r.measured_real_ms = shm_now_real_ms();
    r.active = 1;
    r.activity_seq++; /* every `true` is a RequestScale in KEDA: the loop evaluates each */
    t->last = r;
    shm_trig_result_write(w->ctx.table, t->slot, &r);
    w->rang_seq[t->slot] = r.activity_seq;
    role_bell_ring(w->watcher_bell);
}

uint32_t sw_trigger_interval_ms(const sw_trigger_t *t)
{
    return t->cfg.polling_interval_ms ? t->cfg.polling_interval_ms : 1000;
}

void sw_sched(sw_worker_t *w, sw_trigger_t *t)
{
    if (t->in_flight) {
        sw_heap_remove(&w->due, &t->due);
        sw_heap_set(&w->deadlines, &t->deadline, t->poll.deadline_ms);
        return;
    }
    sw_heap_remove(&w->deadlines, &t->deadline);
    if (t->config_error || (!t->state && t->cfg_gen == UINT64_MAX))
        sw_heap_remove(&w->due, &t->due); /* nothing to poll until a configuration loads */
    else
        sw_heap_set(&w->due, &t->due, t->next_poll_ms);
}

void sw_sched_remove(sw_worker_t *w, sw_trigger_t *t)
{
    sw_heap_remove(&w->due, &t->due);
    sw_heap_remove(&w->deadlines, &t->deadline);
}

/* Releases the in-flight record; the trigger's next poll is one interval from now. */
static void sw_poll_finish(sw_poll_t *p, uint64_t now)
{
    sw_trigger_t *t = p->t;
    uint32_t interval = sw_trigger_interval_ms(t);

    p->active = false;
    t->in_flight = false;
    p->w->inflight--;
    shm_proc_inflight_del(p->w->ctx.table, p->w->ctx.slot, t->slot);
    t->next_poll_ms = now + interval; /* (KEDA's minimum pollingInterval is 1 s) */
    if (t->first_poll) { /* spread objects created together over a tenth of the interval */
        t->first_poll = false;
        t->next_poll_ms -= (uint64_t)random() % (interval / 10 + 1);
    }
    if (p->auth_rejected && (t->auth_uid[0] || t->target_uid[0])) {
        sw_auth_invalidate(p->w->auth, t->auth_uid);
        sw_auth_invalidate(p->w->auth, t->target_uid);
        t->reload = true;
        sw_assign_check(p->w, t);
    }
    sw_sched(p->w, t);
}

void sw_poll_done(sw_poll_t *p, bool ok, double value, const char *error)
{
    uint64_t now = shm_now_mono_ms();

    if (!p->active) {
        log_debug("late completion of a poll of trigger %u ignored", p->t->slot);
        return;
    }
    sw_poll_finish(p, now);
    sw_publish(p->w, p->t, ok, value, ok ? SHM_FAIL_NONE : SHM_FAIL_SOURCE, error,
               sw_poll_latency_us(p));
    shm_proc_count(p->w->ctx.table, p->w->ctx.slot, 1, ok ? 0 : 1);
}

void sw_poll_done_active(sw_poll_t *p, double value, bool active)
{
    if (!p->active) {
        log_debug("late completion of a poll of trigger %u ignored", p->t->slot);
        return;
    }
    sw_poll_finish(p, shm_now_mono_ms());
    sw_publish_result(p->w, p->t, true, value, active ? 1 : 0, SHM_FAIL_NONE, NULL,
                      sw_poll_latency_us(p));
    shm_proc_count(p->w->ctx.table, p->w->ctx.slot, 1, 0);
}

void sw_poll_spec(sw_poll_t *p, const char *metric_name, double target)
{
    shm_trig_result_t *r = &p->t->last;

    if (!p->active)
        return;
    r->has_spec = 1;
    snprintf(r->spec_metric_name, sizeof r->spec_metric_name, "%s", metric_name);
    r->spec_target = target;
}

void sw_poll_auth_rejected(sw_poll_t *p)
{
    p->auth_rejected = true;
}

uint64_t sw_poll_deadline_ms(const sw_poll_t *p)
{
    return p->deadline_ms;
}

uint32_t sw_poll_timeout_ms(const sw_poll_t *p)
{
    return p->timeout_ms;
}

uint64_t sw_poll_own_deadline_ms(const sw_poll_t *p, uint64_t timeout_ms)
{
    uint64_t d = timeout_ms ? shm_now_mono_ms() + timeout_ms : 0;
    return d < p->deadline_ms ? d : 0;
}

/* The deadline passed: the scaler stops its I/O, we publish the timeout. */
static void sw_poll_expire(sw_worker_t *w, sw_trigger_t *t, uint64_t now)
{
    char why[160] = "", msg[SHM_ERROR_MAX];

    if (t->scaler->cancel)
        t->scaler->cancel(t->state, why, sizeof why);
    snprintf(msg, sizeof msg, "%s: no answer within the timeout of %u ms%s%s", t->cfg.type,
             t->poll.timeout_ms, why[0] ? " while " : "", why);
    sw_poll_finish(&t->poll, now);
    sw_publish(w, t, false, 0, SHM_FAIL_SOURCE, msg, sw_poll_latency_us(&t->poll));
    shm_proc_count(w->ctx.table, w->ctx.slot, 1, 1);
}

void sw_poll_abandon(sw_worker_t *w, sw_trigger_t *t)
{
    char why[8];

    if (!t->in_flight)
        return;
    if (t->scaler->cancel)
        t->scaler->cancel(t->state, why, sizeof why);
    t->poll.active = false;
    t->in_flight = false;
    w->inflight--;
    shm_proc_inflight_del(w->ctx.table, w->ctx.slot, t->slot);
    sw_sched(w, t);
}

static void sw_trigger_poll(sw_worker_t *w, sw_trigger_t *t, uint64_t now)
{
    uint32_t timeout = t->cfg.timeout_ms ? t->cfg.timeout_ms : w->ctx.cfg.http_default_timeout_ms;

    if (shm_proc_inflight_add(w->ctx.table, w->ctx.slot, t->slot) < 0) {
        t->next_poll_ms = now + 100; /* the in-flight list is full: should not happen */
        sw_sched(w, t);
        return;
    }
    t->poll = (sw_poll_t){.w = w,
                          .t = t,
                          .started_us = sw_now_us(),
                          .deadline_ms = now + timeout,
                          .timeout_ms = timeout,
                          .active = true};
    t->in_flight = true;
    t->poll_started_ms = now;
    w->inflight++;
    sw_sched(w, t); /* before poll(), which may complete it at once */
    t->scaler->poll(&t->poll, t->state);
}

/* Whether t may start a poll now; a trigger without state tries to load again when due. */
static bool sw_trigger_ready(sw_worker_t *w, sw_trigger_t *t, uint64_t now)
{
    if (t->config_error || t->next_poll_ms > now)
        return false;
    if (!t->state && t->cfg_gen != UINT64_MAX)
        sw_trigger_load_cfg(w, t, false); /* a transient failure (authentication) retries */
    return t->state != NULL && !t->config_error && t->next_poll_ms <= now;
}

/* An HPA read since the start of t's last poll brings its next poll forward (see the top of
 * this file). One relaxed load per trigger; nothing when t uses cached metrics, has a poll in
 * flight (the stamp is still newer after it) or has no parsed configuration. */
static void sw_poll_demand(sw_worker_t *w, sw_trigger_t *t)
{
    uint32_t interval = sw_trigger_interval_ms(t);
    uint64_t due;

    if (t->cfg.use_cached_metrics || t->in_flight || !t->state || t->config_error)
        return;
    if (shm_trig_demand_get(w->ctx.table, t->slot) <= t->poll_started_ms)
        return;
    due = t->poll_started_ms + (interval < SW_DEMAND_GAP_MS ? interval : SW_DEMAND_GAP_MS);
    if (due < t->next_poll_ms) {
        t->next_poll_ms = due;
        sw_sched(w, t);
    }
}

/* The one scan left that visits every trigger, at most every SW_DEMAND_SCAN_MS: the stamps
 * are written by the adapters, which never wake us. Its cost per second is bounded by the
 * number of triggers, not by the number of turns. */
static void sw_poll_demand_scan(sw_worker_t *w, uint64_t now)
{
    if (w->demand_scan_ms && now - w->demand_scan_ms < SW_DEMAND_SCAN_MS)
        return;
    w->demand_scan_ms = now;
    for (uint32_t i = 0; i < w->ntrig; i++)
        sw_poll_demand(w, w->trig[i]);
}

static sw_trigger_t *sw_trigger_of(sw_heap_node_t *n, size_t member)
{
    return n ? (sw_trigger_t *)((char *)n - member) : NULL;
}

/* Polls the triggers that are due while there is room, each at most once. A due trigger that
 * has no room (the suspect shard's one poll, SHM_INFLIGHT_MAX) waits for a completion, which
 * runs a new turn, rather than making the loop spin. The clock is read again only after a
 * trigger was handled (a poll started, a load). */
static void sw_poll_start_due(sw_worker_t *w, uint64_t now)
{
    sw_trigger_t *t;

    for (uint32_t left = w->ntrig; left > 0; left--) {
        if (w->inflight >= (w->suspect ? 1u : SHM_INFLIGHT_MAX))
            return;
        t = sw_trigger_of(sw_heap_top(&w->due), offsetof(sw_trigger_t, due));
        if (!t || t->next_poll_ms > now)
            return;
        if (sw_trigger_ready(w, t, now)) {
            sw_trigger_poll(w, t, now);
            role_heartbeat(&w->ctx);
        } else if (t->next_poll_ms <= now) { /* loaded nothing and set no retry: a turn later */
            t->next_poll_ms = now + 1;
            sw_sched(w, t);
        }
        now = shm_now_mono_ms();
    }
}

int sw_poll_due(sw_worker_t *w)
{
    uint64_t now = shm_now_mono_ms(), next;
    sw_trigger_t *t;

    sw_poll_demand_scan(w, now);
    while ((t = sw_trigger_of(sw_heap_top(&w->deadlines), offsetof(sw_trigger_t, deadline))) &&
           t->poll.deadline_ms <= now) {
        sw_poll_expire(w, t, now); /* out of flight: into the due heap */
        now = shm_now_mono_ms();
    }
    sw_poll_start_due(w, now);
    now = shm_now_mono_ms();
    next = now + 1000;
    if ((t = sw_trigger_of(sw_heap_top(&w->deadlines), offsetof(sw_trigger_t, deadline))) &&
        t->poll.deadline_ms < next)
        next = t->poll.deadline_ms;
    if (w->inflight < (w->suspect ? 1u : SHM_INFLIGHT_MAX) &&
        (t = sw_trigger_of(sw_heap_top(&w->due), offsetof(sw_trigger_t, due))) &&
        t->next_poll_ms < next)
        next = t->next_poll_ms;
    return next > now ? (int)(next - now) : 0;
}
