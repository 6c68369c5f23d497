/*
 * Adapter fallback (adp_fallback_milli): the value KEDA's pkg/fallback answers instead of an
 * error once a trigger has failed at its source more than failureThreshold times in a row
 * (reference keda.md 1.11): every behaviour, the threshold boundary, AverageValue vs Value
 * targets, unknown replica counts, and ckeda's own unavailability never falling back. And the
 * scalingModifiers composite metric served from a real table (adp_values_serve): one item
 * named composite-metric for any metric asked, its fallback, and a trigger's error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "adapter/adp_internal.h"
#include "shm/shm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static shm_so_spec_t so_with(int32_t threshold, int32_t replicas, shm_fallback_behavior_t b)
{
    shm_so_spec_t so;

    memset(&so, 0, sizeof so);
    so.fallback_failure_threshold = threshold;
    so.fallback_replicas = replicas;
    so.fallback_behavior = b;
    return so;
}

/* A trigger whose source has failed `failures` times in a row. */
static shm_trig_view_t failing(uint32_t failures, double target, shm_metric_type_t type)
{
    shm_trig_view_t v;

    memset(&v, 0, sizeof v);
    v.state = SHM_STATE_ERROR;
    v.cause = SHM_CAUSE_SOURCE;
    v.cfg.target = target;
    v.cfg.metric_type = type;
    v.res.failure = SHM_FAIL_SOURCE;
    v.res.consecutive_failures = failures;
    return v;
}

static shm_so_observed_t observed(int32_t spec, int32_t ready)
{
    shm_so_observed_t o;

    memset(&o, 0, sizeof o);
    o.flags = SHM_F_VALID;
    o.spec_replicas = spec;
    o.status_replicas = spec;
    o.ready_replicas = ready;
    return o;
}

static void test_adp_fallback_milli_static_is_target_times_replicas(void **state)
{
    shm_so_spec_t so = so_with(3, 5, SHM_FALLBACK_STATIC);
    shm_trig_view_t v = failing(4, 10, SHM_METRIC_AVERAGE_VALUE);
    int64_t m = -1;

    (void)state;
    assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), 0); /* static needs no counts */
    assert_int_equal(m, 50000);
    v.cfg.target = 1.5;
    assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), 0);
    assert_int_equal(m, 7500);
    so.fallback_replicas = 0;
    assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), 0);
    assert_int_equal(m, 0);
}

static void test_adp_fallback_milli_threshold_is_strictly_exceeded(void **state)
{
    shm_so_spec_t so = so_with(3, 5, SHM_FALLBACK_STATIC);
    shm_trig_view_t v = failing(3, 10, SHM_METRIC_AVERAGE_VALUE);
    int64_t m = -1;

    (void)state;
    assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), -ENOENT); /* 3 > 3 is false */
    assert_int_equal(m, -1);                                          /* left untouched */
    v.res.consecutive_failures = 4;
    assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), 0);
    /* failureThreshold 0: the first failure falls back */
    so.fallback_failure_threshold = 0;
    v.res.consecutive_failures = 0;
    assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), -ENOENT);
    v.res.consecutive_failures = 1;
    assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), 0);
    assert_int_equal(m, 50000);
}

static void test_adp_fallback_milli_without_fallback_is_not_used(void **state)
{
    shm_so_spec_t so = so_with(-1, 5, SHM_FALLBACK_STATIC);
    shm_trig_view_t v = failing(100, 10, SHM_METRIC_AVERAGE_VALUE);
    int64_t m;

    (void)state;
    assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), -ENOENT);
    so = so_with(0, -1, SHM_FALLBACK_STATIC); /* KEDA's HasValidFallback: replicas >= 0 */
    assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), -ENOENT);
}

static void test_adp_fallback_milli_unavailability_never_falls_back(void **state)
{
    static const shm_cause_t causes[] = {SHM_CAUSE_NO_RESULT, SHM_CAUSE_STALE, SHM_CAUSE_CONFIG,
                                         SHM_CAUSE_QUARANTINED};
    shm_so_spec_t so = so_with(0, 5, SHM_FALLBACK_STATIC);
    shm_trig_view_t v = failing(100, 10, SHM_METRIC_AVERAGE_VALUE);
    int64_t m;

    (void)state;
    for (size_t i = 0; i < sizeof causes / sizeof causes[0]; i++) {
        v.cause = causes[i];
        assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), -ENOENT);
    }
    /* a healthy trigger is never replaced */
    v.cause = SHM_CAUSE_NONE;
    v.state = SHM_STATE_ACTIVE;
    assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), -ENOENT);
}

