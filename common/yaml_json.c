/*
 * yaml_json: see yaml_json.h. libyaml's event parser drives an explicit stack (never recursion
 * on input structure), so depth, node count and alias expansion are checked as the events
 * arrive and a hostile stream is refused before it costs memory.
 */
#include "common/yaml_json.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YJ_ANCHORS_MAX 4096 /* anchors of one document */

typedef struct yj_anchor {
    char *name;
    const cJSON *node; /* inside the document being built */
    size_t nodes;      /* its node count, charged again at each alias */
    unsigned height;   /* 0 for a scalar */
} yj_anchor_t;

typedef struct yj_frame {
    cJSON *node; /* array or object */
    char *key;   /* object: the key waiting for its value */
    char *anchor;
    size_t nodes_at_start;
    unsigned height; /* of the tallest child */
    size_t line;
} yj_frame_t;

typedef struct yj {
    yaml_parser_t parser;
    cJSON *docs;
    cJSON *root; /* of the document being built */
    yj_frame_t stack[YAML_JSON_DEPTH_MAX];
    unsigned depth;
    size_t nodes;
    yj_anchor_t anchors[YJ_ANCHORS_MAX];
    unsigned nanchors;
    errtext_t *err;
} yj_t;

static int yj_fail(yj_t *y, const yaml_mark_t *m, int r, const char *what, const char *detail)
{
    errtext_set(y->err, "line %zu column %zu: %s%s%s", m->line + 1, m->column + 1, what,
                detail ? ": " : "", detail ? detail : "");
    return r;
}

static void yj_anchors_clear(yj_t *y)
{
    for (unsigned i = 0; i < y->nanchors; i++)
        free(y->anchors[i].name);
    y->nanchors = 0;
}

static int yj_anchor_add(yj_t *y, const yaml_mark_t *m, const char *name, const cJSON *node,
                         size_t nodes, unsigned height)
{
    char *copy;

    if (y->nanchors >= YJ_ANCHORS_MAX)
        return yj_fail(y, m, -E2BIG, "more anchors than this reader accepts", NULL);
    if (!(copy = strdup(name)))
        return -ENOMEM;
    /* A redefined anchor shadows the earlier one: the lookup scans from the end. */
    y->anchors[y->nanchors++] = (yj_anchor_t){copy, node, nodes, height};
    return 0;
}

static const yj_anchor_t *yj_anchor_find(const yj_t *y, const char *name)
{
    for (unsigned i = y->nanchors; i-- > 0;)
        if (strcmp(y->anchors[i].name, name) == 0)
            return &y->anchors[i];
    return NULL;
}

static int yj_charge(yj_t *y, const yaml_mark_t *m, size_t n)
{
    if (n > YAML_JSON_NODES_MAX - y->nodes)
        return yj_fail(y, m, -E2BIG, "more values than this reader accepts (aliases expanded)",
                       NULL);
    y->nodes += n;
    return 0;
}

/* ---- scalars, resolved as go-yaml v2 does ---- */

