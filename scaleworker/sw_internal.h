/*
 * Private state of a scale worker process, shared by its files (worker.c, loop.c, poll.c,
 * assign.c, auth.c, env.c, net.c). Unit tests include it to drive a worker on a table of their own.
 */
#ifndef CKEDA_SW_INTERNAL_H
#define CKEDA_SW_INTERNAL_H

#include "common/role.h"
#include "scaleworker/scaler.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct sw_worker sw_worker_t;
typedef struct sw_trigger sw_trigger_t;

/* heap.c: an indexed binary min-heap of nodes embedded in their owners (the schedule). */
typedef struct sw_heap_node {
    uint64_t key;
    uint32_t tie; /* orders equal keys (the trigger slot) */
    uint32_t pos; /* index + 1 in its heap, 0: in none */
} sw_heap_node_t;

typedef struct sw_heap {
    sw_heap_node_t **v;
    uint32_t n, cap;
} sw_heap_t;

int sw_heap_init(sw_heap_t *h, uint32_t cap);
/* Takes every node out (pos 0) and frees the array. */
void sw_heap_free(sw_heap_t *h);
/* Inserts x with key, or moves it there if it is in h already. */
void sw_heap_set(sw_heap_t *h, sw_heap_node_t *x, uint64_t key);
/* Takes x out of h; nothing when it is in none. */
void sw_heap_remove(sw_heap_t *h, sw_heap_node_t *x);
/* The node with the smallest key, or NULL when h is empty. */
sw_heap_node_t *sw_heap_top(const sw_heap_t *h);

struct sw_poll {
    sw_worker_t *w;
    sw_trigger_t *t;
    uint64_t started_us; /* for the published latency */
    uint64_t deadline_ms;
    uint32_t timeout_ms;
    bool active; /* started and not yet completed */
    bool auth_rejected;
};

struct sw_trigger {
    sw_worker_t *w;
    uint32_t slot;
    shm_trig_cfg_t cfg; /* copy of the trigger-config group */
    uint64_t cfg_gen;   /* generation the state was parsed from */
    void *state;        /* the scaler's parsed configuration; NULL until loaded */
    const sw_scaler_t *scaler;
    uint64_t next_poll_ms;    /* next poll, or next load attempt while state is NULL; change it
                               * through sw_sched() (the schedule is keyed on it) */
    uint64_t poll_started_ms; /* start of the last poll (monotonic), 0: none yet; a demand
                               * stamp newer than this asks for a poll (poll.c) */
    bool in_flight;
    bool config_error; /* terminal until cfg_gen changes */
    bool first_poll;
    bool reload;                  /* parse again (new credentials) before the next poll */
    uint32_t check_pos;           /* index + 1 in the worker's check list, 0: not on it */
    sw_heap_node_t due;           /* in the worker's due heap, keyed on next_poll_ms */
    sw_heap_node_t deadline;      /* in its deadline heap while a poll is in flight */
    char auth_uid[SHM_UID_MAX];   /* of its TriggerAuthentication, "" if none */
    char target_uid[SHM_UID_MAX]; /* of its scale target when it reads its env, else "" */
    sw_poll_t poll;               /* the poll in flight, if any */
    shm_trig_result_t last;       /* what we last published */
};

typedef struct sw_auth sw_auth_t;

struct sw_worker {
    role_ctx_t ctx;
    uint32_t type_id;
    const sw_scaler_t *scaler;
    sw_trigger_t **by_slot; /* [max_trig]: assigned triggers by slot */
    sw_trigger_t **trig;    /* dense list of the same */
    uint32_t ntrig;
    uint64_t *rang_seq; /* [max_trig]: activity_seq we last rang the watcher for */
    /* The schedule (poll.c): idle triggers that will poll (or retry loading) by next_poll_ms,
     * polls in flight by deadline. A trigger that never loaded or has a configuration error
     * is in neither. */
    sw_heap_t due, deadlines;
    uint64_t demand_scan_ms; /* last look at the demand stamps (poll.c) */
    /* Configuration changes (assign.c): the table's trigger-config change count last seen, and
     * the triggers to look at whatever it says (new, credentials to resolve again, a new
     * configuration waiting for the poll in flight). */
    uint64_t cfg_changes;
    sw_trigger_t **check;
    uint32_t ncheck;
    bool suspect;      /* one poll in flight at a time */
    uint32_t inflight; /* polls in flight */
    int blobs_fd;      /* FD_BLOBS (tests pass their own) */
    int watcher_bell;  /* FD_WATCHER_BELL (tests pass their own) */
    sw_auth_t *auth;
    sw_io_t sig_io, live_io, bell_io;
    bool stop;
};

