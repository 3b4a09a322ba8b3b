/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool: segments, cursors, offsets, dead letters and audit in one
 * SQLite file (DESIGN.md §3). Every handle is one connection used by one
 * thread; processes and threads share the file through SQLite's WAL.
 *
 * On disk (format 2, sql.h SA_SQL_CREATE_V2; migrate.c upgrades older):
 *   meta            origin_id (UUID v4, made once), next_seq, format
 *   segments        one row per batch of records of one stream and schema;
 *                   data is frames (segment.h), deflated when codec = 1;
 *                   ids AUTOINCREMENT, never reused (cursors refer to them)
 *   sink_cursors    (segment_id, record_index) acked up to, per sink
 *   source_offsets  where each source resumes
 *   deadletters     what could not be accepted, and why
 *   audit           what the spool did on its own: drop_oldest, cursor
 *                   removals, migrations
 *
 * Invariants and who keeps them:
 *   - Seqs are gap-free: sa_spool_commit() reads meta.next_seq after
 *     BEGIN IMMEDIATE, so one writer at a time (any process) assigns the
 *     next range, and writes it back in the same transaction.
 *   - I1: segments, source offsets and dead letters of one commit are one
 *     transaction; success is reported only when COMMIT returned
 *     SQLITE_DONE. Any failure rolls back.
 *   - I2: sa_spool_trim() deletes a segment only when every sink
 *     subscribed to its stream has a cursor past it; a stream that no sink
 *     takes is kept.
 *   - I4: drop_oldest deletes in the commit's transaction and writes an
 *     audit row with the counts and the seq range; block and reject write
 *     nothing and return SA_EFULL.
 *   - I5: the size cap counts pages in use (page_count - freelist_count),
 *     so pages freed by a trim are reused before the file grows; a trim
 *     runs a checkpoint, and incremental_vacuum once at most 1/16 of the
 *     file is in use, so a drained spool shrinks (vacuum_and_checkpoint).
 *
 * Statements are prepared once per handle (SA_SQL_STATEMENTS) and reset
 * after each use, so that no read transaction outlives a call and blocks
 * checkpoints. Compression happens before BEGIN IMMEDIATE to keep the
 * write lock short.
 */
#include "store/spool.h"

#include "agent/base/buf.h"
#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "store/migrate.h"
#include "store/sql.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 10000
/* incremental_vacuum once free pages are this many times the pages in use
 * (vacuum_and_checkpoint). */
#define VACUUM_FREE_RATIO 15
/* SQLite's default SQLITE_MAX_LENGTH: no stored blob is larger. */
#define SEGMENT_MAX_BYTES ((size_t)1000000000)
/* What a row costs besides its payload (cell header, index entry): only
 * used to decide whether a commit fits under max_bytes. */
#define ROW_OVERHEAD 64

enum stmt_id {
#define XX(name, sql) STMT_##name,
    SA_SQL_STATEMENTS(XX)
#undef XX
    STMT__COUNT
};

static const char *const stmt_sql[STMT__COUNT] = {
#define XX(name, sql) [STMT_##name] = sql,
    SA_SQL_STATEMENTS(XX)
#undef XX
};

/* One segment's payload as it will be stored. */
struct packed {
    struct sa_buf buf; /* deflated frames (unused for codec none) */
    int codec;
};

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
    char origin_id[40];
    sqlite3_stmt *stmts[STMT__COUNT];
    struct packed *packed; /* one per segment of the current commit */
    size_t n_packed;
    struct sa_buf view_data;   /* frames of the last segment read */
    struct sa_buf view_stream; /* its stream name, NUL-terminated */
    struct sa_buf filter;      /* JSON array of streams for ?3 */
};

/* --- helpers ------------------------------------------------------------ */

/*
 * Waiting for a lock another connection holds. SQLite's own handler
 * (sqlite3_busy_timeout) sleeps 1, 2, 5, 10, 15... ms between tries, so a
 * commit held off for 1.1 ms by the housekeeper's checkpoint waits 3 ms
 * and one held off for 6 ms waits 18: under steady ingest that is time the
 * sources stand still. Tries here come every 50 us at first, doubling up
 * to 2 ms, until busy_timeout_us has passed.
 */
static int busy(void *arg, int count)
{
    struct sa_spool *s = arg;
    int64_t now = sa_mono_us(), delay_us;
    struct timespec ts;

    if (count == 0)
        s->busy_since_us = now;
    if (now - s->busy_since_us >= s->busy_timeout_us)
        return 0;
    delay_us = count < 6 ? 50LL << count : 2000;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)delay_us * 1000L;
    nanosleep(&ts, NULL);
    return 1;
}

static int fail(struct sa_spool *s, int sqlite_rc, const char *what,
                struct sa_err *err)
{
    return sa_err_set(err, sa_store_rc(sqlite_rc), "spool %s: %s: %s", s->path,
                      what, sqlite3_errmsg(s->db));
}

static sqlite3_stmt *stmt_get(struct sa_spool *s, enum stmt_id id,
                              struct sa_err *err)
{
    if (!s->stmts[id]) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1,
                                    SQLITE_PREPARE_PERSISTENT, &s->stmts[id],
                                    NULL);
        if (rc != SQLITE_OK) {
            fail(s, rc, "cannot prepare a statement", err);
            sqlite3_finalize(s->stmts[id]);
            s->stmts[id] = NULL;
        }
    }
    return s->stmts[id];
}

/* Reset after use: ends the statement's read and drops its bindings (which
 * may point into the caller's memory). */
static void stmt_done(sqlite3_stmt *stmt)
{
    if (stmt) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
}

/* Step a statement without parameters to its end (BEGIN, COMMIT, pragmas
 * that return rows while they work). */
static int run(struct sa_spool *s, enum stmt_id id, const char *what,
               struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(s, id, err);
    int rc;

    if (!stmt)
        return err ? err->rc : SA_ESQL;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        ;
    if (rc != SQLITE_DONE) {
        rc = fail(s, rc, what, err);
        stmt_done(stmt);
        return rc;
    }
    stmt_done(stmt);
    return SA_OK;
}

static void rollback(struct sa_spool *s)
{
    if (!sqlite3_get_autocommit(s->db) &&
        run(s, STMT_ROLLBACK, "rollback", NULL) != SA_OK)
        sqlite3_exec(s->db, SA_SQL_TXN_ROLLBACK, NULL, NULL, NULL);
}

static int stmt_err(struct sa_err *err)
{
    return err && err->rc ? err->rc : SA_ESQL;
}

static int json_str(struct sa_buf *b, const char *str)
{
    int rc = sa_buf_append_byte(b, '"');

    for (const unsigned char *p = (const unsigned char *)str; !rc && *p; p++) {
        if (*p == '"' || *p == '\\') {
            rc = sa_buf_append_byte(b, '\\');
            if (!rc)
                rc = sa_buf_append_byte(b, *p);
        } else if (*p < 0x20) {
            rc = sa_buf_printf(b, "\\u%04x", *p);
        } else {
            rc = sa_buf_append_byte(b, *p);
        }
    }
    return rc ? rc : sa_buf_append_byte(b, '"');
}

static int meta_get_int(struct sa_spool *s, const char *key, int64_t *out,
                        struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(s, STMT_META_GET, err);
    int rc;

    if (!stmt)
        return stmt_err(err);
    rc = sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(stmt, 0);
        rc = SA_OK;
    } else if (rc == SQLITE_DONE) {
        rc = sa_err_set(err, SA_ECORRUPT, "spool %s: meta.%s is missing",
                        s->path, key);
    } else {
        rc = fail(s, rc, "cannot read meta", err);
    }
    stmt_done(stmt);
    return rc;
}

