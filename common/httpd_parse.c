/*
 * httpd_parse: the HTTP/1.1 request-head parser and URL decoding of httpd (the serving role's
 * process).
 *
 * Pure functions over bytes the peer sent: no I/O, no allocation except the arena in the
 * decoders, never a read past the given length. The connection feeds whatever it has read;
 * the parser answers "complete", "need more" or "reject with status N" and gives the same
 * answer whatever way the bytes were split (tests/unit/test_adapter_parse.c checks every split
 * point; tests/fuzz/fuzz_http_request.c fuzzes it).
 *
 * Deliberately strict where leniency has caused request smuggling elsewhere: no obs-fold, no
 * whitespace before ':', one Content-Length value, no Transfer-Encoding (bodies come with a
 * Content-Length: kube-apiserver sends its requests so), exactly one Host in HTTP/1.1. Bare LF line
 * endings are accepted (as Go's server does); a bare CR is not.
 */
#include "common/httpd.h"

#include "common/base64.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static bool http_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Index just past the blank line that ends the head, or 0 if not there yet. */
static size_t http_head_end(const char *buf, size_t len, size_t from)
{
    const char *nl;

    while (from < len && (nl = memchr(buf + from, '\n', len - from))) {
        size_t i = (size_t)(nl - buf);
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
        from = i + 1;
    }
    return 0;
}

static int http_reject(int *ret_status, int status)
{
    *ret_status = status;
    return -EPROTO;
}

/* One line [p, eol) without its CR LF; *next is the start of the following line. */
static httpd_slice_t http_line(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end;

    *next = nl ? nl + 1 : end;
    if (stop > p && stop[-1] == '\r')
        stop--;
    return (httpd_slice_t){p, (size_t)(stop - p)};
}

static int http_parse_request_line(httpd_slice_t l, httpd_req_t *r, int *ret_status)
{
    const char *sp1 = memchr(l.p, ' ', l.n), *sp2, *end = l.p + l.n;

    if (!sp1 || sp1 == l.p)
        return http_reject(ret_status, 400);
    sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
    if (!sp2 || sp2 == sp1 + 1)
        return http_reject(ret_status, 400);
    r->method_name = (httpd_slice_t){l.p, (size_t)(sp1 - l.p)};
    r->target = (httpd_slice_t){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
    httpd_slice_t version = {sp2 + 1, (size_t)(end - sp2 - 1)};
    for (size_t i = 0; i < r->method_name.n; i++)
        if (!http_tchar((unsigned char)r->method_name.p[i]))
            return http_reject(ret_status, 400);
    for (size_t i = 0; i < r->target.n; i++)
        if ((unsigned char)r->target.p[i] <= 0x20 || r->target.p[i] == 0x7f)
            return http_reject(ret_status, 400);
    if (r->target.p[0] != '/')
        return http_reject(ret_status, 400);
    if (version.n != 8 || memcmp(version.p, "HTTP/", 5) != 0 || version.p[6] != '.' ||
        version.p[5] < '0' || version.p[5] > '9' || version.p[7] < '0' || version.p[7] > '9')
        return http_reject(ret_status, 400);
    if (version.p[5] != '1')
        return http_reject(ret_status, 505);
    r->minor = version.p[7] - '0';
    r->method = httpd_slice_eq(r->method_name, "GET")    ? HTTPD_GET
                : httpd_slice_eq(r->method_name, "HEAD") ? HTTPD_HEAD
                : httpd_slice_eq(r->method_name, "POST") ? HTTPD_POST
                                                         : HTTPD_OTHER;
    r->keep_alive = r->minor >= 1;
    return 0;
}

static int http_parse_header(httpd_slice_t l, httpd_req_t *r, int *ret_status)
{
    const char *colon = memchr(l.p, ':', l.n);
    const char *v, *ve;

    if (l.n && (l.p[0] == ' ' || l.p[0] == '\t'))
        return http_reject(ret_status, 400); /* obs-fold */
    if (!colon || colon == l.p)
        return http_reject(ret_status, 400);
    for (const char *p = l.p; p < colon; p++)
        if (!http_tchar((unsigned char)*p))
            return http_reject(ret_status, 400);
    for (const char *p = colon + 1; p < l.p + l.n; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return http_reject(ret_status, 400);
    }
    if (r->nheaders >= HTTPD_HEADERS_MAX)
        return http_reject(ret_status, 431);
    v = colon + 1;
    ve = l.p + l.n;
    while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    r->headers[r->nheaders++] =
        (httpd_header_t){.name = {l.p, (size_t)(colon - l.p)}, .value = {v, (size_t)(ve - v)}};
    return 0;
}

static int http_content_length(httpd_slice_t v, uint64_t *ret)
{
    uint64_t n = 0;

    if (v.n == 0 || v.n > 18)
        return -EINVAL;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -EINVAL;
        n = n * 10 + (uint64_t)(v.p[i] - '0');
    }
    *ret = n;
    return 0;
}

