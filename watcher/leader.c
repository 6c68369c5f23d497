/*
 * leader: whether this watcher may write to Kubernetes, on the watcher's thread (DESIGN.md,
 * "High availability"). Every replica mirrors ScaledObjects into its own table (its adapters
 * serve from it); only the Lease holder (lease.c) writes: finalizers, HPAs, /scale, status,
 * Events. Without leader election (leader-elect false) this replica always writes.
 *
 * - A replica that gains the Lease reconciles every object at once (a follower's reconciles
 *   wrote nothing); one that loses it stops writing at the next check.
 * - watch_writes_allowed() is asked before each write (watch_api_* refuse with -EPERM when it
 *   says no), so a loop turn that runs late never writes past the renew deadline.
 * - The identity is the pod name and the table's nonce (lease.h), so a watcher the supervisor
 *   restarts resumes the Lease at once, and a new pod (a new table) is a new candidate.
 */
#include "watcher/lease.h"
#include "watcher/watcher_internal.h"

#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int watch_leader_start(watch_ctx_t *w)
{
    const cfg_t *c = w->cfg;
    watch_lease_timing_t t = {c->leader_election_lease_duration_ms,
                              c->leader_election_renew_deadline_ms,
                              c->leader_election_retry_period_ms};
    char id[WATCH_LEASE_HOLDER_MAX];
    int r;

    if (!c->leader_elect) {
        w->leader = true;
        log_info("leader election is off: this replica writes to Kubernetes");
        return 0;
    }
    if ((r = watch_lease_identity(w->table, id, sizeof id)) < 0) {
        log_error(r, "no identity for the Lease (neither POD_NAME nor a hostname)");
        return r;
    }
    snprintf(w->identity, sizeof w->identity, "%s", id);
    w->lease = watch_lease_new(w->kubeconfig, c->pod_namespace, c->leader_election_id, id, &t);
    if (!w->lease) {
        log_error(-ENOMEM, "could not start leader election");
        return -ENOMEM;
    }
    log_info("leader election on Lease %s/%s as %s", c->pod_namespace, c->leader_election_id, id);
    return 0;
}

static void leader_requeue(const char *key, void *value, void *ud)
{
    watch_enqueue(ud, value);
}

int watch_leader_tick(watch_ctx_t *w)
{
    uint64_t now = shm_now_mono_ms();
    bool leader = false;
    int ms;

    if (!w->lease)
        return 1000;
    if (now < w->lease_due_ms)
        return (int)(w->lease_due_ms - now);
    ms = watch_lease_tick(w->lease, now, &leader);
    watch_heartbeat(w);
    w->lease_due_ms = shm_now_mono_ms() + (uint64_t)ms;
    if (leader != w->leader) {
        w->leader = leader;
        w->block_dirty = true;
        if (leader) /* what a follower left unwritten */
            watch_map_each(&w->sos, leader_requeue, w);
    }
    return ms;
}

bool watch_writes_allowed(const watch_ctx_t *w)
{
    if (!w->lease)
        return w->leader;
    return w->leader && watch_lease_is_leader(w->lease, shm_now_mono_ms());
}

const char *watch_leader_holder(const watch_ctx_t *w)
{
    return w->lease ? watch_lease_holder(w->lease) : "";
}

void watch_leader_stop(watch_ctx_t *w)
{
    if (!w->lease)
        return;
    w->leader = false;
    watch_lease_release(w->lease);
    w->lease = watch_lease_free(w->lease);
}
