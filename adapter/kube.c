/*
 * kube: the adapter's only conversations with the API server, on threads of their own so the
 * event loop never waits on the network (adapter process).
 *
 * - One config thread reads ConfigMap kube-system/extension-apiserver-authentication at start
 *   (retrying with backoff) and every ADP_KUBE_RESYNC_S, and publishes each parsed version.
 * - ADP_KUBE_WORKERS review threads POST SubjectAccessReviews (authz.c) and TokenReviews
 *   (tokens.c). Their number is the cap on reviews in flight; at most ADP_KUBE_QUEUE_MAX more
 *   wait in the queue, past which adp_kube_submit() refuses (the caller answers 429). A
 *   TokenReview's body and answer hold the token: they go through the client without copies
 *   (K8S_REQ_SENSITIVE) and are zeroed once read.
 * Every thread owns its kubeconfig and Kubernetes client (the client is single-threaded). The
 * threads block all signals; they hand results back through a mutex-protected list and an
 * eventfd the event loop polls. They never touch connections, the table or the log's callers'
 * state beyond log lines of their own.
 */
#include "adapter/adp_kube.h"

#include "common/k8s.h"
#include "common/kubeconfig.h"
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define ADP_KUBE_RESYNC_S    60
#define ADP_KUBE_BACKOFF_MAX 30
#define ADP_KUBE_TIMEOUT_MS  5000L
#define ADP_KUBE_SAR_PATH    "/apis/authorization.k8s.io/v1/subjectaccessreviews"
#define ADP_KUBE_TR_PATH     "/apis/authentication.k8s.io/v1/tokenreviews"

typedef struct kube_thread {
    adp_kube_t *k;
    pthread_t tid;
    bool started;
    kubeconfig_t *config;
    k8s_client_t *client;
} kube_thread_t;

struct adp_kube {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopping;
    int efd;
    adp_review_t *queue_head, *queue_tail, *done;
    unsigned queued;
    adp_authcfg_t *authcfg;                      /* newest, not yet taken */
    kube_thread_t threads[ADP_KUBE_WORKERS + 1]; /* [0] is the config thread */
};

static void kube_ring(adp_kube_t *k)
{
    uint64_t one = 1;
    ssize_t w = write(k->efd, &one, sizeof one);
    (void)w; /* a full counter already wakes the loop */
}

/* ---- the config thread ------------------------------------------------------------------- */

static int kube_fetch_authcfg(kube_thread_t *t, adp_authcfg_t **ret, char *err, size_t errlen)
{
    k8s_ref_t ref = {K8S_GVR_CONFIGMAPS, "kube-system", "extension-apiserver-authentication", NULL};
    k8s_error_t kerr = {0};
    cJSON *obj = NULL;
    int r = k8s_get(t->client, &ref, &obj, &kerr);

    if (r < 0) {
        snprintf(err, errlen, "%s", kerr.message[0] ? kerr.message : "request failed");
        return r;
    }
    *ret = adp_authcfg_parse(cJSON_GetObjectItemCaseSensitive(obj, "data"), err, errlen);
    cJSON_Delete(obj);
    return *ret ? 0 : -EINVAL;
}

/* Waits up to seconds or until stopping; returns false when stopping. */
static bool kube_sleep(adp_kube_t *k, unsigned seconds)
{
    struct timespec until;
    bool stop;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&k->mu);
    while (!k->stopping && pthread_cond_timedwait(&k->cond, &k->mu, &until) != ETIMEDOUT)
        ;
    stop = k->stopping;
    pthread_mutex_unlock(&k->mu);
    return !stop;
}

static void *kube_config_main(void *arg)
{
    kube_thread_t *t = arg;
    unsigned backoff = 1;
    bool failing = false;
    char err[512];

    do {
        adp_authcfg_t *c = NULL;
        int r = kube_fetch_authcfg(t, &c, err, sizeof err);
        if (r < 0) {
            if (!failing) /* once per outage: the next success is logged too */
                log_warning(r,
                            "cannot read kube-system/extension-apiserver-authentication "
                            "(front-proxy requests get 401 until it can be read): %s",
                            err);
            failing = true;
            if (!kube_sleep(t->k, backoff))
                break;
            backoff = backoff * 2 > ADP_KUBE_BACKOFF_MAX ? ADP_KUBE_BACKOFF_MAX : backoff * 2;
            continue;
        }
        if (failing)
            log_info("read kube-system/extension-apiserver-authentication");
        failing = false;
        backoff = 1;
        pthread_mutex_lock(&t->k->mu);
        adp_authcfg_free(t->k->authcfg);
        t->k->authcfg = c;
        pthread_mutex_unlock(&t->k->mu);
        kube_ring(t->k);
    } while (kube_sleep(t->k, failing ? backoff : ADP_KUBE_RESYNC_S));
    return NULL;
}

