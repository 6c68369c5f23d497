/*
 * Unit tests of common/kubeconfig: kubeconfig variants from tests/data/k8s/kubeconfig (files,
 * inline data, tokens, contexts, merging of a KUBECONFIG list), every refused or malformed
 * entry with a message naming the file and the key, the in-cluster service account, and token
 * rotation. In-cluster and rotation tests build their files in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/kubeconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char data_dir[PATH_MAX];

static const char *kc_path(const char *name)
{
    static char path[PATH_MAX * 2];

    snprintf(path, sizeof path, "%s/%s", data_dir, name);
    return path;
}

static kubeconfig_t *load_ok(const char *name, const char *context)
{
    kubeconfig_t *c = NULL;
    errtext_t e = {{0}};
    int r = kubeconfig_load(kc_path(name), context, &c, &e);

    if (r != 0)
        fail_msg("loading %s: %d %s", name, r, e.text);
    return c;
}

/* Proves that current-context selects cluster, user and namespace, and that relative file
 * paths resolve against the kubeconfig's own directory. */
static void test_kubeconfig_load_current_context_files(void **state)
{
    kubeconfig_t *c = load_ok("basic.yaml", NULL);
    char want[PATH_MAX * 2];
    const char *tok = "x";

    assert_string_equal(c->context, "main");
    assert_string_equal(c->server, "https://127.0.0.1:6443"); /* trailing '/' dropped */
    assert_string_equal(c->ns, "apps");
    snprintf(want, sizeof want, "%s/pki/ca.crt", data_dir);
    assert_string_equal(c->ca.path, want);
    snprintf(want, sizeof want, "%s/pki/admin.key", data_dir);
    assert_string_equal(c->client_key.path, want);
    assert_null(c->ca.data);
    assert_false(c->insecure_skip_tls_verify);
    assert_int_equal(kubeconfig_token_get(c, &tok, NULL), 0);
    assert_null(tok);
    kubeconfig_free(c);
}

/* Proves that --context overrides current-context. */
static void test_kubeconfig_load_explicit_context(void **state)
{
    kubeconfig_t *c = load_ok("basic.yaml", "alt");
    const char *tok = NULL;

    assert_string_equal(c->server, "https://other.example:443");
    assert_true(c->insecure_skip_tls_verify);
    assert_string_equal(c->ns, "default");
    assert_int_equal(kubeconfig_token_get(c, &tok, NULL), 0);
    assert_string_equal(tok, "inline-token-abc");
    kubeconfig_free(c);
}

/* Proves that *-data is decoded into memory and wins over a file path, as in client-go. */
static void test_kubeconfig_load_inline_data(void **state)
{
    kubeconfig_t *c = load_ok("inline.yaml", NULL);

    assert_null(c->ca.path);
    assert_int_equal(c->ca.len, strlen("CA PEM BYTES"));
    assert_memory_equal(c->ca.data, "CA PEM BYTES", c->ca.len);
    assert_memory_equal(c->client_cert.data, "CERT PEM BYTES", c->client_cert.len);
    assert_int_equal(c->client_key.len, strlen("KEY PEM BYTES"));
    assert_memory_equal(c->client_key.data, "KEY PEM BYTES", c->client_key.len);
    kubeconfig_free(c);
}

/* Proves that tokenFile wins over token and is read relative to the kubeconfig. */
static void test_kubeconfig_load_token_file(void **state)
{
    kubeconfig_t *c = load_ok("tokenfile.yaml", NULL);
    const char *tok = NULL;

    assert_true(c->insecure_skip_tls_verify);
    assert_string_equal(c->ns, "default"); /* namespace: null */
    assert_int_equal(kubeconfig_token_get(c, &tok, NULL), 0);
    assert_string_equal(tok, "file-token-123"); /* trailing newline trimmed */
    kubeconfig_free(c);
}

/* Proves kubectl's merge rule over a KUBECONFIG list: the first file to define a name wins. */
static void test_kubeconfig_load_merged_list(void **state)
{
    char list[PATH_MAX * 3];
    kubeconfig_t *c = NULL;
    const char *tok = NULL;
    errtext_t e;

    snprintf(list, sizeof list, "%s/merge-a.yaml::%s/merge-b.yaml", data_dir, data_dir);
    assert_int_equal(kubeconfig_load(list, NULL, &c, &e), 0);
    assert_string_equal(c->context, "ctx");
    assert_string_equal(c->server, "https://first.example:6443");
    assert_int_equal(kubeconfig_token_get(c, &tok, NULL), 0);
    assert_string_equal(tok, "token-from-b");
    kubeconfig_free(c);
}

