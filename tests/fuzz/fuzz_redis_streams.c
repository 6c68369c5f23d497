/* Fuzz harness: what the redis-streams scaler reads from a redis reply
 * (scaleworker/scalers/redis_streams.c): the walk over array elements (resp.c), a group's lag
 * in XINFO GROUPS, XPENDING's count and the version line of INFO, on arbitrary replies. Every
 * element walked must lie within its array, the walk must end, and nothing may read past the
 * buffer (ASan).
 */
#include "scaleworker/scalers/redis.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks every element, recursively: each within its parent's bytes. */
static void walk(const sw_resp_reply_t *arr, int depth)
{
    sw_resp_reply_t el;
    size_t off = 0, last = 0;
    int r;

    if (depth > SW_RESP_DEPTH_MAX + 1)
        abort();
    while ((r = sw_resp_array_next(arr, &off, &el)) == 1) {
        if (off <= last || off > arr->len)
            abort();
        last = off;
        if (el.type == SW_RESP_ARRAY)
            walk(&el, depth + 1);
        else if (el.str && (el.str < arr->str || el.str + el.len > arr->str + arr->len))
            abort();
    }
    if (r < 0)
        abort(); /* the array was validated whole: its elements parse */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1); /* exact size: ASan catches any read past it */
    sw_resp_reply_t rep;
    size_t used;
    int64_t n;
    const char *why;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    (void)sw_rstream_version(buf, size, &n, &why);
    if (sw_resp_parse(buf, size, &rep, &used) == 0) {
        walk(&rep, 0);
        (void)sw_rstream_group_lag(&rep, "g", 1, &n);
        (void)sw_rstream_pending_count(&rep, &n);
    }
    free(buf);
    return 0;
}
