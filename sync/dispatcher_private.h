/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What dispatcher.c shares with coalesce.c and rejects.c (not a public
 * interface): a worker's state, the coalescing table it holds, its sets of
 * rejected positions. dispatcher.c runs the workers; coalesce.c keeps the
 * table and the reading ahead; rejects.c stores dead letters and keeps the
 * position sets. See dispatcher.c for the design. Only sync/ includes this
 * file.
 */
#ifndef SA_SYNC_DISPATCHER_PRIVATE_H
#define SA_SYNC_DISPATCHER_PRIVATE_H

#include "agent/base/buf.h"
#include "agent/base/metrics.h"
#include "store/segment.h"
#include "store/spool.h"
#include "sync/dispatcher.h"
#include "sync/sink.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct span; /* dispatcher.c */
struct ckey; /* coalesce.c */

/* The state of one in-flight record (IN-FLIGHT BOOKKEEPING in
 * dispatcher.c's header). */
enum rec_state { REC_OUTSTANDING = 0, REC_PASSED = 1, REC_RETRY = 2 };

/* A sorted set of record positions (DEAD LETTERS in dispatcher.c's header). */
struct posset {
    struct sa_cursor *v; /* ascending, no duplicates */
    size_t n, cap;
};

/* The coalescing table of a worker (COALESCING in dispatcher.c). */
struct coalescer {
    struct ckey *slots; /* cap of them, a power of two; linear probing */
    size_t cap, n;
    struct sa_cursor scan; /* the first record not read ahead */
    int64_t ahead;         /* records read ahead of send (about) */
    int64_t scanned;       /* records read ahead in all (ahead counts down) */
    int64_t passed_at;     /* scanned - ahead at the last look for passed keys */
    int64_t window;        /* coalesce_window */
    struct sa_buf key;     /* scratch: stream NUL key */
};

struct worker {
    struct sa_dispatcher *d;
    const struct sa_sink_conf *conf;
    const char *const *streams;
    size_t n_streams;
    int64_t max_in_flight, retry_initial_ms, retry_max_ms;

    struct sa_spool *spool;
    struct sa_sink sink;
    int sink_open;
    pthread_t thread;
    int thread_started;

    struct sa_cursor send, acked, saved;
    int64_t saved_mono_ms;
    uint64_t passed_since_save;

    struct span *spans; /* spans[head .. n) are live */
    size_t head, n, cap;
    int64_t outstanding; /* records in spans with no outcome yet */

    struct posset dead;   /* dead-lettered in this run, at or after acked */
    struct posset stored; /* dead letters of earlier runs, at or after acked */
    int stored_loaded;    /* `stored` was read (at the first rejection) */

    struct coalescer *coalesce; /* NULL: coalesce is off */
    int64_t superseded_unsaved; /* counted since the last save_cursor */
    int64_t acked_unsaved;      /* acknowledged (not superseded), likewise:
                                 * the daily roll-up moves with the cursor */

    struct sa_ack_list acks;
    unsigned attempt;       /* consecutive failures, for the backoff */
    int64_t backoff_until;  /* mono ms; 0: not backing off */
    int64_t backoff_drain_until;
    uint64_t seen_generation;
    int idle;                 /* said on `idle`, at idle_at (note_idle) */
    struct sa_cursor idle_at; /* the saved cursor it was said at */
    uint64_t rng;

    pthread_mutex_t lock; /* guards m */
    struct sa_sink_metrics m;

    /* Prometheus series (agent/base/metrics.h), registered at init. */
    struct sa_counter *acked_total, *superseded_total, *retries_total;
    struct sa_gauge *up;
    struct sa_histogram *ack_seconds;
};

/* -1, 0 or 1 as position a is before, at or after b (dispatcher.c). */
int sa_dispatcher_cursor_cmp(const struct sa_cursor *a, const struct sa_cursor *b);
/* The state byte of one in-flight record, NULL when it is not in flight
 * (dispatcher.c). */
uint8_t *sa_dispatch_state_at(const struct worker *w, int64_t segment_id,
                              uint32_t index);

/* --- rejected records (rejects.c) ----------------------------------------- */

/* Index in set of the first position >= (segment_id, index). */
size_t sa_posset_find(const struct posset *set, int64_t segment_id, uint32_t index);
/* Drop the positions before `at`. */
void sa_posset_prune(struct posset *set, const struct sa_cursor *at);
void sa_posset_fini(struct posset *set);
/* Store the still OUTSTANDING records of [first, first + n) of segment_id
 * as dead letters in one commit (none that an earlier run stored) and add
 * them to w->dead. */
int sa_dispatch_deadletter_range(struct worker *w, int64_t segment_id, uint32_t first,
                                 uint32_t n, const char *reason, struct sa_err *err);

/* --- coalescing (coalesce.c) ---------------------------------------------- */

/* A table for a read-ahead of `window` records; NULL when out of memory.
 * The caller owns it and frees it with sa_coalesce_free (NULL-safe). */
struct coalescer *sa_coalesce_new(int64_t window);
void sa_coalesce_free(struct coalescer *c);
/* Read ahead of w->send into w->coalesce (see coalesce.c). */
int sa_coalesce_scan(struct worker *w, struct sa_err *err);
/* The run of records from `start` (before `end`) of view that are all
 * superseded (*skip = 1) or all not (*skip = 0); *run_end is its end. */
int sa_coalesce_run(struct worker *w, const struct sa_segment_view *view,
                    uint32_t start, uint32_t end, int *skip, uint32_t *run_end,
                    struct sa_err *err);

#endif
