/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data quality rules (DESIGN.md §8, issue 13 §1): per stream, checked on
 * the ingest path after schema validation. See quality.c for the design
 * (threads, the duplicate window's memory bound, the order of rules) and
 * quality_conf.c for the configuration:
 *
 *   streams:
 *     orders:
 *       quality:
 *         - {column: amount, min: 0, max: 100000, action: reject}
 *         - {column: sku, regex: "^[A-Z]{3}-[0-9]+$", action: tag}
 *         - {max_age: 7d, action: drop, name: stale}
 *         - {unique_within: 10m, action: tag}
 */
#ifndef SA_AGENT_QUALITY_H
#define SA_AGENT_QUALITY_H

#include "agent/base/error.h"

#include <regex.h>
#include <stdint.h>
#include <stdio.h>

struct sa_record;
struct sa_schema;
struct sa_config;

enum sa_quality_action { SA_QUALITY_REJECT, SA_QUALITY_TAG, SA_QUALITY_DROP };

enum sa_quality_check {
    SA_QC_REQUIRED,
    SA_QC_RANGE, /* min and/or max */
    SA_QC_REGEX,
    SA_QC_ONE_OF,
    SA_QC_MAX_LENGTH,
    SA_QC_FRESHNESS, /* max_age and/or max_future, on the event time */
    SA_QC_UNIQUE,    /* unique_within, on the schema's x-key */
};

/* The names used in logs, metrics and `status`: "reject", "tag", "drop". */
extern const char *const sa_quality_action_names[];

/* The most a duplicate window remembers unless unique_keys says otherwise. */
#define SA_QUALITY_UNIQUE_KEYS_DEFAULT 100000

struct sa_quality_rule {
    char *name; /* unique in its stream; [A-Za-z0-9_.-] */
    enum sa_quality_check check;
    enum sa_quality_action action;
    char *column; /* NULL for freshness and unique */
    int has_min, has_max;
    double min, max;
    char *pattern;
    regex_t re; /* compiled once at load (REG_EXTENDED | REG_NOSUB) */
    int has_re;
    char **one_of;
    size_t *one_of_len;
    size_t n_one_of;
    int64_t max_length;                /* characters (UTF-8 code points) */
    int64_t max_age_ms, max_future_ms; /* 0: that side unchecked */
    int64_t window_ms, max_keys;       /* unique_within, unique_keys */
    unsigned line, col;                /* where the rule is written */
};

struct sa_quality_stream {
    char *stream;
    struct sa_quality_rule *rules;
    size_t n_rules;
    unsigned line, col;
};

/* Every stream's rules, as loaded from the `streams:` section. */
struct sa_quality_conf {
    char *file; /* for errors found after loading */
    struct sa_quality_stream *streams;
    size_t n_streams;
};

/* The `streams:` section of the document (quality_conf.c). node is its
 * value; errors are "FILE:LINE:COL: streams.S.quality[i]: what". *out is
 * owned by the caller (sa_quality_conf_free). A regex that does not
 * compile is an error here, once, naming the stream, the rule and the
 * column. */
struct yaml_document_s;
struct yaml_node_s;
int sa_quality_conf_load(struct yaml_document_s *doc, struct yaml_node_s *node,
                         const char *file, struct sa_quality_conf **out,
                         struct sa_err *err);
void sa_quality_conf_free(struct sa_quality_conf *qc);
/* The rules of stream, or NULL when it has none. */
const struct sa_quality_stream *sa_quality_conf_stream(const struct sa_quality_conf *qc,
                                                       const char *stream);
/* Every stream named under `streams:` is produced by a source. */
int sa_quality_conf_check_streams(const struct sa_quality_conf *qc,
                                  const struct sa_config *cfg, struct sa_err *err);
/* The rules of qs against the schema of a source of that stream: each
 * column exists and its type suits the rule (min/max: a number; regex,
 * max_length: a string; one_of: a string, an enum or a number); unique
 * needs an x-key, freshness an x-event-time. Errors name FILE:LINE:COL,
 * the stream, the rule and the column. */
int sa_quality_check_schema(const struct sa_quality_stream *qs, const char *file,
                            const struct sa_schema *schema, struct sa_err *err);
/* `check --describe`: the rule keys and actions. */
void sa_quality_describe(FILE *out);

/* --- evaluating (quality.c) ----------------------------------------------- */

/* The checker of one source's records; used by one thread (the pipeline's
 * polling thread), except the counters, which any thread may read. */
struct sa_quality;

/* A checker for qs's rules on records of schema (sa_quality_check_schema
 * first). Borrows qs and schema. */
int sa_quality_new(struct sa_quality **out, const struct sa_quality_stream *qs,
                   const char *file, const struct sa_schema *schema,
                   struct sa_err *err);
void sa_quality_free(struct sa_quality *q);

struct sa_quality_verdict {
    enum sa_quality_action action; /* of the rule that decided, when not passed */
    size_t rule;                   /* its index */
    const char *tags;              /* passed: the tag rules failed, comma-separated */
    size_t tags_len;               /* 0: none */
};

/* Check one record (already valid for its schema: its fields set and its
 * defaults applied). now_ms is the wall clock, key the record's x-key as
 * text. Returns 1 when the record passes (maybe tagged: v->tags), 0 when
 * a rule with action reject or drop refused it: v->action and v->rule say
 * which, and why holds "quality rule 'NAME' failed: ..." naming the column
 * and the value. The first reject wins over a drop; every failed rule is
 * counted (sa_quality_failures). */
int sa_quality_eval(struct sa_quality *q, const struct sa_record *rec, int64_t event_ms,
                    int64_t now_ms, const char *key, size_t key_len,
                    struct sa_quality_verdict *v /* out */,
                    struct sa_err *why /* out */);

size_t sa_quality_n_rules(const struct sa_quality *q);
const struct sa_quality_rule *sa_quality_rule_at(const struct sa_quality *q, size_t i);
/* Failures of rule i counted in the process's metrics registry (any
 * thread): syncagent_quality_failures_total of its stream, rule and
 * action, which sources of the same stream share. */
uint64_t sa_quality_failures(const struct sa_quality *q, size_t i);
/* Keys the duplicate window of rule i forgot before their time because it
 * was full (unique_keys): a duplicate of one of them may pass. */
uint64_t sa_quality_unique_evicted(const struct sa_quality *q, size_t i);

#endif
