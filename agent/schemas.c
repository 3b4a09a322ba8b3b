/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The schema set (agent/schemas.h): schemas/<subject>/v<N>.avsc, parsed,
 * sorted by subject and version, each version checked against the one
 * before it under the compatibility mode (DESIGN.md §6).
 *
 * Compatibility is avro-c's schema resolution (avro_resolved_writer_new),
 * with one rule added that avro-c 1.11 lacks: a reader field that the
 * writer does not have is fine when it has a default (the Avro spec says
 * the reader then uses the default; avro-c refuses such a field with
 * "Reader field x doesn't appear in writer"). So before asking avro-c, the
 * top-level reader fields that the writer lacks and that carry a default
 * are removed from the reader; avro-c judges the rest.
 */
#include "agent/schemas.h"

#include "store/spool.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_SCHEMA_FILE (1 << 20)

static int read_file(const char *path, char **out, struct sa_err *err)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t n = 0;
    int rc = SA_OK;

    *out = NULL;
    if (!f)
        return sa_err_set(err, SA_EIO, "%s: %s", path, strerror(errno));
    text = malloc(MAX_SCHEMA_FILE + 1);
    if (!text) {
        rc = sa_err_set(err, SA_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    n = fread(text, 1, MAX_SCHEMA_FILE + 1, f);
    if (ferror(f)) {
        rc = sa_err_set(err, SA_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (n > MAX_SCHEMA_FILE) {
        rc = sa_err_set(err, SA_ETOOBIG, "%s: larger than %d bytes", path,
                        MAX_SCHEMA_FILE);
        goto out;
    }
    text[n] = '\0';
    *out = text;
    text = NULL;
out:
    free(text);
    fclose(f);
    return rc;
}

/* "v12.avsc" -> 12; -1 for any other name. */
static int version_of(const char *name)
{
    long v = 0;
    size_t i = 1, len = strlen(name);

    if (len < 7 || name[0] != 'v' || strcmp(name + len - 5, ".avsc") != 0)
        return -1;
    for (; i < len - 5; i++) {
        if (name[i] < '0' || name[i] > '9' || v > 100000)
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    return i == 1 || v < 1 ? -1 : (int)v;
}

static int cmp_schema(const void *a, const void *b)
{
    const struct sa_schema *x = *(struct sa_schema *const *)a;
    const struct sa_schema *y = *(struct sa_schema *const *)b;
    int c = strcmp(x->subject, y->subject);
    return c ? c : (x->version > y->version) - (x->version < y->version);
}

static int push(struct sa_schema_set *set, size_t *cap, struct sa_schema *s)
{
    if (set->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct sa_schema **v = realloc(set->v, ncap * sizeof *v);
        if (!v)
            return SA_ENOMEM;
        set->v = v;
        *cap = ncap;
    }
    set->v[set->n++] = s;
    return SA_OK;
}

/* Reader JSON without the top-level fields that the writer lacks and that
 * have a default. NULL when nothing needs removing (or on failure). */
static char *reader_without_defaulted(const struct sa_schema *reader,
                                      const struct sa_schema *writer)
{
    json_t *root = json_loads(reader->definition, 0, NULL);
    json_t *fields = json_object_get(root, "fields");
    char *text = NULL;
    int removed = 0;

    for (size_t i = json_array_size(fields); i-- > 0;) {
        json_t *f = json_array_get(fields, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        int in_writer = 0;
        for (size_t w = 0; name && w < writer->n_fields; w++)
            if (strcmp(writer->fields[w].name, name) == 0)
                in_writer = 1;
        if (name && !in_writer && json_object_get(f, "default")) {
            json_array_remove(fields, i);
            removed = 1;
        }
    }
    if (removed)
        text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

static const char *logical_name(int logical)
{
    switch (logical) {
    case SA_LOGICAL_TIMESTAMP_MILLIS:
        return "timestamp-millis";
    case SA_LOGICAL_TIMESTAMP_MICROS:
        return "timestamp-micros";
    case SA_LOGICAL_DATE:
        return "date";
    default:
        return "no logical type";
    }
}

/* A field both have must not change its unit: avro-c resolves a
 * timestamp-millis long into a timestamp-micros one (both are longs), and
 * every value would then be read a thousand times off. Annotating a plain
 * type (or dropping the annotation) keeps the values and is allowed. */
static int same_logical_types(const struct sa_schema *reader,
                              const struct sa_schema *writer, char *why, size_t why_len)
{
    for (size_t r = 0; r < reader->n_fields; r++)
        for (size_t w = 0; w < writer->n_fields; w++) {
            const struct sa_schema_field *rf = &reader->fields[r],
                                         *wf = &writer->fields[w];
            if (strcmp(rf->name, wf->name) != 0 || rf->logical == wf->logical ||
                rf->logical == SA_LOGICAL_NONE || wf->logical == SA_LOGICAL_NONE)
                continue;
            if (why && why_len)
                snprintf(why, why_len,
                         "field '%s' is %s in the writer, %s in the reader", rf->name,
                         logical_name(wf->logical), logical_name(rf->logical));
            return 0;
        }
    return 1;
}

int sa_schema_can_read(const struct sa_schema *reader, const struct sa_schema *writer,
                       char *why, size_t why_len)
{
    avro_value_iface_t *resolved;
    avro_schema_t reduced = NULL;
    char *reduced_json;
    int ok;

    if (!same_logical_types(reader, writer, why, why_len))
        return 0;
    resolved = avro_resolved_writer_new(writer->avro, reader->avro);
    if (!resolved && (reduced_json = reader_without_defaulted(reader, writer))) {
        if (avro_schema_from_json_length(reduced_json, strlen(reduced_json),
                                         &reduced) == 0)
            resolved = avro_resolved_writer_new(writer->avro, reduced);
        else
            reduced = NULL;
        free(reduced_json);
    }
    ok = resolved != NULL;
    if (!ok && why && why_len) {
        snprintf(why, why_len, "%s", avro_strerror());
        /* avro-c ends some messages with a newline */
        why[strcspn(why, "\n")] = '\0';
    }
    if (resolved)
        avro_value_iface_decref(resolved);
    if (reduced)
        avro_schema_decref(reduced);
    return ok;
}

static const char *compat_name(enum sa_compat compat)
{
    switch (compat) {
    case SA_COMPAT_BACKWARD:
        return "BACKWARD";
    case SA_COMPAT_FORWARD:
        return "FORWARD";
    case SA_COMPAT_FULL:
        return "FULL";
    default:
        return "NONE";
    }
}

static int check_compat(const char *dir, const struct sa_schema *prev,
                        const struct sa_schema *next, enum sa_compat compat,
                        struct sa_err *err)
{
    char why[200];

    if (compat == SA_COMPAT_NONE)
        return SA_OK;
    if ((compat == SA_COMPAT_BACKWARD || compat == SA_COMPAT_FULL) &&
        !sa_schema_can_read(next, prev, why, sizeof why))
        return sa_err_set(err, SA_ESCHEMA,
                          "%s/%s/v%d.avsc: not %s compatible with v%d: v%d cannot read "
                          "v%d data: %s",
                          dir, next->subject, next->version, compat_name(compat),
                          prev->version, next->version, prev->version, why);
    if ((compat == SA_COMPAT_FORWARD || compat == SA_COMPAT_FULL) &&
        !sa_schema_can_read(prev, next, why, sizeof why))
        return sa_err_set(err, SA_ESCHEMA,
                          "%s/%s/v%d.avsc: not %s compatible with v%d: v%d cannot read "
                          "v%d data: %s",
                          dir, next->subject, next->version, compat_name(compat),
                          prev->version, prev->version, next->version, why);
    return SA_OK;
}

static int load_subject(const char *dir, const char *subject, struct sa_schema_set *set,
                        size_t *cap, struct sa_err *err)
{
    char path[4096];
    DIR *d;
    struct dirent *e;
    int rc = SA_OK;

    snprintf(path, sizeof path, "%s/%s", dir, subject);
    d = opendir(path);
    if (!d)
        return sa_err_set(err, SA_EIO, "%s: %s", path, strerror(errno));
    while (!rc && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        int version;
        char *text = NULL;
        struct sa_schema *s = NULL;

        if (len < 5 || strcmp(e->d_name + len - 5, ".avsc") != 0)
            continue; /* READMEs and the like */
        version = version_of(e->d_name);
        snprintf(path, sizeof path, "%s/%s/%s", dir, subject, e->d_name);
        if (version < 0) {
            rc = sa_err_set(err, SA_ESCHEMA,
                            "%s: schema files are named v<N>.avsc, N >= 1", path);
            break;
        }
        if ((rc = read_file(path, &text, err)))
            break;
        rc = sa_schema_parse(subject, version, text, &s, err);
        free(text);
        if (rc) {
            sa_err_prefix(err, "%s: ", path);
            break;
        }
        if ((rc = push(set, cap, s))) {
            sa_schema_free(s);
            sa_err_set(err, rc, "%s: out of memory", path);
        }
    }
    closedir(d);
    return rc;
}

int sa_schemas_load(const char *dir, enum sa_compat compat, struct sa_schema_set **out,
                    struct sa_err *err)
{
    struct sa_schema_set *set = calloc(1, sizeof *set);
    size_t cap = 0;
    DIR *d = NULL;
    struct dirent *e;
    int rc = SA_OK;

    *out = NULL;
    if (!set)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    d = opendir(dir);
    if (!d) {
        /* Missing or not a directory: the config's agent.schemas_dir is
         * wrong, bad input (exit 2), not a failure of the machine. */
        rc = sa_err_set(err,
                        errno == ENOENT || errno == ENOTDIR || errno == EACCES
                            ? SA_ECONFIG
                            : SA_EIO,
                        "schemas directory %s: %s", dir, strerror(errno));
        goto out;
    }
    while ((e = readdir(d))) {
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if ((rc = load_subject(dir, e->d_name, set, &cap, err)))
            goto out;
    }
    qsort(set->v, set->n, sizeof *set->v, cmp_schema);
    for (size_t i = 1; i < set->n; i++)
        if (strcmp(set->v[i - 1]->subject, set->v[i]->subject) == 0 &&
            (rc = check_compat(dir, set->v[i - 1], set->v[i], compat, err)))
            goto out;
out:
    if (d)
        closedir(d);
    if (rc)
        sa_schemas_free(set);
    else
        *out = set;
    return rc;
}

void sa_schemas_free(struct sa_schema_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        sa_schema_free(set->v[i]);
    free(set->v);
    free(set);
}

const struct sa_schema *sa_schemas_find(const struct sa_schema_set *set,
                                        const char *subject, int version)
{
    const struct sa_schema *best = NULL;

    for (size_t i = 0; set && i < set->n; i++) {
        if (strcmp(set->v[i]->subject, subject) != 0)
            continue;
        if (version == 0 || set->v[i]->version == version)
            best = set->v[i]; /* sorted: the last match is the newest */
    }
    return best;
}

/* "a, b, c" of the distinct subjects (or of subject's versions). */
static void list_known(const struct sa_schema_set *set, const char *subject, char *out,
                       size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; set && i < set->n && used < size; i++) {
        const struct sa_schema *s = set->v[i];
        int n;
        if (subject ? strcmp(s->subject, subject) != 0
                    : (i > 0 && strcmp(set->v[i - 1]->subject, s->subject) == 0))
            continue;
        if (subject)
            n = snprintf(out + used, size - used, "%sv%d", used ? ", " : "",
                         s->version);
        else
            n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", s->subject);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

const struct sa_schema *sa_schemas_lookup(const struct sa_schema_set *set,
                                          const char *spec, struct sa_err *err)
{
    char subject[256], known[160];
    const char *colon = strchr(spec, ':');
    const struct sa_schema *s;
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    long version = 0;

    if (len == 0 || len >= sizeof subject) {
        sa_err_set(err, SA_ESCHEMA, "bad schema name '%s'", spec);
        return NULL;
    }
    memcpy(subject, spec, len);
    subject[len] = '\0';
    if (colon) {
        const char *v = colon + 1;
        char *end;
        if (*v == 'v' || *v == 'V')
            v++;
        errno = 0;
        version = strtol(v, &end, 10);
        if (*v < '0' || *v > '9' || *end || errno || version < 1 || version > 1000000) {
            sa_err_set(
                err, SA_ESCHEMA,
                "bad schema version in '%s' (use subject, subject:vN or subject:N)",
                spec);
            return NULL;
        }
    }
    s = sa_schemas_find(set, subject, (int)version);
    if (s)
        return s;
    if (sa_schemas_find(set, subject, 0)) {
        list_known(set, subject, known, sizeof known);
        sa_err_set(err, SA_ESCHEMA, "schema '%s' has no version %ld (known: %s)",
                   subject, version, known);
    } else {
        list_known(set, NULL, known, sizeof known);
        sa_err_set(err, SA_ESCHEMA, "unknown schema '%s' (known: %s)", subject,
                   known[0] ? known : "none");
    }
    return NULL;
}

int sa_schemas_store(struct sa_schema_set *set, struct sa_spool *spool,
                     struct sa_err *err)
{
    for (size_t i = 0; i < set->n; i++) {
        struct sa_schema *s = set->v[i];
        int rc = sa_spool_schema_put(spool, s->subject, s->version, s->fingerprint,
                                     s->definition, &s->id, err);
        if (rc) {
            sa_err_prefix(err, "schema %s v%d: ", s->subject, s->version);
            return rc;
        }
    }
    return SA_OK;
}

int sa_schemas_check_stored(const struct sa_schema_set *set, struct sa_spool *spool,
                            struct sa_err *err)
{
    for (size_t i = 0; i < set->n; i++) {
        const struct sa_schema *s = set->v[i];
        int rc = sa_spool_schema_check(spool, s->subject, s->version, s->fingerprint,
                                       s->definition, err);
        if (rc) {
            sa_err_prefix(err, "schema %s v%d: ", s->subject, s->version);
            return rc;
        }
    }
    return SA_OK;
}
