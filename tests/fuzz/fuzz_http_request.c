/* Fuzz harness: the adapter's HTTP request-head parser (adapter/http.c) on arbitrary bytes.
 * The parser must never read past its input, must give the same answer whether the bytes come
 * at once or in two pieces, and a complete head must decode (or reject) its target cleanly. */
#include "adapter/adp_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int parse_split(const char *buf, size_t size, size_t cut, adp_http_req_t *req, int *st)
{
    size_t scan = 0;
    int r = adp_http_parse(buf, cut, &scan, req, st);
    if (r != -EAGAIN || cut == size)
        return r;
    return adp_http_parse(buf, size, &scan, req, st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    adp_http_req_t *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    int sa = 0, sb = 0;

    if (!buf || !a || !b)
        abort();
    memcpy(buf, data, size); /* exactly size bytes: ASan catches any read past them */
    size_t scan = 0;
    int ra = adp_http_parse(buf, size, &scan, a, &sa);
    int rb = parse_split(buf, size, size / 2, b, &sb);
    /* A split can only turn "complete" into an early rejection if the first piece is itself
     * already over a limit, never the other way round. */
    if (ra == 0 && rb == 0 && a->head_len != b->head_len)
        abort();
    if (ra == -EPROTO && rb == 0)
        abort();
    if (ra == 0) {
        adp_arena_t arena = {0};
        adp_slice_t path, query;
        char *out;
        if (a->head_len > size || a->target.p < buf || a->target.p + a->target.n > buf + size)
            abort();
        adp_http_target_split(a->target, &path, &query);
        adp_http_unescape(&arena, path, false, &out);
        adp_http_query_get(&arena, query, "labelSelector", &out);
        uint32_t pos = 0;
        while (adp_http_header_next(a, "x-remote-group", &pos))
            ;
        adp_arena_free(&arena);
    }
    free(a);
    free(b);
    free(buf);
    return 0;
}
