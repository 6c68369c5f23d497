/*
 * role: see role.h. Runs in every child of the supervisor.
 */
#include "common/role.h"

#include "common/fds.h"
#include "common/log.h"
#include "common/scaler_registry.h"
#include "common/sigpipe.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static const struct {
    const char *name;
    shm_role_t role;
} role_names[] = {{"watcher", SHM_ROLE_WATCHER},
                  {"scaleworker", SHM_ROLE_SCALEWORKER},
                  {"adapter", SHM_ROLE_ADAPTER},
                  {"webhook", SHM_ROLE_WEBHOOK}};

static void role_die(const char *what, int err)
{
    log_error(err, "%s", what);
    exit(78);
}

static int role_parse_own(role_ctx_t *ctx, const char *a)
{
    char *end;

    if (strncmp(a, "--role=", 7) == 0) {
        for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
            if (strcmp(a + 7, role_names[i].name) == 0) {
                ctx->role = role_names[i].role;
                return 0;
            }
        return -EINVAL;
    }
    if (strncmp(a, "--slot=", 7) == 0) {
        ctx->slot = (uint32_t)strtoul(a + 7, &end, 10);
        return *end || a[7] == '\0' ? -EINVAL : 0;
    }
    if (strncmp(a, "--shard=", 8) == 0) {
        ctx->shard = (uint32_t)strtoul(a + 8, &end, 10);
        return *end || a[8] == '\0' ? -EINVAL : 0;
    }
    if (strncmp(a, "--type=", 7) == 0) {
        ctx->type = a + 7;
        return 0;
    }
    return -ENOENT;
}

static void role_parse_args(role_ctx_t *ctx, int argc, char **argv)
{
    char err[512];

    for (int i = 1; i < argc;) {
        int r = role_parse_own(ctx, argv[i]);
        if (r == 0) {
            i++;
            continue;
        }
        if (r == -ENOENT)
            r = cfg_parse_flag(&ctx->cfg, argc, argv, &i, err, sizeof err);
        else
            snprintf(err, sizeof err, "bad argument %s", argv[i]);
        if (r == -ENOENT)
            snprintf(err, sizeof err, "unknown argument %s", argv[i]);
        if (r < 0) {
            fprintf(stderr, "ckeda: %s\n", err);
            exit(78);
        }
    }
}

static void role_setup_log(role_ctx_t *ctx)
{
    char who[64];
    log_format_t fmt = LOG_FORMAT_TEXT;
    int level = LOG_LEVEL_INFO;

    log_format_parse(ctx->cfg.log_format, &fmt);
    log_level_parse(ctx->cfg.log_level, &level);
    if (ctx->role == SHM_ROLE_SCALEWORKER)
        snprintf(who, sizeof who, "scaleworker/%s/%u", ctx->type ? ctx->type : "?", ctx->shard);
    else
        snprintf(who, sizeof who, "%s", shm_role_name(ctx->role));
    log_setup(who, fmt, level);
}

void role_init(role_ctx_t *ctx, int argc, char **argv)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    shm_header_info_t hi;
    int r;

    memset(ctx, 0, sizeof *ctx);
    ctx->role = SHM_ROLE_COUNT;
    ctx->slot = SHM_NONE;
    cfg_defaults(&ctx->cfg);
    role_parse_args(ctx, argc, argv);
    if (ctx->role == SHM_ROLE_COUNT || ctx->slot == SHM_NONE)
        role_die("--role and --slot are required", -EINVAL);
    role_setup_log(ctx);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1 && getpid() != 1)
        role_die("the supervisor is already gone", -ESRCH);
    if ((r = sigpipe_setup(sigs, 3)) < 0)
        role_die("could not install signal handlers", r);
    if ((r = shm_table_attach_fd(FD_TABLE, &ctx->table)) < 0)
        role_die("could not attach the table inherited on descriptor 3", r);
    shm_header_get(ctx->table, &hi);
    if (hi.registry_hash != scaler_registry_hash())
        role_die("the table was made by a different build (scaler registry differs)", -EPROTO);
    if (ctx->slot >= hi.caps.max_proc)
        role_die("--slot is outside the table", -ERANGE);
    if ((r = shm_table_protect(ctx->table, ctx->role)) < 0)
        role_die("could not protect the table", r);
    role_heartbeat(ctx);
}

void role_heartbeat(role_ctx_t *ctx)
{
    shm_proc_heartbeat(ctx->table, ctx->slot, shm_now_mono_ms());
}

void role_pollfds(struct pollfd ret[ROLE_POLLFDS])
{
    ret[0] = (struct pollfd){.fd = sigpipe_fd(), .events = POLLIN};
    ret[1] = (struct pollfd){.fd = FD_LIVENESS, .events = POLLIN};
}

bool role_pollfds_check(const struct pollfd pfd[ROLE_POLLFDS])
{
    if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        log_info("the supervisor is gone; exiting");
        return false;
    }
    if (pfd[0].revents & POLLIN) {
        bool term = (int)sigpipe_take(SIGTERM) | (int)sigpipe_take(SIGINT); /* both taken */
        if (term)
            return false;
    }
    return true;
}

bool role_wait(role_ctx_t *ctx, const int *fds, int nfds, int timeout_ms, bool *ret_ready)
{
    struct pollfd pfd[16];
    int n = ROLE_POLLFDS;

    role_pollfds(pfd);
    for (int i = 0; i < nfds && n < 16; i++)
        pfd[n++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    if (ret_ready)
        *ret_ready = false;
    if (poll(pfd, (nfds_t)n, timeout_ms) < 0)
        return errno == EINTR;
    if (!role_pollfds_check(pfd))
        return false;
    for (int i = ROLE_POLLFDS; i < n && ret_ready; i++)
        if (pfd[i].revents)
            *ret_ready = true;
    return true;
}

uint64_t role_bell_drain(int fd)
{
    uint64_t v = 0;
    if (read(fd, &v, sizeof v) != sizeof v)
        return 0;
    return v;
}

void role_bell_ring(int fd)
{
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w; /* a saturated counter already wakes the reader */
}

int role_idle_main(role_ctx_t *ctx)
{
    int bell = FD_OWN_BELL;
    bool ready;

    log_info("attached (slot %u); waiting for work", ctx->slot);
    while (role_wait(ctx, &bell, 1, 1000, &ready)) {
        if (ready)
            role_bell_drain(bell);
        role_heartbeat(ctx);
    }
    role_done(ctx);
    return 0;
}

void role_done(role_ctx_t *ctx)
{
    shm_table_close(ctx->table);
    ctx->table = NULL;
}
