/*
 * The status the watcher writes (keda.md §1.3, §1.4): KEDA's initial conditions, Ready True and
 * False with Active's "check failed", Fallback's NoFallbackFound, the target's kind string (core
 * group included), originalReplicaCount recorded once, trigger and authentication types, metric
 * names with health pruned to them, and above all: a status that already says all this yields no
 * patch, so a settled object is never written again.
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

/* RFC 7386, enough for these documents. */
static void merge(cJSON *target, const cJSON *patch)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, patch)
    {
        cJSON *t = cJSON_GetObjectItemCaseSensitive(target, p->string);
        if (cJSON_IsNull(p)) {
            cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
        } else if (cJSON_IsObject(p) && cJSON_IsObject(t)) {
            merge(t, p);
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
            cJSON_AddItemToObject(target, p->string, cJSON_Duplicate(p, true));
        }
    }
}

static cJSON *object(const char *extra_spec, const char *status)
{
    char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"metadata\":{\"namespace\":\"apps\",\"name\":\"orders\",\"uid\":\"u\"},\"spec\":{"
             "\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[{\"type\":\"redis\",\"metadata\":"
             "{\"listName\":\"a\"},\"authenticationRef\":{\"name\":\"ra\"}},{\"type\":\"redis\","
             "\"metadata\":{\"listName\":\"b\"},\"authenticationRef\":{\"name\":\"ra\"}},{\"type\":"
             "\"ckeda-test\",\"metadata\":{}}]%s}%s%s}",
             extra_spec, status ? ",\"status\":" : "", status ? status : "");
    cJSON *o = cJSON_Parse(buf);
    assert_non_null(o);
    return o;
}

static watch_target_t deployment(void)
{
    watch_target_t t;
    memset(&t, 0, sizeof t);
    snprintf(t.gvkr.group, sizeof t.gvkr.group, "apps");
    snprintf(t.gvkr.version, sizeof t.gvkr.version, "v1");
    snprintf(t.gvkr.resource, sizeof t.gvkr.resource, "deployments");
    snprintf(t.kind, sizeof t.kind, "Deployment");
    t.have_replicas = true;
    t.spec_replicas = 3;
    return t;
}

static void parse(const cJSON *o, so_t *so)
{
    errtext_t err = {0};
    if (so_parse(o, 64, so, &err) != 0)
        fail_msg("%s", err.text);
}

static const cJSON *cond(const cJSON *status, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(status, "conditions"))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "type")), type) == 0)
            return c;
    }
    return NULL;
}

static const char *str(const cJSON *o, const char *path)
{
    return cJSON_GetStringValue(jsonu_lookup(o, path));
}

static void test_watch_status_patch_ready_writes_everything_once(void **state)
{
    static so_t so;
    cJSON *o = object("", NULL), *p;
    watch_target_t t = deployment();

    parse(o, &so);
    watch_status_t st = {.so = &so,
                         .target = &t,
                         .set_original = true,
                         .original = 3,
                         .triggers_ok = true,
                         .metrics_ok = true,
                         .hpa_name = "keda-hpa-orders",
                         .ready = 1,
                         .message = "ScaledObject is defined correctly and is ready "
                                    "for scaling"};
    p = watch_status_patch(o, &st);
    assert_non_null(p);
    const cJSON *s = cJSON_GetObjectItem(p, "status");
    assert_string_equal(str(s, "scaleTargetKind"), "apps/v1.Deployment");
    assert_string_equal(str(s, "scaleTargetGVKR.resource"), "deployments");
    assert_int_equal(jsonu_lookup(s, "originalReplicaCount")->valueint, 3);
    assert_string_equal(str(s, "triggersTypes"), "redis,ckeda-test");
    assert_string_equal(str(s, "authenticationsTypes"), "ra");
    assert_string_equal(str(s, "externalMetricNames[2]"), "s2-ckeda-test");
    assert_string_equal(str(s, "hpaName"), "keda-hpa-orders");
    /* GetInitializedConditions, then Ready and Fallback set in place */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "conditions")), 4);
    assert_string_equal(str(s, "conditions[0].type"), "Ready");
    assert_string_equal(str(s, "conditions[0].status"), "True");
    assert_string_equal(str(s, "conditions[0].reason"), "ScaledObjectReady");
    assert_string_equal(str(s, "conditions[1].status"), "Unknown");
    assert_null(jsonu_lookup(s, "conditions[1].reason"));
    assert_string_equal(str(cond(s, "Fallback"), "reason"), "NoFallbackFound");
    assert_string_equal(str(cond(s, "Paused"), "status"), "False");
    /* applied, the same decision changes nothing: no second write */
    merge(o, p);
    cJSON_Delete(p);
    assert_null(watch_status_patch(o, &st));
    /* originalReplicaCount is recorded once */
    t.spec_replicas = 7;
    st.original = 7;
    assert_null(watch_status_patch(o, &st));
    cJSON_Delete(o);
}

