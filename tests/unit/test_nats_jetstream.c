/*
 * Unit tests of the nats-jetstream scaler (scaleworker/scalers/nats_jetstream.c): KEDA's
 * parameters (sources, defaults, errors), the /jsz URL, the metric spec the watcher builds
 * (common/scaler_spec.c), the value from /jsz answers shaped as nats-server 2.9 writes them,
 * and KEDA's state between polls (which error a missing stream or consumer gives, and the
 * clustered servers ckeda leaves out).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sw_fixture.h"

#include "common/scaler_spec.h"
#include "scaleworker/scalers/nats_jetstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    sw_fx_t fx; /* first: the trigger's parameters (sw_fx_setup) */
    sw_nj_cfg_t cfg;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f;

    if (sw_fx_setup(state, sizeof *f) < 0)
        return -1;
    f = *state;
    sw_fx_md(&f->fx, "natsServerMonitoringEndpoint", "nats.apps:8222");
    sw_fx_md(&f->fx, "account", "$G");
    sw_fx_md(&f->fx, "stream", "ORDERS");
    sw_fx_md(&f->fx, "consumer", "worker");
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    sw_nj_cfg_free(&f->cfg);
    return sw_fx_teardown(state);
}

static int run(fixture_t *f)
{
    sw_params_t p = sw_fx_params(&f->fx);

    sw_nj_cfg_free(&f->cfg);
    f->fx.err[0] = '\0';
    return sw_nj_cfg_parse(&p, &f->cfg, f->fx.err, sizeof f->fx.err);
}

static void expect_error(fixture_t *f, const char *want)
{
    sw_fx_expect_error(run(f), f->fx.err, want);
}

/* Proves KEDA's defaults and the URL it asks (url.Values.Encode: sorted, escaped). */
static void test_sw_nj_cfg_parse_defaults_and_url(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(run(f), 0);
    assert_int_equal(f->cfg.lag_threshold, 10);
    assert_int_equal(f->cfg.activation_lag_threshold, 0);
    assert_false(f->cfg.use_https);
    assert_string_equal(f->cfg.account_id, "$G"); /* accountID defaults to account */
    assert_string_equal(f->cfg.url,
                        "http://nats.apps:8222/jsz?acc=%24G&config=true&consumers=true");
    sw_fx_md(&f->fx, "useHttps", "true");
    sw_fx_md(&f->fx, "lagThreshold", "25");
    sw_fx_md(&f->fx, "activationLagThreshold", "3");
    sw_fx_md(&f->fx, "accountID", "ACC ID");
    assert_int_equal(run(f), 0);
    assert_int_equal(f->cfg.lag_threshold, 25);
    assert_int_equal(f->cfg.activation_lag_threshold, 3);
    assert_string_equal(f->cfg.url,
                        "https://nats.apps:8222/jsz?acc=ACC+ID&config=true&consumers=true");
    assert_string_equal(f->cfg.account, "$G");
}

/* Proves the sources: endpoint and account from the authentication before the metadata;
 * accountID alone leaves account empty. */
static void test_sw_nj_cfg_parse_auth_first(void **state)
{
    fixture_t *f = *state;

    sw_fx_auth(&f->fx, "natsServerMonitoringEndpoint", "secret.host:9");
    sw_fx_auth(&f->fx, "accountID", "AID");
    sw_fx_md(&f->fx, "account", NULL);
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.endpoint, "secret.host:9");
    assert_string_equal(f->cfg.account, "");
    assert_string_equal(f->cfg.account_id, "AID");
}

/* Proves each field error names its field. */
static void test_sw_nj_cfg_parse_errors(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "account", NULL);
    expect_error(f, "no account name or id given");
    sw_fx_md(&f->fx, "account", "$G");
    sw_fx_md(&f->fx, "stream", NULL);
    expect_error(f, "stream");
    sw_fx_md(&f->fx, "stream", "S");
    sw_fx_md(&f->fx, "consumer", " ");
    expect_error(f, "consumer");
    sw_fx_md(&f->fx, "consumer", "c");
    sw_fx_md(&f->fx, "lagThreshold", "1.5");
    expect_error(f, "metadata.lagThreshold: \"1.5\" is not an integer");
    sw_fx_md(&f->fx, "lagThreshold", "99999999999999999999");
    expect_error(f, "metadata.lagThreshold");
    sw_fx_md(&f->fx, "lagThreshold", "5");
    sw_fx_md(&f->fx, "useHttps", "maybe");
    expect_error(f, "useHttps");
    sw_fx_md(&f->fx, "useHttps", "0");
    sw_fx_md(&f->fx, "natsServerMonitoringEndpoint", NULL);
    expect_error(f, "natsServerMonitoringEndpoint");
    sw_fx_md(&f->fx, "natsServerMonitoringEndpoint", "http://host:8222");
    expect_error(f, "natsServerMonitoringEndpoint: must be host:port");
}

