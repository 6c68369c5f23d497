/*
 * validate_so: the ScaledObject rules that need no cluster (validate.h gives the order):
 * ckeda's reconcile checks through so_parse, then KEDA's scaledobject_webhook.go rules, each
 * read from the JSON as KEDA reads its typed object. Where a reconcile error and a webhook rule
 * report the same problem (min > max, a duplicate trigger name, a negative fallback, a name too
 * long) only the webhook's finding, with KEDA's message, is kept.
 */
#include "common/validate_internal.h"

#include "common/expr.h"
#include "common/json.h"
#include "common/scaledobject.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SM "spec.advanced.scalingModifiers"

static bool vs_is_resource(const char *type)
{
    return strcmp(type, "cpu") == 0 || strcmp(type, "memory") == 0;
}

/* ---- the reconcile checks ---- */

/* The field a so_parse message names: its "spec.x[n]:" prefix and/or a quoted `field "y"`. */
static void vs_field_of(const char *msg, char *buf, size_t cap)
{
    const char *p = msg, *q;
    size_t n = 0;

    buf[0] = '\0';
    if (strncmp(p, "ScaledObject.", 13) == 0)
        p += 13;
    if (strncmp(p, "spec.", 5) == 0 || strncmp(p, "metadata.", 9) == 0) {
        n = strcspn(p, ": ");
        snprintf(buf, cap, "%.*s", (int)n, p);
        p += n;
        if (strncmp(p, ": ", 2) == 0)
            p += 2;
    }
    if (strncmp(p, "field \"", 7) == 0 && (q = strchr(p + 7, '"')))
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%.*s", buf[0] ? "." : "",
                 (int)(q - p - 7), p + 7);
}

static bool vs_starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The reason of a so_parse error, and whether a webhook rule reports the same problem. */
static const char *vs_reconcile_reason(const so_t *so, int r, const char *field, const char *msg,
                                       bool *ret_covered)
{
    *ret_covered = false;
    if (so->failed_step == SO_STEP_UNSUPPORTED)
        return "unsupported-scaler";
    if (r == -E2BIG)
        return "too-many-triggers";
    if (so->failed_step == SO_STEP_TARGET)
        return "incorrect-target";
    if (so->failed_step == SO_STEP_TRIGGERS || strcmp(field, "spec.triggers") == 0) {
        *ret_covered = true; /* verifyTriggers: the same rules, KEDA's wording */
        return "incorrect-triggers";
    }
    if (vs_starts(msg, "metricName "))
        return "incorrect-triggers";
    if (vs_starts(field, "spec.triggers["))
        return "invalid-trigger";
    if (so->failed_step == SO_STEP_BOUNDS &&
        (vs_starts(msg, "MinReplicaCount=") || vs_starts(msg, "IdleReplicaCount="))) {
        *ret_covered = true;
        return "incorrect-replicas";
    }
    if (vs_starts(field, "spec.minReplicaCount") || vs_starts(field, "spec.maxReplicaCount") ||
        vs_starts(field, "spec.idleReplicaCount"))
        return "incorrect-replicas";
    if (vs_starts(field, "spec.fallback")) {
        *ret_covered = r == -ERANGE; /* a negative count: verifyFallback's message */
        return r == -EOPNOTSUPP ? "unsupported-fallback" : "incorrect-fallback";
    }
    if (vs_starts(field, SM))
        return "scaling-modifiers";
    if (strcmp(field, "metadata.name") == 0 && r == -ENAMETOOLONG) {
        *ret_covered = true;
        return "name-too-long";
    }
    if (vs_starts(field, "spec.advanced.horizontalPodAutoscalerConfig.name") &&
        r == -ENAMETOOLONG) {
        *ret_covered = true;
        return "hpa-name-too-long";
    }
    if (vs_starts(field, "metadata") || vs_starts(msg, "not a JSON object"))
        return "invalid-metadata";
    return "invalid-spec";
}

/* Runs so_parse; on an error fills *ret and returns whether it stands on its own. */
static bool vs_reconcile(const cJSON *obj, validate_finding_t *ret, bool *ret_covered)
{
    so_t *so = malloc(sizeof *so);
    errtext_t err = {{0}};
    int r;

    memset(ret, 0, sizeof *ret);
    if (!so) {
        *ret = (validate_finding_t){.reason = "internal"};
        snprintf(ret->message, sizeof ret->message, "out of memory");
        *ret_covered = false;
        return true;
    }
    r = so_parse(obj, SHM_TRIGGERS_PER_SO_MAX, so, &err);
    if (r < 0) {
        vs_field_of(err.text, ret->field, sizeof ret->field);
        ret->reason = vs_reconcile_reason(so, r, ret->field, err.text, ret_covered);
        snprintf(ret->message, sizeof ret->message, "%s", err.text[0] ? err.text : "invalid");
    }
    free(so);
    return r < 0;
}

