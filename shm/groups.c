/*
 * groups: typed read and write of every field group. Each write is a whole-payload publish
 * under the group's seqlock by its single writer (see the table in shm.h); each read is a
 * consistent copy or -EAGAIN when the writer is mid-write for longer than the bounded retries.
 * Slot numbers are checked against the capacities: an out-of-range slot is a caller's bug
 * (assert) on writes and -ERANGE on reads, since readers may follow numbers read from the table.
 */
#include "shm/shm_internal.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#define SHM_GROUP_READ(fn, region, group_t, payload_t)                                             \
    int shm_##fn##_read(const shm_table_t *t, uint32_t slot, payload_t *ret)                       \
    {                                                                                              \
        payload_t tmp;                                                                             \
        if (slot >= t->hdr->regions[region].count)                                                 \
            return -ERANGE;                                                                        \
        const group_t *g = shm_entry(t, region, slot);                                             \
        int r = shm_seq_read(&g->seq, &g->v, &tmp, sizeof tmp);                                    \
        if (r == 0)                                                                                \
            *ret = tmp;                                                                            \
        return r;                                                                                  \
    }

#define SHM_GROUP_ACCESSORS(fn, region, group_t, payload_t)                                        \
    SHM_GROUP_READ(fn, region, group_t, payload_t)                                                 \
    void shm_##fn##_write(shm_table_t *t, uint32_t slot, const payload_t *v)                       \
    {                                                                                              \
        assert(slot < t->hdr->regions[region].count);                                              \
        group_t *g = shm_entry(t, region, slot);                                                   \
        shm_seq_write(&g->seq, &g->v, v, sizeof *v);                                               \
    }

SHM_GROUP_ACCESSORS(proc_ctl, SHM_R_PROC_CTL, shm_g_proc_ctl_t, shm_proc_ctl_t)
SHM_GROUP_ACCESSORS(so_spec, SHM_R_SO_SPEC, shm_g_so_spec_t, shm_so_spec_t)
SHM_GROUP_ACCESSORS(so_observed, SHM_R_SO_OBSERVED, shm_g_so_observed_t, shm_so_observed_t)
SHM_GROUP_READ(trig_cfg, SHM_R_TRIG_CFG, shm_g_trig_cfg_t, shm_trig_cfg_t)
SHM_GROUP_ACCESSORS(trig_ctl, SHM_R_TRIG_CTL, shm_g_trig_ctl_t, shm_trig_ctl_t)
SHM_GROUP_ACCESSORS(trig_result, SHM_R_TRIG_RESULT, shm_g_trig_result_t, shm_trig_result_t)

/* The count moves after the group is even again (release): a reader that sees the new count
 * (acquire) reads the new payload. */
void shm_trig_cfg_write(shm_table_t *t, uint32_t slot, const shm_trig_cfg_t *v)
{
    assert(slot < t->hdr->regions[SHM_R_TRIG_CFG].count);
    shm_g_trig_cfg_t *g = shm_entry(t, SHM_R_TRIG_CFG, slot);
    shm_seq_write(&g->seq, &g->v, v, sizeof *v);
    atomic_fetch_add_explicit(&shm_trig_cfg_changes_at(t)->count, 1, memory_order_release);
}

uint64_t shm_trig_cfg_changes(const shm_table_t *t)
{
    return atomic_load_explicit(&shm_trig_cfg_changes_at(t)->count, memory_order_acquire);
}

int shm_watcher_read(const shm_table_t *t, shm_watcher_t *ret)
{
    const shm_g_watcher_t *g = shm_entry(t, SHM_R_WATCHER, 0);
    shm_watcher_t tmp;
    int r = shm_seq_read(&g->seq, &g->v, &tmp, sizeof tmp);
    if (r == 0)
        *ret = tmp;
    return r;
}

void shm_watcher_write(shm_table_t *t, const shm_watcher_t *v)
{
    shm_g_watcher_t *g = shm_entry(t, SHM_R_WATCHER, 0);
    shm_seq_write(&g->seq, &g->v, v, sizeof *v);
}

/* ---- process self: atomics; inflight entries hold trigger slot + 1 (0: free) ------------- */

static shm_g_proc_self_t *shm_self(const shm_table_t *t, uint32_t slot)
{
    assert(slot < t->hdr->caps.max_proc);
    return shm_entry(t, SHM_R_PROC_SELF, slot);
}

