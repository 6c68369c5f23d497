/*
 * validate_cmd: `ckeda validate [-o json] [--cluster] [--kubeconfig F] [--context C] [FILE...]`,
 * a short-lived command, not a role. Reads YAML or JSON files ('-' is stdin; several documents,
 * `kind: *List` items), runs validate_object on each keda.sh/v1alpha1 object and prints one line
 * per object (or one JSON document). With --cluster it lists the cluster's ScaledObjects and
 * HPAs for the rules that need them, and without files validates every keda.sh object of the
 * cluster, printing those ckeda would not serve (every one with -o json).
 *
 * Exit: 0 all valid, 1 an object invalid or an input unreadable, 78 a usage error. Input is
 * untrusted: bounded by yaml_json, and names printed on a text line lose control characters.
 */
#include "common/validate.h"

#include "common/json.h"
#include "common/k8s.h"
#include "common/kubeconfig.h"
#include "common/yaml_json.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VC_EXIT_USAGE     78
#define VC_PRINT_NAME_MAX 253

typedef struct vcmd {
    bool json, cluster;
    const char *kubeconfig, *context;
    const char *default_ns;
    bool skipped_note; /* an object was checked without the cluster rules */
    bool failed;       /* an object invalid or an input unreadable */
    cJSON *out_objects, *out_skipped, *out_errors;
    /* cluster state */
    kubeconfig_t *config;
    k8s_client_t *client;
    cJSON *sos_by_ns, *hpas_by_ns; /* namespace -> array */
    cJSON *workloads;              /* "kind/ns/name" -> object or null */
    cJSON *limitranges;            /* NULL until listed; JSON false if the list failed */
} vcmd_t;

/* ---- output ---- */

/* s without control characters and at most max bytes, so one object stays one line. */
static void vcmd_put(FILE *f, const char *s, size_t max)
{
    size_t n = 0;

    for (; *s && n < max; s++, n++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, f);
    if (*s)
        fputs("...", f);
}

static void vcmd_text(const char *kind, const char *ns, const char *name,
                      const validate_report_t *rep)
{
    bool first = true;

    vcmd_put(stdout, kind, 64);
    fputc(' ', stdout);
    if (ns[0]) {
        vcmd_put(stdout, ns, 64);
        fputc('/', stdout);
    }
    vcmd_put(stdout, name[0] ? name : "(no name)", VC_PRINT_NAME_MAX);
    fputs(rep->errors ? ": invalid" : ": valid", stdout);
    for (int pass = 0; pass < 2; pass++) /* errors first, then warnings */
        for (unsigned i = 0; i < rep->n; i++) {
            const validate_finding_t *f = &rep->findings[i];
            if (f->warning != (pass == 1))
                continue;
            fputs(pass == 0 && first ? ": " : "; ", stdout);
            if (f->warning)
                fputs("warning: ", stdout);
            first = false;
            vcmd_put(stdout, f->reason, 64);
            fputs(": ", stdout);
            vcmd_put(stdout, f->message, VALIDATE_MESSAGE_MAX);
        }
    if (rep->truncated)
        fputs("; (more findings not shown)", stdout);
    fputc('\n', stdout);
}

static cJSON *vcmd_json_object(const char *kind, const char *ns, const char *name,
                               const validate_report_t *rep)
{
    cJSON *o = cJSON_CreateObject(), *fs = cJSON_CreateArray();

    cJSON_AddStringToObject(o, "kind", kind);
    if (ns[0])
        cJSON_AddStringToObject(o, "namespace", ns);
    else
        cJSON_AddNullToObject(o, "namespace");
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddBoolToObject(o, "valid", rep->errors == 0);
    cJSON_AddBoolToObject(o, "served", validate_report_served(rep));
    for (unsigned i = 0; i < rep->n; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "reason", rep->findings[i].reason);
        cJSON_AddStringToObject(f, "message", rep->findings[i].message);
        cJSON_AddStringToObject(f, "field", rep->findings[i].field);
        cJSON_AddBoolToObject(f, "warning", rep->findings[i].warning);
        cJSON_AddItemToArray(fs, f);
    }
    cJSON_AddItemToObject(o, "findings", fs);
    cJSON_AddBoolToObject(o, "truncated", rep->truncated);
    cJSON_AddBoolToObject(o, "cluster_rules_skipped", rep->cluster_rules_skipped);
    return o;
}

