/*
 * sockets: the listening sockets, bound by the supervisor before any fork so that adapters
 * inherit them and queued connections survive an adapter crash. A port in use is a
 * configuration error naming the port (exit 78). Port 0 takes an ephemeral port; the bound
 * ports go into the table's header.
 */
#include "supervisor/sup_internal.h"

#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static int sup_listen(uint32_t port, const char *what, int *ret_fd, uint16_t *ret_port)
{
    struct sockaddr_in6 a = {
        .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_ANY_INIT};
    socklen_t len = sizeof a;
    int one = 1, zero = 0, fd, r;

    fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return log_error(-errno, "could not create the %s socket", what);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero); /* IPv4 too */
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1024) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        r = -errno;
        close(fd);
        return log_error(r, "could not listen on port %u (%s)", port, what);
    }
    *ret_fd = fd;
    *ret_port = ntohs(a.sin6_port);
    return 0;
}

int sup_sockets_bind(sup_t *s)
{
    const uint32_t want[SHM_PORT_COUNT] = {[SHM_PORT_SECURE] = s->cfg.secure_port,
                                           [SHM_PORT_WEBHOOK] = s->cfg.webhook_port,
                                           [SHM_PORT_METRICS] = s->cfg.metrics_port,
                                           [SHM_PORT_HEALTH] = s->cfg.health_port};
    static const char *const what[SHM_PORT_COUNT] = {"secure-port", "webhook-port", "metrics-port",
                                                     "health-port"};
    uint16_t bound[SHM_PORT_COUNT];

    for (int i = 0; i < SHM_PORT_COUNT; i++) {
        int r = sup_listen(want[i], what[i], &s->listen[i], &bound[i]);
        if (r < 0)
            return r;
    }
    shm_header_set_ports(s->table, bound);
    log_info("listening: secure %u, webhook %u, metrics %u, health %u", bound[0], bound[1],
             bound[2], bound[3]);
    return 0;
}
