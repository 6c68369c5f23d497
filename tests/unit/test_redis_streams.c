/*
 * Unit tests of the redis-streams scaler (scaleworker/scalers/redis_streams.c): KEDA's
 * parameters, defaults and mode selection, the metric spec the watcher builds
 * (common/scaler_spec.c), and what the scaler makes of real redis replies: XPENDING's count,
 * the lag of a group in XINFO GROUPS (a null lag, a group not listed), the version check on
 * INFO, and the walk over array elements the reader offers for them (resp.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sw_fixture.h"

#include "common/scaler_spec.h"
#include "scaleworker/scalers/redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    sw_fx_t fx; /* first: the trigger's parameters (sw_fx_setup) */
    sw_rstream_cfg_t cfg;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f;

    if (sw_fx_setup(state, sizeof *f) < 0)
        return -1;
    f = *state;
    sw_fx_md(&f->fx, "address", "redis.apps:6379");
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    sw_rstream_cfg_free(&f->cfg);
    return sw_fx_teardown(state);
}

static int run(fixture_t *f)
{
    sw_params_t p = sw_fx_params(&f->fx);

    sw_rstream_cfg_free(&f->cfg);
    f->fx.err[0] = '\0';
    return sw_rstream_cfg_parse(&p, &f->cfg, f->fx.err, sizeof f->fx.err);
}

static void expect_error(fixture_t *f, const char *want)
{
    sw_fx_expect_error(run(f), f->fx.err, want);
}

/* Proves KEDA's defaults: XLEN mode without a consumerGroup, targets 5, activation 0, the
 * connection parsed as the redis scaler's. */
static void test_sw_rstream_cfg_parse_defaults(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "stream", " orders ");
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.stream, "orders");
    assert_int_equal(f->cfg.stream_len, 6);
    assert_null(f->cfg.group);
    assert_int_equal(f->cfg.mode, SW_RSTREAM_LENGTH);
    assert_int_equal(f->cfg.stream_length, 5);
    assert_int_equal(f->cfg.pending_entries_count, 5);
    assert_int_equal(f->cfg.lag_count, 0);
    assert_int_equal(f->cfg.activation_lag_count, 0);
    assert_string_equal(f->cfg.conn.host, "redis.apps");
    assert_string_equal(f->cfg.conn.port, "6379");
    assert_null(f->cfg.conn.password);
}

/* Proves KEDA's Validate: a consumerGroup selects XPENDING, unless lagCount is non-zero (then
 * the lag); lagCount "0" is the pending mode. */
static void test_sw_rstream_cfg_parse_modes(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "stream", "s");
    sw_fx_md(&f->fx, "consumerGroup", "g");
    sw_fx_md(&f->fx, "pendingEntriesCount", "7");
    assert_int_equal(run(f), 0);
    assert_int_equal(f->cfg.mode, SW_RSTREAM_PENDING);
    assert_string_equal(f->cfg.group, "g");
    assert_int_equal(f->cfg.pending_entries_count, 7);
    sw_fx_md(&f->fx, "lagCount", "0");
    assert_int_equal(run(f), 0);
    assert_int_equal(f->cfg.mode, SW_RSTREAM_PENDING);
    sw_fx_md(&f->fx, "lagCount", "12");
    sw_fx_md(&f->fx, "activationLagCount", "3");
    assert_int_equal(run(f), 0);
    assert_int_equal(f->cfg.mode, SW_RSTREAM_LAG);
    assert_int_equal(f->cfg.lag_count, 12);
    assert_int_equal(f->cfg.activation_lag_count, 3);
    sw_fx_md(&f->fx, "consumerGroup", "  "); /* blank is absent */
    assert_int_equal(run(f), 0);
    assert_int_equal(f->cfg.mode, SW_RSTREAM_LENGTH);
}

/* Proves the errors name their field: stream missing, integers as json.Unmarshal reads them,
 * the connection's errors and its credentials from a TriggerAuthentication. */
static void test_sw_rstream_cfg_parse_errors_and_auth(void **state)
{
    fixture_t *f = *state;

    expect_error(f, "metadata.stream: missing required parameter");
    sw_fx_md(&f->fx, "stream", "s");
    sw_fx_md(&f->fx, "streamLength", "1.5");
    expect_error(f, "metadata.streamLength: \"1.5\" is not an integer");
    sw_fx_md(&f->fx, "streamLength", "10");
    sw_fx_md(&f->fx, "activationLagCount", "x");
    expect_error(f, "metadata.activationLagCount: \"x\" is not a number");
    sw_fx_md(&f->fx, "activationLagCount", "1");
    sw_fx_md(&f->fx, "databaseIndex", "two");
    expect_error(f, "metadata.databaseIndex");
    sw_fx_md(&f->fx, "databaseIndex", "2");
    sw_fx_md(&f->fx, "enableTLS", "true");
    expect_error(f, "metadata.enableTLS: TLS connections to redis are not supported");
    sw_fx_md(&f->fx, "enableTLS", NULL);
    sw_fx_md(&f->fx, "address", NULL);
    expect_error(f, "metadata.address: no addresses or hosts given");
    sw_fx_auth(&f->fx, "address", "auth.host:6380");
    sw_fx_auth(&f->fx, "password", "from-secret");
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.conn.host, "auth.host");
    assert_string_equal(f->cfg.conn.password, "from-secret");
    assert_int_equal(f->cfg.conn.database_index, 2);
    assert_int_equal(f->cfg.stream_length, 10);
}

