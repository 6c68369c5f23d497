/*
 * evcorr: client-go's EventCorrelator (aggregation, dedup, spam filter) as pure logic; see
 * evcorr.h. Runs on the watcher's thread only.
 *
 * Invariants:
 * - Each cache is a fixed-size hash table (buckets >= capacity, never resized) threaded by one
 *   LRU list, newest first; it holds at most `cap` nodes and evicts the oldest to insert.
 * - Keys are length-prefixed fields behind a tag byte, so no two different field tuples (and no
 *   spam, aggregate and event key) share bytes; they are compared in full after the hash.
 * - watch_evcorr_observe allocates every node it needs before it changes any cache, so -ENOMEM
 *   leaves the correlator as it was.
 */
#include "watcher/evcorr.h"

#include "shm/shm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define CORR_FIELD_MAX  (WATCH_EVCORR_MESSAGE_MAX - 1) /* longest field in a key */
#define CORR_FIELDS     8
#define CORR_KEY_MAX    (1 + CORR_FIELDS * (2 + CORR_FIELD_MAX))
#define CORR_CREDIT_MAX ((uint64_t)WATCH_EVCORR_SPAM_BURST * WATCH_EVCORR_SPAM_REFILL_MS)

typedef struct corr_node {
    struct corr_node *chain;         /* next in its bucket */
    struct corr_node *newer, *older; /* the LRU list */
    uint64_t hash;
    union {
        struct {
            uint64_t credit_ms; /* the token bucket, in ms of refill: one token is REFILL_MS */
            uint64_t last_ms;
        } spam;
        struct {
            uint64_t last_ms;                         /* the last similar event */
            uint64_t msg[WATCH_EVCORR_AGGREGATE_MAX]; /* hashes of distinct messages, a ring */
            unsigned n, oldest;
        } agg;
        struct {
            int32_t count;
            uint64_t first_ms;
            const char *name; /* stored after the key */
        } log;
    } u;
    size_t keylen;
    unsigned char key[];
} corr_node_t;

typedef struct corr_lru {
    corr_node_t **buckets;
    size_t mask;
    size_t count, cap;
    corr_node_t *newest, *oldest;
} corr_lru_t;

typedef struct corr_key {
    unsigned char buf[CORR_KEY_MAX];
    size_t len;
    uint64_t hash;
} corr_key_t;

struct watch_evcorr {
    uint8_t sipkey[16];
    corr_lru_t spam, agg, log;
    uint64_t evictions;
    corr_key_t kspam, kagg, kevent; /* scratch: keys are too large for the stack */
};

/* ---- the LRU caches ---- */

static int lru_init(corr_lru_t *l, size_t cap)
{
    size_t n = 1;

    while (n < cap)
        n <<= 1;
    l->buckets = calloc(n, sizeof *l->buckets);
    if (!l->buckets)
        return -ENOMEM;
    l->mask = n - 1;
    l->cap = cap;
    return 0;
}

static void lru_done(corr_lru_t *l)
{
    for (corr_node_t *n = l->newest, *next; n; n = next) {
        next = n->older;
        free(n);
    }
    free(l->buckets);
    memset(l, 0, sizeof *l);
}

static corr_node_t *lru_find(const corr_lru_t *l, const corr_key_t *k)
{
    for (corr_node_t *n = l->buckets[k->hash & l->mask]; n; n = n->chain)
        if (n->hash == k->hash && n->keylen == k->len && memcmp(n->key, k->buf, k->len) == 0)
            return n;
    return NULL;
}

static void lru_list_unlink(corr_lru_t *l, corr_node_t *n)
{
    if (n->newer)
        n->newer->older = n->older;
    else
        l->newest = n->older;
    if (n->older)
        n->older->newer = n->newer;
    else
        l->oldest = n->newer;
    n->newer = n->older = NULL;
}

static void lru_list_push(corr_lru_t *l, corr_node_t *n)
{
    n->newer = NULL;
    n->older = l->newest;
    if (l->newest)
        l->newest->newer = n;
    else
        l->oldest = n;
    l->newest = n;
}

static void lru_touch(corr_lru_t *l, corr_node_t *n)
{
    if (l->newest == n)
        return;
    lru_list_unlink(l, n);
    lru_list_push(l, n);
}

static void lru_evict_oldest(corr_lru_t *l)
{
    corr_node_t *n = l->oldest, **p;

    for (p = &l->buckets[n->hash & l->mask]; *p != n; p = &(*p)->chain)
        ;
    *p = n->chain;
    lru_list_unlink(l, n);
    l->count--;
    free(n);
}

/* Inserts n (not present) as the newest; returns whether it evicted another node. */
static bool lru_insert(corr_lru_t *l, corr_node_t *n)
{
    bool evicted = false;
    corr_node_t **b;

    if (l->count >= l->cap) {
        lru_evict_oldest(l);
        evicted = true;
    }
    b = &l->buckets[n->hash & l->mask];
    n->chain = *b;
    *b = n;
    lru_list_push(l, n);
    l->count++;
    return evicted;
}

