/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sources are tables of operations (DESIGN.md §4). The pipeline opens
 * each configured source, polls it for records into a struct sa_batch, and
 * commits the batch to the spool together with the source's position.
 */
#ifndef SA_AGENT_SOURCE_H
#define SA_AGENT_SOURCE_H

#include "agent/base/confmap.h"
#include "agent/base/error.h"
#include "store/schema.h"
#include "store/segment.h"

#include <stddef.h>
#include <stdint.h>

struct sa_batch;
struct sa_record;
struct sa_source;
struct sa_spool;

/* One entry of the `sources:` list. Common keys are in sa_source_common_conf
 * (config.c); type-specific keys fill *opts through ops->conf. */
struct sa_source_conf {
    char *name;
    char *type;
    char *stream;
    char *schema; /* "subject" or "subject:vN"; default: the stream name */
    const struct sa_source_ops *ops;
    void *opts; /* ops->opts_size bytes, filled through ops->conf */
    struct sa_conf_origin origin; /* where its keys were written */
};

struct sa_source_ops {
    const char *name; /* the `type:` value */
    const char *desc;
    const struct sa_conf_entry *conf; /* terminated by an entry with key NULL */
    size_t opts_size;
    /* 1: its records are never refused (when_full: reject): nothing can
     * send them again (a file, once its position moved on), so a batch
     * that holds some waits for room as under block. */
    int never_refused;
    /* Optional: refuse settings that open would refuse, touching nothing
     * (`check` and `run` call it on every source, open calls it first);
     * errors name the key through sa_conf_fail(&conf->origin, ...).
     * schema is the source's writer schema, so that settings naming
     * fields are checked against it; NULL when it is not known (then
     * only what needs no schema is checked). */
    int (*check)(const struct sa_source_conf *conf, const struct sa_schema *schema,
                 struct sa_err *err);
    /* Optional: NULL when these settings let the source finish (poll
     * returns SA_EOF some day), else what keeps it going, and in *fix the
     * setting that would let it finish: `run --exit-when-synced` warns,
     * since it would wait for ever. */
    const char *(*endless)(const struct sa_source_conf *conf, const char **fix);
    int (*open)(struct sa_source *src, struct sa_err *err);
    /* Add up to sa_batch_room() records (none is fine: nothing is due).
     * Returns SA_OK, SA_EOF when a finite source is done, or a negative rc. */
    int (*poll)(struct sa_source *src, struct sa_batch *batch, struct sa_err *err);
    /* Optional: every batch up to `generation` (sa_batch_generation() at
     * the time things were added) is committed: the moment to delete or
     * move a finished input file. Batches up to `refused` had their records
     * refused (when_full: reject): their input must be kept. Called on the
     * thread that polls. */
    void (*committed)(struct sa_source *src, uint64_t generation, uint64_t refused);
    void (*close)(struct sa_source *src);
};

struct sa_source {
    const struct sa_source_ops *ops;
    const struct sa_source_conf *conf;
    const struct sa_schema *schema; /* writer schema, stored in the spool */
    struct sa_spool *spool;         /* the writer's handle: read offsets at open */
    void *ctx;                      /* the source's own state */
};

/* Every source type, NULL-terminated (source.c). */
extern const struct sa_source_ops *const sa_source_types[];
const struct sa_source_ops *sa_source_type_find(const char *name);

/* --- the batch a source fills (pipeline.c) ------------------------------ */

/* The number of the batch being filled; batches commit in order. */
uint64_t sa_batch_generation(const struct sa_batch *batch);
/* Records that still fit before the pipeline must commit. */
size_t sa_batch_room(const struct sa_batch *batch);
/* Add rec (of src's stream and schema), encoded straight into the batch:
 * its key field's value as the key, its event-time field's value as the
 * event time, else event_ms, else (SA_EVENT_NOW) the time now. A record
 * that cannot be taken -- a field with neither value nor default, a key
 * over 64 KiB -- is SA_ERECORD with the reason in err; other errors
 * (SA_ENOMEM) are the batch's. Either way the batch is left as it was. A
 * record of any size the setters allowed fits, whatever the batch holds. */
#define SA_EVENT_NOW INT64_MIN
int sa_batch_add_record(struct sa_batch *batch, struct sa_source *src,
                        struct sa_record *rec, int64_t event_ms, enum sa_op op,
                        struct sa_err *err);
/* Record where src stands after the records added so far; committed in the
 * same transaction as they are. */
int sa_batch_offset(struct sa_batch *batch, struct sa_source *src,
                    const char *file_key, int64_t offset, int64_t line, int done,
                    struct sa_err *err);
/* A record that could not be accepted (invariant I4). */
int sa_batch_deadletter(struct sa_batch *batch, struct sa_source *src,
                        const char *location, const char *reason,
                        const void *raw, size_t raw_len, struct sa_err *err);
/* A record too long to keep whole (a row longer than the read window):
 * dead-lettered by reference, as the `length` bytes at `file_offset` of
 * `file` (copied), which `deadletter list/export/replay` read back from
 * there. */
int sa_batch_deadletter_ref(struct sa_batch *batch, struct sa_source *src,
                            const char *location, const char *reason,
                            const char *file, int64_t file_offset, int64_t length,
                            struct sa_err *err);
/* src moved a finished input file from `from` to `to` (csv on_done:
 * move:<dir>): with the batch, its dead letters (by file_key) are made
 * to name where it went. Copied. */
int sa_batch_file_moved(struct sa_batch *batch, struct sa_source *src,
                        const char *file_key, const char *from, const char *to,
                        struct sa_err *err);
/* What a replay needs to name the fields of the CSV row src dead-lettered
 * last (by sa_batch_deadletter or _ref, just before): the header line of
 * its file as read (header_len bytes, a line end at its end is dropped;
 * NULL for a source with columns:) and the file's identity key
 * ("dev:ino:len:hash", as its offsets; NULL: unknown). Both are copied.
 * `deadletter replay` names the row's fields by this header rather than
 * by whatever file has the name by then, and `deadletter export` reads a
 * row kept by reference only from a file with this key. SA_EINVAL when
 * src has no dead letter in the batch being filled. */
int sa_batch_deadletter_set_header(struct sa_batch *batch, struct sa_source *src,
                                   const char *header, size_t header_len,
                                   const char *file_key, struct sa_err *err);

#endif
