/*
 * Unit tests of informers (common/k8s_informer.c, k8s_loop.c) fed with recorded API responses:
 * paginated list pages (tests/data/k8s/list-configmaps-page{1,2}.json), a watch stream
 * (watch-configmaps.ndjson) and a 410 ERROR event (watch-error-gone.ndjson), plus relist
 * diffing, the strip hook, duplicate suppression and frees from inside callbacks. The loop's
 * own tests point it at a closed local port (a refused connection) and at a pipe (extra fds).
 * No API server is needed; the end-to-end suite covers the real one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/json.h"
#include "common/k8s.h"
#include "common/k8s_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_EVENTS 64

typedef struct seen {
    k8s_event_type_t type;
    char name[64];
    char rv[32];
    bool unknown;
    bool managed_fields;
    char *text; /* the object as delivered */
} seen_t;

typedef struct fixture {
    kubeconfig_t *cfg;
    k8s_client_t *client;
    k8s_loop_t *loop;
    k8s_informer_t *inf;
    seen_t events[MAX_EVENTS];
    size_t n;
    int synced;
    int errors;
    int last_error;
    bool free_on_event; /* free the informer from inside on_event */
    bool strip_to_name;
} fixture_t;

static char data_dir[PATH_MAX];

static char *read_data(const char *name, size_t *ret_len)
{
    char path[PATH_MAX * 2];
    char *buf;
    long len;
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", data_dir, name);
    f = fopen(path, "re");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    if (ret_len)
        *ret_len = (size_t)len;
    return buf;
}

static cJSON *read_json(const char *name)
{
    size_t len;
    char *buf = read_data(name, &len);
    cJSON *obj = NULL;

    assert_int_equal(jsonu_parse(buf, len, &obj, NULL), 0);
    free(buf);
    return obj;
}

static void on_event(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj, bool unknown,
                     void *userdata)
{
    fixture_t *f = userdata;
    seen_t *s = &f->events[f->n++];
    const char *v = "";

    assert_true(f->n <= MAX_EVENTS);
    s->type = type;
    s->unknown = unknown;
    (void)jsonu_get_string(obj, "metadata.name", 0, &v, NULL);
    snprintf(s->name, sizeof s->name, "%s", v);
    v = "";
    (void)jsonu_get_string(obj, "metadata.resourceVersion", 0, &v, NULL);
    snprintf(s->rv, sizeof s->rv, "%s", v);
    s->managed_fields = jsonu_lookup(obj, "metadata.managedFields") != NULL;
    s->text = jsonu_print(obj);
    if (f->free_on_event)
        k8s_informer_free(inf);
}

static void on_synced(k8s_informer_t *inf, void *userdata)
{
    ((fixture_t *)userdata)->synced++;
}

static void on_error(k8s_informer_t *inf, int err, const k8s_error_t *detail, void *userdata)
{
    fixture_t *f = userdata;

    f->errors++;
    f->last_error = err;
}

static void strip(cJSON *obj, void *userdata)
{
    static const char *const keep[] = {"metadata.name", "metadata.resourceVersion"};

    if (((fixture_t *)userdata)->strip_to_name)
        assert_int_equal(jsonu_prune(obj, keep, 2), 0);
}

static kubeconfig_t *closed_port_config(void)
{
    char path[] = "/tmp/ckeda-test-kc-XXXXXX";
    kubeconfig_t *cfg = NULL;
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");

    /* Port 1 on loopback: nothing listens, so a connection is refused at once. */
    fputs("clusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\", "
          "insecure-skip-tls-verify: true}}]\n"
          "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
          f);
    fclose(f);
    assert_int_equal(kubeconfig_load(path, NULL, &cfg, NULL), 0);
    unlink(path);
    return cfg;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    k8s_informer_opts_t o = {.gvr = K8S_GVR_CONFIGMAPS,
                             .ns = "default",
                             .label_selector = "app=rec",
                             .ops = {strip, on_event, on_synced, on_error}};

    f->cfg = closed_port_config();
    f->client = k8s_client_new(f->cfg, NULL);
    f->loop = k8s_loop_new(f->client);
    o.userdata = f;
    f->inf = k8s_informer_new(f->loop, &o);
    if (!f->inf)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    for (size_t i = 0; i < f->n; i++)
        cJSON_free(f->events[i].text);
    k8s_loop_free(f->loop);
    k8s_client_free(f->client);
    kubeconfig_free(f->cfg);
    free(f);
    return 0;
}

