/* SPDX-License-Identifier: Apache-2.0 */
/* Strict reading of small JSON documents from upstreams; see json_in.h. */
#include "sync/json_in.h"

#include "agent/base/error.h"
#include "agent/base/text.h"

#include <stdio.h>
#include <string.h>

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
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    }
    return "an unknown JSON value";
}

static int blank(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
            return 0;
    return 1;
}

int sa_json_in_object(const void *data, size_t len, json_t **out, char *why, size_t n)
{
    json_error_t jerr;
    json_t *root;
    char text[sizeof jerr.text];

    *out = NULL;
    if (len == 0 || blank(data, len)) {
        snprintf(why, n, "is empty");
        return SA_EPARSE;
    }
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson quotes the input near the error: make it one clean line */
        sa_text_line(text, sizeof text, jerr.text,
                     strnlen(jerr.text, sizeof jerr.text));
        if (json_error_code(&jerr) == json_error_duplicate_key)
            snprintf(why, n, "has a key twice: %s (at byte %d)", text, jerr.position);
        else if (json_error_code(&jerr) == json_error_numeric_overflow)
            snprintf(why, n, "has a number out of range: %s (at byte %d)", text,
                     jerr.position);
        else
            snprintf(why, n, "is not JSON: %s (at byte %d)", text, jerr.position);
        return SA_EPARSE;
    }
    if (!json_is_object(root)) {
        snprintf(why, n, "is %s, not a JSON object", kind(root));
        json_decref(root);
        return SA_EPARSE;
    }
    *out = root;
    return SA_OK;
}

int sa_json_in_int(const json_t *obj, const char *key, json_int_t min, json_int_t max,
                   json_int_t *out, char *why, size_t n)
{
    const json_t *v = json_object_get(obj, key);

    if (!v) {
        snprintf(why, n, "has no \"%s\"", key);
        return SA_EPARSE;
    }
    if (!json_is_integer(v)) {
        snprintf(why, n, "has \"%s\" as %s, not an integer", key, kind(v));
        return SA_EPARSE;
    }
    if (json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(why, n,
                 "has \"%s\" %" JSON_INTEGER_FORMAT
                 ", out of range %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT,
                 key, json_integer_value(v), min, max);
        return SA_EPARSE;
    }
    *out = json_integer_value(v);
    return SA_OK;
}

/* Not isalnum(): that follows the locale. */
static int ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == ':';
}

int sa_json_in_ident(const json_t *obj, const char *key, size_t max_len,
                     const char **out, char *why, size_t n)
{
    const json_t *v = json_object_get(obj, key);
    const char *s;
    size_t len;

    if (!v) {
        snprintf(why, n, "has no \"%s\"", key);
        return SA_EPARSE;
    }
    if (!json_is_string(v)) {
        snprintf(why, n, "has \"%s\" as %s, not a string", key, kind(v));
        return SA_EPARSE;
    }
    s = json_string_value(v);
    len = json_string_length(v);
    if (len == 0 || len > max_len) {
        snprintf(why, n, "has \"%s\" of %zu bytes, not 1 to %zu", key, len, max_len);
        return SA_EPARSE;
    }
    for (size_t i = 0; i < len; i++) {
        if (!ident_char(s[i])) {
            snprintf(why, n,
                     "has \"%s\" with byte 0x%02x at %zu, not a letter, digit or "
                     "one of -_.:",
                     key, (unsigned)(unsigned char)s[i], i);
            return SA_EPARSE;
        }
    }
    *out = s;
    return SA_OK;
}
