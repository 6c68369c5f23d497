/*
 * review: AdmissionReview v1 for the webhook role (webhook process, its validation threads).
 *
 * Pure functions over what the API server sent: parse the review (untrusted, bounded by httpd's
 * body limit, fuzzed by tests/fuzz/fuzz_admission_review.c), decide with common/validate.h as
 * KEDA's webhooks do (reference keda.md 1.17), and write the answer controller-runtime writes:
 * the request's uid, allowed, status {code 200} or {code 403, reason Forbidden, message: the
 * rule's message}, and the warnings of an admitted object.
 *
 * Differences from KEDA that are deliberate: when several rules fail, KEDA reports whichever its
 * map iteration met first; ckeda reports the first in validate's (KEDA's source) order.
 */
#include "webhook/wh_internal.h"

#include "common/json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define WH_PATH_PREFIX "/validate-keda-sh-v1alpha1-"

static const struct {
    const char *suffix, *kind;
} wh_kinds[] = {
    [WH_KIND_SCALEDOBJECT] = {"scaledobject", "ScaledObject"},
    [WH_KIND_SCALEDJOB] = {"scaledjob", "ScaledJob"},
    [WH_KIND_TRIGGERAUTH] = {"triggerauthentication", "TriggerAuthentication"},
    [WH_KIND_CLUSTERTRIGGERAUTH] = {"clustertriggerauthentication", "ClusterTriggerAuthentication"},
};

wh_kind_t wh_kind_of_path(const char *path)
{
    size_t n = strlen(WH_PATH_PREFIX);

    if (strncmp(path, WH_PATH_PREFIX, n) != 0)
        return WH_KIND_NONE;
    for (int k = WH_KIND_SCALEDOBJECT; k <= WH_KIND_CLUSTERTRIGGERAUTH; k++)
        if (strcmp(path + n, wh_kinds[k].suffix) == 0)
            return (wh_kind_t)k;
    return WH_KIND_NONE;
}

const char *wh_kind_name(wh_kind_t k)
{
    return k > WH_KIND_NONE && k <= WH_KIND_CLUSTERTRIGGERAUTH ? wh_kinds[k].kind : "";
}

/* ---- parsing ------------------------------------------------------------------------------- */

static int review_fail(wh_review_t *r, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s", what);
    wh_review_free(r);
    return -EBADMSG;
}

int wh_review_parse(const char *body, size_t len, wh_review_t *ret, char *err, size_t errlen)
{
    wh_review_t r = {0};
    errtext_t et = {0};
    const cJSON *req, *uid, *op, *dry;

    if (jsonu_parse(body, len, &r.root, &et) < 0) {
        snprintf(err, errlen, "the body is not an AdmissionReview: %s", et.text);
        return -EBADMSG;
    }
    if (!cJSON_IsObject(r.root) || strcmp(jsonu_lookup(r.root, "apiVersion") &&
                                                  cJSON_IsString(jsonu_lookup(r.root, "apiVersion"))
                                              ? jsonu_lookup(r.root, "apiVersion")->valuestring
                                              : "",
                                          "admission.k8s.io/v1") != 0)
        return review_fail(&r, err, errlen,
                           "the body is not an AdmissionReview of admission.k8s.io/v1");
    req = cJSON_GetObjectItemCaseSensitive(r.root, "request");
    uid = cJSON_IsObject(req) ? cJSON_GetObjectItemCaseSensitive(req, "uid") : NULL;
    if (!cJSON_IsString(uid) || !uid->valuestring[0] || strlen(uid->valuestring) >= WH_UID_MAX)
        return review_fail(&r, err, errlen, "the AdmissionReview has no request.uid");
    r.uid = uid->valuestring;
    op = cJSON_GetObjectItemCaseSensitive(req, "operation");
    r.operation = cJSON_IsString(op) ? op->valuestring : "";
    r.object = cJSON_GetObjectItemCaseSensitive(req, "object");
    r.old_object = cJSON_GetObjectItemCaseSensitive(req, "oldObject");
    if (r.object && !cJSON_IsObject(r.object))
        r.object = NULL;
    if (r.old_object && !cJSON_IsObject(r.old_object))
        r.old_object = NULL;
    dry = cJSON_GetObjectItemCaseSensitive(req, "dryRun");
    r.dry_run = cJSON_IsTrue(dry);
    *ret = r;
    return 0;
}

void wh_review_free(wh_review_t *r)
{
    cJSON_Delete(r->root);
    *r = (wh_review_t){0};
}

/* ---- deciding ------------------------------------------------------------------------------ */

bool wh_removing_finalizer(const cJSON *obj, const cJSON *old)
{
    const cJSON *nf = jsonu_lookup(obj, "metadata.finalizers");
    const cJSON *of = jsonu_lookup(old, "metadata.finalizers");
    const cJSON *ns = jsonu_lookup(obj, "spec"), *os = jsonu_lookup(old, "spec");
    int nn = cJSON_IsArray(nf) ? cJSON_GetArraySize(nf) : 0;
    int on = cJSON_IsArray(of) ? cJSON_GetArraySize(of) : 0;

    if (nn >= on)
        return false;
    if (!ns || !os)
        return !ns && !os;
    return cJSON_Compare(ns, os, true);
}

