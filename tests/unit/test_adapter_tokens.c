/*
 * Bearer tokens (adapter/tokens.c): the Authorization header as k8s.io/apiserver's bearertoken
 * authenticator reads it, the TokenReview's user as an identity, and the cache: answers kept
 * for the TTL per token (never the token itself), rejections cached too, failed reviews not,
 * one review shared by concurrent requests, waiters that went away not woken, a full queue
 * answered BUSY, no cluster answered DENIED. The review threads are replaced by a capturing
 * submit function (the test plays the API server's answer); everything else is the real code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "adapter/adp_kube.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- the header -------------------------------------------------------------------------- */

static int bearer(const char *value, char *out, size_t cap)
{
    adp_http_req_t req = {0};
    adp_slice_t tok;
    int r;

    if (value) {
        req.nheaders = 2;
        req.headers[0] = (adp_http_header_t){{"Host", 4}, {"x", 1}};
        req.headers[1] = (adp_http_header_t){{"authorization", 13}, {value, strlen(value)}};
    }
    r = adp_bearer_token(&req, &tok);
    if (r == 0)
        snprintf(out, cap, "%.*s", (int)tok.n, tok.p);
    return r;
}

static void test_adp_bearer_token_header_forms(void **state)
{
    char t[64];

    assert_int_equal(bearer("Bearer abc.def", t, sizeof t), 0);
    assert_string_equal(t, "abc.def");
    assert_int_equal(bearer("bearer abc", t, sizeof t), 0); /* the scheme is case-insensitive */
    assert_string_equal(t, "abc");
    assert_int_equal(bearer("BEARER abc extra", t, sizeof t), 0); /* up to the next space */
    assert_string_equal(t, "abc");
    assert_int_equal(bearer("Bearer  abc", t, sizeof t), -ENOENT); /* empty token */
    assert_int_equal(bearer("Bearer ", t, sizeof t), -ENOENT);
    assert_int_equal(bearer("Bearer", t, sizeof t), -ENOENT);
    assert_int_equal(bearer("Basic dXNlcjpwYXNz", t, sizeof t), -ENOENT);
    assert_int_equal(bearer("Bearerabc", t, sizeof t), -ENOENT);
    assert_int_equal(bearer(NULL, t, sizeof t), -ENOENT);
}

static void test_adp_bearer_token_too_long_is_refused(void **state)
{
    size_t n = ADP_TOKEN_MAX + 8;
    char *v = malloc(n + 1), t[8];

    memcpy(v, "Bearer ", 7);
    memset(v + 7, 'a', n - 7);
    v[n] = '\0';
    assert_int_equal(bearer(v, t, sizeof t), -ENOENT);
    free(v);
}

/* ---- status.user ------------------------------------------------------------------------- */

static void test_adp_token_user_parse_takes_user_groups_extra(void **state)
{
    adp_arena_t a = {0};
    adp_identity_t id;
    cJSON *u = cJSON_Parse("{\"username\":\"system:serviceaccount:ns:sa\",\"uid\":\"u-1\","
                           "\"groups\":[\"system:serviceaccounts\",\"system:serviceaccounts:ns\","
                           "\"system:serviceaccounts\",\"system:authenticated\"],"
                           "\"extra\":{\"authentication.kubernetes.io/pod-name\":[\"p\"],"
                           "\"scopes\":[\"a\",\"b\"]}}");

    assert_int_equal(adp_token_user_parse(u, &a, &id), 0);
    assert_string_equal(id.user, "system:serviceaccount:ns:sa");
    assert_string_equal(id.uid, "u-1");
    assert_int_equal(id.ngroups, 3); /* the repeated group once */
    assert_string_equal(id.groups[1], "system:serviceaccounts:ns");
    assert_int_equal(id.nextras, 3);
    assert_string_equal(id.extras[0].key, "authentication.kubernetes.io/pod-name");
    assert_string_equal(id.extras[2].value, "b");
    assert_string_equal(id.via, "bearer-token");
    cJSON_Delete(u);
    adp_arena_free(&a);
}

