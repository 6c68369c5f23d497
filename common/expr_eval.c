/*
 * expr_eval: runs a compiled scalingModifiers formula (see expr.h) as expr-lang's VM does, and
 * applies KEDA's reading of the result. Runs in the adapter (every metric request), the
 * watcher (every scale-loop tick) and the webhook (validation).
 *
 * Values are typed at run time like expr-lang's interface values (nil, bool, int, float64):
 * the checker's types decide only what compiles. Integer arithmetic wraps as Go's int does;
 * float-to-int conversion gives what Go gives on amd64 for NaN and out-of-range values.
 *
 * Invariants: no allocation, no static state (any thread may run a shared program); recursion
 * is bounded by the program's height (EXPR_HEIGHT_MAX, checked at compile time).
 */
#include "common/expr_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct expr_ctx {
    const expr_t *e;
    const double *values;
    const bool *present;
    errtext_t *err;
    expr_val_t locals[EXPR_LOCALS_MAX];
} expr_ctx_t;

static int expr_eval_node(expr_ctx_t *c, int16_t i, expr_val_t *ret);

const char *expr_val_name(const expr_val_t *v)
{
    switch (v->kind) {
    case EXPR_V_BOOL:
        return "bool";
    case EXPR_V_INT:
        return "int";
    case EXPR_V_FLOAT:
        return "float64";
    default:
        return "<nil>";
    }
}

__attribute__((format(printf, 3, 4))) static int expr_rt_fail(expr_ctx_t *c, int16_t i,
                                                              const char *fmt, ...)
{
    char msg[ERRTEXT_MAX], where[64];
    const expr_node_t *n = &c->e->nodes[i];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n->col == 0) {
        errtext_set(c->err, "%s (in KEDA's float() around the formula's value)", msg);
    } else {
        expr_where(where, sizeof where, n->line, n->col);
        errtext_set(c->err, "%s%s", msg, where);
    }
    return -EDOM;
}

static bool expr_is_num(const expr_val_t *v)
{
    return v->kind == EXPR_V_INT || v->kind == EXPR_V_FLOAT;
}

static double expr_f(const expr_val_t *v)
{
    return v->kind == EXPR_V_INT ? (double)v->u.i : v->u.f;
}

static expr_val_t expr_float(double f)
{
    return (expr_val_t){EXPR_V_FLOAT, {.f = f}};
}

static expr_val_t expr_int(int64_t i)
{
    return (expr_val_t){EXPR_V_INT, {.i = i}};
}

/* Go's int(f) on amd64: CVTTSD2SQ, which gives INT64_MIN for NaN and out-of-range values. */
static int64_t expr_go_int(double f)
{
    if (isnan(f) || f >= 9223372036854775808.0 || f < -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)f;
}

static const char *expr_op_text(int op)
{
    static const char *const text[] = {
        [EXPR_OP_ADD] = "+", [EXPR_OP_SUB] = "-",  [EXPR_OP_MUL] = "*", [EXPR_OP_DIV] = "/",
        [EXPR_OP_MOD] = "%", [EXPR_OP_POW] = "**", [EXPR_OP_LT] = "<",  [EXPR_OP_LE] = "<=",
        [EXPR_OP_GT] = ">",  [EXPR_OP_GE] = ">=",
    };
    return op >= 0 && op < (int)(sizeof text / sizeof text[0]) && text[op] ? text[op] : "?";
}

