/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the seed inputs of fuzz_segment into a directory, in that
 * target's input format (byte 0: count | 0x80 when deflated, then frames
 * or their deflate payload). Built with SA_FUZZ; run by hand when the
 * frame format changes:
 *
 *   build-fuzz/gen_segment_corpus tests/fuzz/corpus/fuzz_segment
 *
 * The seeds it writes have versioned frames (spool format 4) and names
 * starting with "v4-". The seeds named without it (one-record, ...) were
 * written before frames had a version: they stay committed as they are,
 * so that the fuzzer keeps starting from the older frame layout too.
 */
#include "store/segment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_seed(const char *dir, const char *name, int deflated,
                      const struct sa_segment_builder *b)
{
    struct sa_buf payload;
    struct sa_err err;
    char path[4096];
    unsigned char head = (unsigned char)((b->count & 0x7f) | (deflated ? 0x80 : 0));
    const uint8_t *p = b->frames.data;
    size_t len = b->frames.len;
    FILE *f;
    int rc = 0;

    sa_buf_init(&payload, (size_t)1 << 20);
    if (deflated) {
        if (sa_segment_compress(p, len, &payload, &err) != SA_OK) {
            fprintf(stderr, "%s: %s\n", name, err.msg);
            sa_buf_fini(&payload);
            return -1;
        }
        p = payload.data;
        len = payload.len;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!(f = fopen(path, "wb"))) {
        perror(path);
        sa_buf_fini(&payload);
        return -1;
    }
    if (fwrite(&head, 1, 1, f) != 1 || (len && fwrite(p, 1, len, f) != len))
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc)
        perror(path);
    sa_buf_fini(&payload);
    return rc;
}

int main(int argc, char **argv)
{
    /* Avro bodies are opaque to the segment layer; these are plausible. */
    static const uint8_t order[] = {0x02, 0x0a, 'o', 'r', 'd', '-', '1', 0xc8, 0x01};
    static const uint8_t sensor[] = {0x06, 's', '-', '7', 0x00, 0x00, 0x80, 0x3f};
    struct sa_segment_builder b;
    int rc = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    if (sa_segment_builder_init(&b, "orders", 1, 0) != SA_OK)
        return 1;

    /* one record with a key and a hybrid logical clock version */
    sa_segment_add_versioned(&b, 1700000000000, (int64_t)1700000000000 << 16, "ord-1",
                             5, SA_OP_UPSERT, order, sizeof order);
    rc |= write_seed(argv[1], "v4-one-record", 0, &b);
    rc |= write_seed(argv[1], "v4-one-record-deflate", 1, &b);

    /* a delete with no key and no body, negative event time and version,
     * empty key, a small x-version value */
    sa_segment_add_versioned(&b, -5, -7, NULL, 0, SA_OP_DELETE, NULL, 0);
    sa_segment_add_versioned(&b, 0, 3, "s-7", 3, SA_OP_UPSERT, sensor, sizeof sensor);
    rc |= write_seed(argv[1], "v4-three-records", 0, &b);

    /* enough records that frames repeat and deflate finds matches */
    for (int i = 0; i < 20; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "ord-%d", i);
        sa_segment_add_versioned(
            &b, 1700000000000 + i, ((int64_t)1700000000000 << 16) + i, key, (size_t)n,
            i % 5 ? SA_OP_UPSERT : SA_OP_DELETE, order, sizeof order);
    }
    rc |= write_seed(argv[1], "v4-many-records", 0, &b);
    rc |= write_seed(argv[1], "v4-many-records-deflate", 1, &b);

    sa_segment_builder_fini(&b);
    return rc ? 1 : 0;
}
