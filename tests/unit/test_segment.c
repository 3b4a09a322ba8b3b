/* SPDX-License-Identifier: Apache-2.0 */
/* Segments: build and walk frames, deflate round trip, and damaged frames
 * (truncated, bad lengths) that must yield SA_ECORRUPT, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/hlc.h"
#include "store/segment.h"

#include <stdio.h>
#include <string.h>

static void build(struct sa_segment_builder *b, uint32_t n)
{
    assert_int_equal(sa_segment_builder_init(b, "orders", 7, 0), SA_OK);
    for (uint32_t i = 0; i < n; i++) {
        char key[32], body[64];
        int key_len = snprintf(key, sizeof key, "k%u", i);
        int body_len = snprintf(body, sizeof body, "body-%u-xxxxxxxxxxxx", i);
        assert_int_equal(sa_segment_add(b, 1000 - (int64_t)i * 3, key,
                                        (size_t)key_len,
                                        i % 5 == 4 ? SA_OP_DELETE : SA_OP_UPSERT,
                                        body, (size_t)body_len),
                         SA_OK);
    }
}

static struct sa_segment_view view_of(const uint8_t *data, size_t len,
                                      uint32_t count)
{
    struct sa_segment_view v;
    memset(&v, 0, sizeof v);
    v.id = 42;
    v.stream = "orders";
    v.first_seq = 100;
    v.count = count;
    v.data = data;
    v.len = len;
    return v;
}

static void check_records(const struct sa_segment_view *v, uint32_t n)
{
    struct sa_segment_iter it;
    struct sa_record_view rec;
    struct sa_err err = {0};
    uint32_t i = v->start_index;

    sa_segment_iter_init(&it, v);
    while (sa_segment_iter_next(&it, &rec, &err) == SA_OK) {
        char key[32], body[64];
        int key_len = snprintf(key, sizeof key, "k%u", i);
        int body_len = snprintf(body, sizeof body, "body-%u-xxxxxxxxxxxx", i);
        assert_int_equal(rec.index, i);
        assert_int_equal(rec.seq, 100 + i);
        assert_int_equal(rec.event_ms, 1000 - (int64_t)i * 3);
        assert_int_equal(rec.key_len, (size_t)key_len);
        assert_memory_equal(rec.key, key, rec.key_len);
        assert_int_equal(rec.op, i % 5 == 4 ? SA_OP_DELETE : SA_OP_UPSERT);
        assert_int_equal(rec.body_len, (size_t)body_len);
        assert_memory_equal(rec.body, body, rec.body_len);
        i++;
    }
    assert_int_equal(err.rc, 0);
    assert_int_equal(i, n);
}

static void test_round_trip(void **state)
{
    struct sa_segment_builder b;
    struct sa_segment_view v;
    struct sa_err err = {0};
    (void)state;

    build(&b, 50);
    assert_int_equal(b.count, 50);
    assert_int_equal(b.min_event_ms, 1000 - 49 * 3);
    assert_int_equal(b.max_event_ms, 1000);
    v = view_of(b.frames.data, b.frames.len, b.count);
    check_records(&v, 50);
    assert_int_equal(sa_segment_check(&v, &err), SA_OK);

    /* start_index skips what a consumer already has */
    v.start_index = 17;
    check_records(&v, 50);
    v.start_index = 50;
    check_records(&v, 50);

    sa_segment_builder_reset(&b);
    assert_int_equal(b.count, 0);
    assert_int_equal(b.frames.len, 0);
    assert_string_equal(b.stream, "orders");
    sa_segment_builder_fini(&b);
}

