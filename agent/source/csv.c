/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 4180 row parser; see csv.h for the contract.
 *
 * This runs over every byte of every file, so the common case is kept
 * short:
 *   - a row without any quote character, wholly in the window, is split in
 *     one pass over 16-byte blocks with SSE2 (part of the x86-64
 *     baseline): one load gives the block's delimiters and newlines as a
 *     bit mask, each set bit ends a field (simple_row). Any other row, and
 *     every row where SSE2 is not available, goes the general way below,
 *     which gives the same result for the rows simple_row takes;
 *   - there, an unquoted field is scanned 16 bytes at a time for the
 *     delimiter and the newline (a byte loop without SSE2); the same load
 *     says whether any byte is >= 0x80, and only then is the field checked
 *     as UTF-8;
 *   - a newline can sit inside a row only in a quoted field, so a row
 *     without one counts one line (or none, at the end of the file)
 *     without its bytes being read again;
 *   - fields that point into the window are written straight into the
 *     row; only the few unescaped into the scratch buffer, which may move
 *     as it grows, are noted as offsets and pointed at once the row is
 *     complete.
 */
#include "agent/source/csv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -DSA_CSV_NO_SSE2 builds the portable paths on x86-64 too, to test them. */
#if defined(__SSE2__) && !defined(SA_CSV_NO_SSE2)
#define CSV_SSE2 1
#include <emmintrin.h>
#else
#define CSV_SSE2 0
#endif

#if CSV_SSE2
/*
 * c in all 16 bytes. Made from a 32-bit value, not with _mm_set1_epi8:
 * gcc keeps the delimiter spilled as a byte on the stack and loads it
 * into the vector register 4 bytes wide, and a load wider than the store
 * before it cannot be forwarded -- it stalled until the store reached the
 * cache: up to half of sa_csv_next's time in `syncagent import`.
 */
static inline __m128i splat(char c)
{
    return _mm_set1_epi32((int)(0x01010101u * (unsigned char)c));
}
#endif

/* A field whose text is in the scratch buffer: fields[field] gets its
 * pointer, scratch.data + off, once the row is complete. */
struct field_ref {
    size_t field;
    size_t off;
};

void sa_csv_opts_default(struct sa_csv_opts *opts)
{
    opts->delimiter = ',';
    opts->quote = '"';
    opts->max_field = 64 * 1024;
    opts->max_fields = 1024;
    opts->check_utf8 = 1;
}

int sa_csv_init(struct sa_csv_parser *p, const struct sa_csv_opts *opts)
{
    memset(p, 0, sizeof *p);
    p->opts = *opts;
    p->line = 1;
    /* The unescaped fields of one row: each at most max_field, and the
     * row at most max_fields of them (and never more than the caller's
     * window holds). */
    sa_buf_init(&p->scratch, opts->max_fields <= SIZE_MAX / 4 / (opts->max_field + 1)
                                 ? opts->max_fields * (opts->max_field + 1) + 64
                                 : SIZE_MAX / 4);
    p->cap_fields = 32;
    p->fields = malloc(p->cap_fields * sizeof *p->fields);
    p->refs = malloc(p->cap_fields * sizeof *p->refs);
    p->quoted = malloc(p->cap_fields);
    return p->fields && p->refs && p->quoted ? SA_OK : SA_ENOMEM;
}

void sa_csv_fini(struct sa_csv_parser *p)
{
    if (!p)
        return;
    free(p->fields);
    free(p->refs);
    free(p->quoted);
    p->fields = NULL;
    p->refs = NULL;
    p->quoted = NULL;
    sa_buf_fini(&p->scratch);
}

int sa_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    const unsigned char *end = s + len;

    while (s < end) {
        unsigned char c = *s;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            s++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - s) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        s += n + 1;
    }
    return 1;
}

/* The first problem of a row; parsing goes on to find the row's end.
 * Only has_error is set up front: the rest is written with the error. */
struct row_state {
    int has_error;
    size_t error_pos;
    size_t error_field;
    char reason[256];
};

