/*
 * reconcile: one ScaledObject through KEDA's reconcile sequence (keda.md §1.6, without pause
 * handling), on the watcher's thread:
 *   deletion -> finalize (stop scaling, restoreToOriginalReplicaCount, drop the finalizer);
 *   finalizer and label (one metadata merge patch, with a resourceVersion precondition);
 *   scaleTargetRef.name; ckeda's own check: an unsupported scaler type (left inert);
 *   target resolution and /scale; replica bounds; ValidateTriggers; the metric specs;
 *   the table (mirror.c); the HPA (hpasync.c); the status (status.c), written only if it changed.
 * A failed check is Ready=False ScaledObjectCheckFailed with "<KEDA's step message>: <error>"; the
 * object then has nothing in the table and its HPA is left as it is. A transient failure (the API
 * unreachable, a conflict) writes nothing and is retried with a backoff. A decision is logged
 * once, when it changes the object's Ready condition.
 */
#include "watcher/watcher_internal.h"

#include "common/json.h"
#include "common/log.h"
#include "common/redact.h"
#include "common/validate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MSG_TARGET   "ScaledObject doesn't have correct scaleTargetRef specification"
#define MSG_BOUNDS   "ScaledObject doesn't have correct Idle/Min/Max Replica Counts specification"
#define MSG_TRIGGERS "ScaledObject doesn't have correct triggers specification"
#define MSG_HPA      "failed to ensure HPA is correctly created for ScaledObject"
#define MSG_READY    "ScaledObject is defined correctly and is ready for scaling"
#define MSG_PAUSED   "ScaledObject is paused"
#define MSG_PAUSED_N "failed to scale target to paused replica count"

typedef struct rec {
    watch_ctx_t *w;
    watch_entry_t *e;
    so_t *so;
    watch_status_t st;
    watch_target_t target;
    bool retry; /* a check that may pass later by itself (the target appears): retry */
    bool write; /* this replica leads: it writes; otherwise it only mirrors (leader.c) */
    char message[WATCH_MESSAGE_MAX];
} rec_t;

static int rec_fail(rec_t *rc, const char *step, const char *text);

/* A transient failure: logged at the start of a streak only. */
static int rec_transient(rec_t *rc, int r, const char *fmt, const char *what)
{
    char clean[ERRTEXT_MAX];

    redact_text(what, clean, sizeof clean);
    log_msg(rc->e->backoff_ms ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING, r, fmt, rc->e->ns, rc->e->name,
            clean);
    return -EAGAIN;
}

/* The finalizer list with ours added (add) or removed. */
static cJSON *rec_finalizers(const cJSON *obj, bool add)
{
    cJSON *list = watch_finalizers_without(obj);

    if (add)
        cJSON_AddItemToArray(list, cJSON_CreateString(WATCH_FINALIZER));
    return list;
}

/* A metadata merge patch with a resourceVersion precondition. 0, or -EAGAIN. */
static int rec_patch_meta(rec_t *rc, cJSON *meta, const char *what)
{
    k8s_error_t kerr;
    int r = watch_entry_patch_meta(rc->w, rc->e, meta, &kerr);

    if (r == 0)
        return 0;
    if (r == -ENOENT)
        return -ENOENT; /* gone: its DELETED event follows */
    if (r == -ESTALE)   /* changed meanwhile: the newer version is on its way */
        return -EAGAIN;
    if (r == -EINVAL) { /* refused (a name too long for its label): KEDA's check failure */
        rec_fail(rc, "failed to update ScaledObject with scaledObjectName label", kerr.message);
        return -EINVAL;
    }
    return rec_transient(rc, r, "could not %3$s ScaledObject %1$s/%2$s", what);
}

