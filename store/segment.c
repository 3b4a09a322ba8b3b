/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Segments: building frames in memory, walking them back, and the deflate
 * codec of stored payloads. The frame layout is documented in segment.h.
 *
 * The reader trusts nothing: every varint and every length is checked
 * against the bytes that are left, the seq delta must equal the record's
 * position, the op must be known (a version after it when flagged), and the number of
 * frames must equal the segment's count with no trailing bytes. A damaged segment is
 * SA_ECORRUPT with the segment id and record index, never a read past the buffer.
 */
#include "store/segment.h"

#include "agent/base/clock.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Cap on a builder's frames when the caller passes max_bytes == 0. */
#define SEGMENT_DEFAULT_MAX ((size_t)64 << 20)

/* Level 1: the spool is written on the hot ingest path; speed matters more
 * than the last few percent of ratio. */
#define SEGMENT_DEFLATE_LEVEL 1

int sa_segment_builder_init(struct sa_segment_builder *b, const char *stream,
                            int64_t schema_id, size_t max_bytes)
{
    memset(b, 0, sizeof *b);
    sa_buf_init(&b->frames, max_bytes ? max_bytes : SEGMENT_DEFAULT_MAX);
    if (!stream || !*stream)
        return SA_EINVAL;
    b->stream = strdup(stream);
    if (!b->stream)
        return SA_ENOMEM;
    b->schema_id = schema_id;
    b->opened_mono_ms = sa_mono_ms();
    return SA_OK;
}

void sa_segment_builder_fini(struct sa_segment_builder *b)
{
    if (!b)
        return;
    free(b->stream);
    b->stream = NULL;
    sa_buf_fini(&b->frames);
    b->count = 0;
}

void sa_segment_builder_reset(struct sa_segment_builder *b)
{
    sa_buf_reset(&b->frames);
    b->count = 0;
    b->min_event_ms = b->max_event_ms = 0;
    b->opened_mono_ms = sa_mono_ms();
}

static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* All or nothing: the room for the whole frame is reserved first, so a
 * full builder (SA_ETOOBIG) is left exactly as it was and the caller can
 * close it and put the record into the next one. The header goes straight
 * into the reserved room: this runs for every record ingested. */
int sa_segment_add_reserve_tagged(struct sa_segment_builder *b, int64_t event_ms,
                                  int64_t version, const char *key, size_t key_len,
                                  enum sa_op op, const char *tags, size_t tags_len,
                                  size_t body_len, uint8_t **body)
{
    uint64_t event_zz = sa_zigzag_encode(event_ms);
    uint64_t version_zz = sa_zigzag_encode(version);
    size_t inner, total;
    uint8_t *p;
    int rc;

    if (op != SA_OP_UPSERT && op != SA_OP_DELETE)
        return SA_EINVAL;
    if ((key_len && !key) || (tags_len && !tags))
        return SA_EINVAL;
    if (tags_len > SA_FRAME_TAGS_MAX)
        return SA_ETOOBIG;
    if (b->count == UINT32_MAX)
        return SA_ETOOBIG;
    if (key_len > SIZE_MAX / 4 || body_len > SIZE_MAX / 4)
        return SA_ETOOBIG;
    inner = varint_len(b->count) + varint_len(event_zz) + varint_len(key_len) +
            key_len + 1 + varint_len(version_zz) + body_len;
    if (tags_len)
        inner += varint_len(tags_len) + tags_len;
    total = varint_len(inner) + inner;
    rc = sa_buf_reserve(&b->frames, total);
    if (rc)
        return rc;
    /* Cannot fail now: the room is there. */
    p = b->frames.data + b->frames.len;
    p += sa_varint_encode(p, inner);
    p += sa_varint_encode(p, b->count);
    p += sa_varint_encode(p, event_zz);
    p += sa_varint_encode(p, key_len);
    if (key_len)
        memcpy(p, key, key_len);
    p += key_len;
    *p++ =
        (uint8_t)((unsigned)op | SA_FRAME_VERSIONED | (tags_len ? SA_FRAME_TAGGED : 0));
    p += sa_varint_encode(p, version_zz);
    if (tags_len) {
        p += sa_varint_encode(p, tags_len);
        memcpy(p, tags, tags_len);
        p += tags_len;
    }
    *body = p;
    b->frames.len += total;
    /* The committer read this buffer on the other core last time. */
    sa_buf_prefetch_ahead(&b->frames, total, 256);

    if (b->count == 0 || event_ms < b->min_event_ms)
        b->min_event_ms = event_ms;
    if (b->count == 0 || event_ms > b->max_event_ms)
        b->max_event_ms = event_ms;
    b->count++;
    return SA_OK;
}

