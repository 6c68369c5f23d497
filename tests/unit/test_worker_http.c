/*
 * Unit tests of the scalers' HTTP client pieces that need no peer: the response parser
 * (scaleworker/http_parse.c) fed in every split, URL parsing and the redaction-safe `shown`
 * form, Go's query escaping, and the proxy choice from HTTP(S)_PROXY / NO_PROXY
 * (scaleworker/http_url.c). The client's I/O runs against real servers in
 * tests/integration/test_metrics_api_scaler.py and test_prometheus_scaler.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scaleworker/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Feeds the whole text in pieces of `step` bytes; returns the last feed result or eof's. */
static long feed_all(sw_http_parser_t *p, const char *text, size_t step, bool eof)
{
    size_t len = strlen(text), off = 0;
    long r = 0;

    while (off < len && p->state != SW_HTTP_P_DONE) {
        size_t n = len - off < step ? len - off : step;
        r = sw_http_parser_feed(p, text + off, n);
        if (r < 0)
            return r;
        off += (size_t)r;
    }
    if (eof && p->state != SW_HTTP_P_DONE)
        return sw_http_parser_eof(p);
    return (long)off;
}

static void parse_ok(const char *text, bool eof, int status, const char *body, bool keep_alive)
{
    for (size_t step = 1; step <= strlen(text); step = step < 8 ? step + 1 : step * 3) {
        sw_http_parser_t p;
        sw_http_parser_init(&p, 1 << 20, false);
        long r = feed_all(&p, text, step, eof);
        if (r < 0)
            fail_msg("step %zu: %ld (%s)", step, r, p.error ? p.error : "");
        assert_int_equal(p.state, SW_HTTP_P_DONE);
        assert_int_equal(p.status, status);
        assert_int_equal(p.body_len, strlen(body));
        if (p.body_len)
            assert_memory_equal(p.body, body, p.body_len);
        assert_int_equal(p.keep_alive, keep_alive);
        sw_http_parser_free(&p);
    }
}

static long parse_err(const char *text, size_t max)
{
    sw_http_parser_t p;
    sw_http_parser_init(&p, max, false);
    long r = feed_all(&p, text, 7, true);
    sw_http_parser_free(&p);
    return r;
}

static void test_sw_http_parser_feed_content_length_in_any_split(void **state)
{
    parse_ok("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
             "{\"a\": 1.5}\n",
             false, 200, "{\"a\": 1.5}\n", true);
}

static void test_sw_http_parser_feed_chunked_with_extensions_and_trailers(void **state)
{
    parse_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5;name=x\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
             false, 200, "hello world", true);
}

static void test_sw_http_parser_feed_body_until_close(void **state)
{
    parse_ok("HTTP/1.1 500 Internal Server Error\r\nServer: x\r\n\r\nboom", true, 500, "boom",
             false);
}

