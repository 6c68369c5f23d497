/*
 * scaler_registry: see scaler_registry.h. Adding a scaler adds its name here and its file under
 * scaleworker/scalers/. Test-only types exist only in test builds.
 */
#include "common/scaler_registry.h"

#include <string.h>

static const char *const scaler_types[] = {
#ifdef CKEDA_TEST_SCALERS
    "ckeda-test", /* test-only: value, failure, crash or hang on command */
#endif
    "cpu",           "memory", /* HPA Resource metrics: in the table, never polled */
    "redis-streams", "nats-jetstream", "redis",      "cron",
    "prometheus",    "metrics-api",    "postgresql", "mysql",
    "external",      "external-push",  "rabbitmq",   "kubernetes-workload",
};
#define NTYPES (sizeof scaler_types / sizeof scaler_types[0])

uint32_t scaler_type_count(void)
{
    return (uint32_t)NTYPES;
}

uint32_t scaler_type_id(const char *name)
{
    for (uint32_t i = 0; i < NTYPES; i++)
        if (strcmp(scaler_types[i], name) == 0)
            return i;
    return SCALER_TYPE_NONE;
}

const char *scaler_type_name(uint32_t id)
{
    return id < NTYPES ? scaler_types[id] : "unknown";
}

uint64_t scaler_registry_hash(void)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (uint32_t i = 0; i < NTYPES; i++)
        for (const char *p = scaler_types[i];; p++) {
            h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
            if (!*p)
                break;
        }
    return h;
}