/* ---- the review threads ------------------------------------------------------------------ */

/* One SubjectAccessReview: 1 allowed, 0 not allowed (reason filled), -errno on failure. */
static int kube_review(kube_thread_t *t, const char *body, char *reason, size_t size)
{
    k8s_request_t req = {.method = K8S_POST,
                         .path = ADP_KUBE_SAR_PATH,
                         .body = body,
                         .body_len = strlen(body),
                         .flags = K8S_REQ_NO_RETRY,
                         .timeout_ms = ADP_KUBE_TIMEOUT_MS};
    k8s_error_t kerr = {0};
    cJSON *obj = NULL;
    int r = k8s_request(t->client, &req, &obj, &kerr);

    if (r < 0) {
        snprintf(reason, size, "%s", kerr.message[0] ? kerr.message : "request failed");
        return r;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status");
    const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(st, "allowed");
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(st, "reason");
    r = cJSON_IsTrue(allowed) ? 1 : 0;
    snprintf(reason, size, "%s", cJSON_IsString(why) ? why->valuestring : "");
    cJSON_Delete(obj);
    return r;
}

/* Zeroes the API server's echo of the token (spec.token) in a TokenReview answer. */
static void kube_scrub_token(cJSON *obj)
{
    cJSON *tok =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "spec"), "token");

    if (cJSON_IsString(tok) && tok->valuestring)
        explicit_bzero(tok->valuestring, strlen(tok->valuestring));
}

/* One TokenReview: the answer's status.authenticated, status.user and status.error. */
static void kube_token_review(kube_thread_t *t, adp_review_t *rv)
{
    k8s_request_t req = {.method = K8S_POST,
                         .path = ADP_KUBE_TR_PATH,
                         .body = rv->body_token,
                         .body_len = strlen(rv->body_token),
                         .flags = K8S_REQ_NO_RETRY | K8S_REQ_SENSITIVE,
                         .timeout_ms = ADP_KUBE_TIMEOUT_MS};
    k8s_error_t kerr = {0};
    cJSON *obj = NULL, *st;
    const cJSON *why;
    int r = k8s_request(t->client, &req, &obj, &kerr);

    if (r < 0) {
        rv->err = r;
        snprintf(rv->reason, sizeof rv->reason, "%s",
                 kerr.message[0] ? kerr.message : "request failed");
        return;
    }
    kube_scrub_token(obj);
    st = cJSON_GetObjectItemCaseSensitive(obj, "status");
    why = cJSON_GetObjectItemCaseSensitive(st, "error");
    snprintf(rv->reason, sizeof rv->reason, "%s", cJSON_IsString(why) ? why->valuestring : "");
    rv->token_authenticated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "authenticated"));
    if (rv->token_authenticated) {
        rv->token_user = cJSON_DetachItemFromObjectCaseSensitive(st, "user");
        if (!rv->token_user) { /* authenticated as nobody: treat as not authenticated */
            rv->token_authenticated = false;
            snprintf(rv->reason, sizeof rv->reason, "the TokenReview names no user");
        }
    }
    cJSON_Delete(obj);
}

static void kube_run_review(kube_thread_t *t, adp_review_t *rv)
{
    int r;

    if (rv->kind == ADP_REVIEW_TOKEN) {
        kube_token_review(t, rv);
        return;
    }

    if (rv->body_star) {
        r = kube_review(t, rv->body_star, rv->reason, sizeof rv->reason);
        if (r < 0) {
            rv->err = r;
            return;
        }
        rv->star_done = true;
        rv->star_allowed = r == 1;
        if (rv->star_allowed)
            return;
    }
    r = kube_review(t, rv->body_metric, rv->reason, sizeof rv->reason);
    if (r < 0) {
        rv->err = r;
        return;
    }
    rv->metric_done = true;
    rv->metric_allowed = r == 1;
}

static void *kube_worker_main(void *arg)
{
    kube_thread_t *t = arg;
    adp_kube_t *k = t->k;

    for (;;) {
        adp_review_t *rv;
        pthread_mutex_lock(&k->mu);
        while (!k->stopping && !k->queue_head)
            pthread_cond_wait(&k->cond, &k->mu);
        if (k->stopping) {
            pthread_mutex_unlock(&k->mu);
            return NULL;
        }
        rv = k->queue_head;
        k->queue_head = rv->next;
        if (!k->queue_head)
            k->queue_tail = NULL;
        k->queued--;
        pthread_mutex_unlock(&k->mu);
        kube_run_review(t, rv);
        pthread_mutex_lock(&k->mu);
        rv->next = k->done;
        k->done = rv;
        pthread_mutex_unlock(&k->mu);
        kube_ring(k);
    }
}

