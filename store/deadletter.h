/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dead-letter table (invariant I4): reading what could not be
 * accepted. Dead letters are written by sa_spool_commit (spool.h), in the
 * transaction of the records and positions they belong with, and resolved
 * by it too (struct sa_deadletter_settle: a replay commits the records and
 * the resolution together). Each is open or resolved; its raw input is
 * held whole, or by reference (file, offset, length) for a row too long
 * to keep.
 */
#ifndef SA_STORE_DEADLETTER_H
#define SA_STORE_DEADLETTER_H

#include "agent/base/error.h"

#include <stddef.h>
#include <stdint.h>

struct sa_spool;

struct sa_deadletter_row {
    int64_t id, created_ms;
    char *stream, *source, *location, *reason; /* malloc'd */
    void *raw;
    size_t raw_len;
    int resolved; /* 0: open */
    int64_t resolved_ms;
    char *resolved_how; /* malloc'd; NULL while open */
    /* A row kept by reference: raw_length bytes at raw_offset of raw_file
     * (malloc'd). NULL: raw holds the row whole. */
    char *raw_file;
    int64_t raw_offset, raw_length;
    /* A CSV row's header line and file identity key when the source gave
     * them (malloc'd, NULL otherwise), and why its last replay failed
     * (malloc'd; NULL: never failed). reason stays the original one. */
    char *header, *file_key, *last_replay_error;
};

/* Dead letters with id > after_id, oldest first, at most limit of them.
 * *rows is malloc'd: sa_spool_deadletter_rows_free(). */
int sa_spool_deadletter_list(struct sa_spool *spool, int64_t after_id, size_t limit,
                             struct sa_deadletter_row **rows /* out */,
                             size_t *n /* out */, struct sa_err *err);
void sa_spool_deadletter_rows_free(struct sa_deadletter_row *rows, size_t n);

/* The newest open dead letters, newest first, at most limit of them,
 * without their raw input (raw_len 0, raw_file NULL). *rows is malloc'd:
 * sa_spool_deadletter_rows_free(). */
int sa_spool_deadletter_latest(struct sa_spool *spool, size_t limit,
                               struct sa_deadletter_row **rows /* out */,
                               size_t *n /* out */, struct sa_err *err);

/* The dead letter `id`; SA_ENOTFOUND when there is none. *row is malloc'd:
 * sa_spool_deadletter_rows_free(*row, 1). */
int sa_spool_deadletter_get(struct sa_spool *spool, int64_t id,
                            struct sa_deadletter_row **row /* out */,
                            struct sa_err *err);

/* Call fn(arg, stream, n) for every stream with open dead letters (the
 * syncagent_deadletters{stream} gauge). The stream is only valid during
 * the call. */
int sa_spool_deadletters_by_stream(struct sa_spool *spool,
                                   void (*fn)(void *arg, const char *stream, int64_t n),
                                   void *arg, struct sa_err *err);

/* Call fn(arg, location) for every dead letter whose source is `source`
 * (NULL locations skipped), in no particular order. A nonzero return from
 * fn stops the walk and is returned; fn sets err itself. One scan of the
 * table: there is no index on source. The location is only valid during
 * the call. */
int sa_spool_deadletter_locations(struct sa_spool *spool, const char *source,
                                  int (*fn)(void *arg, const char *location,
                                            struct sa_err *err),
                                  void *arg, struct sa_err *err);

/* Call fn(arg, file_key, n) for each file that the open dead letters of
 * `source` located in `path` ("PATH:line:column") came from, with how many
 * there are (file_key NULL: a spool older than file keys). `import` asks
 * when it has read a file, to tell a file fixed in place (a new inode)
 * from the one whose rows were rejected. The key is only valid during the
 * call. */
int sa_spool_deadletter_open_keys_at(struct sa_spool *spool, const char *source,
                                     const char *path,
                                     void (*fn)(void *arg, const char *file_key,
                                                int64_t n),
                                     void *arg, struct sa_err *err);

/* Call fn(arg, file_key, n) for each file with open dead letters of
 * `source` kept by reference (raw_file, offset, length), with how many:
 * the CSV source keeps such a file from on_done: delete, also when it
 * resumes it after a restart. The key is only valid during the call. */
int sa_spool_deadletter_open_refs(struct sa_spool *spool, const char *source,
                                  void (*fn)(void *arg, const char *file_key,
                                             int64_t n),
                                  void *arg, struct sa_err *err);
#endif
