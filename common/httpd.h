/*
 * httpd: a small HTTPS/HTTP/1.1 server for the roles that serve the API server (the adapter's
 * metrics API, the webhook's admission reviews). Runs in the process of the role that uses it,
 * on that role's one event-loop thread.
 *
 * Layers, bottom up:
 *   httpd_arena.c   per-request memory (arena, growing buffers, slices)
 *   httpd_parse.c   the HTTP/1.1 request-head parser, percent and query decoding (untrusted
 *                   input, pure, fuzzed)
 *   httpd_json.c    JSON strings escaped as encoding/json does, metav1.Status bodies, reasons
 *   httpd_tls.c     server TLS context: --cert-dir (reloaded on change) or self-signed
 *   httpd_conn.c    one connection: TLS handshake, head, optional body, the role's callback,
 *                   response, keep-alive; a deadline in every state
 *   httpd_server.c  the epoll loop: inherited listeners (EPOLLEXCLUSIVE, non-blocking accept),
 *                   the role's own descriptors, timers, drain on stop
 *
 * What a role supplies is a serve callback: it gets a complete request (head, decoded path,
 * body if any) with the connection's arena, and answers with httpd_respond*() at once, or parks
 * the request (httpd_conn_wait) and answers later from another event. Limits: heads as
 * HTTPD_HEAD_MAX/HTTPD_LINE_MAX/HTTPD_HEADERS_MAX (431/414), bodies only with Content-Length
 * and only up to the server's body_max (413 otherwise, before the body is read; chunked
 * bodies 501), malformed requests 400 and the connection closed.
 *
 * The pure layers (arena, parse, json) need no OpenSSL headers; OpenSSL types appear here only
 * as struct tags.
 */
#ifndef CKEDA_COMMON_HTTPD_H
#define CKEDA_COMMON_HTTPD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* ---- httpd_arena.c -------------------------------------------------------------------------- */

typedef struct httpd_arena_chunk httpd_arena_chunk_t;

/* A bump allocator. Everything a request allocates comes from its connection's arena, which is
 * reset when the response has been written: no per-object frees, no leaks across requests. */
typedef struct httpd_arena {
    httpd_arena_chunk_t *head;
    size_t total; /* bytes allocated in chunks */
    size_t limit; /* 0: HTTPD_ARENA_LIMIT */
} httpd_arena_t;

#define HTTPD_ARENA_CHUNK 8192
#define HTTPD_ARENA_LIMIT (4u << 20) /* one request of the metrics API never needs more */

