/*
 * watcher_internal: what the watcher's files share. Everything here runs on the watcher's one
 * thread: informer callbacks, the work queue and the reconciles all happen inside its main loop.
 *
 * Ownership:
 * - The caches (ScaledObjects, TriggerAuthentications, ClusterTriggerAuthentications, HPAs,
 *   Deployment/StatefulSet replica counts) hold what the informers delivered; a reconcile also
 *   stores what an API write returned so the next step works on the newest version.
 * - The mirror (mirror.c) is the only code that writes ScaledObject and trigger slots, config
 *   blobs and the index; the watcher block is written by watcher.c.
 * - cfg_gen values come from one per-process counter seeded from the real-time clock, so a
 *   restarted watcher never hands out a generation its predecessor used.
 */
#ifndef CKEDA_WATCHER_INTERNAL_H
#define CKEDA_WATCHER_INTERNAL_H

#include "common/config.h"
#include "common/errtext.h"
#include "common/k8s.h"
#include "common/role.h"
#include "shm/shm.h"
#include "watcher/decide.h"
#include "watcher/events.h"
#include "common/scaledjob.h"
#include "common/scaledobject.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#define WATCH_FINALIZER       "finalizer.keda.sh"
#define WATCH_SO_LABEL        "scaledobject.keda.sh/name"
#define WATCH_KEY_MAX         (SHM_NS_MAX + SHM_NAME_MAX + 16)
#define WATCH_RV_MAX          64
#define WATCH_WRITTEN_RVS     4
#define WATCH_RETRY_MIN_MS    1000
#define WATCH_RETRY_MAX_MS    300000
#define WATCH_REQUEST_TIMEOUT 5000 /* ms; well under the supervisor's watchdog */
#define WATCH_QUEUE_SLICE_MS  200  /* reconcile at most this long before serving the loop */
#define WATCH_MESSAGE_MAX     1024

/* KEDA's eventing CRDs; ckeda watches them (for KEDA's finalizer) only where they are installed */
#define WATCH_GVR_CLOUDEVENTSOURCES                                                                \
    {                                                                                              \
        "eventing.keda.sh", "v1alpha1", "cloudeventsources"                                        \
    }
#define WATCH_GVR_CLUSTERCLOUDEVENTSOURCES                                                         \
    {                                                                                              \
        "eventing.keda.sh", "v1alpha1", "clustercloudeventsources"                                 \
    }

/* ---- map.c: string keys to pointers, keyed hashing (names are user-chosen) ---- */

typedef struct watch_map_node {
    struct watch_map_node *next;
    void *value;
    char key[];
} watch_map_node_t;

typedef struct watch_map {
    watch_map_node_t **buckets;
    size_t nbuckets; /* a power of two, 0 before the first insert */
    size_t count;
    uint8_t key[16]; /* SipHash key, random per process */
} watch_map_t;

void watch_map_init(watch_map_t *m);
/* Frees every node, calling free_value on each value (may be NULL). */
void watch_map_done(watch_map_t *m, void (*free_value)(void *));
void *watch_map_get(const watch_map_t *m, const char *key);
/* Inserts or replaces; *ret_old (may be NULL) receives a replaced value. -ENOMEM. */
int watch_map_put(watch_map_t *m, const char *key, void *value, void **ret_old);
/* Removes and returns the value (NULL if absent). */
void *watch_map_del(watch_map_t *m, const char *key);
/* Calls fn for each value; fn must not insert or remove. */
void watch_map_each(const watch_map_t *m, void (*fn)(const char *key, void *value, void *ud),
                    void *ud);

/* ---- the watcher's state ---- */

enum {
    WATCH_INF_SO,
    WATCH_INF_TA,
    WATCH_INF_CTA,
    WATCH_INF_HPA,
    WATCH_INF_DEPLOY,
    WATCH_INF_STS,
    WATCH_INF_SJ,
    WATCH_INF_AWAITED, /* the informers above are listed before the first reconcile; those below
                        * only hold the ScaledJob loop back (ScaledObjects never wait for them) */
    WATCH_INF_JOBS = WATCH_INF_AWAITED, /* batch/v1 Jobs labelled scaledjob.keda.sh/name */
    WATCH_INF_PODS,                     /* their pods (the label is on the pod template) */
    WATCH_INF_COUNT
};

