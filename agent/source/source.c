/* SPDX-License-Identifier: Apache-2.0 */
/* The table of source types; a new source adds its ops here. */
#include "agent/source/source.h"

#include <string.h>

extern const struct sa_source_ops sa_source_generator_ops;
extern const struct sa_source_ops sa_source_csv_ops;

const struct sa_source_ops *const sa_source_types[] = {
    &sa_source_generator_ops,
    &sa_source_csv_ops,
    NULL,
};

const struct sa_source_ops *sa_source_type_find(const char *name)
{
    for (size_t i = 0; sa_source_types[i]; i++)
        if (strcmp(sa_source_types[i]->name, name) == 0)
            return sa_source_types[i];
    return NULL;
}
