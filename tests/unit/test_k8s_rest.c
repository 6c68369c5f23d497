/*
 * Unit tests of synchronous requests (common/k8s_rest.c, k8s_client.c) and of the informer's
 * transfer path, against FAKE_SERVER: a scripted plain-HTTP responder on 127.0.0.1 in a thread
 * of this test. It is a fake, and named so, because a real kube-apiserver cannot be made to
 * answer 429 with Retry-After, 401 once, an oversized body or a 17 MiB watch event on demand;
 * everything a real server can do is covered by tests/e2e/test_k8s_client.py.
 *
 * Covers: Retry-After retries and their limits, K8S_REQ_NO_RETRY, a 401 that re-reads a
 * rotated token, the request line, headers and bodies sent per method, the response size
 * bound, malformed JSON, the token bucket with and without K8S_REQ_NO_RATE_LIMIT, pagination
 * and an expired continue token, close-on-exec descriptors, and an oversized watch event.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/json.h"
#include "common/k8s.h"
#include "common/k8s_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define FAKE_MAX 16

typedef struct fake_response {
    int status;
    const char *headers; /* extra header lines, each ending "\r\n" */
    const char *body;
    size_t body_len; /* 0: strlen(body) */
} fake_response_t;

typedef struct fake_server {
    int listen_fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock;
    fake_response_t script[FAKE_MAX];
    size_t nscript;
    size_t served;
    char requests[FAKE_MAX][4096]; /* request line, headers and body, truncated */
    bool stop;
} fake_server_t;

typedef struct fixture {
    fake_server_t fake;
    char dir[64];
    char token_path[128];
    kubeconfig_t *cfg;
    k8s_client_t *client;
} fixture_t;

static bool fake_stopping(fake_server_t *f)
{
    pthread_mutex_lock(&f->lock);
    bool stop = f->stop;
    pthread_mutex_unlock(&f->lock);
    return stop;
}

/* Reads one request (headers and a Content-Length body) into buf. 0 at EOF or on stop. */
static size_t fake_read_request(fake_server_t *f, int fd, char *buf, size_t cap)
{
    size_t len = 0, need = 0;
    char *end = NULL;

    while (len < cap - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (fake_stopping(f))
            return 0;
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            return 0;
        len += (size_t)n;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            const char *cl = strcasestr(buf, "Content-Length:");
            need = (size_t)(end + 4 - buf) + (cl && cl < end ? (size_t)atol(cl + 15) : 0);
        }
        if (end && len >= need)
            return len;
    }
    return len;
}

static void fake_send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the client went away (it may abort on purpose) */
        p += w;
        n -= (size_t)w;
    }
}

static void fake_respond(fake_server_t *f, int fd, const char *request)
{
    fake_response_t r = {500, "", "{}", 0};
    char head[1024];
    size_t blen;

    pthread_mutex_lock(&f->lock);
    if (f->served < FAKE_MAX) {
        size_t n = strnlen(request, sizeof f->requests[0] - 1);
        memcpy(f->requests[f->served], request, n);
        f->requests[f->served][n] = '\0';
    }
    if (f->served < f->nscript)
        r = f->script[f->served];
    f->served++;
    pthread_mutex_unlock(&f->lock);
    blen = r.body_len ? r.body_len : strlen(r.body);
    snprintf(head, sizeof head,
             "HTTP/1.1 %d FAKE\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
             r.status, blen, r.headers ? r.headers : "");
    fake_send_all(fd, head, strlen(head));
    fake_send_all(fd, r.body, blen);
}

static void *fake_main(void *arg)
{
    fake_server_t *f = arg;
    static char buf[1 << 16];

    for (;;) {
        struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
        if (fake_stopping(f))
            return NULL;
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        while (fake_read_request(f, fd, buf, sizeof buf) > 0) /* keep-alive: many per connection */
            fake_respond(f, fd, buf);
        close(fd);
    }
}

static void fake_start(fake_server_t *f)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;

    f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->listen_fd >= 0);
    assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f->listen_fd, 16), 0);
    assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&a, &alen), 0);
    f->port = ntohs(a.sin_port);
    pthread_mutex_init(&f->lock, NULL);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(fake_server_t *f)
{
    pthread_mutex_lock(&f->lock);
    f->stop = true;
    pthread_mutex_unlock(&f->lock);
    shutdown(f->listen_fd, SHUT_RDWR);
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
    pthread_mutex_destroy(&f->lock);
}

