/*
 * conn: see conn.h. Runs in scale workers, on their loop.
 *
 * A TLS read that fails in a system call with errno 0 and nothing queued (an end of stream
 * without close_notify, as OpenSSL reports it without SSL_OP_IGNORE_UNEXPECTED_EOF's help) ends
 * the stream as a clean close does; a reset is a reset whether TLS runs or not.
 */
#include "scaleworker/conn.h"
#include "scaleworker/tls.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

void sw_conn_init(sw_conn_t *c)
{
    sw_tcp_init(&c->tcp);
    c->ssl = NULL;
}

int sw_conn_tls_start(sw_conn_t *c, SSL_CTX *ctx, const char *host, bool unsafe)
{
    c->ssl = sw_tls_session_new(ctx, c->tcp.io.fd, host, unsafe);
    return c->ssl ? 0 : -ENOMEM;
}

int sw_conn_handshake(sw_conn_t *c, char *why, size_t len)
{
    uint32_t want = 0;
    int r = sw_tls_handshake_step(c->ssl, &want, why, len);

    if (r != -EAGAIN)
        return r;
    if ((r = sw_io_want(&c->tcp.io, want)) < 0) {
        snprintf(why, len, "%s", strerror(-r));
        return r;
    }
    return -EAGAIN;
}

static uint32_t conn_ssl_want(int e)
{
    return e == SSL_ERROR_WANT_WRITE ? SW_IO_WRITE : SW_IO_READ;
}

/* A failed send() or recv(): -EAGAIN waiting for want, or -e with its text. */
static ssize_t conn_sys_fail(int e, uint32_t want, uint32_t *ret_want, char *why, size_t whylen)
{
    if (e == EAGAIN || e == EWOULDBLOCK) {
        *ret_want = want;
        return -EAGAIN;
    }
    snprintf(why, whylen, "%s", strerror(e));
    return -e;
}

static int conn_len(size_t len)
{
    return len > INT_MAX ? INT_MAX : (int)len;
}

ssize_t sw_conn_write(sw_conn_t *c, const void *buf, size_t len, uint32_t *ret_want, char *why,
                      size_t whylen)
{
    ssize_t n;

    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_write(c->ssl, buf, conn_len(len));
        if (r > 0)
            return r;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            *ret_want = conn_ssl_want(e);
            return -EAGAIN;
        }
        sw_tls_why(c->ssl, why, whylen);
        return -EPIPE;
    }
    while ((n = send(c->tcp.io.fd, buf, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n >= 0)
        return n;
    return conn_sys_fail(errno, SW_IO_WRITE, ret_want, why, whylen);
}

static ssize_t conn_tls_read(sw_conn_t *c, void *buf, size_t cap, uint32_t *ret_want, char *why,
                             size_t whylen)
{
    int r, e;

    ERR_clear_error();
    errno = 0; /* a stale value must not turn an EOF into a failure */
    if ((r = SSL_read(c->ssl, buf, conn_len(cap))) > 0)
        return r;
    e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *ret_want = conn_ssl_want(e);
        return -EAGAIN;
    }
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET)) {
        if (errno == 0)
            return 0;
        snprintf(why, whylen, "%s", strerror(ECONNRESET));
        return -ECONNRESET;
    }
    sw_tls_why(c->ssl, why, whylen);
    return -EPROTO;
}

ssize_t sw_conn_read(sw_conn_t *c, void *buf, size_t cap, uint32_t *ret_want, char *why,
                     size_t whylen)
{
    ssize_t n;

    if (c->ssl)
        return conn_tls_read(c, buf, cap, ret_want, why, whylen);
    while ((n = recv(c->tcp.io.fd, buf, cap, 0)) < 0 && errno == EINTR)
        ;
    if (n >= 0)
        return n;
    return conn_sys_fail(errno, SW_IO_READ, ret_want, why, whylen);
}

void sw_conn_write_now(sw_conn_t *c, const void *buf, size_t len)
{
    if (c->tcp.io.fd < 0 || len == 0)
        return;
    if (c->ssl) {
        ERR_clear_error();
        SSL_write(c->ssl, buf, conn_len(len));
        ERR_clear_error();
        return;
    }
    ssize_t n = send(c->tcp.io.fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
}

void sw_conn_close(sw_conn_t *c, bool notify)
{
    if (c->ssl) {
        ERR_clear_error();
        if (notify)
            SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
        ERR_clear_error();
    }
    sw_tcp_close(&c->tcp);
}
