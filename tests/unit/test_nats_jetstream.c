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

#include "common/scaler_spec.h"
#include "scaleworker/scalers/nats_jetstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    cJSON *md;
    sw_auth_params_t auth;
    sw_auth_param_t av[8];
    bool has_auth;
    sw_nj_cfg_t cfg;
    char err[512];
} fixture_t;

static void md(fixture_t *f, const char *k, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(f->md, k);
    if (v)
        cJSON_AddStringToObject(f->md, k, v);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);

    f->md = cJSON_CreateObject();
    f->auth.v = f->av;
    md(f, "natsServerMonitoringEndpoint", "nats.apps:8222");
    md(f, "account", "$G");
    md(f, "stream", "ORDERS");
    md(f, "consumer", "worker");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    sw_nj_cfg_free(&f->cfg);
    cJSON_Delete(f->md);
    free(f);
    return 0;
}

static int run(fixture_t *f)
{
    sw_params_t p = {.metadata = f->md, .auth = f->has_auth ? &f->auth : NULL};

    sw_nj_cfg_free(&f->cfg);
    f->err[0] = '\0';
    return sw_nj_cfg_parse(&p, &f->cfg, f->err, sizeof f->err);
}

static void expect_error(fixture_t *f, const char *want)
{
    assert_int_equal(run(f), -EINVAL);
    if (!strstr(f->err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", f->err, want);
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
    md(f, "useHttps", "true");
    md(f, "lagThreshold", "25");
    md(f, "activationLagThreshold", "3");
    md(f, "accountID", "ACC ID");
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

    f->av[f->auth.n++] = (sw_auth_param_t){"natsServerMonitoringEndpoint", "secret.host:9"};
    f->av[f->auth.n++] = (sw_auth_param_t){"accountID", "AID"};
    f->has_auth = true;
    md(f, "account", NULL);
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.endpoint, "secret.host:9");
    assert_string_equal(f->cfg.account, "");
    assert_string_equal(f->cfg.account_id, "AID");
}

/* Proves each field error names its field. */
static void test_sw_nj_cfg_parse_errors(void **state)
{
    fixture_t *f = *state;

    md(f, "account", NULL);
    expect_error(f, "no account name or id given");
    md(f, "account", "$G");
    md(f, "stream", NULL);
    expect_error(f, "stream");
    md(f, "stream", "S");
    md(f, "consumer", " ");
    expect_error(f, "consumer");
    md(f, "consumer", "c");
    md(f, "lagThreshold", "1.5");
    expect_error(f, "metadata.lagThreshold: \"1.5\" is not an integer");
    md(f, "lagThreshold", "99999999999999999999");
    expect_error(f, "metadata.lagThreshold");
    md(f, "lagThreshold", "5");
    md(f, "useHttps", "maybe");
    expect_error(f, "useHttps");
    md(f, "useHttps", "0");
    md(f, "natsServerMonitoringEndpoint", NULL);
    expect_error(f, "natsServerMonitoringEndpoint");
    md(f, "natsServerMonitoringEndpoint", "http://host:8222");
    expect_error(f, "natsServerMonitoringEndpoint: must be host:port");
}

/* Proves the metric name `sN-nats-jetstream-<stream>` and KEDA's target and activation. */
static void test_scaler_spec_build_nats_jetstream(void **state)
{
    fixture_t *f = *state;
    scaler_spec_t s;
    errtext_t e;

    md(f, "stream", "orders.v1");
    assert_int_equal(scaler_spec_build("nats-jetstream", 1, f->md, &s, &e), 0);
    assert_string_equal(s.metric_name, "s1-nats-jetstream-orders-v1");
    assert_true(s.target == 10 && s.activation == 0);
    md(f, "lagThreshold", "4");
    md(f, "activationLagThreshold", "2");
    assert_int_equal(scaler_spec_build("nats-jetstream", 0, f->md, &s, &e), 0);
    assert_true(s.target == 4 && s.activation == 2);
    md(f, "consumer", NULL);
    assert_int_equal(scaler_spec_build("nats-jetstream", 0, f->md, &s, &e), -EINVAL);
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
    return sw_jsz_extract(body, strlen(body), &f->cfg, j, f->err, sizeof f->err);
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
    md(f, "account", "OTHERACC");
    assert_int_equal(run(f), 0);
    assert_int_equal(extract(f, jsz_two, &j), 0);
    assert_false(j.stream_found);
    md(f, "consumer", "gone");
    md(f, "account", "$G");
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
        assert_non_null(strstr(f->err, "unable to decode NATS JetStream account details"));
    }
}

static int step(fixture_t *f, sw_nj_state_t *st, const char *body, double *v)
{
    sw_jsz_t j;

    assert_int_equal(extract(f, body, &j), 0);
    return sw_nj_step(st, &j, &f->cfg, v, f->err, sizeof f->err);
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
    assert_string_equal(f->err, "consumer \"worker\" not found in stream \"ORDERS\"");
    assert_int_equal(step(f, &st, jsz_two, &v), 0);
    assert_true(v == 8);
    assert_int_equal(step(f, &st, jsz_two, &v), 0);
    assert_true(v == 8);
    assert_int_equal(step(f, &st, empty, &v), -EINVAL);
    assert_string_equal(f->err, "stream not found");
    assert_int_equal(step(f, &st, empty, &v), -EINVAL);
    assert_string_equal(f->err, "stream not found");
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
        assert_non_null(strstr(f->err, "cluster of 3 servers"));
    }
    assert_true(v == -1);
}

/* Proves the vtable entry parses and closes a valid trigger. */
static void test_sw_nats_jetstream_vtable(void **state)
{
    fixture_t *f = *state;
    const sw_scaler_t *s = sw_scaler_find("nats-jetstream");
    sw_params_t p = {.metadata = f->md};
    void *st = NULL;

    assert_non_null(s);
    assert_int_equal(s->parse(&p, &st, f->err, sizeof f->err), 0);
    assert_non_null(st);
    s->close(st);
    md(f, "stream", NULL);
    assert_int_equal(s->parse(&p, &st, f->err, sizeof f->err), -EINVAL);
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
