/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of the spool share behind its public API: the handle
 * (struct sa_spool), the prepared statements' ids and the helpers that run
 * them on a handle. spool.c opens and closes the handle, keeps the helpers,
 * the schemas and ingest; cursor.c the sink cursors and reading,
 * housekeeping.c trim and checkpoints, reserve.c the reserve and the
 * blocked note, status.c status, lag and verify; deadletter.c keeps the
 * dead-letter table. Only store/ includes this file.
 */
#ifndef SA_STORE_SPOOL_PRIVATE_H
#define SA_STORE_SPOOL_PRIVATE_H

#include "agent/base/buf.h"
#include "store/spool.h"
#include "store/sql.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* How long a handle waits for a lock (busy() in spool.c); the RESTART
 * checkpoint (housekeeping.c) waits less, for a moment. */
#define BUSY_TIMEOUT_MS 10000

enum stmt_id {
#define XX(name, sql) STMT_##name,
    SA_SQL_STATEMENTS(XX)
#undef XX
        STMT__COUNT
};

/* One segment's payload as it will be stored (spool.c). */
struct packed;

struct sa_spool {
    sqlite3 *db;
    char *path;
    unsigned flags;
    int64_t max_bytes;
    int64_t min_free;
    char *dir;      /* the directory of path, for statvfs */
    char *wal_path; /* path + "-wal" */
    int note_fd;    /* path + "-note", once sa_spool_note_blocked opened it */
    void (*wal_fn)(void *, int64_t); /* sa_spool_on_wal_growth */
    void *wal_arg;
    int wal_notify_pages;
    int wal_pages;         /* the WAL's length after the last commit */
    int64_t busy_timeout_us; /* busy(): how long to wait for a lock */
    int64_t busy_since_us;
    int reserve_warned; /* sa_spool_keep_reserve said once why it failed */
    int when_full;
    int compression;
    int64_t page_size;
    int64_t vacuum_whole_max; /* sa_spool_set_vacuum_whole_max */
    int64_t vacuum_last_used; /* pages in use after the last trim; -1 */
    int vacuum_draining;      /* fewer than after the trim before */
    char origin_id[40];
    sqlite3_stmt *stmts[STMT__COUNT];
    struct packed *packed; /* one per segment of the current commit */
    size_t n_packed;
    struct sa_buf view_data;   /* frames of the last segment read */
    struct sa_buf view_stream; /* its stream name, NUL-terminated */
    struct sa_buf filter;      /* JSON array of streams for ?3 */
};

/* --- helpers (spool.c) ---------------------------------------------------- */

/* The handle's prepared statement `id` (prepared at its first use); NULL
 * with err set when it cannot be prepared. Reset it with stmt_done(). */
sqlite3_stmt *sa_spool_stmt(struct sa_spool *s, enum stmt_id id, struct sa_err *err);
/* Set err from a failed SQLite call on the handle, naming the spool and
 * `what`; returns the sa_rc. */
int sa_spool_fail(struct sa_spool *s, int sqlite_rc, const char *what,
                  struct sa_err *err);
/* Step a statement that yields one integer (none: 0). */
int sa_spool_step_int(struct sa_spool *s, enum stmt_id id, int64_t *out,
                      const char *what, struct sa_err *err);
/* Step a statement without parameters to its end (BEGIN, COMMIT, pragmas
 * that return rows while they work). */
int sa_spool_run(struct sa_spool *s, enum stmt_id id, const char *what,
                 struct sa_err *err);
/* Roll back the handle's open transaction, if any. */
void sa_spool_rollback(struct sa_spool *s);
/* Append str to b as a JSON string. */
int sa_spool_json_str(struct sa_buf *b, const char *str);
/* meta.`key` as an integer; SA_ECORRUPT when the row is missing. */
int sa_spool_meta_get_int(struct sa_spool *s, const char *key, int64_t *out,
                          struct sa_err *err);
/* Write an audit row (sa_spool_audit without its check). */
int sa_spool_audit_insert(struct sa_spool *s, const char *kind, const char *detail,
                          struct sa_err *err);
