/*
 * kubernetes_workload: the pure parts of the `kubernetes-workload` scaler
 * (kubernetes_workload.c), declared for its unit tests and its fuzz harness: the trigger's
 * parameters, the list request, and counting pods from the API server's list replies. Runs in
 * the kubernetes-workload scale workers.
 */
#ifndef CKEDA_SCALEWORKER_SCALERS_KUBERNETES_WORKLOAD_H
#define CKEDA_SCALEWORKER_SCALERS_KUBERNETES_WORKLOAD_H

#include "scaleworker/scaler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Pods per page of a list: metadata-only items are small, whole pods (groupByNode) are not;
 * both stay well inside the HTTP client's body bound (SW_HTTP_BODY_MAX), and a page that does
 * not is asked for again with half the limit. */
#define SW_KW_LIMIT_METADATA 500u
#define SW_KW_LIMIT_PODS     100u

/* KEDA's kubernetesWorkloadMetadata. */
typedef struct sw_kw_cfg {
    char *pod_selector; /* podSelector, trimmed, as written (the API server parses it) */
    double value;       /* the target (> 0) */
    double activation_value;
    bool group_by_node; /* count distinct nodes instead of pods */
} sw_kw_cfg_t;

/* podSelector (required), value (> 0), activationValue (0), groupByNode (false), from the
 * trigger metadata as KEDA's typed config reads them. -EINVAL with a message naming the field,
 * or -ENOMEM. */
int sw_kw_cfg_parse(const sw_params_t *p, sw_kw_cfg_t *ret, char *err, size_t errlen);
void sw_kw_cfg_free(sw_kw_cfg_t *c);

/* KEDA's metric name `s<index>-workload-<namespace>` (normalized). 0 or -ENAMETOOLONG. */
int sw_kw_metric_name(uint32_t index, const char *ns, char *buf, size_t cap);

/* The path and query of one page of the list, malloc'ed (NULL: out of memory):
 * /api/v1/namespaces/<ns>/pods?labelSelector=..&fieldSelector=..&limit=..[&continue=..] */
char *sw_kw_list_target(const sw_kw_cfg_t *c, const char *ns, unsigned limit, const char *cont);

/* What the pages of one list counted so far. */
typedef struct sw_kw_count {
    bool group_by_node;
    uint64_t pods; /* pods not Succeeded or Failed */
    char **nodes;  /* with groupByNode: the distinct non-empty spec.nodeName of those, sorted */
    size_t nnodes, cap;
} sw_kw_count_t;

/* Adds one page (a PodList, or a PartialObjectMetadataList whose items carry no status) to c.
 * On 0, *ret_continue is the next page's token (malloc'ed) or NULL for the last page. -EINVAL
 * (not a list: message in err) or -ENOMEM; c keeps what earlier pages counted. */
int sw_kw_count_page(sw_kw_count_t *c, const char *body, size_t len, char **ret_continue, char *err,
                     size_t errlen);
/* The metric: pods, or distinct nodes with groupByNode. */
double sw_kw_count_value(const sw_kw_count_t *c);
/* Forgets what was counted (group_by_node stays). */
void sw_kw_count_reset(sw_kw_count_t *c);

/* The `message` of a Kubernetes Status reply, bounded, into buf; "" when there is none. */
void sw_kw_status_message(const char *body, size_t len, char *buf, size_t cap);

#endif
