/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dispatcher: one worker thread per sink, each with its own spool
 * connection, reading segments after the sink's cursor, sending them,
 * advancing the cursor over the contiguous acknowledged prefix, and
 * retrying with exponential backoff and jitter (see dispatcher.c).
 */
#ifndef SA_SYNC_DISPATCHER_H
#define SA_SYNC_DISPATCHER_H

#include "store/spool.h"
#include "sync/sink.h"

#include <stdint.h>

struct sa_dispatcher;

/* After a failure a sink is sent at most this many records at a time (a
 * probe) until one is acknowledged; then max_in_flight again. */
#define SA_DISPATCH_PROBE_RECORDS 100

struct sa_dispatcher_opts {
    const struct sa_spool_opts *spool;
    struct sa_sink_conf *sinks;
    size_t n_sinks;
};

enum sa_sink_state { SA_SINK_STATE_STARTING, SA_SINK_STATE_RUNNING,
                     SA_SINK_STATE_BACKOFF, SA_SINK_STATE_STOPPED,
                     SA_SINK_STATE_FAILED };

struct sa_sink_metrics {
    char name[128];
    int state; /* enum sa_sink_state */
    uint64_t sent, acked, retried, rejected;
    /* Acknowledged without being delivered because a newer version of the
     * key was pending (coalesce) or was already upstream (SA_SINK_SUPERSEDED);
     * also counted in acked. */
    uint64_t superseded;
    /* Keys in the coalesce read-ahead table now (its memory, about 110
     * bytes a key); 0 without coalesce. */
    uint64_t coalesce_keys;
    struct sa_cursor cursor;
    /* Wall ms of the first failure since the last delivery (0: none): how
     * long the sink has been down, for /readyz (health.sink_down_after). */
    int64_t failing_since_ms;
    char last_error[SA_ERR_MSG_MAX];
};

/* Open every sink and start its worker. On error nothing is left running. */
int sa_dispatcher_start(struct sa_dispatcher **out,
                        const struct sa_dispatcher_opts *opts, struct sa_err *err);
/* New segments were committed: wake idle workers now. */
void sa_dispatcher_notify(struct sa_dispatcher *d);
/* Snapshot of each sink's counters; returns the number filled. */
size_t sa_dispatcher_metrics(struct sa_dispatcher *d, struct sa_sink_metrics *out,
                             size_t max);
/* 1 when every sink has acknowledged everything committed so far. */
int sa_dispatcher_caught_up(struct sa_dispatcher *d);
/* The same, after waiting up to timeout_ms for a worker to catch up (woken
 * when one saves its cursor at the end of the spool, not polled). It may
 * return 0 early, when one worker caught up and another has not: callers
 * ask again. */
int sa_dispatcher_wait_caught_up(struct sa_dispatcher *d, int timeout_ms);
/* Stop: workers keep draining for up to grace_ms, then close their sinks;
 * returns within about grace_ms, whatever the upstreams do. Frees d.
 * Returns 1 when every sink's saved cursor is at the end of the spool
 * then (nothing stays spooled for the next start), else 0: what
 * `import --wait-synced` and `run --exit-when-synced` stopped by a signal
 * report. Call it after the writer's last commit. */
int sa_dispatcher_stop(struct sa_dispatcher *d, int64_t grace_ms);
/* The same for a reload (SIGHUP): a sink in backoff is closed at once
 * rather than after grace_ms. Frees d; returns as sa_dispatcher_stop. */
int sa_dispatcher_hand_over(struct sa_dispatcher *d, int64_t grace_ms);

#endif
