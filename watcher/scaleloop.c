/*
 * scaleloop: KEDA's scale loop for ScaledObjects (reference keda.md §1.9), on the watcher's
 * thread. Each mirrored, Ready object is evaluated on its pollingInterval and at once when the
 * watcher's doorbell reports that one of its triggers changed activity. One evaluation reads the
 * trigger states through shm_trigger_state, the target's spec.replicas (the Deployment and
 * StatefulSet cache, else GET /scale), asks watch_decide (decide.c) and carries out the answer:
 * /scale for the 0 <-> min moves, the Active and Ready conditions and lastActiveTime on /status,
 * and the observed group's `active` and last-active time for ckedactl and the adapter.
 *
 * Invariants:
 * - An object is not evaluated until each trigger has settled (shm_cause_is_settled): a new
 *   object, a config change or a restarting worker never scales anything down.
 * - Upward writes are merge patches of /scale. A downward write re-reads /scale, goes ahead only
 *   if spec.replicas is still the value the decision was made on, and PUTs the Scale object with
 *   the resourceVersion it read: a scale-up the HPA made in between is a conflict, and the object
 *   is decided again on the fresh count. A scale-to-zero never overwrites a scale-up.
 * - Nothing is written when nothing changed. status.lastActiveTime is kept exact in the table's
 *   observed group (which survives a watcher restart) and written to the API with every status
 *   patch made for another reason, and otherwise at most every 30 s (slstatus.c): an
 *   active object costs one status write per that period, not one per poll. Decisions use the
 *   later of the two.
 * - A target whose replica count cannot be read (deleted, say) is Ready=False
 *   ErrorGettingCurrentReplicas with the API's error, as KEDA's RequestScale says, and nothing is
 *   decided (Active kept); the first poll that reads a count again makes it Ready.
 * - A /scale write the API refuses (an admission policy, RBAC, a quota) gets KEDA's Warning Event
 *   (KEDAScaleTargetActivationFailed / DeactivationFailed; none for the fix-up to min, as in
 *   KEDA) and, where KEDA says nothing more, Ready=False with that reason and "<the Event's
 *   message>: <the API's error>". The object's writes then back off (watch_decide_backoff_ms:
 *   the next poll, then doubling to 5 min) while its polls go on: status, Events and other
 *   objects keep their pace, and a doorbell never brings a held write forward. The first write
 *   that succeeds, or a poll that needs none, makes it Ready again.
 */
#include "watcher/decide.h"
#include "watcher/watcher_internal.h"

#include "common/fallback.h"
#include "common/json.h"
#include "common/log.h"
#include "common/redact.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define WATCH_SCALE_ATTEMPTS     3
#define WATCH_UNSETTLED_RETRY_MS 250

typedef struct sl_eval {
    watch_ctx_t *w;
    watch_entry_t *e;
    shm_so_spec_t spec;
    shm_so_observed_t obs;
    bool have_obs;
    shm_trig_view_t *views; /* sl_views */
    uint32_t nviews;
    watch_trig_summary_t sum;
    bool active, error;
    char active_names[512]; /* metric names of the active triggers, ';'-joined (KEDA's Event) */
    uint64_t seen;
    uint64_t now_mono;
    bool no_current;                 /* the target's spec.replicas could not be read */
    char scale_err[ERRTEXT_MAX + 8]; /* why the last GET /scale failed */
    char write_err[ERRTEXT_MAX + 8]; /* why the last /scale write failed */
    bool write_failed;               /* this poll's write failed or was held by the backoff */
} sl_eval_t;

/* The triggers of the object being evaluated: large, and the watcher has one thread, so one
 * buffer serves every evaluation rather than 64 views on the stack per object. */
static shm_trig_view_t sl_views[SHM_TRIGGERS_PER_SO_MAX];

/* ---- the triggers ---- */

static uint64_t sl_mix(uint64_t h, uint64_t v)
{
    return (h ^ v) * 1099511628211ull;
}

