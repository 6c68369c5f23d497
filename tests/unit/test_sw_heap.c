/*
 * Unit tests of the scale worker's schedule (scaleworker/heap.c, and its use in poll.c and
 * assign.c) and of the table's trigger-config change count (shm/groups.c, shm/integrity.c):
 * the heap's order, moves and removals against a reference; a worker's triggers leaving and
 * re-entering the schedule when the supervisor takes them away and gives them back (idle and
 * in flight); an interval change taking effect, with a new configuration and without one; a
 * configuration error leaving the schedule (no spinning turn); a new configuration noticed within
 * one turn, or after the poll in flight; and the count moving on every write and on repair. On a
 * real table created for the test, with the fake scaler of sw_worker_fixture.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sw_worker_fixture.h"

#include "scaleworker/sw_internal.h"
#include "shm/shm_internal.h"

#include <stdlib.h>

/* ---- the heap alone ------------------------------------------------------------------------ */

typedef struct item {
    sw_heap_node_t node;
    bool in; /* the reference: whether it should be in the heap */
} item_t;

static item_t *item_of(sw_heap_node_t *n)
{
    return n ? (item_t *)((char *)n - offsetof(item_t, node)) : NULL;
}

/* Checks the heap property and every node's position. */
static void heap_assert_sane(const sw_heap_t *h)
{
    for (uint32_t i = 0; i < h->n; i++) {
        assert_int_equal(h->v[i]->pos, i + 1);
        if (i > 0) {
            const sw_heap_node_t *p = h->v[(i - 1) / 2], *c = h->v[i];
            assert_true(p->key < c->key || (p->key == c->key && p->tie < c->tie));
        }
    }
}

/* The reference's smallest (key, tie), or NULL. */
static item_t *ref_min(item_t *items, size_t n)
{
    item_t *best = NULL;

    for (size_t i = 0; i < n; i++)
        if (items[i].in &&
            (!best || items[i].node.key < best->node.key ||
             (items[i].node.key == best->node.key && items[i].node.tie < best->node.tie)))
            best = &items[i];
    return best;
}

/* Proves nodes come out by key, equal keys by tie (the trigger slot), whatever the order of
 * insertion. */
static void test_sw_heap_top_orders_by_key_then_tie(void **state)
{
    item_t it[6] = {0};
    const uint64_t keys[6] = {50, 10, 30, 10, 70, 30};
    sw_heap_t h;

    assert_int_equal(sw_heap_init(&h, 6), 0);
    for (uint32_t i = 0; i < 6; i++) {
        it[i].node.tie = 5 - i;
        sw_heap_set(&h, &it[i].node, keys[i]);
        heap_assert_sane(&h);
    }
    const uint32_t want[6] = {3, 1, 5, 2, 0, 4}; /* 10 (tie 2), 10 (tie 4), 30 (tie 0), ... */
    for (uint32_t k = 0; k < 6; k++) {
        item_t *top = item_of(sw_heap_top(&h));
        assert_ptr_equal(top, &it[want[k]]);
        sw_heap_remove(&h, &top->node);
        assert_int_equal(top->node.pos, 0);
        heap_assert_sane(&h);
    }
    assert_null(sw_heap_top(&h));
    sw_heap_free(&h);
}

/* Proves a node moved earlier (an HPA read, a shorter interval) or later (a longer interval)
 * takes its place, and that setting the key it has changes nothing. */
static void test_sw_heap_set_moves_both_ways(void **state)
{
    item_t it[4] = {0};
    sw_heap_t h;

    assert_int_equal(sw_heap_init(&h, 4), 0);
    for (uint32_t i = 0; i < 4; i++) {
        it[i].node.tie = i;
        sw_heap_set(&h, &it[i].node, 100 * (i + 1));
    }
    assert_ptr_equal(item_of(sw_heap_top(&h)), &it[0]);
    sw_heap_set(&h, &it[3].node, 50); /* earlier */
    heap_assert_sane(&h);
    assert_ptr_equal(item_of(sw_heap_top(&h)), &it[3]);
    sw_heap_set(&h, &it[3].node, 1000); /* later */
    heap_assert_sane(&h);
    assert_ptr_equal(item_of(sw_heap_top(&h)), &it[0]);
    sw_heap_set(&h, &it[0].node, 100); /* unchanged */
    assert_int_equal(h.n, 4);
    assert_ptr_equal(item_of(sw_heap_top(&h)), &it[0]);
    sw_heap_free(&h);
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(it[i].node.pos, 0);
}

