/*
 * worker: `ckeda --role=scaleworker --type=T --shard=K`, the process. One event loop (loop.c)
 * whose wait set holds the role's signal pipe, the liveness pipe, our doorbell ("your
 * assignment changed"), the DNS eventfd and the scalers' sockets. Each turn: take config
 * changes of our triggers (only when the table's change count moved), expire the polls past
 * their deadline, start the ones that are due (both from heaps: a turn's work does not grow with
 * the number of triggers), wait for I/O until the next deadline, heartbeat.
 *
 * Invariants: the heartbeat is written at least once a second while the loop runs (the wait is
 * capped at one second and each started poll heartbeats); a scaler that blocks stops it, which
 * is what the supervisor's watchdog is for. A released trigger is never written again (assign.c).
 */
#include "scaleworker/scaleworker.h"
#include "scaleworker/tls.h"
#include "scaleworker/net.h"
#include "scaleworker/sw_internal.h"

#include "common/fds.h"
#include "common/log.h"
#include "common/scaler_registry.h"
#include "common/sigpipe.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#define sw_worker_of(io, member) ((sw_worker_t *)((char *)(io)-offsetof(sw_worker_t, member)))

/* The signal pipe or the liveness pipe is ready: role_wait() (timeout 0) decides, as for every
 * role, whether we must exit. */
static void sw_on_control(sw_io_t *io, uint32_t revents)
{
    sw_worker_t *w = io->fd == FD_LIVENESS ? sw_worker_of(io, live_io) : sw_worker_of(io, sig_io);

    if (!role_wait(&w->ctx, NULL, 0, 0, NULL))
        w->stop = true;
}

static void sw_on_bell(sw_io_t *io, uint32_t revents)
{
    sw_worker_t *w = sw_worker_of(io, bell_io);

    role_bell_drain(FD_OWN_BELL);
    sw_assign_load(w);
}

int sw_worker_init(sw_worker_t *w)
{
    int r;

    if ((r = sw_loop_open()) < 0 || (r = sw_dns_init()) < 0)
        return log_error(r, "could not set up the event loop");
    if ((r = sw_assign_init(w)) < 0)
        return r;
    return 0;
}

/* The role's own descriptors (not in unit tests, which drive a worker without a supervisor). */
static int sw_worker_watch_role(sw_worker_t *w)
{
    int r;

    sw_io_init(&w->sig_io, sigpipe_fd(), sw_on_control);
    sw_io_init(&w->live_io, FD_LIVENESS, sw_on_control);
    sw_io_init(&w->bell_io, FD_OWN_BELL, sw_on_bell);
    if ((r = sw_io_want(&w->sig_io, SW_IO_READ)) < 0 ||
        (r = sw_io_want(&w->live_io, SW_IO_READ)) < 0 ||
        (r = sw_io_want(&w->bell_io, SW_IO_READ)) < 0)
        return log_error(r, "could not watch the role's descriptors");
    return 0;
}

void sw_worker_turn(sw_worker_t *w, int max_wait_ms)
{
    int timeout, r;
    bool more = sw_assign_refresh(w);

    timeout = sw_poll_due(w);
    if (more) /* configurations left to load: only look at I/O, then go on */
        timeout = 0;
    if (timeout > max_wait_ms)
        timeout = max_wait_ms;
    if (timeout > 1000)
        timeout = 1000;
    role_heartbeat(&w->ctx);
    if ((r = sw_loop_run(timeout)) < 0) {
        log_error(r, "the event loop failed");
        w->stop = true;
    }
    role_heartbeat(&w->ctx);
}

void sw_worker_fini(sw_worker_t *w)
{
    sw_io_stop(&w->sig_io);
    sw_io_stop(&w->live_io);
    sw_io_stop(&w->bell_io);
    sw_assign_free(w);
    w->auth = sw_auth_free(w->auth);
    sw_dns_fini();
    sw_loop_close();
}

int sw_main(int argc, char **argv)
{
    sw_worker_t w = {.blobs_fd = FD_BLOBS, .watcher_bell = FD_WATCHER_BELL};

    role_init(&w.ctx, argc, argv);
    if (!w.ctx.type || (w.type_id = scaler_type_id(w.ctx.type)) == SCALER_TYPE_NONE ||
        !(w.scaler = sw_scaler_find(w.ctx.type))) {
        log_error(-EINVAL, "unknown scaler type %s", w.ctx.type ? w.ctx.type : "(none)");
        return 78;
    }
    srandom((unsigned)getpid() ^ (unsigned)shm_now_real_ms()); /* jitter differs per worker */
    w.auth = sw_auth_new(&w.ctx.cfg, NULL, NULL);
    sw_tls_set_ca_dir(w.ctx.cfg.ca_dir);
    if (!w.auth || sw_worker_init(&w) < 0 || sw_worker_watch_role(&w) < 0)
        return 1;
    sw_assign_load(&w);
    log_info("scale worker (slot %u%s) started", w.ctx.slot, w.suspect ? ", suspect" : "");
    while (!w.stop)
        sw_worker_turn(&w, 1000);
    sw_worker_fini(&w);
    role_done(&w.ctx);
    return 0;
}
