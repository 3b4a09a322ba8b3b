/* SPDX-License-Identifier: Apache-2.0 */
/* The CSV row parser: RFC 4180 cases, partial windows, and bad rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/source/csv.h"

#include <stdio.h>
#include <string.h>

/* Parse all of text (at EOF) into "a|b|c\n" lines, bad rows as "!line:col:reason\n". */
static void parse_all(const char *text, size_t len, char delim, char *out, size_t cap)
{
    struct sa_csv_opts opts;
    struct sa_csv_parser p;
    size_t pos = 0, used = 0;

    sa_csv_opts_default(&opts);
    opts.delimiter = delim;
    opts.max_field = 16;
    assert_int_equal(sa_csv_init(&p, &opts), SA_OK);
    out[0] = '\0';
    for (;;) {
        struct sa_csv_row row;
        struct sa_csv_error where;
        size_t consumed;
        int rc = sa_csv_next(&p, text + pos, len - pos, 1, &row, &consumed, &where);
        if (rc == SA_EAGAIN)
            break;
        if (rc == SA_EPARSE) {
            used += (size_t)snprintf(out + used, cap - used, "!%lld:%lld:%s\n",
                                     (long long)where.line, (long long)where.column,
                                     where.reason);
        } else {
            assert_int_equal(rc, SA_OK);
            for (size_t i = 0; i < row.n_fields; i++)
                used += (size_t)snprintf(out + used, cap - used, "%s%.*s", i ? "|" : "",
                                         (int)row.fields[i].len, row.fields[i].p);
            used += (size_t)snprintf(out + used, cap - used, "@%lld\n",
                                     (long long)row.line);
        }
        assert_true(consumed > 0);
        pos += consumed;
    }
    assert_int_equal(pos, len);
    sa_csv_fini(&p);
}

static void expect(const char *text, const char *want)
{
    char out[4096];
    parse_all(text, strlen(text), ',', out, sizeof out);
    assert_string_equal(out, want);
}

static void test_plain_rows(void **state)
{
    (void)state;
    expect("a,b,c\n1,2,3\n", "a|b|c@1\n1|2|3@2\n");
    expect("a,b\n1,2", "a|b@1\n1|2@2\n"); /* no newline at the end of the file */
    expect("a,,c\n,\n", "a||c@1\n|@2\n");
}

static void test_crlf(void **state)
{
    (void)state;
    expect("a,b\r\n1,2\r\n", "a|b@1\n1|2@2\n");
    expect("\"x\",\"y\"\r\n", "x|y@1\n");
}

static void test_quotes(void **state)
{
    (void)state;
    expect("\"a,b\",c\n", "a,b|c@1\n");
    expect("\"say \"\"hi\"\"\",2\n", "say \"hi\"|2@1\n");
    expect("\"two\nlines\",x\nnext,row\n", "two\nlines|x@1\nnext|row@3\n");
    expect("\"\"\n", "@1\n"); /* an empty quoted field */
}

static void test_unterminated_quote(void **state)
{
    (void)state;
    /* A quote that never closes opened no field: its line is the bad row,
     * and the lines after it are read (issue 11: a stray quote used to
     * swallow every row up to the end of the window). */
    expect("ok,1\n\"open,2\nmore\n",
           "ok|1@1\n!2:1:unterminated quoted field: the quote that opens field 1 "
           "never closes before the end of the file; it opened no field\nmore@3\n");
    /* Closed across a newline by a quote followed by text: a stray quote
     * too; the later line's own quote is read again as the opening quote
     * it was. */
    expect("a,\"b,c\nd,e\nf,\"g\"\n",
           "!1:3:unterminated quoted field: the quote that opens field 2 is closed at "
           "line 3 column 3 by a quote followed by 'g' (0x67), not a delimiter or a "
           "line end; it opened no field\nd|e@2\nf|g@3\n");
    /* Closed properly across lines: one field with newlines (RFC 4180). */
    expect("a,\"b\nc\"\nd,e\n", "a|b\nc@1\nd|e@3\n");
}

