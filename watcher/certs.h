/*
 * certs: the serving certificate of the metrics API and the admission webhooks, kept as KEDA's
 * cert rotation keeps it (--enable-cert-rotation; keda.md §1.x operator flags).
 *
 * - The leader keeps a CA and a serving certificate in one Secret (--cert-secret-name in
 *   --pod-namespace; keys ca.crt, ca.key, tls.crt, tls.key, as KEDA's kedaorg-certs, so a
 *   Secret KEDA left is adopted while valid). It creates it when missing and renews it
 *   WATCH_CERTS_LOOKAHEAD_DAYS before an expiry: the serving certificate alone under the same CA
 *   (no caBundle change), or both when the CA itself is due or unusable.
 * - The leader writes the CA into spec.caBundle of the APIService
 *   (--enable-apiservice-patching) and of every webhook of the ValidatingWebhookConfiguration
 *   keda-admission (--enable-webhook-patching) when they differ.
 * - Every replica copies ca.crt, tls.crt and tls.key into --cert-dir (atomic renames), from
 *   which the adapter and the webhook reload them; ca.key never leaves the Secret.
 * Checked at start and every WATCH_CERTS_PERIOD_MS (WATCH_CERTS_RETRY_MS after a failure).
 * Key material is never logged and is wiped when freed.
 */
#ifndef CKEDA_WATCHER_CERTS_H
#define CKEDA_WATCHER_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define WATCH_CERTS_CA_DAYS        3650
#define WATCH_CERTS_LEAF_DAYS      365
#define WATCH_CERTS_LOOKAHEAD_DAYS 90
#define WATCH_CERTS_PERIOD_MS      60000
#define WATCH_CERTS_RETRY_MS       5000

/* PEM texts (owned, NUL-terminated; NULL when absent). */
typedef struct watch_certs {
    char *ca_crt, *ca_key, *tls_crt, *tls_key;
} watch_certs_t;

typedef enum { WATCH_CERTS_OK, WATCH_CERTS_NEW_LEAF, WATCH_CERTS_NEW_CA } watch_certs_need_t;

/* The serving certificate's names for the Services in ns ("DNS:a,DNS:a.ns,..."). */
int watch_certs_sans(const char *ns, const char *domain, char *buf, size_t cap);
/* A new set at now_s: a new serving certificate under keep_ca's CA, or under a new CA when
 * keep_ca is NULL. 0, or -EINVAL / -ENOMEM. */
int watch_certs_make(const watch_certs_t *keep_ca, const char *sans, time_t now_s,
                     watch_certs_t *ret);
/* What the set needs at now_s for these names. */
watch_certs_need_t watch_certs_check(const watch_certs_t *c, const char *sans, time_t now_s);
void watch_certs_free(watch_certs_t *c);

#endif
