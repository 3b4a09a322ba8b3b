/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The start-up check of a spool and `spool salvage` (salvage.h).
 *
 * Precheck. `run` and `import` call sa_spool_precheck() before they open
 * the spool read-write: PRAGMA quick_check on a SQLITE_OPEN_READONLY
 * connection. A read-only connection never writes the database and never
 * checkpoints on close, so a damaged file stays byte for byte as it was
 * found. A truncated WAL is not damage to SQLite: the frames after the
 * cut fail their checksums and the spool opens at its last complete
 * commit, offsets and records alike (I1), as after a crash. When the cut
 * leaves the database file ahead of the WAL (a partial checkpoint), the
 * mix shows up as damage here.
 *
 * Salvage. Each table is copied by rowid: a scan from the last rowid read
 * on; when a page cannot be read the scan stops with SQLITE_CORRUPT and
 * the copy steps over the damage one rowid at a time with point lookups
 * (which descend the b-tree by another path) until a row is found, then
 * scans again. Rowids up to the table's highest known one (max(rowid), or
 * the segment sequence) are tried; when even that cannot be read, a
 * window of PROBE_WINDOW rowids past the last good one. A segment is kept
 * only when its payload inflates to its stated size and every frame
 * checks out (sa_segment_check), so garbage read from a damaged page is
 * not passed on. Segments keep their ids and seqs and the old origin_id
 * is kept when readable, so sinks and their readers still recognise
 * every record by (origin_id, seq); lost segments leave gaps in both,
 * which `spool verify` accepts as it does trimmed ones. Offsets are
 * copied as they were: rows of a lost segment are not read again from
 * their source (the report says how many segments were lost).
 */
#include "store/salvage.h"

#include "agent/base/buf.h"
#include "agent/base/clock.h"
#include "store/segment.h"
#include "store/spool.h"
#include "store/sql.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PROBE_WINDOW 100000
#define SEGMENT_MAX_BYTES ((size_t)1000000000)

struct table_def {
    const char *name, *columns, *insert;
    int n_columns;
};

static const struct table_def tables[] = {
#define XX(tname, cols, n, ins) {#tname, cols, ins, n},
    SA_SQL_SALVAGE_TABLES(XX)
#undef XX
};

#define N_TABLES (sizeof tables / sizeof tables[0])
_Static_assert(N_TABLES <= sizeof ((struct sa_salvage_result *)0)->tables /
                               sizeof(struct sa_salvage_table),
               "sa_salvage_result.tables");

/* Damage, as opposed to an I/O error while reading (which says nothing
 * about the file and is reported as SA_EIO, exit 1). */
static int is_damage(int src)
{
    src &= 0xff;
    return src == SQLITE_CORRUPT || src == SQLITE_NOTADB || src == SQLITE_FORMAT;
}

int sa_spool_precheck(const char *path, struct sa_err *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    struct stat st;
    char first[300] = "";
    int n_problems = 0, src, rc = SA_OK;

    if (stat(path, &st) != 0)
        return errno == ENOENT ? SA_OK
                               : sa_err_set(err, SA_EIO, "spool %s: %s", path,
                                            strerror(errno));
    if (st.st_size == 0)
        return SA_OK; /* an empty file is an empty database: created */
    src = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                          NULL);
    if (src == SQLITE_OK)
        src = sqlite3_busy_timeout(db, 10000);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(db, SA_SQL_SALVAGE_QUICK_CHECK, -1, &stmt, NULL);
    while (src == SQLITE_OK && (src = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(stmt, 0);
        if (line && strcmp(line, "ok") != 0 && n_problems++ == 0) {
            /* The first problem, on one line, without SQLite's banner. */
            if (strncmp(line, "*** in database main ***\n", 25) == 0)
                line += 25;
            snprintf(first, sizeof first, "%.*s", (int)strcspn(line, "\n"), line);
        }
        src = SQLITE_OK;
    }
    if (src != SQLITE_DONE && src != SQLITE_OK) {
        if (is_damage(src) || (db && is_damage(sqlite3_extended_errcode(db)))) {
            snprintf(first, sizeof first, "%s", db ? sqlite3_errmsg(db) : "");
            n_problems++;
        } else {
            rc = sa_err_set(err, SA_EIO, "spool %s: cannot check it: %s", path,
                            db ? sqlite3_errmsg(db) : "out of memory");
        }
    }
    if (!rc && n_problems)
        rc = sa_err_set(err, SA_ECORRUPT,
                        "spool %s is damaged and was left as it is; `syncagent "
                        "spool salvage --path SPOOL --out NEW` copies what is "
                        "readable into a new spool (quick_check: %.80s)",
                        path, first);
    sqlite3_finalize(stmt);
    sqlite3_close_v2(db);
    return rc;
}

