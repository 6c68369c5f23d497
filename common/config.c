/*
 * config: see config.h. One table describes every option: its flag and YAML key, its
 * environment variable (KEDA's names where KEDA has one), its type, bounds and default.
 */
#include "common/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* OPT_DUR: a Go duration ("15s", "1m30s", "500ms") stored as uint32_t milliseconds. */
typedef enum { OPT_STR, OPT_U32, OPT_DBL, OPT_BOOL, OPT_DUR } opt_type_t;

typedef struct opt {
    const char *key; /* flag without "--", and YAML key */
    const char *env; /* NULL: none */
    opt_type_t type;
    size_t off;
    size_t size;     /* OPT_STR buffer size */
    double min, max; /* OPT_DUR: in ms */
    const char *def;
    const char *help;
} opt_t;

#define S(k, e, f, d, h)                                                                           \
    {                                                                                              \
        k, e, OPT_STR, offsetof(cfg_t, f), sizeof(((cfg_t *)0)->f), 0, 0, d, h                     \
    }
#define U(k, e, f, lo, hi, d, h)                                                                   \
    {                                                                                              \
        k, e, OPT_U32, offsetof(cfg_t, f), 0, lo, hi, d, h                                         \
    }
#define D(k, e, f, lo, hi, d, h)                                                                   \
    {                                                                                              \
        k, e, OPT_DBL, offsetof(cfg_t, f), 0, lo, hi, d, h                                         \
    }
#define B(k, e, f, d, h)                                                                           \
    {                                                                                              \
        k, e, OPT_BOOL, offsetof(cfg_t, f), 0, 0, 1, d, h                                          \
    }
#define T(k, e, f, lo, hi, d, h)                                                                   \
    {                                                                                              \
        k, e, OPT_DUR, offsetof(cfg_t, f), 0, lo, hi, d, h                                         \
    }