/* Proves the metric name `sN-nats-jetstream-<stream>` and KEDA's target and activation. */
static void test_scaler_spec_build_nats_jetstream(void **state)
{
    fixture_t *f = *state;
    scaler_spec_t s;
    errtext_t e;

    sw_fx_md(&f->fx, "stream", "orders.v1");
    assert_int_equal(scaler_spec_build("nats-jetstream", 1, f->fx.md, &s, &e), 0);
    assert_string_equal(s.metric_name, "s1-nats-jetstream-orders-v1");
    assert_true(s.target == 10 && s.activation == 0);
    sw_fx_md(&f->fx, "lagThreshold", "4");
    sw_fx_md(&f->fx, "activationLagThreshold", "2");
    assert_int_equal(scaler_spec_build("nats-jetstream", 0, f->fx.md, &s, &e), 0);
    assert_true(s.target == 4 && s.activation == 2);
    sw_fx_md(&f->fx, "consumer", NULL);
    assert_int_equal(scaler_spec_build("nats-jetstream", 0, f->fx.md, &s, &e), -EINVAL);
    assert_non_null(strstr(e.text, "metadata.consumer"));
}

/* A /jsz answer of nats-server 2.9 (standalone): account $G with two streams. */
static const char jsz_two[] =
    "{\"server_id\":\"NABC\",\"now\":\"2026-01-01T00:00:00Z\",\"config\":{},\"streams\":2,"
    "\"account_details\":[{\"name\":\"$G\",\"id\":\"$G\",\"memory\":0,\"stream_detail\":["
    "{\"name\":\"OTHER\",\"consumer_detail\":[{\"stream_name\":\"OTHER\",\"name\":\"worker\","
    "\"num_pending\":100,\"num_ack_pending\":100,\"cluster\":{\"leader\":\"srv\"}}]},"
    "{\"name\":\"ORDERS\",\"config\":{\"subjects\":[\"orders.>\"]},\"state\":{\"messages\":9},"
    "\"consumer_detail\":[{\"stream_name\":\"ORDERS\",\"name\":\"idle\",\"num_pending\":1},"
    "{\"stream_name\":\"ORDERS\",\"name\":\"worker\",\"num_pending\":6,\"num_ack_pending\":"
    "2,\"num_waiting\":0,\"cluster\":{\"leader\":\"srv\"}}]}]}]}";

static int extract(fixture_t *f, const char *body, sw_jsz_t *j)
{
    return sw_jsz_extract(body, strlen(body), &f->cfg, j, f->fx.err, sizeof f->fx.err);
}

/* Proves the value is num_pending + num_ack_pending of the consumer of the named stream in the
 * matching account, by id or by name; other accounts are not looked at. */
static void test_sw_jsz_extract_value(void **state)
{
    fixture_t *f = *state;
    sw_jsz_t j;

    assert_int_equal(run(f), 0);
    assert_int_equal(extract(f, jsz_two, &j), 0);
    assert_true(j.stream_found && j.consumer_found);
    assert_int_equal(j.pending, 8);
    assert_string_equal(j.leader, "srv");
    assert_int_equal(j.cluster_size, 0);
    sw_fx_md(&f->fx, "account", "OTHERACC");
    assert_int_equal(run(f), 0);
    assert_int_equal(extract(f, jsz_two, &j), 0);
    assert_false(j.stream_found);
    sw_fx_md(&f->fx, "consumer", "gone");
    sw_fx_md(&f->fx, "account", "$G");
    assert_int_equal(run(f), 0);
    assert_int_equal(extract(f, jsz_two, &j), 0);
    assert_true(j.stream_found && !j.consumer_found);
    assert_int_equal(
        extract(f, "{\"account_details\":null,\"meta_cluster\":{\"cluster_size\":3}}", &j), 0);
    assert_true(!j.stream_found && j.cluster_size == 3);
}

