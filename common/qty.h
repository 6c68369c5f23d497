/*
 * qty: Kubernetes resource.Quantity in its canonical DecimalSI form, as apimachinery prints
 * it: the value as an integer mantissa times 10^(3k) with the largest such exponent, suffixed
 * n u m "" k M G T P E ("1500m", "5", "5k", "1M"). KEDA reports metric values and targets as
 * milli-quantities, so values carry at most three decimals, as KEDA's do.
 *
 * The adapter formats served values with it and the watcher formats HPA targets with it, so
 * the two can never disagree. Any process may use it; no state.
 */
#ifndef CKEDA_COMMON_QTY_H
#define CKEDA_COMMON_QTY_H

#include <stddef.h>
#include <stdint.h>

#define QTY_MAX       32  /* any target, any value below 1e28 */
#define QTY_VALUE_MAX 400 /* any value: "%.3f" of DBL_MAX is 313 bytes */

/* Formats milli/1000. Returns 0, or -ERANGE if cap is too small. */
int qty_format_milli(int64_t milli, char *buf, size_t cap);
/* A metric value as KEDA serves it (GenerateMetricInMili: MustParse(Sprintf("%.3f", v))):
 * rounded to a thousandth; NaN, infinities and negatives are "0". Exact at any magnitude;
 * -ERANGE if cap is too small (QTY_VALUE_MAX always suffices). */
int qty_format_value(double v, char *buf, size_t cap);
/* An HPA target as KEDA writes it (GetMetricTargetMili: NewMilliQuantity(int64(v * 1000))):
 * truncated toward zero to a thousandth. Saturates near 9.2e15. */
int qty_format_target(double v, char *buf, size_t cap);

/* Parses a resource.Quantity ("500m", "0.5", "512Mi", "1.5Gi", "1e3") and writes the text
 * whose parse the API server prints back unchanged (the HPA target is then never rewritten):
 * apimachinery's String() (DecimalSI with the largest exponent, BinarySI for multiples of 1Ki,
 * the exponent form kept, finer than nano rounded up), except that a binary quantity that is no
 * multiple of 1Ki is written as DecimalSI, as the bare integer apimachinery prints reads back.
 * -EINVAL if it is not a quantity, or is one apimachinery would store verbatim ("+2", "1E3",
 * "1e+3") or clamp (past int64); -ERANGE if cap is too small. */
int qty_canonical(const char *s, char *buf, size_t cap);

#endif
