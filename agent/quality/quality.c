/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data quality rules: evaluating them on the ingest path.
 *
 * WHERE
 *
 * sa_batch_add_record (agent/pipeline.c) calls sa_quality_eval for every
 * upsert of a stream that has rules, after the record passed its schema
 * (every field set or defaulted, the event time and the key known) and
 * before it is framed into the batch. A delete carries only its key's
 * meaning and is not checked.
 *
 * THREADS
 *
 * One checker per source (pipeline lane), used only by the polling thread
 * that owns the lane. The failure counters are the metrics registry's
 * (agent/base/metrics.h: syncagent_quality_failures_total{stream,rule,
 * action}), registered once when the checker is made: a failure costs one
 * relaxed atomic add, and /metrics reads them from any thread; everything
 * else (the duplicate window, the tags buffer) is the
 * polling thread's alone.
 *
 * ORDER AND OUTCOME
 *
 * Rules run in the order they are written; every rule runs, so that every
 * failure is counted. The verdict: the first failed `reject` rule rejects
 * (the source dead-letters the row with the reason, which names the rule,
 * the column and the value, as for any other rejected row); else the first
 * failed `drop` rule drops (the pipeline counts it in the roll-ups and
 * audits it); else the record passes with the names of the failed `tag`
 * rules, comma-separated, kept in its frame (store/segment.h
 * SA_FRAME_TAGGED) for the sinks.
 *
 * INVARIANTS
 *
 *   Q1 Every upsert of a stream with rules ends in exactly one of: framed
 *      into the batch (tagged or not), dead-lettered by its source with
 *      the deciding rule's reason, or counted as dropped in the batch
 *      (pipeline.c). None leaves without a trace (DESIGN.md I4).
 *   Q2 Drop and tag counts reach the daily roll-ups in the commit of the
 *      batch they were counted in (store/rollup.c), with the positions
 *      of the records they stand for: after kill -9 the roll-ups match
 *      what the sources read again.
 *   Q3 A rule's configuration is immutable while a checker uses it; a
 *      reload makes new checkers (and finds the same metric series).
 *
 * THE DUPLICATE WINDOW (unique_within)
 *
 * Keyed by the schema's x-key, over ingest time (the wall clock when the
 * record is checked). Memory is bounded by unique_keys (default 100,000)
 * entries of 16 bytes in a ring, in arrival order, plus an open-addressing
 * table of 4-byte slots at most half full: about 26 bytes a key, 2.6 MB at
 * the default. Entries older than the window leave from the ring's head as
 * time passes. When the ring is full the oldest key is forgotten before its
 * time (counted in syncagent_quality_unique_evicted_total, logged once); a
 * duplicate of a forgotten key then passes. Keys are compared by a 64-bit
 * hash: two different keys collide with probability about n/2^64,
 * negligible beside the bound. A key enters the window when first seen, and
 * its duplicates inside the window do not extend it.
 */
#include "agent/quality/quality.h"

#include "agent/base/buf.h"
#include "agent/base/log.h"
#include "agent/base/metrics.h"
#include "agent/record.h"
#include "agent/schemas.h"
#include "store/schema.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

const char *const sa_quality_action_names[] = {"reject", "tag", "drop", NULL};

/* How much of a value a reason quotes. */
#define VALUE_QUOTE_MAX 120

struct window {
    uint64_t *hash; /* ring of max_keys entries */
    int64_t *ts;
    size_t cap, head, n;
    uint32_t *slots; /* ring index + 1, 0: empty */
    size_t mask;
    int warned;
};

/* Recent values of a regex rule's column and whether they matched:
 * glibc's regexec allocates and sets up per call (~100-200 ns on a short
 * string), while the columns people check with a pattern (codes, SKUs,
 * country codes, device ids) repeat a bounded set of values. Direct
 * mapped by the value's hash; values longer than MEMO_VALUE_MAX always
 * run the regex. 2048 entries of 64 bytes: 128 KiB a regex rule. */
#define MEMO_ENTRIES 2048
#define MEMO_VALUE_MAX 54
struct memo_entry {
    uint64_t hash;
    uint8_t len; /* 0: empty (the empty value is never memoized) */
    uint8_t matched;
    char value[MEMO_VALUE_MAX];
};
struct regex_memo {
    struct memo_entry e[MEMO_ENTRIES];
};