typedef struct watch_workload {
    int32_t spec_replicas;
    int32_t status_replicas;
    int32_t ready_replicas;
} watch_workload_t;

/* One ScaledObject, or one ScaledJob (job), the watcher knows about. */
typedef struct watch_entry {
    bool job; /* a ScaledJob: in w->sjs, queued as "j:<ns>/<name>", its loop in sjloop.c */
    char ns[SHM_NS_MAX];
    char name[SHM_NAME_MAX];
    cJSON *obj; /* the newest version known (owned) */
    /* versions this watcher wrote, oldest first: their watch events are not news */
    char written_rv[WATCH_WRITTEN_RVS][WATCH_RV_MAX];
    /* work queue */
    bool queued;
    bool delayed;
    uint64_t retry_at_ms;
    uint32_t backoff_ms;
    /* mirror: slots in the table (SHM_NONE: not mirrored) */
    uint32_t slot;
    uint32_t generation;
    bool adopted; /* slots kept from a previous watcher; blob texts not in memory */
    uint32_t ntrig;
    uint32_t trig[SHM_TRIGGERS_PER_SO_MAX];
    uint64_t cfg_gen[SHM_TRIGGERS_PER_SO_MAX];
    char *blob[SHM_TRIGGERS_PER_SO_MAX]; /* the blob text each cfg_gen was written for */
    /* the scale target, for replica counts */
    char workload_key[WATCH_KEY_MAX]; /* "" unless a cached Deployment/StatefulSet */
    k8s_resolved_t target;
    bool target_known;
    int32_t scale_spec, scale_status; /* from GET /scale, for other kinds */
    /* the scale loop (scaleloop.c, sjloop.c) */
    uint64_t scale_due_mono_ms; /* next evaluation; 0: at once */
    uint64_t scale_seen;        /* the triggers' activity and cfg_gen at the last evaluation */
    uint64_t specs_seen;        /* the published metric specs the last reconcile used */
    /* /scale writes the API refused (scaleloop.c): the backoff, Ready's reason and message */
    uint32_t scale_failures;             /* in a row; reset by one that succeeds */
    uint64_t scale_retry_mono_ms;        /* no /scale write before this */
    const char *scale_error_reason;      /* NULL: none */
    char scale_error[WATCH_MESSAGE_MAX]; /* the Event's message and the API's error */
    /* the last Ready decision, to log a failure once and to publish it */
    int ready;   /* 1 True, 0 False, -1 not decided yet */
    bool paused; /* paused or paused-replicas: no scale loop, no HPA */
    bool capacity_blocked;
    bool auth_missing_logged;
    char message[WATCH_MESSAGE_MAX];
} watch_entry_t;

typedef struct watch_queue {
    char **keys;
    size_t head, tail, cap;
} watch_queue_t;

typedef struct watch_ctx {
    role_ctx_t *role;
    const cfg_t *cfg;
    shm_table_t *table;
    int blob_dir;
    int supervisor_bell;
    kubeconfig_t *kubeconfig;
    k8s_client_t *client;
    k8s_loop_t *loop;
    k8s_informer_t *inf[WATCH_INF_COUNT];
    bool synced;  /* every informer has listed once */
    bool adopted; /* the previous watcher's slots were reconciled */
    uint64_t synced_mono_ms;
    uint64_t last_relist_real_ms;
    watch_map_t sos;       /* "ns/name" -> watch_entry_t */
    watch_map_t auths;     /* "ns/name" (TA), "/name" (CTA) -> cJSON (stripped) */
    watch_map_t hpas;      /* "ns/name" -> cJSON (stripped) */
    watch_map_t workloads; /* "deployments/ns/name", "statefulsets/ns/name" -> watch_workload_t */
    watch_map_t scalable;  /* "group/resource" whose /scale answered (KEDA's isScalableCache) */
    watch_map_t sjs;       /* "ns/name" -> watch_entry_t (job) */
    watch_map_t jobs;      /* "ns/name" -> cJSON: Jobs of ScaledJobs (sjcache.c) */
    watch_map_t jobpods;   /* "ns/name" -> cJSON: their pods, phase and conditions */
    watch_map_t eventsources;      /* (Cluster)CloudEventSources, the same way ("/name": cluster) */
    k8s_informer_t *inf_events[2]; /* only where KEDA's eventing CRDs are served; not awaited */
    watch_queue_t queue;
    watch_queue_t delayed;
    watch_queue_t janitor;       /* janitor.c's keys */
    watch_map_t janitor_pending; /* the keys in it */
    /* the mirror's slot allocator */
    uint32_t *free_so, nfree_so;
    uint32_t *free_trig, nfree_trig;
    uint64_t next_cfg_gen;
    bool ring_supervisor;
    bool block_dirty;
    uint32_t mirrored, mirrored_triggers, not_ready;
    uint64_t api_requests; /* synchronous requests this process made */
    /* leadership (leader.c) */
    struct watch_lease *lease; /* NULL: leader election off */
    bool leader;               /* after the last tick: may write to Kubernetes */
    uint64_t lease_due_ms;     /* next tick, monotonic */
    uint64_t certs_due_ms;     /* next check of the serving certificate (certs.c) */
    char identity[SHM_HOLDER_MAX];
    watch_events_t *events; /* events.c; NULL: none (out of memory) */
    so_t scratch;           /* large: one parse at a time */
    sj_t sj_scratch;        /* the same for ScaledJobs */
} watch_ctx_t;

