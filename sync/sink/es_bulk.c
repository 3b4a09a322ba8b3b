/* SPDX-License-Identifier: Apache-2.0 */
/* The strict reader of `_bulk` responses; see es_bulk.h. */
#include "sync/sink/es_bulk.h"

#include "agent/base/text.h"
#include "sync/json_in.h"

#include <jansson.h>
#include <stdint.h>
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

int sa_es_bulk_parse_full(const void *body, size_t len, size_t n_expected,
                          const char *what, struct sa_es_bulk *out, struct sa_err *err)
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

/* --- the fast path ---------------------------------------------------------
 *
 * Nearly every response is ASCII, flat, and the same few members per
 * item. fast_parse reads exactly those without building a jansson tree,
 * which allocated per object and per key: 11,000 instructions an item
 * even when filtered to status and error, most of a drain's CPU. It
 * accepts a document only when jansson would accept it too and every
 * check of sa_es_bulk_parse_full would pass, and then fills the same
 * struct from the same bytes. On anything else it gives up (GIVE_UP) and
 * the document is read the full way, which finds the problem and words
 * it: a non-ASCII byte or a control character in a string, an escape in
 * a key, an _id or an error's text (\u0000 and surrogates anywhere), a
 * number with an exponent or more than 18 digits before its point, an
 * object of more than MAX_MEMBERS members, nesting deeper than
 * MAX_DEPTH, an "error" member at the top, any check that fails. So the
 * fast path changes the speed, never an outcome: test_es_bulk and
 * fuzz_es_bulk compare the two on every input.
 */

#define GIVE_UP 1
#define MAX_MEMBERS 32
#define MAX_DEPTH 32

struct scan {
    const uint8_t *p, *end;
    int depth;
};

/* A key seen in an object, for the duplicate check. */
struct span {
    const uint8_t *s;
    size_t len;
};

static void ws(struct scan *sc)
{
    while (sc->p < sc->end &&
           (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
        sc->p++;
}

static int eat(struct scan *sc, uint8_t c)
{
    ws(sc);
    if (sc->p >= sc->end || *sc->p != c)
        return GIVE_UP;
    sc->p++;
    return 0;
}

static int hexval(uint8_t c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The string at sc->p: its raw text [*str, *str + *len), *escaped when it
 * holds a backslash. */
static int scan_string(struct scan *sc, const uint8_t **str, size_t *len, int *escaped)
{
    const uint8_t *p;

    ws(sc);
    if (sc->p >= sc->end || *sc->p != '"')
        return GIVE_UP;
    *escaped = 0;
    for (p = sc->p + 1; p < sc->end && *p != '"'; p++) {
        if (*p < 0x20 || *p >= 0x80)
            return GIVE_UP;
        if (*p != '\\')
            continue;
        *escaped = 1;
        if (sc->end - p < 2)
            return GIVE_UP;
        if (p[1] == 'u') {
            unsigned v = 0;
            if (sc->end - p < 6)
                return GIVE_UP;
            for (int i = 2; i < 6; i++) {
                int d = hexval(p[i]);
                if (d < 0)
                    return GIVE_UP;
                v = v * 16 + (unsigned)d;
            }
            if (v == 0 || (v >= 0xd800 && v <= 0xdfff))
                return GIVE_UP;
            p += 5;
        } else if (p[1] == 0 || !strchr("\"\\/bfnrt", p[1])) {
            return GIVE_UP;
        } else {
            p++;
        }
    }
    if (p >= sc->end)
        return GIVE_UP;
    *str = sc->p + 1;
    *len = (size_t)(p - *str);
    sc->p = p + 1;
    return 0;
}

/* A number: *is_int and its value when it is an integer. */
static int scan_number(struct scan *sc, int *is_int, int64_t *value)
{
    const uint8_t *p = sc->p, *end = sc->end;
    int64_t v = 0;
    int neg = 0, digits = 0;

    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p < end && *p == '0') {
        p++;
    } else {
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (++digits > 18)
                return GIVE_UP;
            v = v * 10 + (*p - '0');
        }
        if (!digits)
            return GIVE_UP;
    }
    *is_int = 1;
    if (p < end && *p == '.') {
        if (++p >= end || *p < '0' || *p > '9')
            return GIVE_UP;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        *is_int = 0;
    }
    if (p < end && (*p == 'e' || *p == 'E'))
        return GIVE_UP;
    /* What follows a value is checked by its container (',', '}', ']'). */
    sc->p = p;
    *value = neg ? -v : v;
    return 0;
}

static int literal(struct scan *sc, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n) != 0)
        return GIVE_UP;
    sc->p += n;
    return 0;
}

