/*
 * hpa: see hpa.h. Runs in the watcher.
 */
#include "watcher/hpa.h"

#include "common/fallback.h"
#include "common/json.h"
#include "common/qty.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HPA_SO_LABEL       "scaledobject.keda.sh/name"
#define HPA_EXCLUDE_LABELS "scaledobject.keda.sh/hpa-excluded-labels"

/* app.kubernetes.io/name: the HPA name cut to 63 characters, trailing non-alphanumerics
 * trimmed (a label value must end alphanumeric). */
static void hpa_name_label(const char *hpa, char *buf, size_t cap)
{
    size_t n = strlen(hpa);
    if (n > 63)
        n = 63;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, hpa, n);
    while (n > 0 && !isalnum((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
}

static bool hpa_label_excluded(const so_t *so, const char *key)
{
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(so->annotations, HPA_EXCLUDE_LABELS);
    const char *p;
    size_t kl = strlen(key);

    if (!cJSON_IsString(ex))
        return false;
    for (p = ex->valuestring; *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t n = strcspn(p, ", ");
        if (n == kl && strncmp(p, key, n) == 0)
            return true;
        p += n;
    }
    return false;
}

static cJSON *hpa_labels(const so_t *so)
{
    cJSON *l = cJSON_CreateObject(), *v;
    char name[64];

    hpa_name_label(so->hpa_name, name, sizeof name);
    cJSON_AddStringToObject(l, "app.kubernetes.io/name", name);
    cJSON_AddStringToObject(l, "app.kubernetes.io/version", CKEDA_VERSION);
    cJSON_AddStringToObject(l, "app.kubernetes.io/part-of", so->name);
    cJSON_AddStringToObject(l, "app.kubernetes.io/managed-by", "keda-operator");
    cJSON_ArrayForEach(v, so->labels)
    {
        if (!cJSON_IsString(v) || hpa_label_excluded(so, v->string))
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(l, v->string);
        cJSON_AddStringToObject(l, v->string, v->valuestring);
    }
    return l;
}

static cJSON *hpa_external(const so_t *so, const char *name, uint32_t metric_type,
                           double target_value)
{
    cJSON *m = cJSON_CreateObject(), *ext, *metric, *sel, *target;
    char q[QTY_MAX];
    bool value = metric_type == SHM_METRIC_VALUE;

    cJSON_AddStringToObject(m, "type", "External");
    ext = cJSON_AddObjectToObject(m, "external");
    metric = cJSON_AddObjectToObject(ext, "metric");
    cJSON_AddStringToObject(metric, "name", name);
    sel = cJSON_AddObjectToObject(cJSON_AddObjectToObject(metric, "selector"), "matchLabels");
    cJSON_AddStringToObject(sel, HPA_SO_LABEL, so->name);
    target = cJSON_AddObjectToObject(ext, "target");
    cJSON_AddStringToObject(target, "type", value ? "Value" : "AverageValue");
    qty_format_target(target_value, q, sizeof q);
    cJSON_AddStringToObject(target, value ? "value" : "averageValue", q);
    return m;
}

/* getScaledObjectMetricSpecs with scalingModifiers: the triggers' External metrics are replaced
 * by one, composite-metric, whose target is NewMilliQuantity(int64(target * 1000)) of type
 * metricType (AverageValue by default). The admission rules made sure the target is a number
 * > 0; KEDA keeps the triggers' specs when it is not, and so does this. */
static bool hpa_composite(const so_t *so, cJSON *metrics)
{
    const so_modifiers_t *mod = &so->modifiers;
    char *end;
    double target;

    if (!mod->formula || !mod->target)
        return false;
    target = strtod(mod->target, &end);
    if (*end || !(target > 0.0))
        return false;
    cJSON_AddItemToArray(metrics,
                         hpa_external(so, FALLBACK_COMPOSITE_METRIC, mod->metric_type, target));
    return true;
}

/* cpu, memory: KEDA's cpuMemoryScaler spec, a Resource metric, or ContainerResource for one
 * container, with an averageUtilization percent or an averageValue quantity. */
static cJSON *hpa_resource(const so_trigger_t *t)
{
    const scaler_resource_t *r = &t->spec.resource;
    bool one = r->container[0] != '\0';
    cJSON *m = cJSON_CreateObject(), *src, *target;

    cJSON_AddStringToObject(m, "type", one ? "ContainerResource" : "Resource");
    src = cJSON_AddObjectToObject(m, one ? "containerResource" : "resource");
    cJSON_AddStringToObject(src, "name", t->type);
    if (one)
        cJSON_AddStringToObject(src, "container", r->container);
    target = cJSON_AddObjectToObject(src, "target");
    cJSON_AddStringToObject(target, "type", r->utilization ? "Utilization" : "AverageValue");
    if (r->utilization)
        cJSON_AddNumberToObject(target, "averageUtilization", r->average_utilization);
    else
        cJSON_AddStringToObject(target, "averageValue", r->average_value);
    return m;
}

/* The resource triggers' metrics of one kind (ContainerResource when container), in order. */
static void hpa_resources(const so_t *so, cJSON *metrics, bool container)
{
    for (uint32_t i = 0; i < so->ntriggers; i++)
        if (so->triggers[i].spec.is_resource &&
            (so->triggers[i].spec.resource.container[0] != '\0') == container)
            cJSON_AddItemToArray(metrics, hpa_resource(&so->triggers[i]));
}

static cJSON *hpa_owner(const so_t *so)
{
    cJSON *refs = cJSON_CreateArray(), *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "apiVersion", "keda.sh/v1alpha1");
    cJSON_AddStringToObject(o, "kind", "ScaledObject");
    cJSON_AddStringToObject(o, "name", so->name);
    cJSON_AddStringToObject(o, "uid", so->uid);
    cJSON_AddBoolToObject(o, "controller", true);
    cJSON_AddBoolToObject(o, "blockOwnerDeletion", true);
    cJSON_AddItemToArray(refs, o);
    return refs;
}

/* One direction disabled, as KEDA does for paused-scale-in (scaleDown) and paused-scale-out
 * (scaleUp): selectPolicy Disabled, whatever else the user's behavior says. */
static void hpa_disable(cJSON *behavior, const char *direction)
{
    cJSON *rules = cJSON_GetObjectItemCaseSensitive(behavior, direction);

    if (!cJSON_IsObject(rules)) {
        cJSON_DeleteItemFromObjectCaseSensitive(behavior, direction);
        rules = cJSON_AddObjectToObject(behavior, direction);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(rules, "selectPolicy");
    cJSON_AddStringToObject(rules, "selectPolicy", "Disabled");
}

static void hpa_behavior(const so_t *so, cJSON *spec)
{
    cJSON *b;

    if (!so->hpa_behavior && !so->pause.scale_in && !so->pause.scale_out)
        return;
    b = so->hpa_behavior ? cJSON_Duplicate(so->hpa_behavior, true) : cJSON_CreateObject();
    if (so->pause.scale_in)
        hpa_disable(b, "scaleDown");
    if (so->pause.scale_out)
        hpa_disable(b, "scaleUp");
    cJSON_AddItemToObject(spec, "behavior", b);
}

static cJSON *hpa_spec(const so_t *so)
{
    cJSON *spec = cJSON_CreateObject(), *ref, *metrics;

    ref = cJSON_AddObjectToObject(spec, "scaleTargetRef");
    cJSON_AddStringToObject(ref, "apiVersion", so->target_api_version);
    cJSON_AddStringToObject(ref, "kind", so->target_kind);
    cJSON_AddStringToObject(ref, "name", so->target_name);
    cJSON_AddNumberToObject(spec, "minReplicas", so_hpa_min(so));
    cJSON_AddNumberToObject(spec, "maxReplicas", so->max_replicas);
    /* KEDA sorts metric specs by type (ContainerResource < External < Resource), stably: within
     * a type the order is the triggers' */
    metrics = cJSON_AddArrayToObject(spec, "metrics");
    hpa_resources(so, metrics, true);
    if (!hpa_composite(so, metrics))
        for (uint32_t i = 0; i < so->ntriggers; i++)
            if (!so->triggers[i].spec.is_resource)
                cJSON_AddItemToArray(metrics, hpa_external(so, so->triggers[i].spec.metric_name,
                                                           so->triggers[i].metric_type,
                                                           so->triggers[i].spec.target));
    hpa_resources(so, metrics, false);
    hpa_behavior(so, spec);
    return spec;
}

cJSON *watch_hpa_build(const so_t *so)
{
    cJSON *hpa = cJSON_CreateObject(), *meta;

    cJSON_AddStringToObject(hpa, "apiVersion", "autoscaling/v2");
    cJSON_AddStringToObject(hpa, "kind", "HorizontalPodAutoscaler");
    meta = cJSON_AddObjectToObject(hpa, "metadata");
    cJSON_AddStringToObject(meta, "name", so->hpa_name);
    cJSON_AddStringToObject(meta, "namespace", so->ns);
    cJSON_AddItemToObject(meta, "labels", hpa_labels(so));
    cJSON_AddItemToObject(meta, "annotations",
                          so->annotations ? cJSON_Duplicate(so->annotations, true)
                                          : cJSON_CreateObject());
    cJSON_AddItemToObject(meta, "ownerReferences", hpa_owner(so));
    cJSON_AddItemToObject(hpa, "spec", hpa_spec(so));
    return hpa;
}

bool watch_json_derivative(const cJSON *want, const cJSON *have)
{
    const cJSON *w, *h;

    if (!have)
        return false;
    if (cJSON_IsObject(want)) {
        if (!cJSON_IsObject(have))
            return false;
        cJSON_ArrayForEach(w, want) if (!watch_json_derivative(w,
                                                               cJSON_GetObjectItemCaseSensitive(
                                                                   have, w->string))) return false;
        return true;
    }
    if (cJSON_IsArray(want)) {
        if (!cJSON_IsArray(have) || cJSON_GetArraySize(want) != cJSON_GetArraySize(have))
            return false;
        for (w = want->child, h = have->child; w && h; w = w->next, h = h->next)
            if (!watch_json_derivative(w, h))
                return false;
        return true;
    }
    return cJSON_Compare(want, have, true);
}

static bool hpa_map_empty(const cJSON *m)
{
    return !m || cJSON_GetArraySize(m) == 0;
}

/* KEDA's updateHPAIfNeeded: the spec as a derivative plus the metric count and behavior compared
 * whole; labels as a derivative (labels others add are kept); annotations as a derivative, or
 * any at all on the live HPA when the ScaledObject has none. */
bool watch_hpa_needs_update(const cJSON *want, const cJSON *live)
{
    const cJSON *wm = jsonu_lookup(want, "spec.metrics"), *lm = jsonu_lookup(live, "spec.metrics");
    const cJSON *wb = jsonu_lookup(want, "spec.behavior"),
                *lb = jsonu_lookup(live, "spec.behavior");
    const cJSON *wl = jsonu_lookup(want, "metadata.labels"),
                *ll = jsonu_lookup(live, "metadata.labels");
    const cJSON *wa = jsonu_lookup(want, "metadata.annotations"),
                *la = jsonu_lookup(live, "metadata.annotations");

    if (cJSON_GetArraySize(wm) != cJSON_GetArraySize(lm))
        return true;
    if ((wb == NULL) != (lb == NULL) || (wb && !watch_json_derivative(wb, lb)) ||
        (wb && !watch_json_derivative(lb, wb)))
        return true;
    if (!watch_json_derivative(jsonu_lookup(want, "spec"), jsonu_lookup(live, "spec")))
        return true;
    if (!hpa_map_empty(wl) && !watch_json_derivative(wl, ll))
        return true;
    if (hpa_map_empty(wa))
        return !hpa_map_empty(la);
    return !watch_json_derivative(wa, la);
}
