/*
 * The cron scaler and its schedules: robfig/cron v3.0.1's parser and Next() as KEDA uses them
 * (accept/reject tables, month ends, leap years, DST in Europe/Berlin and America/New_York, the
 * day-of-month/day-of-week rule), KEDA's window rule at its boundary seconds, the scaler's
 * parameter errors and KEDA's metric-name golden cases (cron_scaler_test.go). Expected fire
 * times were checked against robfig/cron v3.0.1 itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cron.h"
#include "scaleworker/scaler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const sw_scaler_t sw_scaler_cron;

/* "YYYY-MM-DD HH:MM:SS" in UTC, as Unix seconds. */
static int64_t utc(const char *s)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);

    assert_non_null(end);
    assert_int_equal(*end, '\0');
    return (int64_t)timegm(&tm);
}

static cron_zone_t zone(const char *name)
{
    cron_zone_t z;
    assert_int_equal(cron_zone_load(name, &z), 0);
    return z;
}

static cron_expr_t expr(const char *spec)
{
    cron_expr_t e;
    char err[CRON_ERR_MAX] = "";
    if (cron_expr_parse(spec, &e, err, sizeof err) != 0)
        fail_msg("\"%s\" rejected: %s", spec, err);
    return e;
}

/* cron_next(spec) in zone from `from` must be `want` (UTC text), or none when want is NULL. */
static void next_is(const char *zname, const char *spec, const char *from, const char *want)
{
    cron_zone_t z = zone(zname);
    cron_expr_t e = expr(spec);
    int64_t got = -1;
    int r = cron_next(&e, &z, utc(from), &got);

    if (!want) {
        assert_int_equal(r, -ENOENT);
        assert_int_equal(got, -1); /* untouched */
        return;
    }
    assert_int_equal(r, 0);
    if (got != utc(want))
        fail_msg("%s \"%s\" after %s: got %lld, want %s (%lld)", zname, spec, from, (long long)got,
                 want, (long long)utc(want));
}

static void rejected(const char *spec, const char *field)
{
    cron_expr_t e;
    char err[CRON_ERR_MAX] = "";

    if (cron_expr_parse(spec, &e, err, sizeof err) != -EINVAL)
        fail_msg("\"%s\" accepted", spec);
    if (!strstr(err, field))
        fail_msg("\"%s\": message \"%s\" does not name \"%s\"", spec, err, field);
}

/* ---- parser -------------------------------------------------------------------------------- */

static void test_cron_expr_parse_accepts_keda_and_robfig_forms(void **state)
{
    static const char *const ok[] = {
        /* KEDA's cron_scaler_test.go */
        "0 0 * * Thu", "59 23 * * Thu", "0 */2 * * *", "0 1-23/2 * * *", "0,30 * * * *",
        "15,45 * * * *", "30-33 * * * *", "45-50 * * * *",
        /* robfig's grammar, including what it tolerates */
        "* * * * *", "? ? ? ? ?", "*/15 9-17 * * MON-FRI", "0 0 1 jan,FEB,Mar *", "5/10 * * * *",
        "0 0 * * sun-sat", "0 0 1 jan-dec/3 *", "+5 * * * *", "05 07 * * *", "1,,2 * * * *",
        ",5 * * * *", "*-5 * * * *", "*/+2 * * * *", "0\t0  *\n* *", " 0 0 * * * ",
        "0\xc2\xa0"
        "0 * *\xe3\x80\x80*", /* U+00A0 and U+3000 separate fields, as in Go */
        "TZ=Europe/Berlin 0 9 * * *", "CRON_TZ=Asia/Tokyo 0 9 * * *", "TZ=UTC  0 9 * * *",
        "TZ= 0 9 * * *", "*/9223372036854775807 * * * *"};

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        (void)expr(ok[i]);
}