static bool yj_in(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

/* strconv.ParseInt/ParseUint(s, 0, 64) after dropping '_'. */
static bool yj_int(const char *s, double *ret)
{
    char buf[96], *p = buf;
    size_t n = 0;
    unsigned base = 10;
    uint64_t v = 0;
    bool neg = false;

    for (; *s; s++)
        if (*s != '_') {
            if (n + 1 >= sizeof buf)
                return false;
            buf[n++] = *s;
        }
    buf[n] = '\0';
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        base = 16, p += 2;
    else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
        base = 8, p += 2;
    else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
        base = 2, p += 2;
    else if (p[0] == '0' && p[1])
        base = 8, p += 1;
    if (!*p)
        return false;
    for (; *p; p++) {
        unsigned d = isdigit((unsigned char)*p) ? (unsigned)(*p - '0')
                     : isxdigit((unsigned char)*p)
                         ? (unsigned)(tolower((unsigned char)*p) - 'a' + 10)
                         : 99;
        if (d >= base || v > (UINT64_MAX - d) / base)
            return false;
        v = v * base + d;
    }
    if (neg && v > (uint64_t)INT64_MAX + 1)
        return false;
    *ret = neg ? -(double)v : (double)v;
    return true;
}

/* yaml.v2's float syntax: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? (after '_'). */
static bool yj_float(const char *s, double *ret)
{
    char buf[128], *end;
    size_t n = 0, i = 0, digits = 0;

    for (; *s; s++)
        if (*s != '_') {
            if (n + 1 >= sizeof buf)
                return false;
            buf[n++] = *s;
        }
    buf[n] = '\0';
    if (buf[i] == '+' || buf[i] == '-')
        i++;
    while (isdigit((unsigned char)buf[i]))
        i++, digits++;
    if (buf[i] == '.') {
        i++;
        while (isdigit((unsigned char)buf[i]))
            i++, digits++;
    }
    if (!digits)
        return false;
    if (buf[i] == 'e' || buf[i] == 'E') {
        i++;
        if (buf[i] == '+' || buf[i] == '-')
            i++;
        if (!isdigit((unsigned char)buf[i]))
            return false;
        while (isdigit((unsigned char)buf[i]))
            i++;
    }
    if (buf[i])
        return false;
    *ret = strtod(buf, &end);
    return true;
}

static int yj_scalar(yj_t *y, const yaml_event_t *ev, cJSON **ret)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                        "True", "TRUE", "on",  "On",  "ON",  NULL};
    static const char *const falses[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                         "False", "FALSE", "off", "Off", "OFF", NULL};
    static const char *const specials[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
                                           "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
                                           ".NaN",  ".NAN",  NULL};
    const char *s = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    double d;

    if (strlen(s) != ev->data.scalar.length)
        return yj_fail(y, &ev->start_mark, -EBADMSG, "a string holds a NUL byte", NULL);
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
        (tag && strcmp(tag, "tag:yaml.org,2002:str") == 0))
        *ret = cJSON_CreateString(s);
    else if (yj_in(s, nulls))
        *ret = cJSON_CreateNull();
    else if (yj_in(s, trues) || yj_in(s, falses))
        *ret = cJSON_CreateBool(yj_in(s, trues));
    else if (yj_in(s, specials))
        return yj_fail(y, &ev->start_mark, -EBADMSG, "JSON cannot represent", s);
    else if (yj_int(s, &d) || yj_float(s, &d))
        *ret = isfinite(d) ? cJSON_CreateNumber(d) : NULL;
    else
        *ret = cJSON_CreateString(s);
    if (!*ret && yj_float(s, &d) && !isfinite(d))
        return yj_fail(y, &ev->start_mark, -EBADMSG, "number out of range", s);
    return *ret ? 0 : -ENOMEM;
}

/* ---- the stack ---- */

static int yj_attach(yj_t *y, const yaml_mark_t *m, cJSON *v, unsigned height)
{
    yj_frame_t *f;

    if (y->depth == 0) {
        y->root = v;
        return 0;
    }
    f = &y->stack[y->depth - 1];
    if (f->height < height)
        f->height = height;
    if (cJSON_IsArray(f->node)) {
        cJSON_AddItemToArray(f->node, v);
        return 0;
    }
    if (!cJSON_AddItemToObject(f->node, f->key, v)) {
        cJSON_Delete(v);
        return -ENOMEM;
    }
    free(f->key);
    f->key = NULL;
    return 0;
}

/* True when the event is a key of the innermost mapping (not its value). */
static bool yj_wants_key(const yj_t *y)
{
    const yj_frame_t *f = y->depth ? &y->stack[y->depth - 1] : NULL;
    return f && cJSON_IsObject(f->node) && !f->key;
}

static int yj_on_scalar(yj_t *y, const yaml_event_t *ev)
{
    const char *anchor = (const char *)ev->data.scalar.anchor;
    cJSON *v;
    int r;

    if ((r = yj_charge(y, &ev->start_mark, 1)) < 0)
        return r;
    if (yj_wants_key(y)) {
        const char *k = (const char *)ev->data.scalar.value;
        if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(k, "<<") == 0)
            return yj_fail(y, &ev->start_mark, -EBADMSG, "merge keys (<<) are not supported", NULL);
        if (strlen(k) != ev->data.scalar.length)
            return yj_fail(y, &ev->start_mark, -EBADMSG, "a key holds a NUL byte", NULL);
        y->stack[y->depth - 1].key = strdup(k);
        return y->stack[y->depth - 1].key ? 0 : -ENOMEM;
    }
    if ((r = yj_scalar(y, ev, &v)) < 0)
        return r;
    if (anchor && (r = yj_anchor_add(y, &ev->start_mark, anchor, v, 1, 0)) < 0) {
        cJSON_Delete(v);
        return r;
    }
    return yj_attach(y, &ev->start_mark, v, 0);
}

