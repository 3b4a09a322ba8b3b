/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool's status and verification (spool.h): the figures of `status`
 * from one snapshot, lag and pending records behind a cursor, and the
 * checks of `spool verify`. Split out of spool.c; the handle and the
 * helpers are in spool_private.h.
 */
#include "store/spool.h"

#include "agent/base/buf.h"
#include "store/migrate.h"
#include "store/spool_private.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --- status and verification -------------------------------------------- */

static int64_t file_size(const char *path, const char *suffix)
{
    char name[4096];
    struct stat st;

    snprintf(name, sizeof name, "%s%s", path, suffix);
    return stat(name, &st) == 0 ? (int64_t)st.st_size : 0;
}

static int status_streams(struct sa_spool *s, struct sa_spool_status *st,
                          struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(s, STMT_STATUS_STREAMS, err);
    size_t cap = 0;
    int src, rc = SA_OK;

    if (!stmt)
        return stmt_err(err);
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct sa_stream_stat *x;
        if (st->n_streams == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            x = realloc(st->streams, ncap * sizeof *x);
            if (!x) {
                rc = sa_err_set(err, SA_ENOMEM, "spool %s: out of memory",
                                s->path);
                goto out;
            }
            st->streams = x;
            cap = ncap;
        }
        x = &st->streams[st->n_streams++];
        memset(x, 0, sizeof *x);
        snprintf(x->stream, sizeof x->stream, "%s",
                 (const char *)sqlite3_column_text(stmt, 0));
        x->segments = sqlite3_column_int64(stmt, 1);
        x->records = sqlite3_column_int64(stmt, 2);
        x->bytes = sqlite3_column_int64(stmt, 3);
        x->first_seq = (uint64_t)sqlite3_column_int64(stmt, 4);
        x->last_seq = (uint64_t)sqlite3_column_int64(stmt, 5);
        x->oldest_created_ms = sqlite3_column_int64(stmt, 6);
    }
    if (src != SQLITE_DONE)
        rc = fail(s, src, "cannot sum up streams", err);
out:
    stmt_done(stmt);
    return rc;
}

static int status_sinks(struct sa_spool *s, struct sa_spool_status *st,
                        struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(s, STMT_CURSOR_LIST, err);
    size_t cap = 0;
    int src, rc = SA_OK;

    if (!stmt)
        return stmt_err(err);
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct sa_sink_stat *x;
        if (st->n_sinks == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            x = realloc(st->sinks, ncap * sizeof *x);
            if (!x) {
                rc = sa_err_set(err, SA_ENOMEM, "spool %s: out of memory",
                                s->path);
                goto out;
            }
            st->sinks = x;
            cap = ncap;
        }
        x = &st->sinks[st->n_sinks++];
        memset(x, 0, sizeof *x);
        snprintf(x->sink, sizeof x->sink, "%s",
                 (const char *)sqlite3_column_text(stmt, 0));
        x->cursor.segment_id = sqlite3_column_int64(stmt, 1);
        x->cursor.record_index = (uint32_t)sqlite3_column_int64(stmt, 2);
        x->updated_ms = sqlite3_column_int64(stmt, 3);
        x->superseded = sqlite3_column_int64(stmt, 4);
    }
    if (src != SQLITE_DONE)
        rc = fail(s, src, "cannot list sink cursors", err);
out:
    stmt_done(stmt);
    return rc;
}

int sa_spool_status(struct sa_spool *spool, struct sa_spool_status *out,
                    struct sa_err *err)
{
    int64_t next_seq = 0;
    int rc;

    memset(out, 0, sizeof *out);
    snprintf(out->origin_id, sizeof out->origin_id, "%s", spool->origin_id);
    /* One read transaction: every figure from the same snapshot. */
    rc = run(spool, STMT_BEGIN_READ, "begin", err);
    if (!rc)
        rc = meta_get_int(spool, "next_seq", &next_seq, err);
    if (!rc)
        rc = used_bytes(spool, &out->used_bytes, err);
    if (!rc)
        rc = status_streams(spool, out, err);
    if (!rc)
        rc = status_sinks(spool, out, err);
    if (!rc)
        rc = sa_spool_deadletters_count(spool, &out->deadletters,
                                        &out->deadletters_open, err);
    if (!rc)
        rc = step_int(spool, STMT_AUDIT_DROPPED, &out->audit_dropped_records,
                      "cannot sum up drops", err);
    if (!rc)
        rc = status_blocked(spool, out, err);
    if (!rc)
        rc = run(spool, STMT_COMMIT, "end of read", err);
    if (rc) {
        rollback(spool);
        sa_spool_status_fini(out);
        return rc;
    }
    out->next_seq = (uint64_t)next_seq;
    /* What the spool takes on disk: the database and its WAL. */
    out->file_bytes = file_size(spool->path, "") + file_size(spool->path, "-wal");
    return SA_OK;
}

