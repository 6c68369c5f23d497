/*
 * Unit tests of scale-target resolution (common/k8s_discovery.c) over discovery documents
 * recorded from kube-apiserver v1.34 (tests/data/k8s/discovery-{apps,core}-v1.json): kind to
 * plural, namespaced, and whether a usable /scale subresource exists.
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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char data_dir[PATH_MAX];

static cJSON *read_json(const char *name)
{
    char path[PATH_MAX * 2];
    cJSON *obj = NULL;
    char *buf;
    long len;
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", data_dir, name);
    f = fopen(path, "re");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    assert_int_equal(jsonu_parse(buf, (size_t)len, &obj, NULL), 0);
    free(buf);
    return obj;
}

static void expect_kind(const cJSON *doc, const char *kind, const char *plural, bool namespaced,
                        bool has_scale)
{
    k8s_resolved_t r;

    memset(&r, 0, sizeof r);
    assert_int_equal(k8s_discovery_find(doc, kind, &r), 0);
    assert_string_equal(r.resource, plural);
    assert_int_equal(r.namespaced, namespaced);
    assert_int_equal(r.has_scale, has_scale);
}

/* Proves apps/v1 kinds resolve, and only the ones with /scale say so. */
static void test_k8s_discovery_find_apps(void **state)
{
    cJSON *doc = read_json("discovery-apps-v1.json");
    k8s_resolved_t r;

    expect_kind(doc, "Deployment", "deployments", true, true);
    expect_kind(doc, "StatefulSet", "statefulsets", true, true);
    expect_kind(doc, "ReplicaSet", "replicasets", true, true);
    expect_kind(doc, "DaemonSet", "daemonsets", true, false);
    expect_kind(doc, "ControllerRevision", "controllerrevisions", true, false);
    /* "Scale" is the kind of the deployments/scale entry, never a resource of its own */
    assert_int_equal(k8s_discovery_find(doc, "Scale", &r), -ENOENT);
    assert_int_equal(k8s_discovery_find(doc, "deployment", &r), -ENOENT);
    cJSON_Delete(doc);
}

/* Proves core kinds, cluster-scoped ones, and that a missing resources list is not found. */
static void test_k8s_discovery_find_core(void **state)
{
    cJSON *doc = read_json("discovery-core-v1.json"), *empty = cJSON_CreateObject();
    k8s_resolved_t r;

    expect_kind(doc, "ReplicationController", "replicationcontrollers", true, true);
    expect_kind(doc, "ConfigMap", "configmaps", true, false);
    expect_kind(doc, "Namespace", "namespaces", false, false);
    assert_int_equal(k8s_discovery_find(empty, "ConfigMap", &r), -ENOENT);
    cJSON_Delete(doc);
    cJSON_Delete(empty);
}

/* Proves a /scale entry without update or patch does not count. */
static void test_k8s_discovery_find_scale_verbs(void **state)
{
    cJSON *doc = cJSON_Parse(
        "{\"resources\":[{\"name\":\"widgets\",\"kind\":\"Widget\",\"namespaced\":true},"
        "{\"name\":\"widgets/scale\",\"kind\":\"Scale\",\"verbs\":[\"get\"]},"
        "{\"name\":\"gadgets\",\"kind\":\"Gadget\",\"namespaced\":true},"
        "{\"name\":\"gadgets/scale\",\"kind\":\"Scale\",\"verbs\":[\"get\",\"patch\"]}]}");

    expect_kind(doc, "Widget", "widgets", true, false);
    expect_kind(doc, "Gadget", "gadgets", true, true);
    cJSON_Delete(doc);
}

/* Proves a malformed apiVersion is refused before any request. */
static void test_k8s_discovery_resolve_malformed(void **state)
{
    char path[] = "/tmp/ckeda-test-kc-XXXXXX";
    kubeconfig_t *cfg = NULL;
    k8s_client_t *c;
    k8s_resolved_t r;
    k8s_error_t err;
    FILE *f = fdopen(mkstemp(path), "w");

    fputs("clusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\n"
          "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
          f);
    fclose(f);
    assert_int_equal(kubeconfig_load(path, NULL, &cfg, NULL), 0);
    unlink(path);
    c = k8s_client_new(cfg, NULL);
    assert_int_equal(k8s_discovery_resolve(c, "a/b/c", "X", &r, &err), -EINVAL);
    assert_int_equal(k8s_discovery_resolve(c, "apps/", "X", &r, &err), -EINVAL);
    assert_int_equal(k8s_discovery_resolve(c, "../v1", "X", &r, &err), -EINVAL);
    /* well-formed: reaches the (closed) server */
    assert_int_equal(k8s_discovery_resolve(c, NULL, NULL, &r, &err), -ECONNREFUSED);
    k8s_client_free(c);
    kubeconfig_free(cfg);
}

int main(void)
{
    const char *base = getenv("CKEDA_TEST_DATA");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_k8s_discovery_find_apps),
        cmocka_unit_test(test_k8s_discovery_find_core),
        cmocka_unit_test(test_k8s_discovery_find_scale_verbs),
        cmocka_unit_test(test_k8s_discovery_resolve_malformed),
    };

    if (!base) {
        fprintf(stderr, "CKEDA_TEST_DATA is not set\n");
        return 1;
    }
    snprintf(data_dir, sizeof data_dir, "%s/k8s", base);
    return cmocka_run_group_tests_name("k8s_discovery", tests, NULL, NULL);
}
