/*
 * shm: the shared-memory table. The only code that knows its layout.
 *
 * One POSIX shared-memory object, created and flock()ed by the supervisor, inherited by every
 * role as a descriptor, opened read-only by name by ckedactl. Regions are laid out
 * struct-of-arrays, one region per writer, page-aligned. Every field group has exactly one
 * writer and its own seqlock (or is a single atomic); readers never block writers and never
 * take locks.
 *
 * Callers see plain payload structs (copies): they read a group into a payload with
 * shm_<group>_read() and publish a payload with shm_<group>_write(). The seqlocks, offsets and
 * padding stay inside shm/. Depends on libc only.
 *
 * Who writes what (DESIGN.md, "The shared-memory table"):
 *   header              supervisor, before the first fork (write-once; heartbeat atomic)
 *   watcher block       watcher
 *   process control [P] supervisor          process self [P]  that process (atomics)
 *   SO spec [S]         watcher             SO observed [S]   watcher
 *   trigger config [T]  watcher (and its change count, one atomic after the entries)
 *   trigger control [T] supervisor
 *   trigger result [T]  the assigned worker trigger demand [T] any adapter (one atomic)
 *   index [2S]          watcher (index-wide seqlock)
 */
#ifndef CKEDA_SHM_SHM_H
#define CKEDA_SHM_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_LAYOUT_VERSION 3u

/* Bounded strings sized for Kubernetes' maxima (NUL included). */
#define SHM_NS_MAX         64  /* DNS label, 63 */
#define SHM_NAME_MAX       256 /* DNS subdomain, 253 */
#define SHM_UID_MAX        40  /* RFC 4122 text, 36 */
#define SHM_APIVERSION_MAX 128
#define SHM_KIND_MAX       64
#define SHM_TYPE_MAX       32 /* scaler type name */
#define SHM_TRIGNAME_MAX   64
#define SHM_METRIC_MAX     256
#define SHM_ERROR_MAX      256 /* redacted error text */
#define SHM_REASON_MAX     128
#define SHM_MESSAGE_MAX    256
#define SHM_FORMULA_MAX    1024 /* scalingModifiers.formula */
#define SHM_HOLDER_MAX     128
#define SHM_INFLIGHT_MAX   64 /* triggers a worker may have in flight */

/* Compile-time ceiling of the per-ScaledObject trigger cap (the configured cap is <= this). */
#define SHM_TRIGGERS_PER_SO_MAX 64

#define SHM_NONE UINT32_MAX /* "no slot", "no worker" */

/* Default capacities. */
#define SHM_DEFAULT_MAX_SO      4096
#define SHM_DEFAULT_MAX_TRIG    16384
#define SHM_DEFAULT_MAX_PROC    128
#define SHM_DEFAULT_TRIG_PER_SO 64

/* Flags word that starts every payload. Repair clears it (invalid) before making an odd
 * sequence even again. */
#define SHM_F_VALID 0x1u

typedef struct shm_table shm_table_t;

typedef struct shm_caps {
    uint32_t max_so;
    uint32_t max_trig;
    uint32_t max_proc;
    uint32_t max_trig_per_so;
} shm_caps_t;

/* ---- header ------------------------------------------------------------------------------ */

enum { SHM_PORT_SECURE, SHM_PORT_WEBHOOK, SHM_PORT_METRICS, SHM_PORT_HEALTH, SHM_PORT_COUNT };

typedef struct shm_header_info {
    uint32_t layout_version;
    uint64_t total_size;
    shm_caps_t caps;
    uint8_t nonce[16];
    int32_t supervisor_pid;
    uint64_t supervisor_start_real_ms;
    uint64_t supervisor_heartbeat_mono_ms;
    uint64_t registry_hash;
    uint16_t ports[SHM_PORT_COUNT];
} shm_header_info_t;

