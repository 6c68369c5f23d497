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

#include "scaleworker/scalers/redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    cJSON *md;
    sw_auth_params_t auth;
    sw_auth_param_t av[8];
    bool has_auth;
    sw_redis_cfg_t cfg;
    char err[256];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);

    f->md = cJSON_CreateObject();
    f->auth.v = f->av;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    sw_redis_cfg_free(&f->cfg);
    cJSON_Delete(f->md);
    free(f);
    return 0;
}

static void md(fixture_t *f, const char *k, const char *v)
{
    cJSON_AddStringToObject(f->md, k, v);
}

static void auth(fixture_t *f, const char *k, const char *v)
{
    f->av[f->auth.n++] = (sw_auth_param_t){(char *)k, (char *)v};
    f->has_auth = true;
}

static int run(fixture_t *f)
{
    sw_params_t p = {.metadata = f->md, .auth = f->has_auth ? &f->auth : NULL};

    sw_redis_cfg_free(&f->cfg);
    f->err[0] = '\0';
    return sw_redis_cfg_parse(&p, &f->cfg, f->err, sizeof f->err);
}

static void expect_error(fixture_t *f, const char *want)
{
    assert_int_equal(run(f), -EINVAL);
    if (!strstr(f->err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", f->err, want);
}

/* Proves KEDA's defaults: listLength 5, activation 0, database 0, no TLS, no credentials. */
static void test_sw_redis_cfg_parse_defaults(void **state)
{
    fixture_t *f = *state;

    md(f, "listName", "jobs");
    md(f, "address", "redis.apps.svc:6379");
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

    md(f, "listName", "  jobs\t");
    md(f, "address", " [::1]:6380 ");
    md(f, "listLength", " 12 ");
    md(f, "activationListLength", "-3");
    md(f, "databaseIndex", "2");
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

    md(f, "address", "r:1");
    expect_error(f, "metadata.listName: missing required parameter");
    md(f, "listName", "   ");
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
        cJSON_Delete(f->md);
        f->md = cJSON_CreateObject();
        md(f, "listName", "q");
        md(f, "address", "r:1");
        md(f, cases[i].field, cases[i].value);
        expect_error(f, cases[i].want);
    }
}

/* Proves address errors name the field and source, and `addresses` is the same parameter. */
static void test_sw_redis_cfg_parse_address_errors(void **state)
{
    fixture_t *f = *state;

    md(f, "listName", "q");
    expect_error(f, "metadata.address: no addresses or hosts given");
    md(f, "address", "redis");
    expect_error(f, "metadata.address: \"redis\" missing port in address");
    cJSON_ReplaceItemInObject(f->md, "address", cJSON_CreateString("a:b:1"));
    expect_error(f, "too many colons in address");
    cJSON_ReplaceItemInObject(f->md, "address", cJSON_CreateString(",r:1"));
    expect_error(f, "no addresses or hosts given");
    cJSON_DeleteItemFromObject(f->md, "address");
    md(f, "addresses", "first:1, second:2");
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.conn.host, "first");
    assert_string_equal(f->cfg.conn.port, "1");
}

/* Proves host and port: both needed, equal counts, a numeric port; the address wins. */
static void test_sw_redis_cfg_parse_host_port(void **state)
{
    fixture_t *f = *state;

    md(f, "listName", "q");
    md(f, "host", "h1");
    expect_error(f, "no addresses or hosts given");
    md(f, "port", "x");
    expect_error(f, "metadata.port: \"x\" is not a port number");
    cJSON_ReplaceItemInObject(f->md, "port", cJSON_CreateString("70000"));
    expect_error(f, "metadata.port: \"70000\" is not a port number");
    cJSON_ReplaceItemInObject(f->md, "port", cJSON_CreateString("6380"));
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.conn.host, "h1");
    assert_string_equal(f->cfg.conn.port, "6380");
    cJSON_ReplaceItemInObject(f->md, "host", cJSON_CreateString("h1,h2"));
    expect_error(f, "metadata.host: not enough hosts or ports given");
    cJSON_ReplaceItemInObject(f->md, "host", cJSON_CreateString("h1"));
    md(f, "address", "a:1");
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.conn.host, "a");
}

/* Proves the sources' order: metadata before authentication for the address; metadata, then
 * FromEnv, then authentication for the password; an error names the source it came from. */
