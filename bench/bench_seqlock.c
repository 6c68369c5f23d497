/*
 * bench_seqlock: what one seqlock read of a trigger result costs, alone and while a writer
 * process publishes in a loop (into the same group, and into the neighbouring group of the same
 * region), next to the cost of a write and of shm_so_find at 4096 ScaledObjects (index hit, miss,
 * and the scan readers fall back to while the index is invalid). Prints figures and ratios side
 * by side; asserts nothing (tests assert behaviour, see tests/unit/).
 *
 *   bench_seqlock [--quick]
 *
 * Creates a table at the default capacities under a private name and removes it at exit. With
 * two CPUs or more the reader runs on CPU 0 and the writer on CPU 1.
 */
#include "shm/shm.h"
#include "shm/shm_internal.h" /* only to invalidate the index, as repair does */

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct bench_shared {
    _Atomic int stop;
    _Atomic uint64_t writes;
} bench_shared_t;

typedef struct bench_row {
    const char *name;
    double ns;
    double base; /* ns of the row it is compared with, 0: none */
    char note[96];
} bench_row_t;

static uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void bench_pin(int cpu)
{
    cpu_set_t set;

    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set); /* best effort: figures stay valid unpinned */
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ns per read of trigger result `slot`, median of `runs` runs of `n` reads; counts -EAGAIN. */
static double bench_reads(shm_table_t *t, uint32_t slot, unsigned runs, unsigned n,
                          uint64_t *ret_eagain)
{
    double per[16];
    uint64_t eagain = 0;
    shm_trig_result_t r;
    volatile double sink = 0;

    for (unsigned k = 0; k < runs; k++) {
        uint64_t t0 = bench_now_ns();
        for (unsigned i = 0; i < n; i++) {
            if (shm_trig_result_read(t, slot, &r) < 0)
                eagain++;
            else
                sink += r.value;
        }
        per[k] = (double)(bench_now_ns() - t0) / n;
    }
    (void)sink;
    qsort(per, runs, sizeof per[0], bench_cmp_double);
    *ret_eagain = eagain;
    return per[runs / 2];
}

static double bench_writes(shm_table_t *t, uint32_t slot, unsigned n)
{
    shm_trig_result_t r = {.flags = SHM_F_VALID, .for_cfg_gen = 1};
    uint64_t t0 = bench_now_ns();

    for (unsigned i = 0; i < n; i++) {
        r.value = i;
        r.measured_mono_ms = i;
        shm_trig_result_write(t, slot, &r);
    }
    return (double)(bench_now_ns() - t0) / n;
}

/* A worker publishing into `slot` as fast as it can until told to stop. */
static pid_t bench_writer_start(shm_table_t *t, uint32_t slot, bench_shared_t *sh)
{
    pid_t pid;

    atomic_store(&sh->stop, 0);
    atomic_store(&sh->writes, 0);
    pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        shm_trig_result_t r = {.flags = SHM_F_VALID, .for_cfg_gen = 1};
        bench_pin(1);
        for (uint64_t i = 0; !atomic_load_explicit(&sh->stop, memory_order_relaxed); i++) {
            r.value = (double)i;
            r.measured_mono_ms = i;
            shm_trig_result_write(t, slot, &r);
            atomic_store_explicit(&sh->writes, i + 1, memory_order_relaxed);
        }
        _exit(0);
    }
    while (atomic_load(&sh->writes) < 1000) /* running */
        sched_yield();
    return pid;
}

static void bench_writer_stop(pid_t pid, bench_shared_t *sh)
{
    int status;

    atomic_store(&sh->stop, 1);
    waitpid(pid, &status, 0);
}

static void bench_contended(shm_table_t *t, uint32_t wslot, const char *name, unsigned runs,
                            unsigned n, double base, bench_shared_t *sh, bench_row_t *row)
{
    pid_t w = bench_writer_start(t, wslot, sh);
    uint64_t eagain, t0 = bench_now_ns(), w0 = atomic_load(&sh->writes);
    double ns = bench_reads(t, 0, runs, n, &eagain);
    double rate = (double)(atomic_load(&sh->writes) - w0) / ((double)(bench_now_ns() - t0) / 1e9);

    bench_writer_stop(w, sh);
    *row = (bench_row_t){.name = name, .ns = ns, .base = base};
    snprintf(row->note, sizeof row->note, "writer %.1f M writes/s, %.4f%% reads -EAGAIN",
             rate / 1e6, 100.0 * (double)eagain / ((double)runs * n));
}

static void bench_so_fill(shm_table_t *t, uint32_t count)
{
    char name[64];

    for (uint32_t s = 0; s < count; s++) {
        shm_so_spec_t spec = {.flags = SHM_F_VALID, .generation = 1};
        snprintf(spec.ns, sizeof spec.ns, "team-%u", s % 37);
        snprintf(spec.name, sizeof spec.name, "service-%u-consumer", s);
        shm_so_spec_write(t, s, &spec);
        snprintf(name, sizeof name, "service-%u-consumer", s);
        if (shm_index_insert(t, spec.ns, name, s, 1) < 0) {
            fprintf(stderr, "index insert failed at %u\n", s);
            exit(1);
        }
    }
}

