/*
 * ScaledJobs: the parse with KEDA's defaults and reconcile checks, KEDA's per-poll arithmetic
 * (the cases of KEDA's scale_jobs_test.go and the worked examples of keda-docs'
 * scaledjob-spec.md), pending Jobs, the Job KEDA creates and the Jobs it deletes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/json.h"
#include "common/scaledjob.h"
#include "watcher/sjdecide.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SJ_HEAD                                                                                    \
    "{\"apiVersion\":\"keda.sh/v1alpha1\",\"kind\":\"ScaledJob\",\"metadata\":{\"name\":"          \
    "\"worker\",\"namespace\":\"jobs\",\"uid\":\"u-7\",\"generation\":3%s},"

#define JOB_TARGET                                                                                 \
    "\"jobTargetRef\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":"         \
    "\"busybox\"}]}}}"
#define REDIS "{\"type\":\"redis\",\"metadata\":{\"listName\":\"q\",\"address\":\"r:6379\"}}"

/* A ScaledJob with extra metadata members meta (",..." or "") and the given spec. */
static cJSON *sj_json(const char *meta, const char *spec)
{
    char buf[8192];
    snprintf(buf, sizeof buf, SJ_HEAD "\"spec\":%s}", meta, spec);
    cJSON *o = cJSON_Parse(buf);
    assert_non_null(o);
    return o;
}

static int parse_meta(const char *meta, const char *spec, sj_t *sj, errtext_t *err)
{
    cJSON *o = sj_json(meta, spec);
    int r = sj_parse(o, 64, sj, err);
    cJSON_Delete(o); /* borrowed pointers die here: only copied fields are read after */
    return r;
}

static int parse(const char *spec, sj_t *sj, errtext_t *err)
{
    return parse_meta("", spec, sj, err);
}

/* ---- parse ---- */

static void test_sj_parse_defaults_are_keda(void **state)
{
    sj_t *sj = malloc(sizeof *sj);
    errtext_t err = {{0}};

    assert_int_equal(parse("{" JOB_TARGET ",\"triggers\":[" REDIS "]}", sj, &err), 0);
    assert_string_equal(sj->name, "worker");
    assert_string_equal(sj->ns, "jobs");
    assert_int_equal(sj->generation, 3);
    assert_int_equal(sj->polling_interval_s, 30);
    assert_int_equal(sj->successful_history_limit, 100);
    assert_int_equal(sj->failed_history_limit, 100);
    assert_int_equal(sj_min_replicas(sj), 0);
    assert_int_equal(sj_max_replicas(sj), 100);
    assert_false(sj->rollout_gradual);
    assert_string_equal(watch_sj_rollout_propagation(sj), "Background");
    assert_int_equal(sj->scaling.strategy, SJ_STRATEGY_DEFAULT);
    assert_int_equal(sj->scaling.calc, SJ_CALC_MAX);
    assert_int_equal(sj->scaling.deduction, 0);
    assert_int_equal(sj->scaling.npending_conditions, 0);
    assert_false(sj->paused);
    assert_string_equal(sj->env_source_container, "");
    assert_int_equal(sj->ntriggers, 1);
    assert_string_equal(sj->triggers[0].spec.metric_name, "s0-redis-q");
    assert_int_equal(sj->failed_step, SJ_STEP_NONE);
    free(sj);
}

static void test_sj_parse_fields_as_written(void **state)
{
    sj_t *sj = malloc(sizeof *sj);
    errtext_t err = {{0}};

    assert_int_equal(
        parse("{" JOB_TARGET ",\"pollingInterval\":5,\"successfulJobsHistoryLimit\":2,"
              "\"failedJobsHistoryLimit\":0,\"minReplicaCount\":2,\"maxReplicaCount\":7,"
              "\"envSourceContainerName\":\"main\",\"rolloutStrategy\":\"gradual\","
              "\"rollout\":{\"strategy\":\"immediate\",\"propagationPolicy\":\"foreground\"},"
              "\"scalingStrategy\":{\"strategy\":\"custom\",\"customScalingQueueLengthDeduction\":"
              "-2,\"customScalingRunningJobPercentage\":\"0.5\",\"pendingPodConditions\":"
              "[\"Ready\",\"PodScheduled\"],\"multipleScalersCalculation\":\"avg\"},"
              "\"triggers\":[" REDIS "]}",
              sj, &err),
        0);
    assert_int_equal(sj->polling_interval_s, 5);
    assert_int_equal(sj->successful_history_limit, 2);
    assert_int_equal(sj->failed_history_limit, 0);
    assert_int_equal(sj_min_replicas(sj), 2);
    assert_int_equal(sj_max_replicas(sj), 5); /* max - min */
    assert_string_equal(sj->env_source_container, "main");
    assert_true(sj->rollout_gradual); /* the deprecated field wins when set */
    assert_string_equal(watch_sj_rollout_propagation(sj), "Foreground");
    assert_int_equal(sj->scaling.strategy, SJ_STRATEGY_CUSTOM);
    assert_int_equal(sj->scaling.deduction, -2);
    assert_true(sj->scaling.percentage == 0.5);
    assert_int_equal(sj->scaling.calc, SJ_CALC_AVG);
    assert_int_equal(sj->scaling.npending_conditions, 2);
    free(sj);
}

/* ScaledJob.MinReplicaCount() / MaxReplicaCount() (scaledjob_types.go). */
static void test_sj_min_max_replicas_are_keda(void **state)
{
    static const struct {
        const char *counts;
        int64_t min, max;
    } cases[] = {
        {"", 0, 100},
        {"\"minReplicaCount\":10,", 10, 100}, /* max unset: 100, not 90 */
        {"\"maxReplicaCount\":7,", 0, 7},
        {"\"minReplicaCount\":3,\"maxReplicaCount\":7,", 3, 4},
        {"\"minReplicaCount\":9,\"maxReplicaCount\":7,", 7, 7}, /* min > max: both max */
        {"\"minReplicaCount\":7,\"maxReplicaCount\":7,", 7, 0},
    };
    sj_t *sj = malloc(sizeof *sj);
    char spec[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errtext_t err = {{0}};
        snprintf(spec, sizeof spec, "{%s" JOB_TARGET ",\"triggers\":[" REDIS "]}", cases[i].counts);
        assert_int_equal(parse(spec, sj, &err), 0);
        assert_int_equal(sj_min_replicas(sj), cases[i].min);
        assert_int_equal(sj_max_replicas(sj), cases[i].max);
    }
    free(sj);
}