static void sl_name_add(char *buf, size_t cap, const char *name)
{
    size_t n = strlen(buf);

    if (n + strlen(name) + 2 <= cap)
        snprintf(buf + n, cap - n, "%s%s", n ? ";" : "", name);
}

/* Trigger i's metric name, as the HPA and status.externalMetricNames say it. */
static const char *sl_metric(const sl_eval_t *ev, uint32_t i)
{
    return shm_spec_metric_name(&ev->views[i].cfg, &ev->views[i].res);
}

/* Loads e's triggers. -EAGAIN while one has not settled (or the table is mid-write). */
int watch_loop_triggers(watch_ctx_t *w, const watch_entry_t *e, uint64_t now, shm_so_spec_t *spec,
                        shm_trig_view_t *views, uint32_t *ret_n)
{
    *ret_n = 0;
    if (shm_so_spec_read(w->table, e->slot, spec) < 0 || !(spec->flags & SHM_F_VALID) ||
        spec->generation != e->generation)
        return -EAGAIN;
    for (uint32_t i = 0; i < spec->trigger_count && i < SHM_TRIGGERS_PER_SO_MAX; i++) {
        if (shm_trig_view_load(w->table, spec->triggers[i], now, &views[i]) < 0 ||
            !shm_cause_is_settled(views[i].cause))
            return -EAGAIN;
        *ret_n = i + 1;
    }
    return 0;
}

static int sl_triggers(sl_eval_t *ev)
{
    uint64_t seen = 1469598103934665603ull;
    int r = watch_loop_triggers(ev->w, ev->e, ev->now_mono, &ev->spec, ev->views, &ev->nviews);

    if (r < 0)
        return r;
    for (uint32_t i = 0; i < ev->nviews; i++)
        seen = sl_mix(sl_mix(seen, ev->views[i].res.activity_seq), ev->views[i].res.for_cfg_gen);
    ev->seen = seen;
    return 0;
}

/* KEDA's getScaledObjectState over the loaded triggers (decide.c), with the formula compiled
 * for this evaluation (a few microseconds, once per pollingInterval). */
static void sl_summarize(sl_eval_t *ev)
{
    const watch_trig_summary_t *sum = &ev->sum;
    expr_t *prog = NULL;
    errtext_t err = {{0}};

    ev->have_obs = shm_so_observed_read(ev->w->table, ev->e->slot, &ev->obs) == 0 &&
                   (ev->obs.flags & SHM_F_VALID) && ev->obs.generation == ev->e->generation;
    if (ev->spec.modifiers_formula[0] &&
        fallback_formula_compile(&ev->spec, ev->views, ev->nviews, &prog, &err) < 0)
        log_msg(LOG_LEVEL_WARNING, 0, "ScaledObject %s/%s: scalingModifiers.formula: %s", ev->e->ns,
                ev->e->name, err.text);
    watch_decide_triggers(&ev->spec, ev->have_obs ? &ev->obs : NULL, ev->views, ev->nviews, prog,
                          &ev->sum);
    expr_free(prog);
    ev->active = sum->active;
    ev->error = sum->error;
    ev->active_names[0] = '\0';
    if (ev->spec.modifiers_formula[0] && sum->active)
        sl_name_add(ev->active_names, sizeof ev->active_names, FALLBACK_COMPOSITE_METRIC);
    for (uint32_t i = 0; i < ev->nviews && !ev->spec.modifiers_formula[0]; i++)
        if (sum->trig[i].active)
            sl_name_add(ev->active_names, sizeof ev->active_names, sl_metric(ev, i));
}

/* ---- the target ---- */

static k8s_ref_t sl_scale_ref(const sl_eval_t *ev)
{
    const k8s_resolved_t *t = &ev->e->target;
    return (k8s_ref_t){
        {t->group, t->version, t->resource}, ev->e->ns, ev->spec.target_name, "scale"};
}

