/*
 * sw_worker_fixture: test-only fixture of the scale worker's loop-level unit tests
 * (test_worker_loop.c, test_sw_heap.c), never built into ckeda.
 *
 * sw_wfx_t is one worker in process slot SW_WFX_SLOT, on a real table and blob directory
 * created for the test (sw_wfx_setup, sw_wfx_teardown), with an eventfd as the watcher's
 * doorbell. sw_wfx_trigger_write() writes a trigger as the watcher does (its blob and config
 * group) and assigns it as the supervisor does (sw_wfx_assign); the test loads the assignment
 * (sw_assign_load) and turns the loop itself, SW_WFX_TURN_UNTIL a condition holds.
 *
 * The worker's scaler is a fake, named as such (these tests drive the worker's loop; the
 * integration suites poll real sources): metadata "mode" `sync` completes inside poll() with
 * metadata "value", `pipe` waits for a byte on a pipe registered with the loop (a source that
 * answers later, or never; the byte is the value), `reject` refuses the credentials, anything
 * else is a configuration error. Each state sits in sw_wfx_fakes[] by its metadata "id" (the
 * trigger slot) from its parse to its close.
 */
#ifndef CKEDA_TESTS_UNIT_SW_WORKER_FIXTURE_H
#define CKEDA_TESTS_UNIT_SW_WORKER_FIXTURE_H

/* cmocka needs these first, in this order */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scaleworker/sw_internal.h"
#include "shm/blob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define SW_WFX_WAIT_MS 5000 /* every condition is expected far sooner */
#define SW_WFX_SLOT    3u   /* the worker's process slot */

/* ---- the fake scaler ------------------------------------------------------------------------ */

typedef struct sw_wfx_fake {
    bool pipe_mode;
    bool reject;       /* the source refuses the credentials */
    char password[32]; /* the authentication parameter "password" it was parsed with */
    double value;
    int fds[2];
    sw_io_t io;
    sw_poll_t *p; /* the poll waiting for the pipe */
    int polls, cancels;
    uint64_t poll_ms[16]; /* when each of the first polls started */
} sw_wfx_fake_t;

static sw_wfx_fake_t *sw_wfx_fakes[8]; /* by metadata "id" (the trigger slot) */

static inline void sw_wfx_fake_on_io(sw_io_t *io, uint32_t revents)
{
    sw_wfx_fake_t *f = (sw_wfx_fake_t *)((char *)io - offsetof(sw_wfx_fake_t, io));
    unsigned char b;

    (void)revents;
    if (read(f->fds[0], &b, 1) != 1 || !f->p)
        return;
    sw_io_stop(&f->io);
    sw_poll_t *p = f->p;
    f->p = NULL;
    sw_poll_done(p, true, b, NULL);
}