int sa_segment_add_reserve_versioned(struct sa_segment_builder *b, int64_t event_ms,
                                     int64_t version, const char *key, size_t key_len,
                                     enum sa_op op, size_t body_len, uint8_t **body)
{
    return sa_segment_add_reserve_tagged(b, event_ms, version, key, key_len, op, NULL,
                                         0, body_len, body);
}

int sa_segment_add_versioned(struct sa_segment_builder *b, int64_t event_ms,
                             int64_t version, const char *key, size_t key_len,
                             enum sa_op op, const void *body, size_t body_len)
{
    uint8_t *dst;
    int rc;

    if (body_len && !body)
        return SA_EINVAL;
    rc = sa_segment_add_reserve_versioned(b, event_ms, version, key, key_len, op,
                                          body_len, &dst);
    if (rc == SA_OK && body_len)
        memcpy(dst, body, body_len);
    return rc;
}

int sa_segment_add_reserve(struct sa_segment_builder *b, int64_t event_ms,
                           const char *key, size_t key_len, enum sa_op op,
                           size_t body_len, uint8_t **body)
{
    return sa_segment_add_reserve_versioned(b, event_ms, event_ms, key, key_len, op,
                                            body_len, body);
}

int sa_segment_add(struct sa_segment_builder *b, int64_t event_ms, const char *key,
                   size_t key_len, enum sa_op op, const void *body, size_t body_len)
{
    return sa_segment_add_versioned(b, event_ms, event_ms, key, key_len, op, body,
                                    body_len);
}

void sa_segment_iter_init(struct sa_segment_iter *it,
                          const struct sa_segment_view *view)
{
    it->view = view;
    it->p = view->data;
    it->end = view->data ? view->data + view->len : view->data;
    it->index = 0;
}

static int corrupt(const struct sa_segment_iter *it, struct sa_err *err,
                   const char *what)
{
    return sa_err_set(err, SA_ECORRUPT, "segment %lld record %u: %s",
                      (long long)it->view->id, it->index, what);
}

int sa_segment_iter_next(struct sa_segment_iter *it, struct sa_record_view *out,
                         struct sa_err *err)
{
    const struct sa_segment_view *view = it->view;

    for (;;) {
        const uint8_t *q, *frame_end;
        uint64_t frame_len, seq_delta, event_zz, key_len, version_zz;
        unsigned op, tagged;
        size_t n;

        if (it->index >= view->count) {
            if (it->p != it->end)
                return corrupt(it, err, "trailing bytes after the last record");
            return SA_EOF;
        }
        if (it->p == it->end)
            return corrupt(it, err, "segment ends before its record count");
        n = sa_varint_decode(it->p, it->end, &frame_len);
        if (n == 0)
            return corrupt(it, err, "truncated frame length");
        q = it->p + n;
        if (frame_len > (uint64_t)(it->end - q))
            return corrupt(it, err, "frame length exceeds the segment");
        frame_end = q + frame_len;

        if (it->index < view->start_index) {
            it->p = frame_end;
            it->index++;
            continue;
        }

        n = sa_varint_decode(q, frame_end, &seq_delta);
        if (n == 0)
            return corrupt(it, err, "truncated seq delta");
        q += n;
        if (seq_delta != it->index)
            return corrupt(it, err, "seq delta does not match the record index");
        n = sa_varint_decode(q, frame_end, &event_zz);
        if (n == 0)
            return corrupt(it, err, "truncated event time");
        q += n;
        n = sa_varint_decode(q, frame_end, &key_len);
        if (n == 0)
            return corrupt(it, err, "truncated key length");
        q += n;
        if (key_len > (uint64_t)(frame_end - q))
            return corrupt(it, err, "key length exceeds the frame");
        out->key = (const char *)q;
        out->key_len = (size_t)key_len;
        q += key_len;
        if (q == frame_end)
            return corrupt(it, err, "frame ends before its op byte");
        op = *q & ~(SA_FRAME_VERSIONED | SA_FRAME_TAGGED);
        if (op != SA_OP_UPSERT && op != SA_OP_DELETE)
            return corrupt(it, err, "unknown op");
        out->op = (enum sa_op)op;
        out->event_ms = sa_zigzag_decode(event_zz);
        tagged = *q & SA_FRAME_TAGGED;
        if (*q++ & SA_FRAME_VERSIONED) {
            n = sa_varint_decode(q, frame_end, &version_zz);
            if (n == 0)
                return corrupt(it, err, "truncated version");
            q += n;
            out->version = sa_zigzag_decode(version_zz);
        } else {
            out->version = out->event_ms; /* written before spool format 4 */
        }
        out->tags = NULL;
        out->tags_len = 0;
        if (tagged) {
            uint64_t tags_len;
            n = sa_varint_decode(q, frame_end, &tags_len);
            if (n == 0)
                return corrupt(it, err, "truncated tags length");
            q += n;
            if (tags_len == 0 || tags_len > SA_FRAME_TAGS_MAX ||
                tags_len > (uint64_t)(frame_end - q))
                return corrupt(it, err, "tags length exceeds the frame");
            out->tags = (const char *)q;
            out->tags_len = (size_t)tags_len;
            q += tags_len;
        }
        out->body = q;
        out->body_len = (size_t)(frame_end - q);
        out->index = it->index;
        out->seq = view->first_seq + it->index;
        it->p = frame_end;
        it->index++;
        return SA_OK;
    }
}