/* NULL when the limit is reached or memory runs out. n == 0 returns a valid pointer. */
void *httpd_arena_alloc(httpd_arena_t *a, size_t n);
char *httpd_arena_strndup(httpd_arena_t *a, const char *s, size_t n);
char *httpd_arena_strdup(httpd_arena_t *a, const char *s);
char *httpd_arena_printf(httpd_arena_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Frees every chunk but the first, which is kept (rewound) for the next request. */
void httpd_arena_reset(httpd_arena_t *a);
void httpd_arena_free(httpd_arena_t *a);

/* A growing byte buffer inside an arena; `failed` sticks once an append could not allocate. */
typedef struct httpd_sbuf {
    httpd_arena_t *arena;
    char *p;
    size_t len, cap;
    bool failed;
} httpd_sbuf_t;

void httpd_sbuf_init(httpd_sbuf_t *b, httpd_arena_t *a);
void httpd_sbuf_append(httpd_sbuf_t *b, const char *s, size_t n);
void httpd_sbuf_puts(httpd_sbuf_t *b, const char *s);
void httpd_sbuf_printf(httpd_sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct httpd_slice {
    const char *p;
    size_t n;
} httpd_slice_t;

/* Inline: called for every header of every request, mostly with literals whose length the
 * compiler then knows. */
static inline bool httpd_slice_eq(httpd_slice_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static inline bool httpd_slice_caseeq(httpd_slice_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && strncasecmp(s.p, lit, n) == 0;
}

/* ---- httpd_parse.c -------------------------------------------------------------------------- */

#define HTTPD_HEAD_MAX    16384 /* request line + headers */
#define HTTPD_LINE_MAX    8192  /* request line alone */
#define HTTPD_HEADERS_MAX 100

typedef enum { HTTPD_GET, HTTPD_HEAD, HTTPD_POST, HTTPD_OTHER } httpd_method_t;

typedef struct httpd_header {
    httpd_slice_t name, value; /* value without surrounding whitespace */
} httpd_header_t;

/* A parsed request head. Slices point into the caller's buffer. */
typedef struct httpd_req {
    httpd_method_t method;
    httpd_slice_t method_name;
    httpd_slice_t target; /* origin-form: path[?query] */
    int minor;            /* HTTP/1.<minor> */
    bool keep_alive;
    bool chunked; /* Transfer-Encoding present */
    uint64_t content_length;
    size_t head_len; /* bytes of the head, terminator included */
    uint32_t nheaders;
    httpd_header_t headers[HTTPD_HEADERS_MAX];
} httpd_req_t;

/* Incremental parse of the head at the start of buf[0..len). *scan carries the position up to
 * which an earlier call found no end of head (start it at 0; it only grows), so feeding the
 * bytes in pieces costs O(total). Returns 0 with *ret filled when the head is complete,
 * -EAGAIN when more bytes are needed, or -EPROTO with *ret_status set to the HTTP status to
 * answer (400, 414, 431, 501, 505) and the connection must close. Never reads past len.
 * Strict where leniency has caused request smuggling elsewhere: no obs-fold, no whitespace
 * before ':', one Content-Length value, no Transfer-Encoding, exactly one Host in HTTP/1.1. */
int httpd_parse(const char *buf, size_t len, size_t *scan, httpd_req_t *ret, int *ret_status);
/* The first header named name (case-insensitive) after index *pos (start at 0); advances
 * *pos. NULL when there is no further one. */
const httpd_header_t *httpd_header_next(const httpd_req_t *req, const char *name, uint32_t *pos);
/* Percent-decodes s (and '+' as a space when plus_space) into a NUL-terminated arena string.
 * -EINVAL on a bad escape or an encoded NUL; -ENOMEM. */
int httpd_unescape(httpd_arena_t *a, httpd_slice_t s, bool plus_space, char **ret);
/* Splits target into path and query. */
void httpd_target_split(httpd_slice_t target, httpd_slice_t *ret_path, httpd_slice_t *ret_query);
/* The first value of query parameter name, decoded. -ENOENT if absent, -EINVAL if malformed. */
int httpd_query_get(httpd_arena_t *a, httpd_slice_t query, const char *name, char **ret);

/* ---- httpd_json.c --------------------------------------------------------------------------- */

/* Appends s as a JSON string literal (quotes included), escaping as encoding/json does
 * (HTML-safe, invalid UTF-8 as U+FFFD). NULL is "". */
void httpd_json_string(httpd_sbuf_t *b, const char *s);
/* metav1.Status reason for an HTTP status ("NotFound", ...; "" when Kubernetes has none). */
const char *httpd_status_reason(int code);
const char *httpd_reason_phrase(int code);

typedef struct httpd_status_details {
    const char *name, *group, *kind; /* each may be NULL */
} httpd_status_details_t;

/* A metav1.Status body (status Failure) for code with message. */
void httpd_status_json(httpd_sbuf_t *b, int code, const char *message,
                       const httpd_status_details_t *details);

/* ---- httpd_tls.c ---------------------------------------------------------------------------- */

struct ssl_st;
struct ssl_ctx_st;
struct x509_st;
struct x509_store_st;
struct stack_st_X509;

typedef struct httpd_tls httpd_tls_t;

typedef struct httpd_tls_opts {
    const char *cert_dir;     /* tls.crt, tls.key, optional ca.crt; NULL or "": self-signed */
    bool request_client_cert; /* ask for (never require or judge) a client certificate */
    const char *self_cn;      /* CN of the self-signed certificate */
    const char *self_sans;    /* its subjectAltName, OpenSSL's syntax ("DNS:x,IP:y") */
    bool wait_for_files;      /* cert_dir is filled later (cert rotation): self-signed until then */
} httpd_tls_opts_t;

/* TLS 1.2 minimum, AEAD ciphers only for 1.2, no renegotiation, no session resumption, ALPN
 * http/1.1. Logs its failures. */
int httpd_tls_new(const httpd_tls_opts_t *opts, httpd_tls_t **ret);
void httpd_tls_free(httpd_tls_t *t);
/* Reloads the certificate directory if its files changed (checked at most every 10 s, or now
 * when force). Keeps the old context if the new files do not load. */
void httpd_tls_maybe_reload(httpd_tls_t *t, uint64_t now_ms, bool force);
struct ssl_ctx_st *httpd_tls_ctx(const httpd_tls_t *t);
/* ca.crt of the certificate directory, or NULL. Replaced (the old one freed) on reload. */
struct x509_store_st *httpd_tls_client_ca(const httpd_tls_t *t);
/* Drains OpenSSL's error queue into buf ("; "-separated). */
void httpd_tls_errors(char *buf, size_t size);
/* Whether leaf (with the peer's untrusted intermediates) chains to store for client auth. */
bool httpd_tls_chain_ok(struct x509_store_st *store, struct x509_st *leaf,
                        struct stack_st_X509 *untrusted);
/* A store of every certificate in a PEM bundle. -EINVAL if it holds none. */
int httpd_tls_store_from_pem(const char *pem, size_t n, struct x509_store_st **ret);

/* ---- httpd_server.c, httpd_conn.c ------------------------------------------------------------ */

#define HTTPD_CONNS_MAX 4096 /* per process by default (conns_max); past it the listeners pause */
#define HTTPD_HEADER_TIMEOUT_MS                                                                    \
    10000                                  /* TLS handshake, or a request (head and body) from its \
                                            * first byte */
#define HTTPD_IDLE_TIMEOUT_MS  120000      /* keep-alive between requests */
#define HTTPD_WRITE_TIMEOUT_MS 10000       /* one response */
#define HTTPD_DRAIN_MS         3000        /* responses in progress at stop */
#define HTTPD_DISCARD_MAX      (64u << 20) /* a refused body read and dropped, at most */

typedef struct httpd_server httpd_server_t;
typedef struct httpd_conn httpd_conn_t;

typedef struct httpd_listen {
    int fd;   /* an inherited listening socket; -1: none */
    bool tls; /* HTTPS with the server's TLS context, else plain HTTP */
    int tag;  /* the role's name for it (httpd_conn_listener) */
} httpd_listen_t;

#define HTTPD_LISTENERS_MAX 4

typedef struct httpd_config {
    httpd_listen_t listeners[HTTPD_LISTENERS_MAX];
    unsigned nlisteners;
    httpd_tls_t *tls;         /* for listeners with tls; the server does not own it */
    uint64_t body_max;        /* 0: requests with a body are refused (413) */
    size_t arena_limit;       /* per request; 0: HTTPD_ARENA_LIMIT */
    uint32_t wait_timeout_ms; /* a parked request (httpd_conn_wait) */
    uint32_t tick_ms;         /* how often tick runs (heartbeats, reloads) */
    void *ud;
    /* A complete request: answer with httpd_respond*() or park it with httpd_conn_wait(). */
    void (*serve)(httpd_conn_t *c, void *ud);
    /* A parked request ran out of wait_timeout_ms: answer it (else it is closed). */
    void (*wait_expired)(httpd_conn_t *c, void *ud);
    /* c is about to be freed (it may be parked): drop every reference to it. May be NULL. */
    void (*conn_closed)(httpd_conn_t *c, void *ud);
    /* Every tick_ms and after start-up. May be NULL. */
    void (*tick)(void *ud, uint64_t now_ms);
    size_t conn_user_size; /* zeroed bytes per connection for the role (httpd_conn_user) */
    unsigned conns_max;    /* connections at once; 0: HTTPD_CONNS_MAX */
    /* Every response queued (httpd's own 4xx included): its listener's tag, status and the
     * time since its request head was complete. For the role's request metrics; may be NULL. */
    void (*responded)(void *ud, int listener, int code, uint64_t elapsed_us);
} httpd_config_t;

/* Registers the listeners (EPOLLEXCLUSIVE) and creates the epoll set. NULL on failure (logged). */
httpd_server_t *httpd_server_new(const httpd_config_t *cfg);
void httpd_server_free(httpd_server_t *s);
/* A descriptor of the role's: fn runs when it is readable; false from fn stops the server.
 * keep_in_drain: still watched while responses drain after a stop. */
int httpd_server_watch(httpd_server_t *s, int fd, bool (*fn)(void *arg, uint64_t now_ms), void *arg,
                       bool keep_in_drain);
/* A role's two standing watches: the signal pipe (SIGHUP reloads tls's files, SIGTERM or SIGINT
 * stops the server) and the supervisor's liveness pipe (closed: the supervisor is gone, stop). */
int httpd_server_watch_role(httpd_server_t *s, httpd_tls_t *tls);
/* Serves until a watched descriptor's fn returns false, then stops accepting, closes idle
 * connections, lets responses in progress finish for up to HTTPD_DRAIN_MS and returns. */
void httpd_server_run(httpd_server_t *s);
unsigned httpd_server_conns(const httpd_server_t *s);
uint64_t httpd_server_requests(const httpd_server_t *s);

/* The request being served on c. */
typedef struct httpd_request {
    const httpd_req_t *head;
    char *path; /* percent-decoded, in the arena: the role may cut it up in place */
    httpd_slice_t query;
    const char *body; /* NUL-terminated (the NUL is not counted); NULL when there is none */
    size_t body_len;
} httpd_request_t;

const httpd_request_t *httpd_conn_request(const httpd_conn_t *c);
httpd_arena_t *httpd_conn_arena(httpd_conn_t *c);
int httpd_conn_listener(const httpd_conn_t *c);       /* its listener's tag */
struct ssl_st *httpd_conn_ssl(const httpd_conn_t *c); /* NULL on plain HTTP */
void *httpd_conn_user(httpd_conn_t *c);               /* conn_user_size bytes */
/* What the debug line of the response names (may be NULL: "-"); strings must live as long as
 * the request (arena or static). */
void httpd_conn_set_log(httpd_conn_t *c, const char *what, const char *who);

/* Queues the response: status line, headers (extra_headers: complete "Name: v\r\n" lines or
 * NULL), body (omitted for HEAD). Closes after it when the request or the server says so. */
void httpd_respond(httpd_conn_t *c, int code, const char *ctype, const httpd_sbuf_t *body,
                   const char *extra_headers);
/* A metav1.Status response (application/json). message NULL: "out of memory". */
void httpd_respond_status(httpd_conn_t *c, int code, const char *message,
                          const httpd_status_details_t *details, const char *extra_headers);
/* Parks the request from serve: no reading, wait_timeout_ms to be answered. */
void httpd_conn_wait(httpd_conn_t *c);
bool httpd_conn_waiting(const httpd_conn_t *c);
/* After a parked request was answered from elsewhere: carry on writing it. */
void httpd_conn_resume(httpd_conn_t *c);

#endif
