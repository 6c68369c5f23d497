/*
 * scalers: the table of scaler implementations, by name (the names of
 * common/scaler_registry.c).
 */
#include "scaleworker/scaler.h"

#include <string.h>

#ifdef CKEDA_TEST_SCALERS
extern const sw_scaler_t sw_scaler_test;
#endif

static const sw_scaler_t *const sw_scalers[] = {
#ifdef CKEDA_TEST_SCALERS
    &sw_scaler_test,
#endif
    NULL,
};

const sw_scaler_t *sw_scaler_find(const char *name)
{
    for (size_t i = 0; sw_scalers[i]; i++)
        if (strcmp(sw_scalers[i]->name, name) == 0)
            return sw_scalers[i];
    return NULL;
}

const char *sw_meta_str(const cJSON *metadata, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
