/*
 * k8s: the Kubernetes API client of every role that talks to the API server.
 *
 * - Synchronous requests (GET, LIST with pagination, CREATE, UPDATE, PATCH, DELETE, the /scale
 *   and /status subresources) over one reused connection per client. The watcher writes; the
 *   scale workers and the adapter only read (Secrets, ConfigMaps, reviews).
 * - Informers (list, then watch with bookmarks, resume and relist) driven by one curl-multi
 *   event loop that the caller owns and runs (k8s_loop_run_once), alongside its own fds.
 * - Discovery for resolving a scaleTargetRef's apiVersion and kind to a resource, cached.
 *
 * Every request passes a client-side token bucket (KEDA's --kube-api-qps 20 / --kube-api-burst
 * 30) unless it is flagged K8S_REQ_NO_RATE_LIMIT (Lease renewals must never queue behind it).
 * A 429 or 503 with Retry-After is retried after that delay.
 *
 * Threads: a client, its loop and its informers belong to one thread. The library never logs
 * above debug; failures come back as -errno plus a k8s_error_t for the caller to log once.
 *
 * Errors (the mapping is stable; callers branch on it):
 *   -ENOENT 404 NotFound           -EEXIST 409 AlreadyExists     -ESTALE 409 Conflict
 *   -EACCES 401 and 403            -ENODATA 410 Gone/Expired     -EINVAL 400 and 422
 *   -EOPNOTSUPP 405, 406, 415      -E2BIG 413                    -EAGAIN 429 and 503
 *   -ETIMEDOUT 504 or a timeout    -EIO other statuses           -EMSGSIZE response too large
 *   -EBADMSG malformed JSON        -ECONNREFUSED, -EHOSTUNREACH, -ECONNRESET, -EPROTO:
 *                                  transport and TLS (no HTTP status)
 * The HTTP status, Status.reason and Status.message are in the k8s_error_t. The message comes
 * from the server and may quote the request: pass it through redaction before storing it.
 *
 * Every descriptor the client or a loop opens (libcurl's sockets and wakeup pipes included) is
 * close-on-exec.
 */
#ifndef CKEDA_COMMON_K8S_H
#define CKEDA_COMMON_K8S_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/kubeconfig.h"

#define K8S_DEFAULT_QPS          20.0
#define K8S_DEFAULT_BURST        30
#define K8S_DEFAULT_TIMEOUT_MS   30000L
#define K8S_DEFAULT_MAX_RESPONSE (128u << 20) /* one response body, decompressed */
#define K8S_DEFAULT_MAX_RETRIES  3            /* Retry-After retries per request */
#define K8S_RETRY_AFTER_MAX_S    10           /* a longer Retry-After is shortened to this */
#define K8S_WATCH_LINE_MAX       (16u << 20)  /* one watch event */
#define K8S_PAGE_LIMIT           500
#define K8S_WATCH_TIMEOUT_MIN_S  300 /* timeoutSeconds is random in [min, 2 x min) */
#define K8S_BACKOFF_MIN_MS       1000
#define K8S_BACKOFF_MAX_MS       30000

/* A resource type. group "" (or NULL) is the core group, served under /api. */
typedef struct k8s_gvr {
    const char *group;
    const char *version;
    const char *resource; /* plural, lower case */
} k8s_gvr_t;

/* Initialisers for the types ckeda uses: k8s_ref_t ref = {K8S_GVR_DEPLOYMENTS, ns, name}; */
#define K8S_GVR_CONFIGMAPS                                                                         \
    {                                                                                              \
        "", "v1", "configmaps"                                                                     \
    }
#define K8S_GVR_SECRETS                                                                            \
    {                                                                                              \
        "", "v1", "secrets"                                                                        \
    }
#define K8S_GVR_EVENTS                                                                             \
    {                                                                                              \
        "", "v1", "events"                                                                         \
    }
#define K8S_GVR_PODS                                                                               \
    {                                                                                              \
        "", "v1", "pods"                                                                           \
    }
#define K8S_GVR_DEPLOYMENTS                                                                        \
    {                                                                                              \
        "apps", "v1", "deployments"                                                                \
    }
#define K8S_GVR_STATEFULSETS                                                                       \
    {                                                                                              \
        "apps", "v1", "statefulsets"                                                               \
    }
