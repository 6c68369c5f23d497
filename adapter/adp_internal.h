/*
 * adp_internal: private declarations of the adapter role (`ckeda --role=adapter`).
 *
 * The HTTPS server itself (arena, request-head parser, JSON and metav1.Status writing, TLS,
 * connections, the event loop) is common/httpd.h; the adapter keeps its own names for the
 * pieces its parsers and formatters use (below), so they read in one prefix.
 *
 * Layers, bottom up (each file says more):
 *   selector.c   Kubernetes label-selector parser (untrusted input, fuzzed)
 *   routes.c     route matching, discovery documents, health checks
 *   values.c     ExternalMetricValueList from the table
 *   prom.c       GET /metrics: Prometheus text from the table (KEDA's families, ckeda_*)
 *   authn.c      who is asking: front-proxy headers or client certificate
 *   tokens.c     ... or a bearer token, through cached TokenReviews
 *   pending.c    a review in flight and its waiting requests (tokens.c, authz.c)
 *   authz.c      SubjectAccessReview decisions, cached, deduplicated, capped
 *   kube.c       the threads that talk to the API server (auth ConfigMap, access and token
 *                reviews)
 *   request.c    one request: route, authenticate, authorize (or wait for a review), serve
 *   server.c     httpd's configuration for the adapter's listeners and descriptors
 *   adapter.c    adp_main
 *
 * Only kube.c (and httpd) do I/O; the parsers and formatters are pure functions so they can be
 * unit-tested and fuzzed without sockets.
 */
#ifndef CKEDA_ADAPTER_ADP_INTERNAL_H
#define CKEDA_ADAPTER_ADP_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/httpd.h"

/* ---- common/httpd.h under the adapter's names ---------------------------------------------- */

typedef httpd_arena_t adp_arena_t;
typedef httpd_sbuf_t adp_sbuf_t;
typedef httpd_slice_t adp_slice_t;
typedef httpd_req_t adp_http_req_t;
typedef httpd_header_t adp_http_header_t;
typedef httpd_status_details_t adp_status_details_t;

#define ADP_ARENA_CHUNK      HTTPD_ARENA_CHUNK
#define ADP_ARENA_LIMIT      HTTPD_ARENA_LIMIT
#define ADP_HTTP_HEAD_MAX    HTTPD_HEAD_MAX
#define ADP_HTTP_LINE_MAX    HTTPD_LINE_MAX
#define ADP_HTTP_HEADERS_MAX HTTPD_HEADERS_MAX
#define ADP_HTTP_GET         HTTPD_GET
#define ADP_HTTP_HEAD        HTTPD_HEAD

#define adp_arena_alloc        httpd_arena_alloc
#define adp_arena_strndup      httpd_arena_strndup
#define adp_arena_strdup       httpd_arena_strdup
#define adp_arena_printf       httpd_arena_printf
#define adp_arena_reset        httpd_arena_reset
#define adp_arena_free         httpd_arena_free
#define adp_sbuf_init          httpd_sbuf_init
#define adp_sbuf_append        httpd_sbuf_append
#define adp_sbuf_puts          httpd_sbuf_puts
#define adp_sbuf_printf        httpd_sbuf_printf
#define adp_slice_eq           httpd_slice_eq
#define adp_slice_caseeq       httpd_slice_caseeq
#define adp_http_parse         httpd_parse
#define adp_http_header_next   httpd_header_next
#define adp_http_unescape      httpd_unescape
#define adp_http_target_split  httpd_target_split
#define adp_http_query_get     httpd_query_get
#define adp_json_string        httpd_json_string
#define adp_status_reason      httpd_status_reason
#define adp_http_reason_phrase httpd_reason_phrase
#define adp_status_json        httpd_status_json

/* ---- selector.c --------------------------------------------------------------------------- */

typedef enum {
    ADP_SEL_EQUALS,        /* = */
    ADP_SEL_DOUBLE_EQUALS, /* == */
    ADP_SEL_NOT_EQUALS,    /* != */
    ADP_SEL_IN,
    ADP_SEL_NOT_IN,
    ADP_SEL_EXISTS,
    ADP_SEL_NOT_EXISTS, /* !key */
    ADP_SEL_GT,
    ADP_SEL_LT,
} adp_sel_op_t;

#define ADP_SEL_REQ_MAX    32
#define ADP_SEL_VALUES_MAX 128
#define ADP_SEL_INPUT_MAX  4096

typedef struct adp_sel_req {
    adp_slice_t key;
    adp_sel_op_t op;
    uint32_t first_value, nvalues; /* into adp_selector_t.values */
} adp_sel_req_t;