static const opt_t cfg_opts[] = {
    S("kubeconfig", "KUBECONFIG", kubeconfig, "", "kubeconfig file (default: in-cluster)"),
    S("context", NULL, context, "", "kubeconfig context (default: current)"),
    S("watch-namespace", "WATCH_NAMESPACE", watch_namespace, "", "namespace to watch (all)"),
    S("pod-namespace", "POD_NAMESPACE", pod_namespace, "keda", "namespace of the Lease"),
    S("cluster-object-namespace", "KEDA_CLUSTER_OBJECT_NAMESPACE", cluster_object_namespace, "",
      "namespace of ClusterTriggerAuthentication secrets (default: pod namespace)"),
    S("shm-name", "CKEDA_SHM_NAME", shm_name, "ckeda", "name of the shared-memory table"),
    S("cert-dir", NULL, cert_dir, "", "tls.crt, tls.key, ca.crt (default: generated)"),
    S("ca-dir", NULL, ca_dir, "/custom/ca",
      "CA certificates scalers trust for TLS, besides the system's (skipped if missing)"),
    S("log-format", NULL, log_format, "text", "text or json"),
    S("log-level", NULL, log_level, "info", "error, warning, info or debug"),
    U("secure-port", NULL, secure_port, 0, 65535, "6443", "external metrics API (HTTPS)"),
    U("webhook-port", NULL, webhook_port, 0, 65535, "9443", "admission webhooks (HTTPS)"),
    U("metrics-port", NULL, metrics_port, 0, 65535, "8080", "Prometheus /metrics (HTTP)"),
    U("health-port", NULL, health_port, 0, 65535, "8081", "/healthz and /readyz (HTTP)"),
    U("adapters", NULL, adapters, 1, 16, "1", "adapter processes"),
    /* Defaults: k8s.io/apiserver's DelegatingAuthenticationOptions (CacheTTL 10s) and
     * DelegatingAuthorizationOptions (AllowCacheTTL 10s, DenyCacheTTL 10s), which KEDA's
     * metrics server uses through custom-metrics-apiserver. */
    T("authentication-token-cache-ttl", NULL, authn_token_cache_ttl_ms, 0, 86400000, "10s",
      "how long the adapter caches a TokenReview answer for a bearer token"),
    T("authorization-allow-cache-ttl", NULL, authz_allow_cache_ttl_ms, 0, 86400000, "10s",
      "how long the adapter caches a SubjectAccessReview that allowed"),
    T("authorization-deny-cache-ttl", NULL, authz_deny_cache_ttl_ms, 0, 86400000, "10s",
      "how long the adapter caches a SubjectAccessReview that denied"),
    B("authorization-insecure-skip", NULL, authz_insecure_skip, "false",
      "INSECURE, for local experiments: every authenticated client may read every metric "
      "value (no SubjectAccessReview)"),
    U("max-connections", NULL, max_connections, 1, 1u << 20, "4096",
      "connections per adapter process; past it the adapter stops accepting until some close"),
    D("kube-api-qps", NULL, kube_api_qps, 0.1, 10000, "20", "Kubernetes API QPS"),
    U("kube-api-burst", NULL, kube_api_burst, 1, 100000, "30", "Kubernetes API burst"),
    U("http-default-timeout", "KEDA_HTTP_DEFAULT_TIMEOUT", http_default_timeout_ms, 1, 600000,
      "3000", "scaler poll timeout (ms)"),
    B("restrict-secret-access", "KEDA_RESTRICT_SECRET_ACCESS", restrict_secret_access, "false",
      "read secrets only from the pod namespace"),
    U("max-scaledobjects", NULL, max_scaledobjects, 1, 1u << 20, "4096", "table capacity"),
    U("max-triggers", NULL, max_triggers, 1, 1u << 22, "16384", "table capacity"),
    U("max-triggers-per-scaledobject", NULL, max_triggers_per_scaledobject, 1, 64, "64",
      "trigger cap per ScaledObject"),
    U("max-processes", NULL, max_processes, 8, 4096, "128", "process slots"),
    U("worker-shard-size", NULL, worker_shard_size, 1, 1u << 22, "1000",
      "triggers per scale worker before another shard starts"),
    U("worker-idle-retire", NULL, worker_idle_retire_s, 1, 86400, "60",
      "seconds an idle scale worker lives"),
    U("watchdog-timeout", NULL, watchdog_timeout_ms, 100, 3600000, "10000",
      "ms without a heartbeat before a process is killed"),
    U("quarantine-base", NULL, quarantine_base_s, 1, 86400, "30", "first quarantine (s)"),
    U("quarantine-max", NULL, quarantine_max_s, 1, 86400, "1800", "longest quarantine (s)"),
    U("suspect-probation", NULL, suspect_probation_s, 1, 86400, "600",
      "seconds a struck trigger stays on the suspect shard"),
    U("give-up-restarts", NULL, give_up_restarts, 1, 1000, "5",
      "crashes of watcher/adapter/webhook within the window before the pod restarts"),
    U("give-up-window", NULL, give_up_window_s, 1, 86400, "60", "give-up window (s)"),
    U("grace-period", NULL, grace_period_s, 1, 3600, "10", "seconds children get on SIGTERM"),
    B("keep-table", NULL, keep_table, "false", "keep the table after exit (post-mortem)"),
    /* KEDA's flag is --leader-elect (default false, but its manifests always pass it). */
    B("enable-cert-rotation", NULL, enable_cert_rotation, "false",
      "keep the serving certificate in --cert-secret-name and --cert-dir, and the caBundles"),
    S("cert-secret-name", NULL, cert_secret_name, "kedaorg-certs",
      "Secret (in --pod-namespace) holding the CA and serving certificate"),
    B("enable-webhook-patching", NULL, enable_webhook_patching, "true",
      "with cert rotation: write the CA into the keda-admission webhooks"),
    B("enable-apiservice-patching", NULL, enable_apiservice_patching, "true",
      "with cert rotation: write the CA into the external metrics APIService"),
    S("k8s-cluster-domain", NULL, k8s_cluster_domain, "cluster.local",
      "cluster DNS domain, for the serving certificate's names"),
    B("leader-elect", NULL, leader_elect, "true",
      "hold the Lease before writing to Kubernetes (false: always write; one replica only)"),
    S("leader-election-id", NULL, leader_election_id, "operator.keda.sh",
      "name of the Lease in the pod namespace"),
    T("leader-election-lease-duration", "KEDA_OPERATOR_LEADER_ELECTION_LEASE_DURATION",
      leader_election_lease_duration_ms, 1000, 3600000, "15s",
      "how long others wait after the holder's last renewal"),
    T("leader-election-renew-deadline", "KEDA_OPERATOR_LEADER_ELECTION_RENEW_DEADLINE",
      leader_election_renew_deadline_ms, 1, 3600000, "10s",
      "how long the holder keeps trying to renew before it stops writing"),
    T("leader-election-retry-period", "KEDA_OPERATOR_LEADER_ELECTION_RETRY_PERIOD",
      leader_election_retry_period_ms, 1, 3600000, "2s", "time between Lease attempts"),
};
#define CFG_NOPTS (sizeof cfg_opts / sizeof cfg_opts[0])

