/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file sink: writes records into files in a directory, for archiving,
 * for air-gapped hand-over and as the simplest end-to-end check.
 *
 * format: ndjson (default)
 *   One JSON object per line, made by sa_encode_json with the record's
 *   identity, so every line carries "_origin_id", "_seq" and "_op" (I3)
 *   and "_version" (its version for last-writer-wins, DESIGN.md §6)
 *   besides the fields, which have the shape of the newest version of the
 *   stream's schema (sa_sink_schema). Files: <stream>-<UTC time>-<n>.ndjson.
 *
 * format: avro
 *   Avro object container files (deflate codec) with the segment's writer
 *   schema embedded as written (its .avsc text, so logicalType, default
 *   and doc reach the reader; sync/ocf.h): one file per stream and schema
 *   version,
 *   <stream>-v<version>-<UTC time>-<n>.avro. The datum holds the fields
 *   only, so the identity goes into a sidecar next to it,
 *   <same name>.ids: line i is {"_origin_id":…,"_seq":…,"_op":…} of
 *   record i of the container.
 *
 * Files rotate when the next record would take them past rotate_bytes
 * (for avro the uncompressed size of the records counts, so files stay
 * below it). A new file never overwrites an old one (O_EXCL, <n> bumped).
 *
 * Acknowledgement (I2): send() writes the records, flushes and, with
 * `fsync: true`, fsyncs the file (and the directory after creating one);
 * only then does it queue an OK ack for the range, which poll_acks hands
 * over. A write() alone is not an ack. A record that cannot be decoded
 * with its writer schema is acked SA_SINK_REJECT (dead-lettered by the
 * dispatcher). A write error (ENOSPC, EIO) fails the whole send with the
 * path and strerror; the dispatcher backs off and sends the range again.
 * The sink is at-least-once by design: a crash between the fsync and the
 * dispatcher's cursor write, or a send that fails after a rotation, writes
 * records again into a new file; (_origin_id, _seq) tells them apart. A
 * crash can also leave an avro container with more records than its .ids
 * lines: those records are the unacknowledged tail and are sent again.
 */
#include "sync/sink.h"
#include "agent/base/fsutil.h"

#include "agent/base/buf.h"
#include "agent/base/log.h"
#include "sync/encode.h"
#include "sync/ocf.h"

#include <avro.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AVRO_BLOCK_BYTES (1024 * 1024)
#define LINE_MAX_BYTES (64u * 1024 * 1024)

enum file_format { FMT_NDJSON, FMT_AVRO };

struct file_opts {
    char *path;
    int format; /* enum file_format */
    int64_t rotate_bytes;
    int fsync;
};

static const char *const format_symbols[] = {"ndjson", "avro", NULL};

static const struct sa_conf_entry file_conf[] = {
    {.type = SA_CONF_STR, .key = "path", .offset = offsetof(struct file_opts, path),
     .desc = "directory the files are written to (created when missing)",
     .flags = SA_CONF_REQUIRED | SA_CONF_PATH},
    {.type = SA_CONF_ENUM, .key = "format", .def = "ndjson",
     .offset = offsetof(struct file_opts, format), .symbols = format_symbols,
     .desc = "ndjson: one JSON object per line with _origin_id/_seq/_op; "
             "avro: Avro object container files plus a .ids sidecar"},
    {.type = SA_CONF_SIZE, .key = "rotate_bytes", .def = "64MiB",
     .offset = offsetof(struct file_opts, rotate_bytes), .min = 1,
     .max = INT64_MAX, .desc = "start a new file before one grows past this"},
    {.type = SA_CONF_BOOL, .key = "fsync", .def = "true",
     .offset = offsetof(struct file_opts, fsync),
     .desc = "fsync each file before acknowledging (off: faster, but a power "
             "loss can lose acknowledged records)"},
    {.key = NULL},
};

/* The file currently written for one stream. */
struct out_file {
    char *stream;
    int64_t schema_id;
    char path[4096];
    int64_t bytes;    /* in the file (ndjson), or estimated (avro) */
    uint64_t records; /* in the file */
    int fd;           /* ndjson */
    FILE *fp;         /* avro container */
    struct sa_ocf_writer ocf; /* writes into fp */
    FILE *ids;                /* avro sidecar */
};

