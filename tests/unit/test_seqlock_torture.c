/*
 * Seqlock torture: real processes over a real table, as in production (one writer per group,
 * readers in other processes, no locks).
 *
 * 1. One writer process publishes a few hundred thousand trigger results into one group while
 *    two reader processes read it in a loop. Every payload is a function of its sequence number
 *    i, spread over most of its fields (value, times, counters, both strings), so a copy that
 *    mixes two publications differs from payload(i) for every i. Readers must never accept such
 *    a copy, must see publications in order, and must make progress.
 * 2. A writer stopped, then SIGKILLed, between its two bumps leaves the group odd: readers get
 *    -EAGAIN, each call bounded in time, until the supervisor's shm_repair(); then reads succeed
 *    again and the payload is marked invalid, and the next worker publishes normally.
 *
 * Children never call cmocka: they report through a shared anonymous mapping and _exit().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "shm/shm.h"
#include "shm/shm_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TORTURE_ITERS  300000u
#define TORTURE_SLOT   7u /* the contended group */
#define TORTURE_WORKER 3u /* process slot of the writer */
#define READERS        2
#define CALL_BOUND_NS  1000000000ull /* generous upper bound on one read call */
#define DEADLINE_MS    15000u

enum { PH_TORTURE, PH_DEAD_WRITER, PH_REPAIRING, PH_REPAIRED, PH_DONE };

typedef struct reader_stats {
    _Atomic uint64_t ok, eagain, torn, out_of_order, mid; /* torture phase */
    _Atomic uint64_t dead_calls, dead_ok, repaired_calls, repaired_fail, repaired_valid;
    _Atomic uint64_t max_call_ns;
    _Atomic uint64_t last_seen;
} reader_stats_t;

typedef struct shared {
    _Atomic int phase;
    _Atomic int ready;
    reader_stats_t r[READERS];
} shared_t;

typedef struct torture {
    char name[64];
    shm_table_t *t;
    shared_t *sh;
    pid_t readers[READERS];
    pid_t victim; /* the writer killed mid-write, if still around */
} torture_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The one payload publication i may carry. */
static void payload_make(uint64_t i, shm_trig_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->flags = SHM_F_VALID;
    r->failure = (uint32_t)(i % 3);
    r->for_cfg_gen = i;
    r->value = (double)i * 0.25;
    r->active = (uint32_t)(i & 1);
    r->latency_us = (uint32_t)(i * 13);
    r->measured_mono_ms = i * 7 + 3;
    r->measured_real_ms = i ^ 0x5a5a5a5a5a5aull;
    r->consecutive_failures = (uint32_t)~i;
    r->has_spec = 1;
    r->errors_total = i * i;
    r->polls_total = i + 1;
    r->activity_seq = ~i;
    r->spec_target = (double)i * 0.5 + 1;
    memset(r->spec_metric_name, 'A' + (int)(i % 26), sizeof r->spec_metric_name - 1);
    snprintf(r->spec_metric_name, 24, "s0-metric-%llu", (unsigned long long)i);
    memset(r->error, 'a' + (int)(i % 26), sizeof r->error - 1);
    snprintf(r->error + 200, 40, "|%llu|", (unsigned long long)i);
}

static bool payload_consistent(const shm_trig_result_t *r)
{
    shm_trig_result_t want;

    if (r->for_cfg_gen == 0)
        memset(&want, 0, sizeof want); /* the fresh table, before the first publication */
    else
        payload_make(r->for_cfg_gen, &want);
    return memcmp(r, &want, sizeof want) == 0;
}

static void stat_max(_Atomic uint64_t *m, uint64_t v)
{
    uint64_t cur = atomic_load(m);
    while (v > cur && !atomic_compare_exchange_weak(m, &cur, v))
        ;
}

/* One read, attributed to the phase that held from before it started until after it ended. */
static void reader_step(shm_table_t *t, shared_t *sh, reader_stats_t *st)
{
    shm_trig_result_t r;
    int phase = atomic_load(&sh->phase);
    uint64_t t0 = now_ns();
    int rc = shm_trig_result_read(t, TORTURE_SLOT, &r);
    uint64_t dt = now_ns() - t0;

    if (atomic_load(&sh->phase) != phase)
        return;
    stat_max(&st->max_call_ns, dt);
    switch (phase) {
    case PH_TORTURE:
        if (rc == -EAGAIN) {
            atomic_fetch_add(&st->eagain, 1);
        } else if (!payload_consistent(&r)) {
            atomic_fetch_add(&st->torn, 1);
        } else {
            uint64_t last = atomic_load(&st->last_seen);
            if (r.for_cfg_gen < last)
                atomic_fetch_add(&st->out_of_order, 1);
            atomic_store(&st->last_seen, r.for_cfg_gen);
            if (r.for_cfg_gen > 0 && r.for_cfg_gen < TORTURE_ITERS)
                atomic_fetch_add(&st->mid, 1);
            atomic_fetch_add(&st->ok, 1);
        }
        break;
    case PH_DEAD_WRITER:
        atomic_fetch_add(&st->dead_calls, 1);
        if (rc == 0)
            atomic_fetch_add(&st->dead_ok, 1);
        break;
    case PH_REPAIRED:
        atomic_fetch_add(&st->repaired_calls, 1);
        if (rc != 0)
            atomic_fetch_add(&st->repaired_fail, 1);
        else if (r.flags & SHM_F_VALID)
            atomic_fetch_add(&st->repaired_valid, 1);
        break;
    default:
        break;
    }
}