static void test_empty_key_and_body(void **state)
{
    struct sa_segment_builder b;
    struct sa_segment_view v;
    struct sa_segment_iter it;
    struct sa_record_view rec;
    struct sa_err err = {0};
    (void)state;

    assert_int_equal(sa_segment_builder_init(&b, "s", 1, 0), SA_OK);
    assert_int_equal(sa_segment_add(&b, -5, NULL, 0, SA_OP_DELETE, NULL, 0),
                     SA_OK);
    v = view_of(b.frames.data, b.frames.len, 1);
    sa_segment_iter_init(&it, &v);
    assert_int_equal(sa_segment_iter_next(&it, &rec, &err), SA_OK);
    assert_int_equal(rec.event_ms, -5);
    assert_int_equal(rec.key_len, 0);
    assert_int_equal(rec.body_len, 0);
    assert_int_equal(rec.op, SA_OP_DELETE);
    assert_int_equal(sa_segment_iter_next(&it, &rec, &err), SA_EOF);
    assert_int_equal(sa_segment_add(&b, 0, NULL, 0, (enum sa_op)7, NULL, 0),
                     SA_EINVAL);
    sa_segment_builder_fini(&b);
}

static void test_full_builder_unchanged(void **state)
{
    struct sa_segment_builder b;
    char body[100];
    size_t len_before;
    (void)state;

    memset(body, 'x', sizeof body);
    assert_int_equal(sa_segment_builder_init(&b, "s", 1, 250), SA_OK);
    assert_int_equal(sa_segment_add(&b, 1, "k", 1, SA_OP_UPSERT, body, 100),
                     SA_OK);
    assert_int_equal(sa_segment_add(&b, 1, "k", 1, SA_OP_UPSERT, body, 100),
                     SA_OK);
    len_before = b.frames.len;
    assert_int_equal(sa_segment_add(&b, 1, "k", 1, SA_OP_UPSERT, body, 100),
                     SA_ETOOBIG);
    assert_int_equal(b.count, 2);
    assert_int_equal(b.frames.len, len_before);
    sa_segment_builder_fini(&b);
}

/* A body written in place through sa_segment_add_reserve gives the same
 * frames as sa_segment_add copying it, for bodies shorter and much longer
 * than a cache line (the prefetch after each append differs), and a frame
 * that does not fit leaves the builder as it was. */
static void test_reserve_equals_add(void **state)
{
    struct sa_segment_builder a, b;
    static char body[20000];
    uint8_t *dst;
    (void)state;

    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)(i * 7 + 3);
    assert_int_equal(sa_segment_builder_init(&a, "s", 1, 0), SA_OK);
    assert_int_equal(sa_segment_builder_init(&b, "s", 1, 0), SA_OK);
    for (int i = 0; i < 300; i++) {
        size_t len = i % 10 == 9 ? 5000 + (size_t)i * 31 : (size_t)(i % 90);
        int64_t ev = 1000 + i;
        assert_int_equal(sa_segment_add(&a, ev, "key", 3, SA_OP_UPSERT, body, len),
                         SA_OK);
        assert_int_equal(
            sa_segment_add_reserve(&b, ev, "key", 3, SA_OP_UPSERT, len, &dst), SA_OK);
        assert_true(dst + len == b.frames.data + b.frames.len);
        memcpy(dst, body, len);
    }
    assert_int_equal(a.count, b.count);
    assert_int_equal(a.frames.len, b.frames.len);
    assert_memory_equal(a.frames.data, b.frames.data, a.frames.len);
    assert_int_equal(a.min_event_ms, b.min_event_ms);
    assert_int_equal(a.max_event_ms, b.max_event_ms);
    sa_segment_builder_fini(&a);
    sa_segment_builder_fini(&b);

    assert_int_equal(sa_segment_builder_init(&b, "s", 1, 250), SA_OK);
    assert_int_equal(sa_segment_add_reserve(&b, 1, "k", 1, SA_OP_UPSERT, 200, &dst),
                     SA_OK);
    dst = NULL;
    assert_int_equal(sa_segment_add_reserve(&b, 1, "k", 1, SA_OP_UPSERT, 100, &dst),
                     SA_ETOOBIG);
    assert_null(dst);
    assert_int_equal(b.count, 1);
    sa_segment_builder_fini(&b);
}

