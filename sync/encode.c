/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wire encodings of spooled records (sync/encode.h).
 *
 * sa_encode_json turns an Avro binary body into one compact JSON object
 * by walking the writer schema and the bytes together, writing straight
 * into the output buffer. Decoding through an avro-c generic value would
 * need a value (and a reader) per schema kept somewhere between calls and
 * walk the data twice; the direct walk needs no state, allocates nothing
 * and checks every length against the end of the body, so a damaged
 * record is an error, never a read past the buffer.
 *
 * Mapping: null/boolean/numbers as JSON literals (int, long, date (days)
 * and timestamp-millis/-micros as integers; doubles in the shortest form
 * that reads back to the same value; NaN and infinities, which JSON lacks,
 * as null: a consumer that types the column as a number keeps working),
 * strings escaped, bytes and fixed as strings of \u00XX code points (the
 * Avro JSON encoding's convention), enums as their symbol, unions as the
 * plain value of their branch, records as objects in schema order.
 *
 * Resolution (DESIGN.md §6: JSON sinks see one shape per subject). A writer
 * schema that the sinks' cache linked to a newer version of its subject
 * (sa_schema.reader) is written in the reader's shape, Avro schema
 * resolution at the top level: the reader's fields in its order, each
 * from the writer field of the same name (or one the reader field lists
 * in its aliases), a field the writer lacks with the reader's default,
 * and writer fields the reader dropped left out. Values keep their
 * writer encoding, which for Avro's promotions (int to long, float,
 * double; string to bytes) is the same JSON. Nested records are written
 * as the writer has them.
 */
#include "sync/encode.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct reader {
    const uint8_t *p, *start, *end;
};

static int read_long(struct reader *r, int64_t *out)
{
    uint64_t v;
    size_t n = sa_varint_decode(r->p, r->end, &v);
    if (n == 0)
        return -1;
    r->p += n;
    *out = sa_zigzag_decode(v);
    return 0;
}

static int put_u64(struct sa_buf *out, uint64_t v)
{
    char tmp[24];
    size_t n = sizeof tmp;
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return sa_buf_append(out, tmp + n, sizeof tmp - n);
}

static int put_i64(struct sa_buf *out, int64_t v)
{
    int rc = SA_OK;
    if (v < 0) {
        rc = sa_buf_append_byte(out, '-');
        return rc ? rc : put_u64(out, 0 - (uint64_t)v);
    }
    return put_u64(out, (uint64_t)v);
}

/* Most values carry a few decimals (21.37, 1013.8): find the smallest k
 * <= 6 with d == m / 10^k for an integer m < 2^53 and print m with the
 * point moved. Both m and 10^k are exact doubles and IEEE division rounds
 * correctly, so the text reads back as d. Returns 0 when d is not such a
 * value. This skips snprintf and strtod, the cost of JSON encoding. */
static int put_short_decimal(struct sa_buf *out, double d)
{
    static const double p10[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    char tmp[32];
    size_t n = sizeof tmp;

    if (!(fabs(d) < 1e9) || d == 0)
        return 0;
    for (int k = 0; k <= 6; k++) {
        double scaled = d * p10[k];
        int64_t m = (int64_t)llrint(scaled);
        uint64_t u;
        if ((double)m / p10[k] != d)
            continue;
        u = m < 0 ? 0 - (uint64_t)m : (uint64_t)m;
        for (int digit = 0; digit < k || u || digit <= k; digit++) {
            if (digit == k && k > 0)
                tmp[--n] = '.';
            tmp[--n] = (char)('0' + u % 10);
            u /= 10;
        }
        if (m < 0)
            tmp[--n] = '-';
        return sa_buf_append(out, tmp + n, sizeof tmp - n) ? -1 : 1;
    }
    return 0;
}

static int put_double(struct sa_buf *out, double d, int is_float)
{
    char tmp[40];
    int n;

    if (!isfinite(d))
        return sa_buf_append_str(out, "null");
    if (!is_float && (n = put_short_decimal(out, d)) != 0)
        return n > 0 ? SA_OK : SA_ETOOBIG;
    /* Shortest of %.15g / %.17g (%.9g for float) that reads back exactly. */
    if (is_float) {
        n = snprintf(tmp, sizeof tmp, "%.9g", d);
    } else {
        n = snprintf(tmp, sizeof tmp, "%.15g", d);
        if (strtod(tmp, NULL) != d)
            n = snprintf(tmp, sizeof tmp, "%.17g", d);
    }
    return sa_buf_append(out, tmp, (size_t)n);
}

/* A JSON string from UTF-8 text (as_bytes: every byte a \u00XX or ASCII
 * code point, for Avro bytes and fixed). */
static int put_string(struct sa_buf *out, const uint8_t *s, size_t len, int as_bytes)
{
    static const char hex[] = "0123456789abcdef";
    int rc;

    /* Worst case 6 bytes per input byte plus quotes: reserve once. */
    if (len > (SIZE_MAX - 2) / 6 || (rc = sa_buf_reserve(out, len * 6 + 2)))
        return len > (SIZE_MAX - 2) / 6 ? SA_ETOOBIG : rc;
    uint8_t *w = out->data + out->len;
    *w++ = '"';
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f &&
            (c < 0x80 || !as_bytes)) {
            *w++ = c;
            continue;
        }
        *w++ = '\\';
        switch (c) {
        case '"':
            *w++ = '"';
            break;
        case '\\':
            *w++ = '\\';
            break;
        case '\n':
            *w++ = 'n';
            break;
        case '\r':
            *w++ = 'r';
            break;
        case '\t':
            *w++ = 't';
            break;
        default:
            *w++ = 'u';
            *w++ = '0';
            *w++ = '0';
            *w++ = (uint8_t)hex[c >> 4];
            *w++ = (uint8_t)hex[c & 15];
        }
    }
    *w++ = '"';
    out->len = (size_t)(w - out->data);
    return SA_OK;
}