/* --- salvage ------------------------------------------------------------- */

struct salvage {
    sqlite3 *bad, *out;
    const char *bad_path, *out_path;
    struct sa_buf frames;
    struct sa_salvage_result *res;
    int64_t max_seg_id, max_seg_end, old_next_seq;
};

static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int src = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);

    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    if (src == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
        *out = sqlite3_column_int64(stmt, 0);
        src = SQLITE_OK;
    } else if (src == SQLITE_ROW || src == SQLITE_DONE) {
        src = SQLITE_DONE; /* no value */
    }
    sqlite3_finalize(stmt);
    return src;
}

/* Is this row of `segments` (columns after the rowid) sound? */
static int segment_ok(struct salvage *sv, sqlite3_stmt *row)
{
    struct sa_segment_view view;
    struct sa_err err = {0};
    const void *blob = sqlite3_column_blob(row, 11);
    size_t blob_len = (size_t)sqlite3_column_bytes(row, 11);
    int codec = sqlite3_column_int(row, 10);

    memset(&view, 0, sizeof view);
    view.id = sqlite3_column_int64(row, 1);
    view.stream = (const char *)sqlite3_column_text(row, 2);
    view.schema_id = sqlite3_column_int64(row, 3);
    view.first_seq = (uint64_t)sqlite3_column_int64(row, 4);
    view.count = (uint32_t)sqlite3_column_int64(row, 5);
    if (!view.stream || view.first_seq < 1 || view.count == 0 || !blob)
        return 0;
    sa_buf_reset(&sv->frames);
    if (codec == SA_CODEC_DEFLATE) {
        if (sa_segment_decompress(blob, blob_len, &sv->frames, &err) != SA_OK)
            return 0;
    } else if (codec != SA_CODEC_NONE ||
               sa_buf_append(&sv->frames, blob, blob_len) != SA_OK) {
        return 0;
    }
    if ((int64_t)sv->frames.len != sqlite3_column_int64(row, 6))
        return 0;
    view.data = sv->frames.data;
    view.len = sv->frames.len;
    return sa_segment_check(&view, &err) == SA_OK;
}

/* Copy one row (column 0 the rowid, then the insert's parameters). */
static int copy_row(struct salvage *sv, const struct table_def *t,
                    sqlite3_stmt *row, sqlite3_stmt *ins,
                    struct sa_salvage_table *ts, struct sa_err *err)
{
    int src = SQLITE_OK;

