/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers on config-map values; see confmap.h. */
#include "agent/base/confmap.h"

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
