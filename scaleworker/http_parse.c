/*
 * http_parse: the HTTP/1.x response reader of the scalers' client (http.h). Runs in scale
 * workers on bytes from event sources, so the input is untrusted: the head is bounded by
 * SW_HTTP_HEAD_MAX, the body by the caller's maximum, every number is checked, and a response
 * that could be read two ways (Content-Length twice with different values, or with chunked
 * coding; a bad chunk size) is an error rather than a guess. Pure: no I/O, no state besides the
 * parser, so the fuzz harness drives it directly.
 *
 * Bytes are fed as they arrive, in any split. 1xx answers before the final one are skipped.
 */
#include "scaleworker/http.h"

#include "common/base64.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void sw_http_parser_init(sw_http_parser_t *p, size_t body_max, bool head_only)
{
    memset(p, 0, sizeof *p);
    p->body_max = body_max;
    p->no_body = head_only;
}

void sw_http_parser_free(sw_http_parser_t *p)
{
    free(p->body);
    p->body = NULL;
    p->body_len = p->body_cap = 0;
}

static long hp_fail(sw_http_parser_t *p, long r, const char *why)
{
    p->error = why;
    return r;
}

static int hp_body_add(sw_http_parser_t *p, const char *b, size_t n)
{
    if (n > p->body_max - p->body_len) {
        p->error = "response body too large";
        return -EFBIG;
    }
    if (p->body_len + n + 1 > p->body_cap) {
        size_t cap = p->body_cap ? p->body_cap : 4096;
        while (cap < p->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(p->body, cap);
        if (!nb)
            return -ENOMEM;
        p->body = nb;
        p->body_cap = cap;
    }
    memcpy(p->body + p->body_len, b, n);
    p->body_len += n;
    p->body[p->body_len] = '\0';
    return 0;
}

/* An unsigned decimal (Content-Length) or hexadecimal (chunk size) number, the whole text. */
static int hp_number(const char *s, size_t n, unsigned base, uint64_t *ret)
{
    uint64_t v = 0;

    if (n == 0)
        return -EBADMSG;
    for (size_t i = 0; i < n; i++) {
        int d = base16_digit(s[i]);

        if (d < 0 || (unsigned)d >= base)
            return -EBADMSG;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            return -EBADMSG;
        v = v * base + (uint64_t)d;
    }
    *ret = v;
    return 0;
}

static void hp_trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* Does the comma-separated list s[0..n) hold token (case-insensitive)? */
static bool hp_has_token(const char *s, size_t n, const char *token)
{
    size_t tl = strlen(token);

    while (n > 0) {
        const char *c = memchr(s, ',', n);
        size_t el = c ? (size_t)(c - s) : n;
        const char *e = s;
        size_t en = el;
        hp_trim(&e, &en);
        if (en == tl && strncasecmp(e, token, tl) == 0)
            return true;
        if (!c)
            break;
        s = c + 1;
        n -= el + 1;
    }
    return false;
}

/* "HTTP/1.x NNN reason" */
static long hp_status_line(sw_http_parser_t *p, const char *l, size_t n)
{
    if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
        l[9] < '1' || l[9] > '9' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
        (n > 12 && l[12] != ' '))
        return hp_fail(p, -EBADMSG, "malformed status line");
    p->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    p->keep_alive = l[7] == '1';
    p->chunked = p->has_length = false;
    p->remaining = 0;
    p->state = SW_HTTP_P_HEADERS;
    return 0;
}

