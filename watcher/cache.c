/*
 * cache: the watcher's informers and what they feed. Runs inside k8s_loop_run_once on the
 * watcher's thread.
 *
 * - ScaledObjects are kept whole; an event queues a reconcile when something a reconcile reads
 *   changed (generation, labels, annotations, finalizers, deletion, the Ready condition): a
 *   status-only change, such as the watcher's own status patch, does not. Versions the watcher
 *   wrote itself (and already holds) are recognised by resourceVersion and skipped.
 * - TriggerAuthentications and ClusterTriggerAuthentications are kept stripped to metadata,
 *   spec and status; a change of spec queues every ScaledObject that references one (its blobs
 *   carry the spec); any change asks the janitor to look at it (finalizer, status list).
 * - HPAs labelled scaledobject.keda.sh/name are kept stripped to metadata and spec; a change of
 *   spec, labels or annotations, or a deletion, queues the ScaledObject that controls it, as
 *   KEDA's Owns() predicates do. Status changes are ignored. Other HPAs are kept as little as
 *   the admission rules read (name, owners, annotations, scaleTargetRef); one that appears,
 *   moves or goes queues the ScaledObjects of its scale target.
 * - A ScaledObject that goes or changes its target queues the refused ones of its namespace (a
 *   second object on one target is refused while the first exists).
 * - ScaledJobs are kept whole and queued as ScaledObjects are (sjreconcile.c); the Jobs they
 *   create and those Jobs' pods are kept by sjcache.c.
 * - Deployments and StatefulSets are kept as three replica counts; a change republishes the
 *   observed group of every ScaledObject that targets one, and a new one queues the objects that
 *   were waiting for it.
 */
#include "watcher/watcher_internal.h"

#include "common/json.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void watch_key(char *buf, size_t cap, const char *ns, const char *name)
{
    snprintf(buf, cap, "%s/%s", ns ? ns : "", name ? name : "");
}

static void cache_obj_key(const cJSON *obj, char *buf, size_t cap)
{
    watch_key(buf, cap, jsonu_str(obj, "metadata.namespace"), jsonu_str(obj, "metadata.name"));
}

/* Moves obj's members into a new root the caller owns (the informer frees obj). */
cJSON *watch_cache_take(cJSON *obj)
{
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return NULL;
    o->child = obj->child;
    obj->child = NULL;
    return o;
}

void watch_entry_free(watch_entry_t *e)
{
    if (!e)
        return;
    cJSON_Delete(e->obj);
    for (uint32_t i = 0; i < SHM_TRIGGERS_PER_SO_MAX; i++)
        free(e->blob[i]);
    free(e);
}

void watch_entry_set_written(watch_entry_t *e, cJSON *obj)
{
    const char *rv = jsonu_str(obj, "metadata.resourceVersion");

    jsonu_remove(obj, "metadata.managedFields");
    memmove(e->written_rv[0], e->written_rv[1], sizeof e->written_rv[0] * (WATCH_WRITTEN_RVS - 1));
    snprintf(e->written_rv[WATCH_WRITTEN_RVS - 1], WATCH_RV_MAX, "%s", rv);
    cJSON_Delete(e->obj);
    e->obj = obj;
}

k8s_ref_t watch_entry_ref(const watch_entry_t *e, const char *sub)
{
    k8s_gvr_t so = K8S_GVR_SCALEDOBJECTS, sj = K8S_GVR_SCALEDJOBS;

    return (k8s_ref_t){e->job ? sj : so, e->ns, e->name, sub};
}

int watch_entry_patch_meta(watch_ctx_t *w, watch_entry_t *e, cJSON *meta, k8s_error_t *kerr)
{
    cJSON *patch = cJSON_CreateObject(), *resp = NULL;
    k8s_ref_t ref = watch_entry_ref(e, NULL);
    int r;

    cJSON_AddStringToObject(meta, "resourceVersion", jsonu_str(e->obj, "metadata.resourceVersion"));
    cJSON_AddItemToObject(patch, "metadata", meta);
    r = watch_api_patch(w, &ref, patch, &resp, kerr);
    cJSON_Delete(patch);
    if (r == 0)
        watch_entry_set_written(e, resp);
    return r;
}

