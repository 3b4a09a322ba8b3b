/* SPDX-License-Identifier: Apache-2.0 */
/* The strict reader of `_bulk` responses; see es_bulk.h. */
#include "sync/sink/es_bulk.h"

#include "agent/base/text.h"
#include "sync/json_in.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Error types and reasons longer than this are cut (a reason quotes the
 * document, which can be long); it still fits a dead letter's reason. */
#define TEXT_MAX 400

static const char *const action_names[] = {
    [SA_ES_INDEX] = "index",
    [SA_ES_CREATE] = "create",
    [SA_ES_DELETE] = "delete",
    [SA_ES_UPDATE] = "update",
};

static const char *kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown JSON value";
}

/* A heap copy of s[0, len) as one clean line, cut to TEXT_MAX. */
static char *clean_copy(const char *s, size_t len)
{
    char line[TEXT_MAX + 1];

    sa_text_line(line, sizeof line, s, len);
    return strdup(line);
}

static int parse_item(const json_t *entry, size_t i, struct sa_es_bulk_item *item,
                      char *why, size_t n)
{
    const char *name = NULL;
    json_t *body = NULL, *v;
    int action = -1;

    if (!json_is_object(entry)) {
        snprintf(why, n, "has item %zu as %s, not an object", i, kind(entry));
        return SA_EPARSE;
    }
    if (json_object_size(entry) != 1) {
        snprintf(why, n, "has item %zu with %zu members, not one action", i,
                 json_object_size(entry));
        return SA_EPARSE;
    }
    json_object_foreach((json_t *)entry, name, body) break;
    for (int a = 0; a < (int)(sizeof action_names / sizeof action_names[0]); a++)
        if (strcmp(name, action_names[a]) == 0)
            action = a;
    if (action < 0) {
        char clean[64];
        sa_text_line(clean, sizeof clean, name, strlen(name));
        snprintf(why, n,
                 "has item %zu with action \"%s\", not index, create, delete or "
                 "update",
                 i, clean);
        return SA_EPARSE;
    }
    if (!json_is_object(body)) {
        snprintf(why, n, "has item %zu (%s) as %s, not an object", i, name, kind(body));
        return SA_EPARSE;
    }
    item->action = action;
    v = json_object_get(body, "status");
    if (!v) {
        snprintf(why, n, "has item %zu (%s) without \"status\"", i, name);
        return SA_EPARSE;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 100 ||
        json_integer_value(v) > 599) {
        snprintf(why, n, "has item %zu (%s) with \"status\" %s%s, not 100 to 599", i,
                 name, json_is_integer(v) ? "" : "as ",
                 json_is_integer(v) ? "out of range" : kind(v));
        return SA_EPARSE;
    }
    item->status = (int)json_integer_value(v);
    v = json_object_get(body, "_id");
    if (v) {
        if (!json_is_string(v) || json_string_length(v) < 1 ||
            json_string_length(v) > SA_ES_ID_MAX) {
            snprintf(why, n,
                     "has item %zu (%s) with \"_id\" %s, not a string of 1 to %d "
                     "bytes",
                     i, name, json_is_string(v) ? "of a bad length" : kind(v),
                     SA_ES_ID_MAX);
            return SA_EPARSE;
        }
        item->id = malloc(json_string_length(v) + 1);
        if (!item->id)
            return SA_ENOMEM;
        memcpy(item->id, json_string_value(v), json_string_length(v) + 1);
    }
    v = json_object_get(body, "error");
    if (v) {
        const json_t *type = json_object_get(v, "type");
        const json_t *reason = json_object_get(v, "reason");
        if (!json_is_object(v) || !json_is_string(type) ||
            (reason && !json_is_string(reason) && !json_is_null(reason))) {
            snprintf(why, n,
                     "has item %zu (%s) with an \"error\" that is not an object with a "
                     "string \"type\" and a string \"reason\"",
                     i, name);
            return SA_EPARSE;
        }
        item->error_type =
            clean_copy(json_string_value(type), json_string_length(type));
        item->error_reason =
            json_is_string(reason)
                ? clean_copy(json_string_value(reason), json_string_length(reason))
                : strdup("");
        if (!item->error_type || !item->error_reason)
            return SA_ENOMEM;
    }
    return SA_OK;
}

