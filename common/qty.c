/*
 * qty: see qty.h.
 */
#include "common/qty.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int qty_format_milli(int64_t milli, char *buf, size_t cap)
{
    static const char *const suffix[] = {"m", "", "k", "M", "G", "T", "P", "E"};
    uint64_t m = milli < 0 ? (uint64_t)0 - (uint64_t)milli : (uint64_t)milli;
    int e = 0; /* index into suffix: exponent 3 * (e - 1) */
    int n;

    if (m == 0)
        return snprintf(buf, cap, "0") < (int)cap ? 0 : -ERANGE;
    while (m % 1000 == 0 && e < 7) {
        m /= 1000;
        e++;
    }
    n = snprintf(buf, cap, "%s%llu%s", milli < 0 ? "-" : "", (unsigned long long)m, suffix[e]);
    return n > 0 && (size_t)n < cap ? 0 : -ERANGE;
}

#define QTY_MILLI_LIMIT 9.2e18

static int64_t qty_saturate(double milli)
{
    if (milli >= QTY_MILLI_LIMIT)
        return INT64_MAX;
    if (milli <= -QTY_MILLI_LIMIT)
        return INT64_MIN + 1;
    return (int64_t)milli; /* Go's int64() conversion truncates toward zero */
}

/* Works on the decimal digits printf produced ("123.450" -> mantissa 12345, exponent -2), so
 * values beyond int64 milli-units stay exact; past E the exponent is written as "e<exp>", as
 * newer apimachinery does. */
int qty_format_value(double v, char *buf, size_t cap)
{
    static const char *const si[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
    char text[QTY_VALUE_MAX], digits[QTY_VALUE_MAX];
    size_t nd = 0;
    int exp = -3, shift, n;

    if (!isfinite(v) || v <= 0)
        return qty_format_milli(0, buf, cap);
    snprintf(text, sizeof text, "%.3f", v); /* rounds the exact binary value, as Go does */
    for (const char *p = text; *p; p++)
        if (*p >= '0' && *p <= '9' && (nd || *p != '0'))
            digits[nd++] = *p;
    while (nd > 0 && digits[nd - 1] == '0') {
        nd--;
        exp++;
    }
    if (nd == 0) /* rounded away at milli precision */
        return qty_format_milli(0, buf, cap);
    shift = ((exp % 3) + 3) % 3; /* lower the exponent to a multiple of three */
    for (int i = 0; i < shift; i++)
        digits[nd++] = '0';
    exp -= shift;
    digits[nd] = '\0';
    if (exp / 3 + 3 < (int)(sizeof si / sizeof si[0]))
        n = snprintf(buf, cap, "%s%s", digits, si[exp / 3 + 3]);
    else
        n = snprintf(buf, cap, "%se%d", digits, exp);
    return n > 0 && (size_t)n < cap ? 0 : -ERANGE;
}

int qty_format_target(double v, char *buf, size_t cap)
{
    return qty_format_milli(isnan(v) ? 0 : qty_saturate(v * 1000.0), buf, cap);
}