int watch_entry_patch_status(watch_ctx_t *w, watch_entry_t *e, cJSON *patch, k8s_error_t *kerr)
{
    k8s_ref_t ref = watch_entry_ref(e, "status");
    cJSON *resp = NULL;
    int r = watch_api_patch(w, &ref, patch, &resp, kerr);

    cJSON_Delete(patch);
    if (r == 0)
        watch_entry_set_written(e, resp);
    return r;
}

static bool cache_written(const watch_entry_t *e, const char *rv)
{
    for (int i = 0; i < WATCH_WRITTEN_RVS; i++)
        if (e->written_rv[i][0] && strcmp(e->written_rv[i], rv) == 0)
            return true;
    return false;
}

static bool cache_same(const cJSON *a, const cJSON *b, const char *path)
{
    const cJSON *x = jsonu_lookup(a, path), *y = jsonu_lookup(b, path);
    return (!x && !y) || (x && y && cJSON_Compare(x, y, true));
}

static const cJSON *cache_ready(const cJSON *obj)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, jsonu_lookup(obj, "status.conditions"))
    {
        if (strcmp(jsonu_str(c, "type"), "Ready") == 0)
            return c;
    }
    return NULL;
}

static bool cache_so_changed(const cJSON *old, const cJSON *obj)
{
    static const char *const paths[] = {"metadata.generation", "metadata.labels",
                                        "metadata.annotations", "metadata.finalizers",
                                        "metadata.deletionTimestamp"};
    const cJSON *a = cache_ready(old), *b = cache_ready(obj);

    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (!cache_same(old, obj, paths[i]))
            return true;
    return (a == NULL) != (b == NULL) || (a && !cJSON_Compare(a, b, true));
}

static watch_entry_t *cache_entry(watch_map_t *map, bool job, const cJSON *obj, const char *key)
{
    watch_entry_t *e = watch_map_get(map, key);

    if (e)
        return e;
    if (!(e = calloc(1, sizeof *e)))
        return NULL;
    snprintf(e->ns, sizeof e->ns, "%s", jsonu_str(obj, "metadata.namespace"));
    snprintf(e->name, sizeof e->name, "%s", jsonu_str(obj, "metadata.name"));
    e->job = job;
    e->slot = SHM_NONE;
    e->ready = -1;
    e->scale_spec = e->scale_status = -1;
    if (watch_map_put(map, key, e, NULL) < 0) {
        free(e);
        return NULL;
    }
    return e;
}

typedef struct cache_target {
    watch_ctx_t *w;
    const char *ns, *name; /* the scale target's */
} cache_target_t;

static void cache_refused_one(const char *key, void *value, void *ud)
{
    cache_target_t *t = ud;
    watch_entry_t *e = value;

    if (e->ready == 0 && strcmp(e->ns, t->ns) == 0)
        watch_enqueue(t->w, e);
}

/* A ScaledObject left its scale target: the ones refused next to it may be admitted now. */
static void cache_requeue_refused(watch_ctx_t *w, const char *ns)
{
    cache_target_t t = {w, ns, NULL};
    watch_map_each(&w->sos, cache_refused_one, &t);
}

/* A ScaledObject (job false) or ScaledJob event: the entry kept whole, a reconcile queued when
 * something it reads changed. */