static void test_deflate_round_trip(void **state)
{
    struct sa_segment_builder b;
    struct sa_buf z, raw;
    struct sa_segment_view v;
    struct sa_err err = {0};
    (void)state;

    build(&b, 1000);
    sa_buf_init(&z, 1 << 24);
    sa_buf_init(&raw, 1 << 24);
    assert_int_equal(sa_segment_compress(b.frames.data, b.frames.len, &z, &err),
                     SA_OK);
    assert_true(z.len < b.frames.len / 2);
    assert_int_equal(sa_segment_decompress(z.data, z.len, &raw, &err), SA_OK);
    assert_int_equal(raw.len, b.frames.len);
    assert_memory_equal(raw.data, b.frames.data, raw.len);
    v = view_of(raw.data, raw.len, 1000);
    check_records(&v, 1000);

    /* damaged compressed data */
    assert_int_equal(sa_segment_decompress(z.data, z.len / 2, &raw, &err),
                     SA_ECORRUPT);
    z.data[z.len / 2] ^= 0x55;
    z.data[z.len / 3] ^= 0xaa;
    assert_int_equal(sa_segment_decompress(z.data, z.len, &raw, &err),
                     SA_ECORRUPT);
    assert_int_equal(sa_segment_decompress((const uint8_t *)"not zlib", 8, &raw,
                                           &err),
                     SA_ECORRUPT);

    /* a payload that inflates beyond the output cap is refused */
    {
        struct sa_buf small;
        sa_buf_init(&small, 1000);
        assert_int_equal(sa_segment_compress(b.frames.data, b.frames.len, &z,
                                             &err),
                         SA_OK);
        assert_int_equal(sa_segment_decompress(z.data, z.len, &small, &err),
                         SA_ECORRUPT);
        sa_buf_fini(&small);
    }
    sa_buf_fini(&z);
    sa_buf_fini(&raw);
    sa_segment_builder_fini(&b);
}

/* Walk a view to its end; return what the walk ended with. */
static int walk(const uint8_t *data, size_t len, uint32_t count,
                struct sa_err *err)
{
    struct sa_segment_view v = view_of(data, len, count);
    return sa_segment_check(&v, err);
}

static void test_truncated(void **state)
{
    struct sa_segment_builder b;
    struct sa_err err = {0};
    (void)state;

    build(&b, 20);
    /* every cut short of the whole segment is detected */
    for (size_t cut = 0; cut < b.frames.len; cut++) {
        int rc = walk(b.frames.data, cut, 20, &err);
        assert_int_equal(rc, SA_ECORRUPT);
    }
    assert_non_null(strstr(err.msg, "segment 42"));
    assert_int_equal(walk(b.frames.data, b.frames.len, 20, &err), SA_OK);
    /* count says more than there is, or less */
    assert_int_equal(walk(b.frames.data, b.frames.len, 21, &err), SA_ECORRUPT);
    assert_int_equal(walk(b.frames.data, b.frames.len, 19, &err), SA_ECORRUPT);
    assert_non_null(strstr(err.msg, "trailing"));
    sa_segment_builder_fini(&b);
}

static void test_bad_lengths(void **state)
{
    struct sa_segment_builder b;
    struct sa_err err = {0};
    uint8_t copy[4096];
    (void)state;

    build(&b, 3);
    assert_true(b.frames.len < sizeof copy);

    /* frame length larger than the segment */
    memcpy(copy, b.frames.data, b.frames.len);
    copy[0] = 0x7f;
    assert_int_equal(walk(copy, b.frames.len, 3, &err), SA_ECORRUPT);

    /* an endless varint */
    memcpy(copy, b.frames.data, b.frames.len);
    memset(copy, 0xff, 12);
    assert_int_equal(walk(copy, b.frames.len, 3, &err), SA_ECORRUPT);

    /* key length beyond its frame: frame is [len][seq=0][event][key_len]... */
    memcpy(copy, b.frames.data, b.frames.len);
    {
        size_t at = 1 + 1; /* frame_len (1 byte) + seq delta 0 (1 byte) */
        uint64_t ev;
        at += sa_varint_decode(copy + at, copy + b.frames.len, &ev);
        copy[at] = 0x7e; /* key_len 126 */
    }
    assert_int_equal(walk(copy, b.frames.len, 3, &err), SA_ECORRUPT);
    assert_non_null(strstr(err.msg, "key length"));

    /* wrong seq delta */
    memcpy(copy, b.frames.data, b.frames.len);
    copy[1] = 5;
    assert_int_equal(walk(copy, b.frames.len, 3, &err), SA_ECORRUPT);

    /* unknown op: the op byte sits after "k0" in the first frame */
    memcpy(copy, b.frames.data, b.frames.len);
    {
        uint8_t *k = memchr(copy, 'k', b.frames.len);
        assert_non_null(k);
        k[2] = 9;
    }
    assert_int_equal(walk(copy, b.frames.len, 3, &err), SA_ECORRUPT);
    assert_non_null(strstr(err.msg, "op"));

    /* random garbage never crashes */
    for (unsigned seed = 1; seed < 200; seed++) {
        uint32_t x = seed * 2654435761u;
        for (size_t i = 0; i < b.frames.len; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            copy[i] = (uint8_t)x;
        }
        (void)walk(copy, b.frames.len, 3, &err);
    }
    sa_segment_builder_fini(&b);
}

