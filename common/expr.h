/*
 * expr: the scalingModifiers formula language (reference keda.md §1.12): the subset of
 * expr-lang that KEDA users write. Numbers, trigger names, + - * / %, comparisons, && || !,
 * ?:, ??, nil, min, max, abs, ceil, floor, round, float, int, parentheses. Types are checked at
 * compile time as expr-lang does with KEDA's environment (every trigger a float64), and the
 * formula's result must be a number (KEDA wraps it in float()), or nil when it uses ??.
 *
 * Compiled once per formula (the watcher on each ScaledObject change, the adapter when it loads
 * the object); evaluation allocates nothing and is safe from any thread on a shared program.
 */
#ifndef CKEDA_COMMON_EXPR_H
#define CKEDA_COMMON_EXPR_H

#include "common/errtext.h"

#include <stdbool.h>
#include <stddef.h>

#define EXPR_SOURCE_MAX 4096 /* longer formulas are refused */
#define EXPR_NODES_MAX  512
#define EXPR_DEPTH_MAX  64

typedef struct expr expr_t;

/* Compiles src with the variables names[0..n). A syntax or type error is -EINVAL with a message
 * that gives the column (1-based) and what was expected, e.g. "unexpected token ')' at column
 * 7"; an unknown name is -EINVAL "unknown name trig_x at column 1". -E2BIG for a formula longer
 * than EXPR_SOURCE_MAX or deeper or larger than the limits. -ENOMEM. */
int expr_compile(const char *src, const char *const *names, size_t n, expr_t **ret, errtext_t *err);

/* Evaluates e with values[i] for names[i]; a NULL `present`, or present[i] true, means the
 * value is there, false means the trigger is nil (fallback behavior scalingModifiers, for ??).
 * 0 with *ret_nil false and *ret set, or *ret_nil true when the formula gave nil. -EDOM with a
 * message when evaluation fails as expr-lang's would at run time (nil in arithmetic, integer
 * division or modulo by zero), and also, unlike KEDA, which would turn it into a meaningless
 * quantity, when the value is not a finite float64 (Inf, NaN, or an int or bool from a formula
 * starting with float( that KEDA leaves unwrapped). */
int expr_eval(const expr_t *e, const double *values, const bool *present, double *ret,
              bool *ret_nil, errtext_t *err);

/* Whether the formula names names[i] (the source mentions it, even where folding dropped it). */
bool expr_uses(const expr_t *e, size_t i);

/* Frees e. Accepts NULL; returns NULL. */
expr_t *expr_free(expr_t *e);

/* KEDA's ValidateAndCompileScalingModifiers for the formula: compiles and evaluates with every
 * name = -1. 0, or -EINVAL with the message (-ENOMEM). Like KEDA it does not look at the value
 * the formula gives (an infinite or non-float value passes here and fails in expr_eval). */
int expr_validate(const char *src, const char *const *names, size_t n, errtext_t *err);

#endif
