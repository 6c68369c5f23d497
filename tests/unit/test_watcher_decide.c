/*
 * KEDA's scale-loop decision table (keda.md §1.9), case by case; and what the loop derives from
 * the triggers first (watch_decide_triggers: getScaledObjectState): a trigger in fallback is
 * active and no error (fallback scales from zero, KEDA v2.19 #7239), health only with a valid
 * fallback, nil for `??` under behaviour scalingModifiers, and with scalingModifiers activity
 * from the composite metric against activationTarget.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "watcher/decide.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NOW 1000000000ull

static watch_decide_in_t base(void)
{
    return (watch_decide_in_t){
        .idle_replicas = -1, .now_ms = NOW, .created_ms = NOW - 3600000, .cooldown_s = 300};
}

static watch_decide_out_t run(const watch_decide_in_t *in)
{
    watch_decide_out_t out;
    watch_decide(in, &out);
    return out;
}

static void test_watch_decide_activates_from_zero_to_one(void **state)
{
    watch_decide_in_t in = base();
    in.active = true;
    watch_decide_out_t o = run(&in);
    assert_int_equal(o.action, WATCH_ACT_ACTIVATE);
    assert_int_equal(o.replicas, 1);
    assert_true(o.touch_last_active);
    assert_string_equal(o.active_reason, "ScalerActive");
}

static void test_watch_decide_activates_to_min(void **state)
{
    watch_decide_in_t in = base();
    in.active = true;
    in.min_replicas = 3;
    in.idle_replicas = 0;
    in.current = 0;
    watch_decide_out_t o = run(&in);
    assert_int_equal(o.action, WATCH_ACT_ACTIVATE);
    assert_int_equal(o.replicas, 3);
}

static void test_watch_decide_active_scaled_out_leaves_it_to_the_hpa(void **state)
{
    watch_decide_in_t in = base();
    in.active = true;
    in.current = 4;
    watch_decide_out_t o = run(&in);
    assert_int_equal(o.action, WATCH_ACT_NONE);
    assert_true(o.touch_last_active);
}

static void test_watch_decide_active_with_error_is_partial(void **state)
{
    watch_decide_in_t in = base();
    in.active = true;
    in.error = true;
    in.current = 2;
    watch_decide_out_t o = run(&in);
    assert_int_equal(o.action, WATCH_ACT_NONE);
    assert_false(o.touch_last_active);
    assert_int_equal(o.ready, WATCH_COND_UNKNOWN);
    assert_string_equal(o.ready_reason, "PartialTriggerError");
}

static void test_watch_decide_paused_scale_out_does_not_activate(void **state)
{
    watch_decide_in_t in = base();
    in.active = true;
    in.paused_scale_out = true;
    assert_int_equal(run(&in).action, WATCH_ACT_NONE);
}

static void test_watch_decide_inactive_error_never_scales_to_zero(void **state)
{
    watch_decide_in_t in = base();
    in.error = true;
    in.current = 4;
    in.last_active_ms = 1; /* long cooled down */
    watch_decide_out_t o = run(&in);
    assert_int_equal(o.action, WATCH_ACT_NONE);
    assert_int_equal(o.ready, WATCH_COND_FALSE);
    assert_string_equal(o.ready_reason, "TriggerError");
    in.has_fallback = true;
    in.fallback_replicas = 2;
    o = run(&in);
    assert_int_equal(o.action, WATCH_ACT_NONE);
    assert_int_equal(o.ready, WATCH_COND_KEEP);
}

static void test_watch_decide_inactive_waits_for_cooldown(void **state)
{
    watch_decide_in_t in = base();
    in.current = 4;
    in.last_active_ms = NOW - 300000; /* exactly the cooldown: not yet (strictly before) */
    watch_decide_out_t o = run(&in);
    assert_int_equal(o.action, WATCH_ACT_NONE);
    assert_string_equal(o.active_reason, "ScalerCooldown");
    in.last_active_ms = NOW - 300001;
    o = run(&in);
    assert_int_equal(o.action, WATCH_ACT_DEACTIVATE);
    assert_int_equal(o.replicas, 0);
}

static void test_watch_decide_initial_cooldown_without_last_active(void **state)
{
    watch_decide_in_t in = base();
    in.current = 1;
    in.created_ms = NOW - 1000;
    in.initial_cooldown_s = 60;
    assert_int_equal(run(&in).action, WATCH_ACT_NONE);
    in.initial_cooldown_s = 0;
    assert_int_equal(run(&in).action, WATCH_ACT_DEACTIVATE);
}

