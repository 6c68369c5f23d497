/*
 * The serving certificate of cert rotation (watcher/certgen.c): what a new set holds, when a
 * set is renewed (the serving certificate alone under the same CA, or both), and that a set a
 * TLS client would refuse is never judged fine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "watcher/certs.h"

#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400L

static char sans[1024];

static int setup(void **state)
{
    return watch_certs_sans("keda", "cluster.local", sans, sizeof sans);
}

static X509 *pem_x509(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    return x;
}

static void test_watch_certs_sans_name_both_services(void **state)
{
    assert_non_null(strstr(sans, "DNS:keda-operator-metrics-apiserver.keda.svc,"));
    assert_non_null(strstr(sans, "DNS:keda-admission-webhooks.keda.svc.cluster.local"));
    char small[32];
    assert_int_equal(watch_certs_sans("keda", "cluster.local", small, sizeof small), -ENAMETOOLONG);
}

static void test_watch_certs_new_set_verifies_for_the_services(void **state)
{
    time_t now = time(NULL);
    watch_certs_t c = {0};

    assert_int_equal(watch_certs_make(NULL, sans, now, &c), 0);
    assert_int_equal(watch_certs_check(&c, sans, now), WATCH_CERTS_OK);
    /* a client trusting ca.crt accepts tls.crt for the Service names, as the aggregator does */
    X509 *ca = pem_x509(c.ca_crt), *leaf = pem_x509(c.tls_crt);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_add_cert(store, ca), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
    X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx),
                                "keda-operator-metrics-apiserver.keda.svc", 0);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    assert_int_equal(X509_verify_cert(ctx), 1);
    assert_int_equal(X509_check_host(leaf, "keda-admission-webhooks.keda.svc", 0, 0, NULL), 1);
    assert_int_not_equal(X509_check_host(leaf, "evil.example.com", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ca(leaf), 0);
    assert_int_not_equal(X509_check_ca(ca), 0);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(ca);
    X509_free(leaf);
    watch_certs_free(&c);
}

static void test_watch_certs_renewal_before_expiry(void **state)
{
    time_t now = time(NULL);
    watch_certs_t c = {0}, renewed = {0};

    assert_int_equal(watch_certs_make(NULL, sans, now, &c), 0);
    /* the serving certificate (365 days) is renewed 90 days before its end, under the same CA */
    assert_int_equal(watch_certs_check(&c, sans, now + 270 * DAY), WATCH_CERTS_OK);
    assert_int_equal(watch_certs_check(&c, sans, now + 280 * DAY), WATCH_CERTS_NEW_LEAF);
    assert_int_equal(watch_certs_make(&c, sans, now + 280 * DAY, &renewed), 0);
    assert_string_equal(renewed.ca_crt, c.ca_crt); /* no caBundle change */
    assert_string_not_equal(renewed.tls_crt, c.tls_crt);
    assert_int_equal(watch_certs_check(&renewed, sans, now + 280 * DAY), WATCH_CERTS_OK);
    /* the CA (3650 days) itself near its end: both */
    assert_int_equal(watch_certs_check(&renewed, sans, now + 3600 * DAY), WATCH_CERTS_NEW_CA);
    watch_certs_free(&renewed);
    watch_certs_free(&c);
}

static void test_watch_certs_unusable_sets_are_replaced(void **state)
{
    time_t now = time(NULL);
    watch_certs_t a = {0}, b = {0}, mixed, empty = {0};
    char other[1024];

    assert_int_equal(watch_certs_make(NULL, sans, now, &a), 0);
    assert_int_equal(watch_certs_make(NULL, sans, now, &b), 0);
    assert_int_equal(watch_certs_check(&empty, sans, now), WATCH_CERTS_NEW_CA);
    /* a serving certificate from another CA, or with another key: a new one */
    mixed = (watch_certs_t){a.ca_crt, a.ca_key, b.tls_crt, b.tls_key};
    assert_int_equal(watch_certs_check(&mixed, sans, now), WATCH_CERTS_NEW_LEAF);
    mixed = (watch_certs_t){a.ca_crt, a.ca_key, a.tls_crt, b.tls_key};
    assert_int_equal(watch_certs_check(&mixed, sans, now), WATCH_CERTS_NEW_LEAF);
    /* a CA whose key does not match: both */
    mixed = (watch_certs_t){a.ca_crt, b.ca_key, a.tls_crt, a.tls_key};
    assert_int_equal(watch_certs_check(&mixed, sans, now), WATCH_CERTS_NEW_CA);
    /* another namespace's names (the pod moved): a new serving certificate */
    assert_int_equal(watch_certs_sans("other", "cluster.local", other, sizeof other), 0);
    assert_int_equal(watch_certs_check(&a, other, now), WATCH_CERTS_NEW_LEAF);
    /* garbage */
    mixed = (watch_certs_t){"not a pem", "nor this", a.tls_crt, a.tls_key};
    assert_int_equal(watch_certs_check(&mixed, sans, now), WATCH_CERTS_NEW_CA);
    watch_certs_free(&a);
    watch_certs_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_certs_sans_name_both_services),
        cmocka_unit_test(test_watch_certs_new_set_verifies_for_the_services),
        cmocka_unit_test(test_watch_certs_renewal_before_expiry),
        cmocka_unit_test(test_watch_certs_unusable_sets_are_replaced),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
