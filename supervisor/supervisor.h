/*
 * supervisor: `ckeda run`, PID 1 in the pod. Creates and locks the table, binds the listening
 * sockets, creates the eventfds, fork+execs the roles, restarts them, repairs what a dead
 * writer left half-written, assigns triggers to scale workers and charges their crashes. No
 * Kubernetes, no TLS, no parsing of strings another process wrote.
 */
#ifndef CKEDA_SUPERVISOR_H
#define CKEDA_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>

int sup_run(int argc, char **argv);

/* Restart arithmetic (restart.c), pure functions for the unit tests. */
#define SUP_BACKOFF_FIRST_MS 100u
#define SUP_HEALTHY_MS       60000u
uint32_t sup_backoff_next(uint32_t prev_ms, uint64_t lived_ms);
/* Quarantine length for the n-th quarantine (n >= 1): base doubling, capped. */
uint64_t sup_quarantine_ms(uint32_t n, uint32_t base_s, uint32_t max_s);
/* Crash accounting over a sliding window: returns true when `limit` crashes fall within it. */
typedef struct sup_crashes {
    uint64_t at[32];
    uint32_t n;
} sup_crashes_t;
bool sup_crashes_add(sup_crashes_t *c, uint64_t now_ms, uint64_t window_ms, uint32_t limit);

#endif
