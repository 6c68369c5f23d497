/*
 * adp_kube: the adapter's private interface to its Kubernetes threads (kube.c) and to the
 * authentication and authorization decisions built on them (tokens.c, authz.c, and the waiters
 * they share, pending.c).
 */
#ifndef CKEDA_ADAPTER_ADP_KUBE_H
#define CKEDA_ADAPTER_ADP_KUBE_H

#include "adapter/adp_tls.h"
#include "common/config.h"

/* ---- kube.c ------------------------------------------------------------------------------- */

#define ADP_KUBE_WORKERS   4   /* reviews (access and token) in flight at most */
#define ADP_KUBE_QUEUE_MAX 256 /* reviews waiting for a worker at most */

typedef enum {
    ADP_REVIEW_ACCESS, /* SubjectAccessReviews for authz.c */
    ADP_REVIEW_TOKEN,  /* a TokenReview for tokens.c */
} adp_review_kind_t;

/* One question for the review threads. ADP_REVIEW_ACCESS: first "may they read every metric
 * of the namespace" (resource "*", as KEDA's reader role grants), then the metric itself.
 * ADP_REVIEW_TOKEN: who holds this bearer token. */
typedef struct adp_review {
    struct adp_review *next;
    adp_review_kind_t kind;
    char *body_star;   /* SubjectAccessReview JSON for resource "*"; NULL: already denied */
    char *body_metric; /* ... for the metric */
    char *body_token;  /* TokenReview JSON: holds the token, zeroed when freed */
    void *owner;       /* authz.c's or tokens.c's pending entry */
    /* results, written by the review thread */
    int err; /* 0, or -errno: the review could not be made */
    bool star_done, star_allowed, metric_done, metric_allowed;
    bool token_authenticated;
    struct cJSON *token_user; /* status.user of an authenticated token (owned) */
    char reason[256];         /* a denial's reason, status.error, or why the review failed */
} adp_review_t;

void adp_review_free(adp_review_t *rv);

typedef struct adp_kube adp_kube_t;

/* Loads the kubeconfig (--kubeconfig, $KUBECONFIG, in-cluster, ~/.kube/config) and starts the
 * threads. -ENOENT/-ENXIO/-EINVAL when there is no usable kubeconfig (logged as a warning:
 * the adapter then runs without the cluster's authentication and authorization). */
int adp_kube_start(const cfg_t *cfg, adp_kube_t **ret);
void adp_kube_stop(adp_kube_t *k);
/* Readable when reviews completed or a new authentication configuration arrived. */
int adp_kube_fd(const adp_kube_t *k);
/* Queues rv (owned by kube.c until returned by adp_kube_done). -EAGAIN when the queue is full. */
int adp_kube_submit(adp_kube_t *k, adp_review_t *rv);
/* Completed reviews, a list linked by ->next (caller owns them), or NULL. Drains the eventfd:
 * hand each review to its owner by kind (authz.c, tokens.c). */
adp_review_t *adp_kube_done(adp_kube_t *k);
/* The newest authentication configuration if a new one arrived since the last call. */
adp_authcfg_t *adp_kube_authcfg_take(adp_kube_t *k);

/* ---- pending.c ---------------------------------------------------------------------------- */

/* A review in flight and the requests waiting for its answer: the first member of authz.c's and
 * tokens.c's pending entries, which are kept in a list linked by next. */
typedef struct adp_pending {
    struct adp_pending *next;
    void **waiters; /* NULL where a waiter was forgotten */
    size_t nwaiters, cap;
} adp_pending_t;

/* false when out of memory (the waiter was not added). */
bool adp_pending_add_waiter(adp_pending_t *p, void *waiter);
/* Frees p's waiter list, not p. */
void adp_pending_fini(adp_pending_t *p);
/* Calls free_entry on every entry of list. */
void adp_pending_list_free(adp_pending_t *list, void (*free_entry)(adp_pending_t *p));
void adp_pending_unlink(adp_pending_t **list, adp_pending_t *p);
/* A waiter that goes away: cleared from every entry of list. */
void adp_pending_forget(adp_pending_t *list, void *waiter);

/* ---- authz.c ------------------------------------------------------------------------------ */

typedef enum {
    ADP_AUTHZ_ALLOW,
    ADP_AUTHZ_DENY,    /* 403 */
    ADP_AUTHZ_ERROR,   /* the review failed: 500 */
    ADP_AUTHZ_BUSY,    /* too many reviews queued: 429 */
    ADP_AUTHZ_PENDING, /* the waiter is woken with the decision */
} adp_authz_result_t;

#define ADP_AUTHZ_CACHE_MAX 8192

typedef struct adp_authz adp_authz_t;
/* Called for each waiter of a review that completed. reason may be "". */
typedef void (*adp_authz_wake_fn)(void *waiter, adp_authz_result_t result, const char *reason);

typedef struct adp_authz_opts {
    uint32_t allow_ttl_ms, deny_ttl_ms; /* --authorization-{allow,deny}-cache-ttl */
    bool insecure_skip; /* --authorization-insecure-skip: every authenticated caller allowed */
} adp_authz_opts_t;

/* What authz.c counted since it started (the adapter publishes them as metrics). */
typedef struct adp_authz_counts {
    uint64_t cache_hits, cache_misses; /* decisions from the cache / that needed a review */
} adp_authz_counts_t;

