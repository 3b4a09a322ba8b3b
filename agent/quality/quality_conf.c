/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `streams:` section: each stream's `quality:` list of rules, read
 * from the libyaml document agent/config.c loaded (so every error names
 * FILE:LINE:COL like the rest of the config), and `check --describe`'s
 * page about them.
 *
 * A rule is a mapping with one check -- required, min and/or max, regex,
 * one_of, max_length, max_age and/or max_future, unique_within (with
 * unique_keys) -- plus `column` (for the checks of a field), `action`
 * (reject, tag, drop; default reject) and `name` (default: the check's
 * name and the column, "amount_range"). The rule table below validates
 * the keys and prints the description, in the manner of the config maps.
 * What needs the schema (the column exists, its type suits the check) is
 * sa_quality_check_schema's, run by `check` and when the pipeline opens.
 */
#include "agent/quality/quality.h"

#include "agent/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define NAME_MAX_LEN 64
#define RULES_MAX 64

struct rule_key {
    const char *key;
    const char *type;
    const char *desc;
};

static const struct rule_key rule_keys[] = {
    {"name", "string",
     "the rule's name in dead letters, tags, metrics and reports "
     "([A-Za-z0-9_.-], unique in its stream; default: check_column)"},
    {"column", "string",
     "the field checked (every check but max_age, max_future and "
     "unique_within)"},
    {"action", "enum",
     "what a failure does: reject (dead letter naming the rule and the "
     "value), tag (pass, the rule's name in a `quality` Kafka header and "
     "a `_quality` field of JSON sinks), drop (counted and audited); "
     "default reject"},
    {"required", "bool", "the column is neither null nor an empty string"},
    {"min", "number", "the column (a number) is >= min"},
    {"max", "number", "the column (a number) is <= max; min <= max"},
    {"regex", "string",
     "the column (a string or enum) matches this POSIX extended regular "
     "expression (anchor it with ^...$ to match the whole value)"},
    {"one_of", "list", "the column's value (as text) is one of these"},
    {"max_length", "integer", "the column (a string) has at most this many characters"},
    {"max_age", "duration",
     "the event time (x-event-time) is at most this old by the clock"},
    {"max_future", "duration", "the event time is at most this far ahead of the clock"},
    {"unique_within", "duration",
     "no two records with the same key (x-key) within this "
     "long (ingest time)"},
    {"unique_keys", "integer",
     "keys the unique_within window remembers (default 100000, "
     "about 24 bytes each); past it the oldest are forgotten early "
     "and counted"},
    {NULL, NULL, NULL},
};

struct qloader {
    yaml_document_t *doc;
    const char *file;
    struct sa_err *err;
};

