/* Fuzz harness: loading a snapshot file (ckedactl --snapshot F reads files users hand it).
 * Any input is rejected cleanly or yields a table that validates. */
#include "shm/snapshot.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    shm_table_t *t = NULL;
    FILE *f;

    snprintf(path, sizeof path, "/tmp/ckeda-fuzz-snap-%d", (int)getpid());
    if (!(f = fopen(path, "wb")))
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    if (shm_snapshot_load(path, &t, NULL) == 0) {
        shm_so_spec_t s;
        for (uint32_t i = 0; i < shm_table_caps(t)->max_so; i++)
            shm_so_spec_read(t, i, &s);
        shm_table_close(t);
    }
    unlink(path);
    return 0;
}
