/*
 * auth: resolves a trigger's TriggerAuthentication or ClusterTriggerAuthentication into
 * parameters (parameter -> value), as KEDA's resolveAuthRef does for the sources ckeda supports,
 * in KEDA's order (a later source overrides an earlier one for the same parameter): `env` (a
 * variable of the scale target's container, env.c), `configMapTargetRef`, `secretTargetRef`
 * (Secret data, base64-decoded). Runs in the scale worker when a trigger's configuration is
 * loaded; the spec comes from the config blob, the Secrets, ConfigMaps and the scale target
 * through the read-only Kubernetes client (common/k8s.h), created on first use.
 *
 * `env` entries, as KEDA: containerName picks the container (else the first); a container that
 * does not exist, or a target without containers, gives ""; a variable that is not set gives "".
 * Env variables are read in the target's namespace (the ScaledObject's), also for a
 * ClusterTriggerAuthentication.
 *
 * Namespaces, as KEDA: a TriggerAuthentication's references are read in its namespace, a
 * ClusterTriggerAuthentication's in the cluster object namespace (KEDA_CLUSTER_OBJECT_NAMESPACE,
 * default the pod namespace); with KEDA_RESTRICT_SECRET_ACCESS Secrets come only from the
 * cluster object namespace. A key missing from an existing object gives an empty value (KEDA's
 * ""), a missing object or an unreachable API is a failure the worker retries.
 *
 * Invariants: values live only in this process's memory and are wiped when freed; they are
 * never logged and never part of an error text. Results are cached per (uid, generation), and
 * for an authentication with `env` also per version of the scale target; sw_auth_invalidate()
 * drops them when the source refuses the credentials. The client is
 * synchronous: one request waits at most the HTTP default timeout and is never retried; after
 * the API failed to answer, requests fail at once for SW_AUTH_BACKOFF_MS; and a loop turn
 * loads configurations for a bounded time (assign.c), so other triggers' I/O goes on between.
 */
#include "scaleworker/sw_internal.h"

#include "common/base64.h"
#include "common/json.h"
#include "common/k8s.h"
#include "common/kubeconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SW_AUTH_CACHE      64
#define SW_RV_MAX          64
#define SW_DEP_MAX         (SHM_UID_MAX + 72) /* sw_env_target_key() */
#define SW_AUTH_BACKOFF_MS 5000 /* after the API failed to answer, fail fast for this long */

typedef struct sw_auth_entry {
    char uid[SHM_UID_MAX];
    char rv[SW_RV_MAX];
    char dep[SW_DEP_MAX]; /* the scale target version its `env` values came from, or "" */
    sw_auth_params_t params;
    uint64_t used; /* LRU tick; 0: free */
} sw_auth_entry_t;

struct sw_auth {
    const cfg_t *cfg;
    sw_auth_fetch_fn fetch;
    void *fetch_ctx;
    kubeconfig_t *kc;
    k8s_client_t *client;
    sw_env_t *env; /* the scale target's container environment (env.c) */
    sw_auth_entry_t cache[SW_AUTH_CACHE];
    sw_auth_params_t uncached; /* a result without uid: valid until the next call */
    uint64_t tick;
    uint64_t down_until_ms; /* the API did not answer: no request before this */
    char down_err[256];
};

void sw_auth_params_free(sw_auth_params_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].name);
        sw_secret_str_free(p->v[i].value);
    }
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

