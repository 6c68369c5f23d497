/*
 * redact: see redact.h. A single left-to-right pass; never reads past the input's NUL and never
 * writes past cap.
 */
#include "common/redact.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define REDACTED "REDACTED"

static const char *const redact_keys[] = {
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "secretkey",
    "secret_key",
    "connectionstring",
    "sharedaccesskey",
    "sas",
    "sig",
    "authorization",
    "bearer",
    "credential",
    "privatekey",
    "private_key",
    "auth",
};

typedef struct redact_out {
    char *buf;
    size_t len, cap;
} redact_out_t;

static void redact_put(redact_out_t *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n && o->len + 1 < o->cap; i++)
        o->buf[o->len++] = s[i];
}

/* Length of a credential key ending right before `p` (word chars), if it is one. */
static bool redact_is_key(const char *start, const char *p)
{
    const char *k = p;
    while (k > start && (isalnum((unsigned char)k[-1]) || k[-1] == '_' || k[-1] == '-'))
        k--;
    size_t n = (size_t)(p - k);
    for (size_t i = 0; i < sizeof redact_keys / sizeof redact_keys[0]; i++) {
        size_t kl = strlen(redact_keys[i]);
        if (n >= kl && strncasecmp(p - kl, redact_keys[i], kl) == 0)
            return true; /* matches a suffix: "redisPassword", "x-api-key" */
    }
    return false;
}

static bool redact_value_end(char c, char quote)
{
    if (c == '\0') /* an unterminated quote ends with the text */
        return true;
    if (quote)
        return c == quote;
    return isspace((unsigned char)c) || c == '&' || c == ';' || c == ',' || c == '"' || c == '\'' ||
           c == ')' || c == '}' || c == ']';
}

/* At a separator after a credential key: skip spaces, an optional quote, a "Bearer"/"Basic"
 * scheme word, then the value. Returns the position after the value. */
static const char *redact_value(redact_out_t *o, const char *p)
{
    char quote = 0;

    while (*p == ' ')
        redact_put(o, p++, 1);
    if (*p == '"' || *p == '\'') {
        quote = *p;
        redact_put(o, p++, 1);
    }
    if (strncasecmp(p, "bearer ", 7) == 0 || strncasecmp(p, "basic ", 6) == 0) {
        size_t n = p[1] == 'e' || p[1] == 'E' ? 7 : 6;
        redact_put(o, p, n);
        p += n;
    }
    if (redact_value_end(*p, quote))
        return p;
    while (!redact_value_end(*p, quote))
        p++;
    redact_put(o, REDACTED, strlen(REDACTED));
    return p;
}

/* At "://": rewrite the authority's userinfo and later the query. */
static const char *redact_url(redact_out_t *o, const char *p)
{
    const char *auth = p + 3, *end = auth, *at = NULL;

    redact_put(o, p, 3);
    while (*end && !isspace((unsigned char)*end) && *end != '/' && *end != '?' && *end != '#' &&
           *end != '"' && *end != '\'') {
        if (*end == '@')
            at = end;
        end++;
    }
    if (at) {
        redact_put(o, REDACTED, strlen(REDACTED));
        auth = at;
    }
    redact_put(o, auth, (size_t)(end - auth));
    while (*end && !isspace((unsigned char)*end) && *end != '?' && *end != '"' && *end != '\'')
        redact_put(o, end++, 1);
    if (*end == '?') {
        redact_put(o, "?" REDACTED, strlen(REDACTED) + 1);
        while (*end && !isspace((unsigned char)*end) && *end != '"' && *end != '\'')
            end++;
    }
    return end;
}

void redact_text(const char *in, char *out, size_t cap)
{
    redact_out_t o = {.buf = out, .cap = cap};
    const char *p = in;

    if (cap == 0)
        return;
    while (*p && o.len + 1 < o.cap) {
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            p = redact_url(&o, p);
        } else if ((*p == '=' || *p == ':') && p > in && redact_is_key(in, p)) {
            redact_put(&o, p++, 1);
            p = redact_value(&o, p);
        } else if ((*p == '"' || *p == '\'') && p[1] == ':' && p > in && redact_is_key(in, p)) {
            redact_put(&o, p, 2); /* "password": "..." */
            p = redact_value(&o, p + 2);
        } else {
            redact_put(&o, p++, 1);
        }
    }
    out[o.len] = '\0';
}
