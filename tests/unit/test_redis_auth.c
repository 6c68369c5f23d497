/*
 * Unit tests of the scale worker's authentication resolver (scaleworker/auth.c), which gives
 * the redis scaler its username and password from a TriggerAuthentication. The Kubernetes
 * reads go through the resolver's fetch hook, here a fake that serves Secrets and ConfigMaps
 * from memory and counts requests (the real client is tested in test_k8s.c and against a real
 * API server in the e2e suite). Asserted: values decoded as KEDA does, the namespaces KEDA
 * reads from, the cache per (uid, generation) and its invalidation, clear errors for
 * what ckeda does not support, and retryable errors for what may appear later.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sw_fixture.h"

#include "scaleworker/sw_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Secret apps/redis-secret: pw = "s3cret pw", user = "ckeda"; Secret keda/cluster-secret:
 * pw = "cluster-pw"; ConfigMap apps/redis-cm: host = "redis.apps:6379". */
static const sw_fx_object_t objects[] = {
    {"Secret", "apps", "redis-secret",
     "{\"data\":{\"pw\":\"czNjcmV0IHB3\",\"user\":\"Y2tlZGE=\",\"nul\":\"YQBi\"}}"},
    {"Secret", "keda", "cluster-secret", "{\"data\":{\"pw\":\"Y2x1c3Rlci1wdw==\"}}"},
    {"ConfigMap", "apps", "redis-cm", "{\"data\":{\"host\":\"redis.apps:6379\"}}"},
    {NULL, NULL, NULL, NULL},
};

typedef struct fixture {
    cfg_t cfg;
    sw_fx_fake_api_t api;
    sw_auth_t *a;
    cJSON *auth;
    char err[SHM_ERROR_MAX];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);

    cfg_defaults(&f->cfg); /* pod namespace "keda" */
    f->api.objects = objects;
    f->a = sw_auth_new(&f->cfg, sw_fx_fake_fetch, &f->api);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    sw_auth_free(f->a);
    cJSON_Delete(f->auth);
    free(f);
    return 0;
}

/* The blob's "authentication" object; spec is JSON text. */
static const cJSON *auth_obj(fixture_t *f, const char *kind, const char *uid, const char *gen,
                             const char *spec)
{
    cJSON_Delete(f->auth);
    f->auth = cJSON_CreateObject();
    cJSON_AddStringToObject(f->auth, "kind", kind);
    cJSON_AddStringToObject(f->auth, "name", "redis-auth");
    if (strcmp(kind, "TriggerAuthentication") == 0)
        cJSON_AddStringToObject(f->auth, "namespace", "apps");
    if (uid)
        cJSON_AddStringToObject(f->auth, "uid", uid);
    if (gen)
        cJSON_AddStringToObject(f->auth, "generation", gen);
    cJSON_AddItemToObject(f->auth, "spec", cJSON_Parse(spec));
    return f->auth;
}

static const char *SPEC_PW_USER =
    "{\"secretTargetRef\":[{\"parameter\":\"password\",\"name\":\"redis-secret\",\"key\":\"pw\"},"
    "{\"parameter\":\"username\",\"name\":\"redis-secret\",\"key\":\"user\"}]}";

/* Proves Secret data is base64-decoded into the named parameters, from the TA's namespace, with
 * one request for two keys of one Secret; a missing key is KEDA's empty value. */
static void test_sw_auth_resolve_secret_target_ref(void **state)
{
    fixture_t *f = *state;
    const sw_auth_params_t *p;
    const char *spec = "{\"secretTargetRef\":["
                       "{\"parameter\":\"password\",\"name\":\"redis-secret\",\"key\":\"pw\"},"
                       "{\"parameter\":\"username\",\"name\":\"redis-secret\",\"key\":\"user\"},"
                       "{\"parameter\":\"extra\",\"name\":\"redis-secret\",\"key\":\"absent\"}]}";

    assert_int_equal(sw_auth_resolve(f->a, auth_obj(f, "TriggerAuthentication", "u1", "7", spec),
                                     "apps", &p, f->err, sizeof f->err),
                     0);
    assert_string_equal(sw_fx_param(p, "password"), "s3cret pw");
    assert_string_equal(sw_fx_param(p, "username"), "ckeda");
    assert_string_equal(sw_fx_param(p, "extra"), "");
    assert_int_equal(f->api.requests, 1);
    assert_string_equal(f->api.last_ns, "apps");
}