/* NewScalingStrategy: custom with a percentage strconv.ParseFloat rejects is default. */
static void test_sj_parse_custom_percentage_falls_back_as_keda(void **state)
{
    static const struct {
        const char *pct; /* NULL: field absent */
        bool custom;
        double value;
    } cases[] = {
        {NULL, false, 0},         {"", false, 0},
        {"abc", false, 0},        {" 0.5", false, 0},
        {"0.5 ", false, 0},       {"1e400", false, 0}, /* ErrRange */
        {"0x1", false, 0},        {"1_0", false, 0},
        {".", false, 0},          {"+nan", false, 0},
        {"0", true, 0},           {"0.5", true, 0.5},
        {"1.", true, 1},          {".25", true, 0.25},
        {"-1e-1", true, -0.1},    {"0x1p-1", true, 0.5},
        {"1e-400", true, 0}, /* underflow is no error */
        {"+Inf", true, INFINITY}, {"infinity", true, INFINITY},
    };
    sj_t *sj = malloc(sizeof *sj);
    char spec[512], pct[64];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errtext_t err = {{0}};
        snprintf(pct, sizeof pct, ",\"customScalingRunningJobPercentage\":\"%s\"",
                 cases[i].pct ? cases[i].pct : "");
        snprintf(spec, sizeof spec,
                 "{" JOB_TARGET ",\"scalingStrategy\":{\"strategy\":\"custom\"%s},"
                 "\"triggers\":[" REDIS "]}",
                 cases[i].pct ? pct : "");
        assert_int_equal(parse(spec, sj, &err), 0);
        if (sj->scaling.strategy != (cases[i].custom ? SJ_STRATEGY_CUSTOM : SJ_STRATEGY_DEFAULT))
            fail_msg("percentage \"%s\": wrong strategy", cases[i].pct ? cases[i].pct : "(unset)");
        assert_true(sj->scaling.custom_fallback == !cases[i].custom);
        if (cases[i].custom)
            assert_true(sj->scaling.percentage == cases[i].value);
    }
    double nan;
    assert_int_equal(sj_parse_go_float("NaN", &nan), 0);
    assert_true(isnan(nan));
    free(sj);
}

static void test_sj_parse_strategy_and_calc_names(void **state)
{
    static const struct {
        const char *scaling;
        sj_strategy_t strategy;
        sj_calc_t calc;
    } cases[] = {
        {"{\"strategy\":\"accurate\"}", SJ_STRATEGY_ACCURATE, SJ_CALC_MAX},
        {"{\"strategy\":\"eager\",\"multipleScalersCalculation\":\"min\"}", SJ_STRATEGY_EAGER,
         SJ_CALC_MIN},
        {"{\"strategy\":\"default\",\"multipleScalersCalculation\":\"sum\"}", SJ_STRATEGY_DEFAULT,
         SJ_CALC_SUM},
        {"{\"strategy\":\"bogus\",\"multipleScalersCalculation\":\"median\"}", SJ_STRATEGY_DEFAULT,
         SJ_CALC_MAX}, /* KEDA's switch defaults */
    };
    sj_t *sj = malloc(sizeof *sj);
    char spec[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errtext_t err = {{0}};
        snprintf(spec, sizeof spec,
                 "{" JOB_TARGET ",\"scalingStrategy\":%s,\"triggers\":[" REDIS "]}",
                 cases[i].scaling);
        assert_int_equal(parse(spec, sj, &err), 0);
        assert_int_equal(sj->scaling.strategy, cases[i].strategy);
        assert_int_equal(sj->scaling.calc, cases[i].calc);
    }
    free(sj);
}

static void test_sj_parse_errors_name_the_field(void **state)
{
    static const struct {
        const char *spec;
        int r;
        sj_step_t step;
        const char *text;
    } cases[] = {
        {"{\"triggers\":[" REDIS "]}", -EINVAL, SJ_STEP_JOB_TARGET,
         "spec.jobTargetRef: ScaledJob.spec.jobTargetRef not found"},
        {"{\"jobTargetRef\":[],\"triggers\":[" REDIS "]}", -EINVAL, SJ_STEP_JOB_TARGET,
         "spec.jobTargetRef: not an object"},
        {"{" JOB_TARGET "}", -EINVAL, SJ_STEP_TRIGGERS,
         "spec.triggers: no triggers defined in the ScaledObject/ScaledJob"},
        {"{" JOB_TARGET ",\"triggers\":[{\"type\":\"redis\",\"name\":\"a\",\"metadata\":"
         "{\"listName\":\"q\"}},{\"type\":\"redis\",\"name\":\"a\",\"metadata\":{\"listName\":"
         "\"r\"}}]}",
         -EINVAL, SJ_STEP_TRIGGERS, "spec.triggers[1].name: triggerName \"a\" is defined"},
        {"{" JOB_TARGET ",\"triggers\":[{\"type\":\"cron\",\"useCachedMetrics\":true}]}", -EINVAL,
         SJ_STEP_TRIGGERS, "spec.triggers[0].useCachedMetrics: property \"useCachedMetrics\""},
        {"{" JOB_TARGET ",\"triggers\":[{\"type\":\"redis\",\"metadata\":{}}]}", -EINVAL,
         SJ_STEP_SCALERS, "spec.triggers[0]"},
        {"{" JOB_TARGET ",\"triggers\":[" REDIS ",{\"type\":\"redis\",\"metricType\":"
         "\"Value\",\"metadata\":{\"listName\":\"q\"}}]}",
         -EINVAL, SJ_STEP_METRIC_TYPE,
         "spec.triggers[1].metricType: metricType is set in one of the ScaledJob scaler"},
        {"{" JOB_TARGET ",\"triggers\":[{\"type\":\"no-such-scaler\"}]}", -EOPNOTSUPP,
         SJ_STEP_UNSUPPORTED, "scaler type no-such-scaler is not supported by ckeda"},
        {"{" JOB_TARGET ",\"pollingInterval\":0,\"triggers\":[" REDIS "]}", -ERANGE, SJ_STEP_SPEC,
         "spec.pollingInterval"},
        {"{" JOB_TARGET ",\"maxReplicaCount\":\"5\",\"triggers\":[" REDIS "]}", -EINVAL,
         SJ_STEP_SPEC, "spec.maxReplicaCount"},
        {"{" JOB_TARGET ",\"scalingStrategy\":{\"pendingPodConditions\":[\"Ready\",3]},"
         "\"triggers\":[" REDIS "]}",
         -EINVAL, SJ_STEP_SPEC, "spec.scalingStrategy.pendingPodConditions[1]: not a string"},
        {"{" JOB_TARGET ",\"scalingStrategy\":{\"customScalingQueueLengthDeduction\":1.5},"
         "\"triggers\":[" REDIS "]}",
         -ERANGE, SJ_STEP_SPEC, "spec.scalingStrategy.customScalingQueueLengthDeduction"},
    };
    sj_t *sj = malloc(sizeof *sj);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errtext_t err = {{0}};
        int r = parse(cases[i].spec, sj, &err);
        if (r != cases[i].r || sj->failed_step != cases[i].step || !strstr(err.text, cases[i].text))
            fail_msg("case %zu: r=%d step=%d \"%s\"", i, r, sj->failed_step, err.text);
        assert_true(sj_step_message(sj->failed_step)[0] != '\0');
    }
    assert_string_equal(sj_step_message(SJ_STEP_TRIGGERS),
                        "ScaledJob doesn't have correct triggers specification");
    free(sj);
}

