/* Fuzz harness: the redis scaler's RESP reader (scaleworker/scalers/resp.c) on arbitrary
 * replies from an event source. Replies are parsed one after another as the scaler does; every
 * reply must lie within the input, every prefix of a parsed reply must be reported incomplete
 * or malformed (never parsed differently), and nothing may read past the buffer (ASan).
 */
#include "scaleworker/scalers/resp.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_prefixes(const char *buf, size_t used)
{
    sw_resp_reply_t rep;
    size_t u;

    /* Shorter views of a complete reply never parse (a reply has one length); sampled so that
     * the replay stays linear on long inputs. */
    for (size_t k = 0; k < used; k += 1 + k / 16)
        if (sw_resp_parse(buf, k, &rep, &u) == 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1); /* exact size: ASan catches any read past it */
    size_t off = 0;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    while (off < size) {
        sw_resp_reply_t rep;
        size_t used = 0;
        if (sw_resp_parse(buf + off, size - off, &rep, &used) != 0)
            break;
        if (used == 0 || used > size - off)
            abort();
        if ((rep.type == SW_RESP_STATUS || rep.type == SW_RESP_ERROR || rep.type == SW_RESP_BULK) &&
            (rep.str < buf + off || rep.str + rep.len > buf + off + used))
            abort();
        check_prefixes(buf + off, used);
        off += used;
    }
    free(buf);
    return 0;
}
