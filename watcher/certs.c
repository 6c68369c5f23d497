/*
 * certs: see certs.h. The Secret, the caBundles and the cert directory, on the watcher's
 * thread; certgen.c makes and judges the certificates.
 */
#include "watcher/certs.h"

#include "common/base64.h"
#include "common/json.h"
#include "common/log.h"
#include "watcher/watcher_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CERTS_APISERVICE "v1beta1.external.metrics.k8s.io"
#define CERTS_WEBHOOKS   "keda-admission"

static const k8s_gvr_t certs_apiservices = {"apiregistration.k8s.io", "v1", "apiservices"};
static const k8s_gvr_t certs_vwcs = {"admissionregistration.k8s.io", "v1",
                                     "validatingwebhookconfigurations"};

static const char *const certs_keys[] = {"ca.crt", "ca.key", "tls.crt", "tls.key"};

static char **certs_field(watch_certs_t *c, size_t i)
{
    char **f[] = {&c->ca_crt, &c->ca_key, &c->tls_crt, &c->tls_key};
    return f[i];
}

static bool certs_str_eq(const cJSON *obj, const char *path, const char *s)
{
    const char *v = cJSON_GetStringValue(jsonu_lookup(obj, path));
    return v && strcmp(v, s) == 0;
}

/* ---- the Secret ---- */

static void certs_from_secret(const cJSON *secret, watch_certs_t *ret)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(secret, "data");

    for (size_t i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, certs_keys[i]);
        unsigned char *buf;
        size_t len;
        char *s;

        if (!cJSON_IsString(v) ||
            base64_decode(v->valuestring, strlen(v->valuestring), &buf, &len) < 0)
            continue;
        if ((s = malloc(len + 1))) {
            memcpy(s, buf, len);
            s[len] = '\0';
        }
        base64_free_secret(buf, len);
        *certs_field(ret, i) = s;
    }
}

static cJSON *certs_to_secret(const watch_ctx_t *w, watch_certs_t *c, const char *rv)
{
    cJSON *s = cJSON_CreateObject(), *meta, *data;

    cJSON_AddStringToObject(s, "apiVersion", "v1");
    cJSON_AddStringToObject(s, "kind", "Secret");
    meta = cJSON_AddObjectToObject(s, "metadata");
    cJSON_AddStringToObject(meta, "name", w->cfg->cert_secret_name);
    cJSON_AddStringToObject(meta, "namespace", w->cfg->pod_namespace);
    if (rv)
        cJSON_AddStringToObject(meta, "resourceVersion", rv);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "labels"), "app.kubernetes.io/managed-by",
                            "ckeda");
    cJSON_AddStringToObject(s, "type", "Opaque");
    data = cJSON_AddObjectToObject(s, "data");
    for (size_t i = 0; i < 4; i++) {
        char *b64 = base64_encode(*certs_field(c, i), strlen(*certs_field(c, i)));
        if (!b64) {
            cJSON_Delete(s);
            return NULL;
        }
        cJSON_AddStringToObject(data, certs_keys[i], b64);
        explicit_bzero(b64, strlen(b64));
        free(b64);
    }
    return s;
}

/* Writes the new set into the Secret (created when there was none: rv NULL). */
static int certs_store(watch_ctx_t *w, watch_certs_t *c, const char *rv)
{
    k8s_ref_t ref = {K8S_GVR_SECRETS, w->cfg->pod_namespace, rv ? w->cfg->cert_secret_name : NULL,
                     NULL};
    cJSON *obj = certs_to_secret(w, c, rv), *resp = NULL;
    k8s_error_t kerr;
    int r;

    if (!obj)
        return -ENOMEM;
    r = rv ? watch_api_update(w, &ref, obj, &resp, &kerr)
           : watch_api_create(w, &ref, obj, &resp, &kerr);
    jsonu_delete_secret(obj);
    cJSON_Delete(resp);
    if (r < 0)
        return log_error(r, "could not %s Secret %s/%s: %s", rv ? "update" : "create",
                         w->cfg->pod_namespace, w->cfg->cert_secret_name, kerr.message);
    log_info("%s the serving certificate in Secret %s/%s", rv ? "renewed" : "created",
             w->cfg->pod_namespace, w->cfg->cert_secret_name);
    return 0;
}

/* ---- the caBundles ---- */

static int certs_patch_apiservice(watch_ctx_t *w, const char *ca_b64)
{
    k8s_ref_t ref = {certs_apiservices, NULL, CERTS_APISERVICE, NULL};
    cJSON *cur = NULL, *patch;
    k8s_error_t kerr;
    int r = watch_api_get(w, &ref, &cur, &kerr);

    if (r == 0 && !certs_str_eq(cur, "spec.caBundle", ca_b64)) {
        patch = cJSON_CreateObject();
        cJSON_AddStringToObject(cJSON_AddObjectToObject(patch, "spec"), "caBundle", ca_b64);
        cJSON_Delete(cur);
        cur = NULL;
        if ((r = watch_api_patch(w, &ref, patch, &cur, &kerr)) == 0)
            log_info("wrote the CA into APIService %s", CERTS_APISERVICE);
        cJSON_Delete(patch);
    }
    cJSON_Delete(cur);
    if (r < 0 && r != -ENOENT)
        return log_error(r, "APIService %s: %s", CERTS_APISERVICE, kerr.message);
    return 0;
}

