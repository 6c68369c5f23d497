/*
 * Unit tests of the rabbitmq scaler: its parameters against KEDA's own table
 * (rabbitmq_scaler_test.go: testRabbitMQMetadata, testRabbitMQAuthParamData; `hostFromEnv` rows
 * given `host` instead), defaults and KEDA's messages, the management API's URL and answers, each
 * mode's value and activity (rabbitmq_scaler.go: GetMetricsAndActivity), the watcher-side metric
 * name and target (common/scaler_spec.c, KEDA's golden names), and the AMQP 0-9-1 codec and
 * URIs (scaleworker/scalers/amqp.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sw_fixture.h"

#include "common/scaler_spec.h"
#include "scaleworker/scalers/amqp.h"
#include "scaleworker/scalers/rabbitmq.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define END NULL

/* "k=v" pairs; "@k=v" is an authentication parameter. */
static int parse(const char *const *kv, sw_rmq_cfg_t *c, char *err, size_t errlen)
{
    sw_fx_t f;
    sw_params_t p = sw_fx_of_kv(&f, kv);
    int r;

    p.so_namespace = "apps";
    p.so_name = "orders";
    err[0] = '\0';
    r = sw_rmq_cfg_parse(&p, c, err, errlen);
    sw_fx_fini(&f);
    return r;
}

typedef struct {
    const char *kv[10];
    bool is_error;
} case_t;

#define H "host=amqp://user:sercet@somehost.com:5236/vhost"

static void test_sw_rmq_cfg_parse_keda_cases(void **state)
{
    static const case_t cases[] = {
        {{END}, true},
        {{"queueLength=10", "queueName=sample", H, END}, false},
        {{"queueLength=AA", "queueName=sample", H, END}, true},
        {{"queueLength=AA", "queueName=sample", END}, true},
        {{"queueLength=10", H, END}, true},
        {{"queueLength=10", "@host=amqp://h/", END}, true}, /* no queueName */
        {{"queueLength=10", "queueName=sample", H, "protocol=http", END}, false},
        {{"queueLength=10", "queueName=namespace/name", H, END}, false},
        {{"vhostName=myVhost", "queueName=namespace/name", H, END}, false},
        {{"vhostName=", "queueName=namespace/name", H, END}, false},
        {{"queueName=sample", H, "@protocol=http", END}, false},
        {{"queueName=sample", "host=something://", END}, true},
        {{"queueName=sample", "host=http://", END}, false},
        {{"queueName=sample", "host=https://", END}, false},
        {{"queueLength=10", "mode=QueueLength", "queueName=sample", "host=https://", END}, true},
        {{"queueLength=10", "value=20", "queueName=sample", "host=https://", END}, true},
        {{"mode=QueueLength", "queueName=sample", "host=https://", END}, true},
        {{"value=20", "queueName=sample", "host=https://", END}, true},
        {{"mode=QueueLength", "value=20", "queueName=sample", "host=https://", END}, false},
        {{"mode=Feelings", "value=20", "queueName=sample", "host=https://", END}, true},
        {{"mode=QueueLength", "value=lots", "queueName=sample", "host=https://", END}, true},
        {{"mode=QueueLength", "value=20", "queueName=sample", "host=amqps://", END}, false},
        {{"mode=MessageRate", "value=1000", "queueName=sample", "host=amqps://", END}, true},
        {{"mode=MessageRate", "value=1000", "queueName=sample", "host=amqp://", END}, true},
        {{"mode=MessageRate", "value=1000", "queueName=sample", "host=http://", END}, false},
        {{"mode=DeliverGetRate", "value=1000", "queueName=sample", "host=amqp://", END}, true},
        {{"mode=DeliverGetRate", "value=1000", "queueName=sample", "host=https://", END}, false},
        {{"queueName=sample", "host=amqps://", "useRegex=true", END}, true},
        {{"queueName=sample", "host=http://", "useRegex=true", END}, false},
        {{"mode=QueueLength", "value=1000", "queueName=sample", "host=http://", "timeout=1000",
          END},
         false},
        {{"mode=QueueLength", "value=1000", "queueName=sample", "host=http://", "timeout=-10", END},
         true},
        {{"mode=QueueLength", "value=1000", "queueName=sample", "host=http://", "timeout=error",
          END},
         true},
        {{"mode=QueueLength", "value=1000", "queueName=sample", "host=amqp://", "timeout=10", END},
         true},
        {{"mode=MessageRate", "value=1000", "queueName=sample", "host=http://", "useRegex=true",
          "pageSize=100", END},
         false},
        {{"mode=MessageRate", "value=1000", "queueName=sample", "host=http://", "useRegex=true",
          "pageSize=-1", END},
         true},
        {{"mode=MessageRate", "value=1000", "queueName=sample", "host=http://", "useRegex=true",
          "pageSize=a", END},
         true},
        {{"activationValue=10", "queueLength=20", "queueName=sample", H, END}, false},
        {{"activationValue=AA", "queueLength=10", "queueName=sample", H, END}, true},
        {{"mode=QueueLength", "value=1000", "queueName=sample", "host=http://", "useRegex=true",
          "excludeUnacknowledged=true", END},
         false},
        {{"mode=QueueLength", "value=1000", "queueName=sample", "host=amqp://", "useRegex=true",
          "excludeUnacknowledged=true", END},
         true},
        {{"queueName=sample", "host=https://", "unsafeSsl=true", END}, false},
        {{"queueName=sample", "host=https://", "unsafeSsl=random", END}, true},
        /* testRabbitMQAuthParamData */
        {{"queueName=sample", H, "@tls=enable", "@ca=caaa", "@cert=ceert", "@key=keey", END},
         false},
        {{"queueName=sample", H, "@tls=enable", "@cert=ceert", "@key=keey", "@keyPassword=k", END},
         false},
        {{"queueName=sample", H, "@tls=enable", "@ca=caaa", END}, false},
        {{"queueName=sample", H, "@tls=enable", "@ca=caaa", "@key=kee", END}, true},
        {{"queueName=sample", H, "@tls=enable", "@ca=caaa", "@cert=ceert", END}, true},
        {{"queueName=sample", H, "@tls=yes", END}, true},
        {{"queueName=sample", H, "@username=u", END}, true},
        {{"queueName=sample", H, "@username=u", "@password=p", END}, false},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sw_rmq_cfg_t c;
        char err[512];
        int r = parse(cases[i].kv, &c, err, sizeof err);
        if ((r < 0) != cases[i].is_error)
            fail_msg("case %zu: r=%d err=%s", i, r, err);
        if (r == 0)
            sw_rmq_cfg_free(&c);
        else
            assert_true(err[0] != '\0');
    }
}

