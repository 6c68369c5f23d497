/*
 * k8sclient_tool: a test-only command line over common/k8s, so the end-to-end suite
 * (tests/e2e/test_k8s_client.py) can drive the real client against a real kube-apiserver.
 * Never installed.
 *
 *   k8sclient_tool [--kubeconfig F | --incluster DIR] [--context C] [--qps Q] [--burst B]
 *                  COMMAND ...
 *     get      GVR NS NAME [SUB]          GET one object (SUB: scale, status)
 *     list     GVR NS [LIMIT [SELECTOR]]  every page; prints {"items", "resourceVersion"}
 *     create   GVR NS [NAME SUB]          POST the JSON object read from stdin (to a collection,
 *                                         or to a subresource such as serviceaccounts/x/token)
 *     update   GVR NS NAME [SUB]          PUT the JSON object read from stdin
 *     patch    GVR NS NAME merge|json PATCH [SUB]
 *     delete   GVR NS NAME
 *     resolve  APIVERSION KIND            discovery: resource, namespaced, has_scale
 *     watch    GVR NS [--selector S] [--resume-from RV] [--get-in-callback]
 *     raw      PATH                       GET a raw path (/version)
 *
 * --incluster DIR uses the in-cluster service account with DIR in place of
 * /var/run/secrets/kubernetes.io/serviceaccount (KUBERNETES_SERVICE_HOST/_PORT from the
 * environment).
 *
 * GVR is "group/version/resource", or "version/resource" for the core group; NS "-" means
 * none. One JSON document per line on stdout. A failure prints {"error": "ENOENT", "errno",
 * "status", "reason", "message"} and exits 1; usage errors exit 2.
 *
 * watch prints {"event": "ADDED"|"MODIFIED"|"DELETED", "namespace", "name", "uid",
 * "resourceVersion", "final_state_unknown", "object"}, {"synced": true, ...stats},
 * {"informer_error": ...}. It reads commands from stdin (one per line) through the loop's
 * extra-fd hook: "relist", "stats", "quit"; EOF also quits. --resume-from skips the first list
 * and watches from RV (to provoke 410 Gone); --get-in-callback GETs each ADDED object
 * synchronously from inside the callback.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/k8s.h"
#include "common/k8s_internal.h"
#include "common/kubeconfig.h"

typedef struct tool {
    kubeconfig_t *cfg;
    k8s_client_t *client;
    bool get_in_callback;
    char gvr_buf[512];
    k8s_gvr_t gvr;
} tool_t;

static const char *tool_errno_name(int r)
{
    static const struct {
        int e;
        const char *n;
    } names[] = {{ENOENT, "ENOENT"},
                 {EEXIST, "EEXIST"},
                 {ESTALE, "ESTALE"},
                 {EACCES, "EACCES"},
                 {ENODATA, "ENODATA"},
                 {EINVAL, "EINVAL"},
                 {EOPNOTSUPP, "EOPNOTSUPP"},
                 {E2BIG, "E2BIG"},
                 {EAGAIN, "EAGAIN"},
                 {ETIMEDOUT, "ETIMEDOUT"},
                 {EIO, "EIO"},
                 {EMSGSIZE, "EMSGSIZE"},
                 {EBADMSG, "EBADMSG"},
                 {ECONNREFUSED, "ECONNREFUSED"},
                 {EHOSTUNREACH, "EHOSTUNREACH"},
                 {EPROTO, "EPROTO"},
                 {ENOMEM, "ENOMEM"},
                 {ECONNRESET, "ECONNRESET"},
                 {EPIPE, "EPIPE"}};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].e == -r)
            return names[i].n;
    return "E?";
}

static void tool_print(cJSON *obj)
{
    char *s = jsonu_print(obj);

    if (s) {
        printf("%s\n", s);
        fflush(stdout);
    }
    free(s);
}

static int tool_fail(int r, const k8s_error_t *err)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "error", tool_errno_name(r));
    cJSON_AddNumberToObject(o, "errno", r);
    cJSON_AddNumberToObject(o, "status", err ? (double)err->status : 0);
    cJSON_AddStringToObject(o, "reason", err ? err->reason : "");
    cJSON_AddStringToObject(o, "message", err ? err->message : "");
    tool_print(o);
    cJSON_Delete(o);
    return 1;
}

/* "apps/v1/deployments" or "v1/configmaps". */
static int tool_gvr(tool_t *t, const char *s)
{
    char *parts[3] = {NULL, NULL, NULL};
    size_t n = 0;

    snprintf(t->gvr_buf, sizeof t->gvr_buf, "%s", s);
    for (char *p = t->gvr_buf, *tok; n < 3 && (tok = strsep(&p, "/"));)
        parts[n++] = tok;
    if (n == 3)
        t->gvr = (k8s_gvr_t){parts[0], parts[1], parts[2]};
    else if (n == 2)
        t->gvr = (k8s_gvr_t){"", parts[0], parts[1]};
    else
        return -EINVAL;
    return 0;
}

