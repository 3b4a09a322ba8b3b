/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool against real SQLite files in a temporary directory: append,
 * read after a cursor, ack, trim, reopen; gap-free seqs across handles,
 * processes' worth of threads and restarts; every when_full behaviour;
 * migration from a hand-made format-1 file; refusal of newer formats and
 * of files that are not spools; the file shrinking after a trim; status,
 * lag and verify figures. Raw SQLite is used here only to build or
 * inspect files the way another program would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/base/clock.h"
#include "store/spool.h"
#include "tests/tempdir.h"

#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
    char dir[512];
    char path[600];
    struct sa_spool_opts opts;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    if (!sa_test_mkdtemp(f->dir, sizeof f->dir, "sa_spool_")) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/spool.db", f->dir);
    f->opts.path = f->path;
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static struct sa_spool *open_spool(struct fixture *f, unsigned flags)
{
    struct sa_spool *s = NULL;
    struct sa_err err = {0};
    int rc = sa_spool_open(&s, &f->opts, flags, &err);
    if (rc)
        fail_msg("open %s: %s", f->path, err.msg);
    return s;
}

/* Body of record i: recognisable, `size` bytes, pseudo-random when noisy
 * so that deflate cannot shrink it. */
static size_t make_body(uint8_t *out, size_t size, uint64_t i, int noisy)
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
    int n = snprintf((char *)out, size, "rec-%llu;", (unsigned long long)i);
    for (size_t k = (size_t)n; k < size; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[k] = noisy ? (uint8_t)x : (uint8_t)('a' + k % 7);
    }
    return size;
}

static void fill(struct sa_segment_builder *b, const char *stream, uint32_t n,
                 size_t body_size, int noisy)
{
    uint8_t body[65536];
    assert_true(body_size <= sizeof body && body_size >= 24);
    assert_int_equal(sa_segment_builder_init(b, stream, 1, 0), SA_OK);
    for (uint32_t i = 0; i < n; i++) {
        char key[16];
        int key_len = snprintf(key, sizeof key, "k%u", i);
        make_body(body, body_size, i, noisy);
        assert_int_equal(sa_segment_add(b, 1000 + i, key, (size_t)key_len,
                                        SA_OP_UPSERT, body, body_size),
                         SA_OK);
    }
}

/* Commit one segment of n records; returns the rc, fills *res. */
static int commit_one(struct sa_spool *s, const char *stream, uint32_t n,
                      size_t body_size, int noisy,
                      struct sa_commit_result *res, struct sa_err *err)
{
    struct sa_segment_builder b;
    struct sa_segment_builder *segs[1] = {&b};
    struct sa_commit c = {.segments = segs, .n_segments = 1};
    int rc;

    fill(&b, stream, n, body_size, noisy);
    rc = sa_spool_commit(s, &c, res, err);
    sa_segment_builder_fini(&b);
    return rc;
}

static void commit_ok(struct sa_spool *s, const char *stream, uint32_t n,
                      struct sa_commit_result *res)
{
    struct sa_err err = {0};
    int rc = commit_one(s, stream, n, 32, 0, res, &err);
    if (rc)
        fail_msg("commit: %s", err.msg);
}

static int64_t file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *data;
    long n;

    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    data = malloc((size_t)n + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return data;
}

static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("raw exec: %s", msg);
    sqlite3_close(db);
}

/* --- tests -------------------------------------------------------------- */

static void test_create_and_reopen(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = NULL;
    struct sa_err err = {0};
    char origin[40];

    /* missing file without CREATE: not found, and not created */
    assert_int_equal(sa_spool_open(&s, &f->opts, 0, &err), SA_ENOTFOUND);
    assert_null(s);
    assert_non_null(strstr(err.msg, f->path));
    assert_int_equal(sa_spool_open(&s, &f->opts, SA_SPOOL_READONLY, &err),
                     SA_ENOTFOUND);
    assert_int_equal(file_bytes(f->path), -1);

    s = open_spool(f, SA_SPOOL_CREATE);
    assert_int_equal(strlen(sa_spool_origin_id(s)), 36);
    assert_int_equal(sa_spool_origin_id(s)[14], '4'); /* UUID version 4 */
    assert_non_null(strchr("89ab", sa_spool_origin_id(s)[19]));
    assert_string_equal(sa_spool_path(s), f->path);
    snprintf(origin, sizeof origin, "%s", sa_spool_origin_id(s));
    sa_spool_close(s);

    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SA_SPOOL_FORMAT);
    assert_int_equal(raw_int(f->path, "PRAGMA auto_vacuum"), 2);
    s = open_spool(f, 0);
    assert_string_equal(sa_spool_origin_id(s), origin);
    sa_spool_close(s);
    s = open_spool(f, SA_SPOOL_CREATE);
    assert_string_equal(sa_spool_origin_id(s), origin);
    sa_spool_close(s);
}

static void expect_records(const struct sa_segment_view *v, uint64_t seq0,
                           uint32_t from, uint32_t to)
{
    struct sa_segment_iter it;
    struct sa_record_view rec;
    struct sa_err err = {0};
    uint32_t i = from;
    int rc;

    sa_segment_iter_init(&it, v);
    while ((rc = sa_segment_iter_next(&it, &rec, &err)) == SA_OK) {
        char prefix[32];
        int n = snprintf(prefix, sizeof prefix, "rec-%u;", i);
        assert_int_equal(rec.index, i);
        assert_int_equal(rec.seq, seq0 + i);
        assert_memory_equal(rec.body, prefix, (size_t)n);
        i++;
    }
    assert_int_equal(rc, SA_EOF);
    assert_int_equal(i, to);
}

