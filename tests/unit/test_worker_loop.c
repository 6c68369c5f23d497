/*
 * Unit tests of the scale worker's event loop and poll life cycle (scaleworker/worker.c,
 * poll.c, loop.c), on a real table created for the test and the fake scaler of
 * sw_worker_fixture.h: `sync` completes inside poll(), `pipe` waits for a byte on a pipe
 * registered with the loop (a source that answers later, or never). Asserts what the rest of
 * ckeda relies on: the first poll at once, results tagged with for_cfg_gen, the in-flight
 * record, the per-poll deadline (the trigger's timeout, else KEDA_HTTP_DEFAULT_TIMEOUT), a
 * hanging source never delaying another trigger, the suspect shard's one poll at a time,
 * configuration errors, the watcher's doorbell on activity changes, and freshness (DESIGN.md):
 * one extra poll after an HPA read (the adapter's demand stamp) for a trigger without
 * useCachedMetrics, rate-limited, none for one with it. Every wait polls against a deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sw_worker_fixture.h"

#include "scaleworker/sw_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- the API server's Secrets, as the resolver's fetch hook sees them ---------------------- */

static char secret_b64[64]; /* data.pw of Secret apps/s; "" while it does not exist */
static int secret_reads;

static int fake_fetch(void *ctx, const char *kind, const char *ns, const char *name,
                      cJSON **ret_obj, char *err, size_t errlen)
{
    char json[128];

    secret_reads++;
    if (!secret_b64[0] || strcmp(kind, "Secret") != 0 || strcmp(name, "s") != 0) {
        snprintf(err, errlen, "%s %s/%s not found", kind, ns, name);
        return -ENOENT;
    }
    snprintf(json, sizeof json, "{\"data\":{\"pw\":\"%s\"}}", secret_b64);
    *ret_obj = cJSON_Parse(json);
    return 0;
}

/* ---- a worker on a table of the test's own (sw_worker_fixture.h) --------------------------- */

static int setup(void **state)
{
    secret_b64[0] = '\0';
    secret_reads = 0;
    return sw_wfx_setup(state, "worker", fake_fetch);
}

static const char *blob_auth; /* the blob's "authentication" JSON, or NULL */
static bool cfg_cached;       /* the trigger's useCachedMetrics */

/* Adds trigger `slot` assigned to us, with metadata JSON text and a timeout (0: default). */
static void add_trigger(sw_wfx_t *f, uint32_t slot, const char *metadata, uint32_t interval_ms,
                        uint32_t timeout_ms, uint64_t cfg_gen)
{
    sw_wfx_trigger_write(f, slot,
                         &(sw_wfx_trig_t){.metadata = metadata,
                                          .auth = blob_auth,
                                          .interval_ms = interval_ms,
                                          .timeout_ms = timeout_ms,
                                          .cfg_gen = cfg_gen,
                                          .cached = cfg_cached,
                                          .worker = SW_WFX_SLOT});
}

static bool inflight(sw_wfx_t *f, uint32_t slot)
{
    shm_proc_self_t me;

    shm_proc_self_read(f->t, SW_WFX_SLOT, &me);
    for (size_t i = 0; i < SHM_INFLIGHT_MAX; i++)
        if (me.inflight[i] == slot)
            return true;
    return false;
}

/* Turns the loop for ms, stamping the demand of the triggers in mask before each turn. */
static void turn_for(sw_wfx_t *f, uint64_t ms, unsigned stamp_mask)
{
    uint64_t until = shm_now_mono_ms() + ms;

    while (shm_now_mono_ms() < until) {
        for (uint32_t s = 0; s < 8; s++)
            if (stamp_mask & (1u << s))
                shm_trig_demand_stamp(f->t, s, shm_now_mono_ms());
        sw_worker_turn(&f->w, 10);
    }
}

/* The adapter's stamp for an HPA read of trigger slot, made after `after` (the stamp is in
 * milliseconds: a read in the same millisecond as a poll's start is answered by that poll). */
static void hpa_read(sw_wfx_t *f, uint32_t slot, uint64_t after)
{
    while (shm_now_mono_ms() <= after)
        ;
    shm_trig_demand_stamp(f->t, slot, shm_now_mono_ms());
}

