/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Throughput of the ingest side of the generator source: records/s for
 * generate (sa_generator_fill), + Avro encode (sa_record_encode), + JSON
 * (sa_encode_json, what the file sink adds), on one thread.
 *   bench_generator [SCHEMAS_DIR [SUBJECT [N]]]
 */
#include "agent/source/generator.h"
#include "agent/base/clock.h"
#include "agent/schemas.h"
#include "sync/encode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run(const struct sa_schema *schema, uint64_t n, int stage)
{
    struct sa_generator gen;
    struct sa_record rec;
    struct sa_buf body, json;
    struct sa_err err = {0};
    int64_t t0;
    uint64_t bytes = 0;
    int rc;

    sa_buf_init(&body, 1 << 20);
    sa_buf_init(&json, 1 << 20);
    if ((rc = sa_generator_init(&gen, schema, 1, 1767225600000LL, 1000, &err)) ||
        (rc = sa_record_init(&rec, schema, &err))) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    t0 = sa_mono_us();
    for (uint64_t i = 0; i < n && !rc; i++) {
        rc = sa_generator_fill(&gen, i, &rec, &err);
        if (!rc && stage >= 1) {
            sa_buf_reset(&body);
            rc = sa_record_encode(&rec, &body, &err);
            bytes += body.len;
        }
        if (!rc && stage >= 2) {
            sa_buf_reset(&json);
            rc = sa_encode_json(schema, body.data, body.len, NULL, NULL, &json, &err);
        }
    }
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double secs = (double)(sa_mono_us() - t0) / 1e6;
    printf("%-14s %-22s %10.0f records/s  (%llu records, %.1f avro bytes/record)\n",
           schema->subject,
           stage == 0   ? "generate"
           : stage == 1 ? "generate+encode"
                        : "generate+encode+json",
           (double)n / secs, (unsigned long long)n,
           stage ? (double)bytes / (double)n : 0.0);
    sa_record_fini(&rec);
    sa_generator_fini(&gen);
    sa_buf_fini(&body);
    sa_buf_fini(&json);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "schemas";
    const char *subject = argc > 2 ? argv[2] : NULL;
    uint64_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000;
    struct sa_schema_set *set;
    struct sa_err err = {0};
    int rc = 0;

    if (sa_schemas_load(dir, SA_COMPAT_BACKWARD, &set, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < set->n && !rc; i++) {
        const struct sa_schema *s = set->v[i];
        if ((subject && strcmp(subject, s->subject) != 0) ||
            s != sa_schemas_find(set, s->subject, 0))
            continue;
        for (int stage = 0; stage < 3 && !rc; stage++)
            rc = run(s, n, stage);
    }
    sa_schemas_free(set);
    return rc;
}
