/*
 * The /metrics formatter (adapter/prom.c): KEDA's family names and label sets (reference
 * keda.md 3.1) byte for byte, label escaping of the text format, and missing values omitted
 * rather than written as NaN.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "adapter/adp_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static adp_prom_trig_t trig_ok(void)
{
    return (adp_prom_trig_t){.ns = "default",
                             .scaled_object = "orders",
                             .scaler = "redisScaler",
                             .metric = "s0-redis-orders",
                             .trigger_index = 0,
                             .has_value = true,
                             .value = 12.5,
                             .has_latency = true,
                             .latency_s = 0.004,
                             .has_active = true,
                             .active = true,
                             .errors_total = 3,
                             .strikes = 1,
                             .age_s = 2.5};
}

static const adp_prom_build_t build = {"0.1.0", "abc123", "cc 12", "linux", "amd64"};

static char *render(adp_arena_t *a, adp_prom_trig_t *trigs, size_t ntrigs, adp_prom_so_t *sos,
                    size_t nsos, adp_prom_proc_t *procs, size_t nprocs)
{
    adp_prom_model_t m = {.build = build,
                          .trigs = trigs,
                          .ntrigs = ntrigs,
                          .sos = sos,
                          .nsos = nsos,
                          .procs = procs,
                          .nprocs = nprocs};
    adp_sbuf_t b;

    adp_sbuf_init(&b, a);
    adp_prom_write(&b, &m);
    assert_false(b.failed);
    return b.p;
}

#define LABELS                                                                                     \
    "metric=\"s0-redis-orders\",namespace=\"default\",scaledObject=\"orders\","                    \
    "scaler=\"redisScaler\",triggerIndex=\"0\",type=\"scaledobject\""

static void test_adp_prom_write_keda_names_and_labels(void **state)
{
    adp_arena_t a = {0};
    adp_prom_trig_t t = trig_ok();
    adp_prom_so_t so = {.ns = "default", .name = "orders", .paused = true, .errors_total = 3};
    adp_prom_proc_t p = {.role = "scaleworker", .type = "redis", .shard = 2, .restarts = 4};
    char *out = render(&a, &t, 1, &so, 1, &p, 1);

    assert_non_null(strstr(out, "# TYPE keda_build_info gauge\n"));
    assert_non_null(strstr(out, "keda_build_info{git_commit=\"abc123\",goarch=\"amd64\",goos="
                                "\"linux\",goversion=\"cc 12\",version=\"0.1.0\"} 1\n"));
    assert_non_null(strstr(out, "# TYPE keda_scaler_metrics_value gauge\n"));
    assert_non_null(strstr(out, "keda_scaler_metrics_value{" LABELS "} 12.5\n"));
    assert_non_null(strstr(out, "keda_scaler_metrics_latency_seconds{" LABELS "} 0.004\n"));
    assert_non_null(strstr(out, "keda_scaler_active{" LABELS "} 1\n"));
    assert_non_null(strstr(out, "# TYPE keda_scaler_detail_errors_total counter\n"));
    assert_non_null(strstr(out, "keda_scaler_detail_errors_total{" LABELS "} 3\n"));
    assert_non_null(strstr(out, "keda_scaled_object_paused{namespace=\"default\","
                                "scaledObject=\"orders\"} 1\n"));
    assert_non_null(strstr(out, "# TYPE keda_scaled_object_errors_total counter\n"));
    assert_non_null(strstr(out, "keda_scaled_object_errors_total{namespace=\"default\","
                                "scaledObject=\"orders\"} 3\n"));
    assert_non_null(strstr(out, "ckeda_trigger_quarantined{" LABELS "} 0\n"));
    assert_non_null(strstr(out, "ckeda_trigger_strikes{" LABELS "} 1\n"));
    assert_non_null(strstr(out, "ckeda_scaler_metrics_value_age_seconds{" LABELS "} 2.5\n"));
    assert_non_null(strstr(out, "# TYPE ckeda_process_restarts_total counter\n"));
    assert_non_null(strstr(out, "ckeda_process_restarts_total{role=\"scaleworker\",shard=\"2\","
                                "type=\"redis\"} 4\n"));
    /* removed KEDA names are not served */
    assert_null(strstr(out, "keda_scaler_errors_total"));
    assert_null(strstr(out, "keda_scaler_errors{"));
    adp_arena_free(&a);
}

