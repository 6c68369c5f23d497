/*
 * k8s_client: the client handle and one HTTP exchange with the API server (k8s_xfer_t), shared
 * by synchronous requests (k8s_rest.c) and informers (k8s_informer.c).
 *
 * Runs in every role that talks to the API, on that role's one Kubernetes thread.
 *
 * Invariants:
 * - TLS settings and credentials come only from the kubeconfig; inline certificates and keys go
 *   to libcurl as blobs (copied by libcurl, never written to disk).
 * - The bearer token is fetched for every request (kubeconfig_token_get notices rotation), put
 *   in exactly one header, and wiped from memory when the header list is freed. Nothing here
 *   enables libcurl's verbose output, which would print it.
 * - Redirects are not followed: a redirect could carry the token to another host.
 * - A response body is bounded (max_response); a body past the bound aborts the transfer.
 */
#include "common/k8s_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "common/json.h"

#ifndef CKEDA_VERSION
#define CKEDA_VERSION "dev"
#endif

#define K8S_CONNECT_TIMEOUT_MS 10000L

void k8s_fds_snapshot(k8s_fdset_t *set)
{
    memset(set, 0, sizeof *set);
    for (int fd = 0; fd < K8S_FD_TRACK_MAX; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            set->bits[fd / 64] |= 1ULL << (fd % 64);
}

void k8s_fds_cloexec_new(const k8s_fdset_t *before)
{
    for (int fd = 0; fd < K8S_FD_TRACK_MAX; fd++) {
        int flags;
        if (before->bits[fd / 64] & (1ULL << (fd % 64)))
            continue;
        flags = fcntl(fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC))
            (void)fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

/* libcurl's sockets, opened close-on-exec like every other descriptor of ckeda. */
static curl_socket_t k8s_socket_open(void *clientp, curlsocktype purpose,
                                     struct curl_sockaddr *addr)
{
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

const char *k8s_client_namespace(const k8s_client_t *c)
{
    return c->config->ns ? c->config->ns : "default";
}

k8s_client_t *k8s_client_new(kubeconfig_t *config, const k8s_client_opts_t *opts)
{
    k8s_client_opts_t none = {0};
    k8s_client_t *c;

    if (!opts)
        opts = &none;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    c = calloc(1, sizeof *c);
    if (!c) {
        curl_global_cleanup();
        return NULL;
    }
    c->config = config;
    c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : K8S_DEFAULT_TIMEOUT_MS;
    c->max_response = opts->max_response > 0 ? opts->max_response : K8S_DEFAULT_MAX_RESPONSE;
    c->max_retries = opts->max_retries == 0  ? K8S_DEFAULT_MAX_RETRIES
                     : opts->max_retries < 0 ? 0
                                             : opts->max_retries;
    c->user_agent = strdup(opts->user_agent ? opts->user_agent : "ckeda/" CKEDA_VERSION);
    c->sync.retry_after_s = -1;
    k8s_ratelimit_init(&c->rl, opts->qps, opts->burst, k8s_now_ns());
    if (!c->user_agent)
        return k8s_client_free(c);
    return c;
}

k8s_client_t *k8s_client_free(k8s_client_t *c)
{
    if (!c)
        return NULL;
    k8s_xfer_done(&c->sync);
    k8s_discovery_invalidate(c);
    free(c->user_agent);
    free(c);
    curl_global_cleanup();
    return NULL;
}

/* Frees a header list after wiping it: one of its strings is the Authorization header. */
static void k8s_headers_free(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p; p = p->next)
        explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(h);
}

void k8s_xfer_done(k8s_xfer_t *x)
{
    if (x->easy)
        curl_easy_cleanup(x->easy);
    x->easy = NULL;
    k8s_headers_free(x->headers);
    x->headers = NULL;
    free(x->body);
    x->body = NULL;
    x->len = x->cap = 0;
}

static size_t k8s_xfer_on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    k8s_xfer_t *x = userdata;
    size_t n = size * nmemb;
    char value[64];

    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        x->retry_after_s = -1; /* a new response (after a 100 Continue, say) */
    } else if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        size_t len = n - 12 < sizeof value - 1 ? n - 12 : sizeof value - 1;
        memcpy(value, data + 12, len);
        value[len] = '\0';
        x->retry_after_s = k8s_retry_after_parse(value, time(NULL));
    }
    return n;
}

static int k8s_xfer_append(k8s_xfer_t *x, const char *data, size_t n)
{
    if (n > x->max - x->len) {
        x->overflow = true;
        return -EMSGSIZE;
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 16384;
        while (cap < x->len + n + 1)
            cap *= 2;
        char *body = realloc(x->body, cap);
        if (!body)
            return -ENOMEM;
        x->body = body;
        x->cap = cap;
    }
    memcpy(x->body + x->len, data, n);
    x->len += n;
    x->body[x->len] = '\0';
    return 0;
}

static size_t k8s_xfer_on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    k8s_xfer_t *x = userdata;
    size_t n = size * nmemb;
    long code = 0;

    if (x->lines) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code == 200) {
            int r = k8s_lines_feed(x->lines, data, n, x->on_line, x->line_userdata);
            if (r != 0) {
                x->line_error = r;
                return n == 0 ? 1 : 0; /* anything but n aborts the transfer */
            }
            return n;
        }
    }
    return k8s_xfer_append(x, data, n) < 0 ? 0 : n;
}

