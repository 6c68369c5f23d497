/*
 * bench_worker_demand: what the freshness rule (DESIGN.md "Freshness") costs a scale worker per
 * loop turn. Each turn, sw_poll_due() loads the adapter's demand stamp of every assigned trigger
 * without useCachedMetrics and compares it with the start of its last poll. This times one
 * sw_poll_due() over 16,384 idle triggers (none due), with every trigger using cached metrics
 * (no stamp is read), without (every stamp read, none newer), and without with every trigger
 * freshly stamped (every stamp newer, the poll brought forward, not yet due); next to it the
 * config check, sw_assign_refresh() (with nothing changed: one load of the table's change
 * count), and the bare loads of the 16,384 stamps. The worker looks at the stamps on a turn at
 * most every SW_DEMAND_SCAN_MS; each timed turn here is made to look. Each figure is the median of
 * many turns, with warm caches (turns back to back) and cold ones (64 MiB read between turns, as
 * when the worker sleeps up to a second while other processes run). Prints figures and ratios;
 * asserts nothing (tests/unit/test_worker_loop.c asserts the behaviour).
 *
 *   bench_worker_demand [--quick]
 *
 * Links the scale worker's library, so the figures are those of the real code. Creates a table
 * at the default capacities under a private name and removes it at exit.
 */
#include "common/log.h"
#include "scaleworker/sw_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- a scaler that counts its polls ---------------------------------------------------- */

static unsigned bench_polls; /* polls started: must stay 0 (nothing is due) */

static void bench_poll(sw_poll_t *p, void *state)
{
    bench_polls++;
    sw_poll_done(p, true, 0, NULL);
}

static void bench_close(void *state)
{
}

static const sw_scaler_t bench_scaler = {.name = "bench", .poll = bench_poll, .close = bench_close};

/* ---- measuring ----------------------------------------------------------------------------- */

#define BENCH_EVICT_BYTES (64u << 20)

static unsigned char *bench_evict_buf; /* written once, then only read (no dirty lines) */
static volatile uint64_t bench_sink;

static uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void bench_evict(void)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < BENCH_EVICT_BYTES; i += 64)
        sum += bench_evict_buf[i];
    bench_sink += sum;
}

static int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

typedef enum { BENCH_POLL_DUE, BENCH_REFRESH, BENCH_STAMPS } bench_what_t;

/* Median ns of one turn's `what` over `turns` turns. */
static uint64_t bench_turns(sw_worker_t *w, bench_what_t what, unsigned turns, bool cold)
{
    uint64_t *ns = calloc(turns, sizeof *ns), med;

    for (unsigned k = 0; k < turns; k++) {
        if (cold)
            bench_evict();
        w->demand_scan_ms = 0; /* this turn looks at the stamps */
        uint64_t t0 = bench_now_ns();
        if (what == BENCH_POLL_DUE)
            bench_sink += (uint64_t)sw_poll_due(w);
        else if (what == BENCH_REFRESH)
            bench_sink += sw_assign_refresh(w);
        else
            for (uint32_t i = 0; i < w->ntrig; i++)
                bench_sink += shm_trig_demand_get(w->ctx.table, w->trig[i]->slot);
        ns[k] = bench_now_ns() - t0;
    }
    qsort(ns, turns, sizeof *ns, bench_cmp_u64);
    med = ns[turns / 2];
    free(ns);
    return med;
}

/* Every trigger: cached or not; stamped (newer than its last poll's start) or not. The last
 * poll's start is set ten minutes ahead so that a stamped trigger never becomes due. */
static void bench_set(sw_worker_t *w, bool cached, bool stamped)
{
    uint64_t later = shm_now_mono_ms() + 600000;

    for (uint32_t i = 0; i < w->ntrig; i++) {
        sw_trigger_t *t = w->trig[i];
        t->cfg.use_cached_metrics = cached;
        t->poll_started_ms = later;
        t->next_poll_ms = later + 3600000;
        sw_sched(w, t);
        shm_trig_demand_stamp(w->ctx.table, t->slot, stamped ? later + 1 : 0);
    }
}

