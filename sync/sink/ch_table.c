/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CREATE TABLE and ALTER TABLE ... ADD COLUMN text for the clickhouse
 * sink's `create_table: true` (see ch_table.h for the type mapping and how
 * tables evolve with their schema).
 */
#include "sync/sink/ch_table.h"

#include <jansson.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int sa_ch_quote_ident(struct sa_buf *b, const char *s)
{
    int rc = sa_buf_append_byte(b, '`');

    for (const char *p = s; *p && !rc; p++) {
        if (*p == '`' || *p == '\\')
            rc = sa_buf_append_byte(b, '\\');
        if (!rc)
            rc = sa_buf_append_byte(b, (uint8_t)*p);
    }
    return rc ? rc : sa_buf_append_byte(b, '`');
}

int sa_ch_quote_string(struct sa_buf *b, const char *s)
{
    int rc = sa_buf_append_byte(b, '\'');

    for (const char *p = s; *p && !rc; p++) {
        if (*p == '\'' || *p == '\\')
            rc = sa_buf_append_byte(b, '\\');
        if (!rc)
            rc = sa_buf_append_byte(b, (uint8_t)*p);
    }
    return rc ? rc : sa_buf_append_byte(b, '\'');
}

/* The ClickHouse type of an Avro value type (not a union). Timestamps stay
 * Int64 ms/us (18.16 has no DateTime64: a DateTime would drop the ms). */
static int ch_type(avro_schema_t s, struct sa_buf *out)
{
    switch (avro_typeof(s)) {
    case AVRO_BOOLEAN:
        return sa_buf_append_str(out, "UInt8");
    case AVRO_INT32:
        return sa_buf_append_str(out, "Int32"); /* date: days since 1970 */
    case AVRO_INT64:
        return sa_buf_append_str(out, "Int64");
    case AVRO_FLOAT:
        return sa_buf_append_str(out, "Float32");
    case AVRO_DOUBLE:
        return sa_buf_append_str(out, "Float64");
    case AVRO_STRING:
    case AVRO_BYTES:
    case AVRO_FIXED:
    case AVRO_ENUM:
        return sa_buf_append_str(out, "String");
    case AVRO_ARRAY: {
        avro_schema_t items = avro_schema_array_items(s);
        int rc;
        if (avro_typeof(items) == AVRO_ARRAY || avro_typeof(items) == AVRO_UNION)
            return SA_ESCHEMA;
        if ((rc = sa_buf_append_str(out, "Array(")) || (rc = ch_type(items, out)))
            return rc;
        return sa_buf_append_byte(out, ')');
    }
    default:
        return SA_ESCHEMA; /* records, maps, other unions: no column type */
    }
}

/* "`name` Type" of field f. */
static int column_def(const struct sa_schema *schema, const struct sa_schema_field *f,
                      const char *sink_name, struct sa_buf *sql, struct sa_err *err)
{
    int rc;

    if ((rc = sa_ch_quote_ident(sql, f->name)) || (rc = sa_buf_append_byte(sql, ' ')))
        return rc;
    if (f->nullable && (rc = sa_buf_append_str(sql, "Nullable(")))
        return rc;
    rc = f->nullable && f->value_branch < 0 ? SA_ESCHEMA : ch_type(f->value, sql);
    if (rc == SA_ESCHEMA || (f->nullable && avro_typeof(f->value) == AVRO_ARRAY))
        return sa_err_set(err, SA_ESCHEMA,
                          "sink %s: create_table: field %s of schema %s v%d has no "
                          "ClickHouse column type here (records, maps, unions "
                          "other than [\"null\", T], nullable arrays); create the "
                          "table yourself",
                          sink_name, f->name, schema->subject, schema->version);
    if (!rc && f->nullable)
        rc = sa_buf_append_byte(sql, ')');
    return rc;
}

