/*
 * k8s_rest: synchronous requests on the client's own handle (kept between requests, so the
 * connection is reused). Runs on the calling role's Kubernetes thread and blocks it for the
 * request, the rate limiter's wait and any Retry-After pause.
 *
 * Retries, and only these: a 401 once after re-reading a rotated token file; a 429 or 503
 * carrying Retry-After, up to max_retries times, each pause capped at K8S_RETRY_AFTER_MAX_S.
 * Both mean the server did not act on the request, so even a POST is safe to repeat.
 */
#include "common/k8s_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

/* A body buffer larger than this is released after the request, so one large list does not
 * pin its memory for the life of the process. */
#define K8S_KEEP_BUFFER_MAX (1u << 20)
#define K8S_PATH_MAX        2048

static void k8s_sleep_ns(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / K8S_NS_PER_S, .tv_nsec = ns % K8S_NS_PER_S};

    while (ns > 0 && clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
        ;
}

/* curl_easy_perform, whose first call creates a hidden multi handle with a wakeup pipe. */
static CURLcode k8s_sync_perform(k8s_client_t *c)
{
    k8s_fdset_t before;
    CURLcode code;

    if (c->sync_used)
        return curl_easy_perform(c->sync.easy);
    k8s_fds_snapshot(&before);
    code = curl_easy_perform(c->sync.easy);
    k8s_fds_cloexec_new(&before);
    c->sync_used = true;
    return code;
}

static int k8s_request_url(k8s_client_t *c, const k8s_request_t *req, char **ret_url,
                           k8s_error_t *err)
{
    char path[K8S_PATH_MAX];
    char *url;
    int r;

    if (req->ref) {
        r = k8s_path_build(req->ref, path, sizeof path);
        if (r < 0) {
            snprintf(err->message, sizeof err->message,
                     "invalid resource reference (a name, namespace or resource that cannot be "
                     "part of a path)");
            return r;
        }
    } else if (req->path && req->path[0] == '/' && strlen(req->path) < sizeof path &&
               !strpbrk(req->path, "?#% \t\r\n")) {
        memcpy(path, req->path, strlen(req->path) + 1);
    } else {
        snprintf(err->message, sizeof err->message, "invalid request path");
        return -EINVAL;
    }
    url = k8s_url_build(c->config->server, path, req->query);
    if (!url)
        return -ENOMEM;
    *ret_url = url;
    return 0;
}

/* Whether (and how long) to wait before trying again; -1 for no retry. */
static int64_t k8s_retry_delay(k8s_client_t *c, const k8s_request_t *req, long http,
                               const k8s_error_t *err, int attempt, bool *token_retried)
{
    if (http == 401 && !*token_retried && c->config->token_file) {
        *token_retried = true;
        kubeconfig_token_invalidate(c->config);
        return 0;
    }
    if ((http != 429 && http != 503) || err->retry_after_s < 0 || (req->flags & K8S_REQ_NO_RETRY) ||
        attempt >= c->max_retries)
        return -1;
    if (err->retry_after_s == 0)
        return 100 * K8S_NS_PER_MS;
    return (int64_t)(err->retry_after_s < K8S_RETRY_AFTER_MAX_S ? err->retry_after_s
                                                                : K8S_RETRY_AFTER_MAX_S) *
           K8S_NS_PER_S;
}

int k8s_request(k8s_client_t *c, const k8s_request_t *req, cJSON **ret_obj, k8s_error_t *err)
{
    k8s_error_t local;
    bool token_retried = false;
    char *url = NULL;
    long http = 0;
    int r, attempt = 0;

    if (!err)
        err = &local;
    k8s_error_clear(err);
    if ((r = k8s_request_url(c, req, &url, err)) < 0)
        return r;
    for (;;) {
        int64_t delay = 0;
        if (!(req->flags & K8S_REQ_NO_RATE_LIMIT))
            k8s_sleep_ns(k8s_ratelimit_reserve(&c->rl, k8s_now_ns()));
        c->sync.sensitive = (req->flags & K8S_REQ_SENSITIVE) != 0;
        r = k8s_xfer_prepare(c, &c->sync, req->method, url, req->body, req->body_len,
                             req->timeout_ms > 0 ? req->timeout_ms : c->timeout_ms, err);
        if (r < 0)
            break;
        r = k8s_xfer_status(&c->sync, k8s_sync_perform(c), &http, err);
        if (r == 0) {
            r = k8s_xfer_json(&c->sync, ret_obj, err);
            break;
        }
        delay = k8s_retry_delay(c, req, http, err, attempt, &token_retried);
        if (delay < 0)
            break;
        if (http != 401)
            attempt++;
        k8s_sleep_ns(delay);
    }
    if (c->sync.sensitive) {
        if (c->sync.body)
            explicit_bzero(c->sync.body, c->sync.len);
        if (c->sync.easy) /* the body was not copied: nothing may read it after the call */
            curl_easy_setopt(c->sync.easy, CURLOPT_POSTFIELDS, NULL);
        c->sync.sensitive = false;
    }
    if (c->sync.cap > K8S_KEEP_BUFFER_MAX) {
        free(c->sync.body);
        c->sync.body = NULL;
        c->sync.len = c->sync.cap = 0;
    }
    free(url);
    return r;
}

int k8s_get(k8s_client_t *c, const k8s_ref_t *ref, cJSON **ret_obj, k8s_error_t *err)
{
    k8s_request_t req = {.method = K8S_GET, .ref = ref};

    return k8s_request(c, &req, ret_obj, err);
}

