/*
 * k8s_discovery: resolves a scaleTargetRef's apiVersion and kind to the resource (plural) and
 * whether it has a /scale subresource, as client-go's scale client does through discovery
 * (reference: control-plane.md §7): GET /api/v1 or /apis/<group>/<version> (an
 * APIResourceList), the entry whose kind matches and whose name has no '/', then
 * "<plural>/scale" with the verbs get and update or patch.
 *
 * Runs in the watcher (scale-target resolution). The cache lives in the client: one document
 * per group/version, at most K8S_DISCO_MAX of them, each trusted for K8S_DISCO_TTL.
 */
#include "common/k8s_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

#define K8S_DISCO_MAX     64
#define K8S_DISCO_TTL     (600 * K8S_NS_PER_S)
#define K8S_DISCO_REFETCH (30 * K8S_NS_PER_S) /* a kind may have just been installed */

struct k8s_disco_entry {
    k8s_disco_entry_t *next;
    char group[254];
    char version[64];
    cJSON *doc; /* the APIResourceList */
    int64_t fetched_ns;
};

void k8s_discovery_invalidate(k8s_client_t *c)
{
    while (c->disco) {
        k8s_disco_entry_t *e = c->disco;
        c->disco = e->next;
        cJSON_Delete(e->doc);
        free(e);
    }
}

static void disco_drop(k8s_client_t *c, k8s_disco_entry_t *victim)
{
    for (k8s_disco_entry_t **p = &c->disco; *p; p = &(*p)->next)
        if (*p == victim) {
            *p = victim->next;
            cJSON_Delete(victim->doc);
            free(victim);
            return;
        }
}

static k8s_disco_entry_t *disco_lookup(k8s_client_t *c, const char *group, const char *version,
                                       int64_t now)
{
    for (k8s_disco_entry_t *e = c->disco; e; e = e->next)
        if (strcmp(e->group, group) == 0 && strcmp(e->version, version) == 0) {
            if (now - e->fetched_ns < K8S_DISCO_TTL)
                return e;
            disco_drop(c, e);
            return NULL;
        }
    return NULL;
}

static int disco_fetch(k8s_client_t *c, const char *group, const char *version, int64_t now,
                       k8s_disco_entry_t **ret_entry, k8s_error_t *err)
{
    char path[512];
    cJSON *doc = NULL;
    k8s_disco_entry_t *e;
    size_t n = 0;
    int r = k8s_gv_path_build(group, version, path, sizeof path);

    if (r < 0)
        return r;
    r = k8s_get_path(c, path, &doc, err);
    if (r < 0)
        return r;
    e = calloc(1, sizeof *e);
    if (!e) {
        cJSON_Delete(doc);
        return -ENOMEM;
    }
    snprintf(e->group, sizeof e->group, "%s", group);
    snprintf(e->version, sizeof e->version, "%s", version);
    e->doc = doc;
    e->fetched_ns = now;
    for (k8s_disco_entry_t *o = c->disco; o; o = o->next)
        n++;
    if (n >= K8S_DISCO_MAX)
        k8s_discovery_invalidate(c); /* rare: many kinds of scale targets */
    e->next = c->disco;
    c->disco = e;
    *ret_entry = e;
    return 0;
}

static bool disco_has_verb(const cJSON *res, const char *verb)
{
    const cJSON *verbs = jsonu_lookup(res, "verbs"), *v;

    cJSON_ArrayForEach(v, verbs)
    {
        if (cJSON_IsString(v) && strcmp(v->valuestring, verb) == 0)
            return true;
    }
    return false;
}

int k8s_discovery_find(const cJSON *doc, const char *kind, k8s_resolved_t *ret)
{
    const cJSON *resources = jsonu_lookup(doc, "resources"), *res;
    const char *plural = NULL, *name, *k;
    char scale[300];
    bool namespaced = false;

    cJSON_ArrayForEach(res, resources)
    {
        if (jsonu_get_string(res, "name", 253, &name, NULL) == 0 && !strchr(name, '/') &&
            jsonu_get_string(res, "kind", 0, &k, NULL) == 0 && strcmp(k, kind) == 0) {
            plural = name;
            (void)jsonu_get_bool(res, "namespaced", &namespaced, NULL);
            break;
        }
    }
    if (!plural)
        return -ENOENT;
    snprintf(ret->resource, sizeof ret->resource, "%s", plural);
    ret->namespaced = namespaced;
    ret->has_scale = false;
    snprintf(scale, sizeof scale, "%s/scale", plural);
    cJSON_ArrayForEach(res, resources)
    {
        if (jsonu_get_string(res, "name", 0, &name, NULL) == 0 && strcmp(name, scale) == 0)
            ret->has_scale = disco_has_verb(res, "get") &&
                             (disco_has_verb(res, "update") || disco_has_verb(res, "patch"));
    }
    return 0;
}

/* "apps/v1" -> ("apps", "v1"); "v1" -> ("", "v1"). */
static int disco_split(const char *api_version, char *group, size_t gsize, char *version,
                       size_t vsize)
{
    const char *slash = strchr(api_version, '/');
    size_t glen = slash ? (size_t)(slash - api_version) : 0;
    const char *v = slash ? slash + 1 : api_version;

    if (glen >= gsize || strlen(v) >= vsize || !*v || strchr(v, '/'))
        return -EINVAL;
    memcpy(group, api_version, glen);
    group[glen] = '\0';
    memcpy(version, v, strlen(v) + 1);
    if ((glen && !k8s_segment_valid(group)) || !k8s_segment_valid(version))
        return -EINVAL;
    return 0;
}

int k8s_discovery_resolve(k8s_client_t *c, const char *api_version, const char *kind,
                          k8s_resolved_t *ret_resolved, k8s_error_t *err)
{
    k8s_resolved_t res = {.namespaced = false};
    k8s_disco_entry_t *e;
    int64_t now = k8s_now_ns();
    int r;

    k8s_error_clear(err);
    if (!api_version || !*api_version)
        api_version = "apps/v1"; /* KEDA's ParseGVKR defaults */
    if (!kind || !*kind)
        kind = "Deployment";
    if (disco_split(api_version, res.group, sizeof res.group, res.version, sizeof res.version)) {
        if (err)
            snprintf(err->message, sizeof err->message, "malformed apiVersion");
        return -EINVAL;
    }
    e = disco_lookup(c, res.group, res.version, now);
    if (!e && (r = disco_fetch(c, res.group, res.version, now, &e, err)) < 0)
        return r;
    r = k8s_discovery_find(e->doc, kind, &res);
    if (r == -ENOENT && now - e->fetched_ns >= K8S_DISCO_REFETCH) {
        disco_drop(c, e);
        if ((r = disco_fetch(c, res.group, res.version, now, &e, err)) < 0)
            return r;
        r = k8s_discovery_find(e->doc, kind, &res);
    }
    if (r < 0) {
        if (err)
            snprintf(err->message, sizeof err->message, "kind %.64s is not served by %.200s", kind,
                     api_version);
        return r;
    }
    *ret_resolved = res;
    return 0;
}