static void test_append_read_ack_trim(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_commit_result res;
    struct sa_segment_view v;
    struct sa_cursor cur = {0, 0};
    struct sa_err err = {0};
    const char *only_b[] = {"b"};
    const char *a_and_b[] = {"a", "b"};
    const char *only_a[] = {"a"};
    int64_t trimmed = -1;

    commit_ok(s, "a", 10, &res); /* segment 1, seqs 1..10 */
    assert_int_equal(res.first_seq, 1);
    assert_int_equal(res.n_records, 10);
    commit_ok(s, "a", 10, &res); /* 2: 11..20 */
    assert_int_equal(res.first_seq, 11);
    commit_ok(s, "b", 5, &res);  /* 3: 21..25 */
    commit_ok(s, "a", 10, &res); /* 4: 26..35 */
    assert_int_equal(res.first_seq, 26);

    assert_int_equal(sa_spool_read_after(s, &cur, NULL, 0, &v, &err), SA_OK);
    assert_int_equal(v.id, 1);
    assert_string_equal(v.stream, "a");
    assert_int_equal(v.count, 10);
    assert_int_equal(v.start_index, 0);
    assert_int_equal(v.first_seq, 1);
    expect_records(&v, 1, 0, 10);

    /* a sink acks part of segment 1 */
    cur = (struct sa_cursor){1, 4};
    assert_int_equal(sa_spool_cursor_set(s, "s1", &cur, &err), SA_OK);
    memset(&cur, 0xff, sizeof cur);
    assert_int_equal(sa_spool_cursor_get(s, "s1", &cur, &err), SA_OK);
    assert_int_equal(cur.segment_id, 1);
    assert_int_equal(cur.record_index, 4);
    assert_int_equal(sa_spool_read_after(s, &cur, NULL, 0, &v, &err), SA_OK);
    assert_int_equal(v.id, 1);
    assert_int_equal(v.start_index, 4);
    expect_records(&v, 1, 4, 10);

    /* segment 1 fully acked: the next one */
    cur = (struct sa_cursor){1, 10};
    assert_int_equal(sa_spool_read_after(s, &cur, NULL, 0, &v, &err), SA_OK);
    assert_int_equal(v.id, 2);
    assert_int_equal(v.start_index, 0);
    expect_records(&v, 11, 0, 10);

    /* stream filters: one stream, a set */
    assert_int_equal(sa_spool_read_after(s, &cur, only_b, 1, &v, &err), SA_OK);
    assert_int_equal(v.id, 3);
    assert_string_equal(v.stream, "b");
    cur = (struct sa_cursor){3, 5};
    assert_int_equal(sa_spool_read_after(s, &cur, only_b, 1, &v, &err), SA_EOF);
    assert_int_equal(sa_spool_read_after(s, &cur, a_and_b, 2, &v, &err), SA_OK);
    assert_int_equal(v.id, 4);
    cur = (struct sa_cursor){4, 10};
    assert_int_equal(sa_spool_read_after(s, &cur, NULL, 0, &v, &err), SA_EOF);

    /* a sink without a row starts at (0, 0) */
    assert_int_equal(sa_spool_cursor_get(s, "new", &cur, &err), SA_OK);
    assert_int_equal(cur.segment_id, 0);
    assert_int_equal(cur.record_index, 0);

    /* trim: s1 takes every stream and is at (2, 10): segments 1 and 2 go;
     * s2 takes only a and is at (4, 3). b (segment 3) is not passed. */
    cur = (struct sa_cursor){2, 10};
    assert_int_equal(sa_spool_cursor_set(s, "s1", &cur, &err), SA_OK);
    cur = (struct sa_cursor){4, 3};
    assert_int_equal(sa_spool_cursor_set(s, "s2", &cur, &err), SA_OK);
    {
        struct sa_subscription subs[] = {
            {.sink = "s1"},
            {.sink = "s2", .streams = only_a, .n_streams = 1},
        };
        assert_int_equal(sa_spool_trim(s, subs, 2, &trimmed, &err), SA_OK);
        assert_int_equal(trimmed, 2);
        cur = (struct sa_cursor){0, 0};
        assert_int_equal(sa_spool_read_after(s, &cur, NULL, 0, &v, &err),
                         SA_OK);
        assert_int_equal(v.id, 3);

        /* s1 passes everything; s2 still holds segment 4 */
        cur = (struct sa_cursor){4, 10};
        assert_int_equal(sa_spool_cursor_set(s, "s1", &cur, &err), SA_OK);
        assert_int_equal(sa_spool_trim(s, subs, 2, &trimmed, &err), SA_OK);
        assert_int_equal(trimmed, 1); /* b's segment 3 */
        cur = (struct sa_cursor){0, 0};
        assert_int_equal(sa_spool_read_after(s, &cur, NULL, 0, &v, &err),
                         SA_OK);
        assert_int_equal(v.id, 4);
    }
    /* a stream no sink subscribes to is never trimmed */
    commit_ok(s, "orphan", 3, &res); /* segment 5 */
    cur = (struct sa_cursor){100, 0};
    assert_int_equal(sa_spool_cursor_set(s, "s1", &cur, &err), SA_OK);
    {
        struct sa_subscription subs[] = {
            {.sink = "s1", .streams = only_a, .n_streams = 1},
        };
        assert_int_equal(sa_spool_trim(s, subs, 1, &trimmed, &err), SA_OK);
        assert_int_equal(trimmed, 1); /* segment 4 only */
    }
    cur = (struct sa_cursor){0, 0};
    assert_int_equal(sa_spool_read_after(s, &cur, NULL, 0, &v, &err), SA_OK);
    assert_int_equal(v.id, 5);
    assert_string_equal(v.stream, "orphan");
    sa_spool_close(s);

    /* after a reopen: cursor and data are still there, ids go on */
    s = open_spool(f, 0);
    assert_int_equal(sa_spool_cursor_get(s, "s2", &cur, &err), SA_OK);
    assert_int_equal(cur.segment_id, 4);
    assert_int_equal(cur.record_index, 3);
    cur = (struct sa_cursor){0, 0};
    assert_int_equal(sa_spool_read_after(s, &cur, NULL, 0, &v, &err), SA_OK);
    assert_int_equal(v.id, 5);
    expect_records(&v, 36, 0, 3);
    sa_spool_close(s);
}

static void test_ids_not_reused_after_full_trim(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_subscription sub = {.sink = "s"};
    struct sa_cursor cur = {2, 10};
    struct sa_segment_view v;
    struct sa_commit_result res;
    struct sa_err err = {0};
    int64_t trimmed;

    commit_ok(s, "a", 10, &res);
    commit_ok(s, "a", 10, &res);
    assert_int_equal(sa_spool_cursor_set(s, "s", &cur, &err), SA_OK);
    assert_int_equal(sa_spool_trim(s, &sub, 1, &trimmed, &err), SA_OK);
    assert_int_equal(trimmed, 2);
    sa_spool_close(s);
    s = open_spool(f, 0);
    commit_ok(s, "a", 10, &res);
    assert_int_equal(res.first_seq, 21);
    /* the sink at (2, 10) must see the new segment */
    assert_int_equal(sa_spool_read_after(s, &cur, NULL, 0, &v, &err), SA_OK);
    assert_int_equal(v.id, 3);
    sa_spool_close(s);
}

static void test_seq_across_reopen_and_handles(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *a = open_spool(f, SA_SPOOL_CREATE);
    struct sa_spool *b = open_spool(f, 0);
    struct sa_commit_result res;
    struct sa_err err = {0};

    commit_ok(a, "x", 5, &res);
    assert_int_equal(res.first_seq, 1);
    commit_ok(b, "x", 7, &res);
    assert_int_equal(res.first_seq, 6);
    commit_ok(a, "y", 3, &res);
    assert_int_equal(res.first_seq, 13);
    sa_spool_close(a);
    sa_spool_close(b);

    a = open_spool(f, 0);
    commit_ok(a, "x", 4, &res);
    assert_int_equal(res.first_seq, 16);
    assert_int_equal(res.n_records, 4);
    assert_int_equal(sa_spool_verify(a, NULL, NULL, &err), SA_OK);
    sa_spool_close(a);
}

struct writer_arg {
    struct fixture *f;
    int rc;
    char msg[256];
};

#define N_WRITERS 4
#define COMMITS_PER_WRITER 40

static void *writer(void *p)
{
    struct writer_arg *w = p;
    struct sa_spool *s = NULL;
    struct sa_err err = {0};

    w->rc = sa_spool_open(&s, &w->f->opts, 0, &err);
    for (int i = 0; !w->rc && i < COMMITS_PER_WRITER; i++)
        w->rc = commit_one(s, "t", (uint32_t)(1 + i % 7), 32, 0, NULL, &err);
    if (w->rc)
        snprintf(w->msg, sizeof w->msg, "%s", err.msg);
    sa_spool_close(s);
    return NULL;
}

static void test_seq_concurrent_writers(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct writer_arg args[N_WRITERS];
    pthread_t threads[N_WRITERS];
    struct sa_cursor cur = {0, 0};
    struct sa_segment_view v;
    struct sa_err err = {0};
    uint64_t expect_seq = 1;
    int n_segments = 0;

    for (int i = 0; i < N_WRITERS; i++) {
        args[i].f = f;
        args[i].rc = 0;
        assert_int_equal(pthread_create(&threads[i], NULL, writer, &args[i]), 0);
    }
    for (int i = 0; i < N_WRITERS; i++) {
        pthread_join(threads[i], NULL);
        if (args[i].rc)
            fail_msg("writer %d: %s", i, args[i].msg);
    }
    /* every segment follows the previous one without gap or overlap */
    while (sa_spool_read_after(s, &cur, NULL, 0, &v, &err) == SA_OK) {
        assert_int_equal(v.first_seq, expect_seq);
        expect_seq += v.count;
        cur = (struct sa_cursor){v.id, v.count};
        n_segments++;
    }
    assert_int_equal(err.rc, 0);
    assert_int_equal(n_segments, N_WRITERS * COMMITS_PER_WRITER);
    assert_int_equal(sa_spool_verify(s, NULL, NULL, &err), SA_OK);
    sa_spool_close(s);
}

