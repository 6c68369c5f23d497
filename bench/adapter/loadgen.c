/*
 * bench_adapter_load: an HTTPS/1.1 keep-alive load generator that presents a client
 * certificate (wrk cannot), for bench/adapter/bench_vs_nginx.py. Benchmark only, run by hand.
 *
 * One thread, epoll, OpenSSL. C connections are opened and handshaken (blocking) before the
 * clock starts, then switched to non-blocking; each carries at most one request at a time (no
 * pipelining, as the HPA's aggregator does).
 *
 *   saturation (default)  every connection sends its next request as soon as its response is
 *                         in: the server's throughput with C requests always outstanding.
 *   --rate R              a fixed schedule of R requests/s (a periodic timerfd). Request k is
 *                         due at start + k/R; it goes out on an idle connection, or waits in a
 *                         queue when none is idle. Its latency is measured from the due time,
 *                         not from when it went out, so a stalled server is charged for the
 *                         requests it delayed (coordinated omission).
 *
 * Requests completed in the warm-up (-w) are not counted. Over the measured window (-d) it
 * reads utime+stime of every --pids process from /proc/<pid>/stat (a thread group leader's
 * figures sum all its threads) and prints one JSON line: requests, errors, req/s, latency
 * percentiles, server CPU seconds, CPU microseconds per request and cores busy, this client's
 * own cores busy (it shares the machine), and the first response's size. --dump sends one request
 * and prints the raw response instead.
 *
 *   bench_adapter_load --port P --cert C --key K (--path P | --paths FILE) [--host H]
 *       [--header 'Name: value']... [-c CONNS] [-d SECS] [-w SECS] [--rate R]
 *       [--pids A,B,...] [--tls12] [--dump]
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_PIDS 16
#define MAX_HDRS 16
#define REQ_MAX  8192

typedef struct {
    int fd;
    SSL *ssl;
    bool busy;       /* a request is out, its response not fully in */
    bool want_out;   /* a write waits for EPOLLOUT */
    size_t req_off;  /* bytes of the current request already written */
    const char *req; /* the current request */
    size_t req_len;
    uint64_t due_ns;    /* latency is measured from here */
    char buf[BUF_SIZE]; /* response bytes read so far */
    size_t len;
} lg_conn_t;

typedef struct {
    uint64_t *v;
    size_t n, cap;
} lg_samples_t;

static struct {
    const char *host, *cert, *key, *path, *paths_file;
    const char *headers[MAX_HDRS];
    int nheaders, conns, port;
    double secs, warm, rate;
    int pids[MAX_PIDS], npids;
    bool tls12, dump;
} opt = {.host = "127.0.0.1", .conns = 16, .secs = 10, .warm = 2};

/* Every request, prebuilt: one per path, sent round-robin. */
static char **reqs;
static size_t *req_lens, nreqs, next_req;

static int ep;
static lg_samples_t lat;
static uint64_t completed, errors, win_start, win_end;
static long resp_bytes = -1, body_bytes = -1;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    fprintf(stderr, "bench_adapter_load: %s%s%s%s%s\n", what, errno ? ": " : "",
            errno ? strerror(errno) : "", e ? ": " : "", buf);
    exit(2);
}

static void samples_add(lg_samples_t *s, uint64_t v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        if (!(s->v = realloc(s->v, s->cap * sizeof *s->v)))
            die("out of memory");
    }
    s->v[s->n++] = v;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(const lg_samples_t *s, double q)
{
    size_t i = (size_t)(q * (double)s->n);
    if (!s->n)
        return 0;
    return (double)s->v[i < s->n ? i : s->n - 1] / 1e3;
}