/* Proves removal from the middle, the end and the top keeps the order, and that removing a
 * node that is in no heap does nothing. */
static void test_sw_heap_remove_anywhere(void **state)
{
    item_t it[7] = {0};
    sw_heap_t h;

    assert_int_equal(sw_heap_init(&h, 7), 0);
    for (uint32_t i = 0; i < 7; i++) {
        it[i].node.tie = i;
        sw_heap_set(&h, &it[i].node, 7 - i);
    }
    sw_heap_remove(&h, &it[3].node); /* the middle */
    heap_assert_sane(&h);
    sw_heap_remove(&h, h.v[h.n - 1]); /* the last */
    heap_assert_sane(&h);
    sw_heap_remove(&h, sw_heap_top(&h)); /* the top: key 1 */
    heap_assert_sane(&h);
    assert_int_equal(h.n, 4);
    sw_heap_remove(&h, &it[6].node); /* already out */
    sw_heap_remove(&h, &it[3].node);
    assert_int_equal(h.n, 4);
    for (uint32_t k = 0, last = 0; k < 4; k++) {
        sw_heap_node_t *top = sw_heap_top(&h);
        assert_true(top->key >= last);
        last = (uint32_t)top->key;
        sw_heap_remove(&h, top);
    }
    sw_heap_free(&h);
}

/* Proves, over many random inserts, moves and removals, that the top is always the
 * reference's smallest and every position is right. */
static void test_sw_heap_random_against_reference(void **state)
{
    enum { N = 300, OPS = 20000 };
    item_t *it = calloc(N, sizeof *it);
    sw_heap_t h;

    srandom(42);
    assert_int_equal(sw_heap_init(&h, N), 0);
    for (uint32_t i = 0; i < N; i++)
        it[i].node.tie = i;
    for (int op = 0; op < OPS; op++) {
        item_t *x = &it[(uint32_t)random() % N];
        if (random() % 3 == 0) {
            sw_heap_remove(&h, &x->node);
            x->in = false;
        } else {
            sw_heap_set(&h, &x->node, (uint64_t)(random() % 1000));
            x->in = true;
        }
        assert_ptr_equal(item_of(sw_heap_top(&h)), ref_min(it, N));
        if (op % 97 == 0)
            heap_assert_sane(&h);
    }
    heap_assert_sane(&h);
    sw_heap_free(&h);
    free(it);
}

/* ---- a worker on a table of the test's own (sw_worker_fixture.h) --------------------------- */

static int setup(void **state)
{
    return sw_wfx_setup(state, "sw-heap", NULL);
}

/* Writes trigger slot (metadata mode, a value of 1; useCachedMetrics, a 5 s timeout), assigned
 * to worker. */
static void put_trigger(sw_wfx_t *f, uint32_t slot, const char *mode, uint32_t interval_ms,
                        uint64_t cfg_gen, uint32_t worker)
{
    char md[96];

    snprintf(md, sizeof md, "{\"mode\":\"%s\",\"id\":\"%u\",\"value\":\"1\"}", mode, slot);
    sw_wfx_trigger_write(f, slot,
                         &(sw_wfx_trig_t){.metadata = md,
                                          .interval_ms = interval_ms,
                                          .timeout_ms = 5000,
                                          .cfg_gen = cfg_gen,
                                          .cached = true,
                                          .worker = worker});
}

/* The supervisor takes slot away from us, or gives it back, and rings our doorbell. */
static void assign(sw_wfx_t *f, uint32_t slot, uint32_t worker)
{
    sw_wfx_assign(f, slot, worker);
    sw_assign_load(&f->w);
}