void shm_proc_self_read(const shm_table_t *t, uint32_t slot, shm_proc_self_t *ret)
{
    shm_g_proc_self_t *g = shm_self(t, slot);
    uint32_t n = 0;

    memset(ret, 0, sizeof *ret);
    ret->heartbeat_mono_ms = atomic_load_explicit(&g->heartbeat_mono_ms, memory_order_relaxed);
    ret->ack_assign_gen = atomic_load_explicit(&g->ack_assign_gen, memory_order_acquire);
    ret->polls_total = atomic_load_explicit(&g->polls_total, memory_order_relaxed);
    ret->errors_total = atomic_load_explicit(&g->errors_total, memory_order_relaxed);
    ret->seq_retries_total = atomic_load_explicit(&g->seq_retries_total, memory_order_relaxed);
    for (uint32_t i = 0; i < SHM_PROC_STATS; i++)
        ret->stats[i] = atomic_load_explicit(&g->stats[i], memory_order_relaxed);
    for (uint32_t i = 0; i < SHM_INFLIGHT_MAX; i++) {
        uint32_t v = atomic_load_explicit(&g->inflight[i], memory_order_acquire);
        if (v != 0)
            ret->inflight[n++] = v - 1;
    }
    for (uint32_t i = n; i < SHM_INFLIGHT_MAX; i++)
        ret->inflight[i] = SHM_NONE;
    ret->inflight_count = n;
}

void shm_proc_self_reset(shm_table_t *t, uint32_t slot)
{
    shm_g_proc_self_t *g = shm_self(t, slot);

    atomic_store_explicit(&g->heartbeat_mono_ms, 0, memory_order_relaxed);
    atomic_store_explicit(&g->ack_assign_gen, 0, memory_order_relaxed);
    for (uint32_t i = 0; i < SHM_INFLIGHT_MAX; i++)
        atomic_store_explicit(&g->inflight[i], 0, memory_order_relaxed);
}

void shm_proc_heartbeat(shm_table_t *t, uint32_t slot, uint64_t now_mono_ms)
{
    static uint64_t published; /* this process's retries already added to its slot */
    shm_g_proc_self_t *g = shm_self(t, slot);
    uint64_t retries = shm_seq_read_retries();

    atomic_store_explicit(&g->heartbeat_mono_ms, now_mono_ms, memory_order_relaxed);
    if (retries != published) { /* added, not stored: the slot's count outlives the process */
        atomic_fetch_add_explicit(&g->seq_retries_total, retries - published, memory_order_relaxed);
        published = retries;
    }
}

void shm_proc_stat_add(shm_table_t *t, uint32_t slot, uint32_t idx, uint64_t n)
{
    assert(idx < SHM_PROC_STATS);
    atomic_fetch_add_explicit(&shm_self(t, slot)->stats[idx], n, memory_order_relaxed);
}

void shm_proc_ack(shm_table_t *t, uint32_t slot, uint32_t assign_gen)
{
    atomic_store_explicit(&shm_self(t, slot)->ack_assign_gen, assign_gen, memory_order_release);
}

void shm_proc_count(shm_table_t *t, uint32_t slot, uint64_t polls, uint64_t errors)
{
    shm_g_proc_self_t *g = shm_self(t, slot);
    atomic_fetch_add_explicit(&g->polls_total, polls, memory_order_relaxed);
    atomic_fetch_add_explicit(&g->errors_total, errors, memory_order_relaxed);
}

/* The entry is published before the poll starts (release), so a crash during the poll always
 * finds it: the supervisor reads the list after the process is reaped. */
int shm_proc_inflight_add(shm_table_t *t, uint32_t slot, uint32_t trig)
{
    shm_g_proc_self_t *g = shm_self(t, slot);

    for (uint32_t i = 0; i < SHM_INFLIGHT_MAX; i++)
        if (atomic_load_explicit(&g->inflight[i], memory_order_relaxed) == 0) {
            atomic_store_explicit(&g->inflight[i], trig + 1, memory_order_release);
            return 0;
        }
    return -ENOSPC;
}

void shm_proc_inflight_del(shm_table_t *t, uint32_t slot, uint32_t trig)
{
    shm_g_proc_self_t *g = shm_self(t, slot);

    for (uint32_t i = 0; i < SHM_INFLIGHT_MAX; i++)
        if (atomic_load_explicit(&g->inflight[i], memory_order_relaxed) == trig + 1) {
            atomic_store_explicit(&g->inflight[i], 0, memory_order_release);
            return;
        }
}

/* ---- trigger demand: one atomic per trigger, last writer wins ---------------------------- */

uint64_t shm_trig_demand_get(const shm_table_t *t, uint32_t slot)
{
    if (slot >= t->hdr->caps.max_trig)
        return 0;
    return __atomic_load_n((uint64_t *)shm_entry(t, SHM_R_TRIG_DEMAND, slot), __ATOMIC_RELAXED);
}

void shm_trig_demand_stamp(shm_table_t *t, uint32_t slot, uint64_t now_mono_ms)
{
    assert(slot < t->hdr->caps.max_trig);
    __atomic_store_n((uint64_t *)shm_entry(t, SHM_R_TRIG_DEMAND, slot), now_mono_ms,
                     __ATOMIC_RELAXED);
}
