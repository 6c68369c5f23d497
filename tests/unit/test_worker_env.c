/*
 * Unit tests of the scale worker's environment resolver (scaleworker/env.c), the
 * TriggerAuthentication `env` source built on it (scaleworker/auth.c) and the `<name>FromEnv`
 * lookup of the scalers (sw_param_find in scaleworker/scalers.c). The scale target is a pod
 * template in JSON, as the API server returns it; Secrets, ConfigMaps and the target come from
 * the resolver's fetch hooks, here fakes serving objects from memory and counting requests (the
 * real client reads a real API server in tests/e2e/test_auth_env.py). Asserted: KEDA's
 * precedence (envFrom, then env in order), envFrom prefixes, `$(VAR)` expansion as KEDA's
 * resolveEnvValue, optional references, KEDA's errors for a missing container and a missing
 * required reference, KEDA_RESTRICT_SECRET_ACCESS, the cache per target version, and that no
 * value ever appears in an error text.
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

/* Secret apps/db: password = "pw-from-secret", user = "app" (base64 below); Secret keda/db:
 * password = "cluster-pw"; ConfigMap apps/settings: host = "db.apps", port = "5432" (and a
 * binaryData key KEDA does not read for env). */
#define SECRET_APPS_DB "{\"data\":{\"password\":\"cHctZnJvbS1zZWNyZXQ=\",\"user\":\"YXBw\"}}"
#define SECRET_KEDA_DB "{\"data\":{\"password\":\"Y2x1c3Rlci1wdw==\"}}"
#define CM_APPS_SETTINGS                                                                           \
    "{\"data\":{\"host\":\"db.apps\",\"port\":\"5432\"},\"binaryData\":{\"bin\":\"AAE=\"}}"

static const sw_fx_object_t objects[] = {
    {"Secret", "apps", "db", SECRET_APPS_DB},
    {"Secret", "keda", "db", SECRET_KEDA_DB},
    {"ConfigMap", "apps", "settings", CM_APPS_SETTINGS},
    {NULL, NULL, NULL, NULL},
};

typedef struct fixture {
    cfg_t cfg;
    sw_fx_fake_api_t api;
    sw_auth_t *a;
    cJSON *doc;
    sw_auth_params_t out;
    char target[4096];
    char err[SHM_ERROR_MAX];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);

    cfg_defaults(&f->cfg); /* pod namespace "keda" */
    f->api.objects = objects;
    f->a = sw_auth_new(&f->cfg, sw_fx_fake_fetch, &f->api);
    sw_auth_set_target_fetch(f->a, sw_fx_fake_target, &f->api);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    sw_auth_params_free(&f->out);
    sw_auth_free(f->a);
    cJSON_Delete(f->doc);
    free(f);
    return 0;
}

/* resolveEnv of one container (JSON text) in namespace ns, into f->out. */
static int resolve(fixture_t *f, const char *ns, const char *container)
{
    cJSON *c = cJSON_Parse(container);
    int r;

    assert_non_null(c);
    sw_auth_params_free(&f->out);
    f->err[0] = '\0';
    r = sw_env_resolve(sw_auth_env(f->a), c, ns, &f->out, f->err, sizeof f->err);
    cJSON_Delete(c);
    return r;
}

/* A Deployment apps/web (uid u-web, generation gen) whose template has these containers. */
static void set_target(fixture_t *f, int gen, const char *containers)
{
    snprintf(f->target, sizeof f->target,
             "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
             "\"namespace\":\"apps\",\"uid\":\"u-web\",\"generation\":%d,\"resourceVersion\":\"%d"
             "00\"},\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"containers\":%s}}}}",
             gen, gen, containers);
    f->api.target = f->target;
}

static const cJSON *scale_target(fixture_t *f)
{
    cJSON_Delete(f->doc);
    f->doc = cJSON_Parse("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"web\"}");
    return f->doc;
}

/* Proves KEDA's precedence: envFrom sources in order (a later one wins), then env entries in
 * order, each overriding what came before; valueFrom reads Secret and ConfigMap keys (an absent
 * key is ""), fieldRef is skipped, an entry with neither value nor valueFrom is "". */
