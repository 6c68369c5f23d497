/*
 * watcher: `ckeda --role=watcher`, the only process that writes to Kubernetes. One thread, one
 * k8s_loop: the informers (cache.c) fill the caches and queue ScaledObjects; each loop turn
 * reconciles queued objects for a bounded slice (queue.c, reconcile.c), runs the scale loop for
 * the objects that are due or whose triggers rang the doorbell (scaleloop.c), publishes the
 * watcher block and rings the supervisor when trigger configurations changed.
 *
 * Invariants:
 * - Heartbeats at least once a second: the loop never sleeps longer, reconciles run in slices,
 *   and every synchronous request (5 s timeout, no Retry-After waits) heartbeats after it.
 * - Nothing is written to the table or to Kubernetes before every informer has listed once and
 *   the previous watcher's slots have been reconciled against what the lists returned.
 * - Exit 78 when the Kubernetes configuration named (--kubeconfig, KUBECONFIG, in-cluster)
 *   cannot be loaded; 1 when the client cannot be started. With no configuration at all (none
 *   named, no in-cluster account, no ~/.kube/config) the watcher runs detached: it heartbeats
 *   and leaves the table alone, and says so once.
 */
#include "watcher/watcher.h"

#include "common/fds.h"
#include "common/json.h"
#include "common/kubeconfig.h"
#include "common/log.h"
#include "watcher/watcher_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WATCH_STATS_PERIOD_MS 60000

/* ---- counted synchronous requests ---- */

void watch_heartbeat(watch_ctx_t *w)
{
    role_heartbeat(w->role);
}

static int watch_api_done(watch_ctx_t *w, const char *verb, const k8s_ref_t *ref, int r)
{
    w->api_requests++;
    watch_heartbeat(w);
    log_debug("%s %s %s/%s%s%s: %d", verb, ref->gvr.resource, ref->ns ? ref->ns : "",
              ref->name ? ref->name : "", ref->subresource ? "/" : "",
              ref->subresource ? ref->subresource : "", r);
    return r;
}

/* Writes only while this replica leads (leader.c): -EPERM otherwise. */
static int watch_api_refused(const watch_ctx_t *w, k8s_error_t *err)
{
    if (watch_writes_allowed(w))
        return 0;
    if (err) {
        memset(err, 0, sizeof *err);
        snprintf(err->message, sizeof err->message, "this replica does not hold the Lease");
    }
    return -EPERM;
}

int watch_api_get(watch_ctx_t *w, const k8s_ref_t *ref, cJSON **ret, k8s_error_t *err)
{
    return watch_api_done(w, "get", ref, k8s_get(w->client, ref, ret, err));
}

int watch_api_patch(watch_ctx_t *w, const k8s_ref_t *ref, const cJSON *patch, cJSON **ret,
                    k8s_error_t *err)
{
    char *body;
    int r;

    if ((r = watch_api_refused(w, err)) < 0)
        return r;
    if (!(body = jsonu_print(patch)))
        return -ENOMEM;
    r = k8s_patch(w->client, ref, K8S_PATCH_MERGE, body, ret, err);
    free(body);
    return watch_api_done(w, "patch", ref, r);
}

int watch_api_create(watch_ctx_t *w, const k8s_ref_t *ref, const cJSON *obj, cJSON **ret,
                     k8s_error_t *err)
{
    int r = watch_api_refused(w, err);
    return r < 0 ? r : watch_api_done(w, "create", ref, k8s_create(w->client, ref, obj, ret, err));
}

int watch_api_update(watch_ctx_t *w, const k8s_ref_t *ref, const cJSON *obj, cJSON **ret,
                     k8s_error_t *err)
{
    int r = watch_api_refused(w, err);
    return r < 0 ? r : watch_api_done(w, "update", ref, k8s_update(w->client, ref, obj, ret, err));
}

int watch_api_delete(watch_ctx_t *w, const k8s_ref_t *ref, const cJSON *options, k8s_error_t *err)
{
    int r = watch_api_refused(w, err);
    return r < 0 ? r : watch_api_done(w, "delete", ref, k8s_delete(w->client, ref, options, err));
}

/* ---- start-up ---- */

/* Whether any Kubernetes configuration is named or present where controller-runtime looks. */
static bool watch_configured(const cfg_t *cfg)
{
    const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
    char path[CFG_PATH_MAX];

    if (cfg->kubeconfig[0] || (env && *env) || getenv("KUBERNETES_SERVICE_HOST"))
        return true;
    if (!home || !*home)
        return false;
    snprintf(path, sizeof path, "%s/.kube/config", home);
    return access(path, F_OK) == 0;
}

