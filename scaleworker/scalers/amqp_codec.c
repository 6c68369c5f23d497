/*
 * amqp_codec: the AMQP 0-9-1 frames and methods of the rabbitmq scaler's client, and
 * amqp091-go's URI rules (see amqp.h). Pure and bounded: every read is checked against the
 * frame it comes from; fuzzed (tests/fuzz/fuzz_amqp.c). Runs in the rabbitmq workers.
 */
#include "scaleworker/scalers/amqp.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the codec ----------------------------------------------------------------------------- */

static uint16_t a_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t a_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int sw_amqp_frame_parse(const uint8_t *buf, size_t len, size_t max, sw_amqp_frame_t *ret,
                        size_t *used)
{
    uint32_t size;

    if (len < SW_AMQP_FRAME_HEAD)
        return -EAGAIN;
    size = a_get32(buf + 3);
    if ((uint64_t)size + SW_AMQP_FRAME_HEAD + 1 > max)
        return -EMSGSIZE;
    if (len < (size_t)size + SW_AMQP_FRAME_HEAD + 1)
        return -EAGAIN;
    if (buf[SW_AMQP_FRAME_HEAD + size] != SW_AMQP_FRAME_END)
        return -EBADMSG;
    ret->type = buf[0];
    ret->channel = a_get16(buf + 1);
    ret->payload = buf + SW_AMQP_FRAME_HEAD;
    ret->size = size;
    *used = (size_t)size + SW_AMQP_FRAME_HEAD + 1;
    return 0;
}

/* A bounded reader over a method's arguments: every get fails once past the end. */
typedef struct a_rd {
    const uint8_t *p;
    size_t len, off;
    bool bad;
} a_rd_t;

static bool a_need(a_rd_t *r, size_t n)
{
    if (r->bad || r->len - r->off < n)
        r->bad = true;
    return !r->bad;
}

static uint8_t a_u8(a_rd_t *r)
{
    return a_need(r, 1) ? r->p[r->off++] : 0;
}

static uint16_t a_u16(a_rd_t *r)
{
    uint16_t v = a_need(r, 2) ? a_get16(r->p + r->off) : 0;
    r->off += r->bad ? 0 : 2;
    return v;
}

static uint32_t a_u32(a_rd_t *r)
{
    uint32_t v = a_need(r, 4) ? a_get32(r->p + r->off) : 0;
    r->off += r->bad ? 0 : 4;
    return v;
}

/* Copies n bytes (truncated to cap - 1, NUL-terminated) or skips them when out is NULL. */
static void a_bytes(a_rd_t *r, size_t n, char *out, size_t cap)
{
    if (!a_need(r, n))
        return;
    if (out) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(out, r->p + r->off, k);
        out[k] = '\0';
    }
    r->off += n;
}

static void a_shortstr(a_rd_t *r, char *out, size_t cap)
{
    a_bytes(r, a_u8(r), out, cap);
}

static void a_longstr(a_rd_t *r, char *out, size_t cap)
{
    uint32_t n = a_u32(r);
    a_bytes(r, n, out, cap);
}

int sw_amqp_method_parse(const uint8_t *payload, size_t len, sw_amqp_method_t *ret)
{
    a_rd_t r = {.p = payload, .len = len};
    sw_amqp_method_t m;

    memset(&m, 0, sizeof m);
    m.id = a_u32(&r);
    switch (m.id) {
    case SW_AMQP_CONNECTION_START:
        m.version_major = a_u8(&r);
        m.version_minor = a_u8(&r);
        a_longstr(&r, NULL, 0); /* server-properties: a table, skipped whole */
        a_longstr(&r, m.mechanisms, sizeof m.mechanisms);
        a_longstr(&r, NULL, 0); /* locales */
        break;
    case SW_AMQP_CONNECTION_TUNE:
        m.channel_max = a_u16(&r);
        m.frame_max = a_u32(&r);
        m.heartbeat = a_u16(&r);
        break;
    case SW_AMQP_CONNECTION_CLOSE:
    case SW_AMQP_CHANNEL_CLOSE:
        m.reply_code = a_u16(&r);
        a_shortstr(&r, m.reply_text, sizeof m.reply_text);
        m.class_id = a_u16(&r);
        m.method_id = a_u16(&r);
        break;
    case SW_AMQP_CONNECTION_OPEN_OK:
        a_shortstr(&r, NULL, 0);
        break;
    case SW_AMQP_CHANNEL_OPEN_OK:
        a_longstr(&r, NULL, 0);
        break;
    case SW_AMQP_QUEUE_DECLARE_OK:
        a_shortstr(&r, m.queue, sizeof m.queue);
        m.message_count = a_u32(&r);
        m.consumer_count = a_u32(&r);
        break;
    default: /* Close-Ok, Blocked, ...: only the id matters here */
        break;
    }
    if (r.bad)
        return -EBADMSG;
    *ret = m;
    return 0;
}