static void test_sw_env_resolve_precedence(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(
        resolve(
            f, "apps",
            "{\"name\":\"app\",\"envFrom\":[{\"configMapRef\":{\"name\":\"settings\"}},"
            "{\"secretRef\":{\"name\":\"db\"}}],"
            "\"env\":[{\"name\":\"host\",\"value\":\"override\"},"
            "{\"name\":\"PW\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"db\",\"key\":"
            "\"password\"}}},"
            "{\"name\":\"PORT\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"settings\","
            "\"key\":\"port\"}}},"
            "{\"name\":\"NOKEY\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"db\",\"key\":"
            "\"absent\"}}},"
            "{\"name\":\"BIN\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"settings\","
            "\"key\":\"bin\"}}},"
            "{\"name\":\"NODE\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"spec.nodeName\"}}},"
            "{\"name\":\"BLANK\"},"
            "{\"name\":\"PW\",\"value\":\"last-wins\"}]}"),
        0);
    assert_string_equal(sw_fx_param(&f->out, "host"), "override"); /* env over envFrom */
    assert_string_equal(sw_fx_param(&f->out, "port"), "5432");     /* ConfigMap envFrom */
    assert_string_equal(sw_fx_param(&f->out, "user"), "app");      /* Secret envFrom, decoded */
    assert_string_equal(sw_fx_param(&f->out, "password"), "pw-from-secret");
    assert_string_equal(sw_fx_param(&f->out, "PW"), "last-wins"); /* a later entry wins */
    assert_string_equal(sw_fx_param(&f->out, "PORT"), "5432");
    assert_string_equal(sw_fx_param(&f->out, "NOKEY"), "");
    assert_string_equal(sw_fx_param(&f->out, "BIN"), ""); /* KEDA reads data only, not binaryData */
    assert_null(sw_fx_param(&f->out, "NODE"));
    assert_string_equal(sw_fx_param(&f->out, "BLANK"), "");
}

/* Proves envFrom's prefix is put before every key of its source, and that a key defined by an
 * earlier envFrom source is overridden by a later one. */
static void test_sw_env_resolve_envfrom_prefix(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(resolve(f, "apps",
                             "{\"envFrom\":[{\"prefix\":\"DB_\",\"secretRef\":{\"name\":\"db\"}},"
                             "{\"prefix\":\"CFG_\",\"configMapRef\":{\"name\":\"settings\"}},"
                             "{\"configMapRef\":{\"name\":\"settings\"}},"
                             "{\"prefix\":\"ho\",\"secretRef\":{\"name\":\"db\"}}]}"),
                     0);
    assert_string_equal(sw_fx_param(&f->out, "DB_password"), "pw-from-secret");
    assert_string_equal(sw_fx_param(&f->out, "DB_user"), "app");
    assert_string_equal(sw_fx_param(&f->out, "CFG_host"), "db.apps");
    assert_string_equal(sw_fx_param(&f->out, "CFG_port"), "5432");
    assert_string_equal(sw_fx_param(&f->out, "host"), "db.apps");
    assert_string_equal(sw_fx_param(&f->out, "hopassword"), "pw-from-secret");
    assert_null(sw_fx_param(&f->out, "password"));
    assert_int_equal(f->out.n, 8);
}

/* Proves optional references to objects that do not exist are skipped (the variable stays
 * unset), and required ones fail with KEDA's messages, which name objects and never a value. */
