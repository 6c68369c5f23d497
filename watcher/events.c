/*
 * events: the watcher's Event recorder (see events.h). Runs on the watcher's thread only.
 *
 * Invariants:
 * - The queue holds at most WATCH_EVENTS_QUEUE_MAX events; each is correlated exactly once (the
 *   first time a flush reaches it, in the order the events happened) and then carries its
 *   decision through any retries, so a retry never counts an occurrence twice.
 * - Event names are "<involved name>.<event time in ns, hex>" (client-go's GenerateEventName); the
 *   times handed out strictly increase, so two events of this process never share a name. When
 *   that name is not a DNS subdomain, a random UUID (as client-go does).
 * - Nothing here retries forever: WATCH_EVENTS_TRIES tries at most, and only for failures below
 *   HTTP; a refusal by the API server drops the event.
 */
#include "watcher/events.h"

#include "common/json.h"
#include "common/log.h"
#include "common/redact.h"
#include "watcher/watcher_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define EV_KIND_MAX   128
#define EV_APIVER_MAX 320 /* group (253) + '/' + version */
#define EV_NS_MAX     64
#define EV_NAME_MAX   254
#define EV_UID_MAX    64
#define EV_RV_MAX     64
#define EV_REASON_MAX 128
#define EV_FORMAT_MAX 4096 /* formatted and redacted before the cut */

struct watch_event_item {
    uint64_t real_ns; /* when it happened */
    uint64_t due_ms;  /* monotonic: not written before (a retry) */
    unsigned tries;
    bool decided;
    bool warning;
    watch_evcorr_result_t res; /* valid once decided */
    char kind[EV_KIND_MAX];
    char api_version[EV_APIVER_MAX];
    char ns[EV_NS_MAX];
    char name[EV_NAME_MAX];
    char uid[EV_UID_MAX];
    char rv[EV_RV_MAX];
    char reason[EV_REASON_MAX];
    char event_name[WATCH_EVCORR_NAME_MAX];
    char message[WATCH_EVCORR_MESSAGE_MAX];
};

watch_events_t *watch_events_init(void)
{
    watch_events_t *ev = calloc(1, sizeof *ev);

    if (!ev)
        return NULL;
    ev->corr = watch_evcorr_new(0);
    if (!ev->corr) {
        free(ev);
        return NULL;
    }
    return ev;
}

static watch_event_item_t *events_pop(watch_events_t *ev)
{
    watch_event_item_t *it = ev->ring[ev->head];

    ev->ring[ev->head] = NULL;
    ev->head = (ev->head + 1) % WATCH_EVENTS_QUEUE_MAX;
    ev->count--;
    return it;
}

/* There must be room. */
static void events_push(watch_events_t *ev, watch_event_item_t *it)
{
    ev->ring[(ev->head + ev->count) % WATCH_EVENTS_QUEUE_MAX] = it;
    ev->count++;
}

static void events_clear(watch_events_t *ev)
{
    while (ev->count)
        free(events_pop(ev));
}

void watch_events_done(watch_events_t *ev)
{
    if (!ev)
        return;
    events_clear(ev);
    watch_evcorr_free(ev->corr);
    free(ev);
}

/* ---- queueing ---- */

/* apimachinery's NameIsDNSSubdomain: lowercase RFC 1123 labels joined by '.', <= 253 bytes. */
static bool events_dns_subdomain(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool alnum = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9');
        bool edge = i == 0 || i == len - 1 || s[i - 1] == '.' || s[i + 1] == '.';
        if (!alnum && (edge || (s[i] != '-' && s[i] != '.')))
            return false;
    }
    return true;
}

