/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The schema set: every schemas/<subject>/v<N>.avsc loaded at start,
 * each version checked for compatibility with the one before it under the
 * configured mode (DESIGN.md §6), and stored in the spool's schemas table.
 */
#ifndef SA_AGENT_SCHEMAS_H
#define SA_AGENT_SCHEMAS_H

#include "agent/base/error.h"
#include "store/schema.h"

#include <stddef.h>

enum sa_compat { SA_COMPAT_BACKWARD, SA_COMPAT_FORWARD, SA_COMPAT_FULL, SA_COMPAT_NONE };

struct sa_schema_set {
    struct sa_schema **v; /* sorted by subject, then version */
    size_t n;
};

/* Load every schema under dir. Errors name the file and the reason (bad
 * JSON, bad Avro, version N incompatible with N-1 and why). */
int sa_schemas_load(const char *dir, enum sa_compat compat,
                    struct sa_schema_set **out, struct sa_err *err);
void sa_schemas_free(struct sa_schema_set *set);

/* Find subject at version (0 = the newest). NULL when absent. */
const struct sa_schema *sa_schemas_find(const struct sa_schema_set *set,
                                        const char *subject, int version);
/* Parse "subject" or "subject:v3" / "subject:3" and find it. Sets err
 * ("unknown schema 'x' (known: a, b)") when absent. */
const struct sa_schema *sa_schemas_lookup(const struct sa_schema_set *set,
                                          const char *spec, struct sa_err *err);

/* Store every schema in the spool, filling schema->id. */
int sa_schemas_store(struct sa_schema_set *set, struct sa_spool *spool,
                     struct sa_err *err);
/* What sa_schemas_store would refuse, found without writing: a subject and
 * version the spool holds with another definition (`check`). */
int sa_schemas_check_stored(const struct sa_schema_set *set, struct sa_spool *spool,
                            struct sa_err *err);

/* 1 when data written with `writer` can be read with `reader`. When not,
 * and why is given, why holds the reason. */
int sa_schema_can_read(const struct sa_schema *reader,
                       const struct sa_schema *writer, char *why, size_t why_len);

#endif
