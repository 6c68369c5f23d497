/*
 * scaler: the interface every scaler implements, one file each under scalers/ (like nginx
 * modules): adding a scaler touches its file, one line in scalers.c and one name in
 * common/scaler_registry.c.
 *
 * Runs in a scale worker, which has one event loop and no threads of its own. A scaler never
 * blocks: it registers its sockets with sw_io_want() and continues in their callbacks.
 *
 * A poll is started by `poll` and completes by sw_poll_done(), exactly once, which the scaler
 * may call before `poll` returns (a synchronous scaler) or later from an I/O callback. Every
 * poll has a deadline (the trigger's timeout, default KEDA_HTTP_DEFAULT_TIMEOUT): when it passes
 * first, the worker calls `cancel`, which stops the poll's I/O, and publishes the timeout itself.
 * The worker records the trigger as in flight from the start of a poll to its completion, so a
 * crash during it is charged to that trigger.
 */
#ifndef CKEDA_SCALEWORKER_SCALER_H
#define CKEDA_SCALEWORKER_SCALER_H

#include "shm/shm.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

typedef struct sw_poll sw_poll_t;
typedef struct sw_trigger sw_trigger_t;

/* ---- trigger parameters -------------------------------------------------------------------- */

/* Where a parameter may come from, as KEDA's typed config orders them (`order=` tags). */
typedef enum {
    SW_SRC_END = 0,  /* terminates an order list */
    SW_SRC_METADATA, /* the trigger's metadata */
    SW_SRC_AUTH,     /* the resolved TriggerAuthentication parameters */
    SW_SRC_ENV, /* metadata `<name>FromEnv`: names an env var of the scale target's container */
} sw_src_t;

/* Resolved authentication parameters (parameter -> value). Values may be credentials: they live
 * only in this process's memory and are wiped when freed. */
typedef struct sw_auth_param {
    char *name;
    char *value;
} sw_auth_param_t;

typedef struct sw_auth_params {
    size_t n;
    sw_auth_param_t *v;
} sw_auth_params_t;

/* Wipes and frees a string that may hold a credential. Accepts NULL. */
void sw_secret_str_free(char *s);

/* What a scaler parses: the metadata (a JSON object of strings), the authentication parameters
 * (NULL when the trigger has no authenticationRef), the environment of the scale target's
 * container (NULL when the metadata has no `<name>FromEnv`: then empty) and the trigger's table
 * configuration. */
typedef struct sw_params {
    const cJSON *metadata;
    const sw_auth_params_t *auth;
    const sw_auth_params_t *env; /* variable -> value; values may be credentials */
    const shm_trig_cfg_t *cfg;
    const char *so_namespace; /* the ScaledObject's namespace and name (the config blob's), or "" */
    const char *so_name;
    sw_trigger_t *trigger; /* for sw_trigger_push_active(); valid until `close` */
} sw_params_t;

typedef struct sw_param {
    const char *name;  /* the name it was found under */
    const char *value; /* trimmed: not NUL-terminated, len bytes */
    size_t len;
    sw_src_t src;
} sw_param_t;

/* Looks a parameter up as KEDA's typed config does: for each source of `order` in turn, each of
 * `names`; values are trimmed of white space and an empty value counts as absent. SW_SRC_ENV
 * reads metadata `<name>FromEnv` (verbatim) as the name of a variable of p->env; a variable
 * that is not set or empty counts as absent, so the next source is asked. Returns 1 and fills
 * ret when found (ret->name is "<name>FromEnv" for SW_SRC_ENV), 0 when absent. */
int sw_param_find(const sw_params_t *p, const char *const *names, const sw_src_t *order,
                  sw_param_t *ret);
/* Whether a metadata key names a variable of the scale target's environment: it ends in
 * "FromEnv" (KEDA's strings.HasSuffix, so "FromEnv" itself does). */
bool sw_key_from_env(const char *key);
/* The value of name in a (auth or env) parameter list, or NULL (also for a NULL list). */
const char *sw_auth_param(const sw_auth_params_t *a, const char *name);
/* Where the message of a parameter error points: "metadata" or "authentication", followed by
 * sw_param_t.name: "metadata.listName", "authentication.password", "metadata.passwordFromEnv". */
