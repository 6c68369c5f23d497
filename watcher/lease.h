/*
 * lease: leader election for the watcher, on the coordination.k8s.io/v1 Lease KEDA uses
 * (`--leader-election-id`, default operator.keda.sh, in the pod namespace), with client-go's
 * rules (tools/leaderelection), so ckeda and KEDA replicas exclude each other on one Lease.
 *
 * Runs in the watcher process, on its one thread. Two parts:
 * - a pure part (watch_lease_observe, watch_lease_decide, watch_lease_deadline_passed,
 *   watch_lease_parse, watch_lease_object): decisions from explicit times, no I/O;
 * - the I/O part (watch_lease_t): its own k8s client (a separate connection, no rate limit,
 *   short timeouts), so a renewal never waits behind the watcher's other requests.
 *
 * Rules (client-go's):
 * - Expiry is judged by the local monotonic time at which the record (holder, duration,
 *   acquireTime, renewTime, transitions) was last seen to change, plus the record's
 *   leaseDurationSeconds; the holder's renewTime is never compared with our clock.
 * - A Lease that names us is renewed at once, keeping acquireTime and leaseTransitions (a
 *   restarted watcher under the same supervisor has the same identity and leads without
 *   waiting). An empty holder (released) is taken at once; a foreign holder only after expiry.
 *   Taking it writes acquireTime = renewTime = now and leaseTransitions + 1.
 * - Every write is an update of the version read (or of the version our last write returned),
 *   so two candidates racing for the same Lease cannot both win: the loser gets a Conflict.
 * - Release (client-go's ReleaseOnCancel) writes holderIdentity "", leaseDurationSeconds 1,
 *   acquireTime = renewTime = now, leaseTransitions unchanged.
 * Differences, both on the safe side: leadership ends when no renewal has succeeded for the
 * renew deadline counted from the last success (client-go counts from the first retry, one retry
 * period later); a leader that reads a record naming another holder stops leading at once.
 * leaseDurationSeconds is the lease duration rounded up to whole seconds.
 *
 * What the caller (watcher.c) must do:
 * - Create it after the kubeconfig is loaded, when leader election is on (cfg leader_elect);
 *   with leader election off it is always leader and needs no watch_lease_t.
 * - Call watch_lease_tick first thing at start-up (before any write to Kubernetes), then again
 *   when the returned delay has passed (use it as an upper bound of the loop's poll timeout).
 *   A tick makes at most three requests, each bounded by about the retry period.
 * - After every tick, act on *ret_leader: true -> may write to Kubernetes until the next tick;
 *   false -> stop writing at once (reconciles, the scale loop, status, HPAs, Events) and keep
 *   reading, mirroring and ticking. Publish watch_lease_holder() and the flag in the watcher block.
 *   The delay returned never reaches past the renew deadline, so a loop that ticks on time never
 *   writes after it; a loop that may run late (a long reconcile slice, a slow request) also asks
 *   watch_lease_is_leader(l, now) before each write.
 * - On SIGTERM: stop writing, then watch_lease_release (a leader hands the Lease over at once
 *   instead of making the others wait a lease duration), then watch_lease_free.
 */
#ifndef CKEDA_WATCHER_LEASE_H
#define CKEDA_WATCHER_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/kubeconfig.h"
#include "shm/shm.h"

/* Holder identities. A longer holderIdentity read from the API is truncated to this minus one
 * byte; our own identity is always shorter, so a truncated holder never equals it. */
#define WATCH_LEASE_HOLDER_MAX 320
/* A MicroTime text "2006-01-02T15:04:05.000000Z" and its offset forms. */
#define WATCH_LEASE_TIME_MAX 40
/* The foreign-holder warning is repeated at most this often. */
#define WATCH_LEASE_WARN_EVERY_MS 60000

typedef struct watch_lease_timing {
    uint32_t lease_duration_ms; /* how long others wait after our last renewal (KEDA: 15 s) */
    uint32_t renew_deadline_ms; /* we stop leading after failing to renew this long (10 s) */
    uint32_t retry_period_ms;   /* between attempts, leading or not (2 s) */
} watch_lease_timing_t;

/* ---- the pure part ---- */

/* A Lease's spec as read (client-go's LeaderElectionRecord). Absent fields are "" and 0. */
typedef struct watch_lease_record {
    char holder[WATCH_LEASE_HOLDER_MAX];     /* "" nobody (released or never held) */
    int32_t duration_s;                      /* leaseDurationSeconds */
    char acquire_time[WATCH_LEASE_TIME_MAX]; /* as read; "" if absent or too long */
    char renew_time[WATCH_LEASE_TIME_MAX];
    int32_t transitions; /* leaseTransitions */
} watch_lease_record_t;

/* The record last seen and the local time it last changed (client-go's observedRecord and
 * observedTime). Zero-initialise. */
typedef struct watch_lease_observed {
    bool have;
    watch_lease_record_t rec;
    uint64_t since_mono_ms;
} watch_lease_observed_t;

/* Takes a record just read or written: since_mono_ms moves to now only if it differs from the
 * one held. Returns true if it changed. */