/* Steps 2 and 5: the finalizer, and the label the metrics adapter selects by. */
static int rec_meta(rec_t *rc, bool label)
{
    const cJSON *obj = rc->e->obj;
    const char *have =
        cJSON_GetStringValue(jsonu_lookup(obj, "metadata.labels[\"" WATCH_SO_LABEL "\"]"));
    bool fin = watch_has_finalizer(obj), lab = label && (!have || strcmp(have, rc->e->name) != 0);
    cJSON *meta;

    if ((fin && !lab) || !rc->write)
        return 0;
    meta = cJSON_CreateObject();
    if (!fin)
        cJSON_AddItemToObject(meta, "finalizers", rec_finalizers(obj, true));
    if (lab)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "labels"), WATCH_SO_LABEL,
                                rc->e->name);
    return rec_patch_meta(rc, meta, "add the finalizer and label to");
}

/* advanced.restoreToOriginalReplicaCount, through the target's /scale. */
static void rec_restore(rec_t *rc)
{
    const cJSON *obj = rc->e->obj;
    int32_t n;
    k8s_ref_t ref = {{jsonu_str(obj, "status.scaleTargetGVKR.group"),
                      jsonu_str(obj, "status.scaleTargetGVKR.version"),
                      jsonu_str(obj, "status.scaleTargetGVKR.resource")},
                     rc->e->ns,
                     jsonu_str(obj, "spec.scaleTargetRef.name"),
                     "scale"};
    k8s_error_t kerr;
    char body[64];
    cJSON *patch;
    int r;

    if (!jsonu_lookup(obj, "status.scaleTargetGVKR") ||
        jsonu_get_int32(obj, "status.originalReplicaCount", 0, INT32_MAX, &n, NULL) < 0)
        return; /* scaling never started: KEDA skips it too */
    snprintf(body, sizeof body, "{\"spec\":{\"replicas\":%d}}", n);
    patch = cJSON_Parse(body);
    r = watch_api_patch(rc->w, &ref, patch, NULL, &kerr);
    cJSON_Delete(patch);
    if (r == 0)
        log_info("ScaledObject %s/%s deleted: restored %s to its original %d replicas", rc->e->ns,
                 rc->e->name, ref.name, n);
    else if (r != -ENOENT)
        log_error(r, "ScaledObject %s/%s deleted: could not restore %s to %d replicas: %s",
                  rc->e->ns, rc->e->name, ref.name, n, kerr.message);
}

static int rec_finalize(rec_t *rc)
{
    bool restore = false;
    int r;

    watch_mirror_free(rc->w, rc->e);
    if (!rc->write || !watch_has_finalizer(rc->e->obj))
        return 0;
    jsonu_get_bool(rc->e->obj, "spec.advanced.restoreToOriginalReplicaCount", &restore, NULL);
    if (restore && rc->so->failed_step != SO_STEP_UNSUPPORTED)
        rec_restore(rc);
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddItemToObject(meta, "finalizers", rec_finalizers(rc->e->obj, false));
    r = rec_patch_meta(rc, meta, "remove the finalizer from");
    if (r == 0) {
        log_info("ScaledObject %s/%s finalized", rc->e->ns, rc->e->name);
        watch_event(rc->w->events, rc->e->obj, false, "ScaledObjectDeleted",
                    "ScaledObject was deleted");
    }
    return r == -ENOENT ? 0 : r;
}

/* A failed check: Ready=False with "<step>: <error>" (or the error alone), nothing in the table.
 * The text may quote trigger metadata, which KEDA allows to hold credentials: redacted. */
static int rec_fail(rec_t *rc, const char *step, const char *text)
{
    char raw[WATCH_MESSAGE_MAX];

    snprintf(raw, sizeof raw, "%s%s%s", step ? step : "", step ? ": " : "", text);
    redact_text(raw, rc->message, sizeof rc->message);
    rc->st.ready = 0;
    rc->st.message = rc->message;
    watch_mirror_free(rc->w, rc->e);
    return 0;
}