struct file_sink {
    const struct file_opts *o;
    const char *name;
    int dir_fd;
    struct out_file *files;
    size_t n_files;
    unsigned next_n; /* the <n> of file names */
    struct sa_buf pending;   /* ndjson lines not yet written */
    struct sa_buf line;
    struct sa_ack_list acks; /* durable, waiting for poll_acks */
};

/* --- files -------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int io_error(struct file_sink *fs, const char *what, const char *path,
                    int errnum, struct sa_err *err)
{
    return sa_err_set(err, SA_EIO, "sink %s: %s %s: %s", fs->name, what, path,
                      strerror(errnum));
}

/* Close f's file. With `sync`, everything written is fsynced first;
 * errors are reported (a file that failed is closed anyway). */
static int close_file(struct file_sink *fs, struct out_file *f, int sync,
                      struct sa_err *err)
{
    int rc = SA_OK;

    if (f->fd >= 0) {
        if (sync && fs->o->fsync && fsync(f->fd) != 0)
            rc = io_error(fs, "fsync", f->path, errno, err);
        if (close(f->fd) != 0 && !rc)
            rc = io_error(fs, "close", f->path, errno, err);
        f->fd = -1;
    }
    if (f->fp) {
        if (sync && (sa_ocf_flush(&f->ocf, NULL) != SA_OK ||
                     (fs->o->fsync && fsync(fileno(f->fp)) != 0)))
            rc = io_error(fs, "writing", f->path, errno, err);
        sa_ocf_fini(&f->ocf);
        if (fclose(f->fp) != 0 && !rc)
            rc = io_error(fs, "closing", f->path, errno, err);
        f->fp = NULL;
    }
    if (f->ids) {
        if (sync && (fflush(f->ids) != 0 ||
                     (fs->o->fsync && fsync(fileno(f->ids)) != 0)) && !rc)
            rc = io_error(fs, "writing", f->path, errno, err);
        if (fclose(f->ids) != 0 && !rc)
            rc = io_error(fs, "closing", f->path, errno, err);
        f->ids = NULL;
    }
    f->bytes = 0;
    f->records = 0;
    return rc;
}

/* Create the next file for f: <stream>[-v<version>]-<time>-<n><suffix>,
 * never reusing a name. Returns the open fd. */
static int create_file(struct file_sink *fs, struct out_file *f, int version,
                       const char *suffix, int *fd_out, struct sa_err *err)
{
    char stamp[32], name[512];
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    for (;;) {
        int fd;
        if (version > 0)
            snprintf(name, sizeof name, "%s-v%d-%s-%u%s", f->stream, version,
                     stamp, fs->next_n++, suffix);
        else
            snprintf(name, sizeof name, "%s-%s-%u%s", f->stream, stamp,
                     fs->next_n++, suffix);
        snprintf(f->path, sizeof f->path, "%s/%s", fs->o->path, name);
        fd = openat(fs->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                    0644);
        if (fd >= 0) {
            /* The new name must survive a crash with the data in it. */
            if (fs->o->fsync && fsync(fs->dir_fd) != 0) {
                int e = errno;
                close(fd);
                return io_error(fs, "fsync of the directory of", f->path, e, err);
            }
            *fd_out = fd;
            return SA_OK;
        }
        if (errno != EEXIST)
            return io_error(fs, "creating", f->path, errno, err);
    }
}

static int open_ndjson(struct file_sink *fs, struct out_file *f,
                       struct sa_err *err)
{
    return create_file(fs, f, 0, ".ndjson", &f->fd, err);
}