static void test_sj_parse_too_many_triggers_is_e2big(void **state)
{
    sj_t *sj = malloc(sizeof *sj);
    errtext_t err = {{0}};
    cJSON *o = sj_json("", "{" JOB_TARGET ",\"triggers\":[" REDIS "," REDIS "," REDIS "]}");

    assert_int_equal(sj_parse(o, 2, sj, &err), -E2BIG);
    assert_int_equal(sj->failed_step, SJ_STEP_TRIGGERS);
    assert_non_null(strstr(err.text, "spec.triggers: 3 triggers"));
    cJSON_Delete(o);
    free(sj);
}

/* Only autoscaling.keda.sh/paused pauses a ScaledJob (NeedToBePausedByAnnotation). */
static void test_sj_parse_pause_annotation_read_as_keda(void **state)
{
    static const struct {
        const char *annotations;
        bool paused;
    } cases[] = {
        {"", false},
        {",\"annotations\":{\"autoscaling.keda.sh/paused\":\"true\"}", true},
        {",\"annotations\":{\"autoscaling.keda.sh/paused\":\"false\"}", false},
        {",\"annotations\":{\"autoscaling.keda.sh/paused\":\"F\"}", false},
        {",\"annotations\":{\"autoscaling.keda.sh/paused\":\"yes\"}", true}, /* not a bool */
        {",\"annotations\":{\"autoscaling.keda.sh/paused-replicas\":\"0\"}", false},
    };
    sj_t *sj = malloc(sizeof *sj);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errtext_t err = {{0}};
        assert_int_equal(
            parse_meta(cases[i].annotations, "{" JOB_TARGET ",\"triggers\":[" REDIS "]}", sj, &err),
            0);
        assert_true(sj->paused == cases[i].paused);
    }
    free(sj);
}

static void test_sj_parse_hostile_input_never_crashes(void **state)
{
    static const char *const inputs[] = {
        "[]",
        "null",
        "{}",
        "{\"metadata\":5}",
        "{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\"}}",
        "{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\"},\"spec\":[]}",
        "{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\"},\"spec\":{\"jobTargetRef\":{},"
        "\"triggers\":[5,null,\"x\"]}}",
        "{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\"},\"spec\":{\"jobTargetRef\":{},"
        "\"scalingStrategy\":7,\"triggers\":{}}}",
    };
    sj_t *sj = malloc(sizeof *sj);

    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        errtext_t err = {{0}};
        cJSON *o = cJSON_Parse(inputs[i]);
        int r = sj_parse(o, 64, sj, &err);
        assert_true(r < 0);
        assert_true(err.text[0] != '\0');
        cJSON_Delete(o);
    }
    free(sj);
}

/* ---- the strategies: KEDA's scale_jobs_test.go ---- */

static sj_scaling_t scaling(sj_strategy_t s, int32_t deduction, double percentage)
{
    return (sj_scaling_t){.strategy = s, .deduction = deduction, .percentage = percentage};
}

/* GetEffectiveMaxScale(maxScale, running, pending, maxReplicaCount, scaleTo=1). */
static int64_t eff(sj_scaling_t s, int64_t max_scale, int64_t running, int64_t pending,
                   int64_t max_replicas)
{
    int64_t scale_to = 1;
    return watch_sj_effective_max(&s, max_scale, running, pending, max_replicas, &scale_to);
}

static void test_watch_sj_effective_max_default_is_keda(void **state)
{
    sj_scaling_t s = scaling(SJ_STRATEGY_DEFAULT, 0, 0);
    int64_t scale_to = 1;

    assert_int_equal(eff(s, 3, 2, 0, 5), 1);
    assert_int_equal(eff(s, 2, 0, 0, 5), 2);
    (void)watch_sj_effective_max(&s, 3, 2, 0, 5, &scale_to);
    assert_int_equal(scale_to, 1); /* unchanged */
}

static void test_watch_sj_effective_max_custom_is_keda(void **state)
{
    assert_int_equal(eff(scaling(SJ_STRATEGY_CUSTOM, 1, 0.5), 3, 2, 0, 5), 1);
    assert_int_equal(eff(scaling(SJ_STRATEGY_CUSTOM, 1, 0.5), 10, 0, 0, 10), 9);
    assert_int_equal(eff(scaling(SJ_STRATEGY_CUSTOM, 2, 0), 3, 2, 0, 5), 1);
    assert_int_equal(eff(scaling(SJ_STRATEGY_CUSTOM, -2, 0), 3, 2, 0, 4), 4); /* capped */
    /* #7798: no deduction given is 0 */
    assert_int_equal(eff(scaling(SJ_STRATEGY_CUSTOM, 0, 0.5), 10, 2, 0, 100), 9);
    assert_int_equal(eff(scaling(SJ_STRATEGY_CUSTOM, 0, 0.5), 10, 0, 0, 100), 10);
    /* int64(float64(3) * 0.5) truncates toward zero */
    assert_int_equal(eff(scaling(SJ_STRATEGY_CUSTOM, 0, 0.5), 10, 3, 0, 100), 9);
    assert_int_equal(eff(scaling(SJ_STRATEGY_CUSTOM, 0, -0.5), 10, 3, 0, 100), 11);
    /* Go's saturating conversion of +Inf (arm64): the wrap-around makes it huge */
    assert_int_equal(eff(scaling(SJ_STRATEGY_CUSTOM, 0, INFINITY), 3, 2, 0, 100), 3 - INT64_MAX);
}

