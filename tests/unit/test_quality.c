/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the data quality rules (agent/quality/): every check passing
 * and failing with a reason naming the rule, the column and the value;
 * the verdict of several actions; the duplicate window and its bound; the
 * config errors of the `streams:` section, and those found against a
 * schema. The configs are loaded through sa_config_load_string, as the
 * agent loads them.
 */
#include "agent/base/metrics.h"
#include "agent/config.h"
#include "agent/quality/quality.h"
#include "agent/record.h"
#include "store/schema.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char schema_json[] =
    "{\"type\":\"record\",\"name\":\"T\",\"x-key\":\"id\",\"x-event-time\":\"ts\","
    "\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}"
    "},"
    "{\"name\":\"amount\",\"type\":[\"null\",\"double\"],\"default\":null},"
    "{\"name\":\"qty\",\"type\":\"int\",\"default\":1},"
    "{\"name\":\"name\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"color\",\"type\":{\"type\":\"enum\",\"name\":\"C\","
    "\"symbols\":[\"RED\",\"GREEN\",\"BLUE\"]},\"default\":\"RED\"}]}";

static const char config_head[] = "sources:\n"
                                  "  - name: g\n"
                                  "    type: generator\n"
                                  "    stream: t\n"
                                  "    schema: t\n"
                                  "streams:\n"
                                  "  t:\n"
                                  "    quality:\n";

#define NOW 1800000000000LL

struct fixture {
    struct sa_schema *schema;
    struct sa_config *cfg;
    struct sa_quality *q;
    struct sa_record rec;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct sa_err err = {0};

    assert_int_equal(sa_schema_parse("t", 1, schema_json, &f->schema, &err), SA_OK);
    assert_int_equal(sa_record_init(&f->rec, f->schema, &err), SA_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sa_quality_free(f->q);
    sa_config_free(f->cfg);
    sa_record_fini(&f->rec);
    sa_schema_free(f->schema);
    free(f);
    sa_metrics_global_reset();
    return 0;
}

/* Load the rules (the lines after config_head) and make a checker. */
static void rules(struct fixture *f, const char *lines)
{
    char yaml[4096];
    struct sa_err err = {0};

    snprintf(yaml, sizeof yaml, "%s%s", config_head, lines);
    if (sa_config_load_string(yaml, "q.yaml", &f->cfg, &err) != SA_OK)
        fail_msg("config: %s", err.msg);
    const struct sa_quality_stream *qs = sa_quality_conf_stream(f->cfg->quality, "t");
    assert_non_null(qs);
    if (sa_quality_new(&f->q, qs, "q.yaml", f->schema, &err) != SA_OK)
        fail_msg("checker: %s", err.msg);
}

/* Set a record from "field=value;..." (text forms), apply the defaults
 * and check it at event time ts. Returns the verdict's pass flag. */
static int eval(struct fixture *f, const char *fields, int64_t ts,
                struct sa_quality_verdict *v, struct sa_err *why)
{
    char buf[512], *save = NULL;
    struct sa_err err = {0};
    size_t size;
    char key[128];

    sa_record_reset(&f->rec);
    snprintf(buf, sizeof buf, "%s", fields);
    for (char *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '=');
        assert_non_null(eq);
        *eq = '\0';
        int field = sa_record_field_index(f->schema, kv);
        assert_true(field >= 0);
        if (sa_record_set_text(&f->rec, field, eq + 1, strlen(eq + 1), &err))
            fail_msg("set %s: %s", kv, err.msg);
    }
    if (sa_record_set_long(&f->rec, 1, ts, &err) ||
        sa_record_encoded_size(&f->rec, &size, &err))
        fail_msg("record: %s", err.msg);
    struct sa_field_value id;
    assert_int_equal(sa_record_get(&f->rec, 0, &id), SA_OK);
    snprintf(key, sizeof key, "%.*s", (int)id.len, id.s);
    memset(why, 0, sizeof *why);
    return sa_quality_eval(f->q, &f->rec, ts, NOW, key, strlen(key), v, why);
}

static void expect_fail(struct fixture *f, const char *fields, int64_t ts,
                        enum sa_quality_action action, const char *reason_part)
{
    struct sa_quality_verdict v;
    struct sa_err why;

