/*
 * Unit tests of the shared-memory table (shm/): layout and header validation, create / attach /
 * read-only open and per-role protection, every field group, the seqlock and repair after a
 * writer died between its two bumps, process self, the keyed index, the trigger-state function,
 * snapshots and config blobs.
 *
 * Every test uses its own table name, ckeda-test-<pid>-<n>, and removes it (and its blob
 * directory) in its teardown. Checks that need a second process (write protection, a lock held
 * by an inheriting child) fork; a child never calls cmocka and leaves with _exit().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "shm/blob.h"
#include "shm/shm.h"
#include "shm/shm_internal.h"
#include "shm/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const shm_caps_t small_caps = {
    .max_so = 64, .max_trig = 256, .max_proc = 8, .max_trig_per_so = 64};
static const shm_caps_t default_caps = {.max_so = SHM_DEFAULT_MAX_SO,
                                        .max_trig = SHM_DEFAULT_MAX_TRIG,
                                        .max_proc = SHM_DEFAULT_MAX_PROC,
                                        .max_trig_per_so = SHM_DEFAULT_TRIG_PER_SO};

typedef struct fixture {
    char name[64];
    shm_table_t *t;
    char dir[256]; /* scratch directory for snapshot files, "" when unused */
} fixture_t;

static unsigned name_seq;

static void name_make(char *buf, size_t cap)
{
    snprintf(buf, cap, "ckeda-test-%d-%u", (int)getpid(), name_seq++);
}

