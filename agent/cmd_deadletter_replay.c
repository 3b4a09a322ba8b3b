/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent deadletter replay`: rows of dead letters ingested again
 * through their source's own mapping, each chunk of records committed
 * together with the resolution of their dead letters (see cmd_deadletter.c
 * for the command as a whole). Split out of cmd_deadletter.c. Also
 * `deadletter resolve`, the other writer: dead letters closed by hand.
 */
#include "agent/base/clock.h"
#include "agent/cli.h"
#include "agent/cmd_deadletter.h"
#include "agent/commands.h"
#include "agent/quality/quality.h"
#include "agent/record.h"
#include "agent/source/csv.h"
#include "agent/source/source_csv.h"
#include "store/hlc.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* A replay commits this many dead letters (or this many bytes of records)
 * at a time: each commit holds its records and their resolutions. */
#define REPLAY_CHUNK 1000
#define REPLAY_CHUNK_BYTES ((size_t)16 << 20)
/* The longest key a record may have (as pipeline.c's KEY_MAX). */
#define KEY_MAX (64u << 10)

/* --- replay ---------------------------------------------------------------- */

/* Where the column names of a source's rows come from, best first: its
 * columns:, the header stored with the dead letter, the header of the
 * file it came from (when that is still the same file), --header. */
enum names_from { NAMES_COLUMNS, NAMES_STORED, NAMES_FILE, NAMES_CMDLINE };

/* How the rows of one source are read: its CSV options, schema and the
 * column names. */
struct replay_source {
    char *name; /* the dead letters' source */
    enum names_from from;
    char *names_key; /* the stored header or the file; NULL otherwise */
    const struct sa_source_conf *conf; /* NULL: an ad-hoc import source */
    const struct sa_schema *schema;
    struct sa_csv_opts opts;
    int extra_ignore;
    const char *op_column; /* the source's, NULL: none */
    char **names;
    size_t n_names;
    struct replay_source *next;
};

/* A replayed row passes its stream's quality rules like any ingested one;
 * one that fails a reject or a drop rule stays a dead letter with the
 * reason (a replay does not drop what was kept), a tag rule tags it. */
struct replay_quality {
    const char *stream;
    const struct sa_schema *schema;
    struct sa_quality *q; /* NULL: the stream has no rules */
    struct replay_quality *next;
};

struct replay {
    struct sa_config *cfg;
    struct sa_schema_set *schemas;
    struct sa_spool *spool;
    const char *from; /* --from FILE */
    char **header;    /* --header, split */
    size_t n_header;
    struct replay_source *sources;
    struct sa_record rec;
    enum sa_op op; /* of rec: from the source's op_column, else an upsert */
    const struct sa_schema *rec_schema;
    struct sa_buf key, body, ref;
    /* the chunk being gathered */
    struct sa_segment_builder *segs;
    size_t n_segs;
    struct sa_deadletter_settle *settles;
    char **texts; /* how and reasons, owned */
    size_t n_settles, cap_settles;
    size_t chunk_bytes;
    int64_t first_id, last_id;
    size_t chunk_resolved, chunk_failed;
    /* versions of records without x-version, from meta.hlc on */
    struct sa_hlc hlc;
    int hlc_started;
    int64_t chunk_hlc;
    /* quality rules' checkers, one per stream and schema met */
    struct replay_quality *quality;
    /* totals */
    size_t resolved, failed, skipped;
    size_t unread; /* by reference, not readable: left open */
};

static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Split "a,b,c" (as the CSV parser reads it, so names may be quoted). */
static int split_row(const char *text, size_t len, const struct sa_csv_opts *opts,
                     char ***names, size_t *n, struct sa_err *err)
{
    struct sa_csv_parser parser;
    struct sa_csv_row row;
    struct sa_csv_error where;
    size_t used;
    int rc;

    *names = NULL;
    *n = 0;
    rc = sa_csv_init(&parser, opts);
    if (rc)
        return sa_err_set(err, rc, "out of memory");
    rc = sa_csv_next(&parser, text, len, 1, &row, &used, &where);
    if (rc == SA_EPARSE) {
        rc = sa_err_set(err, SA_EPARSE, "column %" PRId64 ": %s", where.column,
                        where.reason);
    } else if (rc) {
        rc = sa_err_set(err, SA_EPARSE, "no row");
    } else {
        *names = calloc(row.n_fields + 1, sizeof **names);
        if (!*names)
            rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < row.n_fields; i++) {
            const char *p = row.fields[i].p;
            size_t l = row.fields[i].len;
            /* Header names may carry spaces around them (as the source). */
            while (l && *p == ' ')
                p++, l--;
            while (l && p[l - 1] == ' ')
                l--;
            (*names)[i] = strndup(p, l);
            if (!(*names)[i])
                rc = sa_err_set(err, SA_ENOMEM, "out of memory");
            else
                (*n)++;
        }
    }
    sa_csv_fini(&parser);
    if (rc) {
        names_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return rc;
}

/* The file part of a CSV location "FILE:LINE:COLUMN" (malloc'd), or NULL. */
static char *location_file(const char *location)
{
    const char *end = location + strlen(location);
    for (int parts = 0; parts < 2; parts++) {
        const char *colon = end;
        while (colon > location && colon[-1] != ':')
            colon--;
        if (colon == location || colon == end ||
            strspn(colon, "0123456789") != (size_t)(end - colon))
            return NULL;
        end = colon - 1;
    }
    return end > location ? strndup(location, (size_t)(end - location)) : NULL;
}

/* The first row of path: its header. SA_ENOTFOUND when the file is gone. */
static int file_header(const char *path, const struct sa_csv_opts *opts, char ***names,
                       size_t *n, struct sa_err *err)
{
    char buf[65536];
    gzFile gz = gzopen(path, "rb"); /* reads plain files as they are */
    int got, rc;

    if (!gz)
        return sa_err_set(err, errno == ENOENT ? SA_ENOTFOUND : SA_EIO,
                          "cannot read %s: %s", path, strerror(errno));
    got = gzread(gz, buf, sizeof buf);
    gzclose(gz);
    if (got <= 0)
        return sa_err_set(err, SA_ENOTFOUND, "%s is empty", path);
    {
        const char *p = buf;
        size_t len = (size_t)got;
        if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
            p += 3, len -= 3;
        /* Only the first row: up to its newline, or all that was read. */
        rc = split_row(p, len, opts, names, n, err);
    }
    if (rc)
        return sa_err_prefix(err, "%s:1: the header: ", path);
    return SA_OK;
}

static int names_copy(char *const *from, size_t n, char ***names, size_t *n_names,
                      struct sa_err *err)
{
    *names = calloc(n + 1, sizeof **names);
    *n_names = 0;
    for (size_t i = 0; *names && i < n; i++)
        if (((*names)[i] = strdup(from[i])))
            (*n_names)++;
    if (!*names || *n_names != n)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    return SA_OK;
}

/* Find (or set up) how the dead letter's rows are read. NULL with err set
 * when they cannot be: the dead letter is left as it is. */
static struct replay_source *
replay_source(struct replay *rp, const struct sa_deadletter_row *r, struct sa_err *err)
{
    const struct sa_source_conf *conf = NULL;
    const struct sa_csv_source_conf *csv = NULL;
    struct replay_source *rs = NULL;
    enum names_from from;
    const char *key = NULL;
    char *file = location_file(r->location);
    char **names = NULL;
    size_t n_names = 0;
    int rc = SA_OK;

    for (size_t i = 0; i < rp->cfg->n_sources && !conf; i++)
        if (strcmp(rp->cfg->sources[i].name, r->source) == 0)
            conf = &rp->cfg->sources[i];
    if (conf && conf->ops != &sa_source_csv_ops) {
        sa_err_set(err, SA_EINVAL,
                   "source %s is not a CSV source: its dead letters "
                   "cannot be replayed",
                   r->source);
        goto fail;
    }
    csv = conf ? conf->opts : NULL;
    /* A source's columns: are the same for every file. Else the header
     * the row was read under: the one stored with it, or the one of its
     * file while that is still the file it was read from -- a new file
     * under the old name may order its columns otherwise, and naming the
     * fields by it would swap them silently. */
    if (csv && csv->columns.n) {
        from = NAMES_COLUMNS;
    } else if (r->header) {
        from = NAMES_STORED;
        key = r->header;
    } else {
        rc = file ? sa_cmd_deadletter_same_file(r, file, err) : SA_ENOTFOUND;
        if (rc == 1) {
            from = NAMES_FILE;
            key = file;
        } else if ((rc == 0 || rc == SA_ENOTFOUND) && rp->n_header) {
            sa_err_clear(err);
            from = NAMES_CMDLINE;
        } else if (rc == 0) {
            char why[SA_ERR_MSG_MAX];
            snprintf(why, sizeof why, "%s", err->msg);
            sa_err_set(err, SA_EINVAL,
                       "dead letter %lld: name its columns with --header a,b,c "
                       "(source %s has no columns:, and the header of its file "
                       "may not be the row's: %s)",
                       (long long)r->id, r->source, why);
            goto fail;
        } else if (rc == SA_ENOTFOUND && file) {
            sa_err_set(err, SA_EINVAL,
                       "%s, the file dead letter %lld came from, is "
                       "gone and source %s has no columns: configured: name the "
                       "columns with --header a,b,c",
                       file, (long long)r->id, r->source);
            goto fail;
        } else if (rc == SA_ENOTFOUND) {
            sa_err_set(err, SA_EINVAL,
                       "dead letter %lld (%s) does not name the file "
                       "it came from and source %s has no columns: configured: name "
                       "the columns with --header a,b,c",
                       (long long)r->id, r->location, r->source);
            goto fail;
        } else {
            goto fail;
        }
    }
    for (rs = rp->sources; rs; rs = rs->next)
        if (strcmp(rs->name, r->source) == 0 && rs->from == from &&
            (!key || strcmp(rs->names_key, key) == 0))
            break;
    if (rs) {
        free(file);
        return rs;
    }
    rs = calloc(1, sizeof *rs);
    if (!rs || !(rs->name = strdup(r->source)) ||
        (key && !(rs->names_key = strdup(key)))) {
        sa_err_set(err, SA_ENOMEM, "out of memory");
        goto fail;
    }
    rs->from = from;
    rs->conf = conf;
    sa_csv_opts_default(&rs->opts);
    if (csv) {
        static const char delimiters[] = {',', ';', '\t', '|'};
        rs->opts.delimiter = delimiters[csv->delimiter];
        rs->opts.quote = csv->quote && *csv->quote ? csv->quote[0] : '"';
        rs->opts.max_field = (size_t)csv->max_field;
        rs->extra_ignore = csv->extra_columns == 1;
        rs->op_column = csv->op_column;
    }
    /* Without a source of that name (an `import` into a stream that has
     * none), the stream's schema with the defaults, as import did. */
    rs->schema = sa_schemas_lookup(rp->schemas, conf ? conf->schema : r->stream, err);
    if (!rs->schema) {
        sa_err_prefix(err, "source %s: ", r->source);
        goto fail;
    }
    switch (from) {
    case NAMES_COLUMNS:
        rc = names_copy(csv->columns.v, csv->columns.n, &names, &n_names, err);
        break;
    case NAMES_STORED:
        rc = split_row(r->header, strlen(r->header), &rs->opts, &names, &n_names, err);
        if (rc)
            sa_err_prefix(err,
                          "dead letter %lld: its stored header: ", (long long)r->id);
        break;
    case NAMES_FILE:
        rc = file_header(file, &rs->opts, &names, &n_names, err);
        break;
    case NAMES_CMDLINE:
        rc = names_copy(rp->header, rp->n_header, &names, &n_names, err);
        break;
    }
    if (rc)
        goto fail;
    rs->names = names;
    rs->n_names = n_names;
    names = NULL;
    rs->next = rp->sources;
    rp->sources = rs;
    free(file);
    return rs;
fail:
    names_free(names, n_names);
    if (rs) {
        free(rs->name);
        free(rs->names_key);
        free(rs);
    }
    free(file);
    return NULL;
}

static void replay_sources_free(struct replay_source *rs)
{
    while (rs) {
        struct replay_source *next = rs->next;
        names_free(rs->names, rs->n_names);
        free(rs->name);
        free(rs->names_key);
        free(rs);
        rs = next;
    }
}

/* Turn a row's text into a record in rp->rec: SA_ERECORD (reason in err)
 * when it still does not fit. */
static int row_to_record(struct replay *rp, struct replay_source *rs, const char *text,
                         size_t len, struct sa_err *err)
{
    struct sa_csv_parser parser;
    struct sa_csv_row row;
    struct sa_csv_error where;
    size_t used;
    int rc, prc;

    if (rp->rec_schema != rs->schema) {
        sa_record_fini(&rp->rec);
        rp->rec_schema = NULL;
        rc = sa_record_init(&rp->rec, rs->schema, err);
        if (rc)
            return rc;
        rp->rec_schema = rs->schema;
    }
    rc = sa_csv_init(&parser, &rs->opts);
    if (rc)
        return sa_err_set(err, rc, "out of memory");
    prc = sa_csv_next(&parser, text, len, 1, &row, &used, &where);
    if (prc == SA_EPARSE) {
        rc = sa_err_set(err, SA_ERECORD, "column %" PRId64 ": %s", where.column,
                        where.reason);
        goto out;
    }
    if (prc != SA_OK) {
        rc = sa_err_set(err, SA_ERECORD, "the row is empty");
        goto out;
    }
    /* One row: what follows it may only be line ends. */
    for (size_t i = used; i < len; i++)
        if (text[i] != '\n' && text[i] != '\r') {
            rc = sa_err_set(err, SA_ERECORD,
                            "more than one row (line %" PRId64
                            " of the raw text goes on)",
                            row.line + row.lines);
            goto out;
        }
    if (row.n_fields != rs->n_names) {
        rc = sa_err_set(err, SA_ERECORD, "row has %zu fields, the header has %zu",
                        row.n_fields, rs->n_names);
        goto out;
    }
    sa_record_reset(&rp->rec);
    rp->op = SA_OP_UPSERT;
    for (size_t i = 0; i < row.n_fields; i++) {
        int field;
        if (rs->op_column && strcmp(rs->names[i], rs->op_column) == 0) {
            /* As the source reads it: a delete stays a delete. */
            int op = sa_csv_parse_op(row.fields[i].p, row.fields[i].len);
            if (op < 0) {
                rc = sa_err_set(err, SA_ERECORD,
                                "column %zu (op_column '%s'): '%.*s' is neither a "
                                "delete nor an upsert",
                                i + 1, rs->op_column,
                                (int)(row.fields[i].len > 64 ? 64 : row.fields[i].len),
                                row.fields[i].p);
                goto out;
            }
            rp->op = (enum sa_op)op;
            continue;
        }
        field = sa_record_field_index(rs->schema, rs->names[i]);
        if (field < 0) {
            if (rs->extra_ignore)
                continue;
            rc = sa_err_set(err, SA_ERECORD,
                            "column %zu '%s' is not a field of "
                            "schema %s:v%d",
                            i + 1, rs->names[i], rs->schema->subject,
                            rs->schema->version);
            goto out;
        }
        rc = sa_record_set_text(&rp->rec, field, row.fields[i].p, row.fields[i].len,
                                err);
        if (rc) {
            sa_err_prefix(err, "column %zu: ", i + 1);
            rc = SA_ERECORD;
            goto out;
        }
    }
    rc = SA_OK;
out:
    sa_csv_fini(&parser);
    return rc;
}

/* The checker of stream's rules for rp->rec_schema, made at first use;
 * *out NULL when the stream has none. */
static int replay_quality(struct replay *rp, const char *stream,
                          struct sa_quality **out, struct sa_err *err)
{
    struct replay_quality *rq;
    const struct sa_quality_stream *qs;
    int rc;

    for (rq = rp->quality; rq; rq = rq->next)
        if (rq->schema == rp->rec_schema && strcmp(rq->stream, stream) == 0) {
            *out = rq->q;
            return SA_OK;
        }
    if (!(rq = calloc(1, sizeof *rq)))
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    rq->schema = rp->rec_schema;
    if ((qs = sa_quality_conf_stream(rp->cfg->quality, stream)) &&
        (rc = sa_quality_new(&rq->q, qs, rp->cfg->path, rp->rec_schema, err))) {
        free(rq);
        return rc;
    }
    /* stream belongs to a dead-letter row; copy it to outlive the row */
    if (!(rq->stream = strdup(stream))) {
        sa_quality_free(rq->q);
        free(rq);
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    }
    rq->next = rp->quality;
    rp->quality = rq;
    *out = rq->q;
    return SA_OK;
}

static void replay_quality_free(struct replay_quality *rq)
{
    while (rq) {
        struct replay_quality *next = rq->next;
        sa_quality_free(rq->q);
        free((char *)rq->stream);
        free(rq);
        rq = next;
    }
}

/* Append rp->rec to the chunk's segment of its stream and schema. */
static int add_record(struct replay *rp, const char *stream, struct sa_err *err)
{
    struct sa_segment_builder *b = NULL;
    size_t body_len;
    int64_t event_ms, version;
    int rc;

    rc = sa_record_encoded_size(&rp->rec, &body_len, err);
    if (rc)
        return rc == SA_ERECORD ? rc : sa_err_set(err, rc, "cannot encode a record");
    event_ms = sa_record_event_ms(&rp->rec, SA_EVENT_NOW);
    if (event_ms == SA_EVENT_NOW)
        event_ms = sa_now_ms();
    if (sa_record_version(&rp->rec, &version) == SA_ENOTFOUND) {
        if (!rp->hlc_started) {
            int64_t last = 0;
            if ((rc = sa_spool_hlc_get(rp->spool, &last, err)))
                return rc;
            sa_hlc_init(&rp->hlc, last);
            rp->hlc_started = 1;
        }
        version = rp->chunk_hlc = sa_hlc_next(&rp->hlc, sa_now_ms());
    }
    sa_buf_reset(&rp->key);
    if (sa_record_key(&rp->rec, &rp->key) != SA_OK)
        return sa_err_set(err, SA_ERECORD,
                          "key field: longer than the %u bytes a key "
                          "may have",
                          KEY_MAX);
    sa_buf_reset(&rp->body);
    rc = sa_buf_reserve(&rp->body, body_len);
    if (rc)
        return sa_err_set(err, rc, "out of memory");
    sa_record_encode_into(&rp->rec, rp->body.data);
    for (size_t i = 0; i < rp->n_segs && !b; i++)
        if (rp->segs[i].schema_id == rp->rec_schema->id &&
            strcmp(rp->segs[i].stream, stream) == 0)
            b = &rp->segs[i];
    if (!b) {
        struct sa_segment_builder *v = realloc(rp->segs, (rp->n_segs + 1) * sizeof *v);
        if (!v)
            return sa_err_set(err, SA_ENOMEM, "out of memory");
        rp->segs = v;
        b = &rp->segs[rp->n_segs];
        rc = sa_segment_builder_init(b, stream, rp->rec_schema->id,
                                     REPLAY_CHUNK_BYTES + SA_RECORD_MAX_BYTES +
                                         2 * KEY_MAX);
        if (rc)
            return sa_err_set(err, rc, "out of memory");
        rp->n_segs++;
    }
    if (rp->op == SA_OP_DELETE && rp->key.len == 0)
        return sa_err_set(err, SA_ERECORD, "a delete (op_column) without a key");
    struct sa_quality *q = NULL;
    struct sa_quality_verdict verdict = {.tags_len = 0};
    uint8_t *dst;
    if ((rc = replay_quality(rp, stream, &q, err)))
        return rc;
    if (q && rp->op == SA_OP_UPSERT &&
        !sa_quality_eval(q, &rp->rec, event_ms, sa_now_ms(), (const char *)rp->key.data,
                         rp->key.len, &verdict, err))
        return SA_ERECORD; /* err: the rule, the column, the value */
    rc = sa_segment_add_reserve_tagged(b, event_ms, version, (const char *)rp->key.data,
                                       rp->key.len, rp->op, verdict.tags,
                                       verdict.tags_len, body_len, &dst);
    if (rc)
        return sa_err_set(err, rc, "cannot add a record of %zu bytes", body_len);
    memcpy(dst, rp->body.data, body_len);
    rp->chunk_bytes += body_len + rp->key.len;
    return SA_OK;
}

static int settle_add(struct replay *rp, int64_t id, const char *how,
                      const char *replay_error)
{
    char *text;

    if (rp->n_settles == rp->cap_settles) {
        size_t cap = rp->cap_settles ? rp->cap_settles * 2 : 64;
        struct sa_deadletter_settle *v = realloc(rp->settles, cap * sizeof *v);
        char **t;
        if (!v)
            return SA_ENOMEM;
        rp->settles = v;
        t = realloc(rp->texts, cap * sizeof *t);
        if (!t)
            return SA_ENOMEM;
        rp->texts = t;
        rp->cap_settles = cap;
    }
    text = strdup(replay_error ? replay_error : how);
    if (!text)
        return SA_ENOMEM;
    rp->texts[rp->n_settles] = text;
    rp->settles[rp->n_settles] =
        (struct sa_deadletter_settle){.id = id,
                                      .how = replay_error ? NULL : text,
                                      .replay_error = replay_error ? text : NULL};
    rp->n_settles++;
    if (!rp->first_id)
        rp->first_id = id;
    rp->last_id = id;
    if (replay_error)
        rp->chunk_failed++;
    else
        rp->chunk_resolved++;
    return SA_OK;
}

static void chunk_clear(struct replay *rp)
{
    for (size_t i = 0; i < rp->n_segs; i++)
        sa_segment_builder_fini(&rp->segs[i]);
    rp->n_segs = 0;
    for (size_t i = 0; i < rp->n_settles; i++)
        free(rp->texts[i]);
    rp->n_settles = 0;
    rp->chunk_bytes = 0;
    rp->first_id = rp->last_id = 0;
    rp->chunk_resolved = rp->chunk_failed = 0;
}

/* Commit the chunk: its records, their dead letters resolved, the ones
 * that still fail with their new reason, and an audit row. */
static int chunk_commit(struct replay *rp, struct sa_err *err)
{
    struct sa_segment_builder **segs = NULL;
    struct sa_commit c = {0};
    struct passwd *pw = getpwuid(getuid());
    json_t *detail = NULL;
    char *detail_text = NULL;
    int rc;

    if (rp->n_settles == 0)
        return SA_OK;
    segs = calloc(rp->n_segs + 1, sizeof *segs);
    if (!segs)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    for (size_t i = 0; i < rp->n_segs; i++)
        if (rp->segs[i].count)
            segs[c.n_segments++] = &rp->segs[i];
    detail = json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:I}", "user",
                       pw && pw->pw_name ? pw->pw_name : "?", "uid",
                       (json_int_t)getuid(), "from", rp->from ? rp->from : "stored raw",
                       "resolved", (json_int_t)rp->chunk_resolved, "still_open",
                       (json_int_t)rp->chunk_failed, "first_id",
                       (json_int_t)rp->first_id, "last_id", (json_int_t)rp->last_id);
    detail_text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    if (!detail_text) {
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        goto out;
    }
    c.segments = segs;
    c.settles = rp->settles;
    c.n_settles = rp->n_settles;
    c.audit_kind = "deadletter_replay";
    c.audit_detail = detail_text;
    c.hlc = rp->chunk_hlc;
    rc = sa_spool_commit(rp->spool, &c, NULL, err);
    if (!rc) {
        rp->resolved += rp->chunk_resolved;
        rp->failed += rp->chunk_failed;
    }
out:
    free(detail_text);
    json_decref(detail);
    free(segs);
    chunk_clear(rp);
    return rc;
}

/* Replay one open dead letter with the row text given (or its own). */
static int replay_one(struct replay *rp, const struct sa_deadletter_row *r,
                      const char *text, size_t len, struct sa_err *err)
{
    struct replay_source *rs = NULL;
    struct sa_err rerr = {0};
    char how[600];
    int rc;

    if (r->resolved) {
        printf("dead letter %lld: resolved already (%s): skipped\n", (long long)r->id,
               r->resolved_how ? r->resolved_how : "");
        rp->skipped++;
        return SA_OK;
    }
    if (!from_csv_source(r)) {
        printf("dead letter %lld: of %s, an encoded record, not a row: skipped\n",
               (long long)r->id, r->source);
        rp->skipped++;
        return SA_OK;
    }
    for (size_t i = 0; i < rp->cfg->n_sources; i++)
        if (strcmp(rp->cfg->sources[i].name, r->source) == 0 &&
            rp->cfg->sources[i].ops != &sa_source_csv_ops) {
            printf("dead letter %lld: of %s, a %s source, not CSV: skipped\n",
                   (long long)r->id, r->source, rp->cfg->sources[i].type);
            rp->skipped++;
            return SA_OK;
        }
    if (!text) {
        if (r->raw_file) {
            rc = read_ref_buf(r, &rp->ref, &rerr);
            if (rc) {
                /* Not replayed, so not resolved: the exit status says so. */
                printf("dead letter %lld: %s: left open\n", (long long)r->id, rerr.msg);
                rp->unread++;
                return SA_OK;
            }
            text = (const char *)rp->ref.data;
            len = rp->ref.len;
        } else {
            text = r->raw;
            len = r->raw_len;
        }
    }
    rs = replay_source(rp, r, err);
    if (!rs)
        return err->rc ? err->rc : SA_EINVAL;
    rc = row_to_record(rp, rs, text, len, &rerr);
    if (!rc)
        rc = add_record(rp, r->stream, &rerr);
    if (rc == SA_ERECORD) {
        printf("dead letter %lld (%s): still fails: %s\n", (long long)r->id,
               r->location, rerr.msg);
        rc = settle_add(rp, r->id, NULL, rerr.msg);
    } else if (rc) {
        *err = rerr;
        return rc;
    } else {
        snprintf(how, sizeof how, "replayed from %s",
                 rp->from ? rp->from : "its stored raw row");
        rc = settle_add(rp, r->id, how, NULL);
    }
    if (rc)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    if (rp->n_settles >= REPLAY_CHUNK || rp->chunk_bytes >= REPLAY_CHUNK_BYTES)
        return chunk_commit(rp, err);
    return SA_OK;
}

struct replay_all {
    struct replay *rp;
    struct sa_err *err;
};

static int replay_all_one(void *arg, const struct sa_deadletter_row *r)
{
    struct replay_all *ra = arg;
    if (r->resolved || !from_csv_source(r))
        return 0;
    return replay_one(ra->rp, r, NULL, 0, ra->err);
}

/* One row of a --from file: a dead letter id and its fixed raw row. */
struct fixed_row {
    int64_t id, line;
    char *raw; /* malloc'd */
    size_t len;
    int dup; /* the same id with the same row on an earlier line */
};

static int fixed_cmp(const void *a, const void *b)
{
    const struct fixed_row *x = *(const struct fixed_row *const *)a,
                           *y = *(const struct fixed_row *const *)b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* A dead letter id: digits only (no sign, no spaces), > 0. */
static int parse_id(const char *p, size_t len, int64_t *id)
{
    int64_t v = 0;

    if (len == 0 || len > 18)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *id = v;
    return v > 0 ? 0 : -1;
}

/* Read the rows of the --from file (only those of only_id when it is not
 * 0) into *rows. An id given twice with different rows is refused: which
 * one is the fix is the user's call; given twice alike, it counts once. */
static int read_fixed(struct replay *rp, int64_t only_id, struct fixed_row **rows_out,
                      size_t *n_out, struct sa_err *err)
{
    struct sa_csv_opts opts;
    struct sa_csv_parser parser;
    struct sa_csv_row row;
    struct sa_csv_error where;
    struct sa_buf data;
    struct fixed_row *rows = NULL, **by_id = NULL;
    size_t n = 0, cap = 0, pos = 0, used;
    FILE *fp = fopen(rp->from, "rb");
    long id_col = -1, raw_col = -1;
    int rc = SA_OK;

    *rows_out = NULL;
    *n_out = 0;
    sa_buf_init(&data, (size_t)1 << 30);
    if (!fp)
        return sa_err_set(err, SA_EIO, "cannot read %s: %s", rp->from, strerror(errno));
    for (;;) {
        size_t got;
        if ((rc = sa_buf_reserve(&data, 1 << 16)) != SA_OK)
            break;
        got = fread(data.data + data.len, 1, 1 << 16, fp);
        data.len += got;
        if (got == 0)
            break;
    }
    if (rc || ferror(fp)) {
        rc = sa_err_set(err, rc ? rc : SA_EIO, "cannot read %s: %s", rp->from,
                        rc ? sa_strerror(rc) : strerror(errno));
        fclose(fp);
        sa_buf_fini(&data);
        return rc;
    }
    fclose(fp);
    sa_csv_opts_default(&opts);
    opts.max_field = SA_RECORD_MAX_BYTES;
    opts.check_utf8 = 0;
    rc = sa_csv_init(&parser, &opts);
    if (rc) {
        sa_buf_fini(&data);
        return sa_err_set(err, rc, "out of memory");
    }
    if (data.len >= 3 && memcmp(data.data, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    while (!rc && pos < data.len) {
        int64_t id;
        int prc = sa_csv_next(&parser, (const char *)data.data + pos, data.len - pos, 1,
                              &row, &used, &where);
        if (prc == SA_EAGAIN)
            break;
        pos += used;
        if (prc == SA_EPARSE) {
            rc = sa_err_set(err, SA_EPARSE, "%s:%" PRId64 ":%" PRId64 ": %s", rp->from,
                            where.line, where.column, where.reason);
            break;
        }
        if (row.n_fields == 1 && row.fields[0].len == 0)
            continue;
        if (id_col < 0) {
            for (size_t i = 0; i < row.n_fields; i++) {
                if (row.fields[i].len == 2 && memcmp(row.fields[i].p, "id", 2) == 0)
                    id_col = (long)i;
                if (row.fields[i].len == 3 && memcmp(row.fields[i].p, "raw", 3) == 0)
                    raw_col = (long)i;
            }
            if (id_col < 0 || raw_col < 0) {
                rc = sa_err_set(err, SA_EPARSE,
                                "%s:1: the header needs the columns "
                                "id and raw (as `deadletter export` writes them)",
                                rp->from);
                break;
            }
            continue;
        }
        if ((size_t)id_col >= row.n_fields || (size_t)raw_col >= row.n_fields) {
            rc = sa_err_set(err, SA_EPARSE,
                            "%s:%" PRId64 ": the row has %zu fields, "
                            "the header names id and raw in columns %ld and %ld",
                            rp->from, row.line, row.n_fields, id_col + 1, raw_col + 1);
            break;
        }
        if (parse_id(row.fields[id_col].p, row.fields[id_col].len, &id) != 0) {
            rc = sa_err_set(
                err, SA_EPARSE, "%s:%" PRId64 ": '%.*s' is not a dead letter id",
                rp->from, row.line,
                (int)(row.fields[id_col].len > 40 ? 40 : row.fields[id_col].len),
                row.fields[id_col].p);
            break;
        }
        if (only_id && id != only_id)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct fixed_row *v = realloc(rows, ncap * sizeof *v);
            if (!v) {
                rc = sa_err_set(err, SA_ENOMEM, "out of memory");
                break;
            }
            rows = v;
            cap = ncap;
        }
        /* Copied: the parser's buffers are reused by the next row. */
        rows[n] = (struct fixed_row){
            .id = id, .line = row.line, .len = row.fields[raw_col].len};
        rows[n].raw = malloc(rows[n].len + 1);
        if (!rows[n].raw) {
            rc = sa_err_set(err, SA_ENOMEM, "out of memory");
            break;
        }
        memcpy(rows[n].raw, row.fields[raw_col].p, rows[n].len);
        n++;
    }
    sa_csv_fini(&parser);
    sa_buf_fini(&data);
    if (!rc && n) {
        by_id = malloc(n * sizeof *by_id);
        if (!by_id)
            rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < n; i++)
            by_id[i] = &rows[i];
        if (!rc)
            qsort(by_id, n, sizeof *by_id, fixed_cmp);
        for (size_t i = 1; !rc && i < n; i++) {
            struct fixed_row *prev = by_id[i - 1], *cur = by_id[i];
            if (cur->id != prev->id)
                continue;
            if (cur->len != prev->len || memcmp(cur->raw, prev->raw, cur->len) != 0) {
                rc = sa_err_set(err, SA_EPARSE,
                                "%s: dead letter %lld is given twice with different "
                                "rows (lines %" PRId64 " and %" PRId64
                                "): keep the one that is its fix",
                                rp->from, (long long)cur->id, prev->line, cur->line);
                break;
            }
            cur->dup = 1;
        }
        free(by_id);
    }
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(rows[i].raw);
        free(rows);
        return rc;
    }
    *rows_out = rows;
    *n_out = n;
    return SA_OK;
}

/* --from FILE: a CSV with (at least) the columns id and raw, as export
 * writes it. Every id in it (or only `only_id`) is replayed with its raw.
 * *n_dups: the ids given twice alike (replayed once). */
static int replay_from(struct replay *rp, int64_t only_id, size_t *n_dups,
                       struct sa_err *err)
{
    struct fixed_row *rows = NULL;
    size_t n = 0;
    int rc;

    *n_dups = 0;
    rc = read_fixed(rp, only_id, &rows, &n, err);
    if (rc)
        return rc;
    if (only_id && n == 0)
        rc = sa_err_set(err, SA_ENOTFOUND, "%s has no row for dead letter %lld",
                        rp->from, (long long)only_id);
    for (size_t i = 0; !rc && i < n; i++) {
        struct sa_deadletter_row *r = NULL;
        if (rows[i].dup) {
            (*n_dups)++;
            continue;
        }
        rc = sa_spool_deadletter_get(rp->spool, rows[i].id, &r, err);
        if (rc == SA_ENOTFOUND)
            sa_err_prefix(err, "%s:%" PRId64 ": ", rp->from, rows[i].line);
        if (!rc)
            rc = replay_one(rp, r, rows[i].raw, rows[i].len, err);
        sa_spool_deadletter_rows_free(r, r ? 1 : 0);
    }
    /* Only after the last commit: the dead letters given twice. */
    if (!rc)
        rc = chunk_commit(rp, err);
    if (!rc)
        for (size_t i = 0; i < n; i++)
            if (rows[i].dup)
                printf("dead letter %lld: given twice in %s with the same row: "
                       "replayed once\n",
                       (long long)rows[i].id, rp->from);
    for (size_t i = 0; i < n; i++)
        free(rows[i].raw);
    free(rows);
    return rc;
}

int sa_cmd_deadletter_replay(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"id", required_argument, NULL, 'i'},
        {"all", no_argument, NULL, 'a'},
        {"from", required_argument, NULL, 'f'},
        {"header", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *header = NULL;
    int64_t id = 0;
    size_t n_dups = 0;
    int all = 0, opt, rc;
    struct replay rp;
    struct sa_err err = {0};

    memset(&rp, 0, sizeof rp);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'i':
            if (sa_cli_parse_int("deadletter replay", "--id", optarg, 1, INT64_MAX,
                                 &id))
                return SA_EXIT_USAGE;
            break;
        case 'a':
            all = 1;
            break;
        case 'f':
            rp.from = optarg;
            break;
        case 'H':
            header = optarg;
            break;
        case 'h':
            usage(stdout);
            return SA_EXIT_OK;
        default:
            usage(stderr);
            return SA_EXIT_USAGE;
        }
    }
    if (!config_path || optind != argc || (id != 0) == all) {
        fprintf(stderr, "syncagent deadletter replay: give -c FILE and one of --id N "
                        "or --all\n");
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    sa_buf_init(&rp.key, KEY_MAX + 1);
    sa_buf_init(&rp.body, SA_RECORD_MAX_BYTES + 1);
    sa_buf_init(&rp.ref, SA_RECORD_MAX_BYTES + 1);
    if (header) {
        struct sa_csv_opts opts;
        sa_csv_opts_default(&opts);
        rc = split_row(header, strlen(header), &opts, &rp.header, &rp.n_header, &err);
        if (rc) {
            sa_err_prefix(&err, "--header: ");
            goto out;
        }
    }
    rc = sa_cli_load(config_path, &rp.cfg, &rp.schemas, &err);
    if (!rc)
        rc = sa_cli_open_spool_rw(rp.cfg, rp.schemas, &rp.spool, &err);
    if (rc)
        goto out;
    if (rp.from) {
        rc = replay_from(&rp, id, &n_dups, &err);
    } else if (id) {
        struct sa_deadletter_row *r = NULL;
        rc = sa_spool_deadletter_get(rp.spool, id, &r, &err);
        if (!rc && r->resolved) {
            rc = sa_err_set(&err, SA_EINVAL,
                            "dead letter %lld is resolved already "
                            "(%s): it is not replayed twice",
                            (long long)id, r->resolved_how ? r->resolved_how : "");
        } else if (!rc) {
            rc = replay_one(&rp, r, NULL, 0, &err);
        }
        sa_spool_deadletter_rows_free(r, r ? 1 : 0);
    } else {
        struct replay_all ra = {.rp = &rp, .err = &err};
        rc = walk(rp.spool, replay_all_one, &ra, &err);
    }
    if (!rc)
        rc = chunk_commit(&rp, &err);
    if (!rc) {
        printf("replayed %zu dead letters, %zu still fail (open), %zu skipped",
               rp.resolved, rp.failed, rp.skipped);
        if (rp.unread)
            printf(", %zu left open (their rows cannot be read)", rp.unread);
        printf("\n");
    }
out:
    chunk_clear(&rp);
    free(rp.segs);
    free(rp.settles);
    free(rp.texts);
    replay_sources_free(rp.sources);
    replay_quality_free(rp.quality);
    names_free(rp.header, rp.n_header);
    if (rp.rec_schema)
        sa_record_fini(&rp.rec);
    sa_buf_fini(&rp.key);
    sa_buf_fini(&rp.body);
    sa_buf_fini(&rp.ref);
    sa_spool_close(rp.spool);
    sa_schemas_free(rp.schemas);
    sa_config_free(rp.cfg);
    if (rc)
        return sa_cli_fail("deadletter replay", &err);
    /* Rows that remain in the dead letters, whatever the reason. */
    return rp.failed || rp.unread ? SA_EXIT_REJECTED : SA_EXIT_OK;
}

/* --- resolve by hand ------------------------------------------------------- */

/* `deadletter resolve --id N... --note TEXT`: dead letters that no fix can
 * bring back (a row of a file that is gone, a record nobody needs)
 * closed by hand, so that they no longer count as open. One commit: the
 * resolutions and an audit row with who, the ids and the note. A
 * resolved dead letter is never replayed. */
int sa_cmd_deadletter_resolve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"id", required_argument, NULL, 'i'},
        {"note", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *note = NULL;
    int64_t *ids = NULL;
    size_t n_ids = 0;
    struct sa_deadletter_settle *settles = NULL;
    struct sa_config *cfg = NULL;
    struct sa_schema_set *schemas = NULL;
    struct sa_spool *spool = NULL;
    struct passwd *pw = getpwuid(getuid());
    json_t *detail = NULL, *id_list = NULL;
    char *detail_text = NULL, *how = NULL;
    struct sa_err err = {0};
    int opt, rc = SA_OK, status = SA_EXIT_OK;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'i': {
            int64_t id;
            int64_t *v;
            if (sa_cli_parse_int("deadletter resolve", "--id", optarg, 1, INT64_MAX,
                                 &id)) {
                status = SA_EXIT_USAGE;
                goto out;
            }
            v = realloc(ids, (n_ids + 1) * sizeof *v);
            if (!v) {
                rc = sa_err_set(&err, SA_ENOMEM, "out of memory");
                goto out;
            }
            ids = v;
            ids[n_ids++] = id;
            break;
        }
        case 'n':
            note = optarg;
            break;
        case 'h':
            usage(stdout);
            goto out;
        default:
            usage(stderr);
            status = SA_EXIT_USAGE;
            goto out;
        }
    }
    if (!config_path || optind != argc || n_ids == 0 || !note || !*note) {
        fprintf(stderr, "syncagent deadletter resolve: give -c FILE, one or more "
                        "--id N and --note TEXT (why they are closed)\n");
        status = SA_EXIT_USAGE;
        goto out;
    }
    for (size_t i = 0; i < n_ids; i++)
        for (size_t j = 0; j < i; j++)
            if (ids[i] == ids[j]) {
                fprintf(stderr,
                        "syncagent deadletter resolve: --id %lld is given "
                        "twice\n",
                        (long long)ids[i]);
                status = SA_EXIT_USAGE;
                goto out;
            }
    rc = sa_cli_load(config_path, &cfg, &schemas, &err);
    if (!rc)
        rc = sa_cli_open_spool_rw(cfg, schemas, &spool, &err);
    if (rc)
        goto out;
    /* Each must exist and be open: the commit would refuse one that is
     * not, but without saying which. */
    for (size_t i = 0; i < n_ids && !rc; i++) {
        struct sa_deadletter_row *r = NULL;
        rc = sa_spool_deadletter_get(spool, ids[i], &r, &err);
        if (!rc && r->resolved)
            rc =
                sa_err_set(&err, SA_EINVAL, "dead letter %lld is resolved already (%s)",
                           (long long)ids[i], r->resolved_how ? r->resolved_how : "");
        sa_spool_deadletter_rows_free(r, r ? 1 : 0);
    }
    if (rc)
        goto out;
    how = malloc(strlen(note) + 32);
    settles = calloc(n_ids, sizeof *settles);
    id_list = json_array();
    if (!how || !settles || !id_list) {
        rc = sa_err_set(&err, SA_ENOMEM, "out of memory");
        goto out;
    }
    sprintf(how, "closed by hand: %s", note);
    for (size_t i = 0; i < n_ids; i++) {
        settles[i] = (struct sa_deadletter_settle){.id = ids[i], .how = how};
        json_array_append_new(id_list, json_integer(ids[i]));
    }
    detail =
        json_pack("{s:s, s:I, s:O, s:s}", "user", pw && pw->pw_name ? pw->pw_name : "?",
                  "uid", (json_int_t)getuid(), "ids", id_list, "note", note);
    detail_text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    if (!detail_text) {
        rc = sa_err_set(&err, SA_ENOMEM, "out of memory");
        goto out;
    }
    {
        struct sa_commit c = {.settles = settles,
                              .n_settles = n_ids,
                              .audit_kind = "deadletter_resolve",
                              .audit_detail = detail_text};
        rc = sa_spool_commit(spool, &c, NULL, &err);
    }
    if (!rc)
        for (size_t i = 0; i < n_ids; i++)
            printf("dead letter %lld: resolved (%s)\n", (long long)ids[i], how);
out:
    free(detail_text);
    json_decref(detail);
    json_decref(id_list);
    free(how);
    free(settles);
    free(ids);
    sa_spool_close(spool);
    sa_schemas_free(schemas);
    sa_config_free(cfg);
    if (rc)
        return sa_cli_fail("deadletter resolve", &err);
    return status;
}