static void cache_scalable_event(watch_ctx_t *w, bool job, k8s_event_type_t type, cJSON *obj)
{
    watch_map_t *map = job ? &w->sjs : &w->sos;
    char key[WATCH_KEY_MAX];
    watch_entry_t *e;
    cJSON *old;

    cache_obj_key(obj, key, sizeof key);
    if (type == K8S_EVENT_DELETED) {
        if ((e = watch_map_del(map, key))) {
            if (e->obj) /* it leaves its authentications' status lists */
                watch_janitor_mark_auths(w, e->obj);
            if (!job)
                cache_requeue_refused(w, e->ns);
            watch_mirror_free(w, e);
            watch_entry_free(e);
            w->block_dirty = true;
        }
        return;
    }
    if (!(e = cache_entry(map, job, obj, key))) {
        log_error(-ENOMEM, "could not keep %s %s", job ? "ScaledJob" : "ScaledObject", key);
        return;
    }
    if (e->obj && cache_written(e, jsonu_str(obj, "metadata.resourceVersion")))
        return; /* this watcher wrote it and holds it (or a newer version) already */
    old = e->obj;
    e->obj = watch_cache_take(obj);
    memset(e->written_rv, 0, sizeof e->written_rv);
    if (!old || !e->obj || cache_so_changed(old, e->obj)) {
        watch_enqueue(w, e);
        if (!job && old && e->obj && !cache_same(old, e->obj, "spec.scaleTargetRef"))
            cache_requeue_refused(w, e->ns);
        if (old)
            watch_janitor_mark_auths(w, old);
        if (e->obj)
            watch_janitor_mark_auths(w, e->obj);
    }
    cJSON_Delete(old);
}

static void cache_so_event(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj, bool unknown,
                           void *ud)
{
    cache_scalable_event(ud, false, type, obj);
}

static void cache_sj_event(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj, bool unknown,
                           void *ud)
{
    cache_scalable_event(ud, true, type, obj);
}

/* ---- (Cluster)TriggerAuthentications ---- */

typedef struct cache_auth_ref {
    watch_ctx_t *w;
    const char *ns; /* "" for a ClusterTriggerAuthentication */
    const char *name;
} cache_auth_ref_t;

static bool cache_refers(const cJSON *so, const cache_auth_ref_t *a)
{
    const cJSON *t;
    bool cluster = !a->ns[0];

    if (!cluster && strcmp(jsonu_str(so, "metadata.namespace"), a->ns) != 0)
        return false;
    cJSON_ArrayForEach(t, jsonu_lookup(so, "spec.triggers"))
    {
        const char *kind = jsonu_str(t, "authenticationRef.kind");
        bool is_cluster = strcmp(kind, "ClusterTriggerAuthentication") == 0;
        if (is_cluster == cluster && strcmp(jsonu_str(t, "authenticationRef.name"), a->name) == 0)
            return true;
    }
    return false;
}

static void cache_auth_users(const char *key, void *value, void *ud)
{
    const cache_auth_ref_t *a = ud;
    watch_entry_t *e = value;

    if (e->obj && cache_refers(e->obj, a))
        watch_enqueue(a->w, e);
}

static void cache_auth_strip(cJSON *obj, void *ud)
{
    static const char *const keep[] = {"metadata.name",
                                       "metadata.namespace",
                                       "metadata.uid",
                                       "metadata.resourceVersion",
                                       "metadata.generation",
                                       "metadata.finalizers",
                                       "metadata.deletionTimestamp",
                                       "spec",
                                       "status"};
    jsonu_prune(obj, keep, sizeof keep / sizeof keep[0]);
}

/* KEDA's Events for a (Cluster)TriggerAuthentication that appeared or whose spec changed
 * (KEDA's texts, its "ClusterTriggerAuthentication %s is updated" for both kinds included). Only
 * the leader tells, and only of changes it saw happen (not of what a list found at start). */
static void cache_auth_news(watch_ctx_t *w, const cJSON *auth, bool cluster, bool updated)
{
    const char *kind = cluster ? "ClusterTriggerAuthentication" : "TriggerAuthentication";
    char reason[64];

    if (!watch_writes_allowed(w))
        return;
    snprintf(reason, sizeof reason, "%s%s", kind, updated ? "Updated" : "Added");
    if (updated)
        watch_event_kind(w->events, kind, "keda.sh/v1alpha1", auth, false, reason,
                         "ClusterTriggerAuthentication %s is updated",
                         jsonu_str(auth, "metadata.name"));
    else
        watch_event_kind(w->events, kind, "keda.sh/v1alpha1", auth, false, reason,
                         "New %s configured", kind);
}

