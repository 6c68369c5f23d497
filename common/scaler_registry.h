/*
 * scaler_registry: the one list of scaler types ckeda serves, as small integer ids. The
 * watcher maps a trigger's `type` to an id (an unknown type is "not supported by ckeda"), the
 * supervisor assigns by id and never parses a name another process wrote, the workers pick
 * their scaler by id. The list's hash goes into the table header so that processes of
 * different builds never share a table.
 */
#ifndef CKEDA_COMMON_SCALER_REGISTRY_H
#define CKEDA_COMMON_SCALER_REGISTRY_H

#include <stdint.h>

#define SCALER_TYPE_NONE UINT32_MAX

uint32_t scaler_type_count(void);
/* SCALER_TYPE_NONE when ckeda does not support the type. */
uint32_t scaler_type_id(const char *name);
const char *scaler_type_name(uint32_t id);
uint64_t scaler_registry_hash(void);

#endif
