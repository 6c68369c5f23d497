/*
 * k8s_loop: many informers on one curl-multi handle, driven by the caller's loop through
 * k8s_loop_run_once (which also waits on the caller's fds, e.g. the watcher's eventfd
 * doorbell). Also the informers' lifecycle: sending their requests and acting on each finished
 * transfer (k8s_informer.c interprets what the server said).
 *
 * Runs on the one thread that owns the loop. Callbacks run inside k8s_loop_run_once: watch
 * events while libcurl delivers bytes, list items when a page completes. While callbacks may
 * run, `dispatching` is set and k8s_informer_free only marks an informer dead; the loop reaps it
 * when it regains control (libcurl forbids removing a handle from inside its callbacks). New
 * informers are only ever added to curl-multi outside callbacks, by the start phase.
 */
#include "common/k8s_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K8S_EXTRA_FDS_MAX 16
#define K8S_PATH_MAX      2048
#define K8S_LIST_TIMEOUT  120000L /* a large page can take a while */
#define K8S_SHORT_WATCH   (1 * K8S_NS_PER_S)
#define K8S_HEALTHY_WATCH (60 * K8S_NS_PER_S)

/* ---- scheduling ---- */

static void inf_backoff(k8s_informer_t *inf, int64_t now, int retry_after_s)
{
    int64_t d = k8s_backoff_ns(inf->backoff_step, k8s_rng_next(&inf->loop->rng));

    if (inf->backoff_step < 16)
        inf->backoff_step++;
    if (retry_after_s > 0 && (int64_t)retry_after_s * K8S_NS_PER_S > d)
        d = (int64_t)retry_after_s * K8S_NS_PER_S;
    inf->next_ns = now + d;
}

/* ---- requests ---- */

int k8s_informer_url(k8s_informer_t *inf, char **ret_url, long *ret_timeout_ms)
{
    k8s_ref_t ref = {inf->gvr, inf->ns, NULL, NULL};
    k8s_query_t q = {0};
    char path[K8S_PATH_MAX];
    int r = k8s_path_build(&ref, path, sizeof path);

    if (r < 0)
        return r;
    k8s_query_add(&q, "labelSelector", inf->label_selector);
    k8s_query_add(&q, "fieldSelector", inf->field_selector);
    if (inf->want_list) {
        bool last = inf->list_rv == K8S_LIST_RV_LAST && *inf->rv;
        /* A limit with a specific version would ask for that exact (stale) snapshot; without
         * one the watch cache answers "not older than", as client-go's pager arranges. */
        if (!last || inf->continue_token)
            k8s_query_add_uint(&q, "limit", inf->page_limit);
        if (inf->continue_token)
            k8s_query_add(&q, "continue", inf->continue_token);
        else if (inf->list_rv != K8S_LIST_RV_CONSISTENT)
            k8s_query_add(&q, "resourceVersion", last ? inf->rv : "0");
        *ret_timeout_ms = K8S_LIST_TIMEOUT;
    } else {
        /* Random in [min, 2 x min): many watchers do not reconnect in step. */
        unsigned t = K8S_WATCH_TIMEOUT_MIN_S +
                     (unsigned)(k8s_rng_next(&inf->loop->rng) % K8S_WATCH_TIMEOUT_MIN_S);
        k8s_query_add(&q, "watch", "1");
        k8s_query_add(&q, "allowWatchBookmarks", "true");
        k8s_query_add(&q, "resourceVersion", inf->rv);
        k8s_query_add_uint(&q, "timeoutSeconds", t);
        /* The server closes the stream at t; the margin only catches a hung server. */
        *ret_timeout_ms = ((long)t + 30) * 1000;
    }
    r = q.error;
    if (r == 0 && !(*ret_url = k8s_url_build(inf->loop->client->config->server, path, q.buf)))
        r = -ENOMEM;
    k8s_query_done(&q);
    return r;
}

int k8s_informer_start(k8s_informer_t *inf, int64_t now)
{
    k8s_client_t *c = inf->loop->client;
    k8s_error_t err;
    char *url = NULL;
    long timeout_ms = 0;
    int r;

    if (!inf->reserved) {
        int64_t wait = k8s_ratelimit_reserve(&c->rl, now);
        inf->reserved = true;
        if (wait > 0) {
            inf->next_ns = now + wait;
            return 0;
        }
    }
    inf->reserved = false;
    k8s_error_clear(&err);
    r = k8s_informer_url(inf, &url, &timeout_ms);
    if (r == 0)
        r = k8s_xfer_prepare(c, &inf->xfer, K8S_GET, url, NULL, 0, timeout_ms, &err);
    free(url);
    if (r == 0) {
        curl_easy_setopt(inf->xfer.easy, CURLOPT_PRIVATE, inf);
        inf->xfer.lines = inf->want_list ? NULL : &inf->lines;
        inf->xfer.on_line = k8s_informer_watch_line;
        inf->xfer.line_userdata = inf;
        k8s_lines_reset(&inf->lines);
        if (curl_multi_add_handle(inf->loop->multi, inf->xfer.easy) != CURLM_OK)
            r = -ENOMEM;
    }
    if (r < 0) {
        if (!err.message[0])
            snprintf(err.message, sizeof err.message, "could not start a request");
        k8s_informer_fail(inf, r, &err);
        inf_backoff(inf, now, -1);
        return r;
    }
    if (inf->want_list && !inf->continue_token)
        inf->list_gen++; /* a new list: what it does not mention has vanished */
    inf->state = inf->want_list ? K8S_INF_LISTING : K8S_INF_WATCHING;
    if (!inf->want_list) {
        inf->stats.watches++;
        inf->watch_start_ns = now;
        inf->watch_events = 0;
    }
    return 0;
}

