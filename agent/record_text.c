/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text into typed values (agent/record_text.h): the text coercion and the
 * strptime-style formats of the record setters, split out of record.c.
 * sa_record_set_text runs these once per field on the ingest path.
 */
#include "agent/record_text.h"

#include "agent/tz.h"
#include "store/schema.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- text coercion --------------------------------------------------------- */

/* A decimal integer, optional sign, nothing else. 0 ok, -1 not an integer,
 * -2 out of the int64 range (found at the first digit that overflows, so
 * "99999999999999999999x" is out of range, not "not an integer"). */
int sa_text_parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0, unchecked_end;
    int neg = 0;
    uint64_t v = 0, limit;

    if (len && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len)
        return -1;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    /* 18 digits stay below 10^18 < INT64_MAX: no overflow check for them. */
    unchecked_end = len - i > 18 ? i + 18 : len;
    for (; i < unchecked_end; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9)
            return -1;
        v = v * 10 + d;
    }
    for (; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9)
            return -1;
        if (v > (limit - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Powers of ten a double holds exactly. */
static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline int is_digit(char c)
{
    return (unsigned)(c - '0') <= 9;
}

static int is_word(const char *s, size_t len, const char *word, size_t word_len);

/* NaN, Infinity, Inf with an optional sign, any case (what Java, .NET,
 * Python and C print for them); -1 when s is none of those. */
static int parse_nonfinite(const char *s, size_t len, double *out)
{
    int neg = 0;

    if (len && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s++;
        len--;
    }
    if (is_word(s, len, "nan", 3))
        *out = neg ? -NAN : NAN;
    else if (is_word(s, len, "infinity", 8) || is_word(s, len, "inf", 3))
        *out = neg ? -INFINITY : INFINITY;
    else
        return -1;
    return 0;
}

/*
 * A decimal floating-point number: [+-] digits [. digits] [(e|E) [+-] digits]
 * with at least one mantissa digit, shorter than 64 characters -- what
 * strtod reads fully when hex floats are refused -- or NaN, Infinity and
 * -Infinity (parse_nonfinite): 0, else -1. A finite text out of the
 * double range (1e400) is refused with -2, not made infinite.
 * Mantissas up to 2^53 with a power of ten up to 22 either way are
 * exact in a double, so one multiplication or division gives the
 * correctly rounded value, the same as strtod (Clinger's fast path).
 * Anything else goes to strtod on a NUL-terminated copy.
 */
int sa_text_parse_double(const char *s, size_t len, double *out)
{
    char tmp[64];
    char *end;
    size_t i = 0;
    uint64_t mant = 0;
    int neg = 0, n_digits = 0, exp10 = 0, exact = 1;

    if (len == 0 || len >= sizeof tmp)
        return -1;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i++;
    }
    for (; i < len && is_digit(s[i]); i++, n_digits++) {
        if (mant > (UINT64_MAX - 9) / 10)
            exact = 0;
        else
            mant = mant * 10 + (unsigned)(s[i] - '0');
    }
    if (i < len && s[i] == '.')
        for (i++; i < len && is_digit(s[i]); i++, n_digits++) {
            if (mant > (UINT64_MAX - 9) / 10) {
                exact = 0;
            } else {
                mant = mant * 10 + (unsigned)(s[i] - '0');
                exp10--;
            }
        }
    if (n_digits == 0)
        return parse_nonfinite(s, len, out);
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0, e = 0;
        size_t start;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        for (start = i; i < len && is_digit(s[i]); i++)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        if (i == start)
            return -1;
        exp10 += eneg ? -e : e;
    }
    if (i != len)
        return -1;
    if (exact && mant <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mant;
        v = exp10 < 0 ? v / exact_pow10[-exp10] : v * exact_pow10[exp10];
        *out = neg ? -v : v;
        return 0;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    errno = 0;
    *out = strtod(tmp, &end);
    if (end != tmp + len)
        return -1;
    /* Digits that strtod took whole, but past the largest double. */
    if (!isfinite(*out))
        return -2;
    return 0;
}

/* s[0, len) is word (lower case), ignoring ASCII case as strncasecmp does
 * in the C locale the agent runs in. */
static int is_word(const char *s, size_t len, const char *word, size_t word_len)
{
    if (len != word_len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != word[i])
            return 0;
    }
    return 1;
}

