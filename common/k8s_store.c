/*
 * k8s_store: the keys an informer has delivered (namespace/name -> uid, resourceVersion), so a
 * relist can tell the caller what changed, appeared or vanished while the watch was down, and
 * duplicate events can be dropped. Objects themselves are not kept: the caller keeps what it
 * needs, stripped.
 *
 * A chained hash table keyed with SipHash-2-4 under a random key: object names are chosen by
 * users, who must not be able to pile them into one bucket. One store per informer; one thread.
 */
#include "common/k8s_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define K8S_STORE_MIN_BUCKETS 64

static inline uint64_t k8s_rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline void k8s_sipround(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = k8s_rotl(v[1], 13) ^ v[0];
    v[0] = k8s_rotl(v[0], 32);
    v[2] += v[3];
    v[3] = k8s_rotl(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = k8s_rotl(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = k8s_rotl(v[1], 17) ^ v[2];
    v[2] = k8s_rotl(v[2], 32);
}

uint64_t k8s_siphash(uint64_t k0, uint64_t k1, const unsigned char *in, size_t len)
{
    uint64_t v[4] = {0x736f6d6570736575ULL ^ k0, 0x646f72616e646f6dULL ^ k1,
                     0x6c7967656e657261ULL ^ k0, 0x7465646279746573ULL ^ k1};
    uint64_t b = (uint64_t)len << 56, m;
    size_t i, tail = len & 7;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&m, in + i, 8); /* little-endian hosts only, like the rest of ckeda */
        v[3] ^= m;
        k8s_sipround(v);
        k8s_sipround(v);
        v[0] ^= m;
    }
    for (size_t j = 0; j < tail; j++)
        b |= (uint64_t)in[i + j] << (8 * j);
    v[3] ^= b;
    k8s_sipround(v);
    k8s_sipround(v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for (int r = 0; r < 4; r++)
        k8s_sipround(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

void k8s_store_init(k8s_store_t *s)
{
    uint64_t key[2] = {0, 0};
    k8s_rng_t rng;

    memset(s, 0, sizeof *s);
    if (getrandom(key, sizeof key, GRND_NONBLOCK) != (ssize_t)sizeof key) {
        k8s_rng_seed(&rng);
        key[0] = k8s_rng_next(&rng);
        key[1] = k8s_rng_next(&rng);
    }
    s->k0 = key[0];
    s->k1 = key[1];
}

static size_t k8s_store_bucket(const k8s_store_t *s, const char *key)
{
    return (size_t)(k8s_siphash(s->k0, s->k1, (const unsigned char *)key, strlen(key)) &
                    (s->nbuckets - 1));
}

k8s_store_entry_t *k8s_store_find(const k8s_store_t *s, const char *key)
{
    if (s->nbuckets == 0)
        return NULL;
    for (k8s_store_entry_t *e = s->buckets[k8s_store_bucket(s, key)]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* Doubles the table (or creates it); on allocation failure the old table stays. */
static void k8s_store_grow(k8s_store_t *s)
{
    size_t n = s->nbuckets ? s->nbuckets * 2 : K8S_STORE_MIN_BUCKETS;
    k8s_store_entry_t **b = calloc(n, sizeof *b);
    k8s_store_t grown = *s;

    if (!b)
        return;
    grown.buckets = b;
    grown.nbuckets = n;
    for (size_t i = 0; i < s->nbuckets; i++) {
        k8s_store_entry_t *e = s->buckets[i], *next;
        for (; e; e = next) {
            size_t h = k8s_store_bucket(&grown, e->key);
            next = e->next;
            e->next = b[h];
            b[h] = e;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

k8s_store_entry_t *k8s_store_upsert(k8s_store_t *s, const char *key)
{
    k8s_store_entry_t *e = k8s_store_find(s, key);
    size_t len = strlen(key), h;

    if (e)
        return e;
    if (s->count >= s->nbuckets)
        k8s_store_grow(s);
    if (s->nbuckets == 0)
        return NULL;
    e = calloc(1, sizeof *e + len + 1);
    if (!e)
        return NULL;
    memcpy(e->key, key, len + 1);
    h = k8s_store_bucket(s, key);
    e->next = s->buckets[h];
    s->buckets[h] = e;
    s->count++;
    return e;
}

void k8s_store_remove(k8s_store_t *s, const char *key)
{
    k8s_store_entry_t **p;

    if (s->nbuckets == 0)
        return;
    for (p = &s->buckets[k8s_store_bucket(s, key)]; *p; p = &(*p)->next)
        if (strcmp((*p)->key, key) == 0) {
            k8s_store_entry_t *e = *p;
            *p = e->next;
            free(e);
            s->count--;
            return;
        }
}

void k8s_store_sweep(k8s_store_t *s, uint32_t gen, void (*fn)(k8s_store_entry_t *e, void *ud),
                     void *ud)
{
    for (size_t i = 0; i < s->nbuckets; i++) {
        k8s_store_entry_t **p = &s->buckets[i];
        while (*p) {
            k8s_store_entry_t *e = *p;
            if (e->gen == gen) {
                p = &e->next;
                continue;
            }
            if (fn)
                fn(e, ud);
            *p = e->next;
            free(e);
            s->count--;
        }
    }
}

void k8s_store_entry_set(k8s_store_entry_t *e, const char *uid, const char *rv)
{
    size_t n = uid ? strlen(uid) : 0;

    if (n >= sizeof e->uid)
        n = sizeof e->uid - 1;
    memcpy(e->uid, uid ? uid : "", n);
    e->uid[n] = '\0';
    n = rv ? strlen(rv) : 0;
    if (n >= sizeof e->rv)
        n = 0; /* too long to compare: "" never matches, so it always counts as changed */
    memcpy(e->rv, rv ? rv : "", n);
    e->rv[n] = '\0';
}

void k8s_store_done(k8s_store_t *s)
{
    for (size_t i = 0; i < s->nbuckets; i++)
        while (s->buckets[i]) {
            k8s_store_entry_t *e = s->buckets[i];
            s->buckets[i] = e->next;
            free(e);
        }
    free(s->buckets);
    s->buckets = NULL;
    s->nbuckets = s->count = 0;
}