static void fake_script(fake_server_t *f, const fake_response_t *r, size_t n)
{
    pthread_mutex_lock(&f->lock);
    memcpy(f->script, r, n * sizeof *r);
    f->nscript = n;
    f->served = 0;
    pthread_mutex_unlock(&f->lock);
}

static size_t fake_served(fake_server_t *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = f->served;
    pthread_mutex_unlock(&f->lock);
    return n;
}

static void write_token(fixture_t *fx, const char *token)
{
    FILE *f = fopen(fx->token_path, "we");

    assert_non_null(f);
    fputs(token, f);
    fclose(f);
}

static k8s_client_t *fixture_client(fixture_t *fx, const k8s_client_opts_t *opts)
{
    k8s_client_free(fx->client);
    fx->client = k8s_client_new(fx->cfg, opts);
    assert_non_null(fx->client);
    return fx->client;
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    char path[160];
    FILE *f;

    snprintf(fx->dir, sizeof fx->dir, "/tmp/ckeda-test-rest-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->token_path, sizeof fx->token_path, "%s/token", fx->dir);
    write_token(fx, "old-tok\n");
    fake_start(&fx->fake);
    snprintf(path, sizeof path, "%s/kubeconfig", fx->dir);
    f = fopen(path, "we");
    fprintf(f,
            "clusters: [{name: c, cluster: {server: \"http://127.0.0.1:%d\"}}]\n"
            "users: [{name: u, user: {tokenFile: token}}]\n"
            "contexts: [{name: x, context: {cluster: c, user: u, namespace: team}}]\n"
            "current-context: x\n",
            fx->fake.port);
    fclose(f);
    if (kubeconfig_load(path, NULL, &fx->cfg, NULL) < 0)
        return -1;
    unlink(path);
    fixture_client(fx, NULL);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;

    k8s_client_free(fx->client);
    kubeconfig_free(fx->cfg);
    fake_stop(&fx->fake);
    unlink(fx->token_path);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static const char cm_body[] = "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}";
static const char busy_body[] = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"busy\","
                                "\"reason\":\"TooManyRequests\",\"code\":429}";
static const k8s_ref_t cm_ref = {K8S_GVR_CONFIGMAPS, "team", "x", NULL};

/* Proves a 429 with Retry-After is waited out and retried, transparently to the caller. */
static void test_k8s_request_retry_after_429(void **state)
{
    fixture_t *fx = *state;
    const fake_response_t script[] = {{429, "Retry-After: 1\r\n", busy_body, 0},
                                      {200, NULL, cm_body, 0}};
    cJSON *obj = NULL;
    k8s_error_t err;
    int64_t t0 = k8s_now_ns();

    fake_script(&fx->fake, script, 2);
    assert_int_equal(k8s_get(fx->client, &cm_ref, &obj, &err), 0);
    assert_true(k8s_now_ns() - t0 >= 900 * K8S_NS_PER_MS);
    assert_int_equal(fake_served(&fx->fake), 2);
    assert_string_equal(jsonu_lookup(obj, "metadata.name")->valuestring, "x");
    cJSON_Delete(obj);
}

/* Proves K8S_REQ_NO_RETRY returns the 429 at once, with its Retry-After. */
static void test_k8s_request_no_retry_flag(void **state)
{
    fixture_t *fx = *state;
    const fake_response_t script[] = {{429, "Retry-After: 7\r\n", busy_body, 0}};
    k8s_request_t req = {.method = K8S_GET, .ref = &cm_ref, .flags = K8S_REQ_NO_RETRY};
    k8s_error_t err;

    fake_script(&fx->fake, script, 1);
    assert_int_equal(k8s_request(fx->client, &req, NULL, &err), -EAGAIN);
    assert_int_equal(err.status, 429);
    assert_int_equal(err.retry_after_s, 7);
    assert_string_equal(err.reason, "TooManyRequests");
    assert_string_equal(err.message, "busy");
    assert_int_equal(fake_served(&fx->fake), 1);
}

/* Proves retries stop after max_retries, and a 503 without Retry-After is not retried. */
static void test_k8s_request_retries_bounded(void **state)
{
    fixture_t *fx = *state;
    const fake_response_t script[] = {{503, "Retry-After: 0\r\n", "", 0},
                                      {503, "Retry-After: 0\r\n", "", 0},
                                      {503, "Retry-After: 0\r\n", "", 0},
                                      {200, NULL, cm_body, 0}};
    k8s_client_opts_t opts = {.max_retries = 2};
    k8s_error_t err;

    fixture_client(fx, &opts);
    fake_script(&fx->fake, script, 4);
    assert_int_equal(k8s_get(fx->client, &cm_ref, NULL, &err), -EAGAIN);
    assert_int_equal(fake_served(&fx->fake), 3);
    assert_int_equal(err.status, 503);
    fake_script(&fx->fake, (fake_response_t[]){{503, NULL, "", 0}}, 1);
    assert_int_equal(k8s_get(fx->client, &cm_ref, NULL, &err), -EAGAIN);
    assert_int_equal(fake_served(&fx->fake), 1);
    assert_int_equal(err.retry_after_s, -1);
}

/* Proves that a 401 re-reads a token file that was rotated in place (same inode, size and
 * mtime, so only the 401 reveals it) and retries once with the new token. */
static void test_k8s_request_401_rereads_token(void **state)
{
    fixture_t *fx = *state;
    const fake_response_t script[] = {{401, NULL, "{\"kind\":\"Status\",\"code\":401}", 0},
                                      {200, NULL, cm_body, 0},
                                      {401, NULL, "", 0},
                                      {401, NULL, "", 0},
                                      {401, NULL, "", 0}};
    struct stat st;
    k8s_error_t err;
    int fd;

    assert_int_equal(k8s_get(fx->client, &cm_ref, NULL, NULL), -EIO); /* unscripted: 500 */
    assert_int_equal(stat(fx->token_path, &st), 0);
    fd = open(fx->token_path, O_WRONLY | O_CLOEXEC);
    assert_int_equal(write(fd, "new-tok\n", 8), 8);
    assert_int_equal(futimens(fd, (struct timespec[]){st.st_atim, st.st_mtim}), 0);
    close(fd);
    fake_script(&fx->fake, script, 5);
    assert_int_equal(k8s_get(fx->client, &cm_ref, NULL, &err), 0);
    assert_non_null(strstr(fx->fake.requests[0], "Authorization: Bearer old-tok\r\n"));
    assert_non_null(strstr(fx->fake.requests[1], "Authorization: Bearer new-tok\r\n"));
    /* A persistent 401 is retried once only. */
    assert_int_equal(k8s_get(fx->client, &cm_ref, NULL, &err), -EACCES);
    assert_int_equal(fake_served(&fx->fake), 4);
}

/* Proves what goes on the wire per method: request line, content type, body, credentials. */
static void test_k8s_request_wire_format(void **state)
{
    fixture_t *fx = *state;
    const fake_response_t ok[] = {{200, NULL, cm_body, 0}, {201, NULL, cm_body, 0},
                                  {200, NULL, cm_body, 0}, {200, NULL, cm_body, 0},
                                  {200, NULL, cm_body, 0}, {200, NULL, "", 0}};
    k8s_ref_t scale = {K8S_GVR_DEPLOYMENTS, "team", "web", "scale"};
    k8s_ref_t coll = {K8S_GVR_CONFIGMAPS, "team", NULL, NULL};
    cJSON *obj = cJSON_Parse(cm_body), *got = NULL;
    const char *const *r;

    fake_script(&fx->fake, ok, 6);
    assert_int_equal(
        k8s_patch(fx->client, &scale, K8S_PATCH_MERGE, "{\"spec\":{\"replicas\":3}}", NULL, NULL),
        0);
    assert_int_equal(k8s_create(fx->client, &coll, obj, &got, NULL), 0);
    cJSON_Delete(got);
    assert_int_equal(k8s_update(fx->client, &cm_ref, obj, NULL, NULL), 0);
    assert_int_equal(k8s_patch(fx->client, &cm_ref, K8S_PATCH_JSON, "[]", NULL, NULL), 0);
    assert_int_equal(k8s_get_path(fx->client, "/version", NULL, NULL), 0);
    assert_int_equal(k8s_delete(fx->client, &cm_ref, NULL, NULL), 0);
    r = (const char *const[]){
        "PATCH /apis/apps/v1/namespaces/team/deployments/web/scale HTTP/1.1\r\n",
        "POST /api/v1/namespaces/team/configmaps HTTP/1.1\r\n",
        "PUT /api/v1/namespaces/team/configmaps/x HTTP/1.1\r\n",
        "PATCH /api/v1/namespaces/team/configmaps/x HTTP/1.1\r\n",
        "GET /version HTTP/1.1\r\n",
        "DELETE /api/v1/namespaces/team/configmaps/x HTTP/1.1\r\n"};
    for (int i = 0; i < 6; i++) {
        assert_true(strncmp(fx->fake.requests[i], r[i], strlen(r[i])) == 0);
        assert_non_null(strstr(fx->fake.requests[i], "Authorization: Bearer old-tok\r\n"));
        assert_non_null(strstr(fx->fake.requests[i], "Accept: application/json\r\n"));
        assert_non_null(strstr(fx->fake.requests[i], "User-Agent: ckeda/"));
    }
    assert_non_null(strstr(fx->fake.requests[0], "Content-Type: application/merge-patch+json"));
    assert_non_null(strstr(fx->fake.requests[0], "\r\n\r\n{\"spec\":{\"replicas\":3}}"));
    assert_non_null(strstr(fx->fake.requests[1], "Content-Type: application/json\r\n"));
    assert_non_null(strstr(fx->fake.requests[1], "\r\n\r\n{\"kind\":\"ConfigMap\""));
    assert_non_null(strstr(fx->fake.requests[3], "Content-Type: application/json-patch+json"));
    assert_null(strstr(fx->fake.requests[4], "Content-Type"));
    cJSON_Delete(obj);
}

/* Proves a body past max_response aborts with -EMSGSIZE and malformed JSON is -EBADMSG. */
static void test_k8s_request_bad_bodies(void **state)
{
    fixture_t *fx = *state;
    k8s_client_opts_t opts = {.max_response = 1024};
    static char big[4096];
    k8s_error_t err;
    cJSON *obj = (cJSON *)0x1;

    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 1] = '}';
    fixture_client(fx, &opts);
    fake_script(&fx->fake,
                (fake_response_t[]){{200, NULL, big, sizeof big}, {200, NULL, "{not json", 0}}, 2);
    assert_int_equal(k8s_get(fx->client, &cm_ref, &obj, &err), -EMSGSIZE);
    assert_non_null(strstr(err.message, "larger than 1024 bytes"));
    assert_int_equal(k8s_get(fx->client, &cm_ref, &obj, &err), -EBADMSG);
    assert_ptr_equal(obj, (cJSON *)0x1);
}

/* Proves the token bucket delays requests past the burst, and K8S_REQ_NO_RATE_LIMIT does not
 * wait behind it (Lease renewals). */
static void test_k8s_request_rate_limited(void **state)
{
    fixture_t *fx = *state;
    k8s_client_opts_t opts = {.qps = 4, .burst = 1};
    k8s_request_t lease = {.method = K8S_GET, .ref = &cm_ref, .flags = K8S_REQ_NO_RATE_LIMIT};
    int64_t t0;

    fixture_client(fx, &opts);
    fake_script(&fx->fake, (fake_response_t[]){{200, NULL, cm_body, 0}}, 1);
    t0 = k8s_now_ns();
    assert_int_equal(k8s_get(fx->client, &cm_ref, NULL, NULL), 0);
    assert_int_equal(k8s_get(fx->client, &cm_ref, NULL, NULL), -EIO); /* unscripted: 500 */
    assert_int_equal(k8s_get(fx->client, &cm_ref, NULL, NULL), -EIO);
    assert_true(k8s_now_ns() - t0 >= 450 * K8S_NS_PER_MS); /* two waits of 250 ms */
    t0 = k8s_now_ns();
    assert_int_equal(k8s_request(fx->client, &lease, NULL, NULL), -EIO);
    assert_true(k8s_now_ns() - t0 < 200 * K8S_NS_PER_MS);
}

static int count_items(cJSON *item, void *userdata)
{
    (*(int *)userdata)++;
    return 0;
}

/* Proves k8s_list_all follows continue tokens, sends no version with them, and restarts with a
 * consistent read when a token expires (410). */
static void test_k8s_list_all_continue_and_expiry(void **state)
{
    fixture_t *fx = *state;
    const char *p1 = "{\"metadata\":{\"resourceVersion\":\"10\",\"continue\":\"c1\"},"
                     "\"items\":[{},{}]}";
    const char *p2 = "{\"metadata\":{\"resourceVersion\":\"10\"},\"items\":[{}]}";
    const char *gone = "{\"kind\":\"Status\",\"reason\":\"Expired\",\"code\":410}";
    k8s_ref_t coll = {K8S_GVR_CONFIGMAPS, "team", NULL, NULL};
    k8s_list_opts_t o = {.resource_version = "0", .limit = 2, .label_selector = "a=b"};
    char rv[16] = "untouched";
    int n = 0;

    fake_script(
        &fx->fake,
        (fake_response_t[]){
            {200, NULL, p1, 0}, {410, NULL, gone, 0}, {200, NULL, p1, 0}, {200, NULL, p2, 0}},
        4);
    assert_int_equal(k8s_list_all(fx->client, &coll, &o, count_items, &n, rv, sizeof rv, NULL), 0);
    assert_int_equal(n, 5); /* 2, then the restart: 2 + 1 */
    assert_string_equal(rv, "10");
    assert_non_null(strstr(fx->fake.requests[0],
                           "GET /api/v1/namespaces/team/configmaps?labelSelector=a%3Db&limit=2&"
                           "resourceVersion=0 HTTP/1.1"));
    assert_non_null(strstr(fx->fake.requests[1], "limit=2&continue=c1 HTTP/1.1"));
    assert_non_null(strstr(fx->fake.requests[2], "labelSelector=a%3Db&limit=2 HTTP/1.1"));
    assert_non_null(strstr(fx->fake.requests[3], "&continue=c1 HTTP/1.1"));
}

/* Proves every descriptor libcurl opened for requests and loops is close-on-exec. */
static void test_k8s_client_fds_cloexec(void **state)
{
    fixture_t *fx = *state;
    k8s_fdset_t before;
    k8s_loop_t *loop;

    k8s_fds_snapshot(&before);
    fixture_client(fx, NULL);
    fake_script(&fx->fake, (fake_response_t[]){{200, NULL, cm_body, 0}}, 1);
    assert_int_equal(k8s_get(fx->client, &cm_ref, NULL, NULL), 0);
    loop = k8s_loop_new(fx->client);
    for (int fd = 0; fd < K8S_FD_TRACK_MAX; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0 || (before.bits[fd / 64] & (1ULL << (fd % 64))))
            continue;
        if (!(flags & FD_CLOEXEC))
            fail_msg("fd %d is not close-on-exec", fd);
    }
    k8s_loop_free(loop);
}

