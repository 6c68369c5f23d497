/*
 * The scale loop's status writes (keda.md §1.4, §1.9): the Active and Ready conditions KEDA sets
 * per poll with its exact reasons and messages, lastActiveTime in RFC 3339, and above all: a poll
 * that changes nothing yields no patch, and an active object does not rewrite lastActiveTime on
 * every poll. Also the RFC 3339 reader the loop takes creationTimestamp and lastActiveTime from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/json.h"
#include "watcher/watcher_internal.h"

#include <stdio.h>
#include <string.h>

#define T0 1764288000000ull /* 2025-11-28T00:00:00Z */

static const char *const READY_TRUE =
    "{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"ScaledObjectReady\","
    "\"message\":\"ScaledObject is defined correctly and is ready for scaling\"}";

static cJSON *object(const char *active, const char *ready, const char *last_active)
{
    char buf[2048];

    snprintf(buf, sizeof buf,
             "{\"metadata\":{\"name\":\"so\",\"creationTimestamp\":\"2025-11-27T23:00:00Z\"},"
             "\"status\":{%s%s%s\"conditions\":[%s,%s,"
             "{\"type\":\"Fallback\",\"status\":\"False\"},{\"type\":\"Paused\",\"status\":"
             "\"False\"}]}}",
             last_active ? "\"lastActiveTime\":\"" : "", last_active ? last_active : "",
             last_active ? "\"," : "", ready, active);
    cJSON *o = cJSON_Parse(buf);
    assert_non_null(o);
    return o;
}

static const cJSON *cond(const cJSON *patch, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, jsonu_lookup(patch, "status.conditions"))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "type")), type) == 0)
            return c;
    }
    return NULL;
}

static const char *field(const cJSON *c, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, name));
}

static void decide(bool active, bool error, int32_t current, uint64_t last_active,
                   watch_decide_out_t *out)
{
    watch_decide_in_t in = {.active = active,
                            .error = error,
                            .current = current,
                            .idle_replicas = -1,
                            .now_ms = T0,
                            .last_active_ms = last_active,
                            .created_ms = T0 - 3600000,
                            .cooldown_s = 300};
    watch_decide(&in, out);
}

static void test_watch_scaleloop_status_patch_activation(void **state)
{
    cJSON *obj = object("{\"type\":\"Active\",\"status\":\"Unknown\"}", READY_TRUE, NULL);
    watch_decide_out_t out;

    decide(true, false, 0, 0, &out);
    assert_int_equal(out.action, WATCH_ACT_ACTIVATE);
    cJSON *p = watch_scaleloop_status_patch(obj, &out, false, T0, T0, NULL);
    assert_non_null(p);
    const cJSON *a = cond(p, "Active");
    assert_string_equal(field(a, "status"), "True");
    assert_string_equal(field(a, "reason"), "ScalerActive");
    assert_string_equal(field(a, "message"), "Scaling is performed because triggers are active");
    assert_string_equal(field(cond(p, "Ready"), "reason"), "ScaledObjectReady");
    assert_string_equal(cJSON_GetStringValue(jsonu_lookup(p, "status.lastActiveTime")),
                        "2025-11-28T00:00:00Z");
    /* the order of KEDA's conditions is kept */
    assert_string_equal(field(cJSON_GetArrayItem(jsonu_lookup(p, "status.conditions"), 0), "type"),
                        "Ready");
    cJSON_Delete(p);
    cJSON_Delete(obj);
}

static const char *const ACTIVE_TRUE =
    "{\"type\":\"Active\",\"status\":\"True\",\"reason\":\"ScalerActive\",\"message\":"
    "\"Scaling is performed because triggers are active\"}";

static void test_watch_scaleloop_status_patch_unchanged_is_null(void **state)
{
    cJSON *obj = object(ACTIVE_TRUE, READY_TRUE, "2025-11-28T00:00:00Z");
    watch_decide_out_t out;

    decide(true, false, 3, T0, &out);
    assert_int_equal(out.action, WATCH_ACT_NONE);
    /* polled again 10 s later, still active: lastActiveTime moves only in the table */
    assert_null(watch_scaleloop_status_patch(obj, &out, false, T0 + 10000, T0 + 10000, NULL));
    /* 30 s later it is written, alone */
    cJSON *p = watch_scaleloop_status_patch(obj, &out, false, T0 + 30000, T0 + 30000, NULL);
    assert_non_null(p);
    assert_null(jsonu_lookup(p, "status.conditions"));
    assert_string_equal(cJSON_GetStringValue(jsonu_lookup(p, "status.lastActiveTime")),
                        "2025-11-28T00:00:30Z");
    cJSON_Delete(p);
    cJSON_Delete(obj);
}

