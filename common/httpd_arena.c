/*
 * httpd_arena: the memory of one request (the process of the role serving it: adapter,
 * webhook). Every allocation made while serving a request comes from its connection's arena;
 * httpd_arena_reset() at the end of the response frees them all at once, so no code path can
 * leak across requests and none needs its own free. A request is bounded (the arena's limit):
 * a hostile one cannot grow the process.
 */
#include "common/httpd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct httpd_arena_chunk {
    httpd_arena_chunk_t *next;
    size_t cap, used;
    max_align_t data[];
};

static size_t arena_align(size_t n)
{
    size_t a = sizeof(max_align_t);
    return (n + a - 1) / a * a;
}

void *httpd_arena_alloc(httpd_arena_t *a, size_t n)
{
    size_t need = arena_align(n ? n : 1), limit = a->limit ? a->limit : HTTPD_ARENA_LIMIT;
    httpd_arena_chunk_t *c = a->head;

    if (need < n)
        return NULL; /* overflow */
    if (!c || c->cap - c->used < need) {
        size_t cap = need > HTTPD_ARENA_CHUNK ? need : HTTPD_ARENA_CHUNK;
        if (a->total + cap > limit)
            return NULL;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->total += cap;
    }
    void *p = (char *)c->data + c->used;
    c->used += need;
    return p;
}

char *httpd_arena_strndup(httpd_arena_t *a, const char *s, size_t n)
{
    char *p = httpd_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *httpd_arena_strdup(httpd_arena_t *a, const char *s)
{
    return httpd_arena_strndup(a, s, strlen(s));
}

char *httpd_arena_printf(httpd_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !(p = httpd_arena_alloc(a, (size_t)n + 1)))
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void httpd_arena_reset(httpd_arena_t *a)
{
    httpd_arena_chunk_t *c = a->head, *last = NULL;

    while (c) {
        httpd_arena_chunk_t *next = c->next;
        if (!next) {
            last = c; /* the oldest chunk stays for the next request */
            break;
        }
        free(c);
        c = next;
    }
    a->head = last;
    a->total = last ? last->cap : 0;
    if (last) {
        last->used = 0;
        if (last->cap > HTTPD_ARENA_CHUNK) { /* an oversized first chunk is not kept */
            free(last);
            a->head = NULL;
            a->total = 0;
        }
    }
}

void httpd_arena_free(httpd_arena_t *a)
{
    httpd_arena_chunk_t *c = a->head;
    while (c) {
        httpd_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

void httpd_sbuf_init(httpd_sbuf_t *b, httpd_arena_t *a)
{
    *b = (httpd_sbuf_t){.arena = a};
}

void httpd_sbuf_append(httpd_sbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap - b->len < n + 1)
            cap *= 2;
        char *p = httpd_arena_alloc(b->arena, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        if (b->len)
            memcpy(p, b->p, b->len);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void httpd_sbuf_puts(httpd_sbuf_t *b, const char *s)
{
    httpd_sbuf_append(b, s, strlen(s));
}

void httpd_sbuf_printf(httpd_sbuf_t *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        httpd_sbuf_append(b, small, (size_t)n);
        return;
    }
    char *big = httpd_arena_alloc(b->arena, (size_t)n + 1);
    if (!big) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    httpd_sbuf_append(b, big, (size_t)n);
}