static void test_watch_sj_effective_max_custom_fallback_via_parse(void **state)
{
    sj_t *sj = malloc(sizeof *sj);
    errtext_t err = {{0}};

    /* no parameters at all: default (3 - 2, 2 - 0) */
    assert_int_equal(parse("{" JOB_TARGET
                           ",\"scalingStrategy\":{\"strategy\":\"custom\"},\"triggers\":[" REDIS
                           "]}",
                           sj, &err),
                     0);
    assert_int_equal(eff(sj->scaling, 3, 2, 0, 5), 1);
    assert_int_equal(eff(sj->scaling, 2, 0, 0, 5), 2);
    /* deduction alone, empty percentage: still default (the deduction is not applied) */
    assert_int_equal(parse("{" JOB_TARGET ",\"scalingStrategy\":{\"strategy\":\"custom\","
                           "\"customScalingQueueLengthDeduction\":1,"
                           "\"customScalingRunningJobPercentage\":\"\"},\"triggers\":[" REDIS "]}",
                           sj, &err),
                     0);
    assert_int_equal(sj->scaling.strategy, SJ_STRATEGY_DEFAULT);
    assert_int_equal(eff(sj->scaling, 2, 0, 0, 5), 2);
    free(sj);
}

static void test_watch_sj_effective_max_accurate_is_keda(void **state)
{
    sj_scaling_t s = scaling(SJ_STRATEGY_ACCURATE, 0, 0);

    assert_int_equal(eff(s, 3, 2, 0, 5), 3);
    assert_int_equal(eff(s, 5, 2, 0, 5), 3);
    assert_int_equal(eff(s, 3, 4, 2, 10), 1);
    assert_int_equal(eff(s, 5, 4, 2, 5), 1);
    assert_int_equal(eff(s, 3, 3, 3, 5), 0);
    assert_int_equal(eff(s, 15, 15, 15, 20), 0);
    assert_int_equal(eff(s, 10, 10, 10, 15), 0);
    assert_int_equal(eff(s, 20, 15, 10, 20), 5);
}

static void test_watch_sj_effective_max_eager_is_keda(void **state)
{
    static const struct {
        int64_t max_scale, running, pending, max_replicas, want;
    } cases[] = {
        {4, 3, 0, 10, 4}, {4, 0, 3, 10, 4}, {4, 7, 0, 10, 3}, {4, 1, 6, 10, 3}, {15, 0, 0, 10, 10},
    };
    sj_scaling_t s = scaling(SJ_STRATEGY_EAGER, 0, 0);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t scale_to = 1;
        assert_int_equal(watch_sj_effective_max(&s, cases[i].max_scale, cases[i].running,
                                                cases[i].pending, cases[i].max_replicas, &scale_to),
                         cases[i].want);
        assert_int_equal(scale_to, cases[i].max_replicas);
    }
}

/* ---- the decision ---- */

/* A ScaledJob parsed from counts ("\"maxReplicaCount\":3," ...) and a scalingStrategy. */
static sj_t *sj_with(const char *counts, const char *scaling_json)
{
    sj_t *sj = malloc(sizeof *sj);
    errtext_t err = {{0}};
    char spec[1024];

    snprintf(spec, sizeof spec,
             "{%s" JOB_TARGET ",\"scalingStrategy\":%s,\"triggers\":[" REDIS "]}", counts,
             scaling_json);
    assert_int_equal(parse(spec, sj, &err), 0);
    return sj;
}

static watch_sj_decision_t decide1(const sj_t *sj, double queue, double target, bool active,
                                   int64_t running, int64_t pending)
{
    watch_sj_trig_t t = {.values = &queue, .nvalues = 1, .target = target, .active = active};
    watch_sj_decide_in_t in = {.trig = &t, .ntrig = 1, .running = running, .pending = pending};
    watch_sj_decision_t d;

    watch_sj_decide(sj, &in, &d);
    return d;
}

/* keda-docs scaledjob-spec.md, maxReplicaCount: queue, max, target, running -> Jobs created. */
static void test_watch_sj_decide_docs_max_replica_table(void **state)
{
    static const struct {
        double queue;
        int max;
        double target;
        int64_t running, created;
    } rows[] = {
        {10, 3, 1, 0, 3}, {10, 3, 2, 0, 3}, {10, 3, 1, 1, 2}, {10, 100, 1, 0, 10}, {4, 3, 5, 0, 1},
    };
    char counts[64];

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(counts, sizeof counts, "\"maxReplicaCount\":%d,", rows[i].max);
        sj_t *sj = sj_with(counts, "{}");
        watch_sj_decision_t d =
            decide1(sj, rows[i].queue, rows[i].target, true, rows[i].running, 0);
        assert_true(d.active);
        assert_int_equal(d.create, rows[i].created);
        free(sj);
    }
}

/* keda-docs, minReplicaCount: 2 Jobs running permanently, 3 messages at target 1: "another 3
 * jobs will be created" (max unset: MaxReplicaCount() is 100). */
static void test_watch_sj_decide_docs_min_replica_example(void **state)
{
    sj_t *sj = sj_with("\"minReplicaCount\":2,", "{}");
    watch_sj_decision_t d = decide1(sj, 3, 1, true, 2, 0);

    assert_int_equal(d.create, 3);
    d = decide1(sj, 0, 1, false, 0, 0); /* below min, nothing queued: make up min, active */
    assert_true(d.active);
    assert_int_equal(d.create, 2);
    assert_int_equal(d.scale_to, 2);
    free(sj);
}

/* TestRunningJobCount*MinReplicaCount: getScalingDecision with min 2 (or 1), max 100. */
static void test_watch_sj_decide_min_replica_count_is_keda(void **state)
{
    sj_t *sj = sj_with("\"minReplicaCount\":2,\"maxReplicaCount\":100,", "{}");
    watch_sj_decision_t d = decide1(sj, 0, 1, false, 0, 0);

    assert_int_equal(d.effective_max_scale, 2);
    assert_int_equal(d.scale_to, 2);
    d = decide1(sj, 0, 1, false, 1, 0);
    assert_int_equal(d.effective_max_scale, 1);
    assert_int_equal(d.scale_to, 1);
    free(sj);
    /* min 1, 1 running, queue 2: the strategy runs with running - min = 0 */
    sj = sj_with("\"minReplicaCount\":1,\"maxReplicaCount\":100,", "{}");
    d = decide1(sj, 2, 1, true, 1, 0);
    assert_int_equal(d.effective_max_scale, 2);
    assert_int_equal(d.scale_to, 2);
    assert_int_equal(d.create, 2);
    free(sj);
}