void shm_header_get(const shm_table_t *t, shm_header_info_t *ret);
/* Supervisor only, before the first fork. */
void shm_header_set_ports(shm_table_t *t, const uint16_t ports[SHM_PORT_COUNT]);
void shm_header_set_registry_hash(shm_table_t *t, uint64_t hash);
void shm_header_set_supervisor(shm_table_t *t, int32_t pid, uint64_t start_real_ms);
void shm_header_heartbeat(shm_table_t *t, uint64_t now_mono_ms);

/* ---- lifecycle --------------------------------------------------------------------------- */

size_t shm_table_size(const shm_caps_t *caps);
int shm_caps_check(const shm_caps_t *caps);

/* Supervisor: create the named table, replacing a stale one (lock free) and refusing a live
 * one (-EBUSY). Allocated in full (-ENOSPC if tmpfs cannot hold it), flock()ed until
 * shm_table_close(). ret_fd is the descriptor to hand to the roles. */
int shm_table_create(const char *name, const shm_caps_t *caps, shm_table_t **ret);
/* Roles: map an inherited descriptor read-write and validate the header. */
int shm_table_attach_fd(int fd, shm_table_t **ret);
/* ckedactl: open by name, PROT_READ only, validated. */
int shm_table_open_readonly(const char *name, shm_table_t **ret);
/* Test-only writers (tests/shmtool): open by name read-write, validated. */
int shm_table_open_rw(const char *name, shm_table_t **ret);
/* A private image (snapshot show): takes ownership of buf (malloc'ed), validated. */
int shm_table_from_image(void *buf, size_t size, shm_table_t **ret);
void shm_table_close(shm_table_t *t);
int shm_table_unlink(const char *name);
int shm_table_fd(const shm_table_t *t);
const shm_caps_t *shm_table_caps(const shm_table_t *t);
/* Raw view for the snapshot writer. */
const void *shm_table_base(const shm_table_t *t);
size_t shm_table_mapped_size(const shm_table_t *t);
/* Copy the whole table into dst (size bytes) so that every seqlock group is a consistent copy;
 * a group whose writer died mid-write keeps its odd sequence in the copy. */
void shm_table_copy(const shm_table_t *t, void *dst);

/* Which regions a role writes; the rest is mprotect()ed read-only after attach. */
typedef enum {
    SHM_ROLE_SUPERVISOR,
    SHM_ROLE_WATCHER,
    SHM_ROLE_SCALEWORKER,
    SHM_ROLE_ADAPTER,
    SHM_ROLE_WEBHOOK,
    SHM_ROLE_COUNT
} shm_role_t;
int shm_table_protect(shm_table_t *t, shm_role_t role);
const char *shm_role_name(shm_role_t role);

/* ---- watcher block ----------------------------------------------------------------------- */

typedef struct shm_watcher {
    uint32_t flags;
    int32_t pid;
    uint32_t leader;         /* 1 when this replica holds the Lease */
    uint32_t synced;         /* all informers listed at least once since start */
    uint64_t synced_mono_ms; /* first full sync of this watcher process */
    uint64_t last_relist_real_ms;
    uint32_t scaledobjects;
    uint32_t triggers;
    uint32_t errors;
    uint32_t pad;
    char holder[SHM_HOLDER_MAX]; /* Lease holder identity */
} shm_watcher_t;

int shm_watcher_read(const shm_table_t *t, shm_watcher_t *ret);
void shm_watcher_write(shm_table_t *t, const shm_watcher_t *v);

/* ---- processes --------------------------------------------------------------------------- */

typedef enum {
    SHM_PROC_EMPTY = 0,
    SHM_PROC_STARTING,
    SHM_PROC_RUNNING,
    SHM_PROC_BACKOFF, /* dead, waiting for its restart */
    SHM_PROC_STOPPING,
    SHM_PROC_DISABLED, /* exited 78: configuration error, not respawned */
} shm_proc_state_t;
const char *shm_proc_state_name(uint32_t state);

