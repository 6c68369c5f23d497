/*
 * httpd_json: JSON writing for httpd's responses (the serving role's process): escaped strings and
 * metav1.Status bodies, the error shape every Kubernetes client understands
 * (k8s.io/apimachinery pkg/api/errors). Strings from the request (names, metric names) reach
 * these bodies, so escaping follows encoding/json: quotes, backslashes, control characters,
 * and <, >, & (HTML-safe), invalid UTF-8 replaced by U+FFFD.
 */
#include "common/httpd.h"

#include <string.h>

/* Length of a valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t json_utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf && (s[1] & 0xc0) == 0x80)
        return 2;
    if (s[0] >= 0xe0 && s[0] <= 0xef && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80) {
        unsigned cp = ((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
        return cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff) ? 3 : 0;
    }
    if (s[0] >= 0xf0 && s[0] <= 0xf4 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 &&
        (s[3] & 0xc0) == 0x80) {
        unsigned cp = ((s[0] & 0x07u) << 18) | ((s[1] & 0x3fu) << 12);
        return cp >= 0x10000 && cp <= 0x10ffff ? 4 : 0;
    }
    return 0;
}

void httpd_json_string(httpd_sbuf_t *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    size_t run = 0;

    httpd_sbuf_append(b, "\"", 1);
    while (s[run] || run) {
        unsigned char c = s[run];
        size_t n = c ? json_utf8_len(s + run) : 0;
        bool plain =
            c && n == 1 && c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&';
        if (plain || n > 1) {
            run += n;
            continue;
        }
        httpd_sbuf_append(b, (const char *)s, run); /* flush the run of plain bytes */
        s += run;
        run = 0;
        if (!c)
            break;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            httpd_sbuf_append(b, esc, 2);
        } else if (c == '\n') {
            httpd_sbuf_append(b, "\\n", 2);
        } else if (c == '\r') {
            httpd_sbuf_append(b, "\\r", 2);
        } else if (c == '\t') {
            httpd_sbuf_append(b, "\\t", 2);
        } else if (n == 0) {
            httpd_sbuf_append(b, "\\ufffd", 6);
        } else {
            httpd_sbuf_printf(b, "\\u%04x", c);
        }
        s++;
    }
    httpd_sbuf_append(b, "\"", 1);
}

const char *httpd_status_reason(int code)
{
    switch (code) {
    case 400:
        return "BadRequest";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "NotFound";
    case 405:
        return "MethodNotAllowed";
    case 406:
        return "NotAcceptable";
    case 413:
        return "RequestEntityTooLarge";
    case 429:
        return "TooManyRequests";
    case 500:
        return "InternalError";
    case 503:
        return "ServiceUnavailable";
    case 504:
        return "Timeout";
    default:
        return "";
    }
}

const char *httpd_reason_phrase(int code)
{
    static const struct {
        int code;
        const char *text;
    } phrases[] = {{200, "OK"},
                   {400, "Bad Request"},
                   {401, "Unauthorized"},
                   {403, "Forbidden"},
                   {404, "Not Found"},
                   {405, "Method Not Allowed"},
                   {408, "Request Timeout"},
                   {413, "Payload Too Large"},
                   {414, "URI Too Long"},
                   {429, "Too Many Requests"},
                   {431, "Request Header Fields Too Large"},
                   {500, "Internal Server Error"},
                   {501, "Not Implemented"},
                   {503, "Service Unavailable"},
                   {504, "Gateway Timeout"},
                   {505, "HTTP Version Not Supported"}};
    for (size_t i = 0; i < sizeof phrases / sizeof phrases[0]; i++)
        if (phrases[i].code == code)
            return phrases[i].text;
    return "Unknown";
}

void httpd_status_json(httpd_sbuf_t *b, int code, const char *message,
                       const httpd_status_details_t *d)
{
    const char *reason = httpd_status_reason(code);

    httpd_sbuf_puts(b, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                       "\"status\":\"Failure\",\"message\":");
    httpd_json_string(b, message);
    if (reason[0]) {
        httpd_sbuf_puts(b, ",\"reason\":");
        httpd_json_string(b, reason);
    }
    if (d && (d->name || d->group || d->kind)) {
        const char *sep = "";
        httpd_sbuf_puts(b, ",\"details\":{");
        if (d->name) {
            httpd_sbuf_puts(b, "\"name\":");
            httpd_json_string(b, d->name);
            sep = ",";
        }
        if (d->group) {
            httpd_sbuf_printf(b, "%s\"group\":", sep);
            httpd_json_string(b, d->group);
            sep = ",";
        }
        if (d->kind) {
            httpd_sbuf_printf(b, "%s\"kind\":", sep);
            httpd_json_string(b, d->kind);
        }
        httpd_sbuf_puts(b, "}");
    }
    httpd_sbuf_printf(b, ",\"code\":%d}", code);
}