/* Steps 6 and 7 onwards, once the target resolved. */
static int rec_serve(rec_t *rc, int pr, const errtext_t *perr)
{
    watch_ctx_t *w = rc->w;
    so_t *so = rc->so;
    errtext_t err = {0};
    int r;

    if (pr < 0 && so->failed_step == SO_STEP_BOUNDS)
        return rec_fail(rc, MSG_BOUNDS, perr->text);
    if (pr < 0 && so->failed_step == SO_STEP_TRIGGERS)
        return rec_fail(rc, MSG_TRIGGERS, perr->text);
    rc->st.triggers_ok = true;
    if (pr < 0)
        return rec_fail(rc, MSG_HPA, perr->text);
    snprintf(so->target_api_version, sizeof so->target_api_version, "%s", rc->target.api_version);
    r = watch_mirror_apply(w, rc->e, so, &err);
    rc->e->capacity_blocked = r == -ENOSPC;
    if (r == -ENOSPC || r == -EFBIG)
        return rec_fail(rc, NULL, err.text);
    if (r < 0)
        return rec_transient(rc, r, "could not mirror ScaledObject %s/%s: %s", err.text);
    rc->st.metrics_ok = true;
    if (watch_specs_apply(w, rc->e, so) > 0) {
        /* the HPA waits for what the source says its metric is; the scale loop queues the
         * object again once the worker has published it */
        log_info("ScaledObject %s/%s: waiting for the metric spec of its triggers' sources", so->ns,
                 so->name);
        rc->st.ready = 1;
        rc->st.message = MSG_READY;
        return 0;
    }
    r = rc->write ? watch_hpa_ensure(w, so, jsonu_str(rc->e->obj, "status.hpaName"), &err) : 0;
    if (r == -EINVAL) {
        rc->retry = true;
        return rec_fail(rc, MSG_HPA, err.text);
    }
    if (r < 0)
        return rec_transient(rc, r, "ScaledObject %s/%s: %s", err.text);
    rc->st.hpa_name = so->hpa_name;
    rc->st.ready = 1;
    rc->st.message = MSG_READY;
    return 0;
}

/* ---- KEDA's admission rules (common/validate.h) against the watcher's caches ---- */

typedef struct rec_each {
    const char *ns;
    void (*fn)(const cJSON *, void *);
    void *arg;
} rec_each_t;

static void rec_each_so(const char *key, void *value, void *ud)
{
    const rec_each_t *x = ud;
    const watch_entry_t *e = value;

    if (e->obj && strcmp(e->ns, x->ns) == 0)
        x->fn(e->obj, x->arg);
}

static void rec_each_hpa(const char *key, void *value, void *ud)
{
    const rec_each_t *x = ud;

    if (strcmp(jsonu_str(value, "metadata.namespace"), x->ns) == 0)
        x->fn(value, x->arg);
}

static void rec_scaledobjects(void *ud, const char *ns, void (*fn)(const cJSON *, void *),
                              void *arg)
{
    rec_each_t x = {ns, fn, arg};
    watch_map_each(&((watch_ctx_t *)ud)->sos, rec_each_so, &x);
}

static void rec_hpas(void *ud, const char *ns, void (*fn)(const cJSON *, void *), void *arg)
{
    rec_each_t x = {ns, fn, arg};
    watch_map_each(&((watch_ctx_t *)ud)->hpas, rec_each_hpa, &x);
}

/* The admission webhook's rules, for objects that reached the cluster without it (or before a
 * conflict arose): the first hard finding refuses the object, with KEDA's message. */
static int rec_admission(rec_t *rc)
{
    validate_cluster_t cluster = {
        .ud = rc->w, .each_scaledobject = rec_scaledobjects, .each_hpa = rec_hpas};
    static validate_report_t rep; /* large; the watcher has one thread */

    if (validate_scaledobject(rc->e->obj, &cluster, &rep) <= 0)
        return 0;
    for (unsigned i = 0; i < rep.n; i++)
        if (validate_finding_refuses(&rep.findings[i])) {
            rc->retry = false; /* requeued by the change that resolves it */
            return rec_fail(rc, NULL, rep.findings[i].message), 1;
        }
    return 0;
}

