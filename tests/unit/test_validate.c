/*
 * validate: KEDA's admission rules with KEDA's messages and reason labels, ckeda's reconcile
 * checks reported beside them, and the one verdict a pair of conflicting objects gets whichever
 * side is asked. The cluster state comes from in-memory lists through validate_cluster_t (the
 * interface the webhook and `ckeda validate --cluster` back with the API server's lists).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIS "{\"type\":\"redis\",\"metadata\":{\"listName\":\"l\",\"address\":\"r:6379\"}}"
#define REDIS_N(n)                                                                                 \
    "{\"type\":\"redis\",\"name\":\"" n                                                            \
    "\",\"metadata\":{\"listName\":\"l\",\"address\":\"r:6379\"}}"
#define CPU "{\"type\":\"cpu\",\"metricType\":\"AverageValue\",\"metadata\":{\"value\":\"50\"}}"
#define CRON                                                                                       \
    "{\"type\":\"cron\",\"metadata\":{\"timezone\":\"UTC\",\"start\":\"0 * * * *\",\"end\":\"5 * " \
    "* * *\",\"desiredReplicas\":\"2\"}}"

static cJSON *obj_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static cJSON *obj_of(const char *fmt, ...)
{
    static char buf[65536];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_Parse(buf);
    assert_non_null(o);
    return o;
}

/* A ScaledObject named name in namespace apps with the given spec members. */
static cJSON *so_of(const char *name, const char *spec)
{
    return obj_of("{\"apiVersion\":\"keda.sh/v1alpha1\",\"kind\":\"ScaledObject\",\"metadata\":"
                  "{\"name\":\"%s\",\"namespace\":\"apps\"},\"spec\":{%s}}",
                  name, spec);
}

static int check(cJSON *o, const validate_cluster_t *cl, validate_report_t *rep)
{
    int r = validate_object(o, cl, rep);
    for (unsigned i = 0; i < rep->n; i++) { /* invariants every caller relies on */
        assert_non_null(rep->findings[i].reason);
        assert_true(rep->findings[i].reason[0]);
        assert_true(rep->findings[i].message[0]);
    }
    cJSON_Delete(o);
    return r;
}

static const validate_finding_t *find(const validate_report_t *rep, const char *reason)
{
    for (unsigned i = 0; i < rep->n; i++)
        if (strcmp(rep->findings[i].reason, reason) == 0)
            return &rep->findings[i];
    return NULL;
}

static void assert_only(const validate_report_t *rep, const char *reason, const char *message)
{
    const validate_finding_t *f = find(rep, reason);
    if (!f)
        fail_msg("no finding %s (first: %s: %s)", reason, rep->n ? rep->findings[0].reason : "-",
                 rep->n ? rep->findings[0].message : "-");
    assert_int_equal(rep->errors, 1);
    assert_false(f->warning);
    if (message)
        assert_string_equal(f->message, message);
}

static void test_validate_scaledobject_valid_offline(void **state)
{
    validate_report_t rep;

    assert_int_equal(check(so_of("orders", "\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":"
                                           "[" REDIS "]"),
                           NULL, &rep),
                     0);
    assert_int_equal(rep.n, 0);
    assert_true(rep.cluster_rules_skipped);
}

static void test_validate_scaledobject_min_above_max(void **state)
{
    validate_report_t rep;

    assert_int_equal(check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"minReplicaCount\":"
                                      "5,\"maxReplicaCount\":2,\"triggers\":[" REDIS "]"),
                           NULL, &rep),
                     1);
    /* so_parse reports the same problem: only KEDA's finding stays */
    assert_only(&rep, "incorrect-replicas",
                "MinReplicaCount=5 must be less than MaxReplicaCount=2");
    assert_string_equal(rep.findings[0].field, "spec.minReplicaCount");
}

static void test_validate_scaledobject_idle_not_below_min(void **state)
{
    validate_report_t rep;

    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"minReplicaCount\":2,"
                     "\"idleReplicaCount\":2,\"triggers\":[" REDIS "]"),
          NULL, &rep);
    assert_only(&rep, "incorrect-replicas",
                "IdleReplicaCount=2 must be less than MinReplicaCount=2");
    /* KEDA's GetHPAMinReplicas: an explicit 0 counts as 1 */
    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"minReplicaCount\":0,"
                     "\"idleReplicaCount\":1,\"triggers\":[" REDIS "]"),
          NULL, &rep);
    assert_only(&rep, "incorrect-replicas",
                "IdleReplicaCount=1 must be less than MinReplicaCount=1");
}