/* ---- cache.c: informers into the caches ---- */

int watch_informers_start(watch_ctx_t *w);
void watch_entry_free(watch_entry_t *e);
/* Replaces e->obj with obj (taken) and remembers its resourceVersion as one this process wrote. */
void watch_entry_set_written(watch_entry_t *e, cJSON *obj);
/* The ScaledObject's (ScaledJob's) reference, with a subresource or NULL. */
k8s_ref_t watch_entry_ref(const watch_entry_t *e, const char *sub);
/* A merge patch {"metadata": meta + e's resourceVersion as precondition} (meta taken); the new
 * version becomes e->obj. 0 or -errno (-ESTALE: changed meanwhile) with kerr filled. */
int watch_entry_patch_meta(watch_ctx_t *w, watch_entry_t *e, cJSON *meta, k8s_error_t *kerr);
/* A merge patch of e's status subresource (patch taken); the new version becomes e->obj. 0 or
 * -errno with kerr filled. */
int watch_entry_patch_status(watch_ctx_t *w, watch_entry_t *e, cJSON *patch, k8s_error_t *kerr);
/* "ns/name" into buf ("/name" for a cluster-scoped object: ns ""). */
void watch_key(char *buf, size_t cap, const char *ns, const char *name);
/* Stores an HPA the API returned (taken) in the HPA cache, stripped as the informer strips. */
void watch_hpa_cache_put(watch_ctx_t *w, cJSON *hpa);
/* A new root holding obj's members (the informer frees obj), or NULL. */
cJSON *watch_cache_take(cJSON *obj);
/* An informer in --watch-namespace (or everywhere) feeding on_event, awaited before the first
 * reconcile. selector may be NULL. */
k8s_informer_t *watch_cache_informer(watch_ctx_t *w, k8s_gvr_t gvr, const char *selector,
                                     void (*strip)(cJSON *, void *),
                                     void (*on_event)(k8s_informer_t *, k8s_event_type_t, cJSON *,
                                                      bool, void *));

/* ---- sjcache.c: the Jobs of ScaledJobs and their pods ---- */

int watch_sj_informers_start(watch_ctx_t *w);
/* Stores a Job the API returned (taken) in the cache, stripped as the informer strips. */
void watch_sj_job_put(watch_ctx_t *w, cJSON *job);
void watch_sj_job_forget(watch_ctx_t *w, const char *ns, const char *name);
/* A new array of references to the cached Jobs (pods: their pods) labelled
 * scaledjob.keda.sh/name=sj in ns; NULL when memory runs out. Valid until the next event. */
cJSON *watch_sj_jobs(watch_ctx_t *w, const char *ns, const char *sj, bool pods);
/* A new array of references to those of pods labelled job-name=<job's name>. */
cJSON *watch_sj_job_pods(const cJSON *pods, const cJSON *job);

/* ---- queue.c ---- */

void watch_enqueue(watch_ctx_t *w, watch_entry_t *e);
/* Schedules another reconcile after the entry's backoff (which then doubles). */
void watch_enqueue_later(watch_ctx_t *w, watch_entry_t *e);
/* Reconciles queued entries for up to budget_ms; returns how long the loop may sleep. */
int watch_queue_run(watch_ctx_t *w, uint32_t budget_ms);
void watch_queue_done(watch_queue_t *q);
/* A key (copied) at the tail; -ENOMEM. */
int watch_queue_push(watch_queue_t *q, const char *key);
/* The head key (the caller frees it), or NULL. */
char *watch_queue_pop(watch_queue_t *q);

