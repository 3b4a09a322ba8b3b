/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encodings of a spooled record for the wire: plain JSON (for NDJSON files
 * and the JSON sinks), and later Avro single-object and Confluent framing.
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
 * object also carries "_origin_id", "_seq", "_op" (I3). */
int sa_encode_json(const struct sa_schema *schema, const uint8_t *body,
                   size_t body_len, const char *origin_id,
                   const struct sa_record_view *rec_meta, struct sa_buf *out,
                   struct sa_err *err);

#endif