static uint64_t bell_count(sw_wfx_t *f)
{
    uint64_t v = 0;
    return read(f->bell, &v, sizeof v) == sizeof v ? v : 0;
}

static void poke(sw_wfx_fake_t *fk, unsigned char b)
{
    assert_non_null(fk);
    assert_int_equal(write(fk->fds[1], &b, 1), 1);
}

/* Proves the first poll runs at once (one turn), its result carries the cfg_gen it was computed
 * for, the in-flight record is gone after it, and the activity change rang the doorbell. */
static void test_sw_worker_first_poll_at_once_tagged(void **state)
{
    sw_wfx_t *f = *state;
    uint64_t t0 = shm_now_mono_ms();

    add_trigger(f, 0, "{\"mode\":\"sync\",\"value\":\"3\",\"id\":\"0\"}", 60000, 0, 41);
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, sw_wfx_result(f, 0).polls_total == 1);
    shm_trig_result_t r = sw_wfx_result(f, 0);
    assert_true(r.flags & SHM_F_VALID);
    assert_true(r.value == 3);
    assert_int_equal(r.for_cfg_gen, 41);
    assert_int_equal(r.active, 1);
    assert_int_equal(sw_wfx_fakes[0]->polls, 1);
    assert_false(inflight(f, 0));
    assert_int_equal(bell_count(f), 1);
    assert_true(shm_now_mono_ms() - t0 < 1000);
    /* the next poll is one interval (less at most a tenth of jitter) away */
    assert_true(f->w.trig[0]->next_poll_ms >= t0 + 54000);
}

/* Proves a source that never answers is recorded in flight, is cut off at its own timeout with
 * an error naming what it waited for, and meanwhile another trigger of the same worker is
 * polled on its interval. */
static void test_sw_worker_hanging_source_times_out_others_served(void **state)
{
    sw_wfx_t *f = *state;
    uint64_t t0;

    add_trigger(f, 0, "{\"mode\":\"pipe\",\"id\":\"0\"}", 60000, 300, 1);
    add_trigger(f, 1, "{\"mode\":\"sync\",\"value\":\"1\",\"id\":\"1\"}", 50, 0, 2);
    sw_assign_load(&f->w);
    t0 = shm_now_mono_ms();
    SW_WFX_TURN_UNTIL(f, sw_wfx_fakes[0] && sw_wfx_fakes[0]->polls == 1);
    assert_true(inflight(f, 0));
    SW_WFX_TURN_UNTIL(f, sw_wfx_result(f, 0).polls_total == 1);
    uint64_t took = shm_now_mono_ms() - t0;
    shm_trig_result_t r = sw_wfx_result(f, 0);
    assert_false(r.flags & SHM_F_VALID);
    assert_int_equal(r.failure, SHM_FAIL_SOURCE);
    assert_string_equal(r.error,
                        "fake: no answer within the timeout of 300 ms while reading the test pipe");
    assert_true(took >= 300 && took < 1500);
    assert_int_equal(sw_wfx_fakes[0]->cancels, 1);
    assert_false(inflight(f, 0));
    /* trigger 1 kept its 50 ms interval while trigger 0 hung for 300 ms */
    assert_true(sw_wfx_result(f, 1).polls_total >= 4);
    /* a late answer is not read: the registration was stopped */
    poke(sw_wfx_fakes[0], 9);
    sw_worker_turn(&f->w, 20);
    assert_int_equal(sw_wfx_result(f, 0).polls_total, 1);
}

/* Proves the deadline defaults to KEDA_HTTP_DEFAULT_TIMEOUT when the trigger has none. */
static void test_sw_worker_default_timeout(void **state)
{
    sw_wfx_t *f = *state;

    f->w.ctx.cfg.http_default_timeout_ms = 150;
    add_trigger(f, 2, "{\"mode\":\"pipe\",\"id\":\"2\"}", 60000, 0, 5);
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, sw_wfx_fakes[2] && sw_wfx_fakes[2]->polls == 1);
    assert_int_equal(f->w.trig[0]->poll.timeout_ms, 150);
    SW_WFX_TURN_UNTIL(f, sw_wfx_result(f, 2).polls_total == 1);
    assert_non_null(strstr(sw_wfx_result(f, 2).error, "timeout of 150 ms"));
}