/* Connection tokens: "close" ends keep-alive, "keep-alive" asks for it (HTTP/1.0). */
static void http_connection(httpd_slice_t v, httpd_req_t *r)
{
    size_t i = 0;

    while (i < v.n) {
        size_t s, e;
        while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        s = i;
        while (i < v.n && v.p[i] != ',')
            i++;
        e = i;
        while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
            e--;
        httpd_slice_t tok = {v.p + s, e - s};
        if (httpd_slice_caseeq(tok, "close"))
            r->keep_alive = false;
        else if (httpd_slice_caseeq(tok, "keep-alive") && r->minor == 0)
            r->keep_alive = true;
    }
}

static int http_semantics(httpd_req_t *r, int *ret_status)
{
    bool have_cl = false;
    unsigned hosts = 0;
    bool close_seen = false;

    for (uint32_t i = 0; i < r->nheaders; i++) {
        httpd_header_t *h = &r->headers[i];
        uint64_t cl;
        if (httpd_slice_caseeq(h->name, "content-length")) {
            if (http_content_length(h->value, &cl) < 0 || (have_cl && cl != r->content_length))
                return http_reject(ret_status, 400);
            have_cl = true;
            r->content_length = cl;
        } else if (httpd_slice_caseeq(h->name, "transfer-encoding")) {
            r->chunked = true;
        } else if (httpd_slice_caseeq(h->name, "host")) {
            hosts++;
        } else if (httpd_slice_caseeq(h->name, "connection")) {
            http_connection(h->value, r);
            close_seen |= !r->keep_alive;
        }
    }
    if (close_seen)
        r->keep_alive = false;
    if (r->chunked && have_cl)
        return http_reject(ret_status, 400);
    if (r->minor >= 1 && hosts != 1)
        return http_reject(ret_status, 400);
    if (r->chunked)
        return http_reject(ret_status, 501);
    return 0;
}

static int http_parse_head(const char *buf, size_t start, size_t end, httpd_req_t *r,
                           int *ret_status)
{
    const char *p = buf + start, *stop = buf + end, *next;
    httpd_slice_t line = http_line(p, stop, &next);
    int rc;

    if ((rc = http_parse_request_line(line, r, ret_status)) < 0)
        return rc;
    for (p = next; p < stop; p = next) {
        line = http_line(p, stop, &next);
        if (line.n == 0)
            break; /* the blank line */
        if (memchr(line.p, '\r', line.n))
            return http_reject(ret_status, 400);
        if ((rc = http_parse_header(line, r, ret_status)) < 0)
            return rc;
    }
    return http_semantics(r, ret_status);
}