static void test_validate_scaledobject_fallback_negative(void **state)
{
    validate_report_t rep;

    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"fallback\":{\"failureThreshold\":-1,"
                     "\"replicas\":2},\"triggers\":[" REDIS "]"),
          NULL, &rep);
    assert_only(&rep, "incorrect-fallback",
                "FailureThreshold=-1 & Replicas=2 must both be greater than or equal to 0");
}

static void test_validate_scaledobject_fallback_only_cpu(void **state)
{
    validate_report_t rep;

    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"minReplicaCount\":1,\"fallback\":{"
                     "\"failureThreshold\":3,\"replicas\":2},\"triggers\":[" CPU "]"),
          NULL, &rep);
    assert_non_null(find(&rep, "incorrect-fallback"));
    assert_string_equal(find(&rep, "incorrect-fallback")->message,
                        "at least one trigger (that is not cpu or memory) has to have the "
                        "`AverageValue` type for the fallback to be enabled");
    assert_null(find(&rep, "unsupported-scaler")); /* ckeda serves cpu and memory */
}

static void test_validate_scaledobject_name_limits(void **state)
{
    char n63[64], n64[65], n55[56], spec[512];
    validate_report_t rep;

    memset(n63, 'a', 63), n63[63] = '\0';
    memset(n64, 'a', 64), n64[64] = '\0';
    memset(n55, 'a', 55), n55[55] = '\0';
    snprintf(
        spec, sizeof spec,
        "\"scaleTargetRef\":{\"name\":\"web\"},\"advanced\":{\"horizontalPodAutoscalerConfig\":"
        "{\"name\":\"short\"}},\"triggers\":[" REDIS "]");
    assert_int_equal(check(so_of(n63, spec), NULL, &rep), 0);
    check(so_of(n64, spec), NULL, &rep);
    assert_only(
        &rep, "name-too-long",
        "scaledobject name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" "
        "is 64 characters long; must be no more than 63 characters because it is used as "
        "the \"scaledobject.keda.sh/name\" label value");
    /* keda-hpa- + 55 = 64 */
    check(so_of(n55, "\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[" REDIS "]"), NULL, &rep);
    assert_only(&rep, "hpa-name-too-long", NULL);
    assert_non_null(strstr(rep.findings[0].message, "derived from scaledobject is 64 characters"));
}

static void test_validate_scaledobject_duplicate_trigger_names(void **state)
{
    validate_report_t rep;

    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[" REDIS_N(
                         "a") "," REDIS_N("b") "," REDIS_N("a") "]"),
          NULL, &rep);
    assert_only(&rep, "incorrect-triggers",
                "triggerName \"a\" is defined multiple times in the ScaledObject/ScaledJob, but it "
                "must be unique");
    assert_string_equal(rep.findings[0].field, "spec.triggers[2].name");
}

static void test_validate_scaledobject_cached_metrics_on_cron(void **state)
{
    validate_report_t rep;

    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[{\"type\":\"cron\","
                     "\"useCachedMetrics\":true,\"metadata\":{\"timezone\":\"UTC\",\"start\":\"0 * "
                     "* * *\",\"end\":\"5 * * * *\",\"desiredReplicas\":\"2\"}}]"),
          NULL, &rep);
    assert_only(&rep, "incorrect-triggers",
                "property \"useCachedMetrics\" is not supported for \"cron\" scaler");
}

static void test_validate_scaledobject_no_triggers(void **state)
{
    validate_report_t rep;

    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[]"), NULL, &rep);
    assert_only(&rep, "incorrect-triggers", "no triggers defined in the ScaledObject/ScaledJob");
}

#define SM(x) "\"scaleTargetRef\":{\"name\":\"web\"},\"advanced\":{\"scalingModifiers\":{" x "}},"

