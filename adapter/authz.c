/*
 * authz: may this identity read this metric? (adapter process, event-loop thread only).
 *
 * As k8s.io/apiserver's delegated authorization (control-plane.md 5.3): group system:masters
 * is always allowed; anything else is asked of the API server with a SubjectAccessReview for
 * {verb list, group external.metrics.k8s.io, version v1beta1, resource <metric>, namespace}
 * (the apiserver's request info makes a GET of .../namespaces/{ns}/{metric} a "list": the URL
 * names no object). The review for resource "*" is asked first: KEDA's reader role grants
 * "*", and one answer then covers every metric of the namespace.
 *
 * Answers are cached per (user, uid, groups, extras, namespace, resource): allowed for
 * --authorization-allow-cache-ttl, denied for --authorization-deny-cache-ttl (10 s each by
 * default, as k8s.io/apiserver's DelegatingAuthorizationOptions, which KEDA's metrics server
 * uses). Concurrent requests for the same key share one review. A review that fails is not
 * cached and fails its waiters closed (500); a full review queue answers 429. Without a
 * cluster only system:masters gets through. --authorization-insecure-skip allows every
 * authenticated caller without a review (local experiments only; server.c warns about it).
 */
#include "adapter/adp_kube.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTHZ_BUCKETS 1024

typedef struct authz_entry {
    struct authz_entry *next;
    uint64_t hash;
    char *key;
    size_t len;
    bool allowed;
    uint64_t expires_ms;
} authz_entry_t;

typedef struct authz_pending {
    adp_pending_t base; /* first: the entry is its own adp_pending_t */
    char *key_metric, *key_star;
} authz_pending_t;

struct adp_authz {
    adp_kube_t *kube;
    adp_authz_opts_t opts;
    adp_authz_wake_fn wake;
    adp_authz_counts_t counts;
    authz_entry_t *buckets[AUTHZ_BUCKETS];
    size_t count;
    adp_pending_t *pending; /* authz_pending_t entries */
};

adp_authz_t *adp_authz_new(adp_kube_t *kube, const adp_authz_opts_t *opts, adp_authz_wake_fn wake)
{
    adp_authz_t *z = calloc(1, sizeof *z);

    if (z) {
        z->kube = kube;
        z->opts = *opts;
        z->wake = wake;
    }
    return z;
}

static void authz_entry_free(authz_entry_t *e)
{
    free(e->key);
    free(e);
}

static void authz_pending_free(adp_pending_t *base)
{
    authz_pending_t *p = (authz_pending_t *)base;

    free(p->key_metric);
    free(p->key_star);
    adp_pending_fini(&p->base);
    free(p);
}

void adp_authz_free(adp_authz_t *z)
{
    if (!z)
        return;
    for (size_t i = 0; i < AUTHZ_BUCKETS; i++)
        for (authz_entry_t *e = z->buckets[i], *next; e; e = next) {
            next = e->next;
            authz_entry_free(e);
        }
    adp_pending_list_free(z->pending, authz_pending_free);
    free(z);
}

size_t adp_authz_cached(const adp_authz_t *z)
{
    return z->count;
}

const adp_authz_counts_t *adp_authz_counts(const adp_authz_t *z)
{
    return &z->counts;
}

