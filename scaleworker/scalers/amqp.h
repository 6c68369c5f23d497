/*
 * amqp: a minimal AMQP 0-9-1 client for the rabbitmq scaler, on the worker's event loop. Runs in
 * the rabbitmq workers.
 *
 * It does one thing: Queue.Declare with passive set on channel 1, which answers the queue's
 * message count (what KEDA's QueueDeclarePassive reads). The connection is opened as
 * amqp091-go opens one (protocol header, Connection.Start/Start-Ok with PLAIN or EXTERNAL,
 * Tune/Tune-Ok, Open/Open-Ok, Channel.Open/Open-Ok), kept between requests, and closed with
 * Connection.Close. Heartbeats are switched off (Tune-Ok heartbeat 0): the worker has no timer
 * per connection, and a connection the broker dropped while idle is noticed (it is watched for
 * reads while idle) or, at the latest, by the next request, which then connects again once.
 *
 * The codec (frames, the methods above) is pure and bounded: a frame longer than
 * SW_AMQP_IN_MAX or a field that runs past its frame is malformed. It is fuzzed
 * (tests/fuzz/fuzz_amqp.c).
 *
 * Error texts follow amqp091-go's (`Exception (404) Reason: "NOT_FOUND - no queue 'q' in vhost
 * '/'"`); they never hold the password. Buffers that held it (Start-Ok) are wiped.
 */
#ifndef CKEDA_SCALEWORKER_AMQP_H
#define CKEDA_SCALEWORKER_AMQP_H

#include "scaleworker/http.h"
#include "scaleworker/net.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SW_AMQP_IN_MAX     16384 /* the largest frame we accept (and the frame-max we tune) */
#define SW_AMQP_SHORTSTR   255   /* queue and vhost names are short strings */
#define SW_AMQP_FRAME_HEAD 7
#define SW_AMQP_FRAME_END  0xCE

#define SW_AMQP_METHOD(c, m) ((uint32_t)(c) << 16 | (uint32_t)(m))
enum {
    SW_AMQP_CONNECTION_START = SW_AMQP_METHOD(10, 10),
    SW_AMQP_CONNECTION_START_OK = SW_AMQP_METHOD(10, 11),
    SW_AMQP_CONNECTION_TUNE = SW_AMQP_METHOD(10, 30),
    SW_AMQP_CONNECTION_TUNE_OK = SW_AMQP_METHOD(10, 31),
    SW_AMQP_CONNECTION_OPEN = SW_AMQP_METHOD(10, 40),
    SW_AMQP_CONNECTION_OPEN_OK = SW_AMQP_METHOD(10, 41),
    SW_AMQP_CONNECTION_CLOSE = SW_AMQP_METHOD(10, 50),
    SW_AMQP_CONNECTION_CLOSE_OK = SW_AMQP_METHOD(10, 51),
    SW_AMQP_CONNECTION_BLOCKED = SW_AMQP_METHOD(10, 60),
    SW_AMQP_CONNECTION_UNBLOCKED = SW_AMQP_METHOD(10, 61),
    SW_AMQP_CHANNEL_OPEN = SW_AMQP_METHOD(20, 10),
    SW_AMQP_CHANNEL_OPEN_OK = SW_AMQP_METHOD(20, 11),
    SW_AMQP_CHANNEL_CLOSE = SW_AMQP_METHOD(20, 40),
    SW_AMQP_CHANNEL_CLOSE_OK = SW_AMQP_METHOD(20, 41),
    SW_AMQP_QUEUE_DECLARE = SW_AMQP_METHOD(50, 10),
    SW_AMQP_QUEUE_DECLARE_OK = SW_AMQP_METHOD(50, 11),
};

enum {
    SW_AMQP_FRAME_METHOD = 1,
    SW_AMQP_FRAME_HEADER = 2,
    SW_AMQP_FRAME_BODY = 3,
    SW_AMQP_FRAME_HEARTBEAT = 8
};

/* ---- the codec (pure) ---------------------------------------------------------------------- */

typedef struct sw_amqp_frame {
    uint8_t type;
    uint16_t channel;
    const uint8_t *payload; /* points into the parsed buffer */
    uint32_t size;
} sw_amqp_frame_t;

/* One frame at the start of buf: 0 with *ret and *used, -EAGAIN when more bytes are needed,
 * -EMSGSIZE for a frame larger than max, -EBADMSG for a bad frame end. */
int sw_amqp_frame_parse(const uint8_t *buf, size_t len, size_t max, sw_amqp_frame_t *ret,
                        size_t *used);