/* Pick the statement for a stream filter and bind ?3. */
sqlite3_stmt *sa_spool_stream_stmt(struct sa_spool *s, enum stmt_id all,
                                   enum stmt_id one, enum stmt_id set,
                                   const char *const *streams, size_t n,
                                   struct sa_err *err);
/* Add a commit's roll-ups (rollup.c), inside its transaction. */
int sa_spool_rollup_commit(struct sa_spool *s, const struct sa_commit *c, int64_t now,
                           struct sa_err *err);
/* Read "<path>-note" into st (reserve.c); no file, no note. */
int sa_spool_status_blocked(struct sa_spool *s, struct sa_spool_status *st,
                            struct sa_err *err);

/* The short names the spool's files call the helpers by. */
static inline sqlite3_stmt *stmt_get(struct sa_spool *s, enum stmt_id id,
                                     struct sa_err *err)
{
    return sa_spool_stmt(s, id, err);
}

static inline int fail(struct sa_spool *s, int sqlite_rc, const char *what,
                       struct sa_err *err)
{
    return sa_spool_fail(s, sqlite_rc, what, err);
}

static inline int step_int(struct sa_spool *s, enum stmt_id id, int64_t *out,
                           const char *what, struct sa_err *err)
{
    return sa_spool_step_int(s, id, out, what, err);
}

static inline int run(struct sa_spool *s, enum stmt_id id, const char *what,
                      struct sa_err *err)
{
    return sa_spool_run(s, id, what, err);
}

static inline void rollback(struct sa_spool *s)
{
    sa_spool_rollback(s);
}

static inline int json_str(struct sa_buf *b, const char *str)
{
    return sa_spool_json_str(b, str);
}

static inline int meta_get_int(struct sa_spool *s, const char *key, int64_t *out,
                               struct sa_err *err)
{
    return sa_spool_meta_get_int(s, key, out, err);
}

static inline int used_bytes(struct sa_spool *s, int64_t *bytes, struct sa_err *err)
{
    return sa_spool_used_bytes(s, bytes, err);
}

static inline int audit_insert(struct sa_spool *s, const char *kind, const char *detail,
                               struct sa_err *err)
{
    return sa_spool_audit_insert(s, kind, detail, err);
}

static inline sqlite3_stmt *stream_stmt(struct sa_spool *s, enum stmt_id all,
                                        enum stmt_id one, enum stmt_id set,
                                        const char *const *streams, size_t n,
                                        struct sa_err *err)
{
    return sa_spool_stream_stmt(s, all, one, set, streams, n, err);
}

static inline int status_blocked(struct sa_spool *s, struct sa_spool_status *st,
                                 struct sa_err *err)
{
    return sa_spool_status_blocked(s, st, err);
}

/* Reset after use: ends the statement's read and drops its bindings (which
 * may point into the caller's memory). */
static inline void stmt_done(sqlite3_stmt *stmt)
{
    if (stmt) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
}

static inline int stmt_err(struct sa_err *err)
{
    return err && err->rc ? err->rc : SA_ESQL;
}

/* A text column as a malloc'd string ("" for NULL); NULL: out of memory. */
static inline char *column_strdup(sqlite3_stmt *stmt, int col)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    return strdup(text ? (const char *)text : "");
}

static inline int name_in(const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

/* --- dead letters (deadletter.c) ------------------------------------------ */

/* Inside sa_spool_commit's transaction: store the commit's dead letters. */
int sa_spool_deadletters_put(struct sa_spool *s, const struct sa_commit *c, int64_t now,
                             struct sa_err *err);
/* Inside sa_spool_commit's transaction: the commit's settles (replay). */
int sa_spool_deadletters_settle(struct sa_spool *s, const struct sa_commit *c,
                                int64_t now, struct sa_err *err);
/* Inside sa_spool_commit's transaction: the commit's moved files. */
int sa_spool_deadletters_moved(struct sa_spool *s, const struct sa_commit *c,
                               struct sa_err *err);
/* Inside sa_spool_status's read transaction: count them. */
int sa_spool_deadletters_count(struct sa_spool *s, int64_t *count,
                               int64_t *open /* out */, struct sa_err *err);

#endif