/* ---- finished transfers ---- */

static void inf_list_done(k8s_informer_t *inf, CURLcode code, int64_t now)
{
    k8s_error_t err;
    cJSON *page = NULL;
    bool more = false;
    long http = 0;
    int r = k8s_xfer_status(&inf->xfer, code, &http, &err);

    if (r == 0)
        r = k8s_xfer_json(&inf->xfer, &page, &err);
    if (r == 0) {
        r = k8s_informer_list_page(inf, page, &more);
        cJSON_Delete(page);
        if (r < 0)
            snprintf(err.message, sizeof err.message, "malformed list response");
    }
    if (r == 0) {
        inf->next_ns = now; /* the next page, or the watch */
        return;
    }
    bool had_continue = inf->continue_token != NULL;
    free(inf->continue_token);
    inf->continue_token = NULL;
    inf->want_list = true;
    /* Expired (an old continue token or version) or "too large a version" (504): list again
     * at once with a consistent read, as client-go does. */
    if ((r == -ENODATA || (http == 504 && inf->list_rv == K8S_LIST_RV_LAST)) &&
        (had_continue || inf->list_rv != K8S_LIST_RV_CONSISTENT)) {
        inf->list_rv = K8S_LIST_RV_CONSISTENT;
        inf->stats.relists_gone++;
        inf->next_ns = now;
        return;
    }
    k8s_informer_fail(inf, r, &err);
    inf_backoff(inf, now, err.retry_after_s);
}

/* A stream we cut on purpose (an ERROR event, a bad or oversized line). */
static void inf_watch_aborted(k8s_informer_t *inf, int64_t now)
{
    k8s_error_t err;

    inf->want_list = true;
    if (inf->abort_gone) {
        inf->list_rv = K8S_LIST_RV_CONSISTENT;
        inf->stats.relists_gone++;
        inf->next_ns = now;
        return;
    }
    if (!inf->abort_relist) { /* the splitter or parser stopped it */
        k8s_error_clear(&err);
        snprintf(err.message, sizeof err.message, "%s",
                 inf->xfer.line_error == -EMSGSIZE ? "watch event longer than 16 MiB"
                                                   : "malformed watch event");
        k8s_informer_fail(inf, inf->xfer.line_error < 0 ? inf->xfer.line_error : -EBADMSG, &err);
    }
    inf_backoff(inf, now, -1);
}

static void inf_watch_done(k8s_informer_t *inf, CURLcode code, int64_t now)
{
    k8s_error_t err;
    long http = 0;
    int r;

    if (now - inf->watch_start_ns >= K8S_HEALTHY_WATCH || inf->watch_events > 0)
        inf->backoff_step = 0;
    if (inf->abort_gone || inf->abort_relist || inf->xfer.line_error) {
        inf_watch_aborted(inf, now);
        return;
    }
    r = k8s_xfer_status(&inf->xfer, code, &http, &err);
    if (r == 0 && (now - inf->watch_start_ns >= K8S_SHORT_WATCH || inf->watch_events > 0)) {
        inf->next_ns = now; /* the server's timeout: resume without a relist */
        return;
    }
    if (r == 0) {
        r = -EPIPE;
        snprintf(err.message, sizeof err.message, "watch closed at once with no event");
    }
    if (http == 410) {
        inf->want_list = true;
        inf->list_rv = K8S_LIST_RV_CONSISTENT;
        inf->stats.relists_gone++;
        inf->next_ns = now;
        return;
    }
    k8s_informer_fail(inf, r, &err);
    /* Transport trouble, throttling and server errors keep the resume point; anything else
     * (403, 404: the CRD went away) starts over with a list. */
    if (!(http == 0 || http == 200 || http == 429 || http >= 500))
        inf->want_list = true;
    inf_backoff(inf, now, err.retry_after_s);
}

