/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Spool formats and migrations (see migrate.h).
 *
 * PRAGMA user_version is the format:
 *   0  an empty database: becomes a spool only with SA_SPOOL_CREATE
 *   1  segments without codec, ids reused after a full trim, no audit
 *   2  dead letters without state nor raw rows kept by reference
 *   3  frames without a version
 *   4  no daily roll-ups, frames without quality tags
 *   5  the current format (sql.h SA_SQL_CREATE_V5, user_version 5)
 * A spool also has meta.origin_id; a database without it is not ours.
 *
 * Nothing is written before the file has been recognised: the first
 * statements only read user_version and sqlite_master, so a text file, a
 * foreign database or a newer spool is refused untouched. Creation and
 * each upgrade step run inside BEGIN IMMEDIATE and re-read user_version
 * there, so two processes opening the same file at once cannot both
 * create or both migrate it.
 */
#include "store/migrate.h"

#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "store/spool.h"
#include "store/sql.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

struct step {
    int from;
    const char *sql;
};

/* steps[i] upgrades format steps[i].from to from + 1. */
static const struct step steps[] = {
    {1, SA_SQL_MIGRATE_1_2},
    {2, SA_SQL_MIGRATE_2_3},
    {3, SA_SQL_MIGRATE_3_4},
    {4, SA_SQL_MIGRATE_4_5},
};

int sa_store_rc(int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW: return SA_OK;
    case SQLITE_FULL: return SA_EFULL;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return SA_ECORRUPT;
    case SQLITE_IOERR: return SA_EIO;
    case SQLITE_CANTOPEN: return SA_EIO;
    case SQLITE_NOMEM: return SA_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return SA_EAGAIN;
    default: return SA_ESQL;
    }
}

static int sql_fail(sqlite3 *db, const char *path, int sqlite_rc,
                    const char *what, struct sa_err *err)
{
    return sa_err_set(err, sa_store_rc(sqlite_rc), "spool %s: %s: %s", path,
                      what, sqlite3_errmsg(db));
}

/* Run a statement that yields one integer (or none: *out = 0). */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);

    *out = 0;
    if (rc != SQLITE_OK)
        goto out;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(stmt, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
out:
    sqlite3_finalize(stmt);
    return rc;
}

static int exec(sqlite3 *db, const char *path, const char *sql,
                const char *what, struct sa_err *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sql_fail(db, path, rc, what, err);
    return SA_OK;
}

static void rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, SA_SQL_TXN_ROLLBACK, NULL, NULL, NULL);
}

static int random_bytes(uint8_t *out, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < n) {
        /* Kernels without getrandom(2): fall back to the device. */
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        while (got < n) {
            ssize_t r = read(fd, out + got, n - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        close(fd);
    }
    return got == n ? 0 : -1;
}

/* A random (version 4) UUID, RFC 4122 text form. */
static int make_uuid(char out[37])
{
    uint8_t u[16];

    if (random_bytes(u, sizeof u) != 0)
        return -1;
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
             u[11], u[12], u[13], u[14], u[15]);
    return 0;
}

static int set_wal(sqlite3 *db, const char *path, struct sa_err *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, SA_SQL_JOURNAL_WAL, -1, &stmt, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        rc = sql_fail(db, path, rc, "cannot switch to WAL", err);
        goto out;
    }
    if (strcmp((const char *)sqlite3_column_text(stmt, 0), "wal") != 0) {
        rc = sa_err_set(err, SA_EIO, "spool %s: journal mode stays %s, not wal",
                        path, (const char *)sqlite3_column_text(stmt, 0));
        goto out;
    }
    rc = SA_OK;
out:
    sqlite3_finalize(stmt);
    return rc;
}

/* Create format SA_SPOOL_FORMAT in an empty database. *raced is set when
 * another process created it first (then nothing was done here). */
static int create(sqlite3 *db, const char *path, unsigned flags, int *raced,
                  struct sa_err *err)
{
    sqlite3_stmt *stmt = NULL;
    char origin_id[37];
    int64_t version, objects;
    int rc;

