/*
 * mirror: ScaledObjects and ScaledJobs (a flag on the slot, not indexed) into the table. Runs in
 * the watcher, the only writer of the ScaledObject spec and observed groups, the trigger config
 * groups, the config blobs and the index.
 *
 * Invariants:
 * - A trigger's blob "<slot>.<cfg_gen>" is written before the config group that names that
 *   cfg_gen, and the previous generation's file is removed only after; a worker that reads a
 *   cfg_gen always finds its blob (or, racing a removal, a newer cfg_gen on its next look).
 * - cfg_gen changes exactly when the blob text changes (the trigger's spec, the SO fields the
 *   blob carries, or the referenced (Cluster)TriggerAuthentication), so workers keep their
 *   results across every other update; values come from a counter seeded from the real-time
 *   clock in microseconds (exact in a JSON number; a restarted watcher starts above every value
 *   its predecessor could have used unless that one made more than a million changes a second).
 * - A ScaledObject slot's generation is bumped on every reuse; trigger groups name the
 *   generation of the slot that owns them. Free order: index, spec, observed, triggers, blobs.
 * - Trigger i of an object stays in its slot while the object keeps at least i + 1 triggers.
 */
#include "watcher/watcher_internal.h"

#include "common/json.h"
#include "common/log.h"
#include "shm/blob.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int watch_mirror_init(watch_ctx_t *w)
{
    const shm_caps_t *caps = shm_table_caps(w->table);
    struct timespec ts;

    w->free_so = calloc(caps->max_so, sizeof *w->free_so);
    w->free_trig = calloc(caps->max_trig, sizeof *w->free_trig);
    if (!w->free_so || !w->free_trig)
        return -ENOMEM;
    w->nfree_so = w->nfree_trig = 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    w->next_cfg_gen = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    return 0;
}

void watch_mirror_done(watch_ctx_t *w)
{
    free(w->free_so);
    free(w->free_trig);
    w->free_so = w->free_trig = NULL;
}

/* An invalid trigger group and no blob: the supervisor releases the trigger. */
static void mirror_trig_clear(watch_ctx_t *w, uint32_t slot, uint64_t cfg_gen)
{
    shm_trig_cfg_t cfg;

    memset(&cfg, 0, sizeof cfg);
    shm_trig_cfg_write(w->table, slot, &cfg);
    if (cfg_gen)
        shm_blob_remove(w->blob_dir, slot, cfg_gen);
    w->ring_supervisor = true;
}

/* Marks the spec and observed groups of slot invalid, keeping the generation. */
static void mirror_so_clear(watch_ctx_t *w, uint32_t slot)
{
    shm_so_spec_t spec;
    shm_so_observed_t obs;
    uint32_t gen = shm_so_spec_read(w->table, slot, &spec) == 0 ? spec.generation : 0;

    memset(&spec, 0, sizeof spec);
    spec.generation = gen;
    shm_so_spec_write(w->table, slot, &spec);
    memset(&obs, 0, sizeof obs);
    shm_so_observed_write(w->table, slot, &obs);
}

/* ---- start-up: the previous watcher's slots ---- */

static bool mirror_adoptable(watch_ctx_t *w, uint32_t s, const shm_so_spec_t *spec,
                             const bool *used, watch_entry_t **ret)
{
    char key[WATCH_KEY_MAX];
    watch_entry_t *e;
    const char *uid;
    shm_trig_cfg_t cfg;

    watch_key(key, sizeof key, spec->ns, spec->name);
    e = watch_map_get(spec->flags & SHM_SO_F_SCALEDJOB ? &w->sjs : &w->sos, key);
    uid = e ? cJSON_GetStringValue(jsonu_lookup(e->obj, "metadata.uid")) : NULL;
    if (!uid || strcmp(uid, spec->uid) != 0 || e->slot != SHM_NONE ||
        spec->trigger_count > SHM_TRIGGERS_PER_SO_MAX)
        return false;
    for (uint32_t i = 0; i < spec->trigger_count; i++) {
        uint32_t t = spec->triggers[i];
        if (t >= shm_table_caps(w->table)->max_trig || used[t] ||
            shm_trig_cfg_read(w->table, t, &cfg) < 0 || !(cfg.flags & SHM_F_VALID) ||
            cfg.so_slot != s || cfg.so_generation != spec->generation || cfg.index != i)
            return false;
    }
    *ret = e;
    return true;
}