int sw_auth_params_set(sw_auth_params_t *p, const char *name, char *value)
{
    sw_auth_param_t *v;

    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].name, name) == 0) {
            sw_secret_str_free(p->v[i].value);
            p->v[i].value = value;
            return 0;
        }
    v = realloc(p->v, (p->n + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    p->v = v;
    v[p->n].name = strdup(name);
    v[p->n].value = value;
    if (!v[p->n].name)
        return -ENOMEM;
    p->n++;
    return 0;
}

/* ---- the default fetcher: the read-only Kubernetes client ---------------------------------- */

/* The client, created on first use; -EAGAIN at once while the API is known not to answer. */
static int sw_auth_client(sw_auth_t *a, char *err, size_t errlen)
{
    k8s_client_opts_t opts = {.timeout_ms = a->cfg->http_default_timeout_ms, .max_retries = -1};
    errtext_t et = {""};
    int r;

    if (shm_now_mono_ms() < a->down_until_ms) {
        snprintf(err, errlen, "%s", a->down_err);
        return -EAGAIN;
    }
    if (a->client)
        return 0;
    r = kubeconfig_load_default(a->cfg->kubeconfig[0] ? a->cfg->kubeconfig : NULL,
                                a->cfg->context[0] ? a->cfg->context : NULL, &a->kc, &et);
    if (r < 0) {
        snprintf(err, errlen, "no Kubernetes API to read it from: %s", et.text);
        return r;
    }
    if (!(a->client = k8s_client_new(a->kc, &opts))) {
        snprintf(err, errlen, "could not create the Kubernetes client");
        return -ENOMEM;
    }
    return 0;
}

/* The outcome r of a request, with err: when the API itself failed (not a missing object or a
 * refusal), requests fail at once for a while, to spare the loop. */
static int sw_auth_k8s_done(sw_auth_t *a, int r, const char *err)
{
    if (r < 0 && r != -ENOENT && r != -EACCES) {
        a->down_until_ms = shm_now_mono_ms() + SW_AUTH_BACKOFF_MS;
        snprintf(a->down_err, sizeof a->down_err, "%s (not retried for %d s)", err,
                 SW_AUTH_BACKOFF_MS / 1000);
    }
    return r;
}

static int sw_auth_k8s_fetch(void *ctx, const char *kind, const char *ns, const char *name,
                             cJSON **ret_obj, char *err, size_t errlen)
{
    sw_auth_t *a = ctx;
    k8s_ref_t ref = {.ns = ns, .name = name};
    k8s_error_t ke = {0};
    int r;

    if ((r = sw_auth_client(a, err, errlen)) < 0)
        return r;
    ref.gvr =
        strcmp(kind, "Secret") == 0 ? (k8s_gvr_t)K8S_GVR_SECRETS : (k8s_gvr_t)K8S_GVR_CONFIGMAPS;
    r = k8s_get(a->client, &ref, ret_obj, &ke);
    if (r == -ENOENT)
        snprintf(err, errlen, "%s %s/%s not found", kind, ns, name);
    else if (r == -EACCES)
        snprintf(err, errlen, "not allowed to read %s %s/%s (%ld)", kind, ns, name, ke.status);
    else if (r < 0)
        snprintf(err, errlen, "could not read %s %s/%s: %s", kind, ns, name,
                 ke.message[0] ? ke.message : strerror(-r));
    return sw_auth_k8s_done(a, r, err);
}

/* The scale target: Deployments and StatefulSets directly, any other kind through discovery
 * (KEDA reads any kind whose object has spec.template). */
static int sw_auth_k8s_fetch_target(void *ctx, const char *api_version, const char *kind,
                                    const char *ns, const char *name, cJSON **ret_obj, char *err,
                                    size_t errlen)
{
    sw_auth_t *a = ctx;
    bool apps = strcmp(api_version, "apps/v1") == 0;
    k8s_ref_t ref = {.ns = ns, .name = name};
    k8s_resolved_t res;
    k8s_error_t ke = {0};
    int r;

    if ((r = sw_auth_client(a, err, errlen)) < 0)
        return r;
    if (apps && strcmp(kind, "Deployment") == 0) {
        ref.gvr = (k8s_gvr_t)K8S_GVR_DEPLOYMENTS;
    } else if (apps && strcmp(kind, "StatefulSet") == 0) {
        ref.gvr = (k8s_gvr_t)K8S_GVR_STATEFULSETS;
    } else if ((r = k8s_discovery_resolve(a->client, api_version, kind, &res, &ke)) < 0) {
        if (r == -ENOENT)
            snprintf(err, errlen, "no matches for kind \"%s\" in version \"%s\"", kind,
                     api_version);
        else
            snprintf(err, errlen, "could not discover %s %s: %s", api_version, kind,
                     ke.message[0] ? ke.message : strerror(-r));
        return r == -ENOENT ? r : -EAGAIN;
    } else {
        ref.gvr = (k8s_gvr_t){res.group, res.version, res.resource};
    }
    r = k8s_get(a->client, &ref, ret_obj, &ke);
    if (r == -ENOENT || r == -EACCES) /* the API server's text: deployments.apps "x" not found */
        snprintf(err, errlen, "%s", ke.message[0] ? ke.message : strerror(-r));
    else if (r < 0)
        snprintf(err, errlen, "could not read %s %s/%s: %s", kind, ns, name,
                 ke.message[0] ? ke.message : strerror(-r));
    return sw_auth_k8s_done(a, r, err);
}

sw_auth_t *sw_auth_new(const cfg_t *cfg, sw_auth_fetch_fn fetch, void *fetch_ctx)
{
    sw_auth_t *a = calloc(1, sizeof *a);

    if (!a)
        return NULL;
    a->cfg = cfg;
    a->fetch = fetch ? fetch : sw_auth_k8s_fetch;
    a->fetch_ctx = fetch ? fetch_ctx : a;
    if (!(a->env = sw_env_new(cfg, a->fetch, a->fetch_ctx, sw_auth_k8s_fetch_target, a))) {
        free(a);
        return NULL;
    }
    return a;
}

void sw_auth_set_target_fetch(sw_auth_t *a, sw_target_fetch_fn fetch, void *fetch_ctx)
{
    sw_env_set_target_fetch(a->env, fetch, fetch_ctx);
}

sw_env_t *sw_auth_env(sw_auth_t *a)
{
    return a->env;
}

sw_auth_t *sw_auth_free(sw_auth_t *a)
{
    if (!a)
        return NULL;
    for (size_t i = 0; i < SW_AUTH_CACHE; i++)
        sw_auth_params_free(&a->cache[i].params);
    sw_auth_params_free(&a->uncached);
    sw_env_free(a->env);
    k8s_client_free(a->client);
    kubeconfig_free(a->kc);
    free(a);
    return NULL;
}

/* Whether the cache key dep ("<target uid>/<version>") is of the target uid. */
static bool sw_auth_dep_of(const char *dep, const char *uid)
{
    size_t n = strlen(uid);
    return n && strncmp(dep, uid, n) == 0 && dep[n] == '/';
}

void sw_auth_invalidate(sw_auth_t *a, const char *uid)
{
    if (!a || !uid[0])
        return;
    for (size_t i = 0; i < SW_AUTH_CACHE; i++)
        if (a->cache[i].used &&
            (strcmp(a->cache[i].uid, uid) == 0 || sw_auth_dep_of(a->cache[i].dep, uid))) {
            sw_auth_params_free(&a->cache[i].params);
            a->cache[i].used = 0;
        }
    sw_env_invalidate(a->env, uid);
}

/* ---- resolution ---------------------------------------------------------------------------- */

static const char *sw_auth_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* What KEDA resolves that ckeda does not yet: a clear configuration error rather than a
 * credential silently missing. */
static int sw_auth_check_spec(const cJSON *spec, char *err, size_t errlen)
{
    static const char *const unsupported[] = {
        "filePath",         "hashiCorpVault",           "azureKeyVault", "gcpSecretManager",
        "awsSecretManager", "boundServiceAccountToken", "oauth2"};

    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, unsupported[i]);
        if (!v || cJSON_IsNull(v) || ((cJSON_IsArray(v) || cJSON_IsObject(v)) && !v->child) ||
            (cJSON_IsString(v) && !v->valuestring[0]))
            continue;
        snprintf(err, errlen, "spec.%s is not supported by ckeda yet", unsupported[i]);
        return -EINVAL;
    }
    return 0;
}

