/*
 * adp_internal: private declarations of the adapter role (`ckeda --role=adapter`).
 *
 * Layers, bottom up (each file says more):
 *   arena.c      per-request memory: one arena per request, freed when the request ends
 *   quantity.c   metric value -> canonical Kubernetes Quantity string
 *   selector.c   Kubernetes label-selector parser (untrusted input, fuzzed)
 *   http.c       HTTP/1.1 request-head parser and query/percent decoding (untrusted, fuzzed)
 *   status.c     JSON writing: escaped strings, metav1.Status bodies
 *   routes.c     route matching, discovery documents, health checks
 *   values.c     ExternalMetricValueList from the table
 *   prom.c       GET /metrics: Prometheus text from the table (KEDA's families, ckeda_*)
 *   tls.c        server TLS context (cert dir or self-signed), peer-certificate verification
 *   authn.c      who is asking: front-proxy headers or client certificate
 *   authz.c      SubjectAccessReview decisions, cached, deduplicated, capped
 *   kube.c       the threads that talk to the API server (auth ConfigMap, reviews)
 *   conn.c       one connection: TLS, read, parse, dispatch, write, keep-alive
 *   server.c     the event loop: listeners, timers, wake-ups
 *   adapter.c    adp_main
 *
 * Only server.c, conn.c and kube.c do I/O; the parsers and formatters are pure functions so
 * they can be unit-tested and fuzzed without sockets. Fuzz harnesses include the .c files of
 * the pure layers directly (they do not link the role library).
 */
#ifndef CKEDA_ADAPTER_ADP_INTERNAL_H
#define CKEDA_ADAPTER_ADP_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- arena.c ------------------------------------------------------------------------------ */

typedef struct adp_arena_chunk adp_arena_chunk_t;

/* A bump allocator. Everything a request allocates comes from its connection's arena, which is
 * reset when the response has been written: no per-object frees, no leaks across requests. */
typedef struct adp_arena {
    adp_arena_chunk_t *head;
    size_t total; /* bytes allocated in chunks */
    size_t limit; /* 0: ADP_ARENA_LIMIT */
} adp_arena_t;

#define ADP_ARENA_CHUNK 8192
#define ADP_ARENA_LIMIT (4u << 20) /* one request never needs more */

/* NULL when the limit is reached or memory runs out. n == 0 returns a valid pointer. */
void *adp_arena_alloc(adp_arena_t *a, size_t n);
char *adp_arena_strndup(adp_arena_t *a, const char *s, size_t n);
char *adp_arena_strdup(adp_arena_t *a, const char *s);
char *adp_arena_printf(adp_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees every chunk but the first, which is kept (rewound) for the next request. */
void adp_arena_reset(adp_arena_t *a);
void adp_arena_free(adp_arena_t *a);

/* A growing byte buffer inside an arena; `failed` sticks once an append could not allocate. */
typedef struct adp_sbuf {
    adp_arena_t *arena;
    char *p;
    size_t len, cap;
    bool failed;
} adp_sbuf_t;

void adp_sbuf_init(adp_sbuf_t *b, adp_arena_t *a);
void adp_sbuf_append(adp_sbuf_t *b, const char *s, size_t n);
void adp_sbuf_puts(adp_sbuf_t *b, const char *s);
void adp_sbuf_printf(adp_sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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

typedef struct adp_slice {
    const char *p;
    size_t n;
} adp_slice_t;

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

/* ---- http.c ------------------------------------------------------------------------------- */

#define ADP_HTTP_HEAD_MAX    16384 /* request line + headers */
#define ADP_HTTP_LINE_MAX    8192  /* request line alone */
#define ADP_HTTP_HEADERS_MAX 100

typedef enum { ADP_HTTP_GET, ADP_HTTP_HEAD, ADP_HTTP_OTHER } adp_http_method_t;

typedef struct adp_http_header {
    adp_slice_t name, value; /* value without surrounding whitespace */
} adp_http_header_t;

/* A parsed request head. Slices point into the caller's buffer. */
typedef struct adp_http_req {
    adp_http_method_t method;
    adp_slice_t method_name;
    adp_slice_t target; /* origin-form: path[?query] */
    int minor;          /* HTTP/1.<minor> */
    bool keep_alive;
    bool chunked; /* Transfer-Encoding present */
    uint64_t content_length;
    size_t head_len; /* bytes of the head, terminator included */
    uint32_t nheaders;
    adp_http_header_t headers[ADP_HTTP_HEADERS_MAX];
} adp_http_req_t;

/* Incremental parse of the head at the start of buf[0..len). *scan carries the position up to
 * which an earlier call found no end of head (start it at 0; it only grows), so feeding the
 * bytes in pieces costs O(total). Returns 0 with *ret filled when the head is complete,
 * -EAGAIN when more bytes are needed, or -EPROTO with *ret_status set to the HTTP status to
 * answer (400, 414, 431, 501, 505) and the connection must close. Never reads past len. */
int adp_http_parse(const char *buf, size_t len, size_t *scan, adp_http_req_t *ret, int *ret_status);
/* The first header named name (case-insensitive) after index *pos (start at 0); advances
 * *pos. NULL when there is no further one. */
const adp_http_header_t *adp_http_header_next(const adp_http_req_t *req, const char *name,
                                              uint32_t *pos);
bool adp_slice_eq(adp_slice_t s, const char *lit);
bool adp_slice_caseeq(adp_slice_t s, const char *lit);
/* Percent-decodes s (and '+' as a space when plus_space) into a NUL-terminated arena string.
 * -EINVAL on a bad escape or an encoded NUL; -ENOMEM. */
int adp_http_unescape(adp_arena_t *a, adp_slice_t s, bool plus_space, char **ret);
/* Splits target into path and query. */
void adp_http_target_split(adp_slice_t target, adp_slice_t *ret_path, adp_slice_t *ret_query);
/* The first value of query parameter name, decoded. -ENOENT if absent, -EINVAL if malformed. */
int adp_http_query_get(adp_arena_t *a, adp_slice_t query, const char *name, char **ret);

/* ---- status.c ----------------------------------------------------------------------------- */

/* Appends s as a JSON string literal (quotes included), escaping as encoding/json does. */
void adp_json_string(adp_sbuf_t *b, const char *s);
/* metav1.Status reason for an HTTP status ("NotFound", ...; "" when Kubernetes has none). */
const char *adp_status_reason(int code);
const char *adp_http_reason_phrase(int code);

typedef struct adp_status_details {
    const char *name, *group, *kind; /* each may be NULL */
} adp_status_details_t;

/* A metav1.Status body (status Failure) for code with message. */
void adp_status_json(adp_sbuf_t *b, int code, const char *message,
                     const adp_status_details_t *details);

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
    const char *ns, *scaled_object, *scaler, *metric;
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
    bool paused;
    uint64_t errors_total; /* sum over its triggers */
} adp_prom_so_t;

typedef struct adp_prom_proc {
    const char *role, *type; /* type: scaler type of a scaleworker, else "" */
    uint32_t shard;
    uint32_t restarts;
} adp_prom_proc_t;

typedef struct adp_prom_build {
    const char *version, *git_commit, *compiler, *os, *arch;
} adp_prom_build_t;

typedef struct adp_prom_model {
    adp_prom_build_t build;
    size_t nsos, ntrigs, nprocs;
    adp_prom_so_t *sos;
    adp_prom_trig_t *trigs;
    adp_prom_proc_t *procs;
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
    const char *via; /* "front-proxy" or "client-certificate", for logs */
} adp_identity_t;

bool adp_identity_is_master(const adp_identity_t *id);

#endif
