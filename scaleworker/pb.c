/*
 * pb: see pb.h. The wire format: each field is a key varint (field number << 3 | wire type)
 * then a varint (0), 8 little-endian bytes (1), a varint length and that many bytes (2) or 4
 * bytes (5). Runs in the `external` scale workers, on replies of the event source.
 */
#include "scaleworker/pb.h"

#include <errno.h>
#include <string.h>

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

/* ---- reading ------------------------------------------------------------------------------- */

typedef struct pb_in {
    const uint8_t *p, *end;
} pb_in_t;

static int pb_varint(pb_in_t *in, uint64_t *ret)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < 10; i++) {
        if (in->p >= in->end)
            return -EBADMSG;
        uint8_t b = *in->p++;
        if (i == 9 && b > 1)
            return -EBADMSG; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *ret = v;
            return 0;
        }
    }
    return -EBADMSG;
}

/* A LEN field's bytes. */
static int pb_bytes(pb_in_t *in, pb_in_t *ret)
{
    uint64_t n;

    if (pb_varint(in, &n) < 0 || n > (uint64_t)(in->end - in->p))
        return -EBADMSG;
    ret->p = in->p;
    ret->end = in->p + n;
    in->p += n;
    return 0;
}

static int pb_key(pb_in_t *in, uint32_t *field, unsigned *wire)
{
    uint64_t k;

    if (pb_varint(in, &k) < 0 || k >> 3 == 0 || k >> 3 > 0x1fffffff)
        return -EBADMSG;
    *field = (uint32_t)(k >> 3);
    *wire = (unsigned)(k & 7);
    return 0;
}

/* Skips a field's value of that wire type. Groups (3, 4) and 6, 7 are refused. */
static int pb_skip(pb_in_t *in, unsigned wire)
{
    uint64_t v;
    pb_in_t b;

    switch (wire) {
    case PB_VARINT:
        return pb_varint(in, &v);
    case PB_I64:
    case PB_I32: {
        size_t n = wire == PB_I64 ? 8 : 4;
        if ((size_t)(in->end - in->p) < n)
            return -EBADMSG;
        in->p += n;
        return 0;
    }
    case PB_LEN:
        return pb_bytes(in, &b);
    default:
        return -EBADMSG;
    }
}

static bool pb_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            len = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            len = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            len = 4, cp = c & 0x07;
        else
            return false;
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += len;
    }
    return true;
}

static int pb_string(pb_in_t *in, pb_in_t *ret)
{
    if (pb_bytes(in, ret) < 0 || !pb_utf8(ret->p, (size_t)(ret->end - ret->p)))
        return -EBADMSG;
    return 0;
}

int sw_pb_is_active_decode(const uint8_t *buf, size_t len, bool *ret)
{
    pb_in_t in = {buf, buf + len};
    bool result = false;

    while (in.p < in.end) {
        uint32_t f;
        unsigned w;
        uint64_t v;
        if (pb_key(&in, &f, &w) < 0)
            return -EBADMSG;
        if (f == 1 && w == PB_VARINT) {
            if (pb_varint(&in, &v) < 0)
                return -EBADMSG;
            result = v != 0;
        } else if (pb_skip(&in, w) < 0) {
            return -EBADMSG;
        }
    }
    *ret = result;
    return 0;
}

static int pb_metric_decode(pb_in_t in, sw_pb_metric_t *m)
{
    memset(m, 0, sizeof *m);
    while (in.p < in.end) {
        uint32_t f;
        unsigned w;
        uint64_t v;
        pb_in_t s;
        if (pb_key(&in, &f, &w) < 0)
            return -EBADMSG;
        if (f == 1 && w == PB_LEN) {
            if (pb_string(&in, &s) < 0)
                return -EBADMSG;
            size_t n = (size_t)(s.end - s.p);
            m->name_len = n;
            n = n < sizeof m->name - 1 ? n : sizeof m->name - 1;
            memcpy(m->name, s.p, n);
            m->name[n] = '\0';
        } else if (f == 2 && w == PB_VARINT) {
            if (pb_varint(&in, &v) < 0)
                return -EBADMSG;
            m->integer = (int64_t)v; /* two's complement, as int64 on the wire */
        } else if (f == 3 && w == PB_I64) {
            if (in.end - in.p < 8)
                return -EBADMSG;
            v = 0;
            for (int i = 7; i >= 0; i--)
                v = v << 8 | in.p[i];
            memcpy(&m->real, &v, sizeof m->real);
            in.p += 8;
        } else if (pb_skip(&in, w) < 0) {
            return -EBADMSG;
        }
    }
    return 0;
}

