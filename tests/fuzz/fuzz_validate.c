/* Fuzz harness: the admission rules (common/validate*.c) over any JSON object, offline and with
 * a cluster whose lists hold the object itself and a copy under another name. Never a crash;
 * every finding has a reason and a message; the error count matches the findings kept. */
#include "common/validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_each(void *ud, const char *ns, void (*fn)(const cJSON *, void *), void *arg)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, (cJSON *)ud) fn(o, arg);
}

static const cJSON *fz_workload(void *ud, const char *kind, const char *ns, const char *name)
{
    return cJSON_GetArrayItem((cJSON *)ud, 0); /* any object will do: the rule must cope */
}

static int fz_limitrange(void *ud, const char *ns, const char *resource)
{
    return 0;
}

static void fz_check(const validate_report_t *rep, int r)
{
    unsigned errors = 0;

    if (rep->n > VALIDATE_FINDINGS_MAX)
        abort();
    for (unsigned i = 0; i < rep->n; i++) {
        const validate_finding_t *f = &rep->findings[i];
        if (!f->reason || !f->reason[0] || !f->message[0] ||
            !memchr(f->message, '\0', sizeof f->message))
            abort();
        errors += !f->warning;
    }
    if (r >= 0 && ((unsigned)r != rep->errors || (!rep->truncated && errors != rep->errors)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *obj = cJSON_ParseWithLength((const char *)data, size), *list, *copy;
    validate_report_t *rep = malloc(sizeof *rep);

    if (obj && rep) {
        fz_check(rep, validate_object(obj, NULL, rep));
        list = cJSON_CreateArray();
        copy = cJSON_Duplicate(obj, 1);
        if (list && copy && cJSON_IsObject(copy)) {
            cJSON *meta = cJSON_GetObjectItem(copy, "metadata");
            cJSON *other = cJSON_IsObject(meta) ? cJSON_CreateString("fuzz-other") : NULL;
            if (other && !cJSON_ReplaceItemInObject(meta, "name", other))
                cJSON_Delete(other); /* no "name" to replace (cJSON keeps it then) */
            cJSON_AddItemToArray(list, copy);
            cJSON_AddItemReferenceToArray(list, obj);
            validate_cluster_t cl = {list, fz_each, fz_each, fz_workload, fz_limitrange};
            fz_check(rep, validate_object(obj, &cl, rep));
        } else {
            cJSON_Delete(copy);
        }
        cJSON_Delete(list);
    }
    free(rep);
    cJSON_Delete(obj);
    return 0;
}
