/*
 * tls: the outbound TLS client contexts of the scalers' HTTP/1.1 and gRPC clients (http.c,
 * grpc.c). Runs in scale workers.
 *
 * A context trusts the system CAs, every PEM file of the custom CA directory (KEDA's --ca-dir,
 * as KEDA's getRootCAs reads it) and an optional extra CA, and may carry a client certificate
 * (with its chain) and key. The PEM texts passed in may be credentials: they are only read here,
 * never copied or quoted in an error text. The OpenSSL error queue is cleared before the calls
 * and left empty.
 */
#ifndef CKEDA_SCALEWORKER_TLS_H
#define CKEDA_SCALEWORKER_TLS_H

#include "scaleworker/scaler.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sw_tls_client_opts {
    int min_version;    /* TLS1_2_VERSION, ... */
    bool skip_dotfiles; /* skip every CA file whose name starts with '.', not only "." and
                         * the ".."-prefixed entries of a mounted Secret */
    const char *ca_pem; /* another trusted CA, NULL or "": none */
    const char *cert_pem, *key_pem; /* client certificate (then its chain) and key, NULL
                                     * or "": none (both are needed) */
    const char *ca_err;             /* the error text when ca_pem holds no certificate */
    const char *cert_field;         /* names cert_pem and key_pem in an error text */
} sw_tls_client_opts_t;

/* Where custom CA files live (KEDA's --ca-dir; a missing directory is skipped as KEDA does).
 * Read whenever a context is created. */
void sw_tls_set_ca_dir(const char *dir);
/* A new client context in *ret. On failure nothing is written to *ret and err holds the reason:
 * -ENOMEM, or -EINVAL for a CA or certificate and key that cannot be used. */
int sw_tls_client_ctx_new(const sw_tls_client_opts_t *o, SSL_CTX **ret, char *err, size_t errlen);
/* A client session on the connected socket fd to host: SNI for a name, and unless unsafe
 * (Go's InsecureSkipVerify) verification of the peer against host, a name or an address. NULL
 * when it cannot be created. */
SSL *sw_tls_session_new(SSL_CTX *ctx, int fd, const char *host, bool unsafe);
/* One step of the client handshake: 0 when it is done, -EAGAIN with what to wait for
 * (SW_IO_READ or SW_IO_WRITE) in *ret_want, or -EPROTO with the reason in why. */
int sw_tls_handshake_step(SSL *ssl, uint32_t *ret_want, char *why, size_t len);
/* Why a TLS call failed: the verification result of ssl (may be NULL) if it failed, else the
 * first queued OpenSSL error. Empties the error queue. */
void sw_tls_why(SSL *ssl, char *buf, size_t len);

#endif
