/*
 * The scalingModifiers formula language: every formula below was run through expr-lang v1.17.8
 * (the version KEDA pins) with KEDA's wrapping (castToFloatIfNecessary) and environment
 * (map[string]float64 of trigger names at compile time, float64 or nil values at run time),
 * and the expectation is what expr-lang and KEDA's formula.go gave: the value, nil (with ??),
 * a non-float result that KEDA refuses, a compile error or a run-time error. The table holds
 * KEDA's own formulas (formula_test.go, scaledobject_webhook_test.go, the e2e fallback test)
 * except count(), which ckeda does not support. Where ckeda deviates on purpose (a non-finite
 * result is an error, not a garbage quantity) the expectation says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/expr.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    EXP_VALUE,     /* a finite float64 */
    EXP_NIL,       /* nil: KEDA substitutes fallback.replicas x target */
    EXP_NONFLOAT,  /* an int or bool (the formula began with float( and was not wrapped) */
    EXP_NONFINITE, /* expr-lang gives Inf or NaN; ckeda refuses it (-EDOM) */
    EXP_COMPILE,   /* expr-lang's Compile fails */
    EXP_RUN,       /* expr-lang's Run fails */
};

typedef struct expr_case {
    const char *formula;
    const char *env; /* "a=1,b=nil": the trigger names and their values */
    int expect;
    double value;
} expr_case_t;

