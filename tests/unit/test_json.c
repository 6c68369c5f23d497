/*
 * Unit tests of common/json (jsonu_): checked getters over untrusted JSON, path syntax, error
 * texts that name the field, pruning for the informers' strip hooks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/json.h"

#include <errno.h>
#include <string.h>

static const char doc_text[] =
    "{\"metadata\":{\"name\":\"web\",\"namespace\":\"prod\",\"resourceVersion\":\"42\","
    "\"creationTimestamp\":null,\"annotations\":{\"k8s.io/initial-events-end\":\"true\"},"
    "\"managedFields\":[{\"manager\":\"kubectl\"}]},"
    "\"spec\":{\"replicas\":3,\"paused\":false,\"ratio\":0.5,\"big\":9007199254740993,"
    "\"neg\":-7,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
    "\"triggers\":[{\"type\":\"redis\"},{\"type\":\"cron\",\"metadata\":{\"start\":\"0 * * * "
    "*\"}}]},"
    "\"status\":{\"replicas\":2,\"readyReplicas\":1,\"conditions\":[]}}";

static int setup(void **state)
{
    cJSON *root = NULL;

    assert_int_equal(jsonu_parse(doc_text, strlen(doc_text), &root, NULL), 0);
    *state = root;
    return 0;
}

static int teardown(void **state)
{
    cJSON_Delete(*state);
    return 0;
}

/* Proves that dotted paths, [n] indices and ["key"] keys reach nested members. */
static void test_jsonu_lookup_paths(void **state)
{
    const cJSON *root = *state, *n;

    n = jsonu_lookup(root, "spec.triggers[1].metadata.start");
    assert_non_null(n);
    assert_string_equal(n->valuestring, "0 * * * *");
    n = jsonu_lookup(root, "metadata.annotations[\"k8s.io/initial-events-end\"]");
    assert_non_null(n);
    assert_string_equal(n->valuestring, "true");
    assert_null(jsonu_lookup(root, "spec.triggers[2]"));
    assert_null(jsonu_lookup(root, "spec.replicas.x"));
    assert_null(jsonu_lookup(root, "metadata.creationTimestamp")); /* null counts as missing */
}

/* Proves that malformed paths are refused, never half-walked. */
static void test_jsonu_lookup_malformed(void **state)
{
    const cJSON *root = *state;
    errtext_t e;
    const char *s;

    assert_null(jsonu_lookup(root, "spec..replicas"));
    assert_null(jsonu_lookup(root, "spec.triggers[x]"));
    assert_null(jsonu_lookup(root, "spec.triggers[0"));
    assert_null(jsonu_lookup(root, "metadata."));
    assert_int_equal(jsonu_get_string(root, "a[\"unterminated", 0, &s, &e), -EINVAL);
    assert_non_null(strstr(e.text, "malformed field path"));
}

/* Proves that a missing field and a wrong type are told apart and named by path. */
static void test_jsonu_get_string_errors(void **state)
{
    const cJSON *root = *state;
    const char *s = "untouched";
    errtext_t e;

    assert_int_equal(jsonu_get_string(root, "spec.triggers[0].name", 0, &s, &e), -ENOENT);
    assert_string_equal(e.text, "field \"spec.triggers[0].name\" is missing");
    assert_int_equal(jsonu_get_string(root, "spec.replicas", 0, &s, &e), -EINVAL);
    assert_string_equal(e.text, "field \"spec.replicas\" must be a string");
    assert_int_equal(jsonu_get_string(root, "spec.replicas.x", 0, &s, &e), -EINVAL);
    assert_string_equal(e.text, "field \"spec.replicas\" must be an object");
    assert_string_equal(s, "untouched"); /* ret_ untouched on failure */
    assert_int_equal(jsonu_get_string(root, "metadata.name", 2, &s, &e), -ENAMETOOLONG);
    assert_non_null(strstr(e.text, "longer than 2 bytes"));
    assert_int_equal(jsonu_get_string(root, "metadata.name", 3, &s, NULL), 0);
    assert_string_equal(s, "web");
}

/* Proves that jsonu_copy_string fits the string and its NUL into the buffer or refuses. */
static void test_jsonu_copy_string_bounds(void **state)
{
    const cJSON *root = *state;
    char buf[4] = "xyz";

    assert_int_equal(jsonu_copy_string(root, "metadata.namespace", buf, sizeof buf, NULL),
                     -ENAMETOOLONG);
    assert_string_equal(buf, "xyz");
    assert_int_equal(jsonu_copy_string(root, "metadata.name", buf, sizeof buf, NULL), 0);
    assert_string_equal(buf, "web");
}

/* Proves that integers are range-checked, must be integral and exactly representable. */
static void test_jsonu_get_int64_ranges(void **state)
{
    const cJSON *root = *state;
    int64_t v = 0;
    int32_t v32 = 0;
    errtext_t e;

    assert_int_equal(jsonu_get_int64(root, "spec.replicas", 0, 100, &v, NULL), 0);
    assert_int_equal(v, 3);
    assert_int_equal(jsonu_get_int64(root, "spec.replicas", 4, 100, &v, &e), -ERANGE);
    assert_string_equal(e.text, "field \"spec.replicas\" must be between 4 and 100");
    assert_int_equal(jsonu_get_int64(root, "spec.ratio", 0, 100, &v, &e), -ERANGE);
    assert_string_equal(e.text, "field \"spec.ratio\" must be an integer");
    assert_int_equal(jsonu_get_int64(root, "spec.big", INT64_MIN, INT64_MAX, &v, NULL), -ERANGE);
    assert_int_equal(jsonu_get_int32(root, "spec.neg", -10, 10, &v32, NULL), 0);
    assert_int_equal(v32, -7);
    assert_int_equal(jsonu_get_int32(root, "spec.neg", 0, INT32_MAX, &v32, NULL), -ERANGE);
    assert_int_equal(jsonu_get_int32(root, "metadata.name", 0, 1, &v32, &e), -EINVAL);
    assert_string_equal(e.text, "field \"metadata.name\" must be a number");
}

