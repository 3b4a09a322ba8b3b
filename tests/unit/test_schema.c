/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store/schema.c and agent/schemas.c: Parsing Canonical Form and
 * CRC-64-AVRO against the Avro project's vectors (tests/data/schema/
 * avro-vectors.txt), x-key / x-event-time, errors for bad schemas, the
 * schema set's loading, lookup and compatibility checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/schemas.h"
#include "store/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *path_of(const char *rel)
{
    const char *src = getenv("SA_SOURCE_DIR");
    static char buf[4][4096];
    static int next;
    char *p = buf[next++ % 4];
    assert_non_null(src);
    snprintf(p, 4096, "%s/%s", src, rel);
    return p;
}

static char *slurp(const char *rel)
{
    FILE *f = fopen(path_of(rel), "rb");
    char *text;
    long n;
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void test_avro_vectors(void **state)
{
    FILE *f = fopen(path_of("tests/data/schema/avro-vectors.txt"), "r");
    char line[4096], input[4096] = "", canonical[4096] = "";
    struct sa_buf out;
    int cases = 0;

    (void)state;
    assert_non_null(f);
    sa_buf_init(&out, 1 << 20);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "input ", 6) == 0) {
            snprintf(input, sizeof input, "%s", line + 6);
        } else if (strncmp(line, "canonical ", 10) == 0) {
            snprintf(canonical, sizeof canonical, "%s", line + 10);
        } else if (strncmp(line, "fingerprint ", 12) == 0) {
            struct sa_err err = {0};
            int64_t want = strtoll(line + 12, NULL, 10);
            assert_int_equal(sa_schema_canonical_form(input, &out, &err), SA_OK);
            if (strcmp((const char *)out.data, canonical) != 0)
                fail_msg("input %s: canonical %s, want %s", input,
                         (const char *)out.data, canonical);
            assert_int_equal((int64_t)sa_crc64_avro(out.data, out.len), want);
            cases++;
        }
    }
    fclose(f);
    sa_buf_fini(&out);
    assert_int_equal(cases, 13);
}

static void test_crc64_empty(void **state)
{
    (void)state;
    assert_true(sa_crc64_avro("", 0) == 0xc15d213aa4d7a795ULL);
    assert_true(sa_crc64_avro("a", 1) != sa_crc64_avro("b", 1));
}

static void test_parse_sample(void **state)
{
    char *text = slurp("schemas/sensor_reading/v2.avsc");
    struct sa_schema *s = NULL;
    struct sa_err err = {0};

    (void)state;
    assert_int_equal(sa_schema_parse("sensor_reading", 2, text, &s, &err), SA_OK);
    assert_string_equal(s->subject, "sensor_reading");
    assert_int_equal(s->version, 2);
    assert_int_equal(s->key_field, 0);        /* device_id */
    assert_int_equal(s->event_time_field, 1); /* ts */
    assert_int_equal(s->n_fields, 10);
    assert_non_null(
        strstr(s->canonical, "\"name\":\"io.syncagent.sample.SensorReading\""));
    assert_non_null(strstr(s->canonical, "io.syncagent.sample.SensorStatus"));
    assert_null(strstr(s->canonical, "doc"));
    assert_null(strstr(s->canonical, "default"));
    assert_null(strstr(s->canonical, "logicalType"));
    assert_null(strstr(s->canonical, "x-key"));
    assert_true(s->fingerprint == sa_crc64_avro(s->canonical, strlen(s->canonical)));
    /* the nullable field resolves to its value type */
    assert_true(s->fields[8].nullable);
    assert_int_equal(s->fields[8].kind, AVRO_DOUBLE);
    assert_int_equal(s->fields[8].null_branch, 0);
    assert_int_equal(s->fields[8].value_branch, 1);
    assert_string_equal(s->fields[8].default_json, "null");
    assert_int_equal(s->fields[1].logical, SA_LOGICAL_TIMESTAMP_MILLIS);
    assert_null(s->fields[0].default_json);
    sa_schema_free(s);
    free(text);
}