static int open_avro(struct file_sink *fs, struct out_file *f,
                     const struct sa_schema *schema, struct sa_err *err)
{
    char ids_path[sizeof f->path + 8];
    int fd, rc;

    rc = create_file(fs, f, schema->version, ".avro", &fd, err);
    if (rc)
        return rc;
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        rc = io_error(fs, "opening", f->path, errno, err);
        close(fd);
        return rc;
    }
    if ((rc = sa_ocf_open(&f->ocf, f->fp, schema->definition, "deflate",
                          AVRO_BLOCK_BYTES, err))) {
        sa_err_prefix(err, "sink %s: creating %s: ", fs->name, f->path);
        fclose(f->fp);
        f->fp = NULL;
        return rc;
    }
    snprintf(ids_path, sizeof ids_path, "%s.ids", f->path);
    fd = open(ids_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || !(f->ids = fdopen(fd, "w"))) {
        rc = io_error(fs, "creating", ids_path, errno, err);
        if (fd >= 0)
            close(fd);
        return rc;
    }
    f->schema_id = schema->id;
    return SA_OK;
}

static struct out_file *file_for(struct file_sink *fs, const char *stream)
{
    struct out_file *v, *f;

    for (size_t i = 0; i < fs->n_files; i++)
        if (strcmp(fs->files[i].stream, stream) == 0)
            return &fs->files[i];
    v = realloc(fs->files, (fs->n_files + 1) * sizeof *v);
    if (!v)
        return NULL;
    fs->files = v;
    f = &v[fs->n_files];
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->stream = strdup(stream);
    if (!f->stream)
        return NULL;
    /* Stream names come from the config; keep them from naming another
     * directory. */
    for (char *p = f->stream; *p; p++)
        if (*p == '/')
            *p = '_';
    fs->n_files++;
    return f;
}

/* --- ndjson ------------------------------------------------------------- */

static int flush_pending(struct file_sink *fs, struct out_file *f,
                         struct sa_err *err)
{
    int rc;

    if (fs->pending.len == 0)
        return SA_OK;
    if (f->fd < 0 && (rc = open_ndjson(fs, f, err)) != SA_OK)
        return rc;
    if (write_all(f->fd, fs->pending.data, fs->pending.len) != 0) {
        rc = io_error(fs, "writing", f->path, errno, err);
        /* Do not leave half a line for the retry to append to. */
        if (ftruncate(f->fd, (off_t)f->bytes) != 0)
            sa_log_warn("file not truncated after a failed write", "sink",
                        fs->name, "path", f->path);
        close_file(fs, f, 0, NULL);
        return rc;
    }
    f->bytes += (int64_t)fs->pending.len;
    sa_buf_reset(&fs->pending);
    return SA_OK;
}

/* The record's version (x-version or the ingest clock) goes into the
 * line as "_version", before the closing brace sa_encode_json wrote. */
static int put_version(struct sa_buf *line, int64_t version)
{
    char text[40];
    int n = snprintf(text, sizeof text, ",\"_version\":%" PRId64 "}", version);

    line->len--;
    return sa_buf_append(line, text, (size_t)n);
}

static int send_ndjson(struct file_sink *fs, struct sa_sink *sink,
                       struct out_file *f, const struct sa_schema *schema,
                       const struct sa_segment_view *view,
                       struct sa_ack_list *acks, struct sa_err *err)
{
    struct sa_segment_iter it;
    struct sa_record_view rec;
    uint32_t ok_first = view->start_index, ok_count = 0;
    int rc;

