/*
 * cron: see cron.h. Runs in the cron scale worker (schedules) and the watcher (metric names).
 *
 * The search is robfig/cron v3.0.1's SpecSchedule.Next transcribed onto Unix seconds, with the
 * Go time primitives it relies on rebuilt here: time.Date (civil fields normalized, then the
 * zone offset chosen exactly as Go chooses it for a gap or an overlap), AddDate, Add and
 * Truncate. Keeping robfig's walk rather than a cleaner search is deliberate: its DST
 * behaviour (skip in a gap, fire twice in an overlap) is what KEDA users observe.
 *
 * Invariants: no allocation except saving TZ; TZ is always restored before a public function
 * returns; every search is bounded by CRON_STEPS_MAX and by robfig's five-year horizon.
 */
#include "common/cron.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(time_t) >= 8, "cron needs a 64-bit time_t");

#define CRON_BIT(n)       (1ULL << (n))
#define CRON_WRAP         1                     /* a seek wrapped: check every field again */
#define CRON_PREV_SPAN    (1825LL * 86400)      /* how far back cron_prev looks */
#define CRON_ZONEINFO_DIR "/usr/share/zoneinfo" /* glibc's default TZDIR */
#define CRON_QUOTE_MAX    48                    /* bytes of the offending text quoted in errors */

/* ---- white space, as Go's unicode.IsSpace ------------------------------------------------- */

/* Byte length of the white-space rune at s (NUL-terminated), 0 if none. Go also counts
 * U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F and U+3000; invalid
 * UTF-8 is never space, and stepping byte by byte over it finds the same runes Go decodes. */
static size_t cron_space_len(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    switch (s[0]) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
        return 1;
    case 0xC2:
        return s[1] == 0x85 || s[1] == 0xA0 ? 2 : 0;
    case 0xE1:
        return s[1] == 0x9A && s[2] == 0x80 ? 3 : 0;
    case 0xE2:
        if (s[1] == 0x80)
            return (s[2] >= 0x80 && s[2] <= 0x8A) || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF
                       ? 3
                       : 0;
        return s[1] == 0x81 && s[2] == 0x9F ? 3 : 0;
    case 0xE3:
        return s[1] == 0x80 && s[2] == 0x80 ? 3 : 0;
    default:
        return 0;
    }
}

const char *cron_trim(const char *s, size_t *ret_len)
{
    const char *p, *end;
    size_t n;

    while ((n = cron_space_len(s)) > 0)
        s += n;
    for (p = end = s; *p;) {
        n = cron_space_len(p);
        p += n ? n : 1;
        if (!n)
            end = p;
    }
    *ret_len = (size_t)(end - s);
    return s;
}

/* ---- zones --------------------------------------------------------------------------------- */

static const char *cron_zoneinfo_dir(void)
{
    const char *dir = getenv("TZDIR");
    return dir && dir[0] ? dir : CRON_ZONEINFO_DIR;
}

/* 0 when path is a regular file that starts like a TZif file. */
static int cron_tzif_check(const char *path)
{
    char magic[4];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    int r = 0;

    if (fd < 0)
        return -ENOENT;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || read(fd, magic, 4) != 4 ||
        memcmp(magic, "TZif", 4) != 0)
        r = -ENOENT;
    close(fd);
    return r;
}

int cron_zone_load(const char *name, cron_zone_t *ret_zone)
{
    cron_zone_t z = {.kind = CRON_ZONE_UTC};
    char path[PATH_MAX];
    size_t n = strlen(name);
    int r;

    if (n == 0 || strcmp(name, "UTC") == 0) {
        strcpy(z.name, "UTC");
    } else if (strcmp(name, "Local") == 0) {
        z.kind = CRON_ZONE_LOCAL;
        strcpy(z.name, "Local");
    } else {
        /* Go's rule: no IANA name contains "..", none starts with a slash */
        if (n >= sizeof z.name || strstr(name, "..") || name[0] == '/' || name[0] == '\\')
            return -EINVAL;
        if (snprintf(path, sizeof path, "%s/%s", cron_zoneinfo_dir(), name) >= (int)sizeof path)
            return -EINVAL;
        if ((r = cron_tzif_check(path)) < 0)
            return r;
        z.kind = CRON_ZONE_FILE;
        memcpy(z.name, name, n + 1);
    }
    *ret_zone = z;
    return 0;
}

