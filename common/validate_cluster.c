/*
 * validate_cluster: the ScaledObject rules that need the cluster (KEDA's verifyScaledObjects
 * conflict checks and verifyHpas), over the caller's validate_cluster_t.
 *
 * KEDA sees one object at admission, so whichever came second is refused. ckeda also judges
 * objects already in the cluster (`ckeda validate --cluster`, the watcher), so a pair must get
 * one verdict whichever side is asked: the object created later loses (creationTimestamp, then
 * name; an object without a creationTimestamp, a CREATE or a file, is the newest). Objects being
 * deleted do not count. Targets match on API group, kind and name (KEDA also compares the
 * version; two versions of one group name the same object). An HPA owned by another live
 * ScaledObject is that object's business: the ScaledObject rule decides between the two.
 */
#include "common/validate_internal.h"

#include "common/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VC_HPA_CANDIDATES 8

typedef struct vc {
    const cJSON *self; /* the object, or its stored version when the cluster has it */
    const char *name, *uid;
    validate_target_t tg;
    char hpa[1024];
    const cJSON *target_owner; /* the oldest older ScaledObject on the same workload */
    const cJSON *hpa_owner;    /* the oldest older ScaledObject with the same HPA name */
    const cJSON *hpas[VC_HPA_CANDIDATES];
    unsigned nhpas;
    const char *lookup; /* vc_so_exists: the name looked for */
    bool found;
} vc_t;

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t vc_days(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* metadata.creationTimestamp (RFC 3339) in seconds; false if missing or malformed. */
static bool vc_created(const cJSON *o, int64_t *ret)
{
    const char *s = validate_str(o, "metadata.creationTimestamp");
    int y, mo, d, h, mi, sec, oh = 0, om = 0, n = 0;
    char sign = 0;

    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    s += n;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            ;
    if (*s == 'Z' && !s[1])
        ;
    else if ((*s == '+' || *s == '-') && sscanf(s, "%c%2d:%2d", &sign, &oh, &om) == 3)
        oh = sign == '-' ? -oh : oh, om = sign == '-' ? -om : om;
    else
        return false;
    *ret = vc_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - oh * 3600 - om * 60;
    return true;
}

/* < 0 when a was created before b. */
static int vc_age_cmp(const cJSON *a, const cJSON *b)
{
    int64_t ta = 0, tb = 0;
    bool ha = vc_created(a, &ta), hb = vc_created(b, &tb);

    if (ha != hb)
        return ha ? -1 : 1;
    if (ha && ta != tb)
        return ta < tb ? -1 : 1;
    return strcmp(validate_str0(a, "metadata.name"), validate_str0(b, "metadata.name"));
}

static bool vc_is_other_live(const vc_t *v, const cJSON *o)
{
    const char *uid = validate_str0(o, "metadata.uid");

    if (jsonu_lookup(o, "metadata.deletionTimestamp"))
        return false;
    if (v->uid[0] && strcmp(uid, v->uid) == 0)
        return false;
    return strcmp(validate_str0(o, "metadata.name"), v->name) != 0;
}

static bool vc_same_target(const validate_target_t *a, const validate_target_t *b)
{
    return a->name && b->name && strcmp(a->name, b->name) == 0 && strcmp(a->group, b->group) == 0 &&
           strcmp(a->kind, b->kind) == 0;
}

static void vc_on_so(const cJSON *o, void *arg)
{
    vc_t *v = arg;
    validate_target_t tg;
    char hpa[1024];

    if (!vc_is_other_live(v, o) || vc_age_cmp(o, v->self) >= 0)
        return; /* the newer of the two is the one refused */
    validate_target_of(jsonu_lookup(o, "spec.scaleTargetRef"), &tg);
    if (vc_same_target(&tg, &v->tg) && (!v->target_owner || vc_age_cmp(o, v->target_owner) < 0))
        v->target_owner = o;
    if (strcmp(validate_hpa_name(o, hpa, sizeof hpa), v->hpa) == 0 &&
        (!v->hpa_owner || vc_age_cmp(o, v->hpa_owner) < 0))
        v->hpa_owner = o;
}

/* An object without a creationTimestamp that the cluster already holds (a file applied again)
 * is judged as the stored object. */
static void vc_on_so_self(const cJSON *o, void *arg)
{
    vc_t *v = arg;

    if (!jsonu_lookup(o, "metadata.deletionTimestamp") && !vc_is_other_live(v, o) &&
        strcmp(validate_str0(o, "metadata.name"), v->name) == 0)
        v->self = o;
}

static void vc_on_so_lookup(const cJSON *o, void *arg)
{
    vc_t *v = arg;

    if (vc_is_other_live(v, o) && strcmp(validate_str0(o, "metadata.name"), v->lookup) == 0)
        v->found = true;
}

/* The name of the ScaledObject that owns hpa, or NULL. */
static const char *vc_so_owner(const cJSON *hpa)
{
    const cJSON *refs = jsonu_lookup(hpa, "metadata.ownerReferences"), *r;

    cJSON_ArrayForEach(
        r,
        (cJSON_IsArray(refs) ? refs : NULL)) if (strcmp(validate_str0(r, "kind"), "ScaledObject") ==
                                                 0) return validate_str0(r, "name");
    return NULL;
}

static void vc_on_hpa(const cJSON *hpa, void *arg)
{
    vc_t *v = arg;
    validate_target_t tg;
    const char *owner;

    if (strcmp(validate_str0(hpa, "metadata.annotations[\"validations.keda.sh/hpa-ownership\"]"),
               "false") == 0 ||
        jsonu_lookup(hpa, "metadata.deletionTimestamp"))
        return;
    validate_target_of(jsonu_lookup(hpa, "spec.scaleTargetRef"), &tg);
    if (!vc_same_target(&tg, &v->tg))
        return;
    owner = vc_so_owner(hpa);
    if (owner && strcmp(owner, v->name) == 0)
        return; /* our own */
    if (v->nhpas < VC_HPA_CANDIDATES)
        v->hpas[v->nhpas++] = hpa;
}

static void vc_hpas(vc_t *v, const validate_cluster_t *cl, const char *ns, validate_report_t *rep)
{
    const char *transfer = validate_str0(
        v->self, "metadata.annotations[\"scaledobject.keda.sh/transfer-hpa-ownership\"]");
    const char *custom = validate_str0(v->self, "spec.advanced.horizontalPodAutoscalerConfig.name");

    cl->each_hpa(cl->ud, ns, vc_on_hpa, v);
    for (unsigned i = 0; i < v->nhpas; i++) {
        const char *hname = validate_str0(v->hpas[i], "metadata.name");
        const char *owner = vc_so_owner(v->hpas[i]);
        if (owner && cl->each_scaledobject) {
            v->lookup = owner;
            v->found = false;
            cl->each_scaledobject(cl->ud, ns, vc_on_so_lookup, v);
            if (v->found)
                continue;
        }
        if (strcmp(transfer, "true") == 0 && strcmp(custom, hname) == 0)
            continue; /* KEDA: ownership is being transferred */
        if (strcmp(transfer, "true") == 0)
            validate_add(rep, "transfer-ownership-missing-hpa-name", false,
                         "spec.advanced.horizontalPodAutoscalerConfig.name",
                         "the existing hpa '%s' for workload '%s' of type '%s/%s.%s' must be "
                         "specified by name in advanced settings to enable ownership transfer",
                         hname, v->tg.name, v->tg.group, v->tg.version, v->tg.kind);
        else
            validate_add(rep, "other-hpa", false, "spec.scaleTargetRef",
                         "the workload '%s' of type '%s/%s.%s' is already managed by the hpa '%s'",
                         v->tg.name, v->tg.group, v->tg.version, v->tg.kind, hname);
        return;
    }
}

void validate_so_cluster(const cJSON *obj, const validate_cluster_t *cl, validate_report_t *rep)
{
    const char *ns = validate_str0(obj, "metadata.namespace");
    vc_t *v = calloc(1, sizeof *v);

    if (!v) {
        validate_add(rep, "internal", false, NULL, "out of memory");
        return;
    }
    v->self = obj;
    v->name = validate_str0(obj, "metadata.name");
    v->uid = validate_str0(obj, "metadata.uid");
    validate_target_of(jsonu_lookup(obj, "spec.scaleTargetRef"), &v->tg);
    validate_hpa_name(obj, v->hpa, sizeof v->hpa);
    if (cl->each_scaledobject && !validate_str(obj, "metadata.creationTimestamp"))
        cl->each_scaledobject(cl->ud, ns, vc_on_so_self, v);
    if (cl->each_scaledobject)
        cl->each_scaledobject(cl->ud, ns, vc_on_so, v);
    v->self = obj;
    if (v->target_owner)
        validate_add(rep, "other-scaled-object", false, "spec.scaleTargetRef",
                     "the workload '%s' of type '%s/%s.%s' is already managed by the ScaledObject "
                     "'%s'",
                     v->tg.name, v->tg.group, v->tg.version, v->tg.kind,
                     validate_str0(v->target_owner, "metadata.name"));
    if (v->hpa_owner)
        validate_add(rep, "other-scaled-object-hpa", false,
                     "spec.advanced.horizontalPodAutoscalerConfig.name",
                     "the HPA '%s' is already managed by the ScaledObject '%s'", v->hpa,
                     validate_str0(v->hpa_owner, "metadata.name"));
    if (cl->each_hpa && v->tg.name)
        vc_hpas(v, cl, ns, rep);
    free(v);
}