static void cache_auth_event(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj, bool unknown,
                             void *ud)
{
    watch_ctx_t *w = ud;
    char key[WATCH_KEY_MAX], name[SHM_NAME_MAX];
    bool cluster = inf == w->inf[WATCH_INF_CTA];
    cache_auth_ref_t ref = {w, cluster ? "" : jsonu_str(obj, "metadata.namespace"), name};
    cJSON *old = NULL;

    snprintf(name, sizeof name, "%s", jsonu_str(obj, "metadata.name"));
    watch_key(key, sizeof key, ref.ns, name);
    if (type == K8S_EVENT_DELETED) {
        old = watch_map_del(&w->auths, key);
    } else {
        cJSON *now = watch_cache_take(obj);
        if (now && watch_map_put(&w->auths, key, now, (void **)&old) < 0) {
            log_error(-ENOMEM, "could not keep %s %s",
                      cluster ? "ClusterTriggerAuthentication" : "TriggerAuthentication", key);
            cJSON_Delete(now);
        }
        watch_janitor_mark(w, 'a', ref.ns, name); /* its finalizer, its status list */
        if (old && now && cache_same(old, now, "spec") && cache_same(old, now, "metadata.uid")) {
            cJSON_Delete(old); /* a status or metadata change: its users' blobs stay */
            return;
        }
        if (now && w->synced)
            cache_auth_news(w, now, cluster, old != NULL);
    }
    cJSON_Delete(old);
    watch_map_each(&w->sos, cache_auth_users, &ref);
    watch_map_each(&w->sjs, cache_auth_users, &ref);
}

/* ---- HPAs ---- */

/* Of an HPA's conditions only ScalingActive's status, reason and message (the scale loop
 * mirrors it into HPAActive); the rest changes every sync and nobody reads it. */
static void cache_hpa_scaling_active(cJSON *obj)
{
    static const char *const keep[] = {"type", "status", "reason", "message"};
    cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
    cJSON *conds = cJSON_GetObjectItemCaseSensitive(status, "conditions");
    cJSON *c = conds ? conds->child : NULL;

    while (c) {
        cJSON *next = c->next;
        if (strcmp(jsonu_str(c, "type"), "ScalingActive") != 0)
            cJSON_Delete(cJSON_DetachItemViaPointer(conds, c));
        else
            jsonu_prune(c, keep, sizeof keep / sizeof keep[0]);
        c = next;
    }
}

static void cache_hpa_strip(cJSON *obj, void *ud)
{
    static const char *const keep[] = {"metadata.name",
                                       "metadata.namespace",
                                       "metadata.uid",
                                       "metadata.resourceVersion",
                                       "metadata.labels",
                                       "metadata.annotations",
                                       "metadata.ownerReferences",
                                       "spec",
                                       "status.conditions"};
    /* someone else's HPA: only what the admission rules read (verifyHpas) */
    static const char *const foreign[] = {"metadata.name",        "metadata.namespace",
                                          "metadata.uid",         "metadata.resourceVersion",
                                          "metadata.annotations", "metadata.ownerReferences",
                                          "spec.scaleTargetRef"};
    bool ours = cJSON_GetObjectItemCaseSensitive(jsonu_lookup(obj, "metadata.labels"),
                                                 WATCH_SO_LABEL) != NULL;

    if (ours) {
        jsonu_prune(obj, keep, sizeof keep / sizeof keep[0]);
        cache_hpa_scaling_active(obj);
    } else
        jsonu_prune(obj, foreign, sizeof foreign / sizeof foreign[0]);
}

void watch_hpa_cache_put(watch_ctx_t *w, cJSON *hpa)
{
    char key[WATCH_KEY_MAX];
    cJSON *old = NULL;

    if (!hpa)
        return;
    jsonu_remove(hpa, "metadata.managedFields");
    cache_hpa_strip(hpa, w);
    cache_obj_key(hpa, key, sizeof key);
    if (watch_map_put(&w->hpas, key, hpa, (void **)&old) < 0)
        cJSON_Delete(hpa);
    cJSON_Delete(old);
}

