/*
 * k8s_internal: what the files of the k8s module share with each other and with its unit tests;
 * nothing outside common/k8s*.c and tests/unit/test_k8s*.c includes it.
 *
 * Time is CLOCK_MONOTONIC nanoseconds throughout (k8s_now_ns); pure helpers take `now` as an
 * argument so tests can drive them with an injected clock.
 */
#ifndef CKEDA_COMMON_K8S_INTERNAL_H
#define CKEDA_COMMON_K8S_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#include "common/k8s.h"

#define K8S_NS_PER_MS 1000000LL
#define K8S_NS_PER_S  1000000000LL

int64_t k8s_now_ns(void);

/* ---- k8s_ratelimit.c: token bucket, backoff, random numbers ---- */

/* golang.org/x/time/rate semantics, as client-go's tokenBucketRateLimiter: `burst` tokens at
 * most, refilled at `qps` per second; a reservation may drive the count negative, and the
 * caller waits until it would have been non-negative. */
typedef struct k8s_ratelimit {
    double qps;
    double burst;
    double tokens;
    int64_t last_ns;
    bool unlimited;
} k8s_ratelimit_t;

void k8s_ratelimit_init(k8s_ratelimit_t *rl, double qps, int burst, int64_t now_ns);
/* Takes one token; returns how long (ns, >= 0) the caller must wait before sending. */
int64_t k8s_ratelimit_reserve(k8s_ratelimit_t *rl, int64_t now_ns);

/* xorshift64*: jitter and watch timeouts only, never anything secret. */
typedef struct k8s_rng {
    uint64_t s;
} k8s_rng_t;

void k8s_rng_seed(k8s_rng_t *rng);
uint64_t k8s_rng_next(k8s_rng_t *rng);
/* The delay before attempt `step` (0-based) of a reconnect: min(max, min_ms << step), jittered
 * uniformly into [d/2, d] by random. */
int64_t k8s_backoff_ns(unsigned step, uint64_t random);

/* ---- k8s_lines.c: newline-delimited JSON splitter for watch streams ---- */

/* Called with each complete line (without the '\n' or a trailing '\r'); non-zero stops the feed
 * and is returned by k8s_lines_feed. */
typedef int (*k8s_line_fn)(void *userdata, const char *line, size_t len);

typedef struct k8s_lines {
    char *buf; /* a partial line carried over between chunks */
    size_t len;
    size_t cap;
    size_t max; /* longest line accepted */
} k8s_lines_t;

void k8s_lines_init(k8s_lines_t *l, size_t max);
/* Feeds one chunk. Empty lines are skipped. -EMSGSIZE if a line exceeds max, -ENOMEM. */
int k8s_lines_feed(k8s_lines_t *l, const char *data, size_t n, k8s_line_fn fn, void *userdata);
/* Drops a partial line (a new stream starts). */
void k8s_lines_reset(k8s_lines_t *l);
void k8s_lines_done(k8s_lines_t *l);

/* ---- k8s_status.c: errors ---- */

void k8s_error_clear(k8s_error_t *err);
/* Fills err (status, reason, message; not retry_after_s) from an error response:
 * Status.reason and .message if body is a Status, else a printable excerpt of the body. err may
 * be NULL. */
void k8s_status_parse(long status, const char *body, size_t len, k8s_error_t *err);
/* A Status object (a watch ERROR event) into err; returns its code, or 0 if it has none. */
long k8s_status_from_object(const cJSON *status, k8s_error_t *err);
/* Retry-After as seconds: delta-seconds or an HTTP date relative to now. -1 if malformed. */
int k8s_retry_after_parse(const char *value, time_t now);
/* Maps a libcurl failure to -errno and describes it in err. */
int k8s_curl_errno(CURLcode code, const char *detail, k8s_error_t *err);

/* ---- k8s_path.c: URLs ---- */

/* A growing, percent-encoded query string. */
typedef struct k8s_query {
    char *buf;
    size_t len;
    size_t cap;
    int error; /* first failure (-ENOMEM); later adds are no-ops */
} k8s_query_t;

