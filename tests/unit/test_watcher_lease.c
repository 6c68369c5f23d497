/*
 * Leader election (watcher/lease.c): client-go's tryAcquireOrRenew rules with explicit times,
 * the Lease object read and written, the identity, and the I/O part against an address where
 * nothing listens (a real refused connection, no fake server).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "watcher/lease.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const watch_lease_timing_t keda_timing = {15000, 10000, 2000};
static const char *me = "ckeda-0_00112233445566778899aabbccddeeff";
static const char *keda = "keda-operator-7c9f8d-xk2lp_6a1f0c3e-8d44-4a7b-9d3e-0f2b1c9e7a55";

/* 2023-11-14T22:13:20.123456Z */
#define REAL_US  1700000000123456ull
#define REAL_TXT "2023-11-14T22:13:20.123456Z"

static watch_lease_record_t record(const char *holder, int32_t duration_s, const char *acquire,
                                   const char *renew, int32_t transitions)
{
    watch_lease_record_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.holder, sizeof r.holder, "%s", holder);
    r.duration_s = duration_s;
    snprintf(r.acquire_time, sizeof r.acquire_time, "%s", acquire);
    snprintf(r.renew_time, sizeof r.renew_time, "%s", renew);
    r.transitions = transitions;
    return r;
}

static void test_watch_lease_decide_absent_creates(void **state)
{
    watch_lease_decision_t d;

    watch_lease_decide(NULL, 0, me, &keda_timing, 5000, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_CREATE);
    assert_string_equal(d.record.holder, me);
    assert_int_equal(d.record.duration_s, 15);
    assert_string_equal(d.record.acquire_time, REAL_TXT);
    assert_string_equal(d.record.renew_time, REAL_TXT);
    assert_int_equal(d.record.transitions, 0);
}

static void test_watch_lease_decide_ours_renews_keeping_acquire_time(void **state)
{
    watch_lease_record_t rec =
        record(me, 15, "2023-11-14T20:00:00.000000Z", "2023-11-14T22:13:18.000000Z", 4);
    watch_lease_decision_t d;

    watch_lease_decide(&rec, 1000, me, &keda_timing, 3000, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_RENEW);
    assert_string_equal(d.record.holder, me);
    assert_string_equal(d.record.acquire_time, "2023-11-14T20:00:00.000000Z");
    assert_string_equal(d.record.renew_time, REAL_TXT);
    assert_int_equal(d.record.transitions, 4);
    assert_int_equal(d.record.duration_s, 15);
}

/* A restarted watcher under the same supervisor has the same identity: it leads at once, even
 * before it has watched the record for a lease duration, and even if it has expired. */
static void test_watch_lease_decide_ours_after_restart_leads_at_once(void **state)
{
    watch_lease_record_t rec =
        record(me, 15, "2023-11-14T20:00:00.000000Z", "2023-11-14T22:13:00.000000Z", 2);
    watch_lease_observed_t obs = {0};
    watch_lease_decision_t d;

    watch_lease_observe(&obs, &rec, 100);
    watch_lease_decide(&rec, obs.since_mono_ms, me, &keda_timing, 100, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_RENEW);
    assert_int_equal(d.record.transitions, 2);
    watch_lease_decide(&rec, obs.since_mono_ms, me, &keda_timing, 100 + 60000, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_RENEW);
    assert_string_equal(d.record.acquire_time, "2023-11-14T20:00:00.000000Z");
}

static void
test_watch_lease_decide_foreign_unexpired_follows_until_observed_plus_duration(void **state)
{
    watch_lease_record_t rec =
        record(keda, 15, "2023-11-14T20:00:00.000000Z", "2023-11-14T22:13:19.000000Z", 7);
    watch_lease_decision_t d;

    watch_lease_decide(&rec, 1000, me, &keda_timing, 1000, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_FOLLOW);
    assert_int_equal(d.expires_mono_ms, 16000);
    assert_string_equal(d.record.holder, "");
    watch_lease_decide(&rec, 1000, me, &keda_timing, 15999, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_FOLLOW);
}

static void test_watch_lease_decide_foreign_expired_takes_over_with_transition(void **state)
{
    watch_lease_record_t rec =
        record(keda, 15, "2023-11-14T20:00:00.000000Z", "2023-11-14T22:13:19.000000Z", 7);
    watch_lease_decision_t d;

    watch_lease_decide(&rec, 1000, me, &keda_timing, 16000, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_TAKE);
    assert_string_equal(d.record.holder, me);
    assert_int_equal(d.record.transitions, 8);
    assert_string_equal(d.record.acquire_time, REAL_TXT); /* a new term starts now */
    assert_string_equal(d.record.renew_time, REAL_TXT);
    assert_int_equal(d.record.duration_s, 15);
}