/* GET /scale; *ret_scale (may be NULL) receives the object. */
static int sl_scale_get(sl_eval_t *ev, int32_t *ret_replicas, cJSON **ret_scale)
{
    k8s_ref_t ref = sl_scale_ref(ev);
    k8s_error_t kerr;
    cJSON *scale = NULL;
    int32_t n = 0;
    int r = watch_api_get(ev->w, &ref, &scale, &kerr);

    if (r < 0) {
        snprintf(ev->scale_err, sizeof ev->scale_err, "%s",
                 kerr.message[0] ? kerr.message : strerror(-r));
        log_msg(LOG_LEVEL_WARNING, r, "could not read the scale of %s/%s: %s", ev->e->ns,
                ev->spec.target_name, kerr.message);
        return r;
    }
    jsonu_get_int32(scale, "spec.replicas", 0, INT32_MAX, &n, NULL);
    *ret_replicas = n;
    if (ret_scale)
        *ret_scale = scale;
    else
        cJSON_Delete(scale);
    return 0;
}

static int sl_current(sl_eval_t *ev, int32_t *ret)
{
    watch_entry_t *e = ev->e;
    const watch_workload_t *wl;

    if (!e->target_known)
        return -EAGAIN;
    if (e->workload_key[0] && (wl = watch_map_get(&ev->w->workloads, e->workload_key))) {
        *ret = wl->spec_replicas;
        return 0;
    }
    return sl_scale_get(ev, ret, NULL);
}

/* What the API returned is newer than the cache until the informer catches up. */
static void sl_cache_replicas(sl_eval_t *ev, int32_t n)
{
    watch_workload_t *wl;

    if (ev->e->workload_key[0] && (wl = watch_map_get(&ev->w->workloads, ev->e->workload_key)))
        wl->spec_replicas = n;
}

static int sl_scale_up(sl_eval_t *ev, int32_t n)
{
    k8s_ref_t ref = sl_scale_ref(ev);
    k8s_error_t kerr;
    char body[64];
    cJSON *patch;
    int r;

    snprintf(body, sizeof body, "{\"spec\":{\"replicas\":%d}}", n);
    patch = cJSON_Parse(body);
    r = patch ? watch_api_patch(ev->w, &ref, patch, NULL, &kerr) : -ENOMEM;
    cJSON_Delete(patch);
    if (r < 0) {
        snprintf(ev->write_err, sizeof ev->write_err, "%s",
                 r != -ENOMEM && kerr.message[0] ? kerr.message : strerror(-r));
        return r;
    }
    sl_cache_replicas(ev, n);
    return 0;
}

/* The downward write, conditional on what it was decided on. -ESTALE with *ret_fresh set when
 * the target moved meanwhile (decide again on *ret_fresh). */
static int sl_scale_down(sl_eval_t *ev, int32_t decided_on, int32_t n, int32_t *ret_fresh)
{
    k8s_ref_t ref = sl_scale_ref(ev);
    k8s_error_t kerr;
    cJSON *scale = NULL, *spec;
    int32_t fresh;
    int r = sl_scale_get(ev, &fresh, &scale);

    if (r < 0) {
        snprintf(ev->write_err, sizeof ev->write_err, "%s", ev->scale_err);
        return r;
    }
    if (fresh != decided_on) {
        cJSON_Delete(scale);
        sl_cache_replicas(ev, fresh);
        *ret_fresh = fresh;
        return -ESTALE;
    }
    if (!(spec = cJSON_GetObjectItemCaseSensitive(scale, "spec")) || !cJSON_IsObject(spec)) {
        cJSON_Delete(scale);
        snprintf(ev->write_err, sizeof ev->write_err, "the Scale object has no spec");
        return -EPROTO;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "replicas");
    cJSON_AddNumberToObject(spec, "replicas", n);
    r = watch_api_update(ev->w, &ref, scale, NULL, &kerr); /* carries the resourceVersion read */
    cJSON_Delete(scale);
    if (r == -ESTALE) {
        *ret_fresh = -1; /* unknown: read again */
        return r;
    }
    if (r < 0) {
        snprintf(ev->write_err, sizeof ev->write_err, "%s",
                 kerr.message[0] ? kerr.message : strerror(-r));
        return r;
    }
    sl_cache_replicas(ev, n);
    return 0;
}

