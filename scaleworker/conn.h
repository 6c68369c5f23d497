/*
 * conn: the byte stream of a scaler's client: a TCP connection (net.h), in clear or inside a TLS
 * session (tls.h), read and written without blocking. Runs in scale workers, on their loop; the
 * HTTP/1.1 (http.c), gRPC (grpc.c), AMQP (amqp.c) and RESP (redis_client.c) clients embed one.
 *
 * Reads and writes never change the interest of tcp.io: they say what to wait for, and the
 * client, which knows what else it waits for, sets it. The OpenSSL error queue is cleared before
 * each call and left empty. Error texts name no peer and hold no data: the client adds the names.
 */
#ifndef CKEDA_SCALEWORKER_CONN_H
#define CKEDA_SCALEWORKER_CONN_H

#include "scaleworker/net.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct sw_conn {
    sw_tcp_t tcp; /* connected with sw_tcp_connect() */
    SSL *ssl;     /* NULL: in clear */
} sw_conn_t;

void sw_conn_init(sw_conn_t *c);
/* Starts TLS on the connected socket for host: SNI for a name, and unless unsafe (Go's
 * InsecureSkipVerify) verification against host. 0, or -ENOMEM when no session was created. */
int sw_conn_tls_start(sw_conn_t *c, SSL_CTX *ctx, const char *host, bool unsafe);
/* One step of the TLS handshake: 0 when it is done; -EAGAIN when it waits (the interest of
 * tcp.io is set to what it waits for); or -errno with the reason in why. */
int sw_conn_handshake(sw_conn_t *c, char *why, size_t len);
/* Writes up to len bytes. Returns how many, -EAGAIN with what to wait for in *ret_want
 * (SW_IO_READ or SW_IO_WRITE), or -errno with the reason in why (-EPIPE for any TLS failure). */
ssize_t sw_conn_write(sw_conn_t *c, const void *buf, size_t len, uint32_t *ret_want, char *why,
                      size_t whylen);
/* Reads up to cap bytes. Returns how many, 0 at the end of the stream, -EAGAIN with what to
 * wait for in *ret_want, or -errno with the reason in why (-ECONNRESET for a reset, TLS or not;
 * -EPROTO for another TLS failure). */
ssize_t sw_conn_read(sw_conn_t *c, void *buf, size_t cap, uint32_t *ret_want, char *why,
                     size_t whylen);
/* Best effort, never waiting, errors ignored: one write of a goodbye before the close. */
void sw_conn_write_now(sw_conn_t *c, const void *buf, size_t len);
/* Closes the connection or abandons the attempt. With notify, a TLS session first sends one
 * close_notify, never waited for. Idempotent. */
void sw_conn_close(sw_conn_t *c, bool notify);

#endif