static void row_error(struct row_state *rs, size_t pos, size_t field, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

static void row_error(struct row_state *rs, size_t pos, size_t field, const char *fmt,
                      ...)
{
    va_list ap;

    if (rs->has_error)
        return;
    rs->has_error = 1;
    rs->error_pos = pos;
    rs->error_field = field;
    va_start(ap, fmt);
    vsnprintf(rs->reason, sizeof rs->reason, fmt, ap);
    va_end(ap);
}

static void fill_where(const struct sa_csv_parser *p, const char *buf,
                       const struct row_state *rs, struct sa_csv_error *where)
{
    int64_t line = p->line;
    size_t line_start = 0;

    for (size_t i = 0; i < rs->error_pos; i++)
        if (buf[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    where->line = line;
    where->column = (int64_t)(rs->error_pos - line_start) + 1;
    where->field = rs->error_field;
    memcpy(where->reason, rs->reason, sizeof where->reason);
}

static int64_t count_newlines(const char *s, size_t len)
{
    int64_t n = 0;
    const char *end = s + len;
    while ((s = memchr(s, '\n', (size_t)(end - s))) != NULL) {
        n++;
        s++;
    }
    return n;
}

/* Room for one more field than the cap_fields there are. */
static int grow_fields(struct sa_csv_parser *p)
{
    size_t cap = p->cap_fields * 2;
    struct sa_csv_field *v = realloc(p->fields, cap * sizeof *v);
    struct field_ref *r = realloc(p->refs, cap * sizeof *r);
    unsigned char *q = realloc(p->quoted, cap);

    if (v)
        p->fields = v;
    if (r)
        p->refs = r;
    if (q)
        p->quoted = q;
    if (!v || !r || !q)
        return SA_ENOMEM;
    p->cap_fields = cap;
    return SA_OK;
}

/*
 * The end of an unquoted field that starts at pos: the index of the first
 * delimiter or newline in buf[pos, len), or len when there is none.
 * *high says whether a byte before that index is >= 0x80. Never reads at
 * or past buf[len].
 */
static inline size_t scan_unquoted(const char *buf, size_t pos, size_t len, char delim,
                                   int *high)
{
    unsigned top_bits = 0;

#if CSV_SSE2
    const __m128i delims = splat(delim), newlines = splat('\n');
    while (len - pos >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(buf + pos));
        unsigned stop = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, delims), _mm_cmpeq_epi8(v, newlines)));
        unsigned top = (unsigned)_mm_movemask_epi8(v); /* bit i: byte i >= 0x80 */
        if (stop) {
            unsigned at = (unsigned)__builtin_ctz(stop);
            top_bits |= top & ((1u << at) - 1);
            *high = top_bits != 0;
            return pos + at;
        }
        top_bits |= top;
        pos += 16;
    }
#endif
    /* The portable loop, and the last bytes of the window. */
    for (; pos < len && buf[pos] != delim && buf[pos] != '\n'; pos++)
        top_bits |= (unsigned char)buf[pos] & 0x80u;
    *high = top_bits != 0;
    return pos;
}

#if CSV_SSE2
/*
 * The common row in one pass over 16-byte blocks: the stops (delimiters
 * and newlines) of a block come out of one load as a bit mask, each set
 * bit ends a field. Taken only when the row has no quote character at
 * all, not too many fields, no field longer than max_field, valid UTF-8,
 * and its newline in a block wholly inside the window. Fills p->fields
 * and returns the row's length with its newline, or 0 for any other row,
 * which sa_csv_next then parses the general way -- the way that gives
 * the same fields for every row this takes.
 */