static int expr_arith(expr_ctx_t *c, int16_t i, const expr_val_t *a, const expr_val_t *b,
                      expr_val_t *ret)
{
    int op = c->e->nodes[i].op;
    uint64_t x = (uint64_t)a->u.i, y = (uint64_t)b->u.i;

    if (!expr_is_num(a) || !expr_is_num(b) ||
        (op == EXPR_OP_MOD && (a->kind != EXPR_V_INT || b->kind != EXPR_V_INT)))
        return expr_rt_fail(c, i, "invalid operation: %s %s %s", expr_val_name(a), expr_op_text(op),
                            expr_val_name(b));
    if (op == EXPR_OP_DIV || op == EXPR_OP_POW) {
        *ret = expr_float(op == EXPR_OP_DIV ? expr_f(a) / expr_f(b) : pow(expr_f(a), expr_f(b)));
        return 0;
    }
    if (a->kind == EXPR_V_INT && b->kind == EXPR_V_INT) {
        if (op == EXPR_OP_MOD && b->u.i == 0)
            return expr_rt_fail(c, i, "runtime error: integer divide by zero");
        *ret = expr_int(op == EXPR_OP_ADD   ? (int64_t)(x + y)
                        : op == EXPR_OP_SUB ? (int64_t)(x - y)
                        : op == EXPR_OP_MUL ? (int64_t)(x * y)
                        : b->u.i == -1      ? 0
                                            : a->u.i % b->u.i);
        return 0;
    }
    *ret = expr_float(op == EXPR_OP_ADD   ? expr_f(a) + expr_f(b)
                      : op == EXPR_OP_SUB ? expr_f(a) - expr_f(b)
                                          : expr_f(a) * expr_f(b));
    return 0;
}

static int expr_compare(expr_ctx_t *c, int16_t i, const expr_val_t *a, const expr_val_t *b,
                        expr_val_t *ret)
{
    int op = c->e->nodes[i].op, cmp;

    if (!expr_is_num(a) || !expr_is_num(b))
        return expr_rt_fail(c, i, "invalid operation: %s %s %s", expr_val_name(a), expr_op_text(op),
                            expr_val_name(b));
    if (a->kind == EXPR_V_INT && b->kind == EXPR_V_INT)
        cmp = (a->u.i > b->u.i) - (a->u.i < b->u.i);
    else if (isnan(expr_f(a)) || isnan(expr_f(b)))
        cmp = 2; /* unordered: every comparison is false */
    else
        cmp = (expr_f(a) > expr_f(b)) - (expr_f(a) < expr_f(b));
    ret->kind = EXPR_V_BOOL;
    ret->u.b = op == EXPR_OP_LT   ? cmp == -1
               : op == EXPR_OP_LE ? cmp == -1 || cmp == 0
               : op == EXPR_OP_GT ? cmp == 1
                                  : cmp == 1 || cmp == 0;
    return 0;
}

/* expr-lang's runtime.Equal for the kinds here. */
static bool expr_equal(const expr_val_t *a, const expr_val_t *b)
{
    if (expr_is_num(a) && expr_is_num(b))
        return a->kind == EXPR_V_INT && b->kind == EXPR_V_INT ? a->u.i == b->u.i
                                                              : expr_f(a) == expr_f(b);
    if (a->kind != b->kind)
        return false;
    return a->kind == EXPR_V_NIL || a->u.b == b->u.b;
}

static int expr_bool(expr_ctx_t *c, int16_t i, const expr_val_t *v, const char *what)
{
    if (v->kind != EXPR_V_BOOL)
        return expr_rt_fail(c, i, "non-bool value (%s) used %s", expr_val_name(v), what);
    return 0;
}

static const char *const expr_fn_names[] = {
    [EXPR_FN_FLOAT] = "float", [EXPR_FN_INT] = "int",     [EXPR_FN_ABS] = "abs",
    [EXPR_FN_CEIL] = "ceil",   [EXPR_FN_FLOOR] = "floor", [EXPR_FN_ROUND] = "round",
    [EXPR_FN_MIN] = "min",     [EXPR_FN_MAX] = "max",
};

/* min and max as expr-lang's minMax: the first argument, replaced by each later one that
 * compares past it (so NaN sticks only when it comes first); the winner keeps its kind. */
static int expr_minmax(expr_ctx_t *c, int16_t i, expr_val_t *ret)
{
    const expr_node_t *n = &c->e->nodes[i];
    bool is_max = n->aux == EXPR_FN_MAX;
    expr_val_t best = {EXPR_V_NIL, {.i = 0}}, v;
    int r;

    for (int16_t a = n->a; a >= 0; a = c->e->nodes[a].next) {
        if ((r = expr_eval_node(c, a, &v)) < 0)
            return r;
        if (!expr_is_num(&v))
            return expr_rt_fail(c, i, "invalid argument for %s (type %s)", expr_fn_names[n->aux],
                                expr_val_name(&v));
        if (best.kind == EXPR_V_NIL) {
            best = v;
            continue;
        }
        bool past = best.kind == EXPR_V_INT && v.kind == EXPR_V_INT
                        ? (is_max ? best.u.i < v.u.i : best.u.i > v.u.i)
                        : (is_max ? expr_f(&best) < expr_f(&v) : expr_f(&best) > expr_f(&v));
        if (past)
            best = v;
    }
    *ret = best;
    return 0;
}