/* Proves each refused or malformed kubeconfig fails with the right errno and a message that
 * names the file and the key. */
static void test_kubeconfig_load_errors_name_file_and_key(void **state)
{
    static const struct {
        const char *file;
        int err;
        const char *text;
    } cases[] = {
        {"bad-no-server.yaml", -ENOENT, "clusters[name=c].cluster.server: missing"},
        {"bad-base64.yaml", -EINVAL,
         "clusters[name=c].cluster.certificate-authority-data: not valid base64"},
        {"bad-exec.yaml", -EINVAL, "users[name=u].user.exec: not supported by ckeda"},
        {"bad-no-context.yaml", -ENOENT, "context \"missing\" not found"},
        {"bad-no-current.yaml", -ENOENT, "no current-context and no context given"},
        {"bad-tls-server-name.yaml", -EINVAL,
         "clusters[name=c].cluster.tls-server-name: not supported"},
        {"bad-yaml.yaml", -EINVAL, "malformed YAML"},
        {"bad-missing-file.yaml", -ENOENT, "users[name=u].user.client-certificate: cannot read"},
        {"bad-cert-without-key.yaml", -EINVAL, "client-certificate and client-key must be given"},
        {"bad-insecure-with-ca.yaml", -EINVAL, "exclude each other"},
        {"bad-scheme.yaml", -EINVAL, "server: must start with https:// or http://"},
        {"bad-bool.yaml", -EINVAL, "insecure-skip-tls-verify: must be true or false"},
        {"bad-clusters-not-list.yaml", -EINVAL, "clusters: must be a list"},
        {"does-not-exist.yaml", -ENOENT, "could not read kubeconfig"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kubeconfig_t *c = (kubeconfig_t *)0x1;
        errtext_t e = {{0}};
        int r = kubeconfig_load(kc_path(cases[i].file), NULL, &c, &e);
        if (r != cases[i].err || !strstr(e.text, cases[i].text) || !strstr(e.text, cases[i].file))
            fail_msg("%s: got %d \"%s\", want %d with \"%s\"", cases[i].file, r, e.text,
                     cases[i].err, cases[i].text);
        assert_ptr_equal(c, (kubeconfig_t *)0x1);
    }
}

/* Proves that no error message ever contains a credential, only where it came from. */
static void test_kubeconfig_load_error_hides_values(void **state)
{
    kubeconfig_t *c = NULL;
    errtext_t e;

    assert_int_equal(kubeconfig_load(kc_path("bad-base64.yaml"), NULL, &c, &e), -EINVAL);
    assert_null(strstr(e.text, "not*base64"));
}

/* ---- in-cluster and rotation ---- */

typedef struct sa_dir {
    char path[64];
} sa_dir_t;

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256], tmp[260];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    f = fopen(tmp, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    /* a rename gives a new inode, as kubelet's atomic ..data swap does */
    assert_int_equal(rename(tmp, path), 0);
}

static int sa_setup(void **state)
{
    sa_dir_t *d = calloc(1, sizeof *d);

    snprintf(d->path, sizeof d->path, "/tmp/ckeda-test-sa-XXXXXX");
    if (!mkdtemp(d->path))
        return -1;
    write_file(d->path, "token", "sa-token-1\n");
    write_file(d->path, "ca.crt", "ca\n");
    write_file(d->path, "namespace", "keda\n");
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    *state = d;
    return 0;
}

static int sa_teardown(void **state)
{
    sa_dir_t *d = *state;
    char path[128];

    for (const char *const *n = (const char *const[]){"token", "ca.crt", "namespace", NULL}; *n;
         n++) {
        snprintf(path, sizeof path, "%s/%s", d->path, *n);
        unlink(path);
    }
    rmdir(d->path);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    free(d);
    return 0;
}

/* Proves the in-cluster account: server from the environment, CA, token and namespace files. */
static void test_kubeconfig_load_incluster_service_account(void **state)
{
    sa_dir_t *d = *state;
    kubeconfig_t *c = NULL;
    const char *tok = NULL;
    char want[128];
    errtext_t e;

    assert_int_equal(kubeconfig_load_incluster(d->path, &c, &e), 0);
    assert_string_equal(c->server, "https://10.96.0.1:443");
    assert_string_equal(c->ns, "keda");
    snprintf(want, sizeof want, "%s/ca.crt", d->path);
    assert_string_equal(c->ca.path, want);
    assert_int_equal(kubeconfig_token_get(c, &tok, NULL), 0);
    assert_string_equal(tok, "sa-token-1");
    kubeconfig_free(c);
}