static void test_sw_rmq_cfg_parse_defaults(void **state)
{
    const char *kv[] = {"queueName=q", "host=amqp://guest:guest@localhost/", END};
    const char *legacy[] = {"queueName=q", "queueLength=7", "activationValue=2", "host=HTTP://h/",
                            END};
    sw_rmq_cfg_t c;
    char err[256];

    (void)state;
    assert_int_equal(parse(kv, &c, err, sizeof err), 0);
    assert_int_equal(c.mode, SW_RMQ_QUEUE_LENGTH);
    assert_true(c.value == 20 && c.activation_value == 0);
    assert_int_equal(c.protocol, SW_RMQ_AMQP);
    assert_int_equal(c.page_size, 100);
    assert_string_equal(c.operation, "sum");
    assert_false(c.tls || c.use_regex || c.exclude_unacknowledged || c.unsafe_ssl);
    assert_string_equal(c.connection_name, "keda-apps-orders");
    sw_rmq_cfg_free(&c);
    assert_int_equal(parse(legacy, &c, err, sizeof err), 0);
    assert_int_equal(c.protocol, SW_RMQ_HTTP); /* the scheme is case-insensitive */
    assert_true(c.mode == SW_RMQ_QUEUE_LENGTH && c.value == 7 && c.activation_value == 2);
    sw_rmq_cfg_free(&c);
}

static void expect_error(const char *const *kv, const char *want)
{
    sw_rmq_cfg_t c;
    char err[512];

    assert_int_equal(parse(kv, &c, err, sizeof err), -EINVAL);
    assert_string_equal(err, want);
}

