/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas: parsing an .avsc into avro-c's schema plus what the agent needs
 * beside it (store/schema.h): the Parsing Canonical Form and its
 * CRC-64-AVRO fingerprint, a per-field table resolved once (value type of
 * nullable unions, logical type, default), and the x-key / x-event-time /
 * x-version attributes, which avro-c does not expose. The JSON side is read with
 * jansson; avro-c validates the schema and does the encoding.
 *
 * The canonical form follows the Avro specification ("Parsing Canonical
 * Form for Schemas"): primitives in their simple form, full names for
 * named types and references, only the attributes name, type, fields,
 * symbols, items, values and size, in that order, no whitespace. It is
 * checked against the Avro project's own vectors in tests/data/schema/.
 */
#include "store/schema.h"

#include "agent/base/text.h"
#include "store/spool.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* --- CRC-64-AVRO ---------------------------------------------------------- */

#define CRC64_AVRO_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t crc64_table[256];
static int crc64_ready;

static void crc64_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t fp = i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & (0 - (fp & 1)));
        crc64_table[i] = fp;
    }
    crc64_ready = 1;
}

uint64_t sa_crc64_avro(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t fp = CRC64_AVRO_EMPTY;

    /* The table is a pure function of a constant: filling it twice from
     * two threads writes the same values, so no lock is needed. */
    if (!crc64_ready)
        crc64_init();
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ crc64_table[(fp ^ p[i]) & 0xff];
    return fp;
}

/* --- Parsing Canonical Form ---------------------------------------------- */

static const char *const primitive_names[] = {
    "null", "boolean", "int", "long", "float", "double", "bytes", "string", NULL,
};

static int is_primitive(const char *name)
{
    for (size_t i = 0; primitive_names[i]; i++)
        if (strcmp(primitive_names[i], name) == 0)
            return 1;
    return 0;
}

/* A JSON string with the minimal escaping ([STRINGS]: UTF-8 as is). */
static int put_json_string(struct sa_buf *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    int rc = sa_buf_append_byte(out, '"');

    for (; !rc && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = sa_buf_append(out, esc, 2);
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rc = sa_buf_append(out, esc, 6);
        } else {
            rc = sa_buf_append_byte(out, c);
        }
    }
    return rc ? rc : sa_buf_append_byte(out, '"');
}

/* Full name of `name` under namespace `ns` into full (>= 512 bytes). */
static int full_name(const char *name, const char *ns, char *full, size_t size)
{
    int n;
    if (strchr(name, '.') || !ns || !*ns)
        n = snprintf(full, size, "%s", name);
    else
        n = snprintf(full, size, "%s.%s", ns, name);
    return n < 0 || (size_t)n >= size ? SA_ESCHEMA : SA_OK;
}

static int canon(const json_t *node, const char *ns, struct sa_buf *out,
                 struct sa_err *err);

static int canon_named(const json_t *node, const char *type, const char *ns,
                       struct sa_buf *out, struct sa_err *err)
{
    const char *name = json_string_value(json_object_get(node, "name"));
    const char *own_ns = json_string_value(json_object_get(node, "namespace"));
    char full[512], inner_ns[512];
    const char *dot;
    int rc;

    if (!name)
        return sa_err_set(err, SA_ESCHEMA, "a %s has no \"name\"", type);
    if (full_name(name, own_ns ? own_ns : ns, full, sizeof full))
        return sa_err_set(err, SA_ESCHEMA, "name '%s' is too long", name);
    /* Names inside take the namespace of this type's full name. */
    dot = strrchr(full, '.');
    snprintf(inner_ns, sizeof inner_ns, "%.*s", dot ? (int)(dot - full) : 0, full);

    rc = sa_buf_append_str(out, "{\"name\":");
    if (!rc)
        rc = put_json_string(out, full);
    if (!rc)
        rc = sa_buf_append_str(out, ",\"type\":");
    if (!rc)
        rc = put_json_string(out, type);
    if (rc)
        return sa_err_set(err, rc, "canonical form: %s", sa_strerror(rc));

