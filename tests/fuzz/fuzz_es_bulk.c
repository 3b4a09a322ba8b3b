/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the `_bulk` response reader (sa_es_bulk_parse,
 * sync/sink/es_bulk.c): the body comes from the network, and each item's
 * outcome decides whether a record is acknowledged, retried or
 * dead-lettered, so the reader must account for every item or refuse the
 * whole response with a reason, never crash or guess.
 *
 * Input: the response body, every byte (tests/data/es_bulk/NAME.value
 * are seeds as they are; the real-* ones were captured from OpenSearch).
 *
 * Checks:
 *   - SA_OK or SA_EPARSE; on SA_OK jansson (independently) reads one
 *     object without duplicate keys and without "error", whose "items" is
 *     an array of that many items; each item's action name, status and
 *     _id are jansson's;
 *   - on SA_OK, the same body with one more expected item is refused;
 *   - sa_es_bulk_parse_full (jansson alone) gives the same outcome, the
 *     same items and the same message: the fast path changes no result;
 *   - every error type and reason, and every error message, is one line
 *     of valid UTF-8 without control characters; a message starts with
 *     what was parsed;
 *   - the body is read from a heap block of exactly its size (ASan sees a
 *     read past the end) and is not written to; sa_es_error_summary takes
 *     it too.
 */
#include "agent/base/error.h"
#include "sync/sink/es_bulk.h"
#include "tests/fuzz/fuzz_common.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WHAT "sink fuzz: _bulk response"

static const char *const actions[] = {"index", "create", "delete", "update"};

static void check_line(const char *s)
{
    size_t len = strlen(s);

    CHECK(utf8_reference((const unsigned char *)s, len));
    for (size_t i = 0; i < len; i++)
        CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static void check_against_jansson(const uint8_t *body, size_t len,
                                  const struct sa_es_bulk *bulk)
{
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *items = json_object_get(root, "items");

    CHECK(json_is_object(root));
    CHECK(json_object_get(root, "error") == NULL);
    CHECK(json_is_array(items));
    CHECK(json_array_size(items) == bulk->n_items);
    for (size_t i = 0; i < bulk->n_items; i++) {
        const struct sa_es_bulk_item *it = &bulk->items[i];
        json_t *entry = json_array_get(items, i);
        json_t *inner = json_object_get(entry, actions[it->action]);
        json_t *id = json_object_get(inner, "_id");

        CHECK(json_object_size(entry) == 1);
        CHECK(json_is_object(inner));
        CHECK(json_integer_value(json_object_get(inner, "status")) == it->status);
        CHECK(it->status >= 100 && it->status <= 599);
        if (it->id)
            CHECK(json_is_string(id) && strcmp(json_string_value(id), it->id) == 0);
        else
            CHECK(id == NULL);
        CHECK((it->error_type != NULL) == (json_object_get(inner, "error") != NULL));
        CHECK((it->error_type != NULL) == (it->error_reason != NULL));
        if (it->error_type) {
            check_line(it->error_type);
            check_line(it->error_reason);
        }
    }
    json_decref(root);
}

/* The full path's outcome is the same as sa_es_bulk_parse's. */
static void check_full_path(const uint8_t *body, size_t size, int rc,
                            const struct sa_es_bulk *bulk, const struct sa_err *err)
{
    struct sa_es_bulk full;
    struct sa_err full_err = {0};
    int full_rc = sa_es_bulk_parse_full(size ? body : NULL, size, SA_ES_ANY_COUNT, WHAT,
                                        &full, &full_err);

    CHECK(full_rc == rc);
    if (rc != SA_OK) {
        CHECK(strcmp(full_err.msg, err->msg) == 0);
        return;
    }
    CHECK(full.errors == bulk->errors && full.n_items == bulk->n_items);
    for (size_t i = 0; i < full.n_items; i++) {
        const struct sa_es_bulk_item *a = &full.items[i], *b = &bulk->items[i];
        CHECK(a->action == b->action && a->status == b->status);
        CHECK(!a->id == !b->id && (!a->id || strcmp(a->id, b->id) == 0));
        CHECK(!a->error_type == !b->error_type);
        CHECK(!a->error_type || (strcmp(a->error_type, b->error_type) == 0 &&
                                 strcmp(a->error_reason, b->error_reason) == 0));
    }
    sa_es_bulk_fini(&full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sa_es_bulk bulk, again;
    struct sa_err err;
    uint8_t *body = malloc(size ? size : 1);
    char summary[256];
    int rc;

    CHECK(body != NULL);
    if (size)
        memcpy(body, data, size);
    memset(&err, 0x5a, sizeof err);
    rc = sa_es_bulk_parse(size ? body : NULL, size, SA_ES_ANY_COUNT, WHAT, &bulk, &err);
    CHECK(size == 0 || memcmp(body, data, size) == 0);
    CHECK(rc == SA_OK || rc == SA_EPARSE);
    check_full_path(body, size, rc, &bulk, &err);
    if (rc == SA_OK) {
        check_against_jansson(body, size, &bulk);
        CHECK(sa_es_bulk_parse(body, size, bulk.n_items + 1, WHAT, &again, &err) ==
              SA_EPARSE);
        CHECK(again.items == NULL);
        sa_es_bulk_fini(&bulk);
    } else {
        CHECK(err.rc == rc);
        CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL);
        CHECK(strncmp(err.msg, WHAT " ", strlen(WHAT) + 1) == 0);
        check_line(err.msg);
        CHECK(bulk.items == NULL);
    }
    sa_es_error_summary(size ? body : NULL, size, summary, sizeof summary);
    check_line(summary);
    free(body);
    return 0;
}