/* A ScaledJob's triggers say type "scaledjob" (scaledObject names the ScaledJob, as in KEDA); its
 * errors go to keda_scaled_job_errors_total{namespace, scaledJob}, not the ScaledObject families.
 */
static void test_adp_prom_write_scaledjob_samples(void **state)
{
    adp_arena_t a = {0};
    adp_prom_trig_t t = trig_ok();
    adp_prom_so_t so = {.ns = "default", .name = "orders", .job = true, .errors_total = 2};
    char *out;

    t.job = true;
    out = render(&a, &t, 1, &so, 1, NULL, 0);
    assert_non_null(strstr(out, "keda_scaler_metrics_value{metric=\"s0-redis-orders\","
                                "namespace=\"default\",scaledObject=\"orders\",scaler=\""
                                "redisScaler\",triggerIndex=\"0\",type=\"scaledjob\"} 12.5\n"));
    assert_non_null(strstr(out, "# TYPE keda_scaled_job_errors_total counter\n"));
    assert_non_null(strstr(out, "keda_scaled_job_errors_total{namespace=\"default\","
                                "scaledJob=\"orders\"} 2\n"));
    assert_null(strstr(out, "keda_scaled_object_errors_total{"));
    assert_null(strstr(out, "keda_scaled_object_paused{"));
    adp_arena_free(&a);
}

static void test_adp_prom_write_each_family_once_samples_together(void **state)
{
    adp_arena_t a = {0};
    adp_prom_trig_t t[2] = {trig_ok(), trig_ok()};
    char *out, *first, *second, *next_family;

    t[1].trigger_index = 1;
    t[1].metric = "s1-redis-orders";
    out = render(&a, t, 2, NULL, 0, NULL, 0);
    first = strstr(out, "# TYPE keda_scaler_active gauge\n");
    assert_non_null(first);
    assert_null(strstr(first + 1, "# TYPE keda_scaler_active "));
    second = strstr(first, "keda_scaler_active{metric=\"s1-redis-orders\"");
    next_family = strstr(first + 1, "# HELP");
    assert_non_null(second);
    assert_true(second < next_family);
    adp_arena_free(&a);
}

static void test_adp_prom_write_missing_values_are_omitted_not_nan(void **state)
{
    adp_arena_t a = {0};
    adp_prom_trig_t t = trig_ok();
    char *out;

    t.has_value = false;
    t.value = NAN;
    t.has_latency = false;
    t.has_active = false;
    out = render(&a, &t, 1, NULL, 0, NULL, 0);
    assert_null(strstr(out, "NaN"));
    assert_null(strstr(out, "keda_scaler_metrics_value{"));
    assert_null(strstr(out, "keda_scaler_metrics_latency_seconds{"));
    assert_null(strstr(out, "keda_scaler_active{"));
    assert_null(strstr(out, "ckeda_scaler_metrics_value_age_seconds{"));
    /* the family is still declared, and what ckeda does know is still there */
    assert_non_null(strstr(out, "# TYPE keda_scaler_metrics_value gauge\n"));
    assert_non_null(strstr(out, "keda_scaler_detail_errors_total{" LABELS "} 3\n"));

    /* a NaN a scaler produced, flagged as a value, is omitted too */
    t.has_value = true;
    out = render(&a, &t, 1, NULL, 0, NULL, 0);
    assert_null(strstr(out, "NaN"));
    assert_null(strstr(out, "keda_scaler_metrics_value{"));
    adp_arena_free(&a);
}

static void test_adp_prom_write_values_round_trip(void **state)
{
    adp_arena_t a = {0};
    adp_prom_trig_t t = trig_ok();
    char *out, *p;

    t.value = 0.1 + 0.2; /* shortest round-trip form, not %g's 6 digits */
    out = render(&a, &t, 1, NULL, 0, NULL, 0);
    p = strstr(out, "keda_scaler_metrics_value{" LABELS "} ");
    assert_non_null(p);
    assert_true(strtod(p + strlen("keda_scaler_metrics_value{" LABELS "} "), NULL) == t.value);
    t.value = INFINITY;
    out = render(&a, &t, 1, NULL, 0, NULL, 0);
    assert_non_null(strstr(out, "keda_scaler_metrics_value{" LABELS "} +Inf\n"));
    t.value = 1e21;
    out = render(&a, &t, 1, NULL, 0, NULL, 0);
    assert_non_null(strstr(out, "keda_scaler_metrics_value{" LABELS "} 1e+21\n"));
    adp_arena_free(&a);
}

