/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the benchmarks share: the one-row-per-record SQLite baseline, the
 * pre-encoded records it inserts, running the daemon's ingest pipeline on
 * a config given as YAML text, and printing a figure beside the baseline.
 */
#include "tools/bench/lib/benchlib.h"

#include "agent/base/clock.h"
#include "agent/housekeeper.h"
#include "agent/pipeline.h"
#include "agent/source/generator.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

void bench_die(const char *what, const struct sa_err *err)
{
    fprintf(stderr, "bench: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

void bench_encode_all(const struct sa_schema *schema, uint64_t seed, size_t n,
                      struct bench_encoded *enc)
{
    struct sa_generator gen;
    struct sa_record rec;
    struct sa_err err = {0};

    sa_buf_init(&enc->bodies, (size_t)1 << 34);
    enc->ends = malloc(n * sizeof *enc->ends);
    enc->event_ms = malloc(n * sizeof *enc->event_ms);
    enc->n = n;
    if (!enc->ends || !enc->event_ms)
        bench_die("out of memory", NULL);
    if (sa_generator_init(&gen, schema, seed, BENCH_START_MS, 1000, &err) ||
        sa_record_init(&rec, schema, &err))
        bench_die("generator", &err);
    for (size_t i = 0; i < n; i++) {
        if (sa_generator_fill(&gen, i, &rec, &err) ||
            sa_record_encode(&rec, &enc->bodies, &err))
            bench_die("encode", &err);
        enc->ends[i] = enc->bodies.len;
        enc->event_ms[i] = sa_record_event_ms(&rec, BENCH_START_MS);
    }
    sa_record_fini(&rec);
    sa_generator_fini(&gen);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "bench: %s: %s\n", sql, msg);
        exit(1);
    }
}

/* One row per record, 1000 rows per transaction. Returns seconds. */
double bench_baseline(const char *path, const struct bench_encoded *enc)
{
    sqlite3 *db;
    sqlite3_stmt *ins;
    int64_t t0;
    size_t start = 0;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        bench_die("open baseline db", NULL);
    exec_sql(db, "PRAGMA journal_mode=WAL");
    exec_sql(db, "PRAGMA synchronous=NORMAL");
    exec_sql(db, "CREATE TABLE records(id INTEGER PRIMARY KEY, stream TEXT, "
                 "seq INTEGER, event_ms INTEGER, body BLOB)");
    if (sqlite3_prepare_v2(db, "INSERT INTO records(stream, seq, event_ms, body) "
                               "VALUES (?, ?, ?, ?)", -1, &ins, NULL) != SQLITE_OK)
        bench_die("prepare", NULL);
    t0 = sa_mono_us();
    for (size_t i = 0; i < enc->n; i++) {
        if (i % 1000 == 0)
            exec_sql(db, "BEGIN");
        sqlite3_bind_text(ins, 1, "bench", -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, (sqlite3_int64)i + 1);
        sqlite3_bind_int64(ins, 3, enc->event_ms[i]);
        sqlite3_bind_blob(ins, 4, enc->bodies.data + start, (int)(enc->ends[i] - start),
                          SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            bench_die("insert", NULL);
        sqlite3_reset(ins);
        start = enc->ends[i];
        if (i % 1000 == 999 || i + 1 == enc->n)
            exec_sql(db, "COMMIT");
    }
    double secs = (double)(sa_mono_us() - t0) / 1e6;
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return secs;
}

void bench_encoded_fini(struct bench_encoded *enc)
{
    sa_buf_fini(&enc->bodies);
    free(enc->ends);
    free(enc->event_ms);
}

double bench_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds of the calling thread, since it started. */
static double bench_thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_pipeline(const char *yaml, uint64_t want_records, double *cpu_secs)
{
    struct sa_config *cfg;
    struct sa_schema_set *schemas;
    struct sa_spool *spool;
    struct sa_pipeline *p;
    struct sa_housekeeper *hk;
    struct sa_err err = {0};
    atomic_int stop = 0;
    char mk[1200];
    int64_t t0;
    double cpu0, thread_cpu0;
    int rc;

    if (sa_config_load_string(yaml, "bench.yaml", &cfg, &err))
        bench_die("config", &err);
    if (sa_schemas_load(cfg->agent.schemas_dir, SA_COMPAT_BACKWARD, &schemas, &err))
        bench_die("schemas", &err);
    snprintf(mk, sizeof mk, "mkdir -p '%s'", cfg->agent.data_dir);
    if (system(mk) != 0)
        bench_die("mkdir", NULL);
    if (sa_spool_open(&spool, &cfg->spool, SA_SPOOL_CREATE, &err) ||
        sa_schemas_store(schemas, spool, &err))
        bench_die("spool", &err);
    /* As in the daemon, the housekeeper checkpoints the WAL on its own
     * connection, so that commits do not. */
    if (sa_housekeeper_start(&hk, cfg, 1000, &err))
        bench_die("housekeeper", &err);
    sa_housekeeper_watch_wal(hk, spool);
    if (sa_pipeline_open(&p, cfg, cfg->sources, cfg->n_sources, schemas, spool, &stop,
                         &err))
        bench_die("pipeline", &err);
    t0 = sa_mono_us();
    cpu0 = bench_cpu_seconds();
    thread_cpu0 = bench_thread_cpu_seconds();
    while ((rc = sa_pipeline_step(p, NULL, &err)) == SA_OK)
        ;
    if (rc != SA_EOF)
        bench_die("pipeline step", &err);
    double secs = (double)(sa_mono_us() - t0) / 1e6;
    /* The sources run on this thread: its CPU time beside the wall time
     * tells whether they or the commits bound the run. */
    double source_cpu = bench_thread_cpu_seconds() - thread_cpu0;
    double process_cpu = bench_cpu_seconds() - cpu0;
    if (cpu_secs)
        *cpu_secs = process_cpu;
    uint64_t spooled = (uint64_t)atomic_load(&sa_pipeline_stats(p)->records_spooled);
    if (getenv("SA_BENCH_VERBOSE"))
        fprintf(stderr, "bench: sources waited %.3f s for commits; CPU s: source "
                        "thread %.3f, whole process %.3f\n",
                (double)atomic_load(&sa_pipeline_stats(p)->commit_wait_us) / 1e6,
                source_cpu, process_cpu);
    if (spooled != want_records) {
        fprintf(stderr, "bench: pipeline spooled %llu records, wanted %llu\n",
                (unsigned long long)spooled, (unsigned long long)want_records);
        exit(1);
    }
    sa_pipeline_close(p);
    sa_housekeeper_stop(hk);
    sa_spool_close(spool);
    sa_schemas_free(schemas);
    sa_config_free(cfg);
    return secs;
}

void bench_line(const char *name, size_t n, size_t bytes, double secs, double base)
{
    double rps = (double)n / secs;
    printf("%-10s %12.0f rec/s %9.1f MB/s %8.3f s", name, rps,
           (double)bytes / secs / 1e6, secs);
    if (base > 0)
        printf("   %.2fx baseline", rps / base);
    printf("\n");
}


void bench_tmpdir(char *dir, size_t len, const char *name)
{
    snprintf(dir, len, "/tmp/sa-bench-%s-XXXXXX", name);
    if (!mkdtemp(dir))
        bench_die("mkdtemp", NULL);
}

void bench_rmdir(const char *dir)
{
    char rm[1200];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0)
        fprintf(stderr, "bench: could not remove %s\n", dir);
}
