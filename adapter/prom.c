/*
 * prom: GET /metrics on the metrics port (adapter process), Prometheus text exposition 0.0.4,
 * computed from the table at request time; the adapter keeps no metric state of its own.
 *
 * Two layers: adp_prom_collect() reads the table into a model (plain structs in the request's
 * arena, every trigger through shm_trig_view_load() so states agree with the values path and
 * ckedactl), and adp_prom_write() is a pure formatter of that model (unit-tested).
 *
 * KEDA's families and label sets are reproduced exactly (reference keda.md 3.1):
 *   metricLabels = namespace, metric, scaledObject, scaler, triggerIndex, type
 * with type "scaledobject" or "scaledjob" (scaledObject then names the ScaledJob, as in KEDA) and
 * scaler the name KEDA gives it: the trigger's `name` when set, else the Go type name of KEDA's
 * scaler ("redisScaler"). Families KEDA has and ckeda cannot fill (CloudEvents, gRPC, HTTP) are
 * absent.
 * ckeda's own families carry the ckeda_ prefix. The adapters' own request, authorization and
 * token-review counters come from the stats of their process slots (summed over every adapter,
 * so any of them can answer the scrape); seqlock read retries from every process slot.
 *
 * Invariants: a value ckeda does not have is omitted, never written as NaN; label values are
 * escaped (\\, \", \n); every family appears once, its samples together; the output lives in
 * one arena buffer bounded by ADP_PROM_ARENA_LIMIT.
 */
#include "adapter/adp_internal.h"

#include "common/scaler_registry.h"
#include "shm/shm.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- the adapter's counters ------------------------------------------------------------------ */

/* What the adapter and httpd answer; anything else is counted as "other" (0). */
const int adp_stat_codes[ADP_STAT_CODES_N] = {200, 400, 401, 403, 404, 405, 408, 413,
                                              414, 429, 431, 500, 501, 503, 505, 0};

/* kube-apiserver's apiserver_request_duration_seconds bounds up to 15 s (the longest a request
 * may wait for its reviews), with 0.5, 1 and 2.5 ms added below its first bound: the table
 * answers in microseconds, and a bucket above them all would say nothing. */
const double adp_stat_buckets[ADP_STAT_BUCKETS_N] = {
    0.0005, 0.001, 0.0025, 0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8,
    1.0,    1.25,  1.5,    2,     3,     4,    5,   6,   8,   10,  15};

uint32_t adp_stat_code_index(int code)
{
    for (uint32_t i = 0; i < ADP_STAT_CODES_N - 1; i++)
        if (adp_stat_codes[i] == code)
            return ADP_STAT_CODE0 + i;
    return ADP_STAT_CODE0 + ADP_STAT_CODES_N - 1;
}

uint32_t adp_stat_bucket_index(uint64_t elapsed_us)
{
    for (uint32_t i = 0; i < ADP_STAT_BUCKETS_N; i++)
        if ((double)elapsed_us <= adp_stat_buckets[i] * 1e6)
            return ADP_STAT_BUCKET0 + i;
    return ADP_STAT_BUCKET0 + ADP_STAT_BUCKETS_N;
}

/* ---- formatter ----------------------------------------------------------------------------- */

void adp_prom_label_value(adp_sbuf_t *b, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
        if (!esc)
            continue;
        adp_sbuf_append(b, run, (size_t)(s - run));
        adp_sbuf_puts(b, esc);
        run = s + 1;
    }
    adp_sbuf_append(b, run, (size_t)(s - run));
}

static void prom_label(adp_sbuf_t *b, bool first, const char *name, const char *value)
{
    adp_sbuf_printf(b, "%s%s=\"", first ? "" : ",", name);
    adp_prom_label_value(b, value);
    adp_sbuf_puts(b, "\"");
}

/* A sample value as Go's strconv.FormatFloat(v, 'g', -1) would print it (shortest form that
 * round-trips); infinities as +Inf/-Inf. NaN is never passed here. */
