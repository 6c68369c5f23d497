/*
 * adapter: `ckeda --role=adapter`, the external metrics API (adapter process; N of them share
 * the listening sockets the supervisor bound).
 *
 * Answers the HPA's GET .../namespaces/{ns}/{metric}?labelSelector=... straight from the
 * shared-memory table, over HTTPS, after authenticating the caller (front proxy or client
 * certificate) and authorizing it with a cached SubjectAccessReview. Never waits on an event
 * source; the only API calls it makes are the authentication ConfigMap and reviews, on threads
 * of their own. See README.md for the invariants and server.c for the loop.
 */
#include "adapter/adapter.h"

#include "adapter/adp_server.h"
#include "common/log.h"

int adp_main(int argc, char **argv)
{
    role_ctx_t ctx;
    int r;

    role_init(&ctx, argc, argv);
    r = adp_server_run(&ctx);
    role_done(&ctx);
    if (r < 0)
        log_error(r, "the adapter stopped");
    return r < 0 ? 1 : 0;
}
