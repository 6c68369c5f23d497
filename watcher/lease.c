/*
 * lease: leader election on KEDA's Lease; rules, and what the caller must do, in lease.h.
 * Runs in the watcher process, on its one thread.
 *
 * Invariants:
 * - l->leader is true only while the last successful create/update naming us started less than
 *   the renew deadline ago (checked at the start and the end of every tick), and we have not
 *   since read a record naming someone else.
 * - Every write is a PUT of the version last read or written (its resourceVersion), or a POST
 *   when the Lease does not exist; a concurrent writer makes ours fail, never both succeed.
 * - Nothing from the API server reaches a log line unredacted or with control characters.
 */
#include "watcher/lease.h"

#include "common/k8s.h"
#include "common/log.h"
#include "common/redact.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the pure part ---- */

static bool lease_record_equal(const watch_lease_record_t *a, const watch_lease_record_t *b)
{
    return a->duration_s == b->duration_s && a->transitions == b->transitions &&
           strcmp(a->holder, b->holder) == 0 && strcmp(a->acquire_time, b->acquire_time) == 0 &&
           strcmp(a->renew_time, b->renew_time) == 0;
}

bool watch_lease_observe(watch_lease_observed_t *obs, const watch_lease_record_t *rec,
                         uint64_t now_mono_ms)
{
    if (obs->have && lease_record_equal(&obs->rec, rec))
        return false;
    obs->have = true;
    obs->rec = *rec;
    obs->since_mono_ms = now_mono_ms;
    return true;
}

/* metav1.MicroTime as the API server writes it: RFC 3339, microseconds, UTC. */
static void lease_format_time(uint64_t real_us, char buf[WATCH_LEASE_TIME_MAX])
{
    time_t sec = (time_t)(real_us / 1000000);
    struct tm tm;
    char date[32];

    gmtime_r(&sec, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, WATCH_LEASE_TIME_MAX, "%s.%06uZ", date, (unsigned)(real_us % 1000000));
}

static int32_t lease_duration_s(const watch_lease_timing_t *t)
{
    /* rounded up: others never wait less than we assume */
    return (int32_t)((t->lease_duration_ms + 999u) / 1000u);
}

void watch_lease_decide(const watch_lease_record_t *read, uint64_t observed_mono_ms,
                        const char *identity, const watch_lease_timing_t *t, uint64_t now_mono_ms,
                        uint64_t now_real_us, watch_lease_decision_t *ret)
{
    watch_lease_record_t *w = &ret->record;

    memset(ret, 0, sizeof *ret);
    snprintf(w->holder, sizeof w->holder, "%s", identity);
    w->duration_s = lease_duration_s(t);
    lease_format_time(now_real_us, w->renew_time);
    memcpy(w->acquire_time, w->renew_time, sizeof w->acquire_time);

    if (!read) {
        ret->verdict = WATCH_LEASE_CREATE;
        return;
    }
    if (strcmp(read->holder, identity) == 0) {
        /* ours (this process, or our predecessor under the same supervisor): renew at once */
        ret->verdict = WATCH_LEASE_RENEW;
        if (read->acquire_time[0])
            memcpy(w->acquire_time, read->acquire_time, sizeof w->acquire_time);
        w->transitions = read->transitions;
        return;
    }
    int64_t expires = (int64_t)observed_mono_ms + (int64_t)read->duration_s * 1000;
    if (read->holder[0] && expires > (int64_t)now_mono_ms) {
        ret->verdict = WATCH_LEASE_FOLLOW;
        ret->expires_mono_ms = (uint64_t)expires;
        memset(w, 0, sizeof *w);
        return;
    }
    ret->verdict = WATCH_LEASE_TAKE;
    w->transitions = read->transitions < INT32_MAX ? read->transitions + 1 : INT32_MAX;
}

void watch_lease_release_record(const watch_lease_record_t *held, uint64_t now_real_us,
                                watch_lease_record_t *ret)
{
    memset(ret, 0, sizeof *ret);
    ret->duration_s = 1;
    ret->transitions = held->transitions;
    lease_format_time(now_real_us, ret->renew_time);
    memcpy(ret->acquire_time, ret->renew_time, sizeof ret->acquire_time);
}

bool watch_lease_deadline_passed(uint64_t last_renew_mono_ms, uint64_t now_mono_ms,
                                 const watch_lease_timing_t *t)
{
    return now_mono_ms >= last_renew_mono_ms + t->renew_deadline_ms;
}