static void vcmd_error(vcmd_t *c, const char *where, const char *msg)
{
    c->failed = true;
    if (c->json) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "input", where);
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddItemToArray(c->out_errors, e);
        return;
    }
    fputs("ckeda validate: ", stderr);
    vcmd_put(stderr, where, 1024);
    fputs(": ", stderr);
    vcmd_put(stderr, msg, 1024);
    fputc('\n', stderr);
}

/* ---- cluster state (validate_cluster_t over lists read once) ---- */

static void vcmd_each(cJSON *by_ns, const char *ns, void (*fn)(const cJSON *, void *), void *arg)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(by_ns, ns), *o;

    cJSON_ArrayForEach(o, arr) fn(o, arg);
}

static void vcmd_each_so(void *ud, const char *ns, void (*fn)(const cJSON *, void *), void *arg)
{
    vcmd_each(((vcmd_t *)ud)->sos_by_ns, ns, fn, arg);
}

static void vcmd_each_hpa(void *ud, const char *ns, void (*fn)(const cJSON *, void *), void *arg)
{
    vcmd_each(((vcmd_t *)ud)->hpas_by_ns, ns, fn, arg);
}

static const cJSON *vcmd_workload(void *ud, const char *kind, const char *ns, const char *name)
{
    vcmd_t *c = ud;
    k8s_ref_t ref = {K8S_GVR_DEPLOYMENTS, ns, name, NULL};
    k8s_gvr_t sts = K8S_GVR_STATEFULSETS;
    char key[1024];
    const cJSON *hit;
    cJSON *obj = NULL;

    snprintf(key, sizeof key, "%s/%s/%s", kind, ns, name);
    if ((hit = cJSON_GetObjectItemCaseSensitive(c->workloads, key)))
        return cJSON_IsObject(hit) ? hit : NULL;
    if (strcmp(kind, "StatefulSet") == 0)
        ref.gvr = sts;
    if (k8s_get(c->client, &ref, &obj, NULL) < 0 || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        obj = cJSON_CreateNull(); /* unknown: the requests rule is skipped */
    }
    cJSON_AddItemToObject(c->workloads, key, obj);
    return cJSON_IsObject(obj) ? obj : NULL;
}

static int vcmd_add_item(cJSON *item, void *ud)
{
    cJSON *by_ns = ud, *arr, *copy;
    const char *ns = "";

    (void)jsonu_get_string(item, "metadata.namespace", 0, &ns, NULL);
    if (!(arr = cJSON_GetObjectItemCaseSensitive(by_ns, ns)))
        arr = cJSON_AddArrayToObject(by_ns, ns);
    if (!arr || !(copy = cJSON_Duplicate(item, true)))
        return -ENOMEM;
    cJSON_AddItemToArray(arr, copy);
    return 0;
}

static int vcmd_list(vcmd_t *c, k8s_gvr_t gvr, cJSON *by_ns)
{
    k8s_ref_t ref = {gvr, NULL, NULL, NULL};
    k8s_error_t kerr = {0};
    char msg[700];
    int r = k8s_list_all(c->client, &ref, NULL, vcmd_add_item, by_ns, NULL, 0, &kerr);

    if (r < 0) {
        snprintf(msg, sizeof msg, "could not list %s: %s", gvr.resource,
                 kerr.message[0] ? kerr.message : strerror(-r));
        vcmd_error(c, "cluster", msg);
    }
    return r;
}

static int vcmd_limitrange_default(void *ud, const char *ns, const char *resource)
{
    vcmd_t *c = ud;
    k8s_gvr_t lr = {"", "v1", "limitranges"};
    const cJSON *arr, *o, *l;

    if (!c->limitranges) {
        c->limitranges = cJSON_CreateObject();
        k8s_ref_t ref = {lr, NULL, NULL, NULL};
        if (!c->limitranges ||
            k8s_list_all(c->client, &ref, NULL, vcmd_add_item, c->limitranges, NULL, 0, NULL) < 0) {
            cJSON_Delete(c->limitranges);
            c->limitranges = cJSON_CreateFalse();
        }
    }
    if (!cJSON_IsObject(c->limitranges))
        return -1;
    arr = cJSON_GetObjectItemCaseSensitive(c->limitranges, ns);
    cJSON_ArrayForEach(o, arr)
    {
        const cJSON *limits = jsonu_lookup(o, "spec.limits");
        cJSON_ArrayForEach(l, (cJSON_IsArray(limits) ? limits : NULL))
        {
            const char *type = "";
            (void)jsonu_get_string(l, "type", 64, &type, NULL);
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(l, "default"), resource);
            const cJSON *dr = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(l, "defaultRequest"), resource);
            if (strcmp(type, "Container") == 0 &&
                ((cJSON_IsString(d) && atof(d->valuestring) > 0) ||
                 (cJSON_IsString(dr) && atof(dr->valuestring) > 0)))
                return 1;
        }
    }
    return 0;
}

