/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Records: typed and textual field values -> Avro binary (agent/record.h).
 * This is the ingest hot path, so it writes the Avro binary encoding
 * itself instead of going through avro-c generic values, and all the work
 * that depends only on the schema happens once in sa_record_init:
 *
 *   - for every field and every value kind (string, long, enum...), the
 *     union branch a value of that kind goes to, or "direct" for a field
 *     that is not a union, or "none" (field_state.branch);
 *   - every default, parsed from the schema JSON (avro-c does not expose
 *     defaults) and encoded once into its Avro bytes (field_state.def_bytes);
 *   - for every enum, a hash index of its symbols (field_state.symbol_index).
 *
 * A setter encodes its field at once -- union branch index, then the
 * value: zigzag varint for int/long/enum, little-endian IEEE for
 * float/double, one byte for boolean, length and data for string/bytes --
 * into one per-record scratch buffer, written in place (its size is known
 * first), and notes where (struct slot) along with the typed value that
 * sa_record_key and sa_record_event_ms read.
 * sa_record_encoded_size then applies the defaults of the fields not set
 * and adds up the sizes, and sa_record_encode_into concatenates the fields
 * in schema order (sa_record_encode does both, into a buffer). Per record
 * there is no JSON, no lookup by name and, once the scratch buffer has
 * grown to size, no allocation.
 *
 * Scratch layout: a field set again without a reset overwrites its bytes
 * in place when the new encoding fits, and is appended otherwise; reset
 * empties the buffer. The bytes left behind by appends are reclaimed by a
 * compaction when the buffer would have to grow.
 *
 * is_set[i] is 0 for a field not set since the last reset, 1 for a field
 * a setter filled, 2 for a field sa_record_encoded_size gave its default.
 *
 * Top-level fields of the complex types (record, array, map, fixed) have
 * no setter; they encode from their default when it is an empty array or
 * map, and fail naming the field otherwise.
 */
#include "agent/record.h"

#include "agent/base/text.h"
#include "agent/record_text.h"
#include "agent/tz.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The scratch buffer of one record, all its fields together. */
#define SCRATCH_MAX SA_RECORD_MAX_BYTES

/* Value kinds a field can hold, indexed by avro_type_t up to AVRO_ENUM. */
#define N_KINDS (AVRO_ENUM + 1)
#define BRANCH_DIRECT (-1) /* not a union: the value is the field */
#define BRANCH_NONE (-2)   /* the field has no room for this kind */

enum def_kind {
    DEF_NONE,        /* no default: the field must be set */
    DEF_OK,          /* def_bytes hold the encoded default */
    DEF_UNSUPPORTED, /* a default we cannot apply (nested records...) */
};

/* A field's value as set, for sa_record_key and sa_record_event_ms. */
struct value {
    avro_type_t kind; /* of the value (the branch taken, for unions) */
    int64_t l;        /* int, long, boolean, enum index */
    double d;         /* float (widened), double */
    size_t str_at;    /* string, bytes: offset of the data in the encoding */
    size_t str_len;
};

/* Where a set field's encoding lies in the scratch buffer. */
struct slot {
    size_t off;
    size_t len;
    size_t cap; /* bytes reserved at off: a later value up to this fits */
    struct value v;
};

struct enum_symbol {
    const char *name; /* owned by the avro schema */
    size_t len;
};

struct field_state {
    int branch[N_KINDS];       /* BRANCH_DIRECT, BRANCH_NONE or a union branch */
    avro_schema_t enum_schema; /* the field's enum (first enum branch) */
    struct enum_symbol *symbols;
    int n_symbols;
    uint16_t *symbol_index; /* see load_symbols; NULL: scan the symbols */
    size_t index_mask;
    enum def_kind def;
    char *format;       /* date/timestamp text format (strptime-style), or NULL */
    uint8_t *def_bytes; /* the default, encoded */
    size_t def_len;
    struct value def_value;
};

struct record_priv {
    struct field_state *f;
    struct slot *slot;
    struct sa_buf scratch; /* the set fields' encodings */
    struct sa_buf spare;   /* compaction target, swapped with scratch */
    struct day_memo last_day;
    struct sa_tz *tz; /* of timestamp text without a zone; NULL: UTC */
};

#define PRIV(rec) ((struct record_priv *)(rec)->priv)

/* For the small functions of the setters' path: gcc does not inline them
 * on its own once they have two callers, and sa_record_set_text then paid
 * two nested calls per field, 13 of the 124 ns a sensor_reading row took
 * (build/bench_csv_rows). */
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* --- Avro binary primitives ----------------------------------------------- */

/* Zigzag varint of v at p (room for 10 bytes); returns the bytes written. */
static inline size_t put_long(uint8_t *p, int64_t v)
{
    return sa_varint_encode(p, sa_zigzag_encode(v));
}

/* Bytes put_long writes for v. */
static inline size_t long_size(int64_t v)
{
    unsigned bits = 64 - (unsigned)__builtin_clzll(sa_zigzag_encode(v) | 1);
    return (bits + 6) / 7;
}

/* Avro floats and doubles are little-endian IEEE 754: on a little-endian
 * host that is the value's own bytes, one move instead of a byte loop. */
static inline size_t put_double(uint8_t *p, double v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, 8);
#else
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(bits >> (8 * i));
#endif
    return 8;
}

static inline size_t put_float(uint8_t *p, float v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, 4);
#else
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(bits >> (8 * i));
#endif
    return 4;
}

/* The union branch index, when there is one. */
static inline size_t put_branch(uint8_t *p, int branch)
{
    return branch >= 0 ? put_long(p, branch) : 0;
}

