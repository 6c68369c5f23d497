/*
 * http: a small non-blocking HTTP/1.1 client for scalers, on the worker's event loop (net.h
 * connects, sw_io_want() waits). Runs in scale workers.
 *
 * One sw_http_t holds one connection, kept alive between requests to the same origin (and
 * proxy) as Go's transport keeps its idle connections: a scaler embeds one per trigger. https
 * uses OpenSSL without blocking: SNI for names, certificate and host name verification on by
 * default against the system CAs plus every PEM file of the custom CA directory (KEDA's
 * --ca-dir, sw_tls_set_ca_dir), TLS 1.2 at least (KEDA_HTTP_MIN_TLS_VERSION may raise it),
 * `unsafe_ssl` to skip verification as Go's InsecureSkipVerify does. Proxies come from
 * HTTP_PROXY / HTTPS_PROXY / NO_PROXY (upper or lower case, as Go's ProxyFromEnvironment reads
 * them; loopback hosts never use one): http requests go to the proxy in absolute form, https
 * requests through a CONNECT tunnel. Responses are read with Content-Length, chunked coding or
 * up to the close, bounded by SW_HTTP_BODY_MAX.
 *
 * Time limits: a request ends by the poll's deadline, when the scaler's `cancel` calls
 * sw_http_cancel() (which closes the connection); a request may also carry an earlier deadline
 * of its own (a trigger's `timeout`), enforced with a timerfd.
 *
 * Secrets: a URL's userinfo and query, and header values, never appear in an error text; the
 * buffers that held them are wiped. Error texts name the request as "GET scheme://host:port/path".
 */
#ifndef CKEDA_SCALEWORKER_HTTP_H
#define CKEDA_SCALEWORKER_HTTP_H

#include "scaleworker/net.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SW_HTTP_BODY_MAX (4u << 20) /* bytes of one response body */
#define SW_HTTP_HEAD_MAX 65536      /* bytes of a status line and headers */
#define SW_URL_SHOWN_MAX 512        /* scheme://host:port/path, for messages */

/* ---- URLs ---------------------------------------------------------------------------------- */

typedef struct sw_url {
    bool https;
    char host[SW_HOST_MAX];       /* without brackets */
    char port[SW_PORT_MAX];       /* 80 or 443 when the URL has none */
    char *authority;              /* host[:port] as written (the Host header), malloc'ed */
    char *path;                   /* path as written, "" for none, malloc'ed */
    char *query;                  /* after '?', without it; NULL when the URL has no '?' */
    char *userinfo;               /* percent-decoded "user[:password]" or NULL; wiped when freed */
    char shown[SW_URL_SHOWN_MAX]; /* scheme://authority/path: no userinfo, no query */
} sw_url_t;

/* Parses an absolute http or https URL as Go's url.Parse reads the ones users write. On failure
 * writes a reason into err (never quoting userinfo or query) and returns -EINVAL. */