/* Versioned frames carry their version; frames written before spool
 * format 4 (no SA_FRAME_VERSIONED bit) read their event time as it. */
static void test_versions(void **state)
{
    struct sa_segment_builder b;
    struct sa_segment_view v;
    struct sa_segment_iter it;
    struct sa_record_view rec;
    struct sa_err err = {0};
    /* format 3: [len][seq 0][event 21 -> zz 42][key_len 1]['k'][op 1][body] */
    static const uint8_t old_frame[] = {6, 0, 42, 1, 'k', SA_OP_DELETE, 'x'};
    (void)state;

    assert_int_equal(sa_segment_builder_init(&b, "orders", 7, 0), SA_OK);
    assert_int_equal(sa_segment_add_versioned(&b, 5, (int64_t)1 << 60, "a", 1,
                                              SA_OP_UPSERT, "b1", 2),
                     SA_OK);
    assert_int_equal(sa_segment_add_versioned(&b, 6, -3, "a", 1, SA_OP_DELETE, NULL, 0),
                     SA_OK);
    assert_int_equal(sa_segment_add(&b, 7, "c", 1, SA_OP_UPSERT, "b3", 2), SA_OK);
    v = view_of(b.frames.data, b.frames.len, b.count);
    sa_segment_iter_init(&it, &v);
    assert_int_equal(sa_segment_iter_next(&it, &rec, &err), SA_OK);
    assert_true(rec.version == (int64_t)1 << 60);
    assert_int_equal(rec.op, SA_OP_UPSERT);
    assert_int_equal(rec.body_len, 2);
    assert_memory_equal(rec.body, "b1", 2);
    assert_int_equal(sa_segment_iter_next(&it, &rec, &err), SA_OK);
    assert_true(rec.version == -3);
    assert_int_equal(rec.op, SA_OP_DELETE);
    assert_int_equal(rec.body_len, 0);
    assert_int_equal(sa_segment_iter_next(&it, &rec, &err), SA_OK);
    assert_true(rec.version == 7); /* the add without one: the event time */
    assert_int_equal(sa_segment_iter_next(&it, &rec, &err), SA_EOF);

    /* a versioned frame cut before its version */
    {
        const uint8_t cut[] = {5, 0, 42, 1, 'k', SA_OP_UPSERT | SA_FRAME_VERSIONED};
        assert_int_equal(walk(cut, sizeof cut, 1, &err), SA_ECORRUPT);
        assert_non_null(strstr(err.msg, "version"));
    }
    sa_segment_builder_fini(&b);

    v = view_of(old_frame, sizeof old_frame, 1);
    sa_segment_iter_init(&it, &v);
    assert_int_equal(sa_segment_iter_next(&it, &rec, &err), SA_OK);
    assert_int_equal(rec.event_ms, 21);
    assert_true(rec.version == 21);
    assert_int_equal(rec.op, SA_OP_DELETE);
    assert_int_equal(rec.key_len, 1);
    assert_int_equal(rec.body_len, 1);
    assert_memory_equal(rec.body, "x", 1);
    assert_int_equal(sa_segment_check(&v, &err), SA_OK);
}

