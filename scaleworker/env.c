/*
 * env: the scale target's container environment, as KEDA resolves it for `<name>FromEnv`
 * metadata and TriggerAuthentication `env` sources (pkg/scaling/resolver/scale_resolvers.go:
 * ResolveScaleTargetPodSpec, ResolveContainerEnv, resolveEnv). Runs in the scale worker when a
 * trigger's configuration is loaded and it needs the environment; the target comes from the
 * config blob's `scaleTarget`, the objects through the read-only Kubernetes client (auth.c's
 * fetchers, which tests replace).
 *
 * KEDA's rules, kept here:
 * - The target is any kind whose object has spec.template (Deployments, StatefulSets, custom
 *   resources), or for a ScaledJob's triggers the ScaledJob's spec.jobTargetRef.template; a
 *   template without containers gives an empty environment, not an error.
 * - The container is the one named envSourceContainerName (a TriggerAuthentication's
 *   containerName), else the first; a name that matches none is KEDA's error.
 * - envFrom first, in order (a ConfigMap's `data`, a Secret's data, each key with the source's
 *   prefix), then env in order, each name overriding what came before. `value` expands
 *   `$(VAR)` against what is resolved so far (`$$` escapes), exactly as KEDA's resolveEnvValue;
 *   `valueFrom.secretKeyRef` / `configMapKeyRef` read a key ("" when the key is absent);
 *   fieldRef and resourceFieldRef are skipped; an entry with neither is "".
 * - An optional reference to an object that does not exist (or may not be read) is skipped;
 *   a required one fails the resolution with KEDA's message.
 * - KEDA_RESTRICT_SECRET_ACCESS: a target outside the cluster object namespace gets no Secret
 *   at all (its secretKeyRef entries and secretRef sources are skipped, as KEDA skips them).
 * Where ckeda differs: a transport failure of the API is never taken for "optional and
 * absent" (it would be cached): it fails the resolution, which the worker retries. A Secret
 * value holding a NUL byte cannot be a C string: an envFrom key with one is left out, a
 * secretKeyRef to one fails.
 *
 * Cache: per target version (uid and metadata.generation, else resourceVersion), bounded to
 * SW_ENV_CACHE targets, least recently used first out; each container's environment is
 * resolved once per version. A target read less than SW_ENV_FRESH_MS ago is not read again
 * (the triggers of one object load together). sw_env_invalidate() drops a target's values when
 * a source refused a credential from them.
 *
 * Invariants: values (and the pod template, whose literal values may be credentials) live only
 * in this process's memory and are wiped when freed; they never enter a log line or an error
 * text. Errors name objects, keys and variables, never values.
 */
#include "scaleworker/sw_internal.h"

#include "common/base64.h"
#include "common/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SW_ENV_CACHE    32
#define SW_ENV_FRESH_MS 1000 /* a target read this recently is not read again */
#define SW_ENV_GEN_MAX  64

typedef struct sw_env_ctr {
    struct sw_env_ctr *next;
    char *name; /* the name asked for, "" for the first container */
    sw_auth_params_t env;
} sw_env_ctr_t;

struct sw_env_target {
    char ns[SHM_NS_MAX];
    char api_version[SHM_APIVERSION_MAX];
    char kind[SHM_KIND_MAX];
    char name[SHM_NAME_MAX];
    char uid[SHM_UID_MAX];
    char key[SHM_UID_MAX + SW_ENV_GEN_MAX + 1]; /* "uid/generation" */
    uint64_t fetched_ms;
    uint64_t used;      /* LRU tick; 0: free */
    cJSON *containers;  /* spec.template.spec.containers, NULL or not an array: none */
    sw_env_ctr_t *ctrs; /* environments resolved so far */
};

struct sw_env {
    const cfg_t *cfg;
    sw_auth_fetch_fn fetch;
    void *fetch_ctx;
    sw_target_fetch_fn fetch_target;
    void *target_ctx;
    sw_env_target_t cache[SW_ENV_CACHE];
    uint64_t tick;
};

