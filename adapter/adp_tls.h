/*
 * adp_tls: the adapter's private declarations that involve OpenSSL types: the authentication
 * configuration read from the cluster (kube.c) and the identity of a request (authn.c). Kept
 * apart from adp_internal.h so the pure parsers build without OpenSSL headers. The server TLS
 * context itself is common/httpd.h's.
 */
#ifndef CKEDA_ADAPTER_ADP_TLS_H
#define CKEDA_ADAPTER_ADP_TLS_H

#include "adapter/adp_internal.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

/* ---- the cluster's authentication configuration (kube.c builds it, authn.c reads it) ------ */

#define ADP_AUTHCFG_LIST_MAX 16

typedef struct adp_strlist {
    uint32_t n;
    char *v[ADP_AUTHCFG_LIST_MAX];
} adp_strlist_t;

/* ConfigMap kube-system/extension-apiserver-authentication, parsed. Immutable once published. */
typedef struct adp_authcfg {
    X509_STORE *client_ca; /* client-ca-file, or NULL */
    X509_STORE *rh_ca;     /* requestheader-client-ca-file, or NULL */
    adp_strlist_t allowed_names, user_headers, group_headers, extra_prefixes, uid_headers;
} adp_authcfg_t;

/* Parses the ConfigMap's data (a cJSON object). NULL with a message in err on failure. */
struct cJSON;
adp_authcfg_t *adp_authcfg_parse(const struct cJSON *data, char *err, size_t errlen);
void adp_authcfg_free(adp_authcfg_t *c);

/* ---- authn.c ------------------------------------------------------------------------------ */

/* What a connection's client certificate proves, computed once per connection and again when
 * the trust configuration changes (gen). */
typedef struct adp_peer {
    uint64_t gen;
    bool checked;
    bool front_proxy; /* chains to the requestheader CA, CN allowed */
    bool client;      /* chains to the client CA */
    char *cn;         /* malloc'ed, connection lifetime */
    char *orgs[ADP_GROUPS_MAX];
    uint32_t norgs;
} adp_peer_t;

void adp_peer_clear(adp_peer_t *p);
/* Establishes who sent req on ssl: front-proxy headers if the certificate is the front
 * proxy's, else the client certificate's CN and O. cfg may be NULL (no cluster), client_ca is
 * --cert-dir's ca.crt (NULL: the cluster's client-ca-file). 0, -EACCES (no identity: 401) or
 * -ENOMEM. */
int adp_authn_request(const adp_authcfg_t *cfg, X509_STORE *client_ca, uint64_t gen, SSL *ssl,
                      adp_peer_t *peer, const adp_http_req_t *req, adp_arena_t *a,
                      adp_identity_t *ret);

/* The identity a connection's requests last authenticated as, by certificate or front-proxy
 * headers: the next request reuses it when it carries byte-identical identity headers under
 * the same trust configuration (gen), instead of parsing them again. */
typedef struct adp_authn_memo {
    bool valid;
    uint64_t gen;
    char *blob; /* malloc'ed: the identity headers (headers_len bytes), then id's strings */
    size_t headers_len;
    adp_identity_t id; /* its strings point into blob */
} adp_authn_memo_t;

void adp_authn_memo_clear(adp_authn_memo_t *m);
/* adp_authn_request with the connection's memo: 1 when the identity is the memo's (the identity
 * headers are those of the request it was made from), 0 when it was established anew (and the
 * memo now holds it, memory permitting), else adp_authn_request's error (the memo cleared).
 * *ret is valid until the next call or adp_authn_memo_clear. */
int adp_authn_request_memo(const adp_authcfg_t *cfg, X509_STORE *client_ca, uint64_t gen, SSL *ssl,
                           adp_peer_t *peer, const adp_http_req_t *req, adp_arena_t *a,
                           adp_authn_memo_t *memo, adp_identity_t *ret);

#endif