static inline size_t branch_size(int branch)
{
    return branch >= 0 ? long_size(branch) : 0;
}

/* --- errors ---------------------------------------------------------------- */

static const char *kind_name(avro_type_t kind, int logical)
{
    if (logical == SA_LOGICAL_TIMESTAMP_MILLIS)
        return "timestamp-millis";
    if (logical == SA_LOGICAL_TIMESTAMP_MICROS)
        return "timestamp-micros";
    if (logical == SA_LOGICAL_DATE)
        return "date";
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

/* --- schema-derived state -------------------------------------------------- */

static void plan_branches(const struct sa_schema_field *f, struct field_state *st)
{
    for (int k = 0; k < N_KINDS; k++)
        st->branch[k] = BRANCH_NONE;
    st->enum_schema = NULL;
    if (!is_avro_union(f->type)) {
        if ((int)f->kind < N_KINDS)
            st->branch[f->kind] = BRANCH_DIRECT;
        if (f->kind == AVRO_ENUM)
            st->enum_schema = f->type;
        return;
    }
    /* A value goes to the first branch of its kind. */
    for (size_t b = avro_schema_union_size(f->type); b-- > 0;) {
        avro_schema_t s = avro_schema_union_branch(f->type, (int)b);
        avro_type_t k = avro_typeof(s);
        if ((int)k < N_KINDS)
            st->branch[k] = (int)b;
        if (k == AVRO_ENUM)
            st->enum_schema = s;
    }
}

/* Where a symbol starts its search in field_state.symbol_index: a hash of
 * its length and five of its bytes (len > 0), chosen without a branch on
 * the length so that looking up symbols of mixed lengths stays cheap. */
static inline size_t symbol_hash(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    uint64_t key = (uint64_t)u[0] | (uint64_t)u[len / 4] << 8 |
                   (uint64_t)u[len / 2] << 16 | (uint64_t)u[len * 3 / 4] << 24 |
                   (uint64_t)u[len - 1] << 32 | (uint64_t)len << 40;
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32);
}

/*
 * The enum's symbols, and an open-addressing index over them (a quarter
 * full at most; symbol number + 1, 0 for an empty slot), so that a lookup
 * compares one symbol instead of trying them in turn, which for values in
 * random order mispredicts a branch per value. Symbols go in in order, so
 * a lookup finds the first of equal ones, as the scan does. An empty
 * symbol is not indexed (an empty text is looked up by the scan).
 */
static int load_symbols(struct field_state *st)
{
    size_t slots = 16;

    if (!st->enum_schema)
        return SA_OK;
    st->n_symbols = avro_schema_enum_number_of_symbols(st->enum_schema);
    if (st->n_symbols <= 0)
        return SA_OK;
    st->symbols = calloc((size_t)st->n_symbols, sizeof *st->symbols);
    if (!st->symbols)
        return SA_ENOMEM;
    for (int i = 0; i < st->n_symbols; i++) {
        st->symbols[i].name = avro_schema_enum_get(st->enum_schema, i);
        st->symbols[i].len = st->symbols[i].name ? strlen(st->symbols[i].name) : 0;
    }
    if (st->n_symbols >= UINT16_MAX)
        return SA_OK; /* no index: set_enum_symbol scans */
    while (slots < 4 * (size_t)st->n_symbols)
        slots *= 2;
    st->symbol_index = calloc(slots, sizeof *st->symbol_index);
    if (!st->symbol_index)
        return SA_ENOMEM;
    st->index_mask = slots - 1;
    for (int i = 0; i < st->n_symbols; i++) {
        const struct enum_symbol *sym = &st->symbols[i];
        size_t h;
        if (sym->len == 0)
            continue;
        h = symbol_hash(sym->name, sym->len) & st->index_mask;
        while (st->symbol_index[h])
            h = (h + 1) & st->index_mask;
        st->symbol_index[h] = (uint16_t)(i + 1);
    }
    return SA_OK;
}

/*
 * The default of a field, encoded. A union's default is of its first
 * branch (Avro spec); the common ["null", T] with default null is the
 * null branch. Kinds and JSON types that do not match, and defaults of
 * complex types other than [] and {}, leave DEF_UNSUPPORTED: encoding
 * fails on them only when the field is left unset.
 */
