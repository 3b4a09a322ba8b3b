/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Daily roll-ups (spool format 5) and what `report` and `status` read of
 * them and of the audit table.
 *
 * Two tables (sql.h SA_SQL_CREATE_ROLLUPS_V5), one row per UTC day, scope
 * and counter. They are written only by transactions that commit anyway:
 * sa_spool_commit adds, per commit, the records of each stream, the dead
 * letters of each stream by reason class (or of each sink, for a sink's
 * dead letters) and the caller's quality counts (sa_spool_rollup_commit);
 * a sink's cursor save adds what it acknowledged since the last save
 * (sa_spool_cursor_set_rollup in cursor.c). So a roll-up is exact with
 * respect to what is durable -- a crash loses the counts of exactly the
 * records it loses -- and costs a few upserts per commit, never per record.
 *
 * Reason classes of a source's dead letters are a bounded set: a quality
 * rule's reject is "quality:<rule>" (its reason starts "quality rule
 * '<rule>'", see agent/quality/quality.c), everything else "invalid"
 * (a row the parser or the schema refused).
 */
#include "store/spool_private.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#define QUALITY_PREFIX "quality rule '"
#define SINK_PREFIX "sink:"
/* Distinct (stream, kind, reason) of one commit, aggregated before the
 * upserts; more spill into further upserts of the same rows. */
#define AGG_MAX 16

void sa_rollup_day(int64_t ms, char out[11])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    if (!gmtime_r(&secs, &tm) || snprintf(out, 11, "%04d-%02d-%02d", tm.tm_year + 1900,
                                          tm.tm_mon + 1, tm.tm_mday) != 10)
        snprintf(out, 11, "0000-00-00");
}

/* The class of a source's dead letter, into buf. */
static const char *reason_class(const char *reason, char *buf, size_t size)
{
    size_t plen = sizeof QUALITY_PREFIX - 1;
    const char *name, *end;

    if (!reason || strncmp(reason, QUALITY_PREFIX, plen) != 0)
        return "invalid";
    name = reason + plen;
    if (!(end = strchr(name, '\'')) || (size_t)(end - name) + 9 > size)
        return "invalid";
    snprintf(buf, size, "quality:%.*s", (int)(end - name), name);
    return buf;
}

struct agg {
    const char *name, *kind;
    char reason[192];
    int sink;
    int64_t n;
};

