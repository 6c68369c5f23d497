/*
 * expr_parse: the lexer and parser of scalingModifiers formulas, transcribed from expr-lang
 * v1.17.8 (parser/lexer/state.go, parser/parser.go): its tokens, its precedence climbing, its
 * chained comparisons, `??` mixing rule, `let`, `if {} else {}`, elvis and sequences. Called
 * by expr_compile (expr.c) on KEDA's wrapped text; builds nodes through expr_node/expr_fold.
 *
 * What expr-lang accepts but ckeda does not (strings, arrays, maps, members, predicates such as
 * count(), pipes, `in`, most builtins) is a compile error that says "not supported".
 *
 * Invariants: recursion goes through expr_parse_expression or expr_parse_if, both of which
 * count depth against EXPR_DEPTH_MAX; after the first syntax error nothing more is parsed.
 */
#include "common/expr_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const expr_builtins[] = {
    "all",        "none",       "any",        "one",           "filter",  "map",
    "find",       "findIndex",  "findLast",   "findLastIndex", "count",   "sum",
    "groupBy",    "sortBy",     "reduce",     "len",           "type",    "abs",
    "ceil",       "floor",      "round",      "int",           "float",   "string",
    "trim",       "trimPrefix", "trimSuffix", "upper",         "lower",   "split",
    "splitAfter", "replace",    "repeat",     "join",          "indexOf", "lastIndexOf",
    "hasPrefix",  "hasSuffix",  "max",        "min",           "mean",    "median",
    "toJSON",     "fromJSON",   "toBase64",   "fromBase64",    "now",     "duration",
    "date",       "timezone",   "first",      "last",          "get",     "take",
    "keys",       "values",     "toPairs",    "fromPairs",     "reverse", "uniq",
    "concat",     "flatten",    "sort",       "bitand",        "bitor",   "bitxor",
    "bitnand",    "bitnot",     "bitshl",     "bitshr",        "bitushr",
};

static const struct {
    const char *name;
    expr_fn_t fn;
} expr_funcs[] = {
    {"float", EXPR_FN_FLOAT}, {"int", EXPR_FN_INT},     {"abs", EXPR_FN_ABS},
    {"ceil", EXPR_FN_CEIL},   {"floor", EXPR_FN_FLOOR}, {"round", EXPR_FN_ROUND},
    {"min", EXPR_FN_MIN},     {"max", EXPR_FN_MAX},
};

static const struct {
    const char *op;
    int prec;
    bool right;
    int code; /* expr_op_t, or -1: valid expr-lang, not supported here */
} expr_binops[] = {
    {"|", 0, false, -1},
    {"or", 10, false, EXPR_OP_OR},
    {"||", 10, false, EXPR_OP_OR},
    {"and", 15, false, EXPR_OP_AND},
    {"&&", 15, false, EXPR_OP_AND},
    {"==", 20, false, EXPR_OP_EQ},
    {"!=", 20, false, EXPR_OP_NE},
    {"<", 20, false, EXPR_OP_LT},
    {">", 20, false, EXPR_OP_GT},
    {">=", 20, false, EXPR_OP_GE},
    {"<=", 20, false, EXPR_OP_LE},
    {"in", 20, false, -1},
    {"matches", 20, false, -1},
    {"contains", 20, false, -1},
    {"startsWith", 20, false, -1},
    {"endsWith", 20, false, -1},
    {"..", 25, false, -1},
    {"+", 30, false, EXPR_OP_ADD},
    {"-", 30, false, EXPR_OP_SUB},
    {"*", 60, false, EXPR_OP_MUL},
    {"/", 60, false, EXPR_OP_DIV},
    {"%", 60, false, EXPR_OP_MOD},
    {"**", 100, true, EXPR_OP_POW},
    {"^", 100, true, EXPR_OP_POW},
    {"??", 500, false, EXPR_OP_COALESCE},
};

static const char *const expr_keywords[] = {
    "not", "in", "or", "and", "matches", "contains", "startsWith", "endsWith", "let", "if", "else"};

static int16_t expr_parse_expression(expr_parser_t *p, int prec);

/* ---- lexer --------------------------------------------------------------------------------- */