/* Appends key=value (value percent-encoded); value NULL or "" is skipped. */
void k8s_query_add(k8s_query_t *q, const char *key, const char *value);
void k8s_query_add_uint(k8s_query_t *q, const char *key, unsigned long value);
void k8s_query_done(k8s_query_t *q);
/* server + path + ('?' query). Malloc'd, or NULL. */
char *k8s_url_build(const char *server, const char *path, const char *query);
/* "/api/v1" or "/apis/<group>/<version>"; -EINVAL, -ENAMETOOLONG. */
int k8s_gv_path_build(const char *group, const char *version, char *buf, size_t size);
/* True if s may be a path segment (see k8s_path_build). */
bool k8s_segment_valid(const char *s);

/* ---- k8s_client.c: close-on-exec for libcurl's own descriptors ---- */

/* libcurl creates its wakeup pipes (one per multi handle, including the one behind
 * curl_easy_perform) without O_CLOEXEC. Callers snapshot the open descriptors below
 * K8S_FD_TRACK_MAX before a call that may create them and mark the new ones afterwards.
 * Sockets are opened close-on-exec through CURLOPT_OPENSOCKETFUNCTION instead. */
#define K8S_FD_TRACK_MAX 1024

typedef struct k8s_fdset {
    uint64_t bits[K8S_FD_TRACK_MAX / 64];
} k8s_fdset_t;

void k8s_fds_snapshot(k8s_fdset_t *set);
void k8s_fds_cloexec_new(const k8s_fdset_t *before);

/* ---- k8s_client.c: one HTTP exchange ---- */

typedef struct k8s_xfer {
    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    char *body; /* the response body, NUL-terminated (non-streaming, or a failed watch) */
    size_t len;
    size_t cap;
    size_t max;
    bool overflow;  /* the body passed max: the transfer was aborted */
    bool sensitive; /* K8S_REQ_SENSITIVE: the request body is not copied */
    int retry_after_s;
    /* Streaming: once a 200 arrives, bytes go to `lines` and on_line instead of body. */
    k8s_lines_t *lines;
    k8s_line_fn on_line;
    void *line_userdata;
    int line_error; /* what stopped the stream from our side (on_line's or the splitter's) */
} k8s_xfer_t;

typedef struct k8s_disco_entry k8s_disco_entry_t;

/* Finds kind in an APIResourceList document (k8s_discovery.c). -ENOENT if absent; fills
 * resource, namespaced and has_scale only. */
int k8s_discovery_find(const cJSON *doc, const char *kind, k8s_resolved_t *ret);

struct k8s_client {
    kubeconfig_t *config;
    k8s_xfer_t sync; /* the synchronous requests' handle, kept for connection reuse */
    bool sync_used;  /* its hidden multi handle (and wakeup pipe) exists */
    k8s_ratelimit_t rl;
    long timeout_ms;
    size_t max_response;
    int max_retries;
    char *user_agent;
    k8s_disco_entry_t *disco; /* k8s_discovery.c's cache */
};

/* Prepares x (creating its handle if needed) for one request: TLS and credentials from the
 * kubeconfig, a fresh bearer token, method, URL, body (copied by libcurl), timeouts.
 * timeout_ms 0 means none (a watch). */
int k8s_xfer_prepare(k8s_client_t *c, k8s_xfer_t *x, k8s_method_t method, const char *url,
                     const char *body, size_t body_len, long timeout_ms, k8s_error_t *err);
/* Frees the handle and buffers. */
void k8s_xfer_done(k8s_xfer_t *x);
/* After a transfer: 0 for a 2xx, else -errno with err filled (status, Status, Retry-After). */
int k8s_xfer_status(k8s_xfer_t *x, CURLcode code, long *ret_http, k8s_error_t *err);
/* Parses the body of a 2xx into *ret_obj (if ret_obj is not NULL). */
int k8s_xfer_json(k8s_xfer_t *x, cJSON **ret_obj, k8s_error_t *err);

/* ---- k8s_store.c: what an informer has delivered, to diff a relist against ---- */

typedef struct k8s_store_entry {
    struct k8s_store_entry *next;
    uint32_t gen; /* the list generation that last saw it */
    char uid[64];
    char rv[64]; /* "" when too long to keep: then always treated as changed */
    char key[];  /* "<namespace>/<name>" ("/<name>" when cluster-scoped) */
} k8s_store_entry_t;