static void test_watch_scaleloop_status_patch_cooldown_carries_exact_last_active(void **state)
{
    cJSON *obj = object(ACTIVE_TRUE, READY_TRUE, "2025-11-28T00:00:00Z");
    watch_decide_out_t out;

    decide(false, false, 1, T0 - 12000, &out); /* inactive, inside the cooldown */
    assert_int_equal(out.action, WATCH_ACT_NONE);
    assert_string_equal(out.active_reason, "ScalerCooldown");
    cJSON *p = watch_scaleloop_status_patch(obj, &out, false, T0 + 12000, T0 + 13000, NULL);
    const cJSON *a = cond(p, "Active");
    assert_string_equal(field(a, "status"), "False");
    assert_string_equal(field(a, "message"), "Scaler cooling down because triggers are not active");
    assert_string_equal(cJSON_GetStringValue(jsonu_lookup(p, "status.lastActiveTime")),
                        "2025-11-28T00:00:12Z");
    cJSON_Delete(p);
    cJSON_Delete(obj);
}

static void test_watch_scaleloop_status_patch_trigger_errors(void **state)
{
    cJSON *obj = object(ACTIVE_TRUE, READY_TRUE, "2025-11-28T00:00:00Z");
    watch_decide_out_t out;

    decide(false, true, 0, T0, &out); /* errors, not active, no fallback */
    cJSON *p = watch_scaleloop_status_patch(obj, &out, true, T0, T0, NULL);
    const cJSON *r = cond(p, "Ready");
    assert_string_equal(field(r, "status"), "False");
    assert_string_equal(field(r, "reason"), "TriggerError");
    assert_string_equal(field(r, "message"),
                        "Triggers defined in ScaledObject are not working correctly");
    assert_string_equal(field(cond(p, "Active"), "reason"), "ScalerNotActive");
    cJSON_Delete(p);

    decide(true, true, 2, T0, &out); /* active with a failing trigger */
    p = watch_scaleloop_status_patch(obj, &out, true, T0, T0, NULL);
    r = cond(p, "Ready");
    assert_string_equal(field(r, "status"), "Unknown");
    assert_string_equal(field(r, "reason"), "PartialTriggerError");
    assert_string_equal(field(r, "message"),
                        "Some triggers defined in ScaledObject are not working correctly");
    cJSON_Delete(p);
    cJSON_Delete(obj);
}

static void test_watch_time_parse_forms(void **state)
{
    cJSON *o = cJSON_Parse("{\"a\":\"2025-11-28T00:00:00Z\",\"b\":\"2025-11-28T01:00:00.25+01:00\","
                           "\"c\":\"yesterday\",\"d\":\"2025-11-28T00:00:00\"}");

    assert_int_equal(watch_time_parse(o, "a"), T0);
    assert_int_equal(watch_time_parse(o, "b"), T0);
    assert_int_equal(watch_time_parse(o, "c"), 0);
    assert_int_equal(watch_time_parse(o, "d"), 0);
    assert_int_equal(watch_time_parse(o, "missing"), 0);
    cJSON_Delete(o);
}

/* KEDA's fallback handler: health per metric and the Fallback condition once a metric is
 * Failing past failureThreshold; written only when they change. */
static void test_watch_scaleloop_status_patch_health_and_fallback_condition(void **state)
{
    cJSON *obj = object(ACTIVE_TRUE, READY_TRUE, NULL);
    cJSON *health = cJSON_Parse("{\"s0-x\":{\"numberOfFailures\":0,\"status\":\"Happy\"},"
                                "\"s1-x\":{\"numberOfFailures\":3,\"status\":\"Failing\"}}");
    watch_sl_status_t extra = {.health = health, .failure_threshold = 3};
    watch_decide_out_t out;

    decide(true, false, 2, T0, &out);
    cJSON *p = watch_scaleloop_status_patch(obj, &out, false, 0, T0, &extra);
    assert_non_null(p);
    assert_true(cJSON_Compare(jsonu_lookup(p, "status.health"), health, true));
    const cJSON *f = cond(p, "Fallback"); /* 3 failures is not past 3 */
    assert_string_equal(field(f, "status"), "False");
    assert_string_equal(field(f, "reason"), "NoFallbackFound");
    assert_string_equal(field(f, "message"), "No fallbacks are active on this scaled object");
    cJSON_Delete(p);

    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(health, "s1-x"), "numberOfFailures",
                              cJSON_CreateNumber(4));
    p = watch_scaleloop_status_patch(obj, &out, false, 0, T0, &extra);
    f = cond(p, "Fallback");
    assert_string_equal(field(f, "status"), "True");
    assert_string_equal(field(f, "reason"), "FallbackExists");
    assert_string_equal(field(f, "message"),
                        "At least one trigger is falling back on this scaled object");
    /* once the object says it all, nothing more is written */
    cJSON *st = cJSON_GetObjectItem(obj, "status");
    cJSON_ReplaceItemInObject(st, "conditions",
                              cJSON_Duplicate(jsonu_lookup(p, "status.conditions"), true));
    cJSON_AddItemToObject(st, "health", cJSON_Duplicate(health, true));
    cJSON_Delete(p);
    assert_null(watch_scaleloop_status_patch(obj, &out, false, 0, T0, &extra));
    /* only the entry that changed is in the patch */
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(health, "s1-x"), "numberOfFailures",
                              cJSON_CreateNumber(5));
    p = watch_scaleloop_status_patch(obj, &out, false, 0, T0, &extra);
    assert_null(jsonu_lookup(p, "status.health.s0-x"));
    assert_int_equal(jsonu_lookup(p, "status.health.s1-x.numberOfFailures")->valueint, 5);
    assert_null(jsonu_lookup(p, "status.conditions"));
    cJSON_Delete(p);
    cJSON_Delete(health);
    cJSON_Delete(obj);
}

