/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics registry: counters, gauges and histograms with labels, and a
 * writer of the Prometheus text exposition format (version 0.0.4).
 *
 * Every layer may use it (agent/, sync/, store/): it depends on nothing but
 * agent/base. There is one process-wide registry (sa_metrics_global()), so a
 * sink or a source registers its series wherever it is set up, without the
 * registry being passed down through every constructor.
 *
 * Two phases, kept apart so that counting costs ingest nothing measurable:
 *
 *   setup     sa_metrics_counter()/_gauge()/_histogram() find or create a
 *             series by name and label values and return a handle. This
 *             takes the registry's mutex and allocates; call it once, when
 *             the sink/source/stream is created, and keep the handle.
 *   hot path  sa_counter_add(), sa_gauge_set(), sa_histogram_observe() are
 *             inline: one relaxed atomic add or store (a histogram: three),
 *             no lookup, no lock, no allocation. Count per batch where
 *             there is a batch, not per record.
 *
 * Invariants:
 *   M1 A handle stays valid until sa_metrics_global_reset() (tests) or the
 *      end of the process: series are never removed, so a config reload
 *      that re-registers the same name and labels gets the same handle and
 *      a reader never sees a freed series.
 *   M2 Registering the same (name, label values) twice returns the same
 *      handle; the same name with another type or another set of label
 *      names is an error (SA_EINVAL): Prometheus wants one type and one
 *      label set per family.
 *   M3 Each series lives on its own cache line(s), so two threads counting
 *      different series do not share a line.
 *   M4 Reads (sa_metrics_write, sa_metrics_visit) take the mutex only to
 *      walk the list of series; values are read with relaxed loads, so a
 *      scrape sees each value as of some moment during the scrape; a
 *      histogram's _count is written as its +Inf bucket, so the two agree,
 *      while _sum may be an observation or two apart from them.
 *
 * Values: counters are uint64; gauges are doubles (stored as their bits, so
 * set is one store); histograms observe doubles against fixed upper bounds
 * and keep their sum in fixed point (1e-9 units), so observing is integer
 * atomics only.
 */
#ifndef SA_BASE_METRICS_H
#define SA_BASE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/base/buf.h"
#include "agent/base/error.h"

struct sa_metrics; /* the registry (opaque) */

enum sa_metric_type { SA_METRIC_COUNTER, SA_METRIC_GAUGE, SA_METRIC_HISTOGRAM };

/* At most this many labels per family and buckets per histogram. */
#define SA_METRICS_MAX_LABELS 8
#define SA_METRICS_MAX_BUCKETS 24

struct sa_counter {
    _Atomic uint64_t value;
};

struct sa_gauge {
    _Atomic uint64_t bits; /* a double's bits */
};

struct sa_histogram {
    const double *bounds; /* n_bounds upper bounds, increasing */
    size_t n_bounds;      /* the +Inf bucket is buckets[n_bounds] */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_nano; /* sum of observations * 1e9 */
    _Atomic uint64_t buckets[SA_METRICS_MAX_BUCKETS + 1]; /* not cumulative */
};

/* Latency buckets in seconds, 0.5 ms to 30 s, for *_seconds histograms. */
extern const double sa_metrics_latency_buckets[];
extern const size_t sa_metrics_latency_n_buckets;

/* ---- setup: registration (locks, allocates; once per series) ---------- */

/* The process-wide registry; never NULL. */
struct sa_metrics *sa_metrics_global(void);

/* A registry of one's own (tests, tools); sa_metrics_free accepts NULL and
 * frees every series, so no handle from it may be used afterwards. */
struct sa_metrics *sa_metrics_new(void);
void sa_metrics_free(struct sa_metrics *m);
/* Free and recreate the global registry's content (unit tests only). */
void sa_metrics_global_reset(void);

/*
 * Find or create a series. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*;
 * `help` is the HELP text of the family (the first registration's wins).
 * `labels` is NULL or a NULL-terminated array of alternating label names and
 * values: (const char *[]){"stream", "orders", "source", "csv", NULL}.
 * Values may hold any bytes but NUL; the writer escapes them. The strings
 * are copied. On success *out is the handle (owned by the registry, M1).
 * Errors: SA_EINVAL (bad name, label set or type clash, M2), SA_ENOMEM.
 */
int sa_metrics_counter(struct sa_metrics *m, const char *name, const char *help,
                       const char *const *labels, struct sa_counter **out,
                       struct sa_err *err);
int sa_metrics_gauge(struct sa_metrics *m, const char *name, const char *help,
                     const char *const *labels, struct sa_gauge **out,
                     struct sa_err *err);