int sa_segment_check(const struct sa_segment_view *view, struct sa_err *err)
{
    struct sa_segment_view whole = *view;
    struct sa_segment_iter it;
    struct sa_record_view rec;
    int rc;

    whole.start_index = 0;
    if (whole.count == 0)
        return sa_err_set(err, SA_ECORRUPT, "segment %lld: no records",
                          (long long)whole.id);
    sa_segment_iter_init(&it, &whole);
    while ((rc = sa_segment_iter_next(&it, &rec, err)) == SA_OK)
        ;
    return rc == SA_EOF ? SA_OK : rc;
}

int sa_segment_compress(const uint8_t *in, size_t len, struct sa_buf *out,
                        struct sa_err *err)
{
    uLongf dest_len;
    uLong bound;
    int rc;

    sa_buf_reset(out);
    if (len > ULONG_MAX / 2)
        return sa_err_set(err, SA_ETOOBIG, "segment of %zu bytes is too large "
                          "to compress", len);
    bound = compressBound((uLong)len);
    rc = sa_buf_reserve(out, bound);
    if (rc)
        return sa_err_set(err, rc, "compress: no room for %lu bytes: %s",
                          (unsigned long)bound, sa_strerror(rc));
    dest_len = bound;
    rc = compress2(out->data, &dest_len, in, (uLong)len, SEGMENT_DEFLATE_LEVEL);
    if (rc != Z_OK)
        return sa_err_set(err, rc == Z_MEM_ERROR ? SA_ENOMEM : SA_EIO,
                          "deflate failed: %s", zError(rc));
    out->len = dest_len;
    return SA_OK;
}

int sa_segment_decompress(const uint8_t *in, size_t len, struct sa_buf *out,
                          struct sa_err *err)
{
    z_stream zs;
    int zrc, rc = SA_OK;

    sa_buf_reset(out);
    if (len > UINT_MAX)
        return sa_err_set(err, SA_ETOOBIG, "compressed segment of %zu bytes is "
                          "too large", len);
    memset(&zs, 0, sizeof zs);
    zrc = inflateInit(&zs);
    if (zrc != Z_OK)
        return sa_err_set(err, SA_ENOMEM, "inflateInit failed: %s", zError(zrc));
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    for (;;) {
        size_t room, extra = out->len < 4096 ? 4096 : out->len;

        /* Grow geometrically; the buffer's cap bounds what a hostile
         * payload (a deflate bomb) can make us allocate. */
        if (extra > out->max - out->len)
            extra = out->max - out->len;
        if (extra == 0) {
            rc = sa_err_set(err, SA_ECORRUPT,
                            "inflate: payload grows beyond %zu bytes", out->max);
            goto out;
        }
        rc = sa_buf_reserve(out, extra);
        if (rc) {
            sa_err_set(err, rc, "inflate: %s", sa_strerror(rc));
            goto out;
        }
        room = out->cap - out->len;
        if (room > out->max - out->len)
            room = out->max - out->len;
        if (room > UINT_MAX)
            room = UINT_MAX;
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt)room;
        zrc = inflate(&zs, Z_NO_FLUSH);
        out->len += room - zs.avail_out;
        if (zrc == Z_STREAM_END)
            break;
        if (zrc == Z_OK)
            continue;
        if (zrc == Z_BUF_ERROR && zs.avail_in > 0)
            continue; /* needs more output room */
        if (zrc == Z_BUF_ERROR)
            rc = sa_err_set(err, SA_ECORRUPT, "inflate: compressed data is "
                            "truncated");
        else
            rc = sa_err_set(err, zrc == Z_MEM_ERROR ? SA_ENOMEM : SA_ECORRUPT,
                            "inflate: %s", zs.msg ? zs.msg : zError(zrc));
        goto out;
    }
    if (zs.avail_in != 0)
        rc = sa_err_set(err, SA_ECORRUPT, "inflate: %u bytes after the end of "
                        "the compressed stream", zs.avail_in);
out:
    inflateEnd(&zs);
    return rc;
}
