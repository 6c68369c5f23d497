/*
 * snapshot: the table, LZ4-compressed with a checksum, for post-mortems (`ckedactl snapshot
 * save|show`). A snapshot holds exactly what the table holds: no config blobs, no secret.
 * Loading one gives a private read-only image; it is never written into a live table.
 */
#ifndef CKEDA_SHM_SNAPSHOT_H
#define CKEDA_SHM_SNAPSHOT_H

#include "shm/shm.h"

typedef struct shm_snapshot_info {
    uint64_t saved_real_ms;
    uint64_t saved_mono_ms; /* the saving machine's monotonic clock, for ages */
    uint64_t raw_size;
    uint64_t compressed_size;
} shm_snapshot_info_t;

int shm_snapshot_save(const shm_table_t *t, const char *path);
/* -EBADMSG on a bad magic or checksum, -EPROTO on an unknown version. */
int shm_snapshot_load(const char *path, shm_table_t **ret_table, shm_snapshot_info_t *ret_info);

#endif
