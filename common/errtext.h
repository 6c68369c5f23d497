/*
 * errtext: a fixed-size error message that a fallible function fills in for its caller.
 *
 * Library code in common/ does not log above debug; it returns -errno and, where a bare errno
 * would leave the user guessing, a sentence naming the file, the object and the field. The
 * caller decides whether and how to log it. Any process may use it; no allocation, no state.
 *
 * Invariant: text is always NUL-terminated; an over-long message is truncated, never split.
 */
#ifndef CKEDA_COMMON_ERRTEXT_H
#define CKEDA_COMMON_ERRTEXT_H

#include <stdarg.h>

#define ERRTEXT_MAX 512

typedef struct errtext {
    char text[ERRTEXT_MAX];
} errtext_t;

/* Formats into e (which may be NULL: then nothing happens). Returns nothing: a message is a
 * courtesy, never a reason to fail. */
void errtext_set(errtext_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void errtext_setv(errtext_t *e, const char *fmt, va_list ap);

/* Prepends "prefix: " to the message already in e (e.g. the file name to a key's error). */
void errtext_prefix(errtext_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