    *raced = 0;
    /* auto_vacuum only takes effect before the first table exists. */
    rc = exec(db, path, SA_SQL_AUTO_VACUUM_INCREMENTAL, "set auto_vacuum", err);
    if (rc)
        goto out;
    rc = set_wal(db, path, err);
    if (rc)
        goto out;
    rc = exec(db, path, SA_SQL_TXN_BEGIN_IMMEDIATE, "begin", err);
    if (rc)
        goto out;
    rc = query_int(db, SA_SQL_USER_VERSION, &version);
    if (rc == SQLITE_OK)
        rc = query_int(db, SA_SQL_COUNT_OBJECTS, &objects);
    if (rc != SQLITE_OK) {
        rc = sql_fail(db, path, rc, "cannot read the format", err);
        goto out;
    }
    if (version != 0 || objects != 0) {
        *raced = 1;
        rc = SA_OK;
        goto out;
    }
    rc = exec(db, path, SA_SQL_CREATE_V5, "cannot create the spool tables", err);
    if (rc)
        goto out;
    if (make_uuid(origin_id) != 0) {
        rc = sa_err_set(err, SA_EIO, "spool %s: no random bytes for origin_id: "
                        "%s", path, strerror(errno));
        goto out;
    }
    rc = sqlite3_prepare_v2(db, SA_SQL_INIT_META, -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, origin_id, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, sa_now_ms());
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
        rc = sql_fail(db, path, rc, "cannot write meta", err);
        goto out;
    }
    rc = exec(db, path, SA_SQL_TXN_COMMIT, "cannot commit the new spool", err);
    if (rc)
        goto out;
    if (!(flags & SA_SPOOL_QUIET))
        sa_log(SA_LOG_INFO, "spool created", "path", path, "origin_id", origin_id,
               (const char *)0);
out:
    sqlite3_finalize(stmt);
    rollback(db);
    return rc;
}

static int upgrade(sqlite3 *db, const char *path, int64_t from,
                   struct sa_err *err)
{
    sqlite3_stmt *stmt = NULL;
    int64_t version = from;
    int rc = SA_OK;

    while (version < SA_SPOOL_FORMAT) {
        const struct step *step = NULL;
        char detail[64];

        rc = exec(db, path, SA_SQL_TXN_BEGIN_IMMEDIATE, "begin migration", err);
        if (rc)
            goto out;
        /* Another process may have migrated while we waited. */
        rc = query_int(db, SA_SQL_USER_VERSION, &version);
        if (rc != SQLITE_OK) {
            rc = sql_fail(db, path, rc, "cannot read the format", err);
            goto out;
        }
        if (version >= SA_SPOOL_FORMAT) {
            rc = exec(db, path, SA_SQL_TXN_COMMIT, "end migration", err);
            goto out;
        }
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
            if (steps[i].from == version)
                step = &steps[i];
        if (!step) {
            rc = sa_err_set(err, SA_EFORMAT, "spool %s: no migration from "
                            "format %lld", path, (long long)version);
            goto out;
        }
        snprintf(detail, sizeof detail, "migrate format %lld to %lld",
                 (long long)version, (long long)version + 1);
        rc = exec(db, path, step->sql, detail, err);
        if (rc)
            goto out;
        snprintf(detail, sizeof detail, "{\"from\":%lld,\"to\":%lld}",
                 (long long)version, (long long)version + 1);
        rc = sqlite3_prepare_v2(db, SA_SQL_AUDIT_MIGRATE, -1, &stmt, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(stmt, 1, sa_now_ms());
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_text(stmt, 2, detail, -1, SQLITE_TRANSIENT);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE) {
            rc = sql_fail(db, path, rc, "cannot audit the migration", err);
            goto out;
        }
        sqlite3_finalize(stmt);
        stmt = NULL;
        rc = exec(db, path, SA_SQL_TXN_COMMIT, "cannot commit the migration",
                  err);
        if (rc)
            goto out;
        sa_logf(SA_LOG_INFO, "spool migrated", "from=%lld to=%lld",
                (long long)version, (long long)version + 1);
        version++;
    }
out:
    sqlite3_finalize(stmt);
    rollback(db);
    return rc;
}