/* utime+stime of the --pids processes, in seconds. */
static double server_cpu(void)
{
    double ticks = 0;
    for (int i = 0; i < opt.npids; i++) {
        char path[64], line[2048], *p;
        unsigned long ut = 0, st = 0;
        FILE *f;
        snprintf(path, sizeof path, "/proc/%d/stat", opt.pids[i]);
        if (!(f = fopen(path, "re")))
            die("cannot read a server's /proc/<pid>/stat");
        p = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
        fclose(f);
        /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
         * stime */
        if (!p ||
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
            die("cannot parse /proc/<pid>/stat");
        ticks += (double)(ut + st);
    }
    return ticks / (double)sysconf(_SC_CLK_TCK);
}

/* This process's CPU seconds. */
static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void build_requests(void)
{
    char line[4096];
    FILE *f = NULL;
    size_t cap = 0;

    if (opt.paths_file && !(f = fopen(opt.paths_file, "re")))
        die("cannot open --paths");
    for (;;) {
        const char *path = opt.path;
        char *r;
        int n;
        if (f) {
            if (!fgets(line, sizeof line, f))
                break;
            line[strcspn(line, "\r\n")] = '\0';
            if (!line[0])
                continue;
            path = line;
        } else if (nreqs) {
            break;
        }
        if (!(r = malloc(REQ_MAX)))
            die("out of memory");
        n = snprintf(r, REQ_MAX, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n", path, opt.host, opt.port);
        for (int i = 0; i < opt.nheaders && n < REQ_MAX; i++)
            n += snprintf(r + n, REQ_MAX - (size_t)n, "%s\r\n", opt.headers[i]);
        if (n < REQ_MAX)
            n += snprintf(r + n, REQ_MAX - (size_t)n, "\r\n");
        if (n >= REQ_MAX)
            die("request too long");
        if (nreqs == cap) {
            cap = cap ? cap * 2 : 64;
            reqs = realloc(reqs, cap * sizeof *reqs);
            req_lens = realloc(req_lens, cap * sizeof *req_lens);
            if (!reqs || !req_lens)
                die("out of memory");
        }
        reqs[nreqs] = r;
        req_lens[nreqs++] = (size_t)n;
    }
    if (f)
        fclose(f);
    if (!nreqs)
        die("no path to request");
}

static SSL_CTX *client_ctx(void)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, opt.cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, opt.key, SSL_FILETYPE_PEM) != 1)
        die("cannot load the client certificate and key");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (opt.tls12)
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE,
                       NULL); /* the server is ours; its cost is not measured */
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
    return ctx;
}

static void conn_open(SSL_CTX *ctx, lg_conn_t *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    int one = 1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1)
        die("--host must be an IPv4 address");
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ssl = SSL_new(ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1)
        die("TLS handshake");
    if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll");
}

static void conn_events(lg_conn_t *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl");
}

static void conn_flush(lg_conn_t *c)
{
    while (c->req_off < c->req_len) {
        int n = SSL_write(c->ssl, c->req + c->req_off, (int)(c->req_len - c->req_off));
        if (n > 0) {
            c->req_off += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            if (!c->want_out)
                conn_events(c, EPOLLIN | EPOLLOUT);
            c->want_out = true;
            return;
        }
        die("SSL_write");
    }
    if (c->want_out)
        conn_events(c, EPOLLIN);
    c->want_out = false;
}

static void conn_send(lg_conn_t *c, uint64_t due)
{
    size_t i = next_req++ % nreqs;
    c->req = reqs[i];
    c->req_len = req_lens[i];
    c->req_off = 0;
    c->due_ns = due;
    c->busy = true;
    c->len = 0;
    conn_flush(c);
}

/* A whole response in c->buf: its size, or 0 while incomplete. */
static size_t response_size(lg_conn_t *c, int *ret_status, size_t *ret_body)
{
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4), *p;
    size_t hdr, cl = 0;

    if (!end)
        return 0;
    hdr = (size_t)(end - c->buf) + 4;
    *end = '\0';
    for (p = c->buf; (p = strchr(p, '\n'));)
        if (strncasecmp(++p, "Content-Length:", 15) == 0)
            cl = strtoul(p + 15, NULL, 10);
    *end = '\r';
    if (c->len < hdr + cl)
        return 0;
    *ret_status = atoi(c->buf + 9);
    *ret_body = cl;
    return hdr + cl;
}

