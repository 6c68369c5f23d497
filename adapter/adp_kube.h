/*
 * adp_kube: the adapter's private interface to its Kubernetes threads (kube.c) and to the
 * authorization decisions built on them (authz.c).
 */
#ifndef CKEDA_ADAPTER_ADP_KUBE_H
#define CKEDA_ADAPTER_ADP_KUBE_H

#include "adapter/adp_tls.h"
#include "common/config.h"

/* ---- kube.c ------------------------------------------------------------------------------- */

#define ADP_KUBE_WORKERS   4   /* SubjectAccessReviews in flight at most */
#define ADP_KUBE_QUEUE_MAX 256 /* reviews waiting for a worker at most */

/* One authorization question for the review threads: first "may they read every metric of the
 * namespace" (resource "*", as KEDA's reader role grants), then the metric itself. */
typedef struct adp_review {
    struct adp_review *next;
    char *body_star;   /* SubjectAccessReview JSON for resource "*"; NULL: already denied */
    char *body_metric; /* ... for the metric */
    void *owner;       /* authz.c's pending entry */
    /* results, written by the review thread */
    int err; /* 0, or -errno: the review could not be made */
    bool star_done, star_allowed, metric_done, metric_allowed;
    char reason[256];
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
/* Completed reviews, a list linked by ->next (caller owns them), or NULL. */
adp_review_t *adp_kube_done(adp_kube_t *k);
/* The newest authentication configuration if a new one arrived since the last call. */
adp_authcfg_t *adp_kube_authcfg_take(adp_kube_t *k);

/* ---- authz.c ------------------------------------------------------------------------------ */

typedef enum {
    ADP_AUTHZ_ALLOW,
    ADP_AUTHZ_DENY,    /* 403 */
    ADP_AUTHZ_ERROR,   /* the review failed: 500 */
    ADP_AUTHZ_BUSY,    /* too many reviews queued: 429 */
    ADP_AUTHZ_PENDING, /* the waiter is woken with the decision */
} adp_authz_result_t;

#define ADP_AUTHZ_ALLOW_TTL_MS 300000 /* as kube-apiserver's webhook authorizer caches */
#define ADP_AUTHZ_DENY_TTL_MS  30000
#define ADP_AUTHZ_CACHE_MAX    8192

typedef struct adp_authz adp_authz_t;
/* Called for each waiter of a review that completed. reason may be "". */
typedef void (*adp_authz_wake_fn)(void *waiter, adp_authz_result_t result, const char *reason);

/* kube may be NULL (no cluster): then only system:masters is allowed. */
adp_authz_t *adp_authz_new(adp_kube_t *kube, adp_authz_wake_fn wake);
void adp_authz_free(adp_authz_t *z);
/* May id list the metric in ns? Decides from system:masters or the cache, else starts (or
 * joins) a review and returns PENDING; waiter is woken later unless forgotten first. */
adp_authz_result_t adp_authz_check(adp_authz_t *z, const adp_identity_t *id, const char *ns,
                                   const char *metric, void *waiter, uint64_t now_ms);
/* Applies completed reviews: caches them and wakes their waiters. */
void adp_authz_dispatch(adp_authz_t *z, uint64_t now_ms);
/* A waiter that goes away (its connection closed). */
void adp_authz_forget(adp_authz_t *z, void *waiter);
/* The cache size, for tests and logs. */
size_t adp_authz_cached(const adp_authz_t *z);

#endif
