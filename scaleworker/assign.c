/*
 * assign: which triggers this worker owns, and their configuration. The supervisor names the
 * owner in each trigger's control group and rings our doorbell; we rescan, start or stop
 * polling, and acknowledge the assignment generation we loaded, after which the supervisor may
 * give a released trigger to another worker. A released trigger is never written by us again:
 * its poll in flight is abandoned (not published) before the acknowledgement.
 *
 * A trigger's configuration is its config blob `<slot>.<cfg_gen>` (scaleworker/README.md),
 * read when cfg_gen changes: when the trigger reads the scale target's container environment
 * (metadata `<name>FromEnv`, an authentication `env` source) the target is read and its
 * container's environment resolved (env.c), the authentication it references is resolved
 * (auth.c), then the scaler parses metadata, authentication parameters and environment. A parse
 * error is published as SHM_FAIL_CONFIG and is terminal until the configuration changes; a
 * failure to resolve the environment or the authentication (API unreachable, target, container,
 * Secret missing) is a source failure retried every interval.
 *
 * Noticing a change costs nothing per turn while nothing changes: every write of a trigger's
 * config group bumps the table's change count (shm_trig_cfg_changes), and a turn reads our
 * triggers' groups only when the count moved since its last look (it reads the count first, so
 * a write after that look moves it again and is seen on the next turn). Besides, a check list
 * names the triggers to look at whatever the count says: a new one (its first load), one whose
 * credentials must be resolved again, one whose new configuration waits for its poll in
 * flight. A released trigger leaves the list and the schedule before it is freed.
 */
#include "scaleworker/sw_internal.h"

#include "common/json.h"
#include "common/log.h"
#include "shm/blob.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sw_assign_init(sw_worker_t *w)
{
    uint32_t n = shm_table_caps(w->ctx.table)->max_trig;

    w->by_slot = calloc(n, sizeof *w->by_slot);
    w->trig = calloc(n, sizeof *w->trig);
    w->rang_seq = calloc(n, sizeof *w->rang_seq);
    w->check = calloc(n, sizeof *w->check);
    w->ncheck = 0;
    w->cfg_changes = UINT64_MAX; /* the first refresh reads every group */
    if (!w->by_slot || !w->trig || !w->rang_seq || !w->check || sw_heap_init(&w->due, n) < 0 ||
        sw_heap_init(&w->deadlines, n) < 0)
        return log_error(-ENOMEM, "could not allocate the assignment");
    return 0;
}

void sw_assign_check(sw_worker_t *w, sw_trigger_t *t)
{
    if (t->check_pos)
        return;
    w->check[w->ncheck++] = t;
    t->check_pos = w->ncheck;
}

static void sw_assign_uncheck(sw_worker_t *w, sw_trigger_t *t)
{
    sw_trigger_t *last;

    if (!t->check_pos)
        return;
    last = w->check[--w->ncheck];
    w->check[t->check_pos - 1] = last;
    last->check_pos = t->check_pos;
    t->check_pos = 0;
}

void sw_trigger_unload(sw_trigger_t *t)
{
    if (t->state && t->scaler)
        t->scaler->close(t->state);
    t->state = NULL;
}

/* Whether metadata has a `<name>FromEnv` key. */
static bool sw_meta_from_env(const cJSON *metadata)
{
    const cJSON *kv;

    cJSON_ArrayForEach(kv, metadata)
    {
        if (cJSON_IsString(kv) && sw_key_from_env(kv->string))
            return true;
    }
    return false;
}

/* The scale target when the trigger reads its environment (*ret_tgt NULL otherwise), and for
 * `<name>FromEnv` the environment of envSourceContainerName (else the first container). 0 or
 * -errno (retried) with KEDA's message in err. */