/* TZ as it was before cron_tz_enter(), restored by cron_tz_leave(). */
typedef struct cron_tz_saved {
    bool switched;
    char *old; /* NULL: TZ was unset */
} cron_tz_saved_t;

static int cron_tz_enter(const cron_zone_t *z, cron_tz_saved_t *saved)
{
    char value[PATH_MAX + 2];
    const char *old = getenv("TZ");

    saved->switched = false;
    saved->old = NULL;
    if (z->kind == CRON_ZONE_LOCAL)
        return 0; /* the process's own zone: TZ is already what it was at start */
    if (z->kind == CRON_ZONE_UTC)
        strcpy(value, "UTC0");
    else if (snprintf(value, sizeof value, ":%s/%s", cron_zoneinfo_dir(), z->name) >=
             (int)sizeof value)
        return -EINVAL;
    if (old && !(saved->old = strdup(old)))
        return -ENOMEM;
    if (setenv("TZ", value, 1) < 0) {
        free(saved->old);
        return -errno;
    }
    saved->switched = true;
    tzset(); /* localtime_r() does not look at TZ again by itself */
    return 0;
}

static void cron_tz_leave(cron_tz_saved_t *saved)
{
    if (!saved->switched)
        return;
    if (saved->old)
        setenv("TZ", saved->old, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved->old);
    saved->switched = false;
}

/* ---- Go's time primitives over the zone in effect ------------------------------------------ */

typedef struct cron_tm {
    int64_t year;
    int mon, mday, hour, min, sec, wday; /* mon 1..12, wday 0 = Sunday */
    long gmtoff;                         /* seconds east of UTC */
} cron_tm_t;

static int cron_tm_at(int64_t t, cron_tm_t *ret_tm)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t < CRON_TIME_MIN - 86400 || t > CRON_TIME_MAX + 7 * 366 * 86400LL ||
        !localtime_r(&tt, &tm))
        return -ERANGE;
    *ret_tm = (cron_tm_t){
        .year = (int64_t)tm.tm_year + 1900,
        .mon = tm.tm_mon + 1,
        .mday = tm.tm_mday,
        .hour = tm.tm_hour,
        .min = tm.tm_min,
        .sec = tm.tm_sec,
        .wday = tm.tm_wday,
        .gmtoff = tm.tm_gmtoff,
    };
    return 0;
}