static int rec_checks(rec_t *rc, int pr, const errtext_t *perr)
{
    so_t *so = rc->so;
    errtext_t err = {0};
    bool need_scale = !jsonu_lookup(rc->e->obj, "status.originalReplicaCount");
    int r;

    if (pr < 0 && so->failed_step == SO_STEP_TARGET)
        return rec_fail(rc, MSG_TARGET, perr->text);
    if (pr < 0 && so->failed_step == SO_STEP_UNSUPPORTED)
        return rec_fail(rc, NULL, perr->text); /* inert: its HPA stays as it is */
    if (pr == 0 && rec_admission(rc))
        return 0;
    r = watch_target_resolve(rc->w, rc->e, so, need_scale, &rc->target, &err);
    if (r == -EINVAL) {
        rc->retry = true;
        return rec_fail(rc, MSG_TARGET, err.text);
    }
    if (r < 0)
        return rec_transient(rc, r, "ScaledObject %s/%s: %s", err.text);
    rc->st.target = &rc->target;
    rc->st.set_original = rc->target.have_replicas;
    rc->st.original = rc->target.spec_replicas;
    return rec_serve(rc, pr, perr);
}

/* The target to paused-replicas, when it is not there already. */
static int rec_pause_scale(rec_t *rc)
{
    so_t *so = rc->so;
    errtext_t err = {0};
    int r = watch_target_resolve(rc->w, rc->e, so, true, &rc->target, &err);

    if (r == -EINVAL)
        return rec_fail(rc, MSG_PAUSED_N, err.text);
    if (r == 0 && rc->target.have_replicas && rc->target.spec_replicas == so->pause.replicas)
        return 0;
    if (r == 0 && (r = watch_target_scale(rc->w, so, &rc->target, so->pause.replicas, &err)) == 0)
        log_info("ScaledObject %s/%s is paused: scaled %s to %d replicas", so->ns, so->name,
                 so->target_name, so->pause.replicas);
    if (r == -EINVAL || r == -EACCES)
        return rec_fail(rc, MSG_PAUSED_N, err.text);
    return r < 0 ? rec_transient(rc, r, "ScaledObject %s/%s: %s", err.text) : 0;
}

/* KEDA's handlePause (paused, paused-replicas): no scale loop and no polling (the object keeps
 * its table slot without triggers, so ckedactl and /metrics still show it), no HPA, the target at
 * paused-replicas when given. Ready says "ScaledObject is paused", as KEDA's does. */
static int rec_pause(rec_t *rc)
{
    so_t *so = rc->so;
    errtext_t err = {0};
    char text[WATCH_MESSAGE_MAX];
    int r;

    rc->e->paused = true;
    if (rc->write && (r = watch_hpa_remove(rc->w, so, &err)) < 0)
        return rec_transient(rc, r, "ScaledObject %s/%s: %s", err.text);
    if (so->pause.replicas_invalid) {
        snprintf(text, sizeof text,
                 "failed to parse paused replica count: annotation "
                 "autoscaling.keda.sh/paused-replicas: \"%s\" is not a replica count",
                 so_annotation(so->annotations, "autoscaling.keda.sh/paused-replicas"));
        return rec_fail(rc, MSG_PAUSED_N, text);
    }
    if (rc->write && so->pause.has_replicas && ((r = rec_pause_scale(rc)) < 0 || rc->st.message))
        return r; /* a transient failure, or a failed check already decided */
    so->ntriggers = 0;
    r = watch_mirror_apply(rc->w, rc->e, so, &err);
    if (r == -ENOSPC || r == -EFBIG)
        return rec_fail(rc, NULL, err.text);
    if (r < 0)
        return rec_transient(rc, r, "could not mirror ScaledObject %s/%s: %s", err.text);
    rc->st.ready = 1;
    rc->st.message = MSG_PAUSED;
    return 0;
}

/* KEDA's Events of a reconcile: Ready after not being ready, CheckFailed on every failed one,
 * Paused and Unpaused when the Paused condition turns. */
