/*
 * net: see net.h. Runs in the scale worker, on its loop.
 *
 * Name lookups use getaddrinfo_a() with SIGEV_THREAD: glibc's helper thread runs the lookup and
 * our notifier, which only writes to an eventfd; the loop thread then collects every finished
 * request. A request whose owner went away (timeout, trigger dropped) is orphaned and freed
 * when it finishes, because a lookup in progress cannot always be cancelled.
 */
#include "scaleworker/net.h"
#include "scaleworker/sw_internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct sw_dns {
    struct gaicb req;
    struct addrinfo hints;
    struct sigevent sev;
    sw_tcp_t *owner; /* NULL: orphaned */
    struct sw_dns *next;
    char host[SW_HOST_MAX];
    char port[SW_PORT_MAX];
} sw_dns_t;

static sw_io_t sw_dns_io = {.fd = -1};
static sw_dns_t *sw_dns_pending;

static void sw_tcp_resolved(sw_tcp_t *c, int gai_err, struct addrinfo *ai);

static void sw_dns_notify(union sigval v)
{
    uint64_t one = 1;
    ssize_t n = write(v.sival_int, &one, sizeof one);
    (void)n; /* a saturated counter still wakes the loop */
}

/* Collects finished lookups. */
static void sw_dns_on_ready(sw_io_t *io, uint32_t revents)
{
    uint64_t v;
    ssize_t n = read(io->fd, &v, sizeof v);
    (void)n;

    for (sw_dns_t **pp = &sw_dns_pending; *pp;) {
        sw_dns_t *d = *pp;
        int r = gai_error(&d->req);
        if (r == EAI_INPROGRESS) {
            pp = &d->next;
            continue;
        }
        *pp = d->next;
        if (d->owner) {
            d->owner->dns = NULL;
            sw_tcp_resolved(d->owner, r, r == 0 ? d->req.ar_result : NULL);
        } else if (r == 0) {
            freeaddrinfo(d->req.ar_result);
        }
        free(d);
    }
}