static void test_validate_scaledobject_modifiers(void **state)
{
    validate_report_t rep;

    check(so_of("o", SM("\"formula\":\"a + 1\"") "\"triggers\":[" REDIS_N("a") "]"), NULL, &rep);
    assert_only(
        &rep, "scaling-modifiers",
        "error validating formula in ScalingModifiers: formula is given but target is empty");
    check(so_of("o", SM("\"target\":\"2\"") "\"triggers\":[" REDIS_N("a") "]"), NULL, &rep);
    assert_only(&rep, "scaling-modifiers", "error ScalingModifiers.Formula is mandatory");
    check(so_of("o",
                SM("\"formula\":\"nope + 1\",\"target\":\"2\"") "\"triggers\":[" REDIS_N("a") "]"),
          NULL, &rep);
    assert_only(&rep, "scaling-modifiers", NULL);
    assert_non_null(
        strstr(rep.findings[0].message, "error validating formula in ScalingModifiers: "));
    check(so_of("o", SM("\"formula\":\"a\",\"target\":\"0\"") "\"triggers\":[" REDIS_N("a") "]"),
          NULL, &rep);
    assert_only(&rep, "scaling-modifiers", NULL);
    assert_non_null(strstr(rep.findings[0].message,
                           "error validating target in ScalingModifiers: "
                           "error converting target for scalingModifiers"));
    check(so_of("o", SM("\"formula\":\"a\",\"target\":\"x1\"") "\"triggers\":[" REDIS_N("a") "]"),
          NULL, &rep);
    assert_only(&rep, "scaling-modifiers", NULL);
    check(
        so_of("o",
              SM("\"formula\":\"a\",\"target\":\"2\",\"metricType\":\"Utilization\"") "\"triggers\""
                                                                                      ":[" REDIS_N(
                                                                                          "a") "]"),
        NULL, &rep);
    assert_non_null(find(&rep, "scaling-modifiers"));
    assert_string_equal(find(&rep, "scaling-modifiers")->message,
                        "error validating target in ScalingModifiers: error trigger type is "
                        "Utilization, but it needs to be AverageValue or Value for external "
                        "metrics");
}

static void test_validate_scaledobject_fallback_modifiers_without_formula(void **state)
{
    validate_report_t rep;

    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"fallback\":{\"failureThreshold\":3,"
                     "\"replicas\":2,\"behavior\":\"scalingModifiers\"},\"triggers\":[" REDIS "]"),
          NULL, &rep);
    assert_non_null(find(&rep, "scaling-modifiers-fallback"));
    assert_string_equal(find(&rep, "scaling-modifiers-fallback")->message,
                        "scalingModifiers fallback behavior requires scalingModifiers.formula to "
                        "be defined");
}

static void test_validate_scaledobject_warnings(void **state)
{
    validate_report_t rep;

    assert_int_equal(check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"minReplicaCount\":1,"
                                      "\"pollingInterval\":5,\"cooldownPeriod\":60,\"triggers\":"
                                      "[" REDIS "]"),
                           NULL, &rep),
                     0);
    assert_int_equal(rep.n, 2);
    assert_true(find(&rep, "irrelevant-polling-interval")->warning);
    assert_true(find(&rep, "irrelevant-cooldown-period")->warning);
    /* useCachedMetrics keeps pollingInterval relevant; an idle count keeps both */
    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"minReplicaCount\":1,"
                     "\"pollingInterval\":5,\"triggers\":[{\"type\":\"redis\",\"useCachedMetrics\":"
                     "true,\"metadata\":{\"listName\":\"l\",\"address\":\"r:6379\"}}]"),
          NULL, &rep);
    assert_int_equal(rep.n, 0);
    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"minReplicaCount\":2,"
                     "\"idleReplicaCount\":0,\"cooldownPeriod\":5,\"triggers\":[" REDIS "]"),
          NULL, &rep);
    assert_int_equal(rep.n, 0);
}

static void test_validate_scaledobject_unsupported_scaler(void **state)
{
    validate_report_t rep;

    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[{\"type\":\"kafka\","
                     "\"metadata\":{}}]"),
          NULL, &rep);
    assert_only(&rep, "unsupported-scaler",
                "scaler type kafka is not supported by ckeda " CKEDA_VERSION);
}

static void test_validate_scaledobject_too_many_triggers(void **state)
{
    char spec[32768];
    size_t n =
        (size_t)snprintf(spec, sizeof spec, "\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[");
    validate_report_t rep;

    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(spec + n, sizeof spec - n, "%s" REDIS, i ? "," : "");
    snprintf(spec + n, sizeof spec - n, "]");
    check(so_of("o", spec), NULL, &rep);
    assert_only(&rep, "too-many-triggers", NULL);
    assert_string_equal(rep.findings[0].field, "spec.triggers");
}

