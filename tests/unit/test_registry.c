/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of what the schema registry client makes of the registry's
 * answers (sa_registry_parse_response in sync/registry.c), without a
 * network; tests/integration/test_registry.py drives the whole client
 * against a real registry.
 *
 * Most cases are data: every tests/data/registry/NAME.response holds the
 * HTTP status on its first line and the body after it (every byte up to
 * the end of the file), and NAME.expect the one line the answer must give,
 * as tests/tools/registry_client prints it: "ok <id>" or
 * "error <RC name> <message>". Adding a case needs no new code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/base/error.h"
#include "agent/base/text.h"
#include "sync/registry.h"
#include "tests/unit/casefiles.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define URL "http://registry.test:8081/subjects/orders-value/versions"
#define MIN_CASES 30

static int setup_data_dir(void **state)
{
    (void)state;
    if (case_chdir("registry") != 0)
        return -1;
    return 0;
}

static int is_response(const struct dirent *d)
{
    size_t len = strlen(d->d_name);
    return len > 9 && strcmp(d->d_name + len - 9, ".response") == 0;
}

/* The answer to status + body as one line, the way registry_client
 * prints it. */
static void answer(long status, const void *body, size_t len, char *out, size_t n)
{
    struct sa_err err = {0};
    int32_t id = -7;
    int rc = sa_registry_parse_response(URL, status, body, len, &id, &err);

    if (rc == SA_OK) {
        snprintf(out, n, "ok %d", (int)id);
    } else {
        assert_int_equal(err.rc, rc);
        assert_int_equal(id, -7); /* untouched */
        snprintf(out, n, "error %s %s", sa_rc_name(rc), err.msg);
    }
}

static void test_data_cases(void **state)
{
    struct dirent **names;
    int n = scandir(".", &names, is_response, case_by_name);
    int n_failed = 0;

    (void)state;
    assert_true(n >= MIN_CASES);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char expect_path[512], got[512];
        unsigned char *response, *expect, *nl;
        size_t len = 0, expect_len = 0;
        long status = 0;
        char *end;

        snprintf(expect_path, sizeof expect_path, "%.*s.expect",
                 (int)(strlen(name) - 9), name);
        response = case_read_all(name, &len);
        expect = case_read_all(expect_path, &expect_len);
        nl = response ? memchr(response, '\n', len) : NULL;
        if (nl) {
            *nl = '\0';
            status = strtol((char *)response, &end, 10);
        }
        if (!nl || *end || !expect) {
            fprintf(stderr, "FAIL %s: no \"STATUS\\n\" line or no %s\n", name,
                    expect_path);
            n_failed++;
        } else {
            size_t body_len = len - (size_t)(nl + 1 - response);
            /* the body alone in a block of its size */
            unsigned char *body = body_len ? malloc(body_len) : NULL;
            if (body_len)
                memcpy(body, nl + 1, body_len);
            answer(status, body, body_len, got, sizeof got);
            if (!case_matches(name, expect, expect_len, got))
                n_failed++;
            free(body);
        }
        free(response);
        free(expect);
        free(names[i]);
    }
    free(names);
    fprintf(stderr, "registry cases: %d, %d failed\n", n, n_failed);
    assert_int_equal(n_failed, 0);
}

/* Every status class maps to the rc sa_registry_id documents. */
static void test_status_classes(void **state)
{
    static const struct {
        long status;
        int rc;
    } cases[] = {
        {200, SA_OK},      {204, SA_EPARSE}, {299, SA_OK},      {100, SA_EIO},
        {301, SA_EIO},     {400, SA_EIO},    {401, SA_ECONFIG}, {403, SA_ECONFIG},
        {404, SA_ECONFIG}, {408, SA_EAGAIN}, {409, SA_ESCHEMA}, {422, SA_ESCHEMA},
        {429, SA_EAGAIN},  {500, SA_EAGAIN}, {503, SA_EAGAIN},  {599, SA_EAGAIN},
        {0, SA_EIO},       {-1, SA_EIO},     {1000, SA_EAGAIN},
    };
    static const char ok_body[] = "{\"id\":1}";

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sa_err err = {0};
        int32_t id = 0;
        /* 204 carries no body; the others the same good one */
        size_t len = cases[i].status == 204 ? 0 : sizeof ok_body - 1;
        int rc =
            sa_registry_parse_response(URL, cases[i].status, ok_body, len, &id, &err);
        if (rc != cases[i].rc)
            fprintf(stderr, "status %ld: %s (%s)\n", cases[i].status, sa_rc_name(rc),
                    err.msg);
        assert_int_equal(rc, cases[i].rc);
        if (rc) {
            char head[64];
            snprintf(head, sizeof head, "schema registry " URL ": HTTP %ld",
                     cases[i].status);
            assert_int_equal(strncmp(err.msg, head, strlen(head)), 0);
        }
    }
}

/* A long message is cut inside the 256 bytes of sa_err, on a character
 * boundary, and stays one line. */
static void test_long_message_stays_utf8(void **state)
{
    char body[4096];
    size_t len = 0;
    struct sa_err err = {0};
    int32_t id;

    (void)state;
    len += (size_t)snprintf(body + len, sizeof body - len, "{\"message\":\"");
    for (int i = 0; i < 200; i++)
        len += (size_t)snprintf(body + len, sizeof body - len, "\xe2\x82\xac\\n");
    len += (size_t)snprintf(body + len, sizeof body - len, "\"}");
    assert_int_equal(sa_registry_parse_response(URL, 500, body, len, &id, &err),
                     SA_EAGAIN);
    assert_true(strlen(err.msg) < sizeof err.msg);
    assert_true(strlen(err.msg) > 200);
    assert_null(strchr(err.msg, '\n'));
    for (size_t i = 0, n = strlen(err.msg); i < n;) {
        size_t seq = sa_utf8_seq_len((const unsigned char *)err.msg + i, n - i);
        assert_true(seq > 0);
        i += seq;
    }
}

/* No body at all (a NULL pointer with length 0, what an empty sa_buf
 * holds). */
static void test_null_body(void **state)
{
    struct sa_err err = {0};
    int32_t id;

    (void)state;
    assert_int_equal(sa_registry_parse_response(URL, 200, NULL, 0, &id, &err),
                     SA_EPARSE);
    assert_string_equal(err.msg, "schema registry " URL ": HTTP 200 response is empty");
    assert_int_equal(sa_registry_parse_response(URL, 503, NULL, 0, &id, &err),
                     SA_EAGAIN);
    assert_string_equal(err.msg, "schema registry " URL ": HTTP 503: (empty body)");
    /* err may be NULL, as everywhere */
    assert_int_equal(sa_registry_parse_response(URL, 200, "{}", 2, &id, NULL),
                     SA_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_data_cases, setup_data_dir),
        cmocka_unit_test(test_status_classes),
        cmocka_unit_test(test_long_message_stays_utf8),
        cmocka_unit_test(test_null_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
