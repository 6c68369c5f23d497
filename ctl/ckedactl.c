/*
 * ckedactl: entry point. Opens a live table read-only by name (--shm-name, default "ckeda") or
 * a snapshot (--snapshot F), then runs one command. Never writes to a live table.
 */
#include "ctl/ctl.h"

#include "common/scaler_registry.h"
#include "shm/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fputs("usage: ckedactl [--shm-name N | --snapshot F] [-o json] COMMAND\n"
          "commands:\n"
          "  status              the table, the supervisor and the watcher\n"
          "  ls                  ScaledObjects\n"
          "  get NS/NAME         one ScaledObject and its triggers\n"
          "  triggers            every trigger: value, state, age, errors, worker\n"
          "  workers             every process: role, pid, state, restarts, heartbeat\n"
          "  top [-n N]          ls, triggers and workers, refreshed every second\n"
          "  check               invariants; exit 1 on a violation\n"
          "  snapshot save F     write the table, LZ4-compressed, to F\n"
          "  snapshot show F     status, ls, triggers and workers of a snapshot\n",
          stderr);
    return 2;
}

static int ctl_open(ctl_t *c, const char *shm_name, const char *snapshot)
{
    shm_snapshot_info_t info;
    shm_header_info_t h;
    int r;

    if (snapshot) {
        r = shm_snapshot_load(snapshot, &c->table, &info);
        if (r < 0) {
            fprintf(stderr, "ckedactl: cannot read snapshot %s: %s\n", snapshot,
                    r == -EBADMSG  ? "corrupt or not a ckeda snapshot"
                    : r == -EPROTO ? "unknown snapshot format version (corrupt, or written by "
                                     "another ckeda version)"
                                   : strerror(-r));
            return 1;
        }
        c->snapshot = true;
        c->now_mono_ms = info.saved_mono_ms;
        c->now_real_ms = info.saved_real_ms;
    } else {
        r = shm_table_open_readonly(shm_name, &c->table);
        if (r < 0) {
            fprintf(stderr, "ckedactl: cannot open table \"%s\": %s\n", shm_name,
                    r == -ENOENT ? "no such table (is ckeda running?)" : strerror(-r));
            return 1;
        }
        c->now_mono_ms = shm_now_mono_ms();
        c->now_real_ms = shm_now_real_ms();
    }
    shm_header_get(c->table, &h);
    if (h.registry_hash != scaler_registry_hash())
        fprintf(stderr, "ckedactl: warning: the table was made by a different ckeda build; "
                        "scaler type names may be wrong\n");
    return 0;
}

static int ctl_snapshot(ctl_t *c, int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[0], "save") == 0) {
        int r = shm_snapshot_save(c->table, argv[1]);
        if (r < 0) {
            fprintf(stderr, "ckedactl: cannot write %s: %s\n", argv[1], strerror(-r));
            return 1;
        }
        printf("saved %s\n", argv[1]);
        return 0;
    }
    return usage();
}

static int ctl_dispatch(ctl_t *c, int argc, char **argv)
{
    const char *cmd = argv[0];

    if (strcmp(cmd, "status") == 0)
        return ctl_cmd_status(c);
    if (strcmp(cmd, "ls") == 0)
        return ctl_cmd_ls(c);
    if (strcmp(cmd, "get") == 0)
        return argc > 1 ? ctl_cmd_get(c, argv[1]) : usage();
    if (strcmp(cmd, "triggers") == 0)
        return ctl_cmd_triggers(c);
    if (strcmp(cmd, "workers") == 0)
        return ctl_cmd_workers(c);
    if (strcmp(cmd, "check") == 0)
        return ctl_cmd_check(c);
    if (strcmp(cmd, "top") == 0) {
        int n = argc > 2 && strcmp(argv[1], "-n") == 0 ? atoi(argv[2]) : 0;
        return ctl_cmd_top(c, n, 1000);
    }
    if (strcmp(cmd, "snapshot") == 0)
        return ctl_snapshot(c, argc - 1, argv + 1);
    return usage();
}

int main(int argc, char **argv)
{
    const char *shm_name = getenv("CKEDA_SHM_NAME"), *snapshot = NULL;
    ctl_t c = {0};
    int i = 1, r;

    if (!shm_name || !*shm_name)
        shm_name = "ckeda";
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--shm-name") == 0 && i + 1 < argc)
            shm_name = argv[++i];
        else if (strcmp(argv[i], "--snapshot") == 0 && i + 1 < argc)
            snapshot = argv[++i];
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc && strcmp(argv[i + 1], "json") == 0)
            c.json = ++i > 0;
        else
            return usage();
    }
    if (i >= argc)
        return usage();
    /* `snapshot show F` is `--snapshot F top -n 1`: it reads the file, not a table. */
    if (strcmp(argv[i], "snapshot") == 0 && i + 2 < argc && strcmp(argv[i + 1], "show") == 0)
        snapshot = argv[i + 2];
    if ((r = ctl_open(&c, shm_name, snapshot)) != 0)
        return r;
    if (snapshot && strcmp(argv[i], "snapshot") == 0) {
        if (!c.json) {
            ctl_cmd_status(&c);
            putchar('\n');
        }
        r = c.json ? ctl_cmd_ls(&c) : ctl_cmd_top(&c, 1, 0);
    } else {
        r = ctl_dispatch(&c, argc - i, argv + i);
    }
    shm_table_close(c.table);
    return r;
}
