/*
 * server: the adapter's event loop (adapter process, its one event-loop thread).
 *
 * One epoll set holds the three inherited listening sockets, every connection, the signal
 * self-pipe, the supervisor's liveness pipe and the eventfd of the Kubernetes threads. The
 * listeners are shared by every adapter process: they are registered with EPOLLEXCLUSIVE, so
 * one adapter wakes per incoming connection, and they are non-blocking, so a connection
 * another adapter took first is just EAGAIN. Connections queued in the kernel outlive a
 * crashed adapter and are served by its siblings or its successor.
 *
 * Timers are per-state FIFO lists (conn.c); the loop sleeps until the earliest deadline or
 * the next heartbeat. SIGTERM, or the supervisor going away, stops accepting, lets responses
 * in progress finish for up to ADP_DRAIN_MS and exits. SIGHUP reloads the certificates.
 */
#include "adapter/adp_server.h"

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

#define ADP_HEARTBEAT_MS 500
#define ADP_DRAIN_MS     3000
#define ADP_EVENTS       256

static adp_ev_t ev_signal = ADP_EV_SIGNAL, ev_liveness = ADP_EV_LIVENESS, ev_kube = ADP_EV_KUBE;

static int server_watch(adp_server_t *s, int fd, uint32_t events, void *tag)
{
    struct epoll_event ev = {.events = events, .data.ptr = tag};
    return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void server_arm(adp_server_t *s, adp_listen_t *l, bool on)
{
    if (l->fd < 0 || l->armed == on)
        return;
    if (on && server_watch(s, l->fd, EPOLLIN | EPOLLEXCLUSIVE, l) < 0)
        return;
    if (!on)
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, l->fd, NULL);
    l->armed = on;
}

static void server_arm_all(adp_server_t *s, bool on)
{
    for (int i = 0; i < 3; i++)
        server_arm(s, &s->listeners[i], on);
}

