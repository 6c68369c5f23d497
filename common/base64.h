/*
 * base64: RFC 4648 standard-alphabet encoding and strict decoding, and base16 digits.
 *
 * Used for kubeconfig's *-data fields and Secret data; any process may use it. Decoding accepts
 * padding or its absence and skips ASCII whitespace (PEM-style line breaks); any other byte
 * outside the alphabet is an error, so a corrupted field is reported rather than half-decoded.
 * Decoded buffers may hold key material: free them with base64_free_secret().
 */
#ifndef CKEDA_COMMON_BASE64_H
#define CKEDA_COMMON_BASE64_H

#include <stddef.h>

/* Decodes len bytes of in. On success *ret_buf is a malloc'd buffer of *ret_len bytes plus a
 * terminating NUL (not counted), owned by the caller. -EINVAL on a byte outside the alphabet or
 * a bad length, -ENOMEM. */
int base64_decode(const char *in, size_t len, unsigned char **ret_buf, size_t *ret_len);

/* Returns a malloc'd NUL-terminated encoding of len bytes, or NULL on allocation failure. */
char *base64_encode(const void *in, size_t len);

/* The value of a hexadecimal digit (either case), or -1. */
int base16_digit(char c);

/* Wipes then frees a buffer that may hold a secret. Accepts NULL. */
void base64_free_secret(void *buf, size_t len);

#endif
