/*
 * sjreconcile: one ScaledJob through KEDA's ScaledJob reconcile (keda.md §1.15;
 * controllers/keda/scaledjob_controller.go), on the watcher's thread:
 *   deletion -> stop its loop, drop the finalizer (its Jobs go with it: they carry a controller
 *   ownerReference, and the garbage collector deletes them);
 *   the finalizer; the initial conditions; spec.jobTargetRef (missing: an Event, nothing else);
 *   the pause annotation (Paused condition, loop stopped); ValidateTriggers; triggersTypes and
 *   authenticationsTypes; the rollout: Jobs of an older generation deleted unless gradual;
 *   the scalers (sj_parse's checks, metricType refused); the table (mirror.c) so its triggers poll.
 * A failed check is Ready=False ScaledJobCheckFailed "<KEDA's step message>: <error>" with Active
 * Unknown, and the ScaledJob leaves the table. A transient failure writes nothing and is retried
 * with a backoff. The Jobs themselves are sjloop.c's.
 */
#include "watcher/sjdecide.h"
#include "watcher/watcher_internal.h"

#include "common/json.h"
#include "common/log.h"
#include "common/redact.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SJR_MSG_READY  "ScaledJob is defined correctly and is ready to scaling"
#define SJR_MSG_PAUSED "ScaledJob is paused, skipping reconcile loop"
#define SJR_JOBS_MAX   1024 /* Jobs one rollout deletes per reconcile (the next one goes on) */

typedef struct sjr {
    watch_ctx_t *w;
    watch_entry_t *e;
    sj_t *sj;
    bool write;
    int ready; /* 1 True, 0 False, -1 left as it is (jobTargetRef missing) */
    bool triggers_ok;
    char message[WATCH_MESSAGE_MAX];
} sjr_t;

/* A transient failure: logged at the start of a streak only. */
static int sjr_transient(const sjr_t *rc, int r, const char *what, const char *text)
{
    char clean[ERRTEXT_MAX];

    redact_text(text, clean, sizeof clean);
    log_msg(rc->e->backoff_ms ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING, r,
            "could not %s ScaledJob %s/%s: %s", what, rc->e->ns, rc->e->name, clean);
    return -EAGAIN;
}

/* Adds (add) or removes KEDA's finalizer, with a resourceVersion precondition. 0, -ENOENT (gone),
 * or -EAGAIN. */
static int sjr_finalizer(sjr_t *rc, bool add)
{
    cJSON *meta = cJSON_CreateObject(), *list = watch_finalizers_without(rc->e->obj);
    k8s_error_t kerr;
    int r;

    if (add)
        cJSON_AddItemToArray(list, cJSON_CreateString(WATCH_FINALIZER));
    cJSON_AddItemToObject(meta, "finalizers", list);
    if ((r = watch_entry_patch_meta(rc->w, rc->e, meta, &kerr)) == 0)
        return 0;
    if (r == -ENOENT)
        return -ENOENT;
    if (r == -ESTALE) /* changed meanwhile: the newer version is on its way */
        return -EAGAIN;
    return sjr_transient(rc, r, add ? "add the finalizer to" : "remove the finalizer from",
                         kerr.message);
}

static int sjr_finalize(sjr_t *rc)
{
    int r;

    watch_mirror_free(rc->w, rc->e);
    if (!rc->write || !watch_has_finalizer(rc->e->obj))
        return 0;
    if ((r = sjr_finalizer(rc, false)) == 0) {
        log_info("ScaledJob %s/%s finalized", rc->e->ns, rc->e->name);
        watch_event(rc->w->events, rc->e->obj, true, "ScaledJobDeleted", "ScaledJob was deleted");
    }
    return r == -ENOENT ? 0 : r;
}

/* A failed check: Ready False with "<step>: <error>", nothing in the table. The text may quote
 * trigger metadata, which KEDA allows to hold credentials: redacted. */
static void sjr_fail(sjr_t *rc, const char *step, const char *text)
{
    char raw[WATCH_MESSAGE_MAX];

    snprintf(raw, sizeof raw, "%s%s%s", step ? step : "", step && *text ? ": " : "", text);
    redact_text(raw, rc->message, sizeof rc->message);
    rc->ready = 0;
    watch_mirror_free(rc->w, rc->e);
}

/* The Paused condition and its Events (checkIfPaused). */
static void sjr_pause_conditions(const sjr_t *rc, cJSON *conds)
{
    const cJSON *c = watch_cond_find(conds, "Paused");
    bool was = strcmp(jsonu_str(c, "status"), "True") == 0;

    if (rc->sj->paused && !was) {
        watch_cond_set(conds, "Paused", "True", "ScaledJobPaused", "ScaledJob is paused");
        if (rc->write)
            watch_event(rc->w->events, rc->e->obj, false, "ScaledJobPaused", "ScaledJob is paused");
    } else if (!rc->sj->paused && was) {
        watch_cond_set(conds, "Paused", "False", "ScaledJobUnpaused", "ScaledJob is unpaused");
        if (rc->write)
            watch_event(rc->w->events, rc->e->obj, false, "ScaledJobUnpaused",
                        "ScaledJob is unpaused");
    }
}