/* keda-docs' eager example (maxReplicaCount 10, value 1): 3 messages then 3 more while the
 * first 3 Jobs run. KEDA's formulas give default 6 Jobs and eager 9 at the last poll, not the
 * docs' 3 and 6 (kedacore/keda#6416: the table does not match the code); ckeda follows the code. */
static void test_watch_sj_decide_docs_eager_example_follows_code(void **state)
{
    sj_t *def = sj_with("\"maxReplicaCount\":10,", "{}");
    sj_t *eager = sj_with("\"maxReplicaCount\":10,", "{\"strategy\":\"eager\"}");

    assert_int_equal(decide1(def, 3, 1, true, 0, 0).create, 3);
    assert_int_equal(decide1(eager, 3, 1, true, 0, 0).create, 3);
    assert_int_equal(decide1(def, 3, 1, true, 3, 0).create, 0);
    assert_int_equal(decide1(eager, 3, 1, true, 3, 0).create, 3);
    assert_int_equal(decide1(def, 6, 1, true, 3, 0).create, 3);
    assert_int_equal(decide1(eager, 6, 1, true, 3, 0).create, 6);
    assert_int_equal(decide1(eager, 6, 1, true, 9, 0).create, 1); /* 10 - 9 slots left */
    free(def);
    free(eager);
}

/* #6157, #7329 / PR #7417: Jobs whose pods are still Pending cover the queue; the next poll must
 * not create the same Jobs again. */
static void test_watch_sj_decide_no_duplicates_while_pending(void **state)
{
    sj_t *acc = sj_with("\"maxReplicaCount\":5,", "{\"strategy\":\"accurate\"}");
    sj_t *eager = sj_with("\"maxReplicaCount\":5,", "{\"strategy\":\"eager\"}");
    watch_sj_decision_t d;

    /* 3 messages, 3 Jobs created last poll, all pending: maxScale + running > max, but
     * maxScale + running - pending is not (before #7417: 5 - 3 = 2 duplicates) */
    d = decide1(acc, 3, 1, true, 3, 3);
    assert_true(d.active);
    assert_int_equal(d.max_scale, 3);
    assert_int_equal(d.create, 0);
    d = decide1(eager, 3, 1, true, 3, 3);
    assert_int_equal(d.create, 0);
    /* below max, pending covering the queue: accurate still creates none */
    free(acc);
    acc = sj_with("\"maxReplicaCount\":100,", "{\"strategy\":\"accurate\"}");
    assert_int_equal(decide1(acc, 3, 1, true, 3, 3).create, 0);
    /* one message more than the pending Jobs: one Job */
    assert_int_equal(decide1(acc, 4, 1, true, 3, 3).create, 1);
    free(acc);
    free(eager);
}

/* The same through the pending rule: the Jobs' pods are Pending (#6157 counted them as 0). */
static void test_watch_sj_decide_pending_from_job_json(void **state)
{
    sj_t *sj = sj_with("\"maxReplicaCount\":5,", "{\"strategy\":\"accurate\"}");
    cJSON *job = cJSON_Parse("{\"metadata\":{\"name\":\"worker-a\"},\"status\":{\"active\":1}}");
    cJSON *pods = cJSON_Parse("[{\"status\":{\"phase\":\"Pending\"}}]");
    int64_t pending = 0;

    for (int i = 0; i < 3; i++)
        pending += watch_sj_job_pending(sj, job, pods);
    assert_int_equal(pending, 3);
    assert_int_equal(decide1(sj, 3, 1, true, 3, pending).create, 0);
    cJSON_Delete(job);
    cJSON_Delete(pods);
    free(sj);
}

static void test_watch_sj_decide_inactive_creates_nothing(void **state)
{
    sj_t *sj = sj_with("", "{}");
    watch_sj_decision_t d = decide1(sj, 5, 1, false, 0, 0);

    assert_false(d.active);
    assert_int_equal(d.create, 0);
    assert_int_equal(d.queue_length, 0); /* an inactive trigger is not chosen */
    /* "max" only chooses a queueLength above 0: an active empty trigger is not active */
    d = decide1(sj, 0, 1, true, 0, 0);
    assert_false(d.active);
    free(sj);
}

static void test_watch_sj_decide_errors_and_resources_contribute_nothing(void **state)
{
    sj_t *sj = sj_with("", "{}");
    double big = 50, small = 2;
    watch_sj_trig_t t[3] = {
        {.values = &big, .nvalues = 1, .target = 1, .active = true, .error = true},
        {.values = &big, .nvalues = 1, .target = 1, .active = true, .resource = true},
        {.values = &small, .nvalues = 1, .target = 1, .active = true},
    };
    watch_sj_decide_in_t in = {.trig = t, .ntrig = 3};
    watch_sj_decision_t d;

    watch_sj_decide(sj, &in, &d);
    assert_true(d.error);
    assert_true(d.active);
    assert_int_equal(d.queue_length, 2);
    assert_int_equal(d.create, 2);
    free(sj);
}

/* queueLength is the sum of the metric's values; maxValue is capped at MaxReplicaCount() and
 * rounded up; target 0 leaves maxValue 0. */
static void test_watch_sj_decide_queue_length_sums_values(void **state)
{
    sj_t *sj = sj_with("\"maxReplicaCount\":4,", "{}");
    double v[3] = {1.5, 2, 0.25};
    watch_sj_trig_t t = {.values = v, .nvalues = 3, .target = 2, .active = true};
    watch_sj_decide_in_t in = {.trig = &t, .ntrig = 1};
    watch_sj_decision_t d;

    watch_sj_decide(sj, &in, &d);
    assert_int_equal(d.queue_length, 4); /* ceil(3.75) */
    assert_int_equal(d.max_scale, 2);    /* ceil(1.875) */
    assert_true(d.max_value == 1.875);
    assert_int_equal(d.create, 2);
    t.target = 0;
    watch_sj_decide(sj, &in, &d);
    assert_int_equal(d.max_scale, 0);
    assert_int_equal(d.create, 0);
    v[0] = 100;
    t.target = 1;
    watch_sj_decide(sj, &in, &d);
    assert_int_equal(d.max_scale, 4);
    assert_int_equal(d.create, 4);
    free(sj);
}

