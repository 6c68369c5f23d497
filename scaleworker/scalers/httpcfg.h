/*
 * httpcfg: what the HTTP scalers (prometheus, metrics-api) share: KEDA's typed-config value
 * rules (pkg/scalers/scalersconfig/typed_config.go) for the field types they use, and KEDA's
 * authentication block (pkg/scalers/authentication/authentication_types.go: authModes and its
 * parameters, validated as Config.Validate does). Runs in their workers when a trigger's
 * configuration is loaded. Messages name the field ("metadata.threshold: ...") and never quote
 * a credential.
 */
#ifndef CKEDA_SCALEWORKER_HTTPCFG_H
#define CKEDA_SCALEWORKER_HTTPCFG_H

#include "scaleworker/http.h"
#include "scaleworker/scaler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    SW_AUTH_APIKEY = 1u << 0,
    SW_AUTH_BASIC = 1u << 1,
    SW_AUTH_TLS = 1u << 2,
    SW_AUTH_BEARER = 1u << 3,
    SW_AUTH_CUSTOM = 1u << 4,
    SW_AUTH_OAUTH = 1u << 5,
};

/* KEDA's authentication.Config. Strings are NULL when absent; all are wiped when freed. */
typedef struct sw_http_auth {
    unsigned modes;
    char *bearer_token;        /* bearerToken or token */
    char *username, *password; /* basic */
    char *cert, *key, *ca;     /* tls (ca also alone) */
    char *custom_header, *custom_value;
    char *api_key;
    bool api_key_query; /* method: query (default header) */
    char *key_param_name;
} sw_http_auth_t;

int sw_http_auth_parse(const sw_params_t *p, sw_http_auth_t *ret, char *err, size_t errlen);
void sw_http_auth_free(sw_http_auth_t *a);
/* The Authorization value "Basic base64(username:password)" (password NULL: empty), malloc'ed
 * (free with sw_secret_str_free), or NULL when out of memory. */
char *sw_http_basic_value(const char *username, const char *password);

/* ---- typed-config values: each returns 1 found, 0 absent (default kept), -EINVAL/-ENOMEM --- */

extern const sw_src_t sw_order_meta[];      /* triggerMetadata */
extern const sw_src_t sw_order_meta_auth[]; /* triggerMetadata;authParams */
extern const sw_src_t sw_order_auth[];      /* authParams */

/* A string (trimmed), malloc'ed. required: absence is the error KEDA gives. */
int sw_cfg_str(const sw_params_t *p, const char *name, const sw_src_t *order, bool required,
               char **ret, char *err, size_t errlen);
/* A float64 as json.Unmarshal reads one (JSON number syntax; `null` leaves it 0). */
int sw_cfg_float(const sw_params_t *p, const char *name, bool required, double *ret, char *err,
                 size_t errlen);
/* strconv.ParseBool. */
int sw_cfg_bool(const sw_params_t *p, const char *name, bool *ret, char *err, size_t errlen);
/* A time.Duration: a Go duration ("1.5s") or whole milliseconds ("1000"); never negative. */
int sw_cfg_duration_ms(const sw_params_t *p, const char *name, uint64_t *ret, char *err,
                       size_t errlen);
/* One of the enumerated values (default kept when absent); *ret is its index. */
int sw_cfg_enum(const sw_params_t *p, const char *name, const char *const *values, int *ret,
                char *err, size_t errlen);

typedef struct sw_kv {
    char *key, *value;
} sw_kv_t;
typedef struct sw_kvs {
    size_t n;
    sw_kv_t *v;
} sw_kvs_t;
/* A map[string]string: "k1=v1,k2=v2", each side trimmed, exactly one '=' per element; a key
 * given twice keeps its last value (in the place it first appeared). */
int sw_cfg_map(const sw_params_t *p, const char *name, sw_kvs_t *ret, char *err, size_t errlen);
void sw_kvs_free(sw_kvs_t *m);

/* Parses a float as Go's strconv.ParseFloat(s, 64): 0, or -EINVAL (syntax) / -ERANGE. */
int sw_go_parse_float(const char *s, size_t len, double *ret);
/* k8s resource.ParseQuantity(s).AsApproximateFloat64(): 0 or -EINVAL. */
int sw_quantity_parse(const char *s, size_t len, double *ret);

#endif
