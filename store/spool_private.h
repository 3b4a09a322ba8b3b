/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of the spool share behind its public API: the prepared
 * statements' ids and the helpers that run them on a handle. spool.c owns
 * the handle (struct sa_spool) and the transactions; deadletter.c keeps
 * the dead-letter table through these. Only store/ includes this file.
 */
#ifndef SA_STORE_SPOOL_PRIVATE_H
#define SA_STORE_SPOOL_PRIVATE_H

#include "store/spool.h"
#include "store/sql.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

enum stmt_id {
#define XX(name, sql) STMT_##name,
    SA_SQL_STATEMENTS(XX)
#undef XX
        STMT__COUNT
};

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

/* --- dead letters (deadletter.c) ------------------------------------------ */

/* Inside sa_spool_commit's transaction: store the commit's dead letters. */
int sa_spool_deadletters_put(struct sa_spool *s, const struct sa_commit *c, int64_t now,
                             struct sa_err *err);
/* Inside sa_spool_commit's transaction: the commit's settles (replay). */
int sa_spool_deadletters_settle(struct sa_spool *s, const struct sa_commit *c,
                                int64_t now, struct sa_err *err);
/* Inside sa_spool_status's read transaction: count them. */
int sa_spool_deadletters_count(struct sa_spool *s, int64_t *count,
                               int64_t *open /* out */, struct sa_err *err);

#endif