static const opt_t *cfg_opt_find(const char *key, size_t len)
{
    for (size_t i = 0; i < CFG_NOPTS; i++)
        if (strlen(cfg_opts[i].key) == len && strncmp(cfg_opts[i].key, key, len) == 0)
            return &cfg_opts[i];
    return NULL;
}

/* Go's time.ParseDuration grammar: [+]("0" | (decimal unit)+), decimal = digits[.digits] or
 * .digits, unit one of ns us µs μs ms s m h. Fractions are scaled as Go scales them. The result
 * must be a whole number of milliseconds that fits a uint32_t. */
static int cfg_parse_duration_ms(const char *s, uint32_t *ret_ms)
{
    static const struct {
        const char *name;
        double ns;
    } units[] = {
        {"ns", 1},   {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
        {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9},
    };
    const double limit = (double)UINT32_MAX * 1e6;
    double total = 0;
    const char *p = s;

    if (*p == '+')
        p++;
    if (strcmp(p, "0") == 0) {
        *ret_ms = 0;
        return 0;
    }
    if (!*p)
        return -EINVAL;
    while (*p) {
        double whole = 0, frac = 0, scale = 1, unit = 0;
        bool digits = false;
        size_t ulen = 0;

        for (; *p >= '0' && *p <= '9'; p++, digits = true)
            whole = whole * 10 + (*p - '0');
        if (*p == '.')
            for (p++; *p >= '0' && *p <= '9'; p++, digits = true)
                if (scale < 1e15) {
                    frac = frac * 10 + (*p - '0');
                    scale *= 10;
                }
        if (!digits || whole > limit)
            return -EINVAL;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t n = strlen(units[i].name);
            if (n > ulen && strncmp(p, units[i].name, n) == 0) {
                ulen = n;
                unit = units[i].ns;
            }
        }
        if (!ulen)
            return -EINVAL;
        p += ulen;
        total += whole * unit + floor(frac * (unit / scale));
        if (total > limit)
            return -EINVAL;
    }
    if (fmod(total, 1e6) != 0)
        return -EINVAL;
    *ret_ms = (uint32_t)(total / 1e6);
    return 0;
}

static int cfg_set(cfg_t *c, const opt_t *o, const char *val, const char *origin, char *err,
                   size_t errlen)
{
    char *end;
    void *p = (char *)c + o->off;

    switch (o->type) {
    case OPT_STR:
        if (strlen(val) >= o->size)
            goto bad;
        strcpy(p, val);
        return 0;
    case OPT_BOOL:
        if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
            *(bool *)p = true;
        else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
            *(bool *)p = false;
        else
            goto bad;
        return 0;
    case OPT_DUR: {
        uint32_t ms;
        if (cfg_parse_duration_ms(val, &ms) < 0 || ms < o->min || ms > o->max)
            goto bad;
        *(uint32_t *)p = ms;
        return 0;
    }
    default: {
        errno = 0;
        double v = strtod(val, &end);
        if (errno || end == val || *end || !isfinite(v) || v < o->min || v > o->max)
            goto bad;
        if (o->type == OPT_U32) {
            if (v != floor(v))
                goto bad;
            *(uint32_t *)p = (uint32_t)v;
        } else {
            *(double *)p = v;
        }
        return 0;
    }
    }
bad:
    if (o->type == OPT_STR)
        snprintf(err, errlen, "%s: value of %s is too long (at most %zu bytes)", origin, o->key,
                 o->size - 1);
    else if (o->type == OPT_BOOL)
        snprintf(err, errlen, "%s: %s must be true or false, not \"%s\"", origin, o->key, val);
    else if (o->type == OPT_DUR)
        snprintf(err, errlen,
                 "%s: %s must be a duration such as \"15s\", \"1m30s\" or \"500ms\" (whole "
                 "milliseconds) in [%gms, %gms], not \"%s\"",
                 origin, o->key, o->min, o->max, val);
    else
        snprintf(err, errlen, "%s: %s must be a%s number in [%g, %g], not \"%s\"", origin, o->key,
                 o->type == OPT_U32 ? "n integer" : "", o->min, o->max, val);
    return -EINVAL;
}

