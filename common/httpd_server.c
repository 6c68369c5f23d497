/*
 * httpd_server: httpd's event loop (the serving role's process, its one event-loop thread).
 *
 * One epoll set holds the inherited listening sockets, every connection and the role's own
 * descriptors (signal self-pipe, liveness pipe, eventfds of its threads). The listeners may be
 * shared by several processes (the adapters): they are registered with EPOLLEXCLUSIVE, so one
 * process wakes per incoming connection, and they are non-blocking, so a connection another
 * process took first is just EAGAIN. Connections queued in the kernel outlive a crashed
 * process and are served by its siblings or its successor.
 *
 * Timers are per-state FIFO lists (httpd_conn.c); the loop sleeps until the earliest deadline
 * or the next tick. When a watched descriptor's callback says stop, the server stops
 * accepting, lets responses in progress finish for up to HTTPD_DRAIN_MS and returns.
 */
#include "common/httpd_internal.h"

#include "common/fds.h"
#include "common/log.h"
#include "common/sigpipe.h"
#include "shm/shm.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTPD_EVENTS 256

static int server_epoll_add(httpd_server_t *s, int fd, uint32_t events, void *tag)
{
    struct epoll_event ev = {.events = events, .data.ptr = tag};
    return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void server_arm(httpd_server_t *s, httpd_listener_t *l, bool on)
{
    if (l->cfg.fd < 0 || l->armed == on)
        return;
    if (on && server_epoll_add(s, l->cfg.fd, EPOLLIN | EPOLLEXCLUSIVE, l) < 0)
        return;
    if (!on)
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, l->cfg.fd, NULL);
    l->armed = on;
}

static void server_arm_all(httpd_server_t *s, bool on)
{
    for (unsigned i = 0; i < s->cfg.nlisteners; i++)
        server_arm(s, &s->listeners[i], on);
}

