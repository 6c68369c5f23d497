/*
 * sjloop: KEDA's scale loop for ScaledJobs (keda.md §1.15; pkg/scaling/scale_handler.go
 * checkScalers, pkg/scaling/executor/scale_jobs.go RequestJobScale), on the watcher's thread.
 * Each mirrored, Ready, unpaused ScaledJob is evaluated on its pollingInterval: its triggers'
 * values and states from the table (sjdecide.c's inputs), its running and pending Jobs from the
 * caches (sjcache.c), KEDA's decision, the Jobs created, the status (Ready and Active conditions,
 * lastActiveTime, triggersActivity), KEDA's Events, and the finished Jobs beyond the history
 * limits deleted.
 *
 * Invariants:
 * - A ScaledJob is not evaluated until each of its triggers has settled (a new object, a config
 *   change or a restarting worker creates no Jobs from a missing value).
 * - A Job created here is in the Job cache before the next evaluation: running and pending count
 *   it even when its watch event is late, so a short pollingInterval never creates it twice.
 * - lastActiveTime is written with another status change, or at most every 30 s while active
 *   (KEDA writes it on every active poll).
 */
#include "watcher/sjdecide.h"
#include "watcher/watcher_internal.h"

#include "common/json.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SJL_LAST_ACTIVE_PERSIST_MS 30000
#define SJL_JOBS_MAX               1024 /* finished Jobs one poll deletes (the next goes on) */
#define SJL_MSG_ACTIVE             "Scaling is performed because triggers are active"
#define SJL_MSG_INACTIVE           "Scaling is not performed because triggers are not active"

typedef struct sjl {
    watch_ctx_t *w;
    watch_entry_t *e;
    sj_t *sj;
    shm_so_spec_t spec;
    shm_trig_view_t *views;
    uint32_t nviews;
    watch_sj_trig_t trig[SHM_TRIGGERS_PER_SO_MAX];
    double values[SHM_TRIGGERS_PER_SO_MAX];
    cJSON *jobs, *pods; /* reference arrays into the caches */
    watch_sj_decision_t d;
    uint64_t now_mono;
} sjl_t;

/* One ScaledJob's triggers at a time: the watcher has one thread. */
static shm_trig_view_t sjl_views[SHM_TRIGGERS_PER_SO_MAX];

/* The triggers as sjdecide reads them. -EAGAIN while one has not settled. */
static int sjl_triggers(sjl_t *ev)
{
    int r = watch_loop_triggers(ev->w, ev->e, ev->now_mono, &ev->spec, ev->views, &ev->nviews);

    for (uint32_t i = 0; r == 0 && i < ev->nviews; i++) {
        const shm_trig_view_t *v = &ev->views[i];

        ev->values[i] = v->res.value;
        ev->trig[i] = (watch_sj_trig_t){.values = &ev->values[i],
                                        .nvalues = 1,
                                        .target = shm_spec_target(&v->cfg, &v->res),
                                        .active = v->state == SHM_STATE_ACTIVE,
                                        .error = v->state == SHM_STATE_ERROR,
                                        .resource = (v->cfg.flags & SHM_F_RESOURCE) != 0};
    }
    return r;
}

/* running and pending (getRunningJobCount, getPendingJobCount) over the cached Jobs. */
static void sjl_count(const sjl_t *ev, int64_t *running, int64_t *pending)
{
    const cJSON *job;

    *running = *pending = 0;
    cJSON_ArrayForEach(job, ev->jobs)
    {
        if (watch_sj_job_state(job) != WATCH_SJ_JOB_UNFINISHED)
            continue;
        cJSON *pods = watch_sj_job_pods(ev->pods, job);
        (*running)++;
        *pending += watch_sj_job_pending(ev->sj, job, pods);
        cJSON_Delete(pods);
    }
}

/* createJobs: n Jobs, each POSTed and kept in the cache; KEDA's Events. */
static void sjl_create(sjl_t *ev, int64_t n)
{
    k8s_ref_t ref = {K8S_GVR_JOBS, ev->e->ns, NULL, NULL};
    k8s_error_t kerr;
    int64_t made = 0;

    for (int64_t i = 0; i < n; i++) {
        cJSON *job = watch_sj_job_build(ev->sj), *resp = NULL;
        int r = job ? watch_api_create(ev->w, &ref, job, &resp, &kerr) : -ENOMEM;

        cJSON_Delete(job);
        if (r == 0) {
            watch_sj_job_put(ev->w, resp);
            made++;
            continue;
        }
        if (r == -ENOMEM)
            snprintf(kerr.message, sizeof kerr.message, "out of memory");
        log_msg(LOG_LEVEL_WARNING, r, "ScaledJob %s/%s: could not create a Job: %s", ev->e->ns,
                ev->e->name, kerr.message);
        watch_event(ev->w->events, ev->e->obj, true, "KEDAJobCreateFailed",
                    "Failed to create job %s-: %s", ev->e->name, kerr.message);
    }
    log_info("ScaledJob %s/%s: created %lld of %lld Jobs (queue length %lld)", ev->e->ns,
             ev->e->name, (long long)made, (long long)n, (long long)ev->d.queue_length);
    watch_event(ev->w->events, ev->e->obj, false, "KEDAJobsCreated", "Created %lld jobs",
                (long long)n);
}