/* deletePreviousVersionScaleJobs: Jobs of an older generation go unless the rollout is gradual.
 * 0, or -1 with the check failure set. */
static int sjr_rollout(sjr_t *rc)
{
    static const cJSON *old[SJR_JOBS_MAX];
    cJSON *jobs = watch_sj_jobs(rc->w, rc->e->ns, rc->e->name, false), *opts;
    int n = jobs ? watch_sj_rollout_select(rc->sj, jobs, old, SJR_JOBS_MAX) : -ENOMEM;
    k8s_error_t kerr;
    int r = 0;

    if (n <= 0 || !rc->write) {
        cJSON_Delete(jobs);
        return 0;
    }
    watch_event(rc->w->events, rc->e->obj, false, "ScaledJobRolloutCleanupStarted",
                "Deleting %d jobs owned by the previous version of the scaledJob", n);
    opts = cJSON_CreateObject();
    cJSON_AddStringToObject(opts, "propagationPolicy", watch_sj_rollout_propagation(rc->sj));
    for (int i = 0; i < n && r == 0; i++) {
        char name[SHM_NAME_MAX];
        snprintf(name, sizeof name, "%s", jsonu_str(old[i], "metadata.name"));
        k8s_ref_t ref = {K8S_GVR_JOBS, rc->e->ns, name, NULL};
        if ((r = watch_api_delete(rc->w, &ref, opts, &kerr)) == 0 || r == -ENOENT) {
            watch_sj_job_forget(rc->w, rc->e->ns, name);
            r = 0;
            continue;
        }
        watch_event(rc->w->events, rc->e->obj, true, "ScaledJobRolloutCleanupFailed",
                    "Failed to delete job %s: %s", name, kerr.message);
        snprintf(rc->message, sizeof rc->message, "Not able to delete job: %s", name);
        sjr_fail(rc, NULL, rc->message);
    }
    if (r == 0)
        watch_event(rc->w->events, rc->e->obj, false, "ScaledJobRolloutCleanupCompleted",
                    "Deleted %d jobs owned by the previous version of the scaledJob", n);
    cJSON_Delete(opts);
    cJSON_Delete(jobs);
    return r == 0 ? 0 : -1;
}

/* The ScaledJob as the mirror takes a ScaledObject: its triggers, pollingInterval and
 * envSourceContainerName; the "scale target" whose environment `<name>FromEnv` reads is the
 * ScaledJob itself (its jobTargetRef's pod template). */
static void sjr_view(const sj_t *sj, so_t *so)
{
    memset(so, 0, sizeof *so);
    snprintf(so->ns, sizeof so->ns, "%s", sj->ns);
    snprintf(so->name, sizeof so->name, "%s", sj->name);
    snprintf(so->uid, sizeof so->uid, "%s", sj->uid);
    so->generation = sj->generation;
    snprintf(so->target_api_version, sizeof so->target_api_version, "keda.sh/v1alpha1");
    snprintf(so->target_kind, sizeof so->target_kind, "ScaledJob");
    snprintf(so->target_name, sizeof so->target_name, "%s", sj->name);
    snprintf(so->env_source_container, sizeof so->env_source_container, "%s",
             sj->env_source_container);
    so->polling_interval_s = sj->polling_interval_s;
    so->min_replicas = (int32_t)sj_min_replicas(sj);
    so->max_replicas = sj->max_replicas;
    so->idle_replicas = -1;
    so->ntriggers = sj->ntriggers;
    memcpy(so->triggers, sj->triggers, sj->ntriggers * sizeof sj->triggers[0]);
}

/* The checks after the pause (reconcileScaledJob); pr/perr: sj_parse's answer. */
static int sjr_checks(sjr_t *rc, int pr, const errtext_t *perr)
{
    errtext_t err = {0};
    int r;

    if (pr < 0 && rc->sj->failed_step <= SJ_STEP_TRIGGERS) {
        sjr_fail(rc, sj_step_message(rc->sj->failed_step), perr->text);
        return 0;
    }
    rc->triggers_ok = true;
    if (sjr_rollout(rc) < 0)
        return 0;
    if (pr < 0) {
        sjr_fail(rc, sj_step_message(rc->sj->failed_step), perr->text);
        return 0;
    }
    sjr_view(rc->sj, &rc->w->scratch);
    r = watch_mirror_apply(rc->w, rc->e, &rc->w->scratch, &err);
    rc->e->capacity_blocked = r == -ENOSPC;
    if (r == -ENOSPC || r == -EFBIG) {
        sjr_fail(rc, NULL, err.text);
        return 0;
    }
    if (r < 0)
        return sjr_transient(rc, r, "mirror", err.text);
    rc->ready = 1;
    snprintf(rc->message, sizeof rc->message, "%s", SJR_MSG_READY);
    return 0;
}