    sa_buf_reset(&fs->pending);
    sa_segment_iter_init(&it, view);
    while ((rc = sa_segment_iter_next(&it, &rec, err)) == SA_OK &&
           rec.index < view->count) {
        struct sa_err enc = {0};
        sa_buf_reset(&fs->line);
        if (sa_encode_json(schema, rec.body, rec.body_len, sink->origin_id, &rec,
                           &fs->line, &enc) != SA_OK ||
            put_version(&fs->line, rec.version) != SA_OK ||
            sa_buf_append_byte(&fs->line, '\n') != SA_OK) {
            if (ok_count &&
                (rc = sa_ack_list_push(acks, view->id, ok_first, ok_count,
                                       SA_SINK_OK, NULL)))
                return rc;
            rc = sa_ack_list_push(acks, view->id, rec.index, 1, SA_SINK_REJECT,
                                  enc.msg[0] ? enc.msg : "cannot encode as JSON");
            if (rc)
                return rc;
            ok_first = rec.index + 1;
            ok_count = 0;
            continue;
        }
        if (f->bytes + (int64_t)(fs->pending.len + fs->line.len) >
                fs->o->rotate_bytes &&
            f->bytes + (int64_t)fs->pending.len > 0) {
            if ((rc = flush_pending(fs, f, err)) ||
                (rc = close_file(fs, f, 1, err)))
                return rc;
        }
        if ((rc = sa_buf_append(&fs->pending, fs->line.data, fs->line.len)))
            return sa_err_set(err, rc, "sink %s: %s", fs->name, sa_strerror(rc));
        f->records++;
        ok_count++;
    }
    if (rc < 0)
        return rc;
    if ((rc = flush_pending(fs, f, err)))
        return rc;
    if (f->fd >= 0 && fs->o->fsync && fsync(f->fd) != 0) {
        rc = io_error(fs, "fsync", f->path, errno, err);
        close_file(fs, f, 0, NULL);
        return rc;
    }
    if (ok_count)
        return sa_ack_list_push(acks, view->id, ok_first, ok_count, SA_SINK_OK,
                                NULL);
    return SA_OK;
}

/* --- avro --------------------------------------------------------------- */

static int sync_avro(struct file_sink *fs, struct out_file *f, struct sa_err *err)
{
    if (!f->fp)
        return SA_OK;
    if (sa_ocf_flush(&f->ocf, NULL) != SA_OK ||
        (fs->o->fsync && fsync(fileno(f->fp)) != 0) || fflush(f->ids) != 0 ||
        (fs->o->fsync && fsync(fileno(f->ids)) != 0)) {
        int rc = io_error(fs, "writing", f->path, errno, err);
        close_file(fs, f, 0, NULL);
        return rc;
    }
    return SA_OK;
}

static int send_avro(struct file_sink *fs, struct sa_sink *sink,
                     struct out_file *f, const struct sa_schema *schema,
                     const struct sa_segment_view *view,
                     struct sa_ack_list *acks, struct sa_err *err)
{
    struct sa_segment_iter it;
    struct sa_record_view rec;
    uint32_t ok_first = view->start_index, ok_count = 0;
    int rc;

    if (f->fp && f->schema_id != schema->id && (rc = close_file(fs, f, 1, err)))
        return rc;
    sa_segment_iter_init(&it, view);
    while ((rc = sa_segment_iter_next(&it, &rec, err)) == SA_OK &&
           rec.index < view->count) {
        const char *bad = NULL;
        char why[200];

        /* A record larger than a block gets a block of its own. */
        if (f->fp && f->records > 0 &&
            f->bytes + (int64_t)rec.body_len > fs->o->rotate_bytes &&
            (rc = close_file(fs, f, 1, err)))
            return rc;
        if (!f->fp && (rc = open_avro(fs, f, schema, err))) {
            close_file(fs, f, 0, NULL);
            return rc;
        }
        {
            /* The body goes into the container as it is: our bounded
             * decoder checks that it is one whole record of the schema. */
            struct sa_err enc = {0};
            sa_buf_reset(&fs->line);
            if (sa_encode_json(schema, rec.body, rec.body_len, NULL, NULL,
                               &fs->line, &enc) != SA_OK) {
                snprintf(why, sizeof why, "%s", enc.msg);
                bad = why;
            }
        }
        if (bad) {
            if (ok_count &&
                (rc = sa_ack_list_push(acks, view->id, ok_first, ok_count,
                                       SA_SINK_OK, NULL)))
                return rc;
            if ((rc = sa_ack_list_push(acks, view->id, rec.index, 1,
                                       SA_SINK_REJECT, bad)))
                return rc;
            ok_first = rec.index + 1;
            ok_count = 0;
            continue;
        }
        if ((rc = sa_ocf_append(&f->ocf, rec.body, rec.body_len, err))) {
            sa_err_prefix(err, "sink %s: %s: ", fs->name, f->path);
            close_file(fs, f, 0, NULL);
            return rc;
        }
        if (fprintf(f->ids, "{\"_origin_id\":\"%s\",\"_seq\":%" PRIu64
                            ",\"_op\":\"%s\"}\n",
                    sink->origin_id, rec.seq,
                    rec.op == SA_OP_DELETE ? "delete" : "upsert") < 0) {
            rc = io_error(fs, "writing the .ids of", f->path, errno, err);
            close_file(fs, f, 0, NULL);
            return rc;
        }
        f->bytes += (int64_t)rec.body_len;
        f->records++;
        ok_count++;
    }
    if (rc < 0)
        return rc;
    if ((rc = sync_avro(fs, f, err)))
        return rc;
    if (ok_count)
        return sa_ack_list_push(acks, view->id, ok_first, ok_count, SA_SINK_OK,
                                NULL);
    return SA_OK;
}