static void reader_main(shm_table_t *t, shared_t *sh, reader_stats_t *st)
{
    atomic_fetch_add(&sh->ready, 1);
    while (atomic_load(&sh->phase) != PH_DONE)
        reader_step(t, sh, st);
    _exit(0);
}

static void writer_main(shm_table_t *t, shared_t *sh)
{
    shm_trig_result_t r;
    uint64_t deadline = now_ns() + DEADLINE_MS * 1000000ull;

    /* Start only once both readers are looping, so that reads really overlap the writes. */
    while (atomic_load(&sh->ready) < READERS)
        if (now_ns() > deadline)
            _exit(2);
    for (uint64_t i = 1; i <= TORTURE_ITERS; i++) {
        payload_make(i, &r);
        shm_trig_result_write(t, TORTURE_SLOT, &r);
    }
    _exit(0);
}

/* A worker that dies between its two bumps: odd sequence, part of a new payload stored. */
static void dying_writer_main(shm_table_t *t)
{
    shm_g_trig_result_t *g = shm_entry(t, SHM_R_TRIG_RESULT, TORTURE_SLOT);
    shm_trig_result_t r;

    payload_make(TORTURE_ITERS + 1, &r);
    shm_seq_write_begin(&g->seq);
    shm_words_store(&g->v, &r, sizeof r / 2);
    raise(SIGSTOP);
    for (;;)
        pause();
}

static pid_t spawn(void (*fn)(torture_t *), torture_t *tt)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        fn(tt);
        _exit(0);
    }
    return pid;
}

static int reader_index;

static void reader_entry(torture_t *tt)
{
    reader_main(tt->t, tt->sh, &tt->sh->r[reader_index]);
}

static void writer_entry(torture_t *tt)
{
    writer_main(tt->t, tt->sh);
}

static void dying_writer_entry(torture_t *tt)
{
    dying_writer_main(tt->t);
}