static int64_t cron_floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian); d may run past the month's end. */
static int64_t cron_days_from_civil(int64_t y, int m, int64_t d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = cron_floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Go's time.Date(y, mon, d, h, mi, s, 0, loc): fields out of range carry over; the offset is
 * looked up at the wall time read as UTC and then again at the instant that gives, so a time
 * in a gap or an overlap resolves exactly as in Go (zoneinfo.go: Date). */
static int cron_date(int64_t y, int mon, int64_t d, int64_t h, int64_t mi, int64_t s,
                     int64_t *ret_t)
{
    int64_t m0 = (int64_t)mon - 1, wall;
    cron_tm_t a, b;
    int r;

    y += cron_floor_div(m0, 12);
    m0 -= cron_floor_div(m0, 12) * 12;
    wall = (cron_days_from_civil(y, (int)m0 + 1, 1) + d - 1) * 86400 + h * 3600 + mi * 60 + s;
    if ((r = cron_tm_at(wall, &a)) < 0 || (r = cron_tm_at(wall - a.gmtoff, &b)) < 0)
        return r;
    *ret_t = wall - b.gmtoff;
    return 0;
}

/* ---- robfig's SpecSchedule.Next ----------------------------------------------------------- */

typedef struct cron_cursor {
    const cron_expr_t *e;
    int64_t t;
    cron_tm_t tm; /* t in the zone in effect */
    bool added;   /* a field has been advanced: lower fields start from their minimum */
    unsigned steps;
} cron_cursor_t;

static int cron_cursor_set(cron_cursor_t *c, int64_t t)
{
    if (++c->steps > CRON_STEPS_MAX)
        return -ELOOP;
    c->t = t;
    return cron_tm_at(t, &c->tm);
}

static int cron_cursor_date(cron_cursor_t *c, int64_t y, int mon, int64_t d, int64_t h, int64_t mi,
                            int64_t s)
{
    int64_t t;
    int r = cron_date(y, mon, d, h, mi, s, &t);
    return r < 0 ? r : cron_cursor_set(c, t);
}

static bool cron_day_matches(const cron_expr_t *e, const cron_tm_t *tm)
{
    bool dom = e->dom & CRON_BIT(tm->mday), dow = e->dow & CRON_BIT(tm->wday);

    if ((e->dom | e->dow) & CRON_STAR)
        return dom && dow;
    return dom || dow;
}

static int cron_seek_month(cron_cursor_t *c)
{
    int r;

    while (!(c->e->month & CRON_BIT(c->tm.mon))) {
        if (!c->added) {
            c->added = true;
            if ((r = cron_cursor_date(c, c->tm.year, c->tm.mon, 1, 0, 0, 0)) < 0)
                return r;
        }
        r = cron_cursor_date(c, c->tm.year, c->tm.mon + 1, c->tm.mday, c->tm.hour, c->tm.min,
                             c->tm.sec);
        if (r < 0)
            return r;
        if (c->tm.mon == 1)
            return CRON_WRAP;
    }
    return 0;
}

static int cron_seek_day(cron_cursor_t *c)
{
    int r;

    while (!cron_day_matches(c->e, &c->tm)) {
        if (!c->added) {
            c->added = true;
            if ((r = cron_cursor_date(c, c->tm.year, c->tm.mon, c->tm.mday, 0, 0, 0)) < 0)
                return r;
        }
        r = cron_cursor_date(c, c->tm.year, c->tm.mon, c->tm.mday + 1, c->tm.hour, c->tm.min,
                             c->tm.sec);
        if (r < 0)
            return r;
        /* robfig: where DST moved midnight, step back (or on) to hour 0 */
        if (c->tm.hour != 0) {
            int64_t dh = c->tm.hour > 12 ? 24 - c->tm.hour : -c->tm.hour;
            if ((r = cron_cursor_set(c, c->t + dh * 3600)) < 0)
                return r;
        }
        if (c->tm.mday == 1)
            return CRON_WRAP;
    }
    return 0;
}

static int cron_seek_hour(cron_cursor_t *c)
{
    int r;

    while (!(c->e->hour & CRON_BIT(c->tm.hour))) {
        if (!c->added) {
            c->added = true;
            r = cron_cursor_date(c, c->tm.year, c->tm.mon, c->tm.mday, c->tm.hour, 0, 0);
            if (r < 0)
                return r;
        }
        if ((r = cron_cursor_set(c, c->t + 3600)) < 0)
            return r;
        if (c->tm.hour == 0)
            return CRON_WRAP;
    }
    return 0;
}

static int cron_seek_minute(cron_cursor_t *c)
{
    int r;

    while (!(c->e->minute & CRON_BIT(c->tm.min))) {
        if (!c->added) {
            c->added = true; /* Go's Truncate(time.Minute) works on absolute time */
            if ((r = cron_cursor_set(c, cron_floor_div(c->t, 60) * 60)) < 0)
                return r;
        }
        if ((r = cron_cursor_set(c, c->t + 60)) < 0)
            return r;
        if (c->tm.min == 0)
            return CRON_WRAP;
    }
    return 0;
}

/* The seconds field is always 0 (KEDA's parser has none). */
static int cron_seek_second(cron_cursor_t *c)
{
    int r;

    while (c->tm.sec != 0) {
        c->added = true;
        if ((r = cron_cursor_set(c, c->t + 1)) < 0)
            return r;
        if (c->tm.sec == 0)
            return CRON_WRAP;
    }
    return 0;
}

/* True when no time can ever match: robfig would search its five years and give up. */
static bool cron_expr_never(const cron_expr_t *e)
{
    uint64_t dom = e->dom & ~CRON_STAR, dow = e->dow & ~CRON_STAR;

    if (!(e->minute & ~CRON_STAR) || !(e->hour & ~CRON_STAR) || !(e->month & ~CRON_STAR))
        return true;
    if ((e->dom | e->dow) & CRON_STAR)
        return !dom || !dow;
    return !dom && !dow;
}

/* cron_next() with the zone already in effect. */
static int cron_next_here(const cron_expr_t *e, int64_t t, int64_t *ret_next)
{
    static int (*const seek[])(cron_cursor_t *) = {cron_seek_month, cron_seek_day, cron_seek_hour,
                                                   cron_seek_minute, cron_seek_second};
    cron_cursor_t c = {.e = e};
    int64_t year_limit;
    int r;

    if (cron_expr_never(e))
        return -ENOENT;
    if ((r = cron_cursor_set(&c, t + 1)) < 0)
        return r;
    year_limit = c.tm.year + 5;
    for (;;) {
        size_t i;
        if (c.tm.year > year_limit)
            return -ENOENT;
        for (i = 0; i < sizeof seek / sizeof seek[0]; i++)
            if ((r = seek[i](&c)) != 0)
                break;
        if (r < 0)
            return r;
        if (r == 0) {
            *ret_next = c.t;
            return 0;
        }
    }
}

static const cron_zone_t *cron_zone_of(const cron_expr_t *e, const cron_zone_t *zone)
{
    return e->has_zone ? &e->zone : zone;
}

int cron_next(const cron_expr_t *expr, const cron_zone_t *zone, int64_t t, int64_t *ret_next)
{
    cron_tz_saved_t saved;
    int64_t next;
    int r;

    if (t < CRON_TIME_MIN || t > CRON_TIME_MAX)
        return -ERANGE;
    if ((r = cron_tz_enter(cron_zone_of(expr, zone), &saved)) < 0)
        return r;
    r = cron_next_here(expr, t, &next);
    cron_tz_leave(&saved);
    if (r == 0)
        *ret_next = next;
    return r;
}

/* 1 and *ret_f when the first fire after a is at or before t, 0 when not, or -errno. */
static int cron_fires_by(const cron_expr_t *e, int64_t a, int64_t t, int64_t *ret_f)
{
    int64_t f;
    int r = cron_next_here(e, a, &f);

    if (r == -ENOENT || (r == 0 && f > t))
        return 0;
    if (r < 0)
        return r;
    *ret_f = f;
    return 1;
}

/* Binary search on a for the last a whose next fire is still <= t: that fire is the answer,
 * since next() never decreases as a grows. First widen the window until one fire is inside. */
static int cron_prev_here(const cron_expr_t *e, int64_t t, int64_t *ret_prev)
{
    int64_t step = 60, lo, hi = t, f = 0;
    int r;

    for (;; step *= 2) {
        if (step > CRON_PREV_SPAN)
            step = CRON_PREV_SPAN;
        lo = t - step < CRON_TIME_MIN ? CRON_TIME_MIN : t - step;
        if ((r = cron_fires_by(e, lo, t, &f)) != 0)
            break;
        if (step == CRON_PREV_SPAN || lo == CRON_TIME_MIN)
            return -ENOENT;
    }
    if (r < 0)
        return r;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2, g;
        if ((r = cron_fires_by(e, mid, t, &g)) < 0)
            return r;
        if (r) {
            lo = mid;
            f = g;
        } else {
            hi = mid;
        }
    }
    *ret_prev = f;
    return 0;
}

