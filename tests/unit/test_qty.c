/*
 * Quantities as apimachinery prints them: the values the adapter serves and the HPA targets the
 * watcher writes (keda.md §2.3 golden cases).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/qty.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static void check_qty(double v, const char *want)
{
    char buf[QTY_VALUE_MAX];
    qty_format_value(v, buf, sizeof buf);
    assert_string_equal(buf, want);
}

static void test_qty_format_value_golden_cases(void **state)
{
    check_qty(1.5, "1500m");
    check_qty(1500, "1500");
    check_qty(1000, "1k");
    check_qty(2000000, "2M");
    check_qty(0.001, "1m");
    check_qty(0.0004, "0"); /* rounded away at milli precision, as "%.3f" does */
    check_qty(0, "0");
}

static void test_qty_format_value_canonical_forms(void **state)
{
    check_qty(0.0005, "1m"); /* printf rounds the binary value 0.000500000000000000010 up */
    check_qty(1.25, "1250m");
    check_qty(1.08, "1080m");
    check_qty(12.345, "12345m");
    check_qty(0.1, "100m");
    check_qty(3, "3");
    check_qty(10, "10");
    check_qty(100, "100");
    check_qty(1234.5, "1234500m");
    check_qty(999.9995, "1k");
    check_qty(1.0005, "1");
    check_qty(123456789, "123456789");
    check_qty(1e9, "1G");
    check_qty(5e9, "5G");
    check_qty(9.2e15, "9200T");
    check_qty(1e15, "1P");
    check_qty(1.2e16, "12P"); /* beyond int64 milli-units: still exact */
    check_qty(1e18, "1E");
    check_qty(1e21, "1e21"); /* past E: exponent form, as current apimachinery */
}

static void test_qty_format_value_non_finite_and_negative_are_zero(void **state)
{
    check_qty(NAN, "0");
    check_qty(INFINITY, "0");
    check_qty(-INFINITY, "0");
    check_qty(-1.5, "0");
    check_qty(-0.0004, "0");
    check_qty(2.5e-5, "0");
}

static void test_qty_format_value_huge_and_small_buffers(void **state)
{
    char buf[QTY_VALUE_MAX], tiny[4];

    qty_format_value(1.7976931348623157e308, buf, sizeof buf);
    assert_int_equal(strlen(buf), 309); /* every digit of DBL_MAX, exact */
    assert_memory_equal(buf, "17976931348623157", 17);
    assert_int_equal(qty_format_value(123456, tiny, sizeof tiny), -ERANGE);
}

static void target_is(double v, const char *want)
{
    char buf[QTY_MAX];
    assert_int_equal(qty_format_target(v, buf, sizeof buf), 0);
    assert_string_equal(buf, want);
}

static void test_qty_format_target_truncates(void **state)
{
    target_is(5, "5");
    target_is(5000, "5k");
    target_is(0.5, "500m");
    target_is(2.0009, "2");
    target_is(100, "100");
}

static void test_qty_format_milli_small_buffer(void **state)
{
    char buf[3];
    assert_int_equal(qty_format_milli(1500, buf, sizeof buf), -ERANGE);
    assert_int_equal(qty_format_milli(-1000, buf, sizeof buf), 0);
    assert_string_equal(buf, "-1");
}

static void canonical_is(const char *in, const char *want)
{
    char buf[QTY_MAX];
    assert_int_equal(qty_canonical(in, buf, sizeof buf), 0);
    assert_string_equal(buf, want);
}

/* resource.MustParse(in).String(), as the API server stores an HPA target (the expected
 * strings are apimachinery v0.34's). */
static void test_qty_canonical_matches_apimachinery(void **state)
{
    canonical_is("500m", "500m");
    canonical_is("0.5", "500m");
    canonical_is("1000m", "1");
    canonical_is("1", "1");
    canonical_is("1000", "1k");
    canonical_is("1100", "1100");
    canonical_is("2048", "2048");
    canonical_is("512Mi", "512Mi");
    canonical_is("1.5Gi", "1536Mi");
    canonical_is("1024Ki", "1Mi");
    canonical_is("1023Ki", "1023Ki");
    canonical_is("0.5Ki", "512");
    canonical_is("1.5Ki", "1536");
    canonical_is("0Mi", "0");
    canonical_is("-5Mi", "-5Mi");
    canonical_is("0.0001m", "100n");
    canonical_is("5120Pi", "5Ei");
    canonical_is("5Ei", "5Ei");
    canonical_is("1E", "1E");
    canonical_is("9E", "9E");
    /* what the API server stores for what ckeda sends must be what ckeda sent */
    canonical_is("3333312.5Ki", "3413312k");
    canonical_is("1e3", "1e3");
    canonical_is("1.5e3", "1500");
    canonical_is("1e-3", "1e-3");
    canonical_is("1n", "1n");
    canonical_is("0.1n", "1n");
    canonical_is("1.1234567891", "1123456790n");
    canonical_is("100", "100");
    canonical_is(".5", "500m");
}

static void test_qty_canonical_refuses_what_is_not_a_quantity(void **state)
{
    /* also what apimachinery would store verbatim ("+2", "1E3", "1e+3") or clamp (past int64):
     * refused, so that what ckeda writes into an HPA always reads back the same */
    static const char *const bad[] = {"",    "abc", "5 Mi", "1.5.5",  "1Ki1", "Mi",  "1e",   "1x",
                                      "--1", ".",   "1KI",  "1e1000", "+2",   "1E3", "1e+3", "8Ei"};
    char buf[QTY_MAX];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(qty_canonical(bad[i], buf, sizeof buf), -EINVAL);
    assert_int_equal(qty_canonical("123456789", buf, 4), -ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qty_format_value_golden_cases),
        cmocka_unit_test(test_qty_format_value_canonical_forms),
        cmocka_unit_test(test_qty_format_value_non_finite_and_negative_are_zero),
        cmocka_unit_test(test_qty_format_value_huge_and_small_buffers),
        cmocka_unit_test(test_qty_format_target_truncates),
        cmocka_unit_test(test_qty_format_milli_small_buffer),
        cmocka_unit_test(test_qty_canonical_matches_apimachinery),
        cmocka_unit_test(test_qty_canonical_refuses_what_is_not_a_quantity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
