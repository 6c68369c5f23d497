/*
 * wh_internal: private declarations of the webhook role (`ckeda --role=webhook`).
 *
 * Layers, bottom up (each file says more):
 *   review.c    AdmissionReview v1: parse a request, decide with common/validate.h, write the
 *               answer (pure: unit-tested and fuzzed)
 *   cluster.c   the cluster state KEDA's cross-object rules need: ScaledObjects from the table,
 *               HorizontalPodAutoscalers from an informer thread of the webhook's own
 *   pool.c      validation threads: requests in validation are capped (WH_INFLIGHT_MAX, 429)
 *   server.c    common/httpd.h on FD_WEBHOOK: routes, bodies, answers, the error counter
 *   webhook.c   webhook_main
 */
#ifndef CKEDA_WEBHOOK_WH_INTERNAL_H
#define CKEDA_WEBHOOK_WH_INTERNAL_H

#include "common/httpd.h"
#include "common/validate.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WH_BODY_MAX     (3584u << 10) /* 3.5 MiB: kube-apiserver's own request limit is 3 MiB */
#define WH_ARENA_LIMIT  (8u << 20)
#define WH_INFLIGHT_MAX 64 /* requests queued or in validation; more are answered 429 */
#define WH_THREADS      2
#define WH_WAIT_MS      9000 /* the API server gives a webhook 10 s (timeoutSeconds) */

/* ---- review.c ----------------------------------------------------------------------------- */

/* Which object a path validates (KEDA's paths). */
typedef enum {
    WH_KIND_NONE,
    WH_KIND_SCALEDOBJECT,
    WH_KIND_SCALEDJOB,
    WH_KIND_TRIGGERAUTH,
    WH_KIND_CLUSTERTRIGGERAUTH,
} wh_kind_t;

wh_kind_t wh_kind_of_path(const char *path);
const char *wh_kind_name(wh_kind_t k); /* "ScaledObject", ... */

/* A parsed AdmissionReview v1 request; pointers into root. */
typedef struct wh_review {
    cJSON *root;
    const char *uid;
    const char *operation; /* CREATE, UPDATE, DELETE, CONNECT */
    const cJSON *object;   /* request.object, NULL if absent */
    const cJSON *old_object;
    bool dry_run;
} wh_review_t;

#define WH_UID_MAX 128

/* Parses body as an AdmissionReview (apiVersion admission.k8s.io/v1, request.uid). 0, or
 * -EBADMSG with a message in err (the caller answers 400: there is no uid to answer to). */
int wh_review_parse(const char *body, size_t len, wh_review_t *ret, char *err, size_t errlen);
void wh_review_free(wh_review_t *r);

/* What the webhook answers. */
typedef struct wh_verdict {
    bool allowed;
    int code;           /* status.code: 200, 403 (a rule), 400 (no object to judge) */
    const char *reason; /* the rule that refused (the metric's label), NULL otherwise */
    bool validated;     /* the rules ran (not a DELETE, CONNECT or finalizer removal) */
    char message[VALIDATE_MESSAGE_MAX];
    unsigned nwarnings;
    char warnings[VALIDATE_FINDINGS_MAX][VALIDATE_MESSAGE_MAX];
} wh_verdict_t;

/* KEDA's isRemovingFinalizer: the new object has fewer finalizers than the old one and the
 * same spec. */
bool wh_removing_finalizer(const cJSON *obj, const cJSON *old);
/* Whether a finding refuses admission: KEDA's webhook rules only. ckeda's reconcile checks
 * (an unsupported scaler, too many triggers...) are admitted and reported as Ready=False by the
 * watcher, as KEDA's reconcile does; on a dry run KEDA skips verifyCPUMemoryScalers. */
bool wh_finding_denies(const validate_finding_t *f, bool dry_run);
/* Judges rv for kind with validate_object (cluster may be NULL). Pure but for cluster. */
void wh_review_decide(wh_kind_t kind, const wh_review_t *rv, const validate_cluster_t *cluster,
                      wh_verdict_t *ret);
