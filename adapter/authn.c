/*
 * authn: who is asking (adapter process), as k8s.io/apiserver's delegated authentication does
 * for custom-metrics-apiserver (control-plane.md 5.2):
 *
 * 1. A client certificate that chains to the requestheader CA and whose CN is in
 *    requestheader-allowed-names (any CN when the list is empty) is the front proxy: the user
 *    is the first non-empty value of the username headers (X-Remote-User), groups are every
 *    value of the group headers (X-Remote-Group, one per line), extras come from headers with
 *    the extra prefix (X-Remote-Extra-<escaped key>, key unescaped and lower-cased).
 * 2. Otherwise a certificate that chains to the client CA authenticates as its CN, groups O.
 * 3. Otherwise no identity here: request.c tries a bearer token (tokens.c), else 401.
 * Every identity also gets system:authenticated, as the apiserver adds it.
 *
 * The identity headers are trusted only under 1.; from anyone else they are ignored.
 *
 * A connection's identity is remembered (adp_authn_memo_t) with the identity headers it came
 * from: a keep-alive request that repeats them byte for byte on the same connection (the
 * aggregator's connections carry one identity after another, usually the HPA's) gets the same
 * identity without parsing them again. The memo never outlives a change of the trust
 * configuration, and authorization still looks up every request in its cache (authz.c).
 */
#include "adapter/adp_tls.h"

#include "common/json.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the ConfigMap ---------------------------------------------------------------------- */

static void strlist_free(adp_strlist_t *l)
{
    for (uint32_t i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

/* A key holding a JSON array of strings in a string ('["X-Remote-User"]'); absent: empty. */
static int authcfg_list(const cJSON *data, const char *key, adp_strlist_t *ret, char *err,
                        size_t errlen)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(data, key), *it;
    cJSON *arr;

    ret->n = 0;
    if (!cJSON_IsString(s))
        return 0;
    arr = cJSON_Parse(s->valuestring);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        snprintf(err, errlen, "%s is not a JSON array of strings", key);
        return -EINVAL;
    }
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || ret->n >= ADP_AUTHCFG_LIST_MAX ||
            !(ret->v[ret->n] = strdup(it->valuestring))) {
            cJSON_Delete(arr);
            strlist_free(ret);
            snprintf(err, errlen, "%s: bad or too many entries", key);
            return -EINVAL;
        }
        ret->n++;
    }
    cJSON_Delete(arr);
    return 0;
}

static int authcfg_ca(const cJSON *data, const char *key, X509_STORE **ret, char *err,
                      size_t errlen)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(data, key);

    *ret = NULL;
    if (!cJSON_IsString(s) || !s->valuestring[0])
        return 0;
    if (httpd_tls_store_from_pem(s->valuestring, strlen(s->valuestring), ret) < 0) {
        snprintf(err, errlen, "%s holds no PEM certificate", key);
        return -EINVAL;
    }
    return 0;
}

adp_authcfg_t *adp_authcfg_parse(const cJSON *data, char *err, size_t errlen)
{
    adp_authcfg_t *c = calloc(1, sizeof *c);

    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!cJSON_IsObject(data) ||
        authcfg_ca(data, "client-ca-file", &c->client_ca, err, errlen) < 0 ||
        authcfg_ca(data, "requestheader-client-ca-file", &c->rh_ca, err, errlen) < 0 ||
        authcfg_list(data, "requestheader-allowed-names", &c->allowed_names, err, errlen) < 0 ||
        authcfg_list(data, "requestheader-username-headers", &c->user_headers, err, errlen) < 0 ||
        authcfg_list(data, "requestheader-group-headers", &c->group_headers, err, errlen) < 0 ||
        authcfg_list(data, "requestheader-extra-headers-prefix", &c->extra_prefixes, err, errlen) <
            0 ||
        authcfg_list(data, "requestheader-uid-headers", &c->uid_headers, err, errlen) < 0) {
        if (!cJSON_IsObject(data))
            snprintf(err, errlen, "the ConfigMap has no data");
        adp_authcfg_free(c);
        return NULL;
    }
    return c;
}

