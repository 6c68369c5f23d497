/*
 * selector: the Kubernetes label-selector grammar (k8s.io/apimachinery labels.Parse), for the
 * labelSelector query parameter of external-metric requests (adapter process).
 *
 *   selector    ::= requirement ("," requirement)*   (or empty)
 *   requirement ::= "!" KEY | KEY [ ("in" | "notin") "(" VALUE ("," VALUE)* ")"
 *                                 | ("=" | "==" | "!=") [VALUE] | (">" | "<") INTEGER ]
 *
 * Tokens are separated by optional whitespace; identifiers run up to whitespace or one of
 * `! = , ( ) < >`. Keys are qualified names (optional DNS-subdomain prefix and '/', then 1..63
 * of [A-Za-z0-9_.-] starting and ending alphanumeric); values are empty or such a name part.
 *
 * Input is untrusted: bounded (ADP_SEL_INPUT_MAX bytes, ADP_SEL_REQ_MAX requirements,
 * ADP_SEL_VALUES_MAX values), never read past n, no allocation. Fuzzed by
 * tests/fuzz/fuzz_label_selector.c.
 */
#include "adapter/adp_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef enum {
    TOK_END,
    TOK_IDENT,
    TOK_NOT,    /* ! */
    TOK_EQ,     /* = */
    TOK_DEQ,    /* == */
    TOK_NEQ,    /* != */
    TOK_COMMA,  /* , */
    TOK_LPAREN, /* ( */
    TOK_RPAREN, /* ) */
    TOK_GT,     /* > */
    TOK_LT,     /* < */
} sel_tok_t;

typedef struct sel_lexer {
    const char *s;
    size_t n, pos;
    adp_slice_t text; /* of the last token */
} sel_lexer_t;

static bool sel_special(char c)
{
    return c == '!' || c == '=' || c == ',' || c == '(' || c == ')' || c == '<' || c == '>';
}

static bool sel_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static sel_tok_t sel_next(sel_lexer_t *lx)
{
    static const struct {
        const char *text;
        sel_tok_t tok;
    } ops[] = {{"==", TOK_DEQ},   {"!=", TOK_NEQ},  {"=", TOK_EQ},
               {"!", TOK_NOT},    {",", TOK_COMMA}, {"(", TOK_LPAREN},
               {")", TOK_RPAREN}, {">", TOK_GT},    {"<", TOK_LT}};
    size_t start;

    while (lx->pos < lx->n && sel_space(lx->s[lx->pos]))
        lx->pos++;
    start = lx->pos;
    lx->text = (adp_slice_t){lx->s + start, 0};
    if (lx->pos >= lx->n)
        return TOK_END;
    /* operators start with a special byte: an identifier need not be tried against them */
    for (size_t i = 0; sel_special(lx->s[lx->pos]) && i < sizeof ops / sizeof ops[0]; i++) {
        size_t len = strlen(ops[i].text);
        if (lx->n - lx->pos >= len && memcmp(lx->s + lx->pos, ops[i].text, len) == 0) {
            lx->pos += len;
            lx->text.n = len;
            return ops[i].tok;
        }
    }
    while (lx->pos < lx->n && !sel_space(lx->s[lx->pos]) && !sel_special(lx->s[lx->pos]))
        lx->pos++;
    lx->text.n = lx->pos - start;
    return TOK_IDENT;
}

static sel_tok_t sel_peek(sel_lexer_t *lx)
{
    sel_lexer_t copy = *lx;
    return sel_next(&copy);
}

static bool sel_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A label value or the name part of a key: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], <= 63. */
static bool sel_name_ok(adp_slice_t v, bool allow_empty)
{
    if (v.n == 0)
        return allow_empty;
    if (v.n > 63 || !sel_alnum(v.p[0]) || !sel_alnum(v.p[v.n - 1]))
        return false;
    for (size_t i = 0; i < v.n; i++)
        if (!sel_alnum(v.p[i]) && v.p[i] != '-' && v.p[i] != '_' && v.p[i] != '.')
            return false;
    return true;
}

