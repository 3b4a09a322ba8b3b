/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What `status` reports, read from a spool handle: per stream what is
 * spooled, per sink its cursor and lag, the dead letters. One reader and
 * one JSON writer for `status --json` and the admin server's live
 * GET /api/v1/status (and its gauges), so that the two cannot drift.
 */
#ifndef SA_AGENT_STATUS_H
#define SA_AGENT_STATUS_H

#include "agent/config.h"
#include "store/deadletter.h"
#include "store/spool.h"

struct sa_status_sink {
    const struct sa_sink_conf *conf; /* borrowed from the config */
    struct sa_cursor cursor;
    int64_t updated_ms, lag_records, oldest_ms;
    int64_t superseded; /* acknowledged as superseded by a newer version */
};

/* How many of the newest open dead letters the status names. */
#define SA_STATUS_LATEST_DEADLETTERS 5

struct sa_status {
    struct sa_spool_status spool;
    struct sa_status_sink *sinks; /* one per cfg->sinks, in order */
    size_t n_sinks;
    struct sa_rollup_row *quality; /* quality failures in total, malloc'd */
    size_t n_quality;
    struct sa_deadletter_row *latest; /* newest open dead letters first */
    size_t n_latest;
};

/* Read everything from spool (any handle; a read-only one is enough).
 * out is filled and owned by the caller: sa_status_fini(), also after an
 * error. */
int sa_status_read(const struct sa_config *cfg, struct sa_spool *spool,
                   struct sa_status *out, struct sa_err *err);
void sa_status_fini(struct sa_status *st);

/* A sink's lag in seconds: the age of its oldest unacknowledged segment. */
double sa_status_lag_seconds(const struct sa_status_sink *sink, int64_t now_ms);

/* The action a quality roll-up kind stands for (reject, drop, tag). */
const char *sa_status_quality_action(const char *kind);

/* The `status --json` object, indented; malloc'd text (NULL: no memory). */
char *sa_status_json(const struct sa_config *cfg, const struct sa_status *st);

#endif