bool watch_lease_observe(watch_lease_observed_t *obs, const watch_lease_record_t *rec,
                         uint64_t now_mono_ms);

typedef enum {
    WATCH_LEASE_CREATE, /* no Lease: create it naming us */
    WATCH_LEASE_RENEW,  /* it names us: update renewTime, keep acquireTime and transitions */
    WATCH_LEASE_TAKE,   /* empty holder or expired: update naming us, transitions + 1 */
    WATCH_LEASE_FOLLOW, /* another holder, unexpired: write nothing */
} watch_lease_verdict_t;

typedef struct watch_lease_decision {
    watch_lease_verdict_t verdict;
    uint64_t expires_mono_ms;    /* FOLLOW: observed time + the holder's duration */
    watch_lease_record_t record; /* CREATE, RENEW, TAKE: the spec to write */
} watch_lease_decision_t;

/* client-go's tryAcquireOrRenew after the read. read is the Lease as read (NULL: it does not
 * exist); observed_mono_ms is when that record was first seen in this form (see
 * watch_lease_observe); now_real_us (CLOCK_REALTIME, microseconds) is only written into
 * acquireTime / renewTime. */
void watch_lease_decide(const watch_lease_record_t *read, uint64_t observed_mono_ms,
                        const char *identity, const watch_lease_timing_t *t, uint64_t now_mono_ms,
                        uint64_t now_real_us, watch_lease_decision_t *ret);

/* The record a release writes (see the rules above). */
void watch_lease_release_record(const watch_lease_record_t *held, uint64_t now_real_us,
                                watch_lease_record_t *ret);

/* True when a leader whose last successful renewal started at last_renew_mono_ms must stop. */
bool watch_lease_deadline_passed(uint64_t last_renew_mono_ms, uint64_t now_mono_ms,
                                 const watch_lease_timing_t *t);

/* A Lease object's spec -> record; ret_rv (may be NULL) receives metadata.resourceVersion.
 * -EBADMSG if lease is not an object or a spec field has the wrong JSON type. */
int watch_lease_parse(const cJSON *lease, watch_lease_record_t *ret, char *ret_rv, size_t rv_cap);

/* The object to create (base NULL: a new Lease ns/name) or to update (base: the Lease as last
 * read or written, keeping its metadata and resourceVersion; managedFields dropped, which the
 * server reads as "unchanged"). NULL on allocation failure. */
cJSON *watch_lease_object(const cJSON *base, const char *ns, const char *name,
                          const watch_lease_record_t *rec);

/* "<pod name>_<32 hex digits of the table header's nonce>": $POD_NAME, else the hostname. The
 * supervisor draws the nonce at each start, so a restarted watcher keeps its identity and
 * another pod (or a restarted one) gets a new one. -ENAMETOOLONG if cap is too small (cap
 * WATCH_LEASE_HOLDER_MAX always suffices), -EINVAL if no name is available. */
int watch_lease_identity(const shm_table_t *t, char *buf, size_t cap);
/* The same from explicit parts (for tests). */
int watch_lease_identity_format(const char *pod, const uint8_t nonce[16], char *buf, size_t cap);

/* ---- the I/O part ---- */

typedef struct watch_lease watch_lease_t;

/* kc is borrowed and must outlive the lease. From the configuration: ns = pod-namespace,
 * name = leader-election-id, t = the leader-election-* durations, identity from
 * watch_lease_identity. t must satisfy client-go's rules (cfg_validate checks them). Strings
 * are copied. NULL if memory or libcurl fails, or an argument is bad
 * (logged). Makes no request. */
watch_lease_t *watch_lease_new(kubeconfig_t *kc, const char *ns, const char *name,
                               const char *identity, const watch_lease_timing_t *t);
/* One attempt to acquire or renew. *ret_leader: whether we may write to Kubernetes now. Returns
 * the delay in ms, counted from the return, until the next tick wanted (the retry period, or
 * less when the renew deadline is nearer). now_mono_ms is CLOCK_MONOTONIC in ms (as
 * shm_now_mono_ms); time spent inside the tick is added to it. Logs transitions (acquired, lost) at
 * info, a foreign holder at warning. */
int watch_lease_tick(watch_lease_t *l, uint64_t now_mono_ms, bool *ret_leader);
/* If the Lease still names us, writes the release. 0 (also when there was nothing to release),
 * or -errno (logged). Afterwards the lease reports not-leader until the next tick. At most two
 * reads and two updates (a Conflict with a renewal in flight is read again once), each bounded
 * by the request timeout (the retry period, at least 1 s, at most half the renew deadline):
 * with KEDA's defaults under 8 s, inside the supervisor's grace period. */
int watch_lease_release(watch_lease_t *l);
/* The holder last seen ("" if none or not read yet); valid until the next call. */
const char *watch_lease_holder(const watch_lease_t *l);
/* Whether a write may start now: we lead and the renew deadline has not passed at now_mono_ms.
 * No I/O; cheap enough to ask before every write, which covers a loop turn that runs late. */
bool watch_lease_is_leader(const watch_lease_t *l, uint64_t now_mono_ms);
/* Accepts NULL; returns NULL. Does not release. */
watch_lease_t *watch_lease_free(watch_lease_t *l);

#endif