static const char *tool_ns(const char *s)
{
    return strcmp(s, "-") == 0 ? NULL : s;
}

static cJSON *tool_read_stdin(void)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cJSON *obj = NULL;

    for (;;) {
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap = cap * 2 + 8192);
            if (!nb)
                break;
            buf = nb;
        }
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (buf)
        (void)jsonu_parse(buf, len, &obj, NULL);
    free(buf);
    return obj;
}

static int tool_result(int r, cJSON *obj, const k8s_error_t *err)
{
    if (r < 0)
        return tool_fail(r, err);
    if (obj)
        tool_print(obj);
    cJSON_Delete(obj);
    return 0;
}

static int tool_list_item(cJSON *item, void *userdata)
{
    cJSON_AddItemToArray(userdata, cJSON_Duplicate(item, true));
    return 0;
}

static int tool_list(tool_t *t, int argc, char **argv)
{
    k8s_ref_t ref = {t->gvr, tool_ns(argv[0]), NULL, NULL};
    k8s_list_opts_t o = {.limit = argc > 1 ? (unsigned)atoi(argv[1]) : 0,
                         .label_selector = argc > 2 ? argv[2] : NULL};
    cJSON *out = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(out, "items");
    char rv[64];
    k8s_error_t err;
    int r = k8s_list_all(t->client, &ref, &o, tool_list_item, items, rv, sizeof rv, &err);

    if (r < 0) {
        cJSON_Delete(out);
        return tool_fail(r, &err);
    }
    cJSON_AddStringToObject(out, "resourceVersion", rv);
    return tool_result(0, out, &err);
}

/* ---- watch ---- */

static const char *const tool_event_names[] = {"ADDED", "MODIFIED", "DELETED"};

static void tool_on_event(k8s_informer_t *inf, k8s_event_type_t type, cJSON *obj, bool unknown,
                          void *userdata)
{
    tool_t *t = userdata;
    cJSON *o = cJSON_CreateObject();
    const char *s;

    cJSON_AddStringToObject(o, "event", tool_event_names[type]);
    if (jsonu_get_string(obj, "metadata.namespace", 0, &s, NULL) == 0)
        cJSON_AddStringToObject(o, "namespace", s);
    if (jsonu_get_string(obj, "metadata.name", 0, &s, NULL) == 0)
        cJSON_AddStringToObject(o, "name", s);
    if (jsonu_get_string(obj, "metadata.uid", 0, &s, NULL) == 0)
        cJSON_AddStringToObject(o, "uid", s);
    if (jsonu_get_string(obj, "metadata.resourceVersion", 0, &s, NULL) == 0)
        cJSON_AddStringToObject(o, "resourceVersion", s);
    cJSON_AddBoolToObject(o, "final_state_unknown", unknown);
    cJSON_AddBoolToObject(o, "has_managed_fields",
                          jsonu_lookup(obj, "metadata.managedFields") != NULL);
    cJSON_AddItemToObject(o, "object", cJSON_Duplicate(obj, true));
    if (t->get_in_callback && type == K8S_EVENT_ADDED) {
        k8s_ref_t ref = {t->gvr,
                         jsonu_lookup(obj, "metadata.namespace")
                             ? jsonu_lookup(obj, "metadata.namespace")->valuestring
                             : NULL,
                         jsonu_lookup(obj, "metadata.name")->valuestring, NULL};
        cJSON *got = NULL;
        int r = k8s_get(t->client, &ref, &got, NULL);
        cJSON_AddNumberToObject(o, "get_in_callback", r);
        cJSON_Delete(got);
    }
    tool_print(o);
    cJSON_Delete(o);
}

