/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Segments: a batch of records of one stream and one schema version,
 * stored as one row of the spool (DESIGN.md §3).
 *
 * Frame of one record inside segments.data (after inflating when codec is
 * deflate):
 *
 *   varint  frame_len          bytes that follow, up to the next frame
 *   varint  seq_delta          seq - segment.first_seq (== record index)
 *   zigzag  event_ms           event time, ms since the epoch
 *   varint  key_len, key bytes the stream's key field as text (may be 0)
 *   byte    op                 SA_OP_UPSERT or SA_OP_DELETE, ORed with
 *                              SA_FRAME_VERSIONED when a version follows
 *   zigzag  version            only with SA_FRAME_VERSIONED: the record's
 *                              version for last-writer-wins
 *   varint  tags_len, tags     only with SA_FRAME_TAGGED (spool format 5):
 *                              the names of the quality rules the record
 *                              failed with action tag, comma-separated
 *   ...     Avro binary body   rest of the frame
 *
 * Frames written before spool format 4 have no version (the bit is
 * clear); their version reads as their event time, the best order they
 * have. The builder always writes the bit now. The flag is per frame, not
 * per segment, so an old segment needs no rewrite and a reader needs no
 * segment-level flag. The tags follow the same idea: an untagged record
 * pays nothing, and frames written before format 5 never have the bit.
 *
 * The builder appends frames in memory; the reader walks them and checks
 * every length, so a damaged segment yields SA_ECORRUPT, never a crash.
 */
#ifndef SA_STORE_SEGMENT_H
#define SA_STORE_SEGMENT_H

#include "agent/base/buf.h"
#include "agent/base/error.h"

#include <stdint.h>

enum sa_op { SA_OP_UPSERT = 0, SA_OP_DELETE = 1 };
/* The op byte's bit that says a version follows it (spool format 4). */
#define SA_FRAME_VERSIONED 0x80u
/* The op byte's bit that says quality tags follow the version (format 5). */
#define SA_FRAME_TAGGED 0x40u
/* The most bytes of tags one frame may carry. */
#define SA_FRAME_TAGS_MAX 1024u
enum sa_codec { SA_CODEC_NONE = 0, SA_CODEC_DEFLATE = 1 };

/* A segment being filled by the writer thread. Caller-owned (init/fini). */
struct sa_segment_builder {
    char *stream;     /* owned */
    int64_t schema_id;
    uint32_t count;
    int64_t min_event_ms, max_event_ms;
    int64_t opened_mono_ms; /* for batch.linger */
    struct sa_buf frames;   /* uncompressed frames */
};

int sa_segment_builder_init(struct sa_segment_builder *b, const char *stream,
                            int64_t schema_id, size_t max_bytes);
void sa_segment_builder_fini(struct sa_segment_builder *b);
/* Empty it for reuse with the same stream and schema. */
void sa_segment_builder_reset(struct sa_segment_builder *b);
/* Append one record with its version (the x-version field's value or a
 * hybrid logical clock, store/hlc.h); body is the Avro binary encoding.
 * Copies everything. SA_ETOOBIG when the frame does not fit: the builder
 * is left as it was. */
int sa_segment_add_versioned(struct sa_segment_builder *b, int64_t event_ms,
                             int64_t version, const char *key, size_t key_len,
                             enum sa_op op, const void *body, size_t body_len);
/* The same for a body the caller writes in place, saving a copy: *body
 * points at body_len bytes of the new frame, to fill before anything else
 * touches b. */
int sa_segment_add_reserve_versioned(struct sa_segment_builder *b, int64_t event_ms,
                                     int64_t version, const char *key, size_t key_len,
                                     enum sa_op op, size_t body_len, uint8_t **body);
/* The same with quality tags (tags_len bytes, comma-separated rule
 * names, at most SA_FRAME_TAGS_MAX; tags_len 0: none). */
int sa_segment_add_reserve_tagged(struct sa_segment_builder *b, int64_t event_ms,
                                  int64_t version, const char *key, size_t key_len,
                                  enum sa_op op, const char *tags, size_t tags_len,
                                  size_t body_len, uint8_t **body);
/* Both with the event time as the version: for tests and tools that
 * build segments by hand, where any order will do. */
int sa_segment_add(struct sa_segment_builder *b, int64_t event_ms, const char *key,
                   size_t key_len, enum sa_op op, const void *body, size_t body_len);
int sa_segment_add_reserve(struct sa_segment_builder *b, int64_t event_ms,
                           const char *key, size_t key_len, enum sa_op op,
                           size_t body_len, uint8_t **body);

/* One record as seen by readers: pointers into the segment's data. */
struct sa_record_view {
    uint64_t seq;
    uint32_t index; /* position inside the segment */
    int64_t event_ms;
    /* Its version for last-writer-wins in the stores (DESIGN.md §6): the
     * schema's x-version field's value, else the hybrid logical clock
     * value taken at ingest (store/hlc.h); the event time for frames
     * written before spool format 4. */
    int64_t version;
    const char *key;
    size_t key_len;
    enum sa_op op;
    /* The quality rules it failed with action tag, comma-separated (not
     * NUL-terminated); NULL and 0 when none. */
    const char *tags;
    size_t tags_len;
    const uint8_t *body;
    size_t body_len;
};

/* A stored segment, decoded (inflated), as handed to sinks. The pointers
 * belong to whoever produced the view (the spool reader) and stay valid
 * until its next read. */
struct sa_segment_view {
    int64_t id;
    const char *stream;
    int64_t schema_id;
    uint64_t first_seq;
    uint32_t count;
    uint32_t start_index; /* first record the consumer still needs */
    int64_t created_ms, min_event_ms, max_event_ms;
    const uint8_t *data; /* frames, uncompressed */
    size_t len;
};

/* Walks the frames of a view from view->start_index. */
struct sa_segment_iter {
    const struct sa_segment_view *view;
    const uint8_t *p, *end;
    uint32_t index;
};

void sa_segment_iter_init(struct sa_segment_iter *it,
                          const struct sa_segment_view *view);
/* SA_OK with *out filled, SA_EOF after the last record, SA_ECORRUPT with
 * err naming the segment id, record index and what was wrong. */
int sa_segment_iter_next(struct sa_segment_iter *it, struct sa_record_view *out,
                         struct sa_err *err);

/* Validate every frame of a view (used by `spool verify`). */
int sa_segment_check(const struct sa_segment_view *view, struct sa_err *err);

/* deflate / inflate segment payloads (zlib). out is reset first. */
int sa_segment_compress(const uint8_t *in, size_t len, struct sa_buf *out,
                        struct sa_err *err);
int sa_segment_decompress(const uint8_t *in, size_t len, struct sa_buf *out,
                          struct sa_err *err);

#endif
