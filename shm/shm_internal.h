/*
 * shm internals: the layout and the seqlock. Only files in shm/ include this.
 *
 * Layout: [header page(s)] then one region per writer, each starting on a page boundary:
 * watcher block, process control [P], process self [P], SO spec [S], SO observed [S],
 * trigger config [T] (then the trigger-config change count, on a cache line of its own),
 * trigger control [T], trigger result [T], trigger demand [T], index.
 * Entries are fixed-size and padded to a cache line. No pointers: offsets from the base.
 */
#ifndef CKEDA_SHM_INTERNAL_H
#define CKEDA_SHM_INTERNAL_H

#include "shm/shm.h"

#include <stdalign.h>
#include <stdatomic.h>

#define SHM_MAGIC      "CKEDATBL"
#define SHM_CACHE_LINE 64
#define SHM_PAGE       4096
#define SHM_READ_TRIES 2000

/* A seqlock: even when stable, odd while its single writer is between the two bumps. */
typedef struct shm_seq {
    _Atomic uint32_t seq;
    uint32_t pad;
} shm_seq_t;

/* One group: a sequence and its payload, on its own cache line(s). */
#define SHM_GROUP(tag, payload_t)                                                                  \
    typedef struct tag {                                                                           \
        alignas(SHM_CACHE_LINE) shm_seq_t seq;                                                     \
        payload_t v;                                                                               \
    } tag##_t

SHM_GROUP(shm_g_watcher, shm_watcher_t);
SHM_GROUP(shm_g_proc_ctl, shm_proc_ctl_t);
SHM_GROUP(shm_g_so_spec, shm_so_spec_t);
SHM_GROUP(shm_g_so_observed, shm_so_observed_t);
SHM_GROUP(shm_g_trig_cfg, shm_trig_cfg_t);
SHM_GROUP(shm_g_trig_ctl, shm_trig_ctl_t);
SHM_GROUP(shm_g_trig_result, shm_trig_result_t);

/* Process self: atomics only, no sequence. */
typedef struct shm_g_proc_self {
    alignas(SHM_CACHE_LINE) _Atomic uint64_t heartbeat_mono_ms;
    _Atomic uint64_t polls_total;
    _Atomic uint64_t errors_total;
    _Atomic uint32_t ack_assign_gen;
    _Atomic uint32_t inflight[SHM_INFLIGHT_MAX];
    alignas(SHM_CACHE_LINE) _Atomic uint64_t seq_retries_total;
    _Atomic uint64_t stats[SHM_PROC_STATS];
} shm_g_proc_self_t;

/* The trigger-config change count, one atomic on the cache line after the region's entries:
 * written by whoever writes a trigger-config group (the watcher; the supervisor's repair), so
 * it lives in their region. Not a seqlock group. */
typedef struct shm_g_trig_cfg_changes {
    alignas(SHM_CACHE_LINE) _Atomic uint64_t count;
} shm_g_trig_cfg_changes_t;

/* Index bucket. slot: SHM_NONE empty, SHM_TOMBSTONE deleted. */
#define SHM_TOMBSTONE (UINT32_MAX - 1)
typedef struct shm_bucket {
    uint32_t tag; /* high bits of the keyed hash */
    uint32_t slot;
    uint32_t generation;
    uint32_t pad;
} shm_bucket_t;

typedef struct shm_g_index {
    alignas(SHM_CACHE_LINE) shm_seq_t seq;
    uint32_t flags;   /* SHM_F_VALID; repair clears it, the watcher rebuilds */
    uint32_t buckets; /* power of two */
    uint32_t used;
    uint32_t tombstones;
    /* shm_bucket_t [buckets] follow, on the next cache line */
} shm_g_index_t;

enum {
    SHM_R_WATCHER,
    SHM_R_PROC_CTL,
    SHM_R_PROC_SELF,
    SHM_R_SO_SPEC,
    SHM_R_SO_OBSERVED,
    SHM_R_TRIG_CFG,
    SHM_R_TRIG_CTL,
    SHM_R_TRIG_RESULT,
    SHM_R_TRIG_DEMAND,
    SHM_R_INDEX,
    SHM_R_COUNT
};