/* data[key] of a Secret (base64) or a ConfigMap (data, else binaryData); "" when absent. */
static int sw_auth_value(const cJSON *obj, bool secret, const char *key, char **ret)
{
    const char *v = sw_auth_str(cJSON_GetObjectItemCaseSensitive(obj, "data"), key);
    const char *b64 = secret ? v : NULL;
    unsigned char *buf;
    size_t len;

    if (!secret && !v)
        b64 = sw_auth_str(cJSON_GetObjectItemCaseSensitive(obj, "binaryData"), key);
    if (!b64) {
        *ret = strdup(!secret && v ? v : "");
        return *ret ? 0 : -ENOMEM;
    }
    if (base64_decode(b64, strlen(b64), &buf, &len) < 0)
        return -EBADMSG;
    if (memchr(buf, '\0', len)) { /* a credential with a NUL cannot be sent as one string */
        base64_free_secret(buf, len);
        return -EBADMSG;
    }
    *ret = (char *)buf;
    return 0;
}

/* One list of references ({parameter, name, key}) of kind ("Secret" or "ConfigMap"). */
static int sw_auth_refs(sw_auth_t *a, const cJSON *refs, const char *kind, const char *ns,
                        sw_auth_params_t *out, char *err, size_t errlen)
{
    bool secret = strcmp(kind, "Secret") == 0;
    const char *have = NULL;
    cJSON *obj = NULL;
    const cJSON *ref;
    int r = 0, i = 0;

    cJSON_ArrayForEach(ref, refs)
    {
        const char *param = sw_auth_str(ref, "parameter"), *name = sw_auth_str(ref, "name");
        const char *key = sw_auth_str(ref, "key");
        char *value = NULL;
        if (!param || !name || !key) {
            snprintf(err, errlen, "spec.%sTargetRef[%d]: parameter, name and key are required",
                     secret ? "secret" : "configMap", i);
            r = -EINVAL;
            break;
        }
        if (!have || strcmp(have, name) != 0) { /* refs to one object fetch it once */
            jsonu_delete_secret(obj);
            obj = NULL;
            if ((r = a->fetch(a->fetch_ctx, kind, ns, name, &obj, err, errlen)) < 0)
                break;
            have = name;
        }
        if ((r = sw_auth_value(obj, secret, key, &value)) == 0)
            r = sw_auth_params_set(out, param, value);
        if (r < 0) {
            if (r == -ENOMEM)
                snprintf(err, errlen, "out of memory");
            else
                snprintf(err, errlen, "%s %s/%s: key %s is not valid base64 text", kind, ns, name,
                         key);
            sw_secret_str_free(value);
            break;
        }
        i++;
    }
    jsonu_delete_secret(obj);
    return r;
}