static int setup(void **state)
{
    const shm_caps_t caps = {.max_so = 16, .max_trig = 64, .max_proc = 8, .max_trig_per_so = 8};
    const shm_trig_ctl_t ctl = {
        .flags = SHM_F_VALID, .worker = TORTURE_WORKER, .release_from = SHM_NONE};
    torture_t *tt = calloc(1, sizeof *tt);

    if (!tt)
        return -1;
    snprintf(tt->name, sizeof tt->name, "ckeda-test-%d-torture", (int)getpid());
    if (shm_table_create(tt->name, &caps, &tt->t) < 0)
        return -1;
    tt->sh = mmap(NULL, sizeof *tt->sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (tt->sh == MAP_FAILED)
        return -1;
    memset(tt->sh, 0, sizeof *tt->sh);
    shm_trig_ctl_write(tt->t, TORTURE_SLOT, &ctl);
    for (reader_index = 0; reader_index < READERS; reader_index++)
        tt->readers[reader_index] = spawn(reader_entry, tt);
    *state = tt;
    return 0;
}

static int teardown(void **state)
{
    torture_t *tt = *state;
    int status;

    atomic_store(&tt->sh->phase, PH_DONE);
    if (tt->victim > 0) {
        kill(tt->victim, SIGKILL);
        waitpid(tt->victim, &status, 0);
    }
    for (int i = 0; i < READERS; i++)
        if (tt->readers[i] > 0 && waitpid(tt->readers[i], &status, 0) < 0)
            kill(tt->readers[i], SIGKILL);
    munmap(tt->sh, sizeof *tt->sh);
    shm_table_close(tt->t);
    shm_table_unlink(tt->name);
    free(tt);
    return 0;
}

/* Polls until every reader's counter (at offset `field` in its stats) reaches `want`. */
static bool readers_reach(shared_t *sh, size_t field, uint64_t want)
{
    uint64_t deadline = now_ns() + DEADLINE_MS * 1000000ull;

    for (;;) {
        bool all = true;
        for (int i = 0; i < READERS; i++)
            all &= atomic_load((_Atomic uint64_t *)((char *)&sh->r[i] + field)) >= want;
        if (all)
            return true;
        if (now_ns() > deadline)
            return false;
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
}

static void test_shm_trig_result_read_concurrent_writer_never_torn(void **state)
{
    torture_t *tt = *state;
    shm_trig_result_t r;
    int status;
    uint64_t t0 = now_ns();
    pid_t w = spawn(writer_entry, tt);

    assert_int_equal(waitpid(w, &status, 0), w);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    double secs = (double)(now_ns() - t0) / 1e9;
    /* Readers catch up with the final publication. */
    assert_true(readers_reach(tt->sh, offsetof(reader_stats_t, last_seen), TORTURE_ITERS));
    for (int i = 0; i < READERS; i++) {
        reader_stats_t *st = &tt->sh->r[i];
        print_message("reader %d: %llu ok (%llu mid-stream), %llu EAGAIN, %llu torn, "
                      "max call %.3f ms, %u writes in %.2f s\n",
                      i, (unsigned long long)st->ok, (unsigned long long)st->mid,
                      (unsigned long long)st->eagain, (unsigned long long)st->torn,
                      (double)st->max_call_ns / 1e6, TORTURE_ITERS, secs);
        assert_int_equal(atomic_load(&st->torn), 0);
        assert_int_equal(atomic_load(&st->out_of_order), 0);
        assert_true(atomic_load(&st->mid) > 0); /* reads did overlap the writes */
        assert_true(atomic_load(&st->max_call_ns) < CALL_BOUND_NS);
    }
    assert_int_equal(shm_trig_result_read(tt->t, TORTURE_SLOT, &r), 0);
    assert_int_equal(r.for_cfg_gen, TORTURE_ITERS);
    assert_true(payload_consistent(&r));
}

static void test_shm_repair_killed_writer_unblocks_readers(void **state)
{
    torture_t *tt = *state;
    shm_trig_result_t r;
    int status;
    uint64_t t0;
    pid_t w;

    payload_make(1, &r);
    shm_trig_result_write(tt->t, TORTURE_SLOT, &r);
    assert_true(readers_reach(tt->sh, offsetof(reader_stats_t, ok), 100));

    w = tt->victim = spawn(dying_writer_entry, tt);
    assert_int_equal(waitpid(w, &status, WUNTRACED), w);
    assert_true(WIFSTOPPED(status)); /* stopped between its two bumps */
    atomic_store(&tt->sh->phase, PH_DEAD_WRITER);
    assert_true(readers_reach(tt->sh, offsetof(reader_stats_t, dead_calls), 5));
    t0 = now_ns();
    assert_int_equal(shm_trig_result_read(tt->t, TORTURE_SLOT, &r), -EAGAIN);
    assert_true(now_ns() - t0 < CALL_BOUND_NS);

    assert_int_equal(kill(w, SIGKILL), 0);
    assert_int_equal(waitpid(w, &status, 0), w);
    tt->victim = 0;
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* Reaped, not yet repaired: still bounded failures, never the half-written payload. */
    uint64_t seen = tt->sh->r[0].dead_calls > tt->sh->r[1].dead_calls ? tt->sh->r[0].dead_calls
                                                                      : tt->sh->r[1].dead_calls;
    assert_true(readers_reach(tt->sh, offsetof(reader_stats_t, dead_calls), seen + 5));

    atomic_store(&tt->sh->phase, PH_REPAIRING);
    assert_int_equal(shm_repair(tt->t, SHM_ROLE_SCALEWORKER, TORTURE_WORKER), 1);
    atomic_store(&tt->sh->phase, PH_REPAIRED);
    assert_true(readers_reach(tt->sh, offsetof(reader_stats_t, repaired_calls), 100));

    for (int i = 0; i < READERS; i++) {
        reader_stats_t *st = &tt->sh->r[i];
        print_message("reader %d: dead writer %llu calls (%llu ok), max call %.3f ms; "
                      "repaired %llu calls (%llu failed, %llu valid)\n",
                      i, (unsigned long long)st->dead_calls, (unsigned long long)st->dead_ok,
                      (double)st->max_call_ns / 1e6, (unsigned long long)st->repaired_calls,
                      (unsigned long long)st->repaired_fail,
                      (unsigned long long)st->repaired_valid);
        assert_int_equal(atomic_load(&st->dead_ok), 0);
        assert_true(atomic_load(&st->max_call_ns) < CALL_BOUND_NS);
        assert_int_equal(atomic_load(&st->repaired_fail), 0);
        assert_int_equal(atomic_load(&st->repaired_valid), 0);
        assert_int_equal(atomic_load(&st->torn), 0);
    }
    assert_int_equal(shm_trig_result_read(tt->t, TORTURE_SLOT, &r), 0);
    assert_int_equal(r.flags & SHM_F_VALID, 0);

    /* The next worker's publication is an ordinary one. */
    atomic_store(&tt->sh->phase, PH_DONE);
    payload_make(42, &r);
    shm_trig_result_write(tt->t, TORTURE_SLOT, &r);
    assert_int_equal(shm_trig_result_read(tt->t, TORTURE_SLOT, &r), 0);
    assert_true(payload_consistent(&r));
    assert_int_equal(r.for_cfg_gen, 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shm_trig_result_read_concurrent_writer_never_torn,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_shm_repair_killed_writer_unblocks_readers, setup,
                                        teardown),
    };

    return cmocka_run_group_tests_name("seqlock_torture", tests, NULL, NULL);
}