static int vcmd_connect(vcmd_t *c)
{
    k8s_gvr_t sos = K8S_GVR_SCALEDOBJECTS, hpas = K8S_GVR_HPAS;
    errtext_t err = {{0}};
    int r;

    if ((r = kubeconfig_load_default(c->kubeconfig, c->context, &c->config, &err)) < 0) {
        vcmd_error(c, "kubeconfig", err.text[0] ? err.text : strerror(-r));
        return r;
    }
    if (!(c->client = k8s_client_new(c->config, NULL)) || !(c->sos_by_ns = cJSON_CreateObject()) ||
        !(c->hpas_by_ns = cJSON_CreateObject()) || !(c->workloads = cJSON_CreateObject())) {
        vcmd_error(c, "cluster", "out of memory");
        return -ENOMEM;
    }
    c->default_ns = k8s_client_namespace(c->client);
    if ((r = vcmd_list(c, sos, c->sos_by_ns)) < 0 || (r = vcmd_list(c, hpas, c->hpas_by_ns)) < 0)
        return r;
    return 0;
}

/* ---- objects ---- */

static void vcmd_object(vcmd_t *c, cJSON *obj, const char *where, bool only_invalid)
{
    const validate_cluster_t cluster = {c, vcmd_each_so, vcmd_each_hpa, vcmd_workload,
                                        vcmd_limitrange_default};
    const char *kind = "", *ns = "", *name = "";
    validate_report_t *rep = malloc(sizeof *rep);
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    int r;

    if (!rep) {
        vcmd_error(c, where, "out of memory");
        return;
    }
    (void)jsonu_get_string(obj, "kind", 0, &kind, NULL);
    /* kubectl's namespace for a namespaced object that names none. */
    if (strcmp(kind, "ClusterTriggerAuthentication") != 0 && cJSON_IsObject(meta) &&
        !cJSON_GetObjectItemCaseSensitive(meta, "namespace"))
        cJSON_AddStringToObject(meta, "namespace", c->default_ns);
    (void)jsonu_get_string(obj, "metadata.namespace", 0, &ns, NULL);
    (void)jsonu_get_string(obj, "metadata.name", 0, &name, NULL);
    r = validate_object(obj, c->cluster ? &cluster : NULL, rep);
    if (r == -EOPNOTSUPP) {
        if (c->json) {
            cJSON *s = cJSON_CreateObject();
            cJSON_AddStringToObject(s, "kind", kind);
            cJSON_AddStringToObject(s, "namespace", ns);
            cJSON_AddStringToObject(s, "name", name);
            cJSON_AddItemToArray(c->out_skipped, s);
        } else if (!only_invalid) {
            vcmd_put(stdout, kind[0] ? kind : "(no kind)", 64);
            fputc(' ', stdout);
            vcmd_put(stdout, ns, 64);
            fputc('/', stdout);
            vcmd_put(stdout, name, VC_PRINT_NAME_MAX);
            fputs(": skipped: not a keda.sh/v1alpha1 ScaledObject, ScaledJob, "
                  "TriggerAuthentication or ClusterTriggerAuthentication\n",
                  stdout);
        }
    } else if (r < 0) {
        vcmd_error(c, where, "not a JSON object");
    } else {
        c->failed |= rep->errors > 0;
        c->skipped_note |= rep->cluster_rules_skipped;
        if (strcmp(kind, "ClusterTriggerAuthentication") == 0)
            ns = "";
        if (c->json)
            cJSON_AddItemToArray(c->out_objects, vcmd_json_object(kind, ns, name, rep));
        else if (!only_invalid || !validate_report_served(rep))
            vcmd_text(kind, ns, name, rep);
    }
    free(rep);
}

