/*
 * kubeconfig: see kubeconfig.h. Each file is loaded into a libyaml document tree and queried by
 * name; nothing of the tree outlives kubeconfig_load(). Runs once per process at start-up, plus
 * the token re-reads, in whichever role owns the config (not thread-safe: one config per thread).
 *
 * Error messages have the shape "<file>: <key path>: <problem>", where the key path reads like
 * `users[name=admin].user.client-key`. They never contain a value, only where it came from.
 */
#include "common/kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "common/base64.h"

/* Most files in one KUBECONFIG list. */
#define KC_FILES_MAX 16
/* Longest token accepted from a file. */
#define KC_TOKEN_MAX (64u << 10)

typedef struct kc_file {
    char *path;
    char *dir; /* what relative paths in this file resolve against */
    yaml_document_t doc;
    bool loaded;
} kc_file_t;

typedef struct kc_set {
    kc_file_t files[KC_FILES_MAX];
    size_t n;
} kc_set_t;

/* One named entry (a context, cluster or user) and where it was found. */
typedef struct kc_entry {
    kc_file_t *file;
    yaml_node_t *map; /* the inner mapping, e.g. the value of `cluster:`; NULL if empty */
    char where[160];  /* "clusters[name=t].cluster", for messages */
} kc_entry_t;

static void kc_wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Reads a whole regular file of at most max bytes, NUL-terminated. The caller frees. */
static int kc_file_read(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int fd, r = 0;

    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; the
     * S_ISREG check below then refuses it. It changes nothing for a regular file. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        r = -EFBIG;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    /* Read up to max + 1 so a file growing after fstat is still caught. */
    while (len <= (size_t)st.st_size) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > (size_t)st.st_size) {
        r = -EFBIG;
        goto out;
    }
    buf[len] = '\0';
    *ret_buf = buf;
    *ret_len = len;
    buf = NULL;
out:
    if (buf) {
        explicit_bzero(buf, (size_t)st.st_size + 1);
        free(buf);
    }
    close(fd);
    return r;
}

/* path if absolute, else dir/path. The caller frees. */
static char *kc_path_resolve(const char *dir, const char *path)
{
    char *out = NULL;

    if (path[0] == '/' || !dir)
        return strdup(path);
    if (asprintf(&out, "%s/%s", dir, path) < 0)
        return NULL;
    return out;
}

static char *kc_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int kc_file_load(kc_file_t *f, const char *path, errtext_t *err)
{
    yaml_parser_t parser;
    char *buf = NULL;
    size_t len = 0;
    int r;

    f->path = strdup(path);
    f->dir = kc_dirname(path);
    if (!f->path || !f->dir)
        return -ENOMEM;
    r = kc_file_read(path, KUBECONFIG_FILE_MAX, &buf, &len);
    if (r < 0) {
        errtext_set(err, "%s: could not read kubeconfig: %s", path,
                    r == -EFBIG ? "larger than 16 MiB" : strerror(-r));
        return r;
    }
    if (!yaml_parser_initialize(&parser)) {
        free(buf);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &f->doc)) {
        errtext_set(err, "%s:%zu:%zu: malformed YAML: %s", path, parser.problem_mark.line + 1,
                    parser.problem_mark.column + 1, parser.problem ? parser.problem : "?");
        r = -EINVAL;
    } else {
        f->loaded = true;
    }
    yaml_parser_delete(&parser);
    explicit_bzero(buf, len);
    free(buf);
    return r;
}

static void kc_set_free(kc_set_t *set)
{
    for (size_t i = 0; i < set->n; i++) {
        if (set->files[i].loaded)
            yaml_document_delete(&set->files[i].doc);
        free(set->files[i].path);
        free(set->files[i].dir);
    }
    set->n = 0;
}

/* Loads every file of a colon-separated list; empty elements are skipped, as kubectl does. */
static int kc_set_load(kc_set_t *set, const char *list, errtext_t *err)
{
    const char *p = list;

    while (*p) {
        size_t len = strcspn(p, ":");
        if (len > 0) {
            char path[PATH_MAX];
            int r;
            if (set->n == KC_FILES_MAX || len >= sizeof path) {
                errtext_set(err, "kubeconfig list \"%s\" is too long", list);
                return -E2BIG;
            }
            memcpy(path, p, len);
            path[len] = '\0';
            r = kc_file_load(&set->files[set->n++], path, err);
            if (r < 0)
                return r;
        }
        p += len;
        if (*p == ':')
            p++;
    }
    if (set->n == 0) {
        errtext_set(err, "no kubeconfig file given");
        return -ENOENT;
    }
    return 0;
}

