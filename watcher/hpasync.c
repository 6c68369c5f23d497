/*
 * hpasync: the HPA of a ScaledObject, kept as KEDA's ensureHPAForScaledObjectExists keeps it
 * (keda.md §1.7): created when missing; when status.hpaName names another HPA than the spec
 * wants, the old one deleted and the new one created (renameHPA); otherwise updated in place,
 * and only when watch_hpa_needs_update finds a difference. An HPA KEDA created (same name,
 * controlled by the same ScaledObject) is therefore adopted as it is, never re-created.
 * The HPA cache (informer, label scaledobject.keda.sh/name) answers "does it exist"; an HPA the
 * cache cannot see (no such label) is found by the create's AlreadyExists. Runs in the watcher.
 */
#include "watcher/watcher_internal.h"

#include "common/json.h"
#include "common/log.h"
#include "watcher/hpa.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int hpa_fail(int r, const k8s_error_t *kerr, const char *what, const char *ns,
                    const char *name, errtext_t *err)
{
    const char *text = kerr->message[0] ? kerr->message : strerror(-r);

    if (r == -EINVAL || r == -EACCES) /* refused: KEDA reports the API's error as is */
        errtext_set(err, "%s", text);
    else
        errtext_set(err, "could not %s HPA %s/%s: %s", what, ns, name, text);
    return r == -EACCES ? -EINVAL : r;
}

static cJSON *hpa_live(watch_ctx_t *w, const char *ns, const char *name, bool ask, int *ret_r,
                       k8s_error_t *kerr)
{
    k8s_ref_t ref = {K8S_GVR_HPAS, ns, name, NULL};
    char key[WATCH_KEY_MAX];
    cJSON *obj = NULL, *cached;

    watch_key(key, sizeof key, ns, name);
    *ret_r = 0;
    if ((cached = watch_map_get(&w->hpas, key)))
        return cJSON_Duplicate(cached, true);
    if (!ask)
        return NULL;
    *ret_r = watch_api_get(w, &ref, &obj, kerr);
    if (*ret_r == -ENOENT)
        *ret_r = 0;
    return obj;
}

static int hpa_create(watch_ctx_t *w, const so_t *so, const cJSON *want, cJSON **ret_live,
                      errtext_t *err)
{
    k8s_ref_t ref = {K8S_GVR_HPAS, so->ns, NULL, NULL};
    k8s_error_t kerr;
    cJSON *resp = NULL;
    int r = watch_api_create(w, &ref, want, &resp, &kerr);

    if (r == 0) {
        log_info("created HPA %s/%s for ScaledObject %s", so->ns, so->hpa_name, so->name);
        watch_hpa_cache_put(w, resp);
        return 0;
    }
    if (r != -EEXIST)
        return hpa_fail(r, &kerr, "create", so->ns, so->hpa_name, err);
    /* there, but not in the cache (no scaledobject.keda.sh/name label): adopt it */
    *ret_live = hpa_live(w, so->ns, so->hpa_name, true, &r, &kerr);
    if (r < 0 || !*ret_live)
        return hpa_fail(r < 0 ? r : -EAGAIN, &kerr, "read", so->ns, so->hpa_name, err);
    return 1;
}