struct rule_state {
    const struct sa_quality_rule *rule;
    int field; /* schema field index, -1: none */
    struct window win;
    struct regex_memo *memo; /* regex rules: recent values' outcomes */
    struct sa_buf text;      /* regex rules: the value, NUL-terminated */
    /* syncagent_quality_failures_total{stream,rule,action}; two sources
     * of one stream share the series (M2), and so this count. */
    struct sa_counter *failures;
    /* syncagent_quality_unique_evicted_total{stream,rule}: keys a full
     * window forgot early (unique rules only) */
    struct sa_counter *evicted;
};

struct sa_quality {
    const struct sa_quality_stream *qs;
    const struct sa_schema *schema;
    struct rule_state *rules;
    size_t n_rules;
    char tags[1024];
};

/* --- the duplicate window ------------------------------------------------- */

static uint64_t key_hash(const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then a finalizer */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)key[i]) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static int window_init(struct window *w, int64_t max_keys)
{
    size_t slots = 16;

    w->cap = (size_t)max_keys;
    while (slots < w->cap * 2)
        slots <<= 1;
    w->hash = calloc(w->cap, sizeof *w->hash);
    w->ts = calloc(w->cap, sizeof *w->ts);
    w->slots = calloc(slots, sizeof *w->slots);
    w->mask = slots - 1;
    return w->hash && w->ts && w->slots ? SA_OK : SA_ENOMEM;
}

static void window_fini(struct window *w)
{
    free(w->hash);
    free(w->ts);
    free(w->slots);
}

/* Remove the ring's oldest entry from the table (backward-shift deletion,
 * so that probe chains stay whole without tombstones). */
static void window_pop(struct window *w)
{
    size_t r = w->head, i = w->hash[r] & w->mask, j;

    while (w->slots[i] != r + 1)
        i = (i + 1) & w->mask;
    for (j = i;;) {
        size_t k;
        j = (j + 1) & w->mask;
        if (!w->slots[j])
            break;
        k = w->hash[w->slots[j] - 1] & w->mask;
        /* Move j's entry into the hole at i unless its home lies in (i, j]. */
        if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
            w->slots[i] = w->slots[j];
            i = j;
        }
    }
    w->slots[i] = 0;
    w->head = (w->head + 1) % w->cap;
    w->n--;
}

/* 1 when key was seen within window_ms of now, else remember it. */
static int window_seen(struct rule_state *rs, int64_t now, const char *key, size_t len)
{
    struct window *w = &rs->win;
    uint64_t h = key_hash(key, len);
    size_t i, r;

    while (w->n && now - w->ts[w->head] >= rs->rule->window_ms)
        window_pop(w);
    for (i = h & w->mask; w->slots[i]; i = (i + 1) & w->mask)
        if (w->hash[w->slots[i] - 1] == h)
            return 1;
    if (w->n == w->cap) {
        window_pop(w);
        sa_counter_inc(rs->evicted);
        if (!w->warned) {
            w->warned = 1;
            sa_log_warn("quality: duplicate window full, oldest keys forgotten early",
                        "rule", rs->rule->name);
        }
        /* The pop may have moved entries into this probe chain. */
        for (i = h & w->mask; w->slots[i]; i = (i + 1) & w->mask)
            ;
    }
    r = (w->head + w->n) % w->cap;
    w->hash[r] = h;
    w->ts[r] = now;
    w->slots[i] = (uint32_t)(r + 1);
    w->n++;
    return 0;
}

/* --- values --------------------------------------------------------------- */

static int is_numeric(avro_type_t k)
{
    return k == AVRO_INT32 || k == AVRO_INT64 || k == AVRO_FLOAT || k == AVRO_DOUBLE;
}

static int is_text(avro_type_t k)
{
    return k == AVRO_STRING || k == AVRO_BYTES || k == AVRO_ENUM;
}

static double as_double(const struct sa_field_value *v)
{
    return v->kind == AVRO_FLOAT || v->kind == AVRO_DOUBLE ? v->d : (double)v->l;
}

/* The value as text for a reason. */
static void value_text(const struct sa_field_value *v, char *buf, size_t size)
{
    switch (v->kind) {
    case AVRO_NULL:
        snprintf(buf, size, "null");
        break;
    case AVRO_BOOLEAN:
        snprintf(buf, size, "%s", v->l ? "true" : "false");
        break;
    case AVRO_INT32:
    case AVRO_INT64:
        snprintf(buf, size, "%lld", (long long)v->l);
        break;
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        snprintf(buf, size, "%.17g", v->d);
        break;
    default:
        if (v->s)
            snprintf(buf, size, "'%.*s%s'",
                     (int)(v->len > VALUE_QUOTE_MAX ? VALUE_QUOTE_MAX : v->len), v->s,
                     v->len > VALUE_QUOTE_MAX ? "..." : "");
        else
            snprintf(buf, size, "?");
    }
}

