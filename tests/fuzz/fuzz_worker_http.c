/* Fuzz harness: the scalers' HTTP response parser (scaleworker/http_parse.c) on arbitrary bytes
 * from an event source. The input is fed whole and again in pieces split at a position taken
 * from its first byte: both runs must agree on the outcome, the status and the body (a response
 * reads the same however it arrives), the body stays within its bound, and nothing reads past
 * the buffer (ASan). The response body is then handed to the value extractors of the HTTP
 * scalers (prometheus' JSON, metrics-api's JSON/YAML/Prometheus text), which must never crash.
 */
#include "scaleworker/http.h"
#include "scaleworker/scalers/httpscalers.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_BODY_MAX 65536

static long fz_run(const char *buf, size_t size, size_t split, sw_http_parser_t *p)
{
    size_t off = 0;
    long r = 0;

    sw_http_parser_init(p, FZ_BODY_MAX, false);
    while (off < size && p->state != SW_HTTP_P_DONE) {
        size_t n = size - off;
        if (off < split && split - off < n)
            n = split - off;
        r = sw_http_parser_feed(p, buf + off, n);
        if (r < 0)
            return r;
        if ((size_t)r > n)
            abort();
        off += (size_t)r;
        if ((size_t)r < n && p->state != SW_HTTP_P_DONE)
            abort(); /* bytes are left over only once the response is complete */
    }
    if (p->state != SW_HTTP_P_DONE)
        return sw_http_parser_eof(p) == 0 ? 1 : -1;
    return 1;
}

static void fz_values(const char *body, size_t len)
{
    static const char *const locs[] = {"a.b", "a.0", "a.#", "x{l=\"v\"}", "a\\.b.c", "*.1"};
    sw_prom_cfg_t c = {.ignore_null_values = true, .query = "q"};
    char err[256];
    double v;

    sw_prom_value(body, len, &c, &v, err, sizeof err);
    c.ignore_null_values = false;
    sw_prom_value(body, len, &c, &v, err, sizeof err);
    for (size_t i = 0; i < sizeof locs / sizeof locs[0]; i++)
        for (int f = SW_MAPI_PROMETHEUS; f <= SW_MAPI_YAML; f++)
            sw_mapi_value(body, len, locs[i], (sw_mapi_format_t)f, &v, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1); /* exact size: ASan catches any read past it */
    sw_http_parser_t a, b;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    long ra = fz_run(buf, size, size, &a);
    long rb = fz_run(buf, size, size ? data[0] % (size + 1) : 0, &b);
    if ((ra < 0) != (rb < 0))
        abort();
    if (ra > 0) {
        if (a.status != b.status || a.body_len != b.body_len || a.body_len > FZ_BODY_MAX ||
            (a.body_len && memcmp(a.body, b.body, a.body_len) != 0))
            abort();
        if (a.body)
            fz_values(a.body, a.body_len);
    }
    sw_http_parser_free(&a);
    sw_http_parser_free(&b);
    free(buf);
    return 0;
}
