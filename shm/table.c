/*
 * table: creating, attaching and opening the table, and its header.
 *
 * The supervisor creates the named object (mode 0600), allocates it in full and holds an
 * exclusive flock() for its lifetime; children inherit the descriptor (and so the lock's open
 * file description). A name whose lock is free is stale and is reinitialised in place; a name
 * whose lock is held belongs to a live instance (-EBUSY). Roles attach the inherited
 * descriptor; ckedactl maps the name read-only. Every attach validates the header.
 */
#include "shm/shm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int shm_name_fix(const char *name, char *buf, size_t cap)
{
    if (!name || !*name || strchr(name + 1, '/'))
        return -EINVAL;
    int n = snprintf(buf, cap, "%s%s", name[0] == '/' ? "" : "/", name);
    return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

static int shm_table_wrap(uint8_t *base, size_t size, int fd, bool mapped, shm_table_t **ret)
{
    shm_table_t *t;
    int r = shm_layout_validate((const shm_header_t *)base, size);

    if (r < 0)
        return r;
    t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    *t = (shm_table_t){
        .base = base, .size = size, .fd = fd, .mapped = mapped, .hdr = (shm_header_t *)base};
    *ret = t;
    return 0;
}

/* Fresh contents: zero from ftruncate, then the non-zero initial values. */
static int shm_table_init(uint8_t *base, const shm_caps_t *caps)
{
    shm_header_t *hdr = (shm_header_t *)base;
    shm_table_t t = {.base = base, .hdr = hdr};

    shm_layout_compute(caps, hdr);
    if (getrandom(hdr->nonce, sizeof hdr->nonce, 0) != sizeof hdr->nonce ||
        getrandom(hdr->hash_key, sizeof hdr->hash_key, 0) != sizeof hdr->hash_key)
        return -EIO;
    for (uint32_t i = 0; i < caps->max_trig; i++) {
        shm_g_trig_ctl_t *g = shm_entry(&t, SHM_R_TRIG_CTL, i);
        g->v.worker = SHM_NONE;
        g->v.release_from = SHM_NONE;
    }
    shm_g_index_t *ix = shm_entry(&t, SHM_R_INDEX, 0);
    ix->flags = SHM_F_VALID;
    ix->buckets = hdr->index_buckets;
    for (uint32_t i = 0; i < hdr->index_buckets; i++)
        shm_buckets(&t)[i].slot = SHM_NONE;
    return 0;
}

static int shm_table_claim(const char *name, int *ret_fd)
{
    int fd = shm_open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
        close(fd);
        return r;
    }
    *ret_fd = fd;
    return 0;
}

int shm_table_create(const char *name, const shm_caps_t *caps, shm_table_t **ret)
{
    char path[256];
    int fd = -1, r;
    size_t size;
    void *base = MAP_FAILED;

    if ((r = shm_name_fix(name, path, sizeof path)) < 0 || (r = shm_caps_check(caps)) < 0)
        return r;
    size = shm_table_size(caps);
    if ((r = shm_table_claim(path, &fd)) < 0)
        return r;
    /* Ours now. A stale table (its owner is gone: the lock was free) is emptied in place. */
    if (ftruncate(fd, 0) < 0 || fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)size) < 0) {
        r = -errno;
        goto fail;
    }
    if ((r = posix_fallocate(fd, 0, (off_t)size)) != 0) {
        r = -r;
        goto fail;
    }
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        r = -errno;
        goto fail;
    }
    if ((r = shm_table_init(base, caps)) < 0 || (r = shm_table_wrap(base, size, fd, true, ret)) < 0)
        goto fail;
    return 0;
fail:
    if (base != MAP_FAILED)
        munmap(base, size);
    shm_unlink(path);
    close(fd);
    return r;
}

static int shm_table_map_fd(int fd, int prot, shm_table_t **ret)
{
    struct stat st;
    void *base;
    int r;

    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size < (off_t)sizeof(shm_header_t))
        return -EBADMSG;
    base = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return -errno;
    r = shm_table_wrap(base, (size_t)st.st_size, fd, true, ret);
    if (r < 0)
        munmap(base, (size_t)st.st_size);
    return r;
}

int shm_table_attach_fd(int fd, shm_table_t **ret)
{
    return shm_table_map_fd(fd, PROT_READ | PROT_WRITE, ret);
}

static int shm_table_open(const char *name, bool writable, shm_table_t **ret)
{
    char path[256];
    int fd, r;

    if ((r = shm_name_fix(name, path, sizeof path)) < 0)
        return r;
    fd = shm_open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    r = shm_table_map_fd(fd, writable ? PROT_READ | PROT_WRITE : PROT_READ, ret);
    if (r < 0)
        close(fd);
    return r;
}