/* ---- decision ---- */

static void sl_inputs(const sl_eval_t *ev, int32_t current, uint64_t last_active,
                      watch_decide_in_t *in)
{
    const shm_so_spec_t *s = &ev->spec;

    memset(in, 0, sizeof *in);
    in->active = ev->active;
    in->error = ev->error;
    in->paused = (s->paused & SHM_PAUSED_ALL) || s->paused_replicas >= 0;
    in->paused_scale_in = s->paused & SHM_PAUSED_SCALE_IN;
    in->paused_scale_out = s->paused & SHM_PAUSED_SCALE_OUT;
    in->force_activation = s->paused & SHM_FORCE_ACTIVATION;
    in->current = current;
    in->min_replicas = s->min_replicas;
    in->idle_replicas = s->idle_replicas;
    in->has_fallback = s->fallback_failure_threshold >= 0;
    in->fallback_replicas = s->fallback_replicas;
    in->now_ms = shm_now_real_ms();
    in->last_active_ms = last_active;
    in->created_ms = watch_time_parse(ev->e->obj, "metadata.creationTimestamp");
    in->cooldown_s = s->cooldown_s;
    in->initial_cooldown_s = s->initial_cooldown_s;
}

static const char *sl_action_name(watch_action_t a)
{
    return a == WATCH_ACT_ACTIVATE     ? "activated"
           : a == WATCH_ACT_DEACTIVATE ? "deactivated"
                                       : "raised to min";
}

/* KEDA's Events for the loop's own scaling (none for the fix-up to min). */
static void sl_event(const sl_eval_t *ev, const watch_decide_out_t *out, int32_t from, bool ok)
{
    const cJSON *obj = ev->e->obj;
    const char *kind = cJSON_GetStringValue(jsonu_lookup(obj, "status.scaleTargetKind"));
    const char *tgt = ev->spec.target_name;
    watch_events_t *evs = ev->w->events;

    kind = kind ? kind : "";
    if (out->action == WATCH_ACT_ACTIVATE && ok && out->forced && !ev->active)
        watch_event(evs, obj, false, "KEDAScaleTargetActivated",
                    "Scaled %s %s/%s from %d to %d, caused by forced activation annotation", kind,
                    ev->e->ns, tgt, from, out->replicas);
    else if (out->action == WATCH_ACT_ACTIVATE && ok)
        watch_event(evs, obj, false, "KEDAScaleTargetActivated",
                    "Scaled %s %s/%s from %d to %d, triggered by %s", kind, ev->e->ns, tgt, from,
                    out->replicas, ev->active_names);
    else if (out->action == WATCH_ACT_ACTIVATE)
        watch_event(evs, obj, true, "KEDAScaleTargetActivationFailed",
                    "Failed to scale %s %s/%s from %d to %d", kind, ev->e->ns, tgt, from,
                    out->replicas);
    else if (out->action == WATCH_ACT_DEACTIVATE && ok)
        watch_event(evs, obj, false, "KEDAScaleTargetDeactivated",
                    "Deactivated %s %s/%s from %d to %d", kind, ev->e->ns, tgt, from,
                    out->replicas);
    else if (out->action == WATCH_ACT_DEACTIVATE)
        watch_event(evs, obj, true, "KEDAScaleTargetDeactivationFailed",
                    "Failed to deactivate %s %s/%s from %d to %d", kind, ev->e->ns, tgt, from,
                    out->replicas);
}

/* A refused write: KEDA's Event (sl_event), then what ckeda adds: Ready's reason and message
 * (kept on the entry for the polls its backoff holds), the backoff, one log line per streak. */