/* --- operations --------------------------------------------------------- */

static void file_close(struct sa_sink *sink);

/*
 * A crash (kill -9, power loss) in the middle of a write can leave an
 * NDJSON file ending in part of a line. Those records were never
 * acknowledged -- the ack comes after fsync -- so they are sent again
 * after the restart; the partial line only has to go. Cut every *.ndjson
 * file in the directory back to its last newline.
 */
static int repair_partial_lines(struct file_sink *fs, struct sa_err *err)
{
    int dfd = dup(fs->dir_fd);
    DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
    struct dirent *de;
    int rc = SA_OK;

    if (!dir) {
        int e = errno;
        if (dfd >= 0)
            close(dfd); /* fdopendir takes it only when it succeeds */
        return io_error(fs, "reading directory", fs->o->path, e, err);
    }
    while (rc == SA_OK && (de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);
        char buf[4096];
        struct stat st;
        off_t end, keep = 0;
        int fd;

        if (len < 7 || strcmp(de->d_name + len - 7, ".ndjson") != 0)
            continue;
        fd = openat(fs->dir_fd, de->d_name, O_RDWR | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0) {
            rc = io_error(fs, "opening", de->d_name, errno, err);
            if (fd >= 0)
                close(fd);
            break;
        }
        /* Find the last newline, reading backwards a block at a time. */
        for (end = st.st_size; end > 0 && keep == 0;) {
            size_t chunk = end > (off_t)sizeof buf ? sizeof buf : (size_t)end;
            ssize_t got = pread(fd, buf, chunk, end - (off_t)chunk);
            if (got != (ssize_t)chunk) {
                rc = io_error(fs, "reading", de->d_name, errno ? errno : EIO, err);
                break;
            }
            for (size_t i = chunk; i > 0; i--)
                if (buf[i - 1] == '\n') {
                    keep = end - (off_t)chunk + (off_t)i;
                    break;
                }
            end -= (off_t)chunk;
        }
        if (rc == SA_OK && keep != st.st_size) {
            if (ftruncate(fd, keep) != 0 || fsync(fd) != 0) {
                rc = io_error(fs, "truncating", de->d_name, errno, err);
            } else {
                char cut[32];
                snprintf(cut, sizeof cut, "%lld", (long long)(st.st_size - keep));
                sa_log_warn("partial line left by a crash removed", "sink", fs->name,
                            "file", de->d_name, "bytes", cut);
            }
        }
        close(fd);
    }
    closedir(dir);
    return rc;
}

/* What open would refuse, found without creating anything: the directory
 * must be one, or be creatable. */
static int file_check(const struct sa_sink_conf *conf, struct sa_err *err)
{
    const struct file_opts *o = conf->opts;
    char why[200];

    if (!o || !o->path || !o->path[0])
        return sa_conf_fail(&conf->origin, "path", SA_ECONFIG, err, "is required");
    if (o->format != FMT_NDJSON && o->format != FMT_AVRO)
        return sa_conf_fail(&conf->origin, "format", SA_ECONFIG, err, "bad format %d",
                            o->format);
    if (o->rotate_bytes <= 0)
        return sa_conf_fail(&conf->origin, "rotate_bytes", SA_ECONFIG, err,
                            "must be > 0");
    if (sa_dir_usable(o->path, why, sizeof why) != 0)
        return sa_conf_fail(&conf->origin, "path", SA_ECONFIG, err, "%s: %s", o->path,
                            why);
    return SA_OK;
}

