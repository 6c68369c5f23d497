/*
 * role: what every child of the supervisor does the same way: take the configuration from its
 * flags, attach the inherited table (validated, registry hash checked, non-owned regions
 * read-only), install the signal self-pipe, heartbeat, and notice when the supervisor is gone
 * (the liveness pipe reaches EOF; PR_SET_PDEATHSIG is the second line).
 */
#ifndef CKEDA_COMMON_ROLE_H
#define CKEDA_COMMON_ROLE_H

#include "common/config.h"
#include "shm/shm.h"

#include <poll.h>
#include <stdbool.h>

typedef struct role_ctx {
    shm_role_t role;
    uint32_t slot;    /* process slot in the table */
    const char *type; /* scaleworkers: scaler type name */
    uint32_t shard;
    cfg_t cfg;
    shm_table_t *table;
} role_ctx_t;

/* Parses `--role=R --slot=N [--type=T --shard=K] <config flags>`, sets up logging and signals,
 * attaches the table. Exits 78 on a bad command line or table (a configuration error). */
void role_init(role_ctx_t *ctx, int argc, char **argv);
/* For a role that polls in its own loop: the two descriptors role_wait watches (the signal
 * pipe and the liveness pipe) as ret[0] and ret[1]; after poll(), role_pollfds_check says
 * whether to go on (false: SIGTERM/SIGINT, or the supervisor is gone). */
#define ROLE_POLLFDS 2
void role_pollfds(struct pollfd ret[ROLE_POLLFDS]);
bool role_pollfds_check(const struct pollfd pfd[ROLE_POLLFDS]);
/* Waits up to timeout_ms for one of fds (or the signal pipe or liveness pipe) to be readable.
 * Returns false when the process should exit: SIGTERM or the supervisor is gone. */
bool role_wait(role_ctx_t *ctx, const int *fds, int nfds, int timeout_ms, bool *ret_ready);
void role_heartbeat(role_ctx_t *ctx);
/* Drains an eventfd; returns its count. */
uint64_t role_bell_drain(int fd);
void role_bell_ring(int fd);
/* For roles that later issues fill in: attach, heartbeat, wait for work until told to stop. */
int role_idle_main(role_ctx_t *ctx);
void role_done(role_ctx_t *ctx);

#endif