/* loop.c: the process's one epoll set. */
int sw_loop_open(void);
void sw_loop_close(void);
/* Waits up to timeout_ms, runs the callbacks of what is ready. Count run, or -errno. */
int sw_loop_run(int timeout_ms);

/* worker.c */
/* Sets up w (whose ctx, scaler, blobs_fd and watcher_bell are filled in) on the loop. */
int sw_worker_init(sw_worker_t *w);
/* One turn: starts due polls, expires late ones, waits up to max_wait_ms (capped so that the
 * heartbeat is at least once a second) and runs what became ready. */
void sw_worker_turn(sw_worker_t *w, int max_wait_ms);
void sw_worker_fini(sw_worker_t *w);

/* poll.c */
void sw_publish(sw_worker_t *w, sw_trigger_t *t, bool ok, double value, shm_fail_t failure,
                const char *error, uint32_t latency_us);
/* A demand poll (DESIGN.md "Freshness") starts no sooner than this long after the start of the
 * trigger's previous poll (or its pollingInterval, if shorter). */
#define SW_DEMAND_GAP_MS 1000u

/* The demand stamps are looked at on a loop turn at least this long after the last look (so at
 * least once a second, the longest wait of a turn). */
#define SW_DEMAND_SCAN_MS 100u

/* Starts due polls (on the interval, or on demand after an HPA read) and expires overdue ones;
 * returns ms until the next deadline. */
int sw_poll_due(sw_worker_t *w);
/* Puts t where its state says in the schedule: in flight by its deadline, else by
 * next_poll_ms unless it has no configuration to poll with. After every change of those. */
void sw_sched(sw_worker_t *w, sw_trigger_t *t);
/* Takes t out of the schedule (it is being dropped). */
void sw_sched_remove(sw_worker_t *w, sw_trigger_t *t);
/* t's polling interval, 1 s when it has none (KEDA's minimum). */
uint32_t sw_trigger_interval_ms(const sw_trigger_t *t);
/* Stops a poll in flight without publishing (the trigger is being dropped or reloaded). */
void sw_poll_abandon(sw_worker_t *w, sw_trigger_t *t);

/* assign.c */
/* Time one turn may spend loading configurations (which may wait on the Kubernetes API). */
#define SW_LOAD_BUDGET_MS 50

int sw_assign_init(sw_worker_t *w);
void sw_assign_load(sw_worker_t *w); /* on our doorbell: who is ours now */
/* Every turn: configuration changes of ours. True when the budget left some for next turn.
 * Reads every trigger's configuration only when the table's change count moved. */
bool sw_assign_refresh(sw_worker_t *w);
/* Asks the next refresh to look at t (new credentials to resolve). */
void sw_assign_check(sw_worker_t *w, sw_trigger_t *t);
void sw_assign_free(sw_worker_t *w);
/* Reads the config blob, resolves authentication, parses. A failure is published. at_once: a
 * new configuration, polled at once; otherwise (new credentials, a retry) the schedule stays. */
void sw_trigger_load_cfg(sw_worker_t *w, sw_trigger_t *t, bool at_once);
void sw_trigger_unload(sw_trigger_t *t);

/* auth.c: TriggerAuthentication resolution, cached per (uid, generation). */

/* Fetches one object (kind "Secret" or "ConfigMap") for the resolver; tests substitute a fake.
 * Returns 0 with *ret_obj owned by the caller, or -errno with a message in err. */
typedef int (*sw_auth_fetch_fn)(void *ctx, const char *kind, const char *ns, const char *name,
                                cJSON **ret_obj, char *err, size_t errlen);

/* cfg is borrowed. fetch NULL: the read-only Kubernetes client, created on first use from
 * cfg's kubeconfig (or the in-cluster account). NULL when memory runs out. */