static void test_watch_scaleloop_fallback_exists_merges_health(void **state)
{
    cJSON *cur = cJSON_Parse("{\"a\":{\"numberOfFailures\":9,\"status\":\"Failing\"},"
                             "\"b\":{\"numberOfFailures\":9,\"status\":\"Failing\"}}");
    cJSON *poll = cJSON_Parse("{\"a\":{\"numberOfFailures\":0,\"status\":\"Happy\"}}");

    /* b, which this poll did not speak for, keeps its count */
    assert_true(watch_scaleloop_fallback_exists(cur, poll, 3));
    cJSON_AddItemToObject(poll, "b", cJSON_Parse("{\"numberOfFailures\":0,\"status\":\"Happy\"}"));
    assert_false(watch_scaleloop_fallback_exists(cur, poll, 3));
    assert_false(watch_scaleloop_fallback_exists(NULL, NULL, 0));
    cJSON_Delete(cur);
    cJSON_Delete(poll);
}

/* triggersActivity as KEDA's handleResult applies it: changed entries, removed ones nulled. */
static void test_watch_scaleloop_status_patch_triggers_activity(void **state)
{
    cJSON *obj = object(ACTIVE_TRUE, READY_TRUE, NULL);
    cJSON *act = cJSON_Parse("{\"s0-x\":{\"isActive\":true},\"s1-x\":{\"isActive\":false}}");
    watch_sl_status_t extra = {.activity = act};
    watch_decide_out_t out;

    decide(true, false, 2, T0, &out);
    cJSON *p = watch_scaleloop_status_patch(obj, &out, false, 0, T0, &extra);
    assert_true(cJSON_Compare(jsonu_lookup(p, "status.triggersActivity"), act, true));
    cJSON_Delete(p);
    cJSON_AddItemToObject(cJSON_GetObjectItem(obj, "status"), "triggersActivity",
                          cJSON_Parse("{\"s0-x\":{\"isActive\":true},\"s1-x\":{\"isActive\":"
                                      "false},\"s2-gone\":{\"isActive\":true}}"));
    p = watch_scaleloop_status_patch(obj, &out, false, 0, T0, &extra);
    assert_true(
        cJSON_IsNull(cJSON_GetObjectItem(jsonu_lookup(p, "status.triggersActivity"), "s2-gone")));
    assert_null(jsonu_lookup(p, "status.triggersActivity.s0-x"));
    cJSON_Delete(p);
    cJSON_DeleteItemFromObject(
        cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "status"), "triggersActivity"), "s2-gone");
    assert_null(watch_scaleloop_status_patch(obj, &out, false, 0, T0, &extra));
    cJSON_Delete(act);
    cJSON_Delete(obj);
}

/* checkHPAHealth (keda.md §1.4): the HPA's ScalingActive mirrored into HPAActive, added lazily. */
static const cJSON *hpa_active(const char *scaling_active, cJSON **ret_patch)
{
    cJSON *obj = object(ACTIVE_TRUE, READY_TRUE, "2025-11-28T00:00:00Z");
    cJSON *sa = scaling_active ? cJSON_Parse(scaling_active) : NULL;
    watch_sl_status_t extra = {.hpa_scaling_active = sa};
    watch_decide_out_t out;

    decide(true, false, 2, T0, &out);
    *ret_patch = watch_scaleloop_status_patch(obj, &out, false, T0, T0, &extra);
    cJSON_Delete(sa);
    cJSON_Delete(obj);
    return *ret_patch ? cond(*ret_patch, "HPAActive") : NULL;
}