static int hpa_update(watch_ctx_t *w, const so_t *so, cJSON *want, const cJSON *live,
                      errtext_t *err)
{
    k8s_ref_t ref = {K8S_GVR_HPAS, so->ns, so->hpa_name, NULL};
    const char *rv = cJSON_GetStringValue(jsonu_lookup(live, "metadata.resourceVersion"));
    k8s_error_t kerr;
    cJSON *resp = NULL;
    int r;

    if (rv)
        cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(want, "metadata"),
                                "resourceVersion", rv);
    r = watch_api_update(w, &ref, want, &resp, &kerr);
    if (r == -ENOENT) { /* gone behind a stale cache entry: the retry creates it */
        char key[WATCH_KEY_MAX];
        watch_key(key, sizeof key, so->ns, so->hpa_name);
        cJSON_Delete(watch_map_del(&w->hpas, key));
        r = -EAGAIN;
    }
    if (r < 0)
        return hpa_fail(r, &kerr, "update", so->ns, so->hpa_name, err);
    if (!cJSON_GetObjectItemCaseSensitive(jsonu_lookup(live, "metadata.labels"), WATCH_SO_LABEL))
        log_info("ScaledObject %s/%s took over HPA %s (transfer-hpa-ownership)", so->ns, so->name,
                 so->hpa_name);
    else
        log_info("updated HPA %s/%s for ScaledObject %s", so->ns, so->hpa_name, so->name);
    watch_hpa_cache_put(w, resp);
    return 0;
}

static int hpa_delete(watch_ctx_t *w, const char *ns, const char *name, errtext_t *err)
{
    k8s_ref_t ref = {K8S_GVR_HPAS, ns, name, NULL};
    char key[WATCH_KEY_MAX];
    k8s_error_t kerr;
    int r = watch_api_delete(w, &ref, NULL, &kerr);

    if (r < 0 && r != -ENOENT)
        return hpa_fail(r, &kerr, "delete", ns, name, err);
    watch_key(key, sizeof key, ns, name);
    cJSON_Delete(watch_map_del(&w->hpas, key));
    return 0;
}

int watch_hpa_remove(watch_ctx_t *w, const so_t *so, errtext_t *err)
{
    char key[WATCH_KEY_MAX];
    int r;

    watch_key(key, sizeof key, so->ns, so->hpa_name);
    if (!watch_map_get(&w->hpas, key))
        return 0;
    if ((r = hpa_delete(w, so->ns, so->hpa_name, err)) == 0)
        log_info("deleted HPA %s/%s: ScaledObject %s is paused", so->ns, so->hpa_name, so->name);
    return r;
}

/* renameHPA: the HPA status.hpaName names goes, the one the spec names is created. */
static int hpa_rename(watch_ctx_t *w, const so_t *so, const cJSON *want, const cJSON *live,
                      errtext_t *err)
{
    const char *old = cJSON_GetStringValue(jsonu_lookup(live, "metadata.name"));
    cJSON *other = NULL;
    int r = hpa_delete(w, so->ns, old, err);

    if (r < 0)
        return r;
    log_info("deleted HPA %s/%s: ScaledObject %s now names its HPA %s", so->ns, old, so->name,
             so->hpa_name);
    r = hpa_create(w, so, want, &other, err);
    cJSON_Delete(other);
    return r < 0 ? r : 0;
}

int watch_hpa_ensure(watch_ctx_t *w, const so_t *so, const char *status_hpa, errtext_t *err)
{
    const char *lookup = status_hpa && *status_hpa ? status_hpa : so->hpa_name;
    cJSON *want = watch_hpa_build(so), *live;
    k8s_error_t kerr;
    int r;

    if (!want) {
        errtext_set(err, "out of memory");
        return -ENOMEM;
    }
    live = hpa_live(w, so->ns, lookup, strcmp(lookup, so->hpa_name) != 0, &r, &kerr);
    if (r < 0) {
        cJSON_Delete(want);
        return hpa_fail(r, &kerr, "read", so->ns, lookup, err);
    }
    if (!live && (r = hpa_create(w, so, want, &live, err)) <= 0) {
        cJSON_Delete(want);
        return r;
    }
    const char *name = cJSON_GetStringValue(jsonu_lookup(live, "metadata.name"));
    if (!name || strcmp(name, so->hpa_name) != 0)
        r = hpa_rename(w, so, want, live, err);
    else if (watch_hpa_needs_update(want, live))
        r = hpa_update(w, so, want, live, err);
    else
        r = 0;
    cJSON_Delete(live);
    cJSON_Delete(want);
    return r;
}