static void mirror_take(watch_ctx_t *w, watch_entry_t *e, uint32_t s, const shm_so_spec_t *spec,
                        bool *used)
{
    shm_trig_cfg_t cfg;

    e->slot = s;
    e->generation = spec->generation;
    e->adopted = true;
    e->ntrig = spec->trigger_count;
    for (uint32_t i = 0; i < e->ntrig; i++) {
        e->trig[i] = spec->triggers[i];
        e->cfg_gen[i] = shm_trig_cfg_read(w->table, e->trig[i], &cfg) == 0 ? cfg.cfg_gen : 0;
        used[e->trig[i]] = true;
    }
    w->mirrored++;
    w->mirrored_triggers += e->ntrig;
}

/* Removes blob files no valid trigger names (and temporary files of a writer that died). */
static void mirror_blob_sweep(watch_ctx_t *w, const bool *used)
{
    int fd = dup(w->blob_dir);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    shm_trig_cfg_t cfg;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((de = readdir(d))) {
        unsigned slot;
        unsigned long long gen;
        char extra;
        if (de->d_name[0] == '.' && (!de->d_name[1] || strcmp(de->d_name, "..") == 0))
            continue;
        if (sscanf(de->d_name, "%u.%llu%c", &slot, &gen, &extra) == 2 &&
            slot < shm_table_caps(w->table)->max_trig && used[slot] &&
            shm_trig_cfg_read(w->table, slot, &cfg) == 0 && cfg.cfg_gen == gen)
            continue;
        unlinkat(w->blob_dir, de->d_name, 0);
    }
    closedir(d);
}

void watch_mirror_adopt(watch_ctx_t *w)
{
    const shm_caps_t *caps = shm_table_caps(w->table);
    bool *used = calloc(caps->max_trig, 1), *so_used = calloc(caps->max_so, 1);
    uint32_t freed = 0;
    shm_so_spec_t spec;
    shm_trig_cfg_t cfg;
    watch_entry_t *e;

    if (!used || !so_used) {
        log_error(-ENOMEM, "could not reconcile the table at start");
        exit(1);
    }
    for (uint32_t s = 0; s < caps->max_so; s++) {
        if (shm_so_spec_read(w->table, s, &spec) < 0 || !(spec.flags & SHM_F_VALID))
            continue;
        if (mirror_adoptable(w, s, &spec, used, &e)) {
            mirror_take(w, e, s, &spec, used);
            so_used[s] = true;
        } else {
            mirror_so_clear(w, s);
            freed++;
        }
    }
    for (uint32_t t = caps->max_trig; t-- > 0;) {
        if (used[t])
            continue;
        if (shm_trig_cfg_read(w->table, t, &cfg) < 0 || (cfg.flags & SHM_F_VALID))
            mirror_trig_clear(w, t, cfg.cfg_gen);
        w->free_trig[w->nfree_trig++] = t;
    }
    for (uint32_t s = caps->max_so; s-- > 0;)
        if (!so_used[s])
            w->free_so[w->nfree_so++] = s;
    mirror_blob_sweep(w, used);
    shm_index_rebuild(w->table);
    w->adopted = true;
    w->ring_supervisor = true;
    w->block_dirty = true;
    log_info(
        "table reconciled: kept %u ScaledObjects (%u triggers) of a previous watcher, freed %u",
        w->mirrored, w->mirrored_triggers, freed);
    free(used);
    free(so_used);
}

/* ---- writing one object ---- */

static const cJSON *mirror_auth(watch_ctx_t *w, const so_t *so, uint32_t i)
{
    const so_trigger_t *t = &so->triggers[i];
    char key[WATCH_KEY_MAX];

    if (!t->auth_name[0])
        return NULL;
    watch_key(key, sizeof key, t->auth_cluster ? "" : so->ns, t->auth_name);
    return watch_map_get(&w->auths, key);
}

/* Whether blob is the text trigger i's current cfg_gen was written for. */
static bool mirror_blob_same(watch_ctx_t *w, const watch_entry_t *e, uint32_t i, const char *blob)
{
    char *old = NULL;
    size_t len = 0;
    bool same;

    if (e->blob[i])
        return strcmp(e->blob[i], blob) == 0;
    if (!e->cfg_gen[i] || shm_blob_read(w->blob_dir, e->trig[i], e->cfg_gen[i], &old, &len) < 0)
        return false;
    same = len == strlen(blob) && memcmp(old, blob, len) == 0;
    free(old);
    return same;
}

static uint32_t mirror_ms(int32_t s)
{
    return s <= 0 ? 0 : (uint64_t)s * 1000u > UINT32_MAX ? UINT32_MAX : (uint32_t)s * 1000u;
}

