/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exactly-once cursor of the Kafka sink as it is read back from the
 * compacted cursor topic (sync/sink/kafka.c, EXACTLY ONCE): the value of a
 * message keyed "<origin id>/<sink name>" (before: "<agent id>/<sink name>"),
 *   {"origin_id":"<the spool's origin id>","segment_id":S,"record_index":I}
 * the position just past the last record of a committed transaction. The
 * topic is shared and outlives the spool, so what comes back may be
 * damaged, from another spool or from another program: it gets a reason,
 * never a crash (DESIGN.md I6).
 */
#ifndef SA_SYNC_KAFKA_CURSOR_H
#define SA_SYNC_KAFKA_CURSOR_H

#include "agent/base/error.h"
#include "store/spool.h"

#include <stddef.h>

/* Longest origin_id accepted (a spool's is a 36-character UUID). */
#define SA_KAFKA_ORIGIN_ID_MAX 64

struct sa_kafka_cursor {
    char origin_id[SA_KAFKA_ORIGIN_ID_MAX + 1]; /* NUL-terminated */
    struct sa_cursor cursor;
};

/*
 * Parse a cursor message's value[0, len) (any bytes, no NUL needed, not
 * kept; NULL when len is 0). SA_OK and *out when it is one JSON object
 * with origin_id (1 to SA_KAFKA_ORIGIN_ID_MAX ASCII letters, digits and
 * "-_.:": a spool's is a UUID, and this much can be logged and written
 * back as it is), segment_id (0 to 2^63-1) and record_index (0 to
 * 2^32-1); other keys are allowed, for later versions. Otherwise
 * SA_EPARSE and err says "<what> <reason>": what names the message ("cursor
 * in _syncagent.cursors [0] at offset 7"), the reason is one of
 * bad JSON, a key twice, bytes after the object, a missing key, a wrong
 * type, a value out of range.
 */
int sa_kafka_cursor_parse(const void *value, size_t len, const char *what,
                          struct sa_kafka_cursor *out /* out */, struct sa_err *err);

#endif
