/*
 * evcorr: the Event correlator, as client-go's legacy recorder runs it before it writes a core/v1
 * Event (tools/record/events_cache.go, EventCorrelator). Pure logic: no I/O, no clock, no watcher
 * state; the caller passes the time and carries out the decision. Runs on the watcher's thread
 * (events.c); not thread-safe.
 *
 * For each event, in client-go's order:
 * 1. Aggregation: events that differ only in their message (same object, type and reason) are
 *    counted per object+type+reason; from the WATCH_EVCORR_AGGREGATE_MAX-th distinct message
 *    within WATCH_EVCORR_AGGREGATE_INTERVAL_MS of the previous similar one, the event becomes
 *    one aggregate Event whose message is WATCH_EVCORR_COMBINED_PREFIX + the message.
 * 2. Dedup: an event seen before (same object, type, reason and message; or the aggregate of its
 *    group) updates the existing Event: count + 1, lastTimestamp, message. The count counts every
 *    occurrence, those the spam filter drops included (as in client-go).
 * 3. Spam filter: a token bucket per object+type (client-go's spam key: source, involved object
 *    and type, not the reason): WATCH_EVCORR_SPAM_BURST events at once, then one per
 *    WATCH_EVCORR_SPAM_REFILL_MS. An event beyond that is dropped.
 *
 * Memory is bounded: each of the three caches holds at most `capacity` entries (4096 as in
 * client-go) and forgets the least recently used one. Keys are hashed with SipHash under a random
 * per-process key (object names are user-chosen) and compared in full; an aggregate group keeps
 * 64-bit hashes of its messages, not the messages. A time earlier than the previous one (the
 * real-time clock stepped back) counts as no time passing.
 */
#ifndef CKEDA_WATCHER_EVCORR_H
#define CKEDA_WATCHER_EVCORR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WATCH_EVCORR_CACHE_SIZE            4096
#define WATCH_EVCORR_AGGREGATE_MAX         10
#define WATCH_EVCORR_AGGREGATE_INTERVAL_MS 600000u
#define WATCH_EVCORR_SPAM_BURST            25
#define WATCH_EVCORR_SPAM_REFILL_MS        300000u /* one token per 5 minutes */
#define WATCH_EVCORR_COMBINED_PREFIX       "(combined from similar events): "
#define WATCH_EVCORR_MESSAGE_MAX           1024 /* bytes, with the NUL */
#define WATCH_EVCORR_NAME_MAX              254  /* an Event's name (a DNS subdomain) + NUL */
#define WATCH_EVCORR_COUNT_MAX             INT32_MAX

typedef struct watch_evcorr watch_evcorr_t;

/* One event. Strings are NUL-terminated; ns is "" for a cluster-scoped object. */
typedef struct watch_evcorr_event {
    const char *kind;
    const char *api_version;
    const char *ns;
    const char *name;
    const char *uid;
    bool warning;
    const char *reason;
    const char *message;    /* longer than WATCH_EVCORR_MESSAGE_MAX - 1 bytes is cut */
    const char *event_name; /* the name a new Event gets (< WATCH_EVCORR_NAME_MAX bytes) */
} watch_evcorr_event_t;

typedef enum {
    WATCH_EVCORR_DROP,   /* the spam filter refused it: write nothing */
    WATCH_EVCORR_CREATE, /* POST a new Event named event_name, count 1 */
    WATCH_EVCORR_UPDATE, /* PATCH Event event_name: count, lastTimestamp, message */
} watch_evcorr_action_t;

typedef struct watch_evcorr_result {
    watch_evcorr_action_t action;
    bool aggregated; /* message is the combined message */
    int32_t count;   /* the Event's count: 1 for CREATE */
    /* firstTimestamp: the time the Event was first seen (now for CREATE). Should the PATCH of an
     * UPDATE find no Event (it expired), create one with this name, count and firstTimestamp. */
    uint64_t first_ms;
    char event_name[WATCH_EVCORR_NAME_MAX];
    char message[WATCH_EVCORR_MESSAGE_MAX];
} watch_evcorr_result_t;

typedef struct watch_evcorr_stats {
    size_t spam_entries, aggregate_entries, dedup_entries; /* each <= capacity */
    uint64_t evictions;                                    /* over the three caches */
} watch_evcorr_stats_t;

/* capacity: entries per cache, 0 for WATCH_EVCORR_CACHE_SIZE. NULL on allocation failure. */
watch_evcorr_t *watch_evcorr_new(size_t capacity);
/* Accepts NULL. */
void watch_evcorr_free(watch_evcorr_t *c);

/* Correlates ev happening at now_ms (real time, ms) and writes the decision to *ret. 0, or
 * -ENOMEM (nothing written, no cache changed), or -EINVAL for a NULL field or an event_name that
 * does not fit. */
int watch_evcorr_observe(watch_evcorr_t *c, const watch_evcorr_event_t *ev, uint64_t now_ms,
                         watch_evcorr_result_t *ret);

void watch_evcorr_stats(const watch_evcorr_t *c, watch_evcorr_stats_t *ret);

/* The length of the longest prefix of s (of length len) of at most max bytes that does not end
 * inside a UTF-8 sequence. */
size_t watch_evcorr_text_cut(const char *s, size_t len, size_t max);

#endif
