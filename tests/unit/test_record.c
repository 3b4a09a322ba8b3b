/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent/record.c and sync/encode.c: typed setters, text coercion, defaults
 * and null rules, errors naming the field, and Avro encode -> JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/record.h"
#include "sync/encode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    static const char *const bad[] = {
        "2026-02-30T00:00:00Z",
        "2025-02-29",
        "2026-13-01",
        "2026-01-01T24:00:00Z",
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
    /* event time falls back when the field is not set */
    sa_record_reset(&fx->rec);
    assert_int_equal(sa_record_event_ms(&fx->rec, -42), -42);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_setters_round_trip),
        cmocka_unit_test(test_defaults_and_missing),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_text_numbers),
        cmocka_unit_test(test_text_booleans),
        cmocka_unit_test(test_text_timestamps),
        cmocka_unit_test(test_text_empty),
        cmocka_unit_test(test_key_and_meta),
        cmocka_unit_test(test_json_rejects_damage),
        cmocka_unit_test(test_doubles_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
