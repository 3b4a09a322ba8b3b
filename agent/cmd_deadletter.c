/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent deadletter list | export | replay | resolve`: the records that could not
 * be accepted (invariant I4), and the way back in for them.
 *
 *   list    every dead letter, open and resolved, with where it came from
 *           (file:line:column for CSV), why, and its raw input (escaped
 *           text, or base64 in JSON when it is not UTF-8; file, offset and
 *           length for a row kept by reference). A reader, like `status`.
 *   export  the open ones of CSV sources as a CSV a person can fix:
 *           id,source,location,reason,last_replay_error,raw (RFC 4180
 *           quoting), written to a temporary file renamed at the end.
 *   replay  ingests rows again -- each dead letter's stored raw row, or its
 *           fixed `raw` from an exported file -- through its source's own
 *           mapping: the row is parsed with the source's delimiter and
 *           quote, its columns named by the source's `columns:`, else by
 *           the header stored with the dead letter, else the header of
 *           the file it came from while that is the same file (its stored
 *           file_key; see sa_cmd_deadletter_same_file), else by --header. The records
 * and the resolution of their dead letters are one commit (with an audit row), so a row
 * never goes in twice: a dead letter resolved once is not replayed again. A row that
 * still fails stays open, its reason kept, with last_replay_error. A writer: it opens
 * the spool as `run` does. It lives in cmd_deadletter_replay.c. resolve closes dead
 * letters by hand (cmd_deadletter_replay.c).
 */
#include "agent/cmd_deadletter.h"
#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "agent/cli.h"
#include "agent/commands.h"
#include "agent/record.h"
#include "agent/source/csv.h"
#include "agent/source/file_key.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define PAGE 1000
/* The longest fingerprint a file key may name (the CSV source's is 1 KiB). */

void sa_cmd_deadletter_usage(FILE *out)
{
    fprintf(out,
            "usage: syncagent deadletter list -c FILE [--json] [--limit N]\n"
            "       syncagent deadletter export -c FILE [-o OUT.csv] [--stream S]\n"
            "                                   [--source NAME]\n"
            "       syncagent deadletter replay -c FILE (--id N | --all)\n"
            "                                   [--from FIXED.csv] [--header a,b,c]\n"
            "       syncagent deadletter resolve -c FILE --id N [--id M...]\n"
            "                                    --note TEXT\n"
            "\n"
            "list    Dead letters oldest first, open and resolved: id, time, stream,\n"
            "        source, location (file:line:column for CSV), state, the reason\n"
            "        and the raw input (bytes that are not UTF-8 escaped; JSON gives\n"
            "        them as raw_base64; a row kept by reference as raw_file,\n"
            "        raw_offset and raw_length).\n"
            "export  The open dead letters of CSV sources as a CSV to fix by hand:\n"
            "        id,source,location,reason,last_replay_error,raw (raw: the\n"
            "        rejected row, read back from its file when it was kept by\n"
            "        reference, and only if that file did not change since). The\n"
            "        file is written whole or not at all.\n"
            "replay  Ingest rows again through their source's mapping and mark\n"
            "        their dead letters resolved, in one commit with an audit row.\n"
            "        Each row is the stored raw row, or with --from the `raw` of its\n"
            "        id in a file written by export and fixed. Columns are named by\n"
            "        the source's columns:, else the header stored with the dead\n"
            "        letter, else its file's header if that file did not change,\n"
            "        else --header. A row that still fails stays open: its reason\n"
            "        is kept and last_replay_error says why the replay failed.\n"
            "        Resolved dead letters are never replayed again.\n"
            "resolve Close dead letters that cannot be fixed: resolved as \"closed\n"
            "        by hand: TEXT\", audited, never replayed.\n"
            "\n"
            "  -c, --config FILE   the agent's YAML config (required)\n"
            "      --json          list: one JSON object per line\n"
            "      --limit N       list: at most N entries (default: all)\n"
            "  -o, --output FILE   export: write here (default: stdout)\n"
            "      --stream S      export: only dead letters of stream S\n"
            "      --source NAME   export: only dead letters of source NAME\n"
            "      --id N          replay, resolve: dead letter N\n"
            "      --all           replay: every open dead letter (with --from:\n"
            "                      every id in the file)\n"
            "      --from FILE     replay: the fixed rows (columns id and raw)\n"
            "      --header a,b,c  replay: the column names of the rows when the\n"
            "                      source has no columns:, no header is stored with\n"
            "                      them and the file they came from is gone or\n"
            "                      changed\n"
            "      --note TEXT     resolve: why they are closed (required)\n"
            "  -h, --help          this help\n"
            "\n"
            "Exit: 0 ok, 1 runtime failure, 2 bad usage, 3 replay: some rows remain\n"
            "in the dead letters (they still fail, or cannot be read).\n");
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

/* --- the file a row came from ------------------------------------------------ */

int sa_cmd_deadletter_same_file(const struct sa_deadletter_row *r, const char *path,
                                struct sa_err *err)
{
    struct stat st;
    struct sa_file_key key;
    int fd, rc;

    if (stat(path, &st) != 0)
        return sa_err_set(err, errno == ENOENT ? SA_ENOTFOUND : SA_EIO,
                          "cannot read %s: %s", path, strerror(errno));
    if (!r->file_key) {
        /* No identity stored (a dead letter from before the source gave
         * one): a file whose inode changed after the dead letter was
         * written -- rewritten, replaced by a rename, appended to -- may
         * hold other columns or other bytes. */
        int64_t changed_ms =
            (int64_t)st.st_ctim.tv_sec * 1000 + st.st_ctim.tv_nsec / 1000000;
        if (changed_ms <= r->created_ms)
            return 1;
        sa_err_set(err, SA_EIO,
                   "%s changed after dead letter %lld was written, which does "
                   "not record the file's identity",
                   path, (long long)r->id);
        return 0;
    }
    if (sa_file_key_parse(r->file_key, &key) != 0)
        return sa_err_set(err, SA_ECORRUPT, "dead letter %lld: a file key '%s'",
                          (long long)r->id, r->file_key);
    if ((uintmax_t)st.st_dev != key.dev || (uintmax_t)st.st_ino != key.ino) {
        sa_err_set(err, SA_EIO,
                   "%s is another file than the one dead letter %lld was read "
                   "from (inode %ju, it was %ju): replaced since",
                   path, (long long)r->id, (uintmax_t)st.st_ino, key.ino);
        return 0;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sa_err_set(err, SA_EIO, "cannot read %s: %s", path, strerror(errno));
    rc = sa_file_key_matches(&key, fd, st.st_dev, st.st_ino);
    close(fd);
    if (!rc)
        sa_err_set(err, SA_EIO,
                   "%s changed since dead letter %lld was read from it (its "
                   "first %zu bytes differ)",
                   path, (long long)r->id, key.len);
    return rc;
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
    /* Bytes at an offset of another file are another row. */
    rc = sa_cmd_deadletter_same_file(r, r->raw_file, err);
    if (rc <= 0) {
        sa_err_prefix(err, "cannot read its row back: ");
        return rc ? rc : SA_EIO;
    }
    rc = SA_OK;
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
int sa_cmd_deadletter_read_ref_buf(const struct sa_deadletter_row *r,
                                   struct sa_buf *out, struct sa_err *err)
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
        if (r->last_replay_error)
            json_object_set_new(o, "last_replay_error",
                                json_string(r->last_replay_error));
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
    if (r->last_replay_error)
        printf("    last replay failed: %s\n", r->last_replay_error);
    if (r->resolved)
        printf("    resolved %s: %s\n", resolved_ts,
               r->resolved_how ? r->resolved_how : "");
}

/* Call fn for every dead letter, oldest first, a page at a time. fn returns
 * nonzero to stop (that value is returned). */
int sa_cmd_deadletter_walk(struct sa_spool *spool,
                           int (*fn)(void *, const struct sa_deadletter_row *),
                           void *arg, struct sa_err *err)
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
    rc = sa_config_load_offline(config_path, &cfg, &err);
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
int sa_cmd_deadletter_from_csv(const struct sa_deadletter_row *r)
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
    put_field(es->out, r->last_replay_error ? r->last_replay_error : "",
              r->last_replay_error ? strlen(r->last_replay_error) : 0, 0);
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
    char *tmp_path = NULL;
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
    rc = sa_config_load_offline(config_path, &cfg, &err);
    if (!rc)
        rc = sa_spool_open(&spool, &cfg->spool, SA_SPOOL_READONLY, &err);
    if (!rc && out_path) {
        /* Written beside it and renamed at the end: an export that fails
         * half way leaves no half-written file to be fixed and replayed. */
        mode_t mask = umask(0);
        int fd;
        umask(mask);
        size_t tmp_size = strlen(out_path) + sizeof ".XXXXXX";
        tmp_path = malloc(tmp_size);
        if (!tmp_path) {
            rc = sa_err_set(&err, SA_ENOMEM, "out of memory");
        } else {
            snprintf(tmp_path, tmp_size, "%s.XXXXXX", out_path);
            fd = mkstemp(tmp_path);
            if (fd < 0 || fchmod(fd, 0666 & ~mask) != 0 ||
                !(es.out = fdopen(fd, "w"))) {
                rc = sa_err_set(&err, SA_EIO, "cannot write %s: %s", out_path,
                                strerror(errno));
                if (fd >= 0) {
                    close(fd);
                    unlink(tmp_path);
                }
                free(tmp_path);
                tmp_path = NULL;
            }
        }
    } else if (!rc) {
        es.out = stdout;
    }
    if (!rc) {
        fputs("id,source,location,reason,last_replay_error,raw\r\n", es.out);
        rc = walk(spool, export_one, &es, &err);
    }
    if (es.out && es.out != stdout && fclose(es.out) != 0 && !rc)
        rc = sa_err_set(&err, SA_EIO, "cannot write %s: %s", out_path, strerror(errno));
    else if (es.out == stdout)
        fflush(stdout);
    if (tmp_path && !rc && rename(tmp_path, out_path) != 0)
        rc = sa_err_set(&err, SA_EIO, "cannot write %s: %s", out_path, strerror(errno));
    if (tmp_path && rc)
        unlink(tmp_path);
    free(tmp_path);
    if (!rc) {
        fprintf(stderr, "exported %zu open dead letters%s%s\n", es.n,
                out_path ? " to " : "", out_path ? out_path : "");
        if (es.n == 0 && (es.stream || es.source))
            fprintf(stderr, "no open dead letters for %s %s\n",
                    es.stream ? "stream" : "source", es.stream ? es.stream : es.source);
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
        return sa_cmd_deadletter_replay(argc - 1, argv + 1);
    if (strcmp(argv[1], "resolve") == 0)
        return sa_cmd_deadletter_resolve(argc - 1, argv + 1);
    fprintf(stderr,
            "syncagent deadletter: unknown action '%s' (known: list, export, replay, "
            "resolve)\n",
            argv[1]);
    return SA_EXIT_USAGE;
}