/* ---- the event loop's side --------------------------------------------------------------- */

void adp_review_free(adp_review_t *rv)
{
    if (!rv)
        return;
    free(rv->body_star);
    free(rv->body_metric);
    if (rv->body_token) {
        explicit_bzero(rv->body_token, strlen(rv->body_token));
        free(rv->body_token);
    }
    cJSON_Delete(rv->token_user);
    free(rv);
}

static int kube_thread_init(adp_kube_t *k, kube_thread_t *t, const cfg_t *cfg)
{
    k8s_client_opts_t opts = {.qps = cfg->kube_api_qps,
                              .burst = (int)cfg->kube_api_burst,
                              .timeout_ms = ADP_KUBE_TIMEOUT_MS,
                              .max_retries = -1};
    errtext_t err = {{0}};
    int r = kubeconfig_load_default(cfg->kubeconfig[0] ? cfg->kubeconfig : NULL,
                                    cfg->context[0] ? cfg->context : NULL, &t->config, &err);

    t->k = k;
    if (r < 0) {
        if (t == &k->threads[0])
            log_warning(r,
                        "no Kubernetes API (%s): only clients with a certificate of "
                        "--cert-dir's ca.crt in group system:masters are authorized",
                        err.text);
        return r;
    }
    if (!(t->client = k8s_client_new(t->config, &opts)))
        return log_error(-ENOMEM, "cannot create a Kubernetes client");
    return 0;
}

int adp_kube_start(const cfg_t *cfg, adp_kube_t **ret)
{
    adp_kube_t *k = calloc(1, sizeof *k);
    sigset_t all, old;
    int r = 0;

    if (!k)
        return -ENOMEM;
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cond, NULL);
    k->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (k->efd < 0)
        r = -errno;
    for (unsigned i = 0; r == 0 && i <= ADP_KUBE_WORKERS; i++)
        r = kube_thread_init(k, &k->threads[i], cfg);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay with the event loop */
    for (unsigned i = 0; r == 0 && i <= ADP_KUBE_WORKERS; i++) {
        kube_thread_t *t = &k->threads[i];
        r = -pthread_create(&t->tid, NULL, i ? kube_worker_main : kube_config_main, t);
        t->started = r == 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r < 0) {
        adp_kube_stop(k);
        return r;
    }
    *ret = k;
    return 0;
}

int adp_kube_fd(const adp_kube_t *k)
{
    return k->efd;
}

int adp_kube_submit(adp_kube_t *k, adp_review_t *rv)
{
    pthread_mutex_lock(&k->mu);
    if (k->queued >= ADP_KUBE_QUEUE_MAX) {
        pthread_mutex_unlock(&k->mu);
        return -EAGAIN;
    }
    rv->next = NULL;
    if (k->queue_tail)
        k->queue_tail->next = rv;
    else
        k->queue_head = rv;
    k->queue_tail = rv;
    k->queued++;
    pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->mu);
    return 0;
}

adp_review_t *adp_kube_done(adp_kube_t *k)
{
    adp_review_t *rv;
    uint64_t v;

    if (read(k->efd, &v, sizeof v) < 0 && errno != EAGAIN)
        log_debug("eventfd read: %s", strerror(errno));
    pthread_mutex_lock(&k->mu);
    rv = k->done;
    k->done = NULL;
    pthread_mutex_unlock(&k->mu);
    return rv; /* a list linked by ->next */
}

adp_authcfg_t *adp_kube_authcfg_take(adp_kube_t *k)
{
    adp_authcfg_t *c;

    pthread_mutex_lock(&k->mu);
    c = k->authcfg;
    k->authcfg = NULL;
    pthread_mutex_unlock(&k->mu);
    return c;
}

void adp_kube_stop(adp_kube_t *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stopping = true;
    pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->mu);
    for (unsigned i = 0; i <= ADP_KUBE_WORKERS; i++) {
        kube_thread_t *t = &k->threads[i];
        if (t->started)
            pthread_join(t->tid, NULL); /* a review in flight ends within its timeout */
        k8s_client_free(t->client);
        kubeconfig_free(t->config);
    }
    for (adp_review_t *rv = k->queue_head, *next; rv; rv = next) {
        next = rv->next;
        adp_review_free(rv);
    }
    for (adp_review_t *rv = k->done, *next; rv; rv = next) {
        next = rv->next;
        adp_review_free(rv);
    }
    adp_authcfg_free(k->authcfg);
    if (k->efd >= 0)
        close(k->efd);
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->mu);
    free(k);
}