static bool kc_scalar_is_null(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;

    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0;
}

/* The value node of key in a mapping, or NULL if absent or null. */
static yaml_node_t *kc_map_get(kc_file_t *f, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&f->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&f->doc, p->value);
        if (!k || k->type != YAML_SCALAR_NODE || strcmp((char *)k->data.scalar.value, key) != 0)
            continue;
        if (!v || (v->type == YAML_SCALAR_NODE && kc_scalar_is_null(v)))
            return NULL;
        return v;
    }
    return NULL;
}

/* A scalar string field. -ENOENT if absent, -EINVAL (with a message) if not a plain string. */
static int kc_get_str(kc_file_t *f, yaml_node_t *map, const char *where, const char *key,
                      const char **ret_value, errtext_t *err)
{
    yaml_node_t *v = kc_map_get(f, map, key);

    if (!v)
        return -ENOENT;
    if (v->type != YAML_SCALAR_NODE ||
        strlen((char *)v->data.scalar.value) != v->data.scalar.length) {
        errtext_set(err, "%s: %s%s%s: must be a string", f->path, where, *where ? "." : "", key);
        return -EINVAL;
    }
    *ret_value = (const char *)v->data.scalar.value;
    return 0;
}

static int kc_get_bool(kc_file_t *f, yaml_node_t *map, const char *where, const char *key,
                       bool *ret_value, errtext_t *err)
{
    const char *s = NULL;
    int r = kc_get_str(f, map, where, key, &s, err);

    if (r < 0)
        return r;
    if (strcasecmp(s, "true") == 0) {
        *ret_value = true;
    } else if (strcasecmp(s, "false") == 0) {
        *ret_value = false;
    } else {
        errtext_set(err, "%s: %s.%s: must be true or false", f->path, where, key);
        return -EINVAL;
    }
    return 0;
}

/* Finds list[name=name].field in the first file that defines it (kubectl's merge rule). */
static int kc_set_find(kc_set_t *set, const char *list, const char *field, const char *name,
                       kc_entry_t *ret_entry, errtext_t *err)
{
    for (size_t i = 0; i < set->n; i++) {
        kc_file_t *f = &set->files[i];
        yaml_node_t *seq = kc_map_get(f, yaml_document_get_root_node(&f->doc), list);
        if (!seq)
            continue;
        if (seq->type != YAML_SEQUENCE_NODE) {
            errtext_set(err, "%s: %s: must be a list", f->path, list);
            return -EINVAL;
        }
        for (yaml_node_item_t *it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(&f->doc, *it);
            const char *n = NULL;
            if (kc_get_str(f, item, list, "name", &n, NULL) < 0 || strcmp(n, name) != 0)
                continue;
            ret_entry->file = f;
            ret_entry->map = kc_map_get(f, item, field);
            snprintf(ret_entry->where, sizeof ret_entry->where, "%s[name=%.60s].%s", list, name,
                     field);
            if (ret_entry->map && ret_entry->map->type != YAML_MAPPING_NODE) {
                errtext_set(err, "%s: %s: must be a mapping", f->path, ret_entry->where);
                return -EINVAL;
            }
            return 0;
        }
    }
    errtext_set(err, "%s: %s \"%s\" not found", set->files[0].path, field, name);
    return -ENOENT;
}

/* Refuses keys whose authentication ckeda does not implement. */
static int kc_refuse(const kc_entry_t *e, const char *const *keys, errtext_t *err)
{
    for (const char *const *k = keys; *k; k++)
        if (kc_map_get(e->file, e->map, *k)) {
            errtext_set(err, "%s: %s.%s: not supported by ckeda", e->file->path, e->where, *k);
            return -EINVAL;
        }
    return 0;
}

/* Fills a blob from `<key>-data` (base64, preferred as in client-go) or `<key>` (a file). */
static int kc_blob_load(const kc_entry_t *e, const char *key, kubeconfig_blob_t *ret_blob,
                        errtext_t *err)
{
    char data_key[64];
    const char *s = NULL;
    int r;

    snprintf(data_key, sizeof data_key, "%s-data", key);
    r = kc_get_str(e->file, e->map, e->where, data_key, &s, err);
    if (r == 0) {
        r = base64_decode(s, strlen(s), &ret_blob->data, &ret_blob->len);
        if (r == -EINVAL)
            errtext_set(err, "%s: %s.%s: not valid base64", e->file->path, e->where, data_key);
        return r;
    }
    if (r != -ENOENT)
        return r;
    r = kc_get_str(e->file, e->map, e->where, key, &s, err);
    if (r < 0)
        return r == -ENOENT ? 0 : r;
    ret_blob->path = kc_path_resolve(e->file->dir, s);
    if (!ret_blob->path)
        return -ENOMEM;
    if (access(ret_blob->path, R_OK) < 0) {
        r = -errno;
        errtext_set(err, "%s: %s.%s: cannot read \"%s\": %s", e->file->path, e->where, key,
                    ret_blob->path, strerror(-r));
        return r == -ENOENT ? -ENOENT : -EACCES;
    }
    return 0;
}

