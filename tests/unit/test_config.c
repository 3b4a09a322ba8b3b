/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the configuration loader (agent/config.c).
 *
 * Most cases are data: every tests/data/config/NAME.yaml is loaded from
 * inside that directory. When NAME.expect sits beside it, loading must
 * fail with exactly the one line it holds (FILE being NAME.yaml);
 * otherwise it must load. Adding a case needs no new code. full.yaml is
 * also checked value by value. The environment the cases see:
 *   SA_TEST_TOKEN=tok-123, SA_TEST_DIR=/srv/sa, SA_TEST_UNSET unset.
 */
#include "agent/base/log.h"
#include "agent/config.h"
#include "agent/schemas.h"
#include "tests/unit/casefiles.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define MIN_BAD_CASES 20

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long len;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)len + 1)) &&
        fread(text, 1, (size_t)len, f) == (size_t)len) {
        text[len] = '\0';
    } else {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

static int setup_data_dir(void **state)
{
    (void)state;
    if (case_chdir("config") != 0)
        return -1;
    setenv("SA_TEST_TOKEN", "tok-123", 1);
    setenv("SA_TEST_DIR", "/srv/sa", 1);
    unsetenv("SA_TEST_UNSET");
    return 0;
}

static int is_yaml(const struct dirent *d)
{
    size_t len = strlen(d->d_name);
    return len > 5 && strcmp(d->d_name + len - 5, ".yaml") == 0;
}

/* Run every case in the data directory; failures are listed together. */
static void test_data_cases(void **state)
{
    struct dirent **names;
    int n = scandir(".", &names, is_yaml, case_by_name);
    int n_bad = 0, n_good = 0, n_failed = 0;

    (void)state;
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char expect_path[512];
        char *expect;
        struct sa_config *cfg = NULL;
        struct sa_err err = {0};
        int rc;

        snprintf(expect_path, sizeof expect_path, "%.*s.expect",
                 (int)(strlen(name) - 5), name);
        expect = read_text(expect_path);
        rc = sa_config_load(name, &cfg, &err);
        if (expect) {
            size_t len = strlen(expect);
            while (len && (expect[len - 1] == '\n' || expect[len - 1] == '\r'))
                expect[--len] = '\0';
            n_bad++;
            if (rc != SA_ECONFIG || cfg || strcmp(err.msg, expect) != 0) {
                fprintf(stderr, "FAIL %s\n  expected: %s\n  got (%s): %s\n", name,
                        expect, sa_rc_name(rc), rc ? err.msg : "(loaded)");
                n_failed++;
            }
        } else {
            n_good++;
            if (strncmp(name, "bad-", 4) == 0) {
                fprintf(stderr, "FAIL %s: a bad case without %s\n", name, expect_path);
                n_failed++;
            } else if (rc != SA_OK || !cfg) {
                fprintf(stderr, "FAIL %s: %s\n", name, err.msg);
                n_failed++;
            }
        }
        sa_config_free(cfg);
        free(expect);
        free(names[i]);
    }
    free(names);
    fprintf(stderr, "config cases: %d bad, %d good, %d failed\n", n_bad, n_good,
            n_failed);
    assert_int_equal(n_failed, 0);
    assert_true(n_bad >= MIN_BAD_CASES);
    assert_true(n_good >= 1);
}

/* Type-specific values are read through the type's own table, so that
 * the test does not depend on the layout of its opts struct. */
static const struct sa_conf_entry *entry(const struct sa_conf_entry *conf,
                                         const char *key)
{
    for (; conf && conf->key; conf++)
        if (strcmp(conf->key, key) == 0)
            return conf;
    fail_msg("no key '%s'", key);
    return NULL;
}

static int64_t opt_int(const struct sa_conf_entry *conf, void *opts, const char *key)
{
    return *(int64_t *)((char *)opts + entry(conf, key)->offset);
}