static int expr_call(expr_ctx_t *c, int16_t i, expr_val_t *ret)
{
    const expr_node_t *n = &c->e->nodes[i];
    expr_val_t v;
    int r;

    if (n->aux == EXPR_FN_MIN || n->aux == EXPR_FN_MAX)
        return expr_minmax(c, i, ret);
    if ((r = expr_eval_node(c, n->a, &v)) < 0)
        return r;
    if (!expr_is_num(&v)) {
        if (n->aux == EXPR_FN_FLOAT || n->aux == EXPR_FN_INT)
            return expr_rt_fail(c, i, "invalid operation: %s(%s)", expr_fn_names[n->aux],
                                expr_val_name(&v));
        return expr_rt_fail(c, i, "invalid argument for %s (type %s)", expr_fn_names[n->aux],
                            expr_val_name(&v));
    }
    switch (n->aux) {
    case EXPR_FN_FLOAT:
        *ret = expr_float(expr_f(&v));
        break;
    case EXPR_FN_INT:
        *ret = v.kind == EXPR_V_INT ? v : expr_int(expr_go_int(v.u.f));
        break;
    case EXPR_FN_ABS:
        if (v.kind == EXPR_V_INT)
            *ret = expr_int(v.u.i < 0 ? (int64_t)(0 - (uint64_t)v.u.i) : v.u.i);
        else
            *ret = expr_float(v.u.f < 0 ? -v.u.f : v.u.f);
        break;
    default:
        if (v.kind == EXPR_V_INT)
            *ret = expr_float((double)v.u.i);
        else
            *ret = expr_float(n->aux == EXPR_FN_CEIL    ? ceil(v.u.f)
                              : n->aux == EXPR_FN_FLOOR ? floor(v.u.f)
                                                        : round(v.u.f));
    }
    return 0;
}

/* &&, ||, ?:, ??: the operators that may skip an operand. */
static int expr_eval_lazy(expr_ctx_t *c, int16_t i, expr_val_t *ret)
{
    const expr_node_t *n = &c->e->nodes[i];
    int r;

    if ((r = expr_eval_node(c, n->a, ret)) < 0)
        return r;
    switch (n->op) {
    case EXPR_OP_AND:
    case EXPR_OP_OR:
        if ((r = expr_bool(c, i, ret, n->op == EXPR_OP_AND ? "with &&" : "with ||")) < 0)
            return r;
        if (ret->u.b == (n->op == EXPR_OP_OR))
            return 0;
        return expr_eval_node(c, n->b, ret);
    case EXPR_OP_COALESCE:
        return ret->kind == EXPR_V_NIL ? expr_eval_node(c, n->b, ret) : 0;
    default: /* COND */
        if ((r = expr_bool(c, n->a, ret, "as condition")) < 0)
            return r;
        return expr_eval_node(c, ret->u.b ? n->b : n->c, ret);
    }
}

static int expr_eval_unary(expr_ctx_t *c, int16_t i, expr_val_t *ret)
{
    const expr_node_t *n = &c->e->nodes[i];
    int r;

    if ((r = expr_eval_node(c, n->a, ret)) < 0)
        return r;
    if (n->op == EXPR_OP_POS)
        return 0;
    if (n->op == EXPR_OP_NOT) {
        if ((r = expr_bool(c, i, ret, "with !")) < 0)
            return r;
        ret->u.b = !ret->u.b;
        return 0;
    }
    if (ret->kind == EXPR_V_INT)
        ret->u.i = (int64_t)(0 - (uint64_t)ret->u.i);
    else if (ret->kind == EXPR_V_FLOAT)
        ret->u.f = -ret->u.f;
    else
        return expr_rt_fail(c, i, "invalid operation: - %s", expr_val_name(ret));
    return 0;
}

