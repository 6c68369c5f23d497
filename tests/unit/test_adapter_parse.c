/*
 * Adapter parsers of untrusted input: the HTTP request head (incrementally, at every split
 * point), URL decoding, route matching and the label-selector grammar, with hostile inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "adapter/adp_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- HTTP ---------------------------------------------------------------------------------- */

static int parse_all(const char *s, adp_http_req_t *req, int *status)
{
    size_t scan = 0;
    return adp_http_parse(s, strlen(s), &scan, req, status);
}

static const char hpa_request[] =
    "GET /apis/external.metrics.k8s.io/v1beta1/namespaces/default/s0-redis-orders"
    "?labelSelector=scaledobject.keda.sh%2Fname%3Dorders HTTP/1.1\r\n"
    "Host: 127.0.0.1:7443\r\n"
    "User-Agent: kube-controller-manager/v1.34.4\r\n"
    "Accept: application/vnd.kubernetes.protobuf, */*\r\n"
    "X-Remote-User: system:serviceaccount:kube-system:horizontal-pod-autoscaler\r\n"
    "X-Remote-Group: system:serviceaccounts\r\n"
    "X-Remote-Group: system:authenticated\r\n"
    "X-Remote-Extra-Authentication.kubernetes.io%2fcredential-id: JTI=1\r\n"
    "\r\n";

static void test_adp_http_parse_hpa_request(void **state)
{
    adp_http_req_t req;
    int status = 0;
    uint32_t pos = 0;

    assert_int_equal(parse_all(hpa_request, &req, &status), 0);
    assert_int_equal(req.method, ADP_HTTP_GET);
    assert_int_equal(req.minor, 1);
    assert_true(req.keep_alive);
    assert_int_equal(req.head_len, strlen(hpa_request));
    assert_int_equal(req.nheaders, 7);
    assert_non_null(adp_http_header_next(&req, "x-remote-group", &pos));
    const adp_http_header_t *h = adp_http_header_next(&req, "X-REMOTE-GROUP", &pos);
    assert_non_null(h);
    assert_true(adp_slice_eq(h->value, "system:authenticated"));
    assert_null(adp_http_header_next(&req, "x-remote-group", &pos));
}

/* Every way of cutting the bytes in two gives the same answer as all at once. */
static void test_adp_http_parse_every_split_point(void **state)
{
    size_t n = strlen(hpa_request);
    char *buf = malloc(n);

    for (size_t cut = 0; cut <= n; cut++) {
        adp_http_req_t req;
        size_t scan = 0;
        int status = 0;
        memcpy(buf, hpa_request, cut);
        int r = adp_http_parse(buf, cut, &scan, &req, &status);
        assert_int_equal(r, cut == n ? 0 : -EAGAIN);
        memcpy(buf + cut, hpa_request + cut, n - cut);
        assert_int_equal(adp_http_parse(buf, n, &scan, &req, &status), 0);
        assert_int_equal(req.head_len, n);
        assert_int_equal(req.nheaders, 7);
        assert_true(adp_slice_eq(req.target, "/apis/external.metrics.k8s.io/v1beta1/namespaces/"
                                             "default/s0-redis-orders?labelSelector="
                                             "scaledobject.keda.sh%2Fname%3Dorders"));
    }
    /* byte by byte */
    adp_http_req_t req;
    size_t scan = 0;
    int status = 0;
    for (size_t i = 1; i < n; i++)
        assert_int_equal(adp_http_parse(hpa_request, i, &scan, &req, &status), -EAGAIN);
    assert_int_equal(adp_http_parse(hpa_request, n, &scan, &req, &status), 0);
    free(buf);
}

static void test_adp_http_parse_pipelined_and_lf_only(void **state)
{
    const char two[] = "GET /a HTTP/1.1\nHost: x\n\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    adp_http_req_t req;
    int status;
    size_t scan = 0;

    assert_int_equal(adp_http_parse(two, strlen(two), &scan, &req, &status), 0);
    assert_true(adp_slice_eq(req.target, "/a"));
    size_t used = req.head_len;
    scan = 0;
    assert_int_equal(adp_http_parse(two + used, strlen(two) - used, &scan, &req, &status), 0);
    assert_true(adp_slice_eq(req.target, "/b"));
}