static void status_of(struct sa_spool *s, struct sa_spool_status *st)
{
    struct sa_err err = {0};
    if (sa_spool_status(s, st, &err))
        fail_msg("status: %s", err.msg);
}

static void check_full_refuses(struct fixture *f, int when_full)
{
    struct sa_spool *s;
    struct sa_spool_status before, after;
    struct sa_commit_result res;
    struct sa_err err = {0};
    int64_t used;

    f->opts.when_full = when_full;
    s = open_spool(f, SA_SPOOL_CREATE);
    commit_ok(s, "a", 10, &res);
    assert_int_equal(sa_spool_used_bytes(s, &used, &err), SA_OK);
    assert_true(used > 0);
    sa_spool_close(s);

    f->opts.max_bytes = used + 20000;
    s = open_spool(f, 0);
    status_of(s, &before);
    /* 50 records of 1 KiB do not fit in 20 KB */
    memset(&res, 0xff, sizeof res);
    assert_int_equal(commit_one(s, "a", 50, 1024, 1, &res, &err), SA_EFULL);
    assert_non_null(strstr(err.msg, f->path));
    assert_int_equal(res.n_records, 0);
    status_of(s, &after);
    assert_int_equal(after.next_seq, before.next_seq);
    assert_int_equal(after.n_streams, 1);
    assert_int_equal(after.streams[0].segments, 1);
    assert_int_equal(after.streams[0].records, 10);
    assert_int_equal(after.audit_dropped_records, 0);
    sa_spool_status_fini(&before);
    sa_spool_status_fini(&after);

    /* something that fits still goes in */
    commit_ok(s, "a", 5, &res);
    assert_int_equal(res.first_seq, 11);
    /* source offsets alone are never refused */
    {
        struct sa_offset_update off = {.source = "csv", .file_key = "f1",
                                       .offset = 99, .line = 3};
        struct sa_commit c = {.offsets = &off, .n_offsets = 1};
        int64_t offset, line;
        int done;
        assert_int_equal(sa_spool_commit(s, &c, NULL, &err), SA_OK);
        assert_int_equal(sa_spool_offset_get(s, "csv", "f1", &offset, &line,
                                             &done, &err),
                         SA_OK);
        assert_int_equal(offset, 99);
    }
    sa_spool_close(s);
}

static void test_full_block(void **state)
{
    check_full_refuses(*state, SA_FULL_BLOCK);
}

static void test_full_reject(void **state)
{
    check_full_refuses(*state, SA_FULL_REJECT);
}

static void test_full_drop_oldest(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s;
    struct sa_spool_status st;
    struct sa_commit_result res;
    struct sa_err err = {0};
    uint64_t dropped_records = 0, dropped_segments = 0, committed = 0;
    int64_t used, base;

    s = open_spool(f, SA_SPOOL_CREATE);
    assert_int_equal(sa_spool_used_bytes(s, &base, &err), SA_OK);
    sa_spool_close(s);
    f->opts.max_bytes = base + 400 * 1024;
    f->opts.when_full = SA_FULL_DROP_OLDEST;
    s = open_spool(f, 0);
    /* 30 segments of ~50 KiB into a 400 KiB cap */
    for (int i = 0; i < 30; i++) {
        assert_int_equal(commit_one(s, "a", 50, 1000, 1, &res, &err), SA_OK);
        assert_int_equal(res.first_seq, committed + 1);
        committed += res.n_records;
        dropped_records += res.dropped_records;
        dropped_segments += res.dropped_segments;
        assert_int_equal(res.dropped_records, res.dropped_segments * 50);
        assert_int_equal(sa_spool_used_bytes(s, &used, &err), SA_OK);
        assert_true(used <= f->opts.max_bytes);
    }
    assert_true(dropped_segments > 10);
    status_of(s, &st);
    assert_int_equal(st.audit_dropped_records, (int64_t)dropped_records);
    assert_int_equal(st.n_streams, 1);
    assert_int_equal((uint64_t)st.streams[0].records + dropped_records,
                     committed);
    /* the oldest went: what is left is the newest, up to next_seq */
    assert_int_equal(st.streams[0].last_seq, committed);
    assert_int_equal(st.streams[0].first_seq, dropped_records + 1);
    sa_spool_status_fini(&st);
    assert_int_equal(raw_int(f->path, "SELECT sum(json_extract(detail, "
                                      "'$.segments')) FROM audit WHERE kind "
                                      "= 'drop_oldest'"),
                     (int64_t)dropped_segments);
    assert_int_equal(sa_spool_verify(s, NULL, NULL, &err), SA_OK);

    /* a commit larger than the whole cap is refused, nothing dropped */
    f->opts.max_bytes = base + 20 * 1024;
    sa_spool_close(s);
    s = open_spool(f, 0);
    status_of(s, &st);
    assert_int_equal(commit_one(s, "a", 40, 1000, 1, &res, &err), SA_EFULL);
    {
        struct sa_spool_status st2;
        status_of(s, &st2);
        assert_int_equal(st2.streams[0].records, st.streams[0].records);
        assert_int_equal(st2.audit_dropped_records, st.audit_dropped_records);
        sa_spool_status_fini(&st2);
    }
    sa_spool_status_fini(&st);
    sa_spool_close(s);
}

/* The layout of format 1, as an earlier syncagent wrote it. */
static const char format1_ddl[] =
    "PRAGMA auto_vacuum = INCREMENTAL;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE schemas(id INTEGER PRIMARY KEY, subject TEXT NOT NULL,"
    " version INTEGER NOT NULL, fingerprint INTEGER NOT NULL,"
    " definition TEXT NOT NULL, UNIQUE(subject, version));"
    "CREATE TABLE segments(id INTEGER PRIMARY KEY, stream TEXT NOT NULL,"
    " schema_id INTEGER NOT NULL, first_seq INTEGER NOT NULL,"
    " count INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, min_event_ms INTEGER NOT NULL,"
    " max_event_ms INTEGER NOT NULL, data BLOB NOT NULL);"
    "CREATE TABLE sink_cursors(sink TEXT PRIMARY KEY, segment_id INTEGER"
    " NOT NULL, record_index INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE source_offsets(source TEXT NOT NULL, file_key TEXT NOT"
    " NULL, \"offset\" INTEGER NOT NULL, line INTEGER NOT NULL, done INTEGER"
    " NOT NULL, updated_ms INTEGER NOT NULL, PRIMARY KEY(source, file_key));"
    "CREATE TABLE deadletters(id INTEGER PRIMARY KEY, created_ms INTEGER NOT"
    " NULL, stream TEXT, source TEXT, location TEXT, reason TEXT NOT NULL,"
    " raw BLOB);"
    "INSERT INTO meta VALUES ('origin_id',"
    " '0b7e7c9a-5a8e-4f43-9d0e-7e3c3a1f2b11'), ('next_seq', 21),"
    " ('format', 1);"
    "INSERT INTO sink_cursors VALUES ('old', 7, 0, 0);"
    "INSERT INTO deadletters VALUES (1, 5, 'legacy', 'src', 'f.csv:2:1',"
    " 'bad', X'6162');"
    "PRAGMA user_version = 1;";