void k8s_informer_finish(k8s_informer_t *inf, CURLcode code, int64_t now)
{
    k8s_inf_state_t was = inf->state;

    inf->state = K8S_INF_IDLE;
    if (was == K8S_INF_LISTING)
        inf_list_done(inf, code, now);
    else if (was == K8S_INF_WATCHING)
        inf_watch_done(inf, code, now);
    inf->abort_gone = inf->abort_relist = false;
    inf->xfer.line_error = 0;
    inf->xfer.lines = NULL;
    if (inf->xfer.cap > (1u << 20)) { /* do not pin a large page's buffer */
        free(inf->xfer.body);
        inf->xfer.body = NULL;
        inf->xfer.len = inf->xfer.cap = 0;
    }
}

/* ---- informer lifecycle ---- */

static char *inf_strdup(const char *s, bool *ok)
{
    char *d;

    if (!s || !*s)
        return NULL;
    d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

k8s_informer_t *k8s_informer_new(k8s_loop_t *loop, const k8s_informer_opts_t *opts)
{
    k8s_ref_t ref = {opts->gvr, opts->ns, NULL, NULL};
    char path[K8S_PATH_MAX];
    k8s_informer_t *inf;
    bool ok = true;

    if (k8s_path_build(&ref, path, sizeof path) < 0 || !(inf = calloc(1, sizeof *inf)))
        return NULL;
    inf->loop = loop;
    inf->ops = opts->ops;
    inf->userdata = opts->userdata;
    inf->page_limit = opts->page_limit ? opts->page_limit : K8S_PAGE_LIMIT;
    inf->want_list = true;
    inf->list_rv = K8S_LIST_RV_ANY;
    inf->next_ns = k8s_now_ns();
    inf->xfer.retry_after_s = -1;
    k8s_store_init(&inf->store);
    k8s_lines_init(&inf->lines, K8S_WATCH_LINE_MAX);
    inf->gvr.group = inf_strdup(opts->gvr.group, &ok);
    inf->gvr.version = inf_strdup(opts->gvr.version, &ok);
    inf->gvr.resource = inf_strdup(opts->gvr.resource, &ok);
    inf->ns = inf_strdup(opts->ns, &ok);
    inf->label_selector = inf_strdup(opts->label_selector, &ok);
    inf->field_selector = inf_strdup(opts->field_selector, &ok);
    if (!ok) {
        k8s_informer_destroy(inf);
        return NULL;
    }
    inf->next = loop->informers;
    loop->informers = inf;
    return inf;
}

void k8s_informer_destroy(k8s_informer_t *inf)
{
    if (inf->state != K8S_INF_IDLE && inf->xfer.easy)
        curl_multi_remove_handle(inf->loop->multi, inf->xfer.easy);
    k8s_xfer_done(&inf->xfer);
    k8s_lines_done(&inf->lines);
    k8s_store_done(&inf->store);
    free(inf->continue_token);
    free((char *)inf->gvr.group);
    free((char *)inf->gvr.version);
    free((char *)inf->gvr.resource);
    free(inf->ns);
    free(inf->label_selector);
    free(inf->field_selector);
    free(inf);
}

static void loop_unlink(k8s_loop_t *loop, k8s_informer_t *inf)
{
    for (k8s_informer_t **p = &loop->informers; *p; p = &(*p)->next)
        if (*p == inf) {
            *p = inf->next;
            return;
        }
}

k8s_informer_t *k8s_informer_free(k8s_informer_t *inf)
{
    if (!inf)
        return NULL;
    if (inf->loop->dispatching) {
        inf->dead = true;
        return NULL;
    }
    loop_unlink(inf->loop, inf);
    k8s_informer_destroy(inf);
    return NULL;
}

bool k8s_informer_synced(const k8s_informer_t *inf)
{
    return inf->synced;
}

const char *k8s_informer_resource_version(const k8s_informer_t *inf)
{
    return inf->rv;
}

void k8s_informer_relist(k8s_informer_t *inf)
{
    inf->relist_requested = true;
}

void k8s_informer_stats(const k8s_informer_t *inf, k8s_informer_stats_t *ret_stats)
{
    *ret_stats = inf->stats;
}

/* ---- the loop ---- */

k8s_loop_t *k8s_loop_new(k8s_client_t *client)
{
    k8s_loop_t *loop = calloc(1, sizeof *loop);
    k8s_fdset_t before;

    if (!loop)
        return NULL;
    loop->client = client;
    k8s_fds_snapshot(&before);
    loop->multi = curl_multi_init();
    k8s_fds_cloexec_new(&before);
    if (!loop->multi) {
        free(loop);
        return NULL;
    }
    k8s_rng_seed(&loop->rng);
    return loop;
}

k8s_loop_t *k8s_loop_free(k8s_loop_t *loop)
{
    if (!loop)
        return NULL;
    while (loop->informers) {
        k8s_informer_t *inf = loop->informers;
        loop->informers = inf->next;
        k8s_informer_destroy(inf);
    }
    curl_multi_cleanup(loop->multi);
    free(loop);
    return NULL;
}

int k8s_loop_wakeup(k8s_loop_t *loop)
{
    return curl_multi_wakeup(loop->multi) == CURLM_OK ? 0 : -EIO;
}

/* Finished transfers -> their informers. */
static void loop_collect(k8s_loop_t *loop)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(loop->multi, &left)) != NULL) {
        CURL *easy = m->easy_handle;
        CURLcode code = m->data.result;
        char *priv = NULL;
        k8s_informer_t *inf;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        curl_multi_remove_handle(loop->multi, easy); /* m is invalid from here on */
        inf = (k8s_informer_t *)priv;
        if (!inf)
            continue;
        if (inf->dead)
            inf->state = K8S_INF_IDLE;
        else
            k8s_informer_finish(inf, code, k8s_now_ns());
    }
}

