/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the clickhouse sink's table SQL (sync/sink/ch_table.c): Avro
 * defaults as ClickHouse literals, the column list answer, and the ALTER
 * TABLE ... ADD COLUMN of each kind of field. The statements themselves run
 * against the real 18.16 server in
 * tests/integration/test_clickhouse_table_evolution.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/base/buf.h"
#include "agent/base/error.h"
#include "store/schema.h"
#include "sync/sink/ch_table.h"

#include <string.h>

static void expect_literal(const char *json, int want_rc, const char *want)
{
    struct sa_buf b;

    sa_buf_init(&b, 4096);
    assert_int_equal(sa_buf_append_str(&b, "x"), SA_OK);
    assert_int_equal(sa_ch_default_literal(json, &b), want_rc);
    assert_int_equal(sa_buf_terminate(&b), SA_OK);
    assert_string_equal((const char *)b.data + 1, want);
    sa_buf_fini(&b);
}

static void test_default_literals(void **state)
{
    (void)state;
    expect_literal("\"red\"", SA_OK, "'red'");
    expect_literal("\"it's a \\\\ path\"", SA_OK, "'it\\'s a \\\\ path'");
    expect_literal("7", SA_OK, "7");
    expect_literal("-9223372036854775808", SA_OK, "-9223372036854775808");
    expect_literal("1.5", SA_OK, "1.5");
    expect_literal("true", SA_OK, "1");
    expect_literal("false", SA_OK, "0");
    expect_literal("null", SA_OK, "NULL");
    expect_literal("[]", SA_OK, "[]");
    expect_literal("[1, 2]", SA_OK, "[1, 2]");
    expect_literal("[\"a\", \"b\"]", SA_OK, "['a', 'b']");
    /* no literal: nothing appended */
    expect_literal("{\"a\": 1}", SA_ENOTFOUND, "");
    expect_literal("[{\"a\": 1}]", SA_ENOTFOUND, "");
    expect_literal("not json", SA_ENOTFOUND, "");
    expect_literal(NULL, SA_ENOTFOUND, "");
}

static void test_has_column(void **state)
{
    static const char tsv[] = "id\nver\nval\n";
    (void)state;
    assert_true(sa_ch_has_column(tsv, strlen(tsv), "id"));
    assert_true(sa_ch_has_column(tsv, strlen(tsv), "val"));
    assert_false(sa_ch_has_column(tsv, strlen(tsv), "va"));
    assert_false(sa_ch_has_column(tsv, strlen(tsv), "vals"));
    assert_false(sa_ch_has_column(tsv, strlen(tsv), "color"));
    assert_true(sa_ch_has_column("a\nlast", 6, "last")); /* no final newline */
    assert_false(sa_ch_has_column("", 0, "id"));
}

static const char SCHEMA[] =
    "{\"type\": \"record\", \"name\": \"G\", \"x-key\": \"id\", \"fields\": ["
    "{\"name\": \"id\", \"type\": \"string\"},"
    "{\"name\": \"color\", \"type\": \"string\", \"default\": \"none\"},"
    "{\"name\": \"w\", \"type\": [\"null\", \"double\"], \"default\": null},"
    "{\"name\": \"tags\", \"type\": {\"type\": \"array\", \"items\": \"int\"},"
    " \"default\": [1]},"
    "{\"name\": \"n\", \"type\": \"long\"},"
    "{\"name\": \"sub\", \"type\": {\"type\": \"record\", \"name\": \"S\", \"fields\": "
    "[{\"name\": \"a\", \"type\": \"int\"}]}}]}";

static void test_add_column_sql(void **state)
{
    static const char *const want[] = {
        "ALTER TABLE `d`.`t` ADD COLUMN `id` String",
        "ALTER TABLE `d`.`t` ADD COLUMN `color` String DEFAULT 'none'",
        "ALTER TABLE `d`.`t` ADD COLUMN `w` Nullable(Float64) DEFAULT NULL",
        "ALTER TABLE `d`.`t` ADD COLUMN `tags` Array(Int32) DEFAULT [1]",
        "ALTER TABLE `d`.`t` ADD COLUMN `n` Int64",
    };
    struct sa_schema *schema = NULL;
    struct sa_err err = {0};
    struct sa_buf sql;
    (void)state;

    assert_int_equal(sa_schema_parse("g", 1, SCHEMA, &schema, &err), SA_OK);
    sa_buf_init(&sql, 1 << 20);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(sa_ch_add_column_sql(schema, &schema->fields[i], "`d`.`t`",
                                              "ch", &sql, &err),
                         SA_OK);
        assert_string_equal((const char *)sql.data, want[i]);
    }
    /* a record has no column type: refused, naming sink, field and schema */
    assert_int_equal(
        sa_ch_add_column_sql(schema, &schema->fields[5], "`d`.`t`", "ch", &sql, &err),
        SA_ESCHEMA);
    assert_non_null(strstr(err.msg, "sink ch"));
    assert_non_null(strstr(err.msg, "field sub of schema g v1"));
    assert_int_equal(sa_ch_columns_sql("d", "it's", &sql), SA_OK);
    assert_string_equal((const char *)sql.data,
                        "SELECT name FROM system.columns WHERE database = 'd' AND "
                        "table = 'it\\'s' FORMAT TabSeparated");
    sa_buf_fini(&sql);
    sa_schema_free(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_literals),
        cmocka_unit_test(test_has_column),
        cmocka_unit_test(test_add_column_sql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
