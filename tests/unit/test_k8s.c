/*
 * Unit tests of common/k8s's pure parts: REST paths and query encoding, Status error parsing
 * from recorded API responses (tests/data/k8s/status-*.json), the errno mapping, Retry-After,
 * the token bucket and backoff on an injected clock, SipHash and the informer key store, and a
 * request to a closed local port (transport errors). No API server is needed.
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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char data_dir[PATH_MAX];

static char *read_data(const char *name, size_t *ret_len)
{
    char path[PATH_MAX * 2];
    char *buf;
    long len;
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", data_dir, name);
    f = fopen(path, "re");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    *ret_len = (size_t)len;
    return buf;
}

/* ---- paths ---- */

static void expect_path(k8s_ref_t ref, const char *want)
{
    char buf[512];

    assert_int_equal(k8s_path_build(&ref, buf, sizeof buf), 0);
    assert_string_equal(buf, want);
}

/* Proves paths for core and grouped types, namespaced or not, with subresources. */
static void test_k8s_path_build_shapes(void **state)
{
    expect_path((k8s_ref_t){K8S_GVR_CONFIGMAPS, "prod", "cfg", NULL},
                "/api/v1/namespaces/prod/configmaps/cfg");
    expect_path((k8s_ref_t){K8S_GVR_DEPLOYMENTS, "prod", "web", "scale"},
                "/apis/apps/v1/namespaces/prod/deployments/web/scale");
    expect_path((k8s_ref_t){K8S_GVR_SCALEDOBJECTS, "prod", "so", "status"},
                "/apis/keda.sh/v1alpha1/namespaces/prod/scaledobjects/so/status");
    expect_path((k8s_ref_t){K8S_GVR_SCALEDOBJECTS, NULL, NULL, NULL},
                "/apis/keda.sh/v1alpha1/scaledobjects");
    expect_path((k8s_ref_t){{NULL, "v1", "namespaces"}, "", "kube-system", NULL},
                "/api/v1/namespaces/kube-system");
    expect_path((k8s_ref_t){K8S_GVR_CLUSTERTRIGGERAUTHS, NULL, "system:auth@x", NULL},
                "/apis/keda.sh/v1alpha1/clustertriggerauthentications/system:auth@x");
}

/* Proves that a segment that could change the path's meaning is refused, not escaped. */
static void test_k8s_path_build_rejects_segments(void **state)
{
    static const char *const bad[] = {"",      ".",   "..",  "a/b",  "a b",
                                      "a%2fb", "a?b", "a#b", "a\nb", "\xc3\xa9"};
    char buf[512] = "untouched";

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        k8s_ref_t name = {K8S_GVR_CONFIGMAPS, "ns", bad[i], NULL};
        k8s_ref_t ns = {K8S_GVR_CONFIGMAPS, bad[i][0] ? bad[i] : "..", "n", NULL};
        assert_int_equal(k8s_path_build(&name, buf, sizeof buf), -EINVAL);
        assert_int_equal(k8s_path_build(&ns, buf, sizeof buf), -EINVAL);
    }
    k8s_ref_t sub_of_collection = {K8S_GVR_DEPLOYMENTS, "ns", NULL, "scale"};
    assert_int_equal(k8s_path_build(&sub_of_collection, buf, sizeof buf), -EINVAL);
    k8s_ref_t no_version = {{"apps", NULL, "deployments"}, "ns", "x", NULL};
    assert_int_equal(k8s_path_build(&no_version, buf, sizeof buf), -EINVAL);
    k8s_ref_t ok = {K8S_GVR_DEPLOYMENTS, "ns", "web", NULL};
    assert_int_equal(k8s_path_build(&ok, buf, 10), -ENAMETOOLONG);
    char long_name[300];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    ok.name = long_name;
    assert_int_equal(k8s_path_build(&ok, buf, sizeof buf), -EINVAL);
}