static void test_sw_rmq_cfg_parse_keda_messages(void **state)
{
    (void)state;
    expect_error((const char *[]){"host=amqp://h/", END},
                 "metadata.queueName: missing required parameter \"queueName\" in "
                 "[triggerMetadata]");
    expect_error((const char *[]){"queueName=q", "host=amqp://h/", "protocol=smtp", END},
                 "metadata.protocol: the protocol has to be either `amqp`, `http`, or `auto` but "
                 "is `smtp`");
    expect_error((const char *[]){"queueName=q", "host=ftp://h/", END},
                 "metadata.host: unknown host URL scheme: `ftp`");
    expect_error(
        (const char *[]){"queueName=q", "host=amqp://h/", "mode=MessageRate", "value=5", END},
        "metadata.mode: protocol amqp not supported; must be HTTP to use trigger mode "
        "MessageRate");
    expect_error((const char *[]){"queueName=q", "host=amqp://h/", "mode=QueueLength", "value=5",
                                  "timeout=10", END},
                 "metadata.timeout: AMQP protocol doesn't support custom timeouts: 10000000");
    expect_error((const char *[]){"queueName=q", "host=http://h/", "queueLength=5", "value=5", END},
                 "metadata.queueLength: queueLength is deprecated; use mode and value");
    expect_error((const char *[]){"queueName=q", "host=http://h/", "@clientID=x", "@clientSecret=y",
                                  "@oauthTokenURI=http://t/", END},
                 "authentication.oauthTokenURI: OAuth2 authentication is not supported by ckeda");
    expect_error((const char *[]){"queueName=q", "protocol=http", END},
                 "metadata.host: missing required parameter \"host\" in [triggerMetadata "
                 "authParams resolvedEnv]");
}

static void test_sw_rmq_cfg_parse_never_quotes_the_host(void **state)
{
    static const char *const bad[][6] = {
        {"queueName=q", "host=smtp://u:topsecret@h/", END},
        {"queueName=q", "host=amqp://u:topsecret@h/", "mode=MessageRate", "value=1", END},
        {"queueName=q", "host=amqp://u:topsecret@h/", "useRegex=true", END},
        {"queueName=q", "host=http://u:topsecret@h/", "@username=u", END},
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sw_rmq_cfg_t c;
        char err[512];
        assert_int_equal(parse(bad[i], &c, err, sizeof err), -EINVAL);
        assert_null(strstr(err, "topsecret"));
    }
}

static void expect_url(const char *const *kv, const char *want)
{
    sw_rmq_cfg_t c;
    char err[256], *url;

    assert_int_equal(parse(kv, &c, err, sizeof err), 0);
    url = sw_rmq_http_url(&c);
    assert_non_null(url);
    assert_string_equal(url, want);
    free(url);
    sw_rmq_cfg_free(&c);
}

static void test_sw_rmq_http_url_as_keda(void **state)
{
    (void)state;
    expect_url((const char *[]){"queueName=q", "host=http://guest:pw@localhost:15672/", END},
               "http://guest:pw@localhost:15672/api/queues/%2F/q");
    expect_url((const char *[]){"queueName=namespace/name", "host=https://h:15671/myvhost", END},
               "https://h:15671/api/queues/myvhost/namespace%2Fname");
    expect_url((const char *[]){"queueName=q", "host=http://h/", END}, "http://h/api/queues/%2F/q");
    expect_url((const char *[]){"queueName=q", "host=http://h", END}, "http://h/api/queues/%2F/q");
    expect_url(
        (const char *[]){"queueName=q", "host=http://h/prefix//x/./vh", "vhostName=my vh", END},
        "http://h/prefix/x/api/queues/my+vh/q");
    expect_url((const char *[]){"queueName=q", "host=http://a:b@h/%2F", "@username=u",
                                "@password=p@ss:w", END},
               "http://u:p%40ss%3Aw@h/api/queues/%2F/q");
    expect_url(
        (const char *[]){"queueName=^q.*$", "host=http://h/", "useRegex=true", "pageSize=5", END},
        "http://h/api/queues/%2F?page=1&use_regex=true&pagination=false&name=%5Eq.%2A%24"
        "&page_size=5");
}

static sw_rmq_cfg_t cfg_of(sw_rmq_mode_t mode, double activation, bool regex, const char *op)
{
    sw_rmq_cfg_t c = {.mode = mode, .activation_value = activation, .use_regex = regex};
    c.operation = (char *)op;
    return c;
}