void cfg_defaults(cfg_t *c)
{
    char err[256];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < CFG_NOPTS; i++)
        cfg_set(c, &cfg_opts[i], cfg_opts[i].def, "default", err, sizeof err);
}

int cfg_load_env(cfg_t *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < CFG_NOPTS; i++) {
        const char *v = cfg_opts[i].env ? getenv(cfg_opts[i].env) : NULL;
        char origin[96];
        if (!v || (!*v && cfg_opts[i].type != OPT_STR))
            continue;
        snprintf(origin, sizeof origin, "environment %s", cfg_opts[i].env);
        if (cfg_set(c, &cfg_opts[i], v, origin, err, errlen) < 0)
            return -EINVAL;
    }
    return 0;
}

int cfg_parse_flag(cfg_t *c, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *a = argv[*i], *eq, *val;
    const opt_t *o;

    if (strncmp(a, "--", 2) != 0)
        return -ENOENT;
    a += 2;
    eq = strchr(a, '=');
    o = cfg_opt_find(a, eq ? (size_t)(eq - a) : strlen(a));
    if (!o)
        return -ENOENT;
    if (eq) {
        val = eq + 1;
    } else if (o->type == OPT_BOOL) {
        val = "true";
    } else {
        if (*i + 1 >= argc) {
            snprintf(err, errlen, "flag --%s needs a value", o->key);
            return -EINVAL;
        }
        val = argv[++*i];
    }
    (*i)++;
    return cfg_set(c, o, val, "flag", err, errlen);
}

/* YAML: one mapping of scalar keys to scalar values. */
static int cfg_yaml_next(yaml_parser_t *p, yaml_event_t *ev, const char *path, char *err,
                         size_t errlen)
{
    if (!yaml_parser_parse(p, ev)) {
        snprintf(err, errlen, "%s:%zu: %s", path, p->problem_mark.line + 1,
                 p->problem ? p->problem : "YAML syntax error");
        return -EINVAL;
    }
    return 0;
}

static int cfg_yaml_pairs(cfg_t *c, yaml_parser_t *p, const char *path, char *err, size_t errlen)
{
    yaml_event_t k, v;
    char origin[CFG_PATH_MAX + 32];

    for (;;) {
        if (cfg_yaml_next(p, &k, path, err, errlen) < 0)
            return -EINVAL;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            return 0;
        }
        int r = -EINVAL;
        if (k.type != YAML_SCALAR_EVENT) {
            snprintf(err, errlen, "%s:%zu: keys must be plain names", path, k.start_mark.line + 1);
        } else if (cfg_yaml_next(p, &v, path, err, errlen) == 0) {
            const char *key = (const char *)k.data.scalar.value;
            const opt_t *o = cfg_opt_find(key, strlen(key));
            snprintf(origin, sizeof origin, "%s:%zu", path, k.start_mark.line + 1);
            if (!o)
                snprintf(err, errlen, "%s: unknown key \"%s\"", origin, key);
            else if (v.type != YAML_SCALAR_EVENT)
                snprintf(err, errlen, "%s: %s must be a single value", origin, key);
            else
                r = cfg_set(c, o, (const char *)v.data.scalar.value, origin, err, errlen);
            yaml_event_delete(&v);
        }
        yaml_event_delete(&k);
        if (r < 0)
            return r;
    }
}

