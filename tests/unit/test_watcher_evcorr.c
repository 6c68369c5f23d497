/*
 * The Event correlator (client-go's EventCorrelator: aggregation, dedup, spam filter) with
 * explicit times, and the recorder's bounded queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "watcher/events.h"
#include "watcher/evcorr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define T0  1700000000000ull /* real time, ms */
#define MIN 60000ull

static watch_evcorr_event_t event(const char *name, const char *reason, const char *message)
{
    return (watch_evcorr_event_t){.kind = "ScaledObject",
                                  .api_version = "keda.sh/v1alpha1",
                                  .ns = "default",
                                  .name = name,
                                  .uid = "0b9d6c1e-0000-4000-8000-000000000001",
                                  .reason = reason,
                                  .message = message,
                                  .event_name = "ev-new"};
}

static watch_evcorr_result_t observe(watch_evcorr_t *c, const watch_evcorr_event_t *e, uint64_t now)
{
    watch_evcorr_result_t r;
    memset(&r, 0xa5, sizeof r);
    assert_int_equal(watch_evcorr_observe(c, e, now, &r), 0);
    return r;
}

static void test_watch_evcorr_observe_identical_event_updates_count(void **state)
{
    watch_evcorr_t *c = watch_evcorr_new(0);
    watch_evcorr_event_t e = event("so", "ScaledObjectReady", "ScaledObject is ready");
    watch_evcorr_result_t r;

    e.event_name = "so.1";
    r = observe(c, &e, T0);
    assert_int_equal(r.action, WATCH_EVCORR_CREATE);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.event_name, "so.1");
    assert_string_equal(r.message, "ScaledObject is ready");
    assert_true(r.first_ms == T0);
    assert_false(r.aggregated);

    for (int32_t n = 2; n <= 5; n++) {
        e.event_name = "so.later"; /* the name a new Event would get: not used */
        r = observe(c, &e, T0 + (uint64_t)n * MIN);
        assert_int_equal(r.action, WATCH_EVCORR_UPDATE);
        assert_int_equal(r.count, n);
        assert_string_equal(r.event_name, "so.1");
        assert_true(r.first_ms == T0);
        assert_string_equal(r.message, "ScaledObject is ready");
    }
    watch_evcorr_free(c);
}

static void test_watch_evcorr_observe_different_type_is_another_event(void **state)
{
    watch_evcorr_t *c = watch_evcorr_new(0);
    watch_evcorr_event_t e = event("so", "KEDAScalerFailed", "boom");
    watch_evcorr_result_t r;

    observe(c, &e, T0);
    e.warning = true;
    r = observe(c, &e, T0 + 1);
    assert_int_equal(r.action, WATCH_EVCORR_CREATE);
    assert_int_equal(r.count, 1);
    watch_evcorr_free(c);
}