/* A node for key k, with name (may be NULL) stored after the key. */
static corr_node_t *node_new(const corr_key_t *k, const char *name)
{
    size_t nlen = name ? strlen(name) + 1 : 0;
    corr_node_t *n = calloc(1, sizeof *n + k->len + nlen);

    if (!n)
        return NULL;
    n->hash = k->hash;
    n->keylen = k->len;
    memcpy(n->key, k->buf, k->len);
    if (name) {
        memcpy(n->key + k->len, name, nlen);
        n->u.log.name = (const char *)n->key + k->len;
    }
    return n;
}

/* ---- keys ---- */

static void key_begin(corr_key_t *k, char tag)
{
    k->buf[0] = (unsigned char)tag;
    k->len = 1;
}

/* len <= CORR_FIELD_MAX (checked by the caller). */
static void key_add(corr_key_t *k, const char *s, size_t len)
{
    k->buf[k->len++] = (unsigned char)(len >> 8);
    k->buf[k->len++] = (unsigned char)(len & 0xff);
    memcpy(k->buf + k->len, s, len);
    k->len += len;
}

static void key_end(const watch_evcorr_t *c, corr_key_t *k)
{
    k->hash = shm_siphash(c->sipkey, k->buf, k->len);
}

/* Spam key: the involved object and the type; aggregate key: + reason; event key: + message. */
static void corr_keys(watch_evcorr_t *c, const watch_evcorr_event_t *ev, size_t mlen)
{
    const char *type = ev->warning ? "Warning" : "Normal";
    const char *f[] = {ev->kind, ev->ns, ev->name, ev->uid, ev->api_version, type};
    corr_key_t *ks = &c->kspam, *ka = &c->kagg, *ke = &c->kevent;

    key_begin(ks, 'S');
    key_begin(ka, 'A');
    key_begin(ke, 'E');
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        key_add(ks, f[i], strlen(f[i]));
        key_add(ka, f[i], strlen(f[i]));
        key_add(ke, f[i], strlen(f[i]));
    }
    key_add(ka, ev->reason, strlen(ev->reason));
    key_add(ke, ev->reason, strlen(ev->reason));
    key_add(ke, ev->message, mlen);
    key_end(c, ks);
    key_end(c, ka);
    key_end(c, ke);
}

/* ---- public ---- */

watch_evcorr_t *watch_evcorr_new(size_t capacity)
{
    watch_evcorr_t *c = calloc(1, sizeof *c);

    if (!c)
        return NULL;
    if (!capacity)
        capacity = WATCH_EVCORR_CACHE_SIZE;
    if (getrandom(c->sipkey, sizeof c->sipkey, 0) != (ssize_t)sizeof c->sipkey) {
        /* keep the zero key: still correct, only not hardened */
    }
    if (lru_init(&c->spam, capacity) < 0 || lru_init(&c->agg, capacity) < 0 ||
        lru_init(&c->log, capacity) < 0) {
        watch_evcorr_free(c);
        return NULL;
    }
    return c;
}

void watch_evcorr_free(watch_evcorr_t *c)
{
    if (!c)
        return;
    lru_done(&c->spam);
    lru_done(&c->agg);
    lru_done(&c->log);
    free(c);
}

void watch_evcorr_stats(const watch_evcorr_t *c, watch_evcorr_stats_t *ret)
{
    *ret = (watch_evcorr_stats_t){.spam_entries = c->spam.count,
                                  .aggregate_entries = c->agg.count,
                                  .dedup_entries = c->log.count,
                                  .evictions = c->evictions};
}

size_t watch_evcorr_text_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    /* s[max] is the first byte left out: back up to the start of its character */
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

static bool agg_has(const corr_node_t *a, uint64_t h)
{
    for (unsigned i = 0; i < a->u.agg.n; i++)
        if (a->u.agg.msg[(a->u.agg.oldest + i) % WATCH_EVCORR_AGGREGATE_MAX] == h)
            return true;
    return false;
}

/* Whether the aggregate record a (NULL: none) starts afresh at now (client-go: interval > max). */
static bool agg_expired(const corr_node_t *a, uint64_t now_ms)
{
    return !a || (now_ms > a->u.agg.last_ms &&
                  now_ms - a->u.agg.last_ms > WATCH_EVCORR_AGGREGATE_INTERVAL_MS);
}

/* Records message hash h in a. The caller decided beforehand whether this aggregates: exactly
 * when the set reaches WATCH_EVCORR_AGGREGATE_MAX here. */
static void agg_commit(corr_node_t *a, bool fresh, uint64_t h, uint64_t now_ms)
{
    if (fresh)
        a->u.agg.n = a->u.agg.oldest = 0;
    if (!agg_has(a, h)) {
        a->u.agg.msg[(a->u.agg.oldest + a->u.agg.n) % WATCH_EVCORR_AGGREGATE_MAX] = h;
        a->u.agg.n++;
    }
    a->u.agg.last_ms = now_ms;
    if (a->u.agg.n < WATCH_EVCORR_AGGREGATE_MAX)
        return;
    /* keep the set below the threshold (client-go pops one), so each further distinct message
     * aggregates again; the oldest goes, where client-go pops an arbitrary one */
    a->u.agg.oldest = (a->u.agg.oldest + 1) % WATCH_EVCORR_AGGREGATE_MAX;
    a->u.agg.n--;
}