bool sw_amqp_has_word(const char *list, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = list; *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && memcmp(p, word, n) == 0)
            return true;
        p += k;
        p += strspn(p, " ");
    }
    return false;
}

static int a_put8(sw_buf_t *b, uint8_t v)
{
    return sw_buf_add(b, (const char *)&v, 1);
}

static int a_put16(sw_buf_t *b, uint16_t v)
{
    char x[2] = {(char)(v >> 8), (char)v};
    return sw_buf_add(b, x, 2);
}

static int a_put32(sw_buf_t *b, uint32_t v)
{
    char x[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    return sw_buf_add(b, x, 4);
}

static int a_put_short(sw_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    int r;

    if (n > SW_AMQP_SHORTSTR)
        return -EINVAL;
    if ((r = a_put8(b, (uint8_t)n)) < 0)
        return r;
    return sw_buf_add(b, s, n);
}

static int a_put_long(sw_buf_t *b, const char *s, size_t n)
{
    int r = a_put32(b, (uint32_t)n);
    return r < 0 ? r : sw_buf_add(b, s, n);
}

/* Frames a method whose arguments are args (len bytes). */
static int a_put_method(sw_buf_t *b, uint16_t channel, uint32_t id, const sw_buf_t *args)
{
    size_t alen = args ? args->len : 0;
    int r;

    if ((r = a_put8(b, SW_AMQP_FRAME_METHOD)) < 0 || (r = a_put16(b, channel)) < 0 ||
        (r = a_put32(b, (uint32_t)(4 + alen))) < 0 || (r = a_put32(b, id)) < 0 ||
        (alen && (r = sw_buf_add(b, args->p, alen)) < 0))
        return r;
    return a_put8(b, SW_AMQP_FRAME_END);
}

int sw_amqp_put_header(sw_buf_t *b)
{
    return sw_buf_add(b, "AMQP\0\0\x09\x01", 8);
}

/* One table entry name -> longstr value. */
static int a_put_entry_str(sw_buf_t *t, const char *name, const char *value)
{
    int r;
    if ((r = a_put_short(t, name)) < 0 || (r = a_put8(t, 'S')) < 0)
        return r;
    return a_put_long(t, value, strlen(value));
}

static int a_put_entry_bool(sw_buf_t *t, const char *name, bool value)
{
    int r;
    if ((r = a_put_short(t, name)) < 0 || (r = a_put8(t, 't')) < 0)
        return r;
    return a_put8(t, value ? 1 : 0);
}

/* Client properties: what amqp091-go sends, with our product name. authentication_failure_close
 * makes the broker say "refused" (Connection.Close 403) instead of only closing the socket. */
static int a_put_properties(sw_buf_t *b, const char *connection_name)
{
    sw_buf_t caps = {0}, t = {0};
    int r;

    if ((r = a_put_entry_bool(&caps, "authentication_failure_close", true)) == 0 &&
        (r = a_put_entry_str(&t, "product", "ckeda")) == 0 &&
        (r = a_put_entry_str(&t, "platform", "C")) == 0 &&
        (r = a_put_entry_str(&t, "connection_name", connection_name)) == 0 &&
        (r = a_put_short(&t, "capabilities")) == 0 && (r = a_put8(&t, 'F')) == 0 &&
        (r = a_put32(&t, (uint32_t)caps.len)) == 0 && (r = sw_buf_add(&t, caps.p, caps.len)) == 0 &&
        (r = a_put32(b, (uint32_t)t.len)) == 0)
        r = sw_buf_add(b, t.p, t.len);
    sw_buf_free(&caps);
    sw_buf_free(&t);
    return r;
}

int sw_amqp_put_start_ok(sw_buf_t *b, const char *mechanism, const char *response,
                         size_t response_len, const char *connection_name)
{
    sw_buf_t a = {0};
    int r;

    if ((r = a_put_properties(&a, connection_name)) == 0 && (r = a_put_short(&a, mechanism)) == 0 &&
        (r = a_put_long(&a, response, response_len)) == 0 && (r = a_put_short(&a, "en_US")) == 0)
        r = a_put_method(b, 0, SW_AMQP_CONNECTION_START_OK, &a);
    sw_buf_free(&a); /* it held the password */
    return r;
}

int sw_amqp_put_tune_ok(sw_buf_t *b, uint16_t channel_max, uint32_t frame_max, uint16_t heartbeat)
{
    sw_buf_t a = {0};
    int r;

    if ((r = a_put16(&a, channel_max)) == 0 && (r = a_put32(&a, frame_max)) == 0 &&
        (r = a_put16(&a, heartbeat)) == 0)
        r = a_put_method(b, 0, SW_AMQP_CONNECTION_TUNE_OK, &a);
    sw_buf_free(&a);
    return r;
}

int sw_amqp_put_open(sw_buf_t *b, const char *vhost)
{
    sw_buf_t a = {0};
    int r;

    /* virtual-host, reserved-1 (capabilities) "", reserved-2 (insist) false */
    if ((r = a_put_short(&a, vhost)) == 0 && (r = a_put_short(&a, "")) == 0 &&
        (r = a_put8(&a, 0)) == 0)
        r = a_put_method(b, 0, SW_AMQP_CONNECTION_OPEN, &a);
    sw_buf_free(&a);
    return r;
}

int sw_amqp_put_close(sw_buf_t *b, uint16_t channel, bool channel_close)
{
    sw_buf_t a = {0};
    int r;

    /* reply-code 200 (reply-success), reply-text, class-id 0, method-id 0 */
    if ((r = a_put16(&a, 200)) == 0 && (r = a_put_short(&a, "")) == 0 &&
        (r = a_put16(&a, 0)) == 0 && (r = a_put16(&a, 0)) == 0)
        r = a_put_method(b, channel,
                         channel_close ? SW_AMQP_CHANNEL_CLOSE : SW_AMQP_CONNECTION_CLOSE, &a);
    sw_buf_free(&a);
    return r;
}

int sw_amqp_put_close_ok(sw_buf_t *b, uint16_t channel, bool channel_close)
{
    return a_put_method(
        b, channel, channel_close ? SW_AMQP_CHANNEL_CLOSE_OK : SW_AMQP_CONNECTION_CLOSE_OK, NULL);
}

int sw_amqp_put_channel_open(sw_buf_t *b, uint16_t channel)
{
    sw_buf_t a = {0};
    int r;

    if ((r = a_put_short(&a, "")) == 0) /* reserved-1 (out-of-band) */
        r = a_put_method(b, channel, SW_AMQP_CHANNEL_OPEN, &a);
    sw_buf_free(&a);
    return r;
}

int sw_amqp_put_declare_passive(sw_buf_t *b, uint16_t channel, const char *queue)
{
    sw_buf_t a = {0};
    int r;

    /* reserved-1 (ticket) 0, queue, bits: passive (no durable, exclusive, auto-delete,
     * no-wait), arguments: an empty table */
    if ((r = a_put16(&a, 0)) == 0 && (r = a_put_short(&a, queue)) == 0 &&
        (r = a_put8(&a, 0x01)) == 0 && (r = a_put32(&a, 0)) == 0)
        r = a_put_method(b, channel, SW_AMQP_QUEUE_DECLARE, &a);
    sw_buf_free(&a);
    return r;
}

void sw_amqp_exception(char *buf, size_t len, unsigned code, const char *reason)
{
    size_t o;

    if (len == 0)
        return;
    o = (size_t)snprintf(buf, len, "Exception (%u) Reason: \"", code);
    for (const unsigned char *p = (const unsigned char *)reason; *p && o + 5 < len; p++) {
        if (*p == '"' || *p == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *p);
        } else {
            buf[o++] = (char)*p;
        }
    }
    if (o + 1 < len)
        buf[o++] = '"';
    buf[o < len ? o : len - 1] = '\0';
}