int sw_dns_init(void)
{
    int fd;

    if (sw_dns_io.fd >= 0)
        return 0;
    if ((fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        return -errno;
    sw_io_init(&sw_dns_io, fd, sw_dns_on_ready);
    return sw_io_want(&sw_dns_io, SW_IO_READ);
}

/* Lookups still running keep their memory (their thread writes to it) and the eventfd. */
void sw_dns_fini(void)
{
    sw_io_stop(&sw_dns_io);
    for (sw_dns_t *d = sw_dns_pending; d; d = d->next)
        d->owner = NULL;
}

static int sw_dns_start(sw_tcp_t *c)
{
    sw_dns_t *d = calloc(1, sizeof *d);
    struct gaicb *list[1];

    if (!d)
        return -ENOMEM;
    snprintf(d->host, sizeof d->host, "%s", c->host);
    snprintf(d->port, sizeof d->port, "%s", c->port);
    d->hints = (struct addrinfo){.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    d->req = (struct gaicb){.ar_name = d->host, .ar_service = d->port, .ar_request = &d->hints};
    d->sev.sigev_notify = SIGEV_THREAD;
    d->sev.sigev_notify_function = sw_dns_notify;
    d->sev.sigev_value.sival_int = sw_dns_io.fd;
    list[0] = &d->req;
    if (getaddrinfo_a(GAI_NOWAIT, list, 1, &d->sev) != 0) {
        free(d);
        return -EAGAIN;
    }
    d->owner = c;
    d->next = sw_dns_pending;
    sw_dns_pending = d;
    c->dns = d;
    return 0;
}

/* ---- connecting ---------------------------------------------------------------------------- */

void sw_tcp_init(sw_tcp_t *c)
{
    memset(c, 0, sizeof *c);
    c->io.fd = -1;
}

static void sw_tcp_fd_close(sw_tcp_t *c)
{
    sw_io_stop(&c->io);
    if (c->io.fd >= 0)
        close(c->io.fd);
    c->io.fd = -1;
}

void sw_tcp_close(sw_tcp_t *c)
{
    sw_tcp_fd_close(c);
    if (c->dns) {
        c->dns->owner = NULL;
        c->dns = NULL;
    }
    if (c->ai)
        freeaddrinfo(c->ai);
    c->ai = c->next = NULL;
    c->connected = false;
}

static void sw_tcp_on_connect(sw_io_t *io, uint32_t revents);

/* Tries the remaining addresses: 0 connected, -EINPROGRESS waiting, or the last -errno. */
static int sw_tcp_try(sw_tcp_t *c, int last)
{
    while (c->next) {
        struct addrinfo *ai = c->next;
        int fd, one = 1;

        c->next = ai->ai_next;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last = -errno;
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sw_io_init(&c->io, fd, sw_tcp_on_connect);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            c->connected = true;
            c->io.cb = c->on_io;
            return 0;
        }
        last = -errno;
        if (last == -EINPROGRESS && (last = sw_io_want(&c->io, SW_IO_WRITE)) == 0)
            return -EINPROGRESS;
        sw_tcp_fd_close(c);
    }
    return last;
}

/* Reports the outcome of an attempt that went on in the background. */
static void sw_tcp_report(sw_tcp_t *c, int r)
{
    char text[SW_HOST_MAX + 128];

    if (r == 0) {
        c->on_done(c, 0, NULL);
        return;
    }
    snprintf(text, sizeof text, "connecting to %s:%s: %s", c->host, c->port, strerror(-r));
    sw_tcp_close(c);
    c->on_done(c, r, text);
}

static void sw_tcp_on_connect(sw_io_t *io, uint32_t revents)
{
    sw_tcp_t *c = (sw_tcp_t *)((char *)io - offsetof(sw_tcp_t, io));
    int err = 0, r;
    socklen_t len = sizeof err;

    if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0 && !(revents & (EPOLLERR | EPOLLHUP))) {
        c->connected = true;
        c->io.cb = c->on_io;
        sw_io_want(&c->io, 0);
        c->on_done(c, 0, NULL);
        return;
    }
    sw_tcp_fd_close(c);
    r = sw_tcp_try(c, err ? -err : -ECONNREFUSED);
    if (r != -EINPROGRESS)
        sw_tcp_report(c, r);
}

static void sw_tcp_resolved(sw_tcp_t *c, int gai_err, struct addrinfo *ai)
{
    char text[SW_HOST_MAX + 128];
    int r;

    if (gai_err) {
        snprintf(text, sizeof text, "resolving %s: %s", c->host, gai_strerror(gai_err));
        sw_tcp_close(c);
        c->on_done(c, -EHOSTUNREACH, text);
        return;
    }
    c->ai = c->next = ai;
    if (c->resolve_only) {
        c->on_done(c, 0, NULL);
        return;
    }
    r = sw_tcp_try(c, -EHOSTUNREACH);
    if (r != -EINPROGRESS)
        sw_tcp_report(c, r);
}

int sw_tcp_connect(sw_tcp_t *c, const char *host, const char *port, sw_tcp_done_fn on_done,
                   sw_io_fn on_io, char *errtext, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    int r;

    sw_tcp_close(c);
    snprintf(c->host, sizeof c->host, "%s", host);
    snprintf(c->port, sizeof c->port, "%s", port);
    c->on_done = on_done;
    c->on_io = on_io;
    c->resolve_only = false;
    if (getaddrinfo(host, port, &hints, &c->ai) != 0) { /* a name: look it up without blocking */
        c->ai = NULL;
        if ((r = sw_dns_start(c)) == 0)
            return -EINPROGRESS;
        snprintf(errtext, errlen, "resolving %s: %s", host, strerror(-r));
        return r;
    }
    c->next = c->ai;
    r = sw_tcp_try(c, -EHOSTUNREACH);
    if (r < 0 && r != -EINPROGRESS) {
        snprintf(errtext, errlen, "connecting to %s:%s: %s", host, port, strerror(-r));
        sw_tcp_close(c);
    }
    return r;
}

int sw_tcp_resolve(sw_tcp_t *c, const char *host, const char *port, sw_tcp_done_fn on_done,
                   char *errtext, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    int r;

    sw_tcp_close(c);
    if (strlen(host) >= sizeof c->host || strlen(port) >= sizeof c->port) {
        snprintf(errtext, errlen, "resolving %.64s...: name too long", host);
        return -ENAMETOOLONG;
    }
    snprintf(c->host, sizeof c->host, "%s", host);
    snprintf(c->port, sizeof c->port, "%s", port);
    c->on_done = on_done;
    c->on_io = NULL;
    c->resolve_only = true;
    if (getaddrinfo(host, port, &hints, &c->ai) == 0) {
        c->next = c->ai;
        return 0;
    }
    c->ai = NULL;
    if ((r = sw_dns_start(c)) == 0)
        return -EINPROGRESS;
    snprintf(errtext, errlen, "resolving %s: %s", host, strerror(-r));
    return r;
}

/* ---- addresses ----------------------------------------------------------------------------- */

static int sw_copy(const char *s, size_t n, char *out, size_t cap)
{
    if (n == 0 || n >= cap)
        return -EINVAL;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int sw_hostport_split(const char *addr, size_t len, char *host, size_t hostcap, char *port,
                      size_t portcap, char *err, size_t errlen)
{
    const char *colon = NULL, *h = addr;
    size_t hl;

    for (size_t i = 0; i < len; i++)
        if (addr[i] == ':')
            colon = addr + i;
    if (len > 0 && addr[0] == '[') { /* [v6]:port */
        const char *close = memchr(addr, ']', len);
        if (!close || close + 1 != colon) {
            snprintf(err, errlen, "missing port in address");
            return -EINVAL;
        }
        h = addr + 1;
        hl = (size_t)(close - h);
    } else if (!colon || memchr(addr, ':', (size_t)(colon - addr))) {
        snprintf(err, errlen, colon ? "too many colons in address" : "missing port in address");
        return -EINVAL;
    } else {
        hl = (size_t)(colon - addr);
    }
    size_t pl = len - (size_t)(colon + 1 - addr);
    for (size_t i = 0; i < pl; i++)
        if (colon[1 + i] < '0' || colon[1 + i] > '9') {
            snprintf(err, errlen, "port is not a number");
            return -EINVAL;
        }
    if (sw_copy(h, hl, host, hostcap) < 0 || sw_copy(colon + 1, pl, port, portcap) < 0 ||
        strtol(port, NULL, 10) > 65535) {
        snprintf(err, errlen, hl == 0 ? "missing host in address" : "invalid host or port");
        return -EINVAL;
    }
    return 0;
}
