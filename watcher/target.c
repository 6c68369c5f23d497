/*
 * target: a ScaledObject's scaleTargetRef, resolved as KEDA's checkTargetResourceIsScalable
 * does (keda.md §1.6 step 6, control-plane.md §7): apiVersion and kind through API discovery to a
 * resource that must exist and expose /scale, its /scale read for originalReplicaCount and for
 * the replica counts of kinds the watcher does not cache. Deployments and StatefulSets come from
 * the watcher's informers instead. As KEDA's isScalableCache, a kind whose /scale answered once
 * is not probed again while the status already names the target: a target deleted meanwhile is
 * then the scale loop's ErrorGettingCurrentReplicas, not a failed check (until a restart, as in
 * KEDA). Errors carry KEDA's texts (the API server's own messages). Runs in the watcher.
 */
#include "watcher/watcher_internal.h"

#include "common/json.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool target_cached_kind(const k8s_resolved_t *r)
{
    return strcmp(r->group, "apps") == 0 &&
           (strcmp(r->resource, "deployments") == 0 || strcmp(r->resource, "statefulsets") == 0);
}

/* RESTMapper's NoKindMatchError for one searched version. */
static void target_no_match(const so_t *so, errtext_t *err)
{
    errtext_set(err, "no matches for kind \"%s\" in version \"%s\"", so->target_kind,
                so->target_api_version);
}

static const char *target_text(const k8s_error_t *kerr, int r)
{
    return kerr->message[0] ? kerr->message : strerror(-r);
}

/* GET /scale; on 404 KEDA looks the object itself up to tell "missing" from "not scalable". */
static int target_scale(watch_ctx_t *w, watch_entry_t *e, const so_t *so, watch_target_t *t,
                        errtext_t *err)
{
    k8s_ref_t ref = {
        {t->gvkr.group, t->gvkr.version, t->gvkr.resource}, so->ns, so->target_name, "scale"};
    k8s_error_t kerr, kerr2;
    cJSON *scale = NULL, *obj = NULL;
    int32_t spec = 0, status = -1;
    int r = watch_api_get(w, &ref, &scale, &kerr);

    if (r == -ENOENT) {
        ref.subresource = NULL;
        int r2 = watch_api_get(w, &ref, &obj, &kerr2);
        cJSON_Delete(obj);
        if (r2 < 0 && r2 != -ENOENT) {
            errtext_set(err, "%s", target_text(&kerr2, r2));
            return r2;
        }
        errtext_set(err, "%s", r2 == -ENOENT ? target_text(&kerr2, r2) : target_text(&kerr, r));
        return -EINVAL;
    }
    if (r < 0) {
        errtext_set(err, "could not read the scale of %s/%s: %s", so->ns, so->target_name,
                    target_text(&kerr, r));
        return r == -EACCES ? -EINVAL : r;
    }
    jsonu_get_int32(scale, "spec.replicas", 0, INT32_MAX, &spec, NULL);
    jsonu_get_int32(scale, "status.replicas", 0, INT32_MAX, &status, NULL);
    cJSON_Delete(scale);
    t->have_replicas = true;
    t->spec_replicas = spec;
    e->scale_spec = spec;
    e->scale_status = status;
    return 0;
}

/* Whether e's status already says what a probe would write: scaleTargetKind and
 * scaleTargetGVKR of this target, and no pausedReplicaCount to remove (KEDA's wantStatusUpdate
 * but originalReplicaCount, which the caller looks at). */
