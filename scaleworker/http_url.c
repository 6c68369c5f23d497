/*
 * http_url: URLs for the scalers' HTTP client (http.h): parsing the absolute http(s) URLs users
 * write in trigger metadata, Go's query escaping, and the proxy Go's ProxyFromEnvironment would
 * choose. Runs in scale workers; pure apart from reading the environment.
 *
 * Invariant: `shown`, the only part of a URL that goes into messages, never holds userinfo or a
 * query (either may carry a credential).
 */
#include "scaleworker/http.h"

#include "common/base64.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- growing buffers ----------------------------------------------------------------------- */

static int sw_buf_grow(sw_buf_t *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *n = malloc(cap);
    if (!n)
        return -ENOMEM;
    if (b->p) {
        memcpy(n, b->p, b->len + 1);
        explicit_bzero(b->p, b->cap); /* it may have held a credential */
        free(b->p);
    }
    b->p = n;
    b->cap = cap;
    return 0;
}

int sw_buf_add(sw_buf_t *b, const char *s, size_t len)
{
    if (sw_buf_grow(b, len) < 0)
        return -ENOMEM;
    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

int sw_buf_addf(sw_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof small)
        return sw_buf_add(b, small, (size_t)n);
    if (sw_buf_grow(b, (size_t)n) < 0)
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void sw_buf_free(sw_buf_t *b)
{
    if (b->p) {
        explicit_bzero(b->p, b->cap);
        free(b->p);
    }
    memset(b, 0, sizeof *b);
}

/* Go's url.QueryEscape: unreserved bytes stay, space becomes '+', the rest %XX. */
int sw_buf_query_escape(sw_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";

    if (sw_buf_grow(b, 3 * len) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            b->p[b->len++] = (char)c;
        } else if (c == ' ') {
            b->p[b->len++] = '+';
        } else {
            b->p[b->len++] = '%';
            b->p[b->len++] = hex[c >> 4];
            b->p[b->len++] = hex[c & 15];
        }
    }
    b->p[b->len] = '\0';
    return 0;
}

int sw_url_unescape(char *s, bool query)
{
    char *o = s;

    for (; *s; s++) {
        if (*s == '%') {
            int hi = base16_digit(s[1]), lo = hi < 0 ? -1 : base16_digit(s[2]);
            if (lo < 0)
                return -EINVAL;
            *o++ = (char)(hi * 16 + lo);
            s += 2;
        } else {
            *o++ = query && *s == '+' ? ' ' : *s;
        }
    }
    *o = '\0';
    return 0;
}

/* ---- URLs ---------------------------------------------------------------------------------- */

void sw_url_free(sw_url_t *u)
{
    if (!u)
        return;
    if (u->userinfo)
        explicit_bzero(u->userinfo, strlen(u->userinfo));
    if (u->query)
        explicit_bzero(u->query, strlen(u->query));
    free(u->userinfo);
    free(u->query);
    free(u->authority);
    free(u->path);
    memset(u, 0, sizeof *u);
}

int sw_url_set_query(sw_url_t *u, const char *query)
{
    char *q = query ? strdup(query) : NULL;

    if (query && !q)
        return -ENOMEM;
    if (u->query)
        explicit_bzero(u->query, strlen(u->query));
    free(u->query);
    u->query = q;
    return 0;
}