static uint64_t polls_total(sw_wfx_t *f, uint32_t slot)
{
    return sw_wfx_result(f, slot).polls_total;
}

/* Counts the schedule's nodes of trigger t: 1 when it is filed once, 0 when out. */
static int filed(const sw_worker_t *w, const sw_trigger_t *t)
{
    int n = 0;

    for (uint32_t i = 0; i < w->due.n; i++)
        n += w->due.v[i] == &t->due;
    for (uint32_t i = 0; i < w->deadlines.n; i++)
        n += w->deadlines.v[i] == &t->deadline;
    return n;
}

/* Proves a trigger the supervisor takes away leaves the schedule, idle or in flight (its poll
 * abandoned, nothing published), the others keep polling, and one given back is polled at once
 * (its first poll) and scheduled again. */
static void test_sw_sched_reassignment(void **state)
{
    sw_wfx_t *f = *state;

    put_trigger(f, 0, "sync", 60000, 1, SW_WFX_SLOT);
    put_trigger(f, 1, "pipe", 60000, 2, SW_WFX_SLOT);
    put_trigger(f, 4, "sync", 200, 3, SW_WFX_SLOT);
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, sw_wfx_fakes[0] && sw_wfx_fakes[1] && sw_wfx_fakes[4] &&
                             sw_wfx_fakes[1]->polls == 1 && polls_total(f, 0) == 1 &&
                             polls_total(f, 4) == 1);
    assert_int_equal(f->w.deadlines.n, 1); /* trigger 1 in flight */
    assert_int_equal(f->w.due.n, 2);
    for (uint32_t i = 0; i < f->w.ntrig; i++)
        assert_int_equal(filed(&f->w, f->w.trig[i]), 1);

    assign(f, 1, SHM_NONE); /* in flight */
    assign(f, 0, 5);        /* idle, moved to another worker */
    assert_int_equal(f->w.ntrig, 1);
    assert_int_equal(f->w.deadlines.n, 0);
    assert_int_equal(f->w.due.n, 1);
    assert_int_equal(f->w.inflight, 0);
    assert_null(sw_wfx_fakes[0]);
    assert_null(sw_wfx_fakes[1]);
    uint64_t p4 = polls_total(f, 4);
    SW_WFX_TURN_UNTIL(f, polls_total(f, 4) >= p4 + 2); /* the one left keeps its interval */
    assert_int_equal(polls_total(f, 1), 0);
    assert_int_equal(polls_total(f, 0), 1);

    uint64_t t0 = shm_now_mono_ms();
    assign(f, 0, SW_WFX_SLOT); /* back */
    SW_WFX_TURN_UNTIL(f, polls_total(f, 0) == 2);
    assert_true(shm_now_mono_ms() - t0 < 1000);
    assert_int_equal(filed(&f->w, f->w.by_slot[0]), 1);
    assert_true(f->w.by_slot[0]->next_poll_ms >= t0 + 54000);
}

/* Proves a new pollingInterval (a new configuration) is picked up within one turn, polled at
 * once, and then kept: a trigger polled every minute moves to every 150 ms. */
static void test_sw_sched_interval_change(void **state)
{
    sw_wfx_t *f = *state;

    put_trigger(f, 3, "sync", 60000, 7, SW_WFX_SLOT);
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, polls_total(f, 3) == 1);
    sw_worker_turn(&f->w, 0);
    assert_int_equal(sw_wfx_fakes[3]->polls, 1);
    put_trigger(f, 3, "sync", 150, 8, SW_WFX_SLOT);
    sw_worker_turn(&f->w, 0); /* one turn: loaded and polled */
    assert_int_equal(f->w.by_slot[3]->cfg_gen, 8);
    assert_int_equal(f->w.by_slot[3]->cfg.polling_interval_ms, 150);
    assert_non_null(sw_wfx_fakes[3]);
    assert_int_equal(sw_wfx_fakes[3]->polls, 1); /* a new state: its first poll */
    SW_WFX_TURN_UNTIL(f, sw_wfx_fakes[3]->polls >= 4);
    for (int i = 2; i < 4; i++) {
        uint64_t gap = sw_wfx_fakes[3]->poll_ms[i] - sw_wfx_fakes[3]->poll_ms[i - 1];
        assert_true(gap >= 150 && gap < 150 + 500); /* generous above (sanitizers) */
    }
}