/* ---- URIs ---------------------------------------------------------------------------------- */

void sw_amqp_uri_free(sw_amqp_uri_t *u)
{
    if (!u)
        return;
    if (u->password)
        explicit_bzero(u->password, strlen(u->password));
    if (u->username)
        explicit_bzero(u->username, strlen(u->username));
    free(u->username);
    free(u->password);
    free(u->vhost);
    memset(u, 0, sizeof *u);
}

static char *a_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* strcspn within n bytes (the text need not be NUL-terminated). */
static size_t a_span(const char *s, size_t n, const char *reject)
{
    size_t i = 0;

    while (i < n && s[i] && !strchr(reject, s[i]))
        i++;
    return i;
}

static int a_uri_fail(sw_amqp_uri_t *u, char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    sw_amqp_uri_free(u);
    return -EINVAL;
}

/* Host and port of the authority (without userinfo). */
static int a_uri_hostport(sw_amqp_uri_t *u, const char *h, size_t n, char *err, size_t errlen)
{
    const char *port = NULL;
    size_t hn = n, pn = 0;

    if (n > 0 && h[0] == '[') {
        const char *close = memchr(h, ']', n);
        if (!close)
            return a_uri_fail(u, err, errlen, "missing ']' in host");
        hn = (size_t)(close - h) - 1;
        h++;
        if ((size_t)(close + 1 - (h - 1)) < n) {
            if (close[1] != ':')
                return a_uri_fail(u, err, errlen, "invalid port after host");
            port = close + 2;
            pn = n - (size_t)(port - (h - 1));
        }
    } else {
        const char *colon = memchr(h, ':', n);
        if (colon) {
            hn = (size_t)(colon - h);
            port = colon + 1;
            pn = n - hn - 1;
            if (memchr(port, ':', pn))
                return a_uri_fail(u, err, errlen, "invalid port in host");
        }
    }
    for (size_t i = 0; i < pn; i++)
        if (!isdigit((unsigned char)port[i]))
            return a_uri_fail(u, err, errlen, "invalid port in host");
    if (hn >= sizeof u->host || pn >= sizeof u->port)
        return a_uri_fail(u, err, errlen, "host or port too long");
    if (hn > 0) {
        memcpy(u->host, h, hn);
        u->host[hn] = '\0';
    }
    if (pn > 0) {
        memcpy(u->port, port, pn);
        u->port[pn] = '\0';
        if (atoi(u->port) > 65535 || atoi(u->port) == 0)
            return a_uri_fail(u, err, errlen, "invalid port in host");
    }
    return 0;
}