static void sl_write_failed(sl_eval_t *ev, const watch_decide_out_t *out, int32_t from, int r)
{
    watch_entry_t *e = ev->e;
    const char *kind = cJSON_GetStringValue(jsonu_lookup(e->obj, "status.scaleTargetKind"));
    bool down = out->action == WATCH_ACT_DEACTIVATE;
    char raw[WATCH_MESSAGE_MAX];
    uint64_t wait;

    e->scale_failures++;
    wait = watch_decide_backoff_ms(ev->spec.polling_interval_s, e->scale_failures);
    e->scale_retry_mono_ms = ev->now_mono + wait; /* the loop's clock: due times use it too */
    e->scale_error_reason =
        down ? "KEDAScaleTargetDeactivationFailed" : "KEDAScaleTargetActivationFailed";
    snprintf(raw, sizeof raw, "Failed to %s %s %s/%s from %d to %d: %s",
             down ? "deactivate" : "scale", kind ? kind : "", e->ns, ev->spec.target_name, from,
             out->replicas, ev->write_err);
    redact_text(raw, e->scale_error, sizeof e->scale_error);
    log_msg(e->scale_failures == 1 ? LOG_LEVEL_WARNING : LOG_LEVEL_DEBUG, r,
            "ScaledObject %s/%s: %s (write %u refused in a row; next in %llu ms)", e->ns, e->name,
            e->scale_error, e->scale_failures, (unsigned long long)wait);
    ev->write_failed = true;
}

static void sl_write_done(sl_eval_t *ev)
{
    watch_entry_t *e = ev->e;

    if (e->scale_failures)
        log_info("ScaledObject %s/%s: %s scaled after %u refused write%s", e->ns, e->name,
                 ev->spec.target_name, e->scale_failures, e->scale_failures == 1 ? "" : "s");
    e->scale_failures = 0;
    e->scale_retry_mono_ms = 0;
    e->scale_error_reason = NULL;
    e->scale_error[0] = '\0';
}

/* Decides and scales; retries on a fresh count when a downward write found the target moved.
 * A refused write is no error of the evaluation: ev->write_failed, and the status says it. */
static int sl_decide(sl_eval_t *ev, uint64_t last_active, watch_decide_out_t *out)
{
    int32_t current, fresh = -1;
    watch_decide_in_t in;
    int r = sl_current(ev, &current);

    ev->no_current = r < 0 && r != -EAGAIN;
    for (int attempt = 0; r == 0 && attempt < WATCH_SCALE_ATTEMPTS; attempt++) {
        sl_inputs(ev, current, last_active, &in);
        watch_decide(&in, out);
        if (out->action == WATCH_ACT_NONE)
            return 0;
        if (ev->now_mono < ev->e->scale_retry_mono_ms) { /* held: the refused writes' backoff */
            ev->write_failed = ev->e->scale_error_reason != NULL;
            out->touch_last_active = false;
            return 0;
        }
        if (out->action == WATCH_ACT_DEACTIVATE)
            r = sl_scale_down(ev, current, out->replicas, &fresh);
        else
            r = sl_scale_up(ev, out->replicas);
        if (r == 0) {
            log_info("ScaledObject %s/%s %s %s from %d to %d", ev->e->ns, ev->e->name,
                     sl_action_name(out->action), ev->spec.target_name, current, out->replicas);
            sl_event(ev, out, current, true);
            sl_write_done(ev);
            return 0;
        }
        if (r != -ESTALE) {
            sl_event(ev, out, current, false);
            sl_write_failed(ev, out, current, r);
            out->touch_last_active = false; /* KEDA records it only for a scale that happened */
            return 0;
        }
        log_debug("ScaledObject %s/%s: %s moved before the write; deciding again", ev->e->ns,
                  ev->e->name, ev->spec.target_name);
        r = fresh >= 0 ? (current = fresh, 0) : sl_scale_get(ev, &current, NULL);
    }
    return r < 0 ? r : -EAGAIN;
}