/* FNV-1a over n more bytes from state h: a key's hash continues from its identity's part. */
static uint64_t authz_hash_more(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

#define AUTHZ_HASH_SEED 1469598103934665603ull

/* ---- keys and the cache ------------------------------------------------------------------
 * A key is the identity's part (adp_authz_idkey_t: user, uid, groups, extras), then the
 * namespace and the resource, each field length-prefixed ("<len>:<bytes>") so that no two
 * different tuples give the same key. The identity's part is built once per identity: the
 * adapter keeps it per connection while its requests carry the same identity. */

#define AUTHZ_FIELD_MAX(n) ((n) + 21) /* the decimal length, ':' and the bytes */

static char *key_put(char *p, const char *s)
{
    size_t n = strlen(s), v = n;
    char digits[20];
    int d = 0;

    do
        digits[d++] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    while (d > 0)
        *p++ = digits[--d];
    *p++ = ':';
    memcpy(p, s, n);
    return p + n;
}

int adp_authz_idkey_make(const adp_identity_t *id, adp_authz_idkey_t *ret)
{
    const char *uid = id->uid ? id->uid : "";
    size_t cap =
        AUTHZ_FIELD_MAX(strlen(id->user)) + AUTHZ_FIELD_MAX(strlen(uid)) + 2 * AUTHZ_FIELD_MAX(1);
    char *buf, *p;

    for (uint32_t i = 0; i < id->ngroups; i++)
        cap += AUTHZ_FIELD_MAX(strlen(id->groups[i]));
    for (uint32_t i = 0; i < id->nextras; i++)
        cap += AUTHZ_FIELD_MAX(strlen(id->extras[i].key)) +
               AUTHZ_FIELD_MAX(strlen(id->extras[i].value));
    if (!(p = buf = malloc(cap)))
        return -ENOMEM;
    p = key_put(p, id->user);
    p = key_put(p, uid);
    for (uint32_t i = 0; i < id->ngroups; i++)
        p = key_put(p, id->groups[i]);
    p = key_put(p, "|");
    for (uint32_t i = 0; i < id->nextras; i++) {
        p = key_put(p, id->extras[i].key);
        p = key_put(p, id->extras[i].value);
    }
    p = key_put(p, "|");
    *ret = (adp_authz_idkey_t){.key = buf, .len = (size_t)(p - buf)};
    ret->hash = authz_hash_more(AUTHZ_HASH_SEED, buf, ret->len);
    return 0;
}

void adp_authz_idkey_clear(adp_authz_idkey_t *k)
{
    free(k->key);
    *k = (adp_authz_idkey_t){0};
}

/* One full key; on the stack unless the namespace or resource is unusually long. */
typedef struct authz_key {
    char *p; /* NUL-terminated */
    size_t len;
    uint64_t hash;
    char small[512];
} authz_key_t;

static int authz_key_make(const adp_authz_idkey_t *idk, const char *ns, const char *resource,
                          authz_key_t *k)
{
    size_t cap = idk->len + AUTHZ_FIELD_MAX(strlen(ns)) + AUTHZ_FIELD_MAX(strlen(resource)) + 1;
    char *p;

    k->p = cap <= sizeof k->small ? k->small : malloc(cap);
    if (!k->p)
        return -ENOMEM;
    memcpy(k->p, idk->key, idk->len);
    p = key_put(k->p + idk->len, ns);
    p = key_put(p, resource);
    *p = '\0';
    k->len = (size_t)(p - k->p);
    k->hash = authz_hash_more(idk->hash, k->p + idk->len, k->len - idk->len);
    return 0;
}

static void authz_key_fini(authz_key_t *k)
{
    if (k->p != k->small)
        free(k->p);
}

static authz_entry_t *authz_lookup(adp_authz_t *z, const char *key, size_t len, uint64_t h,
                                   uint64_t now_ms)
{
    authz_entry_t **pp = &z->buckets[h % AUTHZ_BUCKETS];

    while (*pp) {
        authz_entry_t *e = *pp;
        if (e->expires_ms <= now_ms) { /* drop expired entries on the way */
            *pp = e->next;
            authz_entry_free(e);
            z->count--;
            continue;
        }
        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
            return e;
        pp = &e->next;
    }
    return NULL;
}

static void authz_evict(adp_authz_t *z, uint64_t now_ms)
{
    for (size_t i = 0; i < AUTHZ_BUCKETS; i++)
        for (authz_entry_t **pp = &z->buckets[i]; *pp;) {
            authz_entry_t *e = *pp;
            if (e->expires_ms > now_ms && z->count < ADP_AUTHZ_CACHE_MAX * 3 / 4) {
                pp = &e->next;
                continue;
            }
            *pp = e->next; /* expired, or the cache is still too full: drop */
            authz_entry_free(e);
            z->count--;
        }
}

static void authz_store(adp_authz_t *z, const char *key, bool allowed, uint64_t now_ms)
{
    size_t len = strlen(key);
    uint64_t h = authz_hash_more(AUTHZ_HASH_SEED, key, len);
    authz_entry_t *e = authz_lookup(z, key, len, h, now_ms);

    if (!e) {
        if (z->count >= ADP_AUTHZ_CACHE_MAX)
            authz_evict(z, now_ms);
        if (!(e = calloc(1, sizeof *e)) || !(e->key = strdup(key))) {
            free(e);
            return; /* not caching is always safe */
        }
        e->hash = h;
        e->len = len;
        e->next = z->buckets[e->hash % AUTHZ_BUCKETS];
        z->buckets[e->hash % AUTHZ_BUCKETS] = e;
        z->count++;
    }
    e->allowed = allowed;
    e->expires_ms = now_ms + (allowed ? z->opts.allow_ttl_ms : z->opts.deny_ttl_ms);
}

/* ---- reviews ----------------------------------------------------------------------------- */

static void authz_add_extras(cJSON *spec, const adp_identity_t *id)
{
    cJSON *extra = id->nextras ? cJSON_AddObjectToObject(spec, "extra") : NULL;

    for (uint32_t i = 0; extra && i < id->nextras; i++) {
        cJSON *vals = cJSON_GetObjectItemCaseSensitive(extra, id->extras[i].key);
        if (!vals)
            vals = cJSON_AddArrayToObject(extra, id->extras[i].key);
        if (vals)
            cJSON_AddItemToArray(vals, cJSON_CreateString(id->extras[i].value));
    }
}

static char *authz_review_body(const adp_identity_t *id, const char *ns, const char *resource)
{
    cJSON *root = cJSON_CreateObject(), *spec, *ra, *groups;
    char *body = NULL;

    cJSON_AddStringToObject(root, "apiVersion", "authorization.k8s.io/v1");
    cJSON_AddStringToObject(root, "kind", "SubjectAccessReview");
    spec = cJSON_AddObjectToObject(root, "spec");
    ra = cJSON_AddObjectToObject(spec, "resourceAttributes");
    cJSON_AddStringToObject(ra, "namespace", ns);
    cJSON_AddStringToObject(ra, "verb", "list");
    cJSON_AddStringToObject(ra, "group", ADP_GROUP);
    cJSON_AddStringToObject(ra, "version", ADP_VERSION);
    cJSON_AddStringToObject(ra, "resource", resource);
    cJSON_AddStringToObject(spec, "user", id->user);
    if (id->uid && id->uid[0])
        cJSON_AddStringToObject(spec, "uid", id->uid);
    groups = cJSON_AddArrayToObject(spec, "groups");
    for (uint32_t i = 0; groups && i < id->ngroups; i++)
        cJSON_AddItemToArray(groups, cJSON_CreateString(id->groups[i]));
    authz_add_extras(spec, id);
    body = cJSON_PrintUnformatted(root); /* NULL if anything above failed to allocate */
    cJSON_Delete(root);
    return body;
}

static authz_pending_t *authz_find_pending(adp_authz_t *z, const char *key)
{
    for (adp_pending_t *p = z->pending; p; p = p->next)
        if (strcmp(((authz_pending_t *)p)->key_metric, key) == 0)
            return (authz_pending_t *)p;
    return NULL;
}

/* Starts a review for key_metric; takes ownership of the keys. */
static adp_authz_result_t authz_start(adp_authz_t *z, const adp_identity_t *id, const char *ns,
                                      const char *metric, bool ask_star, char *key_star,
                                      char *key_metric, void *waiter)
{
    authz_pending_t *p = calloc(1, sizeof *p);
    adp_review_t *rv = calloc(1, sizeof *rv);

    if (!p || !rv || !(rv->body_metric = authz_review_body(id, ns, metric)) ||
        (ask_star && !(rv->body_star = authz_review_body(id, ns, "*"))) ||
        !adp_pending_add_waiter(&p->base, waiter)) {
        free(p);
        adp_review_free(rv);
        free(key_star);
        free(key_metric);
        return ADP_AUTHZ_ERROR;
    }
    p->key_star = key_star;
    p->key_metric = key_metric;
    rv->owner = p;
    if (adp_kube_submit(z->kube, rv) < 0) {
        authz_pending_free(&p->base);
        adp_review_free(rv);
        return ADP_AUTHZ_BUSY;
    }
    p->base.next = z->pending;
    z->pending = &p->base;
    return ADP_AUTHZ_PENDING;
}

/* The cache's answer for the two keys: ALLOW, DENY, or PENDING for "not decided" (with
 * *ret_star_known when resource "*" is known denied: the review need not ask it again). */
static adp_authz_result_t authz_cached(adp_authz_t *z, const authz_key_t *star_key,
                                       const authz_key_t *metric_key, uint64_t now_ms,
                                       bool *ret_star_known)
{
    authz_entry_t *star = authz_lookup(z, star_key->p, star_key->len, star_key->hash, now_ms), *one;

    *ret_star_known = star != NULL;
    if (star && star->allowed)
        return ADP_AUTHZ_ALLOW; /* "*" allowed decides alone: the metric's entry is not needed */
    one = authz_lookup(z, metric_key->p, metric_key->len, metric_key->hash, now_ms);
    if (one)
        return one->allowed ? ADP_AUTHZ_ALLOW : ADP_AUTHZ_DENY;
    return ADP_AUTHZ_PENDING;
}

/* Not decided by the cache: join the review in flight for the key, or start one. */
static adp_authz_result_t authz_review(adp_authz_t *z, const adp_identity_t *id, const char *ns,
                                       const char *metric, bool star_known,
                                       const authz_key_t *star_key, const authz_key_t *metric_key,
                                       void *waiter)
{
    authz_pending_t *p = authz_find_pending(z, metric_key->p);
    char *key_star, *key_metric;

    if (p)
        return adp_pending_add_waiter(&p->base, waiter) ? ADP_AUTHZ_PENDING : ADP_AUTHZ_ERROR;
    key_star = strdup(star_key->p);
    key_metric = strdup(metric_key->p);
    if (!key_star || !key_metric) {
        free(key_star);
        free(key_metric);
        return ADP_AUTHZ_ERROR;
    }
    return authz_start(z, id, ns, metric, !star_known, key_star, key_metric, waiter);
}

adp_authz_result_t adp_authz_check(adp_authz_t *z, const adp_identity_t *id,
                                   const adp_authz_idkey_t *idkey, const char *ns,
                                   const char *metric, void *waiter, uint64_t now_ms)
{
    adp_authz_idkey_t own = {0};
    authz_key_t star_key, metric_key;
    adp_authz_result_t r = ADP_AUTHZ_ERROR;
    bool star_known;

    if (adp_identity_is_master(id) || z->opts.insecure_skip)
        return ADP_AUTHZ_ALLOW;
    if (!z->kube)
        return ADP_AUTHZ_DENY;
    if (!idkey || !idkey->key) {
        if (adp_authz_idkey_make(id, &own) < 0)
            return ADP_AUTHZ_ERROR;
        idkey = &own;
    }
    if (authz_key_make(idkey, ns, "*", &star_key) < 0)
        goto out;
    if (authz_key_make(idkey, ns, metric, &metric_key) < 0)
        goto out_star;
    r = authz_cached(z, &star_key, &metric_key, now_ms, &star_known);
    if (r != ADP_AUTHZ_PENDING) {
        z->counts.cache_hits++;
    } else {
        z->counts.cache_misses++; /* a review is made or joined */
        r = authz_review(z, id, ns, metric, star_known, &star_key, &metric_key, waiter);
    }
    authz_key_fini(&metric_key);
out_star:
    authz_key_fini(&star_key);
out:
    adp_authz_idkey_clear(&own);
    return r;
}

void adp_authz_complete(adp_authz_t *z, adp_review_t *rv, uint64_t now_ms)
{
    authz_pending_t *p = rv->owner;
    adp_authz_result_t result = ADP_AUTHZ_ERROR;
    char reason[300];

    adp_pending_unlink(&z->pending, &p->base);
    snprintf(reason, sizeof reason, "%s", rv->reason);
    if (rv->err == 0) {
        if (rv->star_done)
            authz_store(z, p->key_star, rv->star_allowed, now_ms);
        if (rv->metric_done)
            authz_store(z, p->key_metric, rv->metric_allowed, now_ms);
        result = (rv->star_done && rv->star_allowed) || (rv->metric_done && rv->metric_allowed)
                     ? ADP_AUTHZ_ALLOW
                     : ADP_AUTHZ_DENY;
    }
    adp_review_free(rv);
    for (size_t i = 0; i < p->base.nwaiters; i++)
        if (p->base.waiters[i])
            z->wake(p->base.waiters[i], result, reason);
    authz_pending_free(&p->base);
}

void adp_authz_forget(adp_authz_t *z, void *waiter)
{
    adp_pending_forget(z->pending, waiter);
}
