/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CSV ingest benchmark (issue: CSV ingestion): a CSV file into the spool
 * through the daemon's pipeline (parse, coerce, Avro-encode, segment,
 * commit), beside the foundation benchmark's baseline measured in the
 * same run: the same records, encoded beforehand, inserted one SQLite row
 * each (1000 rows per transaction).
 *
 *   bench_csv --file F --rows N [--schema S] [--seed SEED] [--schemas-dir DIR]
 *
 * F must hold exactly what `syncagent generate --schema S -n N --seed SEED
 * --format csv` writes (tools/bench/csv does that), so the baseline
 * inserts the same records. Prints rows/s, MB/s of CSV text, CPU seconds
 * and rows per CPU second.
 */
#include "agent/base/clock.h"
#include "agent/schemas.h"
#include "tools/bench/lib/benchlib.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"file", required_argument, NULL, 'f'},
        {"rows", required_argument, NULL, 'n'},
        {"schema", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, 'e'},
        {"schemas-dir", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL, *subject = "sensor_reading:v2", *schemas_dir = "schemas";
    size_t rows = 0;
    uint64_t seed = 1;
    char dir[1024], path[1200], yaml[4096];
    struct sa_schema_set *schemas;
    const struct sa_schema *schema;
    struct bench_encoded enc;
    struct sa_err err = {0};
    struct stat st;
    double cpu;
    int opt;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'f': file = optarg; break;
        case 'n': rows = (size_t)strtoull(optarg, NULL, 10); break;
        case 's': subject = optarg; break;
        case 'e': seed = strtoull(optarg, NULL, 10); break;
        case 'S': schemas_dir = optarg; break;
        default: file = NULL; rows = 0; optind = argc; break;
        }
    }
    if (!file || !rows || stat(file, &st) != 0) {
        fprintf(stderr, "usage: bench_csv --file F --rows N [--schema S] [--seed SEED] "
                        "[--schemas-dir DIR]\n");
        return 2;
    }
    bench_tmpdir(dir, sizeof dir, "csv");
    if (sa_schemas_load(schemas_dir, SA_COMPAT_BACKWARD, &schemas, &err))
        bench_die("schemas", &err);
    schema = sa_schemas_lookup(schemas, subject, &err);
    if (!schema)
        bench_die("schema", &err);

    printf("csv benchmark: %zu rows of %s:v%d, %.1f MB (%.0f bytes a row)\n", rows,
           schema->subject, schema->version, (double)st.st_size / 1e6,
           (double)st.st_size / (double)rows);
    bench_encode_all(schema, seed, rows, &enc);
    snprintf(path, sizeof path, "%s/baseline.db", dir);
    double base_s = bench_baseline(path, &enc);

    snprintf(yaml, sizeof yaml,
             "agent:\n  data_dir: %s/spool\n  schemas_dir: %s\n  log_level: warn\n"
             "spool:\n  max_bytes: 64GiB\n"
             "sources:\n  - name: csv\n    type: csv\n    stream: bench\n"
             "    schema: %s\n    path: %s\n    watch: false\n"
             "sinks:\n  - name: files\n    type: file\n    path: %s/out\n",
             dir, schemas_dir, subject, file, dir);
    double csv_s = bench_pipeline(yaml, rows, &cpu);

    double base_rps = (double)rows / base_s;
    bench_line("baseline", rows, enc.bodies.len, base_s, 0);
    bench_line("csv", rows, (size_t)st.st_size, csv_s, base_rps);
    printf("csv        %.2f CPU s, %.0f rows per CPU second\n", cpu, (double)rows / cpu);
    printf("target: >= 1,000,000 rows/s: %s; >= 2.00x baseline: %s\n",
           (double)rows / csv_s >= 1e6 ? "met" : "NOT met",
           (double)rows / csv_s >= 2 * base_rps ? "met" : "NOT met");
    bench_encoded_fini(&enc);
    bench_rmdir(dir);
    sa_schemas_free(schemas);
    return 0;
}
