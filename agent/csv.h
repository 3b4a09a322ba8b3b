/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An RFC 4180 CSV row parser that works on a caller's buffer and never
 * copies a field it does not have to.
 *
 * The caller keeps a window of the file in memory that starts at a row
 * boundary and asks for the next row. A row is complete only when its
 * terminating newline is in the window (or the file has ended), so a
 * half-written last line of a growing file is never consumed. Quoted
 * fields may hold delimiters, quotes written twice ("") and newlines; both
 * LF and CRLF end a row. Fields point into the window, or into the
 * parser's scratch buffer when a "" escape had to be undone: they stay
 * valid until the next call.
 *
 * Errors are per row: the row is reported with the reason and where it is
 * (line and byte column), and *consumed tells how far to skip, so one bad
 * row never stops the file.
 */
#ifndef SA_AGENT_CSV_H
#define SA_AGENT_CSV_H

#include "agent/base/buf.h"
#include "agent/base/error.h"

#include <stddef.h>
#include <stdint.h>

struct sa_csv_opts {
    char delimiter;       /* ',' ';' '\t' '|' */
    char quote;           /* '"' */
    size_t max_field;     /* longest field in bytes */
    size_t max_fields;    /* most fields in a row */
    int check_utf8;       /* reject invalid UTF-8 */
};

struct sa_csv_field {
    const char *p;
    size_t len;
};

struct sa_csv_row {
    struct sa_csv_field *fields; /* owned by the parser */
    size_t n_fields;
    int64_t line;  /* line number where the row starts, 1-based */
    int64_t lines; /* newlines consumed by the row */
};

/* Where a row failed: filled with SA_EPARSE. */
struct sa_csv_error {
    int64_t line;   /* 1-based */
    int64_t column; /* 1-based byte column in that line */
    size_t field;   /* 1-based field number */
    char reason[160];
};

struct field_ref;

struct sa_csv_parser {
    struct sa_csv_opts opts;
    int64_t line; /* line of the next row */
    struct sa_csv_field *fields;
    struct field_ref *refs; /* csv.c: fields in the scratch buffer, while parsing */
    size_t cap_fields;
    struct sa_buf scratch;
};

void sa_csv_opts_default(struct sa_csv_opts *opts);
int sa_csv_init(struct sa_csv_parser *p, const struct sa_csv_opts *opts);
void sa_csv_fini(struct sa_csv_parser *p);

/*
 * Parse the next row of buf[0, len). at_eof says no more bytes will come.
 *   SA_OK      *row is filled, *consumed bytes were used
 *   SA_EAGAIN  no complete row in the window: read more (or, at EOF, the
 *              window is empty)
 *   SA_EPARSE  the row is bad: *where says why, *consumed skips it
 */
int sa_csv_next(struct sa_csv_parser *p, const char *buf, size_t len, int at_eof,
                struct sa_csv_row *row, size_t *consumed,
                struct sa_csv_error *where);

/* 1 when s[0, len) is valid UTF-8 (no overlongs, no surrogates). */
int sa_utf8_valid(const char *s, size_t len);

#endif