    if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0) {
        const json_t *fields = json_object_get(node, "fields");
        size_t i;
        const json_t *field;
        if (!json_is_array(fields))
            return sa_err_set(err, SA_ESCHEMA, "record '%s' has no \"fields\" array",
                              full);
        rc = sa_buf_append_str(out, ",\"fields\":[");
        json_array_foreach(fields, i, field)
        {
            const char *fname = json_string_value(json_object_get(field, "name"));
            if (!fname || !json_object_get(field, "type"))
                return sa_err_set(err, SA_ESCHEMA,
                                  "record '%s': field %zu needs a name and a type",
                                  full, i);
            if (!rc && i)
                rc = sa_buf_append_byte(out, ',');
            if (!rc)
                rc = sa_buf_append_str(out, "{\"name\":");
            if (!rc)
                rc = put_json_string(out, fname);
            if (!rc)
                rc = sa_buf_append_str(out, ",\"type\":");
            if (rc)
                break;
            rc = canon(json_object_get(field, "type"), inner_ns, out, err);
            if (rc)
                return rc;
            rc = sa_buf_append_byte(out, '}');
        }
        if (!rc)
            rc = sa_buf_append_byte(out, ']');
    } else if (strcmp(type, "enum") == 0) {
        const json_t *symbols = json_object_get(node, "symbols");
        size_t i;
        const json_t *sym;
        if (!json_is_array(symbols))
            return sa_err_set(err, SA_ESCHEMA, "enum '%s' has no \"symbols\" array",
                              full);
        rc = sa_buf_append_str(out, ",\"symbols\":[");
        json_array_foreach(symbols, i, sym)
        {
            if (!json_is_string(sym))
                return sa_err_set(err, SA_ESCHEMA,
                                  "enum '%s': symbol %zu is not a string", full, i);
            if (!rc && i)
                rc = sa_buf_append_byte(out, ',');
            if (!rc)
                rc = put_json_string(out, json_string_value(sym));
        }
        if (!rc)
            rc = sa_buf_append_byte(out, ']');
    } else { /* fixed */
        const json_t *size = json_object_get(node, "size");
        if (!json_is_integer(size))
            return sa_err_set(err, SA_ESCHEMA, "fixed '%s' has no integer \"size\"",
                              full);
        rc = sa_buf_printf(out, ",\"size\":%lld", (long long)json_integer_value(size));
    }
    if (!rc)
        rc = sa_buf_append_byte(out, '}');
    return rc ? sa_err_set(err, rc, "canonical form: %s", sa_strerror(rc)) : SA_OK;
}

static int canon(const json_t *node, const char *ns, struct sa_buf *out,
                 struct sa_err *err)
{
    int rc = SA_OK;

    if (json_is_string(node)) {
        const char *name = json_string_value(node);
        char full[512];
        if (is_primitive(name))
            rc = put_json_string(out, name);
        else if (full_name(name, ns, full, sizeof full))
            return sa_err_set(err, SA_ESCHEMA, "name '%s' is too long", name);
        else
            rc = put_json_string(out, full);
    } else if (json_is_array(node)) { /* a union */
        size_t i;
        const json_t *branch;
        rc = sa_buf_append_byte(out, '[');
        json_array_foreach(node, i, branch)
        {
            if (!rc && i)
                rc = sa_buf_append_byte(out, ',');
            if (rc)
                break;
            if ((rc = canon(branch, ns, out, err)))
                return rc;
        }
        if (!rc)
            rc = sa_buf_append_byte(out, ']');
    } else if (json_is_object(node)) {
        const json_t *type = json_object_get(node, "type");
        const char *t = json_string_value(type);
        if (!type)
            return sa_err_set(err, SA_ESCHEMA, "a schema object has no \"type\"");
        if (!t) /* {"type": {...}} or {"type": [...]} */
            return canon(type, ns, out, err);
        if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0 ||
            strcmp(t, "enum") == 0 || strcmp(t, "fixed") == 0)
            return canon_named(node, t, ns, out, err);
        if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
            int is_array = t[0] == 'a';
            const json_t *inner = json_object_get(node, is_array ? "items" : "values");
            if (!inner)
                return sa_err_set(err, SA_ESCHEMA, "%s has no \"%s\"", t,
                                  is_array ? "items" : "values");
            rc = sa_buf_append_str(out, is_array ? "{\"type\":\"array\",\"items\":"
                                                 : "{\"type\":\"map\",\"values\":");
            if (rc)
                return sa_err_set(err, rc, "canonical form: %s", sa_strerror(rc));
            if ((rc = canon(inner, ns, out, err)))
                return rc;
            rc = sa_buf_append_byte(out, '}');
        } else {
            /* A primitive with attributes (logicalType...) or a reference. */
            return canon(type, ns, out, err);
        }
    } else {
        return sa_err_set(err, SA_ESCHEMA,
                          "a schema must be a string, an object or an array");
    }
    return rc ? sa_err_set(err, rc, "canonical form: %s", sa_strerror(rc)) : SA_OK;
}

