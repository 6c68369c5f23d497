/*
 * Fuzz harness: a watch stream from the API server, as the informer consumes it: the NDJSON
 * splitter (common/k8s_lines.c), then each line through k8s_informer_watch_line, the event
 * decoding of common/k8s_informer.c (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR, anything else).
 *
 * Input: byte 0 picks the line limit, byte 1 whether the consumer stops the stream early and
 * whether a strip hook prunes objects, bytes 2-5 seed the chunk sizes; the rest is the stream.
 *
 * The splitter is fed the stream whole, a byte at a time, and in chunks of pseudo-random sizes
 * (each chunk an exact-size copy, so ASan catches a read past it), with a reset between feeds;
 * every feed must yield the lines of the obvious split (at '\n', one trailing '\r' dropped,
 * empty lines skipped) and the same result: -EMSGSIZE exactly when a line, complete or not, is
 * longer than the limit, or the consumer's stop value.
 *
 * The decoder must deliver what the informer promises its caller: ADDED before MODIFIED or
 * DELETED for a key, never the same resourceVersion twice in a row, no managedFields, a name
 * on every object.
 */
#include "common/json.h"
#include "common/k8s.h"
#include "common/k8s_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_STOP 9 /* what the consumer returns to stop the stream */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_line {
    size_t off; /* into the stream */
    size_t len;
} fuzz_line_t;

/* The obvious split, to compare every feed against. */
typedef struct fuzz_model {
    const char *stream;
    fuzz_line_t *lines;
    size_t n;
    int result;
} fuzz_model_t;

typedef struct fuzz_collect {
    const fuzz_model_t *model;
    size_t n;
    size_t max;
    size_t stop_after; /* 0: never */
} fuzz_collect_t;

static size_t fuzz_line_max(uint8_t b)
{
    switch (b % 8) {
    case 4:
        return 1 + b / 8; /* tiny */
    case 5:
        return 4095 + b / 8 % 3; /* around the splitter's first allocation */
    case 6:
        return 5000; /* the doubled allocation clamped to the limit */
    case 7:
        return 64 + b / 8;
    default:
        return K8S_WATCH_LINE_MAX;
    }
}

static int fuzz_model_build(fuzz_model_t *m, const char *s, size_t len, size_t max,
                            size_t stop_after)
{
    size_t start = 0;

    m->stream = s;
    m->n = 0;
    m->result = 0;
    m->lines = malloc((len / 2 + 1) * sizeof *m->lines); /* a line takes two bytes at least */
    if (!m->lines)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        size_t n = i - start; /* the line as sent, '\r' included */
        if (s[i] != '\n')
            continue;
        if (n > max) {
            m->result = -EMSGSIZE;
            return 0;
        }
        if (n > 0 && s[i - 1] == '\r')
            n--;
        if (n > 0) {
            m->lines[m->n].off = start;
            m->lines[m->n++].len = n;
            if (stop_after && m->n == stop_after) {
                m->result = FUZZ_STOP;
                return 0;
            }
        }
        start = i + 1;
    }
    if (len - start > max)
        m->result = -EMSGSIZE;
    return 0;
}

static int fuzz_on_line(void *userdata, const char *line, size_t len)
{
    fuzz_collect_t *c = userdata;
    const fuzz_line_t *want;

    if (c->n >= c->model->n)
        abort(); /* more lines than the stream holds */
    want = &c->model->lines[c->n];
    if (len == 0 || len > c->max || len != want->len ||
        memcmp(line, c->model->stream + want->off, len) != 0 || memchr(line, '\n', len))
        abort();
    c->n++;
    return c->stop_after && c->n == c->stop_after ? FUZZ_STOP : 0;
}

static uint64_t fuzz_rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Chunk sizes of every scale: single bytes, a few bytes, around the 4 KiB allocation. */
static size_t fuzz_chunk_size(uint64_t *rng)
{
    uint64_t v = fuzz_rng_next(rng);

    switch (v % 4) {
    case 0:
        return 1;
    case 1:
        return 1 + (v >> 8) % 8;
    case 2:
        return 1 + (v >> 8) % 200;
    default:
        return 4000 + (v >> 8) % 200;
    }
}