/* ---- KEDA's webhook rules ---- */

typedef struct vs_counts {
    bool has_min, has_idle;
    int64_t min, max, idle;
} vs_counts_t;

static void vs_counts_read(const cJSON *obj, vs_counts_t *c)
{
    c->has_min = validate_int(obj, "spec.minReplicaCount", &c->min);
    c->has_idle = validate_int(obj, "spec.idleReplicaCount", &c->idle);
    if (!validate_int(obj, "spec.maxReplicaCount", &c->max))
        c->max = 100;
    if (!c->has_min)
        c->min = 0;
}

/* verifyReplicaCount: CheckReplicaCountBoundsAreValid. */
static void vs_replicas(const vs_counts_t *c, validate_report_t *rep)
{
    int64_t min = c->has_min ? (c->min > 0 ? c->min : 1) : 0; /* GetHPAMinReplicas */

    if (min > c->max)
        validate_add(rep, "incorrect-replicas", false, "spec.minReplicaCount",
                     "MinReplicaCount=%lld must be less than MaxReplicaCount=%lld", (long long)min,
                     (long long)c->max);
    else if (c->has_idle && c->idle >= min)
        validate_add(rep, "incorrect-replicas", false, "spec.idleReplicaCount",
                     "IdleReplicaCount=%lld must be less than MinReplicaCount=%lld",
                     (long long)c->idle, (long long)min);
}

/* IsUsingModifiers: any field of scalingModifiers set. */
static bool vs_modifiers_used(const cJSON *obj)
{
    return validate_str0(obj, SM ".formula")[0] || validate_str0(obj, SM ".target")[0] ||
           validate_str0(obj, SM ".activationTarget")[0] || validate_str0(obj, SM ".metricType")[0];
}

/* verifyFallback: CheckFallbackValid. */
static void vs_fallback(const cJSON *obj, validate_report_t *rep)
{
    const cJSON *t, *arr = jsonu_lookup(obj, "spec.triggers");
    int64_t ft = 0, replicas = 0;
    bool other = false;

    if (!cJSON_IsObject(jsonu_lookup(obj, "spec.fallback")))
        return;
    (void)validate_int(obj, "spec.fallback.failureThreshold", &ft);
    (void)validate_int(obj, "spec.fallback.replicas", &replicas);
    if (ft < 0 || replicas < 0) {
        validate_add(
            rep, "incorrect-fallback", false, "spec.fallback",
            "FailureThreshold=%lld & Replicas=%lld must both be greater than or equal to 0",
            (long long)ft, (long long)replicas);
        return;
    }
    if (vs_modifiers_used(obj))
        return;
    cJSON_ArrayForEach(t, (cJSON_IsArray(arr) ? arr : NULL))
    {
        if (!vs_is_resource(validate_str0(t, "type")))
            other = true;
    }
    if (!other)
        validate_add(rep, "incorrect-fallback", false, "spec.fallback",
                     "at least one trigger (that is not cpu or memory) has to have the "
                     "`AverageValue` type for the fallback to be enabled");
}

/* verifyName. */
static void vs_name(const cJSON *obj, validate_report_t *rep)
{
    const char *name = validate_str0(obj, "metadata.name");
    char hpa[1024], q[160];

    if (strlen(name) > VALIDATE_NAME_MAX) {
        validate_add(rep, "name-too-long", false, "metadata.name",
                     "scaledobject name %s is %zu characters long; must be no more than %d "
                     "characters because it is used as the \"scaledobject.keda.sh/name\" label "
                     "value",
                     validate_quote(name, q, sizeof q), strlen(name), VALIDATE_NAME_MAX);
        return;
    }
    validate_hpa_name(obj, hpa, sizeof hpa);
    if (strlen(hpa) > VALIDATE_NAME_MAX) {
        const char *custom = validate_str0(obj, "spec.advanced.horizontalPodAutoscalerConfig.name");
        validate_add(
            rep, "hpa-name-too-long", false,
            custom[0] ? "spec.advanced.horizontalPodAutoscalerConfig.name" : "metadata.name",
            "HPA name %s derived from scaledobject is %zu characters long; must be no "
            "more than %d characters; set spec.advanced.horizontalPodAutoscalerConfig.name "
            "to a shorter name or shorten the scaledobject name",
            validate_quote(hpa, q, sizeof q), strlen(hpa), VALIDATE_NAME_MAX);
    }
}