int k8s_get_path(k8s_client_t *c, const char *path, cJSON **ret_obj, k8s_error_t *err)
{
    k8s_request_t req = {.method = K8S_GET, .path = path};

    return k8s_request(c, &req, ret_obj, err);
}

/* Sends obj (serialised here) with method. */
static int k8s_send_object(k8s_client_t *c, k8s_method_t method, const k8s_ref_t *ref,
                           const cJSON *obj, cJSON **ret_obj, k8s_error_t *err)
{
    char *body = obj ? jsonu_print(obj) : NULL;
    k8s_request_t req = {
        .method = method, .ref = ref, .body = body, .body_len = body ? strlen(body) : 0};
    int r;

    if (obj && !body)
        return -ENOMEM;
    r = k8s_request(c, &req, ret_obj, err);
    free(body);
    return r;
}

int k8s_create(k8s_client_t *c, const k8s_ref_t *ref, const cJSON *obj, cJSON **ret_obj,
               k8s_error_t *err)
{
    return k8s_send_object(c, K8S_POST, ref, obj, ret_obj, err);
}

int k8s_update(k8s_client_t *c, const k8s_ref_t *ref, const cJSON *obj, cJSON **ret_obj,
               k8s_error_t *err)
{
    return k8s_send_object(c, K8S_PUT, ref, obj, ret_obj, err);
}

int k8s_delete(k8s_client_t *c, const k8s_ref_t *ref, const cJSON *options, k8s_error_t *err)
{
    return k8s_send_object(c, K8S_DELETE, ref, options, NULL, err);
}

int k8s_patch(k8s_client_t *c, const k8s_ref_t *ref, k8s_method_t method, const char *patch,
              cJSON **ret_obj, k8s_error_t *err)
{
    k8s_request_t req = {.method = method, .ref = ref, .body = patch, .body_len = strlen(patch)};

    if (method != K8S_PATCH_MERGE && method != K8S_PATCH_JSON)
        return -EINVAL;
    return k8s_request(c, &req, ret_obj, err);
}

int k8s_list(k8s_client_t *c, const k8s_ref_t *ref, const k8s_list_opts_t *opts, cJSON **ret_list,
             k8s_error_t *err)
{
    k8s_list_opts_t none = {0};
    k8s_query_t q = {0};
    int r;

    if (!opts)
        opts = &none;
    if (ref->name)
        return -EINVAL;
    k8s_query_add(&q, "labelSelector", opts->label_selector);
    k8s_query_add(&q, "fieldSelector", opts->field_selector);
    k8s_query_add_uint(&q, "limit", opts->limit ? opts->limit : K8S_PAGE_LIMIT);
    /* The API refuses a resourceVersion together with a continue token. */
    if (opts->continue_token && *opts->continue_token)
        k8s_query_add(&q, "continue", opts->continue_token);
    else
        k8s_query_add(&q, "resourceVersion", opts->resource_version);
    r = q.error;
    if (r == 0) {
        k8s_request_t req = {.method = K8S_GET, .ref = ref, .query = q.buf};
        r = k8s_request(c, &req, ret_list, err);
    }
    k8s_query_done(&q);
    return r;
}

/* Hands each item of one page to fn, detaching it first so the page shrinks as it goes. */
static int k8s_list_items(cJSON *page, k8s_item_fn fn, void *userdata)
{
    cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items");
    cJSON *item;
    int r = 0;

    if (!items || cJSON_IsNull(items))
        return 0;
    if (!cJSON_IsArray(items))
        return -EBADMSG;
    while (r == 0 && (item = cJSON_DetachItemFromArray(items, 0)) != NULL) {
        r = fn(item, userdata);
        cJSON_Delete(item);
    }
    return r;
}

int k8s_list_all(k8s_client_t *c, const k8s_ref_t *ref, const k8s_list_opts_t *opts, k8s_item_fn fn,
                 void *userdata, char *ret_rv, size_t size, k8s_error_t *err)
{
    k8s_list_opts_t o = opts ? *opts : (k8s_list_opts_t){0};
    char *cont = NULL, list_rv[256] = "";
    int r, restarts = 0;

    o.continue_token = NULL;
    for (;;) {
        cJSON *page = NULL;
        const char *next = NULL, *rv = NULL;
        r = k8s_list(c, ref, &o, &page, err);
        if (r == -ENODATA && o.continue_token && restarts++ < 3) {
            /* The continue token expired: start over with a consistent read. */
            o.continue_token = NULL;
            o.resource_version = NULL;
            continue;
        }
        if (r < 0)
            break;
        r = k8s_list_items(page, fn, userdata);
        /* Every page carries the snapshot's version; the first page's is kept. */
        if (r == 0 && !o.continue_token &&
            jsonu_get_string(page, "metadata.resourceVersion", sizeof list_rv - 1, &rv, NULL) == 0)
            memcpy(list_rv, rv, strlen(rv) + 1);
        if (r == 0 && jsonu_get_string(page, "metadata.continue", 0, &next, NULL) == 0 && *next) {
            free(cont);
            cont = strdup(next);
            r = cont ? 0 : -ENOMEM;
            o.continue_token = cont;
        } else {
            o.continue_token = NULL;
        }
        cJSON_Delete(page);
        if (r != 0 || !o.continue_token)
            break;
    }
    free(cont);
    if (r == 0 && ret_rv && size > 0) {
        if (strlen(list_rv) >= size)
            return -ENAMETOOLONG;
        memcpy(ret_rv, list_rv, strlen(list_rv) + 1);
    }
    return r;
}