bool wh_finding_denies(const validate_finding_t *f, bool dry_run)
{
    static const char *const ckeda_own[] = {
        "unsupported-scaler",
        "unsupported-fallback",
        "too-many-triggers",
        "invalid-metadata",
        "invalid-spec",
        "invalid-trigger",
        "incorrect-target",
        "incorrect-job-target",
        "incorrect-metric-type",
        "ignored-field",
        "internal",
    };

    if (f->warning)
        return false;
    for (size_t i = 0; i < sizeof ckeda_own / sizeof ckeda_own[0]; i++)
        if (strcmp(f->reason, ckeda_own[i]) == 0)
            return false;
    if (dry_run && (strcmp(f->reason, "missing-requests") == 0 ||
                    strcmp(f->reason, "scale-to-zero-requirements-not-met") == 0))
        return false;
    return true;
}

static void verdict_allow(wh_verdict_t *v)
{
    v->allowed = true;
    v->code = 200;
}

/* The object as validate sees it: the review's object with the review's kind, in case a
 * client left apiVersion or kind out of an embedded object (the API server never does). */
static bool decide_kind_matches(wh_kind_t kind, const cJSON *obj)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    return cJSON_IsString(k) && strcmp(k->valuestring, wh_kind_name(kind)) == 0;
}

void wh_review_decide(wh_kind_t kind, const wh_review_t *rv, const validate_cluster_t *cluster,
                      wh_verdict_t *ret)
{
    validate_report_t rep;
    int r;

    memset(ret, 0, sizeof *ret);
    if (strcmp(rv->operation, "CREATE") != 0 && strcmp(rv->operation, "UPDATE") != 0) {
        verdict_allow(ret); /* DELETE, CONNECT: KEDA's ValidateDelete allows everything */
        return;
    }
    if (!rv->object || !decide_kind_matches(kind, rv->object)) {
        ret->code = 400;
        snprintf(ret->message, sizeof ret->message, "the request holds no %s object",
                 wh_kind_name(kind));
        return;
    }
    if (strcmp(rv->operation, "UPDATE") == 0 && rv->old_object && kind == WH_KIND_SCALEDOBJECT &&
        wh_removing_finalizer(rv->object, rv->old_object)) {
        verdict_allow(ret); /* KEDA: finalizer removal skips validation */
        return;
    }
    ret->validated = true;
    r = validate_object(rv->object, kind == WH_KIND_SCALEDOBJECT ? cluster : NULL, &rep);
    if (r < 0) {
        ret->code = 400;
        snprintf(ret->message, sizeof ret->message, "the request holds no %s object",
                 wh_kind_name(kind));
        return;
    }
    for (unsigned i = 0; i < rep.n; i++) {
        const validate_finding_t *f = &rep.findings[i];
        if (!wh_finding_denies(f, rv->dry_run))
            continue;
        ret->code = 403;
        ret->reason = f->reason;
        snprintf(ret->message, sizeof ret->message, "%s", f->message);
        return;
    }
    verdict_allow(ret);
    for (unsigned i = 0; i < rep.n; i++)
        if (rep.findings[i].warning && ret->nwarnings < VALIDATE_FINDINGS_MAX)
            snprintf(ret->warnings[ret->nwarnings++], VALIDATE_MESSAGE_MAX, "%s",
                     rep.findings[i].message);
}

/* ---- answering ----------------------------------------------------------------------------- */

void wh_review_answer(httpd_sbuf_t *b, const char *uid, const wh_verdict_t *v)
{
    httpd_sbuf_puts(b, "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
                       "\"response\":{\"uid\":");
    httpd_json_string(b, uid);
    httpd_sbuf_printf(b, ",\"allowed\":%s,\"status\":{\"metadata\":{}",
                      v->allowed ? "true" : "false");
    if (!v->allowed) {
        const char *reason = httpd_status_reason(v->code);
        httpd_sbuf_puts(b, ",\"message\":");
        httpd_json_string(b, v->message);
        if (reason[0]) {
            httpd_sbuf_puts(b, ",\"reason\":");
            httpd_json_string(b, reason);
        }
    }
    httpd_sbuf_printf(b, ",\"code\":%d}", v->code);
    if (v->allowed && v->nwarnings) {
        httpd_sbuf_puts(b, ",\"warnings\":[");
        for (unsigned i = 0; i < v->nwarnings; i++) {
            if (i)
                httpd_sbuf_puts(b, ",");
            httpd_json_string(b, v->warnings[i]);
        }
        httpd_sbuf_puts(b, "]");
    }
    httpd_sbuf_puts(b, "}}");
}