static char *sw_strndup0(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int sw_url_bad(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -EINVAL;
}

/* host[:port] or [v6][:port] of the authority (userinfo removed). */
static int sw_url_hostport(sw_url_t *u, const char *a, size_t n, char *err, size_t errlen)
{
    const char *h = a, *port = NULL;
    size_t hl = n, pl = 0;

    if (n > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (!close)
            return sw_url_bad(err, errlen, "missing ']' in host");
        h = a + 1;
        hl = (size_t)(close - h);
        if ((size_t)(close + 1 - a) < n) {
            if (close[1] != ':')
                return sw_url_bad(err, errlen, "invalid port after host");
            port = close + 2;
            pl = n - (size_t)(port - a);
        }
    } else {
        const char *colon = memrchr(a, ':', n);
        if (colon) {
            hl = (size_t)(colon - a);
            port = colon + 1;
            pl = n - hl - 1;
        }
    }
    if (hl == 0)
        return sw_url_bad(err, errlen, "missing host in URL");
    if (hl >= sizeof u->host || memchr(h, ':', hl) != NULL) {
        if (a[0] != '[' || hl >= sizeof u->host)
            return sw_url_bad(err, errlen, "invalid host in URL");
    }
    memcpy(u->host, h, hl);
    u->host[hl] = '\0';
    for (size_t i = 0; i < hl; i++)
        if ((unsigned char)h[i] <= ' ' || strchr("/?#@%", h[i]))
            return sw_url_bad(err, errlen, "invalid character in host");
    if (port && pl > 0) {
        long v = 0;
        for (size_t i = 0; i < pl; i++) {
            if (port[i] < '0' || port[i] > '9' || pl > 5)
                return sw_url_bad(err, errlen, "invalid port in URL");
            v = v * 10 + (port[i] - '0');
        }
        if (v < 1 || v > 65535)
            return sw_url_bad(err, errlen, "invalid port in URL");
        memcpy(u->port, port, pl);
        u->port[pl] = '\0';
    } else {
        snprintf(u->port, sizeof u->port, "%s", u->https ? "443" : "80");
    }
    return 0;
}

static int sw_url_parse_into(const char *s, size_t len, sw_url_t *u, char *err, size_t errlen)
{
    const char *end = s + len, *p, *auth, *auth_end, *at = NULL;

    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
            return sw_url_bad(err, errlen, "invalid control character in URL");
    if (len >= 7 && strncasecmp(s, "http://", 7) == 0) {
        p = s + 7;
    } else if (len >= 8 && strncasecmp(s, "https://", 8) == 0) {
        u->https = true;
        p = s + 8;
    } else {
        const char *colon = memchr(s, ':', len);
        return sw_url_bad(err, errlen,
                          colon ? "unsupported protocol scheme (http or https)"
                                : "missing protocol scheme (http:// or https://)");
    }
    auth = p;
    while (p < end && *p != '/' && *p != '?' && *p != '#')
        p++;
    auth_end = p;
    for (const char *q = auth; q < auth_end; q++)
        if (*q == '@')
            at = q; /* Go splits at the last '@' */
    if (at) {
        if (!(u->userinfo = sw_strndup0(auth, (size_t)(at - auth))))
            return -ENOMEM;
        if (sw_url_unescape(u->userinfo, false) < 0)
            return sw_url_bad(err, errlen, "invalid escape in URL userinfo");
        auth = at + 1;
    }
    int r = sw_url_hostport(u, auth, (size_t)(auth_end - auth), err, errlen);
    if (r < 0)
        return r;
    if (!(u->authority = sw_strndup0(auth, (size_t)(auth_end - auth))))
        return -ENOMEM;
    const char *path = p;
    while (p < end && *p != '?' && *p != '#')
        p++;
    if (!(u->path = sw_strndup0(path, (size_t)(p - path))))
        return -ENOMEM;
    if (p < end && *p == '?') {
        const char *q = ++p;
        while (p < end && *p != '#')
            p++;
        if (!(u->query = sw_strndup0(q, (size_t)(p - q))))
            return -ENOMEM;
    }
    snprintf(u->shown, sizeof u->shown, "%s://%s%s", u->https ? "https" : "http", u->authority,
             u->path);
    return 0;
}

int sw_url_parse(const char *s, size_t len, sw_url_t *ret, char *err, size_t errlen)
{
    sw_url_t u = {0};
    int r = sw_url_parse_into(s, len, &u, err, errlen);

    if (r < 0) {
        if (r == -ENOMEM)
            snprintf(err, errlen, "out of memory");
        sw_url_free(&u);
        return r;
    }
    *ret = u;
    return 0;
}

/* ---- proxies ------------------------------------------------------------------------------- */

static const char *sw_env_any(const char *upper, const char *lower)
{
    const char *v = getenv(upper);
    if (!v || !*v)
        v = getenv(lower);
    return v && *v ? v : NULL;
}

static bool sw_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* One NO_PROXY entry against host and port, as golang.org/x/net/http/httpproxy matches. */
static bool sw_no_proxy_entry(const char *e, size_t n, const sw_url_t *u)
{
    char ent[SW_HOST_MAX + 16], *slash, *eport = NULL;
    unsigned char ha[16], ea[16];
    int fam;

    if (n == 0 || n >= sizeof ent)
        return false;
    memcpy(ent, e, n);
    ent[n] = '\0';
    for (char *c = ent; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (strcmp(ent, "*") == 0)
        return true;
    if ((slash = strchr(ent, '/'))) { /* CIDR */
        int bits = atoi(slash + 1);
        *slash = '\0';
        fam = strchr(ent, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(fam, ent, ea) != 1 || inet_pton(fam, u->host, ha) != 1)
            return false;
        int max = fam == AF_INET ? 32 : 128;
        if (bits < 0 || bits > max)
            return false;
        for (int i = 0; i < bits; i++)
            if (((ha[i / 8] ^ ea[i / 8]) >> (7 - i % 8)) & 1)
                return false;
        return true;
    }
    if (inet_pton(AF_INET, ent, ea) == 1 || inet_pton(AF_INET6, ent, ea) == 1)
        return strcasecmp(ent, u->host) == 0;
    /* host[:port], ".suffix" or "suffix" (matching the name and its subdomains) */
    char *colon = strrchr(ent, ':');
    if (colon && !strchr(ent, ']')) {
        *colon = '\0';
        eport = colon + 1;
    }
    if (eport && strcmp(eport, u->port) != 0)
        return false;
    const char *name = ent[0] == '*' && ent[1] == '.' ? ent + 1 : ent;
    size_t hl = strlen(u->host), nl = strlen(name);
    if (name[0] == '.')
        return hl > nl - 1 && strcasecmp(u->host + hl - nl, name) == 0
                   ? true
                   : strcasecmp(u->host, name + 1) == 0;
    if (strcasecmp(u->host, name) == 0)
        return true;
    return hl > nl && u->host[hl - nl - 1] == '.' && strcasecmp(u->host + hl - nl, name) == 0;
}

int sw_http_proxy_for(const sw_url_t *u, sw_url_t *ret, char *err, size_t errlen)
{
    const char *proxy = u->https ? sw_env_any("HTTPS_PROXY", "https_proxy")
                                 : sw_env_any("HTTP_PROXY", "http_proxy");
    const char *no = sw_env_any("NO_PROXY", "no_proxy");
    char buf[2048];

    if (!proxy || sw_is_loopback(u->host))
        return 0;
    for (const char *s = no; s && *s;) {
        const char *c = strchr(s, ',');
        size_t n = c ? (size_t)(c - s) : strlen(s);
        const char *e = s;
        while (n > 0 && isspace((unsigned char)*e)) {
            e++;
            n--;
        }
        while (n > 0 && isspace((unsigned char)e[n - 1]))
            n--;
        if (sw_no_proxy_entry(e, n, u))
            return 0;
        s = c ? c + 1 : NULL;
    }
    /* Go treats a proxy without a scheme as http://. */
    if (!strstr(proxy, "://"))
        snprintf(buf, sizeof buf, "http://%s", proxy);
    else
        snprintf(buf, sizeof buf, "%s", proxy);
    if (strncasecmp(buf, "http://", 7) != 0) {
        snprintf(err, errlen, "%s: only http:// proxies are supported by ckeda",
                 u->https ? "HTTPS_PROXY" : "HTTP_PROXY");
        return -EINVAL;
    }
    char why[128];
    if (sw_url_parse(buf, strlen(buf), ret, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", u->https ? "HTTPS_PROXY" : "HTTP_PROXY", why);
        return -EINVAL;
    }
    return 1;
}
