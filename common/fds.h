/*
 * fds: the descriptor numbers the supervisor hands to its children on purpose. Every other
 * descriptor of the tree is O_CLOEXEC. A child gets only the ones its role needs; the numbers
 * are fixed so a child never has to be told where to look.
 */
#ifndef CKEDA_COMMON_FDS_H
#define CKEDA_COMMON_FDS_H

enum {
    FD_TABLE = 3,           /* the shared-memory table (holds the supervisor's flock) */
    FD_BLOBS = 4,           /* the config-blob directory (watcher writes, workers read) */
    FD_WATCHER_BELL = 5,    /* eventfd: wakes the watcher (workers ring it) */
    FD_SUPERVISOR_BELL = 6, /* eventfd: wakes the supervisor (the watcher rings it) */
    FD_OWN_BELL = 7,        /* eventfd: "your assignment changed" */
    FD_LIVENESS = 8,        /* read end of a pipe: EOF when the supervisor is gone */
    FD_SECURE = 9,          /* listening: external metrics API (adapters) */
    FD_WEBHOOK = 10,        /* listening: admission webhooks (webhook) */
    FD_METRICS = 11,        /* listening: Prometheus /metrics (adapters) */
    FD_HEALTH = 12,         /* listening: /healthz, /readyz (adapters) */
    FD_FIRST_FREE = 13,
};

#endif
