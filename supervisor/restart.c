/*
 * restart: the supervisor's restart arithmetic. Backoff starts at 100 ms and doubles to the
 * table's stale-after cap (30 s); a process that lived a healthy minute starts again from
 * 100 ms. The give-up window counts crashes of the watcher, adapters and webhook only.
 */
#include "supervisor/supervisor.h"

#include "shm/shm.h"

#include <stdbool.h>
#include <string.h>

uint32_t sup_backoff_next(uint32_t prev_ms, uint64_t lived_ms)
{
    if (prev_ms == 0 || lived_ms >= SUP_HEALTHY_MS)
        return SUP_BACKOFF_FIRST_MS;
    return prev_ms >= SHM_BACKOFF_CAP_MS / 2 ? SHM_BACKOFF_CAP_MS : prev_ms * 2;
}

uint64_t sup_quarantine_ms(uint32_t n, uint32_t base_s, uint32_t max_s)
{
    uint64_t ms = (uint64_t)base_s * 1000;
    for (uint32_t i = 1; i < n && ms < (uint64_t)max_s * 1000; i++)
        ms *= 2;
    return ms < (uint64_t)max_s * 1000 ? ms : (uint64_t)max_s * 1000;
}

bool sup_crashes_add(sup_crashes_t *c, uint64_t now_ms, uint64_t window_ms, uint32_t limit)
{
    uint32_t kept = 0;
    const uint32_t cap = sizeof c->at / sizeof c->at[0];

    for (uint32_t i = 0; i < c->n; i++)
        if (now_ms - c->at[i] < window_ms)
            c->at[kept++] = c->at[i];
    if (kept == cap) {
        memmove(c->at, c->at + 1, (cap - 1) * sizeof c->at[0]);
        kept--;
    }
    c->at[kept++] = now_ms;
    c->n = kept;
    return kept >= limit;
}
