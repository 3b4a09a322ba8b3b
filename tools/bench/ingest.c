/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest benchmark (issue: foundation): the generator -> spool pipeline as
 * fast as it goes, beside a baseline measured in the same run: a plain C
 * loop inserting the same encoded records one SQLite row each (prepared
 * statement, WAL, synchronous=NORMAL, 1000 rows per transaction).
 *
 *   bench_ingest [-n RECORDS] [--schema SUBJECT] [--schemas-dir DIR]
 *                [--pipeline-only]
 *
 * Prints records/s and MB/s (MB of Avro bodies) for
 *   generate     generator + Avro encoding alone, into memory
 *   baseline     one row per record, records encoded beforehand (not timed)
 *   spool        the same pre-encoded records as segments via sa_spool_commit
 *   pipeline     generate + encode + segment + commit, the daemon's path
 * and the ratios to the baseline. Timings are not tests: read the ratio.
 */
#include "agent/base/clock.h"
#include "agent/schemas.h"
#include "store/spool.h"
#include "tools/bench/lib/benchlib.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Pre-encoded records as segments of 1000 through sa_spool_commit. */
static double run_spool(const char *path, const struct sa_schema *schema,
                        const struct bench_encoded *enc)
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
        bench_die("spool", &err);
    if (sa_segment_builder_init(&seg, "bench", schema_id, (size_t)64 << 20))
        bench_die("segment", NULL);
    t0 = sa_mono_us();
    for (size_t i = 0; i < enc->n; i++) {
        if (sa_segment_add(&seg, enc->event_ms[i], NULL, 0, SA_OP_UPSERT,
                           enc->bodies.data + start, enc->ends[i] - start))
            bench_die("segment add", NULL);
        start = enc->ends[i];
        if (seg.count == 1000 || i + 1 == enc->n) {
            if (sa_spool_commit(spool, &c, NULL, &err))
                bench_die("commit", &err);
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
    snprintf(yaml, sizeof yaml,
             "agent:\n  data_dir: %s/pipeline\n  schemas_dir: %s\n  log_level: warn\n"
             "spool:\n  max_bytes: 64GiB\n"
             "sources:\n  - name: gen\n    type: generator\n    stream: %s\n"
             "    schema: %s\n    seed: 1\n    count: %zu\n    rate: 0\n"
             "    start_time: %lld\n    interval: 1s\n"
             "sinks:\n  - name: files\n    type: file\n    path: %s/out\n",
             dir, schemas_dir, subject, subject, n, BENCH_START_MS, dir);
    return bench_pipeline(yaml, n, NULL);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"schema", required_argument, NULL, 's'},
        {"schemas-dir", required_argument, NULL, 'S'},
        {"pipeline-only", no_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    size_t n = 1000000;
    const char *subject = "sensor_reading", *schemas_dir = "schemas";
    char dir[1024], path[1200];
    struct sa_schema_set *schemas;
    const struct sa_schema *schema;
    struct bench_encoded enc;
    struct sa_err err = {0};
    int opt, pipeline_only = 0;

    while ((opt = getopt_long(argc, argv, "n:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n': n = (size_t)strtoull(optarg, NULL, 10); break;
        case 's': subject = optarg; break;
        case 'S': schemas_dir = optarg; break;
        case 'P': pipeline_only = 1; break;
        default:
            fprintf(stderr, "usage: bench_ingest [-n N] [--schema S] "
                            "[--schemas-dir DIR] [--pipeline-only]\n");
            return 2;
        }
    }
    bench_tmpdir(dir, sizeof dir, "ingest");
    if (sa_schemas_load(schemas_dir, SA_COMPAT_BACKWARD, &schemas, &err))
        bench_die("schemas", &err);
    schema = sa_schemas_lookup(schemas, subject, &err);
    if (!schema)
        bench_die("schema", &err);
    if (pipeline_only) {
        /* For profiling the daemon's path alone. */
        bench_line("pipeline", n, 0, run_pipeline(dir, schemas_dir, subject, n), 0);
        goto out;
    }

    printf("ingest benchmark: %zu records of %s:v%d\n", n, schema->subject,
           schema->version);
    int64_t gen_t0 = sa_mono_us();
    bench_encode_all(schema, 1, n, &enc);
    double gen_s = (double)(sa_mono_us() - gen_t0) / 1e6;
    printf("average Avro body %.1f bytes\n", (double)enc.bodies.len / (double)n);

    /* Each phase starts with the previous one's writes on disk (sync), so
     * that none pays for another's writeback. */
    snprintf(path, sizeof path, "%s/baseline.db", dir);
    sync();
    double base_s = bench_baseline(path, &enc);
    snprintf(path, sizeof path, "%s/spool.db", dir);
    sync();
    double spool_s = run_spool(path, schema, &enc);
    sync();
    double pipe_s = run_pipeline(dir, schemas_dir, subject, n);

    double base_rps = (double)n / base_s;
    bench_line("generate", n, enc.bodies.len, gen_s, 0);
    bench_line("baseline", n, enc.bodies.len, base_s, 0);
    bench_line("spool", n, enc.bodies.len, spool_s, base_rps);
    bench_line("pipeline", n, enc.bodies.len, pipe_s, base_rps);
    printf("target: pipeline >= 2.00x baseline: %s\n",
           (double)n / pipe_s >= 2 * base_rps ? "met" : "NOT met");
    bench_encoded_fini(&enc);
out:
    bench_rmdir(dir);
    sa_schemas_free(schemas);
    return 0;
}
