/*
 * webhook: `ckeda --role=webhook`: admission webhooks for keda.sh objects.
 */
#ifndef CKEDA_WEBHOOK_H
#define CKEDA_WEBHOOK_H

int webhook_main(int argc, char **argv);

#endif