/* Proves a pollingInterval changed on the ScaledObject alone (the config group rewritten with
 * the same cfg_gen: the blob does not carry it) is taken within one turn without a reload:
 * the next poll moves by the difference (here: due at once), then the new interval holds. */
static void test_sw_sched_interval_change_same_generation(void **state)
{
    sw_wfx_t *f = *state;
    shm_trig_cfg_t c;

    put_trigger(f, 3, "sync", 60000, 7, SW_WFX_SLOT);
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, polls_total(f, 3) == 1);
    sw_wfx_fake_t *same = sw_wfx_fakes[3];
    assert_int_equal(shm_trig_cfg_read(f->t, 3, &c), 0);
    c.polling_interval_ms = 150;
    shm_trig_cfg_write(f->t, 3, &c);
    sw_worker_turn(&f->w, 0); /* one turn: taken and, 60 s less 150 ms overdue, polled */
    assert_int_equal(f->w.by_slot[3]->cfg.polling_interval_ms, 150);
    assert_ptr_equal(sw_wfx_fakes[3], same); /* not parsed again */
    assert_int_equal(same->polls, 2);
    SW_WFX_TURN_UNTIL(f, same->polls >= 4);
    for (int i = 2; i < 4; i++) {
        uint64_t gap = same->poll_ms[i] - same->poll_ms[i - 1];
        assert_true(gap >= 150 && gap < 150 + 500);
    }
    /* longer again: the next poll is a minute after the last one, not at once */
    c.polling_interval_ms = 60000;
    shm_trig_cfg_write(f->t, 3, &c);
    sw_worker_turn(&f->w, 0);
    assert_true(f->w.by_slot[3]->next_poll_ms >= same->poll_ms[same->polls - 1] + 59000);
    int polls = same->polls;
    for (int i = 0; i < 5; i++)
        sw_worker_turn(&f->w, 50);
    assert_int_equal(same->polls, polls);
}

/* Proves a trigger with a configuration error is out of the schedule, so an otherwise idle
 * worker waits the full second rather than spinning, and comes back on a new configuration. */
static void test_sw_sched_config_error_not_scheduled(void **state)
{
    sw_wfx_t *f = *state;

    put_trigger(f, 5, "bogus", 100, 1, SW_WFX_SLOT);
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, polls_total(f, 5) == 1);
    assert_true(f->w.by_slot[5]->config_error);
    assert_int_equal(filed(&f->w, f->w.by_slot[5]), 0);
    assert_true(sw_poll_due(&f->w) >= 900);
    put_trigger(f, 5, "sync", 100, 2, SW_WFX_SLOT);
    SW_WFX_TURN_UNTIL(f, polls_total(f, 5) == 2);
    assert_false(f->w.by_slot[5]->config_error);
    assert_int_equal(filed(&f->w, f->w.by_slot[5]), 1);
}

/* Proves a new configuration written while a poll is in flight waits for that poll (whose
 * result keeps the old generation), then loads on the turn after it completes. */
