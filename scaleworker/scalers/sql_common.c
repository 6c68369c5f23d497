/*
 * sql_common: what the postgresql and mysql scalers share (see sql.h): the parameter lookup,
 * KEDA's reading of numbers, and database/sql's Scan of the value. Runs in the postgresql and
 * mysql workers.
 *
 * Error texts name the parameter and quote at most SQL_QUOTE bytes of a bad value; they never
 * quote a connection parameter (it may hold a password).
 */
#include "common/json.h"
#include "scaleworker/scalers/sql.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_QUOTE 64 /* at most this much of a bad value is quoted back */

char *sw_sql_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int sw_sql_find(const sw_params_t *p, const char *name, const sw_src_t *order, sw_param_t *v,
                char *err, size_t errlen)
{
    const char *names[] = {name, NULL};
    int r = sw_param_find(p, names, order, v);

    if (r == 1 && v->len > SW_SQL_QUERY_MAX) {
        snprintf(err, errlen, "%s.%s: longer than %d bytes", sw_src_prefix(v->src), v->name,
                 SW_SQL_QUERY_MAX);
        return -EINVAL;
    }
    return r;
}

int sw_sql_number(const sw_param_t *v, double *ret, char *err, size_t errlen)
{
    char buf[64];
    size_t n = v->len;

    if (!jsonu_is_number(v->value, n) || n >= sizeof buf) {
        snprintf(err, errlen, "%s.%s: \"%.*s%s\" is not a number", sw_src_prefix(v->src), v->name,
                 (int)(n > SQL_QUOTE ? SQL_QUOTE : n), v->value, n > SQL_QUOTE ? "..." : "");
        return -EINVAL;
    }
    memcpy(buf, v->value, n);
    buf[n] = '\0';
    errno = 0;
    *ret = strtod(buf, NULL);
    if (errno == ERANGE && fabs(*ret) > 1) {
        snprintf(err, errlen, "%s.%s: \"%s\" is out of range", sw_src_prefix(v->src), v->name, buf);
        return -EINVAL;
    }
    return 0;
}

int sw_sql_scan_float(const char *name, const char *v, const char *type, double *ret, char *text,
                      size_t cap)
{
    char *end;
    double d;

    if (!v) {
        snprintf(text, cap,
                 "sql: Scan error on column index 0, name \"%.64s\": converting NULL to float64 "
                 "is unsupported",
                 name);
        return -EINVAL;
    }
    errno = 0;
    d = strtod(v, &end);
    if (!*v || isspace((unsigned char)*v) || *end || (errno == ERANGE && fabs(d) > 1)) {
        snprintf(text, cap,
                 "sql: Scan error on column index 0, name \"%.64s\": converting driver.Value "
                 "type %s (\"%.64s\") to a float64: invalid syntax",
                 name, type, v);
        return -EINVAL;
    }
    if (!isfinite(d)) {
        snprintf(text, cap, "the query's result %.16s is not a finite number", v);
        return -EINVAL;
    }
    *ret = d;
    return 0;
}
