/*
 * Unit tests of the HTTP scalers' parameters and value rules against KEDA's own test tables
 * (prometheus_scaler_test.go: testPromMetadata, testPrometheusAuthMetadata, testPromQueryResult;
 * metrics_api_scaler_test.go: testMetricsAPIMetadata, testMetricsAPIAuthMetadata,
 * TestGetValueFromResponse), plus the watcher-side metric names and targets
 * (common/scaler_spec.c), the request URL of a query and Kubernetes quantities.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sw_fixture.h"

#include "common/scaler_spec.h"
#include "scaleworker/scalers/httpscalers.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define END NULL

/* "k=v" pairs; "@k=v" is an authentication parameter. */
static int parse_with(int (*fn)(const sw_params_t *, void *, char *, size_t), void *cfg,
                      const char *const *kv, char *err, size_t errlen)
{
    sw_fx_t f;
    sw_params_t p = sw_fx_of_kv(&f, kv);
    int r;

    err[0] = '\0';
    r = fn(&p, cfg, err, errlen);
    sw_fx_fini(&f);
    return r;
}

static int prom_fn(const sw_params_t *p, void *c, char *err, size_t errlen)
{
    return sw_prom_cfg_parse(p, c, err, errlen);
}

static int mapi_fn(const sw_params_t *p, void *c, char *err, size_t errlen)
{
    return sw_mapi_cfg_parse(p, c, err, errlen);
}

#define PROM_BASE "serverAddress=http://localhost:9090", "metricName=http_requests_total"

typedef struct {
    const char *kv[12];
    bool is_error;
} case_t;

/* KEDA's testPromMetadata and testPrometheusAuthMetadata (pod identity rows aside). */
static void test_sw_prom_cfg_parse_keda_cases(void **state)
{
    static const case_t cases[] = {
        {{END}, true},
        {{PROM_BASE, "threshold=100", "query=up", END}, false},
        {{"serverAddress=http://localhost:9090", "threshold=100", "query=up", "namespace=foo", END},
         false},
        {{PROM_BASE, "threshold=100", "query=up", "ignoreNullValues=false", END}, false},
        {{PROM_BASE, "threshold=100", "query=up", "activationThreshold=50", END}, false},
        {{"serverAddress=", "threshold=100", "query=up", END}, true},
        {{PROM_BASE, "query=up", END}, true},
        {{PROM_BASE, "threshold=one", "query=up", END}, true},
        {{PROM_BASE, "threshold=100", "activationThreshold=one", "query=up", END}, true},
        {{PROM_BASE, "threshold=100", "query=", END}, true},
        {{PROM_BASE, "threshold=100", "query=up", "ignoreNullValues=xxxx", END}, true},
        {{PROM_BASE, "threshold=100", "query=up", "unsafeSsl=true", END}, false},
        {{PROM_BASE, "threshold=100", "query=up", "customHeaders=key1=value1,key2=value2", END},
         false},
        {{PROM_BASE, "threshold=100", "query=up", "customHeaders=key1=value1,key2", END}, true},
        {{PROM_BASE, "threshold=100", "query=up", "queryParameters=key1=value1,key2=value2", END},
         false},
        {{PROM_BASE, "threshold=100", "query=up", "queryParameters=key1=value1,key2", END}, true},
        {{PROM_BASE, "threshold=100", "query=up", "timeout=1000", END}, false},
        {{PROM_BASE, "threshold=100", "query=up", "timeout=-1", END}, true},
        {{PROM_BASE, "threshold=100", "query=up", "timeout=a", END}, true},
        /* auth */
        {{PROM_BASE, "threshold=100", "query=up", "authModes=tls", "@ca=caaa", "@cert=ceert",
          "@key=keey", END},
         false},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=tls", "@cert=ceert", "@key=keey", END},
         false},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=tls", "@ca=caaa", "@cert=ceert", END},
         true},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=tls", "@ca=caaa", "@key=keey", END},
         true},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=bearer", "@bearerToken=tooooken", END},
         false},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=bearer", END}, true},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=basic", "@username=user",
          "@password=pass", END},
         false},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=basic", END}, true},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=tls, basic", "@ca=caaa", "@cert=ceert",
          "@key=keey", "@username=user", "@password=pass", END},
         false},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=tls,basic", "@username=user",
          "@password=pass", END},
         true},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=custom", "@customAuthHeader=header",
          "@customAuthValue=value", END},
         false},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=custom", "@customAuthHeader=", END},
         true},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=custom", "@customAuthValue=", END},
         true},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=custom", "@customAuthHeader=header\n",
          "@customAuthValue=value\n", END},
         false},
        /* beyond KEDA's table: the enum and the exclusive set */
        {{PROM_BASE, "threshold=100", "query=up", "authModes=kerberos", END}, true},
        {{PROM_BASE, "threshold=100", "query=up", "authModes=bearer,basic", "@token=t",
          "@username=u", END},
         true},
    };
    char err[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sw_prom_cfg_t c;
        int r = parse_with(prom_fn, &c, cases[i].kv, err, sizeof err);
        if ((r < 0) != cases[i].is_error)
            fail_msg("case %zu: got %d (%s)", i, r, err);
        if (r == 0)
            sw_prom_cfg_free(&c);
        else
            assert_true(strchr(err, ':') != NULL); /* names its field */
    }
}