static size_t utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((uint8_t)s[i] & 0xC0) != 0x80;
    return n;
}

/* The value is not NUL-terminated, so it is copied into rs->text first.
 * REG_STARTEND would bound the match without a copy, but sanitizers'
 * regexec interceptors read the string up to a NUL regardless, and the
 * memo below keeps the copy off the common path. 1 matched, 0 not, -1 out
 * of memory. */
static int regex_match(struct rule_state *rs, const char *s, size_t len)
{
    sa_buf_reset(&rs->text);
    if (sa_buf_append(&rs->text, s, len) || sa_buf_terminate(&rs->text))
        return -1;
    return regexec(&rs->rule->re, (const char *)rs->text.data, 0, NULL, 0) == 0;
}

static int memo_match(struct rule_state *rs, const char *s, size_t len)
{
    struct memo_entry *e;
    uint64_t h;
    int matched;

    if (!rs->memo || len == 0 || len > MEMO_VALUE_MAX)
        return regex_match(rs, s, len);
    h = key_hash(s, len);
    e = &rs->memo->e[h & (MEMO_ENTRIES - 1)];
    if (e->hash == h && e->len == len && memcmp(e->value, s, len) == 0)
        return e->matched;
    if ((matched = regex_match(rs, s, len)) < 0)
        return matched;
    e->hash = h;
    e->len = (uint8_t)len;
    e->matched = (uint8_t)matched;
    memcpy(e->value, s, len);
    return matched;
}

/* 1 when the record satisfies the rule; else 0 with why. */
static int check_rule(struct rule_state *rs, const struct sa_record *rec,
                      int64_t event_ms, int64_t now_ms, const char *key, size_t key_len,
                      struct sa_err *why)
{
    const struct sa_quality_rule *r = rs->rule;
    struct sa_field_value v;
    char shown[VALUE_QUOTE_MAX + 40];
    int have = 0, m;

    if (rs->field >= 0) {
        have = sa_record_get(rec, rs->field, &v) == SA_OK && v.kind != AVRO_NULL;
    }
    /* The value as text only for a reason: formatting it costs more than
     * most checks. */
#define SHOWN() (value_text(&v, shown, sizeof shown), shown)
#define FAIL(...) (sa_err_set(why, SA_ERECORD, __VA_ARGS__), 0)
    switch (r->check) {
    case SA_QC_REQUIRED:
        if (!have || (v.s && v.len == 0 && v.kind != AVRO_ENUM))
            return FAIL("quality rule '%s' failed: column %s is %s", r->name, r->column,
                        have ? "empty" : "null");
        return 1;
    case SA_QC_RANGE:
        if (!have)
            return 1; /* null: `required` says whether that is allowed */
        {
            double d = as_double(&v);
            if (isnan(d) || (r->has_min && d < r->min) || (r->has_max && d > r->max))
                return FAIL("quality rule '%s' failed: column %s = %s is %s %.17g",
                            r->name, r->column, SHOWN(),
                            r->has_min && !(d >= r->min) ? "below min" : "above max",
                            r->has_min && !(d >= r->min) ? r->min : r->max);
        }
        return 1;
    case SA_QC_REGEX:
        if (!have || !v.s)
            return 1;
        m = memo_match(rs, v.s, v.len);
        if (m < 0)
            return FAIL("quality rule '%s': column %s: out of memory for the regex check",
                        r->name, r->column);
        if (!m)
            return FAIL("quality rule '%s' failed: column %s = %s does not match /%s/",
                        r->name, r->column, SHOWN(), r->pattern);
        return 1;
    case SA_QC_ONE_OF:
        if (!have)
            return 1;
        {
            char num[64];
            const char *s = v.s;
            size_t len = v.len;
            if (!s) {
                value_text(&v, num, sizeof num);
                s = num;
                len = strlen(num);
            }
            for (size_t i = 0; i < r->n_one_of; i++)
                if (r->one_of_len[i] == len && memcmp(r->one_of[i], s, len) == 0)
                    return 1;
        }
        return FAIL(
            "quality rule '%s' failed: column %s = %s is not one of the %zu values",
            r->name, r->column, SHOWN(), r->n_one_of);
    case SA_QC_MAX_LENGTH:
        if (!have || !v.s)
            return 1;
        if ((int64_t)v.len > r->max_length &&
            (int64_t)utf8_length(v.s, v.len) > r->max_length)
            return FAIL("quality rule '%s' failed: column %s = %s is longer than %lld "
                        "characters",
                        r->name, r->column, SHOWN(), (long long)r->max_length);
        return 1;
    case SA_QC_FRESHNESS:
        if (r->max_age_ms && now_ms - event_ms > r->max_age_ms)
            return FAIL("quality rule '%s' failed: event time %lld ms is %lld ms old, "
                        "more than max_age %lld ms",
                        r->name, (long long)event_ms, (long long)(now_ms - event_ms),
                        (long long)r->max_age_ms);
        if (r->max_future_ms && event_ms - now_ms > r->max_future_ms)
            return FAIL(
                "quality rule '%s' failed: event time %lld ms is %lld ms ahead of "
                "the clock, more than max_future %lld ms",
                r->name, (long long)event_ms, (long long)(event_ms - now_ms),
                (long long)r->max_future_ms);
        return 1;
    case SA_QC_UNIQUE:
        if (window_seen(rs, now_ms, key, key_len))
            return FAIL(
                "quality rule '%s' failed: key '%.*s' seen again within %lld ms",
                r->name, (int)(key_len > VALUE_QUOTE_MAX ? VALUE_QUOTE_MAX : key_len),
                key, (long long)r->window_ms);
        return 1;
    }
#undef FAIL
#undef SHOWN
    return 1;
}