static void test_sw_rmq_http_stats_as_keda_decodes(void **state)
{
    static const char one[] =
        "{\"name\":\"q\",\"messages\":7,\"messages_ready\":5,\"messages_unacknowledged\":2,"
        "\"message_stats\":{\"publish_details\":{\"rate\":1.5},\"deliver_get_details\":"
        "{\"rate\":0.5}}}";
    static const char list[] =
        "{\"page_count\":1,\"items\":[{\"messages\":4,\"messages_ready\":3},{\"messages\":1,"
        "\"messages_ready\":1,\"message_stats\":{\"publish_details\":{\"rate\":2}}},"
        "{\"messages\":2}]}";
    sw_rmq_cfg_t c = cfg_of(SW_RMQ_QUEUE_LENGTH, 0, false, "sum");
    sw_rmq_stats_t s;
    char err[256];

    (void)state;
    assert_int_equal(sw_rmq_http_stats(one, strlen(one), &c, &s, err, sizeof err), 0);
    assert_true(s.messages == 7 && s.publish_rate == 1.5 && s.deliver_get_rate == 0.5);
    c.exclude_unacknowledged = true;
    assert_int_equal(sw_rmq_http_stats(one, strlen(one), &c, &s, err, sizeof err), 0);
    assert_int_equal(s.messages, 5);
    c = cfg_of(SW_RMQ_QUEUE_LENGTH, 0, true, "sum");
    assert_int_equal(sw_rmq_http_stats(list, strlen(list), &c, &s, err, sizeof err), 0);
    assert_true(s.messages == 7 && s.publish_rate == 2);
    c.operation = "avg";
    assert_int_equal(sw_rmq_http_stats(list, strlen(list), &c, &s, err, sizeof err), 0);
    assert_int_equal(s.messages, 2); /* 7 / 3 in Go's int division */
    c.operation = "max";
    assert_int_equal(sw_rmq_http_stats(list, strlen(list), &c, &s, err, sizeof err), 0);
    assert_true(s.messages == 4 && s.publish_rate == 2);
    c.operation = "median";
    assert_int_equal(sw_rmq_http_stats(list, strlen(list), &c, &s, err, sizeof err), -EINVAL);
    assert_string_equal(err, "operation mode median must be one of sum, avg, max");
    assert_int_equal(sw_rmq_http_stats("{\"items\":[]}", 12, &c, &s, err, sizeof err), 0);
    assert_int_equal(s.messages, 0); /* nothing matched: zeros whatever the operation */
    const char *paged = "{\"page_count\":2,\"items\":[]}";
    assert_int_equal(sw_rmq_http_stats(paged, strlen(paged), &c, &s, err, sizeof err), -EINVAL);
    assert_string_equal(err, "regex matches more queues than can be recovered at once");
    c = cfg_of(SW_RMQ_QUEUE_LENGTH, 0, false, "sum");
    assert_int_equal(sw_rmq_http_stats("{\"messages\":1.5}", 16, &c, &s, err, sizeof err), -EINVAL);
    assert_int_equal(sw_rmq_http_stats("{\"messages\":\"1\"}", 16, &c, &s, err, sizeof err),
                     -EINVAL);
    assert_int_equal(sw_rmq_http_stats("not json", 8, &c, &s, err, sizeof err), -EINVAL);
    assert_int_equal(sw_rmq_http_stats("{\"messages\":null}", 17, &c, &s, err, sizeof err), 0);
    assert_int_equal(s.messages, 0);
}

static void metric(sw_rmq_mode_t mode, double a, int64_t msgs, double pub, double del, double v,
                   bool active)
{
    sw_rmq_cfg_t c = cfg_of(mode, a, false, "sum");
    sw_rmq_stats_t s = {.messages = msgs, .publish_rate = pub, .deliver_get_rate = del};
    double got;
    bool got_active;

    sw_rmq_metric(&c, &s, &got, &got_active);
    if (fabs(got - v) > 1e-9 || got_active != active)
        fail_msg("mode %d a=%g msgs=%lld pub=%g del=%g: %g %d, want %g %d", mode, a,
                 (long long)msgs, pub, del, got, got_active, v, active);
}