/* Proves a poll completed later from an I/O callback publishes its value and releases the
 * in-flight record. */
static void test_sw_worker_completes_from_callback(void **state)
{
    sw_wfx_t *f = *state;

    add_trigger(f, 4, "{\"mode\":\"pipe\",\"id\":\"4\"}", 60000, 5000, 8);
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, sw_wfx_fakes[4] && sw_wfx_fakes[4]->polls == 1);
    sw_worker_turn(&f->w, 20);
    assert_int_equal(sw_wfx_result(f, 4).polls_total, 0); /* nothing until the source answers */
    assert_true(inflight(f, 4));
    poke(sw_wfx_fakes[4], 7);
    SW_WFX_TURN_UNTIL(f, sw_wfx_result(f, 4).polls_total == 1);
    assert_true(sw_wfx_result(f, 4).value == 7);
    assert_true(sw_wfx_result(f, 4).flags & SHM_F_VALID);
    assert_false(inflight(f, 4));
    assert_int_equal(sw_wfx_fakes[4]->cancels, 0);
}

/* Proves the suspect shard never has two polls in flight, and still serves both triggers. */
static void test_sw_worker_suspect_one_poll_at_a_time(void **state)
{
    sw_wfx_t *f = *state;
    shm_proc_ctl_t me = {.suspect = 1};

    shm_proc_ctl_write(f->t, SW_WFX_SLOT, &me);
    add_trigger(f, 0, "{\"mode\":\"pipe\",\"id\":\"0\"}", 60000, 200, 1);
    add_trigger(f, 1, "{\"mode\":\"pipe\",\"id\":\"1\"}", 60000, 200, 2);
    sw_assign_load(&f->w);
    assert_true(f->w.suspect);
    uint64_t until = shm_now_mono_ms() + SW_WFX_WAIT_MS;
    while (sw_wfx_result(f, 0).polls_total + sw_wfx_result(f, 1).polls_total < 2) {
        if (shm_now_mono_ms() > until)
            fail_msg("the suspect shard did not serve both triggers");
        sw_worker_turn(&f->w, 10);
        assert_true(f->w.inflight <= 1);
        assert_false(inflight(f, 0) && inflight(f, 1));
    }
    assert_int_equal(sw_wfx_result(f, 0).failure, SHM_FAIL_SOURCE);
    assert_int_equal(sw_wfx_result(f, 1).failure, SHM_FAIL_SOURCE);
}

/* Proves a parse error is published as a configuration error naming the field, without a
 * poll, and that a new configuration (cfg_gen) is picked up, polled at once and rings the
 * doorbell when it makes the trigger active. */
static void test_sw_worker_config_error_then_new_config(void **state)
{
    sw_wfx_t *f = *state;

    add_trigger(f, 5, "{\"mode\":\"bogus\",\"id\":\"5\"}", 60000, 0, 10);
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, sw_wfx_result(f, 5).polls_total == 1);
    shm_trig_result_t r = sw_wfx_result(f, 5);
    assert_int_equal(r.failure, SHM_FAIL_CONFIG);
    assert_int_equal(r.for_cfg_gen, 10);
    assert_string_equal(r.error, "metadata.mode: \"bogus\" is not sync or pipe");
    assert_null(sw_wfx_fakes[5]);
    assert_int_equal(bell_count(f), 0);
    add_trigger(f, 5, "{\"mode\":\"sync\",\"value\":\"2\",\"id\":\"5\"}", 60000, 0, 11);
    SW_WFX_TURN_UNTIL(f, sw_wfx_result(f, 5).for_cfg_gen == 11);
    assert_true(sw_wfx_result(f, 5).flags & SHM_F_VALID);
    assert_int_equal(sw_wfx_result(f, 5).consecutive_failures, 0);
    assert_int_equal(bell_count(f), 1);
}