/* ---- janitor.c: finalizers and TriggerAuthentication status ---- */

/* Queues a check of one object: kind 'a' a (Cluster)TriggerAuthentication (ns "" for a cluster
 * one), 'e' a (Cluster)CloudEventSource. */
void watch_janitor_mark(watch_ctx_t *w, char kind, const char *ns, const char *name);
/* Marks every (Cluster)TriggerAuthentication so (a ScaledObject or ScaledJob) references. */
void watch_janitor_mark_auths(watch_ctx_t *w, const cJSON *so);
/* Works through the marked objects for up to budget_ms. */
void watch_janitor_run(watch_ctx_t *w, uint32_t budget_ms);
/* KEDA's finalizer.keda.sh is among obj's finalizers. */
bool watch_has_finalizer(const cJSON *obj);
/* obj's finalizers without KEDA's (a new array). */
cJSON *watch_finalizers_without(const cJSON *obj);

/* ---- cfgblob.c: a trigger's config blob (scaleworker/README.md) ---- */

/* The blob text (malloc'ed) for trigger i. auth is the referenced (Cluster)TriggerAuthentication
 * as cached, or NULL. */
char *watch_blob_build(const so_t *so, uint32_t i, const cJSON *auth);

/* ---- mirror.c: the table ---- */

int watch_mirror_init(watch_ctx_t *w);
void watch_mirror_done(watch_ctx_t *w);
/* At the first full sync: keeps the previous watcher's slots of objects that still exist (same
 * uid), frees the rest, rebuilds the index. */
void watch_mirror_adopt(watch_ctx_t *w);
/* Writes so's slots. -ENOSPC (nothing written) when the table is full, with a message. */
int watch_mirror_apply(watch_ctx_t *w, watch_entry_t *e, const so_t *so, errtext_t *err);
void watch_mirror_free(watch_ctx_t *w, watch_entry_t *e);
/* Publishes e's observed group (replica counts, Ready). */
void watch_mirror_observe(watch_ctx_t *w, watch_entry_t *e);
/* spec.fallback is set and KEDA's HasValidFallback holds (with scalingModifiers, target must be
 * an integer > 0). */
bool watch_so_fallback_valid(const so_t *so);

/* ---- target.c: scaleTargetRef ---- */

typedef struct watch_target {
    k8s_resolved_t gvkr;
    char kind[SHM_KIND_MAX];
    char api_version[SHM_APIVERSION_MAX]; /* "<group>/<version>", or "<version>" for core */
    bool have_replicas;
    int32_t spec_replicas;
} watch_target_t;

/* Resolves so's scaleTargetRef and, as KEDA's checkTargetResourceIsScalable, reads its /scale
 * unless the kind answered /scale before in this process and the status already names the
 * target (need_scale: the status still wants originalReplicaCount); a Deployment or StatefulSet
 * the informer holds gives its replica count instead. 0; -EINVAL with KEDA's message for a bad
 * target; other -errno with a message for a transient failure. */
int watch_target_resolve(watch_ctx_t *w, watch_entry_t *e, const so_t *so, bool need_scale,
                         watch_target_t *ret, errtext_t *err);
/* PATCHes the resolved target's /scale to n replicas. 0, or -errno with a message. */
int watch_target_scale(watch_ctx_t *w, const so_t *so, const watch_target_t *t, int32_t n,
                       errtext_t *err);

/* ---- status.c: the status subresource ---- */

typedef struct watch_status {
    const so_t *so;
    const watch_target_t *target; /* NULL until resolved */
    bool set_original;
    int32_t original;
    bool triggers_ok;     /* triggersTypes, authenticationsTypes */
    bool metrics_ok;      /* externalMetricNames */
    const char *hpa_name; /* NULL until the HPA is ensured */
    int ready;            /* 1 True, 0 False */
    const char *message;
} watch_status_t;