static int a_uri_userinfo(sw_amqp_uri_t *u, const char *s, size_t n, char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', n);
    size_t un = colon ? (size_t)(colon - s) : n;
    char *user = a_dup(s, un), *pass = colon ? a_dup(colon + 1, n - un - 1) : NULL;

    if (!user || (colon && !pass)) {
        free(user);
        free(pass);
        sw_amqp_uri_free(u);
        return -ENOMEM;
    }
    if (sw_url_unescape(user, false) < 0 || (pass && sw_url_unescape(pass, false) < 0)) {
        explicit_bzero(user, strlen(user));
        free(user);
        if (pass)
            explicit_bzero(pass, strlen(pass));
        free(pass);
        return a_uri_fail(u, err, errlen, "net/url: invalid userinfo");
    }
    free(u->username);
    u->username = user;
    if (pass) {
        free(u->password);
        u->password = pass;
        u->has_password = true;
    }
    return 0;
}

int sw_amqp_uri_parse(const char *s, size_t len, sw_amqp_uri_t *ret, char *err, size_t errlen)
{
    sw_amqp_uri_t u = {0};
    const char *sep = len >= 3 ? memmem(s, len, "://", 3) : NULL;
    const char *auth, *end = s + len, *at = NULL;
    size_t an;
    int r;

    if (!sep || !((sep - s == 4 && strncasecmp(s, "amqp", 4) == 0) ||
                  (sep - s == 5 && strncasecmp(s, "amqps", 5) == 0)))
        return a_uri_fail(&u, err, errlen, "AMQP scheme must be either 'amqp://' or 'amqps://'");
    u.tls = sep - s == 5;
    snprintf(u.host, sizeof u.host, "localhost");
    snprintf(u.port, sizeof u.port, "%s", u.tls ? "5671" : "5672");
    if (!(u.username = strdup("guest")) || !(u.password = strdup("guest")) ||
        !(u.vhost = strdup("/"))) {
        sw_amqp_uri_free(&u);
        return -ENOMEM;
    }
    auth = sep + 3;
    an = a_span(auth, (size_t)(end - auth), "/?#");
    for (const char *p = auth; p < auth + an; p++)
        if (*p == '@')
            at = p;
    if (at && (r = a_uri_userinfo(&u, auth, (size_t)(at - auth), err, errlen)) < 0)
        return r;
    if (at)
        an -= (size_t)(at + 1 - auth), auth = at + 1;
    if ((r = a_uri_hostport(&u, auth, an, err, errlen)) < 0)
        return r;
    const char *path = auth + an;
    size_t pn = a_span(path, (size_t)(end - path), "?#");
    if (pn > 1 && path[0] == '/') {
        char *v = a_dup(path + 1, pn - 1);
        if (!v) {
            sw_amqp_uri_free(&u);
            return -ENOMEM;
        }
        if (sw_url_unescape(v, false) < 0) {
            free(v);
            return a_uri_fail(&u, err, errlen, "invalid URL escape in the vhost");
        }
        free(u.vhost);
        u.vhost = v;
    }
    *ret = u;
    return 0;
}
