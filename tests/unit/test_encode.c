/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sync/encode.c's JSON encoding, byte for byte: every Avro type, string
 * escaping for every byte value (text and bytes), ["null", T] unions by
 * branch, damaged bodies, and resolution to a reader schema both ways the
 * encoder takes: in one pass (the reader keeps the writer's order, adding
 * or dropping fields) and through spans (the reader reorders them), with
 * and without the map sa_schema_link_reader precomputes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/schema.h"
#include "sync/encode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct sa_schema *parse(const char *json)
{
    struct sa_schema *s = NULL;
    struct sa_err err = {0};

    if (sa_schema_parse("t", 1, json, &s, &err) != SA_OK)
        fail_msg("schema: %s", err.msg);
    return s;
}

/* An Avro body under construction. */
struct body {
    uint8_t b[1024];
    size_t n;
};

static void put_long(struct body *b, int64_t v)
{
    b->n += sa_varint_encode(b->b + b->n, sa_zigzag_encode(v));
}

static void put_str(struct body *b, const char *s, size_t len)
{
    put_long(b, (int64_t)len);
    memcpy(b->b + b->n, s, len);
    b->n += len;
}

static void put_double(struct body *b, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    for (int i = 0; i < 8; i++)
        b->b[b->n++] = (uint8_t)(bits >> (8 * i));
}

static void expect_json(const struct sa_schema *s, const struct body *b,
                        const char *want)
{
    struct sa_buf out;
    struct sa_err err = {0};

    sa_buf_init(&out, 1 << 20);
    /* Something before: the encoder appends. */
    assert_int_equal(sa_buf_append_str(&out, "x"), SA_OK);
    if (sa_encode_json(s, b->b, b->n, NULL, NULL, &out, &err) != SA_OK)
        fail_msg("encode: %s", err.msg);
    assert_int_equal(sa_buf_terminate(&out), SA_OK);
    if (strcmp((const char *)out.data + 1, want) != 0)
        fail_msg("got  %s\nwant %s", (const char *)out.data + 1, want);
    assert_int_equal(out.data[0], 'x');
    sa_buf_fini(&out);
}

static const char all_types[] =
    "{\"type\":\"record\",\"name\":\"r\",\"fields\":["
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\","
    "\"BB\"]}},"
    "{\"name\":\"n\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"m\",\"type\":[\"string\",\"null\"]},"
    "{\"name\":\"u\",\"type\":[\"null\",\"int\",\"string\"]},"
    "{\"name\":\"y\",\"type\":\"bytes\"},"
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
    "{\"name\":\"p\",\"type\":{\"type\":\"map\",\"values\":\"boolean\"}},"
    "{\"name\":\"q\",\"type\":{\"type\":\"record\",\"name\":\"Q\",\"fields\":["
    "{\"name\":\"x\",\"type\":\"null\"}]}}]}";

static void test_all_types(void **state)
{
    struct sa_schema *s = parse(all_types);
    struct body b = {.n = 0};

    (void)state;
    put_str(&b, "a\"b\\c\n\t\x01\x7f\xc3\xa9", 11);
    put_long(&b, -7);
    put_long(&b, 1767225600000);
    put_double(&b, 21.37);
    {
        float f = 0.5f;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        for (int i = 0; i < 4; i++)
            b.b[b.n++] = (uint8_t)(bits >> (8 * i));
    }
    b.b[b.n++] = 1;
    put_long(&b, 1); /* enum BB */
    put_long(&b, 0); /* n: null */
    put_long(&b, 0); /* m: the string branch */
    put_str(&b, "v", 1);
    put_long(&b, 2); /* u: a three-branch union, the string */
    put_str(&b, "w", 1);
    put_str(&b, "\x00\x80z", 3);
    put_long(&b, 2); /* array: one block of two */
    put_long(&b, 1);
    put_long(&b, -2);
    put_long(&b, 0);
    put_long(&b, 1); /* map: one entry */
    put_str(&b, "k", 1);
    b.b[b.n++] = 0;
    put_long(&b, 0);
    expect_json(s, &b,
                "{\"s\":\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\xc3\xa9\",\"i\":-7,"
                "\"l\":1767225600000,\"d\":21.37,\"f\":0.5,\"b\":true,\"e\":\"BB\","
                "\"n\":null,\"m\":\"v\",\"u\":\"w\",\"y\":\"\\u0000\\u0080z\","
                "\"a\":[1,-2],\"p\":{\"k\":false},\"q\":{\"x\":null}}");
    sa_schema_free(s);
}

/* Every byte value in a string and in bytes, against the rule: text keeps
 * UTF-8 bytes, bytes escape everything outside printable ASCII. */
static void test_every_byte(void **state)
{
    struct sa_schema *s = parse("{\"type\":\"record\",\"name\":\"r\",\"fields\":["
                                "{\"name\":\"s\",\"type\":\"string\"},"
                                "{\"name\":\"y\",\"type\":\"bytes\"}]}");
    char want[8192], *w = want;
    struct body b = {.n = 0};

    (void)state;
    for (int pass = 0; pass < 2; pass++) {
        char all[256];
        for (int c = 0; c < 256; c++)
            all[c] = (char)c;
        put_str(&b, all, 256);
    }
    w += sprintf(w, "{\"s\":\"");
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            w += sprintf(w, "\",\"y\":\"");
        for (int c = 0; c < 256; c++) {
            if (c == '"' || c == '\\')
                w += sprintf(w, "\\%c", c);
            else if (c == '\n')
                w += sprintf(w, "\\n");
            else if (c == '\r')
                w += sprintf(w, "\\r");
            else if (c == '\t')
                w += sprintf(w, "\\t");
            else if (c < 0x20 || c == 0x7f || (pass && c >= 0x80))
                w += sprintf(w, "\\u%04x", c);
            else
                *w++ = (char)c;
        }
    }
    sprintf(w, "\"}");
    expect_json(s, &b, want);
    sa_schema_free(s);
}

