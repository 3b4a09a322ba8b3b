/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Throughput of the CSV source's per-row work on one thread, without the
 * spool: a CSV file held in memory is parsed row by row (agent/source/csv.c),
 * and each row goes through what source_csv.c's add_row does with it --
 * sa_record_reset, sa_record_set_text per column, sa_record_encode,
 * sa_record_key, sa_record_event_ms.
 *   bench_csv_rows SCHEMAS_DIR SUBJECT[:vN] FILE.csv
 * Make a file with e.g.
 *   syncagent generate --schema sensor_reading:v2 -n 1000000 --format csv -o f.csv
 * Prints rows/s for parsing alone and for parsing + records.
 */
#include "agent/base/clock.h"
#include "agent/record.h"
#include "agent/schemas.h"
#include "agent/source/csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what)
{
    fprintf(stderr, "bench_csv_rows: %s\n", what);
    exit(1);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data;
    long size;

    if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
        die(path);
    data = malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size)
        die(path);
    fclose(f);
    *len = (size_t)size;
    return data;
}

/* One pass over the file; with_records adds the record work. */
static double run(const struct sa_schema *schema, const char *data, size_t len,
                  int with_records, uint64_t *n_rows, uint64_t *n_bytes)
{
    struct sa_csv_opts opts;
    struct sa_csv_parser parser;
    struct sa_csv_row row;
    struct sa_csv_error where;
    struct sa_record rec;
    struct sa_buf body, key;
    struct sa_err err = {0};
    int col_map[256];
    size_t pos = 0, used, n_cols = 0;
    int64_t t0, sum = 0;
    int rc;

    sa_csv_opts_default(&opts);
    if (sa_csv_init(&parser, &opts) || sa_record_init(&rec, schema, &err))
        die("init");
    sa_buf_init(&body, 1 << 20);
    sa_buf_init(&key, 1 << 16);
    *n_rows = *n_bytes = 0;
    t0 = sa_mono_us();
    while ((rc = sa_csv_next(&parser, data + pos, len - pos, 1, &row, &used, &where)) !=
           SA_EAGAIN) {
        pos += used;
        if (rc)
            die(where.reason);
        if (n_cols == 0) { /* the header */
            char name[256];
            n_cols = row.n_fields < 256 ? row.n_fields : 256;
            for (size_t i = 0; i < n_cols; i++) {
                snprintf(name, sizeof name, "%.*s", (int)row.fields[i].len,
                         row.fields[i].p);
                col_map[i] = sa_record_field_index(schema, name);
            }
            continue;
        }
        (*n_rows)++;
        if (!with_records)
            continue;
        sa_record_reset(&rec);
        for (size_t i = 0; i < row.n_fields && i < n_cols; i++)
            if (col_map[i] >= 0 && sa_record_set_text(&rec, col_map[i], row.fields[i].p,
                                                      row.fields[i].len, &err))
                die(err.msg);
        sa_buf_reset(&body);
        sa_buf_reset(&key);
        if (sa_record_encode(&rec, &body, &err))
            die(err.msg);
        sa_record_key(&rec, &key);
        sum += sa_record_event_ms(&rec, 0);
        *n_bytes += body.len;
    }
    double secs = (double)(sa_mono_us() - t0) / 1e6;
    if (sum == 42)
        puts(""); /* keep the event times computed */
    sa_record_fini(&rec);
    sa_csv_fini(&parser);
    sa_buf_fini(&body);
    sa_buf_fini(&key);
    return secs;
}

int main(int argc, char **argv)
{
    struct sa_schema_set *set;
    const struct sa_schema *schema;
    struct sa_err err = {0};
    uint64_t n_rows, n_bytes;
    size_t len;
    char *data;
    double secs;

    if (argc != 4)
        die("usage: bench_csv_rows SCHEMAS_DIR SUBJECT[:vN] FILE.csv");
    if (sa_schemas_load(argv[1], SA_COMPAT_BACKWARD, &set, &err) ||
        !(schema = sa_schemas_lookup(set, argv[2], &err)))
        die(err.msg);
    data = slurp(argv[3], &len);
    secs = run(schema, data, len, 0, &n_rows, &n_bytes);
    printf("%-24s %10.0f rows/s  (%llu rows, %.1f MB/s of CSV)\n", "parse",
           (double)n_rows / secs, (unsigned long long)n_rows, (double)len / secs / 1e6);
    secs = run(schema, data, len, 1, &n_rows, &n_bytes);
    printf("%-24s %10.0f rows/s  (%llu rows, %.1f avro bytes/row)\n", "parse+records",
           (double)n_rows / secs, (unsigned long long)n_rows,
           (double)n_bytes / (double)n_rows);
    free(data);
    sa_schemas_free(set);
    return 0;
}