static void test_sw_env_resolve_optional_refs(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(
        resolve(f, "apps",
                "{\"envFrom\":[{\"secretRef\":{\"name\":\"gone\",\"optional\":true}},"
                "{\"configMapRef\":{\"name\":\"gone\",\"optional\":true}}],"
                "\"env\":[{\"name\":\"A\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"gone\","
                "\"key\":\"k\",\"optional\":true}}},"
                "{\"name\":\"B\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"gone\",\"key\":"
                "\"k\",\"optional\":true}}},"
                "{\"name\":\"C\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"db\",\"key\":"
                "\"password\",\"optional\":true}}}]}"),
        0);
    assert_null(sw_fx_param(&f->out, "A"));
    assert_null(sw_fx_param(&f->out, "B"));
    assert_string_equal(sw_fx_param(&f->out, "C"), "pw-from-secret");

    assert_int_equal(resolve(f, "apps",
                             "{\"env\":[{\"name\":\"C\",\"valueFrom\":{\"secretKeyRef\":{\"name\":"
                             "\"db\",\"key\":\"password\"}}},{\"name\":\"A\",\"valueFrom\":{"
                             "\"secretKeyRef\":{\"name\":\"gone\",\"key\":\"k\"}}}]}"),
                     -ENOENT);
    assert_non_null(strstr(f->err, "error resolving secret name gone for env A in namespace apps"));
    assert_null(strstr(f->err, "pw-from-secret"));
    assert_int_equal(resolve(f, "apps",
                             "{\"env\":[{\"name\":\"B\",\"valueFrom\":{\"configMapKeyRef\":{"
                             "\"name\":\"gone\",\"key\":\"k\",\"optional\":false}}}]}"),
                     -ENOENT);
    assert_non_null(strstr(f->err, "error resolving config gone for env B in namespace apps"));
    assert_int_equal(resolve(f, "apps", "{\"envFrom\":[{\"configMapRef\":{\"name\":\"gone\"}}]}"),
                     -ENOENT);
    assert_non_null(strstr(f->err, "error reading config ref gone on namespace apps/"));
    assert_int_equal(resolve(f, "apps", "{\"envFrom\":[{\"secretRef\":{\"name\":\"gone\"}}]}"),
                     -ENOENT);
    assert_non_null(strstr(f->err, "error reading secret ref gone on namespace apps"));

    /* an unreachable API is not "absent": even an optional reference fails (and is retried) */
    f->api.transport_down = true;
    assert_int_equal(
        resolve(f, "apps", "{\"envFrom\":[{\"secretRef\":{\"name\":\"db\",\"optional\":true}}]}"),
        -ECONNREFUSED);
}

/* Proves `$(VAR)` in a value expands from what is resolved before it, exactly as KEDA's
 * resolveEnvValue (its own test cases: dependent, unchanged, escaped, empty, incomplete). */
static void test_sw_env_expand_keda_cases(void **state)
{
    static const struct {
        const char *value, *want;
    } cases[] = {
        {"$(K)-dependent", "v-dependent"},
        {"dependent2-$(K)", "dependent2-v"},
        {"$(UNSET)-unchanged", "$(UNSET)-unchanged"},
        {"$$(K)-escaped", "$(K)-escaped"},
        {"$()-empty", "$()-empty"},
        {"$(K-incomplete", "$(K-incomplete"},
        {"a$(K)", "av"},
        {"$(K)", "v"},
        {"x$(K)", "xv"},
        {"ab$$", "ab$$"}, /* too close to the end to be looked at */
        {"$$$$", "$$$"},  /* the first "$$" is "$"; the second pair is too close to the end */
        {"$x$(K)", "$xv"},
        {"", ""},
    };
    sw_auth_param_t kv[] = {{"K", "v"}};
    sw_auth_params_t env = {1, kv};
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = sw_env_expand(cases[i].value, &env);
        assert_non_null(got);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("\"%s\" expanded to \"%s\", KEDA gives \"%s\"", cases[i].value, got,
                     cases[i].want);
        free(got);
    }
}

/* Proves env entries see what was resolved before them (envFrom and earlier entries), not
 * after, as in KEDA's TestResolveDependentEnv. */
static void test_sw_env_resolve_dependent_values(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(resolve(f, "apps",
                             "{\"envFrom\":[{\"configMapRef\":{\"name\":\"settings\"}}],"
                             "\"env\":[{\"name\":\"EARLY\",\"value\":\"$(LATE)\"},"
                             "{\"name\":\"LATE\",\"value\":\"late\"},"
                             "{\"name\":\"URL\",\"value\":\"postgres://$(host):$(port)/x\"}]}"),
                     0);
    assert_string_equal(sw_fx_param(&f->out, "EARLY"), "$(LATE)");
    assert_string_equal(sw_fx_param(&f->out, "URL"), "postgres://db.apps:5432/x");
}

/* Proves KEDA_RESTRICT_SECRET_ACCESS: outside the cluster object namespace no Secret is read
 * (secretKeyRef entries and secretRef sources are skipped, ConfigMaps still are); inside it
 * Secrets are read as usual. */
