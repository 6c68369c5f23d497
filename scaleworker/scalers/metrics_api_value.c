/*
 * metrics_api_value: the metrics-api scaler's value extraction, KEDA's GetValueFromResponse.
 * Runs in the metrics-api workers on response bodies (untrusted: bounded by the client's body
 * cap, parsed without recursion past the JSON/YAML readers' own limits).
 *
 * - json: a GJSON path (tidwall/gjson), the subset users write: dotted keys, `\` escapes,
 *   array indexes, `*`/`?` wildcards in keys, `#` (the array's length) at the end; `#` before
 *   more keys yields an array, which is not a number. A number is the value; a string must
 *   parse as a Kubernetes Quantity. Queries `#(...)`, modifiers `@...`, pipes and multipaths
 *   are refused when the trigger is parsed.
 * - yaml: KEDA's GetValueByPath over the first document: keys split at every '.', array
 *   elements by their decimal index, the first non-container value on the way is the answer.
 *   (ckeda's YAML reader resolves scalars as YAML 1.1 (yes/no are booleans; .nan/.inf are
 *   refused); KEDA's yaml.v3 reads YAML 1.2. Both refuse such values as a number.)
 * - prometheus: the text exposition format and a metric selector `name{label="value",...}`;
 *   the first sample of the named counter, gauge or untyped family whose labels equal every
 *   matcher's value (KEDA compares values whatever the matcher's operator).
 * - xml: KEDA's xml.Unmarshal into a map always fails ("unknown type map[string]interface {}");
 *   ckeda reports the same failure rather than inventing a reading.
 */
#include "scaleworker/scalers/httpscalers.h"

#include "common/yaml_json.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MV_KEY_MAX 512

static const char *const mv_wrong =
    "valueLocation \"%s\" must point to a numeric value or a string parseable as a Quantity, "
    "got %s";

static int mv_string_value(const char *s, const char *loc, double *ret, char *err, size_t errlen)
{
    if (sw_quantity_parse(s, strlen(s), ret) < 0) {
        snprintf(err, errlen,
                 "valueLocation \"%s\" points to a string that is not parseable as a Quantity",
                 loc);
        return -EINVAL;
    }
    return 0;
}

/* ---- GJSON --------------------------------------------------------------------------------- */

int sw_mapi_location_check(const char *loc, char *err, size_t errlen)
{
    const char *why = NULL;
    bool start = true;

    if (!*loc || strchr("[{!", loc[0]))
        why = "multipaths and literals";
    for (const char *s = loc; !why && *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            start = false;
            continue;
        }
        if (*s == '|')
            why = "pipes";
        else if (*s == '#' && s[1] == '(')
            why = "queries #(...)";
        else if (*s == '@' && start)
            why = "modifiers @...";
        start = *s == '.';
    }
    if (why) {
        snprintf(err, errlen, "metadata.valueLocation: GJSON %s are not supported by ckeda", why);
        return -EINVAL;
    }
    return 0;
}

/* The next path component, unescaped, into key; returns the rest after the '.', or NULL. */
static const char *gj_next(const char *p, char *key, size_t cap, bool *wild, bool *last)
{
    size_t n = 0;

    *wild = false;
    for (; *p && *p != '.'; p++) {
        char c = *p;
        if (c == '\\' && p[1])
            c = *++p;
        else if (c == '*' || c == '?')
            *wild = true;
        if (n + 1 < cap)
            key[n++] = c;
    }
    key[n] = '\0';
    *last = *p == '\0';
    return *p ? p + 1 : p;
}

static bool gj_index(const char *key, int *ret)
{
    long v = 0;

    if (!*key)
        return false;
    for (const char *k = key; *k; k++) {
        if (!isdigit((unsigned char)*k) || v > 100000000)
            return false;
        v = v * 10 + (*k - '0');
    }
    *ret = (int)v;
    return true;
}

typedef enum { GJ_NULL, GJ_NODE, GJ_COUNT, GJ_JSON } gj_kind_t;

