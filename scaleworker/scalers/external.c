/*
 * external: the `external` and `external-push` scalers, as KEDA's external_scaler.go. Runs in
 * their scale workers. The event source is a gRPC server implementing KEDA's
 * externalscaler.proto (grpc.h over HTTP/2, pb.h for the messages).
 *
 * A poll: GetMetricSpec while the spec is unknown (the first poll, and the first after a
 * failure, as KEDA rebuilds a failed scaler), which publishes the metric spec with the result
 * (`s<index>-<metricName>`, not normalized, and targetSizeFloat if > 0 else targetSize, of the
 * first MetricSpec); then GetMetrics with that metricName and IsActive, one after the other,
 * as KEDA's GetMetricsAndActivity. The value is the sum of the returned MetricValues (the HPA
 * sums an external metric's items), each metricValueFloat if > 0 else metricValue; the activity
 * is IsActive's result, not value > activation. Every call carries the poll's remaining time
 * as grpc-timeout.
 *
 * external-push also keeps one StreamIsActive call open (started by the first poll, on the same
 * HTTP/2 connection): each `result: true` publishes the trigger ACTIVE at once and rings the
 * watcher's doorbell (sw_trigger_push_active), as KEDA's push activation requests a scale at
 * once; `false` is ignored (deactivation comes from polls only). When the stream ends it is
 * opened again after 2 s, doubling to 60 s; a stream that ended cleanly (status OK) starts the
 * backoff again from 2 s, as KEDA's runStreamIsActive.
 *
 * Invariants: at most one unary call (the poll's) and one stream in flight; the poll completes
 * once, from a callback; a poll's timeout cancels its call and, while the connection is not up,
 * drops the connection (the stream then reconnects on its backoff).
 */
#include "scaleworker/scalers/external.h"

#include "common/log.h"
#include "scaleworker/grpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define EX_PATH           "/externalscaler.ExternalScaler/"
#define EX_SPECS_KEPT     4
#define EX_VALUES_MAX     64
#define EX_BACKOFF_MIN_MS 2000u
#define EX_BACKOFF_MAX_MS 60000u

typedef enum { EX_SPEC, EX_METRICS, EX_ACTIVE } ex_step_t;

typedef struct ex_state {
    sw_external_cfg_t cfg;
    bool push;
    sw_grpc_t *g;
    uint8_t *ref; /* the encoded ScaledObjectRef */
    size_t ref_len;
    uint8_t *mreq; /* the encoded GetMetricsRequest, once the metric name is known */
    size_t mreq_len;
    bool have_spec;
    char metric[SW_PB_NAME_MAX]; /* metricName as the server named it */
    /* the poll */
    sw_poll_t *poll;
    ex_step_t step;
    sw_grpc_call_t call;
    unsigned replies;
    double value;
    bool active;
    char reply_err[160];
    /* external-push */
    sw_trigger_t *trigger;
    sw_grpc_call_t stream;
    bool stream_wanted; /* the first poll started it: keep it open */
    int timer_fd;
    sw_io_t timer_io;
    uint32_t backoff_ms;
} ex_state_t;

static const char *const ex_step_method[] = {"GetMetricSpec", "GetMetrics", "IsActive"};

/* ---- parameters ----------------------------------------------------------------------------- */

static char *ex_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Go's strconv.ParseBool. */
static int ex_parse_bool(const char *s, size_t n, bool *ret)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};

    for (size_t i = 0; i < 6; i++) {
        if (strlen(yes[i]) == n && memcmp(yes[i], s, n) == 0)
            return *ret = true, 0;
        if (strlen(no[i]) == n && memcmp(no[i], s, n) == 0)
            return *ret = false, 0;
    }
    return -EINVAL;
}

