/*
 * values: the answer to GET .../namespaces/{ns}/{metric}?labelSelector=... (adapter process),
 * read from the table without any I/O.
 *
 * As KEDA's provider and scale handler do (keda.md 2.2, 2.3): the selector must name the
 * ScaledObject (scaledobject.keda.sh/name), the metric name matches a trigger's metric name
 * case-insensitively (the HPA sends it lower-cased), each matching trigger gives one item
 * named as requested. Trigger states come only from shm_trigger_state(); an ERROR state is
 * answered as an error Status, never with an old number.
 *
 * adp_values_compute() and values_composite() are the only places that turn trigger states
 * into served values: fallback (KEDA's pkg/fallback: keda.md 1.11) and the scalingModifiers
 * composite metric (pkg/scaling/modifiers: keda.md 1.12), both decided by common/fallback.h,
 * which the watcher's scale loop uses too.
 */
#include "adapter/adp_internal.h"

#include "common/fallback.h"
#include "common/qty.h"
#include "shm/shm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* One trigger of the ScaledObject whose metric name matched, as read from the table. */
typedef shm_trig_view_t adp_trig_view_t;

static void values_fail(adp_answer_t *ret, int code, const char *message)
{
    ret->code = code;
    ret->message = message ? message : "out of memory";
}

/* The ScaledObject name the selector pins, or NULL with ret failed. */
static const char *values_so_name(adp_arena_t *a, const char *selector, adp_answer_t *ret)
{
    adp_selector_t sel; /* 3 KiB, on the stack: the answer's arena then fits its first chunk */
    char err[256];
    adp_slice_t v;

    if (selector && adp_selector_parse(selector, strlen(selector), &sel, err, sizeof err) < 0) {
        values_fail(ret, 400, adp_arena_printf(a, "labelSelector: %s", err));
        return NULL;
    }
    if (!selector || adp_selector_equals(&sel, ADP_SO_LABEL, &v) < 0 || v.n == 0) {
        values_fail(ret, 400, "scaledObject name is not specified"); /* KEDA's words */
        return NULL;
    }
    return adp_arena_strndup(a, v.p, v.n);
}

/* Reads the ScaledObject's triggers whose metric name is metric (all of them when metric is
 * NULL). Returns how many. */
static size_t values_collect(struct shm_table *t, uint32_t so_slot, const shm_so_spec_t *so,
                             const char *metric, uint64_t now, adp_trig_view_t *out)
{
    size_t n = 0;

    for (uint32_t i = 0; i < so->trigger_count && i < SHM_TRIGGERS_PER_SO_MAX; i++) {
        adp_trig_view_t *v = &out[n];
        if (shm_trig_view_load(t, so->triggers[i], now, v) < 0 || v->cfg.so_slot != so_slot ||
            v->cfg.so_generation != so->generation)
            continue; /* the watcher is rewriting this object: not one of its triggers now */
        if (metric && ((v->cfg.flags & SHM_F_RESOURCE) || /* not an External metric */
                       strcasecmp(shm_spec_metric_name(&v->cfg, &v->res), metric) != 0))
            continue;
        n++;
    }
    return n;
}

/* The RFC 3339 form of real_ms (0: now), valid until the next call. Most answers in a second
 * carry timestamps of the same second, so the last one formatted is kept. */
static const char *values_timestamp(uint64_t real_ms)
{
    static _Thread_local time_t last = (time_t)-1;
    static _Thread_local char text[32];
    time_t s = (time_t)((real_ms ? real_ms : shm_now_real_ms()) / 1000);
    struct tm tm;

    if (s != last) {
        gmtime_r(&s, &tm);
        strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
        last = s;
    }
    return text;
}

static void values_error(adp_arena_t *a, const char *metric, const adp_trig_view_t *v,
                         adp_answer_t *ret)
{
    /* ckeda itself not ready (no result yet, owner restarting): retry later. */
    bool unavailable = v->cause == SHM_CAUSE_NO_RESULT || v->cause == SHM_CAUSE_STALE;
    const char *detail =
        v->cause == SHM_CAUSE_SOURCE || v->cause == SHM_CAUSE_CONFIG ? v->res.error : v->ctl.reason;

    values_fail(ret, unavailable ? 503 : 500,
                adp_arena_printf(a, "metric:%s encountered error: %s%s%s", metric,
                                 shm_cause_name(v->cause), detail[0] ? ": " : "", detail));
}