static void rec_events(const rec_t *rc, int was_ready)
{
    const so_pause_t *p = &rc->so->pause;
    const cJSON *obj = rc->e->obj;
    bool pausing = p->paused || p->scale_in || p->scale_out, was_paused = false;
    const cJSON *c;

    cJSON_ArrayForEach(c, jsonu_lookup(obj, "status.conditions"))
    {
        if (strcmp(jsonu_str(c, "type"), "Paused") == 0)
            was_paused = strcmp(jsonu_str(c, "status"), "True") == 0;
    }
    if (pausing && !was_paused)
        watch_event(rc->w->events, obj, false, "ScaledObjectPaused", "ScaledObject is paused");
    else if (!pausing && was_paused)
        watch_event(rc->w->events, obj, false, "ScaledObjectUnpaused",
                    "pause annotation removed for ScaledObject");
    if (!rc->st.ready)
        watch_event(rc->w->events, obj, true, "ScaledObjectCheckFailed", "%s", rc->st.message);
    else if (was_ready != 1)
        watch_event(rc->w->events, obj, false, "ScaledObjectReady",
                    "ScaledObject is ready for scaling");
}

static void rec_log(const rec_t *rc)
{
    const char *was = NULL;
    int before = watch_status_ready(rc->e->obj, &was);

    if (!rc->write)
        return; /* a follower decides the same, and the leader tells it */
    rec_events(rc, before);
    if (before == rc->st.ready && was && strcmp(was, rc->st.message) == 0)
        return;
    if (rc->st.ready)
        log_info("ScaledObject %s/%s is ready", rc->e->ns, rc->e->name);
    else
        log_warning(0, "ScaledObject %s/%s: %s", rc->e->ns, rc->e->name, rc->st.message);
}

/* Step 10: the status, then the table's observed group. */
static int rec_finish(rec_t *rc)
{
    cJSON *patch = watch_status_patch(rc->e->obj, &rc->st);
    k8s_error_t kerr;
    int r;

    rec_log(rc);
    if (!rc->write) {
        cJSON_Delete(patch);
        patch = NULL;
    }
    if (patch && (r = watch_entry_patch_status(rc->w, rc->e, patch, &kerr)) < 0)
        return r == -ENOENT
                   ? 0
                   : rec_transient(rc, r, "could not write the status of ScaledObject %s/%s: %s",
                                   kerr.message);
    rc->e->ready = rc->st.ready;
    snprintf(rc->e->message, sizeof rc->e->message, "%s", rc->st.message);
    watch_mirror_observe(rc->w, rc->e);
    rc->w->block_dirty = true;
    return rc->retry ? -EAGAIN : 0;
}

int watch_reconcile(watch_ctx_t *w, watch_entry_t *e)
{
    rec_t rc = {.w = w,
                .e = e,
                .so = &w->scratch,
                .st = {.so = &w->scratch},
                .write = watch_writes_allowed(w)};
    errtext_t perr = {0};
    const cJSON *parsed;
    int pr, r;

    if (!e->obj)
        return 0;
    pr = so_parse(e->obj, w->cfg->max_triggers_per_scaledobject, rc.so, &perr);
    if (rc.so->deleting)
        return rec_finalize(&rc);
    parsed = e->obj;
    r = rec_meta(&rc, !(pr < 0 && rc.so->failed_step == SO_STEP_TARGET));
    if (r == -ENOENT)
        return 0;
    if (r == -EINVAL)
        return rec_finish(&rc);
    if (r < 0)
        return r;
    if (e->obj != parsed) /* the patch replaced the object the parse borrows from */
        pr = so_parse(e->obj, w->cfg->max_triggers_per_scaledobject, rc.so, &perr);
    e->paused = false;
    r = rc.so->pause.paused ? rec_pause(&rc) : rec_checks(&rc, pr, &perr);
    if (r < 0)
        return r;
    return rec_finish(&rc);
}