static void mirror_cfg_build(const watch_ctx_t *w, const watch_entry_t *e, const so_t *so,
                             uint32_t i, uint64_t cfg_gen, shm_trig_cfg_t *cfg)
{
    const so_trigger_t *t = &so->triggers[i];

    memset(cfg, 0, sizeof *cfg);
    cfg->flags = SHM_F_VALID | (t->spec.is_resource ? SHM_F_RESOURCE : 0);
    cfg->so_slot = e->slot;
    cfg->so_generation = e->generation;
    cfg->index = i;
    cfg->type_id = t->type_id;
    cfg->metric_type = t->metric_type;
    cfg->use_cached_metrics = t->use_cached_metrics;
    cfg->polling_interval_ms = mirror_ms(so->polling_interval_s);
    cfg->timeout_ms = w->cfg->http_default_timeout_ms;
    cfg->cfg_gen = cfg_gen;
    cfg->target = t->spec.target;
    cfg->activation = t->spec.activation;
    snprintf(cfg->type, sizeof cfg->type, "%s", t->type);
    snprintf(cfg->name, sizeof cfg->name, "%s", t->name);
    /* a Resource metric goes by the resource's name, as in KEDA's keda_scaler_active */
    snprintf(cfg->metric_name, sizeof cfg->metric_name, "%s",
             t->spec.is_resource ? t->type : t->spec.metric_name);
}

/* Trigger i: a new blob (and cfg_gen) only if its text changed, then the config group. */
static int mirror_trigger(watch_ctx_t *w, watch_entry_t *e, const so_t *so, uint32_t i, char **blob,
                          errtext_t *err)
{
    uint32_t slot = e->trig[i];
    uint64_t old = e->cfg_gen[i], gen = old;
    shm_trig_cfg_t cfg, cur;
    int r;

    if (!mirror_blob_same(w, e, i, *blob)) {
        gen = w->next_cfg_gen++;
        if ((r = shm_blob_write(w->blob_dir, slot, gen, *blob, strlen(*blob))) < 0) {
            errtext_set(err, "could not write the configuration of trigger %u: %s", i,
                        strerror(-r));
            return r;
        }
    }
    mirror_cfg_build(w, e, so, i, gen, &cfg);
    if (shm_trig_cfg_read(w->table, slot, &cur) < 0 || memcmp(&cur, &cfg, sizeof cfg) != 0) {
        shm_trig_cfg_write(w->table, slot, &cfg);
        w->ring_supervisor = true;
    }
    if (gen != old && old)
        shm_blob_remove(w->blob_dir, slot, old);
    if (gen != old || !e->blob[i]) {
        free(e->blob[i]);
        e->blob[i] = *blob;
        *blob = NULL;
    }
    e->cfg_gen[i] = gen;
    return 0;
}

/* strconv.ParseInt(s, 10, 64) succeeds with a value > 0. */
static bool mirror_positive_int(const char *s)
{
    char *end;
    long long v;

    if (!s || !((s[0] >= '0' && s[0] <= '9') || s[0] == '+' || s[0] == '-'))
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    return !*end && errno == 0 && v > 0;
}

bool watch_so_fallback_valid(const so_t *so)
{
    const so_modifiers_t *m = &so->modifiers;
    bool modifiers = m->formula || m->target || m->activation_target;

    return so->has_fallback && so->fallback_failure_threshold >= 0 && so->fallback_replicas >= 0 &&
           (!modifiers || mirror_positive_int(m->target));
}

/* strconv.ParseFloat's syntax, close to strtod's; NaN when it would fail. */
static double mirror_float(const char *s)
{
    char *end;
    double v;

    if (!s || !s[0] || s[0] == ' ' || s[0] == '\t' || s[0] == '\n')
        return NAN;
    v = strtod(s, &end);
    return *end ? NAN : v;
}

/* scalingModifiers (validated by the admission rules before the object gets here). */
static void mirror_modifiers(shm_so_spec_t *spec, const so_t *so)
{
    const so_modifiers_t *m = &so->modifiers;

    if (!m->formula)
        return;
    snprintf(spec->modifiers_formula, sizeof spec->modifiers_formula, "%s", m->formula);
    spec->modifiers_target = mirror_float(m->target);
    /* activationTarget defaults to 0; one ParseFloat refuses is NaN: KEDA's loop then errors
     * out of every poll ("scalingModifiers.ActivationTarget parsing error") */
    spec->modifiers_activation = m->activation_target ? mirror_float(m->activation_target) : 0;
    spec->modifiers_metric_type = m->metric_type;
}