/* Proves query values are percent-encoded and empty values skipped. */
static void test_k8s_query_add_encodes(void **state)
{
    k8s_query_t q = {0};
    char *url;

    k8s_query_add(&q, "labelSelector", "app in (a,b),tier!=x");
    k8s_query_add(&q, "fieldSelector", "");
    k8s_query_add(&q, "continue", "eyJ2Ijo=+/");
    k8s_query_add_uint(&q, "limit", 500);
    assert_int_equal(q.error, 0);
    assert_string_equal(q.buf, "labelSelector=app%20in%20%28a%2Cb%29%2Ctier%21%3Dx&continue="
                               "eyJ2Ijo%3D%2B%2F&limit=500");
    url = k8s_url_build("https://h:6443/prefix", "/api/v1/pods", q.buf);
    assert_non_null(strstr(url, "https://h:6443/prefix/api/v1/pods?labelSelector="));
    free(url);
    k8s_query_done(&q);
    url = k8s_url_build("https://h", "/version", NULL);
    assert_string_equal(url, "https://h/version");
    free(url);
}

/* ---- errors ---- */

/* Proves the Status bodies the API server really sends map to reason, message and errno. */
static void test_k8s_status_parse_recorded(void **state)
{
    static const struct {
        const char *file;
        long status;
        const char *reason, *message;
        int err;
    } cases[] = {
        {"status-notfound.json", 404, "NotFound", "configmaps \"nope\" not found", -ENOENT},
        {"status-alreadyexists.json", 409, "AlreadyExists", "already exists", -EEXIST},
        {"status-conflict.json", 409, "Conflict", "the object has been modified", -ESTALE},
        {"status-invalid.json", 422, "Invalid", "metadata.name: Invalid value", -EINVAL},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        k8s_error_t err;
        size_t len;
        char *body = read_data(cases[i].file, &len);
        k8s_error_clear(&err);
        k8s_status_parse(cases[i].status, body, len, &err);
        assert_int_equal(err.status, cases[i].status);
        assert_string_equal(err.reason, cases[i].reason);
        assert_non_null(strstr(err.message, cases[i].message));
        assert_int_equal(k8s_status_errno(err.status, err.reason), cases[i].err);
        free(body);
    }
}

/* Proves a watch ERROR event's Status (410 Expired) is read from the recorded stream. */
static void test_k8s_status_from_object_watch_error(void **state)
{
    size_t len;
    char *line = read_data("watch-error-gone.ndjson", &len);
    cJSON *ev = NULL;
    k8s_error_t err;

    assert_int_equal(jsonu_parse(line, len, &ev, NULL), 0);
    k8s_error_clear(&err);
    assert_int_equal(k8s_status_from_object(jsonu_lookup(ev, "object"), &err), 410);
    assert_string_equal(err.reason, "Expired");
    assert_non_null(strstr(err.message, "too old resource version"));
    assert_int_equal(k8s_status_errno(410, err.reason), -ENODATA);
    cJSON_Delete(ev);
    free(line);
}

/* Proves a non-Status body becomes a bounded, printable excerpt. */
static void test_k8s_status_parse_foreign_body(void **state)
{
    char body[1000];
    k8s_error_t err;

    memset(body, 'x', sizeof body);
    memcpy(body, "<html>\x1b[31mbad\ngateway", 23);
    k8s_status_parse(502, body, sizeof body, &err);
    assert_int_equal(err.status, 502);
    assert_string_equal(err.reason, "");
    assert_true(strncmp(err.message, "HTTP 502: <html> [31mbad gateway", 32) == 0);
    assert_true(strlen(err.message) < 220);
    for (const char *p = err.message; *p; p++)
        assert_true((unsigned char)*p >= 0x20);
    k8s_status_parse(500, NULL, 0, &err);
    assert_string_equal(err.message, "HTTP 500 with an empty body");
}

/* Proves the documented errno mapping, which callers branch on. */
static void test_k8s_status_errno_table(void **state)
{
    assert_int_equal(k8s_status_errno(400, "BadRequest"), -EINVAL);
    assert_int_equal(k8s_status_errno(401, "Unauthorized"), -EACCES);
    assert_int_equal(k8s_status_errno(403, "Forbidden"), -EACCES);
    assert_int_equal(k8s_status_errno(404, "NotFound"), -ENOENT);
    assert_int_equal(k8s_status_errno(405, "MethodNotAllowed"), -EOPNOTSUPP);
    assert_int_equal(k8s_status_errno(409, "AlreadyExists"), -EEXIST);
    assert_int_equal(k8s_status_errno(409, "Conflict"), -ESTALE);
    assert_int_equal(k8s_status_errno(409, NULL), -ESTALE);
    assert_int_equal(k8s_status_errno(410, "Expired"), -ENODATA);
    assert_int_equal(k8s_status_errno(413, ""), -E2BIG);
    assert_int_equal(k8s_status_errno(415, ""), -EOPNOTSUPP);
    assert_int_equal(k8s_status_errno(422, "Invalid"), -EINVAL);
    assert_int_equal(k8s_status_errno(429, "TooManyRequests"), -EAGAIN);
    assert_int_equal(k8s_status_errno(500, "InternalError"), -EIO);
    assert_int_equal(k8s_status_errno(503, "ServiceUnavailable"), -EAGAIN);
    assert_int_equal(k8s_status_errno(504, "Timeout"), -ETIMEDOUT);
}

