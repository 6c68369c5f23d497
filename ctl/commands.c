/*
 * commands: ckedactl's read-only commands, each as a human table or, with -o json, the
 * documented JSON shape. Human tables go through the same JSON model, so both outputs always
 * show the same values.
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *j_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* A number, or "-" for null. */
static const char *j_num(const cJSON *o, const char *k, char *buf, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "yes" : "no";
    if (!cJSON_IsNumber(v))
        return "-";
    snprintf(buf, cap, "%.15g", v->valuedouble);
    return buf;
}

static cJSON *ctl_so_all(const ctl_t *c)
{
    cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "scaledobjects");
    shm_so_spec_t s;

    for (uint32_t i = 0; i < shm_table_caps(c->table)->max_so; i++)
        if (shm_so_spec_read(c->table, i, &s) == 0 && (s.flags & SHM_F_VALID))
            cJSON_AddItemToArray(arr, ctl_so_json(c, i, &s));
    return doc;
}

static void ctl_print_so_row(const cJSON *so)
{
    char a[32], b[32];
    const cJSON *t;
    int n = 0, err = 0;

    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(so, "triggers"))
    {
        n++;
        err += strcmp(j_str(t, "state"), "ERROR") == 0;
    }
    printf("%-20s %-32s %-7s %-9s %-9s %-5d %s\n", j_str(so, "namespace"), j_str(so, "name"),
           j_num(so, "active", a, sizeof a), j_num(so, "replicas", b, sizeof b),
           err ? "ERROR" : "ok", n, j_str(so, "kind"));
}

int ctl_cmd_ls(const ctl_t *c)
{
    cJSON *doc = ctl_so_all(c), *so;

    if (c->json) {
        ctl_json_print(doc);
        return 0;
    }
    printf("%-20s %-32s %-7s %-9s %-9s %-5s %s\n", "NAMESPACE", "NAME", "ACTIVE", "REPLICAS",
           "TRIGGERS", "COUNT", "KIND");
    cJSON_ArrayForEach(so, cJSON_GetObjectItemCaseSensitive(doc, "scaledobjects"))
        ctl_print_so_row(so);
    cJSON_Delete(doc);
    return 0;
}

static void ctl_print_trigger_row(const cJSON *t, const char *owner)
{
    char v[32], age[32], pid[32], e[32];

    printf("%-28s %-3s %-14s %-36s %-12s %-8s %-8s %-8s %-7s %s\n", owner,
           j_num(t, "index", e, sizeof e), j_str(t, "type"), j_str(t, "metric_name"),
           j_num(t, "value", v, sizeof v), j_str(t, "state"), j_num(t, "age_ms", age, sizeof age),
           j_num(t, "worker_pid", pid, sizeof pid),
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "quarantined")) ? "yes" : "no",
           j_str(t, "error"));
}

static void ctl_print_trigger_header(void)
{
    printf("%-28s %-3s %-14s %-36s %-12s %-8s %-8s %-8s %-7s %s\n", "SCALEDOBJECT", "#", "TYPE",
           "METRIC", "VALUE", "STATE", "AGE_MS", "WORKER", "QUAR", "ERROR");
}

/* A ScaledObject through the index, else a ScaledJob (not indexed) by a scan. */
static int ctl_find(const ctl_t *c, const char *ns, const char *name, uint32_t *ret_slot,
                    shm_so_spec_t *ret_spec)
{
    if (shm_so_find(c->table, ns, name, ret_slot, ret_spec) == 0)
        return 0;
    for (uint32_t i = 0; i < shm_table_caps(c->table)->max_so; i++)
        if (shm_so_spec_read(c->table, i, ret_spec) == 0 && (ret_spec->flags & SHM_F_VALID) &&
            (ret_spec->flags & SHM_SO_F_SCALEDJOB) && strcmp(ret_spec->ns, ns) == 0 &&
            strcmp(ret_spec->name, name) == 0) {
            *ret_slot = i;
            return 0;
        }
    return -ENOENT;
}

