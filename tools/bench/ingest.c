/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest benchmark (issue: foundation): the generator -> spool pipeline as
 * fast as it goes, beside a baseline measured in the same run: a plain C
 * loop inserting the same encoded records one SQLite row each (prepared
 * statement, WAL, synchronous=NORMAL, 1000 rows per transaction).
 *
 *   bench_ingest [-n RECORDS] [--schema SUBJECT] [--schemas-dir DIR] [--dir TMP]
 *
 * Prints records/s and MB/s (MB of Avro bodies) for
 *   baseline     one row per record, records encoded beforehand (not timed)
 *   spool        the same pre-encoded records as segments via sa_spool_commit
 *   pipeline     generate + encode + segment + commit, the daemon's path
 * and the ratios to the baseline. Timings are not tests: read the ratio.
 */
#include "agent/base/clock.h"
#include "agent/config.h"
#include "agent/generator.h"
#include "agent/pipeline.h"
#include "agent/record.h"
#include "agent/schemas.h"
#include "store/spool.h"

#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define START_MS 1767225600000LL

struct encoded {
    struct sa_buf bodies; /* all bodies back to back */
    size_t *ends;         /* end offset of body i */
    int64_t *event_ms;
    size_t n;
};

static void die(const char *what, const struct sa_err *err)
{
    fprintf(stderr, "bench_ingest: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static void encode_all(const struct sa_schema *schema, size_t n, struct encoded *enc)
{
    struct sa_generator gen;
    struct sa_record rec;
    struct sa_err err = {0};

    sa_buf_init(&enc->bodies, (size_t)1 << 34);
    enc->ends = malloc(n * sizeof *enc->ends);
    enc->event_ms = malloc(n * sizeof *enc->event_ms);
    enc->n = n;
    if (!enc->ends || !enc->event_ms)
        die("out of memory", NULL);
    if (sa_generator_init(&gen, schema, 1, START_MS, 1000, &err) ||
        sa_record_init(&rec, schema, &err))
        die("generator", &err);
    for (size_t i = 0; i < n; i++) {
        if (sa_generator_fill(&gen, i, &rec, &err) ||
            sa_record_encode(&rec, &enc->bodies, &err))
            die("encode", &err);
        enc->ends[i] = enc->bodies.len;
        enc->event_ms[i] = sa_record_event_ms(&rec, START_MS);
    }
    sa_record_fini(&rec);
    sa_generator_fini(&gen);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "bench_ingest: %s: %s\n", sql, msg);
        exit(1);
    }
}