static const expr_case_t expr_lang_cases[] = {
    {"a + b", "a=1,b=2", EXP_VALUE, 3.0},
    {"1/0", "", EXP_NONFINITE, 0},
    {"1 % 0", "", EXP_COMPILE, 0},
    {"a % 2", "a=3", EXP_COMPILE, 0},
    {"int(a) % 2", "a=3", EXP_VALUE, 1.0},
    {"int(a) % 0", "a=3", EXP_RUN, 0},
    {"7 % 3", "", EXP_VALUE, 1.0},
    {"-7 % 3", "", EXP_VALUE, -1.0},
    {"7 / 2", "", EXP_VALUE, 3.5},
    {"7 // 2", "", EXP_COMPILE, 0},
    {"2 ** 10", "", EXP_VALUE, 1024.0},
    {"2 ^ 3 ^ 2", "", EXP_VALUE, 512.0},
    {"-2 ** 2", "", EXP_VALUE, -4.0},
    {".5 + a", "a=1", EXP_VALUE, 1.5},
    {"1e3", "", EXP_VALUE, 1000.0},
    {"1E-2", "", EXP_VALUE, 0.01},
    {"1_000", "", EXP_VALUE, 1000.0},
    {"0x1F", "", EXP_VALUE, 31.0},
    {"0o17", "", EXP_VALUE, 15.0},
    {"0b101", "", EXP_VALUE, 5.0},
    {"017", "", EXP_VALUE, 17.0},
    {"1.", "", EXP_VALUE, 1.0},
    {"1.e3", "", EXP_VALUE, 1000.0},
    {"1e", "", EXP_COMPILE, 0},
    {"a > 1", "a=2", EXP_COMPILE, 0},
    {"a > 1 ? 1 : 2", "a=2", EXP_VALUE, 1.0},
    {"a > 1 ? a : 2", "a=2", EXP_VALUE, 2.0},
    {"a ? 1 : 2", "a=1", EXP_COMPILE, 0},
    {"true + 1", "", EXP_COMPILE, 0},
    {"!a", "a=1", EXP_COMPILE, 0},
    {"!true", "", EXP_COMPILE, 0},
    {"not false ? 1 : 2", "", EXP_VALUE, 1.0},
    {"!a + 1", "a=1", EXP_COMPILE, 0},
    {"nil", "", EXP_COMPILE, 0},
    {"nil + 1", "", EXP_COMPILE, 0},
    {"a + nil", "a=1", EXP_COMPILE, 0},
    {"a ?? 5", "a=nil", EXP_VALUE, 5.0},
    {"a ?? 5", "a=3", EXP_VALUE, 3.0},
    {"a ?? b ?? 5", "a=nil,b=nil", EXP_VALUE, 5.0},
    {"a ?? b ?? 5", "a=nil,b=4", EXP_VALUE, 4.0},
    {"a ?? b", "a=nil,b=nil", EXP_NIL, 0},
    {"a ?? b + 1", "a=nil,b=1", EXP_COMPILE, 0},
    {"(a ?? b) + 1", "a=nil,b=1", EXP_VALUE, 2.0},
    {"(a ?? b) + 1", "a=nil,b=nil", EXP_RUN, 0},
    {"a + b ?? 1", "a=1,b=nil", EXP_VALUE, 2.0},
    {"a + b", "a=nil,b=1", EXP_RUN, 0},
    {"a > 1 ? 1 : nil", "a=0", EXP_RUN, 0},
    {"a > 1 ? 1 : nil", "a=5", EXP_VALUE, 1.0},
    {"a == nil ? 1 : 2", "a=nil", EXP_VALUE, 1.0},
    {"a == nil ? 1 : 2", "a=3", EXP_VALUE, 2.0},
    {"a < 1", "a=nil", EXP_COMPILE, 0},
    {"min(a, b)", "a=1,b=2", EXP_VALUE, 1.0},
    {"max(a, b)", "a=1,b=2", EXP_VALUE, 2.0},
    {"min(a)", "a=4", EXP_VALUE, 4.0},
    {"min()", "", EXP_COMPILE, 0},
    {"max(1, 2.5)", "", EXP_VALUE, 2.5},
    {"max(1, 2.5) % 2", "", EXP_RUN, 0},
    {"max(2.5, 1)", "", EXP_VALUE, 2.5},
    {"min(a, b)", "a=nil,b=2", EXP_RUN, 0},
    {"abs(-3)", "", EXP_VALUE, 3.0},
    {"abs(a)", "a=-2.5", EXP_VALUE, 2.5},
    {"ceil(a)", "a=1.2", EXP_VALUE, 2.0},
    {"floor(a)", "a=-1.2", EXP_VALUE, -2.0},
    {"round(a)", "a=2.5", EXP_VALUE, 3.0},
    {"round(a)", "a=-2.5", EXP_VALUE, -3.0},
    {"round(3)", "", EXP_VALUE, 3.0},
    {"int(a)", "a=2.9", EXP_VALUE, 2.0},
    {"int(a)", "a=-2.9", EXP_VALUE, -2.0},
    {"float(true)", "", EXP_COMPILE, 0},
    {"int(true)", "", EXP_COMPILE, 0},
    {"a > 1 && b", "a=2,b=1", EXP_COMPILE, 0},
    {"a > 1 && true", "a=2", EXP_COMPILE, 0},
    {"a > 1 and b > 1", "a=2,b=2", EXP_COMPILE, 0},
    {"a > 1 or b > 1", "a=0,b=2", EXP_COMPILE, 0},
    {"1 < a < 3", "a=2", EXP_COMPILE, 0},
    {"1 < a < 3", "a=5", EXP_COMPILE, 0},
    {"a == b", "a=1,b=1", EXP_COMPILE, 0},
    {"1 == 1.0", "", EXP_COMPILE, 0},
    {"true == 1", "", EXP_COMPILE, 0},
    {"nil == nil ? 1 : 0", "", EXP_VALUE, 1.0},
    {"a != nil ? a : 0", "a=nil", EXP_VALUE, 0.0},
    {"x + 1", "a=1", EXP_COMPILE, 0},
    {"a", "a=1", EXP_VALUE, 1.0},
    {"a; b", "a=1,b=2", EXP_COMPILE, 0},
    {"let x = a * 2; x + 1", "a=3", EXP_VALUE, 7.0},
    {"let a = 1; a", "a=3", EXP_COMPILE, 0},
    {"(a + b) / 2", "a=1,b=2", EXP_VALUE, 1.5},
    {"a > 2 ? a + b : 1", "a=3,b=1", EXP_VALUE, 4.0},
    {"a > 1 ? b : a > 0 ? 2 : 3", "a=0.5,b=9", EXP_VALUE, 2.0},
    {"a /* c */ + 1 // x", "a=1", EXP_COMPILE, 0},
    {"a +", "a=1", EXP_COMPILE, 0},
    {"(a", "a=1", EXP_COMPILE, 0},
    {"a)", "a=1", EXP_COMPILE, 0},
    {"", "", EXP_COMPILE, 0},
    {" ", "", EXP_COMPILE, 0},
    {"1 +* 2", "", EXP_COMPILE, 0},
    {"a $ b", "a=1,b=1", EXP_COMPILE, 0},
    {"[1,2]", "", EXP_COMPILE, 0},
    {"int(a)", "a=NaN", EXP_VALUE, -9.223372036854776e+18},
    {"int(a)", "a=Inf", EXP_VALUE, -9.223372036854776e+18},
    {"int(a)", "a=-Inf", EXP_VALUE, -9.223372036854776e+18},
    {"int(a)", "a=1e300", EXP_VALUE, -9.223372036854776e+18},
    {"int(a)", "a=-1e300", EXP_VALUE, -9.223372036854776e+18},
    {"float(a) > 1 ? 1 : 2", "a=2", EXP_NONFLOAT, 0},
    {"float(a) + 1", "a=2", EXP_VALUE, 3.0},
    {"float(a) > 1", "a=2", EXP_NONFLOAT, 0},
    {"if a > 1 { 2 } else { 3 }", "a=2", EXP_VALUE, 2.0},
    {"if a > 1 { 2 } else if a > 0 { 3 } else { 4 }", "a=0.5", EXP_VALUE, 3.0},
    {"a > 1 ?: 3", "a=2", EXP_RUN, 0},
    {"(a ?? 1) ?: 3", "a=nil", EXP_RUN, 0},
    {"let min = 1; min", "a=1", EXP_COMPILE, 0},
    {"(a; b)", "a=1,b=2", EXP_VALUE, 2.0},
    {"(a; b;)", "a=1,b=2", EXP_COMPILE, 0},
    {"min(a, b,)", "a=1,b=2", EXP_VALUE, 1.0},
    {"true && (a ?? 1)", "a=nil", EXP_COMPILE, 0},
    {"(a + b > 1 and false) ? 1 : 2", "a=nil,b=1", EXP_VALUE, 2.0},
    {"(a + b > 1 && true) ? 1 : 2", "a=nil,b=1", EXP_RUN, 0},
    {"-(-9223372036854775807 - 1)", "", EXP_VALUE, -9.223372036854776e+18},
    {"9223372036854775807 + 1", "", EXP_VALUE, -9.223372036854776e+18},
    {"9223372036854775808", "", EXP_COMPILE, 0},
    {"-9223372036854775808", "", EXP_COMPILE, 0},
    {"int(a) % -1", "a=-9.3e18", EXP_VALUE, 0.0},
    {"max(a, 1)", "a=NaN", EXP_NONFINITE, 0},
    {"max(1, a)", "a=NaN", EXP_VALUE, 1.0},
    {"min(1, a)", "a=0.5", EXP_VALUE, 0.5},
    {"min(a, 1)", "a=0.5", EXP_VALUE, 0.5},
    {"max(int(a), 2)", "a=3", EXP_VALUE, 3.0},
    {"max(int(a), 2) % 2", "a=3", EXP_VALUE, 1.0},
    {"ceil(a)", "a=NaN", EXP_NONFINITE, 0},
    {"a ** 0.5", "a=-1", EXP_NONFINITE, 0},
    {"a * 0", "a=Inf", EXP_NONFINITE, 0},
    {"a", "a=NaN", EXP_NONFINITE, 0},
    {"abs(int(a))", "a=-9.3e18", EXP_VALUE, -9.223372036854776e+18},
    {"-int(a)", "a=-9.3e18", EXP_VALUE, -9.223372036854776e+18},
    {"int(a) * 2", "a=9e18", EXP_VALUE, -4.467440737095516e+17},
    {"1 % 0.5", "", EXP_COMPILE, 0},
    {"1.5 % 2", "", EXP_COMPILE, 0},
    {"(a ?? 1) % 2", "a=nil", EXP_VALUE, 1.0},
    {"(a ?? 1) % 2", "a=3", EXP_RUN, 0},
    {"a ?? 1.5", "a=nil", EXP_VALUE, 1.5},
    {"(a > 0 ? 1 : 2.5) % 2", "a=1", EXP_VALUE, 1.0},
    {"!(a ?? true) ? 1 : 2", "a=nil", EXP_VALUE, 2.0},
    {"!(a ?? true) ? 1 : 2", "a=3", EXP_RUN, 0},
    {"-(a ?? true)", "a=nil", EXP_RUN, 0},
    {"(a ?? true) + 1", "a=nil", EXP_RUN, 0},
    {"(a ?? true) < 1 ? 1 : 2", "a=nil", EXP_RUN, 0},
    {"(a ?? true) == 1 ? 1 : 2", "a=nil", EXP_VALUE, 2.0},
    {"(a ?? 1) == 1 ? 1 : 2", "a=nil", EXP_VALUE, 1.0},
    {"nil == a ? 1 : 2", "a=nil", EXP_VALUE, 1.0},
    {"a != b ? 1 : 2", "a=nil,b=nil", EXP_VALUE, 2.0},
    {"nil ? 1 : 2", "", EXP_COMPILE, 0},
    {"(a ?? true) ? 1 : 2", "a=nil", EXP_VALUE, 1.0},
    {"(a ?? true) ? 1 : 2", "a=2", EXP_RUN, 0},
    {"(a ?? true) && true ? 1 : 2", "a=2", EXP_RUN, 0},
    {"true && (a ?? true) ? 1 : 2", "a=2", EXP_RUN, 0},
    {"a > 0 && (b ?? true) ? 1 : 2", "a=2,b=5", EXP_RUN, 0},
    {"a > 0 || (b ?? true) ? 1 : 2", "a=2,b=5", EXP_VALUE, 1.0},
    {"a ?? nil", "a=nil", EXP_NIL, 0},
    {"nil ?? a", "a=3", EXP_VALUE, 3.0},
    {"nil ?? nil", "", EXP_COMPILE, 0},
    {"a > 0 ? nil : 3", "a=1", EXP_RUN, 0},
    {"_kedaCompositeResult", "a=1", EXP_COMPILE, 0},
    {"let x = 1; let x = 2; x", "", EXP_COMPILE, 0},
    {"let x = a; x ?? 2", "a=nil", EXP_VALUE, 2.0},
    {"abs(nil)", "", EXP_COMPILE, 0},
    {"round(a ?? nil)", "a=nil", EXP_RUN, 0},
    {"1 + 2 * 3 - 4 / 2", "", EXP_VALUE, 5.0},
    {"2 * -3", "", EXP_VALUE, -6.0},
    {"- - 3", "", EXP_VALUE, 3.0},
    {"!!true ? 1 : 0", "", EXP_VALUE, 1.0},
    {"not not true ? 1 : 0", "", EXP_VALUE, 1.0},
    {"a ** -1", "a=0", EXP_NONFINITE, 0},
    {"0 ** -1", "", EXP_NONFINITE, 0},
    {"abs(-0.0)", "", EXP_VALUE, -0.0},
    {"1 / -0.0", "", EXP_NONFINITE, 0},
    {".5", "", EXP_VALUE, 0.5},
    {"5.", "", EXP_VALUE, 5.0},
    {"a.b", "a=1", EXP_COMPILE, 0},
    {"a[0]", "a=1", EXP_COMPILE, 0},
    {"a in [1]", "a=1", EXP_COMPILE, 0},
    {"1..3", "", EXP_COMPILE, 0},
    {"abs(a, b)", "a=1,b=1", EXP_COMPILE, 0},
    {"round()", "", EXP_COMPILE, 0},
    {"foo(a)", "a=1", EXP_COMPILE, 0},
    {"a(1)", "a=1", EXP_COMPILE, 0},
    {"a ?? 1 ?? 2", "a=nil", EXP_VALUE, 1.0},
    {"a?.b", "a=1", EXP_COMPILE, 0},
    {"#", "", EXP_COMPILE, 0},
    {"0x", "", EXP_COMPILE, 0},
    {"0b2", "", EXP_COMPILE, 0},
    {"1_", "", EXP_VALUE, 1.0},
    {"_1", "_1=3", EXP_VALUE, 3.0},
    {"$a", "$a=3", EXP_VALUE, 3.0},
    {"a", "a=1e-400", EXP_VALUE, 0.0},
    {"1e400", "", EXP_COMPILE, 0},
    {"1e-400", "", EXP_VALUE, 0.0},
    {"trigger1 + trigger2", "trigger1=2,trigger2=5", EXP_VALUE, 7.0},
    {"trigger1 ?? trigger2", "trigger1=nil,trigger2=nil", EXP_NIL, 0},
    {"workload_trig_1 + workload_trig_2", "workload_trig_1=-1,workload_trig_2=-1", EXP_VALUE, -2.0},
    {"x * 2", "x=-1", EXP_VALUE, -2.0},
    {"workload_trig + cron_trig", "workload_trig=-1,cron_trig=-1", EXP_VALUE, -2.0},
    {"workload_trig + 1", "workload_trig=-1", EXP_VALUE, 0.0},
    {"float(workload_trig + 1)", "workload_trig=-1", EXP_VALUE, 0.0},
    {"float(workload_trig < 5 ? cron_trig + workload_trig : 5)", "workload_trig=-1,cron_trig=-1",
     EXP_VALUE, -2.0},
    {"workload_trig < 5 ? cron_trig + workload_trig : 5", "workload_trig=-1,cron_trig=-1",
     EXP_VALUE, -2.0},
    {"float(trig_one < 2 ? trig_one+trig_two >= 2 ? 5 : 10 : 0)", "trig_one=-1,trig_two=-1",
     EXP_VALUE, 10.0},
    {"float(float(trig_two < 5 ? trig_one + trig_two : 5))", "trig_one=-1,trig_two=-1", EXP_VALUE,
     -2.0},
    {"trig_one ?? trig_two ?? 5", "trig_one=-1,trig_two=-1", EXP_VALUE, -1.0},
    {"trig_one ?? trig_two ?? 5", "trig_one=nil,trig_two=nil", EXP_VALUE, 5.0},
    {"primary ?? secondary ?? 8", "primary=nil,secondary=3", EXP_VALUE, 3.0},
    {"(trig_one + trig_two)/2", "trig_one=3,trig_two=4", EXP_VALUE, 3.5},
    {"trig_one > 2 ? trig_one + trig_two : 1", "trig_one=3,trig_two=4", EXP_VALUE, 7.0},
    {"trig_one > 2 ? trig_one + trig_two : 1", "trig_one=1,trig_two=4", EXP_VALUE, 1.0},
    {"cpu", "a=1", EXP_COMPILE, 0},
    {"a - b - c", "a=10,b=3,c=2", EXP_VALUE, 5.0},
    {"a / b / c", "a=12,b=3,c=2", EXP_VALUE, 2.0},
    {"2 ** 3 ** 2", "", EXP_VALUE, 512.0},
    {"-a ** 2", "a=3", EXP_VALUE, -9.0},
    {"-a * b", "a=3,b=2", EXP_VALUE, -6.0},
    {"a + b * c", "a=1,b=2,c=3", EXP_VALUE, 7.0},
    {"(a + b) * c", "a=1,b=2,c=3", EXP_VALUE, 9.0},
    {"int(a) % int(b)", "a=7,b=3", EXP_VALUE, 1.0},
    {"int(a) % int(b)", "a=-7,b=3", EXP_VALUE, -1.0},
    {"int(a) % int(b)", "a=7,b=0", EXP_RUN, 0},
    {"int(a) / int(b)", "a=7,b=0", EXP_NONFINITE, 0},
    {"int(a) / 0", "a=7", EXP_NONFINITE, 0},
    {"10 % 3 * 2", "", EXP_VALUE, 2.0},
    {"1 + 2 > 2 ? 1 : 0", "", EXP_VALUE, 1.0},
    {"a > b == true ? 1 : 0", "a=2,b=1", EXP_VALUE, 1.0},
    {"!(a > b) ? 1 : 0", "a=2,b=1", EXP_VALUE, 0.0},
    {"not (a > b) ? 1 : 0", "a=2,b=1", EXP_VALUE, 0.0},
    {"a > 1 && b > 1 || c > 1 ? 1 : 0", "a=0,b=0,c=2", EXP_VALUE, 1.0},
    {"a > 1 || b > 1 && c > 1 ? 1 : 0", "a=2,b=0,c=0", EXP_VALUE, 1.0},
    {"a >= 1 and a <= 3 ? a : 0", "a=2", EXP_VALUE, 2.0},
    {"a ?? b ?? c", "a=nil,b=nil,c=nil", EXP_NIL, 0},
    {"a ?? (b + 1)", "a=nil,b=1", EXP_VALUE, 2.0},
    {"(a ?? 0) + (b ?? 0)", "a=nil,b=2", EXP_VALUE, 2.0},
    {"(a ?? 0) + (b ?? 0)", "a=1,b=nil", EXP_VALUE, 1.0},
    {"a == nil ? b : a", "a=nil,b=7", EXP_VALUE, 7.0},
    {"a > 1 ? nil : 2", "a=2", EXP_RUN, 0},
    {"a > 1 ? a : nil", "a=0", EXP_RUN, 0},
    {"a ?? 1 > 0", "a=nil", EXP_COMPILE, 0},
    {"1 > a ?? 0", "a=nil", EXP_COMPILE, 0},
    {"min(a, b, c)", "a=3,b=1,c=2", EXP_VALUE, 1.0},
    {"max(a, b, c)", "a=3,b=1,c=2", EXP_VALUE, 3.0},
    {"min(a, 2)", "a=3", EXP_VALUE, 2.0},
    {"max(int(a), 2.5)", "a=3", EXP_VALUE, 3.0},
    {"max(a, nil)", "a=3", EXP_COMPILE, 0},
    {"min(true, 1)", "", EXP_COMPILE, 0},
    {"min(a ?? true, 1)", "a=nil", EXP_RUN, 0},
    {"min(a ?? 1, true)", "a=nil", EXP_RUN, 0},
    {"abs(a) + ceil(b) + floor(c)", "a=-1.5,b=1.1,c=1.9", EXP_VALUE, 4.5},
    {"round(a) + round(b)", "a=0.5,b=-0.5", EXP_VALUE, 0.0},
    {"round(a)", "a=2.4999", EXP_VALUE, 2.0},
    {"int(a) + 1", "a=1.7", EXP_VALUE, 2.0},
    {"float(int(a))", "a=-1.7", EXP_VALUE, -1.0},
    {"float(a)", "a=nil", EXP_RUN, 0},
    {"int(a)", "a=nil", EXP_RUN, 0},
    {"abs(a)", "a=nil", EXP_RUN, 0},
    {"abs(a ?? -2)", "a=nil", EXP_VALUE, 2.0},
    {"abs(int(a))", "a=-3", EXP_VALUE, 3.0},
    {"-a", "a=nil", EXP_RUN, 0},
    {"-(a ?? 1)", "a=nil", EXP_VALUE, -1.0},
    {"+a", "a=-2", EXP_VALUE, -2.0},
    {"+(a ?? true)", "a=nil", EXP_RUN, 0},
    {"a + b", "a=1e308,b=1e308", EXP_NONFINITE, 0},
    {"a - a", "a=Inf", EXP_NONFINITE, 0},
    {"a", "a=-Inf", EXP_NONFINITE, 0},
    {"0/0", "", EXP_NONFINITE, 0},
    {"a / 0", "a=0", EXP_NONFINITE, 0},
    {"1e3 + 1_000", "", EXP_VALUE, 2000.0},
    {"0x10 + 0o10 + 0b10", "", EXP_VALUE, 26.0},
    {"1.5e2", "", EXP_VALUE, 150.0},
    {"2.", "", EXP_VALUE, 2.0},
    {".25 * 4", "", EXP_VALUE, 1.0},
    {"1.2.3", "", EXP_COMPILE, 0},
    {"1ee3", "", EXP_COMPILE, 0},
    {"0x1g", "", EXP_COMPILE, 0},
    {"09", "", EXP_VALUE, 9.0},
    {"0b", "", EXP_COMPILE, 0},
    {"* a", "a=1", EXP_COMPILE, 0},
    {"a b", "a=1,b=1", EXP_COMPILE, 0},
    {"(a + b", "a=1,b=1", EXP_COMPILE, 0},
    {"a + b)", "a=1,b=1", EXP_COMPILE, 0},
    {"a ? : 1", "a=1", EXP_COMPILE, 0},
    {"a > 1 ? 2", "a=1", EXP_COMPILE, 0},
    {"a > 1 ? 2 :", "a=1", EXP_COMPILE, 0},
    {"min(a,", "a=1", EXP_COMPILE, 0},
    {"min(,a)", "a=1", EXP_COMPILE, 0},
    {"float(", "a=1", EXP_COMPILE, 0},
    {"float()", "", EXP_COMPILE, 0},
    {"float(a, b)", "a=1,b=2", EXP_COMPILE, 0},
    {"float(a) * 2", "a=3", EXP_VALUE, 6.0},
    {"float(a) > 1 ? 1 : 2", "a=3", EXP_NONFLOAT, 0},
    {"float(a) > 1", "a=3", EXP_NONFLOAT, 0},
    {"float(a) == 3", "a=3", EXP_NONFLOAT, 0},
    {"let x = 1; float(x)", "", EXP_VALUE, 1.0},
    {"let _kedaCompositeResult = (a ?? 1); _kedaCompositeResult", "a=nil", EXP_NONFLOAT, 0},
    {"let _kedaCompositeResult = (a ?? 1); _kedaCompositeResult > 0", "a=nil", EXP_NONFLOAT, 0},
    {"let y = a ?? 2; y * 3", "a=nil", EXP_VALUE, 6.0},
    {"let y = a; let z = y * 2; z + y", "a=2", EXP_VALUE, 6.0},
    {"let a = 1; a", "a=5", EXP_COMPILE, 0},
    {"let abs = 1; abs", "", EXP_COMPILE, 0},
    {"let x = x; x", "", EXP_COMPILE, 0},
    {"(let x = 2; x) + 1", "", EXP_VALUE, 3.0},
    {"a /* comment */ * 2", "a=2", EXP_VALUE, 4.0},
    {"a * 2 // trailing", "a=2", EXP_COMPILE, 0},
    {"a * 2 /* unclosed", "a=2", EXP_COMPILE, 0},
    {"/* only a comment */", "", EXP_COMPILE, 0},
    {"a * 2 ?? 1", "a=1", EXP_VALUE, 2.0},
    {"a ?? 1 // ?? in comment", "a=nil", EXP_COMPILE, 0},
    {"(a; b; c)", "a=1,b=2,c=3", EXP_VALUE, 3.0},
    {"if a > 0 { a } else { 0 }", "a=2", EXP_VALUE, 2.0},
    {"if a > 0 { a } else { nil }", "a=-2", EXP_RUN, 0},
    {"if a { 1 } else { 2 }", "a=1", EXP_COMPILE, 0},
    {"if a > 0 { 1 }", "a=1", EXP_COMPILE, 0},
    {"a > 0 ?: 1", "a=1", EXP_RUN, 0},
    {"(a ?? nil) ?: 1", "a=nil", EXP_COMPILE, 0},
    {"true ? 1 : 2", "", EXP_VALUE, 1.0},
    {"false ? 1 : 2.5", "", EXP_VALUE, 2.5},
    {"true ? true : 1", "", EXP_RUN, 0},
    {"1 < 2 < 3 ? 1 : 0", "", EXP_VALUE, 1.0},
    {"3 > 2 > 1 ? 1 : 0", "", EXP_VALUE, 1.0},
    {"1 < a <= 2 ? 1 : 0", "a=2", EXP_VALUE, 1.0},
    {"1 < a < 3 < b ? 1 : 0", "a=2,b=4", EXP_VALUE, 1.0},
    {"a == b == true ? 1 : 0", "a=1,b=1", EXP_VALUE, 1.0},
    {"a != b ? 1 : 0", "a=1,b=nil", EXP_VALUE, 1.0},
    {"true == false ? 1 : 0", "", EXP_VALUE, 0.0},
    {"true != 1 ? 1 : 0", "", EXP_COMPILE, 0},
    {"(a > 0) == (b > 0) ? 1 : 0", "a=1,b=-1", EXP_VALUE, 0.0},
    {"a > 0 and false ? 1 : 2", "a=nil", EXP_VALUE, 2.0},
    {"false or a > 0 ? 1 : 2", "a=nil", EXP_RUN, 0},
    {"a > 0 or true ? 1 : 2", "a=nil", EXP_VALUE, 1.0},
    {"true and a > 0 ? 1 : 2", "a=nil", EXP_RUN, 0},
    {"1 % (2 - 2)", "", EXP_COMPILE, 0},
    {"int(a) % (2 - 2)", "a=4", EXP_RUN, 0},
    {"a > 0 ? 1 % 0 : 2", "a=-1", EXP_COMPILE, 0},
    {"9223372036854775807 * 2", "", EXP_VALUE, -2.0},
    {"-9223372036854775807 - 2", "", EXP_VALUE, 9.223372036854776e+18},
    {"1 / 3", "", EXP_VALUE, 0.3333333333333333},
    {"2 ^ 0.5", "", EXP_VALUE, 1.4142135623730951},
    {"a ^ b", "a=2,b=10", EXP_VALUE, 1024.0},
    {"a ** -2", "a=2", EXP_VALUE, 0.25},
    {"(-8) ** (1/3)", "", EXP_NONFINITE, 0},
    {"a > 0 ? 1 : 2", "a=NaN", EXP_VALUE, 2.0},
    {"a < 0 ? 1 : 2", "a=NaN", EXP_VALUE, 2.0},
    {"a == a ? 1 : 2", "a=NaN", EXP_VALUE, 2.0},
    {"a != a ? 1 : 2", "a=NaN", EXP_VALUE, 1.0},
    {"min(a, 1)", "a=NaN", EXP_NONFINITE, 0},
    {"min(1, a)", "a=NaN", EXP_VALUE, 1.0},
    {"abs(a)", "a=-Inf", EXP_NONFINITE, 0},
    {"ceil(a)", "a=-0.5", EXP_VALUE, -0.0},
    {"int(a)", "a=9.2e18", EXP_VALUE, 9.2e+18},
    {"a % 1", "a=1", EXP_COMPILE, 0},
    {"int(1.5) % 1", "", EXP_VALUE, 0.0},
    {"-(1)", "", EXP_VALUE, -1.0},
    {"- -a", "a=2", EXP_VALUE, 2.0},
    {"!!(a > 1) ? 1 : 0", "a=2", EXP_VALUE, 1.0},
    {"!(a ?? false) ? 1 : 0", "a=nil", EXP_VALUE, 1.0},
    {"not", "", EXP_COMPILE, 0},
    {"!", "", EXP_COMPILE, 0},
    {"a not b", "a=1,b=1", EXP_COMPILE, 0},
    {"a not in b", "a=1,b=1", EXP_COMPILE, 0},
    {"a in b", "a=1,b=1", EXP_COMPILE, 0},
    {"{a: 1}", "a=1", EXP_COMPILE, 0},
    {"a @ b", "a=1,b=1", EXP_COMPILE, 0},
    {"a & b", "a=1,b=1", EXP_COMPILE, 0},
    {"a = b", "a=1,b=1", EXP_COMPILE, 0},
    {"a => b", "a=1,b=1", EXP_COMPILE, 0},
    {"é", "", EXP_COMPILE, 0},
    {"trig-1", "trig=3", EXP_VALUE, 2.0},
    {"trig_1 + Trig_1", "trig_1=1,Trig_1=2", EXP_VALUE, 3.0},
    {"true", "", EXP_COMPILE, 0},
    {"false", "", EXP_COMPILE, 0},
    {"-nil", "", EXP_COMPILE, 0},
    {"!nil", "", EXP_COMPILE, 0},
    {"nil > 1", "", EXP_COMPILE, 0},
    {"1 + true", "", EXP_COMPILE, 0},
    {"true + true", "", EXP_COMPILE, 0},
    {"a && b", "a=1,b=1", EXP_COMPILE, 0},
    {"a > 0 && 1", "a=1", EXP_COMPILE, 0},
    {"a % 2.0", "a=1", EXP_COMPILE, 0},
    {"int(a) % 2.0", "a=1", EXP_COMPILE, 0},
    {"(a > 0 ? 1 : 2) % 2", "a=1", EXP_VALUE, 1.0},
    {"(a > 0 ? 1 : a) % 2", "a=1", EXP_VALUE, 1.0},
    {"(a > 0 ? 1 : a) % 2", "a=-1", EXP_RUN, 0},
    {"(a ?? 3) % 2", "a=nil", EXP_VALUE, 1.0},
    {"max(a ?? 3, 1) % 2", "a=nil", EXP_VALUE, 1.0},
    {"abs(a ?? 3) % 2", "a=nil", EXP_VALUE, 1.0},
    {"abs(a ?? 3.5) % 2", "a=nil", EXP_COMPILE, 0},
    {"(b > 0 ? 1.5 : abs(a ?? 1)) % 2", "a=1,b=-1", EXP_COMPILE, 0},
    {"(b > 0 ? 1 : abs(a ?? 1)) % 2", "a=nil,b=-1", EXP_VALUE, 1.0},
    {"(a ?? abs(b ?? 1)) % 2", "a=nil,b=nil", EXP_VALUE, 1.0},
};