/* strconv.ParseFloat's syntax is close to strtod's; a leading blank is not Go's. */
static bool vs_target(const char *s, double *ret)
{
    char *end;

    if (!s[0] || s[0] == ' ' || s[0] == '\t' || s[0] == '\n')
        return false;
    *ret = strtod(s, &end);
    return !*end;
}

/* The formula's variables: the names of the non-cpu/memory triggers. */
static int vs_formula_check(const cJSON *obj, const char *formula, errtext_t *err)
{
    const cJSON *arr = jsonu_lookup(obj, "spec.triggers"), *t;
    size_t n = 0, cap = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
    const char **names = cap ? calloc(cap, sizeof *names) : NULL;
    int r;

    if (cap && !names) {
        errtext_set(err, "out of memory");
        return -ENOMEM;
    }
    cJSON_ArrayForEach(t, (cap ? arr : NULL))
    {
        const char *name = validate_str0(t, "name");
        if (!vs_is_resource(validate_str0(t, "type")) && name[0] && n < cap)
            names[n++] = name;
    }
    r = expr_validate(formula, names, n, err);
    free(names);
    return r;
}

/* ValidateAndCompileScalingModifiers, then the fallback behavior's requirement. */
static void vs_modifiers(const cJSON *obj, validate_report_t *rep)
{
    const char *formula = validate_str0(obj, SM ".formula"),
               *target = validate_str0(obj, SM ".target");
    const char *r = "scaling-modifiers";
    errtext_t err = {{0}};
    double num = 0;

    if (!vs_modifiers_used(obj))
        ;
    else if (!formula[0])
        validate_add(rep, r, false, SM ".formula", "error ScalingModifiers.Formula is mandatory");
    else if (!target[0])
        validate_add(rep, r, false, SM ".target",
                     "error validating formula in ScalingModifiers: formula is given but target is "
                     "empty");
    else if (strlen(formula) >= SHM_FORMULA_MAX)
        validate_add(rep, r, false, SM ".formula",
                     "error validating formula in ScalingModifiers: %zu bytes, more than the %d "
                     "ckeda keeps",
                     strlen(formula), SHM_FORMULA_MAX - 1);
    else if (vs_formula_check(obj, formula, &err) < 0)
        validate_add(rep, r, false, SM ".formula",
                     "error validating formula in ScalingModifiers: %s", err.text);
    else if (!vs_target(target, &num))
        validate_add(rep, r, false, SM ".target",
                     "error validating target in ScalingModifiers: error converting target for "
                     "scalingModifiers (string->float) to valid target: strconv.ParseFloat: "
                     "parsing \"%.64s\": invalid syntax",
                     target);
    else if (!(num > 0) || !isfinite(num))
        validate_add(rep, r, false, SM ".target",
                     "error validating target in ScalingModifiers: error converting target for "
                     "scalingModifiers (string->float) to valid target: %.64s is not a number "
                     "greater than 0",
                     target);
    else if (strcmp(validate_str0(obj, SM ".metricType"), "Utilization") == 0)
        validate_add(rep, r, false, SM ".metricType",
                     "error validating target in ScalingModifiers: error trigger type is "
                     "Utilization, but it needs to be AverageValue or Value for external metrics");
    if (strcmp(validate_str0(obj, "spec.fallback.behavior"), "scalingModifiers") == 0 &&
        !formula[0])
        validate_add(rep, "scaling-modifiers-fallback", false, "spec.fallback.behavior",
                     "scalingModifiers fallback behavior requires scalingModifiers.formula to be "
                     "defined");
}

/* verifyScaledObjects' warnings. */
static void vs_warnings(const cJSON *obj, const vs_counts_t *c, validate_report_t *rep)
{
    const cJSON *arr = jsonu_lookup(obj, "spec.triggers"), *t;
    bool cached = false;

    cJSON_ArrayForEach(t, (cJSON_IsArray(arr) ? arr : NULL)) cached |=
        validate_true(t, "useCachedMetrics");
    if (jsonu_lookup(obj, "spec.pollingInterval") && c->min > 0 && !c->has_idle && !cached)
        validate_add(rep, "irrelevant-polling-interval", true, "spec.pollingInterval",
                     "PollingInterval is configured but is not relevant. PollingInterval is only "
                     "relevant when minReplicaCount = 0, idleReplicaCount is set, or "
                     "useCachedMetrics is enabled");
    if (jsonu_lookup(obj, "spec.cooldownPeriod") && c->min > 0 && !c->has_idle)
        validate_add(rep, "irrelevant-cooldown-period", true, "spec.cooldownPeriod",
                     "CooldownPeriod is configured but is not relevant. CooldownPeriod is only "
                     "relevant when minReplicaCount = 0 or idleReplicaCount is set");
}

