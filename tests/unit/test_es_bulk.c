/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the `_bulk` response reader (sa_es_bulk_parse in
 * sync/sink/es_bulk.c), without a server; the OpenSearch integration
 * tests drive the real path.
 *
 * Most cases are data: every tests/data/es_bulk/NAME.value is a response
 * body (every byte of the file; the real-* ones were captured from
 * OpenSearch 2.19), NAME.expect what it must give: "ok errors=E items=N"
 * and a line per item "ACTION STATUS ID [TYPE: REASON]", or
 * "error <RC name> <message>". Adding a case needs no new code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/base/error.h"
#include "sync/sink/es_bulk.h"
#include "tests/unit/casefiles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHAT "sink es1: _bulk response"
#define MIN_CASES 30

static const char *const actions[] = {"index", "create", "delete", "update"};

static int setup_data_dir(void **state)
{
    (void)state;
    return case_chdir("es_bulk") != 0 ? -1 : 0;
}

static int is_value(const struct dirent *d)
{
    size_t len = strlen(d->d_name);
    return len > 6 && strcmp(d->d_name + len - 6, ".value") == 0;
}

typedef int parse_fn(const void *body, size_t len, size_t n_expected, const char *what,
                     struct sa_es_bulk *out, struct sa_err *err);

static void describe_with(parse_fn *parse, const void *body, size_t len,
                          size_t n_expected, char *out, size_t n)
{
    struct sa_es_bulk bulk;
    struct sa_err err = {0};
    size_t used;
    int rc = parse(body, len, n_expected, WHAT, &bulk, &err);

    if (rc != SA_OK) {
        assert_int_equal(err.rc, rc);
        assert_null(bulk.items);
        snprintf(out, n, "error %s %s", sa_rc_name(rc), err.msg);
        return;
    }
    used =
        (size_t)snprintf(out, n, "ok errors=%d items=%zu", bulk.errors, bulk.n_items);
    for (size_t i = 0; i < bulk.n_items && used < n; i++) {
        const struct sa_es_bulk_item *it = &bulk.items[i];
        used +=
            (size_t)snprintf(out + used, n - used, "\n%s %d %s", actions[it->action],
                             it->status, it->id ? it->id : "-");
        if (it->error_type && used < n)
            used += (size_t)snprintf(out + used, n - used, " %s: %s", it->error_type,
                                     it->error_reason);
    }
    sa_es_bulk_fini(&bulk);
}

/* What sa_es_bulk_parse makes of body; and the fast path (es_bulk.c)
 * must never change it: the full path, through jansson alone, makes the
 * same. */
static void describe(const void *body, size_t len, size_t n_expected, char *out,
                     size_t n)
{
    char full[8192];

    describe_with(sa_es_bulk_parse, body, len, n_expected, out, n);
    describe_with(sa_es_bulk_parse_full, body, len, n_expected, full, sizeof full);
    if (strcmp(out, full) != 0)
        fail_msg("sa_es_bulk_parse:\n%s\nsa_es_bulk_parse_full:\n%s", out, full);
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
        char expect_path[512], got[8192];
        unsigned char *value, *expect;
        size_t len = 0, expect_len = 0;

        snprintf(expect_path, sizeof expect_path, "%.*s.expect",
                 (int)(strlen(name) - 6), name);
        value = case_read_all(name, &len);
        expect = case_read_all(expect_path, &expect_len);
        if (value)
            describe(len ? value : NULL, len, SA_ES_ANY_COUNT, got, sizeof got);
        if (!value || !expect) {
            fprintf(stderr, "FAIL %s: unreadable, or no %s; got:\n%s\n", name,
                    expect_path, value ? got : "");
            n_failed++;
        } else if (!case_matches(name, expect, expect_len, got)) {
            n_failed++;
        }
        free(value);
        free(expect);
        free(names[i]);
    }
    free(names);
    fprintf(stderr, "es bulk cases: %d, %d failed\n", n, n_failed);
    assert_int_equal(n_failed, 0);
}

/* The sink passes the number of actions it sent: a response with more or
 * fewer items cannot be matched item by item and is refused whole. */
static void test_item_count(void **state)
{
    static const char body[] = "{\"errors\":false,\"items\":["
                               "{\"index\":{\"_id\":\"a\",\"status\":201}},"
                               "{\"delete\":{\"_id\":\"b\",\"status\":200}}]}";
    struct sa_es_bulk bulk;
    struct sa_err err = {0};

    (void)state;
    assert_int_equal(sa_es_bulk_parse(body, sizeof body - 1, 2, WHAT, &bulk, &err),
                     SA_OK);
    assert_int_equal(bulk.n_items, 2);
    assert_int_equal(bulk.items[1].action, SA_ES_DELETE);
    assert_string_equal(bulk.items[1].id, "b");
    sa_es_bulk_fini(&bulk);
    assert_int_equal(sa_es_bulk_parse(body, sizeof body - 1, 3, WHAT, &bulk, &err),
                     SA_EPARSE);
    assert_string_equal(err.msg, WHAT " has 2 items for 3 actions");
    assert_int_equal(sa_es_bulk_parse(body, sizeof body - 1, 1, WHAT, &bulk, &err),
                     SA_EPARSE);
}

static void test_error_summary(void **state)
{
    static const char request[] =
        "{\"error\":{\"root_cause\":[],\"type\":\"illegal_argument_exception\","
        "\"reason\":\"The bulk request must be\\nterminated\"},\"status\":400}";
    static const char plain[] = "{\"error\":\"no handler\",\"status\":400}";
    static const char html[] = "<html>\r\n<body>502 Bad Gateway</body></html>";
    char out[256];

    (void)state;
    sa_es_error_summary(request, sizeof request - 1, out, sizeof out);
    assert_string_equal(out, "illegal_argument_exception: The bulk request must be "
                             "terminated");
    sa_es_error_summary(plain, sizeof plain - 1, out, sizeof out);
    assert_string_equal(out, "no handler");
    sa_es_error_summary(html, sizeof html - 1, out, sizeof out);
    assert_string_equal(out, "<html> <body>502 Bad Gateway</body></html>");
    sa_es_error_summary(NULL, 0, out, sizeof out);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_cases),
        cmocka_unit_test(test_item_count),
        cmocka_unit_test(test_error_summary),
    };
    return cmocka_run_group_tests(tests, setup_data_dir, NULL);
}
