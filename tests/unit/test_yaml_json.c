/*
 * yaml_json: manifests read as kubectl reads them (go-yaml v2's scalar resolution, several
 * documents, anchors), and hostile streams (alias bombs, deep nesting, repeated keys) refused
 * with a message instead of memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/yaml_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *s, cJSON **docs, errtext_t *err)
{
    return yaml_json_parse(s, strlen(s), docs, err);
}

static char *print_docs(const char *s)
{
    cJSON *docs = NULL;
    errtext_t err = {{0}};

    if (parse(s, &docs, &err) < 0)
        fail_msg("parse: %s", err.text);
    char *out = cJSON_PrintUnformatted(docs);
    cJSON_Delete(docs);
    return out;
}

static void assert_docs(const char *yaml, const char *json)
{
    char *out = print_docs(yaml);
    assert_string_equal(out, json);
    free(out);
}

static void test_yaml_json_parse_scalars_as_kubectl(void **state)
{
    assert_docs(
        "a: 1\nb: \"1\"\nc: true\nd: yes\ne: off\nf: ~\ng: 1.5\nh: 0x10\ni: 010\n"
        "j: 1_000\nk: abc\nl: '2'\nm: !!str 3\nn: 1e3\no: -7\np:\n",
        "[{\"a\":1,\"b\":\"1\",\"c\":true,\"d\":true,\"e\":false,\"f\":null,\"g\":1.5,\"h\":"
        "16,\"i\":8,\"j\":1000,\"k\":\"abc\",\"l\":\"2\",\"m\":\"3\",\"n\":1000,\"o\":-7,"
        "\"p\":null}]");
    assert_docs("k: |\n  line1\n  line2\n", "[{\"k\":\"line1\\nline2\\n\"}]");
    assert_docs("1: x\ntrue: z\nq: y\n",
                "[{\"1\":\"x\",\"true\":\"z\",\"q\":true}]"); /* keys are strings */
}

static void test_yaml_json_parse_documents(void **state)
{
    assert_docs("---\na: 1\n---\n---\n- 2\n...\n", "[{\"a\":1},[2]]");
    assert_docs("", "[]");
    assert_docs("  {\"a\": [1, {\"b\": null}]}", "[{\"a\":[1,{\"b\":null}]}]");
    assert_docs("{a: 1, b: [x, z]}", "[{\"a\":1,\"b\":[\"x\",\"z\"]}]"); /* flow YAML, not JSON */
}

static void test_yaml_json_parse_aliases_expanded(void **state)
{
    assert_docs("base: &b {x: 1}\nuse: *b\nlist: [*b, *b]\n",
                "[{\"base\":{\"x\":1},\"use\":{\"x\":1},\"list\":[{\"x\":1},{\"x\":1}]}]");
}

static void test_yaml_json_parse_alias_bomb_refused(void **state)
{
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    cJSON *docs = NULL;
    errtext_t err = {{0}};

    for (int i = 1; i < 10; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n,
                              "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, "
                              "*a%d]\n",
                              i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
                              i - 1);
    assert_int_equal(parse(buf, &docs, &err), -E2BIG);
    assert_non_null(strstr(err.text, "aliases expanded"));
}

static void test_yaml_json_parse_depth_limited(void **state)
{
    char buf[1024] = "- ", json[1024] = ""; /* "- [[[...": the YAML reader */
    cJSON *docs = NULL;
    errtext_t err = {{0}};

    for (int i = 0; i < YAML_JSON_DEPTH_MAX + 1; i++)
        strcat(buf, "["), strcat(json, "[");
    for (int i = 0; i < YAML_JSON_DEPTH_MAX + 1; i++)
        strcat(buf, "]"), strcat(json, "]");
    assert_int_equal(parse(buf, &docs, &err), -E2BIG);
    assert_int_equal(parse(json, &docs, &err), -E2BIG); /* the same limit for JSON */
}

static void test_yaml_json_parse_errors_name_the_line(void **state)
{
    cJSON *docs = NULL;
    errtext_t err = {{0}};

    assert_int_equal(parse("a: 1\nb: [\n", &docs, &err), -EBADMSG);
    assert_non_null(strstr(err.text, "line "));
    assert_int_equal(parse("a: 1\nb: 2\na: 3\n", &docs, &err), -EEXIST);
    assert_non_null(strstr(err.text, "\"a\" is repeated"));
    assert_int_equal(parse("{\"a\":1,\"a\":2}", &docs, &err), -EEXIST);
    assert_int_equal(parse("a: .inf\n", &docs, &err), -EBADMSG);
    assert_int_equal(parse("a: *nope\n", &docs, &err), -EBADMSG);
    assert_int_equal(parse("base: &b {x: 1}\nc:\n  <<: *b\n", &docs, &err), -EBADMSG);
    assert_non_null(strstr(err.text, "merge keys"));
    assert_int_equal(parse("? [a]\n: 1\n", &docs, &err), -EBADMSG);
    assert_int_equal(yaml_json_parse("a: \"x\\0y\"\n", 11, &docs, &err), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_json_parse_scalars_as_kubectl),
        cmocka_unit_test(test_yaml_json_parse_documents),
        cmocka_unit_test(test_yaml_json_parse_aliases_expanded),
        cmocka_unit_test(test_yaml_json_parse_alias_bomb_refused),
        cmocka_unit_test(test_yaml_json_parse_depth_limited),
        cmocka_unit_test(test_yaml_json_parse_errors_name_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