/* cleanUp: the finished Jobs beyond the history limits, background propagation. */
static void sjl_clean(sjl_t *ev)
{
    static const cJSON *old[SJL_JOBS_MAX];
    int n = watch_sj_history_select(ev->sj, ev->jobs, old, SJL_JOBS_MAX);
    cJSON *opts;
    k8s_error_t kerr;

    if (n <= 0)
        return;
    opts = cJSON_CreateObject();
    cJSON_AddStringToObject(opts, "propagationPolicy", "Background");
    for (int i = 0; i < n; i++) {
        char name[SHM_NAME_MAX];
        snprintf(name, sizeof name, "%s", jsonu_str(old[i], "metadata.name"));
        k8s_ref_t ref = {K8S_GVR_JOBS, ev->e->ns, name, NULL};
        int r = watch_api_delete(ev->w, &ref, opts, &kerr);
        if (r == 0 || r == -ENOENT)
            watch_sj_job_forget(ev->w, ev->e->ns, name);
        else
            log_msg(LOG_LEVEL_WARNING, r, "ScaledJob %s/%s: could not delete Job %s: %s", ev->e->ns,
                    ev->e->name, name, kerr.message);
    }
    cJSON_Delete(opts);
}

/* getTriggersActivity: each External trigger's metric name, active when its trigger was. */
static cJSON *sjl_activity(const sjl_t *ev)
{
    cJSON *a = cJSON_CreateObject();

    for (uint32_t i = 0; i < ev->nviews; i++) {
        const char *m = shm_spec_metric_name(&ev->views[i].cfg, &ev->views[i].res);
        cJSON *x = cJSON_GetObjectItemCaseSensitive(a, m);
        bool active = ev->trig[i].active && !ev->trig[i].error;

        if (ev->trig[i].resource)
            continue;
        if (!x)
            x = cJSON_AddObjectToObject(a, m);
        cJSON_DeleteItemFromObjectCaseSensitive(x, "isActive");
        cJSON_AddBoolToObject(x, "isActive", active);
    }
    return a;
}

/* RequestJobScale's conditions: Ready from the errors, Active from the decision. */
static cJSON *sjl_conditions(const sjl_t *ev)
{
    cJSON *conds = watch_conds_init(ev->e->obj);

    if (!ev->d.error)
        watch_cond_set(conds, "Ready", "True", "ScaledJobReady",
                       "ScaledJob is defined correctly and is ready for scaling");
    else if (ev->d.active)
        watch_cond_set(conds, "Ready", "Unknown", "PartialTriggerError",
                       "Some triggers defined in ScaledJob are not working correctly");
    else
        watch_cond_set(conds, "Ready", "False", "TriggerError",
                       "Triggers defined in ScaledJob are not working correctly");
    watch_cond_set(conds, "Active", ev->d.active ? "True" : "False",
                   ev->d.active ? "ScalerActive" : "ScalerNotActive",
                   ev->d.active ? SJL_MSG_ACTIVE : SJL_MSG_INACTIVE);
    return conds;
}

/* handleResult: the status patch, or NULL when the object already says it. */
static cJSON *sjl_status_patch(const sjl_t *ev, uint64_t now_real)
{
    cJSON *want = cJSON_CreateObject(), *patch;
    uint64_t written = watch_time_parse(ev->e->obj, "status.lastActiveTime");
    char buf[32];

    cJSON_AddItemToObject(want, "conditions", sjl_conditions(ev));
    cJSON_AddItemToObject(want, "triggersActivity", sjl_activity(ev));
    patch = watch_status_finish(want, ev->e->obj);
    if (ev->d.active && (patch || now_real - written >= SJL_LAST_ACTIVE_PERSIST_MS)) {
        if (!patch) {
            patch = cJSON_CreateObject();
            cJSON_AddObjectToObject(patch, "status");
        }
        watch_time_format(now_real, buf, sizeof buf);
        cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(patch, "status"), "lastActiveTime",
                                buf);
    }
    return patch;
}