#define K8S_GVR_JOBS                                                                               \
    {                                                                                              \
        "batch", "v1", "jobs"                                                                      \
    }
#define K8S_GVR_HPAS                                                                               \
    {                                                                                              \
        "autoscaling", "v2", "horizontalpodautoscalers"                                            \
    }
#define K8S_GVR_LEASES                                                                             \
    {                                                                                              \
        "coordination.k8s.io", "v1", "leases"                                                      \
    }
#define K8S_GVR_SCALEDOBJECTS                                                                      \
    {                                                                                              \
        "keda.sh", "v1alpha1", "scaledobjects"                                                     \
    }
#define K8S_GVR_SCALEDJOBS                                                                         \
    {                                                                                              \
        "keda.sh", "v1alpha1", "scaledjobs"                                                        \
    }
#define K8S_GVR_TRIGGERAUTHS                                                                       \
    {                                                                                              \
        "keda.sh", "v1alpha1", "triggerauthentications"                                            \
    }
#define K8S_GVR_CLUSTERTRIGGERAUTHS                                                                \
    {                                                                                              \
        "keda.sh", "v1alpha1", "clustertriggerauthentications"                                     \
    }

/* One object, one collection (name NULL) or a subresource ("scale", "status"). ns NULL or ""
 * is cluster-scoped, or for a collection every namespace. */
typedef struct k8s_ref {
    k8s_gvr_t gvr;
    const char *ns;
    const char *name;
    const char *subresource;
} k8s_ref_t;

typedef struct k8s_error {
    long status;       /* HTTP status; 0 if there was no response */
    char reason[64];   /* Status.reason: "NotFound", "AlreadyExists", "Conflict", "Expired"... */
    char message[512]; /* Status.message, or what went wrong below HTTP; never a credential */
    int retry_after_s; /* the response's Retry-After, -1 if none */
} k8s_error_t;

/* Maps an HTTP status (and Status.reason, which splits 409) to the -errno listed above. */
int k8s_status_errno(long status, const char *reason);

typedef struct k8s_client k8s_client_t;

typedef struct k8s_client_opts {
    double qps;             /* 0: K8S_DEFAULT_QPS; negative: no rate limit */
    int burst;              /* 0: K8S_DEFAULT_BURST */
    long timeout_ms;        /* one synchronous request; 0: K8S_DEFAULT_TIMEOUT_MS */
    size_t max_response;    /* 0: K8S_DEFAULT_MAX_RESPONSE */
    int max_retries;        /* 0: K8S_DEFAULT_MAX_RETRIES; negative: none */
    const char *user_agent; /* NULL: "ckeda/<version>" */
} k8s_client_opts_t;

/* config is borrowed: it must outlive the client (the client refreshes its token cache).
 * opts may be NULL. Returns NULL if libcurl cannot be initialised or memory runs out. */
k8s_client_t *k8s_client_new(kubeconfig_t *config, const k8s_client_opts_t *opts);
/* Frees a client whose loops are freed. Accepts NULL; returns NULL. */
k8s_client_t *k8s_client_free(k8s_client_t *client);
/* The kubeconfig's namespace ("default" if unset). */
const char *k8s_client_namespace(const k8s_client_t *client);

typedef enum {
    K8S_GET,
    K8S_POST,
    K8S_PUT,
    K8S_PATCH_MERGE, /* application/merge-patch+json: works for built-ins and CRDs alike */
    K8S_PATCH_JSON,  /* application/json-patch+json */
    K8S_DELETE,
} k8s_method_t;

enum {
    K8S_REQ_NO_RATE_LIMIT = 1u << 0, /* skip the token bucket (Lease renewals) */
    K8S_REQ_NO_RETRY = 1u << 1,      /* do not wait out a Retry-After */
    /* The body or its answer holds a credential (a TokenReview): libcurl sends the caller's
     * body without copying it, and the response buffer is zeroed after the call. */
    K8S_REQ_SENSITIVE = 1u << 2,
};

typedef struct k8s_request {
    k8s_method_t method;
    const k8s_ref_t *ref; /* or: */
    const char *path;     /* a raw path such as "/version" or "/apis/apps/v1" */
    const char *query;    /* already encoded, without '?'; NULL for none */
    const char *body;     /* JSON; NULL for none */
    size_t body_len;
    unsigned flags;
    long timeout_ms; /* 0: the client's */
} k8s_request_t;