void sa_spool_status_fini(struct sa_spool_status *st)
{
    if (!st)
        return;
    free(st->streams);
    free(st->sinks);
    st->streams = NULL;
    st->sinks = NULL;
    st->n_streams = st->n_sinks = 0;
}

int sa_spool_lag(struct sa_spool *spool, const struct sa_cursor *cursor,
                 const char *const *streams, size_t n_streams,
                 int64_t *records, int64_t *oldest_ms, struct sa_err *err)
{
    sqlite3_stmt *stmt;
    int src, rc = SA_OK;

    stmt = stream_stmt(spool, STMT_LAG_ALL, STMT_LAG_ONE, STMT_LAG_SET, streams,
                       n_streams, err);
    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_int64(stmt, 1, cursor->segment_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(stmt, 2, cursor->record_index);
    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    if (src == SQLITE_ROW) {
        *records = sqlite3_column_int64(stmt, 0);
        *oldest_ms = sqlite3_column_int64(stmt, 1);
    } else {
        rc = fail(spool, src, "cannot compute lag", err);
    }
    stmt_done(stmt);
    return rc;
}

int sa_spool_pending(struct sa_spool *spool, const struct sa_cursor *cursor,
                     const char *const *streams, size_t n_streams,
                     int *pending, struct sa_err *err)
{
    sqlite3_stmt *stmt;
    int src, rc = SA_OK;

    stmt = stream_stmt(spool, STMT_PENDING_ALL, STMT_PENDING_ONE,
                       STMT_PENDING_SET, streams, n_streams, err);
    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_int64(stmt, 1, cursor->segment_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(stmt, 2, cursor->record_index);
    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    if (src == SQLITE_ROW || src == SQLITE_DONE)
        *pending = src == SQLITE_ROW;
    else
        rc = fail(spool, src, "cannot look for pending records", err);
    stmt_done(stmt);
    return rc;
}

static void problem(void (*report)(void *, const char *), void *arg,
                    int *n_problems, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(void (*report)(void *, const char *), void *arg,
                    int *n_problems, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    (*n_problems)++;
    if (report)
        report(arg, msg);
}

static int verify_integrity(struct sa_spool *s,
                            void (*report)(void *, const char *), void *arg,
                            int *n_problems, struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(s, STMT_INTEGRITY_CHECK, err);
    int src, rc = SA_OK;

    if (!stmt)
        return stmt_err(err);
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(stmt, 0);
        if (line && strcmp(line, "ok") != 0)
            problem(report, arg, n_problems, "integrity_check: %s", line);
    }
    if (src != SQLITE_DONE) {
        if (sa_store_rc(src) == SA_ECORRUPT)
            problem(report, arg, n_problems, "integrity_check: %s",
                    sqlite3_errmsg(s->db));
        else
            rc = fail(s, src, "integrity_check", err);
    }
    stmt_done(stmt);
    return rc;
}

/* Decode one row of SEGMENT_ALL into a view (data in the handle). */
static int row_view(struct sa_spool *s, sqlite3_stmt *stmt,
                    struct sa_segment_view *view, struct sa_err *err)
{
    const void *blob = sqlite3_column_blob(stmt, 10);
    size_t blob_len = (size_t)sqlite3_column_bytes(stmt, 10);
    int codec = sqlite3_column_int(stmt, 9);
    int64_t bytes = sqlite3_column_int64(stmt, 5);
    int rc;

    memset(view, 0, sizeof *view);
    view->id = sqlite3_column_int64(stmt, 0);
    view->schema_id = sqlite3_column_int64(stmt, 2);
    view->first_seq = (uint64_t)sqlite3_column_int64(stmt, 3);
    view->count = (uint32_t)sqlite3_column_int64(stmt, 4);
    sa_buf_reset(&s->view_data);
    if (codec == SA_CODEC_DEFLATE)
        rc = sa_segment_decompress(blob, blob_len, &s->view_data, err);
    else if (codec == SA_CODEC_NONE)
        rc = sa_buf_append(&s->view_data, blob, blob_len)
                 ? sa_err_set(err, SA_ENOMEM, "segment too large")
                 : SA_OK;
    else
        rc = sa_err_set(err, SA_ECORRUPT, "unknown codec %d", codec);
    if (rc)
        return rc;
    if ((int64_t)s->view_data.len != bytes)
        return sa_err_set(err, SA_ECORRUPT, "%zu bytes of frames, not %lld",
                          s->view_data.len, (long long)bytes);
    view->data = s->view_data.data;
    view->len = s->view_data.len;
    return SA_OK;
}

int sa_spool_verify(struct sa_spool *spool,
                    void (*report)(void *arg, const char *problem), void *arg,
                    struct sa_err *err)
{
    sqlite3_stmt *stmt = NULL;
    int64_t next_seq = 0, last_id_ever = 0, prev_id = 0;
    uint64_t prev_end = 0;
    int n_problems = 0, src, rc;

    rc = verify_integrity(spool, report, arg, &n_problems, err);
    if (rc)
        goto out;
    rc = run(spool, STMT_BEGIN_READ, "begin", err);
    if (!rc)
        rc = meta_get_int(spool, "next_seq", &next_seq, err);
    if (!rc)
        rc = step_int(spool, STMT_SEGMENT_SEQUENCE, &last_id_ever,
                      "cannot read the segment id sequence", err);
    if (rc)
        goto out;
    stmt = stmt_get(spool, STMT_SEGMENT_ALL, err);
    if (!stmt) {
        rc = stmt_err(err);
        goto out;
    }
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct sa_segment_view view;
        struct sa_err seg_err = {0};
        uint64_t end;

        if (row_view(spool, stmt, &view, &seg_err) != SA_OK ||
            sa_segment_check(&view, &seg_err) != SA_OK) {
            problem(report, arg, &n_problems, "segment %lld: %s",
                    (long long)sqlite3_column_int64(stmt, 0), seg_err.msg);
            continue;
        }
        end = view.first_seq + view.count;
        if (view.first_seq < 1)
            problem(report, arg, &n_problems, "segment %lld: first_seq %" PRIu64
                    " below 1", (long long)view.id, view.first_seq);
        if (prev_id && view.first_seq < prev_end)
            problem(report, arg, &n_problems, "segment %lld: seqs from %" PRIu64
                    " overlap segment %lld, which ends at %" PRIu64,
                    (long long)view.id, view.first_seq, (long long)prev_id,
                    prev_end - 1);
        /* Deleted segments (trim, drop_oldest) leave gaps in ids and seqs
         * alike; a seq gap between ids that follow each other has no such
         * explanation. */
        if (prev_id && view.id == prev_id + 1 && view.first_seq > prev_end)
            problem(report, arg, &n_problems, "seqs %" PRIu64 "..%" PRIu64
                    " are missing between segments %lld and %lld", prev_end,
                    view.first_seq - 1, (long long)prev_id, (long long)view.id);
        if (!prev_id && view.id == 1 && view.first_seq != 1)
            problem(report, arg, &n_problems, "segment 1 starts at seq %" PRIu64
                    ", not 1", view.first_seq);
        if (end > (uint64_t)next_seq)
            problem(report, arg, &n_problems, "segment %lld: seqs up to %" PRIu64
                    " reach beyond next_seq %lld", (long long)view.id, end - 1,
                    (long long)next_seq);
        prev_id = view.id;
        prev_end = end;
    }
    if (src != SQLITE_DONE) {
        rc = fail(spool, src, "cannot walk the segments", err);
        goto out;
    }
    if (prev_id && prev_id == last_id_ever && prev_end != (uint64_t)next_seq)
        problem(report, arg, &n_problems, "the newest segment %lld ends at seq "
                "%" PRIu64 " but next_seq is %lld", (long long)prev_id,
                prev_end - 1, (long long)next_seq);
    stmt_done(stmt);
    stmt = NULL;
    rc = run(spool, STMT_COMMIT, "end of read", err);
    if (rc)
        goto out;
    if (n_problems)
        rc = sa_err_set(err, SA_ECORRUPT, "spool %s: %d problem%s found",
                        spool->path, n_problems, n_problems == 1 ? "" : "s");
out:
    stmt_done(stmt);
    rollback(spool); /* ends the read transaction when a step failed */
    return rc;
}
