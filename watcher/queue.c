/*
 * queue: which ScaledObjects need a reconcile. An event puts the object's key at the tail once
 * (an entry already queued is not queued twice); a reconcile that must be retried goes to the
 * delayed list with a per-object backoff (1 s doubling to 5 min, reset by a reconcile that
 * completes). Keys, not pointers, are queued: an object deleted meanwhile is simply skipped.
 * Runs on the watcher's thread; reconciles run in slices so heartbeats and watch events keep
 * flowing during a burst. A ScaledJob's key is "j:<ns>/<name>" (a namespace has no ':').
 */
#include "watcher/watcher_internal.h"

#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t queue_len(const watch_queue_t *q)
{
    return q->tail - q->head;
}

int watch_queue_push(watch_queue_t *q, const char *key)
{
    char *k = strdup(key);

    if (!k)
        return -ENOMEM;
    if (q->tail == q->cap && q->head > 0) { /* slide down before growing */
        memmove(q->keys, q->keys + q->head, queue_len(q) * sizeof *q->keys);
        q->tail -= q->head;
        q->head = 0;
    }
    if (q->tail == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 256;
        char **keys = realloc(q->keys, cap * sizeof *keys);
        if (!keys) {
            free(k);
            return -ENOMEM;
        }
        q->keys = keys;
        q->cap = cap;
    }
    q->keys[q->tail++] = k;
    return 0;
}

char *watch_queue_pop(watch_queue_t *q)
{
    if (q->head == q->tail)
        return NULL;
    char *k = q->keys[q->head++];
    if (q->head == q->tail)
        q->head = q->tail = 0;
    return k;
}

void watch_queue_done(watch_queue_t *q)
{
    for (size_t i = q->head; i < q->tail; i++)
        free(q->keys[i]);
    free(q->keys);
    memset(q, 0, sizeof *q);
}

/* e's queue key. */
static void queue_key(const watch_entry_t *e, char *key, size_t cap)
{
    size_t n = e->job ? 2 : 0;

    memcpy(key, "j:", n);
    watch_key(key + n, cap - n, e->ns, e->name);
}

static watch_entry_t *queue_entry(watch_ctx_t *w, const char *key)
{
    if (key[0] == 'j' && key[1] == ':')
        return watch_map_get(&w->sjs, key + 2);
    return watch_map_get(&w->sos, key);
}

void watch_enqueue(watch_ctx_t *w, watch_entry_t *e)
{
    char key[WATCH_KEY_MAX + 2];

    if (e->queued)
        return;
    queue_key(e, key, sizeof key);
    if (watch_queue_push(&w->queue, key) == 0)
        e->queued = true;
    else
        log_error(-ENOMEM, "could not queue %s", key);
}

void watch_enqueue_later(watch_ctx_t *w, watch_entry_t *e)
{
    char key[WATCH_KEY_MAX + 2];

    e->backoff_ms = e->backoff_ms ? e->backoff_ms * 2 : WATCH_RETRY_MIN_MS;
    if (e->backoff_ms > WATCH_RETRY_MAX_MS)
        e->backoff_ms = WATCH_RETRY_MAX_MS;
    e->retry_at_ms = shm_now_mono_ms() + e->backoff_ms;
    if (e->delayed)
        return;
    queue_key(e, key, sizeof key);
    if (watch_queue_push(&w->delayed, key) == 0)
        e->delayed = true;
}

/* Moves the delayed entries that are due to the queue; returns ms until the next one is due
 * (capped at 1000). */
static int queue_promote(watch_ctx_t *w, uint64_t now)
{
    watch_queue_t keep = {0};
    uint64_t next = now + 1000;
    char *k;

    while ((k = watch_queue_pop(&w->delayed))) {
        watch_entry_t *e = queue_entry(w, k);
        if (e && e->delayed && e->retry_at_ms <= now) {
            e->delayed = false;
            watch_enqueue(w, e);
        } else if (e && e->delayed) {
            if (e->retry_at_ms < next)
                next = e->retry_at_ms;
            if (watch_queue_push(&keep, k) < 0)
                e->delayed = false; /* out of memory: the next event retries it */
        }
        free(k);
    }
    watch_queue_done(&w->delayed);
    w->delayed = keep;
    return (int)(next - now);
}

int watch_queue_run(watch_ctx_t *w, uint32_t budget_ms)
{
    uint64_t start = shm_now_mono_ms(), now = start;
    int sleep_ms = queue_promote(w, now);
    char *k;

    while (now - start < budget_ms && (k = watch_queue_pop(&w->queue))) {
        watch_entry_t *e = queue_entry(w, k);
        free(k);
        if (!e)
            continue;
        e->queued = false;
        if ((e->job ? watch_sj_reconcile(w, e) : watch_reconcile(w, e)) == -EAGAIN)
            watch_enqueue_later(w, e);
        else
            e->backoff_ms = 0;
        watch_heartbeat(w);
        now = shm_now_mono_ms();
    }
    return queue_len(&w->queue) ? 0 : sleep_ms;
}