/* {"status": {...}} holding what differs from obj's status, or NULL when nothing does. */
cJSON *watch_status_patch(const cJSON *obj, const watch_status_t *st);
/* The Ready condition's status in obj: 1 True, 0 False, -1 Unknown or missing. */
int watch_status_ready(const cJSON *obj, const char **ret_message);
/* KEDA's Conditions methods over a conditions array: the one of type (NULL if none); SetCondition
 * (in place, or appended); obj's conditions copied, or GetInitializedConditions (Ready, Active,
 * Fallback Unknown, Paused False) when any of the four is missing; whether Ready says what only
 * the scale loop decides (trigger errors, an unreadable replica count, a refused /scale write),
 * which a reconcile leaves standing until the loop's next poll. */
cJSON *watch_cond_find(const cJSON *conds, const char *type);
void watch_cond_set(cJSON *conds, const char *type, const char *status, const char *reason,
                    const char *message);
cJSON *watch_conds_init(const cJSON *obj);
bool watch_cond_loop_owned(const cJSON *conds);
/* status.triggersTypes and authenticationsTypes of obj's spec.triggers into want. */
void watch_status_triggers(cJSON *want, const cJSON *obj);
/* {"status": want} without the fields obj's status already has with the same value, or NULL when
 * none is left. Takes want. */
cJSON *watch_status_finish(cJSON *want, const cJSON *obj);

/* ---- hpasync.c ---- */

/* Creates, renames or updates so's HPA. 0; -EINVAL with a message when the API refused it;
 * another -errno (transient) with a message. */
int watch_hpa_ensure(watch_ctx_t *w, const so_t *so, const char *status_hpa, errtext_t *err);
/* Deletes so's HPA if the cache holds it (a paused ScaledObject). 0, or -errno with a message. */
int watch_hpa_remove(watch_ctx_t *w, const so_t *so, errtext_t *err);

/* ---- certs.c: the serving certificate (certs.h) ---- */

/* Checks the Secret, the caBundles and --cert-dir when due (with --enable-cert-rotation).
 * Returns how long the loop may sleep. */
int watch_certs_tick(watch_ctx_t *w);

/* ---- specs.c: metric specs learnt from the source ---- */

/* A hash of the metric specs published for these triggers (shm_spec_published()). */
uint64_t watch_specs_hash(const shm_trig_view_t *v, uint32_t n);
/* Puts the published specs into so's triggers whose spec comes from the source, records their
 * hash in e->specs_seen, and returns how many such triggers have none yet (their metric_name is
 * then ""). e's trigger slots must be so's (after watch_mirror_apply()). */
int watch_specs_apply(watch_ctx_t *w, watch_entry_t *e, so_t *so);

/* ---- reconcile.c ---- */

/* One reconcile of e. 0 done; -EAGAIN to retry after a backoff. */
int watch_reconcile(watch_ctx_t *w, watch_entry_t *e);

/* ---- sjreconcile.c, sjloop.c: ScaledJobs (keda.md §1.15) ---- */

/* One reconcile of a ScaledJob. 0 done; -EAGAIN to retry after a backoff. */
int watch_sj_reconcile(watch_ctx_t *w, watch_entry_t *e);
/* Evaluates the ScaledJobs that are due; returns how long the loop may sleep (ms). */
int watch_sjloop_run(watch_ctx_t *w);

/* ---- scaleloop.c: KEDA's scale loop (keda.md §1.9) ---- */

/* Evaluates the objects that are due; returns how long the loop may sleep (ms). */
int watch_scaleloop_run(watch_ctx_t *w);
/* Reads e's spec group (valid, of e's generation) and its triggers' views into views[0..*ret_n).
 * -EAGAIN while the slot is mid-write or a trigger has not settled (shm_cause_is_settled). */
int watch_loop_triggers(watch_ctx_t *w, const watch_entry_t *e, uint64_t now, shm_so_spec_t *spec,
                        shm_trig_view_t *views, uint32_t *ret_n);
/* KEDA's KEDAScalerFailed Event, one per failed trigger of a poll, with the source's (redacted)
 * error. */
void watch_tell_failed_triggers(watch_ctx_t *w, const watch_entry_t *e, const shm_trig_view_t *v,
                                uint32_t n);
/* A loop over the entries of one map, each on its own pollingInterval. evaluate runs an entry
 * that is eligible and due and sets *interval_s (0: 30 s) until its next turn; -EAGAIN asks for
 * another look within WATCH_UNSETTLED_RETRY_MS instead (a trigger not settled yet). */