int sa_text_parse_bool(const char *s, size_t len, int *out)
{
    if (is_word(s, len, "true", 4) || is_word(s, len, "1", 1) ||
        is_word(s, len, "yes", 3))
        *out = 1;
    else if (is_word(s, len, "false", 5) || is_word(s, len, "0", 1) ||
             is_word(s, len, "no", 2))
        *out = 0;
    else
        return -1;
    return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's algorithm: days since 1970-01-01, proleptic
     * Gregorian calendar. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int64_t days_of(struct day_memo *memo, unsigned year, unsigned mon, unsigned day)
{
    if (memo->mon != mon || memo->day != day || memo->year != year) {
        memo->days = days_from_civil(year, mon, day);
        memo->year = year;
        memo->mon = mon;
        memo->day = day;
    }
    return memo->days;
}

static int digits(const char *s, size_t len, size_t at, size_t n, unsigned *out)
{
    unsigned v = 0;
    if (at + n > len)
        return -1;
    for (size_t i = at; i < at + n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static const unsigned month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

static int is_leap(int64_t year)
{
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

static int valid_date(int64_t year, unsigned mon, unsigned day)
{
    return mon >= 1 && mon <= 12 && day >= 1 && day <= month_days[mon - 1] &&
           !(mon == 2 && day == 29 && !is_leap(year));
}

/* The UTC instant of a wall-clock time (seconds since the epoch as read
 * on the clock) in tz, UTC when tz is NULL. */
static inline int64_t local_to_utc(const struct sa_tz *tz, int64_t local)
{
    return tz ? local - sa_tz_offset_local(tz, local) : local;
}

/* ISO 8601: YYYY-MM-DD, optionally [T ]hh:mm[:ss[.fraction]] and a zone
 * (Z, +hh:mm, +hhmm, +hh). A time without a zone is in tz (the source's
 * timezone; NULL: UTC). The fraction is kept to the microsecond (more
 * digits are cut). -1 when the text is not of this shape, -2 when it is
 * but names no real date or time (2023-02-29, 24:30). */
int sa_text_parse_iso8601(const char *s, size_t len, struct day_memo *memo,
                          const struct sa_tz *tz, struct instant *out)
{
    unsigned year, mon, day, hh = 0, mm = 0, ss = 0, us = 0;
    size_t i = 10;
    int64_t offset_s = 0, local;
    int has_zone = 0, bad_day;

    if (digits(s, len, 0, 4, &year) || len < 10 || s[4] != '-' ||
        digits(s, len, 5, 2, &mon) || s[7] != '-' || digits(s, len, 8, 2, &day))
        return -1;
    /* Told apart from text of another shape once the rest is read. */
    bad_day = !valid_date(year, mon, day);
    if (i < len) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
            return -1;
        if (digits(s, len, i + 1, 2, &hh) || i + 3 >= len || s[i + 3] != ':' ||
            digits(s, len, i + 4, 2, &mm))
            return -1;
        i += 6;
        if (i < len && s[i] == ':') {
            if (digits(s, len, i + 1, 2, &ss))
                return -1;
            i += 3;
            if (i < len && (s[i] == '.' || s[i] == ',')) {
                size_t n = 0;
                i++;
                while (i < len && s[i] >= '0' && s[i] <= '9') {
                    if (n < 6)
                        us = us * 10 + (unsigned)(s[i] - '0');
                    n++;
                    i++;
                }
                if (n == 0)
                    return -1;
                for (; n < 6; n++)
                    us *= 10;
            }
        }
        if (hh > 23 || mm > 59 || ss > 60)
            bad_day = 1;
        if (i < len) {
            unsigned oh, om = 0;
            int sign;
            has_zone = 1;
            if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
                i++;
            } else if (s[i] == '+' || s[i] == '-') {
                sign = s[i] == '-' ? -1 : 1;
                if (digits(s, len, i + 1, 2, &oh))
                    return -1;
                i += 3;
                if (i < len && s[i] == ':')
                    i++;
                if (i < len && digits(s, len, i, 2, &om))
                    return -1;
                if (i < len)
                    i += 2;
                if (oh > 23 || om > 59)
                    return -1;
                offset_s = sign * (int64_t)(oh * 3600 + om * 60);
            } else {
                return -1;
            }
        }
        if (i != len)
            return -1;
    }
    if (bad_day)
        return -2;
    local = days_of(memo, year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss;
    out->secs = has_zone ? local - offset_s : local_to_utc(tz, local);
    out->usec = us;
    return 0;
}

/* --- strptime-style formats ------------------------------------------------ */

/*
 * A subset of strptime(3), parsed here rather than by glibc's strptime so
 * that a format is checked once, when it is configured (glibc accepts
 * anything and fails per value), the locale plays no part, and the result
 * needs no mktime: %Y (1-4 digits) %y (69-99: 19xx) %m %d %e %j %H %I %M
 * %S %p %f (fraction, 1-9 digits) %z (Z, +hh, +hhmm, +hh:mm) %s (epoch
 * seconds) %b %h %B (English month names) %a %A (weekday names, read and
 * ignored) %F %T %D %R %% %n %t; white space in the format matches any
 * white space, possibly none; every other character itself.
 */
struct time_parts {
    int64_t year, epoch;
    unsigned mon, day, yday, hour, min, sec, usec;
    int pm;        /* -1: no %p */
    int has_zone;  /* %z seen */
    int has_epoch; /* %s seen */
    int32_t zone_s;
};

/* What a format holds, for checking it against the field. */
enum {
    HAS_YEAR = 1,
    HAS_MONTH = 2,
    HAS_DAY = 4,
    HAS_YDAY = 8,
    HAS_TIME = 16,
    HAS_EPOCH = 32,
};

static const char *const month_names[] = {
    "january", "february", "march",     "april",   "may",      "june",
    "july",    "august",   "september", "october", "november", "december"};
static const char *const weekday_names[] = {
    "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"};

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* 1..max_digits decimal digits at *pos. */
static int scan_num(const char *s, size_t len, size_t *pos, int max_digits,
                    int64_t *out)
{
    int64_t v = 0;
    int n = 0;
    while (*pos < len && n < max_digits && is_digit(s[*pos])) {
        v = v * 10 + (s[*pos] - '0');
        (*pos)++;
        n++;
    }
    *out = v;
    return n > 0 ? 0 : -1;
}

/* A name of the list (full, or its first three letters), any case. */
static int scan_name(const char *s, size_t len, size_t *pos, const char *const *names,
                     int n_names, unsigned *out)
{
    for (int i = 0; i < n_names; i++) {
        size_t full = strlen(names[i]);
        if (len - *pos >= full && is_word(s + *pos, full, names[i], full)) {
            *pos += full;
            *out = (unsigned)i;
            return 0;
        }
    }
    for (int i = 0; i < n_names; i++)
        if (len - *pos >= 3 && is_word(s + *pos, 3, names[i], 3)) {
            *pos += 3;
            *out = (unsigned)i;
            return 0;
        }
    return -1;
}

/* Z, +hh, +hhmm or +hh:mm at *pos, as seconds east of UTC. */
static int scan_zone(const char *s, size_t len, size_t *pos, int32_t *out)
{
    unsigned hh, mm = 0;
    size_t i = *pos;
    int sign;

    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        *pos = i + 1;
        *out = 0;
        return 0;
    }
    if (i >= len || (s[i] != '+' && s[i] != '-'))
        return -1;
    sign = s[i] == '-' ? -1 : 1;
    if (digits(s, len, i + 1, 2, &hh))
        return -1;
    i += 3;
    if (i < len && s[i] == ':')
        i++;
    if (i + 2 <= len && digits(s, len, i, 2, &mm) == 0)
        i += 2;
    else if (s[i - 1] == ':')
        return -1;
    if (hh > 23 || mm > 59)
        return -1;
    *pos = i;
    *out = sign * (int32_t)(hh * 3600 + mm * 60);
    return 0;
}

/*
 * Match s from *pos against fmt. With tp NULL only the format is checked:
 * its directives are collected in *has, and an unknown one is described
 * in why. Returns 0 when it matched (or is a valid format).
 */
static int scan_format(const char *fmt, const char *s, size_t len, size_t *pos,
                       struct time_parts *tp, unsigned *has, char *why, size_t why_len)
{
    for (; *fmt; fmt++) {
        int64_t v = 0;
        unsigned u;
        int rc = 0;
        char d;

        if (is_space(*fmt)) {
            while (tp && *pos < len && is_space(s[*pos]))
                (*pos)++;
            continue;
        }
        if (*fmt != '%') {
            if (tp && (*pos >= len || s[*pos] != *fmt))
                return -1;
            if (tp)
                (*pos)++;
            continue;
        }
        d = *++fmt;
        switch (d) {
        case 'Y':
            *has |= HAS_YEAR;
            break;
        case 'y':
            *has |= HAS_YEAR;
            break;
        case 'm':
        case 'b':
        case 'h':
        case 'B':
            *has |= HAS_MONTH;
            break;
        case 'd':
        case 'e':
            *has |= HAS_DAY;
            break;
        case 'j':
            *has |= HAS_YDAY;
            break;
        case 'H':
        case 'I':
        case 'M':
        case 'S':
        case 'p':
        case 'f':
        case 'z':
            *has |= HAS_TIME;
            break;
        case 's':
            *has |= HAS_EPOCH | HAS_TIME;
            break;
        case 'a':
        case 'A':
        case '%':
        case 'n':
        case 't':
            break;
        case 'F':
            if (scan_format("%Y-%m-%d", s, len, pos, tp, has, why, why_len))
                return -1;
            continue;
        case 'T':
            if (scan_format("%H:%M:%S", s, len, pos, tp, has, why, why_len))
                return -1;
            continue;
        case 'D':
            if (scan_format("%m/%d/%y", s, len, pos, tp, has, why, why_len))
                return -1;
            continue;
        case 'R':
            if (scan_format("%H:%M", s, len, pos, tp, has, why, why_len))
                return -1;
            continue;
        case '\0':
            if (why)
                snprintf(why, why_len, "it ends in a lone %%");
            return -1;
        default:
            if (why)
                snprintf(why, why_len, "%%%c is not a conversion it knows (see README)",
                         d);
            return -1;
        }
        if (!tp)
            continue;
        switch (d) {
        case 'Y':
            if ((rc = scan_num(s, len, pos, 4, &v)) == 0)
                tp->year = v;
            break;
        case 'y':
            if ((rc = scan_num(s, len, pos, 2, &v)) == 0)
                tp->year = v < 69 ? 2000 + v : 1900 + v;
            break;
        case 'm':
            if ((rc = scan_num(s, len, pos, 2, &v)) == 0)
                tp->mon = (unsigned)v;
            break;
        case 'e':
            if (*pos < len && s[*pos] == ' ')
                (*pos)++;
            /* fall through */
        case 'd':
            if ((rc = scan_num(s, len, pos, 2, &v)) == 0)
                tp->day = (unsigned)v;
            break;
        case 'j':
            if ((rc = scan_num(s, len, pos, 3, &v)) == 0)
                tp->yday = (unsigned)v;
            break;
        case 'H':
        case 'I':
            if ((rc = scan_num(s, len, pos, 2, &v)) == 0)
                tp->hour = (unsigned)v;
            if (d == 'I' && !rc && (v < 1 || v > 12))
                rc = -1;
            break;
        case 'M':
            if ((rc = scan_num(s, len, pos, 2, &v)) == 0)
                tp->min = (unsigned)v;
            break;
        case 'S':
            if ((rc = scan_num(s, len, pos, 2, &v)) == 0)
                tp->sec = (unsigned)v;
            break;
        case 'f': {
            size_t start = *pos;
            unsigned us = 0;
            int n = 0;
            while (*pos < len && is_digit(s[*pos]) && *pos - start < 9) {
                if (n < 6)
                    us = us * 10 + (unsigned)(s[*pos] - '0'), n++;
                (*pos)++;
            }
            for (; n < 6; n++)
                us *= 10;
            tp->usec = us;
            rc = *pos > start ? 0 : -1;
            break;
        }
        case 'p':
            if (len - *pos >= 2 &&
                (is_word(s + *pos, 2, "am", 2) || is_word(s + *pos, 2, "pm", 2))) {
                tp->pm = s[*pos] == 'p' || s[*pos] == 'P';
                *pos += 2;
            } else {
                rc = -1;
            }
            break;
        case 'b':
        case 'h':
        case 'B':
            if ((rc = scan_name(s, len, pos, month_names, 12, &u)) == 0)
                tp->mon = u + 1;
            break;
        case 'a':
        case 'A':
            rc = scan_name(s, len, pos, weekday_names, 7, &u);
            break;
        case 'z':
            rc = scan_zone(s, len, pos, &tp->zone_s);
            tp->has_zone = 1;
            break;
        case 's': {
            int neg = *pos < len && s[*pos] == '-';
            if (neg)
                (*pos)++;
            if ((rc = scan_num(s, len, pos, 12, &v)) == 0) {
                tp->epoch = neg ? -v : v;
                tp->has_epoch = 1;
            }
            break;
        }
        case 'n':
        case 't':
            while (*pos < len && is_space(s[*pos]))
                (*pos)++;
            break;
        case '%':
            if (*pos < len && s[*pos] == '%')
                (*pos)++;
            else
                rc = -1;
            break;
        default:
            break;
        }
        if (rc)
            return -1;
    }
    return 0;
}

/* Check format for a field of the logical type; why says what is wrong. */
int sa_text_check_format(const char *format, int logical, char *why, size_t why_len)
{
    unsigned has = 0;
    size_t pos = 0;

    if (scan_format(format, "", 0, &pos, NULL, &has, why, why_len))
        return -1;
    if (logical == SA_LOGICAL_DATE && (has & HAS_TIME)) {
        snprintf(why, why_len, "a date has no time of day, zone or epoch seconds");
        return -1;
    }
    if (!(has & HAS_EPOCH) &&
        !((has & HAS_YEAR) &&
          (((has & HAS_MONTH) && (has & HAS_DAY)) || (has & HAS_YDAY)))) {
        snprintf(why, why_len,
                 "it needs a year, month and day (%%Y %%m %%d, %%F, or "
                 "%%Y %%j)%s",
                 logical == SA_LOGICAL_DATE ? "" : ", or %s");
        return -1;
    }
    return 0;
}

/* Read s[0, len) with format into an instant; a time without %z is in
 * tz (NULL: UTC). -1 when it does not match, -2 when it does but names
 * no real date or time (31.02.2024 for %d.%m.%Y). */
int sa_text_parse_formatted(const char *format, const char *s, size_t len,
                            struct day_memo *memo, const struct sa_tz *tz,
                            struct instant *out)
{
    struct time_parts tp = {.pm = -1, .mon = 1, .day = 1};
    unsigned has = 0;
    size_t pos = 0;
    int64_t days;
    unsigned hour;

    if (scan_format(format, s, len, &pos, &tp, &has, NULL, 0) || pos != len)
        return -1;
    /* From here the text has the format's shape: what fails names no
     * real date or time (31.02., 25:00). */
    if (tp.has_epoch) {
        out->secs = tp.epoch;
        out->usec = tp.usec;
        return 0;
    }
    if (tp.year < 1 || tp.year > 9999)
        return -2;
    if (has & HAS_YDAY) {
        if (tp.yday < 1 || tp.yday > (is_leap(tp.year) ? 366u : 365u))
            return -2;
        days = days_from_civil(tp.year, 1, 1) + tp.yday - 1;
    } else {
        if (!valid_date(tp.year, tp.mon, tp.day))
            return -2;
        days = days_of(memo, (unsigned)tp.year, tp.mon, tp.day);
    }
    hour = tp.hour;
    if (tp.pm >= 0) {
        if (hour < 1 || hour > 12)
            return -2;
        hour = hour % 12 + (tp.pm ? 12 : 0);
    }
    if (hour > 23 || tp.min > 59 || tp.sec > 60)
        return -2;
    days = days * 86400 + hour * 3600 + tp.min * 60 + tp.sec; /* now the local time */
    out->secs = tp.has_zone ? days - tp.zone_s : local_to_utc(tz, days);
    out->usec = tp.usec;
    return 0;
}
