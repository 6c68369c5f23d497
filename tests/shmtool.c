/*
 * shmtool: a TEST-ONLY table writer, never installed. It writes ScaledObjects, triggers and
 * results into a live table the way the watcher and the workers would, so that the supervisor,
 * ckedactl and the adapter can be tested before (and apart from) the roles that normally
 * write them. Do not run it against a table whose watcher is live and writing.
 *
 *   shmtool --shm-name N add NS/NAME [--polling-interval S] [--min N] [--max N]
 *           [--fallback THRESHOLD:REPLICAS[:BEHAVIOR]] [--target KIND/NAME (apps/v1)]
 *           --trigger TYPE[,activation=X][,target=Y][,name=T][,usecached=1][,metrictype=Value]
 *                     [,KEY=VALUE...]
 *           [--trigger ...]
 *       KEY=VALUE pairs other than activation/target/name/usecached/metrictype go into the
 *       trigger's metadata, except auth.PARAM=SECRET:KEY, which gives the trigger a
 *       TriggerAuthentication (in the object's namespace) with that secretTargetRef;
 *       usecached=1 is the trigger's useCachedMetrics: true (default false). BEHAVIOR is
 *       static (default), currentReplicas, currentReplicasIfHigher or currentReplicasIfLower.
 *       Prints the trigger slots, one per line.
 *   shmtool --shm-name N observed NS/NAME SPEC STATUS READY   (the target's replica counts,
 *       as the watcher observes them; -1 is unknown)
 *   shmtool --shm-name N del NS/NAME
 *   shmtool --shm-name N result SLOT VALUE | --error TEXT   (as a worker would)
 *   shmtool --shm-name N odd REGION ENTRY    (leave a group odd: a writer that died mid-write)
 *   shmtool --shm-name N wait-active SLOT TIMEOUT_MS   (prints "ready", then, once the trigger's
 *       state is ACTIVE with an activity sequence newer than at the start, the CLOCK_MONOTONIC
 *       time it saw that, in seconds; exit 1 at the timeout. Reads every 50 us.)
 */
#include "common/scaler_registry.h"
#include "shm/blob.h"
#include "shm/shm.h"
#include "shm/shm_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int die(const char *what)
{
    fprintf(stderr, "shmtool: %s\n", what);
    return 2;
}

static uint32_t free_trigger(shm_table_t *t, uint32_t after)
{
    shm_trig_cfg_t c;
    for (uint32_t i = after; i < shm_table_caps(t)->max_trig; i++)
        if (shm_trig_cfg_read(t, i, &c) == 0 && !(c.flags & SHM_F_VALID))
            return i;
    return SHM_NONE;
}

static int split_name(const char *arg, char *ns, char *name)
{
    const char *slash = strchr(arg, '/');
    if (!slash || slash == arg || (size_t)(slash - arg) >= SHM_NS_MAX ||
        strlen(slash + 1) >= SHM_NAME_MAX || !slash[1])
        return -EINVAL;
    memcpy(ns, arg, (size_t)(slash - arg));
    ns[slash - arg] = '\0';
    strcpy(name, slash + 1);
    return 0;
}

/* auth.PARAM=SECRET:KEY: one secretTargetRef of the trigger's TriggerAuthentication, whose uid
 * names its first reference (the worker caches resolutions per uid: a test that wants another
 * resolution names another Secret or parameter). */
static void add_auth_ref(cJSON *doc, const char *ns, const char *param, const char *ref)
{
    cJSON *auth = cJSON_GetObjectItemCaseSensitive(doc, "authentication"), *refs, *r;
    const char *colon = strchr(ref, ':');
    char secret[256], uid[300];

    snprintf(secret, sizeof secret, "%.*s", colon ? (int)(colon - ref) : (int)strlen(ref), ref);
    if (!auth) {
        snprintf(uid, sizeof uid, "shmtool-%.40s-%s", param, secret);
        cJSON_AddItemToObject(doc, "authenticationRef", cJSON_Parse("{\"name\":\"shmtool\"}"));
        auth = cJSON_AddObjectToObject(doc, "authentication");
        cJSON_AddStringToObject(auth, "kind", "TriggerAuthentication");
        cJSON_AddStringToObject(auth, "namespace", ns);
        cJSON_AddStringToObject(auth, "name", "shmtool");
        cJSON_AddStringToObject(auth, "uid", uid);
        cJSON_AddStringToObject(auth, "generation", "1");
        cJSON_AddArrayToObject(cJSON_AddObjectToObject(auth, "spec"), "secretTargetRef");
    }
    refs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(auth, "spec"),
                                            "secretTargetRef");
    cJSON_AddItemToArray(refs, r = cJSON_CreateObject());
    cJSON_AddStringToObject(r, "parameter", param);
    cJSON_AddStringToObject(r, "name", secret);
    cJSON_AddStringToObject(r, "key", colon ? colon + 1 : "");
}