/* Proves an IPv6 service host is bracketed and a missing environment is -ENXIO. */
static void test_kubeconfig_load_incluster_env(void **state)
{
    sa_dir_t *d = *state;
    kubeconfig_t *c = NULL;
    errtext_t e;

    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    assert_int_equal(kubeconfig_load_incluster(d->path, &c, &e), 0);
    assert_string_equal(c->server, "https://[fd00::1]:443");
    kubeconfig_free(c);
    c = NULL;
    setenv("KUBERNETES_SERVICE_PORT", "443/x", 1);
    assert_int_equal(kubeconfig_load_incluster(d->path, &c, &e), -EINVAL);
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(kubeconfig_load_incluster(d->path, &c, &e), -ENXIO);
    assert_null(c);
}

/* Proves that a rotated token file is picked up, and that a failed re-read keeps the old one. */
static void test_kubeconfig_token_get_rotation(void **state)
{
    sa_dir_t *d = *state;
    kubeconfig_t *c = NULL;
    const char *tok = NULL;
    char path[128];
    errtext_t e;

    assert_int_equal(kubeconfig_load_incluster(d->path, &c, &e), 0);
    assert_int_equal(kubeconfig_token_get(c, &tok, NULL), 0);
    assert_string_equal(tok, "sa-token-1");
    write_file(d->path, "token", "sa-token-2-longer\n");
    assert_int_equal(kubeconfig_token_get(c, &tok, NULL), 0);
    assert_string_equal(tok, "sa-token-2-longer");
    /* The file vanishes for a moment (mid-rotation): the last good token stays. */
    snprintf(path, sizeof path, "%s/token", d->path);
    unlink(path);
    assert_int_equal(kubeconfig_token_get(c, &tok, &e), 0);
    assert_string_equal(tok, "sa-token-2-longer");
    write_file(d->path, "token", "sa-token-3-xyz\n");
    kubeconfig_token_invalidate(c);
    assert_int_equal(kubeconfig_token_get(c, &tok, NULL), 0);
    assert_string_equal(tok, "sa-token-3-xyz");
    kubeconfig_free(c);
}

/* Proves that a missing token file at start-up is an error naming the file. */
static void test_kubeconfig_load_incluster_missing_token(void **state)
{
    sa_dir_t *d = *state;
    kubeconfig_t *c = NULL;
    char path[128];
    errtext_t e;

    snprintf(path, sizeof path, "%s/token", d->path);
    unlink(path);
    assert_int_equal(kubeconfig_load_incluster(d->path, &c, &e), -ENOENT);
    assert_non_null(strstr(e.text, path));
    assert_null(c);
}

/* Proves the search order: an explicit path first, then $KUBECONFIG, then in-cluster. */
static void test_kubeconfig_load_default_order(void **state)
{
    kubeconfig_t *c = NULL;
    errtext_t e;

    setenv("KUBECONFIG", kc_path("tokenfile.yaml"), 1);
    assert_int_equal(kubeconfig_load_default(kc_path("basic.yaml"), NULL, &c, &e), 0);
    assert_string_equal(c->context, "main");
    c = kubeconfig_free(c);
    assert_int_equal(kubeconfig_load_default(NULL, NULL, &c, &e), 0);
    assert_string_equal(c->context, "ctx");
    c = kubeconfig_free(c);
    unsetenv("KUBECONFIG");
}

int main(void)
{
    const char *base = getenv("CKEDA_TEST_DATA");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kubeconfig_load_current_context_files),
        cmocka_unit_test(test_kubeconfig_load_explicit_context),
        cmocka_unit_test(test_kubeconfig_load_inline_data),
        cmocka_unit_test(test_kubeconfig_load_token_file),
        cmocka_unit_test(test_kubeconfig_load_merged_list),
        cmocka_unit_test(test_kubeconfig_load_errors_name_file_and_key),
        cmocka_unit_test(test_kubeconfig_load_error_hides_values),
        cmocka_unit_test_setup_teardown(test_kubeconfig_load_incluster_service_account, sa_setup,
                                        sa_teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_load_incluster_env, sa_setup, sa_teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_token_get_rotation, sa_setup, sa_teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_load_incluster_missing_token, sa_setup,
                                        sa_teardown),
        cmocka_unit_test(test_kubeconfig_load_default_order),
    };

    if (!base) {
        fprintf(stderr, "CKEDA_TEST_DATA is not set\n");
        return 1;
    }
    snprintf(data_dir, sizeof data_dir, "%s/k8s/kubeconfig", base);
    return cmocka_run_group_tests_name("kubeconfig", tests, NULL, NULL);
}