typedef struct shm_region_desc {
    uint64_t offset;
    uint64_t size;   /* page-rounded */
    uint32_t count;  /* entries */
    uint32_t stride; /* bytes per entry */
} shm_region_desc_t;

typedef struct shm_header {
    char magic[8];
    uint32_t layout_version;
    uint32_t header_size;
    uint64_t total_size;
    shm_caps_t caps;
    uint32_t index_buckets;
    uint32_t entry_sizes[SHM_R_COUNT]; /* cross-build check on attach */
    shm_region_desc_t regions[SHM_R_COUNT];
    uint8_t nonce[16];
    uint8_t hash_key[16];
    int32_t supervisor_pid;
    uint32_t pad;
    uint64_t supervisor_start_real_ms;
    uint64_t registry_hash;
    uint16_t ports[SHM_PORT_COUNT];
    alignas(SHM_CACHE_LINE) _Atomic uint64_t supervisor_heartbeat_mono_ms;
} shm_header_t;

struct shm_table {
    uint8_t *base;
    size_t size;
    int fd;      /* -1 for images */
    bool mapped; /* munmap on close (else free) */
    shm_header_t *hdr;
};

_Static_assert(sizeof(shm_header_t) <= SHM_PAGE, "header fits its page");
_Static_assert(sizeof(shm_bucket_t) == 16, "bucket is 16 bytes");
_Static_assert(sizeof(shm_g_trig_cfg_changes_t) == SHM_CACHE_LINE, "the count takes one line");
_Static_assert(sizeof(shm_g_trig_cfg_t) % SHM_CACHE_LINE == 0, "the count starts a line");
_Static_assert(sizeof(shm_g_so_spec_t) % SHM_CACHE_LINE == 0, "groups are cache-line sized");
_Static_assert(offsetof(shm_g_so_spec_t, v) == 8, "payload follows its sequence");
_Static_assert(sizeof(shm_so_spec_t) % 8 == 0, "payloads are copied by machine words");
_Static_assert(sizeof(shm_so_observed_t) % 8 == 0, "payloads are copied by machine words");
_Static_assert(sizeof(shm_trig_cfg_t) % 8 == 0, "payloads are copied by machine words");
_Static_assert(sizeof(shm_trig_ctl_t) % 8 == 0, "payloads are copied by machine words");
_Static_assert(sizeof(shm_trig_result_t) % 8 == 0, "payloads are copied by machine words");
_Static_assert(sizeof(shm_proc_ctl_t) % 8 == 0, "payloads are copied by machine words");
_Static_assert(sizeof(shm_watcher_t) % 8 == 0, "payloads are copied by machine words");

static inline void *shm_entry(const shm_table_t *t, int region, uint32_t i)
{
    const shm_region_desc_t *r = &t->hdr->regions[region];
    return t->base + r->offset + (uint64_t)i * r->stride;
}

static inline shm_g_trig_cfg_changes_t *shm_trig_cfg_changes_at(const shm_table_t *t)
{
    return shm_entry(t, SHM_R_TRIG_CFG, t->hdr->regions[SHM_R_TRIG_CFG].count);
}

static inline shm_bucket_t *shm_buckets(const shm_table_t *t)
{
    return (shm_bucket_t *)((uint8_t *)shm_entry(t, SHM_R_INDEX, 0) + SHM_CACHE_LINE);
}

/* seqlock.c */
void shm_words_load(void *dst, const void *src, size_t n);
void shm_words_store(void *dst, const void *src, size_t n);
int shm_seq_read(const shm_seq_t *s, const void *src, void *dst, size_t n);
/* Adds tries to this process's read-retry count (shm_seq_read_retries). */
void shm_seq_count_retries(int tries);
void shm_seq_write(shm_seq_t *s, void *dst, const void *src, size_t n);
void shm_seq_write_begin(shm_seq_t *s);
void shm_seq_write_end(shm_seq_t *s);

/* layout.c */
void shm_layout_compute(const shm_caps_t *caps, shm_header_t *hdr);
int shm_layout_validate(const shm_header_t *hdr, size_t mapped);

/* Seqlock groups, for repair, check and snapshots. */
typedef struct shm_seq_region {
    int region;
    const char *name;
    shm_role_t writer;
} shm_seq_region_t;
extern const shm_seq_region_t shm_seq_regions[];
extern const unsigned shm_seq_region_count;

#endif