/* Expiry uses the holder's leaseDurationSeconds, not ours. */
static void test_watch_lease_decide_uses_holders_duration(void **state)
{
    watch_lease_record_t rec = record(keda, 60, "", "", 0);
    watch_lease_decision_t d;

    watch_lease_decide(&rec, 0, me, &keda_timing, 30000, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_FOLLOW);
    assert_int_equal(d.expires_mono_ms, 60000);
    rec.duration_s = 0; /* absent: expired at once (client-go reads nil as 0) */
    watch_lease_decide(&rec, 0, me, &keda_timing, 0, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_TAKE);
    assert_int_equal(d.record.transitions, 1);
}

/* The holder's renewTime is never compared with our clock: a record just seen is valid for a
 * whole lease duration even if its renewTime looks hours old (clock skew). */
static void test_watch_lease_observe_judges_by_local_time_not_renew_time(void **state)
{
    watch_lease_record_t rec =
        record(keda, 15, "2001-01-01T00:00:00.000000Z", "2001-01-01T00:00:00.000000Z", 1);
    watch_lease_observed_t obs = {0};
    watch_lease_decision_t d;

    assert_true(watch_lease_observe(&obs, &rec, 50000));
    watch_lease_decide(&rec, obs.since_mono_ms, me, &keda_timing, 50000, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_FOLLOW);
    assert_int_equal(d.expires_mono_ms, 65000);
}

/* A holder that keeps renewing changes the record, which moves the observed time and so the
 * expiry; an unchanged record does not. */
static void test_watch_lease_observe_foreign_renewing_pushes_expiry(void **state)
{
    watch_lease_record_t rec =
        record(keda, 15, "2023-11-14T20:00:00.000000Z", "2023-11-14T22:13:00.000000Z", 3);
    watch_lease_observed_t obs = {0};
    watch_lease_decision_t d;

    assert_true(watch_lease_observe(&obs, &rec, 1000));
    assert_false(watch_lease_observe(&obs, &rec, 3000)); /* same record: time stays */
    assert_int_equal(obs.since_mono_ms, 1000);
    uint64_t last = 0;
    for (uint64_t now = 3000; now <= 60000; now += 2000) {
        snprintf(rec.renew_time, sizeof rec.renew_time, "2023-11-14T22:14:%02u.000000Z",
                 (unsigned)(now / 1000 % 60));
        assert_true(watch_lease_observe(&obs, &rec, now));
        watch_lease_decide(&rec, obs.since_mono_ms, me, &keda_timing, now, REAL_US, &d);
        assert_int_equal(d.verdict, WATCH_LEASE_FOLLOW);
        assert_int_equal(d.expires_mono_ms, now + 15000);
        last = now;
    }
    /* it stops renewing: expired a lease duration after the last change was seen */
    watch_lease_observe(&obs, &rec, last + 14999);
    watch_lease_decide(&rec, obs.since_mono_ms, me, &keda_timing, last + 14999, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_FOLLOW);
    watch_lease_observe(&obs, &rec, last + 15000);
    watch_lease_decide(&rec, obs.since_mono_ms, me, &keda_timing, last + 15000, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_TAKE);
    assert_int_equal(d.record.transitions, 4);
}

/* A released Lease (holder "") is taken at once, without waiting for its duration. */
static void test_watch_lease_decide_empty_holder_takes_at_once(void **state)
{
    watch_lease_record_t held = record(keda, 15, "", "", 9), rel;
    watch_lease_observed_t obs = {0};
    watch_lease_decision_t d;

    watch_lease_release_record(&held, REAL_US, &rel);
    watch_lease_observe(&obs, &rel, 7000);
    watch_lease_decide(&rel, obs.since_mono_ms, me, &keda_timing, 7000, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_TAKE);
    assert_int_equal(d.record.transitions, 10);
    assert_string_equal(d.record.holder, me);
}

/* What client-go's ReleaseOnCancel writes. */
static void test_watch_lease_release_record_like_client_go(void **state)
{
    watch_lease_record_t held = record(me, 15, "2023-11-14T20:00:00.000000Z", "x", 5), rel;

    watch_lease_release_record(&held, REAL_US, &rel);
    assert_string_equal(rel.holder, "");
    assert_int_equal(rel.duration_s, 1);
    assert_int_equal(rel.transitions, 5);
    assert_string_equal(rel.acquire_time, REAL_TXT);
    assert_string_equal(rel.renew_time, REAL_TXT);
}