static gj_kind_t gj_get(const cJSON *cur, const char *path, const cJSON **ret, int *count)
{
    char key[MV_KEY_MAX];
    bool wild, last;

    while (cur) {
        path = gj_next(path, key, sizeof key, &wild, &last);
        const cJSON *next = NULL;
        int idx;
        if (cJSON_IsArray(cur)) {
            if (strcmp(key, "#") == 0) {
                if (last) {
                    *count = cJSON_GetArraySize(cur);
                    return GJ_COUNT;
                }
                return GJ_JSON; /* an array of what follows for each element */
            }
            if (gj_index(key, &idx))
                next = cJSON_GetArrayItem(cur, idx);
        } else if (cJSON_IsObject(cur)) {
            const cJSON *c;
            cJSON_ArrayForEach(c, cur)
            {
                if (wild ? fnmatch(key, c->string, 0) == 0 : strcmp(key, c->string) == 0) {
                    next = c;
                    break;
                }
            }
        }
        if (!next)
            return GJ_NULL;
        if (last) {
            *ret = next;
            return GJ_NODE;
        }
        cur = next;
    }
    return GJ_NULL;
}

static int mv_json(const char *body, size_t len, const char *loc, double *ret, char *err,
                   size_t errlen)
{
    cJSON *doc = cJSON_ParseWithLength(body, len);
    const cJSON *v = NULL;
    int count = 0, r = 0;
    const char *type;

    if (!doc) {
        snprintf(err, errlen, "the response is not valid JSON");
        return -EINVAL;
    }
    switch (gj_get(doc, loc, &v, &count)) {
    case GJ_COUNT:
        *ret = count;
        goto out;
    case GJ_JSON:
        type = "JSON";
        break;
    case GJ_NULL:
        type = "Null";
        break;
    default:
        if (cJSON_IsNumber(v)) {
            *ret = v->valuedouble;
            goto out;
        }
        if (cJSON_IsString(v)) {
            r = mv_string_value(v->valuestring, loc, ret, err, errlen);
            goto out;
        }
        type = cJSON_IsTrue(v)    ? "True"
               : cJSON_IsFalse(v) ? "False"
               : cJSON_IsNull(v)  ? "Null"
                                  : "JSON";
    }
    snprintf(err, errlen, mv_wrong, loc, type);
    r = -EINVAL;
out:
    cJSON_Delete(doc);
    return r;
}

/* ---- YAML (KEDA's GetValueByPath) ---------------------------------------------------------- */

static int mv_by_path(const cJSON *root, const char *loc, double *ret, char *err, size_t errlen)
{
    const cJSON *cur = root;
    const char *p = loc;

    for (;;) {
        const char *dot = strchr(p, '.');
        size_t kl = dot ? (size_t)(dot - p) : strlen(p);
        char key[MV_KEY_MAX];
        const cJSON *val = NULL, *c;
        int i = 0;

        snprintf(key, sizeof key, "%.*s", (int)kl, p);
        const cJSON *in = cJSON_IsArray(cur) || cJSON_IsObject(cur) ? cur : NULL;
        cJSON_ArrayForEach(c, in)
        {
            char ik[24];
            const char *name = c->string;
            if (cJSON_IsArray(cur)) {
                snprintf(ik, sizeof ik, "%d", i++);
                name = ik;
            }
            if (strcmp(name, key) == 0) {
                val = c; /* the last of repeated keys: yaml.v3 keeps one; ours refuses them */
                break;
            }
        }
        if (!val) {
            snprintf(err, errlen, "key '%s' not found in path '%s'", key, loc);
            return -EINVAL;
        }
        if (!cJSON_IsArray(val) && !cJSON_IsObject(val)) {
            if (cJSON_IsNumber(val)) {
                *ret = val->valuedouble;
                return 0;
            }
            if (cJSON_IsString(val))
                return mv_string_value(val->valuestring, loc, ret, err, errlen);
            snprintf(err, errlen, mv_wrong, loc, cJSON_IsNull(val) ? "<nil>" : "bool");
            return -EINVAL;
        }
        cur = val;
        if (!dot)
            break;
        p = dot + 1;
    }
    snprintf(err, errlen, "path '%s' does not lead to a value", loc);
    return -EINVAL;
}

