/*
 * The watcher's reading of a ScaledObject: KEDA's defaults, its reconcile-time checks and their
 * messages, metric names (KEDA's golden cases), and the HPA it generates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/json.h"
#include "watcher/hpa.h"
#include "common/scaledobject.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SO_HEAD                                                                                    \
    "{\"apiVersion\":\"keda.sh/v1alpha1\",\"kind\":\"ScaledObject\",\"metadata\":{\"name\":"       \
    "\"orders\",\"namespace\":\"apps\",\"uid\":\"u-1\",\"generation\":2,\"labels\":{\"team\":"     \
    "\"a\",\"drop\":\"x\"},\"annotations\":{\"scaledobject.keda.sh/hpa-excluded-labels\":"         \
    "\"drop\"}},"

static cJSON *so_json(const char *spec)
{
    char buf[4096];
    snprintf(buf, sizeof buf, SO_HEAD "\"spec\":%s}", spec);
    cJSON *o = cJSON_Parse(buf);
    assert_non_null(o);
    return o;
}

static int parse(const char *spec, so_t *so, errtext_t *err)
{
    cJSON *o = so_json(spec);
    int r = so_parse(o, 64, so, err);
    cJSON_Delete(o); /* borrowed pointers die here: tests only read copied fields after */
    return r;
}

#define REDIS "{\"type\":\"redis\",\"metadata\":{\"listName\":\"mylist\",\"address\":\"r:6379\"}}"

static void test_so_parse_defaults_are_keda(void **state)
{
    so_t so;
    errtext_t err = {0};

    assert_int_equal(
        parse("{\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[" REDIS "]}", &so, &err), 0);
    assert_string_equal(so.target_api_version, "apps/v1");
    assert_string_equal(so.target_kind, "Deployment");
    assert_int_equal(so.polling_interval_s, 30);
    assert_int_equal(so.cooldown_s, 300);
    assert_int_equal(so.initial_cooldown_s, 0);
    assert_int_equal(so.min_replicas, 0);
    assert_int_equal(so.max_replicas, 100);
    assert_int_equal(so.idle_replicas, -1);
    assert_int_equal(so_hpa_min(&so), 1);
    assert_string_equal(so.hpa_name, "keda-hpa-orders");
    assert_int_equal(so.ntriggers, 1);
    assert_int_equal(so.triggers[0].metric_type, SHM_METRIC_AVERAGE_VALUE);
    assert_false(so.has_fallback);
}

static void test_so_parse_metric_names_are_keda_golden(void **state)
{
    so_t so;
    errtext_t err = {0};

    assert_int_equal(parse("{\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[" REDIS
                           ",{\"type\":\"redis\",\"metadata\":{\"listName\":\"my/li.st:x\"}}]}",
                           &so, &err),
                     0);
    assert_string_equal(so.triggers[0].spec.metric_name, "s0-redis-mylist");
    assert_string_equal(so.triggers[1].spec.metric_name, "s1-redis-my-li-st-x");
    assert_true(so.triggers[0].spec.target == 5);
    assert_true(so.triggers[0].spec.activation == 0);
    /* kubernetes-workload's name holds the object's namespace: known at parse, not waited for */
    assert_int_equal(parse("{\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[" REDIS
                           ",{\"type\":\"kubernetes-workload\",\"metadata\":{\"podSelector\":"
                           "\"app=x\",\"value\":\"2\"}}]}",
                           &so, &err),
                     0);
    assert_string_equal(so.triggers[1].spec.metric_name, "s1-workload-apps");
    assert_false(so.triggers[1].spec.from_source);
}