/* Read what is there; true when a response completed. */
static bool conn_read(lg_conn_t *c)
{
    for (;;) {
        if (c->len == BUF_SIZE)
            die("response larger than the buffer");
        int n = SSL_read(c->ssl, c->buf + c->len, (int)(BUF_SIZE - c->len));
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        die("the server closed a connection (or SSL_read failed)");
    }
    if (!c->busy)
        return false;
    int status = 0;
    size_t body = 0, size = response_size(c, &status, &body);
    if (!size)
        return false;
    if (resp_bytes < 0) {
        resp_bytes = (long)size;
        body_bytes = (long)body;
        if (opt.dump)
            fwrite(c->buf, 1, size, stdout);
    }
    uint64_t t = now_ns();
    if (status != 200)
        errors++;
    else if (c->due_ns >= win_start &&
             (opt.rate > 0 ? c->due_ns < win_end : t <= win_end)) { /* rate: every due one */
        completed++;
        samples_add(&lat, t - c->due_ns);
    }
    c->len -= size;
    c->busy = false;
    return true;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (strcmp(a, "--tls12") == 0)
            opt.tls12 = true, takes = false;
        else if (strcmp(a, "--dump") == 0)
            opt.dump = true, takes = false;
        else if (!v)
            die("an option lacks its value");
        else if (strcmp(a, "--host") == 0)
            opt.host = v;
        else if (strcmp(a, "--port") == 0)
            opt.port = atoi(v);
        else if (strcmp(a, "--cert") == 0)
            opt.cert = v;
        else if (strcmp(a, "--key") == 0)
            opt.key = v;
        else if (strcmp(a, "--path") == 0)
            opt.path = v;
        else if (strcmp(a, "--paths") == 0)
            opt.paths_file = v;
        else if (strcmp(a, "--header") == 0 && opt.nheaders < MAX_HDRS)
            opt.headers[opt.nheaders++] = v;
        else if (strcmp(a, "-c") == 0)
            opt.conns = atoi(v);
        else if (strcmp(a, "-d") == 0)
            opt.secs = atof(v);
        else if (strcmp(a, "-w") == 0)
            opt.warm = atof(v);
        else if (strcmp(a, "--rate") == 0)
            opt.rate = atof(v);
        else if (strcmp(a, "--pids") == 0) {
            char *dup = strdup(v), *save = NULL;
            for (char *t = strtok_r(dup, ",", &save); t && opt.npids < MAX_PIDS;
                 t = strtok_r(NULL, ",", &save))
                opt.pids[opt.npids++] = atoi(t);
            free(dup);
        } else
            die("unknown option (see the header of loadgen.c)");
        i += takes;
    }
    if (opt.port <= 0 || !opt.cert || !opt.key || (!opt.path && !opt.paths_file) || opt.conns < 1 ||
        opt.secs <= 0 || opt.warm < 0 || opt.rate < 0)
        die("usage: --port P --cert C --key K (--path P | --paths FILE) [see loadgen.c]");
    if (opt.dump)
        opt.conns = 1;
}

/* Due times of scheduled requests not yet sent (fixed-rate mode): a ring. */
static uint64_t *queue;
static size_t q_head, q_len, q_cap;

static void queue_push(uint64_t due)
{
    if (q_len == q_cap) {
        size_t cap = q_cap ? q_cap * 2 : 4096;
        uint64_t *q = malloc(cap * sizeof *q);
        if (!q)
            die("out of memory");
        for (size_t i = 0; i < q_len; i++)
            q[i] = queue[(q_head + i) % q_cap];
        free(queue);
        queue = q, q_head = 0, q_cap = cap;
    }
    queue[(q_head + q_len++) % q_cap] = due;
}

static uint64_t queue_pop(void)
{
    uint64_t due = queue[q_head];
    q_head = (q_head + 1) % q_cap;
    q_len--;
    return due;
}