static void server_accept(httpd_server_t *s, httpd_listener_t *l)
{
    for (int i = 0; i < HTTPD_ACCEPTS_PER_WAKEUP && s->nconns < s->cfg.conns_max; i++) {
        int fd = accept4(l->cfg.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            httpd_conn_accept(s, l, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            log_warning(-errno, "accept");
        return;
    }
    if (s->nconns >= s->cfg.conns_max) { /* let sibling processes take the next ones */
        log_warning(0, "%u connections: not accepting more until some close", s->nconns);
        server_arm_all(s, false);
    }
}

httpd_server_t *httpd_server_new(const httpd_config_t *cfg)
{
    httpd_server_t *s;

    if (cfg->nlisteners > HTTPD_LISTENERS_MAX || !cfg->serve) {
        log_error(-EINVAL, "bad HTTP server configuration");
        return NULL;
    }
    if (!(s = calloc(1, sizeof *s))) {
        log_error(-ENOMEM, "cannot create the HTTP server");
        return NULL;
    }
    s->cfg = *cfg;
    if (!s->cfg.tick_ms)
        s->cfg.tick_ms = 500;
    if (!s->cfg.conns_max)
        s->cfg.conns_max = HTTPD_CONNS_MAX;
    s->timeouts[HTTPD_T_HEADER] = HTTPD_HEADER_TIMEOUT_MS;
    s->timeouts[HTTPD_T_IDLE] = HTTPD_IDLE_TIMEOUT_MS;
    s->timeouts[HTTPD_T_WRITE] = HTTPD_WRITE_TIMEOUT_MS;
    s->timeouts[HTTPD_T_WAIT] = cfg->wait_timeout_ms ? cfg->wait_timeout_ms : 15000;
    if ((s->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        log_error(-errno, "epoll_create1");
        free(s);
        return NULL;
    }
    for (unsigned i = 0; i < cfg->nlisteners; i++)
        s->listeners[i] = (httpd_listener_t){HTTPD_EV_LISTENER, cfg->listeners[i], false};
    server_arm_all(s, true);
    return s;
}

int httpd_server_watch(httpd_server_t *s, int fd, bool (*fn)(void *arg, uint64_t now_ms), void *arg,
                       bool keep_in_drain)
{
    httpd_watch_t *w;

    if (s->nwatches >= HTTPD_WATCH_MAX)
        return -ENOSPC;
    w = &s->watches[s->nwatches];
    *w = (httpd_watch_t){HTTPD_EV_WATCH, fd, fn, arg, keep_in_drain};
    int r = server_epoll_add(s, fd, EPOLLIN, w);
    if (r == 0)
        s->nwatches++;
    return r;
}

/* Milliseconds until the earliest deadline or tick. */
static int server_timeout(httpd_server_t *s, uint64_t now, uint64_t next_tick)
{
    uint64_t next = next_tick;

    for (int t = 0; t < HTTPD_T_COUNT; t++) {
        uint64_t d;
        if (httpd_timer_first(s, (httpd_timer_t)t, &d) && d < next)
            next = d;
    }
    return next > now ? (int)(next - now) : 0;
}

static void server_expire(httpd_server_t *s, uint64_t now)
{
    for (int t = 0; t < HTTPD_T_COUNT; t++) {
        httpd_conn_t *c;
        uint64_t d;
        while ((c = httpd_timer_first(s, (httpd_timer_t)t, &d)) && d <= now)
            httpd_conn_expire(c);
    }
}

/* Handles one epoll event; false when the server should stop. */
static bool server_event(httpd_server_t *s, struct epoll_event *e, uint64_t now)
{
    httpd_ev_t kind = *(httpd_ev_t *)e->data.ptr;
    httpd_watch_t *w;

    switch (kind) {
    case HTTPD_EV_LISTENER:
        if (!s->stopping)
            server_accept(s, e->data.ptr);
        return true;
    case HTTPD_EV_CONN:
        httpd_conn_event(e->data.ptr, e->events);
        return true;
    default:
        w = e->data.ptr;
        return w->fn(w->arg, now);
    }
}

static void server_drain(httpd_server_t *s)
{
    uint64_t until = shm_now_mono_ms() + HTTPD_DRAIN_MS;
    struct epoll_event ev[HTTPD_EVENTS];

    s->stopping = true;
    server_arm_all(s, false);
    for (unsigned i = 0; i < s->nwatches; i++)
        if (!s->watches[i].keep_in_drain)
            epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->watches[i].fd, NULL);
    httpd_conn_close_idle(s);
    while (s->nconns > 0 && shm_now_mono_ms() < until) {
        int n = epoll_wait(s->epfd, ev, HTTPD_EVENTS, 100);
        uint64_t now = shm_now_mono_ms();
        for (int i = 0; i < n; i++)
            server_event(s, &ev[i], now); /* a second "stop" changes nothing */
        httpd_conn_close_idle(s);
        server_expire(s, now);
    }
}

void httpd_server_run(httpd_server_t *s)
{
    struct epoll_event ev[HTTPD_EVENTS];
    uint64_t next_tick = 0;
    bool running = true;

    while (running) {
        uint64_t now = shm_now_mono_ms();
        int n = epoll_wait(s->epfd, ev, HTTPD_EVENTS, server_timeout(s, now, next_tick));
        if (n < 0 && errno != EINTR)
            log_warning(-errno, "epoll_wait");
        now = shm_now_mono_ms();
        for (int i = 0; i < n && running; i++)
            running = server_event(s, &ev[i], now);
        server_expire(s, now);
        if (now >= next_tick) {
            if (s->cfg.tick)
                s->cfg.tick(s->cfg.ud, now);
            if (s->nconns < s->cfg.conns_max - s->cfg.conns_max / 10)
                server_arm_all(s, true);
            next_tick = now + s->cfg.tick_ms;
        }
    }
    server_drain(s);
}

unsigned httpd_server_conns(const httpd_server_t *s)
{
    return s->nconns;
}

uint64_t httpd_server_requests(const httpd_server_t *s)
{
    return s->requests;
}

void httpd_server_free(httpd_server_t *s)
{
    if (!s)
        return;
    for (int t = 0; t < HTTPD_T_COUNT; t++) {
        httpd_conn_t *c;
        uint64_t d;
        while ((c = httpd_timer_first(s, (httpd_timer_t)t, &d)))
            httpd_conn_close(c);
    }
    if (s->epfd >= 0)
        close(s->epfd);
    free(s);
}

/* ---- a role's standing watches ---- */

static bool httpd_on_signal(void *arg, uint64_t now)
{
    if (sigpipe_take(SIGHUP))
        httpd_tls_maybe_reload(arg, now, true);
    return !((int)sigpipe_take(SIGTERM) | (int)sigpipe_take(SIGINT)); /* both taken */
}

static bool httpd_on_liveness(void *arg, uint64_t now)
{
    log_info("the supervisor is gone; exiting");
    return false;
}

int httpd_server_watch_role(httpd_server_t *s, httpd_tls_t *tls)
{
    int r = httpd_server_watch(s, sigpipe_fd(), httpd_on_signal, tls, false);

    return r < 0 ? r : httpd_server_watch(s, FD_LIVENESS, httpd_on_liveness, NULL, false);
}