static void test_so_parse_cron_metric_names_are_keda_golden(void **state)
{
    so_t so;
    errtext_t err = {0};

    assert_int_equal(
        parse("{\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":["
              "{\"type\":\"cron\",\"metadata\":{\"timezone\":\"Etc/UTC\",\"start\":"
              "\"0 0 * * Thu\",\"end\":\"59 23 * * Thu\",\"desiredReplicas\":\"10\"}},"
              "{\"type\":\"cron\",\"metadata\":{\"timezone\":\"Etc/UTC\",\"start\":"
              "\"0 */2 * * *\",\"end\":\"0 1-23/2 * * *\",\"desiredReplicas\":\"1\"}},"
              "{\"type\":\"cron\",\"metadata\":{\"timezone\":\"Etc/UTC\",\"start\":"
              "\"0,30 * * * *\",\"end\":\"15,45 * * * *\",\"desiredReplicas\":\"1\"}}]}",
              &so, &err),
        0);
    assert_string_equal(so.triggers[0].spec.metric_name, "s0-cron-Etc-UTC-00xxThu-5923xxThu");
    assert_string_equal(so.triggers[1].spec.metric_name, "s1-cron-Etc-UTC-0xSl2xxx-01-23Sl2xxx");
    assert_string_equal(so.triggers[2].spec.metric_name, "s2-cron-Etc-UTC-0Cm30xxxx-15Cm45xxxx");
    assert_true(so.triggers[0].spec.target == 1);
}

static void expect_error(const char *spec, int code, const char *msg)
{
    so_t so;
    errtext_t err = {0};
    assert_int_equal(parse(spec, &so, &err), code);
    if (!strstr(err.text, msg))
        fail_msg("error \"%s\" does not contain \"%s\"", err.text, msg);
}

static void test_so_parse_errors_name_the_field(void **state)
{
    expect_error("{\"scaleTargetRef\":{},\"triggers\":[" REDIS "]}", -EINVAL,
                 "ScaledObject.spec.scaleTargetRef.name is missing");
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"minReplicaCount\":5,"
                 "\"maxReplicaCount\":2,\"triggers\":[" REDIS "]}",
                 -EINVAL, "MinReplicaCount=5 must be less than MaxReplicaCount=2");
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"minReplicaCount\":2,"
                 "\"idleReplicaCount\":2,\"triggers\":[" REDIS "]}",
                 -EINVAL, "IdleReplicaCount=2 must be less than MinReplicaCount=2");
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[]}", -EINVAL,
                 "at least one trigger");
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"redis\","
                 "\"metadata\":{}}]}",
                 -EINVAL, "spec.triggers[0]: metadata.listName: no list name given");
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"redis\","
                 "\"metadata\":{\"listName\":\"l\",\"listLength\":\"x\"}}]}",
                 -EINVAL, "metadata.listLength");
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"redis\","
                 "\"metricType\":\"Utilization\",\"metadata\":{\"listName\":\"l\"}}]}",
                 -EINVAL, "'Utilization' metric type is unsupported for external metrics");
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"redis\","
                 "\"name\":\"a\",\"metadata\":{\"listName\":\"l\"}},{\"type\":\"redis\","
                 "\"name\":\"a\",\"metadata\":{\"listName\":\"m\"}}]}",
                 -EINVAL, "triggerName \"a\" is defined multiple times");
    expect_error(
        "{\"scaleTargetRef\":{\"name\":\"w\"},\"pollingInterval\":\"x\",\"triggers\":[" REDIS "]}",
        -EINVAL, "spec.pollingInterval");
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"cron\","
                 "\"useCachedMetrics\":true,\"metadata\":{\"timezone\":\"UTC\",\"start\":"
                 "\"0 * * * *\",\"end\":\"1 * * * *\"}}]}",
                 -EINVAL, "property \"useCachedMetrics\" is not supported for \"cron\" scaler");
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"redis\","
                 "\"metadata\":{\"listName\":7}}]}",
                 -EINVAL, "spec.triggers[0].metadata.listName: not a string");
}

static void expect_step(const char *spec, so_step_t step)
{
    static so_t so;
    errtext_t err = {0};
    int r = parse(spec, &so, &err);
    if (step == SO_STEP_NONE)
        assert_int_equal(r, 0);
    else
        assert_true(r < 0);
    assert_int_equal(so.failed_step, step);
}

/* Which reconcile step an error belongs to decides the Ready message's prefix and its order. */
static void test_so_parse_failed_step_follows_keda_order(void **state)
{
    expect_step("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[" REDIS "]}", SO_STEP_NONE);
    expect_step("{\"scaleTargetRef\":{},\"triggers\":[" REDIS "]}", SO_STEP_TARGET);
    /* bounds come before the triggers, even an unsupported one */
    expect_step("{\"scaleTargetRef\":{\"name\":\"w\"},\"minReplicaCount\":1,"
                "\"idleReplicaCount\":1,\"triggers\":[{\"type\":\"kafka\"}]}",
                SO_STEP_BOUNDS);
    expect_step("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"kafka\"}]}",
                SO_STEP_UNSUPPORTED);
    expect_step("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"redis\","
                "\"name\":\"a\",\"metadata\":{\"listName\":\"l\"}},{\"type\":\"redis\","
                "\"name\":\"a\",\"metadata\":{\"listName\":\"m\"}}]}",
                SO_STEP_TRIGGERS);
    expect_step("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"redis\","
                "\"metadata\":{}}]}",
                SO_STEP_SCALERS);
}