const char *sw_src_prefix(sw_src_t src);

/* ---- non-blocking I/O on the worker's event loop ------------------------------------------- */

#define SW_IO_READ  EPOLLIN
#define SW_IO_WRITE EPOLLOUT

typedef struct sw_io sw_io_t;
/* revents holds SW_IO_READ / SW_IO_WRITE and EPOLLERR / EPOLLHUP. */
typedef void (*sw_io_fn)(sw_io_t *io, uint32_t revents);

/* Embed one per descriptor in the scaler's state; recover the state with container_of style
 * arithmetic in the callback. Fields are the loop's: set them only through sw_io_init(). */
struct sw_io {
    int fd;
    uint32_t events;
    bool added;
    sw_io_fn cb;
};

void sw_io_init(sw_io_t *io, int fd, sw_io_fn cb);
/* Sets the interest (SW_IO_READ | SW_IO_WRITE, or 0 to keep it quiet). 0 or -errno. */
int sw_io_want(sw_io_t *io, uint32_t events);
/* Removes it from the loop (before closing its descriptor). No callback for it runs after. */
void sw_io_stop(sw_io_t *io);

/* ---- the scaler vtable --------------------------------------------------------------------- */

typedef struct sw_scaler {
    const char *name;
    /* Parses the trigger's parameters into a private state. On failure writes a message naming
     * the field into err and returns -EINVAL (or -ENOMEM). */
    int (*parse)(const sw_params_t *params, void **ret_state, char *err, size_t errlen);
    /* Starts a poll; it completes with sw_poll_done(), now or from a callback. */
    void (*poll)(sw_poll_t *p, void *state);
    /* The poll's deadline passed: stop its I/O (dropping the connection is fine) and write what
     * it was waiting for into why ("connecting to host:port"). Never calls sw_poll_done().
     * NULL for scalers that always complete within `poll`. */
    void (*cancel)(void *state, char *why, size_t len);
    /* Frees the state; a poll of it is never in flight then. */
    void (*close)(void *state);
} sw_scaler_t;

/* Completes a poll: ok with a value, or a source failure with an error text (redacted by the
 * worker before it is stored). Once per poll. */
void sw_poll_done(sw_poll_t *p, bool ok, double value, const char *error);
/* Completes a poll with a value and the activity the source decided itself (external's IsActive),
 * instead of value > activation. Once per poll, like sw_poll_done(). */
void sw_poll_done_active(sw_poll_t *p, double value, bool active);
/* The metric spec learnt from the source (external's GetMetricSpec): the full HPA metric name
 * (`sN-<name>`) and its target, published with this poll's result and every later one of the
 * same configuration (the watcher builds the HPA from it). Call before completing the poll. */
void sw_poll_spec(sw_poll_t *p, const char *metric_name, double target);
/* A push scaler's source reported activity outside a poll (external-push's StreamIsActive
 * `true`): published at once as ACTIVE, and the watcher's doorbell rung so that its scale loop
 * acts now, as KEDA's RequestScale for a push activation. The next poll decides again. */
void sw_trigger_push_active(sw_trigger_t *t);
/* The source refused the credentials: resolve the authentication again before the next poll.
 * Call before sw_poll_done(). */
void sw_poll_auth_rejected(sw_poll_t *p);
/* Monotonic milliseconds at which the worker gives up on this poll, and the timeout it came
 * from. */
uint64_t sw_poll_deadline_ms(const sw_poll_t *p);
uint32_t sw_poll_timeout_ms(const sw_poll_t *p);
/* The deadline of a trigger's own time limit, timeout_ms from now (0: none), when it comes
 * before the poll's, else 0: the deadline_ms a request of sw_http_request() takes. */
uint64_t sw_poll_own_deadline_ms(const sw_poll_t *p, uint64_t timeout_ms);

const sw_scaler_t *sw_scaler_find(const char *name);

/* Metadata helper: the string value of key, untrimmed, or NULL. */
const char *sw_meta_str(const cJSON *metadata, const char *key);

#endif