void adp_authcfg_free(adp_authcfg_t *c)
{
    if (!c)
        return;
    X509_STORE_free(c->client_ca);
    X509_STORE_free(c->rh_ca);
    strlist_free(&c->allowed_names);
    strlist_free(&c->user_headers);
    strlist_free(&c->group_headers);
    strlist_free(&c->extra_prefixes);
    strlist_free(&c->uid_headers);
    free(c);
}

/* ---- the connection's certificate -------------------------------------------------------- */

void adp_peer_clear(adp_peer_t *p)
{
    free(p->cn);
    for (uint32_t i = 0; i < p->norgs; i++)
        free(p->orgs[i]);
    memset(p, 0, sizeof *p);
}

static char *peer_name_entry(X509_NAME *name, int idx)
{
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    char *s = n >= 0 ? strndup((const char *)utf8, (size_t)n) : NULL;

    OPENSSL_free(utf8);
    return s;
}

static void peer_names(adp_peer_t *p, X509 *leaf)
{
    X509_NAME *subj = X509_get_subject_name(leaf);
    int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);

    if (i >= 0)
        p->cn = peer_name_entry(subj, i);
    for (i = -1; (i = X509_NAME_get_index_by_NID(subj, NID_organizationName, i)) >= 0;)
        if (p->norgs < ADP_GROUPS_MAX && (p->orgs[p->norgs] = peer_name_entry(subj, i)))
            p->norgs++;
}

static bool peer_cn_allowed(const adp_authcfg_t *cfg, const char *cn)
{
    if (cfg->allowed_names.n == 0)
        return true;
    for (uint32_t i = 0; cn && i < cfg->allowed_names.n; i++)
        if (strcmp(cfg->allowed_names.v[i], cn) == 0)
            return true;
    return false;
}

static void peer_check(const adp_authcfg_t *cfg, X509_STORE *client_ca, uint64_t gen, SSL *ssl,
                       adp_peer_t *p)
{
    X509 *leaf = SSL_get0_peer_certificate(ssl);
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    X509_STORE *cca = client_ca ? client_ca : cfg ? cfg->client_ca : NULL;

    adp_peer_clear(p);
    p->gen = gen;
    p->checked = true;
    if (!leaf)
        return;
    peer_names(p, leaf);
    p->front_proxy = cfg && cfg->rh_ca && httpd_tls_chain_ok(cfg->rh_ca, leaf, chain) &&
                     peer_cn_allowed(cfg, p->cn);
    p->client = cca && httpd_tls_chain_ok(cca, leaf, chain) && p->cn && p->cn[0];
}

/* ---- the request's identity -------------------------------------------------------------- */

static bool authn_add_group(adp_identity_t *id, const char *g)
{
    for (uint32_t i = 0; i < id->ngroups; i++)
        if (strcmp(id->groups[i], g) == 0)
            return true;
    if (id->ngroups >= ADP_GROUPS_MAX)
        return false;
    id->groups[id->ngroups++] = g;
    return true;
}

static const char *authn_first(const adp_strlist_t *names, const adp_http_req_t *req,
                               adp_arena_t *a)
{
    for (uint32_t i = 0; i < names->n; i++) {
        uint32_t pos = 0;
        const adp_http_header_t *h;
        while ((h = adp_http_header_next(req, names->v[i], &pos)))
            if (h->value.n)
                return adp_arena_strndup(a, h->value.p, h->value.n);
    }
    return NULL;
}

