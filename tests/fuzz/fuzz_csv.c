/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the CSV row parser (agent/source/csv.c) and, through it,
 * the UTF-8 validator.
 *
 * Input: byte 0 picks the parser options, byte 1 seeds the window sizes,
 * the rest is the file. Seed files therefore start with two bytes; "0x"
 * gives the default options (see opts_from()).
 *
 * The same bytes are parsed three ways and every result is logged:
 *   A  the whole file in one window, at_eof = 1;
 *   B  the whole file with at_eof = 0 until the parser asks for more, then
 *      the rest with at_eof = 1;
 *   C  a window that grows by pseudo-random chunks, at_eof = 1 only once
 *      the last byte is in it, the way source_csv.c reads a growing file.
 * The three logs must be identical. And D: from every row start of A, the
 * skip scanner (sa_csv_skip_*, for rows longer than the window), fed in
 * pseudo-random pieces, must end the row where sa_csv_next did, over as
 * many lines, and call it a stray quote exactly when sa_csv_next did, at
 * the same line and column. Each window is copied into a heap block
 * of exactly its size, so ASan sees any read past its end. Each result must
 * keep the contract of csv.h: SA_OK and SA_EPARSE consume between 1 and the
 * window's length, fields lie inside the consumed row or the parser's
 * scratch buffer, SA_EAGAIN at EOF only for an empty window, and with
 * check_utf8 every field of a good row is valid UTF-8. sa_utf8_valid() is
 * also compared with a reference validator written from Unicode table 3-7.
 */
#include "agent/source/csv.h"
#include "tests/fuzz/fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable log of parse results; the harness's own memory, uncapped
 * because the input is bounded by -max_len. */
struct log {
    unsigned char *data;
    size_t len, cap;
};

static void log_put(struct log *l, const void *p, size_t n)
{
    if (l->len + n > l->cap) {
        size_t cap = l->cap ? l->cap : 1024;
        while (cap < l->len + n)
            cap *= 2;
        l->data = realloc(l->data, cap);
        CHECK(l->data != NULL);
        l->cap = cap;
    }
    if (n)
        memcpy(l->data + l->len, p, n);
    l->len += n;
}

static void log_int(struct log *l, int64_t v)
{
    log_put(l, &v, sizeof v);
}

static void opts_from(uint8_t b, struct sa_csv_opts *opts)
{
    static const char delims[] = {',', ';', '\t', '|'};

    sa_csv_opts_default(opts);
    opts->delimiter = delims[b & 3];
    opts->check_utf8 = !(b & 4);
    if (b & 8)
        opts->max_field = 8; /* reach the field-length errors */
    if (b & 0x40)
        opts->max_fields = 4; /* and the field-count one */
    if (b & 0x80)
        opts->quote = '\'';
    /* bits 4 and 5 are free so that printable '0'..'3' mean the defaults */
}

static int within(const char *p, size_t len, const void *base, size_t base_len)
{
    const char *b = base;
    return b && p >= b && len <= base_len && (size_t)(p - b) <= base_len - len;
}

/*
 * One call on a private copy of win[0, len): check the contract and log the
 * result. Returns the rc; *consumed as the parser said.
 */
static int next_logged(struct sa_csv_parser *p, const char *win, size_t len, int at_eof,
                       struct log *out, size_t *consumed)
{
    struct sa_csv_row row;
    struct sa_csv_error where;
    char *copy = malloc(len ? len : 1);
    int rc;

    CHECK(copy != NULL);
    memcpy(copy, win, len);
    memset(&where, 0, sizeof where);
    rc = sa_csv_next(p, copy, len, at_eof, &row, consumed, &where);
    if (rc == SA_EAGAIN) {
        CHECK(*consumed == 0);
        CHECK(!at_eof || len == 0);
        free(copy);
        return rc;
    }
    CHECK(rc == SA_OK || rc == SA_EPARSE);
    CHECK(*consumed > 0 && *consumed <= len);
    log_int(out, rc);
    log_int(out, (int64_t)*consumed);
    if (rc == SA_OK) {
        log_int(out, row.line);
        log_int(out, row.lines);
        log_int(out, (int64_t)row.n_fields);
        CHECK(row.n_fields >= 1 && row.n_fields <= p->opts.max_fields);
        for (size_t i = 0; i < row.n_fields; i++) {
            const struct sa_csv_field *f = &row.fields[i];
            CHECK(f->len <= p->opts.max_field);
            CHECK(within(f->p, f->len, copy, *consumed) ||
                  within(f->p, f->len, p->scratch.data, p->scratch.len));
            if (p->opts.check_utf8)
                CHECK(sa_utf8_valid(f->p, f->len));
            log_int(out, (int64_t)f->len);
            log_put(out, f->p, f->len);
        }
    } else {
        CHECK(where.line >= 1 && where.column >= 1 && where.field >= 1);
        CHECK(memchr(where.reason, '\0', sizeof where.reason) != NULL);
        CHECK(where.reason[0] != '\0');
        log_int(out, where.line);
        log_int(out, where.column);
        log_int(out, (int64_t)where.field);
        log_put(out, where.reason, strlen(where.reason));
    }
    free(copy);
    return rc;
}

