/*
 * The external scalers' pieces that need no server: the hand-written protobuf codec (wire
 * bytes as protoc's encoders produce them, round trips, proto3's decoding rules) and the
 * metadata checks, with KEDA's test cases (external_scaler_test.go) and the watcher-side spec.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/scaler_spec.h"
#include "scaleworker/pb.h"
#include "scaleworker/scalers/external.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- protobuf ------------------------------------------------------------------------------ */

static void test_sw_pb_ref_encode_matches_protoc_bytes(void **state)
{
    sw_pb_kv_t md[] = {{"k", "value"}};
    sw_pb_ref_t ref = {"x", "apps", md, 1};
    static const uint8_t want[] = "\x0a\x01x\x12\x04"
                                  "apps\x1a\x0a\x0a\x01k\x12\x05value";
    uint8_t buf[64];

    (void)state;
    assert_int_equal(sw_pb_ref_encode(&ref, buf, sizeof buf), sizeof want - 1);
    assert_memory_equal(buf, want, sizeof want - 1);
    assert_int_equal(sw_pb_ref_size(&ref), sizeof want - 1);
    assert_int_equal(sw_pb_ref_encode(&ref, buf, 10), -EMSGSIZE);
}

static void test_sw_pb_metrics_request_encode_nests_the_ref(void **state)
{
    sw_pb_ref_t ref = {"x", "", NULL, 0};
    static const uint8_t want[] = "\x0a\x03\x0a\x01x\x12\x01m";
    sw_pb_ref_t empty = {"", "", NULL, 0};
    uint8_t buf[32];

    (void)state;
    assert_int_equal(sw_pb_metrics_request_encode(&ref, "m", buf, sizeof buf), sizeof want - 1);
    assert_memory_equal(buf, want, sizeof want - 1);
    /* an empty ScaledObjectRef is still sent as a set (empty) message */
    assert_int_equal(sw_pb_metrics_request_encode(&empty, "", buf, sizeof buf), 2);
    assert_memory_equal(buf, "\x0a\x00", 2);
}