static int skip_value(struct scan *sc);

/* The next member's key of an object being read: -1 at its end ('}'),
 * GIVE_UP, or 0 with the key (no escapes, not seen before) and the colon
 * eaten. *n_keys counts the members for the duplicate check. */
static int next_key(struct scan *sc, struct span *keys, size_t *n_keys,
                    struct span *key)
{
    int escaped;

    ws(sc);
    if (sc->p < sc->end && *sc->p == '}' && *n_keys == 0) {
        sc->p++;
        return -1;
    }
    if (*n_keys > 0) {
        if (sc->p < sc->end && *sc->p == '}') {
            sc->p++;
            return -1;
        }
        if (eat(sc, ','))
            return GIVE_UP;
    }
    if (*n_keys == MAX_MEMBERS || scan_string(sc, &key->s, &key->len, &escaped) ||
        escaped)
        return GIVE_UP;
    for (size_t i = 0; i < *n_keys; i++)
        if (keys[i].len == key->len && memcmp(keys[i].s, key->s, key->len) == 0)
            return GIVE_UP;
    keys[(*n_keys)++] = *key;
    return eat(sc, ':');
}

static int key_is(const struct span *key, const char *name)
{
    return key->len == strlen(name) && memcmp(key->s, name, key->len) == 0;
}

static int skip_object(struct scan *sc)
{
    struct span keys[MAX_MEMBERS], key;
    size_t n_keys = 0;
    int rc;

    while ((rc = next_key(sc, keys, &n_keys, &key)) == 0)
        if (skip_value(sc))
            return GIVE_UP;
    return rc < 0 ? 0 : GIVE_UP;
}

static int skip_value(struct scan *sc)
{
    const uint8_t *str;
    size_t len;
    int64_t num;
    int flag, rc = GIVE_UP;

    ws(sc);
    if (sc->p >= sc->end || ++sc->depth > MAX_DEPTH)
        return GIVE_UP;
    switch (*sc->p) {
    case '{':
        sc->p++;
        rc = skip_object(sc);
        break;
    case '[':
        sc->p++;
        ws(sc);
        if (sc->p < sc->end && *sc->p == ']') {
            sc->p++;
            rc = 0;
            break;
        }
        do
            rc = skip_value(sc);
        while (!rc && !eat(sc, ','));
        rc = rc ? rc : eat(sc, ']');
        break;
    case '"':
        rc = scan_string(sc, &str, &len, &flag);
        break;
    case 't':
        rc = literal(sc, "true");
        break;
    case 'f':
        rc = literal(sc, "false");
        break;
    case 'n':
        rc = literal(sc, "null");
        break;
    default:
        rc = scan_number(sc, &flag, &num);
    }
    sc->depth--;
    return rc;
}

/* A copy of a string without escapes (its raw text is its value). */
static int take_string(struct scan *sc, const uint8_t **s, size_t *len)
{
    int escaped;
    return scan_string(sc, s, len, &escaped) || escaped ? GIVE_UP : 0;
}

/* {"type":"...","reason":"..."|null, ...} of an item. */
static int fast_error(struct scan *sc, struct sa_es_bulk_item *item)
{
    struct span keys[MAX_MEMBERS], key;
    const uint8_t *type = NULL, *reason = NULL, *s;
    size_t n_keys = 0, type_len = 0, reason_len = 0, len;
    int rc;

    if (eat(sc, '{'))
        return GIVE_UP;
    while ((rc = next_key(sc, keys, &n_keys, &key)) == 0) {
        if (key_is(&key, "type")) {
            if (take_string(sc, &type, &type_len))
                return GIVE_UP;
        } else if (key_is(&key, "reason")) {
            ws(sc);
            if (sc->p < sc->end && *sc->p == 'n') {
                if (literal(sc, "null"))
                    return GIVE_UP;
            } else if (take_string(sc, &s, &len)) {
                return GIVE_UP;
            } else {
                reason = s;
                reason_len = len;
            }
        } else if (skip_value(sc)) {
            return GIVE_UP;
        }
    }
    if (rc > 0 || !type)
        return GIVE_UP;
    item->error_type = clean_copy((const char *)type, type_len);
    item->error_reason =
        reason ? clean_copy((const char *)reason, reason_len) : strdup("");
    return item->error_type && item->error_reason ? 0 : GIVE_UP;
}

