/* Fuzz harness: the watcher's reading of a ScaledJob (common/sj_parse.c) and, when it parses,
 * the Job built from it and one decision over its triggers; then the Job readers
 * (watcher/sjdecide.c, sjjob.c) over the input's "items" (Jobs) and "pods". Any input is
 * rejected with a message naming what is wrong, or yields a Job; never a crash or a leak. */
#include "common/scaledjob.h"
#include "watcher/sjdecide.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_decide(const sj_t *sj)
{
    watch_sj_trig_t t[SHM_TRIGGERS_PER_SO_MAX];
    double v = (double)sj->polling_interval_s;
    watch_sj_decide_in_t in = {.trig = t, .ntrig = sj->ntriggers, .running = 3, .pending = 1};
    watch_sj_decision_t d;

    for (uint32_t i = 0; i < sj->ntriggers; i++)
        t[i] = (watch_sj_trig_t){.values = &v,
                                 .nvalues = 1,
                                 .target = sj->triggers[i].spec.target,
                                 .active = i % 2 == 0,
                                 .resource = sj->triggers[i].spec.is_resource};
    watch_sj_decide(sj, &in, &d);
    if (d.create < 0 || d.effective_max_scale < 0)
        abort();
}

static void fz_jobs(const sj_t *sj, const cJSON *obj)
{
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(obj, "items"), *job;
    const cJSON *pods = cJSON_GetObjectItemCaseSensitive(obj, "pods");
    const cJSON *sel[64];

    cJSON_ArrayForEach(job, items)
    {
        (void)watch_sj_job_pending(sj, job, pods);
    }
    if (watch_sj_history_select(sj, items, sel, 64) < 0 ||
        watch_sj_rollout_select(sj, items, sel, 64) < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *obj = cJSON_ParseWithLength((const char *)data, size);
    sj_t *sj = malloc(sizeof *sj);
    errtext_t err = {{0}};

    if (obj && sj) {
        int r = sj_parse(obj, 64, sj, &err);
        if (r < 0 && !err.text[0])
            abort(); /* a rejection always says why */
        if (r == 0) {
            cJSON *job = watch_sj_job_build(sj);
            if (!job)
                abort();
            cJSON_Delete(job);
            fz_decide(sj);
        }
        fz_jobs(sj, obj); /* sj is filled as far as parsing got */
    }
    free(sj);
    cJSON_Delete(obj);
    return 0;
}