static int k8s_xfer_headers(k8s_client_t *c, k8s_xfer_t *x, k8s_method_t method, bool body,
                            k8s_error_t *err)
{
    const char *lines[4], *token = NULL;
    struct curl_slist *h = NULL;
    char *auth = NULL;
    size_t n = 0;
    errtext_t e;
    int r = 0;

    if (kubeconfig_token_get(c->config, &token, &e) < 0) {
        if (err)
            snprintf(err->message, sizeof err->message, "%s", e.text);
        return -EACCES;
    }
    lines[n++] = "Accept: application/json";
    if (body && method == K8S_PATCH_MERGE)
        lines[n++] = "Content-Type: application/merge-patch+json";
    else if (body && method == K8S_PATCH_JSON)
        lines[n++] = "Content-Type: application/json-patch+json";
    else if (body)
        lines[n++] = "Content-Type: application/json";
    lines[n++] = "Expect:"; /* no 100-continue round trip before a body */
    if (token && asprintf(&auth, "Authorization: Bearer %s", token) < 0)
        return -ENOMEM;
    if (auth)
        lines[n++] = auth;
    for (size_t i = 0; i < n && r == 0; i++) {
        struct curl_slist *t = curl_slist_append(h, lines[i]);
        if (t)
            h = t;
        else
            r = -ENOMEM;
    }
    if (auth) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    if (r < 0) {
        k8s_headers_free(h);
        return r;
    }
    x->headers = h;
    return 0;
}

/* CA, client certificate and key: a file path or an in-memory blob. */
static void k8s_xfer_tls(const kubeconfig_t *cfg, CURL *e)
{
    struct curl_blob blob = {.flags = CURL_BLOB_COPY};

    if (cfg->insecure_skip_tls_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    /* The cluster's CA, when given, is the only one trusted (as in client-go): libcurl's
     * built-in bundle and directory are switched off. */
    if (cfg->ca.data) {
        blob.data = cfg->ca.data;
        blob.len = cfg->ca.len;
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
        curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    } else if (cfg->ca.path) {
        curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca.path);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
    if (cfg->client_cert.data) {
        blob.data = cfg->client_cert.data;
        blob.len = cfg->client_cert.len;
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &blob);
    } else if (cfg->client_cert.path) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, cfg->client_cert.path);
    }
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    if (cfg->client_key.data) {
        blob.data = cfg->client_key.data;
        blob.len = cfg->client_key.len;
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &blob);
    } else if (cfg->client_key.path) {
        curl_easy_setopt(e, CURLOPT_SSLKEY, cfg->client_key.path);
    }
    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    if (cfg->proxy_url)
        curl_easy_setopt(e, CURLOPT_PROXY, cfg->proxy_url);
}

static void k8s_xfer_method(CURL *e, k8s_method_t method, const char *body, size_t body_len,
                            bool sensitive)
{
    static const char *const names[] = {
        [K8S_GET] = "GET",           [K8S_POST] = "POST",        [K8S_PUT] = "PUT",
        [K8S_PATCH_MERGE] = "PATCH", [K8S_PATCH_JSON] = "PATCH", [K8S_DELETE] = "DELETE"};

    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        /* A copy would outlive the call in memory nobody zeroes. */
        curl_easy_setopt(e, sensitive ? CURLOPT_POSTFIELDS : CURLOPT_COPYPOSTFIELDS, body);
    }
    if (method != K8S_GET && method != K8S_POST)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, names[method]);
    else if (method == K8S_POST && !body)
        curl_easy_setopt(e, CURLOPT_POST, 1L);
}

int k8s_xfer_prepare(k8s_client_t *c, k8s_xfer_t *x, k8s_method_t method, const char *url,
                     const char *body, size_t body_len, long timeout_ms, k8s_error_t *err)
{
    CURL *e;
    int r;

    if (!x->easy && !(x->easy = curl_easy_init()))
        return -ENOMEM;
    e = x->easy;
    curl_easy_reset(e); /* keeps the connection, DNS and TLS session caches */
    k8s_headers_free(x->headers);
    x->headers = NULL;
    x->len = 0;
    x->max = c->max_response;
    x->overflow = false;
    x->retry_after_s = -1;
    x->line_error = 0;
    x->errbuf[0] = '\0';
    if ((r = k8s_xfer_headers(c, x, method, body != NULL, err)) < 0)
        return r;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, k8s_xfer_on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, k8s_xfer_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, K8S_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    /* A peer that vanished without a FIN is noticed on a quiet watch. */
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, k8s_socket_open);
    k8s_xfer_tls(c->config, e);
    k8s_xfer_method(e, method, body, body_len, x->sensitive);
    return 0;
}

int k8s_xfer_status(k8s_xfer_t *x, CURLcode code, long *ret_http, k8s_error_t *err)
{
    k8s_error_t local;
    long http = 0;

    if (!err)
        err = &local;
    k8s_error_clear(err);
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &http);
    *ret_http = http;
    if (code != CURLE_OK) {
        if (x->overflow) {
            err->status = http;
            snprintf(err->message, sizeof err->message, "response larger than %zu bytes", x->max);
            return -EMSGSIZE;
        }
        return k8s_curl_errno(code, x->errbuf, err);
    }
    if (http >= 200 && http < 300)
        return 0;
    k8s_status_parse(http, x->body, x->len, err);
    err->retry_after_s = x->retry_after_s;
    return k8s_status_errno(http, err->reason);
}

int k8s_xfer_json(k8s_xfer_t *x, cJSON **ret_obj, k8s_error_t *err)
{
    cJSON *obj = NULL;
    errtext_t e;
    int r;

    if (!ret_obj)
        return 0;
    if (x->len == 0) {
        obj = cJSON_CreateObject(); /* a 2xx may have an empty body */
        if (!obj)
            return -ENOMEM;
        *ret_obj = obj;
        return 0;
    }
    r = jsonu_parse(x->body, x->len, &obj, &e);
    if (r < 0) {
        if (err)
            snprintf(err->message, sizeof err->message, "response: %.480s", e.text);
        return r;
    }
    *ret_obj = obj;
    return 0;
}