static void on_error(k8s_informer_t *inf, int err, const k8s_error_t *detail, void *userdata)
{
    int *last = userdata;

    if (*last == 0)
        *last = err;
}

/* Proves an event longer than 16 MiB is refused with -EMSGSIZE (bounded memory) and the
 * informer backs off to a relist. */
static void test_k8s_informer_oversized_event(void **state)
{
    fixture_t *fx = *state;
    size_t big_len = K8S_WATCH_LINE_MAX + 4096;
    char *big = malloc(big_len);
    int last = 0;
    k8s_informer_opts_t o = {.gvr = K8S_GVR_CONFIGMAPS, .ns = "team", .userdata = &last};
    int64_t deadline = k8s_now_ns() + 30 * K8S_NS_PER_S;
    k8s_loop_t *loop = k8s_loop_new(fx->client);
    k8s_informer_t *inf;

    memset(big, 'x', big_len);
    o.ops.on_error = on_error;
    fake_script(&fx->fake,
                (fake_response_t[]){{200, NULL, "{\"metadata\":{\"resourceVersion\":\"5\"}}", 0},
                                    {200, NULL, big, big_len}},
                2);
    inf = k8s_informer_new(loop, &o);
    while (last == 0 && k8s_now_ns() < deadline)
        assert_int_equal(k8s_loop_run_once(loop, NULL, 0, 100), 0);
    assert_int_equal(last, -EMSGSIZE);
    assert_true(k8s_informer_synced(inf));
    assert_true(inf->want_list);
    assert_true(inf->next_ns > k8s_now_ns());
    assert_true(inf->lines.cap <= K8S_WATCH_LINE_MAX);
    assert_non_null(strstr(fx->fake.requests[1], "watch=1&allowWatchBookmarks=true&"
                                                 "resourceVersion=5&timeoutSeconds="));
    k8s_loop_free(loop);
    free(big);
}