/* DNS-1123 subdomain: lower-case labels of [a-z0-9-] starting and ending alphanumeric. */
static bool sel_subdomain_ok(adp_slice_t v)
{
    size_t label = 0;

    if (v.n == 0 || v.n > 253)
        return false;
    for (size_t i = 0; i <= v.n; i++) {
        char c = i < v.n ? v.p[i] : '.';
        if (c == '.') {
            if (label == 0 || v.p[i - 1] == '-' || v.p[i - label] == '-')
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            label++;
        } else {
            return false;
        }
    }
    return true;
}

static bool sel_key_ok(adp_slice_t k)
{
    const char *slash = memchr(k.p, '/', k.n);

    if (!slash)
        return sel_name_ok(k, false);
    adp_slice_t prefix = {k.p, (size_t)(slash - k.p)};
    adp_slice_t name = {slash + 1, k.n - prefix.n - 1};
    return sel_subdomain_ok(prefix) && sel_name_ok(name, false);
}

static int sel_fail(char *err, size_t errlen, const char *what, adp_slice_t near)
{
    if (err && errlen)
        snprintf(err, errlen, "unable to parse requirement: %s near \"%.*s\"", what,
                 (int)(near.n > 64 ? 64 : near.n), near.p);
    return -EINVAL;
}

static int sel_add_value(adp_selector_t *sel, adp_sel_req_t *r, adp_slice_t v, char *err,
                         size_t errlen)
{
    if (!sel_name_ok(v, true))
        return sel_fail(err, errlen, "invalid label value", v);
    if (sel->nvalues >= ADP_SEL_VALUES_MAX)
        return sel_fail(err, errlen, "too many values", v);
    sel->values[sel->nvalues++] = v;
    r->nvalues++;
    return 0;
}

/* "(" VALUE ("," VALUE)* ")" after in / notin. */
static int sel_parse_set(sel_lexer_t *lx, adp_selector_t *sel, adp_sel_req_t *r, char *err,
                         size_t errlen)
{
    sel_tok_t t = sel_next(lx);

    if (t != TOK_LPAREN)
        return sel_fail(err, errlen, "expected '('", lx->text);
    for (;;) {
        t = sel_next(lx);
        if (t != TOK_IDENT)
            return sel_fail(err, errlen, "expected a value", lx->text);
        if (sel_add_value(sel, r, lx->text, err, errlen) < 0)
            return -EINVAL;
        t = sel_next(lx);
        if (t == TOK_RPAREN)
            return 0;
        if (t != TOK_COMMA)
            return sel_fail(err, errlen, "expected ',' or ')'", lx->text);
    }
}

static int sel_parse_integer(adp_slice_t v)
{
    size_t i = v.n && (v.p[0] == '-' || v.p[0] == '+') ? 1 : 0;
    if (i >= v.n || v.n > 20)
        return -EINVAL;
    for (; i < v.n; i++)
        if (v.p[i] < '0' || v.p[i] > '9')
            return -EINVAL;
    return 0;
}