static void test_watch_status_patch_failure_sets_ready_false_and_active_unknown(void **state)
{
    static so_t so;
    cJSON *o =
        object("", "{\"hpaName\":\"keda-hpa-orders\",\"conditions\":["
                   "{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"ScaledObjectReady\"},"
                   "{\"type\":\"Active\",\"status\":\"True\",\"reason\":\"ScalerActive\"},"
                   "{\"type\":\"Fallback\",\"status\":\"False\"},"
                   "{\"type\":\"Paused\",\"status\":\"False\"},"
                   "{\"type\":\"HPAActive\",\"status\":\"True\"}]}");
    parse(o, &so);
    watch_status_t st = {.so = &so, .ready = 0, .message = "step: broken"};
    cJSON *p = watch_status_patch(o, &st);
    const cJSON *s = cJSON_GetObjectItem(p, "status");

    /* only the conditions: nothing else is touched on a failed check */
    assert_int_equal(cJSON_GetArraySize(s), 1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "conditions")), 5);
    assert_string_equal(str(cond(s, "Ready"), "status"), "False");
    assert_string_equal(str(cond(s, "Ready"), "reason"), "ScaledObjectCheckFailed");
    assert_string_equal(str(cond(s, "Ready"), "message"), "step: broken");
    assert_string_equal(str(cond(s, "Active"), "status"), "Unknown");
    assert_string_equal(str(cond(s, "Active"), "reason"), "UnknownState");
    assert_string_equal(str(cond(s, "Active"), "message"), "ScaledObject check failed");
    assert_string_equal(str(cond(s, "HPAActive"), "status"), "True"); /* kept, in order */
    assert_string_equal(str(s, "conditions[4].type"), "HPAActive");
    merge(o, p);
    cJSON_Delete(p);
    assert_null(watch_status_patch(o, &st));
    cJSON_Delete(o);
}

static void test_watch_status_patch_core_group_kind_and_valid_fallback(void **state)
{
    static so_t so;
    cJSON *o = object(",\"fallback\":{\"failureThreshold\":3,\"replicas\":2}", NULL);
    watch_target_t t = deployment();

    parse(o, &so);
    snprintf(t.gvkr.group, sizeof t.gvkr.group, "%s", "");
    snprintf(t.gvkr.resource, sizeof t.gvkr.resource, "replicationcontrollers");
    snprintf(t.kind, sizeof t.kind, "ReplicationController");
    watch_status_t st = {.so = &so, .target = &t, .ready = 1, .message = "ok"};
    cJSON *p = watch_status_patch(o, &st);
    const cJSON *s = cJSON_GetObjectItem(p, "status");
    /* GVKString is group + "/" + version + "." + kind, also for the core group */
    assert_string_equal(str(s, "scaleTargetKind"), "/v1.ReplicationController");
    assert_string_equal(str(s, "scaleTargetGVKR.group"), "");
    /* a valid fallback: Fallback is left as it is (Unknown) */
    assert_string_equal(str(cond(s, "Fallback"), "status"), "Unknown");
    cJSON_Delete(p);
    cJSON_Delete(o);
}

/* With scalingModifiers: compositeScalerName, externalMetricNames still the triggers'; a
 * fallback whose modifiers target is not an integer is no valid fallback (NoFallbackFound). */
static void test_watch_status_patch_modifiers_composite_name_and_fallback(void **state)
{
    static so_t so;
    cJSON *o = object(",\"advanced\":{\"scalingModifiers\":{\"formula\":\"1\",\"target\":"
                      "\"2.5\"}},\"fallback\":{\"failureThreshold\":3,\"replicas\":2}",
                      NULL);
    watch_target_t t = deployment();

    parse(o, &so);
    watch_status_t st = {.so = &so, .target = &t, .metrics_ok = true, .ready = 1, .message = "ok"};
    cJSON *p = watch_status_patch(o, &st);
    const cJSON *s = cJSON_GetObjectItem(p, "status");
    assert_string_equal(str(s, "compositeScalerName"), "composite-metric");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "externalMetricNames")), 3);
    assert_string_equal(str(cond(s, "Fallback"), "status"), "False");
    assert_string_equal(str(cond(s, "Fallback"), "reason"), "NoFallbackFound");
    cJSON_Delete(p);
    cJSON_Delete(o);
    o = object(",\"advanced\":{\"scalingModifiers\":{\"formula\":\"1\",\"target\":"
               "\"2\"}},\"fallback\":{\"failureThreshold\":3,\"replicas\":2}",
               NULL);
    parse(o, &so);
    p = watch_status_patch(o, &st);
    assert_string_equal(str(cond(cJSON_GetObjectItem(p, "status"), "Fallback"), "status"),
                        "Unknown");
    assert_true(watch_so_fallback_valid(&so));
    cJSON_Delete(p);
    cJSON_Delete(o);
}