int ctl_cmd_get(const ctl_t *c, const char *nsname)
{
    char ns[SHM_NS_MAX], name[SHM_NAME_MAX], owner[SHM_NS_MAX + SHM_NAME_MAX], b[32];
    const char *slash = strchr(nsname, '/');
    shm_so_spec_t spec;
    uint32_t slot;
    cJSON *so, *t;

    if (!slash || (size_t)(slash - nsname) >= sizeof ns || strlen(slash + 1) >= sizeof name) {
        fprintf(stderr, "ckedactl: get wants NAMESPACE/NAME, not \"%s\"\n", nsname);
        return 2;
    }
    snprintf(ns, sizeof ns, "%.*s", (int)(slash - nsname), nsname);
    snprintf(name, sizeof name, "%s", slash + 1);
    if (ctl_find(c, ns, name, &slot, &spec) < 0) {
        fprintf(stderr, "ckedactl: no ScaledObject or ScaledJob %s/%s in the table\n", ns, name);
        return 1;
    }
    so = ctl_so_json(c, slot, &spec);
    if (c->json) {
        ctl_json_print(so);
        return 0;
    }
    printf("%s %s/%s (slot %u, generation %u)\n", j_str(so, "kind"), ns, name, slot,
           spec.generation);
    printf("  target:   %s %s\n  replicas: %s (min %d, max %d)\n  active:   %s\n", spec.target_kind,
           spec.target_name, j_num(so, "replicas", b, sizeof b), spec.min_replicas,
           spec.max_replicas, j_num(so, "active", b, sizeof b));
    ctl_print_trigger_header();
    snprintf(owner, sizeof owner, "%s/%s", ns, name);
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(so, "triggers"))
        ctl_print_trigger_row(t, owner);
    cJSON_Delete(so);
    return 0;
}

int ctl_cmd_triggers(const ctl_t *c)
{
    cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "triggers");
    ctl_trigger_t t;
    char owner[SHM_NS_MAX + SHM_NAME_MAX];

    if (!c->json)
        ctl_print_trigger_header();
    for (uint32_t i = 0; i < shm_table_caps(c->table)->max_trig; i++) {
        if (ctl_trigger_load(c, i, &t) < 0)
            continue;
        cJSON *o = ctl_trigger_json(c, &t);
        snprintf(owner, sizeof owner, "%s/%s", t.so_ns[0] ? t.so_ns : "?", t.so_name);
        cJSON_AddStringToObject(o, "scaledobject", owner);
        cJSON_AddStringToObject(o, "kind", t.so_job ? "ScaledJob" : "ScaledObject");
        if (c->json) {
            cJSON_AddItemToArray(arr, o);
        } else {
            ctl_print_trigger_row(o, owner);
            cJSON_Delete(o);
        }
    }
    if (c->json)
        ctl_json_print(doc);
    else
        cJSON_Delete(doc);
    return 0;
}

int ctl_cmd_workers(const ctl_t *c)
{
    cJSON *doc = ctl_workers_json(c), *p;
    char a[32], b[32], d[32], e[32], f[32], g[32];

    if (c->json) {
        ctl_json_print(doc);
        return 0;
    }
    printf("%-5s %-12s %-16s %-6s %-8s %-9s %-9s %-10s %-9s %s\n", "SLOT", "ROLE", "TYPE", "SHARD",
           "PID", "STATE", "RESTARTS", "HEARTBEAT", "LASTEXIT", "TRIGGERS");
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(doc, "processes"))
    {
        char shard[40];
        char sh[32];
        snprintf(shard, sizeof shard, "%s%s", j_num(p, "shard", sh, sizeof sh),
                 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "suspect")) ? "/s" : "");
        printf("%-5s %-12s %-16s %-6s %-8s %-9s %-9s %-10s %-9s %s\n", j_num(p, "slot", e, 32),
               j_str(p, "role"), j_str(p, "type")[0] ? j_str(p, "type") : "-", shard,
               j_num(p, "pid", b, sizeof b), j_str(p, "state"), j_num(p, "restarts", d, 32),
               j_num(p, "heartbeat_age_ms", f, sizeof f), j_num(p, "last_exit", g, sizeof g),
               j_num(p, "triggers", a, sizeof a));
    }
    cJSON_Delete(doc);
    return 0;
}

