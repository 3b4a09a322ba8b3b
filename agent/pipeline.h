/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ingest pipeline: the writer thread's loop of polling sources into a
 * batch and committing the batch, with the sources' positions, to the
 * spool in one transaction (invariant I1). See pipeline.c.
 */
#ifndef SA_AGENT_PIPELINE_H
#define SA_AGENT_PIPELINE_H

#include "agent/config.h"
#include "agent/schemas.h"
#include "store/spool.h"

#include <stdatomic.h>
#include <stdint.h>

struct sa_pipeline;

/* Counters, readable from any thread. */
struct sa_pipeline_stats {
    atomic_uint_fast64_t records_in;     /* added by sources */
    atomic_uint_fast64_t records_spooled; /* committed */
    atomic_uint_fast64_t deadletters;
    atomic_uint_fast64_t commits;
    atomic_uint_fast64_t rejected; /* refused by when_full: reject */
    atomic_uint_fast64_t dropped;  /* removed by when_full: drop_oldest */
    atomic_int blocked;            /* 1 while ingest waits for spool space */
    atomic_uint_fast64_t commit_wait_us; /* time sources waited for a commit */
};

/* Open the sources sources[0, n_sources) (usually cfg's own) on the
 * writer's spool handle; cfg gives the batch and spool settings. The
 * pipeline borrows everything; it must all outlive it. *stop is polled so
 * that a signal can interrupt a wait for spool space. */
int sa_pipeline_open(struct sa_pipeline **out, const struct sa_config *cfg,
                     const struct sa_source_conf *sources, size_t n_sources,
                     const struct sa_schema_set *schemas, struct sa_spool *spool,
                     const atomic_int *stop, struct sa_err *err);

/* The source of lane i (i < n_sources given to open), for reports. */
struct sa_source *sa_pipeline_source(struct sa_pipeline *p, size_t i);

/* Poll every source once and commit when the batch is full or has
 * lingered long enough. SA_OK, SA_EOF when every source is finished and
 * everything is committed, or an error. *idle is set when no source had
 * anything, so that the caller may sleep. */
int sa_pipeline_step(struct sa_pipeline *p, int *idle /* out */, struct sa_err *err);

/* Commit whatever is pending now. */
int sa_pipeline_flush(struct sa_pipeline *p, struct sa_err *err);

/* With nothing to drain the spool (`import` without sinks), a full spool
 * would wait for ever: stop instead, with SA_EFULL from the step that
 * meets it; what was committed before stays. */
void sa_pipeline_stop_when_full(struct sa_pipeline *p);

/* Called after each successful commit (e.g. sa_dispatcher_notify). */
void sa_pipeline_on_commit(struct sa_pipeline *p, void (*fn)(void *), void *arg);

const struct sa_pipeline_stats *sa_pipeline_stats(const struct sa_pipeline *p);

/* Close every source; pending records not yet committed are not lost:
 * their sources re-read them from the committed position next time. */
void sa_pipeline_close(struct sa_pipeline *p);

#endif