/* Proves a trigger taken away while its poll is in flight is released without a result: its
 * in-flight record goes, its state is closed, the table is not written for it again. */
static void test_sw_worker_drop_in_flight(void **state)
{
    sw_wfx_t *f = *state;
    shm_trig_ctl_t ctl = {.worker = SHM_NONE};

    add_trigger(f, 6, "{\"mode\":\"pipe\",\"id\":\"6\"}", 60000, 5000, 3);
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, sw_wfx_fakes[6] && sw_wfx_fakes[6]->polls == 1);
    assert_true(inflight(f, 6));
    shm_trig_ctl_write(f->t, 6, &ctl);
    sw_assign_load(&f->w);
    assert_int_equal(f->w.ntrig, 0);
    assert_int_equal(f->w.inflight, 0);
    assert_false(inflight(f, 6));
    assert_null(sw_wfx_fakes[6]);
    sw_worker_turn(&f->w, 20);
    assert_int_equal(sw_wfx_result(f, 6).polls_total, 0);
}

/* Proves an idle turn waits at most one second and heartbeats, so the watchdog never sees an
 * idle worker as hung, whatever wait the caller allows. */
static void test_sw_worker_turn_heartbeats_every_second(void **state)
{
    sw_wfx_t *f = *state;
    shm_proc_self_t me;
    uint64_t t0 = shm_now_mono_ms(), took;

    sw_worker_turn(&f->w, 60000);
    took = shm_now_mono_ms() - t0;
    shm_proc_self_read(f->t, SW_WFX_SLOT, &me);
    assert_true(took >= 900 && took <= 1500);
    assert_true(me.heartbeat_mono_ms >= t0 + 900);
}

static const char *const AUTH_S =
    "{\"kind\":\"TriggerAuthentication\",\"namespace\":\"apps\",\"name\":\"a\",\"uid\":\"u\","
    "\"resourceVersion\":\"1\",\"spec\":{\"secretTargetRef\":[{\"parameter\":\"password\","
    "\"name\":\"s\",\"key\":\"pw\"}]}}";

/* Proves the worker resolves a trigger's authentication before parsing it, retries a Secret
 * that does not exist yet on the polling interval (a source failure, not a configuration
 * error), and takes it once it appears. */
static void test_sw_worker_auth_missing_secret_retried(void **state)
{
    sw_wfx_t *f = *state;

    blob_auth = AUTH_S;
    add_trigger(f, 0, "{\"mode\":\"sync\",\"value\":\"1\",\"id\":\"0\"}", 200, 0, 1);
    blob_auth = NULL;
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, sw_wfx_result(f, 0).polls_total == 1);
    assert_int_equal(sw_wfx_result(f, 0).failure, SHM_FAIL_SOURCE);
    assert_string_equal(sw_wfx_result(f, 0).error, "authentication TriggerAuthentication apps/a: "
                                                   "Secret apps/s not found");
    assert_null(sw_wfx_fakes[0]);
    snprintf(secret_b64, sizeof secret_b64, "cHcx"); /* "pw1" */
    SW_WFX_TURN_UNTIL(f, sw_wfx_result(f, 0).flags & SHM_F_VALID);
    assert_string_equal(sw_wfx_fakes[0]->password, "pw1");
}

/* Proves a source that refuses the credentials makes the worker resolve them again before the
 * next poll (a rotated Secret is picked up), and that the next poll still waits its interval. */
static void test_sw_worker_auth_rejected_resolves_again(void **state)
{
    sw_wfx_t *f = *state;

    snprintf(secret_b64, sizeof secret_b64, "cHcx"); /* "pw1" */
    blob_auth = AUTH_S;
    add_trigger(f, 0, "{\"mode\":\"reject\",\"id\":\"0\"}", 300, 0, 1);
    blob_auth = NULL;
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, sw_wfx_result(f, 0).polls_total == 1);
    assert_int_equal(secret_reads, 1);
    assert_string_equal(sw_wfx_fakes[0]->password, "pw1");
    snprintf(secret_b64, sizeof secret_b64, "cHcy"); /* rotated: "pw2" */
    uint64_t t0 = shm_now_mono_ms();
    SW_WFX_TURN_UNTIL(f, secret_reads == 2);
    assert_string_equal(sw_wfx_fakes[0]->password, "pw2");
    SW_WFX_TURN_UNTIL(f, sw_wfx_result(f, 0).polls_total == 2);
    assert_true(shm_now_mono_ms() - t0 >= 200); /* the interval less its jitter, not at once */
    assert_int_equal(sw_wfx_result(f, 0).consecutive_failures, 2);
}

