/*
 * adapter: the role's process. Until its issue lands it attaches the table, validates the header,
 * heartbeats and waits for work (README's status table says so).
 */
#include "adapter/adapter.h"

#include "common/role.h"

int adp_main(int argc, char **argv)
{
    role_ctx_t ctx;

    role_init(&ctx, argc, argv);
    return role_idle_main(&ctx);
}
