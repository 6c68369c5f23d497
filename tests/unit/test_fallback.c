/*
 * KEDA's fallback and scalingModifiers composite metric over trigger views (common/fallback.h,
 * reference keda.md 1.11 and 1.12), which the adapter serves and the scale loop decides on:
 * the formula over the triggers' milli-rounded values, a trigger in error, a falling-back
 * trigger answering the composite with target x replicas, nil for `??` under behaviour
 * scalingModifiers and a nil result as fallback.replicas x target, formula failures, and
 * HasValidFallback's integer target.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/fallback.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static shm_so_spec_t so_formula(const char *formula, double target)
{
    shm_so_spec_t so;

    memset(&so, 0, sizeof so);
    so.flags = SHM_F_VALID;
    so.fallback_failure_threshold = -1;
    snprintf(so.modifiers_formula, sizeof so.modifiers_formula, "%s", formula);
    so.modifiers_target = target;
    so.modifiers_metric_type = SHM_METRIC_AVERAGE_VALUE;
    return so;
}

static shm_trig_view_t trig(const char *name, double value)
{
    shm_trig_view_t v;

    memset(&v, 0, sizeof v);
    snprintf(v.cfg.name, sizeof v.cfg.name, "%s", name);
    snprintf(v.cfg.type, sizeof v.cfg.type, "ckeda-test");
    v.cfg.target = 1;
    v.cfg.metric_type = SHM_METRIC_AVERAGE_VALUE;
    v.res.value = value;
    v.state = value > 0 ? SHM_STATE_ACTIVE : SHM_STATE_INACTIVE;
    return v;
}

static void set_failing(shm_trig_view_t *v, shm_cause_t cause, uint32_t failures)
{
    v->state = SHM_STATE_ERROR;
    v->cause = cause;
    v->res.consecutive_failures = failures;
}

/* Compiles and evaluates; returns fallback_composite's result. */
static int composite(const shm_so_spec_t *so, const shm_so_observed_t *obs,
                     const shm_trig_view_t *v, size_t n, fallback_composite_t *c)
{
    expr_t *prog = NULL;
    errtext_t err = {{0}};
    int r;

    assert_int_equal(fallback_formula_compile(so, v, n, &prog, &err), 0);
    r = fallback_composite(so, obs, v, n, prog, c, &err);
    expr_free(prog);
    return r;
}

static void test_fallback_composite_formula_over_trigger_names(void **state)
{
    shm_so_spec_t so = so_formula("(trig_one + trig_two) / 2", 2);
    shm_trig_view_t v[2] = {trig("trig_one", 3), trig("trig_two", 4.0006)};
    fallback_composite_t c;

    assert_int_equal(composite(&so, NULL, v, 2, &c), 0);
    /* 4.0006 reaches the formula as KEDA's milli-quantity 4.001: (3 + 4.001) / 2 = 3.5005 */
    assert_int_equal(c.milli, 3500);
    assert_false(c.fallback);
    assert_false(c.any_error);
    so = so_formula("trig_one > 2 ? trig_one + trig_two : 1", 2);
    v[1].res.value = 0.25;
    assert_int_equal(composite(&so, NULL, v, 2, &c), 0);
    assert_int_equal(c.milli, 3250);
    v[0].res.value = 1;
    assert_int_equal(composite(&so, NULL, v, 2, &c), 0);
    assert_int_equal(c.milli, 1000);
    /* a negative composite keeps its sign, as KEDA's SetMilli */
    so = so_formula("trig_one - trig_two - 2", 2);
    assert_int_equal(composite(&so, NULL, v, 2, &c), 0);
    assert_int_equal(c.milli, -1250);
}

static void test_fallback_composite_trigger_error_without_fallback(void **state)
{
    shm_so_spec_t so = so_formula("trig_one + trig_two", 2);
    shm_trig_view_t v[2] = {trig("trig_one", 3), trig("trig_two", 4)};
    fallback_composite_t c;

    set_failing(&v[1], SHM_CAUSE_SOURCE, 10);
    assert_int_equal(composite(&so, NULL, v, 2, &c), -EIO);
    assert_true(c.any_error);
    assert_int_equal(c.failed, 1);
    /* with a fallback, but under the threshold: still the error */
    so.fallback_failure_threshold = 10;
    so.fallback_replicas = 4;
    assert_int_equal(composite(&so, NULL, v, 2, &c), -EIO);
    /* ckeda's own unavailability never falls back, whatever the count */
    so.fallback_failure_threshold = 1;
    set_failing(&v[1], SHM_CAUSE_STALE, 10);
    assert_int_equal(composite(&so, NULL, v, 2, &c), -EIO);
}

