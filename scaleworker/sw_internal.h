/*
 * Private state of a scale worker process.
 */
#ifndef CKEDA_SW_INTERNAL_H
#define CKEDA_SW_INTERNAL_H

#include "common/role.h"
#include "scaleworker/scaler.h"

typedef struct sw_trigger {
    uint32_t slot;
    shm_trig_cfg_t cfg; /* copy of the trigger-config group */
    uint64_t cfg_gen;   /* generation the state was parsed from */
    void *state;        /* the scaler's parsed configuration */
    const sw_scaler_t *scaler;
    uint64_t next_poll_ms;
    bool in_flight;
    bool config_error;
    bool first_poll;
    shm_trig_result_t last; /* what we last published */
} sw_trigger_t;

typedef struct sw_worker {
    role_ctx_t ctx;
    uint32_t type_id;
    const sw_scaler_t *scaler;
    sw_trigger_t **by_slot; /* [max_trig]: assigned triggers by slot */
    sw_trigger_t **trig;    /* dense list of the same */
    uint32_t ntrig;
    uint64_t *rang_seq; /* [max_trig]: activity_seq we last rang the watcher for */
    bool suspect;
} sw_worker_t;

/* assign.c */
int sw_assign_init(sw_worker_t *w);
void sw_assign_load(sw_worker_t *w);    /* on our doorbell: who is ours now */
void sw_assign_refresh(sw_worker_t *w); /* every turn: config changes of ours */
void sw_assign_free(sw_worker_t *w);

/* worker.c */
void sw_publish(sw_worker_t *w, sw_trigger_t *t, bool ok, double value, shm_fail_t failure,
                const char *error, uint32_t latency_us);
int sw_poll_due(sw_worker_t *w);
void sw_trigger_load_cfg(sw_worker_t *w, sw_trigger_t *t);

#endif
