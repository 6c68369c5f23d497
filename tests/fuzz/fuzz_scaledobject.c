/* Fuzz harness: the watcher's reading of a ScaledObject from the API server (watcher/so.c,
 * trigger.c, common/scaler_spec.c) and, when it parses, the HPA built from it. Any input is
 * rejected with a message naming what is wrong, or yields an HPA; never a crash or a leak. */
#include "watcher/hpa.h"
#include "common/scaledobject.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *obj = cJSON_ParseWithLength((const char *)data, size);
    so_t *so = malloc(sizeof *so);
    errtext_t err = {{0}};

    if (obj && so) {
        int r = so_parse(obj, 64, so, &err);
        if (r < 0 && !err.text[0])
            abort(); /* a rejection always says why */
        if (r == 0) {
            cJSON *hpa = watch_hpa_build(so);
            if (!hpa || !watch_json_derivative(hpa, hpa))
                abort();
            cJSON_Delete(hpa);
        }
    }
    free(so);
    cJSON_Delete(obj);
    return 0;
}