static void test_sw_rmq_metric_modes_as_keda(void **state)
{
    (void)state;
    metric(SW_RMQ_QUEUE_LENGTH, 3, 3, 9, 9, 3, false); /* strictly greater */
    metric(SW_RMQ_QUEUE_LENGTH, 3, 4, 0, 0, 4, true);
    metric(SW_RMQ_MESSAGE_RATE, 2, 0, 1.5, 0, 1.5, false);
    metric(SW_RMQ_MESSAGE_RATE, 2, 5, 1.5, 0, 1.5, true); /* messages also activate */
    metric(SW_RMQ_DELIVER_GET_RATE, 1, 50, 0, 1.5, 1.5, true);
    metric(SW_RMQ_PUBLISHED_TO_DELIVERED_RATIO, 0.5, 0, 0, 0, 0, false);
    metric(SW_RMQ_PUBLISHED_TO_DELIVERED_RATIO, 0.5, 0, 2, 0, 0.5, true);
    metric(SW_RMQ_PUBLISHED_TO_DELIVERED_RATIO, 0.5, 0, 1, 4, 0.25, false);
    metric(SW_RMQ_EXPECTED_QUEUE_CONSUMPTION_TIME, 5, 0, 3, 1, 0, false);
    metric(SW_RMQ_EXPECTED_QUEUE_CONSUMPTION_TIME, 5, 2, 3, 0, 5, true);
    metric(SW_RMQ_EXPECTED_QUEUE_CONSUMPTION_TIME, 5, 10, 3, 2, 0.5 + 5, true);
}

static void test_scaler_spec_build_rabbitmq_as_keda(void **state)
{
    cJSON *md = cJSON_Parse("{\"queueName\":\"sample\",\"queueLength\":\"10\"}");
    cJSON *md2 = cJSON_Parse("{\"queueName\":\"namespace/name\",\"mode\":\"MessageRate\","
                             "\"value\":\"1.5\",\"activationValue\":\"0.5\"}");
    cJSON *md3 = cJSON_Parse("{\"queueName\":\"a b.c\"}");
    cJSON *bad = cJSON_Parse("{\"queueName\":\"q\",\"mode\":\"QueueLength\"}");
    scaler_spec_t s;
    errtext_t err;

    (void)state;
    assert_int_equal(scaler_spec_build("rabbitmq", 0, md, &s, &err), 0);
    assert_string_equal(s.metric_name, "s0-rabbitmq-sample");
    assert_true(s.target == 10 && s.activation == 0);
    assert_int_equal(scaler_spec_build("rabbitmq", 1, md2, &s, &err), 0);
    assert_string_equal(s.metric_name, "s1-rabbitmq-namespace-2Fname");
    assert_true(s.target == 1.5 && s.activation == 0.5);
    assert_int_equal(scaler_spec_build("rabbitmq", 2, md3, &s, &err), 0);
    assert_string_equal(s.metric_name, "s2-rabbitmq-a+b-c");
    assert_true(s.target == 20);
    assert_int_equal(scaler_spec_build("rabbitmq", 0, bad, &s, &err), -EINVAL);
    assert_int_equal(scaler_spec_build("rabbitmq", 0, NULL, &s, &err), -EINVAL);
    cJSON_Delete(md);
    cJSON_Delete(md2);
    cJSON_Delete(md3);
    cJSON_Delete(bad);
}

/* ---- the AMQP codec ------------------------------------------------------------------------ */

static void test_sw_amqp_put_declare_passive_bytes(void **state)
{
    /* method frame, channel 1, size 14: class 50 method 10, ticket 0, "ok", passive, no
     * arguments; the frame end */
    static const uint8_t exact[] = {1, 0, 1, 0,   0,   0, 14, 0, 50, 0, 10,
                                    0, 0, 2, 'o', 'k', 1, 0,  0, 0,  0, 0xCE};
    sw_buf_t b = {0};

    (void)state;
    assert_int_equal(sw_amqp_put_declare_passive(&b, 1, "ok"), 0);
    assert_int_equal(b.len, sizeof exact);
    assert_memory_equal(b.p, exact, sizeof exact);
    sw_buf_free(&b);
    char long_name[300];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(sw_amqp_put_declare_passive(&b, 1, long_name), -EINVAL);
    sw_buf_free(&b);
}

