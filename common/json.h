/*
 * json: checked access to cJSON trees of untrusted input (API responses, watch events,
 * manifests), so every caller does not re-implement type, range and length checks.
 *
 * The prefix is jsonu_ ("json utilities"), not json_, so as not to borrow a dependency's name.
 * Any process may use it; no state.
 *
 * Paths name a field below a root object: components separated by '.', array elements as
 * "[n]", and keys that themselves contain '.', '[' or '"' as ["key"] — e.g.
 * `spec.triggers[0].metadata` or `metadata.annotations["k8s.io/initial-events-end"]`.
 * A JSON null counts as missing (the API server writes `"creationTimestamp": null`).
 *
 * Every getter returns 0 and writes its ret_ argument, or a negative errno and a message in err
 * (which may be NULL) naming the path: -ENOENT missing, -EINVAL wrong type or malformed path,
 * -ERANGE number out of range or not an integer, -ENAMETOOLONG string longer than allowed.
 * Strings returned by pointer live as long as the tree.
 */
#ifndef CKEDA_COMMON_JSON_H
#define CKEDA_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/errtext.h"

/* Largest integer a JSON number (an IEEE double in cJSON) carries unambiguously: 2^53 - 1
 * (2^53 + 1 would arrive as 2^53). */
#define JSONU_INT_EXACT_MAX 9007199254740991LL

/* Most paths jsonu_prune() keeps at once. */
#define JSONU_PRUNE_MAX 32

/* Parses exactly len bytes (no NUL needed). -EBADMSG with the byte offset on malformed input,
 * -ENOMEM. The tree belongs to the caller (cJSON_Delete). */
int jsonu_parse(const char *buf, size_t len, cJSON **ret_root, errtext_t *err);

/* The node at path, or NULL if any step is missing, null, of the wrong type, or the path is
 * malformed. Never fails otherwise. */
const cJSON *jsonu_lookup(const cJSON *root, const char *path);
/* The string at path, or "" when it is absent or not a string. */
const char *jsonu_str(const cJSON *root, const char *path);

int jsonu_get_object(const cJSON *root, const char *path, const cJSON **ret_node, errtext_t *err);
int jsonu_get_array(const cJSON *root, const char *path, const cJSON **ret_node, errtext_t *err);

/* A string of at most max_len bytes (not counting the NUL); max_len 0 means unlimited. */
int jsonu_get_string(const cJSON *root, const char *path, size_t max_len, const char **ret_value,
                     errtext_t *err);
/* Copies a string into a fixed buffer of size bytes (so at most size - 1 characters). */
int jsonu_copy_string(const cJSON *root, const char *path, char *ret_buf, size_t size,
                      errtext_t *err);

/* Integers: the number must be integral, within [min, max] and within +-JSONU_INT_EXACT_MAX. */
int jsonu_get_int64(const cJSON *root, const char *path, int64_t min, int64_t max,
                    int64_t *ret_value, errtext_t *err);
int jsonu_get_int32(const cJSON *root, const char *path, int32_t min, int32_t max,
                    int32_t *ret_value, errtext_t *err);
/* jsonu_get_int32() in [min, INT32_MAX] with def when absent (0 then); ret_set (may be NULL)
 * says whether the field was there. */
int jsonu_get_int32_or(const cJSON *root, const char *path, int32_t min, int32_t def, int32_t *ret,
                       bool *ret_set, errtext_t *err);
int jsonu_get_double(const cJSON *root, const char *path, double *ret_value, errtext_t *err);
int jsonu_get_bool(const cJSON *root, const char *path, bool *ret_value, errtext_t *err);

/* Deletes the node at path if present (a no-op otherwise), e.g. "metadata.managedFields"; if the
 * object repeats the key, every member of that name. */
void jsonu_remove(cJSON *root, const char *path);

/* Whether the n bytes at s are, whole, a number as JSON writes one (and Go's json.Unmarshal
 * reads one): -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?. */
bool jsonu_is_number(const char *s, size_t n);

/* Keeps only the n dotted paths in keep (plain object keys, no [n] or ["key"]) and deletes every
 * other member of root, recursively: {"metadata.name", "spec.replicas"} leaves
 * {"metadata":{"name":..},"spec":{"replicas":..}}. A path naming an object keeps it whole.
 * -EINVAL if n > JSONU_PRUNE_MAX. */
int jsonu_prune(cJSON *root, const char *const *keep, size_t n);

/* Serialises compactly; a malloc'd string owned by the caller, or NULL on allocation failure. */
/* cJSON_Delete() after wiping every string of node and below (objects holding credentials). */
void jsonu_delete_secret(cJSON *node);
char *jsonu_print(const cJSON *node);

#endif
