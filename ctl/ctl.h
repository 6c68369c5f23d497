/*
 * ckedactl: read-only inspection of a live table (opened PROT_READ by name) or of a snapshot.
 * Safe on a production table: it takes no lock, writes nothing, and every value it shows comes
 * through the same seqlock reads and the same trigger-state function the roles use.
 */
#ifndef CKEDA_CTL_H
#define CKEDA_CTL_H

#include "shm/shm.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

typedef struct ctl {
    shm_table_t *table;
    uint64_t now_mono_ms; /* "now" for ages: the snapshot's save time for snapshots */
    uint64_t now_real_ms;
    bool snapshot;
    bool json;
} ctl_t;

/* One trigger as users see it (DESIGN.md fixes the JSON names). */
typedef struct ctl_trigger {
    shm_trig_view_t v; /* groups and state, as the scale loop and the adapter read them */
    bool has_value;    /* a valid result for the current configuration */
    bool quarantined;
    int32_t worker_pid; /* 0: none */
    char so_ns[SHM_NS_MAX];
    char so_name[SHM_NAME_MAX];
    bool so_job; /* the owner is a ScaledJob */
} ctl_trigger_t;

/* view.c: consistent copies through the shm API */
int ctl_trigger_load(const ctl_t *c, uint32_t slot, ctl_trigger_t *ret);
cJSON *ctl_trigger_json(const ctl_t *c, const ctl_trigger_t *t);
cJSON *ctl_so_json(const ctl_t *c, uint32_t slot, const shm_so_spec_t *spec);
cJSON *ctl_workers_json(const ctl_t *c);
const char *ctl_trigger_error(const ctl_trigger_t *t, char *buf, size_t cap);
uint32_t ctl_count_so(const ctl_t *c);

/* commands.c */
int ctl_cmd_status(const ctl_t *c);
int ctl_cmd_ls(const ctl_t *c);
int ctl_cmd_get(const ctl_t *c, const char *nsname);
int ctl_cmd_triggers(const ctl_t *c);
int ctl_cmd_workers(const ctl_t *c);
int ctl_cmd_top(ctl_t *c, int iterations, int interval_ms);

/* check.c */
int ctl_cmd_check(const ctl_t *c);

/* Milliseconds from then to now; 0 when then is later (read after `now` was taken). */
static inline uint64_t ctl_age(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/* Prints a cJSON document and frees it. */
void ctl_json_print(cJSON *doc);

#endif