static void mirror_spec_write(watch_ctx_t *w, const watch_entry_t *e, const so_t *so)
{
    shm_so_spec_t spec, cur;

    memset(&spec, 0, sizeof spec);
    spec.flags = SHM_F_VALID | (e->job ? SHM_SO_F_SCALEDJOB : 0);
    spec.generation = e->generation;
    snprintf(spec.uid, sizeof spec.uid, "%s", so->uid);
    snprintf(spec.ns, sizeof spec.ns, "%s", so->ns);
    snprintf(spec.name, sizeof spec.name, "%s", so->name);
    snprintf(spec.target_api_version, sizeof spec.target_api_version, "%s", so->target_api_version);
    snprintf(spec.target_kind, sizeof spec.target_kind, "%s", so->target_kind);
    snprintf(spec.target_name, sizeof spec.target_name, "%s", so->target_name);
    spec.min_replicas = so->min_replicas;
    spec.max_replicas = so->max_replicas;
    spec.idle_replicas = so->idle_replicas;
    spec.polling_interval_s = (uint32_t)so->polling_interval_s;
    spec.cooldown_s = (uint32_t)so->cooldown_s;
    spec.initial_cooldown_s = (uint32_t)so->initial_cooldown_s;
    spec.fallback_failure_threshold = so->has_fallback ? so->fallback_failure_threshold : -1;
    spec.fallback_replicas = so->has_fallback ? so->fallback_replicas : 0;
    spec.fallback_behavior = so->fallback_behavior;
    if (so->has_fallback && !watch_so_fallback_valid(so))
        spec.flags |= SHM_SO_F_FALLBACK_INVALID;
    mirror_modifiers(&spec, so);
    spec.paused_replicas = so->pause.has_replicas ? so->pause.replicas : -1;
    spec.paused = (so->pause.paused ? SHM_PAUSED_ALL : 0) |
                  (so->pause.scale_in ? SHM_PAUSED_SCALE_IN : 0) |
                  (so->pause.scale_out ? SHM_PAUSED_SCALE_OUT : 0) |
                  (so->pause.force_activation ? SHM_FORCE_ACTIVATION : 0);
    spec.trigger_count = e->ntrig;
    for (uint32_t i = 0; i < SHM_TRIGGERS_PER_SO_MAX; i++)
        spec.triggers[i] = i < e->ntrig ? e->trig[i] : SHM_NONE;
    if (shm_so_spec_read(w->table, e->slot, &cur) < 0 || memcmp(&cur, &spec, sizeof spec) != 0)
        shm_so_spec_write(w->table, e->slot, &spec);
}

static int mirror_capacity(const watch_ctx_t *w, const watch_entry_t *e, uint32_t n, errtext_t *err)
{
    const shm_caps_t *caps = shm_table_caps(w->table);

    if (e->slot == SHM_NONE && w->nfree_so == 0) {
        errtext_set(err,
                    "ckeda's table is full: it holds %u ScaledObjects (max-scaledobjects); this "
                    "one is not served",
                    caps->max_so);
        return -ENOSPC;
    }
    if (n > e->ntrig && n - e->ntrig > w->nfree_trig) {
        errtext_set(err,
                    "ckeda's table is full: it holds %u triggers (max-triggers); the %u of this "
                    "ScaledObject are not served",
                    caps->max_trig, n);
        return -ENOSPC;
    }
    return 0;
}

static void mirror_allocate(watch_ctx_t *w, watch_entry_t *e, uint32_t n)
{
    shm_so_spec_t old;

    if (e->slot == SHM_NONE) {
        e->slot = w->free_so[--w->nfree_so];
        e->generation = shm_so_spec_read(w->table, e->slot, &old) == 0 ? old.generation + 1 : 1;
        w->mirrored++;
    }
    for (uint32_t i = e->ntrig; i < n; i++) {
        e->trig[i] = w->free_trig[--w->nfree_trig];
        e->cfg_gen[i] = 0;
        e->blob[i] = NULL;
        w->mirrored_triggers++;
    }
    if (n > e->ntrig)
        e->ntrig = n;
}

static void mirror_shrink(watch_ctx_t *w, watch_entry_t *e, uint32_t n)
{
    for (uint32_t i = n; i < e->ntrig; i++) {
        mirror_trig_clear(w, e->trig[i], e->cfg_gen[i]);
        w->free_trig[w->nfree_trig++] = e->trig[i];
        free(e->blob[i]);
        e->blob[i] = NULL;
        e->cfg_gen[i] = 0;
        w->mirrored_triggers--;
    }
    if (n < e->ntrig)
        e->ntrig = n;
}

/* KEDA's Events when an object's triggers start or stop being polled (its scale loop and scalers
 * cache started or stopped): told by the leader only. */