int shm_table_open_readonly(const char *name, shm_table_t **ret)
{
    return shm_table_open(name, false, ret);
}

int shm_table_open_rw(const char *name, shm_table_t **ret)
{
    return shm_table_open(name, true, ret);
}

int shm_table_from_image(void *buf, size_t size, shm_table_t **ret)
{
    return shm_table_wrap(buf, size, -1, false, ret);
}

void shm_table_close(shm_table_t *t)
{
    if (!t)
        return;
    if (t->mapped)
        munmap(t->base, t->size);
    else
        free(t->base);
    if (t->fd >= 0)
        close(t->fd);
    free(t);
}

int shm_table_unlink(const char *name)
{
    char path[256];
    int r = shm_name_fix(name, path, sizeof path);
    if (r < 0)
        return r;
    return shm_unlink(path) < 0 ? -errno : 0;
}

int shm_table_fd(const shm_table_t *t)
{
    return t->fd;
}

const shm_caps_t *shm_table_caps(const shm_table_t *t)
{
    return &t->hdr->caps;
}

const void *shm_table_base(const shm_table_t *t)
{
    return t->base;
}

size_t shm_table_mapped_size(const shm_table_t *t)
{
    return t->hdr->total_size;
}

const char *shm_role_name(shm_role_t role)
{
    static const char *const names[SHM_ROLE_COUNT] = {"supervisor", "watcher", "scaleworker",
                                                      "adapter", "webhook"};
    return (unsigned)role < SHM_ROLE_COUNT ? names[role] : "unknown";
}

/* Regions each role writes besides its own process-self entry. The supervisor repairs any
 * region, so it keeps the whole table writable. */
static bool shm_role_writes(shm_role_t role, int region)
{
    switch (role) {
    case SHM_ROLE_WATCHER:
        return region == SHM_R_WATCHER || region == SHM_R_SO_SPEC || region == SHM_R_SO_OBSERVED ||
               region == SHM_R_TRIG_CFG || region == SHM_R_INDEX;
    case SHM_ROLE_SCALEWORKER:
        return region == SHM_R_TRIG_RESULT;
    case SHM_ROLE_ADAPTER:
        return region == SHM_R_TRIG_DEMAND;
    default:
        return false;
    }
}

int shm_table_protect(shm_table_t *t, shm_role_t role)
{
    if (role == SHM_ROLE_SUPERVISOR || !t->mapped)
        return 0;
    if (mprotect(t->base, t->hdr->regions[0].offset, PROT_READ) < 0)
        return -errno;
    for (int r = 0; r < SHM_R_COUNT; r++) {
        const shm_region_desc_t *d = &t->hdr->regions[r];
        if (r == SHM_R_PROC_SELF || shm_role_writes(role, r))
            continue;
        if (mprotect(t->base + d->offset, d->size, PROT_READ) < 0)
            return -errno;
    }
    return 0;
}

void shm_header_get(const shm_table_t *t, shm_header_info_t *ret)
{
    const shm_header_t *h = t->hdr;

    *ret = (shm_header_info_t){
        .layout_version = h->layout_version,
        .total_size = h->total_size,
        .caps = h->caps,
        .supervisor_pid = h->supervisor_pid,
        .supervisor_start_real_ms = h->supervisor_start_real_ms,
        .supervisor_heartbeat_mono_ms = atomic_load_explicit(
            (_Atomic uint64_t *)&h->supervisor_heartbeat_mono_ms, memory_order_relaxed),
        .registry_hash = h->registry_hash,
    };
    memcpy(ret->nonce, h->nonce, sizeof ret->nonce);
    memcpy(ret->ports, h->ports, sizeof ret->ports);
}

void shm_header_set_ports(shm_table_t *t, const uint16_t ports[SHM_PORT_COUNT])
{
    memcpy(t->hdr->ports, ports, sizeof t->hdr->ports);
}

void shm_header_set_registry_hash(shm_table_t *t, uint64_t hash)
{
    t->hdr->registry_hash = hash;
}

void shm_header_set_supervisor(shm_table_t *t, int32_t pid, uint64_t start_real_ms)
{
    t->hdr->supervisor_pid = pid;
    t->hdr->supervisor_start_real_ms = start_real_ms;
}

void shm_header_heartbeat(shm_table_t *t, uint64_t now_mono_ms)
{
    atomic_store_explicit(&t->hdr->supervisor_heartbeat_mono_ms, now_mono_ms, memory_order_relaxed);
}

uint64_t shm_now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t shm_now_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