/* The hybrid logical clock never repeats nor goes back: not within a ms,
 * not when the wall clock jumps back, not after a restart from meta.hlc. */
static void test_hlc(void **state)
{
    struct sa_hlc hlc;
    int64_t a, b, c, d, e;
    (void)state;

    sa_hlc_init(&hlc, 0);
    a = sa_hlc_next(&hlc, 1000);
    assert_true(a == (int64_t)1000 << SA_HLC_LOGICAL_BITS);
    assert_int_equal(sa_hlc_ms(a), 1000);
    b = sa_hlc_next(&hlc, 1000);
    assert_true(b == a + 1);
    c = sa_hlc_next(&hlc, 400); /* the clock jumped back */
    assert_true(c == b + 1);
    d = sa_hlc_next(&hlc, 2000); /* and caught up */
    assert_true(d == (int64_t)2000 << SA_HLC_LOGICAL_BITS);
    /* 70000 values in one ms carry into the ms bits, still increasing */
    for (int i = 0; i < 70000; i++) {
        e = sa_hlc_next(&hlc, 2000);
        assert_true(e > d);
        d = e;
    }
    /* a restart from the stored value with a clock behind it */
    sa_hlc_init(&hlc, d);
    assert_true(sa_hlc_next(&hlc, 1500) == d + 1);
    /* a nonsense clock does not break the order */
    assert_true(sa_hlc_next(&hlc, -5) == d + 2);
    assert_true(sa_hlc_next(&hlc, INT64_MAX) == d + 3);
}

/* Quality tags (format 5): read back with the record, absent on the
 * others, and a damaged tags length is SA_ECORRUPT. */
static void test_tags(void **state)
{
    struct sa_segment_builder b;
    struct sa_segment_view v;
    struct sa_segment_iter it;
    struct sa_record_view rec;
    struct sa_err err = {0};
    uint8_t *body;
    (void)state;

    assert_int_equal(sa_segment_builder_init(&b, "orders", 7, 0), SA_OK);
    assert_int_equal(sa_segment_add_reserve_tagged(&b, 5, 9, "k", 1, SA_OP_UPSERT,
                                                   "amount_max,cc", 13, 2, &body),
                     SA_OK);
    memcpy(body, "b1", 2);
    assert_int_equal(sa_segment_add(&b, 6, "j", 1, SA_OP_UPSERT, "b2", 2), SA_OK);
    assert_int_equal(sa_segment_add_reserve_tagged(&b, 5, 9, "k", 1, SA_OP_UPSERT, "x",
                                                   SA_FRAME_TAGS_MAX + 1, 2, &body),
                     SA_ETOOBIG);
    v = view_of(b.frames.data, b.frames.len, b.count);
    sa_segment_iter_init(&it, &v);
    assert_int_equal(sa_segment_iter_next(&it, &rec, &err), SA_OK);
    assert_int_equal(rec.tags_len, 13);
    assert_memory_equal(rec.tags, "amount_max,cc", 13);
    assert_true(rec.version == 9);
    assert_memory_equal(rec.body, "b1", 2);
    assert_int_equal(sa_segment_iter_next(&it, &rec, &err), SA_OK);
    assert_null(rec.tags);
    assert_int_equal(rec.tags_len, 0);
    assert_memory_equal(rec.body, "b2", 2);
    assert_int_equal(sa_segment_iter_next(&it, &rec, &err), SA_EOF);
    {
        /* [len][seq][event][key_len 0][op|V|T][version][tags_len 9 > left] */
        const uint8_t cut[] = {
            7, 0, 42,  0,  SA_OP_UPSERT | SA_FRAME_VERSIONED | SA_FRAME_TAGGED,
            2, 9, 'a', 'b'};
        assert_int_equal(walk(cut, sizeof cut, 1, &err), SA_ECORRUPT);
        assert_non_null(strstr(err.msg, "tags"));
    }
    sa_segment_builder_fini(&b);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_key_and_body),
        cmocka_unit_test(test_full_builder_unchanged),
        cmocka_unit_test(test_reserve_equals_add),
        cmocka_unit_test(test_deflate_round_trip),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_hlc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