/* Proves Retry-After in both forms, clamped, and malformed values refused. */
static void test_k8s_retry_after_parse_forms(void **state)
{
    time_t now = 1700000000;

    assert_int_equal(k8s_retry_after_parse("3", now), 3);
    assert_int_equal(k8s_retry_after_parse(" 10\r\n", now), 10);
    assert_int_equal(k8s_retry_after_parse("0", now), 0);
    assert_int_equal(k8s_retry_after_parse("99999999", now), 86400);
    assert_int_equal(k8s_retry_after_parse("-1", now), -1);
    assert_int_equal(k8s_retry_after_parse("5s", now), -1);
    assert_int_equal(k8s_retry_after_parse("soon", now), -1);
    /* 1700000000 is Tue, 14 Nov 2023 22:13:20 GMT */
    assert_int_equal(k8s_retry_after_parse("Tue, 14 Nov 2023 22:13:27 GMT", now), 7);
    assert_int_equal(k8s_retry_after_parse("Tue, 14 Nov 2023 22:00:00 GMT", now), 0);
}

/* Proves a libcurl failure maps to an errno and a message, with no HTTP status. */
static void test_k8s_curl_errno_mapping(void **state)
{
    k8s_error_t err;

    assert_int_equal(k8s_curl_errno(CURLE_COULDNT_CONNECT, "Failed to connect", &err),
                     -ECONNREFUSED);
    assert_int_equal(err.status, 0);
    assert_string_equal(err.message, "Failed to connect");
    assert_int_equal(k8s_curl_errno(CURLE_OPERATION_TIMEDOUT, "", &err), -ETIMEDOUT);
    assert_true(strlen(err.message) > 0);
    assert_int_equal(k8s_curl_errno(CURLE_PEER_FAILED_VERIFICATION, "x", NULL), -EPROTO);
    assert_int_equal(k8s_curl_errno(CURLE_COULDNT_RESOLVE_HOST, "x", NULL), -EHOSTUNREACH);
}

/* ---- rate limit and backoff ---- */

#define MS K8S_NS_PER_MS

/* Proves KEDA's defaults: a burst of 30 at once, then one request per 50 ms (qps 20). */
static void test_k8s_ratelimit_reserve_burst_then_qps(void **state)
{
    k8s_ratelimit_t rl;
    int64_t t0 = 1000 * K8S_NS_PER_S, w;

    k8s_ratelimit_init(&rl, 0, 0, t0);
    for (int i = 0; i < 30; i++)
        assert_int_equal(k8s_ratelimit_reserve(&rl, t0), 0);
    w = k8s_ratelimit_reserve(&rl, t0);
    assert_true(w >= 50 * MS && w <= 50 * MS + 1);
    w = k8s_ratelimit_reserve(&rl, t0);
    assert_true(w >= 100 * MS && w <= 100 * MS + 1);
    /* 1 s later: 20 tokens refilled, 2 of them already promised. */
    for (int i = 0; i < 18; i++)
        assert_int_equal(k8s_ratelimit_reserve(&rl, t0 + 1000 * MS), 0);
    w = k8s_ratelimit_reserve(&rl, t0 + 1000 * MS);
    assert_true(w >= 50 * MS && w <= 50 * MS + 1);
    /* A long idle period refills to the burst, never beyond. */
    for (int i = 0; i < 30; i++)
        assert_int_equal(k8s_ratelimit_reserve(&rl, t0 + 3600 * K8S_NS_PER_S), 0);
    assert_true(k8s_ratelimit_reserve(&rl, t0 + 3600 * K8S_NS_PER_S) > 0);
}

