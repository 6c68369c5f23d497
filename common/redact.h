/*
 * redact: the one function every error text passes before it is stored in the table or logged.
 * Removes URL userinfo (scheme://user:pass@ -> scheme://REDACTED@), URL query strings
 * (?... -> ?REDACTED) and the values of known credential keys (password=..., "token": "...",
 * Authorization: Bearer ...). Errs on the side of removing too much.
 */
#ifndef CKEDA_COMMON_REDACT_H
#define CKEDA_COMMON_REDACT_H

#include <stddef.h>

/* Writes the redacted, NUL-terminated text into out (truncated to cap - 1 bytes). */
void redact_text(const char *in, char *out, size_t cap);

#endif