static void test_watch_lease_deadline_passed_after_renew_deadline(void **state)
{
    assert_false(watch_lease_deadline_passed(5000, 5000, &keda_timing));
    assert_false(watch_lease_deadline_passed(5000, 14999, &keda_timing));
    assert_true(watch_lease_deadline_passed(5000, 15000, &keda_timing));
    assert_true(watch_lease_deadline_passed(5000, 100000, &keda_timing));
}

static void test_watch_lease_decide_duration_rounds_up_to_seconds(void **state)
{
    watch_lease_timing_t t = {1500, 1000, 500};
    watch_lease_decision_t d;

    watch_lease_decide(NULL, 0, me, &t, 0, REAL_US, &d);
    assert_int_equal(d.record.duration_s, 2);
}

static void test_watch_lease_parse_reads_spec_and_rv(void **state)
{
    cJSON *o =
        cJSON_Parse("{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                    "\"metadata\":{\"name\":\"operator.keda.sh\",\"namespace\":\"keda\","
                    "\"resourceVersion\":\"4711\"},"
                    "\"spec\":{\"holderIdentity\":\"keda-0_abc\",\"leaseDurationSeconds\":15,"
                    "\"acquireTime\":\"2023-11-14T20:00:00.000000Z\","
                    "\"renewTime\":\"2023-11-14T22:13:19.500000Z\",\"leaseTransitions\":3}}");
    watch_lease_record_t r;
    char rv[64];

    assert_int_equal(watch_lease_parse(o, &r, rv, sizeof rv), 0);
    assert_string_equal(r.holder, "keda-0_abc");
    assert_int_equal(r.duration_s, 15);
    assert_string_equal(r.acquire_time, "2023-11-14T20:00:00.000000Z");
    assert_string_equal(r.renew_time, "2023-11-14T22:13:19.500000Z");
    assert_int_equal(r.transitions, 3);
    assert_string_equal(rv, "4711");
    cJSON_Delete(o);

    /* an empty Lease (created by hand) and nulls: nobody holds it */
    o = cJSON_Parse("{\"metadata\":{\"resourceVersion\":\"1\"},"
                    "\"spec\":{\"holderIdentity\":null,\"renewTime\":null}}");
    assert_int_equal(watch_lease_parse(o, &r, rv, sizeof rv), 0);
    assert_string_equal(r.holder, "");
    assert_int_equal(r.duration_s, 0);
    cJSON_Delete(o);
}

static void test_watch_lease_parse_bad_types_are_ebadmsg(void **state)
{
    static const char *bad[] = {
        "[]",
        "{\"spec\":[]}",
        "{\"spec\":{\"holderIdentity\":5}}",
        "{\"spec\":{\"leaseDurationSeconds\":\"15\"}}",
        "{\"spec\":{\"leaseDurationSeconds\":1.5}}",
        "{\"spec\":{\"leaseTransitions\":1e12}}",
        "{\"spec\":{\"renewTime\":true}}",
    };
    watch_lease_record_t r;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *o = cJSON_Parse(bad[i]);
        assert_int_equal(watch_lease_parse(o, &r, NULL, 0), -EBADMSG);
        cJSON_Delete(o);
    }
    cJSON *o = cJSON_Parse("{\"spec\":{}}"); /* no resourceVersion where one is asked for */
    char rv[8];
    assert_int_equal(watch_lease_parse(o, &r, rv, sizeof rv), -EBADMSG);
    cJSON_Delete(o);
}

/* A holder longer than we keep is truncated and can never pass for our identity; an oversized
 * time is dropped (a renewal then writes its own acquireTime, never a truncated one). */
