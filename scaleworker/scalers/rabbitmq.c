/*
 * rabbitmq: the `rabbitmq` scaler, as KEDA's rabbitmq_scaler.go. Runs in the rabbitmq workers.
 *
 * Parameters (KEDA's typed config): queueName; mode QueueLength | MessageRate | DeliverGetRate |
 * PublishedToDeliveredRatio | ExpectedQueueConsumptionTime with value and activationValue, or
 * the deprecated queueLength, or nothing (QueueLength 20); host (metadata, then the
 * authentication); protocol auto (by the host's scheme) | amqp | http; vhostName; useRegex,
 * operation, pageSize and excludeUnacknowledged (HTTP only); timeout (HTTP only); unsafeSsl;
 * from the authentication username and password (replacing the host's userinfo), tls
 * (enable | disable) with ca, cert, key and keyPassword.
 *
 * AMQP (amqp.h): a passive Queue.Declare on a connection kept per trigger; the value is its
 * message count. amqps uses TLS (the system CAs and --ca-dir; with tls=enable also ca, a client
 * certificate, unsafeSsl, and SASL EXTERNAL when there is no password anywhere), as amqp091-go.
 * HTTP: GET {host without the vhost}/api/queues/{vhost}/{queue} on the management API (or the
 * regex listing); messages (messages_ready with excludeUnacknowledged) and the publish and
 * deliver_get rates. The activity is KEDA's per mode (published with sw_poll_done_active), not
 * only value > activationValue.
 *
 * The parameters, the management API's URL and answer and each mode's value are in
 * rabbitmq_cfg.c (pure, unit-tested); this file holds the connections and the polls.
 *
 * Error texts are KEDA's: "error inspecting RabbitMQ: ..." around the source's answer (amqp091-go's
 * `Exception (404) Reason: "NOT_FOUND - ..."`, the management API's status and body), and
 * "error establishing connection to RabbitMQ: ..." when an AMQP connection cannot be opened.
 * The host is a secret: a message names only scheme://host:port/path, never the userinfo.
 *
 * `hostFromEnv`, `usernameFromEnv` and `passwordFromEnv` are looked up with sw_param_find; where
 * it reports the target's environment as unreadable (-ENOTSUP) that is a configuration error.
 * Where ckeda differs, with a clear configuration error: OAuth2 and Azure workload identity;
 * a query in the host URL is dropped (KEDA would put it before the API path); after a missing
 * queue the channel is opened again on the next poll (amqp091-go leaves it closed).
 */
#include "scaleworker/scalers/amqp.h"
#include "scaleworker/scalers/httpcfg.h"
#include "scaleworker/scalers/rabbitmq.h"
#include "scaleworker/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RQ_ERR_MAX  1536
#define RQ_BODY_MAX 512 /* of an error answer quoted back */

