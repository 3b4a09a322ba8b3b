/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dead-letter table of the spool (DESIGN.md §3, invariant I4): what a
 * source or a sink could not accept, where it came from, why, and its raw
 * input. Rows are stored inside sa_spool_commit's transaction (so a dead
 * letter and the position past its input are one commit) and read by
 * `deadletter list`, `status` and the dispatcher (which looks its stored
 * locations up so that no record is dead-lettered twice).
 *
 * The handle, its statements and its transactions are spool.c's; this
 * file reaches them through spool_private.h.
 */
#include "store/deadletter.h"

#include "store/spool_private.h"

#include <stdlib.h>
#include <string.h>

/* --- storing (inside a commit) ------------------------------------------ */

int sa_spool_deadletters_put(struct sa_spool *s, const struct sa_commit *c, int64_t now,
                             struct sa_err *err)
{
    sqlite3_stmt *stmt;
    int src;

    if (c->n_deadletters == 0)
        return SA_OK;
    stmt = sa_spool_stmt(s, STMT_DEADLETTER_INSERT, err);
    if (!stmt)
        return stmt_err(err);
    for (size_t i = 0; i < c->n_deadletters; i++) {
        const struct sa_deadletter *d = &c->deadletters[i];

        src = sqlite3_bind_int64(stmt, 1, now);
        if (src == SQLITE_OK)
            src = sqlite3_bind_text(stmt, 2, d->stream, -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_text(stmt, 3, d->source, -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_text(stmt, 4, d->location, -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_text(stmt, 5, d->reason ? d->reason : "unknown", -1,
                                    SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = d->raw
                      ? sqlite3_bind_blob64(stmt, 6, d->raw, d->raw_len, SQLITE_STATIC)
                      : sqlite3_bind_null(stmt, 6);
        if (src == SQLITE_OK)
            src = d->raw_file
                      ? sqlite3_bind_text(stmt, 7, d->raw_file, -1, SQLITE_STATIC)
                      : sqlite3_bind_null(stmt, 7);
        if (src == SQLITE_OK)
            src = d->raw_file ? sqlite3_bind_int64(stmt, 8, d->raw_offset)
                              : sqlite3_bind_null(stmt, 8);
        if (src == SQLITE_OK)
            src = d->raw_file ? sqlite3_bind_int64(stmt, 9, d->raw_length)
                              : sqlite3_bind_null(stmt, 9);
        if (src == SQLITE_OK)
            src = d->header ? sqlite3_bind_text(stmt, 10, d->header, -1, SQLITE_STATIC)
                            : sqlite3_bind_null(stmt, 10);
        if (src == SQLITE_OK)
            src = d->file_key
                      ? sqlite3_bind_text(stmt, 11, d->file_key, -1, SQLITE_STATIC)
                      : sqlite3_bind_null(stmt, 11);
        if (src == SQLITE_OK)
            src = sqlite3_step(stmt);
        if (src != SQLITE_DONE) {
            int rc = sa_spool_fail(s, src, "cannot store a dead letter", err);
            stmt_done(stmt);
            return rc;
        }
        sqlite3_reset(stmt);
    }
    stmt_done(stmt);
    return SA_OK;
}

int sa_spool_deadletters_settle(struct sa_spool *s, const struct sa_commit *c,
                                int64_t now, struct sa_err *err)
{
    sqlite3_stmt *resolve = NULL, *reason = NULL;
    int src, rc = SA_OK;

    for (size_t i = 0; i < c->n_settles; i++) {
        const struct sa_deadletter_settle *st = &c->settles[i];
        sqlite3_stmt *stmt;

        if (!st->replay_error) {
            if (!resolve &&
                !(resolve = sa_spool_stmt(s, STMT_DEADLETTER_RESOLVE, err))) {
                rc = stmt_err(err);
                goto out;
            }
            stmt = resolve;
            src = sqlite3_bind_int64(stmt, 1, st->id);
            if (src == SQLITE_OK)
                src = sqlite3_bind_int64(stmt, 2, now);
            if (src == SQLITE_OK)
                src = sqlite3_bind_text(stmt, 3, st->how ? st->how : "", -1,
                                        SQLITE_STATIC);
        } else {
            if (!reason &&
                !(reason = sa_spool_stmt(s, STMT_DEADLETTER_REPLAY_ERROR, err))) {
                rc = stmt_err(err);
                goto out;
            }
            stmt = reason;
            src = sqlite3_bind_int64(stmt, 1, st->id);
            if (src == SQLITE_OK)
                src = sqlite3_bind_text(stmt, 2, st->replay_error, -1, SQLITE_STATIC);
        }
        if (src == SQLITE_OK)
            src = sqlite3_step(stmt);
        if (src != SQLITE_DONE) {
            rc = sa_spool_fail(s, src, "cannot settle a dead letter", err);
            goto out;
        }
        /* Resolving one that is not open would put its row in twice. */
        if (sqlite3_changes(sqlite3_db_handle(stmt)) != 1) {
            rc = sa_err_set(err, SA_ENOTFOUND,
                            "spool %s: dead letter %lld is not "
                            "open (resolved meanwhile?): nothing replayed",
                            sa_spool_path(s), (long long)st->id);
            goto out;
        }
        sqlite3_reset(stmt);
    }
out:
    stmt_done(resolve);
    stmt_done(reason);
    return rc;
}

int sa_spool_deadletters_moved(struct sa_spool *s, const struct sa_commit *c,
                               struct sa_err *err)
{
    sqlite3_stmt *stmt;
    int src, rc = SA_OK;

    if (c->n_moves == 0)
        return SA_OK;
    if (!(stmt = sa_spool_stmt(s, STMT_DEADLETTER_MOVED, err)))
        return stmt_err(err);
    for (size_t i = 0; i < c->n_moves && !rc; i++) {
        const struct sa_file_moved *m = &c->moves[i];
        src = sqlite3_bind_text(stmt, 1, m->source, -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_text(stmt, 2, m->file_key, -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_text(stmt, 3, m->from, -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_text(stmt, 4, m->to, -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_step(stmt);
        if (src != SQLITE_DONE)
            rc = sa_spool_fail(s, src, "cannot note where a file was moved", err);
        sqlite3_reset(stmt);
    }
    stmt_done(stmt);
    return rc;
}

/* --- reading ------------------------------------------------------------ */

int sa_spool_deadletters_count(struct sa_spool *s, int64_t *count, int64_t *open,
                               struct sa_err *err)
{
    int rc = sa_spool_step_int(s, STMT_DEADLETTER_COUNT, count,
                               "cannot count dead letters", err);
    return rc ? rc
              : sa_spool_step_int(s, STMT_DEADLETTER_COUNT_OPEN, open,
                                  "cannot count open dead letters", err);
}

int sa_spool_deadletters_by_stream(struct sa_spool *s,
                                   void (*fn)(void *arg, const char *stream, int64_t n),
                                   void *arg, struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(s, STMT_DEADLETTER_OPEN_BY_STREAM, err);
    int rc;

    if (!stmt)
        return stmt_err(err);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *stream = (const char *)sqlite3_column_text(stmt, 0);
        fn(arg, stream ? stream : "", sqlite3_column_int64(stmt, 1));
    }
    stmt_done(stmt);
    return rc == SQLITE_DONE ? SA_OK
                             : fail(s, rc, "cannot count dead letters by stream", err);
}

static void row_fini(struct sa_deadletter_row *r)
{
    free(r->stream);
    free(r->source);
    free(r->location);
    free(r->reason);
    free(r->raw);
    free(r->resolved_how);
    free(r->raw_file);
    free(r->header);
    free(r->file_key);
    free(r->last_replay_error);
}

void sa_spool_deadletter_rows_free(struct sa_deadletter_row *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++)
        row_fini(&rows[i]);
    free(rows);
}

/* One row of DEADLETTER_LIST or DEADLETTER_GET. */
static int row_read(sqlite3_stmt *stmt, struct sa_deadletter_row *r, struct sa_err *err)
{
    int raw_len = sqlite3_column_bytes(stmt, 6);
    const void *raw = sqlite3_column_blob(stmt, 6);
    const unsigned char *state = sqlite3_column_text(stmt, 7);

    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(stmt, 0);
    r->created_ms = sqlite3_column_int64(stmt, 1);
    r->stream = column_strdup(stmt, 2);
    r->source = column_strdup(stmt, 3);
    r->location = column_strdup(stmt, 4);
    r->reason = column_strdup(stmt, 5);
    r->raw = malloc(raw_len > 0 ? (size_t)raw_len : 1);
    r->raw_len = raw_len > 0 ? (size_t)raw_len : 0;
    r->resolved = state && strcmp((const char *)state, "resolved") == 0;
    r->resolved_ms = sqlite3_column_int64(stmt, 8);
    if (sqlite3_column_type(stmt, 9) != SQLITE_NULL)
        r->resolved_how = column_strdup(stmt, 9);
    if (sqlite3_column_type(stmt, 10) != SQLITE_NULL) {
        r->raw_file = column_strdup(stmt, 10);
        r->raw_offset = sqlite3_column_int64(stmt, 11);
        r->raw_length = sqlite3_column_int64(stmt, 12);
    }
    /* Columns 13-15: header, file_key, last_replay_error (NULL or text). */
    for (int col = 13; col <= 15; col++) {
        char **to = col == 13   ? &r->header
                    : col == 14 ? &r->file_key
                                : &r->last_replay_error;
        if (sqlite3_column_type(stmt, col) != SQLITE_NULL &&
            !(*to = column_strdup(stmt, col)))
            return sa_err_set(err, SA_ENOMEM, "out of memory");
    }
    if (!r->stream || !r->source || !r->location || !r->reason || !r->raw ||
        (sqlite3_column_type(stmt, 9) != SQLITE_NULL && !r->resolved_how) ||
        (sqlite3_column_type(stmt, 10) != SQLITE_NULL && !r->raw_file))
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    if (raw_len > 0)
        memcpy(r->raw, raw, (size_t)raw_len);
    return SA_OK;
}

/* Up to limit rows of stmt (bound but for its LIMIT, parameter `limit_at`)
 * into a malloc'd array; `what` names the query in errors. */
static int read_rows(struct sa_spool *spool, sqlite3_stmt *stmt, int limit_at,
                     size_t limit, struct sa_deadletter_row **rows, size_t *n,
                     const char *what, struct sa_err *err)
{
    struct sa_deadletter_row *v = NULL;
    size_t count = 0;
    int src, rc = SA_OK;

    *rows = NULL;
    *n = 0;
    v = calloc(limit ? limit : 1, sizeof *v);
    if (!v) {
        stmt_done(stmt);
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    }
    src = sqlite3_bind_int64(stmt, limit_at, (sqlite3_int64)limit);
    while (src == SQLITE_OK && count < limit &&
           (src = sqlite3_step(stmt)) == SQLITE_ROW) {
        rc = row_read(stmt, &v[count++], err);
        if (rc)
            goto out;
        src = SQLITE_OK;
    }
    if (src != SQLITE_DONE && src != SQLITE_OK)
        rc = sa_spool_fail(spool, src, what, err);
out:
    stmt_done(stmt);
    if (rc) {
        sa_spool_deadletter_rows_free(v, count);
        return rc;
    }
    *rows = v;
    *n = count;
    return SA_OK;
}

int sa_spool_deadletter_list(struct sa_spool *spool, int64_t after_id, size_t limit,
                             struct sa_deadletter_row **rows, size_t *n,
                             struct sa_err *err)
{
    sqlite3_stmt *stmt = sa_spool_stmt(spool, STMT_DEADLETTER_LIST, err);
    int src;

    *rows = NULL;
    *n = 0;
    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_int64(stmt, 1, after_id);
    if (src != SQLITE_OK) {
        stmt_done(stmt);
        return sa_spool_fail(spool, src, "cannot list dead letters", err);
    }
    return read_rows(spool, stmt, 2, limit, rows, n, "cannot list dead letters", err);
}

int sa_spool_deadletter_latest(struct sa_spool *spool, size_t limit,
                               struct sa_deadletter_row **rows, size_t *n,
                               struct sa_err *err)
{
    sqlite3_stmt *stmt = sa_spool_stmt(spool, STMT_DEADLETTER_LATEST, err);

    *rows = NULL;
    *n = 0;
    if (!stmt)
        return stmt_err(err);
    return read_rows(spool, stmt, 1, limit, rows, n,
                     "cannot read the latest dead letters", err);
}

int sa_spool_deadletter_get(struct sa_spool *spool, int64_t id,
                            struct sa_deadletter_row **row, struct sa_err *err)
{
    sqlite3_stmt *stmt = sa_spool_stmt(spool, STMT_DEADLETTER_GET, err);
    struct sa_deadletter_row *r = NULL;
    int src, rc = SA_OK;

    *row = NULL;
    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_int64(stmt, 1, id);
    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    if (src == SQLITE_ROW) {
        r = calloc(1, sizeof *r);
        rc = r ? row_read(stmt, r, err) : sa_err_set(err, SA_ENOMEM, "out of memory");
    } else if (src == SQLITE_DONE) {
        rc = sa_err_set(err, SA_ENOTFOUND, "spool %s: no dead letter %lld",
                        sa_spool_path(spool), (long long)id);
    } else {
        rc = sa_spool_fail(spool, src, "cannot read a dead letter", err);
    }
    stmt_done(stmt);
    if (rc) {
        sa_spool_deadletter_rows_free(r, r ? 1 : 0);
        return rc;
    }
    *row = r;
    return SA_OK;
}

int sa_spool_deadletter_locations(struct sa_spool *spool, const char *source,
                                  int (*fn)(void *arg, const char *location,
                                            struct sa_err *err),
                                  void *arg, struct sa_err *err)
{
    sqlite3_stmt *stmt = sa_spool_stmt(spool, STMT_DEADLETTER_LOCATIONS, err);
    int src, rc = SA_OK;

    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_text(stmt, 1, source, -1, SQLITE_STATIC);
    while (src == SQLITE_OK && (src = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *location = (const char *)sqlite3_column_text(stmt, 0);
        src = SQLITE_OK;
        if (location && (rc = fn(arg, location, err)) != SA_OK)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = sa_spool_fail(spool, src, "cannot read dead letters", err);
out:
    stmt_done(stmt);
    return rc;
}

/* fn(arg, file_key, count) for each row of stmt, bound to source and, when
 * not NULL, path. */
static int keys_counted(struct sa_spool *spool, sqlite3_stmt *stmt, const char *source,
                        const char *path,
                        void (*fn)(void *arg, const char *file_key, int64_t n),
                        void *arg, struct sa_err *err)
{
    int src, rc = SA_OK;

    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_text(stmt, 1, source, -1, SQLITE_STATIC);
    if (src == SQLITE_OK && path)
        src = sqlite3_bind_text(stmt, 2, path, -1, SQLITE_STATIC);
    while (src == SQLITE_OK && (src = sqlite3_step(stmt)) == SQLITE_ROW) {
        fn(arg, (const char *)sqlite3_column_text(stmt, 0),
           sqlite3_column_int64(stmt, 1));
        src = SQLITE_OK;
    }
    if (src != SQLITE_DONE)
        rc = sa_spool_fail(spool, src, "cannot read dead letters", err);
    stmt_done(stmt);
    return rc;
}

int sa_spool_deadletter_open_keys_at(struct sa_spool *spool, const char *source,
                                     const char *path,
                                     void (*fn)(void *arg, const char *file_key,
                                                int64_t n),
                                     void *arg, struct sa_err *err)
{
    return keys_counted(spool, sa_spool_stmt(spool, STMT_DEADLETTER_OPEN_KEYS_AT, err),
                        source, path, fn, arg, err);
}

int sa_spool_deadletter_open_refs(struct sa_spool *spool, const char *source,
                                  void (*fn)(void *arg, const char *file_key,
                                             int64_t n),
                                  void *arg, struct sa_err *err)
{
    return keys_counted(spool, sa_spool_stmt(spool, STMT_DEADLETTER_OPEN_REFS, err),
                        source, NULL, fn, arg, err);
}