    if (eval(f, fields, ts, &v, &why))
        fail_msg("'%s' passed; expected to fail with '%s'", fields, reason_part);
    assert_int_equal(v.action, action);
    if (!strstr(why.msg, reason_part))
        fail_msg("reason '%s' lacks '%s'", why.msg, reason_part);
}

static void expect_pass(struct fixture *f, const char *fields, int64_t ts,
                        const char *tags)
{
    struct sa_quality_verdict v;
    struct sa_err why;

    if (!eval(f, fields, ts, &v, &why))
        fail_msg("'%s' failed: %s", fields, why.msg);
    assert_int_equal(v.tags_len, strlen(tags));
    assert_memory_equal(v.tags, tags, v.tags_len);
}

static void test_required(void **state)
{
    struct fixture *f = *state;
    rules(f, "      - {column: name, required: true}\n");
    expect_pass(f, "id=a;name=x", NOW, "");
    expect_fail(f, "id=a", NOW, SA_QUALITY_REJECT,
                "quality rule 'name_required' failed: column name is null");
    expect_fail(f, "id=a;name=", NOW, SA_QUALITY_REJECT, "column name is null");
    assert_int_equal(sa_quality_failures(f->q, 0), 2);
}

static void test_range(void **state)
{
    struct fixture *f = *state;
    rules(f, "      - {column: amount, min: 0, max: 10.5}\n"
             "      - {column: qty, min: 1, action: tag}\n");
    expect_pass(f, "id=a;amount=0", NOW, "");
    expect_pass(f, "id=a;amount=10.5;qty=3", NOW, "");
    expect_pass(f, "id=a", NOW, ""); /* null: required's to say */
    expect_fail(f, "id=a;amount=-0.5", NOW, SA_QUALITY_REJECT,
                "rule 'amount_range' failed: column amount = -0.5 is below min 0");
    expect_fail(f, "id=a;amount=11", NOW, SA_QUALITY_REJECT, "= 11 is above max 10.5");
    expect_fail(f, "id=a;amount=NaN", NOW, SA_QUALITY_REJECT, "column amount = nan");
    expect_pass(f, "id=a;qty=0", NOW, "qty_min");
}

static void test_regex_one_of_length(void **state)
{
    struct fixture *f = *state;
    rules(f, "      - {column: id, regex: \"^[a-z]+-[0-9]{2}$\"}\n"
             "      - {column: color, one_of: [RED, BLUE], action: tag, name: hue}\n"
             "      - {column: qty, one_of: [1, 2, 3], action: tag}\n"
             "      - {column: name, max_length: 3, action: tag}\n");
    expect_pass(f, "id=ab-12;color=BLUE;name=äöü", NOW, "");
    expect_fail(f, "id=ab-123", NOW, SA_QUALITY_REJECT,
                "rule 'id_regex' failed: column id = 'ab-123' does not match "
                "/^[a-z]+-[0-9]{2}$/");
    expect_pass(f, "id=ab-12;color=GREEN;qty=4;name=abcd", NOW,
                "hue,qty_one_of,name_max_length");
    /* again: the outcomes the regex memo keeps are the same */
    expect_fail(f, "id=ab-123", NOW, SA_QUALITY_REJECT, "does not match");
    expect_pass(f, "id=ab-12", NOW, "");
    /* longer than the memo keeps: the regex runs every time */
    expect_fail(f, "id=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefgh-1",
                NOW, SA_QUALITY_REJECT, "-1' does not match");
    expect_pass(f, "id=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefgh-12",
                NOW, "");
}

static void test_freshness(void **state)
{
    struct fixture *f = *state;
    rules(f, "      - {max_age: 1h, max_future: 5m, action: drop}\n");
    expect_pass(f, "id=a", NOW - 3600000, "");
    expect_pass(f, "id=a", NOW + 300000, "");
    expect_fail(f, "id=a", NOW - 3600001, SA_QUALITY_DROP,
                "rule 'freshness' failed: event time");
    expect_fail(f, "id=a", NOW + 300001, SA_QUALITY_DROP, "ahead of the clock");
}

