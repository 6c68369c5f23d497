/*
 * resp: see resp.h. Runs in the redis scaler's worker; libc only, no allocation, no state.
 * Work per call is linear in the bytes examined; recursion is bounded by SW_RESP_DEPTH_MAX.
 */
#include "scaleworker/scalers/resp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Finds the CRLF ending the line at buf: 0 with *ret_eol (offset of CR), -EAGAIN, -EPROTO on a
 * bare CR or LF, -EMSGSIZE past SW_RESP_LINE_MAX. */
static int sw_resp_line(const char *buf, size_t len, size_t *ret_eol)
{
    size_t lim = len < SW_RESP_LINE_MAX ? len : SW_RESP_LINE_MAX;

    for (size_t i = 0; i < lim; i++) {
        if (buf[i] == '\n')
            return -EPROTO;
        if (buf[i] != '\r')
            continue;
        if (i + 1 >= len)
            return -EAGAIN;
        if (buf[i + 1] != '\n')
            return -EPROTO;
        *ret_eol = i;
        return 0;
    }
    return len >= SW_RESP_LINE_MAX ? -EMSGSIZE : -EAGAIN;
}

/* An exact decimal int64: optional '-', 1 to 19 digits, nothing else. */
static int sw_resp_int(const char *s, size_t n, int64_t *ret)
{
    bool neg = n > 0 && s[0] == '-';
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    size_t i = neg;

    if (i >= n || n - i > 19)
        return -EPROTO;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EPROTO;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > lim)
            return -EPROTO;
    }
    *ret = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int sw_resp_parse_at(const char *buf, size_t len, int depth, sw_resp_reply_t *ret,
                            size_t *ret_used);

/* The elements after an array header; *used grows by their sizes. */
static int sw_resp_elements(const char *buf, size_t len, int depth, int64_t n, size_t *used)
{
    for (int64_t i = 0; i < n; i++) {
        sw_resp_reply_t el;
        size_t el_used;
        int r = sw_resp_parse_at(buf + *used, len - *used, depth + 1, &el, &el_used);
        if (r < 0)
            return r;
        *used += el_used;
    }
    return 0;
}

/* A bulk string's body of n bytes after its header (hdr bytes), then CRLF. */
static int sw_resp_bulk(const char *buf, size_t len, size_t hdr, int64_t n, sw_resp_reply_t *ret,
                        size_t *ret_used)
{
    size_t need;

    if (n > SW_RESP_BULK_MAX)
        return -EMSGSIZE;
    need = hdr + (size_t)n + 2;
    if (len < need) /* a wrong terminator already in view is malformed, not incomplete */
        return len > hdr + (size_t)n && buf[hdr + (size_t)n] != '\r' ? -EPROTO : -EAGAIN;
    if (buf[need - 2] != '\r' || buf[need - 1] != '\n')
        return -EPROTO;
    ret->str = buf + hdr;
    ret->len = (size_t)n;
    *ret_used = need;
    return 0;
}

static int sw_resp_parse_at(const char *buf, size_t len, int depth, sw_resp_reply_t *ret,
                            size_t *ret_used)
{
    sw_resp_reply_t rep = {0};
    size_t eol, used;
    int64_t n = 0;
    int r;

    if (depth > SW_RESP_DEPTH_MAX)
        return -EMSGSIZE;
    if (len == 0)
        return -EAGAIN;
    if (!strchr("+-:$*", buf[0]) || buf[0] == '\0')
        return -EPROTO;
    if ((r = sw_resp_line(buf, len, &eol)) < 0)
        return r;
    used = eol + 2;
    rep.type = (sw_resp_type_t)buf[0];
    if (rep.type == SW_RESP_STATUS || rep.type == SW_RESP_ERROR) {
        rep.str = buf + 1;
        rep.len = eol - 1;
    } else if ((r = sw_resp_int(buf + 1, eol - 1, &n)) < 0) {
        return r;
    } else if (rep.type == SW_RESP_INTEGER) {
        rep.integer = n;
    } else if (n == -1) {
        rep.type = SW_RESP_NIL;
    } else if (n < 0) {
        return -EPROTO;
    } else if (rep.type == SW_RESP_BULK) {
        if ((r = sw_resp_bulk(buf, len, used, n, &rep, &used)) < 0)
            return r;
    } else {
        if (n > SW_RESP_ELEMS_MAX)
            return -EMSGSIZE;
        size_t hdr = used;
        if ((r = sw_resp_elements(buf, len, depth, n, &used)) < 0)
            return r;
        rep.integer = n;
        rep.str = buf + hdr; /* the elements, for sw_resp_array_next() */
        rep.len = used - hdr;
    }
    *ret = rep;
    *ret_used = used;
    return 0;
}

int sw_resp_parse(const char *buf, size_t len, sw_resp_reply_t *ret, size_t *ret_used)
{
    return sw_resp_parse_at(buf, len, 0, ret, ret_used);
}

int sw_resp_array_next(const sw_resp_reply_t *array, size_t *off, sw_resp_reply_t *ret)
{
    size_t used;
    int r;

    if (array->type != SW_RESP_ARRAY || *off >= array->len)
        return 0;
    /* Validated with the array: an element parses whole, within the array's bytes. */
    if ((r = sw_resp_parse(array->str + *off, array->len - *off, ret, &used)) < 0)
        return r;
    *off += used;
    return 1;
}

long sw_resp_command(char *out, size_t used, size_t cap, int argc, const char *const *argv,
                     const size_t *argl)
{
    int n;

    if (used >= cap)
        return -EMSGSIZE;
    n = snprintf(out + used, cap - used, "*%d\r\n", argc);
    if (n < 0 || (size_t)n >= cap - used)
        return -EMSGSIZE;
    used += (size_t)n;
    for (int i = 0; i < argc; i++) {
        n = snprintf(out + used, cap - used, "$%zu\r\n", argl[i]);
        if (n < 0 || (size_t)n >= cap - used || argl[i] + 2 > cap - used - (size_t)n)
            return -EMSGSIZE;
        used += (size_t)n;
        memcpy(out + used, argv[i], argl[i]);
        memcpy(out + used + argl[i], "\r\n", 2);
        used += argl[i] + 2;
    }
    return (long)used;
}
