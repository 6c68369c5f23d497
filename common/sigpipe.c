/*
 * sigpipe: see sigpipe.h.
 */
#include "common/sigpipe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int sigpipe_fds[2] = {-1, -1};
static volatile sig_atomic_t sigpipe_pending[NSIG];
static int sigpipe_sigs[16];
static int sigpipe_nsigs;

static void sigpipe_handler(int sig)
{
    int saved = errno;
    sigpipe_pending[sig] = 1;
    ssize_t w = write(sigpipe_fds[1], "x", 1);
    (void)w; /* a full pipe already wakes the loop */
    errno = saved;
}

int sigpipe_setup(const int *signals, int n)
{
    struct sigaction sa;

    if (n > (int)(sizeof sigpipe_sigs / sizeof sigpipe_sigs[0]))
        return -EINVAL;
    if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sigpipe_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int i = 0; i < n; i++) {
        if (sigaction(signals[i], &sa, NULL) < 0)
            return -errno;
        sigpipe_sigs[i] = signals[i];
    }
    sigpipe_nsigs = n;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int sigpipe_fd(void)
{
    return sigpipe_fds[0];
}

bool sigpipe_take(int sig)
{
    char buf[64];
    while (read(sigpipe_fds[0], buf, sizeof buf) > 0)
        ;
    if (sig <= 0 || sig >= NSIG || !sigpipe_pending[sig])
        return false;
    sigpipe_pending[sig] = 0;
    return true;
}

void sigpipe_reset(void)
{
    for (int i = 0; i < sigpipe_nsigs; i++)
        signal(sigpipe_sigs[i], SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
}
