/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The clickhouse sink: records into a ClickHouse table over its HTTP
 * interface (sync/http.h), as `INSERT INTO db.table FORMAT JSONEachRow`,
 * one request per block of records. Works with Debian 12's
 * clickhouse-server 18.16 and newer servers.
 *
 * ROWS
 *
 * A row is the record as sa_encode_json writes it (fields in schema order,
 * timestamps as integers of ms, enums as their symbol) plus the identity
 * and conflict columns:
 *   _origin_id String, _seq UInt64   (I3: which spool, which record)
 *   _version Int64                   (struct sa_record_view.version)
 *   _deleted UInt8                   (1 for op == SA_OP_DELETE)
 * Every request sets date_time_input_format=best_effort, so a string field
 * with an ISO time lands in a DateTime column of a table made by hand, and
 * max_insert_block_size above block_records, so the server makes one block
 * of the request and inserts all of it or none of it.
 *
 * TABLE
 *
 * `table` (a template: ${stream} is the stream's name) in `database`. With
 * create_table: true, the first block of each (stream, schema) runs
 * CREATE TABLE IF NOT EXISTS with columns mapped from the Avro schema and
 * ENGINE = ReplacingMergeTree(_version) ORDER BY the x-key field (else
 * (_origin_id, _seq)). 18.16 has only the one-argument ReplacingMergeTree:
 * the row with the highest _version of a key survives merges, and reads
 * with FINAL see only that row.
 *
 * OUTCOMES (per block, in the response callback)
 *
 *   200                      every record of the block OK.
 *   transport failure, or    RETRY for the block: the dispatcher backs off
 *   any refusal that is not  and sends again from its cursor. That covers
 *   about the rows           5xx, a missing table, bad credentials.
 *   a row error (ch_error.h) the block is split and its parts sent again:
 *   on a block of n > 1      around "(at row N)" when ClickHouse names the
 *                            row (rows before it, it alone, rows after),
 *                            else in halves. The good rows land; the bad
 *                            one is found in O(log n) requests.
 *   a row error on one row   REJECT with "clickhouse: Code: N: message",
 *                            dead-lettered by the dispatcher.
 * Splits are submitted after sa_http_poll returns, never from inside its
 * callback. A body that is not a ClickHouse error (a proxy's page) is a
 * RETRY with its status.
 *
 * RESENDS
 *
 * An INSERT is not idempotent: a block whose response was lost (crash,
 * timeout after the server committed) is inserted again when the
 * dispatcher resends it. The rows are the same, with the same _origin_id,
 * _seq and _version, so ReplacingMergeTree(_version) collapses them on
 * merge and SELECT ... FINAL sees one row per key: the newest version.
 */
#include "sync/sink.h"

#include "agent/base/buf.h"
#include "agent/base/log.h"
#include "sync/encode.h"
#include "sync/http.h"
#include "sync/sink/ch_error.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES (64u * 1024 * 1024)
/* Records encoded between two turns of the transfers in flight. */
#define DRIVE_EVERY 1024
#define TAIL_UPSERT ",\"_op\":\"upsert\"}"
#define TAIL_DELETE ",\"_op\":\"delete\"}"

struct ch_opts {
    struct sa_http_conf http;
    char *database;
    char *table;
    int create_table;
    int64_t block_records;
    int64_t block_bytes;
};

static const struct sa_conf_entry ch_conf[] = {
    SA_HTTP_CONF_ENTRIES(struct ch_opts, http),
    {.type = SA_CONF_STR,
     .key = "database",
     .def = "default",
     .offset = offsetof(struct ch_opts, database),
     .desc = "database of the table"},
    {.type = SA_CONF_STR,
     .key = "table",
     .def = "${stream}",
     .offset = offsetof(struct ch_opts, table),
     .desc = "table name; ${stream} is replaced by the stream's name"},
    {.type = SA_CONF_BOOL,
     .key = "create_table",
     .def = "false",
     .offset = offsetof(struct ch_opts, create_table),
     .desc = "create the table from the Avro schema when missing: "
             "ReplacingMergeTree(_version) ordered by the x-key field"},
    {.type = SA_CONF_INT,
     .key = "block_records",
     .def = "20000",
     .offset = offsetof(struct ch_opts, block_records),
     .min = 1,
     .max = 1000000,
     .desc = "records per INSERT request at most (a block never spans two segments: "
             "batch.max_records bounds it)"},
    {.type = SA_CONF_SIZE,
     .key = "block_bytes",
     .def = "8MiB",
     .offset = offsetof(struct ch_opts, block_bytes),
     .min = 1024,
     .max = 256LL * 1024 * 1024,
     .desc = "bytes of JSON per INSERT request at most"},
    {.key = NULL},
};

/* A table the sink writes to, by stream and writer schema. */
struct ch_table {
    char *stream;
    int64_t schema_id;
    char *path; /* "/?query=INSERT..." for the requests */
    char *name; /* `db`.`table`, for messages */
};

/* One request in flight: records [first, first + count) of a segment.
 * The copies handed to the client as request->user are also linked into
 * ch_sink.in_flight, so close can free those whose callback never runs. */
struct ch_block {
    int64_t segment_id;
    uint32_t first;
    uint32_t count;
    size_t table; /* index into tables */
    struct ch_block *prev, *next;
};

/* A part of a refused block, to submit after sa_http_poll returns. */
struct ch_split {
    struct ch_block block;
    struct sa_buf body;
};

struct ch_sink {
    const struct ch_opts *o;
    const char *name;
    struct sa_sink *sink;
    struct sa_http_client *http;
    struct sa_buf body, line;
    struct sa_ack_list acks;
    struct ch_table *tables;
    size_t n_tables;
    struct ch_split *splits;
    size_t n_splits, cap_splits;
    uint64_t n_rejected, n_splits_done;
    size_t last_block_bytes;    /* to size the next body at once */
    struct ch_block *in_flight; /* submitted, callback not run yet */
};

static void block_link(struct ch_sink *cs, struct ch_block *b)
{
    b->prev = NULL;
    b->next = cs->in_flight;
    if (b->next)
        b->next->prev = b;
    cs->in_flight = b;
}

static void block_unlink(struct ch_sink *cs, struct ch_block *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        cs->in_flight = b->next;
    if (b->next)
        b->next->prev = b->prev;
}

/* --- text helpers --------------------------------------------------------- */

/* Append s percent-encoded for a URL query value. */
static int url_escape(struct sa_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = SA_OK;

    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("-_.~", *p))
            rc = sa_buf_append_byte(b, *p);
        else if (!(rc = sa_buf_append_byte(b, '%')) &&
                 !(rc = sa_buf_append_byte(b, (uint8_t)hex[*p >> 4])))
            rc = sa_buf_append_byte(b, (uint8_t)hex[*p & 15]);
    }
    return rc;
}

