/*
 * Private state of the supervisor. Allocated once at start-up; nothing is allocated after the
 * first fork. The child array mirrors the table's process-control region, which the supervisor
 * alone writes (sup_child_publish).
 */
#ifndef CKEDA_SUP_INTERNAL_H
#define CKEDA_SUP_INTERNAL_H

#include "common/config.h"
#include "shm/shm.h"
#include "supervisor/supervisor.h"

#include <stdbool.h>
#include <sys/types.h>

typedef struct sup_child {
    shm_role_t role; /* SHM_ROLE_COUNT: empty slot */
    uint32_t type_id;
    uint32_t shard;
    bool suspect;
    pid_t pid; /* 0 when not running */
    shm_proc_state_t state;
    uint32_t restarts;
    int32_t last_exit;
    uint32_t backoff_ms;
    uint64_t started_ms;
    uint64_t next_start_ms;
    uint64_t idle_since_ms; /* workers: since it had no trigger */
    uint64_t stop_deadline_ms;
    uint32_t assign_gen;
    uint32_t ntriggers;
    bool retiring;
    bool notify; /* assign_gen bumped; publish and ring once the trigger control is written */
    bool watchdog_fired;
    bool killed; /* SIGKILL sent at the end of the grace period */
    sup_crashes_t crashes;
} sup_child_t;

typedef struct sup {
    cfg_t cfg;
    shm_table_t *table;
    int blob_dir;
    int exe_fd;
    int bell_watcher;
    int bell_sup;
    int live_r, live_w;
    int listen[SHM_PORT_COUNT];
    int *bells; /* one per process slot */
    sup_child_t *child;
    uint32_t nproc;
    uint32_t first_worker; /* slots below are the fixed roles */
    char **cfg_argv;       /* canonical configuration flags for children */
    size_t cfg_argc;
    bool stopping;
    uint64_t stop_deadline_ms;
    int exit_code;
} sup_t;

/* children.c */
int sup_child_spawn(sup_t *s, uint32_t slot);
void sup_child_publish(sup_t *s, uint32_t slot);
void sup_child_set_state(sup_t *s, uint32_t slot, shm_proc_state_t state, const char *why);
void sup_children_reap(sup_t *s);
void sup_children_tick(sup_t *s, uint64_t now);
void sup_children_stop(sup_t *s, uint64_t now);
bool sup_children_alive(const sup_t *s);
const char *sup_child_name(const sup_t *s, uint32_t slot, char *buf, size_t cap);
void sup_shutdown(sup_t *s, int exit_code, const char *why);

/* assign.c */
void sup_assign_scan(sup_t *s, uint64_t now);
/* A worker died: strike the triggers it had in flight. Returns how many were charged. */
unsigned sup_assign_charge(sup_t *s, uint32_t slot, const shm_proc_self_t *self, int32_t code,
                           uint64_t now);
/* A worker is gone for good (retired, disabled): forget pending releases it owed. */
void sup_assign_forget(sup_t *s, uint32_t slot);

/* sockets.c */
int sup_sockets_bind(sup_t *s);

#endif
