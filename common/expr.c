/*
 * expr: compiles a scalingModifiers formula (see expr.h) and owns what the parser builds on:
 * positions and messages, node storage, expr-lang's static types, constant folding. Runs
 * wherever a formula is compiled: the watcher, the adapter, the webhook, `ckeda validate`.
 *
 * The formula is first wrapped exactly as KEDA's castToFloatIfNecessary does, and the wrapped
 * text is what gets parsed, so comments, sequences and `let` behave as they do in KEDA. Each
 * node is type-checked as it is appended (expr-lang's checker visits in the same post-order)
 * and then constant-folded as expr-lang's optimizer does, because folding decides observable
 * behaviour: `1 % 0` is a compile error and `x && false` never evaluates x.
 *
 * Errors keep expr-lang's priority: a syntax error anywhere wins over a type error, which wins
 * over a folding error. Columns are 1-based bytes in the user's formula, not the wrapped text.
 *
 * Invariants: the program holds no pointer into the source; children precede parents; the
 * height and the expanded cost of the tree are bounded when each node is appended.
 */
#include "common/expr_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- positions and errors ------------------------------------------------------------------ */

void expr_where(char *buf, size_t size, unsigned line, unsigned col)
{
    if (col == 0)
        snprintf(buf, size, "%s", "");
    else if (line > 1)
        snprintf(buf, size, " at line %u, column %u", line, col);
    else
        snprintf(buf, size, " at column %u", col);
}

/* Line and column in the user's formula of offset pos in the wrapped text; col 0 when pos lies
 * in KEDA's wrapper, unless clamp (syntax errors at the end point just past the formula). */
static void expr_lc(const expr_parser_t *p, size_t pos, bool clamp, unsigned *line, unsigned *col)
{
    size_t off, i, bol = 0;

    *line = 1;
    if (!clamp && (pos < p->head || pos >= p->head + p->ulen)) {
        *col = 0;
        return;
    }
    off = pos < p->head ? 0 : pos - p->head;
    if (off > p->ulen)
        off = p->ulen;
    for (i = 0; i < off; i++) {
        if (p->s[p->head + i] == '\n') {
            (*line)++;
            bol = i + 1;
        }
    }
    *col = (unsigned)(off - bol + 1);
    if (*line > UINT16_MAX)
        *line = UINT16_MAX;
}

static void expr_msgv(const expr_parser_t *p, errtext_t *out, size_t pos, bool clamp,
                      const char *fmt, va_list ap)
{
    char msg[ERRTEXT_MAX], where[64];
    unsigned line, col;

    vsnprintf(msg, sizeof msg, fmt, ap);
    expr_lc(p, pos, clamp, &line, &col);
    if (col == 0) {
        errtext_set(out, "%s (in KEDA's float() around the formula's value)", msg);
        return;
    }
    expr_where(where, sizeof where, line, col);
    errtext_set(out, "%s%s", msg, where);
}

int expr_fail(expr_parser_t *p, int code, size_t pos, const char *fmt, ...)
{
    va_list ap;

    if (p->perr)
        return -1;
    va_start(ap, fmt);
    expr_msgv(p, &p->pmsg, pos, true, fmt, ap);
    va_end(ap);
    p->perr = code;
    return -1;
}

/* A checker error: the first one is kept; parsing goes on, as a later syntax error wins. */
void expr_check_fail(expr_parser_t *p, size_t pos, const char *fmt, ...)
{
    va_list ap;

    if (p->cset)
        return;
    va_start(ap, fmt);
    expr_msgv(p, &p->cmsg, pos, false, fmt, ap);
    va_end(ap);
    p->cset = true;
}

/* ---- nodes --------------------------------------------------------------------------------- */

static uint32_t expr_cost_add(uint32_t a, uint64_t b)
{
    return a + b > UINT32_MAX ? UINT32_MAX : (uint32_t)(a + b);
}

