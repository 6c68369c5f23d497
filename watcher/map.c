/*
 * map: the watcher's caches, string keys ("ns/name") to pointers. Chained buckets, doubled when
 * the load passes one; the table's SipHash-2-4 (shm_siphash) under a random key, because object
 * names are chosen by users and must not be able to pile into one bucket. Runs on the watcher's
 * thread only.
 */
#include "watcher/watcher_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static uint64_t map_hash(const watch_map_t *m, const char *key)
{
    return shm_siphash(m->key, key, strlen(key));
}

void watch_map_init(watch_map_t *m)
{
    memset(m, 0, sizeof *m);
    if (getrandom(m->key, sizeof m->key, 0) != (ssize_t)sizeof m->key) {
        /* keep the zero key: still correct, only not hardened */
    }
}

void watch_map_done(watch_map_t *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (watch_map_node_t *n = m->buckets[i], *next; n; n = next) {
            next = n->next;
            if (free_value)
                free_value(n->value);
            free(n);
        }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->count = 0;
}

static watch_map_node_t **map_slot(const watch_map_t *m, const char *key)
{
    watch_map_node_t **p;

    if (!m->nbuckets)
        return NULL;
    for (p = &m->buckets[map_hash(m, key) & (m->nbuckets - 1)]; *p; p = &(*p)->next)
        if (strcmp((*p)->key, key) == 0)
            return p;
    return p;
}

void *watch_map_get(const watch_map_t *m, const char *key)
{
    watch_map_node_t **p = map_slot(m, key);
    return p && *p ? (*p)->value : NULL;
}

static int map_grow(watch_map_t *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
    watch_map_node_t **b = calloc(n, sizeof *b);

    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < m->nbuckets; i++)
        for (watch_map_node_t *x = m->buckets[i], *next; x; x = next) {
            next = x->next;
            size_t h = map_hash(m, x->key) & (n - 1);
            x->next = b[h];
            b[h] = x;
        }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
    return 0;
}

int watch_map_put(watch_map_t *m, const char *key, void *value, void **ret_old)
{
    watch_map_node_t **p, *n;
    size_t len = strlen(key);

    if (ret_old)
        *ret_old = NULL;
    if ((m->count + 1 > m->nbuckets) && map_grow(m) < 0)
        return -ENOMEM;
    p = map_slot(m, key);
    if (*p) {
        if (ret_old)
            *ret_old = (*p)->value;
        (*p)->value = value;
        return 0;
    }
    if (!(n = malloc(sizeof *n + len + 1)))
        return -ENOMEM;
    n->next = NULL;
    n->value = value;
    memcpy(n->key, key, len + 1);
    *p = n;
    m->count++;
    return 0;
}

void *watch_map_del(watch_map_t *m, const char *key)
{
    watch_map_node_t **p = map_slot(m, key), *n;
    void *v;

    if (!p || !*p)
        return NULL;
    n = *p;
    *p = n->next;
    v = n->value;
    free(n);
    m->count--;
    return v;
}

void watch_map_each(const watch_map_t *m, void (*fn)(const char *key, void *value, void *ud),
                    void *ud)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (watch_map_node_t *n = m->buckets[i]; n; n = n->next)
            fn(n->key, n->value, ud);
}