static void test_migrate_from_format1(void **state)
{
    struct fixture *f = *state;
    struct sa_segment_builder b;
    struct sa_spool *s = NULL;
    struct sa_segment_view v;
    struct sa_cursor cur = {0, 0};
    struct sa_commit_result res;
    struct sa_err err = {0};
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;

    /* segment 6 holds seqs 11..20 (1..10 were trimmed long ago) */
    fill(&b, "legacy", 10, 40, 0);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, format1_ddl, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO segments VALUES (6, "
                                        "'legacy', 1, 11, 10, ?1, 5, 1000, "
                                        "1009, ?2)",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(stmt, 1, (int64_t)b.frames.len);
    sqlite3_bind_blob(stmt, 2, b.frames.data, (int)b.frames.len, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    sa_segment_builder_fini(&b);

    /* read-only cannot upgrade it */
    assert_int_equal(sa_spool_open(&s, &f->opts, SA_SPOOL_READONLY, &err),
                     SA_EFORMAT);
    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 1);

    s = open_spool(f, 0);
    assert_string_equal(sa_spool_origin_id(s),
                        "0b7e7c9a-5a8e-4f43-9d0e-7e3c3a1f2b11");
    assert_int_equal(sa_spool_read_after(s, &cur, NULL, 0, &v, &err), SA_OK);
    assert_int_equal(v.id, 6);
    assert_string_equal(v.stream, "legacy");
    expect_records(&v, 11, 0, 10);
    commit_ok(s, "legacy", 4, &res);
    assert_int_equal(res.first_seq, 21);
    /* the new segment's id is past every id a cursor may hold */
    cur = (struct sa_cursor){6, 10};
    assert_int_equal(sa_spool_read_after(s, &cur, NULL, 0, &v, &err), SA_OK);
    assert_true(v.id > 7);
    assert_int_equal(sa_spool_verify(s, NULL, NULL, &err), SA_OK);
    sa_spool_close(s);

    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SA_SPOOL_FORMAT);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE kind"
                                      " = 'migrate'"),
                     SA_SPOOL_FORMAT - 1);
    /* format 5: the roll-ups, which the commit above added to */
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rollup_streams"), 1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM rollup_sinks"), 0);
    assert_int_equal(raw_int(f->path, "SELECT n FROM rollup_streams"
                                      " WHERE stream = 'legacy' AND kind = 'ingested'"),
                     4);
    /* format 3: an old dead letter is open, its raw held whole */
    {
        struct sa_deadletter_row *rows = NULL;
        size_t n = 0;
        s = open_spool(f, 0);
        assert_int_equal(sa_spool_deadletter_list(s, 0, 10, &rows, &n, &err),
                         SA_OK);
        assert_int_equal(n, 1);
        assert_false(rows[0].resolved);
        assert_null(rows[0].raw_file);
        assert_null(rows[0].resolved_how);
        assert_int_equal(rows[0].raw_len, 2);
        assert_memory_equal(rows[0].raw, "ab", 2);
        sa_spool_deadletter_rows_free(rows, n);
        sa_spool_close(s);
    }
    assert_int_equal(raw_int(f->path, "SELECT codec FROM segments WHERE id = 6"),
                     0);
    /* migrating twice is a no-op */
    s = open_spool(f, 0);
    sa_spool_close(s);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE kind"
                                      " = 'migrate'"),
                     SA_SPOOL_FORMAT - 1);
}

/* meta.hlc: none in a new spool, then what the last commit with a clock
 * value stored, kept by commits without one, and across a reopen. */
static void test_hlc_persisted(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_segment_builder b;
    struct sa_segment_builder *segs[1] = {&b};
    struct sa_commit c = {.segments = segs, .n_segments = 1};
    struct sa_err err = {0};
    int64_t last = -1;

    assert_int_equal(sa_spool_hlc_get(s, &last, &err), SA_OK);
    assert_true(last == 0);
    fill(&b, "a", 2, 32, 0);
    c.hlc = (int64_t)123456 << 16;
    assert_int_equal(sa_spool_commit(s, &c, NULL, &err), SA_OK);
    sa_segment_builder_fini(&b);
    commit_ok(s, "a", 1, NULL); /* no clock value: meta.hlc stays */
    assert_int_equal(sa_spool_hlc_get(s, &last, &err), SA_OK);
    assert_true(last == (int64_t)123456 << 16);
    sa_spool_close(s);
    s = open_spool(f, 0);
    assert_int_equal(sa_spool_hlc_get(s, &last, &err), SA_OK);
    assert_true(last == (int64_t)123456 << 16);
    sa_spool_close(s);
}

/* A replay commits its records and resolves their dead letters in one
 * transaction; resolving one that is no longer open commits nothing. */
static void test_deadletter_settle(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_deadletter dl[2] = {
        {.stream = "a",
         .source = "src",
         .location = "f.csv:2:1",
         .reason = "bad",
         .raw = "x,1",
         .raw_len = 3,
         .header = "k,v",
         .file_key = "1:2:7:00000000000000ff"},
        {.stream = "a",
         .source = "src",
         .location = "f.csv:3:1",
         .reason = "bad",
         .raw = "y,2",
         .raw_len = 3},
    };
    struct sa_commit put = {.deadletters = dl, .n_deadletters = 2};
    struct sa_deadletter_settle settle[2] = {
        {.id = 1, .how = "replayed from fixed.csv"},
        {.id = 2, .replay_error = "still bad"},
    };
    struct sa_segment_builder b;
    struct sa_segment_builder *segs[1] = {&b};
    struct sa_commit replay = {.segments = segs,
                               .n_segments = 1,
                               .settles = settle,
                               .n_settles = 2,
                               .audit_kind = "deadletter_replay",
                               .audit_detail = "{\"replayed\":1}"};
    struct sa_commit_result res;
    struct sa_deadletter_row *rows = NULL;
    struct sa_spool_status st;
    struct sa_err err = {0};
    size_t n = 0;

    assert_int_equal(sa_spool_commit(s, &put, NULL, &err), SA_OK);
    fill(&b, "a", 1, 32, 0);
    assert_int_equal(sa_spool_commit(s, &replay, &res, &err), SA_OK);
    assert_int_equal(res.n_records, 1);
    assert_int_equal(sa_spool_deadletter_list(s, 0, 10, &rows, &n, &err), SA_OK);
    assert_int_equal(n, 2);
    assert_true(rows[0].resolved);
    assert_true(rows[0].resolved_ms > 0);
    assert_string_equal(rows[0].resolved_how, "replayed from fixed.csv");
    assert_string_equal(rows[0].header, "k,v");
    assert_string_equal(rows[0].file_key, "1:2:7:00000000000000ff");
    assert_null(rows[0].last_replay_error);
    assert_false(rows[1].resolved);
    /* the original rejection is kept; the replay's failure beside it */
    assert_string_equal(rows[1].reason, "bad");
    assert_string_equal(rows[1].last_replay_error, "still bad");
    assert_null(rows[1].header);
    sa_spool_deadletter_rows_free(rows, n);
    /* the newest open ones (the status page): id 2 only, without raw */
    assert_int_equal(sa_spool_deadletter_latest(s, 5, &rows, &n, &err), SA_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, 2);
    assert_string_equal(rows[0].location, "f.csv:3:1");
    assert_string_equal(rows[0].reason, "bad");
    assert_int_equal(rows[0].raw_len, 0);
    sa_spool_deadletter_rows_free(rows, n);
    assert_int_equal(sa_spool_status(s, &st, &err), SA_OK);
    assert_int_equal(st.deadletters, 2);
    assert_int_equal(st.deadletters_open, 1);
    sa_spool_status_fini(&st);

    /* again: id 1 is resolved already, so nothing goes in twice */
    replay.n_settles = 1;
    assert_int_equal(sa_spool_commit(s, &replay, &res, &err), SA_ENOTFOUND);
    sa_segment_builder_fini(&b);
    sa_spool_close(s);
    assert_int_equal(raw_int(f->path, "SELECT sum(count) FROM segments"), 1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE kind ="
                                      " 'deadletter_replay'"),
                     1);
}