/* isWorkloadResourceSet: a request or limit for resource, > 0. */
static bool vs_quantity_positive(const cJSON *q)
{
    char *end;
    if (cJSON_IsNumber(q))
        return q->valuedouble > 0;
    return cJSON_IsString(q) && strtod(q->valuestring, &end) > 0 && end != q->valuestring;
}

static bool vs_resource_set(const cJSON *container, const char *resource)
{
    const cJSON *req = jsonu_lookup(container, "resources.requests");
    const cJSON *lim = jsonu_lookup(container, "resources.limits");
    return vs_quantity_positive(cJSON_GetObjectItemCaseSensitive(req, resource)) ||
           vs_quantity_positive(cJSON_GetObjectItemCaseSensitive(lim, resource));
}

/* The missing-requests half of verifyCPUMemoryScalers: only with the workload in hand. */
static bool vs_requests(const cJSON *obj, const validate_target_t *tg, const cJSON *t, size_t i,
                        const validate_cluster_t *cluster, validate_report_t *rep)
{
    const char *type = validate_str0(t, "type"), *want = validate_str0(t, "metadata.containerName");
    const char *ns = validate_str0(obj, "metadata.namespace");
    const cJSON *w, *containers, *c;
    char field[64];
    int lr;

    if (!cluster || !cluster->workload || !tg->name ||
        !(w = cluster->workload(cluster->ud, tg->kind, ns, tg->name)))
        return false;
    containers = jsonu_lookup(w, "spec.template.spec.containers");
    cJSON_ArrayForEach(c, (cJSON_IsArray(containers) ? containers : NULL))
    {
        const char *cname = validate_str0(c, "name");
        if ((want[0] && strcmp(cname, want) != 0) || vs_resource_set(c, type))
            continue;
        lr = cluster->limitrange_default ? cluster->limitrange_default(cluster->ud, ns, type) : -1;
        if (lr != 0)
            continue; /* a LimitRange gives a default, or nobody knows: not refused */
        snprintf(field, sizeof field, "spec.triggers[%zu].type", i);
        validate_add(rep, "missing-requests", false, field,
                     "the scaledobject has a %s trigger but the container %s doesn't have the %s "
                     "request defined",
                     type, cname, type);
        return true;
    }
    return false;
}

/* verifyCPUMemoryScalers. KEDA checks only apps/v1 Deployments and StatefulSets (their pod
 * template tells the requests); for any other target ckeda reports scale to zero as a warning. */
static void vs_cpu_memory(const cJSON *obj, const vs_counts_t *c, const validate_cluster_t *cluster,
                          validate_report_t *rep)
{
    const cJSON *arr = jsonu_lookup(obj, "spec.triggers"), *t;
    validate_target_t tg;
    bool any = false, only = true, apps;
    size_t i = 0;

    validate_target_of(jsonu_lookup(obj, "spec.scaleTargetRef"), &tg);
    apps = strcmp(tg.group, "apps") == 0 && strcmp(tg.version, "v1") == 0 &&
           (strcmp(tg.kind, "Deployment") == 0 || strcmp(tg.kind, "StatefulSet") == 0);
    cJSON_ArrayForEach(t, (cJSON_IsArray(arr) ? arr : NULL))
    {
        bool res = vs_is_resource(validate_str0(t, "type"));
        if (res && apps && vs_requests(obj, &tg, t, i, cluster, rep))
            return;
        any |= res;
        only &= res;
        i++;
    }
    if (any && only && c->min == 0)
        validate_add(rep, "scale-to-zero-requirements-not-met", !apps, "spec.minReplicaCount",
                     "scaledobject has only cpu/memory triggers AND minReplica is 0 (scale to zero "
                     "doesn't work in this case)");
}

int validate_scaledobject(const cJSON *obj, const validate_cluster_t *cluster,
                          validate_report_t *rep)
{
    validate_finding_t rec;
    vs_counts_t counts;
    bool covered = false, failed;

    memset(rep, 0, sizeof *rep);
    if (!cJSON_IsObject(obj))
        return -EINVAL;
    failed = vs_reconcile(obj, &rec, &covered);
    vs_counts_read(obj, &counts);
    vs_replicas(&counts, rep);
    vs_fallback(obj, rep);
    vs_name(obj, rep);
    validate_triggers_rule(obj, rep);
    vs_modifiers(obj, rep);
    vs_warnings(obj, &counts, rep);
    vs_cpu_memory(obj, &counts, cluster, rep);
    if (cluster)
        validate_so_cluster(obj, cluster, rep);
    else
        rep->cluster_rules_skipped = true;
    if (failed && !(covered && validate_has_reason(rep, rec.reason)))
        validate_add_first(rep, &rec);
    return (int)rep->errors;
}
