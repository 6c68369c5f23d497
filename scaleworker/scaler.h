/*
 * scaler: the interface every scaler implements, one file each under scalers/ (like nginx
 * modules): adding a scaler touches its file, one line in scalers.c and one name in
 * common/scaler_registry.c.
 *
 * A poll is started by `poll` and completes by sw_poll_done(), which the scaler may call before
 * `poll` returns. The worker records the trigger as in flight from the start of a poll to its
 * completion, so a crash during it is charged to that trigger.
 */
#ifndef CKEDA_SCALEWORKER_SCALER_H
#define CKEDA_SCALEWORKER_SCALER_H

#include "shm/shm.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct sw_poll sw_poll_t;

typedef struct sw_scaler {
    const char *name;
    /* Parses the trigger's metadata (a JSON object of strings) into a private state.
     * On failure writes a message naming the field into err and returns -EINVAL. */
    int (*parse)(const cJSON *metadata, const shm_trig_cfg_t *cfg, void **ret_state, char *err,
                 size_t errlen);
    void (*poll)(sw_poll_t *p, void *state);
    void (*close)(void *state);
} sw_scaler_t;

/* Completes a poll: ok with a value, or a source failure with an error text (redacted by the
 * worker before it is stored). */
void sw_poll_done(sw_poll_t *p, bool ok, double value, const char *error);

const sw_scaler_t *sw_scaler_find(const char *name);

/* Metadata helpers: the string value of key, or NULL. */
const char *sw_meta_str(const cJSON *metadata, const char *key);

#endif