static size_t simple_row(struct sa_csv_parser *p, const char *buf, size_t len,
                         size_t *n_fields)
{
    const __m128i delims = splat(p->opts.delimiter);
    const __m128i newlines = splat('\n'), quotes = splat(p->opts.quote);
    struct sa_csv_field *fields = p->fields;
    const size_t max_field = p->opts.max_field;
    const size_t max_fields =
        p->opts.max_fields < p->cap_fields ? p->opts.max_fields : p->cap_fields;
    /* Bytes >= 0x80 matter only for the UTF-8 check. */
    const unsigned top_mask = p->opts.check_utf8 ? 0xFFFFu : 0;
    size_t field_start = 0, n = 0;
    int carry = 0; /* a byte >= 0x80 in the field, in the blocks before */

    for (size_t block = 0; len - block >= 16; block += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(buf + block));
        unsigned nl = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, newlines));
        unsigned stops = nl | (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, delims));
        unsigned quoted = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quotes));
        /* bit i: byte i >= 0x80; bits of the fields that end in this
         * block are cleared as they end */
        unsigned top = (unsigned)_mm_movemask_epi8(v) & top_mask;

        /* a quote up to the row's newline: the general way */
        if (quoted & (nl ? (2u << __builtin_ctz(nl)) - 1 : 0xFFFFu))
            return 0;
        for (; stops; stops &= stops - 1) {
            unsigned at = (unsigned)__builtin_ctz(stops);
            size_t end = block + at, flen = end - field_start;
            int last = (nl >> at) & 1;

            if (last && flen > 0 && buf[end - 1] == '\r')
                flen--;
            if (n == max_fields || flen > max_field)
                return 0;
            if (carry | top) { /* rare: non-ASCII text in the block */
                if ((carry || (top & ((1u << at) - 1))) &&
                    !sa_utf8_valid(buf + field_start, flen))
                    return 0;
                carry = 0;
                top &= ~((2u << at) - 1);
            }
            fields[n].p = buf + field_start;
            fields[n].len = flen;
            n++;
            if (last) {
                *n_fields = n;
                return end + 1;
            }
            field_start = end + 1;
        }
        carry |= top != 0;
    }
    return 0;
}
#endif

/* The line and 1-based byte column of buf[pos], counting from the parser's
 * line at buf[0]. */
static void line_column(const struct sa_csv_parser *p, const char *buf, size_t pos,
                        int64_t *line, int64_t *column)
{
    int64_t l = p->line;
    size_t line_start = 0;

    for (const char *nl = buf;
         (nl = memchr(nl, '\n', pos - (size_t)(nl - buf))) != NULL; nl++) {
        l++;
        line_start = (size_t)(nl - buf) + 1;
    }
    *line = l;
    *column = (int64_t)(pos - line_start) + 1;
}

/*
 * A quote at buf[quote_pos] that opens field `field` did not open a field
 * (csv.h): it never closes (close_pos == SIZE_MAX), or the quote at
 * close_pos is followed by buf[close_pos + 1], neither a delimiter nor a
 * line end, after a newline. The row is rejected up to the end of the
 * line that holds the opening quote, and parsing resumes after it.
 */
static int stray_quote(struct sa_csv_parser *p, const char *buf, size_t len,
                       size_t quote_pos, size_t field, size_t close_pos,
                       struct sa_csv_row *row, size_t *consumed,
                       struct sa_csv_error *where)
{
    const char *nl = memchr(buf + quote_pos, '\n', len - quote_pos);
    size_t end = nl ? (size_t)(nl - buf) + 1 : len;

    line_column(p, buf, quote_pos, &where->line, &where->column);
    where->field = field;
    if (close_pos == SIZE_MAX) {
        snprintf(where->reason, sizeof where->reason,
                 "unterminated quoted field: the quote that opens field %zu never "
                 "closes before the end of the file; it opened no field",
                 field);
    } else {
        int64_t cl, cc;
        unsigned char after = (unsigned char)buf[close_pos + 1];
        line_column(p, buf, close_pos, &cl, &cc);
        snprintf(where->reason, sizeof where->reason,
                 "unterminated quoted field: the quote that opens field %zu is closed "
                 "at line %lld column %lld by a quote followed by %s%c%s (0x%02x), not "
                 "a delimiter or a line end; it opened no field",
                 field, (long long)cl, (long long)cc,
                 after >= 0x20 && after < 0x7f ? "'" : "",
                 after >= 0x20 && after < 0x7f ? after : ' ',
                 after >= 0x20 && after < 0x7f ? "'" : "", after);
    }
    *consumed = end;
    row->fields = p->fields;
    row->n_fields = 0;
    row->quoted = NULL;
    row->line = p->line;
    row->lines = count_newlines(buf, end);
    p->line += row->lines;
    return SA_EPARSE;
}