/* The token bucket: whether one more event passes at now. */
static bool spam_commit(corr_node_t *s, bool fresh, uint64_t now_ms)
{
    if (fresh) {
        s->u.spam.credit_ms = CORR_CREDIT_MAX;
    } else if (now_ms > s->u.spam.last_ms) {
        uint64_t gain = now_ms - s->u.spam.last_ms;
        s->u.spam.credit_ms = gain >= CORR_CREDIT_MAX - s->u.spam.credit_ms
                                  ? CORR_CREDIT_MAX
                                  : s->u.spam.credit_ms + gain;
    }
    s->u.spam.last_ms = now_ms;
    if (s->u.spam.credit_ms < WATCH_EVCORR_SPAM_REFILL_MS)
        return false;
    s->u.spam.credit_ms -= WATCH_EVCORR_SPAM_REFILL_MS;
    return true;
}

static int corr_check(const watch_evcorr_event_t *ev)
{
    const char *f[] = {ev->kind, ev->api_version, ev->ns, ev->name, ev->uid, ev->reason};

    if (!ev->message || !ev->event_name || strlen(ev->event_name) >= WATCH_EVCORR_NAME_MAX)
        return -EINVAL;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!f[i] || strlen(f[i]) > CORR_FIELD_MAX)
            return -EINVAL;
    return 0;
}

static void corr_message(watch_evcorr_result_t *r, const char *msg, size_t mlen, bool aggregated)
{
    const char *prefix = aggregated ? WATCH_EVCORR_COMBINED_PREFIX : "";
    size_t plen = strlen(prefix);

    memcpy(r->message, prefix, plen);
    mlen = watch_evcorr_text_cut(msg, mlen, sizeof r->message - 1 - plen);
    memcpy(r->message + plen, msg, mlen);
    r->message[plen + mlen] = '\0';
}

int watch_evcorr_observe(watch_evcorr_t *c, const watch_evcorr_event_t *ev, uint64_t now_ms,
                         watch_evcorr_result_t *ret)
{
    corr_node_t *agg, *log, *spam, *new_agg = NULL, *new_log = NULL, *new_spam = NULL;
    const corr_key_t *lkey;
    size_t mlen;
    uint64_t mhash;
    bool fresh, aggregated, pass;
    int r = corr_check(ev);

    if (r < 0)
        return r;
    mlen = watch_evcorr_text_cut(ev->message, strlen(ev->message), CORR_FIELD_MAX);
    corr_keys(c, ev, mlen);
    mhash = shm_siphash(c->sipkey, ev->message, mlen);

    /* Decide which nodes are needed before changing anything. */
    agg = lru_find(&c->agg, &c->kagg);
    fresh = agg_expired(agg, now_ms);
    aggregated = (fresh ? 1 : agg->u.agg.n + !agg_has(agg, mhash)) >= WATCH_EVCORR_AGGREGATE_MAX;
    lkey = aggregated ? &c->kagg : &c->kevent;
    log = lru_find(&c->log, lkey);
    spam = lru_find(&c->spam, &c->kspam);
    if ((!agg && !(new_agg = node_new(&c->kagg, NULL))) ||
        (!log && !(new_log = node_new(lkey, ev->event_name))) ||
        (!spam && !(new_spam = node_new(&c->kspam, NULL)))) {
        free(new_agg);
        free(new_log);
        free(new_spam);
        return -ENOMEM;
    }

    /* 1. aggregation */
    if (new_agg)
        c->evictions += lru_insert(&c->agg, agg = new_agg);
    else
        lru_touch(&c->agg, agg);
    agg_commit(agg, fresh, mhash, now_ms);

    /* 2. dedup: the observation counts even when the filter then drops the event */
    if (new_log) {
        c->evictions += lru_insert(&c->log, log = new_log);
        log->u.log.first_ms = now_ms;
        log->u.log.count = 1;
    } else {
        lru_touch(&c->log, log);
        if (log->u.log.count < WATCH_EVCORR_COUNT_MAX)
            log->u.log.count++;
    }

    /* 3. spam filter */
    if (new_spam)
        c->evictions += lru_insert(&c->spam, spam = new_spam);
    else
        lru_touch(&c->spam, spam);
    pass = spam_commit(spam, new_spam != NULL, now_ms);

    ret->action = !pass                  ? WATCH_EVCORR_DROP
                  : log->u.log.count > 1 ? WATCH_EVCORR_UPDATE
                                         : WATCH_EVCORR_CREATE;
    ret->aggregated = aggregated;
    ret->count = log->u.log.count;
    ret->first_ms = log->u.log.first_ms;
    snprintf(ret->event_name, sizeof ret->event_name, "%s", log->u.log.name);
    corr_message(ret, ev->message, mlen, aggregated);
    return 0;
}