static void test_watch_scaleloop_status_patch_hpa_active(void **state)
{
    cJSON *p;
    const cJSON *c;

    c = hpa_active("{\"type\":\"ScalingActive\",\"status\":\"True\",\"reason\":"
                   "\"ValidMetricFound\",\"message\":\"the HPA was able to compute\"}",
                   &p);
    assert_string_equal(field(c, "status"), "True");
    assert_string_equal(field(c, "reason"), "HPAActive");
    assert_string_equal(field(c, "message"), "HPA is actively scaling");
    cJSON_Delete(p);
    c = hpa_active("{\"type\":\"ScalingActive\",\"status\":\"False\",\"reason\":"
                   "\"ScalingDisabled\",\"message\":\"scaling is disabled since the replica "
                   "count of the target is zero\"}",
                   &p);
    assert_string_equal(field(c, "status"), "True");
    assert_string_equal(field(c, "reason"), "ScalingDisabled");
    assert_string_equal(field(c, "message"),
                        "scaling is disabled since the replica count of the target is zero");
    cJSON_Delete(p);
    c = hpa_active("{\"type\":\"ScalingActive\",\"status\":\"False\",\"reason\":"
                   "\"FailedGetExternalMetric\",\"message\":\"no metrics\"}",
                   &p);
    assert_string_equal(field(c, "status"), "False");
    assert_string_equal(field(c, "reason"), "FailedGetExternalMetric");
    assert_string_equal(field(c, "message"), "HPA is not actively scaling: no metrics");
    cJSON_Delete(p);
    c = hpa_active("{\"type\":\"ScalingActive\",\"status\":\"False\",\"message\":\"x\"}", &p);
    assert_string_equal(field(c, "reason"), "HPAMetricsUnavailable");
    cJSON_Delete(p);
    /* not observed: no HPAActive at all (and nothing else changed: no patch) */
    assert_null(hpa_active(NULL, &p));
    assert_null(p);
}

/* KEDA's RequestScale when GetCurrentReplicas fails (the target was deleted): Ready False
 * ErrorGettingCurrentReplicas with the error, nothing decided, so Active is kept and
 * lastActiveTime is not touched, and a trigger error does not turn it into TriggerError; the
 * same poll again writes nothing; once the count is read again, Ready is True. */
static void test_watch_scaleloop_status_patch_no_current_replicas(void **state)
{
    static const char *const gone = "deployments.apps \"web\" not found";
    static const char *const msg =
        "Error getting current replicas count for ScaleTarget: deployments.apps \"web\" not found";
    cJSON *obj = object(ACTIVE_TRUE, READY_TRUE, "2025-11-27T23:59:00Z"), *p;
    watch_sl_status_t extra = {.replicas_error = gone};
    watch_decide_out_t none, out;
    const cJSON *c;

    memset(&none, 0, sizeof none);
    for (int error = 0; error < 2; error++) {
        p = watch_scaleloop_status_patch(obj, &none, error, T0 - 60000, T0, &extra);
        assert_non_null(p);
        c = cond(p, "Ready");
        assert_string_equal(field(c, "status"), "False");
        assert_string_equal(field(c, "reason"), "ErrorGettingCurrentReplicas");
        assert_string_equal(field(c, "message"), msg);
        assert_string_equal(field(cond(p, "Active"), "reason"), "ScalerActive");
        assert_null(jsonu_lookup(p, "status.lastActiveTime"));
        cJSON_Delete(p);
    }

    /* the object as that patch left it: the next failed poll has nothing to write */
    cJSON *conds = cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "status"), "conditions");
    cJSON_ReplaceItemInArray(
        conds, 0,
        cJSON_Parse("{\"type\":\"Ready\",\"status\":\"False\",\"reason\":"
                    "\"ErrorGettingCurrentReplicas\",\"message\":\"Error getting current replicas "
                    "count for ScaleTarget: deployments.apps \\\"web\\\" not found\"}"));
    assert_string_equal(field(cJSON_GetArrayItem(conds, 0), "message"), msg);
    assert_null(watch_scaleloop_status_patch(obj, &none, false, T0 - 60000, T0, &extra));

    /* the target is back: an ordinary poll makes it Ready again */
    decide(true, false, 1, T0 - 60000, &out);
    p = watch_scaleloop_status_patch(obj, &out, false, T0, T0, NULL);
    assert_non_null(p);
    assert_string_equal(field(cond(p, "Ready"), "reason"), "ScaledObjectReady");
    assert_string_equal(field(cond(p, "Ready"), "status"), "True");
    cJSON_Delete(p);
    cJSON_Delete(obj);
}