int cron_prev(const cron_expr_t *expr, const cron_zone_t *zone, int64_t t, int64_t *ret_prev)
{
    cron_tz_saved_t saved;
    int64_t prev = 0;
    int r;

    if (t < CRON_TIME_MIN || t > CRON_TIME_MAX)
        return -ERANGE;
    if ((r = cron_tz_enter(cron_zone_of(expr, zone), &saved)) < 0)
        return r;
    r = cron_prev_here(expr, t, &prev);
    cron_tz_leave(&saved);
    if (r == 0)
        *ret_prev = prev;
    return r;
}

/* KEDA's GetMetricsAndActivity compares now with the next start S and next end E (Go's zero
 * time when none): if S < E, active iff S < now < E, else active iff S < now || now < E. A
 * real S or E is always after now, so this reduces to the rule in cron.h. */
int cron_window_active(const cron_expr_t *start, const cron_expr_t *end, const cron_zone_t *zone,
                       int64_t now, bool *ret_active)
{
    int64_t s = 0, e = 0;
    int rs = cron_next(start, zone, now, &s), re = cron_next(end, zone, now, &e);

    if (rs < 0 && rs != -ENOENT)
        return rs;
    if (re < 0 && re != -ENOENT)
        return re;
    *ret_active = rs == -ENOENT || (re == 0 && e <= s);
    return 0;
}