#define ENV_MAX 8

typedef struct env {
    char buf[256];
    const char *names[ENV_MAX];
    double values[ENV_MAX];
    bool present[ENV_MAX];
    size_t n;
} env_t;

static void env_parse(const char *spec, env_t *env)
{
    char *save = NULL;

    memset(env, 0, sizeof *env);
    snprintf(env->buf, sizeof env->buf, "%s", spec);
    for (char *kv = strtok_r(env->buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        assert_non_null(eq);
        assert_true(env->n < ENV_MAX);
        *eq = '\0';
        env->names[env->n] = kv;
        env->present[env->n] = strcmp(eq + 1, "nil") != 0;
        env->values[env->n] = env->present[env->n] ? strtod(eq + 1, NULL) : 0;
        env->n++;
    }
}

static void check_case(const expr_case_t *c)
{
    errtext_t err = {{0}};
    expr_t *e = NULL;
    double v = 0;
    bool is_nil = false;
    env_t env;
    int r;

    env_parse(c->env, &env);
    r = expr_compile(c->formula, env.names, env.n, &e, &err);
    if (c->expect == EXP_COMPILE) {
        if (r != -EINVAL)
            fail_msg("%s: compiled, expr-lang refuses it", c->formula);
        assert_true(err.text[0] != '\0');
        return;
    }
    if (r != 0)
        fail_msg("%s: %s", c->formula, err.text);
    r = expr_eval(e, env.values, env.present, &v, &is_nil, &err);
    switch (c->expect) {
    case EXP_VALUE:
        if (r != 0 || is_nil || v != c->value)
            fail_msg("%s: r=%d nil=%d %.17g, want %.17g (%s)", c->formula, r, is_nil, v, c->value,
                     err.text);
        break;
    case EXP_NIL:
        if (r != 0 || !is_nil)
            fail_msg("%s: r=%d, want nil (%s)", c->formula, r, err.text);
        break;
    default: /* NONFLOAT, NONFINITE, RUN */
        if (r != -EDOM || !err.text[0])
            fail_msg("%s: r=%d %.17g, want -EDOM", c->formula, r, v);
        break;
    }
    expr_free(e);
}

static void test_expr_eval_matches_expr_lang(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof expr_lang_cases / sizeof expr_lang_cases[0]; i++)
        check_case(&expr_lang_cases[i]);
}

