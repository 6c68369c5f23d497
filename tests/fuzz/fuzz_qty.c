/* Fuzz harness: quantities from trigger metadata (cpu/memory `value`, written into the HPA).
 * qty_canonical() either refuses the text or writes a canonical quantity that fits the buffer,
 * is itself accepted, and is its own canonical form (what the API server stores reads back
 * unchanged, so the HPA is never rewritten in a loop). */
#include "common/qty.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[128], out[QTY_MAX], again[QTY_MAX];

    if (size >= sizeof in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    if (qty_canonical(in, out, sizeof out) != 0)
        return 0;
    if (strlen(out) >= sizeof out || qty_canonical(out, again, sizeof again) != 0 ||
        strcmp(out, again) != 0)
        abort();
    return 0;
}
