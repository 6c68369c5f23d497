/*
 * tokens: bearer tokens, checked with TokenReviews (adapter process, event-loop thread only).
 *
 * As k8s.io/apiserver's delegating authenticator (control-plane.md 5.2): a request that the
 * front proxy and client certificates do not authenticate, and that carries
 * `Authorization: Bearer <token>`, is authenticated by POSTing an authentication.k8s.io/v1
 * TokenReview (no audiences: the API server checks its own) on kube.c's review threads; the
 * user, uid, groups and extra of status.user become the request's identity, and authorization
 * goes on as for any other caller.
 *
 * Answers are cached for the configured TTL (k8s.io/apiserver's default: 10 s for both
 * answers) under HMAC-SHA-256(key, token), the key drawn at start, so neither the token nor an
 * offline-guessable hash of it is kept. Unlike the apiserver, a rejection that carries
 * status.error is cached too: a client repeating a bad token must not turn each request into a
 * TokenReview. A review that fails is not cached. Concurrent requests with the same token share
 * one review. Besides the request head that carried it (the connection's buffer, reused by its
 * next request), the token's copies are the review body and the API server's echo of it in
 * its answer, both zeroed once the review is done; it is never logged.
 */
#include "adapter/adp_kube.h"

#include "common/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKENS_BUCKETS 1024
#define TOKENS_HASH    32
#define TOKENS_PATH    "/apis/authentication.k8s.io/v1/tokenreviews"

typedef struct token_entry {
    struct token_entry *next;
    uint8_t hash[TOKENS_HASH];
    bool authenticated;
    cJSON *user; /* status.user when authenticated */
    uint64_t expires_ms;
} token_entry_t;

typedef struct token_pending {
    adp_pending_t base; /* first: the entry is its own adp_pending_t */
    uint8_t hash[TOKENS_HASH];
} token_pending_t;

struct adp_tokens {
    adp_review_submit_fn submit;
    void *submit_ud;
    uint32_t ttl_ms;
    adp_token_wake_fn wake;
    uint8_t key[32];
    token_entry_t *buckets[TOKENS_BUCKETS];
    size_t count;
    adp_pending_t *pending; /* token_pending_t entries */
    adp_token_counts_t counts;
};

adp_tokens_t *adp_tokens_new(adp_review_submit_fn submit, void *submit_ud, uint32_t ttl_ms,
                             adp_token_wake_fn wake)
{
    adp_tokens_t *tk = calloc(1, sizeof *tk);

    if (!tk)
        return NULL;
    if (RAND_bytes(tk->key, sizeof tk->key) != 1) {
        free(tk);
        return NULL;
    }
    tk->submit = submit;
    tk->submit_ud = submit_ud;
    tk->ttl_ms = ttl_ms;
    tk->wake = wake;
    return tk;
}

static void token_entry_free(token_entry_t *e)
{
    cJSON_Delete(e->user);
    free(e);
}

static void token_pending_free(adp_pending_t *p)
{
    adp_pending_fini(p);
    free(p);
}

void adp_tokens_free(adp_tokens_t *tk)
{
    if (!tk)
        return;
    for (size_t i = 0; i < TOKENS_BUCKETS; i++)
        for (token_entry_t *e = tk->buckets[i], *next; e; e = next) {
            next = e->next;
            token_entry_free(e);
        }
    adp_pending_list_free(tk->pending, token_pending_free);
    OPENSSL_cleanse(tk->key, sizeof tk->key);
    free(tk);
}

size_t adp_tokens_cached(const adp_tokens_t *tk)
{
    return tk->count;
}

const adp_token_counts_t *adp_tokens_counts(const adp_tokens_t *tk)
{
    return &tk->counts;
}

/* ---- the header ----------------------------------------------------------------------------- */

int adp_bearer_token(const adp_http_req_t *req, adp_slice_t *ret_token)
{
    uint32_t pos = 0;
    const adp_http_header_t *h = adp_http_header_next(req, "Authorization", &pos);
    const char *p, *end, *sp;

    if (!h || h->value.n < 7)
        return -ENOENT;
    p = h->value.p;
    end = p + h->value.n;
    if (strncasecmp(p, "bearer ", 7) != 0)
        return -ENOENT;
    p += 7;
    sp = memchr(p, ' ', (size_t)(end - p)); /* the token ends at the next space, as Go's
                                             * strings.SplitN(auth, " ", 3) */
    if (sp)
        end = sp;
    if (end == p || (size_t)(end - p) > ADP_TOKEN_MAX)
        return -ENOENT;
    *ret_token = (adp_slice_t){p, (size_t)(end - p)};
    return 0;
}

/* ---- the identity --------------------------------------------------------------------------- */

static const char *user_string(const cJSON *user, const char *key, adp_arena_t *a)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(user, key);
    return cJSON_IsString(v) ? adp_arena_strdup(a, v->valuestring) : adp_arena_strdup(a, "");
}