/* A quoted field past max_field is still read to its closing quote, which
 * ends the row: text inside it never becomes rows (issue 16, bug 1). */
static void test_long_quoted_field_ends_at_its_quote(void **state)
{
    (void)state;
    expect("a,\"0123456789abcdef\nINJ,x\n\",b\nreal,1\n",
           "!1:3:field longer than 16 bytes (23)\nreal|1@4\n");
}

/* max_field is per field, also for fields unescaped from "" (issue 16,
 * bug 2: the scratch buffer was shared by the row). */
static void test_max_field_per_field(void **state)
{
    (void)state;
    expect("\"aaaaaaaaaaaaaa\"\"b\",\"aaaaaaaaaaaaaa\"\"b\",\"aaaaaaaaaaaaaa\"\"b\"\n",
           "aaaaaaaaaaaaaa\"b|aaaaaaaaaaaaaa\"b|aaaaaaaaaaaaaa\"b@1\n");
    expect("\"aaaaaaaaaaaaaaa\"\"b\"\n", "!1:1:field longer than 16 bytes\n");
}

static void test_bad_rows_do_not_stop_the_file(void **state)
{
    (void)state;
    expect("a,\"b\"x,c\nd,e\n",
           "!1:6:unexpected character after a closing quote\nd|e@2\n");
    expect("a,\xff\xfe,c\nd,e\n", "!1:3:invalid UTF-8\nd|e@2\n");
    expect("a,0123456789abcdefXYZ\nd,e\n",
           "!1:3:field longer than 16 bytes (19)\nd|e@2\n");
    expect("\xc3\xa9t\xc3\xa9,\"na\xc3\xafve\"\n",
           "\xc3\xa9t\xc3\xa9|na\xc3\xafve@1\n");
}

/* Which fields were quoted: "" is a value, a bare empty field is not. */
static void test_quoted_flags(void **state)
{
    struct sa_csv_opts opts;
    struct sa_csv_parser p;
    struct sa_csv_row row;
    struct sa_csv_error where;
    size_t consumed;
    (void)state;

    sa_csv_opts_default(&opts);
    assert_int_equal(sa_csv_init(&p, &opts), SA_OK);
    assert_int_equal(sa_csv_next(&p, "a,b\n", 4, 1, &row, &consumed, &where), SA_OK);
    assert_null(row.quoted);
    assert_int_equal(sa_csv_next(&p, "\"\"\r\n", 4, 1, &row, &consumed, &where), SA_OK);
    assert_int_equal(row.n_fields, 1);
    assert_int_equal(row.fields[0].len, 0);
    assert_non_null(row.quoted);
    assert_int_equal(row.quoted[0], 1);
    assert_int_equal(sa_csv_next(&p, ",\"\",x\n", 6, 1, &row, &consumed, &where),
                     SA_OK);
    assert_int_equal(row.n_fields, 3);
    assert_int_equal(row.quoted[0], 0);
    assert_int_equal(row.quoted[1], 1);
    assert_int_equal(row.quoted[2], 0);
    sa_csv_fini(&p);
}

/*
 * The skip scanner (for rows longer than the window) ends every row where
 * sa_csv_next does, and finds the same stray quotes, fed in pieces of any
 * size.
 */
static void skip_case(const char *text, int64_t want_end, int64_t want_lines,
                      int want_stray)
{
    struct sa_csv_opts opts;
    struct sa_csv_parser p;
    size_t len = strlen(text);

    sa_csv_opts_default(&opts);
    assert_int_equal(sa_csv_init(&p, &opts), SA_OK);
    for (size_t piece = 1; piece <= len + 1; piece++) {
        struct sa_csv_skip s;
        struct sa_csv_skipped out;
        size_t pos = 0;
        int rc = SA_EAGAIN;
        sa_csv_skip_begin(&s, 100, 7);
        while (rc == SA_EAGAIN && pos < len) {
            size_t n = len - pos < piece ? len - pos : piece;
            rc = sa_csv_skip_feed(&p, &s, text + pos, n, 0, &out);
            pos += n;
        }
        if (rc == SA_EAGAIN)
            rc = sa_csv_skip_feed(&p, &s, "", 0, 1, &out);
        assert_int_equal(rc, SA_OK);
        assert_int_equal(out.end, 100 + want_end);
        assert_int_equal(out.lines, want_lines);
        assert_int_equal(out.stray, want_stray);
        if (want_stray)
            assert_int_equal(out.where.line, 7);
    }
    sa_csv_fini(&p);
}

