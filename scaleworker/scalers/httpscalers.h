/*
 * httpscalers: private declarations of the HTTP scalers, for their files and their unit tests:
 * prometheus.c (KEDA's prometheus_scaler.go) and metrics_api.c + metrics_api_value.c (KEDA's
 * metrics_api_scaler.go). Configurations are parsed exactly as KEDA's typed config reads them;
 * values are extracted from response bodies as KEDA does. Runs in their scale workers.
 */
#ifndef CKEDA_SCALEWORKER_HTTPSCALERS_H
#define CKEDA_SCALEWORKER_HTTPSCALERS_H

#include "scaleworker/scalers/httpcfg.h"

/* ---- prometheus ---------------------------------------------------------------------------- */

typedef struct sw_prom_cfg {
    char *server_address;
    char *query;
    sw_kvs_t query_parameters;
    double threshold;            /* the watcher's copy is in the table */
    double activation_threshold; /* likewise */
    char *namespace_;            /* `namespace`: &namespace= for Thanos/Cortex tenancy */
    sw_kvs_t custom_headers;
    bool ignore_null_values; /* default true */
    bool unsafe_ssl;
    uint64_t timeout_ms; /* `timeout`, 0: none */
    sw_http_auth_t auth;
    char *aws_region, *identity_owner; /* accepted, unused (no pod identity in ckeda) */
} sw_prom_cfg_t;

int sw_prom_cfg_parse(const sw_params_t *p, sw_prom_cfg_t *ret, char *err, size_t errlen);
void sw_prom_cfg_free(sw_prom_cfg_t *c);
/* The value of a 2xx /api/v1/query answer as KEDA's ExecutePromQuery reads it. 0 or -EINVAL
 * with KEDA's message in err. */
int sw_prom_value(const char *body, size_t len, const sw_prom_cfg_t *c, double *ret, char *err,
                  size_t errlen);
/* The request URL (query, time, namespace, queryParameters), malloc'ed; now_s: Unix seconds. */
char *sw_prom_url(const sw_prom_cfg_t *c, long long now_s);

/* ---- metrics-api --------------------------------------------------------------------------- */

typedef enum { SW_MAPI_PROMETHEUS, SW_MAPI_JSON, SW_MAPI_XML, SW_MAPI_YAML } sw_mapi_format_t;

typedef struct sw_mapi_cfg {
    double target_value;
    double activation_target_value;
    char *url;
    sw_mapi_format_t format; /* default json */
    char *value_location;
    bool unsafe_ssl;
    int aggregation_type; /* average sum max min; only with aggregateFromKubeServiceEndpoints */
    uint64_t timeout_ms;
    sw_http_auth_t auth;
} sw_mapi_cfg_t;

int sw_mapi_cfg_parse(const sw_params_t *p, sw_mapi_cfg_t *ret, char *err, size_t errlen);
void sw_mapi_cfg_free(sw_mapi_cfg_t *c);
/* KEDA's GetValueFromResponse: 0 or -EINVAL with KEDA's message in err. */
int sw_mapi_value(const char *body, size_t len, const char *location, sw_mapi_format_t format,
                  double *ret, char *err, size_t errlen);
/* The subset of GJSON paths ckeda reads: 0, or -EINVAL naming what is not supported. */
int sw_mapi_location_check(const char *location, char *err, size_t errlen);

#endif
