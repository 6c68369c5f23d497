/*
 * Unit tests of the redis scaler's parameters (scaleworker/scalers/redis_cfg.c): KEDA's names,
 * defaults, sources and their order (metadata, authentication, `<name>FromEnv`), trimming, and
 * one test per field error, each asserting that the message names the field and its source.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sw_fixture.h"

#include "scaleworker/scalers/redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    sw_fx_t fx; /* first: the trigger's parameters (sw_fx_setup) */
    sw_redis_cfg_t cfg;
} fixture_t;

static int setup(void **state)
{
    return sw_fx_setup(state, sizeof(fixture_t));
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    sw_redis_cfg_free(&f->cfg);
    return sw_fx_teardown(state);
}

static int run(fixture_t *f)
{
    sw_params_t p = sw_fx_params(&f->fx);

    sw_redis_cfg_free(&f->cfg);
    f->fx.err[0] = '\0';
    return sw_redis_cfg_parse(&p, &f->cfg, f->fx.err, sizeof f->fx.err);
}

static void expect_error(fixture_t *f, const char *want)
{
    sw_fx_expect_error(run(f), f->fx.err, want);
}

/* Proves KEDA's defaults: listLength 5, activation 0, database 0, no TLS, no credentials. */
static void test_sw_redis_cfg_parse_defaults(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "listName", "jobs");
    sw_fx_md(&f->fx, "address", "redis.apps.svc:6379");
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.list_name, "jobs");
    assert_int_equal(f->cfg.list_len, 4);
    assert_string_equal(f->cfg.conn.host, "redis.apps.svc");
    assert_string_equal(f->cfg.conn.port, "6379");
    assert_int_equal(f->cfg.list_length, 5);
    assert_int_equal(f->cfg.activation_list_length, 0);
    assert_int_equal(f->cfg.conn.database_index, 0);
    assert_false(f->cfg.conn.enable_tls);
    assert_null(f->cfg.conn.username);
    assert_null(f->cfg.conn.password);
}

/* Proves values are trimmed as KEDA trims them and the numeric fields are read. */
static void test_sw_redis_cfg_parse_trims_and_reads_numbers(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "listName", "  jobs\t");
    sw_fx_md(&f->fx, "address", " [::1]:6380 ");
    sw_fx_md(&f->fx, "listLength", " 12 ");
    sw_fx_md(&f->fx, "activationListLength", "-3");
    sw_fx_md(&f->fx, "databaseIndex", "2");
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.list_name, "jobs");
    assert_string_equal(f->cfg.conn.host, "::1");
    assert_string_equal(f->cfg.conn.port, "6380");
    assert_int_equal(f->cfg.list_length, 12);
    assert_int_equal(f->cfg.activation_list_length, -3);
    assert_int_equal(f->cfg.conn.database_index, 2);
}

/* Proves listName is required and that an empty or blank value counts as absent. */
static void test_sw_redis_cfg_parse_list_name_required(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "address", "r:1");
    expect_error(f, "metadata.listName: missing required parameter");
    sw_fx_md(&f->fx, "listName", "   ");
    expect_error(f, "metadata.listName: missing required parameter");
}

