/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CSV source's reading: rows of an open file -> records in the batch.
 * The window over the file and its refills (sa_csv_window_fill), parsing
 * rows, converting their fields to the schema (add_row), rejecting bad
 * rows to the dead letters with file:line:column, following a row longer
 * than the window to its end (skip_*), noticing rotation and truncation
 * while tailing, and the counts kept per batch until it commits.
 *
 * It is its own file because it is a concept of its own: what happens to
 * the bytes of a file once it is open, apart from finding, identifying,
 * opening and closing files (source_csv.c, which also holds the design:
 * positions, the window, rotation). The state both use is in
 * source_csv_private.h.
 */
#include "agent/source/source_csv_private.h"

#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "agent/tz.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Read more into the window. 1: got bytes, 0: nothing now, -1: failed. */
int sa_csv_window_fill(struct csv_ctx *ctx, struct csv_file *f)
{
    size_t chunk = (size_t)ctx->conf->read_buffer;
    int got;

    if (f->win_pos > 0 && (f->win_pos == f->win.len || f->win_pos >= f->win.len / 2 ||
                           f->win.len + chunk > f->win.max)) {
        memmove(f->win.data, f->win.data + f->win_pos, f->win.len - f->win_pos);
        f->win.len -= f->win_pos;
        f->win_offset += (int64_t)f->win_pos;
        f->win_pos = 0;
    }
    if (f->win.len + chunk > f->win.max)
        chunk = f->win.max - f->win.len;
    if (chunk == 0)
        return -2; /* a row longer than the window */
    if (sa_buf_reserve(&f->win, chunk) != SA_OK)
        return -1;
    if (f->gz) {
        int zerr = Z_OK;
        const char *zmsg;
        got = gzread(f->gz, f->win.data + f->win.len, (unsigned)chunk);
        zmsg = got <= 0 ? gzerror(f->gz, &zerr) : NULL;
        /* zlib names a gzdopen'ed file "<fd:N>: ", which says nothing here
         * (the path comes first in the message). */
        if (zmsg && strncmp(zmsg, "<fd:", 4) == 0 && strstr(zmsg, ">: "))
            zmsg = strstr(zmsg, ">: ") + 3;
        /* A gzip stream cut short reads as its end with Z_BUF_ERROR: the
         * last row may be cut too, so nothing after the last whole row is
         * taken and the file is set aside. */
        if (got < 0 || zerr == Z_BUF_ERROR || (zerr != Z_OK && zerr != Z_STREAM_END)) {
            free(f->read_error);
            f->read_error = strdup(zerr == Z_BUF_ERROR
                                       ? "truncated gzip stream (unexpected end of file)"
                                   : zerr == Z_ERRNO ? strerror(errno)
                                                     : zmsg ? zmsg : "gzip read error");
            return -1;
        }
        if (got == 0)
            gzclearerr(f->gz);
    } else {
        ssize_t n;
        do
            n = read(f->fd, f->win.data + f->win.len, chunk);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            return -1;
        got = (int)n;
    }
    if (got == 0) {
        f->eof = 1;
        return 0;
    }
    f->eof = 0;
    f->win.len += (size_t)got;
    if (f->win_offset == 0 && f->win_pos == 0 && f->win.len == (size_t)got) {
        /* A UTF-8 byte order mark at the start of the file is not data. */
        if (f->win.len >= 3 && memcmp(f->win.data, "\xEF\xBB\xBF", 3) == 0)
            f->win_pos = 3;
        /* Lines ended by CR alone (classic Mac OS): no LF in the first
         * read, and more than one CR. */
        if (!memchr(f->win.data, '\n', f->win.len)) {
            const uint8_t *cr = memchr(f->win.data, '\r', f->win.len);
            f->cr_only =
                cr && memchr(cr + 1, '\r', f->win.len - (size_t)(cr + 1 - f->win.data));
        }
    }
    return 1;
}

/* Why the last window_fill failed. */
static const char *read_error_text(const struct csv_file *f)
{
    if (f->read_error)
        return f->read_error;
    return errno ? strerror(errno) : "read error";
}

static int64_t column_of(const char *row_start, const char *p)
{
    const char *q = p;
    while (q > row_start && q[-1] != '\n')
        q--;
    return (int64_t)(p - q) + 1;
}

