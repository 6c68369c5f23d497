/*
 * k8s_lines: splits a watch stream into events. The API server writes one JSON object per
 * event followed by '\n' (json.Encoder), flushed per event; HTTP chunk boundaries need not match
 * event boundaries, so a partial line is carried over to the next chunk.
 *
 * Bounded memory: at most one partial line of `max` bytes is buffered; a longer line is an
 * error (no object that large can exist; etcd refuses values above 1.5 MiB by default).
 * Runs in whichever process owns the loop; one splitter per stream.
 */
#include "common/k8s_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void k8s_lines_init(k8s_lines_t *l, size_t max)
{
    l->buf = NULL;
    l->len = 0;
    l->cap = 0;
    l->max = max;
}

static int k8s_lines_append(k8s_lines_t *l, const char *data, size_t n)
{
    if (n > l->max - l->len)
        return -EMSGSIZE;
    if (l->len + n > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + n)
            cap *= 2;
        if (cap > l->max)
            cap = l->max;
        char *buf = realloc(l->buf, cap);
        if (!buf)
            return -ENOMEM;
        l->buf = buf;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, data, n);
    l->len += n;
    return 0;
}

static int k8s_lines_emit(const char *line, size_t len, k8s_line_fn fn, void *userdata)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    return fn(userdata, line, len);
}

int k8s_lines_feed(k8s_lines_t *l, const char *data, size_t n, k8s_line_fn fn, void *userdata)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        int r;

        if (!nl)
            return k8s_lines_append(l, data, take);
        if (l->len == 0) {
            /* The common case: a whole line inside the chunk, passed without copying. */
            if (take > l->max)
                return -EMSGSIZE;
            r = k8s_lines_emit(data, take, fn, userdata);
        } else {
            r = k8s_lines_append(l, data, take);
            if (r == 0)
                r = k8s_lines_emit(l->buf, l->len, fn, userdata);
            l->len = 0;
        }
        if (r != 0)
            return r;
        data += take + 1;
        n -= take + 1;
    }
    return 0;
}

void k8s_lines_reset(k8s_lines_t *l)
{
    l->len = 0;
}

void k8s_lines_done(k8s_lines_t *l)
{
    free(l->buf);
    k8s_lines_init(l, l->max);
}
