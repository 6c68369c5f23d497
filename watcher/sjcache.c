/*
 * sjcache: the Jobs of ScaledJobs and their pods, as KEDA's executor lists them from its cache
 * (keda.md §1.15), on the watcher's thread. Both informers select by the label
 * scaledjob.keda.sh/name, which KEDA puts on every Job it creates and on the Job's pod template,
 * so nothing else of the cluster is listed. A Job is kept as far as the ScaledJob loop reads it
 * (its labels and generation annotation, finished conditions, creation time), a pod as far as
 * the pending rule reads it (job-name, phase, condition types and statuses). A Job the loop
 * creates or deletes goes into or out of the cache at once, so the next poll counts it even
 * before its watch event arrives (no duplicate Jobs from a slow watch).
 */
#include "watcher/watcher_internal.h"

#include "common/json.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Deletes every member of obj[field] whose key is not one of keep[0..n). */
static void sjc_keep_keys(cJSON *meta, const char *field, const char *const *keep, size_t n)
{
    cJSON *map = cJSON_GetObjectItemCaseSensitive(meta, field), *c;

    c = cJSON_IsObject(map) ? map->child : NULL;
    while (c) {
        cJSON *next = c->next;
        bool wanted = false;
        for (size_t i = 0; i < n && !wanted; i++)
            wanted = c->string && strcmp(c->string, keep[i]) == 0;
        if (!wanted)
            cJSON_Delete(cJSON_DetachItemViaPointer(map, c));
        c = next;
    }
}

static void sjc_job_strip(cJSON *obj, void *ud)
{
    static const char *const keep[] = {"metadata.name",
                                       "metadata.namespace",
                                       "metadata.uid",
                                       "metadata.resourceVersion",
                                       "metadata.creationTimestamp",
                                       "metadata.deletionTimestamp",
                                       "metadata.labels",
                                       "metadata.annotations",
                                       "status.conditions",
                                       "status.completionTime"};
    static const char *const labels[] = {SJ_LABEL_NAME};
    static const char *const annotations[] = {SJ_ANNOTATION_GENERATION};
    cJSON *meta;

    (void)ud;
    jsonu_prune(obj, keep, sizeof keep / sizeof keep[0]);
    meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    sjc_keep_keys(meta, "labels", labels, 1);
    sjc_keep_keys(meta, "annotations", annotations, 1);
}

