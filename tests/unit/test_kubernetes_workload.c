/*
 * The kubernetes-workload scaler's pieces that need no API server: its metadata as KEDA parses
 * it (KEDA's kubernetes_workload_scaler_test.go cases), the watcher-side spec, the list request,
 * and counting pods from list replies as KEDA counts them (phases Succeeded and Failed left
 * out, terminating pods counted, distinct nodes with groupByNode, continue pages).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sw_fixture.h"

#include "common/scaler_spec.h"
#include "scaleworker/scalers/kubernetes_workload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- metadata ------------------------------------------------------------------------------ */

static cJSON *md_of(const char *json)
{
    cJSON *md = cJSON_Parse(json);
    assert_non_null(md);
    return md;
}

static int parse(const char *json, const char *ns, sw_kw_cfg_t *ret, char *err, size_t errlen)
{
    cJSON *md = md_of(json);
    shm_trig_cfg_t cfg = {.index = 0};
    sw_params_t p = {.metadata = md, .cfg = &cfg, .so_namespace = ns, .so_name = "so"};
    int r = sw_kw_cfg_parse(&p, ret, err, errlen);
    cJSON_Delete(md);
    return r;
}

static void test_sw_kw_cfg_parse_valid_and_defaults(void **state)
{
    sw_kw_cfg_t c;
    char err[256] = "";

    (void)state;
    assert_int_equal(
        parse("{\"value\": \"1\", \"podSelector\": \"app=demo\"}", "test", &c, err, sizeof err), 0);
    assert_string_equal(c.pod_selector, "app=demo");
    assert_true(c.value == 1);
    assert_true(c.activation_value == 0); /* default */
    assert_false(c.group_by_node);        /* default */
    sw_kw_cfg_free(&c);

    assert_int_equal(parse("{\"value\": \" 0.5 \", \"activationValue\": \"3.1\", \"podSelector\": "
                           "\" app in (demo1, demo2),deploy in (deploy1, deploy2) \", "
                           "\"groupByNode\": \"true\"}",
                           "test", &c, err, sizeof err),
                     0);
    assert_string_equal(c.pod_selector, "app in (demo1, demo2),deploy in (deploy1, deploy2)");
    assert_true(c.value == 0.5);
    assert_true(c.activation_value == 3.1);
    assert_true(c.group_by_node);
    sw_kw_cfg_free(&c);
}

static void test_sw_kw_cfg_parse_invalid(void **state)
{
    static const struct {
        const char *md, *want;
    } cases[] = {
        {"{\"podSelector\": \"app=demo\"}", "metadata.value: value must be a float greater than 0"},
        {"{\"value\": \"1\"}", "metadata.podSelector: missing required parameter"},
        {"{\"value\": \"1\", \"podSelector\": \"  \"}", "metadata.podSelector: missing required"},
        {"{\"value\": \"a\", \"podSelector\": \"app=demo\"}", "metadata.value"},
        {"{\"value\": \"0\", \"podSelector\": \"app=demo\"}", "value must be a float greater"},
        {"{\"value\": \"-2\", \"podSelector\": \"app=demo\"}", "value must be a float greater"},
        {"{\"value\": \"1\", \"activationValue\": \"aa\", \"podSelector\": \"app=demo\"}",
         "metadata.activationValue"},
        {"{\"value\": \"1\", \"podSelector\": \"app=demo\", \"groupByNode\": \"invalid\"}",
         "metadata.groupByNode"},
    };
    sw_kw_cfg_t c;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        assert_int_equal(parse(cases[i].md, "test", &c, err, sizeof err), -EINVAL);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err, cases[i].want);
    }
}

/* The scaler itself: the same checks, and the ScaledObject's namespace is required. */
static void test_sw_scaler_kubernetes_workload_parse(void **state)
{
    const sw_scaler_t *s = sw_scaler_find("kubernetes-workload");
    cJSON *md = md_of("{\"value\": \"1\", \"podSelector\": \"app=demo\"}");
    shm_trig_cfg_t cfg = {.index = 1};
    sw_params_t p = {.metadata = md, .cfg = &cfg, .so_namespace = "default", .so_name = "so"};
    void *st = NULL;
    char err[256] = "";

    (void)state;
    assert_non_null(s);
    assert_int_equal(s->parse(&p, &st, err, sizeof err), 0);
    assert_non_null(st);
    s->close(st);
    p.so_namespace = "";
    assert_int_equal(s->parse(&p, &st, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "namespace"));
    cJSON_Delete(md);
    md = md_of("{\"value\": \"0\", \"podSelector\": \"app=demo\"}");
    p.metadata = md;
    p.so_namespace = "default";
    assert_int_equal(s->parse(&p, &st, err, sizeof err), -EINVAL);
    cJSON_Delete(md);
}