static const char *sw_env_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool sw_env_true(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static const char *sw_env_lookup(const sw_auth_params_t *env, const char *name)
{
    for (size_t i = 0; env && i < env->n; i++)
        if (strcmp(env->v[i].name, name) == 0)
            return env->v[i].value;
    return NULL;
}

/* ---- $(VAR) ---------------------------------------------------------------------------------- */

typedef struct sw_buf {
    char *s;
    size_t len, cap;
    bool oom;
} sw_buf_t;

static void sw_buf_add(sw_buf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = malloc(cap);
        if (!p) {
            b->oom = true;
            return;
        }
        if (b->s) {
            memcpy(p, b->s, b->len);
            explicit_bzero(b->s, b->len);
            free(b->s);
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

char *sw_env_expand(const char *value, const sw_auth_params_t *env)
{
    size_t len = strlen(value), checkpoint = 0;
    sw_buf_t b = {0};

    /* KEDA's resolveEnvValue, step for step: a '$' is looked at only with at least three more
     * bytes after it; "$$" is "$"; "$(NAME)" is NAME's value when NAME is resolved, else kept;
     * "$(" without a ')' and "$x" stay as they are. */
    for (size_t cur = 0; cur < len; cur++) {
        const char *dep = NULL;
        size_t step = 1;
        if (value[cur] != '$' || cur + 3 >= len)
            continue;
        sw_buf_add(&b, value + checkpoint, cur - checkpoint);
        if (value[cur + 1] == '$') {
            sw_buf_add(&b, "$", 1);
        } else if (value[cur + 1] == '(') {
            const char *close = memchr(value + cur + 2, ')', len - cur - 2);
            if (close) {
                size_t klen = (size_t)(close - (value + cur + 2));
                char *key = strndup(value + cur + 2, klen);
                if (!key)
                    b.oom = true;
                else if ((dep = sw_env_lookup(env, key)))
                    sw_buf_add(&b, dep, strlen(dep));
                else
                    sw_buf_add(&b, value + cur, klen + 3);
                free(key);
                step = klen + 2;
            } else {
                sw_buf_add(&b, "$(", 2);
            }
        } else {
            sw_buf_add(&b, value + cur, 2);
        }
        cur += step;
        checkpoint = cur + 1;
    }
    if (checkpoint < len)
        sw_buf_add(&b, value + checkpoint, len - checkpoint);
    else
        sw_buf_add(&b, "", 0);
    if (b.oom) {
        if (b.s)
            explicit_bzero(b.s, b.len);
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---- one container ------------------------------------------------------------------------- */

static int sw_env_set(sw_auth_params_t *out, const char *prefix, const char *name,
                      const char *value, size_t vlen)
{
    char *v = strndup(value, vlen), *k = NULL;
    int r;

    if (!v || asprintf(&k, "%s%s", prefix ? prefix : "", name) < 0) {
        sw_secret_str_free(v);
        return -ENOMEM;
    }
    r = sw_auth_params_set(out, k, v);
    free(k);
    if (r < 0)
        sw_secret_str_free(v);
    return r;
}

/* A Secret's value (base64) decoded into *ret (NULL: absent); -EBADMSG for bad base64 or a
 * NUL byte. */
static int sw_env_secret_value(const char *b64, unsigned char **ret, size_t *ret_len)
{
    *ret = NULL;
    *ret_len = 0;
    if (!b64)
        return 0;
    if (base64_decode(b64, strlen(b64), ret, ret_len) < 0)
        return -EBADMSG;
    if (memchr(*ret, '\0', *ret_len)) {
        base64_free_secret(*ret, *ret_len);
        *ret = NULL;
        return -EBADMSG;
    }
    return 0;
}

/* An object of the target's namespace; a reference without a name names nothing there. */
static int sw_env_fetch(sw_env_t *e, const char *kind, const char *ns, const char *name,
                        cJSON **ret_obj, char *err, size_t errlen)
{
    if (!name || !name[0]) {
        snprintf(err, errlen, "a %s reference has no name", kind);
        return -ENOENT;
    }
    return e->fetch(e->fetch_ctx, kind, ns, name, ret_obj, err, errlen);
}

/* Whether a failure to read an optional reference means "skip it": the object is absent or
 * may not be read. A transport failure is never taken for absence. */
static bool sw_env_skippable(int r)
{
    return r == -ENOENT || r == -EACCES;
}

static int sw_env_from(sw_env_t *e, const cJSON *src, const char *ns, bool secrets,
                       sw_auth_params_t *out, char *err, size_t errlen)
{
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(src, "configMapRef");
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(src, "secretRef");
    const char *prefix = sw_env_str(src, "prefix");
    bool is_cm = cJSON_IsObject(cm);
    const cJSON *ref = is_cm ? cm : sec, *kv;
    const char *name = sw_env_str(ref, "name");
    char why[SHM_ERROR_MAX] = "";
    cJSON *obj = NULL;
    int r = 0;

    if (!is_cm && (!cJSON_IsObject(sec) || !secrets))
        return 0; /* KEDA: a secretRef is read only where Secrets may be */
    r = sw_env_fetch(e, is_cm ? "ConfigMap" : "Secret", ns, name, &obj, why, sizeof why);
    if (r < 0) {
        if (sw_env_true(ref, "optional") && sw_env_skippable(r))
            return 0;
        snprintf(err, errlen, "error reading %s ref %s on namespace %s%s: %s",
                 is_cm ? "config" : "secret", name ? name : "", ns, is_cm ? "/" : "", why);
        return r;
    }
    cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(obj, "data"))
    {
        unsigned char *v = NULL;
        size_t vlen = 0;
        if (!cJSON_IsString(kv))
            continue;
        if (is_cm) {
            r = sw_env_set(out, prefix, kv->string, kv->valuestring, strlen(kv->valuestring));
        } else if (sw_env_secret_value(kv->valuestring, &v, &vlen) == 0 && v) {
            r = sw_env_set(out, prefix, kv->string, (const char *)v, vlen);
            base64_free_secret(v, vlen);
        }
        if (r < 0)
            break;
    }
    jsonu_delete_secret(obj);
    if (r == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    return r;
}

/* valueFrom of env entry `var`: 1 with the value in *ret, 0 to skip the entry, or -errno. */
static int sw_env_value_from(sw_env_t *e, const cJSON *from, const char *var, const char *ns,
                             bool secrets, char **ret, char *err, size_t errlen)
{
    const cJSON *sk = cJSON_GetObjectItemCaseSensitive(from, "secretKeyRef");
    const cJSON *ck = cJSON_GetObjectItemCaseSensitive(from, "configMapKeyRef");
    bool is_secret = cJSON_IsObject(sk) && secrets;
    const cJSON *ref = is_secret ? sk : ck;
    const char *name = sw_env_str(ref, "name"), *key = sw_env_str(ref, "key");
    char why[SHM_ERROR_MAX] = "";
    unsigned char *v = NULL;
    size_t vlen = 0;
    cJSON *obj = NULL;
    int r;

    if (!is_secret && !cJSON_IsObject(ck))
        return 0; /* fieldRef, resourceFieldRef, or a Secret where none may be read */
    r = sw_env_fetch(e, is_secret ? "Secret" : "ConfigMap", ns, name, &obj, why, sizeof why);
    if (r < 0) {
        if (sw_env_true(ref, "optional") && sw_env_skippable(r))
            return 0;
        snprintf(err, errlen, "error resolving %s %s for env %s in namespace %s (%s)",
                 is_secret ? "secret name" : "config", name ? name : "", var, ns, why);
        return r;
    }
    if (!is_secret) {
        const char *s = sw_env_str(cJSON_GetObjectItemCaseSensitive(obj, "data"), key ? key : "");
        *ret = strdup(s ? s : "");
    } else if ((r = sw_env_secret_value(
                    sw_env_str(cJSON_GetObjectItemCaseSensitive(obj, "data"), key ? key : ""), &v,
                    &vlen)) < 0) {
        snprintf(err, errlen, "Secret %s/%s: key %s is not valid text", ns, name ? name : "",
                 key ? key : "");
    } else {
        *ret = v ? (char *)v : strdup("");
    }
    jsonu_delete_secret(obj);
    if (r < 0)
        return r;
    if (!*ret) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 1;
}

int sw_env_resolve(sw_env_t *e, const cJSON *container, const char *ns, sw_auth_params_t *out,
                   char *err, size_t errlen)
{
    const char *cluster_ns = e->cfg->cluster_object_namespace[0] ? e->cfg->cluster_object_namespace
                                                                 : e->cfg->pod_namespace;
    bool secrets = !e->cfg->restrict_secret_access || strcmp(ns, cluster_ns) == 0;
    const cJSON *it;
    int r;

    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(container, "envFrom"))
    {
        if ((r = sw_env_from(e, it, ns, secrets, out, err, errlen)) < 0)
            return r;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(container, "env"))
    {
        const char *var = sw_env_str(it, "name"), *value = sw_env_str(it, "value");
        const cJSON *from = cJSON_GetObjectItemCaseSensitive(it, "valueFrom");
        char *v = NULL;
        if (!var)
            continue;
        if (value && value[0]) {
            v = sw_env_expand(value, out); /* against what is resolved so far */
        } else if (cJSON_IsObject(from)) {
            if ((r = sw_env_value_from(e, from, var, ns, secrets, &v, err, errlen)) < 0)
                return r;
            if (r == 0)
                continue;
        } else {
            v = strdup("");
        }
        if (!v || sw_auth_params_set(out, var, v) < 0) {
            sw_secret_str_free(v);
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    return 0;
}

/* ---- the target and its cache -------------------------------------------------------------- */

sw_env_t *sw_env_new(const cfg_t *cfg, sw_auth_fetch_fn fetch, void *fetch_ctx,
                     sw_target_fetch_fn fetch_target, void *target_ctx)
{
    sw_env_t *e = calloc(1, sizeof *e);

    if (!e)
        return NULL;
    e->cfg = cfg;
    e->fetch = fetch;
    e->fetch_ctx = fetch_ctx;
    e->fetch_target = fetch_target;
    e->target_ctx = target_ctx;
    return e;
}

void sw_env_set_target_fetch(sw_env_t *e, sw_target_fetch_fn fetch_target, void *target_ctx)
{
    e->fetch_target = fetch_target;
    e->target_ctx = target_ctx;
}

static void sw_env_entry_clear(sw_env_target_t *t)
{
    jsonu_delete_secret(t->containers);
    while (t->ctrs) {
        sw_env_ctr_t *c = t->ctrs;
        t->ctrs = c->next;
        sw_auth_params_free(&c->env);
        free(c->name);
        free(c);
    }
    memset(t, 0, sizeof *t);
}

sw_env_t *sw_env_free(sw_env_t *e)
{
    if (!e)
        return NULL;
    for (size_t i = 0; i < SW_ENV_CACHE; i++)
        sw_env_entry_clear(&e->cache[i]);
    free(e);
    return NULL;
}

void sw_env_invalidate(sw_env_t *e, const char *uid)
{
    for (size_t i = 0; e && uid[0] && i < SW_ENV_CACHE; i++)
        if (e->cache[i].used && strcmp(e->cache[i].uid, uid) == 0)
            sw_env_entry_clear(&e->cache[i]);
}

static bool sw_env_same_target(const sw_env_target_t *t, const char *ns, const char *api,
                               const char *kind, const char *name)
{
    return t->used && strcmp(t->ns, ns) == 0 && strcmp(t->api_version, api) == 0 &&
           strcmp(t->kind, kind) == 0 && strcmp(t->name, name) == 0;
}

/* A free entry, else the least recently used one, emptied. */
static sw_env_target_t *sw_env_slot(sw_env_t *e)
{
    sw_env_target_t *pick = &e->cache[0];

    for (size_t i = 0; i < SW_ENV_CACHE; i++)
        if (e->cache[i].used < pick->used)
            pick = &e->cache[i];
    sw_env_entry_clear(pick);
    return pick;
}

/* The version of obj: uid and metadata.generation (moved by spec changes only), else
 * resourceVersion. False when obj has no uid. */
static bool sw_env_version(const cJSON *obj, char *key, size_t cap, const char **ret_uid)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(md, "generation");
    const char *uid = sw_env_str(md, "uid"), *rv = sw_env_str(md, "resourceVersion");
    int n;

    if (!uid || !uid[0] || strlen(uid) >= SHM_UID_MAX)
        return false;
    if (cJSON_IsNumber(gen) && gen->valuedouble >= 1)
        n = snprintf(key, cap, "%s/g%.0f", uid, gen->valuedouble);
    else
        n = snprintf(key, cap, "%s/r%s", uid, rv ? rv : "");
    *ret_uid = uid;
    return n > 0 && (size_t)n < cap;
}

int sw_env_target(sw_env_t *e, const cJSON *scale_target, const char *ns, sw_env_target_t **ret,
                  char *err, size_t errlen)
{
    const char *api = sw_env_str(scale_target, "apiVersion"),
               *kind = sw_env_str(scale_target, "kind");
    const char *name = sw_env_str(scale_target, "name"), *uid;
    char key[SHM_UID_MAX + SW_ENV_GEN_MAX + 1];
    uint64_t now = shm_now_mono_ms();
    sw_env_target_t *t = NULL;
    cJSON *obj = NULL, *pod;
    int r;

    api = api && api[0] ? api : "apps/v1";
    kind = kind && kind[0] ? kind : "Deployment";
    if (!name || !name[0] || strlen(ns) >= SHM_NS_MAX || strlen(api) >= SHM_APIVERSION_MAX ||
        strlen(kind) >= SHM_KIND_MAX || strlen(name) >= SHM_NAME_MAX) {
        snprintf(err, errlen, "the trigger's configuration names no valid scale target");
        return -EINVAL;
    }
    for (size_t i = 0; i < SW_ENV_CACHE; i++) {
        sw_env_target_t *c = &e->cache[i];
        if (sw_env_same_target(c, ns, api, kind, name) && now - c->fetched_ms < SW_ENV_FRESH_MS) {
            c->used = ++e->tick;
            *ret = c;
            return 0;
        }
    }
    if ((r = e->fetch_target(e->target_ctx, api, kind, ns, name, &obj, err, errlen)) < 0)
        return r;
    if (!sw_env_version(obj, key, sizeof key, &uid)) {
        jsonu_delete_secret(obj);
        snprintf(err, errlen, "%s %s/%s has no uid", kind, ns, name);
        return -EBADMSG;
    }
    for (size_t i = 0; i < SW_ENV_CACHE && !t; i++)
        if (e->cache[i].used && strcmp(e->cache[i].key, key) == 0)
            t = &e->cache[i];
    if (!t) {
        t = sw_env_slot(e);
        snprintf(t->uid, sizeof t->uid, "%s", uid);
        snprintf(t->key, sizeof t->key, "%s", key);
        /* KEDA's podSpecable duck type: whatever kind, spec.template.spec.containers; a
         * ScaledJob's own jobTargetRef for its triggers */
        pod = (cJSON *)jsonu_lookup(obj, strcmp(kind, "ScaledJob") == 0
                                             ? "spec.jobTargetRef.template.spec"
                                             : "spec.template.spec");
        t->containers =
            cJSON_IsObject(pod) ? cJSON_DetachItemFromObjectCaseSensitive(pod, "containers") : NULL;
    }
    snprintf(t->ns, sizeof t->ns, "%s", ns);
    snprintf(t->api_version, sizeof t->api_version, "%s", api);
    snprintf(t->kind, sizeof t->kind, "%s", kind);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->fetched_ms = now;
    t->used = ++e->tick;
    jsonu_delete_secret(obj);
    *ret = t;
    return 0;
}

const char *sw_env_target_key(const sw_env_target_t *t)
{
    return t->key;
}

const char *sw_env_target_uid(const sw_env_target_t *t)
{
    return t->uid;
}

int sw_env_container(sw_env_t *e, sw_env_target_t *t, const char *container,
                     const sw_auth_params_t **ret, char *err, size_t errlen)
{
    static const sw_auth_params_t empty = {0};
    const cJSON *c = NULL, *it;
    sw_env_ctr_t *n;
    int r;

    container = container ? container : "";
    for (n = t->ctrs; n; n = n->next)
        if (strcmp(n->name, container) == 0) {
            *ret = &n->env;
            return 0;
        }
    if (!cJSON_IsArray(t->containers) || !t->containers->child) {
        *ret = &empty; /* KEDA: no containers, no environment */
        return 0;
    }
    if (!container[0]) {
        c = t->containers->child;
    } else {
        cJSON_ArrayForEach(it, t->containers)
        {
            const char *name = sw_env_str(it, "name");
            if (name && strcmp(name, container) == 0) {
                c = it;
                break;
            }
        }
    }
    if (!c) {
        snprintf(err, errlen, "couldn't find container with name %s on Target object", container);
        return -ESRCH;
    }
    if (!(n = calloc(1, sizeof *n)) || !(n->name = strdup(container))) {
        free(n);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if ((r = sw_env_resolve(e, c, t->ns, &n->env, err, errlen)) < 0) {
        sw_auth_params_free(&n->env);
        free(n->name);
        free(n);
        return r;
    }
    n->next = t->ctrs;
    t->ctrs = n;
    *ret = &n->env;
    return 0;
}