int sw_pb_metric_list_decode(const uint8_t *buf, size_t len, sw_pb_metric_t *ret, size_t cap,
                             size_t *ret_n)
{
    pb_in_t in = {buf, buf + len};
    size_t n = 0;

    while (in.p < in.end) {
        uint32_t f;
        unsigned w;
        pb_in_t sub;
        sw_pb_metric_t tmp;
        if (pb_key(&in, &f, &w) < 0)
            return -EBADMSG;
        if (f != 1 || w != PB_LEN) {
            if (pb_skip(&in, w) < 0)
                return -EBADMSG;
            continue;
        }
        if (pb_bytes(&in, &sub) < 0 || pb_metric_decode(sub, n < cap ? &ret[n] : &tmp) < 0)
            return -EBADMSG;
        n++;
    }
    *ret_n = n;
    return 0;
}

/* ---- writing ------------------------------------------------------------------------------- */

typedef struct pb_out {
    uint8_t *p;
    size_t len, cap;
    bool overflow;
} pb_out_t;

static void pb_put(pb_out_t *o, const void *b, size_t n)
{
    if (o->overflow || o->cap - o->len < n) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, b, n);
    o->len += n;
}

static size_t pb_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void pb_put_varint(pb_out_t *o, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;

    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    pb_put(o, b, n);
}

static size_t pb_str_size(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n ? 1 + pb_varint_size(n) + n : 0;
}

static void pb_put_str(pb_out_t *o, uint32_t field, const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (!n)
        return;
    pb_put_varint(o, (uint64_t)field << 3 | PB_LEN);
    pb_put_varint(o, n);
    pb_put(o, s, n);
}

static size_t pb_entry_size(const sw_pb_kv_t *kv)
{
    return pb_str_size(kv->key) + pb_str_size(kv->value);
}

size_t sw_pb_ref_size(const sw_pb_ref_t *ref)
{
    size_t n = pb_str_size(ref->name) + pb_str_size(ref->namespace);

    for (size_t i = 0; i < ref->nmetadata; i++) {
        size_t e = pb_entry_size(&ref->metadata[i]);
        n += 1 + pb_varint_size(e) + e; /* map entries are written even when empty */
    }
    return n;
}

static void pb_put_ref(pb_out_t *o, const sw_pb_ref_t *ref)
{
    pb_put_str(o, 1, ref->name);
    pb_put_str(o, 2, ref->namespace);
    for (size_t i = 0; i < ref->nmetadata; i++) {
        pb_put_varint(o, 3 << 3 | PB_LEN);
        pb_put_varint(o, pb_entry_size(&ref->metadata[i]));
        pb_put_str(o, 1, ref->metadata[i].key);
        pb_put_str(o, 2, ref->metadata[i].value);
    }
}

static long pb_done(const pb_out_t *o)
{
    return o->overflow ? -EMSGSIZE : (long)o->len;
}

long sw_pb_ref_encode(const sw_pb_ref_t *ref, uint8_t *buf, size_t cap)
{
    pb_out_t o = {buf, 0, cap, false};

    pb_put_ref(&o, ref);
    return pb_done(&o);
}

long sw_pb_metrics_request_encode(const sw_pb_ref_t *ref, const char *metric_name, uint8_t *buf,
                                  size_t cap)
{
    pb_out_t o = {buf, 0, cap, false};

    pb_put_varint(&o, 1 << 3 | PB_LEN); /* a set message field is written even when empty */
    pb_put_varint(&o, sw_pb_ref_size(ref));
    pb_put_ref(&o, ref);
    pb_put_str(&o, 2, metric_name);
    return pb_done(&o);
}

