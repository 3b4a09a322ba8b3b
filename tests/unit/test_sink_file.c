/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file sink, driven by the dispatcher from a real spool in a temporary
 * directory: NDJSON lines compared record by record with what was spooled
 * (fields and identity), rotation into several files, Avro container
 * files read back with avro-c's reader next to their .ids sidecars, a
 * poison record dead-lettered, and a bad path refused at start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/base/buf.h"
#include "agent/base/clock.h"
#include "store/schema.h"
#include "store/spool.h"
#include "sync/dispatcher.h"
#include "tests/tempdir.h"

#include <avro.h>
#include <dirent.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PER_SEGMENT 5

extern const struct sa_sink_ops sa_sink_file_ops;

static const char *const schema_v1 =
    "{\"type\":\"record\",\"name\":\"Reading\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},"
    "{\"name\":\"name\",\"type\":\"string\"}]}";
static const char *const schema_v2 =
    "{\"type\":\"record\",\"name\":\"Reading\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},"
    "{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"unit\",\"type\":\"string\",\"default\":\"C\"}]}";

struct fixture {
    char dir[256];
    char spool_path[300];
    char out_dir[300];
    struct sa_spool_opts opts;
    struct sa_spool *spool;
    int64_t schema_id[3]; /* by version */
    uint64_t first_seq;
    int64_t n_spooled;
    void *sink_opts;
    struct sa_sink_conf conf;
};

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void put_schema(struct fixture *f, int version, const char *json)
{
    struct sa_schema *schema = NULL;
    struct sa_err err = {0};
    assert_int_equal(sa_schema_parse("reading", version, json, &schema, &err),
                     SA_OK);
    assert_int_equal(sa_spool_schema_put(f->spool, "reading", version,
                                         schema->fingerprint, schema->definition,
                                         &f->schema_id[version], &err),
                     SA_OK);
    sa_schema_free(schema);
}