static int compile_msg(const char *src, const char *const *names, size_t n, errtext_t *err)
{
    expr_t *e = NULL;
    int r = expr_compile(src, names, n, &e, err);

    if (r == 0)
        expr_free(e);
    return r;
}

static void test_expr_compile_error_names_column(void **state)
{
    static const char *const names[] = {"a", "b"};
    errtext_t err;

    (void)state;
    assert_int_equal(compile_msg("a +* b", names, 2, &err), -EINVAL);
    assert_string_equal(err.text, "unexpected token '*' at column 4");
    assert_int_equal(compile_msg("a + trig_x", names, 2, &err), -EINVAL);
    assert_string_equal(err.text, "unknown name trig_x at column 5");
    assert_int_equal(compile_msg("a % 2", names, 2, &err), -EINVAL);
    assert_non_null(strstr(err.text, "mismatched types float64 and int) at column 3"));
    assert_int_equal(compile_msg("a +\n  b ** ", names, 2, &err), -EINVAL);
    assert_non_null(strstr(err.text, "at line 2, column 8"));
    /* a syntax error later in the text wins over an earlier type error, as in expr-lang */
    assert_int_equal(compile_msg("x + (a", names, 2, &err), -EINVAL);
    assert_non_null(strstr(err.text, "unexpected end of formula"));
    /* the result must be a number: the message says KEDA's float() refused it */
    assert_int_equal(compile_msg("a > b", names, 2, &err), -EINVAL);
    assert_non_null(strstr(err.text, "float"));
}