static void test_adp_fallback_milli_current_behaviours(void **state)
{
    shm_so_spec_t so = so_with(0, 5, SHM_FALLBACK_CURRENT);
    shm_trig_view_t v = failing(1, 2, SHM_METRIC_AVERAGE_VALUE);
    shm_so_observed_t low = observed(3, 3), high = observed(8, 1);
    int64_t m;

    (void)state;
    assert_int_equal(adp_fallback_milli(&so, &low, &v, &m), 0);
    assert_int_equal(m, 6000);
    assert_int_equal(adp_fallback_milli(&so, &high, &v, &m), 0);
    assert_int_equal(m, 16000);

    so.fallback_behavior = SHM_FALLBACK_CURRENT_IF_HIGHER;
    assert_int_equal(adp_fallback_milli(&so, &low, &v, &m), 0);
    assert_int_equal(m, 10000); /* max(3, 5) */
    assert_int_equal(adp_fallback_milli(&so, &high, &v, &m), 0);
    assert_int_equal(m, 16000); /* max(8, 5) */

    so.fallback_behavior = SHM_FALLBACK_CURRENT_IF_LOWER;
    assert_int_equal(adp_fallback_milli(&so, &low, &v, &m), 0);
    assert_int_equal(m, 6000); /* min(3, 5) */
    assert_int_equal(adp_fallback_milli(&so, &high, &v, &m), 0);
    assert_int_equal(m, 10000); /* min(8, 5) */

    /* scaled to zero: currentReplicas falls back to 0 */
    low.spec_replicas = 0;
    so.fallback_behavior = SHM_FALLBACK_CURRENT;
    assert_int_equal(adp_fallback_milli(&so, &low, &v, &m), 0);
    assert_int_equal(m, 0);
}

static void test_adp_fallback_milli_unknown_current_count_is_an_error(void **state)
{
    static const shm_fallback_behavior_t current[] = {
        SHM_FALLBACK_CURRENT, SHM_FALLBACK_CURRENT_IF_HIGHER, SHM_FALLBACK_CURRENT_IF_LOWER};
    shm_trig_view_t v = failing(1, 2, SHM_METRIC_AVERAGE_VALUE);
    shm_so_observed_t unknown = observed(-1, -1);
    int64_t m = -1;

    (void)state;
    for (size_t i = 0; i < sizeof current / sizeof current[0]; i++) {
        shm_so_spec_t so = so_with(0, 5, current[i]);
        assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), -ENODATA);
        assert_int_equal(adp_fallback_milli(&so, &unknown, &v, &m), -ENODATA);
    }
    assert_int_equal(m, -1);
}

static void test_adp_fallback_milli_value_target_divides_by_ready(void **state)
{
    shm_so_spec_t so = so_with(0, 6, SHM_FALLBACK_STATIC);
    shm_trig_view_t v = failing(1, 10, SHM_METRIC_VALUE);
    shm_so_observed_t o = observed(4, 3);
    int64_t m = -1;

    (void)state;
    assert_int_equal(adp_fallback_milli(&so, &o, &v, &m), 0);
    assert_int_equal(m, 20000); /* 10 x 6 / 3 */
    /* truncated toward zero to a milli-unit, as NewMilliQuantity(int64(...)) */
    so.fallback_replicas = 5;
    assert_int_equal(adp_fallback_milli(&so, &o, &v, &m), 0);
    assert_int_equal(m, 16666); /* 10 x 5 / 3 = 16.666... */
    /* currentReplicas with a Value target: spec count over ready count */
    so.fallback_behavior = SHM_FALLBACK_CURRENT;
    assert_int_equal(adp_fallback_milli(&so, &o, &v, &m), 0);
    assert_int_equal(m, 13333); /* 10 x 4 / 3 */
}

