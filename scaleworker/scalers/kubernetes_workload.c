/*
 * kubernetes_workload: the `kubernetes-workload` scaler, as KEDA's
 * kubernetes_workload_scaler.go. Runs in the kubernetes-workload scale workers.
 *
 * Parameters (KEDA's kubernetesWorkloadMetadata, from the trigger metadata only): `podSelector`
 * (required, a label selector), `value` (the target, a float > 0), `activationValue` (0) and
 * `groupByNode` (false). The value is the number of pods in the ScaledObject's namespace that
 * match the selector and whose phase is neither Succeeded nor Failed (KEDA's
 * phasesCountedAsTerminated; a pod being deleted still counts, as in KEDA), or with groupByNode
 * the number of distinct non-empty spec.nodeName among those pods. The metric is
 * `s<index>-workload-<namespace>`, which the watcher cannot name from the metadata alone (its
 * spec function has no namespace): the worker publishes it with every result (sw_poll_spec).
 *
 * A poll lists the pods through the worker's non-blocking HTTP client (http.h) against the API
 * server of ckeda's own credentials (the kubeconfig or context of its flags, else KUBECONFIG,
 * the in-cluster service account, ~/.kube/config: kubeconfig_load_default), with a client
 * certificate or a bearer token (re-read on rotation, and at once after a 401). The request is
 * GET /api/v1/namespaces/<ns>/pods?labelSelector=<podSelector>&fieldSelector=status.phase!=
 * Succeeded,status.phase!=Failed&limit=N, page by page (`continue`); the API server applies
 * KEDA's phase rule itself, so only metadata is needed (Accept PartialObjectMetadataList, which
 * the server may ignore: a full PodList is counted with the same rule). groupByNode needs
 * spec.nodeName, so it lists whole pods (with spec.nodeName!= added to the field selector). An
 * expired continue token (410) lists once more from the start; a page over the HTTP client's
 * body bound is asked for again with half the limit. The connection is kept between polls,
 * one per trigger; the kubeconfig is loaded once per process, on the first poll, and shared.
 *
 * Where ckeda differs, on purpose: the selector is parsed by the API server (labels.Parse, as
 * KEDA's own parse) when a poll sends it, so a malformed one fails each poll (the server's
 * message) instead of the scaler's creation; KEDA counts from its informer cache, ckeda from a
 * list at each poll; a kubeconfig proxy-url is refused (HTTPS_PROXY and NO_PROXY apply); the
 * certificate authority of the kubeconfig is trusted besides the system's and --ca-dir's.
 *
 * Secrets: the token and the client key live only in this process's memory and are wiped when
 * freed; error texts name the request as "GET https://host:port/path", never its headers.
 */
#include "scaleworker/scalers/kubernetes_workload.h"

#include "common/kubeconfig.h"
#include "common/scaler_spec.h"
#include "scaleworker/scalers/httpcfg.h"
/* The worker's configuration (its --kubeconfig and --context) is reached through the trigger,
 * which belongs to the worker process this scaler runs in. */
#include "scaleworker/sw_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KW_ERR_MAX    1024
#define KW_PEM_MAX    (1u << 20) /* a certificate or key file */
#define KW_MSG_MAX    512        /* of a Status message quoted in an error */
#define KW_BACKOFF_MS 5000       /* after the kubeconfig failed to load */
#define KW_ACCEPT_META                                                                             \
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"

/* ---- configuration ------------------------------------------------------------------------- */

void sw_kw_cfg_free(sw_kw_cfg_t *c)
{
    free(c->pod_selector);
    memset(c, 0, sizeof *c);
}

