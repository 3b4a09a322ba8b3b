/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sinks are tables of operations (DESIGN.md §4). The dispatcher hands a
 * sink segments read from the spool; the sink sends their records and
 * later reports what the upstream acknowledged through poll_acks. A sink
 * never touches SQLite and never moves a cursor: the dispatcher owns the
 * cursor, retries, backoff and dead-lettering.
 */
#ifndef SA_SYNC_SINK_H
#define SA_SYNC_SINK_H

#include "agent/base/confmap.h"
#include "agent/base/error.h"
#include "store/schema.h"
#include "store/segment.h"
#include "store/spool.h"

#include <stddef.h>
#include <stdint.h>

/* max_in_flight when a sink's config leaves it out (config.c's default,
 * and the fallback of a conf built without it, as the unit tests do): at
 * ~1.1 KB a record in librdkafka this keeps a Kafka drain within the 24 MB
 * promise (DESIGN.md I5; tools/bench/README.md, issue 17). */
#define SA_SINK_DEFAULT_MAX_IN_FLIGHT 5000

/* One entry of the `sinks:` list; common keys filled by config.c, the
 * type-specific ones into *opts through ops->conf. */
struct sa_sink_conf {
    char *name;
    char *type;
    struct sa_strlist streams; /* empty: every stream */
    int64_t retry_initial_ms;
    int64_t retry_max_ms;
    int64_t max_in_flight; /* records sent but not yet acknowledged */
    int coalesce;          /* only the newest pending version of a key */
    int64_t coalesce_window; /* records read ahead for it */
    const struct sa_sink_ops *ops;
    void *opts;
    const char *agent_id; /* agent.id, borrowed from the config */
    struct sa_conf_origin origin; /* where its keys were written */
    /* 16 hex digits of the SHA-256 of its keys and resolved values as
     * written (agent/config.c): a fleet config's sink of the same name but
     * other settings is a changed sink, put on probation. */
    char settings_hash[17];
};

enum sa_sink_outcome {
    SA_SINK_OK,     /* acknowledged: the cursor may pass these records */
    SA_SINK_RETRY,  /* transient failure: send again from the spool */
    SA_SINK_REJECT, /* poison: dead-letter these records and go on */
    /* Acknowledged, but the upstream kept a newer version of the key (a
     * store's 409 on a versioned write): passed like OK, and counted as
     * superseded in the sink's cursor row, which `status` shows. */
    SA_SINK_SUPERSEDED,
};

struct sa_ack {
    int64_t segment_id;
    uint32_t first_index; /* record index inside the segment */
    uint32_t count;
    int outcome;        /* enum sa_sink_outcome */
    const char *reason; /* "" for OK; else owned by the list */
};

struct sa_ack_list {
    struct sa_ack *v;
    size_t n, cap;
};

/* Append an outcome (reason copied; may be NULL). An outcome that
 * continues one of the last few entries (same segment, same outcome and
 * reason, the next index) is merged into it, so per-record acks from
 * interleaved partitions stay a handful of entries. */
int sa_ack_list_push(struct sa_ack_list *list, int64_t segment_id,
                     uint32_t first_index, uint32_t count, int outcome,
                     const char *reason);
/* Empty the list, keeping its memory. */
void sa_ack_list_clear(struct sa_ack_list *list);
void sa_ack_list_fini(struct sa_ack_list *list);

struct sa_sink {
    const struct sa_sink_ops *ops;
    const struct sa_sink_conf *conf;
    const char *origin_id;  /* the spool's, sent with every record (I3) */
    struct sa_spool *spool; /* the worker's handle: for schema lookups only */
    struct sa_schema_cache *schemas;
    void *ctx;
    /* Set by the dispatcher once it stops: the mono ms (sa_mono_ms) the
     * stop must be done by; the sink waits for nothing past it (flushing,
     * committing), in poll_acks or close. 0: no stop yet. */
    int64_t close_by_ms;
};

struct sa_sink_ops {
    const char *name; /* the `type:` value */
    const char *desc;
    const struct sa_conf_entry *conf; /* terminated by an entry with key NULL */
    size_t opts_size;
    /* Optional: refuse settings that open would refuse, without
     * connecting or creating anything (`check` calls it on every sink,
     * open calls it first); errors name the key through
     * sa_conf_fail(&conf->origin, ...). */
    int (*check)(const struct sa_sink_conf *conf, struct sa_err *err);
    int (*open)(struct sa_sink *sink, struct sa_err *err);
    /* Take records [view->start_index, view->count) of the segment. SA_OK:
     * taken, outcomes follow through poll_acks. SA_EAGAIN: no room now,
     * offer it again after poll_acks. Other rc: a transient failure; the
     * dispatcher backs off and sends again from its durable cursor. */
    int (*send)(struct sa_sink *sink, const struct sa_segment_view *view,
                struct sa_err *err);
    /* Append outcomes to acks, waiting up to timeout_ms for the first. */
    int (*poll_acks)(struct sa_sink *sink, struct sa_ack_list *acks,
                     int timeout_ms);
    /* Optional, called once after open before the first send. *inout
     * holds the cursor from the spool; a sink that keeps its own durable
     * position upstream (Kafka with exactly_once, where the cursor is
     * committed in the same transaction as the records) replaces it, and
     * the dispatcher resumes from there. An error is transient: the
     * dispatcher backs off and calls it again before sending anything. */
    int (*start_cursor)(struct sa_sink *sink, struct sa_cursor *inout,
                        struct sa_err *err);
    void (*close)(struct sa_sink *sink);
};

/* Every sink type, NULL-terminated (sink.c). */
extern const struct sa_sink_ops *const sa_sink_types[];
const struct sa_sink_ops *sa_sink_type_find(const char *name);

/* Look up the writer schema of a segment through the sink's cache, its
 * `reader` set to the newest version of the subject: sa_encode_json then
 * gives every record that version's shape (DESIGN.md §6). */
int sa_sink_schema(struct sa_sink *sink, int64_t schema_id,
                   const struct sa_schema **out, struct sa_err *err);

#endif
