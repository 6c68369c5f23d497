/* Fuzz harness: the adapter's label-selector parser (adapter/selector.c) on arbitrary bytes.
 * It must never read past its input, every slice it returns must lie inside the input, and
 * its counts must stay within their bounds. */
#include "adapter/adp_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_slice(adp_slice_t s, const char *buf, size_t size)
{
    if (s.n && (s.p < buf || s.p + s.n > buf + size))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1), err[128];
    adp_selector_t *sel = malloc(sizeof *sel);
    adp_slice_t v;

    if (!buf || !sel)
        abort();
    memcpy(buf, data, size);
    if (adp_selector_parse(buf, size, sel, err, sizeof err) == 0) {
        if (sel->nreqs > ADP_SEL_REQ_MAX || sel->nvalues > ADP_SEL_VALUES_MAX)
            abort();
        for (uint32_t i = 0; i < sel->nreqs; i++) {
            const adp_sel_req_t *r = &sel->reqs[i];
            check_slice(r->key, buf, size);
            if (r->key.n == 0 || r->first_value + r->nvalues > sel->nvalues)
                abort();
        }
        for (uint32_t i = 0; i < sel->nvalues; i++)
            check_slice(sel->values[i], buf, size);
        if (adp_selector_equals(sel, "scaledobject.keda.sh/name", &v) == 0)
            check_slice(v, buf, size);
    } else if (strlen(err) >= sizeof err) {
        abort();
    }
    free(sel);
    free(buf);
    return 0;
}