/* A ClickHouse identifier in backquotes; a backquote or backslash inside
 * is escaped. */
static int quote_ident(struct sa_buf *b, const char *s)
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

/* The table's name for a stream: the template with ${stream} replaced. */
static int table_name(const struct ch_opts *o, const char *stream, struct sa_buf *out)
{
    const char *t = o->table, *hit;
    int rc = SA_OK;

    sa_buf_reset(out);
    while (!rc && (hit = strstr(t, "${stream}"))) {
        if (!(rc = sa_buf_append(out, t, (size_t)(hit - t))))
            rc = sa_buf_append_str(out, stream);
        t = hit + strlen("${stream}");
    }
    if (!rc)
        rc = sa_buf_append_str(out, t);
    return rc ? rc : sa_buf_terminate(out);
}

/* --- table creation --------------------------------------------------------- */

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

static int create_sql(const struct sa_schema *schema, const char *qualified,
                      struct sa_buf *sql, struct sa_err *err, const char *sink_name)
{
    int rc;

    sa_buf_reset(sql);
    if ((rc = sa_buf_printf(sql, "CREATE TABLE IF NOT EXISTS %s (", qualified)))
        return rc;
    for (size_t i = 0; i < schema->n_fields; i++) {
        const struct sa_schema_field *f = &schema->fields[i];
        if ((rc = quote_ident(sql, f->name)) || (rc = sa_buf_append_byte(sql, ' ')))
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
        if (rc || (f->nullable && (rc = sa_buf_append_byte(sql, ')'))) ||
            (rc = sa_buf_append_str(sql, ", ")))
            return rc;
    }
    if ((rc = sa_buf_append_str(sql,
                                "`_origin_id` String, `_seq` UInt64, "
                                "`_version` Int64, `_deleted` UInt8) "
                                "ENGINE = ReplacingMergeTree(`_version`) ORDER BY ")))
        return rc;
    if (schema->key_field >= 0 && !schema->fields[schema->key_field].nullable)
        rc = quote_ident(sql, schema->fields[schema->key_field].name);
    else
        rc = sa_buf_append_str(sql, "(`_origin_id`, `_seq`)");
    return rc ? rc : sa_buf_terminate(sql);
}