/* Set one of the sink's options through its config map, as config.c would. */
static void set_opt(struct fixture *f, const char *key, const char *value)
{
    const struct sa_conf_entry *e = sa_sink_file_ops.conf;
    char *field;

    while (e->key && strcmp(e->key, key) != 0)
        e++;
    assert_non_null(e->key);
    field = (char *)f->sink_opts + e->offset;
    switch (e->type) {
    case SA_CONF_STR:
        free(*(char **)field);
        *(char **)field = strdup(value);
        break;
    case SA_CONF_ENUM: {
        int i = 0;
        while (e->symbols[i] && strcmp(e->symbols[i], value) != 0)
            i++;
        assert_non_null(e->symbols[i]);
        *(int *)field = i;
        break;
    }
    case SA_CONF_SIZE:
        *(int64_t *)field = strtoll(value, NULL, 10);
        break;
    case SA_CONF_BOOL:
        *(int *)field = strcmp(value, "true") == 0;
        break;
    default:
        fail_msg("unexpected option type for %s", key);
    }
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct sa_err err = {0};

    assert_non_null(f);
    assert_non_null(sa_test_mkdtemp(f->dir, sizeof f->dir, "sa_sink_file_"));
    snprintf(f->spool_path, sizeof f->spool_path, "%s/spool.db", f->dir);
    snprintf(f->out_dir, sizeof f->out_dir, "%s/out", f->dir);
    f->opts.path = f->spool_path;
    assert_int_equal(sa_spool_open(&f->spool, &f->opts, SA_SPOOL_CREATE, &err),
                     SA_OK);
    put_schema(f, 1, schema_v1);
    put_schema(f, 2, schema_v2);
    f->sink_opts = calloc(1, sa_sink_file_ops.opts_size);
    assert_non_null(f->sink_opts);
    set_opt(f, "path", f->out_dir);
    set_opt(f, "format", "ndjson");
    set_opt(f, "rotate_bytes", "67108864");
    set_opt(f, "fsync", "true");
    f->conf = (struct sa_sink_conf){
        .name = "files", .type = "file", .retry_initial_ms = 1,
        .retry_max_ms = 20, .max_in_flight = 1000, .ops = &sa_sink_file_ops,
        .opts = f->sink_opts};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    const struct sa_conf_entry *e;

    for (e = sa_sink_file_ops.conf; e->key; e++)
        if (e->type == SA_CONF_STR)
            free(*(char **)((char *)f->sink_opts + e->offset));
    free(f->sink_opts);
    sa_spool_close(f->spool);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Avro body of record `id`: id, "name-<id>", and for v2 unit "K". A poison
 * record has its string cut short. */
static size_t make_body(uint8_t *out, int64_t id, int version, int poison)
{
    char name[32];
    size_t n = 0, len;

    n += sa_varint_encode(out + n, sa_zigzag_encode(id));
    len = (size_t)snprintf(name, sizeof name, "name-%lld", (long long)id);
    n += sa_varint_encode(out + n, sa_zigzag_encode((int64_t)len + (poison ? 20 : 0)));
    memcpy(out + n, name, len);
    n += len;
    if (version == 2) {
        n += sa_varint_encode(out + n, sa_zigzag_encode(1));
        out[n++] = 'K';
    }
    return n;
}

/* Spool records [n_spooled, n_spooled + n) with the schema version given;
 * record `poison_id` gets a damaged body, every 7th is a delete. */
static void spool_records(struct fixture *f, int64_t n, int version,
                          int64_t poison_id)
{
    while (n > 0) {
        struct sa_segment_builder b;
        struct sa_segment_builder *segs[1] = {&b};
        struct sa_commit commit = {.segments = segs, .n_segments = 1};
        struct sa_commit_result res;
        struct sa_err err = {0};

        assert_int_equal(sa_segment_builder_init(&b, "reading",
                                                 f->schema_id[version], 1 << 20),
                         SA_OK);
        for (int i = 0; i < PER_SEGMENT && n > 0; i++, n--) {
            uint8_t body[64];
            int64_t id = f->n_spooled++;
            size_t len = make_body(body, id, version, id == poison_id);
            assert_int_equal(sa_segment_add(&b, 1700000000000 + id, NULL, 0,
                                            id % 7 == 3 ? SA_OP_DELETE : SA_OP_UPSERT,
                                            body, len),
                             SA_OK);
        }
        assert_int_equal(sa_spool_commit(f->spool, &commit, &res, &err), SA_OK);
        if (f->first_seq == 0)
            f->first_seq = res.first_seq;
        sa_segment_builder_fini(&b);
    }
}

static void run_sink(struct fixture *f)
{
    struct sa_dispatcher *d = NULL;
    struct sa_dispatcher_opts opts = {.spool = &f->opts, .sinks = &f->conf,
                                      .n_sinks = 1};
    struct sa_err err = {0};
    int64_t until = sa_mono_ms() + 10000;

    if (sa_dispatcher_start(&d, &opts, &err))
        fail_msg("sa_dispatcher_start: %s", err.msg);
    while (!sa_dispatcher_caught_up(d)) {
        if (sa_mono_ms() > until) {
            sa_dispatcher_stop(d, 0);
            fail_msg("file sink not caught up");
        }
        sa_sleep_ms(5);
    }
    sa_dispatcher_stop(d, 1000);
}

/* Files in the output directory ending in suffix, in the order they were
 * created: by the UTC time in the name, then by the <n> before the suffix
 * (<n> starts again at every sink start, so it alone does not order files
 * of two runs). */
struct file_list {
    char names[64][256];
    size_t n;
};

static long name_counter(const char *name, const char *suffix)
{
    size_t len = strlen(name) - strlen(suffix);
    const char *p = name + len;
    while (p > name && p[-1] >= '0' && p[-1] <= '9')
        p--;
    return strtol(p, NULL, 10);
}

/* The UTC time in a name: the 16 characters before "-<n><suffix>". */
static const char *name_stamp(const char *name, const char *suffix)
{
    size_t len = strlen(name) - strlen(suffix);
    while (len > 0 && name[len - 1] >= '0' && name[len - 1] <= '9')
        len--;
    assert_true(len >= 17 && name[len - 1] == '-');
    return name + len - 17;
}

/* <0 when a was created before b. */
static int created_before(const char *a, const char *b, const char *suffix)
{
    int c = strncmp(name_stamp(a, suffix), name_stamp(b, suffix), 16);
    if (c == 0) {
        long na = name_counter(a, suffix), nb = name_counter(b, suffix);
        c = na < nb ? -1 : na > nb;
    }
    return c;
}

static void list_files(struct fixture *f, const char *suffix,
                       struct file_list *out)
{
    DIR *dir = opendir(f->out_dir);
    struct dirent *de;

    assert_non_null(dir);
    out->n = 0;
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name), sl = strlen(suffix);
        if (len > sl && strcmp(de->d_name + len - sl, suffix) == 0) {
            assert_true(out->n < 64);
            snprintf(out->names[out->n++], sizeof out->names[0], "%s", de->d_name);
        }
    }
    closedir(dir);
    /* insertion sort, oldest first */
    for (size_t i = 1; i < out->n; i++)
        for (size_t j = i; j > 0 && created_before(out->names[j], out->names[j - 1],
                                                   suffix) < 0;
             j--) {
            char tmp[256];
            memcpy(tmp, out->names[j], sizeof tmp);
            memcpy(out->names[j], out->names[j - 1], sizeof tmp);
            memcpy(out->names[j - 1], tmp, sizeof tmp);
        }
}