static int ex_meta_bool(const sw_params_t *p, const char *name, bool *ret, char *err, size_t errlen)
{
    static const sw_src_t order[] = {SW_SRC_METADATA, SW_SRC_END};
    const char *names[] = {name, NULL};
    sw_param_t v;

    *ret = false;
    if (sw_param_find(p, names, order, &v) != 1)
        return 0;
    if (ex_parse_bool(v.value, v.len, ret) < 0) {
        int n = v.len > 64 ? 64 : (int)v.len;
        snprintf(err, errlen,
                 "metadata.%s: unable to set param \"%s\" value \"%.*s\": unable to parse boolean "
                 "value \"%.*s\": strconv.ParseBool: parsing \"%.*s\": invalid syntax",
                 name, name, n, v.value, n, v.value, n, v.value);
        return -EINVAL;
    }
    return 0;
}

static int ex_auth_str(const sw_params_t *p, const char *name, char **ret)
{
    static const sw_src_t order[] = {SW_SRC_AUTH, SW_SRC_END};
    const char *names[] = {name, NULL};
    sw_param_t v;

    *ret = NULL;
    if (sw_param_find(p, names, order, &v) != 1)
        return 0;
    return (*ret = ex_dup(v.value, v.len)) ? 0 : -ENOMEM;
}

/* scalerAddress as grpc-go's target: an optional dns:/// or passthrough:/// scheme, host[:port]
 * with 443 when no port is given. */
static int ex_address(const char *s, size_t n, sw_external_cfg_t *c, char *err, size_t errlen)
{
    static const char *const schemes[] = {"dns:///", "passthrough:///", "dns:"};
    char why[128];

    for (size_t i = 0; i < 3; i++)
        if (n > strlen(schemes[i]) && strncmp(s, schemes[i], strlen(schemes[i])) == 0) {
            s += strlen(schemes[i]);
            n -= strlen(schemes[i]);
            break;
        }
    if (n >= 5 && strncmp(s, "unix:", 5) == 0) {
        snprintf(err, errlen, "metadata.scalerAddress: unix sockets are not supported by ckeda");
        return -EINVAL;
    }
    bool bracketed = n > 2 && s[0] == '[' && s[n - 1] == ']';
    if (!memchr(s, ':', n) || bracketed) {
        if (n - (bracketed ? 2 : 0) >= sizeof c->host) {
            snprintf(err, errlen, "metadata.scalerAddress: host name too long");
            return -EINVAL;
        }
        snprintf(c->host, sizeof c->host, "%.*s", (int)n - (bracketed ? 2 : 0), s + bracketed);
        snprintf(c->port, sizeof c->port, "443");
        return 0;
    }
    if (sw_hostport_split(s, n, c->host, sizeof c->host, c->port, sizeof c->port, why, sizeof why) <
        0) {
        snprintf(err, errlen, "metadata.scalerAddress: %s", why);
        return -EINVAL;
    }
    return 0;
}

/* KEDA's originalMetadata: every metadata entry as it is, but a `<key>FromEnv` entry carries the
 * value of the variable it names in the scale target's environment (under the same key), and is
 * left out when that variable is unset or empty. */
static int ex_metadata(const cJSON *md, const sw_auth_params_t *env, sw_external_cfg_t *c)
{
    const cJSON *e;
    size_t n = 0;

    cJSON_ArrayForEach(e, md) n++;
    if (n && !(c->metadata = calloc(n, sizeof *c->metadata)))
        return -ENOMEM;
    cJSON_ArrayForEach(e, md)
    {
        size_t kl = strlen(e->string);
        const char *v = cJSON_GetStringValue(e);
        if (v && sw_key_from_env(e->string))
            v = sw_auth_param(env, v);
        if (!v || !*v)
            continue;
        sw_pb_kv_t *kv = &c->metadata[c->nmetadata];
        kv->key = ex_dup(e->string, kl);
        kv->value = ex_dup(v, strlen(v));
        if (!kv->key || !kv->value) {
            free((char *)kv->key);
            free((char *)kv->value);
            return -ENOMEM;
        }
        c->nmetadata++;
    }
    return 0;
}