int sa_quality_eval(struct sa_quality *q, const struct sa_record *rec, int64_t event_ms,
                    int64_t now_ms, const char *key, size_t key_len,
                    struct sa_quality_verdict *v, struct sa_err *why)
{
    struct sa_err rule_why;
    size_t tags_len = 0;
    int decided = 0; /* 1: drop found, 2: reject found */

    v->tags = q->tags;
    v->tags_len = 0;
    for (size_t i = 0; i < q->n_rules; i++) {
        struct rule_state *rs = &q->rules[i];
        const struct sa_quality_rule *r = rs->rule;

        if (check_rule(rs, rec, event_ms, now_ms, key, key_len, &rule_why))
            continue;
        sa_counter_inc(rs->failures);
        if (r->action == SA_QUALITY_REJECT && decided < 2) {
            decided = 2;
            v->action = r->action;
            v->rule = i;
            *why = rule_why;
        } else if (r->action == SA_QUALITY_DROP && decided < 1) {
            decided = 1;
            v->action = r->action;
            v->rule = i;
            *why = rule_why;
        } else if (r->action == SA_QUALITY_TAG) {
            size_t n = strlen(r->name);
            /* Names are short (checked at load); the buffer holds them all. */
            if (tags_len + n + 1 <= sizeof q->tags) {
                if (tags_len)
                    q->tags[tags_len++] = ',';
                memcpy(q->tags + tags_len, r->name, n);
                tags_len += n;
            }
        }
    }
    if (decided)
        return 0;
    v->tags_len = tags_len;
    return 1;
}

/* --- set-up --------------------------------------------------------------- */

int sa_quality_new(struct sa_quality **out, const struct sa_quality_stream *qs,
                   const char *file, const struct sa_schema *schema, struct sa_err *err)
{
    struct sa_quality *q;
    int rc;

    *out = NULL;
    if ((rc = sa_quality_check_schema(qs, file, schema, err)))
        return rc;
    if (!(q = calloc(1, sizeof *q)) ||
        !(q->rules = calloc(qs->n_rules + 1, sizeof *q->rules))) {
        free(q);
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    }
    q->qs = qs;
    q->schema = schema;
    q->n_rules = qs->n_rules;
    for (size_t i = 0; i < qs->n_rules; i++) {
        struct rule_state *rs = &q->rules[i];
        rs->rule = &qs->rules[i];
        sa_buf_init(&rs->text, SIZE_MAX - 1);
        rs->field =
            rs->rule->column ? sa_record_field_index(schema, rs->rule->column) : -1;
        if ((rc = sa_metrics_counter(
                 sa_metrics_global(), "syncagent_quality_failures_total",
                 "Records that failed a data quality rule, by stream, rule and action.",
                 (const char *[]){"stream", qs->stream, "rule", rs->rule->name,
                                  "action", sa_quality_action_names[rs->rule->action],
                                  NULL},
                 &rs->failures, err))) {
            sa_quality_free(q);
            return sa_err_prefix(err,
                                 "stream %s: quality rule '%s': metrics: ", qs->stream,
                                 rs->rule->name);
        }
        if (rs->rule->check == SA_QC_UNIQUE &&
            (rc = sa_metrics_counter(
                 sa_metrics_global(), "syncagent_quality_unique_evicted_total",
                 "Keys a full unique_within window forgot before their time "
                 "(unique_keys): a duplicate of one of them may pass.",
                 (const char *[]){"stream", qs->stream, "rule", rs->rule->name, NULL},
                 &rs->evicted, err))) {
            sa_quality_free(q);
            return sa_err_prefix(err,
                                 "stream %s: quality rule '%s': metrics: ", qs->stream,
                                 rs->rule->name);
        }
        if (rs->rule->check == SA_QC_REGEX &&
            !(rs->memo = calloc(1, sizeof *rs->memo))) {
            sa_quality_free(q);
            return sa_err_set(err, SA_ENOMEM, "out of memory");
        }
        if (rs->rule->check == SA_QC_UNIQUE &&
            window_init(&rs->win, rs->rule->max_keys)) {
            sa_quality_free(q);
            return sa_err_set(err, SA_ENOMEM,
                              "stream %s: quality rule '%s': no memory "
                              "for %lld keys",
                              qs->stream, rs->rule->name,
                              (long long)rs->rule->max_keys);
        }
    }
    *out = q;
    return SA_OK;
}