/* TYPE[,k=v...] into a trigger config and a metadata blob (with the object's namespace and name,
 * as the watcher writes them). */
static int parse_trigger(const char *spec, const char *ns, const char *so_name, shm_trig_cfg_t *c,
                         char **ret_blob)
{
    char *dup = strdup(spec), *save = NULL, *tok;
    cJSON *doc = cJSON_CreateObject(), *md;

    cJSON_AddStringToObject(doc, "namespace", ns);
    cJSON_AddStringToObject(doc, "scaledObject", so_name);
    md = cJSON_AddObjectToObject(doc, "metadata");

    tok = strtok_r(dup, ",", &save);
    snprintf(c->type, sizeof c->type, "%s", tok ? tok : "");
    c->type_id = scaler_type_id(c->type);
    c->target = 1;
    while ((tok = strtok_r(NULL, ",", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = '\0';
        if (strcmp(tok, "activation") == 0)
            c->activation = strtod(eq + 1, NULL);
        else if (strcmp(tok, "target") == 0)
            c->target = strtod(eq + 1, NULL);
        else if (strcmp(tok, "name") == 0)
            snprintf(c->name, sizeof c->name, "%s", eq + 1);
        else if (strcmp(tok, "metrictype") == 0)
            c->metric_type =
                strcmp(eq + 1, "Value") == 0 ? SHM_METRIC_VALUE : SHM_METRIC_AVERAGE_VALUE;
        else if (strcmp(tok, "usecached") == 0)
            c->use_cached_metrics = strcmp(eq + 1, "1") == 0 || strcmp(eq + 1, "true") == 0;
        else if (strncmp(tok, "auth.", 5) == 0)
            add_auth_ref(doc, ns, tok + 5, eq + 1);
        else
            cJSON_AddStringToObject(md, tok, eq + 1);
    }
    *ret_blob = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    free(dup);
    return c->type_id == SCALER_TYPE_NONE ? -EINVAL : 0;
}

/* THRESHOLD:REPLICAS[:BEHAVIOR] into the object's fallback. */
static int parse_fallback(const char *arg, shm_so_spec_t *so)
{
    static const char *const behaviors[] = {"static", "currentReplicas", "currentReplicasIfHigher",
                                            "currentReplicasIfLower"};
    char behavior[32] = "static";
    int n = sscanf(arg, "%d:%d:%31s", &so->fallback_failure_threshold, &so->fallback_replicas,
                   behavior);

    if (n < 2)
        return -EINVAL;
    for (uint32_t i = 0; i < sizeof behaviors / sizeof behaviors[0]; i++)
        if (strcmp(behavior, behaviors[i]) == 0) {
            so->fallback_behavior = i; /* shm_fallback_behavior_t, in this order */
            return 0;
        }
    return -EINVAL;
}

static uint32_t free_so(shm_table_t *t, shm_so_spec_t *old)
{
    for (uint32_t i = 0; i < shm_table_caps(t)->max_so; i++)
        if (shm_so_spec_read(t, i, old) == 0 && !(old->flags & SHM_F_VALID))
            return i;
    return SHM_NONE;
}

static int cmd_add(shm_table_t *t, int blobs, int argc, char **argv)
{
    shm_so_spec_t so = {0}, old;
    uint32_t slot = free_so(t, &old), pi = 30, next = 0;
    uint64_t gen = shm_now_real_ms() * 1000;

    if (argc < 1 || slot == SHM_NONE || split_name(argv[0], so.ns, so.name) < 0)
        return die("add NS/NAME: bad name or table full");
    so.min_replicas = 0;
    so.max_replicas = 100;
    so.idle_replicas = so.fallback_failure_threshold = so.paused_replicas = -1;
    for (int i = 1; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--polling-interval") == 0)
            pi = (uint32_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--min") == 0)
            so.min_replicas = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--max") == 0)
            so.max_replicas = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--fallback") == 0 && parse_fallback(argv[i + 1], &so) < 0)
            return die("--fallback THRESHOLD:REPLICAS[:BEHAVIOR]");
        else if (strcmp(argv[i], "--target") == 0 &&
                 split_name(argv[i + 1], so.target_kind, so.target_name) < 0)
            return die("--target KIND/NAME");
    if (so.target_kind[0])
        snprintf(so.target_api_version, sizeof so.target_api_version, "apps/v1");
    so.polling_interval_s = pi;
    so.generation = old.generation + 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        shm_trig_cfg_t c = {0};
        char *blob = NULL;
        if (strcmp(argv[i], "--trigger") != 0)
            continue;
        if (parse_trigger(argv[i + 1], so.ns, so.name, &c, &blob) < 0 ||
            (next = free_trigger(t, next)) == SHM_NONE)
            return die("bad --trigger type or no free trigger slot");
        c.flags = SHM_F_VALID;
        c.so_slot = slot;
        c.so_generation = so.generation;
        c.index = so.trigger_count;
        c.polling_interval_ms = pi * 1000;
        c.timeout_ms = 3000;
        c.cfg_gen = ++gen;
        snprintf(c.metric_name, sizeof c.metric_name, "s%u-%s-%s", c.index, c.type, so.name);
        if (shm_blob_write(blobs, next, c.cfg_gen, blob, strlen(blob)) < 0)
            return die("could not write the config blob");
        free(blob);
        shm_trig_cfg_write(t, next, &c);
        so.triggers[so.trigger_count++] = next;
        printf("%u\n", next++);
    }
    so.flags = SHM_F_VALID;
    shm_so_spec_write(t, slot, &so);
    return shm_index_insert(t, so.ns, so.name, slot, so.generation) < 0 ? 1 : 0;
}

static int cmd_del(shm_table_t *t, int argc, char **argv)
{
    char ns[SHM_NS_MAX], name[SHM_NAME_MAX];
    shm_so_spec_t so;
    uint32_t slot;

    if (argc < 1 || split_name(argv[0], ns, name) < 0 || shm_so_find(t, ns, name, &slot, &so) < 0)
        return die("del NS/NAME: no such object");
    for (uint32_t i = 0; i < so.trigger_count; i++) {
        shm_trig_cfg_t c;
        if (shm_trig_cfg_read(t, so.triggers[i], &c) == 0) {
            c.flags = 0;
            shm_trig_cfg_write(t, so.triggers[i], &c);
        }
    }
    shm_index_remove(t, ns, name, slot);
    so.flags = 0;
    shm_so_spec_write(t, slot, &so);
    return 0;
}

static int cmd_observed(shm_table_t *t, int argc, char **argv)
{
    char ns[SHM_NS_MAX], name[SHM_NAME_MAX];
    shm_so_spec_t so;
    shm_so_observed_t obs = {0};
    uint32_t slot;

    if (argc < 4 || split_name(argv[0], ns, name) < 0 || shm_so_find(t, ns, name, &slot, &so) < 0)
        return die("observed NS/NAME SPEC STATUS READY: no such object");
    obs.flags = SHM_F_VALID;
    obs.generation = so.generation;
    obs.spec_replicas = atoi(argv[1]);
    obs.status_replicas = atoi(argv[2]);
    obs.ready_replicas = atoi(argv[3]);
    obs.active = 2;
    obs.ready = 2;
    obs.observed_mono_ms = shm_now_mono_ms();
    shm_so_observed_write(t, slot, &obs);
    return 0;
}

static int cmd_result(shm_table_t *t, int argc, char **argv)
{
    shm_trig_cfg_t c;
    shm_trig_result_t r = {0};
    uint32_t slot = argc > 0 ? (uint32_t)atoi(argv[0]) : SHM_NONE;

    if (argc < 2 || shm_trig_cfg_read(t, slot, &c) < 0)
        return die("result SLOT VALUE|--error TEXT");
    shm_trig_result_read(t, slot, &r);
    r.for_cfg_gen = c.cfg_gen;
    r.measured_mono_ms = shm_now_mono_ms();
    r.measured_real_ms = shm_now_real_ms();
    r.polls_total++;
    if (strcmp(argv[1], "--error") == 0 && argc > 2) {
        r.flags = 0;
        r.failure = SHM_FAIL_SOURCE;
        r.consecutive_failures++;
        r.errors_total++;
        snprintf(r.error, sizeof r.error, "%s", argv[2]);
    } else {
        r.flags = SHM_F_VALID;
        r.failure = SHM_FAIL_NONE;
        r.value = strtod(argv[1], NULL);
        r.consecutive_failures = 0;
        r.active = r.value > c.activation;
    }
    shm_trig_result_write(t, slot, &r);
    return 0;
}

static int cmd_odd(shm_table_t *t, int argc, char **argv)
{
    static const struct {
        const char *name;
        int region;
    } regions[] = {{"scaledobject-spec", SHM_R_SO_SPEC},
                   {"trigger-result", SHM_R_TRIG_RESULT},
                   {"trigger-config", SHM_R_TRIG_CFG}};
    uint32_t entry = argc > 1 ? (uint32_t)atoi(argv[1]) : 0;

    for (size_t i = 0; argc > 1 && i < sizeof regions / sizeof regions[0]; i++)
        if (strcmp(argv[0], regions[i].name) == 0 &&
            entry < t->hdr->regions[regions[i].region].count) {
            shm_seq_write_begin((shm_seq_t *)shm_entry(t, regions[i].region, entry));
            return 0;
        }
    return die("odd scaledobject-spec|trigger-config|trigger-result ENTRY");
}

static int cmd_wait_active(shm_table_t *t, int argc, char **argv)
{
    uint32_t slot = argc > 1 ? (uint32_t)atoi(argv[0]) : SHM_NONE;
    shm_trig_view_t v;
    uint64_t seq, deadline;
    struct timespec ts;

    if (argc < 2 || shm_trig_view_load(t, slot, shm_now_mono_ms(), &v) < 0)
        return die("wait-active SLOT TIMEOUT_MS");
    seq = v.res.activity_seq;
    deadline = shm_now_mono_ms() + (uint64_t)atoll(argv[1]);
    printf("ready\n");
    fflush(stdout);
    while (shm_now_mono_ms() < deadline) {
        if (shm_trig_view_load(t, slot, shm_now_mono_ms(), &v) == 0 &&
            v.state == SHM_STATE_ACTIVE && v.res.activity_seq != seq) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            printf("%.6f\n", (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
            return 0;
        }
        nanosleep(&(struct timespec){0, 50000}, NULL);
    }
    return 1;
}

int main(int argc, char **argv)
{
    shm_table_t *t;
    int blobs = -1, r;

    if (argc < 4 || strcmp(argv[1], "--shm-name") != 0)
        return die("usage: shmtool --shm-name N add|del|observed|result|odd ...");
    if ((r = shm_table_open_rw(argv[2], &t)) < 0 || shm_blob_dir_open(argv[2], &blobs) < 0)
        return die("cannot open the table or its blob directory");
    if (strcmp(argv[3], "add") == 0)
        r = cmd_add(t, blobs, argc - 4, argv + 4);
    else if (strcmp(argv[3], "del") == 0)
        r = cmd_del(t, argc - 4, argv + 4);
    else if (strcmp(argv[3], "observed") == 0)
        r = cmd_observed(t, argc - 4, argv + 4);
    else if (strcmp(argv[3], "result") == 0)
        r = cmd_result(t, argc - 4, argv + 4);
    else if (strcmp(argv[3], "odd") == 0)
        r = cmd_odd(t, argc - 4, argv + 4);
    else if (strcmp(argv[3], "wait-active") == 0)
        r = cmd_wait_active(t, argc - 4, argv + 4);
    else
        r = die("unknown command");
    shm_table_close(t);
    return r;
}