static int encode_default(const struct sa_schema_field *f, struct field_state *st)
{
    json_t *def;
    json_error_t jerr;
    avro_schema_t target;
    int branch = BRANCH_DIRECT;
    uint8_t head[24];
    size_t n;
    const char *data = NULL;
    size_t data_len = 0;
    struct value *v = &st->def_value;

    st->def = DEF_NONE;
    if (!f->default_json)
        return SA_OK;
    def = json_loads(f->default_json, JSON_DECODE_ANY, &jerr);
    if (!def)
        return SA_ESCHEMA;
    target = f->type;
    if (is_avro_union(f->type)) {
        target = avro_schema_union_branch(f->type, 0);
        branch = 0;
    }
    v->kind = avro_typeof(target);
    n = put_branch(head, branch);
    st->def = DEF_OK;
    switch (v->kind) {
    case AVRO_NULL:
        if (!json_is_null(def))
            st->def = DEF_UNSUPPORTED;
        break;
    case AVRO_INT32:
    case AVRO_INT64:
        if (!json_is_integer(def)) {
            st->def = DEF_UNSUPPORTED;
            break;
        }
        v->l = (int64_t)json_integer_value(def);
        if (v->kind == AVRO_INT32)
            v->l = (int32_t)v->l;
        n += put_long(head + n, v->l);
        break;
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        if (!json_is_number(def)) {
            st->def = DEF_UNSUPPORTED;
            break;
        }
        v->d = json_number_value(def);
        if (v->kind == AVRO_FLOAT) {
            v->d = (float)v->d;
            n += put_float(head + n, (float)v->d);
        } else {
            n += put_double(head + n, v->d);
        }
        break;
    case AVRO_BOOLEAN:
        if (!json_is_boolean(def)) {
            st->def = DEF_UNSUPPORTED;
            break;
        }
        v->l = json_is_true(def);
        head[n++] = (uint8_t)v->l;
        break;
    case AVRO_STRING:
    case AVRO_BYTES:
        if (!json_is_string(def)) {
            st->def = DEF_UNSUPPORTED;
            break;
        }
        data = json_string_value(def);
        data_len = json_string_length(def);
        n += put_long(head + n, (int64_t)data_len);
        v->str_at = n;
        v->str_len = data_len;
        break;
    case AVRO_ENUM: {
        int idx = json_is_string(def)
                      ? avro_schema_enum_get_by_name(target, json_string_value(def))
                      : -1;
        if (idx < 0) {
            st->def = DEF_UNSUPPORTED;
            break;
        }
        v->l = idx;
        n += put_long(head + n, idx);
        break;
    }
    case AVRO_ARRAY: /* [] and {}: a single block count of zero */
        if (json_is_array(def) && json_array_size(def) == 0)
            head[n++] = 0;
        else
            st->def = DEF_UNSUPPORTED;
        break;
    case AVRO_MAP:
        if (json_is_object(def) && json_object_size(def) == 0)
            head[n++] = 0;
        else
            st->def = DEF_UNSUPPORTED;
        break;
    default:
        st->def = DEF_UNSUPPORTED;
        break;
    }
    if (st->def == DEF_OK) {
        st->def_len = n + data_len;
        st->def_bytes = malloc(st->def_len ? st->def_len : 1);
        if (!st->def_bytes) {
            json_decref(def);
            return SA_ENOMEM;
        }
        memcpy(st->def_bytes, head, n);
        if (data_len)
            memcpy(st->def_bytes + n, data, data_len);
    }
    json_decref(def);
    return SA_OK;
}

/* --- life cycle ------------------------------------------------------------ */

int sa_record_init(struct sa_record *rec, const struct sa_schema *schema,
                   struct sa_err *err)
{
    struct record_priv *p;
    size_t n_alloc = schema->n_fields ? schema->n_fields : 1;
    int rc = SA_OK;

    memset(rec, 0, sizeof *rec);
    rec->schema = schema;
    rec->n_fields = schema->n_fields;
    rec->is_set = calloc(n_alloc, 1);
    p = rec->priv = calloc(1, sizeof *p);
    if (!rec->is_set || !p) {
        rc = SA_ENOMEM;
        goto out;
    }
    sa_buf_init(&p->scratch, SCRATCH_MAX);
    sa_buf_init(&p->spare, SCRATCH_MAX);
    p->f = calloc(n_alloc, sizeof *p->f);
    p->slot = calloc(n_alloc, sizeof *p->slot);
    if (!p->f || !p->slot) {
        rc = SA_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < schema->n_fields; i++) {
        plan_branches(&schema->fields[i], &p->f[i]);
        if ((rc = load_symbols(&p->f[i])) ||
            (rc = encode_default(&schema->fields[i], &p->f[i])))
            goto out;
    }
out:
    if (rc == SA_ENOMEM)
        sa_err_set(err, rc, "record %s: out of memory", schema->subject);
    else if (rc == SA_ESCHEMA)
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
        for (size_t i = 0; p->f && i < rec->n_fields; i++) {
            free(p->f[i].def_bytes);
            free(p->f[i].format);
            free(p->f[i].symbols);
            free(p->f[i].symbol_index);
        }
        free(p->f);
        free(p->slot);
        sa_buf_fini(&p->scratch);
        sa_buf_fini(&p->spare);
        sa_tz_free(p->tz);
        free(p);
    }
    free(rec->is_set);
    memset(rec, 0, sizeof *rec);
}

/*
 * The flags are cleared with byte stores. glibc's AVX-512 memset writes
 * a few bytes with one masked vector store, which a load cannot take its
 * value from: the first setter of every row waited for that store to
 * reach the cache before it could read its flag (with 8-byte stores the
 * wait moved to the second field's flag). volatile keeps the compiler
 * from turning the loop back into a memset call.
 */
void sa_record_reset(struct sa_record *rec)
{
    volatile uint8_t *is_set = rec->is_set;

    for (size_t i = 0; i < rec->n_fields; i++)
        is_set[i] = 0;
    sa_buf_reset(&PRIV(rec)->scratch);
}

