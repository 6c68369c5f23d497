/*
 * tls: see tls.h. Runs in scale workers, on their one event loop.
 *
 * Reading the CA directory blocks on the file system: it happens only when a client's context
 * is created (a trigger's first TLS connection or its configuration), never per request.
 */
#include "scaleworker/tls.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TLS_CA_FILE_MAX (1 << 22) /* a larger file in the CA directory is skipped */

static char *tls_ca_dir;

void sw_tls_set_ca_dir(const char *dir)
{
    free(tls_ca_dir);
    tls_ca_dir = dir && *dir ? strdup(dir) : NULL;
}

void sw_tls_why(SSL *ssl, char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

    if (v != X509_V_OK)
        snprintf(buf, len, "certificate verification failed: %s", X509_verify_cert_error_string(v));
    else if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "TLS failure");
    ERR_clear_error();
}

/* The number of certificates added, or -ENOMEM. */
static int tls_add_pem_cas(X509_STORE *st, const char *pem, size_t len)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x;
    int n = 0;

    if (!b)
        return -ENOMEM;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        X509_STORE_add_cert(st, x); /* a duplicate is not an error worth stopping for */
        X509_free(x);
        n++;
    }
    ERR_clear_error();
    BIO_free(b);
    return n;
}

static bool tls_skip_name(const char *name, bool skip_dotfiles)
{
    if (skip_dotfiles)
        return name[0] == '.';
    return strncmp(name, "..", 2) == 0 || strcmp(name, ".") == 0;
}

static void tls_add_file_cas(X509_STORE *st, const char *path)
{
    struct stat sb;

    if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > TLS_CA_FILE_MAX)
        return;
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    char *buf = malloc((size_t)sb.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)sb.st_size, f) : 0;
    fclose(f);
    if (buf)
        tls_add_pem_cas(st, buf, n);
    free(buf);
}

/* Every regular file of the CA directory, as KEDA's getRootCAs reads it. */
static void tls_add_dir_cas(X509_STORE *st, bool skip_dotfiles)
{
    DIR *d = tls_ca_dir ? opendir(tls_ca_dir) : NULL;
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        char path[4096];
        if (tls_skip_name(e->d_name, skip_dotfiles))
            continue;
        snprintf(path, sizeof path, "%s/%s", tls_ca_dir, e->d_name);
        tls_add_file_cas(st, path);
    }
    closedir(d);
}

static int tls_client_cert(SSL_CTX *ctx, const char *cert_pem, const char *key_pem)
{
    BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL, *more;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    int ok = x && k && SSL_CTX_use_certificate(ctx, x) == 1 &&
             SSL_CTX_use_PrivateKey(ctx, k) == 1 && SSL_CTX_check_private_key(ctx) == 1;

    while (ok && (more = PEM_read_bio_X509(cb, NULL, NULL, NULL))) /* the chain */
        if (SSL_CTX_add_extra_chain_cert(ctx, more) != 1)
            X509_free(more);
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    return ok ? 0 : -EINVAL;
}

/* The CAs and the client certificate of o; -EINVAL with a reason in err. */
static int tls_ctx_load(SSL_CTX *ctx, const sw_tls_client_opts_t *o, char *err, size_t errlen)
{
    char why[256];

    SSL_CTX_set_default_verify_paths(ctx);
    ERR_clear_error(); /* a system without a CA bundle still has the custom ones */
    tls_add_dir_cas(SSL_CTX_get_cert_store(ctx), o->skip_dotfiles);
    if (o->ca_pem && *o->ca_pem &&
        tls_add_pem_cas(SSL_CTX_get_cert_store(ctx), o->ca_pem, strlen(o->ca_pem)) <= 0) {
        snprintf(err, errlen, "%s", o->ca_err);
        return -EINVAL;
    }
    if (o->cert_pem && *o->cert_pem && o->key_pem && *o->key_pem &&
        tls_client_cert(ctx, o->cert_pem, o->key_pem) < 0) {
        sw_tls_why(NULL, why, sizeof why);
        snprintf(err, errlen, "%s: error parse X509KeyPair: %s", o->cert_field, why);
        return -EINVAL;
    }
    return 0;
}

int sw_tls_client_ctx_new(const sw_tls_client_opts_t *o, SSL_CTX **ret, char *err, size_t errlen)
{
    SSL_CTX *ctx;

    ERR_clear_error();
    if (!(ctx = SSL_CTX_new(TLS_client_method()))) {
        snprintf(err, errlen, "creating a TLS context: out of memory");
        return -ENOMEM;
    }
    SSL_CTX_set_min_proto_version(ctx, o->min_version);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (tls_ctx_load(ctx, o, err, errlen) < 0) {
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return -EINVAL;
    }
    ERR_clear_error();
    *ret = ctx;
    return 0;
}

static bool tls_is_ip(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

SSL *sw_tls_session_new(SSL_CTX *ctx, int fd, const char *host, bool unsafe)
{
    SSL *ssl;

    ERR_clear_error();
    if (!(ssl = SSL_new(ctx)) || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    if (!tls_is_ip(host))
        SSL_set_tlsext_host_name(ssl, host); /* SNI, as Go sends it: names only */
    if (unsafe) {
        SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
        if (tls_is_ip(host))
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
        else
            SSL_set1_host(ssl, host);
    }
    return ssl;
}

int sw_tls_handshake_step(SSL *ssl, uint32_t *ret_want, char *why, size_t len)
{
    int r, e;

    ERR_clear_error();
    if ((r = SSL_connect(ssl)) == 1)
        return 0;
    e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *ret_want = e == SSL_ERROR_WANT_READ ? SW_IO_READ : SW_IO_WRITE;
        return -EAGAIN;
    }
    sw_tls_why(ssl, why, len);
    if (e == SSL_ERROR_SYSCALL && strcmp(why, "TLS failure") == 0)
        snprintf(why, len, "connection closed during the TLS handshake");
    return -EPROTO;
}