static void test_sw_amqp_frame_parse_bounds(void **state)
{
    uint8_t f[] = {1, 0, 1, 0, 0, 0, 4, 0, 20, 0, 41, 0xCE, 8};
    sw_amqp_frame_t fr;
    size_t used;

    (void)state;
    assert_int_equal(sw_amqp_frame_parse(f, sizeof f, 64, &fr, &used), 0);
    assert_true(fr.type == 1 && fr.channel == 1 && fr.size == 4 && used == 12);
    for (size_t k = 0; k < 12; k++)
        assert_int_equal(sw_amqp_frame_parse(f, k, 64, &fr, &used), -EAGAIN);
    assert_int_equal(sw_amqp_frame_parse(f, sizeof f, 11, &fr, &used), -EMSGSIZE);
    f[11] = 0;
    assert_int_equal(sw_amqp_frame_parse(f, sizeof f, 64, &fr, &used), -EBADMSG);
    uint8_t huge[] = {1, 0, 0, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(sw_amqp_frame_parse(huge, sizeof huge, SW_AMQP_IN_MAX, &fr, &used), -EMSGSIZE);
}

static void test_sw_amqp_method_parse_replies(void **state)
{
    /* Declare-Ok "q", 42 messages, 1 consumer */
    static const uint8_t ok[] = {0, 50, 0, 11, 1, 'q', 0, 0, 0, 42, 0, 0, 0, 1};
    /* Channel.Close 404 "NOT_FOUND - no queue 'x'" class 50 method 10 */
    uint8_t close[64] = {0, 20, 0, 40, 0x01, 0x94};
    const char *text = "NOT_FOUND - no queue 'x' in vhost '/'";
    size_t n = 6;
    sw_amqp_method_t m;
    char buf[256];

    (void)state;
    assert_int_equal(sw_amqp_method_parse(ok, sizeof ok, &m), 0);
    assert_true(m.id == SW_AMQP_QUEUE_DECLARE_OK && m.message_count == 42 && m.consumer_count == 1);
    assert_string_equal(m.queue, "q");
    for (size_t k = 0; k < sizeof ok; k++) /* every truncation is malformed */
        assert_int_equal(sw_amqp_method_parse(ok, k, &m), -EBADMSG);
    close[n++] = (uint8_t)strlen(text);
    memcpy(close + n, text, strlen(text));
    n += strlen(text);
    uint8_t tail[] = {0, 50, 0, 10};
    memcpy(close + n, tail, 4);
    n += 4;
    assert_int_equal(sw_amqp_method_parse(close, n, &m), 0);
    assert_true(m.id == SW_AMQP_CHANNEL_CLOSE && m.reply_code == 404 && m.class_id == 50);
    sw_amqp_exception(buf, sizeof buf, m.reply_code, m.reply_text);
    assert_string_equal(buf, "Exception (404) Reason: \"NOT_FOUND - no queue 'x' in vhost '/'\"");
    sw_amqp_exception(buf, sizeof buf, 403, "a \"b\"\n");
    assert_string_equal(buf, "Exception (403) Reason: \"a \\\"b\\\"\\x0a\"");
    /* Start: 0-9, an empty table, mechanisms, locales */
    static const uint8_t start[] = {0,   10,  0,   10,  0,   9,   0,   0,   0,   0,   0,   0,   0,
                                    14,  'A', 'M', 'Q', 'P', 'L', 'A', 'I', 'N', ' ', 'P', 'L', 'A',
                                    'I', 'N', 0,   0,   0,   5,   'e', 'n', '_', 'U', 'S'};
    assert_int_equal(sw_amqp_method_parse(start, sizeof start, &m), 0);
    assert_true(m.id == SW_AMQP_CONNECTION_START && m.version_minor == 9);
    assert_true(sw_amqp_has_word(m.mechanisms, "PLAIN"));
    assert_false(sw_amqp_has_word(m.mechanisms, "EXTERNAL"));
    assert_false(sw_amqp_has_word("PLAINX AMQPLAIN", "PLAIN"));
}

static void test_sw_amqp_put_start_ok_round_trip(void **state)
{
    sw_buf_t b = {0};
    sw_amqp_frame_t f;
    size_t used;
    sw_amqp_method_t m;

    (void)state;
    assert_int_equal(sw_amqp_put_header(&b), 0);
    assert_memory_equal(b.p, "AMQP\0\0\x09\x01", 8);
    sw_buf_free(&b);
    assert_int_equal(sw_amqp_put_start_ok(&b, "PLAIN", "\0u\0p", 4, "keda-apps-orders"), 0);
    assert_int_equal(sw_amqp_frame_parse((uint8_t *)b.p, b.len, SW_AMQP_IN_MAX, &f, &used), 0);
    assert_int_equal(used, b.len);
    assert_int_equal(sw_amqp_method_parse(f.payload, f.size, &m), 0);
    assert_int_equal(m.id, SW_AMQP_CONNECTION_START_OK);
    assert_non_null(memmem(b.p, b.len, "keda-apps-orders", 16));
    assert_non_null(memmem(b.p, b.len,
                           "\x05PLAIN\x00\x00\x00\x04\0u\0p\x05"
                           "en_US",
                           16));
    sw_buf_free(&b);
    assert_int_equal(sw_amqp_put_tune_ok(&b, 2047, 16384, 0), 0);
    assert_int_equal(sw_amqp_put_open(&b, "/"), 0);
    assert_int_equal(sw_amqp_put_close_ok(&b, 1, true), 0);
    size_t off = 0;
    uint32_t ids[] = {SW_AMQP_CONNECTION_TUNE_OK, SW_AMQP_CONNECTION_OPEN,
                      SW_AMQP_CHANNEL_CLOSE_OK};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(
            sw_amqp_frame_parse((uint8_t *)b.p + off, b.len - off, SW_AMQP_IN_MAX, &f, &used), 0);
        assert_int_equal(sw_amqp_method_parse(f.payload, f.size, &m), 0);
        assert_int_equal(m.id, ids[i]);
        off += used;
    }
    assert_int_equal(off, b.len);
    sw_buf_free(&b);
}