static int certs_patch_webhooks(watch_ctx_t *w, const char *ca_b64)
{
    k8s_ref_t ref = {certs_vwcs, NULL, CERTS_WEBHOOKS, NULL};
    cJSON *cur = NULL, *resp = NULL, *hook;
    k8s_error_t kerr;
    bool changed = false;
    int r = watch_api_get(w, &ref, &cur, &kerr);

    cJSON_ArrayForEach(hook, cJSON_GetObjectItemCaseSensitive(cur, "webhooks"))
    {
        cJSON *cc = cJSON_GetObjectItemCaseSensitive(hook, "clientConfig");
        if (!cJSON_IsObject(cc) || certs_str_eq(cc, "caBundle", ca_b64))
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(cc, "caBundle");
        cJSON_AddStringToObject(cc, "caBundle", ca_b64);
        changed = true;
    }
    if (r == 0 && changed && (r = watch_api_update(w, &ref, cur, &resp, &kerr)) == 0)
        log_info("wrote the CA into ValidatingWebhookConfiguration %s", CERTS_WEBHOOKS);
    cJSON_Delete(resp);
    cJSON_Delete(cur);
    if (r < 0 && r != -ENOENT)
        return log_error(r, "ValidatingWebhookConfiguration %s: %s", CERTS_WEBHOOKS, kerr.message);
    return 0;
}

static int certs_publish_ca(watch_ctx_t *w, const char *ca_crt)
{
    char *b64 = base64_encode(ca_crt, strlen(ca_crt));
    int r = 0;

    if (!b64)
        return -ENOMEM;
    if (w->cfg->enable_apiservice_patching)
        r = certs_patch_apiservice(w, b64);
    if (r == 0 && w->cfg->enable_webhook_patching)
        r = certs_patch_webhooks(w, b64);
    free(b64);
    return r;
}

/* ---- the cert directory ---- */

/* Replaces dir/name with text unless it holds it already. */
static int certs_write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[1100], tmp[1110], old[16384];
    size_t n = strlen(text);
    ssize_t k;
    int fd;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
        k = read(fd, old, sizeof old);
        close(fd);
        if (k == (ssize_t)n && memcmp(old, text, n) == 0)
            return 0;
    }
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0)
        return log_error(-errno, "cannot write %s", tmp);
    k = write(fd, text, n);
    if (k != (ssize_t)n || fsync(fd) < 0 || close(fd) < 0) {
        int e = k < 0 ? -errno : -EIO;
        unlink(tmp);
        return log_error(e, "cannot write %s", tmp);
    }
    if (rename(tmp, path) < 0)
        return log_error(-errno, "cannot replace %s", path);
    return 1;
}

/* ca.crt first, tls.crt last: a reload between the renames fails and is retried. */
static int certs_write_dir(const char *dir, const watch_certs_t *c)
{
    int a, b, d;

    if (!dir[0])
        return 0;
    if ((a = certs_write_file(dir, "ca.crt", c->ca_crt, 0644)) < 0 ||
        (b = certs_write_file(dir, "tls.key", c->tls_key, 0600)) < 0 ||
        (d = certs_write_file(dir, "tls.crt", c->tls_crt, 0644)) < 0)
        return -EIO;
    if (a || b || d)
        log_info("wrote the serving certificate into %s", dir);
    return 0;
}

/* ---- one check ---- */

static int certs_sync(watch_ctx_t *w)
{
    k8s_ref_t ref = {K8S_GVR_SECRETS, w->cfg->pod_namespace, w->cfg->cert_secret_name, NULL};
    watch_certs_t cur = {0}, made = {0};
    cJSON *secret = NULL;
    k8s_error_t kerr;
    time_t now = time(NULL);
    char sans[1024], rv[64] = "";
    watch_certs_need_t need = WATCH_CERTS_NEW_CA;
    int r = watch_api_get(w, &ref, &secret, &kerr);

    if (r < 0 && r != -ENOENT)
        return log_error(r, "could not read Secret %s/%s: %s", ref.ns, ref.name, kerr.message);
    if (watch_certs_sans(w->cfg->pod_namespace, w->cfg->k8s_cluster_domain, sans, sizeof sans) < 0)
        return log_error(-ENAMETOOLONG, "names too long for a certificate");
    if (r == 0) {
        certs_from_secret(secret, &cur);
        jsonu_copy_string(secret, "metadata.resourceVersion", rv, sizeof rv, NULL);
        need = watch_certs_check(&cur, sans, now);
    }
    jsonu_delete_secret(secret);
    if (need != WATCH_CERTS_OK && watch_writes_allowed(w)) {
        r = watch_certs_make(need == WATCH_CERTS_NEW_LEAF ? &cur : NULL, sans, now, &made);
        if (r == 0 && (r = certs_store(w, &made, rv[0] ? rv : NULL)) == 0) {
            watch_certs_free(&cur);
            cur = made;
            need = WATCH_CERTS_OK;
        } else {
            watch_certs_free(&made);
        }
    }
    r = need == WATCH_CERTS_OK ? 0 : -EAGAIN; /* a follower waits for the leader's */
    if (r == 0 && watch_writes_allowed(w))
        r = certs_publish_ca(w, cur.ca_crt);
    if (cur.ca_crt && cur.tls_crt && cur.tls_key && need == WATCH_CERTS_OK &&
        certs_write_dir(w->cfg->cert_dir, &cur) < 0)
        r = -EIO;
    watch_certs_free(&cur);
    return r;
}

int watch_certs_tick(watch_ctx_t *w)
{
    uint64_t now = shm_now_mono_ms();
    int r;

    if (!w->cfg->enable_cert_rotation)
        return WATCH_CERTS_PERIOD_MS;
    if (now < w->certs_due_ms)
        return (int)(w->certs_due_ms - now);
    r = certs_sync(w);
    w->certs_due_ms = shm_now_mono_ms() + (r < 0 ? WATCH_CERTS_RETRY_MS : WATCH_CERTS_PERIOD_MS);
    return (int)(w->certs_due_ms - shm_now_mono_ms());
}