static void test_event_time_rules(void **state)
{
    struct sa_schema *s = NULL;
    struct sa_err err = {0};
    char *text = slurp("schemas/order/v1.avsc");

    (void)state;
    /* explicit x-event-time: updated_at, not the first timestamp */
    assert_int_equal(sa_schema_parse("order", 1, text, &s, &err), SA_OK);
    assert_string_equal(s->fields[s->event_time_field].name, "updated_at");
    assert_string_equal(s->fields[s->key_field].name, "order_id");
    sa_schema_free(s);
    free(text);

    /* none given: the first timestamp-millis field; no key */
    assert_int_equal(sa_schema_parse("x", 1,
                                     "{\"type\":\"record\",\"name\":\"X\",\"fields\":["
                                     "{\"name\":\"a\",\"type\":\"long\"},"
                                     "{\"name\":\"b\",\"type\":{\"type\":\"long\","
                                     "\"logicalType\":\"timestamp-millis\"}}]}",
                                     &s, &err),
                     SA_OK);
    assert_int_equal(s->event_time_field, 1);
    assert_int_equal(s->key_field, -1);
    assert_int_equal(s->version_field, -1);
    sa_schema_free(s);

    /* x-version: an int, a long or a nullable timestamp, as is */
    assert_int_equal(
        sa_schema_parse("x", 1,
                        "{\"type\":\"record\",\"name\":\"X\","
                        "\"x-version\":\"u\",\"fields\":["
                        "{\"name\":\"a\",\"type\":\"int\"},"
                        "{\"name\":\"u\",\"type\":[\"null\",{\"type\":"
                        "\"long\",\"logicalType\":\"timestamp-micros\"}]}]}",
                        &s, &err),
        SA_OK);
    assert_int_equal(s->version_field, 1);
    sa_schema_free(s);
}

static void expect_parse_error(const char *file, const char *needle)
{
    char *text = slurp(file);
    struct sa_schema *s = (struct sa_schema *)1;
    struct sa_err err = {0};

    assert_int_equal(sa_schema_parse("bad", 3, text, &s, &err), SA_ESCHEMA);
    assert_null(s);
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' does not contain '%s'", err.msg, needle);
    assert_non_null(strstr(err.msg, "schema bad v3"));
    free(text);
}

static void test_bad_schemas(void **state)
{
    (void)state;
    expect_parse_error("tests/data/schema/bad-json.avsc", "line 3");
    expect_parse_error("tests/data/schema/bad-key.avsc", "'nope'");
    expect_parse_error("tests/data/schema/not-record.avsc", "must be a record");
    expect_parse_error("tests/data/schema/bad-avro.avsc", "strnig");
    expect_parse_error("tests/data/schema/bad-version-field.avsc",
                       "x-version names 'gone'");
    expect_parse_error("tests/data/schema/bad-version-type.avsc",
                       "must be an int or a long");
}

static void test_load_and_lookup(void **state)
{
    struct sa_schema_set *set = NULL;
    struct sa_err err = {0};
    const struct sa_schema *s;

    (void)state;
    assert_int_equal(sa_schemas_load(path_of("schemas"), SA_COMPAT_FULL, &set, &err),
                     SA_OK);
    assert_int_equal(set->n, 5);
    /* sorted by subject, then version */
    assert_string_equal(set->v[0]->subject, "order");
    assert_string_equal(set->v[1]->subject, "sensor_reading");
    assert_int_equal(set->v[1]->version, 1);
    assert_int_equal(set->v[2]->version, 2);

    s = sa_schemas_lookup(set, "sensor_reading", &err);
    assert_non_null(s);
    assert_int_equal(s->version, 2);
    s = sa_schemas_lookup(set, "sensor_reading:v1", &err);
    assert_non_null(s);
    assert_int_equal(s->version, 1);
    s = sa_schemas_lookup(set, "sensor_reading:2", &err);
    assert_non_null(s);
    assert_int_equal(s->version, 2);

    assert_null(sa_schemas_lookup(set, "nope", &err));
    assert_non_null(strstr(err.msg, "unknown schema 'nope'"));
    assert_non_null(strstr(err.msg, "web_event"));
    assert_null(sa_schemas_lookup(set, "sensor_reading:v9", &err));
    assert_non_null(strstr(err.msg, "no version 9"));
    assert_non_null(strstr(err.msg, "v1, v2"));
    assert_null(sa_schemas_lookup(set, "order:vx", &err));
    assert_non_null(strstr(err.msg, "bad schema version"));

    /* v2 adds fields with defaults: each reads the other */
    assert_true(sa_schema_can_read(set->v[2], set->v[1], NULL, 0));
    assert_true(sa_schema_can_read(set->v[1], set->v[2], NULL, 0));
    sa_schemas_free(set);
}

static void test_compatibility(void **state)
{
    const char *dir = path_of("tests/data/schema/incompatible");
    struct sa_schema_set *set = NULL;
    struct sa_err err = {0};

    (void)state;
    /* v2 adds 'weight' without a default: v2 cannot read v1 data */
    assert_int_equal(sa_schemas_load(dir, SA_COMPAT_BACKWARD, &set, &err), SA_ESCHEMA);
    assert_null(set);
    assert_non_null(strstr(err.msg, "thing/v2.avsc"));
    assert_non_null(strstr(err.msg, "BACKWARD"));
    assert_non_null(strstr(err.msg, "weight"));
    assert_int_equal(sa_schemas_load(dir, SA_COMPAT_FULL, &set, &err), SA_ESCHEMA);
    /* v1 reads v2 data by skipping 'weight' */
    assert_int_equal(sa_schemas_load(dir, SA_COMPAT_FORWARD, &set, &err), SA_OK);
    sa_schemas_free(set);
    assert_int_equal(sa_schemas_load(dir, SA_COMPAT_NONE, &set, &err), SA_OK);
    sa_schemas_free(set);
    assert_int_equal(sa_schemas_load(path_of("tests/data/schema/missing"),
                                     SA_COMPAT_NONE, &set, &err),
                     SA_EIO);
    assert_non_null(strstr(err.msg, "missing"));
}

