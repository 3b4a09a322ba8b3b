/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encodings of a spooled record for the wire: plain JSON (for NDJSON files
 * and the JSON sinks), Avro single-object encoding and the Confluent wire
 * format (the Kafka sink's `avro` and `confluent` encodings).
 */
#ifndef SA_SYNC_ENCODE_H
#define SA_SYNC_ENCODE_H

#include "agent/base/buf.h"
#include "agent/base/error.h"
#include "store/schema.h"
#include "store/segment.h"

/* Decode an Avro binary body written with `schema` and append it to out as
 * one JSON object: unions as their plain value, enums as their symbol,
 * bytes as a string, numbers as numbers. When rec_meta is given, the
 * object also carries "_origin_id", "_seq", "_op" (I3). When
 * schema->reader is set (schemas from sa_sink_schema: the newest version
 * of the subject), the object has the reader's fields (Avro schema
 * resolution, see encode.c), so that v1 and v2 records look alike. */
int sa_encode_json(const struct sa_schema *schema, const uint8_t *body, size_t body_len,
                   const char *origin_id, const struct sa_record_view *rec_meta,
                   struct sa_buf *out, struct sa_err *err);

/* Append s[0, len) (UTF-8 text) as a JSON string, quoted and escaped the
 * way sa_encode_json writes string fields. */
int sa_encode_json_string(struct sa_buf *out, const char *s, size_t len);

/* Append v as a JSON integer (decimal digits, no snprintf). */
int sa_encode_json_i64(struct sa_buf *out, int64_t v);

/* Avro single-object encoding (Avro spec, "Single-object encoding"):
 * C3 01, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
 * schema's canonical form, then the body. Appended to out. */
#define SA_SINGLE_OBJECT_HEADER_LEN 10
int sa_encode_single_object(const struct sa_schema *schema, const uint8_t *body,
                            size_t body_len, struct sa_buf *out);

/* Confluent wire format: magic byte 0, the registry's schema id as 4
 * bytes big-endian, then the body. Appended to out. */
#define SA_CONFLUENT_HEADER_LEN 5
int sa_encode_confluent(int32_t schema_id, const uint8_t *body, size_t body_len,
                        struct sa_buf *out);

#endif