/* What k8s_informer_start does before a first page. */
static void begin_list(k8s_informer_t *inf)
{
    inf->list_gen++;
    inf->want_list = true;
}

static void feed_page(fixture_t *f, const char *file, bool want_more)
{
    cJSON *page = read_json(file);
    bool more = !want_more;

    assert_int_equal(k8s_informer_list_page(f->inf, page, &more), 0);
    assert_int_equal(more, want_more);
    cJSON_Delete(page);
}

static void feed_stream(fixture_t *f, const char *file, int want)
{
    size_t len;
    char *buf = read_data(file, &len);
    k8s_lines_t l;

    k8s_lines_init(&l, K8S_WATCH_LINE_MAX);
    assert_int_equal(k8s_lines_feed(&l, buf, len, k8s_informer_watch_line, f->inf), want);
    k8s_lines_done(&l);
    free(buf);
}

static void expect(fixture_t *f, size_t i, k8s_event_type_t type, const char *name, const char *rv,
                   bool unknown)
{
    assert_true(i < f->n);
    assert_int_equal(f->events[i].type, type);
    assert_string_equal(f->events[i].name, name);
    if (rv)
        assert_string_equal(f->events[i].rv, rv);
    assert_int_equal(f->events[i].unknown, unknown);
    assert_false(f->events[i].managed_fields);
}

static char *next_url(fixture_t *f, long *ret_timeout_ms)
{
    char *url = NULL;

    assert_int_equal(k8s_informer_url(f->inf, &url, ret_timeout_ms), 0);
    return url;
}

/* Proves the request sequence of client-go's reflector: the first list from the watch cache
 * ("0") with a limit, continue pages without a version, a relist after 410 as a consistent
 * paginated read, a relist after other errors at the last version without a limit (a limit
 * would make it an exact, stale snapshot), and watches with bookmarks and a randomized
 * timeout in [300, 600) s. */
static void test_k8s_informer_url_sequence(void **state)
{
    fixture_t *f = *state;
    const char *base = "https://127.0.0.1:1/api/v1/namespaces/default/configmaps?"
                       "labelSelector=app%3Drec&";
    long timeout = 0;
    char *url, want[512];

    url = next_url(f, &timeout);
    snprintf(want, sizeof want, "%slimit=500&resourceVersion=0", base);
    assert_string_equal(url, want);
    free(url);
    f->inf->continue_token = strdup("tok=");
    url = next_url(f, &timeout);
    snprintf(want, sizeof want, "%slimit=500&continue=tok%%3D", base);
    assert_string_equal(url, want);
    free(url);
    free(f->inf->continue_token);
    f->inf->continue_token = NULL;
    snprintf(f->inf->rv, sizeof f->inf->rv, "331");
    f->inf->list_rv = K8S_LIST_RV_CONSISTENT;
    url = next_url(f, &timeout);
    snprintf(want, sizeof want, "%slimit=500", base);
    assert_string_equal(url, want);
    free(url);
    f->inf->list_rv = K8S_LIST_RV_LAST;
    url = next_url(f, &timeout);
    snprintf(want, sizeof want, "%sresourceVersion=331", base);
    assert_string_equal(url, want);
    free(url);
    f->inf->want_list = false;
    for (int i = 0; i < 50; i++) {
        unsigned t = 0;
        url = next_url(f, &timeout);
        snprintf(want, sizeof want,
                 "%swatch=1&allowWatchBookmarks=true&resourceVersion=331&"
                 "timeoutSeconds=",
                 base);
        assert_true(strncmp(url, want, strlen(want)) == 0);
        t = (unsigned)atoi(url + strlen(want));
        assert_true(t >= 300 && t < 600);
        assert_int_equal(timeout, ((long)t + 30) * 1000);
        free(url);
    }
}

/* Proves a paginated list delivers every item as ADDED, then synced once, and adopts the
 * list's resourceVersion only when the last page arrives. */
