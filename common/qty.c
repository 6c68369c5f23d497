/*
 * qty: see qty.h.
 */
#include "common/qty.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
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

/* ---- parsing: resource.ParseQuantity and its canonical String() ---------------------------- */

typedef enum { QTY_DECIMAL_SI, QTY_BINARY_SI, QTY_DECIMAL_EXPONENT } qty_fmt_t;

/* A parsed quantity: digits (no leading zeros) times 10^exp, then times 1024^bin. */
typedef struct qty_num {
    bool neg;
    char digits[64];
    size_t nd;
    int exp, bin;
    qty_fmt_t fmt;
} qty_num_t;

static int qty_suffix(const char *s, qty_num_t *q)
{
    static const char *const bin[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    static const char dec[] = "num kMGTPE";

    if (!*s)
        return 0;
    for (int i = 0; i < 6; i++)
        if (strcmp(s, bin[i]) == 0) {
            q->fmt = QTY_BINARY_SI;
            q->bin = i + 1;
            return 0;
        }
    if (s[1] == '\0' && s[0] != ' ' && strchr(dec, s[0])) {
        q->exp += 3 * (int)(strchr(dec, s[0]) - dec) - 9;
        return 0;
    }
    /* apimachinery keeps "1E3" and "1e+3" verbatim: refused, so what is written reads back */
    if (s[0] == 'e') {
        char *end;
        long e = strtol(s + 1, &end, 10);
        if (s[1] == '\0' || *end || s[1] == ' ' || s[1] == '+' || e < -100 || e > 100)
            return -EINVAL;
        q->fmt = QTY_DECIMAL_EXPONENT;
        q->exp += (int)e;
        return 0;
    }
    return -EINVAL;
}

static int qty_parse(const char *s, qty_num_t *q)
{
    bool any = false, dot = false;

    memset(q, 0, sizeof *q);
    if (*s == '+') /* kept verbatim by apimachinery ("+2"): refused, as above */
        return -EINVAL;
    if (*s == '-')
        q->neg = *s++ == '-';
    for (; (*s >= '0' && *s <= '9') || (*s == '.' && !dot); s++) {
        if (*s == '.') {
            dot = true;
            continue;
        }
        any = true;
        if (dot)
            q->exp--;
        if (q->nd == 0 && *s == '0')
            continue;
        if (q->nd >= sizeof q->digits - 1)
            return -ERANGE;
        q->digits[q->nd++] = *s;
    }
    return any ? qty_suffix(s, q) : -EINVAL;
}

/* digits *= m (m small). */
static int qty_mul(qty_num_t *q, unsigned m)
{
    unsigned carry = 0;

    for (size_t i = q->nd; i-- > 0;) {
        unsigned d = (unsigned)(q->digits[i] - '0') * m + carry;
        q->digits[i] = (char)('0' + d % 10);
        carry = d / 10;
    }
    while (carry) {
        if (q->nd >= sizeof q->digits - 1)
            return -ERANGE;
        memmove(q->digits + 1, q->digits, q->nd++);
        q->digits[0] = (char)('0' + carry % 10);
        carry /= 10;
    }
    return 0;
}

/* Applies 1024^bin, rounds up below nano (as ParseQuantity does), drops trailing zeros. */
static int qty_normalize(qty_num_t *q)
{
    for (int i = 0; i < q->bin; i++)
        if (qty_mul(q, 1024) < 0)
            return -ERANGE;
    if (q->exp < -9) {
        size_t drop = (size_t)(-9 - q->exp);
        bool up = false;
        for (size_t i = drop > q->nd ? 0 : q->nd - drop; i < q->nd; i++)
            up |= q->digits[i] != '0';
        q->nd = drop > q->nd ? 0 : q->nd - drop;
        q->exp = -9;
        if (up) { /* away from zero: add one unit in the last place */
            size_t i = q->nd;
            while (i > 0 && q->digits[i - 1] == '9')
                q->digits[--i] = '0';
            if (i == 0) {
                memmove(q->digits + 1, q->digits, q->nd++);
                q->digits[0] = '1';
            } else {
                q->digits[i - 1]++;
            }
        }
    }
    while (q->nd > 0 && q->digits[q->nd - 1] == '0') {
        q->nd--;
        q->exp++;
    }
    q->digits[q->nd] = '\0';
    return 0;
}

/* BinarySI prints in binary units only for integers of at least 1024 (else as DecimalSI). */
static bool qty_binary(const qty_num_t *q, char *buf, size_t cap, int *ret_n)
{
    static const char *const bin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    uint64_t v = 0;
    int k = 0;

    if (q->exp < 0 || q->nd + (size_t)q->exp > 19)
        return false;
    for (size_t i = 0; i < q->nd; i++)
        v = v * 10 + (uint64_t)(q->digits[i] - '0');
    for (int i = 0; i < q->exp; i++)
        v *= 10;
    if (v < 1024)
        return false;
    while (k < 6 && v % 1024 == 0) {
        v /= 1024;
        k++;
    }
    if (k == 0) /* apimachinery prints the bare integer, which reads back as DecimalSI */
        return false;
    *ret_n = snprintf(buf, cap, "%s%llu%s", q->neg ? "-" : "", (unsigned long long)v, bin[k]);
    return true;
}

/* Past int64 apimachinery prints its own clamped value: refused rather than rewritten. */
static bool qty_too_big(const qty_num_t *q)
{
    static const char max[] = "9223372036854775807";
    char whole[32];
    size_t n = q->nd + (size_t)(q->exp > 0 ? q->exp : 0);

    if (q->exp < 0 || n < 19)
        return false;
    if (n > 19)
        return true;
    memcpy(whole, q->digits, q->nd);
    memset(whole + q->nd, '0', n - q->nd);
    whole[n] = '\0';
    return strcmp(whole, max) > 0;
}

int qty_canonical(const char *s, char *buf, size_t cap)
{
    static const char *const si[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
    qty_num_t q;
    int n, shift;

    if (qty_parse(s, &q) < 0 || qty_normalize(&q) < 0 || qty_too_big(&q))
        return -EINVAL;
    if (q.nd == 0)
        return snprintf(buf, cap, "0") < (int)cap ? 0 : -ERANGE;
    if (q.fmt == QTY_BINARY_SI && qty_binary(&q, buf, cap, &n))
        return n > 0 && (size_t)n < cap ? 0 : -ERANGE;
    shift = ((q.exp % 3) + 3) % 3; /* lower the exponent to a multiple of three */
    for (int i = 0; i < shift; i++)
        q.digits[q.nd++] = '0';
    q.digits[q.nd] = '\0';
    q.exp -= shift;
    if (q.fmt == QTY_DECIMAL_EXPONENT)
        n = q.exp ? snprintf(buf, cap, "%s%se%d", q.neg ? "-" : "", q.digits, q.exp)
                  : snprintf(buf, cap, "%s%s", q.neg ? "-" : "", q.digits);
    else if (q.exp / 3 + 3 < (int)(sizeof si / sizeof si[0]))
        n = snprintf(buf, cap, "%s%s%s", q.neg ? "-" : "", q.digits, si[q.exp / 3 + 3]);
    else
        n = snprintf(buf, cap, "%s%se%d", q.neg ? "-" : "", q.digits, q.exp);
    return n > 0 && (size_t)n < cap ? 0 : -ERANGE;
}