static void watch_connect(watch_ctx_t *w)
{
    const cfg_t *cfg = w->cfg;
    k8s_client_opts_t opts = {
        .qps = cfg->kube_api_qps,
        .burst = (int)cfg->kube_api_burst,
        .timeout_ms = WATCH_REQUEST_TIMEOUT,
        .max_retries = -1, /* a Retry-After is waited out by the queue's backoff instead */
    };
    errtext_t err = {0};
    int r = kubeconfig_load_default(cfg->kubeconfig[0] ? cfg->kubeconfig : NULL,
                                    cfg->context[0] ? cfg->context : NULL, &w->kubeconfig, &err);

    if (r < 0) {
        log_error(r, "could not load the Kubernetes configuration: %s", err.text);
        exit(78);
    }
    if (!(w->client = k8s_client_new(w->kubeconfig, &opts)) ||
        !(w->loop = k8s_loop_new(w->client))) {
        log_error(-ENOMEM, "could not start the Kubernetes client");
        exit(1);
    }
    log_info("watching %s%s through %s (kube-api-qps %.1f, burst %u)",
             cfg->watch_namespace[0] ? "namespace " : "all namespaces", cfg->watch_namespace,
             w->kubeconfig->server, cfg->kube_api_qps, cfg->kube_api_burst);
}

/* ---- the watcher block ---- */

static void watch_count_not_ready(const char *key, void *value, void *ud)
{
    const watch_entry_t *e = value;
    *(uint32_t *)ud += e->ready == 0;
}

static void watch_publish(watch_ctx_t *w)
{
    shm_watcher_t b;

    if (w->ring_supervisor) {
        role_bell_ring(w->supervisor_bell);
        w->ring_supervisor = false;
    }
    if (!w->block_dirty)
        return;
    memset(&b, 0, sizeof b);
    b.flags = SHM_F_VALID;
    b.pid = (int32_t)getpid();
    b.leader = w->leader;
    snprintf(b.holder, sizeof b.holder, "%s", w->lease ? watch_leader_holder(w) : w->identity);
    b.synced = w->synced;
    b.synced_mono_ms = w->synced_mono_ms;
    b.last_relist_real_ms = w->last_relist_real_ms;
    b.scaledobjects = w->mirrored;
    b.triggers = w->mirrored_triggers;
    watch_map_each(&w->sos, watch_count_not_ready, &b.errors);
    watch_map_each(&w->sjs, watch_count_not_ready, &b.errors);
    shm_watcher_write(w->table, &b);
    w->block_dirty = false;
}

/* Once a minute: what this watcher asked of the API server (benchmarks read it). */
static void watch_stats(watch_ctx_t *w, uint64_t *last_ms, uint64_t *last_req, uint64_t *last_lw)
{
    uint64_t now = shm_now_mono_ms(), lw = 0;
    k8s_informer_stats_t st;

    if (now - *last_ms < WATCH_STATS_PERIOD_MS)
        return;
    for (int i = 0; i < WATCH_INF_COUNT; i++) {
        k8s_informer_stats(w->inf[i], &st);
        lw += st.lists + st.watches;
    }
    log_info("API requests in the last %llu s: %llu (%llu reads and writes, %llu lists and "
             "watches); %u ScaledObjects, %u triggers in the table",
             (unsigned long long)((now - *last_ms) / 1000),
             (unsigned long long)(w->api_requests - *last_req + lw - *last_lw),
             (unsigned long long)(w->api_requests - *last_req), (unsigned long long)(lw - *last_lw),
             w->mirrored, w->mirrored_triggers);
    *last_ms = now;
    *last_req = w->api_requests;
    *last_lw = lw;
}

/* ---- main loop ---- */

/* One turn's work once synced: reconciles (mirror-only while not leading), then, as leader, the
 * janitor, the scale loop and the Events, in that order (an HPA is created before the Events
 * that tell of it). Returns how long the loop may sleep. */
static int watch_turn(watch_ctx_t *w, bool bell, int sleep_ms)
{
    int r = watch_queue_run(w, WATCH_QUEUE_SLICE_MS);

    sleep_ms = r < sleep_ms ? r : sleep_ms;
    if (!watch_writes_allowed(w))
        return sleep_ms;
    watch_janitor_run(w, WATCH_QUEUE_SLICE_MS / 4);
    if (bell)
        watch_scaleloop_bell(w);
    r = watch_scaleloop_run(w);
    sleep_ms = r < sleep_ms ? r : sleep_ms;
    r = watch_sjloop_run(w);
    sleep_ms = r < sleep_ms ? r : sleep_ms;
    if (watch_events_flush(w->events, w, WATCH_QUEUE_SLICE_MS) > 0)
        sleep_ms = 0;
    return sleep_ms;
}

