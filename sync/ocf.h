/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A writer of Avro object container files (Avro spec, "Object Container
 * Files") for records already encoded in Avro binary. Unlike avro-c's
 * writer, which writes the schema back from its parsed form and loses
 * logicalType, default, doc and aliases on the way, this one embeds the
 * schema JSON as written (the .avsc text as registered), so that readers
 * (fastavro, Java, Spark) see timestamp-millis as a timestamp.
 *
 *   header: "Obj" 1, a map {avro.schema, avro.codec} of bytes, 16-byte sync
 *   blocks: record count, byte count, the records (raw deflate or null),
 *           the sync marker
 */
#ifndef SA_SYNC_OCF_H
#define SA_SYNC_OCF_H

#include "agent/base/buf.h"
#include "agent/base/error.h"

#include <stdint.h>
#include <stdio.h>

struct sa_ocf_writer {
    FILE *fp; /* borrowed: the caller flushes, syncs and closes it */
    uint8_t sync[16];
    int deflate;
    size_t block_bytes;       /* a block is written once it holds this much */
    struct sa_buf block;      /* records of the block being filled */
    uint64_t block_count;     /* ... how many */
    struct sa_buf compressed; /* scratch */
};

/* Write the header to fp: schema_json as given, codec "deflate" or "null".
 * On error nothing needs freeing. */
int sa_ocf_open(struct sa_ocf_writer *w, FILE *fp, const char *schema_json,
                const char *codec, size_t block_bytes, struct sa_err *err);
/* Add one record, Avro binary of the schema. Writes a block when full. */
int sa_ocf_append(struct sa_ocf_writer *w, const void *body, size_t len,
                  struct sa_err *err);
/* Write the records added so far as a block and fflush fp. */
int sa_ocf_flush(struct sa_ocf_writer *w, struct sa_err *err);
/* Free the buffers (records not flushed are dropped); fp is left open. */
void sa_ocf_fini(struct sa_ocf_writer *w);

#endif
