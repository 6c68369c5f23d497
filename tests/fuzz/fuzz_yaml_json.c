/* Fuzz harness: `ckeda validate`'s reader of YAML and JSON manifests (common/yaml_json.c). Any
 * input yields documents whose JSON prints, or an error with a message; never a crash, a leak
 * or a stream that expands past the node budget. */
#include "common/yaml_json.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *docs = NULL;
    errtext_t err = {{0}};
    char *s;

    if (yaml_json_parse((const char *)data, size, &docs, &err) < 0) {
        if (!err.text[0] && size > 0)
            abort(); /* a rejection always says why (allocation failures aside) */
        return 0;
    }
    if (!cJSON_IsArray(docs) || !(s = cJSON_PrintUnformatted(docs)))
        abort();
    free(s);
    cJSON_Delete(docs);
    return 0;
}