static int authn_extras(const adp_authcfg_t *cfg, const adp_http_req_t *req, adp_arena_t *a,
                        adp_identity_t *id)
{
    for (uint32_t i = 0; i < req->nheaders; i++) {
        const adp_http_header_t *h = &req->headers[i];
        for (uint32_t k = 0; k < cfg->extra_prefixes.n; k++) {
            size_t pl = strlen(cfg->extra_prefixes.v[k]);
            char *key, *val;
            if (h->name.n <= pl || strncasecmp(h->name.p, cfg->extra_prefixes.v[k], pl) != 0)
                continue;
            if (adp_http_unescape(a, (adp_slice_t){h->name.p + pl, h->name.n - pl}, false, &key) <
                    0 ||
                id->nextras >= ADP_EXTRAS_MAX ||
                !(val = adp_arena_strndup(a, h->value.p, h->value.n)))
                return -EACCES; /* an extra we cannot carry would change the review */
            for (char *c = key; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            id->extras[id->nextras++] = (adp_extra_t){key, val};
            break;
        }
    }
    return 0;
}

static int authn_front_proxy(const adp_authcfg_t *cfg, const adp_http_req_t *req, adp_arena_t *a,
                             adp_identity_t *id)
{
    const char *uid = authn_first(&cfg->uid_headers, req, a);

    id->user = authn_first(&cfg->user_headers, req, a);
    if (!id->user)
        return -ENOENT; /* not a front-proxy request: try the certificate itself */
    id->uid = uid ? uid : "";
    for (uint32_t i = 0; i < cfg->group_headers.n; i++) {
        uint32_t pos = 0;
        const adp_http_header_t *h;
        while ((h = adp_http_header_next(req, cfg->group_headers.v[i], &pos))) {
            char *g = adp_arena_strndup(a, h->value.p, h->value.n);
            if (!g || !authn_add_group(id, g))
                return -EACCES;
        }
    }
    id->via = "front-proxy";
    return authn_extras(cfg, req, a, id);
}

int adp_authn_request(const adp_authcfg_t *cfg, X509_STORE *client_ca, uint64_t gen, SSL *ssl,
                      adp_peer_t *peer, const adp_http_req_t *req, adp_arena_t *a,
                      adp_identity_t *ret)
{
    adp_identity_t *id = ret;
    int r = -ENOENT;

    memset(id, 0, sizeof *id);
    if (!ssl)
        return -EACCES;
    if (!peer->checked || peer->gen != gen)
        peer_check(cfg, client_ca, gen, ssl, peer);
    if (peer->front_proxy)
        r = authn_front_proxy(cfg, req, a, id);
    if (r == -ENOENT && peer->client) {
        memset(id, 0, sizeof *id);
        id->user = peer->cn;
        id->uid = "";
        for (uint32_t i = 0; i < peer->norgs; i++)
            authn_add_group(id, peer->orgs[i]);
        id->via = "client-certificate";
        r = 0;
    }
    if (r < 0)
        return r == -ENOENT ? -EACCES : r;
    if (!authn_add_group(id, "system:authenticated"))
        return -EACCES;
    return 0;
}

/* ---- the connection's memo --------------------------------------------------------------- */

static bool authn_header_named(const adp_authcfg_t *cfg, adp_slice_t name)
{
    const adp_strlist_t *lists[] = {&cfg->user_headers, &cfg->uid_headers, &cfg->group_headers};

    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++)
        for (uint32_t i = 0; i < lists[l]->n; i++)
            if (adp_slice_caseeq(name, lists[l]->v[i]))
                return true;
    for (uint32_t k = 0; k < cfg->extra_prefixes.n; k++) {
        size_t pl = strlen(cfg->extra_prefixes.v[k]);
        if (name.n > pl && strncasecmp(name.p, cfg->extra_prefixes.v[k], pl) == 0)
            return true;
    }
    return false;
}

static void authn_put_slice(adp_sbuf_t *b, adp_slice_t s)
{
    uint32_t n = (uint32_t)s.n; /* a head is at most HTTPD_HEAD_MAX bytes */

    adp_sbuf_append(b, (const char *)&n, sizeof n);
    adp_sbuf_append(b, s.p, s.n);
}

/* Everything of req that decides its identity besides the certificate: the front proxy's
 * identity headers (every header its configuration names, in order, names and values
 * length-prefixed); nothing for another peer, whose headers are ignored. false when the
 * arena is full. */
static bool authn_identity_headers(const adp_authcfg_t *cfg, const adp_peer_t *peer,
                                   const adp_http_req_t *req, adp_arena_t *a, adp_sbuf_t *ret)
{
    adp_sbuf_init(ret, a);
    for (uint32_t i = 0; peer->front_proxy && i < req->nheaders; i++)
        if (authn_header_named(cfg, req->headers[i].name)) {
            authn_put_slice(ret, req->headers[i].name);
            authn_put_slice(ret, req->headers[i].value);
        }
    return !ret->failed;
}

