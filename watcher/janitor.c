/*
 * janitor: the keda.sh objects the watcher keeps tidy without serving them itself, on the
 * watcher's thread (keda.md §1.5, §1.16):
 * - a TriggerAuthentication or ClusterTriggerAuthentication being deleted loses KEDA's
 *   finalizer.keda.sh, and so does a (Cluster)CloudEventSource (when their CRDs are installed),
 *   so deletes of objects KEDA once managed never hang;
 * - status.scaledobjects and status.scaledjobs of a (Cluster)TriggerAuthentication list,
 *   comma-separated, the ScaledObjects and ScaledJobs that reference it, as KEDA's
 *   AppendIntoString/RemoveFromString keep them: names already listed keep their place, new ones
 *   are appended, gone ones removed. They are computed from the watcher's caches, so a missed
 *   event is repaired by the next one.
 * Work arrives as keys marked dirty ("a:<ns>/<name>", "a:/<name>" for a cluster-scoped one,
 * "e:<ns>/<name>" or "e:/<name>" for CloudEventSources), each at most once in the queue, and is
 * done in slices between reconciles. A failed write is retried when the object next
 * changes or is marked again.
 */
#include "watcher/watcher_internal.h"

#include "common/json.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JAN_LIST_MAX 4096 /* status.scaledobjects; a longer list is cut at a name boundary */

void watch_janitor_mark(watch_ctx_t *w, char kind, const char *ns, const char *name)
{
    char key[WATCH_KEY_MAX + 2];
    int r;

    key[0] = kind;
    key[1] = ':';
    watch_key(key + 2, sizeof key - 2, ns, name);
    if (watch_map_get(&w->janitor_pending, key))
        return;
    if ((r = watch_map_put(&w->janitor_pending, key, w, NULL)) == 0)
        r = watch_queue_push(&w->janitor, key);
    if (r < 0)
        log_error(r, "could not queue %s", key + 2);
}

void watch_janitor_mark_auths(watch_ctx_t *w, const cJSON *so)
{
    const cJSON *t;

    cJSON_ArrayForEach(t, jsonu_lookup(so, "spec.triggers"))
    {
        const char *name = jsonu_str(t, "authenticationRef.name");
        bool cluster =
            strcmp(jsonu_str(t, "authenticationRef.kind"), "ClusterTriggerAuthentication") == 0;
        if (*name)
            watch_janitor_mark(w, 'a', cluster ? "" : jsonu_str(so, "metadata.namespace"), name);
    }
}

bool watch_has_finalizer(const cJSON *obj)
{
    const cJSON *f;

    cJSON_ArrayForEach(f, jsonu_lookup(obj, "metadata.finalizers"))
    {
        if (cJSON_IsString(f) && strcmp(f->valuestring, WATCH_FINALIZER) == 0)
            return true;
    }
    return false;
}

cJSON *watch_finalizers_without(const cJSON *obj)
{
    cJSON *list = cJSON_CreateArray();
    const cJSON *f;

    cJSON_ArrayForEach(f, jsonu_lookup(obj, "metadata.finalizers"))
    {
        if (cJSON_IsString(f) && strcmp(f->valuestring, WATCH_FINALIZER) != 0)
            cJSON_AddItemToArray(list, cJSON_CreateString(f->valuestring));
    }
    return list;
}

static const char *jan_deleted_reason(const char *kind)
{
    static const char *const r[][2] = {
        {"TriggerAuthentication", "TriggerAuthenticationDeleted"},
        {"ClusterTriggerAuthentication", "ClusterTriggerAuthenticationDeleted"},
        {"CloudEventSource", "CloudEventSourceDeleted"},
        {"ClusterCloudEventSource", "ClusterCloudEventSourceDeleted"}};

    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (strcmp(kind, r[i][0]) == 0)
            return r[i][1];
    return "Deleted";
}