static void test_validate_scaledobject_missing_target_and_types(void **state)
{
    validate_report_t rep;

    check(so_of("o", "\"scaleTargetRef\":{},\"triggers\":[" REDIS "]"), NULL, &rep);
    assert_only(&rep, "incorrect-target", "ScaledObject.spec.scaleTargetRef.name is missing");
    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"pollingInterval\":\"5\","
                     "\"triggers\":[" REDIS "]"),
          NULL, &rep);
    assert_int_equal(rep.errors, 1);
    assert_string_equal(rep.findings[0].field, "spec.pollingInterval");
    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[{\"type\":\"redis\","
                     "\"metricType\":\"Foo\",\"metadata\":{\"listName\":\"l\"}}]"),
          NULL, &rep);
    assert_only(&rep, "invalid-trigger", NULL);
    assert_non_null(strstr(rep.findings[0].message, "spec.triggers[0].metricType"));
}

static void test_validate_scaledobject_cpu_only_min_zero(void **state)
{
    validate_report_t rep;

    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\"},\"triggers\":[" CPU "]"), NULL, &rep);
    assert_non_null(find(&rep, "scale-to-zero-requirements-not-met"));
    assert_false(find(&rep, "scale-to-zero-requirements-not-met")->warning);
    assert_string_equal(find(&rep, "scale-to-zero-requirements-not-met")->message,
                        "scaledobject has only cpu/memory triggers AND minReplica is 0 (scale to "
                        "zero doesn't work in this case)");
    /* KEDA checks Deployments and StatefulSets only: a warning for anything else */
    check(so_of("o", "\"scaleTargetRef\":{\"name\":\"web\",\"apiVersion\":\"argoproj.io/v1alpha1\","
                     "\"kind\":\"Rollout\"},\"triggers\":[" CPU "]"),
          NULL, &rep);
    assert_true(find(&rep, "scale-to-zero-requirements-not-met")->warning);
}

/* ---- cluster state in memory ---- */

typedef struct mem_cluster {
    cJSON *sos, *hpas, *workload;
    int limitrange;
} mem_cluster_t;

static void mem_each(cJSON *arr, const char *ns, void (*fn)(const cJSON *, void *), void *arg)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        const cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "namespace");
        if (cJSON_IsString(n) && strcmp(n->valuestring, ns) == 0)
            fn(o, arg);
    }
}

static void mem_each_so(void *ud, const char *ns, void (*fn)(const cJSON *, void *), void *arg)
{
    mem_each(((mem_cluster_t *)ud)->sos, ns, fn, arg);
}

static void mem_each_hpa(void *ud, const char *ns, void (*fn)(const cJSON *, void *), void *arg)
{
    mem_each(((mem_cluster_t *)ud)->hpas, ns, fn, arg);
}

static const cJSON *mem_workload(void *ud, const char *kind, const char *ns, const char *name)
{
    return ((mem_cluster_t *)ud)->workload;
}

static int mem_limitrange(void *ud, const char *ns, const char *resource)
{
    return ((mem_cluster_t *)ud)->limitrange;
}

static validate_cluster_t mem_cluster(mem_cluster_t *m)
{
    if (!m->sos)
        m->sos = cJSON_CreateArray();
    if (!m->hpas)
        m->hpas = cJSON_CreateArray();
    return (validate_cluster_t){m, mem_each_so, mem_each_hpa, mem_workload, mem_limitrange};
}

static void mem_free(mem_cluster_t *m)
{
    cJSON_Delete(m->sos);
    cJSON_Delete(m->hpas);
    cJSON_Delete(m->workload);
}

/* A ScaledObject on Deployment target with a creation time ("" for none). */
static cJSON *so_at(const char *name, const char *uid, const char *created, const char *target,
                    const char *extra_meta)
{
    return obj_of("{\"apiVersion\":\"keda.sh/v1alpha1\",\"kind\":\"ScaledObject\",\"metadata\":{"
                  "\"name\":\"%s\",\"namespace\":\"apps\",\"uid\":\"%s\"%s%s%s%s},\"spec\":{"
                  "\"scaleTargetRef\":{\"name\":\"%s\"},\"triggers\":[" REDIS "]}}",
                  name, uid, created[0] ? ",\"creationTimestamp\":\"" : "", created,
                  created[0] ? "\"" : "", extra_meta, target);
}