static FILE *open_out(struct fixture *f, const char *name, const char *suffix)
{
    char path[600];
    FILE *fp;
    snprintf(path, sizeof path, "%s/%s%s", f->out_dir, name, suffix);
    fp = fopen(path, "r");
    if (!fp)
        fail_msg("cannot open %s", path);
    return fp;
}

/* Check one identity object (an NDJSON line or a .ids line) against
 * record `id`; returns the parsed object for more checks. */
static json_t *check_identity(struct fixture *f, const char *line, int64_t id)
{
    json_error_t jerr;
    json_t *obj = json_loads(line, 0, &jerr);
    if (!obj)
        fail_msg("line for record %lld is not JSON: %s", (long long)id, jerr.text);
    assert_string_equal(json_string_value(json_object_get(obj, "_origin_id")),
                        sa_spool_origin_id(f->spool));
    assert_int_equal(json_integer_value(json_object_get(obj, "_seq")),
                     (json_int_t)(f->first_seq + (uint64_t)id));
    assert_string_equal(json_string_value(json_object_get(obj, "_op")),
                        id % 7 == 3 ? "delete" : "upsert");
    return obj;
}

/* Read every NDJSON line in creation order, checking record `next` each
 * time; returns the number of lines. */
static int64_t check_ndjson(struct fixture *f, struct file_list *files,
                            int64_t skip_id)
{
    int64_t next = 0;
    char line[4096];

    list_files(f, ".ndjson", files);
    for (size_t i = 0; i < files->n; i++) {
        FILE *fp = open_out(f, files->names[i], "");
        assert_int_equal(strncmp(files->names[i], "reading-", 8), 0);
        while (fgets(line, sizeof line, fp)) {
            char name[32];
            json_t *obj;
            if (next == skip_id)
                next++;
            assert_non_null(strchr(line, '\n'));
            obj = check_identity(f, line, next);
            snprintf(name, sizeof name, "name-%lld", (long long)next);
            assert_int_equal(json_integer_value(json_object_get(obj, "id")), next);
            assert_string_equal(json_string_value(json_object_get(obj, "name")), name);
            /* id, name, the identity, _version (segments built here take
             * their event time as it) and unit: every line has v2's
             * shape, v1 records its default (sa_sink_schema resolves). */
            assert_int_equal(json_object_size(obj), 7);
            assert_int_equal(json_integer_value(json_object_get(obj, "_version")),
                             1700000000000 + next);
            {
                const char *unit = json_string_value(json_object_get(obj, "unit"));
                assert_non_null(unit);
                assert_true(strcmp(unit, "C") == 0 || strcmp(unit, "K") == 0);
            }
            json_decref(obj);
            next++;
        }
        fclose(fp);
    }
    return next;
}

static int64_t deadletters(struct fixture *f)
{
    struct sa_spool_status st;
    struct sa_err err = {0};
    int64_t n;
    assert_int_equal(sa_spool_status(f->spool, &st, &err), SA_OK);
    n = st.deadletters;
    sa_spool_status_fini(&st);
    return n;
}

/* --- tests -------------------------------------------------------------- */

static void test_conf_map(void **state)
{
    const struct sa_conf_entry *e = sa_sink_file_ops.conf;
    const char *keys[] = {"path", "format", "rotate_bytes", "fsync"};
    const char *defs[] = {NULL, "ndjson", "64MiB", "true"};

    (void)state;
    assert_string_equal(sa_sink_file_ops.name, "file");
    assert_ptr_equal(sa_sink_type_find("file"), &sa_sink_file_ops);
    for (size_t i = 0; i < 4; i++, e++) {
        assert_non_null(e->key);
        assert_string_equal(e->key, keys[i]);
        if (defs[i])
            assert_string_equal(e->def, defs[i]);
        else
            assert_true(e->flags & SA_CONF_REQUIRED);
        assert_true(e->offset < sa_sink_file_ops.opts_size);
    }
    assert_null(e->key);
}

static void test_ndjson_lines(void **state)
{
    struct fixture *f = *state;
    struct file_list files;

    spool_records(f, 50, 1, -1);
    run_sink(f);
    assert_int_equal(check_ndjson(f, &files, -1), 50);
    assert_int_equal(files.n, 1);
    assert_int_equal(deadletters(f), 0);

    /* More records after a restart go to a new file, none repeated. */
    spool_records(f, 10, 1, -1);
    run_sink(f);
    assert_int_equal(check_ndjson(f, &files, -1), 60);
    assert_int_equal(files.n, 2);
}