/* Feeds the stream in chunks (chunk 0: whole; else from the rng) and checks the outcome. */
static void fuzz_feed(k8s_lines_t *l, const fuzz_model_t *m, size_t len, size_t chunk,
                      uint64_t seed, size_t stop_after)
{
    fuzz_collect_t c = {m, 0, l->max, stop_after};
    uint64_t rng = seed | 1;
    size_t off = 0;
    int r = 0;

    while (r == 0 && off < len) {
        size_t n = chunk ? chunk : len;
        char *buf;
        if (seed)
            n = fuzz_chunk_size(&rng);
        if (n > len - off)
            n = len - off;
        buf = malloc(n);
        if (!buf)
            return;
        memcpy(buf, m->stream + off, n);
        r = k8s_lines_feed(l, buf, n, fuzz_on_line, &c);
        free(buf);
        off += n;
    }
    if (r != m->result || c.n != m->n)
        abort();
    if (l->len > l->max || (l->len > 0 && memchr(l->buf, '\n', l->len)))
        abort();
}

/* ---- the informer's decoding ---- */

typedef struct fuzz_key {
    char *key;
    char rv[64]; /* "" when too long for the store to compare */
} fuzz_key_t;

typedef struct fuzz_events {
    fuzz_key_t *keys;
    size_t n;
    size_t cap;
    uint64_t delivered;
    bool strip;
} fuzz_events_t;

static struct {
    kubeconfig_t *config;
    k8s_client_t *client;
    k8s_loop_t *loop;
} fuzz_env;

static void fuzz_env_free(void)
{
    fuzz_env.loop = k8s_loop_free(fuzz_env.loop);
    fuzz_env.client = k8s_client_free(fuzz_env.client);
    fuzz_env.config = kubeconfig_free(fuzz_env.config);
}

/* One client and loop for the whole run (a loop snapshots the descriptor table when created);
 * the informer on it is new for every input. No request is ever sent. A setup that fails
 * aborts: the decoding must not be skipped silently. */
static k8s_loop_t *fuzz_env_loop(void)
{
    char path[64];
    errtext_t err;
    FILE *f;

    if (fuzz_env.loop)
        return fuzz_env.loop;
    snprintf(path, sizeof path, "/tmp/ckeda-fuzz-lines-%d.yaml", (int)getpid());
    if (!(f = fopen(path, "we")))
        abort();
    fputs("clusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\n"
          "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
          f);
    fclose(f);
    if (kubeconfig_load(path, NULL, &fuzz_env.config, &err) < 0)
        fuzz_env.config = NULL;
    unlink(path);
    if (!fuzz_env.config || !(fuzz_env.client = k8s_client_new(fuzz_env.config, NULL)) ||
        !(fuzz_env.loop = k8s_loop_new(fuzz_env.client)))
        abort();
    atexit(fuzz_env_free);
    return fuzz_env.loop;
}

static fuzz_key_t *fuzz_key_find(fuzz_events_t *ev, const char *key)
{
    for (size_t i = 0; i < ev->n; i++)
        if (strcmp(ev->keys[i].key, key) == 0)
            return &ev->keys[i];
    return NULL;
}

static void fuzz_strip(cJSON *obj, void *userdata)
{
    static const char *const keep[] = {"metadata.name", "metadata.namespace", "metadata.uid",
                                       "metadata.resourceVersion", "spec"};

    if (((fuzz_events_t *)userdata)->strip && jsonu_prune(obj, keep, 5) < 0)
        abort();
}

