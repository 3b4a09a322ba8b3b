/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The housekeeping thread (DESIGN.md §5): on its own spool connection it
 * trims segments every subscribed sink has acknowledged, runs incremental
 * vacuum and WAL checkpoints, so that the spool file shrinks again after a
 * backlog drains and a full spool gets room back.
 */
#ifndef SA_AGENT_HOUSEKEEPER_H
#define SA_AGENT_HOUSEKEEPER_H

#include "agent/config.h"

struct sa_housekeeper;
struct sa_spool;

/* Borrows cfg, which must outlive the housekeeper. */
int sa_housekeeper_start(struct sa_housekeeper **out, const struct sa_config *cfg,
                         int64_t interval_ms, struct sa_err *err);
/* Run one pass now (after a commit blocked on a full spool, say). */
void sa_housekeeper_kick(struct sa_housekeeper *hk);
/* Take the WAL checkpoints of the commits on `writer` (the pipeline's
 * connection) off the commit path: the housekeeper runs one after each
 * commit that leaves 2 MiB or more in the WAL, and starts the WAL over
 * past 4 MiB (sa_spool_on_wal_growth). `writer` must stay open until
 * sa_housekeeper_stop, which hands them back. */
void sa_housekeeper_watch_wal(struct sa_housekeeper *hk, struct sa_spool *writer);
/* Stop the thread, run a last pass, free. NULL-safe. */
void sa_housekeeper_stop(struct sa_housekeeper *hk);

#endif