static void test_expr_compile_refuses_unsupported_expr_lang(void **state)
{
    static const char *const names[] = {"trig_one", "trig_two"};
    static const char *const refused[] = {
        "count([trig_one,trig_two],{#>1}) > 1 ? 5 : 0", /* KEDA's webhook test; see README */
        "len(\"ab\")",
        "trig_one in [1, 2] ? 1 : 0",
        "trig_one | abs()",
        "trig_one.x",
        "#",
        "mean(trig_one, trig_two)",
    };
    errtext_t err;

    (void)state;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        err.text[0] = '\0';
        assert_int_equal(compile_msg(refused[i], names, 2, &err), -EINVAL);
        assert_true(err.text[0] != '\0');
    }
}

static void test_expr_compile_bounds_size_and_depth(void **state)
{
    static const char *const names[] = {"a"};
    char *src = malloc(EXPR_SOURCE_MAX + 2);
    errtext_t err;
    size_t n = 0;

    (void)state;
    assert_non_null(src);
    memset(src, ' ', EXPR_SOURCE_MAX + 1);
    src[0] = 'a';
    src[EXPR_SOURCE_MAX + 1] = '\0';
    assert_int_equal(compile_msg(src, names, 1, &err), -E2BIG);
    src[EXPR_SOURCE_MAX] = '\0';
    assert_int_equal(compile_msg(src, names, 1, &err), 0); /* exactly the limit */

    for (int i = 0; i < EXPR_DEPTH_MAX + 1; i++)
        src[n++] = '(';
    src[n++] = 'a';
    for (int i = 0; i < EXPR_DEPTH_MAX + 1; i++)
        src[n++] = ')';
    src[n] = '\0';
    assert_int_equal(compile_msg(src, names, 1, &err), -E2BIG);
    assert_non_null(strstr(err.text, "deeper"));

    n = 0;
    for (int i = 0; i < EXPR_NODES_MAX; i++)
        n += (size_t)snprintf(src + n, 8, "%sa", i ? "+" : "");
    assert_int_equal(compile_msg(src, names, 1, &err), -E2BIG);
    free(src);
}