static int qfail(struct qloader *ld, yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int qfail(struct qloader *ld, yaml_node_t *at, const char *fmt, ...)
{
    char what[SA_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sa_err_set(ld->err, SA_ECONFIG, "%s:%zu:%zu: %s", ld->file,
                      at->start_mark.line + 1, at->start_mark.column + 1, what);
}

static yaml_node_t *qnode(struct qloader *ld, int i)
{
    return yaml_document_get_node(ld->doc, i);
}

static const char *text(yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return *s && !*end && errno == 0 && *out == *out ? 0 : -1;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    for (size_t i = 0; yes[i]; i++)
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
    for (size_t i = 0; no[i]; i++)
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    return -1;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
            return 0;
    return 1;
}

static void rule_fini(struct sa_quality_rule *r)
{
    free(r->name);
    free(r->column);
    free(r->pattern);
    if (r->has_re)
        regfree(&r->re);
    for (size_t i = 0; i < r->n_one_of; i++)
        free(r->one_of[i]);
    free(r->one_of);
    free(r->one_of_len);
}

static const char *check_name(const struct sa_quality_rule *r)
{
    switch (r->check) {
    case SA_QC_REQUIRED:
        return "required";
    case SA_QC_RANGE:
        return r->has_min && r->has_max ? "range" : r->has_min ? "min" : "max";
    case SA_QC_REGEX:
        return "regex";
    case SA_QC_ONE_OF:
        return "one_of";
    case SA_QC_MAX_LENGTH:
        return "max_length";
    case SA_QC_FRESHNESS:
        return r->max_age_ms && r->max_future_ms ? "freshness"
               : r->max_age_ms                   ? "max_age"
                                                 : "max_future";
    case SA_QC_UNIQUE:
        return "unique";
    }
    return "rule";
}

/* One rule's mapping into r; where names it ("streams.orders.quality[2]"). */
static int load_rule(struct qloader *ld, yaml_node_t *map, const char *where,
                     struct sa_quality_rule *r)
{
    yaml_node_t *check_at = NULL, *name_at = NULL, *column_at = NULL;
    int n_checks = 0, have_range = 0, have_fresh = 0, rc;

    r->line = (unsigned)map->start_mark.line + 1;
    r->col = (unsigned)map->start_mark.column + 1;
    r->max_keys = SA_QUALITY_UNIQUE_KEYS_DEFAULT;
    if (map->type != YAML_MAPPING_NODE)
        return qfail(ld, map,
                     "%s: a rule is a mapping ({column: ..., min: ..., action: "
                     "...}), got something else",
                     where);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = qnode(ld, p->key), *v = qnode(ld, p->value);
        const char *key = text(k), *val = text(v);
        size_t i;

        for (i = 0; key && rule_keys[i].key; i++)
            if (strcmp(key, rule_keys[i].key) == 0)
                break;
        if (!key || !rule_keys[i].key)
            return qfail(ld, k,
                         "%s: unknown rule key '%s' (rules: required, min, max, "
                         "regex, one_of, max_length, max_age, max_future, "
                         "unique_within; with name, column, action, unique_keys)",
                         where, key ? key : "?");
        if (strcmp(key, "one_of") != 0 && !val)
            return qfail(ld, v, "%s.%s: expected a %s", where, key, rule_keys[i].type);
        if (strcmp(key, "name") == 0) {
            if (!valid_name(val))
                return qfail(ld, v,
                             "%s.name: '%s' is not a rule name (1 to %d of "
                             "A-Z a-z 0-9 _ . -)",
                             where, val, NAME_MAX_LEN);
            if (!(r->name = strdup(val)))
                return SA_ENOMEM;
            name_at = v;
        } else if (strcmp(key, "column") == 0) {
            if (!*val)
                return qfail(ld, v, "%s.column: empty", where);
            if (!(r->column = strdup(val)))
                return SA_ENOMEM;
            column_at = v;
        } else if (strcmp(key, "action") == 0) {
            size_t a;
            for (a = 0; sa_quality_action_names[a]; a++)
                if (strcmp(val, sa_quality_action_names[a]) == 0)
                    break;
            if (!sa_quality_action_names[a])
                return qfail(ld, v, "%s.action: '%s' is not one of reject, tag, drop",
                             where, val);
            r->action = (enum sa_quality_action)a;
        } else if (strcmp(key, "required") == 0) {
            int b;
            if (parse_bool(val, &b))
                return qfail(ld, v, "%s.required: expected true, got '%s'", where, val);
            if (!b)
                return qfail(
                    ld, v, "%s.required: false checks nothing; remove the rule", where);
            r->check = SA_QC_REQUIRED;
            n_checks++;
            check_at = v;
        } else if (strcmp(key, "min") == 0 || strcmp(key, "max") == 0) {
            double d;
            if (parse_number(val, &d))
                return qfail(ld, v, "%s.%s: expected a number, got '%s'", where, key,
                             val);
            if (key[1] == 'i') {
                r->min = d;
                r->has_min = 1;
            } else {
                r->max = d;
                r->has_max = 1;
            }
            r->check = SA_QC_RANGE;
            n_checks += !have_range;
            have_range = 1;
            check_at = check_at ? check_at : v;
        } else if (strcmp(key, "regex") == 0) {
            r->check = SA_QC_REGEX;
            n_checks++;
            check_at = v;
            if (!(r->pattern = strdup(val)))
                return SA_ENOMEM;
        } else if (strcmp(key, "one_of") == 0) {
            yaml_node_item_t *it;
            if (v->type != YAML_SEQUENCE_NODE ||
                v->data.sequence.items.start == v->data.sequence.items.top)
                return qfail(ld, v, "%s.one_of: expected a non-empty list of values",
                             where);
            r->n_one_of =
                (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            if (!(r->one_of = calloc(r->n_one_of, sizeof *r->one_of)) ||
                !(r->one_of_len = calloc(r->n_one_of, sizeof *r->one_of_len)))
                return SA_ENOMEM;
            i = 0;
            for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
                 it++) {
                yaml_node_t *item = qnode(ld, *it);
                if (!text(item))
                    return qfail(ld, item,
                                 "%s.one_of: expected a value, got a collection",
                                 where);
                if (!(r->one_of[i] = strdup(text(item))))
                    return SA_ENOMEM;
                r->one_of_len[i++] = strlen(text(item));
            }
            r->check = SA_QC_ONE_OF;
            n_checks++;
            check_at = v;
        } else if (strcmp(key, "max_length") == 0 || strcmp(key, "unique_keys") == 0) {
            char *end;
            long long n;
            errno = 0;
            n = strtoll(val, &end, 10);
            if (!*val || *end || errno || n < 1 || n > 100000000)
                return qfail(ld, v,
                             "%s.%s: expected a whole number from 1 to 100000000, "
                             "got '%s'",
                             where, key, val);
            if (key[0] == 'm') {
                r->max_length = n;
                r->check = SA_QC_MAX_LENGTH;
                n_checks++;
                check_at = v;
            } else {
                r->max_keys = n;
            }
        } else { /* max_age, max_future, unique_within */
            int64_t ms;
            if (sa_parse_duration(val, &ms) || ms <= 0)
                return qfail(ld, v,
                             "%s.%s: expected a duration above 0 (250ms, 30s, 10m, "
                             "24h), got '%s'",
                             where, key, val);
            if (strcmp(key, "unique_within") == 0) {
                r->window_ms = ms;
                r->check = SA_QC_UNIQUE;
                n_checks++;
                check_at = v;
            } else {
                if (strcmp(key, "max_age") == 0)
                    r->max_age_ms = ms;
                else
                    r->max_future_ms = ms;
                r->check = SA_QC_FRESHNESS;
                n_checks += !have_fresh;
                have_fresh = 1;
                check_at = check_at ? check_at : v;
            }
        }
    }
    if (n_checks == 0)
        return qfail(ld, map,
                     "%s: no check (one of required, min/max, regex, one_of, "
                     "max_length, max_age/max_future, unique_within)",
                     where);
    if (n_checks > 1)
        return qfail(ld, check_at,
                     "%s: one check per rule (min with max and max_age with "
                     "max_future count as one); write another rule",
                     where);
    if (r->check == SA_QC_RANGE && r->has_min && r->has_max && r->min > r->max)
        return qfail(ld, check_at, "%s: min %.17g is greater than max %.17g", where,
                     r->min, r->max);
    if (r->max_keys != SA_QUALITY_UNIQUE_KEYS_DEFAULT && r->check != SA_QC_UNIQUE)
        return qfail(ld, map, "%s: unique_keys goes with unique_within", where);
    if ((r->check == SA_QC_FRESHNESS || r->check == SA_QC_UNIQUE) && r->column)
        return qfail(
            ld, column_at, "%s: %s checks the record's %s, not a column", where,
            r->check == SA_QC_UNIQUE ? "unique_within" : "max_age/max_future",
            r->check == SA_QC_UNIQUE ? "key (x-key)" : "event time (x-event-time)");
    if (r->check != SA_QC_FRESHNESS && r->check != SA_QC_UNIQUE && !r->column)
        return qfail(ld, map, "%s: %s needs a column", where, check_name(r));
    if (!r->name) {
        char name[NAME_MAX_LEN + 1];
        if (r->column)
            snprintf(name, sizeof name, "%s_%s", r->column, check_name(r));
        else
            snprintf(name, sizeof name, "%s", check_name(r));
        if (!valid_name(name))
            return qfail(
                ld, column_at ? column_at : map,
                "%s: the default name '%s' is not a rule name; give it a name:", where,
                name);
        if (!(r->name = strdup(name)))
            return SA_ENOMEM;
    }
    (void)name_at;
    if (r->check == SA_QC_REGEX) {
        /* Compiled once, here, with the rule's name and column known
         * whatever the order of its keys. */
        int rrc = regcomp(&r->re, r->pattern, REG_EXTENDED | REG_NOSUB);
        char msg[160];
        if (rrc) {
            regerror(rrc, &r->re, msg, sizeof msg);
            return qfail(ld, check_at,
                         "%s (rule '%s', column %s): regex /%s/ does not "
                         "compile: %s",
                         where, r->name, r->column, r->pattern, msg);
        }
        r->has_re = 1;
    }
    rc = SA_OK;
    return rc;
}

static int load_stream(struct qloader *ld, yaml_node_t *k, yaml_node_t *v,
                       struct sa_quality_stream *qs)
{
    yaml_node_t *rules = NULL;
    char where[200];
    size_t n;
    int rc;

    qs->line = (unsigned)k->start_mark.line + 1;
    qs->col = (unsigned)k->start_mark.column + 1;
    if (!(qs->stream = strdup(text(k))))
        return SA_ENOMEM;
    if (v->type != YAML_MAPPING_NODE)
        return qfail(ld, v, "streams.%s: expected a mapping (quality: [...])",
                     qs->stream);
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
         p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *sk = qnode(ld, p->key);
        if (!text(sk) || strcmp(text(sk), "quality") != 0)
            return qfail(ld, sk, "streams.%s: unknown key '%s' (known: quality)",
                         qs->stream, text(sk) ? text(sk) : "?");
        rules = qnode(ld, p->value);
    }
    if (!rules || rules->type != YAML_SEQUENCE_NODE)
        return qfail(ld, rules ? rules : v,
                     "streams.%s.quality: expected a list of rules", qs->stream);
    n = (size_t)(rules->data.sequence.items.top - rules->data.sequence.items.start);
    if (n > RULES_MAX)
        return qfail(ld, rules, "streams.%s.quality: %zu rules, at most %d", qs->stream,
                     n, RULES_MAX);
    if (!(qs->rules = calloc(n + 1, sizeof *qs->rules)))
        return SA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = qnode(ld, rules->data.sequence.items.start[i]);
        snprintf(where, sizeof where, "streams.%s.quality[%zu]", qs->stream, i);
        qs->n_rules = i + 1;
        if ((rc = load_rule(ld, item, where, &qs->rules[i])))
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(qs->rules[j].name, qs->rules[i].name) == 0)
                return qfail(ld, item,
                             "%s: a second rule named '%s' (the first is at line "
                             "%u); give one a name:",
                             where, qs->rules[i].name, qs->rules[j].line);
    }
    return SA_OK;
}