static int watch_run(watch_ctx_t *w)
{
    struct pollfd pfd[ROLE_POLLFDS + 2];
    uint64_t stats_ms = shm_now_mono_ms(), stats_req = 0, stats_lw = 0;
    int sleep_ms = 1000, r;
    bool bell;

    for (;;) {
        role_pollfds(pfd);
        pfd[ROLE_POLLFDS] = (struct pollfd){.fd = FD_OWN_BELL, .events = POLLIN};
        pfd[ROLE_POLLFDS + 1] = (struct pollfd){.fd = FD_WATCHER_BELL, .events = POLLIN};
        if ((r = k8s_loop_run_once(w->loop, pfd, ROLE_POLLFDS + 2, sleep_ms)) < 0) {
            log_error(r, "the Kubernetes event loop failed");
            return 1;
        }
        if (!role_pollfds_check(pfd))
            return 0;
        if (pfd[ROLE_POLLFDS].revents)
            role_bell_drain(FD_OWN_BELL);
        if ((bell = pfd[ROLE_POLLFDS + 1].revents != 0))
            role_bell_drain(FD_WATCHER_BELL); /* a trigger's activity changed */
        watch_heartbeat(w);
        sleep_ms = watch_leader_tick(w);
        r = watch_certs_tick(w);
        sleep_ms = r < sleep_ms ? r : sleep_ms;
        if (w->synced && w->adopted)
            sleep_ms = watch_turn(w, bell, sleep_ms);
        watch_publish(w);
        watch_stats(w, &stats_ms, &stats_req, &stats_lw);
    }
}

/* No cluster configured: heartbeat until told to stop, the table untouched. */
static int watch_detached(watch_ctx_t *w)
{
    int bells[2] = {FD_OWN_BELL, FD_WATCHER_BELL};
    bool ready;

    log_warning(0, "no Kubernetes configuration (--kubeconfig, KUBECONFIG, an in-cluster service "
                   "account or ~/.kube/config): not watching Kubernetes");
    watch_publish(w);
    while (role_wait(w->role, bells, 2, 1000, &ready)) {
        if (ready) {
            role_bell_drain(FD_OWN_BELL);
            role_bell_drain(FD_WATCHER_BELL);
        }
        watch_heartbeat(w);
    }
    return 0;
}

static void watch_free_value(void *v)
{
    cJSON_Delete(v);
}

static void watch_free_entry(void *v)
{
    watch_entry_free(v);
}

static void watch_cleanup(watch_ctx_t *w)
{
    watch_events_done(w->events);
    w->loop = k8s_loop_free(w->loop);
    w->client = k8s_client_free(w->client);
    w->kubeconfig = kubeconfig_free(w->kubeconfig);
    watch_map_done(&w->sos, watch_free_entry);
    watch_map_done(&w->auths, watch_free_value);
    watch_map_done(&w->hpas, watch_free_value);
    watch_map_done(&w->workloads, free);
    watch_map_done(&w->scalable, NULL);
    watch_map_done(&w->sjs, watch_free_entry);
    watch_map_done(&w->jobs, watch_free_value);
    watch_map_done(&w->jobpods, watch_free_value);
    watch_map_done(&w->eventsources, watch_free_value);
    watch_map_done(&w->janitor_pending, NULL);
    watch_queue_done(&w->janitor);
    watch_queue_done(&w->queue);
    watch_queue_done(&w->delayed);
    watch_mirror_done(w);
}

int watch_main(int argc, char **argv)
{
    role_ctx_t role;
    watch_ctx_t *w = calloc(1, sizeof *w);
    int code;

    role_init(&role, argc, argv);
    if (!w) {
        log_error(-ENOMEM, "could not start");
        return 1;
    }
    w->role = &role;
    w->cfg = &role.cfg;
    w->table = role.table;
    w->blob_dir = FD_BLOBS;
    w->supervisor_bell = FD_SUPERVISOR_BELL;
    w->block_dirty = true;
    watch_map_init(&w->sos);
    watch_map_init(&w->auths);
    watch_map_init(&w->hpas);
    watch_map_init(&w->workloads);
    watch_map_init(&w->scalable);
    watch_map_init(&w->sjs);
    watch_map_init(&w->jobs);
    watch_map_init(&w->jobpods);
    watch_map_init(&w->eventsources);
    watch_map_init(&w->janitor_pending);
    if (watch_mirror_init(w) < 0) {
        log_error(-ENOMEM, "could not start");
        return 1;
    }
    if (!watch_configured(w->cfg)) {
        code = watch_detached(w);
    } else {
        watch_connect(w);
        w->events = watch_events_init();
        if (watch_leader_start(w) < 0)
            return 1;
        if (watch_informers_start(w) < 0) {
            log_error(-ENOMEM, "could not start the informers");
            return 1;
        }
        code = watch_run(w);
        watch_leader_stop(w);
    }
    watch_cleanup(w);
    free(w);
    role_done(&role);
    return code;
}