typedef struct watch_counts {
    int events;
    int errors;
    int last_error;
    int synced;
} watch_counts_t;

static void count_event(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj, bool unknown,
                        void *userdata)
{
    ((watch_counts_t *)userdata)->events++;
}

static void count_error(k8s_informer_t *inf, int err, const k8s_error_t *detail, void *userdata)
{
    watch_counts_t *c = userdata;

    c->errors++;
    c->last_error = err;
}

static void count_synced(k8s_informer_t *inf, void *userdata)
{
    ((watch_counts_t *)userdata)->synced++;
}

static k8s_informer_t *counting_informer(k8s_loop_t *loop, watch_counts_t *c)
{
    k8s_informer_opts_t o = {.gvr = K8S_GVR_CONFIGMAPS, .ns = "team", .userdata = c};

    o.ops = (k8s_informer_ops_t){
        .on_event = count_event, .on_synced = count_synced, .on_error = count_error};
    return k8s_informer_new(loop, &o);
}

static void run_until_served(fixture_t *fx, k8s_loop_t *loop, size_t n)
{
    int64_t deadline = k8s_now_ns() + 30 * K8S_NS_PER_S;

    while (fake_served(&fx->fake) < n && k8s_now_ns() < deadline)
        assert_int_equal(k8s_loop_run_once(loop, NULL, 0, 100), 0);
    assert_true(fake_served(&fx->fake) >= n);
}