static void test_adp_fallback_milli_value_target_without_ready_pods_is_an_error(void **state)
{
    shm_so_spec_t so = so_with(0, 6, SHM_FALLBACK_STATIC);
    shm_trig_view_t v = failing(1, 10, SHM_METRIC_VALUE);
    shm_so_observed_t zero = observed(2, 0), unknown = observed(2, -1);
    int64_t m = -1;

    (void)state;
    assert_int_equal(adp_fallback_milli(&so, &zero, &v, &m), -ENODATA);
    assert_int_equal(adp_fallback_milli(&so, &unknown, &v, &m), -ENODATA);
    assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), -ENODATA);
    assert_int_equal(m, -1);
}

static void test_adp_fallback_milli_target_is_read_at_milli_precision(void **state)
{
    shm_so_spec_t so = so_with(0, 3, SHM_FALLBACK_STATIC);
    shm_trig_view_t v = failing(1, 0.0019, SHM_METRIC_AVERAGE_VALUE);
    int64_t m;

    (void)state;
    /* the HPA holds the target as "1m" (truncated), which is what KEDA multiplies */
    assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), 0);
    assert_int_equal(m, 3);
    v.cfg.target = 1e30; /* saturates instead of overflowing */
    assert_int_equal(adp_fallback_milli(&so, NULL, &v, &m), 0);
    assert_int_equal(m, INT64_MAX);
}

/* ---- the composite metric, served from a real table ---- */

typedef struct table_fixture {
    char name[64];
    shm_table_t *t;
} table_fixture_t;

static int table_setup(void **state)
{
    static table_fixture_t f;
    shm_caps_t caps = {.max_so = 4, .max_trig = 8, .max_proc = 4, .max_trig_per_so = 8};

    snprintf(f.name, sizeof f.name, "ckeda-afb-%d", (int)getpid());
    assert_int_equal(shm_table_create(f.name, &caps, &f.t), 0);
    *state = &f;
    return 0;
}

static int table_teardown(void **state)
{
    table_fixture_t *f = *state;

    shm_table_close(f->t);
    shm_table_unlink(f->name);
    return 0;
}

/* ScaledObject ns/so in slot 0 with triggers a (slot 0) and b (slot 1) of the given values
 * and formula; b fails at its source `b_failures` times in a row when b_failures > 0. */
static void table_write(shm_table_t *t, const char *formula, double a, double b,
                        uint32_t b_failures, int32_t threshold)
{
    uint64_t now = shm_now_mono_ms();
    shm_so_spec_t so;

    memset(&so, 0, sizeof so);
    so.flags = SHM_F_VALID;
    so.generation = 1;
    snprintf(so.ns, sizeof so.ns, "ns");
    snprintf(so.name, sizeof so.name, "so");
    so.polling_interval_s = 30;
    so.fallback_failure_threshold = threshold;
    so.fallback_replicas = 4;
    so.modifiers_target = 2;
    snprintf(so.modifiers_formula, sizeof so.modifiers_formula, "%s", formula);
    so.trigger_count = 2;
    so.triggers[0] = 0;
    so.triggers[1] = 1;
    shm_so_spec_write(t, 0, &so);
    assert_int_equal(shm_index_insert(t, "ns", "so", 0, 1), 0);
    for (uint32_t i = 0; i < 2; i++) {
        shm_trig_cfg_t cfg;
        shm_trig_result_t res;

        memset(&cfg, 0, sizeof cfg);
        cfg.flags = SHM_F_VALID;
        cfg.so_slot = 0;
        cfg.so_generation = 1;
        cfg.index = i;
        cfg.cfg_gen = 7;
        cfg.target = 1;
        cfg.polling_interval_ms = 30000;
        cfg.timeout_ms = 3000;
        snprintf(cfg.type, sizeof cfg.type, "ckeda-test");
        snprintf(cfg.name, sizeof cfg.name, "%s", i ? "b" : "a");
        snprintf(cfg.metric_name, sizeof cfg.metric_name, "s%u-ckeda-test", i);
        shm_trig_cfg_write(t, i, &cfg);
        memset(&res, 0, sizeof res);
        res.flags = SHM_F_VALID;
        res.for_cfg_gen = 7;
        res.value = i ? b : a;
        res.measured_mono_ms = now;
        res.measured_real_ms = shm_now_real_ms();
        if (i == 1 && b_failures) {
            res.flags = 0;
            res.failure = SHM_FAIL_SOURCE;
            res.consecutive_failures = b_failures;
            snprintf(res.error, sizeof res.error, "connection refused");
        }
        shm_trig_result_write(t, i, &res);
    }
}

