/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The status page's memory: a bounded ring of samples of a few metrics
 * (per-stream ingest, per-sink acknowledgements and lag, spool use, ...),
 * taken from the metrics registry every few seconds by a thread of its own
 * and served as JSON (GET /api/v1/series) for the page's charts.
 *
 * Bounded (I5): at most SA_SERIES_MAX_TRACKS series of `capacity` samples
 * each, allocated as they first appear; a series beyond that is left out,
 * never grown into. Counters are kept raw (the page turns two samples into
 * a rate), so a missed sample loses no records from the chart, only detail.
 */
#ifndef SA_ADMIN_SERIES_H
#define SA_ADMIN_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "agent/base/buf.h"
#include "agent/base/error.h"
#include "agent/base/metrics.h"

/* Streams x fields plus sinks x fields plus the agent's own. */
#define SA_SERIES_MAX_TRACKS 128
/* The defaults: one sample every 5 s for 15 minutes. */
#define SA_SERIES_INTERVAL_MS 5000
#define SA_SERIES_CAPACITY 180

struct sa_series;

/* A ring over `metrics` (not owned; it must outlive the ring) with
 * `capacity` samples `interval_ms` apart. No thread yet. *out is the
 * caller's, freed with sa_series_free. SA_EINVAL, SA_ENOMEM. */
int sa_series_new(struct sa_metrics *metrics, int64_t interval_ms, size_t capacity,
                  struct sa_series **out /* out */, struct sa_err *err);
/* Stops the thread (if started) and frees everything; accepts NULL. */
void sa_series_free(struct sa_series *s);

/* Start the sampling thread: a first sample at once, then one every
 * interval (monotonic clock). */
int sa_series_start(struct sa_series *s, struct sa_err *err);

/* Take one sample now, stamped with wall time `now_ms` (the thread calls
 * it; tests call it directly). */
void sa_series_sample(struct sa_series *s, int64_t now_ms);

/*
 * Append the ring, oldest sample first, as one JSON object:
 *   {"interval_ms": 5000, "capacity": 180, "t": [ms, ...],
 *    "streams": {"<stream>": {"ingested": [...], "rejected": [...], ...}},
 *    "sinks": {"<sink>": {"acked": [...], "lag_records": [...], ...}},
 *    "agent": {"spool_bytes": [...], "spool_max_bytes": [...], ...}}
 * Every array has one value per entry of "t"; null where the metric had no
 * value then (a sink added by a reload). Counters are raw totals.
 */
int sa_series_json(struct sa_series *s, struct sa_buf *out, struct sa_err *err);

#endif
