/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent/pipeline.c, the batch API sources call: a dead letter kept by
 * reference (sa_batch_deadletter_ref, for rows longer than the CSV
 * source's read window) is committed with its file, offset and length and
 * read back from the spool as such, beside one kept whole; the header and
 * file key a source gives a dead letter (sa_batch_deadletter_set_header)
 * are stored with it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/pipeline.h"
#include "agent/source/source.h"
#include "tests/tempdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A source that hands over two dead letters at its first poll, then ends. */
static int polled;

static int fake_open(struct sa_source *src, struct sa_err *err)
{
    (void)src;
    (void)err;
    polled = 0;
    return SA_OK;
}

static int fake_poll(struct sa_source *src, struct sa_batch *batch, struct sa_err *err)
{
    int rc;

    if (polled++)
        return SA_EOF;
    rc = sa_batch_deadletter_ref(batch, src, "in.csv:7:1", "row longer than 4096 bytes",
                                 "/data/in.csv", 1234, 5000000, err);
    /* The header and file key go with the dead letter just added. */
    if (!rc)
        rc = sa_batch_deadletter_set_header(batch, src, "k,v\r\n", 5, "1:2:5:00ff", err);
    if (!rc)
        rc =
            sa_batch_deadletter(batch, src, "in.csv:9:3", "bad int", "a,b\xff", 4, err);
    return rc;
}

static void fake_close(struct sa_source *src)
{
    (void)src;
}

static const struct sa_source_ops fake_ops = {
    .name = "fake",
    .open = fake_open,
    .poll = fake_poll,
    .close = fake_close,
};

static void test_deadletter_by_reference(void **state)
{
    char dir[4096], schemas_dir[4096], yaml[8192];
    const char *src_dir = getenv("SA_SOURCE_DIR");
    struct sa_config *cfg = NULL;
    struct sa_schema_set *schemas = NULL;
    struct sa_spool *spool = NULL;
    struct sa_pipeline *pipe = NULL;
    struct sa_deadletter_row *rows = NULL;
    struct sa_source_conf sc = {.name = "fake1",
                                .type = "fake",
                                .stream = "order",
                                .schema = "order",
                                .ops = &fake_ops};
    struct sa_err err = {0};
    atomic_int stop = 0;
    size_t n = 0;
    int rc;

    (void)state;
    assert_non_null(src_dir);
    assert_non_null(sa_test_mkdtemp(dir, sizeof dir, "sa-test-pipeline-"));
    snprintf(schemas_dir, sizeof schemas_dir, "%s/schemas", src_dir);
    snprintf(yaml, sizeof yaml, "agent: {data_dir: %s, schemas_dir: %s}\n", dir,
             schemas_dir);
    if (sa_config_load_string(yaml, "t.yaml", &cfg, &err) ||
        sa_schemas_load(schemas_dir, SA_COMPAT_BACKWARD, &schemas, &err) ||
        sa_spool_open(&spool, &cfg->spool, SA_SPOOL_CREATE, &err) ||
        sa_schemas_store(schemas, spool, &err) ||
        sa_pipeline_open(&pipe, cfg, &sc, 1, schemas, spool, &stop, &err))
        fail_msg("%s", err.msg);
    while ((rc = sa_pipeline_step(pipe, NULL, &err)) == SA_OK)
        ;
    assert_int_equal(rc, SA_EOF);
    assert_int_equal(sa_pipeline_flush(pipe, &err), SA_OK);
    sa_pipeline_close(pipe);

    assert_int_equal(sa_spool_deadletter_list(spool, 0, 10, &rows, &n, &err), SA_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].location, "in.csv:7:1");
    assert_string_equal(rows[0].source, "fake1");
    assert_non_null(rows[0].raw_file);
    assert_string_equal(rows[0].raw_file, "/data/in.csv");
    assert_int_equal(rows[0].raw_offset, 1234);
    assert_int_equal(rows[0].raw_length, 5000000);
    assert_int_equal(rows[0].raw_len, 0);
    assert_false(rows[0].resolved);
    assert_string_equal(rows[0].header, "k,v");
    assert_string_equal(rows[0].file_key, "1:2:5:00ff");
    /* kept whole: no reference, the bytes as they were */
    assert_null(rows[1].raw_file);
    assert_int_equal(rows[1].raw_len, 4);
    assert_memory_equal(rows[1].raw, "a,b\xff", 4);
    assert_null(rows[1].header);
    assert_null(rows[1].file_key);
    assert_false(rows[1].resolved);
    sa_spool_deadletter_rows_free(rows, n);

    sa_spool_close(spool);
    sa_schemas_free(schemas);
    sa_config_free(cfg);
    {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadletter_by_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
