/*
 * index: (namespace, name) -> ScaledObject slot, an open-addressing hash table in the table,
 * written by the watcher alone under one index-wide seqlock. A hint only: every hit is verified
 * against the slot's spec. The hash is SipHash-2-4 keyed with the header's random key, so
 * object names cannot be chosen to collide. Rebuilt in place when tombstones pass a quarter of
 * the buckets, and by a restarted watcher; while it is invalid (repaired after a crash),
 * readers scan the spec region instead.
 */
#include "shm/shm_internal.h"

#include <errno.h>
#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static uint64_t shm_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t shm_siphash(const uint8_t key[16], const void *data, size_t len)
{
    const uint8_t *in = data;
    uint64_t k0 = shm_le64(key), k1 = shm_le64(key + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)len << 56, m;
    size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        m = shm_le64(in + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t j = 0; i + j < len; j++)
        b |= (uint64_t)in[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t shm_key_hash(const shm_table_t *t, const char *ns, const char *name)
{
    char key[SHM_NS_MAX + SHM_NAME_MAX + 1];
    size_t a = strnlen(ns, SHM_NS_MAX), b = strnlen(name, SHM_NAME_MAX);

    memcpy(key, ns, a);
    key[a] = '/';
    memcpy(key + a + 1, name, b);
    return shm_siphash(t->hdr->hash_key, key, a + 1 + b);
}

static shm_g_index_t *shm_index(const shm_table_t *t)
{
    return shm_entry(t, SHM_R_INDEX, 0);
}

static void shm_bucket_put(shm_bucket_t *b, uint32_t tag, uint32_t slot, uint32_t gen)
{
    shm_bucket_t v = {.tag = tag, .slot = slot, .generation = gen};
    shm_words_store(b, &v, sizeof v);
}

/* Watcher only, inside the index seqlock. */
static void shm_index_place(shm_table_t *t, uint64_t h, uint32_t slot, uint32_t gen)
{
    shm_g_index_t *ix = shm_index(t);
    uint32_t mask = ix->buckets - 1;
    shm_bucket_t *bk = shm_buckets(t);

    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        if (bk[i].slot == SHM_NONE || bk[i].slot == SHM_TOMBSTONE) {
            if (bk[i].slot == SHM_TOMBSTONE)
                __atomic_store_n(&ix->tombstones, ix->tombstones - 1, __ATOMIC_RELAXED);
            shm_bucket_put(&bk[i], (uint32_t)(h >> 32), slot, gen);
            __atomic_store_n(&ix->used, ix->used + 1, __ATOMIC_RELAXED);
            return;
        }
    }
}

void shm_index_rebuild(shm_table_t *t)
{
    shm_g_index_t *ix = shm_index(t);
    shm_so_spec_t spec;

    shm_seq_write_begin(&ix->seq);
    for (uint32_t i = 0; i < ix->buckets; i++)
        shm_bucket_put(&shm_buckets(t)[i], 0, SHM_NONE, 0);
    __atomic_store_n(&ix->used, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&ix->tombstones, 0, __ATOMIC_RELAXED);
    for (uint32_t s = 0; s < t->hdr->caps.max_so; s++)
        if (shm_so_spec_read(t, s, &spec) == 0 && (spec.flags & SHM_F_VALID) &&
            !(spec.flags & SHM_SO_F_SCALEDJOB))
            shm_index_place(t, shm_key_hash(t, spec.ns, spec.name), s, spec.generation);
    __atomic_store_n(&ix->flags, SHM_F_VALID, __ATOMIC_RELAXED);
    shm_seq_write_end(&ix->seq);
}

/* Watcher only: the bucket holding (ns/name's hash, slot) on its probe run, or NULL. */
static shm_bucket_t *shm_index_lookup(shm_table_t *t, uint64_t h, uint32_t slot)
{
    shm_g_index_t *ix = shm_index(t);
    uint32_t mask = ix->buckets - 1;
    shm_bucket_t *bk = shm_buckets(t);

    for (uint32_t i = (uint32_t)h & mask, n = 0; n < ix->buckets; i = (i + 1) & mask, n++) {
        if (bk[i].slot == SHM_NONE)
            break;
        if (bk[i].slot == slot && bk[i].tag == (uint32_t)(h >> 32))
            return &bk[i];
    }
    return NULL;
}

int shm_index_insert(shm_table_t *t, const char *ns, const char *name, uint32_t slot,
                     uint32_t generation)
{
    shm_g_index_t *ix = shm_index(t);
    uint64_t h = shm_key_hash(t, ns, name);
    shm_bucket_t *b;

    if (slot >= t->hdr->caps.max_so)
        return -ERANGE;
    if (!(ix->flags & SHM_F_VALID) || ix->tombstones > ix->buckets / 4)
        shm_index_rebuild(t);
    /* Already there: the rebuild just placed it from its (already written) spec, or the
     * watcher indexes an object again. A second entry would leak `used` until a rebuild. */
    if ((b = shm_index_lookup(t, h, slot))) {
        if (b->generation != generation) {
            shm_seq_write_begin(&ix->seq);
            shm_bucket_put(b, b->tag, slot, generation);
            shm_seq_write_end(&ix->seq);
        }
        return 0;
    }
    if (ix->used + ix->tombstones + 1 > ix->buckets / 2 + ix->buckets / 4)
        return -ENOSPC; /* cannot happen with buckets >= 2 x max_so */
    shm_seq_write_begin(&ix->seq);
    shm_index_place(t, h, slot, generation);
    shm_seq_write_end(&ix->seq);
    return 0;
}

int shm_index_remove(shm_table_t *t, const char *ns, const char *name, uint32_t slot)
{
    shm_g_index_t *ix = shm_index(t);
    shm_bucket_t *b = shm_index_lookup(t, shm_key_hash(t, ns, name), slot);

    if (!b)
        return -ENOENT;
    shm_seq_write_begin(&ix->seq);
    shm_bucket_put(b, 0, SHM_TOMBSTONE, 0);
    __atomic_store_n(&ix->used, ix->used - 1, __ATOMIC_RELAXED);
    __atomic_store_n(&ix->tombstones, ix->tombstones + 1, __ATOMIC_RELAXED);
    shm_seq_write_end(&ix->seq);
    return 0;
}

static bool shm_so_matches(const shm_table_t *t, uint32_t slot, const char *ns, const char *name,
                           shm_so_spec_t *spec)
{
    return shm_so_spec_read(t, slot, spec) == 0 && (spec->flags & SHM_F_VALID) &&
           !(spec->flags & SHM_SO_F_SCALEDJOB) && strcmp(spec->ns, ns) == 0 &&
           strcmp(spec->name, name) == 0;
}

/* Candidate slots from the index, copied under its seqlock. -EAGAIN: index unusable now. */
static int shm_index_candidates(const shm_table_t *t, uint64_t h, uint32_t *cand, uint32_t max,
                                uint32_t *ret_n)
{
    const shm_g_index_t *ix = shm_index(t);

    for (int tries = 0; tries < SHM_READ_TRIES; tries++) {
        uint32_t begin = atomic_load_explicit(&ix->seq.seq, memory_order_acquire), n = 0;
        if (begin & 1)
            continue;
        uint32_t flags = __atomic_load_n(&ix->flags, __ATOMIC_RELAXED);
        uint32_t mask = ix->buckets - 1;
        const shm_bucket_t *bk = shm_buckets(t);
        for (uint32_t i = (uint32_t)h & mask, k = 0; k < ix->buckets; i = (i + 1) & mask, k++) {
            uint32_t s = __atomic_load_n(&bk[i].slot, __ATOMIC_RELAXED);
            if (s == SHM_NONE || n == max)
                break;
            if (s != SHM_TOMBSTONE &&
                __atomic_load_n(&bk[i].tag, __ATOMIC_RELAXED) == (uint32_t)(h >> 32))
                cand[n++] = s;
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&ix->seq.seq, memory_order_relaxed) != begin)
            continue;
        shm_seq_count_retries(tries);
        if (!(flags & SHM_F_VALID))
            return -EAGAIN;
        *ret_n = n;
        return 0;
    }
    shm_seq_count_retries(SHM_READ_TRIES);
    return -EAGAIN;
}