static long hp_header(sw_http_parser_t *p, const char *l, size_t n)
{
    const char *colon = memchr(l, ':', n), *v;
    size_t nl, vl;
    uint64_t len;

    if (!colon || colon == l)
        return hp_fail(p, -EBADMSG, "malformed header line");
    nl = (size_t)(colon - l);
    for (size_t i = 0; i < nl; i++)
        if (l[i] == ' ' || l[i] == '\t')
            return hp_fail(p, -EBADMSG, "malformed header name");
    v = colon + 1;
    vl = n - nl - 1;
    hp_trim(&v, &vl);
    SW_TEST_FAULT(l, nl, v, vl);
    if (nl == 14 && strncasecmp(l, "content-length", 14) == 0) {
        if (hp_number(v, vl, 10, &len) < 0)
            return hp_fail(p, -EBADMSG, "bad Content-Length");
        if (p->has_length && len != p->remaining)
            return hp_fail(p, -EBADMSG, "conflicting Content-Length headers");
        p->has_length = true;
        p->remaining = len;
    } else if (nl == 17 && strncasecmp(l, "transfer-encoding", 17) == 0) {
        /* Only chunked is ours to undo; it must be the last coding. */
        if (vl >= 7 && strncasecmp(v + vl - 7, "chunked", 7) == 0 &&
            (vl == 7 || v[vl - 8] == ',' || v[vl - 8] == ' '))
            p->chunked = true;
        else if (vl > 0 && !(vl == 8 && strncasecmp(v, "identity", 8) == 0))
            return hp_fail(p, -EBADMSG, "unsupported Transfer-Encoding");
    } else if (nl == 10 && strncasecmp(l, "connection", 10) == 0) {
        if (hp_has_token(v, vl, "close"))
            p->keep_alive = false;
        else if (hp_has_token(v, vl, "keep-alive"))
            p->keep_alive = true;
    }
    return 0;
}

/* The blank line after the headers: decide how the body is delimited. */
static long hp_head_end(sw_http_parser_t *p)
{
    if (p->status >= 100 && p->status < 200 && p->status != 101) {
        p->state = SW_HTTP_P_STATUS; /* an interim answer: the real one follows */
        return 0;
    }
    if (p->chunked && p->has_length)
        return hp_fail(p, -EBADMSG, "both Content-Length and chunked coding");
    if (p->no_body && p->status >= 200 && p->status < 300) {
        p->state = SW_HTTP_P_DONE;
        return 0;
    }
    if (p->status == 204 || p->status == 304 || p->status == 101) {
        p->state = SW_HTTP_P_DONE;
        if (p->status == 101)
            p->keep_alive = false;
        return 0;
    }
    if (p->chunked) {
        p->state = SW_HTTP_P_CHUNK_SIZE;
        return 0;
    }
    if (p->has_length) {
        if (p->remaining > p->body_max)
            return hp_fail(p, -EFBIG, "response body too large");
        p->state = p->remaining ? SW_HTTP_P_BODY : SW_HTTP_P_DONE;
        return 0;
    }
    p->until_close = true;
    p->keep_alive = false;
    p->state = SW_HTTP_P_BODY;
    return 0;
}

/* "SIZE[;ext]" */
static long hp_chunk_size(sw_http_parser_t *p, const char *l, size_t n)
{
    const char *semi = memchr(l, ';', n);
    size_t sl = semi ? (size_t)(semi - l) : n;
    const char *s = l;

    hp_trim(&s, &sl);
    if (hp_number(s, sl, 16, &p->remaining) < 0)
        return hp_fail(p, -EBADMSG, "bad chunk size");
    if (p->remaining > p->body_max - p->body_len)
        return hp_fail(p, -EFBIG, "response body too large");
    p->state = p->remaining ? SW_HTTP_P_CHUNK_DATA : SW_HTTP_P_TRAILERS;
    return 0;
}

/* One complete line (without CRLF) in the current state. */
static long hp_line(sw_http_parser_t *p, const char *l, size_t n)
{
    switch (p->state) {
    case SW_HTTP_P_STATUS:
        return hp_status_line(p, l, n);
    case SW_HTTP_P_HEADERS:
        return n == 0 ? hp_head_end(p) : hp_header(p, l, n);
    case SW_HTTP_P_CHUNK_SIZE:
        return hp_chunk_size(p, l, n);
    case SW_HTTP_P_CHUNK_END:
        if (n != 0)
            return hp_fail(p, -EBADMSG, "missing CRLF after chunk data");
        p->state = SW_HTTP_P_CHUNK_SIZE;
        return 0;
    case SW_HTTP_P_TRAILERS:
        if (n == 0)
            p->state = SW_HTTP_P_DONE;
        return 0;
    default:
        return hp_fail(p, -EBADMSG, "internal parser state");
    }
}