static void test_so_parse_unsupported_type_is_eopnotsupp(void **state)
{
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"kafka\","
                 "\"metadata\":{}}]}",
                 -EOPNOTSUPP, "scaler type kafka is not supported by ckeda");
}

static void test_so_parse_too_many_triggers_is_e2big(void **state)
{
    so_t so;
    errtext_t err = {0};
    cJSON *o = so_json("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[" REDIS "," REDIS "]}");
    assert_int_equal(so_parse(o, 1, &so, &err), -E2BIG);
    assert_non_null(strstr(err.text, "max-triggers-per-scaledobject"));
    cJSON_Delete(o);
}

static void test_so_parse_hostile_input_never_crashes(void **state)
{
    const char *bad[] = {"[]", "{}", "{\"metadata\":7}", "{\"metadata\":{\"name\":[]}}",
                         "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\"},\"spec\":null}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *o = cJSON_Parse(bad[i]);
        so_t so;
        errtext_t err = {0};
        assert_true(so_parse(o, 64, &so, &err) < 0);
        assert_true(err.text[0] != '\0');
        cJSON_Delete(o);
    }
}

static cJSON *so_annotated(const char *annotations)
{
    char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"metadata\":{\"name\":\"orders\",\"namespace\":\"apps\",\"annotations\":{%s}},"
             "\"spec\":{\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[" REDIS "]}}",
             annotations);
    cJSON *o = cJSON_Parse(buf);
    assert_non_null(o);
    return o;
}

static so_pause_t pause_of(const char *annotations)
{
    cJSON *o = so_annotated(annotations);
    so_t so;
    errtext_t err = {0};

    assert_int_equal(so_parse(o, 64, &so, &err), 0);
    cJSON_Delete(o);
    return so.pause;
}

/* KEDA's getBoolAnnotation: absent false, ParseBool's spellings, anything else true. */
static void test_so_parse_pause_annotations_read_as_keda(void **state)
{
    so_pause_t p = pause_of("");
    assert_false(p.paused || p.scale_in || p.scale_out || p.force_activation);
    assert_true(pause_of("\"autoscaling.keda.sh/paused\":\"true\"").paused);
    assert_true(pause_of("\"autoscaling.keda.sh/paused\":\"T\"").paused);
    assert_true(pause_of("\"autoscaling.keda.sh/paused\":\"yes\"").paused); /* not a bool */
    assert_false(pause_of("\"autoscaling.keda.sh/paused\":\"false\"").paused);
    assert_false(pause_of("\"autoscaling.keda.sh/paused\":\"0\"").paused);
    assert_true(pause_of("\"autoscaling.keda.sh/paused-scale-in\":\"1\"").scale_in);
    assert_true(pause_of("\"autoscaling.keda.sh/paused-scale-out\":\"\"").scale_out);
    assert_true(pause_of("\"autoscaling.keda.sh/force-activation\":\"true\"").force_activation);
    p = pause_of("\"autoscaling.keda.sh/paused-replicas\":\"3\"");
    assert_true(p.paused && p.has_replicas && !p.replicas_invalid);
    assert_int_equal(p.replicas, 3);
    /* present pauses even with paused=false; a bad count pauses and is reported later */
    p = pause_of("\"autoscaling.keda.sh/paused\":\"false\","
                 "\"autoscaling.keda.sh/paused-replicas\":\"x\"");
    assert_true(p.paused && p.replicas_invalid && !p.has_replicas);
    assert_true(pause_of("\"autoscaling.keda.sh/paused-replicas\":\"-1\"").replicas_invalid);
    assert_true(
        pause_of("\"autoscaling.keda.sh/paused-replicas\":\"2147483648\"").replicas_invalid);
    assert_true(pause_of("\"autoscaling.keda.sh/paused-replicas\":\"\"").replicas_invalid);
    assert_true(pause_of("\"autoscaling.keda.sh/paused-replicas\":\" 1\"").replicas_invalid);
}