static void test_validate_cluster_older_scaledobject_wins(void **state)
{
    mem_cluster_t m = {0};
    validate_cluster_t cl = mem_cluster(&m);
    validate_report_t rep;

    cJSON_AddItemToArray(m.sos, so_at("first", "u1", "2024-01-01T00:00:00Z", "web", ""));
    cJSON_AddItemToArray(m.sos, so_at("second", "u2", "2024-01-01T00:00:05Z", "web", ""));
    /* the later one loses, whichever is asked */
    check(so_at("second", "u2", "2024-01-01T00:00:05Z", "web", ""), &cl, &rep);
    assert_only(&rep, "other-scaled-object",
                "the workload 'web' of type 'apps/v1.Deployment' is already managed by the "
                "ScaledObject 'first'");
    assert_false(rep.cluster_rules_skipped);
    assert_int_equal(check(so_at("first", "u1", "2024-01-01T00:00:00Z", "web", ""), &cl, &rep), 0);
    /* a new object (a CREATE, or a file) is the newest */
    check(so_at("aaa", "", "", "web", ""), &cl, &rep);
    assert_only(&rep, "other-scaled-object", NULL);
    /* an update of an existing object is itself, by uid or by name */
    assert_int_equal(check(so_at("first", "", "", "web", ""), &cl, &rep), 0);
    /* another time zone is the same instant: equal times fall back to the name */
    cJSON_AddItemToArray(m.sos, so_at("zeta", "u3", "2024-01-01T01:00:00+01:00", "web", ""));
    assert_int_equal(check(so_at("first", "u1", "2024-01-01T00:00:00Z", "web", ""), &cl, &rep), 0);
    mem_free(&m);
}

static void test_validate_cluster_deleting_and_other_kinds_ignored(void **state)
{
    mem_cluster_t m = {0};
    validate_cluster_t cl = mem_cluster(&m);
    validate_report_t rep;

    cJSON_AddItemToArray(m.sos, so_at("old", "u1", "2020-01-01T00:00:00Z", "web",
                                      ",\"deletionTimestamp\":\"2024-01-01T00:00:00Z\""));
    cJSON_AddItemToArray(m.sos, obj_of("{\"metadata\":{\"name\":\"sts\",\"namespace\":\"apps\","
                                       "\"creationTimestamp\":\"2020-01-01T00:00:00Z\"},\"spec\":"
                                       "{\"scaleTargetRef\":{\"name\":\"web\",\"kind\":"
                                       "\"StatefulSet\"}}}"));
    assert_int_equal(check(so_at("new", "", "", "web", ""), &cl, &rep), 0);
    mem_free(&m);
}

static void test_validate_cluster_same_hpa_name(void **state)
{
    mem_cluster_t m = {0};
    validate_cluster_t cl = mem_cluster(&m);
    validate_report_t rep;

    cJSON_AddItemToArray(m.sos, obj_of("{\"metadata\":{\"name\":\"a\",\"namespace\":\"apps\","
                                       "\"creationTimestamp\":\"2020-01-01T00:00:00Z\"},\"spec\":"
                                       "{\"scaleTargetRef\":{\"name\":\"other\"},\"advanced\":{"
                                       "\"horizontalPodAutoscalerConfig\":{\"name\":\"keda-hpa-b\"}"
                                       "}}}"));
    check(so_at("b", "", "", "web", ""), &cl, &rep);
    assert_only(&rep, "other-scaled-object-hpa",
                "the HPA 'keda-hpa-b' is already managed by the ScaledObject 'a'");
    mem_free(&m);
}

static cJSON *hpa(const char *name, const char *owner, const char *annotations)
{
    return obj_of("{\"metadata\":{\"name\":\"%s\",\"namespace\":\"apps\",\"annotations\":{%s},"
                  "\"ownerReferences\":[%s%s%s]},\"spec\":{\"scaleTargetRef\":{\"apiVersion\":"
                  "\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"web\"}}}",
                  name, annotations, owner[0] ? "{\"kind\":\"ScaledObject\",\"name\":\"" : "",
                  owner, owner[0] ? "\"}" : "");
}