int sa_quality_conf_load(struct yaml_document_s *doc, struct yaml_node_s *node,
                         const char *file, struct sa_quality_conf **out,
                         struct sa_err *err)
{
    struct qloader ld = {.doc = doc, .file = file, .err = err};
    struct sa_quality_conf *qc;
    size_t n;
    int rc = SA_OK;

    *out = NULL;
    if (!(qc = calloc(1, sizeof *qc)) || !(qc->file = strdup(file))) {
        free(qc);
        return sa_err_set(err, SA_ENOMEM, "%s: out of memory", file);
    }
    if (node->type == YAML_SCALAR_NODE &&
        (!*text(node) || strcmp(text(node), "~") == 0 ||
         strcmp(text(node), "null") == 0))
        goto out; /* `streams:` with nothing under it */
    if (node->type != YAML_MAPPING_NODE) {
        rc = qfail(&ld, node, "streams: expected a mapping of stream names");
        goto out;
    }
    n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if (!(qc->streams = calloc(n + 1, sizeof *qc->streams))) {
        rc = SA_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *k = qnode(&ld, p->key);
        if (!text(k)) {
            rc = qfail(&ld, k, "streams: a stream name is a scalar");
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(qc->streams[j].stream, text(k)) == 0) {
                rc = qfail(&ld, k, "streams: '%s' appears twice", text(k));
                goto out;
            }
        qc->n_streams = i + 1;
        if ((rc = load_stream(&ld, k, qnode(&ld, p->value), &qc->streams[i])))
            goto out;
    }
out:
    if (rc == SA_ENOMEM)
        sa_err_set(err, SA_ENOMEM, "%s: out of memory", file);
    if (rc) {
        sa_quality_conf_free(qc);
        return rc;
    }
    *out = qc;
    return SA_OK;
}