static int spec(fixture_t *f, uint32_t index, scaler_spec_t *s, errtext_t *e)
{
    return scaler_spec_build("redis-streams", index, f->fx.md, s, e);
}

/* Proves the metric name `sN-redis-streams-<stream>` (normalized) and the target of each mode,
 * as KEDA's GetMetricSpecForScaling. */
static void test_scaler_spec_build_redis_streams(void **state)
{
    fixture_t *f = *state;
    scaler_spec_t s;
    errtext_t e;

    sw_fx_md(&f->fx, "stream", "my.stream:1");
    assert_int_equal(spec(f, 2, &s, &e), 0);
    assert_string_equal(s.metric_name, "s2-redis-streams-my-stream-1");
    assert_true(s.target == 5 && s.activation == 0);
    sw_fx_md(&f->fx, "streamLength", "9");
    sw_fx_md(&f->fx, "activationLagCount", "4");
    assert_int_equal(spec(f, 0, &s, &e), 0);
    assert_true(s.target == 9 && s.activation == 4);
    sw_fx_md(&f->fx, "consumerGroup", "g");
    assert_int_equal(spec(f, 0, &s, &e), 0);
    assert_true(s.target == 5); /* pendingEntriesCount's default */
    sw_fx_md(&f->fx, "pendingEntriesCount", "3");
    assert_int_equal(spec(f, 0, &s, &e), 0);
    assert_true(s.target == 3);
    sw_fx_md(&f->fx, "lagCount", "20");
    assert_int_equal(spec(f, 0, &s, &e), 0);
    assert_true(s.target == 20 && s.activation == 4);
    sw_fx_md(&f->fx, "stream", NULL);
    assert_int_equal(spec(f, 0, &s, &e), -EINVAL);
    assert_non_null(strstr(e.text, "metadata.stream"));
}

/* Parses one reply from text (kept alive by the caller). */
static sw_resp_reply_t reply(const char *text)
{
    sw_resp_reply_t rep;
    size_t used;

    assert_int_equal(sw_resp_parse(text, strlen(text), &rep, &used), 0);
    assert_int_equal(used, strlen(text));
    return rep;
}

/* Proves the array walk: elements in order, nested arrays walked the same way, nothing after
 * the last. */
static void test_sw_resp_array_next_walks_elements(void **state)
{
    const char *text = "*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n+x\r\n";
    sw_resp_reply_t arr = reply(text), el, in;
    size_t off = 0, off2 = 0;

    assert_int_equal(sw_resp_array_next(&arr, &off, &el), 1);
    assert_true(el.type == SW_RESP_INTEGER && el.integer == 1);
    assert_int_equal(sw_resp_array_next(&arr, &off, &el), 1);
    assert_int_equal(el.type, SW_RESP_ARRAY);
    assert_int_equal(sw_resp_array_next(&el, &off2, &in), 1);
    assert_true(in.type == SW_RESP_BULK && in.len == 1 && in.str[0] == 'a');
    assert_int_equal(sw_resp_array_next(&el, &off2, &in), 1);
    assert_int_equal(in.type, SW_RESP_NIL);
    assert_int_equal(sw_resp_array_next(&el, &off2, &in), 0);
    assert_int_equal(sw_resp_array_next(&arr, &off, &el), 1);
    assert_int_equal(el.type, SW_RESP_STATUS);
    assert_int_equal(sw_resp_array_next(&arr, &off, &el), 0);
    sw_resp_reply_t empty = reply("*0\r\n");
    off = 0;
    assert_int_equal(sw_resp_array_next(&empty, &off, &el), 0);
}

/* XINFO GROUPS of redis 7 (RESP2): two groups, the second with a null lag. */
#define GROUP(name, lag)                                                                           \
    "*12\r\n$4\r\nname\r\n$" name "\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:2\r\n"           \
    "$17\r\nlast-delivered-id\r\n$3\r\n1-0\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n" lag

/* Proves the group's lag is read by name, a null lag is -1 (go-redis), a group not listed is 0
 * (the caller then uses XLEN) and a malformed reply is refused. */