/* Relist requests and requests that are due; returns the earliest deadline. Callbacks may run
 * (on_error), so it runs with `dispatching` set and destroys nothing. */
static int64_t loop_tend(k8s_loop_t *loop, int64_t now)
{
    int64_t next = INT64_MAX;

    loop->dispatching = true;
    for (k8s_informer_t *inf = loop->informers; inf; inf = inf->next) {
        if (inf->dead)
            continue;
        if (inf->relist_requested && inf->state != K8S_INF_LISTING) {
            if (inf->state == K8S_INF_WATCHING)
                curl_multi_remove_handle(loop->multi, inf->xfer.easy);
            inf->state = K8S_INF_IDLE;
            inf->relist_requested = false;
            inf->reserved = false;
            inf->want_list = true;
            inf->next_ns = now;
        }
        if (inf->state == K8S_INF_IDLE && inf->next_ns <= now)
            (void)k8s_informer_start(inf, now);
        if (inf->state == K8S_INF_IDLE && !inf->dead && inf->next_ns < next)
            next = inf->next_ns;
    }
    loop->dispatching = false;
    return next;
}

/* Destroys the informers freed from callbacks. Runs no callback. */
static void loop_reap(k8s_loop_t *loop)
{
    for (k8s_informer_t **p = &loop->informers; *p;) {
        k8s_informer_t *inf = *p;
        if (inf->dead) {
            *p = inf->next;
            k8s_informer_destroy(inf);
        } else {
            p = &inf->next;
        }
    }
}

static int loop_wait_ms(int timeout_ms, int64_t next, int64_t now)
{
    int64_t ms;

    if (next == INT64_MAX)
        return timeout_ms < 0 ? INT_MAX : timeout_ms;
    ms = next <= now ? 0 : (next - now + K8S_NS_PER_MS - 1) / K8S_NS_PER_MS;
    if (timeout_ms >= 0 && ms > timeout_ms)
        ms = timeout_ms;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

static void loop_fds_to_curl(const struct pollfd *extra, struct curl_waitfd *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        w[i].fd = extra[i].fd;
        w[i].events = (short)(((extra[i].events & POLLIN) ? CURL_WAIT_POLLIN : 0) |
                              ((extra[i].events & POLLPRI) ? CURL_WAIT_POLLPRI : 0) |
                              ((extra[i].events & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
        w[i].revents = 0;
    }
}

static void loop_fds_from_curl(struct pollfd *extra, const struct curl_waitfd *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        extra[i].revents = (short)(((w[i].revents & CURL_WAIT_POLLIN) ? POLLIN : 0) |
                                   ((w[i].revents & CURL_WAIT_POLLPRI) ? POLLPRI : 0) |
                                   ((w[i].revents & CURL_WAIT_POLLOUT) ? POLLOUT : 0));
}

int k8s_loop_run_once(k8s_loop_t *loop, struct pollfd *extra, unsigned n_extra, int timeout_ms)
{
    struct curl_waitfd w[K8S_EXTRA_FDS_MAX];
    int64_t next;
    int running = 0;
    CURLMcode mc;

    if (n_extra > K8S_EXTRA_FDS_MAX || loop->dispatching)
        return -EINVAL;
    loop_fds_to_curl(extra, w, n_extra);
    next = loop_tend(loop, k8s_now_ns());
    loop_reap(loop);
    mc = curl_multi_poll(loop->multi, w, n_extra, loop_wait_ms(timeout_ms, next, k8s_now_ns()),
                         NULL);
    loop_fds_from_curl(extra, w, n_extra);
    if (mc != CURLM_OK)
        return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
    loop->dispatching = true;
    mc = curl_multi_perform(loop->multi, &running);
    loop_collect(loop);
    loop->dispatching = false;
    (void)loop_tend(loop, k8s_now_ns());
    loop_reap(loop);
    return mc == CURLM_OK ? 0 : -EIO;
}
