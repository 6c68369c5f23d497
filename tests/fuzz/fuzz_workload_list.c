/* Fuzz harness: the kubernetes-workload scaler's reading of the API server's replies
 * (scaleworker/scalers/kubernetes_workload.c): a pod list page, counted both ways (pods and
 * distinct nodes) twice in a row as two pages of one list, and a Status message. Counts may only
 * grow, distinct nodes stay sorted and never outnumber the pods, and nothing may read past the
 * buffer (ASan).
 */
#include "scaleworker/scalers/kubernetes_workload.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_twice(const char *buf, size_t size, bool by_node)
{
    sw_kw_count_t c = {.group_by_node = by_node};
    char err[256], *next = NULL;
    uint64_t pods = 0;

    for (int page = 0; page < 2; page++) {
        if (sw_kw_count_page(&c, buf, size, &next, err, sizeof err) < 0)
            break;
        if (next && !next[0])
            abort(); /* an empty token is the last page, never a next one */
        free(next);
        next = NULL;
        if (c.pods < pods || c.nnodes > c.pods)
            abort();
        pods = c.pods;
        for (size_t i = 1; i < c.nnodes; i++)
            if (strcmp(c.nodes[i - 1], c.nodes[i]) >= 0)
                abort();
        if (!by_node && c.nnodes)
            abort();
    }
    sw_kw_count_reset(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1); /* exact size: ASan catches any read past it */
    char msg[600];

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    count_twice(buf, size, false);
    count_twice(buf, size, true);
    sw_kw_status_message(buf, size, msg, sizeof msg);
    if (strlen(msg) >= sizeof msg)
        abort();
    free(buf);
    return 0;
}