/* KEDA's fallback (pkg/fallback/fallback.go: GetMetricsWithFallback, doFallback), shared with
 * the watcher's scale loop (common/fallback.h) so the two agree on which trigger falls back. */
int adp_fallback_milli(const shm_so_spec_t *so, const shm_so_observed_t *obs,
                       const adp_trig_view_t *v, int64_t *ret_milli)
{
    return fallback_milli(so, obs, v, ret_milli);
}

static void values_item(adp_sbuf_t *b, bool first, const char *metric, const char *ts,
                        const char *qty)
{
    adp_sbuf_puts(b, first ? "{\"metricName\":" : ",{\"metricName\":");
    adp_json_string(b, metric);
    adp_sbuf_puts(b, ",\"metricLabels\":null,\"timestamp\":\"");
    adp_sbuf_puts(b, ts);
    adp_sbuf_puts(b, "\",\"value\":\"");
    adp_sbuf_puts(b, qty);
    adp_sbuf_puts(b, "\"}");
}

/* Turns the matched triggers' states into the served items, or an error. obs is the object's
 * observed replica counts, NULL when unknown. As KEDA's GetScaledObjectMetrics: a failing
 * trigger is an error unless some matched trigger falls back; then the failing ones give no
 * item and the falling-back ones their fallback value, timestamped now. */
static void adp_values_compute(adp_arena_t *a, const shm_so_spec_t *so,
                               const shm_so_observed_t *obs, const char *metric,
                               const adp_trig_view_t *v, size_t n, adp_answer_t *ret)
{
    char qty[QTY_VALUE_MAX];
    int64_t fb_milli[SHM_TRIGGERS_PER_SO_MAX];
    bool fb[SHM_TRIGGERS_PER_SO_MAX], any_fb = false, first = true;
    const char *ts;
    size_t failed = n;

    if (n == 0) {
        values_fail(ret, 404, adp_arena_printf(a, "no matching metrics found for %s", metric));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        fb[i] =
            v[i].state == SHM_STATE_ERROR && adp_fallback_milli(so, obs, &v[i], &fb_milli[i]) == 0;
        any_fb |= fb[i];
        if (v[i].state == SHM_STATE_ERROR && !fb[i] && failed == n)
            failed = i;
    }
    if (failed < n && !any_fb) {
        values_error(a, metric, &v[failed], ret);
        return;
    }
    adp_sbuf_init(&ret->body, a);
    adp_sbuf_puts(&ret->body, "{\"kind\":\"ExternalMetricValueList\",\"apiVersion\":"
                              "\"" ADP_GROUP_VERSION "\",\"metadata\":{},\"items\":[");
    for (size_t i = 0; i < n; i++) {
        if (fb[i]) {
            qty_format_milli(fb_milli[i], qty, sizeof qty);
            ts = values_timestamp(0);
        } else if (v[i].state != SHM_STATE_ERROR) {
            qty_format_value(v[i].res.value, qty, sizeof qty);
            ts = values_timestamp(v[i].res.measured_real_ms);
        } else {
            continue;
        }
        values_item(&ret->body, first, metric, ts, qty);
        first = false;
    }
    adp_sbuf_puts(&ret->body, "]}");
    ret->code = ret->body.failed ? 500 : 200;
    if (ret->body.failed)
        ret->message = "out of memory";
}

/* The composite metric of a ScaledObject with scalingModifiers, over all its triggers. As
 * KEDA's getTrueMetricArray, any metric name asked for on such an object is answered with it,
 * one item named composite-metric (GetScaledObjectMetrics + HandleScalingModifiers):
 * - a trigger in error that does not fall back, and none falling back: that trigger's error;
 * - some trigger falls back (a behaviour other than scalingModifiers): its fallback value,
 *   computed with the modifiers' target and metric type;
 * - otherwise the formula over the triggers' values (nil for a trigger past failureThreshold
 *   under behaviour scalingModifiers); a nil result is fallback.replicas x target.
 * When the formula cannot give a number KEDA logs it and answers an empty list, and so does
 * this. The value is int64(out * 1000) milli-units with its sign, as KEDA's SetMilli. */
