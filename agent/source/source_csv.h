/* SPDX-License-Identifier: Apache-2.0 */
/* The CSV source's options and per-file report (used by `import`). */
#ifndef SA_AGENT_SOURCE_CSV_H
#define SA_AGENT_SOURCE_CSV_H

#include "agent/base/confmap.h"
#include "agent/source/source.h"

#include <stdio.h>

struct sa_csv_source_conf {
    struct sa_strlist path; /* files or globs */
    int delimiter;          /* index into comma, semicolon, tab, pipe */
    char *quote;
    int header;
    struct sa_strlist columns;
    int extra_columns; /* 0 error, 1 ignore */
    int64_t max_field;
    int64_t max_errors;
    int watch; /* keep looking for new files matching path */
    int tail;  /* follow files as they grow, across rotation */
    char *on_done;
    int64_t poll_interval_ms;
    int64_t read_buffer;
    struct sa_kvlist formats; /* field -> strptime-style format of its text */
    char *timezone;           /* of timestamps without a zone: UTC, +02:00 */
    int short_rows;           /* 0 strict: reject; 1 null: missing fields null */
    char *null_string; /* an unquoted field spelled so is null; NULL: none */
    char *op_column;   /* the column saying upsert or delete; NULL: none */
};

extern const struct sa_source_ops sa_source_csv_ops;

/* The op an op_column field spells: SA_OP_DELETE for delete or d,
 * SA_OP_UPSERT for upsert, u, insert, i, update or nothing (any case,
 * blanks around ignored), -1 for anything else. */
int sa_csv_parse_op(const char *p, size_t len);

/* Per-file outcome of a CSV source. */
struct sa_csv_file_report {
    const char *path;
    uint64_t accepted, rejected;
    int done, failed;
    int seen_done;     /* finished before this run (imported already) */
    const char *error; /* why the file failed, or NULL */
    const char *key;   /* its identity (file_key.h), or NULL if never opened */
};

/* Call fn for every file the source has seen. */
void sa_source_csv_report(struct sa_source *src,
                          void (*fn)(void *arg, const struct sa_csv_file_report *r),
                          void *arg);

#endif