int ctl_cmd_status(const ctl_t *c)
{
    shm_header_info_t h;
    shm_watcher_t w = {0};
    shm_index_stats_t ix;
    bool synced = shm_watcher_read(c->table, &w) == 0 && (w.flags & SHM_F_VALID) && w.synced;
    cJSON *doc = cJSON_CreateObject();

    shm_header_get(c->table, &h);
    shm_index_stats(c->table, &ix);
    cJSON_AddNumberToObject(doc, "layout_version", h.layout_version);
    cJSON_AddNumberToObject(doc, "table_bytes", (double)h.total_size);
    cJSON_AddNumberToObject(doc, "supervisor_pid", h.supervisor_pid);
    cJSON_AddNumberToObject(doc, "uptime_ms",
                            (double)ctl_age(c->now_real_ms, h.supervisor_start_real_ms));
    cJSON_AddNumberToObject(doc, "supervisor_heartbeat_age_ms",
                            (double)ctl_age(c->now_mono_ms, h.supervisor_heartbeat_mono_ms));
    cJSON_AddBoolToObject(doc, "watcher_synced", synced);
    cJSON_AddBoolToObject(doc, "leader", synced && w.leader);
    w.holder[sizeof w.holder - 1] = '\0'; /* another process wrote it */
    cJSON_AddStringToObject(doc, "lease_holder", w.holder);
    cJSON_AddItemToObject(doc, "watcher_pid",
                          w.flags & SHM_F_VALID ? cJSON_CreateNumber(w.pid) : cJSON_CreateNull());
    cJSON_AddItemToObject(doc, "watcher_last_relist_real_ms",
                          w.last_relist_real_ms ? cJSON_CreateNumber((double)w.last_relist_real_ms)
                                                : cJSON_CreateNull());
    cJSON_AddNumberToObject(doc, "watcher_scaledobjects", w.scaledobjects);
    cJSON_AddNumberToObject(doc, "watcher_triggers", w.triggers);
    cJSON_AddNumberToObject(doc, "watcher_not_ready", w.errors);
    cJSON_AddNumberToObject(doc, "scaledobjects", ctl_count_so(c));
    cJSON_AddNumberToObject(doc, "max_scaledobjects", h.caps.max_so);
    cJSON_AddNumberToObject(doc, "max_triggers", h.caps.max_trig);
    cJSON_AddNumberToObject(doc, "index_used", ix.used);
    cJSON_AddNumberToObject(doc, "index_tombstones", ix.tombstones);
    cJSON_AddBoolToObject(doc, "snapshot", c->snapshot);
    cJSON *ports = cJSON_AddObjectToObject(doc, "ports");
    cJSON_AddNumberToObject(ports, "secure", h.ports[SHM_PORT_SECURE]);
    cJSON_AddNumberToObject(ports, "webhook", h.ports[SHM_PORT_WEBHOOK]);
    cJSON_AddNumberToObject(ports, "metrics", h.ports[SHM_PORT_METRICS]);
    cJSON_AddNumberToObject(ports, "health", h.ports[SHM_PORT_HEALTH]);
    if (c->json) {
        ctl_json_print(doc);
        return 0;
    }
    printf("table:        layout %u, %llu bytes%s\n", h.layout_version,
           (unsigned long long)h.total_size, c->snapshot ? " (snapshot)" : "");
    printf("supervisor:   pid %d, up %llu s, heartbeat %llu ms ago\n", h.supervisor_pid,
           (unsigned long long)(ctl_age(c->now_real_ms, h.supervisor_start_real_ms) / 1000),
           (unsigned long long)ctl_age(c->now_mono_ms, h.supervisor_heartbeat_mono_ms));
    printf("watcher:      %s%s%s%s\n", synced ? "synced" : "not synced",
           synced && w.leader ? ", leader" : "", w.holder[0] ? "; Lease held by " : "", w.holder);
    printf("objects:      %u of %u ScaledObjects; index %u used, %u tombstones\n", ctl_count_so(c),
           h.caps.max_so, ix.used, ix.tombstones);
    printf("ports:        secure %u, webhook %u, metrics %u, health %u\n", h.ports[0], h.ports[1],
           h.ports[2], h.ports[3]);
    cJSON_Delete(doc);
    return 0;
}

int ctl_cmd_top(ctl_t *c, int iterations, int interval_ms)
{
    for (int i = 0; iterations <= 0 || i < iterations; i++) {
        struct timespec ts = {interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L};
        c->now_mono_ms = shm_now_mono_ms();
        c->now_real_ms = shm_now_real_ms();
        if (isatty(STDOUT_FILENO))
            fputs("\033[H\033[2J", stdout);
        ctl_cmd_ls(c);
        putchar('\n');
        ctl_cmd_triggers(c);
        putchar('\n');
        ctl_cmd_workers(c);
        fflush(stdout);
        if (c->snapshot || (iterations > 0 && i + 1 == iterations))
            break;
        nanosleep(&ts, NULL);
    }
    return 0;
}