static int corrupt(const struct reader *r, struct sa_err *err, const char *what)
{
    return sa_err_set(err, SA_ECORRUPT, "avro body: %s at byte %td", what,
                      r->p - r->start);
}

static int put_value(avro_schema_t s, struct reader *r, struct sa_buf *out, int depth,
                     struct sa_err *err);

static int put_record_fields(avro_schema_t s, const struct sa_schema *top,
                             struct reader *r, struct sa_buf *out, int depth,
                             struct sa_err *err)
{
    size_t n = avro_schema_record_size(s);
    int rc = sa_buf_append_byte(out, '{');

    for (size_t i = 0; !rc && i < n; i++) {
        const char *name =
            top ? top->fields[i].name : avro_schema_record_field_name(s, (int)i);
        avro_schema_t ft = top ? top->fields[i].type
                               : avro_schema_record_field_get_by_index(s, (int)i);
        /* Field names are Avro names ([A-Za-z_][A-Za-z0-9_]*): no escaping. */
        if (i && (rc = sa_buf_append_byte(out, ',')))
            break;
        if ((rc = sa_buf_append_byte(out, '"')) ||
            (rc = sa_buf_append_str(out, name)) || (rc = sa_buf_append(out, "\":", 2)))
            break;
        if ((rc = put_value(ft, r, out, depth + 1, err)))
            return rc;
    }
    return rc;
}

static int put_blocks(avro_schema_t s, int is_map, struct reader *r, struct sa_buf *out,
                      int depth, struct sa_err *err)
{
    avro_schema_t inner =
        is_map ? avro_schema_map_values(s) : avro_schema_array_items(s);
    int64_t count, block_bytes;
    int first = 1, rc = sa_buf_append_byte(out, is_map ? '{' : '[');

    while (!rc) {
        if (read_long(r, &count))
            return corrupt(r, err, "bad block count");
        if (count == 0)
            break;
        if (count < 0) {
            if (count == INT64_MIN || read_long(r, &block_bytes))
                return corrupt(r, err, "bad block size");
            count = -count;
        }
        /* Items may take no bytes (null): a huge count is bounded by the
         * output buffer's cap, not by the body. */
        for (int64_t i = 0; i < count; i++) {
            if (!first && (rc = sa_buf_append_byte(out, ',')))
                return rc;
            first = 0;
            if (is_map) {
                int64_t klen;
                if (read_long(r, &klen) || klen < 0 || klen > r->end - r->p)
                    return corrupt(r, err, "bad map key");
                if ((rc = put_string(out, r->p, (size_t)klen, 0)) ||
                    (rc = sa_buf_append_byte(out, ':')))
                    return rc;
                r->p += klen;
            }
            if ((rc = put_value(inner, r, out, depth + 1, err)))
                return rc;
        }
    }
    return rc ? rc : sa_buf_append_byte(out, is_map ? '}' : ']');
}

static int put_value(avro_schema_t s, struct reader *r, struct sa_buf *out, int depth,
                     struct sa_err *err)
{
    int64_t l;
    int rc;