typedef struct shm_proc_ctl {
    uint32_t flags;
    uint32_t role;    /* shm_role_t */
    uint32_t type_id; /* scaler type (scaleworkers) */
    uint32_t shard;
    uint32_t suspect; /* 1: the suspect shard of its type (one trigger in flight) */
    int32_t pid;
    uint32_t state; /* shm_proc_state_t */
    uint32_t restarts;
    int32_t last_exit;   /* >= 0 exit code, < 0 -signal, INT32_MIN never exited */
    uint32_t assign_gen; /* bumped on each change of this worker's assignment */
    uint64_t started_mono_ms;
    uint64_t backoff_until_mono_ms;
    uint32_t triggers; /* triggers assigned */
    uint32_t pad;
} shm_proc_ctl_t;

int shm_proc_ctl_read(const shm_table_t *t, uint32_t slot, shm_proc_ctl_t *ret);
void shm_proc_ctl_write(shm_table_t *t, uint32_t slot, const shm_proc_ctl_t *v);

/* Counters a role keeps in its process slot; what each index means is the role's business
 * (the adapter's are in adapter/adp_internal.h). */
#define SHM_PROC_STATS 64

/* Process self: plain atomics written by the process in that slot. */
typedef struct shm_proc_self {
    uint64_t heartbeat_mono_ms;
    uint32_t ack_assign_gen;
    uint32_t inflight_count;
    uint32_t inflight[SHM_INFLIGHT_MAX]; /* trigger slots, SHM_NONE when unused */
    uint64_t polls_total;
    uint64_t errors_total;
    /* Counters below survive a restart of the process in the slot (the supervisor never resets
     * them; a slot always holds the same role), so sums over slots only grow. */
    uint64_t seq_retries_total; /* seqlock read retries, published with each heartbeat */
    uint64_t stats[SHM_PROC_STATS];
} shm_proc_self_t;

void shm_proc_self_read(const shm_table_t *t, uint32_t slot, shm_proc_self_t *ret);
void shm_proc_self_reset(shm_table_t *t, uint32_t slot); /* supervisor, before (re)spawn */
void shm_proc_heartbeat(shm_table_t *t, uint32_t slot, uint64_t now_mono_ms);
void shm_proc_ack(shm_table_t *t, uint32_t slot, uint32_t assign_gen);
void shm_proc_count(shm_table_t *t, uint32_t slot, uint64_t polls, uint64_t errors);
/* Adds n to the slot's counter stats[idx] (idx < SHM_PROC_STATS). Lock-free; the process in the
 * slot is its only writer. */
void shm_proc_stat_add(shm_table_t *t, uint32_t slot, uint32_t idx, uint64_t n);
/* Seqlock read retries made by this process so far (every reader of the table counts them;
 * shm_proc_heartbeat publishes them into the process slot). */
uint64_t shm_seq_read_retries(void);
/* Records trig as in flight in a free entry; -ENOSPC when all SHM_INFLIGHT_MAX are used. */
int shm_proc_inflight_add(shm_table_t *t, uint32_t slot, uint32_t trig);
void shm_proc_inflight_del(shm_table_t *t, uint32_t slot, uint32_t trig);

/* ---- ScaledObjects ----------------------------------------------------------------------- */

typedef enum {
    SHM_FALLBACK_STATIC,
    SHM_FALLBACK_CURRENT,
    SHM_FALLBACK_CURRENT_IF_HIGHER,
    SHM_FALLBACK_CURRENT_IF_LOWER,
    SHM_FALLBACK_SCALING_MODIFIERS /* failing triggers are nil in the scalingModifiers formula */
} shm_fallback_behavior_t;
typedef enum {
    SHM_METRIC_AVERAGE_VALUE,
    SHM_METRIC_VALUE,
    SHM_METRIC_UTILIZATION
} shm_metric_type_t;

/* shm_so_spec_t.paused: the pause annotations (keda.md §1.5) as bits. */
enum {
    SHM_PAUSED_ALL = 1u << 0,       /* paused or paused-replicas: no loop, no HPA, no polling */
    SHM_PAUSED_SCALE_IN = 1u << 1,  /* paused-scale-in */
    SHM_PAUSED_SCALE_OUT = 1u << 2, /* paused-scale-out */
    SHM_FORCE_ACTIVATION = 1u << 3, /* force-activation */
};