/* Proves the cache: the same (uid, generation) makes no request; a new generation
 * resolves again; invalidation (the source refused the credentials) resolves again. */
static void test_sw_auth_resolve_cache_per_uid_and_version(void **state)
{
    fixture_t *f = *state;
    const sw_auth_params_t *p;

    for (int i = 0; i < 3; i++)
        assert_int_equal(
            sw_auth_resolve(f->a, auth_obj(f, "TriggerAuthentication", "u1", "7", SPEC_PW_USER),
                            "apps", &p, f->err, sizeof f->err),
            0);
    assert_int_equal(f->api.requests, 1);
    assert_int_equal(sw_auth_resolve(f->a,
                                     auth_obj(f, "TriggerAuthentication", "u1", "8", SPEC_PW_USER),
                                     "apps", &p, f->err, sizeof f->err),
                     0);
    assert_int_equal(f->api.requests, 2);
    sw_auth_invalidate(f->a, "u1");
    assert_int_equal(sw_auth_resolve(f->a,
                                     auth_obj(f, "TriggerAuthentication", "u1", "8", SPEC_PW_USER),
                                     "apps", &p, f->err, sizeof f->err),
                     0);
    assert_int_equal(f->api.requests, 3);
    assert_string_equal(sw_fx_param(p, "password"), "s3cret pw");
    /* without a uid nothing is cached */
    sw_auth_resolve(f->a, auth_obj(f, "TriggerAuthentication", NULL, NULL, SPEC_PW_USER), "apps",
                    &p, f->err, sizeof f->err);
    sw_auth_resolve(f->a, auth_obj(f, "TriggerAuthentication", NULL, NULL, SPEC_PW_USER), "apps",
                    &p, f->err, sizeof f->err);
    assert_int_equal(f->api.requests, 5);
}

/* Proves a ClusterTriggerAuthentication reads from the cluster object namespace (default: the
 * pod namespace), and KEDA_RESTRICT_SECRET_ACCESS moves a TA's Secrets there too. */
static void test_sw_auth_resolve_namespaces(void **state)
{
    fixture_t *f = *state;
    const sw_auth_params_t *p;
    const char *spec = "{\"secretTargetRef\":[{\"parameter\":\"password\","
                       "\"name\":\"cluster-secret\",\"key\":\"pw\"}]}";

    assert_int_equal(sw_auth_resolve(f->a,
                                     auth_obj(f, "ClusterTriggerAuthentication", "c1", "1", spec),
                                     "apps", &p, f->err, sizeof f->err),
                     0);
    assert_string_equal(sw_fx_param(p, "password"), "cluster-pw");
    assert_string_equal(f->api.last_ns, "keda");
    f->cfg.restrict_secret_access = true;
    assert_int_equal(sw_auth_resolve(f->a, auth_obj(f, "TriggerAuthentication", "t1", "1", spec),
                                     "apps", &p, f->err, sizeof f->err),
                     0);
    assert_string_equal(f->api.last_ns, "keda");
    assert_string_equal(sw_fx_param(p, "password"), "cluster-pw");
}