static void test_watch_evcorr_observe_aggregates_tenth_distinct_message(void **state)
{
    watch_evcorr_t *c = watch_evcorr_new(0);
    char msg[64], name[32];
    watch_evcorr_event_t e = event("so", "KEDAScalerFailed", msg);
    watch_evcorr_result_t r;

    e.warning = true;
    e.event_name = name;
    /* nine messages that differ: nine Events */
    for (int i = 1; i < WATCH_EVCORR_AGGREGATE_MAX; i++) {
        snprintf(msg, sizeof msg, "error %d", i);
        snprintf(name, sizeof name, "so.%d", i);
        r = observe(c, &e, T0 + (uint64_t)i * 1000);
        assert_int_equal(r.action, WATCH_EVCORR_CREATE);
        assert_false(r.aggregated);
        assert_string_equal(r.message, msg);
    }
    /* the tenth within ten minutes: one combined Event (client-go: set size reaches 10) */
    snprintf(msg, sizeof msg, "error 10");
    snprintf(name, sizeof name, "so.10");
    r = observe(c, &e, T0 + 10000);
    assert_int_equal(r.action, WATCH_EVCORR_CREATE);
    assert_true(r.aggregated);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.event_name, "so.10");
    assert_string_equal(r.message, "(combined from similar events): error 10");
    /* the eleventh updates the combined Event, with its own message */
    snprintf(msg, sizeof msg, "error 11");
    snprintf(name, sizeof name, "so.11");
    r = observe(c, &e, T0 + 11000);
    assert_int_equal(r.action, WATCH_EVCORR_UPDATE);
    assert_true(r.aggregated);
    assert_int_equal(r.count, 2);
    assert_string_equal(r.event_name, "so.10");
    assert_true(r.first_ms == T0 + 10000);
    assert_string_equal(r.message, "(combined from similar events): error 11");
    /* a message still among the recent ones is not new: it counts its own Event */
    snprintf(msg, sizeof msg, "error 9");
    r = observe(c, &e, T0 + 12000);
    assert_false(r.aggregated);
    assert_int_equal(r.action, WATCH_EVCORR_UPDATE);
    assert_string_equal(r.event_name, "so.9");
    assert_int_equal(r.count, 2);
    /* another reason is another group */
    e.reason = "KEDAMetricSourceFailed";
    snprintf(msg, sizeof msg, "error 12");
    r = observe(c, &e, T0 + 13000);
    assert_false(r.aggregated);
    assert_int_equal(r.action, WATCH_EVCORR_CREATE);
    watch_evcorr_free(c);
}

static void
test_watch_evcorr_observe_similar_events_ten_minutes_apart_do_not_aggregate(void **state)
{
    watch_evcorr_t *c = watch_evcorr_new(0);
    char msg[64];
    watch_evcorr_event_t e = event("so", "KEDAScalerFailed", msg);
    watch_evcorr_result_t r;
    uint64_t t = T0;

    /* each similar event comes just over ten minutes after the previous: the group restarts */
    for (int i = 1; i <= 3 * WATCH_EVCORR_AGGREGATE_MAX; i++) {
        snprintf(msg, sizeof msg, "error %d", i);
        t += WATCH_EVCORR_AGGREGATE_INTERVAL_MS + 1;
        r = observe(c, &e, t);
        assert_false(r.aggregated);
        assert_int_equal(r.action, WATCH_EVCORR_CREATE);
    }
    /* exactly ten minutes apart still counts as similar (client-go: interval > max resets) */
    for (int i = 1; i <= WATCH_EVCORR_AGGREGATE_MAX; i++) {
        snprintf(msg, sizeof msg, "again %d", i);
        t += WATCH_EVCORR_AGGREGATE_INTERVAL_MS;
        r = observe(c, &e, t);
    }
    assert_true(r.aggregated);
    watch_evcorr_free(c);
}

static void test_watch_evcorr_observe_spam_filter_passes_burst_then_refills(void **state)
{
    watch_evcorr_t *c = watch_evcorr_new(0);
    watch_evcorr_event_t e = event("so", "KEDAScaleTargetActivated", "Scaled to 1");
    watch_evcorr_result_t r;

    for (int i = 1; i <= WATCH_EVCORR_SPAM_BURST; i++) {
        r = observe(c, &e, T0);
        assert_int_not_equal(r.action, WATCH_EVCORR_DROP);
        assert_int_equal(r.count, i);
    }
    r = observe(c, &e, T0);
    assert_int_equal(r.action, WATCH_EVCORR_DROP);
    r = observe(c, &e, T0 + WATCH_EVCORR_SPAM_REFILL_MS - 1);
    assert_int_equal(r.action, WATCH_EVCORR_DROP);
    /* one token after five minutes; the count includes the occurrences that were dropped */
    r = observe(c, &e, T0 + WATCH_EVCORR_SPAM_REFILL_MS);
    assert_int_equal(r.action, WATCH_EVCORR_UPDATE);
    assert_int_equal(r.count, WATCH_EVCORR_SPAM_BURST + 3);
    assert_string_equal(r.event_name, "ev-new");
    r = observe(c, &e, T0 + WATCH_EVCORR_SPAM_REFILL_MS);
    assert_int_equal(r.action, WATCH_EVCORR_DROP);
    /* a long quiet spell refills the whole burst, not more */
    uint64_t later = T0 + 1000 * WATCH_EVCORR_SPAM_REFILL_MS;
    for (int i = 0; i < WATCH_EVCORR_SPAM_BURST; i++)
        assert_int_not_equal(observe(c, &e, later).action, WATCH_EVCORR_DROP);
    assert_int_equal(observe(c, &e, later).action, WATCH_EVCORR_DROP);
    watch_evcorr_free(c);
}

