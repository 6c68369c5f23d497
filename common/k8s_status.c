/*
 * k8s_status: turns what went wrong (an HTTP status with its Status body, a watch ERROR event,
 * a libcurl failure) into the module's -errno and a k8s_error_t. No state.
 *
 * Response bodies are untrusted: only Status.reason and Status.message are copied, truncated to
 * their fields; a body that is not a Status contributes a short excerpt with every
 * non-printable byte replaced, so a proxy's HTML page cannot inject control characters into a
 * log line.
 */
#include "common/k8s_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

/* Bytes of a non-Status error body quoted in the message. */
#define K8S_EXCERPT_MAX 200

int k8s_status_errno(long status, const char *reason)
{
    switch (status) {
    case 400:
    case 422:
        return -EINVAL;
    case 401:
    case 403:
        return -EACCES;
    case 404:
        return -ENOENT;
    case 405:
    case 406:
    case 415:
        return -EOPNOTSUPP;
    case 409:
        return reason && strcmp(reason, "AlreadyExists") == 0 ? -EEXIST : -ESTALE;
    case 410:
        return -ENODATA;
    case 413:
        return -E2BIG;
    case 429:
    case 503:
        return -EAGAIN;
    case 504:
        return -ETIMEDOUT;
    default:
        return -EIO;
    }
}

void k8s_error_clear(k8s_error_t *err)
{
    if (!err)
        return;
    err->status = 0;
    err->reason[0] = '\0';
    err->message[0] = '\0';
    err->retry_after_s = -1;
}

/* Copies s into dst (size bytes), replacing control bytes so the text is safe to log. */
static void k8s_copy_printable(char *dst, size_t size, const char *s, size_t len)
{
    size_t n = len < size - 1 ? len : size - 1;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    dst[n] = '\0';
}

long k8s_status_from_object(const cJSON *status, k8s_error_t *err)
{
    const char *s = NULL;
    int64_t code = 0;

    if (jsonu_get_string(status, "reason", 0, &s, NULL) == 0 && err)
        k8s_copy_printable(err->reason, sizeof err->reason, s, strlen(s));
    if (jsonu_get_string(status, "message", 0, &s, NULL) == 0 && err)
        k8s_copy_printable(err->message, sizeof err->message, s, strlen(s));
    if (jsonu_get_int64(status, "code", 0, 999, &code, NULL) < 0)
        code = 0;
    if (err && code)
        err->status = (long)code;
    return (long)code;
}

void k8s_status_parse(long status, const char *body, size_t len, k8s_error_t *err)
{
    cJSON *obj = NULL;
    const char *kind = NULL;

    if (!err)
        return;
    err->status = status;
    err->reason[0] = '\0';
    err->message[0] = '\0';
    if (body && len > 0 && jsonu_parse(body, len, &obj, NULL) == 0 &&
        jsonu_get_string(obj, "kind", 0, &kind, NULL) == 0 && strcmp(kind, "Status") == 0) {
        k8s_status_from_object(obj, err);
        err->status = status; /* the HTTP status wins over a body's claim */
    } else if (body && len > 0) {
        char excerpt[K8S_EXCERPT_MAX + 1];
        k8s_copy_printable(excerpt, sizeof excerpt, body, len);
        snprintf(err->message, sizeof err->message, "HTTP %ld: %s", status, excerpt);
    } else {
        snprintf(err->message, sizeof err->message, "HTTP %ld with an empty body", status);
    }
    cJSON_Delete(obj);
}

int k8s_retry_after_parse(const char *value, time_t now)
{
    char *end = NULL;
    long v;

    while (*value == ' ' || *value == '\t')
        value++;
    if (*value >= '0' && *value <= '9') {
        errno = 0;
        v = strtol(value, &end, 10);
        while (end && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
            end++;
        if (errno != 0 || !end || *end != '\0' || v < 0)
            return -1;
        return v > 86400 ? 86400 : (int)v;
    }
    /* An HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT"), which the API server never sends but a
     * proxy in front of it may. */
    time_t t = curl_getdate(value, NULL);
    if (t == (time_t)-1)
        return -1;
    return t <= now ? 0 : (t - now > 86400 ? 86400 : (int)(t - now));
}

int k8s_curl_errno(CURLcode code, const char *detail, k8s_error_t *err)
{
    int r;

    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        r = -ETIMEDOUT;
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        r = -EHOSTUNREACH;
        break;
    case CURLE_COULDNT_CONNECT:
        r = -ECONNREFUSED;
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
        r = -EPROTO;
        break;
    case CURLE_OUT_OF_MEMORY:
        r = -ENOMEM;
        break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        r = -ECONNRESET;
        break;
    default:
        r = -EIO;
        break;
    }
    if (err) {
        err->status = 0;
        snprintf(err->message, sizeof err->message, "%s",
                 detail && *detail ? detail : curl_easy_strerror(code));
    }
    return r;
}