int sw_url_parse(const char *s, size_t len, sw_url_t *ret, char *err, size_t errlen);
void sw_url_free(sw_url_t *u);
/* Replaces the query (NULL: none). 0 or -ENOMEM. */
int sw_url_set_query(sw_url_t *u, const char *query);
/* Appends Go's url.QueryEscape(s[0..len)) to a growing buffer: 0 or -ENOMEM. */
typedef struct sw_buf {
    char *p;
    size_t len, cap;
} sw_buf_t;
int sw_buf_add(sw_buf_t *b, const char *s, size_t len);
int sw_buf_addf(sw_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sw_buf_query_escape(sw_buf_t *b, const char *s, size_t len);
/* Wipes and frees. */
void sw_buf_free(sw_buf_t *b);
/* Percent-decodes in place (query decoding turns '+' into ' '). -EINVAL on a bad escape. */
int sw_url_unescape(char *s, bool query);

/* The proxy Go's ProxyFromEnvironment would pick for u: 1 with *ret filled (caller frees),
 * 0 for a direct connection, -EINVAL when the variable holds no usable http:// proxy URL. */
int sw_http_proxy_for(const sw_url_t *u, sw_url_t *ret, char *err, size_t errlen);

/* ---- the response parser (http_parse.c; pure, fuzzed) -------------------------------------- */

typedef enum {
    SW_HTTP_P_STATUS = 0,
    SW_HTTP_P_HEADERS,
    SW_HTTP_P_BODY,       /* Content-Length bytes, or up to the close */
    SW_HTTP_P_CHUNK_SIZE, /* chunked coding */
    SW_HTTP_P_CHUNK_DATA,
    SW_HTTP_P_CHUNK_END, /* the CRLF after a chunk's data */
    SW_HTTP_P_TRAILERS,
    SW_HTTP_P_DONE,
} sw_http_pstate_t;

typedef struct sw_http_parser {
    sw_http_pstate_t state;
    int status;      /* of the final (non-1xx) response */
    bool keep_alive; /* the connection may carry another request */
    bool no_body;    /* HEAD, CONNECT 2xx, 204, 304 */
    bool chunked;
    bool has_length;    /* Content-Length seen */
    bool until_close;   /* body delimited by the connection's end */
    uint64_t remaining; /* of Content-Length or of the current chunk */
    size_t body_max;
    size_t head_bytes; /* of this response's head, bounded by SW_HTTP_HEAD_MAX */
    char line[1024];   /* one line being assembled (longer header lines are skipped over) */
    size_t line_len;
    bool line_long; /* the line outgrew `line` */
    char *body;
    size_t body_len, body_cap;
    const char *error; /* why feed failed: a static text */
} sw_http_parser_t;

/* head_only: the request was HEAD or CONNECT (a 2xx CONNECT answer has no body). */
void sw_http_parser_init(sw_http_parser_t *p, size_t body_max, bool head_only);
/* Consumes bytes of the response. Returns how many it used (fewer than len once the response is
 * complete: the rest belongs to nobody), or -EBADMSG (malformed; p->error says why), -EFBIG (the
 * body or head passed its bound) or -ENOMEM. */
long sw_http_parser_feed(sw_http_parser_t *p, const char *buf, size_t len);
/* The connection ended: 0 when that completes the response (a body up to the close), else
 * -EPIPE. */
int sw_http_parser_eof(sw_http_parser_t *p);
/* Frees the body; the parser may be initialised again. */
void sw_http_parser_free(sw_http_parser_t *p);

/* ---- the client ---------------------------------------------------------------------------- */

typedef struct sw_http_tls_opts {
    bool unsafe_ssl;      /* skip certificate and host name verification */
    const char *ca_pem;   /* more trusted CAs (auth parameter `ca`), or NULL */
    const char *cert_pem; /* client certificate and key (auth `tls`), or NULL */
    const char *key_pem;
} sw_http_tls_opts_t;

typedef struct sw_http_header {
    const char *name;
    const char *value;
} sw_http_header_t;

typedef struct sw_http_response {
    int status;
    const char *body; /* NUL-terminated (not counted); valid during the callback only */
    size_t body_len;
} sw_http_response_t;

/* err 0: resp is the response (of any status). Otherwise -errno with a text naming the request
 * in errtext (resp NULL). Called from the loop, never from within sw_http_request(). */
typedef void (*sw_http_done_fn)(void *arg, int err, const sw_http_response_t *resp,
                                const char *errtext);

typedef struct sw_http sw_http_t;

/* A client with its TLS settings (checked now: a bad PEM is an error naming the parameter). NULL
 * on failure with a reason in err. */
sw_http_t *sw_http_new(const sw_http_tls_opts_t *tls, char *err, size_t errlen);
/* Starts a request (headers are copied; Host, Content-Length, Authorization from the URL's
 * userinfo and Proxy-Authorization are added). deadline_ms: monotonic ms (shm_now_mono_ms) of a
 * time limit of its own, 0 for none. Returns 0 (done follows from the loop) or -errno with a
 * reason in err when it could not start; one request at a time. */
int sw_http_request(sw_http_t *h, const char *method, const sw_url_t *url,
                    const sw_http_header_t *headers, size_t nheaders, const char *body,
                    size_t body_len, uint64_t deadline_ms, sw_http_done_fn done, void *arg,
                    char *err, size_t errlen);
/* Stops the request in flight, if any, and closes the connection; done is not called. Writes
 * what the request was waiting for into why ("connecting to host:port"). */
void sw_http_cancel(sw_http_t *h, char *why, size_t len);
/* Closes and frees. Accepts NULL. */
void sw_http_free(sw_http_t *h);

/* A parser bug on command, in test builds only (test_fault.c): a response header
 * `X-Ckeda-Test-Fault: crash` crashes the worker, `hang` spins it. */
#if defined(CKEDA_TEST_SCALERS) && !defined(CKEDA_FUZZING)
void sw_test_fault(const char *name, size_t nl, const char *value, size_t vl);
#define SW_TEST_FAULT(n, nl, v, vl) sw_test_fault(n, nl, v, vl)
#else
#define SW_TEST_FAULT(n, nl, v, vl) ((void)0)
#endif

#endif