static int expr_eval_binary(expr_ctx_t *c, int16_t i, expr_val_t *ret)
{
    const expr_node_t *n = &c->e->nodes[i];
    expr_val_t a, b;
    int r;

    if ((r = expr_eval_node(c, n->a, &a)) < 0 || (r = expr_eval_node(c, n->b, &b)) < 0)
        return r;
    switch (n->op) {
    case EXPR_OP_EQ:
    case EXPR_OP_NE:
        ret->kind = EXPR_V_BOOL;
        ret->u.b = expr_equal(&a, &b) == (n->op == EXPR_OP_EQ);
        return 0;
    case EXPR_OP_LT:
    case EXPR_OP_LE:
    case EXPR_OP_GT:
    case EXPR_OP_GE:
        return expr_compare(c, i, &a, &b, ret);
    case EXPR_OP_SEQ:
        *ret = b;
        return 0;
    default:
        return expr_arith(c, i, &a, &b, ret);
    }
}

static int expr_eval_node(expr_ctx_t *c, int16_t i, expr_val_t *ret)
{
    const expr_node_t *n = &c->e->nodes[i];
    size_t k;
    int r;

    switch (n->op) {
    case EXPR_OP_CONST:
        *ret = n->v;
        return 0;
    case EXPR_OP_VAR:
        k = (size_t)n->v.u.i;
        if (c->present && !c->present[k])
            *ret = (expr_val_t){EXPR_V_NIL, {.i = 0}};
        else
            *ret = expr_float(c->values[k]);
        return 0;
    case EXPR_OP_LOCAL:
        *ret = c->locals[n->aux];
        return 0;
    case EXPR_OP_LET:
        if ((r = expr_eval_node(c, n->a, &c->locals[n->aux])) < 0)
            return r;
        return expr_eval_node(c, n->b, ret);
    case EXPR_OP_NEG:
    case EXPR_OP_POS:
    case EXPR_OP_NOT:
        return expr_eval_unary(c, i, ret);
    case EXPR_OP_AND:
    case EXPR_OP_OR:
    case EXPR_OP_COALESCE:
    case EXPR_OP_COND:
        return expr_eval_lazy(c, i, ret);
    case EXPR_OP_CALL:
        return expr_call(c, i, ret);
    default:
        return expr_eval_binary(c, i, ret);
    }
}

int expr_run(const expr_t *e, const double *values, const bool *present, expr_val_t *ret,
             errtext_t *err)
{
    expr_ctx_t c = {.e = e, .values = values, .present = present, .err = err};

    if (!e || (e->nvars && !values)) {
        errtext_set(err, "no formula or no values");
        return -EINVAL;
    }
    return expr_eval_node(&c, e->root, ret);
}

int expr_eval(const expr_t *e, const double *values, const bool *present, double *ret,
              bool *ret_nil, errtext_t *err)
{
    expr_val_t v;
    int r = expr_run(e, values, present, &v, err);

    if (r < 0)
        return r;
    if (v.kind == EXPR_V_NIL) {
        *ret_nil = true;
        return 0;
    }
    if (v.kind != EXPR_V_FLOAT) {
        errtext_set(err, "formula returned non-float result %s", expr_val_name(&v));
        return -EDOM;
    }
    if (!isfinite(v.u.f)) {
        errtext_set(err, "formula returned %s, not a finite number",
                    isnan(v.u.f) ? "NaN"
                    : v.u.f > 0  ? "+Inf"
                                 : "-Inf");
        return -EDOM;
    }
    *ret_nil = false;
    *ret = v.u.f;
    return 0;
}

expr_t *expr_free(expr_t *e)
{
    free(e);
    return NULL;
}

int expr_validate(const char *src, const char *const *names, size_t n, errtext_t *err)
{
    double *values;
    expr_t *e = NULL;
    expr_val_t v;
    int r = expr_compile(src, names, n, &e, err);

    if (r < 0)
        return r == -ENOMEM ? r : -EINVAL;
    values = malloc((n ? n : 1) * sizeof *values);
    if (!values) {
        expr_free(e);
        errtext_set(err, "out of memory validating the formula");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        values[i] = -1.0; /* KEDA's dummy value */
    r = expr_run(e, values, NULL, &v, err);
    free(values);
    expr_free(e);
    return r < 0 ? -EINVAL : 0;
}