static int kc_dup(const char *s, char **ret)
{
    char *d = strdup(s);

    if (!d)
        return -ENOMEM;
    *ret = d;
    return 0;
}

static int kc_cluster_apply(const kc_entry_t *e, kubeconfig_t *c, errtext_t *err)
{
    static const char *const unsupported[] = {"tls-server-name", NULL};
    const char *server = NULL, *proxy = NULL;
    int r;

    if ((r = kc_refuse(e, unsupported, err)) < 0)
        return r;
    r = kc_get_str(e->file, e->map, e->where, "server", &server, err);
    if (r == -ENOENT)
        errtext_set(err, "%s: %s.server: missing", e->file->path, e->where);
    if (r < 0)
        return r;
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0) {
        errtext_set(err, "%s: %s.server: must start with https:// or http://", e->file->path,
                    e->where);
        return -EINVAL;
    }
    if ((r = kc_dup(server, &c->server)) < 0)
        return r;
    for (size_t n = strlen(c->server); n > 8 && c->server[n - 1] == '/'; n--)
        c->server[n - 1] = '\0';
    r = kc_get_str(e->file, e->map, e->where, "proxy-url", &proxy, err);
    if (r == 0)
        r = kc_dup(proxy, &c->proxy_url);
    if (r < 0 && r != -ENOENT)
        return r;
    r = kc_get_bool(e->file, e->map, e->where, "insecure-skip-tls-verify",
                    &c->insecure_skip_tls_verify, err);
    if (r < 0 && r != -ENOENT)
        return r;
    if ((r = kc_blob_load(e, "certificate-authority", &c->ca, err)) < 0)
        return r;
    if (c->insecure_skip_tls_verify && (c->ca.path || c->ca.data)) {
        errtext_set(err,
                    "%s: %s: certificate-authority and insecure-skip-tls-verify exclude "
                    "each other",
                    e->file->path, e->where);
        return -EINVAL;
    }
    return 0;
}

static int kc_user_apply(const kc_entry_t *e, kubeconfig_t *c, errtext_t *err)
{
    static const char *const unsupported[] = {"exec", "auth-provider", "username", "password",
                                              "as",   "as-groups",     "as-uid",   "as-user-extra",
                                              NULL};
    const char *s = NULL;
    int r;

    if ((r = kc_refuse(e, unsupported, err)) < 0)
        return r;
    if ((r = kc_blob_load(e, "client-certificate", &c->client_cert, err)) < 0)
        return r;
    if ((r = kc_blob_load(e, "client-key", &c->client_key, err)) < 0)
        return r;
    if (!(c->client_cert.path || c->client_cert.data) !=
        !(c->client_key.path || c->client_key.data)) {
        errtext_set(err, "%s: %s: client-certificate and client-key must be given together",
                    e->file->path, e->where);
        return -EINVAL;
    }
    r = kc_get_str(e->file, e->map, e->where, "token", &s, err);
    if (r == 0)
        r = kc_dup(s, &c->token);
    if (r < 0 && r != -ENOENT)
        return r;
    r = kc_get_str(e->file, e->map, e->where, "tokenFile", &s, err);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    c->token_file = kc_path_resolve(e->file->dir, s);
    if (!c->token_file)
        return -ENOMEM;
    r = kubeconfig_token_get(c, &s, err);
    if (r < 0)
        errtext_prefix(err, "%s: %s.tokenFile", e->file->path, e->where);
    return r;
}

