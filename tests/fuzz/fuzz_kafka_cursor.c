/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the Kafka sink's cursor read-back
 * (sa_kafka_cursor_parse, sync/sink/kafka_cursor.c): the cursor topic is
 * shared, compacted and outlives the spool, so a message value there may
 * be anything, and the sink must take a good cursor or give a clear
 * reason, never crash (DESIGN.md I6).
 *
 * Input: the message value, every byte (tests/data/kafka_cursor/NAME.value
 * are seeds as they are).
 *
 * Checks:
 *   - SA_OK or SA_EPARSE, and SA_OK exactly when jansson (independently
 *     of the sink's code) reads one object without a duplicate key whose
 *     origin_id is a string of 1-64 ASCII letters, digits and "-_.:",
 *     segment_id an integer >= 0 and record_index an integer from 0 to
 *     2^32-1; the values returned are those;
 *   - what the sink itself writes (produce_cursor's format) for the values
 *     returned reads back the same;
 *   - on error: err.rc is the rc and the message is "<what> <reason>", one
 *     line of valid UTF-8 (no control characters) within sa_err;
 *   - the value is read from a heap block of exactly its size (ASan sees a
 *     read past the end) and is not written to.
 */
#include "agent/base/error.h"
#include "sync/sink/kafka_cursor.h"
#include "tests/fuzz/fuzz_common.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHAT "sink fuzz: cursor in _syncagent.cursors [0] at offset 42"

/* What jansson reads, as the contract in kafka_cursor.h says. */
static int reference(const uint8_t *value, size_t len, struct sa_kafka_cursor *out)
{
    json_t *root = json_loadb((const char *)value, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *origin = json_object_get(root, "origin_id");
    json_t *segment = json_object_get(root, "segment_id");
    json_t *record = json_object_get(root, "record_index");
    int ok = json_is_object(root) && json_is_string(origin) &&
             json_is_integer(segment) && json_is_integer(record) &&
             json_string_length(origin) >= 1 &&
             json_string_length(origin) <= SA_KAFKA_ORIGIN_ID_MAX &&
             json_integer_value(segment) >= 0 && json_integer_value(record) >= 0 &&
             json_integer_value(record) <= UINT32_MAX;

    for (size_t i = 0; ok && i < json_string_length(origin); i++) {
        char c = json_string_value(origin)[i];
        ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
             (c >= 'a' && c <= 'z') || strchr("-_.:", c) != NULL;
    }
    if (ok) {
        snprintf(out->origin_id, sizeof out->origin_id, "%s",
                 json_string_value(origin));
        out->cursor.segment_id = json_integer_value(segment);
        out->cursor.record_index = (uint32_t)json_integer_value(record);
    }
    json_decref(root);
    return ok;
}

static void check_message(const struct sa_err *err, int rc)
{
    size_t len;

    CHECK(err->rc == rc);
    CHECK(memchr(err->msg, '\0', sizeof err->msg) != NULL);
    len = strlen(err->msg);
    CHECK(strncmp(err->msg, WHAT " ", strlen(WHAT) + 1) == 0);
    CHECK(len > strlen(WHAT) + 2); /* and a reason after it */
    CHECK(utf8_reference((const unsigned char *)err->msg, len));
    for (size_t i = 0; i < len; i++)
        CHECK((unsigned char)err->msg[i] >= 0x20 && err->msg[i] != 0x7f);
}

/* produce_cursor's format (sync/sink/kafka.c) reads back as written. */
static void check_round_trip(const struct sa_kafka_cursor *c)
{
    struct sa_kafka_cursor again;
    struct sa_err err;
    char value[256];
    int n = snprintf(value, sizeof value,
                     "{\"origin_id\":\"%s\",\"segment_id\":%" PRId64
                     ",\"record_index\":%u}",
                     c->origin_id, c->cursor.segment_id, c->cursor.record_index);

    CHECK(n > 0 && (size_t)n < sizeof value);
    CHECK(sa_kafka_cursor_parse(value, (size_t)n, WHAT, &again, &err) == SA_OK);
    CHECK(strcmp(again.origin_id, c->origin_id) == 0);
    CHECK(again.cursor.segment_id == c->cursor.segment_id);
    CHECK(again.cursor.record_index == c->cursor.record_index);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sa_kafka_cursor got, want;
    struct sa_err err;
    uint8_t *value = malloc(size ? size : 1);
    int rc, ok;

    CHECK(value != NULL);
    if (size)
        memcpy(value, data, size);
    memset(&got, 0x5a, sizeof got);
    memset(&err, 0x5a, sizeof err);
    rc = sa_kafka_cursor_parse(size ? value : NULL, size, WHAT, &got, &err);
    CHECK(size == 0 || memcmp(value, data, size) == 0);
    ok = reference(value, size, &want);
    CHECK(rc == SA_OK || rc == SA_EPARSE);
    CHECK((rc == SA_OK) == ok);
    if (rc == SA_OK) {
        CHECK(memchr(got.origin_id, '\0', sizeof got.origin_id) != NULL);
        CHECK(strcmp(got.origin_id, want.origin_id) == 0);
        CHECK(got.cursor.segment_id == want.cursor.segment_id);
        CHECK(got.cursor.record_index == want.cursor.record_index);
        check_round_trip(&got);
    } else {
        check_message(&err, rc);
    }
    free(value);
    return 0;
}