    if (depth > MAX_DEPTH)
        return sa_err_set(err, SA_ECORRUPT, "avro body: nested deeper than %d",
                          MAX_DEPTH);
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return sa_buf_append_str(out, "null");
    case AVRO_BOOLEAN:
        if (r->p >= r->end || *r->p > 1)
            return corrupt(r, err, "bad boolean");
        return sa_buf_append_str(out, *r->p++ ? "true" : "false");
    case AVRO_INT32:
    case AVRO_INT64:
        if (read_long(r, &l))
            return corrupt(r, err, "bad varint");
        return put_i64(out, l);
    case AVRO_FLOAT: {
        float f;
        uint32_t bits;
        if (r->end - r->p < 4)
            return corrupt(r, err, "truncated float");
        bits = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
               (uint32_t)r->p[3] << 24;
        memcpy(&f, &bits, 4);
        r->p += 4;
        return put_double(out, (double)f, 1);
    }
    case AVRO_DOUBLE: {
        double d;
        uint64_t bits = 0;
        if (r->end - r->p < 8)
            return corrupt(r, err, "truncated double");
        for (int i = 7; i >= 0; i--)
            bits = bits << 8 | r->p[i];
        memcpy(&d, &bits, 8);
        r->p += 8;
        return put_double(out, d, 0);
    }
    case AVRO_STRING:
    case AVRO_BYTES:
        if (read_long(r, &l) || l < 0 || l > r->end - r->p)
            return corrupt(r, err, "bad string length");
        rc = put_string(out, r->p, (size_t)l, avro_typeof(s) == AVRO_BYTES);
        r->p += l;
        return rc;
    case AVRO_FIXED:
        l = avro_schema_fixed_size(s);
        if (l > r->end - r->p)
            return corrupt(r, err, "truncated fixed");
        rc = put_string(out, r->p, (size_t)l, 1);
        r->p += l;
        return rc;
    case AVRO_ENUM: {
        const char *sym;
        if (read_long(r, &l) || l < 0 || l >= avro_schema_enum_number_of_symbols(s))
            return corrupt(r, err, "bad enum index");
        sym = avro_schema_enum_get(s, (int)l);
        return put_string(out, (const uint8_t *)sym, strlen(sym), 0);
    }
    case AVRO_UNION:
        if (read_long(r, &l) || l < 0 || (size_t)l >= avro_schema_union_size(s))
            return corrupt(r, err, "bad union branch");
        return put_value(avro_schema_union_branch(s, (int)l), r, out, depth + 1, err);
    case AVRO_RECORD:
        if ((rc = put_record_fields(s, NULL, r, out, depth, err)))
            return rc;
        return sa_buf_append_byte(out, '}');
    case AVRO_ARRAY:
        return put_blocks(s, 0, r, out, depth, err);
    case AVRO_MAP:
        return put_blocks(s, 1, r, out, depth, err);
    case AVRO_LINK:
        return put_value(avro_schema_link_target(s), r, out, depth + 1, err);
    default:
        return sa_err_set(err, SA_ESCHEMA, "avro body: unsupported schema type");
    }
}

/* Append len bytes that out already holds at off (before out->len). */
static int append_own(struct sa_buf *out, size_t off, size_t len)
{
    int rc = sa_buf_reserve(out, len);
    if (rc)
        return rc;
    /* After the reserve: it may have moved the data. */
    memcpy(out->data + out->len, out->data + off, len);
    out->len += len;
    return SA_OK;
}

/* The writer field a reader field takes its value from, -1 for none: the
 * same name, or one of the reader field's aliases (Avro resolution). The
 * field at the same index is tried first: versions mostly add at the end. */
static int writer_field_for(const struct sa_schema *writer,
                            const struct sa_schema *reader, size_t j)
{
    const struct sa_schema_field *rf = &reader->fields[j];

    if (j < writer->n_fields && strcmp(writer->fields[j].name, rf->name) == 0)
        return (int)j;
    for (size_t i = 0; i < writer->n_fields; i++) {
        if (strcmp(writer->fields[i].name, rf->name) == 0)
            return (int)i;
        for (size_t a = 0; a < rf->n_aliases; a++)
            if (strcmp(writer->fields[i].name, rf->aliases[a]) == 0)
                return (int)i;
    }
    return -1;
}

/* The record's top-level fields in the reader's shape (see sa_encode_json):
 * each writer field is decoded first, after the object's place in out,
 * then the object is put together from those spans in reader order and
 * moved down over them. Appends the object without its closing brace. */
static int put_resolved_fields(const struct sa_schema *writer,
                               const struct sa_schema *reader, struct reader *r,
                               struct sa_buf *out, struct sa_err *err)
{
    size_t base = out->len, scratch_end, stack_spans[2 * 64];
    size_t *spans = stack_spans;
    int rc = SA_OK, first = 1;