/* current-context (or the explicit one) -> context -> cluster and user. */
static int kc_resolve(kc_set_t *set, const char *context, kubeconfig_t *c, errtext_t *err)
{
    kc_entry_t ctx, cluster, user;
    const char *cluster_name = NULL, *user_name = NULL, *ns = NULL;
    int r;

    for (size_t i = 0; !context && i < set->n; i++) {
        kc_file_t *f = &set->files[i];
        r = kc_get_str(f, yaml_document_get_root_node(&f->doc), "", "current-context", &context,
                       err);
        if (r < 0 && r != -ENOENT)
            return r;
    }
    if (!context) {
        errtext_set(err, "%s: no current-context and no context given", set->files[0].path);
        return -ENOENT;
    }
    if ((r = kc_dup(context, &c->context)) < 0)
        return r;
    if ((r = kc_set_find(set, "contexts", "context", context, &ctx, err)) < 0)
        return r;
    r = kc_get_str(ctx.file, ctx.map, ctx.where, "cluster", &cluster_name, err);
    if (r == -ENOENT)
        errtext_set(err, "%s: %s.cluster: missing", ctx.file->path, ctx.where);
    if (r < 0)
        return r;
    r = kc_get_str(ctx.file, ctx.map, ctx.where, "namespace", &ns, err);
    if (r < 0 && r != -ENOENT)
        return r;
    /* An empty namespace is unset, as in client-go: "" would mean every namespace. */
    if ((r = kc_dup(ns && *ns ? ns : "default", &c->ns)) < 0)
        return r;
    if ((r = kc_set_find(set, "clusters", "cluster", cluster_name, &cluster, err)) < 0)
        return r;
    if ((r = kc_cluster_apply(&cluster, c, err)) < 0)
        return r;
    r = kc_get_str(ctx.file, ctx.map, ctx.where, "user", &user_name, err);
    if (r == -ENOENT)
        return 0; /* no user: anonymous, as kubectl allows */
    if (r < 0)
        return r;
    if ((r = kc_set_find(set, "users", "user", user_name, &user, err)) < 0)
        return r;
    return kc_user_apply(&user, c, err);
}

int kubeconfig_load(const char *path, const char *context, kubeconfig_t **ret_config,
                    errtext_t *err)
{
    kc_set_t set = {.n = 0};
    kubeconfig_t *c = calloc(1, sizeof *c);
    int r;

    if (!c)
        return -ENOMEM;
    c->source = strdup(path);
    if (!c->source) {
        r = -ENOMEM;
        goto out;
    }
    r = kc_set_load(&set, path, err);
    if (r == 0)
        r = kc_resolve(&set, context, c, err);
out:
    kc_set_free(&set);
    if (r == -ENOMEM)
        errtext_set(err, "%s: out of memory", path);
    if (r < 0) {
        kubeconfig_free(c);
        return r;
    }
    *ret_config = c;
    return 0;
}

/* "host:port" for the URL, with brackets around an IPv6 literal. */
static int kc_incluster_server(char **ret_server, errtext_t *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    bool v6;

    if (!host || !*host || !port || !*port) {
        errtext_set(err, "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                         "must be set");
        return -ENXIO;
    }
    if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
        strpbrk(host, "/?#@ []") != NULL) {
        errtext_set(err, "in-cluster: KUBERNETES_SERVICE_HOST or _PORT is malformed");
        return -EINVAL;
    }
    v6 = strchr(host, ':') != NULL;
    if (asprintf(ret_server, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port) < 0)
        return -ENOMEM;
    return 0;
}

static int kc_incluster_fill(kubeconfig_t *c, const char *dir, errtext_t *err)
{
    char *ns = NULL;
    size_t len = 0;
    int r;

    if ((r = kc_incluster_server(&c->server, err)) < 0)
        return r;
    c->ca.path = kc_path_resolve(dir, "ca.crt");
    c->token_file = kc_path_resolve(dir, "token");
    if (!c->ca.path || !c->token_file)
        return -ENOMEM;
    if (access(c->ca.path, R_OK) < 0) {
        r = -errno;
        errtext_set(err, "in-cluster: cannot read %s: %s", c->ca.path, strerror(-r));
        return r;
    }
    const char *tok = NULL;
    if ((r = kubeconfig_token_get(c, &tok, err)) < 0)
        return r;
    /* The namespace file is optional, as in client-go. */
    char *nspath = kc_path_resolve(dir, "namespace");
    if (!nspath)
        return -ENOMEM;
    r = kc_file_read(nspath, 256, &ns, &len);
    free(nspath);
    if (r == 0) {
        while (len > 0 && strchr(" \t\r\n", ns[len - 1]))
            ns[--len] = '\0';
        c->ns = ns;
    }
    if (!c->ns || !*c->ns) {
        free(c->ns);
        c->ns = strdup("default");
    }
    return c->ns ? 0 : -ENOMEM;
}

