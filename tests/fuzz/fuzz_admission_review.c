/* Fuzz harness: the webhook's AdmissionReview layer (webhook/review.c) on arbitrary bytes, as
 * an API server (or anyone reaching the port) could send them: parse, decide for each kind
 * without cluster state, answer. The answer must always be JSON. */
#include "webhook/wh_internal.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    wh_verdict_t *v = malloc(sizeof *v);
    wh_review_t rv;
    char err[256];

    if (!buf || !v)
        abort();
    memcpy(buf, data, size); /* exactly size bytes: ASan catches any read past them */
    if (wh_review_parse(buf, size, &rv, err, sizeof err) == 0) {
        for (int k = WH_KIND_SCALEDOBJECT; k <= WH_KIND_CLUSTERTRIGGERAUTH; k++) {
            httpd_arena_t a = {0};
            httpd_sbuf_t b;
            cJSON *doc;
            wh_review_decide((wh_kind_t)k, &rv, NULL, v);
            httpd_sbuf_init(&b, &a);
            wh_review_answer(&b, rv.uid, v);
            if (b.failed || !(doc = cJSON_Parse(b.p)))
                abort();
            cJSON_Delete(doc);
            httpd_arena_free(&a);
        }
        wh_review_free(&rv);
    }
    free(v);
    free(buf);
    return 0;
}