    if (writer->n_fields > 64 &&
        !(spans = malloc(2 * writer->n_fields * sizeof *spans)))
        return SA_ENOMEM;
    for (size_t i = 0; !rc && i < writer->n_fields; i++) {
        spans[2 * i] = out->len;
        rc = put_value(writer->fields[i].type, r, out, 1, err);
        spans[2 * i + 1] = out->len - spans[2 * i];
    }
    scratch_end = out->len;
    if (!rc)
        rc = sa_buf_append_byte(out, '{');
    for (size_t j = 0; !rc && j < reader->n_fields; j++) {
        const struct sa_schema_field *rf = &reader->fields[j];
        int i = writer_field_for(writer, reader, j);

        /* A field the writer lacks takes the reader's default; without
         * one (a reader that is not backward compatible) it is left out
         * rather than failing a record that is fine as written. */
        if (i < 0 && !rf->default_json)
            continue;
        if ((!first && (rc = sa_buf_append_byte(out, ','))) ||
            (rc = sa_buf_append_byte(out, '"')) ||
            (rc = sa_buf_append_str(out, rf->name)) ||
            (rc = sa_buf_append(out, "\":", 2)))
            break;
        first = 0;
        rc = i >= 0 ? append_own(out, spans[2 * i], spans[2 * i + 1])
                    : sa_buf_append_str(out, rf->default_json);
    }
    if (!rc) {
        size_t len = out->len - scratch_end;
        memmove(out->data + base, out->data + scratch_end, len);
        out->len = base + len;
    }
    if (spans != stack_spans)
        free(spans);
    return rc;
}

int sa_encode_json(const struct sa_schema *schema, const uint8_t *body, size_t body_len,
                   const char *origin_id, const struct sa_record_view *rec_meta,
                   struct sa_buf *out, struct sa_err *err)
{
    struct reader r = {body, body, body + body_len};
    size_t mark = out->len;
    int rc;

    if (schema->reader && schema->reader != schema)
        rc = put_resolved_fields(schema, schema->reader, &r, out, err);
    else
        rc = put_record_fields(schema->avro, schema, &r, out, 0, err);
    if (!rc && r.p != r.end)
        rc = corrupt(&r, err, "trailing bytes");
    if (!rc && rec_meta) {
        if (origin_id) {
            rc = sa_buf_append_str(out, ",\"_origin_id\":");
            if (!rc)
                rc = put_string(out, (const uint8_t *)origin_id, strlen(origin_id), 0);
        }
        if (!rc)
            rc = sa_buf_append_str(out, ",\"_seq\":");
        if (!rc)
            rc = put_u64(out, rec_meta->seq);
        if (!rc)
            rc = sa_buf_append_str(out, rec_meta->op == SA_OP_DELETE
                                            ? ",\"_op\":\"delete\""
                                            : ",\"_op\":\"upsert\"");
        /* The quality rules it failed with action tag (agent/quality/):
         * rule names are [A-Za-z0-9_.-], nothing to escape. */
        if (!rc && rec_meta->tags_len) {
            const char *t = rec_meta->tags, *end = t + rec_meta->tags_len;
            rc = sa_buf_append_str(out, ",\"_quality\":[\"");
            for (; !rc && t < end; t++)
                rc = *t == ',' ? sa_buf_append_str(out, "\",\"")
                               : sa_buf_append_byte(out, (uint8_t)*t);
            if (!rc)
                rc = sa_buf_append_str(out, "\"]");
        }
    }
    if (!rc)
        rc = sa_buf_append_byte(out, '}');
    if (rc) {
        out->len = mark;
        if (!err || err->rc != rc)
            sa_err_set(err, rc, "schema %s v%d: JSON encoding: %s", schema->subject,
                       schema->version, sa_strerror(rc));
        else
            sa_err_prefix(err, "schema %s v%d: ", schema->subject, schema->version);
    }
    return rc;
}

int sa_encode_single_object(const struct sa_schema *schema, const uint8_t *body,
                            size_t body_len, struct sa_buf *out)
{
    uint8_t head[SA_SINGLE_OBJECT_HEADER_LEN] = {0xC3, 0x01};
    int rc;

    for (int i = 0; i < 8; i++)
        head[2 + i] = (uint8_t)(schema->fingerprint >> (8 * i));
    if ((rc = sa_buf_reserve(out, sizeof head + body_len)) ||
        (rc = sa_buf_append(out, head, sizeof head)))
        return rc;
    return body_len ? sa_buf_append(out, body, body_len) : SA_OK;
}

int sa_encode_confluent(int32_t schema_id, const uint8_t *body, size_t body_len,
                        struct sa_buf *out)
{
    uint32_t id = (uint32_t)schema_id;
    uint8_t head[SA_CONFLUENT_HEADER_LEN] = {
        0, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
    int rc;

    if ((rc = sa_buf_reserve(out, sizeof head + body_len)) ||
        (rc = sa_buf_append(out, head, sizeof head)))
        return rc;
    return body_len ? sa_buf_append(out, body, body_len) : SA_OK;
}
