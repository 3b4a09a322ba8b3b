/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent deadletter list | export | replay`: the records that could not
 * be accepted (invariant I4), and the way back in for them.
 *
 *   list    every dead letter, open and resolved, with where it came from
 *           (file:line:column for CSV), why, and its raw input (escaped
 *           text, or base64 in JSON when it is not UTF-8; file, offset and
 *           length for a row kept by reference). A reader, like `status`.
 *   export  the open ones of CSV sources as a CSV a person can fix:
 *           id,source,location,reason,raw (RFC 4180 quoting).
 *   replay  ingests rows again -- each dead letter's stored raw row, or its
 *           fixed `raw` from an exported file -- through its source's own
 *           mapping: the row is parsed with the source's delimiter and
 *           quote, its columns named by the source's `columns:`, else by
 *           the header of the file it came from, else (that file is gone)
 *           by --header. The records and the resolution of their dead
 *           letters are one commit (with an audit row), so a row never goes
 *           in twice: a dead letter resolved once is not replayed again. A
 *           row that still fails stays open with its new reason. A writer:
 *           it opens the spool as `run` does.
 */
#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "agent/cli.h"
#include "agent/commands.h"
#include "agent/record.h"
#include "agent/source/csv.h"
#include "agent/source/source_csv.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define PAGE 1000
/* A replay commits this many dead letters (or this many bytes of records)
 * at a time: each commit holds its records and their resolutions. */
#define REPLAY_CHUNK 1000
#define REPLAY_CHUNK_BYTES ((size_t)16 << 20)
/* The longest key a record may have (as pipeline.c's KEY_MAX). */
#define KEY_MAX (64u << 10)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: syncagent deadletter list -c FILE [--json] [--limit N]\n"
            "       syncagent deadletter export -c FILE [-o OUT.csv] [--stream S]\n"
            "                                   [--source NAME]\n"
            "       syncagent deadletter replay -c FILE (--id N | --all)\n"
            "                                   [--from FIXED.csv] [--header a,b,c]\n"
            "\n"
            "list    Dead letters oldest first, open and resolved: id, time, stream,\n"
            "        source, location (file:line:column for CSV), state, the reason\n"
            "        and the raw input (bytes that are not UTF-8 escaped; JSON gives\n"
            "        them as raw_base64; a row kept by reference as raw_file,\n"
            "        raw_offset and raw_length).\n"
            "export  The open dead letters of CSV sources as a CSV to fix by hand:\n"
            "        id,source,location,reason,raw (raw: the rejected row, read back\n"
            "        from its file when it was kept by reference).\n"
            "replay  Ingest rows again through their source's mapping and mark\n"
            "        their dead letters resolved, in one commit with an audit row.\n"
            "        Each row is the stored raw row, or with --from the `raw` of its\n"
            "        id in a file written by export and fixed. A row that still\n"
            "        fails stays open with its new reason. Resolved dead letters\n"
            "        are never replayed again.\n"
            "\n"
            "  -c, --config FILE   the agent's YAML config (required)\n"
            "      --json          list: one JSON object per line\n"
            "      --limit N       list: at most N entries (default: all)\n"
            "  -o, --output FILE   export: write here (default: stdout)\n"
            "      --stream S      export: only dead letters of stream S\n"
            "      --source NAME   export: only dead letters of source NAME\n"
            "      --id N          replay: dead letter N\n"
            "      --all           replay: every open dead letter (with --from:\n"
            "                      every id in the file)\n"
            "      --from FILE     replay: the fixed rows (columns id and raw)\n"
            "      --header a,b,c  replay: the column names of the rows when the\n"
            "                      source has no columns: and the file they came\n"
            "                      from (whose header names them) is gone\n"
            "  -h, --help          this help\n"
            "\n"
            "Exit: 0 ok, 1 runtime failure, 2 bad usage, 3 replay: some rows still\n"
            "fail (they stay open with their new reason).\n");
}

/* --- raw bytes ------------------------------------------------------------ */

static int is_utf8(const void *raw, size_t len)
{
    return sa_utf8_valid((const char *)raw, len);
}

/* Printable text: escapes for control bytes and, when the bytes are not
 * UTF-8, for every byte above 0x7f; cut at 200 bytes. */
static void print_raw(const unsigned char *raw, size_t len)
{
    size_t shown = len > 200 ? 200 : len;
    int utf8 = is_utf8(raw, len);

    for (size_t i = 0; i < shown; i++) {
        unsigned char c = raw[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\\')
            fputs("\\\\", stdout);
        else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    if (shown < len)
        printf("... (%zu bytes)", len);
}

static char *base64(const unsigned char *in, size_t len)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        *o++ = tab[(v >> 18) & 63];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* Read the row a dead letter keeps by reference, a chunk at a time:
 * fn(arg, bytes, n) for each; a nonzero return from fn stops the read and
 * is returned (fn sets err). A .gz file's offsets are those of its
 * inflated bytes. */
#define REF_CHUNK ((size_t)1 << 20)
static int read_ref(const struct sa_deadletter_row *r,
                    int (*fn)(void *arg, const char *p, size_t n, struct sa_err *err),
                    void *arg, struct sa_err *err)
{
    size_t plen = strlen(r->raw_file);
    int64_t left = r->raw_length;
    char *chunk = NULL;
    gzFile gz = NULL;
    int fd = -1, rc = SA_OK;

    if (r->raw_length < 0 || r->raw_offset < 0)
        return sa_err_set(err, SA_ECORRUPT,
                          "dead letter %lld: a reference with "
                          "offset %" PRId64 " and length %" PRId64,
                          (long long)r->id, r->raw_offset, r->raw_length);
    chunk = malloc(REF_CHUNK);
    if (!chunk)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    fd = open(r->raw_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = sa_err_set(err, SA_EIO, "cannot read its row back from %s: %s",
                        r->raw_file, strerror(errno));
        goto out;
    }
    if (plen > 3 && strcmp(r->raw_file + plen - 3, ".gz") == 0) {
        gz = gzdopen(fd, "rb");
        if (gz)
            fd = -1; /* gz owns it */
        if (!gz || gzseek(gz, (z_off_t)r->raw_offset, SEEK_SET) < 0) {
            rc = sa_err_set(err, SA_EIO, "cannot seek %s to %" PRId64, r->raw_file,
                            r->raw_offset);
            goto out;
        }
    } else if (lseek(fd, (off_t)r->raw_offset, SEEK_SET) < 0) {
        rc = sa_err_set(err, SA_EIO, "cannot seek %s to %" PRId64 ": %s", r->raw_file,
                        r->raw_offset, strerror(errno));
        goto out;
    }
    while (!rc && left > 0) {
        size_t want = (uint64_t)left > REF_CHUNK ? REF_CHUNK : (size_t)left;
        ssize_t got = gz ? gzread(gz, chunk, (unsigned)want) : read(fd, chunk, want);
        if (got < 0 && !gz && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = sa_err_set(err, SA_EIO,
                            "%s ends before offset %" PRId64 " + %" PRId64
                            " (changed since?)",
                            r->raw_file, r->raw_offset, r->raw_length);
            break;
        }
        left -= got;
        rc = fn(arg, chunk, (size_t)got, err);
    }
out:
    if (gz)
        gzclose(gz);
    if (fd >= 0)
        close(fd);
    free(chunk);
    return rc;
}

static int ref_to_buf(void *arg, const char *p, size_t n, struct sa_err *err)
{
    int rc = sa_buf_append(arg, p, n);
    return rc ? sa_err_set(err, rc, "out of memory") : SA_OK;
}

/* The whole row of a dead letter kept by reference, into out (for replay:
 * no record is longer than SA_RECORD_MAX_BYTES, so neither is its row). */
static int read_ref_buf(const struct sa_deadletter_row *r, struct sa_buf *out,
                        struct sa_err *err)
{
    sa_buf_reset(out);
    if ((uint64_t)r->raw_length > SA_RECORD_MAX_BYTES)
        return sa_err_set(err, SA_ETOOBIG,
                          "its row of %" PRId64 " bytes in %s is "
                          "longer than a record may be (%zu bytes)",
                          r->raw_length, r->raw_file, SA_RECORD_MAX_BYTES);
    return read_ref(r, ref_to_buf, out, err);
}

/* The row's text without its line ending. */
static size_t trim_eol(const char *p, size_t len)
{
    if (len && p[len - 1] == '\n')
        len--;
    if (len && p[len - 1] == '\r')
        len--;
    return len;
}

/* --- list ------------------------------------------------------------------ */

static void print_row(const struct sa_deadletter_row *r, int json)
{
    char ts[32], resolved_ts[32] = "";

    sa_format_iso8601(r->created_ms, ts);
    if (r->resolved)
        sa_format_iso8601(r->resolved_ms, resolved_ts);
    if (json) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "id",
                              (json_int_t)r->id, "time", ts, "stream", r->stream,
                              "source", r->source, "location", r->location, "reason",
                              r->reason, "state", r->resolved ? "resolved" : "open");
        char *text;
        if (!o)
            return;
        if (r->raw_file && r->raw_len == 0) {
            /* Nothing held here: raw_file, raw_offset, raw_length say where. */
        } else if (is_utf8(r->raw, r->raw_len)) {
            json_object_set_new(o, "raw",
                                json_stringn((const char *)r->raw, r->raw_len));
        } else {
            /* Not text: the bytes as they are, in base64 (never nothing). */
            char *b64 = base64(r->raw, r->raw_len);
            json_object_set_new(o, "raw_base64", b64 ? json_string(b64) : json_null());
            free(b64);
        }
        if (r->raw_file) {
            json_object_set_new(o, "raw_file", json_string(r->raw_file));
            json_object_set_new(o, "raw_offset", json_integer(r->raw_offset));
            json_object_set_new(o, "raw_length", json_integer(r->raw_length));
        }
        if (r->resolved) {
            json_object_set_new(o, "resolved_time", json_string(resolved_ts));
            json_object_set_new(o, "resolved_how",
                                json_string(r->resolved_how ? r->resolved_how : ""));
        }
        text = json_dumps(o, JSON_COMPACT);
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(o);
        return;
    }
    printf("#%lld %s %s %s %s [%s]: %s\n", (long long)r->id, ts, r->stream, r->source,
           r->location, r->resolved ? "resolved" : "open", r->reason);
    if (r->raw_file) {
        printf("    raw: by reference, %" PRId64 " bytes at offset %" PRId64 " of %s\n",
               r->raw_length, r->raw_offset, r->raw_file);
    } else {
        printf("    raw: ");
        print_raw(r->raw, r->raw_len);
        printf("\n");
    }
    if (r->resolved)
        printf("    resolved %s: %s\n", resolved_ts,
               r->resolved_how ? r->resolved_how : "");
}

/* Call fn for every dead letter, oldest first, a page at a time. fn returns
 * nonzero to stop (that value is returned). */
static int walk(struct sa_spool *spool,
                int (*fn)(void *, const struct sa_deadletter_row *), void *arg,
                struct sa_err *err)
{
    int64_t after = 0;
    int rc = SA_OK;

    for (;;) {
        struct sa_deadletter_row *rows = NULL;
        size_t n = 0;
        rc = sa_spool_deadletter_list(spool, after, PAGE, &rows, &n, err);
        if (rc)
            return rc;
        for (size_t i = 0; i < n && !rc; i++)
            rc = fn(arg, &rows[i]);
        if (n)
            after = rows[n - 1].id;
        sa_spool_deadletter_rows_free(rows, n);
        if (rc || n < PAGE)
            return rc;
    }
}

struct list_state {
    int json;
    int64_t limit, shown;
};

static int list_one(void *arg, const struct sa_deadletter_row *r)
{
    struct list_state *ls = arg;
    if (ls->limit >= 0 && ls->shown >= ls->limit)
        return 1;
    print_row(r, ls->json);
    ls->shown++;
    return 0;
}

static int list(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    struct list_state ls = {.limit = -1};
    int opt, rc;
    struct sa_config *cfg = NULL;
    struct sa_spool *spool = NULL;
    struct sa_err err = {0};

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'j':
            ls.json = 1;
            break;
        case 'l':
            if (sa_cli_parse_int("deadletter list", "--limit", optarg, 0, INT64_MAX,
                                 &ls.limit))
                return SA_EXIT_USAGE;
            break;
        case 'h':
            usage(stdout);
            return SA_EXIT_OK;
        default:
            usage(stderr);
            return SA_EXIT_USAGE;
        }
    }
    if (!config_path || optind != argc) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    rc = sa_config_load(config_path, &cfg, &err);
    if (!rc)
        rc = sa_spool_open(&spool, &cfg->spool, SA_SPOOL_READONLY, &err);
    if (!rc) {
        rc = walk(spool, list_one, &ls, &err);
        if (rc == 1)
            rc = SA_OK;
    }
    sa_spool_close(spool);
    sa_config_free(cfg);
    return rc ? sa_cli_fail("deadletter list", &err) : SA_EXIT_OK;
}

/* --- export ---------------------------------------------------------------- */

/* A dead letter that a replay can take: one from a CSV file (a sink's
 * dead letters hold encoded records, not rows). */
static int from_csv_source(const struct sa_deadletter_row *r)
{
    return strncmp(r->source, "sink:", 5) != 0;
}

/* One CSV field, quoted per RFC 4180 when it has to be. */
static void put_field(FILE *out, const char *p, size_t len, int last)
{
    int quote = len == 0 ? 0
                         : memchr(p, '"', len) || memchr(p, ',', len) ||
                               memchr(p, '\n', len) || memchr(p, '\r', len) ||
                               p[0] == ' ' || p[len - 1] == ' ';
    if (quote) {
        fputc('"', out);
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '"')
                fputc('"', out);
            fputc(p[i], out);
        }
        fputc('"', out);
    } else {
        fwrite(p, 1, len, out);
    }
    fputs(last ? "\r\n" : ",", out);
}

struct export_state {
    FILE *out;
    const char *stream, *source;
    size_t n, skipped;
    struct sa_err *err;
};

/* A by-reference row streamed into a quoted CSV field; its last two bytes
 * are held back so that the row's line ending can be left out. */
struct ref_field {
    FILE *out;
    char held[2];
    size_t n_held;
};

static void put_quoted(FILE *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"')
            fputc('"', out);
        fputc(p[i], out);
    }
}

static int ref_to_field(void *arg, const char *p, size_t n, struct sa_err *err)
{
    struct ref_field *rf = arg;
    size_t keep = n < 2 ? n : 2, emit_held;

    /* Held bytes that the new ones push out go first. */
    emit_held = rf->n_held + keep > 2 ? rf->n_held + keep - 2 : 0;
    put_quoted(rf->out, rf->held, emit_held);
    memmove(rf->held, rf->held + emit_held, rf->n_held - emit_held);
    rf->n_held -= emit_held;
    put_quoted(rf->out, p, n - keep);
    memcpy(rf->held + rf->n_held, p + n - keep, keep);
    rf->n_held += keep;
    return ferror(rf->out)
               ? sa_err_set(err, SA_EIO, "cannot write: %s", strerror(errno))
               : SA_OK;
}

static int export_one(void *arg, const struct sa_deadletter_row *r)
{
    struct export_state *es = arg;
    char id[32];

    if (r->resolved || (es->stream && strcmp(r->stream, es->stream) != 0) ||
        (es->source && strcmp(r->source, es->source) != 0))
        return 0;
    if (!from_csv_source(r)) {
        es->skipped++;
        return 0;
    }
    snprintf(id, sizeof id, "%lld", (long long)r->id);
    put_field(es->out, id, strlen(id), 0);
    put_field(es->out, r->source, strlen(r->source), 0);
    put_field(es->out, r->location, strlen(r->location), 0);
    put_field(es->out, r->reason, strlen(r->reason), 0);
    if (r->raw_file) {
        /* Read back from its file, however long: always quoted. */
        struct ref_field rf = {.out = es->out};
        int rc;
        fputc('"', es->out);
        rc = read_ref(r, ref_to_field, &rf, es->err);
        if (rc)
            return sa_err_prefix(es->err, "dead letter %lld: ", (long long)r->id);
        put_quoted(es->out, rf.held, trim_eol(rf.held, rf.n_held));
        fputs("\"\r\n", es->out);
    } else {
        put_field(es->out, r->raw ? r->raw : "",
                  r->raw ? trim_eol(r->raw, r->raw_len) : 0, 1);
    }
    es->n++;
    return ferror(es->out)
               ? sa_err_set(es->err, SA_EIO, "cannot write: %s", strerror(errno))
               : 0;
}

static int export(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"output", required_argument, NULL, 'o'},
        {"stream", required_argument, NULL, 's'},
        {"source", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *out_path = NULL;
    struct export_state es = {0};
    struct sa_config *cfg = NULL;
    struct sa_spool *spool = NULL;
    struct sa_err err = {0};
    int opt, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 's':
            es.stream = optarg;
            break;
        case 'S':
            es.source = optarg;
            break;
        case 'h':
            usage(stdout);
            return SA_EXIT_OK;
        default:
            usage(stderr);
            return SA_EXIT_USAGE;
        }
    }
    if (!config_path || optind != argc) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    es.err = &err;
    rc = sa_config_load(config_path, &cfg, &err);
    if (!rc)
        rc = sa_spool_open(&spool, &cfg->spool, SA_SPOOL_READONLY, &err);
    if (!rc) {
        es.out = out_path ? fopen(out_path, "w") : stdout;
        if (!es.out)
            rc = sa_err_set(&err, SA_EIO, "cannot write %s: %s", out_path,
                            strerror(errno));
    }
    if (!rc) {
        fputs("id,source,location,reason,raw\r\n", es.out);
        rc = walk(spool, export_one, &es, &err);
    }
    if (es.out && es.out != stdout && fclose(es.out) != 0 && !rc)
        rc = sa_err_set(&err, SA_EIO, "cannot write %s: %s", out_path, strerror(errno));
    else if (es.out == stdout)
        fflush(stdout);
    if (!rc) {
        fprintf(stderr, "exported %zu open dead letters%s%s\n", es.n,
                out_path ? " to " : "", out_path ? out_path : "");
        if (es.skipped)
            fprintf(stderr,
                    "left out %zu dead letters of sinks (encoded records, "
                    "not rows)\n",
                    es.skipped);
    }
    sa_spool_close(spool);
    sa_config_free(cfg);
    return rc ? sa_cli_fail("deadletter export", &err) : SA_EXIT_OK;
}

/* --- replay ---------------------------------------------------------------- */

/* How the rows of one source are read: its CSV options, schema and the
 * column names (from --header, its columns:, or a file's header). */
struct replay_source {
    char *name;        /* the dead letters' source */
    char *header_file; /* whose header gave the names; NULL: not a file's */
    const struct sa_source_conf *conf; /* NULL: an ad-hoc import source */
    const struct sa_schema *schema;
    struct sa_csv_opts opts;
    int extra_ignore;
    char **names;
    size_t n_names;
    struct replay_source *next;
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
    /* totals */
    size_t resolved, failed, skipped;
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

/* Find (or set up) how the dead letter's rows are read. NULL with err set
 * when they cannot be: the dead letter is left as it is. */
static struct replay_source *
replay_source(struct replay *rp, const struct sa_deadletter_row *r, struct sa_err *err)
{
    const struct sa_source_conf *conf = NULL;
    const struct sa_csv_source_conf *csv = NULL;
    struct replay_source *rs = NULL;
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
    /* A source's mapping by its columns: is the same for every file; one
     * by header (or by --header for a file that is gone) is per file. */
    for (rs = rp->sources; rs; rs = rs->next)
        if (strcmp(rs->name, r->source) == 0 &&
            (!rs->header_file || (file && strcmp(rs->header_file, file) == 0)))
            break;
    if (rs) {
        free(file);
        return rs;
    }
    rs = calloc(1, sizeof *rs);
    if (!rs || !(rs->name = strdup(r->source))) {
        sa_err_set(err, SA_ENOMEM, "out of memory");
        goto fail;
    }
    rs->conf = conf;
    sa_csv_opts_default(&rs->opts);
    if (csv) {
        static const char delimiters[] = {',', ';', '\t', '|'};
        rs->opts.delimiter = delimiters[csv->delimiter];
        rs->opts.quote = csv->quote && *csv->quote ? csv->quote[0] : '"';
        rs->opts.max_field = (size_t)csv->max_field;
        rs->extra_ignore = csv->extra_columns == 1;
    }
    /* Without a source of that name (an `import` into a stream that has
     * none), the stream's schema with the defaults, as import did. */
    rs->schema = sa_schemas_lookup(rp->schemas, conf ? conf->schema : r->stream, err);
    if (!rs->schema) {
        sa_err_prefix(err, "source %s: ", r->source);
        goto fail;
    }
    if (csv && csv->columns.n) {
        /* As the source maps them: its columns: win over any header. */
        names = calloc(csv->columns.n + 1, sizeof *names);
        for (size_t i = 0; names && i < csv->columns.n; i++)
            if ((names[i] = strdup(csv->columns.v[i])))
                n_names++;
        if (!names || n_names != csv->columns.n) {
            sa_err_set(err, SA_ENOMEM, "out of memory");
            goto fail;
        }
    } else {
        rc = file ? file_header(file, &rs->opts, &names, &n_names, err) : SA_ENOTFOUND;
        if (rc == SA_ENOTFOUND && rp->n_header) {
            /* The last resort: the names given on the command line. */
            sa_err_clear(err);
            names = calloc(rp->n_header + 1, sizeof *names);
            for (size_t i = 0; names && i < rp->n_header; i++)
                if ((names[i] = strdup(rp->header[i])))
                    n_names++;
            if (!names || n_names != rp->n_header) {
                sa_err_set(err, SA_ENOMEM, "out of memory");
                goto fail;
            }
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
        } else if (rc) {
            goto fail;
        }
        /* A header is per file: files of one glob may differ. */
        rs->header_file = file;
        file = NULL;
    }
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
        free(rs->header_file);
        free(rs);
    }
    free(file);
    (void)rc;
    return NULL;
}

static void replay_sources_free(struct replay_source *rs)
{
    while (rs) {
        struct replay_source *next = rs->next;
        names_free(rs->names, rs->n_names);
        free(rs->name);
        free(rs->header_file);
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
    for (size_t i = 0; i < row.n_fields; i++) {
        int field = sa_record_field_index(rs->schema, rs->names[i]);
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

/* Append rp->rec to the chunk's segment of its stream and schema. */
static int add_record(struct replay *rp, const char *stream, struct sa_err *err)
{
    struct sa_segment_builder *b = NULL;
    size_t body_len;
    int64_t event_ms;
    int rc;

    rc = sa_record_encoded_size(&rp->rec, &body_len, err);
    if (rc)
        return rc == SA_ERECORD ? rc : sa_err_set(err, rc, "cannot encode a record");
    event_ms = sa_record_event_ms(&rp->rec, SA_EVENT_NOW);
    if (event_ms == SA_EVENT_NOW)
        event_ms = sa_now_ms();
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
    rc = sa_segment_add(b, event_ms, (const char *)rp->key.data, rp->key.len,
                        SA_OP_UPSERT, rp->body.data, body_len);
    if (rc)
        return sa_err_set(err, rc, "cannot add a record of %zu bytes", body_len);
    rp->chunk_bytes += body_len + rp->key.len;
    return SA_OK;
}

static int settle_add(struct replay *rp, int64_t id, const char *how,
                      const char *reason)
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
    text = strdup(reason ? reason : how);
    if (!text)
        return SA_ENOMEM;
    rp->texts[rp->n_settles] = text;
    rp->settles[rp->n_settles] = (struct sa_deadletter_settle){
        .id = id, .how = reason ? NULL : text, .reason = reason ? text : NULL};
    rp->n_settles++;
    if (!rp->first_id)
        rp->first_id = id;
    rp->last_id = id;
    if (reason)
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
    for (size_t i = 0; i < rp->n_settles; i++)
        if (rp->settles[i].id == r->id) {
            printf("dead letter %lld: given twice: replayed once\n", (long long)r->id);
            rp->skipped++;
            return SA_OK;
        }
    rs = replay_source(rp, r, err);
    if (!rs)
        return err->rc ? err->rc : SA_EINVAL;
    if (!text) {
        if (r->raw_file) {
            rc = read_ref_buf(r, &rp->ref, &rerr);
            if (rc) {
                printf("dead letter %lld: %s: skipped\n", (long long)r->id, rerr.msg);
                rp->skipped++;
                return SA_OK;
            }
            text = (const char *)rp->ref.data;
            len = rp->ref.len;
        } else {
            text = r->raw;
            len = r->raw_len;
        }
    }
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

/* --from FILE: a CSV with (at least) the columns id and raw, as export
 * writes it. Every id in it (or only `only_id`) is replayed with its raw. */
static int replay_from(struct replay *rp, int64_t only_id, struct sa_err *err)
{
    struct sa_csv_opts opts;
    struct sa_csv_parser parser;
    struct sa_csv_row row;
    struct sa_csv_error where;
    struct sa_buf data;
    FILE *fp = fopen(rp->from, "rb");
    size_t pos = 0, used;
    long id_col = -1, raw_col = -1;
    int found = 0, rc = SA_OK;

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
        {
            char idtext[32], *end;
            long long id;
            struct sa_deadletter_row *r = NULL;
            size_t l = row.fields[id_col].len;
            if (l == 0 || l >= sizeof idtext) {
                rc = sa_err_set(err, SA_EPARSE, "%s:%" PRId64 ": no dead letter id",
                                rp->from, row.line);
                break;
            }
            memcpy(idtext, row.fields[id_col].p, l);
            idtext[l] = '\0';
            errno = 0;
            id = strtoll(idtext, &end, 10);
            if (errno || *end || id <= 0) {
                rc = sa_err_set(err, SA_EPARSE,
                                "%s:%" PRId64 ": '%s' is not a dead "
                                "letter id",
                                rp->from, row.line, idtext);
                break;
            }
            if (only_id && id != only_id)
                continue;
            found = 1;
            rc = sa_spool_deadletter_get(rp->spool, id, &r, err);
            if (rc == SA_ENOTFOUND) {
                rc = sa_err_prefix(err, "%s:%" PRId64 ": ", rp->from, row.line);
                break;
            }
            if (!rc) {
                /* The field points into the parser's buffers, which the
                 * replay's own parsing does not touch. */
                rc = replay_one(rp, r, row.fields[raw_col].p, row.fields[raw_col].len,
                                err);
            }
            sa_spool_deadletter_rows_free(r, r ? 1 : 0);
        }
    }
    sa_csv_fini(&parser);
    sa_buf_fini(&data);
    if (!rc && only_id && !found)
        rc = sa_err_set(err, SA_ENOTFOUND, "%s has no row for dead letter %lld",
                        rp->from, (long long)only_id);
    return rc;
}

static int replay(int argc, char **argv)
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
    long long id = 0;
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
        case 'i': {
            char *end;
            errno = 0;
            id = strtoll(optarg, &end, 10);
            if (errno || *end || id <= 0) {
                fprintf(stderr,
                        "syncagent deadletter replay: --id: '%s' is not a dead "
                        "letter id\n",
                        optarg);
                return SA_EXIT_USAGE;
            }
            break;
        }
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
        rc = replay_from(&rp, id, &err);
    } else if (id) {
        struct sa_deadletter_row *r = NULL;
        rc = sa_spool_deadletter_get(rp.spool, id, &r, &err);
        if (!rc && r->resolved) {
            rc = sa_err_set(&err, SA_EINVAL,
                            "dead letter %lld is resolved already "
                            "(%s): it is not replayed twice",
                            id, r->resolved_how ? r->resolved_how : "");
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
    if (!rc)
        printf("replayed %zu dead letters, %zu still fail (open), %zu skipped\n",
               rp.resolved, rp.failed, rp.skipped);
out:
    chunk_clear(&rp);
    free(rp.segs);
    free(rp.settles);
    free(rp.texts);
    replay_sources_free(rp.sources);
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
    return rp.failed ? SA_EXIT_REJECTED : SA_EXIT_OK;
}

int sa_cmd_deadletter(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? SA_EXIT_USAGE : SA_EXIT_OK;
    }
    if (strcmp(argv[1], "list") == 0)
        return list(argc - 1, argv + 1);
    if (strcmp(argv[1], "export") == 0)
        return export(argc - 1, argv + 1);
    if (strcmp(argv[1], "replay") == 0)
        return replay(argc - 1, argv + 1);
    fprintf(stderr,
            "syncagent deadletter: unknown action '%s' (known: list, export, replay)\n",
            argv[1]);
    return SA_EXIT_USAGE;
}
