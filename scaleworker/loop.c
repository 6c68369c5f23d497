/*
 * loop: the scale worker's one event loop, an epoll set (level-triggered) of sw_io_t
 * registrations: the role's signal pipe, liveness pipe and doorbell, the DNS eventfd and every
 * scaler socket. Runs in the scale worker process; single-threaded.
 *
 * Invariant: once sw_io_stop() returns, no callback runs for that registration, even when an
 * event for it was already fetched in the batch being dispatched (the batch entry is cleared),
 * so a callback may free another registration's owner.
 */
#include "scaleworker/sw_internal.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#define SW_LOOP_BATCH 64

static int sw_epfd = -1;
static struct epoll_event sw_batch[SW_LOOP_BATCH];
static int sw_batch_n, sw_batch_i; /* the batch being dispatched, and where */

int sw_loop_open(void)
{
    if (sw_epfd >= 0)
        return 0;
    sw_epfd = epoll_create1(EPOLL_CLOEXEC);
    return sw_epfd < 0 ? -errno : 0;
}

void sw_loop_close(void)
{
    if (sw_epfd >= 0)
        close(sw_epfd);
    sw_epfd = -1;
    sw_batch_n = sw_batch_i = 0;
}

void sw_io_init(sw_io_t *io, int fd, sw_io_fn cb)
{
    *io = (sw_io_t){.fd = fd, .cb = cb};
}

int sw_io_want(sw_io_t *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};

    if (sw_epfd < 0 || io->fd < 0)
        return -EBADF;
    if (io->added && io->events == events)
        return 0;
    if (epoll_ctl(sw_epfd, io->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, io->fd, &ev) < 0)
        return -errno;
    io->added = true;
    io->events = events;
    return 0;
}

void sw_io_stop(sw_io_t *io)
{
    if (!io->added)
        return;
    if (sw_epfd >= 0 && io->fd >= 0)
        epoll_ctl(sw_epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->added = false;
    io->events = 0;
    for (int i = sw_batch_i; i < sw_batch_n; i++)
        if (sw_batch[i].data.ptr == io)
            sw_batch[i].data.ptr = NULL;
}

int sw_loop_run(int timeout_ms)
{
    int n, ran = 0;

    if (sw_epfd < 0)
        return -EBADF;
    n = epoll_wait(sw_epfd, sw_batch, SW_LOOP_BATCH, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    sw_batch_n = n;
    for (sw_batch_i = 0; sw_batch_i < sw_batch_n;) {
        struct epoll_event ev = sw_batch[sw_batch_i++];
        sw_io_t *io = ev.data.ptr;
        if (!io || !io->added)
            continue;
        /* Report only what was asked for, plus errors (which level-triggering repeats). */
        uint32_t re = ev.events & (io->events | EPOLLERR | EPOLLHUP);
        if (re) {
            io->cb(io, re);
            ran++;
        }
    }
    sw_batch_n = sw_batch_i = 0;
    return ran;
}