/* A document: an object, or a *List whose items are objects. */
static void vcmd_document(vcmd_t *c, cJSON *doc, const char *where)
{
    const char *kind = "";
    const cJSON *items;
    cJSON *it;
    char w[1100];
    int i = 0;

    (void)jsonu_get_string(doc, "kind", 0, &kind, NULL);
    items = cJSON_GetObjectItemCaseSensitive(doc, "items");
    if (!cJSON_IsObject(doc)) {
        vcmd_error(c, where, "not an object");
        return;
    }
    if (strlen(kind) < 4 || strcmp(kind + strlen(kind) - 4, "List") != 0 || !cJSON_IsArray(items)) {
        vcmd_object(c, doc, where, false);
        return;
    }
    cJSON_ArrayForEach(it, items)
    {
        snprintf(w, sizeof w, "%s: items[%d]", where, i++);
        if (cJSON_IsObject(it))
            vcmd_object(c, it, w, false);
        else
            vcmd_error(c, w, "not an object");
    }
}

static int vcmd_read(const char *path, char **ret_buf, size_t *ret_len, char *msg, size_t cap)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rbe");
    size_t len = 0, size = 65536;
    char *buf = NULL, *nb;

    if (!f) {
        snprintf(msg, cap, "%s", strerror(errno));
        return -errno;
    }
    for (;;) {
        if (!(nb = realloc(buf, size + 1))) {
            free(buf);
            buf = NULL;
            snprintf(msg, cap, "out of memory");
            break;
        }
        buf = nb;
        len += fread(buf + len, 1, size - len, f);
        if (len < size || size > YAML_JSON_INPUT_MAX)
            break;
        size *= 2;
    }
    if (buf && ferror(f)) {
        snprintf(msg, cap, "read error");
        free(buf);
        buf = NULL;
    } else if (buf && len > YAML_JSON_INPUT_MAX) {
        snprintf(msg, cap, "larger than the %u bytes ckeda validate reads", YAML_JSON_INPUT_MAX);
        free(buf);
        buf = NULL;
    }
    if (f != stdin)
        fclose(f);
    if (!buf)
        return -EIO;
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

static void vcmd_file(vcmd_t *c, const char *path)
{
    char *buf = NULL, msg[600], where[1100];
    errtext_t err = {{0}};
    size_t len = 0;
    cJSON *docs = NULL, *d;
    int i = 1;

    if (vcmd_read(path, &buf, &len, msg, sizeof msg) < 0) {
        vcmd_error(c, path, msg);
        return;
    }
    if (yaml_json_parse(buf, len, &docs, &err) < 0) {
        vcmd_error(c, path, err.text[0] ? err.text : "could not parse");
        free(buf);
        return;
    }
    free(buf);
    cJSON_ArrayForEach(d, docs)
    {
        snprintf(where, sizeof where, "%s: document %d", strcmp(path, "-") ? path : "stdin", i++);
        vcmd_document(c, d, where);
    }
    cJSON_Delete(docs);
}

/* --cluster without files: every keda.sh object of the cluster. */
static void vcmd_cluster_objects(vcmd_t *c)
{
    static const struct {
        k8s_gvr_t gvr;
        const char *kind;
    } kinds[] = {{K8S_GVR_SCALEDJOBS, "ScaledJob"},
                 {K8S_GVR_TRIGGERAUTHS, "TriggerAuthentication"},
                 {K8S_GVR_CLUSTERTRIGGERAUTHS, "ClusterTriggerAuthentication"}};
    const cJSON *arr;
    cJSON *o;

    cJSON_ArrayForEach(arr, c->sos_by_ns) cJSON_ArrayForEach(o, arr)
    {
        if (!cJSON_GetObjectItemCaseSensitive(o, "kind"))
            cJSON_AddStringToObject(o, "kind", "ScaledObject");
        if (!cJSON_GetObjectItemCaseSensitive(o, "apiVersion"))
            cJSON_AddStringToObject(o, "apiVersion", "keda.sh/v1alpha1");
        vcmd_object(c, o, "cluster", !c->json);
    }
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        cJSON *by_ns = cJSON_CreateObject();
        if (by_ns && vcmd_list(c, kinds[k].gvr, by_ns) == 0)
            cJSON_ArrayForEach(arr, by_ns) cJSON_ArrayForEach(o, arr)
            {
                if (!cJSON_GetObjectItemCaseSensitive(o, "kind"))
                    cJSON_AddStringToObject(o, "kind", kinds[k].kind);
                if (!cJSON_GetObjectItemCaseSensitive(o, "apiVersion"))
                    cJSON_AddStringToObject(o, "apiVersion", "keda.sh/v1alpha1");
                vcmd_object(c, o, "cluster", !c->json);
            }
        cJSON_Delete(by_ns);
    }
}