/* The ScaledObject whose controller reference the HPA carries. */
static void cache_hpa_owner(watch_ctx_t *w, const cJSON *hpa)
{
    const cJSON *o;
    char key[WATCH_KEY_MAX];

    cJSON_ArrayForEach(o, jsonu_lookup(hpa, "metadata.ownerReferences"))
    {
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "controller")) ||
            strcmp(jsonu_str(o, "kind"), "ScaledObject") != 0)
            continue;
        watch_key(key, sizeof key, jsonu_str(hpa, "metadata.namespace"), jsonu_str(o, "name"));
        watch_entry_t *e = watch_map_get(&w->sos, key);
        if (e)
            watch_enqueue(w, e);
    }
}

static void cache_target_users(const char *key, void *value, void *ud)
{
    const cache_target_t *t = ud;
    watch_entry_t *e = value;

    if (e->obj && strcmp(e->ns, t->ns) == 0 &&
        strcmp(jsonu_str(e->obj, "spec.scaleTargetRef.name"), t->name) == 0)
        watch_enqueue(t->w, e);
}

/* The ScaledObjects of hpa's scale target: an HPA there may decide their admission rules. */
static void cache_hpa_targets(watch_ctx_t *w, const cJSON *hpa)
{
    cache_target_t t = {w, jsonu_str(hpa, "metadata.namespace"),
                        jsonu_str(hpa, "spec.scaleTargetRef.name")};

    if (*t.name)
        watch_map_each(&w->sos, cache_target_users, &t);
}

static void cache_hpa_event(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj, bool unknown,
                            void *ud)
{
    watch_ctx_t *w = ud;
    char key[WATCH_KEY_MAX];
    cJSON *old = NULL, *hpa;

    cache_obj_key(obj, key, sizeof key);
    if (type == K8S_EVENT_DELETED) {
        old = watch_map_del(&w->hpas, key);
        cache_hpa_owner(w, old ? old : obj);
        if (old)
            cache_hpa_targets(w, old);
        cJSON_Delete(old);
        return;
    }
    if (!(hpa = watch_cache_take(obj)) || watch_map_put(&w->hpas, key, hpa, (void **)&old) < 0) {
        cJSON_Delete(hpa);
        return;
    }
    if (!old || !cache_same(old, hpa, "spec") || !cache_same(old, hpa, "metadata.labels") ||
        !cache_same(old, hpa, "metadata.annotations")) {
        cache_hpa_owner(w, hpa);
        if (!old || !cache_same(old, hpa, "spec.scaleTargetRef") ||
            !cache_same(old, hpa, "metadata.annotations") ||
            !cache_same(old, hpa, "metadata.ownerReferences"))
            cache_hpa_targets(w, hpa);
    }
    cJSON_Delete(old);
}

/* ---- Deployments and StatefulSets ---- */

typedef struct cache_wl_change {
    watch_ctx_t *w;
    const char *key;
    bool appeared;
} cache_wl_change_t;

static void cache_wl_users(const char *key, void *value, void *ud)
{
    const cache_wl_change_t *c = ud;
    watch_entry_t *e = value;

    if (strcmp(e->workload_key, c->key) != 0)
        return;
    watch_mirror_observe(c->w, e);
    if (c->appeared && e->ready != 1)
        watch_enqueue(c->w, e);
}

static void cache_wl_strip(cJSON *obj, void *ud)
{
    static const char *const keep[] = {
        "metadata.name", "metadata.namespace", "metadata.uid",        "metadata.resourceVersion",
        "spec.replicas", "status.replicas",    "status.readyReplicas"};
    jsonu_prune(obj, keep, sizeof keep / sizeof keep[0]);
}

