/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest benchmark (issue: foundation): the generator -> spool pipeline as
 * fast as it goes, beside a baseline measured in the same run: a plain C
 * loop inserting the same encoded records one SQLite row each (prepared
 * statement, WAL, synchronous=NORMAL, 1000 rows per transaction).
 *
 *   bench_ingest [-n RECORDS] [--schema SUBJECT] [--schemas-dir DIR]
 *                [--pipeline-only] [--quality]
 *
 * Prints records/s and MB/s (MB of Avro bodies) for
 *   generate     generator + Avro encoding alone, into memory
 *   baseline     one row per record, records encoded beforehand (not timed)
 *   spool        the same pre-encoded records as segments via sa_spool_commit
 *   pipeline     generate + encode + segment + commit, the daemon's path
 * and the ratios to the baseline. Timings are not tests: read the ratio.
 *
 * --quality measures the pipeline without and with five data quality rules
 * on the stream (agent/quality/: required, a regex, two ranges, one_of;
 * every record passes them, so both runs spool the same records), three
 * rounds each, interleaved, in the same run; prints the best of each and
 * the ratio. Issue 13 §1: with the rules within 15 % of without.
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

/* Five rules every sensor_reading the generator makes passes. */
static const char quality_rules[] =
    "streams:\n  sensor_reading:\n    quality:\n"
    "      - {column: device_id, required: true}\n"
    "      - {column: device_id, regex: \"^dev-[0-9]{6}$\"}\n"
    "      - {column: temperature, min: -90, max: 70, action: tag}\n"
    "      - {column: humidity, min: 0, max: 100, action: drop}\n"
    "      - {column: status, one_of: [OK, WARN, FAULT]}\n";

/* The daemon's ingest path: a generator source through the pipeline,
 * with `extra` appended to its config. */
static double run_pipeline_with(const char *dir, const char *schemas_dir,
                                const char *subject, size_t n, const char *extra,
                                double *cpu_secs)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "agent:\n  data_dir: %s/pipeline\n  schemas_dir: %s\n  log_level: warn\n"
             "spool:\n  max_bytes: 64GiB\n"
             "sources:\n  - name: gen\n    type: generator\n    stream: %s\n"
             "    schema: %s\n    seed: 1\n    count: %zu\n    rate: 0\n"
             "    start_time: %lld\n    interval: 1s\n"
             "sinks:\n  - name: files\n    type: file\n    path: %s/out\n",
             dir, schemas_dir, subject, subject, n, BENCH_START_MS, dir);
    strncat(yaml, extra, sizeof yaml - strlen(yaml) - 1);
    return bench_pipeline(yaml, n, cpu_secs);
}

static double run_pipeline(const char *dir, const char *schemas_dir,
                           const char *subject, size_t n)
{
    return run_pipeline_with(dir, schemas_dir, subject, n, "", NULL);
}

/* Without and with the rules, alternately, each in a fresh data dir. */
static void run_quality(const char *dir, const char *schemas_dir, size_t n)
{
    double best[2] = {0, 0}, cpu[2] = {0, 0};
    char sub[1200], rm[1300];

    for (int round = 0; round < 3; round++)
        for (int with = 0; with < 2; with++) {
            snprintf(sub, sizeof sub, "%s/q%d%d", dir, round, with);
            sync();
            double cpu_secs = 0;
            double secs = run_pipeline_with(sub, schemas_dir, "sensor_reading", n,
                                            with ? quality_rules : "", &cpu_secs);
            if (!best[with] || secs < best[with])
                best[with] = secs;
            if (!cpu[with] || cpu_secs < cpu[with])
                cpu[with] = cpu_secs;
            snprintf(rm, sizeof rm, "rm -rf '%s'", sub);
            if (system(rm) != 0)
                bench_die("rm", NULL);
        }
    bench_line("no rules", n, 0, best[0], 0);
    bench_line("5 rules", n, 0, best[1], 0);
    double ratio = best[0] / best[1];
    /* The sources and the commits overlap on two cores: on a busy
     * machine the wall time hides what the rules cost, the CPU does not. */
    printf("CPU s of the process: %.3f without, %.3f with (%+.1f %%)\n", cpu[0], cpu[1],
           100 * (cpu[1] - cpu[0]) / cpu[0]);
    printf("quality: with 5 rules %.1f %% of the rate without (best of 3 each); "
           "target >= 85 %%: %s\n",
           100 * ratio, ratio >= 0.85 ? "met" : "NOT met");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"schema", required_argument, NULL, 's'},
        {"schemas-dir", required_argument, NULL, 'S'},
        {"pipeline-only", no_argument, NULL, 'P'},
        {"quality", no_argument, NULL, 'Q'},
        {NULL, 0, NULL, 0},
    };
    size_t n = 1000000;
    const char *subject = "sensor_reading", *schemas_dir = "schemas";
    char dir[1024], path[1200];
    struct sa_schema_set *schemas;
    const struct sa_schema *schema;
    struct bench_encoded enc;
    struct sa_err err = {0};
    int opt, pipeline_only = 0, quality = 0;

    while ((opt = getopt_long(argc, argv, "n:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            n = (size_t)strtoull(optarg, NULL, 10);
            break;
        case 's':
            subject = optarg;
            break;
        case 'S':
            schemas_dir = optarg;
            break;
        case 'P':
            pipeline_only = 1;
            break;
        case 'Q':
            quality = 1;
            break;
        default:
            fprintf(stderr, "usage: bench_ingest [-n N] [--schema S] "
                            "[--schemas-dir DIR] [--pipeline-only] [--quality]\n");
            return 2;
        }
    }
    bench_tmpdir(dir, sizeof dir, "ingest");
    if (sa_schemas_load(schemas_dir, SA_COMPAT_BACKWARD, &schemas, &err))
        bench_die("schemas", &err);
    schema = sa_schemas_lookup(schemas, subject, &err);
    if (!schema)
        bench_die("schema", &err);
    if (quality) {
        printf("ingest benchmark, quality rules: %zu records of sensor_reading\n", n);
        run_quality(dir, schemas_dir, n);
        goto out;
    }
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
