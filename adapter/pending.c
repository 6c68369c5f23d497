/*
 * pending: a review in flight and the requests waiting for its answer, as authz.c and tokens.c
 * keep them (adapter process, event-loop thread only).
 *
 * A waiter that goes away is only cleared (NULL) from its list, never removed: the list may be
 * walked while its owner wakes the waiters, and it is freed with its review.
 */
#include "adapter/adp_kube.h"

#include <stdlib.h>

bool adp_pending_add_waiter(adp_pending_t *p, void *waiter)
{
    if (p->nwaiters == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        void **w = realloc(p->waiters, cap * sizeof *w);
        if (!w)
            return false;
        p->waiters = w;
        p->cap = cap;
    }
    p->waiters[p->nwaiters++] = waiter;
    return true;
}

void adp_pending_fini(adp_pending_t *p)
{
    free(p->waiters);
    p->waiters = NULL;
    p->nwaiters = p->cap = 0;
}

void adp_pending_list_free(adp_pending_t *list, void (*free_entry)(adp_pending_t *p))
{
    for (adp_pending_t *p = list, *next; p; p = next) {
        next = p->next;
        free_entry(p);
    }
}

void adp_pending_unlink(adp_pending_t **list, adp_pending_t *p)
{
    for (adp_pending_t **pp = list; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

void adp_pending_forget(adp_pending_t *list, void *waiter)
{
    for (adp_pending_t *p = list; p; p = p->next)
        for (size_t i = 0; i < p->nwaiters; i++)
            if (p->waiters[i] == waiter)
                p->waiters[i] = NULL;
}