static cJSON *tool_stats(const k8s_informer_t *inf)
{
    k8s_informer_stats_t st;
    cJSON *o = cJSON_CreateObject();

    k8s_informer_stats(inf, &st);
    cJSON_AddNumberToObject(o, "lists", (double)st.lists);
    cJSON_AddNumberToObject(o, "watches", (double)st.watches);
    cJSON_AddNumberToObject(o, "events", (double)st.events);
    cJSON_AddNumberToObject(o, "relists_gone", (double)st.relists_gone);
    cJSON_AddNumberToObject(o, "errors", (double)st.errors);
    cJSON_AddStringToObject(o, "resourceVersion", k8s_informer_resource_version(inf));
    return o;
}

static void tool_on_synced(k8s_informer_t *inf, void *userdata)
{
    cJSON *o = tool_stats(inf);

    cJSON_AddBoolToObject(o, "synced", true);
    tool_print(o);
    cJSON_Delete(o);
}

static void tool_on_error(k8s_informer_t *inf, int err, const k8s_error_t *detail, void *userdata)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "informer_error", tool_errno_name(err));
    cJSON_AddNumberToObject(o, "status", (double)detail->status);
    cJSON_AddStringToObject(o, "reason", detail->reason);
    cJSON_AddStringToObject(o, "message", detail->message);
    tool_print(o);
    cJSON_Delete(o);
}

/* One stdin command; returns false to quit. */
static bool tool_command(k8s_informer_t *inf, const char *line)
{
    if (strcmp(line, "quit") == 0)
        return false;
    if (strcmp(line, "relist") == 0) {
        k8s_informer_relist(inf);
    } else if (strcmp(line, "stats") == 0) {
        cJSON *o = tool_stats(inf);
        cJSON_AddBoolToObject(o, "stats", true);
        tool_print(o);
        cJSON_Delete(o);
    }
    return true;
}

static bool tool_stdin(k8s_informer_t *inf, char *buf, size_t *len, size_t cap)
{
    ssize_t n = read(STDIN_FILENO, buf + *len, cap - 1 - *len);
    char *nl;

    if (n <= 0)
        return false;
    *len += (size_t)n;
    buf[*len] = '\0';
    while ((nl = strchr(buf, '\n')) != NULL) {
        *nl = '\0';
        if (!tool_command(inf, buf))
            return false;
        memmove(buf, nl + 1, *len - (size_t)(nl + 1 - buf) + 1);
        *len -= (size_t)(nl + 1 - buf);
    }
    if (*len == cap - 1)
        *len = 0;
    return true;
}

static int tool_watch(tool_t *t, int argc, char **argv)
{
    k8s_informer_opts_t o = {.gvr = t->gvr, .ns = tool_ns(argv[0]), .userdata = t};
    const char *resume = NULL;
    char buf[1024];
    size_t len = 0;
    k8s_loop_t *loop;
    k8s_informer_t *inf;
    bool run = true;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--selector") == 0 && i + 1 < argc)
            o.label_selector = argv[++i];
        else if (strcmp(argv[i], "--resume-from") == 0 && i + 1 < argc)
            resume = argv[++i];
        else if (strcmp(argv[i], "--get-in-callback") == 0)
            t->get_in_callback = true;
        else
            return 2;
    }
    o.ops = (k8s_informer_ops_t){
        .on_event = tool_on_event, .on_synced = tool_on_synced, .on_error = tool_on_error};
    loop = k8s_loop_new(t->client);
    inf = loop ? k8s_informer_new(loop, &o) : NULL;
    if (!inf) {
        k8s_loop_free(loop);
        return tool_fail(-ENOMEM, NULL);
    }
    if (resume) { /* test hook: skip the first list, watch from an old version */
        snprintf(inf->rv, sizeof inf->rv, "%s", resume);
        inf->want_list = false;
    }
    while (run) {
        struct pollfd in = {.fd = STDIN_FILENO, .events = POLLIN};
        int r = k8s_loop_run_once(loop, &in, 1, 1000);
        if (r < 0) {
            tool_fail(r, NULL);
            break;
        }
        if (in.revents & (POLLIN | POLLHUP))
            run = tool_stdin(inf, buf, &len, sizeof buf);
    }
    k8s_loop_free(loop);
    return 0;
}

/* ---- main ---- */

