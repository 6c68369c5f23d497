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

static void test_cfg_defaults_leader_election_match_keda(void **state)
{
    cfg_t c;
    cfg_defaults(&c);
    assert_true(c.leader_elect);
    assert_string_equal(c.leader_election_id, "operator.keda.sh");
    assert_int_equal(c.leader_election_lease_duration_ms, 15000);
    assert_int_equal(c.leader_election_renew_deadline_ms, 10000);
    assert_int_equal(c.leader_election_retry_period_ms, 2000);
}

static void test_cfg_parse_flag_go_durations(void **state)
{
    static const struct {
        const char *flag;
        uint32_t ms;
    } ok[] = {
        {"--leader-election-lease-duration=15s", 15000},
        {"--leader-election-lease-duration=1m30s", 90000},
        {"--leader-election-lease-duration=1.5s", 1500},
        {"--leader-election-lease-duration=1h", 3600000},
        {"--leader-election-lease-duration=2500ms", 2500},
        {"--leader-election-lease-duration=+3s", 3000},
        {"--leader-election-retry-period=500ms", 500},
        {"--leader-election-retry-period=1500000us", 1500},
        {"--leader-election-retry-period=2000000000ns", 2000},
        {"--leader-election-retry-period=.5s", 500},
        {"--leader-election-renew-deadline=1m0.5s", 60500},
    };
    char err[256];

    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        char *argv[] = {"ckeda", (char *)ok[k].flag};
        cfg_t c;
        int i = 1;
        cfg_defaults(&c);
        assert_int_equal(cfg_parse_flag(&c, 2, argv, &i, err, sizeof err), 0);
        uint32_t got = strstr(ok[k].flag, "lease-duration") ? c.leader_election_lease_duration_ms
                       : strstr(ok[k].flag, "retry-period") ? c.leader_election_retry_period_ms
                                                            : c.leader_election_renew_deadline_ms;
        assert_int_equal(got, ok[k].ms);
    }
}

static void test_cfg_parse_flag_bad_duration_names_key(void **state)
{
    static const char *bad[] = {
        "--leader-election-lease-duration=15",     /* no unit */
        "--leader-election-lease-duration=15 s",   /* space */
        "--leader-election-lease-duration=-15s",   /* negative */
        "--leader-election-lease-duration=s",      /* no number */
        "--leader-election-lease-duration=15sec",  /* unknown unit */
        "--leader-election-lease-duration=500ms",  /* below 1s: leaseDurationSeconds is whole */
        "--leader-election-lease-duration=2h",     /* above the bound */
        "--leader-election-retry-period=1500us",   /* not whole milliseconds */
        "--leader-election-retry-period=",         /* empty */
        "--leader-election-retry-period=0",        /* zero */
        "--leader-election-retry-period=9999999h", /* overflow */
    };
    char err[512];

    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char *argv[] = {"ckeda", (char *)bad[k]};
        cfg_t c;
        int i = 1;
        cfg_defaults(&c);
        assert_int_equal(cfg_parse_flag(&c, 2, argv, &i, err, sizeof err), -EINVAL);
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(strchr(bad[k], '=') - bad[k] - 2), bad[k] + 2);
        assert_non_null(strstr(err, key));
        assert_non_null(strstr(err, "duration"));
    }
}

static void test_cfg_load_env_leader_election_keda_names(void **state)
{
    char err[512];
    cfg_t c;

    cfg_defaults(&c);
    setenv("KEDA_OPERATOR_LEADER_ELECTION_LEASE_DURATION", "1m", 1);
    setenv("KEDA_OPERATOR_LEADER_ELECTION_RENEW_DEADLINE", "45s", 1);
    setenv("KEDA_OPERATOR_LEADER_ELECTION_RETRY_PERIOD", "5s", 1);
    assert_int_equal(cfg_load_env(&c, err, sizeof err), 0);
    assert_int_equal(c.leader_election_lease_duration_ms, 60000);
    assert_int_equal(c.leader_election_renew_deadline_ms, 45000);
    assert_int_equal(c.leader_election_retry_period_ms, 5000);
    assert_int_equal(cfg_validate(&c, err, sizeof err), 0);
    setenv("KEDA_OPERATOR_LEADER_ELECTION_RETRY_PERIOD", "5", 1);
    assert_int_equal(cfg_load_env(&c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "KEDA_OPERATOR_LEADER_ELECTION_RETRY_PERIOD"));
    unsetenv("KEDA_OPERATOR_LEADER_ELECTION_LEASE_DURATION");
    unsetenv("KEDA_OPERATOR_LEADER_ELECTION_RENEW_DEADLINE");
    unsetenv("KEDA_OPERATOR_LEADER_ELECTION_RETRY_PERIOD");
}