    if (strcmp(t->name, "segments") == 0 && !segment_ok(sv, row)) {
        ts->lost++;
        return SA_OK;
    }
    if (strcmp(t->name, "meta") == 0) {
        const char *key = (const char *)sqlite3_column_text(row, 1);
        if (!key)
            return SA_OK;
        if (strcmp(key, "origin_id") == 0) {
            if (sqlite3_column_bytes(row, 2) != 36) {
                ts->lost++;
                return SA_OK;
            }
            snprintf(sv->res->origin_id, sizeof sv->res->origin_id, "%s",
                     (const char *)sqlite3_column_text(row, 2));
            sv->res->origin_kept = 1;
        } else if (strcmp(key, "next_seq") == 0) {
            sv->old_next_seq = sqlite3_column_int64(row, 2);
        }
    }
    for (int i = 0; i < t->n_columns && src == SQLITE_OK; i++)
        src = sqlite3_bind_value(ins, i + 1, sqlite3_column_value(row, i + 1));
    if (src == SQLITE_OK)
        src = sqlite3_step(ins);
    sqlite3_reset(ins);
    if (src != SQLITE_DONE) {
        /* A constraint (a duplicate read back from garbage) loses the row;
         * anything else is a failure of the new spool. */
        if ((src & 0xff) == SQLITE_CONSTRAINT) {
            ts->lost++;
            return SA_OK;
        }
        return sa_err_set(err, SA_EIO, "spool %s: cannot write %s: %s",
                          sv->out_path, t->name, sqlite3_errmsg(sv->out));
    }
    ts->recovered++;
    if (strcmp(t->name, "segments") == 0) {
        int64_t id = sqlite3_column_int64(row, 1);
        int64_t end = sqlite3_column_int64(row, 4) + sqlite3_column_int64(row, 5);
        if (id > sv->max_seg_id)
            sv->max_seg_id = id;
        if (end > sv->max_seg_end)
            sv->max_seg_end = end;
        sv->res->records_recovered += sqlite3_column_int64(row, 5);
    }
    return SA_OK;
}

static int copy_table(struct salvage *sv, const struct table_def *t,
                      struct sa_salvage_table *ts, struct sa_err *err)
{
    sqlite3_stmt *scan = NULL, *probe = NULL, *ins = NULL;
    char sql[1024];
    int64_t last = INT64_MIN, max_rowid = INT64_MIN, limit;
    int src, rc = SA_OK;

    ts->name = t->name;
    snprintf(sql, sizeof sql, "SELECT max(rowid) FROM %s", t->name);
    if (query_int(sv->bad, sql, &max_rowid) != SQLITE_OK)
        max_rowid = INT64_MIN;
    if (strcmp(t->name, "segments") == 0) {
        int64_t seq;
        if (query_int(sv->bad, SA_SQL_SALVAGE_SEQUENCE, &seq) == SQLITE_OK &&
            seq > max_rowid)
            max_rowid = seq;
    }
    snprintf(sql, sizeof sql, "SELECT rowid, %s FROM %s WHERE rowid > ?1 "
             "ORDER BY rowid", t->columns, t->name);
    src = sqlite3_prepare_v2(sv->bad, sql, -1, &scan, NULL);
    if (src == SQLITE_OK) {
        snprintf(sql, sizeof sql, "SELECT rowid, %s FROM %s WHERE rowid = ?1",
                 t->columns, t->name);
        src = sqlite3_prepare_v2(sv->bad, sql, -1, &probe, NULL);
    }
    if (src != SQLITE_OK) {
        /* The table itself cannot be found: its schema entry is damaged. */
        ts->lost = -1;
        goto out;
    }
    src = sqlite3_prepare_v2(sv->out, t->insert, -1, &ins, NULL);
    if (src != SQLITE_OK) {
        rc = sa_err_set(err, SA_ESQL, "spool %s: %s", sv->out_path,
                        sqlite3_errmsg(sv->out));
        goto out;
    }
    for (;;) {
        int found = 0;

        sqlite3_reset(scan);
        sqlite3_bind_int64(scan, 1, last);
        while ((src = sqlite3_step(scan)) == SQLITE_ROW) {
            last = sqlite3_column_int64(scan, 0);
            rc = copy_row(sv, t, scan, ins, ts, err);
            if (rc)
                goto out;
        }
        sqlite3_reset(scan);
        if (src == SQLITE_DONE)
            break;
        /* Damage: step over it rowid by rowid. */
        if (last == INT64_MIN)
            last = 0;
        limit = max_rowid > last ? max_rowid : last + PROBE_WINDOW;
        while (!found && last < limit) {
            last++;
            sqlite3_reset(probe);
            sqlite3_bind_int64(probe, 1, last);
            src = sqlite3_step(probe);
            if (src == SQLITE_ROW) {
                rc = copy_row(sv, t, probe, ins, ts, err);
                if (rc)
                    goto out;
                found = 1;
            } else if (src != SQLITE_DONE) {
                ts->lost++;
            }
        }
        sqlite3_reset(probe);
        if (!found)
            break;
    }
out:
    sqlite3_finalize(scan);
    sqlite3_finalize(probe);
    sqlite3_finalize(ins);
    return rc;
}