/* Proves booleans, doubles, objects and arrays are typed. */
static void test_jsonu_get_bool_and_others(void **state)
{
    const cJSON *root = *state, *n = NULL;
    bool b = true;
    double d = 0;

    assert_int_equal(jsonu_get_bool(root, "spec.paused", &b, NULL), 0);
    assert_false(b);
    assert_int_equal(jsonu_get_bool(root, "spec.replicas", &b, NULL), -EINVAL);
    assert_int_equal(jsonu_get_double(root, "spec.ratio", &d, NULL), 0);
    assert_true(d == 0.5);
    assert_int_equal(jsonu_get_object(root, "spec.selector", &n, NULL), 0);
    assert_int_equal(jsonu_get_array(root, "spec.selector", &n, NULL), -EINVAL);
    assert_int_equal(jsonu_get_array(root, "status.conditions", &n, NULL), 0);
    assert_int_equal(cJSON_GetArraySize(n), 0);
}

/* Proves that a root that is not an object is reported as such. */
static void test_jsonu_get_string_root_not_object(void **state)
{
    cJSON *arr = cJSON_CreateArray();
    const char *s;
    errtext_t e;

    assert_int_equal(jsonu_get_string(arr, "a", 0, &s, &e), -EINVAL);
    assert_non_null(strstr(e.text, "the document must be an object"));
    cJSON_Delete(arr);
}

/* Proves that malformed and trailing input are refused with the byte offset. */
static void test_jsonu_parse_malformed(void **state)
{
    cJSON *root = (cJSON *)0x1;
    errtext_t e;

    assert_int_equal(jsonu_parse("{\"a\":", 5, &root, &e), -EBADMSG);
    assert_non_null(strstr(e.text, "malformed JSON"));
    assert_int_equal(jsonu_parse("{} x", 4, &root, &e), -EBADMSG);
    assert_non_null(strstr(e.text, "trailing data"));
    assert_ptr_equal(root, (cJSON *)0x1);
    assert_int_equal(jsonu_parse("{}\r\n ", 5, &root, NULL), 0);
    cJSON_Delete(root);
    /* exactly len bytes: what follows is not read */
    assert_int_equal(jsonu_parse("{\"a\":1}garbage", 7, &root, NULL), 0);
    cJSON_Delete(root);
}

/* Proves that pruning keeps exactly the listed paths (the Deployment strip of the watcher). */
static void test_jsonu_prune_keeps_listed(void **state)
{
    static const char *const keep[] = {
        "metadata.name", "metadata.namespace", "metadata.resourceVersion", "spec.replicas",
        "spec.selector", "status.replicas",    "status.readyReplicas"};
    cJSON *root = *state;
    char *s;

    assert_int_equal(jsonu_prune(root, keep, sizeof keep / sizeof keep[0]), 0);
    s = jsonu_print(root);
    assert_string_equal(s, "{\"metadata\":{\"name\":\"web\",\"namespace\":\"prod\","
                           "\"resourceVersion\":\"42\"},\"spec\":{\"replicas\":3,"
                           "\"selector\":{\"matchLabels\":{\"app\":\"web\"}}},"
                           "\"status\":{\"replicas\":2,\"readyReplicas\":1}}");
    cJSON_free(s);
    assert_int_equal(jsonu_prune(root, keep, JSONU_PRUNE_MAX + 1), -EINVAL);
}

/* Proves that jsonu_remove drops a member and ignores a missing one. */
static void test_jsonu_remove_member(void **state)
{
    cJSON *root = *state;

    jsonu_remove(root, "metadata.managedFields");
    assert_null(jsonu_lookup(root, "metadata.managedFields"));
    assert_non_null(jsonu_lookup(root, "metadata.name"));
    jsonu_remove(root, "metadata.nothing.here");
    jsonu_remove(root, "spec");
    assert_null(jsonu_lookup(root, "spec"));
}

/* JSON's number grammar, as KEDA's typed config (Go's json.Unmarshal) accepts numbers. */
static void test_jsonu_is_number_grammar(void **state)
{
    static const char *const yes[] = {"0", "-0", "5", "12.5", "1e3", "1E+3", "-2.5e-7"};
    static const char *const no[] = {"", "-", "+5", ".5", "5.", "05", "1e", "1e+", "0x1", " 1"};

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(jsonu_is_number(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(jsonu_is_number(no[i], strlen(no[i])));
    assert_true(jsonu_is_number("12x", 2)); /* only the n bytes count */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_jsonu_lookup_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonu_lookup_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonu_get_string_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonu_copy_string_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonu_get_int64_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonu_get_bool_and_others, setup, teardown),
        cmocka_unit_test(test_jsonu_get_string_root_not_object),
        cmocka_unit_test(test_jsonu_parse_malformed),
        cmocka_unit_test(test_jsonu_is_number_grammar),
        cmocka_unit_test_setup_teardown(test_jsonu_prune_keeps_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonu_remove_member, setup, teardown),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