static void test_adp_prom_label_value_escapes(void **state)
{
    adp_arena_t a = {0};
    adp_sbuf_t b;

    adp_sbuf_init(&b, &a);
    adp_prom_label_value(&b, "a\\b\"c\nd'e{f}=,");
    assert_false(b.failed);
    assert_string_equal(b.p, "a\\\\b\\\"c\\nd'e{f}=,");
    adp_arena_free(&a);
}

static void test_adp_prom_write_escapes_label_values(void **state)
{
    adp_arena_t a = {0};
    adp_prom_trig_t t = trig_ok();
    char *out;

    t.scaler = "my \"odd\"\nname\\";
    out = render(&a, &t, 1, NULL, 0, NULL, 0);
    assert_non_null(strstr(out, "scaler=\"my \\\"odd\\\"\\nname\\\\\",triggerIndex"));
    /* no raw newline inside a sample line: every line is a comment or a whole sample, with
     * labels or without (then "name value", one space) */
    for (char *line = out; *line; line = strchr(line, '\n') + 1) {
        char *end = strchr(line, '\n'), *sp;
        assert_non_null(end);
        sp = memchr(line, ' ', (size_t)(end - line));
        assert_true(line[0] == '#' || memchr(line, '}', (size_t)(end - line)) != NULL ||
                    (sp && !memchr(sp + 1, ' ', (size_t)(end - sp - 1)) &&
                     !memchr(line, '"', (size_t)(end - line))));
    }
    adp_arena_free(&a);
}

static void test_adp_prom_write_empty_table_is_valid(void **state)
{
    adp_arena_t a = {0};
    char *out = render(&a, NULL, 0, NULL, 0, NULL, 0);

    assert_non_null(strstr(out, "keda_build_info{"));
    assert_true(out[strlen(out) - 1] == '\n');
    adp_arena_free(&a);
}

static void test_adp_route_match_metrics_only_on_metrics_port(void **state)
{
    adp_route_t r;
    char p1[] = "/metrics", p2[] = "/metrics", p3[] = "/healthz";

    adp_route_match(ADP_LISTENER_METRICS, p1, &r);
    assert_int_equal(r.id, ADP_ROUTE_METRICS);
    assert_true(adp_route_is_public(r.id));
    adp_route_match(ADP_LISTENER_SECURE, p2, &r);
    assert_int_equal(r.id, ADP_ROUTE_NONE);
    adp_route_match(ADP_LISTENER_METRICS, p3, &r);
    assert_int_equal(r.id, ADP_ROUTE_NONE);
}

static void test_adp_stat_index_codes_and_buckets(void **state)
{
    assert_int_equal(adp_stat_code_index(200), ADP_STAT_CODE0);
    assert_int_equal(adp_stat_codes[adp_stat_code_index(431) - ADP_STAT_CODE0], 431);
    assert_int_equal(adp_stat_code_index(418), ADP_STAT_CODE0 + ADP_STAT_CODES_N - 1);
    assert_int_equal(adp_stat_bucket_index(0), ADP_STAT_BUCKET0);
    assert_int_equal(adp_stat_bucket_index(500), ADP_STAT_BUCKET0);     /* 0.5 ms: <= le */
    assert_int_equal(adp_stat_bucket_index(501), ADP_STAT_BUCKET0 + 1); /* <= 1 ms */
    assert_int_equal(adp_stat_bucket_index(15000000), ADP_STAT_BUCKET0 + ADP_STAT_BUCKETS_N - 1);
    assert_int_equal(adp_stat_bucket_index(15000001), ADP_STAT_BUCKET0 + ADP_STAT_BUCKETS_N);
    assert_true(ADP_STAT_COUNT <= 64);
}