static int opt_enum(const struct sa_conf_entry *conf, void *opts, const char *key)
{
    return *(int *)((char *)opts + entry(conf, key)->offset);
}

static const char *opt_str(const struct sa_conf_entry *conf, void *opts,
                           const char *key)
{
    return *(char **)((char *)opts + entry(conf, key)->offset);
}

static const struct sa_strlist *opt_list(const struct sa_conf_entry *conf, void *opts,
                                         const char *key)
{
    return (const struct sa_strlist *)((char *)opts + entry(conf, key)->offset);
}

static int symbol(const struct sa_conf_entry *conf, const char *key, const char *sym)
{
    const struct sa_conf_entry *e = entry(conf, key);
    for (int i = 0; e->symbols[i]; i++)
        if (strcmp(e->symbols[i], sym) == 0)
            return i;
    fail_msg("no symbol '%s' in %s", sym, key);
    return -1;
}

static void test_full(void **state)
{
    struct sa_config *cfg = NULL;
    struct sa_err err = {0};
    const struct sa_source_conf *src;
    const struct sa_sink_conf *sink;

    (void)state;
    if (sa_config_load("full.yaml", &cfg, &err) != SA_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(cfg->path, "full.yaml");

    assert_string_equal(cfg->agent.id, "edge-7");
    assert_string_equal(cfg->agent.data_dir, "/srv/sa/data");
    assert_string_equal(cfg->agent.schemas_dir, "schemas");
    assert_int_equal(cfg->agent.compatibility, SA_COMPAT_FULL);
    assert_int_equal(cfg->agent.log_level, SA_LOG_DEBUG);
    assert_int_equal(cfg->agent.log_format, SA_LOG_JSON);
    assert_int_equal(cfg->agent.shutdown_grace_ms, 2 * 60 * 1000);

    assert_string_equal(cfg->spool.path, "/srv/sa/spool/main.db");
    assert_int_equal(cfg->spool.max_bytes, 64LL << 20);
    assert_int_equal(cfg->spool.when_full, SA_FULL_DROP_OLDEST);
    assert_int_equal(cfg->spool.sync, SA_SYNC_FULL);
    assert_int_equal(cfg->spool.compression, SA_CODEC_DEFLATE);

    assert_int_equal(cfg->batch.max_records, 500);
    assert_int_equal(cfg->batch.max_bytes, 2000000);
    assert_int_equal(cfg->batch.linger_ms, 1000);

    assert_int_equal(cfg->n_sources, 2);
    src = &cfg->sources[0];
    assert_string_equal(src->name, "orders-gen");
    assert_string_equal(src->type, "generator");
    assert_ptr_equal(src->ops, sa_source_type_find("generator"));
    assert_string_equal(src->stream, "orders");
    assert_string_equal(src->schema, "order:v2");
    assert_int_equal(opt_int(src->ops->conf, src->opts, "seed"), 42);
    assert_int_equal(opt_int(src->ops->conf, src->opts, "rate"), 1000);
    assert_int_equal(opt_int(src->ops->conf, src->opts, "count"), 100000);
    src = &cfg->sources[1];
    assert_string_equal(src->name, "users-gen");
    assert_string_equal(src->stream, "users");
    assert_string_equal(src->schema, "users"); /* defaults to the stream */

    assert_int_equal(cfg->n_sinks, 3);
    sink = &cfg->sinks[0];
    assert_string_equal(sink->name, "archive");
    assert_ptr_equal(sink->ops, sa_sink_type_find("file"));
    assert_int_equal(sink->streams.n, 2);
    assert_string_equal(sink->streams.v[0], "orders");
    assert_string_equal(sink->streams.v[1], "users");
    assert_int_equal(sink->retry_initial_ms, 250);
    assert_int_equal(sink->retry_max_ms, 60 * 60 * 1000);
    assert_int_equal(sink->max_in_flight, 5000);
    assert_string_equal(opt_str(sink->ops->conf, sink->opts, "path"),
                        "out/archive.avro");
    assert_int_equal(opt_enum(sink->ops->conf, sink->opts, "format"),
                     symbol(sink->ops->conf, "format", "avro"));

    sink = &cfg->sinks[1];
    assert_string_equal(sink->name, "orders-only");
    assert_int_equal(sink->streams.n, 1); /* one scalar is a list of one */
    assert_string_equal(sink->streams.v[0], "orders");
    /* $${ is a literal ${; the rest is resolved */
    assert_string_equal(opt_str(sink->ops->conf, sink->opts, "path"),
                        "out/${stream}-tok-123.ndjson");
    assert_int_equal(sink->retry_initial_ms, 100);
    assert_int_equal(sink->retry_max_ms, 30 * 1000);
    assert_int_equal(sink->max_in_flight, 5000);

    sink = &cfg->sinks[2];
    assert_int_equal(sink->streams.n, 0); /* every stream */
    sa_config_free(cfg);
}

/* The csv source's formats map, timezone and short_rows; a plain YAML
 * null is the symbol of an enum that has one (short_rows: null). */
static void test_csv_real_world_keys(void **state)
{
    struct sa_config *cfg = NULL;
    struct sa_err err = {0};
    const struct sa_source_conf *src;
    const struct sa_conf_entry *e;
    const struct sa_kvlist *formats = NULL;

    (void)state;
    if (sa_config_load("csv-real-world.yaml", &cfg, &err) != SA_OK)
        fail_msg("%s", err.msg);
    src = &cfg->sources[0];
    assert_string_equal(opt_str(src->ops->conf, src->opts, "timezone"), "+02:00");
    assert_int_equal(opt_enum(src->ops->conf, src->opts, "short_rows"),
                     symbol(src->ops->conf, "short_rows", "null"));
    for (e = src->ops->conf; e->key; e++)
        if (strcmp(e->key, "formats") == 0)
            formats = (const struct sa_kvlist *)((const char *)src->opts + e->offset);
    assert_non_null(formats);
    assert_int_equal(formats->n, 2);
    assert_string_equal(formats->v[0].key, "date");
    assert_string_equal(formats->v[0].value, "%Y/%m/%d");
    assert_string_equal(formats->v[1].key, "obs time");
    assert_string_equal(formats->v[1].value, "%d.%m.%Y %H:%M");
    src = &cfg->sources[1];
    assert_string_equal(opt_str(src->ops->conf, src->opts, "timezone"), "UTC");
    assert_int_equal(opt_enum(src->ops->conf, src->opts, "short_rows"),
                     symbol(src->ops->conf, "short_rows", "strict"));
    sa_config_free(cfg);
}

static void test_defaults(void **state)
{
    struct sa_config *cfg = NULL;
    struct sa_err err = {0};
    char host[256] = "";

    (void)state;
    if (sa_config_load_string("", "empty.yaml", &cfg, &err) != SA_OK)
        fail_msg("%s", err.msg);
    gethostname(host, sizeof host);
    assert_string_equal(cfg->agent.id, host);
    assert_string_equal(cfg->agent.data_dir, "./data");
    assert_string_equal(cfg->agent.schemas_dir, "./schemas");
    assert_int_equal(cfg->agent.compatibility, SA_COMPAT_BACKWARD);
    assert_int_equal(cfg->agent.log_level, SA_LOG_INFO);
    assert_int_equal(cfg->agent.log_format, SA_LOG_LOGFMT);
    assert_int_equal(cfg->agent.shutdown_grace_ms, 5000);
    assert_string_equal(cfg->spool.path, "./data/spool.db");
    assert_int_equal(cfg->spool.max_bytes, 1LL << 30);
    assert_int_equal(cfg->spool.when_full, SA_FULL_BLOCK);
    assert_int_equal(cfg->spool.sync, SA_SYNC_NORMAL);
    assert_int_equal(cfg->spool.compression, SA_CODEC_NONE);
    assert_int_equal(cfg->batch.max_records, 1000);
    assert_int_equal(cfg->batch.max_bytes, 1 << 20);
    assert_int_equal(cfg->batch.linger_ms, 200);
    assert_int_equal(cfg->n_sources, 0);
    assert_int_equal(cfg->n_sinks, 0);
    sa_config_free(cfg);

    /* the version is the text's SHA-256, cut to 16 hex digits: the same
     * text gives the same one, any edit another */
    if (sa_config_load_string("", "empty.yaml", &cfg, &err) != SA_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(cfg->version, "e3b0c44298fc1c14"); /* sha256("") */
    sa_config_free(cfg);
    if (sa_config_load_string("# edited\n", "empty.yaml", &cfg, &err) != SA_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(strlen(cfg->version), 16);
    assert_string_not_equal(cfg->version, "e3b0c44298fc1c14");
    sa_config_free(cfg);

    /* spool.path follows data_dir, with or without a trailing slash */
    if (sa_config_load_string("agent: {data_dir: /var/lib/sa/}\n", "x.yaml", &cfg,
                              &err) != SA_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(cfg->spool.path, "/var/lib/sa/spool.db");
    sa_config_free(cfg);
}

/* ${file:} takes the file's contents less one trailing newline. */
static void test_file_reference(void **state)
{
    static const char *const contents[] = {"s3cret\n", "s3cret", "s3cret\r\n"};
    char path[] = "/tmp/sa-test-config-XXXXXX";
    char text[512];
    int fd;

    (void)state;
    for (size_t i = 0; i < sizeof contents / sizeof contents[0]; i++) {
        struct sa_config *cfg = NULL;
        struct sa_err err = {0};

        strcpy(path + strlen(path) - 6, "XXXXXX");
        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, contents[i], strlen(contents[i])),
                         (ssize_t)strlen(contents[i]));
        close(fd);
        snprintf(text, sizeof text, "agent:\n  id: \"${file:%s}\"\n", path);
        if (sa_config_load_string(text, "ref.yaml", &cfg, &err) != SA_OK)
            fail_msg("%s", err.msg);
        assert_string_equal(cfg->agent.id, "s3cret");
        sa_config_free(cfg);
        unlink(path);
    }
}

static void test_errors_name_the_file(void **state)
{
    struct sa_config *cfg = (struct sa_config *)1;
    struct sa_err err = {0};

    (void)state;
    assert_int_equal(sa_config_load("no-such-config.yaml", &cfg, &err), SA_ECONFIG);
    assert_null(cfg);
    assert_string_equal(err.msg,
                        "no-such-config.yaml: cannot open: No such file or directory");

    assert_int_equal(
        sa_config_load_string("batch:\n  linger: soon\n", "inline", &cfg, &err),
        SA_ECONFIG);
    assert_null(cfg);
    assert_string_equal(err.msg, "inline:2:11: batch.linger: bad duration 'soon' "
                                 "(use a number with ms, s, m, h)");
}

/* Relative paths are taken from the config file's directory; absolute
 * ones, values that are no path and defaults of no-path keys stay. */
static void test_relative_paths(void **state)
{
    static const char text[] =
        "agent: {schemas_dir: ../schemas}\n"
        "spool: {path: /abs/spool.db}\n"
        "sources:\n"
        "  - {name: a, type: csv, stream: s, path: [in/*.csv, /abs/x.csv],\n"
        "     on_done: move:./done}\n"
        "  - {name: b, type: csv, stream: s, path: ./in.csv, on_done: delete}\n"
        "sinks:\n"
        "  - {name: f, type: file, path: .}\n";
    struct sa_config *cfg = NULL;
    struct sa_err err = {0};
    const struct sa_source_conf *a, *b;

    (void)state;
    if (sa_config_load_string(text, "site/conf/agent.yaml", &cfg, &err) != SA_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(cfg->agent.data_dir, "site/conf/data"); /* the default */
    assert_string_equal(cfg->agent.schemas_dir, "site/schemas");
    assert_string_equal(cfg->spool.path, "/abs/spool.db");
    a = &cfg->sources[0];
    b = &cfg->sources[1];
    assert_string_equal(opt_list(a->ops->conf, a->opts, "path")->v[0],
                        "site/conf/in/*.csv");
    assert_string_equal(opt_list(a->ops->conf, a->opts, "path")->v[1], "/abs/x.csv");
    assert_string_equal(opt_str(a->ops->conf, a->opts, "on_done"),
                        "move:site/conf/done");
    assert_string_equal(opt_list(b->ops->conf, b->opts, "path")->v[0],
                        "site/conf/in.csv");
    assert_string_equal(opt_str(b->ops->conf, b->opts, "on_done"), "delete");
    assert_string_equal(opt_str(cfg->sinks[0].ops->conf, cfg->sinks[0].opts, "path"),
                        "site/conf");
    sa_config_free(cfg);

    /* A config named without a directory: paths as written. */
    if (sa_config_load_string(text, "agent.yaml", &cfg, &err) != SA_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(cfg->agent.data_dir, "./data");
    assert_string_equal(cfg->spool.path, "/abs/spool.db");
    assert_string_equal(cfg->agent.schemas_dir, "../schemas");
    sa_config_free(cfg);

    /* The root directory does not double its slash; ".." cancels out,
     * never past the root; what stays above the start is kept. */
    static const struct {
        const char *file, *data_dir, *want;
    } joins[] = {
        {"/agent.yaml", "d", "/d"},
        {"/agent.yaml", "../../d", "/d"},
        {"/etc/sa/agent.yaml", "./d/./e//", "/etc/sa/d/e"},
        {"/etc/sa/agent.yaml", "..", "/etc"},
        {"a/agent.yaml", "../..", ".."},
        {"a/agent.yaml", "..", "."},
        {"a/b/agent.yaml", "../../../x/../y", "../y"},
        {"../agent.yaml", "d", "../d"},
        {"./agent.yaml", "d", "d"},
    };
    for (size_t i = 0; i < sizeof joins / sizeof joins[0]; i++) {
        char yaml[128];
        snprintf(yaml, sizeof yaml, "agent: {data_dir: \"%s\"}\n", joins[i].data_dir);
        if (sa_config_load_string(yaml, joins[i].file, &cfg, &err))
            fail_msg("%s", err.msg);
        if (strcmp(cfg->agent.data_dir, joins[i].want) != 0)
            fail_msg("%s in %s: '%s', expected '%s'", joins[i].data_dir, joins[i].file,
                     cfg->agent.data_dir, joins[i].want);
        sa_config_free(cfg);
    }
}

/* Checks made after loading name the key's FILE:LINE:COL. */
static void test_origin(void **state)
{
    static const char text[] = "agent:\n"
                               "  data_dir: /x\n"
                               "sources:\n"
                               "  - name: a\n"
                               "    type: csv\n"
                               "    stream: s\n"
                               "    path: in.csv\n"
                               "    quote: ab\n";
    struct sa_config *cfg = NULL;
    struct sa_err err = {0};

    (void)state;
    if (sa_config_load_string(text, "c.yaml", &cfg, &err) != SA_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(sa_config_check(cfg, NULL, &err), SA_ECONFIG);
    assert_string_equal(err.msg, "c.yaml:8:5: sources[0].quote: must be one "
                                 "character, not 'ab'");
    /* a key not written: its mapping's position */
    sa_conf_fail(&cfg->sources[0].origin, "header", SA_ECONFIG, &err, "x");
    assert_string_equal(err.msg, "c.yaml:4:5: sources[0].header: x");
    sa_conf_fail(&cfg->agent_origin, "data_dir", SA_ECONFIG, &err, "y");
    assert_string_equal(err.msg, "c.yaml:2:3: agent.data_dir: y");
    /* an absent section: the file only */
    sa_conf_fail(&cfg->spool_origin, "path", SA_ECONFIG, &err, "z");
    assert_string_equal(err.msg, "c.yaml: spool.path: z");
    /* no file (an ad-hoc source) */
    sa_conf_fail(NULL, "quote", SA_ECONFIG, &err, "w");
    assert_string_equal(err.msg, "quote: w");
    sa_config_free(cfg);
}

/* The shipped example must stay valid. */
static void test_example(void **state)
{
    char path[4096];
    struct sa_config *cfg = NULL;
    struct sa_err err = {0};

    (void)state;
    snprintf(path, sizeof path, "%s/configs/example.yaml", getenv("SA_SOURCE_DIR"));
    if (sa_config_load(path, &cfg, &err) != SA_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(cfg->n_sources, 2);
    assert_int_equal(cfg->n_sinks, 2);
    sa_config_free(cfg);
}

static void test_parse_size(void **state)
{
    static const struct {
        const char *text;
        int rc;
        int64_t bytes;
    } cases[] = {
        {"0", SA_OK, 0},
        {"4096", SA_OK, 4096},
        {"17B", SA_OK, 17},
        {"2KB", SA_OK, 2000},
        {"3MB", SA_OK, 3000000},
        {"1GB", SA_OK, 1000000000},
        {"2KiB", SA_OK, 2048},
        {"64MiB", SA_OK, 64LL << 20},
        {"64 MiB", SA_OK, 64LL << 20},
        {"8GiB", SA_OK, 8LL << 30},
        {"9223372036854775807", SA_OK, INT64_MAX},
        {"9223372036854775808", SA_ETOOBIG, 0},
        {"8589934592GiB", SA_ETOOBIG, 0},
        {"8589934591GiB", SA_OK, 8589934591LL << 30},
        {"", SA_EINVAL, 0},
        {"MiB", SA_EINVAL, 0},
        {"-1", SA_EINVAL, 0},
        {"1.5GiB", SA_EINVAL, 0},
        {"12XB", SA_EINVAL, 0},
        {"1mib", SA_EINVAL, 0},
        {"1  MiB", SA_EINVAL, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t bytes = -1;
        int rc = sa_parse_size(cases[i].text, &bytes);
        if (rc != cases[i].rc || (rc == SA_OK && bytes != cases[i].bytes))
            fail_msg("'%s': rc %d bytes %lld", cases[i].text, rc, (long long)bytes);
    }
}

static void test_parse_duration(void **state)
{
    static const struct {
        const char *text;
        int rc;
        int64_t ms;
    } cases[] = {
        {"0", SA_OK, 0},
        {"250ms", SA_OK, 250},
        {"5s", SA_OK, 5000},
        {"2m", SA_OK, 120000},
        {"1h", SA_OK, 3600000},
        {"0s", SA_OK, 0},
        {"5", SA_EINVAL, 0}, /* ambiguous: no unit */
        {"5sec", SA_EINVAL, 0},
        {"1.5s", SA_EINVAL, 0},
        {"-1s", SA_EINVAL, 0},
        {"s", SA_EINVAL, 0},
        {"9223372036854775807ms", SA_OK, INT64_MAX},
        {"9223372036854775s", SA_OK, 9223372036854775000},
        {"9223372036854776s", SA_ETOOBIG, 0},
        {"99999999999999999999h", SA_ETOOBIG, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -1;
        int rc = sa_parse_duration(cases[i].text, &ms);
        if (rc != cases[i].rc || (rc == SA_OK && ms != cases[i].ms))
            fail_msg("'%s': rc %d ms %lld", cases[i].text, rc, (long long)ms);
    }
}

static void test_describe(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    (void)state;
    assert_non_null(out);
    sa_config_describe(out);
    fclose(out);
    /* every section, both common tables and every registered type */
    assert_non_null(strstr(text, "\nagent:\n"));
    assert_non_null(strstr(text, "\nspool:\n"));
    assert_non_null(strstr(text, "\nbatch:\n"));
    assert_non_null(strstr(text, "sources: (a list"));
    assert_non_null(strstr(text, "sinks: (a list"));
    for (size_t t = 0; sa_source_types[t]; t++) {
        char title[128];
        snprintf(title, sizeof title, "sources: type: %s", sa_source_types[t]->name);
        assert_non_null(strstr(text, title));
    }
    for (size_t t = 0; sa_sink_types[t]; t++) {
        char title[128];
        snprintf(title, sizeof title, "sinks: type: %s", sa_sink_types[t]->name);
        assert_non_null(strstr(text, title));
    }
    /* a row: key, type, default and description, with the enum symbols */
    assert_non_null(strstr(text, "when_full"));
    assert_non_null(strstr(text, "one of: block, drop_oldest, reject"));
    assert_non_null(strstr(text, "required"));
    assert_non_null(strstr(text, "1GiB"));
    /* the choice about plain-number durations is documented */
    assert_non_null(strstr(text, "plain\nnumber is an error"));
    free(text);
}

/* A sink's settings_hash (fleet probation, agent/fleet/fleet.c): the
 * same settings give the same one whatever the layout, the other sinks
 * or their order; another value, even through ${env:}, another one. */
static const char *sink_hash(const char *sinks, char out[17])
{
    struct sa_config *cfg = NULL;
    struct sa_err err = {0};
    char text[1024];

    snprintf(text, sizeof text,
             "sources:\n"
             "  - {name: g1, type: generator, stream: ab}\n"
             "  - {name: g2, type: generator, stream: a}\n"
             "  - {name: g3, type: generator, stream: b}\n"
             "sinks:\n%s",
             sinks);
    if (sa_config_load_string(text, "hash.yaml", &cfg, &err) != SA_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(strlen(cfg->sinks[cfg->n_sinks - 1].settings_hash), 16);
    snprintf(out, 17, "%s", cfg->sinks[cfg->n_sinks - 1].settings_hash);
    sa_config_free(cfg);
    return out;
}

static void test_sink_settings_hash(void **state)
{
    char a[17], b[17];

    (void)state;
    sink_hash("  - {name: s, type: http, url: 'http://h:1/in'}\n", a);
    assert_string_equal(a, sink_hash("  # moved below another sink\n"
                                     "  - {name: t, type: file, path: out}\n"
                                     "  - name: s\n"
                                     "    type: http\n"
                                     "    url: http://h:1/in\n",
                                     b));
    assert_string_not_equal(a, sink_hash("  - {name: s, type: http, url: "
                                         "'http://h:2/in'}\n",
                                         b));
    assert_string_not_equal(a, sink_hash("  - {name: s2, type: http, url: "
                                         "'http://h:1/in'}\n",
                                         b));
    /* keys, values and list items are told apart */
    sink_hash("  - {name: s, type: file, path: o, streams: [ab]}\n", a);
    assert_string_not_equal(a, sink_hash("  - {name: s, type: file, path: o, "
                                         "streams: [a, b]}\n",
                                         b));
    /* resolved: the same text naming another value is another sink */
    setenv("SA_TEST_URL", "http://h:1/in", 1);
    sink_hash("  - {name: s, type: http, url: '${env:SA_TEST_URL}'}\n", a);
    setenv("SA_TEST_URL", "http://h:2/in", 1);
    assert_string_not_equal(a, sink_hash("  - {name: s, type: http, "
                                         "url: '${env:SA_TEST_URL}'}\n",
                                         b));
    unsetenv("SA_TEST_URL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_cases),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_csv_real_world_keys),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_reference),
        cmocka_unit_test(test_errors_name_the_file),
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_sink_settings_hash),
    };
    return cmocka_run_group_tests(tests, setup_data_dir, NULL);
}