int shm_so_find(const shm_table_t *t, const char *ns, const char *name, uint32_t *ret_slot,
                shm_so_spec_t *ret_spec)
{
    uint32_t cand[8], n = 0, slot = SHM_NONE;
    shm_so_spec_t spec;

    if (shm_index_candidates(t, shm_key_hash(t, ns, name), cand, 8, &n) == 0) {
        for (uint32_t i = 0; i < n && slot == SHM_NONE; i++)
            if (shm_so_matches(t, cand[i], ns, name, &spec))
                slot = cand[i];
        if (slot == SHM_NONE && n < 8)
            return -ENOENT;
    }
    /* The index is being repaired, or a probe run is longer than we copy: scan. */
    for (uint32_t s = 0; s < t->hdr->caps.max_so && slot == SHM_NONE; s++)
        if (shm_so_matches(t, s, ns, name, &spec))
            slot = s;
    if (slot == SHM_NONE)
        return -ENOENT;
    *ret_slot = slot;
    if (ret_spec)
        *ret_spec = spec;
    return 0;
}

void shm_index_stats(const shm_table_t *t, shm_index_stats_t *ret)
{
    const shm_g_index_t *ix = shm_index(t);
    *ret = (shm_index_stats_t){
        .buckets = ix->buckets,
        .used = __atomic_load_n(&ix->used, __ATOMIC_RELAXED),
        .tombstones = __atomic_load_n(&ix->tombstones, __ATOMIC_RELAXED),
        .valid = __atomic_load_n(&ix->flags, __ATOMIC_RELAXED) & SHM_F_VALID,
    };
}