/* Run one statement synchronously. A refusal is an error with ClickHouse's
 * reason; a transport failure SA_EAGAIN. */
static int run_sql(struct ch_sink *cs, const char *sql, struct sa_err *err)
{
    struct sa_http_request req = {.method = "POST", .path = "/"};
    struct sa_buf resp;
    long status = 0;
    int rc;

    sa_buf_init(&req.body, 1u << 20);
    sa_buf_init(&resp, 1u << 20);
    if ((rc = sa_buf_append_str(&req.body, sql))) {
        sa_buf_fini(&req.body);
        goto out;
    }
    if ((rc = sa_http_call(cs->http, &req, &status, &resp, NULL, err))) {
        sa_err_prefix(err, "sink %s: ", cs->name);
        goto out;
    }
    if (status != 200) {
        struct sa_ch_error ce;
        if (sa_ch_error_parse(resp.data, resp.len, &ce, NULL) == SA_OK)
            rc = sa_err_set(err, SA_ESINK, "sink %s: HTTP %ld: Code: %d: %s", cs->name,
                            status, ce.code, ce.message);
        else
            rc = sa_err_set(err, SA_ESINK, "sink %s: HTTP %ld", cs->name, status);
    }
out:
    sa_buf_fini(&req.body);
    sa_buf_fini(&resp);
    return rc;
}

/* The table of (stream, schema): found, or made (the INSERT path, and the
 * table created when create_table is on). */