static int fixture_setup(void **state, const shm_caps_t *caps)
{
    fixture_t *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    name_make(f->name, sizeof f->name);
    if (shm_table_create(f->name, caps, &f->t) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int setup_small(void **state)
{
    return fixture_setup(state, &small_caps);
}

static int setup_default(void **state)
{
    return fixture_setup(state, &default_caps);
}

static void dir_remove_all(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    rmdir(path);
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    shm_table_close(f->t);
    shm_table_unlink(f->name);
    shm_blob_dir_remove(f->name);
    if (f->dir[0])
        dir_remove_all(f->dir);
    free(f);
    return 0;
}

static const char *fixture_dir(fixture_t *f)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(f->dir, sizeof f->dir, "%s/ckeda-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    return f->dir;
}

/* Fills a payload with a byte pattern that differs per seed, so every byte is checked. */
static void pattern_fill(void *p, size_t n, unsigned seed)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed * 131u + i * 31u + 7u);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs fn(t) in a child with default SIGSEGV handling (cmocka catches it otherwise) and returns
 * the wait status. The child exits 0 when fn returns. */
static int child_run(shm_table_t *t, shm_role_t role, bool protect, void (*fn)(shm_table_t *))
{
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        if (protect && shm_table_protect(t, role) < 0)
            _exit(3);
        fn(t);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static bool status_segv(int status)
{
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

static bool status_ok(int status)
{
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* A valid ScaledObject spec in `slot`, indexed like the watcher does: spec first, then index. */
static void so_put(shm_table_t *t, uint32_t slot, uint32_t gen, const char *ns, const char *name)
{
    shm_so_spec_t s = {.flags = SHM_F_VALID, .generation = gen};

    snprintf(s.ns, sizeof s.ns, "%s", ns);
    snprintf(s.name, sizeof s.name, "%s", name);
    shm_so_spec_write(t, slot, &s);
    assert_int_equal(shm_index_insert(t, ns, name, slot, gen), 0);
}

static void so_drop(shm_table_t *t, uint32_t slot, const char *ns, const char *name)
{
    shm_so_spec_t s = {0};

    assert_int_equal(shm_index_remove(t, ns, name, slot), 0);
    shm_so_spec_write(t, slot, &s);
}

static void so_assert_found(shm_table_t *t, const char *ns, const char *name, uint32_t slot,
                            uint32_t gen)
{
    uint32_t got = SHM_NONE;
    shm_so_spec_t spec;

    assert_int_equal(shm_so_find(t, ns, name, &got, &spec), 0);
    assert_int_equal(got, slot);
    assert_int_equal(spec.generation, gen);
    assert_string_equal(spec.ns, ns);
    assert_string_equal(spec.name, name);
}

/* ---- layout ------------------------------------------------------------------------------ */

static void layout_assert_sane(const shm_caps_t *caps)
{
    shm_header_t h;
    uint64_t end = SHM_PAGE;

    shm_layout_compute(caps, &h);
    assert_int_equal(h.total_size, shm_table_size(caps));
    assert_int_equal(h.total_size % SHM_PAGE, 0);
    assert_true(h.regions[0].offset >= sizeof h);
    for (int r = 0; r < SHM_R_COUNT; r++) {
        const shm_region_desc_t *d = &h.regions[r];
        uint64_t need = (uint64_t)d->count * d->stride + (r == SHM_R_INDEX ? SHM_CACHE_LINE : 0);
        assert_int_equal(d->offset % SHM_PAGE, 0);
        assert_int_equal(d->size % SHM_PAGE, 0);
        assert_true(d->offset >= end); /* after the previous region: no overlap */
        assert_true(d->size >= need);
        assert_true(d->offset + d->size <= h.total_size);
        end = d->offset + d->size;
    }
    assert_int_equal(h.regions[SHM_R_SO_SPEC].count, caps->max_so);
    assert_int_equal(h.regions[SHM_R_TRIG_RESULT].count, caps->max_trig);
    assert_int_equal(h.regions[SHM_R_PROC_SELF].count, caps->max_proc);
    assert_true(h.index_buckets >= 2 * caps->max_so);
    assert_int_equal(h.index_buckets & (h.index_buckets - 1), 0);
    /* Groups never share a cache line with a neighbour (a writer would slow its readers). */
    assert_int_equal(h.regions[SHM_R_TRIG_RESULT].stride % SHM_CACHE_LINE, 0);
    assert_int_equal(h.regions[SHM_R_SO_SPEC].stride % SHM_CACHE_LINE, 0);
    assert_int_equal(h.regions[SHM_R_PROC_SELF].stride % SHM_CACHE_LINE, 0);
}

static void test_shm_table_size_default_caps(void **state)
{
    size_t size = shm_table_size(&default_caps);

    print_message("table size at %u SO / %u triggers / %u procs / %u per SO: %zu bytes "
                  "(%.1f MiB)\n",
                  default_caps.max_so, default_caps.max_trig, default_caps.max_proc,
                  default_caps.max_trig_per_so, size, (double)size / (1024 * 1024));
    assert_int_equal(size % SHM_PAGE, 0);
    /* A sanity ceiling: the default table must stay small enough for a pod's /dev/shm. */
    assert_true(size < 64u * 1024 * 1024);
    assert_int_equal(shm_caps_check(&default_caps), 0);
}

static void test_shm_layout_compute_regions_aligned_disjoint(void **state)
{
    const shm_caps_t odd = {.max_so = 1, .max_trig = 1, .max_proc = 4, .max_trig_per_so = 1};
    const shm_caps_t big = {
        .max_so = 100000, .max_trig = 300001, .max_proc = 4096, .max_trig_per_so = 64};

    layout_assert_sane(&default_caps);
    layout_assert_sane(&small_caps);
    layout_assert_sane(&odd);
    layout_assert_sane(&big);
}

static void test_shm_caps_check_rejects_out_of_range(void **state)
{
    shm_caps_t c = default_caps;

    c.max_so = 0;
    assert_int_equal(shm_caps_check(&c), -EINVAL);
    c = default_caps;
    c.max_proc = 3;
    assert_int_equal(shm_caps_check(&c), -EINVAL);
    c = default_caps;
    c.max_trig_per_so = SHM_TRIGGERS_PER_SO_MAX + 1;
    assert_int_equal(shm_caps_check(&c), -EINVAL);
    c = default_caps;
    c.max_trig = 0;
    assert_int_equal(shm_caps_check(&c), -EINVAL);
}

static void test_shm_layout_validate_rejects_bad_headers(void **state)
{
    shm_header_t good, h;
    size_t size;

    shm_layout_compute(&small_caps, &good);
    size = good.total_size;
    assert_int_equal(shm_layout_validate(&good, size), 0);

    h = good;
    h.magic[0] ^= 1;
    assert_int_equal(shm_layout_validate(&h, size), -EBADMSG);
    h = good;
    h.layout_version = SHM_LAYOUT_VERSION + 1;
    assert_int_equal(shm_layout_validate(&h, size), -EPROTO);
    h = good;
    h.header_size -= 8;
    assert_int_equal(shm_layout_validate(&h, size), -EPROTO);
    h = good; /* capacities out of range */
    h.caps.max_so = 0;
    assert_int_equal(shm_layout_validate(&h, size), -EBADMSG);
    h = good; /* valid capacities that do not match the offsets and size */
    h.caps.max_trig = small_caps.max_trig * 2;
    assert_int_equal(shm_layout_validate(&h, size * 4), -EBADMSG);
    h = good;
    h.regions[SHM_R_TRIG_RESULT].offset += SHM_PAGE;
    assert_int_equal(shm_layout_validate(&h, size), -EPROTO);
    h = good;
    h.regions[SHM_R_SO_SPEC].stride += SHM_CACHE_LINE;
    assert_int_equal(shm_layout_validate(&h, size), -EPROTO);
    h = good;
    h.regions[SHM_R_INDEX].count /= 2;
    assert_int_equal(shm_layout_validate(&h, size), -EPROTO);
    h = good;
    h.entry_sizes[SHM_R_TRIG_CFG] += 8;
    assert_int_equal(shm_layout_validate(&h, size), -EPROTO);
    h = good;
    h.index_buckets *= 2;
    assert_int_equal(shm_layout_validate(&h, size), -EBADMSG);
    h = good;
    h.total_size += SHM_PAGE;
    assert_int_equal(shm_layout_validate(&h, size + SHM_PAGE), -EBADMSG);
    /* A mapping shorter than the table it describes, or than a header. */
    assert_int_equal(shm_layout_validate(&good, size - 1), -EBADMSG);
    assert_int_equal(shm_layout_validate(&good, sizeof good - 1), -EBADMSG);
}

static void test_shm_table_attach_fd_truncated_object_rejected(void **state)
{
    fixture_t *f = *state;
    size_t size = shm_table_size(&small_caps);
    int fd = memfd_create("ckeda-test-truncated", MFD_CLOEXEC);
    shm_table_t *t = NULL;

    assert_true(fd >= 0);
    /* A header that validates, in an object one page shorter than the table. */
    assert_int_equal(write(fd, shm_table_base(f->t), SHM_PAGE), SHM_PAGE);
    assert_int_equal(ftruncate(fd, (off_t)(size - SHM_PAGE)), 0);
    assert_int_equal(shm_table_attach_fd(fd, &t), -EBADMSG);
    assert_null(t);
    /* Shorter than a header. */
    assert_int_equal(ftruncate(fd, 16), 0);
    assert_int_equal(shm_table_attach_fd(fd, &t), -EBADMSG);
    /* The full size attaches (the header is written again: shrinking to 16 bytes cut it). */
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    assert_int_equal(pwrite(fd, shm_table_base(f->t), SHM_PAGE, 0), SHM_PAGE);
    assert_int_equal(shm_table_attach_fd(fd, &t), 0); /* takes the descriptor */
    shm_table_close(t);
}

static void test_shm_table_from_image_rejects_bad_magic(void **state)
{
    fixture_t *f = *state;
    size_t size = shm_table_mapped_size(f->t);
    uint8_t *img = malloc(size);
    shm_table_t *t = NULL;

    assert_non_null(img);
    memcpy(img, shm_table_base(f->t), size);
    img[0] ^= 0xff;
    assert_int_equal(shm_table_from_image(img, size, &t), -EBADMSG);
    assert_null(t);
    img[0] ^= 0xff;
    assert_int_equal(shm_table_from_image(img, size, &t), 0); /* owns img now */
    shm_table_close(t);
}

/* ---- create, attach, open ---------------------------------------------------------------- */

static void test_shm_table_create_live_name_busy(void **state)
{
    fixture_t *f = *state;
    shm_table_t *t2 = NULL;
    shm_header_info_t before, after;
    shm_watcher_t w = {.flags = SHM_F_VALID, .pid = 77}, got;

    shm_watcher_write(f->t, &w);
    shm_header_get(f->t, &before);
    assert_int_equal(shm_table_create(f->name, &small_caps, &t2), -EBUSY);
    assert_null(t2);
    /* The live table is untouched: same nonce, same contents. */
    shm_header_get(f->t, &after);
    assert_memory_equal(before.nonce, after.nonce, sizeof before.nonce);
    assert_int_equal(shm_watcher_read(f->t, &got), 0);
    assert_int_equal(got.pid, 77);
    /* Also with a leading slash: the same object. */
    char slashed[80];
    snprintf(slashed, sizeof slashed, "/%s", f->name);
    assert_int_equal(shm_table_create(slashed, &small_caps, &t2), -EBUSY);
}

static void test_shm_table_create_lock_held_by_child_busy(void **state)
{
    fixture_t *f = *state;
    shm_table_t *t2 = NULL;
    int pipefd[2], status;
    char c;
    pid_t pid;

    assert_int_equal(pipe(pipefd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* a role: holds the inherited descriptor until told to go */
        close(pipefd[1]);
        while (read(pipefd[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(pipefd[0]);
    /* The creator is gone, a child still holds the descriptor: still live. */
    shm_table_close(f->t);
    f->t = NULL;
    assert_int_equal(shm_table_create(f->name, &small_caps, &t2), -EBUSY);
    close(pipefd[1]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(status_ok(status));
    assert_int_equal(shm_table_create(f->name, &small_caps, &f->t), 0);
}

static void test_shm_table_create_stale_name_replaced(void **state)
{
    fixture_t *f = *state;
    shm_header_info_t old_hdr, new_hdr;
    shm_so_spec_t s = {.flags = SHM_F_VALID, .generation = 9}, got;

    shm_so_spec_write(f->t, 3, &s);
    shm_header_get(f->t, &old_hdr);
    shm_table_close(f->t); /* the owner died: lock released, name left behind */
    f->t = NULL;
    assert_int_equal(shm_table_create(f->name, &small_caps, &f->t), 0);
    shm_header_get(f->t, &new_hdr);
    assert_memory_not_equal(old_hdr.nonce, new_hdr.nonce, sizeof old_hdr.nonce);
    assert_int_equal(shm_so_spec_read(f->t, 3, &got), 0);
    assert_int_equal(got.flags, 0);
    assert_int_equal(got.generation, 0);
}

static void test_shm_table_create_stale_name_other_caps(void **state)
{
    fixture_t *f = *state;
    shm_table_t *ro = NULL;

    shm_table_close(f->t);
    f->t = NULL;
    assert_int_equal(shm_table_create(f->name, &default_caps, &f->t), 0);
    assert_int_equal(shm_table_open_readonly(f->name, &ro), 0);
    assert_int_equal(shm_table_caps(ro)->max_trig, SHM_DEFAULT_MAX_TRIG);
    assert_int_equal(shm_table_mapped_size(ro), shm_table_size(&default_caps));
    shm_table_close(ro);
}

static void test_shm_table_create_mode_0600(void **state)
{
    fixture_t *f = *state;
    struct stat st;
    char path[96];
    int fd;

    assert_int_equal(fstat(shm_table_fd(f->t), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, geteuid());
    /* A stale object left world-readable is tightened when it is replaced. */
    shm_table_close(f->t);
    f->t = NULL;
    snprintf(path, sizeof path, "/%s", f->name);
    fd = shm_open(path, O_RDWR, 0);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, 0666), 0);
    close(fd);
    assert_int_equal(shm_table_create(f->name, &small_caps, &f->t), 0);
    assert_int_equal(fstat(shm_table_fd(f->t), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_shm_table_create_invalid_arguments(void **state)
{
    shm_table_t *t = NULL;
    shm_caps_t bad = small_caps;

    assert_int_equal(shm_table_create("a/b", &small_caps, &t), -EINVAL);
    assert_int_equal(shm_table_create("", &small_caps, &t), -EINVAL);
    bad.max_proc = 0;
    assert_int_equal(shm_table_create("ckeda-test-never", &bad, &t), -EINVAL);
    assert_null(t);
    assert_int_equal(shm_table_open_readonly("ckeda-test-does-not-exist", &t), -ENOENT);
}

static void test_shm_table_attach_fd_shares_contents(void **state)
{
    fixture_t *f = *state;
    shm_table_t *a = NULL;
    shm_header_info_t h1, h2;
    shm_trig_result_t v = {.flags = SHM_F_VALID, .value = 42.5}, got;

    assert_int_equal(shm_table_attach_fd(dup(shm_table_fd(f->t)), &a), 0);
    shm_header_get(f->t, &h1);
    shm_header_get(a, &h2);
    assert_memory_equal(h1.nonce, h2.nonce, sizeof h1.nonce);
    assert_int_equal(h2.total_size, shm_table_size(&small_caps));
    shm_trig_result_write(a, 5, &v);
    assert_int_equal(shm_trig_result_read(f->t, 5, &got), 0);
    assert_true(got.value == 42.5);
    shm_table_close(a); /* closes the dup only: the creator's lock stays */
    shm_table_t *t2 = NULL;
    assert_int_equal(shm_table_create(f->name, &small_caps, &t2), -EBUSY);
}

static void act_trig_result_write(shm_table_t *t)
{
    shm_trig_result_t v = {.flags = SHM_F_VALID, .value = 1};
    shm_trig_result_write(t, 0, &v);
}

static void test_shm_table_open_readonly_cannot_write(void **state)
{
    fixture_t *f = *state;
    shm_table_t *ro = NULL;
    shm_trig_result_t v = {.flags = SHM_F_VALID, .value = 7}, got;

    shm_trig_result_write(f->t, 0, &v);
    assert_int_equal(shm_table_open_readonly(f->name, &ro), 0);
    assert_int_equal(shm_trig_result_read(ro, 0, &got), 0);
    assert_true(got.value == 7);
    assert_true(status_segv(child_run(ro, SHM_ROLE_SUPERVISOR, false, act_trig_result_write)));
    /* The write never happened. */
    assert_int_equal(shm_trig_result_read(f->t, 0, &got), 0);
    assert_true(got.value == 7);
    shm_table_close(ro);
}

static void act_trig_cfg_write(shm_table_t *t)
{
    shm_trig_cfg_t v = {.flags = SHM_F_VALID};
    shm_trig_cfg_write(t, 0, &v);
}

static void act_trig_ctl_write(shm_table_t *t)
{
    shm_trig_ctl_t v = {.flags = SHM_F_VALID, .worker = 1};
    shm_trig_ctl_write(t, 0, &v);
}

static void act_proc_ctl_write(shm_table_t *t)
{
    shm_proc_ctl_t v = {.flags = SHM_F_VALID};
    shm_proc_ctl_write(t, 0, &v);
}

static void act_so_spec_write(shm_table_t *t)
{
    shm_so_spec_t v = {.flags = SHM_F_VALID};
    shm_so_spec_write(t, 0, &v);
}

static void act_so_observed_write(shm_table_t *t)
{
    shm_so_observed_t v = {.flags = SHM_F_VALID};
    shm_so_observed_write(t, 0, &v);
}

static void act_watcher_write(shm_table_t *t)
{
    shm_watcher_t v = {.flags = SHM_F_VALID};
    shm_watcher_write(t, &v);
}

static void act_index_insert(shm_table_t *t)
{
    if (shm_index_insert(t, "ns", "obj", 0, 1) < 0)
        _exit(4);
}

static void act_demand_stamp(shm_table_t *t)
{
    shm_trig_demand_stamp(t, 0, 123);
}

static void act_proc_heartbeat(shm_table_t *t)
{
    shm_proc_heartbeat(t, 1, 456);
    if (shm_proc_inflight_add(t, 1, 9) < 0)
        _exit(4);
}

static void act_header_heartbeat(shm_table_t *t)
{
    shm_header_heartbeat(t, 789);
}

typedef struct protect_case {
    shm_role_t role;
    void (*act)(shm_table_t *);
    bool allowed;
} protect_case_t;

static void test_shm_table_protect_nonowned_regions_readonly(void **state)
{
    fixture_t *f = *state;
    static const protect_case_t cases[] = {
        {SHM_ROLE_SCALEWORKER, act_trig_result_write, true},
        {SHM_ROLE_SCALEWORKER, act_proc_heartbeat, true},
        {SHM_ROLE_SCALEWORKER, act_trig_cfg_write, false},
        {SHM_ROLE_SCALEWORKER, act_trig_ctl_write, false},
        {SHM_ROLE_SCALEWORKER, act_demand_stamp, false},
        {SHM_ROLE_SCALEWORKER, act_header_heartbeat, false},
        {SHM_ROLE_WATCHER, act_so_spec_write, true},
        {SHM_ROLE_WATCHER, act_so_observed_write, true},
        {SHM_ROLE_WATCHER, act_trig_cfg_write, true},
        {SHM_ROLE_WATCHER, act_watcher_write, true},
        {SHM_ROLE_WATCHER, act_index_insert, true},
        {SHM_ROLE_WATCHER, act_trig_result_write, false},
        {SHM_ROLE_WATCHER, act_trig_ctl_write, false},
        {SHM_ROLE_WATCHER, act_proc_ctl_write, false},
        {SHM_ROLE_ADAPTER, act_demand_stamp, true},
        {SHM_ROLE_ADAPTER, act_proc_heartbeat, true},
        {SHM_ROLE_ADAPTER, act_so_observed_write, false},
        {SHM_ROLE_ADAPTER, act_trig_result_write, false},
        {SHM_ROLE_WEBHOOK, act_proc_heartbeat, true},
        {SHM_ROLE_WEBHOOK, act_demand_stamp, false},
        {SHM_ROLE_WEBHOOK, act_so_spec_write, false},
        {SHM_ROLE_SUPERVISOR, act_trig_ctl_write, true},
        {SHM_ROLE_SUPERVISOR, act_proc_ctl_write, true},
        {SHM_ROLE_SUPERVISOR, act_header_heartbeat, true},
        {SHM_ROLE_SUPERVISOR, act_trig_result_write, true}, /* repair writes anything */
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = child_run(f->t, cases[i].role, true, cases[i].act);
        print_message("  %-11s case %zu: %s\n", shm_role_name(cases[i].role), i,
                      status_ok(st)     ? "written"
                      : status_segv(st) ? "SIGSEGV"
                                        : "other");
        assert_true(cases[i].allowed ? status_ok(st) : status_segv(st));
    }
    /* Protection is per process: the parent's mapping stays writable. */
    act_trig_cfg_write(f->t);
}

/* ---- field groups ------------------------------------------------------------------------ */

static void test_shm_group_write_read_round_trip(void **state)
{
    fixture_t *f = *state;
    shm_table_t *t = f->t;
    uint32_t so = small_caps.max_so - 1, tr = small_caps.max_trig - 1, pr = small_caps.max_proc - 1;
    shm_watcher_t w, w2;
    shm_proc_ctl_t pc, pc2;
    shm_so_spec_t ss, ss2;
    shm_so_observed_t so1, so2;
    shm_trig_cfg_t tc, tc2;
    shm_trig_ctl_t tl, tl2;
    shm_trig_result_t res, res2;

    pattern_fill(&w, sizeof w, 1);
    pattern_fill(&pc, sizeof pc, 2);
    pattern_fill(&ss, sizeof ss, 3);
    pattern_fill(&so1, sizeof so1, 4);
    pattern_fill(&tc, sizeof tc, 5);
    pattern_fill(&tl, sizeof tl, 6);
    pattern_fill(&res, sizeof res, 7);
    shm_watcher_write(t, &w);
    shm_proc_ctl_write(t, pr, &pc);
    shm_so_spec_write(t, so, &ss);
    shm_so_observed_write(t, so, &so1);
    shm_trig_cfg_write(t, tr, &tc);
    shm_trig_ctl_write(t, tr, &tl);
    shm_trig_result_write(t, tr, &res);
    shm_trig_demand_stamp(t, tr, 0x123456789abcULL);

    assert_int_equal(shm_watcher_read(t, &w2), 0);
    assert_memory_equal(&w, &w2, sizeof w);
    assert_int_equal(shm_proc_ctl_read(t, pr, &pc2), 0);
    assert_memory_equal(&pc, &pc2, sizeof pc);
    assert_int_equal(shm_so_spec_read(t, so, &ss2), 0);
    assert_memory_equal(&ss, &ss2, sizeof ss);
    assert_int_equal(shm_so_observed_read(t, so, &so2), 0);
    assert_memory_equal(&so1, &so2, sizeof so1);
    assert_int_equal(shm_trig_cfg_read(t, tr, &tc2), 0);
    assert_memory_equal(&tc, &tc2, sizeof tc);
    assert_int_equal(shm_trig_ctl_read(t, tr, &tl2), 0);
    assert_memory_equal(&tl, &tl2, sizeof tl);
    assert_int_equal(shm_trig_result_read(t, tr, &res2), 0);
    assert_memory_equal(&res, &res2, sizeof res);
    assert_int_equal(shm_trig_demand_get(t, tr), 0x123456789abcULL);

    /* Neighbours are untouched: slots do not overlap. */
    assert_int_equal(shm_trig_result_read(t, tr - 1, &res2), 0);
    assert_int_equal(res2.flags, 0);
    assert_true(res2.value == 0);
    assert_int_equal(shm_so_spec_read(t, so - 1, &ss2), 0);
    assert_int_equal(ss2.generation, 0);
}

static void test_shm_header_set_get_round_trip(void **state)
{
    fixture_t *f = *state;
    const uint16_t ports[SHM_PORT_COUNT] = {6443, 9443, 8080, 8081};
    shm_header_info_t h;

    shm_header_set_ports(f->t, ports);
    shm_header_set_registry_hash(f->t, 0xfeedfacecafebeefULL);
    shm_header_set_supervisor(f->t, 4242, 1700000000123ULL);
    shm_header_heartbeat(f->t, 99999);
    shm_header_get(f->t, &h);
    assert_int_equal(h.layout_version, SHM_LAYOUT_VERSION);
    assert_int_equal(h.total_size, shm_table_size(&small_caps));
    assert_memory_equal(&h.caps, &small_caps, sizeof small_caps);
    assert_memory_equal(h.ports, ports, sizeof ports);
    assert_int_equal(h.registry_hash, 0xfeedfacecafebeefULL);
    assert_int_equal(h.supervisor_pid, 4242);
    assert_int_equal(h.supervisor_start_real_ms, 1700000000123ULL);
    assert_int_equal(h.supervisor_heartbeat_mono_ms, 99999);
}

static void test_shm_table_create_fresh_state(void **state)
{
    fixture_t *f = *state;
    shm_trig_ctl_t ctl;
    shm_trig_result_t res;
    shm_index_stats_t st;
    shm_odd_group_t odd[4];

    /* Every trigger starts unassigned, every payload invalid, the index valid and empty. */
    for (uint32_t i = 0; i < small_caps.max_trig; i++) {
        assert_int_equal(shm_trig_ctl_read(f->t, i, &ctl), 0);
        assert_int_equal(ctl.worker, SHM_NONE);
        assert_int_equal(ctl.release_from, SHM_NONE);
        assert_int_equal(shm_trig_result_read(f->t, i, &res), 0);
        assert_int_equal(res.flags & SHM_F_VALID, 0);
    }
    shm_index_stats(f->t, &st);
    assert_true(st.valid);
    assert_int_equal(st.used, 0);
    assert_int_equal(st.tombstones, 0);
    assert_true(st.buckets >= 2 * small_caps.max_so);
    assert_int_equal(shm_odd_groups(f->t, odd, 4), 0);
}

static void test_shm_group_read_out_of_range_slot(void **state)
{
    fixture_t *f = *state;
    shm_table_t *t = f->t;
    shm_proc_ctl_t pc;
    shm_so_spec_t ss;
    shm_so_observed_t so;
    shm_trig_cfg_t tc;
    shm_trig_ctl_t tl;
    shm_trig_result_t res;

    /* Out-parameters are left alone on failure. */
    memset(&res, 0xab, sizeof res);
    assert_int_equal(shm_trig_result_read(t, small_caps.max_trig, &res), -ERANGE);
    assert_int_equal(res.flags, 0xababababu);
    assert_int_equal(shm_trig_result_read(t, SHM_NONE, &res), -ERANGE);
    assert_int_equal(shm_trig_cfg_read(t, small_caps.max_trig, &tc), -ERANGE);
    assert_int_equal(shm_trig_ctl_read(t, small_caps.max_trig, &tl), -ERANGE);
    assert_int_equal(shm_so_spec_read(t, small_caps.max_so, &ss), -ERANGE);
    assert_int_equal(shm_so_observed_read(t, small_caps.max_so, &so), -ERANGE);
    assert_int_equal(shm_proc_ctl_read(t, small_caps.max_proc, &pc), -ERANGE);
    assert_int_equal(shm_trig_demand_get(t, small_caps.max_trig), 0);
    assert_int_equal(shm_trig_demand_get(t, SHM_NONE), 0);
}

/* ---- seqlock and repair ------------------------------------------------------------------ */

static shm_seq_t *result_seq(shm_table_t *t, uint32_t slot)
{
    return &((shm_g_trig_result_t *)shm_entry(t, SHM_R_TRIG_RESULT, slot))->seq;
}

static void trig_assign(shm_table_t *t, uint32_t trig, uint32_t worker, uint32_t release_from)
{
    shm_trig_ctl_t ctl = {.flags = SHM_F_VALID, .worker = worker, .release_from = release_from};
    shm_trig_ctl_write(t, trig, &ctl);
}

static void result_put(shm_table_t *t, uint32_t trig, double value)
{
    shm_trig_result_t r = {
        .flags = SHM_F_VALID, .for_cfg_gen = 1, .value = value, .measured_mono_ms = 1000};
    shm_trig_result_write(t, trig, &r);
}

static void test_shm_trig_result_read_odd_group_bounded_eagain(void **state)
{
    fixture_t *f = *state;
    shm_trig_result_t got;
    uint64_t t0;

    result_put(f->t, 4, 3.0);
    shm_seq_write_begin(result_seq(f->t, 4)); /* a writer that died between its bumps */
    memset(&got, 0xcd, sizeof got);
    t0 = now_ns();
    assert_int_equal(shm_trig_result_read(f->t, 4, &got), -EAGAIN);
    /* Generous upper bound: readers give up, they do not wait for repair. */
    assert_true(now_ns() - t0 < 1000000000u);
    assert_int_equal(got.flags, 0xcdcdcdcdu);
    /* Other groups of the same region are readable. */
    assert_int_equal(shm_trig_result_read(f->t, 5, &got), 0);
    assert_int_equal(shm_trig_result_read(f->t, 3, &got), 0);
}

static void test_shm_repair_completes_only_dead_writers_groups(void **state)
{
    fixture_t *f = *state;
    shm_table_t *t = f->t;
    shm_trig_result_t got;
    shm_odd_group_t odd[8];

    /* Worker 2 died writing trigger 0; its trigger 1 is even; worker 3 is writing trigger 2. */
    trig_assign(t, 0, 2, SHM_NONE);
    trig_assign(t, 1, 2, SHM_NONE);
    trig_assign(t, 2, 3, SHM_NONE);
    result_put(t, 0, 10);
    result_put(t, 1, 11);
    result_put(t, 2, 12);
    shm_seq_write_begin(result_seq(t, 0));
    shm_seq_write_begin(result_seq(t, 2));
    assert_int_equal(shm_odd_groups(t, odd, 8), 2);
    assert_string_equal(odd[0].region, "trigger-result");
    assert_int_equal(odd[0].entry, 0);
    assert_int_equal(odd[1].entry, 2);

    /* The wrong role repairs nothing. */
    assert_int_equal(shm_repair(t, SHM_ROLE_WATCHER, 2), 0);
    assert_int_equal(shm_repair(t, SHM_ROLE_ADAPTER, 2), 0);
    assert_int_equal(shm_repair(t, SHM_ROLE_SCALEWORKER, 2), 1);

    assert_int_equal(shm_trig_result_read(t, 0, &got), 0);
    assert_int_equal(got.flags & SHM_F_VALID, 0);
    assert_int_equal(atomic_load(&result_seq(t, 0)->seq) & 1, 0);
    assert_int_equal(shm_trig_result_read(t, 1, &got), 0); /* even: keeps its measurement */
    assert_int_equal(got.flags & SHM_F_VALID, SHM_F_VALID);
    assert_true(got.value == 11);
    /* Another worker's group is never completed under it: it may be mid-write right now. */
    assert_int_equal(shm_trig_result_read(t, 2, &got), -EAGAIN);
    assert_int_equal(shm_odd_groups(t, odd, 8), 1);
    assert_int_equal(odd[0].entry, 2);

    /* After repair the next publish by a new worker is a normal, readable write. */
    result_put(t, 0, 20);
    assert_int_equal(shm_trig_result_read(t, 0, &got), 0);
    assert_true(got.value == 20);
    assert_int_equal(got.flags & SHM_F_VALID, SHM_F_VALID);
}

/* A worker keeps publishing the triggers it is being released from until it acknowledges
 * (DESIGN.md: a trigger moves only through "unassigned"). If it dies mid-write then, its group
 * must be repaired too, or the next worker's writes would run with inverted parity. */
static void test_shm_repair_released_trigger_of_dead_worker(void **state)
{
    fixture_t *f = *state;
    shm_table_t *t = f->t;
    shm_trig_result_t got;

    trig_assign(t, 6, SHM_NONE, 2); /* unassigned, waiting for worker 2's acknowledgement */
    trig_assign(t, 7, 5, 2);        /* already reassigned to worker 5, which is mid-write */
    result_put(t, 6, 1);
    result_put(t, 7, 1);
    shm_seq_write_begin(result_seq(t, 6));
    shm_seq_write_begin(result_seq(t, 7));
    assert_int_equal(shm_repair(t, SHM_ROLE_SCALEWORKER, 2), 1);
    assert_int_equal(shm_trig_result_read(t, 6, &got), 0);
    assert_int_equal(got.flags & SHM_F_VALID, 0);
    assert_int_equal(shm_trig_result_read(t, 7, &got), -EAGAIN);
}

static void test_shm_repair_watcher_groups_and_index(void **state)
{
    fixture_t *f = *state;
    shm_table_t *t = f->t;
    shm_g_index_t *ix = shm_entry(t, SHM_R_INDEX, 0);
    shm_g_so_spec_t *g = shm_entry(t, SHM_R_SO_SPEC, 1);
    shm_so_spec_t got;
    shm_index_stats_t st;

    so_put(t, 0, 1, "default", "kept");
    so_put(t, 1, 1, "default", "torn");
    shm_seq_write_begin(&g->seq);
    shm_seq_write_begin(&ix->seq);
    assert_int_equal(shm_repair(t, SHM_ROLE_SCALEWORKER, 0), 0);
    assert_int_equal(shm_repair(t, SHM_ROLE_SUPERVISOR, 0), 0);
    assert_int_equal(shm_repair(t, SHM_ROLE_WATCHER, 0), 2);
    assert_int_equal(shm_so_spec_read(t, 1, &got), 0);
    assert_int_equal(got.flags & SHM_F_VALID, 0);
    shm_index_stats(t, &st);
    assert_false(st.valid);
    /* A repaired spec is no longer found; the intact one still is (by the scan). */
    so_assert_found(t, "default", "kept", 0, 1);
    assert_int_equal(shm_so_find(t, "default", "torn", &(uint32_t){0}, NULL), -ENOENT);
}

/* ---- process self ------------------------------------------------------------------------ */

static void test_shm_proc_inflight_add_full_enospc(void **state)
{
    fixture_t *f = *state;
    shm_proc_self_t ps;

    for (uint32_t i = 0; i < SHM_INFLIGHT_MAX; i++)
        assert_int_equal(shm_proc_inflight_add(f->t, 2, 100 + i), 0);
    assert_int_equal(shm_proc_inflight_add(f->t, 2, 999), -ENOSPC);
    shm_proc_self_read(f->t, 2, &ps);
    assert_int_equal(ps.inflight_count, SHM_INFLIGHT_MAX);
    for (uint32_t i = 0; i < SHM_INFLIGHT_MAX; i++)
        assert_int_equal(ps.inflight[i], 100 + i);

    shm_proc_inflight_del(f->t, 2, 110);
    shm_proc_inflight_del(f->t, 2, 12345); /* not in flight: no-op */
    shm_proc_self_read(f->t, 2, &ps);
    assert_int_equal(ps.inflight_count, SHM_INFLIGHT_MAX - 1);
    for (uint32_t i = 0; i < ps.inflight_count; i++)
        assert_int_not_equal(ps.inflight[i], 110);
    assert_int_equal(ps.inflight[SHM_INFLIGHT_MAX - 1], SHM_NONE);
    assert_int_equal(shm_proc_inflight_add(f->t, 2, 0), 0); /* slot 0 is a real trigger */
    shm_proc_self_read(f->t, 2, &ps);
    assert_int_equal(ps.inflight_count, SHM_INFLIGHT_MAX);
    /* Other processes' entries are separate. */
    shm_proc_self_read(f->t, 3, &ps);
    assert_int_equal(ps.inflight_count, 0);
    assert_int_equal(ps.inflight[0], SHM_NONE);
}

static void test_shm_proc_self_read_heartbeat_ack_reset(void **state)
{
    fixture_t *f = *state;
    shm_proc_self_t ps;

    shm_proc_heartbeat(f->t, 1, 5000);
    shm_proc_ack(f->t, 1, 17);
    shm_proc_count(f->t, 1, 3, 1);
    shm_proc_count(f->t, 1, 2, 0);
    assert_int_equal(shm_proc_inflight_add(f->t, 1, 8), 0);
    shm_proc_self_read(f->t, 1, &ps);
    assert_int_equal(ps.heartbeat_mono_ms, 5000);
    assert_int_equal(ps.ack_assign_gen, 17);
    assert_int_equal(ps.polls_total, 5);
    assert_int_equal(ps.errors_total, 1);
    assert_int_equal(ps.inflight_count, 1);
    assert_int_equal(ps.inflight[0], 8);

    /* Before a respawn: no heartbeat, nothing acknowledged, nothing in flight. */
    shm_proc_self_reset(f->t, 1);
    shm_proc_self_read(f->t, 1, &ps);
    assert_int_equal(ps.heartbeat_mono_ms, 0);
    assert_int_equal(ps.ack_assign_gen, 0);
    assert_int_equal(ps.inflight_count, 0);
    assert_int_equal(ps.inflight[0], SHM_NONE);
}

/* ---- index ------------------------------------------------------------------------------- */

static void test_shm_so_find_inserted_removed(void **state)
{
    fixture_t *f = *state;
    shm_index_stats_t st;
    uint32_t slot = 77;

    so_put(f->t, 3, 1, "default", "web");
    so_put(f->t, 4, 1, "other", "web");
    so_assert_found(f->t, "default", "web", 3, 1);
    so_assert_found(f->t, "other", "web", 4, 1);
    assert_int_equal(shm_so_find(f->t, "default", "web2", &slot, NULL), -ENOENT);
    assert_int_equal(slot, 77);
    assert_int_equal(shm_so_find(f->t, "default", "", &slot, NULL), -ENOENT);
    shm_index_stats(f->t, &st);
    assert_int_equal(st.used, 2);

    so_drop(f->t, 3, "default", "web");
    assert_int_equal(shm_so_find(f->t, "default", "web", &slot, NULL), -ENOENT);
    assert_int_equal(shm_index_remove(f->t, "default", "web", 3), -ENOENT);
    so_assert_found(f->t, "other", "web", 4, 1);
    shm_index_stats(f->t, &st);
    assert_int_equal(st.used, 1);
    assert_int_equal(st.tombstones, 1);
    assert_int_equal(shm_index_insert(f->t, "ns", "x", small_caps.max_so, 1), -ERANGE);
}

static void test_shm_so_find_slot_reused_new_generation(void **state)
{
    fixture_t *f = *state;
    uint32_t slot;

    so_put(f->t, 5, 1, "default", "old");
    so_drop(f->t, 5, "default", "old");
    so_put(f->t, 5, 2, "default", "new");
    so_assert_found(f->t, "default", "new", 5, 2);
    assert_int_equal(shm_so_find(f->t, "default", "old", &slot, NULL), -ENOENT);
    /* The same name back in the same slot, one generation later. */
    so_drop(f->t, 5, "default", "new");
    so_put(f->t, 5, 3, "default", "old");
    so_assert_found(f->t, "default", "old", 5, 3);
}

static void test_shm_so_find_stale_entry_verified_against_slot(void **state)
{
    fixture_t *f = *state;
    shm_so_spec_t other = {.flags = SHM_F_VALID, .generation = 2};
    uint32_t slot;

    /* The index still points at slot 6 for default/a, but the slot now holds default/b (a
     * watcher that died between rewriting the slot and updating the index). */
    so_put(f->t, 6, 1, "default", "a");
    snprintf(other.ns, sizeof other.ns, "default");
    snprintf(other.name, sizeof other.name, "b");
    shm_so_spec_write(f->t, 6, &other);
    assert_int_equal(shm_so_find(f->t, "default", "a", &slot, NULL), -ENOENT);
    /* An invalid slot is never returned either. */
    so_put(f->t, 7, 1, "default", "c");
    shm_so_spec_write(f->t, 7, &(shm_so_spec_t){0});
    assert_int_equal(shm_so_find(f->t, "default", "c", &slot, NULL), -ENOENT);
    /* default/a moved to slot 8: the stale entry is skipped, the live one found. */
    so_put(f->t, 8, 3, "default", "a");
    so_assert_found(f->t, "default", "a", 8, 3);
}

static void test_shm_index_insert_tombstones_rebuild_keeps_objects(void **state)
{
    fixture_t *f = *state;
    const uint32_t live = small_caps.max_so; /* full capacity */
    uint32_t gen[64];
    char name[32];
    shm_index_stats_t st;
    bool rebuilt = false;

    for (uint32_t s = 0; s < live; s++) {
        gen[s] = 1;
        snprintf(name, sizeof name, "so-%u-0", s);
        so_put(f->t, s, gen[s], "churn", name);
    }
    /* Delete and recreate objects, always at full capacity, until tombstones force rebuilds. */
    for (uint32_t i = 0; i < 600; i++) {
        uint32_t s = (i * 7) % live;
        shm_index_stats_t before;
        snprintf(name, sizeof name, "so-%u-%u", s, gen[s] - 1);
        so_drop(f->t, s, "churn", name);
        shm_index_stats(f->t, &before);
        snprintf(name, sizeof name, "so-%u-%u", s, gen[s]);
        so_put(f->t, s, gen[s] + 1, "churn", name);
        gen[s]++;
        shm_index_stats(f->t, &st);
        if (before.tombstones > before.buckets / 4) {
            assert_int_equal(st.tombstones, 0);
            rebuilt = true;
        }
        assert_true(st.valid);
        assert_true(st.tombstones <= st.buckets / 4 + 1);
        assert_int_equal(st.used, live); /* one entry per live object, no duplicates */
    }
    assert_true(rebuilt);
    for (uint32_t s = 0; s < live; s++) {
        snprintf(name, sizeof name, "so-%u-%u", s, gen[s] - 1);
        so_assert_found(f->t, "churn", name, s, gen[s]);
    }
}

static void test_shm_index_insert_twice_single_entry(void **state)
{
    fixture_t *f = *state;
    shm_index_stats_t st;

    so_put(f->t, 2, 1, "default", "twice");
    assert_int_equal(shm_index_insert(f->t, "default", "twice", 2, 1), 0);
    shm_index_stats(f->t, &st);
    assert_int_equal(st.used, 1);
    so_drop(f->t, 2, "default", "twice");
    assert_int_equal(shm_so_find(f->t, "default", "twice", &(uint32_t){0}, NULL), -ENOENT);
    shm_index_stats(f->t, &st);
    assert_int_equal(st.used, 0);
}

/* Bucket position of the index entry for `slot`, or SHM_NONE. */
static uint32_t bucket_of(shm_table_t *t, uint32_t slot)
{
    const shm_g_index_t *ix = shm_entry(t, SHM_R_INDEX, 0);
    for (uint32_t i = 0; i < ix->buckets; i++)
        if (shm_buckets(t)[i].slot == slot)
            return i;
    return SHM_NONE;
}

static uint32_t longest_occupied_run(shm_table_t *t)
{
    const shm_g_index_t *ix = shm_entry(t, SHM_R_INDEX, 0);
    uint32_t run = 0, best = 0;

    for (uint32_t i = 0; i < 2 * ix->buckets; i++) {
        uint32_t s = shm_buckets(t)[i % ix->buckets].slot;
        run = (s == SHM_NONE || s == SHM_TOMBSTONE) ? 0 : run + 1;
        best = run > best ? run : best;
    }
    return best;
}

#define HOSTILE_N 64

static void test_shm_index_insert_hostile_names_spread(void **state)
{
    fixture_t *f = *state;
    static const uint8_t zero_key[16];
    uint32_t mask = default_caps.max_so * 2 - 1, found = 0, same = 0;
    static char names[HOSTILE_N][32];
    char key[64];
    shm_table_t *t2 = NULL;
    char name2[64];

    assert_int_equal(((shm_g_index_t *)shm_entry(f->t, SHM_R_INDEX, 0))->buckets, mask + 1);
    /* Names that all share bucket 0 under the hash with a known (zero) key: what an attacker
     * could precompute against an unkeyed hash. */
    for (uint32_t n = 0; found < HOSTILE_N; n++) {
        int len = snprintf(key, sizeof key, "default/evil-%u", n);
        if ((shm_siphash(zero_key, key, (size_t)len) & mask) == 0)
            snprintf(names[found++], sizeof names[0], "evil-%u", n);
    }
    name_make(name2, sizeof name2);
    assert_int_equal(shm_table_create(name2, &default_caps, &t2), 0);
    for (uint32_t i = 0; i < HOSTILE_N; i++) {
        so_put(f->t, i, 1, "default", names[i]);
        so_put(t2, i, 1, "default", names[i]);
    }
    /* Under the table's random key they spread: no long probe run. */
    print_message("longest probe run of %d hostile names: %u and %u (unkeyed: %d)\n", HOSTILE_N,
                  longest_occupied_run(f->t), longest_occupied_run(t2), HOSTILE_N);
    assert_true(longest_occupied_run(f->t) < 16);
    assert_true(longest_occupied_run(t2) < 16);
    /* Two tables (two keys) place the same name in different buckets. */
    for (uint32_t i = 0; i < HOSTILE_N; i++) {
        same += bucket_of(f->t, i) == bucket_of(t2, i);
        so_assert_found(f->t, "default", names[i], i, 1);
        so_assert_found(t2, "default", names[i], i, 1);
    }
    assert_true(same < HOSTILE_N / 8);
    shm_table_close(t2);
    shm_table_unlink(name2);
}

static void test_shm_siphash_reference_vector(void **state)
{
    /* SipHash-2-4 paper, appendix A: key 00..0f, message 00..0e. */
    uint8_t key[16], msg[15];

    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    assert_int_equal(shm_siphash(key, msg, sizeof msg), 0xa129ca6149be45e5ULL);
}

static void test_shm_so_find_full_capacity(void **state)
{
    fixture_t *f = *state;
    char name[32];
    shm_index_stats_t st;

    for (uint32_t s = 0; s < SHM_DEFAULT_MAX_SO; s++) {
        snprintf(name, sizeof name, "app-%u", s);
        so_put(f->t, s, s + 1, s % 2 ? "team-a" : "team-b", name);
    }
    shm_index_stats(f->t, &st);
    assert_int_equal(st.used, SHM_DEFAULT_MAX_SO);
    for (uint32_t s = 0; s < SHM_DEFAULT_MAX_SO; s++) {
        snprintf(name, sizeof name, "app-%u", s);
        so_assert_found(f->t, s % 2 ? "team-a" : "team-b", name, s, s + 1);
        assert_int_equal(shm_so_find(f->t, s % 2 ? "team-b" : "team-a", name, &(uint32_t){0}, NULL),
                         -ENOENT);
    }
    print_message("index at %u objects: %u buckets, longest probe run %u\n", SHM_DEFAULT_MAX_SO,
                  st.buckets, longest_occupied_run(f->t));
}

static void test_shm_so_find_invalid_index_scans(void **state)
{
    fixture_t *f = *state;
    shm_g_index_t *ix = shm_entry(f->t, SHM_R_INDEX, 0);
    shm_so_spec_t lone = {.flags = SHM_F_VALID, .generation = 4};
    shm_index_stats_t st;
    char name[32];

    for (uint32_t s = 0; s < 20; s++) {
        snprintf(name, sizeof name, "obj-%u", s);
        so_put(f->t, s, 1, "default", name);
    }
    /* The watcher died mid-update of the index; the supervisor repaired it. */
    shm_seq_write_begin(&ix->seq);
    /* While it is odd, readers already fall back to the scan. */
    so_assert_found(f->t, "default", "obj-3", 3, 1);
    assert_int_equal(shm_repair(f->t, SHM_ROLE_WATCHER, 0), 1);
    shm_index_stats(f->t, &st);
    assert_false(st.valid);
    for (uint32_t s = 0; s < 20; s++) {
        snprintf(name, sizeof name, "obj-%u", s);
        so_assert_found(f->t, "default", name, s, 1);
    }
    /* An object the index never heard of is found by the scan too. */
    snprintf(lone.ns, sizeof lone.ns, "default");
    snprintf(lone.name, sizeof lone.name, "lone");
    shm_so_spec_write(f->t, 40, &lone);
    so_assert_found(f->t, "default", "lone", 40, 4);
    assert_int_equal(shm_so_find(f->t, "default", "missing", &(uint32_t){0}, NULL), -ENOENT);
    /* The (restarted) watcher's next insert rebuilds it from the slots. */
    so_put(f->t, 41, 1, "default", "after");
    shm_index_stats(f->t, &st);
    assert_true(st.valid);
    assert_int_equal(st.used, 22);
    so_assert_found(f->t, "default", "after", 41, 1);
    so_assert_found(f->t, "default", "lone", 40, 4);
    so_assert_found(f->t, "default", "obj-19", 19, 1);
}

/* ---- trigger state ----------------------------------------------------------------------- */

typedef struct trig {
    shm_trig_cfg_t cfg;
    shm_trig_ctl_t ctl;
    shm_trig_result_t res;
} trig_t;

static trig_t trig_fresh(uint64_t now)
{
    trig_t t = {
        .cfg = {.flags = SHM_F_VALID,
                .cfg_gen = 5,
                .polling_interval_ms = 30000,
                .timeout_ms = 3000,
                .activation = 10},
        .ctl = {.flags = SHM_F_VALID, .worker = 1},
        .res = {.flags = SHM_F_VALID, .for_cfg_gen = 5, .value = 20, .measured_mono_ms = now - 100},
    };
    return t;
}

static shm_state_t trig_state(const trig_t *t, uint64_t now, shm_cause_t *cause)
{
    *cause = (shm_cause_t)99; /* detects a cause that was not written */
    return shm_trigger_state(&t->cfg, &t->ctl, &t->res, now, cause);
}

static void test_shm_trigger_state_no_result(void **state)
{
    const uint64_t now = 10000000;
    trig_t t = trig_fresh(now);
    shm_cause_t c;

    t.res = (shm_trig_result_t){0}; /* never measured */
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_ERROR);
    assert_int_equal(c, SHM_CAUSE_NO_RESULT);
    t = trig_fresh(now);
    t.res.for_cfg_gen = 4; /* a result for the previous configuration */
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_ERROR);
    assert_int_equal(c, SHM_CAUSE_NO_RESULT);
    t.res.flags = 0; /* even a failure for the old config is "no result" for the new one */
    t.res.failure = SHM_FAIL_SOURCE;
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_ERROR);
    assert_int_equal(c, SHM_CAUSE_NO_RESULT);
    t = trig_fresh(now);
    assert_int_equal(shm_trigger_state(&t.cfg, &t.ctl, NULL, now, &c), SHM_STATE_ERROR);
    assert_int_equal(c, SHM_CAUSE_NO_RESULT);
    assert_false(shm_cause_is_settled(SHM_CAUSE_NO_RESULT));
    assert_false(shm_cause_is_source_failure(SHM_CAUSE_NO_RESULT));
}

static void test_shm_stale_after_ms_formula(void **state)
{
    shm_trig_cfg_t cfg = {.polling_interval_ms = 30000, .timeout_ms = 3000};

    /* max(2 x pollingInterval, pollingInterval + timeout) + the restart backoff cap */
    assert_int_equal(SHM_BACKOFF_CAP_MS, 30000);
    assert_int_equal(shm_stale_after_ms(&cfg), 60000 + 30000);
    cfg = (shm_trig_cfg_t){.polling_interval_ms = 1000, .timeout_ms = 5000};
    assert_int_equal(shm_stale_after_ms(&cfg), 6000 + 30000);
    cfg = (shm_trig_cfg_t){.polling_interval_ms = 2000, .timeout_ms = 2000};
    assert_int_equal(shm_stale_after_ms(&cfg), 4000 + 30000);
    cfg = (shm_trig_cfg_t){.polling_interval_ms = UINT32_MAX, .timeout_ms = UINT32_MAX};
    assert_int_equal(shm_stale_after_ms(&cfg), 2ULL * UINT32_MAX + 30000); /* no overflow */
}

static void test_shm_trigger_state_stale_at_boundary(void **state)
{
    const uint64_t measured = 5000000;
    trig_t t = trig_fresh(measured + 100);
    shm_cause_t c;

    t.res.measured_mono_ms = measured;
    t.cfg.polling_interval_ms = 1000;
    t.cfg.timeout_ms = 5000;
    const uint64_t stale = 36000; /* max(2000, 6000) + 30000 */
    assert_int_equal(shm_stale_after_ms(&t.cfg), stale);
    assert_int_equal(trig_state(&t, measured + stale, &c), SHM_STATE_ACTIVE);
    assert_int_equal(c, SHM_CAUSE_NONE);
    assert_int_equal(trig_state(&t, measured + stale + 1, &c), SHM_STATE_ERROR);
    assert_int_equal(c, SHM_CAUSE_STALE);
    /* pollingInterval dominates when the timeout is short. */
    t.cfg.polling_interval_ms = 10000;
    t.cfg.timeout_ms = 3000;
    assert_int_equal(trig_state(&t, measured + 50000, &c), SHM_STATE_ACTIVE);
    assert_int_equal(trig_state(&t, measured + 50001, &c), SHM_STATE_ERROR);
    assert_int_equal(c, SHM_CAUSE_STALE);
    /* A measurement from the future (another machine's clock) is not stale. */
    assert_int_equal(trig_state(&t, measured - 1, &c), SHM_STATE_ACTIVE);
    assert_false(shm_cause_is_source_failure(SHM_CAUSE_STALE));
}

static void test_shm_trigger_state_source_and_config_failure(void **state)
{
    const uint64_t now = 10000000;
    trig_t t = trig_fresh(now);
    shm_cause_t c;

    t.res.flags = 0;
    t.res.failure = SHM_FAIL_SOURCE;
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_ERROR);
    assert_int_equal(c, SHM_CAUSE_SOURCE);
    assert_true(shm_cause_is_source_failure(c));
    assert_true(shm_cause_is_settled(c));
    t.res.failure = SHM_FAIL_CONFIG;
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_ERROR);
    assert_int_equal(c, SHM_CAUSE_CONFIG);
    assert_false(shm_cause_is_source_failure(c));
    assert_true(shm_cause_is_settled(c));
    /* The value of a failed poll is never served, whatever it holds. */
    t.res.value = 1e9;
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_ERROR);
}

static void test_shm_trigger_state_quarantined_until(void **state)
{
    const uint64_t now = 10000000;
    trig_t t = trig_fresh(now);
    shm_cause_t c;

    t.ctl.quarantined_until_mono_ms = now + 1;
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_ERROR);
    assert_int_equal(c, SHM_CAUSE_QUARANTINED);
    assert_true(shm_cause_is_settled(c));
    assert_false(shm_cause_is_source_failure(c));
    /* Quarantine wins even before any result: it is terminal while it lasts. */
    t.res = (shm_trig_result_t){0};
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_ERROR);
    assert_int_equal(c, SHM_CAUSE_QUARANTINED);
    /* Expired: no longer an error. */
    t = trig_fresh(now);
    t.ctl.quarantined_until_mono_ms = now;
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_ACTIVE);
    assert_int_equal(c, SHM_CAUSE_NONE);
    t.ctl.quarantined_until_mono_ms = now - 60000;
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_ACTIVE);
    /* No control group (a reader without it) is never quarantined. */
    assert_int_equal(shm_trigger_state(&t.cfg, NULL, &t.res, now, &c), SHM_STATE_ACTIVE);
}

static void test_shm_trigger_state_active_strictly_above_activation(void **state)
{
    const uint64_t now = 10000000;
    trig_t t = trig_fresh(now);
    shm_cause_t c;

    t.res.value = t.cfg.activation;
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_INACTIVE);
    assert_int_equal(c, SHM_CAUSE_NONE);
    t.res.value = nextafter(t.cfg.activation, INFINITY);
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_ACTIVE);
    t.res.value = 0;
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_INACTIVE);
    t.cfg.activation = -1; /* negative activation: zero is active */
    assert_int_equal(trig_state(&t, now, &c), SHM_STATE_ACTIVE);
    /* ret_cause is optional. */
    assert_int_equal(shm_trigger_state(&t.cfg, &t.ctl, &t.res, now, NULL), SHM_STATE_ACTIVE);
    assert_true(shm_cause_is_settled(SHM_CAUSE_NONE));
    assert_string_equal(shm_state_name(SHM_STATE_INACTIVE), "INACTIVE");
    assert_string_equal(shm_cause_name(SHM_CAUSE_QUARANTINED), "quarantined");
}