/* One row per record, 1000 rows per transaction. Returns seconds. */
static double run_baseline(const char *path, const struct encoded *enc)
{
    sqlite3 *db;
    sqlite3_stmt *ins;
    int64_t t0;
    size_t start = 0;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("open baseline db", NULL);
    exec_sql(db, "PRAGMA journal_mode=WAL");
    exec_sql(db, "PRAGMA synchronous=NORMAL");
    exec_sql(db, "CREATE TABLE records(id INTEGER PRIMARY KEY, stream TEXT, "
                 "seq INTEGER, event_ms INTEGER, body BLOB)");
    if (sqlite3_prepare_v2(db, "INSERT INTO records(stream, seq, event_ms, body) "
                               "VALUES (?, ?, ?, ?)", -1, &ins, NULL) != SQLITE_OK)
        die("prepare", NULL);
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
            die("insert", NULL);
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

/* Pre-encoded records as segments of 1000 through sa_spool_commit. */
static double run_spool(const char *path, const struct sa_schema *schema,
                        const struct encoded *enc)
{
    struct sa_spool_opts opts = {.path = (char *)path};
    struct sa_spool *spool;
    struct sa_segment_builder seg;
    struct sa_segment_builder *segs[1] = {&seg};
    struct sa_commit c = {.segments = segs, .n_segments = 1};
    struct sa_err err = {0};
    int64_t schema_id, t0;
    size_t start = 0;

    if (sa_spool_open(&spool, &opts, SA_SPOOL_CREATE, &err) ||
        sa_spool_schema_put(spool, schema->subject, schema->version,
                            schema->fingerprint, schema->definition, &schema_id, &err))
        die("spool", &err);
    if (sa_segment_builder_init(&seg, "bench", schema_id, (size_t)64 << 20))
        die("segment", NULL);
    t0 = sa_mono_us();
    for (size_t i = 0; i < enc->n; i++) {
        if (sa_segment_add(&seg, enc->event_ms[i], NULL, 0, SA_OP_UPSERT,
                           enc->bodies.data + start, enc->ends[i] - start))
            die("segment add", NULL);
        start = enc->ends[i];
        if (seg.count == 1000 || i + 1 == enc->n) {
            if (sa_spool_commit(spool, &c, NULL, &err))
                die("commit", &err);
            sa_segment_builder_reset(&seg);
        }
    }
    double secs = (double)(sa_mono_us() - t0) / 1e6;
    sa_segment_builder_fini(&seg);
    sa_spool_close(spool);
    return secs;
}

/* The daemon's ingest path: a generator source through the pipeline. */
static double run_pipeline(const char *dir, const char *schemas_dir,
                           const char *subject, size_t n)
{
    char yaml[2048];
    struct sa_config *cfg;
    struct sa_schema_set *schemas;
    struct sa_spool *spool;
    struct sa_pipeline *p;
    struct sa_err err = {0};
    atomic_int stop = 0;
    int64_t t0;
    int rc;

    snprintf(yaml, sizeof yaml,
             "agent:\n  data_dir: %s/pipeline\n  schemas_dir: %s\n  log_level: warn\n"
             "spool:\n  max_bytes: 64GiB\n"
             "sources:\n  - name: gen\n    type: generator\n    stream: %s\n"
             "    schema: %s\n    seed: 1\n    count: %zu\n    rate: 0\n"
             "    start_time: %lld\n    interval: 1s\n"
             "sinks:\n  - name: files\n    type: file\n    path: %s/out\n",
             dir, schemas_dir, subject, subject, n, START_MS, dir);
    if (sa_config_load_string(yaml, "bench.yaml", &cfg, &err))
        die("config", &err);
    if (sa_schemas_load(cfg->agent.schemas_dir, SA_COMPAT_BACKWARD, &schemas, &err))
        die("schemas", &err);
    char mk[1200];
    snprintf(mk, sizeof mk, "mkdir -p '%s/pipeline'", dir);
    if (system(mk) != 0)
        die("mkdir", NULL);
    if (sa_spool_open(&spool, &cfg->spool, SA_SPOOL_CREATE, &err) ||
        sa_schemas_store(schemas, spool, &err))
        die("spool", &err);
    if (sa_pipeline_open(&p, cfg, cfg->sources, cfg->n_sources, schemas, spool, &stop, &err))
        die("pipeline", &err);
    t0 = sa_mono_us();
    while ((rc = sa_pipeline_step(p, NULL, &err)) == SA_OK)
        ;
    if (rc != SA_EOF)
        die("pipeline step", &err);
    double secs = (double)(sa_mono_us() - t0) / 1e6;
    if ((uint64_t)atomic_load(&sa_pipeline_stats(p)->records_spooled) != n) {
        fprintf(stderr, "bench_ingest: pipeline spooled %llu records, wanted %zu\n",
                (unsigned long long)atomic_load(&sa_pipeline_stats(p)->records_spooled),
                n);
        exit(1);
    }
    sa_pipeline_close(p);
    sa_spool_close(spool);
    sa_schemas_free(schemas);
    sa_config_free(cfg);
    return secs;
}

static void line(const char *name, size_t n, size_t bytes, double secs, double base)
{
    double rps = (double)n / secs;
    printf("%-10s %12.0f rec/s %9.1f MB/s %8.3f s", name, rps,
           (double)bytes / secs / 1e6, secs);
    if (base > 0)
        printf("   %.2fx baseline", rps / base);
    printf("\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"schema", required_argument, NULL, 's'},
        {"schemas-dir", required_argument, NULL, 'S'},
        {"dir", required_argument, NULL, 'd'},
        {"pipeline-only", no_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    size_t n = 1000000;
    const char *subject = "sensor_reading", *schemas_dir = "schemas";
    char dir[1024] = "";
    char path[1200];
    struct sa_schema_set *schemas;
    const struct sa_schema *schema;
    struct encoded enc;
    struct sa_err err = {0};
    int opt, pipeline_only = 0;

    while ((opt = getopt_long(argc, argv, "n:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n': n = (size_t)strtoull(optarg, NULL, 10); break;
        case 's': subject = optarg; break;
        case 'S': schemas_dir = optarg; break;
        case 'd': snprintf(dir, sizeof dir, "%s", optarg); break;
        case 'P': pipeline_only = 1; break;
        default:
            fprintf(stderr, "usage: bench_ingest [-n N] [--schema S] "
                            "[--schemas-dir DIR] [--dir TMPDIR]\n");
            return 2;
        }
    }
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/sa-bench-ingest-XXXXXX");
        if (!mkdtemp(dir))
            die("mkdtemp", NULL);
    }
    if (sa_schemas_load(schemas_dir, SA_COMPAT_BACKWARD, &schemas, &err))
        die("schemas", &err);
    schema = sa_schemas_lookup(schemas, subject, &err);
    if (!schema)
        die("schema", &err);

    if (pipeline_only) {
        /* For profiling the daemon's path alone. */
        double secs = run_pipeline(dir, schemas_dir, subject, n);
        line("pipeline", n, 0, secs, 0);
        sa_schemas_free(schemas);
        return 0;
    }
    printf("ingest benchmark: %zu records of %s:v%d, in %s\n", n, schema->subject,
           schema->version, dir);
    int64_t gen_t0 = sa_mono_us();
    encode_all(schema, n, &enc);
    double gen_s = (double)(sa_mono_us() - gen_t0) / 1e6;
    printf("average Avro body %.1f bytes\n", (double)enc.bodies.len / (double)n);

    snprintf(path, sizeof path, "%s/baseline.db", dir);
    double base_s = run_baseline(path, &enc);
    snprintf(path, sizeof path, "%s/spool.db", dir);
    double spool_s = run_spool(path, schema, &enc);
    double pipe_s = run_pipeline(dir, schemas_dir, subject, n);

    double base_rps = (double)n / base_s;
    line("generate", n, enc.bodies.len, gen_s, 0);
    line("baseline", n, enc.bodies.len, base_s, 0);
    line("spool", n, enc.bodies.len, spool_s, base_rps);
    line("pipeline", n, enc.bodies.len, pipe_s, base_rps);
    printf("target: pipeline >= 2.00x baseline: %s\n",
           (double)n / pipe_s >= 2 * base_rps ? "met" : "NOT met");

    char rm[1200];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0)
        fprintf(stderr, "bench_ingest: could not remove %s\n", dir);
    sa_buf_fini(&enc.bodies);
    free(enc.ends);
    free(enc.event_ms);
    sa_schemas_free(schemas);
    return 0;
}