static void test_k8s_informer_list_page_paginated(void **state)
{
    fixture_t *f = *state;

    assert_false(k8s_informer_synced(f->inf));
    begin_list(f->inf);
    feed_page(f, "list-configmaps-page1.json", true);
    assert_int_equal(f->n, 2);
    assert_int_equal(f->synced, 0);
    assert_non_null(f->inf->continue_token);
    assert_string_equal(k8s_informer_resource_version(f->inf), "");
    feed_page(f, "list-configmaps-page2.json", false);
    assert_int_equal(f->n, 3);
    expect(f, 0, K8S_EVENT_ADDED, "rec-1", NULL, false);
    expect(f, 1, K8S_EVENT_ADDED, "rec-2", "331", false);
    expect(f, 2, K8S_EVENT_ADDED, "rec-3", NULL, false);
    assert_int_equal(f->synced, 1);
    assert_true(k8s_informer_synced(f->inf));
    assert_string_equal(k8s_informer_resource_version(f->inf), "331");
    assert_null(f->inf->continue_token);
    assert_false(f->inf->want_list);
    assert_int_equal(f->inf->list_rv, K8S_LIST_RV_LAST);
}

/* Proves the recorded watch stream becomes ADDED x3, MODIFIED, DELETED x3, and the bookmark
 * moves the resume point without an event. */
static void test_k8s_informer_watch_line_recorded_stream(void **state)
{
    fixture_t *f = *state;
    cJSON *empty = NULL;
    bool more;

    empty = cJSON_Parse("{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":"
                        "\"327\"},\"items\":[]}");
    assert_non_null(empty);
    begin_list(f->inf);
    assert_int_equal(k8s_informer_list_page(f->inf, empty, &more), 0);
    cJSON_Delete(empty);
    feed_stream(f, "watch-configmaps.ndjson", 0);
    assert_int_equal(f->n, 7);
    expect(f, 0, K8S_EVENT_ADDED, "rec-1", "328", false);
    expect(f, 2, K8S_EVENT_ADDED, "rec-3", "330", false);
    expect(f, 3, K8S_EVENT_MODIFIED, "rec-2", "331", false);
    expect(f, 4, K8S_EVENT_DELETED, "rec-1", "332", false);
    expect(f, 6, K8S_EVENT_DELETED, "rec-3", "334", false);
    assert_string_equal(k8s_informer_resource_version(f->inf), "334");
    assert_int_equal(f->inf->store.count, 0);
    assert_int_equal(f->inf->watch_events, 8);
}

/* Proves a repeated event is delivered once and an unknown key's DELETED not at all. */
static void test_k8s_informer_watch_line_duplicates(void **state)
{
    fixture_t *f = *state;
    static const char added[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\","
                                "\"namespace\":\"d\",\"resourceVersion\":\"5\"}}}";
    static const char gone[] = "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"z\","
                               "\"namespace\":\"d\",\"resourceVersion\":\"6\"}}}";

    assert_int_equal(k8s_informer_watch_line(f->inf, added, strlen(added)), 0);
    assert_int_equal(k8s_informer_watch_line(f->inf, added, strlen(added)), 0);
    assert_int_equal(k8s_informer_watch_line(f->inf, gone, strlen(gone)), 0);
    assert_int_equal(f->n, 1);
    assert_string_equal(k8s_informer_resource_version(f->inf), "6");
}

/* Proves a relist reports only the differences: changed objects as MODIFIED, new ones as
 * ADDED, a re-created one (new uid) as DELETED then ADDED, and vanished ones as DELETED with
 * final_state_unknown. */
static void test_k8s_informer_list_page_relist_diff(void **state)
{
    fixture_t *f = *state;
    cJSON *p1 = read_json("list-configmaps-page1.json");
    cJSON *p2 = read_json("list-configmaps-page2.json");
    cJSON *items1 = cJSON_GetObjectItem(p1, "items"), *rec3;
    bool more;

    begin_list(f->inf);
    feed_page(f, "list-configmaps-page1.json", true);
    feed_page(f, "list-configmaps-page2.json", false);
    for (size_t i = 0; i < f->n; i++)
        cJSON_free(f->events[i].text);
    f->n = 0;
    /* The second list, in one page: rec-1 gone, rec-2 changed, rec-3 re-created, rec-4 new. */
    cJSON_DeleteItemFromObject(p1, "metadata");
    cJSON_AddItemToObject(p1, "metadata", cJSON_Parse("{\"resourceVersion\":\"400\"}"));
    cJSON_DeleteItemFromArray(items1, 0);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cJSON_GetArrayItem(items1, 0), "metadata"),
                              "resourceVersion", cJSON_CreateString("390"));
    rec3 = cJSON_DetachItemFromArray(cJSON_GetObjectItem(p2, "items"), 0);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(rec3, "metadata"), "uid",
                              cJSON_CreateString("another-uid"));
    cJSON_AddItemToArray(items1, rec3);
    cJSON_AddItemToArray(items1, cJSON_Parse("{\"metadata\":{\"name\":\"rec-4\",\"namespace\":"
                                             "\"default\",\"uid\":\"u4\",\"resourceVersion\":"
                                             "\"395\"}}"));
    begin_list(f->inf);
    assert_int_equal(k8s_informer_list_page(f->inf, p1, &more), 0);
    assert_false(more);
    assert_int_equal(f->n, 5);
    expect(f, 0, K8S_EVENT_MODIFIED, "rec-2", "390", false);
    expect(f, 1, K8S_EVENT_DELETED, "rec-3", NULL, true);
    expect(f, 2, K8S_EVENT_ADDED, "rec-3", NULL, false);
    expect(f, 3, K8S_EVENT_ADDED, "rec-4", "395", false);
    expect(f, 4, K8S_EVENT_DELETED, "rec-1", NULL, true);
    assert_non_null(strstr(f->events[4].text, "\"namespace\":\"default\""));
    assert_non_null(strstr(f->events[4].text, "\"uid\":"));
    assert_int_equal(f->synced, 2);
    assert_string_equal(k8s_informer_resource_version(f->inf), "400");
    cJSON_Delete(p1);
    cJSON_Delete(p2);
}