/* paused-scale-in / -out: the HPA's direction gets selectPolicy Disabled, the rest kept. */
static void test_watch_hpa_build_paused_directions_disabled(void **state)
{
    cJSON *o = so_annotated("\"autoscaling.keda.sh/paused-scale-in\":\"true\","
                            "\"autoscaling.keda.sh/paused-scale-out\":\"true\"");
    so_t so;
    errtext_t err = {0};
    const char *s;

    assert_int_equal(so_parse(o, 64, &so, &err), 0);
    cJSON *hpa = watch_hpa_build(&so);
    assert_int_equal(jsonu_get_string(hpa, "spec.behavior.scaleDown.selectPolicy", 0, &s, NULL), 0);
    assert_string_equal(s, "Disabled");
    assert_int_equal(jsonu_get_string(hpa, "spec.behavior.scaleUp.selectPolicy", 0, &s, NULL), 0);
    assert_string_equal(s, "Disabled");
    cJSON_Delete(hpa);
    cJSON_Delete(o);
    o = so_json("{\"scaleTargetRef\":{\"name\":\"web\"},\"advanced\":{\"horizontalPodAutoscaler"
                "Config\":{\"behavior\":{\"scaleDown\":{\"stabilizationWindowSeconds\":5}}}},"
                "\"triggers\":[" REDIS "]}");
    assert_int_equal(so_parse(o, 64, &so, &err), 0);
    hpa = watch_hpa_build(&so);
    assert_null(jsonu_lookup(hpa, "spec.behavior.scaleDown.selectPolicy"));
    so.pause.scale_in = true;
    cJSON_Delete(hpa);
    hpa = watch_hpa_build(&so);
    assert_int_equal(
        jsonu_lookup(hpa, "spec.behavior.scaleDown.stabilizationWindowSeconds")->valueint, 5);
    assert_int_equal(jsonu_get_string(hpa, "spec.behavior.scaleDown.selectPolicy", 0, &s, NULL), 0);
    assert_string_equal(s, "Disabled");
    assert_null(jsonu_lookup(hpa, "spec.behavior.scaleUp"));
    cJSON_Delete(hpa);
    cJSON_Delete(o);
}

static void test_watch_hpa_build_shape_is_keda(void **state)
{
    cJSON *o = so_json("{\"scaleTargetRef\":{\"name\":\"web\"},\"minReplicaCount\":0,"
                       "\"maxReplicaCount\":4,\"advanced\":{\"horizontalPodAutoscalerConfig\":"
                       "{\"behavior\":{\"scaleDown\":{\"stabilizationWindowSeconds\":5}}}},"
                       "\"triggers\":[" REDIS "]}");
    so_t so;
    errtext_t err = {0};
    assert_int_equal(so_parse(o, 64, &so, &err), 0);
    cJSON *hpa = watch_hpa_build(&so);
    const char *s;

    assert_int_equal(jsonu_get_string(hpa, "metadata.name", 0, &s, NULL), 0);
    assert_string_equal(s, "keda-hpa-orders");
    assert_int_equal(
        jsonu_get_string(hpa, "metadata.labels[\"app.kubernetes.io/managed-by\"]", 0, &s, NULL), 0);
    assert_string_equal(s, "keda-operator");
    assert_int_equal(jsonu_get_string(hpa, "metadata.labels.team", 0, &s, NULL), 0);
    assert_null(jsonu_lookup(hpa, "metadata.labels.drop"));
    assert_true(cJSON_IsTrue(jsonu_lookup(hpa, "metadata.ownerReferences[0].controller")));
    assert_int_equal(jsonu_lookup(hpa, "spec.minReplicas")->valueint, 1);
    assert_int_equal(jsonu_lookup(hpa, "spec.maxReplicas")->valueint, 4);
    assert_int_equal(jsonu_get_string(hpa, "spec.metrics[0].external.metric.name", 0, &s, NULL), 0);
    assert_string_equal(s, "s0-redis-mylist");
    assert_int_equal(jsonu_get_string(hpa,
                                      "spec.metrics[0].external.metric.selector.matchLabels"
                                      "[\"scaledobject.keda.sh/name\"]",
                                      0, &s, NULL),
                     0);
    assert_string_equal(s, "orders");
    assert_int_equal(
        jsonu_get_string(hpa, "spec.metrics[0].external.target.averageValue", 0, &s, NULL), 0);
    assert_string_equal(s, "5");
    assert_int_equal(
        jsonu_lookup(hpa, "spec.behavior.scaleDown.stabilizationWindowSeconds")->valueint, 5);
    cJSON_Delete(hpa);
    cJSON_Delete(o);
}

