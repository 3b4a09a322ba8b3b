/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool: one SQLite file in WAL mode holding segments, sink cursors,
 * source offsets, dead letters and the audit log (DESIGN.md §3). All SQL
 * of the project lives in store/.
 *
 * A struct sa_spool is one connection and belongs to one thread. Each
 * thread that needs the spool (the ingest writer, each sink worker, the
 * housekeeper, `status`) opens its own handle on the same path; SQLite's
 * WAL lets readers run beside the one writer.
 */
#ifndef SA_STORE_SPOOL_H
#define SA_STORE_SPOOL_H

#include "agent/base/error.h"
#include "store/segment.h"

#include <stddef.h>
#include <stdint.h>

/* Format version stored in PRAGMA user_version; migrate.c knows every
 * older one. A file with a newer version is refused with SA_EFORMAT.
 * 2: segments.codec, AUTOINCREMENT segment ids, the audit table.
 * 3: dead letters' state (open, resolved) and raw rows kept by reference.
 * 4: frames may carry a version (segment.h), meta.hlc.
 * 5: daily roll-ups (rollup.c), frames may carry quality tags. */
#define SA_SPOOL_FORMAT 5

enum sa_when_full { SA_FULL_BLOCK, SA_FULL_DROP_OLDEST, SA_FULL_REJECT };
enum sa_spool_sync { SA_SYNC_NORMAL, SA_SYNC_FULL };

/* Filled from the `spool:` config section (see config.c's map). */
struct sa_spool_opts {
    char *path;        /* the SQLite file; NULL: <agent.data_dir>/spool.db */
    int64_t max_bytes; /* cap on the database size; 0 = none */
    int when_full;     /* enum sa_when_full */
    int sync;          /* enum sa_spool_sync */
    int compression;   /* enum sa_codec for new segments */
    int64_t min_free;  /* free bytes a commit leaves on the file system */
};

#define SA_SPOOL_CREATE 0x1   /* create the file when missing */
#define SA_SPOOL_READONLY 0x2 /* status, verify: never write */
/* With CREATE: do not log "spool created". Salvage creates its target with
 * a fresh origin_id that the salvaged one replaces, and reports which
 * origin_id the file ends up with itself. */
#define SA_SPOOL_QUIET 0x4

struct sa_spool;

/* Open (and create/migrate when SA_SPOOL_CREATE) the spool at opts->path.
 * Errors: SA_ENOTFOUND (missing, no CREATE), SA_ECORRUPT (not a spool, or
 * damaged), SA_EFORMAT (written by a newer syncagent), SA_EIO. The message
 * names the file. *out is owned by the caller: sa_spool_close(). */
int sa_spool_open(struct sa_spool **out, const struct sa_spool_opts *opts,
                  unsigned flags, struct sa_err *err);
void sa_spool_close(struct sa_spool *spool);

/* The spool's origin UUID (36 chars + NUL), created once with the file. */
const char *sa_spool_origin_id(const struct sa_spool *spool);
const char *sa_spool_path(const struct sa_spool *spool);

/* --- schemas ------------------------------------------------------------ */

/* Store (or find) subject/version; *schema_id is its row id. A different
 * definition under an existing subject/version is SA_ESCHEMA. */
int sa_spool_schema_put(struct sa_spool *spool, const char *subject,
                        int version, uint64_t fingerprint,
                        const char *definition, int64_t *schema_id /* out */,
                        struct sa_err *err);
/* What sa_spool_schema_put would refuse, found read-only (`check`):
 * SA_ESCHEMA when subject/version is stored with another definition. */
int sa_spool_schema_check(struct sa_spool *spool, const char *subject, int version,
                          uint64_t fingerprint, const char *definition,
                          struct sa_err *err);
/* Look a schema up by id. *subject and *definition are malloc'd copies
 * owned by the caller. */
int sa_spool_schema_get(struct sa_spool *spool, int64_t schema_id,
                        char **subject /* out */, int *version /* out */,
                        char **definition /* out */, struct sa_err *err);

/* The id of the newest version of subject (the reader schema of JSON
 * sinks); SA_ENOTFOUND when the spool has none. */
int sa_spool_schema_newest(struct sa_spool *spool, const char *subject,
                           int64_t *schema_id /* out */, struct sa_err *err);