/* Add part of a quoted field, unescaped, to the scratch buffer, where the
 * field began at scratch_off. 1 when the field grows past max_field (or
 * memory runs out): the row's error is set and the field is no longer kept. */
static int scratch_add(struct sa_csv_parser *p, struct row_state *rs, const char *part,
                       size_t n, size_t scratch_off, size_t field_pos, size_t field)
{
    if (p->scratch.len - scratch_off + n > p->opts.max_field) {
        row_error(rs, field_pos, field, "field longer than %zu bytes",
                  p->opts.max_field);
        return 1;
    }
    if (sa_buf_append(&p->scratch, part, n) != SA_OK) {
        row_error(rs, field_pos, field, "out of memory unescaping a quoted field");
        return 1;
    }
    return 0;
}

int sa_csv_next(struct sa_csv_parser *p, const char *buf, size_t len, int at_eof,
                struct sa_csv_row *row, size_t *consumed, struct sa_csv_error *where)
{
    const char delim = p->opts.delimiter, quote = p->opts.quote;
    struct row_state rs;
    size_t pos = 0, n = 0, n_refs = 0;
    int quoted = 0; /* the row has a quoted field: newlines may be inside */
    char term;      /* what ended the last field: delimiter, '\n' or 0 at the end */

    *consumed = 0;
    if (len == 0)
        return SA_EAGAIN;
#if CSV_SSE2
    if (delim != '\n' && (pos = simple_row(p, buf, len, &n)) > 0) {
        *consumed = pos;
        row->fields = p->fields;
        row->n_fields = n;
        row->quoted = NULL;
        row->line = p->line++;
        row->lines = 1;
        return SA_OK;
    }
#endif
    rs.has_error = 0;
    sa_buf_reset(&p->scratch);