/* Proves each integer field's error names it, and integers follow Go's JSON grammar. */
static void test_sw_redis_cfg_parse_integer_errors(void **state)
{
    static const struct {
        const char *field, *value, *want;
    } cases[] = {
        {"listLength", "abc", "metadata.listLength: \"abc\" is not a number"},
        {"listLength", "1.5", "metadata.listLength: \"1.5\" is not an integer"},
        {"listLength", "05", "metadata.listLength: \"05\" is not an integer"},
        {"listLength", "99999999999999999999", "\"99999999999999999999\" is out of range"},
        {"activationListLength", "x", "metadata.activationListLength: \"x\" is not a number"},
        {"databaseIndex", "one", "metadata.databaseIndex: \"one\" is not a number"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture_t *f = *state;
        cJSON_Delete(f->fx.md);
        f->fx.md = cJSON_CreateObject();
        sw_fx_md(&f->fx, "listName", "q");
        sw_fx_md(&f->fx, "address", "r:1");
        sw_fx_md(&f->fx, cases[i].field, cases[i].value);
        expect_error(f, cases[i].want);
    }
}

/* Proves address errors name the field and source, and `addresses` is the same parameter. */
static void test_sw_redis_cfg_parse_address_errors(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "listName", "q");
    expect_error(f, "metadata.address: no addresses or hosts given");
    sw_fx_md(&f->fx, "address", "redis");
    expect_error(f, "metadata.address: \"redis\" missing port in address");
    sw_fx_md(&f->fx, "address", "a:b:1");
    expect_error(f, "too many colons in address");
    sw_fx_md(&f->fx, "address", ",r:1");
    expect_error(f, "no addresses or hosts given");
    sw_fx_md(&f->fx, "address", NULL);
    sw_fx_md(&f->fx, "addresses", "first:1, second:2");
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.conn.host, "first");
    assert_string_equal(f->cfg.conn.port, "1");
}

/* Proves host and port: both needed, equal counts, a numeric port; the address wins. */
static void test_sw_redis_cfg_parse_host_port(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "listName", "q");
    sw_fx_md(&f->fx, "host", "h1");
    expect_error(f, "no addresses or hosts given");
    sw_fx_md(&f->fx, "port", "x");
    expect_error(f, "metadata.port: \"x\" is not a port number");
    sw_fx_md(&f->fx, "port", "70000");
    expect_error(f, "metadata.port: \"70000\" is not a port number");
    sw_fx_md(&f->fx, "port", "6380");
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.conn.host, "h1");
    assert_string_equal(f->cfg.conn.port, "6380");
    sw_fx_md(&f->fx, "host", "h1,h2");
    expect_error(f, "metadata.host: not enough hosts or ports given");
    sw_fx_md(&f->fx, "host", "h1");
    sw_fx_md(&f->fx, "address", "a:1");
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.conn.host, "a");
}

/* Proves the sources' order: metadata before authentication for the address; metadata, then
 * FromEnv, then authentication for the password; an error names the source it came from. */
static void test_sw_redis_cfg_parse_sources(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "listName", "q");
    sw_fx_auth(&f->fx, "address", "from-auth");
    expect_error(f, "authentication.address: \"from-auth\" missing port in address");
    f->fx.av[0].value = "auth:7";
    sw_fx_auth(&f->fx, "password", "auth-pw");
    sw_fx_auth(&f->fx, "username", "auth-user");
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.conn.host, "auth");
    assert_string_equal(f->cfg.conn.password, "auth-pw");
    assert_string_equal(f->cfg.conn.username, "auth-user");
    sw_fx_md(&f->fx, "address", "meta:8");
    sw_fx_md(&f->fx, "password", "meta-pw");
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.conn.host, "meta");
    assert_string_equal(f->cfg.conn.password, "meta-pw");
}

/* Proves `<name>FromEnv` reads the scale target's environment in KEDA's order (password:
 * metadata, environment, authentication; address: metadata, authentication, environment), a
 * variable that is not set counts as absent, and an error points at `metadata.<name>FromEnv`. */
