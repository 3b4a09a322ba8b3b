/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The strict parser of ClickHouse's HTTP error body (ch_error.h). It
 * walks the frame by hand: "Code: " digits, then the 18.16 form (the last
 * ", e.what() = " ends the message, because the message itself may hold
 * newlines and commas) or the newer ". " form, whose message ends with an
 * optional " (NAME)" and " (version V)". The message is copied through
 * copy_message, which makes it one bounded line of valid UTF-8.
 */
#include "sync/sink/ch_error.h"

#include <string.h>

#define DISPLAY_SEP ", e.displayText() = "
#define WHAT_SEP ", e.what() = "
#define EXC_PREFIX "DB::Exception: "
#define ELLIPSIS "..."

static int fail(struct sa_err *err, const char *reason)
{
    return sa_err_set(err, SA_EPARSE, "not a ClickHouse error body: %s", reason);
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Length of the well-formed UTF-8 sequence at p[0, n) (Unicode table
 * 3-7), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return need;
}

/* Copy p[0, n) into out (size SA_CH_MESSAGE_MAX) as one line: runs of
 * whitespace and control characters become one space, bad UTF-8 bytes
 * '?', no space at either end, cut at a character boundary to end in
 * "..." when it does not fit. Returns the length written. */
static size_t copy_message(const unsigned char *p, size_t n, char *out)
{
    const size_t room = SA_CH_MESSAGE_MAX - 1;
    size_t o = 0, i = 0, cut = 0;
    int space = 0, truncated = 0;

    while (i < n) {
        unsigned char c = p[i];
        size_t len;
        if (c < 0x20 || c == 0x7f || is_space(c)) {
            space = o > 0;
            i++;
            continue;
        }
        len = utf8_len(p + i, n - i);
        if (o + (size_t)space + (len ? len : 1) > room) {
            truncated = 1;
            break;
        }
        if (space) {
            out[o++] = ' ';
            space = 0;
        }
        if (len == 0) {
            out[o++] = '?';
            i++;
        } else {
            memcpy(out + o, p + i, len);
            o += len;
            i += len;
        }
        /* Where to cut for the ellipsis: the last boundary that leaves
         * room for it. */
        if (o + strlen(ELLIPSIS) <= room)
            cut = o;
    }
    if (truncated) {
        o = cut;
        while (o > 0 && out[o - 1] == ' ')
            o--;
        memcpy(out + o, ELLIPSIS, strlen(ELLIPSIS));
        o += strlen(ELLIPSIS);
    }
    out[o] = '\0';
    return o;
}

/* The last occurrence of needle in p[0, n), or NULL. */
static const unsigned char *find_last(const unsigned char *p, size_t n,
                                      const char *needle)
{
    size_t m = strlen(needle);

    if (n < m)
        return NULL;
    for (size_t i = n - m + 1; i > 0; i--)
        if (memcmp(p + i - 1, needle, m) == 0)
            return p + i - 1;
    return NULL;
}

static int starts_with(const unsigned char *p, size_t n, const char *prefix)
{
    size_t m = strlen(prefix);
    return n >= m && memcmp(p, prefix, m) == 0;
}

/* "(at row N)" in the message: N (1 to 2^62), else 0. */
static int64_t row_of(const char *msg)
{
    const char *p = strstr(msg, "(at row ");
    int64_t row = 0;

    if (!p)
        return 0;
    p += strlen("(at row ");
    if (*p < '1' || *p > '9')
        return 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (row > ((int64_t)1 << 62) / 10)
            return 0;
        row = row * 10 + (*p - '0');
    }
    return *p == ')' ? row : 0;
}

/* The newer form's tail: " (version V)" then " (NAME)", each optional,
 * taken off the end of p[0, *n). */
static void strip_newer_tail(const unsigned char *p, size_t *n, char *name)
{
    size_t end = *n;

    if (end > 0 && p[end - 1] == ')') {
        /* "(version 23.8.2.7 (official build))": nested, one line. */
        const unsigned char *open = find_last(p, end, " (version ");
        if (open && !memchr(open, '\n', (size_t)(p + end - open))) {
            end = (size_t)(open - p);
            while (end > 0 && is_space(p[end - 1]))
                end--;
        }
    }
    if (end > 0 && p[end - 1] == ')') {
        size_t i = end - 1;
        while (i > 0 && ((p[i - 1] >= 'A' && p[i - 1] <= 'Z') ||
                         (p[i - 1] >= '0' && p[i - 1] <= '9') || p[i - 1] == '_'))
            i--;
        size_t len = end - 1 - i;
        if (len > 0 && len < SA_CH_NAME_MAX && i >= 2 && p[i - 1] == '(' &&
            p[i - 2] == ' ' && p[i] >= 'A' && p[i] <= 'Z') {
            memcpy(name, p + i, len);
            name[len] = '\0';
            end = i - 2;
        }
    }
    *n = end;
}

