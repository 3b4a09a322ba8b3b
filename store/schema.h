/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A parsed Avro schema with the identity the spool and the sinks need:
 * subject, version, its spool row id, and the CRC-64-AVRO fingerprint of
 * its Parsing Canonical Form (the fingerprint of Avro single-object
 * encoding). Used by every layer: record.c encodes with it, the spool
 * stores its definition, sinks decode with it.
 *
 * Besides the standard attributes a record schema may carry
 *   "x-key": "<field>"          the field whose value keys the record
 *   "x-event-time": "<field>"   a timestamp-millis or -micros field giving
 *                               event time
 *   "x-version": "<field>"      an int or long field (a timestamp such as
 *                               updated_at) ordering a key's records for
 *                               last-writer-wins; without it each record
 *                               gets a hybrid logical clock at ingest
 * (without x-event-time the first timestamp-millis or -micros field is
 * used). A field's "aliases" are kept: the CSV source maps a header that
 * is not an Avro name (`eol-lts`) onto the field that lists it.
 */
#ifndef SA_STORE_SCHEMA_H
#define SA_STORE_SCHEMA_H

#include "agent/base/buf.h"
#include "agent/base/error.h"

#include <avro.h>
#include <stdint.h>

struct sa_spool;

/* Logical types the agent interprets (avro-c ignores logicalType): date
 * is an int of days since 1970-01-01, the timestamps longs of ms or us
 * since the epoch (UTC). Any other logicalType is the plain type. */
enum sa_logical {
    SA_LOGICAL_NONE,
    SA_LOGICAL_TIMESTAMP_MILLIS,
    SA_LOGICAL_TIMESTAMP_MICROS,
    SA_LOGICAL_DATE,
};

/* One top-level field, resolved once at parse time so that the hot paths
 * (record setters, generator, encoders) need no JSON and no lookups. */
struct sa_schema_field {
    char *name;
    size_t name_len;     /* strlen(name): the JSON encoder writes it per record */
    avro_schema_t type;  /* the field's declared type (borrowed from avro) */
    avro_type_t kind;    /* the value type: for ["null", T] the type of T */
    avro_schema_t value; /* the schema of that value type */
    int logical;         /* enum sa_logical of the value type */
    int nullable;        /* a union with a "null" branch */
    int null_branch;     /* union branch of null, -1 when not nullable */
    int value_branch;    /* union branch of T in ["null", T]; -1 otherwise */
    char *default_json;  /* the "default" as compact JSON, NULL when none */
    char **aliases;      /* the field's "aliases", n_aliases of them */
    size_t n_aliases;
};

struct sa_schema {
    char *subject;
    int version;
    int64_t id;           /* spool schemas.id; 0 until stored */
    uint64_t fingerprint; /* CRC-64-AVRO of canonical */
    char *definition;     /* the .avsc text as given */
    char *canonical;      /* Parsing Canonical Form */
    avro_schema_t avro;
    avro_value_iface_t *iface;      /* generic value class for this schema */
    int key_field;                  /* field index, -1 when none */
    int event_time_field;           /* field index, -1 when none */
    int version_field;              /* x-version field index, -1 when none */
    struct sa_schema_field *fields; /* n_fields, in schema order */
    size_t n_fields;
    /* The newest version of the subject when it is newer than this one,
     * else NULL: JSON encodings resolve records to it (sync/encode.h).
     * Set by sa_schema_cache_get_resolved, owned by the same cache. */
    const struct sa_schema *reader;
    /* With reader: reader_from[j] is the writer field reader field j takes
     * its value from (the same name, else one of its aliases), -1 for
     * none (the reader's default); reader_in_order when those writer
     * fields come in increasing order, so a record resolves in one pass.
     * Set with reader, so that encoding does no name lookups. */
    int *reader_from;
    int reader_in_order;
};

/* Parse `json` (an .avsc). The top level must be a record. *out is owned by
 * the caller: sa_schema_free(). Errors name the subject and the problem. */
int sa_schema_parse(const char *subject, int version, const char *json,
                    struct sa_schema **out, struct sa_err *err);
void sa_schema_free(struct sa_schema *schema);

/* How sa_schema_field_for_header found a field. */
enum sa_header_match {
    SA_MATCH_NONE,
    SA_MATCH_NAME,
    SA_MATCH_ALIAS,
    SA_MATCH_NORMALIZED
};

/* The field a column header (or a config key) names: the field of that
 * exact name, else the first whose "aliases" hold it, else the first
 * whose name equals the header normalized (sa_schema_normalize_name:
 * `Release Date` and `eol-lts` find release_date and eol_lts). -1 when
 * none does; *how says which rule matched. */
int sa_schema_field_for_header(const struct sa_schema *schema, const char *header,
                               enum sa_header_match *how /* out */);
/* name lower-cased (ASCII), every character but [a-z0-9] (a UTF-8
 * sequence counts as one, a byte that starts none too) made '_', runs of
 * '_' made one and none left at either end, into out (cut to size - 1
 * bytes): `Höhe (m)` is h_he_m, ` _id` is id. The one normalization
 * `schema infer` names fields by and the CSV source maps headers by. */
void sa_schema_normalize_name(const char *name, char *out, size_t size);

/* For a file whose columns hold the fields with present[i] != 0 (one
 * flag per schema field, n_fields of them): SA_ESCHEMA naming the first
 * field that no column holds and that is neither nullable nor has a
 * default, so that no row of the file could be taken; SA_OK when every
 * such field has a column. */
int sa_schema_missing_required(const struct sa_schema *schema, const int *present,
                               struct sa_err *err);

/* Parsing Canonical Form of an Avro schema JSON text (Avro spec). */
int sa_schema_canonical_form(const char *json, struct sa_buf *out, struct sa_err *err);
/* CRC-64-AVRO (the Rabin fingerprint of the Avro spec). */
uint64_t sa_crc64_avro(const void *data, size_t len);

/* The writer field that reader field j takes its value from, -1 for none:
 * the same name, or one of the reader field's aliases (Avro resolution).
 * The field at the same index is tried first: versions mostly add at the
 * end. */
int sa_schema_reader_field(const struct sa_schema *writer,
                           const struct sa_schema *reader, size_t j);

/* Set writer->reader (NULL: none) with its reader_from map and
 * reader_in_order. writer does not own reader. SA_ENOMEM leaves writer
 * as it was. */
int sa_schema_link_reader(struct sa_schema *writer, const struct sa_schema *reader);

/* Per-thread cache of schemas by spool id, loaded from the spool's
 * schemas table on first use (sinks decode with the writer schema). */
struct sa_schema_cache;
struct sa_schema_cache *sa_schema_cache_new(void);
void sa_schema_cache_free(struct sa_schema_cache *cache);
/* *out stays owned by the cache. */
int sa_schema_cache_get(struct sa_schema_cache *cache, struct sa_spool *spool,
                        int64_t schema_id, const struct sa_schema **out,
                        struct sa_err *err);
/* The same, with (*out)->reader set to the newest version of its subject
 * in the spool (looked up on every call: a reload may add one). */
int sa_schema_cache_get_resolved(struct sa_schema_cache *cache, struct sa_spool *spool,
                                 int64_t schema_id, const struct sa_schema **out,
                                 struct sa_err *err);

#endif
