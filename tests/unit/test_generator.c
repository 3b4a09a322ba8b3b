/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent/source/generator.c: record i is a pure function of (schema, seed, i,
 * start, interval); every sample schema generates and encodes; values look
 * like what their field names promise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/schemas.h"
#include "agent/source/generator.h"
#include "sync/encode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define START 1767225600000LL

static struct sa_schema_set *set;

static int setup(void **state)
{
    const char *src = getenv("SA_SOURCE_DIR");
    char dir[4096];
    struct sa_err err = {0};

    (void)state;
    assert_non_null(src);
    snprintf(dir, sizeof dir, "%s/schemas", src);
    if (sa_schemas_load(dir, SA_COMPAT_BACKWARD, &set, &err))
        fail_msg("%s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sa_schemas_free(set);
    return 0;
}

/* Encoded bytes of record `index` from a fresh generator and record. */
static void generate_one(const struct sa_schema *schema, uint64_t seed, uint64_t index,
                         struct sa_buf *out)
{
    struct sa_generator gen;
    struct sa_record rec;
    struct sa_err err = {0};

    assert_int_equal(sa_generator_init(&gen, schema, seed, START, 1000, &err), SA_OK);
    assert_int_equal(sa_record_init(&rec, schema, &err), SA_OK);
    sa_buf_reset(out);
    if (sa_generator_fill(&gen, index, &rec, &err) || sa_record_encode(&rec, out, &err))
        fail_msg("%s", err.msg);
    sa_record_fini(&rec);
    sa_generator_fini(&gen);
}

static void test_deterministic(void **state)
{
    struct sa_buf a, b;
    (void)state;
    sa_buf_init(&a, 1 << 20);
    sa_buf_init(&b, 1 << 20);
    for (size_t s = 0; s < set->n; s++) {
        generate_one(set->v[s], 7, 12345, &a);
        generate_one(set->v[s], 7, 12345, &b);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
        generate_one(set->v[s], 8, 12345, &b);
        assert_false(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
        generate_one(set->v[s], 7, 12346, &b);
        assert_false(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    }
    sa_buf_fini(&a);
    sa_buf_fini(&b);
}

static void test_resume_equals_sequential(void **state)
{
    const struct sa_schema *schema = sa_schemas_find(set, "web_event", 0);
    struct sa_generator gen;
    struct sa_record rec;
    struct sa_buf seq, direct;
    struct sa_err err = {0};

    (void)state;
    assert_non_null(schema);
    sa_buf_init(&seq, 1 << 20);
    sa_buf_init(&direct, 1 << 20);
    assert_int_equal(sa_generator_init(&gen, schema, 3, START, 1000, &err), SA_OK);
    assert_int_equal(sa_record_init(&rec, schema, &err), SA_OK);
    for (uint64_t i = 0; i <= 1000; i++) {
        sa_buf_reset(&seq);
        assert_int_equal(sa_generator_fill(&gen, i, &rec, &err), SA_OK);
        assert_int_equal(sa_record_encode(&rec, &seq, &err), SA_OK);
    }
    generate_one(schema, 3, 1000, &direct);
    assert_int_equal(seq.len, direct.len);
    assert_memory_equal(seq.data, direct.data, seq.len);
    sa_record_fini(&rec);
    sa_generator_fini(&gen);
    sa_buf_fini(&seq);
    sa_buf_fini(&direct);
}

static void test_every_schema_generates(void **state)
{
    struct sa_buf body, json, key;
    struct sa_err err = {0};

    (void)state;
    sa_buf_init(&body, 1 << 20);
    sa_buf_init(&json, 1 << 20);
    sa_buf_init(&key, 4096);
    assert_int_equal(set->n, 5);
    for (size_t s = 0; s < set->n; s++) {
        const struct sa_schema *schema = set->v[s];
        struct sa_generator gen;
        struct sa_record rec;
        assert_int_equal(sa_generator_init(&gen, schema, 1, START, 250, &err), SA_OK);
        assert_int_equal(sa_record_init(&rec, schema, &err), SA_OK);
        for (uint64_t i = 0; i < 2000; i++) {
            sa_buf_reset(&body);
            sa_buf_reset(&json);
            sa_buf_reset(&key);
            if (sa_generator_fill(&gen, i, &rec, &err) ||
                sa_record_encode(&rec, &body, &err) ||
                sa_encode_json(schema, body.data, body.len, NULL, NULL, &json, &err))
                fail_msg("%s v%d record %llu: %s", schema->subject, schema->version,
                         (unsigned long long)i, err.msg);
            /* event time = start + i * interval; every sample has a key */
            assert_int_equal(sa_record_event_ms(&rec, -1), START + (int64_t)i * 250);
            assert_int_equal(sa_record_key(&rec, &key), SA_OK);
            assert_true(key.len > 0);
        }
        sa_record_fini(&rec);
        sa_generator_fini(&gen);
    }
    sa_buf_fini(&body);
    sa_buf_fini(&json);
    sa_buf_fini(&key);
}

static void test_values_look_right(void **state)
{
    const struct sa_schema *schema = sa_schemas_find(set, "sensor_reading", 2);
    int f_dev = sa_record_field_index(schema, "device_id");
    int f_fw = sa_record_field_index(schema, "firmware");
    struct sa_generator gen;
    struct sa_record rec;
    struct sa_buf key, body;
    struct sa_err err = {0};
    avro_value_t decoded;
    avro_reader_t reader = avro_reader_memory("", 0);
    int nulls = 0, n = 10000;

    (void)state;
    assert_true(f_dev >= 0 && f_fw >= 0);
    assert_non_null(reader);
    assert_int_equal(avro_generic_value_new(schema->iface, &decoded), 0);
    sa_buf_init(&key, 4096);
    sa_buf_init(&body, 1 << 20);
    assert_int_equal(sa_generator_init(&gen, schema, 1, START, 1000, &err), SA_OK);
    assert_int_equal(sa_record_init(&rec, schema, &err), SA_OK);
    for (int i = 0; i < n; i++) {
        avro_value_t v;
        double temp;
        int disc;
        unsigned num;
        char tail;

        assert_int_equal(sa_generator_fill(&gen, (uint64_t)i, &rec, &err), SA_OK);
        sa_buf_reset(&body);
        assert_int_equal(sa_record_encode(&rec, &body, &err), SA_OK);
        avro_reader_memory_set_source(reader, (const char *)body.data,
                                      (int64_t)body.len);
        assert_int_equal(avro_value_read(reader, &decoded), 0);
        sa_buf_reset(&key);
        sa_record_key(&rec, &key);
        sa_buf_terminate(&key);
        assert_int_equal(key.len, 10);
        assert_int_equal(sscanf((const char *)key.data, "dev-%6u%c", &num, &tail), 1);

        avro_value_get_by_index(&decoded, (size_t)f_fw, &v, NULL);
        avro_value_get_discriminant(&v, &disc);
        nulls += disc == 0;

        avro_value_get_by_name(&decoded, "temperature", &v, NULL);
        avro_value_get_double(&v, &temp);
        assert_true(temp > -10 && temp < 45);
    }
    /* nullable fields are null about one time in ten */
    assert_in_range(nulls, n / 20, n * 3 / 20);
    sa_record_fini(&rec);
    sa_generator_fini(&gen);
    sa_buf_fini(&key);
    sa_buf_fini(&body);
    avro_value_decref(&decoded);
    avro_reader_free(reader);
}

/* Time plans honour the logical type: a timestamp-micros event time is
 * the ms time times 1000 (and gives the event time in ms), a date is the
 * day (an int field of days is not made a plain int), and these values
 * are in the ranges their names promise. */
static void test_logical_time_units(void **state)
{
    static const char json[] =
        "{\"type\":\"record\",\"name\":\"L\",\"fields\":["
        "{\"name\":\"recorded_at\",\"type\":{\"type\":\"long\",\"logicalType\":"
        "\"timestamp-micros\"}},"
        "{\"name\":\"signup_date\",\"type\":{\"type\":\"int\",\"logicalType\":"
        "\"date\"}},"
        "{\"name\":\"ship_date\",\"type\":{\"type\":\"int\",\"logicalType\":"
        "\"date\"}}]}";
    struct sa_schema *schema = NULL;
    struct sa_generator gen;
    struct sa_record rec;
    struct sa_buf body;
    struct sa_err err = {0};
    avro_value_t decoded, v;
    avro_reader_t reader = avro_reader_memory("", 0);

    (void)state;
    assert_int_equal(sa_schema_parse("l", 1, json, &schema, &err), SA_OK);
    assert_int_equal(avro_generic_value_new(schema->iface, &decoded), 0);
    sa_buf_init(&body, 1 << 16);
    assert_int_equal(sa_generator_init(&gen, schema, 1, START, 1000, &err), SA_OK);
    assert_int_equal(sa_record_init(&rec, schema, &err), SA_OK);
    for (int i = 0; i < 1000; i++) {
        int64_t at;
        int32_t signup, ship;
        int64_t today = START / 86400000 + i / 86400;

        assert_int_equal(sa_generator_fill(&gen, (uint64_t)i, &rec, &err), SA_OK);
        assert_int_equal(sa_record_event_ms(&rec, -1), START + i * 1000LL);
        sa_buf_reset(&body);
        assert_int_equal(sa_record_encode(&rec, &body, &err), SA_OK);
        avro_reader_memory_set_source(reader, (const char *)body.data,
                                      (int64_t)body.len);
        assert_int_equal(avro_value_read(reader, &decoded), 0);
        avro_value_get_by_index(&decoded, 0, &v, NULL);
        avro_value_get_long(&v, &at);
        assert_int_equal(at, (START + i * 1000LL) * 1000);
        avro_value_get_by_index(&decoded, 1, &v, NULL);
        avro_value_get_int(&v, &signup);
        assert_in_range(signup, today - 731, today);
        avro_value_get_by_index(&decoded, 2, &v, NULL);
        avro_value_get_int(&v, &ship);
        assert_in_range(ship, today, today + 4);
    }
    sa_record_fini(&rec);
    sa_generator_fini(&gen);
    sa_buf_fini(&body);
    avro_value_decref(&decoded);
    avro_reader_free(reader);
    sa_schema_free(schema);
}

/* Enum symbols are drawn with weights 1/(k+1): check the shares for a
 * short list (counted) and a long one (searched), within 2 points, and
 * that every symbol comes up. */
static void check_enum_shares(int n_symbols)
{
    char json[4096];
    size_t len;
    struct sa_schema *schema;
    struct sa_generator gen;
    struct sa_record rec;
    struct sa_buf body;
    struct sa_err err = {0};
    int count[64] = {0}, n = 200000;
    double total = 0;

    assert_true(n_symbols <= 64);
    len = (size_t)snprintf(json, sizeof json,
                           "{\"type\":\"record\",\"name\":\"E\",\"fields\":["
                           "{\"name\":\"level\",\"type\":{\"type\":\"enum\","
                           "\"name\":\"L\",\"symbols\":[");
    for (int k = 0; k < n_symbols; k++)
        len += (size_t)snprintf(json + len, sizeof json - len, "%s\"S%d\"",
                                k ? "," : "", k);
    snprintf(json + len, sizeof json - len, "]}}]}");
    assert_int_equal(sa_schema_parse("e", 1, json, &schema, &err), SA_OK);
    assert_int_equal(sa_generator_init(&gen, schema, 3, START, 1000, &err), SA_OK);
    assert_int_equal(sa_record_init(&rec, schema, &err), SA_OK);
    sa_buf_init(&body, 1 << 20);
    for (int i = 0; i < n; i++) {
        int64_t k;
        sa_buf_reset(&body);
        if (sa_generator_fill(&gen, (uint64_t)i, &rec, &err) ||
            sa_record_encode(&rec, &body, &err))
            fail_msg("%s", err.msg);
        /* the body is the symbol number, zigzag varint */
        assert_true(sa_varint_decode(body.data, body.data + body.len, (uint64_t *)&k) > 0);
        k = sa_zigzag_decode((uint64_t)k);
        assert_in_range(k, 0, n_symbols - 1);
        count[k]++;
    }
    for (int k = 0; k < n_symbols; k++)
        total += 1.0 / (k + 1);
    for (int k = 0; k < n_symbols; k++) {
        double want = 1.0 / (k + 1) / total, got = (double)count[k] / n;
        if (count[k] == 0 || got < want - 0.02 || got > want + 0.02)
            fail_msg("%d symbols: symbol %d drawn %.4f of the time, expected %.4f",
                     n_symbols, k, got, want);
    }
    sa_buf_fini(&body);
    sa_record_fini(&rec);
    sa_generator_fini(&gen);
    sa_schema_free(schema);
}

static void test_enum_weights(void **state)
{
    (void)state;
    check_enum_shares(1);
    check_enum_shares(3);
    check_enum_shares(16);
    check_enum_shares(17);
    check_enum_shares(40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_resume_equals_sequential),
        cmocka_unit_test(test_every_schema_generates),
        cmocka_unit_test(test_values_look_right),
        cmocka_unit_test(test_enum_weights),
        cmocka_unit_test(test_logical_time_units),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