static int table_for(struct ch_sink *cs, const char *stream,
                     const struct sa_schema *schema, size_t *index, struct sa_err *err)
{
    struct sa_buf name, qualified, path;
    struct ch_table *v, *t;
    int rc;

    for (size_t i = 0; i < cs->n_tables; i++)
        if (cs->tables[i].schema_id == schema->id &&
            strcmp(cs->tables[i].stream, stream) == 0) {
            *index = i;
            return SA_OK;
        }
    sa_buf_init(&name, 4096);
    sa_buf_init(&qualified, 8192);
    sa_buf_init(&path, 64u * 1024);
    if ((rc = table_name(cs->o, stream, &name)) ||
        (rc = quote_ident(&qualified, cs->o->database)) ||
        (rc = sa_buf_append_byte(&qualified, '.')) ||
        (rc = quote_ident(&qualified, (const char *)name.data)) ||
        (rc = sa_buf_terminate(&qualified))) {
        sa_err_set(err, rc, "sink %s: table name: %s", cs->name, sa_strerror(rc));
        goto out;
    }
    if (cs->o->create_table) {
        struct sa_buf sql;
        sa_buf_init(&sql, 1u << 20);
        /* The rows come in the newest shape of their subject (the JSON
         * encoder resolves every record to it): the table gets that. */
        rc = create_sql(schema->reader ? schema->reader : schema,
                        (const char *)qualified.data, &sql, err, cs->name);
        if (rc && err->rc != rc)
            sa_err_set(err, rc, "sink %s: create_table: %s", cs->name, sa_strerror(rc));
        if (!rc && (rc = run_sql(cs, (const char *)sql.data, err)) == SA_OK)
            sa_log_info("clickhouse table ready", "sink", cs->name, "table",
                        (const char *)qualified.data);
        else if (rc)
            sa_err_prefix(err, "creating %s: ", (const char *)qualified.data);
        sa_buf_fini(&sql);
        if (rc)
            goto out;
    }
    if ((rc = sa_buf_append_str(&path, "/?query=")))
        goto fail;
    {
        struct sa_buf q;
        sa_buf_init(&q, 16384);
        rc = sa_buf_printf(&q, "INSERT INTO %s FORMAT JSONEachRow",
                           (const char *)qualified.data);
        if (!rc)
            rc = sa_buf_terminate(&q);
        if (!rc)
            rc = url_escape(&path, (const char *)q.data);
        sa_buf_fini(&q);
    }
    if (rc ||
        (rc = sa_buf_printf(&path,
                            "&date_time_input_format=best_effort"
                            "&max_insert_block_size=%" PRId64,
                            cs->o->block_records + 1)) ||
        (rc = sa_buf_terminate(&path)))
        goto fail;
    v = realloc(cs->tables, (cs->n_tables + 1) * sizeof *v);
    if (!v) {
        rc = SA_ENOMEM;
        goto fail;
    }
    cs->tables = v;
    t = &v[cs->n_tables];
    t->stream = strdup(stream);
    t->path = strdup((const char *)path.data);
    t->name = strdup((const char *)qualified.data);
    t->schema_id = schema->id;
    if (!t->stream || !t->path || !t->name) {
        free(t->stream);
        free(t->path);
        free(t->name);
        rc = SA_ENOMEM;
        goto fail;
    }
    *index = cs->n_tables++;
    goto out;
fail:
    sa_err_set(err, rc, "sink %s: %s", cs->name, sa_strerror(rc));
out:
    sa_buf_fini(&name);
    sa_buf_fini(&qualified);
    sa_buf_fini(&path);
    return rc;
}

/* --- sending ------------------------------------------------------------------ */

static int submit_block(struct ch_sink *cs, const struct ch_block *b,
                        struct sa_buf *body, struct sa_err *err)
{
    static const char *const headers[] = {"Content-Type: application/x-ndjson", NULL};
    struct sa_http_request req = {.method = "POST",
                                  .path = cs->tables[b->table].path,
                                  .headers = headers,
                                  .body = *body};
    struct ch_block *copy = malloc(sizeof *copy);
    int rc;

    cs->last_block_bytes = req.body.len;
    sa_buf_init(body, body->max);
    if (!copy) {
        sa_buf_fini(&req.body);
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", cs->name);
    }
    *copy = *b;
    req.user = copy;
    if ((rc = sa_http_submit(cs->http, &req, err))) {
        free(copy);
        sa_err_prefix(err, "sink %s: ", cs->name);
        return rc;
    }
    block_link(cs, copy);
    return SA_OK;
}

static void on_response(const struct sa_http_response *resp, void *arg);

/* The decimal text of v, written backwards ending just before `end`;
 * returns where it starts (snprintf cost a tenth of the drain's CPU). */
static char *decimal_i64(char *end, int64_t v)
{
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--end = '-';
    return end;
}

/* Append the row of rec to out: the JSON object with its _op tail
 * replaced by the version and delete columns, and a newline. On error out
 * is as it was. */