static void test_cron_expr_parse_rejects_naming_the_field(void **state)
{
    static const char *const bad[][2] = {
        /* KEDA's cron_scaler_test.go */
        {"-30 * * * *", "minute"},
        {"30 * * * *", NULL},
        {"-50 * * * *", "minute"},
        {"50 * * -3 *", "month"},
        /* bounds of each field */
        {"60 * * * *", "minute"},
        {"* 24 * * *", "hour"},
        {"* * 0 * *", "day-of-month"},
        {"* * 32 * *", "day-of-month"},
        {"* * * 0 *", "month"},
        {"* * * 13 *", "month"},
        {"* * * * 7", "day-of-week"},
        /* syntax */
        {"5-1 * * * *", "minute"},
        {"1-2-3 * * * *", "minute"},
        {"1/2/3 * * * *", "minute"},
        {"*/0 * * * *", "minute"},
        {"*/-2 * * * *", "minute"},
        {"x * * * *", "minute"},
        {"jan * * * *", "minute"},
        {"* * * JANUARY *", "month"},
        {"* * * * MONDAY", "day-of-week"},
        {"* * * * sat-sun", "day-of-week"},
        {"*/ * * * *", "minute"},
        {"99999999999999999999 * * * *", "out of range"},
        {"0\xe2\x80\x8b"
         "0 * * * *",
         "minute"}, /* U+200B is not white space */
        {"* * * *", "5 fields"},
        {"* * * * * *", "5 fields"},
        {"", "empty"},
        {"@hourly", "descriptors"},
        {"@every 1h", "descriptors"},
        {"TZ=Nowhere/Zone 0 9 * * *", "time zone"},
        {"TZ=../etc 0 9 * * *", "time zone"},
        {"TZ=Europe/Berlin", "time zone"},
        {"TZ=UTC ", "5 fields"},
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (bad[i][1])
            rejected(bad[i][0], bad[i][1]);
}

static void test_cron_expr_parse_rejects_seven_as_sunday(void **state)
{
    rejected("0 0 * * 7", "end of range (7) above maximum (6)");
    rejected("0 0 * * 5-7", "day-of-week");
    assert_int_equal(expr("0 0 * * 0").dow, 1ULL << 0);
    assert_int_equal(expr("0 0 * * SUN").dow, 1ULL << 0);
}

static void test_cron_expr_parse_builds_bits(void **state)
{
    cron_expr_t e = expr("*/15 9-17 * * MON-FRI");

    assert_int_equal(e.minute, (1ULL << 0) | (1ULL << 15) | (1ULL << 30) | (1ULL << 45));
    assert_int_equal(e.hour, ((1ULL << 18) - 1) & ~((1ULL << 9) - 1));
    assert_int_equal(e.dom, (((1ULL << 32) - 1) & ~1ULL) | CRON_STAR);
    assert_int_equal(e.month, (((1ULL << 13) - 1) & ~1ULL) | CRON_STAR);
    assert_int_equal(e.dow, 0x3eULL);
    assert_false(e.has_zone);
    assert_int_equal(expr("0 0 1 jan,FEB,Mar *").month, 0xeULL);
    assert_int_equal(expr("5/20 * * * *").minute, (1ULL << 5) | (1ULL << 25) | (1ULL << 45));
    /* a step of 1 keeps `*` a star (the day rule), a larger one does not */
    assert_true(expr("0 0 */1 * 5").dom & CRON_STAR);
    assert_false(expr("0 0 */2 * 5").dom & CRON_STAR);
    assert_true(expr("0 0 ? * 5").dom & CRON_STAR);
    /* an empty list is a field that never matches */
    assert_int_equal(expr(", * * * *").minute, 0);
}

static void test_cron_expr_parse_zone_prefix(void **state)
{
    cron_expr_t e = expr("CRON_TZ=Asia/Tokyo 0 9 * * *");

    assert_true(e.has_zone);
    assert_string_equal(e.zone.name, "Asia/Tokyo");
    e = expr("TZ= 0 9 * * *"); /* Go's LoadLocation("") is UTC */
    assert_true(e.has_zone);
    assert_int_equal(e.zone.kind, CRON_ZONE_UTC);
    e = expr("TZ=Local 0 9 * * *"); /* time.Local: robfig uses the caller's zone */
    assert_false(e.has_zone);
}

/* ---- zones --------------------------------------------------------------------------------- */

static void test_cron_zone_load_follows_go(void **state)
{
    cron_zone_t z = {.kind = CRON_ZONE_FILE, .name = "untouched"};

    assert_int_equal(zone("Europe/Berlin").kind, CRON_ZONE_FILE);
    assert_int_equal(zone("Etc/UTC").kind, CRON_ZONE_FILE);
    assert_int_equal(zone("UTC").kind, CRON_ZONE_UTC);
    assert_int_equal(zone("Local").kind, CRON_ZONE_LOCAL);
    assert_int_equal(cron_zone_load("Nowhere/Zone", &z), -ENOENT);
    assert_int_equal(cron_zone_load("Europe", &z), -ENOENT); /* a directory */
    assert_int_equal(cron_zone_load("europe/berlin", &z), -ENOENT);
    assert_int_equal(cron_zone_load("../zoneinfo/Europe/Berlin", &z), -EINVAL);
    assert_int_equal(cron_zone_load("Europe/../Europe/Berlin", &z), -EINVAL);
    assert_int_equal(cron_zone_load("/usr/share/zoneinfo/Europe/Berlin", &z), -EINVAL);
    assert_int_equal(cron_zone_load("\\Europe", &z), -EINVAL);
    char longname[CRON_ZONE_NAME_MAX + 8];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(cron_zone_load(longname, &z), -EINVAL);
    assert_string_equal(z.name, "untouched");
}

static void test_cron_next_restores_tz(void **state)
{
    cron_zone_t z = zone("America/New_York");
    cron_expr_t e = expr("0 9 * * *");
    int64_t t;

    setenv("TZ", "Asia/Kolkata", 1);
    assert_int_equal(cron_next(&e, &z, utc("2024-01-01 00:00:00"), &t), 0);
    assert_string_equal(getenv("TZ"), "Asia/Kolkata");
    unsetenv("TZ");
    assert_int_equal(cron_next(&e, &z, utc("2024-01-01 00:00:00"), &t), 0);
    assert_null(getenv("TZ"));
    tzset();
}

/* ---- next ---------------------------------------------------------------------------------- */

static void test_cron_next_strictly_after(void **state)
{
    next_is("Etc/UTC", "59 23 31 12 *", "2024-12-31 23:58:59", "2024-12-31 23:59:00");
    next_is("Etc/UTC", "59 23 31 12 *", "2024-12-31 23:59:00", "2025-12-31 23:59:00");
    next_is("Etc/UTC", "* * * * *", "2024-06-30 23:59:59", "2024-07-01 00:00:00");
}

static void test_cron_next_month_ends(void **state)
{
    next_is("Etc/UTC", "0 0 31 * *", "2024-01-31 00:00:00", "2024-03-31 00:00:00");
    next_is("Etc/UTC", "0 0 31 * *", "2024-03-31 00:00:00", "2024-05-31 00:00:00");
    next_is("Etc/UTC", "0 0 30 * *", "2023-01-30 00:00:00", "2023-03-30 00:00:00");
    next_is("Europe/Berlin", "0 0 1 * *", "2024-01-31 12:00:00", "2024-01-31 23:00:00");
}

static void test_cron_next_leap_years(void **state)
{
    next_is("Etc/UTC", "0 12 29 2 *", "2023-03-01 00:00:00", "2024-02-29 12:00:00");
    next_is("Etc/UTC", "0 12 29 2 *", "2024-03-01 00:00:00", "2028-02-29 12:00:00");
    /* 2100 is no leap year and 2104 lies beyond robfig's five years: none */
    next_is("Etc/UTC", "0 12 29 2 *", "2097-03-01 00:00:00", NULL);
    next_is("Etc/UTC", "0 0 30 2 *", "2024-01-01 00:00:00", NULL);
    next_is("Etc/UTC", ", * * * *", "2024-01-01 00:00:00", NULL);
}

static void test_cron_next_dst_europe_berlin(void **state)
{
    /* spring forward, 2024-03-31 02:00 CET -> 03:00 CEST: 02:30 does not exist that day */
    next_is("Europe/Berlin", "30 2 * * *", "2024-03-30 12:00:00", "2024-04-01 00:30:00");
    next_is("Europe/Berlin", "30 2 * * *", "2024-03-31 00:59:59", "2024-04-01 00:30:00");
    next_is("Europe/Berlin", "0 * * * *", "2024-03-31 00:30:00", "2024-03-31 01:00:00");
    next_is("Europe/Berlin", "* * * * *", "2024-03-31 00:59:59", "2024-03-31 01:00:00");
    /* fall back, 2024-10-27 03:00 CEST -> 02:00 CET: 02:30 happens twice, and fires twice */
    next_is("Europe/Berlin", "30 2 * * *", "2024-10-26 12:00:00", "2024-10-27 00:30:00");
    next_is("Europe/Berlin", "30 2 * * *", "2024-10-27 00:30:00", "2024-10-27 01:30:00");
    next_is("Europe/Berlin", "30 2 * * *", "2024-10-27 01:30:00", "2024-10-28 01:30:00");
    next_is("Europe/Berlin", "0 * * * *", "2024-10-27 00:30:00", "2024-10-27 01:00:00");
    next_is("Europe/Berlin", "0 * * * *", "2024-10-27 01:00:00", "2024-10-27 02:00:00");
    next_is("Europe/Berlin", "0 3 * * *", "2024-10-27 00:00:00", "2024-10-27 02:00:00");
}

static void test_cron_next_dst_america_new_york(void **state)
{
    /* spring forward, 2024-03-10 02:00 EST -> 03:00 EDT */
    next_is("America/New_York", "30 2 * * *", "2024-03-09 12:00:00", "2024-03-11 06:30:00");
    next_is("America/New_York", "0 * * * *", "2024-03-10 06:30:00", "2024-03-10 07:00:00");
    /* fall back, 2024-11-03 02:00 EDT -> 01:00 EST: 01:30 fires at EDT and again at EST */
    next_is("America/New_York", "30 1 * * *", "2024-11-02 12:00:00", "2024-11-03 05:30:00");
    next_is("America/New_York", "30 1 * * *", "2024-11-03 05:30:00", "2024-11-03 06:30:00");
    next_is("America/New_York", "30 1 * * *", "2024-11-03 06:30:00", "2024-11-04 06:30:00");
    next_is("America/New_York", "0 * * * *", "2024-11-03 05:30:00", "2024-11-03 06:00:00");
    next_is("America/New_York", "0 * * * *", "2024-11-03 06:00:00", "2024-11-03 07:00:00");
    next_is("America/New_York", "0 2 * * *", "2024-11-02 12:00:00", "2024-11-03 07:00:00");
}

static void test_cron_next_day_of_month_or_day_of_week(void **state)
{
    /* both restricted: either matches (the 13th, or any Friday) */
    next_is("Etc/UTC", "0 0 13 * 5", "2024-01-01 00:00:00", "2024-01-05 00:00:00");
    next_is("Etc/UTC", "0 0 13 * 5", "2024-01-12 00:00:00", "2024-01-13 00:00:00");
    next_is("Etc/UTC", "0 0 13 * 5", "2024-09-13 00:00:00", "2024-09-20 00:00:00");
    /* one of them `*` (or `?`, or `*` with step 1): both must match */
    next_is("Etc/UTC", "0 0 * * 5", "2024-01-01 00:00:00", "2024-01-05 00:00:00");
    next_is("Etc/UTC", "0 0 */1 * 5", "2024-01-01 00:00:00", "2024-01-05 00:00:00");
    next_is("Etc/UTC", "0 0 13 * ?", "2024-01-01 00:00:00", "2024-01-13 00:00:00");
    next_is("Etc/UTC", "0 0 1 * *", "2024-01-02 00:00:00", "2024-02-01 00:00:00");
    /* a step above 1 is a restriction: odd days or Fridays */
    next_is("Etc/UTC", "0 0 */2 * 5", "2024-01-01 00:00:00", "2024-01-03 00:00:00");
}

static void test_cron_next_own_zone_overrides(void **state)
{
    next_is("Europe/Berlin", "CRON_TZ=Asia/Tokyo 0 9 * * *", "2024-01-01 00:00:00",
            "2024-01-02 00:00:00");
    next_is("Europe/Berlin", "TZ=Local 0 9 * * *", "2024-01-01 00:00:00", "2024-01-01 08:00:00");
    next_is("Europe/Berlin", "TZ= 0 9 * * *", "2024-01-01 00:00:00", "2024-01-01 09:00:00");
}

static void test_cron_next_out_of_range(void **state)
{
    cron_zone_t z = zone("UTC");
    cron_expr_t e = expr("* * * * *");
    int64_t t = 42;

    assert_int_equal(cron_next(&e, &z, CRON_TIME_MAX + 1, &t), -ERANGE);
    assert_int_equal(cron_next(&e, &z, INT64_MIN, &t), -ERANGE);
    assert_int_equal(cron_prev(&e, &z, INT64_MAX, &t), -ERANGE);
    assert_int_equal(t, 42);
    assert_int_equal(cron_next(&e, &z, CRON_TIME_MAX - 30, &t), 0);
    assert_int_equal(t, CRON_TIME_MAX + 1);
}

/* Pacific/Apia skipped 2011-12-30: robfig's Next loops forever there; ours stops. */
static void test_cron_next_skipped_day_is_bounded(void **state)
{
    cron_zone_t z = zone("Pacific/Apia");
    cron_expr_t e = expr("59 23 31 12 *");
    int64_t t = 7;

    assert_int_equal(cron_next(&e, &z, utc("2011-01-23 09:41:48"), &t), -ELOOP);
    assert_int_equal(t, 7);
}

/* ---- prev ---------------------------------------------------------------------------------- */

static void prev_is(const char *zname, const char *spec, const char *at, const char *want)
{
    cron_zone_t z = zone(zname);
    cron_expr_t e = expr(spec);
    int64_t got = -1;
    int r = cron_prev(&e, &z, utc(at), &got);

    if (!want) {
        assert_int_equal(r, -ENOENT);
        return;
    }
    assert_int_equal(r, 0);
    if (got != utc(want))
        fail_msg("%s \"%s\" at %s: got %lld, want %s", zname, spec, at, (long long)got, want);
}

static void test_cron_prev_at_or_before(void **state)
{
    prev_is("Etc/UTC", "0 9 * * *", "2024-05-10 09:00:00", "2024-05-10 09:00:00");
    prev_is("Etc/UTC", "0 9 * * *", "2024-05-10 08:59:59", "2024-05-09 09:00:00");
    prev_is("Etc/UTC", "0 0 31 * *", "2024-05-01 00:00:00", "2024-03-31 00:00:00");
    prev_is("Etc/UTC", "0 12 29 2 *", "2028-02-28 00:00:00", "2024-02-29 12:00:00");
    prev_is("Europe/Berlin", "30 2 * * *", "2024-10-27 01:45:00", "2024-10-27 01:30:00");
    prev_is("Europe/Berlin", "30 2 * * *", "2024-10-27 01:00:00", "2024-10-27 00:30:00");
    prev_is("Europe/Berlin", "30 2 * * *", "2024-04-01 00:00:00", "2024-03-30 01:30:00");
    prev_is("America/New_York", "30 1 * * *", "2024-11-03 07:00:00", "2024-11-03 06:30:00");
    prev_is("Etc/UTC", "0 0 30 2 *", "2024-05-01 00:00:00", NULL);
}

/* The defining property against brute force: f <= t, f fires, nothing fires in (f, t]. */
static void test_cron_prev_agrees_with_next(void **state)
{
    static const char *const zones[] = {"Etc/UTC", "Europe/Berlin", "America/New_York",
                                        "Australia/Lord_Howe"};
    static const char *const specs[] = {"30 2 * * *", "0 * * * *",     "*/7 1-3 * * *",
                                        "0 0 13 * 5", "15 3 * 3,10 0", "0 0 29 2 *"};
    int64_t t0 = utc("2024-03-08 00:00:00");

    for (size_t zi = 0; zi < sizeof zones / sizeof zones[0]; zi++)
        for (size_t si = 0; si < sizeof specs / sizeof specs[0]; si++) {
            cron_zone_t z = zone(zones[zi]);
            cron_expr_t e = expr(specs[si]);
            for (int64_t t = t0; t < t0 + 240 * 86400; t += 86400 * 3 + 3607) {
                int64_t f, n;
                assert_int_equal(cron_prev(&e, &z, t, &f), 0);
                assert_true(f <= t);
                assert_int_equal(cron_next(&e, &z, f - 1, &n), 0);
                assert_int_equal(n, f);
                assert_int_equal(cron_next(&e, &z, f, &n), 0);
                assert_true(n > t);
            }
        }
}

/* ---- KEDA's window rule ---------------------------------------------------------------------- */

static bool window(const char *zname, const char *start, const char *end, const char *at)
{
    cron_zone_t z = zone(zname);
    cron_expr_t s = expr(start), e = expr(end);
    bool active = false;

    assert_int_equal(cron_window_active(&s, &e, &z, utc(at), &active), 0);
    return active;
}

static void test_cron_window_active_keda_thursday(void **state)
{
    /* 2024-05-16 is a Thursday; start minute inclusive, end minute exclusive */
    const char *s = "0 0 * * Thu", *e = "59 23 * * Thu";
    assert_false(window("Etc/UTC", s, e, "2024-05-15 23:59:59"));
    assert_true(window("Etc/UTC", s, e, "2024-05-16 00:00:00"));
    assert_true(window("Etc/UTC", s, e, "2024-05-16 12:00:00"));
    assert_true(window("Etc/UTC", s, e, "2024-05-16 23:58:59"));
    assert_false(window("Etc/UTC", s, e, "2024-05-16 23:59:00"));
    assert_false(window("Etc/UTC", s, e, "2024-05-17 12:00:00"));
}

static void test_cron_window_active_keda_even_hours(void **state)
{
    const char *s = "0 */2 * * *", *e = "0 1-23/2 * * *";
    assert_false(window("Etc/UTC", s, e, "2024-05-16 01:59:59"));
    assert_true(window("Etc/UTC", s, e, "2024-05-16 02:00:00"));
    assert_true(window("Etc/UTC", s, e, "2024-05-16 02:59:59"));
    assert_false(window("Etc/UTC", s, e, "2024-05-16 03:00:00"));
    assert_true(window("Etc/UTC", s, e, "2024-05-16 00:00:00"));
    assert_false(window("Etc/UTC", s, e, "2024-05-16 23:59:59"));
}

static void test_cron_window_active_keda_comma_lists(void **state)
{
    const char *s = "0,30 * * * *", *e = "15,45 * * * *";
    assert_true(window("Etc/UTC", s, e, "2024-05-16 10:00:00"));
    assert_true(window("Etc/UTC", s, e, "2024-05-16 10:14:59"));
    assert_false(window("Etc/UTC", s, e, "2024-05-16 10:15:00"));
    assert_false(window("Etc/UTC", s, e, "2024-05-16 10:29:59"));
    assert_true(window("Etc/UTC", s, e, "2024-05-16 10:30:00"));
}

static void test_cron_window_active_spans_midnight_in_zone(void **state)
{
    /* 22:00-06:00 in Asia/Kolkata (UTC+05:30) */
    const char *s = "0 22 * * *", *e = "0 6 * * *";
    assert_false(window("Asia/Kolkata", s, e, "2024-05-16 16:29:59"));
    assert_true(window("Asia/Kolkata", s, e, "2024-05-16 16:30:00"));
    assert_true(window("Asia/Kolkata", s, e, "2024-05-16 20:00:00"));
    assert_true(window("Asia/Kolkata", s, e, "2024-05-17 00:29:59"));
    assert_false(window("Asia/Kolkata", s, e, "2024-05-17 00:30:00"));
}

static void test_cron_window_active_degenerate_schedules(void **state)
{
    /* different texts that fire together: E <= S, so always active */
    assert_true(window("Etc/UTC", "0 9 * * *", "0 9 * * 0-6", "2024-05-16 12:00:00"));
    assert_true(window("Etc/UTC", "* * * * *", "*/1 * * * *", "2024-05-16 12:00:30"));
    /* a start that never fires is Go's zero time, before now: active */
    assert_true(window("Etc/UTC", "0 0 30 2 *", "0 9 * * *", "2024-05-16 12:00:00"));
    /* an end that never fires: inactive */
    assert_false(window("Etc/UTC", "0 9 * * *", "0 0 30 2 *", "2024-05-16 12:00:00"));
    assert_true(window("Etc/UTC", "0 0 30 2 *", "0 0 31 2 *", "2024-05-16 12:00:00"));
}

static void test_cron_window_active_dst(void **state)
{
    /* [02:00, 03:00) in Berlin: on the spring-forward day 02:00 never comes, so from the
     * previous day's 03:00 the next end (03:00 CEST) precedes the next start: KEDA reports the
     * whole day before the gap as active */
    const char *s = "0 2 * * *", *e = "0 3 * * *";
    assert_false(window("Europe/Berlin", s, e, "2024-03-29 12:00:00"));
    assert_true(window("Europe/Berlin", s, e, "2024-03-30 12:00:00"));
    assert_true(window("Europe/Berlin", s, e, "2024-03-31 00:59:59"));
    assert_false(window("Europe/Berlin", s, e, "2024-03-31 01:00:00"));
    /* fall back: during the first 02:00-03:00 (CEST) the next start is the second 02:00
     * (CET), which precedes the next end, so the window is only the second pass, 02:00-03:00
     * CET: one hour, as on any other day */
    assert_false(window("Europe/Berlin", s, e, "2024-10-26 23:59:59"));
    assert_false(window("Europe/Berlin", s, e, "2024-10-27 00:00:00"));
    assert_false(window("Europe/Berlin", s, e, "2024-10-27 00:30:00"));
    assert_true(window("Europe/Berlin", s, e, "2024-10-27 01:00:00"));
    assert_true(window("Europe/Berlin", s, e, "2024-10-27 01:59:59"));
    assert_false(window("Europe/Berlin", s, e, "2024-10-27 02:00:00"));
}

/* ---- metric name --------------------------------------------------------------------------- */

static void metric_is(int index, const char *tz, const char *start, const char *end,
                      const char *want)
{
    char part[256], full[300];

    assert_int_equal(cron_metric_name(tz, start, end, part, sizeof part), 0);
    snprintf(full, sizeof full, "s%d-%s", index, part);
    assert_string_equal(full, want);
}

static void test_cron_metric_name_keda_golden_cases(void **state)
{
    metric_is(0, "Etc/UTC", "0 0 * * Thu", "59 23 * * Thu", "s0-cron-Etc-UTC-00xxThu-5923xxThu");
    metric_is(1, "Etc/UTC", "0 */2 * * *", "0 1-23/2 * * *",
              "s1-cron-Etc-UTC-0xSl2xxx-01-23Sl2xxx");
    metric_is(2, "Etc/UTC", "0,30 * * * *", "15,45 * * * *",
              "s2-cron-Etc-UTC-0Cm30xxxx-15Cm45xxxx");
}

static void test_cron_metric_name_sanitizes(void **state)
{
    metric_is(0, "America/Argentina/Buenos_Aires", "0 0 ? * *", "0 6 * * 1-5",
              "s0-cron-America-Argentina-Buenos_Aires-00Qmxx-06xx1-5");
    metric_is(3, " Asia/Kolkata\t", " 30 * * * * ", "45 * * * *\n",
              "s3-cron-Asia-Kolkata-30xxxx-45xxxx");
    metric_is(0, "Etc/GMT+1", "0 9 * * *", "0 17 * * *", "s0-cron-Etc-GMT+1-09xxx-017xxx");
    /* NormalizeString also replaces . : % ( ), and keeps case and everything else */
    metric_is(0, "a.b:c%d(e)", "TZ=UTC 0 9 * * MON", "0\t17 * * *",
              "s0-cron-a-b-c-d-e--TZ=UTC09xxMON-0\t17xxx");
}

static void test_cron_metric_name_small_buffer(void **state)
{
    char buf[30];

    memset(buf, '#', sizeof buf);
    /* "cron-Etc-UTC-00xxThu-5923xxThu" is 30 bytes: one short */
    assert_int_equal(cron_metric_name("Etc/UTC", "0 0 * * Thu", "59 23 * * Thu", buf, sizeof buf),
                     -ERANGE);
    assert_int_equal(buf[0], '#');
    assert_int_equal(cron_metric_name("Etc/UTC", "0 0 * * Thu", "59 23 * * Thu", buf, 0), -ERANGE);
}

/* ---- the scaler ---------------------------------------------------------------------------- */

/* Parses metadata (JSON) with the cron scaler: 0 or -EINVAL; err holds the message. */
static int scaler_parse(const char *json, void **ret_state, char *err, size_t errlen)
{
    cJSON *md = cJSON_Parse(json);
    shm_trig_cfg_t cfg = {0};
    sw_params_t p = {.metadata = md, .auth = NULL, .cfg = &cfg};
    int r;

    assert_non_null(md);
    err[0] = '\0';
    r = sw_scaler_cron.parse(&p, ret_state, err, errlen);
    cJSON_Delete(md);
    return r;
}

static void parse_fails(const char *json, const char *want)
{
    void *st = NULL;
    char err[512];

    if (scaler_parse(json, &st, err, sizeof err) != -EINVAL)
        fail_msg("accepted: %s", json);
    assert_null(st);
    if (!strstr(err, want))
        fail_msg("%s: message \"%s\" lacks \"%s\"", json, err, want);
}

static void test_cron_scaler_parse_keda_table(void **state)
{
    void *st = NULL;
    char err[512];

    assert_string_equal(sw_scaler_cron.name, "cron");
    assert_int_equal(scaler_parse("{\"timezone\":\"Etc/UTC\",\"start\":\"0 0 * * Thu\","
                                  "\"end\":\"59 23 * * Thu\",\"desiredReplicas\":\"10\"}",
                                  &st, err, sizeof err),
                     0);
    assert_non_null(st);
    sw_scaler_cron.close(st);
    st = NULL;
    assert_int_equal(scaler_parse("{\"timezone\":\" Asia/Kolkata \",\"start\":\"30-33 * * * *\","
                                  "\"end\":\" 45 * * * * \",\"desiredReplicas\":\" 10 \"}",
                                  &st, err, sizeof err),
                     0);
    sw_scaler_cron.close(st);
    parse_fails("{}", "metadata.start: missing required parameter");
    parse_fails("{\"timezone\":\"Asia/Kolkata\",\"start\":\"30 * * * *\",\"end\":\"45 * * * *\"}",
                "metadata.desiredReplicas: missing");
    parse_fails("{\"start\":\"30 * * * *\",\"end\":\"45 * * * *\",\"desiredReplicas\":\"10\"}",
                "metadata.timezone: missing");
    parse_fails("{\"timezone\":\"Asia/Kolkata\",\"start\":\"-30 * * * *\",\"end\":\"45 * * * *\","
                "\"desiredReplicas\":\"10\"}",
                "metadata.start: error parsing start schedule: minute field");
    parse_fails("{\"timezone\":\"Asia/Kolkata\",\"start\":\"30 * * * *\",\"end\":\"-50 * * * *\","
                "\"desiredReplicas\":\"10\"}",
                "metadata.end: error parsing end schedule");
    parse_fails("{\"timezone\":\"Asia/Kolkata\",\"start\":\"30 * * * *\",\"end\":\"50 * * -3 *\","
                "\"desiredReplicas\":\"10\"}",
                "month field");
    parse_fails("{\"timezone\":\"Asia/Kolkata\",\"start\":\"30 * * * *\",\"end\":\"30 * * * *\","
                "\"desiredReplicas\":\"10\"}",
                "start and end can not have exactly same time input");
    parse_fails("{\"timezone\":\"Asia/Kolkata\",\"start\":\"30 * * * *\",\"end\":\" 30 * * * *\","
                "\"desiredReplicas\":\"10\"}",
                "exactly same"); /* compared after trimming */
    parse_fails("{\"timezone\":\"Asia/Kolkata\",\"start\":\"@hourly\",\"end\":\"45 * * * *\","
                "\"desiredReplicas\":\"10\"}",
                "descriptors");
}

static void test_cron_scaler_parse_desired_replicas_errors(void **state)
{
    static const char *const bad[][2] = {
        {"abc", "is not an integer"},
        {"1.5", "is not an integer"},
        {"1e3", "is not an integer"},
        {"+5", "is not an integer"},
        {"007", "is not an integer"},
        {"0x10", "is not an integer"},
        {"- 5", "is not an integer"},
        {"99999999999999999999", "out of range"},
        {"0", "no desiredReplicas specified"},
        {"-0", "no desiredReplicas specified"},
        {"null", "no desiredReplicas specified"},
        {"-3", "positive"},
        {"", "missing required parameter"},
        {"  ", "missing required parameter"},
    };
    char json[256];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(json, sizeof json,
                 "{\"timezone\":\"Etc/UTC\",\"start\":\"0 9 * * *\",\"end\":\"0 17 * * *\","
                 "\"desiredReplicas\":\"%s\"}",
                 bad[i][0]);
        parse_fails(json, "metadata.desiredReplicas");
        parse_fails(json, bad[i][1]);
    }
}