/* Proves custom settings, the unlimited mode, and that a clock going back adds nothing. */
static void test_k8s_ratelimit_reserve_custom(void **state)
{
    k8s_ratelimit_t rl;

    k8s_ratelimit_init(&rl, 2.0, 1, 0);
    assert_int_equal(k8s_ratelimit_reserve(&rl, 0), 0);
    assert_true(k8s_ratelimit_reserve(&rl, 0) >= 500 * MS);
    assert_true(k8s_ratelimit_reserve(&rl, -5 * K8S_NS_PER_S) >= 1000 * MS);
    k8s_ratelimit_init(&rl, -1, 0, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(k8s_ratelimit_reserve(&rl, 0), 0);
}

/* Proves the reconnect backoff: 1 s doubling to a 30 s cap, jittered into [d/2, d]. */
static void test_k8s_backoff_ns_bounds(void **state)
{
    k8s_rng_t rng;

    k8s_rng_seed(&rng);
    for (int i = 0; i < 1000; i++) {
        uint64_t r = k8s_rng_next(&rng);
        int64_t b0 = k8s_backoff_ns(0, r), b3 = k8s_backoff_ns(3, r);
        int64_t b9 = k8s_backoff_ns(9, r), b99 = k8s_backoff_ns(99, r);
        assert_true(b0 >= 500 * MS && b0 <= 1000 * MS);
        assert_true(b3 >= 4000 * MS && b3 <= 8000 * MS);
        assert_true(b9 >= 15000 * MS && b9 <= 30000 * MS);
        assert_true(b99 >= 15000 * MS && b99 <= 30000 * MS);
    }
    assert_int_equal(k8s_backoff_ns(0, 0), 500 * MS);
    assert_int_equal(k8s_backoff_ns(0, 500 * MS), 1000 * MS);
}

/* ---- store ---- */

/* Proves SipHash-2-4 against the reference vectors (key 00..0f, input 00..n-1). */
static void test_k8s_siphash_vectors(void **state)
{
    uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
    unsigned char in[16];

    for (int i = 0; i < 16; i++)
        in[i] = (unsigned char)i;
    assert_true(k8s_siphash(k0, k1, in, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(k8s_siphash(k0, k1, in, 8) == 0x93f5f5799a932462ULL);
    assert_true(k8s_siphash(k0, k1, in, 15) == 0xa129ca6149be45e5ULL);
}

static void count_swept(k8s_store_entry_t *e, void *ud)
{
    (*(int *)ud)++;
    assert_true(strncmp(e->key, "ns/odd-", 7) == 0);
}

/* Proves insert, find, remove and the relist sweep over enough keys to grow the table. */
static void test_k8s_store_upsert_sweep(void **state)
{
    k8s_store_t s;
    char key[64];
    int swept = 0;

    k8s_store_init(&s);
    assert_null(k8s_store_find(&s, "ns/x"));
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "ns/%s-%d", i % 2 ? "odd" : "even", i);
        k8s_store_entry_t *e = k8s_store_upsert(&s, key);
        assert_non_null(e);
        k8s_store_entry_set(e, "uid", "1");
        e->gen = i % 2 ? 1 : 2;
    }
    assert_int_equal(s.count, 5000);
    assert_ptr_equal(k8s_store_upsert(&s, "ns/even-0"), k8s_store_find(&s, "ns/even-0"));
    assert_int_equal(s.count, 5000);
    k8s_store_remove(&s, "ns/even-0");
    k8s_store_remove(&s, "ns/absent");
    assert_null(k8s_store_find(&s, "ns/even-0"));
    k8s_store_sweep(&s, 2, count_swept, &swept);
    assert_int_equal(swept, 2500);
    assert_int_equal(s.count, 2499);
    assert_non_null(k8s_store_find(&s, "ns/even-4998"));
    k8s_store_done(&s);
}

/* Proves an over-long resourceVersion is kept as "" (never equal, so always "changed"). */
static void test_k8s_store_entry_set_truncation(void **state)
{
    k8s_store_t s;
    char rv[100];

    memset(rv, '7', sizeof rv - 1);
    rv[sizeof rv - 1] = '\0';
    k8s_store_init(&s);
    k8s_store_entry_t *e = k8s_store_upsert(&s, "/cluster-scoped");
    k8s_store_entry_set(e, "u", rv);
    assert_string_equal(e->rv, "");
    k8s_store_entry_set(e, NULL, "12");
    assert_string_equal(e->uid, "");
    assert_string_equal(e->rv, "12");
    k8s_store_done(&s);
}

/* ---- requests without a server ---- */

static kubeconfig_t *closed_port_config(void)
{
    char path[] = "/tmp/ckeda-test-kc-XXXXXX";
    kubeconfig_t *cfg = NULL;
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");

    /* Port 1 on loopback: nothing listens, so a connection is refused at once. */
    fputs("clusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\", "
          "insecure-skip-tls-verify: true}}]\n"
          "users: [{name: u, user: {token: secret-token-value}}]\n"
          "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
          f);
    fclose(f);
    assert_int_equal(kubeconfig_load(path, NULL, &cfg, NULL), 0);
    unlink(path);
    return cfg;
}

/* Proves a refused connection is -ECONNREFUSED with a message and no HTTP status. */
static void test_k8s_request_connection_refused(void **state)
{
    kubeconfig_t *cfg = closed_port_config();
    k8s_client_t *c = k8s_client_new(cfg, NULL);
    k8s_ref_t ref = {K8S_GVR_CONFIGMAPS, "default", "x", NULL};
    cJSON *obj = (cJSON *)0x1;
    k8s_error_t err;

    assert_non_null(c);
    assert_string_equal(k8s_client_namespace(c), "default");
    assert_int_equal(k8s_get(c, &ref, &obj, &err), -ECONNREFUSED);
    assert_ptr_equal(obj, (cJSON *)0x1);
    assert_int_equal(err.status, 0);
    assert_true(strlen(err.message) > 0);
    assert_null(strstr(err.message, "secret-token-value"));
    k8s_client_free(c);
    kubeconfig_free(cfg);
}

/* Proves a bad reference or raw path fails before any network I/O. */
static void test_k8s_request_rejects_bad_ref(void **state)
{
    kubeconfig_t *cfg = closed_port_config();
    k8s_client_t *c = k8s_client_new(cfg, NULL);
    k8s_ref_t ref = {K8S_GVR_SECRETS, "default", "../../api/v1/secrets", NULL};
    k8s_error_t err;

    assert_int_equal(k8s_get(c, &ref, NULL, &err), -EINVAL);
    assert_non_null(strstr(err.message, "invalid resource reference"));
    assert_int_equal(k8s_get_path(c, "/version?x=1", NULL, &err), -EINVAL);
    assert_int_equal(k8s_get_path(c, "version", NULL, &err), -EINVAL);
    assert_int_equal(
        k8s_patch(c, &(k8s_ref_t){K8S_GVR_CONFIGMAPS, "d", "x", NULL}, K8S_PUT, "{}", NULL, &err),
        -EINVAL);
    k8s_ref_t named = {K8S_GVR_CONFIGMAPS, "d", "x", NULL};
    assert_int_equal(k8s_list(c, &named, NULL, NULL, &err), -EINVAL);
    k8s_client_free(c);
    kubeconfig_free(cfg);
}

int main(void)
{
    const char *base = getenv("CKEDA_TEST_DATA");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_k8s_path_build_shapes),
        cmocka_unit_test(test_k8s_path_build_rejects_segments),
        cmocka_unit_test(test_k8s_query_add_encodes),
        cmocka_unit_test(test_k8s_status_parse_recorded),
        cmocka_unit_test(test_k8s_status_from_object_watch_error),
        cmocka_unit_test(test_k8s_status_parse_foreign_body),
        cmocka_unit_test(test_k8s_status_errno_table),
        cmocka_unit_test(test_k8s_retry_after_parse_forms),
        cmocka_unit_test(test_k8s_curl_errno_mapping),
        cmocka_unit_test(test_k8s_ratelimit_reserve_burst_then_qps),
        cmocka_unit_test(test_k8s_ratelimit_reserve_custom),
        cmocka_unit_test(test_k8s_backoff_ns_bounds),
        cmocka_unit_test(test_k8s_siphash_vectors),
        cmocka_unit_test(test_k8s_store_upsert_sweep),
        cmocka_unit_test(test_k8s_store_entry_set_truncation),
        cmocka_unit_test(test_k8s_request_connection_refused),
        cmocka_unit_test(test_k8s_request_rejects_bad_ref),
    };

    if (!base) {
        fprintf(stderr, "CKEDA_TEST_DATA is not set\n");
        return 1;
    }
    snprintf(data_dir, sizeof data_dir, "%s/k8s", base);
    return cmocka_run_group_tests_name("k8s", tests, NULL, NULL);
}
