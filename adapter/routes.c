/*
 * routes: which path is which endpoint, the discovery documents, and the health checks
 * (adapter process).
 *
 * The secure port serves what custom-metrics-apiserver serves for KEDA (reference keda.md 2.2):
 * discovery of external.metrics.k8s.io/v1beta1 with KEDA's single placeholder resource
 * "externalmetrics", the namespaced value path, and /healthz /livez /readyz. The health port
 * serves the health checks only; the metrics port serves /metrics (prom.c) and nothing else.
 *
 * Who may call what (control-plane.md 5.3): health is public; discovery needs an authenticated
 * caller and no review (the aggregator's discovery and availability probes carry no groups a
 * review would allow); values need a SubjectAccessReview.
 */
#include "adapter/adp_internal.h"

#include <string.h>

#define ADP_VALUE_PREFIX "/apis/" ADP_GROUP_VERSION "/namespaces/"

static adp_route_id_t route_health(const char *path)
{
    if (strcmp(path, "/healthz") == 0)
        return ADP_ROUTE_HEALTHZ;
    if (strcmp(path, "/livez") == 0)
        return ADP_ROUTE_LIVEZ;
    if (strcmp(path, "/readyz") == 0)
        return ADP_ROUTE_READYZ;
    return ADP_ROUTE_NONE;
}

void adp_route_match(adp_listener_t where, char *path, adp_route_t *ret)
{
    *ret = (adp_route_t){.id = ADP_ROUTE_NONE};
    if (where == ADP_LISTENER_METRICS) {
        if (strcmp(path, "/metrics") == 0)
            ret->id = ADP_ROUTE_METRICS;
        return;
    }
    ret->id = route_health(path);
    if (ret->id != ADP_ROUTE_NONE || where != ADP_LISTENER_SECURE)
        return;
    if (strcmp(path, "/apis") == 0)
        ret->id = ADP_ROUTE_APIS;
    else if (strcmp(path, "/apis/" ADP_GROUP) == 0)
        ret->id = ADP_ROUTE_GROUP;
    else if (strcmp(path, "/apis/" ADP_GROUP_VERSION) == 0)
        ret->id = ADP_ROUTE_GROUP_VERSION;
    if (ret->id != ADP_ROUTE_NONE || strncmp(path, ADP_VALUE_PREFIX, strlen(ADP_VALUE_PREFIX)))
        return;
    /* namespaces/{ns}/{metric}: exactly two non-empty segments. */
    char *ns = path + strlen(ADP_VALUE_PREFIX), *slash = strchr(ns, '/');
    if (!slash || slash == ns || !slash[1] || strchr(slash + 1, '/'))
        return;
    *slash = '\0';
    ret->id = ADP_ROUTE_VALUE;
    ret->ns = ns;
    ret->metric = slash + 1;
}

bool adp_route_is_public(adp_route_id_t id)
{
    return id == ADP_ROUTE_HEALTHZ || id == ADP_ROUTE_LIVEZ || id == ADP_ROUTE_READYZ ||
           id == ADP_ROUTE_METRICS;
}

bool adp_route_needs_authz(adp_route_id_t id)
{
    return id == ADP_ROUTE_VALUE;
}

static const char adp_gv_json[] =
    "{\"groupVersion\":\"" ADP_GROUP_VERSION "\",\"version\":\"" ADP_VERSION "\"}";

void adp_discovery_write(adp_route_id_t id, adp_sbuf_t *b)
{
    switch (id) {
    case ADP_ROUTE_APIS:
        adp_sbuf_puts(b, "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[{\"name\":"
                         "\"" ADP_GROUP "\",\"versions\":[");
        adp_sbuf_puts(b, adp_gv_json);
        adp_sbuf_puts(b, "],\"preferredVersion\":");
        adp_sbuf_puts(b, adp_gv_json);
        adp_sbuf_puts(b, "}]}");
        break;
    case ADP_ROUTE_GROUP:
        adp_sbuf_puts(b, "{\"kind\":\"APIGroup\",\"apiVersion\":\"v1\",\"name\":\"" ADP_GROUP
                         "\",\"versions\":[");
        adp_sbuf_puts(b, adp_gv_json);
        adp_sbuf_puts(b, "],\"preferredVersion\":");
        adp_sbuf_puts(b, adp_gv_json);
        adp_sbuf_puts(b, "}");
        break;
    default: /* KEDA's DefaultExternalMetricsProvider: one placeholder resource */
        adp_sbuf_puts(b, "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\",\"groupVersion\":"
                         "\"" ADP_GROUP_VERSION "\",\"resources\":[{\"name\":\"externalmetrics\","
                         "\"singularName\":\"\",\"namespaced\":true,\"kind\":"
                         "\"ExternalMetricValueList\",\"verbs\":[\"get\"]}]}");
        break;
    }
}

int adp_health_write(adp_route_id_t id, const adp_health_t *h, bool verbose, adp_sbuf_t *b)
{
    const struct {
        const char *name;
        bool ok;
    } checks[] = {{"ping", true},
                  {"shm-table", h->table_ok},
                  {"watcher-synced", h->watcher_synced},
                  {"supervisor-heartbeat", h->supervisor_fresh}};
    /* Liveness is the process answering; readiness also needs the table and its writers. */
    size_t n = id == ADP_ROUTE_READYZ ? sizeof checks / sizeof checks[0] : 1;
    const char *what = id == ADP_ROUTE_READYZ  ? "readyz"
                       : id == ADP_ROUTE_LIVEZ ? "livez"
                                               : "healthz";
    bool ok = true;

    for (size_t i = 0; i < n; i++)
        ok &= checks[i].ok;
    if (ok && !verbose) {
        adp_sbuf_puts(b, "ok");
        return 200;
    }
    for (size_t i = 0; i < n; i++)
        adp_sbuf_printf(b, "[%c]%s %s\n", checks[i].ok ? '+' : '-', checks[i].name,
                        checks[i].ok ? "ok" : "failed");
    if (ok)
        adp_sbuf_printf(b, "%s check passed\n", what);
    else
        adp_sbuf_printf(b, "%s check failed\n", what);
    return ok ? 200 : 500;
}