static void events_name(watch_event_item_t *it)
{
    int n = snprintf(it->event_name, sizeof it->event_name, "%s.%llx", it->name,
                     (unsigned long long)it->real_ns);
    uint8_t u[16];

    if (n > 0 && (size_t)n < sizeof it->event_name && events_dns_subdomain(it->event_name))
        return;
    if (getrandom(u, sizeof u, 0) != (ssize_t)sizeof u) {
        /* still unique enough with the time folded in: the name only has to be new */
        memset(u, 0, sizeof u);
        memcpy(u, &it->real_ns, sizeof it->real_ns);
    }
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(it->event_name, sizeof it->event_name,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
}

/* Copies the string at path (or value when not NULL) into buf; false when missing or too long.
 * ns and resourceVersion may be missing (""). */
static bool events_copy(char *buf, size_t cap, const cJSON *obj, const char *path,
                        const char *value, bool optional)
{
    if (!value && obj) {
        const cJSON *n = jsonu_lookup(obj, path);
        value = cJSON_IsString(n) ? n->valuestring : NULL;
    }
    if (!value || !*value) {
        buf[0] = '\0';
        return optional;
    }
    return (size_t)snprintf(buf, cap, "%s", value) < cap;
}

static bool events_fill(watch_event_item_t *it, const char *kind, const char *api_version,
                        const cJSON *obj, const char *reason)
{
    return events_copy(it->kind, sizeof it->kind, obj, "kind", kind, false) &&
           events_copy(it->api_version, sizeof it->api_version, obj, "apiVersion", api_version,
                       false) &&
           events_copy(it->name, sizeof it->name, obj, "metadata.name", NULL, false) &&
           events_copy(it->ns, sizeof it->ns, obj, "metadata.namespace", NULL, true) &&
           events_copy(it->uid, sizeof it->uid, obj, "metadata.uid", NULL, true) &&
           events_copy(it->rv, sizeof it->rv, obj, "metadata.resourceVersion", NULL, true) &&
           events_copy(it->reason, sizeof it->reason, NULL, NULL, reason, false);
}

static void events_message(watch_event_item_t *it, const char *fmt, va_list ap)
{
    char raw[EV_FORMAT_MAX], clean[EV_FORMAT_MAX];
    size_t len;

    vsnprintf(raw, sizeof raw, fmt, ap);
    redact_text(raw, clean, sizeof clean);
    len = watch_evcorr_text_cut(clean, strlen(clean), sizeof it->message - 1);
    memcpy(it->message, clean, len);
    it->message[len] = '\0';
}

static uint64_t events_now_ns(watch_events_t *ev)
{
    struct timespec ts;
    uint64_t ns;

    clock_gettime(CLOCK_REALTIME, &ts);
    ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (ns <= ev->last_ns)
        ns = ev->last_ns + 1;
    return ev->last_ns = ns;
}

static void events_enqueue(watch_events_t *ev, watch_event_item_t *it)
{
    if (ev->count == WATCH_EVENTS_QUEUE_MAX) {
        free(events_pop(ev));
        ev->dropped_full++;
        log_msg(ev->full_logged ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, 0,
                "event queue full (%d): dropped the oldest event (%llu so far)",
                WATCH_EVENTS_QUEUE_MAX, (unsigned long long)ev->dropped_full);
        ev->full_logged = true;
    }
    events_push(ev, it);
    ev->queued++;
}

static void events_queuev(watch_events_t *ev, const char *kind, const char *api_version,
                          const cJSON *involved, bool warning, const char *reason, const char *fmt,
                          va_list ap)
{
    watch_event_item_t *it;

    if (!ev)
        return;
    it = calloc(1, sizeof *it);
    if (!it) {
        log_debug("event %s dropped: out of memory", reason ? reason : "");
        return;
    }
    if (!involved || !events_fill(it, kind, api_version, involved, reason)) {
        log_debug("event %s about %s/%s dropped: the object lacks kind, apiVersion or name, or a "
                  "field is too long",
                  reason ? reason : "", it->ns, it->name);
        free(it);
        return;
    }
    it->warning = warning;
    events_message(it, fmt, ap);
    it->real_ns = events_now_ns(ev);
    events_name(it);
    log_debug("event %s %s %s %s/%s: %s", warning ? "Warning" : "Normal", it->reason, it->kind,
              it->ns, it->name, it->message);
    events_enqueue(ev, it);
}

void watch_event(watch_events_t *ev, const cJSON *involved, bool warning, const char *reason,
                 const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    events_queuev(ev, NULL, NULL, involved, warning, reason, fmt, ap);
    va_end(ap);
}

void watch_event_kind(watch_events_t *ev, const char *kind, const char *api_version,
                      const cJSON *involved, bool warning, const char *reason, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    events_queuev(ev, kind, api_version, involved, warning, reason, fmt, ap);
    va_end(ap);
}

/* ---- writing ---- */

static void events_time(char *buf, size_t cap, uint64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *events_ns(const watch_event_item_t *it)
{
    return it->ns[0] ? it->ns : "default"; /* a cluster-scoped object's Events */
}

/* The Event as client-go's makeEvent builds it, with the correlator's name, count, message. */
static cJSON *events_object(const watch_event_item_t *it)
{
    const watch_evcorr_result_t *r = &it->res;
    char first[32], last[32];
    cJSON *o = cJSON_CreateObject(), *md, *io, *src;

    events_time(first, sizeof first, r->first_ms);
    events_time(last, sizeof last, it->real_ns / 1000000u);
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddStringToObject(o, "kind", "Event");
    md = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(md, "name", r->event_name);
    cJSON_AddStringToObject(md, "namespace", events_ns(it));
    io = cJSON_AddObjectToObject(o, "involvedObject");
    cJSON_AddStringToObject(io, "kind", it->kind);
    if (it->ns[0])
        cJSON_AddStringToObject(io, "namespace", it->ns);
    cJSON_AddStringToObject(io, "name", it->name);
    if (it->uid[0])
        cJSON_AddStringToObject(io, "uid", it->uid);
    cJSON_AddStringToObject(io, "apiVersion", it->api_version);
    if (it->rv[0])
        cJSON_AddStringToObject(io, "resourceVersion", it->rv);
    cJSON_AddStringToObject(o, "reason", it->reason);
    cJSON_AddStringToObject(o, "message", r->message);
    src = cJSON_AddObjectToObject(o, "source");
    cJSON_AddStringToObject(src, "component", WATCH_EVENTS_COMPONENT);
    cJSON_AddStringToObject(o, "firstTimestamp", first);
    cJSON_AddStringToObject(o, "lastTimestamp", last);
    cJSON_AddNumberToObject(o, "count", r->count);
    cJSON_AddStringToObject(o, "type", it->warning ? "Warning" : "Normal");
    cJSON_AddStringToObject(o, "reportingComponent", WATCH_EVENTS_COMPONENT);
    cJSON_AddStringToObject(o, "reportingInstance", "");
    /* cJSON's adders return NULL on allocation failure and leave the tree short */
    if (!cJSON_GetObjectItemCaseSensitive(o, "reportingInstance")) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *events_patch(const watch_event_item_t *it)
{
    char last[32];
    cJSON *p = cJSON_CreateObject();

    events_time(last, sizeof last, it->real_ns / 1000000u);
    cJSON_AddNumberToObject(p, "count", it->res.count);
    cJSON_AddStringToObject(p, "lastTimestamp", last);
    cJSON_AddStringToObject(p, "message", it->res.message);
    if (!cJSON_GetObjectItemCaseSensitive(p, "message")) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

/* PATCH of the Event it repeats, then (none: it expired) or else POST. */
static int events_write(watch_events_t *ev, struct watch_ctx *w, watch_event_item_t *it,
                        k8s_error_t *err)
{
    cJSON *body;
    int r = -ENOENT;

    if (it->res.action == WATCH_EVCORR_UPDATE) {
        k8s_ref_t ref = {K8S_GVR_EVENTS, events_ns(it), it->res.event_name, NULL};
        body = events_patch(it);
        if (!body)
            return -ENOMEM;
        r = watch_api_patch(w, &ref, body, NULL, err);
        cJSON_Delete(body);
        if (r == 0)
            ev->patched++;
    }
    if (r == -ENOENT) {
        k8s_ref_t ref = {K8S_GVR_EVENTS, events_ns(it), NULL, NULL};
        body = events_object(it);
        if (!body)
            return -ENOMEM;
        memset(err, 0, sizeof *err);
        r = watch_api_create(w, &ref, body, NULL, err);
        cJSON_Delete(body);
        if (r == 0)
            ev->created++;
    }
    return r;
}

/* Logs a failure at info the first time its kind (errno) is seen, at debug afterwards. An
 * AlreadyExists (a name reused) and a terminating namespace stay at debug, as in client-go. */
static void events_log_failure(watch_events_t *ev, const watch_event_item_t *it, int r,
                               const k8s_error_t *err, bool retry)
{
    char msg[sizeof err->message];
    bool seen = r == -EEXIST || strstr(err->message, "being terminated") != NULL;

    for (unsigned i = 0; i < ev->nlogged && !seen; i++)
        seen = ev->logged[i] == r;
    if (!seen && ev->nlogged < WATCH_EVENTS_LOGGED)
        ev->logged[ev->nlogged++] = r;
    redact_text(err->message, msg, sizeof msg);
    log_msg(seen ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, r,
            "could not write event %s about %s %s/%s (%s)%s%s", it->reason, it->kind, it->ns,
            it->name, retry ? "will retry" : "dropped", msg[0] ? ": " : "", msg);
}

/* Correlates it (once); false when it is not to be written. */
static bool events_decide(watch_events_t *ev, watch_event_item_t *it)
{
    watch_evcorr_event_t e = {.kind = it->kind,
                              .api_version = it->api_version,
                              .ns = it->ns,
                              .name = it->name,
                              .uid = it->uid,
                              .warning = it->warning,
                              .reason = it->reason,
                              .message = it->message,
                              .event_name = it->event_name};
    int r;

    if (it->decided)
        return true;
    r = watch_evcorr_observe(ev->corr, &e, it->real_ns / 1000000u, &it->res);
    if (r < 0) {
        log_debug("event %s about %s/%s dropped: %s", it->reason, it->ns, it->name, strerror(-r));
        return false;
    }
    if (it->res.action == WATCH_EVCORR_DROP) {
        ev->dropped_spam++;
        log_debug("event %s about %s/%s dropped by the spam filter", it->reason, it->ns, it->name);
        return false;
    }
    it->decided = true;
    return true;
}

/* Writes it; true when it is done with (written or given up), false to try again later. */
static bool events_send(watch_events_t *ev, struct watch_ctx *w, watch_event_item_t *it,
                        uint64_t now_ms)
{
    k8s_error_t err = {0};
    int r = events_write(ev, w, it, &err);
    bool retry;

    if (r == 0)
        return true;
    /* No HTTP status: the request did not get an answer; the server's refusals are final. */
    retry = err.status == 0 && r != -ENOMEM && ++it->tries < WATCH_EVENTS_TRIES;
    events_log_failure(ev, it, r, &err, retry);
    if (err.status == 0 && r != -ENOMEM)
        ev->pause_until_ms = now_ms + WATCH_EVENTS_RETRY_MS;
    if (!retry) {
        ev->failed++;
        return true;
    }
    it->due_ms = now_ms + WATCH_EVENTS_RETRY_MS;
    return false;
}

int watch_events_flush(watch_events_t *ev, struct watch_ctx *w, uint32_t budget_ms)
{
    uint64_t start, now;
    size_t n;
    int ready = 0;

    if (!ev)
        return 0;
    if (!w->client) {
        events_clear(ev);
        return 0;
    }
    start = now = shm_now_mono_ms();
    n = ev->count;
    /* One pass over what is queued now; what waits goes back behind, in its order. */
    for (size_t i = 0; i < n; i++) {
        watch_event_item_t *it = events_pop(ev);
        bool due;

        if (!events_decide(ev, it)) {
            free(it);
            continue;
        }
        due = it->due_ms <= now && ev->pause_until_ms <= now;
        if (!due || now - start >= budget_ms) {
            ready += due;
            events_push(ev, it);
            continue;
        }
        if (events_send(ev, w, it, now))
            free(it);
        else
            events_push(ev, it);
        now = shm_now_mono_ms();
    }
    return ready;
}