static int step_int(struct sa_spool *s, enum stmt_id id, int64_t *out,
                    const char *what, struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(s, id, err);
    int rc;

    if (!stmt)
        return stmt_err(err);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(stmt, 0);
        rc = SA_OK;
    } else if (rc == SQLITE_DONE) {
        *out = 0;
        rc = SA_OK;
    } else {
        rc = fail(s, rc, what, err);
    }
    stmt_done(stmt);
    return rc;
}

static int used_bytes(struct sa_spool *s, int64_t *bytes, struct sa_err *err)
{
    int64_t pages, free_pages;
    int rc = step_int(s, STMT_PAGE_COUNT, &pages, "page_count", err);

    if (!rc)
        rc = step_int(s, STMT_FREELIST_COUNT, &free_pages, "freelist_count",
                      err);
    if (!rc)
        *bytes = (pages - free_pages) * s->page_size;
    return rc;
}

static int audit_insert(struct sa_spool *s, const char *kind,
                        const char *detail, struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(s, STMT_AUDIT_INSERT, err);
    int rc;

    if (!stmt)
        return stmt_err(err);
    rc = sqlite3_bind_int64(stmt, 1, sa_now_ms());
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 2, kind, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 3, detail, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    rc = rc == SQLITE_DONE ? SA_OK : fail(s, rc, "cannot write audit", err);
    stmt_done(stmt);
    return rc;
}

/* Pick the statement for a stream filter and bind ?3. */
static sqlite3_stmt *stream_stmt(struct sa_spool *s, enum stmt_id all,
                                 enum stmt_id one, enum stmt_id set,
                                 const char *const *streams, size_t n,
                                 struct sa_err *err)
{
    sqlite3_stmt *stmt;
    int rc = SA_OK;

    if (n == 0)
        return stmt_get(s, all, err);
    if (n == 1) {
        stmt = stmt_get(s, one, err);
        if (stmt && sqlite3_bind_text(stmt, 3, streams[0], -1, SQLITE_STATIC)) {
            fail(s, SQLITE_ERROR, "bind stream", err);
            return NULL;
        }
        return stmt;
    }
    sa_buf_reset(&s->filter);
    rc = sa_buf_append_byte(&s->filter, '[');
    for (size_t i = 0; !rc && i < n; i++) {
        if (i)
            rc = sa_buf_append_byte(&s->filter, ',');
        if (!rc)
            rc = json_str(&s->filter, streams[i]);
    }
    if (!rc)
        rc = sa_buf_append_byte(&s->filter, ']');
    if (rc) {
        sa_err_set(err, rc, "spool %s: stream filter: %s", s->path,
                   sa_strerror(rc));
        return NULL;
    }
    stmt = stmt_get(s, set, err);
    if (stmt && sqlite3_bind_text(stmt, 3, (const char *)s->filter.data,
                                  (int)s->filter.len, SQLITE_STATIC)) {
        fail(s, SQLITE_ERROR, "bind streams", err);
        return NULL;
    }
    return stmt;
}

/* --- open and close ----------------------------------------------------- */