/* A: everything at once. */
static void parse_whole(const struct sa_csv_opts *opts, const char *buf, size_t len,
                        struct log *out)
{
    struct sa_csv_parser p;
    size_t pos = 0, consumed;

    CHECK(sa_csv_init(&p, opts) == SA_OK);
    while (next_logged(&p, buf + pos, len - pos, 1, out, &consumed) != SA_EAGAIN)
        pos += consumed;
    CHECK(pos == len);
    sa_csv_fini(&p);
}

/* B: not at EOF until the parser asks for more, then at EOF. */
static void parse_whole_then_eof(const struct sa_csv_opts *opts, const char *buf,
                                 size_t len, struct log *out)
{
    struct sa_csv_parser p;
    size_t pos = 0, consumed;

    CHECK(sa_csv_init(&p, opts) == SA_OK);
    while (next_logged(&p, buf + pos, len - pos, 0, out, &consumed) != SA_EAGAIN)
        pos += consumed;
    while (next_logged(&p, buf + pos, len - pos, 1, out, &consumed) != SA_EAGAIN)
        pos += consumed;
    CHECK(pos == len);
    sa_csv_fini(&p);
}

/* C: a window [start, avail) that grows by chunks of 1..64 bytes. */
static void parse_chunked(const struct sa_csv_opts *opts, const char *buf, size_t len,
                          uint32_t seed, struct log *out)
{
    struct sa_csv_parser p;
    size_t start = 0, avail = 0, consumed;

    CHECK(sa_csv_init(&p, opts) == SA_OK);
    for (;;) {
        int at_eof = avail == len;
        int rc = next_logged(&p, buf + start, avail - start, at_eof, out, &consumed);
        if (rc != SA_EAGAIN) {
            start += consumed;
            continue;
        }
        if (at_eof)
            break;
        seed = seed * 1103515245u + 12345u;
        avail += 1 + (seed >> 16) % 64;
        if (avail > len)
            avail = len;
    }
    CHECK(start == len);
    sa_csv_fini(&p);
}

/* D: the skip scanner agrees with sa_csv_next on where every row ends. */
static void skip_agrees(const struct sa_csv_opts *opts, const char *buf, size_t len,
                        uint32_t seed)
{
    struct sa_csv_parser p;
    size_t pos = 0;

    CHECK(sa_csv_init(&p, opts) == SA_OK);
    for (;;) {
        struct sa_csv_row row;
        struct sa_csv_error where;
        struct sa_csv_skip skip;
        struct sa_csv_skipped out;
        size_t consumed, fed = pos;
        int64_t line = p.line;
        int rc = sa_csv_next(&p, buf + pos, len - pos, 1, &row, &consumed, &where);
        int src = SA_EAGAIN;

        if (rc == SA_EAGAIN)
            break;
        sa_csv_skip_begin(&skip, (int64_t)pos, line);
        while (src == SA_EAGAIN && fed < len) {
            size_t n;
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % 97;
            if (n > len - fed)
                n = len - fed;
            src = sa_csv_skip_feed(&p, &skip, buf + fed, n, 0, &out);
            fed += n;
        }
        if (src == SA_EAGAIN)
            src = sa_csv_skip_feed(&p, &skip, "", 0, 1, &out);
        CHECK(src == SA_OK);
        CHECK(out.end == (int64_t)(pos + consumed));
        CHECK(out.lines == row.lines);
        CHECK(!out.stray || rc == SA_EPARSE);
        if (out.stray)
            CHECK(out.where.line == where.line && out.where.column == where.column);
        else
            CHECK(rc == SA_OK || strstr(where.reason, "opens field") == NULL);
        pos += consumed;
    }
    sa_csv_fini(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sa_csv_opts opts;
    struct log a = {0}, b = {0}, c = {0};
    const char *text;
    size_t len;

    if (size < 2)
        return 0;
    opts_from(data[0], &opts);
    text = (const char *)data + 2;
    len = size - 2;

    CHECK(sa_utf8_valid(text, len) == utf8_reference((const unsigned char *)text, len));

    parse_whole(&opts, text, len, &a);
    parse_whole_then_eof(&opts, text, len, &b);
    parse_chunked(&opts, text, len, data[1], &c);
    skip_agrees(&opts, text, len, data[1]);
    CHECK(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
    CHECK(a.len == c.len && (a.len == 0 || memcmp(a.data, c.data, a.len) == 0));
    free(a.data);
    free(b.data);
    free(c.data);
    return 0;
}
