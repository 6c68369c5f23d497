/*
 * Unit tests of common/base64: RFC 4648 vectors both ways, PEM-style line breaks, and strict
 * refusal of corrupted input (kubeconfig *-data fields, Secret data).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/base64.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *plain, *encoded;
} vectors[] = {{"", ""},
               {"f", "Zg=="},
               {"fo", "Zm8="},
               {"foo", "Zm9v"},
               {"foob", "Zm9vYg=="},
               {"fooba", "Zm9vYmE="},
               {"foobar", "Zm9vYmFy"}};

/* Proves the RFC 4648 test vectors encode and decode. */
static void test_base64_decode_rfc4648_vectors(void **state)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        unsigned char *out = NULL;
        size_t len = 99;
        char *enc = base64_encode(vectors[i].plain, strlen(vectors[i].plain));

        assert_string_equal(enc, vectors[i].encoded);
        free(enc);
        assert_int_equal(base64_decode(vectors[i].encoded, strlen(vectors[i].encoded), &out, &len),
                         0);
        assert_int_equal(len, strlen(vectors[i].plain));
        assert_memory_equal(out, vectors[i].plain, len);
        assert_int_equal(out[len], '\0');
        base64_free_secret(out, len);
    }
}

/* Proves that unpadded input and line breaks are accepted. */
static void test_base64_decode_lenient_layout(void **state)
{
    unsigned char *out = NULL;
    size_t len = 0;

    assert_int_equal(base64_decode("Zm9vYg", 6, &out, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(out, "foob", 4);
    base64_free_secret(out, len);
    assert_int_equal(base64_decode("Zm9v\nYmFy\r\n", 11, &out, &len), 0);
    assert_memory_equal(out, "foobar", 6);
    base64_free_secret(out, len);
}

/* Proves that foreign bytes, data after padding and impossible lengths are refused. */
static void test_base64_decode_rejects_corruption(void **state)
{
    static const char *const bad[] = {"Zm9v!", "Zg==Zg==", "Z", "Zm9vY", "Zg===", "Zm9=v", "Zm-v"};
    unsigned char *out = (unsigned char *)0x1;
    size_t len = 7;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(base64_decode(bad[i], strlen(bad[i]), &out, &len), -EINVAL);
    assert_ptr_equal(out, (unsigned char *)0x1);
    assert_int_equal(len, 7);
}

/* Proves binary data round-trips (keys are binary after PEM decoding). */
static void test_base64_encode_binary_roundtrip(void **state)
{
    unsigned char in[256], *out = NULL;
    size_t len = 0;
    char *enc;

    for (int i = 0; i < 256; i++)
        in[i] = (unsigned char)(255 - i);
    enc = base64_encode(in, sizeof in);
    assert_int_equal(base64_decode(enc, strlen(enc), &out, &len), 0);
    assert_int_equal(len, sizeof in);
    assert_memory_equal(out, in, len);
    free(enc);
    base64_free_secret(out, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_decode_rfc4648_vectors),
        cmocka_unit_test(test_base64_decode_lenient_layout),
        cmocka_unit_test(test_base64_decode_rejects_corruption),
        cmocka_unit_test(test_base64_encode_binary_roundtrip),
    };
    return cmocka_run_group_tests_name("base64", tests, NULL, NULL);
}
