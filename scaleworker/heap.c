/*
 * heap: the scale worker's schedule, an indexed binary min-heap of nodes embedded in the
 * triggers. Runs in the scale worker process; single-threaded.
 *
 * A worker keeps two: its idle triggers keyed by their next poll, and its polls in flight keyed
 * by their deadline (poll.c). Finding what is due is then a look at the top, and starting,
 * finishing or moving one trigger costs O(log n), where a scan of every trigger on every loop
 * turn made the work per polling interval grow with the square of the trigger count (polls
 * spread over the interval each get a turn of their own).
 *
 * Invariants: a node is in at most one heap; node->pos is its index + 1 in that heap, 0 when it
 * is in none (so a zeroed node is out); the heap's array never grows (its capacity is the
 * worker's trigger capacity). Equal keys are ordered by `tie` (the trigger slot), so the order
 * of triggers due at the same millisecond does not depend on the order of insertion.
 */
#include "scaleworker/sw_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

int sw_heap_init(sw_heap_t *h, uint32_t cap)
{
    *h = (sw_heap_t){0};
    if (cap && !(h->v = calloc(cap, sizeof *h->v)))
        return -ENOMEM;
    h->cap = cap;
    return 0;
}

void sw_heap_free(sw_heap_t *h)
{
    for (uint32_t i = 0; i < h->n; i++)
        h->v[i]->pos = 0;
    free(h->v);
    *h = (sw_heap_t){0};
}

static bool sw_heap_less(const sw_heap_node_t *a, const sw_heap_node_t *b)
{
    return a->key < b->key || (a->key == b->key && a->tie < b->tie);
}

static void sw_heap_put(sw_heap_t *h, uint32_t i, sw_heap_node_t *x)
{
    h->v[i] = x;
    x->pos = i + 1;
}

static void sw_heap_up(sw_heap_t *h, uint32_t i)
{
    sw_heap_node_t *x = h->v[i];

    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!sw_heap_less(x, h->v[parent]))
            break;
        sw_heap_put(h, i, h->v[parent]);
        i = parent;
    }
    sw_heap_put(h, i, x);
}

static void sw_heap_down(sw_heap_t *h, uint32_t i)
{
    sw_heap_node_t *x = h->v[i];

    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && sw_heap_less(h->v[c + 1], h->v[c]))
            c++;
        if (!sw_heap_less(h->v[c], x))
            break;
        sw_heap_put(h, i, h->v[c]);
        i = c;
    }
    sw_heap_put(h, i, x);
}

void sw_heap_set(sw_heap_t *h, sw_heap_node_t *x, uint64_t key)
{
    if (!x->pos) {
        assert(h->n < h->cap); /* one node per trigger, capacity one per trigger slot */
        x->key = key;
        sw_heap_put(h, h->n++, x);
        sw_heap_up(h, h->n - 1);
        return;
    }
    assert(x->pos <= h->n && h->v[x->pos - 1] == x);
    if (key == x->key)
        return;
    bool earlier = key < x->key;
    x->key = key;
    if (earlier)
        sw_heap_up(h, x->pos - 1);
    else
        sw_heap_down(h, x->pos - 1);
}

void sw_heap_remove(sw_heap_t *h, sw_heap_node_t *x)
{
    uint32_t i;
    sw_heap_node_t *last;

    if (!x->pos)
        return;
    assert(x->pos <= h->n && h->v[x->pos - 1] == x);
    i = x->pos - 1;
    x->pos = 0;
    last = h->v[--h->n];
    if (i == h->n)
        return;
    sw_heap_put(h, i, last); /* the last node fills the hole, then finds its place */
    if (i > 0 && sw_heap_less(last, h->v[(i - 1) / 2]))
        sw_heap_up(h, i);
    else
        sw_heap_down(h, i);
}

sw_heap_node_t *sw_heap_top(const sw_heap_t *h)
{
    return h->n ? h->v[0] : NULL;
}