static void test_shm_cause_is_settled_by_cause(void **state)
{
    /* DESIGN.md: a ScaledObject is evaluated once each trigger "has produced one result for its
     * current configuration or reached a terminal error". A stale trigger did produce one. */
    assert_false(shm_cause_is_settled(SHM_CAUSE_NO_RESULT));
    assert_true(shm_cause_is_settled(SHM_CAUSE_NONE));
    assert_true(shm_cause_is_settled(SHM_CAUSE_SOURCE));
    assert_true(shm_cause_is_settled(SHM_CAUSE_CONFIG));
    assert_true(shm_cause_is_settled(SHM_CAUSE_QUARANTINED));
    assert_true(shm_cause_is_settled(SHM_CAUSE_STALE));
    /* Only a failed poll counts toward fallback; ckeda's own unavailability never does. */
    assert_true(shm_cause_is_source_failure(SHM_CAUSE_SOURCE));
    assert_false(shm_cause_is_source_failure(SHM_CAUSE_NO_RESULT));
    assert_false(shm_cause_is_source_failure(SHM_CAUSE_STALE));
    assert_false(shm_cause_is_source_failure(SHM_CAUSE_CONFIG));
    assert_false(shm_cause_is_source_failure(SHM_CAUSE_QUARANTINED));
}