static void test_sw_redis_cfg_parse_sources(void **state)
{
    fixture_t *f = *state;

    md(f, "listName", "q");
    auth(f, "address", "from-auth");
    expect_error(f, "authentication.address: \"from-auth\" missing port in address");
    f->av[0].value = "auth:7";
    auth(f, "password", "auth-pw");
    auth(f, "username", "auth-user");
    assert_int_equal(run(f), 0);
    assert_string_equal(f->cfg.conn.host, "auth");
    assert_string_equal(f->cfg.conn.password, "auth-pw");
    assert_string_equal(f->cfg.conn.username, "auth-user");
    md(f, "address", "meta:8");
    md(f, "password", "meta-pw");
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
    sw_params_t p = {.metadata = f->md, .auth = &f->auth, .env = &env};

    md(f, "listName", "q");
    md(f, "address", "r:1");
    md(f, "passwordFromEnv", "REDIS_PASSWORD");
    auth(f, "password", "auth-pw");
    assert_int_equal(sw_redis_cfg_parse(&p, &f->cfg, f->err, sizeof f->err), 0);
    assert_string_equal(f->cfg.conn.password, "env-pw");
    sw_redis_cfg_free(&f->cfg);
    md(f, "password", "given");
    assert_int_equal(sw_redis_cfg_parse(&p, &f->cfg, f->err, sizeof f->err), 0);
    assert_string_equal(f->cfg.conn.password, "given");
    sw_redis_cfg_free(&f->cfg);
    cJSON_DeleteItemFromObject(f->md, "address");
    md(f, "addressFromEnv", "REDIS_ADDR");
    assert_int_equal(sw_redis_cfg_parse(&p, &f->cfg, f->err, sizeof f->err), -EINVAL);
    assert_non_null(strstr(f->err, "metadata.addressFromEnv: \"envhost\" missing port"));
    cJSON_ReplaceItemInObject(f->md, "addressFromEnv", cJSON_CreateString("NOT_SET"));
    expect_error(f, "metadata.address: no addresses or hosts given"); /* not set: absent */
}

/* Proves TLS: bad booleans and values are errors naming the field; asking for TLS is a clear
 * "not supported yet"; setting it in both places is KEDA's error. */
static void test_sw_redis_cfg_parse_tls(void **state)
{
    fixture_t *f = *state;

    md(f, "listName", "q");
    md(f, "address", "r:1");
    md(f, "enableTLS", "maybe");
    expect_error(f, "metadata.enableTLS: \"maybe\" is not a boolean");
    cJSON_ReplaceItemInObject(f->md, "enableTLS", cJSON_CreateString("True"));
    expect_error(f, "metadata.enableTLS: TLS connections to redis are not supported by ckeda yet");
    cJSON_ReplaceItemInObject(f->md, "enableTLS", cJSON_CreateString("0"));
    assert_int_equal(run(f), 0);
    auth(f, "tls", "enable");
    expect_error(f, "unable to set `tls` in both ScaledObject and TriggerAuthentication");
    cJSON_DeleteItemFromObject(f->md, "enableTLS");
    expect_error(f, "authentication.tls: TLS connections to redis are not supported");
    f->av[0].value = "sometimes";
    expect_error(f, "authentication.tls: \"sometimes\" is not enable or disable");
    f->av[0].value = "disable";
    md(f, "unsafeSsl", "nope");
    expect_error(f, "metadata.unsafeSsl: \"nope\" is not a boolean");
}

/* Proves the scaler's parse (the vtable entry) reports the field errors, never quotes the
 * password in them, and keeps a password with spaces and commas whole (it is not a list). */
static void test_sw_redis_parse_vtable_keeps_secrets_out(void **state)
{
    fixture_t *f = *state;
    const sw_scaler_t *s = sw_scaler_find("redis");
    sw_params_t p = {.metadata = f->md};
    void *st = NULL;

    assert_non_null(s);
    md(f, "listName", "q");
    md(f, "address", "nowhere");
    md(f, "password", " pass, word ");
    md(f, "listLength", "3");
    assert_int_equal(s->parse(&p, &st, f->err, sizeof f->err), -EINVAL);
    assert_null(st);
    assert_non_null(strstr(f->err, "metadata.address"));
    assert_null(strstr(f->err, "pass, word"));
    cJSON_ReplaceItemInObject(f->md, "address", cJSON_CreateString("r:1"));
    assert_int_equal(s->parse(&p, &st, f->err, sizeof f->err), 0);
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