static bool expr_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool expr_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool expr_is_alpha(char c)
{
    return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool expr_is_alnum(char c)
{
    return expr_is_alpha(c) || expr_is_digit(c);
}

static bool expr_accept(expr_parser_t *p, const char *set)
{
    if (p->pos < p->len && p->s[p->pos] && strchr(set, p->s[p->pos])) {
        p->pos++;
        return true;
    }
    return false;
}

static void expr_accept_run(expr_parser_t *p, const char *set)
{
    while (expr_accept(p, set))
        ;
}

/* expr-lang's scanNumber, from p->pos. */
static int expr_lex_number(expr_parser_t *p, size_t start)
{
    const char *digits = "0123456789_";
    size_t end;

    if (expr_accept(p, "0")) {
        if (expr_accept(p, "xX"))
            digits = "0123456789abcdefABCDEF_";
        else if (expr_accept(p, "oO"))
            digits = "01234567_";
        else if (expr_accept(p, "bB"))
            digits = "01_";
    }
    expr_accept_run(p, digits);
    end = p->pos;
    if (expr_accept(p, ".")) {
        if (p->pos < p->len && p->s[p->pos] == '.') {
            p->pos = end; /* 1..2 is a range */
            goto out;
        }
        expr_accept_run(p, digits);
    }
    if (expr_accept(p, "eE")) {
        expr_accept(p, "+-");
        expr_accept_run(p, digits);
    }
    if (p->pos < p->len && expr_is_alnum(p->s[p->pos]))
        return expr_fail(p, -EINVAL, start, "bad number syntax: \"%.*s\"",
                         (int)(p->pos + 1 - start), p->s + start);
out:
    p->cur = (expr_tok_t){TK_NUM, start, p->pos - start};
    return 0;
}

static int expr_skip_blank(expr_parser_t *p)
{
    for (;;) {
        while (p->pos < p->len && expr_is_space(p->s[p->pos]))
            p->pos++;
        if (p->pos + 1 >= p->len || p->s[p->pos] != '/')
            return 0;
        if (p->s[p->pos + 1] == '/') {
            while (p->pos < p->len && p->s[p->pos] != '\n')
                p->pos++;
        } else if (p->s[p->pos + 1] == '*') {
            const char *e = strstr(p->s + p->pos + 2, "*/");
            if (!e)
                return expr_fail(p, -EINVAL, p->pos, "unclosed comment");
            p->pos = (size_t)(e - p->s) + 2;
        } else {
            return 0;
        }
    }
}

static void expr_lex_word(expr_parser_t *p, size_t start)
{
    int kind = TK_IDENT;

    while (p->pos < p->len && expr_is_alnum(p->s[p->pos]))
        p->pos++;
    for (size_t i = 0; i < sizeof expr_keywords / sizeof expr_keywords[0]; i++) {
        if (strlen(expr_keywords[i]) == p->pos - start &&
            !memcmp(expr_keywords[i], p->s + start, p->pos - start))
            kind = TK_OP;
    }
    p->cur = (expr_tok_t){kind, start, p->pos - start};
}

int expr_lex_next(expr_parser_t *p)
{
    size_t start;
    char c;

    if (p->perr || expr_skip_blank(p) < 0)
        return -1;
    start = p->pos;
    if (p->pos >= p->len) {
        p->cur = (expr_tok_t){TK_EOF, p->len, 0};
        return 0;
    }
    c = p->s[p->pos++];
    if (expr_is_digit(c) || (c == '.' && p->pos < p->len && expr_is_digit(p->s[p->pos]))) {
        if (c != '.')
            p->pos--;
        return expr_lex_number(p, start);
    }
    if (expr_is_alpha(c)) {
        expr_lex_word(p, start);
        return 0;
    }
    if (c == '\'' || c == '"' || c == '`')
        return expr_fail(p, -EINVAL, start, "string literals are not supported");
    if (c == '.')
        expr_accept(p, ".");
    else if (c == '?')
        expr_accept(p, ".?");
    else if (c == '|')
        expr_accept(p, "|");
    else if (c == ':')
        expr_accept(p, ":");
    else if (c == '#')
        expr_accept(p, "#");
    else if (strchr("&!=*<>", c))
        expr_accept(p, "&=*");
    else if (!strchr("([{)]},;%+-^/", c)) {
        if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
            return expr_fail(p, -EINVAL, start, "unrecognized character '%c'", c);
        return expr_fail(p, -EINVAL, start, "unrecognized character 0x%02x", (unsigned char)c);
    }
    p->cur = (expr_tok_t){strchr("([{)]}", c) ? TK_BRACKET : TK_OP, start, p->pos - start};
    return 0;
}

static bool expr_tok_is(const expr_parser_t *p, int kind, const char *text)
{
    return p->cur.kind == kind && strlen(text) == p->cur.len &&
           !memcmp(text, p->s + p->cur.start, p->cur.len);
}

int expr_unexpected(expr_parser_t *p)
{
    if (p->cur.kind == TK_EOF)
        return expr_fail(p, -EINVAL, p->cur.start, "unexpected end of formula");
    return expr_fail(p, -EINVAL, p->cur.start, "unexpected token '%.*s'",
                     (int)(p->cur.len > EXPR_QUOTE_MAX ? EXPR_QUOTE_MAX : p->cur.len),
                     p->s + p->cur.start);
}

static int expr_expect(expr_parser_t *p, int kind, const char *text)
{
    if (!expr_tok_is(p, kind, text))
        return expr_unexpected(p);
    return expr_lex_next(p);
}

/* ---- the parser: expr-lang's parser.go ----------------------------------------------------- */

static int expr_type(const expr_parser_t *p, int16_t i)
{
    return p->nodes[i].type;
}

static bool expr_tok_eq(const expr_parser_t *p, const expr_tok_t *t, const char *text)
{
    return strlen(text) == t->len && !memcmp(text, p->s + t->start, t->len);
}

static bool expr_in_list(const expr_parser_t *p, const expr_tok_t *t, const char *const *list,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (expr_tok_eq(p, t, list[i]))
            return true;
    }
    return false;
}

