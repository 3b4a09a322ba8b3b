/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQL the clickhouse sink (sync/sink/clickhouse.c) runs to own its
 * tables with `create_table: true`: the CREATE TABLE made from an Avro
 * schema, and the ALTER TABLE ... ADD COLUMN that brings an existing table
 * up to a newer schema version of its subject. Text only: the sink runs
 * the statements and decides when.
 *
 * TABLE EVOLUTION
 *
 * Rows are written in the newest shape of their subject (sync/encode.h),
 * so a table made for v1 lacks the fields v2 added, and ClickHouse refuses
 * an INSERT with an unknown field. Before its first insert of a (stream,
 * schema) the sink reads the table's columns (sa_ch_columns_sql) and adds
 * each field of the shape it writes that the table lacks, with the field's
 * type and its Avro default as the column's DEFAULT: rows inserted before
 * read it as that default, as Avro schema resolution would give them.
 * Columns are only added, never dropped or retyped (a field v2 removed
 * stays, filled with its type's zero value by later inserts).
 *
 * Types: boolean UInt8; int and date Int32; long and timestamps Int64
 * (18.16 has no DateTime64); float Float32; double Float64; string, bytes,
 * fixed and enum String; array Array(T); ["null", T] Nullable(T). Records,
 * maps, other unions and nullable arrays have no column type here.
 */
#ifndef SA_SYNC_SINK_CH_TABLE_H
#define SA_SYNC_SINK_CH_TABLE_H

#include "agent/base/buf.h"
#include "agent/base/error.h"
#include "store/schema.h"

#include <stddef.h>

/* Append s as a ClickHouse identifier in backquotes (a backquote or
 * backslash inside escaped). */
int sa_ch_quote_ident(struct sa_buf *b, const char *s);

/* Append s as a ClickHouse string literal in single quotes. */
int sa_ch_quote_string(struct sa_buf *b, const char *s);

/* Into sql (reset first, NUL-terminated): CREATE TABLE IF NOT EXISTS
 * `qualified` with a column per field of schema, the _origin_id, _seq,
 * _version and _deleted columns, ENGINE = ReplacingMergeTree(_version)
 * ORDER BY the x-key field (else (_origin_id, _seq)). A field without a
 * column type is SA_ESCHEMA, err naming sink_name, the field and the
 * schema. */
int sa_ch_create_sql(const struct sa_schema *schema, const char *qualified,
                     const char *sink_name, struct sa_buf *sql, struct sa_err *err);

/* Into sql (reset first, NUL-terminated): the query whose TabSeparated
 * answer lists the column names of database.table, one a line. */
int sa_ch_columns_sql(const char *database, const char *table, struct sa_buf *sql);

/* 1 when name is a line of the TabSeparated answer tsv[0, len). */
int sa_ch_has_column(const void *tsv, size_t len, const char *name);

/* Into sql (reset first, NUL-terminated): ALTER TABLE `qualified` ADD
 * COLUMN for field f of schema, with its type and, when it has an Avro
 * default a literal can say, DEFAULT that literal. SA_ESCHEMA as for
 * sa_ch_create_sql. */
int sa_ch_add_column_sql(const struct sa_schema *schema,
                         const struct sa_schema_field *f, const char *qualified,
                         const char *sink_name, struct sa_buf *sql, struct sa_err *err);

/* Append the ClickHouse literal of an Avro default given as JSON
 * (default_json of struct sa_schema_field): 'text', numbers, 1/0 for
 * booleans, NULL, [..] for arrays. SA_ENOTFOUND (nothing appended) for
 * what has no literal (objects, bad JSON). */
int sa_ch_default_literal(const char *default_json, struct sa_buf *out);

#endif
