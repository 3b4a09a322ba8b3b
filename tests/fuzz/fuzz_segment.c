/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the segment reader and codec (store/segment.c):
 * what the spool hands back may have been damaged on disk, so no bytes may
 * crash it, and every failure is SA_ECORRUPT (DESIGN.md I6).
 *
 * Input: byte 0 holds the record count in its low 7 bits; with its high bit
 * set the rest is a deflate payload that goes through
 * sa_segment_decompress first, otherwise the rest is the frames. The
 * count sits in its own byte rather than in the frames' first byte so that
 * the fuzzer can change one without the other.
 *
 * Checks:
 *   - sa_segment_decompress gives SA_OK or SA_ECORRUPT; what inflated
 *     survives sa_segment_compress and inflates back to the same bytes;
 *   - sa_segment_iter_next gives SA_OK, then SA_EOF or SA_ECORRUPT; each
 *     record lies inside the data and carries its index and seq; SA_EOF
 *     comes after exactly `count` records; sa_segment_check agrees;
 *   - iterating from start_index = k gives records k.. of the full walk;
 *   - a good segment rebuilt with sa_segment_builder reads back the same
 *     records, versions included (the bytes may differ: the reader accepts
 *     long varints, and a frame without a version is rebuilt with its
 *     event time as one).
 */
#include "store/segment.h"
#include "tests/fuzz/fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INFLATED ((size_t)1 << 20)
#define FIRST_SEQ UINT64_C(1000)

static int within(const void *p, size_t len, const uint8_t *base, size_t base_len)
{
    const uint8_t *q = p;
    return q >= base && len <= base_len && (size_t)(q - base) <= base_len - len;
}

static int same_record(const struct sa_record_view *a, const struct sa_record_view *b)
{
    return a->seq == b->seq && a->index == b->index && a->event_ms == b->event_ms &&
           a->version == b->version && a->op == b->op && a->key_len == b->key_len &&
           (a->key_len == 0 || memcmp(a->key, b->key, a->key_len) == 0) &&
           a->body_len == b->body_len &&
           (a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0);
}

/* Walk the view; records go to recs (room for view->count). Returns the
 * final rc (SA_EOF or SA_ECORRUPT) and the number of records in *n. */
static int walk(const struct sa_segment_view *view, struct sa_record_view *recs,
                size_t *n)
{
    struct sa_segment_iter it;
    struct sa_record_view rec;
    struct sa_err err;
    uint32_t index = view->start_index;
    unsigned sum = 0;
    int rc;

    *n = 0;
    sa_segment_iter_init(&it, view);
    while ((rc = sa_segment_iter_next(&it, &rec, &err)) == SA_OK) {
        CHECK(index < view->count);
        CHECK(rec.index == index && rec.seq == view->first_seq + index);
        CHECK(rec.op == SA_OP_UPSERT || rec.op == SA_OP_DELETE);
        CHECK(rec.key_len == 0 || within(rec.key, rec.key_len, view->data, view->len));
        CHECK(rec.body_len == 0 ||
              within(rec.body, rec.body_len, view->data, view->len));
        for (size_t i = 0; i < rec.key_len; i++) /* let ASan see every byte */
            sum += (unsigned char)rec.key[i];
        for (size_t i = 0; i < rec.body_len; i++)
            sum += rec.body[i];
        recs[(*n)++] = rec;
        index++;
    }
    (void)sum;
    if (rc == SA_EOF) {
        CHECK(view->start_index > view->count || index == view->count);
    } else {
        CHECK(rc == SA_ECORRUPT);
        CHECK(err.rc == SA_ECORRUPT && strncmp(err.msg, "segment ", 8) == 0);
    }
    return rc;
}

static void check_rebuilt(const struct sa_segment_view *view,
                          const struct sa_record_view *recs, size_t n)
{
    struct sa_segment_builder b;
    struct sa_segment_view again = *view;
    struct sa_record_view *recs2 = calloc(n ? n : 1, sizeof *recs2);
    size_t n2;

    CHECK(recs2 != NULL);
    CHECK(sa_segment_builder_init(&b, "fuzz", 1, 0) == SA_OK);
    for (size_t i = 0; i < n; i++)
        CHECK(sa_segment_add_versioned(&b, recs[i].event_ms, recs[i].version,
                                       recs[i].key, recs[i].key_len, recs[i].op,
                                       recs[i].body, recs[i].body_len) == SA_OK);
    CHECK(b.count == n);
    again.data = b.frames.data;
    again.len = b.frames.len;
    CHECK(walk(&again, recs2, &n2) == SA_EOF && n2 == n);
    for (size_t i = 0; i < n; i++)
        CHECK(same_record(&recs[i], &recs2[i]));
    sa_segment_builder_fini(&b);
    free(recs2);
}

static void check_frames(const uint8_t *frames, size_t len, uint32_t count)
{
    struct sa_segment_view view = {
        .id = 7,
        .stream = "fuzz",
        .schema_id = 1,
        .first_seq = FIRST_SEQ,
        .count = count,
        .data = frames,
        .len = len,
    };
    struct sa_record_view *all = calloc(count + 1, sizeof *all);
    struct sa_record_view *tail = calloc(count + 1, sizeof *tail);
    struct sa_err err;
    size_t n_all, n_tail;
    int rc, rc_tail;

    CHECK(all && tail);
    rc = walk(&view, all, &n_all);
    CHECK(sa_segment_check(&view, &err) ==
          (rc == SA_EOF && count > 0 ? SA_OK : SA_ECORRUPT));

    /* A consumer that resumes inside the segment sees the same records. */
    view.start_index = count / 2;
    rc_tail = walk(&view, tail, &n_tail);
    if (rc == SA_EOF)
        CHECK(rc_tail == SA_EOF);
    for (size_t i = 0; i < n_tail && view.start_index + i < n_all; i++)
        CHECK(same_record(&tail[i], &all[view.start_index + i]));
    view.start_index = 0;

    if (rc == SA_EOF)
        check_rebuilt(&view, all, n_all);
    free(all);
    free(tail);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sa_buf inflated, deflated, again;
    struct sa_err err;
    uint32_t count;
    int rc;

    if (size < 1)
        return 0;
    count = data[0] & 0x7f;
    if (!(data[0] & 0x80)) {
        /* a copy of exactly the frames, so ASan sees reads past the end */
        uint8_t *frames = malloc(size - 1 ? size - 1 : 1);
        CHECK(frames != NULL);
        memcpy(frames, data + 1, size - 1);
        check_frames(frames, size - 1, count);
        free(frames);
        return 0;
    }

    sa_buf_init(&inflated, MAX_INFLATED);
    sa_buf_init(&deflated, MAX_INFLATED * 2);
    sa_buf_init(&again, MAX_INFLATED);
    rc = sa_segment_decompress(data + 1, size - 1, &inflated, &err);
    if (rc != SA_OK) {
        CHECK(rc == SA_ECORRUPT && err.rc == rc);
        CHECK(inflated.len <= MAX_INFLATED);
    } else {
        CHECK(inflated.len <= MAX_INFLATED);
        CHECK(sa_segment_compress(inflated.data, inflated.len, &deflated, &err) ==
              SA_OK);
        CHECK(sa_segment_decompress(deflated.data, deflated.len, &again, &err) ==
              SA_OK);
        CHECK(again.len == inflated.len &&
              (again.len == 0 || memcmp(again.data, inflated.data, again.len) == 0));
        check_frames(inflated.data, inflated.len, count);
    }
    sa_buf_fini(&inflated);
    sa_buf_fini(&deflated);
    sa_buf_fini(&again);
    return 0;
}