/* ns per shm_so_find over `n` lookups in a scrambled order; miss: names that do not exist. */
static double bench_finds(shm_table_t *t, uint32_t count, unsigned n, bool miss)
{
    char ns[32], name[64];
    uint32_t slot, found = 0;
    uint64_t total = 0;

    for (unsigned i = 0; i < n; i++) {
        uint32_t s = (uint32_t)(((uint64_t)i * 2654435761u) % count);
        snprintf(ns, sizeof ns, "team-%u", s % 37);
        snprintf(name, sizeof name, miss ? "service-%u-absent" : "service-%u-consumer", s);
        uint64_t t0 = bench_now_ns(); /* names are formatted outside the timed part */
        found += shm_so_find(t, ns, name, &slot, NULL) == 0;
        total += bench_now_ns() - t0;
    }
    if (found != (miss ? 0 : n)) {
        fprintf(stderr, "shm_so_find: %u of %u found\n", found, n);
        exit(1);
    }
    return (double)total / n;
}

static void bench_index_invalidate(shm_table_t *t)
{
    shm_g_index_t *ix = shm_entry(t, SHM_R_INDEX, 0);

    shm_seq_write_begin(&ix->seq);      /* a watcher that died mid-update ... */
    shm_repair(t, SHM_ROLE_WATCHER, 0); /* ... repaired: flags cleared, readers scan */
}

static void bench_print(const bench_row_t *rows, size_t n)
{
    printf("%-46s %10s %8s  %s\n", "case", "ns/op", "ratio", "notes");
    for (size_t i = 0; i < n; i++) {
        char ratio[16] = "";
        if (rows[i].base > 0)
            snprintf(ratio, sizeof ratio, "%.2fx", rows[i].ns / rows[i].base);
        printf("%-46s %10.1f %8s  %s\n", rows[i].name, rows[i].ns, ratio, rows[i].note);
    }
}

int main(int argc, char **argv)
{
    const shm_caps_t caps = {.max_so = SHM_DEFAULT_MAX_SO,
                             .max_trig = SHM_DEFAULT_MAX_TRIG,
                             .max_proc = SHM_DEFAULT_MAX_PROC,
                             .max_trig_per_so = SHM_DEFAULT_TRIG_PER_SO};
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    unsigned runs = quick ? 3 : 5, reads = quick ? 200000 : 1000000;
    unsigned finds = quick ? 20000 : 200000, scans = quick ? 200 : 2000;
    char name[64];
    shm_table_t *t;
    bench_shared_t *sh;
    bench_row_t rows[8];
    uint64_t eagain;
    int r;

    if (argc > 1 && !quick) {
        fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
        return 2;
    }
    snprintf(name, sizeof name, "ckeda-bench-%d", (int)getpid());
    if ((r = shm_table_create(name, &caps, &t)) < 0) {
        fprintf(stderr, "cannot create table %s: %s\n", name, strerror(-r));
        return 1;
    }
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    bench_pin(0);
    printf("bench_seqlock (%s run, %ld CPUs online)\n", quick ? "quick" : "full",
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("table size at defaults (%u SO / %u triggers / %u procs / %u per SO): %zu bytes "
           "(%.1f MiB)\n",
           caps.max_so, caps.max_trig, caps.max_proc, caps.max_trig_per_so, shm_table_size(&caps),
           (double)shm_table_size(&caps) / (1024 * 1024));
    printf("trigger result payload %zu bytes, group stride %u bytes\n\n", sizeof(shm_trig_result_t),
           (unsigned)sizeof(shm_g_trig_result_t));

    bench_writes(t, 0, 1000);
    bench_writes(t, 1, 1000);
    double base = bench_reads(t, 0, runs, reads, &eagain);
    rows[0] = (bench_row_t){.name = "trigger result read, uncontended", .ns = base, .base = base};
    bench_contended(t, 0, "trigger result read, writer on the same group", runs, reads, base, sh,
                    &rows[1]);
    bench_contended(t, 1, "trigger result read, writer on the next group", runs, reads, base, sh,
                    &rows[2]);
    rows[3] = (bench_row_t){
        .name = "trigger result write, uncontended", .ns = bench_writes(t, 2, reads), .base = base};

    bench_so_fill(t, caps.max_so);
    double hit = bench_finds(t, caps.max_so, finds, false);
    rows[4] = (bench_row_t){.name = "shm_so_find hit, 4096 objects", .ns = hit, .base = base};
    rows[5] = (bench_row_t){.name = "shm_so_find miss, 4096 objects",
                            .ns = bench_finds(t, caps.max_so, finds, true),
                            .base = hit};
    snprintf(rows[5].note, sizeof rows[5].note, "ratio vs hit");
    bench_index_invalidate(t);
    rows[6] = (bench_row_t){.name = "shm_so_find hit, index invalid (scan)",
                            .ns = bench_finds(t, caps.max_so, scans, false),
                            .base = hit};
    snprintf(rows[6].note, sizeof rows[6].note, "ratio vs hit; until the watcher rebuilds");
    snprintf(rows[4].note, sizeof rows[4].note, "ratio vs uncontended read");
    snprintf(rows[3].note, sizeof rows[3].note, "ratio vs uncontended read");

    bench_print(rows, 7);
    munmap(sh, sizeof *sh);
    shm_table_close(t);
    shm_table_unlink(name);
    return 0;
}
