/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Records: typed and textual field values -> an avro-c generic value ->
 * Avro binary (agent/record.h). This is the ingest hot path, so all the
 * work that depends only on the schema happens once in sa_record_init:
 * each field's avro value handle, its union branches, and its default
 * parsed from the schema JSON into a typed value (avro-c does not expose
 * defaults). Per record there is no JSON, no lookup by name and, once
 * the avro-c value buffers have grown to size, no allocation.
 *
 * is_set[i] is 0 for a field not set since the last reset, 1 for a field
 * a setter filled, 2 for a field sa_record_encode filled with its default.
 *
 * avro-c strings are set with a size that counts a terminating NUL, so
 * strings are copied through a NUL-terminated scratch buffer first: the
 * caller's slice (a CSV field) need not be terminated.
 */
#include "agent/record.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum def_kind {
    DEF_NONE, /* no default: the field must be set */
    DEF_NULL, /* the null branch */
    DEF_LONG,
    DEF_DOUBLE,
    DEF_BOOL,
    DEF_STRING,
    DEF_ENUM,
    DEF_EMPTY,       /* [] or {}: the generic value's reset state */
    DEF_UNSUPPORTED, /* a default we cannot apply (nested records...) */
};

struct field_state {
    avro_value_t value; /* the field itself (the union for unions) */
    enum def_kind def;
    int def_branch; /* union branch of the default, -1 when not a union */
    int64_t def_long;
    double def_double;
    char *def_string; /* NUL-terminated */
    size_t def_len;
};

struct record_priv {
    struct field_state *f;
    char *scratch; /* NUL-terminated copies of strings for avro-c */
    size_t scratch_cap;
    avro_writer_t writer;
    size_t last_size; /* encoded size of the previous record: a guess */
};

#define PRIV(rec) ((struct record_priv *)(rec)->priv)

static const char *kind_name(avro_type_t kind, int logical)
{
    if (logical == SA_LOGICAL_TIMESTAMP_MILLIS)
        return "timestamp-millis";
    switch (kind) {
    case AVRO_STRING:
        return "string";
    case AVRO_BYTES:
        return "bytes";
    case AVRO_INT32:
        return "int";
    case AVRO_INT64:
        return "long";
    case AVRO_FLOAT:
        return "float";
    case AVRO_DOUBLE:
        return "double";
    case AVRO_BOOLEAN:
        return "boolean";
    case AVRO_NULL:
        return "null";
    case AVRO_RECORD:
        return "record";
    case AVRO_ENUM:
        return "enum";
    case AVRO_FIXED:
        return "fixed";
    case AVRO_MAP:
        return "map";
    case AVRO_ARRAY:
        return "array";
    case AVRO_UNION:
        return "union";
    default:
        return "type";
    }
}

/* "double", "double or null", "enum Currency". */
static void expected_name(const struct sa_schema_field *f, char *out, size_t size)
{
    const char *name = kind_name(f->kind, f->logical);
    if (f->kind == AVRO_ENUM)
        snprintf(out, size, "enum %s%s", avro_schema_name(f->value),
                 f->nullable ? " or null" : "");
    else
        snprintf(out, size, "%s%s", name,
                 f->nullable && f->kind != AVRO_UNION ? " or null" : "");
}

