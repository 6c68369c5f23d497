/*
 * status: what the watcher writes to a ScaledObject's status subresource (keda.md §1.3, §1.4):
 * scaleTargetKind and scaleTargetGVKR, originalReplicaCount (once), triggersTypes and
 * authenticationsTypes, externalMetricNames (with health pruned to them), compositeScalerName,
 * hpaName and the conditions. KEDA writes these in several patches; the watcher computes the end
 * state of one reconcile and sends only the fields that differ, in one JSON merge patch, or
 * nothing. Conditions follow KEDA's Conditions methods: the initial set (Ready, Active, Fallback
 * Unknown, Paused False) when any of the four is missing, SetCondition keeping the order otherwise.
 * Runs in the watcher.
 */
#include "watcher/watcher_internal.h"

#include "common/fallback.h"
#include "common/json.h"

#include <stdio.h>
#include <string.h>

static cJSON *status_condition(const char *type, const char *status, const char *reason,
                               const char *message)
{
    cJSON *c = cJSON_CreateObject();

    cJSON_AddStringToObject(c, "type", type);
    cJSON_AddStringToObject(c, "status", status);
    if (reason && *reason)
        cJSON_AddStringToObject(c, "reason", reason);
    if (message && *message)
        cJSON_AddStringToObject(c, "message", message);
    return c;
}

cJSON *watch_cond_find(const cJSON *conds, const char *type)
{
    cJSON *c;

    cJSON_ArrayForEach(c, conds)
    {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "type"));
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

void watch_cond_set(cJSON *conds, const char *type, const char *status, const char *reason,
                    const char *message)
{
    cJSON *c = watch_cond_find(conds, type), *n = status_condition(type, status, reason, message);
    int i = 0;
    cJSON *x;

    if (!c) {
        cJSON_AddItemToArray(conds, n);
        return;
    }
    cJSON_ArrayForEach(x, conds)
    {
        if (x == c)
            break;
        i++;
    }
    cJSON_ReplaceItemInArray(conds, i, n);
}

int watch_status_ready(const cJSON *obj, const char **ret_message)
{
    const cJSON *c = watch_cond_find(jsonu_lookup(obj, "status.conditions"), "Ready");
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "status"));

    if (ret_message)
        *ret_message = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "message"));
    return s && strcmp(s, "True") == 0 ? 1 : s && strcmp(s, "False") == 0 ? 0 : -1;
}

/* fallback.HasValidFallback, read from the object as KEDA reads its spec; with
 * scalingModifiers their target must also be an integer > 0. */
static bool status_valid_fallback(const cJSON *obj, const so_t *so)
{
    const so_modifiers_t *m = &so->modifiers;
    int64_t t, r;

    return jsonu_lookup(obj, "spec.fallback") &&
           jsonu_get_int64(obj, "spec.fallback.failureThreshold", 0, INT32_MAX, &t, NULL) == 0 &&
           jsonu_get_int64(obj, "spec.fallback.replicas", 0, INT32_MAX, &r, NULL) == 0 &&
           (!(m->formula || m->target || m->activation_target) || watch_so_fallback_valid(so));
}

#define PAUSED_MESSAGE "ScaledObject is paused"

/* The Paused condition: True under any of the four pause annotations; back to False with KEDA's
 * reason once they are gone (only when it was True, as KEDA's reconcile does). */
static void status_pause(cJSON *conds, const so_t *so)
{
    const cJSON *c = watch_cond_find(conds, "Paused");
    const char *was = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "status"));

    if (so->pause.paused || so->pause.scale_in || so->pause.scale_out)
        watch_cond_set(conds, "Paused", "True", "ScaledObjectPaused", PAUSED_MESSAGE);
    else if (was && strcmp(was, "True") == 0)
        watch_cond_set(conds, "Paused", "False", "ScaledObjectUnpaused",
                       "pause annotation removed for ScaledObject");
}

/* status.pausedReplicaCount mirrors the paused-replicas annotation; removed otherwise. */
static void status_paused_replicas(cJSON *want, const cJSON *cur, const so_t *so)
{
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(cur, "pausedReplicaCount");

    if (so->pause.paused && so->pause.has_replicas)
        cJSON_AddNumberToObject(want, "pausedReplicaCount", so->pause.replicas);
    else if (have && !cJSON_IsNull(have))
        cJSON_AddNullToObject(want, "pausedReplicaCount");
}