/* Drops KEDA's finalizer from obj, with a resourceVersion precondition. */
static int jan_unfinalize(watch_ctx_t *w, const k8s_ref_t *ref, const cJSON *obj, const char *kind)
{
    cJSON *patch = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(patch, "metadata");
    k8s_error_t kerr;
    int r;

    cJSON_AddItemToObject(meta, "finalizers", watch_finalizers_without(obj));
    cJSON_AddStringToObject(meta, "resourceVersion", jsonu_str(obj, "metadata.resourceVersion"));
    r = watch_api_patch(w, ref, patch, NULL, &kerr);
    cJSON_Delete(patch);
    if (r == 0) {
        log_info("%s %s%s%s deleted: removed finalizer %s", kind, ref->ns ? ref->ns : "",
                 ref->ns && *ref->ns ? "/" : "", ref->name, WATCH_FINALIZER);
        char api[128];
        snprintf(api, sizeof api, "%s/%s", ref->gvr.group, ref->gvr.version);
        watch_event_kind(w->events, kind, api, obj, false, jan_deleted_reason(kind),
                         "%s was deleted", kind);
    } else if (r != -ENOENT && r != -ESTALE) /* gone, or a newer version is on its way */
        log_msg(LOG_LEVEL_WARNING, r, "could not remove the finalizer of %s %s: %s", kind,
                ref->name, kerr.message);
    return r;
}

typedef struct jan_users {
    const watch_map_t *users; /* the ScaledObjects or the ScaledJobs */
    const char *ns;           /* "" for a ClusterTriggerAuthentication: every namespace */
    const char *name;
    bool cluster;
    char *list;
    size_t len;
    const char *have; /* the current list: its order is kept */
} jan_users_t;

static bool jan_uses(const cJSON *so, const jan_users_t *u)
{
    const cJSON *t;

    if (!u->cluster && strcmp(jsonu_str(so, "metadata.namespace"), u->ns) != 0)
        return false;
    if (jsonu_lookup(so, "metadata.deletionTimestamp"))
        return false;
    cJSON_ArrayForEach(t, jsonu_lookup(so, "spec.triggers"))
    {
        bool cluster =
            strcmp(jsonu_str(t, "authenticationRef.kind"), "ClusterTriggerAuthentication") == 0;
        if (cluster == u->cluster && strcmp(jsonu_str(t, "authenticationRef.name"), u->name) == 0)
            return true;
    }
    return false;
}

/* Whether name is one of the comma-separated entries of list. */
static bool jan_listed(const char *list, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = list; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && strncmp(p, name, n) == 0)
            return true;
        p += k + (p[k] == ',');
    }
    return false;
}

static void jan_append(jan_users_t *u, const char *name, size_t n)
{
    if (u->len + n + 2 > JAN_LIST_MAX)
        return;
    if (u->len)
        u->list[u->len++] = ',';
    memcpy(u->list + u->len, name, n);
    u->len += n;
    u->list[u->len] = '\0';
}

static void jan_collect(const char *key, void *value, void *ud)
{
    jan_users_t *u = ud;
    const watch_entry_t *e = value;

    if (e->obj && jan_uses(e->obj, u) && !jan_listed(u->have, e->name) &&
        !jan_listed(u->list, e->name))
        jan_append(u, e->name, strlen(e->name));
}

/* The new list: the current entries still in use, in their order, then new users. */
static void jan_users_list(watch_ctx_t *w, jan_users_t *u)
{
    for (const char *p = u->have; *p;) {
        size_t k = strcspn(p, ",");
        char name[SHM_NAME_MAX];
        watch_entry_t *e;
        char key[WATCH_KEY_MAX];

        if (k > 0 && k < sizeof name) {
            memcpy(name, p, k);
            name[k] = '\0';
            /* a cluster-scoped list names objects of any namespace: keep what KEDA wrote */
            if (u->cluster)
                jan_append(u, name, k);
            else if (watch_key(key, sizeof key, u->ns, name),
                     (e = watch_map_get(u->users, key)) && e->obj && jan_uses(e->obj, u))
                jan_append(u, name, k);
        }
        p += k + (p[k] == ',');
    }
    watch_map_each(u->users, jan_collect, u);
}