static void test_damaged_bodies(void **state)
{
    struct sa_schema *s = parse("{\"type\":\"record\",\"name\":\"r\",\"fields\":["
                                "{\"name\":\"n\",\"type\":[\"null\",\"string\"]},"
                                "{\"name\":\"s\",\"type\":\"string\"}]}");
    static const struct {
        uint8_t b[4];
        size_t n;
    } bad[] = {
        {{4, 0}, 2},       /* union branch 2 of two */
        {{0, 10, 'a'}, 3}, /* string longer than the body */
        {{0, 0, 1}, 3},    /* trailing bytes */
        {{0}, 1},          /* cut short */
    };
    struct sa_buf out;

    (void)state;
    sa_buf_init(&out, 1 << 20);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sa_err err = {0};
        assert_int_equal(sa_encode_json(s, bad[i].b, bad[i].n, NULL, NULL, &out, &err),
                         SA_ECORRUPT);
        assert_int_equal(out.len, 0);
        assert_non_null(strstr(err.msg, "avro body"));
    }
    sa_buf_fini(&out);
    sa_schema_free(s);
}

static void test_identity_columns_and_strings(void **state)
{
    struct sa_schema *s = parse("{\"type\":\"record\",\"name\":\"r\",\"fields\":["
                                "{\"name\":\"k\",\"type\":\"string\"}]}");
    struct sa_record_view rec = {.seq = 42, .op = SA_OP_DELETE};
    struct body b = {.n = 0};
    struct sa_buf out;
    struct sa_err err = {0};

    (void)state;
    put_str(&b, "x", 1);
    sa_buf_init(&out, 1 << 20);
    assert_int_equal(sa_encode_json(s, b.b, b.n, "o-1", &rec, &out, &err), SA_OK);
    assert_int_equal(sa_encode_json_string(&out, "q\"", 2), SA_OK);
    assert_int_equal(sa_encode_json_i64(&out, -9223372036854775807LL - 1), SA_OK);
    assert_int_equal(sa_buf_terminate(&out), SA_OK);
    assert_string_equal((const char *)out.data,
                        "{\"k\":\"x\",\"_origin_id\":\"o-1\",\"_seq\":42,"
                        "\"_op\":\"delete\"}\"q\\\"\"-9223372036854775808");
    sa_buf_fini(&out);
    sa_schema_free(s);
}

/* v1 {a, b, c} read as readers that add, drop, rename and reorder. */
static const char writer_json[] = "{\"type\":\"record\",\"name\":\"r\",\"fields\":["
                                  "{\"name\":\"a\",\"type\":\"string\"},"
                                  "{\"name\":\"b\",\"type\":[\"null\",\"long\"]},"
                                  "{\"name\":\"c\",\"type\":\"double\"}]}";

static void resolve_case(const char *reader_json, int in_order, const char *want)
{
    struct sa_schema *w = parse(writer_json), *r = parse(reader_json);
    struct body b = {.n = 0};

    put_str(&b, "k1", 2);
    put_long(&b, 1);
    put_long(&b, 5);
    put_double(&b, 1.5);
    /* Without the map (a reader linked by hand): by name, every call. */
    w->reader = r;
    expect_json(w, &b, want);
    w->reader = NULL;
    assert_int_equal(sa_schema_link_reader(w, r), SA_OK);
    assert_int_equal(w->reader_in_order, in_order);
    expect_json(w, &b, want);
    sa_schema_free(w);
    sa_schema_free(r);
}

static void test_resolve(void **state)
{
    (void)state;
    /* Adds fields: with a default, and one without (left out). */
    resolve_case("{\"type\":\"record\",\"name\":\"r\",\"fields\":["
                 "{\"name\":\"a\",\"type\":\"string\"},"
                 "{\"name\":\"b\",\"type\":[\"null\",\"long\"]},"
                 "{\"name\":\"c\",\"type\":\"double\"},"
                 "{\"name\":\"d\",\"type\":[\"null\",\"int\"],\"default\":null},"
                 "{\"name\":\"e\",\"type\":\"int\"},"
                 "{\"name\":\"f\",\"type\":\"boolean\",\"default\":false}]}",
                 1, "{\"a\":\"k1\",\"b\":5,\"c\":1.5,\"d\":null,\"f\":false}");
    /* Drops b, renames c through an alias, adds one in the middle. */
    resolve_case("{\"type\":\"record\",\"name\":\"r\",\"fields\":["
                 "{\"name\":\"a\",\"type\":\"string\"},"
                 "{\"name\":\"z\",\"type\":\"string\",\"default\":\"-\"},"
                 "{\"name\":\"cc\",\"aliases\":[\"c\"],\"type\":\"double\"}]}",
                 1, "{\"a\":\"k1\",\"z\":\"-\",\"cc\":1.5}");
    /* Reorders. */
    resolve_case("{\"type\":\"record\",\"name\":\"r\",\"fields\":["
                 "{\"name\":\"c\",\"type\":\"double\"},"
                 "{\"name\":\"x\",\"type\":\"long\",\"default\":3},"
                 "{\"name\":\"a\",\"type\":\"string\"}]}",
                 0, "{\"c\":1.5,\"x\":3,\"a\":\"k1\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_types),
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_damaged_bodies),
        cmocka_unit_test(test_identity_columns_and_strings),
        cmocka_unit_test(test_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
