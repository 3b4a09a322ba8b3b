/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool's on-disk format: recognising a file, creating the current
 * format in a new one, and upgrading older formats through PRAGMA
 * user_version. Used by spool.c when it opens a handle; nothing else.
 */
#ifndef SA_STORE_MIGRATE_H
#define SA_STORE_MIGRATE_H

#include "agent/base/error.h"

#include <sqlite3.h>

/*
 * Make the database on `db` (just opened on `path`) a spool of format
 * SA_SPOOL_FORMAT. flags are sa_spool_open's:
 *   - an empty database becomes a new spool with SA_SPOOL_CREATE
 *     (auto_vacuum=INCREMENTAL before the first table, WAL, a fresh
 *     origin_id), else it is SA_ECORRUPT;
 *   - an older format is upgraded, one transaction per step (READONLY:
 *     SA_EFORMAT, as it cannot be read as it is);
 *   - a newer format is SA_EFORMAT, a database that is not SQLite or not a
 *     spool is SA_ECORRUPT; in both cases nothing is written to the file.
 * Read-write handles leave the database in WAL mode.
 */
int sa_migrate_open(sqlite3 *db, const char *path, unsigned flags,
                    struct sa_err *err);

/* Our code for a SQLite result code: SQLITE_FULL is SA_EFULL, damage is
 * SA_ECORRUPT, I/O errors SA_EIO, a lock held too long SA_EAGAIN, the rest
 * SA_ESQL. */
int sa_store_rc(int sqlite_rc);

#endif