static int user_groups(const cJSON *user, adp_arena_t *a, adp_identity_t *id)
{
    const cJSON *g;

    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(user, "groups"))
    {
        if (!cJSON_IsString(g))
            continue;
        bool dup = false;
        for (uint32_t i = 0; i < id->ngroups && !dup; i++)
            dup = strcmp(id->groups[i], g->valuestring) == 0;
        if (dup)
            continue;
        if (id->ngroups >= ADP_GROUPS_MAX)
            return -E2BIG;
        if (!(id->groups[id->ngroups] = adp_arena_strdup(a, g->valuestring)))
            return -ENOMEM;
        id->ngroups++;
    }
    return 0;
}

static int user_extras(const cJSON *user, adp_arena_t *a, adp_identity_t *id)
{
    const cJSON *kv, *v;

    cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(user, "extra"))
    {
        cJSON_ArrayForEach(v, kv)
        {
            if (!cJSON_IsString(v) || !kv->string)
                continue;
            if (id->nextras >= ADP_EXTRAS_MAX)
                return -E2BIG; /* an extra we cannot carry would change the review */
            adp_extra_t *e = &id->extras[id->nextras];
            if (!(e->key = adp_arena_strdup(a, kv->string)) ||
                !(e->value = adp_arena_strdup(a, v->valuestring)))
                return -ENOMEM;
            id->nextras++;
        }
    }
    return 0;
}

int adp_token_user_parse(const cJSON *user, adp_arena_t *a, adp_identity_t *ret)
{
    adp_identity_t *id = ret;
    int r;

    memset(id, 0, sizeof *id);
    if (!cJSON_IsObject(user))
        return -EINVAL;
    id->user = user_string(user, "username", a);
    id->uid = user_string(user, "uid", a);
    if (!id->user || !id->uid)
        return -ENOMEM;
    if (!id->user[0])
        return -EINVAL;
    if ((r = user_groups(user, a, id)) < 0 || (r = user_extras(user, a, id)) < 0)
        return r;
    id->via = "bearer-token";
    return 0;
}

/* ---- the cache --------------------------------------------------------------------------------
 */

static int tokens_hash(const adp_tokens_t *tk, adp_slice_t token, uint8_t ret[TOKENS_HASH])
{
    unsigned len = TOKENS_HASH;

    return HMAC(EVP_sha256(), tk->key, sizeof tk->key, (const unsigned char *)token.p, token.n, ret,
                &len)
               ? 0
               : -ENOMEM;
}

static size_t tokens_bucket(const uint8_t hash[TOKENS_HASH])
{
    size_t b;

    memcpy(&b, hash, sizeof b);
    return b % TOKENS_BUCKETS;
}

static token_entry_t *tokens_lookup(adp_tokens_t *tk, const uint8_t hash[TOKENS_HASH],
                                    uint64_t now_ms)
{
    token_entry_t **pp = &tk->buckets[tokens_bucket(hash)];

    while (*pp) {
        token_entry_t *e = *pp;
        if (e->expires_ms <= now_ms) { /* drop expired entries on the way */
            *pp = e->next;
            token_entry_free(e);
            tk->count--;
            continue;
        }
        if (memcmp(e->hash, hash, TOKENS_HASH) == 0)
            return e;
        pp = &e->next;
    }
    return NULL;
}

/* Makes room: expired entries first, then the ones closest to expiring. */
static void tokens_evict(adp_tokens_t *tk, uint64_t now_ms)
{
    while (tk->count >= ADP_TOKEN_CACHE_MAX) {
        token_entry_t **victim = NULL;
        for (size_t i = 0; i < TOKENS_BUCKETS; i++)
            for (token_entry_t **pp = &tk->buckets[i]; *pp;) {
                token_entry_t *e = *pp;
                if (e->expires_ms <= now_ms) {
                    *pp = e->next;
                    token_entry_free(e);
                    tk->count--;
                    continue;
                }
                if (!victim || e->expires_ms < (*victim)->expires_ms)
                    victim = pp;
                pp = &e->next;
            }
        if (tk->count >= ADP_TOKEN_CACHE_MAX && victim) {
            token_entry_t *e = *victim;
            *victim = e->next;
            token_entry_free(e);
            tk->count--;
        }
    }
}

/* Caches an answer; takes user. */
static void tokens_store(adp_tokens_t *tk, const uint8_t hash[TOKENS_HASH], bool authenticated,
                         cJSON *user, uint64_t now_ms)
{
    token_entry_t *e = tokens_lookup(tk, hash, now_ms);

    if (tk->ttl_ms == 0) {
        cJSON_Delete(user);
        return;
    }
    if (!e) {
        tokens_evict(tk, now_ms);
        if (!(e = calloc(1, sizeof *e))) {
            cJSON_Delete(user);
            return;
        }
        memcpy(e->hash, hash, TOKENS_HASH);
        e->next = tk->buckets[tokens_bucket(hash)];
        tk->buckets[tokens_bucket(hash)] = e;
        tk->count++;
    }
    cJSON_Delete(e->user);
    e->user = user;
    e->authenticated = authenticated;
    e->expires_ms = now_ms + tk->ttl_ms;
}

