/*
 * blob: see blob.h. The directory is /dev/shm/<name>.blobs (tmpfs, beside the table).
 */
#include "shm/blob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int shm_blob_dir_path(const char *name, char *buf, size_t cap)
{
    if (!name || !*name || strchr(name + (name[0] == '/'), '/'))
        return -EINVAL;
    int n = snprintf(buf, cap, "/dev/shm/%s.blobs", name + (name[0] == '/'));
    return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

static void shm_blob_dir_empty(int dirfd)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    /* Leftover ".tmp.*" files of a watcher killed mid-write go too: they may hold secrets. */
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(dirfd, e->d_name, 0);
    closedir(d);
}

int shm_blob_dir_create(const char *name, int *ret_dirfd)
{
    char path[300];
    struct stat st;
    int r = shm_blob_dir_path(name, path, sizeof path), fd;

    if (r < 0)
        return r;
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -errno;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || fchmod(fd, 0700) < 0) {
        close(fd);
        return -EPERM;
    }
    shm_blob_dir_empty(fd);
    *ret_dirfd = fd;
    return 0;
}

int shm_blob_dir_open(const char *name, int *ret_dirfd)
{
    char path[300];
    int r = shm_blob_dir_path(name, path, sizeof path), fd;

    if (r < 0)
        return r;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    *ret_dirfd = fd;
    return 0;
}

int shm_blob_dir_remove(const char *name)
{
    char path[300];
    int r = shm_blob_dir_path(name, path, sizeof path), fd;

    if (r < 0)
        return r;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    shm_blob_dir_empty(fd);
    close(fd);
    return rmdir(path) < 0 ? -errno : 0;
}

static int shm_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int shm_blob_write(int dirfd, uint32_t slot, uint64_t cfg_gen, const void *data, size_t len)
{
    char tmp[64], final[64];
    int fd, r;

    if (len > SHM_BLOB_MAX)
        return -EFBIG;
    snprintf(tmp, sizeof tmp, ".tmp.%u.%llu", slot, (unsigned long long)cfg_gen);
    snprintf(final, sizeof final, "%u.%llu", slot, (unsigned long long)cfg_gen);
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    r = shm_write_all(fd, data, len);
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && renameat(dirfd, tmp, dirfd, final) < 0)
        r = -errno;
    if (r < 0)
        unlinkat(dirfd, tmp, 0);
    return r;
}

int shm_blob_read(int dirfd, uint32_t slot, uint64_t cfg_gen, char **ret_data, size_t *ret_len)
{
    char name[64];
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int fd, r = 0;

    snprintf(name, sizeof name, "%u.%llu", slot, (unsigned long long)cfg_gen);
    fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (st.st_size > SHM_BLOB_MAX) {
        r = -EFBIG;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : -EIO;
            goto out;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *ret_data = buf;
    *ret_len = got;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return r;
}

int shm_blob_remove(int dirfd, uint32_t slot, uint64_t cfg_gen)
{
    char name[64];
    snprintf(name, sizeof name, "%u.%llu", slot, (unsigned long long)cfg_gen);
    return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
}