static int encode_row(struct ch_sink *cs, const struct sa_schema *schema,
                      const struct sa_record_view *rec, struct sa_buf *out,
                      struct sa_err *err)
{
    static const char version_key[] = ",\"_version\":";
    size_t tail = strlen(TAIL_UPSERT), mark = out->len;
    char num[24], *p = decimal_i64(num + sizeof num, rec->version);
    size_t num_len = (size_t)(num + sizeof num - p);
    int rc;

    /* Without quality tags: the table has no _quality column, and the
     * object must end with its _op member (below). */
    struct sa_record_view meta = *rec;
    meta.tags = NULL;
    meta.tags_len = 0;
    if ((rc = sa_encode_json(schema, rec->body, rec->body_len, cs->sink->origin_id,
                             &meta, out, err)))
        return rc;
    /* sa_encode_json ends every object with its _op member. */
    if (out->len - mark < tail ||
        (memcmp(out->data + out->len - tail, TAIL_UPSERT, tail) != 0 &&
         memcmp(out->data + out->len - tail, TAIL_DELETE, tail) != 0)) {
        out->len = mark;
        return sa_err_set(err, SA_EINVAL, "sink %s: unexpected JSON encoding",
                          cs->name);
    }
    out->len -= tail;
    if ((rc = sa_buf_append(out, version_key, sizeof version_key - 1)) ||
        (rc = sa_buf_append(out, p, num_len)) ||
        (rc = sa_buf_append_str(out, rec->op == SA_OP_DELETE ? ",\"_deleted\":1}\n"
                                                             : ",\"_deleted\":0}\n"))) {
        out->len = mark;
        return sa_err_set(err, rc, "sink %s: %s", cs->name, sa_strerror(rc));
    }
    return SA_OK;
}

static int ch_send(struct sa_sink *sink, const struct sa_segment_view *view,
                   struct sa_err *err)
{
    struct ch_sink *cs = sink->ctx;
    const struct sa_schema *schema;
    struct sa_segment_iter it;
    struct sa_record_view rec;
    struct ch_block block = {.segment_id = view->id, .first = view->start_index};
    int rc;