/* IsScaledJobActive's multipleScalersCalculation over active triggers only. */
static void test_watch_sj_combine_multiple_scalers(void **state)
{
    const watch_sj_metric_t m[4] = {
        {.queue_length = 10, .max_value = 5, .active = true},
        {.queue_length = 4, .max_value = 2, .active = true},
        {.queue_length = 100, .max_value = 50, .active = false},
        {.queue_length = 7, .max_value = 7, .active = true},
    };
    static const struct {
        sj_calc_t calc;
        int64_t queue, scale;
    } cases[] = {
        {SJ_CALC_MAX, 10, 5},
        {SJ_CALC_MIN, 4, 2},
        {SJ_CALC_SUM, 21, 14},
        {SJ_CALC_AVG, 7, 5}, /* 21 / 3, ceil(14 / 3) */
    };
    watch_sj_combined_t c;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        watch_sj_combine(m, 4, cases[i].calc, 0, 100, &c);
        assert_true(c.active);
        assert_int_equal(c.queue_length, cases[i].queue);
        assert_int_equal(c.max_scale, cases[i].scale);
    }
    watch_sj_combine(m, 4, SJ_CALC_SUM, 0, 12, &c); /* capped at MaxReplicaCount() */
    assert_int_equal(c.max_scale, 12);
    assert_true(c.max_value == 12);
    watch_sj_combine(&m[2], 1, SJ_CALC_AVG, 0, 100, &c); /* no active trigger */
    assert_false(c.active);
    assert_int_equal(c.queue_length, 0);
    watch_sj_combine(&m[2], 1, SJ_CALC_AVG, 1, 100, &c); /* min > 0: always active */
    assert_true(c.active);
}

/* KEDA's "min" replaces a chosen queueLength of 0 by the next active trigger's, even a larger
 * one. */
static void test_watch_sj_combine_min_skips_empty_queue(void **state)
{
    const watch_sj_metric_t m[2] = {
        {.queue_length = 0, .max_value = 0, .active = true},
        {.queue_length = 9, .max_value = 3, .active = true},
    };
    watch_sj_combined_t c;

    watch_sj_combine(m, 2, SJ_CALC_MIN, 0, 100, &c);
    assert_int_equal(c.queue_length, 9);
    assert_int_equal(c.max_scale, 3);
}

/* ---- pending Jobs: KEDA's TestGetPendingJobCount ---- */

static bool pending(const char *conditions, const char *job, const char *pods)
{
    char spec[512];
    snprintf(spec, sizeof spec,
             "{" JOB_TARGET ",\"scalingStrategy\":{\"pendingPodConditions\":%s},\"triggers\":"
             "[" REDIS "]}",
             conditions);
    cJSON *o = sj_json("", spec); /* kept: the conditions are borrowed from it */
    sj_t *sj = malloc(sizeof *sj);
    errtext_t err = {{0}};
    assert_int_equal(sj_parse(o, 64, sj, &err), 0);
    cJSON *j = cJSON_Parse(job), *p = cJSON_Parse(pods);
    assert_non_null(j);
    assert_non_null(p);
    bool r = watch_sj_job_pending(sj, j, p);
    cJSON_Delete(j);
    cJSON_Delete(p);
    cJSON_Delete(o);
    free(sj);
    return r;
}

#define RDY    "{\"type\":\"Ready\",\"status\":\"True\"}"
#define SCH    "{\"type\":\"PodScheduled\",\"status\":\"True\"}"
#define POD(c) "{\"status\":{\"conditions\":[" c "]}}"
#define WANT   "[\"Ready\",\"PodScheduled\"]"

static void test_watch_sj_job_pending_is_keda(void **state)
{
    const char *job = "{}";

    assert_false(pending("[]", job, "[{\"status\":{\"phase\":\"Succeeded\"}}]"));
    assert_false(pending("[]", job, "[{\"status\":{\"phase\":\"Running\"}}]"));
    assert_true(pending("[]", job, "[{\"status\":{\"phase\":\"Failed\"}}]"));
    assert_true(pending("[]", job, "[{\"status\":{\"phase\":\"Pending\"}}]"));
    assert_true(pending("[]", job, "[{\"status\":{\"phase\":\"Unknown\"}}]"));
    assert_true(pending("[]", job, "[]")); /* no pod yet */
    assert_true(pending(WANT, job, "[" POD("") "]"));
    assert_true(pending(WANT, job, "[" POD(RDY) "]"));
    assert_true(pending(WANT, job, "[" POD(SCH) "]"));
    assert_false(pending(WANT, job, "[" POD(RDY "," SCH) "]"));
    assert_false(pending(WANT, job, "[" POD(RDY "," SCH) "," POD(RDY "," SCH) "]"));
    assert_false(pending(WANT, job, "[" POD(RDY "," SCH) "," POD(RDY) "]"));
    assert_true(pending(WANT, job, "[" POD(RDY) "," POD(SCH) "]"));
    assert_false(pending(WANT, job, "[" POD("") "," POD(RDY) "," POD(RDY "," SCH) "]"));
    assert_true(pending(WANT, job, "[" POD("") "," POD(RDY) "," POD(SCH) "]"));
    /* a condition that is False is not met */
    assert_true(
        pending(WANT, job, "[" POD(RDY ",{\"type\":\"PodScheduled\",\"status\":\"False\"}") "]"));
    /* a duplicated entry can never be met (KEDA compares with the list's length) */
    assert_true(pending("[\"Ready\",\"Ready\"]", job, "[" POD(RDY) "]"));
    /* a finished Job is never pending */
    assert_false(pending("[]",
                         "{\"status\":{\"conditions\":[{\"type\":\"Failed\",\"status\":"
                         "\"True\"}]}}",
                         "[{\"status\":{\"phase\":\"Pending\"}}]"));
}

static void test_watch_sj_job_state_first_true_condition(void **state)
{
    cJSON *j = cJSON_Parse("{\"status\":{\"conditions\":[{\"type\":\"Suspended\",\"status\":"
                           "\"True\"},{\"type\":\"Complete\",\"status\":\"False\"},{\"type\":"
                           "\"Failed\",\"status\":\"True\"}]}}");
    assert_int_equal(watch_sj_job_state(j), WATCH_SJ_JOB_FAILED);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"status\":{\"conditions\":[{\"type\":\"Complete\",\"status\":\"True\"}]}}");
    assert_int_equal(watch_sj_job_state(j), WATCH_SJ_JOB_COMPLETE);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"status\":{\"conditions\":5}}");
    assert_int_equal(watch_sj_job_state(j), WATCH_SJ_JOB_UNFINISHED);
    cJSON_Delete(j);
}

/* ---- the Job KEDA creates: TestGenerateJobs ---- */