/* shm_so_spec_t.flags beside SHM_F_VALID: spec.fallback is set but KEDA's HasValidFallback is
 * false (with scalingModifiers, target is not an integer > 0): no health, no fallback values. */
#define SHM_SO_F_FALLBACK_INVALID 0x2u
/* ... and the slot holds a ScaledJob: its triggers poll like any others, the watcher creates
 * Jobs from them; not in the index (the metrics adapter serves ScaledObjects only). */
#define SHM_SO_F_SCALEDJOB 0x4u

typedef struct shm_so_spec {
    uint32_t flags;
    uint32_t generation; /* slot identity: bumped by the watcher on every reuse */
    char uid[SHM_UID_MAX];
    char ns[SHM_NS_MAX];
    char name[SHM_NAME_MAX];
    char target_api_version[SHM_APIVERSION_MAX];
    char target_kind[SHM_KIND_MAX];
    char target_name[SHM_NAME_MAX];
    int32_t min_replicas;
    int32_t max_replicas;
    int32_t idle_replicas; /* -1: unset */
    uint32_t polling_interval_s;
    uint32_t cooldown_s;
    uint32_t initial_cooldown_s;
    int32_t fallback_failure_threshold; /* -1: no fallback */
    int32_t fallback_replicas;
    uint32_t fallback_behavior; /* shm_fallback_behavior_t */
    int32_t paused_replicas;    /* -1: not paused at a count */
    uint32_t paused;            /* SHM_PAUSED_* and SHM_FORCE_ACTIVATION bits */
    uint32_t modifiers_metric_type;
    double modifiers_target;
    double modifiers_activation;
    char modifiers_formula[SHM_FORMULA_MAX]; /* empty: no scalingModifiers */
    uint32_t trigger_count;
    uint32_t triggers[SHM_TRIGGERS_PER_SO_MAX]; /* trigger slots, in spec order */
    uint32_t pad;
} shm_so_spec_t;

typedef struct shm_so_observed {
    uint32_t flags;
    uint32_t generation;   /* of the spec this observation belongs to */
    int32_t spec_replicas; /* -1: unknown */
    int32_t status_replicas;
    int32_t ready_replicas;
    uint32_t active; /* 0 no, 1 yes, 2 unknown */
    uint64_t observed_mono_ms;
    uint64_t last_active_real_ms; /* 0: never */
    uint32_t ready;               /* Ready condition: 0 False, 1 True, 2 Unknown */
    uint32_t pad;
    char reason[SHM_REASON_MAX];
    char message[SHM_MESSAGE_MAX];
} shm_so_observed_t;

int shm_so_spec_read(const shm_table_t *t, uint32_t slot, shm_so_spec_t *ret);
void shm_so_spec_write(shm_table_t *t, uint32_t slot, const shm_so_spec_t *v);
int shm_so_observed_read(const shm_table_t *t, uint32_t slot, shm_so_observed_t *ret);
void shm_so_observed_write(shm_table_t *t, uint32_t slot, const shm_so_observed_t *v);

/* ---- triggers ---------------------------------------------------------------------------- */

/* shm_trig_cfg_t.flags beside SHM_F_VALID: an HPA Resource metric (cpu, memory). No worker polls
 * it; its state is ACTIVE, as KEDA's cpu/memory scaler always is, and the scale loop counts it
 * only when every trigger of its object is one. */
#define SHM_F_RESOURCE 0x2u

typedef struct shm_trig_cfg {
    uint32_t flags;
    uint32_t so_slot;
    uint32_t so_generation;
    uint32_t index;       /* position in spec.triggers */
    uint32_t type_id;     /* scaler registry id */
    uint32_t metric_type; /* shm_metric_type_t */
    uint32_t use_cached_metrics;
    uint32_t polling_interval_ms;
    uint32_t timeout_ms;
    uint32_t pad;
    uint64_t cfg_gen; /* changes with the trigger's config or its auth */
    double target;
    double activation;
    char type[SHM_TYPE_MAX];
    char name[SHM_TRIGNAME_MAX];
    char metric_name[SHM_METRIC_MAX];
} shm_trig_cfg_t;

