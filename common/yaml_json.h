/*
 * yaml_json: a YAML (or JSON) stream of manifests converted to cJSON documents, as kubectl reads
 * them (sigs.k8s.io/yaml over go-yaml v2): plain scalars resolve to null, booleans (true/false,
 * yes/no, on/off, y/n in their three spellings), integers (decimal, 0x, 0o, 0b, leading-0
 * octal, '_' separators) and floats; quoted and block scalars and `!!str` are strings; mapping
 * keys become strings; anchors and aliases are expanded and `<<` merge keys applied; a key
 * repeated in one mapping is an error (kubectl's strict decoding).
 *
 * Used by `ckeda validate` on files from anywhere, so the input is hostile: its size, nesting
 * depth and node count (aliases counted as expanded, so an alias bomb stops at the budget) are
 * bounded, and an error names the line and column. Any process may use it; no state.
 */
#ifndef CKEDA_COMMON_YAML_JSON_H
#define CKEDA_COMMON_YAML_JSON_H

#include "common/errtext.h"

#include <cjson/cJSON.h>
#include <stddef.h>

#define YAML_JSON_INPUT_MAX (16u << 20) /* bytes of one stream */
#define YAML_JSON_DEPTH_MAX 64          /* nested mappings and sequences */
#define YAML_JSON_NODES_MAX 500000u     /* JSON values of the whole stream, aliases expanded */

/* Parses len bytes of YAML or JSON (a stream whose first non-blank byte is '{' or '[' is read as
 * one JSON document, falling back to YAML flow syntax if it is not JSON). On success
 * *ret_docs is a JSON array holding every non-empty document in order, owned by the caller.
 * -EBADMSG with "line L column C: ..." for malformed input or a value JSON cannot hold (.inf,
 * .nan, a non-scalar key); -EEXIST for a repeated key; -E2BIG past a limit above; -ENOMEM. */
int yaml_json_parse(const char *buf, size_t len, cJSON **ret_docs, errtext_t *err);

#endif
