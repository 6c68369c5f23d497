/*
 * expr_internal: the compiled form shared by expr_parse.c (which builds it) and expr_eval.c
 * (which runs it). Nothing outside common/expr*.c includes this file.
 *
 * A program is a flat array of nodes. Children always have smaller indices than their parent
 * (the parser appends in post-order), links are indices, never pointers, and no node refers to
 * the source text: line and column are copied in at compile time for run-time messages. A
 * child may be shared by two parents (expr-lang's chained comparisons 1 < x < 3 and the elvis
 * form c ?: b reuse a subtree); the parser bounds the work of evaluating the expanded tree
 * (EXPR_COST_MAX) and its height (EXPR_HEIGHT_MAX), so evaluation recursion is bounded too.
 */
#ifndef CKEDA_COMMON_EXPR_INTERNAL_H
#define CKEDA_COMMON_EXPR_INTERNAL_H

#include "common/expr.h"

#include <stdint.h>

#define EXPR_LOCALS_MAX 16    /* let variables per formula (KEDA's wrapper uses one) */
#define EXPR_HEIGHT_MAX 256   /* height of the node tree: bounds evaluation recursion */
#define EXPR_COST_MAX   65536 /* nodes visited by one evaluation, shared subtrees expanded */

/* Run-time value kinds, as expr-lang's interface values: nil, bool, int (Go int) or float64. */
enum { EXPR_V_NIL, EXPR_V_BOOL, EXPR_V_INT, EXPR_V_FLOAT };

/* Static types of the checker. UNKNOWN is expr-lang's empty nature: anything at run time. ANY
 * is the interface{} that builtins return for an unknown argument: unknown too, but other types
 * are assignable to it (which changes the type of ?? and ?: as in expr-lang). */
enum { EXPR_T_UNKNOWN, EXPR_T_NIL, EXPR_T_BOOL, EXPR_T_INT, EXPR_T_FLOAT, EXPR_T_ANY };

typedef struct expr_val {
    uint8_t kind;
    union {
        bool b;
        int64_t i;
        double f;
    } u;
} expr_val_t;

typedef enum expr_op {
    EXPR_OP_CONST, /* v */
    EXPR_OP_VAR,   /* v.u.i: index into names/values */
    EXPR_OP_LOCAL, /* aux: let slot */
    EXPR_OP_NEG,   /* -a */
    EXPR_OP_POS,   /* +a: checked statically, nothing at run time (as expr-lang) */
    EXPR_OP_NOT,   /* !a */
    EXPR_OP_ADD,   /* a + b ... */
    EXPR_OP_SUB,
    EXPR_OP_MUL,
    EXPR_OP_DIV,
    EXPR_OP_MOD,
    EXPR_OP_POW,
    EXPR_OP_EQ,
    EXPR_OP_NE,
    EXPR_OP_LT,
    EXPR_OP_LE,
    EXPR_OP_GT,
    EXPR_OP_GE,
    EXPR_OP_AND, /* a && b: a must be bool at run time, b is returned as it is */
    EXPR_OP_OR,
    EXPR_OP_COALESCE, /* a ?? b */
    EXPR_OP_COND,     /* a ? b : c */
    EXPR_OP_SEQ,      /* a; b */
    EXPR_OP_LET,      /* let slot(aux) = a; b */
    EXPR_OP_CALL,     /* aux: expr_fn; a: first argument, linked by next */
} expr_op_t;

typedef enum expr_fn {
    EXPR_FN_FLOAT,
    EXPR_FN_INT,
    EXPR_FN_ABS,
    EXPR_FN_CEIL,
    EXPR_FN_FLOOR,
    EXPR_FN_ROUND,
    EXPR_FN_MIN,
    EXPR_FN_MAX,
} expr_fn_t;

typedef struct expr_node {
    uint8_t op;   /* expr_op_t */
    uint8_t type; /* EXPR_T_*, the checker's nature */
    uint8_t aux;  /* see expr_op_t */
    uint8_t pad;
    int16_t a, b, c; /* children, -1 when absent */
    int16_t next;    /* next argument or element, -1 at the end */
    uint16_t line;   /* 1-based position in the user's formula; col 0: KEDA's wrapper */
    uint16_t col;
    expr_val_t v;
} expr_node_t;

struct expr {
    size_t nvars;
    int16_t root;
    uint16_t n;
    expr_node_t nodes[];
};

/* "at column C" or "at line L, column C" for messages; "" for the wrapper (col 0). */
void expr_where(char *buf, size_t size, unsigned line, unsigned col);

/* Go's type names of a run-time value, as expr-lang's messages print them. */
const char *expr_val_name(const expr_val_t *v);

/* Runs e: the value expr-lang's Run returns, before KEDA looks at it. 0 or -EDOM. */
int expr_run(const expr_t *e, const double *values, const bool *present, expr_val_t *ret,
             errtext_t *err);

/* ---- the compiler's state, shared by expr.c (nodes, types, folding) and expr_parse.c ---- */

#define EXPR_WRAP_LET  "let _kedaCompositeResult = "
#define EXPR_WRAP_MAX  (EXPR_SOURCE_MAX + 128)
#define EXPR_QUOTE_MAX 32 /* bytes of a token quoted in a message */

enum { TK_EOF, TK_NUM, TK_IDENT, TK_OP, TK_BRACKET };

typedef struct expr_tok {
    int kind;
    size_t start, len;
} expr_tok_t;

typedef struct expr_scope {
    size_t start, len; /* the let name in p->s */
    uint8_t slot, type;
} expr_scope_t;

typedef struct expr_parser {
    char s[EXPR_WRAP_MAX + 1]; /* the wrapped formula */
    size_t len, head, ulen;    /* user text is s[head, head + ulen) */
    const char *const *names;
    size_t nnames;
    size_t pos; /* lexer position */
    expr_tok_t cur;
    int depth, nlocals, nscope;
    expr_scope_t scope[EXPR_LOCALS_MAX];
    uint16_t nn;
    expr_node_t nodes[EXPR_NODES_MAX];
    uint16_t height[EXPR_NODES_MAX];
    uint32_t cost[EXPR_NODES_MAX];
    uint32_t npos[EXPR_NODES_MAX]; /* each node's token in s, for checker messages */
    int perr;                      /* syntax or limit error: stops the parse */
    bool cset, fset;
    errtext_t pmsg, cmsg, fmsg; /* syntax, check and fold messages */
} expr_parser_t;

/* expr.c: errors, nodes, the checker's types and constant folding */
__attribute__((format(printf, 4, 5))) int expr_fail(expr_parser_t *p, int code, size_t pos,
                                                    const char *fmt, ...);
__attribute__((format(printf, 3, 4))) void expr_check_fail(expr_parser_t *p, size_t pos,
                                                           const char *fmt, ...);
int16_t expr_node(expr_parser_t *p, int op, int type, size_t pos, int16_t a, int16_t b, int16_t c);
int16_t expr_fold(expr_parser_t *p, int16_t i);
bool expr_t_unknown(int t);
bool expr_t_number(int t);
const char *expr_t_name(int t);
int expr_t_binary(int op, int l, int r); /* -1: mismatched types */
int expr_t_branches(int t1, int t2);

/* expr_parse.c: the lexer and the parser */
int expr_lex_next(expr_parser_t *p);
int expr_unexpected(expr_parser_t *p);
int16_t expr_parse_sequence(expr_parser_t *p);

#endif
