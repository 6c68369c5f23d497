/*
 * log: one line per write(2) to stderr, so lines of different processes never interleave.
 *
 * Every process of the tree logs through here. A line longer than PIPE_BUF is truncated (and
 * marked) rather than split. Text or JSON (--log-format=json). Callers log once, where the
 * decision is made, and never pass a credential: error texts from outside go through
 * redact_text() first.
 */
#ifndef CKEDA_COMMON_LOG_H
#define CKEDA_COMMON_LOG_H

#include <stdarg.h>

enum {
    LOG_LEVEL_ERR = 3,
    LOG_LEVEL_WARNING = 4,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
};

typedef enum { LOG_FORMAT_TEXT, LOG_FORMAT_JSON } log_format_t;

/* Called once per process, before the first log line. `who` names the process (e.g.
 * "supervisor", "scaleworker/redis/0"). */
void log_setup(const char *who, log_format_t format, int max_level);
int log_format_parse(const char *s, log_format_t *ret_format);
int log_level_parse(const char *s, int *ret_level);

/* err is 0 or a negative errno; when non-zero its text is appended. Returns err, so that
 * `return log_msg(LOG_LEVEL_ERR, r, ...)` propagates it. */
int log_msg(int level, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int log_msgv(int level, int err, const char *fmt, va_list ap);

#define log_error(err, ...)   log_msg(LOG_LEVEL_ERR, (err), __VA_ARGS__)
#define log_warning(err, ...) log_msg(LOG_LEVEL_WARNING, (err), __VA_ARGS__)
#define log_info(...)         log_msg(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_debug(...)        log_msg(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)

#endif
