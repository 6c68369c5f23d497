/*
 * supervisor: `ckeda run`. Start-up (configuration, table, sockets, eventfds), the main loop,
 * and shutdown. Signal handlers only mark and wake (sigpipe); this loop does the work.
 * Nothing is allocated after the first fork.
 */
#include "supervisor/sup_internal.h"

#include "common/fds.h"
#include "common/log.h"
#include "common/role.h"
#include "common/scaler_registry.h"
#include "common/sigpipe.h"
#include "shm/blob.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define SUP_TICK_MS 500

static int sup_usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "ckeda run: %s\n", msg);
    fprintf(stderr, "usage: ckeda run [--config FILE.yaml] [flags]\n\nflags:\n");
    cfg_usage();
    return 78;
}

/* defaults < YAML file < environment < flags. */
static int sup_config(sup_t *s, int argc, char **argv)
{
    char err[1024];
    const char *file = NULL;
    int r;

    cfg_defaults(&s->cfg);
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    if (file && cfg_load_file(&s->cfg, file, err, sizeof err) < 0)
        return sup_usage(err);
    if (cfg_load_env(&s->cfg, err, sizeof err) < 0)
        return sup_usage(err);
    for (int i = 2; i < argc;) {
        if (strcmp(argv[i], "--config") == 0) {
            i += 2;
            continue;
        }
        if (strncmp(argv[i], "--config=", 9) == 0) {
            i++;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            sup_usage(NULL);
            exit(0);
        }
        r = cfg_parse_flag(&s->cfg, argc, argv, &i, err, sizeof err);
        if (r == -ENOENT)
            snprintf(err, sizeof err, "unknown flag %s", argv[i]);
        if (r < 0)
            return sup_usage(err);
    }
    if (cfg_validate(&s->cfg, err, sizeof err) < 0)
        return sup_usage(err);
    return 0;
}

static void sup_log_setup(const cfg_t *c)
{
    log_format_t fmt = LOG_FORMAT_TEXT;
    int level = LOG_LEVEL_INFO;
    log_format_parse(c->log_format, &fmt);
    log_level_parse(c->log_level, &level);
    log_setup("supervisor", fmt, level);
}

static int sup_table(sup_t *s)
{
    shm_caps_t caps = {.max_so = s->cfg.max_scaledobjects,
                       .max_trig = s->cfg.max_triggers,
                       .max_proc = s->cfg.max_processes,
                       .max_trig_per_so = s->cfg.max_triggers_per_scaledobject};
    int r = shm_table_create(s->cfg.shm_name, &caps, &s->table);

    if (r == -EBUSY)
        return log_error(r, "the table \"%s\" belongs to another running instance",
                         s->cfg.shm_name);
    if (r == -ENOSPC)
        return log_error(r, "/dev/shm cannot hold the table \"%s\": %zu bytes needed",
                         s->cfg.shm_name, shm_table_size(&caps));
    if (r < 0)
        return log_error(r, "could not create the table \"%s\"", s->cfg.shm_name);
    shm_header_set_supervisor(s->table, getpid(), shm_now_real_ms());
    shm_header_set_registry_hash(s->table, scaler_registry_hash());
    log_info("table \"%s\": %zu bytes (%u ScaledObjects, %u triggers, %u processes)",
             s->cfg.shm_name, shm_table_size(&caps), caps.max_so, caps.max_trig, caps.max_proc);
    r = shm_blob_dir_create(s->cfg.shm_name, &s->blob_dir);
    if (r < 0)
        return log_error(r, "could not create the config-blob directory of \"%s\"",
                         s->cfg.shm_name);
    return 0;
}

