/* SPDX-License-Identifier: Apache-2.0 */
/* Upstream text made fit for a message (agent/base/text.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/base/error.h"
#include "agent/base/text.h"

#include <string.h>

static void expect_line(const char *in, size_t len, size_t n, const char *want)
{
    char out[256];
    size_t got;

    assert_true(n <= sizeof out);
    memset(out, 'Z', sizeof out);
    got = sa_text_line(out, n, in, len);
    assert_string_equal(out, want);
    assert_int_equal(got, strlen(want));
}

static void test_line(void **state)
{
    (void)state;
    expect_line("", 0, 16, "");
    expect_line("plain text", 10, 64, "plain text");
    expect_line("  two\r\n\tlines \n", 15, 64, "two lines");
    expect_line("nul\0inside", 10, 64, "nul?inside");
    expect_line("esc\x1b[0m\x7f!", 9, 64, "esc?[0m?!");
    expect_line("\v\fform feeds\v", 13, 64, "form feeds");
    expect_line("caf\xc3\xa9 \xe2\x82\xac", 9, 64, "caf\xc3\xa9 \xe2\x82\xac");
    expect_line("bad \xff\xfe end", 10, 64, "bad ?? end");
    expect_line("cut \xe2\x82", 6, 64, "cut ??");            /* truncated sequence */
    expect_line("\xc0\xaf overlong", 11, 64, "?? overlong"); /* overlong '/' */
    expect_line("\xed\xa0\x80 surrogate", 13, 64, "??? surrogate");
    expect_line("\xf4\x90\x80\x80 too high", 13, 64, "???? too high");
    /* a full buffer ends before a character that does not fit */
    expect_line("abc\xe2\x82\xac", 6, 6, "abc");
    expect_line("abc\xe2\x82\xac", 6, 7, "abc\xe2\x82\xac");
    expect_line("abcdef", 6, 4, "abc");
    expect_line("ab    cd", 8, 4, "ab");
    expect_line("x", 1, 1, "");
}

static void expect_quote(const char *in, size_t len, size_t n, const char *want)
{
    char out[256];

    assert_true(n <= sizeof out);
    memset(out, 'Z', sizeof out);
    assert_int_equal(sa_text_quote(out, n, in, len), strlen(want));
    assert_string_equal(out, want);
}

/* A value in a reason: UTF-8 kept, bad bytes and controls \xNN, spaces
 * kept at the ends, a cut never inside a character. */
static void test_quote(void **state)
{
    (void)state;
    expect_quote("", 0, 64, "\"\"");
    expect_quote(" ", 1, 64, "\" \"");
    expect_quote("h\xc3\xb6he", 5, 64, "\"h\xc3\xb6he\"");
    expect_quote("\xef\xbb\xbfid", 5, 64, "\"\\uFEFFid\"");
    expect_quote("a\xff\tb\0", 5, 64, "\"a\\xFF\\x09b\\x00\"");
    expect_quote("cut \xe2\x82", 6, 64, "\"cut \\xE2\\x82\"");
    expect_quote("abcdefghijklmnopqrstuvwxyz", 26, 16, "\"abcdefghij...\"");
    expect_quote("abcdefghi\xe2\x82\xac", 12, 16, "\"abcdefghi...\"");
    expect_quote("abcdefghi\xe2\x82\xac", 12, 18, "\"abcdefghi\xe2\x82\xac\"");
}

static void test_trim_partial(void **state)
{
    char s[32];

    (void)state;
    strcpy(s, "ok \xe2\x82\xac");
    sa_text_trim_partial_utf8(s);
    assert_string_equal(s, "ok \xe2\x82\xac");
    strcpy(s, "cut \xe2\x82");
    sa_text_trim_partial_utf8(s);
    assert_string_equal(s, "cut ");
    strcpy(s, "cut \xf0\x9f\x98");
    sa_text_trim_partial_utf8(s);
    assert_string_equal(s, "cut ");
    strcpy(s, "cut \xc3");
    sa_text_trim_partial_utf8(s);
    assert_string_equal(s, "cut ");
    strcpy(s, "");
    sa_text_trim_partial_utf8(s);
    assert_string_equal(s, "");
}

/* sa_err_set cuts a long message on a character boundary. */
static void test_err_cut_on_boundary(void **state)
{
    char text[600] = "";
    struct sa_err err;
    size_t len;

    (void)state;
    for (int i = 0; i < 150; i++)
        strcat(text, "\xc3\xa9"); /* 300 bytes of two-byte characters */
    /* 255 bytes would end in the first byte of a character: it goes */
    sa_err_set(&err, SA_EIO, "xy%s", text);
    len = strlen(err.msg);
    assert_int_equal(len, SA_ERR_MSG_MAX - 2);
    assert_int_equal((unsigned char)err.msg[len - 1], 0xa9);
    sa_err_prefix(&err, "yz");
    len = strlen(err.msg);
    assert_int_equal(len, SA_ERR_MSG_MAX - 2);
    assert_int_equal(strncmp(err.msg, "yzxy\xc3\xa9", 6), 0);
    assert_int_equal((unsigned char)err.msg[len - 1], 0xa9);
    /* a message that fits is left alone */
    sa_err_set(&err, SA_EIO, "short \xc3");
    assert_string_equal(err.msg, "short \xc3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_trim_partial),
        cmocka_unit_test(test_err_cut_on_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