/* ---- snapshot ---------------------------------------------------------------------------- */

static void table_fill(shm_table_t *t)
{
    shm_trig_result_t res;
    shm_trig_cfg_t cfg;
    shm_watcher_t w;

    for (uint32_t i = 0; i < 16; i++) {
        char name[32];
        snprintf(name, sizeof name, "snap-%u", i);
        so_put(t, i, i + 1, "default", name);
        pattern_fill(&cfg, sizeof cfg, i);
        shm_trig_cfg_write(t, i, &cfg);
        pattern_fill(&res, sizeof res, 100 + i);
        shm_trig_result_write(t, i, &res);
    }
    pattern_fill(&w, sizeof w, 42);
    shm_watcher_write(t, &w);
}

static void tables_assert_same(shm_table_t *a, shm_table_t *b)
{
    shm_so_spec_t s1, s2;
    shm_trig_cfg_t c1, c2;
    shm_trig_result_t r1, r2;
    shm_watcher_t w1, w2;

    for (uint32_t i = 0; i < small_caps.max_so; i++) {
        assert_int_equal(shm_so_spec_read(a, i, &s1), 0);
        assert_int_equal(shm_so_spec_read(b, i, &s2), 0);
        assert_memory_equal(&s1, &s2, sizeof s1);
    }
    for (uint32_t i = 0; i < small_caps.max_trig; i++) {
        assert_int_equal(shm_trig_cfg_read(a, i, &c1), 0);
        assert_int_equal(shm_trig_cfg_read(b, i, &c2), 0);
        assert_memory_equal(&c1, &c2, sizeof c1);
        assert_int_equal(shm_trig_result_read(a, i, &r1), 0);
        assert_int_equal(shm_trig_result_read(b, i, &r2), 0);
        assert_memory_equal(&r1, &r2, sizeof r1);
    }
    assert_int_equal(shm_watcher_read(a, &w1), 0);
    assert_int_equal(shm_watcher_read(b, &w2), 0);
    assert_memory_equal(&w1, &w2, sizeof w1);
}