typedef struct k8s_store {
    k8s_store_entry_t **buckets;
    size_t nbuckets; /* a power of two, or 0 before the first insert */
    size_t count;
    uint64_t k0, k1; /* SipHash key: names are user-chosen, so buckets must not be */
} k8s_store_t;

/* SipHash-2-4 of len bytes under the key (k0, k1). */
uint64_t k8s_siphash(uint64_t k0, uint64_t k1, const unsigned char *in, size_t len);

void k8s_store_init(k8s_store_t *s);
void k8s_store_done(k8s_store_t *s);
k8s_store_entry_t *k8s_store_find(const k8s_store_t *s, const char *key);
/* Inserts or returns the existing entry for key. NULL on allocation failure. */
k8s_store_entry_t *k8s_store_upsert(k8s_store_t *s, const char *key);
void k8s_store_remove(k8s_store_t *s, const char *key);
/* Calls fn for each entry whose gen differs from gen, then removes it. */
void k8s_store_sweep(k8s_store_t *s, uint32_t gen, void (*fn)(k8s_store_entry_t *e, void *ud),
                     void *ud);
void k8s_store_entry_set(k8s_store_entry_t *e, const char *uid, const char *rv);

/* ---- k8s_loop.c / k8s_informer.c ---- */

typedef enum {
    K8S_INF_IDLE,     /* waiting until next_ns for its next request */
    K8S_INF_LISTING,  /* a list page is in flight */
    K8S_INF_WATCHING, /* a watch is streaming */
} k8s_inf_state_t;

typedef enum {
    K8S_LIST_RV_ANY,        /* "0": any version, served from the watch cache (first list) */
    K8S_LIST_RV_CONSISTENT, /* "": a consistent read (after 410 Gone) */
    K8S_LIST_RV_LAST,       /* the last synced version (after other errors) */
} k8s_list_rv_t;

struct k8s_informer {
    k8s_loop_t *loop;
    k8s_informer_t *next; /* the loop's list */
    k8s_gvr_t gvr;        /* strings owned by the informer */
    char *ns, *label_selector, *field_selector;
    unsigned page_limit;
    k8s_informer_ops_t ops;
    void *userdata;

    k8s_inf_state_t state;
    bool want_list;        /* the next request is a list (else a watch) */
    bool reserved;         /* a rate-limit token is already taken for the next request */
    bool dead;             /* freed from a callback: reaped by the loop */
    bool synced;           /* a list has completed */
    bool relist_requested; /* k8s_informer_relist: acted on by the loop */
    bool abort_relist;     /* an event asked to relist: the stream was cut on purpose */
    bool abort_gone;       /* ... because of 410 Gone / Expired */
    int64_t next_ns;       /* K8S_INF_IDLE: when to send */
    unsigned backoff_step;
    k8s_list_rv_t list_rv;
    char rv[64];          /* resume point */
    char *continue_token; /* the next page's, while listing */
    uint32_t list_gen;
    char list_rv_buf[64]; /* the version of the list in progress, adopted when it completes */
    k8s_store_t store;
    int64_t watch_start_ns;
    uint64_t watch_events;
    k8s_xfer_t xfer;
    k8s_lines_t lines;
    k8s_informer_stats_t stats;
};

struct k8s_loop {
    k8s_client_t *client;
    CURLM *multi;
    k8s_informer_t *informers;
    k8s_rng_t rng;
    bool dispatching; /* inside curl_multi_perform or page processing: defer frees */
};

/* Informer steps used by the loop (and by unit tests with recorded responses). */
/* The URL and timeout of the informer's next request (a list page or a watch). */
int k8s_informer_url(k8s_informer_t *inf, char **ret_url, long *ret_timeout_ms);
int k8s_informer_start(k8s_informer_t *inf, int64_t now);
void k8s_informer_finish(k8s_informer_t *inf, CURLcode code, int64_t now);
int k8s_informer_list_page(k8s_informer_t *inf, cJSON *list, bool *ret_more);
int k8s_informer_watch_line(void *userdata, const char *line, size_t len);
void k8s_informer_destroy(k8s_informer_t *inf);
/* Counts a failure and reports it through on_error (debug log without one). */
void k8s_informer_fail(k8s_informer_t *inf, int err, const k8s_error_t *detail);

#endif
