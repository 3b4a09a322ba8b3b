/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Config maps: one static table per config section or plugin, in the
 * manner of Fluent Bit's struct flb_config_map. One table drives
 * validation, defaults, rejection of unknown keys and
 * `syncagent check --describe`. Each entry writes into a struct at
 * `offset` with a C type fixed by `type`:
 *
 *   SA_CONF_STR       char *            (heap, owned by the config)
 *   SA_CONF_INT       int64_t           (range min..max when min < max)
 *   SA_CONF_DOUBLE    double
 *   SA_CONF_BOOL      int               (true/false/yes/no/on/off)
 *   SA_CONF_SIZE      int64_t bytes     ("64MiB", "1GB", "4096")
 *   SA_CONF_DURATION  int64_t ms        ("250ms", "5s", "2m", "1h")
 *   SA_CONF_ENUM      int               (index into symbols[])
 *   SA_CONF_STRLIST   struct sa_strlist (a YAML sequence of scalars, or one scalar)
 *   SA_CONF_MAP       struct sa_kvlist  (a YAML mapping of scalars, passed through)
 */
#ifndef SA_BASE_CONFMAP_H
#define SA_BASE_CONFMAP_H

#include <stddef.h>
#include <stdint.h>

enum sa_conf_type {
    SA_CONF_STR,
    SA_CONF_INT,
    SA_CONF_DOUBLE,
    SA_CONF_BOOL,
    SA_CONF_SIZE,
    SA_CONF_DURATION,
    SA_CONF_ENUM,
    SA_CONF_STRLIST,
    SA_CONF_MAP,
};

#define SA_CONF_REQUIRED 0x1 /* no default: the key must be present */
#define SA_CONF_SECRET 0x2   /* never printed, logged or shown in status */

struct sa_conf_entry {
    enum sa_conf_type type;
    const char *key;
    const char *def; /* default in config syntax, NULL = none (zero/NULL) */
    size_t offset;   /* offsetof(struct ..., field) */
    const char *desc;
    const char *const *symbols; /* SA_CONF_ENUM: NULL-terminated */
    int64_t min, max;           /* INT/SIZE/DURATION range when min < max */
    unsigned flags;
};

struct sa_strlist {
    char **v;
    size_t n;
};

struct sa_kv {
    char *key;
    char *value;
};

struct sa_kvlist {
    struct sa_kv *v;
    size_t n;
};

/* 1 when list holds s (or when the list is empty and empty_means_all). */
int sa_strlist_has(const struct sa_strlist *list, const char *s, int empty_means_all);

#endif
