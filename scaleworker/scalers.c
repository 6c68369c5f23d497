/*
 * scalers: the table of scaler implementations, by name (the names of
 * common/scaler_registry.c), and the parameter lookup they share. Runs in scale workers.
 */
#include "scaleworker/scaler.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CKEDA_TEST_SCALERS
extern const sw_scaler_t sw_scaler_test;
#endif
extern const sw_scaler_t sw_scaler_redis;
extern const sw_scaler_t sw_scaler_redis_streams;
extern const sw_scaler_t sw_scaler_nats_jetstream;
extern const sw_scaler_t sw_scaler_cron;
extern const sw_scaler_t sw_scaler_prometheus;
extern const sw_scaler_t sw_scaler_metrics_api;
extern const sw_scaler_t sw_scaler_postgresql;
extern const sw_scaler_t sw_scaler_mysql;
extern const sw_scaler_t sw_scaler_external;
extern const sw_scaler_t sw_scaler_external_push;
extern const sw_scaler_t sw_scaler_rabbitmq;
extern const sw_scaler_t sw_scaler_kubernetes_workload;

static const sw_scaler_t *const sw_scalers[] = {
#ifdef CKEDA_TEST_SCALERS
    &sw_scaler_test,
#endif
    &sw_scaler_redis,
    &sw_scaler_redis_streams,
    &sw_scaler_nats_jetstream,
    &sw_scaler_cron,
    &sw_scaler_prometheus,
    &sw_scaler_metrics_api,
    &sw_scaler_postgresql,
    &sw_scaler_mysql,
    &sw_scaler_external,
    &sw_scaler_external_push,
    &sw_scaler_rabbitmq,
    &sw_scaler_kubernetes_workload,
    NULL,
};

const sw_scaler_t *sw_scaler_find(const char *name)
{
    for (size_t i = 0; sw_scalers[i]; i++)
        if (strcmp(sw_scalers[i]->name, name) == 0)
            return sw_scalers[i];
    return NULL;
}

const char *sw_meta_str(const cJSON *metadata, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void sw_secret_str_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

const char *sw_src_prefix(sw_src_t src)
{
    return src == SW_SRC_AUTH ? "authentication" : "metadata";
}

bool sw_key_from_env(const char *key)
{
    size_t n = key ? strlen(key) : 0;

    return n >= 7 && strcmp(key + n - 7, "FromEnv") == 0;
}

const char *sw_auth_param(const sw_auth_params_t *a, const char *name)
{
    for (size_t i = 0; a && i < a->n; i++)
        if (strcmp(a->v[i].name, name) == 0)
            return a->v[i].value;
    return NULL;
}

/* Trims s as Go's strings.TrimSpace does for ASCII; false when nothing is left. */
static bool sw_trim(const char *s, sw_param_t *ret)
{
    size_t n;

    if (!s)
        return false;
    while (isspace((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    ret->value = s;
    ret->len = n;
    return n > 0;
}

int sw_param_find(const sw_params_t *p, const char *const *names, const sw_src_t *order,
                  sw_param_t *ret)
{
    for (; *order != SW_SRC_END; order++)
        for (const char *const *n = names; *n; n++) {
            sw_param_t v = {.name = *n, .src = *order};
            char key[128];
            switch (*order) {
            case SW_SRC_METADATA:
                if (!sw_trim(sw_meta_str(p->metadata, *n), &v))
                    continue;
                break;
            case SW_SRC_AUTH:
                if (!sw_trim(sw_auth_param(p->auth, *n), &v))
                    continue;
                break;
            default: { /* SW_SRC_ENV: metadata `<name>FromEnv` names a variable */
                const cJSON *var;
                snprintf(key, sizeof key, "%sFromEnv", *n);
                var = cJSON_GetObjectItemCaseSensitive(p->metadata, key);
                if (!cJSON_IsString(var) || !sw_trim(sw_auth_param(p->env, var->valuestring), &v))
                    continue;
                v.name = var->string; /* "<name>FromEnv": where an error points */
                break;
            }
            }
            *ret = v;
            return 1;
        }
    return 0;
}
