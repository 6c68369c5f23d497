/*
 * json: see json.h. A path is walked one step at a time without copying the tree; errors quote
 * the path as the caller wrote it. No state; safe in every process.
 */
#include "common/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Longest key one path step may name (a Kubernetes annotation key is at most 317 bytes). */
#define JSONU_KEY_MAX 512

typedef struct jsonu_step {
    bool is_index;
    size_t index;
    size_t prefix_len; /* bytes of the path up to and including this step */
    char key[JSONU_KEY_MAX];
} jsonu_step_t;

/* Reads the step at path[*pos]. Returns 1 with a step, 0 at the end, -EINVAL if malformed. */
static int jsonu_step_next(const char *path, size_t *pos, jsonu_step_t *ret_step)
{
    const char *p = path + *pos, *end;
    size_t len;

    if (*p == '\0')
        return 0;
    if (*pos > 0 && *p == '.')
        p++;
    if (p[0] == '[' && p[1] == '"') {
        end = strstr(p + 2, "\"]");
        if (!end)
            return -EINVAL;
        len = (size_t)(end - (p + 2));
        if (len == 0 || len >= JSONU_KEY_MAX)
            return -EINVAL;
        memcpy(ret_step->key, p + 2, len);
        ret_step->key[len] = '\0';
        ret_step->is_index = false;
        p = end + 2;
    } else if (p[0] == '[') {
        char *num_end;
        if (p[1] < '0' || p[1] > '9')
            return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(p + 1, &num_end, 10);
        if (errno != 0 || *num_end != ']' || v > INT32_MAX)
            return -EINVAL;
        ret_step->is_index = true;
        ret_step->index = (size_t)v;
        p = num_end + 1;
    } else {
        len = strcspn(p, ".[");
        if (len == 0 || len >= JSONU_KEY_MAX)
            return -EINVAL;
        memcpy(ret_step->key, p, len);
        ret_step->key[len] = '\0';
        ret_step->is_index = false;
        p += len;
    }
    if (*p != '\0' && *p != '.' && *p != '[')
        return -EINVAL;
    if (p[0] == '.' && p[1] == '\0')
        return -EINVAL;
    *pos = (size_t)(p - path);
    ret_step->prefix_len = *pos;
    return 1;
}

/* Walks path from root. -ENOENT if a step is missing (or null), -EINVAL if a step's parent has
 * the wrong type or the path is malformed; err names the offending prefix. */
static int jsonu_walk(const cJSON *root, const char *path, const cJSON **ret_node, errtext_t *err)
{
    const cJSON *node = root;
    jsonu_step_t step;
    size_t pos = 0, parent_len = 0;
    int r;

    /* The whole path is checked first, so a malformed one never reads as "missing". */
    while ((r = jsonu_step_next(path, &pos, &step)) > 0)
        ;
    if (r < 0) {
        errtext_set(err, "malformed field path \"%s\"", path);
        return r;
    }
    pos = 0;
    while ((r = jsonu_step_next(path, &pos, &step)) > 0) {
        if (step.is_index ? !cJSON_IsArray(node) : !cJSON_IsObject(node)) {
            if (parent_len == 0)
                errtext_set(err, "the document must be %s (looking up \"%s\")",
                            step.is_index ? "an array" : "an object", path);
            else
                errtext_set(err, "field \"%.*s\" must be %s", (int)parent_len, path,
                            step.is_index ? "an array" : "an object");
            return -EINVAL;
        }
        node = step.is_index ? cJSON_GetArrayItem(node, (int)step.index)
                             : cJSON_GetObjectItemCaseSensitive(node, step.key);
        if (!node || cJSON_IsNull(node)) {
            errtext_set(err, "field \"%s\" is missing", path);
            return -ENOENT;
        }
        parent_len = step.prefix_len;
    }
    *ret_node = node;
    return 0;
}

int jsonu_parse(const char *buf, size_t len, cJSON **ret_root, errtext_t *err)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, false);

    if (!root) {
        if (!end || end < buf || end > buf + len) {
            errtext_set(err, "could not parse JSON");
            return -EBADMSG;
        }
        errtext_set(err, "malformed JSON at byte %zu of %zu", (size_t)(end - buf), len);
        return -EBADMSG;
    }
    /* Trailing whitespace is fine; trailing data is not. */
    while (end && end < buf + len && strchr(" \t\r\n", *end) && *end != '\0')
        end++;
    if (end && end < buf + len) {
        cJSON_Delete(root);
        errtext_set(err, "trailing data after JSON at byte %zu of %zu", (size_t)(end - buf), len);
        return -EBADMSG;
    }
    *ret_root = root;
    return 0;
}

