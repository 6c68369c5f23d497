/*
 * sjjob: the Jobs KEDA creates for a ScaledJob (scale_jobs.go: generateJobs) and the ones it
 * deletes (cleanUp for the history limits; deletePreviousVersionScaleJobs for a rollout), as
 * JSON built or chosen without I/O. Runs in the watcher; the Job lists it reads come from the
 * API (untrusted: a field of the wrong type reads as absent).
 */
#include "watcher/sjdecide.h"

#include "common/json.h"
#include "watcher/watcher_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the Job ---- */

/* Whether key is one of the comma-separated names of scaledjob.keda.sh/job-excluded-labels
 * (split on ',' only, as KEDA's strings.SplitSeq: no trimming). */
static bool sj_label_excluded(const sj_t *sj, const char *key)
{
    const char *p = sj->job_excluded_labels;
    size_t kl = strlen(key);

    while (p) {
        size_t n = strcspn(p, ",");
        if (n == kl && strncmp(p, key, n) == 0)
            return true;
        p = p[n] ? p + n + 1 : NULL;
    }
    return false;
}

static void sj_set_string(cJSON *obj, const char *key, const char *value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON_AddStringToObject(obj, key, value);
}

static cJSON *sj_job_labels(const sj_t *sj)
{
    cJSON *l = cJSON_CreateObject(), *v;

    if (!l)
        return NULL;
    cJSON_AddStringToObject(l, "app.kubernetes.io/name", sj->name);
    cJSON_AddStringToObject(l, "app.kubernetes.io/version", CKEDA_VERSION);
    cJSON_AddStringToObject(l, "app.kubernetes.io/part-of", sj->name);
    cJSON_AddStringToObject(l, "app.kubernetes.io/managed-by", "keda-operator");
    cJSON_AddStringToObject(l, SJ_LABEL_NAME, sj->name);
    cJSON_ArrayForEach(v, sj->labels)
    {
        if (cJSON_IsString(v) && !sj_label_excluded(sj, v->string))
            sj_set_string(l, v->string, v->valuestring);
    }
    return l;
}

/* The generation first, then every annotation of the ScaledJob over it (maps.Copy). */
static cJSON *sj_job_annotations(const sj_t *sj)
{
    cJSON *a = cJSON_CreateObject(), *v;
    char gen[24];

    if (!a)
        return NULL;
    snprintf(gen, sizeof gen, "%" PRId64, sj->generation);
    cJSON_AddStringToObject(a, SJ_ANNOTATION_GENERATION, gen);
    cJSON_ArrayForEach(v, sj->annotations)
    {
        if (cJSON_IsString(v))
            sj_set_string(a, v->string, v->valuestring);
    }
    return a;
}

static cJSON *sj_job_owner(const sj_t *sj)
{
    cJSON *refs = cJSON_CreateArray(), *o = cJSON_CreateObject();

    if (!refs || !o) {
        cJSON_Delete(refs);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(o, "apiVersion", "keda.sh/v1alpha1");
    cJSON_AddStringToObject(o, "kind", "ScaledJob");
    cJSON_AddStringToObject(o, "name", sj->name);
    cJSON_AddStringToObject(o, "uid", sj->uid);
    cJSON_AddBoolToObject(o, "controller", true);
    cJSON_AddBoolToObject(o, "blockOwnerDeletion", true);
    cJSON_AddItemToArray(refs, o);
    return refs;
}

/* The object member key of parent, made an object if it is missing or of another type. */
static cJSON *sj_object_member(cJSON *parent, const char *key)
{
    cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, key);

    if (cJSON_IsObject(o))
        return o;
    cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
    return cJSON_AddObjectToObject(parent, key);
}

/* jobTargetRef copied; KEDA names and labels the pod template, and sets restartPolicy
 * OnFailure when empty (the client's default, Always, is not allowed in a Job). */
static cJSON *sj_job_spec(const sj_t *sj)
{
    cJSON *spec = sj->job_target ? cJSON_Duplicate(sj->job_target, true) : cJSON_CreateObject();
    cJSON *tpl, *meta, *pod, *rp;
    char gen_name[SHM_NAME_MAX + 2];

    if (!spec || !(tpl = sj_object_member(spec, "template")) ||
        !(meta = sj_object_member(tpl, "metadata")) || !(pod = sj_object_member(tpl, "spec")) ||
        !sj_object_member(meta, "labels")) {
        cJSON_Delete(spec);
        return NULL;
    }
    snprintf(gen_name, sizeof gen_name, "%s-", sj->name);
    sj_set_string(meta, "generateName", gen_name);
    sj_set_string(cJSON_GetObjectItemCaseSensitive(meta, "labels"), SJ_LABEL_NAME, sj->name);
    rp = cJSON_GetObjectItemCaseSensitive(pod, "restartPolicy");
    if (!cJSON_IsString(rp) || !rp->valuestring[0])
        sj_set_string(pod, "restartPolicy", "OnFailure");
    return spec;
}