static void test_watch_evcorr_observe_spam_key_is_object_and_type_not_reason(void **state)
{
    watch_evcorr_t *c = watch_evcorr_new(0);
    char reason[32];
    watch_evcorr_event_t e = event("so", reason, "m");

    for (int i = 0; i < WATCH_EVCORR_SPAM_BURST; i++) {
        snprintf(reason, sizeof reason, "Reason%d", i);
        assert_int_equal(observe(c, &e, T0).action, WATCH_EVCORR_CREATE);
    }
    snprintf(reason, sizeof reason, "AnotherReason");
    assert_int_equal(observe(c, &e, T0).action, WATCH_EVCORR_DROP);
    e.warning = true;
    assert_int_equal(observe(c, &e, T0).action, WATCH_EVCORR_CREATE);
    watch_evcorr_free(c);
}

static void test_watch_evcorr_observe_objects_do_not_interfere(void **state)
{
    watch_evcorr_t *c = watch_evcorr_new(0);
    watch_evcorr_event_t a = event("a", "KEDAScalerFailed", "same message");
    watch_evcorr_event_t others[] = {event("b", "KEDAScalerFailed", "same message"),
                                     event("a", "KEDAScalerFailed", "same message"),
                                     event("a", "KEDAScalerFailed", "same message"),
                                     event("a", "KEDAScalerFailed", "same message")};
    char msg[32];

    others[1].ns = "other";                                 /* same name, other namespace */
    others[2].uid = "0b9d6c1e-0000-4000-8000-000000000002"; /* re-created object */
    others[3].kind = "ScaledJob";
    /* a exhausts its bucket and aggregates its messages */
    assert_int_equal(observe(c, &a, T0).action, WATCH_EVCORR_CREATE);
    a.message = msg;
    for (int i = 0; i < 2 * WATCH_EVCORR_SPAM_BURST; i++) {
        snprintf(msg, sizeof msg, "message %d", i);
        observe(c, &a, T0);
    }
    assert_int_equal(observe(c, &a, T0).action, WATCH_EVCORR_DROP);
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        watch_evcorr_result_t r = observe(c, &others[i], T0);
        assert_int_equal(r.action, WATCH_EVCORR_CREATE);
        assert_int_equal(r.count, 1);
        assert_false(r.aggregated);
        assert_string_equal(r.message, "same message");
    }
    watch_evcorr_free(c);
}

static void test_watch_evcorr_observe_lru_is_bounded(void **state)
{
    watch_evcorr_t *c = watch_evcorr_new(4);
    char name[32];
    watch_evcorr_event_t e = event(name, "ScaledObjectReady", "ready");
    watch_evcorr_stats_t st;

    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "so-%d", i);
        assert_int_equal(observe(c, &e, T0 + (uint64_t)i).action, WATCH_EVCORR_CREATE);
        watch_evcorr_stats(c, &st);
        assert_true(st.spam_entries <= 4 && st.aggregate_entries <= 4 && st.dedup_entries <= 4);
    }
    assert_int_equal(st.dedup_entries, 4);
    assert_true(st.evictions == 3 * (1000 - 4));
    /* the four most recent are remembered, the rest forgotten: a repeat is a new Event */
    snprintf(name, sizeof name, "so-%d", 999);
    assert_int_equal(observe(c, &e, T0 + 2000).action, WATCH_EVCORR_UPDATE);
    snprintf(name, sizeof name, "so-%d", 996);
    assert_int_equal(observe(c, &e, T0 + 2001).action, WATCH_EVCORR_UPDATE);
    snprintf(name, sizeof name, "so-%d", 0);
    watch_evcorr_result_t r = observe(c, &e, T0 + 2002);
    assert_int_equal(r.action, WATCH_EVCORR_CREATE);
    assert_int_equal(r.count, 1);
    /* so-996 was touched after so-997, so so-997 went first */
    snprintf(name, sizeof name, "so-%d", 997);
    assert_int_equal(observe(c, &e, T0 + 2003).action, WATCH_EVCORR_CREATE);
    snprintf(name, sizeof name, "so-%d", 996);
    assert_int_equal(observe(c, &e, T0 + 2004).action, WATCH_EVCORR_UPDATE);
    watch_evcorr_free(c);
}