    for (;;) {
        size_t field_pos = pos; /* where the field starts in the window */
        size_t off, flen;
        int in_scratch = 0;
        int scratch_full = 0; /* an unescaped field did not fit */
        int high = 0;         /* a byte >= 0x80: check UTF-8 */
        int is_quoted = 0;

        if (pos < len && buf[pos] == quote) {
            size_t seg = ++pos;
            size_t scratch_off = p->scratch.len;
            quoted = is_quoted = 1;
            for (;;) {
                const char *q = memchr(buf + pos, quote, len - pos);
                size_t qi;
                if (!q) {
                    if (!at_eof)
                        return SA_EAGAIN;
                    return stray_quote(p, buf, len, field_pos, n + 1, SIZE_MAX, row,
                                       consumed, where);
                }
                qi = (size_t)(q - buf);
                if (qi + 1 == len && !at_eof)
                    return SA_EAGAIN; /* a closing quote, or the first of ""? */
                if (qi + 1 < len && buf[qi + 1] == quote) {
                    /* "" stands for one quote: keep what came before it.
                     * A field past max_field is still read to its closing
                     * quote, which says where the row ends (csv.h). */
                    if (!scratch_full)
                        scratch_full = scratch_add(p, &rs, buf + seg, qi + 1 - seg,
                                                   scratch_off, field_pos, n + 1);
                    in_scratch = 1;
                    pos = seg = qi + 2;
                    continue;
                }
                if (in_scratch) {
                    if (!scratch_full)
                        scratch_full = scratch_add(p, &rs, buf + seg, qi - seg,
                                                   scratch_off, field_pos, n + 1);
                    off = scratch_off;
                    flen = p->scratch.len - scratch_off;
                    if (scratch_full) {
                        /* The row is rejected; its field must still not
                         * point into a scratch buffer that never got it
                         * (scratch.data is NULL when nothing fit). */
                        in_scratch = 0;
                        off = field_pos;
                        flen = 0;
                    }
                } else {
                    off = seg;
                    flen = qi - seg;
                }
                for (size_t i = field_pos; i < qi; i++)
                    high |= (unsigned char)buf[i] >= 0x80;
                pos = qi + 1;
                break;
            }
            /* After the closing quote: a delimiter, a newline or the end. */
            if (pos < len && buf[pos] != delim && buf[pos] != '\n' &&
                !(buf[pos] == '\r' && (pos + 1 == len || buf[pos + 1] == '\n'))) {
                /* Across a newline, that closing quote is more likely the
                 * stray opening quote of a later line than the end of
                 * this field: the row is this line (csv.h). */
                if (memchr(buf + field_pos, '\n', pos - field_pos))
                    return stray_quote(p, buf, len, field_pos, n + 1, pos - 1, row,
                                       consumed, where);
                row_error(&rs, pos, n + 1,
                          "unexpected character after a closing quote");
                while (pos < len && buf[pos] != delim && buf[pos] != '\n')
                    pos++;
            }
            if (pos < len && buf[pos] == '\r')
                pos++;
            if (pos == len && !at_eof)
                return SA_EAGAIN;
        } else {
            pos = scan_unquoted(buf, pos, len, delim, &high);
            if (pos == len && !at_eof)
                return SA_EAGAIN;
            off = field_pos;
            flen = pos - field_pos;
            if ((pos == len || buf[pos] == '\n') && flen > 0 && buf[pos - 1] == '\r')
                flen--;
        }
        term = pos < len ? buf[pos] : 0;

        if (flen > p->opts.max_field)
            row_error(&rs, field_pos, n + 1, "field longer than %zu bytes (%zu)",
                      p->opts.max_field, flen);
        if (n == p->opts.max_fields) {
            row_error(&rs, field_pos, n + 1, "more than %zu fields",
                      p->opts.max_fields);
        } else {
            if (n == p->cap_fields && grow_fields(p))
                return SA_ENOMEM;
            if (in_scratch) {
                p->refs[n_refs].field = n;
                p->refs[n_refs].off = off;
                n_refs++;
                p->fields[n].p = NULL; /* pointed at below */
            } else {
                p->fields[n].p = buf + off;
            }
            p->fields[n].len = flen;
            p->quoted[n] = (unsigned char)is_quoted;
            n++;
        }
        if (high && p->opts.check_utf8 &&
            !sa_utf8_valid(in_scratch ? (const char *)p->scratch.data + off : buf + off,
                           flen))
            row_error(&rs, field_pos, n, "invalid UTF-8");

        if (term == delim) {
            pos++;
            continue;
        }
        if (term == '\n')
            pos++;
        break;
    }

    for (size_t i = 0; i < n_refs; i++)
        p->fields[p->refs[i].field].p = (const char *)p->scratch.data + p->refs[i].off;
    *consumed = pos;
    row->fields = p->fields;
    row->n_fields = n;
    row->quoted = quoted ? p->quoted : NULL;
    row->line = p->line;
    /* Outside quotes the only newline is the one that ends the row. */
    row->lines = quoted ? count_newlines(buf, pos) : term == '\n';
    if (rs.has_error) {
        fill_where(p, buf, &rs, where);
        p->line += row->lines;
        return SA_EPARSE;
    }
    p->line += row->lines;
    return SA_OK;
}

/* --- following a row that does not fit the window -------------------------- */

/*
 * The same grammar as sa_csv_next, one byte at a time and keeping no
 * bytes: only where fields and rows end and where a quoted field's
 * opening line ends. Rare (a row longer than the caller's window), so
 * kept plain rather than fast.
 */
enum skip_state {
    SKIP_FIELD,    /* at the start of a field */
    SKIP_UNQUOTED, /* in an unquoted field, or after a bad closing quote */
    SKIP_QUOTED,   /* in a quoted field */
    SKIP_QUOTE,    /* a quote in a quoted field: "" or its end? */
    SKIP_QUOTE_CR, /* a closing quote and a CR: a line end if LF follows */
};