/* A string field: absent or null is "". Too long for buf: truncated if truncate, else "". */
static int lease_parse_str(const cJSON *spec, const char *key, char *buf, size_t cap, bool truncate)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);

    buf[0] = '\0';
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return -EBADMSG;
    if (strlen(v->valuestring) < cap || truncate)
        snprintf(buf, cap, "%s", v->valuestring);
    return 0;
}

static int lease_parse_i32(const cJSON *spec, const char *key, int32_t *ret)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);

    *ret = 0;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < INT32_MIN || v->valuedouble > INT32_MAX)
        return -EBADMSG;
    *ret = (int32_t)v->valuedouble;
    return 0;
}

int watch_lease_parse(const cJSON *lease, watch_lease_record_t *ret, char *ret_rv, size_t rv_cap)
{
    watch_lease_record_t rec;
    const cJSON *spec, *rv;

    memset(&rec, 0, sizeof rec);
    if (!cJSON_IsObject(lease))
        return -EBADMSG;
    spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
    if (spec && !cJSON_IsNull(spec)) {
        if (!cJSON_IsObject(spec) ||
            lease_parse_str(spec, "holderIdentity", rec.holder, sizeof rec.holder, true) < 0 ||
            lease_parse_str(spec, "acquireTime", rec.acquire_time, sizeof rec.acquire_time, false) <
                0 ||
            lease_parse_str(spec, "renewTime", rec.renew_time, sizeof rec.renew_time, false) < 0 ||
            lease_parse_i32(spec, "leaseDurationSeconds", &rec.duration_s) < 0 ||
            lease_parse_i32(spec, "leaseTransitions", &rec.transitions) < 0)
            return -EBADMSG;
    }
    if (ret_rv) {
        rv = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(lease, "metadata"),
                                              "resourceVersion");
        if (!cJSON_IsString(rv) || strlen(rv->valuestring) >= rv_cap)
            return -EBADMSG;
        snprintf(ret_rv, rv_cap, "%s", rv->valuestring);
    }
    *ret = rec;
    return 0;
}

static cJSON *lease_spec(const watch_lease_record_t *rec)
{
    cJSON *spec = cJSON_CreateObject();

    if (!spec || !cJSON_AddStringToObject(spec, "holderIdentity", rec->holder) ||
        !cJSON_AddNumberToObject(spec, "leaseDurationSeconds", rec->duration_s) ||
        (rec->acquire_time[0] &&
         !cJSON_AddStringToObject(spec, "acquireTime", rec->acquire_time)) ||
        (rec->renew_time[0] && !cJSON_AddStringToObject(spec, "renewTime", rec->renew_time)) ||
        !cJSON_AddNumberToObject(spec, "leaseTransitions", rec->transitions)) {
        cJSON_Delete(spec);
        return NULL;
    }
    return spec;
}