static void test_sw_env_resolve_restricted_secret_access(void **state)
{
    fixture_t *f = *state;
    const char *ctr = "{\"envFrom\":[{\"secretRef\":{\"name\":\"db\"}}],"
                      "\"env\":[{\"name\":\"PW\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"db\","
                      "\"key\":\"password\"}}},{\"name\":\"H\",\"valueFrom\":{"
                      "\"configMapKeyRef\":{\"name\":\"settings\",\"key\":\"host\"}}}]}";

    f->cfg.restrict_secret_access = true;
    f->api.requests = 0;
    assert_int_equal(resolve(f, "apps", ctr), 0);
    assert_null(sw_fx_param(&f->out, "PW"));
    assert_null(sw_fx_param(&f->out, "password"));
    assert_string_equal(sw_fx_param(&f->out, "H"), "db.apps");
    assert_int_equal(f->api.requests, 1); /* the ConfigMap only */

    assert_int_equal(resolve(f, "keda",
                             "{\"env\":[{\"name\":\"PW\",\"valueFrom\":{"
                             "\"secretKeyRef\":{\"name\":\"db\",\"key\":"
                             "\"password\"}}}]}"),
                     0);
    assert_string_equal(sw_fx_param(&f->out, "PW"), "cluster-pw");
    snprintf(f->cfg.cluster_object_namespace, sizeof f->cfg.cluster_object_namespace, "apps");
    assert_int_equal(resolve(f, "apps", ctr), 0);
    assert_string_equal(sw_fx_param(&f->out, "PW"), "pw-from-secret");
}

/* Proves the container choice: the first by default, envSourceContainerName's otherwise;
 * a name that matches none is KEDA's error; a template without containers is an empty
 * environment; a missing target is the API server's NotFound. */
static void test_sw_env_container_missing_container(void **state)
{
    fixture_t *f = *state;
    sw_env_t *e = sw_auth_env(f->a);
    const sw_auth_params_t *env;
    sw_env_target_t *t;

    set_target(f, 1,
               "[{\"name\":\"first\",\"env\":[{\"name\":\"WHO\",\"value\":\"first\"}]},"
               "{\"name\":\"second\",\"env\":[{\"name\":\"WHO\",\"value\":\"second\"}]}]");
    assert_int_equal(sw_env_target(e, scale_target(f), "apps", &t, f->err, sizeof f->err), 0);
    assert_int_equal(sw_env_container(e, t, NULL, &env, f->err, sizeof f->err), 0);
    assert_string_equal(sw_fx_param(env, "WHO"), "first");
    assert_int_equal(sw_env_container(e, t, "second", &env, f->err, sizeof f->err), 0);
    assert_string_equal(sw_fx_param(env, "WHO"), "second");
    assert_int_equal(sw_env_container(e, t, "third", &env, f->err, sizeof f->err), -ESRCH);
    assert_string_equal(f->err, "couldn't find container with name third on Target object");

    sw_env_invalidate(e, "u-web");
    set_target(f, 2, "[]");
    assert_int_equal(sw_env_target(e, scale_target(f), "apps", &t, f->err, sizeof f->err), 0);
    assert_int_equal(sw_env_container(e, t, "third", &env, f->err, sizeof f->err), 0);
    assert_int_equal(env->n, 0);

    sw_env_invalidate(e, "u-web");
    f->api.target = NULL;
    assert_int_equal(sw_env_target(e, scale_target(f), "apps", &t, f->err, sizeof f->err), -ENOENT);
    assert_string_equal(f->err, "deployments.apps \"web\" not found");
}

/* Proves the cache: a target read within the last second is not read again; the same version
 * read again resolves nothing again; a new generation resolves again; invalidation (a refused
 * credential) drops it. */
