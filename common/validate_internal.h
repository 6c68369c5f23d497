/*
 * validate_internal: functions shared by validate.c, validate_so.c and validate_cluster.c.
 * Readers here are tolerant: a field of the wrong type reads as absent, because the reconcile
 * checks (so_parse) already report it and a rule must never fail on what it does not check.
 */
#ifndef CKEDA_COMMON_VALIDATE_INTERNAL_H
#define CKEDA_COMMON_VALIDATE_INTERNAL_H

#include "common/validate.h"

#include <stddef.h>
#include <stdint.h>

/* Appends a finding (and counts it); past VALIDATE_FINDINGS_MAX sets rep->truncated. field may
 * be NULL. */
void validate_add(validate_report_t *rep, const char *reason, bool warning, const char *field,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Inserts a finding before every other one. */
void validate_add_first(validate_report_t *rep, const validate_finding_t *f);
bool validate_has_reason(const validate_report_t *rep, const char *reason);

/* The string at path, or NULL if missing or not a string. */
const char *validate_str(const cJSON *obj, const char *path);
/* The string at path, or "" if missing or not a string. */
const char *validate_str0(const cJSON *obj, const char *path);
/* True with *ret when path holds an integral number within int64 (JSON's exact range). */
bool validate_int(const cJSON *obj, const char *path, int64_t *ret);
/* True when path holds the boolean true. */
bool validate_true(const cJSON *obj, const char *path);
/* Go's %q of s into buf (quotes, escapes), at most cap bytes. */
const char *validate_quote(const char *s, char *buf, size_t cap);

/* KEDA's ValidateTriggers over obj's spec.triggers, as the finding incorrect-triggers. */
void validate_triggers_rule(const cJSON *obj, validate_report_t *rep);
/* KEDA's getHpaName: spec.advanced.horizontalPodAutoscalerConfig.name, else keda-hpa-<name>. */
const char *validate_hpa_name(const cJSON *obj, char *buf, size_t cap);
/* scaleTargetRef with KEDA's defaults: group (of apiVersion), version, kind, name. */
typedef struct validate_target {
    char group[128];
    char version[64];
    char kind[64];
    const char *name; /* borrowed; NULL if unset */
} validate_target_t;
void validate_target_of(const cJSON *ref, validate_target_t *ret);

/* The rules that need the cluster (validate_cluster.c). */
void validate_so_cluster(const cJSON *obj, const validate_cluster_t *cluster,
                         validate_report_t *rep);

#endif