static void test_refuse_newer_format(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_commit_result res;
    struct sa_err err = {0};
    char *before, *after;
    size_t len_before, len_after;

    commit_ok(s, "a", 3, &res);
    sa_spool_close(s);
    raw_exec(f->path, "PRAGMA user_version = 7");
    before = slurp(f->path, &len_before);

    s = (struct sa_spool *)1;
    assert_int_equal(sa_spool_open(&s, &f->opts, SA_SPOOL_CREATE, &err),
                     SA_EFORMAT);
    assert_null(s);
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, "7"));
    {
        char newest[16];
        snprintf(newest, sizeof newest, "format %d", SA_SPOOL_FORMAT);
        assert_non_null(strstr(err.msg, newest));
    }
    assert_int_equal(sa_spool_open(&s, &f->opts, SA_SPOOL_READONLY, &err), SA_EFORMAT);
    after = slurp(f->path, &len_after);
    assert_int_equal(len_after, len_before);
    assert_memory_equal(after, before, len_before);
    free(before);
    free(after);
}

static void test_refuse_not_a_spool(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = NULL;
    struct sa_err err = {0};
    char *after;
    size_t len;
    static const char text[] = "this is a CSV file, not SQLite\n1,2,3\n"
                               "padding padding padding padding padding "
                               "padding padding padding padding padding\n";
    FILE *fp = fopen(f->path, "wb");

    assert_non_null(fp);
    fwrite(text, 1, sizeof text - 1, fp);
    fclose(fp);
    assert_int_equal(sa_spool_open(&s, &f->opts, SA_SPOOL_CREATE, &err),
                     SA_ECORRUPT);
    assert_null(s);
    assert_non_null(strstr(err.msg, f->path));
    assert_int_equal(sa_spool_open(&s, &f->opts, 0, &err), SA_ECORRUPT);
    assert_int_equal(sa_spool_open(&s, &f->opts, SA_SPOOL_READONLY, &err),
                     SA_ECORRUPT);
    after = slurp(f->path, &len);
    assert_int_equal(len, sizeof text - 1);
    assert_memory_equal(after, text, len);
    free(after);
    remove(f->path);

    /* a SQLite database of someone else */
    raw_exec(f->path, "CREATE TABLE foo(x); INSERT INTO foo VALUES (1);");
    assert_int_equal(sa_spool_open(&s, &f->opts, SA_SPOOL_CREATE, &err),
                     SA_ECORRUPT);
    assert_non_null(strstr(err.msg, f->path));
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master"), 1);
    remove(f->path);

    /* the right user_version, but no meta.origin_id */
    raw_exec(f->path, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
                      "PRAGMA user_version = 2;");
    assert_int_equal(sa_spool_open(&s, &f->opts, 0, &err), SA_ECORRUPT);
    assert_non_null(strstr(err.msg, "origin_id"));
    remove(f->path);

    /* an empty file without CREATE is not a spool either */
    fp = fopen(f->path, "wb");
    fclose(fp);
    assert_int_equal(sa_spool_open(&s, &f->opts, 0, &err), SA_ECORRUPT);
    assert_int_equal(file_bytes(f->path), 0);
}

/* A write the disk refuses (here: a file size limit) fails the commit,
 * and nothing of it is durable: the spool is as before. */
static void test_failed_write_is_not_durable(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_commit_result res;
    struct sa_spool_status st;
    struct sa_err err = {0};
    char wal[700];
    pid_t pid;
    int status;

    commit_ok(s, "a", 10, &res);
    assert_int_equal(sa_spool_checkpoint(s, &err), SA_OK);
    sa_spool_close(s);
    snprintf(wal, sizeof wal, "%s-wal", f->path);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit lim;
        int rc;
        signal(SIGXFSZ, SIG_IGN);
        if (sa_spool_open(&s, &f->opts, 0, &err))
            _exit(10);
        lim.rlim_cur = lim.rlim_max =
            (rlim_t)(file_bytes(f->path) > file_bytes(wal) ? file_bytes(f->path)
                                                           : file_bytes(wal)) +
            16384;
        setrlimit(RLIMIT_FSIZE, &lim);
        rc = commit_one(s, "a", 200, 4000, 1, &res, &err);
        fprintf(stderr, "child commit: %s %s\n", sa_rc_name(rc), err.msg);
        sa_spool_close(s);
        _exit(rc == SA_EFULL || rc == SA_EIO ? 0 : 11);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    s = open_spool(f, 0);
    status_of(s, &st);
    assert_int_equal(st.next_seq, 11);
    assert_int_equal(st.n_streams, 1);
    assert_int_equal(st.streams[0].records, 10);
    sa_spool_status_fini(&st);
    assert_int_equal(sa_spool_verify(s, NULL, NULL, &err), SA_OK);
    commit_ok(s, "a", 5, &res);
    assert_int_equal(res.first_seq, 11);
    sa_spool_close(s);
}

/* Both ways to shrink: a whole VACUUM (the pages in use are few) and,
 * when VACUUM may not run, incremental_vacuum in steps. */
static void file_shrinks_after_trim(struct fixture *f, int64_t whole_max)
{
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_subscription sub = {.sink = "out"};
    struct sa_commit_result res;
    struct sa_cursor cur;
    struct sa_err err = {0};
    int64_t big, small, used_big, used_small, trimmed, id_before, id_after;
    int64_t cookie;

    sa_spool_set_vacuum_whole_max(s, whole_max);
    for (int i = 0; i < 40; i++)
        assert_int_equal(commit_one(s, "a", 50, 1000, 1, &res, &err), SA_OK);
    assert_int_equal(sa_spool_checkpoint(s, &err), SA_OK);
    big = file_bytes(f->path);
    assert_int_equal(sa_spool_used_bytes(s, &used_big, &err), SA_OK);
    assert_true(big > 40 * 50 * 1000);

    cur = (struct sa_cursor){40, 50};
    assert_int_equal(sa_spool_cursor_set(s, "out", &cur, &err), SA_OK);
    cookie = raw_int(f->path, "PRAGMA schema_version");
    assert_int_equal(sa_spool_trim(s, &sub, 1, &trimmed, &err), SA_OK);
    assert_int_equal(trimmed, 40);
    assert_int_equal(sa_spool_checkpoint(s, &err), SA_OK);
    /* VACUUM counts as a schema change; incremental_vacuum does not: the
     * way taken was the one asked for. */
    if (whole_max > 0)
        assert_true(raw_int(f->path, "PRAGMA schema_version") > cookie);
    else
        assert_int_equal(raw_int(f->path, "PRAGMA schema_version"), cookie);
    small = file_bytes(f->path);
    assert_int_equal(sa_spool_used_bytes(s, &used_small, &err), SA_OK);
    assert_true(small < big / 10);
    assert_true(used_small < used_big / 10);
    assert_int_equal(file_bytes(f->path), small);
    /* Segment ids go on after the highest ever used (AUTOINCREMENT), and
     * the cursor stays: a vacuum rewrites the file, not its rows. */
    id_before = raw_int(f->path, "SELECT seq FROM sqlite_sequence WHERE name = 'segments'");
    assert_int_equal(id_before, 40);
    assert_int_equal(sa_spool_cursor_get(s, "out", &cur, &err), SA_OK);
    assert_int_equal(cur.segment_id, 40);
    assert_int_equal(commit_one(s, "a", 5, 100, 1, &res, &err), SA_OK);
    id_after = raw_int(f->path, "SELECT max(id) FROM segments");
    assert_int_equal(id_after, 41);
    assert_int_equal(raw_int(f->path, "PRAGMA auto_vacuum"), 2);
    sa_spool_close(s);
}