static int yj_on_start(yj_t *y, const yaml_event_t *ev, bool mapping)
{
    const yaml_char_t *anchor =
        mapping ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    yj_frame_t *f;
    int r;

    if (yj_wants_key(y))
        return yj_fail(y, &ev->start_mark, -EBADMSG, "a mapping key must be a scalar", NULL);
    if (y->depth >= YAML_JSON_DEPTH_MAX)
        return yj_fail(y, &ev->start_mark, -E2BIG, "nested deeper than this reader accepts", NULL);
    if ((r = yj_charge(y, &ev->start_mark, 1)) < 0)
        return r;
    f = &y->stack[y->depth];
    *f = (yj_frame_t){.nodes_at_start = y->nodes, .line = ev->start_mark.line + 1};
    if (anchor && !(f->anchor = strdup((const char *)anchor)))
        return -ENOMEM;
    if (!(f->node = mapping ? cJSON_CreateObject() : cJSON_CreateArray())) {
        free(f->anchor);
        return -ENOMEM;
    }
    y->depth++;
    return 0;
}

static int yj_cmp_names(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* kubectl's strict decoding: a key at most once per mapping. Sorting keeps a mapping of many
 * keys O(n log n). */
static int yj_check_keys(yj_t *y, const cJSON *obj, size_t line)
{
    const cJSON *c;
    const cJSON **v;
    size_t n = 0, i = 0;
    int r = 0;

    cJSON_ArrayForEach(c, obj) n++;
    if (n < 2)
        return 0;
    if (!(v = malloc(n * sizeof *v)))
        return -ENOMEM;
    cJSON_ArrayForEach(c, obj) v[i++] = c;
    qsort(v, n, sizeof *v, yj_cmp_names);
    for (i = 1; i < n && r == 0; i++)
        if (strcmp(v[i - 1]->string, v[i]->string) == 0) {
            errtext_set(y->err, "line %zu: key \"%.128s\" is repeated in one mapping", line,
                        v[i]->string);
            r = -EEXIST;
        }
    free(v);
    return r;
}

static int yj_on_end(yj_t *y, const yaml_event_t *ev)
{
    yj_frame_t f = y->stack[--y->depth];
    unsigned height = f.height + 1;
    int r = 0;

    if (cJSON_IsObject(f.node))
        r = yj_check_keys(y, f.node, f.line);
    if (r == 0 && f.anchor)
        r = yj_anchor_add(y, &ev->start_mark, f.anchor, f.node, y->nodes - f.nodes_at_start + 1,
                          height);
    free(f.anchor);
    free(f.key);
    if (r < 0) {
        cJSON_Delete(f.node);
        return r;
    }
    return yj_attach(y, &ev->start_mark, f.node, height);
}

static int yj_on_alias(yj_t *y, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const yj_anchor_t *a = yj_anchor_find(y, name);
    cJSON *copy;
    int r;

    if (!a)
        return yj_fail(y, &ev->start_mark, -EBADMSG, "unknown anchor", name);
    if (yj_wants_key(y))
        return yj_fail(y, &ev->start_mark, -EBADMSG, "an alias cannot be a mapping key", NULL);
    if (y->depth + a->height > YAML_JSON_DEPTH_MAX)
        return yj_fail(y, &ev->start_mark, -E2BIG, "nested deeper than this reader accepts", NULL);
    /* An anchor still open (an alias inside its own node) has no node yet: anchors are added
     * at their end, so a is always complete here. */
    if ((r = yj_charge(y, &ev->start_mark, a->nodes)) < 0)
        return r;
    if (!(copy = cJSON_Duplicate(a->node, true)))
        return -ENOMEM;
    return yj_attach(y, &ev->start_mark, copy, a->height);
}

static int yj_on_document_end(yj_t *y)
{
    yj_anchors_clear(y);
    if (y->root && !cJSON_IsNull(y->root)) {
        cJSON_AddItemToArray(y->docs, y->root);
    } else {
        cJSON_Delete(y->root);
    }
    y->root = NULL;
    return 0;
}

static int yj_event(yj_t *y, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return yj_on_scalar(y, ev);
    case YAML_SEQUENCE_START_EVENT:
        return yj_on_start(y, ev, false);
    case YAML_MAPPING_START_EVENT:
        return yj_on_start(y, ev, true);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return yj_on_end(y, ev);
    case YAML_ALIAS_EVENT:
        return yj_on_alias(y, ev);
    case YAML_DOCUMENT_END_EVENT:
        return yj_on_document_end(y);
    default:
        return 0;
    }
}