static void test_sw_prom_cfg_parse_values_and_defaults(void **state)
{
    const char *kv[] = {"serverAddress= http://p:9090 ",
                        "query=sum(x)",
                        "threshold=1.5e2",
                        "customHeaders=X-Tenant = t1 , X-Org=o",
                        "authMode=custom",
                        "@customAuthHeader=header\n",
                        "@customAuthValue=v",
                        END};
    sw_prom_cfg_t c;
    char err[256];

    assert_int_equal(parse_with(prom_fn, &c, kv, err, sizeof err), 0);
    assert_string_equal(c.server_address, "http://p:9090");
    assert_true(c.threshold == 150);
    assert_true(c.activation_threshold == 0);
    assert_true(c.ignore_null_values);
    assert_false(c.unsafe_ssl);
    assert_int_equal(c.custom_headers.n, 2);
    assert_string_equal(c.custom_headers.v[0].key, "X-Tenant");
    assert_string_equal(c.custom_headers.v[0].value, "t1");
    assert_string_equal(c.auth.custom_header, "header");
    assert_int_equal(c.auth.modes, SW_AUTH_CUSTOM);
    sw_prom_cfg_free(&c);
}

static void test_sw_prom_url_escapes_the_query(void **state)
{
    const char *kv[] = {"serverAddress=http://p:9090",
                        "query=sum(rate(x{a=\"b c\"}[1m]))",
                        "threshold=1",
                        "namespace=team-a",
                        "queryParameters=dedup=false",
                        END};
    sw_prom_cfg_t c;
    char err[256];

    assert_int_equal(parse_with(prom_fn, &c, kv, err, sizeof err), 0);
    char *u = sw_prom_url(&c, 1700000000);
    assert_string_equal(u, "http://p:9090/api/v1/query?query=sum%28rate%28x%7Ba%3D%22b+c%22%7D"
                           "%5B1m%5D%29%29&time=2023-11-14T22:13:20Z&namespace=team-a&dedup=false");
    free(u);
    sw_prom_cfg_free(&c);
}

