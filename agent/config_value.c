/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One value of a config map (agent/base/confmap.h): sizes and durations
 * with their units, the conversion of a value's text into its field, the
 * defaults, and freeing what the entries allocated. Split out of config.c;
 * besides the loader, `import` (an ad-hoc source) and CLI flags use these
 * through config.h.
 */
#include "agent/config.h"

#include "agent/config_value.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- sizes and durations ------------------------------------------------- */

struct unit {
    const char *name;
    int64_t factor;
};

static const struct unit size_units[] = {
    {"", 1},      {"B", 1},     {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000000000},
    {"KiB", KIB}, {"MiB", MIB}, {"GiB", GIB}, {NULL, 0},
};

static const struct unit duration_units[] = {
    {"ms", 1}, {"s", SEC}, {"m", MIN}, {"h", HOUR}, {NULL, 0},
};

/* "<digits>[ ]<unit>" -> value * factor. SA_EINVAL for bad syntax or an
 * unknown unit, SA_ETOOBIG when the result does not fit an int64_t. */
static int parse_with_unit(const char *s, const struct unit *units, int64_t *out)
{
    uint64_t n = 0;
    const char *p = s;

    if (!isdigit((unsigned char)*p))
        return SA_EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (n > ((uint64_t)INT64_MAX - digit) / 10)
            return SA_ETOOBIG;
        n = n * 10 + digit;
    }
    if (*p == ' ')
        p++;
    for (const struct unit *u = units; u->name; u++) {
        if (strcmp(p, u->name) != 0)
            continue;
        if (n > (uint64_t)(INT64_MAX / u->factor))
            return SA_ETOOBIG;
        *out = (int64_t)n * u->factor;
        return SA_OK;
    }
    return SA_EINVAL;
}

int sa_parse_size(const char *s, int64_t *bytes)
{
    return parse_with_unit(s, size_units, bytes);
}

/* A plain number is rejected: "5" could mean 5ms or 5s. Only "0" needs no
 * unit, being the same in all of them. */
int sa_parse_duration(const char *s, int64_t *ms)
{
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return SA_OK;
    }
    return parse_with_unit(s, duration_units, ms);
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* Shortest readable form of a size or duration, for range messages. */
void sa_conf_format_with_unit(char *buf, size_t len, int64_t v, int is_size)
{
    static const struct unit sizes[] = {{"GiB", GIB}, {"MiB", MIB}, {"KiB", KIB}};
    static const struct unit times[] = {{"h", HOUR}, {"m", MIN}, {"s", SEC}};
    const struct unit *u = is_size ? sizes : times;

    for (size_t i = 0; i < 3; i++)
        if (v != 0 && v % u[i].factor == 0) {
            snprintf(buf, len, "%lld%s", (long long)(v / u[i].factor), u[i].name);
            return;
        }
    snprintf(buf, len, "%lld%s", (long long)v, is_size ? "B" : "ms");
}

void sa_conf_format_value(char *buf, size_t len, const struct sa_conf_entry *e,
                          int64_t v)
{
    if (e->type == SA_CONF_SIZE || e->type == SA_CONF_DURATION)
        format_with_unit(buf, len, v, e->type == SA_CONF_SIZE);
    else
        snprintf(buf, len, "%lld", (long long)v);
}

/* --- converting one value ------------------------------------------------ */

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, SA_OK;
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, SA_OK;
    }
    return SA_EINVAL;
}

void sa_conf_join_symbols(char *buf, size_t len, const char *const *symbols)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; symbols[i] && used < len; i++)
        used +=
            (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", symbols[i]);
}

static int strlist_push(struct sa_strlist *list, const char *s)
{
    char **v = realloc(list->v, (list->n + 1) * sizeof *v);
    if (!v)
        return SA_ENOMEM;
    list->v = v;
    if (!(v[list->n] = strdup(s)))
        return SA_ENOMEM;
    list->n++;
    return SA_OK;
}

/*
 * Convert text into the field of base that e describes. On failure return
 * SA_ECONFIG (or SA_ENOMEM) with `why` saying what is wrong with the value,
 * never quoting it when e is secret. STRLIST appends one element; MAP
 * values are set by the caller.
 */
