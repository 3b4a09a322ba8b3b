/* SPDX-License-Identifier: Apache-2.0 */
/* Shared pieces of the benchmarks under tools/bench/; see benchlib.c. */
#ifndef SA_BENCHLIB_H
#define SA_BENCHLIB_H

#include "agent/base/buf.h"
#include "agent/base/error.h"
#include "agent/config.h"
#include "store/schema.h"

#include <stddef.h>
#include <stdint.h>

#define BENCH_START_MS 1767225600000LL

/* Records encoded ahead of time: bodies back to back. */
struct bench_encoded {
    struct sa_buf bodies;
    size_t *ends; /* end offset of body i */
    int64_t *event_ms;
    size_t n;
};

void bench_die(const char *what, const struct sa_err *err) __attribute__((noreturn));
/* Generate and encode n records of schema (seed, BENCH_START_MS, 1 s apart). */
void bench_encode_all(const struct sa_schema *schema, uint64_t seed, size_t n,
                      struct bench_encoded *enc);
void bench_encoded_fini(struct bench_encoded *enc);
/* The baseline: one SQLite row per record, prepared statement, WAL,
 * synchronous=NORMAL, 1000 rows per transaction. Returns seconds. */
double bench_baseline(const char *path, const struct bench_encoded *enc);
/* Run the ingest pipeline of the config in yaml until every source is
 * finished; fails unless exactly want_records were spooled. Returns wall
 * seconds; *cpu_secs (may be NULL) gets the process CPU time used. */
double bench_pipeline(const char *yaml, uint64_t want_records, double *cpu_secs);
double bench_cpu_seconds(void);
/* "name   N rec/s   M MB/s   T s   [R x baseline]" (base = baseline rec/s). */
void bench_line(const char *name, size_t n, size_t bytes, double secs, double base);
void bench_tmpdir(char *dir, size_t len, const char *name);
void bench_rmdir(const char *dir);

#endif