/* getScaledObjectMetricSpecs with scalingModifiers: one External metric, composite-metric, with
 * the object's selector and the modifiers' target and metricType. */
static void test_watch_hpa_build_modifiers_one_composite_metric(void **state)
{
    cJSON *o = so_json("{\"scaleTargetRef\":{\"name\":\"web\"},\"advanced\":{"
                       "\"scalingModifiers\":{\"formula\":\"a + b\",\"target\":\"2.0005\","
                       "\"metricType\":\"Value\"}},\"triggers\":[" REDIS "," REDIS "]}");
    so_t so;
    errtext_t err = {0};
    const char *s;

    assert_int_equal(so_parse(o, 64, &so, &err), 0);
    cJSON *hpa = watch_hpa_build(&so);
    assert_int_equal(cJSON_GetArraySize(jsonu_lookup(hpa, "spec.metrics")), 1);
    assert_int_equal(jsonu_get_string(hpa, "spec.metrics[0].type", 0, &s, NULL), 0);
    assert_string_equal(s, "External");
    assert_int_equal(jsonu_get_string(hpa, "spec.metrics[0].external.metric.name", 0, &s, NULL), 0);
    assert_string_equal(s, "composite-metric");
    assert_int_equal(jsonu_get_string(hpa,
                                      "spec.metrics[0].external.metric.selector.matchLabels"
                                      "[\"scaledobject.keda.sh/name\"]",
                                      0, &s, NULL),
                     0);
    assert_string_equal(s, "orders");
    assert_int_equal(jsonu_get_string(hpa, "spec.metrics[0].external.target.type", 0, &s, NULL), 0);
    assert_string_equal(s, "Value");
    /* NewMilliQuantity(int64(2.0005 * 1000)) */
    assert_int_equal(jsonu_get_string(hpa, "spec.metrics[0].external.target.value", 0, &s, NULL),
                     0);
    assert_string_equal(s, "2");
    cJSON_Delete(hpa);
    cJSON_Delete(o);
}

/* cpu and memory: Resource/ContainerResource metrics sorted by type around the External ones,
 * KEDA's metadata errors, no External metric name. */
static void test_watch_hpa_build_resource_metrics_sorted_by_type(void **state)
{
    cJSON *o = so_json("{\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":["
                       "{\"type\":\"cpu\",\"metricType\":\"Utilization\","
                       "\"metadata\":{\"value\":\" 60 \"}}," REDIS ","
                       "{\"type\":\"memory\",\"metricType\":\"AverageValue\","
                       "\"metadata\":{\"value\":\"0.5Gi\",\"containerName\":\"app\"}}]}");
    static const char *const types[] = {"ContainerResource", "External", "Resource"};
    so_t so;
    errtext_t err = {0};
    const char *s;
    double n;

    assert_int_equal(so_parse(o, 64, &so, &err), 0);
    assert_true(so.triggers[0].spec.is_resource && !so.triggers[0].spec.metric_name[0]);
    assert_int_equal(so.triggers[0].metric_type, SHM_METRIC_UTILIZATION);
    cJSON *hpa = watch_hpa_build(&so);
    assert_int_equal(cJSON_GetArraySize(jsonu_lookup(hpa, "spec.metrics")), 3);
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "spec.metrics[%d].type", i);
        assert_int_equal(jsonu_get_string(hpa, path, 0, &s, NULL), 0);
        assert_string_equal(s, types[i]);
    }
    assert_int_equal(
        jsonu_get_string(hpa, "spec.metrics[0].containerResource.container", 0, &s, NULL), 0);
    assert_string_equal(s, "app");
    assert_int_equal(
        jsonu_get_string(hpa, "spec.metrics[0].containerResource.target.averageValue", 0, &s, NULL),
        0);
    assert_string_equal(s, "512Mi");
    assert_int_equal(jsonu_get_string(hpa, "spec.metrics[2].resource.name", 0, &s, NULL), 0);
    assert_string_equal(s, "cpu");
    assert_int_equal(
        jsonu_get_double(hpa, "spec.metrics[2].resource.target.averageUtilization", &n, NULL), 0);
    assert_true(n == 60);
    cJSON_Delete(hpa);
    cJSON_Delete(o);

    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"cpu\","
                 "\"metadata\":{\"value\":\"50\"}}]}",
                 -EINVAL, "spec.triggers[0]: metricType: unknown metric type: , allowed values");
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"cpu\","
                 "\"metricType\":\"Value\",\"metadata\":{\"value\":\"50\"}}]}",
                 -EINVAL, "unknown metric type: Value, allowed values");
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"memory\","
                 "\"metricType\":\"Utilization\",\"metadata\":{\"value\":\"3000000000\"}}]}",
                 -EINVAL, "value out of range");
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"memory\","
                 "\"metricType\":\"AverageValue\",\"metadata\":{}}]}",
                 -EINVAL, "metadata.value: missing required parameter");
    expect_error("{\"scaleTargetRef\":{\"name\":\"w\"},\"triggers\":[{\"type\":\"cpu\","
                 "\"metricType\":\"AverageValue\",\"metadata\":{\"value\":\"1\","
                 "\"type\":\"AverageValue\"}}]}",
                 -EINVAL, "The 'type' setting is DEPRECATED");
}

