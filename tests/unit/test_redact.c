/*
 * Redaction: no credential survives into the table, a log line or a status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/redact.h"

#include <string.h>

static void check(const char *in, const char *want)
{
    char out[512];
    redact_text(in, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_redact_text_url_userinfo_and_query(void **state)
{
    check("dial redis://user:s3cret@10.0.0.1:6379/0 failed",
          "dial redis://REDACTED@10.0.0.1:6379/0 failed");
    check("GET https://h/api?token=abc&x=1 returned 401",
          "GET https://h/api?REDACTED returned 401");
    check("amqp://guest:guest@rabbit/vhost", "amqp://REDACTED@rabbit/vhost");
}

static void test_redact_text_credential_keys(void **state)
{
    check("password=hunter2 rest", "password=REDACTED rest");
    check("redisPassword: hunter2", "redisPassword: REDACTED");
    check("{\"token\": \"abc\", \"n\": 1}", "{\"token\": \"REDACTED\", \"n\": 1}");
    check("Authorization: Bearer eyJhbGci.x.y", "Authorization: Bearer REDACTED");
    check("x-api-key=123;next", "x-api-key=REDACTED;next");
}

/* A quoted value whose quote never closes ends with the text (found by fuzzing: the scan went
 * past the terminating NUL). */
static void test_redact_text_unterminated_quote_ends_at_the_text(void **state)
{
    check("{\"apiKey\":\"k3y", "{\"apiKey\":\"REDACTED");
    check("password='abc", "password='REDACTED");
    check("token: \"", "token: \"");
}

static void test_redact_text_leaves_plain_errors(void **state)
{
    check("connect to 127.0.0.1:6379: connection refused",
          "connect to 127.0.0.1:6379: connection refused");
    check("metadata.listName: is required", "metadata.listName: is required");
    check("", "");
}

static void test_redact_text_truncates_safely(void **state)
{
    char out[8];
    redact_text("password=hunter2", out, sizeof out);
    assert_int_equal(strlen(out), 7);
    assert_null(strstr(out, "hunter"));
    redact_text("anything", out, 1);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact_text_url_userinfo_and_query),
        cmocka_unit_test(test_redact_text_credential_keys),
        cmocka_unit_test(test_redact_text_unterminated_quote_ends_at_the_text),
        cmocka_unit_test(test_redact_text_leaves_plain_errors),
        cmocka_unit_test(test_redact_text_truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