static int tool_run(tool_t *t, const char *cmd, int argc, char **argv)
{
    k8s_error_t err;
    cJSON *obj = NULL;
    int r;

    if (strcmp(cmd, "raw") == 0 && argc == 1) {
        r = k8s_get_path(t->client, argv[0], &obj, &err);
        return tool_result(r, obj, &err);
    }
    if (strcmp(cmd, "resolve") == 0 && argc == 2) {
        k8s_resolved_t res;
        r = k8s_discovery_resolve(t->client, argv[0], argv[1], &res, &err);
        if (r == 0) {
            obj = cJSON_CreateObject();
            cJSON_AddStringToObject(obj, "group", res.group);
            cJSON_AddStringToObject(obj, "version", res.version);
            cJSON_AddStringToObject(obj, "resource", res.resource);
            cJSON_AddBoolToObject(obj, "namespaced", res.namespaced);
            cJSON_AddBoolToObject(obj, "has_scale", res.has_scale);
        }
        return tool_result(r, obj, &err);
    }
    if (argc < 2 || tool_gvr(t, argv[0]) < 0)
        return 2;
    k8s_ref_t ref = {t->gvr, tool_ns(argv[1]), argc > 2 ? argv[2] : NULL, NULL};
    if (strcmp(cmd, "get") == 0 && argc >= 3) {
        ref.subresource = argc > 3 ? argv[3] : NULL;
        r = k8s_get(t->client, &ref, &obj, &err);
        return tool_result(r, obj, &err);
    }
    if (strcmp(cmd, "list") == 0)
        return tool_list(t, argc - 1, argv + 1);
    if (strcmp(cmd, "watch") == 0)
        return tool_watch(t, argc - 1, argv + 1);
    if (strcmp(cmd, "delete") == 0 && argc == 3) {
        r = k8s_delete(t->client, &ref, NULL, &err);
        return tool_result(r, NULL, &err);
    }
    if (strcmp(cmd, "patch") == 0 && argc >= 5) {
        k8s_method_t m = strcmp(argv[3], "json") == 0 ? K8S_PATCH_JSON : K8S_PATCH_MERGE;
        ref.subresource = argc > 5 ? argv[5] : NULL;
        r = k8s_patch(t->client, &ref, m, argv[4], &obj, &err);
        return tool_result(r, obj, &err);
    }
    if ((strcmp(cmd, "create") == 0 && (argc == 2 || argc == 4)) ||
        (strcmp(cmd, "update") == 0 && argc >= 3)) {
        cJSON *in = tool_read_stdin();
        if (!in)
            return 2;
        ref.subresource = argc > 3 ? argv[3] : NULL;
        r = cmd[0] == 'c' ? k8s_create(t->client, &ref, in, &obj, &err)
                          : k8s_update(t->client, &ref, in, &obj, &err);
        cJSON_Delete(in);
        return tool_result(r, obj, &err);
    }
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"kubeconfig", required_argument, NULL, 'k'}, {"context", required_argument, NULL, 'c'},
        {"incluster", required_argument, NULL, 'i'},  {"qps", required_argument, NULL, 'q'},
        {"burst", required_argument, NULL, 'b'},      {NULL, 0, NULL, 0}};
    const char *path = NULL, *context = NULL, *incluster = NULL;
    k8s_client_opts_t opts = {0};
    tool_t t = {0};
    errtext_t e;
    int c, r;

    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        if (c == 'k')
            path = optarg;
        else if (c == 'c')
            context = optarg;
        else if (c == 'i')
            incluster = optarg;
        else if (c == 'q')
            opts.qps = atof(optarg);
        else if (c == 'b')
            opts.burst = atoi(optarg);
        else
            return 2;
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: k8sclient_tool [--kubeconfig F] COMMAND ...\n");
        return 2;
    }
    r = incluster ? kubeconfig_load_incluster(incluster, &t.cfg, &e)
                  : kubeconfig_load_default(path, context, &t.cfg, &e);
    if (r < 0) {
        fprintf(stderr, "k8sclient_tool: %s\n", e.text);
        return 1;
    }
    t.client = k8s_client_new(t.cfg, &opts);
    if (!t.client) {
        kubeconfig_free(t.cfg);
        return 1;
    }
    r = tool_run(&t, argv[optind], argc - optind - 1, argv + optind + 1);
    if (r == 2)
        fprintf(stderr, "k8sclient_tool: bad arguments for %s\n", argv[optind]);
    k8s_client_free(t.client);
    kubeconfig_free(t.cfg);
    return r;
}