/* A /scale write the API refused: KEDA only records a Warning Event, so ckeda says why in Ready
 * (False, the Event's reason, its message and the API's error) while Active is what the poll
 * decided and lastActiveTime is not touched (KEDA records it for a scale that happened); a
 * poll held by the backoff writes nothing new; a poll that needs no write, or whose write
 * succeeds, is Ready True again. */
static void test_watch_scaleloop_status_patch_refused_scale_write(void **state)
{
    static const char *const msg =
        "Failed to scale apps/v1.Deployment ns/web from 0 to 1: deployments.apps \"web\" is "
        "forbidden: ValidatingAdmissionPolicy 'deny' with binding 'deny' denied request: no";
    cJSON *obj = object("{\"type\":\"Active\",\"status\":\"False\"}", READY_TRUE, NULL), *p;
    watch_sl_status_t extra = {.scale_error_reason = "KEDAScaleTargetActivationFailed",
                               .scale_error = msg};
    watch_decide_out_t out;
    const cJSON *c;

    decide(true, false, 0, 0, &out);
    assert_int_equal(out.action, WATCH_ACT_ACTIVATE);
    out.touch_last_active = false; /* as the loop clears it when the write fails */
    p = watch_scaleloop_status_patch(obj, &out, false, 0, T0, &extra);
    assert_non_null(p);
    c = cond(p, "Ready");
    assert_string_equal(field(c, "status"), "False");
    assert_string_equal(field(c, "reason"), "KEDAScaleTargetActivationFailed");
    assert_string_equal(field(c, "message"), msg);
    assert_string_equal(field(cond(p, "Active"), "status"), "True");
    assert_string_equal(field(cond(p, "Active"), "reason"), "ScalerActive");
    assert_null(jsonu_lookup(p, "status.lastActiveTime"));

    /* the object as that patch left it: a poll held by the backoff has nothing to write */
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(obj, "status"), "conditions",
                              cJSON_Duplicate(jsonu_lookup(p, "status.conditions"), true));
    cJSON_Delete(p);
    assert_null(watch_scaleloop_status_patch(obj, &out, false, 0, T0 + 1000, &extra));

    /* the write went through: Ready True, lastActiveTime now */
    decide(true, false, 0, 0, &out);
    p = watch_scaleloop_status_patch(obj, &out, false, T0 + 2000, T0 + 2000, NULL);
    assert_non_null(p);
    assert_string_equal(field(cond(p, "Ready"), "status"), "True");
    assert_string_equal(field(cond(p, "Ready"), "reason"), "ScaledObjectReady");
    assert_string_equal(cJSON_GetStringValue(jsonu_lookup(p, "status.lastActiveTime")),
                        "2025-11-28T00:00:02Z");
    cJSON_Delete(p);

    /* a refused deactivation: its own reason, Active False ScalerNotActive */
    decide(false, false, 1, T0 - 3600000, &out);
    assert_int_equal(out.action, WATCH_ACT_DEACTIVATE);
    extra.scale_error_reason = "KEDAScaleTargetDeactivationFailed";
    p = watch_scaleloop_status_patch(obj, &out, false, T0 - 3600000, T0, &extra);
    assert_non_null(p);
    assert_string_equal(field(cond(p, "Ready"), "reason"), "KEDAScaleTargetDeactivationFailed");
    assert_string_equal(field(cond(p, "Active"), "reason"), "ScalerNotActive");
    cJSON_Delete(p);
    cJSON_Delete(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_scaleloop_status_patch_activation),
        cmocka_unit_test(test_watch_scaleloop_status_patch_unchanged_is_null),
        cmocka_unit_test(test_watch_scaleloop_status_patch_cooldown_carries_exact_last_active),
        cmocka_unit_test(test_watch_scaleloop_status_patch_trigger_errors),
        cmocka_unit_test(test_watch_scaleloop_status_patch_health_and_fallback_condition),
        cmocka_unit_test(test_watch_scaleloop_fallback_exists_merges_health),
        cmocka_unit_test(test_watch_scaleloop_status_patch_triggers_activity),
        cmocka_unit_test(test_watch_time_parse_forms),
        cmocka_unit_test(test_watch_scaleloop_status_patch_hpa_active),
        cmocka_unit_test(test_watch_scaleloop_status_patch_no_current_replicas),
        cmocka_unit_test(test_watch_scaleloop_status_patch_refused_scale_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
