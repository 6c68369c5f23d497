/*
 * slstatus: the scale loop's writes to a ScaledObject's status, as pure functions of the object
 * and one poll's decision (scaleloop.c carries them out): KEDA's Active, Ready, Fallback and
 * HPAActive conditions with their reasons and messages (and Ready False while a /scale write is
 * refused), lastActiveTime in RFC 3339, health and triggersActivity; and the RFC 3339 reader
 * the loop takes creationTimestamp and lastActiveTime from. Nothing is written when nothing
 * changed: a poll that finds the object as it wants it yields no patch, and an active object
 * rewrites lastActiveTime at most every WATCH_LAST_ACTIVE_PERSIST_S unless another change is
 * written anyway.
 */
#include "watcher/decide.h"
#include "watcher/watcher_internal.h"

#include "common/json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define WATCH_LAST_ACTIVE_PERSIST_S 30
#define MSG_READY                   "ScaledObject is defined correctly and is ready for scaling"

/* ---- time ---- */

uint64_t watch_time_parse(const cJSON *obj, const char *path)
{
    const char *s = cJSON_GetStringValue(jsonu_lookup(obj, path));
    struct tm tm;
    int n = 0;

    if (!s)
        return 0;
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    s += n;
    s += *s == '.' ? 1 + strspn(s + 1, "0123456789") : 0;
    if (*s == '+' || *s == '-') {
        int hh, mm;
        if (sscanf(s + 1, "%2d:%2d", &hh, &mm) != 2)
            return 0;
        t -= (*s == '+' ? 1 : -1) * (time_t)(hh * 3600 + mm * 60);
    } else if (*s != 'Z' && *s != 'z') {
        return 0;
    }
    return t < 0 ? 0 : (uint64_t)t * 1000;
}

void watch_time_format(uint64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *sl_active_message(const char *reason, bool forced)
{
    if (strcmp(reason, "ScalerActive") == 0)
        return forced ? "Scaling is performed because activation is being forced by annotation"
                      : "Scaling is performed because triggers are active";
    if (strcmp(reason, "ScalerCooldown") == 0)
        return "Scaler cooling down because triggers are not active";
    return "Scaling is not performed because triggers are not active";
}

/* The conditions the decision asks for (KEDA sets Ready True on every error-free poll). */
static cJSON *sl_conditions(const cJSON *cur, const watch_decide_out_t *out, bool error)
{
    cJSON *conds = cJSON_IsArray(cur) ? cJSON_Duplicate(cur, true) : cJSON_CreateArray();

    if (out->active == WATCH_COND_TRUE || out->active == WATCH_COND_FALSE)
        watch_cond_set(conds, "Active", out->active == WATCH_COND_TRUE ? "True" : "False",
                       out->active_reason, sl_active_message(out->active_reason, out->forced));
    if (out->ready == WATCH_COND_UNKNOWN)
        watch_cond_set(conds, "Ready", "Unknown", "PartialTriggerError",
                       "Some triggers defined in ScaledObject are not working correctly");
    else if (out->ready == WATCH_COND_FALSE)
        watch_cond_set(conds, "Ready", "False", "TriggerError",
                       "Triggers defined in ScaledObject are not working correctly");
    else if (!error)
        watch_cond_set(conds, "Ready", "True", "ScaledObjectReady", MSG_READY);
    return conds;
}

/* checkHPAHealth: HPAActive True while the HPA scales (or idles at 0 replicas, ScalingDisabled),
 * False with the HPA's reason and message otherwise. */
static void sl_hpa_active(cJSON *conds, const cJSON *cond)
{
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cond, "status"));
    const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cond, "reason"));
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cond, "message"));
    char buf[1100];

    if (!status)
        return;
    if (strcmp(status, "True") == 0) {
        watch_cond_set(conds, "HPAActive", "True", "HPAActive", "HPA is actively scaling");
    } else if (reason && strcmp(reason, "ScalingDisabled") == 0) {
        watch_cond_set(conds, "HPAActive", "True", "ScalingDisabled", msg ? msg : "");
    } else {
        snprintf(buf, sizeof buf, "HPA is not actively scaling: %s", msg ? msg : "");
        watch_cond_set(conds, "HPAActive", "False",
                       reason && *reason ? reason : "HPAMetricsUnavailable", buf);
    }
}