/* date and timestamp-micros are resolved (on their primitive only), a
 * -micros field is an event time, aliases are kept, and a header finds
 * its field by name, alias or normalized name. */
static void test_logical_types_and_headers(void **state)
{
    struct sa_schema *s = NULL;
    struct sa_err err = {0};
    enum sa_header_match how;
    char norm[16];

    (void)state;
    assert_int_equal(
        sa_schema_parse("x", 1,
                        "{\"type\":\"record\",\"name\":\"X\",\"fields\":["
                        "{\"name\":\"day\",\"type\":{\"type\":\"int\",\"logicalType\":"
                        "\"date\"}},"
                        "{\"name\":\"not_a_date\",\"type\":{\"type\":\"long\","
                        "\"logicalType\":\"date\"}},"
                        "{\"name\":\"eol_lts\",\"type\":[\"null\",{\"type\":\"long\","
                        "\"logicalType\":\"timestamp-micros\"}],\"default\":null},"
                        "{\"name\":\"name_2\",\"type\":\"string\",\"aliases\":"
                        "[\"Name\",\"Long Name\"]},"
                        "{\"name\":\"name\",\"type\":\"string\"}]}",
                        &s, &err),
        SA_OK);
    assert_int_equal(s->fields[0].logical, SA_LOGICAL_DATE);
    assert_int_equal(s->fields[1].logical, SA_LOGICAL_NONE);
    assert_int_equal(s->fields[2].logical, SA_LOGICAL_TIMESTAMP_MICROS);
    assert_int_equal(s->event_time_field, 2);
    assert_int_equal(s->fields[3].n_aliases, 2);
    assert_string_equal(s->fields[3].aliases[1], "Long Name");

    assert_int_equal(sa_schema_field_for_header(s, "name", &how), 4);
    assert_int_equal(how, SA_MATCH_NAME);
    assert_int_equal(sa_schema_field_for_header(s, "Name", &how), 3);
    assert_int_equal(how, SA_MATCH_ALIAS);
    assert_int_equal(sa_schema_field_for_header(s, "eol-lts", &how), 2);
    assert_int_equal(how, SA_MATCH_NORMALIZED);
    assert_int_equal(sa_schema_field_for_header(s, "EOL LTS", &how), 2);
    assert_int_equal(sa_schema_field_for_header(s, "Day", &how), 0);
    assert_int_equal(sa_schema_field_for_header(s, "eol-ltsx", &how), -1);
    assert_int_equal(how, SA_MATCH_NONE);
    sa_schema_normalize_name("A-b c\xc3\xa9!9", norm, sizeof norm);
    assert_string_equal(norm, "a_b_c___9");
    sa_schema_normalize_name("abcdef", norm, 4);
    assert_string_equal(norm, "abc");
    sa_schema_free(s);
}

/* A field that changes its unit (millis to micros) is refused, as every
 * value would be read 1000 times off; annotating a plain long is not. */
static void test_unit_change_refused(void **state)
{
    struct sa_schema_set *set = NULL;
    struct sa_err err = {0};

    (void)state;
    assert_int_equal(sa_schemas_load(path_of("tests/data/schema/unit-change"),
                                     SA_COMPAT_BACKWARD, &set, &err),
                     SA_ESCHEMA);
    assert_non_null(strstr(err.msg, "field 'at' is timestamp-millis in the writer, "
                                    "timestamp-micros in the reader"));
    assert_null(strstr(err.msg, "seen"));
    assert_int_equal(sa_schemas_load(path_of("tests/data/schema/unit-change"),
                                     SA_COMPAT_NONE, &set, &err),
                     SA_OK);
    sa_schemas_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avro_vectors),
        cmocka_unit_test(test_crc64_empty),
        cmocka_unit_test(test_parse_sample),
        cmocka_unit_test(test_event_time_rules),
        cmocka_unit_test(test_bad_schemas),
        cmocka_unit_test(test_load_and_lookup),
        cmocka_unit_test(test_compatibility),
        cmocka_unit_test(test_logical_types_and_headers),
        cmocka_unit_test(test_unit_change_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
