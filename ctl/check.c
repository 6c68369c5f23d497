/*
 * check: invariants of a live table, for operators and tests. Exit 1 on a violation:
 *   - the header validates (done on open) and the supervisor heartbeats;
 *   - no group stays odd for longer than a moment (a writer that died mid-write and was never
 *     repaired);
 *   - no orphan trigger (a valid trigger config whose ScaledObject slot is invalid or of
 *     another generation);
 *   - every running process heartbeats.
 */
#include "ctl/ctl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define CHECK_ODD_GRACE_MS   200
#define CHECK_HEARTBEAT_MAX  15000
#define CHECK_SUPERVISOR_MAX 5000

static unsigned check_odd(const ctl_t *c)
{
    shm_odd_group_t first[64], again[64];
    unsigned n1 = shm_odd_groups(c->table, first, 64), bad = 0;
    struct timespec ts = {0, CHECK_ODD_GRACE_MS * 1000000L};

    if (n1 == 0)
        return 0;
    if (!c->snapshot)
        nanosleep(&ts, NULL);
    unsigned n2 = shm_odd_groups(c->table, again, 64);
    for (unsigned i = 0; i < n1 && i < 64; i++)
        for (unsigned j = 0; j < n2 && j < 64; j++)
            if (first[i].region == again[j].region && first[i].entry == again[j].entry) {
                printf("odd sequence: %s[%u] stays half-written\n", again[j].region,
                       again[j].entry);
                bad++;
            }
    return bad;
}

static unsigned check_orphans(const ctl_t *c)
{
    unsigned bad = 0;
    for (uint32_t i = 0; i < shm_table_caps(c->table)->max_trig; i++) {
        shm_trig_cfg_t t;
        shm_so_spec_t so;
        if (shm_trig_cfg_read(c->table, i, &t) < 0 || !(t.flags & SHM_F_VALID))
            continue;
        if (shm_so_spec_read(c->table, t.so_slot, &so) == 0 && (so.flags & SHM_F_VALID) &&
            so.generation == t.so_generation)
            continue;
        printf("orphan trigger: slot %u (%s) belongs to no live ScaledObject\n", i, t.type);
        bad++;
    }
    return bad;
}

static unsigned check_heartbeats(const ctl_t *c)
{
    shm_header_info_t h;
    unsigned bad = 0;

    shm_header_get(c->table, &h);
    if (c->now_mono_ms > h.supervisor_heartbeat_mono_ms &&
        c->now_mono_ms - h.supervisor_heartbeat_mono_ms > CHECK_SUPERVISOR_MAX) {
        printf("supervisor (pid %d): no heartbeat for %llu ms\n", h.supervisor_pid,
               (unsigned long long)(c->now_mono_ms - h.supervisor_heartbeat_mono_ms));
        bad++;
    }
    for (uint32_t i = 0; i < h.caps.max_proc; i++) {
        shm_proc_ctl_t pc;
        shm_proc_self_t self;
        if (shm_proc_ctl_read(c->table, i, &pc) < 0 || !(pc.flags & SHM_F_VALID) ||
            pc.state != SHM_PROC_RUNNING)
            continue;
        shm_proc_self_read(c->table, i, &self);
        uint64_t last = self.heartbeat_mono_ms > pc.started_mono_ms ? self.heartbeat_mono_ms
                                                                    : pc.started_mono_ms;
        if (c->now_mono_ms > last && c->now_mono_ms - last > CHECK_HEARTBEAT_MAX) {
            printf("process slot %u (%s, pid %d): no heartbeat for %llu ms\n", i,
                   shm_role_name(pc.role), pc.pid, (unsigned long long)(c->now_mono_ms - last));
            bad++;
        }
    }
    return bad;
}

int ctl_cmd_check(const ctl_t *c)
{
    unsigned bad = check_odd(c) + check_orphans(c) + check_heartbeats(c);

    printf("%s: %u violation%s\n", bad ? "FAIL" : "ok", bad, bad == 1 ? "" : "s");
    return bad ? 1 : 0;
}
