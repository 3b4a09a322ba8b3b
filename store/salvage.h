/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checking a spool before it is opened for writing, and salvaging what is
 * readable out of a damaged one (`syncagent spool salvage`). Both only
 * ever open the suspect file read-only: a damaged spool is kept as it was
 * found, for inspection.
 */
#ifndef SA_STORE_SALVAGE_H
#define SA_STORE_SALVAGE_H

#include "agent/base/error.h"

#include <stdint.h>

/* PRAGMA quick_check on a read-only connection. SA_OK when the file is
 * missing (it will be created) or sound; SA_ECORRUPT, with the first
 * problems and the salvage command in the message, when it is damaged or
 * not SQLite at all. Never writes to the file. */
int sa_spool_precheck(const char *path, struct sa_err *err);

struct sa_salvage_table {
    const char *name;
    int64_t recovered; /* rows copied */
    int64_t lost;      /* rowids that could not be read, rows that failed
                          their check (segments: frames, counts, codec) */
};

struct sa_salvage_result {
    struct sa_salvage_table tables[7]; /* meta, schemas, segments, ... */
    size_t n_tables;
    int64_t records_recovered; /* in the recovered segments */
    int origin_kept;           /* the old origin_id could be read */
    char origin_id[40];
    uint64_t next_seq;
};

/* Copy every readable row of the spool at bad_path (never written to)
 * into a new spool at out_path (which must not exist): segments that pass
 * the frame checks keep their ids and seqs, so (origin_id, seq) keep
 * meaning the same records; schemas, sink cursors, source offsets, dead
 * letters and audit rows are copied where readable. The new spool gets an
 * audit row "salvage" with the counts. SA_ECORRUPT when nothing at all is
 * readable (not SQLite, page 1 damaged). */
int sa_spool_salvage(const char *bad_path, const char *out_path,
                     struct sa_salvage_result *res /* out */,
                     struct sa_err *err);

#endif
