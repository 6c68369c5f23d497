/*
 * The webhook's AdmissionReview layer (webhook/review.c): parsing what the API server sends,
 * KEDA's decisions (finalizer removal, DELETE, which rules refuse), and the answer's shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "webhook/wh_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SO_MD(md, spec)                                                                            \
    "{\"apiVersion\":\"keda.sh/v1alpha1\",\"kind\":\"ScaledObject\",\"metadata\":{" md "\"name\":" \
    "\"so\",\"namespace\":\"apps\"},\"spec\":{\"scaleTargetRef\":{\"name\":\"web\"},"              \
    "\"triggers\":[{\"type\":\"redis\",\"metadata\":{\"address\":\"r:6379\",\"listName\":"         \
    "\"q\"}}]" spec "}}"
#define SO(spec) SO_MD("", spec)

static char *review_text(const char *op, const char *obj, const char *old)
{
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":"
             "{\"uid\":\"u-1\",\"operation\":\"%s\",\"namespace\":\"apps\",\"object\":%s,"
             "\"oldObject\":%s}}",
             op, obj, old);
    return buf;
}

static void decide(const char *op, const char *obj, const char *old, wh_kind_t kind,
                   wh_verdict_t *v)
{
    wh_review_t rv;
    char err[256];
    const char *text = review_text(op, obj, old);

    assert_int_equal(wh_review_parse(text, strlen(text), &rv, err, sizeof err), 0);
    wh_review_decide(kind, &rv, NULL, v);
    wh_review_free(&rv);
}

static void test_wh_review_parse_fields(void **state)
{
    const char *t = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                    "\"request\":{\"uid\":\"abc\",\"operation\":\"UPDATE\",\"dryRun\":true,"
                    "\"object\":{\"kind\":\"X\"},\"oldObject\":null}}";
    wh_review_t rv;
    char err[256];

    assert_int_equal(wh_review_parse(t, strlen(t), &rv, err, sizeof err), 0);
    assert_string_equal(rv.uid, "abc");
    assert_string_equal(rv.operation, "UPDATE");
    assert_true(rv.dry_run);
    assert_non_null(rv.object);
    assert_null(rv.old_object);
    wh_review_free(&rv);
}

static void test_wh_review_parse_rejects_what_is_not_a_review(void **state)
{
    static const char *bad[] = {
        "",
        "{",
        "[]",
        "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"request\":{\"uid\":\"a\"}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\"}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"request\":{\"uid\":\"\"}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"request\":{\"uid\":7}}",
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"request\":{\"uid\":\"a\"}} trailing",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wh_review_t rv;
        char err[256] = "";
        assert_int_equal(wh_review_parse(bad[i], strlen(bad[i]), &rv, err, sizeof err), -EBADMSG);
        assert_true(err[0] != '\0');
    }
}

static void test_wh_kind_of_path_keda_paths(void **state)
{
    assert_int_equal(wh_kind_of_path("/validate-keda-sh-v1alpha1-scaledobject"),
                     WH_KIND_SCALEDOBJECT);
    assert_int_equal(wh_kind_of_path("/validate-keda-sh-v1alpha1-scaledjob"), WH_KIND_SCALEDJOB);
    assert_int_equal(wh_kind_of_path("/validate-keda-sh-v1alpha1-triggerauthentication"),
                     WH_KIND_TRIGGERAUTH);
    assert_int_equal(wh_kind_of_path("/validate-keda-sh-v1alpha1-clustertriggerauthentication"),
                     WH_KIND_CLUSTERTRIGGERAUTH);
    assert_int_equal(wh_kind_of_path("/validate-keda-sh-v1alpha1-scaledobjects"), WH_KIND_NONE);
    assert_int_equal(wh_kind_of_path("/healthz"), WH_KIND_NONE);
}

static void test_wh_review_decide_refuses_with_keda_message(void **state)
{
    wh_verdict_t v;

    decide("CREATE", SO(",\"minReplicaCount\":5,\"maxReplicaCount\":2"), "null",
           WH_KIND_SCALEDOBJECT, &v);
    assert_false(v.allowed);
    assert_int_equal(v.code, 403);
    assert_string_equal(v.reason, "incorrect-replicas");
    assert_string_equal(v.message, "MinReplicaCount=5 must be less than MaxReplicaCount=2");
}

static void test_wh_review_decide_admits_with_warnings(void **state)
{
    wh_verdict_t v;

    decide("CREATE", SO(",\"minReplicaCount\":1,\"pollingInterval\":10"), "null",
           WH_KIND_SCALEDOBJECT, &v);
    assert_true(v.allowed);
    assert_int_equal(v.code, 200);
    assert_int_equal(v.nwarnings, 1);
    assert_non_null(strstr(v.warnings[0], "PollingInterval is configured"));
}

static void test_wh_review_decide_finalizer_removal_skips_validation(void **state)
{
    wh_verdict_t v;
    const char *bad = SO(",\"minReplicaCount\":5,\"maxReplicaCount\":2");
    /* the same object with one more finalizer */
    const char *old =
        SO_MD("\"finalizers\":[\"finalizer.k\"],", ",\"minReplicaCount\":5,\"maxReplicaCount\":2");

    decide("UPDATE", bad, old, WH_KIND_SCALEDOBJECT, &v);
    assert_true(v.allowed);
    assert_false(v.validated);
    /* adding a finalizer is validated */
    decide("UPDATE", old, bad, WH_KIND_SCALEDOBJECT, &v);
    assert_false(v.allowed);
}

