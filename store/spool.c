/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool: segments, cursors, offsets, dead letters and audit in one
 * SQLite file (DESIGN.md §3). Every handle is one connection used by one
 * thread; processes and threads share the file through SQLite's WAL.
 *
 * On disk (format 4, sql.h SA_SQL_CREATE_V4; migrate.c upgrades older):
 *   meta            origin_id (UUID v4, made once), next_seq, format, hlc
 *                   (the newest hybrid logical clock value handed out)
 *   segments        one row per batch of records of one stream and schema;
 *                   data is frames (segment.h), deflated when codec = 1;
 *                   ids AUTOINCREMENT, never reused (cursors refer to them)
 *   sink_cursors    (segment_id, record_index) acked up to, per sink
 *   source_offsets  where each source resumes
 *   deadletters     what could not be accepted, and why (deadletter.c)
 *   audit           what the spool did on its own: drop_oldest, cursor
 *                   removals, migrations
 *
 * Invariants and who keeps them:
 *   - Seqs are gap-free: sa_spool_commit() reads meta.next_seq after
 *     BEGIN IMMEDIATE, so one writer at a time (any process) assigns the
 *     next range, and writes it back in the same transaction.
 *   - Versions never repeat: a commit stores the newest hybrid logical
 *     clock value of its records (sa_commit.hlc) in meta.hlc in the same
 *     transaction, and the next writer's clock starts after it
 *     (sa_spool_hlc_get), whatever the wall clock did meanwhile.
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
 *     runs a checkpoint, and a vacuum once at most 1/16 of the file is in
 *     use, so a drained spool shrinks (vacuum_and_checkpoint).
 *
 * Statements are prepared once per handle (SA_SQL_STATEMENTS) and reset
 * after each use, so that no read transaction outlives a call and blocks
 * checkpoints. Compression happens before BEGIN IMMEDIATE to keep the
 * write lock short.
 *
 * This file opens and closes the handle and holds the helpers, schemas and
 * ingest; cursor.c, housekeeping.c, reserve.c and status.c hold the rest,
 * sharing the handle through spool_private.h.
 */
#include "store/spool.h"

#include "agent/base/buf.h"
#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "store/migrate.h"
#include "store/spool_private.h"
#include "store/sql.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* SQLite's default SQLITE_MAX_LENGTH: no stored blob is larger. */
#define SEGMENT_MAX_BYTES ((size_t)1000000000)
/* What a row costs besides its payload (cell header, index entry): only
 * used to decide whether a commit fits under max_bytes. */
#define ROW_OVERHEAD 64

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

int sa_spool_fail(struct sa_spool *s, int sqlite_rc, const char *what,
                  struct sa_err *err)
{
    return sa_err_set(err, sa_store_rc(sqlite_rc), "spool %s: %s: %s", s->path,
                      what, sqlite3_errmsg(s->db));
}

sqlite3_stmt *sa_spool_stmt(struct sa_spool *s, enum stmt_id id, struct sa_err *err)
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

/* Step a statement without parameters to its end (BEGIN, COMMIT, pragmas
 * that return rows while they work). */