/* KEDA's testPromQueryResult (status handling lives in the scaler: any non-2xx fails). */
static void test_sw_prom_value_keda_cases(void **state)
{
    static const struct {
        const char *body;
        double want;
        bool is_error, ignore;
    } cases[] = {
        {"{}", 0, false, true},
        {"{\"data\":{\"result\":[]}}", 0, false, true},
        {"{\"data\":{\"result\":[]}}", -1, true, false},
        {"{\"data\":{\"result\":[{\"value\": []}]}}", 0, false, true},
        {"{\"data\":{\"result\":[{\"value\": []}]}}", -1, true, false},
        {"{\"data\":{\"result\":[{\"value\": [\"1\", \"2\"]}]}}", 2, false, true},
        {"{\"data\":{\"result\":[{\"value\": [\"1\"]}]}}", -1, true, true},
        {"{\"data\":{\"result\":[{},{}]}}", -1, true, true},
        {"{\"data\":{\"result\":[{\"value\": [\"1\", \"+Inf\"]}]}}", 0, false, true},
        {"{\"data\":{\"result\":[{\"value\": [\"1\", \"+Inf\"]}]}}", -1, true, false},
        {"{\"data\":{\"result\":[{\"value\": [\"1\", \"-Inf\"]}]}}", 0, false, true},
        {"{\"data\":{\"result\":[{\"value\": [\"1\", \"-Inf\"]}]}}", -1, true, false},
        {"{\"data\":{\"result\":[{\"value\": [\"1\", \"NaN\"]}]}}", 0, false, true},
        {"{\"data\":{\"result\":[{\"value\": [\"1\", \"NaN\"]}]}}", -1, true, false},
        /* beyond KEDA's table */
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{},"
         "\"value\":[1686063687,\"777\"]}]}}",
         777, false, true},
        {"{\"data\":{\"result\":[{\"value\": [1, null]}]}}", -1, false, true},
        {"{\"data\":{\"result\":[{\"value\": [1, \"abc\"]}]}}", -1, true, true},
        {"{\"data\":{\"result\":[{\"value\": [1, 5]}]}}", -1, true, true},
        {"{\"data\":{\"result\":{}}}", -1, true, true},
        {"[]", -1, true, true},
        {"not json", -1, true, true},
    };
    char err[256];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sw_prom_cfg_t c = {.ignore_null_values = cases[i].ignore, .query = "up"};
        double v = -1;
        int r = sw_prom_value(cases[i].body, strlen(cases[i].body), &c, &v, err, sizeof err);
        if ((r < 0) != cases[i].is_error)
            fail_msg("case %zu: got %d (%s)", i, r, err);
        if (r == 0 && v != cases[i].want)
            fail_msg("case %zu: value %g, want %g", i, v, cases[i].want);
    }
    sw_prom_cfg_t c = {.ignore_null_values = false, .query = "up"};
    double v;
    const char *empty = "{\"data\":{\"result\":[]}}";
    assert_int_equal(sw_prom_value(empty, strlen(empty), &c, &v, err, sizeof err), -EINVAL);
    assert_string_equal(err, "prometheus metrics 'prometheus' target may be lost, the result is "
                             "empty");
    const char *multi = "{\"data\":{\"result\":[{},{}]}}";
    assert_int_equal(sw_prom_value(multi, strlen(multi), &c, &v, err, sizeof err), -EINVAL);
    assert_string_equal(err, "prometheus query up returned multiple elements");
}

#define MAPI_BASE "url=http://dummy:1230/api/v1/"

/* KEDA's testMetricsAPIMetadata and testMetricsAPIAuthMetadata. */
static void test_sw_mapi_cfg_parse_keda_cases(void **state)
{
    static const case_t cases[] = {
        {{END}, true},
        {{MAPI_BASE, "valueLocation=metric.test", "targetValue=42", END}, false},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=aa", END}, true},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=1", "activationTargetValue=aa", END},
         true},
        {{MAPI_BASE, "targetValue=aa", END}, true},
        {{"valueLocation=metric", "targetValue=aa", END}, true},
        {{MAPI_BASE, "valueLocation=metric", END}, true},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "timeout=1000", END}, false},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "timeout=-1", END}, true},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "timeout=a", END}, true},
        /* auth */
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=tls", "@ca=caaa",
          "@cert=ceert", "@key=keey", END},
         false},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=tls", "@cert=ceert",
          "@key=keey", END},
         false},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=tls", "@ca=caaa",
          "@cert=ceert", END},
         true},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=tls", "@ca=caaa",
          "@key=keey", END},
         true},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=apiKey", "@apiKey=apiikey",
          END},
         false},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=apiKey", "@apiKey=apiikey",
          "@method=query", END},
         false},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=apiKey", "@apiKey=apiikey",
          "@method=header", "@keyParamName=custom", END},
         false},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=apiKey", "@apiKey=apiikey",
          "@method=query", "@keyParamName=custom", END},
         false},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=apiKey", END}, true},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=basic", "@username=user",
          "@password=pass", END},
         false},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=basic", END}, true},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=bearer",
          "@token=bearerTokenValue", END},
         false},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=bearer", END}, true},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "unsafeSsl=true", END}, false},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "unsafeSsl=false", END}, false},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "unsafeSsl=yes", END}, true},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "authMode=apiKey,tls",
          "@apiKey=apiikey", "@ca=caaa", "@cert=ceert", "@key=keey", END},
         false},
        /* beyond KEDA's table */
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "format=csv", END}, true},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42", "method=body", END}, true},
        {{MAPI_BASE, "valueLocation=items.#(name==\"a\").v", "targetValue=42", END}, true},
        {{MAPI_BASE, "valueLocation=metric", "targetValue=42",
          "aggregateFromKubeServiceEndpoints=true", END},
         true},
    };
    char err[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sw_mapi_cfg_t c;
        int r = parse_with(mapi_fn, &c, cases[i].kv, err, sizeof err);
        if ((r < 0) != cases[i].is_error)
            fail_msg("case %zu: got %d (%s)", i, r, err);
        if (r == 0)
            sw_mapi_cfg_free(&c);
    }
}

