/*
 * Fuzz harness: the kubeconfig loader (common/kubeconfig.c, libyaml underneath) on arbitrary
 * files. The input is written to "config" in a fresh directory of its own, beside the files a
 * kubeconfig may name relatively: a token file, a CA and a client certificate and key (only
 * checked for readability), a second kubeconfig "base" to merge with, and hostile entries a
 * path may lead to (a FIFO, a directory, a symlink loop, an empty and a multi-line token).
 *
 * Each input is loaded three ways: with its current-context; with the context named by its
 * first line (a leading '#' and blanks skipped, so a seed can choose one in a YAML comment);
 * and as the list "config:base", with that context if the first line is a comment, else with
 * the current-context. Any input must give a config or -errno with
 * a message, in bounded time, with nothing leaked or read out of bounds. A config must hold
 * what kubeconfig.h promises: a server URL without a trailing '/', a namespace, at most one
 * source per certificate or key, a certificate together with its key, a CA or
 * insecure-skip-tls-verify but not both, the token of its token file. No message may quote the
 * token file's secret (unless the input spells it itself).
 */
#include "common/kubeconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_TOKEN "fuzz-token-0f1e2d3c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_base[] =
    "apiVersion: v1\nkind: Config\n"
    "clusters: [{name: base, cluster: {server: \"https://base.example:6443/\","
    " certificate-authority: ca.crt}}]\n"
    "users: [{name: base, user: {tokenFile: token}}]\n"
    "contexts: [{name: base, context: {cluster: base, user: base, namespace: base}}]\n"
    "current-context: base\n";

/* What a path in the input may name, beside the input itself. */
typedef enum { FUZZ_FILE, FUZZ_DIR, FUZZ_FIFO, FUZZ_LOOP } fuzz_kind_t;

static const struct {
    const char *name;
    fuzz_kind_t kind;
    const char *content; /* FUZZ_FILE only */
} fuzz_files[] = {
    {"base", FUZZ_FILE, fuzz_base},
    {"token", FUZZ_FILE, FUZZ_TOKEN "\n"},
    {"token-empty", FUZZ_FILE, ""},
    {"token-lines", FUZZ_FILE, "one\ntwo\n"},
    {"ca.crt", FUZZ_FILE, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"},
    {"client.crt", FUZZ_FILE, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"},
    {"client.key", FUZZ_FILE, "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"},
    {"dir", FUZZ_DIR, NULL},
    {"fifo", FUZZ_FIFO, NULL},
    {"loop", FUZZ_LOOP, NULL}, /* a symlink to itself */
};

static int fuzz_write(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "we");
    int r = 0;

    if (!f)
        return -1;
    if (len && fwrite(buf, 1, len, f) != len)
        r = -1;
    if (fclose(f) != 0)
        r = -1;
    return r;
}

static int fuzz_dir_make(const char *dir, const uint8_t *data, size_t size)
{
    char path[128];

    if (mkdir(dir, 0700) < 0)
        return -1;
    for (size_t i = 0; i < sizeof fuzz_files / sizeof *fuzz_files; i++) {
        int r = -1;
        snprintf(path, sizeof path, "%s/%s", dir, fuzz_files[i].name);
        switch (fuzz_files[i].kind) {
        case FUZZ_FILE:
            r = fuzz_write(path, fuzz_files[i].content, strlen(fuzz_files[i].content));
            break;
        case FUZZ_DIR:
            r = mkdir(path, 0700);
            break;
        case FUZZ_FIFO:
            r = mkfifo(path, 0600);
            break;
        case FUZZ_LOOP:
            r = symlink(fuzz_files[i].name, path);
            break;
        }
        if (r < 0)
            return -1;
    }
    snprintf(path, sizeof path, "%s/config", dir);
    return fuzz_write(path, data, size);
}

static void fuzz_dir_remove(const char *dir)
{
    char path[128];

    for (size_t i = 0; i < sizeof fuzz_files / sizeof *fuzz_files; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, fuzz_files[i].name);
        if (unlink(path) < 0)
            (void)rmdir(path);
    }
    snprintf(path, sizeof path, "%s/config", dir);
    unlink(path);
    rmdir(dir);
}

static void fuzz_blob_check(const kubeconfig_blob_t *b)
{
    if (b->path && b->data)
        abort();
    if (!b->data && b->len)
        abort();
}

static void fuzz_config_check(kubeconfig_t *c, const char *context)
{
    const char *tok = NULL;
    errtext_t err;
    size_t n;

    if (!c->source || !c->server || !c->ns || !*c->ns || !c->context)
        abort();
    if (context && strcmp(context, c->context) != 0)
        abort();
    if (strncmp(c->server, "https://", 8) != 0 && strncmp(c->server, "http://", 7) != 0)
        abort();
    n = strlen(c->server);
    if (n > 8 && c->server[n - 1] == '/')
        abort();
    fuzz_blob_check(&c->ca);
    fuzz_blob_check(&c->client_cert);
    fuzz_blob_check(&c->client_key);
    if (!(c->client_cert.path || c->client_cert.data) !=
        !(c->client_key.path || c->client_key.data))
        abort();
    if (c->insecure_skip_tls_verify && (c->ca.path || c->ca.data))
        abort();
    if (c->token_file && !c->token)
        abort(); /* the file was read while loading */
    if (kubeconfig_token_get(c, &tok, &err) < 0 || tok != c->token)
        abort();
}

/* spelled: the input itself holds the token text (in a name, say), so a message may quote it
 * without having read the token file. */
static void fuzz_load(const char *path, const char *context, bool spelled)
{
    kubeconfig_t *c = NULL;
    errtext_t err;
    int r;

    err.text[0] = '\0';
    r = kubeconfig_load(path, context, &c, &err);
    if (r < 0) {
        if (c || !err.text[0] || (!spelled && strstr(err.text, FUZZ_TOKEN)))
            abort(); /* a failure says why, and never quotes a credential */
        return;
    }
    fuzz_config_check(c, context);
    kubeconfig_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[64], path[128], list[256], context[254];
    bool named = size > 0 && data[0] == '#';
    size_t i = 0, n = 0;

    snprintf(dir, sizeof dir, "/tmp/ckeda-fuzz-kc-%d", (int)getpid());
    fuzz_dir_remove(dir); /* left over by a run that crashed */
    if (fuzz_dir_make(dir, data, size) < 0) {
        fuzz_dir_remove(dir);
        return 0;
    }
    if (named)
        i++;
    while (i < size && data[i] == ' ')
        i++;
    while (i < size && n < sizeof context - 1 && data[i] != '\n' && data[i] != '\0')
        context[n++] = (char)data[i++];
    context[n] = '\0';
    snprintf(path, sizeof path, "%s/config", dir);
    snprintf(list, sizeof list, "%s/config:%s/base", dir, dir);
    bool spelled = memmem(data, size, FUZZ_TOKEN, strlen(FUZZ_TOKEN)) != NULL;
    fuzz_load(path, NULL, spelled);
    fuzz_load(path, context, spelled);
    fuzz_load(list, named ? context : NULL, spelled);
    fuzz_dir_remove(dir);
    return 0;
}