static void test_watch_evcorr_observe_message_is_cut_on_a_character(void **state)
{
    watch_evcorr_t *c = watch_evcorr_new(0);
    char msg[3000], m2[3000];
    watch_evcorr_event_t e = event("so", "KEDAScalerFailed", msg);
    watch_evcorr_result_t r;

    /* "é" is two bytes: 1023 bytes would end inside one */
    for (size_t i = 0; i + 2 < sizeof msg; i += 2)
        memcpy(msg + i, "\xc3\xa9", 2);
    msg[sizeof msg - 2] = '\0';
    r = observe(c, &e, T0);
    assert_int_equal(strlen(r.message), 1022);
    /* a message that differs only past the cut is the same Event */
    memcpy(m2, msg, sizeof m2);
    m2[2000] = 'x';
    e.message = m2;
    r = observe(c, &e, T0 + 1);
    assert_int_equal(r.action, WATCH_EVCORR_UPDATE);
    /* the combined message is cut to the same bound */
    for (int i = 0; i < WATCH_EVCORR_AGGREGATE_MAX; i++) {
        snprintf(m2, sizeof m2, "%d%s", i, msg);
        r = observe(c, &e, T0 + 2 + (uint64_t)i);
    }
    assert_true(r.aggregated);
    assert_true(strlen(r.message) <= WATCH_EVCORR_MESSAGE_MAX - 1);
    assert_memory_equal(r.message, WATCH_EVCORR_COMBINED_PREFIX "9",
                        strlen(WATCH_EVCORR_COMBINED_PREFIX "9"));
    assert_int_not_equal((unsigned char)r.message[strlen(r.message) - 1], 0xc3);
    watch_evcorr_free(c);
}

static void test_watch_evcorr_observe_clock_stepping_back_does_not_refill(void **state)
{
    watch_evcorr_t *c = watch_evcorr_new(0);
    watch_evcorr_event_t e = event("so", "ScaledObjectReady", "ready");

    for (int i = 0; i < WATCH_EVCORR_SPAM_BURST; i++)
        observe(c, &e, T0);
    assert_int_equal(observe(c, &e, T0 - 3600000).action, WATCH_EVCORR_DROP);
    assert_int_equal(observe(c, &e, T0 - 3600000 + 1000).action, WATCH_EVCORR_DROP);
    watch_evcorr_free(c);
}

static void test_watch_evcorr_observe_rejects_missing_fields(void **state)
{
    watch_evcorr_t *c = watch_evcorr_new(0);
    watch_evcorr_event_t e = event("so", "ScaledObjectReady", "ready");
    watch_evcorr_result_t r;
    char longname[300];

    e.uid = NULL;
    assert_int_equal(watch_evcorr_observe(c, &e, T0, &r), -EINVAL);
    e = event("so", "ScaledObjectReady", "ready");
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    e.event_name = longname;
    assert_int_equal(watch_evcorr_observe(c, &e, T0, &r), -EINVAL);
    watch_evcorr_stats_t st;
    watch_evcorr_stats(c, &st);
    assert_int_equal(st.dedup_entries, 0);
    watch_evcorr_free(c);
}