static bool target_status_current(const watch_entry_t *e, const so_t *so, const watch_target_t *t)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(e->obj, "status");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(st, "scaleTargetGVKR");
    const char *have =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "scaleTargetKind"));
    const char *want[][2] = {{"group", t->gvkr.group},
                             {"version", t->gvkr.version},
                             {"kind", t->kind},
                             {"resource", t->gvkr.resource}};
    char kind[SHM_APIVERSION_MAX + SHM_KIND_MAX + 4];

    snprintf(kind, sizeof kind, "%s/%s.%s", t->gvkr.group, t->gvkr.version, t->kind);
    if (!have || strcmp(have, kind) != 0 || !cJSON_IsObject(g) ||
        (cJSON_GetObjectItemCaseSensitive(st, "pausedReplicaCount") && !so->pause.paused))
        return false;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, want[i][0]));
        if (!v || strcmp(v, want[i][1]) != 0)
            return false;
    }
    return true;
}

int watch_target_resolve(watch_ctx_t *w, watch_entry_t *e, const so_t *so, bool need_scale,
                         watch_target_t *ret, errtext_t *err)
{
    watch_target_t t;
    char gr[sizeof t.gvkr.group + sizeof t.gvkr.resource + 1];
    k8s_error_t kerr;
    int r;

    memset(&t, 0, sizeof t);
    r = k8s_discovery_resolve(w->client, so->target_api_version, so->target_kind, &t.gvkr, &kerr);
    watch_heartbeat(w);
    if (r == -ENOENT || r == -EINVAL) {
        target_no_match(so, err);
        return -EINVAL;
    }
    if (r < 0) {
        errtext_set(err, "could not discover %s %s: %s", so->target_api_version, so->target_kind,
                    target_text(&kerr, r));
        return r;
    }
    snprintf(t.kind, sizeof t.kind, "%s", so->target_kind);
    if (t.gvkr.group[0])
        snprintf(t.api_version, sizeof t.api_version, "%s/%s", t.gvkr.group, t.gvkr.version);
    else
        snprintf(t.api_version, sizeof t.api_version, "%s", t.gvkr.version);
    e->workload_key[0] = '\0';
    snprintf(gr, sizeof gr, "%s/%s", t.gvkr.group, t.gvkr.resource);
    /* KEDA's probe: a kind not known scalable, or a status to write */
    need_scale =
        need_scale || !watch_map_get(&w->scalable, gr) || !target_status_current(e, so, &t);
    if (target_cached_kind(&t.gvkr)) {
        char key[WATCH_KEY_MAX];
        snprintf(key, sizeof key, "%s/%s/%s", t.gvkr.resource, so->ns, so->target_name);
        const watch_workload_t *wl = watch_map_get(&w->workloads, key);
        snprintf(e->workload_key, sizeof e->workload_key, "%s", key);
        if (wl) { /* the informer's count: no /scale needed */
            t.have_replicas = true;
            t.spec_replicas = wl->spec_replicas;
            need_scale = false;
        }
    }
    if (need_scale && (r = target_scale(w, e, so, &t, err)) < 0)
        return r;
    /* /scale answered, or the informer holds the Deployment or StatefulSet */
    if (t.have_replicas && watch_map_put(&w->scalable, gr, w, NULL) < 0)
        log_error(-ENOMEM, "could not remember that %s is scalable", gr);
    e->target = t.gvkr;
    e->target_known = true;
    *ret = t;
    return 0;
}

int watch_target_scale(watch_ctx_t *w, const so_t *so, const watch_target_t *t, int32_t n,
                       errtext_t *err)
{
    k8s_ref_t ref = {
        {t->gvkr.group, t->gvkr.version, t->gvkr.resource}, so->ns, so->target_name, "scale"};
    k8s_error_t kerr;
    char body[64];
    cJSON *patch;
    int r;

    snprintf(body, sizeof body, "{\"spec\":{\"replicas\":%d}}", n);
    if (!(patch = cJSON_Parse(body)))
        return -ENOMEM;
    r = watch_api_patch(w, &ref, patch, NULL, &kerr);
    cJSON_Delete(patch);
    if (r < 0)
        errtext_set(err, "could not scale %s/%s to %d: %s", so->ns, so->target_name, n,
                    target_text(&kerr, r));
    return r;
}