static void test_adp_token_user_parse_refuses_nameless_and_oversized(void **state)
{
    adp_arena_t a = {0};
    adp_identity_t id;
    cJSON *none = cJSON_Parse("{\"groups\":[\"g\"]}");
    cJSON *big = cJSON_Parse("{\"username\":\"u\"}");
    cJSON *groups = cJSON_AddArrayToObject(big, "groups");
    char g[16];

    for (int i = 0; i < ADP_GROUPS_MAX + 1; i++) {
        snprintf(g, sizeof g, "g%d", i);
        cJSON_AddItemToArray(groups, cJSON_CreateString(g));
    }
    assert_int_equal(adp_token_user_parse(none, &a, &id), -EINVAL);
    assert_int_equal(adp_token_user_parse(NULL, &a, &id), -EINVAL);
    assert_int_equal(adp_token_user_parse(big, &a, &id), -E2BIG);
    cJSON_Delete(none);
    cJSON_Delete(big);
    adp_arena_free(&a);
}

/* ---- the cache --------------------------------------------------------------------------- */

typedef struct fake {
    adp_review_t *submitted[8];
    int nsubmitted;
    bool full;
    int woken;
    void *last_waiter;
    adp_token_result_t last_result;
    char last_user[64];
} fake_t;

static fake_t F;

static int fake_submit(void *ud, adp_review_t *rv)
{
    fake_t *f = ud;

    if (f->full || f->nsubmitted == 8)
        return -EAGAIN;
    f->submitted[f->nsubmitted++] = rv;
    return 0;
}

static void fake_wake(void *waiter, adp_token_result_t result, const cJSON *user)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(user, "username");

    F.woken++;
    F.last_waiter = waiter;
    F.last_result = result;
    snprintf(F.last_user, sizeof F.last_user, "%s", cJSON_IsString(name) ? name->valuestring : "");
}

static int setup(void **state)
{
    memset(&F, 0, sizeof F);
    return 0;
}

static adp_slice_t slice(const char *s)
{
    return (adp_slice_t){s, strlen(s)};
}

/* The API server's answer to the last submitted review. */
static adp_review_t *answer(bool authenticated, const char *user, int err)
{
    adp_review_t *rv = F.submitted[--F.nsubmitted];

    assert_int_equal(rv->kind, ADP_REVIEW_TOKEN);
    rv->err = err;
    rv->token_authenticated = authenticated;
    if (authenticated) {
        rv->token_user = cJSON_CreateObject();
        cJSON_AddStringToObject(rv->token_user, "username", user);
    }
    return rv;
}

static void test_adp_tokens_review_body_holds_the_escaped_token(void **state)
{
    adp_tokens_t *tk = adp_tokens_new(fake_submit, &F, 10000, fake_wake);
    adp_arena_t a = {0};
    adp_identity_t id;
    cJSON *body;

    assert_int_equal(adp_tokens_check(tk, slice("ab\"c\\d"), (void *)1, &a, 0, &id),
                     ADP_TOKEN_PENDING);
    assert_int_equal(F.nsubmitted, 1);
    body = cJSON_Parse(F.submitted[0]->body_token);
    assert_non_null(body);
    assert_string_equal(cJSON_GetObjectItem(body, "kind")->valuestring, "TokenReview");
    assert_string_equal(cJSON_GetObjectItem(body, "apiVersion")->valuestring,
                        "authentication.k8s.io/v1");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(body, "spec"), "token")->valuestring, "ab\"c\\d");
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "spec"), "audiences"));
    cJSON_Delete(body);
    adp_tokens_complete(tk, answer(false, NULL, 0), 1);
    adp_tokens_free(tk);
    adp_arena_free(&a);
}