static int sup_descriptors(sup_t *s)
{
    int pipefd[2];

    s->exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    s->bell_watcher = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    s->bell_sup = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->exe_fd < 0 || s->bell_watcher < 0 || s->bell_sup < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
        return log_error(-errno, "could not create descriptors");
    s->live_r = pipefd[0];
    s->live_w = pipefd[1];
    for (uint32_t i = 0; i < s->nproc; i++)
        if ((s->bells[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
            return log_error(-errno, "could not create eventfds");
    return 0;
}

static int sup_alloc(sup_t *s)
{
    s->nproc = s->cfg.max_processes;
    s->first_worker = 2 + s->cfg.adapters; /* watcher, adapters, webhook */
    s->child = calloc(s->nproc, sizeof *s->child);
    s->bells = calloc(s->nproc, sizeof *s->bells);
    s->cfg_argv = calloc(64, sizeof *s->cfg_argv);
    if (!s->child || !s->bells || !s->cfg_argv)
        return -ENOMEM;
    for (uint32_t i = 0; i < s->nproc; i++)
        s->child[i] = (sup_child_t){.role = SHM_ROLE_COUNT, .last_exit = INT32_MIN};
    return cfg_to_argv(&s->cfg, s->cfg_argv, 64, &s->cfg_argc);
}

static int sup_start_roles(sup_t *s)
{
    s->child[0].role = SHM_ROLE_WATCHER;
    for (uint32_t i = 0; i < s->cfg.adapters; i++)
        s->child[1 + i].role = SHM_ROLE_ADAPTER;
    s->child[1 + s->cfg.adapters].role = SHM_ROLE_WEBHOOK;
    for (uint32_t i = 0; i < s->first_worker; i++) {
        int r = sup_child_spawn(s, i);
        if (r < 0)
            return r;
    }
    return 0;
}

static int sup_timeout(const sup_t *s, uint64_t now)
{
    uint64_t next = now + SUP_TICK_MS;
    for (uint32_t i = 0; i < s->nproc; i++)
        if (s->child[i].state == SHM_PROC_BACKOFF && s->child[i].next_start_ms < next)
            next = s->child[i].next_start_ms;
    return next > now ? (int)(next - now) : 0;
}

static void sup_loop(sup_t *s)
{
    uint64_t last_scan = 0;

    for (;;) {
        uint64_t now = shm_now_mono_ms();
        struct pollfd pfd[2] = {{.fd = sigpipe_fd(), .events = POLLIN},
                                {.fd = s->bell_sup, .events = POLLIN}};
        if (poll(pfd, 2, sup_timeout(s, now)) < 0 && errno != EINTR)
            log_error(-errno, "poll");
        now = shm_now_mono_ms();
        shm_header_heartbeat(s->table, now);
        if (pfd[0].revents & POLLIN) {
            bool term = (int)sigpipe_take(SIGTERM) | (int)sigpipe_take(SIGINT); /* both taken */
            sigpipe_take(SIGCHLD);
            sup_children_reap(s);
            if (term)
                sup_shutdown(s, 0, "asked to stop");
        }
        if (s->stopping) {
            sup_children_stop(s, now);
            if (!sup_children_alive(s))
                return;
            continue;
        }
        sup_children_tick(s, now);
        if ((pfd[1].revents & POLLIN) || now - last_scan >= SUP_TICK_MS) {
            role_bell_drain(s->bell_sup);
            sup_assign_scan(s, now);
            last_scan = now;
        }
    }
}

static void sup_cleanup(sup_t *s)
{
    if (s->table && !s->cfg.keep_table) {
        shm_table_unlink(s->cfg.shm_name);
        shm_blob_dir_remove(s->cfg.shm_name);
    } else if (s->table) {
        log_info("keeping the table \"%s\" for post-mortem", s->cfg.shm_name);
    }
    shm_table_close(s->table);
}

/* The start-up allocations (sup_alloc) live until exit. They are freed on every way out so
 * that a leak checker (LeakSanitizer in the sanitizer build turns a leak into exit 1) never
 * changes the exit code the contract promises: 0, 1 or 78. */
static void sup_free(sup_t *s)
{
    for (size_t i = 0; s->cfg_argv && i < s->cfg_argc; i++)
        free(s->cfg_argv[i]);
    free(s->cfg_argv);
    free(s->bells);
    free(s->child);
}

int sup_run(int argc, char **argv)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGCHLD, SIGHUP};
    sup_t s = {.blob_dir = -1};
    int r;

    if ((r = sup_config(&s, argc, argv)) != 0)
        return r;
    sup_log_setup(&s.cfg);
    if (sigpipe_setup(sigs, 4) < 0 || sup_alloc(&s) < 0) {
        r = 1;
        goto out;
    }
    if (sup_table(&s) < 0) {
        r = 78;
        goto out;
    }
    if (sup_sockets_bind(&s) < 0 || sup_descriptors(&s) < 0) {
        sup_cleanup(&s);
        r = 78;
        goto out;
    }
    log_info("ckeda %s supervisor (pid %d) starting", CKEDA_VERSION, (int)getpid());
    if (sup_start_roles(&s) < 0)
        sup_shutdown(&s, 1, "could not start the roles");
    sup_loop(&s);
    sup_cleanup(&s);
    log_info("stopped (exit %d)", s.exit_code);
    r = s.exit_code;
out:
    sup_free(&s);
    return r;
}
