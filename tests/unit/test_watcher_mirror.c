/*
 * The watcher's mirror on a real table and blob directory: the groups a ScaledObject becomes,
 * cfg_gen changing exactly when a trigger's blob changes (its metadata, its position, its
 * TriggerAuthentication) and never otherwise, slot reuse with a new generation, what a deletion
 * frees, the capacity limit, and a restarted watcher keeping its predecessor's slots.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/json.h"
#include "shm/blob.h"
#include "watcher/watcher_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fixture {
    char name[64];
    shm_table_t *t;
    int blobs;
    cfg_t cfg;
    watch_ctx_t *w;
} fixture_t;

static unsigned seq;

static watch_ctx_t *ctx_new(fixture_t *f)
{
    watch_ctx_t *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->cfg = &f->cfg;
    w->table = f->t;
    w->blob_dir = f->blobs;
    watch_map_init(&w->sos);
    watch_map_init(&w->auths);
    watch_map_init(&w->hpas);
    watch_map_init(&w->workloads);
    assert_int_equal(watch_mirror_init(w), 0);
    return w;
}

static void free_entry(void *v)
{
    watch_entry_free(v);
}

static void free_json(void *v)
{
    cJSON_Delete(v);
}

static void ctx_free(watch_ctx_t *w)
{
    watch_map_done(&w->sos, free_entry);
    watch_map_done(&w->auths, free_json);
    watch_map_done(&w->hpas, free_json);
    watch_map_done(&w->workloads, free);
    watch_queue_done(&w->queue);
    watch_queue_done(&w->delayed);
    watch_mirror_done(w);
    free(w);
}

static int setup_caps(void **state, uint32_t max_so, uint32_t max_trig)
{
    fixture_t *f = calloc(1, sizeof *f);
    shm_caps_t caps = {.max_so = max_so, .max_trig = max_trig, .max_proc = 8, .max_trig_per_so = 8};

    snprintf(f->name, sizeof f->name, "ckeda-wm-%d-%u", (int)getpid(), seq++);
    assert_int_equal(shm_table_create(f->name, &caps, &f->t), 0);
    assert_int_equal(shm_blob_dir_create(f->name, &f->blobs), 0);
    cfg_defaults(&f->cfg);
    f->w = ctx_new(f);
    watch_mirror_adopt(f->w); /* an empty table: everything free */
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_caps(state, 16, 64);
}

static int setup_small(void **state)
{
    return setup_caps(state, 2, 3);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ctx_free(f->w);
    close(f->blobs);
    shm_blob_dir_remove(f->name);
    shm_table_close(f->t);
    shm_table_unlink(f->name);
    free(f);
    return 0;
}

/* An entry for ScaledObject NAME with the given triggers, registered in the context's map. */
static watch_entry_t *entry(watch_ctx_t *w, const char *name, const char *uid)
{
    char key[WATCH_KEY_MAX], buf[256];
    watch_entry_t *e = watch_map_get(&w->sos, (snprintf(key, sizeof key, "apps/%s", name), key));

    if (e)
        return e;
    e = calloc(1, sizeof *e);
    snprintf(e->ns, sizeof e->ns, "apps");
    snprintf(e->name, sizeof e->name, "%s", name);
    e->slot = SHM_NONE;
    e->ready = -1;
    snprintf(buf, sizeof buf,
             "{\"metadata\":{\"namespace\":\"apps\",\"name\":\"%s\",\"uid\":\"%s\"}}", name, uid);
    e->obj = cJSON_Parse(buf);
    assert_int_equal(watch_map_put(&w->sos, key, e, NULL), 0);
    return e;
}

/* Parses a ScaledObject with spec SPEC into so (borrowing from *ret_obj). */
static void parse(const char *name, const char *spec, so_t *so, cJSON **ret_obj)
{
    char buf[4096];
    errtext_t err = {0};

    snprintf(buf, sizeof buf,
             "{\"metadata\":{\"namespace\":\"apps\",\"name\":\"%s\",\"uid\":\"u-%s\"},\"spec\":%s}",
             name, name, spec);
    *ret_obj = cJSON_Parse(buf);
    assert_non_null(*ret_obj);
    if (so_parse(*ret_obj, 64, so, &err) != 0)
        fail_msg("parse: %s", err.text);
    snprintf(so->target_api_version, sizeof so->target_api_version, "apps/v1");
}