static void test_validate_cluster_foreign_hpa(void **state)
{
    mem_cluster_t m = {0};
    validate_cluster_t cl = mem_cluster(&m);
    validate_report_t rep;

    cJSON_AddItemToArray(m.hpas, hpa("web-hpa", "", ""));
    check(so_at("s", "", "", "web", ""), &cl, &rep);
    assert_only(&rep, "other-hpa",
                "the workload 'web' of type 'apps/v1.Deployment' is already managed by the hpa "
                "'web-hpa'");
    /* transfer without naming the HPA */
    check(so_at("s", "", "", "web",
                ",\"annotations\":{\"scaledobject.keda.sh/transfer-hpa-ownership\":\"true\"}"),
          &cl, &rep);
    assert_only(
        &rep, "transfer-ownership-missing-hpa-name",
        "the existing hpa 'web-hpa' for workload 'web' of type 'apps/v1.Deployment' must be "
        "specified by name in advanced settings to enable ownership transfer");
    /* transfer naming it */
    assert_int_equal(
        check(
            obj_of("{\"apiVersion\":\"keda.sh/v1alpha1\",\"kind\":\"ScaledObject\",\"metadata\":"
                   "{\"name\":\"s\",\"namespace\":\"apps\",\"annotations\":{\"scaledobject.keda."
                   "sh/transfer-hpa-ownership\":\"true\"}},\"spec\":{\"scaleTargetRef\":{\"name\":"
                   "\"web\"},\"advanced\":{\"horizontalPodAutoscalerConfig\":{\"name\":\"web-hpa\""
                   "}},\"triggers\":[" REDIS "]}}"),
            &cl, &rep),
        0);
    cJSON_Delete(m.hpas);
    m.hpas = cJSON_CreateArray();
    /* ignored on request, our own, or another live ScaledObject's (that rule decides) */
    cJSON_AddItemToArray(m.hpas, hpa("x", "", "\"validations.keda.sh/hpa-ownership\":\"false\""));
    cJSON_AddItemToArray(m.hpas, hpa("keda-hpa-s", "s", ""));
    cJSON_AddItemToArray(m.hpas, hpa("keda-hpa-t", "t", ""));
    cJSON_AddItemToArray(m.sos, so_at("t", "u9", "2030-01-01T00:00:00Z", "web", ""));
    assert_int_equal(check(so_at("s", "u8", "2024-01-01T00:00:00Z", "web", ""), &cl, &rep), 0);
    /* an orphan of a ScaledObject that is gone is foreign */
    cJSON_AddItemToArray(m.hpas, hpa("keda-hpa-gone", "gone", ""));
    check(so_at("s", "u8", "2024-01-01T00:00:00Z", "web", ""), &cl, &rep);
    assert_only(&rep, "other-hpa", NULL);
    mem_free(&m);
}

static void test_validate_cluster_missing_requests(void **state)
{
    mem_cluster_t m = {0};
    validate_cluster_t cl = mem_cluster(&m);
    validate_report_t rep;

    m.workload = obj_of("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\","
                        "\"resources\":{\"requests\":{\"memory\":\"1Gi\"}}}]}}}}");
    check(so_at("s", "", "", "web", ""), &cl, &rep); /* no cpu trigger: nothing to check */
    assert_int_equal(rep.errors, 0);
    check(so_of("s", "\"scaleTargetRef\":{\"name\":\"web\"},\"minReplicaCount\":1,\"triggers\":"
                     "[" CPU "]"),
          &cl, &rep);
    assert_non_null(find(&rep, "missing-requests"));
    assert_string_equal(find(&rep, "missing-requests")->message,
                        "the scaledobject has a cpu trigger but the container app doesn't have the "
                        "cpu request defined");
    m.limitrange = 1; /* a LimitRange default satisfies KEDA */
    check(so_of("s", "\"scaleTargetRef\":{\"name\":\"web\"},\"minReplicaCount\":1,\"triggers\":"
                     "[" CPU "]"),
          &cl, &rep);
    assert_null(find(&rep, "missing-requests"));
    mem_free(&m);
}

