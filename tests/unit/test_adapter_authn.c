/*
 * Who is asking (adapter/authn.c) on a real TLS connection: a front-proxy client certificate
 * (a CA and leaf made here, handshaken over a socketpair with OpenSSL) with X-Remote-* headers,
 * and the connection's memo (adp_authn_request_memo): a keep-alive request whose identity
 * headers are byte-identical to the previous request's gets the remembered identity; any
 * change of those headers, of the trust configuration (gen), or a request without an identity
 * gives a freshly parsed one, never the old.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "adapter/adp_tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a front proxy on the other end of a socketpair ---------------------------------------- */

typedef struct fixture {
    EVP_PKEY *ca_key, *leaf_key;
    X509 *ca, *leaf;
    SSL_CTX *sctx, *cctx;
    SSL *server, *client;
    int fds[2];
    adp_authcfg_t cfg;
    adp_peer_t peer;
    adp_authn_memo_t memo;
    adp_arena_t arena;
    char head[2048]; /* the request parsed last; its headers point here */
    adp_http_req_t req;
} fixture_t;

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_get_subject_name(x);
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 1 : 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, ca ? NID_basic_constraints : NID_ext_key_usage,
                              ca ? "critical,CA:TRUE" : "clientAuth");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    return x;
}

static int verify_any(int ok, X509_STORE_CTX *ctx)
{
    return 1; /* as the adapter: the certificate is judged per request, not in the handshake */
}

static void handshake(fixture_t *f)
{
    bool sdone = false, cdone = false;

    for (int i = 0; i < 1000 && !(sdone && cdone); i++) {
        if (!cdone) {
            int r = SSL_connect(f->client);
            cdone = r == 1;
            assert_true(r == 1 || SSL_get_error(f->client, r) == SSL_ERROR_WANT_READ);
        }
        if (!sdone) {
            int r = SSL_accept(f->server);
            sdone = r == 1;
            assert_true(r == 1 || SSL_get_error(f->server, r) == SSL_ERROR_WANT_READ);
        }
    }
    assert_true(sdone && cdone);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    X509_STORE *store = X509_STORE_new();

    f->ca_key = EVP_EC_gen("P-256");
    f->leaf_key = EVP_EC_gen("P-256");
    f->ca = make_cert(f->ca_key, "test-front-proxy-ca", NULL, NULL, true);
    f->leaf = make_cert(f->leaf_key, "front-proxy-client", f->ca, f->ca_key, false);
    X509_STORE_add_cert(store, f->ca);
    f->cfg.rh_ca = store;
    f->cfg.allowed_names = (adp_strlist_t){1, {strdup("front-proxy-client")}};
    f->cfg.user_headers = (adp_strlist_t){1, {strdup("X-Remote-User")}};
    f->cfg.group_headers = (adp_strlist_t){1, {strdup("X-Remote-Group")}};
    f->cfg.extra_prefixes = (adp_strlist_t){1, {strdup("X-Remote-Extra-")}};

    f->sctx = SSL_CTX_new(TLS_server_method());
    f->cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_use_certificate(f->sctx, f->ca); /* any serving certificate will do */
    SSL_CTX_use_PrivateKey(f->sctx, f->ca_key);
    SSL_CTX_set_verify(f->sctx, SSL_VERIFY_PEER, verify_any);
    SSL_CTX_use_certificate(f->cctx, f->leaf);
    SSL_CTX_use_PrivateKey(f->cctx, f->leaf_key);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, f->fds), 0);
    f->server = SSL_new(f->sctx);
    f->client = SSL_new(f->cctx);
    SSL_set_fd(f->server, f->fds[0]);
    SSL_set_fd(f->client, f->fds[1]);
    handshake(f);
    *state = f;
    return 0;
}

static void strlist_free(adp_strlist_t *l)
{
    for (uint32_t i = 0; i < l->n; i++)
        free(l->v[i]);
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    adp_authn_memo_clear(&f->memo);
    adp_peer_clear(&f->peer);
    adp_arena_free(&f->arena);
    SSL_free(f->server);
    SSL_free(f->client);
    SSL_CTX_free(f->sctx);
    SSL_CTX_free(f->cctx);
    close(f->fds[0]);
    close(f->fds[1]);
    X509_STORE_free(f->cfg.rh_ca);
    strlist_free(&f->cfg.allowed_names);
    strlist_free(&f->cfg.user_headers);
    strlist_free(&f->cfg.group_headers);
    strlist_free(&f->cfg.extra_prefixes);
    X509_free(f->ca);
    X509_free(f->leaf);
    EVP_PKEY_free(f->ca_key);
    EVP_PKEY_free(f->leaf_key);
    free(f);
    return 0;
}

/* One request on the connection, headers given as "Name: value\r\n" lines: the memo call's
 * result, with the identity in *id. The previous request's arena is reset, as httpd does. */