/* The general form behind every call below. On a 2xx *ret_obj (if ret_obj is not NULL) is the
 * parsed body, owned by the caller; err (may be NULL) is filled on failure. */
int k8s_request(k8s_client_t *client, const k8s_request_t *req, cJSON **ret_obj, k8s_error_t *err);

int k8s_get(k8s_client_t *client, const k8s_ref_t *ref, cJSON **ret_obj, k8s_error_t *err);
/* GET of a raw path (discovery, /version). */
int k8s_get_path(k8s_client_t *client, const char *path, cJSON **ret_obj, k8s_error_t *err);
/* POST obj to the collection ref (ref->name NULL), or to a subresource that creates
 * (serviceaccounts/<name>/token). */
int k8s_create(k8s_client_t *client, const k8s_ref_t *ref, const cJSON *obj, cJSON **ret_obj,
               k8s_error_t *err);
/* PUT obj; with metadata.resourceVersion set, a concurrent change is -ESTALE. */
int k8s_update(k8s_client_t *client, const k8s_ref_t *ref, const cJSON *obj, cJSON **ret_obj,
               k8s_error_t *err);
/* method is K8S_PATCH_MERGE or K8S_PATCH_JSON; patch is the JSON text. */
int k8s_patch(k8s_client_t *client, const k8s_ref_t *ref, k8s_method_t method, const char *patch,
              cJSON **ret_obj, k8s_error_t *err);
/* options: a DeleteOptions object (preconditions, propagationPolicy) or NULL. */
int k8s_delete(k8s_client_t *client, const k8s_ref_t *ref, const cJSON *options, k8s_error_t *err);

typedef struct k8s_list_opts {
    const char *label_selector;
    const char *field_selector;
    /* First page only. NULL: most recent (a consistent read); "0": any (the watch cache).
     * Beware: another version together with a limit asks for exactly that snapshot. */
    const char *resource_version;
    const char *continue_token; /* from the previous page's metadata.continue */
    unsigned limit;             /* 0: K8S_PAGE_LIMIT */
} k8s_list_opts_t;

/* One page of the collection ref: a *List object owned by the caller. */
int k8s_list(k8s_client_t *client, const k8s_ref_t *ref, const k8s_list_opts_t *opts,
             cJSON **ret_list, k8s_error_t *err);

/* Called once per item; item belongs to the list and is freed after the call. A non-zero return
 * stops the listing and is returned by k8s_list_all. */
typedef int (*k8s_item_fn)(cJSON *item, void *userdata);

/* Every page of the collection, item by item. ret_rv (may be NULL) receives the list's
 * resourceVersion, at most size bytes. A continue token that expires midway (410) restarts the
 * listing from the beginning with a consistent read, so an item may be seen twice. */
int k8s_list_all(k8s_client_t *client, const k8s_ref_t *ref, const k8s_list_opts_t *opts,
                 k8s_item_fn fn, void *userdata, char *ret_rv, size_t size, k8s_error_t *err);

/* Builds "/apis/<g>/<v>[/namespaces/<ns>]/<resource>[/<name>[/<sub>]]" (or /api/v1/...) into buf.
 * -EINVAL if a segment is empty, "." or "..", or holds a byte a name cannot hold (such as '/',
 * '?', '%' or a space); -ENAMETOOLONG if buf is too small. */
int k8s_path_build(const k8s_ref_t *ref, char *buf, size_t size);

/* ---- API discovery: scaleTargetRef -> resource ---- */

typedef struct k8s_resolved {
    char group[254];
    char version[64];
    char resource[254]; /* plural */
    bool namespaced;
    bool has_scale; /* "<resource>/scale" with get, and update or patch */
} k8s_resolved_t;

/* Resolves apiVersion and kind as KEDA does (empty apiVersion: apps/v1; empty kind:
 * Deployment) from GET /api/v1 or /apis/<group>/<version>, cached per group/version for 10
 * minutes. A kind missing from a cached document older than 30 s refetches it once (a CRD just
 * installed). -ENOENT if the group/version or the kind is not served. */
int k8s_discovery_resolve(k8s_client_t *client, const char *api_version, const char *kind,
                          k8s_resolved_t *ret_resolved, k8s_error_t *err);
/* Drops the discovery cache (e.g. after a CRD change). */
void k8s_discovery_invalidate(k8s_client_t *client);