static void test_sw_env_target_cache_per_version(void **state)
{
    fixture_t *f = *state;
    sw_env_t *e = sw_auth_env(f->a);
    const sw_auth_params_t *env;
    sw_env_target_t *t;
    const char *ctrs = "[{\"name\":\"c\",\"env\":[{\"name\":\"PW\",\"valueFrom\":{"
                       "\"secretKeyRef\":{\"name\":\"db\",\"key\":\"password\"}}}]}]";

    set_target(f, 1, ctrs);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sw_env_target(e, scale_target(f), "apps", &t, f->err, sizeof f->err), 0);
        assert_int_equal(sw_env_container(e, t, "c", &env, f->err, sizeof f->err), 0);
        assert_string_equal(sw_fx_param(env, "PW"), "pw-from-secret");
    }
    assert_int_equal(f->api.target_reads, 1);
    assert_int_equal(f->api.requests, 1);
    assert_string_equal(sw_env_target_key(t), "u-web/g1");

    sw_env_invalidate(e, "u-web");
    assert_int_equal(sw_env_target(e, scale_target(f), "apps", &t, f->err, sizeof f->err), 0);
    assert_int_equal(sw_env_container(e, t, "c", &env, f->err, sizeof f->err), 0);
    assert_int_equal(f->api.target_reads, 2);
    assert_int_equal(f->api.requests, 2);

    set_target(f, 2, ctrs);
    sw_env_invalidate(e, "u-web"); /* (the freshness window would hide the new version) */
    assert_int_equal(sw_env_target(e, scale_target(f), "apps", &t, f->err, sizeof f->err), 0);
    assert_string_equal(sw_env_target_key(t), "u-web/g2");
    assert_int_equal(sw_env_container(e, t, "c", &env, f->err, sizeof f->err), 0);
    assert_int_equal(f->api.requests, 3);
}

/* Proves a TriggerAuthentication's `env` source: containerName picks the container, a missing
 * container or variable gives "" (KEDA), and secretTargetRef, resolved after env, wins for the
 * same parameter; the cache keys on the target's version too. */
static void test_sw_auth_resolve_env_source(void **state)
{
    fixture_t *f = *state;
    sw_env_t *e = sw_auth_env(f->a);
    const sw_auth_params_t *p;
    sw_env_target_t *t;
    cJSON *auth = cJSON_Parse(
        "{\"kind\":\"TriggerAuthentication\",\"namespace\":\"apps\",\"name\":\"a\",\"uid\":"
        "\"ta1\",\"generation\":\"1\",\"spec\":{\"env\":["
        "{\"parameter\":\"password\",\"name\":\"PW\"},"
        "{\"parameter\":\"user\",\"name\":\"WHO\",\"containerName\":\"side\"},"
        "{\"parameter\":\"ghost\",\"name\":\"PW\",\"containerName\":\"nope\"},"
        "{\"parameter\":\"unset\",\"name\":\"NOT_SET\"},"
        "{\"parameter\":\"host\",\"name\":\"PW\"}],"
        "\"secretTargetRef\":[{\"parameter\":\"host\",\"name\":\"db\",\"key\":\"user\"}]}}");

    set_target(f, 1,
               "[{\"name\":\"main\",\"env\":[{\"name\":\"PW\",\"valueFrom\":{\"secretKeyRef\":{"
               "\"name\":\"db\",\"key\":\"password\"}}}]},"
               "{\"name\":\"side\",\"env\":[{\"name\":\"WHO\",\"value\":\"sidecar\"}]}]");
    assert_true(sw_auth_uses_env(auth));
    assert_int_equal(sw_env_target(e, scale_target(f), "apps", &t, f->err, sizeof f->err), 0);
    assert_int_equal(sw_auth_resolve_env(f->a, auth, "apps", t, &p, f->err, sizeof f->err), 0);
    assert_string_equal(sw_fx_param(p, "password"), "pw-from-secret");
    assert_string_equal(sw_fx_param(p, "user"), "sidecar");
    assert_string_equal(sw_fx_param(p, "ghost"), "");
    assert_string_equal(sw_fx_param(p, "unset"), "");
    assert_string_equal(sw_fx_param(p, "host"), "app"); /* secretTargetRef after env */
    int reads = f->api.requests;
    assert_int_equal(sw_auth_resolve_env(f->a, auth, "apps", t, &p, f->err, sizeof f->err), 0);
    assert_int_equal(f->api.requests, reads); /* cached */

    /* without a target (no pod template) every env parameter is "" */
    assert_int_equal(sw_auth_resolve(f->a, auth, "apps", &p, f->err, sizeof f->err), 0);
    assert_string_equal(sw_fx_param(p, "password"), "");
    assert_string_equal(sw_fx_param(p, "host"), "app");

    /* a required reference of the container that is missing fails, naming no value */
    sw_env_invalidate(e, "u-web");
    set_target(f, 2,
               "[{\"name\":\"main\",\"env\":[{\"name\":\"PW\",\"valueFrom\":{\"secretKeyRef\":{"
               "\"name\":\"missing\",\"key\":\"password\"}}}]}]");
    assert_int_equal(sw_env_target(e, scale_target(f), "apps", &t, f->err, sizeof f->err), 0);
    assert_int_equal(sw_auth_resolve_env(f->a, auth, "apps", t, &p, f->err, sizeof f->err),
                     -ENOENT);
    assert_non_null(strstr(f->err, "authentication TriggerAuthentication apps/a: error resolving "
                                   "secret name missing for env PW"));
    cJSON_Delete(auth);
}

