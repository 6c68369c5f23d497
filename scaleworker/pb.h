/*
 * pb: protobuf (proto3 wire format) for exactly the messages of KEDA's externalscaler.proto,
 * written by hand: ScaledObjectRef, GetMetricsRequest, IsActiveResponse, GetMetricSpecResponse
 * (MetricSpec) and GetMetricsResponse (MetricValue). Runs in the `external` scale workers.
 *
 * Decoding follows protobuf-go: fields in any order, a repeated singular field keeps its last
 * value, unknown fields (and known fields of an unexpected wire type) are skipped, strings must
 * be valid UTF-8, a varint has at most 10 bytes, groups are refused. Every length is checked
 * against the bytes left; nothing is allocated. The decoders read input from the event source
 * and are fuzzed (tests/fuzz/fuzz_external_pb.c).
 *
 * Encoding omits default values (empty strings, 0, false) as proto3 does.
 */
#ifndef CKEDA_SCALEWORKER_PB_H
#define CKEDA_SCALEWORKER_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SW_PB_NAME_MAX 256 /* bytes kept of a metricName (the table's metric names are shorter) */

/* ---- requests: ScaledObjectRef, GetMetricsRequest ------------------------------------------ */

typedef struct sw_pb_kv {
    const char *key;
    const char *value;
} sw_pb_kv_t;

typedef struct sw_pb_ref {
    const char *name;           /* the ScaledObject's */
    const char *namespace;      /* its namespace */
    const sw_pb_kv_t *metadata; /* scalerMetadata: the trigger's metadata */
    size_t nmetadata;
} sw_pb_ref_t;

/* Encode into buf: the length written, or -EMSGSIZE when cap is too small. */
long sw_pb_ref_encode(const sw_pb_ref_t *ref, uint8_t *buf, size_t cap);
long sw_pb_metrics_request_encode(const sw_pb_ref_t *ref, const char *metric_name, uint8_t *buf,
                                  size_t cap);
/* The size the encoders need. */
size_t sw_pb_ref_size(const sw_pb_ref_t *ref);

/* ---- responses ------------------------------------------------------------------------------ */

/* MetricSpec {metricName=1, targetSize=2, targetSizeFloat=3} and MetricValue {metricName=1,
 * metricValue=2, metricValueFloat=3} have the same shape. */
typedef struct sw_pb_metric {
    char name[SW_PB_NAME_MAX]; /* NUL-terminated; name_len is the length on the wire */
    size_t name_len;
    int64_t integer;
    double real;
} sw_pb_metric_t;

/* IsActiveResponse. 0 or -EBADMSG. */
int sw_pb_is_active_decode(const uint8_t *buf, size_t len, bool *ret);
/* GetMetricSpecResponse or GetMetricsResponse (one repeated message field 1): the first cap
 * entries into ret, their total count (all are validated) into *ret_n. 0 or -EBADMSG. */
int sw_pb_metric_list_decode(const uint8_t *buf, size_t len, sw_pb_metric_t *ret, size_t cap,
                             size_t *ret_n);

/* The server's side, for tests and the fuzz corpus: encoders of the responses and a decoder of
 * ScaledObjectRef (entries past cap are counted in *ret_nmeta but not stored; the strings point
 * into strs, NUL-terminated). */
long sw_pb_is_active_encode(bool result, uint8_t *buf, size_t cap);
long sw_pb_metric_list_encode(const sw_pb_metric_t *m, size_t n, uint8_t *buf, size_t cap);
int sw_pb_ref_decode(const uint8_t *buf, size_t len, char *strs, size_t strs_cap, sw_pb_ref_t *ret,
                     sw_pb_kv_t *meta, size_t cap, size_t *ret_nmeta);

#endif