/* --- ingest: one transaction per commit (invariant I1) ------------------- */

struct sa_offset_update {
    const char *source;
    const char *file_key;
    int64_t offset; /* byte offset (csv) or record count (generator) */
    int64_t line;
    int done;
};

struct sa_deadletter {
    const char *stream;
    const char *source;
    const char *location; /* file:line:column, sender */
    const char *reason;
    const void *raw;
    size_t raw_len;
    /* A row too long to keep: its bytes are raw_length bytes at raw_offset
     * of raw_file (raw may hold a prefix, or be NULL). raw_file NULL: raw
     * holds the row whole. */
    const char *raw_file;
    int64_t raw_offset;
    int64_t raw_length;
    /* A CSV row's: the header line of its file (without the line end) and
     * that file's identity key ("dev:ino:len:hash"), so that a replay names
     * the row's fields as they were named when it was read. NULL: unknown. */
    const char *header;
    const char *file_key;
};

/* A dead letter a replay settles (`deadletter replay`, or `deadletter
 * resolve` by hand): with replay_error NULL it is resolved (how: what was
 * replayed, from where); else it stays open, its reason (the original
 * rejection) kept, with replay_error as its last_replay_error. */
struct sa_deadletter_settle {
    int64_t id;
    const char *how;
    const char *replay_error;
};

/* One roll-up counter of a stream to add to (rollup.c): kind "dropped"
 * or "tagged", reason the quality rule's name. */
struct sa_rollup_add {
    const char *stream;
    const char *kind;
    const char *reason;
    int64_t n;
};

struct sa_audit_add {
    const char *kind;
    const char *detail; /* JSON */
};

/* A source moved an input file it finished (csv on_done: move:<dir>):
 * its dead letters (by source and file_key) at `from` name `to` from
 * now on, in their location and in raw_file. */
struct sa_file_moved {
    const char *source;
    const char *file_key;
    const char *from, *to;
};

struct sa_commit {
    struct sa_segment_builder *const *segments; /* closed, non-empty */
    size_t n_segments;
    const struct sa_offset_update *offsets;
    size_t n_offsets;
    const struct sa_deadletter *deadletters;
    size_t n_deadletters;
    /* Replay: dead letters resolved by this commit's records, and an audit
     * row (kind NULL: none), in the same transaction. A resolution of a
     * dead letter that is not open (resolved meanwhile, or no such id)
     * fails the whole commit with SA_ENOTFOUND: nothing goes in twice. */
    const struct sa_deadletter_settle *settles;
    size_t n_settles;
    const char *audit_kind, *audit_detail;
    /* Roll-up counts the caller adds (quality drops and tags), and more
     * audit rows, in the same transaction. Records ingested and dead
     * letters are rolled up from the segments and dead letters above. */
    const struct sa_rollup_add *rollups;
    size_t n_rollups;
    const struct sa_audit_add *audits;
    size_t n_audits;
    /* Files moved since the last commit (applied after the dead letters). */
    const struct sa_file_moved *moves;
    size_t n_moves;
    /* The newest hybrid logical clock value given to these records (0:
     * none), stored as meta.hlc in the same transaction (store/hlc.h). */
    int64_t hlc;
};

struct sa_commit_result {
    uint64_t first_seq;      /* of the first record committed */
    uint64_t n_records;
    uint64_t dropped_records; /* by when_full: drop_oldest, audited */
    uint64_t dropped_segments;
};

/* Write the segments (assigning gap-free seqs in order), the source offsets
 * and the dead letters in one transaction. Nothing is durable unless this
 * returns SA_OK. When the spool would exceed max_bytes: block and reject
 * return SA_EFULL and write nothing (the caller waits or refuses);
 * drop_oldest deletes the oldest segments in the same transaction and
 * records them in audit. SQLITE_FULL from the disk is also SA_EFULL, and
 * so is a commit that would leave less than min_free bytes free on the
 * spool's file system (whatever when_full says: dropping spooled data
 * frees no disk space). */
int sa_spool_commit(struct sa_spool *spool, const struct sa_commit *commit,
                    struct sa_commit_result *result /* out, may be NULL */,
                    struct sa_err *err);

/* The newest hybrid logical clock value committed (meta.hlc), 0 when none
 * was: where a writer's clock starts (sa_hlc_init). */