static void test_skip_agrees(void **state)
{
    (void)state;
    skip_case("a,b\nc\n", 4, 1, 0);
    skip_case("a,\"b\nc\",d\ne\n", 10, 2, 0);
    skip_case("a,\"b\"\"\nc\"\r\ne\n", 11, 2, 0);
    skip_case("a,\"b,c\nd,e\nf,\"g\"\n", 7, 1, 1); /* closed by a stray quote */
    skip_case("a,\"b,c\nd,e\n", 7, 1, 1);          /* never closed */
    skip_case("a,\"b\"x,c\nd\n", 9, 1, 0);         /* bad, but on one line */
    skip_case("a,b", 3, 0, 0);                     /* the end of the file */
}

static void test_other_delimiters(void **state)
{
    char out[256];
    (void)state;
    parse_all("a;b;\"c;d\"\n", 10, ';', out, sizeof out);
    assert_string_equal(out, "a|b|c;d@1\n");
    parse_all("a\tb\n", 4, '\t', out, sizeof out);
    assert_string_equal(out, "a|b@1\n");
}

/* A window that ends inside a row is never consumed: the half-written last
 * line of a growing file waits for its newline. */
static void test_partial_window(void **state)
{
    const char *text = "a,\"b\nc\",d\nlast,line";
    struct sa_csv_opts opts;
    struct sa_csv_parser p;
    struct sa_csv_row row;
    struct sa_csv_error where;
    size_t consumed;
    (void)state;

    sa_csv_opts_default(&opts);
    assert_int_equal(sa_csv_init(&p, &opts), SA_OK);
    for (size_t cut = 0; cut < 10; cut++)
        assert_int_equal(sa_csv_next(&p, text, cut, 0, &row, &consumed, &where),
                         SA_EAGAIN);
    assert_int_equal(sa_csv_next(&p, text, 10, 0, &row, &consumed, &where), SA_OK);
    assert_int_equal(consumed, 10);
    assert_int_equal(row.n_fields, 3);
    assert_int_equal(
        sa_csv_next(&p, text + 10, strlen(text) - 10, 0, &row, &consumed, &where),
        SA_EAGAIN);
    assert_int_equal(
        sa_csv_next(&p, text + 10, strlen(text) - 10, 1, &row, &consumed, &where),
        SA_OK);
    assert_int_equal(row.line, 3);
    assert_int_equal(row.n_fields, 2);
    sa_csv_fini(&p);
}

static void test_utf8_validator(void **state)
{
    (void)state;
    assert_true(sa_utf8_valid("plain", 5));
    assert_true(sa_utf8_valid("\xe2\x82\xac", 3));      /* € */
    assert_true(sa_utf8_valid("\xf0\x9f\x98\x80", 4));  /* 😀 */
    assert_false(sa_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(sa_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(sa_utf8_valid("\xe2\x82", 2));         /* truncated */
    assert_false(sa_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_rows),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_quotes),
        cmocka_unit_test(test_unterminated_quote),
        cmocka_unit_test(test_long_quoted_field_ends_at_its_quote),
        cmocka_unit_test(test_max_field_per_field),
        cmocka_unit_test(test_quoted_flags),
        cmocka_unit_test(test_skip_agrees),
        cmocka_unit_test(test_bad_rows_do_not_stop_the_file),
        cmocka_unit_test(test_other_delimiters),
        cmocka_unit_test(test_partial_window),
        cmocka_unit_test(test_utf8_validator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
