/*
 * Adapter fallback (adp_fallback_milli): the value KEDA's pkg/fallback answers instead of an
 * error once a trigger has failed at its source more than failureThreshold times in a row
 * (reference keda.md 1.11): every behaviour, the threshold boundary, AverageValue vs Value
 * targets, unknown replica counts, and ckeda's own unavailability never falling back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "adapter/adp_internal.h"
#include "shm/shm.h"

#include <errno.h>
#include <string.h>

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