/* ---- parsing (robfig's parser.go) --------------------------------------------------------- */

typedef struct cron_bounds {
    const char *field;
    unsigned min, max;
    const char *const *names; /* names[i] is value min + i; NULL: numbers only */
    unsigned nnames;
} cron_bounds_t;

static const char *const cron_month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                               "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const cron_dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const cron_bounds_t cron_fields[5] = {
    {"minute", 0, 59, NULL, 0},
    {"hour", 0, 23, NULL, 0},
    {"day-of-month", 1, 31, NULL, 0},
    {"month", 1, 12, cron_month_names, 12},
    {"day-of-week", 0, 6, cron_dow_names, 7},
};

/* A slice of the spec. */
typedef struct cron_span {
    const char *p;
    size_t n;
} cron_span_t;

static void cron_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cron_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Go's strconv.Atoi: optional sign, decimal digits, int64 range. 0, -EINVAL or -ERANGE. */
static int cron_atoi(cron_span_t s, int64_t *ret)
{
    uint64_t v = 0, limit = (uint64_t)INT64_MAX;
    size_t i = 0;
    bool neg = false;

    if (s.n > 0 && (s.p[0] == '+' || s.p[0] == '-')) {
        neg = s.p[0] == '-';
        limit += neg;
        i = 1;
    }
    if (i == s.n)
        return -EINVAL;
    for (; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -EINVAL;
        if (v > (limit - (uint64_t)(s.p[i] - '0')) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(s.p[i] - '0');
    }
    *ret = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* robfig's mustParseInt: a non-negative int. */
static int cron_uint(cron_span_t s, const cron_bounds_t *b, cron_span_t expr, uint64_t *ret,
                     char *err, size_t errlen)
{
    int64_t v;
    int r = cron_atoi(s, &v);

    if (r < 0) {
        cron_err(err, errlen, "%s field: failed to parse int from \"%.*s\": %s", b->field,
                 (int)(s.n < CRON_QUOTE_MAX ? s.n : CRON_QUOTE_MAX), s.p,
                 r == -ERANGE ? "value out of range" : "invalid syntax");
        return -EINVAL;
    }
    if (v < 0) {
        cron_err(err, errlen, "%s field: negative number (%lld) not allowed: %.*s", b->field,
                 (long long)v, (int)(expr.n < CRON_QUOTE_MAX ? expr.n : CRON_QUOTE_MAX), expr.p);
        return -EINVAL;
    }
    *ret = (uint64_t)v;
    return 0;
}

/* robfig's parseIntOrName: a name of the field (any case), else a number. */
static int cron_value(cron_span_t s, const cron_bounds_t *b, cron_span_t expr, uint64_t *ret,
                      char *err, size_t errlen)
{
    for (unsigned i = 0; i < b->nnames; i++)
        if (s.n == 3 && strncasecmp(s.p, b->names[i], 3) == 0) {
            *ret = b->min + i;
            return 0;
        }
    return cron_uint(s, b, expr, ret, err, errlen);
}

/* Splits s at the first sep: *head before it, *tail after; returns false when there is none. */
static bool cron_span_cut(cron_span_t s, char sep, cron_span_t *head, cron_span_t *tail)
{
    const char *at = memchr(s.p, sep, s.n);

    *head = (cron_span_t){s.p, at ? (size_t)(at - s.p) : s.n};
    if (at)
        *tail = (cron_span_t){at + 1, s.n - (size_t)(at - s.p) - 1};
    return at != NULL;
}

/* The low and high ends of a range item (before any '/'). */
static int cron_range_ends(cron_span_t lh, const cron_bounds_t *b, cron_span_t expr, uint64_t *lo,
                           uint64_t *hi, bool *star, char *err, size_t errlen)
{
    cron_span_t low, high, rest;
    int r;

    cron_span_cut(lh, '-', &low, &high);
    if ((low.n == 1 && (low.p[0] == '*' || low.p[0] == '?'))) {
        *lo = b->min; /* robfig ignores anything after "*-" */
        *hi = b->max;
        *star = true;
        return 0;
    }
    *star = false;
    if ((r = cron_value(low, b, expr, lo, err, errlen)) < 0)
        return r;
    if (!memchr(lh.p, '-', lh.n)) {
        *hi = *lo;
        return 0;
    }
    if (cron_span_cut(high, '-', &high, &rest)) {
        cron_err(err, errlen, "%s field: too many hyphens: %.*s", b->field,
                 (int)(expr.n < CRON_QUOTE_MAX ? expr.n : CRON_QUOTE_MAX), expr.p);
        return -EINVAL;
    }
    return cron_value(high, b, expr, hi, err, errlen);
}

/* robfig's getRange: number | number "-" number [ "/" number ], or '*' or '?'. */
static int cron_range(cron_span_t expr, const cron_bounds_t *b, uint64_t *bits, char *err,
                      size_t errlen)
{
    cron_span_t lh, step_s, extra;
    uint64_t lo, hi, step = 1;
    bool star, has_step = cron_span_cut(expr, '/', &lh, &step_s), single;
    int q = (int)(expr.n < CRON_QUOTE_MAX ? expr.n : CRON_QUOTE_MAX), r;

    single = !memchr(lh.p, '-', lh.n);
    if ((r = cron_range_ends(lh, b, expr, &lo, &hi, &star, err, errlen)) < 0)
        return r;
    if (has_step) {
        if (cron_span_cut(step_s, '/', &step_s, &extra)) {
            cron_err(err, errlen, "%s field: too many slashes: %.*s", b->field, q, expr.p);
            return -EINVAL;
        }
        if ((r = cron_uint(step_s, b, expr, &step, err, errlen)) < 0)
            return r;
        if (single) /* "n/step" means "n-max/step" */
            hi = b->max;
        if (step > 1)
            star = false;
    }
    if (lo < b->min || hi > b->max || lo > hi || step == 0) {
        if (lo < b->min)
            cron_err(err, errlen, "%s field: beginning of range (%llu) below minimum (%u): %.*s",
                     b->field, (unsigned long long)lo, b->min, q, expr.p);
        else if (hi > b->max)
            cron_err(err, errlen, "%s field: end of range (%llu) above maximum (%u): %.*s",
                     b->field, (unsigned long long)hi, b->max, q, expr.p);
        else if (lo > hi)
            cron_err(err, errlen,
                     "%s field: beginning of range (%llu) beyond end of range (%llu): %.*s",
                     b->field, (unsigned long long)lo, (unsigned long long)hi, q, expr.p);
        else
            cron_err(err, errlen, "%s field: step of range should be a positive number: %.*s",
                     b->field, q, expr.p);
        return -EINVAL;
    }
    for (uint64_t i = lo; i <= hi; i += step)
        *bits |= CRON_BIT(i);
    if (star)
        *bits |= CRON_STAR;
    return 0;
}

/* robfig's getField: a comma list of ranges; empty items are skipped (strings.FieldsFunc). */
static int cron_field(cron_span_t f, const cron_bounds_t *b, uint64_t *ret_bits, char *err,
                      size_t errlen)
{
    uint64_t bits = 0;
    cron_span_t item, rest = f;
    bool more;
    int r;

    do {
        more = cron_span_cut(rest, ',', &item, &rest);
        if (item.n > 0 && (r = cron_range(item, b, &bits, err, errlen)) < 0)
            return r;
    } while (more);
    *ret_bits = bits;
    return 0;
}

/* strings.Fields: up to 5 fields into f; returns how many there are in all. */
static size_t cron_split_fields(const char *s, cron_span_t f[5])
{
    size_t count = 0, n;

    for (;;) {
        const char *start;
        while ((n = cron_space_len(s)) > 0)
            s += n;
        if (!*s)
            return count;
        start = s;
        while (*s && !cron_space_len(s))
            s++;
        if (count < 5)
            f[count] = (cron_span_t){start, (size_t)(s - start)};
        count++;
    }
}

/* A TZ=<zone> or CRON_TZ=<zone> prefix: the zone up to the first ' ' (robfig slices there and
 * panics when there is none; KEDA turns the panic into a parse error). */
static int cron_zone_prefix(const char **spec, cron_expr_t *e, char *err, size_t errlen)
{
    const char *s = *spec, *eq = strchr(s, '='), *sp = strchr(s, ' ');
    char name[CRON_ZONE_NAME_MAX];
    size_t n, len;

    if (!sp) {
        cron_err(err, errlen, "time zone prefix: no space after the zone name");
        return -EINVAL;
    }
    n = (size_t)(sp - eq - 1);
    if (n < sizeof name) {
        memcpy(name, eq + 1, n);
        name[n] = '\0';
    }
    if (n >= sizeof name || cron_zone_load(name, &e->zone) < 0) {
        cron_err(err, errlen, "time zone prefix: unknown time zone %.*s",
                 (int)(n < CRON_QUOTE_MAX ? n : CRON_QUOTE_MAX), eq + 1);
        return -EINVAL;
    }
    /* Go's LoadLocation("Local") is time.Local, which robfig treats as "no zone of its own" */
    e->has_zone = e->zone.kind != CRON_ZONE_LOCAL;
    *spec = cron_trim(sp, &len);
    return 0;
}

int cron_expr_parse(const char *spec, cron_expr_t *ret_expr, char *err, size_t errlen)
{
    cron_expr_t e = {0};
    cron_span_t f[5];
    uint64_t *bits[5] = {&e.minute, &e.hour, &e.dom, &e.month, &e.dow};
    size_t count, len;
    int r;

    if (!spec[0]) {
        cron_err(err, errlen, "empty spec string");
        return -EINVAL;
    }
    if ((strncmp(spec, "TZ=", 3) == 0 || strncmp(spec, "CRON_TZ=", 8) == 0) &&
        (r = cron_zone_prefix(&spec, &e, err, errlen)) < 0)
        return r;
    if (spec[0] == '@') {
        cron_err(err, errlen, "descriptors are not accepted, only 5 fields: %.*s", CRON_QUOTE_MAX,
                 cron_trim(spec, &len));
        return -EINVAL;
    }
    if ((count = cron_split_fields(spec, f)) != 5) {
        cron_err(err, errlen,
                 "expected exactly 5 fields (minute hour day-of-month month day-of-week), "
                 "found %zu",
                 count);
        return -EINVAL;
    }
    for (int i = 0; i < 5; i++)
        if ((r = cron_field(f[i], &cron_fields[i], bits[i], err, errlen)) < 0)
            return r;
    *ret_expr = e;
    return 0;
}

/* ---- metric name --------------------------------------------------------------------------- */

/* What KEDA writes for one byte of start or end (parseCronTimeFormat), "" for a space. */
static const char *cron_name_piece(char c, char one[2])
{
    switch (c) {
    case ' ':
        return "";
    case '*':
        return "x";
    case '/':
        return "Sl";
    case '?':
        return "Qm";
    case ',':
        return "Cm";
    default:
        return one; /* holds c */
    }
}

/* Appends s[0..n) to buf at *len, through parseCronTimeFormat when cron, then through
 * NormalizeString; only counts when buf is NULL. */
static void cron_name_put(char *buf, size_t *len, const char *s, size_t n, bool cron)
{
    for (size_t i = 0; i < n; i++) {
        char one[2] = {s[i], '\0'};
        const char *piece = cron ? cron_name_piece(s[i], one) : one;
        for (; *piece; piece++, (*len)++)
            if (buf)
                buf[*len] = strchr("/.:%()", *piece) ? '-' : *piece;
    }
}

int cron_metric_name(const char *timezone, const char *start, const char *end, char *buf,
                     size_t cap)
{
    cron_span_t part[3];
    const char *const src[3] = {timezone, start, end};
    size_t len = 0;

    for (int i = 0; i < 3; i++)
        part[i].p = cron_trim(src[i], &part[i].n);
    for (int pass = 0; pass < 2; pass++) {
        char *out = pass ? buf : NULL;
        len = 0;
        cron_name_put(out, &len, "cron-", 5, false);
        cron_name_put(out, &len, part[0].p, part[0].n, false);
        for (int i = 1; i < 3; i++) {
            cron_name_put(out, &len, "-", 1, false);
            cron_name_put(out, &len, part[i].p, part[i].n, true);
        }
        if (!pass && len >= cap)
            return -ERANGE;
    }
    buf[len] = '\0';
    return 0;
}