bool watch_scaleloop_fallback_exists(const cJSON *cur, const cJSON *poll, int32_t failure_threshold)
{
    const cJSON *maps[2] = {poll, cur}, *h;

    /* fallbackExceededThreshold over the merged map: this poll's entries win */
    for (int m = 0; m < 2; m++)
        cJSON_ArrayForEach(h, maps[m])
        {
            const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "status"));
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(h, "numberOfFailures");

            if (m == 1 && cJSON_GetObjectItemCaseSensitive(poll, h->string))
                continue;
            if (st && strcmp(st, "Failing") == 0 && cJSON_IsNumber(n) &&
                n->valuedouble > failure_threshold)
                return true;
        }
    return false;
}

/* The entries of want that cur lacks or holds differently; with drop, null for each key of cur
 * that want lacks (a merge patch removes them). NULL when there are none. */
static cJSON *sl_map_diff(const cJSON *want, const cJSON *cur, bool drop)
{
    cJSON *d = cJSON_CreateObject();
    const cJSON *x;

    cJSON_ArrayForEach(x, want)
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(cur, x->string);
        if (!c || !cJSON_Compare(x, c, true))
            cJSON_AddItemToObject(d, x->string, cJSON_Duplicate(x, true));
    }
    cJSON_ArrayForEach(x, (drop && cJSON_IsObject(cur) ? cur : NULL))
    {
        if (!cJSON_GetObjectItemCaseSensitive(want, x->string))
            cJSON_AddNullToObject(d, x->string);
    }
    if (!d->child) {
        cJSON_Delete(d);
        return NULL;
    }
    return d;
}

/* health and triggersActivity into status (KEDA's fallback handler and handleResult). */
static bool sl_status_maps(cJSON *status, const cJSON *obj, const watch_sl_status_t *extra)
{
    cJSON *d;
    bool any = false;

    if (extra && extra->health &&
        (d = sl_map_diff(extra->health, jsonu_lookup(obj, "status.health"), false))) {
        cJSON_AddItemToObject(status, "health", d);
        any = true;
    }
    if (extra && extra->activity &&
        (d = sl_map_diff(extra->activity, jsonu_lookup(obj, "status.triggersActivity"), true))) {
        cJSON_AddItemToObject(status, "triggersActivity", d);
        any = true;
    }
    return any;
}

cJSON *watch_scaleloop_status_patch(const cJSON *obj, const watch_decide_out_t *out, bool error,
                                    uint64_t last_active, uint64_t now_real,
                                    const watch_sl_status_t *extra)
{
    const cJSON *cur = jsonu_lookup(obj, "status.conditions");
    cJSON *conds = sl_conditions(cur, out, error), *status = cJSON_CreateObject(), *patch;
    uint64_t written = watch_time_parse(obj, "status.lastActiveTime");
    bool conds_changed, time_due, maps;
    char buf[40], msg[ERRTEXT_MAX + 64];

    if (extra && extra->health) {
        bool exists = watch_scaleloop_fallback_exists(jsonu_lookup(obj, "status.health"),
                                                      extra->health, extra->failure_threshold);
        if (exists)
            watch_cond_set(conds, "Fallback", "True", "FallbackExists",
                           "At least one trigger is falling back on this scaled object");
        else
            watch_cond_set(conds, "Fallback", "False", "NoFallbackFound",
                           "No fallbacks are active on this scaled object");
    }
    if (extra && extra->hpa_scaling_active)
        sl_hpa_active(conds, extra->hpa_scaling_active);
    if (extra && extra->replicas_error) { /* RequestScale returned before deciding anything */
        snprintf(msg, sizeof msg, "Error getting current replicas count for ScaleTarget: %s",
                 extra->replicas_error);
        watch_cond_set(conds, "Ready", "False", "ErrorGettingCurrentReplicas", msg);
    }
    if (extra && extra->scale_error_reason) /* KEDA only records an Event: see scaleloop.c */
        watch_cond_set(conds, "Ready", "False", extra->scale_error_reason,
                       extra->scale_error ? extra->scale_error : "");
    conds_changed = !cur || !cJSON_Compare(conds, cur, true);
    maps = sl_status_maps(status, obj, extra);
    time_due = last_active / 1000 > written / 1000 &&
               (conds_changed || maps || !written ||
                now_real - written >= WATCH_LAST_ACTIVE_PERSIST_S * 1000ull);
    if (!conds_changed && !time_due && !maps) {
        cJSON_Delete(conds);
        cJSON_Delete(status);
        return NULL;
    }
    patch = cJSON_CreateObject();
    cJSON_AddItemToObject(patch, "status", status);
    if (conds_changed)
        cJSON_AddItemToObject(status, "conditions", conds);
    else
        cJSON_Delete(conds);
    if (time_due) {
        watch_time_format(last_active, buf, sizeof buf);
        cJSON_AddStringToObject(status, "lastActiveTime", buf);
    }
    return patch;
}
