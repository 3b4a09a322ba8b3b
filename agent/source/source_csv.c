/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CSV source: files and globs, read once (`import`, `watch`) or
 * followed as they grow (`tail`), plain or .gz.
 *
 * Position and identity. A file is known by device, inode and a
 * fingerprint of its first bytes ("dev:ino:len:hash"), as Fluent Bit and
 * Filebeat do, so that a rename does not re-read it and a new file that
 * reuses an inode is not mistaken for the old one. After the rows it read
 * in a poll, the source reports the byte offset after the last complete
 * row and the next line number; the pipeline commits that position in the
 * same transaction as the rows (invariant I1), so a restart resumes
 * exactly there. A row is complete only with its newline, so the
 * half-written last line of a growing file waits.
 *
 * Bad rows (parse errors, wrong field count, values that do not fit the
 * schema) go to the dead letters with file:line:column and the reason;
 * after max_errors of them the file is set aside. A file that cannot be
 * read at all is reported and the others go on. A bad header sets the
 * file aside with the header's own error.
 *
 * The window. Rows are parsed in a window of the file (read_buffer +
 * 4 x max_field + 64 KiB at most); a dead letter keeps its row whole when
 * it fits. A row that does not fit is followed to its end without
 * keeping its bytes (sa_csv_skip_*: the parser's grammar, so the end is
 * never a newline inside quotes) and dead-lettered as "the bytes at offset
 * X, length Y of the file". A stray quote found that way resumes parsing
 * at the line after it (csv.h), which may be behind the read position: the
 * file is read again from there.
 *
 * Rotation while tailing: a renamed file is read to its end and left
 * (the file now at the path is a new one, found by the next scan); a file
 * that shrank below the position was truncated in place (copytruncate)
 * and is read again from its start.
 *
 * on_done (keep | delete | move:<dir>) is applied to a finished file only
 * after the commit that holds its last row (the `committed` hook).
 *
 * This file finds, identifies, opens and closes the files and holds the
 * source operations; reading a file's rows into records (the window,
 * rejects, skipping, rotation checks) is in csv_read.c, and what the two
 * share in source_csv_private.h.
 */
#include "agent/source/source_csv.h"
#include "agent/source/source_csv_private.h"

#include "agent/base/clock.h"
#include "agent/base/fsutil.h"
#include "agent/base/log.h"
#include "agent/base/text.h"
#include "agent/record.h"
#include "agent/source/csv.h"
#include "agent/source/file_key.h"
#include "agent/tz.h"
#include "store/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>


static const char *const delimiter_symbols[] = {"comma", "semicolon", "tab", "pipe",
                                                NULL};
static const char delimiter_chars[] = {',', ';', '\t', '|'};
static const char *const extra_symbols[] = {"error", "ignore", NULL};
static const char *const short_rows_symbols[] = {"strict", "null", NULL};

#define OPT(f) offsetof(struct sa_csv_source_conf, f)
static const struct sa_conf_entry csv_conf[] = {
    {.type = SA_CONF_STRLIST, .key = "path", .offset = OPT(path),
     .flags = SA_CONF_REQUIRED | SA_CONF_PATH,
     .desc = "files or globs to read (/data/in/*.csv); .gz files are inflated"},
    {.type = SA_CONF_ENUM, .key = "delimiter", .def = "comma", .offset = OPT(delimiter),
     .symbols = delimiter_symbols, .desc = "field delimiter"},
    {.type = SA_CONF_STR, .key = "quote", .def = "\"", .offset = OPT(quote),
     .desc = "quote character (one byte)"},
    {.type = SA_CONF_BOOL, .key = "header", .def = "true", .offset = OPT(header),
     .desc = "the first row names the columns"},
    {.type = SA_CONF_STRLIST, .key = "columns", .offset = OPT(columns),
     .desc = "column names in file order (instead of, or overriding, the header)"},
    {.type = SA_CONF_ENUM, .key = "extra_columns", .def = "error",
     .offset = OPT(extra_columns), .symbols = extra_symbols,
     .desc = "a column the schema lacks: refuse the file, or ignore the column"},
    {.type = SA_CONF_SIZE, .key = "max_field", .def = "64KiB", .offset = OPT(max_field),
     .min = 1, .max = 64 << 20, .desc = "longest field; a longer one rejects its row"},
    {.type = SA_CONF_INT, .key = "max_errors", .def = "1000", .offset = OPT(max_errors),
     .min = 0, .max = INT64_MAX, .desc = "bad rows per file before the file is set aside"},
    {.type = SA_CONF_BOOL, .key = "watch", .def = "true", .offset = OPT(watch),
     .desc = "keep looking for new files that match path"},
    {.type = SA_CONF_BOOL, .key = "tail", .def = "false", .offset = OPT(tail),
     .desc = "follow files as they grow, across rename and copytruncate rotation"},
    {.type = SA_CONF_STR, .key = "on_done", .def = "keep", .offset = OPT(on_done),
     .flags = SA_CONF_PATH, .path_prefix = "move:",
     .desc = "after a file's last row is committed: keep, delete or move:<dir>"},
    {.type = SA_CONF_DURATION, .key = "poll_interval", .def = "1s",
     .offset = OPT(poll_interval_ms), .min = 10, .max = 3600000,
     .desc = "how often to look for new files and for growth"},
    {.type = SA_CONF_SIZE, .key = "read_buffer", .def = "1MiB", .offset = OPT(read_buffer),
     .min = 4096, .max = 256 << 20, .desc = "bytes read at a time"},
    {.type = SA_CONF_MAP, .key = "formats", .offset = OPT(formats),
     .desc = "per date/timestamp field, a strptime-style format of its text "
             "instead of ISO 8601: {day: \"%Y/%m/%d\", ts: \"%d.%m.%Y %H:%M\"}"},
    {.type = SA_CONF_STR, .key = "timezone", .def = "UTC", .offset = OPT(timezone),
     .desc = "zone of timestamps written without one: UTC, +02:00 or Europe/Berlin"},
    {.type = SA_CONF_ENUM, .key = "short_rows", .def = "strict",
     .offset = OPT(short_rows), .symbols = short_rows_symbols,
     .desc = "a row missing trailing fields: reject it (strict), or make them null "
             "or their default (null; a field with neither rejects the row)"},
    {.type = SA_CONF_STR, .key = "null_string", .offset = OPT(null_string),
     .desc = "an unquoted field spelled so is null (e.g. NULL or \\N); an unquoted empty "
             "field is always null, a quoted \"\" is the empty string"},
    {.type = SA_CONF_STR, .key = "op_column", .offset = OPT(op_column),
     .desc = "a column (not a field) saying what a row is: delete, d or D make it a "
             "delete of its key (which it must have); upsert, u, U, insert, i, "
             "update or an empty field an upsert; anything else rejects the row"},
    {.key = NULL},
};
#undef OPT

