/*
 * adapter: `ckeda --role=adapter`: serves external.metrics.k8s.io/v1beta1 over HTTPS from the
 * table, and the health checks (adapter/README.md).
 */
#ifndef CKEDA_ADAPTER_H
#define CKEDA_ADAPTER_H

int adp_main(int argc, char **argv);

#endif
