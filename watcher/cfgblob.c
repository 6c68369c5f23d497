/*
 * cfgblob: the text of a trigger's config blob, in the format scaleworker/README.md defines
 * (field order included). Runs in the watcher. The blob carries the trigger's metadata verbatim
 * (which may hold credentials KEDA allows there: that is why blobs stay out of the table) and,
 * for an authenticationRef, the referenced object's spec verbatim with its uid and
 * generation: references to Secrets, never a Secret's value. Any change of the referenced
 * object's spec changes the text, and so the trigger's cfg_gen; a status write (the
 * scaledobjects list) does not.
 */
#include "watcher/watcher_internal.h"

#include "common/json.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* metadata.generation as text ("" when absent): it moves with the spec only. */
static const char *blob_generation(const cJSON *auth, char *buf, size_t cap)
{
    int64_t g;

    if (jsonu_get_int64(auth, "metadata.generation", 0, INT64_MAX, &g, NULL) < 0)
        return "";
    snprintf(buf, cap, "%lld", (long long)g);
    return buf;
}

static void blob_auth(cJSON *doc, const so_trigger_t *t, const char *ns, const cJSON *auth)
{
    const char *kind = t->auth_cluster ? "ClusterTriggerAuthentication" : "TriggerAuthentication";
    cJSON *ref = cJSON_AddObjectToObject(doc, "authenticationRef"), *a;
    const cJSON *spec;
    char gen[24];

    cJSON_AddStringToObject(ref, "name", t->auth_name);
    cJSON_AddStringToObject(ref, "kind", kind);
    if (!auth)
        return; /* KEDA goes on without it ("error getting triggerAuth") */
    a = cJSON_AddObjectToObject(doc, "authentication");
    cJSON_AddStringToObject(a, "kind", kind);
    if (!t->auth_cluster)
        cJSON_AddStringToObject(a, "namespace", ns);
    cJSON_AddStringToObject(a, "name", t->auth_name);
    cJSON_AddStringToObject(a, "uid", jsonu_str(auth, "metadata.uid"));
    cJSON_AddStringToObject(a, "generation", blob_generation(auth, gen, sizeof gen));
    spec = cJSON_GetObjectItemCaseSensitive(auth, "spec");
    cJSON_AddItemToObject(
        a, "spec", cJSON_IsObject(spec) ? cJSON_Duplicate(spec, true) : cJSON_CreateObject());
}

char *watch_blob_build(const so_t *so, uint32_t i, const cJSON *auth)
{
    const so_trigger_t *t = &so->triggers[i];
    cJSON *doc = cJSON_CreateObject(), *target;
    char *text;

    if (!doc)
        return NULL;
    cJSON_AddStringToObject(doc, "namespace", so->ns);
    cJSON_AddStringToObject(doc, "scaledObject", so->name);
    cJSON_AddNumberToObject(doc, "index", i);
    cJSON_AddStringToObject(doc, "type", t->type);
    cJSON_AddStringToObject(doc, "name", t->name);
    cJSON_AddStringToObject(doc, "metricType",
                            t->metric_type == SHM_METRIC_VALUE ? "Value" : "AverageValue");
    cJSON_AddBoolToObject(doc, "useCachedMetrics", t->use_cached_metrics);
    cJSON_AddItemToObject(doc, "metadata",
                          t->metadata ? cJSON_Duplicate(t->metadata, true) : cJSON_CreateObject());
    if (t->auth_name[0])
        blob_auth(doc, t, so->ns, auth);
    target = cJSON_AddObjectToObject(doc, "scaleTarget");
    cJSON_AddStringToObject(target, "apiVersion", so->target_api_version);
    cJSON_AddStringToObject(target, "kind", so->target_kind);
    cJSON_AddStringToObject(target, "name", so->target_name);
    if (so->env_source_container[0]) /* absent when unset: older blobs keep their text */
        cJSON_AddStringToObject(target, "envSourceContainerName", so->env_source_container);
    text = jsonu_print(doc);
    cJSON_Delete(doc);
    return text;
}
