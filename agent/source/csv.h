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
 *
 * Where a bad row ends. A quoted field may hold newlines, so a bad quote
 * decides how much of the file one row swallows. Two rules keep a stray
 * quote from taking the rows after it, and text inside a real quoted field
 * from ever being read as rows:
 *   - a quote that never closes (the file ends first), or that closes with
 *     a quote followed by anything but a delimiter or a line end after a
 *     newline inside the field, did not open a field: the row is the
 *     physical line that holds that opening quote (with the lines of the
 *     row before it), and parsing resumes at the line after it;
 *   - a quote that does close properly ends a field, however long: a field
 *     past max_field rejects its row, which ends where the row ends.
 * Deciding may need more bytes than the caller's window holds: a row that
 * does not fit is followed with sa_csv_skip_*, which keeps no bytes and
 * gives the same answer.
 */
#ifndef SA_AGENT_CSV_H
#define SA_AGENT_CSV_H

#include "agent/base/buf.h"
#include "agent/base/error.h"

#include <stddef.h>
#include <stdint.h>

struct sa_csv_opts {
    char delimiter;    /* ',' ';' '\t' '|' */
    char quote;        /* '"' */
    size_t max_field;  /* longest field in bytes */
    size_t max_fields; /* most fields in a row */
    int check_utf8;    /* reject invalid UTF-8 */
};

struct sa_csv_field {
    const char *p;
    size_t len;
};

struct sa_csv_row {
    struct sa_csv_field *fields; /* owned by the parser */
    size_t n_fields;
    /* NULL when no field of the row was quoted; else quoted[i] is 1 for a
     * field written in quotes ("" is the empty string, an unquoted empty
     * field is null). Owned by the parser. */
    const unsigned char *quoted;
    int64_t line;  /* line number where the row starts, 1-based */
    int64_t lines; /* newlines consumed by the row */
};

/* Where a row failed: filled with SA_EPARSE. */
struct sa_csv_error {
    int64_t line;   /* 1-based */
    int64_t column; /* 1-based byte column in that line */
    size_t field;   /* 1-based field number */
    char reason[256];
};

struct field_ref;

struct sa_csv_parser {
    struct sa_csv_opts opts;
    int64_t line; /* line of the next row */
    struct sa_csv_field *fields;
    struct field_ref *refs; /* csv.c: fields in the scratch buffer, while parsing */
    unsigned char *quoted;  /* per field: written in quotes */
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
                struct sa_csv_row *row, size_t *consumed, struct sa_csv_error *where);

/*
 * Following a row that does not fit in the caller's window, byte by byte
 * and keeping nothing: where it ends, or, for a bad quote (the rules
 * above), where parsing resumes. Offsets are the caller's (file offsets);
 * the parser's line is not touched.
 */
struct sa_csv_skip {
    int64_t start, line; /* the row: offset and first line */
    int64_t pos;         /* scanned up to here */
    int64_t lines;       /* newlines in [start, pos) */
    int64_t line_start;  /* offset of the line pos is on */
    int state;
    /* the quoted field being read: its opening quote, and the end of the
     * line that holds it (-1 until seen) with the newlines up to there */
    int64_t quote_at, quote_line, quote_column;
    int64_t quote_eol, quote_eol_lines;
    int bad; /* the row has a problem that does not move its end */
};

struct sa_csv_skipped {
    int64_t end;   /* the row, or the stray quote's line, ends here */
    int64_t lines; /* newlines in [start, end) */
    int stray;     /* 1: a stray quote; where says where and why */
    struct sa_csv_error where;
};

void sa_csv_skip_begin(struct sa_csv_skip *s, int64_t start, int64_t line);

/*
 * Scan buf[0, len), the bytes at s->pos. at_eof says they are the last.
 *   SA_EAGAIN  all of buf is scanned: call again with the bytes after it
 *   SA_OK      *out says where the row (or the stray quote's line) ends
 */
int sa_csv_skip_feed(const struct sa_csv_parser *p, struct sa_csv_skip *s,
                     const char *buf, size_t len, int at_eof,
                     struct sa_csv_skipped *out);

/* The file offset of the opening quote of the quoted field the scan is
 * inside of, or -1 when it is not inside one. */
int64_t sa_csv_skip_open_quote(const struct sa_csv_skip *s);

/* 1 when s[0, len) is valid UTF-8 (no overlongs, no surrogates). */
int sa_utf8_valid(const char *s, size_t len);

#endif
