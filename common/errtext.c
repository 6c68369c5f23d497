/*
 * errtext: see errtext.h. Pure formatting into a caller-owned buffer; safe in every process.
 */
#include "common/errtext.h"

#include <stdio.h>
#include <string.h>

void errtext_setv(errtext_t *e, const char *fmt, va_list ap)
{
    if (!e)
        return;
    if (vsnprintf(e->text, sizeof e->text, fmt, ap) < 0)
        e->text[0] = '\0';
}

void errtext_set(errtext_t *e, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    errtext_setv(e, fmt, ap);
    va_end(ap);
}

void errtext_prefix(errtext_t *e, const char *fmt, ...)
{
    char joined[2 * ERRTEXT_MAX + 2];
    size_t len;
    va_list ap;

    if (!e)
        return;
    va_start(ap, fmt);
    if (vsnprintf(joined, ERRTEXT_MAX, fmt, ap) < 0)
        joined[0] = '\0';
    va_end(ap);
    len = strlen(joined);
    memcpy(joined + len, ": ", 2);
    len += 2;
    memcpy(joined + len, e->text, strnlen(e->text, ERRTEXT_MAX - 1));
    len += strnlen(e->text, ERRTEXT_MAX - 1);
    if (len > ERRTEXT_MAX - 1)
        len = ERRTEXT_MAX - 1;
    memcpy(e->text, joined, len);
    e->text[len] = '\0';
}