static void values_composite(adp_arena_t *a, const shm_so_spec_t *so, const shm_so_observed_t *obs,
                             const char *metric, const adp_trig_view_t *v, size_t n,
                             adp_answer_t *ret)
{
    char qty[QTY_MAX];
    fallback_composite_t c;
    errtext_t err = {{0}};
    expr_t *prog = NULL;
    int r;

    if (n == 0) {
        values_fail(ret, 404, adp_arena_printf(a, "no matching metrics found for %s", metric));
        return;
    }
    if ((r = fallback_formula_compile(so, v, n, &prog, &err)) < 0) {
        values_fail(ret, 500, r == -ENOMEM ? NULL : adp_arena_printf(a, "%s", err.text));
        return;
    }
    r = fallback_composite(so, obs, v, n, prog, &c, &err);
    expr_free(prog);
    if (r == -EIO) {
        values_error(a, metric, &v[c.failed], ret);
        return;
    }
    adp_sbuf_init(&ret->body, a);
    adp_sbuf_puts(&ret->body, "{\"kind\":\"ExternalMetricValueList\",\"apiVersion\":"
                              "\"" ADP_GROUP_VERSION "\",\"metadata\":{},\"items\":[");
    if (r == 0) {
        qty_format_milli(c.milli, qty, sizeof qty);
        values_item(&ret->body, true, FALLBACK_COMPOSITE_METRIC, values_timestamp(0), qty);
    }
    adp_sbuf_puts(&ret->body, "]}");
    ret->code = ret->body.failed ? 500 : 200;
    if (ret->body.failed)
        ret->message = "out of memory";
}

void adp_values_serve(struct shm_table *t, adp_arena_t *a, const char *ns, const char *metric,
                      const char *selector, uint64_t now_mono_ms, adp_answer_t *ret)
{
    const char *name;
    shm_so_spec_t *so = adp_arena_alloc(a, sizeof *so);
    shm_so_observed_t *obs = adp_arena_alloc(a, sizeof *obs);
    adp_trig_view_t *views;
    uint32_t slot;
    size_t n;

    memset(ret, 0, sizeof *ret);
    if (!so || !obs) {
        values_fail(ret, 500, NULL);
        return;
    }
    if (!(name = values_so_name(a, selector, ret)))
        return;
    if (strlen(ns) >= SHM_NS_MAX || strlen(name) >= SHM_NAME_MAX ||
        shm_so_find(t, ns, name, &slot, so) < 0) {
        ret->details =
            (adp_status_details_t){.name = name, .group = "keda.sh", .kind = "scaledobjects"};
        values_fail(ret, 404, adp_arena_printf(a, "scaledobjects.keda.sh \"%s\" not found", name));
        return;
    }
    /* room for the object's triggers only (a view is over 1 KiB) */
    views = adp_arena_alloc(a, sizeof *views * (so->trigger_count < SHM_TRIGGERS_PER_SO_MAX
                                                    ? so->trigger_count
                                                    : SHM_TRIGGERS_PER_SO_MAX));
    if (!views) {
        values_fail(ret, 500, NULL);
        return;
    }
    if (so->modifiers_formula[0]) /* every trigger feeds the composite metric */
        n = values_collect(t, slot, so, NULL, now_mono_ms, views);
    else if (strlen(metric) < SHM_METRIC_MAX)
        n = values_collect(t, slot, so, metric, now_mono_ms, views);
    else
        n = 0;
    for (size_t i = 0; i < n; i++) /* the HPA asked: workers poll on demand (DESIGN, Freshness) */
        shm_trig_demand_stamp(t, views[i].slot, now_mono_ms);
    if (shm_so_observed_read(t, slot, obs) < 0 || !(obs->flags & SHM_F_VALID) ||
        obs->generation != so->generation)
        obs = NULL; /* replica counts unknown (not yet observed, or of a former object) */
    if (so->modifiers_formula[0])
        values_composite(a, so, obs, metric, views, n, ret);
    else
        adp_values_compute(a, so, obs, metric, views, n, ret);
}