static void test_watch_sj_job_build_shape_is_keda(void **state)
{
    cJSON *o =
        sj_json(",\"labels\":{\"test\":\"test\",\"drop\":\"x\",\"app.kubernetes.io/name\":"
                "\"mine\"},\"annotations\":{\"test\":\"test\","
                "\"scaledjob.keda.sh/job-excluded-labels\":\"drop, test\"}",
                "{\"jobTargetRef\":{\"parallelism\":2,\"template\":{\"metadata\":"
                "{\"labels\":{\"app\":\"w\"}},\"spec\":{\"containers\":[{\"name\":\"c\"}]}}},"
                "\"triggers\":[" REDIS "]}");
    sj_t *sj = malloc(sizeof *sj);
    errtext_t err = {{0}};

    assert_int_equal(sj_parse(o, 64, sj, &err), 0);
    cJSON *job = watch_sj_job_build(sj);
    assert_non_null(job);
    cJSON *want = cJSON_Parse(
        "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"generateName\":"
        "\"worker-\",\"namespace\":\"jobs\",\"labels\":{\"app.kubernetes.io/name\":\"mine\","
        "\"app.kubernetes.io/version\":\"" CKEDA_VERSION "\",\"app.kubernetes.io/part-of\":"
        "\"worker\",\"app.kubernetes.io/managed-by\":\"keda-operator\",\"scaledjob.keda.sh/name\":"
        "\"worker\",\"test\":\"test\"},\"annotations\":{\"scaledjob.keda.sh/generation\":\"3\","
        "\"test\":\"test\",\"scaledjob.keda.sh/job-excluded-labels\":\"drop, test\"},"
        "\"ownerReferences\":[{\"apiVersion\":\"keda.sh/v1alpha1\",\"kind\":\"ScaledJob\","
        "\"name\":\"worker\",\"uid\":\"u-7\",\"controller\":true,\"blockOwnerDeletion\":true}]},"
        "\"spec\":{\"parallelism\":2,\"template\":{\"metadata\":{\"labels\":{\"app\":\"w\","
        "\"scaledjob.keda.sh/name\":\"worker\"},\"generateName\":\"worker-\"},\"spec\":"
        "{\"containers\":[{\"name\":\"c\"}],\"restartPolicy\":\"OnFailure\"}}}}");
    assert_non_null(want);
    /* " test" (with its space) is not "test": KEDA splits on ',' only */
    assert_true(cJSON_Compare(job, want, true));
    cJSON_Delete(want);
    cJSON_Delete(job);
    cJSON_Delete(o);
    free(sj);
}

static void test_watch_sj_job_build_keeps_restart_policy_and_gen_override(void **state)
{
    cJSON *o = sj_json(",\"annotations\":{\"scaledjob.keda.sh/generation\":\"9\"}",
                       "{\"jobTargetRef\":{\"template\":{\"spec\":{\"restartPolicy\":\"Never\"}}},"
                       "\"triggers\":[" REDIS "]}");
    sj_t *sj = malloc(sizeof *sj);
    errtext_t err = {{0}};

    assert_int_equal(sj_parse(o, 64, sj, &err), 0);
    cJSON *job = watch_sj_job_build(sj);
    assert_string_equal(cJSON_GetStringValue(jsonu_lookup(job, "spec.template.spec.restartPolicy")),
                        "Never");
    /* maps.Copy: the ScaledJob's annotation wins over the generation KEDA writes */
    assert_string_equal(cJSON_GetStringValue(jsonu_lookup(
                            job, "metadata.annotations[\"scaledjob.keda.sh/generation\"]")),
                        "9");
    cJSON_Delete(job);
    /* the ScaledJob is not modified by building */
    assert_null(jsonu_lookup(o, "spec.jobTargetRef.template.metadata"));
    cJSON_Delete(o);
    free(sj);
}

/* ---- Jobs KEDA deletes: TestCleanUp* and deletePreviousVersionScaleJobs ---- */

static cJSON *job_list(const char *const *spec, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    char buf[512];

    for (size_t i = 0; i < n; i++) {
        /* "name type time": type C(omplete), F(ailed), R(unning); time or "-" */
        char name[32], type, at[32];
        assert_int_equal(sscanf(spec[i], "%31s %c %31s", name, &type, at), 3);
        snprintf(buf, sizeof buf,
                 "{\"metadata\":{\"name\":\"%s\"},\"status\":{%s%s%s\"conditions\":[%s]}}", name,
                 at[0] != '-' ? "\"completionTime\":\"" : "", at[0] != '-' ? at : "",
                 at[0] != '-' ? "\"," : "",
                 type == 'C'   ? "{\"type\":\"Complete\",\"status\":\"True\"}"
                 : type == 'F' ? "{\"type\":\"Failed\",\"status\":\"True\"}"
                               : "");
        cJSON *j = cJSON_Parse(buf);
        assert_non_null(j);
        cJSON_AddItemToArray(arr, j);
    }
    return arr;
}

/* The names of the Jobs selected, space-separated, in order. */
static void names(const cJSON **sel, int n, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? " " : "",
                 cJSON_GetStringValue(jsonu_lookup(sel[i], "metadata.name")));
}

static void history(const char *counts, const char *const *spec, size_t n, const char *want)
{
    sj_t *sj = sj_with(counts, "{}");
    cJSON *jobs = job_list(spec, n);
    const cJSON **sel = calloc(n + 1, sizeof *sel);
    char got[2048];
    int k = watch_sj_history_select(sj, jobs, sel, n + 1);

    assert_true(k >= 0);
    names(sel, k, got, sizeof got);
    assert_string_equal(got, want);
    free(sel);
    cJSON_Delete(jobs);
    free(sj);
}

static void test_watch_sj_history_select_is_keda(void **state)
{
    static const char *const normal[] = {
        "name1 C 2020-07-29T15:37:00Z",
        "name2 C 2020-07-29T15:36:00Z",
        "name3 C 2020-07-29T15:38:00Z",
    };
    static const char *const mixed[] = {
        "success1 C 2020-07-29T15:37:00Z",
        "success2 C 2020-07-29T15:36:00Z",
        "success3 C 2020-07-29T15:35:00Z",
        "fail1 F 2020-07-29T15:37:00Z",
        "fail2 F 2020-07-29T15:36:00Z",
        "fail3 F 2020-07-29T15:38:00Z",
        "running R -",
    };

    history("\"successfulJobsHistoryLimit\":2,\"failedJobsHistoryLimit\":2,", normal, 3, "name2");
    history("\"successfulJobsHistoryLimit\":1,\"failedJobsHistoryLimit\":2,", mixed, 7,
            "success3 success2 fail2");
    history("\"successfulJobsHistoryLimit\":0,\"failedJobsHistoryLimit\":0,", mixed, 7,
            "success3 success2 success1 fail2 fail1 fail3");
}