/* A parsed selector. Slices point into the parsed string, which must outlive it. */
typedef struct adp_selector {
    uint32_t nreqs, nvalues;
    adp_sel_req_t reqs[ADP_SEL_REQ_MAX];
    adp_slice_t values[ADP_SEL_VALUES_MAX];
} adp_selector_t;

/* Parses Kubernetes label-selector syntax (labels.Parse): comma-separated requirements
 * `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>1`, `k<1`, with keys and
 * values validated as label keys and values. 0, or -EINVAL with a message in err (errlen
 * bytes) that names what is wrong. An empty string is a valid selector with no requirement. */
int adp_selector_parse(const char *s, size_t n, adp_selector_t *ret, char *err, size_t errlen);
/* The value a selector pins key to: the last `key=v`, `key==v` or `key in (v)` requirement.
 * -ENOENT if none. */
int adp_selector_equals(const adp_selector_t *sel, const char *key, adp_slice_t *ret_value);

/* ---- routes.c ----------------------------------------------------------------------------- */

typedef enum { ADP_LISTENER_SECURE, ADP_LISTENER_HEALTH, ADP_LISTENER_METRICS } adp_listener_t;

typedef enum {
    ADP_ROUTE_NONE,
    ADP_ROUTE_HEALTHZ,
    ADP_ROUTE_LIVEZ,
    ADP_ROUTE_READYZ,
    ADP_ROUTE_APIS,          /* /apis */
    ADP_ROUTE_GROUP,         /* /apis/external.metrics.k8s.io */
    ADP_ROUTE_GROUP_VERSION, /* /apis/external.metrics.k8s.io/v1beta1 */
    ADP_ROUTE_VALUE,         /* .../v1beta1/namespaces/{ns}/{metric} */
    ADP_ROUTE_METRICS,       /* /metrics on the metrics port */
} adp_route_id_t;

typedef struct adp_route {
    adp_route_id_t id;
    const char *ns;     /* ADP_ROUTE_VALUE: decoded segments */
    const char *metric; /* as requested (the HPA sends it lower-cased) */
} adp_route_t;

#define ADP_GROUP         "external.metrics.k8s.io"
#define ADP_VERSION       "v1beta1"
#define ADP_GROUP_VERSION ADP_GROUP "/" ADP_VERSION
#define ADP_SO_LABEL      "scaledobject.keda.sh/name"

/* Matches a decoded path on a listener. Routes not served there are ADP_ROUTE_NONE. */
void adp_route_match(adp_listener_t where, char *path, adp_route_t *ret);
/* Routes that need no authentication (health); discovery needs authentication only. */
bool adp_route_is_public(adp_route_id_t id);
bool adp_route_needs_authz(adp_route_id_t id);
/* Discovery documents (JSON). */
void adp_discovery_write(adp_route_id_t id, adp_sbuf_t *b);

typedef struct adp_health {
    bool table_ok;
    bool watcher_synced; /* latched: seen synced at least once since this adapter started */
    bool supervisor_fresh;
} adp_health_t;

/* Health body and status: "ok" / Kubernetes' "[+]check ok" listing on failure. Returns the
 * HTTP status (200 or 500). */
int adp_health_write(adp_route_id_t id, const adp_health_t *h, bool verbose, adp_sbuf_t *b);

/* ---- values.c ----------------------------------------------------------------------------- */

struct shm_table;

/* The answer of one value request: either a body (200) or an error status and message. */
typedef struct adp_answer {
    int code;
    const char *message; /* code != 200 */
    adp_status_details_t details;
    adp_sbuf_t body; /* code == 200: an ExternalMetricValueList */
} adp_answer_t;

/* Serves GET .../namespaces/{ns}/{metric}?labelSelector=sel from the table: finds the
 * ScaledObject the selector names, the triggers whose metric name equals metric
 * (case-insensitively), their states, and computes the served values (adp_values_compute);
 * stamps each matched trigger's demand. selector may be NULL (absent). */
void adp_values_serve(struct shm_table *t, adp_arena_t *a, const char *ns, const char *metric,
                      const char *selector, uint64_t now_mono_ms, adp_answer_t *ret);

struct shm_so_spec;
struct shm_so_observed;
struct shm_trig_view;

/* KEDA's fallback value of one trigger, in milli-units (keda.md 1.11). obs holds the target's
 * replica counts, NULL when unknown. 0 with *ret_milli when the trigger falls back; -ENOENT
 * when it does not (no fallback configured, not a source failure, threshold not exceeded);
 * -ENODATA when it would but a replica count it needs is unknown or zero ready replicas (KEDA
 * then answers the trigger's error). Pure. */
int adp_fallback_milli(const struct shm_so_spec *so, const struct shm_so_observed *obs,
                       const struct shm_trig_view *v, int64_t *ret_milli);

/* ---- prom.c ------------------------------------------------------------------------------- */

