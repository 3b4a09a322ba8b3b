/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool's sink cursors and reading (spool.h): get, set and prune the
 * cursor of each sink, and read the segment after a cursor. Split out of
 * spool.c; the handle and the helpers are in spool_private.h.
 */
#include "store/spool.h"

#include "agent/base/buf.h"
#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "store/spool_private.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* --- cursors and reading ------------------------------------------------ */

int sa_spool_cursor_get(struct sa_spool *spool, const char *sink,
                        struct sa_cursor *out, struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(spool, STMT_CURSOR_GET, err);
    int src, rc = SA_OK;

    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_text(stmt, 1, sink, -1, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    if (src == SQLITE_ROW) {
        out->segment_id = sqlite3_column_int64(stmt, 0);
        out->record_index = (uint32_t)sqlite3_column_int64(stmt, 1);
    } else if (src == SQLITE_DONE) {
        out->segment_id = 0;
        out->record_index = 0;
    } else {
        rc = fail(spool, src, "cannot read a sink cursor", err);
    }
    stmt_done(stmt);
    return rc;
}

int sa_spool_cursor_set(struct sa_spool *spool, const char *sink,
                        const struct sa_cursor *cursor, struct sa_err *err)
{
    return sa_spool_cursor_set_counted(spool, sink, cursor, 0, err);
}

int sa_spool_cursor_set_counted(struct sa_spool *spool, const char *sink,
                                const struct sa_cursor *cursor, int64_t superseded,
                                struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(spool, STMT_CURSOR_PUT, err);
    int src, rc = SA_OK;

    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_text(stmt, 1, sink, -1, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(stmt, 2, cursor->segment_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(stmt, 3, cursor->record_index);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(stmt, 4, sa_now_ms());
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(stmt, 5, superseded);
    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    if (src != SQLITE_DONE)
        rc = fail(spool, src, "cannot store a sink cursor", err);
    stmt_done(stmt);
    return rc;
}

int sa_spool_cursor_set_rollup(struct sa_spool *spool, const char *sink,
                               const struct sa_cursor *cursor, int64_t superseded,
                               int64_t acked, struct sa_err *err)
{
    static const char *const kinds[] = {"acked", "superseded"};
    int64_t counts[] = {acked, superseded};
    char day[11];
    int rc;

    if (acked <= 0 && superseded <= 0)
        return sa_spool_cursor_set_counted(spool, sink, cursor, superseded, err);
    /* The counts move with the cursor: both or neither. */
    if ((rc = run(spool, STMT_BEGIN_IMMEDIATE, "cannot begin a cursor update", err)))
        return rc;
    if ((rc = sa_spool_cursor_set_counted(spool, sink, cursor, superseded, err)))
        goto out;
    sa_rollup_day(sa_now_ms(), day);
    for (size_t i = 0; i < 2 && !rc; i++) {
        sqlite3_stmt *stmt;
        int src;
        if (counts[i] <= 0)
            continue;
        if (!(stmt = stmt_get(spool, STMT_ROLLUP_SINK_ADD, err))) {
            rc = stmt_err(err);
            break;
        }
        src = sqlite3_bind_text(stmt, 1, day, -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_text(stmt, 2, sink, -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_text(stmt, 3, kinds[i], -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(stmt, 4, counts[i]);
        if (src == SQLITE_OK)
            src = sqlite3_step(stmt);
        if (src != SQLITE_DONE)
            rc = fail(spool, src, "cannot add to a sink's roll-up", err);
        stmt_done(stmt);
    }
    if (!rc)
        rc = run(spool, STMT_COMMIT, "cannot commit a cursor update", err);
out:
    if (rc)
        rollback(spool);
    return rc;
}

int sa_spool_cursors_prune(struct sa_spool *spool, const char *const *names,
                           size_t n, struct sa_err *err)
{
    sqlite3_stmt *list = NULL, *del = NULL;
    struct sa_buf detail;
    int src, rc;

    sa_buf_init(&detail, 4096);
    rc = run(spool, STMT_BEGIN_IMMEDIATE, "begin", err);
    if (rc)
        goto out;
    list = stmt_get(spool, STMT_CURSOR_LIST, err);
    del = stmt_get(spool, STMT_CURSOR_DELETE, err);
    if (!list || !del) {
        rc = stmt_err(err);
        goto out;
    }
    /* Deleting the row the list statement stands on is safe in SQLite;
     * the audit detail is built before the delete. */
    while ((src = sqlite3_step(list)) == SQLITE_ROW) {
        const char *sink = (const char *)sqlite3_column_text(list, 0);

        if (name_in(sink, names, n))
            continue;
        sa_buf_reset(&detail);
        rc = sa_buf_append_str(&detail, "{\"sink\":");
        if (!rc)
            rc = json_str(&detail, sink);
        if (!rc)
            rc = sa_buf_printf(&detail, ",\"segment_id\":%lld,"
                               "\"record_index\":%lld}",
                               (long long)sqlite3_column_int64(list, 1),
                               (long long)sqlite3_column_int64(list, 2));
        if (!rc)
            rc = sa_buf_terminate(&detail);
        if (rc) {
            sa_err_set(err, rc, "spool %s: %s", spool->path, sa_strerror(rc));
            goto out;
        }
        src = sqlite3_bind_text(del, 1, sink, -1, SQLITE_TRANSIENT);
        if (src == SQLITE_OK)
            src = sqlite3_step(del);
        if (src != SQLITE_DONE) {
            rc = fail(spool, src, "cannot delete a sink cursor", err);
            goto out;
        }
        sqlite3_reset(del);
        rc = audit_insert(spool, "cursor_removed", (const char *)detail.data,
                          err);
        if (rc)
            goto out;
        sa_log(SA_LOG_WARN, "removed the cursor of a sink no longer configured",
               "sink", sink, (const char *)0);
    }
    if (src != SQLITE_DONE) {
        rc = fail(spool, src, "cannot list sink cursors", err);
        goto out;
    }
    stmt_done(list);
    list = NULL;
    rc = run(spool, STMT_COMMIT, "cannot commit", err);
out:
    stmt_done(list);
    stmt_done(del);
    sa_buf_fini(&detail);
    if (rc)
        rollback(spool);
    return rc;
}

int sa_spool_read_after(struct sa_spool *spool, const struct sa_cursor *after,
                        const char *const *streams, size_t n_streams,
                        struct sa_segment_view *view, struct sa_err *err)
{
    sqlite3_stmt *stmt;
    const void *blob;
    const char *stream;
    int64_t bytes;
    int codec, src, rc = SA_OK;
    size_t blob_len;

    stmt = stream_stmt(spool, STMT_SEGMENT_READ_ALL, STMT_SEGMENT_READ_ONE,
                       STMT_SEGMENT_READ_SET, streams, n_streams, err);
    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_int64(stmt, 1, after->segment_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(stmt, 2, after->record_index);
    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    if (src == SQLITE_DONE) {
        rc = SA_EOF;
        goto out;
    }
    if (src != SQLITE_ROW) {
        rc = fail(spool, src, "cannot read a segment", err);
        goto out;
    }
    memset(view, 0, sizeof *view);
    view->id = sqlite3_column_int64(stmt, 0);
    stream = (const char *)sqlite3_column_text(stmt, 1);
    view->schema_id = sqlite3_column_int64(stmt, 2);
    view->first_seq = (uint64_t)sqlite3_column_int64(stmt, 3);
    view->count = (uint32_t)sqlite3_column_int64(stmt, 4);
    bytes = sqlite3_column_int64(stmt, 5);
    view->created_ms = sqlite3_column_int64(stmt, 6);
    view->min_event_ms = sqlite3_column_int64(stmt, 7);
    view->max_event_ms = sqlite3_column_int64(stmt, 8);
    codec = sqlite3_column_int(stmt, 9);
    blob = sqlite3_column_blob(stmt, 10);
    blob_len = (size_t)sqlite3_column_bytes(stmt, 10);
    view->start_index =
        view->id == after->segment_id ? after->record_index : 0;

    sa_buf_reset(&spool->view_stream);
    rc = sa_buf_append_str(&spool->view_stream, stream ? stream : "");
    if (!rc)
        rc = sa_buf_terminate(&spool->view_stream);
    if (rc) {
        sa_err_set(err, rc, "spool %s: segment %lld: stream name: %s",
                   spool->path, (long long)view->id, sa_strerror(rc));
        goto out;
    }
    sa_buf_reset(&spool->view_data);
    if (codec == SA_CODEC_DEFLATE) {
        rc = sa_segment_decompress(blob, blob_len, &spool->view_data, err);
        if (rc) {
            sa_err_prefix(err, "spool %s: segment %lld: ", spool->path,
                          (long long)view->id);
            goto out;
        }
    } else if (codec == SA_CODEC_NONE) {
        rc = sa_buf_append(&spool->view_data, blob, blob_len);
        if (rc) {
            sa_err_set(err, rc, "spool %s: segment %lld: %s", spool->path,
                       (long long)view->id, sa_strerror(rc));
            goto out;
        }
    } else {
        rc = sa_err_set(err, SA_ECORRUPT, "spool %s: segment %lld: unknown "
                        "codec %d", spool->path, (long long)view->id, codec);
        goto out;
    }
    if ((int64_t)spool->view_data.len != bytes) {
        rc = sa_err_set(err, SA_ECORRUPT, "spool %s: segment %lld holds %zu "
                        "bytes of frames, not %lld", spool->path,
                        (long long)view->id, spool->view_data.len,
                        (long long)bytes);
        goto out;
    }
    view->stream = (const char *)spool->view_stream.data;
    view->data = spool->view_data.data;
    view->len = spool->view_data.len;
out:
    stmt_done(stmt);
    return rc;
}