static void test_expr_eval_nil_trigger_with_fallback(void **state)
{
    static const char *const names[] = {"primary", "secondary"};
    double values[] = {4, 3}, v = 0;
    bool present[] = {false, true}, is_nil = true;
    errtext_t err;
    expr_t *e = NULL;

    (void)state;
    assert_int_equal(expr_compile("primary ?? secondary ?? 8", names, 2, &e, &err), 0);
    assert_int_equal(expr_eval(e, values, present, &v, &is_nil, &err), 0);
    assert_false(is_nil);
    assert_true(v == 3);
    present[1] = false;
    assert_int_equal(expr_eval(e, values, present, &v, &is_nil, &err), 0);
    assert_true(v == 8);
    assert_int_equal(expr_eval(e, values, NULL, &v, &is_nil, &err), 0); /* NULL: all there */
    assert_true(v == 4);
    expr_free(e);

    assert_int_equal(expr_compile("primary ?? secondary", names, 2, &e, &err), 0);
    present[0] = present[1] = false;
    assert_int_equal(expr_eval(e, values, present, &v, &is_nil, &err), 0);
    assert_true(is_nil);
    expr_free(e);

    /* without ?? a nil trigger is a run-time error, as in KEDA */
    assert_int_equal(expr_compile("primary + secondary", names, 2, &e, &err), 0);
    assert_int_equal(expr_eval(e, values, present, &v, &is_nil, &err), -EDOM);
    assert_non_null(strstr(err.text, "<nil> + "));
    assert_non_null(strstr(err.text, "column 9"));
    expr_free(e);
}