sw_auth_t *sw_auth_new(const cfg_t *cfg, sw_auth_fetch_fn fetch, void *fetch_ctx);
sw_auth_t *sw_auth_free(sw_auth_t *a);
/* Resolves the blob's "authentication" object (so_ns: the ScaledObject's namespace). On 0,
 * *ret points into the cache and stays valid until the next call on a. -EINVAL: the spec is
 * malformed or uses what ckeda does not support (terminal until it changes); other -errno: a
 * failure worth retrying (API unreachable, Secret missing). err names the object. */
int sw_auth_resolve(sw_auth_t *a, const cJSON *authentication, const char *so_ns,
                    const sw_auth_params_t **ret, char *err, size_t errlen);
/* Drops cached values of that TriggerAuthentication, or of that scale target's environment
 * (the source refused them). */
void sw_auth_invalidate(sw_auth_t *a, const char *uid);
/* Wipes the values and frees. */
void sw_auth_params_free(sw_auth_params_t *p);
/* Sets name to value (the last one set wins, as in KEDA's maps). Takes value on success. */
int sw_auth_params_set(sw_auth_params_t *p, const char *name, char *value);

/* env.c: the scale target's container environment (KEDA's ResolveContainerEnv), cached per
 * target version. The sw_auth_t owns one (sw_auth_env()), sharing its fetchers. */

typedef struct sw_env sw_env_t;
typedef struct sw_env_target sw_env_target_t; /* one version of one scale target */

/* Fetches the scale target (apiVersion, kind) ns/name; tests substitute a fake. Contract as
 * sw_auth_fetch_fn; -ENOENT with the API server's text when it does not exist. */
typedef int (*sw_target_fetch_fn)(void *ctx, const char *api_version, const char *kind,
                                  const char *ns, const char *name, cJSON **ret_obj, char *err,
                                  size_t errlen);

sw_env_t *sw_env_new(const cfg_t *cfg, sw_auth_fetch_fn fetch, void *fetch_ctx,
                     sw_target_fetch_fn fetch_target, void *target_ctx);
sw_env_t *sw_env_free(sw_env_t *e);
void sw_env_set_target_fetch(sw_env_t *e, sw_target_fetch_fn fetch_target, void *target_ctx);
/* Reads the target the blob's "scaleTarget" names (apiVersion, kind, name) in namespace ns.
 * *ret points into the cache and stays valid until the next sw_env_target() on e. 0, or
 * -errno with the reason in err (-ENOENT: the target does not exist). */
int sw_env_target(sw_env_t *e, const cJSON *scale_target, const char *ns, sw_env_target_t **ret,
                  char *err, size_t errlen);
/* The environment of t's container named container (NULL or "": the first), resolved as KEDA's
 * resolveEnv; *ret lives as long as t's entry. A template without containers has an empty
 * environment. -ESRCH: no container of that name (KEDA's text in err); another -errno: a
 * required Secret or ConfigMap could not be read (KEDA's text in err). */
int sw_env_container(sw_env_t *e, sw_env_target_t *t, const char *container,
                     const sw_auth_params_t **ret, char *err, size_t errlen);
/* resolveEnv of one container object (its env and envFrom) in namespace ns, into out. */
int sw_env_resolve(sw_env_t *e, const cJSON *container, const char *ns, sw_auth_params_t *out,
                   char *err, size_t errlen);
/* KEDA's resolveEnvValue: $(NAME) references in value expanded from env. NULL: no memory. */
char *sw_env_expand(const char *value, const sw_auth_params_t *env);
/* "<uid>/<version>" of t, and its uid. */
const char *sw_env_target_key(const sw_env_target_t *t);
const char *sw_env_target_uid(const sw_env_target_t *t);
/* Drops what is cached of the target with this uid. */
void sw_env_invalidate(sw_env_t *e, const char *uid);

/* The auth's environment resolver; replaces how it reads scale targets (tests). */
sw_env_t *sw_auth_env(sw_auth_t *a);
void sw_auth_set_target_fetch(sw_auth_t *a, sw_target_fetch_fn fetch, void *fetch_ctx);
/* Whether the blob's "authentication" has `env` sources. */
bool sw_auth_uses_env(const cJSON *authentication);
/* sw_auth_resolve() with the scale target the `env` sources read (NULL: none, every env
 * parameter ""); the cache then also keys on the target's version. */
int sw_auth_resolve_env(sw_auth_t *a, const cJSON *authentication, const char *so_ns,
                        sw_env_target_t *tgt, const sw_auth_params_t **ret, char *err,
                        size_t errlen);

#endif