static int type_error(struct sa_record *rec, int field, struct sa_err *err,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* SA_ERECORD: "field 'x': expected T, got <what>". */
static int type_error(struct sa_record *rec, int field, struct sa_err *err,
                      const char *fmt, ...)
{
    const struct sa_schema_field *f = &rec->schema->fields[field];
    char expected[160], got[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(got, sizeof got, fmt, ap);
    va_end(ap);
    expected_name(f, expected, sizeof expected);
    return sa_err_set(err, SA_ERECORD, "field '%s': expected %s, got %s", f->name,
                      expected, got);
}

static int check_field(struct sa_record *rec, int field, struct sa_err *err)
{
    if (field < 0 || (size_t)field >= rec->n_fields)
        return sa_err_set(err, SA_EINVAL, "schema %s: no field number %d",
                          rec->schema->subject, field);
    return SA_OK;
}

static int avro_fail(struct sa_record *rec, int field, struct sa_err *err)
{
    return sa_err_set(err, SA_ERECORD, "field '%s': %s",
                      rec->schema->fields[field].name, avro_strerror());
}

/* The value to write a `kind` into: the field, or its union branch of
 * that kind. Returns 0 and fills *dest, or -1 when the field has no such
 * branch. */
static int target_for(struct sa_record *rec, int field, avro_type_t kind,
                      avro_value_t *dest)
{
    const struct sa_schema_field *f = &rec->schema->fields[field];
    struct field_state *st = &PRIV(rec)->f[field];
    size_t n;

    if (f->type != NULL && !is_avro_union(f->type)) {
        if (f->kind != kind)
            return -1;
        *dest = st->value;
        return 0;
    }
    if (f->value_branch >= 0) { /* ["null", T] */
        if (kind != f->kind && kind != AVRO_NULL)
            return -1;
        return avro_value_set_branch(
                   &st->value, kind == AVRO_NULL ? f->null_branch : f->value_branch,
                   dest)
                   ? -1
                   : 0;
    }
    n = avro_schema_union_size(f->type);
    for (size_t b = 0; b < n; b++)
        if (avro_typeof(avro_schema_union_branch(f->type, (int)b)) == kind)
            return avro_value_set_branch(&st->value, (int)b, dest) ? -1 : 0;
    return -1;
}

static int has_kind(const struct sa_schema_field *f, avro_type_t kind)
{
    size_t n;
    if (!is_avro_union(f->type))
        return f->kind == kind;
    n = avro_schema_union_size(f->type);
    for (size_t b = 0; b < n; b++)
        if (avro_typeof(avro_schema_union_branch(f->type, (int)b)) == kind)
            return 1;
    return 0;
}

static avro_schema_t branch_schema(const struct sa_schema_field *f, avro_type_t kind)
{
    size_t n;
    if (!is_avro_union(f->type))
        return f->type;
    n = avro_schema_union_size(f->type);
    for (size_t b = 0; b < n; b++) {
        avro_schema_t s = avro_schema_union_branch(f->type, (int)b);
        if (avro_typeof(s) == kind)
            return s;
    }
    return NULL;
}

/* --- defaults ------------------------------------------------------------ */

static int parse_default(const struct sa_schema_field *f, struct field_state *st)
{
    json_t *def;
    json_error_t jerr;
    avro_type_t kind;
    avro_schema_t target;

    st->def = DEF_NONE;
    st->def_branch = -1;
    if (!f->default_json)
        return SA_OK;
    def = json_loads(f->default_json, JSON_DECODE_ANY, &jerr);
    if (!def)
        return SA_ESCHEMA;
    /* A union's default is of its first branch (Avro spec); the common
     * ["null", T] with default null is the null branch. */
    target = is_avro_union(f->type) ? avro_schema_union_branch(f->type, 0) : f->type;
    if (is_avro_union(f->type))
        st->def_branch = 0;
    kind = avro_typeof(target);
    st->def = DEF_UNSUPPORTED;
    switch (kind) {
    case AVRO_NULL:
        if (json_is_null(def))
            st->def = DEF_NULL;
        break;
    case AVRO_INT32:
    case AVRO_INT64:
        if (json_is_integer(def)) {
            st->def = DEF_LONG;
            st->def_long = (int64_t)json_integer_value(def);
        }
        break;
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        if (json_is_number(def)) {
            st->def = DEF_DOUBLE;
            st->def_double = json_number_value(def);
        }
        break;
    case AVRO_BOOLEAN:
        if (json_is_boolean(def)) {
            st->def = DEF_BOOL;
            st->def_long = json_is_true(def);
        }
        break;
    case AVRO_STRING:
    case AVRO_BYTES:
    case AVRO_ENUM:
        if (json_is_string(def)) {
            st->def_len = json_string_length(def);
            st->def_string = malloc(st->def_len + 1);
            if (!st->def_string) {
                json_decref(def);
                return SA_ENOMEM;
            }
            memcpy(st->def_string, json_string_value(def), st->def_len + 1);
            st->def = kind == AVRO_ENUM ? DEF_ENUM : DEF_STRING;
            if (kind == AVRO_ENUM) {
                int idx = avro_schema_enum_get_by_name(target, st->def_string);
                if (idx < 0)
                    st->def = DEF_UNSUPPORTED;
                st->def_long = idx;
            }
        }
        break;
    case AVRO_ARRAY:
        if (json_is_array(def) && json_array_size(def) == 0)
            st->def = DEF_EMPTY;
        break;
    case AVRO_MAP:
        if (json_is_object(def) && json_object_size(def) == 0)
            st->def = DEF_EMPTY;
        break;
    default:
        break;
    }
    json_decref(def);
    return SA_OK;
}

static int set_string_value(struct sa_record *rec, avro_value_t *dest, avro_type_t kind,
                            const char *s, size_t len)
{
    struct record_priv *p = PRIV(rec);

    if (kind == AVRO_BYTES)
        return avro_value_set_bytes(dest, (void *)s, len);
    if (len + 1 > p->scratch_cap) {
        size_t cap = p->scratch_cap ? p->scratch_cap : 256;
        char *scratch;
        while (cap < len + 1)
            cap *= 2;
        scratch = realloc(p->scratch, cap);
        if (!scratch)
            return ENOMEM;
        p->scratch = scratch;
        p->scratch_cap = cap;
    }
    memcpy(p->scratch, s, len);
    p->scratch[len] = '\0';
    return avro_value_set_string_len(dest, p->scratch, len + 1);
}

static int apply_default(struct sa_record *rec, int field, struct sa_err *err)
{
    const struct sa_schema_field *f = &rec->schema->fields[field];
    struct field_state *st = &PRIV(rec)->f[field];
    avro_value_t dest = st->value;
    int rc = 0;

    if (st->def == DEF_NONE)
        return sa_err_set(err, SA_ERECORD, "field '%s': not set and has no default",
                          f->name);
    if (st->def == DEF_UNSUPPORTED)
        return sa_err_set(err, SA_ERECORD,
                          "field '%s': not set, and its default %s cannot be applied",
                          f->name, f->default_json);
    if (st->def_branch >= 0 && avro_value_set_branch(&st->value, st->def_branch, &dest))
        return avro_fail(rec, field, err);
    switch (st->def) {
    case DEF_NULL:
        rc = avro_value_set_null(&dest);
        break;
    case DEF_LONG:
        rc = avro_value_get_type(&dest) == AVRO_INT32
                 ? avro_value_set_int(&dest, (int32_t)st->def_long)
                 : avro_value_set_long(&dest, st->def_long);
        break;
    case DEF_DOUBLE:
        rc = avro_value_get_type(&dest) == AVRO_FLOAT
                 ? avro_value_set_float(&dest, (float)st->def_double)
                 : avro_value_set_double(&dest, st->def_double);
        break;
    case DEF_BOOL:
        rc = avro_value_set_boolean(&dest, (int)st->def_long);
        break;
    case DEF_STRING:
        rc = set_string_value(rec, &dest, avro_value_get_type(&dest), st->def_string,
                              st->def_len);
        break;
    case DEF_ENUM:
        rc = avro_value_set_enum(&dest, (int)st->def_long);
        break;
    case DEF_EMPTY:
        rc = avro_value_reset(&dest);
        break;
    default:
        break;
    }
    if (rc)
        return avro_fail(rec, field, err);
    rec->is_set[field] = 2;
    return SA_OK;
}

/* --- life cycle ---------------------------------------------------------- */

int sa_record_init(struct sa_record *rec, const struct sa_schema *schema,
                   struct sa_err *err)
{
    struct record_priv *p;
    int rc = SA_OK;

    memset(rec, 0, sizeof *rec);
    rec->schema = schema;
    rec->n_fields = schema->n_fields;
    rec->is_set = calloc(schema->n_fields ? schema->n_fields : 1, 1);
    p = rec->priv = calloc(1, sizeof *p);
    if (!rec->is_set || !p) {
        rc = SA_ENOMEM;
        goto out;
    }
    p->f = calloc(schema->n_fields ? schema->n_fields : 1, sizeof *p->f);
    p->writer = avro_writer_memory(NULL, 0);
    if (!p->f || !p->writer) {
        rc = SA_ENOMEM;
        goto out;
    }
    if (avro_generic_value_new(schema->iface, &rec->value)) {
        rc = sa_err_set(err, SA_ESCHEMA, "schema %s v%d: %s", schema->subject,
                        schema->version, avro_strerror());
        goto out;
    }
    for (size_t i = 0; i < schema->n_fields; i++) {
        if (avro_value_get_by_index(&rec->value, i, &p->f[i].value, NULL)) {
            rc = sa_err_set(err, SA_ESCHEMA, "schema %s: field %zu: %s",
                            schema->subject, i, avro_strerror());
            goto out;
        }
        if ((rc = parse_default(&schema->fields[i], &p->f[i])))
            goto out;
    }
out:
    if (rc == SA_ENOMEM)
        sa_err_set(err, rc, "record %s: out of memory", schema->subject);
    else if (rc == SA_ESCHEMA && err && err->rc != SA_ESCHEMA)
        sa_err_set(err, rc, "schema %s: a default is not valid JSON", schema->subject);
    if (rc)
        sa_record_fini(rec);
    return rc;
}

void sa_record_fini(struct sa_record *rec)
{
    struct record_priv *p;

    if (!rec)
        return;
    p = PRIV(rec);
    if (p) {
        for (size_t i = 0; p->f && i < rec->n_fields; i++)
            free(p->f[i].def_string);
        free(p->f);
        free(p->scratch);
        if (p->writer)
            avro_writer_free(p->writer);
        free(p);
    }
    if (rec->value.self)
        avro_value_decref(&rec->value);
    free(rec->is_set);
    memset(rec, 0, sizeof *rec);
}

void sa_record_reset(struct sa_record *rec)
{
    /* Values are overwritten by the next setters or by defaults at encode:
     * resetting the avro value would free and reallocate its buffers. */
    memset(rec->is_set, 0, rec->n_fields);
}

int sa_record_field_index(const struct sa_schema *schema, const char *name)
{
    for (size_t i = 0; i < schema->n_fields; i++)
        if (strcmp(schema->fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* --- typed setters ------------------------------------------------------- */

int sa_record_set_null(struct sa_record *rec, int field, struct sa_err *err)
{
    avro_value_t dest;
    int rc = check_field(rec, field, err);

    if (rc)
        return rc;
    if (!rec->schema->fields[field].nullable)
        return type_error(rec, field, err, "null");
    if (target_for(rec, field, AVRO_NULL, &dest) || avro_value_set_null(&dest))
        return avro_fail(rec, field, err);
    rec->is_set[field] = 1;
    return SA_OK;
}

int sa_record_set_bool(struct sa_record *rec, int field, int v, struct sa_err *err)
{
    avro_value_t dest;
    int rc = check_field(rec, field, err);

    if (rc)
        return rc;
    if (target_for(rec, field, AVRO_BOOLEAN, &dest))
        return type_error(rec, field, err, "%s", v ? "true" : "false");
    if (avro_value_set_boolean(&dest, v ? 1 : 0))
        return avro_fail(rec, field, err);
    rec->is_set[field] = 1;
    return SA_OK;
}

int sa_record_set_long(struct sa_record *rec, int field, int64_t v, struct sa_err *err)
{
    avro_value_t dest;
    int rc = check_field(rec, field, err);

    if (rc)
        return rc;
    if (!target_for(rec, field, AVRO_INT64, &dest)) {
        rc = avro_value_set_long(&dest, v);
    } else if (has_kind(&rec->schema->fields[field], AVRO_INT32)) {
        if (v < INT32_MIN || v > INT32_MAX)
            return type_error(rec, field, err, "%" PRId64 " (out of range)", v);
        target_for(rec, field, AVRO_INT32, &dest);
        rc = avro_value_set_int(&dest, (int32_t)v);
    } else if (!target_for(rec, field, AVRO_DOUBLE, &dest)) {
        rc = avro_value_set_double(&dest, (double)v);
    } else if (!target_for(rec, field, AVRO_FLOAT, &dest)) {
        rc = avro_value_set_float(&dest, (float)v);
    } else {
        return type_error(rec, field, err, "%" PRId64, v);
    }
    if (rc)
        return avro_fail(rec, field, err);
    rec->is_set[field] = 1;
    return SA_OK;
}

int sa_record_set_double(struct sa_record *rec, int field, double v, struct sa_err *err)
{
    const struct sa_schema_field *f;
    avro_value_t dest;
    int rc = check_field(rec, field, err);

    if (rc)
        return rc;
    f = &rec->schema->fields[field];
    if (!target_for(rec, field, AVRO_DOUBLE, &dest)) {
        rc = avro_value_set_double(&dest, v);
    } else if (!target_for(rec, field, AVRO_FLOAT, &dest)) {
        rc = avro_value_set_float(&dest, (float)v);
    } else if ((has_kind(f, AVRO_INT64) || has_kind(f, AVRO_INT32)) && isfinite(v) &&
               v == floor(v) && v >= -9223372036854775808.0 &&
               v < 9223372036854775808.0) {
        /* An integral double (JSON "3.0") fits an integer field losslessly. */
        return sa_record_set_long(rec, field, (int64_t)v, err);
    } else {
        return type_error(rec, field, err, "%.17g", v);
    }
    if (rc)
        return avro_fail(rec, field, err);
    rec->is_set[field] = 1;
    return SA_OK;
}

/* The text in quotes for error messages, cut and made printable. */
static void quote_for_error(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < len && o + 5 < size; i++)
        out[o++] = (s[i] >= 0x20 && s[i] != 0x7f) ? s[i] : '?';
    if (len > 0 && o + 5 >= size) {
        out[o++] = '.';
        out[o++] = '.';
        out[o++] = '.';
    }
    out[o++] = '"';
    out[o] = '\0';
}

static int set_enum_symbol(struct sa_record *rec, int field, const char *s, size_t len,
                           struct sa_err *err)
{
    const struct sa_schema_field *f = &rec->schema->fields[field];
    avro_schema_t es = branch_schema(f, AVRO_ENUM);
    avro_value_t dest;
    char quoted[96];
    int n, idx = -1;

    if (!es)
        return type_error(rec, field, err, "enum symbol");
    n = avro_schema_enum_number_of_symbols(es);
    for (int i = 0; i < n; i++) {
        const char *sym = avro_schema_enum_get(es, i);
        if (strncmp(sym, s, len) == 0 && sym[len] == '\0') {
            idx = i;
            break;
        }
    }
    if (idx < 0) {
        quote_for_error(s, len, quoted, sizeof quoted);
        return type_error(rec, field, err, "%s (not a symbol of %s)", quoted,
                          avro_schema_name(es));
    }
    if (target_for(rec, field, AVRO_ENUM, &dest) || avro_value_set_enum(&dest, idx))
        return avro_fail(rec, field, err);
    rec->is_set[field] = 1;
    return SA_OK;
}

int sa_record_set_string(struct sa_record *rec, int field, const char *s, size_t len,
                         struct sa_err *err)
{
    avro_value_t dest;
    char quoted[96];
    int rc = check_field(rec, field, err);

    if (rc)
        return rc;
    if (!target_for(rec, field, AVRO_STRING, &dest)) {
        rc = set_string_value(rec, &dest, AVRO_STRING, s, len);
    } else if (!target_for(rec, field, AVRO_BYTES, &dest)) {
        rc = set_string_value(rec, &dest, AVRO_BYTES, s, len);
    } else if (has_kind(&rec->schema->fields[field], AVRO_ENUM)) {
        return set_enum_symbol(rec, field, s, len, err);
    } else {
        quote_for_error(s, len, quoted, sizeof quoted);
        return type_error(rec, field, err, "%s", quoted);
    }
    if (rc)
        return avro_fail(rec, field, err);
    rec->is_set[field] = 1;
    return SA_OK;
}

int sa_record_set_enum(struct sa_record *rec, int field, const char *symbol,
                       struct sa_err *err)
{
    int rc = check_field(rec, field, err);
    return rc ? rc : set_enum_symbol(rec, field, symbol, strlen(symbol), err);
}

/* --- text coercion ------------------------------------------------------- */

static void trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len &&
           ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r'))
        (*len)--;
}

/* A decimal integer, optional sign, nothing else. 0 ok, -1 not an integer,
 * -2 out of the int64 range. */
static int parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0, limit;

    if (len && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len)
        return -1;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9)
            return -1;
        if (v > (limit - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int parse_double(const char *s, size_t len, double *out)
{
    char tmp[64];
    char *end;

    if (len == 0 || len >= sizeof tmp)
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    errno = 0;
    *out = strtod(tmp, &end);
    if (end != tmp + len || !isfinite(*out))
        return -1;
    /* strtod also reads hex floats and "infinity": only decimal text here. */
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789+-.eE", tmp[i]))
            return -1;
    return 0;
}

static int ieq(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

static int parse_bool(const char *s, size_t len, int *out)
{
    if (ieq(s, len, "true") || ieq(s, len, "1") || ieq(s, len, "yes"))
        *out = 1;
    else if (ieq(s, len, "false") || ieq(s, len, "0") || ieq(s, len, "no"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's algorithm: days since 1970-01-01, proleptic
     * Gregorian calendar. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, size_t len, size_t at, size_t n, unsigned *out)
{
    unsigned v = 0;
    if (at + n > len)
        return -1;
    for (size_t i = at; i < at + n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* ISO 8601: YYYY-MM-DD, optionally [T ]hh:mm[:ss[.fraction]] and a zone
 * (Z, +hh:mm, +hhmm, +hh). A time without a zone is taken as UTC. */
static int parse_iso8601(const char *s, size_t len, int64_t *out)
{
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned year, mon, day, hh = 0, mm = 0, ss = 0, ms = 0;
    size_t i = 10;
    int64_t offset_min = 0;

    if (digits(s, len, 0, 4, &year) || len < 10 || s[4] != '-' ||
        digits(s, len, 5, 2, &mon) || s[7] != '-' || digits(s, len, 8, 2, &day))
        return -1;
    if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] ||
        (mon == 2 && day == 29 &&
         !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))))
        return -1;
    if (i < len) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
            return -1;
        if (digits(s, len, i + 1, 2, &hh) || i + 3 >= len || s[i + 3] != ':' ||
            digits(s, len, i + 4, 2, &mm))
            return -1;
        i += 6;
        if (i < len && s[i] == ':') {
            if (digits(s, len, i + 1, 2, &ss))
                return -1;
            i += 3;
            if (i < len && (s[i] == '.' || s[i] == ',')) {
                size_t n = 0;
                i++;
                while (i < len && s[i] >= '0' && s[i] <= '9') {
                    if (n < 3)
                        ms = ms * 10 + (unsigned)(s[i] - '0');
                    n++;
                    i++;
                }
                if (n == 0)
                    return -1;
                for (; n < 3; n++)
                    ms *= 10;
            }
        }
        if (hh > 23 || mm > 59 || ss > 60)
            return -1;
        if (i < len) {
            unsigned oh, om = 0;
            int sign;
            if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
                i++;
            } else if (s[i] == '+' || s[i] == '-') {
                sign = s[i] == '-' ? -1 : 1;
                if (digits(s, len, i + 1, 2, &oh))
                    return -1;
                i += 3;
                if (i < len && s[i] == ':')
                    i++;
                if (i < len && digits(s, len, i, 2, &om))
                    return -1;
                if (i < len)
                    i += 2;
                if (oh > 23 || om > 59)
                    return -1;
                offset_min = sign * (int64_t)(oh * 60 + om);
            } else {
                return -1;
            }
        }
        if (i != len)
            return -1;
    }
    *out = ((days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss) -
            offset_min * 60) *
               1000 +
           ms;
    return 0;
}

int sa_record_set_text(struct sa_record *rec, int field, const char *text, size_t len,
                       struct sa_err *err)
{
    const struct sa_schema_field *f;
    char quoted[96];
    int rc = check_field(rec, field, err);
    int64_t lv;
    double dv;
    int bv;

    if (rc)
        return rc;
    f = &rec->schema->fields[field];
    if (len == 0) {
        if (f->nullable)
            return sa_record_set_null(rec, field, err);
        if (f->default_json) {
            rec->is_set[field] = 0; /* encode applies the default */
            return SA_OK;
        }
        if (f->kind == AVRO_STRING || f->kind == AVRO_BYTES)
            return sa_record_set_string(rec, field, text, 0, err);
        return type_error(rec, field, err, "an empty value");
    }
    switch (f->kind) {
    case AVRO_STRING:
    case AVRO_BYTES:
        return sa_record_set_string(rec, field, text, len, err);
    case AVRO_ENUM:
        return set_enum_symbol(rec, field, text, len, err);
    default:
        break;
    }
    trim(&text, &len);
    quote_for_error(text, len, quoted, sizeof quoted);
    switch (f->kind) {
    case AVRO_INT32:
    case AVRO_INT64:
        rc = parse_int64(text, len, &lv);
        if (rc == 0)
            return sa_record_set_long(rec, field, lv, err);
        if (f->logical == SA_LOGICAL_TIMESTAMP_MILLIS &&
            parse_iso8601(text, len, &lv) == 0)
            return sa_record_set_long(rec, field, lv, err);
        return type_error(rec, field, err, "%s%s", quoted,
                          rc == -2 ? " (out of range)" : "");
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        if (parse_double(text, len, &dv))
            return type_error(rec, field, err, "%s", quoted);
        return sa_record_set_double(rec, field, dv, err);
    case AVRO_BOOLEAN:
        if (parse_bool(text, len, &bv))
            return type_error(rec, field, err, "%s", quoted);
        return sa_record_set_bool(rec, field, bv, err);
    case AVRO_UNION:
        /* A general union: the first branch the text fits. */
        if (has_kind(f, AVRO_INT64) && parse_int64(text, len, &lv) == 0)
            return sa_record_set_long(rec, field, lv, err);
        if (has_kind(f, AVRO_INT32) && parse_int64(text, len, &lv) == 0 &&
            lv >= INT32_MIN && lv <= INT32_MAX)
            return sa_record_set_long(rec, field, lv, err);
        if ((has_kind(f, AVRO_DOUBLE) || has_kind(f, AVRO_FLOAT)) &&
            parse_double(text, len, &dv) == 0)
            return sa_record_set_double(rec, field, dv, err);
        if (has_kind(f, AVRO_BOOLEAN) && parse_bool(text, len, &bv) == 0)
            return sa_record_set_bool(rec, field, bv, err);
        if (has_kind(f, AVRO_STRING) || has_kind(f, AVRO_BYTES))
            return sa_record_set_string(rec, field, text, len, err);
        return type_error(rec, field, err, "%s", quoted);
    default:
        return type_error(rec, field, err, "%s (text cannot fill a %s)", quoted,
                          kind_name(f->kind, f->logical));
    }
}

/* --- encoding ------------------------------------------------------------ */

int sa_record_encode(struct sa_record *rec, struct sa_buf *out, struct sa_err *err)
{
    struct record_priv *p = PRIV(rec);
    size_t room, need;
    int rc;

    for (size_t i = 0; i < rec->n_fields; i++)
        if (rec->is_set[i] != 1 && (rc = apply_default(rec, (int)i, err)))
            return rc;

    /* Write into the buffer's spare room first; only when that is too
     * small measure the exact size (a second walk) and grow. */
    need = p->last_size ? p->last_size * 2 : 256;
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((rc = sa_buf_reserve(out, need)))
            return sa_err_set(err, rc, "record %s: %s", rec->schema->subject,
                              sa_strerror(rc));
        room = out->cap - out->len;
        if (room > out->max - out->len)
            room = out->max - out->len;
        avro_writer_memory_set_dest(p->writer, (const char *)out->data + out->len,
                                    (int64_t)room);
        if (avro_value_write(p->writer, &rec->value) == 0) {
            size_t written = (size_t)avro_writer_tell(p->writer);
            out->len += written;
            p->last_size = written;
            return SA_OK;
        }
        if (attempt == 0 && avro_value_sizeof(&rec->value, &need) != 0)
            break;
    }
    return sa_err_set(err, SA_ERECORD, "record %s: %s", rec->schema->subject,
                      avro_strerror());
}

int64_t sa_record_event_ms(const struct sa_record *rec, int64_t fallback)
{
    int field = rec->schema->event_time_field;
    avro_value_t v, branch;
    int64_t ms;

    if (field < 0 || !rec->is_set[field])
        return fallback;
    v = PRIV(rec)->f[field].value;
    if (avro_value_get_type(&v) == AVRO_UNION) {
        if (avro_value_get_current_branch(&v, &branch))
            return fallback;
        v = branch;
    }
    if (avro_value_get_type(&v) != AVRO_INT64 || avro_value_get_long(&v, &ms))
        return fallback;
    return ms;
}

int sa_record_key(const struct sa_record *rec, struct sa_buf *out)
{
    int field = rec->schema->key_field;
    avro_value_t v, branch;
    const char *s;
    const void *bytes;
    size_t size;
    int32_t i32;
    int64_t i64;
    double d;
    float fl;
    int b;

    if (field < 0 || !rec->is_set[field])
        return SA_OK;
    v = PRIV(rec)->f[field].value;
    if (avro_value_get_type(&v) == AVRO_UNION) {
        if (avro_value_get_current_branch(&v, &branch))
            return SA_OK;
        v = branch;
    }
    switch (avro_value_get_type(&v)) {
    case AVRO_STRING:
        if (avro_value_get_string(&v, &s, &size) || size == 0)
            return SA_OK;
        return sa_buf_append(out, s, size - 1);
    case AVRO_BYTES:
        if (avro_value_get_bytes(&v, &bytes, &size))
            return SA_OK;
        return sa_buf_append(out, bytes, size);
    case AVRO_INT32:
        avro_value_get_int(&v, &i32);
        return sa_buf_printf(out, "%" PRId32, i32);
    case AVRO_INT64:
        avro_value_get_long(&v, &i64);
        return sa_buf_printf(out, "%" PRId64, i64);
    case AVRO_DOUBLE:
        avro_value_get_double(&v, &d);
        return sa_buf_printf(out, "%.17g", d);
    case AVRO_FLOAT:
        avro_value_get_float(&v, &fl);
        return sa_buf_printf(out, "%.9g", (double)fl);
    case AVRO_BOOLEAN:
        avro_value_get_boolean(&v, &b);
        return sa_buf_append_str(out, b ? "true" : "false");
    case AVRO_ENUM:
        avro_value_get_enum(&v, &b);
        s = avro_schema_enum_get(rec->schema->fields[field].value, b);
        return s ? sa_buf_append_str(out, s) : SA_OK;
    default:
        return SA_OK;
    }
}