/* Reject wins over drop, drop over tag; every failure is counted. */
static void test_verdict_order(void **state)
{
    struct fixture *f = *state;
    rules(f, "      - {column: qty, max: 5, action: tag, name: small}\n"
             "      - {column: qty, max: 10, action: drop, name: mid}\n"
             "      - {column: qty, max: 20, action: reject, name: big}\n");
    expect_pass(f, "id=a;qty=7", NOW, "small");
    expect_fail(f, "id=a;qty=15", NOW, SA_QUALITY_DROP, "rule 'mid' failed");
    expect_fail(f, "id=a;qty=25", NOW, SA_QUALITY_REJECT,
                "rule 'big' failed: column qty = 25 is above max 20");
    assert_int_equal(sa_quality_failures(f->q, 0), 3);
    assert_int_equal(sa_quality_failures(f->q, 1), 2);
    assert_int_equal(sa_quality_failures(f->q, 2), 1);
}

static void test_unique_window(void **state)
{
    struct fixture *f = *state;
    struct sa_quality_verdict v;
    struct sa_err why;
    char fields[64];

    rules(f, "      - {unique_within: 10m, unique_keys: 4, action: tag}\n");
    /* times move with the clock only: the window is over ingest time */
    expect_pass(f, "id=k1", NOW, "");
    expect_pass(f, "id=k2", NOW, "");
    expect_pass(f, "id=k1", NOW, "unique");
    assert_int_equal(sa_quality_unique_evicted(f->q, 0), 0);
    /* past the bound: the oldest keys are forgotten, and counted */
    for (int i = 3; i <= 8; i++) {
        snprintf(fields, sizeof fields, "id=k%d", i);
        assert_int_equal(eval(f, fields, NOW, &v, &why), 1);
        assert_int_equal(v.tags_len, 0);
    }
    assert_int_equal(sa_quality_unique_evicted(f->q, 0), 4);
    expect_pass(f, "id=k1", NOW, ""); /* forgotten early */
    expect_pass(f, "id=k8", NOW, "unique");
}

/* The window over the clock: a key seen more than the window ago is new. */
static void test_unique_expiry(void **state)
{
    struct fixture *f = *state;
    struct sa_quality_verdict v;
    struct sa_err why;
    const struct sa_quality_stream *qs;
    char yaml[1024];
    struct sa_err err = {0};

    snprintf(yaml, sizeof yaml, "%s%s", config_head,
             "      - {unique_within: 1s, action: drop}\n");
    assert_int_equal(sa_config_load_string(yaml, "q.yaml", &f->cfg, &err), SA_OK);
    qs = sa_quality_conf_stream(f->cfg->quality, "t");
    assert_int_equal(sa_quality_new(&f->q, qs, "q.yaml", f->schema, &err), SA_OK);
    sa_record_reset(&f->rec);
    assert_int_equal(sa_record_set_text(&f->rec, 0, "k", 1, &err), SA_OK);
    assert_int_equal(sa_record_set_long(&f->rec, 1, NOW, &err), SA_OK);
    size_t size;
    assert_int_equal(sa_record_encoded_size(&f->rec, &size, &err), SA_OK);
    assert_int_equal(sa_quality_eval(f->q, &f->rec, NOW, NOW, "k", 1, &v, &why), 1);
    assert_int_equal(sa_quality_eval(f->q, &f->rec, NOW, NOW + 999, "k", 1, &v, &why),
                     0);
    assert_int_equal(v.action, SA_QUALITY_DROP);
    assert_non_null(strstr(why.msg, "key 'k' seen again within 1000 ms"));
    assert_int_equal(sa_quality_eval(f->q, &f->rec, NOW, NOW + 1000, "k", 1, &v, &why),
                     1);
}