int sa_spool_hlc_get(struct sa_spool *spool, int64_t *last /* out */,
                     struct sa_err *err);

/* Read a source offset; SA_ENOTFOUND when none is stored. */
int sa_spool_offset_get(struct sa_spool *spool, const char *source,
                        const char *file_key, int64_t *offset /* out */,
                        int64_t *line /* out */, int *done /* out */,
                        struct sa_err *err);

struct sa_offset_row {
    char *file_key; /* malloc'd */
    int64_t offset, line;
    int done;
};

/* Every stored offset of a source (a file source finds its files' rows by
 * their identity). *rows is malloc'd: sa_spool_offset_rows_free(). */
int sa_spool_offset_list(struct sa_spool *spool, const char *source,
                         struct sa_offset_row **rows /* out */, size_t *n /* out */,
                         struct sa_err *err);
void sa_spool_offset_rows_free(struct sa_offset_row *rows, size_t n);

/* --- drain: sink cursors and reading after them ------------------------- */

/* Cursor (segment_id, record_index): everything before record_index of
 * segment segment_id, and all of the sink's segments with a smaller id,
 * is acknowledged. A sink without a row starts at (0, 0). */
struct sa_cursor {
    int64_t segment_id;
    uint32_t record_index;
};

int sa_spool_cursor_get(struct sa_spool *spool, const char *sink,
                        struct sa_cursor *out, struct sa_err *err);
int sa_spool_cursor_set(struct sa_spool *spool, const char *sink,
                        const struct sa_cursor *cursor, struct sa_err *err);
/* The same, adding `superseded` to the sink's count of records it
 * acknowledged as superseded by a newer version (coalesce), in the same
 * statement, so that the count moves with the cursor. */
int sa_spool_cursor_set_counted(struct sa_spool *spool, const char *sink,
                                const struct sa_cursor *cursor, int64_t superseded,
                                struct sa_err *err);
/* The same again, adding `acked` records to the sink's daily roll-up
 * (and `superseded` to it too), in one transaction with the cursor. */
int sa_spool_cursor_set_rollup(struct sa_spool *spool, const char *sink,
                               const struct sa_cursor *cursor, int64_t superseded,
                               int64_t acked, struct sa_err *err);
/* Delete cursor rows of sinks not in names[] and audit each removal. */
int sa_spool_cursors_prune(struct sa_spool *spool, const char *const *names,
                           size_t n, struct sa_err *err);

/* Read the first segment positioned after `after` whose stream is in
 * streams[] (n_streams == 0: every stream). The view (data inflated) is
 * owned by the spool handle and valid until the next read on it.
 * start_index is set from the cursor when the segment is the cursor's.
 * SA_EOF when there is none yet. */
int sa_spool_read_after(struct sa_spool *spool, const struct sa_cursor *after,
                        const char *const *streams, size_t n_streams,
                        struct sa_segment_view *view /* out */,
                        struct sa_err *err);

/* --- housekeeping ------------------------------------------------------- */

struct sa_subscription {
    const char *sink;
    const char *const *streams; /* n_streams == 0: every stream */
    size_t n_streams;
};

/* Delete segments every subscribed sink has passed; a vacuum and a WAL
 * checkpoint so the file shrinks after a backlog drains (housekeeping.c).
 * *trimmed: segments deleted. */
int sa_spool_trim(struct sa_spool *spool, const struct sa_subscription *subs,
                  size_t n_subs, int64_t *trimmed /* out, may be NULL */,
                  struct sa_err *err);
int sa_spool_checkpoint(struct sa_spool *spool, struct sa_err *err);
/* Shrinking a mostly free file: a whole VACUUM while at most `pages` pages
 * are in use (default SA_SPOOL_VACUUM_WHOLE_MAX_PAGES), incremental steps
 * beyond. For tests, which take either way on purpose. */
#define SA_SPOOL_VACUUM_WHOLE_MAX_PAGES 2048
void sa_spool_set_vacuum_whole_max(struct sa_spool *spool, int64_t pages);
/* A passive WAL checkpoint when the WAL file holds wal_bytes or more: the
 * housekeeper calls it often, so that commits never have to (their own
 * automatic checkpoints, with an fsync, would stall ingest). *wal_used
 * (may be NULL): the bytes of frames in the WAL since it last started
 * over, 0 when no checkpoint ran. */