static void rq_free_secret(char **s)
{
    if (*s) {
        explicit_bzero(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

/* ---- the scaler ---------------------------------------------------------------------------- */

typedef struct rq_state {
    sw_rmq_cfg_t cfg;
    sw_poll_t *poll;
    sw_http_t *http;                    /* protocol http */
    sw_amqp_t *amqp;                    /* protocol amqp */
    SSL_CTX *ctx;                       /* amqps */
    char shown[SW_URL_SHOWN_MAX + 256]; /* the request without userinfo, for messages */
} rq_state_t;

static void rq_finish(rq_state_t *st, const sw_rmq_stats_t *s)
{
    sw_poll_t *p = st->poll;
    double v;
    bool active;

    st->poll = NULL;
    sw_rmq_metric(&st->cfg, s, &v, &active);
    sw_poll_done_active(p, v, active);
}

static void rq_fail(rq_state_t *st, const char *prefix, const char *text)
{
    sw_poll_t *p = st->poll;
    char msg[RQ_ERR_MAX + 64];

    st->poll = NULL;
    snprintf(msg, sizeof msg, "%s%s", prefix, text);
    sw_poll_done(p, false, 0, msg);
}

/* Go's http.StatusText for the answers a management API gives. */
static const char *rq_status_text(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "";
    }
}

static void rq_http_done(void *arg, int e, const sw_http_response_t *resp, const char *errtext)
{
    rq_state_t *st = arg;
    char err[RQ_ERR_MAX];
    sw_rmq_stats_t s;

    if (!st->poll)
        return;
    if (e) {
        rq_fail(st, "error inspecting RabbitMQ: ", errtext);
        return;
    }
    if (resp->status != 200) {
        size_t n = resp->body_len > RQ_BODY_MAX ? RQ_BODY_MAX : resp->body_len;
        if (resp->status == 401 || resp->status == 403)
            sw_poll_auth_rejected(st->poll);
        snprintf(err, sizeof err,
                 "error requesting RabbitMQ API status: %d %s, response: %.*s, from: %s",
                 resp->status, rq_status_text(resp->status), (int)n, resp->body, st->shown);
        rq_fail(st, "error inspecting RabbitMQ: ", err);
        return;
    }
    if (sw_rmq_http_stats(resp->body, resp->body_len, &st->cfg, &s, err, sizeof err) < 0) {
        rq_fail(st, "error inspecting RabbitMQ: ", err);
        return;
    }
    rq_finish(st, &s);
}

static void rq_poll_http(sw_poll_t *p, rq_state_t *st)
{
    char err[RQ_ERR_MAX];
    char *url = sw_rmq_http_url(&st->cfg);
    sw_url_t u;
    int r;

    if (!url) {
        rq_fail(st, "error inspecting RabbitMQ: ", "host is not an http(s) URL");
        return;
    }
    r = sw_url_parse(url, strlen(url), &u, err, sizeof err);
    explicit_bzero(url, strlen(url));
    free(url);
    if (r < 0) {
        rq_fail(st, "error inspecting RabbitMQ: ", err);
        return;
    }
    snprintf(st->shown, sizeof st->shown, "%s", u.shown);
    r = sw_http_request(st->http, "GET", &u, NULL, 0, NULL, 0,
                        sw_poll_own_deadline_ms(p, st->cfg.timeout_ms), rq_http_done, st, err,
                        sizeof err);
    sw_url_free(&u);
    if (r < 0)
        rq_fail(st, "error inspecting RabbitMQ: ", err);
}

static void rq_amqp_done(void *arg, int e, uint32_t count, const char *errtext, unsigned flags)
{
    rq_state_t *st = arg;
    sw_rmq_stats_t s = {.messages = count};

    if (!st->poll)
        return;
    if (e) {
        if (flags & SW_AMQP_ERR_AUTH)
            sw_poll_auth_rejected(st->poll);
        rq_fail(st,
                flags & SW_AMQP_ERR_CONNECT ? "error establishing connection to RabbitMQ: "
                                            : "error inspecting RabbitMQ: ",
                errtext);
        return;
    }
    rq_finish(st, &s);
}

static void rq_poll(sw_poll_t *p, void *state)
{
    rq_state_t *st = state;
    char err[RQ_ERR_MAX];

    st->poll = p;
    if (st->http) {
        rq_poll_http(p, st);
        return;
    }
    if (sw_amqp_declare(st->amqp, st->cfg.queue_name, rq_amqp_done, st, err, sizeof err) < 0)
        rq_fail(st, "error establishing connection to RabbitMQ: ", err);
}

static void rq_cancel(void *state, char *why, size_t len)
{
    rq_state_t *st = state;

    st->poll = NULL;
    if (st->http)
        sw_http_cancel(st->http, why, len);
    else
        sw_amqp_cancel(st->amqp, why, len);
}

static void rq_close(void *state)
{
    rq_state_t *st = state;

    if (!st)
        return;
    sw_http_free(st->http);
    sw_amqp_free(st->amqp);
    SSL_CTX_free(st->ctx);
    sw_rmq_cfg_free(&st->cfg);
    free(st);
}

/* keyPassword: the key decrypted into an unencrypted PEM (as KEDA's NewTLSConfigWithPassword
 * decrypts it), malloc'ed; NULL with a reason when it cannot be. */
static char *rq_decrypt_key(const char *pem, const char *password, char *err, size_t errlen)
{
    BIO *in = BIO_new_mem_buf(pem, -1), *out = BIO_new(BIO_s_mem());
    EVP_PKEY *k = NULL;
    char *ret = NULL, *data;
    long n;

    ERR_clear_error();
    if (in && out && (k = PEM_read_bio_PrivateKey(in, NULL, NULL, (void *)password)) &&
        PEM_write_bio_PrivateKey(out, k, NULL, NULL, 0, NULL, NULL) &&
        (n = BIO_get_mem_data(out, &data)) > 0 && (ret = malloc((size_t)n + 1))) {
        memcpy(ret, data, (size_t)n);
        ret[n] = '\0';
    }
    if (!ret)
        snprintf(err, errlen, "authentication.key: cannot decrypt the key with keyPassword");
    EVP_PKEY_free(k);
    BIO_free(in);
    if (out) {
        if (BIO_get_mem_data(out, &data) > 0)
            explicit_bzero(data, (size_t)BIO_get_mem_data(out, &data));
        BIO_free(out);
    }
    ERR_clear_error();
    return ret;
}

static int rq_open_http(rq_state_t *st, const char *key, char *err, size_t errlen)
{
    const sw_rmq_cfg_t *c = &st->cfg;
    sw_http_tls_opts_t tls = {.unsafe_ssl = c->unsafe_ssl};
    char why[256];
    sw_url_t u;

    if (sw_url_parse(c->host, strlen(c->host), &u, why, sizeof why) < 0) {
        snprintf(err, errlen, "metadata.host: %s", why);
        return -EINVAL;
    }
    sw_url_free(&u);
    if (c->tls) {
        tls.ca_pem = c->ca;
        tls.cert_pem = c->cert;
        tls.key_pem = key;
    }
    if (!(st->http = sw_http_new(&tls, err, errlen))) {
        if (!err[0])
            snprintf(err, errlen, "out of memory");
        return -EINVAL;
    }
    return 0;
}

static int rq_open_amqp(rq_state_t *st, const char *key, char *err, size_t errlen)
{
    const sw_rmq_cfg_t *c = &st->cfg;
    sw_amqp_uri_t u;
    char why[256];
    int r;

    if (strlen(c->queue_name) > SW_AMQP_SHORTSTR) {
        snprintf(err, errlen, "metadata.queueName: longer than %d bytes", SW_AMQP_SHORTSTR);
        return -EINVAL;
    }
    if ((r = sw_amqp_uri_parse(c->host, strlen(c->host), &u, why, sizeof why)) < 0) {
        snprintf(err, errlen, "metadata.host: error parsing RabbitMQ connection string: %s",
                 r == -ENOMEM ? "out of memory" : why);
        return r;
    }
    sw_amqp_opts_t o = {
        .host = u.host,
        .port = u.port,
        .unsafe_ssl = c->tls && c->unsafe_ssl,
        .username = c->username ? c->username : u.username,
        .password = c->password ? c->password : u.password,
        .vhost = c->vhost_name ? c->vhost_name : u.vhost,
        .connection_name = c->connection_name,
        /* amqp091-go's ExternalAuth: a client certificate and no password anywhere */
        .external = c->tls && !c->username && c->cert && !u.has_password,
    };
    if (strlen(o.vhost) > SW_AMQP_SHORTSTR) {
        snprintf(err, errlen, "metadata.vhostName: longer than %d bytes", SW_AMQP_SHORTSTR);
        r = -EINVAL;
    } else if (u.tls) {
        sw_tls_client_opts_t t = {
            .min_version = TLS1_2_VERSION,
            .ca_pem = c->tls ? c->ca : NULL,
            .cert_pem = c->tls ? c->cert : NULL,
            .key_pem = c->tls ? key : NULL,
            .ca_err = "authentication.ca: error appending CA certs (no PEM certificate)",
            .cert_field = "authentication.cert/key",
        };
        r = sw_tls_client_ctx_new(&t, &st->ctx, err, errlen);
        o.ctx = st->ctx;
    }
    if (r == 0 && !(st->amqp = sw_amqp_new(&o))) {
        snprintf(err, errlen, "out of memory");
        r = -ENOMEM;
    }
    sw_amqp_uri_free(&u);
    return r;
}

static int rq_parse(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    rq_state_t *st = calloc(1, sizeof *st);
    char *key = NULL;
    int r;

    if (!st)
        return -ENOMEM;
    err[0] = '\0';
    if ((r = sw_rmq_cfg_parse(params, &st->cfg, err, errlen)) < 0) {
        free(st);
        return r;
    }
    if (st->cfg.tls && st->cfg.key && st->cfg.key_password &&
        !(key = rq_decrypt_key(st->cfg.key, st->cfg.key_password, err, errlen))) {
        rq_close(st);
        return -EINVAL;
    }
    const char *k = key ? key : st->cfg.key;
    r = st->cfg.protocol == SW_RMQ_HTTP ? rq_open_http(st, k, err, errlen)
                                        : rq_open_amqp(st, k, err, errlen);
    rq_free_secret(&key);
    if (r < 0) {
        rq_close(st);
        return r == -ENOMEM ? r : -EINVAL;
    }
    *ret = st;
    return 0;
}

const sw_scaler_t sw_scaler_rabbitmq = {
    .name = "rabbitmq",
    .parse = rq_parse,
    .poll = rq_poll,
    .cancel = rq_cancel,
    .close = rq_close,
};
