/*
 * test_fault: TEST-ONLY faults planted in a real parser, compiled in only with
 * CKEDA_TEST_SCALERS (never in a release) and never into fuzzing builds. A response header
 * `X-Ckeda-Test-Fault: crash` makes the HTTP response parser of the worker crash (SIGSEGV) and
 * `hang` makes it spin without heartbeats, as a parser bug would, so that tests can show the
 * suspect shard, quarantine and the watchdog at work with the real scalers (metrics-api,
 * prometheus, ...) and their real sources.
 */
#include "scaleworker/http.h"

#include <signal.h>
#include <string.h>
#include <strings.h>

#ifndef CKEDA_FUZZING
void sw_test_fault(const char *name, size_t nl, const char *value, size_t vl)
{
    volatile int spin = 1;

    if (nl != 18 || strncasecmp(name, "x-ckeda-test-fault", 18) != 0)
        return;
    if (vl == 5 && strncmp(value, "crash", 5) == 0)
        raise(SIGSEGV);
    if (vl == 4 && strncmp(value, "hang", 4) == 0)
        while (spin)
            ;
}
#endif