static void test_cron_scaler_parse_timezone_errors(void **state)
{
    parse_fails("{\"timezone\":\"Mars/Olympus_Mons\",\"start\":\"0 9 * * *\",\"end\":\"0 17 * * "
                "*\",\"desiredReplicas\":\"3\"}",
                "metadata.timezone: \"Mars/Olympus_Mons\" is not a known time zone");
    parse_fails("{\"timezone\":\"../../etc/passwd\",\"start\":\"0 9 * * *\",\"end\":\"0 17 * * "
                "*\",\"desiredReplicas\":\"3\"}",
                "metadata.timezone");
    parse_fails("{\"timezone\":\"\",\"start\":\"0 9 * * *\",\"end\":\"0 17 * * *\","
                "\"desiredReplicas\":\"3\"}",
                "metadata.timezone: missing required parameter");
    parse_fails("{\"timezone\":\"\xc2\xa0\",\"start\":\"0 9 * * *\",\"end\":\"0 17 * * *\","
                "\"desiredReplicas\":\"3\"}",
                "metadata.timezone: missing required parameter");
    parse_fails("{\"timezone\":7,\"start\":\"0 9 * * *\",\"end\":\"0 17 * * *\","
                "\"desiredReplicas\":\"3\"}",
                "metadata.timezone: missing required parameter");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_expr_parse_accepts_keda_and_robfig_forms),
        cmocka_unit_test(test_cron_expr_parse_rejects_naming_the_field),
        cmocka_unit_test(test_cron_expr_parse_rejects_seven_as_sunday),
        cmocka_unit_test(test_cron_expr_parse_builds_bits),
        cmocka_unit_test(test_cron_expr_parse_zone_prefix),
        cmocka_unit_test(test_cron_zone_load_follows_go),
        cmocka_unit_test(test_cron_next_restores_tz),
        cmocka_unit_test(test_cron_next_strictly_after),
        cmocka_unit_test(test_cron_next_month_ends),
        cmocka_unit_test(test_cron_next_leap_years),
        cmocka_unit_test(test_cron_next_dst_europe_berlin),
        cmocka_unit_test(test_cron_next_dst_america_new_york),
        cmocka_unit_test(test_cron_next_day_of_month_or_day_of_week),
        cmocka_unit_test(test_cron_next_own_zone_overrides),
        cmocka_unit_test(test_cron_next_out_of_range),
        cmocka_unit_test(test_cron_next_skipped_day_is_bounded),
        cmocka_unit_test(test_cron_prev_at_or_before),
        cmocka_unit_test(test_cron_prev_agrees_with_next),
        cmocka_unit_test(test_cron_window_active_keda_thursday),
        cmocka_unit_test(test_cron_window_active_keda_even_hours),
        cmocka_unit_test(test_cron_window_active_keda_comma_lists),
        cmocka_unit_test(test_cron_window_active_spans_midnight_in_zone),
        cmocka_unit_test(test_cron_window_active_degenerate_schedules),
        cmocka_unit_test(test_cron_window_active_dst),
        cmocka_unit_test(test_cron_metric_name_keda_golden_cases),
        cmocka_unit_test(test_cron_metric_name_sanitizes),
        cmocka_unit_test(test_cron_metric_name_small_buffer),
        cmocka_unit_test(test_cron_scaler_parse_keda_table),
        cmocka_unit_test(test_cron_scaler_parse_desired_replicas_errors),
        cmocka_unit_test(test_cron_scaler_parse_timezone_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
