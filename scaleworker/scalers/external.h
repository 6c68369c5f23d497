/*
 * external: the `external` and `external-push` scalers' parameters, as KEDA's
 * external_scaler.go parses them (parseExternalScalerMetadata). Runs in their scale workers;
 * the parser is separate so unit tests can run KEDA's cases on it.
 */
#ifndef CKEDA_SCALEWORKER_SCALERS_EXTERNAL_H
#define CKEDA_SCALEWORKER_SCALERS_EXTERNAL_H

#include "scaleworker/net.h"
#include "scaleworker/pb.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct sw_external_cfg {
    char host[SW_HOST_MAX]; /* scalerAddress split; the port is 443 when it names none, as */
    char port[SW_PORT_MAX]; /* grpc-go's dns resolver defaults it */
    bool enable_tls;        /* metadata enableTLS */
    bool unsafe_ssl;        /* metadata unsafeSsl */
    bool tls;               /* enableTLS, a client certificate and key, or a caCert: KEDA's rule */
    char *ca_cert;          /* authentication caCert, tlsClientCert, tlsClientKey (PEM) or NULL; */
    char *client_cert;      /* wiped when freed */
    char *client_key;
    uint32_t index; /* the trigger's position: the metric is `s<index>-<metricName>` */
    /* ScaledObjectRef: the ScaledObject's name and namespace and scalerMetadata, the trigger's
     * metadata (KEDA's originalMetadata: `<key>FromEnv` entries are left out, as KEDA leaves out
     * those whose env var does not resolve; ckeda does not read the target's env) */
    char *so_name, *so_namespace;
    sw_pb_kv_t *metadata; /* keys and values malloc'ed, wiped when freed */
    size_t nmetadata;
} sw_external_cfg_t;

/* KEDA's checks: scalerAddress required (from the metadata), enableTLS and unsafeSsl booleans as
 * strconv.ParseBool reads them; caCert, tlsClientCert, tlsClientKey from the authentication.
 * -EINVAL with a message naming the field, or -ENOMEM. */
int sw_external_cfg_parse(const sw_params_t *p, sw_external_cfg_t *ret, char *err, size_t errlen);
void sw_external_cfg_free(sw_external_cfg_t *c);

#endif