static inline int sw_wfx_fake_parse(const sw_params_t *params, void **ret, char *err, size_t errlen)
{
    const char *mode = sw_meta_str(params->metadata, "mode");
    const char *value = sw_meta_str(params->metadata, "value");
    const char *id = sw_meta_str(params->metadata, "id");
    sw_wfx_fake_t *f;

    if (!mode ||
        (strcmp(mode, "sync") != 0 && strcmp(mode, "pipe") != 0 && strcmp(mode, "reject") != 0)) {
        snprintf(err, errlen, "metadata.mode: \"%s\" is not sync or pipe", mode ? mode : "");
        return -EINVAL;
    }
    f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->pipe_mode = strcmp(mode, "pipe") == 0;
    f->reject = strcmp(mode, "reject") == 0;
    for (size_t i = 0; params->auth && i < params->auth->n; i++)
        if (strcmp(params->auth->v[i].name, "password") == 0)
            snprintf(f->password, sizeof f->password, "%s", params->auth->v[i].value);
    f->value = value ? atof(value) : 0;
    f->fds[0] = f->fds[1] = -1;
    if (f->pipe_mode && pipe2(f->fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        int r = -errno;
        free(f);
        return r;
    }
    sw_io_init(&f->io, f->fds[0], sw_wfx_fake_on_io);
    sw_wfx_fakes[id ? atoi(id) & 7 : 0] = f;
    *ret = f;
    return 0;
}

static inline void sw_wfx_fake_poll(sw_poll_t *p, void *state)
{
    sw_wfx_fake_t *f = state;

    if (f->polls < 16)
        f->poll_ms[f->polls] = shm_now_mono_ms();
    f->polls++;
    if (f->reject) {
        sw_poll_auth_rejected(p);
        sw_poll_done(p, false, 0, "NOAUTH: rejected");
        return;
    }
    if (!f->pipe_mode) {
        sw_poll_done(p, true, f->value, NULL);
        return;
    }
    f->p = p;
    sw_io_want(&f->io, SW_IO_READ);
}

static inline void sw_wfx_fake_cancel(void *state, char *why, size_t len)
{
    sw_wfx_fake_t *f = state;

    f->cancels++;
    f->p = NULL;
    sw_io_stop(&f->io);
    snprintf(why, len, "reading the test pipe");
}

static inline void sw_wfx_fake_close(void *state)
{
    sw_wfx_fake_t *f = state;

    for (size_t i = 0; i < 8; i++)
        if (sw_wfx_fakes[i] == f)
            sw_wfx_fakes[i] = NULL;
    sw_io_stop(&f->io);
    if (f->fds[0] >= 0) {
        close(f->fds[0]);
        close(f->fds[1]);
    }
    free(f);
}

static const sw_scaler_t sw_wfx_fake_scaler = {.name = "fake",
                                               .parse = sw_wfx_fake_parse,
                                               .poll = sw_wfx_fake_poll,
                                               .cancel = sw_wfx_fake_cancel,
                                               .close = sw_wfx_fake_close};

/* ---- a worker on a table of the test's own -------------------------------------------------- */

typedef struct sw_wfx {
    char name[64];
    shm_table_t *t;
    int blobs, bell;
    sw_worker_t w;
} sw_wfx_t;

static const shm_caps_t sw_wfx_caps = {
    .max_so = 8, .max_trig = 8, .max_proc = 8, .max_trig_per_so = 8};

/* cmocka's setup of a test file's fixture: a table and blob directory named after tag and this
 * process, and the worker on them, resolving authentication through fetch (NULL: none). */
static inline int sw_wfx_setup(void **state, const char *tag, sw_auth_fetch_fn fetch)
{
    sw_wfx_t *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    snprintf(f->name, sizeof f->name, "ckeda-test-%s-%d", tag, (int)getpid());
    if (shm_table_create(f->name, &sw_wfx_caps, &f->t) < 0 ||
        shm_blob_dir_create(f->name, &f->blobs) < 0)
        return -1;
    f->bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (f->bell < 0)
        return -1;
    f->w.ctx.table = f->t;
    f->w.ctx.slot = SW_WFX_SLOT;
    cfg_defaults(&f->w.ctx.cfg);
    f->w.scaler = &sw_wfx_fake_scaler;
    f->w.blobs_fd = f->blobs;
    f->w.watcher_bell = f->bell;
    f->w.auth = sw_auth_new(&f->w.ctx.cfg, fetch, NULL);
    if (!f->w.auth || sw_worker_init(&f->w) < 0)
        return -1;
    *state = f;
    return 0;
}

/* Its teardown: the worker (which closes every fake state), the table and the blobs. */
static inline int sw_wfx_teardown(void **state)
{
    sw_wfx_t *f = *state;

    sw_worker_fini(&f->w);
    close(f->bell);
    close(f->blobs);
    shm_table_close(f->t);
    shm_table_unlink(f->name);
    shm_blob_dir_remove(f->name);
    free(f);
    return 0;
}

/* The supervisor assigns trigger slot to worker (SHM_NONE: to nobody); the worker sees it on
 * its next sw_assign_load(). */
static inline void sw_wfx_assign(sw_wfx_t *f, uint32_t slot, uint32_t worker)
{
    shm_trig_ctl_t ctl = {.flags = SHM_F_VALID, .worker = worker, .release_from = SHM_NONE};

    shm_trig_ctl_write(f->t, slot, &ctl);
}

typedef struct sw_wfx_trig {
    const char *metadata; /* a JSON object */
    const char *auth;     /* the blob's "authentication" JSON object, or NULL */
    uint32_t interval_ms;
    uint32_t timeout_ms; /* 0: KEDA_HTTP_DEFAULT_TIMEOUT */
    uint64_t cfg_gen;
    bool cached; /* useCachedMetrics */
    uint32_t worker;
} sw_wfx_trig_t;

/* Writes trigger slot's blob and config group (activation 0.5) as the watcher does, and
 * assigns it to tr->worker. */
static inline void sw_wfx_trigger_write(sw_wfx_t *f, uint32_t slot, const sw_wfx_trig_t *tr)
{
    shm_trig_cfg_t c = {.flags = SHM_F_VALID,
                        .polling_interval_ms = tr->interval_ms,
                        .timeout_ms = tr->timeout_ms,
                        .cfg_gen = tr->cfg_gen,
                        .use_cached_metrics = tr->cached,
                        .activation = 0.5};
    char blob[1024];
    int n;

    snprintf(c.type, sizeof c.type, "fake");
    n = snprintf(blob, sizeof blob, "{\"namespace\":\"apps\",\"metadata\":%s%s%s}", tr->metadata,
                 tr->auth ? ",\"authentication\":" : "", tr->auth ? tr->auth : "");
    assert_true(n > 0 && (size_t)n < sizeof blob);
    assert_int_equal(shm_blob_write(f->blobs, slot, tr->cfg_gen, blob, (size_t)n), 0);
    shm_trig_cfg_write(f->t, slot, &c);
    sw_wfx_assign(f, slot, tr->worker);
}

/* Trigger slot's result group; it must be readable. */
static inline shm_trig_result_t sw_wfx_result(sw_wfx_t *f, uint32_t slot)
{
    shm_trig_result_t r;

    assert_int_equal(shm_trig_result_read(f->t, slot, &r), 0);
    return r;
}

/* Turns the loop until cond holds; fails after SW_WFX_WAIT_MS. */
#define SW_WFX_TURN_UNTIL(f, cond)                                                                 \
    do {                                                                                           \
        uint64_t until_ = shm_now_mono_ms() + SW_WFX_WAIT_MS;                                      \
        while (!(cond)) {                                                                          \
            if (shm_now_mono_ms() > until_)                                                        \
                fail_msg("timed out waiting for %s", #cond);                                       \
            sw_worker_turn(&(f)->w, 10);                                                           \
        }                                                                                          \
    } while (0)

#endif