static void test_watch_evcorr_text_cut_keeps_characters_whole(void **state)
{
    const char *s = "ab\xe2\x82\xac"; /* "ab€" */

    assert_int_equal(watch_evcorr_text_cut(s, 5, 10), 5);
    assert_int_equal(watch_evcorr_text_cut(s, 5, 5), 5);
    assert_int_equal(watch_evcorr_text_cut(s, 5, 4), 2);
    assert_int_equal(watch_evcorr_text_cut(s, 5, 3), 2);
    assert_int_equal(watch_evcorr_text_cut(s, 5, 2), 2);
    assert_int_equal(watch_evcorr_text_cut(s, 5, 0), 0);
}

/* ---- the recorder's queue (no API server: nothing is flushed) ---- */

static cJSON *scaledobject(void)
{
    cJSON *o = cJSON_Parse("{\"apiVersion\":\"keda.sh/v1alpha1\",\"kind\":\"ScaledObject\","
                           "\"metadata\":{\"name\":\"so\",\"namespace\":\"default\","
                           "\"uid\":\"u1\",\"resourceVersion\":\"42\"}}");
    assert_non_null(o);
    return o;
}

static void test_watch_event_queue_drops_the_oldest_when_full(void **state)
{
    watch_events_t *ev = watch_events_init();
    cJSON *so = scaledobject();

    assert_non_null(ev);
    for (int i = 0; i < WATCH_EVENTS_QUEUE_MAX + 7; i++)
        watch_event(ev, so, false, "ScaledObjectReady", "event %d", i);
    assert_int_equal(ev->count, WATCH_EVENTS_QUEUE_MAX);
    assert_true(ev->dropped_full == 7);
    assert_true(ev->queued == WATCH_EVENTS_QUEUE_MAX + 7);
    cJSON_Delete(so);
    watch_events_done(ev);
}

static void test_watch_event_without_kind_is_dropped(void **state)
{
    watch_events_t *ev = watch_events_init();
    cJSON *ta = cJSON_Parse("{\"metadata\":{\"name\":\"ta\",\"namespace\":\"default\"}}");

    watch_event(ev, ta, true, "TriggerAuthenticationFailed", "x");
    assert_int_equal(ev->count, 0);
    watch_event(ev, NULL, true, "TriggerAuthenticationFailed", "x");
    assert_int_equal(ev->count, 0);
    watch_event_kind(ev, "TriggerAuthentication", "keda.sh/v1alpha1", ta, false,
                     "TriggerAuthenticationAdded", "New TriggerAuthentication configured");
    assert_int_equal(ev->count, 1);
    /* a NULL recorder (out of memory at start) is a no-op */
    watch_event(NULL, ta, false, "TriggerAuthenticationAdded", "x");
    assert_int_equal(watch_events_flush(NULL, NULL, 100), 0);
    cJSON_Delete(ta);
    watch_events_done(ev);
    watch_events_done(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_evcorr_observe_identical_event_updates_count),
        cmocka_unit_test(test_watch_evcorr_observe_different_type_is_another_event),
        cmocka_unit_test(test_watch_evcorr_observe_aggregates_tenth_distinct_message),
        cmocka_unit_test(
            test_watch_evcorr_observe_similar_events_ten_minutes_apart_do_not_aggregate),
        cmocka_unit_test(test_watch_evcorr_observe_spam_filter_passes_burst_then_refills),
        cmocka_unit_test(test_watch_evcorr_observe_spam_key_is_object_and_type_not_reason),
        cmocka_unit_test(test_watch_evcorr_observe_objects_do_not_interfere),
        cmocka_unit_test(test_watch_evcorr_observe_lru_is_bounded),
        cmocka_unit_test(test_watch_evcorr_observe_message_is_cut_on_a_character),
        cmocka_unit_test(test_watch_evcorr_observe_clock_stepping_back_does_not_refill),
        cmocka_unit_test(test_watch_evcorr_observe_rejects_missing_fields),
        cmocka_unit_test(test_watch_evcorr_text_cut_keeps_characters_whole),
        cmocka_unit_test(test_watch_event_queue_drops_the_oldest_when_full),
        cmocka_unit_test(test_watch_event_without_kind_is_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
