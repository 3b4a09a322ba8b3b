/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Records: field values -> validated against the schema -> Avro binary.
 *
 * A struct sa_record is reused for every record of one schema: reset it,
 * set fields (by index, resolved once with sa_record_field_index), encode.
 * A field left unset takes the schema default; without a default encoding
 * fails naming the field. Every setter checks the value against the
 * field's type (unions: the matching branch is chosen) and fails with a
 * precise reason: field, expected type, value received.
 */
#ifndef SA_AGENT_RECORD_H
#define SA_AGENT_RECORD_H

#include "agent/base/buf.h"
#include "agent/base/error.h"
#include "store/schema.h"
#include "store/segment.h"

#include <avro.h>
#include <stdint.h>

/* The most a record's fields may hold, encoded: a setter refuses a value
 * that would take it past this (SA_ERECORD; the CSV source dead-letters
 * the row). Defaults come on top. A batch has room for one such record
 * whatever else it holds, and a segment stays well under SQLite's 1e9
 * bytes a blob may have. */
#define SA_RECORD_MAX_BYTES ((size_t)64 << 20)

struct sa_record {
    const struct sa_schema *schema;
    size_t n_fields;
    uint8_t *is_set; /* one flag per field */
    void *priv;      /* record.c's per-field state, built at init */
};

int sa_record_init(struct sa_record *rec, const struct sa_schema *schema,
                   struct sa_err *err);
void sa_record_fini(struct sa_record *rec);
void sa_record_reset(struct sa_record *rec);

/* Index of a top-level field, -1 when the schema has none by that name. */
int sa_record_field_index(const struct sa_schema *schema, const char *name);

/* Typed setters. A value that does not fit the field's type (or any branch
 * of its union) is SA_ERECORD with the reason in err. */
int sa_record_set_null(struct sa_record *rec, int field, struct sa_err *err);
int sa_record_set_bool(struct sa_record *rec, int field, int v, struct sa_err *err);
int sa_record_set_long(struct sa_record *rec, int field, int64_t v, struct sa_err *err);
int sa_record_set_double(struct sa_record *rec, int field, double v,
                         struct sa_err *err);
int sa_record_set_string(struct sa_record *rec, int field, const char *s, size_t len,
                         struct sa_err *err);
/* enum symbol, by name */
int sa_record_set_enum(struct sa_record *rec, int field, const char *symbol,
                       struct sa_err *err);
/* enum symbol, by its number in the schema's list (from 0) */
int sa_record_set_enum_index(struct sa_record *rec, int field, int index,
                             struct sa_err *err);

/* Set a field from its text form, coercing to the field's type: ints
 * (range-checked), floats and doubles (also NaN, Infinity, -Infinity, any
 * case), booleans (true/false/1/0/yes/no), enums, date (YYYY-MM-DD or
 * days), timestamp-millis and timestamp-micros (ISO 8601 or epoch ms /
 * us), or with the field's text format (sa_record_set_text_format) when
 * it has one; for a nullable field the empty text is null. Used by the
 * CSV source. */
int sa_record_set_text(struct sa_record *rec, int field, const char *text, size_t len,
                       struct sa_err *err);

/* From now on read the text of field, a date or timestamp, with format,
 * a strptime-style format ("%Y/%m/%d", "%d.%m.%Y %H:%M"; README lists the
 * conversions) instead of ISO 8601; format is copied. A format that
 * cannot be read, that lacks a date, that gives a date a time of day, or
 * a field of another type is SA_ECONFIG saying which. */
int sa_record_set_text_format(struct sa_record *rec, int field, const char *format,
                              struct sa_err *err);
/* Whether format can be read as a date or timestamp format at all (the
 * field's own rules come with sa_record_set_text_format); SA_ECONFIG with
 * the reason when not. */
int sa_text_format_check(const char *format, struct sa_err *err);

/* The time zone of timestamp text without a zone of its own (ISO 8601
 * without Z or an offset, a format without %z): "UTC" (until set), a
 * fixed offset "+02:00", or an IANA zone "Europe/Berlin", whose offset
 * follows daylight saving time (agent/tz.h). Dates are calendar days and
 * take no zone. A name that is none of these is SA_ECONFIG. */
int sa_record_set_timezone(struct sa_record *rec, const char *name, struct sa_err *err);

/* Encode to Avro binary, appended to out. Fields not set take their
 * default; a field with neither is SA_ERECORD naming it. */
int sa_record_encode(struct sa_record *rec, struct sa_buf *out, struct sa_err *err);
/* The same in two steps, for a caller that has the room elsewhere: the
 * size of the encoding (the defaults of fields not set are applied here,
 * and a field with neither is SA_ERECORD), then the bytes, written to dst,
 * which has room for *size of them. Nothing may be set in between. */
int sa_record_encoded_size(struct sa_record *rec, size_t *size, struct sa_err *err);
void sa_record_encode_into(const struct sa_record *rec, uint8_t *dst);

/* Event time (ms) from the schema's event-time field, or `fallback`. */
int64_t sa_record_event_ms(const struct sa_record *rec, int64_t fallback);
/* The x-version field's value (an int or long as is; null is 0) in
 * *version; SA_ENOTFOUND when the schema has no x-version field. */
int sa_record_version(const struct sa_record *rec, int64_t *version /* out */);
/* The key field's value as text, appended to out (nothing when no key). */
int sa_record_key(const struct sa_record *rec, struct sa_buf *out);

/* A field's value as set (or defaulted by sa_record_encoded_size), for
 * the quality rules (agent/quality/). kind is the Avro type of the value
 * (the branch taken, for unions: AVRO_NULL for a null); s points into the
 * record (strings, bytes, an enum's symbol) and is valid until the record
 * changes. */
struct sa_field_value {
    avro_type_t kind;
    int64_t l; /* int, long, boolean, enum index, timestamps as stored */
    double d;  /* float, double */
    const char *s;
    size_t len;
};

/* SA_OK with *out filled, SA_ENOTFOUND for a field neither set nor
 * defaulted. */
int sa_record_get(const struct sa_record *rec, int field,
                  struct sa_field_value *out /* out */);

#endif