/* kube may be NULL (no cluster): then only system:masters is allowed (or everyone
 * authenticated with insecure_skip). */
adp_authz_t *adp_authz_new(adp_kube_t *kube, const adp_authz_opts_t *opts, adp_authz_wake_fn wake);
void adp_authz_free(adp_authz_t *z);
/* The identity's part of the cache's keys (user, uid, groups, extras), built once per
 * identity: request.c keeps it per connection while the identity stays the same. */
typedef struct adp_authz_idkey {
    char *key; /* malloc'ed, len bytes; NULL: none */
    size_t len;
    uint64_t hash; /* of the key so far: each full key's hash continues from it */
} adp_authz_idkey_t;

/* 0 or -ENOMEM (nothing set). */
int adp_authz_idkey_make(const adp_identity_t *id, adp_authz_idkey_t *ret);
void adp_authz_idkey_clear(adp_authz_idkey_t *k);

/* May id list the metric in ns? Decides from system:masters or the cache, else starts (or
 * joins) a review and returns PENDING; waiter is woken later unless forgotten first. idkey is
 * id's (adp_authz_idkey_make), or NULL to build it here. */
adp_authz_result_t adp_authz_check(adp_authz_t *z, const adp_identity_t *id,
                                   const adp_authz_idkey_t *idkey, const char *ns,
                                   const char *metric, void *waiter, uint64_t now_ms);
/* Applies a completed ADP_REVIEW_ACCESS review (takes it): caches it and wakes its waiters. */
void adp_authz_complete(adp_authz_t *z, adp_review_t *rv, uint64_t now_ms);
/* A waiter that goes away (its connection closed). */
void adp_authz_forget(adp_authz_t *z, void *waiter);
/* The cache size, for tests and logs. */
size_t adp_authz_cached(const adp_authz_t *z);
const adp_authz_counts_t *adp_authz_counts(const adp_authz_t *z);

/* ---- tokens.c ----------------------------------------------------------------------------- */

typedef enum {
    ADP_TOKEN_OK,      /* *ret_id filled */
    ADP_TOKEN_DENIED,  /* the API server does not know the token: 401 */
    ADP_TOKEN_ERROR,   /* the review failed: 401, as k8s.io/apiserver answers it */
    ADP_TOKEN_BUSY,    /* too many reviews queued: 429 */
    ADP_TOKEN_PENDING, /* the waiter is woken with the result */
} adp_token_result_t;

#define ADP_TOKEN_CACHE_MAX 4096
#define ADP_TOKEN_MAX       8192 /* bytes of a bearer token at most (heads are 16 KiB) */

/* What tokens.c counted since it started (published as metrics). */
typedef struct adp_token_counts {
    uint64_t authenticated, unauthenticated, errors; /* TokenReviews by result */
    uint64_t cache_hits;
} adp_token_counts_t;

typedef struct adp_tokens adp_tokens_t;
/* A woken waiter. user (the review's status.user, for adp_token_user_parse) is valid during
 * the call only and NULL unless result is OK. */
typedef void (*adp_token_wake_fn)(void *waiter, adp_token_result_t result,
                                  const struct cJSON *user);

/* Hands a review to the review threads (adp_kube_submit); -EAGAIN when the queue is full. */
typedef int (*adp_review_submit_fn)(void *ud, adp_review_t *rv);

/* Bearer tokens checked with TokenReviews, answers cached ttl_ms per token hash (HMAC-SHA-256
 * under a key drawn at start; the token itself is never kept). submit is NULL without a
 * cluster: every token is DENIED. NULL on allocation failure. */
adp_tokens_t *adp_tokens_new(adp_review_submit_fn submit, void *submit_ud, uint32_t ttl_ms,
                             adp_token_wake_fn wake);
void adp_tokens_free(adp_tokens_t *tk);
/* The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, as
 * k8s.io/apiserver's bearertoken authenticator), or -ENOENT when there is none. */
int adp_bearer_token(const adp_http_req_t *req, adp_slice_t *ret_token);
/* Who holds token: from the cache (OK with *ret_id in arena a, or DENIED), else a review is
 * started or joined and PENDING returned. */
adp_token_result_t adp_tokens_check(adp_tokens_t *tk, adp_slice_t token, void *waiter,
                                    adp_arena_t *a, uint64_t now_ms, adp_identity_t *ret_id);
/* Applies a completed ADP_REVIEW_TOKEN review (takes it): caches it and wakes its waiters. */
void adp_tokens_complete(adp_tokens_t *tk, adp_review_t *rv, uint64_t now_ms);
void adp_tokens_forget(adp_tokens_t *tk, void *waiter);
size_t adp_tokens_cached(const adp_tokens_t *tk);
const adp_token_counts_t *adp_tokens_counts(const adp_tokens_t *tk);

/* The TokenReview's status.user as an identity (strings in a); -EINVAL when it has no
 * username, -E2BIG past ADP_GROUPS_MAX/ADP_EXTRAS_MAX, -ENOMEM. Pure; unit-tested. */
int adp_token_user_parse(const struct cJSON *user, adp_arena_t *a, adp_identity_t *ret);

#endif
