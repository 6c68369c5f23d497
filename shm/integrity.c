/*
 * integrity: repair after a writer dies, the odd-sequence census for `ckedactl check`, and
 * consistent whole-table copies for snapshots.
 *
 * Repair runs in the supervisor after it has reaped a writer, so that writer can no longer be
 * between its two bumps: a group it left odd is completed by clearing its flags word (the
 * payload becomes invalid) and making the sequence even. Even groups keep their last value;
 * staleness decides when a reader stops trusting it. Trigger results are repaired only for the
 * triggers assigned to the dead worker: other workers may be mid-write right now. A repaired
 * trigger-config group bumps the change count, as a write does.
 */
#include "shm/shm_internal.h"

#include <string.h>

typedef struct shm_group_ref {
    shm_seq_t *seq;
    void *payload; /* starts with the flags word */
    size_t size;
} shm_group_ref_t;

static size_t shm_payload_size(int region)
{
    switch (region) {
    case SHM_R_WATCHER:
        return sizeof(shm_watcher_t);
    case SHM_R_PROC_CTL:
        return sizeof(shm_proc_ctl_t);
    case SHM_R_SO_SPEC:
        return sizeof(shm_so_spec_t);
    case SHM_R_SO_OBSERVED:
        return sizeof(shm_so_observed_t);
    case SHM_R_TRIG_CFG:
        return sizeof(shm_trig_cfg_t);
    case SHM_R_TRIG_CTL:
        return sizeof(shm_trig_ctl_t);
    case SHM_R_TRIG_RESULT:
        return sizeof(shm_trig_result_t);
    default: /* the index group: flags, buckets, used, tombstones */
        return 16;
    }
}

static uint32_t shm_group_count(const shm_table_t *t, int region)
{
    return region == SHM_R_INDEX ? 1 : t->hdr->regions[region].count;
}

static shm_group_ref_t shm_group_at(const shm_table_t *t, const uint8_t *base, int region,
                                    uint32_t i)
{
    const shm_region_desc_t *d = &t->hdr->regions[region];
    uint8_t *g =
        (uint8_t *)base + d->offset + (region == SHM_R_INDEX ? 0 : (uint64_t)i * d->stride);
    return (shm_group_ref_t){
        .seq = (shm_seq_t *)g, .payload = g + 8, .size = shm_payload_size(region)};
}

static bool shm_seq_odd(const shm_seq_t *s)
{
    return atomic_load_explicit(&s->seq, memory_order_acquire) & 1;
}

static bool shm_repair_group(shm_group_ref_t g)
{
    if (!shm_seq_odd(g.seq))
        return false;
    __atomic_store_n((uint32_t *)g.payload, 0, __ATOMIC_RELAXED);
    shm_seq_write_end(g.seq);
    return true;
}

unsigned shm_repair(shm_table_t *t, shm_role_t role, uint32_t proc)
{
    unsigned repaired = 0;
    shm_trig_ctl_t ctl;

    for (unsigned k = 0; k < shm_seq_region_count; k++) {
        const shm_seq_region_t *sr = &shm_seq_regions[k];
        if (sr->writer != role)
            continue;
        for (uint32_t i = 0; i < shm_group_count(t, sr->region); i++) {
            /* A worker also still writes a trigger it is being released from, until it
             * acknowledges: unassigned (worker SHM_NONE) with release_from naming it. */
            if (sr->region == SHM_R_TRIG_RESULT &&
                (shm_trig_ctl_read(t, i, &ctl) < 0 ||
                 !(ctl.worker == proc || (ctl.worker == SHM_NONE && ctl.release_from == proc))))
                continue;
            if (shm_repair_group(shm_group_at(t, t->base, sr->region, i))) {
                repaired++;
                if (sr->region == SHM_R_TRIG_CFG) /* readers look again: it is invalid now */
                    atomic_fetch_add_explicit(&shm_trig_cfg_changes_at(t)->count, 1,
                                              memory_order_release);
            }
        }
    }
    return repaired;
}

unsigned shm_odd_groups(const shm_table_t *t, shm_odd_group_t *ret, unsigned max)
{
    unsigned n = 0;

    for (unsigned k = 0; k < shm_seq_region_count; k++) {
        const shm_seq_region_t *sr = &shm_seq_regions[k];
        for (uint32_t i = 0; i < shm_group_count(t, sr->region); i++) {
            if (!shm_seq_odd(shm_group_at(t, t->base, sr->region, i).seq))
                continue;
            if (n < max)
                ret[n] = (shm_odd_group_t){.region = sr->name, .entry = i};
            n++;
        }
    }
    return n;
}

void shm_table_copy(const shm_table_t *t, void *dst)
{
    shm_words_load(dst, t->base, t->hdr->total_size);
    for (unsigned k = 0; k < shm_seq_region_count; k++) {
        const shm_seq_region_t *sr = &shm_seq_regions[k];
        if (sr->region == SHM_R_INDEX)
            continue; /* buckets are a hint; a reader verifies every hit */
        for (uint32_t i = 0; i < shm_group_count(t, sr->region); i++) {
            shm_group_ref_t src = shm_group_at(t, t->base, sr->region, i);
            shm_group_ref_t out = shm_group_at(t, dst, sr->region, i);
            if (shm_seq_read(src.seq, src.payload, out.payload, src.size) == 0)
                atomic_store_explicit(&out.seq->seq, 0, memory_order_relaxed);
            else /* no consistent copy: the raw bytes must not pass for one */
                atomic_fetch_or_explicit(&out.seq->seq, 1, memory_order_relaxed);
        }
    }
}