cJSON *watch_sj_job_build(const sj_t *sj)
{
    cJSON *job = cJSON_CreateObject(), *meta, *labels, *annotations, *owner, *spec;
    char gen_name[SHM_NAME_MAX + 2];

    snprintf(gen_name, sizeof gen_name, "%s-", sj->name);
    if (!job || !cJSON_AddStringToObject(job, "apiVersion", "batch/v1") ||
        !cJSON_AddStringToObject(job, "kind", "Job") ||
        !(meta = cJSON_AddObjectToObject(job, "metadata")) ||
        !cJSON_AddStringToObject(meta, "generateName", gen_name) ||
        !cJSON_AddStringToObject(meta, "namespace", sj->ns))
        goto fail;
    labels = sj_job_labels(sj);
    annotations = sj_job_annotations(sj);
    owner = sj_job_owner(sj);
    spec = sj_job_spec(sj);
    /* added before checking, so a failure frees them with the Job */
    cJSON_AddItemToObject(meta, "labels", labels);
    cJSON_AddItemToObject(meta, "annotations", annotations);
    cJSON_AddItemToObject(meta, "ownerReferences", owner);
    cJSON_AddItemToObject(job, "spec", spec);
    if (!labels || !annotations || !owner || !spec)
        goto fail;
    return job;
fail:
    cJSON_Delete(job);
    return NULL;
}

/* ---- Jobs to delete ---- */

typedef struct sj_finished {
    const cJSON *job;
    uint64_t at_ms; /* completionTime, else the finishing condition's lastTransitionTime */
    size_t index;   /* position in the list: ties keep it */
} sj_finished_t;

static int sj_finished_cmp(const void *a, const void *b)
{
    const sj_finished_t *x = a, *y = b;

    if (x->at_ms != y->at_ms)
        return x->at_ms < y->at_ms ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* When a finished Job finished. Kubernetes sets completionTime only on success; KEDA sorts by
 * it alone (a nil time is "not before" anything), which leaves Failed Jobs in list order. The
 * Failed condition's lastTransitionTime orders them oldest first instead. */
static uint64_t sj_finished_at(const cJSON *job, watch_sj_job_state_t st)
{
    const char *type = st == WATCH_SJ_JOB_COMPLETE ? "Complete" : "Failed";
    uint64_t t = watch_time_parse(job, "status.completionTime");
    const cJSON *c;

    if (t)
        return t;
    cJSON_ArrayForEach(c, jsonu_lookup(job, "status.conditions"))
    {
        const char *ct = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "type"));
        if (ct && strcmp(ct, type) == 0)
            return watch_time_parse(c, "lastTransitionTime");
    }
    return 0;
}

/* Appends to out the oldest Jobs of state st beyond limit. */
static int sj_over_limit(const cJSON *jobs, watch_sj_job_state_t st, int32_t limit,
                         const cJSON **out, size_t cap, size_t *n)
{
    size_t total = (size_t)cJSON_GetArraySize(jobs), k = 0, i = 0;
    sj_finished_t *f = total ? calloc(total, sizeof *f) : NULL;
    const cJSON *job;

    if (total && !f)
        return -ENOMEM;
    cJSON_ArrayForEach(job, jobs)
    {
        if (watch_sj_job_state(job) == st)
            f[k++] = (sj_finished_t){job, sj_finished_at(job, st), i};
        i++;
    }
    if (k > 0)
        qsort(f, k, sizeof *f, sj_finished_cmp);
    for (i = 0; k > (size_t)limit && i < k - (size_t)limit && *n < cap; i++)
        out[(*n)++] = f[i].job;
    free(f);
    return 0;
}

int watch_sj_history_select(const sj_t *sj, const cJSON *jobs, const cJSON **out, size_t cap)
{
    size_t n = 0;
    int r;

    if (!cJSON_IsArray(jobs))
        return 0;
    if ((r = sj_over_limit(jobs, WATCH_SJ_JOB_COMPLETE, sj->successful_history_limit, out, cap,
                           &n)) < 0 ||
        (r = sj_over_limit(jobs, WATCH_SJ_JOB_FAILED, sj->failed_history_limit, out, cap, &n)) < 0)
        return r;
    return (int)n;
}

int watch_sj_rollout_select(const sj_t *sj, const cJSON *jobs, const cJSON **out, size_t cap)
{
    const cJSON *job;
    char gen[24];
    size_t n = 0;

    if (sj->rollout_gradual || !cJSON_IsArray(jobs))
        return 0;
    snprintf(gen, sizeof gen, "%" PRId64, sj->generation);
    cJSON_ArrayForEach(job, jobs)
    {
        const char *have = cJSON_GetStringValue(
            jsonu_lookup(job, "metadata.annotations[\"" SJ_ANNOTATION_GENERATION "\"]"));
        if ((!have || strcmp(have, gen) != 0) && n < cap)
            out[n++] = job;
    }
    return (int)n;
}

const char *watch_sj_rollout_propagation(const sj_t *sj)
{
    return sj->rollout_foreground ? "Foreground" : "Background";
}
