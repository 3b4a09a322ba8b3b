/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What config.c (the loader, the checks, describe) and config_value.c
 * (one value of a config map: sizes, durations, conversion, defaults)
 * share. Only those two include this file.
 */
#ifndef SA_AGENT_CONFIG_VALUE_H
#define SA_AGENT_CONFIG_VALUE_H

#include "agent/base/confmap.h"

#include <stddef.h>
#include <stdint.h>

#define KIB INT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define SEC INT64_C(1000)
#define MIN (SEC * 60)
#define HOUR (MIN * 60)

static inline void *field(void *base, const struct sa_conf_entry *e)
{
    return (char *)base + e->offset;
}

/*
 * Convert text into the field of base that e describes. On failure return
 * SA_ECONFIG (or SA_ENOMEM) with `why` saying what is wrong with the value,
 * never quoting it when e is secret. STRLIST appends one element; MAP
 * values are set by the caller.
 */
int sa_conf_convert(const struct sa_conf_entry *e, const char *text, void *base,
                    char *why, size_t why_len);
/* Shortest readable form of a size or duration, for range messages. */
void sa_conf_format_with_unit(char *buf, size_t len, int64_t v, int is_size);
/* A value of e's type as text (with its unit for sizes and durations). */
void sa_conf_format_value(char *buf, size_t len, const struct sa_conf_entry *e,
                          int64_t v);
/* The symbols of an enum, joined with ", ". */
void sa_conf_join_symbols(char *buf, size_t len, const char *const *symbols);

/* The short names the two files call them by (sa_conf_free_entries is in
 * config.h). */
static inline int convert(const struct sa_conf_entry *e, const char *text, void *base,
                          char *why, size_t why_len)
{
    return sa_conf_convert(e, text, base, why, why_len);
}

static inline void free_entries(const struct sa_conf_entry *conf, void *base)
{
    sa_conf_free_entries(conf, base);
}

static inline void format_with_unit(char *buf, size_t len, int64_t v, int is_size)
{
    sa_conf_format_with_unit(buf, len, v, is_size);
}

static inline void format_value(char *buf, size_t len, const struct sa_conf_entry *e,
                                int64_t v)
{
    sa_conf_format_value(buf, len, e, v);
}

static inline void join_symbols(char *buf, size_t len, const char *const *symbols)
{
    sa_conf_join_symbols(buf, len, symbols);
}

#endif