static int sw_trigger_env(sw_worker_t *w, sw_trigger_t *t, const cJSON *doc,
                          sw_env_target_t **ret_tgt, const sw_auth_params_t **ret_env, char *err,
                          size_t errlen)
{
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(doc, "scaleTarget");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(doc, "namespace");
    const cJSON *ctr = cJSON_GetObjectItemCaseSensitive(target, "envSourceContainerName");
    bool meta = sw_meta_from_env(cJSON_GetObjectItemCaseSensitive(doc, "metadata"));
    sw_env_t *e = sw_auth_env(w->auth);
    char why[SHM_ERROR_MAX] = "";
    int r;

    *ret_tgt = NULL;
    *ret_env = NULL;
    t->target_uid[0] = '\0';
    if (!meta && !sw_auth_uses_env(cJSON_GetObjectItemCaseSensitive(doc, "authentication")))
        return 0;
    r = sw_env_target(e, target, cJSON_IsString(ns) ? ns->valuestring : "", ret_tgt, err, errlen);
    if (r < 0)
        return r == -EINVAL ? -EIO : r; /* the target may appear or be fixed: retried */
    snprintf(t->target_uid, sizeof t->target_uid, "%s", sw_env_target_uid(*ret_tgt));
    if (!meta)
        return 0;
    r = sw_env_container(e, *ret_tgt, cJSON_IsString(ctr) ? ctr->valuestring : NULL, ret_env, why,
                         sizeof why);
    if (r < 0) {
        snprintf(err, errlen, "error resolving secrets for ScaleTarget: %s", why);
        return r == -EINVAL ? -EIO : r;
    }
    return 0;
}

/* Resolves the blob's authentication into *ret (NULL when it has none); tgt: the scale target
 * its `env` sources read. 0, -EINVAL (terminal) or another -errno (retry). */
static int sw_trigger_auth(sw_worker_t *w, sw_trigger_t *t, const cJSON *doc, sw_env_target_t *tgt,
                           const sw_auth_params_t **ret, char *err, size_t errlen)
{
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(doc, "authentication");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(doc, "namespace");
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(auth, "uid");

    *ret = NULL;
    t->auth_uid[0] = '\0';
    if (!auth || cJSON_IsNull(auth))
        return 0;
    if (cJSON_IsString(uid))
        snprintf(t->auth_uid, sizeof t->auth_uid, "%s", uid->valuestring);
    return sw_auth_resolve_env(w->auth, auth, cJSON_IsString(ns) ? ns->valuestring : "", tgt, ret,
                               err, errlen);
}

/* Blob to parsed state. Returns 0, -EINVAL (configuration error) or another -errno (retry). */
static int sw_trigger_parse(sw_worker_t *w, sw_trigger_t *t, char *err, size_t errlen)
{
    const sw_auth_params_t *auth = NULL, *env = NULL;
    sw_env_target_t *tgt = NULL;
    char *blob = NULL;
    size_t len = 0;
    cJSON *doc = NULL;
    int r;

    r = shm_blob_read(w->blobs_fd, t->slot, t->cfg.cfg_gen, &blob, &len);
    if (r < 0) {
        snprintf(err, errlen, "could not read the trigger's configuration: %s", strerror(-r));
        r = -EINVAL;
    } else if (!(doc = cJSON_ParseWithLength(blob, len)) ||
               !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "metadata"))) {
        snprintf(err, errlen, "the trigger's configuration is not a JSON object with metadata");
        r = -EINVAL;
    } else if ((r = sw_trigger_env(w, t, doc, &tgt, &env, err, errlen)) == 0 &&
               (r = sw_trigger_auth(w, t, doc, tgt, &auth, err, errlen)) == 0) {
        const cJSON *ns = cJSON_GetObjectItemCaseSensitive(doc, "namespace");
        const cJSON *so = cJSON_GetObjectItemCaseSensitive(doc, "scaledObject");
        sw_params_t p = {.metadata = cJSON_GetObjectItemCaseSensitive(doc, "metadata"),
                         .auth = auth,
                         .env = env,
                         .cfg = &t->cfg,
                         .so_namespace = cJSON_IsString(ns) ? ns->valuestring : "",
                         .so_name = cJSON_IsString(so) ? so->valuestring : "",
                         .trigger = t};
        r = t->scaler->parse(&p, &t->state, err, errlen);
        if (r < 0 && r != -ENOMEM)
            r = -EINVAL;
    }
    jsonu_delete_secret(doc); /* metadata may hold credentials */
    if (blob)
        explicit_bzero(blob, len);
    free(blob);
    return r;
}