static void test_sw_http_parser_feed_http10_and_connection_close_end_keep_alive(void **state)
{
    parse_ok("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false, 200, "ok", false);
    parse_ok("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 2\r\n\r\nok", false, 200,
             "ok", false);
    parse_ok("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", false, 200,
             "ok", true);
}

static void test_sw_http_parser_feed_skips_interim_answers(void **state)
{
    parse_ok("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", false, 204, "", true);
}

static void test_sw_http_parser_feed_bare_lf_lines(void **state)
{
    parse_ok("HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", false, 200, "abc", true);
}

static void test_sw_http_parser_feed_stops_at_the_end_of_the_response(void **state)
{
    const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n";
    sw_http_parser_t p;

    sw_http_parser_init(&p, 100, false);
    long r = sw_http_parser_feed(&p, two, strlen(two));
    assert_int_equal(r, strlen("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"));
    assert_int_equal(p.state, SW_HTTP_P_DONE);
    sw_http_parser_free(&p);
}

static void test_sw_http_parser_feed_refuses_ambiguous_framing(void **state)
{
    assert_int_equal(parse_err("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"
                               "abcd",
                               100),
                     -EBADMSG);
    assert_int_equal(parse_err("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: "
                               "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                               100),
                     -EBADMSG);
    assert_int_equal(parse_err("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 100), -EBADMSG);
    assert_int_equal(parse_err("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n"
                               "\r\n",
                               100),
                     -EBADMSG);
    assert_int_equal(parse_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 100),
                     -EBADMSG);
    assert_int_equal(parse_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100),
                     -EBADMSG);
    assert_int_equal(parse_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabcX\r\n",
                               100),
                     -EBADMSG);
    assert_int_equal(parse_err("HTTP/2 200\r\n\r\n", 100), -EBADMSG);
    assert_int_equal(parse_err("ICY 200 OK\r\n\r\n", 100), -EBADMSG);
}

static void test_sw_http_parser_feed_bounds_body_and_head(void **state)
{
    char *big = malloc(SW_HTTP_HEAD_MAX + 100);

    assert_int_equal(parse_err("HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", 100), -EFBIG);
    assert_int_equal(parse_err("HTTP/1.1 200 OK\r\n\r\n0123456789", 5), -EFBIG);
    assert_int_equal(parse_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "ff\r\n",
                               100),
                     -EFBIG);
    /* a head that never ends */
    strcpy(big, "HTTP/1.1 200 OK\r\nX:");
    for (size_t i = strlen(big); i < SW_HTTP_HEAD_MAX + 90; i++)
        big[i] = i % 50 == 0 ? '\n' : i % 50 == 1 ? 'X' : i % 50 == 2 ? ':' : 'a';
    big[SW_HTTP_HEAD_MAX + 90] = '\0';
    assert_int_equal(parse_err(big, 100), -EFBIG);
    free(big);
}