static void test_expr_eval_refuses_non_finite(void **state)
{
    static const char *const names[] = {"a"};
    double values[] = {0}, v = 7;
    bool is_nil = false;
    errtext_t err;
    expr_t *e = NULL;

    (void)state;
    assert_int_equal(expr_compile("1 / a", names, 1, &e, &err), 0);
    assert_int_equal(expr_eval(e, values, NULL, &v, &is_nil, &err), -EDOM);
    assert_non_null(strstr(err.text, "+Inf"));
    assert_true(v == 7); /* nothing written on failure */
    expr_free(e);
    assert_int_equal(expr_compile("a", names, 1, &e, &err), 0);
    values[0] = NAN;
    assert_int_equal(expr_eval(e, values, NULL, &v, &is_nil, &err), -EDOM);
    assert_non_null(strstr(err.text, "NaN"));
    expr_free(e);
}

static void test_expr_validate_follows_keda(void **state)
{
    static const char *const names[] = {"workload_trig", "cron_trig"};
    errtext_t err;

    (void)state;
    assert_int_equal(expr_validate("workload_trig + cron_trig", names, 2, &err), 0);
    assert_int_equal(
        expr_validate("workload_trig < 5 ? cron_trig + workload_trig : 5", names, 2, &err), 0);
    assert_int_equal(expr_validate("float(workload_trig + 1)", names, 2, &err), 0);
    /* KEDA runs with every trigger -1 and does not look at the value: 1/0 passes */
    assert_int_equal(expr_validate("1 / (workload_trig + 1)", names, 2, &err), 0);
    /* ... but a run-time error with -1 fails, as does a name that is not a trigger */
    assert_int_equal(expr_validate("int(workload_trig) % int(cron_trig + 1)", names, 2, &err),
                     -EINVAL);
    assert_int_equal(expr_validate("workload_trig + cpu", names, 2, &err), -EINVAL);
    assert_non_null(strstr(err.text, "unknown name cpu"));
    assert_int_equal(expr_validate("workload_trig > 0 ? nil : 1", names, 2, &err), 0);
    assert_int_equal(expr_validate("workload_trig < 0 ? nil : 1", names, 2, &err), -EINVAL);
}