static int bench_setup(shm_table_t *t, sw_worker_t *w)
{
    uint32_t n = shm_table_caps(t)->max_trig;
    static int state; /* any non-NULL scaler state */
    shm_proc_ctl_t me = {.flags = SHM_F_VALID};
    int r;

    shm_proc_ctl_write(t, 0, &me);
    for (uint32_t s = 0; s < n; s++) {
        shm_trig_cfg_t c = {.flags = SHM_F_VALID,
                            .polling_interval_ms = 30000,
                            .timeout_ms = 3000,
                            .cfg_gen = s + 1u};
        shm_trig_ctl_t ctl = {.flags = SHM_F_VALID, .worker = 0};
        snprintf(c.type, sizeof c.type, "bench");
        shm_trig_cfg_write(t, s, &c);
        shm_trig_ctl_write(t, s, &ctl);
    }
    *w = (sw_worker_t){.ctx = {.table = t, .slot = 0}, .scaler = &bench_scaler};
    cfg_defaults(&w->ctx.cfg);
    if ((r = sw_assign_init(w)) < 0)
        return r;
    sw_assign_load(w);
    for (uint32_t i = 0; i < w->ntrig; i++) { /* loaded, as after its first poll */
        sw_trigger_t *tr = w->trig[i];
        if ((r = shm_trig_cfg_read(t, tr->slot, &tr->cfg)) < 0)
            return r;
        tr->cfg_gen = tr->cfg.cfg_gen;
        tr->state = &state;
        sw_sched(w, tr);
    }
    sw_assign_refresh(w); /* takes the new triggers off the check list */
    return w->ntrig == n ? 0 : -EIO;
}

typedef struct bench_row {
    const char *name;
    uint64_t warm, cold;
} bench_row_t;

int main(int argc, char **argv)
{
    const shm_caps_t caps = {.max_so = SHM_DEFAULT_MAX_SO,
                             .max_trig = SHM_DEFAULT_MAX_TRIG,
                             .max_proc = SHM_DEFAULT_MAX_PROC,
                             .max_trig_per_so = SHM_DEFAULT_TRIG_PER_SO};
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    unsigned turns = quick ? 51 : 501, cold_turns = quick ? 21 : 101;
    struct {
        const char *name;
        bench_what_t what;
        bool cached, stamped;
    } cases[] = {
        {"sw_poll_due, all useCachedMetrics (no stamp read)", BENCH_POLL_DUE, true, false},
        {"sw_poll_due, none cached, no stamp newer", BENCH_POLL_DUE, false, false},
        {"sw_poll_due, none cached, every stamp newer", BENCH_POLL_DUE, false, true},
        {"sw_assign_refresh (nothing changed)", BENCH_REFRESH, false, false},
        {"the 16,384 stamp loads alone", BENCH_STAMPS, false, false},
    };
    bench_row_t rows[5];
    char name[64];
    shm_table_t *t;
    sw_worker_t w;
    int r;

    if (argc > 1 && !quick) {
        fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
        return 2;
    }
    log_setup("bench", LOG_FORMAT_TEXT, LOG_LEVEL_WARNING);
    snprintf(name, sizeof name, "ckeda-bench-demand-%d", (int)getpid());
    if ((r = shm_table_create(name, &caps, &t)) < 0) {
        fprintf(stderr, "cannot create table %s: %s\n", name, strerror(-r));
        return 1;
    }
    if (!(bench_evict_buf = malloc(BENCH_EVICT_BYTES)) || (r = bench_setup(t, &w)) < 0) {
        fprintf(stderr, "setup failed\n");
        shm_table_unlink(name);
        return 1;
    }
    memset(bench_evict_buf, 1, BENCH_EVICT_BYTES); /* real pages, not the shared zero page */
    printf("bench_worker_demand (%s run): one worker, %u idle triggers, median of %u warm and "
           "%u cold turns\n\n",
           quick ? "quick" : "full", w.ntrig, turns, cold_turns);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bench_set(&w, cases[i].cached, cases[i].stamped);
        bench_turns(&w, cases[i].what, 5, false); /* settle */
        rows[i] = (bench_row_t){.name = cases[i].name,
                                .warm = bench_turns(&w, cases[i].what, turns, false),
                                .cold = bench_turns(&w, cases[i].what, cold_turns, true)};
    }
    printf("%-52s %12s %10s %12s %10s\n", "per turn", "warm us", "ns/trig", "cold us", "ns/trig");
    for (size_t i = 0; i < 5; i++)
        printf("%-52s %12.1f %10.1f %12.1f %10.1f\n", rows[i].name, rows[i].warm / 1e3,
               (double)rows[i].warm / w.ntrig, rows[i].cold / 1e3, (double)rows[i].cold / w.ntrig);
    printf("\ndemand scan (none cached, no stamp newer, minus all cached): warm %.1f us/turn, "
           "cold %.1f us/turn\n",
           ((double)rows[1].warm - (double)rows[0].warm) / 1e3,
           ((double)rows[1].cold - (double)rows[0].cold) / 1e3);
    printf("ratio sw_poll_due none cached / all cached: warm %.2fx, cold %.2fx\n",
           (double)rows[1].warm / (double)rows[0].warm,
           (double)rows[1].cold / (double)rows[0].cold);
    printf("polls started during the run (must be 0): %u\n", bench_polls);
    sw_assign_free(&w);
    shm_table_close(t);
    shm_table_unlink(name);
    free(bench_evict_buf);
    return bench_polls == 0 ? 0 : 1;
}
