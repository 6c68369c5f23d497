/*
 * Unit tests of the redis scaler's RESP reader and command writer (scaleworker/scalers/resp.c):
 * every reply shape a redis server sends us, each cut at every split point (what a
 * non-blocking socket delivers), and the malformed or oversized replies that must be refused
 * rather than read past.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scaleworker/scalers/resp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses text from a buffer of exactly its size (so ASan sees any overread). */
static int parse(const char *text, size_t len, sw_resp_reply_t *rep, size_t *used)
{
    char *buf = malloc(len ? len : 1);
    int r;

    memcpy(buf, text, len);
    r = sw_resp_parse(buf, len, rep, used);
    if (r == 0 && rep->str) /* point into the caller's copy, which outlives buf */
        rep->str = text + (rep->str - buf);
    free(buf);
    return r;
}

/* Every proper prefix is incomplete; the whole is one reply of its full length. */
static void expect_complete(const char *text, sw_resp_reply_t *rep)
{
    size_t len = strlen(text), used = 0;

    for (size_t k = 0; k < len; k++)
        assert_int_equal(parse(text, k, rep, &used), -EAGAIN);
    assert_int_equal(parse(text, len, rep, &used), 0);
    assert_int_equal(used, len);
}

/* Proves status, error and integer replies parse at every split point with their content. */
static void test_sw_resp_parse_scalars_every_split(void **state)
{
    sw_resp_reply_t rep;

    expect_complete("+OK\r\n", &rep);
    assert_int_equal(rep.type, SW_RESP_STATUS);
    assert_int_equal(rep.len, 2);
    assert_memory_equal(rep.str, "OK", 2);
    expect_complete("-WRONGPASS invalid username-password pair\r\n", &rep);
    assert_int_equal(rep.type, SW_RESP_ERROR);
    assert_memory_equal(rep.str, "WRONGPASS", 9);
    expect_complete(":0\r\n", &rep);
    assert_int_equal(rep.type, SW_RESP_INTEGER);
    assert_int_equal(rep.integer, 0);
    expect_complete(":-9223372036854775808\r\n", &rep);
    assert_true(rep.integer == INT64_MIN);
    expect_complete(":9223372036854775807\r\n", &rep);
    assert_true(rep.integer == INT64_MAX);
    expect_complete("+\r\n", &rep);
    assert_int_equal(rep.len, 0);
}

/* Proves bulk strings (with CR/LF inside), null bulk and arrays parse at every split point. */
static void test_sw_resp_parse_bulk_and_arrays_every_split(void **state)
{
    sw_resp_reply_t rep;

    expect_complete("$6\r\na\r\nb\r\n\r\n", &rep);
    assert_int_equal(rep.type, SW_RESP_BULK);
    assert_int_equal(rep.len, 6);
    assert_memory_equal(rep.str, "a\r\nb\r\n", 6);
    expect_complete("$0\r\n\r\n", &rep);
    assert_int_equal(rep.len, 0);
    expect_complete("$-1\r\n", &rep);
    assert_int_equal(rep.type, SW_RESP_NIL);
    expect_complete("*-1\r\n", &rep);
    assert_int_equal(rep.type, SW_RESP_NIL);
    expect_complete("*0\r\n", &rep);
    assert_int_equal(rep.type, SW_RESP_ARRAY);
    assert_int_equal(rep.integer, 0);
    expect_complete("*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n$-1\r\n", &rep);
    assert_int_equal(rep.type, SW_RESP_ARRAY);
    assert_int_equal(rep.integer, 3);
}

/* Proves a pipeline (TYPE then LLEN replies in one read) yields the replies one by one. */
static void test_sw_resp_parse_pipeline_in_order(void **state)
{
    const char *text = "+list\r\n:7\r\n-ERR x\r\n";
    sw_resp_reply_t rep;
    size_t used, off = 0;

    assert_int_equal(sw_resp_parse(text, strlen(text), &rep, &used), 0);
    assert_int_equal(rep.type, SW_RESP_STATUS);
    off += used;
    assert_int_equal(sw_resp_parse(text + off, strlen(text) - off, &rep, &used), 0);
    assert_int_equal(rep.type, SW_RESP_INTEGER);
    assert_int_equal(rep.integer, 7);
    off += used;
    assert_int_equal(sw_resp_parse(text + off, strlen(text) - off, &rep, &used), 0);
    assert_int_equal(rep.type, SW_RESP_ERROR);
    assert_int_equal(off + used, strlen(text));
}