static int exec_int(sqlite3 *db, const char *sql, const char *text, int64_t value)
{
    sqlite3_stmt *stmt = NULL;
    const char *tail = sql;
    int src = SQLITE_OK;

    /* May hold more than one statement; each binds ?1 (and ?2). */
    while (src == SQLITE_OK && tail && *tail) {
        src = sqlite3_prepare_v2(db, tail, -1, &stmt, &tail);
        if (src != SQLITE_OK || !stmt)
            break;
        if (sqlite3_bind_parameter_count(stmt) >= 2) {
            sqlite3_bind_text(stmt, 1, text, -1, SQLITE_STATIC);
            sqlite3_bind_int64(stmt, 2, value);
        } else if (sqlite3_bind_parameter_count(stmt) == 1) {
            if (text)
                sqlite3_bind_text(stmt, 1, text, -1, SQLITE_STATIC);
            else
                sqlite3_bind_int64(stmt, 1, value);
        }
        src = sqlite3_step(stmt);
        src = src == SQLITE_DONE ? SQLITE_OK : src;
        sqlite3_finalize(stmt);
        stmt = NULL;
    }
    return src;
}

int sa_spool_salvage(const char *bad_path, const char *out_path,
                     struct sa_salvage_result *res, struct sa_err *err)
{
    struct salvage sv;
    struct sa_spool *created = NULL;
    struct sa_spool_opts opts;
    struct stat st;
    int64_t seq_ever = 0, next_seq;
    char detail[512];
    int src, rc = SA_OK, n = 0;

