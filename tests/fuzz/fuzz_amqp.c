/* Fuzz harness: the rabbitmq scaler's AMQP 0-9-1 reader (scaleworker/scalers/amqp.c) on
 * arbitrary bytes from a broker, and its URI parser on arbitrary `host` values. Frames are
 * parsed one after another as the client does; every frame must lie within the input and within
 * the bound, every method's strings must be terminated within their buffers, and no prefix of a
 * frame may parse. The URI parser must never read past its input (ASan) and must leave nothing
 * allocated on failure (LeakSanitizer).
 */
#include "scaleworker/scalers/amqp.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_method(const sw_amqp_frame_t *f)
{
    sw_amqp_method_t m;

    if (sw_amqp_method_parse(f->payload, f->size, &m) != 0)
        return;
    if (strnlen(m.mechanisms, sizeof m.mechanisms) == sizeof m.mechanisms ||
        strnlen(m.reply_text, sizeof m.reply_text) == sizeof m.reply_text ||
        strnlen(m.queue, sizeof m.queue) == sizeof m.queue)
        abort();
    char text[512];
    sw_amqp_exception(text, sizeof text, m.reply_code, m.reply_text);
    if (strnlen(text, sizeof text) == sizeof text)
        abort();
    (void)sw_amqp_has_word(m.mechanisms, "PLAIN");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1); /* exact size: ASan catches any read past it */
    size_t off = 0;
    sw_amqp_uri_t u;
    char err[256];

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    while (off < size) {
        sw_amqp_frame_t f;
        size_t used = 0;
        if (sw_amqp_frame_parse(buf + off, size - off, SW_AMQP_IN_MAX, &f, &used) != 0)
            break;
        if (used == 0 || used > size - off || used > SW_AMQP_IN_MAX ||
            f.payload + f.size > buf + off + used)
            abort();
        for (size_t k = 0; k < used; k += 1 + k / 16)
            if (sw_amqp_frame_parse(buf + off, k, SW_AMQP_IN_MAX, &f, &used) == 0)
                abort();
        sw_amqp_frame_parse(buf + off, size - off, SW_AMQP_IN_MAX, &f, &used);
        if (f.type == SW_AMQP_FRAME_METHOD)
            check_method(&f);
        off += used;
    }
    if (sw_amqp_uri_parse((const char *)buf, size, &u, err, sizeof err) == 0) {
        if (!u.username || !u.password || !u.vhost || !u.host[0] || !u.port[0])
            abort();
        sw_amqp_uri_free(&u);
    }
    free(buf);
    return 0;
}