static void test_sw_kw_metric_name_is_kedas(void **state)
{
    char buf[SHM_METRIC_MAX];

    (void)state;
    assert_int_equal(sw_kw_metric_name(0, "test", buf, sizeof buf), 0);
    assert_string_equal(buf, "s0-workload-test");
    assert_int_equal(sw_kw_metric_name(1, "default", buf, sizeof buf), 0);
    assert_string_equal(buf, "s1-workload-default");
    assert_int_equal(sw_kw_metric_name(3, "a.b", buf, 8), -ENAMETOOLONG);
}

/* The watcher's side: the same checks; the metric name comes from the worker. */
static void test_scaler_spec_build_kubernetes_workload(void **state)
{
    cJSON *md = md_of("{\"value\": \"2\", \"activationValue\": \"3\", \"podSelector\": \"a=b\"}");
    scaler_spec_t s;
    errtext_t err = {""};

    (void)state;
    assert_int_equal(scaler_spec_build("kubernetes-workload", 2, md, &s, &err), 0);
    assert_true(s.from_source);
    assert_true(s.target == 2);
    assert_true(s.activation == 3);
    assert_string_equal(s.metric_name, "s2-kubernetes-workload");
    cJSON_Delete(md);

    sw_fx_expect_spec_error("kubernetes-workload", "{\"value\": \"0\", \"podSelector\": \"a=b\"}",
                            "value must be a float greater than 0");
    sw_fx_expect_spec_error("kubernetes-workload", "{\"value\": \"1\"}", "podSelector");
    sw_fx_expect_spec_error(
        "kubernetes-workload",
        "{\"value\": \"1\", \"podSelector\": \"a=b\", \"groupByNode\": \"yes\"}", "groupByNode");
}

/* ---- the request --------------------------------------------------------------------------- */

static void test_sw_kw_list_target_escapes_and_pages(void **state)
{
    sw_kw_cfg_t c = {.pod_selector = "app in (a, b),!x", .value = 1};
    char *t;

    (void)state;
    t = sw_kw_list_target(&c, "apps", 500, NULL);
    assert_string_equal(t, "/api/v1/namespaces/apps/pods?labelSelector=app+in+%28a%2C+b%29%2C%21x"
                           "&fieldSelector=status.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed"
                           "&limit=500");
    free(t);
    c.group_by_node = true;
    t = sw_kw_list_target(&c, "apps", 100, "eyJ2Ijoi+/=");
    assert_string_equal(t, "/api/v1/namespaces/apps/pods?labelSelector=app+in+%28a%2C+b%29%2C%21x"
                           "&fieldSelector=status.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed"
                           "%2Cspec.nodeName%21%3D&limit=100&continue=eyJ2Ijoi%2B%2F%3D");
    free(t);
}

/* ---- counting ------------------------------------------------------------------------------ */

/* A PodList page: each pod "phase/node/deleting", an empty field left out. */
static char *pod_list(const char *cont, const char *const *pods, size_t n)
{
    cJSON *doc = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(doc, "items");
    cJSON *meta = cJSON_AddObjectToObject(doc, "metadata");
    char *out;

    cJSON_AddStringToObject(doc, "kind", "PodList");
    cJSON_AddStringToObject(meta, "resourceVersion", "42");
    if (cont)
        cJSON_AddStringToObject(meta, "continue", cont);
    for (size_t i = 0; i < n; i++) {
        char phase[32] = "", node[32] = "", del[8] = "";
        cJSON *pod = cJSON_CreateObject();
        sscanf(pods[i], "%31[^/]/%31[^/]/%7s", phase, node, del);
        cJSON *m = cJSON_AddObjectToObject(pod, "metadata");
        cJSON_AddStringToObject(m, "name", "p");
        if (strcmp(del, "del") == 0)
            cJSON_AddStringToObject(m, "deletionTimestamp", "2024-01-01T00:00:00Z");
        if (strcmp(node, "-") != 0)
            cJSON_AddStringToObject(cJSON_AddObjectToObject(pod, "spec"), "nodeName", node);
        if (strcmp(phase, "-") != 0)
            cJSON_AddStringToObject(cJSON_AddObjectToObject(pod, "status"), "phase", phase);
        cJSON_AddItemToArray(items, pod);
    }
    out = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return out;
}

static int count(sw_kw_count_t *c, const char *body, char **next)
{
    char err[128];
    return sw_kw_count_page(c, body, strlen(body), next, err, sizeof err);
}

static void test_sw_kw_count_page_counts_kedas_phases(void **state)
{
    /* Pending, Running, Unknown and no phase count; Succeeded and Failed do not; a terminating
     * pod counts (KEDA looks at the phase only) */
    static const char *const pods[] = {"Pending/-/",  "Running/n1/", "Succeeded/n1/", "Failed/n2/",
                                       "Unknown/n3/", "-/-/",        "Running/n1/del"};
    sw_kw_count_t c = {0};
    char *body = pod_list(NULL, pods, 7), *next = (char *)"x";

    (void)state;
    assert_int_equal(count(&c, body, &next), 0);
    assert_null(next);
    assert_true(sw_kw_count_value(&c) == 5);
    sw_kw_count_reset(&c);
    assert_true(sw_kw_count_value(&c) == 0);
    free(body);
}