static void sjc_pod_strip(cJSON *obj, void *ud)
{
    static const char *const keep[] = {"metadata.name",   "metadata.namespace",
                                       "metadata.labels", "metadata.resourceVersion",
                                       "status.phase",    "status.conditions"};
    static const char *const labels[] = {SJ_LABEL_NAME, "job-name"};
    static const char *const cond[] = {"type", "status"};
    cJSON *c;

    (void)ud;
    jsonu_prune(obj, keep, sizeof keep / sizeof keep[0]);
    sjc_keep_keys(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels", labels, 2);
    cJSON_ArrayForEach(c, jsonu_lookup(obj, "status.conditions")) jsonu_prune(c, cond, 2);
}

/* Stores obj (taken) under its key in map, or removes the key when obj is NULL. */
static void sjc_put(watch_map_t *map, const char *ns, const char *name, cJSON *obj)
{
    char key[WATCH_KEY_MAX];
    cJSON *old = NULL;

    watch_key(key, sizeof key, ns, name);
    if (!obj) {
        cJSON_Delete(watch_map_del(map, key));
        return;
    }
    if (watch_map_put(map, key, obj, (void **)&old) < 0) {
        log_error(-ENOMEM, "could not keep %s", key);
        cJSON_Delete(obj);
    }
    cJSON_Delete(old);
}

static void sjc_event(watch_map_t *map, k8s_event_type_t type, cJSON *obj)
{
    const char *ns = jsonu_str(obj, "metadata.namespace"), *name = jsonu_str(obj, "metadata.name");
    char nsb[SHM_NS_MAX], nameb[SHM_NAME_MAX];

    if (type == K8S_EVENT_DELETED) {
        sjc_put(map, ns, name, NULL);
        return;
    }
    snprintf(nsb, sizeof nsb, "%s", ns);
    snprintf(nameb, sizeof nameb, "%s", name);
    sjc_put(map, nsb, nameb, watch_cache_take(obj));
}

static void sjc_job_event(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj, bool unknown,
                          void *ud)
{
    watch_ctx_t *w = ud;

    (void)inf, (void)unknown;
    sjc_event(&w->jobs, type, obj);
}

static void sjc_pod_event(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj, bool unknown,
                          void *ud)
{
    watch_ctx_t *w = ud;

    (void)inf, (void)unknown;
    sjc_event(&w->jobpods, type, obj);
}

int watch_sj_informers_start(watch_ctx_t *w)
{
    k8s_gvr_t jobs = K8S_GVR_JOBS, pods = K8S_GVR_PODS;

    w->inf[WATCH_INF_JOBS] =
        watch_cache_informer(w, jobs, SJ_LABEL_NAME, sjc_job_strip, sjc_job_event);
    w->inf[WATCH_INF_PODS] =
        watch_cache_informer(w, pods, SJ_LABEL_NAME, sjc_pod_strip, sjc_pod_event);
    return w->inf[WATCH_INF_JOBS] && w->inf[WATCH_INF_PODS] ? 0 : -ENOMEM;
}

void watch_sj_job_put(watch_ctx_t *w, cJSON *job)
{
    char ns[SHM_NS_MAX], name[SHM_NAME_MAX];

    if (!job)
        return;
    snprintf(ns, sizeof ns, "%s", jsonu_str(job, "metadata.namespace"));
    snprintf(name, sizeof name, "%s", jsonu_str(job, "metadata.name"));
    jsonu_remove(job, "metadata.managedFields");
    sjc_job_strip(job, NULL);
    sjc_put(&w->jobs, ns, name, job);
}

void watch_sj_job_forget(watch_ctx_t *w, const char *ns, const char *name)
{
    sjc_put(&w->jobs, ns, name, NULL);
}

typedef struct sjc_collect {
    const char *ns, *sj;
    cJSON *out;
} sjc_collect_t;

static void sjc_collect_one(const char *key, void *value, void *ud)
{
    sjc_collect_t *c = ud;
    const cJSON *obj = value;
    const cJSON *label =
        cJSON_GetObjectItemCaseSensitive(jsonu_lookup(obj, "metadata.labels"), SJ_LABEL_NAME);

    (void)key;
    if (cJSON_IsString(label) && strcmp(label->valuestring, c->sj) == 0 &&
        strcmp(jsonu_str(obj, "metadata.namespace"), c->ns) == 0)
        cJSON_AddItemReferenceToArray(c->out, (cJSON *)obj);
}

cJSON *watch_sj_jobs(watch_ctx_t *w, const char *ns, const char *sj, bool pods)
{
    sjc_collect_t c = {ns, sj, cJSON_CreateArray()};

    if (c.out)
        watch_map_each(pods ? &w->jobpods : &w->jobs, sjc_collect_one, &c);
    return c.out;
}

cJSON *watch_sj_job_pods(const cJSON *pods, const cJSON *job)
{
    const char *name = jsonu_str(job, "metadata.name");
    cJSON *out = cJSON_CreateArray();
    const cJSON *p;

    cJSON_ArrayForEach(p, pods)
    {
        const cJSON *jn =
            cJSON_GetObjectItemCaseSensitive(jsonu_lookup(p, "metadata.labels"), "job-name");
        if (out && cJSON_IsString(jn) && strcmp(jn->valuestring, name) == 0)
            cJSON_AddItemReferenceToArray(out, (cJSON *)p);
    }
    return out;
}
