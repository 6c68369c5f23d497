/* Fuzz harness: the external scalers' protobuf decoders (scaleworker/pb.c) on arbitrary replies
 * of a gRPC server. The first byte picks the message (IsActiveResponse, GetMetricSpecResponse or
 * GetMetricsResponse, ScaledObjectRef); nothing may read past the input (ASan, exact-size copy),
 * names stay NUL-terminated within their buffer, and a decoded metric list encodes again and
 * decodes to the same entries.
 */
#include "scaleworker/pb.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_metrics(const uint8_t *buf, size_t len)
{
    sw_pb_metric_t m[4], again[4];
    size_t n = 0, n2 = 0;
    uint8_t out[4 * (SW_PB_NAME_MAX + 32)];

    if (sw_pb_metric_list_decode(buf, len, m, 4, &n) < 0)
        return;
    for (size_t i = 0; i < n && i < 4; i++)
        if (strlen(m[i].name) >= SW_PB_NAME_MAX)
            abort();
    if (n > 4)
        return;
    long w = sw_pb_metric_list_encode(m, n, out, sizeof out);
    if (w < 0 || sw_pb_metric_list_decode(out, (size_t)w, again, 4, &n2) < 0 || n2 != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, again[i].name) != 0 || m[i].integer != again[i].integer ||
            memcmp(&m[i].real, &again[i].real, sizeof m[i].real) != 0)
            if (!(m[i].real == 0 && again[i].real == 0)) /* -0.0 is a default: omitted */
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf;
    bool active;

    if (size < 1)
        return 0;
    buf = malloc(size - 1 ? size - 1 : 1); /* exact size: ASan catches any read past it */
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    switch (data[0] % 3) {
    case 0:
        sw_pb_is_active_decode(buf, size - 1, &active);
        break;
    case 1:
        check_metrics(buf, size - 1);
        break;
    default: {
        char strs[512];
        sw_pb_kv_t kv[4];
        sw_pb_ref_t ref;
        size_t n;
        sw_pb_ref_decode(buf, size - 1, strs, sizeof strs, &ref, kv, 4, &n);
        break;
    }
    }
    free(buf);
    return 0;
}