/* Proves what KEDA's json decoding refuses is an error, not a value. */
static void test_sw_jsz_extract_refuses_bad_answers(void **state)
{
    fixture_t *f = *state;
    static const char *const bad[] = {
        "404 page not found",
        "[1]",
        "{\"account_details\":{}}",
        "{\"account_details\":[{\"id\":\"$G\",\"stream_detail\":[{\"name\":\"ORDERS\","
        "\"consumer_detail\":[{\"name\":\"worker\",\"num_pending\":\"6\"}]}]}]}",
        "{\"account_details\":[{\"id\":\"$G\",\"stream_detail\":[{\"name\":\"ORDERS\","
        "\"consumer_detail\":[{\"name\":\"worker\",\"num_pending\":1.5}]}]}]}",
        "{\"meta_cluster\":7}",
    };
    sw_jsz_t j;

    assert_int_equal(run(f), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(extract(f, bad[i], &j), -EINVAL);
        assert_non_null(strstr(f->fx.err, "unable to decode NATS JetStream account details"));
    }
}

static int step(fixture_t *f, sw_nj_state_t *st, const char *body, double *v)
{
    sw_jsz_t j;

    assert_int_equal(extract(f, body, &j), 0);
    return sw_nj_step(st, &j, &f->cfg, v, f->fx.err, sizeof f->fx.err);
}

/* Proves KEDA's errors across polls: a consumer missing from the start is "consumer not found",
 * once found and then gone it is "stream not found" (the cached stream is invalidated), and a
 * stream appearing again gives its value. */
static void test_sw_nj_step_keda_state(void **state)
{
    fixture_t *f = *state;
    sw_nj_state_t st = {0};
    const char *empty = "{\"account_details\":[{\"name\":\"$G\",\"id\":\"$G\"}]}";
    double v = -1;

    assert_int_equal(run(f), 0);
    assert_int_equal(step(f, &st, empty, &v), -EINVAL);
    assert_string_equal(f->fx.err, "consumer \"worker\" not found in stream \"ORDERS\"");
    assert_int_equal(step(f, &st, jsz_two, &v), 0);
    assert_true(v == 8);
    assert_int_equal(step(f, &st, jsz_two, &v), 0);
    assert_true(v == 8);
    assert_int_equal(step(f, &st, empty, &v), -EINVAL);
    assert_string_equal(f->fx.err, "stream not found");
    assert_int_equal(step(f, &st, empty, &v), -EINVAL);
    assert_string_equal(f->fx.err, "stream not found");
    assert_int_equal(step(f, &st, jsz_two, &v), 0);
    assert_true(v == 8);
}

/* Proves a clustered server's answer is an error naming what ckeda leaves out, every time. */
static void test_sw_nj_step_cluster_left_out(void **state)
{
    fixture_t *f = *state;
    sw_nj_state_t st = {0};
    char body[sizeof jsz_two + 64];
    double v = -1;

    assert_int_equal(run(f), 0);
    snprintf(body, sizeof body, "{\"meta_cluster\":{\"cluster_size\":3},%s", jsz_two + 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(step(f, &st, body, &v), -EINVAL);
        assert_non_null(strstr(f->fx.err, "cluster of 3 servers"));
    }
    assert_true(v == -1);
}

/* Proves the vtable entry parses and closes a valid trigger. */
static void test_sw_nats_jetstream_vtable(void **state)
{
    fixture_t *f = *state;
    const sw_scaler_t *s = sw_scaler_find("nats-jetstream");
    sw_params_t p = {.metadata = f->fx.md};
    void *st = NULL;

    assert_non_null(s);
    assert_int_equal(s->parse(&p, &st, f->fx.err, sizeof f->fx.err), 0);
    assert_non_null(st);
    s->close(st);
    sw_fx_md(&f->fx, "stream", NULL);
    assert_int_equal(s->parse(&p, &st, f->fx.err, sizeof f->fx.err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sw_nj_cfg_parse_defaults_and_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_nj_cfg_parse_auth_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_nj_cfg_parse_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scaler_spec_build_nats_jetstream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_jsz_extract_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_jsz_extract_refuses_bad_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_nj_step_keda_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_nj_step_cluster_left_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_nats_jetstream_vtable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
