/*
 * validate: KEDA's admission rules for keda.sh/v1alpha1 objects (reference keda.md §1.17), with
 * ckeda's reconcile-time checks (common/scaledobject.h) reported the same way, as a library:
 * `ckeda validate` runs it on files and on a cluster's objects, the webhook role on admission
 * requests, the watcher on what it is about to serve. No state, no I/O: rules that need the
 * cluster ask the caller through validate_cluster_t.
 *
 * A report lists findings in KEDA's order. A finding's reason is the label KEDA's
 * keda_webhook_scaled_object_validation_errors_total uses for the rule (incorrect-replicas,
 * other-hpa, ...) or, for rules of ckeda's own, a name in the same style (unsupported-scaler,
 * too-many-triggers, ...). Where KEDA has a message the finding carries it verbatim (except that
 * KEDA's errors.Join newline becomes ": ", so every message is one line); the field it is about
 * is in `field`. A warning never makes an object invalid.
 */
#ifndef CKEDA_COMMON_VALIDATE_H
#define CKEDA_COMMON_VALIDATE_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#define VALIDATE_FINDINGS_MAX 16
#define VALIDATE_MESSAGE_MAX  512
#define VALIDATE_FIELD_MAX    128
#define VALIDATE_NAME_MAX     63 /* a label value: ScaledObject names, HPA names */

typedef struct validate_finding {
    const char *reason; /* static string, never empty */
    bool warning;
    char field[VALIDATE_FIELD_MAX];     /* JSON path, e.g. "spec.minReplicaCount"; "" = whole */
    char message[VALIDATE_MESSAGE_MAX]; /* never empty */
} validate_finding_t;

typedef struct validate_report {
    unsigned n;
    unsigned errors;            /* findings that are not warnings */
    bool truncated;             /* more than VALIDATE_FINDINGS_MAX findings; the first are kept */
    bool cluster_rules_skipped; /* no cluster state was given */
    validate_finding_t findings[VALIDATE_FINDINGS_MAX];
} validate_report_t;

/* Cluster state for the rules that need it. Objects are cJSON trees as the API returns them;
 * they must not change during a call. A NULL callback means "unknown": its rules are skipped. */
typedef struct validate_cluster {
    void *ud;
    /* Calls fn on every ScaledObject of namespace ns (the object under validation may be among
     * them; it is recognised by uid or name). */
    void (*each_scaledobject)(void *ud, const char *ns, void (*fn)(const cJSON *so, void *arg),
                              void *arg);
    /* Calls fn on every HorizontalPodAutoscaler of namespace ns. */
    void (*each_hpa)(void *ud, const char *ns, void (*fn)(const cJSON *hpa, void *arg), void *arg);
    /* The apps/v1 Deployment or StatefulSet (kind) ns/name, or NULL when unknown or absent. */
    const cJSON *(*workload)(void *ud, const char *kind, const char *ns, const char *name);
    /* 1 if a LimitRange of ns gives containers a default request or limit > 0 for resource
     * ("cpu", "memory"), 0 if none does, negative when unknown. */
    int (*limitrange_default)(void *ud, const char *ns, const char *resource);
} validate_cluster_t;

/* Each returns the number of errors in rep (0: valid; warnings may be present), or -EINVAL if
 * obj is not a JSON object. rep is reset first. cluster NULL: offline, and the rules that need
 * the cluster are skipped (rep->cluster_rules_skipped).
 *
 * ScaledObject, in KEDA's order: ckeda's reconcile checks (so_parse: the scale target, types,
 * scaler metadata, supported scaler types, SHM_TRIGGERS_PER_SO_MAX triggers), verifyReplicaCount,
 * verifyFallback, verifyName, verifyTriggers, scalingModifiers, the pollingInterval and
 * cooldownPeriod warnings, verifyCPUMemoryScalers; then with a cluster: another ScaledObject on
 * the same workload or HPA name (of two, the one created later loses: creationTimestamp, then
 * name; no creationTimestamp counts as newest), a foreign HPA on the workload (verifyHpas). */
int validate_scaledobject(const cJSON *obj, const validate_cluster_t *cluster,
                          validate_report_t *rep);
/* ScaledJob: KEDA's verifyTriggers, and what ckeda's reconcile would refuse (jobTargetRef and its
 * pod template, metricType on a trigger, scaler types and metadata, name length). */
int validate_scaledjob(const cJSON *obj, validate_report_t *rep);
/* TriggerAuthentication (cluster_scoped false) or ClusterTriggerAuthentication: KEDA's pod
 * identity and OAuth2 rules, and its filePath rules. */
int validate_triggerauthentication(const cJSON *obj, bool cluster_scoped, validate_report_t *rep);
/* Dispatches on apiVersion keda.sh/v1alpha1 and kind; -EOPNOTSUPP for any other object. */
int validate_object(const cJSON *obj, const validate_cluster_t *cluster, validate_report_t *rep);

/* Whether ckeda's watcher refuses to serve an object for this finding (Ready=False with its
 * message): every error except those KEDA's reconcile would serve anyway (hpa-name-too-long: the
 * HPA's label is cut; missing-requests and scale-to-zero-requirements-not-met: the HPA reports
 * them). */
bool validate_finding_refuses(const validate_finding_t *f);
/* No finding in rep refuses the object. */
bool validate_report_served(const validate_report_t *rep);

/* `ckeda validate [-o json] [--cluster] [--kubeconfig F] [--context C] [FILE...]`: exit 0, 1 if
 * an object is invalid or a file unreadable, 78 on a usage error. */
int validate_main(int argc, char **argv);

#endif