int sa_ch_error_parse(const void *body, size_t len, struct sa_ch_error *out,
                      struct sa_err *err)
{
    const unsigned char *p = body, *msg, *end;
    size_t i, n_msg;
    int code = 0;

    memset(out, 0, sizeof *out);
    if (len == 0)
        return fail(err, "the body is empty");
    if (!starts_with(p, len, "Code: "))
        return fail(err, "it does not start with \"Code: \"");
    i = strlen("Code: ");
    if (i >= len || p[i] < '0' || p[i] > '9')
        return fail(err, "no number after \"Code: \"");
    for (size_t digits = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
        if (digits == 5)
            return fail(err, "the code has more than 5 digits");
        code = code * 10 + (p[i] - '0');
    }
    /* Trailing whitespace belongs to neither form. */
    end = p + len;
    while (end > p + i && is_space(end[-1]))
        end--;

    if (starts_with(p + i, (size_t)(end - p) - i, DISPLAY_SEP)) {
        const unsigned char *what;
        msg = p + i + strlen(DISPLAY_SEP);
        what = find_last(msg, (size_t)(end - msg), WHAT_SEP);
        if (!what)
            return fail(err, "\", e.what() = \" is missing after the message");
        for (const unsigned char *w = what + strlen(WHAT_SEP); w < end; w++)
            if (*w == '\n' || *w == '\r')
                return fail(err, "the e.what() part is more than one line");
        if (what + strlen(WHAT_SEP) == end)
            return fail(err, "the e.what() part is empty");
        n_msg = (size_t)(what - msg);
    } else if (starts_with(p + i, (size_t)(end - p) - i, ". ")) {
        msg = p + i + 2;
        n_msg = (size_t)(end - msg);
        strip_newer_tail(msg, &n_msg, out->name);
    } else {
        return fail(err, "the code is followed by neither \", e.displayText() = \" "
                         "nor \". \"");
    }
    if (starts_with(msg, n_msg, EXC_PREFIX)) {
        msg += strlen(EXC_PREFIX);
        n_msg -= strlen(EXC_PREFIX);
    }
    if (copy_message(msg, n_msg, out->message) == 0) {
        memset(out, 0, sizeof *out);
        return fail(err, "the message is empty");
    }
    out->code = code;
    out->row = row_of(out->message);
    return SA_OK;
}

int sa_ch_error_is_row_error(int code)
{
    /* ClickHouse's ErrorCodes.cpp: parse and type errors of input data. */
    static const int row_codes[] = {
        6,   /* CANNOT_PARSE_TEXT */
        16,  /* NO_SUCH_COLUMN_IN_TABLE */
        25,  /* CANNOT_PARSE_ESCAPE_SEQUENCE */
        26,  /* CANNOT_PARSE_QUOTED_STRING */
        27,  /* CANNOT_PARSE_INPUT_ASSERTION_FAILED */
        32,  /* ATTEMPT_TO_READ_AFTER_EOF */
        33,  /* CANNOT_READ_ALL_DATA */
        38,  /* CANNOT_PARSE_DATE */
        41,  /* CANNOT_PARSE_DATETIME */
        53,  /* TYPE_MISMATCH */
        69,  /* ARGUMENT_OUT_OF_BOUND */
        70,  /* CANNOT_CONVERT_TYPE */
        72,  /* CANNOT_PARSE_NUMBER */
        117, /* INCORRECT_DATA */
        131, /* TOO_LARGE_STRING_SIZE */
        190, /* SIZES_OF_ARRAYS_DOESNT_MATCH */
        321, /* VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE */
        349, /* CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN */
        376, /* CANNOT_PARSE_UUID */
    };
    for (size_t i = 0; i < sizeof row_codes / sizeof row_codes[0]; i++)
        if (row_codes[i] == code)
            return 1;
    return 0;
}