static void apply(fixture_t *f, watch_ctx_t *w, const char *name, const char *spec)
{
    static so_t so;
    cJSON *obj;
    errtext_t err = {0};
    char uid[64];

    snprintf(uid, sizeof uid, "u-%s", name);
    parse(name, spec, &so, &obj);
    assert_int_equal(watch_mirror_apply(w, entry(w, name, uid), &so, &err), 0);
    cJSON_Delete(obj);
}

static shm_trig_cfg_t trig(fixture_t *f, uint32_t slot)
{
    shm_trig_cfg_t c;
    assert_int_equal(shm_trig_cfg_read(f->t, slot, &c), 0);
    return c;
}

static char *blob(fixture_t *f, uint32_t slot, uint64_t gen)
{
    char *data = NULL;
    size_t len;
    return shm_blob_read(f->blobs, slot, gen, &data, &len) == 0 ? data : NULL;
}

#define T_A "{\"type\":\"redis\",\"metadata\":{\"listName\":\"a\",\"address\":\"r:6379\"}}"
#define T_B "{\"type\":\"redis\",\"metadata\":{\"listName\":\"b\",\"address\":\"r:6379\"}}"
#define T_AUTH                                                                                     \
    "{\"type\":\"redis\",\"metadata\":{\"listName\":\"s\"},\"authenticationRef\":{\"name\":"       \
    "\"ra\"}}"
#define SPEC(triggers, extra)                                                                      \
    "{\"scaleTargetRef\":{\"name\":\"web\"}" extra ",\"triggers\":[" triggers "]}"

static void test_watch_mirror_apply_writes_spec_triggers_blob_and_index(void **state)
{
    fixture_t *f = *state;
    shm_so_spec_t spec;
    uint32_t slot;

    f->w->ring_supervisor = false;
    apply(f, f->w, "orders", SPEC(T_A "," T_B, ",\"maxReplicaCount\":7,\"pollingInterval\":5"));
    assert_int_equal(shm_so_find(f->t, "apps", "orders", &slot, &spec), 0);
    assert_int_equal(spec.generation, 1);
    assert_string_equal(spec.uid, "u-orders");
    assert_string_equal(spec.target_kind, "Deployment");
    assert_int_equal(spec.max_replicas, 7);
    assert_int_equal(spec.fallback_failure_threshold, -1);
    assert_int_equal(spec.trigger_count, 2);
    shm_trig_cfg_t a = trig(f, spec.triggers[0]), b = trig(f, spec.triggers[1]);
    assert_true(a.flags & SHM_F_VALID);
    assert_int_equal(a.so_slot, slot);
    assert_int_equal(a.so_generation, 1);
    assert_int_equal(b.index, 1);
    assert_string_equal(a.metric_name, "s0-redis-a");
    assert_string_equal(b.metric_name, "s1-redis-b");
    assert_int_equal(a.polling_interval_ms, 5000);
    assert_int_equal(a.timeout_ms, f->cfg.http_default_timeout_ms);
    assert_true(a.cfg_gen != 0 && b.cfg_gen != a.cfg_gen);
    assert_true(a.cfg_gen < (1ULL << 53)); /* exact as a JSON number */
    char *text = blob(f, spec.triggers[0], a.cfg_gen);
    assert_non_null(text);
    cJSON *doc = cJSON_Parse(text);
    assert_string_equal(cJSON_GetStringValue(jsonu_lookup(doc, "metadata.listName")), "a");
    assert_string_equal(cJSON_GetStringValue(jsonu_lookup(doc, "scaledObject")), "orders");
    assert_string_equal(cJSON_GetStringValue(jsonu_lookup(doc, "scaleTarget.kind")), "Deployment");
    assert_null(jsonu_lookup(doc, "authentication"));
    cJSON_Delete(doc);
    free(text);
    assert_true(f->w->ring_supervisor);
    assert_int_equal(f->w->mirrored, 1);
    assert_int_equal(f->w->mirrored_triggers, 2);
}

