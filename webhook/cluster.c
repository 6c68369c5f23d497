/*
 * cluster: the cluster state behind KEDA's cross-object ScaledObject rules (webhook process;
 * the informer runs on a thread of its own, validations read from the validation threads).
 *
 * - ScaledObjects come from the shared-memory table (the watcher's mirror of what it serves):
 *   namespace, name, uid and scale target of each slot. The table has no creationTimestamp, so
 *   every object in it counts as older than the one under review (what is stored was created
 *   before what is being admitted, which is how KEDA sees it too), and no
 *   spec.advanced.horizontalPodAutoscalerConfig.name: the HPA name of a stored object is the
 *   name of the HPA it owns (from the informer), else keda-hpa-<name>.
 * - HorizontalPodAutoscalers come from an informer of the webhook's own (the watch namespace,
 *   kubeconfig as the watcher loads it), stripped to name, namespace, uid, owners, annotations,
 *   deletionTimestamp and scaleTargetRef, kept in a map under a mutex. A validation copies its
 *   namespace's HPAs out under the mutex and works on the copies.
 * Without a kubeconfig there is no informer and the HPA rule is skipped (logged once).
 */
#include "webhook/wh_internal.h"

#include "common/config.h"
#include "common/json.h"
#include "common/k8s.h"
#include "common/kubeconfig.h"
#include "common/log.h"
#include "shm/shm.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct wh_cluster {
    shm_table_t *table;
    uint32_t max_so;
    /* the informer thread; loop, client and informer belong to it once started */
    kubeconfig_t *kubeconfig;
    k8s_client_t *client;
    k8s_loop_t *loop;
    k8s_informer_t *hpa_inf;
    pthread_t thread;
    bool running;
    int stop_fd;
    atomic_bool synced;
    pthread_mutex_t lock;
    cJSON *hpas; /* object: "ns/name" -> stripped HPA; under lock */
};

/* ---- the HPA informer ---------------------------------------------------------------------- */

static void cluster_hpa_strip(cJSON *obj, void *ud)
{
    static const char *const keep[] = {
        "metadata.name",        "metadata.namespace",       "metadata.uid",
        "metadata.annotations", "metadata.ownerReferences", "metadata.deletionTimestamp",
        "spec.scaleTargetRef",
    };
    jsonu_prune(obj, keep, sizeof keep / sizeof keep[0]);
}

static void cluster_hpa_event(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj,
                              bool final_state_unknown, void *ud)
{
    wh_cluster_t *c = ud;
    char key[SHM_NS_MAX + SHM_NAME_MAX + 2];
    const cJSON *ns = jsonu_lookup(obj, "metadata.namespace");
    const cJSON *name = jsonu_lookup(obj, "metadata.name");
    cJSON *copy = NULL;

    if (!cJSON_IsString(ns) || !cJSON_IsString(name))
        return;
    snprintf(key, sizeof key, "%s/%s", ns->valuestring, name->valuestring);
    if (type != K8S_EVENT_DELETED && !(copy = cJSON_Duplicate(obj, true)))
        log_warning(-ENOMEM, "cannot keep HPA %s", key);
    pthread_mutex_lock(&c->lock);
    cJSON_DeleteItemFromObjectCaseSensitive(c->hpas, key);
    if (copy)
        cJSON_AddItemToObject(c->hpas, key, copy);
    pthread_mutex_unlock(&c->lock);
}

static void cluster_hpa_synced(k8s_informer_t *inf, void *ud)
{
    wh_cluster_t *c = ud;
    if (!atomic_exchange(&c->synced, true))
        log_info("HorizontalPodAutoscalers listed");
}

static void cluster_hpa_error(k8s_informer_t *inf, int err, const k8s_error_t *detail, void *ud)
{
    log_info("watching HorizontalPodAutoscalers failed: %s", detail ? detail->message : "");
}

static void *cluster_thread(void *arg)
{
    wh_cluster_t *c = arg;

    for (;;) {
        struct pollfd pfd = {.fd = c->stop_fd, .events = POLLIN};
        int r = k8s_loop_run_once(c->loop, &pfd, 1, 1000);
        if (pfd.revents)
            break;
        if (r < 0) {
            log_warning(r, "the HPA informer's loop failed");
            usleep(100000);
        }
    }
    return NULL;
}

