/* Fuzz harness: redact_text() on arbitrary error texts from event sources. The output must be
 * NUL-terminated within its buffer and never longer than the buffer allows. */
#include "common/redact.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1), out[64], big[4096];

    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    redact_text(in, out, sizeof out);
    if (strlen(out) >= sizeof out)
        abort();
    redact_text(in, big, sizeof big);
    if (strlen(big) >= sizeof big)
        abort();
    free(in);
    return 0;
}