static json_t *load_json(const char *json, size_t len, struct sa_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY, &jerr);
    if (!root)
        sa_err_set(err, SA_ESCHEMA, "line %d column %d: %s", jerr.line, jerr.column,
                   jerr.text);
    return root;
}

int sa_schema_canonical_form(const char *json, struct sa_buf *out, struct sa_err *err)
{
    json_t *root = load_json(json, strlen(json), err);
    int rc;

    if (!root)
        return SA_ESCHEMA;
    sa_buf_reset(out);
    rc = canon(root, "", out, err);
    if (!rc && (rc = sa_buf_terminate(out)))
        sa_err_set(err, rc, "canonical form: %s", sa_strerror(rc));
    json_decref(root);
    return rc;
}

/* --- parsing ------------------------------------------------------------- */

/* The logical types the agent knows, on the primitive each annotates; on
 * another one the annotation is ignored, as the Avro spec says. */
static const struct {
    const char *name, *primitive;
    enum sa_logical logical;
} logical_types[] = {
    {"timestamp-millis", "long", SA_LOGICAL_TIMESTAMP_MILLIS},
    {"timestamp-micros", "long", SA_LOGICAL_TIMESTAMP_MICROS},
    {"date", "int", SA_LOGICAL_DATE},
};

static int logical_of(const json_t *type)
{
    const char *logical, *primitive;
    if (!json_is_object(type))
        return SA_LOGICAL_NONE;
    logical = json_string_value(json_object_get(type, "logicalType"));
    primitive = json_string_value(json_object_get(type, "type"));
    if (!logical || !primitive)
        return SA_LOGICAL_NONE;
    for (size_t i = 0; i < sizeof logical_types / sizeof *logical_types; i++)
        if (strcmp(logical, logical_types[i].name) == 0 &&
            strcmp(primitive, logical_types[i].primitive) == 0)
            return logical_types[i].logical;
    return SA_LOGICAL_NONE;
}

/* The field's "aliases" (strings), copied. */
static int copy_aliases(struct sa_schema_field *f, const json_t *jaliases)
{
    size_t i;
    const json_t *alias;

    if (!json_is_array(jaliases) || json_array_size(jaliases) == 0)
        return SA_OK;
    f->aliases = calloc(json_array_size(jaliases), sizeof *f->aliases);
    if (!f->aliases)
        return SA_ENOMEM;
    json_array_foreach(jaliases, i, alias)
    {
        if (!json_is_string(alias))
            continue;
        if (!(f->aliases[f->n_aliases] = strdup(json_string_value(alias))))
            return SA_ENOMEM;
        f->n_aliases++;
    }
    return SA_OK;
}

static int resolve_field(struct sa_schema_field *f, const json_t *jfield,
                         avro_schema_t ftype)
{
    const json_t *jtype = json_object_get(jfield, "type");
    const json_t *def = json_object_get(jfield, "default");

    f->type = ftype;
    f->kind = avro_typeof(ftype);
    f->value = ftype;
    f->null_branch = f->value_branch = -1;
    f->logical = logical_of(jtype);
    if (is_avro_union(ftype)) {
        size_t n = avro_schema_union_size(ftype);
        for (size_t b = 0; b < n; b++)
            if (is_avro_null(avro_schema_union_branch(ftype, (int)b))) {
                f->nullable = 1;
                f->null_branch = (int)b;
            }
        if (f->nullable && n == 2) {
            int vb = f->null_branch == 0 ? 1 : 0;
            f->value_branch = vb;
            f->value = avro_schema_union_branch(ftype, vb);
            f->kind = avro_typeof(f->value);
            f->logical = logical_of(json_array_get(jtype, (size_t)vb));
        }
    }
    if (def) {
        f->default_json = json_dumps(def, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!f->default_json)
            return SA_ENOMEM;
    }
    if (copy_aliases(f, json_object_get(jfield, "aliases")))
        return SA_ENOMEM;
    f->name = strdup(json_string_value(json_object_get(jfield, "name")));
    if (f->name)
        f->name_len = strlen(f->name);
    return f->name ? SA_OK : SA_ENOMEM;
}