static void test_watch_decide_deactivates_to_idle(void **state)
{
    watch_decide_in_t in = base();
    in.current = 5;
    in.min_replicas = 2;
    in.idle_replicas = 0;
    in.last_active_ms = NOW - 400000;
    watch_decide_out_t o = run(&in);
    assert_int_equal(o.action, WATCH_ACT_DEACTIVATE);
    assert_int_equal(o.replicas, 0);
}

static void test_watch_decide_paused_scale_in_keeps_replicas(void **state)
{
    watch_decide_in_t in = base();
    in.current = 5;
    in.last_active_ms = 1;
    in.paused_scale_in = true;
    assert_int_equal(run(&in).action, WATCH_ACT_NONE);
}

static void test_watch_decide_fixup_below_min(void **state)
{
    watch_decide_in_t in = base();
    in.current = 1;
    in.min_replicas = 3;
    watch_decide_out_t o = run(&in);
    assert_int_equal(o.action, WATCH_ACT_FIXUP);
    assert_int_equal(o.replicas, 3);
}

static void test_watch_decide_paused_does_nothing(void **state)
{
    watch_decide_in_t in = base();
    in.active = true;
    in.paused = true;
    watch_decide_out_t o = run(&in);
    assert_int_equal(o.action, WATCH_ACT_NONE);
    assert_int_equal(o.active, WATCH_COND_KEEP);
}

static void test_watch_decide_force_activation(void **state)
{
    watch_decide_in_t in = base();
    in.force_activation = true;
    assert_int_equal(run(&in).action, WATCH_ACT_ACTIVATE);
    assert_true(run(&in).forced); /* the Active message says the annotation did it */
    in.force_activation = false;
    in.active = true;
    assert_false(run(&in).forced);
}

/* ---- the triggers ---- */

static shm_so_spec_t spec_fb(int32_t threshold, int32_t replicas)
{
    shm_so_spec_t so;

    memset(&so, 0, sizeof so);
    so.flags = SHM_F_VALID;
    so.fallback_failure_threshold = threshold;
    so.fallback_replicas = replicas;
    return so;
}

static shm_trig_view_t tv(const char *name, double value, double activation)
{
    shm_trig_view_t v;

    memset(&v, 0, sizeof v);
    snprintf(v.cfg.name, sizeof v.cfg.name, "%s", name);
    snprintf(v.cfg.type, sizeof v.cfg.type, "ckeda-test");
    v.cfg.target = 2;
    v.cfg.activation = activation;
    v.res.value = value;
    v.state = value > activation ? SHM_STATE_ACTIVE : SHM_STATE_INACTIVE;
    return v;
}

static void tv_fail(shm_trig_view_t *v, shm_cause_t cause, uint32_t n)
{
    v->state = SHM_STATE_ERROR;
    v->cause = cause;
    v->res.consecutive_failures = n;
}

static void test_watch_decide_triggers_fallback_counts_as_active(void **state)
{
    shm_so_spec_t so = spec_fb(3, 2);
    shm_trig_view_t v[2] = {tv("a", 0, 0), tv("b", 0, 0)};
    watch_trig_summary_t s;

    tv_fail(&v[1], SHM_CAUSE_SOURCE, 3); /* at the threshold: an error, Failing */
    watch_decide_triggers(&so, NULL, v, 2, NULL, &s);
    assert_false(s.active);
    assert_true(s.error);
    assert_false(s.fallback_active);
    assert_true(s.trig[1].health && s.trig[1].failing);
    assert_int_equal(s.trig[1].failures, 3);
    assert_true(s.trig[0].health && !s.trig[0].failing); /* Happy */
    v[1].res.consecutive_failures = 4;                   /* past it: falls back, active, no error */
    watch_decide_triggers(&so, NULL, v, 2, NULL, &s);
    assert_true(s.active);
    assert_false(s.error);
    assert_true(s.fallback_active);
    assert_true(s.trig[1].active && s.trig[1].fallback);
    /* so the decision scales from zero, to min (or 1) as on any activation */
    watch_decide_in_t in = base();
    in.active = s.active;
    in.error = s.error;
    in.has_fallback = true;
    in.fallback_replicas = 2;
    watch_decide_out_t o = run(&in);
    assert_int_equal(o.action, WATCH_ACT_ACTIVATE);
    assert_int_equal(o.replicas, 1);
    /* ckeda's own unavailability never falls back and never touches health */
    tv_fail(&v[1], SHM_CAUSE_STALE, 9);
    watch_decide_triggers(&so, NULL, v, 2, NULL, &s);
    assert_true(s.error);
    assert_false(s.active);
    assert_false(s.trig[1].health);
    /* without a valid fallback: no health at all */
    so = spec_fb(-1, 0);
    tv_fail(&v[1], SHM_CAUSE_SOURCE, 9);
    watch_decide_triggers(&so, NULL, v, 2, NULL, &s);
    assert_false(s.trig[0].health || s.trig[1].health);
    assert_true(s.error);
}