/* Proves configMapTargetRef is read too, and a Secret overrides it as in KEDA's order. */
static void test_sw_auth_resolve_config_map_then_secret(void **state)
{
    fixture_t *f = *state;
    const sw_auth_params_t *p;
    const char *spec =
        "{\"configMapTargetRef\":[{\"parameter\":\"address\",\"name\":\"redis-cm\",\"key\":"
        "\"host\"},{\"parameter\":\"password\",\"name\":\"redis-cm\",\"key\":\"host\"}],"
        "\"secretTargetRef\":[{\"parameter\":\"password\",\"name\":\"redis-secret\",\"key\":\"pw\"}"
        "]}";

    assert_int_equal(sw_auth_resolve(f->a, auth_obj(f, "TriggerAuthentication", "u2", "1", spec),
                                     "apps", &p, f->err, sizeof f->err),
                     0);
    assert_string_equal(sw_fx_param(p, "address"), "redis.apps:6379");
    assert_string_equal(sw_fx_param(p, "password"), "s3cret pw");
}

/* Proves a missing Secret is a retryable failure naming the TA and the Secret, and that a
 * later success is not blocked by it. */
static void test_sw_auth_resolve_missing_secret_retryable(void **state)
{
    fixture_t *f = *state;
    const sw_auth_params_t *p;
    const char *spec =
        "{\"secretTargetRef\":[{\"parameter\":\"password\",\"name\":\"nope\",\"key\":\"pw\"}]}";
    int r = sw_auth_resolve(f->a, auth_obj(f, "TriggerAuthentication", "u3", "1", spec), "apps", &p,
                            f->err, sizeof f->err);

    assert_int_equal(r, -ENOENT);
    assert_string_equal(f->err, "authentication TriggerAuthentication apps/redis-auth: Secret "
                                "apps/nope not found");
    assert_int_equal(sw_auth_resolve(f->a,
                                     auth_obj(f, "TriggerAuthentication", "u3", "1", SPEC_PW_USER),
                                     "apps", &p, f->err, sizeof f->err),
                     0);
}

/* Proves what ckeda cannot resolve yet, or a malformed spec, is a configuration error (-EINVAL)
 * naming the field, and that a value with a NUL byte is refused. */
static void test_sw_auth_resolve_unsupported_and_malformed(void **state)
{
    static const struct {
        const char *spec, *want;
    } cases[] = {
        {"{\"filePath\":\"creds.json\"}", "spec.filePath is not supported"},
        {"{\"hashiCorpVault\":{\"address\":\"http://v\"}}", "spec.hashiCorpVault is not supp"},
        {"{\"secretTargetRef\":[{\"parameter\":\"password\",\"name\":\"redis-secret\"}]}",
         "spec.secretTargetRef[0]: parameter, name and key are required"},
    };
    fixture_t *f = *state;
    const sw_auth_params_t *p;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(
            sw_auth_resolve(f->a, auth_obj(f, "TriggerAuthentication", "u4", "1", cases[i].spec),
                            "apps", &p, f->err, sizeof f->err),
            -EINVAL);
        if (!strstr(f->err, cases[i].want))
            fail_msg("error \"%s\" lacks \"%s\"", f->err, cases[i].want);
    }
    /* an empty provider list is no provider at all */
    assert_int_equal(
        sw_auth_resolve(f->a, auth_obj(f, "TriggerAuthentication", "u5", "1", "{\"env\":[]}"),
                        "apps", &p, f->err, sizeof f->err),
        0);
    assert_int_equal(sw_auth_resolve(f->a,
                                     auth_obj(f, "TriggerAuthentication", "u6", "1",
                                              "{\"secretTargetRef\":[{\"parameter\":\"p\","
                                              "\"name\":\"redis-secret\",\"key\":\"nul\"}]}"),
                                     "apps", &p, f->err, sizeof f->err),
                     -EBADMSG);
    assert_non_null(strstr(f->err, "key nul is not valid"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sw_auth_resolve_secret_target_ref, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_auth_resolve_cache_per_uid_and_version, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sw_auth_resolve_namespaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_auth_resolve_config_map_then_secret, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sw_auth_resolve_missing_secret_retryable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sw_auth_resolve_unsupported_and_malformed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