/* Appends a node; height and cost count shared children once per parent, as evaluation does. */
int16_t expr_node(expr_parser_t *p, int op, int type, size_t pos, int16_t a, int16_t b, int16_t c)
{
    int16_t kids[3] = {a, b, c}, i = (int16_t)p->nn;
    unsigned line, col, h = 0;
    uint32_t cost = 1;

    if (p->perr)
        return -1;
    if (p->nn >= EXPR_NODES_MAX)
        return (int16_t)expr_fail(p, -E2BIG, pos, "formula has more than %d nodes", EXPR_NODES_MAX);
    for (int k = 0; k < 3; k++) {
        int16_t j = kids[k];
        /* argument lists hang off a through next */
        for (; j >= 0; j = op == EXPR_OP_CALL && k == 0 ? p->nodes[j].next : -1) {
            h = p->height[j] > h ? p->height[j] : h;
            cost = expr_cost_add(cost, p->cost[j]);
        }
    }
    if (h + 1 > EXPR_HEIGHT_MAX)
        return (int16_t)expr_fail(p, -E2BIG, pos, "formula nests deeper than %d", EXPR_HEIGHT_MAX);
    if (cost > EXPR_COST_MAX)
        return (int16_t)expr_fail(p, -E2BIG, pos, "formula takes more than %d steps",
                                  EXPR_COST_MAX);
    expr_lc(p, pos, false, &line, &col);
    p->nodes[i] = (expr_node_t){.op = (uint8_t)op,
                                .type = (uint8_t)type,
                                .a = a,
                                .b = b,
                                .c = c,
                                .next = -1,
                                .line = (uint16_t)line,
                                .col = (uint16_t)col};
    p->height[i] = (uint16_t)(h + 1);
    p->cost[i] = cost;
    p->npos[i] = (uint32_t)pos;
    p->nn++;
    return i;
}

/* ---- the checker: expr-lang's natures reduced to the kinds a formula can have ------------- */

bool expr_t_unknown(int t)
{
    return t == EXPR_T_UNKNOWN || t == EXPR_T_ANY;
}

bool expr_t_number(int t)
{
    return t == EXPR_T_INT || t == EXPR_T_FLOAT;
}

const char *expr_t_name(int t)
{
    switch (t) {
    case EXPR_T_BOOL:
        return "bool";
    case EXPR_T_INT:
        return "int";
    case EXPR_T_FLOAT:
        return "float64";
    case EXPR_T_NIL:
        return "nil";
    case EXPR_T_ANY:
        return "interface {}";
    default:
        return "unknown";
    }
}

/* expr-lang's MaybeCompatible: one side unknown and the other unknown or of the wanted kind. */
static bool expr_t_maybe(int l, int r, bool (*ok)(int))
{
    return (expr_t_unknown(l) && expr_t_unknown(r)) || (expr_t_unknown(l) && ok(r)) ||
           (expr_t_unknown(r) && ok(l));
}

static bool expr_t_is_bool(int t)
{
    return t == EXPR_T_BOOL;
}

static bool expr_t_is_int(int t)
{
    return t == EXPR_T_INT;
}

/* expr-lang's AssignableTo for the natures here: same kind, or into an interface type. */
static bool expr_t_assignable(int from, int to)
{
    if (from == EXPR_T_NIL)
        return to == EXPR_T_ANY;
    if (from == EXPR_T_UNKNOWN || to == EXPR_T_UNKNOWN)
        return false;
    return from == to || to == EXPR_T_ANY;
}