static int find_field(const struct sa_schema *s, const char *name)
{
    for (size_t i = 0; i < s->n_fields; i++)
        if (strcmp(s->fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

int sa_schema_parse(const char *subject, int version, const char *json,
                    struct sa_schema **out, struct sa_err *err)
{
    struct sa_schema *s = NULL;
    json_t *root = NULL;
    const json_t *jfields;
    const char *attr;
    struct sa_buf canonical;
    int rc = SA_OK;

    *out = NULL;
    sa_buf_init(&canonical, 1 << 20);
    root = load_json(json, strlen(json), err);
    if (!root) {
        rc = SA_ESCHEMA;
        goto out;
    }
    if (!json_is_object(root) || !json_is_string(json_object_get(root, "type")) ||
        strcmp(json_string_value(json_object_get(root, "type")), "record") != 0) {
        rc = sa_err_set(err, SA_ESCHEMA, "the top level must be a record schema");
        goto out;
    }
    if ((rc = canon(root, "", &canonical, err)) || (rc = sa_buf_terminate(&canonical)))
        goto out;

    s = calloc(1, sizeof *s);
    if (!s) {
        rc = SA_ENOMEM;
        goto out;
    }
    s->version = version;
    s->key_field = s->event_time_field = s->version_field = -1;
    s->subject = strdup(subject);
    s->definition = strdup(json);
    s->canonical = strdup((const char *)canonical.data);
    if (!s->subject || !s->definition || !s->canonical) {
        rc = SA_ENOMEM;
        goto out;
    }
    s->fingerprint = sa_crc64_avro(canonical.data, canonical.len);

    if (avro_schema_from_json_length(json, strlen(json), &s->avro)) {
        s->avro = NULL;
        rc = sa_err_set(err, SA_ESCHEMA, "%s", avro_strerror());
        goto out;
    }
    s->iface = avro_generic_class_from_schema(s->avro);
    if (!s->iface) {
        rc = sa_err_set(err, SA_ESCHEMA, "%s", avro_strerror());
        goto out;
    }

    jfields = json_object_get(root, "fields");
    s->n_fields = avro_schema_record_size(s->avro);
    if (json_array_size(jfields) != s->n_fields) {
        rc = sa_err_set(err, SA_ESCHEMA, "field count differs from avro's parse");
        goto out;
    }
    s->fields = calloc(s->n_fields ? s->n_fields : 1, sizeof *s->fields);
    if (!s->fields) {
        rc = SA_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < s->n_fields; i++) {
        avro_schema_t ftype = avro_schema_record_field_get_by_index(s->avro, (int)i);
        if ((rc = resolve_field(&s->fields[i], json_array_get(jfields, i), ftype)))
            goto out;
    }

    if ((attr = json_string_value(json_object_get(root, "x-key")))) {
        s->key_field = find_field(s, attr);
        if (s->key_field < 0) {
            rc = sa_err_set(err, SA_ESCHEMA, "x-key names '%s', which is not a field",
                            attr);
            goto out;
        }
    } else if (json_object_get(root, "x-key")) {
        rc = sa_err_set(err, SA_ESCHEMA, "x-key must be a field name (a string)");
        goto out;
    }
    if ((attr = json_string_value(json_object_get(root, "x-version")))) {
        s->version_field = find_field(s, attr);
        if (s->version_field < 0) {
            rc = sa_err_set(err, SA_ESCHEMA,
                            "x-version names '%s', which is not a field", attr);
            goto out;
        }
        /* Stores compare versions as integers (ES external versions,
         * ClickHouse's _version): an int, a long or a timestamp, as is. */
        if (s->fields[s->version_field].kind != AVRO_INT64 &&
            s->fields[s->version_field].kind != AVRO_INT32) {
            rc = sa_err_set(err, SA_ESCHEMA,
                            "x-version field '%s' must be an int or a long (such as a "
                            "timestamp-millis)",
                            attr);
            goto out;
        }
    } else if (json_object_get(root, "x-version")) {
        rc = sa_err_set(err, SA_ESCHEMA, "x-version must be a field name (a string)");
        goto out;
    }
    if ((attr = json_string_value(json_object_get(root, "x-event-time")))) {
        s->event_time_field = find_field(s, attr);
        if (s->event_time_field < 0) {
            rc = sa_err_set(err, SA_ESCHEMA,
                            "x-event-time names '%s', which is not a field", attr);
            goto out;
        }
        if (s->fields[s->event_time_field].kind != AVRO_INT64) {
            rc = sa_err_set(err, SA_ESCHEMA,
                            "x-event-time field '%s' must be a long (timestamp-millis "
                            "or timestamp-micros)",
                            attr);
            goto out;
        }
    } else if (json_object_get(root, "x-event-time")) {
        rc =
            sa_err_set(err, SA_ESCHEMA, "x-event-time must be a field name (a string)");
        goto out;
    } else {
        for (size_t i = 0; i < s->n_fields && s->event_time_field < 0; i++)
            if (s->fields[i].logical == SA_LOGICAL_TIMESTAMP_MILLIS ||
                s->fields[i].logical == SA_LOGICAL_TIMESTAMP_MICROS)
                s->event_time_field = (int)i;
    }

out:
    if (rc == SA_ENOMEM)
        sa_err_set(err, rc, "out of memory");
    if (rc) {
        sa_err_prefix(err, "schema %s v%d: ", subject, version);
        sa_schema_free(s);
    } else {
        *out = s;
    }
    json_decref(root);
    sa_buf_fini(&canonical);
    return rc;
}

void sa_schema_normalize_name(const char *name, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t n = 0, left = strlen(name);
    int owed = 0; /* a '_' is owed before the next letter or digit */

    if (!size)
        return;
    while (left) {
        unsigned char c = *p;
        size_t seq = sa_utf8_seq_len(p, left);
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            /* The '_' and the character fit both, or neither is written,
             * so that a cut name never ends in '_'. */
            if (n + (size_t)owed + 1 >= size)
                break;
            if (owed)
                out[n++] = '_';
            out[n++] = (char)c;
            owed = 0;
        } else {
            /* One character (a UTF-8 sequence, or a byte that starts
             * none) is one separator; runs of them and the ends are
             * dropped below. */
            owed = n > 0;
        }
        seq = seq ? seq : 1;
        p += seq;
        left -= seq;
    }
    out[n] = '\0';
}

int sa_schema_missing_required(const struct sa_schema *schema, const int *present,
                               struct sa_err *err)
{
    for (size_t i = 0; i < schema->n_fields; i++) {
        const struct sa_schema_field *f = &schema->fields[i];
        if (!present[i] && !f->nullable && !f->default_json)
            return sa_err_set(err, SA_ESCHEMA,
                              "no column for field '%s' of schema %s:v%d, which is "
                              "neither nullable nor has a default",
                              f->name, schema->subject, schema->version);
    }
    return SA_OK;
}

int sa_schema_field_for_header(const struct sa_schema *schema, const char *header,
                               enum sa_header_match *how)
{
    char want[256], have[256];

    *how = SA_MATCH_NONE;
    for (size_t i = 0; i < schema->n_fields; i++)
        if (strcmp(schema->fields[i].name, header) == 0) {
            *how = SA_MATCH_NAME;
            return (int)i;
        }
    for (size_t i = 0; i < schema->n_fields; i++)
        for (size_t a = 0; a < schema->fields[i].n_aliases; a++)
            if (strcmp(schema->fields[i].aliases[a], header) == 0) {
                *how = SA_MATCH_ALIAS;
                return (int)i;
            }
    /* Names longer than the buffers are not cut to a false match. */
    if (strlen(header) >= sizeof want)
        return -1;
    sa_schema_normalize_name(header, want, sizeof want);
    for (size_t i = 0; i < schema->n_fields; i++) {
        if (strlen(schema->fields[i].name) >= sizeof have)
            continue;
        sa_schema_normalize_name(schema->fields[i].name, have, sizeof have);
        if (strcmp(have, want) == 0) {
            *how = SA_MATCH_NORMALIZED;
            return (int)i;
        }
    }
    return -1;
}

void sa_schema_free(struct sa_schema *schema)
{
    if (!schema)
        return;
    for (size_t i = 0; schema->fields && i < schema->n_fields; i++) {
        free(schema->fields[i].name);
        free(schema->fields[i].default_json);
        for (size_t a = 0; a < schema->fields[i].n_aliases; a++)
            free(schema->fields[i].aliases[a]);
        free(schema->fields[i].aliases);
    }
    free(schema->fields);
    free(schema->reader_from);
    if (schema->iface)
        avro_value_iface_decref(schema->iface);
    if (schema->avro)
        avro_schema_decref(schema->avro);
    free(schema->subject);
    free(schema->definition);
    free(schema->canonical);
    free(schema);
}

/* --- cache by spool id ---------------------------------------------------- */

struct sa_schema_cache {
    struct sa_schema **v;
    size_t n, cap;
};

struct sa_schema_cache *sa_schema_cache_new(void)
{
    return calloc(1, sizeof(struct sa_schema_cache));
}

void sa_schema_cache_free(struct sa_schema_cache *cache)
{
    if (!cache)
        return;
    for (size_t i = 0; i < cache->n; i++)
        sa_schema_free(cache->v[i]);
    free(cache->v);
    free(cache);
}

int sa_schema_cache_get(struct sa_schema_cache *cache, struct sa_spool *spool,
                        int64_t schema_id, const struct sa_schema **out,
                        struct sa_err *err)
{
    char *subject = NULL, *definition = NULL;
    struct sa_schema *s = NULL;
    int version = 0, rc;

    *out = NULL;
    /* A spool holds a handful of schemas: a linear scan beats hashing. */
    for (size_t i = 0; i < cache->n; i++)
        if (cache->v[i]->id == schema_id) {
            *out = cache->v[i];
            return SA_OK;
        }
    rc = sa_spool_schema_get(spool, schema_id, &subject, &version, &definition, err);
    if (rc)
        goto out;
    if ((rc = sa_schema_parse(subject, version, definition, &s, err)))
        goto out;
    s->id = schema_id;
    if (cache->n == cache->cap) {
        size_t cap = cache->cap ? cache->cap * 2 : 8;
        struct sa_schema **v = realloc(cache->v, cap * sizeof *v);
        if (!v) {
            rc = sa_err_set(err, SA_ENOMEM, "schema cache: out of memory");
            goto out;
        }
        cache->v = v;
        cache->cap = cap;
    }
    cache->v[cache->n++] = s;
    *out = s;
    s = NULL;
out:
    sa_schema_free(s);
    free(subject);
    free(definition);
    return rc;
}

int sa_schema_reader_field(const struct sa_schema *writer,
                           const struct sa_schema *reader, size_t j)
{
    const struct sa_schema_field *rf = &reader->fields[j];

    if (j < writer->n_fields && strcmp(writer->fields[j].name, rf->name) == 0)
        return (int)j;
    for (size_t i = 0; i < writer->n_fields; i++) {
        if (strcmp(writer->fields[i].name, rf->name) == 0)
            return (int)i;
        for (size_t a = 0; a < rf->n_aliases; a++)
            if (strcmp(writer->fields[i].name, rf->aliases[a]) == 0)
                return (int)i;
    }
    return -1;
}

int sa_schema_link_reader(struct sa_schema *writer, const struct sa_schema *reader)
{
    int *from = NULL, last = -1;

    if (writer->reader == reader && (!reader || writer->reader_from))
        return SA_OK;
    if (reader &&
        !(from = malloc((reader->n_fields ? reader->n_fields : 1) * sizeof *from)))
        return SA_ENOMEM;
    free(writer->reader_from);
    writer->reader_from = from;
    writer->reader = reader;
    writer->reader_in_order = 1;
    for (size_t j = 0; reader && j < reader->n_fields; j++) {
        from[j] = sa_schema_reader_field(writer, reader, j);
        if (from[j] >= 0 && from[j] <= last)
            writer->reader_in_order = 0;
        if (from[j] >= 0)
            last = from[j];
    }
    return SA_OK;
}

int sa_schema_cache_get_resolved(struct sa_schema_cache *cache, struct sa_spool *spool,
                                 int64_t schema_id, const struct sa_schema **out,
                                 struct sa_err *err)
{
    const struct sa_schema *writer, *reader;
    int64_t newest = 0;
    int rc;

    if ((rc = sa_schema_cache_get(cache, spool, schema_id, &writer, err)))
        return rc;
    *out = writer;
    if ((rc = sa_spool_schema_newest(spool, writer->subject, &newest, err)))
        return rc;
    if (newest == writer->id)
        reader = NULL;
    else if ((rc = sa_schema_cache_get(cache, spool, newest, &reader, err)))
        return rc;
    /* The cache owns both; the writer is only reachable const from here. */
    for (size_t i = 0; i < cache->n; i++)
        if (cache->v[i] == writer &&
            sa_schema_link_reader(cache->v[i],
                                  reader && reader->version > writer->version ? reader
                                                                              : NULL))
            return sa_err_set(err, SA_ENOMEM, "schema cache: out of memory");
    return SA_OK;
}
