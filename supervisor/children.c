/*
 * children: fork+exec of the roles, reaping, the restart policy, the watchdog and shutdown.
 *
 * Exit-code contract: 0 asked to stop; 1 clean failure (restart with backoff); 78
 * configuration error (not respawned); anything else or a signal is a crash. Crashes of the
 * watcher, the adapters and the webhook count toward the give-up limit (the supervisor then
 * exits non-zero and Kubernetes restarts the pod); a scale worker's never do: its crash is
 * charged to the triggers it had in flight, and it is restarted at once.
 */
#include "supervisor/sup_internal.h"

#include "common/fds.h"
#include "common/log.h"
#include "common/scaler_registry.h"
#include "common/sigpipe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

const char *sup_child_name(const sup_t *s, uint32_t slot, char *buf, size_t cap)
{
    const sup_child_t *c = &s->child[slot];
    if (c->role == SHM_ROLE_SCALEWORKER)
        snprintf(buf, cap, "scaleworker/%s/%u%s", scaler_type_name(c->type_id), c->shard,
                 c->suspect ? "/suspect" : "");
    else if (c->role == SHM_ROLE_ADAPTER)
        snprintf(buf, cap, "adapter/%u", slot - 1);
    else
        snprintf(buf, cap, "%s", shm_role_name(c->role));
    return buf;
}

void sup_child_publish(sup_t *s, uint32_t slot)
{
    const sup_child_t *c = &s->child[slot];
    shm_proc_ctl_t v = {
        .flags = c->role == SHM_ROLE_COUNT ? 0 : SHM_F_VALID,
        .role = c->role,
        .type_id = c->type_id,
        .shard = c->shard,
        .suspect = c->suspect,
        .pid = c->pid,
        .state = c->state,
        .restarts = c->restarts,
        .last_exit = c->last_exit,
        .assign_gen = c->assign_gen,
        .started_mono_ms = c->started_ms,
        .backoff_until_mono_ms = c->next_start_ms,
        .triggers = c->ntriggers,
    };
    shm_proc_ctl_write(s->table, slot, &v);
}

void sup_child_set_state(sup_t *s, uint32_t slot, shm_proc_state_t state, const char *why)
{
    sup_child_t *c = &s->child[slot];
    char name[96];

    if (c->state != state)
        log_info("%s: %s -> %s%s%s", sup_child_name(s, slot, name, sizeof name),
                 shm_proc_state_name(c->state), shm_proc_state_name(state), why ? ": " : "",
                 why ? why : "");
    c->state = state;
    sup_child_publish(s, slot);
}

/* In the forked child: move the inherited descriptors to their documented numbers and close
 * every other one but the executable's (close-on-exec). Returns the executable's descriptor. */
static int sup_child_fds(const sup_t *s, uint32_t slot)
{
    int exe = fcntl(s->exe_fd, F_DUPFD_CLOEXEC, 64);
    const sup_child_t *c = &s->child[slot];
    int map[FD_FIRST_FREE];
    bool worker = c->role == SHM_ROLE_SCALEWORKER, adapter = c->role == SHM_ROLE_ADAPTER;

    for (int i = 0; i < FD_FIRST_FREE; i++)
        map[i] = -1;
    map[FD_TABLE] = shm_table_fd(s->table);
    map[FD_OWN_BELL] = s->bells[slot];
    map[FD_LIVENESS] = s->live_r;
    if (worker || c->role == SHM_ROLE_WATCHER) {
        map[FD_BLOBS] = s->blob_dir;
        map[FD_WATCHER_BELL] = s->bell_watcher;
    }
    if (c->role == SHM_ROLE_WATCHER)
        map[FD_SUPERVISOR_BELL] = s->bell_sup;
    if (adapter) {
        map[FD_SECURE] = s->listen[SHM_PORT_SECURE];
        map[FD_METRICS] = s->listen[SHM_PORT_METRICS];
        map[FD_HEALTH] = s->listen[SHM_PORT_HEALTH];
    }
    if (c->role == SHM_ROLE_WEBHOOK)
        map[FD_WEBHOOK] = s->listen[SHM_PORT_WEBHOOK];
    /* Two passes: first above every target, then down, so no source is overwritten. */
    for (int i = 3; i < FD_FIRST_FREE; i++)
        if (map[i] >= 0 && (map[i] = fcntl(map[i], F_DUPFD, 64)) < 0)
            _exit(127);
    for (int i = 3; i < FD_FIRST_FREE; i++) {
        if (map[i] >= 0 && dup2(map[i], i) < 0)
            _exit(127);
        if (map[i] < 0)
            close(i);
    }
    if (exe < 0)
        _exit(127);
    close_range(FD_FIRST_FREE, (unsigned)exe - 1, 0);
    close_range((unsigned)exe + 1, ~0u, 0);
    return exe;
}

