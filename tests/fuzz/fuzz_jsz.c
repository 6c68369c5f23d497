/* Fuzz harness: the nats-jetstream scaler's reading of a /jsz answer
 * (scaleworker/scalers/nats_jetstream.c) on arbitrary bodies, followed by KEDA's state step of
 * two polls. A body either decodes or is refused; a value is never produced from a refused body
 * and nothing may read past the buffer (ASan).
 */
#include "scaleworker/scalers/nats_jetstream.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1); /* exact size: ASan catches any read past it */
    sw_nj_cfg_t cfg = {
        .account = "$G", .account_id = "$G", .stream = "ORDERS", .consumer = "worker"};
    sw_nj_state_t st = {0};
    sw_jsz_t j;
    char err[512];
    double v;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (sw_jsz_extract(buf, size, &cfg, &j, err, sizeof err) == 0) {
        if (j.leader[sizeof j.leader - 1] != '\0' || (j.consumer_found && !j.stream_found))
            abort();
        for (int i = 0; i < 2; i++)
            (void)sw_nj_step(&st, &j, &cfg, &v, err, sizeof err);
    }
    free(buf);
    return 0;
}