/* ---- status and the observed group ---- */
static int sl_status_write(sl_eval_t *ev, cJSON *patch)
{
    k8s_ref_t ref = {K8S_GVR_SCALEDOBJECTS, ev->e->ns, ev->e->name, "status"};
    k8s_error_t kerr;
    cJSON *resp = NULL;
    int r = watch_api_patch(ev->w, &ref, patch, &resp, &kerr);

    if (r == -ENOENT)
        return 0;
    if (r < 0) {
        log_msg(LOG_LEVEL_WARNING, r, "could not write the status of ScaledObject %s/%s: %s",
                ev->e->ns, ev->e->name, kerr.message);
        return r;
    }
    watch_entry_set_written(ev->e, resp);
    return 0;
}

static void sl_observe(sl_eval_t *ev, const watch_decide_out_t *out, uint64_t last_active)
{
    shm_so_observed_t obs;
    uint32_t active = out->active == WATCH_COND_TRUE ? 1 : out->active == WATCH_COND_FALSE ? 0 : 2;

    if (shm_so_observed_read(ev->w->table, ev->e->slot, &obs) < 0 || !(obs.flags & SHM_F_VALID) ||
        obs.generation != ev->e->generation)
        return; /* the mirror publishes it first */
    if (obs.active == active && obs.last_active_real_ms == last_active)
        return;
    obs.active = active;
    obs.last_active_real_ms = last_active;
    shm_so_observed_write(ev->w->table, ev->e->slot, &obs);
}

/* The later of status.lastActiveTime and the table's exact copy. */
static uint64_t sl_last_active(const sl_eval_t *ev)
{
    uint64_t st = watch_time_parse(ev->e->obj, "status.lastActiveTime");
    shm_so_observed_t obs;

    if (shm_so_observed_read(ev->w->table, ev->e->slot, &obs) == 0 && (obs.flags & SHM_F_VALID) &&
        obs.generation == ev->e->generation && obs.last_active_real_ms > st)
        return obs.last_active_real_ms;
    return st;
}

/* ---- one object ---- */

/* This poll's status.health entries: only with a valid fallback (KEDA's fallback handler). */
static cJSON *sl_health(const sl_eval_t *ev)
{
    cJSON *h;

    if (!fallback_valid(&ev->spec))
        return NULL;
    h = cJSON_CreateObject();
    for (uint32_t i = 0; i < ev->nviews; i++) {
        const watch_trig_eval_t *t = &ev->sum.trig[i];
        cJSON *x;

        if (!t->health || cJSON_GetObjectItemCaseSensitive(h, sl_metric(ev, i)))
            continue;
        x = cJSON_AddObjectToObject(h, sl_metric(ev, i));
        cJSON_AddNumberToObject(x, "numberOfFailures", t->failing ? t->failures : 0);
        cJSON_AddStringToObject(x, "status", t->failing ? "Failing" : "Happy");
    }
    return h;
}

/* getTriggersActivity: every name of status.externalMetricNames, active when it is one of the
 * poll's active triggers (with scalingModifiers only composite-metric can be: none of them). */
static cJSON *sl_activity(const sl_eval_t *ev)
{
    const cJSON *n;
    cJSON *a = cJSON_CreateObject();

    cJSON_ArrayForEach(n, jsonu_lookup(ev->e->obj, "status.externalMetricNames"))
    {
        bool active = false;

        if (!cJSON_IsString(n) || cJSON_GetObjectItemCaseSensitive(a, n->valuestring))
            continue;
        for (uint32_t i = 0; i < ev->nviews && !ev->spec.modifiers_formula[0] && !active; i++)
            active = ev->sum.trig[i].active && strcmp(sl_metric(ev, i), n->valuestring) == 0;
        cJSON_AddBoolToObject(cJSON_AddObjectToObject(a, n->valuestring), "isActive", active);
    }
    return a;
}