/* A counter whose value is read, not counted, and not a whole number
 * (process_cpu_seconds_total): a gauge's storage, set by a collector,
 * exposed with TYPE counter. The caller keeps it monotonic. */
int sa_metrics_float_counter(struct sa_metrics *m, const char *name, const char *help,
                             const char *const *labels, struct sa_gauge **out,
                             struct sa_err *err);
/* `bounds` (n_bounds <= SA_METRICS_MAX_BUCKETS, increasing, finite) must
 * outlive the registry: pass a static array such as
 * sa_metrics_latency_buckets. */
int sa_metrics_histogram(struct sa_metrics *m, const char *name, const char *help,
                         const char *const *labels, const double *bounds,
                         size_t n_bounds, struct sa_histogram **out,
                         struct sa_err *err);

/*
 * A collector is called, without the registry's lock held (it may
 * register), before each write or visit, to
 * refresh gauges whose value is read rather than counted (process_* from
 * /proc/self, spool bytes, lag). It must not register series for the first
 * time on each call (M1 makes that a leak of names, not memory, but still).
 * Returns an id for sa_metrics_remove_collector, or a negative sa_rc.
 * The remove waits for a running call of that collector to end, so `arg`
 * may be freed right after it.
 */
typedef void (*sa_metrics_collect_fn)(void *arg);
int sa_metrics_add_collector(struct sa_metrics *m, sa_metrics_collect_fn fn, void *arg);
void sa_metrics_remove_collector(struct sa_metrics *m, int id);

/* ---- hot path: one relaxed atomic per call ---------------------------- */

static inline void sa_counter_add(struct sa_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}
static inline void sa_counter_inc(struct sa_counter *c)
{
    sa_counter_add(c, 1);
}
static inline uint64_t sa_counter_get(const struct sa_counter *c)
{
    return atomic_load_explicit(&((struct sa_counter *)c)->value, memory_order_relaxed);
}

static inline void sa_gauge_set(struct sa_gauge *g, double v)
{
    uint64_t bits;

    memcpy(&bits, &v, sizeof bits);
    atomic_store_explicit(&g->bits, bits, memory_order_relaxed);
}
static inline double sa_gauge_get(const struct sa_gauge *g)
{
    uint64_t bits =
        atomic_load_explicit(&((struct sa_gauge *)g)->bits, memory_order_relaxed);
    double v;

    memcpy(&v, &bits, sizeof v);
    return v;
}
/* Add to a gauge (a CAS loop: for gauges several threads move, such as a
 * queue depth; a gauge one thread owns should use sa_gauge_set). */
void sa_gauge_add(struct sa_gauge *g, double delta);

static inline void sa_histogram_observe(struct sa_histogram *h, double v)
{
    size_t i = 0;

    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    if (v > 0)
        atomic_fetch_add_explicit(&h->sum_nano, (uint64_t)(v * 1e9 + 0.5),
                                  memory_order_relaxed);
}

/* Observe the same value n times (one ack covering n records). */
static inline void sa_histogram_observe_n(struct sa_histogram *h, double v, uint64_t n)
{
    size_t i = 0;

    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], n, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, n, memory_order_relaxed);
    if (v > 0)
        atomic_fetch_add_explicit(&h->sum_nano, (uint64_t)(v * 1e9 + 0.5) * n,
                                  memory_order_relaxed);
}

/* ---- reading ---------------------------------------------------------- */

/*
 * Append the whole registry to `out` in the Prometheus text format: per
 * family (families sorted by name) `# HELP` and `# TYPE` lines, then its
 * series in registration order; label values escaped (\\, \", \n); histograms as
 * cumulative _bucket{le=...} lines ending with le="+Inf", then _sum and
 * _count. Runs the collectors first. SA_OK or the sa_buf error (SA_ETOOBIG
 * when `out`'s cap is reached).
 */
int sa_metrics_write(struct sa_metrics *m, struct sa_buf *out);

/* One series as the visitor sees it. For histograms `value` is the sum and
 * `count` the number of observations; for the others count is 0. */
struct sa_metric_sample {
    const char *name;
    enum sa_metric_type type;
    size_t n_labels;
    const char *const *label_names;
    const char *const *label_values;
    double value;
    uint64_t count;
};
/* Call fn for every series (collectors first), under the registry's mutex:
 * fn must not register. Used by the status page's sample ring. */
void sa_metrics_visit(struct sa_metrics *m,
                      void (*fn)(const struct sa_metric_sample *s, void *arg),
                      void *arg);

#endif