void sa_csv_skip_begin(struct sa_csv_skip *s, int64_t start, int64_t line)
{
    memset(s, 0, sizeof *s);
    s->start = s->pos = s->line_start = start;
    s->line = line;
    s->state = SKIP_FIELD;
    s->quote_eol = -1;
}

int64_t sa_csv_skip_open_quote(const struct sa_csv_skip *s)
{
    return s->state == SKIP_QUOTED ? s->quote_at : -1;
}

static int skip_stray(const struct sa_csv_skip *s, int64_t close_at,
                      unsigned char after, struct sa_csv_skipped *out)
{
    out->stray = 1;
    out->end = s->quote_eol >= 0 ? s->quote_eol : s->pos;
    out->lines = s->quote_eol >= 0 ? s->quote_eol_lines : s->lines;
    out->where.line = s->quote_line;
    out->where.column = s->quote_column;
    out->where.field = 0;
    if (close_at < 0)
        snprintf(out->where.reason, sizeof out->where.reason,
                 "unterminated quoted field: the quote at line %lld column %lld never "
                 "closes before the end of the file; it opened no field",
                 (long long)s->quote_line, (long long)s->quote_column);
    else
        snprintf(out->where.reason, sizeof out->where.reason,
                 "unterminated quoted field: the quote at line %lld column %lld is "
                 "closed at byte %lld by a quote followed by 0x%02x, not a delimiter "
                 "or a line end; it opened no field",
                 (long long)s->quote_line, (long long)s->quote_column,
                 (long long)close_at, after);
    return SA_OK;
}

int sa_csv_skip_feed(const struct sa_csv_parser *p, struct sa_csv_skip *s,
                     const char *buf, size_t len, int at_eof,
                     struct sa_csv_skipped *out)
{
    const char delim = p->opts.delimiter, quote = p->opts.quote;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < len; i++) {
        const char c = buf[i];
        const int64_t at = s->pos + (int64_t)i;

        if (c == '\n') {
            s->lines++;
            s->line_start = at + 1;
            if (s->state == SKIP_QUOTED && s->quote_eol < 0) {
                s->quote_eol = at + 1;
                s->quote_eol_lines = s->lines;
            }
        }
        switch (s->state) {
        case SKIP_FIELD:
            if (c == quote) {
                s->state = SKIP_QUOTED;
                s->quote_at = at;
                s->quote_line = s->line + s->lines;
                s->quote_column = at - s->line_start + 1;
                s->quote_eol = -1;
                break;
            }
            s->state = SKIP_UNQUOTED;
            /* fall through */
        case SKIP_UNQUOTED:
            if (c == delim)
                s->state = SKIP_FIELD;
            else if (c == '\n')
                goto row_end;
            break;
        case SKIP_QUOTED:
            if (c == quote)
                s->state = SKIP_QUOTE;
            break;
        case SKIP_QUOTE:
            if (c == quote) {
                s->state = SKIP_QUOTED; /* "" */
                break;
            }
            if (c == '\r') {
                s->state = SKIP_QUOTE_CR;
                break;
            }
            /* fall through */
        case SKIP_QUOTE_CR:
            if (c == '\n')
                goto row_end;
            if (s->state == SKIP_QUOTE && c == delim) {
                s->state = SKIP_FIELD;
                break;
            }
            /* The closing quote is followed by something else. */
            if (s->quote_eol >= 0) {
                s->pos = at;
                return skip_stray(s, at - 1 - (s->state == SKIP_QUOTE_CR),
                                  (unsigned char)c, out);
            }
            s->bad = 1;
            s->state = c == delim ? SKIP_FIELD : SKIP_UNQUOTED;
            break;
        }
        continue;
    row_end:
        s->pos = at + 1;
        out->end = s->pos;
        out->lines = s->lines;
        return SA_OK;
    }
    s->pos += (int64_t)len;
    if (!at_eof)
        return SA_EAGAIN;
    if (s->state == SKIP_QUOTED)
        return skip_stray(s, -1, 0, out);
    out->end = s->pos;
    out->lines = s->lines;
    return SA_OK;
}
