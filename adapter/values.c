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
 * adp_values_compute() is the one place that turns trigger states into served values:
 * fallback and scalingModifiers belong there.
 */
#include "adapter/adp_internal.h"

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
    adp_selector_t *sel = adp_arena_alloc(a, sizeof *sel);
    char err[256];
    adp_slice_t v;

    if (!sel) {
        values_fail(ret, 500, NULL);
        return NULL;
    }
    if (selector && adp_selector_parse(selector, strlen(selector), sel, err, sizeof err) < 0) {
        values_fail(ret, 400, adp_arena_printf(a, "labelSelector: %s", err));
        return NULL;
    }
    if (!selector || adp_selector_equals(sel, ADP_SO_LABEL, &v) < 0 || v.n == 0) {
        values_fail(ret, 400, "scaledObject name is not specified"); /* KEDA's words */
        return NULL;
    }
    return adp_arena_strndup(a, v.p, v.n);
}

static const char *values_metric_name(const adp_trig_view_t *v)
{
    if (v->res.has_spec && v->res.spec_metric_name[0] && v->res.for_cfg_gen == v->cfg.cfg_gen)
        return v->res.spec_metric_name;
    return v->cfg.metric_name;
}

/* Reads the ScaledObject's triggers whose metric name is metric. Returns how many. */
static size_t values_collect(struct shm_table *t, uint32_t so_slot, const shm_so_spec_t *so,
                             const char *metric, uint64_t now, adp_trig_view_t *out)
{
    size_t n = 0;

    for (uint32_t i = 0; i < so->trigger_count && i < SHM_TRIGGERS_PER_SO_MAX; i++) {
        adp_trig_view_t *v = &out[n];
        if (shm_trig_view_load(t, so->triggers[i], now, v) < 0 || v->cfg.so_slot != so_slot ||
            v->cfg.so_generation != so->generation)
            continue; /* the watcher is rewriting this object: not one of its triggers now */
        if (strcasecmp(values_metric_name(v), metric) != 0)
            continue;
        n++;
    }
    return n;
}

static void values_timestamp(uint64_t real_ms, char *buf, size_t size)
{
    time_t s = (time_t)((real_ms ? real_ms : shm_now_real_ms()) / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
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

/* Turns the matched triggers' states into the served items, or an error. Fallback and
 * scalingModifiers slot in here. */
static void adp_values_compute(adp_arena_t *a, const shm_so_spec_t *so, const char *metric,
                               const adp_trig_view_t *v, size_t n, adp_answer_t *ret)
{
    char qty[QTY_VALUE_MAX], ts[32];

    if (so->modifiers_formula[0]) {
        values_fail(ret, 500, "scalingModifiers are not supported by this version of ckeda");
        return;
    }
    if (n == 0) {
        values_fail(ret, 404, adp_arena_printf(a, "no matching metrics found for %s", metric));
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].state == SHM_STATE_ERROR) {
            values_error(a, metric, &v[i], ret);
            return;
        }
    adp_sbuf_init(&ret->body, a);
    adp_sbuf_puts(&ret->body, "{\"kind\":\"ExternalMetricValueList\",\"apiVersion\":"
                              "\"" ADP_GROUP_VERSION "\",\"metadata\":{},\"items\":[");
    for (size_t i = 0; i < n; i++) {
        qty_format_value(v[i].res.value, qty, sizeof qty);
        values_timestamp(v[i].res.measured_real_ms, ts, sizeof ts);
        adp_sbuf_puts(&ret->body, i ? ",{\"metricName\":" : "{\"metricName\":");
        adp_json_string(&ret->body, metric);
        adp_sbuf_printf(&ret->body, ",\"metricLabels\":null,\"timestamp\":\"%s\",\"value\":\"%s\"}",
                        ts, qty);
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
    adp_trig_view_t *views = adp_arena_alloc(a, sizeof *views * SHM_TRIGGERS_PER_SO_MAX);
    uint32_t slot;
    size_t n;

    memset(ret, 0, sizeof *ret);
    if (!so || !views) {
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
    n = strlen(metric) < SHM_METRIC_MAX ? values_collect(t, slot, so, metric, now_mono_ms, views)
                                        : 0;
    for (size_t i = 0; i < n; i++) /* the HPA asked: workers poll on demand (DESIGN, Freshness) */
        shm_trig_demand_stamp(t, views[i].slot, now_mono_ms);
    adp_values_compute(a, so, metric, views, n, ret);
}