void adp_authn_memo_clear(adp_authn_memo_t *m)
{
    free(m->blob);
    memset(m, 0, sizeof *m);
}

static const char *memo_copy(char **p, const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = memcpy(*p, s, n);

    *p += n;
    return copy;
}

static void memo_set(adp_authn_memo_t *m, uint64_t gen, const adp_sbuf_t *headers,
                     const adp_identity_t *id)
{
    const char *uid = id->uid ? id->uid : "";
    size_t need = headers->len + strlen(id->user) + 1 + strlen(uid) + 1;
    char *p;

    for (uint32_t i = 0; i < id->ngroups; i++)
        need += strlen(id->groups[i]) + 1;
    for (uint32_t i = 0; i < id->nextras; i++)
        need += strlen(id->extras[i].key) + 1 + strlen(id->extras[i].value) + 1;
    if (!(m->blob = malloc(need)))
        return; /* no memo: the next request is authenticated from scratch */
    if (headers->len)
        memcpy(m->blob, headers->p, headers->len);
    p = m->blob + headers->len;
    m->id = *id; /* counts and via (a literal) */
    m->id.user = memo_copy(&p, id->user);
    m->id.uid = memo_copy(&p, uid);
    for (uint32_t i = 0; i < id->ngroups; i++)
        m->id.groups[i] = memo_copy(&p, id->groups[i]);
    for (uint32_t i = 0; i < id->nextras; i++) {
        m->id.extras[i].key = memo_copy(&p, id->extras[i].key);
        m->id.extras[i].value = memo_copy(&p, id->extras[i].value);
    }
    m->headers_len = headers->len;
    m->gen = gen;
    m->valid = true;
}

/* Whether the memo's next recorded slice is s; moves *p past it. */
static bool memo_next_is(const char **p, const char *end, adp_slice_t s)
{
    uint32_t n;

    if ((size_t)(end - *p) < sizeof n)
        return false;
    memcpy(&n, *p, sizeof n);
    if (n != s.n || (size_t)(end - *p) - sizeof n < s.n || memcmp(*p + sizeof n, s.p, s.n) != 0)
        return false;
    *p += sizeof n + s.n;
    return true;
}

/* Whether req's identity headers are the memo's, compared in place (authn_identity_headers'
 * encoding) so that the usual case copies nothing. */
static bool memo_matches(const adp_authn_memo_t *m, uint64_t gen, const adp_authcfg_t *cfg,
                         const adp_peer_t *peer, const adp_http_req_t *req)
{
    const char *p = m->blob, *end = m->blob + m->headers_len;

    if (!m->valid || m->gen != gen)
        return false;
    for (uint32_t i = 0; peer->front_proxy && i < req->nheaders; i++)
        if (authn_header_named(cfg, req->headers[i].name) &&
            (!memo_next_is(&p, end, req->headers[i].name) ||
             !memo_next_is(&p, end, req->headers[i].value)))
            return false;
    return p == end;
}

int adp_authn_request_memo(const adp_authcfg_t *cfg, X509_STORE *client_ca, uint64_t gen, SSL *ssl,
                           adp_peer_t *peer, const adp_http_req_t *req, adp_arena_t *a,
                           adp_authn_memo_t *memo, adp_identity_t *ret)
{
    adp_sbuf_t headers;
    int r;

    if (ssl && (!peer->checked || peer->gen != gen))
        peer_check(cfg, client_ca, gen, ssl, peer);
    if (ssl && memo_matches(memo, gen, cfg, peer, req)) {
        *ret = memo->id;
        return 1;
    }
    adp_authn_memo_clear(memo);
    if ((r = adp_authn_request(cfg, client_ca, gen, ssl, peer, req, a, ret)) < 0)
        return r;
    if (authn_identity_headers(cfg, peer, req, a, &headers))
        memo_set(memo, gen, &headers, ret);
    return 0;
}

bool adp_identity_is_master(const adp_identity_t *id)
{
    for (uint32_t i = 0; i < id->ngroups; i++)
        if (strcmp(id->groups[i], "system:masters") == 0)
            return true;
    return false;
}