/* Proves what happens when the server ends a watch (its timeoutSeconds, normally minutes
 * away): the informer re-watches from the last version it saw (a bookmark's) without a
 * relist; a stream that ends at once with no event counts as a failure and backs off. */
static void test_k8s_informer_watch_resume_on_server_close(void **state)
{
    fixture_t *fx = *state;
    const char *events = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\","
                         "\"namespace\":\"team\",\"resourceVersion\":\"6\"}}}\n"
                         "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{"
                         "\"resourceVersion\":\"9\"}}}\n";
    watch_counts_t c = {0};
    k8s_loop_t *loop = k8s_loop_new(fx->client);
    k8s_informer_t *inf;
    int64_t t_empty;

    fake_script(&fx->fake,
                (fake_response_t[]){{200, NULL, "{\"metadata\":{\"resourceVersion\":\"5\"}}", 0},
                                    {200, NULL, events, 0},
                                    {200, NULL, "", 0},
                                    {200, NULL, "", 0}},
                4);
    inf = counting_informer(loop, &c);
    run_until_served(fx, loop, 3);
    t_empty = k8s_now_ns();
    run_until_served(fx, loop, 4);
    assert_true(k8s_now_ns() - t_empty >= 400 * K8S_NS_PER_MS); /* backed off */
    assert_int_equal(c.events, 1);
    assert_int_equal(c.synced, 1);
    assert_true(c.errors >= 1); /* the fourth, also empty, may have been handled already */
    assert_int_equal(c.last_error, -EPIPE);
    assert_non_null(strstr(fx->fake.requests[1], "resourceVersion=5&timeoutSeconds="));
    assert_non_null(strstr(fx->fake.requests[2], "watch=1&allowWatchBookmarks=true&"
                                                 "resourceVersion=9&timeoutSeconds="));
    assert_non_null(strstr(fx->fake.requests[3], "resourceVersion=9&timeoutSeconds="));
    k8s_informer_stats_t st;
    k8s_informer_stats(inf, &st);
    assert_int_equal(st.lists, 1);
    assert_true(st.watches >= 3);
    k8s_loop_free(loop);
}