static void test_sw_redis_cfg_parse_from_env(void **state)
{
    fixture_t *f = *state;
    sw_auth_param_t ev[] = {{"REDIS_PASSWORD", "env-pw"}, {"REDIS_ADDR", "envhost"}};
    sw_auth_params_t env = {2, ev};
    sw_params_t p = {.metadata = f->fx.md, .auth = &f->fx.auth, .env = &env};

    sw_fx_md(&f->fx, "listName", "q");
    sw_fx_md(&f->fx, "address", "r:1");
    sw_fx_md(&f->fx, "passwordFromEnv", "REDIS_PASSWORD");
    sw_fx_auth(&f->fx, "password", "auth-pw");
    assert_int_equal(sw_redis_cfg_parse(&p, &f->cfg, f->fx.err, sizeof f->fx.err), 0);
    assert_string_equal(f->cfg.conn.password, "env-pw");
    sw_redis_cfg_free(&f->cfg);
    sw_fx_md(&f->fx, "password", "given");
    assert_int_equal(sw_redis_cfg_parse(&p, &f->cfg, f->fx.err, sizeof f->fx.err), 0);
    assert_string_equal(f->cfg.conn.password, "given");
    sw_redis_cfg_free(&f->cfg);
    sw_fx_md(&f->fx, "address", NULL);
    sw_fx_md(&f->fx, "addressFromEnv", "REDIS_ADDR");
    assert_int_equal(sw_redis_cfg_parse(&p, &f->cfg, f->fx.err, sizeof f->fx.err), -EINVAL);
    assert_non_null(strstr(f->fx.err, "metadata.addressFromEnv: \"envhost\" missing port"));
    sw_fx_md(&f->fx, "addressFromEnv", "NOT_SET");
    expect_error(f, "metadata.address: no addresses or hosts given"); /* not set: absent */
}

/* Proves TLS: bad booleans and values are errors naming the field; asking for TLS is a clear
 * "not supported yet"; setting it in both places is KEDA's error. */
static void test_sw_redis_cfg_parse_tls(void **state)
{
    fixture_t *f = *state;

    sw_fx_md(&f->fx, "listName", "q");
    sw_fx_md(&f->fx, "address", "r:1");
    sw_fx_md(&f->fx, "enableTLS", "maybe");
    expect_error(f, "metadata.enableTLS: \"maybe\" is not a boolean");
    sw_fx_md(&f->fx, "enableTLS", "True");
    expect_error(f, "metadata.enableTLS: TLS connections to redis are not supported by ckeda yet");
    sw_fx_md(&f->fx, "enableTLS", "0");
    assert_int_equal(run(f), 0);
    sw_fx_auth(&f->fx, "tls", "enable");
    expect_error(f, "unable to set `tls` in both ScaledObject and TriggerAuthentication");
    sw_fx_md(&f->fx, "enableTLS", NULL);
    expect_error(f, "authentication.tls: TLS connections to redis are not supported");
    f->fx.av[0].value = "sometimes";
    expect_error(f, "authentication.tls: \"sometimes\" is not enable or disable");
    f->fx.av[0].value = "disable";
    sw_fx_md(&f->fx, "unsafeSsl", "nope");
    expect_error(f, "metadata.unsafeSsl: \"nope\" is not a boolean");
}

/* Proves the scaler's parse (the vtable entry) reports the field errors, never quotes the
 * password in them, and keeps a password with spaces and commas whole (it is not a list). */
static void test_sw_redis_parse_vtable_keeps_secrets_out(void **state)
{
    fixture_t *f = *state;
    const sw_scaler_t *s = sw_scaler_find("redis");
    sw_params_t p = {.metadata = f->fx.md};
    void *st = NULL;

    assert_non_null(s);
    sw_fx_md(&f->fx, "listName", "q");
    sw_fx_md(&f->fx, "address", "nowhere");
    sw_fx_md(&f->fx, "password", " pass, word ");
    sw_fx_md(&f->fx, "listLength", "3");
    assert_int_equal(s->parse(&p, &st, f->fx.err, sizeof f->fx.err), -EINVAL);
    assert_null(st);
    assert_non_null(strstr(f->fx.err, "metadata.address"));
    assert_null(strstr(f->fx.err, "pass, word"));
    sw_fx_md(&f->fx, "address", "r:1");
    assert_int_equal(s->parse(&p, &st, f->fx.err, sizeof f->fx.err), 0);
    assert_non_null(st);
    s->close(st);
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.conn.password, "pass, word");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sw_redis_cfg_parse_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_redis_cfg_parse_trims_and_reads_numbers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sw_redis_cfg_parse_list_name_required, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sw_redis_cfg_parse_integer_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_redis_cfg_parse_address_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_redis_cfg_parse_host_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_redis_cfg_parse_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_redis_cfg_parse_from_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_redis_cfg_parse_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_redis_parse_vtable_keeps_secrets_out, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