int sa_spool_checkpoint_if_large(struct sa_spool *spool, int64_t wal_bytes,
                                 int64_t *wal_used, struct sa_err *err);

/* A checkpoint that makes the next commit start the WAL over from its
 * beginning: SQLite does that only when, as a write begins, every frame is
 * in the database and no reader uses the WAL, which under steady ingest
 * (a commit every fraction of a millisecond, checkpointed from another
 * thread) is never the case by chance. A passive checkpoint copies the
 * bulk; a RESTART one then copies the rest and holds the next writer off
 * for max_wait_ms at most. A busy spool is no error: try again later. */
int sa_spool_checkpoint_restart(struct sa_spool *spool, int max_wait_ms,
                                struct sa_err *err);

/* Checkpoints off the commit path. A commit runs SQLite's automatic
 * checkpoint (an fsync) once the WAL holds SA_SPOOL_WAL_AUTOCHECKPOINT_PAGES;
 * on the ingest path that stalls every source. This hands them to someone
 * else, the housekeeper, on its own connection: after each commit on
 * `spool` that leaves notify_bytes or more in the WAL, fn(arg, wal_bytes)
 * is called on the committing thread with the WAL's length (it must only
 * signal, never block). The owner checkpoints, which keeps the frames not
 * yet in the database few (on a full disk, copying them may need room the
 * disk no longer has), and now and then starts the WAL over
 * (sa_spool_checkpoint_restart). The commit runs a checkpoint itself only
 * past SA_SPOOL_WAL_BACKSTOP_PAGES, when fn's owner falls behind: that one
 * stalls ingest, for 10-15 ms at 16 MiB. fn NULL restores the automatic
 * checkpoints; clear it before arg goes away. */
#define SA_SPOOL_WAL_AUTOCHECKPOINT_PAGES 1000
#define SA_SPOOL_WAL_BACKSTOP_PAGES 4096
void sa_spool_on_wal_growth(struct sa_spool *spool, int64_t notify_bytes,
                            void (*fn)(void *, int64_t), void *arg);

/* The reserve: "<path>-reserve", a file of SA_SPOOL_RESERVE_BYTES kept
 * beside the spool while the disk has plenty of room. When something else
 * fills the disk to the last block, the agent could not even open its spool
 * again (SQLite needs blocks for -shm and the WAL), nor let sinks record
 * acks and trim, which is what frees space: a restart would deadlock. At
 * start, a spool that cannot be opened for want of space gets the reserve's
 * blocks (sa_spool_release_reserve, then open again).
 *
 * sa_spool_keep_reserve creates the file when it is missing and the disk
 * has min_free + 4 reserves free (so that it never takes the room ingest or
 * a recovery needs); best effort: returns 1 when the reserve is in place.
 * sa_spool_release_reserve returns 1 when it removed one, 0 when there was
 * none. */
#define SA_SPOOL_RESERVE_BYTES (4 << 20)
int sa_spool_keep_reserve(struct sa_spool *spool);
/* 1 when the reserve file is in place (a stat). */
int sa_spool_has_reserve(const struct sa_spool *spool);
int sa_spool_release_reserve(const char *path);

/* The highest segment id this spool ever gave (ids are never reused, the
 * segment may be trimmed since): 0 for a new spool. A cursor past id + 1
 * cannot come from this spool. */
int sa_spool_last_segment_id(struct sa_spool *spool, int64_t *id,
                             struct sa_err *err);

/* Bytes the database uses (pages in use * page size). */
int sa_spool_used_bytes(struct sa_spool *spool, int64_t *bytes /* out */,
                        struct sa_err *err);

int sa_spool_audit(struct sa_spool *spool, const char *kind,
                   const char *detail, struct sa_err *err);

/* Note why ingest is paused, so that `status` can say it while the daemon
 * runs; reason NULL clears the note. The note is a small file beside the
 * spool ("<path>-note"), allocated at the first call and rewritten in place
 * after that, so that it still fits when the disk is full. Call it with NULL
 * at start, while there is room. */
int sa_spool_note_blocked(struct sa_spool *spool, const char *reason,
                          struct sa_err *err);

/* --- daily roll-ups (rollup.c) ------------------------------------------ */