/* status.<field> as it should be into st; whether that differs from auth's. */
static bool jan_list_field(watch_ctx_t *w, const k8s_ref_t *ref, const cJSON *auth, bool cluster,
                           bool jobs, cJSON *st)
{
    const char *field = jobs ? "scaledjobs" : "scaledobjects";
    char list[JAN_LIST_MAX] = "", path[32];
    jan_users_t u = {
        jobs ? &w->sjs : &w->sos, ref->ns ? ref->ns : "", ref->name, cluster, list, 0, ""};

    snprintf(path, sizeof path, "status.%s", field);
    u.have = jsonu_str(auth, path);
    jan_users_list(w, &u);
    if (strcmp(list, u.have) == 0)
        return false;
    if (list[0])
        cJSON_AddStringToObject(st, field, list);
    else
        cJSON_AddNullToObject(st, field);
    return true;
}

static int jan_auth_status(watch_ctx_t *w, const k8s_ref_t *ref, const cJSON *auth, bool cluster)
{
    k8s_ref_t sref = *ref;
    cJSON *patch = cJSON_CreateObject(), *resp = NULL,
          *st = cJSON_AddObjectToObject(patch, "status");
    k8s_error_t kerr;
    bool so = jan_list_field(w, ref, auth, cluster, false, st),
         sj = jan_list_field(w, ref, auth, cluster, true, st);
    int r;

    if (!so && !sj) {
        cJSON_Delete(patch);
        return 0;
    }
    sref.subresource = "status";
    r = watch_api_patch(w, &sref, patch, &resp, &kerr);
    cJSON_Delete(patch);
    cJSON_Delete(resp); /* its watch event brings it into the cache */
    if (r < 0 && r != -ENOENT)
        log_msg(LOG_LEVEL_WARNING, r, "could not write the status of %s %s: %s",
                cluster ? "ClusterTriggerAuthentication" : "TriggerAuthentication", ref->name,
                kerr.message);
    return r;
}

static void jan_auth(watch_ctx_t *w, const char *key)
{
    const cJSON *auth = watch_map_get(&w->auths, key);
    const char *slash = strchr(key, '/');
    char ns[SHM_NS_MAX];
    bool cluster = key[0] == '/';
    k8s_ref_t ta = {K8S_GVR_TRIGGERAUTHS, ns, slash + 1, NULL},
              cta = {K8S_GVR_CLUSTERTRIGGERAUTHS, NULL, slash + 1, NULL};

    if (!auth || (size_t)(slash - key) >= sizeof ns)
        return; /* not (or no longer) there: nothing to list it in */
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    if (jsonu_lookup(auth, "metadata.deletionTimestamp")) {
        if (watch_has_finalizer(auth))
            jan_unfinalize(w, cluster ? &cta : &ta, auth,
                           cluster ? "ClusterTriggerAuthentication" : "TriggerAuthentication");
        return;
    }
    jan_auth_status(w, cluster ? &cta : &ta, auth, cluster);
}

/* An object kept as metadata only: KEDA's finalizer comes off when it is being deleted. */
static void jan_finalize_only(watch_ctx_t *w, const char *key, const watch_map_t *map,
                              const k8s_gvr_t *gvr, const char *kind)
{
    const cJSON *obj = watch_map_get(map, key);
    char ns[SHM_NS_MAX];
    const char *slash = strchr(key, '/');
    k8s_ref_t ref = {*gvr, ns, slash + 1, NULL};

    if (!obj || (size_t)(slash - key) >= sizeof ns)
        return;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    if (jsonu_lookup(obj, "metadata.deletionTimestamp") && watch_has_finalizer(obj))
        jan_unfinalize(w, &ref, obj, kind);
}

static void jan_other(watch_ctx_t *w, const char *key)
{
    static const k8s_gvr_t ces = WATCH_GVR_CLOUDEVENTSOURCES,
                           cces = WATCH_GVR_CLUSTERCLOUDEVENTSOURCES;

    if (key[0] == '/')
        jan_finalize_only(w, key, &w->eventsources, &cces, "ClusterCloudEventSource");
    else
        jan_finalize_only(w, key, &w->eventsources, &ces, "CloudEventSource");
}

void watch_janitor_run(watch_ctx_t *w, uint32_t budget_ms)
{
    uint64_t start = shm_now_mono_ms();
    char *k;

    while (shm_now_mono_ms() - start < budget_ms && (k = watch_queue_pop(&w->janitor))) {
        watch_map_del(&w->janitor_pending, k);
        if (k[0] == 'a')
            jan_auth(w, k + 2);
        else
            jan_other(w, k + 2);
        free(k);
        watch_heartbeat(w);
    }
}
