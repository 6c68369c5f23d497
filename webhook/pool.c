/*
 * pool: the webhook's validation threads (webhook process).
 *
 * The event loop never parses or validates: it hands each review (a copy of its body) to a
 * small pool of threads and answers when the result comes back through an eventfd, so health
 * checks and other connections are served while a large object is being judged. Reviews queued
 * or in validation are capped at WH_INFLIGHT_MAX: past it the loop answers 429 at once. A job
 * whose connection went away while it ran is dropped when it comes back (owner NULL).
 */
#include "webhook/wh_internal.h"

#include "common/json.h"
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define WH_POOL_THREADS_MAX 8

struct wh_pool {
    wh_cluster_t *cluster;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    wh_job_t *queue, **queue_tail; /* under lock */
    wh_job_t *done;                /* under lock */
    unsigned inflight;             /* queued + running + done not yet taken; under lock */
    bool stop;
    int efd;
    unsigned nthreads;
    pthread_t threads[WH_POOL_THREADS_MAX];
};

void wh_job_free(wh_job_t *j)
{
    if (!j)
        return;
    free(j->body);
    free(j->answer);
    free(j);
}

void wh_job_run(wh_job_t *j, wh_cluster_t *cluster)
{
    wh_review_t rv;
    wh_verdict_t *v = malloc(sizeof *v);
    httpd_arena_t arena = {0};
    httpd_sbuf_t b;

    if (!v) {
        j->http_code = 500;
        snprintf(j->message, sizeof j->message, "out of memory");
        return;
    }
    if (wh_review_parse(j->body, j->body_len, &rv, j->message, sizeof j->message) < 0) {
        j->http_code = 400;
        free(v);
        return;
    }
    if (cluster) {
        wh_cluster_view_t view;
        validate_cluster_t vc;
        wh_cluster_view_init(cluster, &view, &vc);
        wh_review_decide(j->kind, &rv, &vc, v);
        wh_cluster_view_done(&view);
    } else {
        wh_review_decide(j->kind, &rv, NULL, v);
    }
    if (j->kind == WH_KIND_SCALEDOBJECT && v->validated) {
        const cJSON *ns = jsonu_lookup(rv.root, "request.namespace");
        j->so_validated = true;
        j->deny_reason = v->allowed ? NULL : v->reason;
        snprintf(j->ns, sizeof j->ns, "%s", cJSON_IsString(ns) ? ns->valuestring : "");
        snprintf(j->action, sizeof j->action, "%s",
                 strcmp(rv.operation, "CREATE") == 0 ? "create" : "update");
    }
    httpd_sbuf_init(&b, &arena);
    wh_review_answer(&b, rv.uid, v);
    if (b.failed || !(j->answer = strdup(b.p))) {
        j->http_code = 500;
        snprintf(j->message, sizeof j->message, "out of memory");
    } else {
        j->http_code = 200;
    }
    httpd_arena_free(&arena);
    wh_review_free(&rv);
    free(v);
}

static void *pool_thread(void *arg)
{
    wh_pool_t *p = arg;
    uint64_t one = 1;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && !p->queue)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->stop)
            break;
        wh_job_t *j = p->queue;
        p->queue = j->next;
        if (!p->queue)
            p->queue_tail = &p->queue;
        pthread_mutex_unlock(&p->lock);
        wh_job_run(j, p->cluster);
        pthread_mutex_lock(&p->lock);
        j->next = p->done;
        p->done = j;
        if (write(p->efd, &one, sizeof one) < 0 && errno != EAGAIN)
            log_warning(-errno, "cannot wake the webhook's loop");
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

wh_pool_t *wh_pool_new(wh_cluster_t *cluster, unsigned threads)
{
    wh_pool_t *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->cluster = cluster;
    p->queue_tail = &p->queue;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if ((p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        log_error(-errno, "eventfd");
        wh_pool_free(p);
        return NULL;
    }
    if (threads > WH_POOL_THREADS_MAX)
        threads = WH_POOL_THREADS_MAX;
    for (unsigned i = 0; i < threads; i++) {
        int r = pthread_create(&p->threads[i], NULL, pool_thread, p);
        if (r != 0) {
            log_error(-r, "cannot start a validation thread");
            wh_pool_free(p);
            return NULL;
        }
        p->nthreads++;
    }
    return p;
}

void wh_pool_free(wh_pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    for (wh_job_t *lists[2] = {p->queue, p->done}, **l = lists; l < lists + 2; l++)
        while (*l) {
            wh_job_t *next = (*l)->next;
            wh_job_free(*l);
            *l = next;
        }
    if (p->efd >= 0)
        close(p->efd);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int wh_pool_fd(const wh_pool_t *p)
{
    return p->efd;
}

int wh_pool_submit(wh_pool_t *p, wh_job_t *job)
{
    int r = 0;

    pthread_mutex_lock(&p->lock);
    if (p->inflight >= WH_INFLIGHT_MAX) {
        r = -EBUSY;
    } else {
        job->next = NULL;
        *p->queue_tail = job;
        p->queue_tail = &job->next;
        p->inflight++;
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return r;
}

wh_job_t *wh_pool_done(wh_pool_t *p)
{
    uint64_t n;
    wh_job_t *list;

    if (read(p->efd, &n, sizeof n) < 0 && errno != EAGAIN)
        log_warning(-errno, "eventfd");
    pthread_mutex_lock(&p->lock);
    list = p->done;
    p->done = NULL;
    for (wh_job_t *j = list; j; j = j->next)
        p->inflight--;
    pthread_mutex_unlock(&p->lock);
    return list;
}