static void test_watch_lease_parse_oversized_fields(void **state)
{
    char *holder = malloc(2000), *json = malloc(4000);
    watch_lease_record_t r;
    watch_lease_decision_t d;

    memset(holder, 'a', 1999);
    holder[1999] = '\0';
    memcpy(holder, me, strlen(me));
    snprintf(json, 4000,
             "{\"spec\":{\"holderIdentity\":\"%s\",\"leaseDurationSeconds\":15,"
             "\"acquireTime\":\"2023-11-14T20:00:00.000000000000000000000000000000Z\"}}",
             holder);
    cJSON *o = cJSON_Parse(json);
    assert_int_equal(watch_lease_parse(o, &r, NULL, 0), 0);
    assert_int_equal(strlen(r.holder), WATCH_LEASE_HOLDER_MAX - 1);
    assert_string_equal(r.acquire_time, "");
    watch_lease_decide(&r, 0, me, &keda_timing, 1000, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_FOLLOW);
    memcpy(r.holder, me, strlen(me) + 1);
    watch_lease_decide(&r, 0, me, &keda_timing, 1000, REAL_US, &d);
    assert_int_equal(d.verdict, WATCH_LEASE_RENEW);
    assert_string_equal(d.record.acquire_time, REAL_TXT);
    cJSON_Delete(o);
    free(holder);
    free(json);
}

static void test_watch_lease_object_create_shape(void **state)
{
    watch_lease_decision_t d;
    watch_lease_record_t back;

    watch_lease_decide(NULL, 0, me, &keda_timing, 0, REAL_US, &d);
    cJSON *o = watch_lease_object(NULL, "keda", "operator.keda.sh", &d.record);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "apiVersion")->valuestring,
                        "coordination.k8s.io/v1");
    assert_string_equal(cJSON_GetObjectItem(o, "kind")->valuestring, "Lease");
    cJSON *meta = cJSON_GetObjectItem(o, "metadata");
    assert_string_equal(cJSON_GetObjectItem(meta, "name")->valuestring, "operator.keda.sh");
    assert_string_equal(cJSON_GetObjectItem(meta, "namespace")->valuestring, "keda");
    assert_null(cJSON_GetObjectItem(meta, "resourceVersion"));
    assert_int_equal(watch_lease_parse(o, &back, NULL, 0), 0);
    assert_memory_equal(&back, &d.record, sizeof back);
    cJSON_Delete(o);
}

/* An update is the version read with the spec replaced: its resourceVersion makes a concurrent
 * write fail; the fields client-go does not write (strategy, preferredHolder) are dropped as
 * client-go drops them; managedFields are left out (the server keeps its own). */
static void test_watch_lease_object_update_keeps_metadata(void **state)
{
    cJSON *read =
        cJSON_Parse("{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                    "\"metadata\":{\"name\":\"operator.keda.sh\",\"namespace\":\"keda\","
                    "\"resourceVersion\":\"99\",\"uid\":\"u-1\",\"labels\":{\"a\":\"b\"},"
                    "\"managedFields\":[{\"manager\":\"keda\"}]},"
                    "\"spec\":{\"holderIdentity\":\"x\",\"strategy\":\"OldestEmulationVersion\"}}");
    watch_lease_record_t rec = record(me, 15, REAL_TXT, REAL_TXT, 1), back;
    char rv[16];

    cJSON *o = watch_lease_object(read, "keda", "operator.keda.sh", &rec);
    assert_non_null(o);
    assert_int_equal(watch_lease_parse(o, &back, rv, sizeof rv), 0);
    assert_string_equal(rv, "99");
    assert_memory_equal(&back, &rec, sizeof back);
    cJSON *meta = cJSON_GetObjectItem(o, "metadata");
    assert_null(cJSON_GetObjectItem(meta, "managedFields"));
    assert_non_null(cJSON_GetObjectItem(meta, "labels"));
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "spec"), "strategy"));
    /* the read version is untouched */
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(read, "metadata"), "managedFields"));
    cJSON_Delete(o);
    cJSON_Delete(read);
}

