/*
 * httpd_tls: httpd's server TLS (the serving role's process; OpenSSL is initialised there,
 * never in the supervisor).
 *
 * The serving certificate comes from --cert-dir (tls.crt, tls.key; KEDA's names) and is
 * reloaded when the files change (checked every HTTPD_TLS_RELOAD_MS and on the role's SIGHUP):
 * new connections get the new context, established ones keep theirs. ca.crt in the same
 * directory is loaded as a trust store for the role (the adapter's client CA, as KEDA passes
 * --client-ca-file=/certs/ca.crt). Without --cert-dir a self-signed certificate is generated in
 * memory at start (with a warning).
 *
 * TLS 1.2 minimum, AEAD ciphers only for 1.2, no renegotiation, no session resumption (so a
 * client certificate is presented on every connection and identity never depends on a cached
 * session). A role may ask for a client certificate; it is never required nor judged by the
 * handshake: the role decides what it means (the adapter checks it against each of its trust
 * stores with httpd_tls_chain_ok(), as Go's apiserver does).
 *
 * OpenSSL habits (nginx): clear the error queue before a call, drain it into the message after
 * a failure.
 */
#include "common/httpd.h"

#include "common/log.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HTTPD_TLS_RELOAD_MS 10000

struct httpd_tls {
    char dir[1024]; /* "" : self-signed */
    bool request_client_cert;
    bool wait_for_files;
    bool waiting; /* serving self-signed until dir holds tls.crt */
    char self_cn[64];
    char self_sans[512];
    SSL_CTX *ctx;
    X509_STORE *client_ca; /* ca.crt, or NULL */
    struct stat st[3];     /* tls.crt, tls.key, ca.crt when loaded */
    uint64_t next_check_ms;
};

static const char *const tls_files[3] = {"tls.crt", "tls.key", "ca.crt"};

void httpd_tls_errors(char *buf, size_t size)
{
    unsigned long e;
    size_t used = 0;

    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0 && used + 1 < size) {
        char one[256];
        ERR_error_string_n(e, one, sizeof one);
        used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "; " : "", one);
    }
    if (!buf[0])
        snprintf(buf, size, "no OpenSSL error recorded");
    ERR_clear_error();
}

static int tls_verify_any(int preverify, X509_STORE_CTX *x)
{
    (void)preverify;
    (void)x;
    return 1; /* judged after the handshake by the role, per trust store */
}

static int tls_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                    const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char h11[] = "\x08http/1.1";
    unsigned char *sel;

    if (SSL_select_next_proto(&sel, outlen, h11, sizeof h11 - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* h2 only: carry on without ALPN */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *tls_ctx_new(bool request_client_cert)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* A record in one read() instead of its 5-byte header first and then the rest. Safe here
     * because a connection reads until SSL_read wants more before it waits on epoll again
     * (httpd_conn.c), so no bytes are left in OpenSSL's buffer unseen. */
    SSL_CTX_set_read_ahead(ctx, 1);
    if (request_client_cert)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, tls_verify_any);
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn, NULL);
    return ctx;
}

/* A self-signed P-256 certificate for the role's names, valid a year. */
static int tls_self_signed(const httpd_tls_t *t, SSL_CTX *ctx)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509V3_CTX v3;
    X509_EXTENSION *san = NULL;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    int ok = 0;

    if (!key || !x || RAND_bytes(serial, sizeof serial) != 1)
        goto out;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) && X509_set_version(x, 2) &&
         X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) && X509_set_pubkey(x, key) &&
         X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                    (const unsigned char *)t->self_cn, -1, -1, 0) &&
         X509_set_issuer_name(x, X509_get_subject_name(x));
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ok = ok && (san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, t->self_sans)) &&
         X509_add_ext(x, san, -1) && X509_sign(x, key, EVP_sha256()) &&
         SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1;
out:
    X509_EXTENSION_free(san);
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(key);
    return ok ? 0 : -EINVAL;
}

static int tls_load_dir(httpd_tls_t *t, SSL_CTX *ctx, X509_STORE **ret_ca, struct stat st[3])
{
    char path[3][1100], err[512];

    for (int i = 0; i < 3; i++) {
        snprintf(path[i], sizeof path[i], "%s/%s", t->dir, tls_files[i]);
        if (stat(path[i], &st[i]) < 0) {
            if (i == 2 && errno == ENOENT) { /* ca.crt is optional */
                memset(&st[i], 0, sizeof st[i]);
                continue;
            }
            return log_error(-errno, "cannot read %s", path[i]);
        }
    }
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, path[0]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, path[1], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        httpd_tls_errors(err, sizeof err);
        return log_error(-EINVAL, "cannot load the serving certificate from %s: %s", t->dir, err);
    }
    *ret_ca = NULL;
    if (st[2].st_ino) {
        X509_STORE *ca = X509_STORE_new();
        if (!ca || X509_STORE_load_file(ca, path[2]) != 1) {
            httpd_tls_errors(err, sizeof err);
            X509_STORE_free(ca);
            return log_error(-EINVAL, "cannot load the client CA %s: %s", path[2], err);
        }
        *ret_ca = ca;
    }
    return 0;
}

