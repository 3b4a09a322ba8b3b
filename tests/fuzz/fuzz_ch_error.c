/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the ClickHouse error-body parser
 * (sa_ch_error_parse, sync/sink/ch_error.c): the body comes from the
 * network (a server, a proxy in between, a truncated response), and what
 * is parsed goes into dead letters and log lines, so it must give a safe
 * reason or a clear refusal, never crash (DESIGN.md I6).
 *
 * Input: the body, every byte (the seeds are the tests/data/ch_error/NAME.body files:
 * real bodies captured from clickhouse-server 18.16, the newer form, and
 * broken ones).
 *
 * Checks:
 *   - SA_OK or SA_EPARSE, err.rc the rc, and the same result twice;
 *   - on SA_OK: the body starts with "Code: " and the code's digits; the
 *     message is non-empty, NUL-terminated within its array, well-formed
 *     UTF-8 without control characters, no space at either end, no two
 *     spaces in a row; the name is "" or [A-Z][A-Z0-9_]*; a row > 0
 *     appears in the message as "(at row N)";
 *   - what was parsed, written back in the 18.16 form, parses to the same
 *     code and message;
 *   - on SA_EPARSE: one printable line of UTF-8 starting with
 *     "not a ClickHouse error body: ";
 *   - the body is read from a heap block of exactly its size (ASan sees a
 *     read past the end) and is not written to.
 */
#include "agent/base/error.h"
#include "sync/sink/ch_error.h"
#include "tests/fuzz/fuzz_common.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "not a ClickHouse error body: "

static void check_line(const char *s, size_t cap)
{
    size_t len;

    CHECK(memchr(s, '\0', cap) != NULL);
    len = strlen(s);
    CHECK(utf8_reference((const unsigned char *)s, len));
    for (size_t i = 0; i < len; i++)
        CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static void check_ok(const uint8_t *body, size_t size, const struct sa_ch_error *e)
{
    char digits[16], row[40];
    size_t len = strlen(e->message);

    CHECK(size > 6 && memcmp(body, "Code: ", 6) == 0);
    snprintf(digits, sizeof digits, "%d", e->code);
    CHECK(e->code >= 0 && e->code <= SA_CH_CODE_MAX);
    /* The digits as written (leading zeros allowed). */
    {
        size_t i = 6, n = 0;
        while (i < size && body[i] == '0' && i + 1 < size && body[i + 1] >= '0' &&
               body[i + 1] <= '9')
            i++;
        while (i + n < size && body[i + n] >= '0' && body[i + n] <= '9')
            n++;
        CHECK(n == strlen(digits) && memcmp(body + i, digits, n) == 0);
    }
    check_line(e->message, sizeof e->message);
    CHECK(len > 0 && len < SA_CH_MESSAGE_MAX);
    CHECK(e->message[0] != ' ' && e->message[len - 1] != ' ');
    CHECK(strstr(e->message, "  ") == NULL);
    CHECK(memchr(e->name, '\0', sizeof e->name) != NULL);
    if (e->name[0]) {
        CHECK(e->name[0] >= 'A' && e->name[0] <= 'Z');
        for (const char *p = e->name; *p; p++)
            CHECK((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_');
    }
    CHECK(e->row >= 0);
    if (e->row > 0) {
        snprintf(row, sizeof row, "(at row %" PRId64 ")", e->row);
        CHECK(strstr(e->message, row) != NULL);
    }
}

/* The 18.16 form of what was parsed reads back the same. */
static void check_round_trip(const struct sa_ch_error *e)
{
    static char text[SA_CH_MESSAGE_MAX + 128];
    struct sa_ch_error again;
    struct sa_err err;
    int n = snprintf(text, sizeof text,
                     "Code: %d, e.displayText() = DB::Exception: %s, e.what() = "
                     "DB::Exception\n",
                     e->code, e->message);

    CHECK(n > 0 && (size_t)n < sizeof text);
    CHECK(sa_ch_error_parse(text, (size_t)n, &again, &err) == SA_OK);
    CHECK(again.code == e->code);
    CHECK(strcmp(again.message, e->message) == 0);
    CHECK(again.row == e->row);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sa_ch_error got, twice;
    struct sa_err err, err2;
    uint8_t *body = malloc(size ? size : 1);
    int rc;

    CHECK(body != NULL);
    if (size)
        memcpy(body, data, size);
    memset(&got, 0x5a, sizeof got);
    memset(&err, 0x5a, sizeof err);
    rc = sa_ch_error_parse(size ? body : NULL, size, &got, &err);
    CHECK(size == 0 || memcmp(body, data, size) == 0);
    CHECK(rc == SA_OK || rc == SA_EPARSE);
    CHECK(sa_ch_error_parse(size ? body : NULL, size, &twice, &err2) == rc);
    if (rc == SA_OK) {
        CHECK(memcmp(&got, &twice, sizeof got) == 0);
        check_ok(body, size, &got);
        check_round_trip(&got);
    } else {
        CHECK(err.rc == rc);
        check_line(err.msg, sizeof err.msg);
        CHECK(strncmp(err.msg, PREFIX, strlen(PREFIX)) == 0);
        CHECK(strlen(err.msg) > strlen(PREFIX));
    }
    free(body);
    return 0;
}