/* Proves an HPA read (the adapter's demand stamp) makes a trigger without useCachedMetrics
 * poll once more, no sooner than SW_DEMAND_GAP_MS after the start of its previous poll and
 * long before its interval; a trigger with useCachedMetrics is not polled on demand; the next
 * interval poll is one interval after the demand poll. */
static void test_sw_worker_demand_polls_uncached_not_cached(void **state)
{
    sw_wfx_t *f = *state;

    add_trigger(f, 0, "{\"mode\":\"sync\",\"value\":\"1\",\"id\":\"0\"}", 60000, 0, 1);
    cfg_cached = true;
    add_trigger(f, 1, "{\"mode\":\"sync\",\"value\":\"1\",\"id\":\"1\"}", 60000, 0, 2);
    cfg_cached = false;
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, sw_wfx_fakes[0] && sw_wfx_fakes[1] && sw_wfx_fakes[0]->polls == 1 &&
                             sw_wfx_fakes[1]->polls == 1);
    uint64_t first = sw_wfx_fakes[0]->poll_ms[0];
    hpa_read(f, 0, first);
    hpa_read(f, 1, sw_wfx_fakes[1]->poll_ms[0]);
    SW_WFX_TURN_UNTIL(f, sw_wfx_fakes[0]->polls == 2);
    uint64_t gap = sw_wfx_fakes[0]->poll_ms[1] - first;
    assert_true(gap >= SW_DEMAND_GAP_MS);
    assert_true(gap < SW_DEMAND_GAP_MS + 1000);
    assert_int_equal(sw_wfx_result(f, 0).polls_total, 2); /* published like any poll */
    turn_for(f, 1500, 0);
    assert_int_equal(sw_wfx_fakes[0]->polls, 2); /* one poll for one stamp */
    assert_int_equal(sw_wfx_fakes[1]->polls, 1); /* cached: its interval only */
    assert_true(f->w.by_slot[0]->next_poll_ms >= sw_wfx_fakes[0]->poll_ms[1] + 60000);
}

/* Proves demand never starts a second poll of a trigger while one is in flight, and that
 * stamps arriving during a poll and within the rate limit after it fold into one poll; after
 * it, without a new stamp, there is no other. */
static void test_sw_worker_demand_stamps_fold_into_one_poll(void **state)
{
    sw_wfx_t *f = *state;

    add_trigger(f, 0, "{\"mode\":\"pipe\",\"id\":\"0\"}", 60000, 5000, 1);
    sw_assign_load(&f->w);
    SW_WFX_TURN_UNTIL(f, sw_wfx_fakes[0] && sw_wfx_fakes[0]->polls == 1);
    uint64_t first = sw_wfx_fakes[0]->poll_ms[0];
    turn_for(f, 200, 1u << 0); /* HPA reads while the source has not answered */
    assert_int_equal(sw_wfx_fakes[0]->polls, 1);
    assert_int_equal(f->w.inflight, 1);
    poke(sw_wfx_fakes[0], 4);
    SW_WFX_TURN_UNTIL(f, sw_wfx_result(f, 0).polls_total == 1);
    uint64_t until = shm_now_mono_ms() + SW_WFX_WAIT_MS;
    while (sw_wfx_fakes[0]->polls < 2) { /* a read every turn until the demand poll starts */
        if (shm_now_mono_ms() > until)
            fail_msg("no demand poll");
        shm_trig_demand_stamp(f->t, 0, shm_now_mono_ms());
        sw_worker_turn(&f->w, 10);
    }
    assert_true(sw_wfx_fakes[0]->poll_ms[1] - first >= SW_DEMAND_GAP_MS);
    poke(sw_wfx_fakes[0], 5);
    SW_WFX_TURN_UNTIL(f, sw_wfx_result(f, 0).polls_total == 2);
    assert_true(sw_wfx_result(f, 0).value == 5);
    turn_for(f, 1500, 0);
    assert_int_equal(sw_wfx_fakes[0]->polls, 2);
}

