/*
 * ckeda-test: a TEST-ONLY scaler, compiled only into test builds (CKEDA_TEST_SCALERS), never
 * into a release. It does on command what a broken scaler might: returns `value`, fails
 * (mode: fail), crashes its worker (mode: crash), hangs it without heartbeats (mode: hang) or
 * exits it (mode: exit). Process tests use it to exercise crash attribution, the suspect
 * shard, quarantine and the watchdog.
 */
#include "scaleworker/scaler.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { TS_OK, TS_FAIL, TS_CRASH, TS_HANG, TS_EXIT } ts_mode_t;

typedef struct ts_state {
    ts_mode_t mode;
    double value;
} ts_state_t;

static int ts_parse(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    const cJSON *md = params->metadata;
    static const char *const modes[] = {"ok", "fail", "crash", "hang", "exit"};
    const char *mode = sw_meta_str(md, "mode"), *value = sw_meta_str(md, "value");
    ts_state_t st = {.mode = TS_OK};
    char *end;

    if (mode) {
        size_t i;
        for (i = 0; i < 5 && strcmp(mode, modes[i]) != 0; i++)
            ;
        if (i == 5) {
            snprintf(err, errlen, "metadata.mode: \"%s\" is not ok, fail, crash, hang or exit",
                     mode);
            return -EINVAL;
        }
        st.mode = (ts_mode_t)i;
    }
    if (value) {
        st.value = strtod(value, &end);
        if (end == value || *end) {
            snprintf(err, errlen, "metadata.value: \"%s\" is not a number", value);
            return -EINVAL;
        }
    }
    ts_state_t *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    *p = st;
    *ret = p;
    return 0;
}

static void ts_poll(sw_poll_t *p, void *state)
{
    const ts_state_t *st = state;
    volatile int spin = 1;

    switch (st->mode) {
    case TS_CRASH:
        raise(SIGSEGV);
        break;
    case TS_HANG:
        while (spin)
            ;
        break;
    case TS_EXIT:
        _exit(3);
    case TS_FAIL:
        sw_poll_done(p, false, 0, "ckeda-test: failing on command (password=hunter2)");
        return;
    default:
        break;
    }
    sw_poll_done(p, true, st->value, NULL);
}

static void ts_close(void *state)
{
    free(state);
}

const sw_scaler_t sw_scaler_test = {
    .name = "ckeda-test",
    .parse = ts_parse,
    .poll = ts_poll,
    .close = ts_close,
};
