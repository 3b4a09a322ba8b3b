/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent/record.c and sync/encode.c: typed setters, text coercion, defaults
 * and null rules, errors naming the field, and Avro encode -> JSON.
 * record.c writes Avro binary itself, so the encodings are checked against
 * avro-c: byte for byte with the same values set through avro-c generic
 * values, and read back with avro_value_read for every sample schema.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/record.h"
#include "agent/schemas.h"
#include "agent/source/generator.h"
#include "casefiles.h"
#include "sync/encode.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char all_types[] =
    "{\"type\":\"record\",\"name\":\"T\",\"namespace\":\"t\",\"x-key\":\"id\","
    "\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"long\",\"default\":7},"
    "{\"name\":\"f\",\"type\":\"float\",\"default\":1.5},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"b\",\"type\":\"boolean\",\"default\":true},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"Color\","
    "\"symbols\":[\"RED\",\"GREEN\",\"BLUE\"]},\"default\":\"GREEN\"},"
    "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}"
    "},"
    "{\"name\":\"opt\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"optd\",\"type\":[\"null\",\"double\"],\"default\":null},"
    "{\"name\":\"u\",\"type\":[\"null\",\"long\",\"string\"],\"default\":null},"
    "{\"name\":\"s\",\"type\":\"string\",\"default\":\"dflt\"},"
    "{\"name\":\"raw\",\"type\":\"bytes\",\"default\":\"\"}"
    "]}";

enum { F_ID, F_I, F_L, F_F, F_D, F_B, F_E, F_TS, F_OPT, F_OPTD, F_U, F_S, F_RAW };

struct fixture {
    struct sa_schema *schema;
    struct sa_record rec;
    struct sa_buf body, json;
    struct sa_err err;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_int_equal(sa_schema_parse("t", 1, all_types, &fx->schema, &fx->err), SA_OK);
    assert_int_equal(sa_record_init(&fx->rec, fx->schema, &fx->err), SA_OK);
    sa_buf_init(&fx->body, 1 << 20);
    sa_buf_init(&fx->json, 1 << 20);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    sa_record_fini(&fx->rec);
    sa_schema_free(fx->schema);
    sa_buf_fini(&fx->body);
    sa_buf_fini(&fx->json);
    free(fx);
    return 0;
}