cJSON *watch_conds_init(const cJSON *obj)
{
    const cJSON *cur = jsonu_lookup(obj, "status.conditions");
    static const char *const types[] = {"Ready", "Active", "Fallback", "Paused"};
    bool complete = cJSON_IsArray(cur);
    cJSON *conds;

    for (int i = 0; i < 4 && complete; i++)
        complete = watch_cond_find(cur, types[i]) != NULL;
    if (complete)
        return cJSON_Duplicate(cur, true);
    conds = cJSON_CreateArray(); /* GetInitializedConditions */
    cJSON_AddItemToArray(conds, status_condition("Ready", "Unknown", NULL, NULL));
    cJSON_AddItemToArray(conds, status_condition("Active", "Unknown", NULL, NULL));
    cJSON_AddItemToArray(conds, status_condition("Fallback", "Unknown", NULL, NULL));
    cJSON_AddItemToArray(conds, status_condition("Paused", "False", NULL, NULL));
    return conds;
}

bool watch_cond_loop_owned(const cJSON *conds)
{
    static const char *const loop[] = {
        "TriggerError", "PartialTriggerError", "ErrorGettingCurrentReplicas",
        "KEDAScaleTargetActivationFailed", "KEDAScaleTargetDeactivationFailed"};
    const char *why = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(watch_cond_find(conds, "Ready"), "reason"));

    for (size_t i = 0; why && i < sizeof loop / sizeof loop[0]; i++)
        if (strcmp(why, loop[i]) == 0)
            return true;
    return false;
}

static cJSON *status_conditions(const cJSON *obj, const watch_status_t *st)
{
    cJSON *conds = watch_conds_init(obj);

    if (st->ready) {
        /* what the scale loop said stands until its next poll clears it */
        if (!watch_cond_loop_owned(conds))
            watch_cond_set(conds, "Ready", "True", "ScaledObjectReady", st->message);
    } else {
        watch_cond_set(conds, "Ready", "False", "ScaledObjectCheckFailed", st->message);
        watch_cond_set(conds, "Active", "Unknown", "UnknownState", "ScaledObject check failed");
    }
    status_pause(conds, st->so);
    if (!status_valid_fallback(obj, st->so))
        watch_cond_set(conds, "Fallback", "False", "NoFallbackFound",
                       "No fallbacks are active on this scaled object");
    return conds;
}

/* Whether v is one of the comma-separated values in list. */
static bool status_listed(const char *list, const char *v)
{
    size_t n = strlen(v);

    for (const char *p = list; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && strncmp(p, v, n) == 0)
            return true;
        p += k + (p[k] == ',');
    }
    return false;
}

/* CombinedTriggersAndAuthenticationsTypes: distinct values, in order, comma-joined. */
static void status_join(const cJSON *triggers, const char *path, char *buf, size_t cap)
{
    const cJSON *t;
    size_t n = 0;

    buf[0] = '\0';
    cJSON_ArrayForEach(t, triggers)
    {
        const char *v = cJSON_GetStringValue(jsonu_lookup(t, path));
        if (!v || status_listed(buf, v))
            continue;
        int k = snprintf(buf + n, cap - n, "%s%s", n ? "," : "", v);
        if (k < 0 || (size_t)k >= cap - n) {
            buf[n] = '\0';
            break;
        }
        n += (size_t)k;
    }
}

static void status_target(cJSON *want, const cJSON *cur, const watch_status_t *st)
{
    const watch_target_t *t = st->target;
    char kind[SHM_APIVERSION_MAX + SHM_KIND_MAX + 4];
    cJSON *g = cJSON_CreateObject();

    /* GVKString: group + "/" + version + "." + kind, so "/v1.Kind" for the core group */
    snprintf(kind, sizeof kind, "%s/%s.%s", t->gvkr.group, t->gvkr.version, t->kind);
    cJSON_AddStringToObject(want, "scaleTargetKind", kind);
    cJSON_AddStringToObject(g, "group", t->gvkr.group);
    cJSON_AddStringToObject(g, "version", t->gvkr.version);
    cJSON_AddStringToObject(g, "kind", t->kind);
    cJSON_AddStringToObject(g, "resource", t->gvkr.resource);
    cJSON_AddItemToObject(want, "scaleTargetGVKR", g);
    if (st->set_original && !cJSON_GetObjectItemCaseSensitive(cur, "originalReplicaCount"))
        cJSON_AddNumberToObject(want, "originalReplicaCount", st->original);
}