const cJSON *jsonu_lookup(const cJSON *root, const char *path)
{
    const cJSON *node = NULL;

    if (!root || jsonu_walk(root, path, &node, NULL) < 0)
        return NULL;
    return node;
}

const char *jsonu_str(const cJSON *root, const char *path)
{
    const char *s = cJSON_GetStringValue(jsonu_lookup(root, path));
    return s ? s : "";
}

/* Finds path and checks its type with is (a cJSON_Is* predicate). */
static int jsonu_get_typed(const cJSON *root, const char *path, cJSON_bool (*is)(const cJSON *),
                           const char *what, const cJSON **ret_node, errtext_t *err)
{
    const cJSON *node = NULL;
    int r = jsonu_walk(root, path, &node, err);

    if (r < 0)
        return r;
    if (!is(node)) {
        errtext_set(err, "field \"%s\" must be %s", path, what);
        return -EINVAL;
    }
    *ret_node = node;
    return 0;
}

int jsonu_get_object(const cJSON *root, const char *path, const cJSON **ret_node, errtext_t *err)
{
    return jsonu_get_typed(root, path, cJSON_IsObject, "an object", ret_node, err);
}

int jsonu_get_array(const cJSON *root, const char *path, const cJSON **ret_node, errtext_t *err)
{
    return jsonu_get_typed(root, path, cJSON_IsArray, "an array", ret_node, err);
}

int jsonu_get_string(const cJSON *root, const char *path, size_t max_len, const char **ret_value,
                     errtext_t *err)
{
    const cJSON *node = NULL;
    int r = jsonu_get_typed(root, path, cJSON_IsString, "a string", &node, err);

    if (r < 0)
        return r;
    if (max_len > 0 && strnlen(node->valuestring, max_len + 1) > max_len) {
        errtext_set(err, "field \"%s\" is longer than %zu bytes", path, max_len);
        return -ENAMETOOLONG;
    }
    *ret_value = node->valuestring;
    return 0;
}

int jsonu_copy_string(const cJSON *root, const char *path, char *ret_buf, size_t size,
                      errtext_t *err)
{
    const char *s = NULL;
    size_t len;
    int r;

    if (size == 0)
        return -EINVAL;
    /* The bound is checked here, not by jsonu_get_string: its max_len 0 means unlimited, which
     * size 1 would otherwise ask for. */
    r = jsonu_get_string(root, path, 0, &s, err);
    if (r < 0)
        return r;
    len = strnlen(s, size);
    if (len == size) {
        errtext_set(err, "field \"%s\" is longer than %zu bytes", path, size - 1);
        return -ENAMETOOLONG;
    }
    memcpy(ret_buf, s, len + 1);
    return 0;
}

int jsonu_get_double(const cJSON *root, const char *path, double *ret_value, errtext_t *err)
{
    const cJSON *node = NULL;
    int r = jsonu_get_typed(root, path, cJSON_IsNumber, "a number", &node, err);

    if (r < 0)
        return r;
    if (!isfinite(node->valuedouble)) {
        errtext_set(err, "field \"%s\" must be a finite number", path);
        return -ERANGE;
    }
    *ret_value = node->valuedouble;
    return 0;
}

int jsonu_get_int64(const cJSON *root, const char *path, int64_t min, int64_t max,
                    int64_t *ret_value, errtext_t *err)
{
    double d = 0;
    int r = jsonu_get_double(root, path, &d, err);

    if (r < 0)
        return r;
    if (d != floor(d)) {
        errtext_set(err, "field \"%s\" must be an integer", path);
        return -ERANGE;
    }
    if (d < -(double)JSONU_INT_EXACT_MAX || d > (double)JSONU_INT_EXACT_MAX || d < (double)min ||
        d > (double)max) {
        errtext_set(err, "field \"%s\" must be between %lld and %lld", path, (long long)min,
                    (long long)max);
        return -ERANGE;
    }
    *ret_value = (int64_t)d;
    return 0;
}