static int expr_parse_int(const char *d, unsigned base, int64_t *ret)
{
    uint64_t v = 0;

    if (!*d)
        return -EINVAL;
    for (; *d; d++) {
        unsigned dv = expr_is_digit(*d) ? (unsigned)(*d - '0') : (unsigned)(*d - 'a' + 10);
        if (!(expr_is_digit(*d) || (*d >= 'a' && *d <= 'f')) || dv >= base)
            return -EINVAL;
        if (v > ((uint64_t)INT64_MAX - dv) / base)
            return -ERANGE;
        v = v * base + dv;
    }
    *ret = (int64_t)v;
    return 0;
}

static int16_t expr_parse_number(expr_parser_t *p)
{
    expr_tok_t t = p->cur;
    char buf[128], *end;
    size_t n = 0;
    expr_val_t v = {EXPR_V_INT, {.i = 0}};
    unsigned base = 10;
    int r;

    for (size_t i = 0; i < t.len && n + 1 < sizeof buf; i++) {
        char c = p->s[t.start + i];
        if (c != '_')
            buf[n++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    buf[n] = '\0';
    if (t.len >= sizeof buf)
        return (int16_t)expr_fail(p, -EINVAL, t.start, "number literal too long");
    if (buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'o' || buf[1] == 'b')) {
        base = buf[1] == 'x' ? 16 : buf[1] == 'o' ? 8 : 2;
        r = expr_parse_int(buf + 2, base, &v.u.i);
    } else if (strpbrk(buf, ".e")) {
        errno = 0;
        v = (expr_val_t){EXPR_V_FLOAT, {.f = strtod(buf, &end)}};
        r = *end ? -EINVAL : errno == ERANGE && isinf(v.u.f) ? -ERANGE : 0;
    } else {
        r = expr_parse_int(buf, 10, &v.u.i);
    }
    if (r < 0)
        return (int16_t)expr_fail(p, -EINVAL, t.start, "invalid %s literal \"%.*s\": %s",
                                  v.kind == EXPR_V_FLOAT ? "float"
                                  : base == 16           ? "hex"
                                  : base == 8            ? "octal"
                                  : base == 2            ? "binary"
                                                         : "integer",
                                  (int)(t.len > EXPR_QUOTE_MAX ? EXPR_QUOTE_MAX : t.len),
                                  p->s + t.start,
                                  r == -ERANGE ? "value out of range" : "invalid syntax");
    if (expr_lex_next(p) < 0)
        return -1;
    int16_t i = expr_node(p, EXPR_OP_CONST, v.kind == EXPR_V_INT ? EXPR_T_INT : EXPR_T_FLOAT,
                          t.start, -1, -1, -1);
    if (i >= 0)
        p->nodes[i].v = v;
    return i;
}

static int16_t expr_parse_ident(expr_parser_t *p, const expr_tok_t *t)
{
    int16_t i;

    for (int k = p->nscope - 1; k >= 0; k--) {
        if (p->scope[k].len == t->len &&
            !memcmp(p->s + p->scope[k].start, p->s + t->start, t->len)) {
            i = expr_node(p, EXPR_OP_LOCAL, p->scope[k].type, t->start, -1, -1, -1);
            if (i >= 0)
                p->nodes[i].aux = p->scope[k].slot;
            return i;
        }
    }
    for (size_t k = 0; k < p->nnames; k++) {
        if (p->names[k] && expr_tok_eq(p, t, p->names[k])) {
            i = expr_node(p, EXPR_OP_VAR, EXPR_T_FLOAT, t->start, -1, -1, -1);
            if (i >= 0)
                p->nodes[i].v = (expr_val_t){EXPR_V_INT, {.i = (int64_t)k}};
            return i;
        }
    }
    expr_check_fail(p, t->start, "unknown name %.*s", (int)t->len, p->s + t->start);
    return expr_node(p, EXPR_OP_CONST, EXPR_T_UNKNOWN, t->start, -1, -1, -1);
}

/* Arguments of a call, linked through next; *ret_n counts them. */
static int16_t expr_parse_args(expr_parser_t *p, int *ret_n)
{
    int16_t first = -1, last = -1, e;
    int n = 0;

    if (expr_expect(p, TK_BRACKET, "(") < 0)
        return -1;
    while (!expr_tok_is(p, TK_BRACKET, ")") && !p->perr) {
        if (n > 0 && expr_expect(p, TK_OP, ",") < 0)
            return -1;
        if (expr_tok_is(p, TK_BRACKET, ")"))
            break;
        e = expr_parse_expression(p, 0);
        if (e < 0)
            return -1;
        if (last >= 0)
            p->nodes[last].next = e;
        else
            first = e;
        last = e;
        n++;
    }
    if (expr_expect(p, TK_BRACKET, ")") < 0)
        return -1;
    *ret_n = n;
    return n ? first : -2; /* -2: no arguments, no error */
}

/* The type of a builtin's result, or a checker error (expr-lang's Validate functions). */
static int expr_t_call(expr_parser_t *p, expr_fn_t fn, const char *name, int16_t first, int n,
                       size_t pos)
{
    int t = first >= 0 ? expr_type(p, first) : EXPR_T_UNKNOWN;

    if (fn == EXPR_FN_MIN || fn == EXPR_FN_MAX) {
        if (n == 0)
            expr_check_fail(p, pos, "not enough arguments to call %s", name);
        for (int16_t a = first; n > 0 && a >= 0; a = p->nodes[a].next) {
            if (expr_t_unknown(expr_type(p, a)))
                return EXPR_T_ANY;
            if (!expr_t_number(expr_type(p, a))) {
                expr_check_fail(p, pos, "invalid argument for %s (type %s)", name,
                                expr_t_name(expr_type(p, a)));
                return EXPR_T_ANY;
            }
        }
        return n ? t : EXPR_T_ANY;
    }
    if (n != 1) {
        expr_check_fail(p, pos, "invalid number of arguments (expected 1, got %d)", n);
        return EXPR_T_ANY;
    }
    if (!expr_t_number(t) && !expr_t_unknown(t)) {
        expr_check_fail(p, pos, "invalid argument for %s (type %s)", name, expr_t_name(t));
        return EXPR_T_ANY;
    }
    switch (fn) {
    case EXPR_FN_INT:
        return EXPR_T_INT;
    case EXPR_FN_ABS:
        return expr_t_unknown(t) ? EXPR_T_ANY : t;
    default:
        return EXPR_T_FLOAT;
    }
}

static int16_t expr_parse_call(expr_parser_t *p, const expr_tok_t *t)
{
    char name[EXPR_QUOTE_MAX + 1];
    int16_t first;
    int n = 0;

    snprintf(name, sizeof name, "%.*s", (int)(t->len > EXPR_QUOTE_MAX ? EXPR_QUOTE_MAX : t->len),
             p->s + t->start);
    for (size_t k = 0; k < sizeof expr_funcs / sizeof expr_funcs[0]; k++) {
        if (strcmp(name, expr_funcs[k].name) != 0)
            continue;
        first = expr_parse_args(p, &n);
        if (first == -1)
            return -1;
        first = first < 0 ? -1 : first;
        int type = expr_t_call(p, expr_funcs[k].fn, name, first, n, t->start);
        int16_t i = expr_node(p, EXPR_OP_CALL, type, t->start, first, -1, -1);
        if (i >= 0)
            p->nodes[i].aux = (uint8_t)expr_funcs[k].fn;
        return i;
    }
    if (expr_in_list(p, t, expr_builtins, sizeof expr_builtins / sizeof expr_builtins[0]))
        return (int16_t)expr_fail(p, -EINVAL, t->start, "function %s is not supported", name);
    if (expr_in_list(p, t, (const char *const *)p->names, p->nnames))
        expr_check_fail(p, t->start, "float64 is not callable");
    else
        expr_check_fail(p, t->start, "unknown name %s", name);
    if (expr_parse_args(p, &n) == -1)
        return -1;
    return expr_node(p, EXPR_OP_CONST, EXPR_T_UNKNOWN, t->start, -1, -1, -1);
}

static int16_t expr_parse_postfix(expr_parser_t *p, int16_t node)
{
    if (node >= 0 && (expr_tok_is(p, TK_OP, ".") || expr_tok_is(p, TK_OP, "?.") ||
                      expr_tok_is(p, TK_BRACKET, "[")))
        return (int16_t)expr_fail(p, -EINVAL, p->cur.start,
                                  "member access and indexing are not supported");
    return node;
}

static int16_t expr_parse_secondary(expr_parser_t *p)
{
    expr_tok_t t = p->cur;
    int16_t i;

    if (t.kind == TK_NUM)
        return expr_parse_postfix(p, expr_parse_number(p));
    if (t.kind == TK_BRACKET &&
        (expr_tok_is(p, TK_BRACKET, "[") || expr_tok_is(p, TK_BRACKET, "{")))
        return (int16_t)expr_fail(p, -EINVAL, t.start, "array and map literals are not supported");
    if (t.kind != TK_IDENT)
        return (int16_t)expr_unexpected(p);
    if (expr_lex_next(p) < 0)
        return -1;
    if (expr_tok_eq(p, &t, "true") || expr_tok_eq(p, &t, "false")) {
        i = expr_node(p, EXPR_OP_CONST, EXPR_T_BOOL, t.start, -1, -1, -1);
        if (i >= 0)
            p->nodes[i].v = (expr_val_t){EXPR_V_BOOL, {.b = expr_tok_eq(p, &t, "true")}};
        return i;
    }
    if (expr_tok_eq(p, &t, "nil"))
        return expr_node(p, EXPR_OP_CONST, EXPR_T_NIL, t.start, -1, -1, -1);
    if (expr_tok_is(p, TK_BRACKET, "("))
        i = expr_parse_call(p, &t);
    else
        i = expr_parse_ident(p, &t);
    return expr_parse_postfix(p, i);
}

static int16_t expr_unary(expr_parser_t *p, const expr_tok_t *t, int16_t a)
{
    bool is_not = expr_tok_eq(p, t, "!") || expr_tok_eq(p, t, "not");
    int op = is_not ? EXPR_OP_NOT : expr_tok_eq(p, t, "-") ? EXPR_OP_NEG : EXPR_OP_POS;
    int ta = expr_type(p, a), type;

    if (is_not)
        type = ta == EXPR_T_BOOL || expr_t_unknown(ta) ? EXPR_T_BOOL : -1;
    else
        type = expr_t_number(ta) ? ta : expr_t_unknown(ta) ? EXPR_T_UNKNOWN : -1;
    if (type < 0) {
        expr_check_fail(p, t->start, "invalid operation: %.*s (mismatched type %s)", (int)t->len,
                        p->s + t->start, expr_t_name(ta));
        type = EXPR_T_UNKNOWN;
    }
    int16_t i = expr_node(p, op, type, t->start, a, -1, -1);
    return i < 0 ? -1 : expr_fold(p, i);
}

static int16_t expr_parse_primary(expr_parser_t *p)
{
    expr_tok_t t = p->cur;
    int16_t e;

    if (t.kind == TK_OP && (expr_tok_eq(p, &t, "not") || expr_tok_eq(p, &t, "!") ||
                            expr_tok_eq(p, &t, "-") || expr_tok_eq(p, &t, "+"))) {
        if (expr_lex_next(p) < 0)
            return -1;
        e = expr_parse_expression(p, t.len == 1 && t.start < p->len &&
                                             (p->s[t.start] == '-' || p->s[t.start] == '+')
                                         ? 90
                                         : 50);
        if (e < 0)
            return -1;
        return expr_parse_postfix(p, expr_unary(p, &t, e));
    }
    if (expr_tok_is(p, TK_BRACKET, "(")) {
        if (expr_lex_next(p) < 0)
            return -1;
        e = expr_parse_sequence(p);
        if (e < 0 || expr_expect(p, TK_BRACKET, ")") < 0)
            return -1;
        return expr_parse_postfix(p, e);
    }
    if (expr_tok_is(p, TK_OP, "#") || expr_tok_is(p, TK_OP, "::"))
        return (int16_t)expr_fail(p, -EINVAL, t.start, "'%.*s' is not supported", (int)t.len,
                                  p->s + t.start);
    return expr_parse_secondary(p);
}

static int16_t expr_binary(expr_parser_t *p, int op, const expr_tok_t *t, int16_t l, int16_t r)
{
    int type;
    int16_t i;

    if (l < 0 || r < 0)
        return -1;
    type = expr_t_binary(op, expr_type(p, l), expr_type(p, r));
    if (type < 0) {
        expr_check_fail(p, t->start, "invalid operation: %.*s (mismatched types %s and %s)",
                        (int)t->len, p->s + t->start, expr_t_name(expr_type(p, l)),
                        expr_t_name(expr_type(p, r)));
        type = EXPR_T_UNKNOWN;
    }
    i = expr_node(p, op, type, t->start, l, r, -1);
    return i < 0 ? -1 : expr_fold(p, i);
}

static int expr_binop(const expr_parser_t *p)
{
    if (p->cur.kind != TK_OP)
        return -1;
    for (size_t k = 0; k < sizeof expr_binops / sizeof expr_binops[0]; k++) {
        if (expr_tok_eq(p, &p->cur, expr_binops[k].op))
            return (int)k;
    }
    return -1;
}

static bool expr_is_cmp(int code)
{
    return code == EXPR_OP_LT || code == EXPR_OP_LE || code == EXPR_OP_GT || code == EXPR_OP_GE;
}

/* 1 < x < 3 is (1 < x) && (x < 3), x shared. */
static int16_t expr_parse_comparison(expr_parser_t *p, int16_t left, expr_tok_t t, int code,
                                     int prec)
{
    int16_t root = -1, cmp, node;

    for (;;) {
        cmp = expr_parse_expression(p, prec + 1);
        node = expr_binary(p, code, &t, left, cmp);
        root = root < 0 ? node : expr_binary(p, EXPR_OP_AND, &t, root, node);
        if (root < 0)
            return -1;
        left = cmp;
        t = p->cur;
        int k = expr_binop(p);
        if (k < 0 || !expr_is_cmp(expr_binops[k].code))
            return root;
        code = expr_binops[k].code;
        if (expr_lex_next(p) < 0)
            return -1;
    }
}

static int expr_check_cond(expr_parser_t *p, int16_t cond)
{
    int t = expr_type(p, cond);

    if (t != EXPR_T_BOOL && !expr_t_unknown(t))
        expr_check_fail(p, p->npos[cond], "non-bool expression (type %s) used as condition",
                        expr_t_name(t));
    return 0;
}

static int16_t expr_parse_conditional(expr_parser_t *p, int16_t node)
{
    int16_t e1, e2;

    while (node >= 0 && expr_tok_is(p, TK_OP, "?") && !p->perr) {
        size_t pos = p->cur.start;
        expr_check_cond(p, node);
        if (expr_lex_next(p) < 0)
            return -1;
        if (!expr_tok_is(p, TK_OP, ":")) {
            e1 = expr_parse_expression(p, 0);
            if (e1 < 0 || expr_expect(p, TK_OP, ":") < 0)
                return -1;
        } else {
            if (expr_lex_next(p) < 0)
                return -1;
            e1 = node; /* elvis: c ?: x */
        }
        e2 = expr_parse_expression(p, 0);
        if (e2 < 0)
            return -1;
        node = expr_node(p, EXPR_OP_COND, expr_t_branches(expr_type(p, e1), expr_type(p, e2)), pos,
                         node, e1, e2);
    }
    return node;
}

static int16_t expr_parse_let(expr_parser_t *p)
{
    expr_tok_t name;
    int16_t value, body, i;
    int slot;

    if (expr_lex_next(p) < 0)
        return -1;
    name = p->cur;
    if (name.kind != TK_IDENT)
        return (int16_t)expr_unexpected(p);
    if (expr_in_list(p, &name, (const char *const *)p->names, p->nnames))
        expr_check_fail(p, name.start, "cannot redeclare %.*s", (int)name.len, p->s + name.start);
    if (expr_in_list(p, &name, expr_builtins, sizeof expr_builtins / sizeof expr_builtins[0]))
        expr_check_fail(p, name.start, "cannot redeclare builtin %.*s", (int)name.len,
                        p->s + name.start);
    for (int k = 0; k < p->nscope; k++) {
        if (p->scope[k].len == name.len &&
            !memcmp(p->s + p->scope[k].start, p->s + name.start, name.len))
            expr_check_fail(p, name.start, "cannot redeclare variable %.*s", (int)name.len,
                            p->s + name.start);
    }
    if (expr_lex_next(p) < 0 || expr_expect(p, TK_OP, "=") < 0)
        return -1;
    value = expr_parse_expression(p, 0);
    if (value < 0 || expr_expect(p, TK_OP, ";") < 0)
        return -1;
    if (p->nlocals >= EXPR_LOCALS_MAX)
        return (int16_t)expr_fail(p, -E2BIG, name.start, "formula has more than %d let variables",
                                  EXPR_LOCALS_MAX);
    slot = p->nlocals++;
    p->scope[p->nscope++] =
        (expr_scope_t){name.start, name.len, (uint8_t)slot, (uint8_t)expr_type(p, value)};
    body = expr_parse_sequence(p);
    p->nscope--;
    if (body < 0)
        return -1;
    i = expr_node(p, EXPR_OP_LET, expr_type(p, body), name.start, value, body, -1);
    if (i >= 0)
        p->nodes[i].aux = (uint8_t)slot;
    return i;
}

/* if c { x } else if d { y } else { z } */
static int16_t expr_parse_if(expr_parser_t *p)
{
    size_t pos = p->cur.start;
    int16_t cond, e1, e2 = -1;

    if (++p->depth > EXPR_DEPTH_MAX)
        return (int16_t)expr_fail(p, -E2BIG, pos, "formula nests deeper than %d", EXPR_DEPTH_MAX);
    if (expr_lex_next(p) < 0 || (cond = expr_parse_expression(p, 0)) < 0)
        return -1;
    expr_check_cond(p, cond);
    if (expr_expect(p, TK_BRACKET, "{") < 0 || (e1 = expr_parse_sequence(p)) < 0 ||
        expr_expect(p, TK_BRACKET, "}") < 0 || expr_expect(p, TK_OP, "else") < 0)
        return -1;
    if (expr_tok_is(p, TK_OP, "if")) {
        e2 = expr_parse_if(p);
    } else if (expr_expect(p, TK_BRACKET, "{") >= 0 && (e2 = expr_parse_sequence(p)) >= 0) {
        if (expr_expect(p, TK_BRACKET, "}") < 0)
            return -1;
    }
    if (e2 < 0)
        return -1;
    p->depth--;
    return expr_node(p, EXPR_OP_COND, expr_t_branches(expr_type(p, e1), expr_type(p, e2)), pos,
                     cond, e1, e2);
}

static int expr_not_suffix(expr_parser_t *p)
{
    static const char *const suffixes[] = {"in", "matches", "contains", "startsWith", "endsWith"};

    if (expr_lex_next(p) < 0)
        return -1;
    if (expr_in_list(p, &p->cur, suffixes, sizeof suffixes / sizeof suffixes[0]))
        return expr_fail(p, -EINVAL, p->cur.start, "operator not %.*s is not supported",
                         (int)p->cur.len, p->s + p->cur.start);
    return expr_unexpected(p);
}

static int16_t expr_parse_binary_loop(expr_parser_t *p, int16_t left, int prec)
{
    const char *prev = NULL;

    while (left >= 0 && p->cur.kind == TK_OP && !p->perr) {
        expr_tok_t t = p->cur;
        int k;

        if (expr_tok_eq(p, &t, "not"))
            return (int16_t)expr_not_suffix(p);
        k = expr_binop(p);
        if (k < 0 || expr_binops[k].prec < prec)
            break;
        if (expr_lex_next(p) < 0)
            return -1;
        if (expr_binops[k].code < 0)
            return (int16_t)expr_fail(p, -EINVAL, t.start, "operator %s is not supported",
                                      expr_binops[k].op);
        if (prev && !strcmp(prev, "??") && strcmp(expr_binops[k].op, "??") != 0)
            return (int16_t)expr_fail(p, -EINVAL, t.start,
                                      "Operator (%s) and coalesce expressions (?\?) cannot be "
                                      "mixed. Wrap either by parentheses.",
                                      expr_binops[k].op);
        if (expr_is_cmp(expr_binops[k].code))
            left = expr_parse_comparison(p, left, t, expr_binops[k].code, expr_binops[k].prec);
        else
            left = expr_binary(p, expr_binops[k].code, &t, left,
                               expr_parse_expression(p, expr_binops[k].right
                                                            ? expr_binops[k].prec
                                                            : expr_binops[k].prec + 1));
        prev = expr_binops[k].op;
    }
    return left;
}

static int16_t expr_parse_expression(expr_parser_t *p, int prec)
{
    int16_t left;

    if (p->perr)
        return -1;
    if (++p->depth > EXPR_DEPTH_MAX)
        return (int16_t)expr_fail(p, -E2BIG, p->cur.start, "formula nests deeper than %d",
                                  EXPR_DEPTH_MAX);
    if (prec == 0 && expr_tok_is(p, TK_OP, "let"))
        left = expr_parse_let(p);
    else if (prec == 0 && expr_tok_is(p, TK_OP, "if"))
        left = expr_parse_if(p);
    else {
        left = expr_parse_binary_loop(p, expr_parse_primary(p), prec);
        if (prec == 0)
            left = expr_parse_conditional(p, left);
    }
    p->depth--;
    return p->perr ? -1 : left;
}

int16_t expr_parse_sequence(expr_parser_t *p)
{
    int16_t n = expr_parse_expression(p, 0), m;

    while (n >= 0 && expr_tok_is(p, TK_OP, ";") && !p->perr) {
        size_t pos = p->cur.start;
        if (expr_lex_next(p) < 0)
            return -1;
        if (p->cur.kind == TK_EOF)
            break;
        m = expr_parse_expression(p, 0);
        if (m < 0)
            return -1;
        n = expr_node(p, EXPR_OP_SEQ, expr_type(p, m), pos, n, m, -1);
    }
    return n;
}
