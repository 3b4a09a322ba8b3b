/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dead-letter table (invariant I4): reading what could not be
 * accepted. Dead letters are written by sa_spool_commit (spool.h), in the
 * transaction of the records and positions they belong with.
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
};

/* Dead letters with id > after_id, oldest first, at most limit of them.
 * *rows is malloc'd: sa_spool_deadletter_rows_free(). */
int sa_spool_deadletter_list(struct sa_spool *spool, int64_t after_id, size_t limit,
                             struct sa_deadletter_row **rows /* out */,
                             size_t *n /* out */, struct sa_err *err);
void sa_spool_deadletter_rows_free(struct sa_deadletter_row *rows, size_t n);

/* Call fn(arg, location) for every dead letter whose source is `source`
 * (NULL locations skipped), in no particular order. A nonzero return from
 * fn stops the walk and is returned; fn sets err itself. One scan of the
 * table: there is no index on source. The location is only valid during
 * the call. */
int sa_spool_deadletter_locations(struct sa_spool *spool, const char *source,
                                  int (*fn)(void *arg, const char *location,
                                            struct sa_err *err),
                                  void *arg, struct sa_err *err);
#endif