void sa_quality_conf_free(struct sa_quality_conf *qc)
{
    if (!qc)
        return;
    for (size_t i = 0; i < qc->n_streams; i++) {
        for (size_t j = 0; j < qc->streams[i].n_rules; j++)
            rule_fini(&qc->streams[i].rules[j]);
        free(qc->streams[i].rules);
        free(qc->streams[i].stream);
    }
    free(qc->streams);
    free(qc->file);
    free(qc);
}

const struct sa_quality_stream *sa_quality_conf_stream(const struct sa_quality_conf *qc,
                                                       const char *stream)
{
    for (size_t i = 0; qc && i < qc->n_streams; i++)
        if (strcmp(qc->streams[i].stream, stream) == 0 && qc->streams[i].n_rules)
            return &qc->streams[i];
    return NULL;
}

int sa_quality_conf_check_streams(const struct sa_quality_conf *qc,
                                  const struct sa_config *cfg, struct sa_err *err)
{
    for (size_t i = 0; qc && i < qc->n_streams; i++) {
        int found = 0;
        for (size_t s = 0; s < cfg->n_sources && !found; s++)
            found = strcmp(cfg->sources[s].stream, qc->streams[i].stream) == 0;
        if (!found)
            return sa_err_set(err, SA_ECONFIG,
                              "%s:%u:%u: streams.%s: no source produces "
                              "stream '%s'",
                              qc->file, qc->streams[i].line, qc->streams[i].col,
                              qc->streams[i].stream, qc->streams[i].stream);
    }
    return SA_OK;
}

void sa_quality_describe(FILE *out)
{
    fprintf(out,
            "\nstreams: <stream>: quality: (a list of data quality rules per stream, "
            "checked after the schema;\n  one check per rule; failures are counted per "
            "stream, rule and action)\n");
    for (size_t i = 0; rule_keys[i].key; i++)
        fprintf(out, "  %-14s %-9s %s\n", rule_keys[i].key, rule_keys[i].type,
                rule_keys[i].desc);
}