/* Proves a 410 answered as an HTTP status (not an ERROR event) relists at once with a
 * consistent read, and a 403 on a list backs off and lists again. */
static void test_k8s_informer_watch_http_410_relists(void **state)
{
    fixture_t *fx = *state;
    const char *gone = "{\"kind\":\"Status\",\"reason\":\"Expired\",\"code\":410}";
    const char *page = "{\"metadata\":{\"resourceVersion\":\"5\"}}";
    watch_counts_t c = {0};
    k8s_loop_t *loop = k8s_loop_new(fx->client);

    fake_script(&fx->fake,
                (fake_response_t[]){{403, NULL, "{\"kind\":\"Status\",\"code\":403}", 0},
                                    {200, NULL, page, 0},
                                    {410, NULL, gone, 0},
                                    {200, NULL, page, 0}},
                4);
    counting_informer(loop, &c);
    run_until_served(fx, loop, 4);
    assert_int_equal(c.errors, 1);
    assert_int_equal(c.last_error, -EACCES);
    assert_non_null(strstr(fx->fake.requests[1], "limit=500&resourceVersion=0 HTTP/1.1"));
    assert_non_null(strstr(fx->fake.requests[2], "watch=1"));
    assert_non_null(strstr(fx->fake.requests[3], "configmaps?limit=500 HTTP/1.1"));
    k8s_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_k8s_request_retry_after_429, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_request_no_retry_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_request_retries_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_request_401_rereads_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_request_wire_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_request_bad_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_request_rate_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_list_all_continue_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_client_fds_cloexec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_informer_oversized_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_informer_watch_resume_on_server_close, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_k8s_informer_watch_http_410_relists, setup, teardown),
    };

    return cmocka_run_group_tests_name("k8s_rest", tests, NULL, NULL);
}