int sa_conf_convert(const struct sa_conf_entry *e, const char *text, void *base,
                    char *why, size_t why_len)
{
    const char *shown = (e->flags & SA_CONF_SECRET) ? "<secret>" : text;
    void *dst = field(base, e);
    int64_t v = 0;
    char *end;
    int rc;

    switch (e->type) {
    case SA_CONF_STR:
        if ((e->flags & SA_CONF_REQUIRED) && !*text) {
            snprintf(why, why_len, "must not be empty");
            return SA_ECONFIG;
        }
        free(*(char **)dst);
        if (!(*(char **)dst = strdup(text)))
            return SA_ENOMEM;
        return SA_OK;
    case SA_CONF_STRLIST:
        return strlist_push(dst, text);
    case SA_CONF_MAP:
        snprintf(why, why_len, "expected a mapping");
        return SA_ECONFIG;
    case SA_CONF_INT:
        errno = 0;
        v = strtoll(text, &end, 10);
        if (!*text || isspace((unsigned char)*text) || *end) {
            snprintf(why, why_len, "bad integer '%s'", shown);
            return SA_ECONFIG;
        }
        if (errno == ERANGE) {
            snprintf(why, why_len, "integer '%s' is too large", shown);
            return SA_ECONFIG;
        }
        break;
    case SA_CONF_DOUBLE: {
        double d;
        errno = 0;
        d = strtod(text, &end);
        if (!*text || isspace((unsigned char)*text) || *end || errno == ERANGE ||
            !isfinite(d)) {
            snprintf(why, why_len, "bad number '%s'", shown);
            return SA_ECONFIG;
        }
        *(double *)dst = d;
        return SA_OK;
    }
    case SA_CONF_BOOL:
        if (parse_bool(text, dst) != SA_OK) {
            snprintf(why, why_len, "bad boolean '%s' (use true or false)", shown);
            return SA_ECONFIG;
        }
        return SA_OK;
    case SA_CONF_SIZE:
        rc = sa_parse_size(text, &v);
        if (rc == SA_ETOOBIG) {
            snprintf(why, why_len, "size '%s' is too large", shown);
            return SA_ECONFIG;
        }
        if (rc) {
            snprintf(why, why_len,
                     "bad size '%s' (use a number with B, KB, MB, GB, KiB, MiB, GiB)",
                     shown);
            return SA_ECONFIG;
        }
        break;
    case SA_CONF_DURATION:
        rc = sa_parse_duration(text, &v);
        if (rc == SA_ETOOBIG) {
            snprintf(why, why_len, "duration '%s' is too large", shown);
            return SA_ECONFIG;
        }
        if (rc && all_digits(text)) {
            snprintf(why, why_len,
                     "duration '%s' has no unit (add ms, s, m or h, e.g. '%ss')", shown,
                     shown);
            return SA_ECONFIG;
        }
        if (rc) {
            snprintf(why, why_len, "bad duration '%s' (use a number with ms, s, m, h)",
                     shown);
            return SA_ECONFIG;
        }
        break;
    case SA_CONF_ENUM:
        for (int i = 0; e->symbols[i]; i++)
            if (strcmp(e->symbols[i], text) == 0) {
                *(int *)dst = i;
                return SA_OK;
            }
        {
            char list[160];
            join_symbols(list, sizeof list, e->symbols);
            snprintf(why, why_len, "unknown value '%s' (use one of: %s)", shown, list);
        }
        return SA_ECONFIG;
    }

    /* INT, SIZE and DURATION end here with v parsed. */
    if (e->min < e->max && (v < e->min || v > e->max)) {
        char lo[32], hi[32];
        format_value(lo, sizeof lo, e, e->min);
        format_value(hi, sizeof hi, e, e->max);
        snprintf(why, why_len, "'%s' is out of range (%s..%s)", shown, lo, hi);
        return SA_ECONFIG;
    }
    *(int64_t *)dst = v;
    return SA_OK;
}

/* Free whatever the entries of conf allocated inside base. */
void sa_conf_free_entries(const struct sa_conf_entry *conf, void *base)
{
    if (!conf || !base)
        return;
    for (const struct sa_conf_entry *e = conf; e->key; e++) {
        void *dst = field(base, e);
        if (e->type == SA_CONF_STR) {
            free(*(char **)dst);
            *(char **)dst = NULL;
        } else if (e->type == SA_CONF_STRLIST) {
            struct sa_strlist *list = dst;
            for (size_t i = 0; i < list->n; i++)
                free(list->v[i]);
            free(list->v);
            list->v = NULL;
            list->n = 0;
        } else if (e->type == SA_CONF_MAP) {
            struct sa_kvlist *map = dst;
            for (size_t i = 0; i < map->n; i++) {
                free(map->v[i].key);
                free(map->v[i].value);
            }
            free(map->v);
            map->v = NULL;
            map->n = 0;
        }
    }
}

int sa_conf_apply_defaults(const struct sa_conf_entry *table, void *base,
                           struct sa_err *err)
{
    for (const struct sa_conf_entry *e = table; e->key; e++) {
        char why[SA_ERR_MSG_MAX];
        int rc;
        if (!e->def)
            continue;
        rc = convert(e, e->def, base, why, sizeof why);
        if (rc)
            return sa_err_set(err, rc, "%s: bad default: %s", e->key, why);
    }
    return SA_OK;
}

int sa_conf_set(const struct sa_conf_entry *table, void *base, const char *key,
                const char *text, struct sa_err *err)
{
    for (const struct sa_conf_entry *e = table; e->key; e++) {
        char why[SA_ERR_MSG_MAX];
        int rc;
        if (strcmp(e->key, key) != 0)
            continue;
        if (e->type == SA_CONF_STRLIST)
            free_entries((const struct sa_conf_entry[]){*e, {.key = NULL}}, base);
        rc = convert(e, text, base, why, sizeof why);
        if (rc)
            return sa_err_set(err, rc, "%s: %s", key, why);
        return SA_OK;
    }
    return sa_err_set(err, SA_ECONFIG, "unknown key '%s'", key);
}
