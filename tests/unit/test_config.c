/*
 * Configuration: defaults, precedence (file < environment < flag), and errors that name the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/ckeda-cfg-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_cfg_defaults_match_keda(void **state)
{
    cfg_t c;
    cfg_defaults(&c);
    assert_int_equal(c.secure_port, 6443);
    assert_int_equal(c.webhook_port, 9443);
    assert_int_equal(c.metrics_port, 8080);
    assert_int_equal(c.kube_api_burst, 30);
    assert_true(c.kube_api_qps == 20);
    assert_int_equal(c.http_default_timeout_ms, 3000);
    assert_int_equal(c.max_scaledobjects, 4096);
    assert_int_equal(c.max_triggers, 16384);
    assert_int_equal(c.max_triggers_per_scaledobject, 64);
    assert_string_equal(c.shm_name, "ckeda");
}

static void test_cfg_parse_flag_both_forms(void **state)
{
    char *argv[] = {"ckeda", "--secure-port=7443", "--adapters", "3", "--keep-table", NULL};
    char err[256];
    cfg_t c;
    int i = 1;

    cfg_defaults(&c);
    assert_int_equal(cfg_parse_flag(&c, 5, argv, &i, err, sizeof err), 0);
    assert_int_equal(cfg_parse_flag(&c, 5, argv, &i, err, sizeof err), 0);
    assert_int_equal(cfg_parse_flag(&c, 5, argv, &i, err, sizeof err), 0);
    assert_int_equal(i, 5);
    assert_int_equal(c.secure_port, 7443);
    assert_int_equal(c.adapters, 3);
    assert_true(c.keep_table);
}

static void test_cfg_parse_flag_bad_value_names_key(void **state)
{
    char *argv[] = {"ckeda", "--adapters=0", "--secure-port=70000", "--kube-api-qps=abc"};
    char err[256];
    cfg_t c;

    cfg_defaults(&c);
    for (int k = 1; k < 4; k++) {
        int i = k;
        assert_int_equal(cfg_parse_flag(&c, 4, argv, &i, err, sizeof err), -EINVAL);
        const char *key = argv[k] + 2;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(strchr(key, '=') - key), key);
        assert_non_null(strstr(err, name));
    }
}

static void test_cfg_parse_flag_unknown_is_enoent(void **state)
{
    char *argv[] = {"ckeda", "--no-such-flag=1"};
    char err[64];
    cfg_t c;
    int i = 1;
    cfg_defaults(&c);
    assert_int_equal(cfg_parse_flag(&c, 2, argv, &i, err, sizeof err), -ENOENT);
}

static void test_cfg_load_file_reads_keys(void **state)
{
    char err[256];
    cfg_t c;

    cfg_defaults(&c);
    assert_int_equal(cfg_load_file(&c,
                                   write_tmp("# comment\nsecure-port: 7443\n"
                                             "watch-namespace: apps\nkeep-table: true\n"),
                                   err, sizeof err),
                     0);
    assert_int_equal(c.secure_port, 7443);
    assert_string_equal(c.watch_namespace, "apps");
    assert_true(c.keep_table);
    unlink(write_tmp(""));
}

static void test_cfg_load_file_unknown_key_names_it_and_line(void **state)
{
    char err[256];
    cfg_t c;

    cfg_defaults(&c);
    assert_int_equal(cfg_load_file(&c, write_tmp("adapters: 2\nsecure_port: 1\n"), err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "unknown key \"secure_port\""));
    assert_non_null(strstr(err, ":2"));
    assert_int_equal(cfg_load_file(&c, write_tmp("adapters: [1, 2]\n"), err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "adapters"));
    assert_int_equal(cfg_load_file(&c, write_tmp("- a\n- b\n"), err, sizeof err), -EINVAL);
    assert_int_equal(cfg_load_file(&c, write_tmp("a: [\n"), err, sizeof err), -EINVAL);
    unlink(write_tmp(""));
    assert_int_equal(cfg_load_file(&c, "/nonexistent/ckeda.yaml", err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "/nonexistent/ckeda.yaml"));
}

static void test_cfg_load_env_keda_names(void **state)
{
    char err[256];
    cfg_t c;

    cfg_defaults(&c);
    setenv("WATCH_NAMESPACE", "team-a", 1);
    setenv("KEDA_HTTP_DEFAULT_TIMEOUT", "5000", 1);
    assert_int_equal(cfg_load_env(&c, err, sizeof err), 0);
    assert_string_equal(c.watch_namespace, "team-a");
    assert_int_equal(c.http_default_timeout_ms, 5000);
    setenv("KEDA_HTTP_DEFAULT_TIMEOUT", "soon", 1);
    assert_int_equal(cfg_load_env(&c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "KEDA_HTTP_DEFAULT_TIMEOUT"));
    unsetenv("WATCH_NAMESPACE");
    unsetenv("KEDA_HTTP_DEFAULT_TIMEOUT");
}

static void test_cfg_to_argv_round_trips(void **state)
{
    char *argv[80] = {"ckeda"}, err[256];
    size_t n = 1;
    cfg_t a, b;

    cfg_defaults(&a);
    a.secure_port = 1234;
    a.kube_api_qps = 12.5;
    snprintf(a.watch_namespace, sizeof a.watch_namespace, "x y");
    assert_int_equal(cfg_to_argv(&a, argv, 80, &n), 0);
    cfg_defaults(&b);
    for (int i = 1; i < (int)n;)
        assert_int_equal(cfg_parse_flag(&b, (int)n, argv, &i, err, sizeof err), 0);
    assert_memory_equal(&a, &b, sizeof a);
    for (size_t i = 1; i < n; i++)
        free(argv[i]);
}

static void test_cfg_validate_cross_field(void **state)
{
    char err[256];
    cfg_t c;

    cfg_defaults(&c);
    assert_int_equal(cfg_validate(&c, err, sizeof err), 0);
    c.max_triggers = 10;
    c.max_triggers_per_scaledobject = 20;
    assert_int_equal(cfg_validate(&c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "max-triggers"));
    cfg_defaults(&c);
    snprintf(c.shm_name, sizeof c.shm_name, "a/b");
    assert_int_equal(cfg_validate(&c, err, sizeof err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cfg_defaults_match_keda),
        cmocka_unit_test(test_cfg_parse_flag_both_forms),
        cmocka_unit_test(test_cfg_parse_flag_bad_value_names_key),
        cmocka_unit_test(test_cfg_parse_flag_unknown_is_enoent),
        cmocka_unit_test(test_cfg_load_file_reads_keys),
        cmocka_unit_test(test_cfg_load_file_unknown_key_names_it_and_line),
        cmocka_unit_test(test_cfg_load_env_keda_names),
        cmocka_unit_test(test_cfg_to_argv_round_trips),
        cmocka_unit_test(test_cfg_validate_cross_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