/* Proves managedFields is always dropped and the strip hook trims what the caller gets. */
static void test_k8s_informer_strip_hook(void **state)
{
    fixture_t *f = *state;

    f->strip_to_name = true;
    begin_list(f->inf);
    feed_page(f, "list-configmaps-page1.json", true);
    assert_int_equal(f->n, 2);
    assert_string_equal(f->events[0].text,
                        "{\"metadata\":{\"name\":\"rec-1\",\"resourceVersion\":\"328\"}}");
}

/* Proves an ERROR event with 410 stops the stream and relists at once with a consistent
 * read, without reporting an error. */
static void test_k8s_informer_watch_error_gone(void **state)
{
    fixture_t *f = *state;
    int64_t now = k8s_now_ns();

    f->inf->state = K8S_INF_WATCHING;
    f->inf->want_list = false;
    f->inf->watch_start_ns = now;
    feed_stream(f, "watch-error-gone.ndjson", 1);
    assert_true(f->inf->abort_gone);
    f->inf->xfer.line_error = 1;
    k8s_informer_finish(f->inf, CURLE_WRITE_ERROR, now);
    assert_int_equal(f->inf->state, K8S_INF_IDLE);
    assert_true(f->inf->want_list);
    assert_int_equal(f->inf->list_rv, K8S_LIST_RV_CONSISTENT);
    assert_int_equal(f->inf->next_ns, now);
    assert_int_equal(f->inf->stats.relists_gone, 1);
    assert_int_equal(f->errors, 0);
    assert_false(f->inf->abort_gone);
}

/* Proves any other ERROR event is reported and relists after a backoff. */
static void test_k8s_informer_watch_error_other(void **state)
{
    fixture_t *f = *state;
    static const char ev[] = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"status\":"
                             "\"Failure\",\"message\":\"etcd down\",\"reason\":"
                             "\"InternalError\",\"code\":500}}";
    int64_t now = k8s_now_ns();

    f->inf->state = K8S_INF_WATCHING;
    f->inf->want_list = false;
    assert_int_equal(k8s_informer_watch_line(f->inf, ev, strlen(ev)), 1);
    assert_int_equal(f->errors, 1);
    assert_int_equal(f->last_error, -EIO);
    f->inf->xfer.line_error = 1;
    k8s_informer_finish(f->inf, CURLE_WRITE_ERROR, now);
    assert_true(f->inf->want_list);
    assert_int_equal(f->inf->list_rv, K8S_LIST_RV_ANY);
    assert_true(f->inf->next_ns >= now + 500 * K8S_NS_PER_MS);
    assert_true(f->inf->next_ns <= now + 1000 * K8S_NS_PER_MS);
}