static void test_adp_http_parse_connection_semantics(void **state)
{
    adp_http_req_t req;
    int status;

    assert_int_equal(parse_all("GET / HTTP/1.0\r\n\r\n", &req, &status), 0);
    assert_false(req.keep_alive);
    assert_int_equal(parse_all("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req, &status),
                     0);
    assert_true(req.keep_alive);
    assert_int_equal(
        parse_all("GET / HTTP/1.1\r\nHost: a\r\nConnection: te, close\r\n\r\n", &req, &status), 0);
    assert_false(req.keep_alive);
    assert_int_equal(
        parse_all("HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", &req, &status), 0);
    assert_int_equal(req.method, ADP_HTTP_HEAD);
    assert_int_equal(req.content_length, 5);
}

static void expect_reject(const char *s, int want)
{
    adp_http_req_t req;
    int status = 0;
    assert_int_equal(parse_all(s, &req, &status), -EPROTO);
    assert_int_equal(status, want);
}

static void test_adp_http_parse_rejects_malformed(void **state)
{
    expect_reject("GET / HTTP/1.1\r\n\r\n", 400);                       /* no Host */
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400); /* two Hosts */
    expect_reject("GET /\r\nHost: a\r\n\r\n", 400);
    expect_reject("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_reject("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_reject("GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_reject("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    expect_reject("GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                  400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
    expect_reject(
        "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        400);
}

static void test_adp_http_parse_size_limits(void **state)
{
    size_t n = ADP_HTTP_HEAD_MAX + 100;
    char *big = malloc(n + 1);
    adp_http_req_t req;
    size_t scan = 0;
    int status = 0;

    /* a request line that never ends: 414 once it passes the line limit */
    memset(big, 'a', n);
    memcpy(big, "GET /", 5);
    assert_int_equal(adp_http_parse(big, ADP_HTTP_LINE_MAX - 1, &scan, &req, &status), -EAGAIN);
    assert_int_equal(adp_http_parse(big, ADP_HTTP_LINE_MAX, &scan, &req, &status), -EPROTO);
    assert_int_equal(status, 414);
    /* headers that never end: 431 */
    size_t off = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
    while (off + 8 < n)
        off += (size_t)sprintf(big + off, "X: y\r\n");
    scan = 0;
    assert_int_equal(adp_http_parse(big, ADP_HTTP_HEAD_MAX, &scan, &req, &status), -EPROTO);
    assert_int_equal(status, 431);
    /* too many header fields: 431 */
    off = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < ADP_HTTP_HEADERS_MAX + 1; i++)
        off += (size_t)sprintf(big + off, "X: y\r\n");
    sprintf(big + off, "\r\n");
    scan = 0;
    assert_int_equal(adp_http_parse(big, strlen(big), &scan, &req, &status), -EPROTO);
    assert_int_equal(status, 431);
    /* only blank lines */
    memset(big, '\n', n);
    scan = 0;
    assert_int_equal(adp_http_parse(big, ADP_HTTP_HEAD_MAX, &scan, &req, &status), -EPROTO);
    free(big);
}

static void test_adp_http_query_get_decodes(void **state)
{
    adp_arena_t a = {0};
    char *v = NULL;
    adp_slice_t path, query;
    const char *t = "/p%20q?x=1&labelSelector=scaledobject.keda.sh%2Fname%3Dorders+x&"
                    "labelSelector=second#frag";

    adp_http_target_split((adp_slice_t){t, strlen(t)}, &path, &query);
    assert_true(adp_slice_eq(path, "/p%20q"));
    assert_int_equal(adp_http_query_get(&a, query, "labelSelector", &v), 0);
    assert_string_equal(v, "scaledobject.keda.sh/name=orders x"); /* the first one wins */
    assert_int_equal(adp_http_query_get(&a, query, "missing", &v), -ENOENT);
    const char *bad = "labelSelector=%zz";
    assert_int_equal(adp_http_query_get(&a, (adp_slice_t){bad, strlen(bad)}, "labelSelector", &v),
                     -EINVAL);
    assert_int_equal(adp_http_unescape(&a, (adp_slice_t){"a%00b", 5}, false, &v), -EINVAL);
    assert_int_equal(adp_http_unescape(&a, (adp_slice_t){"a%4", 3}, false, &v), -EINVAL);
    assert_int_equal(adp_http_unescape(&a, (adp_slice_t){"a+%41", 5}, false, &v), 0);
    assert_string_equal(v, "a+A");
    adp_arena_free(&a);
}

/* ---- routes ------------------------------------------------------------------------------- */

static adp_route_id_t route(adp_listener_t where, const char *path, adp_route_t *r)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    adp_route_match(where, buf, r);
    return r->id;
}

static void test_adp_route_match_paths(void **state)
{
    adp_route_t r;
    const char *v = "/apis/external.metrics.k8s.io/v1beta1/namespaces/";

    assert_int_equal(route(ADP_LISTENER_SECURE, "/apis", &r), ADP_ROUTE_APIS);
    assert_int_equal(route(ADP_LISTENER_SECURE, "/apis/external.metrics.k8s.io", &r),
                     ADP_ROUTE_GROUP);
    assert_int_equal(route(ADP_LISTENER_SECURE, "/apis/external.metrics.k8s.io/v1beta1", &r),
                     ADP_ROUTE_GROUP_VERSION);
    char p[256];
    snprintf(p, sizeof p, "%sdefault/s0-Redis", v);
    assert_int_equal(route(ADP_LISTENER_SECURE, p, &r), ADP_ROUTE_VALUE);
    assert_string_equal(r.ns, "default");
    assert_string_equal(r.metric, "s0-Redis");
    snprintf(p, sizeof p, "%sdefault", v);
    assert_int_equal(route(ADP_LISTENER_SECURE, p, &r), ADP_ROUTE_NONE);
    snprintf(p, sizeof p, "%sdefault/", v);
    assert_int_equal(route(ADP_LISTENER_SECURE, p, &r), ADP_ROUTE_NONE);
    snprintf(p, sizeof p, "%s/m", v);
    assert_int_equal(route(ADP_LISTENER_SECURE, p, &r), ADP_ROUTE_NONE);
    snprintf(p, sizeof p, "%sdefault/m/extra", v);
    assert_int_equal(route(ADP_LISTENER_SECURE, p, &r), ADP_ROUTE_NONE);
    assert_int_equal(route(ADP_LISTENER_SECURE, "/apis/external.metrics.k8s.io/v1beta1/m", &r),
                     ADP_ROUTE_NONE);
    assert_int_equal(route(ADP_LISTENER_SECURE, "/readyz", &r), ADP_ROUTE_READYZ);
    assert_int_equal(route(ADP_LISTENER_HEALTH, "/livez", &r), ADP_ROUTE_LIVEZ);
    assert_int_equal(route(ADP_LISTENER_HEALTH, "/healthz", &r), ADP_ROUTE_HEALTHZ);
    assert_int_equal(route(ADP_LISTENER_HEALTH, "/apis", &r), ADP_ROUTE_NONE);
    assert_int_equal(route(ADP_LISTENER_METRICS, "/healthz", &r), ADP_ROUTE_NONE);
    assert_int_equal(route(ADP_LISTENER_METRICS, "/metrics", &r), ADP_ROUTE_METRICS);
    assert_true(adp_route_is_public(ADP_ROUTE_READYZ));
    assert_false(adp_route_is_public(ADP_ROUTE_APIS));
    assert_true(adp_route_needs_authz(ADP_ROUTE_VALUE));
    assert_false(adp_route_needs_authz(ADP_ROUTE_GROUP_VERSION));
}

/* ---- label selectors ---------------------------------------------------------------------- */

static int sel(const char *s, adp_selector_t *out)
{
    char err[256];
    return adp_selector_parse(s, strlen(s), out, err, sizeof err);
}

static void test_adp_selector_parse_grammar(void **state)
{
    adp_selector_t *s = malloc(sizeof *s);
    adp_slice_t v;

    assert_int_equal(sel("", s), 0);
    assert_int_equal(s->nreqs, 0);
    assert_int_equal(sel("  ", s), 0);
    assert_int_equal(sel("scaledobject.keda.sh/name=orders", s), 0);
    assert_int_equal(adp_selector_equals(s, "scaledobject.keda.sh/name", &v), 0);
    assert_true(adp_slice_eq(v, "orders"));
    assert_int_equal(sel("a==b, !c ,d, e!=f,g in (h, i),j notin(k),l>5,m<-3,n=", s), 0);
    assert_int_equal(s->nreqs, 9);
    assert_int_equal(s->reqs[0].op, ADP_SEL_DOUBLE_EQUALS);
    assert_int_equal(s->reqs[1].op, ADP_SEL_NOT_EXISTS);
    assert_int_equal(s->reqs[2].op, ADP_SEL_EXISTS);
    assert_int_equal(s->reqs[3].op, ADP_SEL_NOT_EQUALS);
    assert_int_equal(s->reqs[4].op, ADP_SEL_IN);
    assert_int_equal(s->reqs[4].nvalues, 2);
    assert_int_equal(s->reqs[5].op, ADP_SEL_NOT_IN);
    assert_int_equal(s->reqs[6].op, ADP_SEL_GT);
    assert_int_equal(s->reqs[7].op, ADP_SEL_LT);
    assert_int_equal(s->reqs[8].nvalues, 1);
    assert_int_equal(s->values[s->reqs[8].first_value].n, 0);
    assert_int_equal(adp_selector_equals(s, "a", &v), 0);
    assert_int_equal(adp_selector_equals(s, "e", &v), -ENOENT); /* != does not pin */
    assert_int_equal(sel("x in (one),x=two", s), 0);
    assert_int_equal(adp_selector_equals(s, "x", &v), 0);
    assert_true(adp_slice_eq(v, "two")); /* the last one, like KEDA's label map */
    free(s);
}

static void test_adp_selector_parse_rejects_hostile(void **state)
{
    static const char *const bad[] = {
        ",",
        "a,",
        "=b",
        "a=b=c",
        "a in b",
        "a in (b",
        "a in ()",
        "a in (b,)",
        "a notin",
        "a>b",
        "a<",
        "!",
        "!a=b",
        "a b",
        "a=(b)",
        "-a=b",
        "a-=b",
        "A/b=c",
        "a/=b",
        "/a=b",
        "a..b/c=d",
        "a=b!",
        "a=-b",
        "a=b-",
        "a)",
        "(a)",
        "a in (b c)",
        "a=\x01",
        "a\xff=b",
        "a=b,,c=d",
        "k=0123456789012345678901234567890123456789012345678901234567890123", /* 64 chars */
    };
    adp_selector_t *s = malloc(sizeof *s);
    char err[256];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (adp_selector_parse(bad[i], strlen(bad[i]), s, err, sizeof err) != -EINVAL)
            fail_msg("accepted hostile selector [%s]", bad[i]);
        assert_true(err[0] != '\0');
    }
    /* too many requirements, too many values, too long */
    char big[ADP_SEL_INPUT_MAX + 2];
    size_t off = 0;
    for (int i = 0; i < ADP_SEL_REQ_MAX + 1; i++)
        off += (size_t)sprintf(big + off, "%sk%d", i ? "," : "", i);
    assert_int_equal(sel(big, s), -EINVAL);
    off = (size_t)sprintf(big, "k in (v0");
    for (int i = 1; i < ADP_SEL_VALUES_MAX + 1; i++)
        off += (size_t)sprintf(big + off, ",v%d", i);
    sprintf(big + off, ")");
    assert_int_equal(sel(big, s), -EINVAL);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(sel(big, s), -EINVAL);
    free(s);
}

static void test_adp_selector_parse_key_forms(void **state)
{
    adp_selector_t *s = malloc(sizeof *s);

    assert_int_equal(sel("app.kubernetes.io/name=x", s), 0);
    assert_int_equal(sel("a-b.c/D_e.f=G-h_i.j", s), 0);
    assert_int_equal(sel("x=0123456789012345678901234567890123456789012345678901234567890ab", s),
                     0); /* 63 chars */
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adp_http_parse_hpa_request),
        cmocka_unit_test(test_adp_http_parse_every_split_point),
        cmocka_unit_test(test_adp_http_parse_pipelined_and_lf_only),
        cmocka_unit_test(test_adp_http_parse_connection_semantics),
        cmocka_unit_test(test_adp_http_parse_rejects_malformed),
        cmocka_unit_test(test_adp_http_parse_size_limits),
        cmocka_unit_test(test_adp_http_query_get_decodes),
        cmocka_unit_test(test_adp_route_match_paths),
        cmocka_unit_test(test_adp_selector_parse_grammar),
        cmocka_unit_test(test_adp_selector_parse_rejects_hostile),
        cmocka_unit_test(test_adp_selector_parse_key_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
