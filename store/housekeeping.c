/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool's housekeeping (spool.h): trim what every subscribed sink has
 * acked (I2), vacuum and checkpoint (I5), the WAL's growth hook, and the
 * small figures the housekeeper asks for. Split out of spool.c; the handle
 * and the helpers are in spool_private.h.
 */
#include "store/spool.h"

#include "store/spool_private.h"

#include "agent/base/log.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --- housekeeping ------------------------------------------------------- */

/* incremental_vacuum once free pages are this many times the pages in use
 * (vacuum_and_checkpoint). */
#define VACUUM_FREE_RATIO 15

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
static int vacuum_and_checkpoint(struct sa_spool *s, int mode, int after_trim,
                                 struct sa_err *err)
{
    int64_t pages, free_pages, used;
    int src, rc = step_int(s, STMT_PAGE_COUNT, &pages, "page_count", err);

    if (!rc)
        rc = step_int(s, STMT_FREELIST_COUNT, &free_pages, "freelist_count",
                      err);
    if (rc)
        return rc;
    used = pages - free_pages;
    if (after_trim) { /* trim to trim: is a backlog draining? */
        s->vacuum_draining = s->vacuum_last_used >= 0 && used < s->vacuum_last_used;
        s->vacuum_last_used = used;
    }
    /* Only once the file is mostly free (see above); then step by step,
     * checkpointing in between: vacuuming every free page at once would
     * need WAL room for all the pages it moves, which a nearly full disk
     * does not have. */
    if (free_pages < VACUUM_FREE_RATIO * used)
        free_pages = 0;
    /* incremental_vacuum writes every page it takes off the end of the file
     * through the WAL (SQLite reads a free page back before dropping it):
     * after a 1M-record backlog, 22,000 pages, 90 MB of writes and 0.24 s.
     * VACUUM copies the pages in use instead, which are few by now. It
     * refuses while a statement of this connection runs and can meet a
     * full disk (it builds a temporary copy): then step as before. It
     * holds the write lock while it copies, so only up to
     * SA_SPOOL_VACUUM_WHOLE_MAX_PAGES (8 MiB of 4 KiB pages, a few tens of
     * milliseconds); a larger rest is vacuumed in steps. */
    if (free_pages > 0 && used <= s->vacuum_whole_max) {
        src = sqlite3_exec(s->db, SA_SQL_VACUUM, NULL, NULL, NULL);
        if (src == SQLITE_OK)
            free_pages = 0;
        else
            sa_log(SA_LOG_DEBUG, "vacuum failed, shrinking in steps", "spool",
                   s->path, "error", sqlite3_errmsg(s->db), (const char *)0);
    } else if (free_pages > 0 && s->vacuum_draining) {
        /* More in use than VACUUM may copy, but fewer pages than at the
         * last trim: a backlog is draining, and once it is done VACUUM
         * shrinks the file for the few pages left. Stepping now would
         * write every free page (a 10M-record backlog: 850 MB) a few
         * seconds before that. A backlog that stops shrinking (its sink
         * down, or ingest keeping pace) is vacuumed in steps at the next
         * trim, as before. */
        free_pages = 0;
    }
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
    rc = vacuum_and_checkpoint(spool, SQLITE_CHECKPOINT_PASSIVE, 1, err);
out:
    stmt_done(del);
    if (rc)
        rollback(spool);
    stream_list_fini(&streams);
    free(cursors);
    return rc;
}

void sa_spool_set_vacuum_whole_max(struct sa_spool *spool, int64_t pages)
{
    spool->vacuum_whole_max = pages;
}

int sa_spool_checkpoint(struct sa_spool *spool, struct sa_err *err)
{
    return vacuum_and_checkpoint(spool, SQLITE_CHECKPOINT_TRUNCATE, 0, err);
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

int sa_spool_audit(struct sa_spool *spool, const char *kind,
                   const char *detail, struct sa_err *err)
{
    if (!kind)
        return sa_err_set(err, SA_EINVAL, "spool %s: audit without a kind",
                          spool->path);
    return audit_insert(spool, kind, detail, err);
}