/* {"<action>":{"status":N, "_id":"...", "error":{...}, ...}} */
static int fast_item(struct scan *sc, struct sa_es_bulk_item *item)
{
    struct span keys[MAX_MEMBERS], key, outer[1];
    size_t n_keys = 0, n_outer = 0;
    int have_status = 0, rc, action = -1;

    if (eat(sc, '{') || next_key(sc, outer, &n_outer, &key))
        return GIVE_UP;
    for (int a = 0; a < (int)(sizeof action_names / sizeof action_names[0]); a++)
        if (key_is(&key, action_names[a]))
            action = a;
    if (action < 0 || eat(sc, '{'))
        return GIVE_UP;
    item->action = action;
    while ((rc = next_key(sc, keys, &n_keys, &key)) == 0) {
        if (key_is(&key, "status")) {
            int64_t v;
            int is_int;
            ws(sc);
            if (scan_number(sc, &is_int, &v) || !is_int || v < 100 || v > 599)
                return GIVE_UP;
            item->status = (int)v;
            have_status = 1;
        } else if (key_is(&key, "_id")) {
            const uint8_t *s;
            size_t len;
            if (take_string(sc, &s, &len) || len < 1 || len > SA_ES_ID_MAX ||
                !(item->id = malloc(len + 1)))
                return GIVE_UP;
            memcpy(item->id, s, len);
            item->id[len] = '\0';
        } else if (key_is(&key, "error")) {
            if (fast_error(sc, item))
                return GIVE_UP;
        } else if (skip_value(sc)) {
            return GIVE_UP;
        }
    }
    /* Exactly one action: the outer object ends here. */
    return rc > 0 || !have_status || eat(sc, '}') ? GIVE_UP : 0;
}

static int fast_items(struct scan *sc, size_t n_expected, struct sa_es_bulk *out)
{
    size_t cap = n_expected != SA_ES_ANY_COUNT ? n_expected : 64;

    if (eat(sc, '['))
        return GIVE_UP;
    if (!(out->items = calloc(cap ? cap : 1, sizeof *out->items)))
        return GIVE_UP;
    ws(sc);
    if (sc->p < sc->end && *sc->p == ']') {
        sc->p++;
        return 0;
    }
    do {
        if (out->n_items == cap) {
            struct sa_es_bulk_item *v;
            if (n_expected != SA_ES_ANY_COUNT ||
                !(v = realloc(out->items, 2 * cap * sizeof *v)))
                return GIVE_UP; /* more items than actions */
            memset(v + cap, 0, cap * sizeof *v);
            out->items = v;
            cap *= 2;
        }
        if (fast_item(sc, &out->items[out->n_items++]))
            return GIVE_UP;
    } while (!eat(sc, ','));
    return eat(sc, ']');
}

static int fast_parse(const uint8_t *body, size_t len, size_t n_expected,
                      struct sa_es_bulk *out)
{
    struct scan sc = {body, body + len, 0};
    struct span keys[MAX_MEMBERS], key;
    size_t n_keys = 0;
    int rc, have_items = 0;

    out->errors = 1;
    if (eat(&sc, '{'))
        return GIVE_UP;
    while ((rc = next_key(&sc, keys, &n_keys, &key)) == 0) {
        if (key_is(&key, "items")) {
            if (fast_items(&sc, n_expected, out))
                return GIVE_UP;
            have_items = 1;
        } else if (key_is(&key, "errors")) {
            ws(&sc);
            if (!literal(&sc, "true"))
                out->errors = 1;
            else if (!literal(&sc, "false"))
                out->errors = 0;
            else
                return GIVE_UP;
        } else if (key_is(&key, "error") || skip_value(&sc)) {
            return GIVE_UP; /* a request error: worded by the full path */
        }
    }
    ws(&sc);
    if (rc > 0 || sc.p != sc.end || !have_items ||
        (n_expected != SA_ES_ANY_COUNT && out->n_items != n_expected))
        return GIVE_UP;
    return 0;
}

int sa_es_bulk_parse(const void *body, size_t len, size_t n_expected, const char *what,
                     struct sa_es_bulk *out, struct sa_err *err)
{
    memset(out, 0, sizeof *out);
    if (body && fast_parse(body, len, n_expected, out) == 0)
        return SA_OK;
    sa_es_bulk_fini(out);
    return sa_es_bulk_parse_full(body, len, n_expected, what, out, err);
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
