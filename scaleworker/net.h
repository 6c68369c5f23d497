/*
 * net: non-blocking TCP connections for scalers, on the worker's event loop. A numeric address
 * connects at once; a name is resolved with getaddrinfo_a(), whose helper thread only rings an
 * eventfd of the loop, so a slow resolver never stalls other triggers. Every descriptor is
 * O_CLOEXEC and non-blocking; no call here blocks.
 *
 * Time limits are the poll's: the scaler's `cancel` calls sw_tcp_close(), which also abandons a
 * lookup still in progress (freed when it ends).
 */
#ifndef CKEDA_SCALEWORKER_NET_H
#define CKEDA_SCALEWORKER_NET_H

#include "scaleworker/scaler.h"

#include <stddef.h>

#define SW_HOST_MAX 256 /* a DNS name is at most 253 bytes */
#define SW_PORT_MAX 8

struct addrinfo;
struct sw_dns;
typedef struct sw_tcp sw_tcp_t;

/* err 0: connected. Otherwise -errno, with a text naming the address in errtext. */
typedef void (*sw_tcp_done_fn)(sw_tcp_t *c, int err, const char *errtext);

struct sw_tcp {
    sw_io_t io; /* io.fd is -1 while closed; after the connection, io.cb is the caller's */
    sw_tcp_done_fn on_done;
    sw_io_fn on_io;
    struct sw_dns *dns;
    struct addrinfo *ai, *next;
    char host[SW_HOST_MAX];
    char port[SW_PORT_MAX];
    bool connected;
    bool resolve_only; /* sw_tcp_resolve(): stop once the addresses are known */
};

void sw_tcp_init(sw_tcp_t *c);
/* Starts connecting to host:port. Returns 0 when connected at once, -EINPROGRESS when on_done
 * will run from the loop, or -errno (with a message in errtext) when it failed at once. After
 * the connection, readiness of c->io goes to on_io. */
int sw_tcp_connect(sw_tcp_t *c, const char *host, const char *port, sw_tcp_done_fn on_done,
                   sw_io_fn on_io, char *errtext, size_t errlen);
/* Only looks host up, for a client library that connects by itself (given numeric addresses,
 * it does not block). Returns 0 when host is numeric, -EINPROGRESS when on_done will run from
 * the loop, or -errno with a message in errtext. On success the addresses are in c->ai until
 * sw_tcp_close(). */
int sw_tcp_resolve(sw_tcp_t *c, const char *host, const char *port, sw_tcp_done_fn on_done,
                   char *errtext, size_t errlen);
/* Closes the connection or abandons the attempt. Idempotent. */
void sw_tcp_close(sw_tcp_t *c);

/* Splits "host:port" or "[v6]:port" (len bytes, not NUL-terminated). -EINVAL with a reason in
 * err ("missing port in address"). */
int sw_hostport_split(const char *addr, size_t len, char *host, size_t hostcap, char *port,
                      size_t portcap, char *err, size_t errlen);

/* For the loop: the eventfd lookups ring, and the handler that finishes them. */
int sw_dns_init(void);
void sw_dns_fini(void);

#endif