/* A blank line: one unquoted empty field ("" on a line of its own is a
 * value, the empty string). */
int sa_csv_blank_row(const struct sa_csv_row *row)
{
    return row->n_fields == 1 && row->fields[0].len == 0 &&
           !(row->quoted && row->quoted[0]);
}

/* --- file identity (file_key.h) ------------------------------------------ */

/* The stored row for this file, matched on dev:ino and the fingerprint. */
static const struct sa_offset_row *find_row(struct csv_ctx *ctx, struct csv_file *f)
{
    for (size_t i = 0; i < ctx->n_rows; i++) {
        const struct sa_offset_row *r = &ctx->rows[i];
        struct sa_file_key key;
        if (sa_file_key_parse(r->file_key, &key) != 0 || key.dev != (uintmax_t)f->dev ||
            key.ino != (uintmax_t)f->ino)
            continue;
        /* A finished plain file's row holds its final size: a smaller file
         * that reuses the inode (and starts alike) is a new file; a larger
         * one is the same file, grown (file_open reads what was added).
         * A .gz file's offsets count inflated bytes: its identity is the
         * fingerprint alone. */
        if (r->done && !f->is_gz && r->offset > f->size)
            continue;
        if (sa_file_key_matches(&key, f->fd, f->dev, f->ino)) {
            snprintf(f->key, sizeof f->key, "%s", r->file_key);
            f->fp_len = key.len;
            f->fp_hash = key.hash;
            for (size_t k = 0; k < ctx->n_ref_files; k++)
                if (strcmp(ctx->ref_files[k].key, f->key) == 0)
                    f->rejected_by_ref += ctx->ref_files[k].n;
            return r;
        }
    }
    return NULL;
}

void sa_csv_make_key(struct csv_file *f, off_t size)
{
    struct sa_file_key key;

    sa_file_key_make(f->fd, f->dev, f->ino, size, &key);
    f->fp_len = key.len;
    f->fp_hash = key.hash;
    sa_file_key_format(&key, f->key, sizeof f->key);
}

/* --- opening and closing files -------------------------------------------- */

/* path made absolute against the working directory (malloc'd), so that
 * dead letters and stored paths name the file from anywhere (`deadletter
 * export` and `replay` run in other directories). */
