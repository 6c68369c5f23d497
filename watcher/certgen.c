/*
 * certgen: the CA and serving certificate of KEDA's cert rotation, made and judged with
 * OpenSSL (see certs.h). No I/O: certs.c keeps them in the Secret and the cert directory.
 *
 * Keys are P-256. The CA (CN ckeda-ca) is valid WATCH_CERTS_CA_DAYS, the serving certificate
 * WATCH_CERTS_LEAF_DAYS, for the DNS names of the metrics API and webhook Services in the pod
 * namespace (short, .svc and .svc.<cluster domain>), serverAuth only. A set is renewed
 * WATCH_CERTS_LOOKAHEAD_DAYS before an expiry, as KEDA's cert-controller does.
 */
#include "watcher/certs.h"

#include <errno.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const certs_services[] = {"keda-operator-metrics-apiserver",
                                             "keda-admission-webhooks"};

int watch_certs_sans(const char *ns, const char *domain, char *buf, size_t cap)
{
    size_t n = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof certs_services / sizeof certs_services[0]; i++) {
        const char *s = certs_services[i];
        int k = snprintf(buf + n, cap - n, "%sDNS:%s,DNS:%s.%s,DNS:%s.%s.svc,DNS:%s.%s.svc.%s",
                         n ? "," : "", s, s, ns, s, ns, s, ns, domain);
        if (k < 0 || (size_t)k >= cap - n)
            return -ENAMETOOLONG;
        n += (size_t)k;
    }
    return 0;
}

void watch_certs_free(watch_certs_t *c)
{
    char **f[] = {&c->ca_crt, &c->ca_key, &c->tls_crt, &c->tls_key};

    for (size_t i = 0; i < 4; i++) {
        if (*f[i])
            explicit_bzero(*f[i], strlen(*f[i]));
        free(*f[i]);
        *f[i] = NULL;
    }
}

/* ---- PEM in and out ---- */

static char *certs_bio_text(BIO *b)
{
    char *data, *s;
    long n = BIO_get_mem_data(b, &data);

    if (n < 0 || !(s = malloc((size_t)n + 1)))
        return NULL;
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

static char *certs_pem_x509(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = b && PEM_write_bio_X509(b, x) == 1 ? certs_bio_text(b) : NULL;

    BIO_free(b);
    return s;
}

static char *certs_pem_key(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1
                  ? certs_bio_text(b)
                  : NULL;

    BIO_free_all(b);
    return s;
}

static X509 *certs_read_x509(const char *pem)
{
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

    BIO_free(b);
    return x;
}

static EVP_PKEY *certs_read_key(const char *pem)
{
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;

    BIO_free(b);
    return k;
}

/* ---- making ---- */

static int certs_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *e;
    int ok;

    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    if (!(e = X509V3_EXT_conf_nid(NULL, &v3, nid, value)))
        return 0;
    ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

/* A certificate for key, named cn, valid days from now_s (an hour of clock skew allowed),
 * signed by (issuer, issuer_key), or self-signed when issuer is NULL. */
static X509 *certs_make(EVP_PKEY *key, const char *cn, long days, time_t now_s, X509 *issuer,
                        EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    int ok;

    if (!x || RAND_bytes(serial, sizeof serial) != 1)
        goto fail;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) && X509_set_version(x, 2) &&
         X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, &now_s) &&
         X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &now_s) && X509_set_pubkey(x, key) &&
         X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                    (const unsigned char *)cn, -1, -1, 0) &&
         X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
    BN_free(bn);
    if (!ok)
        goto fail;
    return x;
fail:
    X509_free(x);
    return NULL;
}

static X509 *certs_make_ca(EVP_PKEY *key, time_t now_s)
{
    X509 *x = certs_make(key, "ckeda-ca", WATCH_CERTS_CA_DAYS, now_s, NULL, NULL);

    if (x && certs_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") &&
        certs_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") &&
        certs_ext(x, x, NID_subject_key_identifier, "hash") && X509_sign(x, key, EVP_sha256()))
        return x;
    X509_free(x);
    return NULL;
}