static void test_shm_snapshot_save_load_round_trip(void **state)
{
    fixture_t *f = *state;
    char path[300];
    shm_table_t *img = NULL;
    shm_snapshot_info_t info;
    shm_header_info_t h1, h2;
    struct stat st;
    DIR *d;
    struct dirent *e;
    int files = 0;

    table_fill(f->t);
    snprintf(path, sizeof path, "%s/table.snap", fixture_dir(f));
    uint64_t before = shm_now_real_ms();
    assert_int_equal(shm_snapshot_save(f->t, path), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(shm_snapshot_load(path, &img, &info), 0);
    assert_int_equal(info.raw_size, shm_table_size(&small_caps));
    assert_true(info.compressed_size < info.raw_size);
    assert_true(info.saved_real_ms >= before);
    print_message("snapshot of a %llu-byte table: %llu bytes\n", (unsigned long long)info.raw_size,
                  (unsigned long long)info.compressed_size);

    tables_assert_same(f->t, img);
    shm_header_get(f->t, &h1);
    shm_header_get(img, &h2);
    assert_memory_equal(h1.nonce, h2.nonce, sizeof h1.nonce);
    so_assert_found(img, "default", "snap-9", 9, 10);
    assert_int_equal(shm_table_fd(img), -1);
    assert_int_equal(shm_table_protect(img, SHM_ROLE_WATCHER), 0);
    shm_table_close(img);

    /* Only the snapshot itself is left behind: no temporary file. */
    d = opendir(f->dir);
    assert_non_null(d);
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            files++;
    closedir(d);
    assert_int_equal(files, 1);
}

static void file_patch(const char *path, long off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
    close(fd);
}

static void file_flip(const char *path, long off)
{
    uint8_t b;
    int fd = open(path, O_RDWR | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= 0x10;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static void file_copy(const char *from, const char *to)
{
    char buf[65536];
    ssize_t n;
    int in = open(from, O_RDONLY | O_CLOEXEC), out;

    assert_true(in >= 0);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(out >= 0);
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

static void snapshot_assert_load_fails(const char *path, int want)
{
    shm_table_t *img = NULL;
    shm_snapshot_info_t info = {.raw_size = 12345};

    assert_int_equal(shm_snapshot_load(path, &img, &info), want);
    assert_null(img);
    assert_int_equal(info.raw_size, 12345);
}

static void test_shm_snapshot_load_corrupt_rejected(void **state)
{
    fixture_t *f = *state;
    char good[300], bad[300];
    struct stat st;
    const uint32_t version = 2;
    shm_table_t *ref = NULL, *img;
    unsigned rejected = 0, same = 0;

    table_fill(f->t);
    snprintf(good, sizeof good, "%s/good.snap", fixture_dir(f));
    snprintf(bad, sizeof bad, "%s/bad.snap", f->dir);
    assert_int_equal(shm_snapshot_save(f->t, good), 0);
    assert_int_equal(stat(good, &st), 0);
    assert_int_equal(shm_snapshot_load(good, &ref, NULL), 0);

    /* A flipped byte in the compressed body is rejected, or (an LZ4 match offset moved within
     * a run of zeros) decodes to the very same image: never a silently different table. */
    for (long off = 56; off < st.st_size; off += 7) {
        file_copy(good, bad);
        file_flip(bad, off);
        img = NULL;
        int r = shm_snapshot_load(bad, &img, NULL);
        if (r == 0) {
            assert_memory_equal(shm_table_base(img), shm_table_base(ref),
                                shm_table_mapped_size(ref));
            shm_table_close(img);
            same++;
        } else {
            assert_int_equal(r, -EBADMSG);
            assert_null(img);
            rejected++;
        }
    }
    print_message("body byte flips: %u rejected, %u decoded to the same image\n", rejected, same);
    assert_true(rejected > 4 * same);
    shm_table_close(ref);
    /* Truncated: in the body, in the header, empty. */
    file_copy(good, bad);
    assert_int_equal(truncate(bad, st.st_size - 1), 0);
    snapshot_assert_load_fails(bad, -EBADMSG);
    assert_int_equal(truncate(bad, 20), 0);
    snapshot_assert_load_fails(bad, -EBADMSG);
    assert_int_equal(truncate(bad, 0), 0);
    snapshot_assert_load_fails(bad, -EBADMSG);
    /* Trailing garbage. */
    file_copy(good, bad);
    file_patch(bad, st.st_size, "x", 1);
    snapshot_assert_load_fails(bad, -EBADMSG);
    /* Bad magic, then an unknown version. */
    file_copy(good, bad);
    file_patch(bad, 0, "X", 1);
    snapshot_assert_load_fails(bad, -EBADMSG);
    file_copy(good, bad);
    file_patch(bad, 8, &version, sizeof version);
    snapshot_assert_load_fails(bad, -EPROTO);
    /* A wrong checksum over an intact body. */
    file_copy(good, bad);
    file_flip(bad, 32);
    snapshot_assert_load_fails(bad, -EBADMSG);
    snprintf(bad, sizeof bad, "%s/absent.snap", f->dir);
    snapshot_assert_load_fails(bad, -ENOENT);
}

static void test_shm_snapshot_save_odd_group_stays_odd(void **state)
{
    fixture_t *f = *state;
    char path[300];
    shm_table_t *img = NULL;
    shm_odd_group_t odd[4];
    shm_trig_result_t got;

    table_fill(f->t);
    shm_seq_write_begin(result_seq(f->t, 3)); /* its writer died mid-write */
    snprintf(path, sizeof path, "%s/odd.snap", fixture_dir(f));
    assert_int_equal(shm_snapshot_save(f->t, path), 0);
    assert_int_equal(shm_snapshot_load(path, &img, NULL), 0);
    assert_int_equal(shm_odd_groups(img, odd, 4), 1);
    assert_string_equal(odd[0].region, "trigger-result");
    assert_int_equal(odd[0].entry, 3);
    assert_int_equal(shm_trig_result_read(img, 3, &got), -EAGAIN);
    assert_int_equal(shm_trig_result_read(img, 4, &got), 0);
    shm_table_close(img);
}

/* ---- config blobs ------------------------------------------------------------------------ */

static int dir_count_entries(int dirfd_in, bool *saw_hidden)
{
    int fd = dup(dirfd_in), n = 0;
    DIR *d = fdopendir(fd);
    struct dirent *e;

    assert_non_null(d);
    rewinddir(d);
    *saw_hidden = false;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        n++;
        *saw_hidden |= e->d_name[0] == '.';
    }
    closedir(d);
    return n;
}

static void test_shm_blob_write_read_remove(void **state)
{
    fixture_t *f = *state;
    const char meta[] = "host=amqp://user:pass@rabbit/vh\nqueueName=q";
    char *got = NULL;
    size_t len = 0;
    int dfd;
    bool hidden;
    struct stat st;

    assert_int_equal(shm_blob_dir_create(f->name, &dfd), 0);
    assert_int_equal(fstat(dfd, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);

    assert_int_equal(shm_blob_write(dfd, 12, 3, meta, sizeof meta - 1), 0);
    assert_int_equal(shm_blob_read(dfd, 12, 3, &got, &len), 0);
    assert_int_equal(len, sizeof meta - 1);
    assert_string_equal(got, meta); /* NUL-terminated */
    free(got);
    assert_int_equal(fstatat(dfd, "12.3", &st, 0), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* Rewriting a generation replaces it; other generations are separate files. */
    assert_int_equal(shm_blob_write(dfd, 12, 3, "a=b", 3), 0);
    assert_int_equal(shm_blob_write(dfd, 12, 4, "", 0), 0);
    assert_int_equal(shm_blob_read(dfd, 12, 3, &got, &len), 0);
    assert_string_equal(got, "a=b");
    free(got);
    assert_int_equal(shm_blob_read(dfd, 12, 4, &got, &len), 0);
    assert_int_equal(len, 0);
    assert_string_equal(got, "");
    free(got);
    got = NULL;
    assert_int_equal(shm_blob_read(dfd, 12, 5, &got, &len), -ENOENT);
    assert_null(got);
    assert_int_equal(dir_count_entries(dfd, &hidden), 2);
    assert_false(hidden); /* no temporary file left behind */

    assert_int_equal(shm_blob_remove(dfd, 12, 3), 0);
    assert_int_equal(shm_blob_read(dfd, 12, 3, &got, &len), -ENOENT);
    assert_int_equal(shm_blob_remove(dfd, 12, 3), -ENOENT);
    close(dfd);
}

static void test_shm_blob_write_too_big_efbig(void **state)
{
    fixture_t *f = *state;
    char *big = calloc(1, SHM_BLOB_MAX + 1), *got = NULL;
    size_t len;
    int dfd;
    bool hidden;

    assert_non_null(big);
    memset(big, 'm', SHM_BLOB_MAX + 1);
    assert_int_equal(shm_blob_dir_create(f->name, &dfd), 0);
    assert_int_equal(shm_blob_write(dfd, 1, 1, big, SHM_BLOB_MAX + 1), -EFBIG);
    assert_int_equal(shm_blob_read(dfd, 1, 1, &got, &len), -ENOENT);
    assert_int_equal(dir_count_entries(dfd, &hidden), 0);
    /* Exactly the maximum is accepted. */
    assert_int_equal(shm_blob_write(dfd, 1, 1, big, SHM_BLOB_MAX), 0);
    assert_int_equal(shm_blob_read(dfd, 1, 1, &got, &len), 0);
    assert_int_equal(len, SHM_BLOB_MAX);
    assert_int_equal(got[SHM_BLOB_MAX - 1], 'm');
    assert_int_equal(got[SHM_BLOB_MAX], '\0');
    free(got);
    free(big);
    close(dfd);
}

static void test_shm_blob_dir_create_empties_leftovers(void **state)
{
    fixture_t *f = *state;
    int dfd, fd;
    bool hidden;
    char path[300];
    struct stat st;

    assert_int_equal(shm_blob_dir_create(f->name, &dfd), 0);
    assert_int_equal(shm_blob_write(dfd, 2, 9, "password=hunter2", 16), 0);
    /* A watcher killed between creating the temporary file and renaming it. */
    fd = openat(dfd, ".tmp.2.10", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "password=hunter3", 16), 16);
    close(fd);
    assert_int_equal(fchmod(dfd, 0755), 0);
    close(dfd);

    /* A new supervisor starts from an empty, private directory: metadata may hold secrets. */
    assert_int_equal(shm_blob_dir_create(f->name, &dfd), 0);
    assert_int_equal(dir_count_entries(dfd, &hidden), 0);
    assert_int_equal(fstat(dfd, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(shm_blob_write(dfd, 2, 11, "x", 1), 0);
    fd = openat(dfd, ".tmp.2.12", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    close(dfd);
    assert_int_equal(shm_blob_dir_remove(f->name), 0);
    snprintf(path, sizeof path, "/dev/shm/%s.blobs", f->name);
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(shm_blob_dir_remove(f->name), 0); /* already gone */
}

#define T(fn)  cmocka_unit_test_setup_teardown(fn, setup_small, teardown)
#define TD(fn) cmocka_unit_test_setup_teardown(fn, setup_default, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shm_table_size_default_caps),
        cmocka_unit_test(test_shm_layout_compute_regions_aligned_disjoint),
        cmocka_unit_test(test_shm_caps_check_rejects_out_of_range),
        cmocka_unit_test(test_shm_layout_validate_rejects_bad_headers),
        T(test_shm_table_attach_fd_truncated_object_rejected),
        T(test_shm_table_from_image_rejects_bad_magic),
        T(test_shm_table_create_live_name_busy),
        T(test_shm_table_create_lock_held_by_child_busy),
        T(test_shm_table_create_stale_name_replaced),
        T(test_shm_table_create_stale_name_other_caps),
        T(test_shm_table_create_mode_0600),
        cmocka_unit_test(test_shm_table_create_invalid_arguments),
        T(test_shm_table_attach_fd_shares_contents),
        T(test_shm_table_open_readonly_cannot_write),
        T(test_shm_table_protect_nonowned_regions_readonly),
        T(test_shm_group_write_read_round_trip),
        T(test_shm_header_set_get_round_trip),
        T(test_shm_table_create_fresh_state),
        T(test_shm_group_read_out_of_range_slot),
        T(test_shm_trig_result_read_odd_group_bounded_eagain),
        T(test_shm_repair_completes_only_dead_writers_groups),
        T(test_shm_repair_released_trigger_of_dead_worker),
        T(test_shm_repair_watcher_groups_and_index),
        T(test_shm_proc_inflight_add_full_enospc),
        T(test_shm_proc_self_read_heartbeat_ack_reset),
        T(test_shm_so_find_inserted_removed),
        T(test_shm_so_find_slot_reused_new_generation),
        T(test_shm_so_find_stale_entry_verified_against_slot),
        T(test_shm_index_insert_tombstones_rebuild_keeps_objects),
        T(test_shm_index_insert_twice_single_entry),
        TD(test_shm_index_insert_hostile_names_spread),
        cmocka_unit_test(test_shm_siphash_reference_vector),
        TD(test_shm_so_find_full_capacity),
        T(test_shm_so_find_invalid_index_scans),
        cmocka_unit_test(test_shm_trigger_state_no_result),
        cmocka_unit_test(test_shm_stale_after_ms_formula),
        cmocka_unit_test(test_shm_trigger_state_stale_at_boundary),
        cmocka_unit_test(test_shm_trigger_state_source_and_config_failure),
        cmocka_unit_test(test_shm_trigger_state_quarantined_until),
        cmocka_unit_test(test_shm_trigger_state_active_strictly_above_activation),
        cmocka_unit_test(test_shm_cause_is_settled_by_cause),
        T(test_shm_snapshot_save_load_round_trip),
        T(test_shm_snapshot_load_corrupt_rejected),
        T(test_shm_snapshot_save_odd_group_stays_odd),
        T(test_shm_blob_write_read_remove),
        T(test_shm_blob_write_too_big_efbig),
        T(test_shm_blob_dir_create_empties_leftovers),
    };

    return cmocka_run_group_tests_name("shm", tests, NULL, NULL);
}