/* ---- Informers on an event loop ---- */

typedef struct k8s_loop k8s_loop_t;
typedef struct k8s_informer k8s_informer_t;

/* A loop of client's informers. client is borrowed and must outlive the loop. */
k8s_loop_t *k8s_loop_new(k8s_client_t *client);
/* Frees the loop and every informer on it. Not from inside a callback. NULL-safe; returns NULL. */
k8s_loop_t *k8s_loop_free(k8s_loop_t *loop);

/* Runs one turn: waits up to timeout_ms (or less, for the loop's own deadlines) for the loop's
 * sockets or any of the caller's extra fds (revents are filled in, as poll(2) does), then moves
 * every transfer on and runs the informer callbacks. Returns early when an extra fd is ready or
 * k8s_loop_wakeup was called. 0, or -errno if the loop itself failed. At most 16 extra fds. */
int k8s_loop_run_once(k8s_loop_t *loop, struct pollfd *extra, unsigned n_extra, int timeout_ms);

/* Makes a k8s_loop_run_once that is waiting (or the next one) return at once. Safe from another
 * thread, not from a signal handler (ring an eventfd passed as an extra fd instead). */
int k8s_loop_wakeup(k8s_loop_t *loop);

typedef enum {
    K8S_EVENT_ADDED,    /* new to the caller (the server's ADDED, or first sight on a relist) */
    K8S_EVENT_MODIFIED, /* changed since the caller last saw it */
    K8S_EVENT_DELETED,  /* the last state; see final_state_unknown */
} k8s_event_type_t;

typedef struct k8s_informer_ops {
    /* Optional: trims obj in place to what the caller keeps (see jsonu_prune); runs before
     * on_event. metadata.managedFields has already been dropped. */
    void (*strip)(cJSON *obj, void *userdata);
    /* obj belongs to the informer and is freed after the call; the callback may detach parts of
     * it to keep them. final_state_unknown: the object vanished while the watch was down and a
     * relist noticed; obj then holds only metadata name, namespace, uid and resourceVersion. */
    void (*on_event)(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj,
                     bool final_state_unknown, void *userdata);
    /* After each complete list (the caller's view now matches the server's). */
    void (*on_synced)(k8s_informer_t *inf, void *userdata);
    /* Each failure, before the informer backs off or relists, for the caller to log or count.
     * Optional. */
    void (*on_error)(k8s_informer_t *inf, int err, const k8s_error_t *detail, void *userdata);
} k8s_informer_ops_t;

typedef struct k8s_informer_opts {
    k8s_gvr_t gvr;
    const char *ns; /* NULL or "": every namespace */
    const char *label_selector;
    const char *field_selector;
    unsigned page_limit; /* 0: K8S_PAGE_LIMIT */
    k8s_informer_ops_t ops;
    void *userdata;
} k8s_informer_opts_t;

/* Creates an informer that starts listing on the next k8s_loop_run_once. Strings are copied.
 * May be called from a callback. NULL on allocation failure or an invalid gvr/namespace. */
k8s_informer_t *k8s_informer_new(k8s_loop_t *loop, const k8s_informer_opts_t *opts);
/* Stops and frees it; from inside a callback the free happens when the loop regains control,
 * and no further callback runs. Accepts NULL; returns NULL. */
k8s_informer_t *k8s_informer_free(k8s_informer_t *inf);

/* True once the first list completed. */
bool k8s_informer_synced(const k8s_informer_t *inf);
/* The resourceVersion the next watch resumes from ("" before the first list). */
const char *k8s_informer_resource_version(const k8s_informer_t *inf);
/* Drops the watch and lists afresh on the next turn (a periodic full resync). */
void k8s_informer_relist(k8s_informer_t *inf);

typedef struct k8s_informer_stats {
    uint64_t lists;        /* complete lists */
    uint64_t watches;      /* watch requests started */
    uint64_t events;       /* callbacks delivered */
    uint64_t relists_gone; /* relists forced by 410 Gone / Expired */
    uint64_t errors;       /* failures reported through on_error */
    int64_t last_list_ns;  /* CLOCK_MONOTONIC of the last complete list, 0 if none */
} k8s_informer_stats_t;

void k8s_informer_stats(const k8s_informer_t *inf, k8s_informer_stats_t *ret_stats);

#endif