static void test_sw_sched_new_config_waits_for_poll(void **state)
{
    sw_wfx_t *f = *state;
    shm_trig_result_t r;

    put_trigger(f, 6, "pipe", 60000, 1, SW_WFX_SLOT);
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, sw_wfx_fakes[6] && sw_wfx_fakes[6]->polls == 1);
    sw_wfx_fake_t *old = sw_wfx_fakes[6];
    put_trigger(f, 6, "sync", 60000, 2, SW_WFX_SLOT);
    for (int i = 0; i < 3; i++)
        sw_worker_turn(&f->w, 5);
    assert_int_equal(f->w.by_slot[6]->cfg_gen, 1);
    assert_ptr_equal(sw_wfx_fakes[6], old);
    unsigned char b = 9;
    assert_int_equal(write(old->fds[1], &b, 1), 1);
    SW_WFX_TURN_UNTIL(f, polls_total(f, 6) == 1);
    assert_int_equal(shm_trig_result_read(f->t, 6, &r), 0);
    assert_int_equal(r.for_cfg_gen, 1);
    SW_WFX_TURN_UNTIL(f, polls_total(f, 6) == 2);
    assert_int_equal(shm_trig_result_read(f->t, 6, &r), 0);
    assert_int_equal(r.for_cfg_gen, 2);
    assert_true(r.flags & SHM_F_VALID);
}

/* ---- the table's change count ---------------------------------------------------------------- */

/* Proves every trigger-config write moves the count (after the group is readable), other
 * groups' writes do not, and repairing a config group a dead watcher left odd moves it too. */
static void test_shm_trig_cfg_changes_counted(void **state)
{
    sw_wfx_t *f = *state;
    shm_trig_cfg_t c = {.flags = SHM_F_VALID, .cfg_gen = 5}, got;
    shm_trig_result_t res = {.flags = SHM_F_VALID};
    uint64_t n0 = shm_trig_cfg_changes(f->t);

    shm_trig_cfg_write(f->t, 7, &c);
    assert_int_equal(shm_trig_cfg_changes(f->t), n0 + 1);
    assert_int_equal(shm_trig_cfg_read(f->t, 7, &got), 0);
    assert_int_equal(got.cfg_gen, 5);
    shm_trig_result_write(f->t, 7, &res);
    assert_int_equal(shm_trig_cfg_changes(f->t), n0 + 1);

    /* a watcher dies between its two bumps */
    shm_g_trig_cfg_t *g = shm_entry(f->t, SHM_R_TRIG_CFG, 7);
    shm_seq_write_begin(&g->seq);
    assert_int_equal(shm_repair(f->t, SHM_ROLE_WATCHER, 0), 1);
    assert_int_equal(shm_trig_cfg_changes(f->t), n0 + 2);
    assert_int_equal(shm_trig_cfg_read(f->t, 7, &got), 0);
    assert_false(got.flags & SHM_F_VALID);
    assert_int_equal(shm_repair(f->t, SHM_ROLE_WATCHER, 0), 0); /* nothing odd: no move */
    assert_int_equal(shm_trig_cfg_changes(f->t), n0 + 2);
}

/* Proves the count lies inside the trigger-config region (the watcher's, writable once the
 * table is protected for it) and outside every entry. */
static void test_shm_trig_cfg_changes_in_watcher_region(void **state)
{
    sw_wfx_t *f = *state;
    const shm_region_desc_t *d = &f->t->hdr->regions[SHM_R_TRIG_CFG];
    uint64_t at = (uint64_t)((uint8_t *)shm_trig_cfg_changes_at(f->t) - f->t->base);

    assert_true(at >= d->offset + (uint64_t)d->count * d->stride);
    assert_true(at + sizeof(shm_g_trig_cfg_changes_t) <= d->offset + d->size);
    assert_int_equal(at % SHM_CACHE_LINE, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sw_heap_top_orders_by_key_then_tie),
        cmocka_unit_test(test_sw_heap_set_moves_both_ways),
        cmocka_unit_test(test_sw_heap_remove_anywhere),
        cmocka_unit_test(test_sw_heap_random_against_reference),
        cmocka_unit_test_setup_teardown(test_sw_sched_reassignment, setup, sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_sched_interval_change, setup, sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_sched_interval_change_same_generation, setup,
                                        sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_sched_config_error_not_scheduled, setup,
                                        sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_sched_new_config_waits_for_poll, setup,
                                        sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_shm_trig_cfg_changes_counted, setup, sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_shm_trig_cfg_changes_in_watcher_region, setup,
                                        sw_wfx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