static char *absolute_path(const char *path)
{
    char cwd[4096];
    char *out;

    if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
        return strdup(path);
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    out = malloc(strlen(cwd) + strlen(path) + 2);
    if (out)
        sprintf(out, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", path);
    return out;
}

void sa_csv_file_close_handles(struct csv_file *f)
{
    if (f->gz) {
        gzclose(f->gz); /* closes fd too */
        f->gz = NULL;
        f->fd = -1;
    } else if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
}

static void file_free(struct csv_file *f)
{
    sa_csv_file_close_handles(f);
    sa_csv_fini(&f->parser);
    sa_buf_fini(&f->win);
    free(f->col_map);
    free(f->path);
    free(f->error);
    free(f->read_error);
    free(f->header_line);
    free(f->pending);
    free(f);
}

void sa_csv_file_fail(struct csv_ctx *ctx, struct sa_source *src, struct csv_file *f,
                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    (void)ctx;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(f->error);
    f->error = strdup(msg);
    f->failed = 1;
    f->done = 1;
    sa_csv_file_close_handles(f);
    sa_log_error("csv file set aside", "source", src->conf->name, "file", f->path,
                 "error", msg);
}

/* Seek the decompressing reader to offset and reset the window there. */
int sa_csv_file_seek(struct csv_file *f, int64_t offset, int64_t line)
{
    if (f->gz) {
        if (gzseek(f->gz, (z_off_t)offset, SEEK_SET) < 0)
            return -1;
        gzclearerr(f->gz);
    } else if (lseek(f->fd, (off_t)offset, SEEK_SET) < 0) {
        return -1;
    }
    sa_buf_reset(&f->win);
    f->win_pos = 0;
    f->win_offset = offset;
    f->parser.line = line;
    f->eof = 0;
    return 0;
}

/* Keep the header row's bytes (without its line end): dead letters carry
 * them, so that `deadletter replay` names a row's fields by its own
 * header, not by whatever file has that name later. */
int sa_csv_keep_header_line(struct csv_file *f, const char *raw, size_t len)
{
    while (len > 0 && (raw[len - 1] == '\n' || raw[len - 1] == '\r'))
        len--;
    free(f->header_line);
    f->header_line = malloc(len + 1);
    if (!f->header_line) {
        f->header_len = 0;
        f->failed = 1;
        return -1;
    }
    memcpy(f->header_line, raw, len);
    f->header_line[len] = '\0';
    f->header_len = len;
    return 0;
}

/* Whether one of the first n columns maps to field. */
static int taken(const int *col_map, size_t n, int field)
{
    for (size_t j = 0; j < n; j++)
        if (col_map[j] == field)
            return 1;
    return 0;
}

/* The first field that lists header as an alias and that none of the
 * first n columns maps to; -1 when none. */
static int free_alias_field(const struct sa_schema *schema, const char *header,
                            const int *col_map, size_t n)
{
    for (size_t k = 0; k < schema->n_fields; k++)
        for (size_t a = 0; a < schema->fields[k].n_aliases; a++)
            if (strcmp(schema->fields[k].aliases[a], header) == 0 &&
                !taken(col_map, n, (int)k))
                return (int)k;
    return -1;
}

/* What to do about a header column that is no field: skip it, or, for a
 * header read as one column that holds a delimiter other than the
 * configured one, the setting that reads it (a semicolon file read with
 * the default comma is the common case). */
static const char *unknown_column_advice(const char *name, size_t n_cols,
                                         char delimiter)
{
    static const char *const hints[] = {
        "the header holds commas: set delimiter: comma",
        "the header holds semicolons: set delimiter: semicolon",
        "the header holds tabs: set delimiter: tab",
        "the header holds '|': set delimiter: pipe",
    };
    /* One hint per delimiter, in delimiter_chars' order: a delimiter
     * added without its hint would read past the table. */
    _Static_assert(sizeof hints / sizeof hints[0] == sizeof delimiter_chars,
                   "a hint for each delimiter");

    for (size_t k = 0; n_cols == 1 && k < sizeof delimiter_chars; k++)
        if (delimiter_chars[k] != delimiter && strchr(name, delimiter_chars[k]))
            return hints[k];
    return "set extra_columns: ignore to skip it";
}

/* Map the header (or the configured columns) onto the schema's fields: by
 * exact name, by a field's alias, or by the normalized name (`eol-lts` ->
 * eol_lts); the columns mapped by the last two rules are logged. */
int sa_csv_map_columns(struct sa_source *src, struct csv_file *f,
                       const struct sa_csv_row *header)
{
    struct csv_ctx *ctx = src->ctx;
    const struct sa_schema *schema = src->schema;
    size_t n = ctx->conf->columns.n ? ctx->conf->columns.n : header->n_fields;
    struct sa_buf mapped;

    free(f->col_map);
    f->col_map = calloc(n + 1, sizeof *f->col_map);
    if (!f->col_map)
        return -1;
    sa_buf_init(&mapped, 64 * 1024);
    f->n_cols = n;
    f->op_col = f->key_col = -1;
    for (size_t i = 0; i < n; i++) {
        char name[256], shown[128]; /* shown: the name quoted, cut to fit */
        enum sa_header_match how;
        if (ctx->conf->columns.n) {
            snprintf(name, sizeof name, "%s", ctx->conf->columns.v[i]);
        } else if (header->fields[i].len &&
                   memchr(header->fields[i].p, '\0', header->fields[i].len)) {
            /* Names end at a NUL below ("s1\0x" would map to s1), and a
             * header holding one is not text: most often UTF-16. */
            sa_csv_file_fail(ctx, src, f,
                             "%s:1: column %zu of the header holds a NUL byte: not "
                             "UTF-8 text (UTF-16?)",
                             f->path, i + 1);
            sa_buf_fini(&mapped);
            return -1;
        } else {
            snprintf(name, sizeof name, "%.*s", (int)header->fields[i].len,
                     header->fields[i].p);
        }
        /* Header names may carry spaces around them. */
        char *s = name;
        while (*s == ' ')
            s++;
        size_t len = strlen(s);
        while (len && s[len - 1] == ' ')
            s[--len] = '\0';
        if (ctx->conf->op_column && strcmp(s, ctx->conf->op_column) == 0 &&
            f->op_col < 0) {
            /* Says what the row is; not a field. */
            f->op_col = (int)i;
            f->col_map[i] = -1;
            continue;
        }
        f->col_map[i] = sa_schema_field_for_header(schema, s, &how);
        if (f->col_map[i] >= 0 && taken(f->col_map, i, f->col_map[i])) {
            /* A header written twice (a, a): the second goes to a field
             * that lists it as an alias, as schema infer writes them. */
            int alt = free_alias_field(schema, s, f->col_map, i);
            if (alt >= 0) {
                f->col_map[i] = alt;
                how = SA_MATCH_ALIAS;
            }
        }
        for (size_t j = 0; j < i && f->col_map[i] >= 0; j++)
            if (f->col_map[j] == f->col_map[i]) {
                sa_text_quote(shown, sizeof shown, s, strlen(s));
                sa_csv_file_fail(ctx, src, f,
                                 "%s:1: column %zu %s appears twice in the "
                                 "header (as field '%s')",
                                 f->path, i + 1, shown,
                                 schema->fields[f->col_map[i]].name);
                sa_buf_fini(&mapped);
                return -1;
            }
        if (f->col_map[i] < 0 && ctx->conf->extra_columns == 0) {
            sa_text_quote(shown, sizeof shown, s, strlen(s));
            sa_csv_file_fail(ctx, src, f,
                             "%s:1: column %zu %s is not a field of schema "
                             "%s:v%d (%s)",
                             f->path, i + 1, shown, schema->subject, schema->version,
                             unknown_column_advice(s, n, ctx->parse_opts.delimiter));
            sa_buf_fini(&mapped);
            return -1;
        }
        if (how == SA_MATCH_ALIAS || how == SA_MATCH_NORMALIZED)
            sa_buf_printf(&mapped, "%s'%s'->%s", mapped.len ? ", " : "", s,
                          schema->fields[f->col_map[i]].name);
    }
    {
        /* A field no column gives, with no null and no default, would
         * reject every row: the file is set aside at its header. */
        struct sa_err why = {0};
        int *present = calloc(schema->n_fields + 1, sizeof *present);
        int missing;
        if (!present) {
            sa_buf_fini(&mapped);
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            if (f->col_map[i] >= 0)
                present[f->col_map[i]] = 1;
        missing = sa_schema_missing_required(schema, present, &why);
        free(present);
        if (missing) {
            sa_csv_file_fail(ctx, src, f, "%s:1: %s", f->path, why.msg);
            sa_buf_fini(&mapped);
            return -1;
        }
    }
    if (ctx->conf->op_column && f->op_col < 0) {
        sa_csv_file_fail(ctx, src, f, "%s:1: op_column '%s' is not a column of the %s",
                         f->path, ctx->conf->op_column,
                         ctx->conf->columns.n ? "columns setting" : "header");
        sa_buf_fini(&mapped);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (schema->key_field >= 0 && f->col_map[i] == schema->key_field)
            f->key_col = (int)i;
    if (mapped.len && sa_buf_terminate(&mapped) == SA_OK)
        sa_log_info("csv columns mapped to fields of other names", "source",
                    src->conf->name, "file", f->path, "columns",
                    (const char *)mapped.data);
    sa_buf_fini(&mapped);
    return 0;
}

/* The source's formats and time zone, checked and given to its record:
 * errors name the config key. */
static int apply_text_formats(struct sa_source *src, struct sa_err *err)
{
    struct csv_ctx *ctx = src->ctx;
    const struct sa_csv_source_conf *conf = ctx->conf;
    const struct sa_conf_origin *at = &src->conf->origin;
    struct sa_err why = {0};

    if (sa_record_set_timezone(&ctx->rec, conf->timezone, &why))
        return sa_conf_fail(at, "timezone", why.rc, err, "%s", why.msg);
    for (size_t i = 0; i < conf->formats.n; i++) {
        const struct sa_kv *kv = &conf->formats.v[i];
        enum sa_header_match how;
        int field = sa_schema_field_for_header(src->schema, kv->key, &how);
        if (field < 0)
            return sa_conf_fail(at, "formats", SA_ECONFIG, err,
                                "%s: no field of schema %s:v%d is named so", kv->key,
                                src->schema->subject, src->schema->version);
        if (sa_record_set_text_format(&ctx->rec, field, kv->value, &why))
            return sa_conf_fail(at, "formats", why.rc, err, "%s: %s", kv->key, why.msg);
    }
    return SA_OK;
}

/* Open path, find its stored position, prepare to read after it. */
static struct csv_file *file_open(struct sa_source *src, const char *path,
                                  const struct stat *st)
{
    struct csv_ctx *ctx = src->ctx;
    struct csv_file *f = calloc(1, sizeof *f);
    const struct sa_offset_row *row;
    size_t plen = strlen(path);

    if (!f)
        return NULL;
    f->fd = -1;
    f->path = absolute_path(path);
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->size = st->st_size;
    f->is_gz = plen > 3 && strcmp(path + plen - 3, ".gz") == 0;
    sa_buf_init(&f->win, (size_t)ctx->conf->read_buffer +
                             4 * (size_t)ctx->conf->max_field + 65536);
    if (!f->path || sa_csv_init(&f->parser, &ctx->parse_opts) != SA_OK) {
        file_free(f);
        return NULL;
    }
    f->header_pending = ctx->conf->header;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        sa_csv_file_fail(ctx, src, f, "cannot open %s: %s", path, strerror(errno));
        return f;
    }
    row = find_row(ctx, f);
    if (!row)
        sa_csv_make_key(f, st->st_size);
    /* Plain files are read with read(): exact positions for tail. */
    if (f->is_gz) {
        f->gz = gzdopen(f->fd, "rb");
        if (!f->gz) {
            sa_csv_file_fail(ctx, src, f, "cannot read %s: out of memory", path);
            return f;
        }
        gzbuffer(f->gz, 256 * 1024);
    }
    if (row && row->done && !ctx->conf->tail && (f->is_gz || row->offset == f->size)) {
        f->done = 1;
        f->done_reported = 1;
        f->seen_done = 1;
        sa_csv_file_close_handles(f);
        return f;
    }
    if (ctx->conf->columns.n) {
        struct sa_csv_row none = {0};
        if (sa_csv_map_columns(src, f, &none) != 0)
            return f;
    }
    if (row && row->offset > 0) {
        /* Resume: read the header again for the column map, then seek. */
        if (f->header_pending) {
            while (f->header_pending && !f->failed) {
                struct sa_csv_row hdr;
                struct sa_csv_error where;
                size_t used;
                int rc = sa_csv_next(&f->parser, (const char *)f->win.data + f->win_pos,
                                     f->win.len - f->win_pos, f->eof, &hdr, &used, &where);
                if (rc == SA_OK && sa_csv_blank_row(&hdr)) {
                    f->win_pos += used;
                } else if (rc == SA_OK) {
                    f->header_pending = 0;
                    if (sa_csv_keep_header_line(
                            f, (const char *)f->win.data + f->win_pos, used))
                        return f;
                    if (!ctx->conf->columns.n && sa_csv_map_columns(src, f, &hdr) != 0)
                        return f;
                } else if (rc == SA_EAGAIN && !f->eof) {
                    if (sa_csv_window_fill(ctx, f) < 0)
                        return f;
                } else {
                    sa_csv_file_fail(ctx, src, f, "%s:1: cannot read the header again",
                                     path);
                    return f;
                }
            }
        }
        if (sa_csv_file_seek(f, row->offset, row->line) != 0) {
            sa_csv_file_fail(ctx, src, f, "cannot seek %s to offset %" PRId64, path,
                             row->offset);
            return f;
        }
        f->committed = row->offset;
        sa_logf(SA_LOG_INFO, row->done ? "csv file grew after it was finished, reading "
                "what was added" : "csv file resumed", "source=%s file=%s offset=%" PRId64
                " line=%" PRId64, src->conf->name, path, row->offset, row->line);
    }
    return f;
}

/*
 * The stored positions were read at open; a file finished in this run is
 * added to them, so that a watched file found again after it was
 * forgotten (it grew, or its inode now holds another file) is matched as
 * at a restart (find_row) and never read again from its start.
 */
int sa_csv_remember_done(struct csv_ctx *ctx, const char *key, int64_t offset,
                         int64_t line)
{
    struct sa_offset_row *r = NULL;

    for (size_t i = 0; i < ctx->n_rows && !r; i++)
        if (strcmp(ctx->rows[i].file_key, key) == 0)
            r = &ctx->rows[i];
    if (!r) {
        struct sa_offset_row *v = realloc(ctx->rows, (ctx->n_rows + 1) * sizeof *v);
        char *k = strdup(key);
        if (v)
            ctx->rows = v;
        if (!v || !k) {
            free(k);
            return -1;
        }
        r = &ctx->rows[ctx->n_rows++];
        r->file_key = k;
    }
    r->offset = offset;
    r->line = line;
    r->done = 1;
    return 0;
}

/* --- scanning for files ------------------------------------------------------ */

/* The file already known on st's inode. A finished plain file whose
 * inode now holds a file of another size is forgotten and opened again:
 * the stored positions (remember_done) say whether it grew (read what
 * was added) or is another file reusing the inode (read it all). */
static struct csv_file *known_file(struct csv_ctx *ctx, const struct stat *st)
{
    for (struct csv_file **link = &ctx->files; *link; link = &(*link)->next) {
        struct csv_file *f = *link;
        if (f->missing || f->dev != st->st_dev || f->ino != st->st_ino)
            continue;
        if (f->done && !f->failed && !f->on_done_pending && !f->rotated && !f->is_gz &&
            f->committed != st->st_size) {
            *link = f->next;
            file_free(f);
            return NULL;
        }
        return f;
    }
    return NULL;
}

static void add_file(struct sa_source *src, const char *path, const struct stat *st)
{
    struct csv_ctx *ctx = src->ctx;
    struct csv_file *f = file_open(src, path, st), **tail;
    if (!f) {
        sa_log_error("out of memory opening a csv file", "file", path);
        return;
    }
    for (tail = &ctx->files; *tail; tail = &(*tail)->next)
        ;
    *tail = f;
    if (!f->done)
        sa_log_info("csv file opened", "source", src->conf->name, "file", path,
                    "key", f->key);
}

static void add_missing(struct sa_source *src, const char *path)
{
    struct csv_ctx *ctx = src->ctx;
    struct csv_file *f = calloc(1, sizeof *f);

    if (!f || !(f->path = absolute_path(path))) {
        free(f);
        sa_log_error("out of memory", "file", path);
        return;
    }
    f->fd = -1;
    f->missing = 1;
    f->done_reported = 1;
    sa_buf_init(&f->win, 1);
    sa_csv_file_fail(ctx, src, f, "cannot read %s: %s", path, strerror(ENOENT));
    f->next = ctx->files;
    ctx->files = f;
}

static void scan(struct sa_source *src)
{
    struct csv_ctx *ctx = src->ctx;

    for (size_t i = 0; i < ctx->conf->path.n; i++) {
        const char *pattern = ctx->conf->path.v[i];
        glob_t g;
        int grc = glob(pattern, GLOB_NOSORT, NULL, &g);

        if (grc == GLOB_NOMATCH) {
            /* A glob that matches nothing yet is normal; a plain path that
             * is missing at the first look is reported as a failed file. */
            if (!ctx->scanned && !strpbrk(pattern, "*?["))
                add_missing(src, pattern);
            else if (!ctx->scanned)
                /* Said once: a typo in a glob looked like an idle source. */
                sa_log_warn(ctx->conf->watch
                                ? "csv path matches no file yet (watching it)"
                                : "csv path matches no file",
                            "source", src->conf->name, "path", pattern);
            continue;
        }
        if (grc != 0) {
            sa_log_error("cannot expand the csv path", "source", src->conf->name,
                         "path", pattern);
            continue;
        }
        /* Oldest first: rotated files before the live one. */
        qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv,
              (int (*)(const void *, const void *))strcmp);
        for (size_t j = 0; j < g.gl_pathc; j++) {
            struct stat st;
            if (stat(g.gl_pathv[j], &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            if (!known_file(ctx, &st))
                add_file(src, g.gl_pathv[j], &st);
        }
        globfree(&g);
    }
    ctx->scanned = 1;
    ctx->last_scan_mono = sa_mono_ms();
}

/* --- the source operations ---------------------------------------------------- */

/* Everything open would refuse in the settings, checked before anything
 * is opened; `check` runs it too. */
/* The formats and the time zone, as far as they can be checked without
 * the schema (apply_text_formats does the rest at open). */
static int check_text_formats(const struct sa_csv_source_conf *conf,
                              const struct sa_conf_origin *at, struct sa_err *err)
{
    struct sa_err why = {0};
    struct sa_tz *tz = NULL;

    if (sa_tz_load(conf->timezone, &tz, &why))
        return sa_conf_fail(at, "timezone", why.rc, err, "%s", why.msg);
    sa_tz_free(tz);
    for (size_t i = 0; i < conf->formats.n; i++)
        if (sa_text_format_check(conf->formats.v[i].value, &why))
            return sa_conf_fail(at, "formats", why.rc, err, "%s: %s",
                                conf->formats.v[i].key, why.msg);
    return SA_OK;
}

/* The formats and the columns against the schema, as apply_text_formats
 * and map_columns take them at open (there a bad column would set every
 * file aside, one by one): a format for a field the schema lacks or of a
 * type no format applies to; a column that is no field (with
 * extra_columns: error), one that repeats a field, and a field no row
 * could do without that no column holds. */
static int check_against_schema(const struct sa_csv_source_conf *conf,
                                const struct sa_conf_origin *at,
                                const struct sa_schema *schema, struct sa_err *err)
{
    struct sa_record rec;
    struct sa_err why = {0};
    int *col_map = NULL, *present = NULL, rc = SA_OK;
    size_t n = conf->columns.n;

    if ((rc = sa_record_init(&rec, schema, err)))
        return rc;
    for (size_t i = 0; i < conf->formats.n && !rc; i++) {
        const struct sa_kv *kv = &conf->formats.v[i];
        enum sa_header_match how;
        int field = sa_schema_field_for_header(schema, kv->key, &how);
        if (field < 0)
            rc = sa_conf_fail(at, "formats", SA_ECONFIG, err,
                              "%s: no field of schema %s:v%d is named so", kv->key,
                              schema->subject, schema->version);
        else if (sa_record_set_text_format(&rec, field, kv->value, &why))
            rc = sa_conf_fail(at, "formats", why.rc, err, "%s: %s", kv->key, why.msg);
    }
    sa_record_fini(&rec);
    if (rc || n == 0)
        return rc;
    col_map = calloc(n, sizeof *col_map);
    present = calloc(schema->n_fields + 1, sizeof *present);
    if (!col_map || !present) {
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char name[256];
        enum sa_header_match how;
        char *s = name;
        size_t len;
        /* Trimmed and mapped as map_columns does. */
        snprintf(name, sizeof name, "%s", conf->columns.v[i]);
        while (*s == ' ')
            s++;
        len = strlen(s);
        while (len && s[len - 1] == ' ')
            s[--len] = '\0';
        col_map[i] = sa_schema_field_for_header(schema, s, &how);
        if (col_map[i] >= 0 && taken(col_map, i, col_map[i])) {
            int alt = free_alias_field(schema, s, col_map, i);
            if (alt >= 0)
                col_map[i] = alt;
        }
        for (size_t j = 0; j < i && col_map[i] >= 0; j++)
            if (col_map[j] == col_map[i]) {
                rc = sa_conf_fail(at, "columns", SA_ECONFIG, err,
                                  "column %zu '%s' is field '%s' again (column %zu is "
                                  "'%s')",
                                  i + 1, s, schema->fields[col_map[i]].name, j + 1,
                                  conf->columns.v[j]);
                goto out;
            }
        if (col_map[i] < 0 && conf->extra_columns == 0) {
            rc = sa_conf_fail(at, "columns", SA_ECONFIG, err,
                              "column %zu '%s' is not a field of schema %s:v%d (set "
                              "extra_columns: ignore to skip it)",
                              i + 1, s, schema->subject, schema->version);
            goto out;
        }
        if (col_map[i] >= 0)
            present[col_map[i]] = 1;
    }
    if (sa_schema_missing_required(schema, present, &why))
        rc = sa_conf_fail(at, "columns", SA_ECONFIG, err, "%s", why.msg);
out:
    free(col_map);
    free(present);
    return rc;
}

static int csv_check(const struct sa_source_conf *sc, const struct sa_schema *schema,
                     struct sa_err *err)
{
    const struct sa_csv_source_conf *conf = sc->opts;
    const struct sa_conf_origin *at = &sc->origin;
    int rc;

    if (!conf->quote || strlen(conf->quote) != 1)
        return sa_conf_fail(at, "quote", SA_ECONFIG, err,
                            "must be one character, not '%s'",
                            conf->quote ? conf->quote : "");
    if (strcmp(conf->on_done, "keep") != 0 && strcmp(conf->on_done, "delete") != 0 &&
        strncmp(conf->on_done, "move:", 5) != 0)
        return sa_conf_fail(at, "on_done", SA_ECONFIG, err,
                            "must be keep, delete or move:<dir>, not '%s'",
                            conf->on_done);
    if (conf->tail && strcmp(conf->on_done, "keep") != 0)
        return sa_conf_fail(at, "on_done", SA_ECONFIG, err,
                            "%s makes no sense with tail: true: a followed file is "
                            "never finished",
                            conf->on_done);
    if (!conf->header && conf->columns.n == 0)
        return sa_conf_fail(at, "header", SA_ECONFIG, err,
                            "false needs columns: to name the columns");
    if ((rc = check_text_formats(conf, at, err)))
        return rc;
    if (schema && (rc = check_against_schema(conf, at, schema, err)))
        return rc;
    if (strncmp(conf->on_done, "move:", 5) == 0) {
        struct stat st;
        if (stat(conf->on_done + 5, &st) != 0)
            return sa_conf_fail(at, "on_done", SA_ECONFIG, err, "%s: %s", conf->on_done,
                                strerror(errno));
        if (!S_ISDIR(st.st_mode))
            return sa_conf_fail(at, "on_done", SA_ECONFIG, err, "%s: not a directory",
                                conf->on_done);
    }
    return SA_OK;
}

/* One file with open dead letters kept by reference (out of memory: not
 * remembered, as if it had none: on_done deletes it as before). */
static void note_ref_file(void *arg, const char *file_key, int64_t n)
{
    struct csv_ctx *ctx = arg;
    struct ref_file *v = realloc(ctx->ref_files, (ctx->n_ref_files + 1) * sizeof *v);

    if (!v)
        return;
    ctx->ref_files = v;
    snprintf(v[ctx->n_ref_files].key, sizeof v->key, "%s", file_key);
    v[ctx->n_ref_files++].n = (uint64_t)n;
}

static int csv_open(struct sa_source *src, struct sa_err *err)
{
    const struct sa_csv_source_conf *conf = src->conf->opts;
    struct csv_ctx *ctx;
    int rc;

    rc = csv_check(src->conf, src->schema, err);
    if (rc)
        return rc;
    ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    src->ctx = ctx;
    ctx->conf = conf;
    ctx->null_string_len = conf->null_string ? strlen(conf->null_string) : 0;
    sa_csv_opts_default(&ctx->parse_opts);
    ctx->parse_opts.delimiter = delimiter_chars[conf->delimiter];
    ctx->parse_opts.quote = conf->quote[0];
    ctx->parse_opts.max_field = (size_t)conf->max_field;
    if (strncmp(conf->on_done, "move:", 5) == 0) {
        ctx->move_dir = strdup(conf->on_done + 5);
        if (!ctx->move_dir) {
            rc = sa_err_set(err, SA_ENOMEM, "out of memory");
            goto out;
        }
    }
    rc = sa_record_init(&ctx->rec, src->schema, err);
    if (rc || (rc = apply_text_formats(src, err)))
        goto out;
    rc = sa_spool_offset_list(src->spool, src->conf->name, &ctx->rows, &ctx->n_rows,
                              err);
    if (rc == SA_OK && strcmp(conf->on_done, "delete") == 0)
        rc = sa_spool_deadletter_open_refs(src->spool, src->conf->name, note_ref_file,
                                           ctx, err);
    if (rc)
        goto out;
    scan(src);
out:
    if (rc) {
        src->ops->close(src);
    }
    return rc;
}

/* Hand the files moved since the last poll to the batch. */
static int report_moves(struct csv_ctx *ctx, struct sa_source *src,
                        struct sa_batch *batch, struct sa_err *err)
{
    for (size_t i = 0; i < ctx->n_moved; i++) {
        struct moved_file *m = &ctx->moved[i];
        int rc = sa_batch_file_moved(batch, src, m->key, m->from, m->to, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < ctx->n_moved; i++) {
        free(ctx->moved[i].from);
        free(ctx->moved[i].to);
    }
    ctx->n_moved = 0;
    return SA_OK;
}

/* A finished file whose move is still to come or to be reported. */
static int moves_pending(const struct csv_ctx *ctx)
{
    if (!ctx->move_dir)
        return 0;
    for (const struct csv_file *f = ctx->files; f; f = f->next)
        if (f->on_done_pending)
            return 1;
    return ctx->n_moved > 0;
}

static int csv_poll(struct sa_source *src, struct sa_batch *batch, struct sa_err *err)
{
    struct csv_ctx *ctx = src->ctx;
    int added = 0, open_files = 0, rc;

    if (ctx->n_moved && (rc = report_moves(ctx, src, batch, err)))
        return rc;
    if ((ctx->conf->watch || ctx->conf->tail) &&
        sa_mono_ms() - ctx->last_scan_mono >= ctx->conf->poll_interval_ms)
        scan(src);
    for (struct csv_file *f = ctx->files; f; f = f->next) {
        size_t room = sa_batch_room(batch);
        if (f->done && f->done_reported)
            continue;
        open_files++;
        if (room == 0)
            break;
        rc = sa_csv_read_file(src, batch, f, room, &added, err);
        if (rc)
            return rc;
    }
    if (open_files == 0 && !ctx->conf->watch && !ctx->conf->tail && !moves_pending(ctx))
        return SA_EOF;
    return SA_OK;
}

/* Remember a move for the next poll (out of memory: its dead letters keep
 * the old path; the log line says where it went). Rows rejected in an
 * earlier run may name it too, so every moved file is reported. */
void sa_csv_note_move(struct csv_ctx *ctx, const struct csv_file *f, const char *target)
{
    struct moved_file *m;

    if (ctx->n_moved == ctx->cap_moved) {
        size_t cap = ctx->cap_moved ? ctx->cap_moved * 2 : 8;
        struct moved_file *v = realloc(ctx->moved, cap * sizeof *v);
        if (!v)
            return;
        ctx->moved = v;
        ctx->cap_moved = cap;
    }
    m = &ctx->moved[ctx->n_moved];
    snprintf(m->key, sizeof m->key, "%s", f->key);
    m->from = strdup(f->path);
    m->to = strdup(target);
    if (!m->from || !m->to) {
        free(m->from);
        free(m->to);
        return;
    }
    ctx->n_moved++;
}

static void apply_on_done(struct csv_ctx *ctx, struct sa_source *src,
                          struct csv_file *f)
{
    const char *how = ctx->conf->on_done;

    if (strcmp(how, "delete") == 0 && f->rejected_by_ref) {
        /* Those dead letters are the file's bytes at an offset: deleting
         * it would lose them (a move keeps them: they follow it). */
        char n[24];
        snprintf(n, sizeof n, "%" PRIu64, f->rejected_by_ref);
        sa_log_warn("finished csv file kept, not deleted: some of its rejected "
                    "rows are kept by reference into it (longer than the read "
                    "window); delete it once they are replayed or resolved",
                    "source", src->conf->name, "file", f->path, "dead_letters", n);
    } else if (strcmp(how, "delete") == 0) {
        if (unlink(f->path) != 0)
            sa_log_error("cannot delete a finished csv file", "file", f->path,
                         "error", strerror(errno));
        else
            sa_log_info("finished csv file deleted", "source", src->conf->name, "file",
                        f->path);
    } else if (ctx->move_dir) {
        char target[4096];
        if (sa_move_into(f->path, ctx->move_dir, target, sizeof target) != 0)
            sa_log_error("cannot move a finished csv file", "file", f->path, "to",
                         target, "error", strerror(errno));
        else {
            sa_log_info("finished csv file moved", "source", src->conf->name, "file",
                        f->path, "to", target);
            sa_csv_note_move(ctx, f, target);
        }
    }
}

static void csv_committed(struct sa_source *src, uint64_t generation, uint64_t refused)
{
    struct csv_ctx *ctx = src->ctx;
    struct csv_file **link = &ctx->files;

    while (*link) {
        struct csv_file *f = *link;
        size_t n = 0;
        while (n < f->n_pending && f->pending[n].gen <= generation) {
            f->durable_accepted = f->pending[n].accepted;
            f->durable_rejected = f->pending[n].rejected;
            n++;
        }
        memmove(f->pending, f->pending + n, (f->n_pending - n) * sizeof f->pending[0]);
        f->n_pending -= n;
        if (f->on_done_pending && f->on_done_gen <= generation) {
            f->on_done_pending = 0;
            sa_csv_file_close_handles(f);
            if (refused && f->first_gen && f->first_gen <= refused) {
                /* Some of its records may have been refused for a full
                 * spool (when_full: reject): the file is the only copy. */
                sa_log_warn("finished csv file kept: records of it were refused "
                            "while the spool was full", "source", src->conf->name,
                            "file", f->path);
            } else if (strcmp(ctx->conf->on_done, "keep") != 0) {
                apply_on_done(ctx, src, f);
                /* Gone from the path: forget it, so that a new file reusing
                 * its inode is read as new. */
                *link = f->next;
                file_free(f);
                continue;
            }
        }
        link = &f->next;
    }
}

static void csv_close(struct sa_source *src)
{
    struct csv_ctx *ctx = src->ctx;
    if (!ctx)
        return;
    while (ctx->files) {
        struct csv_file *f = ctx->files;
        ctx->files = f->next;
        file_free(f);
    }
    sa_spool_offset_rows_free(ctx->rows, ctx->n_rows);
    free(ctx->ref_files);
    sa_record_fini(&ctx->rec);
    for (size_t i = 0; i < ctx->n_moved; i++) {
        free(ctx->moved[i].from);
        free(ctx->moved[i].to);
    }
    free(ctx->moved);
    free(ctx->move_dir);
    free(ctx);
    src->ctx = NULL;
}

void sa_source_csv_report(struct sa_source *src,
                          void (*fn)(void *arg, const struct sa_csv_file_report *r),
                          void *arg)
{
    struct csv_ctx *ctx = src->ctx;
    if (!ctx)
        return;
    for (struct csv_file *f = ctx->files; f; f = f->next) {
        struct sa_csv_file_report r = {
            .path = f->path,
            .accepted = f->durable_accepted,
            .rejected = f->durable_rejected,
            .done = f->done,
            .failed = f->failed,
            .seen_done = f->seen_done,
            .error = f->error,
            .key = f->key[0] ? f->key : NULL,
        };
        fn(arg, &r);
    }
}

static const char *csv_endless(const struct sa_source_conf *sc, const char **fix)
{
    const struct sa_csv_source_conf *conf = sc->opts;

    if (conf->tail) {
        *fix = conf->watch ? "watch: false, tail: false" : "tail: false";
        return conf->watch ? "follows its files as they grow and watches for new ones "
                             "(tail: true, watch: true)"
                           : "follows its files as they grow (tail: true)";
    }
    if (conf->watch) {
        *fix = "watch: false";
        return "watches for new files (watch: true, the default)";
    }
    return NULL;
}

const struct sa_source_ops sa_source_csv_ops = {
    .name = "csv",
    .desc = "CSV files (RFC 4180): import, watch a glob, or tail; .gz inflated",
    .conf = csv_conf,
    .opts_size = sizeof(struct sa_csv_source_conf),
    .never_refused = 1,
    .check = csv_check,
    .endless = csv_endless,
    .open = csv_open,
    .poll = csv_poll,
    .committed = csv_committed,
    .close = csv_close,
};