static void test_sw_http_parser_eof_mid_response_is_an_error(void **state)
{
    assert_int_equal(parse_err("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 100), -EPIPE);
    assert_int_equal(parse_err("", 100), -EPIPE);
    assert_int_equal(parse_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab", 100),
                     -EPIPE);
}

static void test_sw_url_parse_parts_and_shown_form(void **state)
{
    const char *s = "https://user:p%40ss@metrics.example.com:8443/api/v1/query?api_key=SECRET#f";
    sw_url_t u;
    char err[128];

    assert_int_equal(sw_url_parse(s, strlen(s), &u, err, sizeof err), 0);
    assert_true(u.https);
    assert_string_equal(u.host, "metrics.example.com");
    assert_string_equal(u.port, "8443");
    assert_string_equal(u.authority, "metrics.example.com:8443");
    assert_string_equal(u.path, "/api/v1/query");
    assert_string_equal(u.query, "api_key=SECRET");
    assert_string_equal(u.userinfo, "user:p@ss");
    assert_string_equal(u.shown, "https://metrics.example.com:8443/api/v1/query");
    assert_null(strstr(u.shown, "SECRET"));
    sw_url_free(&u);

    s = "http://[::1]/";
    assert_int_equal(sw_url_parse(s, strlen(s), &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "80");
    assert_null(u.query);
    sw_url_free(&u);

    s = "http://localhost:9090";
    assert_int_equal(sw_url_parse(s, strlen(s), &u, err, sizeof err), 0);
    assert_string_equal(u.path, "");
    sw_url_free(&u);
}

static void test_sw_url_parse_rejects_what_go_rejects(void **state)
{
    const char *bad[] = {"ftp://x/",          "localhost:9090", "http://",     "http://host:99999/",
                         "http://host:port/", "http://a b/",    "http://[::1/"};
    sw_url_t u;
    char err[128];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (sw_url_parse(bad[i], strlen(bad[i]), &u, err, sizeof err) != -EINVAL)
            fail_msg("%s was accepted", bad[i]);
        assert_true(err[0] != '\0');
    }
    /* the reason never quotes userinfo */
    const char *s = "http://user:topsecret@host:bad/";
    assert_int_equal(sw_url_parse(s, strlen(s), &u, err, sizeof err), -EINVAL);
    assert_null(strstr(err, "topsecret"));
}

static void test_sw_buf_query_escape_matches_go(void **state)
{
    sw_buf_t b = {0};
    const char *q = "sum(rate(x{job=\"a b\"}[5m])) / 2 ~_-.";

    assert_int_equal(sw_buf_query_escape(&b, q, strlen(q)), 0);
    assert_string_equal(b.p, "sum%28rate%28x%7Bjob%3D%22a+b%22%7D%5B5m%5D%29%29+%2F+2+~_-.");
    sw_buf_free(&b);
}

static void test_sw_http_proxy_for_follows_go(void **state)
{
    sw_url_t u, px;
    char err[128];
    const char *s = "https://api.example.com/x";

    unsetenv("HTTPS_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("http_proxy");
    unsetenv("NO_PROXY");
    unsetenv("no_proxy");
    assert_int_equal(sw_url_parse(s, strlen(s), &u, err, sizeof err), 0);
    assert_int_equal(sw_http_proxy_for(&u, &px, err, sizeof err), 0);
    setenv("https_proxy", "proxy.local:3128", 1); /* no scheme: http:// */
    assert_int_equal(sw_http_proxy_for(&u, &px, err, sizeof err), 1);
    assert_string_equal(px.host, "proxy.local");
    assert_string_equal(px.port, "3128");
    sw_url_free(&px);
    setenv("NO_PROXY", "other.org, .example.com", 1);
    assert_int_equal(sw_http_proxy_for(&u, &px, err, sizeof err), 0);
    setenv("NO_PROXY", "example.com", 1); /* the name and its subdomains */
    assert_int_equal(sw_http_proxy_for(&u, &px, err, sizeof err), 0);
    setenv("NO_PROXY", "ample.com", 1);
    assert_int_equal(sw_http_proxy_for(&u, &px, err, sizeof err), 1);
    sw_url_free(&px);
    sw_url_free(&u);
    s = "https://127.0.0.1:9/"; /* loopback never goes through a proxy */
    assert_int_equal(sw_url_parse(s, strlen(s), &u, err, sizeof err), 0);
    assert_int_equal(sw_http_proxy_for(&u, &px, err, sizeof err), 0);
    sw_url_free(&u);
    s = "https://10.1.2.3/";
    setenv("NO_PROXY", "10.0.0.0/8", 1);
    assert_int_equal(sw_url_parse(s, strlen(s), &u, err, sizeof err), 0);
    assert_int_equal(sw_http_proxy_for(&u, &px, err, sizeof err), 0);
    setenv("https_proxy", "socks5://p:1080", 1);
    unsetenv("NO_PROXY");
    assert_int_equal(sw_http_proxy_for(&u, &px, err, sizeof err), -EINVAL);
    sw_url_free(&u);
    unsetenv("https_proxy");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sw_http_parser_feed_content_length_in_any_split),
        cmocka_unit_test(test_sw_http_parser_feed_chunked_with_extensions_and_trailers),
        cmocka_unit_test(test_sw_http_parser_feed_body_until_close),
        cmocka_unit_test(test_sw_http_parser_feed_http10_and_connection_close_end_keep_alive),
        cmocka_unit_test(test_sw_http_parser_feed_skips_interim_answers),
        cmocka_unit_test(test_sw_http_parser_feed_bare_lf_lines),
        cmocka_unit_test(test_sw_http_parser_feed_stops_at_the_end_of_the_response),
        cmocka_unit_test(test_sw_http_parser_feed_refuses_ambiguous_framing),
        cmocka_unit_test(test_sw_http_parser_feed_bounds_body_and_head),
        cmocka_unit_test(test_sw_http_parser_eof_mid_response_is_an_error),
        cmocka_unit_test(test_sw_url_parse_parts_and_shown_form),
        cmocka_unit_test(test_sw_url_parse_rejects_what_go_rejects),
        cmocka_unit_test(test_sw_buf_query_escape_matches_go),
        cmocka_unit_test(test_sw_http_proxy_for_follows_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