static void test_cfg_parse_flag_leader_elect_like_keda(void **state)
{
    char *argv[] = {"ckeda", "--leader-elect=false", "--leader-elect",
                    "--leader-election-id=my-lease"};
    char err[256];
    cfg_t c;
    int i = 1;

    cfg_defaults(&c);
    assert_int_equal(cfg_parse_flag(&c, 4, argv, &i, err, sizeof err), 0);
    assert_false(c.leader_elect);
    assert_int_equal(cfg_parse_flag(&c, 4, argv, &i, err, sizeof err), 0);
    assert_true(c.leader_elect);
    assert_int_equal(cfg_parse_flag(&c, 4, argv, &i, err, sizeof err), 0);
    assert_string_equal(c.leader_election_id, "my-lease");
}

static void test_cfg_load_file_leader_election_keys(void **state)
{
    char err[512];
    cfg_t c;

    cfg_defaults(&c);
    assert_int_equal(cfg_load_file(&c,
                                   write_tmp("leader-elect: false\n"
                                             "leader-election-lease-duration: 30s\n"),
                                   err, sizeof err),
                     0);
    assert_false(c.leader_elect);
    assert_int_equal(c.leader_election_lease_duration_ms, 30000);
    unlink(write_tmp(""));
}

static void test_cfg_validate_leader_election_timings_name_keys(void **state)
{
    char err[256];
    cfg_t c;

    cfg_defaults(&c);
    c.leader_election_renew_deadline_ms = 15000; /* not below the lease duration */
    assert_int_equal(cfg_validate(&c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "leader-election-renew-deadline"));
    assert_non_null(strstr(err, "leader-election-lease-duration"));

    cfg_defaults(&c);
    c.leader_election_retry_period_ms = 10000; /* renew deadline must exceed 1.2 x retry */
    assert_int_equal(cfg_validate(&c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "leader-election-renew-deadline"));
    assert_non_null(strstr(err, "leader-election-retry-period"));
    c.leader_election_retry_period_ms = 8400; /* 1.2 x 8.4 s = 10.08 s */
    assert_int_equal(cfg_validate(&c, err, sizeof err), -EINVAL);
    c.leader_election_retry_period_ms = 8000;
    assert_int_equal(cfg_validate(&c, err, sizeof err), 0);

    /* without leader election the timings are not used */
    cfg_defaults(&c);
    c.leader_elect = false;
    c.leader_election_renew_deadline_ms = 20000;
    assert_int_equal(cfg_validate(&c, err, sizeof err), 0);
}

static void test_cfg_to_argv_passes_leader_election(void **state)
{
    char *argv[80] = {"ckeda"}, err[256];
    size_t n = 1;
    cfg_t a, b;

    cfg_defaults(&a);
    a.leader_elect = false;
    snprintf(a.leader_election_id, sizeof a.leader_election_id, "other.id");
    a.leader_election_lease_duration_ms = 61500;
    a.leader_election_renew_deadline_ms = 40000;
    a.leader_election_retry_period_ms = 750;
    assert_int_equal(cfg_to_argv(&a, argv, 80, &n), 0);
    bool seen = false;
    for (size_t i = 1; i < n; i++)
        seen |= strcmp(argv[i], "--leader-election-lease-duration=61500ms") == 0;
    assert_true(seen);
    cfg_defaults(&b);
    for (int i = 1; i < (int)n;)
        assert_int_equal(cfg_parse_flag(&b, (int)n, argv, &i, err, sizeof err), 0);
    assert_false(b.leader_elect);
    assert_string_equal(b.leader_election_id, "other.id");
    assert_int_equal(b.leader_election_lease_duration_ms, 61500);
    assert_int_equal(b.leader_election_renew_deadline_ms, 40000);
    assert_int_equal(b.leader_election_retry_period_ms, 750);
    assert_memory_equal(&a, &b, sizeof a);
    for (size_t i = 1; i < n; i++)
        free(argv[i]);
}