typedef struct shm_trig_ctl {
    uint32_t flags;
    uint32_t worker;  /* process slot, SHM_NONE: unassigned */
    uint32_t type_id; /* type it was assigned for */
    uint32_t strikes; /* crashes it was in flight for */
    uint32_t suspect;
    uint32_t quarantines;
    uint64_t cfg_gen; /* cfg_gen it was assigned at */
    uint64_t quarantined_until_mono_ms;
    uint32_t release_from; /* worker that must acknowledge before reassignment */
    uint32_t release_gen;  /* ... this assign_gen of its */
    uint64_t suspect_since_mono_ms;
    char reason[SHM_REASON_MAX];
} shm_trig_ctl_t;

typedef enum { SHM_FAIL_NONE, SHM_FAIL_SOURCE, SHM_FAIL_CONFIG } shm_fail_t;

/* shm_trig_result_t.flags beside SHM_F_VALID: `active` is the source's own verdict (external's
 * IsActive, a push scaler's activation), not value > activation. */
#define SHM_F_OWN_ACTIVITY 0x2u

typedef struct shm_trig_result {
    uint32_t flags;   /* SHM_F_VALID: the last poll produced a value */
    uint32_t failure; /* shm_fail_t of the last poll */
    uint64_t for_cfg_gen;
    double value;
    uint32_t active;
    uint32_t latency_us;
    uint64_t measured_mono_ms;
    uint64_t measured_real_ms;
    uint32_t consecutive_failures;
    uint32_t has_spec; /* the worker publishes the metric spec (external, ...) */
    uint64_t errors_total;
    uint64_t polls_total;
    uint64_t activity_seq; /* bumped when `active` changes, and on each push activation */
    double spec_target;
    char spec_metric_name[SHM_METRIC_MAX];
    char error[SHM_ERROR_MAX]; /* redacted */
} shm_trig_result_t;

int shm_trig_cfg_read(const shm_table_t *t, uint32_t slot, shm_trig_cfg_t *ret);
/* Publishes the group, then bumps the table's trigger-config change count. */
void shm_trig_cfg_write(shm_table_t *t, uint32_t slot, const shm_trig_cfg_t *v);
/* The trigger-config change count: bumped (release) after every write of any trigger's config
 * group, and by repair. A reader that loads it (acquire) and then reads the groups sees every
 * write it counts; an unchanged count means no group changed since the last look, so a scale
 * worker reads its triggers' configurations only when it moved. */
uint64_t shm_trig_cfg_changes(const shm_table_t *t);
int shm_trig_ctl_read(const shm_table_t *t, uint32_t slot, shm_trig_ctl_t *ret);
void shm_trig_ctl_write(shm_table_t *t, uint32_t slot, const shm_trig_ctl_t *v);
int shm_trig_result_read(const shm_table_t *t, uint32_t slot, shm_trig_result_t *ret);
void shm_trig_result_write(shm_table_t *t, uint32_t slot, const shm_trig_result_t *v);
uint64_t shm_trig_demand_get(const shm_table_t *t, uint32_t slot);
void shm_trig_demand_stamp(shm_table_t *t, uint32_t slot, uint64_t now_mono_ms);

/* ---- trigger state: the one function everyone uses ---------------------------------------- */

typedef enum { SHM_STATE_ACTIVE, SHM_STATE_INACTIVE, SHM_STATE_ERROR } shm_state_t;
typedef enum {
    SHM_CAUSE_NONE,
    SHM_CAUSE_NO_RESULT,   /* no result for the current config yet: ckeda unavailability */
    SHM_CAUSE_STALE,       /* last measurement too old (owner restarting): unavailability */
    SHM_CAUSE_SOURCE,      /* the poll failed: counts toward fallback */
    SHM_CAUSE_CONFIG,      /* metadata could not be parsed: terminal */
    SHM_CAUSE_QUARANTINED, /* crashed its worker repeatedly: terminal while it lasts */
} shm_cause_t;

