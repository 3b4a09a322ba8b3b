/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the Kafka sink's cursor read-back (sa_kafka_cursor_parse in
 * sync/sink/kafka_cursor.c), without a broker; the exactly-once integration
 * test drives the real path.
 *
 * Most cases are data: every tests/data/kafka_cursor/NAME.value is a
 * message value (every byte of the file), NAME.expect the one line it must
 * give: "ok <origin_id> <segment_id> <record_index>" or
 * "error <RC name> <message>". Adding a case needs no new code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/base/error.h"
#include "sync/sink/kafka_cursor.h"
#include "tests/unit/casefiles.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WHAT "sink k1: cursor in _syncagent.cursors [0] at offset 7"
#define ORIGIN "0b6e1f5c-6f0e-4c1e-9a57-2c1c0d3f4e5a"
#define MIN_CASES 30

static int setup_data_dir(void **state)
{
    (void)state;
    if (case_chdir("kafka_cursor") != 0)
        return -1;
    return 0;
}

static int is_value(const struct dirent *d)
{
    size_t len = strlen(d->d_name);
    return len > 6 && strcmp(d->d_name + len - 6, ".value") == 0;
}

static void parse_line(const void *value, size_t len, char *out, size_t n)
{
    struct sa_kafka_cursor c;
    struct sa_err err = {0};
    int rc;

    memset(&c, 0x5a, sizeof c);
    rc = sa_kafka_cursor_parse(value, len, WHAT, &c, &err);
    if (rc == SA_OK) {
        snprintf(out, n, "ok %s %" PRId64 " %" PRIu32, c.origin_id, c.cursor.segment_id,
                 c.cursor.record_index);
    } else {
        assert_int_equal(err.rc, rc);
        snprintf(out, n, "error %s %s", sa_rc_name(rc), err.msg);
    }
}

static void test_data_cases(void **state)
{
    struct dirent **names;
    int n = scandir(".", &names, is_value, case_by_name);
    int n_failed = 0;

    (void)state;
    assert_true(n >= MIN_CASES);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char expect_path[512], got[512];
        unsigned char *value, *expect;
        size_t len = 0, expect_len = 0;

        snprintf(expect_path, sizeof expect_path, "%.*s.expect",
                 (int)(strlen(name) - 6), name);
        value = case_read_all(name, &len);
        expect = case_read_all(expect_path, &expect_len);
        if (!value || !expect) {
            fprintf(stderr, "FAIL %s: unreadable, or no %s\n", name, expect_path);
            n_failed++;
        } else {
            parse_line(len ? value : NULL, len, got, sizeof got);
            if (!case_matches(name, expect, expect_len, got))
                n_failed++;
        }
        free(value);
        free(expect);
        free(names[i]);
    }
    free(names);
    fprintf(stderr, "kafka cursor cases: %d, %d failed\n", n, n_failed);
    assert_int_equal(n_failed, 0);
}

/* What the sink writes (produce_cursor's format) reads back as it was,
 * at the ends of each range. */
static void test_round_trip(void **state)
{
    static const struct sa_cursor cursors[] = {
        {0, 0}, {1, 0}, {12, 100}, {INT64_MAX, UINT32_MAX}, {INT64_MAX - 1, 1}};

    (void)state;
    for (size_t i = 0; i < sizeof cursors / sizeof cursors[0]; i++) {
        struct sa_kafka_cursor c;
        struct sa_err err = {0};
        char value[256];
        int n = snprintf(value, sizeof value,
                         "{\"origin_id\":\"%s\",\"segment_id\":%" PRId64
                         ",\"record_index\":%u}",
                         ORIGIN, cursors[i].segment_id, cursors[i].record_index);
        assert_int_equal(sa_kafka_cursor_parse(value, (size_t)n, WHAT, &c, &err),
                         SA_OK);
        assert_string_equal(c.origin_id, ORIGIN);
        assert_true(c.cursor.segment_id == cursors[i].segment_id);
        assert_int_equal(c.cursor.record_index, cursors[i].record_index);
    }
}

/* A message value that stops in the middle of the object, at every byte. */
static void test_every_prefix_fails(void **state)
{
    static const char whole[] =
        "{\"origin_id\":\"" ORIGIN "\",\"segment_id\":12,\"record_index\":100}";

    (void)state;
    for (size_t len = 0; len < sizeof whole - 1; len++) {
        struct sa_kafka_cursor c;
        struct sa_err err = {0};
        char *prefix = malloc(len ? len : 1);
        memcpy(prefix, whole, len);
        assert_int_equal(sa_kafka_cursor_parse(prefix, len, WHAT, &c, &err), SA_EPARSE);
        assert_int_equal(strncmp(err.msg, WHAT " ", strlen(WHAT) + 1), 0);
        free(prefix);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_data_cases, setup_data_dir),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_prefix_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
