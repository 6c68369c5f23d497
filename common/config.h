/*
 * config: ckeda's configuration, from defaults, an optional YAML file, KEDA's environment
 * variables and flags, in that order of precedence (a flag wins). Every flag has a key of the
 * same name in the YAML file. Unknown keys and bad values are errors that name the key (the
 * supervisor exits 78 on them).
 *
 * The supervisor validates once and hands each child the result as canonical flags
 * (cfg_to_argv), so a child never re-reads a file that may have changed since.
 */
#ifndef CKEDA_COMMON_CONFIG_H
#define CKEDA_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_PATH_MAX 1024
#define CFG_STR_MAX  256

typedef struct cfg {
    char kubeconfig[CFG_PATH_MAX];
    char context[CFG_STR_MAX];
    char watch_namespace[CFG_STR_MAX]; /* "" = all namespaces */
    char pod_namespace[CFG_STR_MAX];
    char cluster_object_namespace[CFG_STR_MAX];
    char shm_name[CFG_STR_MAX];
    char cert_dir[CFG_PATH_MAX];
    char ca_dir[CFG_PATH_MAX]; /* custom CAs trusted by scalers' TLS (KEDA's --ca-dir) */
    char log_format[16];
    char log_level[16];
    uint32_t secure_port;
    uint32_t webhook_port;
    uint32_t metrics_port;
    uint32_t health_port;
    uint32_t adapters;
    /* The adapter's delegated authentication and authorization (k8s.io/apiserver's
     * DelegatingAuthenticationOptions/DelegatingAuthorizationOptions defaults) and limits. */
    uint32_t authn_token_cache_ttl_ms; /* TokenReview answers */
    uint32_t authz_allow_cache_ttl_ms; /* SubjectAccessReview "allowed" answers */
    uint32_t authz_deny_cache_ttl_ms;  /* ... "denied" answers */
    bool authz_insecure_skip;          /* every authenticated caller may read every value */
    uint32_t max_connections;          /* per adapter process; past it its listeners pause */
    double kube_api_qps;
    uint32_t kube_api_burst;
    uint32_t http_default_timeout_ms;
    bool restrict_secret_access;
    uint32_t max_scaledobjects;
    uint32_t max_triggers;
    uint32_t max_triggers_per_scaledobject;
    uint32_t max_processes;
    uint32_t worker_shard_size;
    uint32_t worker_idle_retire_s;
    uint32_t watchdog_timeout_ms;
    uint32_t quarantine_base_s;
    uint32_t quarantine_max_s;
    uint32_t suspect_probation_s;
    uint32_t give_up_restarts;
    uint32_t give_up_window_s;
    uint32_t grace_period_s;
    bool keep_table;
    /* Leader election (the Lease): KEDA's --leader-elect, --leader-election-id and
     * KEDA_OPERATOR_LEADER_ELECTION_*. Durations in ms; flags and environment take Go durations. */
    bool leader_elect;         /* false: always leader (one replica, no RBAC on Leases) */
    bool enable_cert_rotation; /* the leader keeps the serving certificate (watcher/certs.h) */
    bool enable_webhook_patching;
    bool enable_apiservice_patching;
    char cert_secret_name[CFG_STR_MAX];
    char k8s_cluster_domain[CFG_STR_MAX];
    char leader_election_id[CFG_STR_MAX];
    uint32_t leader_election_lease_duration_ms;
    uint32_t leader_election_renew_deadline_ms;
    uint32_t leader_election_retry_period_ms;
} cfg_t;

void cfg_defaults(cfg_t *c);
/* Each returns 0 or -EINVAL after writing a message naming the key into err. */
int cfg_load_file(cfg_t *c, const char *path, char *err, size_t errlen);
int cfg_load_env(cfg_t *c, char *err, size_t errlen);
/* Parses --key=value / --key value from argv[*i]; advances *i. -ENOENT: not a config flag. */
int cfg_parse_flag(cfg_t *c, int argc, char **argv, int *i, char *err, size_t errlen);
/* Cross-field checks after everything is loaded. */
int cfg_validate(const cfg_t *c, char *err, size_t errlen);
/* Canonical flags for a child: malloc'ed strings appended to argv at *n (capacity cap). */
int cfg_to_argv(const cfg_t *c, char **argv, size_t cap, size_t *n);
void cfg_usage(void);

#endif