static void server_accept(adp_server_t *s, adp_listen_t *l)
{
    for (int i = 0; i < ADP_ACCEPTS_PER_WAKEUP && s->nconns < ADP_CONNS_MAX; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            adp_conn_accept(s, l, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            log_warning(-errno, "accept");
        return;
    }
    if (s->nconns >= ADP_CONNS_MAX) { /* let sibling adapters take the next ones */
        log_warning(0, "%u connections: not accepting more until some close", s->nconns);
        server_arm_all(s, false);
    }
}

static int server_setup(adp_server_t *s, role_ctx_t *ctx)
{
    static const struct {
        int fd;
        adp_listener_t where;
    } socks[3] = {{FD_SECURE, ADP_LISTENER_SECURE},
                  {FD_HEALTH, ADP_LISTENER_HEALTH},
                  {FD_METRICS, ADP_LISTENER_METRICS}};
    int r;

    s->ctx = ctx;
    s->table = ctx->table;
    if ((s->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return log_error(-errno, "epoll_create1");
    if ((r = adp_tls_new(ctx->cfg.cert_dir, &s->tls)) < 0)
        return r;
    if (adp_kube_start(&ctx->cfg, &s->kube) < 0)
        s->kube = NULL; /* logged: no cluster, so no front proxy and no reviews */
    if (!(s->authz = adp_authz_new(s->kube, adp_conn_authz_done)))
        return log_error(-ENOMEM, "cannot create the authorization cache");
    for (int i = 0; i < 3; i++)
        s->listeners[i] = (adp_listen_t){ADP_EV_LISTENER, socks[i].fd, socks[i].where, false};
    server_arm_all(s, true);
    if ((r = server_watch(s, sigpipe_fd(), EPOLLIN, &ev_signal)) < 0 ||
        (r = server_watch(s, FD_LIVENESS, EPOLLIN, &ev_liveness)) < 0 ||
        (s->kube && (r = server_watch(s, adp_kube_fd(s->kube), EPOLLIN, &ev_kube)) < 0))
        return log_error(r, "cannot watch the adapter's descriptors");
    return 0;
}

/* Milliseconds until the earliest deadline or heartbeat. */
static int server_timeout(adp_server_t *s, uint64_t now, uint64_t next_beat)
{
    uint64_t next = next_beat;

    for (int t = 0; t < ADP_T_COUNT; t++) {
        uint64_t d;
        if (adp_timer_first(s, (adp_timer_t)t, &d) && d < next)
            next = d;
    }
    return next > now ? (int)(next - now) : 0;
}

static void server_expire(adp_server_t *s, uint64_t now)
{
    for (int t = 0; t < ADP_T_COUNT; t++) {
        adp_conn_t *c;
        uint64_t d;
        while ((c = adp_timer_first(s, (adp_timer_t)t, &d)) && d <= now)
            adp_conn_expire(c, now);
    }
}

static void server_kube_event(adp_server_t *s, uint64_t now)
{
    adp_authcfg_t *cfg = adp_kube_authcfg_take(s->kube);

    if (cfg) {
        adp_authcfg_free(s->authcfg);
        s->authcfg = cfg;
        s->authgen++;
        log_debug("front-proxy configuration updated (%u allowed names)", cfg->allowed_names.n);
    }
    adp_authz_dispatch(s->authz, now);
}

/* Handles one epoll event; false when the adapter should stop. */
static bool server_event(adp_server_t *s, struct epoll_event *e, uint64_t now)
{
    adp_ev_t kind = *(adp_ev_t *)e->data.ptr;

    switch (kind) {
    case ADP_EV_LISTENER:
        server_accept(s, e->data.ptr);
        return true;
    case ADP_EV_CONN:
        adp_conn_event(e->data.ptr, e->events);
        return true;
    case ADP_EV_KUBE:
        server_kube_event(s, now);
        return true;
    case ADP_EV_LIVENESS:
        log_info("the supervisor is gone; exiting");
        return false;
    default:
        if (sigpipe_take(SIGHUP))
            adp_tls_maybe_reload(s->tls, now, true);
        return !(sigpipe_take(SIGTERM) | sigpipe_take(SIGINT));
    }
}

static void server_drain(adp_server_t *s)
{
    uint64_t until = shm_now_mono_ms() + ADP_DRAIN_MS;
    struct epoll_event ev[ADP_EVENTS];

    s->stopping = true;
    server_arm_all(s, false);
    adp_conn_close_idle(s);
    while (s->nconns > 0 && shm_now_mono_ms() < until) {
        int n = epoll_wait(s->epfd, ev, ADP_EVENTS, 100);
        uint64_t now = shm_now_mono_ms();
        for (int i = 0; i < n; i++)
            if (*(adp_ev_t *)ev[i].data.ptr == ADP_EV_CONN)
                adp_conn_event(ev[i].data.ptr, ev[i].events);
            else if (*(adp_ev_t *)ev[i].data.ptr == ADP_EV_KUBE)
                server_kube_event(s, now);
        adp_conn_close_idle(s);
        server_expire(s, now);
    }
}

static void server_free(adp_server_t *s)
{
    for (int t = 0; t < ADP_T_COUNT; t++) {
        adp_conn_t *c;
        uint64_t d;
        while ((c = adp_timer_first(s, (adp_timer_t)t, &d)))
            adp_conn_close(c);
    }
    adp_kube_stop(s->kube); /* before the cache: completed reviews are freed with it */
    adp_authz_free(s->authz);
    adp_authcfg_free(s->authcfg);
    adp_tls_free(s->tls);
    if (s->epfd >= 0)
        close(s->epfd);
}

int adp_server_run(role_ctx_t *ctx)
{
    adp_server_t s = {.epfd = -1};
    struct epoll_event ev[ADP_EVENTS];
    uint64_t next_beat = 0;
    bool running = true;
    int r = server_setup(&s, ctx);

    if (r < 0) {
        server_free(&s);
        return r;
    }
    log_info("serving external.metrics.k8s.io/v1beta1 (%s)",
             s.kube ? "delegated authentication and authorization"
                    : "no cluster: client certificates of --cert-dir's CA only");
    while (running) {
        uint64_t now = shm_now_mono_ms();
        int n = epoll_wait(s.epfd, ev, ADP_EVENTS, server_timeout(&s, now, next_beat));
        if (n < 0 && errno != EINTR)
            log_warning(-errno, "epoll_wait");
        now = shm_now_mono_ms();
        for (int i = 0; i < n && running; i++)
            running = server_event(&s, &ev[i], now);
        server_expire(&s, now);
        if (now >= next_beat) {
            role_heartbeat(ctx);
            adp_tls_maybe_reload(s.tls, now, false);
            if (s.nconns < ADP_CONNS_MAX * 9 / 10)
                server_arm_all(&s, true);
            next_beat = now + ADP_HEARTBEAT_MS;
        }
    }
    server_drain(&s);
    server_free(&s);
    return 0;
}
