/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the ClickHouse error-body parser (sync/sink/ch_error.c).
 *
 * Most cases are data: every tests/data/ch_error/NAME.body is a response
 * body (every byte of the file; the v18-* ones were captured from Debian
 * 12's clickhouse-server 18.16, the new-* ones follow the form of newer
 * servers), NAME.expect the one line it must give:
 * "ok <code> <name or -> <row> <message>" or "error <RC name> <message>".
 * Adding a case needs no new code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/base/error.h"
#include "sync/sink/ch_error.h"
#include "tests/unit/casefiles.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CASES 35

static int setup_data_dir(void **state)
{
    (void)state;
    return case_chdir("ch_error") != 0 ? -1 : 0;
}

static int is_body(const struct dirent *d)
{
    size_t len = strlen(d->d_name);
    return len > 5 && strcmp(d->d_name + len - 5, ".body") == 0;
}

static void parse_line(const void *body, size_t len, char *out, size_t n)
{
    struct sa_ch_error e;
    struct sa_err err = {0};
    int rc = sa_ch_error_parse(body, len, &e, &err);

    if (rc == SA_OK)
        snprintf(out, n, "ok %d %s %" PRId64 " %s", e.code, e.name[0] ? e.name : "-",
                 e.row, e.message);
    else {
        assert_int_equal(err.rc, rc);
        snprintf(out, n, "error %s %s", sa_rc_name(rc), err.msg);
    }
}

static void test_data_cases(void **state)
{
    struct dirent **names;
    int n = scandir(".", &names, is_body, case_by_name);
    int n_failed = 0;

    (void)state;
    assert_true(n >= MIN_CASES);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char expect_path[512], got[1024];
        unsigned char *body, *expect;
        size_t len = 0, expect_len = 0;

        snprintf(expect_path, sizeof expect_path, "%.*s.expect",
                 (int)(strlen(name) - 5), name);
        body = case_read_all(name, &len);
        expect = case_read_all(expect_path, &expect_len);
        if (!body || !expect) {
            fprintf(stderr, "FAIL %s: unreadable, or no %s\n", name, expect_path);
            n_failed++;
        } else {
            parse_line(len ? body : NULL, len, got, sizeof got);
            if (!case_matches(name, expect, expect_len, got))
                n_failed++;
        }
        free(body);
        free(expect);
        free(names[i]);
    }
    free(names);
    fprintf(stderr, "clickhouse error cases: %d, %d failed\n", n, n_failed);
    assert_int_equal(n_failed, 0);
}

/* A body cut at every byte either parses or is refused; never more than
 * the whole gives. */
static void test_every_prefix(void **state)
{
    static const char whole[] = "Code: 27, e.displayText() = DB::Exception: Cannot "
                                "parse input: (at row 2)\n, e.what() = DB::Exception\n";
    struct sa_ch_error e;
    struct sa_err err = {0};

    (void)state;
    for (size_t len = 0; len < sizeof whole - 1; len++) {
        char *prefix = malloc(len ? len : 1);
        int rc;
        memcpy(prefix, whole, len);
        rc = sa_ch_error_parse(prefix, len, &e, &err);
        /* The 18.16 form is complete once its e.what() part has a byte. */
        assert_int_equal(rc, len > (size_t)(strstr(whole, ", e.what() = ") - whole) + 13
                                 ? SA_OK
                                 : SA_EPARSE);
        free(prefix);
    }
    assert_int_equal(sa_ch_error_parse(whole, sizeof whole - 1, &e, &err), SA_OK);
    assert_int_equal(e.code, 27);
    assert_int_equal(e.row, 2);
    assert_string_equal(e.message, "Cannot parse input: (at row 2)");
}

static void test_row_codes(void **state)
{
    (void)state;
    assert_true(sa_ch_error_is_row_error(27));   /* cannot parse input */
    assert_true(sa_ch_error_is_row_error(117));  /* unknown field */
    assert_false(sa_ch_error_is_row_error(60));  /* no such table */
    assert_false(sa_ch_error_is_row_error(241)); /* memory limit */
    assert_false(sa_ch_error_is_row_error(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_data_cases, setup_data_dir),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_row_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
