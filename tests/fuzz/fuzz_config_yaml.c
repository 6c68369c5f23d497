/* Fuzz harness: the --config YAML file parser. Any input yields 0 or -EINVAL with a message. */
#include "common/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[512] = "";
    cfg_t c;
    FILE *f;

    snprintf(path, sizeof path, "/tmp/ckeda-fuzz-cfg-%d.yaml", (int)getpid());
    if (!(f = fopen(path, "wb")))
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    cfg_defaults(&c);
    if (cfg_load_file(&c, path, err, sizeof err) < 0 && !err[0])
        abort(); /* a failure always says why */
    unlink(path);
    return 0;
}