static void yj_cleanup(yj_t *y)
{
    while (y->depth) {
        yj_frame_t *f = &y->stack[--y->depth];
        cJSON_Delete(f->node);
        free(f->key);
        free(f->anchor);
    }
    cJSON_Delete(y->root);
    yj_anchors_clear(y);
    yaml_parser_delete(&y->parser);
}

static int yj_parse_yaml(const char *buf, size_t len, cJSON *docs, errtext_t *err)
{
    yj_t *y = calloc(1, sizeof *y);
    yaml_event_t ev;
    bool done = false;
    int r = 0;

    if (!y)
        return -ENOMEM;
    y->docs = docs;
    y->err = err;
    if (!yaml_parser_initialize(&y->parser)) {
        free(y);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&y->parser, (const unsigned char *)buf, len);
    while (!done && r == 0) {
        if (!yaml_parser_parse(&y->parser, &ev)) {
            const yaml_mark_t *m = &y->parser.problem_mark;
            r = y->parser.error == YAML_MEMORY_ERROR
                    ? -ENOMEM
                    : yj_fail(y, m, -EBADMSG, y->parser.problem ? y->parser.problem : "malformed",
                              y->parser.context);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        r = yj_event(y, &ev);
        yaml_event_delete(&ev);
    }
    yj_cleanup(y);
    free(y);
    return r;
}

/* The same limits for a document that came as JSON. */
static int yj_check_json(yj_t *y, const cJSON *node, unsigned depth)
{
    const cJSON *c;
    int r;

    if (++y->nodes > YAML_JSON_NODES_MAX) {
        errtext_set(y->err, "more values than this reader accepts");
        return -E2BIG;
    }
    if (!cJSON_IsArray(node) && !cJSON_IsObject(node))
        return 0;
    if (depth >= YAML_JSON_DEPTH_MAX) {
        errtext_set(y->err, "nested deeper than this reader accepts");
        return -E2BIG;
    }
    if (cJSON_IsObject(node) && (r = yj_check_keys(y, node, 1)) < 0)
        return r;
    cJSON_ArrayForEach(c, node) if ((r = yj_check_json(y, c, depth + 1)) < 0) return r;
    return 0;
}

static int yj_parse_json(const char *buf, size_t len, cJSON *docs, errtext_t *err)
{
    cJSON *doc = cJSON_ParseWithLength(buf, len);
    yj_t *y;
    int r;

    if (!doc)
        return -EBADMSG;
    if (!(y = calloc(1, sizeof *y))) {
        cJSON_Delete(doc);
        return -ENOMEM;
    }
    y->err = err;
    r = yj_check_json(y, doc, 0);
    free(y);
    if (r < 0) {
        if (r == -EEXIST)
            errtext_set(err, "a key is repeated in one JSON object");
        cJSON_Delete(doc);
        return r;
    }
    cJSON_AddItemToArray(docs, doc);
    return 0;
}

int yaml_json_parse(const char *buf, size_t len, cJSON **ret_docs, errtext_t *err)
{
    cJSON *docs;
    size_t i = 0;
    int r = -EBADMSG;

    if (len > YAML_JSON_INPUT_MAX) {
        errtext_set(err, "%zu bytes, more than the %u this reader accepts", len,
                    YAML_JSON_INPUT_MAX);
        return -E2BIG;
    }
    if (!(docs = cJSON_CreateArray()))
        return -ENOMEM;
    while (i < len && isspace((unsigned char)buf[i]))
        i++;
    if (i < len && (buf[i] == '{' || buf[i] == '['))
        r = yj_parse_json(buf, len, docs, err);
    if (r == -EBADMSG) /* not JSON: YAML's flow syntax may still read it */
        r = yj_parse_yaml(buf, len, docs, err);
    if (r < 0) {
        cJSON_Delete(docs);
        return r;
    }
    *ret_docs = docs;
    return 0;
}