static int cluster_start(wh_cluster_t *c, const cfg_t *cfg)
{
    k8s_client_opts_t opts = {.qps = cfg->kube_api_qps, .burst = (int)cfg->kube_api_burst};
    errtext_t err = {0};
    int r = kubeconfig_load_default(cfg->kubeconfig[0] ? cfg->kubeconfig : NULL,
                                    cfg->context[0] ? cfg->context : NULL, &c->kubeconfig, &err);

    if (r < 0) {
        log_warning(r, "no Kubernetes configuration (%s): the rule on foreign HPAs is skipped",
                    err.text);
        return 0;
    }
    k8s_informer_opts_t io = {
        .gvr = K8S_GVR_HPAS,
        .ns = cfg->watch_namespace,
        .ops = {.strip = cluster_hpa_strip,
                .on_event = cluster_hpa_event,
                .on_synced = cluster_hpa_synced,
                .on_error = cluster_hpa_error},
        .userdata = c,
    };
    if (!(c->client = k8s_client_new(c->kubeconfig, &opts)) ||
        !(c->loop = k8s_loop_new(c->client)) || !(c->hpa_inf = k8s_informer_new(c->loop, &io)))
        return log_error(-ENOMEM, "cannot start the HPA informer");
    if ((c->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        return log_error(-errno, "eventfd");
    if ((r = pthread_create(&c->thread, NULL, cluster_thread, c)) != 0)
        return log_error(-r, "cannot start the HPA informer thread");
    c->running = true;
    log_info("watching HorizontalPodAutoscalers in %s through %s",
             cfg->watch_namespace[0] ? cfg->watch_namespace : "all namespaces",
             c->kubeconfig->server);
    return 0;
}

wh_cluster_t *wh_cluster_new(shm_table_t *table, const cfg_t *cfg)
{
    wh_cluster_t *c = calloc(1, sizeof *c);
    shm_header_info_t hi;

    if (!c)
        return NULL;
    c->table = table;
    c->stop_fd = -1;
    shm_header_get(table, &hi);
    c->max_so = hi.caps.max_so;
    pthread_mutex_init(&c->lock, NULL);
    if (!(c->hpas = cJSON_CreateObject()) || cluster_start(c, cfg) < 0) {
        wh_cluster_free(c);
        return NULL;
    }
    return c;
}

void wh_cluster_free(wh_cluster_t *c)
{
    if (!c)
        return;
    if (c->running) {
        uint64_t one = 1;
        if (write(c->stop_fd, &one, sizeof one) < 0)
            log_warning(-errno, "cannot stop the HPA informer thread");
        pthread_join(c->thread, NULL);
    }
    k8s_loop_free(c->loop); /* frees its informers */
    k8s_client_free(c->client);
    kubeconfig_free(c->kubeconfig);
    if (c->stop_fd >= 0)
        close(c->stop_fd);
    cJSON_Delete(c->hpas);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

bool wh_cluster_synced(wh_cluster_t *c)
{
    return !c->running || atomic_load(&c->synced);
}

/* ---- one validation's view ----------------------------------------------------------------- */

/* The namespace's HPAs, copied out under the lock. */
static cJSON *view_hpas(wh_cluster_view_t *v, const char *ns)
{
    cJSON *out = cJSON_CreateArray(), *h;

    if (!out || !v->c->running)
        return out;
    pthread_mutex_lock(&v->c->lock);
    cJSON_ArrayForEach(h, v->c->hpas)
    {
        const cJSON *hns = jsonu_lookup(h, "metadata.namespace");
        cJSON *copy;
        if (cJSON_IsString(hns) && strcmp(hns->valuestring, ns) == 0 &&
            (copy = cJSON_Duplicate(h, true)))
            cJSON_AddItemToArray(out, copy);
    }
    pthread_mutex_unlock(&v->c->lock);
    return out;
}

/* The name of the HPA that ScaledObject so_name owns, from the informer, or NULL. */
static const char *view_owned_hpa(const cJSON *hpas, const char *so_name)
{
    const cJSON *h, *ref;

    cJSON_ArrayForEach(h, hpas)
    {
        const cJSON *refs = jsonu_lookup(h, "metadata.ownerReferences");
        if (!cJSON_IsArray(refs))
            continue;
        cJSON_ArrayForEach(ref, refs)
        {
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(ref, "kind");
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(ref, "name");
            if (cJSON_IsString(k) && strcmp(k->valuestring, "ScaledObject") == 0 &&
                cJSON_IsString(n) && strcmp(n->valuestring, so_name) == 0) {
                const cJSON *hn = jsonu_lookup(h, "metadata.name");
                return cJSON_IsString(hn) ? hn->valuestring : NULL;
            }
        }
    }
    return NULL;
}

/* A table slot as the ScaledObject validate expects. */
static cJSON *view_so_json(const shm_so_spec_t *s, const cJSON *hpas)
{
    cJSON *o = cJSON_CreateObject(), *md, *spec, *ref;
    const char *hpa = view_owned_hpa(hpas, s->name);

    if (!o || !cJSON_AddStringToObject(o, "apiVersion", "keda.sh/v1alpha1") ||
        !cJSON_AddStringToObject(o, "kind", "ScaledObject") ||
        !(md = cJSON_AddObjectToObject(o, "metadata")) ||
        !cJSON_AddStringToObject(md, "name", s->name) ||
        !cJSON_AddStringToObject(md, "namespace", s->ns) ||
        !cJSON_AddStringToObject(md, "uid", s->uid) ||
        !cJSON_AddStringToObject(md, "creationTimestamp", "1970-01-01T00:00:00Z") ||
        !(spec = cJSON_AddObjectToObject(o, "spec")) ||
        !(ref = cJSON_AddObjectToObject(spec, "scaleTargetRef")) ||
        !cJSON_AddStringToObject(ref, "apiVersion", s->target_api_version) ||
        !cJSON_AddStringToObject(ref, "kind", s->target_kind) ||
        !cJSON_AddStringToObject(ref, "name", s->target_name)) {
        cJSON_Delete(o);
        return NULL;
    }
    if (hpa) {
        cJSON *adv = cJSON_AddObjectToObject(spec, "advanced");
        cJSON *hc = adv ? cJSON_AddObjectToObject(adv, "horizontalPodAutoscalerConfig") : NULL;
        if (hc)
            cJSON_AddStringToObject(hc, "name", hpa);
    }
    return o;
}

static cJSON *view_sos(wh_cluster_view_t *v, const char *ns)
{
    cJSON *out = cJSON_CreateArray(), *hpas = view_hpas(v, ns);
    shm_so_spec_t *s = malloc(sizeof *s);

    for (uint32_t i = 0; out && hpas && s && i < v->c->max_so; i++) {
        cJSON *o;
        if (shm_so_spec_read(v->c->table, i, s) != 0 || !(s->flags & SHM_F_VALID) ||
            strcmp(s->ns, ns) != 0)
            continue;
        if ((o = view_so_json(s, hpas)))
            cJSON_AddItemToArray(out, o);
    }
    free(s);
    cJSON_Delete(hpas);
    return out;
}

static void view_each_so(void *ud, const char *ns, void (*fn)(const cJSON *so, void *arg),
                         void *arg)
{
    wh_cluster_view_t *v = ud;
    const cJSON *o;

    if (!v->sos || strcmp(v->ns ? v->ns : "", ns) != 0) {
        cJSON_Delete(v->sos);
        v->sos = view_sos(v, ns);
        v->ns = ns;
    }
    cJSON_ArrayForEach(o, v->sos) fn(o, arg);
}

static void view_each_hpa(void *ud, const char *ns, void (*fn)(const cJSON *hpa, void *arg),
                          void *arg)
{
    wh_cluster_view_t *v = ud;
    cJSON *hpas = view_hpas(v, ns);
    const cJSON *h;

    cJSON_ArrayForEach(h, hpas) fn(h, arg);
    /* validate keeps pointers to matching HPAs after the call: free them with the view */
    if (hpas && !(v->keep || (v->keep = cJSON_CreateArray())))
        cJSON_Delete(hpas);
    else if (hpas && !cJSON_AddItemToArray(v->keep, hpas))
        cJSON_Delete(hpas);
}

void wh_cluster_view_init(wh_cluster_t *c, wh_cluster_view_t *view, validate_cluster_t *ret)
{
    *view = (wh_cluster_view_t){.c = c};
    *ret = (validate_cluster_t){
        .ud = view,
        .each_scaledobject = view_each_so,
        .each_hpa = c->running ? view_each_hpa : NULL,
    };
}

void wh_cluster_view_done(wh_cluster_view_t *view)
{
    cJSON_Delete(view->sos);
    cJSON_Delete(view->keep);
    view->sos = view->keep = NULL;
}