/* GET .../ns/<metric>?labelSelector=scaledobject.keda.sh/name=so; the body or the message. */
static int serve(shm_table_t *t, const char *metric, char *buf, size_t cap)
{
    adp_arena_t a;
    adp_answer_t ans;
    int code;

    memset(&a, 0, sizeof a);
    adp_values_serve(t, &a, "ns", metric, "scaledobject.keda.sh/name=so", shm_now_mono_ms(), &ans);
    code = ans.code;
    if (code == 200)
        snprintf(buf, cap, "%.*s", (int)ans.body.len, ans.body.p);
    else
        snprintf(buf, cap, "%s", ans.message);
    adp_arena_free(&a);
    return code;
}

static void test_adp_values_serve_composite_metric(void **state)
{
    table_fixture_t *f = *state;
    char body[2048];

    table_write(f->t, "a + b", 1.5, 2, 0, -1);
    /* the HPA asks for composite-metric; KEDA answers any name of such an object with it */
    assert_int_equal(serve(f->t, "composite-metric", body, sizeof body), 200);
    assert_non_null(strstr(body, "\"metricName\":\"composite-metric\""));
    assert_non_null(strstr(body, "\"value\":\"3500m\""));
    assert_int_equal(serve(f->t, "s0-ckeda-test", body, sizeof body), 200);
    assert_non_null(strstr(body, "\"metricName\":\"composite-metric\""));
    /* the formula cannot give a number (integer division by zero): KEDA answers no item */
    table_write(f->t, "int(a) % int(b - 2)", 1.5, 2, 0, -1);
    assert_int_equal(serve(f->t, "composite-metric", body, sizeof body), 200);
    assert_non_null(strstr(body, "\"items\":[]"));
}

static void test_adp_values_serve_composite_fallback_and_error(void **state)
{
    table_fixture_t *f = *state;
    char body[2048];

    /* b failing, no fallback: the trigger's error */
    table_write(f->t, "a + b", 1.5, 2, 3, -1);
    assert_int_equal(serve(f->t, "composite-metric", body, sizeof body), 500);
    assert_non_null(strstr(body, "source failure"));
    /* past failureThreshold 2: the composite is the modifiers' target 2 x fallback.replicas 4 */
    table_write(f->t, "a + b", 1.5, 2, 3, 2);
    assert_int_equal(serve(f->t, "composite-metric", body, sizeof body), 200);
    assert_non_null(strstr(body, "\"metricName\":\"composite-metric\""));
    assert_non_null(strstr(body, "\"value\":\"8\""));
    /* at the threshold: still the error */
    table_write(f->t, "a + b", 1.5, 2, 2, 2);
    assert_int_equal(serve(f->t, "composite-metric", body, sizeof body), 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adp_fallback_milli_static_is_target_times_replicas),
        cmocka_unit_test(test_adp_fallback_milli_threshold_is_strictly_exceeded),
        cmocka_unit_test(test_adp_fallback_milli_without_fallback_is_not_used),
        cmocka_unit_test(test_adp_fallback_milli_unavailability_never_falls_back),
        cmocka_unit_test(test_adp_fallback_milli_current_behaviours),
        cmocka_unit_test(test_adp_fallback_milli_unknown_current_count_is_an_error),
        cmocka_unit_test(test_adp_fallback_milli_value_target_divides_by_ready),
        cmocka_unit_test(test_adp_fallback_milli_value_target_without_ready_pods_is_an_error),
        cmocka_unit_test(test_adp_fallback_milli_target_is_read_at_milli_precision),
        cmocka_unit_test_setup_teardown(test_adp_values_serve_composite_metric, table_setup,
                                        table_teardown),
        cmocka_unit_test_setup_teardown(test_adp_values_serve_composite_fallback_and_error,
                                        table_setup, table_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