/* ---- reviews ----------------------------------------------------------------------------------
 */

/* The TokenReview's JSON with the token escaped into it; malloc'ed, zeroed by
 * adp_review_free. Built by hand so no other copy of the token is made. */
static char *tokens_review_body(adp_slice_t token, size_t *ret_len)
{
    static const char head[] = "{\"apiVersion\":\"authentication.k8s.io/v1\","
                               "\"kind\":\"TokenReview\",\"spec\":{\"token\":\"";
    static const char tail[] = "\"}}";
    size_t cap = sizeof head + token.n * 6 + sizeof tail, n = sizeof head - 1;
    char *b = malloc(cap);

    if (!b)
        return NULL;
    memcpy(b, head, n);
    for (size_t i = 0; i < token.n; i++) {
        unsigned char ch = (unsigned char)token.p[i];
        if (ch < 0x20 || ch == '"' || ch == '\\') {
            static const char hex[] = "0123456789abcdef";
            b[n++] = '\\';
            b[n++] = 'u';
            b[n++] = '0';
            b[n++] = '0';
            b[n++] = hex[ch >> 4];
            b[n++] = hex[ch & 15];
        } else {
            b[n++] = (char)ch;
        }
    }
    memcpy(b + n, tail, sizeof tail);
    *ret_len = n + sizeof tail - 1;
    return b;
}

static adp_token_result_t tokens_start(adp_tokens_t *tk, const uint8_t hash[TOKENS_HASH],
                                       adp_slice_t token, void *waiter)
{
    token_pending_t *p = calloc(1, sizeof *p);
    adp_review_t *rv = calloc(1, sizeof *rv);
    size_t len = 0;

    if (!p || !rv || !(rv->body_token = tokens_review_body(token, &len)) ||
        !adp_pending_add_waiter(&p->base, waiter)) {
        if (p)
            token_pending_free(&p->base);
        adp_review_free(rv);
        return ADP_TOKEN_ERROR;
    }
    rv->kind = ADP_REVIEW_TOKEN;
    rv->owner = p;
    memcpy(p->hash, hash, TOKENS_HASH);
    if (tk->submit(tk->submit_ud, rv) < 0) {
        token_pending_free(&p->base);
        adp_review_free(rv);
        return ADP_TOKEN_BUSY;
    }
    p->base.next = tk->pending;
    tk->pending = &p->base;
    return ADP_TOKEN_PENDING;
}

adp_token_result_t adp_tokens_check(adp_tokens_t *tk, adp_slice_t token, void *waiter,
                                    adp_arena_t *a, uint64_t now_ms, adp_identity_t *ret_id)
{
    uint8_t hash[TOKENS_HASH];
    token_entry_t *e;

    if (!tk->submit)
        return ADP_TOKEN_DENIED; /* no cluster to ask */
    if (tokens_hash(tk, token, hash) < 0)
        return ADP_TOKEN_ERROR;
    if ((e = tokens_lookup(tk, hash, now_ms))) {
        tk->counts.cache_hits++;
        if (!e->authenticated)
            return ADP_TOKEN_DENIED;
        return adp_token_user_parse(e->user, a, ret_id) == 0 ? ADP_TOKEN_OK : ADP_TOKEN_ERROR;
    }
    for (adp_pending_t *p = tk->pending; p; p = p->next)
        if (memcmp(((token_pending_t *)p)->hash, hash, TOKENS_HASH) == 0)
            return adp_pending_add_waiter(p, waiter) ? ADP_TOKEN_PENDING : ADP_TOKEN_ERROR;
    return tokens_start(tk, hash, token, waiter);
}

void adp_tokens_complete(adp_tokens_t *tk, adp_review_t *rv, uint64_t now_ms)
{
    token_pending_t *p = rv->owner;
    adp_token_result_t result = ADP_TOKEN_ERROR;
    cJSON *user = NULL;

    adp_pending_unlink(&tk->pending, &p->base);
    if (rv->err < 0) {
        tk->counts.errors++;
        log_warning(rv->err, "TokenReview failed (the request gets 401): %s", rv->reason);
    } else if (rv->token_authenticated) {
        tk->counts.authenticated++;
        user = rv->token_user;
        rv->token_user = NULL;
        result = ADP_TOKEN_OK;
    } else {
        tk->counts.unauthenticated++;
        log_debug("a bearer token was not authenticated%s%s", rv->reason[0] ? ": " : "",
                  rv->reason);
        result = ADP_TOKEN_DENIED;
    }
    adp_review_free(rv);
    for (size_t i = 0; i < p->base.nwaiters; i++)
        if (p->base.waiters[i])
            tk->wake(p->base.waiters[i], result, user);
    if (result != ADP_TOKEN_ERROR)
        tokens_store(tk, p->hash, result == ADP_TOKEN_OK, user, now_ms); /* takes user */
    token_pending_free(&p->base);
}

void adp_tokens_forget(adp_tokens_t *tk, void *waiter)
{
    adp_pending_forget(tk->pending, waiter);
}
