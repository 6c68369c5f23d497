/*
 * KEDA's scale-loop decision table (keda.md §1.9), case by case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "watcher/decide.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