static void test_watch_hpa_needs_update_ignores_server_defaults(void **state)
{
    cJSON *o = so_json("{\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[" REDIS "]}");
    so_t so;
    errtext_t err = {0};
    assert_int_equal(so_parse(o, 64, &so, &err), 0);
    cJSON *want = watch_hpa_build(&so), *live = cJSON_Duplicate(want, true);

    assert_false(watch_hpa_needs_update(want, live));
    /* what the API server adds is not a difference */
    cJSON_AddStringToObject(cJSON_GetObjectItem(live, "metadata"), "resourceVersion", "9");
    cJSON_AddObjectToObject(live, "status");
    assert_false(watch_hpa_needs_update(want, live));
    /* a changed target is */
    cJSON *tgt = (cJSON *)jsonu_lookup(live, "spec.metrics[0].external.target");
    cJSON_ReplaceItemInObject(tgt, "averageValue", cJSON_CreateString("6"));
    assert_true(watch_hpa_needs_update(want, live));
    cJSON_Delete(live);
    /* KEDA compares labels as a derivative: a label someone else added is kept... */
    live = cJSON_Duplicate(want, true);
    cJSON_AddStringToObject((cJSON *)jsonu_lookup(live, "metadata.labels"), "x", "y");
    assert_false(watch_hpa_needs_update(want, live));
    /* ... but a changed one is a difference */
    cJSON_ReplaceItemInObject((cJSON *)jsonu_lookup(live, "metadata.labels"), "team",
                              cJSON_CreateString("b"));
    assert_true(watch_hpa_needs_update(want, live));
    cJSON_Delete(live);
    /* a behavior someone else added is a difference (compared whole) */
    live = cJSON_Duplicate(want, true);
    cJSON_AddObjectToObject(cJSON_GetObjectItem(live, "spec"), "behavior");
    assert_true(watch_hpa_needs_update(want, live));
    cJSON_Delete(live);
    cJSON_Delete(want);
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_so_parse_defaults_are_keda),
        cmocka_unit_test(test_so_parse_metric_names_are_keda_golden),
        cmocka_unit_test(test_so_parse_cron_metric_names_are_keda_golden),
        cmocka_unit_test(test_so_parse_errors_name_the_field),
        cmocka_unit_test(test_so_parse_failed_step_follows_keda_order),
        cmocka_unit_test(test_so_parse_unsupported_type_is_eopnotsupp),
        cmocka_unit_test(test_so_parse_too_many_triggers_is_e2big),
        cmocka_unit_test(test_so_parse_hostile_input_never_crashes),
        cmocka_unit_test(test_so_parse_pause_annotations_read_as_keda),
        cmocka_unit_test(test_watch_hpa_build_paused_directions_disabled),
        cmocka_unit_test(test_watch_hpa_build_shape_is_keda),
        cmocka_unit_test(test_watch_hpa_build_modifiers_one_composite_metric),
        cmocka_unit_test(test_watch_hpa_build_resource_metrics_sorted_by_type),
        cmocka_unit_test(test_watch_hpa_needs_update_ignores_server_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
