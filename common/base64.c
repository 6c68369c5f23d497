/*
 * base64: see base64.h. No state; safe in every process.
 */
#include "common/base64.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of an alphabet byte, -1 for whitespace, -2 for '=', -3 for anything else. */
static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
        return -1;
    if (c == '=')
        return -2;
    return -3;
}

int base64_decode(const char *in, size_t len, unsigned char **ret_buf, size_t *ret_len)
{
    unsigned char *out = NULL;
    size_t n = 0, pad = 0, groups = 0;
    uint32_t acc = 0;

    out = malloc(len / 4 * 3 + 4);
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        int v = base64_value((unsigned char)in[i]);
        if (v == -1)
            continue;
        if (v == -3 || (v >= 0 && pad > 0))
            goto bad; /* a foreign byte, or data after padding */
        if (v == -2) {
            if (++pad > 2)
                goto bad;
            continue;
        }
        acc = acc << 6 | (uint32_t)v;
        if (++groups == 4) {
            out[n++] = (unsigned char)(acc >> 16);
            out[n++] = (unsigned char)(acc >> 8);
            out[n++] = (unsigned char)acc;
            acc = 0;
            groups = 0;
        }
    }
    /* A tail of 2 or 3 symbols carries 1 or 2 bytes; padding, if present, must complete it. */
    if (groups == 1 || (pad > 0 && groups + pad != 4))
        goto bad;
    if (groups == 2) {
        out[n++] = (unsigned char)(acc >> 4);
    } else if (groups == 3) {
        out[n++] = (unsigned char)(acc >> 10);
        out[n++] = (unsigned char)(acc >> 2);
    }
    out[n] = '\0';
    *ret_buf = out;
    *ret_len = n;
    return 0;
bad:
    base64_free_secret(out, len / 4 * 3 + 4);
    return -EINVAL;
}

char *base64_encode(const void *in, size_t len)
{
    const unsigned char *p = in;
    char *out, *o;

    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    o = out;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        *o++ = base64_alphabet[v >> 18 & 63];
        *o++ = base64_alphabet[v >> 12 & 63];
        *o++ = i + 1 < len ? base64_alphabet[v >> 6 & 63] : '=';
        *o++ = i + 2 < len ? base64_alphabet[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

void base64_free_secret(void *buf, size_t len)
{
    if (!buf)
        return;
    explicit_bzero(buf, len);
    free(buf);
}

int base16_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