void sw_external_cfg_free(sw_external_cfg_t *c)
{
    sw_secret_str_free(c->ca_cert);
    sw_secret_str_free(c->client_cert);
    sw_secret_str_free(c->client_key);
    free(c->so_name);
    free(c->so_namespace);
    for (size_t i = 0; i < c->nmetadata; i++) {
        sw_secret_str_free((char *)c->metadata[i].key);
        sw_secret_str_free((char *)c->metadata[i].value);
    }
    free(c->metadata);
    memset(c, 0, sizeof *c);
}

int sw_external_cfg_parse(const sw_params_t *p, sw_external_cfg_t *ret, char *err, size_t errlen)
{
    static const sw_src_t order[] = {SW_SRC_METADATA, SW_SRC_END};
    static const char *const addr_names[] = {"scalerAddress", NULL};
    sw_external_cfg_t c = {.index = p->cfg ? p->cfg->index : 0};
    sw_param_t addr;
    int r;

    if (sw_param_find(p, addr_names, order, &addr) != 1) {
        snprintf(err, errlen,
                 "metadata.scalerAddress: missing required parameter \"scalerAddress\" in "
                 "[triggerMetadata]");
        return -EINVAL;
    }
    if ((r = ex_address(addr.value, addr.len, &c, err, errlen)) < 0 ||
        (r = ex_meta_bool(p, "enableTLS", &c.enable_tls, err, errlen)) < 0 ||
        (r = ex_meta_bool(p, "unsafeSsl", &c.unsafe_ssl, err, errlen)) < 0)
        return r;
    if ((r = ex_auth_str(p, "caCert", &c.ca_cert)) < 0 ||
        (r = ex_auth_str(p, "tlsClientCert", &c.client_cert)) < 0 ||
        (r = ex_auth_str(p, "tlsClientKey", &c.client_key)) < 0 ||
        (r = ex_metadata(p->metadata, p->env, &c)) < 0 ||
        !(c.so_name = strdup(p->so_name ? p->so_name : "")) ||
        !(c.so_namespace = strdup(p->so_namespace ? p->so_namespace : ""))) {
        sw_external_cfg_free(&c);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    /* NewTLSConfig uses the key pair only when both are given */
    c.tls = c.enable_tls || (c.client_cert && c.client_key) || c.ca_cert;
    *ret = c;
    return 0;
}

/* ---- the poll ------------------------------------------------------------------------------- */

static ex_state_t *ex_of_call(sw_grpc_call_t *c)
{
    return (ex_state_t *)((char *)c - offsetof(ex_state_t, call));
}

static ex_state_t *ex_of_stream(sw_grpc_call_t *c)
{
    return (ex_state_t *)((char *)c - offsetof(ex_state_t, stream));
}

static void ex_fail(ex_state_t *st, const char *fmt, const char *a, const char *b)
{
    sw_poll_t *p = st->poll;
    char msg[SW_GRPC_ERR_MAX + SW_HOST_MAX + 64];
    char detail[SW_GRPC_ERR_MAX + 64];

    snprintf(detail, sizeof detail, fmt, a, b);
    snprintf(msg, sizeof msg, "external %s:%s: %s", st->cfg.host, st->cfg.port, detail);
    st->poll = NULL;
    st->have_spec = false; /* KEDA rebuilds a failed scaler, asking for the spec again */
    if (p)
        sw_poll_done(p, false, 0, msg);
}

static void ex_step(ex_state_t *st);

static int ex_on_msg(sw_grpc_call_t *c, const uint8_t *msg, size_t len)
{
    ex_state_t *st = ex_of_call(c);
    sw_pb_metric_t m[EX_SPECS_KEPT], *v;
    size_t n = 0;

    if (++st->replies > 1)
        return 0; /* counted: a unary call has one reply (ex_on_end) */
    switch (st->step) {
    case EX_SPEC:
        if (sw_pb_metric_list_decode(msg, len, m, EX_SPECS_KEPT, &n) < 0)
            return -EBADMSG;
        if (n == 0) {
            snprintf(st->reply_err, sizeof st->reply_err, "got empty metric spec");
            return 0;
        }
        if (m[0].name_len >= sizeof st->metric) {
            snprintf(st->reply_err, sizeof st->reply_err, "metricName too long (%zu bytes)",
                     m[0].name_len);
            return 0;
        }
        memcpy(st->metric, m[0].name, m[0].name_len + 1);
        st->value = m[0].real > 0 ? m[0].real : (double)m[0].integer; /* the target */
        return 0;
    case EX_METRICS:
        if (!(v = calloc(EX_VALUES_MAX, sizeof *v)))
            return -ENOMEM;
        if (sw_pb_metric_list_decode(msg, len, v, EX_VALUES_MAX, &n) < 0) {
            free(v);
            return -EBADMSG;
        }
        st->value = 0;
        for (size_t i = 0; i < n && i < EX_VALUES_MAX; i++)
            st->value += v[i].real > 0 ? v[i].real : (double)v[i].integer;
        if (n > EX_VALUES_MAX)
            snprintf(st->reply_err, sizeof st->reply_err, "more than %d metric values",
                     EX_VALUES_MAX);
        free(v);
        return 0;
    default:
        return sw_pb_is_active_decode(msg, len, &st->active);
    }
}

/* Spec learnt: publish it and prepare GetMetricsRequest. */
static int ex_spec_learnt(ex_state_t *st)
{
    char full[SHM_METRIC_MAX];
    sw_pb_ref_t ref = {st->cfg.so_name, st->cfg.so_namespace, st->cfg.metadata, st->cfg.nmetadata};
    size_t cap = st->ref_len + strlen(st->metric) + 32;
    long n;

    if (snprintf(full, sizeof full, "s%u-%s", st->cfg.index, st->metric) >= (int)sizeof full) {
        snprintf(st->reply_err, sizeof st->reply_err, "metricName %s too long", st->metric);
        return -EINVAL;
    }
    free(st->mreq);
    if (!(st->mreq = malloc(cap)) ||
        (n = sw_pb_metrics_request_encode(&ref, st->metric, st->mreq, cap)) < 0) {
        snprintf(st->reply_err, sizeof st->reply_err, "out of memory");
        return -ENOMEM;
    }
    st->mreq_len = (size_t)n;
    st->have_spec = true;
    sw_poll_spec(st->poll, full, st->value);
    return 0;
}

static void ex_on_end(sw_grpc_call_t *c, int code, const char *message)
{
    ex_state_t *st = ex_of_call(c);
    const char *method = ex_step_method[st->step];
    char desc[SW_GRPC_ERR_MAX + 64];

    if (!st->poll)
        return;
    if (code != SW_GRPC_OK) {
        snprintf(desc, sizeof desc, "rpc error: code = %s desc = %s", sw_grpc_code_name(code),
                 message);
        ex_fail(st, "%s: %s", method, desc);
        return;
    }
    if (st->replies != 1) {
        ex_fail(st, "%s: rpc error: code = Internal desc = %s", method,
                st->replies ? "cardinality violation: expected <EOF> for non server-streaming "
                              "RPCs, but received another message"
                            : "cardinality violation: received no response message from "
                              "non-streaming RPC");
        return;
    }
    if (st->reply_err[0] || (st->step == EX_SPEC && ex_spec_learnt(st) < 0)) {
        ex_fail(st, "%s: %s", method, st->reply_err);
        return;
    }
    if (st->step == EX_ACTIVE) {
        sw_poll_t *p = st->poll;
        st->poll = NULL;
        sw_poll_done_active(p, st->value, st->active);
        return;
    }
    st->step = st->step == EX_SPEC ? EX_METRICS : EX_ACTIVE;
    ex_step(st);
}

/* Starts the call of the current step. */
static void ex_step(ex_state_t *st)
{
    uint64_t now = shm_now_mono_ms(), deadline = sw_poll_deadline_ms(st->poll);
    uint32_t left = deadline > now ? (uint32_t)(deadline - now) : 1;
    const uint8_t *msg = st->step == EX_METRICS ? st->mreq : st->ref;
    size_t len = st->step == EX_METRICS ? st->mreq_len : st->ref_len;
    char path[64], err[SW_GRPC_ERR_MAX];

    snprintf(path, sizeof path, EX_PATH "%s", ex_step_method[st->step]);
    st->replies = 0;
    st->reply_err[0] = '\0';
    if (sw_grpc_call_start(st->g, &st->call, path, msg, len, left, ex_on_msg, ex_on_end, err,
                           sizeof err) < 0)
        ex_fail(st, "%s: rpc error: code = Unavailable desc = %s", ex_step_method[st->step], err);
}

/* ---- external-push: StreamIsActive ---------------------------------------------------------- */

static void ex_stream_start(ex_state_t *st);

/* The stream ended (or could not start): open it again after the backoff. */
static void ex_stream_retry(ex_state_t *st, bool clean)
{
    struct itimerspec its = {0};

    if (clean)
        st->backoff_ms = EX_BACKOFF_MIN_MS;
    its.it_value.tv_sec = st->backoff_ms / 1000;
    its.it_value.tv_nsec = (long)(st->backoff_ms % 1000) * 1000000L;
    st->backoff_ms =
        st->backoff_ms * 2 > EX_BACKOFF_MAX_MS ? EX_BACKOFF_MAX_MS : st->backoff_ms * 2;
    if (timerfd_settime(st->timer_fd, 0, &its, NULL) == 0)
        sw_io_want(&st->timer_io, SW_IO_READ);
}

static int ex_stream_msg(sw_grpc_call_t *c, const uint8_t *msg, size_t len)
{
    ex_state_t *st = ex_of_stream(c);
    bool active;

    if (sw_pb_is_active_decode(msg, len, &active) < 0)
        return -EBADMSG;
    if (active) /* `false` is ignored, as KEDA's startPushScalers */
        sw_trigger_push_active(st->trigger);
    return 0;
}

static void ex_stream_end(sw_grpc_call_t *c, int code, const char *message)
{
    ex_state_t *st = ex_of_stream(c);

    if (code != SW_GRPC_OK)
        log_info("external-push %s:%s: StreamIsActive: rpc error: code = %s desc = %s",
                 st->cfg.host, st->cfg.port, sw_grpc_code_name(code), message);
    ex_stream_retry(st, code == SW_GRPC_OK);
}

static void ex_stream_start(ex_state_t *st)
{
    char err[SW_GRPC_ERR_MAX];

    if (st->stream.open)
        return;
    if (sw_grpc_call_start(st->g, &st->stream, EX_PATH "StreamIsActive", st->ref, st->ref_len, 0,
                           ex_stream_msg, ex_stream_end, err, sizeof err) < 0) {
        log_info("external-push %s:%s: StreamIsActive: %s", st->cfg.host, st->cfg.port, err);
        ex_stream_retry(st, false);
    }
}

static void ex_on_timer(sw_io_t *io, uint32_t revents)
{
    ex_state_t *st = (ex_state_t *)((char *)io - offsetof(ex_state_t, timer_io));
    uint64_t n;

    (void)revents;
    if (read(st->timer_fd, &n, sizeof n) < 0 && errno == EAGAIN)
        return;
    sw_io_want(&st->timer_io, 0);
    ex_stream_start(st);
}

/* ---- the vtable ---------------------------------------------------------------------------- */

static void ex_poll(sw_poll_t *p, void *state)
{
    ex_state_t *st = state;

    st->poll = p;
    st->step = st->have_spec ? EX_METRICS : EX_SPEC;
    if (st->push && !st->stream_wanted) {
        st->stream_wanted = true;
        ex_stream_start(st);
    }
    ex_step(st);
}

static void ex_cancel(void *state, char *why, size_t len)
{
    ex_state_t *st = state;
    bool stream = st->stream.open;

    snprintf(why, len, "%s (%s)", sw_grpc_phase(st->g), ex_step_method[st->step]);
    st->poll = NULL;
    st->have_spec = false;
    sw_grpc_call_cancel(&st->call);
    if (!sw_grpc_connected(st->g)) { /* not even connected: start afresh next time */
        sw_grpc_disconnect(st->g);
        if (stream)
            ex_stream_retry(st, false);
    }
}

static void ex_close(void *state)
{
    ex_state_t *st = state;

    sw_grpc_free(st->g); /* ends both calls without callbacks */
    if (st->timer_fd >= 0) {
        sw_io_stop(&st->timer_io);
        close(st->timer_fd);
    }
    if (st->ref)
        explicit_bzero(st->ref, st->ref_len);
    if (st->mreq)
        explicit_bzero(st->mreq, st->mreq_len);
    free(st->ref);
    free(st->mreq);
    sw_external_cfg_free(&st->cfg);
    free(st);
}

static int ex_parse_common(const sw_params_t *params, bool push, void **ret, char *err,
                           size_t errlen)
{
    ex_state_t *st = calloc(1, sizeof *st);
    sw_pb_ref_t ref;
    int r;

    if (!st)
        return -ENOMEM;
    st->timer_fd = -1;
    if ((r = sw_external_cfg_parse(params, &st->cfg, err, errlen)) < 0) {
        free(st);
        return r;
    }
    st->push = push;
    st->trigger = params->trigger;
    st->backoff_ms = EX_BACKOFF_MIN_MS;
    ref = (sw_pb_ref_t){st->cfg.so_name, st->cfg.so_namespace, st->cfg.metadata, st->cfg.nmetadata};
    st->ref_len = sw_pb_ref_size(&ref);
    sw_grpc_opts_t o = {.host = st->cfg.host,
                        .port = st->cfg.port,
                        .tls = st->cfg.tls,
                        .unsafe_ssl = st->cfg.unsafe_ssl,
                        .ca_pem = st->cfg.ca_cert,
                        .cert_pem = st->cfg.client_key ? st->cfg.client_cert : NULL,
                        .key_pem = st->cfg.client_cert ? st->cfg.client_key : NULL};
    if (!(st->ref = malloc(st->ref_len + 1)) ||
        sw_pb_ref_encode(&ref, st->ref, st->ref_len + 1) != (long)st->ref_len) {
        snprintf(err, errlen, "out of memory");
        r = -ENOMEM;
    } else if (!(st->g = sw_grpc_new(&o, err, errlen))) {
        r = -EINVAL;
    } else if (push &&
               (st->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
        snprintf(err, errlen, "timerfd: %s", strerror(errno));
        r = -ENOMEM;
    }
    if (r < 0) {
        ex_close(st);
        return r;
    }
    if (push)
        sw_io_init(&st->timer_io, st->timer_fd, ex_on_timer);
    *ret = st;
    return 0;
}

static int ex_parse(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    return ex_parse_common(params, false, ret, err, errlen);
}

static int ex_parse_push(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    return ex_parse_common(params, true, ret, err, errlen);
}

const sw_scaler_t sw_scaler_external = {
    .name = "external",
    .parse = ex_parse,
    .poll = ex_poll,
    .cancel = ex_cancel,
    .close = ex_close,
};

const sw_scaler_t sw_scaler_external_push = {
    .name = "external-push",
    .parse = ex_parse_push,
    .poll = ex_poll,
    .cancel = ex_cancel,
    .close = ex_close,
};