cJSON *watch_lease_object(const cJSON *base, const char *ns, const char *name,
                          const watch_lease_record_t *rec)
{
    cJSON *obj, *meta, *spec = lease_spec(rec);

    if (!spec)
        return NULL;
    if (base) {
        obj = cJSON_Duplicate(base, true);
        meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "spec");
    } else {
        obj = cJSON_CreateObject();
        if (obj && (!cJSON_AddStringToObject(obj, "apiVersion", "coordination.k8s.io/v1") ||
                    !cJSON_AddStringToObject(obj, "kind", "Lease") ||
                    !(meta = cJSON_AddObjectToObject(obj, "metadata")) ||
                    !cJSON_AddStringToObject(meta, "name", name) ||
                    !cJSON_AddStringToObject(meta, "namespace", ns))) {
            cJSON_Delete(obj);
            obj = NULL;
        }
    }
    if (!obj || !cJSON_AddItemToObject(obj, "spec", spec)) {
        cJSON_Delete(spec);
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

int watch_lease_identity_format(const char *pod, const uint8_t nonce[16], char *buf, size_t cap)
{
    char hex[33];

    if (!pod || !*pod)
        return -EINVAL;
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", nonce[i]);
    int n = snprintf(buf, cap, "%s_%s", pod, hex);
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    return 0;
}

int watch_lease_identity(const shm_table_t *t, char *buf, size_t cap)
{
    shm_header_info_t h;
    char host[256];
    const char *pod = getenv("POD_NAME");

    if (!pod || !*pod) {
        if (gethostname(host, sizeof host) < 0)
            return -errno;
        host[sizeof host - 1] = '\0';
        pod = host;
    }
    if (strlen(pod) > 253) /* a DNS subdomain; keeps the identity under WATCH_LEASE_HOLDER_MAX */
        return -EINVAL;
    shm_header_get(t, &h);
    return watch_lease_identity_format(pod, h.nonce, buf, cap);
}

/* ---- the I/O part ---- */

struct watch_lease {
    k8s_client_t *client;
    char *ns, *name, *identity;
    watch_lease_timing_t t;
    long timeout_ms;
    cJSON *lease; /* the Lease as last read or written (owned); NULL before the first */
    watch_lease_observed_t obs;
    bool leader;
    uint64_t last_renew_mono_ms; /* when the last successful write naming us started */
    /* log rate limits */
    char warned_holder[WATCH_LEASE_HOLDER_MAX];
    uint64_t warned_mono_ms;
    bool warned;
    uint64_t failed_logged_mono_ms;
    bool failing;
};

static uint64_t lease_clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t lease_real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The caller's monotonic time now: its value at the tick's start plus what has elapsed since. */
typedef struct lease_clock {
    uint64_t caller_ms, own_ms;
} lease_clock_t;

static uint64_t lease_now(const lease_clock_t *c)
{
    return c->caller_ms + (lease_clock_ms(CLOCK_MONOTONIC) - c->own_ms);
}

/* A holder named by the server, fit for a log line. */
static const char *lease_printable(const char *s, char *buf, size_t cap)
{
    size_t i;
    for (i = 0; s[i] && i + 1 < cap; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = '\0';
    return buf;
}

watch_lease_t *watch_lease_new(kubeconfig_t *kc, const char *ns, const char *name,
                               const char *identity, const watch_lease_timing_t *t)
{
    watch_lease_t *l;
    long timeout = t->retry_period_ms < 1000 ? 1000 : t->retry_period_ms;

    if (!kc || !ns || !*ns || !name || !*name || !identity || !*identity ||
        strlen(identity) >= WATCH_LEASE_HOLDER_MAX - 1 || t->retry_period_ms == 0 ||
        t->renew_deadline_ms <= t->retry_period_ms ||
        t->lease_duration_ms <= t->renew_deadline_ms) {
        log_error(-EINVAL, "leader election: bad Lease name, identity or timings");
        return NULL;
    }
    /* a request must end well before the renew deadline it is racing */
    if (timeout > (long)t->renew_deadline_ms / 2)
        timeout = (long)t->renew_deadline_ms / 2;
    k8s_client_opts_t opts = {
        .qps = -1, /* renewals never queue behind the watcher's other requests */
        .timeout_ms = timeout > 0 ? timeout : 1,
        .max_retries = -1,
        .max_response = 1u << 20,
    };
    if (!(l = calloc(1, sizeof *l)))
        return NULL;
    l->t = *t;
    l->timeout_ms = opts.timeout_ms;
    if (!(l->ns = strdup(ns)) || !(l->name = strdup(name)) || !(l->identity = strdup(identity)) ||
        !(l->client = k8s_client_new(kc, &opts))) {
        log_error(-ENOMEM, "leader election: could not start a Kubernetes client");
        return watch_lease_free(l);
    }
    return l;
}

watch_lease_t *watch_lease_free(watch_lease_t *l)
{
    if (!l)
        return NULL;
    k8s_client_free(l->client);
    cJSON_Delete(l->lease);
    free(l->ns);
    free(l->name);
    free(l->identity);
    free(l);
    return NULL;
}

const char *watch_lease_holder(const watch_lease_t *l)
{
    return l->obs.have ? l->obs.rec.holder : "";
}

bool watch_lease_is_leader(const watch_lease_t *l, uint64_t now_mono_ms)
{
    return l->leader && !watch_lease_deadline_passed(l->last_renew_mono_ms, now_mono_ms, &l->t);
}

/* One request of the lease's own; flagged so that neither the token bucket nor a Retry-After
 * delays it. */
/* timeout_ms 0: the client's (about the retry period). */
static int lease_request_within(watch_lease_t *l, k8s_method_t method, const cJSON *obj,
                                cJSON **ret, k8s_error_t *err, long timeout_ms)
{
    k8s_ref_t ref = {K8S_GVR_LEASES, l->ns, method == K8S_POST ? NULL : l->name, NULL};
    char *body = obj ? cJSON_PrintUnformatted(obj) : NULL;
    k8s_request_t req = {
        .method = method,
        .ref = &ref,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .flags = K8S_REQ_NO_RATE_LIMIT | K8S_REQ_NO_RETRY,
        .timeout_ms = timeout_ms,
    };
    int r;

    if (obj && !body)
        return -ENOMEM;
    r = k8s_request(l->client, &req, ret, err);
    free(body);
    return r;
}

static int lease_request(watch_lease_t *l, k8s_method_t method, const cJSON *obj, cJSON **ret,
                         k8s_error_t *err)
{
    return lease_request_within(l, method, obj, ret, err, 0);
}

/* A failed request: logged when a streak of failures starts and then once a minute. */
static void lease_failed(watch_lease_t *l, uint64_t now, const char *what, int r,
                         const k8s_error_t *err)
{
    char msg[sizeof err->message];

    if (l->failing && now - l->failed_logged_mono_ms < WATCH_LEASE_WARN_EVERY_MS) {
        log_debug("lease %s/%s: could not %s (%d)", l->ns, l->name, what, r);
        return;
    }
    redact_text(err->message, msg, sizeof msg);
    log_warning(r, "lease %s/%s: could not %s%s%s", l->ns, l->name, what, msg[0] ? ": " : "", msg);
    l->failing = true;
    l->failed_logged_mono_ms = now;
}

static void lease_lose(watch_lease_t *l, const char *why)
{
    if (!l->leader)
        return;
    l->leader = false;
    log_info("lease %s/%s lost: %s; writes to Kubernetes stop", l->ns, l->name, why);
}

static void lease_foreign(watch_lease_t *l, uint64_t now)
{
    const char *holder = l->obs.rec.holder;
    char shown[WATCH_LEASE_HOLDER_MAX];

    if (l->warned && strcmp(l->warned_holder, holder) == 0 &&
        now - l->warned_mono_ms < WATCH_LEASE_WARN_EVERY_MS)
        return;
    log_warning(0,
                "lease %s/%s is held by %s; ckeda writes nothing to Kubernetes until it is "
                "released",
                l->ns, l->name, lease_printable(holder, shown, sizeof shown));
    snprintf(l->warned_holder, sizeof l->warned_holder, "%s", holder);
    l->warned_mono_ms = now;
    l->warned = true;
}

/* Creates or updates the Lease with rec; on success we lead. */
static int lease_write(watch_lease_t *l, const lease_clock_t *clk, bool create,
                       const watch_lease_record_t *rec)
{
    uint64_t started = lease_now(clk);
    watch_lease_record_t written;
    k8s_error_t err = {0};
    cJSON *obj = watch_lease_object(create ? NULL : l->lease, l->ns, l->name, rec), *got = NULL;
    int r;

    if (!obj)
        return -ENOMEM;
    r = lease_request(l, create ? K8S_POST : K8S_PUT, obj, &got, &err);
    cJSON_Delete(obj);
    if (r == -EEXIST || r == -ESTALE) { /* another candidate wrote first: read again next tick */
        log_debug("lease %s/%s: %s lost a race", l->ns, l->name, create ? "create" : "update");
        return r;
    }
    if (r < 0) {
        lease_failed(l, started, create ? "create it" : "update it", r, &err);
        return r;
    }
    if (watch_lease_parse(got, &written, NULL, 0) < 0)
        written = *rec;
    cJSON_Delete(l->lease);
    l->lease = got;
    watch_lease_observe(&l->obs, &written, lease_now(clk));
    l->last_renew_mono_ms = started;
    l->failing = false;
    l->warned = false;
    if (!l->leader)
        log_info("lease %s/%s acquired by %s (acquireTime %s, transitions %d)", l->ns, l->name,
                 l->identity, written.acquire_time, (int)written.transitions);
    l->leader = true;
    return 0;
}

/* client-go's fast path: a leader whose record is still valid updates the version it wrote,
 * without reading first. Returns 1 when the slow path must follow. */
static int lease_renew_fast(watch_lease_t *l, const lease_clock_t *clk)
{
    watch_lease_decision_t d;
    uint64_t now = lease_now(clk);
    int r;

    if (!l->leader || !l->lease ||
        now >= l->obs.since_mono_ms + (uint64_t)l->obs.rec.duration_s * 1000)
        return 1;
    watch_lease_decide(&l->obs.rec, l->obs.since_mono_ms, l->identity, &l->t, now, lease_real_us(),
                       &d);
    if (d.verdict != WATCH_LEASE_RENEW)
        return 1;
    r = lease_write(l, clk, false, &d.record);
    if (r == 0)
        return 0;
    /* a server's answer (a Conflict above all) is settled by reading; no answer is not */
    return r == -ESTALE || r == -ENOENT || r == -EINVAL ? 1 : 0;
}

/* client-go's slow path: read, decide, write. */
static void lease_acquire_or_renew(watch_lease_t *l, const lease_clock_t *clk)
{
    watch_lease_decision_t d;
    watch_lease_record_t rec;
    k8s_error_t err = {0};
    cJSON *got = NULL;
    int r = lease_request(l, K8S_GET, NULL, &got, &err);
    uint64_t now = lease_now(clk);

    if (r == -ENOENT) {
        watch_lease_decide(NULL, 0, l->identity, &l->t, now, lease_real_us(), &d);
        lease_write(l, clk, true, &d.record);
        return;
    }
    if (r < 0) {
        lease_failed(l, now, "read it", r, &err);
        return;
    }
    if (watch_lease_parse(got, &rec, NULL, 0) < 0) {
        cJSON_Delete(got);
        snprintf(err.message, sizeof err.message, "malformed Lease spec");
        lease_failed(l, now, "read it", -EBADMSG, &err);
        return;
    }
    cJSON_Delete(l->lease);
    l->lease = got;
    watch_lease_observe(&l->obs, &rec, now);
    watch_lease_decide(&rec, l->obs.since_mono_ms, l->identity, &l->t, now, lease_real_us(), &d);
    if (d.verdict == WATCH_LEASE_FOLLOW) {
        char shown[WATCH_LEASE_HOLDER_MAX], why[WATCH_LEASE_HOLDER_MAX + 32];
        snprintf(why, sizeof why, "now held by %s",
                 lease_printable(rec.holder, shown, sizeof shown));
        lease_lose(l, why);
        l->failing = false;
        lease_foreign(l, now);
        return;
    }
    lease_write(l, clk, false, &d.record);
}

int watch_lease_tick(watch_lease_t *l, uint64_t now_mono_ms, bool *ret_leader)
{
    lease_clock_t clk = {now_mono_ms, lease_clock_ms(CLOCK_MONOTONIC)};
    uint64_t now, delay = l->t.retry_period_ms;

    if (l->leader && watch_lease_deadline_passed(l->last_renew_mono_ms, now_mono_ms, &l->t))
        lease_lose(l, "no renewal succeeded within the renew deadline");
    if (lease_renew_fast(l, &clk) != 0)
        lease_acquire_or_renew(l, &clk);
    now = lease_now(&clk);
    if (l->leader && watch_lease_deadline_passed(l->last_renew_mono_ms, now, &l->t))
        lease_lose(l, "no renewal succeeded within the renew deadline");
    if (l->leader && l->last_renew_mono_ms + l->t.renew_deadline_ms - now < delay)
        delay = l->last_renew_mono_ms + l->t.renew_deadline_ms - now;
    *ret_leader = l->leader;
    return (int)delay;
}

/* Releasing is worth waiting for (the others need not wait a lease duration), within the
 * supervisor's grace period: at most two reads and two writes. */
#define LEASE_RELEASE_TIMEOUT_MS 2500L

int watch_lease_release(watch_lease_t *l)
{
    watch_lease_record_t rec, rel;
    k8s_error_t err = {0};
    int r = 0;

    l->leader = false;
    for (int attempt = 0; attempt < 2; attempt++) {
        cJSON *got = NULL, *obj;

        r = lease_request_within(l, K8S_GET, NULL, &got, &err, LEASE_RELEASE_TIMEOUT_MS);
        if (r == -ENOENT)
            return 0;
        if (r == 0 && watch_lease_parse(got, &rec, NULL, 0) < 0)
            r = -EBADMSG;
        if (r == 0 && strcmp(rec.holder, l->identity) != 0) {
            cJSON_Delete(got); /* not ours (any more): nothing to give up */
            return 0;
        }
        if (r == 0) {
            watch_lease_release_record(&rec, lease_real_us(), &rel);
            obj = watch_lease_object(got, l->ns, l->name, &rel);
            r = obj ? lease_request_within(l, K8S_PUT, obj, NULL, &err, LEASE_RELEASE_TIMEOUT_MS)
                    : -ENOMEM;
            cJSON_Delete(obj);
        }
        cJSON_Delete(got);
        if (r == 0) {
            watch_lease_observe(&l->obs, &rel, lease_clock_ms(CLOCK_MONOTONIC));
            log_info("lease %s/%s released by %s", l->ns, l->name, l->identity);
            return 0;
        }
        if (r != -ESTALE) /* a renewal raced the release: read again (client-go retries too) */
            break;
    }
    char msg[sizeof err.message];
    redact_text(err.message, msg, sizeof msg);
    return log_error(r, "lease %s/%s: could not release it%s%s", l->ns, l->name, msg[0] ? ": " : "",
                     msg);
}
