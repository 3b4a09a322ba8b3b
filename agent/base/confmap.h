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
 *
 * SA_CONF_PATH marks a STR or STRLIST entry that names files: a relative
 * value read from a config file is taken from the file's directory, as
 * Prometheus does, so that a config works from any working directory.
 * With path_prefix set, only values starting with it hold a path, after
 * it ("move:<dir>").
 *
 * What a config map cannot check alone (a directory that must exist, two
 * keys that only make sense together) a component checks after loading;
 * struct sa_conf_origin keeps where each key was written, so that its
 * errors name FILE:LINE:COL all the same (sa_conf_fail()).
 */
#ifndef SA_BASE_CONFMAP_H
#define SA_BASE_CONFMAP_H

#include "agent/base/error.h"

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
#define SA_CONF_PATH 0x4     /* relative to the config file's directory */

struct sa_conf_entry {
    enum sa_conf_type type;
    const char *key;
    const char *def; /* default in config syntax, NULL = none (zero/NULL) */
    size_t offset;   /* offsetof(struct ..., field) */
    const char *desc;
    const char *const *symbols; /* SA_CONF_ENUM: NULL-terminated */
    int64_t min, max;           /* INT/SIZE/DURATION range when min < max */
    unsigned flags;
    const char *path_prefix; /* SA_CONF_PATH: the path follows this prefix */
};

/* Where a key of one mapping was written (1-based); key is the config-map
 * entry's own (static) string. */
struct sa_conf_key_pos {
    const char *key;
    unsigned line, col;
};

/* Where one mapping of a config file and its keys were written, filled by
 * the config loader. All zero for settings that come from no file (an
 * ad-hoc source of `import`). */
struct sa_conf_origin {
    const char *file;             /* borrowed from the config; NULL: no file */
    char where[32];               /* "sources[0]", "agent" */
    unsigned line, col;           /* of the mapping; 0 when it is absent */
    struct sa_conf_key_pos *keys; /* owned by the config */
    size_t n_keys;
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

/* Set err to rc and "FILE:LINE:COL: WHERE.KEY: <fmt>": the position of key
 * when it was written, else of its mapping (the default applied), else
 * none. origin may be NULL. Returns rc. */
int sa_conf_fail(const struct sa_conf_origin *origin, const char *key, int rc,
                 struct sa_err *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
