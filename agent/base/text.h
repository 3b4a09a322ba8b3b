/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text from outside put into a message. What an upstream answers (a
 * registry's error message, the start of an HTML page, a parser's quote
 * of the bytes it choked on) goes into sa_err messages, logs and the
 * status page; there it must stay one readable line of valid UTF-8
 * however hostile the bytes were (DESIGN.md I6).
 */
#ifndef SA_BASE_TEXT_H
#define SA_BASE_TEXT_H

#include <stddef.h>

/*
 * Copy in[0, len) (any bytes, NULs included) into out (n > 0 bytes,
 * always NUL-terminated) as one line: valid UTF-8 sequences are kept;
 * each run of ASCII whitespace (space, \t \n \v \f \r) becomes one space,
 * none left at either end; every other control character, DEL and every
 * byte that is not part of valid UTF-8 becomes '?'. Stops before a
 * character that does not fit, so the result never ends inside a
 * sequence. Returns the length written.
 */
size_t sa_text_line(char *out, size_t n, const void *in, size_t len);

/*
 * A value quoted for a reason ("got \"...\""): in[0, len) between double
 * quotes into out (n >= 16 bytes, NUL-terminated). Valid UTF-8 is kept as
 * it is (Höhe), so that a person sees the value they wrote; a control
 * character, DEL and every byte that is not part of valid UTF-8 is
 * written \xNN, and a byte order mark, which shows nothing, \uFEFF.
 * Spaces are kept, also at the ends, so that " " is not shown as "". A
 * value that does not fit is cut on a character boundary
 * and ends in "...". Returns the length.
 */
size_t sa_text_quote(char *out, size_t n, const void *in, size_t len);

/* Cut s back so that it does not end inside a UTF-8 sequence (what
 * snprintf leaves when it truncates). */
void sa_text_trim_partial_utf8(char *s);

/* Length of the valid UTF-8 sequence at s[0, len) (Unicode table 3-7:
 * no overlong forms, no surrogates, nothing past U+10FFFF), or 0 when
 * the bytes there are not one. len must be > 0. */
size_t sa_utf8_seq_len(const unsigned char *s, size_t len);

#endif