static int mv_yaml(const char *body, size_t len, const char *loc, double *ret, char *err,
                   size_t errlen)
{
    cJSON *docs = NULL;
    errtext_t e;
    int r;

    if (yaml_json_parse(body, len, &docs, &e) < 0) {
        snprintf(err, errlen, "yaml: %s", e.text);
        return -EINVAL;
    }
    const cJSON *first = cJSON_GetArrayItem(docs, 0);
    if (first && !cJSON_IsObject(first)) {
        snprintf(err, errlen, "yaml: unmarshal errors: the document is not a mapping");
        r = -EINVAL;
    } else {
        r = mv_by_path(first, loc, ret, err, errlen);
    }
    cJSON_Delete(docs);
    return r;
}

/* ---- Prometheus text format ---------------------------------------------------------------- */

#define MV_MATCH_MAX 16

typedef struct mv_matcher {
    char name[128];
    char value[MV_KEY_MAX];
} mv_matcher_t;

typedef struct mv_selector {
    char metric[256];
    mv_matcher_t m[MV_MATCH_MAX];
    int n;
} mv_selector_t;

static bool mv_name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':';
}

static bool mv_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == ':';
}

static const char *mv_ws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return s;
}

/* A name into out; NULL when there is none. */
static const char *mv_name(const char *s, char *out, size_t cap, bool metric)
{
    size_t n = 0;

    if (!mv_name_start(*s) || (!metric && *s == ':'))
        return NULL;
    while (mv_name_char(*s) && (metric || *s != ':')) {
        if (n + 1 >= cap)
            return NULL;
        out[n++] = *s++;
    }
    out[n] = '\0';
    return s;
}

/* A quoted string ("", '' with escapes, or ``) into out. */
static const char *mv_quoted(const char *s, char *out, size_t cap)
{
    char q = *s++;
    size_t n = 0;

    if (q != '"' && q != '\'' && q != '`')
        return NULL;
    for (; *s && *s != q; s++) {
        char c = *s;
        if (c == '\\' && q != '`') {
            c = *++s;
            if (c == 'n')
                c = '\n';
            else if (c == 't')
                c = '\t';
            else if (c != '\\' && c != '"' && c != '\'')
                return NULL;
        } else if (c == '\n') {
            return NULL;
        }
        if (n + 1 >= cap)
            return NULL;
        out[n++] = c;
    }
    if (*s != q)
        return NULL;
    out[n] = '\0';
    return s + 1;
}

/* promql's ParseMetricSelector, for what KEDA uses of it. */
static int mv_selector_parse(const char *s, mv_selector_t *sel)
{
    memset(sel, 0, sizeof *sel);
    s = mv_ws(s);
    if (mv_name_start(*s) && !(s = mv_name(s, sel->metric, sizeof sel->metric, true)))
        return -EINVAL;
    s = mv_ws(s);
    if (*s == '{') {
        s = mv_ws(s + 1);
        while (*s != '}') {
            mv_matcher_t *m = &sel->m[sel->n];
            if (sel->n >= MV_MATCH_MAX || !(s = mv_name(s, m->name, sizeof m->name, false)))
                return -EINVAL;
            s = mv_ws(s);
            if (s[0] == '=' && s[1] == '~')
                s += 2;
            else if (s[0] == '!' && (s[1] == '=' || s[1] == '~'))
                s += 2;
            else if (s[0] == '=')
                s += 1;
            else
                return -EINVAL;
            if (!(s = mv_quoted(mv_ws(s), m->value, sizeof m->value)))
                return -EINVAL;
            if (strcmp(m->name, "__name__") == 0)
                memcpy(sel->metric, m->value,
                       strlen(m->value) < sizeof sel->metric ? strlen(m->value) + 1 : 0);
            sel->n++;
            s = mv_ws(s);
            if (*s == ',')
                s = mv_ws(s + 1);
            else if (*s != '}')
                return -EINVAL;
        }
        s = mv_ws(s + 1);
    }
    if (*s || (!sel->metric[0] && sel->n == 0))
        return -EINVAL;
    return 0;
}

