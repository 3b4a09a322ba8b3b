/* SPDX-License-Identifier: Apache-2.0 */
/* Text from outside made fit for a message; see text.h. */
#include "agent/base/text.h"

#include <string.h>

size_t sa_utf8_seq_len(const unsigned char *s, size_t len)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t n;

    if (c <= 0x7F)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c == 0xE0)
        n = 3, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
        n = 3;
    else if (c == 0xED)
        n = 3, hi = 0x9F;
    else if (c == 0xF0)
        n = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
        n = 4;
    else if (c == 0xF4)
        n = 4, hi = 0x8F;
    else
        return 0;
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xBF)
            return 0;
    return n;
}

size_t sa_text_line(char *out, size_t n, const void *in, size_t len)
{
    const unsigned char *p = in;
    size_t o = 0, i = 0;
    int space = 0; /* a space is owed before the next character */

    while (i < len) {
        size_t seq = sa_utf8_seq_len(p + i, len - i);
        if (p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r')) {
            space = o > 0;
            i++;
            continue;
        }
        /* the character, or '?' for a byte that starts none */
        if (o + (size_t)space + (seq ? seq : 1) >= n)
            break;
        if (space)
            out[o++] = ' ';
        space = 0;
        if (seq == 1 && (p[i] < 0x20 || p[i] == 0x7F))
            seq = 0; /* a control character */
        if (seq) {
            memcpy(out + o, p + i, seq);
            o += seq;
            i += seq;
        } else {
            out[o++] = '?';
            i++;
        }
    }
    out[o] = '\0';
    return o;
}

size_t sa_text_quote(char *out, size_t n, const void *in, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = in;
    size_t o = 0, i = 0;

    /* room kept for '"', "..." and '"' after the last character, and NUL */
    if (n < 16) {
        if (n)
            out[0] = '\0';
        return 0;
    }
    out[o++] = '"';
    while (i < len) {
        size_t seq = sa_utf8_seq_len(p + i, len - i);
        int escape = !seq || (seq == 1 && (p[i] < 0x20 || p[i] == 0x7F));
        /* a byte order mark shows nothing: named, so that it is seen */
        int bom = seq == 3 && memcmp(p + i, "\xEF\xBB\xBF", 3) == 0;
        size_t width = escape ? 4 : bom ? 6 : seq;
        if (o + width + 5 > n)
            break;
        if (bom) {
            memcpy(out + o, "\\uFEFF", 6);
            o += 6;
            i += 3;
        } else if (escape) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[p[i] >> 4];
            out[o++] = hex[p[i] & 15];
            i++;
        } else {
            memcpy(out + o, p + i, seq);
            o += seq;
            i += seq;
        }
    }
    if (i < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
    return o;
}

void sa_text_trim_partial_utf8(char *s)
{
    size_t len = strlen(s), start = len;

    /* The last lead byte is at most 3 bytes back in a valid string. */
    while (start > 0 && len - start < 4 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0 || (unsigned char)s[start - 1] < 0xC0)
        return; /* ASCII, or no lead byte: nothing was cut */
    start--;
    if (sa_utf8_seq_len((const unsigned char *)s + start, len - start) != len - start)
        s[start] = '\0';
}