/* Set the fields without a default. */
static void set_required(struct fixture *fx)
{
    assert_int_equal(sa_record_set_string(&fx->rec, F_ID, "k1", 2, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_long(&fx->rec, F_I, -5, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_double(&fx->rec, F_D, 0.1, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_long(&fx->rec, F_TS, 1767225600000LL, &fx->err),
                     SA_OK);
}

/* Encode, then decode to JSON; returns the JSON text. */
static const char *to_json(struct fixture *fx)
{
    sa_buf_reset(&fx->body);
    sa_buf_reset(&fx->json);
    if (sa_record_encode(&fx->rec, &fx->body, &fx->err) != SA_OK)
        fail_msg("encode: %s", fx->err.msg);
    if (sa_encode_json(fx->schema, fx->body.data, fx->body.len, NULL, NULL, &fx->json,
                       &fx->err) != SA_OK)
        fail_msg("json: %s", fx->err.msg);
    assert_int_equal(sa_buf_terminate(&fx->json), SA_OK);
    return (const char *)fx->json.data;
}

static void expect_error(struct fixture *fx, int rc, const char *msg)
{
    assert_int_equal(rc, SA_ERECORD);
    if (strcmp(fx->err.msg, msg) != 0)
        fail_msg("error '%s', want '%s'", fx->err.msg, msg);
}

static void test_typed_setters_round_trip(void **state)
{
    struct fixture *fx = *state;
    sa_record_reset(&fx->rec);
    set_required(fx);
    assert_int_equal(sa_record_set_long(&fx->rec, F_L, -9000000000LL, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_double(&fx->rec, F_F, 0.25, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_bool(&fx->rec, F_B, 0, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_enum(&fx->rec, F_E, "BLUE", &fx->err), SA_OK);
    assert_int_equal(
        sa_record_set_string(&fx->rec, F_OPT, "a\"b\\c\n\x01é", 9, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_double(&fx->rec, F_OPTD, 1e300, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_long(&fx->rec, F_U, 42, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_string(&fx->rec, F_S, "xyz", 2, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_string(&fx->rec, F_RAW, "\x00\xff", 2, &fx->err),
                     SA_OK);
    assert_string_equal(
        to_json(fx), "{\"id\":\"k1\",\"i\":-5,\"l\":-9000000000,\"f\":0.25,\"d\":0.1,"
                     "\"b\":false,\"e\":\"BLUE\",\"ts\":1767225600000,"
                     "\"opt\":\"a\\\"b\\\\c\\n\\u0001é\",\"optd\":1e+300,\"u\":42,"
                     "\"s\":\"xy\",\"raw\":\"\\u0000\\u00ff\"}");

    /* an enum by its symbol's number */
    assert_int_equal(sa_record_set_enum_index(&fx->rec, F_E, 0, &fx->err), SA_OK);
    assert_non_null(strstr(to_json(fx), "\"e\":\"RED\""));
    assert_int_equal(sa_record_set_enum_index(&fx->rec, F_E, 2, &fx->err), SA_OK);
    assert_non_null(strstr(to_json(fx), "\"e\":\"BLUE\""));

    /* a general union takes the branch of the value */
    assert_int_equal(sa_record_set_string(&fx->rec, F_U, "word", 4, &fx->err), SA_OK);
    assert_non_null(strstr(to_json(fx), "\"u\":\"word\""));
    assert_int_equal(sa_record_set_null(&fx->rec, F_U, &fx->err), SA_OK);
    assert_non_null(strstr(to_json(fx), "\"u\":null"));
}

static void test_defaults_and_missing(void **state)
{
    struct fixture *fx = *state;
    int rc;

    sa_record_reset(&fx->rec);
    set_required(fx);
    assert_string_equal(
        to_json(fx), "{\"id\":\"k1\",\"i\":-5,\"l\":7,\"f\":1.5,\"d\":0.1,\"b\":true,"
                     "\"e\":\"GREEN\",\"ts\":1767225600000,\"opt\":null,\"optd\":null,"
                     "\"u\":null,\"s\":\"dflt\",\"raw\":\"\"}");

    /* reset forgets the values: d has no default */
    sa_record_reset(&fx->rec);
    assert_int_equal(sa_record_set_string(&fx->rec, F_ID, "k", 1, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_long(&fx->rec, F_I, 1, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_long(&fx->rec, F_TS, 0, &fx->err), SA_OK);
    sa_buf_reset(&fx->body);
    rc = sa_record_encode(&fx->rec, &fx->body, &fx->err);
    expect_error(fx, rc, "field 'd': not set and has no default");
}

static void test_type_errors(void **state)
{
    struct fixture *fx = *state;
    sa_record_reset(&fx->rec);
    expect_error(fx, sa_record_set_string(&fx->rec, F_D, "abc", 3, &fx->err),
                 "field 'd': expected double, got \"abc\"");
    expect_error(fx, sa_record_set_text(&fx->rec, F_D, "abc", 3, &fx->err),
                 "field 'd': expected double, got \"abc\"");
    expect_error(fx, sa_record_set_double(&fx->rec, F_I, 1.5, &fx->err),
                 "field 'i': expected int, got 1.5");
    expect_error(fx, sa_record_set_long(&fx->rec, F_I, 3000000000LL, &fx->err),
                 "field 'i': expected int, got 3000000000 (out of range)");
    expect_error(fx, sa_record_set_null(&fx->rec, F_D, &fx->err),
                 "field 'd': expected double, got null");
    expect_error(fx, sa_record_set_bool(&fx->rec, F_ID, 1, &fx->err),
                 "field 'id': expected string, got true");
    expect_error(fx, sa_record_set_long(&fx->rec, F_OPT, 3, &fx->err),
                 "field 'opt': expected string or null, got 3");
    expect_error(
        fx, sa_record_set_enum(&fx->rec, F_E, "PURPLE", &fx->err),
        "field 'e': expected enum Color, got \"PURPLE\" (not a symbol of Color)");
    expect_error(fx, sa_record_set_text(&fx->rec, F_E, "red", 3, &fx->err),
                 "field 'e': expected enum Color, got \"red\" (not a symbol of Color)");
    expect_error(fx, sa_record_set_enum_index(&fx->rec, F_E, 3, &fx->err),
                 "field 'e': expected enum Color, got symbol number 3 (Color has 3)");
    expect_error(fx, sa_record_set_enum_index(&fx->rec, F_E, -1, &fx->err),
                 "field 'e': expected enum Color, got symbol number -1 (Color has 3)");
    expect_error(fx, sa_record_set_enum_index(&fx->rec, F_D, 0, &fx->err),
                 "field 'd': expected double, got enum symbol");
    assert_int_equal(sa_record_set_long(&fx->rec, 99, 1, &fx->err), SA_EINVAL);
    /* an integral double fits an integer field */
    assert_int_equal(sa_record_set_double(&fx->rec, F_I, 3.0, &fx->err), SA_OK);
}

static void test_text_numbers(void **state)
{
    struct fixture *fx = *state;
    sa_record_reset(&fx->rec);
    set_required(fx);
    assert_int_equal(sa_record_set_text(&fx->rec, F_I, "-2147483648", 11, &fx->err),
                     SA_OK);
    expect_error(fx, sa_record_set_text(&fx->rec, F_I, "2147483648", 10, &fx->err),
                 "field 'i': expected int, got 2147483648 (out of range)");
    assert_int_equal(
        sa_record_set_text(&fx->rec, F_L, "9223372036854775807", 19, &fx->err), SA_OK);
    expect_error(
        fx, sa_record_set_text(&fx->rec, F_L, "9223372036854775808", 19, &fx->err),
        "field 'l': expected long, got \"9223372036854775808\" (out of range)");
    expect_error(fx, sa_record_set_text(&fx->rec, F_L, "12x", 3, &fx->err),
                 "field 'l': expected long, got \"12x\"");
    expect_error(fx, sa_record_set_text(&fx->rec, F_D, "0x10", 4, &fx->err),
                 "field 'd': expected double, got \"0x10\"");
    assert_int_equal(sa_record_set_text(&fx->rec, F_D, " -2.5e3 ", 8, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_text(&fx->rec, F_F, "0.5", 3, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_text(&fx->rec, F_OPTD, "3", 1, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_text(&fx->rec, F_U, "17", 2, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_text(&fx->rec, F_E, "RED", 3, &fx->err), SA_OK);
    /* the text is a slice: what follows it is not read */
    assert_int_equal(sa_record_set_text(&fx->rec, F_ID, "abc,def", 3, &fx->err), SA_OK);
    assert_string_equal(to_json(fx),
                        "{\"id\":\"abc\",\"i\":-2147483648,\"l\":9223372036854775807,"
                        "\"f\":0.5,\"d\":-2500,\"b\":true,\"e\":\"RED\","
                        "\"ts\":1767225600000,\"opt\":null,\"optd\":3,\"u\":17,"
                        "\"s\":\"dflt\",\"raw\":\"\"}");
}

static void test_text_booleans(void **state)
{
    static const char *const yes[] = {"true", "TRUE", "True", "1", "yes", "YES"};
    static const char *const no[] = {"false", "False", "0", "no", "NO"};
    struct fixture *fx = *state;

    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        sa_record_reset(&fx->rec);
        set_required(fx);
        assert_int_equal(
            sa_record_set_text(&fx->rec, F_B, yes[i], strlen(yes[i]), &fx->err), SA_OK);
        assert_non_null(strstr(to_json(fx), "\"b\":true"));
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        sa_record_reset(&fx->rec);
        set_required(fx);
        assert_int_equal(
            sa_record_set_text(&fx->rec, F_B, no[i], strlen(no[i]), &fx->err), SA_OK);
        assert_non_null(strstr(to_json(fx), "\"b\":false"));
    }
    expect_error(fx, sa_record_set_text(&fx->rec, F_B, "maybe", 5, &fx->err),
                 "field 'b': expected boolean, got \"maybe\"");
}

/* Integers at the edges of the digit count that needs no overflow check
 * (18), and which error wins when a long run of digits is also not a
 * number: the overflow, found at the digit that overflows. */
static void test_text_integer_edges(void **state)
{
    static const struct {
        const char *text;
        const char *json; /* "l":..., or NULL: refused */
        const char *error;
    } cases[] = {
        {"999999999999999999", "\"l\":999999999999999999", NULL},
        {"-999999999999999999", "\"l\":-999999999999999999", NULL},
        {"9223372036854775807", "\"l\":9223372036854775807", NULL},
        {"-9223372036854775808", "\"l\":-9223372036854775808", NULL},
        {"+9223372036854775807", "\"l\":9223372036854775807", NULL},
        {"0000000000000000000000000042", "\"l\":42", NULL},
        {"-0000000000000000000009223372036854775808", "\"l\":-9223372036854775808",
         NULL},
        {" 17\t", "\"l\":17", NULL},
        {"9223372036854775808", NULL, "\"9223372036854775808\" (out of range)"},
        {"-9223372036854775809", NULL, "\"-9223372036854775809\" (out of range)"},
        {"18446744073709551616", NULL, "\"18446744073709551616\" (out of range)"},
        {"99999999999999999999x", NULL, "\"99999999999999999999x\" (out of range)"},
        {"999999999999999999x", NULL, "\"999999999999999999x\""},
        {"9223372036854775807x", NULL, "\"9223372036854775807x\""},
        {"-", NULL, "\"-\""},
        {"+", NULL, "\"+\""},
        {"--1", NULL, "\"--1\""},
        {"1 2", NULL, "\"1 2\""},
        {"1.0", NULL, "\"1.0\""},
    };
    struct fixture *fx = *state;

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *text = cases[i].text;
        int rc;
        sa_record_reset(&fx->rec);
        set_required(fx);
        rc = sa_record_set_text(&fx->rec, F_L, text, strlen(text), &fx->err);
        if (cases[i].json) {
            if (rc != SA_OK)
                fail_msg("%s: %s", text, fx->err.msg);
            if (!strstr(to_json(fx), cases[i].json))
                fail_msg("%s: %s, want %s", text, to_json(fx), cases[i].json);
        } else {
            char want[160];
            snprintf(want, sizeof want, "field 'l': expected long, got %s",
                     cases[i].error);
            expect_error(fx, rc, want);
        }
    }
}

/* Booleans ignore ASCII case only, and only whole words count. */
static void test_text_boolean_words(void **state)
{
    static const char *const yes[] = {"tRuE", "Yes", "yES", "TRUE"};
    static const char *const no[] = {"fAlSe", "nO", "No", "FALSE"};
    static const char *const bad[] = {"tru", "truee", "ye", "n",    "2",
                                      "00",  "11",    "t",  "[rue", "\xd4rue",
                                      "on",  "off",   "y",  "f"};
    struct fixture *fx = *state;

    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        sa_record_reset(&fx->rec);
        set_required(fx);
        assert_int_equal(
            sa_record_set_text(&fx->rec, F_B, yes[i], strlen(yes[i]), &fx->err), SA_OK);
        assert_non_null(strstr(to_json(fx), "\"b\":true"));
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        sa_record_reset(&fx->rec);
        set_required(fx);
        assert_int_equal(
            sa_record_set_text(&fx->rec, F_B, no[i], strlen(no[i]), &fx->err), SA_OK);
        assert_non_null(strstr(to_json(fx), "\"b\":false"));
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(
            sa_record_set_text(&fx->rec, F_B, bad[i], strlen(bad[i]), &fx->err),
            SA_ERECORD);
    /* the text is a slice: "true" followed by more is still "true" */
    assert_int_equal(sa_record_set_text(&fx->rec, F_B, "truex", 4, &fx->err), SA_OK);
    /* a NUL inside is not the end of the word */
    assert_int_equal(sa_record_set_text(&fx->rec, F_B, "tr\0e", 4, &fx->err),
                     SA_ERECORD);
}

/* One enum field of the given symbols: each symbol's text encodes to its
 * index, and nothing else is taken. */
static void check_enum_symbols(const char *const *symbols, int n)
{
    struct sa_schema *schema;
    struct sa_record rec;
    struct sa_buf json, body;
    struct sa_err err = {0};
    static const char *const not_symbols[] = {"",     "S",      "s0",    "S0 ",
                                              " S0",  "S00",    "AB_",   "AB_CC",
                                              "ab_c", "ABwDEF", "ABDEF", "ZZZZ"};

    sa_buf_init(&json, 1 << 20);
    sa_buf_init(&body, 1 << 10);
    sa_buf_append_str(&json,
                      "{\"type\":\"record\",\"name\":\"E\",\"fields\":[{\"name\":"
                      "\"e\",\"type\":{\"type\":\"enum\",\"name\":\"Sym\","
                      "\"symbols\":[");
    for (int i = 0; i < n; i++)
        sa_buf_printf(&json, "%s\"%s\"", i ? "," : "", symbols[i]);
    sa_buf_append_str(&json, "]}}]}");
    sa_buf_terminate(&json);
    assert_int_equal(sa_schema_parse("e", 1, (const char *)json.data, &schema, &err),
                     SA_OK);
    assert_int_equal(sa_record_init(&rec, schema, &err), SA_OK);
    for (int i = 0; i < n; i++) {
        uint64_t got;
        sa_record_reset(&rec);
        if (sa_record_set_text(&rec, 0, symbols[i], strlen(symbols[i]), &err))
            fail_msg("%s: %s", symbols[i], err.msg);
        sa_buf_reset(&body);
        assert_int_equal(sa_record_encode(&rec, &body, &err), SA_OK);
        assert_int_equal(sa_varint_decode(body.data, body.data + body.len, &got),
                         body.len);
        assert_int_equal(sa_zigzag_decode(got), i);
    }
    for (size_t i = 0; i < sizeof not_symbols / sizeof *not_symbols; i++) {
        int listed = 0;
        for (int k = 0; k < n; k++)
            listed |= strcmp(symbols[k], not_symbols[i]) == 0;
        if (listed)
            continue;
        if (sa_record_set_enum(&rec, 0, not_symbols[i], &err) != SA_ERECORD)
            fail_msg("'%s' taken as a symbol", not_symbols[i]);
    }
    sa_record_fini(&rec);
    sa_schema_free(schema);
    sa_buf_fini(&json);
    sa_buf_fini(&body);
}

/* Enum symbols are found through a hash index of their length and five
 * of their bytes; symbols with the same hash (here the same length and
 * the same bytes 0, 1, 3, 4, 5) share a probe sequence. */
static void test_text_enum_symbols(void **state)
{
    static const char *const few[] = {"OK", "WARN", "FAULT"};
    static const char *const colliding[] = {"ABxDEF", "AByDEF", "B", "ABzDEF", "AB_C"};
    static char names[600][8];
    const char *many[600];
    (void)state;

    check_enum_symbols(few, 3);
    check_enum_symbols(colliding, 5);
    for (int i = 0; i < 600; i++) {
        snprintf(names[i], sizeof names[i], "S%d", i);
        many[i] = names[i];
    }
    check_enum_symbols(many, 40);
    check_enum_symbols(many, 600);
}

static void test_text_timestamps(void **state)
{
    static const struct {
        const char *text;
        int64_t ms;
    } ok[] = {
        {"2026-01-01T00:00:00Z", 1767225600000LL},
        {"2026-01-01T00:00:00.123Z", 1767225600123LL},
        {"2026-01-01T00:00:00.1Z", 1767225600100LL},
        {"2026-01-01T00:00:00.123456789Z", 1767225600123LL},
        {"2026-01-01T01:00:00+01:00", 1767225600000LL},
        {"2025-12-31T19:00:00.5-05:00", 1767225600500LL},
        {"2026-01-01T05:30:00+0530", 1767225600000LL},
        {"2026-01-01 00:00:00Z", 1767225600000LL},
        {"2026-01-01T00:00", 1767225600000LL},
        {"2026-01-01", 1767225600000LL},
        {"2024-02-29T12:00:00Z", 1709208000000LL},
        {"1970-01-01T00:00:00Z", 0},
        {"1767225600000", 1767225600000LL},
        {"-1000", -1000},
    };
    /* of the shape, but no real date or time: said so */
    static const char *const invalid[] = {
        "2026-02-30T00:00:00Z",
        "2025-02-29",
        "2026-13-01",
        "2026-01-01T24:00:00Z",
    };
    static const char *const bad[] = {
        "2026-01-01T00:00:00X",
        "2026-01-01T00:00:00.Z",
        "yesterday",
        "2026-1-1",
    };
    struct fixture *fx = *state;

    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        sa_record_reset(&fx->rec);
        if (sa_record_set_text(&fx->rec, F_TS, ok[i].text, strlen(ok[i].text),
                               &fx->err))
            fail_msg("%s: %s", ok[i].text, fx->err.msg);
        if (sa_record_event_ms(&fx->rec, -42) != ok[i].ms)
            fail_msg("%s: %lld, want %lld", ok[i].text,
                     (long long)sa_record_event_ms(&fx->rec, -42), (long long)ok[i].ms);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char want[128];
        snprintf(want, sizeof want, "field 'ts': expected timestamp-millis, got \"%s\"",
                 bad[i]);
        expect_error(
            fx, sa_record_set_text(&fx->rec, F_TS, bad[i], strlen(bad[i]), &fx->err),
            want);
    }
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        char want[160];
        snprintf(want, sizeof want,
                 "field 'ts': expected timestamp-millis, got \"%s\" (not a valid date "
                 "or time)",
                 invalid[i]);
        expect_error(fx,
                     sa_record_set_text(&fx->rec, F_TS, invalid[i], strlen(invalid[i]),
                                        &fx->err),
                     want);
    }
    /* event time falls back when the field is not set */
    sa_record_reset(&fx->rec);
    assert_int_equal(sa_record_event_ms(&fx->rec, -42), -42);
}

/* Timestamps against timegm(), in an order that repeats days and changes
 * them (the day's number is remembered from one value to the next). */
static void test_text_timestamp_days(void **state)
{
    struct fixture *fx = *state;
    uint64_t x = 7;
    int64_t prev_year = 2026, prev_mon = 1, prev_day = 1;

    for (int i = 0; i < 20000; i++) {
        struct tm tm = {0};
        char text[64];
        int64_t want;

        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        if ((x >> 60) < 10) { /* most values: the day of the one before */
            tm.tm_year = (int)prev_year - 1900;
            tm.tm_mon = (int)prev_mon - 1;
            tm.tm_mday = (int)prev_day;
        } else {
            tm.tm_year = 1 + (int)((x >> 20) % 300); /* 1901..2200 */
            tm.tm_mon = (int)((x >> 30) % 12);
            tm.tm_mday = 1 + (int)((x >> 35) % 28);
        }
        tm.tm_hour = (int)((x >> 40) % 24);
        tm.tm_min = (int)((x >> 45) % 60);
        tm.tm_sec = (int)((x >> 50) % 60);
        prev_year = tm.tm_year + 1900;
        prev_mon = tm.tm_mon + 1;
        prev_day = tm.tm_mday;
        want = (int64_t)timegm(&tm) * 1000 + (int64_t)((x >> 8) % 1000);
        snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (int)((x >> 8) % 1000));
        sa_record_reset(&fx->rec);
        if (sa_record_set_text(&fx->rec, F_TS, text, strlen(text), &fx->err))
            fail_msg("%s: %s", text, fx->err.msg);
        if (sa_record_event_ms(&fx->rec, -42) != want)
            fail_msg("%s: %lld, want %lld", text,
                     (long long)sa_record_event_ms(&fx->rec, -42), (long long)want);
    }
    /* an invalid date right after a valid one is still refused */
    sa_record_reset(&fx->rec);
    assert_int_equal(sa_record_set_text(&fx->rec, F_TS, "2026-02-28", 10, &fx->err),
                     SA_OK);
    expect_error(fx, sa_record_set_text(&fx->rec, F_TS, "2026-02-29", 10, &fx->err),
                 "field 'ts': expected timestamp-millis, got \"2026-02-29\" "
                 "(not a valid date or time)");
    assert_int_equal(sa_record_set_text(&fx->rec, F_TS, "2026-02-28", 10, &fx->err),
                     SA_OK);
    assert_int_equal(sa_record_event_ms(&fx->rec, -42), 1772236800000LL);
}

static void test_text_empty(void **state)
{
    struct fixture *fx = *state;
    sa_record_reset(&fx->rec);
    set_required(fx);
    /* nullable: null; with a default: the default; string: "" */
    assert_int_equal(sa_record_set_string(&fx->rec, F_OPT, "x", 1, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_text(&fx->rec, F_OPT, "", 0, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_long(&fx->rec, F_L, 1, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_text(&fx->rec, F_L, "", 0, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_text(&fx->rec, F_ID, "", 0, &fx->err), SA_OK);
    assert_string_equal(
        to_json(fx), "{\"id\":\"\",\"i\":-5,\"l\":7,\"f\":1.5,\"d\":0.1,\"b\":true,"
                     "\"e\":\"GREEN\",\"ts\":1767225600000,\"opt\":null,\"optd\":null,"
                     "\"u\":null,\"s\":\"dflt\",\"raw\":\"\"}");
    /* no default, not nullable, not a string: refused */
    expect_error(fx, sa_record_set_text(&fx->rec, F_I, "", 0, &fx->err),
                 "field 'i': expected int, got an empty value");
}

static void test_key_and_meta(void **state)
{
    struct fixture *fx = *state;
    struct sa_record_view meta = {.seq = 12345, .op = SA_OP_DELETE};
    struct sa_buf key;

    sa_buf_init(&key, 1024);
    sa_record_reset(&fx->rec);
    set_required(fx);
    assert_int_equal(sa_record_key(&fx->rec, &key), SA_OK);
    assert_int_equal(key.len, 2);
    assert_memory_equal(key.data, "k1", 2);
    sa_buf_fini(&key);

    to_json(fx);
    sa_buf_reset(&fx->json);
    assert_int_equal(sa_encode_json(fx->schema, fx->body.data, fx->body.len,
                                    "0f6c1a9e-0000-4000-8000-000000000001", &meta,
                                    &fx->json, &fx->err),
                     SA_OK);
    sa_buf_terminate(&fx->json);
    assert_non_null(strstr((const char *)fx->json.data,
                           ",\"_origin_id\":\"0f6c1a9e-0000-4000-8000-000000000001\","
                           "\"_seq\":12345,\"_op\":\"delete\"}"));
}

static void test_json_rejects_damage(void **state)
{
    struct fixture *fx = *state;
    size_t full;

    sa_record_reset(&fx->rec);
    set_required(fx);
    to_json(fx);
    full = fx->body.len;
    sa_buf_reset(&fx->json);
    sa_buf_append_str(&fx->json, "keep");
    for (size_t cut = 0; cut < full; cut++) {
        int rc = sa_encode_json(fx->schema, fx->body.data, cut, NULL, NULL, &fx->json,
                                &fx->err);
        assert_int_equal(rc, SA_ECORRUPT);
        assert_int_equal(fx->json.len, 4); /* nothing half-written stays */
    }
    /* one byte too many */
    sa_buf_append_byte(&fx->body, 0);
    assert_int_equal(sa_encode_json(fx->schema, fx->body.data, fx->body.len, NULL, NULL,
                                    &fx->json, &fx->err),
                     SA_ECORRUPT);
    assert_non_null(strstr(fx->err.msg, "trailing bytes"));
}

static void test_doubles_round_trip(void **state)
{
    static const double values[] = {0.1,   21.37, -3.5, 1013.8, 1e-7,         1.0 / 3,
                                    2.5e8, -7,    1e22, 5e-324, 123456.789012};
    struct fixture *fx = *state;

    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        const char *json, *at;
        sa_record_reset(&fx->rec);
        set_required(fx);
        assert_int_equal(sa_record_set_double(&fx->rec, F_D, values[i], &fx->err),
                         SA_OK);
        json = to_json(fx);
        at = strstr(json, "\"d\":");
        assert_non_null(at);
        if (strtod(at + 4, NULL) != values[i])
            fail_msg("%.17g printed as %.30s", values[i], at + 4);
    }
}

/* --- cross-check with avro-c ------------------------------------------------ */

/* One value to set: through sa_record_set_* and through avro-c. */
struct op {
    int field;
    int branch; /* union branch avro-c sets, -1 for a field that is no union */
    char kind;  /* n null, b boolean, i int, l long, f float, d double,
                   s string, y bytes, e enum (l = index, s = symbol) */
    int64_t l;
    double d;
    const char *s;
    size_t len;
};

#define NUL_(f, br)                                                                    \
    {                                                                                  \
        f, br, 'n', 0, 0, NULL, 0                                                      \
    }
#define BOOL_(f, v)                                                                    \
    {                                                                                  \
        f, -1, 'b', v, 0, NULL, 0                                                      \
    }
#define INT_(f, v)                                                                     \
    {                                                                                  \
        f, -1, 'i', v, 0, NULL, 0                                                      \
    }
#define LONG_(f, br, v)                                                                \
    {                                                                                  \
        f, br, 'l', v, 0, NULL, 0                                                      \
    }
#define FLOAT_(f, v)                                                                   \
    {                                                                                  \
        f, -1, 'f', 0, v, NULL, 0                                                      \
    }
#define DBL_(f, br, v)                                                                 \
    {                                                                                  \
        f, br, 'd', 0, v, NULL, 0                                                      \
    }
#define STR_(f, br, v)                                                                 \
    {                                                                                  \
        f, br, 's', 0, 0, v, sizeof(v) - 1                                             \
    }
#define BYTES_(f, v)                                                                   \
    {                                                                                  \
        f, -1, 'y', 0, 0, v, sizeof(v) - 1                                             \
    }
#define ENUM_(f, i, sym)                                                               \
    {                                                                                  \
        f, -1, 'e', i, 0, sym, 0                                                       \
    }

/* What avro-c gets for the fields record.c leaves to their defaults, then
 * what set_required() sets. */
static const struct op avro_defaults[] = {
    LONG_(F_L, -1, 7),
    FLOAT_(F_F, 1.5),
    BOOL_(F_B, 1),
    ENUM_(F_E, 1, "GREEN"),
    NUL_(F_OPT, 0),
    NUL_(F_OPTD, 0),
    NUL_(F_U, 0),
    STR_(F_S, -1, "dflt"),
    BYTES_(F_RAW, ""),
    STR_(F_ID, -1, "k1"),
    INT_(F_I, -5),
    DBL_(F_D, -1, 0.1),
    LONG_(F_TS, -1, 1767225600000LL),
};

static void set_ours(struct fixture *fx, const struct op *o)
{
    struct sa_record *rec = &fx->rec;
    int rc = SA_OK;

    switch (o->kind) {
    case 'n':
        rc = sa_record_set_null(rec, o->field, &fx->err);
        break;
    case 'b':
        rc = sa_record_set_bool(rec, o->field, (int)o->l, &fx->err);
        break;
    case 'i':
    case 'l':
        rc = sa_record_set_long(rec, o->field, o->l, &fx->err);
        break;
    case 'f':
    case 'd':
        rc = sa_record_set_double(rec, o->field, o->d, &fx->err);
        break;
    case 's':
    case 'y':
        rc = sa_record_set_string(rec, o->field, o->s, o->len, &fx->err);
        break;
    case 'e':
        rc = sa_record_set_enum(rec, o->field, o->s, &fx->err);
        break;
    }
    if (rc)
        fail_msg("field %d: %s", o->field, fx->err.msg);
}

static void set_avro(avro_value_t *record, const struct op *o)
{
    avro_value_t field, dest;
    char *copy;

    assert_int_equal(avro_value_get_by_index(record, (size_t)o->field, &field, NULL),
                     0);
    dest = field;
    if (o->branch >= 0)
        assert_int_equal(avro_value_set_branch(&field, o->branch, &dest), 0);
    switch (o->kind) {
    case 'n':
        assert_int_equal(avro_value_set_null(&dest), 0);
        break;
    case 'b':
        assert_int_equal(avro_value_set_boolean(&dest, (int)o->l), 0);
        break;
    case 'i':
        assert_int_equal(avro_value_set_int(&dest, (int32_t)o->l), 0);
        break;
    case 'l':
        assert_int_equal(avro_value_set_long(&dest, o->l), 0);
        break;
    case 'f':
        assert_int_equal(avro_value_set_float(&dest, (float)o->d), 0);
        break;
    case 'd':
        assert_int_equal(avro_value_set_double(&dest, o->d), 0);
        break;
    case 's': /* avro-c counts the terminating NUL */
        copy = malloc(o->len + 1);
        assert_non_null(copy);
        memcpy(copy, o->s, o->len);
        copy[o->len] = '\0';
        assert_int_equal(avro_value_set_string_len(&dest, copy, o->len + 1), 0);
        free(copy);
        break;
    case 'y':
        assert_int_equal(avro_value_set_bytes(&dest, (void *)o->s, o->len), 0);
        break;
    case 'e':
        assert_int_equal(avro_value_set_enum(&dest, (int)o->l), 0);
        break;
    }
}

/* Read `len` bytes of `schema` with avro-c, write them back with avro-c
 * and expect the same bytes: every byte was read, as the schema says. */
static void avro_reads_back(const struct sa_schema *schema, const uint8_t *data,
                            size_t len, avro_value_t *decoded /* out, may be NULL */)
{
    avro_value_t value;
    avro_reader_t reader = avro_reader_memory((const char *)data, (int64_t)len);
    avro_writer_t writer;
    char *again = malloc(len + 1);
    size_t size;

    assert_non_null(reader);
    assert_non_null(again);
    assert_int_equal(avro_generic_value_new(schema->iface, &value), 0);
    if (avro_value_read(reader, &value))
        fail_msg("%s: avro-c cannot read the record: %s", schema->subject,
                 avro_strerror());
    assert_int_equal(avro_value_sizeof(&value, &size), 0);
    assert_int_equal(size, len);
    writer = avro_writer_memory(again, (int64_t)len + 1);
    assert_int_equal(avro_value_write(writer, &value), 0);
    assert_int_equal(avro_writer_tell(writer), (int64_t)len);
    assert_memory_equal(again, data, len);
    avro_writer_free(writer);
    avro_reader_free(reader);
    free(again);
    if (decoded)
        *decoded = value;
    else
        avro_value_decref(&value);
}

/* Set ops on top of the required fields, in ours and in avro-c; the bytes
 * must be the same and read back to an equal value. */
static void check_ops(struct fixture *fx, const struct op *ops, size_t n_ops)
{
    avro_value_t expect, decoded;
    avro_writer_t writer;
    char want[4096];
    int64_t want_len;

    sa_record_reset(&fx->rec);
    set_required(fx);
    for (size_t i = 0; i < n_ops; i++)
        set_ours(fx, &ops[i]);
    sa_buf_reset(&fx->body);
    if (sa_record_encode(&fx->rec, &fx->body, &fx->err))
        fail_msg("encode: %s", fx->err.msg);

    assert_int_equal(avro_generic_value_new(fx->schema->iface, &expect), 0);
    for (size_t i = 0; i < sizeof avro_defaults / sizeof *avro_defaults; i++)
        set_avro(&expect, &avro_defaults[i]);
    for (size_t i = 0; i < n_ops; i++)
        set_avro(&expect, &ops[i]);
    writer = avro_writer_memory(want, sizeof want);
    assert_int_equal(avro_value_write(writer, &expect), 0);
    want_len = avro_writer_tell(writer);
    avro_writer_free(writer);

    if ((size_t)want_len != fx->body.len || memcmp(want, fx->body.data, fx->body.len))
        fail_msg("encoding differs from avro-c's (%zu bytes, avro-c %lld)",
                 fx->body.len, (long long)want_len);
    avro_reads_back(fx->schema, fx->body.data, fx->body.len, &decoded);
    assert_true(avro_value_equal(&decoded, &expect));
    avro_value_decref(&decoded);
    avro_value_decref(&expect);
}

static void test_encoding_matches_avro_c(void **state)
{
    static const char utf8[] =
        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac";
    static const char zeros[] = "\x00\x01\x00\xff\x80";
    static const char nul_in_string[] = "a\0b";
    const struct op defaults_only[] = {{0}};
    const struct op numbers[] = {
        INT_(F_I, INT32_MIN),     LONG_(F_L, -1, INT64_MIN), FLOAT_(F_F, -0.0),
        DBL_(F_D, -1, -1e300),    LONG_(F_TS, -1, -1),       DBL_(F_OPTD, 1, 5e-324),
        LONG_(F_U, 1, INT64_MAX),
    };
    const struct op more_numbers[] = {
        INT_(F_I, INT32_MAX), LONG_(F_L, -1, 63),  FLOAT_(F_F, 3.4e38),
        DBL_(F_D, -1, -0.0),  LONG_(F_TS, -1, 64), DBL_(F_OPTD, 1, 1.0 / 3),
        LONG_(F_U, 1, -64),
    };
    const struct op strings[] = {
        STR_(F_ID, -1, utf8),  STR_(F_OPT, 1, ""),   STR_(F_S, -1, nul_in_string),
        BYTES_(F_RAW, zeros),  STR_(F_U, 2, "word"), BOOL_(F_B, 0),
        ENUM_(F_E, 2, "BLUE"),
    };
    const struct op first_symbol[] = {ENUM_(F_E, 0, "RED"), NUL_(F_U, 0),
                                      STR_(F_OPT, 1, "x")};
    /* set twice: the second value wins, shorter or longer */
    const struct op twice[] = {
        STR_(F_ID, -1, "a much longer first value"),
        STR_(F_ID, -1, "short"),
        STR_(F_S, -1, "s"),
        INT_(F_I, 1),
        STR_(F_S, -1, "a longer second value than the first"),
        INT_(F_I, -1000000),
        NUL_(F_OPT, 0),
        STR_(F_OPT, 1, "then a string"),
        LONG_(F_U, 1, 5),
        STR_(F_U, 2, "then a string"),
        NUL_(F_U, 0),
    };
    struct fixture *fx = *state;
    char big[3000];

    check_ops(fx, defaults_only, 0);
    check_ops(fx, numbers, sizeof numbers / sizeof *numbers);
    check_ops(fx, more_numbers, sizeof more_numbers / sizeof *more_numbers);
    check_ops(fx, strings, sizeof strings / sizeof *strings);
    check_ops(fx, first_symbol, sizeof first_symbol / sizeof *first_symbol);
    check_ops(fx, twice, sizeof twice / sizeof *twice);

    /* a long string (two-byte length) */
    memset(big, 'x', sizeof big);
    {
        const struct op long_string[] = {{F_OPT, 1, 's', 0, 0, big, sizeof big}};
        check_ops(fx, long_string, 1);
    }
}

/* Setting fields over and over without a reset neither loses values nor
 * grows without bound (the scratch buffer compacts). */
static void test_set_again_without_reset(void **state)
{
    struct fixture *fx = *state;
    char text[600];
    const char *json;

    memset(text, 'y', sizeof text);
    sa_record_reset(&fx->rec);
    set_required(fx);
    for (size_t i = 0; i < 20000; i++) {
        size_t len = i % sizeof text; /* growing: appended, then compacted */
        assert_int_equal(sa_record_set_string(&fx->rec, F_S, text, len, &fx->err),
                         SA_OK);
        assert_int_equal(sa_record_set_string(&fx->rec, F_ID, text, i % 50, &fx->err),
                         SA_OK);
        assert_int_equal(sa_record_set_long(&fx->rec, F_L, (int64_t)i << 40, &fx->err),
                         SA_OK);
    }
    assert_int_equal(sa_record_set_string(&fx->rec, F_ID, "last", 4, &fx->err), SA_OK);
    assert_int_equal(sa_record_set_string(&fx->rec, F_S, "end", 3, &fx->err), SA_OK);
    json = to_json(fx);
    assert_non_null(strstr(json, "{\"id\":\"last\",\"i\":-5,\"l\":21989133043892224,"));
    assert_non_null(strstr(json, "\"s\":\"end\""));
    avro_reads_back(fx->schema, fx->body.data, fx->body.len, NULL);
}

/* Text doubles read as strtod reads them, bit for bit. */
static void test_text_doubles_match_strtod(void **state)
{
    static const char *const fixed[] = {
        "0",
        "-0",
        "0.1",
        "1.7976931348623157e308",
        "2.2250738585072014e-308",
        "4e-320",
        "9007199254740993",
        "9007199254740992",
        "123456789012345678901234",
        "1e22",
        "1e23",
        "-1e-22",
        "0.000000000000000000000000001",
        "+.5",
        "5.",
        "1E+2",
        "3.14159265358979323846",
        "100000000000000000000000e-30",
    };
    struct fixture *fx = *state;
    uint64_t x = 42;

    for (size_t i = 0; i < sizeof fixed / sizeof *fixed + 20000; i++) {
        char text[64];
        double want, got;
        avro_value_t decoded, d;

        if (i < sizeof fixed / sizeof *fixed) {
            snprintf(text, sizeof text, "%s", fixed[i]);
        } else {
            /* random mantissa digits, decimal point and exponent */
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            int digits = 1 + (int)((x >> 33) % 19),
                point = (int)((x >> 40) % (digits + 1));
            int exp = (int)((x >> 48) % 61) - 30;
            size_t n = 0;
            uint64_t y = x;
            if (x & 1)
                text[n++] = '-';
            for (int k = 0; k < digits; k++) {
                if (k == point && k)
                    text[n++] = '.';
                y = y * 6364136223846793005ULL + 1442695040888963407ULL;
                text[n++] = (char)('0' + (y >> 60) % 10);
            }
            if (x & 2)
                n += (size_t)snprintf(text + n, sizeof text - n, "e%d", exp);
            text[n] = '\0';
        }
        want = strtod(text, NULL);
        sa_record_reset(&fx->rec);
        set_required(fx);
        if (sa_record_set_text(&fx->rec, F_D, text, strlen(text), &fx->err))
            fail_msg("%s: %s", text, fx->err.msg);
        sa_buf_reset(&fx->body);
        assert_int_equal(sa_record_encode(&fx->rec, &fx->body, &fx->err), SA_OK);
        avro_reads_back(fx->schema, fx->body.data, fx->body.len, &decoded);
        assert_int_equal(avro_value_get_by_index(&decoded, F_D, &d, NULL), 0);
        assert_int_equal(avro_value_get_double(&d, &got), 0);
        avro_value_decref(&decoded);
        if (memcmp(&want, &got, sizeof got) != 0)
            fail_msg("%s: %.17g, strtod %.17g", text, got, want);
    }
    /* out of the double range: refused, and said so */
    expect_error(fx, sa_record_set_text(&fx->rec, F_D, "1e400", 5, &fx->err),
                 "field 'd': expected double, got \"1e400\" (out of range)");
}

/* The fields of tests/data/record/text_values.tsv, each with a default so
 * that a record with one of them set encodes. */
static const char text_cases_schema[] =
    "{\"type\":\"record\",\"name\":\"V\",\"fields\":["
    "{\"name\":\"date\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"},"
    "\"default\":0},"
    "{\"name\":\"ts_ms\",\"type\":{\"type\":\"long\",\"logicalType\":"
    "\"timestamp-millis\"},\"default\":0},"
    "{\"name\":\"ts_us\",\"type\":{\"type\":\"long\",\"logicalType\":"
    "\"timestamp-micros\"},\"default\":0},"
    "{\"name\":\"d\",\"type\":\"double\",\"default\":0},"
    "{\"name\":\"f\",\"type\":\"float\",\"default\":0},"
    "{\"name\":\"l\",\"type\":\"long\",\"default\":0},"
    "{\"name\":\"i\",\"type\":\"int\",\"default\":0}"
    "]}";

/* What avro-c reads for field of the record encoded from rec, as text. */
static void stored_value(struct sa_record *rec, int field, char *out, size_t size)
{
    struct sa_buf body;
    struct sa_err err = {0};
    avro_value_t decoded, v;
    int32_t i32;
    int64_t i64;
    double d;
    float f;

    sa_buf_init(&body, 1 << 16);
    assert_int_equal(sa_record_encode(rec, &body, &err), SA_OK);
    avro_reads_back(rec->schema, body.data, body.len, &decoded);
    assert_int_equal(avro_value_get_by_index(&decoded, (size_t)field, &v, NULL), 0);
    switch (avro_value_get_type(&v)) {
    case AVRO_INT32:
        avro_value_get_int(&v, &i32);
        snprintf(out, size, "%d", i32);
        break;
    case AVRO_INT64:
        avro_value_get_long(&v, &i64);
        snprintf(out, size, "%lld", (long long)i64);
        break;
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        if (avro_value_get_type(&v) == AVRO_FLOAT) {
            avro_value_get_float(&v, &f);
            d = f;
        } else {
            avro_value_get_double(&v, &d);
        }
        if (isnan(d))
            snprintf(out, size, "nan");
        else
            snprintf(out, size, "%.17g", d);
        break;
    default:
        snprintf(out, size, "?");
    }
    avro_value_decref(&decoded);
    sa_buf_fini(&body);
}

/* Every line of tests/data/record/text_values.tsv (format in the file). */
/* A value in a reason is shown as written: valid UTF-8 as it is, invalid
 * bytes and control characters as \xNN, a BOM as \uFEFF, spaces kept. */
static void test_reason_quotes_value_as_given(void **state)
{
    struct fixture *fx = *state;

    sa_record_reset(&fx->rec);
    expect_error(fx, sa_record_set_text(&fx->rec, F_I, "h\xc3\xa9llo", 6, &fx->err),
                 "field 'i': expected int, got \"h\xc3\xa9llo\"");
    expect_error(fx, sa_record_set_text(&fx->rec, F_I, "\xef\xbb\xbfid", 5, &fx->err),
                 "field 'i': expected int, got \"\\uFEFFid\"");
    expect_error(fx, sa_record_set_text(&fx->rec, F_I, "a\xff\x01z", 4, &fx->err),
                 "field 'i': expected int, got \"a\\xFF\\x01z\"");
    expect_error(fx, sa_record_set_text(&fx->rec, F_D, "   ", 3, &fx->err),
                 "field 'd': expected double, got \"   \"");
    expect_error(fx, sa_record_set_text(&fx->rec, F_D, " 1.5x ", 6, &fx->err),
                 "field 'd': expected double, got \" 1.5x \"");
    assert_int_equal(sa_record_set_text(&fx->rec, F_D, " 1.5", 4, &fx->err), SA_OK);
}

static void test_text_value_cases(void **state)
{
    struct sa_schema *schema = NULL;
    struct sa_err err = {0};
    unsigned char *data;
    size_t len = 0, n_cases = 0;
    char *text, *line, *save = NULL;
    int failures = 0;

    (void)state;
    assert_int_equal(case_chdir("record"), 0);
    data = case_read_all("text_values.tsv", &len);
    assert_non_null(data);
    text = malloc(len + 1);
    assert_non_null(text);
    memcpy(text, data, len);
    text[len] = '\0';
    assert_int_equal(sa_schema_parse("v", 1, text_cases_schema, &schema, &err), SA_OK);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *col[5], *p = line, got[64];
        struct sa_record rec;
        int n = 0, field, rc;

        if (line[0] == '#' || !line[0])
            continue;
        for (; n < 5; n++) {
            col[n] = p;
            p = strchr(p, '\t');
            if (!p)
                break;
            *p++ = '\0';
        }
        if (n != 4)
            fail_msg("text_values.tsv: a case needs 5 columns: %s", line);
        n_cases++;
        field = sa_record_field_index(schema, col[0]);
        assert_true(field >= 0);
        assert_int_equal(sa_record_init(&rec, schema, &err), SA_OK);
        rc = sa_record_set_timezone(&rec, col[2], &err);
        if (strncmp(col[4], "zone-error: ", 12) == 0) {
            if (rc != SA_ECONFIG || !strstr(err.msg, col[4] + 12)) {
                fprintf(stderr, "zone %s: rc %d '%s', want '%s'\n", col[2], rc, err.msg,
                        col[4] + 12);
                failures++;
            }
            sa_record_fini(&rec);
            continue;
        }
        if (rc != SA_OK)
            fail_msg("zone %s: %s", col[2], err.msg);
        if (strcmp(col[1], "-") != 0) {
            rc = sa_record_set_text_format(&rec, field, col[1], &err);
            if (strncmp(col[4], "config-error: ", 14) == 0) {
                if (rc != SA_ECONFIG || !strstr(err.msg, col[4] + 14)) {
                    fprintf(stderr, "format %s: rc %d '%s', want '%s'\n", col[1], rc,
                            err.msg, col[4] + 14);
                    failures++;
                }
                sa_record_fini(&rec);
                continue;
            }
            assert_int_equal(rc, SA_OK);
        }
        rc = sa_record_set_text(&rec, field, col[3], strlen(col[3]), &err);
        if (strncmp(col[4], "error: ", 7) == 0) {
            if (rc != SA_ERECORD || !strstr(err.msg, col[4] + 7)) {
                fprintf(stderr,
                        "%s '%s' (format %s): rc %d '%s', want an error with '%s'\n",
                        col[0], col[3], col[1], rc, rc ? err.msg : "", col[4] + 7);
                failures++;
            }
        } else if (rc != SA_OK) {
            fprintf(stderr, "%s '%s' (format %s, zone %s): %s\n", col[0], col[3],
                    col[1], col[2], err.msg);
            failures++;
        } else {
            stored_value(&rec, field, got, sizeof got);
            if (strcmp(got, col[4]) != 0) {
                fprintf(stderr, "%s '%s' (format %s, zone %s): %s, want %s\n", col[0],
                        col[3], col[1], col[2], got, col[4]);
                failures++;
            }
        }
        sa_record_fini(&rec);
    }
    assert_true(n_cases > 50);
    if (failures)
        fail_msg("%d of %zu text cases failed", failures, n_cases);
    sa_schema_free(schema);
    free(text);
    free(data);
}

/* Formats against glibc's strptime + timegm (C locale) for random times
 * written with strftime in the same format: the parsers agree. */
static void test_formats_match_strptime(void **state)
{
    static const char *const formats[] = {
        "%d.%m.%Y %H:%M:%S",
        "%m/%d/%Y %I:%M:%S %p",
        "%Y%m%d%H%M%S",
        "%b %d %Y %H:%M",
        "%A, %d %B %Y %T",
        "%Y-%j %H:%M",
        "%F %R",
        "%y-%m-%d %H:%M:%S",
    };
    struct sa_schema *schema = NULL;
    struct sa_err err = {0};
    uint64_t x = 5;

    (void)state;
    assert_int_equal(sa_schema_parse("v", 1, text_cases_schema, &schema, &err), SA_OK);
    for (size_t k = 0; k < sizeof formats / sizeof *formats; k++) {
        struct sa_record rec;
        assert_int_equal(sa_record_init(&rec, schema, &err), SA_OK);
        if (sa_record_set_text_format(&rec, 1, formats[k], &err))
            fail_msg("%s: %s", formats[k], err.msg);
        for (int i = 0; i < 3000; i++) {
            char text[128], got[64], want[64];
            struct tm tm, back;
            time_t t;
            char *end;

            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            /* 1970..2068: what %y reads back into the same century */
            t = (time_t)((x >> 16) % 3124137600ULL);
            if (strstr(formats[k], "%M") && !strstr(formats[k], "%S"))
                t -= t % 60;
            gmtime_r(&t, &tm);
            strftime(text, sizeof text, formats[k], &tm);
            memset(&back, 0, sizeof back);
            end = strptime(text, formats[k], &back);
            assert_non_null(end);
            assert_int_equal(*end, '\0');
            if (strstr(formats[k], "%j")) { /* strptime leaves the month to us */
                back.tm_mon = 0;
                back.tm_mday = back.tm_yday + 1;
            }
            snprintf(want, sizeof want, "%lld", (long long)timegm(&back) * 1000);
            sa_record_reset(&rec);
            if (sa_record_set_text(&rec, 1, text, strlen(text), &err))
                fail_msg("%s '%s': %s", formats[k], text, err.msg);
            stored_value(&rec, 1, got, sizeof got);
            if (strcmp(got, want) != 0)
                fail_msg("%s '%s': %s, strptime %s", formats[k], text, got, want);
        }
        sa_record_fini(&rec);
    }
    sa_schema_free(schema);
}

/* A timestamp-micros event-time field gives event time in ms, rounded
 * down (also before the epoch); NaN and infinities go to JSON as null. */
static void test_micros_event_time_and_json_nonfinite(void **state)
{
    static const char json[] =
        "{\"type\":\"record\",\"name\":\"M\",\"fields\":["
        "{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":"
        "\"timestamp-micros\"}},"
        "{\"name\":\"day\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
        "{\"name\":\"d\",\"type\":[\"null\",\"double\"],\"default\":null},"
        "{\"name\":\"f\",\"type\":\"float\"},"
        "{\"name\":\"g\",\"type\":\"double\"}]}";
    struct sa_schema *schema = NULL;
    struct sa_record rec;
    struct sa_buf body, out;
    struct sa_err err = {0};

    (void)state;
    assert_int_equal(sa_schema_parse("m", 1, json, &schema, &err), SA_OK);
    assert_int_equal(schema->event_time_field, 0);
    assert_int_equal(sa_record_init(&rec, schema, &err), SA_OK);
    assert_int_equal(
        sa_record_set_text(&rec, 0, "1969-12-31T23:59:59.999999Z", 27, &err), SA_OK);
    assert_int_equal(sa_record_event_ms(&rec, 42), -1);
    assert_int_equal(
        sa_record_set_text(&rec, 0, "2012-01-01T00:00:00.001999Z", 27, &err), SA_OK);
    assert_int_equal(sa_record_event_ms(&rec, 42), 1325376000001LL);
    assert_int_equal(sa_record_set_text(&rec, 1, "2012-01-01", 10, &err), SA_OK);
    assert_int_equal(sa_record_set_text(&rec, 2, "NaN", 3, &err), SA_OK);
    assert_int_equal(sa_record_set_text(&rec, 3, "-Infinity", 9, &err), SA_OK);
    assert_int_equal(sa_record_set_text(&rec, 4, "infinity", 8, &err), SA_OK);
    sa_buf_init(&body, 1 << 16);
    sa_buf_init(&out, 1 << 16);
    assert_int_equal(sa_record_encode(&rec, &body, &err), SA_OK);
    assert_int_equal(
        sa_encode_json(schema, body.data, body.len, NULL, NULL, &out, &err), SA_OK);
    assert_int_equal(sa_buf_terminate(&out), SA_OK);
    assert_string_equal((const char *)out.data,
                        "{\"at\":1325376000001999,\"day\":15340,\"d\":null,\"f\":null,"
                        "\"g\":null}");
    sa_buf_fini(&body);
    sa_buf_fini(&out);
    sa_record_fini(&rec);
    sa_schema_free(schema);
}

/* Every sample schema's generated records read back with avro-c, and key
 * and event time agree with what avro-c reads. */
static void test_generated_records_read_by_avro_c(void **state)
{
    const char *src = getenv("SA_SOURCE_DIR");
    struct sa_schema_set *set = NULL;
    struct sa_err err = {0};
    struct sa_buf body, key;
    char dir[4096];

    (void)state;
    assert_non_null(src);
    snprintf(dir, sizeof dir, "%s/schemas", src);
    if (sa_schemas_load(dir, SA_COMPAT_BACKWARD, &set, &err))
        fail_msg("%s", err.msg);
    sa_buf_init(&body, 1 << 20);
    sa_buf_init(&key, 4096);
    assert_true(set->n >= 5);
    for (size_t s = 0; s < set->n; s++) {
        const struct sa_schema *schema = set->v[s];
        struct sa_generator gen;
        struct sa_record rec;

        assert_int_equal(
            sa_generator_init(&gen, schema, 9, 1767225600000LL, 1000, &err), SA_OK);
        assert_int_equal(sa_record_init(&rec, schema, &err), SA_OK);
        for (uint64_t i = 0; i < 3000; i++) {
            avro_value_t decoded, field, branch;
            int64_t ts;

            sa_buf_reset(&body);
            sa_buf_reset(&key);
            if (sa_generator_fill(&gen, i, &rec, &err) ||
                sa_record_encode(&rec, &body, &err))
                fail_msg("%s record %llu: %s", schema->subject, (unsigned long long)i,
                         err.msg);
            avro_reads_back(schema, body.data, body.len, &decoded);

            assert_int_equal(avro_value_get_by_index(&decoded,
                                                     (size_t)schema->event_time_field,
                                                     &field, NULL),
                             0);
            assert_int_equal(avro_value_get_long(&field, &ts), 0);
            assert_int_equal(sa_record_event_ms(&rec, -1), ts);

            assert_int_equal(sa_record_key(&rec, &key), SA_OK);
            assert_int_equal(avro_value_get_by_index(
                                 &decoded, (size_t)schema->key_field, &field, NULL),
                             0);
            if (avro_value_get_type(&field) == AVRO_UNION) {
                assert_int_equal(avro_value_get_current_branch(&field, &branch), 0);
                field = branch;
            }
            if (avro_value_get_type(&field) == AVRO_STRING) {
                const char *str;
                size_t size;
                assert_int_equal(avro_value_get_string(&field, &str, &size), 0);
                assert_int_equal(key.len, size - 1);
                assert_memory_equal(key.data, str, key.len);
            } else {
                int64_t l;
                char text[32];
                assert_int_equal(avro_value_get_long(&field, &l), 0);
                snprintf(text, sizeof text, "%lld", (long long)l);
                assert_int_equal(key.len, strlen(text));
                assert_memory_equal(key.data, text, key.len);
            }
            avro_value_decref(&decoded);
        }
        sa_record_fini(&rec);
        sa_generator_fini(&gen);
    }
    sa_buf_fini(&body);
    sa_buf_fini(&key);
    sa_schemas_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_setters_round_trip),
        cmocka_unit_test(test_defaults_and_missing),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_text_numbers),
        cmocka_unit_test(test_text_booleans),
        cmocka_unit_test(test_text_integer_edges),
        cmocka_unit_test(test_text_boolean_words),
        cmocka_unit_test(test_text_enum_symbols),
        cmocka_unit_test(test_text_timestamps),
        cmocka_unit_test(test_text_timestamp_days),
        cmocka_unit_test(test_text_empty),
        cmocka_unit_test(test_reason_quotes_value_as_given),
        cmocka_unit_test(test_key_and_meta),
        cmocka_unit_test(test_json_rejects_damage),
        cmocka_unit_test(test_doubles_round_trip),
        cmocka_unit_test(test_encoding_matches_avro_c),
        cmocka_unit_test(test_set_again_without_reset),
        cmocka_unit_test(test_text_doubles_match_strtod),
        cmocka_unit_test(test_generated_records_read_by_avro_c),
        cmocka_unit_test(test_text_value_cases),
        cmocka_unit_test(test_formats_match_strptime),
        cmocka_unit_test(test_micros_event_time_and_json_nonfinite),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
