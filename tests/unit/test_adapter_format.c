/*
 * Adapter formatting: metric values as the Quantity strings the HPA parses (the golden cases
 * of reference keda.md 2.3, checked against apimachinery's canonical form), metav1.Status
 * bodies, JSON escaping, discovery documents and health bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "adapter/adp_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

static char *status_text(int code, const char *msg, const adp_status_details_t *d, adp_arena_t *a)
{
    adp_sbuf_t b;
    adp_sbuf_init(&b, a);
    adp_status_json(&b, code, msg, d);
    assert_false(b.failed);
    return b.p;
}

static void test_adp_status_json_is_a_metav1_status(void **state)
{
    adp_arena_t a = {0};
    adp_status_details_t d = {.name = "so", .group = "keda.sh", .kind = "scaledobjects"};
    cJSON *s = cJSON_Parse(status_text(404, "scaledobjects.keda.sh \"so\" not found", &d, &a));

    assert_non_null(s);
    assert_string_equal(cJSON_GetObjectItem(s, "kind")->valuestring, "Status");
    assert_string_equal(cJSON_GetObjectItem(s, "apiVersion")->valuestring, "v1");
    assert_string_equal(cJSON_GetObjectItem(s, "status")->valuestring, "Failure");
    assert_string_equal(cJSON_GetObjectItem(s, "reason")->valuestring, "NotFound");
    assert_int_equal(cJSON_GetObjectItem(s, "code")->valueint, 404);
    assert_string_equal(cJSON_GetObjectItem(s, "message")->valuestring,
                        "scaledobjects.keda.sh \"so\" not found");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "details"), "kind")->valuestring,
                        "scaledobjects");
    cJSON_Delete(s);
    s = cJSON_Parse(status_text(401, "Unauthorized", NULL, &a));
    assert_string_equal(cJSON_GetObjectItem(s, "reason")->valuestring, "Unauthorized");
    assert_null(cJSON_GetObjectItem(s, "details"));
    cJSON_Delete(s);
    s = cJSON_Parse(status_text(431, "too large", NULL, &a)); /* no Kubernetes reason */
    assert_null(cJSON_GetObjectItem(s, "reason"));
    cJSON_Delete(s);
    adp_arena_free(&a);
}

static void test_adp_json_string_escapes_hostile_text(void **state)
{
    adp_arena_t a = {0};
    adp_sbuf_t b;
    const char *in = "q\"b\\n\n<script>&\x01\xff\xc3\xa9";

    adp_sbuf_init(&b, &a);
    adp_json_string(&b, in);
    assert_string_equal(b.p, "\"q\\\"b\\\\n\\n\\u003cscript\\u003e\\u0026\\u0001\\ufffd\xc3\xa9\"");
    cJSON *v = cJSON_Parse(b.p);
    assert_non_null(v);
    cJSON_Delete(v);
    adp_arena_free(&a);
}

static void test_adp_discovery_write_documents(void **state)
{
    adp_arena_t a = {0};
    adp_sbuf_t b;
    cJSON *d;

    adp_sbuf_init(&b, &a);
    adp_discovery_write(ADP_ROUTE_GROUP_VERSION, &b);
    d = cJSON_Parse(b.p);
    assert_string_equal(cJSON_GetObjectItem(d, "kind")->valuestring, "APIResourceList");
    assert_string_equal(cJSON_GetObjectItem(d, "groupVersion")->valuestring,
                        "external.metrics.k8s.io/v1beta1");
    cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "resources"), 0);
    assert_string_equal(cJSON_GetObjectItem(r, "name")->valuestring, "externalmetrics");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "namespaced")));
    cJSON_Delete(d);
    for (int id = ADP_ROUTE_APIS; id <= ADP_ROUTE_GROUP; id++) {
        adp_sbuf_init(&b, &a);
        adp_discovery_write((adp_route_id_t)id, &b);
        d = cJSON_Parse(b.p);
        assert_non_null(d);
        assert_string_equal(cJSON_GetObjectItem(d, "kind")->valuestring,
                            id == ADP_ROUTE_APIS ? "APIGroupList" : "APIGroup");
        cJSON_Delete(d);
    }
    adp_arena_free(&a);
}

static void test_adp_health_write_lists_failed_checks(void **state)
{
    adp_arena_t a = {0};
    adp_sbuf_t b;
    adp_health_t ok = {true, true, true}, bad = {true, false, true};

    adp_sbuf_init(&b, &a);
    assert_int_equal(adp_health_write(ADP_ROUTE_READYZ, &ok, false, &b), 200);
    assert_string_equal(b.p, "ok");
    adp_sbuf_init(&b, &a);
    assert_int_equal(adp_health_write(ADP_ROUTE_READYZ, &bad, false, &b), 500);
    assert_non_null(strstr(b.p, "[-]watcher-synced failed"));
    assert_non_null(strstr(b.p, "readyz check failed"));
    adp_sbuf_init(&b, &a); /* liveness does not depend on the watcher */
    assert_int_equal(adp_health_write(ADP_ROUTE_LIVEZ, &bad, false, &b), 200);
    adp_arena_free(&a);
}

static void test_adp_arena_reset_and_limit(void **state)
{
    adp_arena_t a = {.limit = 64 * 1024};

    for (int i = 0; i < 100; i++)
        assert_non_null(adp_arena_alloc(&a, 500));
    assert_null(adp_arena_alloc(&a, 128 * 1024)); /* over the limit */
    adp_arena_reset(&a);
    assert_true(a.total <= ADP_ARENA_CHUNK);
    assert_string_equal(adp_arena_printf(&a, "%s-%d", "x", 7), "x-7");
    adp_arena_free(&a);
    assert_null(a.head);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adp_status_json_is_a_metav1_status),
        cmocka_unit_test(test_adp_json_string_escapes_hostile_text),
        cmocka_unit_test(test_adp_discovery_write_documents),
        cmocka_unit_test(test_adp_health_write_lists_failed_checks),
        cmocka_unit_test(test_adp_arena_reset_and_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