/* The arguments of the methods we read. Strings are copied, truncated to their buffers. */
typedef struct sw_amqp_method {
    uint32_t id; /* SW_AMQP_METHOD(class, method) */
    /* Connection.Start */
    uint8_t version_major, version_minor;
    char mechanisms[256]; /* space-separated */
    /* Connection.Tune */
    uint16_t channel_max;
    uint32_t frame_max;
    uint16_t heartbeat;
    /* Connection.Close, Channel.Close */
    uint16_t reply_code, class_id, method_id;
    char reply_text[SW_AMQP_SHORTSTR + 1];
    /* Queue.Declare-Ok */
    uint32_t message_count, consumer_count;
    char queue[SW_AMQP_SHORTSTR + 1];
} sw_amqp_method_t;

/* A method frame's payload: 0, or -EBADMSG (a field runs past the payload). Methods other than
 * the ones above parse with only their id set. */
int sw_amqp_method_parse(const uint8_t *payload, size_t len, sw_amqp_method_t *ret);
/* Whether the space-separated list holds the word. */
bool sw_amqp_has_word(const char *list, const char *word);

/* Encoders append one whole frame (or the protocol header) to b: 0 or -ENOMEM / -EINVAL (a
 * short string longer than 255 bytes). */
int sw_amqp_put_header(sw_buf_t *b);
int sw_amqp_put_start_ok(sw_buf_t *b, const char *mechanism, const char *response,
                         size_t response_len, const char *connection_name);
int sw_amqp_put_tune_ok(sw_buf_t *b, uint16_t channel_max, uint32_t frame_max, uint16_t heartbeat);
int sw_amqp_put_open(sw_buf_t *b, const char *vhost);
int sw_amqp_put_close(sw_buf_t *b, uint16_t channel, bool channel_close);
int sw_amqp_put_close_ok(sw_buf_t *b, uint16_t channel, bool channel_close);
int sw_amqp_put_channel_open(sw_buf_t *b, uint16_t channel);
int sw_amqp_put_declare_passive(sw_buf_t *b, uint16_t channel, const char *queue);

/* amqp091-go's Error.Error(): `Exception (code) Reason: "reason"` with Go's %q quoting. */
void sw_amqp_exception(char *buf, size_t len, unsigned code, const char *reason);

/* ---- URIs ---------------------------------------------------------------------------------- */

/* amqp091-go's ParseURI: amqp:// or amqps://, host (localhost) and port (5672, 5671 for amqps),
 * username and password percent-decoded (guest and guest when absent), the vhost from the path
 * (unescaped; "/" for none). A query is ignored. */
typedef struct sw_amqp_uri {
    bool tls;
    char host[SW_HOST_MAX];
    char port[SW_PORT_MAX];
    char *username, *password; /* malloc'ed; wiped when freed */
    char *vhost;
    bool has_password; /* the URI carries a password of its own */
} sw_amqp_uri_t;

/* -EINVAL with a reason in err (never quoting userinfo), or -ENOMEM. */
int sw_amqp_uri_parse(const char *s, size_t len, sw_amqp_uri_t *ret, char *err, size_t errlen);
void sw_amqp_uri_free(sw_amqp_uri_t *u);

/* ---- the client ---------------------------------------------------------------------------- */

enum {
    SW_AMQP_ERR_CONNECT = 1, /* the connection could not be opened (KEDA: at scaler creation) */
    SW_AMQP_ERR_AUTH = 2,    /* the broker refused the credentials */
};

/* err 0: the queue's message count. Otherwise -errno with a text and SW_AMQP_ERR_* flags.
 * Called from the loop, never from within sw_amqp_declare(). */
typedef void (*sw_amqp_done_fn)(void *arg, int err, uint32_t message_count, const char *errtext,
                                unsigned flags);

typedef struct sw_amqp_opts {
    const char *host, *port;
    SSL_CTX *ctx; /* amqps: the caller's TLS context (kept by the caller); NULL: plain TCP */
    bool unsafe_ssl;
    bool external; /* SASL EXTERNAL (a client certificate) instead of PLAIN */
    const char *username, *password;
    const char *vhost;
    const char *connection_name; /* client property connection_name */
} sw_amqp_opts_t;

typedef struct sw_amqp sw_amqp_t;

/* Copies the options. NULL when out of memory. */
sw_amqp_t *sw_amqp_new(const sw_amqp_opts_t *o);
/* Starts a passive Queue.Declare of queue (at most 255 bytes), connecting first if needed.
 * 0 (done follows from the loop) or -errno with a reason in err; one request at a time. */
int sw_amqp_declare(sw_amqp_t *a, const char *queue, sw_amqp_done_fn done, void *arg, char *err,
                    size_t errlen);
/* Stops the request in flight and drops the connection; done is not called. Writes what the
 * request waited for into why. */
void sw_amqp_cancel(sw_amqp_t *a, char *why, size_t len);
/* Sends Connection.Close if the connection is open (never waits), closes and frees. NULL ok. */
void sw_amqp_free(sw_amqp_t *a);

#endif
