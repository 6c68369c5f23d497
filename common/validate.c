/*
 * validate: see validate.h. This file holds the report, the readers every rule shares, KEDA's
 * ValidateTriggers, and the ScaledJob and (Cluster)TriggerAuthentication rules; the ScaledObject
 * rules are in validate_so.c and validate_cluster.c. Runs in `ckeda validate`, the webhook and
 * the watcher; input is untrusted JSON (a rule never fails on a type it does not check).
 */
#include "common/validate_internal.h"

#include "common/json.h"
#include "common/scaledobject.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void validate_add(validate_report_t *rep, const char *reason, bool warning, const char *field,
                  const char *fmt, ...)
{
    validate_finding_t *f;
    va_list ap;

    if (!warning)
        rep->errors++;
    if (rep->n >= VALIDATE_FINDINGS_MAX) {
        rep->truncated = true;
        return;
    }
    f = &rep->findings[rep->n++];
    f->reason = reason;
    f->warning = warning;
    snprintf(f->field, sizeof f->field, "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    if (!f->message[0]) /* never empty, whatever a caller formats */
        snprintf(f->message, sizeof f->message, "%s", reason);
}

void validate_add_first(validate_report_t *rep, const validate_finding_t *f)
{
    if (!f->warning)
        rep->errors++;
    if (rep->n >= VALIDATE_FINDINGS_MAX) { /* the last one makes room; still counted */
        rep->truncated = true;
        rep->n = VALIDATE_FINDINGS_MAX - 1;
    }
    memmove(&rep->findings[1], &rep->findings[0], rep->n * sizeof rep->findings[0]);
    rep->findings[0] = *f;
    rep->n++;
}

bool validate_has_reason(const validate_report_t *rep, const char *reason)
{
    for (unsigned i = 0; i < rep->n; i++)
        if (strcmp(rep->findings[i].reason, reason) == 0)
            return true;
    return false;
}

const char *validate_str(const cJSON *obj, const char *path)
{
    const cJSON *v = jsonu_lookup(obj, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *validate_str0(const cJSON *obj, const char *path)
{
    const char *s = validate_str(obj, path);
    return s ? s : "";
}

bool validate_int(const cJSON *obj, const char *path, int64_t *ret)
{
    return jsonu_get_int64(obj, path, -JSONU_INT_EXACT_MAX, JSONU_INT_EXACT_MAX, ret, NULL) == 0;
}

bool validate_true(const cJSON *obj, const char *path)
{
    return cJSON_IsTrue(jsonu_lookup(obj, path));
}

const char *validate_quote(const char *s, char *buf, size_t cap)
{
    size_t n = 0;

    if (cap < 8)
        return buf[0] = '\0', buf;
    buf[n++] = '"';
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            n += (size_t)snprintf(buf + n, cap - n, "\\%c", c);
        else if (c == '\n')
            n += (size_t)snprintf(buf + n, cap - n, "\\n");
        else if (c < 0x20 || c == 0x7f)
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", c);
        else
            buf[n++] = (char)c;
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

const char *validate_hpa_name(const cJSON *obj, char *buf, size_t cap)
{
    const char *custom = validate_str0(obj, "spec.advanced.horizontalPodAutoscalerConfig.name");

    if (custom[0])
        snprintf(buf, cap, "%s", custom);
    else
        snprintf(buf, cap, "keda-hpa-%s", validate_str0(obj, "metadata.name"));
    return buf;
}

void validate_target_of(const cJSON *ref, validate_target_t *ret)
{
    const char *av = validate_str0(ref, "apiVersion"), *kind = validate_str0(ref, "kind");
    const char *slash = strchr(av, '/');
    const char *name = validate_str(ref, "name");

    memset(ret, 0, sizeof *ret);
    if (!av[0]) /* KEDA's ParseGVKR defaults */
        av = "apps/v1", slash = av + 4;
    if (slash) {
        snprintf(ret->group, sizeof ret->group, "%.*s", (int)(slash - av), av);
        snprintf(ret->version, sizeof ret->version, "%s", slash + 1);
    } else {
        snprintf(ret->version, sizeof ret->version, "%s", av); /* the core group: "v1" */
    }
    snprintf(ret->kind, sizeof ret->kind, "%s", kind[0] ? kind : "Deployment");
    ret->name = name && name[0] ? name : NULL;
}

/* ---- KEDA's ValidateTriggers (scaletriggers_types.go), shared by ScaledObject and ScaledJob */

typedef struct vt_name {
    const char *name;
    size_t index;
} vt_name_t;

static int vt_cmp(const void *a, const void *b)
{
    const vt_name_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* The index of the first trigger whose name an earlier trigger already has (SIZE_MAX: none),
 * sorted so that thousands of triggers cost n log n, never n^2. */
static size_t vt_first_duplicate(const cJSON *arr, size_t n, const char **ret_name)
{
    vt_name_t *v = n ? malloc(n * sizeof *v) : NULL;
    const cJSON *t;
    size_t k = 0, best = SIZE_MAX;

    if (!v)
        return SIZE_MAX;
    cJSON_ArrayForEach(t, arr)
    {
        if (k < n) {
            v[k] = (vt_name_t){validate_str0(t, "name"), k};
            k++;
        }
    }
    qsort(v, k, sizeof *v, vt_cmp);
    for (size_t i = 1; i < k; i++)
        if (v[i].name[0] && strcmp(v[i].name, v[i - 1].name) == 0 &&
            (i < 2 || strcmp(v[i - 2].name, v[i].name) != 0) && v[i].index < best) {
            best = v[i].index; /* the second of each run: where KEDA's loop stops */
            *ret_name = v[i].name;
        }
    free(v);
    return best;
}

void validate_triggers_rule(const cJSON *obj, validate_report_t *rep)
{
    const cJSON *arr = jsonu_lookup(obj, "spec.triggers"), *t;
    size_t n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0, i = 0, dup;
    const char *dup_name = NULL;
    char q[160], field[64];

    if (n == 0) {
        validate_add(rep, "incorrect-triggers", false, "spec.triggers",
                     "no triggers defined in the ScaledObject/ScaledJob");
        return;
    }
    dup = vt_first_duplicate(arr, n, &dup_name);
    cJSON_ArrayForEach(t, arr)
    {
        const char *type = validate_str0(t, "type");
        if (i == dup)
            break;
        if (validate_true(t, "useCachedMetrics") &&
            (strcmp(type, "cpu") == 0 || strcmp(type, "memory") == 0 ||
             strcmp(type, "cron") == 0)) {
            snprintf(field, sizeof field, "spec.triggers[%zu].useCachedMetrics", i);
            validate_add(rep, "incorrect-triggers", false, field,
                         "property \"useCachedMetrics\" is not supported for %s scaler",
                         validate_quote(type, q, sizeof q));
            return;
        }
        i++;
    }
    if (dup != SIZE_MAX) {
        snprintf(field, sizeof field, "spec.triggers[%zu].name", dup);
        validate_add(rep, "incorrect-triggers", false, field,
                     "triggerName %s is defined multiple times in the ScaledObject/ScaledJob, but "
                     "it must be unique",
                     validate_quote(dup_name, q, sizeof q));
    }
}

/* ---- ScaledJob ---- */

static void vj_job_target(const cJSON *obj, validate_report_t *rep)
{
    const cJSON *containers = jsonu_lookup(obj, "spec.jobTargetRef.template.spec.containers");

    if (!cJSON_IsObject(jsonu_lookup(obj, "spec.jobTargetRef")))
        validate_add(rep, "incorrect-job-target", false, "spec.jobTargetRef",
                     "ScaledJob.spec.jobTargetRef is missing");
    else if (!cJSON_IsObject(jsonu_lookup(obj, "spec.jobTargetRef.template")))
        validate_add(rep, "incorrect-job-target", false, "spec.jobTargetRef.template",
                     "ScaledJob.spec.jobTargetRef.template is missing");
    else if (!cJSON_IsArray(containers) || cJSON_GetArraySize(containers) == 0)
        validate_add(rep, "incorrect-job-target", false,
                     "spec.jobTargetRef.template.spec.containers",
                     "ScaledJob.spec.jobTargetRef.template.spec.containers: at least one "
                     "container is required");
}

/* What KEDA's ScaledJob reconcile refuses or ignores per trigger, and what ckeda cannot run. */
static void vj_triggers(const cJSON *obj, validate_report_t *rep)
{
    const cJSON *arr = jsonu_lookup(obj, "spec.triggers"), *t;
    so_trigger_t *st = malloc(sizeof *st);
    char field[64];
    uint32_t i = 0;

    if (!st) {
        validate_add(rep, "internal", false, NULL, "out of memory");
        return;
    }
    cJSON_ArrayForEach(t, (cJSON_IsArray(arr) ? arr : NULL))
    {
        errtext_t err = {{0}};
        bool metric_type = validate_str0(t, "metricType")[0] != '\0';
        int r;

        if (metric_type) {
            snprintf(field, sizeof field, "spec.triggers[%u].metricType", i);
            validate_add(rep, "incorrect-metric-type", false, field,
                         "metricType is set in one of the ScaledJob scaler");
        }
        if (validate_true(t, "useCachedMetrics")) {
            snprintf(field, sizeof field, "spec.triggers[%u].useCachedMetrics", i);
            validate_add(rep, "ignored-field", true, field,
                         "property useCachedMetrics is not supported for ScaledJobs");
        }
        r = so_trigger_parse(t, i, st, &err);
        snprintf(field, sizeof field, "spec.triggers[%u]", i);
        if (r == -EOPNOTSUPP)
            validate_add(rep, "unsupported-scaler", false, field, "%s", err.text);
        else if (r < 0 && !metric_type)
            validate_add(rep, "invalid-trigger", false, field, "%s", err.text);
        i++;
    }
    free(st);
}

int validate_scaledjob(const cJSON *obj, validate_report_t *rep)
{
    const char *name = validate_str0(obj, "metadata.name");
    char q[160];

    memset(rep, 0, sizeof *rep);
    if (!cJSON_IsObject(obj))
        return -EINVAL;
    if (!validate_str(obj, "metadata.name"))
        validate_add(rep, "invalid-metadata", false, "metadata.name",
                     "ScaledJob.metadata.name is missing");
    /* Jobs carry scaledjob.keda.sh/name=<name>: a longer name could never create a Job. */
    if (strlen(name) > VALIDATE_NAME_MAX)
        validate_add(rep, "name-too-long", false, "metadata.name",
                     "scaledjob name %s is %zu characters long; must be no more than %d "
                     "characters because it is used as the \"scaledjob.keda.sh/name\" label value",
                     validate_quote(name, q, sizeof q), strlen(name), VALIDATE_NAME_MAX);
    vj_job_target(obj, rep);
    validate_triggers_rule(obj, rep);
    vj_triggers(obj, rep);
    return (int)rep->errors;
}

/* ---- TriggerAuthentication, ClusterTriggerAuthentication (triggerauthentication_webhook.go:
 * validateSpec) ---- */

static bool va_set_empty(const cJSON *obj, const char *path)
{
    const cJSON *v = jsonu_lookup(obj, path);
    return cJSON_IsString(v) && !v->valuestring[0];
}

static void va_pod_identity(const cJSON *obj, validate_report_t *rep)
{
    const char *provider = validate_str0(obj, "spec.podIdentity.provider");
    const char *r = "incorrect-pod-identity";

    if (strcmp(provider, "azure-workload") == 0) {
        if (va_set_empty(obj, "spec.podIdentity.identityId"))
            validate_add(rep, r, false, "spec.podIdentity.identityId",
                         "identityId of PodIdentity should not be empty. If it's set, identityId "
                         "has to be different than \"\"");
        else if (validate_str0(obj, "spec.podIdentity.identityAuthorityHost")[0]) {
            if (!validate_str0(obj, "spec.podIdentity.identityTenantId")[0])
                validate_add(rep, r, false, "spec.podIdentity.identityTenantId",
                             "identityTenantID of PodIdentity should not be nil or empty when "
                             "identityAuthorityHost of PodIdentity is set");
        } else if (va_set_empty(obj, "spec.podIdentity.identityTenantId"))
            validate_add(rep, r, false, "spec.podIdentity.identityTenantId",
                         "identityTenantId of PodIdentity should not be empty. If it's set, "
                         "identityTenantId has to be different than \"\"");
    } else if (strcmp(provider, "aws") == 0) {
        const char *role = validate_str0(obj, "spec.podIdentity.roleArn");
        if (role[0] &&
            strcmp(validate_str0(obj, "spec.podIdentity.identityOwner"), "workload") == 0)
            validate_add(rep, r, false, "spec.podIdentity.roleArn",
                         "roleArn of PodIdentity can't be set if KEDA isn't identityOwner");
        else if (validate_str0(obj, "spec.podIdentity.externalID")[0] && !role[0])
            validate_add(rep, r, false, "spec.podIdentity.externalID",
                         "externalID of PodIdentity requires roleArn to be set");
    }
}

/* Go's url.Parse as KEDA uses it: a scheme (case-insensitive) http or https and a host. */
static bool va_http_url(const char *u)
{
    const char *sep = strstr(u, "://"), *host;
    size_t scheme = sep ? (size_t)(sep - u) : 0;

    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false;
    if (!((scheme == 4 && strncasecmp(u, "http", 4) == 0) ||
          (scheme == 5 && strncasecmp(u, "https", 5) == 0)))
        return false;
    host = sep + 3;
    return host[0] && host[0] != '/' && host[0] != '?' && host[0] != '#';
}

static void va_oauth2(const cJSON *obj, validate_report_t *rep)
{
    const cJSON *o = jsonu_lookup(obj, "spec.oauth2");
    const char *type = validate_str0(o, "type"), *url = validate_str0(o, "tokenUrl");
    const char *r = "incorrect-oauth2";

    if (!o)
        return;
    if (strcmp(type, "clientCredentials") != 0)
        validate_add(rep, r, false, "spec.oauth2.type",
                     "oauth2.type must be 'clientCredentials', got '%s'", type);
    else if (!validate_str0(o, "clientId")[0])
        validate_add(rep, r, false, "spec.oauth2.clientId",
                     "oauth2.clientId is required when oauth2 is configured");
    else if (!url[0])
        validate_add(rep, r, false, "spec.oauth2.tokenUrl",
                     "oauth2.tokenUrl is required when oauth2 is configured");
    else if (!va_http_url(url))
        validate_add(rep, r, false, "spec.oauth2.tokenUrl",
                     "oauth2.tokenUrl must be a valid http or https URL");
}

/* KEDA's resolver (scale_resolvers.go: resolveAuthRef, readAuthParamsFromFile) refuses these on
 * every use; refusing them at admission says so once. */
static void va_file_path(const cJSON *obj, bool cluster_scoped, validate_report_t *rep)
{
    const char *fp = validate_str0(obj, "spec.filePath");

    if (!fp[0])
        return;
    if (!cluster_scoped)
        validate_add(rep, "incorrect-file-path", false, "spec.filePath",
                     "filePath is only supported for ClusterTriggerAuthentication, got kind: "
                     "TriggerAuthentication");
    else if (fp[0] == '/' || strstr(fp, ".."))
        validate_add(rep, "incorrect-file-path", false, "spec.filePath",
                     "filePath must be relative and not contain '..'");
}

int validate_triggerauthentication(const cJSON *obj, bool cluster_scoped, validate_report_t *rep)
{
    memset(rep, 0, sizeof *rep);
    if (!cJSON_IsObject(obj))
        return -EINVAL;
    if (!validate_str(obj, "metadata.name"))
        validate_add(rep, "invalid-metadata", false, "metadata.name", "%s.metadata.name is missing",
                     cluster_scoped ? "ClusterTriggerAuthentication" : "TriggerAuthentication");
    /* KEDA stops at a pod identity error before looking at oauth2, and skips oauth2 for the
     * other providers; ckeda reports both parts, so one run shows every problem. */
    va_pod_identity(obj, rep);
    va_oauth2(obj, rep);
    va_file_path(obj, cluster_scoped, rep);
    return (int)rep->errors;
}

int validate_object(const cJSON *obj, const validate_cluster_t *cluster, validate_report_t *rep)
{
    const char *av = validate_str0(obj, "apiVersion"), *kind = validate_str0(obj, "kind");

    memset(rep, 0, sizeof *rep);
    if (!cJSON_IsObject(obj))
        return -EINVAL;
    if (strcmp(av, "keda.sh/v1alpha1") != 0)
        return -EOPNOTSUPP;
    if (strcmp(kind, "ScaledObject") == 0)
        return validate_scaledobject(obj, cluster, rep);
    if (strcmp(kind, "ScaledJob") == 0)
        return validate_scaledjob(obj, rep);
    if (strcmp(kind, "TriggerAuthentication") == 0)
        return validate_triggerauthentication(obj, false, rep);
    if (strcmp(kind, "ClusterTriggerAuthentication") == 0)
        return validate_triggerauthentication(obj, true, rep);
    return -EOPNOTSUPP;
}

bool validate_finding_refuses(const validate_finding_t *f)
{
    return !f->warning && strcmp(f->reason, "hpa-name-too-long") != 0 &&
           strcmp(f->reason, "missing-requests") != 0 &&
           strcmp(f->reason, "scale-to-zero-requirements-not-met") != 0;
}

bool validate_report_served(const validate_report_t *rep)
{
    for (unsigned i = 0; i < rep->n; i++)
        if (validate_finding_refuses(&rep->findings[i]))
            return false;
    return true;
}
