/*
 * resp: a strict, bounded reader of RESP2 replies (the Redis protocol), for the redis scalers.
 * Replies come from an event source, so they are untrusted: every length is checked against
 * the bounds below before it is used, lines must end in CRLF, numbers are exact decimal
 * integers, nesting is limited. The reader holds no state: it parses one reply from the start
 * of a buffer, or says that more bytes are needed; the elements of an array are walked
 * afterwards with sw_resp_array_next(). libc only (the fuzz harness compiles it
 * alone).
 */
#ifndef CKEDA_SCALEWORKER_RESP_H
#define CKEDA_SCALEWORKER_RESP_H

#include <stddef.h>
#include <stdint.h>

#define SW_RESP_LINE_MAX  4096         /* a header line's CR lies within its first bytes */
#define SW_RESP_BULK_MAX  (512 * 1024) /* one bulk string */
#define SW_RESP_DEPTH_MAX 8            /* nested arrays */
#define SW_RESP_ELEMS_MAX 65536        /* elements of one array */

typedef enum {
    SW_RESP_STATUS = '+',
    SW_RESP_ERROR = '-',
    SW_RESP_INTEGER = ':',
    SW_RESP_BULK = '$',
    SW_RESP_ARRAY = '*',
    SW_RESP_NIL = 'n', /* a null bulk string or null array */
} sw_resp_type_t;

typedef struct sw_resp_reply {
    sw_resp_type_t type;
    int64_t integer; /* SW_RESP_INTEGER; the element count of SW_RESP_ARRAY */
    const char *str; /* STATUS, ERROR, BULK: into the buffer, len bytes, not NUL-terminated;
                        ARRAY: the bytes of its elements (sw_resp_array_next) */
    size_t len;
} sw_resp_reply_t;

/* Parses the reply at the start of buf (len bytes). 0 with *ret and *ret_used (the reply's size)
 * filled; -EAGAIN when the reply is incomplete; -EPROTO when it is malformed; -EMSGSIZE when it
 * exceeds a bound. The elements of an array are checked, not returned. */
int sw_resp_parse(const char *buf, size_t len, sw_resp_reply_t *ret, size_t *ret_used);

/* The elements of an ARRAY reply that sw_resp_parse() returned, in order: *off starts at 0.
 * Returns 1 with the next element in *ret (an array element can be walked the same way), 0
 * after the last one. */
int sw_resp_array_next(const sw_resp_reply_t *array, size_t *off, sw_resp_reply_t *ret);

/* Appends a command (an array of bulk strings) to out, at most cap bytes in total. Returns the
 * new length, or -EMSGSIZE if it does not fit. */
long sw_resp_command(char *out, size_t used, size_t cap, int argc, const char *const *argv,
                     const size_t *argl);

#endif
