/*
 * Fuzz harness: the scale target's container environment (scaleworker/env.c). The input is the
 * scale target as the API server would return it (any kind; KEDA reads spec.template), a
 * Deployment's pod template included. Secrets and ConfigMaps come from a fixed in-memory set
 * (every name resolves: "gone" does not exist, "down" fails as an unreachable API). Each
 * container is resolved by its name and the first by default; each literal value of the
 * template is also expanded on its own against what was resolved.
 *
 * Checked beyond "no crash, no leak": a failure always says why, no error text ever holds a
 * Secret's value (they are credentials; unless the input itself holds that text, as a name an
 * error may quote), and a value without '$' expands to itself.
 */
#include "scaleworker/sw_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_SECRET "fuzz-canary-9f2c" /* base64 below */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fuzz_target_text;
static size_t fuzz_target_len;
static bool fuzz_input_has_secret; /* the input names it itself (a Secret called so): no check */

static int fuzz_fetch(void *ctx, const char *kind, const char *ns, const char *name,
                      cJSON **ret_obj, char *err, size_t errlen)
{
    (void)ctx;
    if (strcmp(name, "down") == 0) {
        snprintf(err, errlen, "could not read %s %s/%s: connection refused", kind, ns, name);
        return -ECONNREFUSED;
    }
    if (strcmp(name, "gone") == 0) {
        snprintf(err, errlen, "%s %s/%s not found", kind, ns, name);
        return -ENOENT;
    }
    *ret_obj = cJSON_Parse(strcmp(kind, "Secret") == 0
                               ? "{\"data\":{\"pw\":\"ZnV6ei1jYW5hcnktOWYyYw==\",\"bad\":\"!!\","
                                 "\"nul\":\"YQBi\",\"num\":5}}"
                               : "{\"data\":{\"host\":\"h\",\"port\":\"1\",\"x\":null}}");
    return *ret_obj ? 0 : -ENOMEM;
}

static int fuzz_target(void *ctx, const char *api_version, const char *kind, const char *ns,
                       const char *name, cJSON **ret_obj, char *err, size_t errlen)
{
    (void)ctx;
    *ret_obj = cJSON_ParseWithLength(fuzz_target_text, fuzz_target_len);
    if (!*ret_obj) {
        snprintf(err, errlen, "%s %s/%s: not JSON", kind, ns, name);
        return -EBADMSG;
    }
    return 0;
}

static void fuzz_check_err(int r, const char *err)
{
    if (r < 0 && (!err[0] || (!fuzz_input_has_secret && strstr(err, FUZZ_SECRET))))
        abort();
}

static void fuzz_expand_values(const cJSON *node, const sw_auth_params_t *env)
{
    for (const cJSON *c = node ? node->child : NULL; c; c = c->next) {
        if (cJSON_IsString(c) && c->string && strcmp(c->string, "value") == 0) {
            char *v = sw_env_expand(c->valuestring, env);
            if (!v || (!strchr(c->valuestring, '$') && strcmp(v, c->valuestring) != 0))
                abort(); /* without a '$' a value is itself */
            free(v);
        }
        fuzz_expand_values(c, env);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cfg_t cfg;
    sw_auth_t *a;
    sw_env_target_t *t = NULL;
    const sw_auth_params_t *env = NULL;
    cJSON *st = cJSON_Parse("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"w\"}");
    char err[SHM_ERROR_MAX] = "";
    int r;

    if (!st)
        return 0;
    cfg_defaults(&cfg);
    cfg.restrict_secret_access = size > 0 && (data[0] & 1);
    fuzz_target_text = (const char *)data;
    fuzz_target_len = size;
    fuzz_input_has_secret = memmem(data, size, FUZZ_SECRET, strlen(FUZZ_SECRET)) != NULL;
    if (!(a = sw_auth_new(&cfg, fuzz_fetch, NULL))) {
        cJSON_Delete(st);
        return 0;
    }
    sw_auth_set_target_fetch(a, fuzz_target, NULL);
    r = sw_env_target(sw_auth_env(a), st, size > 1 && (data[1] & 1) ? "keda" : "apps", &t, err,
                      sizeof err);
    fuzz_check_err(r, err);
    if (r == 0) {
        cJSON *obj = cJSON_ParseWithLength(fuzz_target_text, fuzz_target_len);
        const cJSON *c;
        err[0] = '\0';
        r = sw_env_container(sw_auth_env(a), t, NULL, &env, err, sizeof err);
        fuzz_check_err(r, err);
        if (r == 0)
            fuzz_expand_values(obj, env);
        cJSON_ArrayForEach(c,
                           cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(
                                   cJSON_GetObjectItemCaseSensitive(
                                       cJSON_GetObjectItemCaseSensitive(obj, "spec"), "template"),
                                   "spec"),
                               "containers"))
        {
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
            err[0] = '\0';
            r = sw_env_container(sw_auth_env(a), t, name, &env, err, sizeof err);
            fuzz_check_err(r, err);
        }
        cJSON_Delete(obj);
    }
    sw_auth_free(a);
    cJSON_Delete(st);
    return 0;
}
