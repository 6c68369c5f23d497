/*
 * sw_fixture: test-only fixtures and checks of the scale worker's unit tests, never built into
 * ckeda.
 *
 * sw_fx_t holds what a scaler's `parse` sees: the trigger's metadata, the resolved
 * authentication parameters and the scale target's container environment, set one at a time
 * (sw_fx_md, sw_fx_auth, sw_fx_env) or from "key=value" strings (sw_fx_kv), and handed over
 * with sw_fx_params(). sw_fx_expect_error() checks that a parse failed with a message, and
 * sw_fx_expect_spec_error() that the watcher's side refused a trigger.
 *
 * sw_fx_fake_fetch() and sw_fx_fake_target() are a fake Kubernetes API for auth.c and env.c
 * (named as such: these unit tests drive the resolution itself; the e2e suites read a real API
 * server): Secrets and ConfigMaps from a table and one scale target, requests counted.
 */
#ifndef CKEDA_TESTS_UNIT_SW_FIXTURE_H
#define CKEDA_TESTS_UNIT_SW_FIXTURE_H

/* cmocka needs these first, in this order */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/scaler_spec.h"
#include "scaleworker/scaler.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SW_FX_PARAMS_MAX 16

typedef struct sw_fx {
    cJSON *md;
    sw_auth_params_t auth;
    sw_auth_param_t av[SW_FX_PARAMS_MAX];
    bool has_auth; /* the trigger has an authenticationRef: auth is passed, even empty */
    sw_auth_params_t env;
    sw_auth_param_t ev[SW_FX_PARAMS_MAX];
    char *dups[2 * SW_FX_PARAMS_MAX]; /* the strings sw_fx_kv() split */
    size_t ndups;
    char err[512];
} sw_fx_t;

static inline void sw_fx_init(sw_fx_t *f)
{
    memset(f, 0, sizeof *f);
    f->md = cJSON_CreateObject();
    assert_non_null(f->md);
    f->auth.v = f->av;
    f->env.v = f->ev;
}

static inline void sw_fx_fini(sw_fx_t *f)
{
    cJSON_Delete(f->md);
    f->md = NULL;
    for (size_t i = 0; i < f->ndups; i++)
        free(f->dups[i]);
    f->ndups = 0;
}

/* cmocka's setup of a test file's fixture: size bytes, zeroed, that start with an sw_fx_t
 * (initialised). */
static inline int sw_fx_setup(void **state, size_t size)
{
    sw_fx_t *f = calloc(1, size);

    if (!f)
        return -1;
    sw_fx_init(f);
    *state = f;
    return 0;
}

/* Its teardown, once the file freed what it added. */
static inline int sw_fx_teardown(void **state)
{
    sw_fx_fini(*state);
    free(*state);
    return 0;
}

/* Sets metadata k to v, replacing it; v NULL removes it. */
static inline void sw_fx_md(sw_fx_t *f, const char *k, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(f->md, k);
    if (v)
        cJSON_AddStringToObject(f->md, k, v);
}

/* Adds an authentication parameter (and so an authenticationRef); k and v are not copied. */
static inline void sw_fx_auth(sw_fx_t *f, const char *k, const char *v)
{
    assert_true(f->auth.n < SW_FX_PARAMS_MAX);
    f->av[f->auth.n++] = (sw_auth_param_t){(char *)k, (char *)v};
    f->has_auth = true;
}

/* Drops the authentication parameters and the authenticationRef. */
static inline void sw_fx_auth_clear(sw_fx_t *f)
{
    f->auth.n = 0;
    f->has_auth = false;
}

/* Adds a variable of the scale target's container; k and v are not copied. */
static inline void sw_fx_env(sw_fx_t *f, const char *k, const char *v)
{
    assert_true(f->env.n < SW_FX_PARAMS_MAX);
    f->ev[f->env.n++] = (sw_auth_param_t){(char *)k, (char *)v};
}

