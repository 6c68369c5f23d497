/*
 * view: ckedactl's model of the table. Every value is a consistent seqlock copy; every state
 * comes from shm_trigger_state(), so ckedactl, the scale loop and the adapter never disagree.
 */
#include "ctl/ctl.h"

#include "common/scaler_registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_trigger_load(const ctl_t *c, uint32_t slot, ctl_trigger_t *t)
{
    shm_so_spec_t so;
    shm_proc_ctl_t pc;

    memset(t, 0, sizeof *t);
    if (shm_trig_view_load(c->table, slot, c->now_mono_ms, &t->v) < 0)
        return -1;
    t->has_value = (t->v.res.flags & SHM_F_VALID) && t->v.res.for_cfg_gen == t->v.cfg.cfg_gen &&
                   t->v.res.measured_mono_ms != 0;
    t->quarantined = t->v.ctl.quarantined_until_mono_ms > c->now_mono_ms;
    if (t->v.ctl.worker != SHM_NONE && shm_proc_ctl_read(c->table, t->v.ctl.worker, &pc) == 0)
        t->worker_pid = pc.pid;
    if (shm_so_spec_read(c->table, t->v.cfg.so_slot, &so) == 0 && (so.flags & SHM_F_VALID) &&
        so.generation == t->v.cfg.so_generation) {
        memcpy(t->so_ns, so.ns, sizeof so.ns);
        memcpy(t->so_name, so.name, sizeof so.name);
        t->so_job = (so.flags & SHM_SO_F_SCALEDJOB) != 0;
    }
    return 0;
}

const char *ctl_trigger_error(const ctl_trigger_t *t, char *buf, size_t cap)
{
    switch (t->v.cause) {
    case SHM_CAUSE_NONE:
        return "";
    case SHM_CAUSE_SOURCE:
    case SHM_CAUSE_CONFIG:
        return t->v.res.error;
    case SHM_CAUSE_QUARANTINED:
        snprintf(buf, cap, "quarantined: %s", t->v.ctl.reason);
        return buf;
    default:
        snprintf(buf, cap, "%s", shm_cause_name(t->v.cause));
        return buf;
    }
}