/* One more bad row of f: past max_errors, the file is set aside. */
static void count_reject(struct sa_source *src, struct csv_file *f)
{
    struct csv_ctx *ctx = src->ctx;

    f->rejected++;
    if (ctx->conf->max_errors >= 0 && f->rejected > (uint64_t)ctx->conf->max_errors)
        sa_csv_file_fail(ctx, src, f,
                         "%s: more than %" PRId64 " bad rows; the file is set "
                         "aside (the rows before are kept)",
                         f->path, ctx->conf->max_errors);
}

/* The dead letter just added for a row of f: it carries f's header and
 * identity (for replay and export), and counts toward max_errors. */
static int rejected(struct sa_source *src, struct sa_batch *batch, struct csv_file *f,
                    struct sa_err *err)
{
    int rc = sa_batch_deadletter_set_header(batch, src, f->header_line, f->header_len,
                                            f->key, err);
    if (rc)
        return rc;
    count_reject(src, f);
    return SA_OK;
}

static int reject_row(struct sa_source *src, struct sa_batch *batch, struct csv_file *f,
                      int64_t line, int64_t column, const char *reason,
                      const void *raw, size_t raw_len, struct sa_err *err)
{
    char location[600];
    int rc;

    snprintf(location, sizeof location, "%s:%" PRId64 ":%" PRId64, f->path, line, column);
    rc = sa_batch_deadletter(batch, src, location, reason, raw, raw_len, err);
    return rc ? rc : rejected(src, batch, f, err);
}

/*
 * PostgreSQL's COPY CSV rule for what is null: an unquoted empty field
 * (sa_record_set_text: null, the default, or the empty string) or one
 * spelled as null_string is null; a quoted "" is the empty string where a
 * string goes. A null_string where no null may go takes the field's
 * default, if any. SA_EAGAIN: none of these, the text is a value.
 */
static int set_null_or_empty(struct sa_source *src, int field, const struct sa_csv_field *cf,
                             int quoted, struct sa_err *err)
{
    struct csv_ctx *ctx = src->ctx;
    const struct sa_schema_field *sf = &src->schema->fields[field];
    const char *ns = ctx->conf->null_string;

    if (quoted)
        return cf->len == 0 && sf->kind == AVRO_STRING
                   ? sa_record_set_string(&ctx->rec, field, "", 0, err)
                   : SA_EAGAIN;
    if (!ns || cf->len != ctx->null_string_len || memcmp(cf->p, ns, cf->len) != 0)
        return SA_EAGAIN;
    if (!sf->nullable && sf->default_json)
        return SA_OK; /* left unset: the encoder applies the default */
    return sa_record_set_null(&ctx->rec, field, err);
}