static void sup_child_exec(const sup_t *s, uint32_t slot)
{
    const sup_child_t *c = &s->child[slot];
    char role[32], sl[32], type[64], shard[32];
    char **argv = calloc(s->cfg_argc + 8, sizeof *argv);
    size_t n = 0;
    sigset_t none;

    int exe;

    if (!argv)
        _exit(127);
    exe = sup_child_fds(s, slot);
    sigpipe_reset();
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    snprintf(role, sizeof role, "--role=%s", shm_role_name(c->role));
    snprintf(sl, sizeof sl, "--slot=%u", slot);
    argv[n++] = "ckeda";
    argv[n++] = role;
    argv[n++] = sl;
    if (c->role == SHM_ROLE_SCALEWORKER) {
        snprintf(type, sizeof type, "--type=%s", scaler_type_name(c->type_id));
        snprintf(shard, sizeof shard, "--shard=%u", c->shard);
        argv[n++] = type;
        argv[n++] = shard;
    }
    memcpy(argv + n, s->cfg_argv, s->cfg_argc * sizeof *argv);
    fexecve(exe, argv, environ);
    _exit(127);
}

int sup_child_spawn(sup_t *s, uint32_t slot)
{
    sup_child_t *c = &s->child[slot];
    char name[96];
    pid_t pid;

    shm_proc_self_reset(s->table, slot);
    c->assign_gen++; /* the new process loads its assignment and acknowledges this */
    pid = fork();
    if (pid < 0)
        return log_error(-errno, "could not fork %s", sup_child_name(s, slot, name, sizeof name));
    if (pid == 0)
        sup_child_exec(s, slot);
    c->pid = pid;
    c->started_ms = shm_now_mono_ms();
    c->watchdog_fired = false;
    c->retiring = false;
    c->killed = false;
    sup_child_set_state(s, slot, SHM_PROC_RUNNING, NULL);
    return 0;
}

static void sup_child_schedule(sup_t *s, uint32_t slot, uint64_t now, uint32_t delay_ms,
                               const char *why)
{
    sup_child_t *c = &s->child[slot];
    c->next_start_ms = now + delay_ms;
    c->restarts++;
    sup_child_set_state(s, slot, SHM_PROC_BACKOFF, why);
}

static void sup_child_exited(sup_t *s, uint32_t slot, int status, uint64_t now)
{
    sup_child_t *c = &s->child[slot];
    int32_t code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    shm_proc_self_t self;
    unsigned repaired, charged = 0;
    char name[96], why[128];

    sup_child_name(s, slot, name, sizeof name);
    shm_proc_self_read(s->table, slot, &self);
    repaired = shm_repair(s->table, c->role, slot);
    c->pid = 0;
    c->last_exit = code;
    if (code < 0)
        snprintf(why, sizeof why, "killed by signal %d%s", -code,
                 c->watchdog_fired ? " (watchdog)" : "");
    else
        snprintf(why, sizeof why, "exited %d", code);
    if (repaired)
        log_warning(0, "%s left %u groups half-written; repaired", name, repaired);
    if (s->stopping || c->retiring) {
        sup_assign_forget(s, slot);
        c->role = c->retiring ? SHM_ROLE_COUNT : c->role;
        sup_child_set_state(s, slot, SHM_PROC_EMPTY, why);
        return;
    }
    if (code == 78) {
        sup_assign_forget(s, slot);
        sup_child_set_state(s, slot, SHM_PROC_DISABLED, "configuration error; not restarted");
        return;
    }
    if (code != 0 && c->role == SHM_ROLE_SCALEWORKER)
        charged = sup_assign_charge(s, slot, &self, code, now);
    if (code != 0 && c->role != SHM_ROLE_SCALEWORKER &&
        sup_crashes_add(&c->crashes, now, (uint64_t)s->cfg.give_up_window_s * 1000,
                        s->cfg.give_up_restarts)) {
        log_error(0, "%s failed %u times within %u s (%s); giving up", name,
                  s->cfg.give_up_restarts, s->cfg.give_up_window_s, why);
        sup_shutdown(s, 1, "give-up limit reached");
        return;
    }
    c->backoff_ms = sup_backoff_next(c->backoff_ms, now - c->started_ms);
    /* A crash charged to triggers is not the worker's fault: restart it at once. */
    sup_child_schedule(s, slot, now, charged ? 0 : c->backoff_ms, why);
}