static void test_watch_decide_triggers_value_fallback_needs_ready_replicas(void **state)
{
    shm_so_spec_t so = spec_fb(0, 2);
    shm_trig_view_t v = tv("a", 0, 0);
    shm_so_observed_t obs = {.flags = SHM_F_VALID, .spec_replicas = 0, .ready_replicas = 0};
    watch_trig_summary_t s;

    v.cfg.metric_type = SHM_METRIC_VALUE;
    tv_fail(&v, SHM_CAUSE_SOURCE, 1);
    /* KEDA's doFallback fails without ready replicas: an error, not active */
    watch_decide_triggers(&so, &obs, &v, 1, NULL, &s);
    assert_true(s.error);
    assert_false(s.active);
    obs.ready_replicas = 1;
    watch_decide_triggers(&so, &obs, &v, 1, NULL, &s);
    assert_true(s.active);
    assert_false(s.error);
}

/* cpu and memory: KEDA's getScaledObjectState counts them only when every trigger is one. */
static void test_watch_decide_triggers_resource_only_is_active(void **state)
{
    shm_so_spec_t so = spec_fb(-1, 0);
    shm_trig_view_t v[2] = {tv("", 0, 0), tv("b", 0, 0)};
    watch_trig_summary_t s;

    v[0].cfg.flags = SHM_F_VALID | SHM_F_RESOURCE;
    v[0].state = SHM_STATE_ACTIVE; /* as shm_trigger_state() has it */
    watch_decide_triggers(&so, NULL, v, 1, NULL, &s);
    assert_true(s.active);
    assert_false(s.error);
    assert_false(s.trig[0].active || s.trig[0].health);
    /* beside an inactive trigger it does not count */
    watch_decide_triggers(&so, NULL, v, 2, NULL, &s);
    assert_false(s.active);
    v[1].res.value = 5;
    v[1].state = SHM_STATE_ACTIVE;
    watch_decide_triggers(&so, NULL, v, 2, NULL, &s);
    assert_true(s.active);
    /* an error elsewhere keeps even a resource-only object from being forced active */
    v[1] = v[0];
    tv_fail(&v[1], SHM_CAUSE_SOURCE, 1);
    v[1].cfg.flags = SHM_F_VALID;
    watch_decide_triggers(&so, NULL, v, 2, NULL, &s);
    assert_false(s.active);
    assert_true(s.error);
}

static expr_t *compile(const shm_so_spec_t *so, const shm_trig_view_t *v, size_t n)
{
    expr_t *e = NULL;
    errtext_t err = {{0}};
    const char *names[4];

    for (size_t i = 0; i < n; i++)
        names[i] = v[i].cfg.name;
    assert_int_equal(expr_compile(so->modifiers_formula, names, n, &e, &err), 0);
    return e;
}

static void test_watch_decide_triggers_composite_against_activation_target(void **state)
{
    shm_so_spec_t so = spec_fb(-1, 0);
    shm_trig_view_t v[2] = {tv("a", 1, 0), tv("b", 1.5, 0)};
    watch_trig_summary_t s;

    snprintf(so.modifiers_formula, sizeof so.modifiers_formula, "a + b");
    so.modifiers_target = 2;
    so.modifiers_activation = 2.5;
    expr_t *e = compile(&so, v, 2);
    /* both triggers active, but 2.5 is not above activationTarget 2.5 */
    watch_decide_triggers(&so, NULL, v, 2, e, &s);
    assert_false(s.active);
    assert_true(s.composite);
    assert_int_equal(s.composite_milli, 2500);
    v[1].res.value = 1.501;
    watch_decide_triggers(&so, NULL, v, 2, e, &s);
    assert_true(s.active);
    /* a trigger in error: not active, whatever the others say */
    tv_fail(&v[0], SHM_CAUSE_SOURCE, 1);
    v[1].res.value = 100;
    watch_decide_triggers(&so, NULL, v, 2, e, &s);
    assert_false(s.active);
    assert_true(s.error);
    /* activationTarget KEDA cannot parse: the poll is given up */
    v[0] = tv("a", 1, 0);
    so.modifiers_activation = NAN;
    watch_decide_triggers(&so, NULL, v, 2, e, &s);
    assert_true(s.skip);
    expr_free(e);
}