static int sel_parse_operator(sel_lexer_t *lx, adp_selector_t *sel, adp_sel_req_t *r, char *err,
                              size_t errlen)
{
    sel_tok_t t = sel_next(lx);

    if (t == TOK_IDENT && adp_slice_eq(lx->text, "in"))
        r->op = ADP_SEL_IN;
    else if (t == TOK_IDENT && adp_slice_eq(lx->text, "notin"))
        r->op = ADP_SEL_NOT_IN;
    else if (t == TOK_EQ || t == TOK_DEQ || t == TOK_NEQ || t == TOK_GT || t == TOK_LT)
        r->op = t == TOK_EQ    ? ADP_SEL_EQUALS
                : t == TOK_DEQ ? ADP_SEL_DOUBLE_EQUALS
                : t == TOK_NEQ ? ADP_SEL_NOT_EQUALS
                : t == TOK_GT  ? ADP_SEL_GT
                               : ADP_SEL_LT;
    else
        return sel_fail(err, errlen, "expected one of in, notin, =, ==, !=, >, <", lx->text);
    if (r->op == ADP_SEL_IN || r->op == ADP_SEL_NOT_IN)
        return sel_parse_set(lx, sel, r, err, errlen);
    t = sel_peek(lx);
    if (t == TOK_END || t == TOK_COMMA) { /* an empty value */
        if (r->op == ADP_SEL_GT || r->op == ADP_SEL_LT)
            return sel_fail(err, errlen, "expected an integer", lx->text);
        return sel_add_value(sel, r, (adp_slice_t){lx->text.p, 0}, err, errlen);
    }
    if (sel_next(lx) != TOK_IDENT)
        return sel_fail(err, errlen, "expected a value", lx->text);
    if ((r->op == ADP_SEL_GT || r->op == ADP_SEL_LT)) {
        if (sel_parse_integer(lx->text) < 0)
            return sel_fail(err, errlen, "expected an integer", lx->text);
        if (sel->nvalues >= ADP_SEL_VALUES_MAX)
            return sel_fail(err, errlen, "too many values", lx->text);
        sel->values[sel->nvalues++] = lx->text;
        r->nvalues = 1;
        return 0;
    }
    return sel_add_value(sel, r, lx->text, err, errlen);
}

static int sel_parse_requirement(sel_lexer_t *lx, adp_selector_t *sel, char *err, size_t errlen)
{
    adp_sel_req_t *r;
    sel_tok_t t = sel_next(lx);
    bool not = t == TOK_NOT;

    if (sel->nreqs >= ADP_SEL_REQ_MAX)
        return sel_fail(err, errlen, "too many requirements", lx->text);
    r = &sel->reqs[sel->nreqs];
    *r = (adp_sel_req_t){.first_value = sel->nvalues};
    if (not )
        t = sel_next(lx);
    if (t != TOK_IDENT)
        return sel_fail(err, errlen, "expected a key", lx->text);
    if (!sel_key_ok(lx->text))
        return sel_fail(err, errlen, "invalid label key", lx->text);
    r->key = lx->text;
    t = sel_peek(lx);
    if (not || t == TOK_END || t == TOK_COMMA) {
        r->op = not ? ADP_SEL_NOT_EXISTS : ADP_SEL_EXISTS;
        sel->nreqs++;
        return 0;
    }
    if (sel_parse_operator(lx, sel, r, err, errlen) < 0)
        return -EINVAL;
    sel->nreqs++;
    return 0;
}

int adp_selector_parse(const char *s, size_t n, adp_selector_t *ret, char *err, size_t errlen)
{
    sel_lexer_t lx = {.s = s, .n = n};
    adp_selector_t *sel = ret;

    if (n > ADP_SEL_INPUT_MAX)
        return sel_fail(err, errlen, "selector too long", (adp_slice_t){s, 16});
    sel->nreqs = sel->nvalues = 0;
    if (sel_peek(&lx) == TOK_END)
        return 0;
    for (;;) {
        if (sel_parse_requirement(&lx, sel, err, errlen) < 0)
            return -EINVAL;
        sel_tok_t t = sel_next(&lx);
        if (t == TOK_END)
            return 0;
        if (t != TOK_COMMA)
            return sel_fail(err, errlen, "expected ','", lx.text);
    }
}

int adp_selector_equals(const adp_selector_t *sel, const char *key, adp_slice_t *ret_value)
{
    int found = -1;

    for (uint32_t i = 0; i < sel->nreqs; i++) {
        const adp_sel_req_t *r = &sel->reqs[i];
        bool eq = r->op == ADP_SEL_EQUALS || r->op == ADP_SEL_DOUBLE_EQUALS ||
                  (r->op == ADP_SEL_IN && r->nvalues == 1);
        if (eq && adp_slice_eq(r->key, key))
            found = (int)i;
    }
    if (found < 0)
        return -ENOENT;
    *ret_value = sel->values[sel->reqs[found].first_value];
    return 0;
}