int sa_ch_create_sql(const struct sa_schema *schema, const char *qualified,
                     const char *sink_name, struct sa_buf *sql, struct sa_err *err)
{
    int rc;

    sa_buf_reset(sql);
    if ((rc = sa_buf_printf(sql, "CREATE TABLE IF NOT EXISTS %s (", qualified)))
        return rc;
    for (size_t i = 0; i < schema->n_fields; i++) {
        if ((rc = column_def(schema, &schema->fields[i], sink_name, sql, err)) ||
            (rc = sa_buf_append_str(sql, ", ")))
            return rc;
    }
    if ((rc = sa_buf_append_str(sql,
                                "`_origin_id` String, `_seq` UInt64, "
                                "`_version` Int64, `_deleted` UInt8) "
                                "ENGINE = ReplacingMergeTree(`_version`) ORDER BY ")))
        return rc;
    if (schema->key_field >= 0 && !schema->fields[schema->key_field].nullable)
        rc = sa_ch_quote_ident(sql, schema->fields[schema->key_field].name);
    else
        rc = sa_buf_append_str(sql, "(`_origin_id`, `_seq`)");
    return rc ? rc : sa_buf_terminate(sql);
}

int sa_ch_columns_sql(const char *database, const char *table, struct sa_buf *sql)
{
    int rc;

    sa_buf_reset(sql);
    if ((rc = sa_buf_append_str(sql,
                                "SELECT name FROM system.columns WHERE database = ")) ||
        (rc = sa_ch_quote_string(sql, database)) ||
        (rc = sa_buf_append_str(sql, " AND table = ")) ||
        (rc = sa_ch_quote_string(sql, table)) ||
        (rc = sa_buf_append_str(sql, " FORMAT TabSeparated")))
        return rc;
    return sa_buf_terminate(sql);
}

int sa_ch_has_column(const void *tsv, size_t len, const char *name)
{
    const char *p = tsv, *end = p + len;
    size_t n = strlen(name);

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t line = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (line == n && memcmp(p, name, n) == 0)
            return 1;
        p += line + 1;
    }
    return 0;
}

static int literal(const json_t *v, struct sa_buf *out)
{
    int rc;

    switch (json_typeof(v)) {
    case JSON_STRING:
        return sa_ch_quote_string(out, json_string_value(v));
    case JSON_INTEGER:
        return sa_buf_printf(out, "%" PRId64, (int64_t)json_integer_value(v));
    case JSON_REAL:
        return sa_buf_printf(out, "%.17g", json_real_value(v));
    case JSON_TRUE:
        return sa_buf_append_byte(out, '1');
    case JSON_FALSE:
        return sa_buf_append_byte(out, '0');
    case JSON_NULL:
        return sa_buf_append_str(out, "NULL");
    case JSON_ARRAY:
        if ((rc = sa_buf_append_byte(out, '[')))
            return rc;
        for (size_t i = 0; i < json_array_size(v); i++) {
            if ((i > 0 && (rc = sa_buf_append_str(out, ", "))) ||
                (rc = literal(json_array_get(v, i), out)))
                return rc;
        }
        return sa_buf_append_byte(out, ']');
    default:
        return SA_ENOTFOUND; /* objects: records and maps have no column */
    }
}

int sa_ch_default_literal(const char *default_json, struct sa_buf *out)
{
    size_t mark = out->len;
    json_t *v;
    int rc;

    if (!default_json || !(v = json_loads(default_json, JSON_DECODE_ANY, NULL)))
        return SA_ENOTFOUND;
    rc = literal(v, out);
    json_decref(v);
    if (rc)
        out->len = mark;
    return rc;
}

int sa_ch_add_column_sql(const struct sa_schema *schema,
                         const struct sa_schema_field *f, const char *qualified,
                         const char *sink_name, struct sa_buf *sql, struct sa_err *err)
{
    size_t mark;
    int rc;

    sa_buf_reset(sql);
    if ((rc = sa_buf_printf(sql, "ALTER TABLE %s ADD COLUMN ", qualified)) ||
        (rc = column_def(schema, f, sink_name, sql, err)))
        return rc;
    mark = sql->len;
    if ((rc = sa_buf_append_str(sql, " DEFAULT ")))
        return rc;
    rc = sa_ch_default_literal(f->default_json, sql);
    if (rc == SA_ENOTFOUND) {
        sql->len = mark; /* the type's zero value */
        rc = SA_OK;
    }
    return rc ? rc : sa_buf_terminate(sql);
}
