/*
 * Fuzz harness: checked access to untrusted JSON (common/json.c). The input is a field path,
 * a newline, then a JSON document: "spec.triggers[0].type\n{...}". The document is parsed from
 * an exact-size copy (no terminating NUL, so ASan catches any read past it) and the path goes
 * through jsonu_lookup, every jsonu_get_*, jsonu_copy_string and jsonu_remove; the path's
 * comma-separated pieces are the keep list of jsonu_prune.
 *
 * Checked beyond "no crash, no leak": the getters agree with jsonu_lookup (a node of the right
 * type is returned, anything else fails with a documented errno and a message), nothing is
 * written to a ret_ argument on failure, ranges and lengths hold, and jsonu_prune keeps every
 * kept path intact and is idempotent.
 */
#include "common/json.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* More pieces than JSONU_PRUNE_MAX, so the refusal is reached too. */
#define FUZZ_KEEP_MAX (JSONU_PRUNE_MAX + 2)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_failure(int r, const errtext_t *err)
{
    if (r != -ENOENT && r != -EINVAL && r != -ERANGE && r != -ENAMETOOLONG)
        abort();
    if (!err->text[0])
        abort(); /* a failure always says why */
}

/* jsonu_get_object / _array / _bool / _double against what jsonu_lookup found. */
static void check_typed(const cJSON *root, const char *path, const cJSON *node)
{
    const cJSON *got = (const cJSON *)&got; /* a sentinel no getter may write on failure */
    double d = -1.5;
    bool b = true;
    errtext_t err;
    int r;

    err.text[0] = '\0';
    r = jsonu_get_object(root, path, &got, &err);
    if (r == 0 ? got != node || !cJSON_IsObject(node) : got != (const cJSON *)&got)
        abort();
    if (r < 0)
        check_failure(r, &err);
    if ((r == 0) != cJSON_IsObject(node))
        abort();

    got = (const cJSON *)&got;
    err.text[0] = '\0';
    r = jsonu_get_array(root, path, &got, &err);
    if (r == 0 ? got != node || !cJSON_IsArray(node) : got != (const cJSON *)&got)
        abort();
    if (r < 0)
        check_failure(r, &err);
    if ((r == 0) != cJSON_IsArray(node))
        abort();

    err.text[0] = '\0';
    r = jsonu_get_bool(root, path, &b, &err);
    if (r < 0 ? (check_failure(r, &err), !b) : b != (bool)cJSON_IsTrue(node))
        abort();
    if ((r == 0) != cJSON_IsBool(node))
        abort();

    err.text[0] = '\0';
    r = jsonu_get_double(root, path, &d, &err);
    if (r < 0 ? (check_failure(r, &err), d != -1.5) : d != node->valuedouble)
        abort();
    if ((r == 0) != (cJSON_IsNumber(node) && isfinite(node->valuedouble)))
        abort();
}

static void check_int(const cJSON *root, const char *path, int64_t min, int64_t max)
{
    int64_t v = 42;
    int32_t v32 = 42;
    errtext_t err;
    int r;

    err.text[0] = '\0';
    r = jsonu_get_int64(root, path, min, max, &v, &err);
    if (r < 0) {
        check_failure(r, &err);
        if (v != 42)
            abort();
    } else if (v < min || v > max || v > JSONU_INT_EXACT_MAX || v < -JSONU_INT_EXACT_MAX ||
               (double)v != jsonu_lookup(root, path)->valuedouble) {
        abort();
    }
    if (min < INT32_MIN || max > INT32_MAX)
        return;
    err.text[0] = '\0';
    r = jsonu_get_int32(root, path, (int32_t)min, (int32_t)max, &v32, &err);
    if (r < 0) {
        check_failure(r, &err);
        if (v32 != 42)
            abort();
    } else if (v32 < min || v32 > max) {
        abort();
    }
}

static void check_string(const cJSON *root, const char *path, const cJSON *node)
{
    static const size_t max_lens[] = {0, 1, 3, 253};
    static const size_t sizes[] = {1, 2, 8, 64};
    const char *s;
    errtext_t err;
    int r;

    for (size_t i = 0; i < sizeof max_lens / sizeof *max_lens; i++) {
        s = NULL;
        err.text[0] = '\0';
        r = jsonu_get_string(root, path, max_lens[i], &s, &err);
        if (r < 0 ? (check_failure(r, &err), s != NULL)
                  : !cJSON_IsString(node) || s != node->valuestring ||
                        (max_lens[i] && strlen(s) > max_lens[i]))
            abort();
        if (max_lens[i] == 0 && (r == 0) != cJSON_IsString(node))
            abort();
    }
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *buf = malloc(sizes[i]); /* exact size: ASan catches an overflow */
        if (!buf)
            return;
        memset(buf, 'x', sizes[i]);
        err.text[0] = '\0';
        r = jsonu_copy_string(root, path, buf, sizes[i], &err);
        if (r < 0 ? (check_failure(r, &err), buf[0] != 'x') : strcmp(buf, node->valuestring) != 0)
            abort();
        free(buf);
    }
}