/* Proves malformed replies are refused (-EPROTO), never guessed at. */
static void test_sw_resp_parse_malformed(void **state)
{
    static const char *const bad[] = {"+OK\n",
                                      "+O\rK\r\n",
                                      "?what\r\n",
                                      ":\r\n",
                                      ":12a\r\n",
                                      ":+1\r\n",
                                      ":-\r\n",
                                      ":1 \r\n",
                                      "$3\r\nabcd\r\n",
                                      "$3\r\nabc\n\n",
                                      "$-2\r\n",
                                      "*-2\r\n",
                                      "$x\r\n",
                                      "*1\r\n?\r\n",
                                      ":9223372036854775808\r\n",
                                      ":-9223372036854775809\r\n",
                                      ":12345678901234567890\r\n",
                                      "\0\r\n"};
    sw_resp_reply_t rep;
    size_t used;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = i == sizeof bad / sizeof bad[0] - 1 ? 3 : strlen(bad[i]);
        int r = parse(bad[i], len, &rep, &used);
        if (r != -EPROTO)
            fail_msg("reply %zu (%s) gave %d, not -EPROTO", i, bad[i], r);
    }
}

/* Proves the bounds: a header line without CRLF, a huge bulk, a huge array and deep nesting
 * are refused (-EMSGSIZE) before their bytes arrive, so a hostile server cannot make us wait
 * for or buffer them. */
static void test_sw_resp_parse_bounds(void **state)
{
    char *line = malloc(SW_RESP_LINE_MAX + 8), deep[8 * (SW_RESP_DEPTH_MAX + 2) + 8] = "";
    char hdr[64];
    sw_resp_reply_t rep;
    size_t used;

    line[0] = '+';
    memset(line + 1, 'x', SW_RESP_LINE_MAX + 6);
    assert_int_equal(parse(line, SW_RESP_LINE_MAX + 7, &rep, &used), -EMSGSIZE);
    assert_int_equal(parse(line, SW_RESP_LINE_MAX - 1, &rep, &used), -EAGAIN);
    memcpy(line + SW_RESP_LINE_MAX - 2, "\r\n", 2); /* the longest line that fits */
    assert_int_equal(parse(line, SW_RESP_LINE_MAX, &rep, &used), 0);
    free(line);
    snprintf(hdr, sizeof hdr, "$%d\r\n", SW_RESP_BULK_MAX + 1);
    assert_int_equal(parse(hdr, strlen(hdr), &rep, &used), -EMSGSIZE);
    snprintf(hdr, sizeof hdr, "*%d\r\n", SW_RESP_ELEMS_MAX + 1);
    assert_int_equal(parse(hdr, strlen(hdr), &rep, &used), -EMSGSIZE);
    for (int i = 0; i < SW_RESP_DEPTH_MAX + 2; i++)
        strcat(deep, "*1\r\n");
    strcat(deep, ":1\r\n");
    assert_int_equal(parse(deep, strlen(deep), &rep, &used), -EMSGSIZE);
}

/* Proves commands are framed as arrays of bulk strings (binary-safe keys) and that a command
 * that does not fit is refused whole. */
static void test_sw_resp_command_framing(void **state)
{
    const char *argv[] = {"LLEN", "a b\r\n"};
    const size_t argl[] = {4, 5};
    char out[64];
    long n;

    n = sw_resp_command(out, 0, sizeof out, 2, argv, argl);
    assert_int_equal(n, strlen("*2\r\n$4\r\nLLEN\r\n$5\r\na b\r\n\r\n"));
    assert_memory_equal(out, "*2\r\n$4\r\nLLEN\r\n$5\r\na b\r\n\r\n", (size_t)n);
    assert_int_equal(sw_resp_command(out, (size_t)n, sizeof out, 2, argv, argl), 2 * n);
    assert_int_equal(sw_resp_command(out, 0, 20, 2, argv, argl), -EMSGSIZE);
    assert_int_equal(sw_resp_command(out, 64, 64, 1, argv, argl), -EMSGSIZE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sw_resp_parse_scalars_every_split),
        cmocka_unit_test(test_sw_resp_parse_bulk_and_arrays_every_split),
        cmocka_unit_test(test_sw_resp_parse_pipeline_in_order),
        cmocka_unit_test(test_sw_resp_parse_malformed),
        cmocka_unit_test(test_sw_resp_parse_bounds),
        cmocka_unit_test(test_sw_resp_command_framing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