    memset(res, 0, sizeof *res);
    memset(&sv, 0, sizeof sv);
    sv.bad_path = bad_path;
    sv.out_path = out_path;
    sv.res = res;
    sa_buf_init(&sv.frames, SEGMENT_MAX_BYTES);
    if (stat(bad_path, &st) != 0) {
        rc = sa_err_set(err, errno == ENOENT ? SA_ENOTFOUND : SA_EIO,
                        "spool %s: %s", bad_path, strerror(errno));
        goto out;
    }
    if (stat(out_path, &st) == 0 || errno != ENOENT) {
        rc = sa_err_set(err, SA_EINVAL, "salvage: %s already exists; name a new "
                        "file", out_path);
        goto out;
    }
    src = sqlite3_open_v2(bad_path, &sv.bad,
                          SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_exec(sv.bad, SA_SQL_SALVAGE_CELL_SIZE_CHECK, NULL, NULL,
                           NULL);
    if (src == SQLITE_OK)
        src = sqlite3_exec(sv.bad, "SELECT count(*) FROM sqlite_master", NULL,
                           NULL, NULL);
    if (src != SQLITE_OK) {
        rc = sa_err_set(err, SA_ECORRUPT, "spool %s: nothing can be salvaged, "
                        "its schema cannot be read: %s", bad_path,
                        sv.bad ? sqlite3_errmsg(sv.bad) : "out of memory");
        goto out;
    }

    /* A fresh spool (its own origin_id, replaced below when the old one
     * is readable), then one transaction that fills it. */
    memset(&opts, 0, sizeof opts);
    opts.path = (char *)out_path;
    rc = sa_spool_open(&created, &opts, SA_SPOOL_CREATE | SA_SPOOL_QUIET, err);
    if (rc)
        goto out;
    snprintf(res->origin_id, sizeof res->origin_id, "%s",
             sa_spool_origin_id(created));
    sa_spool_close(created);
    created = NULL;
    src = sqlite3_open_v2(out_path, &sv.out,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_exec(sv.out, SA_SQL_TXN_BEGIN_IMMEDIATE, NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = sa_err_set(err, SA_EIO, "spool %s: %s", out_path,
                        sv.out ? sqlite3_errmsg(sv.out) : "out of memory");
        goto out;
    }
    for (size_t i = 0; i < N_TABLES; i++) {
        rc = copy_table(&sv, &tables[i], &res->tables[i], err);
        if (rc)
            goto out;
        if (res->tables[i].recovered)
            n++;
    }
    res->n_tables = N_TABLES;
    if (n == 0) {
        rc = sa_err_set(err, SA_ECORRUPT, "spool %s: no table could be read; "
                        "nothing salvaged", bad_path);
        goto out;
    }

    /* next_seq past every seq ever given; the id sequence past every id,
     * one more when the newest segments were lost, so that verify sees
     * the gap at the end as a deleted segment. */
    next_seq = sv.old_next_seq > sv.max_seg_end ? sv.old_next_seq : sv.max_seg_end;
    if (next_seq < 1)
        next_seq = 1;
    if (query_int(sv.bad, SA_SQL_SALVAGE_SEQUENCE, &seq_ever) != SQLITE_OK)
        seq_ever = 0;
    if (seq_ever < sv.max_seg_id)
        seq_ever = sv.max_seg_id;
    if (seq_ever == sv.max_seg_id && next_seq > sv.max_seg_end && sv.max_seg_end)
        seq_ever++;
    res->next_seq = (uint64_t)next_seq;
    src = exec_int(sv.out, SA_SQL_SALVAGE_META_PUT, "next_seq", next_seq);
    if (src == SQLITE_OK)
        src = exec_int(sv.out, SA_SQL_SALVAGE_SEQUENCE_PUT, NULL, seq_ever);
    if (src == SQLITE_OK) {
        int len = snprintf(detail, sizeof detail, "{\"from\":\"%s\"", bad_path);
        for (size_t i = 0; i < N_TABLES && len > 0 && (size_t)len < sizeof detail; i++)
            len += snprintf(detail + len, sizeof detail - (size_t)len,
                            ",\"%s\":{\"recovered\":%" PRId64 ",\"lost\":%" PRId64
                            "}", res->tables[i].name, res->tables[i].recovered,
                            res->tables[i].lost);
        if (len > 0 && (size_t)len < sizeof detail - 1)
            snprintf(detail + len, sizeof detail - (size_t)len, "}");
        else
            snprintf(detail, sizeof detail, "{\"detail\":\"too long\"}");
        sqlite3_stmt *audit = NULL;
        src = sqlite3_prepare_v2(sv.out, SA_SQL_SALVAGE_AUDIT, -1, &audit, NULL);
        if (src == SQLITE_OK)
            src = sqlite3_bind_int64(audit, 1, sa_now_ms());
        if (src == SQLITE_OK)
            src = sqlite3_bind_text(audit, 2, detail, -1, SQLITE_STATIC);
        if (src == SQLITE_OK)
            src = sqlite3_step(audit);
        if (src == SQLITE_DONE)
            src = SQLITE_OK;
        sqlite3_finalize(audit);
    }
    if (src == SQLITE_OK)
        src = sqlite3_exec(sv.out, SA_SQL_TXN_COMMIT, NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = sa_err_set(err, SA_EIO, "spool %s: cannot commit the salvaged rows: %s",
                        out_path, sqlite3_errmsg(sv.out));
        goto out;
    }
out:
    if (sv.out && !sqlite3_get_autocommit(sv.out))
        sqlite3_exec(sv.out, SA_SQL_TXN_ROLLBACK, NULL, NULL, NULL);
    sqlite3_close_v2(sv.out);
    sqlite3_close_v2(sv.bad);
    sa_buf_fini(&sv.frames);
    return rc;
}
