/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what the schema registry client makes of an HTTP
 * answer (sa_registry_parse_response, sync/registry.c): the registry, or
 * whatever answers in its place (a proxy, a captive portal, a broken
 * build), sends any status and any body, and the client must give an id
 * or a clear error, never a crash (DESIGN.md I6).
 *
 * Input: the format of tests/data/registry/NAME.response, so those files
 * are seeds as they are: 1 to 4 digits of HTTP status and '\n', then the
 * body (every remaining byte). An input that does not start that way is
 * all body, with status 200.
 *
 * Checks:
 *   - the rc follows the status as sa_registry_id documents it: 2xx gives
 *     SA_OK or SA_EPARSE; 401/403/404 SA_ECONFIG; 409/422 SA_ESCHEMA;
 *     408/429/5xx SA_EAGAIN; anything else SA_EIO;
 *   - SA_OK exactly when the body is one JSON object without a duplicate
 *     key whose "id" is an integer from 0 to 2^31-1 (jansson decides,
 *     independently of the client's code), and *id is that integer;
 *     on error *id is untouched;
 *   - the message: err.rc is the rc, it starts "schema registry <url>:
 *     HTTP <status>", and it is one line of valid UTF-8 (no control
 *     characters) within sa_err, whatever the body held;
 *   - the body is read from a heap block of exactly its size (ASan sees a
 *     read past the end) and is not written to.
 */
#include "agent/base/error.h"
#include "sync/registry.h"
#include "tests/fuzz/fuzz_common.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL "http://registry.fuzz:8081/apis/ccompat/v7/subjects/orders-value/versions"

static void check_message(const struct sa_err *err, int rc, long status)
{
    char head[160];
    size_t len;

    CHECK(err->rc == rc);
    CHECK(memchr(err->msg, '\0', sizeof err->msg) != NULL);
    len = strlen(err->msg);
    snprintf(head, sizeof head, "schema registry %s: HTTP %ld", URL, status);
    CHECK(strncmp(err->msg, head, strlen(head)) == 0);
    CHECK(len > strlen(head) + 2); /* and a reason after it */
    CHECK(utf8_reference((const unsigned char *)err->msg, len));
    for (size_t i = 0; i < len; i++)
        CHECK((unsigned char)err->msg[i] >= 0x20 && err->msg[i] != 0x7f);
}

static int expected_rc(long status)
{
    if (status == 401 || status == 403 || status == 404)
        return SA_ECONFIG;
    if (status == 409 || status == 422)
        return SA_ESCHEMA;
    if (status == 408 || status == 429 || status >= 500)
        return SA_EAGAIN;
    return SA_EIO;
}

/* The id jansson finds, or -1 when the body has no usable one. */
static json_int_t reference_id(const uint8_t *body, size_t len)
{
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *id = json_is_object(root) ? json_object_get(root, "id") : NULL;
    json_int_t v = json_is_integer(id) ? json_integer_value(id) : -1;

    json_decref(root);
    return v >= 0 && v <= INT32_MAX ? v : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sa_err err;
    long status = 200;
    size_t digits = 0, body_len;
    uint8_t *body, *copy;
    int32_t id = -7;
    int rc;

    while (digits < size && digits < 4 && data[digits] >= '0' && data[digits] <= '9')
        digits++;
    if (digits > 0 && digits < size && data[digits] == '\n') {
        status = strtol((const char *)data, NULL, 10) % 10000;
        data += digits + 1;
        size -= digits + 1;
    }
    body_len = size;
    body = malloc(body_len ? body_len : 1);
    copy = malloc(body_len ? body_len : 1);
    CHECK(body && copy);
    if (body_len) {
        memcpy(body, data, body_len);
        memcpy(copy, data, body_len);
    }

    memset(&err, 0x5a, sizeof err);
    rc = sa_registry_parse_response(URL, status, body_len ? body : NULL, body_len, &id,
                                    &err);
    CHECK(body_len == 0 || memcmp(body, copy, body_len) == 0);
    if (status >= 200 && status <= 299) {
        json_int_t want = reference_id(body, body_len);
        CHECK(rc == SA_OK || rc == SA_EPARSE);
        CHECK((rc == SA_OK) == (want >= 0));
        if (rc == SA_OK)
            CHECK(id == want);
    } else {
        CHECK(rc == expected_rc(status));
    }
    if (rc != SA_OK) {
        CHECK(id == -7);
        check_message(&err, rc, status);
    }
    free(body);
    free(copy);
    return 0;
}