static int add_row(struct sa_spool *s, const char *day, const struct agg *a,
                   struct sa_err *err)
{
    sqlite3_stmt *stmt =
        stmt_get(s, a->sink ? STMT_ROLLUP_SINK_ADD : STMT_ROLLUP_STREAM_ADD, err);
    int src, i = 1;

    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_text(stmt, i++, day, -1, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_bind_text(stmt, i++, a->name ? a->name : "", -1, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_bind_text(stmt, i++, a->kind, -1, SQLITE_STATIC);
    if (src == SQLITE_OK && !a->sink)
        src = sqlite3_bind_text(stmt, i++, a->reason, -1, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(stmt, i, a->n);
    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    stmt_done(stmt);
    if (src != SQLITE_DONE)
        return fail(s, src, "cannot add to a roll-up", err);
    return SA_OK;
}

/* Add n to (name, kind, reason) in aggs, flushing them when full. */
static int agg_add(struct sa_spool *s, const char *day, struct agg *aggs,
                   size_t *n_aggs, const char *name, int sink, const char *kind,
                   const char *reason, int64_t n, struct sa_err *err)
{
    int rc;

    for (size_t i = 0; i < *n_aggs; i++)
        if (aggs[i].sink == sink && strcmp(aggs[i].kind, kind) == 0 &&
            strcmp(aggs[i].name ? aggs[i].name : "", name ? name : "") == 0 &&
            strcmp(aggs[i].reason, reason) == 0) {
            aggs[i].n += n;
            return SA_OK;
        }
    if (*n_aggs == AGG_MAX) {
        for (size_t i = 0; i < *n_aggs; i++)
            if ((rc = add_row(s, day, &aggs[i], err)))
                return rc;
        *n_aggs = 0;
    }
    aggs[*n_aggs] = (struct agg){.name = name, .kind = kind, .sink = sink, .n = n};
    snprintf(aggs[*n_aggs].reason, sizeof aggs[*n_aggs].reason, "%s", reason);
    (*n_aggs)++;
    return SA_OK;
}

int sa_spool_rollup_commit(struct sa_spool *s, const struct sa_commit *c, int64_t now,
                           struct sa_err *err)
{
    struct agg aggs[AGG_MAX];
    size_t n_aggs = 0;
    char day[11], cls[192];
    int rc = SA_OK;

    sa_rollup_day(now, day);
    for (size_t i = 0; i < c->n_segments && !rc; i++)
        rc = agg_add(s, day, aggs, &n_aggs, c->segments[i]->stream, 0, "ingested", "",
                     c->segments[i]->count, err);
    for (size_t i = 0; i < c->n_deadletters && !rc; i++) {
        const struct sa_deadletter *d = &c->deadletters[i];
        if (d->source && strncmp(d->source, SINK_PREFIX, sizeof SINK_PREFIX - 1) == 0)
            rc = agg_add(s, day, aggs, &n_aggs, d->source + sizeof SINK_PREFIX - 1, 1,
                         "deadlettered", "", 1, err);
        else
            rc = agg_add(s, day, aggs, &n_aggs, d->stream, 0, "rejected",
                         reason_class(d->reason, cls, sizeof cls), 1, err);
    }
    for (size_t i = 0; i < c->n_rollups && !rc; i++)
        if (c->rollups[i].n > 0)
            rc = agg_add(
                s, day, aggs, &n_aggs, c->rollups[i].stream, 0, c->rollups[i].kind,
                c->rollups[i].reason ? c->rollups[i].reason : "", c->rollups[i].n, err);
    for (size_t i = 0; i < n_aggs && !rc; i++)
        rc = add_row(s, day, &aggs[i], err);
    return rc;
}

static void copy_col(char *dst, size_t size, sqlite3_stmt *stmt, int col)
{
    const unsigned char *t = sqlite3_column_text(stmt, col);
    snprintf(dst, size, "%s", t ? (const char *)t : "");
}

/* Run a roll-up query; columns: day?, name, kind, reason?, n. */
static int read_rows(struct sa_spool *s, enum stmt_id id, const char *since_day,
                     int with_day, int with_reason, struct sa_rollup_row **rows,
                     size_t *n, struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(s, id, err);
    struct sa_rollup_row *v = NULL;
    size_t len = 0, cap = 0;
    int src = SQLITE_OK, rc = SA_OK;

    *rows = NULL;
    *n = 0;
    if (!stmt)
        return stmt_err(err);
    if (since_day)
        src = sqlite3_bind_text(stmt, 1, since_day, -1, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = SQLITE_ROW;
    while (src == SQLITE_ROW && (src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct sa_rollup_row *r;
        int col = 0;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            struct sa_rollup_row *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = sa_err_set(err, SA_ENOMEM, "out of memory");
                goto out;
            }
            v = nv;
            cap = ncap;
        }
        r = &v[len++];
        memset(r, 0, sizeof *r);
        if (with_day)
            copy_col(r->day, sizeof r->day, stmt, col++);
        copy_col(r->name, sizeof r->name, stmt, col++);
        if (id == STMT_ROLLUP_QUALITY_TOTALS) {
            /* reason before kind, "quality:" taken off a reject's */
            copy_col(r->reason, sizeof r->reason, stmt, col++);
            copy_col(r->kind, sizeof r->kind, stmt, col++);
            if (strncmp(r->reason, "quality:", 8) == 0)
                memmove(r->reason, r->reason + 8, strlen(r->reason + 8) + 1);
        } else {
            copy_col(r->kind, sizeof r->kind, stmt, col++);
            if (with_reason)
                copy_col(r->reason, sizeof r->reason, stmt, col++);
        }
        r->n = sqlite3_column_int64(stmt, col);
    }
    if (src != SQLITE_DONE)
        rc = fail(s, src, "cannot read the roll-ups", err);
out:
    stmt_done(stmt);
    if (rc) {
        free(v);
        return rc;
    }
    *rows = v;
    *n = len;
    return SA_OK;
}

int sa_spool_rollup_streams(struct sa_spool *spool, const char *since_day,
                            struct sa_rollup_row **rows, size_t *n, struct sa_err *err)
{
    return read_rows(spool, STMT_ROLLUP_STREAMS_SINCE, since_day ? since_day : "", 1, 1,
                     rows, n, err);
}

int sa_spool_rollup_sinks(struct sa_spool *spool, const char *since_day,
                          struct sa_rollup_row **rows, size_t *n, struct sa_err *err)
{
    return read_rows(spool, STMT_ROLLUP_SINKS_SINCE, since_day ? since_day : "", 1, 0,
                     rows, n, err);
}

int sa_spool_quality_totals(struct sa_spool *spool, struct sa_rollup_row **rows,
                            size_t *n, struct sa_err *err)
{
    return read_rows(spool, STMT_ROLLUP_QUALITY_TOTALS, NULL, 0, 1, rows, n, err);
}

void sa_spool_audit_rows_free(struct sa_audit_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].kind);
        free(rows[i].detail);
    }
    free(rows);
}

int sa_spool_audit_since(struct sa_spool *spool, int64_t since_ms, int64_t limit,
                         struct sa_audit_row **rows, size_t *n, struct sa_err *err)
{
    sqlite3_stmt *stmt = stmt_get(spool, STMT_AUDIT_SINCE, err);
    struct sa_audit_row *v = NULL;
    size_t len = 0, cap = 0;
    int src, rc = SA_OK;

    *rows = NULL;
    *n = 0;
    if (!stmt)
        return stmt_err(err);
    src = sqlite3_bind_int64(stmt, 1, since_ms);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(stmt, 2, limit);
    if (src == SQLITE_OK)
        src = SQLITE_ROW;
    while (src == SQLITE_ROW && (src = sqlite3_step(stmt)) == SQLITE_ROW) {
        const unsigned char *k = sqlite3_column_text(stmt, 1);
        const unsigned char *d = sqlite3_column_text(stmt, 2);
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            struct sa_audit_row *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = sa_err_set(err, SA_ENOMEM, "out of memory");
                goto out;
            }
            v = nv;
            cap = ncap;
        }
        v[len].ts_ms = sqlite3_column_int64(stmt, 0);
        v[len].kind = strdup(k ? (const char *)k : "");
        v[len].detail = strdup(d ? (const char *)d : "");
        len++;
        if (!v[len - 1].kind || !v[len - 1].detail) {
            rc = sa_err_set(err, SA_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (src != SQLITE_DONE)
        rc = fail(spool, src, "cannot read the audit table", err);
out:
    stmt_done(stmt);
    if (rc) {
        sa_spool_audit_rows_free(v, len);
        return rc;
    }
    *rows = v;
    *n = len;
    return SA_OK;
}