static void test_adp_prom_write_adapter_families(void **state)
{
    adp_arena_t a = {0};
    adp_prom_proc_t p[] = {{.role = "adapter", .type = "", .shard = 0, .seq_retries = 3},
                           {.role = "scaleworker", .type = "redis", .shard = 0, .seq_retries = 1},
                           {.role = "scaleworker", .type = "kafka", .shard = 0, .seq_retries = 2}};
    adp_prom_model_t m = {.build = build, .procs = p, .nprocs = 3};
    adp_sbuf_t b;

    m.adapter_stats[adp_stat_code_index(200)] = 5;
    m.adapter_stats[adp_stat_code_index(401)] = 2;
    m.adapter_stats[adp_stat_code_index(999)] = 1;
    m.adapter_stats[adp_stat_bucket_index(100)] = 6;      /* 0.1 ms */
    m.adapter_stats[adp_stat_bucket_index(3000)] = 1;     /* 3 ms: le 0.005 */
    m.adapter_stats[adp_stat_bucket_index(60000000)] = 1; /* past every bound */
    m.adapter_stats[ADP_STAT_DURATION_SUM_US] = 2500000;
    m.adapter_stats[ADP_STAT_AUTHZ_HITS] = 7;
    m.adapter_stats[ADP_STAT_AUTHZ_MISSES] = 2;
    m.adapter_stats[ADP_STAT_TOKEN_UNAUTHENTICATED] = 4;
    adp_sbuf_init(&b, &a);
    adp_prom_write(&b, &m);
    assert_false(b.failed);
    assert_non_null(strstr(b.p, "# TYPE ckeda_adapter_requests_total counter\n"));
    assert_non_null(strstr(b.p, "ckeda_adapter_requests_total{code=\"200\"} 5\n"));
    assert_non_null(strstr(b.p, "ckeda_adapter_requests_total{code=\"401\"} 2\n"));
    assert_non_null(strstr(b.p, "ckeda_adapter_requests_total{code=\"other\"} 1\n"));
    assert_null(strstr(b.p, "ckeda_adapter_requests_total{code=\"403\"}")); /* none yet */
    assert_non_null(strstr(b.p, "# TYPE ckeda_adapter_request_duration_seconds histogram\n"));
    /* cumulative buckets */
    assert_non_null(
        strstr(b.p, "ckeda_adapter_request_duration_seconds_bucket{le=\"0.0005\"} 6\n"));
    assert_non_null(
        strstr(b.p, "ckeda_adapter_request_duration_seconds_bucket{le=\"0.0025\"} 6\n"));
    assert_non_null(strstr(b.p, "ckeda_adapter_request_duration_seconds_bucket{le=\"0.005\"} 7\n"));
    assert_non_null(strstr(b.p, "ckeda_adapter_request_duration_seconds_bucket{le=\"15\"} 7\n"));
    assert_non_null(strstr(b.p, "ckeda_adapter_request_duration_seconds_bucket{le=\"+Inf\"} 8\n"));
    assert_non_null(strstr(b.p, "ckeda_adapter_request_duration_seconds_sum 2.5\n"));
    assert_non_null(strstr(b.p, "ckeda_adapter_request_duration_seconds_count 8\n"));
    assert_non_null(strstr(b.p, "ckeda_adapter_authorization_cache_hits_total 7\n"));
    assert_non_null(strstr(b.p, "ckeda_adapter_authorization_cache_misses_total 2\n"));
    assert_non_null(strstr(b.p, "ckeda_adapter_token_reviews_total{result=\"authenticated\"} 0\n"));
    assert_non_null(
        strstr(b.p, "ckeda_adapter_token_reviews_total{result=\"unauthenticated\"} 4\n"));
    assert_non_null(strstr(b.p, "ckeda_adapter_token_reviews_total{result=\"error\"} 0\n"));
    /* one series per role, summed over its processes */
    assert_non_null(strstr(b.p, "ckeda_seqlock_read_retries_total{role=\"adapter\"} 3\n"));
    assert_non_null(strstr(b.p, "ckeda_seqlock_read_retries_total{role=\"scaleworker\"} 3\n"));
    assert_null(strstr(strstr(b.p, "{role=\"scaleworker\"} 3\n") + 1,
                       "ckeda_seqlock_read_retries_total{role=\"scaleworker\"}"));
    adp_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adp_prom_write_keda_names_and_labels),
        cmocka_unit_test(test_adp_prom_write_scaledjob_samples),
        cmocka_unit_test(test_adp_prom_write_each_family_once_samples_together),
        cmocka_unit_test(test_adp_prom_write_missing_values_are_omitted_not_nan),
        cmocka_unit_test(test_adp_prom_write_values_round_trip),
        cmocka_unit_test(test_adp_prom_label_value_escapes),
        cmocka_unit_test(test_adp_prom_write_escapes_label_values),
        cmocka_unit_test(test_adp_prom_write_empty_table_is_valid),
        cmocka_unit_test(test_adp_route_match_metrics_only_on_metrics_port),
        cmocka_unit_test(test_adp_stat_index_codes_and_buckets),
        cmocka_unit_test(test_adp_prom_write_adapter_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