static void check_path(const cJSON *root, const char *path)
{
    const cJSON *node = jsonu_lookup(root, path);

    if (node && cJSON_IsNull(node) && *path)
        abort(); /* null counts as missing (the empty path names the root, whatever it is) */
    if (jsonu_lookup(NULL, path))
        abort();
    check_typed(root, path, node);
    check_string(root, path, node);
    check_int(root, path, INT64_MIN, INT64_MAX);
    check_int(root, path, INT32_MIN, INT32_MAX);
    check_int(root, path, 0, 10);
    check_int(root, path, -JSONU_INT_EXACT_MAX - 10, -JSONU_INT_EXACT_MAX + 10);
}

/* Splits line at ',' into at most FUZZ_KEEP_MAX pieces (in place). */
static size_t split_keep(char *line, const char **keep)
{
    size_t n = 0;

    for (char *p = line; n < FUZZ_KEEP_MAX;) {
        keep[n++] = p;
        p = strchr(p, ',');
        if (!p)
            break;
        *p++ = '\0';
    }
    return n;
}

/* Equal trees. Not cJSON_Compare: it takes time exponential in the depth of nested objects,
 * finds infinity unequal to itself and matches repeated keys to the first of their name. */
static bool same(const cJSON *a, const cJSON *b)
{
    char *x = cJSON_PrintUnformatted(a), *y = cJSON_PrintUnformatted(b);
    bool r = !x || !y || strcmp(x, y) == 0; /* out of memory proves nothing */

    free(x);
    free(y);
    return r;
}

static void check_prune(const cJSON *root, char *line)
{
    const char *keep[FUZZ_KEEP_MAX];
    size_t n = split_keep(line, keep);
    cJSON *pruned = cJSON_Duplicate(root, true), *again;

    if (!pruned)
        return;
    if (jsonu_prune(pruned, keep, n) < 0) {
        if (n <= JSONU_PRUNE_MAX || !same(root, pruned))
            abort(); /* refused only for too many paths, and then untouched */
        cJSON_Delete(pruned);
        return;
    }
    if (n > JSONU_PRUNE_MAX)
        abort();
    for (size_t i = 0; i < n; i++) {
        const cJSON *before = jsonu_lookup(root, keep[i]), *after;
        if (!before || !*keep[i] || strchr(keep[i], '['))
            continue; /* prune takes plain dotted paths only; "" is a key to it, not the root */
        after = jsonu_lookup(pruned, keep[i]);
        if (!after || !same(before, after))
            abort();
        check_path(pruned, keep[i]);
    }
    again = cJSON_Duplicate(pruned, true);
    if (again) {
        if (jsonu_prune(again, keep, n) < 0 || !same(again, pruned))
            abort();
        cJSON_Delete(again);
    }
    cJSON_Delete(pruned);
}

/* True if jsonu_remove handles path: not the root, a plain last step (after the last '.'),
 * a parent path of bounded length. */
static bool removable(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *last = dot ? dot + 1 : path;

    return *path && !strpbrk(last, "[]\"") && (!dot || dot - path < 512);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t path_len = nl ? (size_t)(nl - data) : 0;
    size_t doc_len = nl ? size - path_len - 1 : size;
    char *path = malloc(path_len + 1), *doc = malloc(doc_len ? doc_len : 1);
    cJSON *root = (cJSON *)&root;
    errtext_t err;
    char *text;
    int r;

    if (!path || !doc)
        goto out;
    memcpy(path, data, path_len);
    path[path_len] = '\0'; /* a NUL inside the path ends it, as in any C caller */
    memcpy(doc, data + size - doc_len, doc_len);
    err.text[0] = '\0';
    r = jsonu_parse(doc, doc_len, &root, &err);
    if (r < 0) {
        if (r != -EBADMSG || !err.text[0] || root != (cJSON *)&root)
            abort();
        goto out;
    }
    check_path(root, path);
    text = jsonu_print(root);
    free(text);
    check_prune(root, path);
    /* After the prune check, which splits path in place: remove the first piece. */
    jsonu_remove(root, path);
    if (removable(path) && jsonu_lookup(root, path))
        abort(); /* not even a repeated key may remain */
    check_path(root, path);
    cJSON_Delete(root);
out:
    free(path);
    free(doc);
    return 0;
}