static void test_file_shrinks_after_trim(void **state)
{
    file_shrinks_after_trim(*state, SA_SPOOL_VACUUM_WHOLE_MAX_PAGES);
}

static void test_file_shrinks_in_steps(void **state)
{
    file_shrinks_after_trim(*state, 0);
}

/* Too much in use for VACUUM, but less than at the trim before: a backlog
 * is draining, and the vacuum waits for it instead of writing every free
 * page now; once a trim finds no fewer pages in use, it shrinks in steps. */
static void test_vacuum_waits_while_draining(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_subscription sub = {.sink = "out"};
    struct sa_commit_result res;
    struct sa_cursor cur;
    struct sa_err err = {0};
    int64_t big, trimmed;

    sa_spool_set_vacuum_whole_max(s, 0);
    for (int i = 0; i < 40; i++)
        assert_int_equal(commit_one(s, "a", 50, 1000, 1, &res, &err), SA_OK);
    cur = (struct sa_cursor){10, 50};
    assert_int_equal(sa_spool_cursor_set(s, "out", &cur, &err), SA_OK);
    assert_int_equal(sa_spool_trim(s, &sub, 1, &trimmed, &err), SA_OK);
    assert_int_equal(trimmed, 10);
    assert_int_equal(sa_spool_checkpoint(s, &err), SA_OK);
    big = file_bytes(f->path);
    assert_true(big > 40 * 50 * 1000);

    /* 39 of 40 gone: mostly free, and fewer in use than before. */
    cur = (struct sa_cursor){39, 50};
    assert_int_equal(sa_spool_cursor_set(s, "out", &cur, &err), SA_OK);
    assert_int_equal(sa_spool_trim(s, &sub, 1, &trimmed, &err), SA_OK);
    assert_int_equal(trimmed, 29);
    assert_int_equal(sa_spool_checkpoint(s, &err), SA_OK);
    assert_int_equal(file_bytes(f->path), big);

    /* The next trim finds the same pages in use: the drain stopped. */
    assert_int_equal(sa_spool_trim(s, &sub, 1, &trimmed, &err), SA_OK);
    assert_int_equal(trimmed, 0);
    assert_int_equal(sa_spool_checkpoint(s, &err), SA_OK);
    assert_true(file_bytes(f->path) < big / 10);
    sa_spool_close(s);
}

/* The WAL under steady commits, checkpointed from a second connection as
 * the housekeeper does it: a notice after each commit that leaves the
 * notify size or more in the WAL, with the WAL's length, and
 * sa_spool_checkpoint_restart makes the next commit start the WAL over. A
 * reader holding an old snapshot makes it give up after max_wait_ms, no
 * error, and the WAL goes on growing until the reader is done. */
struct wal_notes {
    int n;
    int64_t last;
};

static void note_wal(void *arg, int64_t wal_bytes)
{
    struct wal_notes *w = arg;
    w->n++;
    w->last = wal_bytes;
}

/* Commit `n` segments of 100 records of 1000 bytes, ~100 KiB each. */
static void commit_100k(struct sa_spool *s, int n)
{
    struct sa_err err = {0};
    for (int i = 0; i < n; i++)
        if (commit_one(s, "w", 100, 1000, 1, NULL, &err) != SA_OK)
            fail_msg("commit: %s", err.msg);
}