int sw_kw_cfg_parse(const sw_params_t *p, sw_kw_cfg_t *ret, char *err, size_t errlen)
{
    sw_kw_cfg_t c = {0};
    int r;

    /* the fields in the order of KEDA's struct, then its Validate */
    if ((r = sw_cfg_str(p, "podSelector", sw_order_meta, true, &c.pod_selector, err, errlen)) < 0 ||
        (r = sw_cfg_float(p, "value", false, &c.value, err, errlen)) < 0 ||
        (r = sw_cfg_float(p, "activationValue", false, &c.activation_value, err, errlen)) < 0 ||
        (r = sw_cfg_bool(p, "groupByNode", &c.group_by_node, err, errlen)) < 0) {
        if (r == -ENOMEM)
            snprintf(err, errlen, "out of memory");
        sw_kw_cfg_free(&c);
        return r;
    }
    if (!(c.value > 0)) {
        snprintf(err, errlen, "metadata.value: value must be a float greater than 0");
        sw_kw_cfg_free(&c);
        return -EINVAL;
    }
    *ret = c;
    return 0;
}

int sw_kw_metric_name(uint32_t index, const char *ns, char *buf, size_t cap)
{
    char part[SHM_METRIC_MAX];

    if (snprintf(part, sizeof part, "workload-%s", ns) >= (int)sizeof part)
        return -ENAMETOOLONG;
    scaler_normalize(part);
    return scaler_metric_name(index, part, buf, cap);
}

/* ---- the request --------------------------------------------------------------------------- */

