/*
 * log: see log.h. No allocation, no locks: a line is formatted into a PIPE_BUF-sized buffer on
 * the stack and written with one write(2). Safe in every process of the tree; not
 * async-signal-safe (signal handlers never log).
 */
#include "common/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_who[64] = "ckeda";
static log_format_t log_format = LOG_FORMAT_TEXT;
static int log_max_level = LOG_LEVEL_INFO;

void log_setup(const char *who, log_format_t format, int max_level)
{
    snprintf(log_who, sizeof log_who, "%s", who);
    log_format = format;
    log_max_level = max_level;
}

int log_format_parse(const char *s, log_format_t *ret_format)
{
    if (strcmp(s, "text") == 0)
        *ret_format = LOG_FORMAT_TEXT;
    else if (strcmp(s, "json") == 0)
        *ret_format = LOG_FORMAT_JSON;
    else
        return -EINVAL;
    return 0;
}

int log_level_parse(const char *s, int *ret_level)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"error", LOG_LEVEL_ERR},
                 {"warning", LOG_LEVEL_WARNING},
                 {"info", LOG_LEVEL_INFO},
                 {"debug", LOG_LEVEL_DEBUG}};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            *ret_level = names[i].level;
            return 0;
        }
    return -EINVAL;
}

static const char *log_level_name(int level)
{
    switch (level) {
    case LOG_LEVEL_ERR:
        return "error";
    case LOG_LEVEL_WARNING:
        return "warning";
    case LOG_LEVEL_INFO:
        return "info";
    default:
        return "debug";
    }
}

/* Appends s to buf as the body of a JSON string (without quotes). Returns the new length. */
static size_t log_json_escape(char *buf, size_t len, size_t cap, const char *s)
{
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c < 0x20) {
            len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

int log_msgv(int level, int err, const char *fmt, va_list ap)
{
    char msg[PIPE_BUF], line[PIPE_BUF];
    size_t len, cap = sizeof line - 1;
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    int saved_errno = errno;

    if (level > log_max_level)
        return err;
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n >= 0 && err != 0)
        snprintf(msg + strlen(msg), sizeof msg - strlen(msg), ": %s", strerror(-err));
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    if (log_format == LOG_FORMAT_JSON) {
        len = (size_t)snprintf(line, cap, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"who\":\"",
                               stamp, ts.tv_nsec / 1000000, log_level_name(level));
        len = log_json_escape(line, len, cap - 3, log_who);
        len += (size_t)snprintf(line + len, cap - len, "\",\"msg\":\"");
        len = log_json_escape(line, len, cap - 3, msg);
        len += (size_t)snprintf(line + len, cap - len, "\"}");
    } else {
        len = (size_t)snprintf(line, cap, "%s.%03ldZ %s %s[%d]: %s", stamp, ts.tv_nsec / 1000000,
                               log_level_name(level), log_who, (int)getpid(), msg);
    }
    if (len >= cap) { /* truncated: never split a line over two writes */
        len = cap - 4;
        memcpy(line + len, "...", 3);
        len += 3;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
    errno = saved_errno;
    return err;
}

int log_msg(int level, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_msgv(level, err, fmt, ap);
    va_end(ap);
    return err;
}