/* Restart backoff cap, part of stale_after. */
#define SHM_BACKOFF_CAP_MS 30000u

uint64_t shm_stale_after_ms(const shm_trig_cfg_t *cfg);
shm_state_t shm_trigger_state(const shm_trig_cfg_t *cfg, const shm_trig_ctl_t *ctl,
                              const shm_trig_result_t *res, uint64_t now_mono_ms,
                              shm_cause_t *ret_cause);
/* A trigger's three groups read together and its state derived from them: what the scale loop,
 * the adapter and ckedactl all look at. */
typedef struct shm_trig_view {
    uint32_t slot;
    shm_trig_cfg_t cfg;
    shm_trig_ctl_t ctl;
    shm_trig_result_t res;
    shm_state_t state;
    shm_cause_t cause;
} shm_trig_view_t;

/* -ENOENT when the slot holds no valid trigger config (or it is mid-write). A control or result
 * group whose writer is mid-write reads as empty: no quarantine known, no result (ERROR, never
 * an old number). */
int shm_trig_view_load(const shm_table_t *t, uint32_t slot, uint64_t now_mono_ms,
                       shm_trig_view_t *ret);

/* The metric name and target the HPA asks with for a trigger: those its worker learnt from the
 * source (external's GetMetricSpec) when it published them for the current configuration, else
 * the configuration's. The one rule for the watcher's HPA and status, the adapter's lookups and
 * the fallback arithmetic. */
bool shm_spec_published(const shm_trig_cfg_t *cfg, const shm_trig_result_t *res);
const char *shm_spec_metric_name(const shm_trig_cfg_t *cfg, const shm_trig_result_t *res);
double shm_spec_target(const shm_trig_cfg_t *cfg, const shm_trig_result_t *res);

/* Whether a ScaledObject may be evaluated: every cause but NO_RESULT (a trigger that has not
 * yet produced a result for its current configuration holds its object back). */
bool shm_cause_is_settled(shm_cause_t cause);
bool shm_cause_is_source_failure(shm_cause_t cause);
const char *shm_state_name(shm_state_t s);
const char *shm_cause_name(shm_cause_t c);

/* ---- index: (namespace, name) -> ScaledObject slot (ScaledJobs are not indexed) ----------- */

/* Watcher only. */
int shm_index_insert(shm_table_t *t, const char *ns, const char *name, uint32_t slot,
                     uint32_t generation);
int shm_index_remove(shm_table_t *t, const char *ns, const char *name, uint32_t slot);
void shm_index_rebuild(shm_table_t *t); /* from the valid SO spec slots */
/* Anyone: finds a valid SO slot, verified against the slot itself; falls back to a scan when
 * the index is being repaired. -ENOENT if absent. */
int shm_so_find(const shm_table_t *t, const char *ns, const char *name, uint32_t *ret_slot,
                shm_so_spec_t *ret_spec);
typedef struct shm_index_stats {
    uint32_t buckets, used, tombstones;
    bool valid;
} shm_index_stats_t;
void shm_index_stats(const shm_table_t *t, shm_index_stats_t *ret);

/* ---- integrity --------------------------------------------------------------------------- */

/* Supervisor, after reaping a writer: complete every group of `role` (and, for a scaleworker,
 * the trigger results assigned to process slot `proc`) that was left odd: mark it invalid and
 * make it even. Returns the number of groups repaired. */
unsigned shm_repair(shm_table_t *t, shm_role_t role, uint32_t proc);

typedef struct shm_odd_group {
    const char *region;
    uint32_t entry;
} shm_odd_group_t;
/* Lists groups whose sequence is odd now (at most max). Returns the count found. */
unsigned shm_odd_groups(const shm_table_t *t, shm_odd_group_t *ret, unsigned max);

/* SipHash-2-4 of data under a 16-byte key: the index's keyed hash, for any table of names
 * users choose (they cannot make keys collide without the key). */
uint64_t shm_siphash(const uint8_t key[16], const void *data, size_t len);

/* Times. */
uint64_t shm_now_mono_ms(void);
uint64_t shm_now_real_ms(void);

#endif