int sa_es_bulk_parse(const void *body, size_t len, size_t n_expected, const char *what,
                     struct sa_es_bulk *out, struct sa_err *err)
{
    json_t *root = NULL, *items, *v;
    char why[SA_ERR_MSG_MAX];
    int rc;

    memset(out, 0, sizeof *out);
    rc = sa_json_in_object(body, len, &root, why, sizeof why);
    if (rc)
        goto out;
    rc = SA_EPARSE;
    if ((v = json_object_get(root, "error"))) {
        char summary[256];
        sa_es_error_summary(body, len, summary, sizeof summary);
        snprintf(why, sizeof why, "is a request error: %s", summary);
        goto out;
    }
    v = json_object_get(root, "errors");
    if (v && !json_is_boolean(v)) {
        snprintf(why, sizeof why, "has \"errors\" as %s, not a boolean", kind(v));
        goto out;
    }
    out->errors = v ? json_is_true(v) : 1;
    items = json_object_get(root, "items");
    if (!items) {
        snprintf(why, sizeof why, "has no \"items\"");
        goto out;
    }
    if (!json_is_array(items)) {
        snprintf(why, sizeof why, "has \"items\" as %s, not an array", kind(items));
        goto out;
    }
    if (n_expected != SA_ES_ANY_COUNT && json_array_size(items) != n_expected) {
        snprintf(why, sizeof why, "has %zu items for %zu actions",
                 json_array_size(items), n_expected);
        goto out;
    }
    out->n_items = json_array_size(items);
    out->items = calloc(out->n_items ? out->n_items : 1, sizeof *out->items);
    if (!out->items) {
        rc = SA_ENOMEM;
        snprintf(why, sizeof why, "needs memory for %zu items", json_array_size(items));
        goto out;
    }
    for (size_t i = 0; i < out->n_items; i++) {
        rc = parse_item(json_array_get(items, i), i, &out->items[i], why, sizeof why);
        if (rc == SA_ENOMEM)
            snprintf(why, sizeof why, "needs memory for item %zu", i);
        if (rc)
            goto out;
    }
    rc = SA_OK;
out:
    if (rc) {
        sa_err_set(err, rc, "%s %s", what, why);
        sa_es_bulk_fini(out);
    }
    json_decref(root);
    return rc;
}

void sa_es_bulk_fini(struct sa_es_bulk *bulk)
{
    if (!bulk)
        return;
    for (size_t i = 0; bulk->items && i < bulk->n_items; i++) {
        free(bulk->items[i].id);
        free(bulk->items[i].error_type);
        free(bulk->items[i].error_reason);
    }
    free(bulk->items);
    memset(bulk, 0, sizeof *bulk);
}

void sa_es_error_summary(const void *body, size_t len, char *out, size_t n)
{
    json_t *root = len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *e = json_object_get(root, "error");
    char type[128], reason[TEXT_MAX + 1];

    if (!len) {
        out[0] = '\0';
        return;
    }

    if (json_is_object(e) && json_is_string(json_object_get(e, "type"))) {
        const json_t *t = json_object_get(e, "type"), *r = json_object_get(e, "reason");
        sa_text_line(type, sizeof type, json_string_value(t), json_string_length(t));
        if (json_is_string(r))
            sa_text_line(reason, sizeof reason, json_string_value(r),
                         json_string_length(r));
        else
            reason[0] = '\0';
        snprintf(out, n, "%s: %s", type, reason);
    } else if (json_is_string(e)) {
        sa_text_line(out, n, json_string_value(e), json_string_length(e));
    } else {
        sa_text_line(out, n, body, len < 200 ? len : 200);
    }
    sa_text_trim_partial_utf8(out);
    json_decref(root);
}