int cfg_load_file(cfg_t *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rbe");
    yaml_parser_t p;
    yaml_event_t ev;
    int r = -EINVAL;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -EINVAL;
    }
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    for (;;) { /* skip STREAM_START and DOCUMENT_START; an empty file is fine */
        if (cfg_yaml_next(&p, &ev, path, err, errlen) < 0)
            goto out;
        yaml_event_type_t t = ev.type;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT || t == YAML_DOCUMENT_END_EVENT) {
            r = 0;
            goto out;
        }
        if (t == YAML_MAPPING_START_EVENT) {
            r = cfg_yaml_pairs(c, &p, path, err, errlen);
            goto out;
        }
        if (t != YAML_STREAM_START_EVENT && t != YAML_DOCUMENT_START_EVENT) {
            snprintf(err, errlen, "%s: the top level must be a mapping of keys to values", path);
            goto out;
        }
    }
out:
    yaml_parser_delete(&p);
    fclose(f);
    return r;
}

/* client-go's rules (leaderelection.NewLeaderElector): lease duration > renew deadline >
 * 1.2 x retry period (its JitterFactor). Only checked when leader election is on. */
static int cfg_validate_leader_election(const cfg_t *c, char *err, size_t errlen)
{
    uint32_t lease = c->leader_election_lease_duration_ms;
    uint32_t renew = c->leader_election_renew_deadline_ms;
    uint32_t retry = c->leader_election_retry_period_ms;

    if (!c->leader_elect)
        return 0;
    if (!c->leader_election_id[0]) {
        snprintf(err, errlen, "leader-election-id must not be empty");
        return -EINVAL;
    }
    if (renew >= lease) {
        snprintf(err, errlen,
                 "leader-election-renew-deadline (%ums) must be shorter than "
                 "leader-election-lease-duration (%ums)",
                 renew, lease);
        return -EINVAL;
    }
    if ((double)renew <= 1.2 * retry) {
        snprintf(err, errlen,
                 "leader-election-renew-deadline (%ums) must be longer than 1.2 x "
                 "leader-election-retry-period (%ums)",
                 renew, retry);
        return -EINVAL;
    }
    return 0;
}

int cfg_validate(const cfg_t *c, char *err, size_t errlen)
{
    if (c->max_triggers < c->max_triggers_per_scaledobject) {
        snprintf(err, errlen, "max-triggers (%u) is below max-triggers-per-scaledobject (%u)",
                 c->max_triggers, c->max_triggers_per_scaledobject);
        return -EINVAL;
    }
    if (c->max_processes < c->adapters + 4) {
        snprintf(err, errlen, "max-processes (%u) leaves no room for scale workers",
                 c->max_processes);
        return -EINVAL;
    }
    if (c->quarantine_max_s < c->quarantine_base_s) {
        snprintf(err, errlen, "quarantine-max is below quarantine-base");
        return -EINVAL;
    }
    if (!c->shm_name[0] || strchr(c->shm_name + (c->shm_name[0] == '/'), '/')) {
        snprintf(err, errlen, "shm-name \"%s\" must be a plain name", c->shm_name);
        return -EINVAL;
    }
    return cfg_validate_leader_election(c, err, errlen);
}

int cfg_to_argv(const cfg_t *c, char **argv, size_t cap, size_t *n)
{
    for (size_t i = 0; i < CFG_NOPTS; i++) {
        const opt_t *o = &cfg_opts[i];
        const void *p = (const char *)c + o->off;
        char *s = NULL;
        int len = -1;

        if (*n >= cap)
            return -E2BIG;
        if (o->type == OPT_STR)
            len = asprintf(&s, "--%s=%s", o->key, (const char *)p);
        else if (o->type == OPT_BOOL)
            len = asprintf(&s, "--%s=%s", o->key, *(const bool *)p ? "true" : "false");
        else if (o->type == OPT_U32)
            len = asprintf(&s, "--%s=%u", o->key, *(const uint32_t *)p);
        else if (o->type == OPT_DUR)
            len = asprintf(&s, "--%s=%ums", o->key, *(const uint32_t *)p);
        else
            len = asprintf(&s, "--%s=%.17g", o->key, *(const double *)p);
        if (len < 0)
            return -ENOMEM;
        argv[(*n)++] = s;
    }
    return 0;
}

void cfg_usage(void)
{
    for (size_t i = 0; i < CFG_NOPTS; i++)
        fprintf(stderr, "  --%-30s %s (default \"%s\"%s%s)\n", cfg_opts[i].key, cfg_opts[i].help,
                cfg_opts[i].def, cfg_opts[i].env ? ", env " : "",
                cfg_opts[i].env ? cfg_opts[i].env : "");
}