int sa_csv_parse_op(const char *p, size_t len)
{
    static const char *const upserts[] = {"", "u", "upsert", "i", "insert", "update"};
    static const char *const deletes[] = {"d", "delete"};

    while (len && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
        len--;
    for (size_t i = 0; i < sizeof upserts / sizeof *upserts; i++)
        if (strlen(upserts[i]) == len && strncasecmp(p, upserts[i], len) == 0)
            return SA_OP_UPSERT;
    for (size_t i = 0; i < sizeof deletes / sizeof *deletes; i++)
        if (strlen(deletes[i]) == len && strncasecmp(p, deletes[i], len) == 0)
            return SA_OP_DELETE;
    return -1;
}

/* Turn one row into a record and add it; a row that does not fit the
 * schema is dead-lettered. */
static int add_row(struct sa_source *src, struct sa_batch *batch, struct csv_file *f,
                   const struct sa_csv_row *row, const char *raw, size_t raw_len,
                   struct sa_err *err)
{
    struct csv_ctx *ctx = src->ctx;
    struct sa_record *rec = &ctx->rec;
    struct sa_err rerr;
    char reason[SA_ERR_MSG_MAX + 64];
    enum sa_op op = SA_OP_UPSERT;
    int rc;

    sa_err_clear(&rerr); /* not = {0}: that zeroes 260 bytes per row */
    sa_record_reset(rec);
    if (row->n_fields != f->n_cols) {
        int missing = -1; /* the first missing column that cannot be left out */
        for (size_t i = row->n_fields; i < f->n_cols && ctx->conf->short_rows; i++) {
            int field = f->col_map[i];
            const struct sa_schema_field *sf;
            if (field < 0)
                continue;
            sf = &src->schema->fields[field];
            if (sf->nullable)
                rc = sa_record_set_null(rec, field, &rerr);
            else if (sf->default_json)
                rc = SA_OK; /* left unset: the encoder applies the default */
            else
                rc = SA_ERECORD;
            if (rc) {
                missing = (int)i;
                break;
            }
        }
        if (row->n_fields > f->n_cols || !ctx->conf->short_rows) {
            snprintf(reason, sizeof reason, "row has %zu fields, the header has %zu",
                     row->n_fields, f->n_cols);
            return reject_row(src, batch, f, row->line, 1, reason, raw, raw_len, err);
        }
        if (missing >= 0) {
            snprintf(reason, sizeof reason,
                     "row has %zu fields, the header has %zu: "
                     "column %d (field '%s') is missing and has no null and no default",
                     row->n_fields, f->n_cols, missing + 1,
                     src->schema->fields[f->col_map[missing]].name);
            return reject_row(src, batch, f, row->line, 1, reason, raw, raw_len, err);
        }
    }
    /* Rows with no quoted field and sources without null_string (most of
     * them) take the text as it is: one test per row, and one call of
     * sa_record_set_text, which is inlined only while it has one caller. */
    const int plain = !row->quoted && !ctx->conf->null_string;
    for (size_t i = 0; i < row->n_fields; i++) {
        const struct sa_csv_field *cf = &row->fields[i];
        int field = f->col_map[i];
        if (field < 0)
            continue;
        rc = SA_EAGAIN;
        if (!plain && cf->len <= ctx->null_string_len)
            rc = set_null_or_empty(src, field, cf, row->quoted && row->quoted[i], &rerr);
        if (rc == SA_EAGAIN)
            rc = sa_record_set_text(rec, field, cf->p, cf->len, &rerr);
        if (rc != SA_OK) {
            const char *p = row->fields[i].p;
            int64_t col = p >= raw && p < raw + raw_len ? column_of(raw, p) : 1;
            snprintf(reason, sizeof reason, "column %zu: %s", i + 1, rerr.msg);
            return reject_row(src, batch, f, row->line, col, reason, raw, raw_len, err);
        }
    }
    if (f->op_col >= 0) {
        const struct sa_csv_field *cf =
            (size_t)f->op_col < row->n_fields ? &row->fields[f->op_col] : NULL;
        int key_empty = f->key_col < 0 || (size_t)f->key_col >= row->n_fields ||
                        row->fields[f->key_col].len == 0;
        op = cf ? sa_csv_parse_op(cf->p, cf->len) : SA_OP_UPSERT;
        if ((int)op < 0) {
            snprintf(reason, sizeof reason,
                     "column %d (op_column '%s'): '%.*s' is neither a delete (delete, d) "
                     "nor an upsert (upsert, u, insert, i, update, empty)",
                     f->op_col + 1, ctx->conf->op_column,
                     (int)(cf->len > 64 ? 64 : cf->len), cf->p);
            return reject_row(src, batch, f, row->line,
                              cf->p >= raw && cf->p < raw + raw_len ? column_of(raw, cf->p)
                                                                    : 1,
                              reason, raw, raw_len, err);
        }
        if (op == SA_OP_DELETE && key_empty) {
            snprintf(reason, sizeof reason,
                     "a delete (op_column '%s') without a key: %s", ctx->conf->op_column,
                     src->schema->key_field < 0 ? "the schema names no x-key field"
                                                : "its key column is empty or missing");
            return reject_row(src, batch, f, row->line, 1, reason, raw, raw_len, err);
        }
    }
    /* No event-time field: the time it was read. */
    rc = sa_batch_add_record(batch, src, rec, SA_EVENT_NOW, op, &rerr);
    if (rc == SA_ERECORD)
        return reject_row(src, batch, f, row->line, 1, rerr.msg, raw, raw_len, err);
    if (rc) {
        *err = rerr;
        return rc;
    }
    f->accepted++;
    return SA_OK;
}

/*
 * At the end of a followed file: has it been truncated or rewritten in
 * place (copytruncate: smaller than our position, or its first bytes no
 * longer match the fingerprint), or renamed away (the path names another
 * file now)? A truncated file is read again from its start under a new
 * identity. A renamed one is read to its end once more -- the writer may
 * have appended between our last read and the rename -- and then left.
 */
/*
 * Where a file rotated away by rename went, when it stayed in its
 * directory (app.csv -> app.csv.1): found by its inode. Its dead letters
 * and what is logged from now on name it there, as after an on_done move,
 * since the old path holds another file now (a row kept by reference
 * would point into that one).
 */
static void follow_rename(struct sa_source *src, struct csv_file *f)
{
    char *copy = strdup(f->path), *dir, *target = NULL;
    struct dirent *de;
    DIR *d;

    if (!copy)
        return;
    dir = dirname(copy);
    d = opendir(dir);
    while (d && !target && (de = readdir(d))) {
        char full[4096];
        struct stat st;
        if (snprintf(full, sizeof full, "%s/%s", dir, de->d_name) >= (int)sizeof full)
            continue;
        if (lstat(full, &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == f->dev &&
            st.st_ino == f->ino)
            target = strdup(full);
    }
    if (d)
        closedir(d);
    free(copy);
    if (!target)
        return;
    sa_log_info("csv file rotated away by rename", "source", src->conf->name, "file",
                f->path, "to", target);
    sa_csv_note_move(src->ctx, f, target);
    free(f->path);
    f->path = target;
}

static void check_rotation(struct sa_source *src, struct csv_file *f)
{
    struct csv_ctx *ctx = src->ctx;
    struct stat cur, mine;
    int64_t pos = f->win_offset + (int64_t)f->win_pos;
    int truncated;
    uint64_t hash;

    if (f->gz || fstat(f->fd, &mine) != 0)
        return;
    truncated = mine.st_size < pos;
    if (!truncated && f->fp_len > 0 && pos >= (int64_t)f->fp_len)
        truncated = sa_file_key_hash(f->fd, f->fp_len, &hash) != 0 || hash != f->fp_hash;
    if (truncated) {
        sa_logf(SA_LOG_INFO, "csv file truncated, reading it again from the start",
                "source=%s size=%lld offset=%" PRId64 " key=%s", src->conf->name,
                (long long)mine.st_size, pos, f->key);
        if (sa_csv_file_seek(f, 0, 1) == 0) {
            f->skipping = 0;
            f->header_pending = ctx->conf->header;
            f->committed = -1; /* the new identity's position must be stored */
            f->rotated = 0;
            sa_csv_make_key(f, mine.st_size);
        }
        return;
    }
    if (f->rotated) {
        /* Its end is final now: what is left is read as at the end of a
         * file read once (a last line without its newline, a quote that
         * never closed), never dropped. */
        f->ended = 1;
        sa_log_info("csv file rotated away and read to its end", "source",
                    src->conf->name, "file", f->path);
        return;
    }
    if (stat(f->path, &cur) != 0 || cur.st_ino != f->ino || cur.st_dev != f->dev) {
        f->rotated = 1;
        follow_rename(src, f);
    }
}

/*
 * Is a watched file finished being written? A file dropped into a watched
 * directory may still grow: its end counts (and a last line without a
 * newline is taken) only once it has not changed for poll_interval.
 * Files named on the command line (`import`, watch: false) are complete.
 * A followed file (tail) is asked only about a quote that holds the rows
 * after it (open_quote_too_long): it is finished when rotated away.
 */
static int quiet(struct csv_ctx *ctx, struct csv_file *f)
{
    struct stat st;
    struct timespec now;

    if ((!ctx->conf->watch && !ctx->conf->tail) || f->gz || fstat(f->fd, &st) != 0)
        return 1;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)(now.tv_sec - st.st_mtim.tv_sec) * 1000 +
               (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000 >=
           ctx->conf->poll_interval_ms;
}

/* Whether f, at the end of what it holds, will hold no more: a file read
 * once that stopped changing, or a followed one rotated away and read to
 * its end. Only then is a row without its newline complete, and a quote
 * that never closed a stray one. */
static int finished(struct csv_ctx *ctx, struct csv_file *f)
{
    return f->ended || (!ctx->conf->tail && quiet(ctx, f));
}

/*
 * A followed file is finished only when it is rotated away, so a quote
 * that opens a field and never closes would hold every row after it until
 * then. Once that field is longer than max_field it is no field of any row
 * (issue 11: it is not a field), and once the file has not changed for
 * poll_interval it is decided as at the end of the file: its line is a
 * stray one and the rows after it are read. s scanned the row up to file
 * offset end.
 */
static int open_quote_too_long(struct csv_ctx *ctx, struct csv_file *f,
                               const struct sa_csv_skip *s, int64_t end)
{
    int64_t at = sa_csv_skip_open_quote(s);

    return at >= 0 && end - at > (int64_t)f->parser.opts.max_field && quiet(ctx, f);
}

/* The same for a row inside the window: the avail bytes at start that
 * hold no complete row. */
static int stray_in_window(struct csv_ctx *ctx, struct csv_file *f, const char *start,
                           size_t avail)
{
    struct sa_csv_skip s;
    struct sa_csv_skipped out;

    if (avail <= f->parser.opts.max_field)
        return 0;
    sa_csv_skip_begin(&s, 0, f->parser.line);
    if (sa_csv_skip_feed(&f->parser, &s, start, avail, 0, &out) != SA_EAGAIN)
        return 0;
    return open_quote_too_long(ctx, f, &s, (int64_t)avail);
}

/* A row whose bytes are not kept: the `length` bytes at `offset` of the
 * file (I4: where to read it back, never a cut-off copy; for a .gz file,
 * offsets after decompression). */
static int reject_ref(struct sa_source *src, struct sa_batch *batch, struct csv_file *f,
                      int64_t line, int64_t column, const char *why, int64_t offset,
                      int64_t length, struct sa_err *err)
{
    char location[600], reason[512];
    int rc;

    snprintf(location, sizeof location, "%s:%" PRId64 ":%" PRId64, f->path, line, column);
    snprintf(reason, sizeof reason, "%s; kept by reference: the %" PRId64
             " bytes at offset %" PRId64 " of the file%s", why, length, offset,
             f->is_gz ? " (after decompression)" : "");
    rc = sa_batch_deadletter_ref(batch, src, location, reason, f->path, offset, length,
                                 err);
    if (rc == SA_OK)
        f->rejected_by_ref++;
    return rc ? rc : rejected(src, batch, f, err);
}

/*
 * The row at the window's start does not fit in the window: follow it
 * with the parser's skip scanner (csv.h), reading on through the window
 * without keeping what was scanned. The position handed to the batch
 * stays at the row's start until it is decided (a kill -9 starts over).
 */
static void skip_begin(struct csv_file *f)
{
    sa_csv_skip_begin(&f->skip, f->win_offset + (int64_t)f->win_pos, f->parser.line);
    f->skipping = 1;
}

/* The skipped row is decided: dead-letter it and go on after it. */
static int skip_done(struct sa_source *src, struct sa_batch *batch, struct csv_file *f,
                     const struct sa_csv_skipped *out, struct sa_err *err)
{
    struct csv_ctx *ctx = src->ctx;
    const int64_t start = f->skip.start, length = out->end - start, line = f->skip.line;
    char why[256];

    f->skipping = 0;
    if (f->header_pending) {
        sa_csv_file_fail(ctx, src, f, "%s:%" PRId64 ": the header %s", f->path, line,
                         out->stray ? out->where.reason
                                    : "does not fit in the read window");
        return SA_OK;
    }
    if (!out->stray) {
        /* It ended in the bytes just read: go on right after it. */
        f->win_pos = (size_t)(out->end - f->win_offset);
        f->parser.line = line + out->lines;
        snprintf(why, sizeof why,
                 "row longer than %zu bytes (read_buffer + 4 x "
                 "max_field + 64 KiB)",
                 (size_t)f->win.max);
        return reject_ref(src, batch, f, line, 1, why, start, length, err);
    }
    /* A stray quote: the row is the quote's line, behind the read
     * position. Read it again when it fits, then go on after it. */
    if ((uint64_t)length <= f->win.max) {
        if (sa_csv_file_seek(f, start, line) != 0)
            goto seek_failed;
        while (f->win.len < (size_t)length) {
            int got = sa_csv_window_fill(ctx, f);
            if (got <= 0) {
                sa_csv_file_fail(
                    ctx, src, f, "cannot read %s again at offset %" PRId64 ": %s",
                    f->path, start, got < 0 ? strerror(errno) : "it got shorter");
                return SA_OK;
            }
        }
        f->win_pos = (size_t)length;
        f->parser.line = line + out->lines;
        return reject_row(src, batch, f, out->where.line, out->where.column,
                          out->where.reason, f->win.data, (size_t)length, err);
    }
    if (sa_csv_file_seek(f, out->end, line + out->lines) != 0)
        goto seek_failed;
    return reject_ref(src, batch, f, out->where.line, out->where.column,
                      out->where.reason, start, length, err);
seek_failed:
    sa_csv_file_fail(ctx, src, f,
                     "cannot seek %s back to offset %" PRId64 " after a stray quote",
                     f->path, start);
    return SA_OK;
}

/* One step of following a long row: scan what the window holds, or read
 * more. SA_OK: go on; SA_EAGAIN: nothing more to read now; else an error. */
static int skip_step(struct sa_source *src, struct sa_batch *batch, struct csv_file *f,
                     struct sa_err *err)
{
    struct csv_ctx *ctx = src->ctx;
    struct sa_csv_skipped out;
    size_t avail = f->win.len - f->win_pos;
    int got;

    if (avail > 0) {
        int rc =
            sa_csv_skip_feed(&f->parser, &f->skip,
                             (const char *)f->win.data + f->win_pos, avail, 0, &out);
        if (rc == SA_OK)
            return skip_done(src, batch, f, &out, err);
        f->win_pos = f->win.len; /* scanned: the next fill drops it */
        return SA_OK;
    }
    got = sa_csv_window_fill(ctx, f);
    if (got > 0)
        return SA_OK;
    if (got < 0) {
        sa_csv_file_fail(ctx, src, f, "cannot read %s: %s", f->path,
                         read_error_text(f));
        return SA_OK;
    }
    /* A followed file's end is final once it is rotated away (found at
     * one end of file, decided at the next: the writer may have appended
     * before the rename). */
    if (ctx->conf->tail && !f->ended) {
        check_rotation(src, f);
        if (!f->skipping)
            return SA_OK; /* truncated: read again from its start */
    }
    if (!finished(ctx, f) &&
        !(ctx->conf->tail && open_quote_too_long(ctx, f, &f->skip, f->skip.pos)))
        return SA_EAGAIN;
    sa_csv_skip_feed(&f->parser, &f->skip, "", 0, 1, &out);
    return skip_done(src, batch, f, &out, err);
}

/* The counts that go with the position just handed to batch generation
 * gen (see csv_file.pending). */
static void note_counts(struct csv_file *f, uint64_t gen)
{
    size_t at = f->n_pending;

    if (at > 0 && f->pending[at - 1].gen == gen) {
        at--; /* the same batch */
    } else if (at == f->cap_pending) {
        size_t cap = f->cap_pending ? 2 * f->cap_pending : 8;
        struct pending_counts *v = realloc(f->pending, cap * sizeof *v);
        if (!v) {
            if (at == 0)
                return; /* no memory: reported as of the last commit */
            at--;       /* no memory: the newest counts stand for the last batch too */
        } else {
            f->pending = v;
            f->cap_pending = cap;
            f->n_pending++;
        }
    } else {
        f->n_pending++;
    }
    f->pending[at].gen = gen;
    f->pending[at].accepted = f->accepted;
    f->pending[at].rejected = f->rejected;
}

/* Read rows of f into the batch, up to room. */
int sa_csv_read_file(struct sa_source *src, struct sa_batch *batch, struct csv_file *f,
                     size_t room, int *added, struct sa_err *err)
{
    struct csv_ctx *ctx = src->ctx;
    int tail = ctx->conf->tail;
    int rc = SA_OK;

    while (!f->done && (size_t)*added < room && sa_batch_room(batch) > 0) {
        struct sa_csv_row row;
        struct sa_csv_error where;
        size_t used;
        /* No buffer before the first read: NULL + 0 is undefined too. */
        const char *start = f->win.data ? (const char *)f->win.data + f->win_pos : "";
        size_t avail = f->win.len - f->win_pos;
        int prc;

        if (f->cr_only) {
            sa_csv_file_fail(
                ctx, src, f,
                "%s: lines end with CR alone (classic Mac OS), which "
                "this reader does not take; convert them first, e.g. tr '\\r' "
                "'\\n'",
                f->path);
            break;
        }
        if (f->skipping) {
            rc = skip_step(src, batch, f, err);
            if (rc == SA_EAGAIN)
                break;
            if (rc)
                return rc;
            continue;
        }
        /* Parsed as if more may come; only a row cut off by the end of the
         * window asks whether this is really the end (quiet() costs an
         * fstat, too much for every row). */
        prc = sa_csv_next(&f->parser, start, avail, 0, &row, &used, &where);
        if (prc == SA_EAGAIN && f->eof &&
            (finished(ctx, f) || (tail && stray_in_window(ctx, f, start, avail))))
            prc = sa_csv_next(&f->parser, start, avail, 1, &row, &used, &where);

        if (prc == SA_EAGAIN) {
            int got;
            if (f->eof && avail == 0 && finished(ctx, f)) {
                f->done = 1;
                break;
            }
            /* A followed file that was at its end: before reading on, make
             * sure it is still the same file, so that bytes written after a
             * truncation are never read at the old position. */
            if (tail && f->eof && !f->ended) {
                check_rotation(src, f);
                if (f->ended)
                    continue; /* the rest is decided as at a file's end */
            }
            got = sa_csv_window_fill(ctx, f);
            if (got == -2) {
                skip_begin(f); /* a row longer than the window */
                continue;
            }
            if (got < 0) {
                sa_csv_file_fail(ctx, src, f, "cannot read %s: %s", f->path,
                                 read_error_text(f));
                break;
            }
            if (got == 0 && (tail || avail == 0 || !quiet(ctx, f)))
                break; /* wait for more, or done above on the next pass */
            continue;
        }
        f->win_pos += used;
        if (prc == SA_EPARSE && f->header_pending) {
            sa_csv_file_fail(ctx, src, f, "%s:%" PRId64 ":%" PRId64 ": bad header: %s",
                             f->path, where.line, where.column, where.reason);
            break;
        }
        if (prc == SA_EPARSE) {
            rc = reject_row(src, batch, f, where.line, where.column, where.reason, start,
                            used, err);
            if (rc)
                return rc;
            continue;
        }
        if (sa_csv_blank_row(&row))
            continue;
        if (f->header_pending) {
            f->header_pending = 0;
            if (sa_csv_keep_header_line(f, start, used) ||
                (!ctx->conf->columns.n && sa_csv_map_columns(src, f, &row) != 0))
                break;
            continue;
        }
        if (!f->col_map) {
            sa_csv_file_fail(ctx, src, f, "%s: no header and no columns configured",
                             f->path);
            break;
        }
        uint64_t before = f->accepted;
        rc = add_row(src, batch, f, &row, start, used, err);
        if (rc)
            return rc;
        *added += (int)(f->accepted - before);
    }

    /* Hand the position after the last consumed row to the batch (while
     * a long row is followed, its start). */
    int64_t pos = f->skipping ? f->skip.start : f->win_offset + (int64_t)f->win_pos;
    if (pos != f->committed || (f->done && !f->done_reported)) {
        /* A file set aside is not stored as done: the next start tries it
         * again from here (a read error may pass, a fixed config may map
         * its columns). */
        rc = sa_batch_offset(batch, src, f->key, pos, f->parser.line,
                             f->done && !f->failed, err);
        if (rc)
            return rc;
        f->committed = pos;
        note_counts(f, sa_batch_generation(batch));
        if (!f->first_gen)
            f->first_gen = sa_batch_generation(batch);
        if (f->done && !f->failed &&
            sa_csv_remember_done(ctx, f->key, pos, f->parser.line) != 0)
            return sa_err_set(err, SA_ENOMEM, "out of memory");
        if (f->done && !f->done_reported) {
            f->done_reported = 1;
            f->on_done_pending = !f->failed;
            f->on_done_gen = sa_batch_generation(batch);
            char accepted[24], rejected[24];
            snprintf(accepted, sizeof accepted, "%" PRIu64, f->accepted);
            snprintf(rejected, sizeof rejected, "%" PRIu64, f->rejected);
            /* Rejected rows never reach a sink: say where they are. */
            sa_log(f->rejected ? SA_LOG_WARN : SA_LOG_INFO, "csv file finished",
                   "source", src->conf->name, "file", f->path, "accepted", accepted,
                   "rejected", rejected, "dead_letters",
                   f->rejected ? "syncagent deadletter list" : (const char *)0,
                   (const char *)0);
            /* Only its identity is kept from now on (I5: a watched
             * directory of many files must not keep a window each). */
            sa_csv_file_close_handles(f);
            sa_buf_fini(&f->win);
            sa_csv_fini(&f->parser);
            f->win_pos = 0;
            free(f->col_map);
            f->col_map = NULL;
        }
    }
    return SA_OK;
}
