/*
 * specs: the metric specs KEDA learns from the event source itself (external's GetMetricSpec).
 * A worker publishes them with its results (shm_spec_published()); a reconcile puts them into
 * the parsed triggers before the HPA and the status are built, and leaves the HPA alone while one
 * is still missing; the scale loop notices when the published specs differ from those the last
 * reconcile used and queues the object again. Runs in the watcher.
 */
#include "watcher/watcher_internal.h"

#include <string.h>

static uint64_t specs_mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

uint64_t watch_specs_hash(const shm_trig_view_t *v, uint32_t n)
{
    uint64_t h = 1469598103934665603ull;

    for (uint32_t i = 0; i < n; i++) {
        if (!shm_spec_published(&v[i].cfg, &v[i].res))
            continue;
        h = specs_mix(h, &i, sizeof i);
        h = specs_mix(h, v[i].res.spec_metric_name, strlen(v[i].res.spec_metric_name));
        h = specs_mix(h, &v[i].res.spec_target, sizeof v[i].res.spec_target);
    }
    return h;
}

int watch_specs_apply(watch_ctx_t *w, watch_entry_t *e, so_t *so)
{
    shm_trig_view_t views[SHM_TRIGGERS_PER_SO_MAX];
    uint64_t now = shm_now_mono_ms();
    uint32_t n = 0;
    int missing = 0;

    for (uint32_t i = 0; i < so->ntriggers && i < e->ntrig; i++, n++) {
        scaler_spec_t *s = &so->triggers[i].spec;

        if (shm_trig_view_load(w->table, e->trig[i], now, &views[i]) < 0)
            memset(&views[i], 0, sizeof views[i]);
        if (!s->from_source)
            continue;
        if (!shm_spec_published(&views[i].cfg, &views[i].res)) {
            s->metric_name[0] = '\0'; /* not in externalMetricNames until known */
            missing++;
            continue;
        }
        memcpy(s->metric_name, views[i].res.spec_metric_name, sizeof s->metric_name);
        s->target = views[i].res.spec_target;
    }
    e->specs_seen = watch_specs_hash(views, n);
    return missing;
}