/* "key=value" sets metadata, "@key=value" adds an authentication parameter, up to NULL. */
static inline void sw_fx_kv(sw_fx_t *f, const char *const *kv)
{
    for (; *kv; kv++) {
        char *d = strdup(*kv), *eq = d ? strchr(d, '=') : NULL;
        assert_non_null(eq);
        assert_true(f->ndups < 2 * SW_FX_PARAMS_MAX);
        f->dups[f->ndups++] = d;
        *eq = '\0';
        if (d[0] == '@')
            sw_fx_auth(f, d + 1, eq + 1);
        else
            sw_fx_md(f, d, eq + 1);
    }
}

/* What `parse` sees; an empty environment reads as none. */
static inline sw_params_t sw_fx_params(sw_fx_t *f)
{
    return (sw_params_t){.metadata = f->md, .auth = f->has_auth ? &f->auth : NULL, .env = &f->env};
}

/* Starts f with the parameters of kv (sw_fx_kv) and returns what `parse` sees; sw_fx_fini(f)
 * when done. */
static inline sw_params_t sw_fx_of_kv(sw_fx_t *f, const char *const *kv)
{
    sw_fx_init(f);
    sw_fx_kv(f, kv);
    return sw_fx_params(f);
}

/* Asserts that a parse returned -EINVAL with a message that contains want. */
static inline void sw_fx_expect_error(int r, const char *err, const char *want)
{
    assert_int_equal(r, -EINVAL);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

/* Asserts that the watcher's side (scaler_spec_build) refuses the metadata json of a trigger of
 * type with a message that contains want. */
static inline void sw_fx_expect_spec_error(const char *type, const char *json, const char *want)
{
    cJSON *md = cJSON_Parse(json);
    scaler_spec_t s;
    errtext_t e = {""};
    int r;

    assert_non_null(md);
    r = scaler_spec_build(type, 0, md, &s, &e);
    cJSON_Delete(md);
    sw_fx_expect_error(r, e.text, want);
}

/* The value of name in p, or NULL. */
static inline const char *sw_fx_param(const sw_auth_params_t *p, const char *name)
{
    return sw_auth_param(p, name);
}

/* ---- a fake Kubernetes API (see above) ------------------------------------------------------ */

typedef struct sw_fx_object {
    const char *kind, *ns, *name, *json;
} sw_fx_object_t;

typedef struct sw_fx_fake_api {
    const sw_fx_object_t *objects; /* up to one with a NULL kind */
    int requests;
    bool transport_down; /* every read fails as an unreachable API does */
    char last_ns[64];    /* of the last request */
    const char *target;  /* the scale target's JSON, NULL: not found */
    int target_reads;
} sw_fx_fake_api_t;

/* An sw_auth_fetch_fn over a sw_fx_fake_api_t. */
static inline int sw_fx_fake_fetch(void *ctx, const char *kind, const char *ns, const char *name,
                                   cJSON **ret_obj, char *err, size_t errlen)
{
    sw_fx_fake_api_t *api = ctx;

    api->requests++;
    snprintf(api->last_ns, sizeof api->last_ns, "%s", ns);
    if (api->transport_down) {
        snprintf(err, errlen, "could not read %s %s/%s: connection refused", kind, ns, name);
        return -ECONNREFUSED;
    }
    for (const sw_fx_object_t *o = api->objects; o && o->kind; o++)
        if (strcmp(o->kind, kind) == 0 && strcmp(o->ns, ns) == 0 && strcmp(o->name, name) == 0) {
            *ret_obj = cJSON_Parse(o->json);
            return 0;
        }
    snprintf(err, errlen, "%s %s/%s not found", kind, ns, name);
    return -ENOENT;
}

/* An sw_target_fetch_fn over a sw_fx_fake_api_t: its one scale target, whatever is asked. */
static inline int sw_fx_fake_target(void *ctx, const char *api_version, const char *kind,
                                    const char *ns, const char *name, cJSON **ret_obj, char *err,
                                    size_t errlen)
{
    sw_fx_fake_api_t *api = ctx;

    (void)api_version, (void)kind, (void)ns;
    api->target_reads++;
    if (!api->target) {
        snprintf(err, errlen, "deployments.apps \"%s\" not found", name);
        return -ENOENT;
    }
    *ret_obj = cJSON_Parse(api->target);
    return 0;
}

#endif