static void test_fallback_composite_static_fallback_is_target_times_replicas(void **state)
{
    shm_so_spec_t so = so_formula("trig_one + trig_two", 3);
    shm_trig_view_t v[2] = {trig("trig_one", 3), trig("trig_two", 4)};
    fallback_composite_t c;

    so.fallback_failure_threshold = 2;
    so.fallback_replicas = 5;
    set_failing(&v[0], SHM_CAUSE_SOURCE, 3);
    assert_int_equal(composite(&so, NULL, v, 2, &c), 0);
    assert_true(c.fallback);
    assert_int_equal(c.milli, 15000); /* the modifiers' target 3 x 5, not the trigger's */
    /* another trigger failing under the threshold does not stop the fallback value */
    set_failing(&v[1], SHM_CAUSE_SOURCE, 1);
    assert_int_equal(composite(&so, NULL, v, 2, &c), 0);
    assert_true(c.fallback);
    assert_true(c.any_error);
    assert_int_equal(c.milli, 15000);
    /* currentReplicas reads the target's count; Value divides by the ready replicas */
    shm_so_observed_t obs = {.flags = SHM_F_VALID, .spec_replicas = 2, .ready_replicas = 2};
    so.fallback_behavior = SHM_FALLBACK_CURRENT;
    assert_int_equal(composite(&so, &obs, v, 2, &c), 0);
    assert_int_equal(c.milli, 6000);
    assert_int_equal(composite(&so, NULL, v, 2, &c), -EIO); /* count unknown: the error */
    so.modifiers_metric_type = SHM_METRIC_VALUE;
    assert_int_equal(composite(&so, &obs, v, 2, &c), 0);
    assert_int_equal(c.milli, 3000);
    obs.ready_replicas = 0;
    assert_int_equal(composite(&so, &obs, v, 2, &c), -EIO);
}

static void test_fallback_composite_scaling_modifiers_behaviour_nil(void **state)
{
    shm_so_spec_t so = so_formula("trig_one ?? trig_two", 2);
    shm_trig_view_t v[2] = {trig("trig_one", 3), trig("trig_two", 4)};
    fallback_composite_t c;

    so.fallback_failure_threshold = 2;
    so.fallback_replicas = 6;
    so.fallback_behavior = SHM_FALLBACK_SCALING_MODIFIERS;
    assert_int_equal(composite(&so, NULL, v, 2, &c), 0);
    assert_int_equal(c.milli, 3000);
    /* trig_one past the threshold: nil, `??` takes trig_two; nothing "falls back" */
    set_failing(&v[0], SHM_CAUSE_SOURCE, 3);
    assert_int_equal(composite(&so, NULL, v, 2, &c), 0);
    assert_int_equal(c.milli, 4000);
    assert_false(c.fallback);
    assert_false(c.any_error);
    /* under the threshold it is an error, as in KEDA */
    v[0].res.consecutive_failures = 2;
    assert_int_equal(composite(&so, NULL, v, 2, &c), -EIO);
    /* both nil: the whole formula is nil, answered as fallback.replicas x target */
    set_failing(&v[0], SHM_CAUSE_SOURCE, 3);
    set_failing(&v[1], SHM_CAUSE_SOURCE, 9);
    assert_int_equal(composite(&so, NULL, v, 2, &c), 0);
    assert_true(c.nil_result);
    assert_int_equal(c.milli, 12000);
    /* nil in arithmetic is a run-time error: no value */
    so = so_formula("trig_one + 1", 2);
    so.fallback_failure_threshold = 2;
    so.fallback_behavior = SHM_FALLBACK_SCALING_MODIFIERS;
    assert_int_equal(composite(&so, NULL, v, 2, &c), -EDOM);
}

static void test_fallback_composite_nil_without_fallback_has_no_value(void **state)
{
    shm_so_spec_t so = so_formula("trig_one > 5 ? trig_one : nil ?? nil", 2);
    shm_trig_view_t v[1] = {trig("trig_one", 3)};
    expr_t *prog = NULL;
    errtext_t err = {{0}};
    fallback_composite_t c;

    /* expr-lang compiles it (nil ?? nil): the formula gives nil at run time */
    assert_int_equal(fallback_formula_compile(&so, v, 1, &prog, &err), 0);
    assert_int_equal(fallback_composite(&so, NULL, v, 1, prog, &c, &err), -EDOM);
    assert_non_null(strstr(err.text, "no fallback is configured"));
    expr_free(prog);
}

static void test_fallback_valid_needs_an_integer_modifiers_target(void **state)
{
    shm_so_spec_t so = so_formula("trig_one", 2);
    shm_trig_view_t v = trig("trig_one", 1);

    assert_false(fallback_configured(&so));
    assert_false(fallback_valid(&so));
    so.fallback_failure_threshold = 0;
    assert_true(fallback_valid(&so));
    set_failing(&v, SHM_CAUSE_SOURCE, 1);
    assert_true(fallback_exceeded(&so, &v));
    /* the watcher marks a fallback KEDA's HasValidFallback refuses (target "2.5") */
    so.flags |= SHM_SO_F_FALLBACK_INVALID;
    assert_true(fallback_configured(&so));
    assert_false(fallback_valid(&so));
    assert_false(fallback_exceeded(&so, &v));
}

static void test_fallback_formula_value_is_the_milli_quantity(void **state)
{
    assert_true(fallback_formula_value(1.0004) == 1.0);
    assert_true(fallback_formula_value(1.0005) == 1.0 || fallback_formula_value(1.0005) == 1.001);
    assert_true(fallback_formula_value(-2.5) == -2.5);
    assert_true(fallback_formula_value(NAN) == 0);
    assert_true(fallback_formula_value(INFINITY) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fallback_composite_formula_over_trigger_names),
        cmocka_unit_test(test_fallback_composite_trigger_error_without_fallback),
        cmocka_unit_test(test_fallback_composite_static_fallback_is_target_times_replicas),
        cmocka_unit_test(test_fallback_composite_scaling_modifiers_behaviour_nil),
        cmocka_unit_test(test_fallback_composite_nil_without_fallback_has_no_value),
        cmocka_unit_test(test_fallback_valid_needs_an_integer_modifiers_target),
        cmocka_unit_test(test_fallback_formula_value_is_the_milli_quantity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