static cJSON *ctl_num_or_null(bool have, double v)
{
    return have ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

cJSON *ctl_trigger_json(const ctl_t *c, const ctl_trigger_t *t)
{
    cJSON *o = cJSON_CreateObject();
    char err[SHM_ERROR_MAX + SHM_REASON_MAX];
    bool known = t->v.state != SHM_STATE_ERROR;

    cJSON_AddNumberToObject(o, "slot", t->v.slot);
    cJSON_AddNumberToObject(o, "index", t->v.cfg.index);
    cJSON_AddStringToObject(o, "type", t->v.cfg.type);
    cJSON_AddStringToObject(o, "name", t->v.cfg.name);
    /* a spec learnt from the source (external) names the metric, as the adapter serves it */
    cJSON_AddStringToObject(o, "metric_name", shm_spec_metric_name(&t->v.cfg, &t->v.res));
    cJSON_AddNumberToObject(o, "metric_target", shm_spec_target(&t->v.cfg, &t->v.res));
    cJSON_AddItemToObject(o, "value", ctl_num_or_null(t->has_value, t->v.res.value));
    cJSON_AddStringToObject(o, "state", shm_state_name(t->v.state));
    cJSON_AddItemToObject(
        o, "active", known ? cJSON_CreateBool(t->v.state == SHM_STATE_ACTIVE) : cJSON_CreateNull());
    cJSON_AddItemToObject(
        o, "age_ms",
        ctl_num_or_null(t->has_value, (double)ctl_age(c->now_mono_ms, t->v.res.measured_mono_ms)));
    cJSON_AddNumberToObject(o, "errors", t->v.res.consecutive_failures);
    cJSON_AddNumberToObject(o, "errors_total", (double)t->v.res.errors_total);
    cJSON_AddStringToObject(o, "error", ctl_trigger_error(t, err, sizeof err));
    cJSON_AddItemToObject(o, "worker_pid",
                          t->worker_pid ? cJSON_CreateNumber(t->worker_pid) : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "quarantined", t->quarantined);
    cJSON_AddNumberToObject(o, "strikes", t->v.ctl.strikes);
    cJSON_AddBoolToObject(o, "suspect", t->v.ctl.suspect);
    /* the configuration generation (exact in a JSON number: the watcher keeps it below 2^53) */
    cJSON_AddNumberToObject(o, "cfg_gen", (double)t->v.cfg.cfg_gen);
    return o;
}

cJSON *ctl_so_json(const ctl_t *c, uint32_t slot, const shm_so_spec_t *spec)
{
    cJSON *o = cJSON_CreateObject(), *trig = cJSON_CreateArray();
    shm_so_observed_t obs;
    bool seen = shm_so_observed_read(c->table, slot, &obs) == 0 && (obs.flags & SHM_F_VALID) &&
                obs.generation == spec->generation;

    cJSON_AddStringToObject(o, "namespace", spec->ns);
    cJSON_AddStringToObject(o, "name", spec->name);
    cJSON_AddStringToObject(o, "kind",
                            spec->flags & SHM_SO_F_SCALEDJOB ? "ScaledJob" : "ScaledObject");
    cJSON_AddItemToObject(
        o, "active", seen && obs.active != 2 ? cJSON_CreateBool(obs.active) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "replicas",
                          ctl_num_or_null(seen && obs.status_replicas >= 0, obs.status_replicas));
    cJSON_AddNumberToObject(o, "polling_interval_s", spec->polling_interval_s);
    cJSON_AddNumberToObject(o, "min_replicas", spec->min_replicas);
    cJSON_AddNumberToObject(o, "max_replicas", spec->max_replicas);
    cJSON_AddStringToObject(o, "target_kind", spec->target_kind);
    cJSON_AddStringToObject(o, "target_name", spec->target_name);
    for (uint32_t i = 0; i < spec->trigger_count && i < SHM_TRIGGERS_PER_SO_MAX; i++) {
        ctl_trigger_t t;
        if (ctl_trigger_load(c, spec->triggers[i], &t) == 0)
            cJSON_AddItemToArray(trig, ctl_trigger_json(c, &t));
    }
    cJSON_AddItemToObject(o, "triggers", trig);
    return o;
}

cJSON *ctl_workers_json(const ctl_t *c)
{
    cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "processes");
    const shm_caps_t *caps = shm_table_caps(c->table);

    for (uint32_t i = 0; i < caps->max_proc; i++) {
        shm_proc_ctl_t pc;
        shm_proc_self_t self;
        if (shm_proc_ctl_read(c->table, i, &pc) < 0 || !(pc.flags & SHM_F_VALID))
            continue;
        shm_proc_self_read(c->table, i, &self);
        cJSON *o = cJSON_CreateObject();
        bool worker = pc.role == SHM_ROLE_SCALEWORKER, live = pc.pid > 0;
        cJSON_AddNumberToObject(o, "slot", i);
        cJSON_AddStringToObject(o, "role", shm_role_name(pc.role));
        cJSON_AddItemToObject(o, "type",
                              worker ? cJSON_CreateString(scaler_type_name(pc.type_id))
                                     : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "shard",
                              worker ? cJSON_CreateNumber(pc.shard) : cJSON_CreateNull());
        cJSON_AddBoolToObject(o, "suspect", pc.suspect);
        cJSON_AddItemToObject(o, "pid", live ? cJSON_CreateNumber(pc.pid) : cJSON_CreateNull());
        cJSON_AddStringToObject(o, "state", shm_proc_state_name(pc.state));
        cJSON_AddNumberToObject(o, "restarts", pc.restarts);
        cJSON_AddItemToObject(
            o, "heartbeat_age_ms",
            ctl_num_or_null(live && self.heartbeat_mono_ms,
                            (double)ctl_age(c->now_mono_ms, self.heartbeat_mono_ms)));
        cJSON_AddItemToObject(o, "last_exit",
                              pc.last_exit == INT32_MIN ? cJSON_CreateNull()
                                                        : cJSON_CreateNumber(pc.last_exit));
        cJSON_AddNumberToObject(o, "triggers", pc.triggers);
        cJSON_AddNumberToObject(o, "polls_total", (double)self.polls_total);
        cJSON_AddNumberToObject(o, "errors_total", (double)self.errors_total);
        cJSON_AddItemToArray(arr, o);
    }
    return doc;
}

uint32_t ctl_count_so(const ctl_t *c)
{
    shm_so_spec_t s;
    uint32_t n = 0;
    for (uint32_t i = 0; i < shm_table_caps(c->table)->max_so; i++)
        n += shm_so_spec_read(c->table, i, &s) == 0 && (s.flags & SHM_F_VALID);
    return n;
}

void ctl_json_print(cJSON *doc)
{
    char *s = cJSON_Print(doc);
    if (s)
        puts(s);
    free(s);
    cJSON_Delete(doc);
}
