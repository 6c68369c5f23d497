/*
 * httpd_internal: what httpd_server.c and httpd_conn.c share. Private to common/httpd*.c.
 */
#ifndef CKEDA_COMMON_HTTPD_INTERNAL_H
#define CKEDA_COMMON_HTTPD_INTERNAL_H

#include "common/httpd.h"

#define HTTPD_ACCEPTS_PER_WAKEUP 32
#define HTTPD_WATCH_MAX          8

/* What an epoll event belongs to: the first member of each registered object. */
typedef enum { HTTPD_EV_LISTENER, HTTPD_EV_CONN, HTTPD_EV_WATCH } httpd_ev_t;

typedef enum {
    HTTPD_T_HEADER,
    HTTPD_T_IDLE,
    HTTPD_T_WRITE,
    HTTPD_T_WAIT,
    HTTPD_T_COUNT,
    HTTPD_T_NONE
} httpd_timer_t;

typedef struct httpd_timer_list {
    httpd_conn_t *head, *tail;
} httpd_timer_list_t;

typedef struct httpd_listener {
    httpd_ev_t ev; /* HTTPD_EV_LISTENER */
    httpd_listen_t cfg;
    bool armed;
} httpd_listener_t;

typedef struct httpd_watch {
    httpd_ev_t ev; /* HTTPD_EV_WATCH */
    int fd;
    bool (*fn)(void *arg, uint64_t now_ms);
    void *arg;
    bool keep_in_drain;
} httpd_watch_t;

struct httpd_server {
    httpd_config_t cfg;
    int epfd;
    httpd_listener_t listeners[HTTPD_LISTENERS_MAX];
    httpd_watch_t watches[HTTPD_WATCH_MAX];
    unsigned nwatches;
    httpd_timer_list_t timers[HTTPD_T_COUNT];
    uint32_t timeouts[HTTPD_T_COUNT];
    unsigned nconns;
    bool stopping;
    uint64_t requests;
};

void httpd_conn_accept(httpd_server_t *s, httpd_listener_t *l, int fd);
void httpd_conn_event(httpd_conn_t *c, uint32_t events);
/* The timer of c's current state expired. */
void httpd_conn_expire(httpd_conn_t *c);
void httpd_conn_close(httpd_conn_t *c);
/* Oldest connection of a timer list, its deadline. */
httpd_conn_t *httpd_timer_first(httpd_server_t *s, httpd_timer_t t, uint64_t *ret_deadline);
/* Closes every connection that is not in the middle of a request (shutdown). */
void httpd_conn_close_idle(httpd_server_t *s);

#endif