static void print_result(double cpu, double client_cpu, double wall, uint64_t dropped)
{
    qsort(lat.v, lat.n, sizeof *lat.v, cmp_u64);
    printf("{\"mode\": \"%s\", \"conns\": %d, \"rate\": %.0f, \"secs\": %.3f, \"requests\": %llu, "
           "\"errors\": %llu, \"unfinished\": %llu, \"rps\": %.1f, \"p50_us\": %.1f, "
           "\"p90_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f, "
           "\"server_cpu_s\": %.3f, \"cpu_us_per_req\": %.2f, \"server_cores\": %.3f, "
           "\"client_cores\": %.3f, \"resp_bytes\": %ld, \"body_bytes\": %ld}\n",
           opt.rate > 0 ? "rate" : "saturation", opt.conns, opt.rate, wall,
           (unsigned long long)completed, (unsigned long long)errors, (unsigned long long)dropped,
           (double)completed / wall, pct_us(&lat, 0.5), pct_us(&lat, 0.9), pct_us(&lat, 0.99),
           pct_us(&lat, 0.999), lat.n ? (double)lat.v[lat.n - 1] / 1e3 : 0.0, cpu,
           completed ? cpu * 1e6 / (double)completed : 0.0, cpu / wall, client_cpu / wall,
           resp_bytes, body_bytes);
}

int main(int argc, char **argv)
{
    lg_conn_t *conns;
    SSL_CTX *ctx;
    int tfd = -1;
    uint64_t start, interval = 0, ticks_done = 0, unfinished = 0;
    double cpu0 = 0, cpu1 = 0, self0 = 0, self1 = 0;
    bool in_window = false;

    parse_args(argc, argv);
    build_requests();
    if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || !(ctx = client_ctx()))
        die("setup");
    if (!(conns = calloc((size_t)opt.conns, sizeof *conns)))
        die("out of memory");
    for (int i = 0; i < opt.conns; i++)
        conn_open(ctx, &conns[i]);

    start = now_ns();
    win_start = start + (uint64_t)(opt.warm * 1e9);
    win_end = win_start + (uint64_t)(opt.secs * 1e9);
    if (opt.dump) {
        win_start = start, win_end = UINT64_MAX;
        conn_send(&conns[0], start);
    } else if (opt.rate > 0) {
        struct itimerspec its = {0};
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        interval = (uint64_t)(1e9 / opt.rate);
        its.it_interval.tv_sec = (time_t)(interval / 1000000000u);
        its.it_interval.tv_nsec = (long)(interval % 1000000000u);
        its.it_value = its.it_interval;
        if ((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) < 0 ||
            timerfd_settime(tfd, 0, &its, NULL) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) < 0)
            die("timerfd");
    } else {
        for (int i = 0; i < opt.conns; i++)
            conn_send(&conns[i], start);
    }

    for (;;) {
        struct epoll_event evs[256];
        uint64_t t = now_ns();
        int n;

        if (!in_window && t >= win_start && !opt.dump) {
            in_window = true;
            cpu0 = server_cpu();
            self0 = self_cpu();
        }
        if (t >= win_end) {
            if (cpu1 == 0) {
                cpu1 = server_cpu();
                self1 = self_cpu();
            }
            if (opt.rate <= 0)
                break;
            /* fixed rate: stop scheduling, let the due requests finish (2 s at most) */
            bool idle = q_len == 0;
            for (int i = 0; i < opt.conns && idle; i++)
                idle = !conns[i].busy;
            if (idle || t >= win_end + 2000000000u) {
                unfinished = q_len;
                for (int i = 0; i < opt.conns; i++)
                    unfinished += conns[i].busy;
                break;
            }
        }
        n = epoll_wait(ep, evs, 256, 10);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            lg_conn_t *c = evs[i].data.ptr;
            if (!c) { /* the schedule's timer: the requests now due */
                uint64_t exp = 0;
                if (read(tfd, &exp, sizeof exp) == sizeof exp && now_ns() < win_end)
                    for (uint64_t k = 0; k < exp; k++)
                        queue_push(start + (++ticks_done) * interval);
                continue;
            }
            if (evs[i].events & EPOLLOUT)
                conn_flush(c);
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP) && conn_read(c)) {
                if (opt.dump)
                    return errors ? 1 : 0;
                if (opt.rate <= 0)
                    conn_send(c, now_ns());
            }
        }
        for (int i = 0; i < opt.conns && q_len; i++)
            if (!conns[i].busy)
                conn_send(&conns[i], queue_pop());
    }
    print_result(cpu1 - cpu0, self1 - self0, (double)(win_end - win_start) / 1e9, unfinished);
    return 0;
}