static void test_watch_lease_identity_format_pod_and_nonce(void **state)
{
    const uint8_t nonce[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                               0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    char buf[WATCH_LEASE_HOLDER_MAX];

    assert_int_equal(watch_lease_identity_format("ckeda-0", nonce, buf, sizeof buf), 0);
    assert_string_equal(buf, me);
    assert_int_equal(watch_lease_identity_format("ckeda-0", nonce, buf, 40), -ENAMETOOLONG);
    assert_int_equal(watch_lease_identity_format("", nonce, buf, sizeof buf), -EINVAL);
}

/* The identity comes from $POD_NAME (else the hostname) and the table's nonce: the same table
 * (a restarted watcher) gives the same identity, another table (a new pod) another. */
static void test_watch_lease_identity_from_table(void **state)
{
    shm_caps_t caps = {.max_so = 2, .max_trig = 2, .max_proc = 8, .max_trig_per_so = 2};
    char name[2][64], a[WATCH_LEASE_HOLDER_MAX], b[WATCH_LEASE_HOLDER_MAX],
        c[WATCH_LEASE_HOLDER_MAX];
    shm_table_t *t[2];

    for (int i = 0; i < 2; i++) {
        snprintf(name[i], sizeof name[i], "ckeda-lease-%d-%d", (int)getpid(), i);
        assert_int_equal(shm_table_create(name[i], &caps, &t[i]), 0);
    }
    setenv("POD_NAME", "keda-operator-abc", 1);
    assert_int_equal(watch_lease_identity(t[0], a, sizeof a), 0);
    assert_int_equal(watch_lease_identity(t[0], b, sizeof b), 0);
    assert_int_equal(watch_lease_identity(t[1], c, sizeof c), 0);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strncmp(a, "keda-operator-abc_", 18), 0);
    assert_int_equal(strlen(a), 18 + 32);
    assert_int_equal(strspn(a + 18, "0123456789abcdef"), 32);

    unsetenv("POD_NAME");
    char host[256];
    assert_int_equal(gethostname(host, sizeof host), 0);
    assert_int_equal(watch_lease_identity(t[0], a, sizeof a), 0);
    assert_int_equal(strncmp(a, host, strlen(host)), 0);
    assert_int_equal(a[strlen(host)], '_');
    for (int i = 0; i < 2; i++) {
        shm_table_close(t[i]);
        shm_table_unlink(name[i]);
    }
}

/* The I/O part with nothing listening: never leader, asks to be ticked after the retry period,
 * and a release fails cleanly. (Port 1 on loopback: a real refused connection.) */
static void test_watch_lease_tick_unreachable_is_not_leader(void **state)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/ckeda-lease-kc-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
          "clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:1\n"
          "    insecure-skip-tls-verify: true\n"
          "users:\n- name: u\n  user:\n    token: not-a-real-token\n"
          "contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n",
          f);
    fclose(f);
    kubeconfig_t *kc = NULL;
    errtext_t err = {0};
    assert_int_equal(kubeconfig_load(path, NULL, &kc, &err), 0);
    unlink(path);

    watch_lease_timing_t bad = {10000, 10000, 2000};
    assert_null(watch_lease_new(kc, "keda", "operator.keda.sh", me, &bad));
    assert_null(watch_lease_new(kc, "keda", "", me, &keda_timing));

    watch_lease_t *l = watch_lease_new(kc, "keda", "operator.keda.sh", me, &keda_timing);
    assert_non_null(l);
    bool leader = true;
    assert_int_equal(watch_lease_tick(l, 1000, &leader), 2000);
    assert_false(leader);
    assert_false(watch_lease_is_leader(l, 1000));
    assert_string_equal(watch_lease_holder(l), "");
    assert_int_not_equal(watch_lease_release(l), 0);
    watch_lease_free(l);
    kubeconfig_free(kc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_lease_decide_absent_creates),
        cmocka_unit_test(test_watch_lease_decide_ours_renews_keeping_acquire_time),
        cmocka_unit_test(test_watch_lease_decide_ours_after_restart_leads_at_once),
        cmocka_unit_test(
            test_watch_lease_decide_foreign_unexpired_follows_until_observed_plus_duration),
        cmocka_unit_test(test_watch_lease_decide_foreign_expired_takes_over_with_transition),
        cmocka_unit_test(test_watch_lease_decide_uses_holders_duration),
        cmocka_unit_test(test_watch_lease_observe_judges_by_local_time_not_renew_time),
        cmocka_unit_test(test_watch_lease_observe_foreign_renewing_pushes_expiry),
        cmocka_unit_test(test_watch_lease_decide_empty_holder_takes_at_once),
        cmocka_unit_test(test_watch_lease_release_record_like_client_go),
        cmocka_unit_test(test_watch_lease_deadline_passed_after_renew_deadline),
        cmocka_unit_test(test_watch_lease_decide_duration_rounds_up_to_seconds),
        cmocka_unit_test(test_watch_lease_parse_reads_spec_and_rv),
        cmocka_unit_test(test_watch_lease_parse_bad_types_are_ebadmsg),
        cmocka_unit_test(test_watch_lease_parse_oversized_fields),
        cmocka_unit_test(test_watch_lease_object_create_shape),
        cmocka_unit_test(test_watch_lease_object_update_keeps_metadata),
        cmocka_unit_test(test_watch_lease_identity_format_pod_and_nonce),
        cmocka_unit_test(test_watch_lease_identity_from_table),
        cmocka_unit_test(test_watch_lease_tick_unreachable_is_not_leader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