static void cache_wl_event(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj, bool unknown,
                           void *ud)
{
    watch_ctx_t *w = ud;
    const char *res = inf == w->inf[WATCH_INF_DEPLOY] ? "deployments" : "statefulsets";
    char key[WATCH_KEY_MAX];
    watch_workload_t *wl;
    cache_wl_change_t c = {w, key, false};

    snprintf(key, sizeof key, "%s/%s/%s", res, jsonu_str(obj, "metadata.namespace"),
             jsonu_str(obj, "metadata.name"));
    if (type == K8S_EVENT_DELETED) {
        free(watch_map_del(&w->workloads, key));
    } else {
        if (!(wl = watch_map_get(&w->workloads, key))) {
            if (!(wl = calloc(1, sizeof *wl)) || watch_map_put(&w->workloads, key, wl, NULL) < 0) {
                free(wl);
                return;
            }
            c.appeared = true;
        }
        wl->spec_replicas = wl->status_replicas = wl->ready_replicas = 0;
        jsonu_get_int32(obj, "spec.replicas", 0, INT32_MAX, &wl->spec_replicas, NULL);
        jsonu_get_int32(obj, "status.replicas", 0, INT32_MAX, &wl->status_replicas, NULL);
        jsonu_get_int32(obj, "status.readyReplicas", 0, INT32_MAX, &wl->ready_replicas, NULL);
    }
    watch_map_each(&w->sos, cache_wl_users, &c);
}

/* ---- informers ---- */

static void cache_synced(k8s_informer_t *inf, void *ud)
{
    watch_ctx_t *w = ud;
    bool all = true;

    w->last_relist_real_ms = shm_now_real_ms();
    w->block_dirty = true;
    for (int i = 0; i < WATCH_INF_AWAITED; i++)
        all = all && k8s_informer_synced(w->inf[i]);
    if (all && !w->synced) {
        w->synced = true;
        w->synced_mono_ms = shm_now_mono_ms();
        log_info("every informer has listed: %zu ScaledObjects, %zu HPAs", w->sos.count,
                 w->hpas.count);
        watch_mirror_adopt(w);
    }
}

static void cache_error(k8s_informer_t *inf, int err, const k8s_error_t *detail, void *ud)
{
    k8s_informer_stats_t st;

    k8s_informer_stats(inf, &st);
    if (err == -ENODATA) /* 410 Gone: a routine relist */
        log_debug("watch expired; relisting");
    else
        log_msg(st.errors % 10 == 1 ? LOG_LEVEL_WARNING : LOG_LEVEL_DEBUG, err,
                "watch failed (HTTP %ld): %s; retrying", detail->status, detail->message);
}

static k8s_informer_t *cache_informer(watch_ctx_t *w, k8s_gvr_t gvr, bool cluster,
                                      const char *selector, void (*strip)(cJSON *, void *),
                                      void (*on_event)(k8s_informer_t *, k8s_event_type_t, cJSON *,
                                                       bool, void *))
{
    k8s_informer_opts_t o = {
        .gvr = gvr,
        .ns = cluster || !w->cfg->watch_namespace[0] ? NULL : w->cfg->watch_namespace,
        .label_selector = selector,
        .ops = {.strip = strip,
                .on_event = on_event,
                .on_synced = cache_synced,
                .on_error = cache_error},
        .userdata = w,
    };
    return k8s_informer_new(w->loop, &o);
}

k8s_informer_t *watch_cache_informer(watch_ctx_t *w, k8s_gvr_t gvr, const char *selector,
                                     void (*strip)(cJSON *, void *),
                                     void (*on_event)(k8s_informer_t *, k8s_event_type_t, cJSON *,
                                                      bool, void *))
{
    return cache_informer(w, gvr, false, selector, strip, on_event);
}

/* ---- (Cluster)CloudEventSources: metadata only, for their finalizer ---- */

static void cache_meta_strip(cJSON *obj, void *ud)
{
    static const char *const keep[] = {"metadata.name", "metadata.namespace",
                                       "metadata.resourceVersion", "metadata.finalizers",
                                       "metadata.deletionTimestamp"};
    jsonu_prune(obj, keep, sizeof keep / sizeof keep[0]);
}