typedef struct mv_family {
    char name[256];
    char type[16];
} mv_family_t;

#define MV_FAMILIES_MAX 4096

typedef struct mv_text {
    mv_family_t *fam;
    size_t nfam;
} mv_text_t;

static const mv_family_t *mv_fam_find(const mv_text_t *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->nfam; i++)
        if (strlen(t->fam[i].name) == len && memcmp(t->fam[i].name, name, len) == 0)
            return &t->fam[i];
    return NULL;
}

/* The family a sample name belongs to, and its type ("untyped" when never declared). */
static void mv_family_of(const mv_text_t *t, const char *name, char *fam, size_t cap,
                         const char **type)
{
    static const char *const sfx[] = {"_bucket", "_count", "_sum"};
    size_t n = strlen(name);
    const mv_family_t *f = mv_fam_find(t, name, n);

    for (size_t i = 0; !f && i < 3; i++) {
        size_t sl = strlen(sfx[i]);
        const mv_family_t *b;
        if (n > sl && strcmp(name + n - sl, sfx[i]) == 0 && (b = mv_fam_find(t, name, n - sl)) &&
            (strcmp(b->type, "histogram") == 0 || strcmp(b->type, "summary") == 0)) {
            snprintf(fam, cap, "%.*s", (int)(n - sl), name);
            *type = b->type;
            return;
        }
    }
    snprintf(fam, cap, "%s", name);
    *type = f ? f->type : "untyped";
}

/* "# TYPE name type" */
static int mv_type_line(mv_text_t *t, const char *l, const char *end)
{
    char name[256], type[16];
    const char *s = l;
    size_t n;

    if ((size_t)(end - s) < 4 || memcmp(s, "TYPE", 4) != 0 || (s[4] != ' ' && s[4] != '\t'))
        return 0;
    s += 4;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    for (n = 0; s < end && mv_name_char(*s) && n + 1 < sizeof name; s++)
        name[n++] = *s;
    name[n] = '\0';
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    for (n = 0; s < end && isalpha((unsigned char)*s) && n + 1 < sizeof type; s++)
        type[n++] = *s;
    type[n] = '\0';
    if (!name[0] || !mv_name_start(name[0]) ||
        (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "untyped") &&
         strcmp(type, "histogram") && strcmp(type, "summary")))
        return -EINVAL;
    if (t->nfam >= MV_FAMILIES_MAX)
        return -E2BIG;
    if (!(t->nfam % 64)) {
        mv_family_t *nf = realloc(t->fam, (t->nfam + 64) * sizeof *nf);
        if (!nf)
            return -ENOMEM;
        t->fam = nf;
    }
    snprintf(t->fam[t->nfam].name, sizeof t->fam[0].name, "%s", name);
    snprintf(t->fam[t->nfam].type, sizeof t->fam[0].type, "%s", type);
    t->nfam++;
    return 0;
}

/* Does this sample's label set hold every matcher? Parses labels as it goes: -EINVAL if bad. */
static int mv_labels(const char **sp, const char *end, const mv_selector_t *sel)
{
    const char *s = *sp;
    bool found[MV_MATCH_MAX] = {false};
    char name[128], value[MV_KEY_MAX];

    s++; /* '{' */
    for (;;) {
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        if (s < end && *s == '}')
            break;
        size_t n = 0;
        while (s < end && mv_name_char(*s) && *s != ':' && n + 1 < sizeof name)
            name[n++] = *s++;
        name[n] = '\0';
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        if (!n || s >= end || *s != '=')
            return -EINVAL;
        s++;
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        if (s >= end || *s != '"')
            return -EINVAL;
        const char *q = mv_quoted(s, value, sizeof value);
        if (!q || q > end)
            return -EINVAL;
        s = q;
        for (int i = 0; i < sel->n; i++)
            if (strcmp(sel->m[i].name, name) == 0 && strcmp(sel->m[i].value, value) == 0)
                found[i] = true;
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s < end && *s == '}')
            break;
        return -EINVAL;
    }
    *sp = s + 1;
    for (int i = 0; i < sel->n; i++)
        if (!found[i] && strcmp(sel->m[i].name, "__name__") != 0)
            return 0;
    return 1;
}