/* Proves sw_param_find's `<name>FromEnv` as KEDA's typed config: the metadata value names the
 * variable verbatim; a variable that is not set, empty or blank is absent (the next source is
 * asked); the value is trimmed; the name found is "<name>FromEnv" (errors point at it). */
static void test_sw_param_find_from_env(void **state)
{
    static const char *const names[] = {"password", NULL};
    static const sw_src_t env_auth[] = {SW_SRC_ENV, SW_SRC_AUTH, SW_SRC_END};
    static const sw_src_t meta_env[] = {SW_SRC_METADATA, SW_SRC_ENV, SW_SRC_END};
    sw_auth_param_t ev[] = {{"PW", "  env-pw \n"}, {"BLANK", "  "}, {" PW", "spaced"}};
    sw_auth_params_t env = {3, ev};
    sw_auth_param_t av[] = {{"password", "auth-pw"}};
    sw_auth_params_t auth = {1, av};
    cJSON *md = cJSON_CreateObject();
    sw_params_t p = {.metadata = md, .auth = &auth, .env = &env};
    sw_param_t v;
    (void)state;

    cJSON_AddStringToObject(md, "passwordFromEnv", "PW");
    assert_int_equal(sw_param_find(&p, names, env_auth, &v), 1);
    assert_int_equal(v.src, SW_SRC_ENV);
    assert_string_equal(v.name, "passwordFromEnv");
    assert_int_equal(v.len, 6);
    assert_memory_equal(v.value, "env-pw", 6);
    assert_string_equal(sw_src_prefix(v.src), "metadata");

    cJSON_ReplaceItemInObject(md, "passwordFromEnv", cJSON_CreateString(" PW"));
    assert_int_equal(sw_param_find(&p, names, env_auth, &v), 1); /* not trimmed: " PW" */
    assert_memory_equal(v.value, "spaced", 6);

    cJSON_ReplaceItemInObject(md, "passwordFromEnv", cJSON_CreateString("BLANK"));
    assert_int_equal(sw_param_find(&p, names, env_auth, &v), 1);
    assert_int_equal(v.src, SW_SRC_AUTH);
    cJSON_ReplaceItemInObject(md, "passwordFromEnv", cJSON_CreateString("NOT_SET"));
    assert_int_equal(sw_param_find(&p, names, env_auth, &v), 1);
    assert_int_equal(v.src, SW_SRC_AUTH);
    assert_int_equal(sw_param_find(&p, names, meta_env, &v), 0);

    p.env = NULL; /* nothing resolved: every variable is unset */
    cJSON_ReplaceItemInObject(md, "passwordFromEnv", cJSON_CreateString("PW"));
    assert_int_equal(sw_param_find(&p, names, meta_env, &v), 0);
    cJSON_Delete(md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sw_env_resolve_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_env_resolve_envfrom_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_env_resolve_optional_refs, setup, teardown),
        cmocka_unit_test(test_sw_env_expand_keda_cases),
        cmocka_unit_test_setup_teardown(test_sw_env_resolve_dependent_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_env_resolve_restricted_secret_access, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sw_env_container_missing_container, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_env_target_cache_per_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_auth_resolve_env_source, setup, teardown),
        cmocka_unit_test(test_sw_param_find_from_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
