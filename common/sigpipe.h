/*
 * sigpipe: signal handling by self-pipe (PostgreSQL, s6). A handler saves errno, marks its
 * signal pending in a volatile sig_atomic_t, writes one byte to a non-blocking pipe and
 * restores errno. Nothing else. The main loop polls sigpipe_fd() and calls sigpipe_take().
 */
#ifndef CKEDA_COMMON_SIGPIPE_H
#define CKEDA_COMMON_SIGPIPE_H

#include <stdbool.h>

/* Installs handlers for the given signals (SIGPIPE is ignored). Once per process. */
int sigpipe_setup(const int *signals, int n);
int sigpipe_fd(void);
/* Drains the pipe; true if `sig` was pending (and clears it). */
bool sigpipe_take(int sig);
/* Restores default dispositions (in a forked child, before exec). */
void sigpipe_reset(void);

#endif