/* The status, and the Active Events on a change of the Active condition. */
static void sjl_status(sjl_t *ev)
{
    const cJSON *c = watch_cond_find(jsonu_lookup(ev->e->obj, "status.conditions"), "Active");
    bool was = strcmp(jsonu_str(c, "status"), "True") == 0;
    cJSON *patch = sjl_status_patch(ev, shm_now_real_ms());
    k8s_error_t kerr;
    int r;

    if (ev->d.active && !was)
        watch_event(ev->w->events, ev->e->obj, false, "ScaledJobActive", SJL_MSG_ACTIVE);
    else if (!ev->d.active && was)
        watch_event(ev->w->events, ev->e->obj, false, "ScaledJobInactive", SJL_MSG_INACTIVE);
    if (!patch)
        return;
    r = watch_entry_patch_status(ev->w, ev->e, patch, &kerr);
    if (r < 0 && r != -ENOENT)
        log_msg(LOG_LEVEL_WARNING, r, "could not write the status of ScaledJob %s/%s: %s",
                ev->e->ns, ev->e->name, kerr.message);
}

/* The table's observed group: active and the last active time, for ckedactl. */
static void sjl_observe(const sjl_t *ev)
{
    shm_so_observed_t obs;

    if (shm_so_observed_read(ev->w->table, ev->e->slot, &obs) < 0 || !(obs.flags & SHM_F_VALID) ||
        obs.generation != ev->e->generation)
        return;
    obs.active = ev->d.active;
    if (ev->d.active)
        obs.last_active_real_ms = shm_now_real_ms();
    obs.spec_replicas = obs.status_replicas = (int32_t)ev->d.scale_to;
    shm_so_observed_write(ev->w->table, ev->e->slot, &obs);
}

static int sjl_evaluate(sjl_t *ev)
{
    watch_sj_decide_in_t in = {.trig = ev->trig};
    errtext_t err = {0};
    int r;

    if ((r = sjl_triggers(ev)) < 0)
        return r;
    watch_tell_failed_triggers(ev->w, ev->e, ev->views, ev->nviews);
    if (sj_parse(ev->e->obj, ev->w->cfg->max_triggers_per_scaledobject, ev->sj, &err) < 0)
        return 0; /* changed since its reconcile: the reconcile says why */
    in.ntrig = ev->nviews;
    ev->jobs = watch_sj_jobs(ev->w, ev->e->ns, ev->e->name, false);
    ev->pods = watch_sj_jobs(ev->w, ev->e->ns, ev->e->name, true);
    sjl_count(ev, &in.running, &in.pending);
    watch_sj_decide(ev->sj, &in, &ev->d);
    log_debug("ScaledJob %s/%s: active %d, queue %lld, max scale %lld, running %lld, pending "
              "%lld, effective max %lld: create %lld",
              ev->e->ns, ev->e->name, ev->d.active, (long long)ev->d.queue_length,
              (long long)ev->d.max_scale, (long long)in.running, (long long)in.pending,
              (long long)ev->d.effective_max_scale, (long long)ev->d.create);
    if (ev->d.create > 0)
        sjl_create(ev, ev->d.create);
    sjl_status(ev);
    sjl_clean(ev);
    sjl_observe(ev);
    cJSON_Delete(ev->jobs);
    cJSON_Delete(ev->pods);
    return 0;
}

static bool sjl_eligible(const watch_entry_t *e)
{
    return e->obj && e->slot != SHM_NONE && e->ready == 1 && !e->paused &&
           !jsonu_lookup(e->obj, "metadata.deletionTimestamp");
}

static int sjl_evaluate_due(watch_ctx_t *w, watch_entry_t *e, uint64_t now, uint32_t *interval_s)
{
    sjl_t ev = {.w = w, .e = e, .sj = &w->sj_scratch, .views = sjl_views, .now_mono = now};
    int r = sjl_evaluate(&ev);

    *interval_s = ev.spec.polling_interval_s;
    return r;
}

/* Whether the Job and pod caches have listed once: until then running and pending are not
 * known, and no Job is created (KEDA would count 0 and create too many). Said once when a
 * ScaledJob has waited for them for a minute (the informers log why: RBAC, say). */
static bool sjl_caches_synced(watch_ctx_t *w)
{
    static bool told;
    bool synced =
        k8s_informer_synced(w->inf[WATCH_INF_JOBS]) && k8s_informer_synced(w->inf[WATCH_INF_PODS]);

    if (!synced && !told && w->sjs.count && shm_now_mono_ms() - w->synced_mono_ms > 60000) {
        log_warning(0, "ScaledJobs wait: the Jobs and pods labelled %s have not been listed yet",
                    SJ_LABEL_NAME);
        told = true;
    }
    return synced;
}

int watch_sjloop_run(watch_ctx_t *w)
{
    static const watch_loop_ops_t ops = {sjl_eligible, sjl_evaluate_due};

    if (!sjl_caches_synced(w))
        return 1000;
    return watch_loop_run(w, &w->sjs, &ops);
}