static void test_watch_status_patch_prunes_health_to_current_metrics(void **state)
{
    static so_t so;
    cJSON *o = object("", "{\"health\":{\"s0-redis-a\":{\"numberOfFailures\":1},"
                          "\"s9-old\":{\"numberOfFailures\":4}}}");
    parse(o, &so);
    watch_status_t st = {.so = &so, .metrics_ok = true, .ready = 1, .message = "ok"};
    cJSON *p = watch_status_patch(o, &st);
    const cJSON *h = jsonu_lookup(p, "status.health");

    assert_non_null(h);
    assert_int_equal(cJSON_GetArraySize(h), 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(h, "s9-old")));
    merge(o, p);
    cJSON_Delete(p);
    assert_null(watch_status_patch(o, &st));
    cJSON_Delete(o);
}

static void test_watch_status_ready_reads_the_condition(void **state)
{
    const char *msg = NULL;
    cJSON *o = object("", "{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\","
                          "\"message\":\"m\"}]}");
    assert_int_equal(watch_status_ready(o, &msg), 0);
    assert_string_equal(msg, "m");
    cJSON_Delete(o);
    o = object("", NULL);
    assert_int_equal(watch_status_ready(o, NULL), -1);
    cJSON_Delete(o);
}

/* The pause annotations: Paused True with pausedReplicaCount; once removed, Paused False with
 * KEDA's reason and the count gone; each state settles (no further patch). */
static void test_watch_status_patch_pause_and_unpause(void **state)
{
    static so_t so;
    cJSON *o = object("", NULL), *p;
    cJSON *ann = cJSON_AddObjectToObject(cJSON_GetObjectItem(o, "metadata"), "annotations");

    cJSON_AddStringToObject(ann, "autoscaling.keda.sh/paused-replicas", "2");
    parse(o, &so);
    watch_status_t st = {.so = &so, .ready = 1, .message = "ScaledObject is paused"};
    p = watch_status_patch(o, &st);
    const cJSON *s = cJSON_GetObjectItem(p, "status");
    assert_string_equal(str(cond(s, "Paused"), "status"), "True");
    assert_string_equal(str(cond(s, "Paused"), "reason"), "ScaledObjectPaused");
    assert_string_equal(str(cond(s, "Paused"), "message"), "ScaledObject is paused");
    assert_int_equal(jsonu_lookup(s, "pausedReplicaCount")->valueint, 2);
    merge(o, p);
    cJSON_Delete(p);
    assert_null(watch_status_patch(o, &st));

    cJSON_DeleteItemFromObject(ann, "autoscaling.keda.sh/paused-replicas");
    parse(o, &so);
    st.message = "ScaledObject is defined correctly and is ready for scaling";
    p = watch_status_patch(o, &st);
    s = cJSON_GetObjectItem(p, "status");
    assert_string_equal(str(cond(s, "Paused"), "status"), "False");
    assert_string_equal(str(cond(s, "Paused"), "reason"), "ScaledObjectUnpaused");
    assert_string_equal(str(cond(s, "Paused"), "message"),
                        "pause annotation removed for ScaledObject");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(s, "pausedReplicaCount")));
    merge(o, p);
    cJSON_Delete(p);
    assert_null(watch_status_patch(o, &st));
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_status_patch_modifiers_composite_name_and_fallback),
        cmocka_unit_test(test_watch_status_patch_ready_writes_everything_once),
        cmocka_unit_test(test_watch_status_patch_failure_sets_ready_false_and_active_unknown),
        cmocka_unit_test(test_watch_status_patch_core_group_kind_and_valid_fallback),
        cmocka_unit_test(test_watch_status_patch_prunes_health_to_current_metrics),
        cmocka_unit_test(test_watch_status_ready_reads_the_condition),
        cmocka_unit_test(test_watch_status_patch_pause_and_unpause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
