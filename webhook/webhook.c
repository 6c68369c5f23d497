/*
 * webhook: `ckeda --role=webhook`, KEDA's admission webhooks for keda.sh objects (webhook
 * process; one, on the FD_WEBHOOK socket the supervisor bound to --webhook-port).
 *
 * Judges AdmissionReviews with the rules of common/validate.h, KEDA's cross-object rules over
 * the table's ScaledObjects and an HPA informer of its own. Writes nothing anywhere: a crash
 * costs a restart of this process, and the API server admits unvalidated meanwhile
 * (failurePolicy Ignore). See README.md and server.c.
 */
#include "webhook/webhook.h"

#include "common/log.h"
#include "common/role.h"
#include "webhook/wh_internal.h"

int webhook_main(int argc, char **argv)
{
    role_ctx_t ctx;
    int r;

    role_init(&ctx, argc, argv);
    r = wh_server_run(&ctx);
    role_done(&ctx);
    if (r < 0)
        log_error(r, "the webhook stopped");
    return r < 0 ? 1 : 0;
}