int kubeconfig_load_incluster(const char *sa_dir, kubeconfig_t **ret_config, errtext_t *err)
{
    kubeconfig_t *c = calloc(1, sizeof *c);
    int r;

    if (!c)
        return -ENOMEM;
    c->source = strdup("in-cluster");
    r = c->source ? kc_incluster_fill(c, sa_dir ? sa_dir : KUBECONFIG_SA_DIR, err) : -ENOMEM;
    if (r < 0) {
        if (r == -ENOMEM)
            errtext_set(err, "in-cluster: out of memory");
        kubeconfig_free(c);
        return r;
    }
    *ret_config = c;
    return 0;
}

int kubeconfig_load_default(const char *path, const char *context, kubeconfig_t **ret_config,
                            errtext_t *err)
{
    const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
    char *def = NULL;
    int r;

    if (path && *path)
        return kubeconfig_load(path, context, ret_config, err);
    if (env && *env)
        return kubeconfig_load(env, context, ret_config, err);
    if (getenv("KUBERNETES_SERVICE_HOST"))
        return kubeconfig_load_incluster(NULL, ret_config, err);
    if (!home || !*home) {
        errtext_set(err, "no kubeconfig: neither --kubeconfig, KUBECONFIG, an in-cluster "
                         "service account nor HOME");
        return -ENOENT;
    }
    if (asprintf(&def, "%s/.kube/config", home) < 0)
        return -ENOMEM;
    r = kubeconfig_load(def, context, ret_config, err);
    free(def);
    return r;
}

static int64_t kc_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool kc_token_unchanged(const kubeconfig_t *c, const struct stat *st, int64_t now)
{
    return c->tok_read_ns != 0 && now - c->tok_read_ns < KUBECONFIG_TOKEN_REREAD_NS &&
           st->st_dev == c->tok_dev && st->st_ino == c->tok_ino && st->st_size == c->tok_size &&
           st->st_mtim.tv_sec == c->tok_mtime.tv_sec && st->st_mtim.tv_nsec == c->tok_mtime.tv_nsec;
}

/* Re-reads token_file. On failure the previous token, if any, stays in place. */
static int kc_token_reread(kubeconfig_t *c, const struct stat *st, int64_t now, errtext_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    int r = kc_file_read(c->token_file, KC_TOKEN_MAX, &buf, &len);

    if (r < 0) {
        errtext_set(err, "could not read token file %s: %s", c->token_file,
                    r == -EFBIG ? "larger than 64 KiB" : strerror(-r));
        return r;
    }
    while (len > 0 && strchr(" \t\r\n", buf[len - 1]))
        buf[--len] = '\0';
    if (len == 0 || strpbrk(buf, "\r\n") != NULL) {
        errtext_set(err, "token file %s is empty or spans several lines", c->token_file);
        kc_wipe_free(buf);
        return -EINVAL;
    }
    kc_wipe_free(c->token);
    c->token = buf;
    c->tok_dev = st->st_dev;
    c->tok_ino = st->st_ino;
    c->tok_size = st->st_size;
    c->tok_mtime = st->st_mtim;
    c->tok_read_ns = now;
    return 0;
}

int kubeconfig_token_get(kubeconfig_t *c, const char **ret_token, errtext_t *err)
{
    struct stat st;
    int64_t now;
    int r;

    if (!c->token_file) {
        *ret_token = c->token;
        return 0;
    }
    now = kc_now_ns();
    /* stat() follows the ..data symlink kubelet swaps on rotation, so a new token is a new
     * inode. */
    if (stat(c->token_file, &st) < 0) {
        r = -errno;
        errtext_set(err, "could not read token file %s: %s", c->token_file, strerror(-r));
    } else if (kc_token_unchanged(c, &st, now)) {
        r = 0;
    } else {
        r = kc_token_reread(c, &st, now, err);
    }
    if (r < 0 && !c->token)
        return r;
    *ret_token = c->token;
    return 0;
}

void kubeconfig_token_invalidate(kubeconfig_t *c)
{
    c->tok_read_ns = 0;
}

static void kc_blob_free(kubeconfig_blob_t *b)
{
    free(b->path);
    base64_free_secret(b->data, b->data ? b->len + 1 : 0);
}

kubeconfig_t *kubeconfig_free(kubeconfig_t *c)
{
    if (!c)
        return NULL;
    free(c->source);
    free(c->context);
    free(c->server);
    free(c->ns);
    free(c->proxy_url);
    kc_blob_free(&c->ca);
    kc_blob_free(&c->client_cert);
    kc_blob_free(&c->client_key);
    kc_wipe_free(c->token);
    free(c->token_file);
    free(c);
    return NULL;
}