/* One trigger as /metrics shows it. Strings are NUL-terminated, unescaped. */
typedef struct adp_prom_trig {
    const char *ns, *scaled_object, *scaler, *metric; /* scaled_object: or the ScaledJob */
    bool job;                                         /* a ScaledJob's: type "scaledjob" */
    uint32_t trigger_index;
    bool has_value; /* a value for the current configuration: else no value sample */
    double value;
    bool has_latency;
    double latency_s;
    bool has_active; /* false while ckeda has no result (no sample) */
    bool active;
    uint64_t errors_total;
    uint32_t strikes;
    bool quarantined;
    double age_s; /* of the value; only with has_value */
} adp_prom_trig_t;

typedef struct adp_prom_so {
    const char *ns, *name;
    bool job; /* a ScaledJob: keda_scaled_job_errors_total, never paused */
    bool paused;
    uint64_t errors_total; /* sum over its triggers */
} adp_prom_so_t;

typedef struct adp_prom_proc {
    const char *role, *type; /* type: scaler type of a scaleworker, else "" */
    uint32_t shard;
    uint32_t restarts;
    uint64_t seq_retries; /* seqlock read retries of its processes */
} adp_prom_proc_t;

typedef struct adp_prom_build {
    const char *version, *git_commit, *compiler, *os, *arch;
} adp_prom_build_t;

/* ---- the adapter's own counters ------------------------------------------------------------
 * Every adapter counts into the stats of its own process slot in the table (server.c), so a
 * scrape, whichever adapter answers it, sums them over every adapter (prom.c). Slots keep their
 * counts across a restart of their adapter, so the sums only grow. */

#define ADP_STAT_CODES_N   16 /* adp_stat_codes: statuses counted apart; the last is "other" */
#define ADP_STAT_BUCKETS_N 22 /* adp_stat_buckets: upper bounds in seconds */

extern const int adp_stat_codes[ADP_STAT_CODES_N];
extern const double adp_stat_buckets[ADP_STAT_BUCKETS_N];

enum {
    ADP_STAT_CODE0 = 0, /* [ADP_STAT_CODES_N] responses by status */
    /* [ADP_STAT_BUCKETS_N + 1] responses by duration, per bucket (not cumulative); the last
     * counts those above the largest bound */
    ADP_STAT_BUCKET0 = ADP_STAT_CODE0 + ADP_STAT_CODES_N,
    ADP_STAT_DURATION_SUM_US = ADP_STAT_BUCKET0 + ADP_STAT_BUCKETS_N + 1,
    ADP_STAT_AUTHZ_HITS,
    ADP_STAT_AUTHZ_MISSES,
    ADP_STAT_TOKEN_AUTHENTICATED,
    ADP_STAT_TOKEN_UNAUTHENTICATED,
    ADP_STAT_TOKEN_ERROR,
    ADP_STAT_COUNT
};

/* The stats index of a response status and of a duration. */
uint32_t adp_stat_code_index(int code);
uint32_t adp_stat_bucket_index(uint64_t elapsed_us);

typedef struct adp_prom_model {
    adp_prom_build_t build;
    size_t nsos, ntrigs, nprocs;
    adp_prom_so_t *sos;
    adp_prom_trig_t *trigs;
    adp_prom_proc_t *procs;
    uint64_t adapter_stats[ADP_STAT_COUNT]; /* summed over the adapters' slots */
} adp_prom_model_t;

/* Bytes a /metrics request may use (model, body and response): a full default table. */
#define ADP_PROM_ARENA_LIMIT  (128u << 20)
#define ADP_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends s escaped as a label value of the text format (\\, \", \n). */
void adp_prom_label_value(adp_sbuf_t *b, const char *s);
/* The exposition of m (pure). A sample ckeda has no value for is omitted, never NaN. */
void adp_prom_write(adp_sbuf_t *b, const adp_prom_model_t *m);
/* Reads the table into a model allocated in a. 0 or -ENOMEM. */
int adp_prom_collect(const struct shm_table *t, adp_arena_t *a, uint64_t now_mono_ms,
                     adp_prom_model_t *ret);

/* ---- identity (authn.c) ------------------------------------------------------------------- */

typedef struct adp_extra {
    const char *key; /* lower-cased, unescaped */
    const char *value;
} adp_extra_t;

#define ADP_GROUPS_MAX 64
#define ADP_EXTRAS_MAX 64

typedef struct adp_identity {
    const char *user;
    const char *uid; /* may be "" */
    uint32_t ngroups, nextras;
    const char *groups[ADP_GROUPS_MAX];
    adp_extra_t extras[ADP_EXTRAS_MAX];
    const char *via; /* "front-proxy", "client-certificate" or "bearer-token", for logs */
} adp_identity_t;

bool adp_identity_is_master(const adp_identity_t *id);

#endif