void sw_trigger_load_cfg(sw_worker_t *w, sw_trigger_t *t, bool at_once)
{
    char err[SHM_ERROR_MAX] = "";
    uint64_t now = shm_now_mono_ms();
    int r;

    sw_poll_abandon(w, t);
    sw_trigger_unload(t);
    if (t->cfg_gen != t->cfg.cfg_gen) { /* a spec learnt from the source was the old config's */
        t->last.has_spec = 0;
        t->last.spec_metric_name[0] = '\0';
        t->last.spec_target = 0;
    }
    t->cfg_gen = t->cfg.cfg_gen;
    t->reload = false;
    t->config_error = false;
    r = sw_trigger_parse(w, t, err, sizeof err);
    if (at_once) {
        t->next_poll_ms = now; /* first poll at once */
        t->first_poll = true;
    }
    if (r == 0) {
        sw_sched(w, t);
        return;
    }
    t->state = NULL;
    t->config_error = r == -EINVAL;
    sw_publish(w, t, false, 0, t->config_error ? SHM_FAIL_CONFIG : SHM_FAIL_SOURCE,
               err[0] ? err : "invalid metadata", 0);
    if (!t->config_error) /* retry on the polling interval */
        t->next_poll_ms = now + sw_trigger_interval_ms(t);
    sw_sched(w, t);
}

static void sw_trigger_drop(sw_worker_t *w, uint32_t slot)
{
    sw_trigger_t *t = w->by_slot[slot];

    for (uint32_t i = 0; i < w->ntrig; i++)
        if (w->trig[i] == t) {
            w->trig[i] = w->trig[--w->ntrig];
            break;
        }
    sw_poll_abandon(w, t);
    sw_trigger_unload(t);
    sw_sched_remove(w, t);
    sw_assign_uncheck(w, t);
    free(t);
    w->by_slot[slot] = NULL;
}

static void sw_trigger_add(sw_worker_t *w, uint32_t slot)
{
    sw_trigger_t *t = calloc(1, sizeof *t);

    if (!t) {
        log_error(-ENOMEM, "could not take trigger %u", slot);
        return;
    }
    t->w = w;
    t->slot = slot;
    t->scaler = w->scaler;
    t->cfg_gen = UINT64_MAX; /* loads on the next refresh */
    t->due.tie = t->deadline.tie = slot;
    shm_trig_result_read(w->ctx.table, slot, &t->last);
    w->rang_seq[slot] = t->last.activity_seq;
    w->by_slot[slot] = t;
    w->trig[w->ntrig++] = t;
    sw_assign_check(w, t);
}

void sw_assign_load(sw_worker_t *w)
{
    uint32_t n = shm_table_caps(w->ctx.table)->max_trig;
    shm_proc_ctl_t me;
    shm_trig_ctl_t ctl;

    if (shm_proc_ctl_read(w->ctx.table, w->ctx.slot, &me) < 0)
        return; /* the supervisor is mid-write: the doorbell rings again */
    w->suspect = me.suspect;
    for (uint32_t s = 0; s < n; s++) {
        bool mine = shm_trig_ctl_read(w->ctx.table, s, &ctl) == 0 && ctl.worker == w->ctx.slot;
        if (mine && !w->by_slot[s])
            sw_trigger_add(w, s);
        else if (!mine && w->by_slot[s])
            sw_trigger_drop(w, s);
    }
    shm_proc_ack(w->ctx.table, w->ctx.slot, me.assign_gen);
}