static void test_wal_restart(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *writer = open_spool(f, SA_SPOOL_CREATE);
    struct sa_spool *keeper = open_spool(f, 0);
    struct wal_notes w = {0};
    struct sa_err err = {0};
    sqlite3 *reader = NULL;
    sqlite3_stmt *stmt = NULL;

    sa_spool_on_wal_growth(writer, 256 * 1024, note_wal, &w);
    commit_100k(writer, 40); /* ~4 MiB: a notice per commit past 256 KiB */
    assert_in_range(w.n, 35, 40);
    assert_true(w.last > 3 * 1024 * 1024);

    assert_int_equal(sa_spool_checkpoint_restart(keeper, 100, &err), SA_OK);
    w.n = 0;
    commit_100k(writer, 4); /* the WAL started over: ~400 KiB long */
    /* Each commit is a little over 128 KiB of pages (with its roll-up
     * row's page, format 5): notices from the 2nd or 3rd commit on. */
    assert_in_range(w.n, 1, 3);
    assert_true(w.last < 1024 * 1024);

    /* A reader in the middle of a read transaction pins the WAL. */
    assert_int_equal(sqlite3_open(f->path, &reader), SQLITE_OK);
    assert_int_equal(sqlite3_exec(reader, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT count(*) FROM segments", -1,
                                        &stmt, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    sqlite3_finalize(stmt);
    commit_100k(writer, 10);
    int64_t pinned = w.last, t0 = sa_mono_ms();
    assert_int_equal(sa_spool_checkpoint_restart(keeper, 50, &err), SA_OK);
    int64_t waited = sa_mono_ms() - t0;
    assert_in_range(waited, 40, 5000);
    commit_100k(writer, 4);
    assert_true(w.last > pinned); /* not started over */

    assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(reader);
    assert_int_equal(sa_spool_checkpoint_restart(keeper, 50, &err), SA_OK);
    w.n = 0;
    commit_100k(writer, 4);
    assert_in_range(w.n, 1, 3); /* as above */
    assert_true(w.last < 1024 * 1024);

    sa_spool_on_wal_growth(writer, 0, NULL, NULL);
    assert_int_equal(sa_spool_verify(writer, NULL, NULL, &err), SA_OK);
    sa_spool_close(keeper);
    sa_spool_close(writer);
}

/* The note that ingest is paused: written, seen by a read-only status,
 * rewritten in place (its file keeps its size and blocks, so that it fits on
 * a full disk), cleared. */
static void test_note_blocked(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE), *ro;
    struct sa_spool_status st;
    struct sa_err err = {0};
    struct stat before, after;
    char note[700];

    snprintf(note, sizeof note, "%s-note", f->path);
    status_of(s, &st);
    assert_int_equal(st.blocked_since_ms, 0); /* no file yet: no note */
    sa_spool_status_fini(&st);

    assert_int_equal(sa_spool_note_blocked(s, NULL, &err), SA_OK);
    assert_int_equal(stat(note, &before), 0);
    assert_int_equal(sa_spool_note_blocked(s, "spool full: disk is full", &err),
                     SA_OK);
    assert_int_equal(stat(note, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(after.st_blocks, before.st_blocks);

    ro = open_spool(f, SA_SPOOL_READONLY);
    status_of(ro, &st);
    assert_true(st.blocked_since_ms > 0);
    assert_string_equal(st.blocked_reason, "spool full: disk is full");
    sa_spool_status_fini(&st);

    assert_int_equal(sa_spool_note_blocked(s, NULL, &err), SA_OK);
    status_of(ro, &st);
    assert_int_equal(st.blocked_since_ms, 0);
    sa_spool_status_fini(&st);
    sa_spool_close(ro);
    sa_spool_close(s);
}

static void test_status_and_lag(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_spool_status st;
    struct sa_commit_result res;
    struct sa_cursor cur;
    struct sa_err err = {0};
    const char *only_b[] = {"b"};
    const char *both[] = {"a", "b"};
    int64_t records, oldest;
    struct sa_deadletter dl[2] = {
        {.stream = "a", .source = "csv", .location = "in.csv:3:7",
         .reason = "bad int", .raw = "x,y", .raw_len = 3},
        {.stream = "a", .source = "csv", .location = "in.csv:9:1",
         .reason = "too few columns"},
    };
    struct sa_commit dl_commit = {.deadletters = dl, .n_deadletters = 2};

    commit_ok(s, "a", 10, &res); /* 1: 1..10 */
    commit_ok(s, "b", 4, &res);  /* 2: 11..14 */
    commit_ok(s, "a", 6, &res);  /* 3: 15..20 */
    assert_int_equal(sa_spool_commit(s, &dl_commit, &res, &err), SA_OK);
    assert_int_equal(res.n_records, 0);
    cur = (struct sa_cursor){1, 4};
    assert_int_equal(sa_spool_cursor_set(s, "es", &cur, &err), SA_OK);

    status_of(s, &st);
    assert_string_equal(st.origin_id, sa_spool_origin_id(s));
    assert_int_equal(st.next_seq, 21);
    assert_int_equal(st.n_streams, 2);
    assert_string_equal(st.streams[0].stream, "a");
    assert_int_equal(st.streams[0].segments, 2);
    assert_int_equal(st.streams[0].records, 16);
    assert_int_equal(st.streams[0].first_seq, 1);
    assert_int_equal(st.streams[0].last_seq, 20);
    assert_true(st.streams[0].bytes > 0);
    assert_true(st.streams[0].oldest_created_ms > 0);
    assert_string_equal(st.streams[1].stream, "b");
    assert_int_equal(st.streams[1].records, 4);
    assert_int_equal(st.streams[1].first_seq, 11);
    assert_int_equal(st.streams[1].last_seq, 14);
    assert_int_equal(st.n_sinks, 1);
    assert_string_equal(st.sinks[0].sink, "es");
    assert_int_equal(st.sinks[0].cursor.segment_id, 1);
    assert_int_equal(st.sinks[0].cursor.record_index, 4);
    assert_true(st.sinks[0].updated_ms > 0);
    assert_int_equal(st.deadletters, 2);
    assert_int_equal(st.audit_dropped_records, 0);
    assert_true(st.used_bytes > 0);
    assert_true(st.file_bytes >= st.used_bytes / 2);
    sa_spool_status_fini(&st);

    /* lag: (1,4) leaves 6 of segment 1, all of 2 and 3 */
    assert_int_equal(sa_spool_lag(s, &cur, NULL, 0, &records, &oldest, &err),
                     SA_OK);
    assert_int_equal(records, 6 + 4 + 6);
    assert_true(oldest > 0);
    assert_int_equal(sa_spool_lag(s, &cur, only_b, 1, &records, &oldest, &err),
                     SA_OK);
    assert_int_equal(records, 4);
    assert_int_equal(sa_spool_lag(s, &cur, both, 2, &records, &oldest, &err),
                     SA_OK);
    assert_int_equal(records, 16);
    cur = (struct sa_cursor){3, 6};
    assert_int_equal(sa_spool_lag(s, &cur, NULL, 0, &records, &oldest, &err),
                     SA_OK);
    assert_int_equal(records, 0);
    assert_int_equal(oldest, 0);

    /* status works from a read-only handle beside the writer */
    {
        struct sa_spool *ro = open_spool(f, SA_SPOOL_READONLY);
        status_of(ro, &st);
        assert_int_equal(st.next_seq, 21);
        sa_spool_status_fini(&st);
        assert_int_equal(commit_one(ro, "a", 1, 32, 0, &res, &err) != SA_OK, 1);
        sa_spool_close(ro);
    }
    sa_spool_close(s);
}

static void test_offsets(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_segment_builder b;
    struct sa_segment_builder *segs[1] = {&b};
    struct sa_offset_update off = {.source = "csv", .file_key = "/in/a.csv",
                                   .offset = 1234, .line = 10};
    struct sa_commit c = {.segments = segs, .n_segments = 1, .offsets = &off,
                          .n_offsets = 1};
    struct sa_err err = {0};
    int64_t offset, line;
    int done;

    assert_int_equal(sa_spool_offset_get(s, "csv", "/in/a.csv", &offset, &line,
                                         &done, &err),
                     SA_ENOTFOUND);
    fill(&b, "a", 5, 32, 0);
    assert_int_equal(sa_spool_commit(s, &c, NULL, &err), SA_OK);
    assert_int_equal(sa_spool_offset_get(s, "csv", "/in/a.csv", &offset, &line,
                                         &done, &err),
                     SA_OK);
    assert_int_equal(offset, 1234);
    assert_int_equal(line, 10);
    assert_int_equal(done, 0);
    off.offset = 2000;
    off.done = 1;
    c.n_segments = 0;
    assert_int_equal(sa_spool_commit(s, &c, NULL, &err), SA_OK);
    sa_spool_close(s);
    s = open_spool(f, 0);
    assert_int_equal(sa_spool_offset_get(s, "csv", "/in/a.csv", &offset, &line,
                                         &done, &err),
                     SA_OK);
    assert_int_equal(offset, 2000);
    assert_int_equal(done, 1);
    sa_segment_builder_fini(&b);
    sa_spool_close(s);
}

static void test_cursors_prune(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_cursor cur = {3, 1};
    struct sa_spool_status st;
    struct sa_err err = {0};
    const char *keep[] = {"kafka"};

    assert_int_equal(sa_spool_cursor_set(s, "kafka", &cur, &err), SA_OK);
    assert_int_equal(sa_spool_cursor_set(s, "old-es", &cur, &err), SA_OK);
    assert_int_equal(sa_spool_cursor_set(s, "old \"http\"", &cur, &err), SA_OK);
    assert_int_equal(sa_spool_cursors_prune(s, keep, 1, &err), SA_OK);
    status_of(s, &st);
    assert_int_equal(st.n_sinks, 1);
    assert_string_equal(st.sinks[0].sink, "kafka");
    sa_spool_status_fini(&st);
    sa_spool_close(s);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE kind ="
                                      " 'cursor_removed' AND json_valid(detail)"),
                     2);
}

static void test_schemas(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_err err = {0};
    int64_t id1, id2, id3;
    char *subject = NULL, *def = NULL;
    int version;

    assert_int_equal(sa_spool_schema_put(s, "orders", 1, 111, "{\"v\":1}", &id1,
                                         &err),
                     SA_OK);
    assert_int_equal(sa_spool_schema_put(s, "orders", 1, 111, "{\"v\":1}", &id2,
                                         &err),
                     SA_OK);
    assert_int_equal(id1, id2);
    assert_int_equal(sa_spool_schema_put(s, "orders", 2, 222, "{\"v\":2}", &id3,
                                         &err),
                     SA_OK);
    assert_true(id3 != id1);
    assert_int_equal(sa_spool_schema_put(s, "orders", 1, 333, "{\"v\":9}", &id2,
                                         &err),
                     SA_ESCHEMA);
    assert_int_equal(sa_spool_schema_get(s, id3, &subject, &version, &def, &err),
                     SA_OK);
    assert_string_equal(subject, "orders");
    assert_int_equal(version, 2);
    assert_string_equal(def, "{\"v\":2}");
    free(subject);
    free(def);
    assert_int_equal(sa_spool_schema_get(s, 999, &subject, &version, &def,
                                         &err),
                     SA_ENOTFOUND);
    sa_spool_close(s);
}

static void test_deflate_segments(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s;
    struct sa_commit_result res;
    struct sa_cursor cur = {0, 0};
    struct sa_segment_view v;
    struct sa_err err = {0};

    f->opts.compression = SA_CODEC_DEFLATE;
    s = open_spool(f, SA_SPOOL_CREATE);
    assert_int_equal(commit_one(s, "z", 200, 300, 0, &res, &err), SA_OK);
    assert_int_equal(sa_spool_read_after(s, &cur, NULL, 0, &v, &err), SA_OK);
    expect_records(&v, 1, 0, 200);
    assert_int_equal(v.len, (size_t)raw_int(f->path, "SELECT bytes FROM "
                                                     "segments"));
    sa_spool_close(s);
    assert_int_equal(raw_int(f->path, "SELECT codec FROM segments"), 1);
    assert_true(raw_int(f->path, "SELECT length(data) FROM segments") <
                raw_int(f->path, "SELECT bytes FROM segments") / 4);
}

struct problems {
    int n;
    char last[512];
};

static void collect(void *arg, const char *problem)
{
    struct problems *p = arg;
    p->n++;
    snprintf(p->last, sizeof p->last, "%s", problem);
}

static void test_verify_finds_damage(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_commit_result res;
    struct problems p = {0};
    struct sa_err err = {0};

    commit_ok(s, "a", 10, &res);
    commit_ok(s, "a", 10, &res);
    commit_ok(s, "a", 10, &res);
    assert_int_equal(sa_spool_verify(s, collect, &p, &err), SA_OK);
    assert_int_equal(p.n, 0);
    sa_spool_close(s);

    /* a seq gap between adjacent segments, a truncated payload */
    raw_exec(f->path, "UPDATE segments SET first_seq = first_seq + 3"
                      " WHERE id = 2");
    raw_exec(f->path, "UPDATE segments SET data = substr(data, 1, 20),"
                      " bytes = 20 WHERE id = 3");
    s = open_spool(f, 0);
    assert_int_equal(sa_spool_verify(s, collect, &p, &err), SA_ECORRUPT);
    assert_true(p.n >= 2);
    assert_non_null(strstr(err.msg, f->path));
    /* a damaged segment read by a sink is an error, not a crash */
    {
        struct sa_cursor cur = {3, 0};
        struct sa_segment_view v;
        struct sa_segment_iter it;
        struct sa_record_view rec;
        int rc;
        assert_int_equal(sa_spool_read_after(s, &cur, NULL, 0, &v, &err),
                         SA_OK);
        sa_segment_iter_init(&it, &v);
        while ((rc = sa_segment_iter_next(&it, &rec, &err)) == SA_OK)
            ;
        assert_int_equal(rc, SA_ECORRUPT);
    }
    sa_spool_close(s);
}

/* Roll-ups: a commit adds its records per stream and its dead letters by
 * reason class (a quality rule's, or invalid; a sink's to the sink), with
 * the caller's drop and tag counts; a cursor save adds what its sink
 * acknowledged. A commit that fails adds nothing. */
static void test_rollups(void **state)
{
    struct fixture *f = *state;
    struct sa_spool *s = open_spool(f, SA_SPOOL_CREATE);
    struct sa_segment_builder b;
    struct sa_segment_builder *segs[1] = {&b};
    struct sa_deadletter dls[3] = {
        {.stream = "orders",
         .source = "csv",
         .location = "a.csv:2:1",
         .reason =
             "quality rule 'amount_max' failed: column amount = 9 is above max 1"},
        {.stream = "orders",
         .source = "csv",
         .location = "a.csv:3:1",
         .reason = "row has 3 fields, the header has 4"},
        {.stream = "orders",
         .source = "sink:es",
         .location = "segment 1 record 0",
         .reason = "mapping conflict"},
    };
    struct sa_rollup_add adds[2] = {{"orders", "dropped", "stale", 4},
                                    {"orders", "tagged", "cc", 2}};
    struct sa_audit_add audit = {"quality_drop", "{\"records\":4}"};
    struct sa_commit c = {.segments = segs,
                          .n_segments = 1,
                          .deadletters = dls,
                          .n_deadletters = 3,
                          .rollups = adds,
                          .n_rollups = 2,
                          .audits = &audit,
                          .n_audits = 1};
    struct sa_cursor cur = {1, 0};
    struct sa_rollup_row *rows = NULL;
    struct sa_audit_row *arows = NULL;
    size_t n = 0;
    struct sa_err err = {0};
    char today[11];

    assert_int_equal(sa_segment_builder_init(&b, "orders", 1, 0), SA_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(sa_segment_add(&b, i, "k", 1, SA_OP_UPSERT, "x", 1), SA_OK);
    assert_int_equal(sa_spool_commit(s, &c, NULL, &err), SA_OK);
    assert_int_equal(sa_spool_commit(s, &c, NULL, &err), SA_OK);
    assert_int_equal(sa_spool_cursor_set_rollup(s, "es", &cur, 1, 6, &err), SA_OK);
    sa_segment_builder_fini(&b);
    sa_spool_close(s);

    s = open_spool(f, SA_SPOOL_READONLY);
    sa_rollup_day(sa_now_ms(), today);
    assert_int_equal(sa_spool_rollup_streams(s, today, &rows, &n, &err), SA_OK);
    assert_int_equal(n, 5);
    /* ordered by day, stream, kind, reason */
    assert_string_equal(rows[0].kind, "dropped");
    assert_string_equal(rows[0].reason, "stale");
    assert_int_equal(rows[0].n, 8);
    assert_string_equal(rows[1].kind, "ingested");
    assert_int_equal(rows[1].n, 10);
    assert_string_equal(rows[2].reason, "invalid");
    assert_int_equal(rows[2].n, 2);
    assert_string_equal(rows[3].reason, "quality:amount_max");
    assert_int_equal(rows[3].n, 2);
    assert_string_equal(rows[4].kind, "tagged");
    assert_int_equal(rows[4].n, 4);
    free(rows);
    assert_int_equal(sa_spool_rollup_sinks(s, "", &rows, &n, &err), SA_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].name, "es");
    assert_string_equal(rows[0].kind, "acked");
    assert_int_equal(rows[0].n, 6);
    assert_string_equal(rows[1].kind, "deadlettered");
    assert_int_equal(rows[1].n, 2);
    assert_string_equal(rows[2].kind, "superseded");
    assert_int_equal(rows[2].n, 1);
    free(rows);
    assert_int_equal(sa_spool_quality_totals(s, &rows, &n, &err), SA_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rows[1].reason, "amount_max"); /* after "cc" */
    assert_string_equal(rows[1].kind, "rejected");
    free(rows);
    /* tomorrow on: nothing */
    assert_int_equal(sa_spool_rollup_streams(s, "9999-01-01", &rows, &n, &err), SA_OK);
    assert_int_equal(n, 0);
    free(rows);
    assert_int_equal(sa_spool_audit_since(s, 0, 100, &arows, &n, &err), SA_OK);
    assert_int_equal(n, 2);
    assert_string_equal(arows[0].kind, "quality_drop");
    sa_spool_audit_rows_free(arows, n);
    sa_spool_close(s);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rollups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_read_ack_trim, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ids_not_reused_after_full_trim,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_seq_across_reopen_and_handles,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_seq_concurrent_writers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_full_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_reject, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_drop_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_format1, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deadletter_settle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hlc_persisted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_newer_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_not_a_spool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_is_not_durable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_shrinks_after_trim, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_file_shrinks_in_steps, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_vacuum_waits_while_draining, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_status_and_lag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_note_blocked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursors_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schemas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deflate_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_finds_damage, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