/* Proves polls keep their interval where demand does not apply: a trigger without
 * useCachedMetrics that nobody reads, and one with it that is read on every turn. */
static void test_sw_worker_interval_kept_without_demand(void **state)
{
    sw_wfx_t *f = *state;
    const uint64_t interval = 300;

    add_trigger(f, 0, "{\"mode\":\"sync\",\"value\":\"1\",\"id\":\"0\"}", interval, 0, 1);
    cfg_cached = true;
    add_trigger(f, 1, "{\"mode\":\"sync\",\"value\":\"1\",\"id\":\"1\"}", interval, 0, 2);
    cfg_cached = false;
    sw_assign_load(&f->w);
    uint64_t until = shm_now_mono_ms() + SW_WFX_WAIT_MS;
    while (!sw_wfx_fakes[0] || !sw_wfx_fakes[1] || sw_wfx_fakes[0]->polls < 5 ||
           sw_wfx_fakes[1]->polls < 5) {
        if (shm_now_mono_ms() > until)
            fail_msg("the triggers did not poll five times");
        turn_for(f, 1, 1u << 1);
    }
    for (int s = 0; s < 2; s++)
        for (int i = 1; i < 5; i++) {
            uint64_t gap = sw_wfx_fakes[s]->poll_ms[i] - sw_wfx_fakes[s]->poll_ms[i - 1];
            /* the first interval less at most a tenth of jitter; generous above (ASan) */
            assert_true(gap >= (i == 1 ? interval - interval / 10 : interval));
            assert_true(gap < interval + 500);
        }
}

/* Proves demand keeps the suspect shard's one poll at a time, and still serves both
 * triggers' demand. */
static void test_sw_worker_demand_suspect_one_poll_at_a_time(void **state)
{
    sw_wfx_t *f = *state;
    shm_proc_ctl_t me = {.suspect = 1};

    shm_proc_ctl_write(f->t, SW_WFX_SLOT, &me);
    add_trigger(f, 0, "{\"mode\":\"pipe\",\"id\":\"0\"}", 60000, 200, 1);
    add_trigger(f, 1, "{\"mode\":\"pipe\",\"id\":\"1\"}", 60000, 200, 2);
    sw_assign_load(&f->w);
    uint64_t until = shm_now_mono_ms() + SW_WFX_WAIT_MS;
    while (!sw_wfx_fakes[0] || !sw_wfx_fakes[1] || sw_wfx_fakes[0]->polls < 2 ||
           sw_wfx_fakes[1]->polls < 2) {
        if (shm_now_mono_ms() > until)
            fail_msg("the suspect shard did not serve both triggers' demand");
        turn_for(f, 1, 3u);
        assert_true(f->w.inflight <= 1);
        assert_false(inflight(f, 0) && inflight(f, 1));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sw_worker_first_poll_at_once_tagged, setup,
                                        sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_worker_hanging_source_times_out_others_served,
                                        setup, sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_worker_default_timeout, setup, sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_worker_completes_from_callback, setup,
                                        sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_worker_suspect_one_poll_at_a_time, setup,
                                        sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_worker_config_error_then_new_config, setup,
                                        sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_worker_drop_in_flight, setup, sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_worker_turn_heartbeats_every_second, setup,
                                        sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_worker_auth_missing_secret_retried, setup,
                                        sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_worker_auth_rejected_resolves_again, setup,
                                        sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_worker_demand_polls_uncached_not_cached, setup,
                                        sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_worker_demand_stamps_fold_into_one_poll, setup,
                                        sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_worker_interval_kept_without_demand, setup,
                                        sw_wfx_teardown),
        cmocka_unit_test_setup_teardown(test_sw_worker_demand_suspect_one_poll_at_a_time, setup,
                                        sw_wfx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