void sup_children_reap(sup_t *s)
{
    uint64_t now = shm_now_mono_ms();
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (uint32_t i = 0; i < s->nproc; i++)
            if (s->child[i].pid == pid) {
                sup_child_exited(s, i, status, now);
                break;
            }
    }
}

static void sup_child_watchdog(sup_t *s, uint32_t slot, uint64_t now)
{
    sup_child_t *c = &s->child[slot];
    shm_proc_self_t self;
    uint64_t last;
    char name[96];

    if (c->watchdog_fired || c->state != SHM_PROC_RUNNING)
        return;
    shm_proc_self_read(s->table, slot, &self);
    last = self.heartbeat_mono_ms > c->started_ms ? self.heartbeat_mono_ms : c->started_ms;
    /* last may be newer than now, which was read before this tick started children or the
     * child beat: that is no silence (unsigned now - last would be) */
    if (last >= now || now - last <= s->cfg.watchdog_timeout_ms)
        return;
    log_error(0, "%s (pid %d) sent no heartbeat for %llu ms; killing it",
              sup_child_name(s, slot, name, sizeof name), (int)c->pid,
              (unsigned long long)(now - last));
    c->watchdog_fired = true;
    kill(c->pid, SIGKILL);
}

void sup_children_tick(sup_t *s, uint64_t now)
{
    for (uint32_t i = 0; i < s->nproc; i++) {
        sup_child_t *c = &s->child[i];
        if (c->role == SHM_ROLE_COUNT)
            continue;
        if (c->state == SHM_PROC_BACKOFF && now >= c->next_start_ms && !s->stopping)
            sup_child_spawn(s, i);
        else if (c->state == SHM_PROC_RUNNING)
            sup_child_watchdog(s, i, now);
    }
}

void sup_shutdown(sup_t *s, int exit_code, const char *why)
{
    if (s->stopping)
        return;
    log_info("stopping: %s", why);
    s->stopping = true;
    s->exit_code = exit_code;
    s->stop_deadline_ms = shm_now_mono_ms() + (uint64_t)s->cfg.grace_period_s * 1000;
    for (uint32_t i = 0; i < s->nproc; i++)
        if (s->child[i].pid > 0) {
            kill(s->child[i].pid, SIGTERM);
            sup_child_set_state(s, i, SHM_PROC_STOPPING, NULL);
        }
}

void sup_children_stop(sup_t *s, uint64_t now)
{
    if (now < s->stop_deadline_ms)
        return;
    for (uint32_t i = 0; i < s->nproc; i++)
        if (s->child[i].pid > 0 && !s->child[i].killed) {
            char name[96];
            log_warning(0, "%s did not stop within the grace period; killing it",
                        sup_child_name(s, i, name, sizeof name));
            kill(s->child[i].pid, SIGKILL);
            s->child[i].killed = true;
        }
}

bool sup_children_alive(const sup_t *s)
{
    for (uint32_t i = 0; i < s->nproc; i++)
        if (s->child[i].pid > 0)
            return true;
    return false;
}