typedef struct watch_loop_ops {
    bool (*eligible)(const watch_entry_t *e);
    int (*evaluate)(watch_ctx_t *w, watch_entry_t *e, uint64_t now_mono, uint32_t *interval_s);
} watch_loop_ops_t;
/* Runs the due entries of map; returns how long the loop may sleep (ms, at most 1000). */
int watch_loop_run(watch_ctx_t *w, const watch_map_t *map, const watch_loop_ops_t *ops);
/* The doorbell rang: marks due the objects whose triggers changed activity. */
void watch_scaleloop_bell(watch_ctx_t *w);
/* What one poll says about the status beyond the decision (KEDA's fallback handler and
 * RequestScale's triggersActivity). */
typedef struct watch_sl_status {
    /* this poll's status.health entries {metric: {numberOfFailures, status}}; NULL without a
     * valid fallback (health and the Fallback condition are then left as they are) */
    const cJSON *health;
    int32_t failure_threshold;
    /* status.triggersActivity {metric: {isActive}} as this poll has it; NULL: leave it */
    const cJSON *activity;
    /* the HPA's ScalingActive condition, mirrored into HPAActive; NULL: not observed (no HPA
     * yet, or no such condition yet): HPAActive is left as it is */
    const cJSON *hpa_scaling_active;
    /* why the target's replica count could not be read (KEDA's GetCurrentReplicas failed): Ready
     * False ErrorGettingCurrentReplicas with it; NULL: it was read */
    const char *replicas_error;
    /* a /scale write the API refused (or held back by its backoff): Ready False with this
     * reason and message; NULL: none */
    const char *scale_error_reason, *scale_error;
} watch_sl_status_t;

/* The /status merge patch a decision asks for (Active, Ready, lastActiveTime, and with extra:
 * health, the Fallback condition, triggersActivity), or NULL when the object already says it.
 * error: some trigger is in ERROR. extra may be NULL. Times are real-time ms. */
cJSON *watch_scaleloop_status_patch(const cJSON *obj, const watch_decide_out_t *out, bool error,
                                    uint64_t last_active_ms, uint64_t now_ms,
                                    const watch_sl_status_t *extra);
/* The Fallback condition KEDA's fallback handler sets once health is merged in: True when some
 * metric is Failing more than failure_threshold times. cur: status.health now; poll: this
 * poll's entries (either may be NULL). */
bool watch_scaleloop_fallback_exists(const cJSON *cur, const cJSON *poll,
                                     int32_t failure_threshold);
/* An RFC 3339 time at path in obj, in ms; 0 when absent or malformed. */
uint64_t watch_time_parse(const cJSON *obj, const char *path);
/* Real-time ms as the API writes a time: "2006-01-02T15:04:05Z". */
void watch_time_format(uint64_t ms, char *buf, size_t cap);

/* ---- leader.c ---- */

/* After the kubeconfig is loaded: the Lease, or leadership for good when leader election is off.
 * 0 or -errno (logged). */
int watch_leader_start(watch_ctx_t *w);
/* Renews or tries for the Lease when due; returns ms until the next tick. */
int watch_leader_tick(watch_ctx_t *w);
/* Whether this replica may write to Kubernetes right now. */
bool watch_writes_allowed(const watch_ctx_t *w);
/* The Lease holder's identity as last read ("" without leader election). */
const char *watch_leader_holder(const watch_ctx_t *w);
/* SIGTERM: stops writing and releases the Lease if held. */
void watch_leader_stop(watch_ctx_t *w);

/* ---- watcher.c ---- */

/* The synchronous API calls, counted, with a heartbeat after each (they may block). */
int watch_api_get(watch_ctx_t *w, const k8s_ref_t *ref, cJSON **ret, k8s_error_t *err);
int watch_api_patch(watch_ctx_t *w, const k8s_ref_t *ref, const cJSON *patch, cJSON **ret,
                    k8s_error_t *err);
int watch_api_create(watch_ctx_t *w, const k8s_ref_t *ref, const cJSON *obj, cJSON **ret,
                     k8s_error_t *err);
int watch_api_update(watch_ctx_t *w, const k8s_ref_t *ref, const cJSON *obj, cJSON **ret,
                     k8s_error_t *err);
/* options: a DeleteOptions object or NULL. */
int watch_api_delete(watch_ctx_t *w, const k8s_ref_t *ref, const cJSON *options, k8s_error_t *err);
void watch_heartbeat(watch_ctx_t *w);

#endif