/* One sample line: 1 and *ret when it is the one, 0 when not, -EINVAL when malformed. */
static int mv_sample(const mv_text_t *t, const char *l, const char *end, const mv_selector_t *sel,
                     bool *family_seen, double *ret)
{
    char name[256], fam[256];
    const char *s = l, *type;
    size_t n = 0;
    int match = 1;

    while (s < end && mv_name_char(*s) && n + 1 < sizeof name)
        name[n++] = *s++;
    name[n] = '\0';
    if (!n || !mv_name_start(name[0]))
        return -EINVAL;
    if (s < end && *s == '{' && (match = mv_labels(&s, end, sel)) < 0)
        return -EINVAL;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    const char *v = s;
    while (s < end && *s != ' ' && *s != '\t')
        s++;
    double d;
    if (sw_go_parse_float(v, (size_t)(s - v), &d) < 0)
        return -EINVAL;
    mv_family_of(t, name, fam, sizeof fam, &type);
    if (strcmp(fam, sel->metric) != 0)
        return 0;
    *family_seen = true;
    if (!match || (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "untyped")))
        return 0;
    *ret = d;
    return 1;
}

static int mv_prometheus(const char *body, size_t len, const char *loc, double *ret, char *err,
                         size_t errlen)
{
    mv_selector_t sel;
    mv_text_t t = {0};
    bool seen = false, have = false;
    int r = 0;
    double v = 0;

    if (mv_selector_parse(loc, &sel) < 0) {
        snprintf(err, errlen, "valueLocation \"%s\" is not a metric selector", loc);
        return -EINVAL;
    }
    for (const char *p = body, *bend = body + len; p < bend && r >= 0;) {
        const char *e = memchr(p, '\n', (size_t)(bend - p));
        const char *le = e ? e : bend;
        const char *s = p;
        while (s < le && (*s == ' ' || *s == '\t'))
            s++;
        const char *lend = le;
        if (lend > s && lend[-1] == '\r')
            lend--;
        if (s < lend && *s == '#') {
            s++;
            while (s < lend && (*s == ' ' || *s == '\t'))
                s++;
            r = mv_type_line(&t, s, lend);
        } else if (s < lend && !have) {
            r = mv_sample(&t, s, lend, &sel, &seen, &v);
            have = r == 1;
        } else if (s < lend) {
            r = mv_sample(&t, s, lend, &sel, &seen, &(double){0}) < 0 ? -EINVAL : 0;
        }
        p = le + 1;
    }
    free(t.fam);
    if (r < 0) {
        snprintf(err, errlen, "prometheus format parsing error: %s",
                 r == -E2BIG ? "too many metric families" : "malformed line");
        return -EINVAL;
    }
    if (have) {
        *ret = v;
        return 0;
    }
    if (!seen)
        snprintf(err, errlen, "metric '%s' not found", sel.metric);
    else
        snprintf(err, errlen, "value %s not found", loc);
    return -EINVAL;
}

int sw_mapi_value(const char *body, size_t len, const char *loc, sw_mapi_format_t format,
                  double *ret, char *err, size_t errlen)
{
    switch (format) {
    case SW_MAPI_PROMETHEUS:
        return mv_prometheus(body, len, loc, ret, err, errlen);
    case SW_MAPI_JSON:
        return mv_json(body, len, loc, ret, err, errlen);
    case SW_MAPI_YAML:
        return mv_yaml(body, len, loc, ret, err, errlen);
    default:
        for (size_t i = 0; i < len; i++)
            if (!isspace((unsigned char)body[i])) {
                snprintf(err, errlen, "unknown type map[string]interface {}");
                return -EINVAL;
            }
        snprintf(err, errlen, "EOF");
        return -EINVAL;
    }
}