/* Result type of l op r, or -1 for a type error (expr-lang's checker binaryNode). */
int expr_t_binary(int op, int l, int r)
{
    bool num = expr_t_number(l) && expr_t_number(r);

    switch (op) {
    case EXPR_OP_EQ:
    case EXPR_OP_NE:
        if (expr_t_unknown(l) || expr_t_unknown(r) || l == EXPR_T_NIL || r == EXPR_T_NIL || num ||
            l == r)
            return EXPR_T_BOOL;
        return -1;
    case EXPR_OP_AND:
    case EXPR_OP_OR:
        return (l == EXPR_T_BOOL && r == EXPR_T_BOOL) || expr_t_maybe(l, r, expr_t_is_bool)
                   ? EXPR_T_BOOL
                   : -1;
    case EXPR_OP_LT:
    case EXPR_OP_LE:
    case EXPR_OP_GT:
    case EXPR_OP_GE:
        return num || expr_t_maybe(l, r, expr_t_number) ? EXPR_T_BOOL : -1;
    case EXPR_OP_ADD:
    case EXPR_OP_SUB:
    case EXPR_OP_MUL:
        if (num)
            return l == EXPR_T_FLOAT || r == EXPR_T_FLOAT ? EXPR_T_FLOAT : EXPR_T_INT;
        return expr_t_maybe(l, r, expr_t_number) ? EXPR_T_UNKNOWN : -1;
    case EXPR_OP_DIV:
    case EXPR_OP_POW:
        return num || expr_t_maybe(l, r, expr_t_number) ? EXPR_T_FLOAT : -1;
    case EXPR_OP_MOD:
        return (l == EXPR_T_INT && r == EXPR_T_INT) || expr_t_maybe(l, r, expr_t_is_int)
                   ? EXPR_T_INT
                   : -1;
    default: /* ?? */
        if (l == EXPR_T_NIL || r == EXPR_T_NIL)
            return l == EXPR_T_NIL ? r : l;
        return expr_t_assignable(r, l) ? l : EXPR_T_UNKNOWN;
    }
}

/* Type of a conditional's result from its branches (expr-lang's conditionalNode). */
int expr_t_branches(int t1, int t2)
{
    if (t1 == EXPR_T_NIL || t2 == EXPR_T_NIL)
        return t1 == EXPR_T_NIL ? t2 : t1;
    return expr_t_assignable(t1, t2) ? t1 : EXPR_T_UNKNOWN;
}

/* ---- constant folding: expr-lang's optimizer/fold.go, applied as each node is made -------- */

static bool expr_is_const(const expr_parser_t *p, int16_t i, int kind)
{
    return i >= 0 && p->nodes[i].op == EXPR_OP_CONST && p->nodes[i].v.kind == kind;
}

static double expr_num(const expr_val_t *v)
{
    return v->kind == EXPR_V_INT ? (double)v->u.i : v->u.f;
}

static int16_t expr_const(expr_parser_t *p, int16_t i, expr_val_t v)
{
    p->nodes[i].op = EXPR_OP_CONST;
    p->nodes[i].a = p->nodes[i].b = p->nodes[i].c = -1;
    p->nodes[i].v = v;
    p->height[i] = 1;
    p->cost[i] = 1;
    return i;
}

/* expr-lang's patchCopyType: the parent is replaced by a child, which takes the parent's type. */
static int16_t expr_copy(expr_parser_t *p, int16_t parent, int16_t child)
{
    p->nodes[child].type = p->nodes[parent].type;
    return child;
}

static int16_t expr_fold_logic(expr_parser_t *p, int16_t i)
{
    const expr_node_t *n = &p->nodes[i];
    bool is_and = n->op == EXPR_OP_AND;
    bool la = expr_is_const(p, n->a, EXPR_V_BOOL), lb = expr_is_const(p, n->b, EXPR_V_BOOL);
    bool va = la && p->nodes[n->a].v.u.b, vb = lb && p->nodes[n->b].v.u.b;

    if (la && va == is_and)
        return expr_copy(p, i, n->b);
    if (lb && vb == is_and)
        return expr_copy(p, i, n->a);
    if ((la && va != is_and) || (lb && vb != is_and))
        return expr_const(p, i, (expr_val_t){EXPR_V_BOOL, {.b = !is_and}});
    return i;
}

