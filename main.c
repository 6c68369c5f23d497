/*
 * ckeda: one executable for every process of the tree. `ckeda run` is the supervisor; the
 * supervisor fork+execs this same binary with --role= for each child.
 */
#include "adapter/adapter.h"
#include "common/validate.h"
#include "scaleworker/scaleworker.h"
#include "supervisor/supervisor.h"
#include "watcher/watcher.h"
#include "webhook/webhook.h"

#include <stdio.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr,
            "usage: ckeda run [flags]     the supervisor (ckeda run --help)\n"
            "       ckeda validate FILE...  admission rules, offline (ckeda validate --help)\n"
            "       ckeda --version\n");
    return 78;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *arg;
        int (*main)(int, char **);
    } roles[] = {{"--role=watcher", watch_main},
                 {"--role=scaleworker", sw_main},
                 {"--role=adapter", adp_main},
                 {"--role=webhook", webhook_main}};

    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "run") == 0)
        return sup_run(argc, argv);
    if (strcmp(argv[1], "validate") == 0)
        return validate_main(argc, argv);
    if (strcmp(argv[1], "--version") == 0) {
        printf("ckeda %s\n", CKEDA_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(argv[1], roles[i].arg) == 0)
            return roles[i].main(argc, argv);
    return usage();
}