/* Proves malformed events and a list without a version are refused. */
static void test_k8s_informer_malformed_input(void **state)
{
    fixture_t *f = *state;
    cJSON *list = cJSON_Parse("{\"items\":[]}");
    bool more;

    assert_int_equal(k8s_informer_watch_line(f->inf, "{not json", 9), -EBADMSG);
    assert_int_equal(k8s_informer_watch_line(f->inf, "{\"type\":\"ADDED\"}", 16), -EBADMSG);
    assert_int_equal(
        k8s_informer_watch_line(f->inf, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}", 40),
        -EBADMSG);
    assert_int_equal(k8s_informer_watch_line(f->inf, "{\"type\":\"FUTURE\",\"object\":{}}", 29), 0);
    begin_list(f->inf);
    assert_int_equal(k8s_informer_list_page(f->inf, list, &more), -EBADMSG);
    assert_int_equal(f->n, 0);
    cJSON_Delete(list);
}

/* Proves an informer freed from its own callback receives nothing more and is reaped. */
static void test_k8s_informer_free_from_callback(void **state)
{
    fixture_t *f = *state;

    f->free_on_event = true;
    f->loop->dispatching = true; /* as inside k8s_loop_run_once */
    begin_list(f->inf);
    feed_page(f, "list-configmaps-page1.json", true);
    assert_int_equal(f->n, 1);
    assert_true(f->inf->dead);
    f->loop->dispatching = false;
    /* the loop reaps it on its next turn; the loop's free covers it too */
    assert_int_equal(k8s_loop_run_once(f->loop, NULL, 0, 0), 0);
    assert_null(f->loop->informers);
}

/* Proves the loop reports a refused connection through on_error and backs off, and that
 * run_once returns within its timeout. */
static void test_k8s_loop_run_once_connection_refused(void **state)
{
    fixture_t *f = *state;
    int64_t deadline = k8s_now_ns() + 10 * K8S_NS_PER_S;

    while (f->errors == 0 && k8s_now_ns() < deadline)
        assert_int_equal(k8s_loop_run_once(f->loop, NULL, 0, 100), 0);
    assert_int_equal(f->errors, 1);
    assert_int_equal(f->last_error, -ECONNREFUSED);
    assert_int_equal(f->inf->state, K8S_INF_IDLE);
    assert_true(f->inf->next_ns > k8s_now_ns());
    assert_false(k8s_informer_synced(f->inf));
    k8s_informer_stats_t st;
    k8s_informer_stats(f->inf, &st);
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.lists, 0);
}

/* Proves run_once returns early when a caller's fd becomes readable, with revents set, and
 * that k8s_loop_wakeup interrupts a wait. */
static void test_k8s_loop_run_once_extra_fd(void **state)
{
    fixture_t *f = *state;
    int p[2];
    struct pollfd pfd;
    int64_t t0;

    f->inf = k8s_informer_free(f->inf);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pfd = (struct pollfd){.fd = p[0], .events = POLLIN};
    t0 = k8s_now_ns();
    assert_int_equal(k8s_loop_run_once(f->loop, &pfd, 1, 50), 0);
    assert_int_equal(pfd.revents, 0);
    assert_true(k8s_now_ns() - t0 >= 40 * K8S_NS_PER_MS);
    assert_int_equal(write(p[1], "x", 1), 1);
    t0 = k8s_now_ns();
    assert_int_equal(k8s_loop_run_once(f->loop, &pfd, 1, 5000), 0);
    assert_true(pfd.revents & POLLIN);
    assert_true(k8s_now_ns() - t0 < 2 * K8S_NS_PER_S);
    assert_int_equal(k8s_loop_wakeup(f->loop), 0);
    t0 = k8s_now_ns();
    assert_int_equal(k8s_loop_run_once(f->loop, NULL, 0, 5000), 0);
    assert_true(k8s_now_ns() - t0 < 2 * K8S_NS_PER_S);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const char *base = getenv("CKEDA_TEST_DATA");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_k8s_informer_url_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_informer_list_page_paginated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_informer_watch_line_recorded_stream, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_k8s_informer_watch_line_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_informer_list_page_relist_diff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_informer_strip_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_informer_watch_error_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_informer_watch_error_other, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_informer_malformed_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_informer_free_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_loop_run_once_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_loop_run_once_extra_fd, setup, teardown),
    };

    if (!base) {
        fprintf(stderr, "CKEDA_TEST_DATA is not set\n");
        return 1;
    }
    snprintf(data_dir, sizeof data_dir, "%s/k8s", base);
    return cmocka_run_group_tests_name("k8s_informer", tests, NULL, NULL);
}