static X509 *certs_make_leaf(EVP_PKEY *key, const char *sans, time_t now_s, X509 *ca,
                             EVP_PKEY *ca_key)
{
    X509 *x = certs_make(key, "keda-operator-metrics-apiserver", WATCH_CERTS_LEAF_DAYS, now_s, ca,
                         ca_key);

    if (x && certs_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") &&
        certs_ext(x, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
        certs_ext(x, ca, NID_ext_key_usage, "serverAuth") &&
        certs_ext(x, ca, NID_subject_alt_name, sans) && X509_sign(x, ca_key, EVP_sha256()))
        return x;
    X509_free(x);
    return NULL;
}

int watch_certs_make(const watch_certs_t *keep_ca, const char *sans, time_t now_s,
                     watch_certs_t *ret)
{
    EVP_PKEY *ca_key = keep_ca ? certs_read_key(keep_ca->ca_key) : EVP_EC_gen("P-256");
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *ca = keep_ca ? certs_read_x509(keep_ca->ca_crt) : NULL, *leaf = NULL;
    watch_certs_t c = {0};
    int r = -EINVAL;

    if (!ca && ca_key)
        ca = certs_make_ca(ca_key, now_s);
    if (ca && ca_key && key && (leaf = certs_make_leaf(key, sans, now_s, ca, ca_key))) {
        c.ca_crt = certs_pem_x509(ca);
        c.ca_key = certs_pem_key(ca_key);
        c.tls_crt = certs_pem_x509(leaf);
        c.tls_key = certs_pem_key(key);
        r = c.ca_crt && c.ca_key && c.tls_crt && c.tls_key ? 0 : -ENOMEM;
    }
    if (r == 0)
        *ret = c;
    else
        watch_certs_free(&c);
    X509_free(leaf);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return r;
}

/* ---- judging ---- */

/* Whether x is valid now and for the lookahead still. */
static bool certs_fresh(X509 *x, time_t now_s)
{
    time_t later = now_s + (time_t)WATCH_CERTS_LOOKAHEAD_DAYS * 86400;

    return X509_cmp_time(X509_get0_notBefore(x), &now_s) < 0 &&
           X509_cmp_time(X509_get0_notAfter(x), &later) > 0;
}

static bool certs_names_ok(X509 *x, const char *sans)
{
    char want[1024], *save = NULL;

    snprintf(want, sizeof want, "%s", sans);
    for (char *t = strtok_r(want, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (strncmp(t, "DNS:", 4) == 0 && X509_check_host(x, t + 4, 0, 0, NULL) != 1)
            return false;
    return true;
}

static bool certs_signed_by(X509 *leaf, X509 *ca)
{
    EVP_PKEY *pub = X509_get0_pubkey(ca);

    return pub && X509_verify(leaf, pub) == 1 && X509_check_issued(ca, leaf) == X509_V_OK;
}

watch_certs_need_t watch_certs_check(const watch_certs_t *c, const char *sans, time_t now_s)
{
    X509 *ca = certs_read_x509(c->ca_crt), *leaf = certs_read_x509(c->tls_crt);
    EVP_PKEY *ca_key = certs_read_key(c->ca_key), *key = certs_read_key(c->tls_key);
    watch_certs_need_t need = WATCH_CERTS_OK;

    if (!ca || !ca_key || X509_check_private_key(ca, ca_key) != 1 || !certs_fresh(ca, now_s))
        need = WATCH_CERTS_NEW_CA;
    else if (!leaf || !key || X509_check_private_key(leaf, key) != 1 || !certs_fresh(leaf, now_s) ||
             !certs_signed_by(leaf, ca) || !certs_names_ok(leaf, sans))
        need = WATCH_CERTS_NEW_LEAF;
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    return need;
}