static void test_ndjson_rotation(void **state)
{
    struct fixture *f = *state;
    struct file_list files;

    set_opt(f, "rotate_bytes", "400");
    set_opt(f, "fsync", "false");
    spool_records(f, 60, 1, -1);
    run_sink(f);
    assert_int_equal(check_ndjson(f, &files, -1), 60);
    assert_true(files.n >= 5);
    for (size_t i = 0; i < files.n; i++) {
        char path[600];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", f->out_dir, files.names[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size > 0);
        assert_true(st.st_size <= 400);
    }
}

static void test_poison_is_dead_lettered(void **state)
{
    struct fixture *f = *state;
    struct file_list files;

    spool_records(f, 20, 1, 12);
    run_sink(f);
    assert_int_equal(check_ndjson(f, &files, 12), 20);
    assert_int_equal(deadletters(f), 1);
}

static void test_avro_files(void **state)
{
    struct fixture *f = *state;
    struct file_list files;
    int64_t next = 0;

    set_opt(f, "format", "avro");
    set_opt(f, "rotate_bytes", "200");
    spool_records(f, 30, 1, -1);
    spool_records(f, 20, 2, 41);
    run_sink(f);
    assert_int_equal(deadletters(f), 1);

    list_files(f, ".avro", &files);
    assert_true(files.n >= 3);
    for (size_t i = 0; i < files.n; i++) {
        char path[600], line[512];
        avro_file_reader_t reader;
        avro_schema_t wschema;
        avro_value_iface_t *iface;
        avro_value_t value;
        FILE *ids = open_out(f, files.names[i], ".ids");
        int version = strncmp(files.names[i], "reading-v2-", 11) == 0 ? 2 : 1;
        int64_t in_file = 0;

        assert_true(version == 2 || strncmp(files.names[i], "reading-v1-", 11) == 0);
        snprintf(path, sizeof path, "%s/%s", f->out_dir, files.names[i]);
        if (avro_file_reader(path, &reader))
            fail_msg("avro_file_reader %s: %s", path, avro_strerror());
        wschema = avro_file_reader_get_writer_schema(reader);
        assert_int_equal(avro_schema_record_size(wschema), version == 2 ? 3 : 2);
        iface = avro_generic_class_from_schema(wschema);
        assert_int_equal(avro_generic_value_new(iface, &value), 0);
        while (avro_file_reader_read_value(reader, &value) == 0) {
            avro_value_t field;
            int64_t id;
            const char *name;
            size_t name_size;
            char want[32];
            json_t *obj;

            if (next == 41)
                next++;
            assert_true(version == (next >= 30 ? 2 : 1));
            assert_int_equal(avro_value_get_by_name(&value, "id", &field, NULL), 0);
            assert_int_equal(avro_value_get_long(&field, &id), 0);
            assert_int_equal(id, next);
            assert_int_equal(avro_value_get_by_name(&value, "name", &field, NULL), 0);
            assert_int_equal(avro_value_get_string(&field, &name, &name_size), 0);
            snprintf(want, sizeof want, "name-%lld", (long long)next);
            assert_string_equal(name, want);
            /* the sidecar line of the same record */
            assert_non_null(fgets(line, sizeof line, ids));
            obj = check_identity(f, line, next);
            json_decref(obj);
            next++;
            in_file++;
        }
        assert_true(in_file > 0);
        assert_null(fgets(line, sizeof line, ids));
        fclose(ids);
        avro_value_decref(&value);
        avro_value_iface_decref(iface);
        avro_schema_decref(wschema);
        avro_file_reader_close(reader);
    }
    assert_int_equal(next, 50);
}

static void test_bad_path_fails_start(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d = NULL;
    struct sa_dispatcher_opts opts = {.spool = &f->opts, .sinks = &f->conf,
                                      .n_sinks = 1};
    struct sa_err err = {0};
    char path[400];
    FILE *fp;

    /* A regular file where the directory should be. */
    snprintf(path, sizeof path, "%s/not-a-dir", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    set_opt(f, "path", path);
    assert_int_not_equal(sa_dispatcher_start(&d, &opts, &err), SA_OK);
    assert_null(d);
    assert_non_null(strstr(err.msg, "not-a-dir"));
    assert_non_null(strstr(err.msg, "files"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_map),
        cmocka_unit_test_setup_teardown(test_ndjson_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ndjson_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poison_is_dead_lettered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_avro_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_path_fails_start, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