int jsonu_get_int32(const cJSON *root, const char *path, int32_t min, int32_t max,
                    int32_t *ret_value, errtext_t *err)
{
    int64_t v = 0;
    int r = jsonu_get_int64(root, path, min, max, &v, err);

    if (r < 0)
        return r;
    *ret_value = (int32_t)v;
    return 0;
}

int jsonu_get_bool(const cJSON *root, const char *path, bool *ret_value, errtext_t *err)
{
    const cJSON *node = NULL;
    int r = jsonu_get_typed(root, path, cJSON_IsBool, "a boolean", &node, err);

    if (r < 0)
        return r;
    *ret_value = cJSON_IsTrue(node);
    return 0;
}

void jsonu_remove(cJSON *root, const char *path)
{
    const char *dot = strrchr(path, '.');
    cJSON *parent = root;

    /* Only plain dotted paths: the parent is everything before the last '.'. */
    if (dot) {
        char parent_path[JSONU_KEY_MAX];
        size_t len = (size_t)(dot - path);
        if (len >= sizeof parent_path)
            return;
        memcpy(parent_path, path, len);
        parent_path[len] = '\0';
        parent = (cJSON *)jsonu_lookup(root, parent_path);
    }
    if (!cJSON_IsObject(parent))
        return;
    /* Every member of that name: cJSON keeps duplicate keys, and deleting only the first would
     * leave the next one to be found at path. One pass, so many duplicates cost linear time. */
    const char *key = dot ? dot + 1 : path;
    for (cJSON *m = parent->child, *next; m; m = next) {
        next = m->next;
        if (m->string && strcmp(m->string, key) == 0)
            cJSON_Delete(cJSON_DetachItemViaPointer(parent, m));
    }
}

/* One level of jsonu_prune: rest[i] is what remains of keep path i below obj, or NULL if that
 * path does not lead through obj. */
static void jsonu_prune_level(cJSON *obj, const char *const *rest, size_t n)
{
    cJSON *child = obj->child, *next;

    for (; child; child = next) {
        const char *sub[JSONU_PRUNE_MAX];
        bool whole = false, any = false;

        next = child->next;
        for (size_t i = 0; i < n; i++) {
            size_t len = rest[i] ? strcspn(rest[i], ".") : 0;
            sub[i] = NULL;
            if (!rest[i] || strlen(child->string) != len ||
                strncmp(rest[i], child->string, len) != 0)
                continue;
            if (rest[i][len] == '\0')
                whole = true;
            else {
                sub[i] = rest[i] + len + 1;
                any = true;
            }
        }
        if (whole)
            continue;
        if (any && cJSON_IsObject(child))
            jsonu_prune_level(child, sub, n);
        else
            cJSON_Delete(cJSON_DetachItemViaPointer(obj, child));
    }
}

int jsonu_prune(cJSON *root, const char *const *keep, size_t n)
{
    if (n > JSONU_PRUNE_MAX)
        return -EINVAL;
    if (cJSON_IsObject(root))
        jsonu_prune_level(root, keep, n);
    return 0;
}

char *jsonu_print(const cJSON *node)
{
    return cJSON_PrintUnformatted(node);
}

static size_t jsonu_digits(const char *s, size_t i, size_t n)
{
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

bool jsonu_is_number(const char *s, size_t n)
{
    size_t i = 0;

    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        i = jsonu_digits(s, i, n);
    else
        return false;
    if (i < n && s[i] == '.') {
        if (++i >= n || s[i] < '0' || s[i] > '9')
            return false;
        i = jsonu_digits(s, i, n);
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return false;
        i = jsonu_digits(s, i, n);
    }
    return i == n;
}

static void jsonu_wipe(const cJSON *o)
{
    if (o->valuestring)
        explicit_bzero(o->valuestring, strlen(o->valuestring));
    for (const cJSON *c = o->child; c; c = c->next)
        jsonu_wipe(c);
}

void jsonu_delete_secret(cJSON *node)
{
    if (!node)
        return;
    jsonu_wipe(node);
    cJSON_Delete(node);
}

int jsonu_get_int32_or(const cJSON *root, const char *path, int32_t min, int32_t def, int32_t *ret,
                       bool *ret_set, errtext_t *err)
{
    int r = jsonu_get_int32(root, path, min, INT32_MAX, ret, err);

    if (ret_set)
        *ret_set = r == 0;
    if (r == -ENOENT) {
        *ret = def;
        return 0;
    }
    return r;
}