static void test_watch_mirror_apply_cfg_gen_changes_only_with_the_blob(void **state)
{
    fixture_t *f = *state;
    watch_entry_t *e;

    apply(f, f->w, "orders", SPEC(T_A "," T_B, ""));
    e = entry(f->w, "orders", "u-orders");
    uint32_t s0 = e->trig[0], s1 = e->trig[1];
    uint64_t g0 = e->cfg_gen[0], g1 = e->cfg_gen[1];

    /* the same object again, and a change outside the blobs: nothing for the workers */
    f->w->ring_supervisor = false;
    apply(f, f->w, "orders", SPEC(T_A "," T_B, ""));
    apply(f, f->w, "orders", SPEC(T_A "," T_B, ",\"maxReplicaCount\":9"));
    assert_false(f->w->ring_supervisor);
    assert_int_equal(trig(f, s0).cfg_gen, g0);
    assert_int_equal(trig(f, s1).cfg_gen, g1);

    /* a trigger's metadata changes: only its cfg_gen, and its old blob goes */
    apply(f, f->w, "orders",
          SPEC(T_A ",{\"type\":\"redis\",\"metadata\":{\"listName\":\"b\",\"address\":\"x:1\"}}",
               ""));
    assert_int_equal(trig(f, s0).cfg_gen, g0);
    assert_true(trig(f, s1).cfg_gen > g1);
    assert_null(blob(f, s1, g1));
    assert_true(f->w->ring_supervisor);

    /* reordered: both change, slots stay by position */
    apply(f, f->w, "orders", SPEC(T_B "," T_A, ""));
    assert_int_equal(e->trig[0], s0);
    assert_true(trig(f, s0).cfg_gen > g0);
    assert_string_equal(trig(f, s0).metric_name, "s0-redis-b");

    /* removed: the freed slot's group is invalid and its blob gone */
    uint64_t g1b = trig(f, s1).cfg_gen;
    apply(f, f->w, "orders", SPEC(T_B, ""));
    assert_false(trig(f, s1).flags & SHM_F_VALID);
    assert_null(blob(f, s1, g1b));
    assert_int_equal(f->w->mirrored_triggers, 1);
}

static void test_watch_mirror_apply_auth_change_changes_cfg_gen(void **state)
{
    fixture_t *f = *state;
    watch_entry_t *e;
    void *old = NULL;

    /* missing TriggerAuthentication: the reference only */
    apply(f, f->w, "sec", SPEC(T_AUTH, ""));
    e = entry(f->w, "sec", "u-sec");
    uint64_t g0 = e->cfg_gen[0];
    char *text = blob(f, e->trig[0], g0);
    assert_non_null(strstr(text, "\"authenticationRef\":{\"name\":\"ra\",\"kind\":"
                                 "\"TriggerAuthentication\"}"));
    assert_null(strstr(text, "\"authentication\":"));
    free(text);

    /* it appears, then changes: a new configuration each time, with its spec verbatim */
    watch_map_put(&f->w->auths, "apps/ra",
                  cJSON_Parse("{\"metadata\":{\"name\":\"ra\",\"namespace\":\"apps\",\"uid\":"
                              "\"t-1\",\"resourceVersion\":\"10\"},\"spec\":{\"secretTargetRef\":"
                              "[{\"parameter\":\"password\",\"name\":\"s\",\"key\":\"k\"}]}}"),
                  &old);
    apply(f, f->w, "sec", SPEC(T_AUTH, ""));
    uint64_t g1 = e->cfg_gen[0];
    assert_true(g1 > g0);
    text = blob(f, e->trig[0], g1);
    cJSON *doc = cJSON_Parse(text);
    assert_string_equal(cJSON_GetStringValue(jsonu_lookup(doc, "authentication.uid")), "t-1");
    assert_string_equal(
        cJSON_GetStringValue(jsonu_lookup(doc, "authentication.spec.secretTargetRef[0].key")), "k");
    cJSON_Delete(doc);
    free(text);
    watch_map_put(&f->w->auths, "apps/ra",
                  cJSON_Parse("{\"metadata\":{\"name\":\"ra\",\"namespace\":\"apps\",\"uid\":"
                              "\"t-1\",\"resourceVersion\":\"11\"},\"spec\":{}}"),
                  &old);
    cJSON_Delete(old);
    apply(f, f->w, "sec", SPEC(T_AUTH, ""));
    assert_true(e->cfg_gen[0] > g1);
}

static void test_watch_mirror_free_clears_and_reuse_bumps_generation(void **state)
{
    fixture_t *f = *state;
    shm_so_spec_t spec;
    uint32_t slot;

    apply(f, f->w, "orders", SPEC(T_A, ""));
    watch_entry_t *e = entry(f->w, "orders", "u-orders");
    uint32_t so_slot = e->slot, t = e->trig[0];
    uint64_t g = e->cfg_gen[0];

    watch_mirror_free(f->w, e);
    assert_int_equal(e->slot, SHM_NONE);
    assert_int_equal(shm_so_find(f->t, "apps", "orders", &slot, &spec), -ENOENT);
    assert_false(trig(f, t).flags & SHM_F_VALID);
    assert_null(blob(f, t, g));
    assert_int_equal(f->w->mirrored, 0);
    assert_int_equal(f->w->mirrored_triggers, 0);
    /* the slot comes back with the next generation */
    apply(f, f->w, "other", SPEC(T_A, ""));
    assert_int_equal(shm_so_find(f->t, "apps", "other", &slot, &spec), 0);
    assert_int_equal(slot, so_slot);
    assert_int_equal(spec.generation, 2);
    assert_int_equal(trig(f, spec.triggers[0]).so_generation, 2);
}

