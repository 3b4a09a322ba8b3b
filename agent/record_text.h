/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text into typed values, for the record setters of agent/record.c
 * (sa_record_set_text*): integers, doubles, booleans, ISO 8601 dates and
 * timestamps, and the strptime-style formats. Pure functions of their
 * text; what a record does with the value stays in record.c. Only
 * record.c and record_text.c include this file.
 */
#ifndef SA_AGENT_RECORD_TEXT_H
#define SA_AGENT_RECORD_TEXT_H

#include <stddef.h>
#include <stdint.h>

struct sa_tz;

/* The last date parse_iso8601 turned into days since the epoch: the
 * timestamps of a file mostly share their day, and the calendar
 * arithmetic is a chain of dependent multiplications. */
struct day_memo {
    unsigned year, mon, day; /* mon 0: nothing yet */
    int64_t days;
};

/* A time of day in seconds and microseconds since the epoch. */
struct instant {
    int64_t secs;
    uint32_t usec; /* 0..999999, after secs */
};

/* See record_text.c for each one's contract. */
int sa_text_parse_int64(const char *s, size_t len, int64_t *out);
int sa_text_parse_double(const char *s, size_t len, double *out);
int sa_text_parse_bool(const char *s, size_t len, int *out);
int sa_text_parse_iso8601(const char *s, size_t len, struct day_memo *memo,
                          const struct sa_tz *tz, struct instant *out);
int sa_text_check_format(const char *format, int logical, char *why, size_t why_len);
int sa_text_parse_formatted(const char *format, const char *s, size_t len,
                            struct day_memo *memo, const struct sa_tz *tz,
                            struct instant *out);

/* The short names record.c and record_text.c call them by. */
static inline int parse_int64(const char *s, size_t len, int64_t *out)
{
    return sa_text_parse_int64(s, len, out);
}

static inline int parse_double(const char *s, size_t len, double *out)
{
    return sa_text_parse_double(s, len, out);
}

static inline int parse_bool(const char *s, size_t len, int *out)
{
    return sa_text_parse_bool(s, len, out);
}

static inline int parse_iso8601(const char *s, size_t len, struct day_memo *memo,
                                const struct sa_tz *tz, struct instant *out)
{
    return sa_text_parse_iso8601(s, len, memo, tz, out);
}

static inline int check_format(const char *format, int logical, char *why,
                               size_t why_len)
{
    return sa_text_check_format(format, logical, why, why_len);
}

static inline int parse_formatted(const char *format, const char *s, size_t len,
                                  struct day_memo *memo, const struct sa_tz *tz,
                                  struct instant *out)
{
    return sa_text_parse_formatted(format, s, len, memo, tz, out);
}

/* Leading blanks and trailing blanks and CR, which a CSV field may carry
 * around a number (inline: once per field on the ingest path). */
static inline void trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len &&
           ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r'))
        (*len)--;
}

#endif
