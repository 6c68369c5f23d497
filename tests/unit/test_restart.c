/*
 * The supervisor's restart arithmetic: backoff, its reset after a healthy minute, quarantine
 * lengths and the give-up window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "shm/shm.h"
#include "supervisor/supervisor.h"

static void test_sup_backoff_next_doubles_to_cap(void **state)
{
    uint32_t b = 0, seen[12];
    for (int i = 0; i < 12; i++)
        seen[i] = b = sup_backoff_next(b, 10);
    assert_int_equal(seen[0], 100);
    assert_int_equal(seen[1], 200);
    assert_int_equal(seen[2], 400);
    assert_int_equal(seen[8], 25600);
    assert_int_equal(seen[9], SHM_BACKOFF_CAP_MS);
    assert_int_equal(seen[11], SHM_BACKOFF_CAP_MS);
}

static void test_sup_backoff_next_resets_after_healthy_minute(void **state)
{
    assert_int_equal(sup_backoff_next(SHM_BACKOFF_CAP_MS, SUP_HEALTHY_MS), 100);
    assert_int_equal(sup_backoff_next(SHM_BACKOFF_CAP_MS, SUP_HEALTHY_MS - 1), SHM_BACKOFF_CAP_MS);
}

static void test_sup_quarantine_ms_doubles_and_caps(void **state)
{
    assert_int_equal(sup_quarantine_ms(1, 30, 1800), 30000);
    assert_int_equal(sup_quarantine_ms(2, 30, 1800), 60000);
    assert_int_equal(sup_quarantine_ms(3, 30, 1800), 120000);
    assert_int_equal(sup_quarantine_ms(7, 30, 1800), 1800000);
    assert_int_equal(sup_quarantine_ms(1000, 30, 1800), 1800000);
}

static void test_sup_crashes_add_counts_within_window(void **state)
{
    sup_crashes_t c = {0};
    assert_false(sup_crashes_add(&c, 1000, 60000, 3));
    assert_false(sup_crashes_add(&c, 2000, 60000, 3));
    assert_true(sup_crashes_add(&c, 3000, 60000, 3));
}

static void test_sup_crashes_add_forgets_old_crashes(void **state)
{
    sup_crashes_t c = {0};
    assert_false(sup_crashes_add(&c, 1000, 60000, 3));
    assert_false(sup_crashes_add(&c, 2000, 60000, 3));
    assert_false(sup_crashes_add(&c, 70000, 60000, 3)); /* the first two are out of the window */
    assert_int_equal(c.n, 1);
}

static void test_sup_crashes_add_bounded_history(void **state)
{
    sup_crashes_t c = {0};
    for (uint64_t i = 0; i < 1000; i++)
        sup_crashes_add(&c, i, 1u << 30, 5000);
    assert_int_equal(c.n, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sup_backoff_next_doubles_to_cap),
        cmocka_unit_test(test_sup_backoff_next_resets_after_healthy_minute),
        cmocka_unit_test(test_sup_quarantine_ms_doubles_and_caps),
        cmocka_unit_test(test_sup_crashes_add_counts_within_window),
        cmocka_unit_test(test_sup_crashes_add_forgets_old_crashes),
        cmocka_unit_test(test_sup_crashes_add_bounded_history),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
