/*
 * events: the watcher's Kubernetes Events (core/v1 Event), written as KEDA's operator writes
 * them through client-go's legacy recorder (keda.md §1.14): source.component and
 * reportingComponent "keda-operator", reasons from KEDA's eventreason list. Runs on the watcher's
 * one thread; nothing here is thread-safe.
 *
 * watch_event() only queues (bounded: the oldest event goes when the queue is full, counted and
 * logged once); it never blocks and never fails. watch_events_flush() runs the queued events
 * through the correlator (evcorr.h: spam filter, aggregation, dedup) in the order they happened
 * and writes them: POST of a new Event, or a merge PATCH of count, lastTimestamp and message of
 * the Event it repeats (a PATCH that finds no Event creates it again, as client-go does).
 * Events are best-effort, as in client-go: an Event the API server refuses is dropped; one that
 * fails below HTTP (no response, timeout) is tried WATCH_EVENTS_TRIES times in all,
 * WATCH_EVENTS_RETRY_MS apart, and no Event is written during that pause. The first failure of
 * each kind is logged at info, the rest at debug. Messages pass redact_text() and are cut to
 * WATCH_EVCORR_MESSAGE_MAX - 1 bytes (on a UTF-8 boundary).
 *
 * What the watcher must do:
 * - Start-up: `w->events = watch_events_init();` (NULL when out of memory: every function here
 *   accepts a NULL events and then does nothing, so the watcher runs on without Events).
 * - Where KEDA records an Event: `watch_event(w->events, obj, warning, reason, fmt, ...)` with
 *   obj the involved object as the API returned it (kind, apiVersion and metadata.name,
 *   namespace, uid, resourceVersion are read from it and copied; obj may be freed right after).
 *   For an object stripped of kind/apiVersion (the auth caches), use watch_event_kind().
 * - Each turn of the main loop, after the reconciles and the scale loop, when a client exists:
 *   `if (watch_events_flush(w->events, w, budget_ms) > 0)` the loop should come back without
 *   sleeping (poll timeout 0). budget_ms bounds the time spent writing (e.g.
 *   WATCH_QUEUE_SLICE_MS); a single request may overrun it by up to its own timeout. Without a
 *   client (detached) flush discards the queue and returns 0.
 * - Exit: `watch_events_done(w->events)`. Events still queued are lost (so are client-go's).
 *
 * This header does not include watcher_internal.h, so watcher_internal.h may include it for the
 * `watch_events_t *events;` member of watch_ctx_t.
 */
#ifndef CKEDA_WATCHER_EVENTS_H
#define CKEDA_WATCHER_EVENTS_H

#include "watcher/evcorr.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WATCH_EVENTS_QUEUE_MAX 1024
#define WATCH_EVENTS_COMPONENT "keda-operator"
#define WATCH_EVENTS_TRIES     3
#define WATCH_EVENTS_RETRY_MS  10000 /* client-go sleeps 10 s between tries */
#define WATCH_EVENTS_LOGGED    16    /* failure kinds remembered as already logged */

struct watch_ctx;
typedef struct watch_event_item watch_event_item_t; /* events.c */

/* All fields belong to events.c; the counters may be read (e.g. for a log line). */
typedef struct watch_events {
    watch_evcorr_t *corr;
    watch_event_item_t *ring[WATCH_EVENTS_QUEUE_MAX]; /* queued, oldest at head */
    size_t head, count;
    uint64_t last_ns;        /* the newest event time handed out: names stay unique */
    uint64_t pause_until_ms; /* monotonic; no request before it (after a transport failure) */
    int logged[WATCH_EVENTS_LOGGED]; /* -errno of failures already logged at info */
    unsigned nlogged;
    bool full_logged;
    /* counters since start */
    uint64_t queued;       /* accepted by watch_event */
    uint64_t dropped_full; /* the oldest, pushed out of a full queue */
    uint64_t dropped_spam; /* refused by the spam filter */
    uint64_t created, patched;
    uint64_t failed; /* given up on */
} watch_events_t;

/* NULL on allocation failure. */
watch_events_t *watch_events_init(void);
/* Frees everything, queued events included. Accepts NULL. */
void watch_events_done(watch_events_t *ev);

/* Queues an Event about involved: type Warning when warning, else Normal; the message is
 * fmt formatted, then redacted and cut. Never fails: an event about an object without kind,
 * apiVersion or metadata.name, or with a field too long for an Event, is dropped with a debug
 * line. */
void watch_event(watch_events_t *ev, const cJSON *involved, bool warning, const char *reason,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same with kind and apiVersion given (each NULL: taken from involved). */
void watch_event_kind(watch_events_t *ev, const char *kind, const char *api_version,
                      const cJSON *involved, bool warning, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Correlates and writes queued events for up to budget_ms (synchronous requests through
 * watch_api_create / watch_api_patch, which heartbeat). Returns how many events could be written
 * now but were left for lack of budget (0 when the rest, if any, wait for a retry pause). */
int watch_events_flush(watch_events_t *ev, struct watch_ctx *w, uint32_t budget_ms);

#endif