/* The status patch this reconcile asks for, or NULL. */
static cJSON *sjr_status(const sjr_t *rc)
{
    cJSON *want = cJSON_CreateObject(), *conds = watch_conds_init(rc->e->obj);

    sjr_pause_conditions(rc, conds);
    if (rc->ready == 1 && !watch_cond_loop_owned(conds)) {
        watch_cond_set(conds, "Ready", "True", "ScaledJobReady", rc->message);
    } else if (rc->ready == 0) {
        watch_cond_set(conds, "Ready", "False", "ScaledJobCheckFailed", rc->message);
        watch_cond_set(conds, "Active", "Unknown", "UnknownState", "ScaledJob check failed");
    }
    if (rc->triggers_ok)
        watch_status_triggers(want, rc->e->obj);
    cJSON_AddItemToObject(want, "conditions", conds);
    return watch_status_finish(want, rc->e->obj);
}

/* KEDA's Events of the decision, and one log line when the Ready condition changes. */
static void sjr_tell(const sjr_t *rc)
{
    const char *was = NULL;
    int before = watch_status_ready(rc->e->obj, &was);

    if (!rc->write)
        return;
    if (rc->ready == 0)
        watch_event(rc->w->events, rc->e->obj, true, "ScaledJobCheckFailed", "%s", rc->message);
    else if (rc->ready == 1 && before != 1)
        watch_event(rc->w->events, rc->e->obj, false, "ScaledJobReady",
                    "ScaledJob is ready for scaling");
    if (before == rc->ready && was && strcmp(was, rc->message) == 0)
        return;
    if (rc->ready == 1)
        log_info("ScaledJob %s/%s is ready", rc->e->ns, rc->e->name);
    else
        log_warning(0, "ScaledJob %s/%s: %s", rc->e->ns, rc->e->name, rc->message);
}

static int sjr_finish(sjr_t *rc)
{
    cJSON *patch = rc->write ? sjr_status(rc) : NULL;
    k8s_error_t kerr;
    int r;

    sjr_tell(rc);
    if (patch && (r = watch_entry_patch_status(rc->w, rc->e, patch, &kerr)) < 0)
        return r == -ENOENT ? 0 : sjr_transient(rc, r, "write the status of", kerr.message);
    rc->e->ready = rc->ready;
    snprintf(rc->e->message, sizeof rc->e->message, "%s", rc->message);
    watch_mirror_observe(rc->w, rc->e);
    rc->w->block_dirty = true;
    return 0;
}

int watch_sj_reconcile(watch_ctx_t *w, watch_entry_t *e)
{
    sjr_t rc = {
        .w = w, .e = e, .sj = &w->sj_scratch, .write = watch_writes_allowed(w), .ready = -1};
    uint32_t max = w->cfg->max_triggers_per_scaledobject;
    errtext_t perr = {0};
    int pr, r;

    if (!e->obj)
        return 0;
    pr = sj_parse(e->obj, max, rc.sj, &perr);
    if (rc.sj->deleting)
        return sjr_finalize(&rc);
    if (rc.write && !watch_has_finalizer(e->obj)) {
        if ((r = sjr_finalizer(&rc, true)) < 0)
            return r == -ENOENT ? 0 : r;
        pr = sj_parse(e->obj, max, rc.sj, &perr); /* the patch replaced what the parse borrows */
    }
    e->paused = rc.sj->paused;
    if (rc.sj->paused) {
        watch_mirror_free(w, e);
        rc.ready = 1;
        snprintf(rc.message, sizeof rc.message, "%s", SJR_MSG_PAUSED);
    } else if (pr < 0 && rc.sj->failed_step == SJ_STEP_JOB_TARGET) {
        /* KEDA says so in an Event and a log line, and leaves the conditions alone */
        watch_mirror_free(w, e);
        if (rc.write)
            watch_event(w->events, e->obj, true, "ScaledJobCheckFailed", "%s",
                        sj_step_message(SJ_STEP_JOB_TARGET));
        snprintf(rc.message, sizeof rc.message, "%s", sj_step_message(SJ_STEP_JOB_TARGET));
    } else if ((r = sjr_checks(&rc, pr, &perr)) < 0) {
        return r;
    }
    return sjr_finish(&rc);
}