static void test_watch_mirror_apply_table_full_is_enospc_untouched(void **state)
{
    fixture_t *f = *state;
    static so_t so;
    cJSON *obj;
    errtext_t err = {0};

    apply(f, f->w, "one", SPEC(T_A "," T_B, ""));
    /* 3 trigger slots: a second object with two triggers does not fit */
    parse("two", SPEC(T_A "," T_B, ""), &so, &obj);
    watch_entry_t *e = entry(f->w, "two", "u-two");
    assert_int_equal(watch_mirror_apply(f->w, e, &so, &err), -ENOSPC);
    assert_non_null(strstr(err.text, "max-triggers"));
    assert_int_equal(e->slot, SHM_NONE);
    assert_int_equal(f->w->mirrored, 1);
    cJSON_Delete(obj);
    /* freeing the first makes room */
    watch_mirror_free(f->w, entry(f->w, "one", "u-one"));
    parse("two", SPEC(T_A "," T_B, ""), &so, &obj);
    assert_int_equal(watch_mirror_apply(f->w, e, &so, &err), 0);
    cJSON_Delete(obj);
}

static void test_watch_mirror_adopt_keeps_live_objects_and_frees_the_rest(void **state)
{
    fixture_t *f = *state;
    shm_so_spec_t spec;
    uint32_t slot;

    apply(f, f->w, "kept", SPEC(T_A "," T_B, ""));
    apply(f, f->w, "gone", SPEC(T_A, ""));
    apply(f, f->w, "replaced", SPEC(T_A, ""));
    watch_entry_t *old = entry(f->w, "kept", "u-kept");
    uint32_t kept_slot = old->slot, t0 = old->trig[0], t1 = old->trig[1];
    uint64_t g0 = old->cfg_gen[0], g1 = old->cfg_gen[1];
    uint32_t gone_trig = entry(f->w, "gone", "u-gone")->trig[0];
    uint64_t gone_gen = entry(f->w, "gone", "u-gone")->cfg_gen[0];

    /* a new watcher: "kept" still exists, "gone" does not, "replaced" has a new uid */
    ctx_free(f->w);
    f->w = ctx_new(f);
    watch_entry_t *e = entry(f->w, "kept", "u-kept");
    entry(f->w, "replaced", "u-other");
    watch_mirror_adopt(f->w);
    assert_int_equal(e->slot, kept_slot);
    assert_true(e->adopted);
    assert_int_equal(e->ntrig, 2);
    assert_int_equal(f->w->mirrored, 1);
    assert_int_equal(shm_so_find(f->t, "apps", "gone", &slot, &spec), -ENOENT);
    assert_int_equal(shm_so_find(f->t, "apps", "replaced", &slot, &spec), -ENOENT);
    assert_false(trig(f, gone_trig).flags & SHM_F_VALID);
    assert_null(blob(f, gone_trig, gone_gen));
    /* the same object again: the blobs on disk match, so every cfg_gen stays */
    f->w->ring_supervisor = false;
    apply(f, f->w, "kept", SPEC(T_A "," T_B, ""));
    assert_int_equal(trig(f, t0).cfg_gen, g0);
    assert_int_equal(trig(f, t1).cfg_gen, g1);
    assert_false(f->w->ring_supervisor);
    assert_int_equal(shm_so_find(f->t, "apps", "kept", &slot, &spec), 0);
    assert_int_equal(slot, kept_slot);
    /* a changed one gets a generation above every one the first watcher used */
    apply(f, f->w, "kept", SPEC(T_A "," T_A, ""));
    assert_true(trig(f, t1).cfg_gen > g1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_watch_mirror_apply_writes_spec_triggers_blob_and_index,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_mirror_apply_cfg_gen_changes_only_with_the_blob,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_mirror_apply_auth_change_changes_cfg_gen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_watch_mirror_free_clears_and_reuse_bumps_generation,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_mirror_apply_table_full_is_enospc_untouched,
                                        setup_small, teardown),
        cmocka_unit_test_setup_teardown(
            test_watch_mirror_adopt_keeps_live_objects_and_frees_the_rest, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
