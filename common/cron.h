/*
 * cron: the cron scaler's schedules, as KEDA evaluates them with robfig/cron v3.0.1
 * (NewParser(Minute | Hour | Dom | Month | Dow)). Used by the cron scaler in its scale worker
 * (parse, next fire, the window rule) and by the watcher (the HPA metric name, which must equal
 * KEDA's byte for byte).
 *
 * Expressions: exactly five fields, minute hour day-of-month month day-of-week, split on white
 * space; each field a comma list (empty items skipped) of `*`, `?` (same as `*`, in any field),
 * `n`, `a-b`, `*`/`a`/`a-b` followed by `/step` (`a/step` means `a-max/step`). Months JAN..DEC
 * and weekdays SUN..SAT by name, any case. Day-of-week is 0..6 (7 is rejected, as robfig does).
 * Numbers as Go's strconv.Atoi reads them (a leading `+` and leading zeros are accepted).
 * Descriptors (`@hourly`) are rejected, as KEDA's parser does; a `TZ=<zone> ` or
 * `CRON_TZ=<zone> ` prefix gives the expression its own zone, as robfig allows.
 * Day rule: when day-of-month or day-of-week was written with `*` or `?` (also with a step of
 * 1), a day must match both; otherwise either one suffices.
 *
 * Time zones: IANA names, read by glibc from TZif files (under $TZDIR, else
 * /usr/share/zoneinfo); "UTC" needs no file and "Local" is this process's own zone, as in Go.
 * Evaluation sets TZ around localtime_r() and restores it, so it must not run while another
 * thread of the process reads the environment or the C library's zone state; the scale
 * worker that uses it has no other thread.
 *
 * Daylight saving time follows robfig/cron exactly (it walks wall-clock fields in absolute
 * hours and minutes): a time inside a spring-forward gap never fires that day (`30 2 * * *`
 * in Europe/Berlin skips the last Sunday of March), and a time inside a fall-back overlap fires
 * twice, once per offset (`30 2 * * *` fires at 02:30 CEST and again at 02:30 CET).
 *
 * Bounded and total: every function returns an answer or an error; a search never visits more
 * than CRON_STEPS_MAX candidate times, and like robfig it gives up after five years.
 */
#ifndef CKEDA_COMMON_CRON_H
#define CKEDA_COMMON_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRON_ZONE_NAME_MAX 128 /* longest IANA name accepted, including the NUL */
#define CRON_ERR_MAX       256 /* a parse error message fits in this */

/* Times handled: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z, in Unix seconds. */
#define CRON_TIME_MIN (-62135596800LL)
#define CRON_TIME_MAX 253402300799LL

/* Candidate times one search may visit before it fails with -ELOOP. Real schedules need a few
 * thousand at most; only zones with skipped days reach this (where robfig would loop forever). */
#define CRON_STEPS_MAX 100000u

/* A field value matches when its bit is set (bit n for value n). CRON_STAR marks a field
 * written with `*` or `?` and no step above 1, which selects the day rule. */
#define CRON_STAR (1ULL << 63)

typedef enum { CRON_ZONE_UTC, CRON_ZONE_LOCAL, CRON_ZONE_FILE } cron_zone_kind_t;

typedef struct cron_zone {
    cron_zone_kind_t kind;
    char name[CRON_ZONE_NAME_MAX]; /* as given, for messages; "UTC" / "Local" for those */
} cron_zone_t;

typedef struct cron_expr {
    uint64_t minute, hour, dom, month, dow;
    bool has_zone;    /* written with a TZ= or CRON_TZ= prefix naming a zone other than Local */
    cron_zone_t zone; /* that zone; it overrides the zone passed to cron_next() and friends */
} cron_expr_t;

/* Looks a zone up as Go's time.LoadLocation does: "UTC" and "Local" are built in; other names
 * must not contain ".." nor start with '/' or '\\', and must name a TZif file. 0, -EINVAL (a
 * malformed or too long name) or -ENOENT (no such zone). */
int cron_zone_load(const char *name, cron_zone_t *ret_zone);

/* Parses spec (not trimmed: KEDA trims metadata values before parsing, see cron_trim()). On
 * failure returns -EINVAL and writes a message naming the field into err (may be NULL). */
int cron_expr_parse(const char *spec, cron_expr_t *ret_expr, char *err, size_t errlen);

/* The first fire time strictly after t (Unix seconds) in zone (or the expression's own zone),
 * as robfig's SpecSchedule.Next. -ENOENT when there is none within robfig's five-year horizon
 * (Next returns the zero time then), -ERANGE when t is outside CRON_TIME_MIN..MAX, -ELOOP past
 * CRON_STEPS_MAX, -ENOMEM. */
int cron_next(const cron_expr_t *expr, const cron_zone_t *zone, int64_t t, int64_t *ret_next);

/* The last fire time at or before t: the latest f <= t with cron_next(f - 1) == f, looked for
 * within the 1825 days before t (-ENOENT when there is none). Other errors as cron_next(). */
int cron_prev(const cron_expr_t *expr, const cron_zone_t *zone, int64_t t, int64_t *ret_prev);

/* KEDA's cron window at now: with next start S and next end E (cron_next of each; "none" is
 * Go's zero time, earlier than any time), active iff S is none, or E exists and E <= S. So the
 * window is [start, end) to the second, and a schedule pair that fires together is active. */
int cron_window_active(const cron_expr_t *start, const cron_expr_t *end, const cron_zone_t *zone,
                       int64_t now, bool *ret_active);

/* The cron part of the HPA metric name, without KEDA's "s<index>-" prefix (GenerateMetricName
 * WithIndex). KEDA builds NormalizeString("cron-" + timezone + "-" + f(start) + "-" + f(end)),
 * where the three are the metadata values trimmed of white space (strings.TrimSpace), f()
 * deletes every ' ' and replaces '*' -> "x", '/' -> "Sl", '?' -> "Qm", ',' -> "Cm" (in that
 * order), and NormalizeString replaces each of / . : % ( ) with '-' (nothing else; case is
 * kept). "Etc/UTC", "0 0 * * Thu", "59 23 * * Thu" -> "cron-Etc-UTC-00xxThu-5923xxThu".
 * 0, or -ERANGE (buf untouched) when the name does not fit in cap bytes. */
int cron_metric_name(const char *timezone, const char *start, const char *end, char *buf,
                     size_t cap);

/* Go's strings.TrimSpace: the span of s without leading and trailing Unicode white space.
 * Returns its start and writes its length. */
const char *cron_trim(const char *s, size_t *ret_len);

#endif
