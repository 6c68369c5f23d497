/*
 * layout: where each region lives for given capacities, and the checks a reader applies to a
 * header before trusting any offset in it. Runs in every process that attaches.
 */
#include "shm/shm_internal.h"

#include <errno.h>
#include <string.h>

static const uint32_t shm_entry_size[SHM_R_COUNT] = {
    [SHM_R_WATCHER] = sizeof(shm_g_watcher_t),
    [SHM_R_PROC_CTL] = sizeof(shm_g_proc_ctl_t),
    [SHM_R_PROC_SELF] = sizeof(shm_g_proc_self_t),
    [SHM_R_SO_SPEC] = sizeof(shm_g_so_spec_t),
    [SHM_R_SO_OBSERVED] = sizeof(shm_g_so_observed_t),
    [SHM_R_TRIG_CFG] = sizeof(shm_g_trig_cfg_t),
    [SHM_R_TRIG_CTL] = sizeof(shm_g_trig_ctl_t),
    [SHM_R_TRIG_RESULT] = sizeof(shm_g_trig_result_t),
    [SHM_R_TRIG_DEMAND] = sizeof(uint64_t),
    [SHM_R_INDEX] = sizeof(shm_bucket_t),
};

const shm_seq_region_t shm_seq_regions[] = {
    {SHM_R_WATCHER, "watcher", SHM_ROLE_WATCHER},
    {SHM_R_PROC_CTL, "process-control", SHM_ROLE_SUPERVISOR},
    {SHM_R_SO_SPEC, "scaledobject-spec", SHM_ROLE_WATCHER},
    {SHM_R_SO_OBSERVED, "scaledobject-observed", SHM_ROLE_WATCHER},
    {SHM_R_TRIG_CFG, "trigger-config", SHM_ROLE_WATCHER},
    {SHM_R_TRIG_CTL, "trigger-control", SHM_ROLE_SUPERVISOR},
    {SHM_R_TRIG_RESULT, "trigger-result", SHM_ROLE_SCALEWORKER},
    {SHM_R_INDEX, "index", SHM_ROLE_WATCHER},
};
const unsigned shm_seq_region_count = sizeof shm_seq_regions / sizeof shm_seq_regions[0];

static uint64_t shm_page_round(uint64_t n)
{
    return (n + SHM_PAGE - 1) & ~(uint64_t)(SHM_PAGE - 1);
}

static uint32_t shm_pow2_at_least(uint32_t n)
{
    uint32_t p = 16;
    while (p < n)
        p <<= 1;
    return p;
}

int shm_caps_check(const shm_caps_t *c)
{
    if (c->max_so < 1 || c->max_so > (1u << 20))
        return -EINVAL;
    if (c->max_trig < 1 || c->max_trig > (1u << 22))
        return -EINVAL;
    if (c->max_proc < 4 || c->max_proc > 4096)
        return -EINVAL;
    if (c->max_trig_per_so < 1 || c->max_trig_per_so > SHM_TRIGGERS_PER_SO_MAX)
        return -EINVAL;
    return 0;
}

void shm_layout_compute(const shm_caps_t *caps, shm_header_t *hdr)
{
    uint32_t counts[SHM_R_COUNT] = {
        [SHM_R_WATCHER] = 1,
        [SHM_R_PROC_CTL] = caps->max_proc,
        [SHM_R_PROC_SELF] = caps->max_proc,
        [SHM_R_SO_SPEC] = caps->max_so,
        [SHM_R_SO_OBSERVED] = caps->max_so,
        [SHM_R_TRIG_CFG] = caps->max_trig,
        [SHM_R_TRIG_CTL] = caps->max_trig,
        [SHM_R_TRIG_RESULT] = caps->max_trig,
        [SHM_R_TRIG_DEMAND] = caps->max_trig,
    };
    uint64_t off = shm_page_round(sizeof(shm_header_t));

    memset(hdr, 0, sizeof *hdr);
    memcpy(hdr->magic, SHM_MAGIC, sizeof hdr->magic);
    hdr->layout_version = SHM_LAYOUT_VERSION;
    hdr->header_size = sizeof(shm_header_t);
    hdr->caps = *caps;
    hdr->index_buckets = shm_pow2_at_least(2 * caps->max_so);
    counts[SHM_R_INDEX] = hdr->index_buckets;
    for (int r = 0; r < SHM_R_COUNT; r++) {
        uint64_t bytes = (uint64_t)counts[r] * shm_entry_size[r];
        if (r == SHM_R_INDEX)
            bytes += SHM_CACHE_LINE; /* the index group precedes its buckets */
        if (r == SHM_R_TRIG_CFG)
            bytes += sizeof(shm_g_trig_cfg_changes_t); /* the change count follows them */
        hdr->entry_sizes[r] = shm_entry_size[r];
        hdr->regions[r] = (shm_region_desc_t){.offset = off,
                                              .size = shm_page_round(bytes),
                                              .count = counts[r],
                                              .stride = shm_entry_size[r]};
        off += hdr->regions[r].size;
    }
    hdr->total_size = off;
}

size_t shm_table_size(const shm_caps_t *caps)
{
    shm_header_t hdr;
    shm_layout_compute(caps, &hdr);
    return hdr.total_size;
}

/* Everything a reader needs to trust before following an offset: the header is recomputed from
 * its own capacities and must match field for field. */
int shm_layout_validate(const shm_header_t *hdr, size_t mapped)
{
    shm_header_t want;

    if (mapped < sizeof *hdr || memcmp(hdr->magic, SHM_MAGIC, sizeof hdr->magic) != 0)
        return -EBADMSG;
    if (hdr->layout_version != SHM_LAYOUT_VERSION || hdr->header_size != sizeof *hdr)
        return -EPROTO;
    if (shm_caps_check(&hdr->caps) < 0)
        return -EBADMSG;
    shm_layout_compute(&hdr->caps, &want);
    if (hdr->total_size != want.total_size || hdr->total_size > mapped ||
        hdr->index_buckets != want.index_buckets)
        return -EBADMSG;
    if (memcmp(hdr->regions, want.regions, sizeof want.regions) != 0 ||
        memcmp(hdr->entry_sizes, want.entry_sizes, sizeof want.entry_sizes) != 0)
        return -EPROTO;
    return 0;
}
