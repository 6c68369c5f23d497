/*
 * cron: KEDA's cron scaler (pkg/scalers/cron_scaler.go). Runs in the cron scale worker; needs
 * no event source, only the wall clock and the zone files.
 *
 * Parameters, from the trigger metadata only, trimmed, an empty value counting as absent (KEDA's
 * typed config): `timezone` (an IANA name), `start` and `end` (5-field cron expressions that
 * must differ as strings), `desiredReplicas` (an integer as Go's json.Unmarshal reads one). All
 * four are required.
 *
 * A poll is synchronous: value = desiredReplicas while the window is active, else 0, with the
 * window rule of cron_window_active() (KEDA compares the next start with the next end; the
 * window is [start, end) to the second). KEDA's cron has no activation threshold: it reports
 * the window itself as its activity, which the worker's "value > activation target" reproduces
 * because the watcher gives cron triggers an activation target of 0 and desiredReplicas is
 * positive here.
 *
 * Daylight saving time, as in KEDA: a start inside a spring-forward gap never comes that day, so
 * a [02:00, 03:00) window in Europe/Berlin is active from 03:00 the day before the gap until
 * 03:00 CEST on it (the next end precedes the next start); on a fall-back day the same window is
 * the second pass of 02:00-03:00 only (cron.h has the rules, test_cron.c the cases).
 *
 * Where ckeda differs, on purpose: an unknown `timezone` is a configuration error here, where
 * KEDA accepts it and fails every poll ("unable to load timezone"); a negative desiredReplicas
 * is rejected, where KEDA accepts it, reports value 0 (negative values are served as 0) and
 * still calls the trigger active, which a value of 0 cannot express.
 */
#include "common/cron.h"
#include "scaleworker/scaler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CS_QUOTE 64 /* at most this much of a bad value is quoted back */

typedef struct cs_state {
    cron_zone_t zone;
    cron_expr_t start, end;
    int64_t desired;
} cs_state_t;

static const sw_src_t cs_meta[] = {SW_SRC_METADATA, SW_SRC_END};

/* The required metadata value `name`, trimmed as Go's strings.TrimSpace (also of Unicode
 * spaces) into a new string. 0, -EINVAL (absent or empty, message in err) or -ENOMEM. */
static int cs_value(const sw_params_t *p, const char *name, char **ret, char *err, size_t errlen)
{
    const char *const names[] = {name, NULL};
    sw_param_t v;
    const char *s;
    char *copy;
    size_t n;

    if (sw_param_find(p, names, cs_meta, &v) != 1) {
        snprintf(err, errlen, "metadata.%s: missing required parameter", name);
        return -EINVAL;
    }
    if (!(copy = strndup(v.value, v.len)))
        return -ENOMEM;
    s = cron_trim(copy, &n);
    if (n == 0) {
        free(copy);
        snprintf(err, errlen, "metadata.%s: missing required parameter", name);
        return -EINVAL;
    }
    memmove(copy, s, n);
    copy[n] = '\0';
    *ret = copy;
    return 0;
}

/* desiredReplicas as json.Unmarshal reads it into int64: -?(0|[1-9][0-9]*) in range, and
 * "null", which leaves the field 0. */
static int cs_int(const char *s, int64_t *ret, char *err, size_t errlen)
{
    const char *d = s + (s[0] == '-');
    size_t n = strspn(d, "0123456789");
    long long v;

    if (strcmp(s, "null") == 0) {
        *ret = 0;
        return 0;
    }
    if (n == 0 || d[n] || (d[0] == '0' && n > 1)) {
        snprintf(err, errlen, "metadata.desiredReplicas: \"%.*s%s\" is not an integer", CS_QUOTE, s,
                 strlen(s) > CS_QUOTE ? "..." : "");
        return -EINVAL;
    }
    errno = 0;
    v = strtoll(s, NULL, 10);
    if (errno == ERANGE) {
        snprintf(err, errlen, "metadata.desiredReplicas: \"%.*s\" is out of range", CS_QUOTE, s);
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

static int cs_schedule(const char *name, const char *spec, cron_expr_t *ret, char *err,
                       size_t errlen)
{
    char why[CRON_ERR_MAX];

    if (cron_expr_parse(spec, ret, why, sizeof why) < 0) {
        snprintf(err, errlen, "metadata.%s: error parsing %s schedule: %s", name, name, why);
        return -EINVAL;
    }
    return 0;
}

/* The checks, in KEDA's order: presence (done by the caller) and the integer syntax of
 * desiredReplicas; then Validate(): both schedules, start != end, desiredReplicas != 0; then
 * what only ckeda checks: desiredReplicas > 0 and the zone. */
static int cs_check(cs_state_t *st, char *const v[4], char *err, size_t errlen)
{
    int r;

    if ((r = cs_int(v[3], &st->desired, err, errlen)) < 0)
        return r;
    if (cs_schedule("start", v[0], &st->start, err, errlen) < 0 ||
        cs_schedule("end", v[1], &st->end, err, errlen) < 0)
        return -EINVAL;
    if (strcmp(v[0], v[1]) == 0) {
        snprintf(err, errlen, "metadata.end: start and end can not have exactly same time input");
        return -EINVAL;
    }
    if (st->desired <= 0) {
        snprintf(err, errlen, "metadata.desiredReplicas: %s",
                 st->desired == 0 ? "no desiredReplicas specified (0)"
                                  : "must be a positive replica count");
        return -EINVAL;
    }
    if ((r = cron_zone_load(v[2], &st->zone)) < 0) {
        snprintf(err, errlen, "metadata.timezone: \"%.*s\" is %s", CS_QUOTE, v[2],
                 r == -ENOENT ? "not a known time zone (an IANA name such as Europe/Berlin)"
                              : "not a valid time zone name");
        return -EINVAL;
    }
    return 0;
}

static int cs_parse(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    static const char *const names[4] = {"start", "end", "timezone", "desiredReplicas"};
    char *v[4] = {NULL, NULL, NULL, NULL};
    cs_state_t st = {0}, *p = NULL;
    int r = 0;

    for (int i = 0; i < 4 && r == 0; i++)
        r = cs_value(params, names[i], &v[i], err, errlen);
    if (r == 0)
        r = cs_check(&st, v, err, errlen);
    if (r == 0 && !(p = malloc(sizeof *p)))
        r = -ENOMEM;
    if (r == 0) {
        *p = st;
        *ret = p;
    }
    for (int i = 0; i < 4; i++)
        free(v[i]);
    return r;
}

static void cs_poll(sw_poll_t *p, void *state)
{
    const cs_state_t *st = state;
    char msg[CRON_ERR_MAX];
    bool active;
    int r = cron_window_active(&st->start, &st->end, &st->zone, (int64_t)time(NULL), &active);

    if (r < 0) {
        snprintf(msg, sizeof msg, "cron: could not evaluate the schedules in %s: %s", st->zone.name,
                 strerror(-r));
        sw_poll_done(p, false, 0, msg);
        return;
    }
    sw_poll_done(p, true, active ? (double)st->desired : 0.0, NULL);
}

static void cs_close(void *state)
{
    free(state);
}

const sw_scaler_t sw_scaler_cron = {
    .name = "cron",
    .parse = cs_parse,
    .poll = cs_poll,
    .cancel = NULL, /* every poll completes within cs_poll */
    .close = cs_close,
};