/* Config errors: the rules, then the expected error's text. */
static const struct {
    const char *rules;
    const char *error;
} bad[] = {
    {"      - {column: qty, minimum: 1}\n",
     "q.yaml:9:23: streams.t.quality[0]: unknown rule key 'minimum'"},
    {"      - {column: qty, min: 5, max: 1}\n",
     "q.yaml:9:28: streams.t.quality[0]: min 5 is greater than max 1"},
    {"      - {column: id, regex: \"a(b\"}\n",
     "q.yaml:9:29: streams.t.quality[0] (rule 'id_regex', column id): regex /a(b/ "
     "does not compile: Unmatched ( or \\("},
    {"      - {column: qty, min: x}\n",
     "streams.t.quality[0].min: expected a number, got 'x'"},
    {"      - {column: qty, min: 1, one_of: [1]}\n", "one check per rule"},
    {"      - {column: qty, action: tag}\n", "streams.t.quality[0]: no check"},
    {"      - {column: qty, max: 1, action: warn}\n",
     "action: 'warn' is not one of reject, tag, drop"},
    {"      - {column: qty, required: false}\n", "required: false checks nothing"},
    {"      - {required: true}\n", "streams.t.quality[0]: required needs a column"},
    {"      - {column: id, unique_within: 10m}\n",
     "unique_within checks the record's key (x-key), not a column"},
    {"      - {max_age: 5}\n", "max_age: expected a duration above 0"},
    {"      - {column: qty, max: 1}\n      - {column: qty, max: 2}\n",
     "streams.t.quality[1]: a second rule named 'qty_max' (the first is at line 9)"},
    {"      - {column: qty, max: 1, name: \"a b\"}\n", "'a b' is not a rule name"},
    {"      - {column: qty, max: 1, unique_keys: 5}\n",
     "unique_keys goes with unique_within"},
    {"      - {column: qty, one_of: []}\n", "one_of: expected a non-empty list"},
    {"      - column\n", "a rule is a mapping"},
};

static void test_config_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[1024];
        struct sa_config *cfg = NULL;
        struct sa_err err = {0};
        snprintf(yaml, sizeof yaml, "%s%s", config_head, bad[i].rules);
        if (sa_config_load_string(yaml, "q.yaml", &cfg, &err) != SA_ECONFIG) {
            sa_config_free(cfg);
            fail_msg("case %zu loaded; expected '%s'", i, bad[i].error);
        }
        if (!strstr(err.msg, bad[i].error))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].error);
    }
}

static void test_unknown_stream(void **state)
{
    struct sa_config *cfg = NULL;
    struct sa_err err = {0};
    (void)state;
    assert_int_equal(
        sa_config_load_string("sources:\n  - {name: g, type: generator, "
                              "stream: t}\nstreams:\n  orders:\n    quality:"
                              "\n      - {column: a, max: 1}\n",
                              "q.yaml", &cfg, &err),
        SA_ECONFIG);
    assert_string_equal(
        err.msg, "q.yaml:4:3: streams.orders: no source produces stream 'orders'");
}

/* What only the schema can tell, found by check and at open. */
static void test_schema_errors(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *rules, *error;
    } cases[] = {
        {"      - {column: price, max: 1}\n",
         "q.yaml:9:9: streams.t.quality: rule 'price_max', column price: no such "
         "column "
         "in schema t:v1"},
        {"      - {column: id, max: 1}\n",
         "min/max does not apply to a field of type string"},
        {"      - {column: amount, regex: x}\n",
         "regex does not apply to a field of type"},
        {"      - {column: qty, max_length: 3}\n", "max_length does not apply"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[1024];
        struct sa_config *cfg = NULL;
        struct sa_err err = {0};
        snprintf(yaml, sizeof yaml, "%s%s", config_head, cases[i].rules);
        assert_int_equal(sa_config_load_string(yaml, "q.yaml", &cfg, &err), SA_OK);
        assert_int_equal(
            sa_quality_check_schema(sa_quality_conf_stream(cfg->quality, "t"), "q.yaml",
                                    f->schema, &err),
            SA_ECONFIG);
        if (!strstr(err.msg, cases[i].error))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].error);
        sa_config_free(cfg);
    }
}

/* Failures reach the metrics registry with their labels. */
static void test_metrics(void **state)
{
    struct fixture *f = *state;
    struct sa_buf out;

    rules(f, "      - {column: qty, max: 5, action: tag, name: big}\n");
    expect_pass(f, "id=a;qty=7", NOW, "big");
    sa_buf_init(&out, 1 << 20);
    assert_int_equal(sa_metrics_write(sa_metrics_global(), &out), SA_OK);
    assert_int_equal(sa_buf_terminate(&out), SA_OK);
    assert_non_null(strstr((const char *)out.data,
                           "syncagent_quality_failures_total{"
                           "stream=\"t\",rule=\"big\",action=\"tag\"} "
                           "1"));
    sa_buf_fini(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regex_one_of_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_freshness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verdict_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unique_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unique_expiry, setup, teardown),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_unknown_stream),
        cmocka_unit_test_setup_teardown(test_schema_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