static void test_sw_mapi_cfg_parse_never_quotes_credentials(void **state)
{
    const char *kv[] = {"url=http://u:hunter2@dummy/?api_key=s3cr3t", "valueLocation=m",
                        "targetValue=1", "authMode=bearer", END};
    sw_mapi_cfg_t c;
    char err[512];

    assert_int_equal(parse_with(mapi_fn, &c, kv, err, sizeof err), -EINVAL);
    assert_null(strstr(err, "hunter2"));
    assert_null(strstr(err, "s3cr3t"));
}

/* KEDA's TestGetValueFromResponse. */
static void test_sw_mapi_value_keda_cases(void **state)
{
    static const char json[] = "{\"components\":[{\"id\": \"82328e93e\", \"tasks\": 32, \"str\": "
                               "\"64\", \"k\":\"1k\",\"wrong\":\"NaN\"}],\"count\":2.43}";
    static const char yaml[] = "{components: [{id: 82328e93e, tasks: 32, str: '64', k: 1k, "
                               "wrong: NaN}], count: 2.43}";
    static const char prom[] = "# HELP backend_queue_size Total number of items\n"
                               "\t# TYPE backend_queue_size counter\n"
                               "\tbackend_queue_size{queueName=\"zero\"} 0\n"
                               "\tbackend_queue_size{queueName=\"one\"} 1\n"
                               "\tbackend_queue_size{queueName=\"two\", instance=\"random\"} 2\n"
                               "\tbackend_queue_size{queueName=\"two\", instance=\"zero\"} 20\n"
                               "\t# HELP random_metric Random metric generate to include noise\n"
                               "\t# TYPE random_metric counter\n"
                               "\trandom_metric 10";
    static const struct {
        const char *in, *key;
        sw_mapi_format_t f;
        double want;
        bool is_error;
    } cases[] = {
        {json, "count", SW_MAPI_JSON, 2.43, false},
        {json, "components.0.str", SW_MAPI_JSON, 64, false},
        {json, "components.0.tasks", SW_MAPI_JSON, 32, false},
        {json, "components.0.wrong", SW_MAPI_JSON, 0, true},
        {yaml, "count", SW_MAPI_YAML, 2.43, false},
        {yaml, "components.0.str", SW_MAPI_YAML, 64, false},
        {yaml, "components.0.tasks", SW_MAPI_YAML, 32, false},
        {yaml, "components.0.wrong", SW_MAPI_YAML, 0, true},
        {prom, "random_metric", SW_MAPI_PROMETHEUS, 10, false},
        {prom, "backend_queue_size{queueName=\"one\"}", SW_MAPI_PROMETHEUS, 1, false},
        {prom, "backend_queue_size{queueName=\"two\"}", SW_MAPI_PROMETHEUS, 2, false},
        {prom, "backend_queue_size{queueName=\"two\", instance=\"zero\"}", SW_MAPI_PROMETHEUS, 20,
         false},
        {prom, "backend_queue_size{invalid=test}", SW_MAPI_PROMETHEUS, 0, true},
        /* beyond KEDA's table */
        {json, "components.0.k", SW_MAPI_JSON, 1000, false},
        {json, "components.#", SW_MAPI_JSON, 1, false},
        {json, "components.#.tasks", SW_MAPI_JSON, 0, true},
        {json, "comp*.0.t?sks", SW_MAPI_JSON, 32, false},
        {json, "missing", SW_MAPI_JSON, 0, true},
        {json, "components.0.id", SW_MAPI_JSON, 0, true},
        {"{\"a.b\":{\"c\":7}}", "a\\.b.c", SW_MAPI_JSON, 7, false},
        {yaml, "count.x", SW_MAPI_YAML, 2.43, false}, /* GetValueByPath stops at a scalar */
        {yaml, "components", SW_MAPI_YAML, 0, true},
        {prom, "nope", SW_MAPI_PROMETHEUS, 0, true},
        {"<a><b>1</b></a>", "a.b", SW_MAPI_XML, 0, true},
    };
    char err[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = 0;
        int r = sw_mapi_value(cases[i].in, strlen(cases[i].in), cases[i].key, cases[i].f, &v, err,
                              sizeof err);
        if ((r < 0) != cases[i].is_error)
            fail_msg("case %zu (%s): got %d (%s)", i, cases[i].key, r, err);
        if (r == 0 && fabs(v - cases[i].want) > 1e-9)
            fail_msg("case %zu (%s): value %g, want %g", i, cases[i].key, v, cases[i].want);
    }
}