long sw_pb_is_active_encode(bool result, uint8_t *buf, size_t cap)
{
    pb_out_t o = {buf, 0, cap, false};

    if (result) {
        pb_put_varint(&o, 1 << 3 | PB_VARINT);
        pb_put_varint(&o, 1);
    }
    return pb_done(&o);
}

static size_t pb_metric_size(const sw_pb_metric_t *m)
{
    return pb_str_size(m->name) + (m->integer ? 1 + pb_varint_size((uint64_t)m->integer) : 0) +
           (m->real != 0 ? 9 : 0);
}

long sw_pb_metric_list_encode(const sw_pb_metric_t *m, size_t n, uint8_t *buf, size_t cap)
{
    pb_out_t o = {buf, 0, cap, false};

    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        uint8_t le[8];
        pb_put_varint(&o, 1 << 3 | PB_LEN);
        pb_put_varint(&o, pb_metric_size(&m[i]));
        pb_put_str(&o, 1, m[i].name);
        if (m[i].integer) {
            pb_put_varint(&o, 2 << 3 | PB_VARINT);
            pb_put_varint(&o, (uint64_t)m[i].integer);
        }
        if (m[i].real != 0) {
            memcpy(&bits, &m[i].real, sizeof bits);
            for (int k = 0; k < 8; k++)
                le[k] = (uint8_t)(bits >> (8 * k));
            pb_put_varint(&o, 3 << 3 | PB_I64);
            pb_put(&o, le, 8);
        }
    }
    return pb_done(&o);
}

/* Copies a string field into the string area. */
static const char *pb_keep(pb_in_t s, char *strs, size_t cap, size_t *used)
{
    size_t n = (size_t)(s.end - s.p);
    char *d;

    if (cap - *used < n + 1)
        return NULL;
    d = strs + *used;
    memcpy(d, s.p, n);
    d[n] = '\0';
    *used += n + 1;
    return d;
}

static int pb_entry_decode(pb_in_t in, pb_in_t *k, pb_in_t *v)
{
    k->p = k->end = v->p = v->end = in.p;
    while (in.p < in.end) {
        uint32_t f;
        unsigned w;
        if (pb_key(&in, &f, &w) < 0)
            return -EBADMSG;
        if ((f == 1 || f == 2) && w == PB_LEN) {
            if (pb_string(&in, f == 1 ? k : v) < 0)
                return -EBADMSG;
        } else if (pb_skip(&in, w) < 0) {
            return -EBADMSG;
        }
    }
    return 0;
}

int sw_pb_ref_decode(const uint8_t *buf, size_t len, char *strs, size_t strs_cap, sw_pb_ref_t *ret,
                     sw_pb_kv_t *meta, size_t cap, size_t *ret_nmeta)
{
    pb_in_t in = {buf, buf + len};
    size_t used = 0, n = 0;
    sw_pb_ref_t r = {.name = "", .namespace = "", .metadata = meta};

    while (in.p < in.end) {
        uint32_t f;
        unsigned w;
        pb_in_t s, k, v;
        if (pb_key(&in, &f, &w) < 0)
            return -EBADMSG;
        if ((f == 1 || f == 2) && w == PB_LEN) {
            const char *c;
            if (pb_string(&in, &s) < 0 || !(c = pb_keep(s, strs, strs_cap, &used)))
                return -EBADMSG;
            *(f == 1 ? &r.name : &r.namespace) = c;
        } else if (f == 3 && w == PB_LEN) {
            if (pb_bytes(&in, &s) < 0 || pb_entry_decode(s, &k, &v) < 0)
                return -EBADMSG;
            if (n < cap && (!(meta[n].key = pb_keep(k, strs, strs_cap, &used)) ||
                            !(meta[n].value = pb_keep(v, strs, strs_cap, &used))))
                return -EBADMSG;
            n++;
        } else if (pb_skip(&in, w) < 0) {
            return -EBADMSG;
        }
    }
    r.nmetadata = n < cap ? n : cap;
    *ret = r;
    *ret_nmeta = n;
    return 0;
}