/* The group changed without its blob (same cfg_gen): the ScaledObject's pollingInterval, the
 * timeout. Taken as is; a new interval moves the next poll by the difference, so it counts from
 * the last poll as before, and one due by now starts on this turn. */
static void sw_trigger_cfg_update(sw_worker_t *w, sw_trigger_t *t, const shm_trig_cfg_t *cfg)
{
    uint64_t old = sw_trigger_interval_ms(t), now = shm_now_mono_ms();

    t->cfg = *cfg;
    if (t->in_flight || sw_trigger_interval_ms(t) == old)
        return; /* a poll in flight schedules the next one by the new interval */
    t->next_poll_ms = t->next_poll_ms + sw_trigger_interval_ms(t) > now + old
                          ? t->next_poll_ms + sw_trigger_interval_ms(t) - old
                          : now;
    sw_sched(w, t);
}

/* When the change count moved: every trigger whose group names a new cfg_gen goes on the
 * check list; one whose group changed otherwise takes it at once. A group mid-write is
 * skipped: its writer bumps the count once done. */
static void sw_assign_scan(sw_worker_t *w)
{
    uint64_t changes = shm_trig_cfg_changes(w->ctx.table);
    shm_trig_cfg_t cfg;

    if (changes == w->cfg_changes)
        return;
    w->cfg_changes = changes;
    for (uint32_t i = 0; i < w->ntrig; i++) {
        sw_trigger_t *t = w->trig[i];
        if (t->check_pos || shm_trig_cfg_read(w->ctx.table, t->slot, &cfg) < 0 ||
            !(cfg.flags & SHM_F_VALID))
            continue;
        if (cfg.cfg_gen != t->cfg_gen)
            sw_assign_check(w, t);
        else if (memcmp(&cfg, &t->cfg, sizeof cfg) != 0)
            sw_trigger_cfg_update(w, t, &cfg);
    }
}

/* A new cfg_gen waits for the poll in flight (bounded by its deadline); its result carries the
 * old generation and is ignored by readers. Loading may wait on the Kubernetes API (a Secret,
 * the client's rate limit), so a turn loads for at most SW_LOAD_BUDGET_MS and leaves the rest
 * to the next turns, between which the loop serves the other triggers' I/O. */
bool sw_assign_refresh(sw_worker_t *w)
{
    uint64_t until = shm_now_mono_ms() + SW_LOAD_BUDGET_MS;

    sw_assign_scan(w);
    for (uint32_t i = 0; i < w->ncheck;) {
        sw_trigger_t *t = w->check[i];
        shm_trig_cfg_t cfg;
        bool valid, fresh;
        if (t->in_flight) { /* stays listed: looked at again once the poll is done */
            i++;
            continue;
        }
        valid = shm_trig_cfg_read(w->ctx.table, t->slot, &cfg) == 0 && (cfg.flags & SHM_F_VALID);
        fresh = valid && cfg.cfg_gen != t->cfg_gen;
        if (valid && !fresh && memcmp(&cfg, &t->cfg, sizeof cfg) != 0)
            sw_trigger_cfg_update(w, t, &cfg);
        if (!fresh && !t->reload) {
            sw_assign_uncheck(w, t); /* the last entry moved to i */
            continue;
        }
        if (shm_now_mono_ms() >= until)
            return true;
        if (fresh)
            t->cfg = cfg;
        sw_assign_uncheck(w, t);
        sw_trigger_load_cfg(w, t, fresh);
        role_heartbeat(&w->ctx);
    }
    return false;
}

void sw_assign_free(sw_worker_t *w)
{
    for (uint32_t s = 0; w->by_slot && s < shm_table_caps(w->ctx.table)->max_trig; s++)
        if (w->by_slot[s])
            sw_trigger_drop(w, s);
    free(w->by_slot);
    free(w->trig);
    free(w->rang_seq);
    free(w->check);
    sw_heap_free(&w->due);
    sw_heap_free(&w->deadlines);
    w->by_slot = w->trig = w->check = NULL;
    w->rang_seq = NULL;
    w->ncheck = 0;
}