static void test_cfg_adapter_auth_ttls_default_and_parse(void **state)
{
    char *argv[] = {"ckeda",
                    "--authentication-token-cache-ttl=2m",
                    "--authorization-allow-cache-ttl=5m",
                    "--authorization-deny-cache-ttl=0",
                    "--authorization-insecure-skip",
                    "--max-connections=100",
                    "--authorization-deny-cache-ttl=30",
                    NULL};
    char err[512];
    cfg_t c;
    int i = 1;

    cfg_defaults(&c);
    /* k8s.io/apiserver's delegating defaults, as KEDA's metrics server runs them */
    assert_int_equal(c.authn_token_cache_ttl_ms, 10000);
    assert_int_equal(c.authz_allow_cache_ttl_ms, 10000);
    assert_int_equal(c.authz_deny_cache_ttl_ms, 10000);
    assert_false(c.authz_insecure_skip);
    assert_int_equal(c.max_connections, 4096);
    for (int k = 0; k < 5; k++)
        assert_int_equal(cfg_parse_flag(&c, 7, argv, &i, err, sizeof err), 0);
    assert_int_equal(c.authn_token_cache_ttl_ms, 120000);
    assert_int_equal(c.authz_allow_cache_ttl_ms, 300000);
    assert_int_equal(c.authz_deny_cache_ttl_ms, 0); /* no caching */
    assert_true(c.authz_insecure_skip);
    assert_int_equal(c.max_connections, 100);
    assert_int_equal(cfg_parse_flag(&c, 7, argv, &i, err, sizeof err), -EINVAL); /* no unit */
    assert_non_null(strstr(err, "authorization-deny-cache-ttl"));
}

static void test_cfg_adapter_auth_keys_in_file_and_argv(void **state)
{
    char err[512], *argv[64];
    size_t n = 0;
    cfg_t c, back;

    cfg_defaults(&c);
    assert_int_equal(cfg_load_file(&c,
                                   write_tmp("authentication-token-cache-ttl: 1m30s\n"
                                             "authorization-allow-cache-ttl: 500ms\n"
                                             "max-connections: 0\n"),
                                   err, sizeof err),
                     -EINVAL); /* at least one connection */
    assert_non_null(strstr(err, "max-connections"));
    cfg_defaults(&c);
    assert_int_equal(cfg_load_file(&c,
                                   write_tmp("authentication-token-cache-ttl: 1m30s\n"
                                             "authorization-allow-cache-ttl: 500ms\n"
                                             "authorization-insecure-skip: true\n"),
                                   err, sizeof err),
                     0);
    assert_int_equal(c.authn_token_cache_ttl_ms, 90000);
    assert_int_equal(c.authz_allow_cache_ttl_ms, 500);
    /* what the supervisor hands its children reads back the same */
    assert_int_equal(cfg_to_argv(&c, argv, 64, &n), 0);
    cfg_defaults(&back);
    for (int i = 0; i < (int)n;)
        assert_int_equal(cfg_parse_flag(&back, (int)n, argv, &i, err, sizeof err), 0);
    assert_int_equal(back.authn_token_cache_ttl_ms, 90000);
    assert_int_equal(back.authz_allow_cache_ttl_ms, 500);
    assert_true(back.authz_insecure_skip);
    for (size_t k = 0; k < n; k++)
        free(argv[k]);
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
        cmocka_unit_test(test_cfg_defaults_leader_election_match_keda),
        cmocka_unit_test(test_cfg_parse_flag_go_durations),
        cmocka_unit_test(test_cfg_parse_flag_bad_duration_names_key),
        cmocka_unit_test(test_cfg_load_env_leader_election_keda_names),
        cmocka_unit_test(test_cfg_parse_flag_leader_elect_like_keda),
        cmocka_unit_test(test_cfg_load_file_leader_election_keys),
        cmocka_unit_test(test_cfg_validate_leader_election_timings_name_keys),
        cmocka_unit_test(test_cfg_to_argv_passes_leader_election),
        cmocka_unit_test(test_cfg_adapter_auth_ttls_default_and_parse),
        cmocka_unit_test(test_cfg_adapter_auth_keys_in_file_and_argv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
