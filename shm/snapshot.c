/*
 * snapshot: see snapshot.h. File format (little-endian):
 *   magic "CKEDASNP" | u32 version | u32 reserved | u64 raw size | u64 compressed size |
 *   u64 checksum | u64 saved real ms | u64 saved monotonic ms | LZ4 block of the raw image
 * The checksum is FNV-1a-64 over the header (checksum field zero), then the raw image: the
 * saved times are covered too, since every age and state ckedactl shows is computed from them.
 * The raw image is a consistent copy of every seqlock group (shm_table_copy).
 */
#include "shm/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNAP_MAGIC   "CKEDASNP"
#define SNAP_VERSION 1u
#define SNAP_MAX_RAW ((uint64_t)1 << 31) /* LZ4 block limit */

typedef struct snap_header {
    char magic[8];
    uint32_t version;
    uint32_t reserved;
    uint64_t raw_size;
    uint64_t compressed_size;
    uint64_t checksum;
    uint64_t saved_real_ms;
    uint64_t saved_mono_ms;
} snap_header_t;
_Static_assert(sizeof(snap_header_t) == 56, "no padding: the header is hashed as bytes");

static uint64_t snap_fnv1a(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t snap_checksum(const snap_header_t *h, const void *raw, size_t len)
{
    snap_header_t c = *h;

    c.checksum = 0;
    return snap_fnv1a(snap_fnv1a(0xcbf29ce484222325ULL, &c, sizeof c), raw, len);
}

static int snap_write_file(const char *path, const snap_header_t *h, const void *body)
{
    char tmp[4096];
    FILE *f;
    int r = 0;

    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "wb"))) {
        r = -errno;
        if (fd >= 0)
            close(fd);
        return r;
    }
    if (fwrite(h, sizeof *h, 1, f) != 1 || fwrite(body, h->compressed_size, 1, f) != 1)
        r = -EIO;
    if (fclose(f) != 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    return r;
}

int shm_snapshot_save(const shm_table_t *t, const char *path)
{
    size_t raw_size = shm_table_mapped_size(t);
    void *raw = NULL, *comp = NULL;
    snap_header_t h = {.version = SNAP_VERSION, .raw_size = raw_size};
    int r, n;

    if (raw_size > SNAP_MAX_RAW)
        return -EFBIG;
    raw = malloc(raw_size);
    comp = malloc((size_t)LZ4_compressBound((int)raw_size));
    if (!raw || !comp) {
        r = -ENOMEM;
        goto out;
    }
    shm_table_copy(t, raw);
    n = LZ4_compress_default(raw, comp, (int)raw_size, LZ4_compressBound((int)raw_size));
    if (n <= 0) {
        r = -EIO;
        goto out;
    }
    memcpy(h.magic, SNAP_MAGIC, sizeof h.magic);
    h.compressed_size = (uint64_t)n;
    h.saved_real_ms = shm_now_real_ms();
    h.saved_mono_ms = shm_now_mono_ms();
    h.checksum = snap_checksum(&h, raw, raw_size);
    r = snap_write_file(path, &h, comp);
out:
    free(raw);
    free(comp);
    return r;
}

static int snap_read_file(const char *path, snap_header_t *h, void **ret_body)
{
    FILE *f = fopen(path, "rbe");
    void *body = NULL;
    int r = 0;

    if (!f)
        return -errno;
    if (fread(h, sizeof *h, 1, f) != 1 || memcmp(h->magic, SNAP_MAGIC, 8) != 0) {
        r = -EBADMSG;
        goto out;
    }
    if (h->version != SNAP_VERSION) {
        r = -EPROTO;
        goto out;
    }
    if (h->raw_size > SNAP_MAX_RAW || h->compressed_size == 0 ||
        h->compressed_size > (uint64_t)LZ4_compressBound((int)h->raw_size)) {
        r = -EBADMSG;
        goto out;
    }
    body = malloc(h->compressed_size);
    if (!body) {
        r = -ENOMEM;
        goto out;
    }
    if (fread(body, h->compressed_size, 1, f) != 1 || fgetc(f) != EOF) {
        r = -EBADMSG;
        goto out;
    }
    *ret_body = body;
    body = NULL;
out:
    free(body);
    fclose(f);
    return r;
}

int shm_snapshot_load(const char *path, shm_table_t **ret_table, shm_snapshot_info_t *ret_info)
{
    snap_header_t h;
    void *body = NULL, *raw = NULL;
    int r = snap_read_file(path, &h, &body);

    if (r < 0)
        return r;
    raw = malloc(h.raw_size ? h.raw_size : 1);
    if (!raw) {
        r = -ENOMEM;
        goto out;
    }
    if (LZ4_decompress_safe(body, raw, (int)h.compressed_size, (int)h.raw_size) !=
            (int)h.raw_size ||
        snap_checksum(&h, raw, h.raw_size) != h.checksum) {
        r = -EBADMSG;
        goto out;
    }
    r = shm_table_from_image(raw, h.raw_size, ret_table);
    if (r < 0)
        goto out;
    raw = NULL; /* owned by the table now */
    if (ret_info)
        *ret_info = (shm_snapshot_info_t){.saved_real_ms = h.saved_real_ms,
                                          .saved_mono_ms = h.saved_mono_ms,
                                          .raw_size = h.raw_size,
                                          .compressed_size = h.compressed_size};
out:
    free(body);
    free(raw);
    return r;
}