static cJSON *sj_of(const char *spec)
{
    return obj_of("{\"apiVersion\":\"keda.sh/v1alpha1\",\"kind\":\"ScaledJob\",\"metadata\":{"
                  "\"name\":\"j\",\"namespace\":\"apps\"},\"spec\":{%s}}",
                  spec);
}

#define JOB "\"jobTargetRef\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\"}]}}},"

static void test_validate_scaledjob(void **state)
{
    validate_report_t rep;

    assert_int_equal(check(sj_of(JOB "\"triggers\":[" REDIS "]"), NULL, &rep), 0);
    assert_int_equal(rep.n, 0); /* served: no finding at all */
    check(sj_of("\"triggers\":[" REDIS "]"), NULL, &rep);
    assert_only(&rep, "incorrect-job-target", "ScaledJob.spec.jobTargetRef is missing");
    check(sj_of(JOB "\"triggers\":[]"), NULL, &rep);
    assert_only(&rep, "incorrect-triggers", "no triggers defined in the ScaledObject/ScaledJob");
    check(sj_of(JOB "\"triggers\":[{\"type\":\"redis\",\"metricType\":\"Value\",\"metadata\":{"
                    "\"listName\":\"l\",\"address\":\"r:6379\"}}]"),
          NULL, &rep);
    assert_only(&rep, "incorrect-metric-type", "metricType is set in one of the ScaledJob scaler");
    check(sj_of(JOB "\"triggers\":[{\"type\":\"kafka\",\"metadata\":{}}]"), NULL, &rep);
    assert_only(&rep, "unsupported-scaler", NULL);
}

static void test_validate_scaledjob_many_findings_truncated(void **state)
{
    char spec[32768];
    size_t n = (size_t)snprintf(spec, sizeof spec, JOB "\"triggers\":[");
    validate_report_t rep;

    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(spec + n, sizeof spec - n, "%s{\"type\":\"kafka\",\"metadata\":{}}",
                              i ? "," : "");
    snprintf(spec + n, sizeof spec - n, "]");
    assert_int_equal(check(sj_of(spec), NULL, &rep), 40);
    assert_int_equal(rep.n, VALIDATE_FINDINGS_MAX);
    assert_true(rep.truncated);
}

static cJSON *ta_of(const char *kind, const char *spec)
{
    return obj_of("{\"apiVersion\":\"keda.sh/v1alpha1\",\"kind\":\"%s\",\"metadata\":{\"name\":"
                  "\"t\",\"namespace\":\"apps\"},\"spec\":{%s}}",
                  kind, spec);
}

static void test_validate_triggerauthentication(void **state)
{
    static const struct {
        const char *spec, *reason, *message;
    } cases[] = {
        {"\"podIdentity\":{\"provider\":\"azure-workload\",\"identityId\":\"\"}",
         "incorrect-pod-identity",
         "identityId of PodIdentity should not be empty. If it's set, identityId has to be "
         "different than \"\""},
        {"\"podIdentity\":{\"provider\":\"azure-workload\",\"identityAuthorityHost\":\"h\"}",
         "incorrect-pod-identity",
         "identityTenantID of PodIdentity should not be nil or empty when identityAuthorityHost of "
         "PodIdentity is set"},
        {"\"podIdentity\":{\"provider\":\"azure-workload\",\"identityTenantId\":\"\"}",
         "incorrect-pod-identity",
         "identityTenantId of PodIdentity should not be empty. If it's set, identityTenantId has "
         "to "
         "be different than \"\""},
        {"\"podIdentity\":{\"provider\":\"aws\",\"roleArn\":\"r\",\"identityOwner\":\"workload\"}",
         "incorrect-pod-identity",
         "roleArn of PodIdentity can't be set if KEDA isn't identityOwner"},
        {"\"podIdentity\":{\"provider\":\"aws\",\"externalID\":\"e\"}", "incorrect-pod-identity",
         "externalID of PodIdentity requires roleArn to be set"},
        {"\"oauth2\":{\"type\":\"password\"}", "incorrect-oauth2",
         "oauth2.type must be 'clientCredentials', got 'password'"},
        {"\"oauth2\":{\"type\":\"clientCredentials\",\"tokenUrl\":\"https://t\"}",
         "incorrect-oauth2", "oauth2.clientId is required when oauth2 is configured"},
        {"\"oauth2\":{\"type\":\"clientCredentials\",\"clientId\":\"c\"}", "incorrect-oauth2",
         "oauth2.tokenUrl is required when oauth2 is configured"},
        {"\"oauth2\":{\"type\":\"clientCredentials\",\"clientId\":\"c\",\"tokenUrl\":\"https:///"
         "x\"}",
         "incorrect-oauth2", "oauth2.tokenUrl must be a valid http or https URL"},
        {"\"filePath\":\"creds.json\"", "incorrect-file-path",
         "filePath is only supported for ClusterTriggerAuthentication, got kind: "
         "TriggerAuthentication"},
    };
    validate_report_t rep;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check(ta_of("TriggerAuthentication", cases[i].spec), NULL, &rep);
        assert_only(&rep, cases[i].reason, cases[i].message);
    }
    assert_int_equal(
        check(ta_of("TriggerAuthentication",
                    "\"podIdentity\":{\"provider\":\"aws\",\"roleArn\":\"r\",\"externalID\":\"e\"},"
                    "\"oauth2\":{\"type\":\"clientCredentials\",\"clientId\":\"c\",\"tokenUrl\":"
                    "\"HTTPS://idp.example/token\"}"),
              NULL, &rep),
        0);
    assert_int_equal(
        check(ta_of("ClusterTriggerAuthentication", "\"filePath\":\"a/b.json\""), NULL, &rep), 0);
    check(ta_of("ClusterTriggerAuthentication", "\"filePath\":\"../etc/passwd\""), NULL, &rep);
    assert_only(&rep, "incorrect-file-path", "filePath must be relative and not contain '..'");
}