static void test_adp_tokens_check_caches_answers_for_the_ttl(void **state)
{
    adp_tokens_t *tk = adp_tokens_new(fake_submit, &F, 10000, fake_wake);
    adp_arena_t a = {0};
    adp_identity_t id;

    assert_int_equal(adp_tokens_check(tk, slice("good"), (void *)1, &a, 1000, &id),
                     ADP_TOKEN_PENDING);
    adp_tokens_complete(tk, answer(true, "alice", 0), 1000);
    assert_int_equal(F.woken, 1);
    assert_int_equal(F.last_result, ADP_TOKEN_OK);
    assert_string_equal(F.last_user, "alice");
    /* from the cache until the TTL passes: no review */
    assert_int_equal(adp_tokens_check(tk, slice("good"), (void *)2, &a, 10999, &id), ADP_TOKEN_OK);
    assert_string_equal(id.user, "alice");
    assert_int_equal(F.nsubmitted, 0);
    assert_int_equal(adp_tokens_counts(tk)->cache_hits, 1);
    assert_int_equal(adp_tokens_counts(tk)->authenticated, 1);
    /* another token is another entry */
    assert_int_equal(adp_tokens_check(tk, slice("goodx"), (void *)3, &a, 10999, &id),
                     ADP_TOKEN_PENDING);
    adp_tokens_complete(tk, answer(false, NULL, 0), 10999);
    assert_int_equal(F.last_result, ADP_TOKEN_DENIED);
    assert_int_equal(adp_tokens_cached(tk), 2);
    /* expired: asked again */
    assert_int_equal(adp_tokens_check(tk, slice("good"), (void *)4, &a, 11000, &id),
                     ADP_TOKEN_PENDING);
    adp_tokens_complete(tk, answer(true, "alice", 0), 11000);
    adp_tokens_free(tk);
    adp_arena_free(&a);
}

static void test_adp_tokens_check_caches_rejections_not_failures(void **state)
{
    adp_tokens_t *tk = adp_tokens_new(fake_submit, &F, 10000, fake_wake);
    adp_arena_t a = {0};
    adp_identity_t id;

    assert_int_equal(adp_tokens_check(tk, slice("bad"), (void *)1, &a, 0, &id), ADP_TOKEN_PENDING);
    adp_tokens_complete(tk, answer(false, NULL, 0), 0);
    assert_int_equal(adp_tokens_check(tk, slice("bad"), (void *)1, &a, 5000, &id),
                     ADP_TOKEN_DENIED);
    assert_int_equal(F.nsubmitted, 0);
    /* a review that failed is not remembered */
    assert_int_equal(adp_tokens_check(tk, slice("flaky"), (void *)2, &a, 0, &id),
                     ADP_TOKEN_PENDING);
    adp_tokens_complete(tk, answer(false, NULL, -ETIMEDOUT), 0);
    assert_int_equal(F.last_result, ADP_TOKEN_ERROR);
    assert_int_equal(adp_tokens_counts(tk)->errors, 1);
    assert_int_equal(adp_tokens_counts(tk)->unauthenticated, 1);
    assert_int_equal(adp_tokens_check(tk, slice("flaky"), (void *)2, &a, 1, &id),
                     ADP_TOKEN_PENDING);
    adp_tokens_complete(tk, answer(true, "bob", 0), 1);
    adp_tokens_free(tk);
    adp_arena_free(&a);
}

static void test_adp_tokens_check_shares_one_review_and_skips_forgotten(void **state)
{
    adp_tokens_t *tk = adp_tokens_new(fake_submit, &F, 10000, fake_wake);
    adp_arena_t a = {0};
    adp_identity_t id;

    for (uintptr_t w = 1; w <= 3; w++)
        assert_int_equal(adp_tokens_check(tk, slice("t"), (void *)w, &a, 0, &id),
                         ADP_TOKEN_PENDING);
    assert_int_equal(F.nsubmitted, 1);
    adp_tokens_forget(tk, (void *)3); /* its connection closed */
    adp_tokens_complete(tk, answer(true, "carol", 0), 0);
    assert_int_equal(F.woken, 2);
    assert_ptr_equal(F.last_waiter, (void *)2);
    adp_tokens_free(tk);
    adp_arena_free(&a);
}

