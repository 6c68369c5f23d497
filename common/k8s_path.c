/*
 * k8s_path: REST paths and query strings. Names come from user objects (a scaleTargetRef, a
 * TriggerAuthentication's secret name), so a segment that could change the path's meaning
 * ('/', "..", '?', '%', spaces) is refused rather than escaped. No state.
 */
#include "common/k8s_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest segment: a DNS subdomain name (253) is the longest Kubernetes name. */
#define K8S_SEGMENT_MAX 253

bool k8s_segment_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > K8S_SEGMENT_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("-._:~@+", c) != NULL;
        if (!ok)
            return false;
    }
    return true;
}

/* Appends "/seg" to buf at *len. */
static int k8s_path_append(char *buf, size_t size, size_t *len, const char *seg)
{
    size_t n;

    if (!k8s_segment_valid(seg))
        return -EINVAL;
    n = strlen(seg);
    if (*len + 1 + n + 1 > size)
        return -ENAMETOOLONG;
    buf[(*len)++] = '/';
    memcpy(buf + *len, seg, n + 1);
    *len += n;
    return 0;
}

int k8s_gv_path_build(const char *group, const char *version, char *buf, size_t size)
{
    size_t len = 0;
    int r;

    if (size < 1)
        return -ENAMETOOLONG;
    buf[0] = '\0';
    if (!group || !*group) {
        r = k8s_path_append(buf, size, &len, "api");
    } else {
        r = k8s_path_append(buf, size, &len, "apis");
        if (r == 0)
            r = k8s_path_append(buf, size, &len, group);
    }
    if (r == 0)
        r = k8s_path_append(buf, size, &len, version);
    return r;
}

int k8s_path_build(const k8s_ref_t *ref, char *buf, size_t size)
{
    size_t len;
    int r = k8s_gv_path_build(ref->gvr.group, ref->gvr.version, buf, size);

    if (r < 0)
        return r;
    len = strlen(buf);
    if (ref->ns && *ref->ns) {
        r = k8s_path_append(buf, size, &len, "namespaces");
        if (r == 0)
            r = k8s_path_append(buf, size, &len, ref->ns);
    }
    if (r == 0)
        r = k8s_path_append(buf, size, &len, ref->gvr.resource);
    if (r == 0 && ref->name)
        r = k8s_path_append(buf, size, &len, ref->name);
    else if (r == 0 && ref->subresource)
        r = -EINVAL; /* a subresource of a collection means nothing */
    if (r == 0 && ref->subresource)
        r = k8s_path_append(buf, size, &len, ref->subresource);
    return r;
}

static void k8s_query_reserve(k8s_query_t *q, size_t more)
{
    size_t cap;
    char *buf;

    if (q->error || q->len + more + 1 <= q->cap)
        return;
    cap = q->cap ? q->cap : 128;
    while (cap < q->len + more + 1)
        cap *= 2;
    buf = realloc(q->buf, cap);
    if (!buf) {
        q->error = -ENOMEM;
        return;
    }
    q->buf = buf;
    q->cap = cap;
}

void k8s_query_add(k8s_query_t *q, const char *key, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";

    if (!value || !*value)
        return;
    /* Worst case: '&', the key, '=', every value byte as %XX. */
    k8s_query_reserve(q, 2 + strlen(key) + 3 * strlen(value));
    if (q->error)
        return;
    q->len += (size_t)sprintf(q->buf + q->len, "%s%s=", q->len ? "&" : "", key);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;
        if (plain) {
            q->buf[q->len++] = (char)*p;
        } else {
            q->buf[q->len++] = '%';
            q->buf[q->len++] = hex[*p >> 4];
            q->buf[q->len++] = hex[*p & 15];
        }
    }
    q->buf[q->len] = '\0';
}

void k8s_query_add_uint(k8s_query_t *q, const char *key, unsigned long value)
{
    char num[24];

    snprintf(num, sizeof num, "%lu", value);
    k8s_query_add(q, key, num);
}

void k8s_query_done(k8s_query_t *q)
{
    free(q->buf);
    q->buf = NULL;
    q->len = q->cap = 0;
    q->error = 0;
}

char *k8s_url_build(const char *server, const char *path, const char *query)
{
    char *url = NULL;

    if (asprintf(&url, "%s%s%s%s", server, path, query && *query ? "?" : "", query ? query : "") <
        0)
        return NULL;
    return url;
}