/* The AdmissionReview v1 answer for uid. */
void wh_review_answer(httpd_sbuf_t *b, const char *uid, const wh_verdict_t *v);

/* ---- cluster.c ---------------------------------------------------------------------------- */

struct shm_table;
struct cfg;
typedef struct wh_cluster wh_cluster_t;

/* Starts the HPA informer thread when a kubeconfig can be loaded (else HPA rules are skipped,
 * logged once). NULL only when memory runs out. */
wh_cluster_t *wh_cluster_new(struct shm_table *table, const struct cfg *cfg);
void wh_cluster_free(wh_cluster_t *c);
/* A validate_cluster_t for one validation (any thread); its state lives in *scratch, released
 * by wh_cluster_view_done. */
typedef struct wh_cluster_view {
    wh_cluster_t *c;
    const char *ns;
    cJSON *sos;  /* the namespace's ScaledObjects from the table, built on first use */
    cJSON *keep; /* HPA copies validate may still point to */
} wh_cluster_view_t;
void wh_cluster_view_init(wh_cluster_t *c, wh_cluster_view_t *view, validate_cluster_t *ret);
void wh_cluster_view_done(wh_cluster_view_t *view);
/* The HPA informer has listed once (or there is none). */
bool wh_cluster_synced(wh_cluster_t *c);

/* ---- metrics (server.c) ----------------------------------------------------------------- */

/* KEDA's keda_webhook_scaled_object_validations_total{namespace,action} and
 * keda_webhook_scaled_object_validation_errors_total{namespace,action,reason}, kept in the
 * webhook's memory (restarts reset them, as KEDA's do). */
#define WH_COUNTERS_MAX 512

typedef struct wh_counter {
    char ns[64];
    char action[8];
    const char *reason; /* NULL: the validations counter */
    uint64_t n;
} wh_counter_t;

typedef struct wh_counters {
    unsigned n;
    bool full_logged;
    wh_counter_t c[WH_COUNTERS_MAX];
} wh_counters_t;

void wh_counters_add(wh_counters_t *cs, const char *ns, const char *action, const char *reason);
/* Prometheus text 0.0.4 of the counters. */
void wh_counters_write(const wh_counters_t *cs, httpd_sbuf_t *b);

/* ---- pool.c ------------------------------------------------------------------------------- */

typedef struct wh_job {
    struct wh_job *next;
    void *owner; /* the connection; NULL once it went away */
    wh_kind_t kind;
    char *body; /* malloc'ed copy */
    size_t body_len;
    /* results, written by the thread */
    int http_code; /* 200 with answer, else a metav1.Status of message */
    char *answer;  /* malloc'ed JSON */
    char message[256];
    bool so_validated;       /* a ScaledObject went through the rules (the metrics count it) */
    const char *deny_reason; /* ScaledObject denials: the metric's label */
    char ns[64];             /* request.namespace */
    char action[8];          /* "create", "update" (KEDA's label) */
} wh_job_t;

typedef struct wh_pool wh_pool_t;

wh_pool_t *wh_pool_new(wh_cluster_t *cluster, unsigned threads);
void wh_pool_free(wh_pool_t *p);
/* Readable when jobs completed. */
int wh_pool_fd(const wh_pool_t *p);
/* Queues job (owned by the pool until returned by wh_pool_done). -EBUSY past WH_INFLIGHT_MAX. */
int wh_pool_submit(wh_pool_t *p, wh_job_t *job);
/* Completed jobs, linked by ->next (the caller owns them), or NULL. */
wh_job_t *wh_pool_done(wh_pool_t *p);
void wh_job_free(wh_job_t *j);
/* Runs one job on the calling thread (what a pool thread does). */
void wh_job_run(wh_job_t *j, wh_cluster_t *cluster);

/* ---- server.c ----------------------------------------------------------------------------- */

struct role_ctx;
int wh_server_run(struct role_ctx *ctx);

#endif