static void test_wh_review_decide_delete_and_wrong_kind(void **state)
{
    wh_verdict_t v;

    decide("DELETE", "null", SO(",\"minReplicaCount\":5,\"maxReplicaCount\":2"),
           WH_KIND_SCALEDOBJECT, &v);
    assert_true(v.allowed);
    decide("CREATE", SO(""), "null", WH_KIND_SCALEDJOB, &v);
    assert_false(v.allowed);
    assert_int_equal(v.code, 400);
}

static void test_wh_finding_denies_only_keda_rules(void **state)
{
    validate_finding_t f = {.reason = "unsupported-scaler"};

    assert_false(wh_finding_denies(&f, false));
    f.reason = "incorrect-replicas";
    assert_true(wh_finding_denies(&f, false));
    f.warning = true;
    assert_false(wh_finding_denies(&f, false));
    f = (validate_finding_t){.reason = "missing-requests"};
    assert_true(wh_finding_denies(&f, false));
    assert_false(wh_finding_denies(&f, true)); /* KEDA skips it on a dry run */
}

static cJSON *answer(const wh_verdict_t *v)
{
    httpd_arena_t a = {0};
    httpd_sbuf_t b;
    cJSON *doc;

    httpd_sbuf_init(&b, &a);
    wh_review_answer(&b, "u-\"1", v);
    assert_false(b.failed);
    doc = cJSON_Parse(b.p);
    httpd_arena_free(&a);
    assert_non_null(doc);
    return doc;
}

static void test_wh_review_answer_shapes(void **state)
{
    wh_verdict_t v = {.allowed = false, .code = 403, .message = "a <b> & \"c\""};
    cJSON *doc = answer(&v), *r = cJSON_GetObjectItem(doc, "response");

    assert_string_equal(cJSON_GetObjectItem(doc, "apiVersion")->valuestring, "admission.k8s.io/v1");
    assert_string_equal(cJSON_GetObjectItem(doc, "kind")->valuestring, "AdmissionReview");
    assert_string_equal(cJSON_GetObjectItem(r, "uid")->valuestring, "u-\"1");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(r, "allowed")));
    cJSON *st = cJSON_GetObjectItem(r, "status");
    assert_int_equal(cJSON_GetObjectItem(st, "code")->valueint, 403);
    assert_string_equal(cJSON_GetObjectItem(st, "reason")->valuestring, "Forbidden");
    assert_string_equal(cJSON_GetObjectItem(st, "message")->valuestring, "a <b> & \"c\"");
    assert_null(cJSON_GetObjectItem(r, "warnings"));
    cJSON_Delete(doc);

    v = (wh_verdict_t){.allowed = true, .code = 200, .nwarnings = 2};
    snprintf(v.warnings[0], sizeof v.warnings[0], "w1");
    snprintf(v.warnings[1], sizeof v.warnings[1], "w2");
    doc = answer(&v);
    r = cJSON_GetObjectItem(doc, "response");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "allowed")));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "status"), "code")->valueint, 200);
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "status"), "message"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "warnings")), 2);
    cJSON_Delete(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wh_review_parse_fields),
        cmocka_unit_test(test_wh_review_parse_rejects_what_is_not_a_review),
        cmocka_unit_test(test_wh_kind_of_path_keda_paths),
        cmocka_unit_test(test_wh_review_decide_refuses_with_keda_message),
        cmocka_unit_test(test_wh_review_decide_admits_with_warnings),
        cmocka_unit_test(test_wh_review_decide_finalizer_removal_skips_validation),
        cmocka_unit_test(test_wh_review_decide_delete_and_wrong_kind),
        cmocka_unit_test(test_wh_finding_denies_only_keda_rules),
        cmocka_unit_test(test_wh_review_answer_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
