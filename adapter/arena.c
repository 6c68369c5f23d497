/*
 * arena: the memory of one request (adapter process). Every allocation made while serving a
 * request comes from its connection's arena; adp_arena_reset() at the end of the response
 * frees them all at once, so no code path can leak across requests and none needs its own
 * free. A request is bounded (ADP_ARENA_LIMIT): a hostile one cannot grow the process.
 */
#include "adapter/adp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct adp_arena_chunk {
    adp_arena_chunk_t *next;
    size_t cap, used;
    max_align_t data[];
};

static size_t arena_align(size_t n)
{
    size_t a = sizeof(max_align_t);
    return (n + a - 1) / a * a;
}

void *adp_arena_alloc(adp_arena_t *a, size_t n)
{
    size_t need = arena_align(n ? n : 1), limit = a->limit ? a->limit : ADP_ARENA_LIMIT;
    adp_arena_chunk_t *c = a->head;

    if (need < n)
        return NULL; /* overflow */
    if (!c || c->cap - c->used < need) {
        size_t cap = need > ADP_ARENA_CHUNK ? need : ADP_ARENA_CHUNK;
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

char *adp_arena_strndup(adp_arena_t *a, const char *s, size_t n)
{
    char *p = adp_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *adp_arena_strdup(adp_arena_t *a, const char *s)
{
    return adp_arena_strndup(a, s, strlen(s));
}

char *adp_arena_printf(adp_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !(p = adp_arena_alloc(a, (size_t)n + 1)))
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void adp_arena_reset(adp_arena_t *a)
{
    adp_arena_chunk_t *c = a->head, *last = NULL;

    while (c) {
        adp_arena_chunk_t *next = c->next;
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
        if (last->cap > ADP_ARENA_CHUNK) { /* an oversized first chunk is not kept */
            free(last);
            a->head = NULL;
            a->total = 0;
        }
    }
}

void adp_arena_free(adp_arena_t *a)
{
    adp_arena_chunk_t *c = a->head;
    while (c) {
        adp_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

void adp_sbuf_init(adp_sbuf_t *b, adp_arena_t *a)
{
    *b = (adp_sbuf_t){.arena = a};
}

void adp_sbuf_append(adp_sbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap - b->len < n + 1)
            cap *= 2;
        char *p = adp_arena_alloc(b->arena, cap);
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

void adp_sbuf_puts(adp_sbuf_t *b, const char *s)
{
    adp_sbuf_append(b, s, strlen(s));
}

void adp_sbuf_printf(adp_sbuf_t *b, const char *fmt, ...)
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
        adp_sbuf_append(b, small, (size_t)n);
        return;
    }
    char *big = adp_arena_alloc(b->arena, (size_t)n + 1);
    if (!big) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    adp_sbuf_append(b, big, (size_t)n);
}

bool adp_slice_eq(adp_slice_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

bool adp_slice_caseeq(adp_slice_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && strncasecmp(s.p, lit, n) == 0;
}