static bool hp_in_head(const sw_http_parser_t *p)
{
    return p->state == SW_HTTP_P_STATUS || p->state == SW_HTTP_P_HEADERS;
}

/* Collects bytes up to LF into p->line; returns bytes used, and 1 in *ret_done at a line end. */
static long hp_collect(sw_http_parser_t *p, const char *buf, size_t len, bool *ret_done)
{
    const char *lf = memchr(buf, '\n', len);
    size_t take = lf ? (size_t)(lf - buf) + 1 : len;
    size_t keep = lf ? take - 1 : take;

    if (hp_in_head(p)) {
        p->head_bytes += take;
        if (p->head_bytes > SW_HTTP_HEAD_MAX)
            return hp_fail(p, -EFBIG, "response head too large");
    } else if (p->line_len + keep > 4096 || p->line_long) {
        /* chunk-size lines and trailers: extensions and trailers longer than this are abuse */
        return hp_fail(p, -EBADMSG, "chunk line too long");
    }
    if (p->line_len + keep < sizeof p->line) {
        memcpy(p->line + p->line_len, buf, keep);
        p->line_len += keep;
    } else {
        p->line_long = true;
    }
    *ret_done = lf != NULL;
    return (long)take;
}

long sw_http_parser_feed(sw_http_parser_t *p, const char *buf, size_t len)
{
    size_t used = 0;

    while (used < len && p->state != SW_HTTP_P_DONE) {
        const char *b = buf + used;
        size_t n = len - used;

        if (p->state == SW_HTTP_P_BODY || p->state == SW_HTTP_P_CHUNK_DATA) {
            size_t take = n;
            if (!p->until_close && take > p->remaining)
                take = (size_t)p->remaining;
            int r = hp_body_add(p, b, take);
            if (r < 0)
                return r;
            used += take;
            if (!p->until_close && (p->remaining -= take) == 0)
                p->state = p->state == SW_HTTP_P_BODY ? SW_HTTP_P_DONE : SW_HTTP_P_CHUNK_END;
            continue;
        }
        bool done = false;
        long r = hp_collect(p, b, n, &done);
        if (r < 0)
            return r;
        used += (size_t)r;
        if (!done)
            continue;
        size_t ll = p->line_len;
        if (ll > 0 && p->line[ll - 1] == '\r')
            ll--;
        if (p->line_long) {
            /* a header longer than our line buffer: only names we read must fit */
            bool ours = p->state != SW_HTTP_P_HEADERS ||
                        (ll >= 10 && (strncasecmp(p->line, "content-le", 10) == 0 ||
                                      strncasecmp(p->line, "transfer-e", 10) == 0 ||
                                      strncasecmp(p->line, "connection", 10) == 0));
            p->line_len = 0;
            p->line_long = false;
            if (ours)
                return hp_fail(p, -EBADMSG, "header line too long");
            continue;
        }
        p->line_len = 0;
        if ((r = hp_line(p, p->line, ll)) < 0)
            return r;
    }
    return (long)used;
}

int sw_http_parser_eof(sw_http_parser_t *p)
{
    if (p->state == SW_HTTP_P_DONE)
        return 0;
    if (p->state == SW_HTTP_P_BODY && p->until_close) {
        p->state = SW_HTTP_P_DONE;
        return 0;
    }
    p->error = hp_in_head(p) && p->head_bytes == 0 ? "connection closed before a response"
                                                   : "connection closed in the middle of the "
                                                     "response";
    return -EPIPE;
}