/* Is this database one of ours? A spool has meta with an origin_id. */
static int check_spool(sqlite3 *db, const char *path, struct sa_err *err)
{
    sqlite3_stmt *stmt = NULL;
    int64_t has_meta;
    int rc = query_int(db, SA_SQL_HAS_META, &has_meta);

    if (rc != SQLITE_OK)
        return sql_fail(db, path, rc, "cannot read the schema", err);
    if (!has_meta)
        return sa_err_set(err, SA_ECORRUPT, "spool %s: not a syncagent spool "
                          "(no meta table)", path);
    rc = sqlite3_prepare_v2(db, SA_SQL_META_ORIGIN, -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(stmt, 0) == 36) {
        rc = SA_OK;
    } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        rc = sa_err_set(err, SA_ECORRUPT, "spool %s: not a syncagent spool "
                        "(no origin_id in meta)", path);
    } else {
        rc = sql_fail(db, path, rc, "cannot read meta", err);
    }
    sqlite3_finalize(stmt);
    return rc;
}

int sa_migrate_open(sqlite3 *db, const char *path, unsigned flags,
                    struct sa_err *err)
{
    int readonly = (flags & SA_SPOOL_READONLY) != 0;
    int64_t version, objects, auto_vacuum;
    int rc;

    for (int attempt = 0;; attempt++) {
        int raced = 0;

        rc = query_int(db, SA_SQL_USER_VERSION, &version);
        if (rc != SQLITE_OK) {
            if (sa_store_rc(rc) == SA_ECORRUPT)
                return sa_err_set(err, SA_ECORRUPT, "spool %s: not a SQLite "
                                  "database: %s", path, sqlite3_errmsg(db));
            return sql_fail(db, path, rc, "cannot read the format", err);
        }
        if (version > SA_SPOOL_FORMAT)
            return sa_err_set(err, SA_EFORMAT, "spool %s: format %lld was "
                              "written by a newer syncagent; this one reads "
                              "format %d at most", path, (long long)version,
                              SA_SPOOL_FORMAT);
        if (version > 0)
            break;
        rc = query_int(db, SA_SQL_COUNT_OBJECTS, &objects);
        if (rc != SQLITE_OK)
            return sql_fail(db, path, rc, "cannot read the schema", err);
        if (objects != 0)
            return sa_err_set(err, SA_ECORRUPT, "spool %s: not a syncagent "
                              "spool (a SQLite database without format)", path);
        if (readonly || !(flags & SA_SPOOL_CREATE))
            return sa_err_set(err, SA_ECORRUPT, "spool %s: not a syncagent "
                              "spool (empty database)", path);
        if (attempt > 0)
            return sa_err_set(err, SA_ECORRUPT, "spool %s: empty although "
                              "another process created it", path);
        rc = create(db, path, flags, &raced, err);
        if (rc)
            return rc;
        if (!raced)
            return SA_OK;
    }

    rc = check_spool(db, path, err);
    if (rc)
        return rc;
    if (version < SA_SPOOL_FORMAT && readonly)
        return sa_err_set(err, SA_EFORMAT, "spool %s: format %lld must be "
                          "upgraded to %d first; open it read-write once",
                          path, (long long)version, SA_SPOOL_FORMAT);
    if (readonly)
        return SA_OK;
    rc = set_wal(db, path, err);
    if (rc)
        return rc;
    if (version < SA_SPOOL_FORMAT) {
        rc = upgrade(db, path, version, err);
        if (rc)
            return rc;
    }
    rc = query_int(db, SA_SQL_AUTO_VACUUM_GET, &auto_vacuum);
    if (rc != SQLITE_OK)
        return sql_fail(db, path, rc, "cannot read auto_vacuum", err);
    if (auto_vacuum != 2)
        sa_log(SA_LOG_WARN, "spool without incremental auto_vacuum; the file "
               "will not shrink until VACUUM", "path", path, (const char *)0);
    return SA_OK;
}
