/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers on config-map values; see confmap.h. */
#include "agent/base/confmap.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sa_strlist_has(const struct sa_strlist *list, const char *s, int empty_means_all)
{
    if (list->n == 0)
        return empty_means_all;
    for (size_t i = 0; i < list->n; i++)
        if (strcmp(list->v[i], s) == 0)
            return 1;
    return 0;
}

int sa_conf_fail(const struct sa_conf_origin *origin, const char *key, int rc,
                 struct sa_err *err, const char *fmt, ...)
{
    char what[SA_ERR_MSG_MAX], at[SA_ERR_MSG_MAX / 2] = "";
    unsigned line = 0, col = 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (origin && origin->file) {
        line = origin->line;
        col = origin->col;
        for (size_t i = 0; i < origin->n_keys; i++)
            if (strcmp(origin->keys[i].key, key) == 0) {
                line = origin->keys[i].line;
                col = origin->keys[i].col;
                break;
            }
        if (line)
            snprintf(at, sizeof at, "%s:%u:%u: ", origin->file, line, col);
        else
            snprintf(at, sizeof at, "%s: ", origin->file);
    }
    if (origin && origin->where[0])
        return sa_err_set(err, rc, "%s%s.%s: %s", at, origin->where, key, what);
    return sa_err_set(err, rc, "%s%s: %s", at, key, what);
}