    /* Enough blocks queued for every connection and one more each. */
    if (sa_http_in_flight(cs->http) >= (size_t)cs->o->http.max_connections * 2)
        return SA_EAGAIN;
    if ((rc = sa_sink_schema(sink, view->schema_id, &schema, err)))
        return rc;
    if ((rc = table_for(cs, view->stream, schema, &block.table, err)))
        return rc;
    sa_buf_reset(&cs->body);
    sa_segment_iter_init(&it, view);
    while ((rc = sa_segment_iter_next(&it, &rec, err)) == SA_OK &&
           rec.index < view->count) {
        struct sa_err enc = {0};
        size_t mark = cs->body.len;
        if (cs->body.cap == 0 &&
            (rc = sa_buf_reserve(&cs->body, cs->last_block_bytes + 65536)))
            return sa_err_set(err, rc, "sink %s: %s", cs->name, sa_strerror(rc));
        if (encode_row(cs, schema, &rec, &cs->body, &enc) != SA_OK) {
            /* A record that cannot be a row: dead-letter it, and keep the
             * blocks contiguous around it. */
            if (block.count && (rc = submit_block(cs, &block, &cs->body, err)))
                return rc;
            if ((rc =
                     sa_ack_list_push(&cs->acks, view->id, rec.index, 1, SA_SINK_REJECT,
                                      enc.msg[0] ? enc.msg : "cannot encode as JSON")))
                return sa_err_set(err, rc, "sink %s: %s", cs->name, sa_strerror(rc));
            block.first = rec.index + 1;
            block.count = 0;
            continue;
        }
        /* Rows go straight into the body; one that makes the block too
         * large moves over to the next block. */
        if (block.count && (block.count >= (uint32_t)cs->o->block_records ||
                            cs->body.len > (size_t)cs->o->block_bytes)) {
            sa_buf_reset(&cs->line);
            if ((rc = sa_buf_append(&cs->line, cs->body.data + mark,
                                    cs->body.len - mark)))
                return sa_err_set(err, rc, "sink %s: %s", cs->name, sa_strerror(rc));
            cs->body.len = mark;
            if ((rc = submit_block(cs, &block, &cs->body, err)))
                return rc;
            if ((rc = sa_buf_reserve(&cs->body, cs->last_block_bytes + 65536)) ||
                (rc = sa_buf_append(&cs->body, cs->line.data, cs->line.len)))
                return sa_err_set(err, rc, "sink %s: %s", cs->name, sa_strerror(rc));
            block.first = rec.index;
            block.count = 0;
        }
        /* Let the requests in flight move on while this block is encoded:
         * libcurl writes and reads only inside sa_http_poll. */
        if (++block.count % DRIVE_EVERY == 0 && sa_http_in_flight(cs->http) > 0 &&
            (rc = sa_http_poll(cs->http, 0, on_response, cs, err)) < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (block.count)
        return submit_block(cs, &block, &cs->body, err);
    return SA_OK;
}

/* --- responses ------------------------------------------------------------------ */

static void push_ack(struct ch_sink *cs, const struct ch_block *b, int outcome,
                     const char *reason)
{
    if (sa_ack_list_push(&cs->acks, b->segment_id, b->first, b->count, outcome, reason))
        sa_log_error("clickhouse sink: out of memory for an outcome", "sink", cs->name);
}

/* Queue records [from, from + n) of b, whose lines are start[0, len), as
 * a request of their own. */
static int queue_split(struct ch_sink *cs, const struct ch_block *b, uint32_t from,
                       uint32_t n, const uint8_t *start, size_t len)
{
    struct ch_split *s;

    if (n == 0)
        return SA_OK;
    if (cs->n_splits == cs->cap_splits) {
        size_t cap = cs->cap_splits ? cs->cap_splits * 2 : 8;
        struct ch_split *v = realloc(cs->splits, cap * sizeof *v);
        if (!v)
            return SA_ENOMEM;
        cs->splits = v;
        cs->cap_splits = cap;
    }
    s = &cs->splits[cs->n_splits];
    s->block = *b;
    s->block.first = from;
    s->block.count = n;
    sa_buf_init(&s->body, (size_t)cs->o->block_bytes + LINE_MAX_BYTES);
    if (sa_buf_append(&s->body, start, len)) {
        sa_buf_fini(&s->body);
        return SA_ENOMEM;
    }
    cs->n_splits++;
    return SA_OK;
}

/* Split a block refused for some of its rows: around the row ClickHouse
 * named (1-based, within the block: the rows before it parsed), else in
 * halves. Every part is smaller than the block, so isolating the bad rows
 * ends; a block of n rows takes O(n) requests even when all are bad. */
static int split_block(struct ch_sink *cs, const struct ch_block *b,
                       const struct sa_buf *body, int64_t row)
{
    uint32_t cuts[3];
    size_t n_cuts = 0, offs[3];
    uint32_t at[5];
    const uint8_t *p = body->data;
    uint32_t line = 0;
    size_t k = 0;
    int rc;

    if (row >= 1 && row <= (int64_t)b->count) {
        if (row > 1)
            cuts[n_cuts++] = (uint32_t)row - 1;
        if (row < (int64_t)b->count)
            cuts[n_cuts++] = (uint32_t)row;
        /* Row 1 says nothing of the rows after it: halve them, or a block
         * of bad rows would be sent again once per row, O(n^2) bytes. */
        if (row == 1 && b->count - 1 >= 2)
            cuts[n_cuts++] = 1 + (b->count - 1) / 2;
    } else {
        cuts[n_cuts++] = b->count / 2;
    }
    /* Byte offsets of the cut lines: one record a line. */
    for (size_t pos = 0; k < n_cuts;) {
        const uint8_t *nl;
        if (line == cuts[k]) {
            offs[k++] = pos;
            continue;
        }
        if (!(nl = memchr(p + pos, '\n', body->len - pos)))
            break;
        pos = (size_t)(nl - p) + 1;
        line++;
    }
    if (k != n_cuts)
        return SA_EINVAL; /* fewer lines than records: not our body */
    at[0] = 0;
    for (size_t i = 0; i < n_cuts; i++)
        at[i + 1] = cuts[i];
    at[n_cuts + 1] = b->count;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t from = i == 0 ? 0 : offs[i - 1];
        size_t to = i == n_cuts ? body->len : offs[i];
        if ((rc = queue_split(cs, b, b->first + at[i], at[i + 1] - at[i], p + from,
                              to - from)))
            return rc;
    }
    cs->n_splits_done++;
    return SA_OK;
}

static void on_response(const struct sa_http_response *resp, void *arg)
{
    struct ch_sink *cs = arg;
    struct ch_block *b = resp->user;
    struct sa_ch_error ce;
    char reason[SA_CH_MESSAGE_MAX + 64];

    if (resp->status == 200) {
        push_ack(cs, b, SA_SINK_OK, NULL);
        goto out;
    }
    if (resp->status == 0) {
        push_ack(cs, b, SA_SINK_RETRY, resp->error);
        goto out;
    }
    if (sa_ch_error_parse(resp->body, resp->body_len, &ce, NULL) != SA_OK) {
        snprintf(reason, sizeof reason, "clickhouse: HTTP %ld, not a ClickHouse error",
                 resp->status);
        push_ack(cs, b, SA_SINK_RETRY, reason);
        goto out;
    }
    snprintf(reason, sizeof reason, "clickhouse: Code: %d: %s", ce.code, ce.message);
    if (!sa_ch_error_is_row_error(ce.code)) {
        push_ack(cs, b, SA_SINK_RETRY, reason);
        goto out;
    }
    if (b->count == 1) {
        char seg[32], idx[16];
        snprintf(seg, sizeof seg, "%" PRId64, b->segment_id);
        snprintf(idx, sizeof idx, "%u", b->first);
        sa_log_warn("clickhouse refused a row", "sink", cs->name, "table",
                    cs->tables[b->table].name, "segment", seg, "record", idx, "reason",
                    reason);
        cs->n_rejected++;
        push_ack(cs, b, SA_SINK_REJECT, reason);
        goto out;
    }
    /* ClickHouse counts rows from 1 within the request. */
    if (!resp->request_body || split_block(cs, b, resp->request_body, ce.row) != SA_OK)
        push_ack(cs, b, SA_SINK_RETRY, reason);
out:
    block_unlink(cs, b);
    free(b);
}

static int ch_poll_acks(struct sa_sink *sink, struct sa_ack_list *acks, int timeout_ms)
{
    struct ch_sink *cs = sink->ctx;
    struct sa_err err = {0};
    int rc = SA_OK, n;

    n = sa_http_poll(cs->http, cs->acks.n ? 0 : timeout_ms, on_response, cs, &err);
    if (n < 0) {
        sa_log_error("clickhouse sink: polling failed", "sink", cs->name, "error",
                     err.msg);
        rc = n;
    }
    for (size_t i = 0; i < cs->n_splits; i++) {
        struct ch_split *s = &cs->splits[i];
        if (submit_block(cs, &s->block, &s->body, &err) != SA_OK) {
            push_ack(cs, &s->block, SA_SINK_RETRY, err.msg);
            sa_buf_fini(&s->body);
        }
    }
    cs->n_splits = 0;
    if (acks->n == 0) {
        struct sa_ack_list mine = cs->acks;
        cs->acks = *acks;
        *acks = mine;
        return rc;
    }
    for (size_t i = 0; i < cs->acks.n; i++) {
        const struct sa_ack *a = &cs->acks.v[i];
        if (sa_ack_list_push(acks, a->segment_id, a->first_index, a->count, a->outcome,
                             a->reason))
            rc = SA_ENOMEM;
    }
    sa_ack_list_clear(&cs->acks);
    return rc;
}

/* --- open/close -------------------------------------------------------------- */

static int ch_check(const struct sa_sink_conf *conf, struct sa_err *err)
{
    const struct ch_opts *o = conf->opts;
    int rc;

    if (!o)
        return sa_conf_fail(&conf->origin, "url", SA_ECONFIG, err, "is required");
    if ((rc = sa_http_conf_check(&o->http, &conf->origin, err)))
        return rc;
    if (!o->table || !o->table[0])
        return sa_conf_fail(&conf->origin, "table", SA_ECONFIG, err, "is empty");
    if (!o->database || !o->database[0])
        return sa_conf_fail(&conf->origin, "database", SA_ECONFIG, err, "is empty");
    return SA_OK;
}

static void ch_close(struct sa_sink *sink);

static int ch_open(struct sa_sink *sink, struct sa_err *err)
{
    const struct ch_opts *o = sink->conf->opts;
    struct ch_sink *cs;
    int rc;

    if ((rc = ch_check(sink->conf, err)))
        return rc;
    if (!(cs = calloc(1, sizeof *cs)))
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", sink->conf->name);
    sink->ctx = cs;
    cs->o = o;
    cs->sink = sink;
    cs->name = sink->conf->name;
    sa_buf_init(&cs->body, (size_t)o->block_bytes + LINE_MAX_BYTES);
    sa_buf_init(&cs->line, LINE_MAX_BYTES);
    if ((rc = sa_http_client_new(&o->http, cs->name, &cs->http, err))) {
        ch_close(sink);
        return rc;
    }
    return SA_OK;
}

static void ch_close(struct sa_sink *sink)
{
    struct ch_sink *cs = sink->ctx;

    if (!cs)
        return;
    if (cs->n_rejected || cs->n_splits_done) {
        char rej[24], spl[24];
        snprintf(rej, sizeof rej, "%" PRIu64, cs->n_rejected);
        snprintf(spl, sizeof spl, "%" PRIu64, cs->n_splits_done);
        sa_log_info("clickhouse sink closed", "sink", cs->name, "rows_rejected", rej,
                    "blocks_split", spl);
    }
    /* The callbacks of requests still in flight are not called: their
     * blocks are lost with them; the dispatcher resends from its cursor. */
    sa_http_client_free(cs->http);
    while (cs->in_flight) {
        struct ch_block *b = cs->in_flight;
        block_unlink(cs, b);
        free(b);
    }
    for (size_t i = 0; i < cs->n_tables; i++) {
        free(cs->tables[i].stream);
        free(cs->tables[i].path);
        free(cs->tables[i].name);
    }
    free(cs->tables);
    for (size_t i = 0; i < cs->n_splits; i++)
        sa_buf_fini(&cs->splits[i].body);
    free(cs->splits);
    sa_buf_fini(&cs->body);
    sa_buf_fini(&cs->line);
    sa_ack_list_fini(&cs->acks);
    free(cs);
    sink->ctx = NULL;
}

const struct sa_sink_ops sa_sink_clickhouse_ops = {
    .name = "clickhouse",
    .desc =
        "ClickHouse over HTTP: INSERT ... FORMAT JSONEachRow with _origin_id, _seq, "
        "_version, _deleted; refused blocks split to dead-letter only the bad rows",
    .conf = ch_conf,
    .opts_size = sizeof(struct ch_opts),
    .check = ch_check,
    .open = ch_open,
    .send = ch_send,
    .poll_acks = ch_poll_acks,
    .close = ch_close,
};