int httpd_parse(const char *buf, size_t len, size_t *scan, httpd_req_t *ret, int *ret_status)
{
    size_t start = 0, end, from;
    const char *nl;

    while (start < len && (buf[start] == '\r' || buf[start] == '\n'))
        start++; /* empty lines before a request are ignored (RFC 9112 2.2) */
    from = *scan > start ? *scan : start;
    end = http_head_end(buf, len, from);
    if (!end) {
        *scan = len >= 2 ? len - 2 : 0;
        nl = start < len ? memchr(buf + start, '\n', len - start) : NULL;
        if (nl ? (size_t)(nl - (buf + start)) >= HTTPD_LINE_MAX : len - start >= HTTPD_LINE_MAX)
            return http_reject(ret_status, 414);
        if (len >= HTTPD_HEAD_MAX)
            return http_reject(ret_status, 431);
        return -EAGAIN;
    }
    if (end > HTTPD_HEAD_MAX)
        return http_reject(ret_status, 431);
    nl = memchr(buf + start, '\n', end - start);
    if (nl && (size_t)(nl - (buf + start)) >= HTTPD_LINE_MAX)
        return http_reject(ret_status, 414);
    memset(ret, 0, offsetof(httpd_req_t, headers));
    ret->head_len = end;
    return http_parse_head(buf, start, end, ret, ret_status);
}

const httpd_header_t *httpd_header_next(const httpd_req_t *req, const char *name, uint32_t *pos)
{
    for (uint32_t i = *pos; i < req->nheaders; i++)
        if (httpd_slice_caseeq(req->headers[i].name, name)) {
            *pos = i + 1;
            return &req->headers[i];
        }
    *pos = req->nheaders;
    return NULL;
}

int httpd_unescape(httpd_arena_t *a, httpd_slice_t s, bool plus_space, char **ret)
{
    char *out = httpd_arena_alloc(a, s.n + 1), *o = out;

    if (!out)
        return -ENOMEM;
    if (!memchr(s.p, '%', s.n) && !(plus_space && memchr(s.p, '+', s.n))) {
        memcpy(out, s.p, s.n); /* nothing to decode: most paths */
        out[s.n] = '\0';
        *ret = out;
        return 0;
    }
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] == '%') {
            int hi = i + 2 < s.n ? base16_digit(s.p[i + 1]) : -1;
            int lo = i + 2 < s.n ? base16_digit(s.p[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -EINVAL;
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = plus_space && s.p[i] == '+' ? ' ' : s.p[i];
        }
    }
    *o = '\0';
    *ret = out;
    return 0;
}

void httpd_target_split(httpd_slice_t target, httpd_slice_t *ret_path, httpd_slice_t *ret_query)
{
    const char *q = memchr(target.p, '?', target.n);
    const char *f = memchr(target.p, '#', target.n);
    const char *end = f ? f : target.p + target.n;

    if (q && q > end)
        q = NULL;
    *ret_path = (httpd_slice_t){target.p, (size_t)((q ? q : end) - target.p)};
    *ret_query = q ? (httpd_slice_t){q + 1, (size_t)(end - q - 1)} : (httpd_slice_t){end, 0};
}

int httpd_query_get(httpd_arena_t *a, httpd_slice_t query, const char *name, char **ret)
{
    size_t i = 0;

    while (i < query.n) {
        size_t s = i, eq;
        char *key;
        int r;
        while (i < query.n && query.p[i] != '&')
            i++;
        httpd_slice_t pair = {query.p + s, i - s};
        i++;
        if (pair.n == 0)
            continue;
        const char *e = memchr(pair.p, '=', pair.n);
        eq = e ? (size_t)(e - pair.p) : pair.n;
        if ((r = httpd_unescape(a, (httpd_slice_t){pair.p, eq}, true, &key)) < 0)
            return r;
        if (strcmp(key, name) != 0)
            continue;
        httpd_slice_t v = e ? (httpd_slice_t){e + 1, pair.n - eq - 1} : (httpd_slice_t){pair.p, 0};
        return httpd_unescape(a, v, true, ret);
    }
    return -ENOENT;
}