static void cache_meta_event(watch_ctx_t *w, watch_map_t *map, char kind, k8s_event_type_t type,
                             cJSON *obj)
{
    char key[WATCH_KEY_MAX];
    cJSON *old = NULL, *now;

    cache_obj_key(obj, key, sizeof key);
    if (type == K8S_EVENT_DELETED) {
        cJSON_Delete(watch_map_del(map, key));
        return;
    }
    if ((now = watch_cache_take(obj)) && watch_map_put(map, key, now, (void **)&old) < 0)
        cJSON_Delete(now);
    cJSON_Delete(old);
    if (now && jsonu_lookup(now, "metadata.deletionTimestamp") && watch_has_finalizer(now))
        watch_janitor_mark(w, kind, jsonu_str(now, "metadata.namespace"),
                           jsonu_str(now, "metadata.name"));
}

static void cache_ces_event(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj, bool unknown,
                            void *ud)
{
    watch_ctx_t *w = ud;
    cache_meta_event(w, &w->eventsources, 'e', type, obj);
}

static void cache_nop_synced(k8s_informer_t *inf, void *ud)
{
}

/* KEDA's (Cluster)CloudEventSources, where their CRDs are installed (asked once at start): watched
 * for KEDA's finalizer only, and never awaited before the first reconcile. */
static void cache_eventsources_start(watch_ctx_t *w)
{
    static const k8s_gvr_t gvr[2] = {WATCH_GVR_CLOUDEVENTSOURCES,
                                     WATCH_GVR_CLUSTERCLOUDEVENTSOURCES};
    k8s_resolved_t res;
    k8s_error_t kerr;

    if (k8s_discovery_resolve(w->client, "eventing.keda.sh/v1alpha1", "CloudEventSource", &res,
                              &kerr) < 0)
        return;
    for (int i = 0; i < 2; i++) {
        k8s_informer_opts_t o = {
            .gvr = gvr[i],
            .ns = i == 1 || !w->cfg->watch_namespace[0] ? NULL : w->cfg->watch_namespace,
            .ops = {.strip = cache_meta_strip,
                    .on_event = cache_ces_event,
                    .on_synced = cache_nop_synced,
                    .on_error = cache_error},
            .userdata = w,
        };
        w->inf_events[i] = k8s_informer_new(w->loop, &o);
    }
    log_info("KEDA's eventing CRDs are installed: watching CloudEventSources for KEDA's finalizer");
}

int watch_informers_start(watch_ctx_t *w)
{
    k8s_gvr_t so = K8S_GVR_SCALEDOBJECTS, ta = K8S_GVR_TRIGGERAUTHS,
              cta = K8S_GVR_CLUSTERTRIGGERAUTHS, hpa = K8S_GVR_HPAS, dep = K8S_GVR_DEPLOYMENTS,
              sts = K8S_GVR_STATEFULSETS, sj = K8S_GVR_SCALEDJOBS;

    w->inf[WATCH_INF_SO] = cache_informer(w, so, false, NULL, NULL, cache_so_event);
    w->inf[WATCH_INF_TA] = cache_informer(w, ta, false, NULL, cache_auth_strip, cache_auth_event);
    w->inf[WATCH_INF_CTA] = cache_informer(w, cta, true, NULL, cache_auth_strip, cache_auth_event);
    w->inf[WATCH_INF_HPA] = cache_informer(w, hpa, false, NULL, cache_hpa_strip, cache_hpa_event);
    w->inf[WATCH_INF_DEPLOY] = cache_informer(w, dep, false, NULL, cache_wl_strip, cache_wl_event);
    w->inf[WATCH_INF_STS] = cache_informer(w, sts, false, NULL, cache_wl_strip, cache_wl_event);
    w->inf[WATCH_INF_SJ] = cache_informer(w, sj, false, NULL, NULL, cache_sj_event);
    if (watch_sj_informers_start(w) < 0)
        return -ENOMEM;
    for (int i = 0; i < WATCH_INF_COUNT; i++)
        if (!w->inf[i])
            return -ENOMEM;
    cache_eventsources_start(w);
    return 0;
}