static void mirror_tell(watch_ctx_t *w, const watch_entry_t *e, const so_t *so, bool started)
{
    if (!e->obj || !watch_writes_allowed(w))
        return;
    if (!started) {
        watch_event(w->events, e->obj, false, "KEDAScalersStopped", "Stopped scalers watch");
        return;
    }
    for (uint32_t i = 0; i < so->ntriggers; i++)
        watch_event(w->events, e->obj, false, "KEDAScalersStarted", "Scaler %s is built",
                    so->triggers[i].type);
    watch_event(w->events, e->obj, false, "KEDAScalersStarted", "Started scalers watch");
}

int watch_mirror_apply(watch_ctx_t *w, watch_entry_t *e, const so_t *so, errtext_t *err)
{
    uint32_t n = so->ntriggers, before = e->slot == SHM_NONE ? 0 : e->ntrig;
    char *blobs[SHM_TRIGGERS_PER_SO_MAX] = {0};
    bool fresh = e->slot == SHM_NONE;
    int r = mirror_capacity(w, e, n, err);

    for (uint32_t i = 0; r == 0 && i < n; i++)
        if (!(blobs[i] = watch_blob_build(so, i, mirror_auth(w, so, i)))) {
            errtext_set(err, "out of memory");
            r = -ENOMEM;
        }
    if (r == 0) {
        mirror_allocate(w, e, n);
        for (uint32_t i = 0; r == 0 && i < n; i++)
            r = mirror_trigger(w, e, so, i, &blobs[i], err);
    }
    if (r == 0) {
        mirror_shrink(w, e, n);
        mirror_spec_write(w, e, so);
        if (fresh && !e->job &&
            (r = shm_index_insert(w->table, e->ns, e->name, e->slot, e->generation)) < 0)
            log_error(r, "could not index %s/%s (readers fall back to a scan)", e->ns, e->name);
        e->adopted = false;
        w->block_dirty = true;
        if ((before == 0) != (n == 0))
            mirror_tell(w, e, so, n > 0);
        r = 0;
    }
    for (uint32_t i = 0; i < n; i++)
        free(blobs[i]);
    return r;
}

static void mirror_unblock(const char *key, void *value, void *ud)
{
    watch_entry_t *e = value;
    if (e->capacity_blocked)
        watch_enqueue(ud, e);
}

void watch_mirror_free(watch_ctx_t *w, watch_entry_t *e)
{
    if (e->slot == SHM_NONE)
        return;
    if (e->ntrig > 0)
        mirror_tell(w, e, NULL, false);
    if (!e->job)
        shm_index_remove(w->table, e->ns, e->name, e->slot);
    mirror_so_clear(w, e->slot);
    mirror_shrink(w, e, 0);
    w->free_so[w->nfree_so++] = e->slot;
    w->mirrored--;
    e->slot = SHM_NONE;
    e->adopted = false;
    w->block_dirty = true;
    watch_map_each(&w->sos, mirror_unblock, w);
    watch_map_each(&w->sjs, mirror_unblock, w);
}

void watch_mirror_observe(watch_ctx_t *w, watch_entry_t *e)
{
    shm_so_observed_t obs, cur;
    const watch_workload_t *wl =
        e->workload_key[0] ? watch_map_get(&w->workloads, e->workload_key) : NULL;
    bool have_cur;

    if (e->slot == SHM_NONE)
        return;
    have_cur = shm_so_observed_read(w->table, e->slot, &cur) == 0 && (cur.flags & SHM_F_VALID) &&
               cur.generation == e->generation;
    memset(&obs, 0, sizeof obs);
    obs.flags = SHM_F_VALID;
    obs.generation = e->generation;
    obs.spec_replicas = wl ? wl->spec_replicas : e->scale_spec;
    obs.status_replicas = wl ? wl->status_replicas : e->scale_status;
    obs.ready_replicas = wl ? wl->ready_replicas : -1;
    obs.active = have_cur ? cur.active : 2; /* the scale loop's to decide */
    obs.last_active_real_ms = have_cur ? cur.last_active_real_ms : 0;
    obs.observed_mono_ms = shm_now_mono_ms();
    obs.ready = e->ready == 1 ? 1 : e->ready == 0 ? 0 : 2;
    snprintf(obs.reason, sizeof obs.reason, "%s%s",
             e->ready == -1 ? ""
             : e->job       ? "ScaledJob"
                            : "ScaledObject",
             e->ready == 1   ? "Ready"
             : e->ready == 0 ? "CheckFailed"
                             : "");
    snprintf(obs.message, sizeof obs.message, "%s", e->message);
    shm_so_observed_write(w->table, e->slot, &obs);
}