char *sw_kw_list_target(const sw_kw_cfg_t *c, const char *ns, unsigned limit, const char *cont)
{
    static const char phases[] = "status.phase!=Succeeded,status.phase!=Failed";
    static const char scheduled[] = ",spec.nodeName!=";
    sw_buf_t b = {0};
    int r;

    r = sw_buf_addf(&b, "/api/v1/namespaces/%s/pods?labelSelector=", ns);
    if (r == 0)
        r = sw_buf_query_escape(&b, c->pod_selector, strlen(c->pod_selector));
    if (r == 0)
        r = sw_buf_add(&b, "&fieldSelector=", strlen("&fieldSelector="));
    if (r == 0)
        r = sw_buf_query_escape(&b, phases, strlen(phases));
    if (r == 0 && c->group_by_node)
        r = sw_buf_query_escape(&b, scheduled, strlen(scheduled));
    if (r == 0)
        r = sw_buf_addf(&b, "&limit=%u", limit);
    if (r == 0 && cont && (r = sw_buf_add(&b, "&continue=", strlen("&continue="))) == 0)
        r = sw_buf_query_escape(&b, cont, strlen(cont));
    if (r < 0) {
        sw_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* ---- counting a page ----------------------------------------------------------------------- */

/* obj.key1.key2 as a string: 0 with *ret NULL when absent or null, -EINVAL for another type. */
static int kw_field(const cJSON *obj, const char *key1, const char *key2, const char **ret)
{
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(obj, key1), *v;

    *ret = NULL;
    if (!sub || cJSON_IsNull(sub))
        return 0;
    if (!cJSON_IsObject(sub))
        return -EINVAL;
    v = cJSON_GetObjectItemCaseSensitive(sub, key2);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return -EINVAL;
    *ret = v->valuestring;
    return 0;
}

/* KEDA's shouldCountPod: the phase is not one of phasesCountedAsTerminated. */
static bool kw_counts(const char *phase)
{
    return !phase || (strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0);
}

/* Adds name to the sorted set of nodes: 0 (also when it is there already) or -ENOMEM. */
static int kw_node_add(sw_kw_count_t *c, const char *name)
{
    size_t lo = 0, hi = c->nnodes;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(c->nodes[mid], name);
        if (cmp == 0)
            return 0;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (c->nnodes == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        char **v = realloc(c->nodes, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        c->nodes = v;
        c->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    memmove(c->nodes + lo + 1, c->nodes + lo, (c->nnodes - lo) * sizeof *c->nodes);
    c->nodes[lo] = copy;
    c->nnodes++;
    return 0;
}

/* The list's shape, as json.Unmarshal into a PodList would insist on it: items an array of
 * objects (or null), metadata.continue, status.phase and spec.nodeName strings (or null). */
static int kw_page_check(const cJSON *doc, const cJSON **ret_items, const char **ret_continue)
{
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items"), *it;
    const char *s;

    if (items && !cJSON_IsArray(items) && !cJSON_IsNull(items))
        return -EINVAL;
    if (kw_field(doc, "metadata", "continue", ret_continue) < 0)
        return -EINVAL;
    if (!cJSON_IsArray(items))
        items = NULL;
    cJSON_ArrayForEach(it, items)
    {
        if (!cJSON_IsObject(it) || kw_field(it, "status", "phase", &s) < 0 ||
            kw_field(it, "spec", "nodeName", &s) < 0)
            return -EINVAL;
    }
    *ret_items = items;
    return 0;
}

int sw_kw_count_page(sw_kw_count_t *c, const char *body, size_t len, char **ret_continue, char *err,
                     size_t errlen)
{
    cJSON *doc = cJSON_ParseWithLength(body, len);
    const cJSON *items = NULL, *it;
    const char *cont = NULL, *phase, *node;
    char *next = NULL;
    int r = 0;

    if (!cJSON_IsObject(doc) || kw_page_check(doc, &items, &cont) < 0) {
        cJSON_Delete(doc);
        snprintf(err, errlen, "the API server's answer is not a list of pods");
        return -EINVAL;
    }
    if (cont && cont[0] && !(next = strdup(cont)))
        r = -ENOMEM;
    cJSON_ArrayForEach(it, items)
    {
        if (r < 0)
            break;
        kw_field(it, "status", "phase", &phase);
        kw_field(it, "spec", "nodeName", &node);
        if (!kw_counts(phase))
            continue;
        c->pods++;
        if (c->group_by_node && node && node[0])
            r = kw_node_add(c, node);
    }
    cJSON_Delete(doc);
    if (r < 0) {
        free(next);
        snprintf(err, errlen, "out of memory");
        return r;
    }
    *ret_continue = next;
    return 0;
}

double sw_kw_count_value(const sw_kw_count_t *c)
{
    return c->group_by_node ? (double)c->nnodes : (double)c->pods;
}

void sw_kw_count_reset(sw_kw_count_t *c)
{
    for (size_t i = 0; i < c->nnodes; i++)
        free(c->nodes[i]);
    free(c->nodes);
    c->nodes = NULL;
    c->nnodes = c->cap = 0;
    c->pods = 0;
}

void sw_kw_status_message(const char *body, size_t len, char *buf, size_t cap)
{
    cJSON *doc = cJSON_ParseWithLength(body, len);
    const cJSON *m = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "message") : NULL;

    snprintf(buf, cap, "%.*s", KW_MSG_MAX, cJSON_IsString(m) ? m->valuestring : "");
    cJSON_Delete(doc);
}

/* ---- the process's credentials ------------------------------------------------------------- */

/* Loaded on the first poll of any trigger, shared by all of them, freed with the last. */
typedef struct kw_kube {
    unsigned refs;
    kubeconfig_t *kc;
    char *ca, *cert, *key; /* PEM texts (NUL-terminated) or NULL; wiped when freed */
    uint64_t retry_ms;     /* after a failed load: not before this */
    char why[KW_ERR_MAX / 2];
} kw_kube_t;

static kw_kube_t kw_kube;

static void kw_wipe_n(char *s, size_t n)
{
    if (s) {
        explicit_bzero(s, n);
        free(s);
    }
}

static void kw_wipe(char *s)
{
    kw_wipe_n(s, s ? strlen(s) : 0);
}

/* A certificate or key of the kubeconfig as a NUL-terminated text: 0 (NULL when it has none),
 * -errno with a reason in err. */
static int kw_blob_text(const kubeconfig_blob_t *b, const char *what, char **ret, char *err,
                        size_t errlen)
{
    struct stat sb;
    char *buf = NULL;
    size_t n = 0;
    int fd, e = 0;

    *ret = NULL;
    if (b->data) {
        if (!(buf = malloc(b->len + 1)))
            return -ENOMEM;
        memcpy(buf, b->data, b->len);
        buf[b->len] = '\0';
        *ret = buf;
        return 0;
    }
    if (!b->path)
        return 0;
    if ((fd = open(b->path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0)
        e = errno;
    else if (sb.st_size > KW_PEM_MAX)
        e = EFBIG;
    else if (!(buf = malloc((size_t)sb.st_size + 1)))
        e = ENOMEM;
    while (!e && n < (size_t)sb.st_size) {
        ssize_t got = read(fd, buf + n, (size_t)sb.st_size - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            e = got < 0 ? errno : EIO;
        else
            n += (size_t)got;
    }
    if (fd >= 0)
        close(fd);
    if (e) {
        kw_wipe_n(buf, n);
        snprintf(err, errlen, "could not read the %s file %s: %s", what, b->path, strerror(e));
        return -e;
    }
    buf[n] = '\0';
    *ret = buf;
    return 0;
}

static void kw_kube_free(void)
{
    kubeconfig_free(kw_kube.kc);
    kw_wipe(kw_kube.ca);
    kw_wipe(kw_kube.cert);
    kw_wipe(kw_kube.key);
    kw_kube = (kw_kube_t){.retry_ms = kw_kube.retry_ms};
}

static int kw_kube_load(const char *path, const char *context, char *err, size_t errlen)
{
    errtext_t et = {""};
    int r;

    r = kubeconfig_load_default(path, context, &kw_kube.kc, &et);
    if (r < 0) {
        snprintf(err, errlen, "no Kubernetes API to list pods from: %s", et.text);
        return r;
    }
    if (kw_kube.kc->proxy_url) {
        snprintf(err, errlen, "%s: proxy-url is not supported (use HTTPS_PROXY)",
                 kw_kube.kc->source);
        return -ENOTSUP;
    }
    if ((r = kw_blob_text(&kw_kube.kc->ca, "certificate-authority", &kw_kube.ca, err, errlen)) <
            0 ||
        (r = kw_blob_text(&kw_kube.kc->client_cert, "client-certificate", &kw_kube.cert, err,
                          errlen)) < 0 ||
        (r = kw_blob_text(&kw_kube.kc->client_key, "client-key", &kw_kube.key, err, errlen)) < 0)
        return r;
    return 0;
}

/* Takes a reference, loading the credentials if this is the first. 0 or -errno with err. */
static int kw_kube_get(const char *path, const char *context, char *err, size_t errlen)
{
    uint64_t now = shm_now_mono_ms();
    int r;

    if (kw_kube.refs > 0) {
        kw_kube.refs++;
        return 0;
    }
    if (now < kw_kube.retry_ms) {
        snprintf(err, errlen, "%s", kw_kube.why);
        return -EAGAIN;
    }
    if ((r = kw_kube_load(path, context, err, errlen)) < 0) {
        kw_kube_free();
        kw_kube.retry_ms = now + KW_BACKOFF_MS;
        snprintf(kw_kube.why, sizeof kw_kube.why, "%.*s (not retried for %d s)",
                 (int)sizeof kw_kube.why - 32, err, KW_BACKOFF_MS / 1000);
        return r;
    }
    kw_kube.refs = 1;
    return 0;
}

static void kw_kube_put(void)
{
    if (kw_kube.refs > 0 && --kw_kube.refs == 0)
        kw_kube_free();
}

/* ---- the scaler ---------------------------------------------------------------------------- */

typedef struct kw_state {
    sw_kw_cfg_t cfg;
    char *ns;
    char metric_name[SHM_METRIC_MAX];
    char *kubeconfig, *context; /* the worker's flags, NULL when not given */
    bool has_kube;              /* holds a reference to kw_kube */
    sw_http_t *http;
    sw_poll_t *poll;
    sw_kw_count_t count; /* of the list in flight */
    char *cont;          /* its next page */
    unsigned limit;
    bool relisted; /* this poll listed again after an expired continue token */
} kw_state_t;

static void kw_finish(kw_state_t *st, bool ok, const char *why)
{
    sw_poll_t *p = st->poll;
    char msg[KW_ERR_MAX + 64];

    st->poll = NULL;
    free(st->cont);
    st->cont = NULL;
    if (ok) {
        sw_poll_done(p, true, sw_kw_count_value(&st->count), NULL);
    } else {
        snprintf(msg, sizeof msg, "error inspecting kubernetes workload: %s", why);
        sw_poll_done(p, false, 0, msg);
    }
    sw_kw_count_reset(&st->count);
}

static void kw_done(void *arg, int e, const sw_http_response_t *resp, const char *errtext);

/* Asks for the next page (st->cont) of the list. */
static void kw_page(kw_state_t *st)
{
    char err[KW_ERR_MAX], *target, *url = NULL;
    sw_http_header_t h[2];
    sw_buf_t auth = {0};
    const char *token = NULL;
    errtext_t et = {""};
    size_t nh = 0;
    sw_url_t u;
    int r;

    if (kubeconfig_token_get(kw_kube.kc, &token, &et) < 0) {
        kw_finish(st, false, et.text);
        return;
    }
    target = sw_kw_list_target(&st->cfg, st->ns, st->limit, st->cont);
    if (!target || asprintf(&url, "%s%s", kw_kube.kc->server, target) < 0 ||
        (token && sw_buf_addf(&auth, "Bearer %s", token) < 0)) {
        free(target);
        kw_finish(st, false, "out of memory");
        return;
    }
    free(target);
    r = sw_url_parse(url, strlen(url), &u, err, sizeof err);
    free(url);
    if (r < 0) {
        sw_buf_free(&auth);
        kw_finish(st, false, err);
        return;
    }
    h[nh++] =
        (sw_http_header_t){"Accept", st->cfg.group_by_node ? "application/json" : KW_ACCEPT_META};
    if (token)
        h[nh++] = (sw_http_header_t){"Authorization", auth.p};
    r = sw_http_request(st->http, "GET", &u, h, nh, NULL, 0, 0, kw_done, st, err, sizeof err);
    sw_url_free(&u);
    sw_buf_free(&auth);
    if (r < 0)
        kw_finish(st, false, err);
}

/* A reply other than 200: the API server's Status message (forbidden, a selector it cannot
 * parse) when it sent one. */
static void kw_fail_status(kw_state_t *st, const sw_http_response_t *resp)
{
    char msg[KW_MSG_MAX + 8], why[KW_ERR_MAX];

    if (resp->status == 401)
        kubeconfig_token_invalidate(kw_kube.kc); /* a rotated token: read it again */
    sw_kw_status_message(resp->body, resp->body_len, msg, sizeof msg);
    if (msg[0])
        snprintf(why, sizeof why, "%s (HTTP %d)", msg, resp->status);
    else
        snprintf(why, sizeof why, "the API server answered the pod list with HTTP %d",
                 resp->status);
    kw_finish(st, false, why);
}

static void kw_done(void *arg, int e, const sw_http_response_t *resp, const char *errtext)
{
    kw_state_t *st = arg;
    char err[KW_ERR_MAX], *next = NULL;

    if (!st->poll)
        return;
    if (e == -EFBIG && st->limit > 1) { /* a page of big pods: smaller pages from now on */
        st->limit /= 2;
        kw_page(st);
        return;
    }
    if (e) {
        kw_finish(st, false, errtext);
        return;
    }
    if (resp->status == 410 && st->cont && !st->relisted) { /* the continue token expired */
        st->relisted = true;
        free(st->cont);
        st->cont = NULL;
        sw_kw_count_reset(&st->count);
        kw_page(st);
        return;
    }
    if (resp->status != 200) {
        kw_fail_status(st, resp);
        return;
    }
    if (sw_kw_count_page(&st->count, resp->body, resp->body_len, &next, err, sizeof err) < 0) {
        kw_finish(st, false, err);
        return;
    }
    free(st->cont);
    st->cont = next;
    if (next)
        kw_page(st);
    else
        kw_finish(st, true, NULL);
}

/* The credentials and the client, on the first poll (and again after a failure). */
static int kw_connect(kw_state_t *st, char *err, size_t errlen)
{
    sw_http_tls_opts_t tls = {0};

    if (st->http)
        return 0;
    if (!st->has_kube) {
        int r = kw_kube_get(st->kubeconfig, st->context, err, errlen);
        if (r < 0)
            return r;
        st->has_kube = true;
    }
    tls.unsafe_ssl = kw_kube.kc->insecure_skip_tls_verify;
    tls.ca_pem = kw_kube.ca;
    if (kw_kube.cert && kw_kube.key) {
        tls.cert_pem = kw_kube.cert;
        tls.key_pem = kw_kube.key;
    }
    if (!(st->http = sw_http_new(&tls, err, errlen)))
        return -EINVAL;
    return 0;
}

static void kw_poll(sw_poll_t *p, void *state)
{
    kw_state_t *st = state;
    char err[KW_ERR_MAX] = "";

    st->poll = p;
    sw_poll_spec(p, st->metric_name, st->cfg.value);
    sw_kw_count_reset(&st->count);
    free(st->cont);
    st->cont = NULL;
    st->relisted = false;
    if (kw_connect(st, err, sizeof err) < 0) {
        kw_finish(st, false, err[0] ? err : "could not set up the Kubernetes client");
        return;
    }
    kw_page(st);
}

static void kw_cancel(void *state, char *why, size_t len)
{
    kw_state_t *st = state;

    st->poll = NULL;
    free(st->cont);
    st->cont = NULL;
    sw_kw_count_reset(&st->count);
    sw_http_cancel(st->http, why, len);
}

static void kw_close(void *state)
{
    kw_state_t *st = state;

    if (!st)
        return;
    sw_http_free(st->http);
    if (st->has_kube)
        kw_kube_put();
    sw_kw_cfg_free(&st->cfg);
    sw_kw_count_reset(&st->count);
    free(st->cont);
    free(st->ns);
    free(st->kubeconfig);
    free(st->context);
    free(st);
}

static char *kw_dup_flag(const char *s)
{
    return s && s[0] ? strdup(s) : NULL;
}

static int kw_parse(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    kw_state_t *st = calloc(1, sizeof *st);
    const char *ns = params->so_namespace;
    int r;

    if (!st)
        return -ENOMEM;
    if ((r = sw_kw_cfg_parse(params, &st->cfg, err, errlen)) < 0) {
        free(st);
        return r;
    }
    if (!ns || !ns[0] ||
        sw_kw_metric_name(params->cfg ? params->cfg->index : 0, ns, st->metric_name,
                          sizeof st->metric_name) < 0) {
        snprintf(err, errlen, "the ScaledObject's namespace is %s",
                 ns && ns[0] ? "too long for a metric name" : "unknown");
        kw_close(st);
        return -EINVAL;
    }
    st->count.group_by_node = st->cfg.group_by_node;
    st->limit = st->cfg.group_by_node ? SW_KW_LIMIT_PODS : SW_KW_LIMIT_METADATA;
    st->ns = strdup(ns);
    if (params->trigger) {
        const cfg_t *c = &params->trigger->w->ctx.cfg;
        st->kubeconfig = kw_dup_flag(c->kubeconfig);
        st->context = kw_dup_flag(c->context);
        if ((c->kubeconfig[0] && !st->kubeconfig) || (c->context[0] && !st->context))
            r = -ENOMEM;
    }
    if (!st->ns || r < 0) {
        kw_close(st);
        return -ENOMEM;
    }
    *ret = st;
    return 0;
}

const sw_scaler_t sw_scaler_kubernetes_workload = {
    .name = "kubernetes-workload",
    .parse = kw_parse,
    .poll = kw_poll,
    .cancel = kw_cancel,
    .close = kw_close,
};
