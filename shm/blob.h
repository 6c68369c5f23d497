/*
 * blob: trigger config blobs. A trigger's metadata has no size bound and may hold credentials,
 * so it lives outside the table: a file "<slot>.<cfg_gen>" in a mode-0700 directory beside the
 * table, written by the watcher to a temporary name and renamed into place, read by the worker
 * when cfg_gen changes. Snapshots and ckedactl never read these files.
 */
#ifndef CKEDA_SHM_BLOB_H
#define CKEDA_SHM_BLOB_H

#include <stddef.h>
#include <stdint.h>

#define SHM_BLOB_MAX (1u << 20) /* 1 MiB: far above any real trigger's metadata */

/* Supervisor: (re)create the directory for table `name`, emptied, mode 0700. */
int shm_blob_dir_create(const char *name, int *ret_dirfd);
int shm_blob_dir_remove(const char *name);
/* Test-only writers: open the existing directory of table `name`. */
int shm_blob_dir_open(const char *name, int *ret_dirfd);
int shm_blob_write(int dirfd, uint32_t slot, uint64_t cfg_gen, const void *data, size_t len);
/* ret_data is malloc'ed and NUL-terminated. -ENOENT when that generation is gone. */
int shm_blob_read(int dirfd, uint32_t slot, uint64_t cfg_gen, char **ret_data, size_t *ret_len);
int shm_blob_remove(int dirfd, uint32_t slot, uint64_t cfg_gen);

#endif
