/* Fuzz harness: cron expressions and zone names from trigger metadata. Input is "<spec>" or
 * "<zone>\n<spec>". A spec that parses must give bounded answers: the next fire after t lies
 * after t and within six years, the previous one at or before t is itself a fire time, and the
 * window rule and the metric name always return. Parse errors must name a field and fit. */
#include "common/cron.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SIX_YEARS (6LL * 366 * 86400)

static void fuzz_check_times(const cron_expr_t *e, const cron_zone_t *z, int64_t t)
{
    int64_t n, p, again;
    int r = cron_next(e, z, t, &n);

    if (r == 0 && (n <= t || n > t + SIX_YEARS))
        abort();
    if (r != 0 && r != -ENOENT && r != -ELOOP)
        abort();
    r = cron_prev(e, z, t, &p);
    if (r == 0 && (p > t || cron_next(e, z, p - 1, &again) != 0 || again != p))
        abort();
    if (r != 0 && r != -ENOENT && r != -ELOOP)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t times[] = {0, 1711846799, 1729990800, 4102444799, CRON_TIME_MAX};
    char *in = malloc(size + 1), *spec, err[CRON_ERR_MAX], name[512];
    cron_zone_t zone = {.kind = CRON_ZONE_UTC, .name = "UTC"};
    cron_expr_t e;
    bool active;

    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    spec = strchr(in, '\n');
    if (spec) {
        *spec++ = '\0';
        if (cron_zone_load(in, &zone) < 0)
            zone = (cron_zone_t){.kind = CRON_ZONE_UTC, .name = "UTC"};
    } else {
        spec = in;
    }
    if (cron_metric_name(in, spec, spec, name, sizeof name) == 0 && strlen(name) >= sizeof name)
        abort();
    err[0] = '\0';
    if (cron_expr_parse(spec, &e, err, sizeof err) != 0) {
        if (!err[0] || strlen(err) >= sizeof err)
            abort();
    } else {
        for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
            fuzz_check_times(&e, &zone, times[i]);
        if (cron_window_active(&e, &e, &zone, times[1], &active) == 0 && !active &&
            cron_next(&e, &zone, times[1], &(int64_t){0}) == 0)
            abort(); /* a schedule against itself: E == S, always active */
    }
    free(in);
    return 0;
}