int sa_record_field_index(const struct sa_schema *schema, const char *name)
{
    for (size_t i = 0; i < schema->n_fields; i++)
        if (strcmp(schema->fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* --- storing a field's encoding -------------------------------------------- */

/* Copy the set fields' encodings to the front of a fresh buffer, dropping
 * what values set again left behind. */
static int compact(struct sa_record *rec)
{
    struct record_priv *p = PRIV(rec);
    struct sa_buf tmp;
    int rc;

    sa_buf_reset(&p->spare);
    for (size_t i = 0; i < rec->n_fields; i++) {
        struct slot *s = &p->slot[i];
        if (rec->is_set[i] != 1)
            continue;
        size_t off = p->spare.len;
        if ((rc = sa_buf_append(&p->spare, p->scratch.data + s->off, s->len)))
            return rc;
        s->off = off;
        s->cap = s->len;
    }
    tmp = p->scratch;
    p->scratch = p->spare;
    p->spare = tmp;
    return SA_OK;
}

/* place() when the field's bytes must go at the end of scratch and there
 * may be no room: compact or grow first. */
static int place_at_end(struct sa_record *rec, int field, size_t n, uint8_t **dst,
                        struct sa_err *err)
{
    struct record_priv *p = PRIV(rec);
    struct slot *s = &p->slot[field];
    int rc;

    if (n > p->scratch.cap - p->scratch.len) {
        size_t live = n;
        for (size_t i = 0; i < rec->n_fields; i++)
            if (rec->is_set[i] == 1)
                live += p->slot[i].len;
        if (live < p->scratch.len / 2 && (rc = compact(rec)))
            goto fail;
        if ((rc = sa_buf_reserve(&p->scratch, n)))
            goto fail;
    }
    s->off = p->scratch.len;
    s->cap = n;
    s->len = n;
    p->scratch.len += n;
    *dst = p->scratch.data + s->off;
    return SA_OK;
fail:
    return sa_err_set(err, rc == SA_ETOOBIG ? SA_ERECORD : rc, "field '%s': %s",
                      rec->schema->fields[field].name, sa_strerror(rc));
}

/* Room for n bytes of field's encoding (*dst): in place when the field
 * was set since the reset and the new value fits, else at the end of
 * scratch. Inline for the common cases, which run for every field of
 * every record: a first value with room left at the end, or a value set
 * again that fits where the last one was. */
static inline int place(struct sa_record *rec, int field, size_t n, uint8_t **dst,
                        struct sa_err *err)
{
    struct record_priv *p = PRIV(rec);
    struct slot *s = &p->slot[field];

    if (rec->is_set[field] == 1 && n <= s->cap) {
        s->len = n;
        *dst = p->scratch.data + s->off;
        return SA_OK;
    }
    if (n > p->scratch.cap - p->scratch.len)
        return place_at_end(rec, field, n, dst, err);
    s->off = p->scratch.len;
    s->cap = n;
    s->len = n;
    p->scratch.len += n;
    *dst = p->scratch.data + s->off;
    return SA_OK;
}

/* The typed value beside a field's encoding, for sa_record_key and
 * sa_record_event_ms; the field counts as set from now on. */
static inline void note_value(struct sa_record *rec, int field, avro_type_t kind,
                              int64_t l, double d)
{
    struct slot *s = &PRIV(rec)->slot[field];

    s->v.kind = kind;
    s->v.l = l;
    s->v.d = d;
    rec->is_set[field] = 1;
}

/*
 * Store a value of field: the union branch, when there is one, then the
 * value's Avro encoding, written straight into its place (its size is
 * known up front). One function per encoding: zigzag varint (int, long,
 * enum), 8- and 4-byte IEEE, a byte (boolean), nothing (null).
 */
static ALWAYS_INLINE int store_long(struct sa_record *rec, int field, int branch,
                                    avro_type_t kind, int64_t v, struct sa_err *err)
{
    size_t head = branch_size(branch);
    uint8_t *dst;
    int rc = place(rec, field, head + long_size(v), &dst, err);

    if (rc)
        return rc;
    put_branch(dst, branch);
    put_long(dst + head, v);
    note_value(rec, field, kind, v, 0);
    return SA_OK;
}

static ALWAYS_INLINE int store_double(struct sa_record *rec, int field, int branch,
                                      double v, struct sa_err *err)
{
    size_t head = branch_size(branch);
    uint8_t *dst;
    int rc = place(rec, field, head + 8, &dst, err);

    if (rc)
        return rc;
    put_branch(dst, branch);
    put_double(dst + head, v);
    note_value(rec, field, AVRO_DOUBLE, 0, v);
    return SA_OK;
}

static ALWAYS_INLINE int store_float(struct sa_record *rec, int field, int branch,
                                     float v, struct sa_err *err)
{
    size_t head = branch_size(branch);
    uint8_t *dst;
    int rc = place(rec, field, head + 4, &dst, err);

    if (rc)
        return rc;
    put_branch(dst, branch);
    put_float(dst + head, v);
    note_value(rec, field, AVRO_FLOAT, 0, (double)v);
    return SA_OK;
}

static ALWAYS_INLINE int store_bool(struct sa_record *rec, int field, int branch, int v,
                                    struct sa_err *err)
{
    size_t head = branch_size(branch);
    uint8_t *dst;
    int rc = place(rec, field, head + 1, &dst, err);

    if (rc)
        return rc;
    put_branch(dst, branch);
    dst[head] = v ? 1 : 0;
    note_value(rec, field, AVRO_BOOLEAN, v ? 1 : 0, 0);
    return SA_OK;
}

static ALWAYS_INLINE int store_null(struct sa_record *rec, int field, int branch,
                                    struct sa_err *err)
{
    uint8_t *dst;
    int rc = place(rec, field, branch_size(branch), &dst, err);

    if (rc)
        return rc;
    put_branch(dst, branch);
    note_value(rec, field, AVRO_NULL, 0, 0);
    return SA_OK;
}

/* Store branch, length and data of a string or bytes value. */
static ALWAYS_INLINE int store_data(struct sa_record *rec, int field, int branch,
                                    avro_type_t kind, const char *data, size_t len,
                                    struct sa_err *err)
{
    size_t n = branch_size(branch);
    struct slot *s;
    uint8_t *dst;
    int rc;

    if (len > SCRATCH_MAX)
        return sa_err_set(err, SA_ERECORD, "field '%s': %s",
                          rec->schema->fields[field].name, sa_strerror(SA_ETOOBIG));
    n += long_size((int64_t)len);
    if ((rc = place(rec, field, n + len, &dst, err)))
        return rc;
    put_long(dst + put_branch(dst, branch), (int64_t)len);
    if (len)
        memcpy(dst + n, data, len);
    s = &PRIV(rec)->slot[field];
    s->v.kind = kind;
    s->v.str_at = n;
    s->v.str_len = len;
    rec->is_set[field] = 1;
    return SA_OK;
}

static inline int branch_of(const struct sa_record *rec, int field, avro_type_t kind)
{
    return PRIV(rec)->f[field].branch[kind];
}

static inline int has_kind(const struct sa_record *rec, int field, avro_type_t kind)
{
    return PRIV(rec)->f[field].branch[kind] != BRANCH_NONE;
}

/* --- typed setters --------------------------------------------------------- */

/* Each setter is a public function that checks the field number and a
 * static one, set_*(), for a field already checked: sa_record_set_text
 * calls those. */

static ALWAYS_INLINE int set_null(struct sa_record *rec, int field, struct sa_err *err)
{
    if (!rec->schema->fields[field].nullable || !has_kind(rec, field, AVRO_NULL))
        return type_error(rec, field, err, "null");
    return store_null(rec, field, branch_of(rec, field, AVRO_NULL), err);
}

int sa_record_set_null(struct sa_record *rec, int field, struct sa_err *err)
{
    int rc = check_field(rec, field, err);
    return rc ? rc : set_null(rec, field, err);
}

static ALWAYS_INLINE int set_bool(struct sa_record *rec, int field, int v,
                                  struct sa_err *err)
{
    int b = branch_of(rec, field, AVRO_BOOLEAN);

    if (b == BRANCH_NONE)
        return type_error(rec, field, err, "%s", v ? "true" : "false");
    return store_bool(rec, field, b, v, err);
}

int sa_record_set_bool(struct sa_record *rec, int field, int v, struct sa_err *err)
{
    int rc = check_field(rec, field, err);
    return rc ? rc : set_bool(rec, field, v, err);
}

static ALWAYS_INLINE int set_long(struct sa_record *rec, int field, int64_t v,
                                  struct sa_err *err)
{
    int b;

    if ((b = branch_of(rec, field, AVRO_INT64)) != BRANCH_NONE)
        return store_long(rec, field, b, AVRO_INT64, v, err);
    if ((b = branch_of(rec, field, AVRO_INT32)) != BRANCH_NONE) {
        if (v < INT32_MIN || v > INT32_MAX)
            return type_error(rec, field, err, "%" PRId64 " (out of range)", v);
        return store_long(rec, field, b, AVRO_INT32, v, err);
    }
    if ((b = branch_of(rec, field, AVRO_DOUBLE)) != BRANCH_NONE)
        return store_double(rec, field, b, (double)v, err);
    if ((b = branch_of(rec, field, AVRO_FLOAT)) != BRANCH_NONE)
        return store_float(rec, field, b, (float)v, err);
    return type_error(rec, field, err, "%" PRId64, v);
}

int sa_record_set_long(struct sa_record *rec, int field, int64_t v, struct sa_err *err)
{
    int rc = check_field(rec, field, err);
    return rc ? rc : set_long(rec, field, v, err);
}

static ALWAYS_INLINE int set_double(struct sa_record *rec, int field, double v,
                                    struct sa_err *err)
{
    int b;

    if ((b = branch_of(rec, field, AVRO_DOUBLE)) != BRANCH_NONE)
        return store_double(rec, field, b, v, err);
    if ((b = branch_of(rec, field, AVRO_FLOAT)) != BRANCH_NONE)
        return store_float(rec, field, b, (float)v, err);
    if ((has_kind(rec, field, AVRO_INT64) || has_kind(rec, field, AVRO_INT32)) &&
        isfinite(v) && v == floor(v) && v >= -9223372036854775808.0 &&
        v < 9223372036854775808.0)
        /* An integral double (JSON "3.0") fits an integer field losslessly. */
        return set_long(rec, field, (int64_t)v, err);
    return type_error(rec, field, err, "%.17g", v);
}

int sa_record_set_double(struct sa_record *rec, int field, double v, struct sa_err *err)
{
    int rc = check_field(rec, field, err);
    return rc ? rc : set_double(rec, field, v, err);
}

static int text_error(struct sa_record *rec, int field, struct sa_err *err,
                      const char *s, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 6, 7), noinline, cold));

/* type_error() on a text value: "got \"<text>\"" and what fmt adds. Out of
 * line, so that the setters on the hot path keep small frames. */
static int text_error(struct sa_record *rec, int field, struct sa_err *err,
                      const char *s, size_t len, const char *fmt, ...)
{
    char quoted[96], more[160];
    va_list ap;

    sa_text_quote(quoted, sizeof quoted, s, len);
    va_start(ap, fmt);
    vsnprintf(more, sizeof more, fmt, ap);
    va_end(ap);
    return type_error(rec, field, err, "%s%s", quoted, more);
}

static int set_enum_symbol(struct sa_record *rec, int field, const char *s, size_t len,
                           struct sa_err *err)
{
    const struct field_state *st = &PRIV(rec)->f[field];
    int idx = -1;

    if (!st->enum_schema)
        return type_error(rec, field, err, "enum symbol");
    if (st->symbol_index && len > 0) {
        size_t h = symbol_hash(s, len) & st->index_mask;
        for (; st->symbol_index[h]; h = (h + 1) & st->index_mask) {
            int i = st->symbol_index[h] - 1;
            if (st->symbols[i].len == len && memcmp(st->symbols[i].name, s, len) == 0) {
                idx = i;
                break;
            }
        }
    } else {
        for (int i = 0; i < st->n_symbols; i++)
            if (st->symbols[i].len == len && memcmp(st->symbols[i].name, s, len) == 0) {
                idx = i;
                break;
            }
    }
    if (idx < 0)
        return text_error(rec, field, err, s, len, " (not a symbol of %s)",
                          avro_schema_name(st->enum_schema));
    return store_long(rec, field, st->branch[AVRO_ENUM], AVRO_ENUM, idx, err);
}

static ALWAYS_INLINE int set_string(struct sa_record *rec, int field, const char *s,
                                    size_t len, struct sa_err *err)
{
    int b;

    if ((b = branch_of(rec, field, AVRO_STRING)) != BRANCH_NONE)
        return store_data(rec, field, b, AVRO_STRING, s, len, err);
    if ((b = branch_of(rec, field, AVRO_BYTES)) != BRANCH_NONE)
        return store_data(rec, field, b, AVRO_BYTES, s, len, err);
    if (has_kind(rec, field, AVRO_ENUM))
        return set_enum_symbol(rec, field, s, len, err);
    return text_error(rec, field, err, s, len, "%s", "");
}

int sa_record_set_string(struct sa_record *rec, int field, const char *s, size_t len,
                         struct sa_err *err)
{
    int rc = check_field(rec, field, err);
    return rc ? rc : set_string(rec, field, s, len, err);
}

int sa_record_set_enum(struct sa_record *rec, int field, const char *symbol,
                       struct sa_err *err)
{
    int rc = check_field(rec, field, err);
    return rc ? rc : set_enum_symbol(rec, field, symbol, strlen(symbol), err);
}

int sa_record_set_enum_index(struct sa_record *rec, int field, int index,
                             struct sa_err *err)
{
    const struct field_state *st;
    int rc = check_field(rec, field, err);

    if (rc)
        return rc;
    st = &PRIV(rec)->f[field];
    if (!st->enum_schema)
        return type_error(rec, field, err, "enum symbol");
    if (index < 0 || index >= st->n_symbols)
        return type_error(rec, field, err, "symbol number %d (%s has %d)", index,
                          avro_schema_name(st->enum_schema), st->n_symbols);
    return store_long(rec, field, st->branch[AVRO_ENUM], AVRO_ENUM, index, err);
}

/* --- fields from text (the parsing: record_text.c) ------------------------- */

int sa_record_set_text_format(struct sa_record *rec, int field, const char *format,
                              struct sa_err *err)
{
    const struct sa_schema_field *f;
    struct field_state *st;
    char why[160];
    char *copy;
    int rc = check_field(rec, field, err);

    if (rc)
        return rc;
    f = &rec->schema->fields[field];
    st = &PRIV(rec)->f[field];
    if (f->logical == SA_LOGICAL_NONE || is_avro_union(f->value)) {
        const char *kind = kind_name(f->kind, f->logical);
        return sa_err_set(err, SA_ECONFIG,
                          "field '%s' is %s %s: formats apply to date and timestamp "
                          "fields",
                          f->name, strchr("aeiou", kind[0]) ? "an" : "a", kind);
    }
    if (check_format(format, f->logical, why, sizeof why))
        return sa_err_set(err, SA_ECONFIG,
                          "\"%s\" is not a format for the %s field "
                          "'%s': %s",
                          format, kind_name(f->kind, f->logical), f->name, why);
    if (!(copy = strdup(format)))
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    free(st->format);
    st->format = copy;
    return SA_OK;
}

int sa_text_format_check(const char *format, struct sa_err *err)
{
    char why[160];

    /* As for a timestamp, the type that allows the most: what a date
     * must not hold is found when the format meets its field. */
    if (check_format(format, SA_LOGICAL_TIMESTAMP_MILLIS, why, sizeof why))
        return sa_err_set(err, SA_ECONFIG, "\"%s\" is not a format: %s", format, why);
    return SA_OK;
}

int sa_record_set_timezone(struct sa_record *rec, const char *name, struct sa_err *err)
{
    struct record_priv *p = PRIV(rec);
    struct sa_tz *tz;
    int rc = sa_tz_load(name, &tz, err);

    if (rc)
        return rc;
    sa_tz_free(p->tz);
    p->tz = tz;
    return SA_OK;
}

/* A date or timestamp field from text (trimmed; raw is the text as
 * given, which errors quote): its format when it has one, else ISO 8601
 * or an integer (days, ms or us since the epoch). */
static int set_time_text(struct sa_record *rec, int field, const char *text, size_t len,
                         const char *raw, size_t raw_len, struct sa_err *err)
{
    const struct sa_schema_field *f = &rec->schema->fields[field];
    struct record_priv *p = PRIV(rec);
    const char *format = p->f[field].format;
    /* A date is a day of the calendar, in no time zone. */
    const struct sa_tz *tz = f->logical == SA_LOGICAL_DATE ? NULL : p->tz;
    const char *invalid = f->logical == SA_LOGICAL_DATE ? " (not a valid date)"
                                                        : " (not a valid date or time)";
    struct instant t;
    int64_t lv;
    int rc;

    if (format) {
        rc = parse_formatted(format, text, len, &p->last_day, tz, &t);
        if (rc == -2)
            return text_error(rec, field, err, raw, raw_len, "%s", invalid);
        if (rc)
            return text_error(rec, field, err, raw, raw_len,
                              " (does not match the format \"%s\")", format);
    } else {
        rc = len >= 10 && text[4] == '-' ? -1 : parse_int64(text, len, &lv);
        if (rc == 0)
            return set_long(rec, field, lv, err);
        if (f->logical == SA_LOGICAL_DATE && rc != -2 && len != 10)
            return text_error(rec, field, err, raw, raw_len, "%s", "");
        if (rc == -2)
            return text_error(rec, field, err, raw, raw_len, " (out of range)");
        rc = parse_iso8601(text, len, &p->last_day, tz, &t);
        if (rc)
            return text_error(rec, field, err, raw, raw_len, "%s",
                              rc == -2 ? invalid : "");
    }
    switch (f->logical) {
    case SA_LOGICAL_DATE:
        lv = t.secs >= 0 ? t.secs / 86400 : -((-t.secs + 86399) / 86400);
        break;
    case SA_LOGICAL_TIMESTAMP_MICROS:
        if (t.secs > INT64_MAX / 1000000 || t.secs < INT64_MIN / 1000000)
            return text_error(rec, field, err, raw, raw_len, " (out of range)");
        lv = t.secs * 1000000 + t.usec;
        break;
    default:
        lv = t.secs * 1000 + t.usec / 1000;
        break;
    }
    return set_long(rec, field, lv, err);
}

int sa_record_set_text(struct sa_record *rec, int field, const char *text, size_t len,
                       struct sa_err *err)
{
    const struct sa_schema_field *f;
    int rc = check_field(rec, field, err);
    /* the text as given, which errors quote (" " is not shown as "") */
    const char *raw = text;
    size_t raw_len = len;
    int64_t lv;
    double dv;
    int bv;

    if (rc)
        return rc;
    f = &rec->schema->fields[field];
    if (len == 0) {
        if (f->nullable)
            return set_null(rec, field, err);
        if (f->default_json) {
            rec->is_set[field] = 0; /* encode applies the default */
            return SA_OK;
        }
        if (f->kind == AVRO_STRING || f->kind == AVRO_BYTES)
            return set_string(rec, field, text, 0, err);
        return type_error(rec, field, err, "an empty value");
    }
    switch (f->kind) {
    case AVRO_STRING:
    case AVRO_BYTES:
        return set_string(rec, field, text, len, err);
    case AVRO_ENUM:
        return set_enum_symbol(rec, field, text, len, err);
    default:
        break;
    }
    trim(&text, &len);
    switch (f->kind) {
    case AVRO_INT32:
    case AVRO_INT64:
        if (f->logical != SA_LOGICAL_NONE)
            return set_time_text(rec, field, text, len, raw, raw_len, err);
        rc = parse_int64(text, len, &lv);
        if (rc == 0)
            return set_long(rec, field, lv, err);
        return text_error(rec, field, err, raw, raw_len, "%s",
                          rc == -2 ? " (out of range)" : "");
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        rc = parse_double(text, len, &dv);
        if (rc == 0)
            return set_double(rec, field, dv, err);
        if (rc == -2)
            return text_error(rec, field, err, raw, raw_len, " (out of range)");
        break;
    case AVRO_BOOLEAN:
        if (parse_bool(text, len, &bv) == 0)
            return set_bool(rec, field, bv, err);
        break;
    case AVRO_UNION:
        /* A general union: the first branch the text fits. */
        if (has_kind(rec, field, AVRO_INT64) && parse_int64(text, len, &lv) == 0)
            return set_long(rec, field, lv, err);
        if (has_kind(rec, field, AVRO_INT32) && parse_int64(text, len, &lv) == 0 &&
            lv >= INT32_MIN && lv <= INT32_MAX)
            return set_long(rec, field, lv, err);
        if ((has_kind(rec, field, AVRO_DOUBLE) || has_kind(rec, field, AVRO_FLOAT)) &&
            parse_double(text, len, &dv) == 0)
            return set_double(rec, field, dv, err);
        if (has_kind(rec, field, AVRO_BOOLEAN) && parse_bool(text, len, &bv) == 0)
            return set_bool(rec, field, bv, err);
        if (has_kind(rec, field, AVRO_STRING) || has_kind(rec, field, AVRO_BYTES))
            return set_string(rec, field, text, len, err);
        break;
    default:
        return text_error(rec, field, err, raw, raw_len, " (text cannot fill a %s)",
                          kind_name(f->kind, f->logical));
    }
    return text_error(rec, field, err, raw, raw_len, "%s", "");
}

/* --- encoding -------------------------------------------------------------- */

int sa_record_encoded_size(struct sa_record *rec, size_t *size, struct sa_err *err)
{
    const struct record_priv *p = PRIV(rec);
    size_t total = 0;

    for (size_t i = 0; i < rec->n_fields; i++) {
        const struct field_state *st = &p->f[i];
        if (rec->is_set[i] == 1) {
            total += p->slot[i].len;
            continue;
        }
        if (st->def == DEF_NONE)
            return sa_err_set(err, SA_ERECORD, "field '%s': not set and has no default",
                              rec->schema->fields[i].name);
        if (st->def == DEF_UNSUPPORTED)
            return sa_err_set(
                err, SA_ERECORD,
                "field '%s': not set, and its default %s cannot be applied",
                rec->schema->fields[i].name, rec->schema->fields[i].default_json);
        total += st->def_len;
        rec->is_set[i] = 2;
    }
    *size = total;
    return SA_OK;
}

void sa_record_encode_into(const struct sa_record *rec, uint8_t *dst)
{
    const struct record_priv *p = PRIV(rec);
    const uint8_t *scratch = p->scratch.data;
    size_t total = 0, next_off = rec->n_fields ? p->slot[0].off : 0;
    int contiguous = 1; /* every field set, their bytes back to back in order */

    for (size_t i = 0; i < rec->n_fields && contiguous; i++) {
        contiguous = rec->is_set[i] == 1 && p->slot[i].off == next_off;
        next_off = p->slot[i].off + p->slot[i].len;
        total += p->slot[i].len;
    }
    if (contiguous) { /* the fields were set in schema order: one copy */
        if (total)
            memcpy(dst, scratch + p->slot[0].off, total);
        return;
    }
    for (size_t i = 0; i < rec->n_fields; i++) {
        if (rec->is_set[i] == 1) {
            memcpy(dst, scratch + p->slot[i].off, p->slot[i].len);
            dst += p->slot[i].len;
        } else {
            memcpy(dst, p->f[i].def_bytes, p->f[i].def_len);
            dst += p->f[i].def_len;
        }
    }
}

int sa_record_encode(struct sa_record *rec, struct sa_buf *out, struct sa_err *err)
{
    size_t size;
    int rc;

    if ((rc = sa_record_encoded_size(rec, &size, err)))
        return rc;
    if ((rc = sa_buf_reserve(out, size)))
        return sa_err_set(err, rc, "record %s: %s", rec->schema->subject,
                          sa_strerror(rc));
    sa_record_encode_into(rec, out->data + out->len);
    out->len += size;
    return SA_OK;
}

/* The value of a field set or defaulted, and the bytes its string data
 * offsets count from; NULL for a field with neither. */
static const struct value *value_of(const struct sa_record *rec, int field,
                                    const uint8_t **base)
{
    const struct record_priv *p = PRIV(rec);

    if (rec->is_set[field] == 1) {
        *base = p->scratch.data + p->slot[field].off;
        return &p->slot[field].v;
    }
    if (rec->is_set[field] == 2) {
        *base = p->f[field].def_bytes;
        return &p->f[field].def_value;
    }
    return NULL;
}

int64_t sa_record_event_ms(const struct sa_record *rec, int64_t fallback)
{
    int field = rec->schema->event_time_field;
    const struct value *v;
    const uint8_t *base;

    if (field < 0 || !(v = value_of(rec, field, &base)) || v->kind != AVRO_INT64)
        return fallback;
    if (rec->schema->fields[field].logical == SA_LOGICAL_TIMESTAMP_MICROS)
        return v->l >= 0 ? v->l / 1000 : -((-(v->l + 1)) / 1000) - 1; /* floor */
    return v->l;
}

int sa_record_version(const struct sa_record *rec, int64_t *version)
{
    int field = rec->schema->version_field;
    const struct value *v;
    const uint8_t *base;

    if (field < 0)
        return SA_ENOTFOUND;
    v = value_of(rec, field, &base);
    /* A null (or unset nullable) version orders before every real one. */
    if (!v || (v->kind != AVRO_INT64 && v->kind != AVRO_INT32)) {
        *version = 0;
        return SA_OK;
    }
    *version = v->l;
    return SA_OK;
}

int sa_record_key(const struct sa_record *rec, struct sa_buf *out)
{
    int field = rec->schema->key_field;
    const struct field_state *st;
    const struct value *v;
    const uint8_t *base;
    char digits_buf[24];
    size_t n = sizeof digits_buf;
    uint64_t mag;

    if (field < 0 || !(v = value_of(rec, field, &base)))
        return SA_OK;
    switch (v->kind) {
    case AVRO_STRING:
    case AVRO_BYTES:
        return sa_buf_append(out, base + v->str_at, v->str_len);
    case AVRO_INT32:
    case AVRO_INT64:
        /* The integer in decimal, without printf: this runs per record. */
        mag = v->l < 0 ? 0 - (uint64_t)v->l : (uint64_t)v->l;
        do {
            digits_buf[--n] = (char)('0' + mag % 10);
            mag /= 10;
        } while (mag);
        if (v->l < 0)
            digits_buf[--n] = '-';
        return sa_buf_append(out, digits_buf + n, sizeof digits_buf - n);
    case AVRO_DOUBLE:
        return sa_buf_printf(out, "%.17g", v->d);
    case AVRO_FLOAT:
        return sa_buf_printf(out, "%.9g", v->d);
    case AVRO_BOOLEAN:
        return sa_buf_append_str(out, v->l ? "true" : "false");
    case AVRO_ENUM:
        st = &PRIV(rec)->f[field];
        if (v->l < 0 || v->l >= st->n_symbols || !st->symbols[v->l].name)
            return SA_OK;
        return sa_buf_append(out, st->symbols[v->l].name, st->symbols[v->l].len);
    default:
        return SA_OK;
    }
}

int sa_record_get(const struct sa_record *rec, int field, struct sa_field_value *out)
{
    const struct field_state *st;
    const struct value *v;
    const uint8_t *base;

    if (field < 0 || (size_t)field >= rec->n_fields ||
        !(v = value_of(rec, field, &base)))
        return SA_ENOTFOUND;
    out->kind = v->kind;
    out->l = v->l;
    out->d = v->d;
    out->s = NULL;
    out->len = 0;
    switch (v->kind) {
    case AVRO_STRING:
    case AVRO_BYTES:
        out->s = (const char *)base + v->str_at;
        out->len = v->str_len;
        break;
    case AVRO_ENUM:
        st = &PRIV(rec)->f[field];
        if (v->l >= 0 && v->l < st->n_symbols && st->symbols[v->l].name) {
            out->s = st->symbols[v->l].name;
            out->len = st->symbols[v->l].len;
        }
        break;
    default:
        break;
    }
    return SA_OK;
}
