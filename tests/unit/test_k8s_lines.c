/*
 * Unit tests of the watch stream splitter (common/k8s_lines.c): a recorded kube-apiserver watch
 * stream (tests/data/k8s/watch-configmaps.ndjson: ADDED, MODIFIED, DELETED, BOOKMARK) cut at
 * every byte position must yield exactly the same events, as must every pair of cuts of a short
 * stream and a byte-at-a-time feed; long lines are refused with -EMSGSIZE.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/k8s_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINES 64

typedef struct collected {
    char *lines[MAX_LINES];
    size_t n;
    size_t stop_after; /* return 7 from the callback after this many lines; 0: never */
} collected_t;

static char data_dir[PATH_MAX];

static int collect(void *userdata, const char *line, size_t len)
{
    collected_t *c = userdata;

    assert_true(c->n < MAX_LINES);
    c->lines[c->n] = strndup(line, len);
    c->n++;
    return c->stop_after && c->n >= c->stop_after ? 7 : 0;
}

static void collected_free(collected_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->lines[i]);
    c->n = 0;
}

static char *read_stream(size_t *ret_len)
{
    char path[PATH_MAX * 2];
    char *buf;
    long len;
    FILE *f;

    snprintf(path, sizeof path, "%s/watch-configmaps.ndjson", data_dir);
    f = fopen(path, "re");
    assert_non_null(f);
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

/* The events of a stream, split the obvious way, for comparison. */
static size_t expected_lines(const char *buf, size_t len, char **out)
{
    size_t n = 0, start = 0;

    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n') {
            if (i > start)
                out[n++] = strndup(buf + start, i - start);
            start = i + 1;
        }
    return n;
}

static void assert_same(collected_t *got, char **want, size_t n)
{
    assert_int_equal(got->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(got->lines[i], want[i]);
}

/* Proves the recorded stream splits into the same 8 events wherever one cut falls. */
static void test_k8s_lines_feed_every_split_point(void **state)
{
    size_t len, n;
    char *buf = read_stream(&len), *want[MAX_LINES];

    n = expected_lines(buf, len, want);
    assert_int_equal(n, 8);
    assert_non_null(strstr(want[7], "\"type\":\"BOOKMARK\""));
    for (size_t cut = 0; cut <= len; cut++) {
        k8s_lines_t l;
        collected_t got = {.n = 0};
        k8s_lines_init(&l, K8S_WATCH_LINE_MAX);
        assert_int_equal(k8s_lines_feed(&l, buf, cut, collect, &got), 0);
        assert_int_equal(k8s_lines_feed(&l, buf + cut, len - cut, collect, &got), 0);
        assert_int_equal(l.len, 0); /* nothing left over: the stream ends with '\n' */
        assert_same(&got, want, n);
        collected_free(&got);
        k8s_lines_done(&l);
    }
    for (size_t i = 0; i < n; i++)
        free(want[i]);
    free(buf);
}

/* Proves a byte-at-a-time feed (the worst chunking) yields the same events. */
static void test_k8s_lines_feed_byte_by_byte(void **state)
{
    size_t len, n;
    char *buf = read_stream(&len), *want[MAX_LINES];
    collected_t got = {.n = 0};
    k8s_lines_t l;

    n = expected_lines(buf, len, want);
    k8s_lines_init(&l, K8S_WATCH_LINE_MAX);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(k8s_lines_feed(&l, buf + i, 1, collect, &got), 0);
    assert_same(&got, want, n);
    collected_free(&got);
    k8s_lines_done(&l);
    for (size_t i = 0; i < n; i++)
        free(want[i]);
    free(buf);
}

/* Proves every pair of cuts (three chunks) of a short stream, with CRLF and blank lines. */
static void test_k8s_lines_feed_every_pair_of_splits(void **state)
{
    static const char stream[] = "{\"type\":\"ADDED\",\"object\":{\"a\":1}}\r\n\n"
                                 "{\"type\":\"BOOKMARK\",\"object\":{}}\n"
                                 "{\"type\":\"DELETED\",\"object\":{\"b\":\"x\\ny\"}}\n";
    static const char *const want[] = {"{\"type\":\"ADDED\",\"object\":{\"a\":1}}",
                                       "{\"type\":\"BOOKMARK\",\"object\":{}}",
                                       "{\"type\":\"DELETED\",\"object\":{\"b\":\"x\\ny\"}}"};
    size_t len = sizeof stream - 1;

    for (size_t i = 0; i <= len; i++)
        for (size_t j = i; j <= len; j++) {
            k8s_lines_t l;
            collected_t got = {.n = 0};
            k8s_lines_init(&l, 1024);
            assert_int_equal(k8s_lines_feed(&l, stream, i, collect, &got), 0);
            assert_int_equal(k8s_lines_feed(&l, stream + i, j - i, collect, &got), 0);
            assert_int_equal(k8s_lines_feed(&l, stream + j, len - j, collect, &got), 0);
            assert_same(&got, (char **)want, 3);
            collected_free(&got);
            k8s_lines_done(&l);
        }
}

/* Proves a line longer than the limit is refused whether it arrives whole or in pieces, and
 * that the buffer never grows past the limit. */
static void test_k8s_lines_feed_line_too_long(void **state)
{
    char big[200];
    collected_t got = {.n = 0};
    k8s_lines_t l;

    memset(big, 'x', sizeof big);
    big[sizeof big - 1] = '\n';
    k8s_lines_init(&l, 100);
    assert_int_equal(k8s_lines_feed(&l, big, sizeof big, collect, &got), -EMSGSIZE);
    k8s_lines_reset(&l);
    assert_int_equal(k8s_lines_feed(&l, big, 60, collect, &got), 0);
    assert_int_equal(k8s_lines_feed(&l, big, 60, collect, &got), -EMSGSIZE);
    assert_true(l.cap <= 100);
    k8s_lines_reset(&l);
    /* exactly at the limit is fine */
    big[100] = '\n';
    assert_int_equal(k8s_lines_feed(&l, big, 101, collect, &got), 0);
    assert_int_equal(got.n, 1);
    assert_int_equal(strlen(got.lines[0]), 100);
    collected_free(&got);
    k8s_lines_done(&l);
}

/* Proves a non-zero callback result stops the feed and is returned. */
static void test_k8s_lines_feed_callback_stops(void **state)
{
    collected_t got = {.n = 0, .stop_after = 1};
    k8s_lines_t l;

    k8s_lines_init(&l, 100);
    assert_int_equal(k8s_lines_feed(&l, "a\nb\nc\n", 6, collect, &got), 7);
    assert_int_equal(got.n, 1);
    collected_free(&got);
    k8s_lines_done(&l);
}

int main(void)
{
    const char *base = getenv("CKEDA_TEST_DATA");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_k8s_lines_feed_every_split_point),
        cmocka_unit_test(test_k8s_lines_feed_byte_by_byte),
        cmocka_unit_test(test_k8s_lines_feed_every_pair_of_splits),
        cmocka_unit_test(test_k8s_lines_feed_line_too_long),
        cmocka_unit_test(test_k8s_lines_feed_callback_stops),
    };

    if (!base) {
        fprintf(stderr, "CKEDA_TEST_DATA is not set\n");
        return 1;
    }
    snprintf(data_dir, sizeof data_dir, "%s/k8s", base);
    return cmocka_run_group_tests_name("k8s_lines", tests, NULL, NULL);
}