static void prom_value(adp_sbuf_t *b, double v)
{
    char buf[40];

    if (isinf(v)) {
        adp_sbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    adp_sbuf_puts(b, buf);
}

static void prom_family(adp_sbuf_t *b, const char *name, const char *type, const char *help)
{
    adp_sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_sample(adp_sbuf_t *b, const char *name, const char *labels, double v)
{
    if (isnan(v))
        return; /* missing: omitted, never NaN */
    adp_sbuf_printf(b, "%s{%s} ", name, labels);
    prom_value(b, v);
    adp_sbuf_puts(b, "\n");
}

/* The rendered metricLabels of a trigger, in the order client_golang sorts them. */
static char *prom_trig_labels(adp_arena_t *a, const adp_prom_trig_t *t)
{
    adp_sbuf_t b;
    char idx[16];

    snprintf(idx, sizeof idx, "%u", t->trigger_index);
    adp_sbuf_init(&b, a);
    prom_label(&b, true, "metric", t->metric);
    prom_label(&b, false, "namespace", t->ns);
    prom_label(&b, false, "scaledObject", t->scaled_object);
    prom_label(&b, false, "scaler", t->scaler);
    prom_label(&b, false, "triggerIndex", idx);
    prom_label(&b, false, "type", t->job ? "scaledjob" : "scaledobject");
    return b.failed ? NULL : b.p;
}

static char *prom_so_labels(adp_arena_t *a, const adp_prom_so_t *s)
{
    adp_sbuf_t b;

    adp_sbuf_init(&b, a);
    prom_label(&b, true, "namespace", s->ns);
    prom_label(&b, false, s->job ? "scaledJob" : "scaledObject", s->name);
    return b.failed ? NULL : b.p;
}

/* One family over every trigger: pick(t) is the sample, NAN to omit it. */
static void prom_trig_family(adp_sbuf_t *b, const adp_prom_model_t *m, char **labels,
                             const char *name, const char *type, const char *help,
                             double (*pick)(const adp_prom_trig_t *))
{
    prom_family(b, name, type, help);
    for (size_t i = 0; i < m->ntrigs; i++)
        if (labels[i])
            prom_sample(b, name, labels[i], pick(&m->trigs[i]));
}

static double pick_value(const adp_prom_trig_t *t)
{
    return t->has_value ? t->value : NAN;
}
static double pick_latency(const adp_prom_trig_t *t)
{
    return t->has_latency ? t->latency_s : NAN;
}
static double pick_active(const adp_prom_trig_t *t)
{
    return t->has_active ? (t->active ? 1 : 0) : NAN;
}
static double pick_errors(const adp_prom_trig_t *t)
{
    return (double)t->errors_total;
}
static double pick_quarantined(const adp_prom_trig_t *t)
{
    return t->quarantined ? 1 : 0;
}
static double pick_strikes(const adp_prom_trig_t *t)
{
    return (double)t->strikes;
}
static double pick_age(const adp_prom_trig_t *t)
{
    return t->has_value ? t->age_s : NAN;
}

static void prom_write_sos(adp_sbuf_t *b, const adp_prom_model_t *m)
{
    char **labels = adp_arena_alloc(b->arena, (m->nsos + 1) * sizeof *labels);

    if (!labels) {
        b->failed = true;
        return;
    }
    for (size_t i = 0; i < m->nsos; i++)
        labels[i] = prom_so_labels(b->arena, &m->sos[i]);
    prom_family(b, "keda_scaled_object_paused", "gauge",
                "Indicates whether a ScaledObject is paused");
    for (size_t i = 0; i < m->nsos; i++)
        if (labels[i] && !m->sos[i].job)
            prom_sample(b, "keda_scaled_object_paused", labels[i], m->sos[i].paused ? 1 : 0);
    prom_family(b, "keda_scaled_object_errors_total", "counter",
                "Total number of errors for each ScaledObject");
    for (size_t i = 0; i < m->nsos; i++)
        if (labels[i] && !m->sos[i].job)
            prom_sample(b, "keda_scaled_object_errors_total", labels[i],
                        (double)m->sos[i].errors_total);
    prom_family(b, "keda_scaled_job_errors_total", "counter", "Number of scaled job errors");
    for (size_t i = 0; i < m->nsos; i++)
        if (labels[i] && m->sos[i].job)
            prom_sample(b, "keda_scaled_job_errors_total", labels[i],
                        (double)m->sos[i].errors_total);
}

static void prom_write_procs(adp_sbuf_t *b, const adp_prom_model_t *m)
{
    prom_family(b, "ckeda_process_restarts_total", "counter",
                "Restarts of each ckeda process, by role, scaler type and shard");
    for (size_t i = 0; i < m->nprocs; i++) {
        const adp_prom_proc_t *p = &m->procs[i];
        adp_sbuf_t l;
        char shard[16];

        snprintf(shard, sizeof shard, "%u", p->shard);
        adp_sbuf_init(&l, b->arena);
        prom_label(&l, true, "role", p->role);
        prom_label(&l, false, "shard", shard);
        prom_label(&l, false, "type", p->type);
        if (!l.failed)
            prom_sample(b, "ckeda_process_restarts_total", l.p, (double)p->restarts);
    }
}

/* A sample without labels. */
static void prom_plain(adp_sbuf_t *b, const char *name, double v)
{
    adp_sbuf_printf(b, "%s ", name);
    prom_value(b, v);
    adp_sbuf_puts(b, "\n");
}

static void prom_write_seq_retries(adp_sbuf_t *b, const adp_prom_model_t *m)
{
    prom_family(b, "ckeda_seqlock_read_retries_total", "counter",
                "Times a reader of the shared-memory table read a group again because its "
                "writer was changing it, by role");
    for (size_t i = 0; i < m->nprocs; i++) {
        uint64_t sum = 0;
        size_t j = 0;
        while (j < i && strcmp(m->procs[j].role, m->procs[i].role) != 0)
            j++;
        if (j < i)
            continue; /* this role was written with its first process */
        for (j = i; j < m->nprocs; j++)
            if (strcmp(m->procs[j].role, m->procs[i].role) == 0)
                sum += m->procs[j].seq_retries;
        adp_sbuf_t l;
        adp_sbuf_init(&l, b->arena);
        prom_label(&l, true, "role", m->procs[i].role);
        if (!l.failed)
            prom_sample(b, "ckeda_seqlock_read_retries_total", l.p, (double)sum);
    }
}

static void prom_write_adapter_requests(adp_sbuf_t *b, const uint64_t *st)
{
    const char *hist = "ckeda_adapter_request_duration_seconds";
    uint64_t cum = 0;
    char l[64];

    prom_family(b, "ckeda_adapter_requests_total", "counter",
                "Responses of the adapters on the metrics API port, by HTTP status");
    for (uint32_t i = 0; i < ADP_STAT_CODES_N; i++) {
        if (!st[ADP_STAT_CODE0 + i])
            continue;
        if (adp_stat_codes[i])
            snprintf(l, sizeof l, "code=\"%d\"", adp_stat_codes[i]);
        else
            snprintf(l, sizeof l, "code=\"other\"");
        prom_sample(b, "ckeda_adapter_requests_total", l, (double)st[ADP_STAT_CODE0 + i]);
    }
    prom_family(b, hist, "histogram",
                "Time from a complete request head to its queued response on the metrics API "
                "port, authentication and authorization reviews included");
    for (uint32_t i = 0; i <= ADP_STAT_BUCKETS_N; i++) {
        cum += st[ADP_STAT_BUCKET0 + i];
        if (i < ADP_STAT_BUCKETS_N) {
            adp_sbuf_t v;
            adp_sbuf_init(&v, b->arena);
            prom_value(&v, adp_stat_buckets[i]);
            snprintf(l, sizeof l, "le=\"%s\"", v.failed ? "0" : v.p);
        } else {
            snprintf(l, sizeof l, "le=\"+Inf\"");
        }
        adp_sbuf_printf(b, "%s_bucket{%s} %llu\n", hist, l, (unsigned long long)cum);
    }
    adp_sbuf_printf(b, "%s_sum ", hist);
    prom_value(b, (double)st[ADP_STAT_DURATION_SUM_US] / 1e6);
    adp_sbuf_printf(b, "\n%s_count %llu\n", hist, (unsigned long long)cum);
}

static void prom_write_adapter(adp_sbuf_t *b, const adp_prom_model_t *m)
{
    static const struct {
        const char *result;
        uint32_t idx;
    } tokens[] = {{"authenticated", ADP_STAT_TOKEN_AUTHENTICATED},
                  {"unauthenticated", ADP_STAT_TOKEN_UNAUTHENTICATED},
                  {"error", ADP_STAT_TOKEN_ERROR}};
    const uint64_t *st = m->adapter_stats;
    char l[64];

    prom_write_adapter_requests(b, st);
    prom_family(b, "ckeda_adapter_authorization_cache_hits_total", "counter",
                "Authorization decisions the adapters took from their SubjectAccessReview cache");
    prom_plain(b, "ckeda_adapter_authorization_cache_hits_total", (double)st[ADP_STAT_AUTHZ_HITS]);
    prom_family(b, "ckeda_adapter_authorization_cache_misses_total", "counter",
                "Authorization decisions that needed a SubjectAccessReview");
    prom_plain(b, "ckeda_adapter_authorization_cache_misses_total",
               (double)st[ADP_STAT_AUTHZ_MISSES]);
    prom_family(b, "ckeda_adapter_token_reviews_total", "counter",
                "TokenReviews the adapters made for bearer tokens, by result");
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        snprintf(l, sizeof l, "result=\"%s\"", tokens[i].result);
        prom_sample(b, "ckeda_adapter_token_reviews_total", l, (double)st[tokens[i].idx]);
    }
}

void adp_prom_write(adp_sbuf_t *b, const adp_prom_model_t *m)
{
    char **labels = adp_arena_alloc(b->arena, (m->ntrigs + 1) * sizeof *labels);

    if (!labels) {
        b->failed = true;
        return;
    }
    for (size_t i = 0; i < m->ntrigs; i++)
        labels[i] = prom_trig_labels(b->arena, &m->trigs[i]);
    prom_family(b, "keda_build_info", "gauge",
                "Info metric, with static information about KEDA build like: version, git "
                "commit and Golang runtime info.");
    adp_sbuf_t l;
    adp_sbuf_init(&l, b->arena);
    prom_label(&l, true, "git_commit", m->build.git_commit);
    prom_label(&l, false, "goarch", m->build.arch);
    prom_label(&l, false, "goos", m->build.os);
    prom_label(&l, false, "goversion", m->build.compiler);
    prom_label(&l, false, "version", m->build.version);
    if (!l.failed)
        prom_sample(b, "keda_build_info", l.p, 1);
    prom_trig_family(b, m, labels, "keda_scaler_metrics_value", "gauge",
                     "The current value for each scaler's metric that would be used by the HPA "
                     "in computing the target average.",
                     pick_value);
    prom_trig_family(b, m, labels, "keda_scaler_metrics_latency_seconds", "gauge",
                     "The latency of retrieving current metric from each scaler, in seconds.",
                     pick_latency);
    prom_trig_family(b, m, labels, "keda_scaler_active", "gauge",
                     "Indicates whether a scaler is active (1), or not (0).", pick_active);
    prom_trig_family(b, m, labels, "keda_scaler_detail_errors_total", "counter",
                     "The total number of errors encountered for each scaler.", pick_errors);
    prom_write_sos(b, m);
    prom_trig_family(b, m, labels, "ckeda_trigger_quarantined", "gauge",
                     "1 while the trigger is quarantined for crashing its workers",
                     pick_quarantined);
    prom_trig_family(b, m, labels, "ckeda_trigger_strikes", "gauge",
                     "Worker crashes the trigger was in flight for", pick_strikes);
    prom_trig_family(b, m, labels, "ckeda_scaler_metrics_value_age_seconds", "gauge",
                     "Seconds since the trigger's current value was measured", pick_age);
    prom_write_procs(b, m);
    prom_write_seq_retries(b, m);
    prom_write_adapter(b, m);
}

/* ---- the table --------------------------------------------------------------------------- */

/* KEDA's scaler label: the Go type name of its scaler for a trigger type. Types whose name is
 * not the camel-cased type plus "Scaler" are listed; the rest follow the rule. */
static const char *prom_scaler_name(adp_arena_t *a, const char *type)
{
    static const struct {
        const char *type, *scaler;
    } odd[] = {{"cpu", "cpuMemoryScaler"},
               {"memory", "cpuMemoryScaler"},
               {"rabbitmq", "rabbitMQScaler"},
               {"postgresql", "postgreSQLScaler"},
               {"mysql", "mySQLScaler"},
               {"mongodb", "mongoDBScaler"},
               {"metrics-api", "metricsAPIScaler"},
               {"redis-cluster", "redisScaler"},
               {"redis-sentinel", "redisScaler"},
               {"redis-cluster-streams", "redisStreamsScaler"},
               {"redis-sentinel-streams", "redisStreamsScaler"}};
    adp_sbuf_t b;
    bool up = false;

    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        if (strcmp(type, odd[i].type) == 0)
            return odd[i].scaler;
    adp_sbuf_init(&b, a);
    for (const char *s = type; *s; s++) {
        if (*s == '-' || *s == '_') {
            up = true;
            continue;
        }
        char c = up ? (char)toupper((unsigned char)*s) : *s;
        adp_sbuf_append(&b, &c, 1);
        up = false;
    }
    adp_sbuf_puts(&b, "Scaler");
    return b.failed ? type : b.p;
}

static void prom_trig_fill(adp_arena_t *a, const shm_so_spec_t *so, const shm_trig_view_t *v,
                           uint64_t now, adp_prom_trig_t *t)
{
    bool current = v->res.for_cfg_gen == v->cfg.cfg_gen && v->res.measured_mono_ms != 0;

    *t = (adp_prom_trig_t){0};
    t->ns = adp_arena_strdup(a, so->ns);
    t->scaled_object = adp_arena_strdup(a, so->name);
    t->job = (so->flags & SHM_SO_F_SCALEDJOB) != 0;
    t->metric = adp_arena_strdup(a, shm_spec_metric_name(&v->cfg, &v->res));
    t->scaler =
        v->cfg.name[0] ? adp_arena_strdup(a, v->cfg.name) : prom_scaler_name(a, v->cfg.type);
    t->trigger_index = v->cfg.index;
    t->has_value = current && (v->res.flags & SHM_F_VALID);
    t->value = v->res.value;
    t->has_latency = current;
    t->latency_s = (double)v->res.latency_us / 1e6;
    /* Not active while failing (as KEDA records it); unknown while ckeda has no result. */
    t->has_active = v->cause != SHM_CAUSE_NO_RESULT && v->cause != SHM_CAUSE_STALE;
    t->active = v->state == SHM_STATE_ACTIVE;
    t->errors_total = v->res.errors_total;
    t->strikes = v->ctl.strikes;
    t->quarantined = v->ctl.quarantined_until_mono_ms > now;
    t->age_s = now > v->res.measured_mono_ms ? (double)(now - v->res.measured_mono_ms) / 1e3 : 0;
    if (!t->ns || !t->scaled_object || !t->metric || !t->scaler)
        t->ns = NULL; /* out of memory: dropped by the caller */
}

/* The triggers of one ScaledObject, appended to m; their error counts summed into so. */
static void prom_collect_so(const shm_table_t *t, adp_arena_t *a, uint32_t slot,
                            const shm_so_spec_t *so, uint64_t now, adp_prom_model_t *m,
                            size_t cap_trigs)
{
    adp_prom_so_t *s = &m->sos[m->nsos];
    shm_trig_view_t v;

    *s = (adp_prom_so_t){.ns = adp_arena_strdup(a, so->ns),
                         .name = adp_arena_strdup(a, so->name),
                         .job = (so->flags & SHM_SO_F_SCALEDJOB) != 0,
                         .paused = (so->paused & (SHM_PAUSED_ALL | SHM_PAUSED_SCALE_IN |
                                                  SHM_PAUSED_SCALE_OUT)) != 0};
    if (!s->ns || !s->name)
        return;
    m->nsos++;
    for (uint32_t i = 0; i < so->trigger_count && i < SHM_TRIGGERS_PER_SO_MAX; i++) {
        if (m->ntrigs >= cap_trigs || shm_trig_view_load(t, so->triggers[i], now, &v) < 0 ||
            v.cfg.so_slot != slot || v.cfg.so_generation != so->generation)
            continue; /* the watcher is rewriting this object */
        prom_trig_fill(a, so, &v, now, &m->trigs[m->ntrigs]);
        if (!m->trigs[m->ntrigs].ns)
            continue;
        s->errors_total += v.res.errors_total;
        m->ntrigs++;
    }
}

static const char *prom_role_name(uint32_t role)
{
    return role < SHM_ROLE_COUNT ? shm_role_name((shm_role_t)role) : "unknown";
}

static void prom_collect_procs(const shm_table_t *t, adp_prom_model_t *m, uint32_t max_proc)
{
    _Static_assert(ADP_STAT_COUNT <= SHM_PROC_STATS, "the adapter's stats fit its slot");
    for (uint32_t i = 0; i < max_proc; i++) {
        shm_proc_self_t self;
        shm_proc_ctl_t pc;
        if (shm_proc_ctl_read(t, i, &pc) < 0 || !(pc.flags & SHM_F_VALID) ||
            pc.state == SHM_PROC_EMPTY)
            continue;
        const char *type = "";
        if (pc.role == SHM_ROLE_SCALEWORKER && pc.type_id != SCALER_TYPE_NONE &&
            pc.type_id < scaler_type_count())
            type = scaler_type_name(pc.type_id);
        /* Same role, type and shard twice (a suspect shard beside its regular one): one series. */
        size_t j = 0;
        while (j < m->nprocs &&
               !(strcmp(m->procs[j].role, prom_role_name(pc.role)) == 0 &&
                 strcmp(m->procs[j].type, type) == 0 && m->procs[j].shard == pc.shard))
            j++;
        if (j == m->nprocs)
            m->procs[m->nprocs++] =
                (adp_prom_proc_t){.role = prom_role_name(pc.role), .type = type, .shard = pc.shard};
        m->procs[j].restarts += pc.restarts;
        shm_proc_self_read(t, i, &self);
        m->procs[j].seq_retries += self.seq_retries_total;
        if (pc.role == SHM_ROLE_ADAPTER)
            for (uint32_t k = 0; k < ADP_STAT_COUNT; k++)
                m->adapter_stats[k] += self.stats[k];
    }
}

int adp_prom_collect(const shm_table_t *t, adp_arena_t *a, uint64_t now_mono_ms,
                     adp_prom_model_t *ret)
{
    const shm_caps_t *caps = shm_table_caps(t);
    adp_prom_model_t m = {0};
    shm_so_spec_t so;

    m.sos = adp_arena_alloc(a, (size_t)caps->max_so * sizeof *m.sos);
    m.trigs = adp_arena_alloc(a, (size_t)caps->max_trig * sizeof *m.trigs);
    m.procs = adp_arena_alloc(a, (size_t)caps->max_proc * sizeof *m.procs);
    if (!m.sos || !m.trigs || !m.procs)
        return -ENOMEM;
    for (uint32_t i = 0; i < caps->max_so; i++)
        if (shm_so_spec_read(t, i, &so) == 0 && (so.flags & SHM_F_VALID))
            prom_collect_so(t, a, i, &so, now_mono_ms, &m, caps->max_trig);
    prom_collect_procs(t, &m, caps->max_proc);
    m.build = (adp_prom_build_t)
    {
        .version = CKEDA_VERSION,
#ifdef CKEDA_GIT_COMMIT
        .git_commit = CKEDA_GIT_COMMIT,
#else
        .git_commit = "",
#endif
#ifdef __VERSION__
        .compiler = "cc " __VERSION__,
#else
        .compiler = "cc",
#endif
        .os = "linux",
#if defined(__x86_64__)
        .arch = "amd64",
#elif defined(__aarch64__)
        .arch = "arm64",
#else
        .arch = "unknown",
#endif
    };
    *ret = m;
    return 0;
}