static int16_t expr_fold_arith(expr_parser_t *p, int16_t i)
{
    const expr_node_t *n = &p->nodes[i];
    const expr_val_t *a = &p->nodes[n->a].v, *b = &p->nodes[n->b].v;
    bool ints = a->kind == EXPR_V_INT && b->kind == EXPR_V_INT;
    uint64_t x = (uint64_t)a->u.i, y = (uint64_t)b->u.i;
    double fa = expr_num(a), fb = expr_num(b);

    switch (n->op) {
    case EXPR_OP_ADD:
        return ints ? expr_const(p, i, (expr_val_t){EXPR_V_INT, {.i = (int64_t)(x + y)}})
                    : expr_const(p, i, (expr_val_t){EXPR_V_FLOAT, {.f = fa + fb}});
    case EXPR_OP_SUB:
        return ints ? expr_const(p, i, (expr_val_t){EXPR_V_INT, {.i = (int64_t)(x - y)}})
                    : expr_const(p, i, (expr_val_t){EXPR_V_FLOAT, {.f = fa - fb}});
    case EXPR_OP_MUL:
        return ints ? expr_const(p, i, (expr_val_t){EXPR_V_INT, {.i = (int64_t)(x * y)}})
                    : expr_const(p, i, (expr_val_t){EXPR_V_FLOAT, {.f = fa * fb}});
    case EXPR_OP_DIV:
        return expr_const(p, i, (expr_val_t){EXPR_V_FLOAT, {.f = fa / fb}});
    case EXPR_OP_POW:
        return expr_const(p, i, (expr_val_t){EXPR_V_FLOAT, {.f = pow(fa, fb)}});
    case EXPR_OP_MOD:
        if (!ints)
            return i;
        if (b->u.i == 0) {
            if (!p->fset) {
                errtext_t *save = &p->fmsg;
                char where[64];
                expr_where(where, sizeof where, n->line, n->col);
                errtext_set(save, "integer divide by zero%s", where);
                p->fset = true;
            }
            return i;
        }
        return expr_const(p, i,
                          (expr_val_t){EXPR_V_INT, {.i = b->u.i == -1 ? 0 : a->u.i % b->u.i}});
    case EXPR_OP_EQ:
        if (ints || (a->kind == EXPR_V_BOOL && b->kind == EXPR_V_BOOL))
            return expr_const(
                p, i, (expr_val_t){EXPR_V_BOOL, {.b = ints ? a->u.i == b->u.i : a->u.b == b->u.b}});
        return i;
    default:
        return i;
    }
}

int16_t expr_fold(expr_parser_t *p, int16_t i)
{
    const expr_node_t *n = &p->nodes[i];

    switch (n->op) {
    case EXPR_OP_NEG:
    case EXPR_OP_POS:
        if (expr_is_const(p, n->a, EXPR_V_INT)) {
            uint64_t x = (uint64_t)p->nodes[n->a].v.u.i;
            return expr_const(
                p, i, (expr_val_t){EXPR_V_INT, {.i = (int64_t)(n->op == EXPR_OP_NEG ? 0 - x : x)}});
        }
        if (expr_is_const(p, n->a, EXPR_V_FLOAT)) {
            double f = p->nodes[n->a].v.u.f;
            return expr_const(p, i,
                              (expr_val_t){EXPR_V_FLOAT, {.f = n->op == EXPR_OP_NEG ? -f : f}});
        }
        return i;
    case EXPR_OP_NOT:
        if (expr_is_const(p, n->a, EXPR_V_BOOL))
            return expr_const(p, i, (expr_val_t){EXPR_V_BOOL, {.b = !p->nodes[n->a].v.u.b}});
        return i;
    case EXPR_OP_AND:
    case EXPR_OP_OR:
        return expr_fold_logic(p, i);
    case EXPR_OP_EQ:
    case EXPR_OP_ADD:
    case EXPR_OP_SUB:
    case EXPR_OP_MUL:
    case EXPR_OP_DIV:
    case EXPR_OP_MOD:
    case EXPR_OP_POW:
        if (n->op == EXPR_OP_EQ
                ? (p->nodes[n->a].op == EXPR_OP_CONST && p->nodes[n->b].op == EXPR_OP_CONST)
                : ((expr_is_const(p, n->a, EXPR_V_INT) || expr_is_const(p, n->a, EXPR_V_FLOAT)) &&
                   (expr_is_const(p, n->b, EXPR_V_INT) || expr_is_const(p, n->b, EXPR_V_FLOAT))))
            return expr_fold_arith(p, i);
        return i;
    default:
        return i;
    }
}