static void test_sw_amqp_uri_parse_as_amqp091(void **state)
{
    sw_amqp_uri_t u;
    char err[256];

    (void)state;
    assert_int_equal(sw_amqp_uri_parse("amqp://", 7, &u, err, sizeof err), 0);
    assert_false(u.tls);
    assert_string_equal(u.host, "localhost");
    assert_string_equal(u.port, "5672");
    assert_string_equal(u.username, "guest");
    assert_string_equal(u.password, "guest");
    assert_string_equal(u.vhost, "/");
    sw_amqp_uri_free(&u);
    const char *s = "AMQPS://us%40r:p%3Aw%2F@[::1]:5999/%2f?heartbeat=5";
    assert_int_equal(sw_amqp_uri_parse(s, strlen(s), &u, err, sizeof err), 0);
    assert_true(u.tls && u.has_password);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "5999");
    assert_string_equal(u.username, "us@r");
    assert_string_equal(u.password, "p:w/");
    assert_string_equal(u.vhost, "/");
    sw_amqp_uri_free(&u);
    s = "amqps://user@host/vh/x";
    assert_int_equal(sw_amqp_uri_parse(s, strlen(s), &u, err, sizeof err), 0);
    assert_string_equal(u.port, "5671");
    assert_string_equal(u.password, "guest");
    assert_false(u.has_password);
    assert_string_equal(u.vhost, "vh/x");
    sw_amqp_uri_free(&u);
    s = "http://u:secret@h/";
    assert_int_equal(sw_amqp_uri_parse(s, strlen(s), &u, err, sizeof err), -EINVAL);
    assert_string_equal(err, "AMQP scheme must be either 'amqp://' or 'amqps://'");
    s = "amqp://u:sec%zzret@h/";
    assert_int_equal(sw_amqp_uri_parse(s, strlen(s), &u, err, sizeof err), -EINVAL);
    assert_null(strstr(err, "sec"));
    s = "amqp://h:99999/";
    assert_int_equal(sw_amqp_uri_parse(s, strlen(s), &u, err, sizeof err), -EINVAL);
    s = "amqp://h:port/";
    assert_int_equal(sw_amqp_uri_parse(s, strlen(s), &u, err, sizeof err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sw_rmq_cfg_parse_keda_cases),
        cmocka_unit_test(test_sw_rmq_cfg_parse_defaults),
        cmocka_unit_test(test_sw_rmq_cfg_parse_keda_messages),
        cmocka_unit_test(test_sw_rmq_cfg_parse_never_quotes_the_host),
        cmocka_unit_test(test_sw_rmq_http_url_as_keda),
        cmocka_unit_test(test_sw_rmq_http_stats_as_keda_decodes),
        cmocka_unit_test(test_sw_rmq_metric_modes_as_keda),
        cmocka_unit_test(test_scaler_spec_build_rabbitmq_as_keda),
        cmocka_unit_test(test_sw_amqp_put_declare_passive_bytes),
        cmocka_unit_test(test_sw_amqp_frame_parse_bounds),
        cmocka_unit_test(test_sw_amqp_method_parse_replies),
        cmocka_unit_test(test_sw_amqp_put_start_ok_round_trip),
        cmocka_unit_test(test_sw_amqp_uri_parse_as_amqp091),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