static int file_open(struct sa_sink *sink, struct sa_err *err)
{
    const struct file_opts *o = sink->conf->opts;
    struct file_sink *fs;
    int rc;

    if ((rc = file_check(sink->conf, err)))
        return rc;
    fs = calloc(1, sizeof *fs);
    if (!fs)
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory",
                          sink->conf->name);
    fs->o = o;
    fs->name = sink->conf->name;
    fs->dir_fd = -1;
    sa_buf_init(&fs->pending, SIZE_MAX / 2);
    sa_buf_init(&fs->line, LINE_MAX_BYTES);
    sink->ctx = fs;
    if (sa_mkdirs(o->path, 0755, NULL, 0) != 0) {
        io_error(fs, "creating directory", o->path, errno, err);
        file_close(sink);
        return SA_EIO;
    }
    fs->dir_fd = open(o->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs->dir_fd < 0) {
        io_error(fs, "opening directory", o->path, errno, err);
        file_close(sink);
        return SA_EIO;
    }
    if (repair_partial_lines(fs, err) != SA_OK) {
        file_close(sink);
        return err->rc;
    }
    return SA_OK;
}

static int file_send(struct sa_sink *sink, const struct sa_segment_view *view,
                     struct sa_err *err)
{
    struct file_sink *fs = sink->ctx;
    const struct sa_schema *schema;
    struct out_file *f;
    struct sa_ack_list acks = {0};
    int rc;

    rc = sa_sink_schema(sink, view->schema_id, &schema, err);
    if (rc)
        return rc;
    f = file_for(fs, view->stream);
    if (!f)
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", fs->name);
    if (fs->o->format == FMT_AVRO)
        rc = send_avro(fs, sink, f, schema, view, &acks, err);
    else
        rc = send_ndjson(fs, sink, f, schema, view, &acks, err);
    /* Acks become visible only once everything in this send is durable. */
    for (size_t i = 0; rc == SA_OK && i < acks.n; i++)
        rc = sa_ack_list_push(&fs->acks, acks.v[i].segment_id,
                              acks.v[i].first_index, acks.v[i].count,
                              acks.v[i].outcome, acks.v[i].reason);
    sa_ack_list_fini(&acks);
    if (rc == SA_ENOMEM)
        sa_err_set(err, rc, "sink %s: out of memory", fs->name);
    return rc;
}

static int file_poll_acks(struct sa_sink *sink, struct sa_ack_list *acks,
                          int timeout_ms)
{
    struct file_sink *fs = sink->ctx;
    int rc = SA_OK;

    /* Outcomes are known when send returns: nothing to wait for. */
    (void)timeout_ms;
    for (size_t i = 0; rc == SA_OK && i < fs->acks.n; i++)
        rc = sa_ack_list_push(acks, fs->acks.v[i].segment_id,
                              fs->acks.v[i].first_index, fs->acks.v[i].count,
                              fs->acks.v[i].outcome, fs->acks.v[i].reason);
    if (rc == SA_OK)
        sa_ack_list_clear(&fs->acks);
    return rc;
}

static void file_close(struct sa_sink *sink)
{
    struct file_sink *fs = sink->ctx;

    if (!fs)
        return;
    for (size_t i = 0; i < fs->n_files; i++) {
        struct sa_err err = {0};
        if (close_file(fs, &fs->files[i], 1, &err))
            sa_log_warn("file sink close failed", "sink", fs->name, "error",
                        err.msg);
        free(fs->files[i].stream);
    }
    free(fs->files);
    if (fs->dir_fd >= 0)
        close(fs->dir_fd);
    sa_buf_fini(&fs->pending);
    sa_buf_fini(&fs->line);
    sa_ack_list_fini(&fs->acks);
    free(fs);
    sink->ctx = NULL;
}

const struct sa_sink_ops sa_sink_file_ops = {
    .name = "file",
    .desc = "NDJSON or Avro container files in a directory, rotated by size",
    .conf = file_conf,
    .opts_size = sizeof(struct file_opts),
    .check = file_check,
    .open = file_open,
    .send = file_send,
    .poll_acks = file_poll_acks,
    .close = file_close,
};