/* checkScalers: an Event when the poll's fallback differs from the Fallback condition it
 * started from (KEDA compares isFallbackActive, so with behaviour scalingModifiers, where no
 * trigger "falls back", a True condition is met with Deactivated on each poll, as in KEDA). */
static void sl_fallback_event(const sl_eval_t *ev)
{
    const cJSON *c, *conds = jsonu_lookup(ev->e->obj, "status.conditions");
    const char *was = NULL;

    cJSON_ArrayForEach(c, conds)
    {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "type"));
        if (t && strcmp(t, "Fallback") == 0)
            was = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "status"));
    }
    if (ev->sum.fallback_active && !(was && strcmp(was, "True") == 0))
        watch_event(ev->w->events, ev->e->obj, false, "ScaledObjectFallbackActivated",
                    "ScaledObject fallback is active");
    else if (!ev->sum.fallback_active && was && strcmp(was, "True") == 0)
        watch_event(ev->w->events, ev->e->obj, false, "ScaledObjectFallbackDeactivated",
                    "ScaledObject fallback is no longer active");
}

/* The ScalingActive condition of the object's HPA (status.hpaName) in the cache, or NULL. */
static const cJSON *sl_hpa_condition(const sl_eval_t *ev)
{
    const char *name = cJSON_GetStringValue(jsonu_lookup(ev->e->obj, "status.hpaName"));
    const cJSON *hpa;
    char key[WATCH_KEY_MAX];

    if (!name || !*name)
        return NULL;
    watch_key(key, sizeof key, ev->e->ns, name);
    hpa = watch_map_get(&ev->w->hpas, key);
    return hpa ? cJSON_GetArrayItem(jsonu_lookup(hpa, "status.conditions"), 0) : NULL;
}

/* No replica count (no_current): Ready False ErrorGettingCurrentReplicas, Active and HPAActive
 * left as they are, health and triggersActivity as this poll has them (as KEDA's handleResult
 * writes what RequestScale returned early with). */
static int sl_status(sl_eval_t *ev, const watch_decide_out_t *out, uint64_t last_active,
                     uint64_t now_real)
{
    cJSON *health = sl_health(ev), *activity = sl_activity(ev), *patch;
    watch_sl_status_t extra = {.health = health,
                               .failure_threshold = ev->spec.fallback_failure_threshold,
                               .activity = activity,
                               .hpa_scaling_active = ev->no_current ? NULL : sl_hpa_condition(ev),
                               .replicas_error = ev->no_current ? ev->scale_err : NULL,
                               .scale_error_reason =
                                   ev->write_failed ? ev->e->scale_error_reason : NULL,
                               .scale_error = ev->e->scale_error};
    int r = 0;

    patch = watch_scaleloop_status_patch(ev->e->obj, out, ev->error, last_active, now_real, &extra);
    cJSON_Delete(health);
    cJSON_Delete(activity);
    if (patch) {
        r = sl_status_write(ev, patch);
        cJSON_Delete(patch);
    }
    return r;
}

void watch_tell_failed_triggers(watch_ctx_t *w, const watch_entry_t *e, const shm_trig_view_t *v,
                                uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (shm_cause_is_source_failure(v[i].cause) || v[i].cause == SHM_CAUSE_CONFIG)
            watch_event(w->events, e->obj, true, "KEDAScalerFailed", "%s",
                        v[i].res.error[0] ? v[i].res.error : "the scaler failed");
}