static void test_sw_quantity_parse_as_kubernetes(void **state)
{
    static const struct {
        const char *s;
        double want;
        bool ok;
    } cases[] = {
        {"64", 64, true},       {"1k", 1000, true},  {"1500m", 1.5, true}, {"1Ki", 1024, true},
        {"2Mi", 2097152, true}, {"1e3", 1000, true}, {"1E", 1e18, true},   {"-.5", -0.5, true},
        {"+3.", 3, true},       {"NaN", 0, false},   {"", 0, false},       {" 1", 0, false},
        {"1 ", 0, false},       {"1x", 0, false},    {"1e", 0, false},     {".", 0, false}};

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = 0;
        int r = sw_quantity_parse(cases[i].s, strlen(cases[i].s), &v);
        if ((r == 0) != cases[i].ok || (r == 0 && fabs(v - cases[i].want) > 1e-6))
            fail_msg("\"%s\": r %d value %g", cases[i].s, r, v);
    }
}

static void test_scaler_spec_build_metric_names_as_keda(void **state)
{
    cJSON *md = cJSON_Parse("{\"serverAddress\":\"http://p\",\"query\":\"up\",\"threshold\":"
                            "\"100\",\"activationThreshold\":\"50\"}");
    scaler_spec_t s;
    errtext_t err;

    assert_int_equal(scaler_spec_build("prometheus", 1, md, &s, &err), 0);
    assert_string_equal(s.metric_name, "s1-prometheus");
    assert_true(s.target == 100 && s.activation == 50);
    cJSON_Delete(md);
    md = cJSON_Parse("{\"url\":\"http://dummy:1230/api/v1/\",\"valueLocation\":\"metric.test\","
                     "\"targetValue\":\"42\"}");
    assert_int_equal(scaler_spec_build("metrics-api", 1, md, &s, &err), 0);
    assert_string_equal(s.metric_name, "s1-metric-api-metric-test");
    assert_true(s.target == 42 && s.activation == 0);
    cJSON_Delete(md);
    sw_fx_expect_spec_error("prometheus", "{\"query\":\"up\"}", "threshold");
    sw_fx_expect_spec_error("metrics-api", "{\"valueLocation\":\"m\"}", "no targetValue given");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sw_prom_cfg_parse_keda_cases),
        cmocka_unit_test(test_sw_prom_cfg_parse_values_and_defaults),
        cmocka_unit_test(test_sw_prom_url_escapes_the_query),
        cmocka_unit_test(test_sw_prom_value_keda_cases),
        cmocka_unit_test(test_sw_mapi_cfg_parse_keda_cases),
        cmocka_unit_test(test_sw_mapi_cfg_parse_never_quotes_credentials),
        cmocka_unit_test(test_sw_mapi_value_keda_cases),
        cmocka_unit_test(test_sw_quantity_parse_as_kubernetes),
        cmocka_unit_test(test_scaler_spec_build_metric_names_as_keda),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
