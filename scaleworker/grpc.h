/*
 * grpc: a minimal non-blocking gRPC client for scalers, on the worker's event loop. Runs in
 * scale workers (the `external` scalers).
 *
 * One sw_grpc_t is one HTTP/2 connection (libnghttp2 for the framing), kept between calls and
 * shared by every call its owner makes, as grpc-go keeps one ClientConn: h2c (plain), or h2
 * over TLS with OpenSSL (ALPN "h2", SNI for names, verification against the system CAs, the
 * custom CA directory (KEDA's --ca-dir) and an extra CA, an optional client certificate,
 * `unsafe` to skip verification as Go's InsecureSkipVerify). The connection is opened by the
 * first call and again by the first call after it failed.
 *
 * Calls: unary (one request, one reply) and server-streaming (one request, many replies) are the
 * same here: every reply message goes to on_msg, the end (grpc-status and grpc-message from the
 * trailers, or a local failure) to on_end, once. A call's deadline travels as grpc-timeout;
 * enforcing it is the owner's (the poll's deadline calls `cancel`). Messages are bounded by
 * SW_GRPC_MSG_MAX each way; a larger one ends the call with RESOURCE_EXHAUSTED, as grpc-go's
 * default receive limit does.
 *
 * Callbacks run from the loop and may start another call; they must not free the client. The
 * one exception: a call started after the server said GOAWAY replaces the connection, and the
 * other calls still open on the old one end (UNAVAILABLE) from within sw_grpc_call_start.
 */
#ifndef CKEDA_SCALEWORKER_GRPC_H
#define CKEDA_SCALEWORKER_GRPC_H

#include "scaleworker/net.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SW_GRPC_MSG_MAX (4u << 20) /* grpc-go's default maximum message size */
#define SW_GRPC_ERR_MAX 512

/* gRPC status codes (the ones this client produces or checks). */
enum {
    SW_GRPC_OK = 0,
    SW_GRPC_CANCELLED = 1,
    SW_GRPC_UNKNOWN = 2,
    SW_GRPC_DEADLINE_EXCEEDED = 4,
    SW_GRPC_RESOURCE_EXHAUSTED = 8,
    SW_GRPC_UNIMPLEMENTED = 12,
    SW_GRPC_INTERNAL = 13,
    SW_GRPC_UNAVAILABLE = 14,
};

typedef struct sw_grpc sw_grpc_t;
typedef struct sw_grpc_call sw_grpc_call_t;

/* A reply message (valid during the callback). Return 0, or -errno when it does not decode: the
 * call then ends (RST_STREAM) with INTERNAL "grpc: error unmarshalling the reply". */
typedef int (*sw_grpc_msg_fn)(sw_grpc_call_t *c, const uint8_t *msg, size_t len);
/* The call ended: code is the gRPC status (SW_GRPC_OK, or the server's, or UNAVAILABLE /
 * INTERNAL / ... for local failures as grpc-go names them); message is the server's grpc-message
 * (percent-decoded) or a local reason naming the address. */
typedef void (*sw_grpc_end_fn)(sw_grpc_call_t *c, int code, const char *message);

/* Embed one per concurrent call in the owner's state; fields are the client's. */
struct sw_grpc_call {
    sw_grpc_t *g;
    int32_t stream_id; /* 0 while not started */
    bool open;         /* started and not yet ended */
    bool got_status;
    int status;
    sw_grpc_msg_fn on_msg;
    sw_grpc_end_fn on_end;
    uint8_t *req; /* 5-byte prefix and the message */
    size_t req_len, req_off;
    uint8_t *in; /* reply bytes not yet a whole message */
    size_t in_len, in_cap;
    int http_status;
    bool grpc_content; /* content-type application/grpc seen */
    char message[SW_GRPC_ERR_MAX];
};

typedef struct sw_grpc_opts {
    const char *host, *port; /* the server (scalerAddress split) */
    bool tls;
    bool unsafe_ssl;
    const char *ca_pem;   /* another trusted CA (caCert), or NULL */
    const char *cert_pem; /* client certificate and key (tlsClientCert, tlsClientKey), or NULL */
    const char *key_pem;
} sw_grpc_opts_t;

/* A client (no connection yet). TLS material is checked now: a bad PEM is an error naming the
 * parameter. NULL on failure with a reason in err. */
sw_grpc_t *sw_grpc_new(const sw_grpc_opts_t *o, char *err, size_t errlen);
/* Ends every open call without callbacks, closes and frees. Accepts NULL. */
void sw_grpc_free(sw_grpc_t *g);

/* Starts a call of path ("/package.Service/Method") with one request message. timeout_ms > 0
 * is sent as grpc-timeout. 0, or -errno with a reason in err (then no callback follows). */
int sw_grpc_call_start(sw_grpc_t *g, sw_grpc_call_t *c, const char *path, const uint8_t *msg,
                       size_t len, uint32_t timeout_ms, sw_grpc_msg_fn on_msg,
                       sw_grpc_end_fn on_end, char *err, size_t errlen);
/* Ends a call without a callback (RST_STREAM CANCEL). Idempotent. */
void sw_grpc_call_cancel(sw_grpc_call_t *c);
/* Closes the connection: open calls end without callbacks; the next call reconnects. */
void sw_grpc_disconnect(sw_grpc_t *g);
/* The connection is up (TCP, TLS and HTTP/2 preface sent). */
bool sw_grpc_connected(const sw_grpc_t *g);
/* What the connection is doing, for a timeout's message: "connecting to host:port", ... */
const char *sw_grpc_phase(const sw_grpc_t *g);
/* The name of a status code as grpc-go writes it ("Unavailable"). */
const char *sw_grpc_code_name(int code);

#endif