int sa_spool_open(struct sa_spool **out, const struct sa_spool_opts *opts,
                  unsigned flags, struct sa_err *err)
{
    struct sa_spool *s = NULL;
    sqlite3_stmt *stmt = NULL;
    int readonly = (flags & SA_SPOOL_READONLY) != 0;
    int oflags, src, rc = SA_OK;

    *out = NULL;
    if (!opts || !opts->path || !*opts->path)
        return sa_err_set(err, SA_EINVAL, "spool: no path given");
    s = calloc(1, sizeof *s);
    if (!s)
        return sa_err_set(err, SA_ENOMEM, "spool %s: out of memory", opts->path);
    s->note_fd = -1;
    sa_buf_init(&s->view_data, SEGMENT_MAX_BYTES);
    sa_buf_init(&s->view_stream, 4096);
    sa_buf_init(&s->filter, 1 << 20);
    s->path = strdup(opts->path);
    if (!s->path) {
        rc = sa_err_set(err, SA_ENOMEM, "spool %s: out of memory", opts->path);
        goto out;
    }
    s->flags = flags;
    s->max_bytes = opts->max_bytes;
    s->min_free = opts->min_free;
    s->dir = strdup(opts->path);
    if (s->dir && asprintf(&s->wal_path, "%s-wal", opts->path) < 0)
        s->wal_path = NULL;
    if (!s->dir || !s->wal_path) {
        rc = sa_err_set(err, SA_ENOMEM, "spool %s: out of memory", opts->path);
        goto out;
    }
    {
        char *slash = strrchr(s->dir, '/');
        if (!slash)
            strcpy(s->dir, ".");
        else if (slash == s->dir)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
    s->when_full = opts->when_full;
    s->compression = opts->compression;

    if (readonly || !(flags & SA_SPOOL_CREATE)) {
        struct stat st;
        if (stat(s->path, &st) != 0) {
            rc = sa_err_set(err, errno == ENOENT ? SA_ENOTFOUND : SA_EIO,
                            "spool %s: %s", s->path, strerror(errno));
            goto out;
        }
    }
    oflags = SQLITE_OPEN_NOMUTEX |
             (readonly ? SQLITE_OPEN_READONLY
                       : SQLITE_OPEN_READWRITE |
                             ((flags & SA_SPOOL_CREATE) ? SQLITE_OPEN_CREATE
                                                        : 0));
    src = sqlite3_open_v2(s->path, &s->db, oflags, NULL);
    if (src != SQLITE_OK) {
        rc = s->db ? fail(s, src, "cannot open", err)
                   : sa_err_set(err, SA_ENOMEM, "spool %s: cannot open: out "
                                "of memory", s->path);
        goto out;
    }
    s->busy_timeout_us = BUSY_TIMEOUT_MS * 1000LL;
    src = sqlite3_busy_handler(s->db, busy, s);
    if (src != SQLITE_OK) {
        rc = fail(s, src, "cannot set the busy handler", err);
        goto out;
    }
    rc = sa_migrate_open(s->db, s->path, flags, err);
    if (rc)
        goto out;
    src = sqlite3_exec(s->db,
                       opts->sync == SA_SYNC_FULL ? SA_SQL_SYNC_FULL
                                                  : SA_SQL_SYNC_NORMAL,
                       NULL, NULL, NULL);
    if (src == SQLITE_OK && !readonly)
        src = sqlite3_exec(s->db, SA_SQL_JOURNAL_SIZE_LIMIT, NULL, NULL, NULL);
    /* Checkpoints are the housekeeper's job (sa_spool_on_wal_growth); a
     * commit runs one itself only past this, when no housekeeper runs. A
     * small WAL also keeps a full disk recoverable: a checkpoint may have to
     * grow the database by as much as the WAL holds. */
    if (src == SQLITE_OK && !readonly)
        src = sqlite3_wal_autocheckpoint(s->db, SA_SPOOL_WAL_AUTOCHECKPOINT_PAGES);
    if (src == SQLITE_OK)
        src = sqlite3_exec(s->db, SA_SQL_CACHE_SIZE, NULL, NULL, NULL);
    if (src == SQLITE_OK && !readonly)
        src = sqlite3_exec(s->db, SA_SQL_SECURE_DELETE_FAST, NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = fail(s, src, "cannot set pragmas", err);
        goto out;
    }
    src = sqlite3_prepare_v2(s->db, SA_SQL_PAGE_SIZE, -1, &stmt, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    if (src != SQLITE_ROW) {
        rc = fail(s, src, "cannot read page_size", err);
        goto out;
    }
    s->page_size = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    stmt = NULL;

    stmt = stmt_get(s, STMT_META_GET, err);
    if (!stmt) {
        rc = stmt_err(err);
        goto out;
    }
    src = sqlite3_bind_text(stmt, 1, "origin_id", -1, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    if (src != SQLITE_ROW || sqlite3_column_bytes(stmt, 0) != 36) {
        rc = src == SQLITE_ROW || src == SQLITE_DONE
                 ? sa_err_set(err, SA_ECORRUPT, "spool %s: bad origin_id",
                              s->path)
                 : fail(s, src, "cannot read origin_id", err);
        stmt_done(stmt);
        stmt = NULL;
        goto out;
    }
    memcpy(s->origin_id, sqlite3_column_text(stmt, 0), 36);
    s->origin_id[36] = '\0';
    stmt_done(stmt);
    stmt = NULL;
    sa_log(SA_LOG_DEBUG, "spool opened", "path", s->path, "origin_id",
           s->origin_id, "mode", readonly ? "readonly" : "readwrite",
           (const char *)0);
    *out = s;
out:
    sqlite3_finalize(stmt);
    if (rc)
        sa_spool_close(s);
    return rc;
}

void sa_spool_close(struct sa_spool *spool)
{
    if (!spool)
        return;
    for (size_t i = 0; i < STMT__COUNT; i++)
        sqlite3_finalize(spool->stmts[i]);
    if (spool->db)
        sqlite3_close_v2(spool->db);
    if (spool->note_fd >= 0)
        close(spool->note_fd);
    for (size_t i = 0; i < spool->n_packed; i++)
        sa_buf_fini(&spool->packed[i].buf);
    free(spool->packed);
    sa_buf_fini(&spool->view_data);
    sa_buf_fini(&spool->view_stream);
    sa_buf_fini(&spool->filter);
    free(spool->path);
    free(spool->dir);
    free(spool->wal_path);
    free(spool);
}

const char *sa_spool_origin_id(const struct sa_spool *spool)
{
    return spool->origin_id;
}

const char *sa_spool_path(const struct sa_spool *spool) { return spool->path; }

/* --- schemas ------------------------------------------------------------ */

/* Look subject/version up: *schema_id is its row id when it is stored
 * with this definition (the same fingerprint or text), 0 when it is not
 * stored; a different definition is SA_ESCHEMA. The one place that
 * decides what a conflicting schema is, for put and for check. */
static int schema_find(struct sa_spool *spool, const char *subject, int version,
                       uint64_t fingerprint, const char *definition, int64_t *schema_id,
                       struct sa_err *err)
{
    sqlite3_stmt *find = stmt_get(spool, STMT_SCHEMA_FIND, err);
    int src, rc = SA_OK;

    *schema_id = 0;
    if (!find)
        return stmt_err(err);
    src = sqlite3_bind_text(find, 1, subject, -1, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(find, 2, version);
    if (src == SQLITE_OK)
        src = sqlite3_step(find);
    if (src == SQLITE_ROW) {
        const char *stored = (const char *)sqlite3_column_text(find, 2);
        uint64_t stored_fp = (uint64_t)sqlite3_column_int64(find, 1);
        int same = (fingerprint != 0 && stored_fp == fingerprint) ||
                   (stored && strcmp(stored, definition) == 0);
        if (same)
            *schema_id = sqlite3_column_int64(find, 0);
        else
            rc = sa_err_set(err, SA_ESCHEMA, "spool %s: schema %s v%d is "
                            "already stored with a different definition",
                            spool->path, subject, version);
    } else if (src != SQLITE_DONE) {
        rc = fail(spool, src, "cannot look the schema up", err);
    }
    stmt_done(find);
    return rc;
}

int sa_spool_schema_check(struct sa_spool *spool, const char *subject, int version,
                          uint64_t fingerprint, const char *definition,
                          struct sa_err *err)
{
    int64_t id;
    return schema_find(spool, subject, version, fingerprint, definition, &id, err);
}

int sa_spool_schema_put(struct sa_spool *spool, const char *subject, int version,
                        uint64_t fingerprint, const char *definition,
                        int64_t *schema_id, struct sa_err *err)
{
    sqlite3_stmt *insert = NULL;
    int src, rc;

    if (!subject || !definition)
        return sa_err_set(err, SA_EINVAL,
                          "spool %s: schema without subject "
                          "or definition",
                          spool->path);
    rc = run(spool, STMT_BEGIN_IMMEDIATE, "begin", err);
    if (rc)
        goto out;
    rc = schema_find(spool, subject, version, fingerprint, definition, schema_id, err);
    if (rc)
        goto out;
    if (*schema_id) {
        rc = run(spool, STMT_COMMIT, "commit", err);
        goto out;
    }
    insert = stmt_get(spool, STMT_SCHEMA_INSERT, err);
    if (!insert) {
        rc = stmt_err(err);
        goto out;
    }
    src = sqlite3_bind_text(insert, 1, subject, -1, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int(insert, 2, version);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(insert, 3, (int64_t)fingerprint);
    if (src == SQLITE_OK)
        src = sqlite3_bind_text(insert, 4, definition, -1, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_step(insert);
    if (src != SQLITE_DONE) {
        rc = fail(spool, src, "cannot store the schema", err);
        goto out;
    }
    *schema_id = sqlite3_last_insert_rowid(spool->db);
    rc = run(spool, STMT_COMMIT, "commit", err);
out:
    stmt_done(insert);
    if (rc)
        rollback(spool);
    return rc;
}

int sa_spool_schema_get(struct sa_spool *spool, int64_t schema_id,
                        char **subject, int *version, char **definition,
                        struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(spool, STMT_SCHEMA_GET, err);
    char *subj = NULL, *def = NULL;
    int src, rc = SA_OK;

    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_int64(stmt, 1, schema_id);
    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    if (src == SQLITE_DONE) {
        rc = sa_err_set(err, SA_ENOTFOUND, "spool %s: no schema with id %lld",
                        spool->path, (long long)schema_id);
        goto out;
    }
    if (src != SQLITE_ROW) {
        rc = fail(spool, src, "cannot read the schema", err);
        goto out;
    }
    subj = strdup((const char *)sqlite3_column_text(stmt, 0));
    def = strdup((const char *)sqlite3_column_text(stmt, 2));
    if (!subj || !def) {
        rc = sa_err_set(err, SA_ENOMEM, "spool %s: out of memory", spool->path);
        goto out;
    }
    *version = sqlite3_column_int(stmt, 1);
    *subject = subj;
    *definition = def;
    subj = def = NULL;
out:
    stmt_done(stmt);
    free(subj);
    free(def);
    return rc;
}

/* --- ingest ------------------------------------------------------------- */

/* Compress the commit's segments (before taking the write lock) and
 * return the bytes the commit adds, for the size cap. */
static int pack(struct sa_spool *s, const struct sa_commit *c,
                int64_t *incoming, struct sa_err *err)
{
    int64_t bytes = 0;
    int rc;

    if (c->n_segments > s->n_packed) {
        struct packed *p = realloc(s->packed, c->n_segments * sizeof *p);
        if (!p)
            return sa_err_set(err, SA_ENOMEM, "spool %s: out of memory",
                              s->path);
        for (size_t i = s->n_packed; i < c->n_segments; i++) {
            sa_buf_init(&p[i].buf, SEGMENT_MAX_BYTES);
            p[i].codec = SA_CODEC_NONE;
        }
        s->packed = p;
        s->n_packed = c->n_segments;
    }
    for (size_t i = 0; i < c->n_segments; i++) {
        const struct sa_segment_builder *b = c->segments[i];
        struct packed *p = &s->packed[i];
        size_t stored;

        if (!b || !b->stream || b->count == 0 || !b->frames.len)
            return sa_err_set(err, SA_EINVAL, "spool %s: commit of an empty "
                              "segment", s->path);
        stored = b->frames.len;
        p->codec = SA_CODEC_NONE;
        if (s->compression == SA_CODEC_DEFLATE) {
            rc = sa_segment_compress(b->frames.data, b->frames.len, &p->buf,
                                     err);
            if (rc)
                return sa_err_prefix(err, "spool %s: ", s->path);
            /* Keep the frames as they are when deflate does not help. */
            if (p->buf.len < b->frames.len) {
                p->codec = SA_CODEC_DEFLATE;
                stored = p->buf.len;
            }
        }
        bytes += (int64_t)(stored + strlen(b->stream) + ROW_OVERHEAD);
    }
    for (size_t i = 0; i < c->n_deadletters; i++) {
        const struct sa_deadletter *d = &c->deadletters[i];
        bytes += (int64_t)(d->raw_len + ROW_OVERHEAD);
        bytes += (int64_t)(d->reason ? strlen(d->reason) : 0);
        bytes += (int64_t)(d->location ? strlen(d->location) : 0);
    }
    *incoming = bytes;
    return SA_OK;
}

/* Inside the commit's transaction: make room for `incoming` bytes by
 * deleting the oldest segments, then audit what went. */
static int drop_oldest(struct sa_spool *s, int64_t incoming, int64_t used,
                       struct sa_commit_result *res, struct sa_err *err)
{
    sqlite3_stmt *oldest = NULL, *del = NULL;
    uint64_t first = 0, last = 0;
    char detail[256];
    int src, rc = SA_OK;

    while (used + incoming > s->max_bytes) {
        int64_t id, count;
        uint64_t seq;

        oldest = stmt_get(s, STMT_SEGMENT_OLDEST, err);
        if (!oldest) {
            rc = stmt_err(err);
            goto out;
        }
        src = sqlite3_step(oldest);
        if (src == SQLITE_DONE) {
            rc = sa_err_set(err, SA_EFULL, "spool %s is full: a commit of "
                            "%" PRId64 " bytes does not fit in max_bytes "
                            "%" PRId64 " even with every segment dropped",
                            s->path, incoming, s->max_bytes);
            goto out;
        }
        if (src != SQLITE_ROW) {
            rc = fail(s, src, "cannot find the oldest segment", err);
            goto out;
        }
        id = sqlite3_column_int64(oldest, 0);
        count = sqlite3_column_int64(oldest, 1);
        seq = (uint64_t)sqlite3_column_int64(oldest, 2);
        stmt_done(oldest);
        oldest = NULL;

        del = stmt_get(s, STMT_SEGMENT_DELETE, err);
        if (!del) {
            rc = stmt_err(err);
            goto out;
        }
        src = sqlite3_bind_int64(del, 1, id);
        if (src == SQLITE_OK)
            src = sqlite3_step(del);
        if (src != SQLITE_DONE) {
            rc = fail(s, src, "cannot drop the oldest segment", err);
            goto out;
        }
        stmt_done(del);
        del = NULL;
        if (res->dropped_segments == 0 || seq < first)
            first = seq;
        if (seq + (uint64_t)count - 1 > last)
            last = seq + (uint64_t)count - 1;
        res->dropped_segments++;
        res->dropped_records += (uint64_t)count;
        rc = used_bytes(s, &used, err);
        if (rc)
            goto out;
    }
    if (res->dropped_segments) {
        snprintf(detail, sizeof detail,
                 "{\"segments\":%" PRIu64 ",\"records\":%" PRIu64
                 ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64 "}",
                 res->dropped_segments, res->dropped_records, first, last);
        rc = audit_insert(s, "drop_oldest", detail, err);
    }
out:
    stmt_done(oldest);
    stmt_done(del);
    return rc;
}

static int insert_segments(struct sa_spool *s, const struct sa_commit *c,
                           uint64_t *next_seq, int64_t now,
                           struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(s, STMT_SEGMENT_INSERT, err);
    int src;

    if (!stmt)
        return stmt_err(err);
    for (size_t i = 0; i < c->n_segments; i++) {
        const struct sa_segment_builder *b = c->segments[i];
        const struct packed *p = &s->packed[i];
        const uint8_t *data =
            p->codec == SA_CODEC_DEFLATE ? p->buf.data : b->frames.data;
        size_t len = p->codec == SA_CODEC_DEFLATE ? p->buf.len : b->frames.len;

        src = sqlite3_bind_text(stmt, 1, b->stream, -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(stmt, 2, b->schema_id);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(stmt, 3, (int64_t)*next_seq);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(stmt, 4, b->count);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(stmt, 5, (int64_t)b->frames.len);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(stmt, 6, now);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(stmt, 7, b->min_event_ms);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(stmt, 8, b->max_event_ms);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int(stmt, 9, p->codec);
        if (src == SQLITE_OK)
            src = sqlite3_bind_blob64(stmt, 10, data, len, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_step(stmt);
        if (src != SQLITE_DONE) {
            int rc = fail(s, src, "cannot store a segment", err);
            stmt_done(stmt);
            return rc;
        }
        sqlite3_reset(stmt);
        *next_seq += b->count;
    }
    stmt_done(stmt);
    return SA_OK;
}

static int put_offsets(struct sa_spool *s, const struct sa_commit *c,
                       int64_t now, struct sa_err *err)
{
    sqlite3_stmt *stmt;
    int src;

    if (c->n_offsets == 0)
        return SA_OK;
    stmt = stmt_get(s, STMT_OFFSET_PUT, err);
    if (!stmt)
        return stmt_err(err);
    for (size_t i = 0; i < c->n_offsets; i++) {
        const struct sa_offset_update *o = &c->offsets[i];

        src = sqlite3_bind_text(stmt, 1, o->source, -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_text(stmt, 2, o->file_key ? o->file_key : "", -1,
                                    SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(stmt, 3, o->offset);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(stmt, 4, o->line);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int(stmt, 5, o->done ? 1 : 0);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(stmt, 6, now);
        if (src == SQLITE_OK)
            src = sqlite3_step(stmt);
        if (src != SQLITE_DONE) {
            int rc = fail(s, src, "cannot store a source offset", err);
            stmt_done(stmt);
            return rc;
        }
        sqlite3_reset(stmt);
    }
    stmt_done(stmt);
    return SA_OK;
}

static int put_deadletters(struct sa_spool *s, const struct sa_commit *c,
                           int64_t now, struct sa_err *err)
{
    sqlite3_stmt *stmt;
    int src;

    if (c->n_deadletters == 0)
        return SA_OK;
    stmt = stmt_get(s, STMT_DEADLETTER_INSERT, err);
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
            src = sqlite3_bind_text(stmt, 5, d->reason ? d->reason : "unknown",
                                    -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = d->raw ? sqlite3_bind_blob64(stmt, 6, d->raw, d->raw_len,
                                               SQLITE_STATIC)
                         : sqlite3_bind_null(stmt, 6);
        if (src == SQLITE_OK)
            src = sqlite3_step(stmt);
        if (src != SQLITE_DONE) {
            int rc = fail(s, src, "cannot store a dead letter", err);
            stmt_done(stmt);
            return rc;
        }
        sqlite3_reset(stmt);
    }
    stmt_done(stmt);
    return SA_OK;
}

int sa_spool_commit(struct sa_spool *spool, const struct sa_commit *commit,
                    struct sa_commit_result *result, struct sa_err *err)
{
    struct sa_commit_result res = {0};
    sqlite3_stmt *put = NULL;
    int64_t incoming = 0, used = 0, next_seq = 0, now = sa_now_ms();
    uint64_t seq;
    int src, rc;

    if (result)
        memset(result, 0, sizeof *result);
    if (!commit || (commit->n_segments && !commit->segments) ||
        (commit->n_offsets && !commit->offsets) ||
        (commit->n_deadletters && !commit->deadletters))
        return sa_err_set(err, SA_EINVAL, "spool %s: bad commit", spool->path);
    for (size_t i = 0; i < commit->n_offsets; i++)
        if (!commit->offsets[i].source)
            return sa_err_set(err, SA_EINVAL, "spool %s: offset without a "
                              "source", spool->path);
    rc = pack(spool, commit, &incoming, err);
    if (rc)
        return rc;

    /* Disk headroom (I5, I6): a spool that fills its disk to the last
     * block deadlocks, because acknowledging and trimming are writes too:
     * a sink cursor update, the trim's deletes and the checkpoint that
     * shrinks the file all need free blocks. So ingest stops min_free
     * short of the end; a commit may take twice its size (WAL, then the
     * database at checkpoint), and the WAL's frames not yet checkpointed
     * may grow the database by as much again: the WAL's length after the
     * last commit bounds that (known with the housekeeper's hook, which
     * lets the WAL grow to a few MiB before starting it over; SQLite's
     * own checkpoints keep it smaller). */
    if (spool->min_free > 0 && incoming > 0) {
        struct statvfs vfs;
        if (statvfs(spool->dir, &vfs) == 0) {
            int64_t avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
            int64_t need = spool->min_free + 2 * incoming;
            int64_t wal = (int64_t)spool->wal_pages * spool->page_size;
            int log_frames = 0, copied = 0;
            if (avail >= need && avail < need + wal &&
                sqlite3_wal_checkpoint_v2(spool->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                          &log_frames, &copied) == SQLITE_OK &&
                statvfs(spool->dir, &vfs) == 0) {
                /* Only the WAL's length stands in the way, and it is an
                 * upper bound (frames copied already, a WAL started over
                 * since the last commit): ask SQLite what is left, once
                 * it has copied what it could. */
                spool->wal_pages = log_frames > copied ? log_frames - copied : 0;
                wal = (int64_t)spool->wal_pages * spool->page_size;
                avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
            }
            if (avail < need + wal)
                return sa_err_set(err, SA_EFULL, "spool %s: the disk is full: "
                                  "%" PRId64 " bytes free, spool.min_free is "
                                  "%" PRId64 ", the commit needs %" PRId64
                                  " and checkpointing the WAL up to %" PRId64,
                                  spool->path, avail, spool->min_free,
                                  2 * incoming, wal);
        }
    }
    rc = run(spool, STMT_BEGIN_IMMEDIATE, "cannot begin the commit", err);
    if (rc)
        goto out;
    /* Only records count against max_bytes. Offsets alone do not grow the
     * spool, and refusing them would only stop a source from recording
     * progress it already made. Dead letters without records are let in
     * too: refusing a sink's dead letters would keep its cursor on a
     * poison record, so nothing could ever be trimmed and the spool would
     * stay full for good; a source's dead letters come from input that is
     * bounded by itself. */
    if (spool->max_bytes > 0 && incoming > 0 && commit->n_segments > 0) {
        rc = used_bytes(spool, &used, err);
        if (rc)
            goto out;
        if (used + incoming > spool->max_bytes) {
            if (spool->when_full != SA_FULL_DROP_OLDEST) {
                rc = sa_err_set(err, SA_EFULL, "spool %s is full: %" PRId64
                                " of max_bytes %" PRId64 " used, the commit "
                                "needs %" PRId64 " more", spool->path, used,
                                spool->max_bytes, incoming);
                goto out;
            }
            rc = drop_oldest(spool, incoming, used, &res, err);
            if (rc)
                goto out;
        }
    }
    if (commit->n_segments) {
        rc = meta_get_int(spool, "next_seq", &next_seq, err);
        if (rc)
            goto out;
        if (next_seq < 1) {
            rc = sa_err_set(err, SA_ECORRUPT, "spool %s: meta.next_seq is "
                            "%" PRId64, spool->path, next_seq);
            goto out;
        }
        seq = (uint64_t)next_seq;
        rc = insert_segments(spool, commit, &seq, now, err);
        if (rc)
            goto out;
        put = stmt_get(spool, STMT_META_PUT, err);
        if (!put) {
            rc = stmt_err(err);
            goto out;
        }
        src = sqlite3_bind_text(put, 1, "next_seq", -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(put, 2, (int64_t)seq);
        if (src == SQLITE_OK)
            src = sqlite3_step(put);
        if (src != SQLITE_DONE) {
            rc = fail(spool, src, "cannot advance next_seq", err);
            goto out;
        }
        res.first_seq = (uint64_t)next_seq;
        res.n_records = seq - (uint64_t)next_seq;
    }
    rc = put_offsets(spool, commit, now, err);
    if (rc)
        goto out;
    rc = put_deadletters(spool, commit, now, err);
    if (rc)
        goto out;
    rc = run(spool, STMT_COMMIT, "cannot commit", err);
    if (rc)
        goto out;
    if (res.dropped_segments)
        sa_logf(SA_LOG_WARN, "spool full, dropped oldest segments",
                "segments=%" PRIu64 " records=%" PRIu64,
                res.dropped_segments, res.dropped_records);
    if (result)
        *result = res;
out:
    stmt_done(put);
    if (rc)
        rollback(spool);
    return rc;
}

int sa_spool_offset_get(struct sa_spool *spool, const char *source,
                        const char *file_key, int64_t *offset, int64_t *line,
                        int *done, struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(spool, STMT_OFFSET_GET, err);
    int src, rc = SA_OK;

    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_text(stmt, 1, source, -1, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_bind_text(stmt, 2, file_key ? file_key : "", -1,
                                SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    if (src == SQLITE_ROW) {
        *offset = sqlite3_column_int64(stmt, 0);
        *line = sqlite3_column_int64(stmt, 1);
        *done = sqlite3_column_int(stmt, 2);
    } else if (src == SQLITE_DONE) {
        rc = sa_err_set(err, SA_ENOTFOUND, "spool %s: no offset for source %s "
                        "file %s", spool->path, source,
                        file_key ? file_key : "");
    } else {
        rc = fail(spool, src, "cannot read a source offset", err);
    }
    stmt_done(stmt);
    return rc;
}

static char *column_strdup(sqlite3_stmt *stmt, int col)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    return strdup(text ? (const char *)text : "");
}

void sa_spool_offset_rows_free(struct sa_offset_row *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++)
        free(rows[i].file_key);
    free(rows);
}

int sa_spool_offset_list(struct sa_spool *spool, const char *source,
                         struct sa_offset_row **rows, size_t *n, struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(spool, STMT_OFFSET_LIST, err);
    struct sa_offset_row *v = NULL;
    size_t count = 0, cap = 0;
    int src, rc = SA_OK;

    *rows = NULL;
    *n = 0;
    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_text(stmt, 1, source, -1, SQLITE_STATIC);
    while (src == SQLITE_OK && (src = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct sa_offset_row *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = sa_err_set(err, SA_ENOMEM, "out of memory");
                goto out;
            }
            v = nv;
            cap = ncap;
        }
        v[count].file_key = column_strdup(stmt, 0);
        v[count].offset = sqlite3_column_int64(stmt, 1);
        v[count].line = sqlite3_column_int64(stmt, 2);
        v[count].done = sqlite3_column_int(stmt, 3);
        if (!v[count].file_key) {
            rc = sa_err_set(err, SA_ENOMEM, "out of memory");
            goto out;
        }
        count++;
        src = SQLITE_OK;
    }
    if (src != SQLITE_DONE)
        rc = fail(spool, src, "cannot list source offsets", err);
out:
    stmt_done(stmt);
    if (rc) {
        sa_spool_offset_rows_free(v, count);
        return rc;
    }
    *rows = v;
    *n = count;
    return SA_OK;
}

void sa_spool_deadletter_rows_free(struct sa_deadletter_row *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++) {
        free(rows[i].stream);
        free(rows[i].source);
        free(rows[i].location);
        free(rows[i].reason);
        free(rows[i].raw);
    }
    free(rows);
}

int sa_spool_deadletter_list(struct sa_spool *spool, int64_t after_id, size_t limit,
                             struct sa_deadletter_row **rows, size_t *n,
                             struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(spool, STMT_DEADLETTER_LIST, err);
    struct sa_deadletter_row *v = NULL;
    size_t count = 0;
    int src, rc = SA_OK;

    *rows = NULL;
    *n = 0;
    if (!stmt)
        return stmt_err(err);
    v = calloc(limit ? limit : 1, sizeof *v);
    if (!v) {
        stmt_done(stmt);
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    }
    src = sqlite3_bind_int64(stmt, 1, after_id);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(stmt, 2, (sqlite3_int64)limit);
    while (src == SQLITE_OK && count < limit &&
           (src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct sa_deadletter_row *r = &v[count++];
        int raw_len = sqlite3_column_bytes(stmt, 6);
        const void *raw = sqlite3_column_blob(stmt, 6);
        r->id = sqlite3_column_int64(stmt, 0);
        r->created_ms = sqlite3_column_int64(stmt, 1);
        r->stream = column_strdup(stmt, 2);
        r->source = column_strdup(stmt, 3);
        r->location = column_strdup(stmt, 4);
        r->reason = column_strdup(stmt, 5);
        r->raw = malloc(raw_len > 0 ? (size_t)raw_len : 1);
        r->raw_len = raw_len > 0 ? (size_t)raw_len : 0;
        if (!r->stream || !r->source || !r->location || !r->reason || !r->raw) {
            rc = sa_err_set(err, SA_ENOMEM, "out of memory");
            goto out;
        }
        if (raw_len > 0)
            memcpy(r->raw, raw, (size_t)raw_len);
        src = SQLITE_OK;
    }
    if (src != SQLITE_DONE && src != SQLITE_OK)
        rc = fail(spool, src, "cannot list dead letters", err);
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

int sa_spool_deadletter_locations(struct sa_spool *spool, const char *source,
                                  int (*fn)(void *arg, const char *location,
                                            struct sa_err *err),
                                  void *arg, struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(spool, STMT_DEADLETTER_LOCATIONS, err);
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
        rc = fail(spool, src, "cannot read dead letters", err);
out:
    stmt_done(stmt);
    return rc;
}

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
        src = sqlite3_step(stmt);
    if (src != SQLITE_DONE)
        rc = fail(spool, src, "cannot store a sink cursor", err);
    stmt_done(stmt);
    return rc;
}

static int name_in(const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return 1;
    return 0;
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

/* --- housekeeping ------------------------------------------------------- */

static int subscribed(const struct sa_subscription *sub, const char *stream)
{
    return sub->n_streams == 0 || name_in(stream, sub->streams, sub->n_streams);
}

struct stream_list {
    char **v;
    size_t n;
};

static void stream_list_fini(struct stream_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int list_streams(struct sa_spool *s, struct stream_list *l,
                        struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(s, STMT_SEGMENT_STREAMS, err);
    size_t cap = 0;
    int src, rc = SA_OK;

    if (!stmt)
        return stmt_err(err);
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        char *name = strdup((const char *)sqlite3_column_text(stmt, 0));
        if (name && l->n == cap) {
            char **v = realloc(l->v, (cap ? cap * 2 : 8) * sizeof *v);
            if (v) {
                l->v = v;
                cap = cap ? cap * 2 : 8;
            }
        }
        if (!name || l->n == cap) {
            free(name);
            rc = sa_err_set(err, SA_ENOMEM, "spool %s: out of memory", s->path);
            goto out;
        }
        l->v[l->n++] = name;
    }
    if (src != SQLITE_DONE)
        rc = fail(s, src, "cannot list streams", err);
out:
    stmt_done(stmt);
    return rc;
}

/* incremental_vacuum shrinks the file by moving the pages in use at its
 * end into free pages nearer its start. While a backlog drains from the
 * oldest segment, the pages at the end hold the newest, unsent records:
 * vacuuming after every trim kept relocating the backlog, and per record
 * trimmed it cost more the larger the backlog (a drain of 4M records spent
 * 13 % of its CPU in incremental_vacuum). So vacuum only once the pages
 * in use are at most 1/16 of the file: a drained spool still shrinks to
 * almost nothing, and the few pages moved then are cheap. Until then the
 * file keeps its size, which the cap already bounds: the cap counts pages
 * in use, and free pages are reused before the file grows (I5). */
static int vacuum_and_checkpoint(struct sa_spool *s, int mode,
                                 struct sa_err *err)
{
    int64_t pages, free_pages;
    int src, rc = step_int(s, STMT_PAGE_COUNT, &pages, "page_count", err);

    if (!rc)
        rc = step_int(s, STMT_FREELIST_COUNT, &free_pages, "freelist_count",
                      err);
    if (rc)
        return rc;
    /* Only once the file is mostly free (see above); then step by step,
     * checkpointing in between: vacuuming every free page at once would
     * need WAL room for all the pages it moves, which a nearly full disk
     * does not have. */
    if (free_pages < VACUUM_FREE_RATIO * (pages - free_pages))
        free_pages = 0;
    for (int steps = 0; free_pages > 0 && steps < 4096; steps++) {
        int64_t before = free_pages;
        rc = run(s, STMT_INCREMENTAL_VACUUM, "incremental_vacuum", err);
        if (rc)
            return rc;
        src = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                        NULL, NULL);
        if (src != SQLITE_OK && src != SQLITE_BUSY)
            return fail(s, src, "checkpoint", err);
        rc = step_int(s, STMT_FREELIST_COUNT, &free_pages, "freelist_count", err);
        if (rc)
            return rc;
        if (free_pages >= before)
            break;
    }
    src = sqlite3_wal_checkpoint_v2(s->db, NULL, mode, NULL, NULL);
    /* A passive checkpoint meeting another one (the writer's automatic
     * checkpoint) is no failure of the trim: the next one catches up. */
    if (src == SQLITE_BUSY && mode == SQLITE_CHECKPOINT_PASSIVE)
        return SA_OK;
    if (src != SQLITE_OK)
        return fail(s, src, "checkpoint", err);
    return SA_OK;
}

int sa_spool_trim(struct sa_spool *spool, const struct sa_subscription *subs,
                  size_t n_subs, int64_t *trimmed, struct sa_err *err)
{
    struct stream_list streams = {0};
    struct sa_cursor *cursors = NULL;
    sqlite3_stmt *del = NULL;
    int64_t n_trimmed = 0;
    int src, rc;

    if (trimmed)
        *trimmed = 0;
    if (n_subs) {
        cursors = calloc(n_subs, sizeof *cursors);
        if (!cursors)
            return sa_err_set(err, SA_ENOMEM, "spool %s: out of memory",
                              spool->path);
    }
    rc = run(spool, STMT_BEGIN_IMMEDIATE, "cannot begin the trim", err);
    if (rc)
        goto out;
    for (size_t i = 0; i < n_subs; i++) {
        rc = sa_spool_cursor_get(spool, subs[i].sink, &cursors[i], err);
        if (rc)
            goto out;
    }
    rc = list_streams(spool, &streams, err);
    if (rc)
        goto out;
    del = stmt_get(spool, STMT_SEGMENT_TRIM, err);
    if (!del) {
        rc = stmt_err(err);
        goto out;
    }
    for (size_t i = 0; i < streams.n; i++) {
        struct sa_cursor min = {0, 0};
        int any = 0;

        /* The slowest subscribed sink decides; cursors order by
         * (segment_id, record_index). */
        for (size_t j = 0; j < n_subs; j++) {
            const struct sa_cursor *c = &cursors[j];
            if (!subscribed(&subs[j], streams.v[i]))
                continue;
            if (!any || c->segment_id < min.segment_id ||
                (c->segment_id == min.segment_id &&
                 c->record_index < min.record_index))
                min = *c;
            any = 1;
        }
        if (!any || min.segment_id == 0)
            continue; /* nobody takes it, or nobody has acked anything */
        src = sqlite3_bind_text(del, 1, streams.v[i], -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(del, 2, min.segment_id);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(del, 3, min.record_index);
        if (src == SQLITE_OK)
            src = sqlite3_step(del);
        if (src != SQLITE_DONE) {
            rc = fail(spool, src, "cannot trim segments", err);
            goto out;
        }
        n_trimmed += sqlite3_changes(spool->db);
        sqlite3_reset(del);
    }
    stmt_done(del);
    del = NULL;
    rc = run(spool, STMT_COMMIT, "cannot commit the trim", err);
    if (rc)
        goto out;
    if (trimmed)
        *trimmed = n_trimmed;
    rc = vacuum_and_checkpoint(spool, SQLITE_CHECKPOINT_PASSIVE, err);
out:
    stmt_done(del);
    if (rc)
        rollback(spool);
    stream_list_fini(&streams);
    free(cursors);
    return rc;
}

int sa_spool_checkpoint(struct sa_spool *spool, struct sa_err *err)
{
    return vacuum_and_checkpoint(spool, SQLITE_CHECKPOINT_TRUNCATE, err);
}

/* sa_spool_checkpoint_restart: what may be left for the RESTART itself. */
#define RESTART_LEFT_PAGES 64

/* fdatasync the database and the WAL through the connection's own files
 * (never a descriptor of our own: closing any descriptor of a file drops
 * every POSIX lock this process holds on it, SQLite's included). Taken
 * between checkpoints, holding no lock: what it makes durable, a
 * checkpoint's own sync under SQLite's locks no longer waits for. Its
 * errors are the checkpoint's: Linux reports a failed writeback once per
 * open file, so the checkpoint's own sync on the same file would not see
 * it again, and the WAL must not start over on top of frames whose pages
 * may not be on disk. */
static int sync_files(struct sa_spool *s, struct sa_err *err)
{
    const int ops[2] = {SQLITE_FCNTL_FILE_POINTER, SQLITE_FCNTL_JOURNAL_POINTER};

    for (int i = 0; i < 2; i++) {
        sqlite3_file *f = NULL;
        int src;
        if (sqlite3_file_control(s->db, "main", ops[i], &f) != SQLITE_OK || !f ||
            !f->pMethods)
            continue;
        src = f->pMethods->xSync(f, SQLITE_SYNC_NORMAL | SQLITE_SYNC_DATAONLY);
        if (src != SQLITE_OK)
            return fail(s, src, i == 0 ? "cannot sync the database before a WAL "
                        "restart" : "cannot sync the WAL before a restart", err);
    }
    return SA_OK;
}

int sa_spool_checkpoint_if_large(struct sa_spool *spool, int64_t wal_bytes,
                                 int64_t *wal_used, struct sa_err *err)
{
    struct stat st;
    int src, frames = 0;

    if (wal_used)
        *wal_used = 0;
    if (stat(spool->wal_path, &st) != 0 || (int64_t)st.st_size < wal_bytes)
        return SA_OK;
    /* PASSIVE: copies what it can without blocking the writer; the writer
     * starts the WAL over once every frame is in the database. */
    src = sqlite3_wal_checkpoint_v2(spool->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                    &frames, NULL);
    if (src != SQLITE_OK && src != SQLITE_BUSY)
        return fail(spool, src, "checkpoint", err);
    if (wal_used && frames > 0)
        *wal_used = (int64_t)frames * spool->page_size;
    return SA_OK;
}

int sa_spool_checkpoint_restart(struct sa_spool *spool, int max_wait_ms,
                                struct sa_err *err)
{
    int src, rc, frames = 0, copied = 0, last_frames = 0;

    /* The bulk first, without holding anyone up: passive checkpoints, each
     * followed by a sync of what it wrote (one that does not reach the end
     * of the WAL, as commits went on meanwhile, leaves the database
     * unsynced: megabytes that the RESTART below would write back while it
     * holds the writer off). Commits go on meanwhile; each round has less
     * to copy and sync, until what is left takes a moment. */
    for (int round = 0; round < 4; round++) {
        src = sqlite3_wal_checkpoint_v2(spool->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                        &frames, &copied);
        if (src != SQLITE_OK && src != SQLITE_BUSY)
            return fail(spool, src, "checkpoint", err);
        /* Another connection holds the checkpoint lock (the writer's
         * backstop, wal_hook): SQLite then says BUSY at once and counts
         * nothing (-1). The RESTART would fail the same way: next time. */
        if (frames < 0)
            return SA_OK;
        /* Left for the RESTART: what this round could not copy (a reader
         * holds an older snapshot) and what the last sync did not cover. */
        if (round > 0 && (frames - copied) + (frames - last_frames) <= RESTART_LEFT_PAGES)
            break;
        last_frames = frames;
        if ((rc = sync_files(spool, err)))
            return rc;
    }
    /* Then the few frames committed meanwhile, holding the next writer off
     * until the last reader of the WAL is done: for max_wait_ms at most,
     * since the writer is the ingest path. */
    spool->busy_timeout_us = max_wait_ms * 1000LL;
    src = sqlite3_wal_checkpoint_v2(spool->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL,
                                    NULL);
    spool->busy_timeout_us = BUSY_TIMEOUT_MS * 1000LL;
    if (src != SQLITE_OK && src != SQLITE_BUSY)
        return fail(spool, src, "checkpoint", err);
    return SA_OK;
}

/* After each commit on a connection handed to sa_spool_on_wal_growth. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct sa_spool *s = arg;

    s->wal_pages = pages;
    if (pages >= SA_SPOOL_WAL_BACKSTOP_PAGES) {
        /* Whoever checkpoints fell behind: do as SQLite's automatic
         * checkpoint does. Its errors show at the next commit. */
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (pages >= s->wal_notify_pages) {
        s->wal_fn(s->wal_arg, (int64_t)pages * s->page_size);
    }
    return SQLITE_OK;
}

void sa_spool_on_wal_growth(struct sa_spool *spool, int64_t notify_bytes,
                            void (*fn)(void *, int64_t), void *arg)
{
    if (!fn) {
        sqlite3_wal_autocheckpoint(spool->db, SA_SPOOL_WAL_AUTOCHECKPOINT_PAGES);
        spool->wal_fn = NULL;
        spool->wal_arg = NULL;
        spool->wal_pages = 0;
        return;
    }
    spool->wal_fn = fn;
    spool->wal_arg = arg;
    spool->wal_pages = 0;
    spool->wal_notify_pages = (int)(notify_bytes / (spool->page_size > 0
                                                        ? spool->page_size : 4096));
    if (spool->wal_notify_pages < 1)
        spool->wal_notify_pages = 1;
    sqlite3_wal_hook(spool->db, wal_hook, spool);
}

int sa_spool_last_segment_id(struct sa_spool *spool, int64_t *id,
                             struct sa_err *err)
{
    return step_int(spool, STMT_SEGMENT_ID_LAST, id, "cannot read the last "
                    "segment id", err);
}

int sa_spool_used_bytes(struct sa_spool *spool, int64_t *bytes,
                        struct sa_err *err)
{
    return used_bytes(spool, bytes, err);
}

int sa_spool_audit(struct sa_spool *spool, const char *kind,
                   const char *detail, struct sa_err *err)
{
    if (!kind)
        return sa_err_set(err, SA_EINVAL, "spool %s: audit without a kind",
                          spool->path);
    return audit_insert(spool, kind, detail, err);
}

/* --- the reserve (see spool.h) ------------------------------------------ */

static char *reserve_path(const char *path)
{
    char *p;
    return asprintf(&p, "%s-reserve", path) < 0 ? NULL : p;
}

int sa_spool_keep_reserve(struct sa_spool *spool)
{
    char *path = reserve_path(spool->path);
    struct statvfs vfs;
    struct stat st;
    int fd, e, ok = 0;

    if (!path)
        return 0;
    if (stat(path, &st) == 0 && st.st_size >= SA_SPOOL_RESERVE_BYTES) {
        ok = 1;
        goto out;
    }
    if (statvfs(spool->dir, &vfs) != 0 ||
        (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize <
            spool->min_free + 4 * (int64_t)SA_SPOOL_RESERVE_BYTES)
        goto out;
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        e = errno;
        goto failed;
    }
    /* Real blocks, not a sparse file: they are what a full disk lacks. */
    e = posix_fallocate(fd, 0, SA_SPOOL_RESERVE_BYTES);
    close(fd);
    if (e) {
        unlink(path);
        goto failed;
    }
    ok = 1;
    sa_log(SA_LOG_DEBUG, "spool reserve in place", "path", path, (const char *)0);
    goto out;
failed:
    /* There was room: something else is wrong. Said once per handle, as
     * the housekeeper tries again every few seconds. */
    if (!spool->reserve_warned) {
        spool->reserve_warned = 1;
        sa_log_warn("cannot create the spool reserve (a start on a full disk "
                    "will not be able to give it up)", "path", path, "error",
                    strerror(e));
    }
out:
    free(path);
    return ok;
}

int sa_spool_release_reserve(const char *path)
{
    char *p = reserve_path(path);
    int removed;

    if (!p)
        return 0;
    removed = unlink(p) == 0;
    free(p);
    return removed;
}

/* The note that ingest is paused lives beside the spool, in "<path>-note",
 * not in it: it matters on a full disk, where a write into the spool (a new
 * WAL frame) may not fit. The file has NOTE_BYTES, allocated when the note
 * is first written (the pipeline clears it at start, while there is room)
 * and rewritten in place after that, which needs no new block. Its content:
 * "<since_ms> <reason>\n", or since_ms 0 when ingest is not paused. */
#define NOTE_BYTES 512

static char *note_path(const struct sa_spool *s)
{
    char *p;
    return asprintf(&p, "%s-note", s->path) < 0 ? NULL : p;
}

int sa_spool_note_blocked(struct sa_spool *spool, const char *reason,
                          struct sa_err *err)
{
    char value[NOTE_BYTES];

    memset(value, 0, sizeof value);
    if (reason)
        snprintf(value, sizeof value, "%" PRId64 " %s\n", sa_now_ms(), reason);
    else
        snprintf(value, sizeof value, "0\n");
    if (spool->note_fd < 0) {
        char *path = note_path(spool);
        int e;

        if (!path)
            return sa_err_set(err, SA_ENOMEM, "spool %s: out of memory",
                              spool->path);
        spool->note_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (spool->note_fd < 0) {
            int rc = sa_err_set(err, SA_EIO, "cannot open %s: %s", path,
                                strerror(errno));
            free(path);
            return rc;
        }
        e = posix_fallocate(spool->note_fd, 0, NOTE_BYTES);
        if (e && e != EOPNOTSUPP && e != EINVAL) {
            int rc = sa_err_set(err, SA_EIO, "cannot allocate %s: %s", path,
                                strerror(e));
            close(spool->note_fd);
            spool->note_fd = -1;
            free(path);
            return rc;
        }
        free(path);
    }
    if (pwrite(spool->note_fd, value, sizeof value, 0) != (ssize_t)sizeof value)
        return sa_err_set(err, SA_EIO, "spool %s: cannot write its -note file: "
                          "%s", spool->path, strerror(errno));
    return SA_OK;
}

/* "<path>-note": see sa_spool_note_blocked. No file, no note. */
static int status_blocked(struct sa_spool *s, struct sa_spool_status *st,
                          struct sa_err *err)
{
    char buf[NOTE_BYTES + 1], *end = NULL, *nl;
    char *path = note_path(s);
    long long since;
    ssize_t n;
    int fd;

    if (!path)
        return sa_err_set(err, SA_ENOMEM, "spool %s: out of memory", s->path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = errno == ENOENT ? SA_OK
                                 : sa_err_set(err, SA_EIO, "cannot open %s: %s",
                                              path, strerror(errno));
        free(path);
        return rc;
    }
    n = pread(fd, buf, NOTE_BYTES, 0);
    close(fd);
    free(path);
    if (n <= 0)
        return SA_OK;
    buf[n] = '\0';
    since = strtoll(buf, &end, 10);
    if (since <= 0)
        return SA_OK;
    if ((nl = strchr(end, '\n')) != NULL)
        *nl = '\0';
    st->blocked_since_ms = since;
    snprintf(st->blocked_reason, sizeof st->blocked_reason, "%s",
             *end == ' ' && end[1] ? end + 1 : "unknown");
    return SA_OK;
}

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
        rc = step_int(spool, STMT_DEADLETTER_COUNT, &out->deadletters,
                      "cannot count dead letters", err);
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