/* With wait_for_files, whether tls.crt is still missing (said once). */
static bool tls_wait(httpd_tls_t *t)
{
    char path[1100];
    struct stat st;
    bool was = t->waiting;

    snprintf(path, sizeof path, "%s/tls.crt", t->dir);
    t->waiting = t->wait_for_files && stat(path, &st) < 0 && errno == ENOENT;
    if (t->waiting && !was)
        log_info("no serving certificate in %s yet: serving a self-signed one until the leader "
                 "writes it",
                 t->dir);
    return t->waiting;
}

static int tls_build(httpd_tls_t *t)
{
    SSL_CTX *ctx = tls_ctx_new(t->request_client_cert);
    X509_STORE *ca = NULL;
    struct stat st[3];
    char err[512];
    int r;

    if (!ctx) {
        httpd_tls_errors(err, sizeof err);
        return log_error(-ENOMEM, "cannot create a TLS context: %s", err);
    }
    memset(st, 0, sizeof st);
    r = t->dir[0] && !tls_wait(t) ? tls_load_dir(t, ctx, &ca, st) : tls_self_signed(t, ctx);
    if (r < 0) {
        if (!t->dir[0] || t->waiting) {
            httpd_tls_errors(err, sizeof err);
            log_error(r, "cannot generate a self-signed certificate: %s", err);
        }
        SSL_CTX_free(ctx);
        return r;
    }
    SSL_CTX_free(t->ctx);
    X509_STORE_free(t->client_ca);
    t->ctx = ctx;
    t->client_ca = ca;
    if (t->dir[0])
        memcpy(t->st, st, sizeof st);
    return 0;
}

int httpd_tls_new(const httpd_tls_opts_t *opts, httpd_tls_t **ret)
{
    httpd_tls_t *t = calloc(1, sizeof *t);
    int r;

    if (!t)
        return -ENOMEM;
    snprintf(t->dir, sizeof t->dir, "%s", opts->cert_dir ? opts->cert_dir : "");
    snprintf(t->self_cn, sizeof t->self_cn, "%s", opts->self_cn ? opts->self_cn : "ckeda");
    snprintf(t->self_sans, sizeof t->self_sans, "%s",
             opts->self_sans ? opts->self_sans : "DNS:localhost,IP:127.0.0.1,IP:::1");
    t->request_client_cert = opts->request_client_cert;
    t->wait_for_files = opts->wait_for_files;
    if (!t->dir[0])
        log_warning(0, "no --cert-dir: serving a self-signed certificate generated in memory "
                       "(deployments pass --cert-dir)");
    if ((r = tls_build(t)) < 0) {
        free(t);
        return r;
    }
    *ret = t;
    return 0;
}

static bool tls_changed(const httpd_tls_t *t)
{
    char path[1100];

    for (int i = 0; i < 3; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", t->dir, tls_files[i]);
        if (stat(path, &st) < 0)
            memset(&st, 0, sizeof st);
        if (st.st_ino != t->st[i].st_ino || st.st_size != t->st[i].st_size ||
            st.st_mtim.tv_sec != t->st[i].st_mtim.tv_sec ||
            st.st_mtim.tv_nsec != t->st[i].st_mtim.tv_nsec)
            return true;
    }
    return false;
}

void httpd_tls_maybe_reload(httpd_tls_t *t, uint64_t now_ms, bool force)
{
    if (!t->dir[0] || (!force && now_ms < t->next_check_ms))
        return;
    t->next_check_ms = now_ms + HTTPD_TLS_RELOAD_MS;
    if (!force && !tls_changed(t))
        return;
    if (tls_build(t) == 0)
        log_info("reloaded the serving certificate from %s", t->dir);
    /* on failure the previous certificate stays in use; tls_build logged why */
}

SSL_CTX *httpd_tls_ctx(const httpd_tls_t *t)
{
    return t->ctx;
}

X509_STORE *httpd_tls_client_ca(const httpd_tls_t *t)
{
    return t->client_ca;
}

void httpd_tls_free(httpd_tls_t *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    X509_STORE_free(t->client_ca);
    free(t);
}

bool httpd_tls_chain_ok(X509_STORE *store, X509 *leaf, STACK_OF(X509) * untrusted)
{
    X509_STORE_CTX *c;
    bool ok;

    if (!store || !leaf)
        return false;
    ERR_clear_error();
    if (!(c = X509_STORE_CTX_new()))
        return false;
    ok = X509_STORE_CTX_init(c, store, leaf, untrusted) == 1 &&
         X509_STORE_CTX_set_purpose(c, X509_PURPOSE_SSL_CLIENT) == 1 && X509_verify_cert(c) == 1;
    X509_STORE_CTX_free(c);
    ERR_clear_error();
    return ok;
}

int httpd_tls_store_from_pem(const char *pem, size_t n, X509_STORE **ret)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    X509_STORE *store = X509_STORE_new();
    X509 *x;
    int count = 0;

    if (!bio || !store || n > INT32_MAX) {
        BIO_free(bio);
        X509_STORE_free(store);
        return -ENOMEM;
    }
    ERR_clear_error();
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        count += X509_STORE_add_cert(store, x) == 1;
        X509_free(x);
    }
    ERR_clear_error(); /* the loop ends on "no start line" */
    BIO_free(bio);
    if (count == 0) {
        X509_STORE_free(store);
        return -EINVAL;
    }
    *ret = store;
    return 0;
}