static void test_sw_rstream_group_lag(void **state)
{
    const char *text = "*2\r\n" GROUP("1\r\na", ":4\r\n") GROUP("5\r\nother", "$-1\r\n");
    sw_resp_reply_t groups = reply(text);
    int64_t lag = 99;

    assert_int_equal(sw_rstream_group_lag(&groups, "a", 1, &lag), 1);
    assert_int_equal(lag, 4);
    assert_int_equal(sw_rstream_group_lag(&groups, "other", 5, &lag), 1);
    assert_int_equal(lag, -1);
    lag = 99;
    assert_int_equal(sw_rstream_group_lag(&groups, "oth", 3, &lag), 0);
    assert_int_equal(lag, 99);
    sw_resp_reply_t none = reply("*0\r\n");
    assert_int_equal(sw_rstream_group_lag(&none, "a", 1, &lag), 0);
    sw_resp_reply_t odd = reply("*1\r\n*1\r\n$4\r\nname\r\n");
    assert_int_equal(sw_rstream_group_lag(&odd, "a", 1, &lag), -EPROTO);
    sw_resp_reply_t bad_lag =
        reply("*1\r\n*4\r\n$4\r\nname\r\n$1\r\na\r\n$3\r\nlag\r\n$1\r\n3\r\n");
    assert_int_equal(sw_rstream_group_lag(&bad_lag, "a", 1, &lag), -EPROTO);
    sw_resp_reply_t not_array = reply(":3\r\n");
    assert_int_equal(sw_rstream_group_lag(&not_array, "a", 1, &lag), -EPROTO);
}

/* Proves XPENDING's summary count, with and without pending entries. */
static void test_sw_rstream_pending_count(void **state)
{
    sw_resp_reply_t some =
        reply("*4\r\n:3\r\n$3\r\n1-0\r\n$3\r\n3-0\r\n*1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n");
    sw_resp_reply_t none = reply("*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n");
    sw_resp_reply_t short_ = reply("*1\r\n:3\r\n");
    int64_t n = -5;

    assert_int_equal(sw_rstream_pending_count(&some, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(sw_rstream_pending_count(&none, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sw_rstream_pending_count(&short_, &n), -EPROTO);
}

/* Proves KEDA's version check on INFO: major 7 or later passes, older is KEDA's error, a
 * missing or unparsable version is KEDA's other errors. */
static void test_sw_rstream_version(void **state)
{
    const char *info7 = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n";
    const char *info6 = "# Server\r\nredis_version:6.2.6\r\n";
    const char *why = NULL;
    int64_t major = 0;

    assert_int_equal(sw_rstream_version(info7, strlen(info7), &major, &why), 0);
    assert_int_equal(major, 7);
    assert_int_equal(sw_rstream_version(info6, strlen(info6), &major, &why), -EINVAL);
    assert_string_equal(why, "redis version 7+ required for lag");
    assert_int_equal(sw_rstream_version("# Server\r\nos:Linux\r\n", 20, &major, &why), -EINVAL);
    assert_string_equal(why, "could not find Redis version number");
    assert_int_equal(sw_rstream_version("redis_version:x.1\r\n", 19, &major, &why), -EINVAL);
    assert_string_equal(why, "redis version could not be converted to number");
    assert_int_equal(sw_rstream_version("redis_version:8\n", 16, &major, &why), 0);
    assert_int_equal(major, 8);
}

/* Proves the vtable entry parses and closes a valid trigger and reports field errors. */
static void test_sw_redis_streams_vtable(void **state)
{
    fixture_t *f = *state;
    const sw_scaler_t *s = sw_scaler_find("redis-streams");
    sw_params_t p = {.metadata = f->fx.md};
    void *st = NULL;

    assert_non_null(s);
    assert_int_equal(s->parse(&p, &st, f->fx.err, sizeof f->fx.err), -EINVAL);
    assert_null(st);
    assert_non_null(strstr(f->fx.err, "metadata.stream"));
    sw_fx_md(&f->fx, "stream", "s");
    sw_fx_md(&f->fx, "consumerGroup", "g");
    sw_fx_md(&f->fx, "lagCount", "5");
    sw_fx_md(&f->fx, "password", "pw");
    assert_int_equal(s->parse(&p, &st, f->fx.err, sizeof f->fx.err), 0);
    assert_non_null(st);
    s->close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sw_rstream_cfg_parse_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_rstream_cfg_parse_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_rstream_cfg_parse_errors_and_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scaler_spec_build_redis_streams, setup, teardown),
        cmocka_unit_test(test_sw_resp_array_next_walks_elements),
        cmocka_unit_test(test_sw_rstream_group_lag),
        cmocka_unit_test(test_sw_rstream_pending_count),
        cmocka_unit_test(test_sw_rstream_version),
        cmocka_unit_test_setup_teardown(test_sw_redis_streams_vtable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