/* The namespace the references of this authentication are read from, and Secrets' namespace. */
static void sw_auth_namespaces(const sw_auth_t *a, bool cluster, const char *ns,
                               const char **ret_ns, const char **ret_secret_ns)
{
    const char *cluster_ns = a->cfg->cluster_object_namespace[0] ? a->cfg->cluster_object_namespace
                                                                 : a->cfg->pod_namespace;

    *ret_ns = cluster ? cluster_ns : ns;
    *ret_secret_ns = a->cfg->restrict_secret_access ? cluster_ns : *ret_ns;
}

bool sw_auth_uses_env(const cJSON *auth)
{
    const cJSON *env = jsonu_lookup(auth, "spec.env");
    return cJSON_IsArray(env) && env->child;
}

/* spec.env: {parameter, name, containerName}, each a variable of the scale target's container
 * (tgt NULL: KEDA without a pod template, every parameter ""). */
static int sw_auth_env_refs(sw_auth_t *a, const cJSON *refs, sw_env_target_t *tgt,
                            sw_auth_params_t *out, char *err, size_t errlen)
{
    const cJSON *ref;
    int r, i = 0;

    cJSON_ArrayForEach(ref, refs)
    {
        const char *param = sw_auth_str(ref, "parameter"), *name = sw_auth_str(ref, "name");
        const sw_auth_params_t *env = NULL;
        const char *v = NULL;
        char *dup;
        if (!param || !name) {
            snprintf(err, errlen, "spec.env[%d]: parameter and name are required", i);
            return -EINVAL;
        }
        if (tgt) {
            r = sw_env_container(a->env, tgt, sw_auth_str(ref, "containerName"), &env, err, errlen);
            if (r < 0 && r != -ESRCH) /* a container that is not there gives "", as KEDA */
                return r;
        }
        for (size_t j = 0; env && j < env->n; j++)
            if (strcmp(env->v[j].name, name) == 0)
                v = env->v[j].value;
        if (!(dup = strdup(v ? v : "")) || sw_auth_params_set(out, param, dup) < 0) {
            sw_secret_str_free(dup);
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        i++;
    }
    return 0;
}

static int sw_auth_fetch_all(sw_auth_t *a, const cJSON *auth, const char *so_ns,
                             sw_env_target_t *tgt, sw_auth_params_t *out, char *err, size_t errlen)
{
    const char *kind = sw_auth_str(auth, "kind"), *ns = sw_auth_str(auth, "namespace");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(auth, "spec");
    const char *ref_ns, *secret_ns;
    bool cluster = kind && strcmp(kind, "ClusterTriggerAuthentication") == 0;
    int r;

    if (kind && !cluster && strcmp(kind, "TriggerAuthentication") != 0) {
        snprintf(err, errlen, "unknown kind %s", kind);
        return -EINVAL;
    }
    if (!cJSON_IsObject(spec)) {
        snprintf(err, errlen, "the trigger's configuration holds no spec");
        return -EINVAL;
    }
    if ((r = sw_auth_check_spec(spec, err, errlen)) < 0)
        return r;
    sw_auth_namespaces(a, cluster, ns ? ns : so_ns, &ref_ns, &secret_ns);
    if ((r = sw_auth_env_refs(a, cJSON_GetObjectItemCaseSensitive(spec, "env"), tgt, out, err,
                              errlen)) < 0 ||
        (r = sw_auth_refs(a, cJSON_GetObjectItemCaseSensitive(spec, "configMapTargetRef"),
                          "ConfigMap", ref_ns, out, err, errlen)) < 0)
        return r;
    return sw_auth_refs(a, cJSON_GetObjectItemCaseSensitive(spec, "secretTargetRef"), "Secret",
                        secret_ns, out, err, errlen);
}

/* The cache entry for uid at version rv: its other versions are dropped (entries of the same
 * version for other scale targets stay); a free or the least recently used entry is taken. */
static sw_auth_entry_t *sw_auth_slot(sw_auth_t *a, const char *uid, const char *rv)
{
    sw_auth_entry_t *pick = &a->cache[0];

    for (size_t i = 0; i < SW_AUTH_CACHE; i++)
        if (a->cache[i].used && strcmp(a->cache[i].uid, uid) == 0 &&
            strcmp(a->cache[i].rv, rv) != 0) {
            sw_auth_params_free(&a->cache[i].params);
            a->cache[i].used = 0;
        }
    for (size_t i = 0; i < SW_AUTH_CACHE; i++)
        if (a->cache[i].used < pick->used)
            pick = &a->cache[i];
    sw_auth_params_free(&pick->params);
    return pick;
}

/* "authentication TriggerAuthentication ns/name" or "... ClusterTriggerAuthentication name". */
static void sw_auth_describe(const cJSON *auth, const char *so_ns, char *out, size_t len)
{
    const char *kind = sw_auth_str(auth, "kind"), *name = sw_auth_str(auth, "name");
    const char *ns = sw_auth_str(auth, "namespace");
    bool cluster = kind && strcmp(kind, "ClusterTriggerAuthentication") == 0;

    snprintf(out, len, "authentication %s %s%s%s", kind ? kind : "TriggerAuthentication",
             cluster ? "" : (ns ? ns : so_ns), cluster ? "" : "/", name ? name : "(no name)");
}

int sw_auth_resolve(sw_auth_t *a, const cJSON *auth, const char *so_ns,
                    const sw_auth_params_t **ret, char *err, size_t errlen)
{
    return sw_auth_resolve_env(a, auth, so_ns, NULL, ret, err, errlen);
}

int sw_auth_resolve_env(sw_auth_t *a, const cJSON *auth, const char *so_ns, sw_env_target_t *tgt,
                        const sw_auth_params_t **ret, char *err, size_t errlen)
{
    const char *uid = sw_auth_str(auth, "uid"), *rv = sw_auth_str(auth, "generation");
    const char *dep = tgt && sw_auth_uses_env(auth) ? sw_env_target_key(tgt) : "";
    sw_auth_params_t got = {0};
    char why[SHM_ERROR_MAX] = "";
    bool cacheable = uid && rv && strlen(uid) < SHM_UID_MAX && strlen(rv) < SW_RV_MAX &&
                     strlen(dep) < SW_DEP_MAX;
    int r;

    for (size_t i = 0; cacheable && i < SW_AUTH_CACHE; i++) {
        sw_auth_entry_t *e = &a->cache[i];
        if (e->used && strcmp(e->uid, uid) == 0 && strcmp(e->rv, rv) == 0 &&
            strcmp(e->dep, dep) == 0) {
            e->used = ++a->tick;
            *ret = &e->params;
            return 0;
        }
    }
    if ((r = sw_auth_fetch_all(a, auth, so_ns, tgt, &got, why, sizeof why)) < 0) {
        sw_auth_params_free(&got);
        sw_auth_describe(auth, so_ns, err, errlen);
        snprintf(err + strlen(err), errlen - strlen(err), ": %s", why);
        return r;
    }
    if (!cacheable) {
        sw_auth_params_free(&a->uncached);
        a->uncached = got;
        *ret = &a->uncached;
        return 0;
    }
    sw_auth_entry_t *e = sw_auth_slot(a, uid, rv);
    snprintf(e->uid, sizeof e->uid, "%s", uid);
    snprintf(e->rv, sizeof e->rv, "%s", rv);
    snprintf(e->dep, sizeof e->dep, "%s", dep);
    e->params = got;
    e->used = ++a->tick;
    *ret = &e->params;
    return 0;
}