int sa_spool_run(struct sa_spool *s, enum stmt_id id, const char *what,
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

void sa_spool_rollback(struct sa_spool *s)
{
    if (!sqlite3_get_autocommit(s->db) &&
        run(s, STMT_ROLLBACK, "rollback", NULL) != SA_OK)
        sqlite3_exec(s->db, SA_SQL_TXN_ROLLBACK, NULL, NULL, NULL);
}

int sa_spool_json_str(struct sa_buf *b, const char *str)
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

int sa_spool_meta_get_int(struct sa_spool *s, const char *key, int64_t *out,
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

int sa_spool_step_int(struct sa_spool *s, enum stmt_id id, int64_t *out,
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

int sa_spool_used_bytes(struct sa_spool *s, int64_t *bytes, struct sa_err *err)
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

int sa_spool_audit_insert(struct sa_spool *s, const char *kind,
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
sqlite3_stmt *sa_spool_stream_stmt(struct sa_spool *s, enum stmt_id all,
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

/* Whether a read-only open must read the spool as immutable: its directory
 * is not writable (so the -shm cannot be created) and there is no WAL
 * content that the database file lacks. */
static int read_immutable(const struct sa_spool *s)
{
    struct stat st;

    if (access(s->dir, W_OK) == 0)
        return 0;
    return stat(s->wal_path, &st) != 0 || st.st_size == 0;
}

/* "file:PATH?immutable=1", PATH with the characters a URI gives meaning
 * to escaped (malloc'd; NULL when out of memory). */
static char *immutable_uri(const char *path)
{
    static const char suffix[] = "?immutable=1";
    char *uri = malloc(5 + 3 * strlen(path) + sizeof suffix), *o = uri;

    if (!uri)
        return NULL;
    o += sprintf(o, "file:");
    for (const char *p = path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#')
            o += sprintf(o, "%%%02X", (unsigned char)*p);
        else
            *o++ = *p;
    }
    memcpy(o, suffix, sizeof suffix);
    return uri;
}

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
    if (readonly && read_immutable(s)) {
        /* A reader of a directory it cannot write (a read-only mount, a
         * spool owned by the agent's user): SQLite would have to create
         * the WAL index (-shm) beside the database and fails with
         * "attempt to write a readonly database". With no WAL to read no
         * writer can be running there, so the file is read as immutable
         * (SQLite's documented way for read-only media): no -shm, no
         * locks. */
        char *uri = immutable_uri(s->path);
        if (!uri) {
            rc = sa_err_set(err, SA_ENOMEM, "spool %s: out of memory", s->path);
            goto out;
        }
        src = sqlite3_open_v2(uri, &s->db, oflags | SQLITE_OPEN_URI, NULL);
        free(uri);
    } else {
        src = sqlite3_open_v2(s->path, &s->db, oflags, NULL);
    }
    if (src != SQLITE_OK) {
        rc = s->db ? fail(s, src, "cannot open", err)
                   : sa_err_set(err, SA_ENOMEM, "spool %s: cannot open: out "
                                "of memory", s->path);
        goto out;
    }
    s->busy_timeout_us = BUSY_TIMEOUT_MS * 1000LL;
    s->vacuum_whole_max = SA_SPOOL_VACUUM_WHOLE_MAX_PAGES;
    s->vacuum_last_used = -1;
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

int sa_spool_schema_newest(struct sa_spool *spool, const char *subject,
                           int64_t *schema_id, struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(spool, STMT_SCHEMA_NEWEST, err);
    int src, rc = SA_OK;

    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_text(stmt, 1, subject, -1, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    if (src == SQLITE_ROW)
        *schema_id = sqlite3_column_int64(stmt, 0);
    else if (src == SQLITE_DONE)
        rc = sa_err_set(err, SA_ENOTFOUND, "spool %s: no schema of subject %s",
                        spool->path, subject);
    else
        rc = fail(spool, src, "cannot look up the newest schema", err);
    stmt_done(stmt);
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
        (commit->n_deadletters && !commit->deadletters) ||
        (commit->n_settles && !commit->settles) || (commit->n_moves && !commit->moves))
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
    /* While the reserve is given up (a full disk), its room is for the
     * checkpoints and acks that recover, never for ingest, whatever
     * min_free says: with min_free 0, ingest took it back at once and left
     * a WAL no checkpoint could ever copy into the database. */
    int64_t min_free = spool->min_free;
    if (min_free < SA_SPOOL_RESERVE_BYTES && incoming > 0 && !sa_spool_has_reserve(spool))
        min_free = SA_SPOOL_RESERVE_BYTES;
    if (min_free > 0 && incoming > 0) {
        struct statvfs vfs;
        if (statvfs(spool->dir, &vfs) == 0) {
            int64_t avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
            int64_t need = min_free + 2 * incoming;
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
                                  "%" PRId64 "%s, the commit needs %" PRId64
                                  " and checkpointing the WAL up to %" PRId64,
                                  spool->path, avail, spool->min_free,
                                  min_free != spool->min_free
                                      ? " (the reserve's 4 MiB while it is given up)"
                                      : "",
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
    if (commit->hlc > 0) {
        if (!put && !(put = stmt_get(spool, STMT_META_PUT, err))) {
            rc = stmt_err(err);
            goto out;
        }
        sqlite3_reset(put);
        src = sqlite3_bind_text(put, 1, "hlc", -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(put, 2, commit->hlc);
        if (src == SQLITE_OK)
            src = sqlite3_step(put);
        if (src != SQLITE_DONE) {
            rc = fail(spool, src, "cannot store the clock (meta.hlc)", err);
            goto out;
        }
    }
    rc = put_offsets(spool, commit, now, err);
    if (rc)
        goto out;
    rc = sa_spool_deadletters_put(spool, commit, now, err);
    if (rc)
        goto out;
    rc = sa_spool_deadletters_settle(spool, commit, now, err);
    if (rc)
        goto out;
    rc = sa_spool_deadletters_moved(spool, commit, err);
    if (rc)
        goto out;
    if (commit->audit_kind) {
        rc = audit_insert(spool, commit->audit_kind, commit->audit_detail, err);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < commit->n_audits; i++)
        if ((rc = audit_insert(spool, commit->audits[i].kind, commit->audits[i].detail,
                               err)))
            goto out;
    rc = sa_spool_rollup_commit(spool, commit, now, err);
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

int sa_spool_hlc_get(struct sa_spool *spool, int64_t *last, struct sa_err *err)
{
    struct sa_err ignored = {0};
    int rc = meta_get_int(spool, "hlc", last, &ignored);

    /* A spool nothing with a clock value was committed to has no row. */
    if (rc == SA_ECORRUPT) {
        *last = 0;
        return SA_OK;
    }
    if (rc)
        return sa_err_set(err, rc, "%s", ignored.msg);
    return SA_OK;
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