static void test_sw_pb_ref_round_trip(void **state)
{
    sw_pb_kv_t md[] = {{"scalerAddress", "svc:9090"}, {"a", ""}, {"ünï", "cödé"}};
    sw_pb_ref_t ref = {"orders", "apps", md, 3}, back;
    sw_pb_kv_t kv[4];
    uint8_t buf[256];
    char strs[256];
    size_t n;
    long len;

    (void)state;
    len = sw_pb_ref_encode(&ref, buf, sizeof buf);
    assert_true(len > 0);
    assert_int_equal(sw_pb_ref_decode(buf, (size_t)len, strs, sizeof strs, &back, kv, 4, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(back.name, "orders");
    assert_string_equal(back.namespace, "apps");
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(back.metadata[i].key, md[i].key);
        assert_string_equal(back.metadata[i].value, md[i].value);
    }
}

static void test_sw_pb_metric_list_round_trip_and_defaults(void **state)
{
    sw_pb_metric_t m[3] = {{.name = "queue", .integer = 5, .real = 0},
                           {.name = "", .integer = -3, .real = 2.5},
                           {.name = "big", .integer = INT64_MAX, .real = 1e300}};
    sw_pb_metric_t back[3];
    uint8_t buf[256];
    size_t n;
    long len;

    (void)state;
    len = sw_pb_metric_list_encode(m, 3, buf, sizeof buf);
    assert_true(len > 0);
    assert_int_equal(sw_pb_metric_list_decode(buf, (size_t)len, back, 3, &n), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(back[i].name, m[i].name);
        assert_true(back[i].integer == m[i].integer);
        assert_true(back[i].real == m[i].real);
    }
    /* a negative int64 is a 10-byte varint (entry 0 takes 11 bytes, then a 2-byte header) */
    assert_memory_equal(buf + 13, "\x10\xfd\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
    /* an empty reply is no entries; entries past cap are counted, not stored */
    assert_int_equal(sw_pb_metric_list_decode(buf, 0, back, 3, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sw_pb_metric_list_decode(buf, (size_t)len, back, 1, &n), 0);
    assert_int_equal(n, 3);
}

static void test_sw_pb_decode_follows_proto3_rules(void **state)
{
    sw_pb_metric_t m[2];
    size_t n;
    bool active;

    (void)state;
    /* fields in any order, the last of a repeated singular field wins, unknown fields skipped
     * (varint 4, fixed32 5, fixed64 6, bytes 7), a known field of another wire type skipped */
    static const uint8_t spec[] = "\x0a\x1f\x10\x01\x20\x07\x2d\x01\x02\x03\x04"
                                  "\x31\x00\x00\x00\x00\x00\x00\x00\x00\x3a\x01z"
                                  "\x0a\x01q\x10\x09\x0d\x00\x00\x00\x00";
    assert_int_equal(sw_pb_metric_list_decode(spec, sizeof spec - 1, m, 2, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].name, "q");
    assert_int_equal(m[0].integer, 9);
    assert_int_equal(sw_pb_is_active_decode((const uint8_t *)"\x08\x01\x08\x00", 4, &active), 0);
    assert_false(active);
    assert_int_equal(sw_pb_is_active_decode((const uint8_t *)"\x08\x02", 2, &active), 0);
    assert_true(active);
    assert_int_equal(sw_pb_is_active_decode((const uint8_t *)"", 0, &active), 0);
    assert_false(active);
    /* malformed: a truncated length, an 11-byte varint, a group, field 0, bad UTF-8 */
    assert_int_equal(sw_pb_metric_list_decode((const uint8_t *)"\x0a\x05\x0a\x01", 4, m, 2, &n),
                     -EBADMSG);
    assert_int_equal(
        sw_pb_is_active_decode((const uint8_t *)"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11,
                               &active),
        -EBADMSG);
    assert_int_equal(sw_pb_is_active_decode((const uint8_t *)"\x0b\x0c", 2, &active), -EBADMSG);
    assert_int_equal(sw_pb_is_active_decode((const uint8_t *)"\x00\x01", 2, &active), -EBADMSG);
    assert_int_equal(
        sw_pb_metric_list_decode((const uint8_t *)"\x0a\x04\x0a\x02\xc3\x28", 6, m, 2, &n),
        -EBADMSG);
}

static void test_sw_pb_metric_name_longer_than_kept_is_flagged(void **state)
{
    uint8_t buf[SW_PB_NAME_MAX + 16];
    char name[SW_PB_NAME_MAX + 5];
    sw_pb_metric_t back;
    size_t n;

    (void)state;
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    /* encode by hand: the struct cannot hold the long name */
    buf[0] = 0x0a;
    buf[1] = (uint8_t)(((sizeof name - 1) + 3) | 0x80);
    buf[2] = (uint8_t)(((sizeof name - 1) + 3) >> 7);
    buf[3] = 0x0a;
    buf[4] = (uint8_t)((sizeof name - 1) | 0x80);
    buf[5] = (uint8_t)((sizeof name - 1) >> 7);
    memcpy(buf + 6, name, sizeof name - 1);
    assert_int_equal(sw_pb_metric_list_decode(buf, 6 + sizeof name - 1, &back, 1, &n), 0);
    assert_int_equal(back.name_len, sizeof name - 1);
    assert_int_equal(strlen(back.name), SW_PB_NAME_MAX - 1);
}

/* ---- metadata ------------------------------------------------------------------------------ */

static int parse_env(const char *md_json, const sw_auth_param_t *auth, size_t nauth,
                     const sw_auth_params_t *env, sw_external_cfg_t *c, char *err)
{
    cJSON *md = cJSON_Parse(md_json);
    sw_auth_params_t a = {nauth, (sw_auth_param_t *)auth};
    shm_trig_cfg_t cfg = {.index = 2};
    sw_params_t p = {.metadata = md,
                     .auth = nauth ? &a : NULL,
                     .env = env,
                     .cfg = &cfg,
                     .so_namespace = "apps",
                     .so_name = "orders"};
    int r = sw_external_cfg_parse(&p, c, err, 256);

    cJSON_Delete(md);
    return r;
}

static int parse(const char *md_json, const sw_auth_param_t *auth, size_t nauth,
                 sw_external_cfg_t *c, char *err)
{
    return parse_env(md_json, auth, nauth, NULL, c, err);
}

static const char *md_value(const sw_external_cfg_t *c, const char *key)
{
    for (size_t i = 0; i < c->nmetadata; i++)
        if (strcmp(c->metadata[i].key, key) == 0)
            return c->metadata[i].value;
    return NULL;
}

/* KEDA's parseExternalScalerMetadata: a `<key>FromEnv` entry is sent under its own key with the
 * value of the variable it names, and left out when that variable is unset or empty. */
static void test_sw_external_cfg_metadata_from_env(void **state)
{
    sw_auth_param_t vars[] = {{"DEPTH", "12"}, {"EMPTY", ""}};
    sw_auth_params_t env = {2, vars};
    sw_external_cfg_t c;
    char err[256];

    (void)state;
    assert_int_equal(parse_env("{\"scalerAddress\":\"a:1\",\"depthFromEnv\":\"DEPTH\","
                               "\"emptyFromEnv\":\"EMPTY\",\"unsetFromEnv\":\"NOPE\","
                               "\"queue\":\"q1\"}",
                               NULL, 0, &env, &c, err),
                     0);
    assert_string_equal(md_value(&c, "depthFromEnv"), "12");
    assert_string_equal(md_value(&c, "queue"), "q1");
    assert_null(md_value(&c, "emptyFromEnv"));
    assert_null(md_value(&c, "unsetFromEnv"));
    assert_int_equal(c.nmetadata, 3); /* scalerAddress, depthFromEnv, queue */
    sw_external_cfg_free(&c);
}

/* KEDA's testExternalScalerMetadata cases. */
static void test_sw_external_cfg_parse_keda_cases(void **state)
{
    sw_auth_param_t auth[] = {{"caCert", "-----BEGIN CERTIFICATE-----\n"},
                              {"tlsClientCert", "-----BEGIN CERTIFICATE-----\n"}};
    sw_external_cfg_t c;
    char err[256];

    (void)state;
    assert_int_equal(parse("{}", NULL, 0, &c, err), -EINVAL);
    assert_string_equal(err, "metadata.scalerAddress: missing required parameter "
                             "\"scalerAddress\" in [triggerMetadata]");
    assert_int_equal(parse("{\"scalerAddress\":\"myservice\",\"test1\":\"7\",\"test2\":"
                           "\"SAMPLE_CREDS\",\"enableTLS\":\"true\",\"insecureSkipVerify\":"
                           "\"true\"}",
                           auth, 2, &c, err),
                     0);
    assert_string_equal(c.host, "myservice");
    assert_string_equal(c.port, "443"); /* grpc-go's default for a target without one */
    assert_true(c.enable_tls && c.tls && !c.unsafe_ssl);
    assert_non_null(c.ca_cert);
    assert_null(c.client_key);
    assert_int_equal(c.index, 2);
    assert_string_equal(c.so_name, "orders");
    assert_int_equal(c.nmetadata, 5);
    sw_external_cfg_free(&c);
    assert_int_equal(parse("{\"test1\":\"1\",\"test2\":\"SAMPLE_CREDS\"}", NULL, 0, &c, err),
                     -EINVAL);
}

static void test_sw_external_cfg_parse_tls_rule_and_booleans(void **state)
{
    sw_auth_param_t pair[] = {{"tlsClientCert", "c"}, {"tlsClientKey", "k"}};
    sw_external_cfg_t c;
    char err[256];

    (void)state;
    assert_int_equal(parse("{\"scalerAddress\":\" 10.0.0.1:9090 \",\"unsafeSsl\":\"T\","
                           "\"keyFromEnv\":\"VAR\"}",
                           NULL, 0, &c, err),
                     0);
    assert_string_equal(c.host, "10.0.0.1");
    assert_string_equal(c.port, "9090");
    assert_true(c.unsafe_ssl && !c.tls); /* unsafeSsl alone does not turn TLS on */
    assert_int_equal(c.nmetadata, 2);    /* keyFromEnv is left out */
    sw_external_cfg_free(&c);
    assert_int_equal(parse("{\"scalerAddress\":\"dns:///[::1]:7000\"}", pair, 2, &c, err), 0);
    assert_string_equal(c.host, "::1");
    assert_string_equal(c.port, "7000");
    assert_true(c.tls); /* a client key pair turns TLS on */
    sw_external_cfg_free(&c);
    assert_int_equal(parse("{\"scalerAddress\":\"a:1\",\"enableTLS\":\"yes\"}", NULL, 0, &c, err),
                     -EINVAL);
    assert_non_null(strstr(err, "metadata.enableTLS: unable to set param"));
    /* credentials are read from the authentication only */
    assert_int_equal(parse("{\"scalerAddress\":\"a:1\",\"caCert\":\"x\"}", NULL, 0, &c, err), 0);
    assert_null(c.ca_cert);
    assert_false(c.tls);
    sw_external_cfg_free(&c);
}

static void test_scaler_spec_build_external_is_from_source(void **state)
{
    cJSON *md = cJSON_Parse("{\"scalerAddress\":\"svc:9090\"}");
    cJSON *bad = cJSON_Parse("{\"scalerAddress\":\"svc:9090\",\"unsafeSsl\":\"nope\"}");
    scaler_spec_t s;
    errtext_t err = {{0}};

    (void)state;
    assert_int_equal(scaler_spec_build("external", 1, md, &s, &err), 0);
    assert_true(s.from_source);
    assert_string_equal(s.metric_name, "s1-external");
    assert_int_equal(scaler_spec_build("external-push", 0, md, &s, &err), 0);
    assert_true(s.from_source);
    assert_int_equal(scaler_spec_build("external", 0, NULL, &s, &err), -EINVAL);
    assert_non_null(strstr(err.text, "scalerAddress"));
    assert_int_equal(scaler_spec_build("external", 0, bad, &s, &err), -EINVAL);
    assert_non_null(strstr(err.text, "metadata.unsafeSsl"));
    cJSON_Delete(md);
    cJSON_Delete(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sw_pb_ref_encode_matches_protoc_bytes),
        cmocka_unit_test(test_sw_pb_metrics_request_encode_nests_the_ref),
        cmocka_unit_test(test_sw_pb_ref_round_trip),
        cmocka_unit_test(test_sw_pb_metric_list_round_trip_and_defaults),
        cmocka_unit_test(test_sw_pb_decode_follows_proto3_rules),
        cmocka_unit_test(test_sw_pb_metric_name_longer_than_kept_is_flagged),
        cmocka_unit_test(test_sw_external_cfg_parse_keda_cases),
        cmocka_unit_test(test_sw_external_cfg_parse_tls_rule_and_booleans),
        cmocka_unit_test(test_sw_external_cfg_metadata_from_env),
        cmocka_unit_test(test_scaler_spec_build_external_is_from_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