void sa_quality_free(struct sa_quality *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n_rules; i++) {
        window_fini(&q->rules[i].win);
        free(q->rules[i].memo);
        sa_buf_fini(&q->rules[i].text);
    }
    free(q->rules);
    free(q);
}

size_t sa_quality_n_rules(const struct sa_quality *q)
{
    return q ? q->n_rules : 0;
}

const struct sa_quality_rule *sa_quality_rule_at(const struct sa_quality *q, size_t i)
{
    return i < q->n_rules ? q->rules[i].rule : NULL;
}

uint64_t sa_quality_failures(const struct sa_quality *q, size_t i)
{
    return i < q->n_rules ? sa_counter_get(q->rules[i].failures) : 0;
}

uint64_t sa_quality_unique_evicted(const struct sa_quality *q, size_t i)
{
    return i < q->n_rules && q->rules[i].evicted ? sa_counter_get(q->rules[i].evicted)
                                                 : 0;
}

/* --- against a schema ----------------------------------------------------- */

static int schema_fail(const char *file, const struct sa_quality_stream *qs,
                       const struct sa_quality_rule *r, struct sa_err *err,
                       const char *what)
{
    return sa_err_set(err, SA_ECONFIG,
                      "%s:%u:%u: streams.%s.quality: rule '%s'%s%s: %s",
                      file ? file : "config", r->line, r->col, qs->stream, r->name,
                      r->column ? ", column " : "", r->column ? r->column : "", what);
}

int sa_quality_check_schema(const struct sa_quality_stream *qs, const char *file,
                            const struct sa_schema *schema, struct sa_err *err)
{
    char what[256];

    for (size_t i = 0; i < qs->n_rules; i++) {
        const struct sa_quality_rule *r = &qs->rules[i];
        const struct sa_schema_field *f;
        int field;

        if (r->check == SA_QC_UNIQUE && schema->key_field < 0) {
            snprintf(what, sizeof what,
                     "unique_within needs a key, and schema %s:v%d "
                     "has no x-key",
                     schema->subject, schema->version);
            return schema_fail(file, qs, r, err, what);
        }
        if (r->check == SA_QC_FRESHNESS && schema->event_time_field < 0) {
            snprintf(what, sizeof what,
                     "max_age/max_future need an event time, and "
                     "schema %s:v%d has no x-event-time",
                     schema->subject, schema->version);
            return schema_fail(file, qs, r, err, what);
        }
        if (!r->column)
            continue;
        if ((field = sa_record_field_index(schema, r->column)) < 0) {
            snprintf(what, sizeof what, "no such column in schema %s:v%d",
                     schema->subject, schema->version);
            return schema_fail(file, qs, r, err, what);
        }
        f = &schema->fields[field];
        if ((r->check == SA_QC_RANGE && !is_numeric(f->kind)) ||
            ((r->check == SA_QC_REGEX || r->check == SA_QC_MAX_LENGTH) &&
             !(is_text(f->kind))) ||
            (r->check == SA_QC_ONE_OF && !is_text(f->kind) && !is_numeric(f->kind))) {
            snprintf(what, sizeof what, "%s does not apply to a field of type %s",
                     r->check == SA_QC_RANGE    ? "min/max"
                     : r->check == SA_QC_REGEX  ? "regex"
                     : r->check == SA_QC_ONE_OF ? "one_of"
                                                : "max_length",
                     avro_schema_type_name(f->value));
            return schema_fail(file, qs, r, err, what);
        }
    }
    return SA_OK;
}