static int vcmd_usage(FILE *f, int code)
{
    fprintf(f, "usage: ckeda validate [-o text|json] [--cluster] [--kubeconfig F] [--context C] "
               "[FILE...]\n"
               "  FILE     YAML or JSON manifests ('-' is stdin); several documents and List "
               "items\n"
               "  --cluster  read the cluster (kubeconfig: --kubeconfig, $KUBECONFIG, "
               "~/.kube/config)\n"
               "             for the rules that need it; without FILE, check every keda.sh object "
               "there\n"
               "exit: 0 valid, 1 an object invalid or an input unreadable, 78 usage error\n");
    return code;
}

static int vcmd_args(vcmd_t *c, int argc, char **argv, int *ret_first)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"cluster", no_argument, NULL, 'c'},
                                         {"kubeconfig", required_argument, NULL, 'k'},
                                         {"context", required_argument, NULL, 'x'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int o;

    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
        if (o == 'o' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "text") == 0))
            c->json = strcmp(optarg, "json") == 0;
        else if (o == 'c')
            c->cluster = true;
        else if (o == 'k')
            c->kubeconfig = optarg;
        else if (o == 'x')
            c->context = optarg;
        else if (o == 'h')
            return vcmd_usage(stdout, 0);
        else {
            fprintf(stderr, "ckeda validate: %s\n",
                    o == 'o' ? "-o takes text or json" : "unknown or incomplete option");
            return vcmd_usage(stderr, VC_EXIT_USAGE);
        }
    }
    if (optind >= argc && !c->cluster) {
        fprintf(stderr, "ckeda validate: no FILE given\n");
        return vcmd_usage(stderr, VC_EXIT_USAGE);
    }
    *ret_first = optind;
    return -1;
}

static void vcmd_free(vcmd_t *c)
{
    cJSON_Delete(c->out_objects);
    cJSON_Delete(c->out_skipped);
    cJSON_Delete(c->out_errors);
    cJSON_Delete(c->sos_by_ns);
    cJSON_Delete(c->hpas_by_ns);
    cJSON_Delete(c->workloads);
    cJSON_Delete(c->limitranges);
    k8s_client_free(c->client);
    kubeconfig_free(c->config);
}

int validate_main(int argc, char **argv)
{
    vcmd_t c = {.default_ns = "default"};
    int first = 0, r;

    /* argv[1] is "validate": options start after it. */
    if ((r = vcmd_args(&c, argc - 1, argv + 1, &first)) >= 0)
        return r;
    first += 1;
    c.out_objects = cJSON_CreateArray();
    c.out_skipped = cJSON_CreateArray();
    c.out_errors = cJSON_CreateArray();
    if (!c.out_objects || !c.out_skipped || !c.out_errors) {
        vcmd_free(&c);
        return 1;
    }
    if (!c.cluster || vcmd_connect(&c) == 0) {
        for (int i = first; i < argc; i++)
            vcmd_file(&c, argv[i]);
        if (c.cluster && first >= argc)
            vcmd_cluster_objects(&c);
    }
    if (c.json) {
        cJSON *out = cJSON_CreateObject();
        char *s;
        cJSON_AddItemToObject(out, "objects", c.out_objects);
        cJSON_AddItemToObject(out, "skipped", c.out_skipped);
        cJSON_AddItemToObject(out, "errors", c.out_errors);
        c.out_objects = c.out_skipped = c.out_errors = NULL;
        if ((s = cJSON_PrintUnformatted(out)))
            printf("%s\n", s);
        free(s);
        cJSON_Delete(out);
    } else if (c.skipped_note) {
        fputs("ckeda validate: offline: rules that need cluster state (another ScaledObject or "
              "HPA on the same workload, container requests) were skipped; --cluster checks "
              "them\n",
              stderr);
    }
    fflush(stdout);
    vcmd_free(&c);
    return c.failed ? 1 : 0;
}