static void test_watch_decide_triggers_scaling_modifiers_fallback(void **state)
{
    shm_so_spec_t so = spec_fb(1, 3);
    shm_trig_view_t v[2] = {tv("a", 0, 0), tv("b", 0, 0)};
    watch_trig_summary_t s;

    snprintf(so.modifiers_formula, sizeof so.modifiers_formula, "a ?? b");
    so.modifiers_target = 2;
    so.fallback_behavior = SHM_FALLBACK_SCALING_MODIFIERS;
    expr_t *e = compile(&so, v, 2);
    tv_fail(&v[0], SHM_CAUSE_SOURCE, 2);
    tv_fail(&v[1], SHM_CAUSE_SOURCE, 2);
    /* both nil, no error, nothing "falls back"; the nil composite is 3 x 2 > 0: active */
    watch_decide_triggers(&so, NULL, v, 2, e, &s);
    assert_false(s.error);
    assert_false(s.fallback_active);
    assert_true(s.active);
    assert_int_equal(s.composite_milli, 6000);
    /* static behaviour: the falling-back composite (target 2 x 3 replicas) */
    so.fallback_behavior = SHM_FALLBACK_STATIC;
    watch_decide_triggers(&so, NULL, v, 2, e, &s);
    assert_true(s.fallback_active);
    assert_true(s.active);
    assert_int_equal(s.composite_milli, 6000);
    expr_free(e);
}

/* A refused /scale write is retried on the next poll, then after twice as long each time, up
 * to 5 min, or one pollingInterval when that is longer; no refusal, no wait; never overflows. */
static void test_watch_decide_backoff_ms_doubles_from_the_polling_interval(void **state)
{
    assert_int_equal(watch_decide_backoff_ms(1, 0), 0);
    assert_int_equal(watch_decide_backoff_ms(1, 1), 1000);
    assert_int_equal(watch_decide_backoff_ms(1, 2), 2000);
    assert_int_equal(watch_decide_backoff_ms(1, 4), 8000);
    assert_int_equal(watch_decide_backoff_ms(1, 9), 256000);
    assert_int_equal(watch_decide_backoff_ms(1, 10), WATCH_SCALE_BACKOFF_MAX_MS);
    assert_int_equal(watch_decide_backoff_ms(1, UINT32_MAX), WATCH_SCALE_BACKOFF_MAX_MS);
    assert_int_equal(watch_decide_backoff_ms(30, 1), 30000);
    assert_int_equal(watch_decide_backoff_ms(30, 4), 240000);
    assert_int_equal(watch_decide_backoff_ms(30, 5), WATCH_SCALE_BACKOFF_MAX_MS);
    assert_int_equal(watch_decide_backoff_ms(0, 1), 1000); /* unset: never a hot loop */
    assert_int_equal(watch_decide_backoff_ms(600, 1), 600000);
    assert_int_equal(watch_decide_backoff_ms(600, 7), 600000);
    assert_int_equal(watch_decide_backoff_ms(UINT32_MAX, 40), (uint64_t)UINT32_MAX * 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_decide_triggers_fallback_counts_as_active),
        cmocka_unit_test(test_watch_decide_triggers_resource_only_is_active),
        cmocka_unit_test(test_watch_decide_triggers_value_fallback_needs_ready_replicas),
        cmocka_unit_test(test_watch_decide_triggers_composite_against_activation_target),
        cmocka_unit_test(test_watch_decide_triggers_scaling_modifiers_fallback),
        cmocka_unit_test(test_watch_decide_activates_from_zero_to_one),
        cmocka_unit_test(test_watch_decide_activates_to_min),
        cmocka_unit_test(test_watch_decide_active_scaled_out_leaves_it_to_the_hpa),
        cmocka_unit_test(test_watch_decide_active_with_error_is_partial),
        cmocka_unit_test(test_watch_decide_paused_scale_out_does_not_activate),
        cmocka_unit_test(test_watch_decide_inactive_error_never_scales_to_zero),
        cmocka_unit_test(test_watch_decide_inactive_waits_for_cooldown),
        cmocka_unit_test(test_watch_decide_initial_cooldown_without_last_active),
        cmocka_unit_test(test_watch_decide_deactivates_to_idle),
        cmocka_unit_test(test_watch_decide_paused_scale_in_keeps_replicas),
        cmocka_unit_test(test_watch_decide_fixup_below_min),
        cmocka_unit_test(test_watch_decide_paused_does_nothing),
        cmocka_unit_test(test_watch_decide_force_activation),
        cmocka_unit_test(test_watch_decide_backoff_ms_doubles_from_the_polling_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