static void test_adp_tokens_check_busy_and_no_cluster(void **state)
{
    adp_tokens_t *tk = adp_tokens_new(fake_submit, &F, 10000, fake_wake);
    adp_tokens_t *none = adp_tokens_new(NULL, NULL, 10000, fake_wake);
    adp_arena_t a = {0};
    adp_identity_t id;

    F.full = true;
    assert_int_equal(adp_tokens_check(tk, slice("t"), (void *)1, &a, 0, &id), ADP_TOKEN_BUSY);
    F.full = false;
    assert_int_equal(adp_tokens_check(tk, slice("t"), (void *)1, &a, 0, &id), ADP_TOKEN_PENDING);
    adp_tokens_complete(tk, answer(false, NULL, 0), 0);
    assert_int_equal(adp_tokens_check(none, slice("t"), (void *)1, &a, 0, &id), ADP_TOKEN_DENIED);
    adp_tokens_free(tk);
    adp_tokens_free(none);
    adp_arena_free(&a);
}

static void test_adp_tokens_ttl_zero_caches_nothing(void **state)
{
    adp_tokens_t *tk = adp_tokens_new(fake_submit, &F, 0, fake_wake);
    adp_arena_t a = {0};
    adp_identity_t id;

    assert_int_equal(adp_tokens_check(tk, slice("t"), (void *)1, &a, 0, &id), ADP_TOKEN_PENDING);
    adp_tokens_complete(tk, answer(true, "dave", 0), 0);
    assert_int_equal(adp_tokens_cached(tk), 0);
    assert_int_equal(adp_tokens_check(tk, slice("t"), (void *)1, &a, 0, &id), ADP_TOKEN_PENDING);
    adp_tokens_complete(tk, answer(true, "dave", 0), 0);
    adp_tokens_free(tk);
    adp_arena_free(&a);
}

static void test_adp_tokens_cache_is_bounded(void **state)
{
    adp_tokens_t *tk = adp_tokens_new(fake_submit, &F, 10000, fake_wake);
    adp_arena_t a = {0};
    adp_identity_t id;
    char t[32];

    for (int i = 0; i < ADP_TOKEN_CACHE_MAX + 10; i++) {
        snprintf(t, sizeof t, "token-%d", i);
        assert_int_equal(adp_tokens_check(tk, slice(t), (void *)1, &a, (uint64_t)i, &id),
                         ADP_TOKEN_PENDING);
        adp_tokens_complete(tk, answer(false, NULL, 0), (uint64_t)i);
    }
    assert_int_equal(adp_tokens_cached(tk), ADP_TOKEN_CACHE_MAX);
    /* the newest stay, the ones closest to expiring went */
    snprintf(t, sizeof t, "token-%d", ADP_TOKEN_CACHE_MAX + 9);
    assert_int_equal(adp_tokens_check(tk, slice(t), (void *)1, &a, ADP_TOKEN_CACHE_MAX + 9, &id),
                     ADP_TOKEN_DENIED);
    assert_int_equal(
        adp_tokens_check(tk, slice("token-0"), (void *)1, &a, ADP_TOKEN_CACHE_MAX + 9, &id),
        ADP_TOKEN_PENDING);
    adp_tokens_complete(tk, answer(false, NULL, 0), 0);
    adp_tokens_free(tk);
    adp_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adp_bearer_token_header_forms),
        cmocka_unit_test(test_adp_bearer_token_too_long_is_refused),
        cmocka_unit_test(test_adp_token_user_parse_takes_user_groups_extra),
        cmocka_unit_test(test_adp_token_user_parse_refuses_nameless_and_oversized),
        cmocka_unit_test_setup(test_adp_tokens_review_body_holds_the_escaped_token, setup),
        cmocka_unit_test_setup(test_adp_tokens_check_caches_answers_for_the_ttl, setup),
        cmocka_unit_test_setup(test_adp_tokens_check_caches_rejections_not_failures, setup),
        cmocka_unit_test_setup(test_adp_tokens_check_shares_one_review_and_skips_forgotten, setup),
        cmocka_unit_test_setup(test_adp_tokens_check_busy_and_no_cluster, setup),
        cmocka_unit_test_setup(test_adp_tokens_ttl_zero_caches_nothing, setup),
        cmocka_unit_test_setup(test_adp_tokens_cache_is_bounded, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