/* 0 evaluated; -EAGAIN not yet (unsettled, mid-write); another -errno: an API failure. */
static int sl_evaluate(sl_eval_t *ev)
{
    watch_decide_out_t out;
    uint64_t last_active, now_real;
    int r;

    if ((r = sl_triggers(ev)) < 0)
        return r;
    watch_tell_failed_triggers(ev->w, ev->e, ev->views, ev->nviews);
    if (watch_specs_hash(ev->views, ev->nviews) != ev->e->specs_seen)
        watch_enqueue(ev->w, ev->e); /* a source told its worker a new metric spec */
    sl_summarize(ev);
    if (ev->sum.skip) { /* KEDA logs the error and leaves the object for this poll */
        log_debug("ScaledObject %s/%s: scalingModifiers.activationTarget is not a number",
                  ev->e->ns, ev->e->name);
        ev->e->scale_seen = ev->seen;
        return 0;
    }
    sl_fallback_event(ev);
    last_active = sl_last_active(ev);
    if ((r = sl_decide(ev, last_active, &out)) < 0 && !ev->no_current)
        return r;
    if (ev->no_current)
        memset(&out, 0, sizeof out); /* nothing decided: the conditions are kept */
    now_real = shm_now_real_ms();
    if (out.touch_last_active)
        last_active = now_real;
    if ((r = sl_status(ev, &out, last_active, now_real)) < 0)
        return r;
    if (!ev->no_current)
        sl_observe(ev, &out, last_active);
    ev->e->scale_seen = ev->seen;
    return 0;
}

static bool sl_eligible(const watch_entry_t *e)
{
    return e->obj && e->slot != SHM_NONE && e->ready == 1 && !e->paused &&
           !jsonu_lookup(e->obj, "metadata.deletionTimestamp");
}

typedef struct sl_run {
    watch_ctx_t *w;
    watch_loop_ops_t ops;
    uint64_t now;
    uint64_t next; /* earliest due time seen */
} sl_run_t;

static void sl_run_one(const char *key, void *value, void *ud)
{
    sl_run_t *run = ud;
    watch_entry_t *e = value;
    uint32_t interval = 0;

    (void)key;
    if (!run->ops.eligible(e))
        return;
    if (e->scale_due_mono_ms <= run->now) {
        bool soon = run->ops.evaluate(run->w, e, run->now, &interval) == -EAGAIN;
        e->scale_due_mono_ms = run->now + (soon ? WATCH_UNSETTLED_RETRY_MS
                                                : (uint64_t)(interval ? interval : 30) * 1000);
    }
    if (e->scale_due_mono_ms < run->next)
        run->next = e->scale_due_mono_ms;
}

int watch_loop_run(watch_ctx_t *w, const watch_map_t *map, const watch_loop_ops_t *ops)
{
    sl_run_t run = {.w = w, .ops = *ops, .now = shm_now_mono_ms()};

    run.next = run.now + 1000;
    watch_map_each(map, sl_run_one, &run);
    run.now = shm_now_mono_ms();
    return run.next > run.now ? (int)(run.next - run.now) : 0;
}

static int sl_evaluate_due(watch_ctx_t *w, watch_entry_t *e, uint64_t now, uint32_t *interval_s)
{
    sl_eval_t ev = {.w = w, .e = e, .views = sl_views, .now_mono = now};
    int r = sl_evaluate(&ev);

    *interval_s = ev.spec.polling_interval_s;
    return r == -EAGAIN && (ev.spec.flags & SHM_F_VALID) ? -EAGAIN : 0;
}

int watch_scaleloop_run(watch_ctx_t *w)
{
    static const watch_loop_ops_t ops = {sl_eligible, sl_evaluate_due};

    return watch_loop_run(w, &w->sos, &ops);
}

/* ---- the doorbell ---- */

static void sl_bell_one(const char *key, void *value, void *ud)
{
    watch_ctx_t *w = ud;
    watch_entry_t *e = value;
    sl_eval_t ev = {.w = w, .e = e, .views = sl_views, .now_mono = shm_now_mono_ms()};

    (void)key;
    if (sl_eligible(e) && sl_triggers(&ev) == 0 && ev.seen != e->scale_seen)
        e->scale_due_mono_ms = 0; /* a trigger's activity changed: evaluate at once */
}

void watch_scaleloop_bell(watch_ctx_t *w)
{
    watch_map_each(&w->sos, sl_bell_one, w);
}