/* Checks one delivery against what came before, keyed as the informer keys its store. */
static void fuzz_on_event(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj, bool unknown,
                          void *userdata)
{
    fuzz_events_t *ev = userdata;
    const char *name = NULL, *ns = "", *rv = "";
    char key[253 + 1 + 253 + 1];
    fuzz_key_t *k;

    ev->delivered++;
    if (unknown || jsonu_get_string(obj, "metadata.name", 253, &name, NULL) < 0 || !*name ||
        jsonu_lookup(obj, "metadata.managedFields"))
        abort();
    if (jsonu_get_string(obj, "metadata.namespace", 253, &ns, NULL) < 0)
        ns = "";
    if (jsonu_get_string(obj, "metadata.resourceVersion", 0, &rv, NULL) < 0)
        rv = "";
    snprintf(key, sizeof key, "%s/%s", ns, name);
    k = fuzz_key_find(ev, key);
    if ((type == K8S_EVENT_ADDED) != !k)
        abort(); /* ADDED exactly for a key not delivered before */
    if (type == K8S_EVENT_MODIFIED && *rv && strcmp(k->rv, rv) == 0)
        abort(); /* the same version twice */
    if (type == K8S_EVENT_DELETED) {
        free(k->key);
        *k = ev->keys[--ev->n];
        return;
    }
    if (!k) {
        if (ev->n == ev->cap) {
            size_t cap = ev->cap ? ev->cap * 2 : 16;
            fuzz_key_t *keys = realloc(ev->keys, cap * sizeof *keys);
            if (!keys || !(keys[ev->n].key = strdup(key)))
                abort(); /* out of memory in the harness itself */
            ev->keys = keys;
            ev->cap = cap;
        } else if (!(ev->keys[ev->n].key = strdup(key))) {
            abort();
        }
        k = &ev->keys[ev->n++];
    }
    snprintf(k->rv, sizeof k->rv, "%s", strlen(rv) < sizeof k->rv ? rv : "");
}

static void fuzz_decode(const fuzz_model_t *m, bool strip)
{
    fuzz_events_t ev = {.strip = strip};
    k8s_informer_opts_t opts = {
        .gvr = K8S_GVR_CONFIGMAPS,
        .ops = {.strip = fuzz_strip, .on_event = fuzz_on_event},
        .userdata = &ev,
    };
    k8s_informer_t *inf = k8s_informer_new(fuzz_env_loop(), &opts);
    k8s_informer_stats_t stats;

    if (!inf)
        return;
    for (size_t i = 0; i < m->n; i++) {
        char *line = malloc(m->lines[i].len); /* exact size, as the splitter passes no NUL */
        int r;
        if (!line)
            break;
        memcpy(line, m->stream + m->lines[i].off, m->lines[i].len);
        /* Every line is decoded, also after one that would end the stream: a new watch goes on
         * with the same store. */
        r = k8s_informer_watch_line(inf, line, m->lines[i].len);
        free(line);
        if (r != 0 && r != 1 && r != -EBADMSG && r != -ENOMEM)
            abort();
        if (strnlen(k8s_informer_resource_version(inf), 64) >= 64)
            abort();
    }
    k8s_informer_stats(inf, &stats);
    if (stats.events != ev.delivered)
        abort();
    k8s_informer_free(inf);
    for (size_t i = 0; i < ev.n; i++)
        free(ev.keys[i].key);
    free(ev.keys);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const size_t head = 6;
    const char *stream = (const char *)data + (size < head ? size : head);
    size_t len = size < head ? 0 : size - head;
    size_t max = fuzz_line_max(size > 0 ? data[0] : 0);
    uint8_t ctl = size > 1 ? data[1] : 0;
    size_t stop_after = ctl % 8 == 7 ? 1 + ctl / 8 % 8 : 0;
    uint64_t seed = 0;
    fuzz_model_t m;
    k8s_lines_t l;

    for (size_t i = 2; i < head && i < size; i++)
        seed = seed << 8 | data[i];
    if (fuzz_model_build(&m, stream, len, max, stop_after) < 0)
        return 0;
    k8s_lines_init(&l, max);
    fuzz_feed(&l, &m, len, 0, 0, stop_after);
    k8s_lines_reset(&l);
    fuzz_feed(&l, &m, len, 1, 0, stop_after);
    k8s_lines_reset(&l);
    fuzz_feed(&l, &m, len, 0, seed ^ 0x9e3779b97f4a7c15ULL, stop_after);
    k8s_lines_done(&l);
    fuzz_decode(&m, ctl & 0x40);
    free(m.lines);
    return 0;
}