/* ---- API ----------------------------------------------------------------------------------- */

/* KEDA's castToFloatIfNecessary, remembering where the user's text starts. */
static void expr_wrap(expr_parser_t *p, const char *src, size_t len)
{
    static const char let_head[] = EXPR_WRAP_LET "(";
    static const char let_tail[] = "); _kedaCompositeResult == nil ? nil : "
                                   "float(_kedaCompositeResult)";
    const char *head = "", *tail = "";

    if (strstr(src, "??")) {
        if (strncmp(src, EXPR_WRAP_LET, strlen(EXPR_WRAP_LET)) != 0) {
            head = let_head;
            tail = let_tail;
        }
    } else if (strncmp(src, "float(", 6) != 0) {
        head = "float(";
        tail = ")";
    }
    p->head = strlen(head);
    p->ulen = len;
    p->len = (size_t)snprintf(p->s, sizeof p->s, "%s%s%s", head, src, tail);
}

static int expr_finish(expr_parser_t *p, int16_t root, size_t nnames, expr_t **ret, errtext_t *err)
{
    expr_t *e;

    if (!p->perr && root >= 0 && p->cur.kind != TK_EOF)
        expr_unexpected(p);
    if (p->perr || root < 0) {
        *err = p->pmsg;
        return p->perr ? p->perr : -EINVAL;
    }
    if (p->cset || p->fset) {
        *err = p->cset ? p->cmsg : p->fmsg;
        return -EINVAL;
    }
    e = malloc(sizeof *e + p->nn * sizeof e->nodes[0]);
    if (!e) {
        errtext_set(err, "out of memory compiling the formula");
        return -ENOMEM;
    }
    e->nvars = nnames;
    e->root = root;
    e->n = p->nn;
    memcpy(e->nodes, p->nodes, p->nn * sizeof e->nodes[0]);
    *ret = e;
    return 0;
}

int expr_compile(const char *src, const char *const *names, size_t n, expr_t **ret, errtext_t *err)
{
    errtext_t scratch;
    expr_parser_t *p;
    size_t len = src ? strnlen(src, EXPR_SOURCE_MAX + 1) : 0;
    int r;

    err = err ? err : &scratch;
    if (!src || !ret || (n && !names)) {
        errtext_set(err, "no formula");
        return -EINVAL;
    }
    if (len > EXPR_SOURCE_MAX) {
        errtext_set(err, "formula longer than %d bytes", EXPR_SOURCE_MAX);
        return -E2BIG;
    }
    p = calloc(1, sizeof *p);
    if (!p) {
        errtext_set(err, "out of memory compiling the formula");
        return -ENOMEM;
    }
    expr_wrap(p, src, len);
    p->names = names;
    p->nnames = n;
    if (expr_lex_next(p) == 0)
        r = expr_finish(p, expr_parse_sequence(p), n, ret, err);
    else
        r = expr_finish(p, -1, n, ret, err);
    free(p);
    return r;
}

bool expr_uses(const expr_t *e, size_t i)
{
    for (size_t k = 0; e && k < e->n; k++) {
        if (e->nodes[k].op == EXPR_OP_VAR && (size_t)e->nodes[k].v.u.i == i)
            return true;
    }
    return false;
}