/* TestCleanUpDefaultValue: 101 Complete and 101 Failed Jobs under the default limits of 100. */
static void test_watch_sj_history_select_default_limits(void **state)
{
    char **spec = calloc(202, sizeof *spec);

    for (int i = 0; i < 202; i++) {
        spec[i] = malloc(64);
        bool old = i == 0 || i == 101;
        snprintf(spec[i], 64, "%s%d %c 2020-07-29T15:%s:00Z", i < 101 ? "success" : "fail", i,
                 i < 101 ? 'C' : 'F', old ? "35" : "40");
    }
    history("", (const char *const *)spec, 202, "success0 fail101");
    for (int i = 0; i < 202; i++)
        free(spec[i]);
    free(spec);
}

/* Kubernetes gives Failed Jobs no completionTime: they go oldest first by the Failed
 * condition's lastTransitionTime, then in list order. */
static void test_watch_sj_history_select_failed_without_completion_time(void **state)
{
    sj_t *sj = sj_with("\"failedJobsHistoryLimit\":1,", "{}");
    cJSON *jobs = cJSON_Parse(
        "[{\"metadata\":{\"name\":\"late\"},\"status\":{\"conditions\":[{\"type\":\"Failed\","
        "\"status\":\"True\",\"lastTransitionTime\":\"2024-01-01T10:00:00Z\"}]}},"
        "{\"metadata\":{\"name\":\"early\"},\"status\":{\"conditions\":[{\"type\":\"Failed\","
        "\"status\":\"True\",\"lastTransitionTime\":\"2024-01-01T09:00:00Z\"}]}},"
        "{\"metadata\":{\"name\":\"latest\"},\"status\":{\"conditions\":[{\"type\":\"Failed\","
        "\"status\":\"True\",\"lastTransitionTime\":\"2024-01-01T11:00:00Z\"}]}}]");
    const cJSON *sel[3];
    char got[128];
    int k = watch_sj_history_select(sj, jobs, sel, 3);

    names(sel, k, got, sizeof got);
    assert_string_equal(got, "early late");
    cJSON_Delete(jobs);
    free(sj);
}

static void test_watch_sj_rollout_select_generation(void **state)
{
    cJSON *jobs = cJSON_Parse(
        "[{\"metadata\":{\"name\":\"cur\",\"annotations\":{\"scaledjob.keda.sh/generation\":"
        "\"3\"}}},{\"metadata\":{\"name\":\"old\",\"annotations\":{\"scaledjob.keda.sh/generation\""
        ":\"2\"}}},{\"metadata\":{\"name\":\"none\"}},{\"metadata\":{\"name\":\"done\","
        "\"annotations\":{\"scaledjob.keda.sh/generation\":\"1\"}},\"status\":{\"conditions\":"
        "[{\"type\":\"Complete\",\"status\":\"True\"}]}}]");
    sj_t *sj = sj_with("", "{}");
    const cJSON *sel[4];
    char got[128];
    int k = watch_sj_rollout_select(sj, jobs, sel, 4);

    names(sel, k, got, sizeof got);
    assert_string_equal(got, "old none done"); /* finished Jobs too, as KEDA */
    free(sj);
    sj = malloc(sizeof *sj);
    errtext_t err = {{0}};
    assert_int_equal(parse("{" JOB_TARGET ",\"rollout\":{\"strategy\":\"gradual\"},"
                           "\"triggers\":[" REDIS "]}",
                           sj, &err),
                     0);
    assert_int_equal(watch_sj_rollout_select(sj, jobs, sel, 4), 0);
    /* cap bounds what is written */
    sj->rollout_gradual = false;
    assert_int_equal(watch_sj_rollout_select(sj, jobs, sel, 1), 1);
    cJSON_Delete(jobs);
    free(sj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sj_parse_defaults_are_keda),
        cmocka_unit_test(test_sj_parse_fields_as_written),
        cmocka_unit_test(test_sj_min_max_replicas_are_keda),
        cmocka_unit_test(test_sj_parse_custom_percentage_falls_back_as_keda),
        cmocka_unit_test(test_sj_parse_strategy_and_calc_names),
        cmocka_unit_test(test_sj_parse_errors_name_the_field),
        cmocka_unit_test(test_sj_parse_too_many_triggers_is_e2big),
        cmocka_unit_test(test_sj_parse_pause_annotation_read_as_keda),
        cmocka_unit_test(test_sj_parse_hostile_input_never_crashes),
        cmocka_unit_test(test_watch_sj_effective_max_default_is_keda),
        cmocka_unit_test(test_watch_sj_effective_max_custom_is_keda),
        cmocka_unit_test(test_watch_sj_effective_max_custom_fallback_via_parse),
        cmocka_unit_test(test_watch_sj_effective_max_accurate_is_keda),
        cmocka_unit_test(test_watch_sj_effective_max_eager_is_keda),
        cmocka_unit_test(test_watch_sj_decide_docs_max_replica_table),
        cmocka_unit_test(test_watch_sj_decide_docs_min_replica_example),
        cmocka_unit_test(test_watch_sj_decide_min_replica_count_is_keda),
        cmocka_unit_test(test_watch_sj_decide_docs_eager_example_follows_code),
        cmocka_unit_test(test_watch_sj_decide_no_duplicates_while_pending),
        cmocka_unit_test(test_watch_sj_decide_pending_from_job_json),
        cmocka_unit_test(test_watch_sj_decide_inactive_creates_nothing),
        cmocka_unit_test(test_watch_sj_decide_errors_and_resources_contribute_nothing),
        cmocka_unit_test(test_watch_sj_decide_queue_length_sums_values),
        cmocka_unit_test(test_watch_sj_combine_multiple_scalers),
        cmocka_unit_test(test_watch_sj_combine_min_skips_empty_queue),
        cmocka_unit_test(test_watch_sj_job_pending_is_keda),
        cmocka_unit_test(test_watch_sj_job_state_first_true_condition),
        cmocka_unit_test(test_watch_sj_job_build_shape_is_keda),
        cmocka_unit_test(test_watch_sj_job_build_keeps_restart_policy_and_gen_override),
        cmocka_unit_test(test_watch_sj_history_select_is_keda),
        cmocka_unit_test(test_watch_sj_history_select_default_limits),
        cmocka_unit_test(test_watch_sj_history_select_failed_without_completion_time),
        cmocka_unit_test(test_watch_sj_rollout_select_generation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