static void test_expr_uses_names_in_formula(void **state)
{
    static const char *const names[] = {"a", "b", "c"};
    errtext_t err;
    expr_t *e = NULL;

    (void)state;
    assert_int_equal(expr_compile("a > 0 and false ? c : 1", names, 3, &e, &err), 0);
    assert_true(expr_uses(e, 0));
    assert_false(expr_uses(e, 1));
    assert_true(expr_uses(e, 2));
    assert_null(expr_free(e));
    assert_null(expr_free(NULL));
}

typedef struct shared_run {
    const expr_t *e;
    int bad;
} shared_run_t;

static void *run_shared(void *arg)
{
    shared_run_t *s = arg;
    errtext_t err;

    for (int i = 0; i < 20000; i++) {
        double values[] = {i, i % 7}, v = 0;
        bool present[] = {true, i % 3 != 0}, is_nil;
        int r = expr_eval(s->e, values, present, &v, &is_nil, &err);
        double want = (i % 3 != 0 ? i % 7 : 5) + i * 2.0;
        if (r != 0 || is_nil || v != want)
            s->bad++;
    }
    return NULL;
}

static void test_expr_eval_shared_program_from_threads(void **state)
{
    static const char *const names[] = {"a", "b"};
    shared_run_t runs[4];
    pthread_t th[4];
    errtext_t err;
    expr_t *e = NULL;

    (void)state;
    assert_int_equal(expr_compile("let x = a * 2; (b ?? 5) + x", names, 2, &e, &err), 0);
    for (int i = 0; i < 4; i++) {
        runs[i] = (shared_run_t){e, 0};
        assert_int_equal(pthread_create(&th[i], NULL, run_shared, &runs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(runs[i].bad, 0);
    }
    expr_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expr_eval_matches_expr_lang),
        cmocka_unit_test(test_expr_compile_error_names_column),
        cmocka_unit_test(test_expr_compile_refuses_unsupported_expr_lang),
        cmocka_unit_test(test_expr_compile_bounds_size_and_depth),
        cmocka_unit_test(test_expr_eval_nil_trigger_with_fallback),
        cmocka_unit_test(test_expr_eval_refuses_non_finite),
        cmocka_unit_test(test_expr_validate_follows_keda),
        cmocka_unit_test(test_expr_uses_names_in_formula),
        cmocka_unit_test(test_expr_eval_shared_program_from_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
