/* Fuzz harness: scalingModifiers formulas. Input is "<formula>" over the triggers a, b and
 * trig_1. A formula that does not compile must say why in a message that fits; one that
 * compiles must evaluate, for every value vector below (NaN, infinities, negatives, zero, nil
 * triggers), to a finite number, nil, or -EDOM with a message, and must do so identically twice
 * (evaluation has no state). expr_validate must agree with expr_compile on what compiles. */
#include "common/expr.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NV 3

static void fuzz_eval(const expr_t *e, const double *values, const bool *present)
{
    errtext_t err = {{0}}, err2 = {{0}};
    double v = 0, v2 = 0;
    bool is_nil = false, is_nil2 = false;
    int r = expr_eval(e, values, present, &v, &is_nil, &err);
    int r2 = expr_eval(e, values, present, &v2, &is_nil2, &err2);

    if (r != r2)
        abort();
    if (r == 0 && !is_nil && (!isfinite(v) || is_nil2 || memcmp(&v, &v2, sizeof v) != 0))
        abort();
    if (r == 0 && is_nil != is_nil2)
        abort();
    if (r != 0 && (r != -EDOM || !err.text[0] || strlen(err.text) >= sizeof err.text))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[NV] = {"a", "b", "trig_1"};
    static const double vectors[][NV] = {
        {-1, -1, -1},
        {0, 0, 0},
        {1, 2, 3},
        {NAN, 1, -1},
        {INFINITY, -INFINITY, 0},
        {-0.0, 1e308, -1e308},
        {0.5, -2.5, 9.2e18},
    };
    static const bool presence[][NV] = {
        {true, true, true}, {false, true, true}, {false, false, false}, {true, false, true}};
    char *src = malloc(size + 1);
    errtext_t err = {{0}};
    expr_t *e = NULL;
    int r, rv;

    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    r = expr_compile(src, names, NV, &e, &err);
    if (r != 0) {
        if ((r != -EINVAL && r != -E2BIG && r != -ENOMEM) || e || !err.text[0] ||
            strlen(err.text) >= sizeof err.text)
            abort();
    } else {
        for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
            fuzz_eval(e, vectors[i], NULL);
            for (size_t k = 0; k < sizeof presence / sizeof presence[0]; k++)
                fuzz_eval(e, vectors[i], presence[k]);
        }
    }
    rv = expr_validate(src, names, NV, &err);
    if (rv != 0 && rv != -EINVAL && rv != -ENOMEM)
        abort();
    if (r != 0 && rv == 0)
        abort(); /* validation compiles exactly as expr_compile does */
    expr_free(e);
    free(src);
    return 0;
}