/* resourceMetricNames (cpu, memory), which KEDA omits when empty. */
static void status_resources(cJSON *want, const cJSON *cur, const so_t *so)
{
    cJSON *names = cJSON_CreateArray();

    for (uint32_t i = 0; i < so->ntriggers; i++)
        if (so->triggers[i].spec.is_resource)
            cJSON_AddItemToArray(names, cJSON_CreateString(so->triggers[i].type));
    if (cJSON_GetArraySize(names) > 0) {
        cJSON_AddItemToObject(want, "resourceMetricNames", names);
        return;
    }
    cJSON_Delete(names);
    if (cJSON_GetObjectItemCaseSensitive(cur, "resourceMetricNames"))
        cJSON_AddNullToObject(want, "resourceMetricNames");
}

static void status_metrics(cJSON *want, const cJSON *cur, const so_t *so)
{
    cJSON *names = cJSON_AddArrayToObject(want, "externalMetricNames");
    const cJSON *health = cJSON_GetObjectItemCaseSensitive(cur, "health"), *h;
    cJSON *prune = NULL;

    /* "": a resource metric, or one learnt from the source and not yet known */
    for (uint32_t i = 0; i < so->ntriggers; i++)
        if (so->triggers[i].spec.metric_name[0])
            cJSON_AddItemToArray(names, cJSON_CreateString(so->triggers[i].spec.metric_name));
    status_resources(want, cur, so);
    /* with scalingModifiers the HPA reads the composite metric; externalMetricNames still list
     * the triggers' metrics (they feed it), and KEDA never clears compositeScalerName */
    if (so->modifiers.formula && so->modifiers.target)
        cJSON_AddStringToObject(want, "compositeScalerName", FALLBACK_COMPOSITE_METRIC);
    cJSON_ArrayForEach(h, health)
    {
        bool keep = false;
        for (uint32_t i = 0; i < so->ntriggers && !keep; i++)
            keep = strcmp(h->string, so->triggers[i].spec.metric_name) == 0;
        if (keep)
            continue;
        if (!prune)
            prune = cJSON_AddObjectToObject(want, "health");
        cJSON_AddNullToObject(prune, h->string);
    }
}

void watch_status_triggers(cJSON *want, const cJSON *obj)
{
    const cJSON *triggers = jsonu_lookup(obj, "spec.triggers");
    char buf[4096];

    status_join(triggers, "type", buf, sizeof buf);
    cJSON_AddStringToObject(want, "triggersTypes", buf);
    status_join(triggers, "authenticationRef.name", buf, sizeof buf);
    cJSON_AddStringToObject(want, "authenticationsTypes", buf);
}

cJSON *watch_status_finish(cJSON *want, const cJSON *obj)
{
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(obj, "status");
    cJSON *f, *next, *patch;

    for (f = want ? want->child : NULL; f; f = next) {
        next = f->next;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(cur, f->string);
        if (c && cJSON_Compare(f, c, true))
            cJSON_DeleteItemFromObjectCaseSensitive(want, f->string);
    }
    if (!want || !want->child || !(patch = cJSON_CreateObject())) {
        cJSON_Delete(want);
        return NULL;
    }
    cJSON_AddItemToObject(patch, "status", want);
    return patch;
}

cJSON *watch_status_patch(const cJSON *obj, const watch_status_t *st)
{
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(obj, "status");
    cJSON *want = cJSON_CreateObject();

    if (!want)
        return NULL;
    if (st->target)
        status_target(want, cur, st);
    if (st->triggers_ok)
        watch_status_triggers(want, obj);
    if (st->metrics_ok)
        status_metrics(want, cur, st->so);
    if (st->hpa_name)
        cJSON_AddStringToObject(want, "hpaName", st->hpa_name);
    status_paused_replicas(want, cur, st->so);
    cJSON_AddItemToObject(want, "conditions", status_conditions(obj, st));
    return watch_status_finish(want, obj);
}