static void test_validate_object_dispatch(void **state)
{
    validate_report_t rep;

    assert_int_equal(
        check(obj_of("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"}"), NULL, &rep),
        -EOPNOTSUPP);
    assert_int_equal(
        check(obj_of("{\"apiVersion\":\"keda.sh/v1alpha1\",\"kind\":\"Other\"}"), NULL, &rep),
        -EOPNOTSUPP);
    assert_int_equal(check(obj_of("[1]"), NULL, &rep), -EINVAL);
    /* wrong types everywhere: findings, never a crash */
    assert_true(
        check(obj_of("{\"apiVersion\":\"keda.sh/v1alpha1\",\"kind\":\"ScaledObject\","
                     "\"metadata\":[],\"spec\":{\"triggers\":{},\"fallback\":7,\"advanced\":"
                     "\"x\"}}"),
              NULL, &rep) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_scaledobject_valid_offline),
        cmocka_unit_test(test_validate_scaledobject_min_above_max),
        cmocka_unit_test(test_validate_scaledobject_idle_not_below_min),
        cmocka_unit_test(test_validate_scaledobject_fallback_negative),
        cmocka_unit_test(test_validate_scaledobject_fallback_only_cpu),
        cmocka_unit_test(test_validate_scaledobject_name_limits),
        cmocka_unit_test(test_validate_scaledobject_duplicate_trigger_names),
        cmocka_unit_test(test_validate_scaledobject_cached_metrics_on_cron),
        cmocka_unit_test(test_validate_scaledobject_no_triggers),
        cmocka_unit_test(test_validate_scaledobject_modifiers),
        cmocka_unit_test(test_validate_scaledobject_fallback_modifiers_without_formula),
        cmocka_unit_test(test_validate_scaledobject_warnings),
        cmocka_unit_test(test_validate_scaledobject_unsupported_scaler),
        cmocka_unit_test(test_validate_scaledobject_too_many_triggers),
        cmocka_unit_test(test_validate_scaledobject_missing_target_and_types),
        cmocka_unit_test(test_validate_scaledobject_cpu_only_min_zero),
        cmocka_unit_test(test_validate_cluster_older_scaledobject_wins),
        cmocka_unit_test(test_validate_cluster_deleting_and_other_kinds_ignored),
        cmocka_unit_test(test_validate_cluster_same_hpa_name),
        cmocka_unit_test(test_validate_cluster_foreign_hpa),
        cmocka_unit_test(test_validate_cluster_missing_requests),
        cmocka_unit_test(test_validate_scaledjob),
        cmocka_unit_test(test_validate_scaledjob_many_findings_truncated),
        cmocka_unit_test(test_validate_triggerauthentication),
        cmocka_unit_test(test_validate_object_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