static int request(fixture_t *f, uint64_t gen, const char *headers, adp_identity_t *id)
{
    size_t scan = 0;
    int status = 0;
    int n = snprintf(f->head, sizeof f->head,
                     "GET /apis/external.metrics.k8s.io/v1beta1 HTTP/1.1\r\nHost: x\r\n%s\r\n",
                     headers);

    assert_true(n > 0 && (size_t)n < sizeof f->head);
    assert_int_equal(adp_http_parse(f->head, (size_t)n, &scan, &f->req, &status), 0);
    adp_arena_reset(&f->arena);
    return adp_authn_request_memo(&f->cfg, NULL, gen, f->server, &f->peer, &f->req, &f->arena,
                                  &f->memo, id);
}

static bool has_group(const adp_identity_t *id, const char *g)
{
    for (uint32_t i = 0; i < id->ngroups; i++)
        if (strcmp(id->groups[i], g) == 0)
            return true;
    return false;
}

#define HPA "X-Remote-User: system:serviceaccount:kube-system:horizontal-pod-autoscaler\r\n"
#define SA  "X-Remote-Group: system:serviceaccounts\r\n"

/* ---- tests --------------------------------------------------------------------------------- */

static void test_adp_authn_request_memo_same_headers_reuse_identity(void **state)
{
    fixture_t *f = *state;
    adp_identity_t id;

    assert_int_equal(request(f, 1, "Accept: application/json\r\n" HPA SA, &id), 0);
    assert_string_equal(id.user, "system:serviceaccount:kube-system:horizontal-pod-autoscaler");
    assert_string_equal(id.via, "front-proxy");
    assert_true(has_group(&id, "system:serviceaccounts"));
    assert_true(has_group(&id, "system:authenticated"));
    /* other headers may change: only the identity headers count */
    assert_int_equal(request(f, 1, HPA "User-Agent: kube-controller-manager\r\n" SA, &id), 1);
    assert_string_equal(id.user, "system:serviceaccount:kube-system:horizontal-pod-autoscaler");
    assert_int_equal(id.ngroups, 2);
    assert_true(has_group(&id, "system:serviceaccounts"));
    assert_true(has_group(&id, "system:authenticated"));
}

static void test_adp_authn_request_memo_changed_headers_parse_again(void **state)
{
    fixture_t *f = *state;
    adp_identity_t id;

    assert_int_equal(request(f, 1, HPA SA, &id), 0);
    assert_int_equal(request(f, 1, "X-Remote-User: alice\r\n" SA, &id), 0);
    assert_string_equal(id.user, "alice");
    assert_int_equal(request(f, 1, "X-Remote-User: alice\r\n" SA, &id), 1);
    assert_string_equal(id.user, "alice");
    /* one more group */
    assert_int_equal(
        request(f, 1, "X-Remote-User: alice\r\n" SA "X-Remote-Group: system:masters\r\n", &id), 0);
    assert_true(has_group(&id, "system:masters"));
    /* a group fewer */
    assert_int_equal(request(f, 1, "X-Remote-User: alice\r\n", &id), 0);
    assert_false(has_group(&id, "system:serviceaccounts"));
    assert_false(has_group(&id, "system:masters"));
    /* an extra */
    assert_int_equal(request(f, 1, "X-Remote-User: alice\r\nX-Remote-Extra-Scopes: view\r\n", &id),
                     0);
    assert_int_equal(id.nextras, 1);
    assert_string_equal(id.extras[0].key, "scopes");
    assert_string_equal(id.extras[0].value, "view");
    /* a value differing in case only is another user */
    assert_int_equal(request(f, 1, "X-Remote-User: Alice\r\nX-Remote-Extra-Scopes: view\r\n", &id),
                     0);
    assert_string_equal(id.user, "Alice");
}

static void test_adp_authn_request_memo_new_gen_or_no_identity_forgets(void **state)
{
    fixture_t *f = *state;
    adp_identity_t id;

    assert_int_equal(request(f, 1, HPA SA, &id), 0);
    assert_int_equal(request(f, 1, HPA SA, &id), 1);
    assert_int_equal(request(f, 2, HPA SA, &id), 0); /* the trust configuration changed */
    assert_int_equal(request(f, 2, HPA SA, &id), 1);
    /* no user header: not a front-proxy request, and this certificate is no client's: 401 */
    assert_int_equal(request(f, 2, SA, &id), -EACCES);
    assert_false(f->memo.valid);
    assert_int_equal(request(f, 2, HPA SA, &id), 0);
    assert_string_equal(id.user, "system:serviceaccount:kube-system:horizontal-pod-autoscaler");
}

static void test_adp_authn_request_memo_headers_of_others_ignored(void **state)
{
    fixture_t *f = *state;
    adp_identity_t id;

    /* the same certificate, but its CN no longer allowed: the headers count from nobody */
    free(f->cfg.allowed_names.v[0]);
    f->cfg.allowed_names.v[0] = strdup("someone-else");
    assert_int_equal(request(f, 1, HPA SA, &id), -EACCES);
    assert_int_equal(request(f, 1, HPA SA, &id), -EACCES);
    assert_false(f->memo.valid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_adp_authn_request_memo_same_headers_reuse_identity,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_adp_authn_request_memo_changed_headers_parse_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_adp_authn_request_memo_new_gen_or_no_identity_forgets,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_adp_authn_request_memo_headers_of_others_ignored,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