static void test_sw_kw_count_page_group_by_node_counts_distinct_nodes(void **state)
{
    static const char *const p1[] = {"Running/n2/", "Pending/-/", "Running/n1/", "Failed/n9/"};
    static const char *const p2[] = {"Running/n1/", "Pending/n3/", "Running/n2/del"};
    sw_kw_count_t c = {.group_by_node = true};
    char *b1 = pod_list("tok-1", p1, 4), *b2 = pod_list(NULL, p2, 3), *next = NULL;

    (void)state;
    assert_int_equal(count(&c, b1, &next), 0);
    assert_string_equal(next, "tok-1");
    free(next);
    assert_true(sw_kw_count_value(&c) == 2); /* n1, n2: no node and a Failed pod's do not count */
    assert_int_equal(count(&c, b2, &next), 0);
    assert_null(next);
    assert_true(sw_kw_count_value(&c) == 3);
    assert_string_equal(c.nodes[0], "n1");
    assert_string_equal(c.nodes[2], "n3");
    assert_int_equal(c.pods, 6);
    sw_kw_count_reset(&c);
    free(b1);
    free(b2);
}

static void test_sw_kw_count_page_metadata_list_and_empty(void **state)
{
    static const char meta[] =
        "{\"kind\":\"PartialObjectMetadataList\",\"apiVersion\":\"meta.k8s.io/v1\","
        "\"metadata\":{\"resourceVersion\":\"7\",\"continue\":\"\"},\"items\":["
        "{\"kind\":\"PartialObjectMetadata\",\"metadata\":{\"name\":\"a\",\"labels\":{\"app\":"
        "\"w\"}}},{\"metadata\":{\"name\":\"b\"}},{\"metadata\":{\"name\":\"c\"}}]}";
    sw_kw_count_t c = {0};
    char *next = NULL;

    (void)state;
    assert_int_equal(count(&c, meta, &next), 0);
    assert_null(next); /* an empty continue is the last page */
    assert_true(sw_kw_count_value(&c) == 3);
    assert_int_equal(count(&c, "{\"kind\":\"PodList\",\"items\":null}", &next), 0);
    assert_int_equal(count(&c, "{\"kind\":\"PodList\",\"metadata\":{}}", &next), 0);
    assert_true(sw_kw_count_value(&c) == 3);
    sw_kw_count_reset(&c);
}

static void test_sw_kw_count_page_rejects_what_is_not_a_pod_list(void **state)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{\"items\": {}}",
        "{\"items\": [1]}",
        "{\"items\": [{\"status\": \"Running\"}]}",
        "{\"items\": [{\"status\": {\"phase\": 3}}]}",
        "{\"items\": [{\"spec\": {\"nodeName\": true}}]}",
        "{\"items\": [], \"metadata\": {\"continue\": 5}}",
        "{\"items\": [], \"metadata\": []}",
    };
    sw_kw_count_t c = {0};
    char err[128], *next = (char *)"unchanged";

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(sw_kw_count_page(&c, bad[i], strlen(bad[i]), &next, err, sizeof err),
                         -EINVAL);
        assert_string_equal(next, "unchanged");
        assert_non_null(strstr(err, "not a list of pods"));
    }
    assert_true(sw_kw_count_value(&c) == 0);
}

static void test_sw_kw_status_message(void **state)
{
    static const char forbidden[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"pods is "
        "forbidden: User \\\"x\\\" cannot list resource \\\"pods\\\"\",\"reason\":\"Forbidden\","
        "\"code\":403}";
    char buf[128];

    (void)state;
    sw_kw_status_message(forbidden, strlen(forbidden), buf, sizeof buf);
    assert_string_equal(buf, "pods is forbidden: User \"x\" cannot list resource \"pods\"");
    sw_kw_status_message("<html>", 6, buf, sizeof buf);
    assert_string_equal(buf, "");
    sw_kw_status_message("{\"message\": 1}", 14, buf, sizeof buf);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sw_kw_cfg_parse_valid_and_defaults),
        cmocka_unit_test(test_sw_kw_cfg_parse_invalid),
        cmocka_unit_test(test_sw_scaler_kubernetes_workload_parse),
        cmocka_unit_test(test_sw_kw_metric_name_is_kedas),
        cmocka_unit_test(test_scaler_spec_build_kubernetes_workload),
        cmocka_unit_test(test_sw_kw_list_target_escapes_and_pages),
        cmocka_unit_test(test_sw_kw_count_page_counts_kedas_phases),
        cmocka_unit_test(test_sw_kw_count_page_group_by_node_counts_distinct_nodes),
        cmocka_unit_test(test_sw_kw_count_page_metadata_list_and_empty),
        cmocka_unit_test(test_sw_kw_count_page_rejects_what_is_not_a_pod_list),
        cmocka_unit_test(test_sw_kw_status_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