/* One roll-up row: day "YYYY-MM-DD" (UTC), name a stream or a sink, kind
 * and reason as in sql.h SA_SQL_CREATE_ROLLUPS_V5 (reason "" for sinks). */
struct sa_rollup_row {
    char day[11];
    char name[128];
    char kind[16];
    char reason[192];
    int64_t n;
};

/* The UTC day of ms since the epoch, "YYYY-MM-DD". */
void sa_rollup_day(int64_t ms, char out[11]);
/* Rows of day >= since_day ("" for all), ordered by day and name. *rows
 * is malloc'd (free()). Works on a read-only handle. */
int sa_spool_rollup_streams(struct sa_spool *spool, const char *since_day,
                            struct sa_rollup_row **rows /* out */, size_t *n /* out */,
                            struct sa_err *err);
int sa_spool_rollup_sinks(struct sa_spool *spool, const char *since_day,
                          struct sa_rollup_row **rows /* out */, size_t *n /* out */,
                          struct sa_err *err);
/* Quality failures in total: name the stream, reason the rule (without
 * "quality:"), kind "rejected", "dropped" or "tagged"; day is empty. */
int sa_spool_quality_totals(struct sa_spool *spool,
                            struct sa_rollup_row **rows /* out */, size_t *n /* out */,
                            struct sa_err *err);

struct sa_audit_row {
    int64_t ts_ms;
    char *kind;   /* malloc'd */
    char *detail; /* malloc'd */
};
/* Audit rows written at or after since_ms, oldest first, at most limit. */
int sa_spool_audit_since(struct sa_spool *spool, int64_t since_ms, int64_t limit,
                         struct sa_audit_row **rows /* out */, size_t *n /* out */,
                         struct sa_err *err);
void sa_spool_audit_rows_free(struct sa_audit_row *rows, size_t n);

/* --- status and verification -------------------------------------------- */

struct sa_stream_stat {
    char stream[128];
    int64_t segments, records, bytes;
    uint64_t first_seq, last_seq;
    int64_t oldest_created_ms;
};

struct sa_sink_stat {
    char sink[128];
    struct sa_cursor cursor;
    int64_t updated_ms;
    int64_t superseded; /* acknowledged as superseded (coalesce), in total */
};

struct sa_spool_status {
    char origin_id[40];
    uint64_t next_seq;
    int64_t file_bytes, used_bytes;
    struct sa_stream_stat *streams; /* malloc'd; sa_spool_status_fini */
    size_t n_streams;
    struct sa_sink_stat *sinks;
    size_t n_sinks;
    int64_t deadletters;
    int64_t deadletters_open;      /* not resolved by a replay */
    int64_t audit_dropped_records; /* drop_oldest total from audit */
    int64_t blocked_since_ms;      /* ingest paused since (0: it is not) */
    char blocked_reason[256];      /* why, from sa_spool_note_blocked() */
};

int sa_spool_status(struct sa_spool *spool, struct sa_spool_status *out,
                    struct sa_err *err);
void sa_spool_status_fini(struct sa_spool_status *st);

/* Whether any record (in segments of `streams`, or all when n == 0) lies
 * after a cursor: *pending 1 or 0. Unlike sa_spool_lag it stops at the
 * first such segment, so its cost does not grow with the backlog. */
int sa_spool_pending(struct sa_spool *spool, const struct sa_cursor *cursor,
                     const char *const *streams, size_t n_streams,
                     int *pending /* out */, struct sa_err *err);

/* Records (in segments of `streams`, or all when n == 0) after a cursor:
 * the sink's lag, and the created_ms of the oldest unacked segment (0 when
 * none). */
int sa_spool_lag(struct sa_spool *spool, const struct sa_cursor *cursor,
                 const char *const *streams, size_t n_streams,
                 int64_t *records /* out */, int64_t *oldest_ms /* out */,
                 struct sa_err *err);

/* PRAGMA integrity_check plus a walk of every segment's frames and a check
 * that seqs are gap-free and increasing. Reports each problem through
 * report(), returns SA_OK or SA_ECORRUPT. */
int sa_spool_verify(struct sa_spool *spool,
                    void (*report)(void *arg, const char *problem), void *arg,
                    struct sa_err *err);

/* The dead-letter table: reading it (store/deadletter.h). */
#include "store/deadletter.h"

#endif
