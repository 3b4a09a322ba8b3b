/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dispatcher against a real spool in a temporary directory and a test
 * sink defined here, which misbehaves on purpose: it acknowledges out of
 * order, asks for some ranges again the first time it sees them, fails
 * one send, rejects a poison record and says SA_EAGAIN when its queue is
 * full. Records are one Avro long each (the zigzag varint of their number
 * n), so the sink knows which record it holds. In another mode it rejects
 * the poison record every time it sees it and, the first time, asks for
 * everything else it holds again, so that the dispatcher rewinds to before
 * the poison record after dead-lettering it.
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

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_RECORDS 500
#define PER_SEGMENT 10
#define MAX_RECORDS 5000
#define POISON 123

static const char *const tick_schema =
    "{\"type\":\"record\",\"name\":\"Tick\",\"fields\":"
    "[{\"name\":\"n\",\"type\":\"long\"}]}";

/* --- the test sink ------------------------------------------------------ */

struct held {
    int64_t segment_id;
    uint32_t first, count;
    int64_t n[64]; /* record numbers, decoded from the bodies */
};

/* Shared between the test and the worker thread. */
struct test_sink_state {
    pthread_mutex_t lock;
    /* behaviour */
    int misbehave;         /* out-of-order acks, retries, poison, failed send */
    int64_t queue_cap;     /* EAGAIN when this many records are held */
    int64_t hold_from;     /* never give an outcome for n >= hold_from */
    int poison_rewind;     /* reject POISON always; retry the rest once */
    int send_delay_ms;     /* each send first sleeps this long */
    /* what happened */
    struct held held[256];
    size_t n_held;
    int64_t held_records, max_held;
    int delivered[MAX_RECORDS]; /* OK outcomes per record number */
    int received[MAX_RECORDS];  /* times offered per record number */
    int64_t first_received;     /* n of the first record offered, -1 none */
    int retried_segment[4096];
    int failed_send, n_eagain, n_retry, n_reject, n_sends;
    int rewound; /* poison_rewind: the retry was asked */
    int bad_view;
    /* down: every outcome is RETRY (an upstream outage) */
    int down, was_down;
    int64_t max_held_probe; /* held while down, after the first RETRY */
    int64_t max_held_up;    /* held after coming back */
    int64_t start_segment;  /* > 0: start_cursor answers (start_segment, 0) */
};
static struct test_sink_state ts = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* What the sink saw, copied out so that a failing assertion (a longjmp)
 * never leaves ts.lock held for the next test. */
static struct test_sink_state seen;

static void snapshot(void)
{
    pthread_mutex_lock(&ts.lock);
    memcpy((char *)&seen + sizeof seen.lock, (char *)&ts + sizeof ts.lock,
           sizeof ts - sizeof ts.lock);
    pthread_mutex_unlock(&ts.lock);
}

static void ts_reset(int misbehave, int64_t queue_cap, int64_t hold_from)
{
    pthread_mutex_lock(&ts.lock);
    memset((char *)&ts + sizeof ts.lock, 0, sizeof ts - sizeof ts.lock);
    ts.misbehave = misbehave;
    ts.queue_cap = queue_cap;
    ts.hold_from = hold_from;
    ts.first_received = -1;
    pthread_mutex_unlock(&ts.lock);
}

static int test_open(struct sa_sink *sink, struct sa_err *err)
{
    (void)err;
    sink->ctx = &ts;
    return SA_OK;
}

static int64_t body_n(const struct sa_record_view *rec)
{
    uint64_t v = 0;
    if (sa_varint_decode(rec->body, rec->body + rec->body_len, &v) == 0)
        return -1;
    return sa_zigzag_decode(v);
}

static int test_send(struct sa_sink *sink, const struct sa_segment_view *view,
                     struct sa_err *err)
{
    struct sa_segment_iter it;
    struct sa_record_view rec;
    struct held h = {.segment_id = view->id, .first = view->start_index};
    int rc = SA_OK;

    (void)sink;
    pthread_mutex_lock(&ts.lock);
    if (ts.send_delay_ms > 0) {
        int ms = ts.send_delay_ms;
        pthread_mutex_unlock(&ts.lock);
        sa_sleep_ms(ms);
        pthread_mutex_lock(&ts.lock);
    }
    if (view->start_index >= view->count ||
        view->count - view->start_index > 64) {
        ts.bad_view++;
        goto out;
    }
    if (ts.held_records >= ts.queue_cap) {
        ts.n_eagain++;
        rc = SA_EAGAIN;
        goto out;
    }
    if (ts.misbehave && view->id == 5 && !ts.failed_send) {
        ts.failed_send = 1;
        rc = sa_err_set(err, SA_ESINK, "test sink: connection reset");
        goto out;
    }
    sa_segment_iter_init(&it, view);
    while (sa_segment_iter_next(&it, &rec, NULL) == SA_OK && rec.index < view->count) {
        int64_t n = body_n(&rec);
        if (n < 0 || n >= MAX_RECORDS || rec.index != h.first + h.count) {
            ts.bad_view++;
            goto out;
        }
        h.n[h.count++] = n;
        ts.received[n]++;
        if (ts.first_received < 0)
            ts.first_received = n;
    }
    if (h.count != view->count - view->start_index || ts.n_held == 256) {
        ts.bad_view++;
        goto out;
    }
    ts.held[ts.n_held++] = h;
    ts.held_records += h.count;
    if (ts.held_records > ts.max_held)
        ts.max_held = ts.held_records;
    if (ts.down && ts.n_retry > 0 && ts.held_records > ts.max_held_probe)
        ts.max_held_probe = ts.held_records;
    if (!ts.down && ts.was_down && ts.held_records > ts.max_held_up)
        ts.max_held_up = ts.held_records;
    ts.n_sends++;
out:
    pthread_mutex_unlock(&ts.lock);
    return rc;
}

/* Outcome for the records of h around its POISON record (at index p of
 * h, or -1), which gets a REJECT first. */
static void ack_around(struct sa_ack_list *acks, const struct held *h, int p,
                       int outcome, const char *reason)
{
    if (p < 0) {
        sa_ack_list_push(acks, h->segment_id, h->first, h->count, outcome, reason);
        return;
    }
    sa_ack_list_push(acks, h->segment_id, h->first + (uint32_t)p, 1, SA_SINK_REJECT,
                     "test sink: poison");
    if (p > 0)
        sa_ack_list_push(acks, h->segment_id, h->first, (uint32_t)p, outcome, reason);
    if ((uint32_t)p + 1 < h->count)
        sa_ack_list_push(acks, h->segment_id, h->first + (uint32_t)p + 1,
                         h->count - (uint32_t)p - 1, outcome, reason);
}

/* poison_rewind: every held range at once, oldest first. */
static void poll_poison_rewind(struct sa_ack_list *acks)
{
    int poison[256], any = 0, retry;

    for (size_t i = 0; i < ts.n_held; i++) {
        poison[i] = -1;
        for (uint32_t k = 0; k < ts.held[i].count; k++)
            if (ts.held[i].n[k] == POISON) {
                poison[i] = (int)k;
                any = 1;
                ts.n_reject++;
            }
    }
    /* The first time the poison record is there, every other record held
     * is asked again: the dispatcher's acked cursor stays before it. */
    retry = any && !ts.rewound;
    if (retry) {
        ts.rewound = 1;
        ts.n_retry++;
    }
    for (size_t i = 0; i < ts.n_held; i++) {
        const struct held *h = &ts.held[i];
        ack_around(acks, h, poison[i], retry ? SA_SINK_RETRY : SA_SINK_OK,
                   retry ? "test sink: busy" : NULL);
        if (!retry)
            for (uint32_t k = 0; k < h->count; k++)
                if ((int)k != poison[i])
                    ts.delivered[h->n[k]]++;
    }
    ts.n_held = 0;
    ts.held_records = 0;
}

/* Give outcomes for at most two held ranges per call, newest first. */
static int test_poll_acks(struct sa_sink *sink, struct sa_ack_list *acks,
                          int timeout_ms)
{
    int given = 0;

    (void)sink;
    pthread_mutex_lock(&ts.lock);
    if (ts.poison_rewind && ts.n_held > 0) {
        poll_poison_rewind(acks);
        given = 1;
    }
    if (ts.down) {
        for (size_t i = 0; i < ts.n_held; i++)
            sa_ack_list_push(acks, ts.held[i].segment_id, ts.held[i].first,
                             ts.held[i].count, SA_SINK_RETRY, "test sink: down");
        ts.n_retry += ts.n_held > 0;
        given = (int)ts.n_held;
        ts.n_held = 0;
        ts.held_records = 0;
    }
    for (size_t i = ts.n_held; i-- > 0 && given < 2;) {
        struct held *h = &ts.held[i];
        int held_back = 0, poison = -1;

        for (uint32_t k = 0; k < h->count; k++) {
            if (h->n[k] >= ts.hold_from)
                held_back = 1;
            if (ts.misbehave && h->n[k] == POISON)
                poison = (int)k;
        }
        if (held_back)
            continue;
        if (ts.misbehave && h->segment_id % 7 == 0 &&
            !ts.retried_segment[h->segment_id]) {
            ts.retried_segment[h->segment_id] = 1;
            sa_ack_list_push(acks, h->segment_id, h->first, h->count,
                             SA_SINK_RETRY, "test sink: busy");
            ts.n_retry++;
        } else if (poison >= 0) {
            /* OK around the poison record, acked in three pieces. */
            uint32_t p = (uint32_t)poison;
            if (p + 1 < h->count)
                sa_ack_list_push(acks, h->segment_id, h->first + p + 1,
                                 h->count - p - 1, SA_SINK_OK, NULL);
            sa_ack_list_push(acks, h->segment_id, h->first + p, 1,
                             SA_SINK_REJECT, "test sink: poison");
            if (p > 0)
                sa_ack_list_push(acks, h->segment_id, h->first, p, SA_SINK_OK,
                                 NULL);
            for (uint32_t k = 0; k < h->count; k++)
                if (k != p)
                    ts.delivered[h->n[k]]++;
            ts.n_reject++;
        } else {
            sa_ack_list_push(acks, h->segment_id, h->first, h->count,
                             SA_SINK_OK, NULL);
            for (uint32_t k = 0; k < h->count; k++)
                ts.delivered[h->n[k]]++;
        }
        ts.held_records -= h->count;
        memmove(h, h + 1, (ts.n_held - i - 1) * sizeof *h);
        ts.n_held--;
        given++;
    }
    pthread_mutex_unlock(&ts.lock);
    if (!given && timeout_ms > 0)
        sa_sleep_ms(timeout_ms < 5 ? timeout_ms : 5);
    return SA_OK;
}

static void test_close(struct sa_sink *sink)
{
    sink->ctx = NULL;
}

static const struct sa_conf_entry test_conf[] = {{.key = NULL}};

/* Like the exactly-once Kafka sink: the upstream may know a later cursor. */
static int test_start_cursor(struct sa_sink *sink, struct sa_cursor *inout,
                             struct sa_err *err)
{
    (void)sink;
    (void)err;
    pthread_mutex_lock(&ts.lock);
    if (ts.start_segment > 0)
        *inout = (struct sa_cursor){ts.start_segment, 0};
    pthread_mutex_unlock(&ts.lock);
    return SA_OK;
}

static const struct sa_sink_ops test_sink_ops = {
    .name = "test",
    .desc = "misbehaving sink for the dispatcher tests",
    .conf = test_conf,
    .open = test_open,
    .send = test_send,
    .poll_acks = test_poll_acks,
    .close = test_close,
    .start_cursor = test_start_cursor,
};

/* --- fixture ------------------------------------------------------------ */

struct fixture {
    char dir[256];
    char path[300];
    struct sa_spool_opts opts;
    struct sa_spool *spool;
    int64_t schema_id;
    int64_t next_n;
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

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct sa_schema *schema = NULL;
    struct sa_err err = {0};

    assert_non_null(f);
    assert_non_null(sa_test_mkdtemp(f->dir, sizeof f->dir, "sa_dispatcher_"));
    snprintf(f->path, sizeof f->path, "%s/spool.db", f->dir);
    f->opts.path = f->path;
    assert_int_equal(sa_spool_open(&f->spool, &f->opts, SA_SPOOL_CREATE, &err),
                     SA_OK);
    assert_int_equal(sa_schema_parse("tick", 1, tick_schema, &schema, &err),
                     SA_OK);
    assert_int_equal(sa_spool_schema_put(f->spool, "tick", 1, schema->fingerprint,
                                         schema->definition, &f->schema_id, &err),
                     SA_OK);
    sa_schema_free(schema);
    f->conf = (struct sa_sink_conf){
        .name = "t1", .type = "test", .retry_initial_ms = 1,
        .retry_max_ms = 20, .max_in_flight = 25, .ops = &test_sink_ops};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sa_spool_close(f->spool);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Spool n more records, PER_SEGMENT per segment, numbered on from the last. */
static void spool_records(struct fixture *f, int64_t n)
{
    while (n > 0) {
        struct sa_segment_builder b;
        struct sa_segment_builder *segs[1] = {&b};
        struct sa_commit commit = {.segments = segs, .n_segments = 1};
        struct sa_err err = {0};

        assert_int_equal(sa_segment_builder_init(&b, "tick", f->schema_id, 1 << 20),
                         SA_OK);
        for (int i = 0; i < PER_SEGMENT && n > 0; i++, n--) {
            uint8_t body[10];
            size_t len = sa_varint_encode(body, sa_zigzag_encode(f->next_n));
            assert_int_equal(sa_segment_add(&b, 1700000000000 + f->next_n, NULL, 0,
                                            SA_OP_UPSERT, body, len),
                             SA_OK);
            f->next_n++;
        }
        assert_int_equal(sa_spool_commit(f->spool, &commit, NULL, &err), SA_OK);
        sa_segment_builder_fini(&b);
    }
}

static void wait_caught_up(struct sa_dispatcher *d, int64_t timeout_ms)
{
    int64_t until = sa_mono_ms() + timeout_ms;
    while (!sa_dispatcher_caught_up(d)) {
        if (sa_mono_ms() > until)
            fail_msg("dispatcher not caught up after %lld ms",
                     (long long)timeout_ms);
        sa_sleep_ms(5);
    }
}

static struct sa_dispatcher *start(struct fixture *f)
{
    struct sa_dispatcher *d = NULL;
    struct sa_dispatcher_opts opts = {.spool = &f->opts, .sinks = &f->conf,
                                      .n_sinks = 1};
    struct sa_err err = {0};
    int rc = sa_dispatcher_start(&d, &opts, &err);
    if (rc)
        fail_msg("sa_dispatcher_start: %s", err.msg);
    assert_non_null(d);
    return d;
}

static int64_t lag(struct fixture *f)
{
    struct sa_cursor cur;
    struct sa_err err = {0};
    int64_t records = -1, oldest = 0;
    assert_int_equal(sa_spool_cursor_get(f->spool, "t1", &cur, &err), SA_OK);
    assert_int_equal(sa_spool_lag(f->spool, &cur, NULL, 0, &records, &oldest, &err),
                     SA_OK);
    return records;
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

/* Every record arrives despite out-of-order acks, retries, a failed send,
 * EAGAIN and a poison record; the cursor ends at the end; the poison
 * record is a dead letter; in-flight never passes max_in_flight. */
static void test_delivers_everything(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d;
    struct sa_sink_metrics m[2];

    ts_reset(1, 12, INT64_MAX);
    spool_records(f, N_RECORDS / 2);
    d = start(f);
    /* Half before the start, half while it runs, announced by notify. */
    spool_records(f, N_RECORDS / 2);
    sa_dispatcher_notify(d);
    wait_caught_up(d, 20000);
    assert_int_equal(sa_dispatcher_metrics(d, m, 2), 1);
    sa_dispatcher_stop(d, 1000);

    snapshot();
    assert_int_equal(seen.bad_view, 0);
    for (int n = 0; n < N_RECORDS; n++) {
        if (n == POISON)
            assert_int_equal(seen.delivered[n], 0);
        else if (seen.delivered[n] < 1)
            fail_msg("record %d never delivered", n);
    }
    assert_true(seen.max_held <= f->conf.max_in_flight);
    assert_true(seen.max_held > 0);
    assert_true(seen.n_eagain > 0);
    assert_true(seen.n_retry > 0);
    assert_true(seen.failed_send);
    assert_true(seen.n_reject >= 1);

    assert_string_equal(m[0].name, "t1");
    assert_int_equal(m[0].rejected, 1);
    assert_true(m[0].acked >= N_RECORDS - 1);
    assert_true(m[0].retried > 0);
    assert_true(m[0].sent >= N_RECORDS);
    assert_int_equal(lag(f), 0);
    assert_int_equal(deadletters(f), 1);
}

/* Releases the outcomes the test sink holds back, 200 ms after it starts:
 * by then the test thread waits in sa_dispatcher_wait_caught_up. */
static void *release_later(void *arg)
{
    (void)arg;
    sa_sleep_ms(200);
    pthread_mutex_lock(&ts.lock);
    ts.hold_from = INT64_MAX;
    pthread_mutex_unlock(&ts.lock);
    return NULL;
}

/* sa_dispatcher_wait_caught_up returns 1, woken by the worker rather than
 * at the end of its timeout (40 s: the test fails after 30). */
static void wait_woken(struct sa_dispatcher *d, const char *what)
{
    int64_t t0 = sa_mono_ms();
    while (!sa_dispatcher_wait_caught_up(d, 40000))
        if (sa_mono_ms() - t0 > 30000)
            fail_msg("%s: not caught up after 30 s", what);
    if (sa_mono_ms() - t0 > 30000)
        fail_msg("%s: caught up only at the end of the wait's timeout", what);
}

/* sa_dispatcher_wait_caught_up: 0 after its timeout while the sink holds
 * outcomes back; woken by the worker when it catches up, both after a
 * spell of busy turns and when one turn sends, is acked and is idle
 * again. Each wait begins while the dispatcher is not caught up. */
static void test_wait_caught_up(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d;
    pthread_t t;

    ts_reset(0, 1000, 150);
    spool_records(f, 200);
    d = start(f);
    assert_int_equal(sa_dispatcher_wait_caught_up(d, 100), 0);
    assert_int_equal(sa_dispatcher_wait_caught_up(d, 100), 0);
    assert_false(sa_dispatcher_caught_up(d));
    assert_int_equal(pthread_create(&t, NULL, release_later, NULL), 0);
    wait_woken(d, "outcomes released");
    pthread_join(t, NULL);

    /* One record, whose send takes 200 ms: the wait begins before it is
     * acked, and the worker goes from that send to idle in one turn. */
    sa_sleep_ms(300);
    pthread_mutex_lock(&ts.lock);
    ts.send_delay_ms = 200;
    pthread_mutex_unlock(&ts.lock);
    spool_records(f, 1);
    sa_dispatcher_notify(d);
    assert_false(sa_dispatcher_caught_up(d));
    wait_woken(d, "one record");
    sa_dispatcher_stop(d, 1000);
    assert_int_equal(lag(f), 0);
    snapshot();
    for (int n = 0; n < 201; n++)
        if (seen.received[n] < 1)
            fail_msg("record %d never sent", n);
}

/* After a clean stop nothing is sent again; new records after a restart
 * are sent once, and nothing before them. */
static void test_restart_resends_nothing(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d;

    ts_reset(0, 1000, INT64_MAX);
    spool_records(f, 200);
    d = start(f);
    wait_caught_up(d, 10000);
    sa_dispatcher_stop(d, 1000);
    assert_int_equal(lag(f), 0);

    ts_reset(0, 1000, INT64_MAX);
    d = start(f);
    sa_sleep_ms(300);
    snapshot();
    assert_int_equal(seen.n_sends, 0);
    assert_int_equal(seen.first_received, -1);

    spool_records(f, 5);
    sa_dispatcher_notify(d);
    wait_caught_up(d, 10000);
    sa_dispatcher_stop(d, 1000);
    snapshot();
    for (int n = 0; n < 205; n++)
        assert_int_equal(seen.received[n], n >= 200 ? 1 : 0);
    assert_int_equal(seen.first_received, 200);
    assert_int_equal(lag(f), 0);
}

/* Stop while the sink holds outcomes back: the saved cursor stops at the
 * acknowledged prefix, and a restart sends from exactly there. */
static void test_stop_keeps_acked_prefix(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d;
    struct sa_sink_metrics m;
    struct sa_cursor cur;
    struct sa_err err = {0};
    int64_t until;

    ts_reset(0, 1000, 100);
    spool_records(f, 300);
    d = start(f);
    until = sa_mono_ms() + 10000;
    do {
        assert_true(sa_mono_ms() < until);
        sa_sleep_ms(5);
        sa_dispatcher_metrics(d, &m, 1);
    } while (m.acked < 100);
    assert_false(sa_dispatcher_caught_up(d));
    sa_dispatcher_stop(d, 50);
    assert_int_equal(sa_spool_cursor_get(f->spool, "t1", &cur, &err), SA_OK);
    /* Records 0..99 are segments 1..10: the cursor is past segment 10. */
    assert_int_equal(cur.segment_id, 11);
    assert_int_equal(cur.record_index, 0);
    assert_int_equal(lag(f), 200);

    ts_reset(0, 1000, INT64_MAX);
    d = start(f);
    wait_caught_up(d, 10000);
    sa_dispatcher_stop(d, 1000);
    snapshot();
    assert_int_equal(seen.first_received, 100);
    for (int n = 0; n < 300; n++)
        assert_int_equal(seen.received[n], n >= 100 ? 1 : 0);
    assert_int_equal(lag(f), 0);
}

/* A cursor inside a segment (acks that split it) resumes mid-segment. */
static void test_resume_mid_segment(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d;
    struct sa_cursor cur = {.segment_id = 2, .record_index = 4};
    struct sa_err err = {0};

    spool_records(f, 30);
    assert_int_equal(sa_spool_cursor_set(f->spool, "t1", &cur, &err), SA_OK);
    ts_reset(0, 1000, INT64_MAX);
    f->conf.max_in_flight = 3; /* every send is cut short */
    d = start(f);
    wait_caught_up(d, 10000);
    sa_dispatcher_stop(d, 1000);
    snapshot();
    assert_int_equal(seen.first_received, 14);
    for (int n = 0; n < 30; n++)
        assert_int_equal(seen.received[n], n >= 14 ? 1 : 0);
    assert_true(seen.max_held <= 3);
    assert_int_equal(lag(f), 0);
}

/* An unknown sink type fails the start and leaves nothing running. */
static void test_start_fails_cleanly(void **state)
{
    struct fixture *f = *state;
    struct sa_sink_conf confs[2] = {f->conf, {.name = "bad", .type = "nope"}};
    struct sa_dispatcher_opts opts = {.spool = &f->opts, .sinks = confs,
                                      .n_sinks = 2};
    struct sa_dispatcher *d = (struct sa_dispatcher *)&opts;
    struct sa_err err = {0};

    assert_int_not_equal(sa_dispatcher_start(&d, &opts, &err), SA_OK);
    assert_null(d);
    assert_non_null(strstr(err.msg, "bad"));
}

/* While the sink is down (every outcome RETRY) it is sent probes of at
 * most SA_DISPATCH_PROBE_RECORDS, not max_in_flight, so that an outage
 * costs no memory; the first success opens the full window again. */
static void test_probe_while_down(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d;
    int64_t until;

    f->conf.max_in_flight = 500;
    f->conf.retry_max_ms = 50;
    ts_reset(0, INT64_MAX, INT64_MAX);
    pthread_mutex_lock(&ts.lock);
    ts.down = ts.was_down = 1;
    pthread_mutex_unlock(&ts.lock);
    spool_records(f, MAX_RECORDS);
    d = start(f);
    until = sa_mono_ms() + 10000;
    do {
        sa_sleep_ms(10);
        snapshot();
    } while (seen.n_retry < 10 && sa_mono_ms() < until);
    pthread_mutex_lock(&ts.lock);
    ts.down = 0;
    pthread_mutex_unlock(&ts.lock);
    wait_caught_up(d, 20000);
    sa_dispatcher_stop(d, 1000);

    snapshot();
    assert_true(seen.n_retry >= 10);
    assert_int_equal(seen.max_held, 500); /* the full window at first */
    assert_true(seen.max_held_probe > 0);
    assert_true(seen.max_held_probe <= SA_DISPATCH_PROBE_RECORDS);
    assert_true(seen.max_held_up > SA_DISPATCH_PROBE_RECORDS);
    for (int n = 0; n < MAX_RECORDS; n++)
        if (seen.delivered[n] < 1)
            fail_msg("record %d never delivered", n);
    assert_int_equal(lag(f), 0);
}

/* A record the sink rejects is dead-lettered once and never offered to
 * the sink again, even when a retry of its neighbours rewinds the
 * dispatcher to before it (the records around it are sent again). */
static void test_dead_letter_once_across_rewind(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d;
    struct sa_sink_metrics m;

    ts_reset(0, INT64_MAX, INT64_MAX);
    pthread_mutex_lock(&ts.lock);
    ts.poison_rewind = 1;
    pthread_mutex_unlock(&ts.lock);
    spool_records(f, 300);
    d = start(f);
    wait_caught_up(d, 10000);
    assert_int_equal(sa_dispatcher_metrics(d, &m, 1), 1);
    sa_dispatcher_stop(d, 1000);

    snapshot();
    assert_int_equal(seen.bad_view, 0);
    assert_true(seen.rewound);
    assert_int_equal(seen.received[POISON], 1);
    assert_int_equal(seen.n_reject, 1);
    /* The rewind did happen around it: its neighbours went twice. */
    assert_true(seen.received[POISON - 1] >= 2);
    assert_true(seen.received[POISON + 1] >= 2);
    for (int n = 0; n < 300; n++)
        if (n != POISON && seen.delivered[n] < 1)
            fail_msg("record %d never delivered", n);
    assert_int_equal(seen.delivered[POISON], 0);
    assert_int_equal(m.rejected, 1);
    assert_int_equal(deadletters(f), 1);
    assert_int_equal(lag(f), 0);
}

/* A kill -9 after a dead letter was stored but before the cursor passed
 * its record. The sink rejects the record again in the next run, which
 * must not store a second dead letter (nor offer the record once more
 * after a rewind). */
static void test_dead_letter_once_across_restart(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d;
    struct sa_sink_metrics m;
    struct sa_err err = {0};
    uint8_t body[10];
    /* What the killed run stored: record 123 is segment 13 record 3, seq
     * 124, and the cursor is still at the start. */
    struct sa_deadletter dl = {.stream = "tick",
                               .source = "sink:t1",
                               .location = "segment 13 record 3 seq 124",
                               .reason = "test sink: poison",
                               .raw = body};
    struct sa_commit commit = {.deadletters = &dl, .n_deadletters = 1};

    spool_records(f, 300);
    dl.raw_len = sa_varint_encode(body, sa_zigzag_encode(POISON));
    assert_int_equal(sa_spool_commit(f->spool, &commit, NULL, &err), SA_OK);
    assert_int_equal(deadletters(f), 1);

    ts_reset(0, INT64_MAX, INT64_MAX);
    pthread_mutex_lock(&ts.lock);
    ts.poison_rewind = 1;
    pthread_mutex_unlock(&ts.lock);
    d = start(f);
    wait_caught_up(d, 10000);
    assert_int_equal(sa_dispatcher_metrics(d, &m, 1), 1);
    sa_dispatcher_stop(d, 1000);

    snapshot();
    assert_int_equal(seen.bad_view, 0);
    assert_true(seen.rewound);
    assert_int_equal(seen.received[POISON], 1);
    for (int n = 0; n < 300; n++)
        if (n != POISON && seen.delivered[n] < 1)
            fail_msg("record %d never delivered", n);
    assert_int_equal(m.rejected, 1);
    assert_int_equal(deadletters(f), 1);
    assert_int_equal(lag(f), 0);
}

/* A start cursor from the sink is taken when it lies within the spool,
 * and ignored (everything is sent) when it lies past every segment the
 * spool ever had: skipping would lose what is spooled. */
static void test_start_cursor_past_the_end(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d;

    spool_records(f, 100); /* segments 1..10, records 0..99 */
    ts_reset(0, INT64_MAX, INT64_MAX);
    pthread_mutex_lock(&ts.lock);
    ts.start_segment = 6;
    pthread_mutex_unlock(&ts.lock);
    d = start(f);
    wait_caught_up(d, 20000);
    sa_dispatcher_stop(d, 1000);
    snapshot();
    for (int n = 0; n < 100; n++)
        assert_int_equal(seen.received[n], n < 50 ? 0 : 1);

    ts_reset(0, INT64_MAX, INT64_MAX);
    pthread_mutex_lock(&ts.lock);
    ts.start_segment = 1000;
    pthread_mutex_unlock(&ts.lock);
    spool_records(f, 20); /* segments 11, 12: records 100..119 */
    d = start(f);
    wait_caught_up(d, 20000);
    sa_dispatcher_stop(d, 1000);
    snapshot();
    /* The spool's own cursor (the end of the first run) wins. */
    for (int n = 0; n < 120; n++)
        assert_int_equal(seen.received[n], n < 100 ? 0 : 1);
    assert_int_equal(lag(f), 0);
}

/* --- coalesce ------------------------------------------------------------ */

#define C_KEYS 7

/* Keys in turns: C_KEYS, or more for the table's growth. */
static int64_t c_keys = C_KEYS;

/* Record n's key (NULL: none, every tenth from 3 on: POISON among them)
 * and version: k0's newest is its first record, k1's versions all tie
 * (the later wins), the others grow with n. */
static const char *c_key(int64_t n, char *buf, size_t size)
{
    if (n % 10 == 3)
        return NULL;
    snprintf(buf, size, "k%lld", (long long)(n % c_keys));
    return buf;
}

static int64_t c_version(int64_t n)
{
    if (n % c_keys == 0)
        return n == 0 ? 1000000000 : n;
    if (n % c_keys == 1)
        return 5;
    return n;
}

/* The record of each key that coalescing must deliver. */
static int c_is_best(int64_t n, int64_t total)
{
    if (n % 10 == 3)
        return 0;
    if (n % c_keys == 0)
        return n == 0;
    for (int64_t m = n + 1; m < total; m++)
        if (m % 10 != 3 && m % c_keys == n % c_keys)
            return 0;
    return 1;
}

static void spool_keyed(struct fixture *f, int64_t n)
{
    while (n > 0) {
        struct sa_segment_builder b;
        struct sa_segment_builder *segs[1] = {&b};
        struct sa_commit commit = {.segments = segs, .n_segments = 1};
        struct sa_err err = {0};

        assert_int_equal(sa_segment_builder_init(&b, "tick", f->schema_id, 1 << 20),
                         SA_OK);
        for (int i = 0; i < PER_SEGMENT && n > 0; i++, n--) {
            uint8_t body[10];
            char kb[16];
            const char *key = c_key(f->next_n, kb, sizeof kb);
            size_t len = sa_varint_encode(body, sa_zigzag_encode(f->next_n));
            assert_int_equal(sa_segment_add_versioned(
                                 &b, 1700000000000 + f->next_n, c_version(f->next_n),
                                 key, key ? strlen(key) : 0, SA_OP_UPSERT, body, len),
                             SA_OK);
            f->next_n++;
        }
        assert_int_equal(sa_spool_commit(f->spool, &commit, NULL, &err), SA_OK);
        sa_segment_builder_fini(&b);
    }
}

static int64_t stored_superseded(struct fixture *f)
{
    struct sa_spool_status st;
    struct sa_err err = {0};
    int64_t n = -1;
    assert_int_equal(sa_spool_status(f->spool, &st, &err), SA_OK);
    for (size_t i = 0; i < st.n_sinks; i++)
        if (strcmp(st.sinks[i].sink, "t1") == 0)
            n = st.sinks[i].superseded;
    sa_spool_status_fini(&st);
    return n;
}

/* A well-behaved sink: exactly each key's newest record (by version, the
 * later on a tie, wherever it lies) and every keyless one are offered;
 * the rest are counted as superseded, in memory and in the spool. */
static void test_coalesce_newest_only(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d;
    struct sa_sink_metrics m[2];
    int64_t keyed = 0;

    ts_reset(0, INT64_MAX, INT64_MAX);
    c_keys = C_KEYS;
    f->conf.coalesce = 1;
    f->conf.coalesce_window = 1000;
    spool_keyed(f, N_RECORDS);
    d = start(f);
    wait_caught_up(d, 20000);
    assert_int_equal(sa_dispatcher_metrics(d, m, 2), 1);
    sa_dispatcher_stop(d, 1000);

    snapshot();
    assert_int_equal(seen.bad_view, 0);
    for (int64_t n = 0; n < N_RECORDS; n++) {
        int want = n % 10 == 3 || c_is_best(n, N_RECORDS);
        keyed += n % 10 != 3;
        if (seen.received[n] != want)
            fail_msg("record %lld offered %d times, expected %d", (long long)n,
                     seen.received[n], want);
    }
    assert_int_equal(m[0].superseded, keyed - C_KEYS);
    assert_int_equal(stored_superseded(f), keyed - C_KEYS);
    assert_int_equal(m[0].acked, N_RECORDS);
    assert_int_equal(lag(f), 0);
}

/* 2000 keys in turns over 5000 records, a window of 2500: the table grows
 * past its first size and drops keys send has passed while it reads
 * ahead; still every key's newest record arrives once and nothing else
 * keyed does (the next version of a key is always within the window). */
static void test_coalesce_many_keys(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d;
    struct sa_sink_metrics m[2];
    const int64_t total = 5000;
    int64_t keyed = 0, best = 0;

    ts_reset(0, INT64_MAX, INT64_MAX);
    c_keys = 2000;
    f->conf.coalesce = 1;
    f->conf.coalesce_window = 2500;
    spool_keyed(f, total);
    d = start(f);
    wait_caught_up(d, 20000);
    assert_int_equal(sa_dispatcher_metrics(d, m, 2), 1);
    sa_dispatcher_stop(d, 1000);

    snapshot();
    assert_int_equal(seen.bad_view, 0);
    for (int64_t n = 0; n < total; n++) {
        int want = n % 10 == 3 || c_is_best(n, total);
        keyed += n % 10 != 3;
        best += n % 10 != 3 && want;
        if (seen.received[n] != want)
            fail_msg("record %lld offered %d times, expected %d", (long long)n,
                     seen.received[n], want);
    }
    assert_int_equal(m[0].superseded, keyed - best);
    assert_int_equal(m[0].acked, total);
    assert_int_equal(lag(f), 0);
}

/* A backlog read ahead whole (the window spans it): 2000 keys of two
 * versions each fill the table, and the keys send has passed leave it as
 * the drain goes on, not only when a new key needs room (there is none
 * after the end of the backlog). */
static void test_coalesce_releases_passed_keys(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d;
    struct sa_sink_metrics m[2];
    const int64_t total = 4000;

    ts_reset(0, INT64_MAX, INT64_MAX);
    c_keys = 2000;
    f->conf.coalesce = 1;
    f->conf.coalesce_window = 10000;
    spool_keyed(f, total);
    d = start(f);
    wait_caught_up(d, 20000);
    assert_int_equal(sa_dispatcher_metrics(d, m, 2), 1);
    sa_dispatcher_stop(d, 1000);

    assert_int_equal(m[0].acked, total);
    if (m[0].coalesce_keys * 2 >= (uint64_t)c_keys)
        fail_msg("%llu keys still in the table after the drain",
                 (unsigned long long)m[0].coalesce_keys);
}

/* The misbehaving sink (retries, rewinds, EAGAIN, a failed send, a poison
 * record) and a window smaller than the backlog: every key's newest
 * record and every keyless one still arrive, and most old versions are
 * not sent. */
static void test_coalesce_with_rewinds(void **state)
{
    struct fixture *f = *state;
    struct sa_dispatcher *d;
    struct sa_sink_metrics m[2];
    int64_t old_sent = 0;

    ts_reset(1, 12, INT64_MAX);
    c_keys = C_KEYS;
    f->conf.coalesce = 1;
    f->conf.coalesce_window = 60;
    spool_keyed(f, N_RECORDS);
    d = start(f);
    wait_caught_up(d, 20000);
    assert_int_equal(sa_dispatcher_metrics(d, m, 2), 1);
    sa_dispatcher_stop(d, 1000);

    snapshot();
    assert_int_equal(seen.bad_view, 0);
    for (int64_t n = 0; n < N_RECORDS; n++) {
        if (n == POISON)
            assert_int_equal(seen.delivered[n], 0);
        else if ((n % 10 == 3 || c_is_best(n, N_RECORDS)) && seen.delivered[n] < 1)
            fail_msg("record %lld never delivered", (long long)n);
        else if (n % 10 != 3 && !c_is_best(n, N_RECORDS) && seen.received[n])
            old_sent++;
    }
    assert_true(seen.n_retry > 0);
    assert_true(m[0].superseded > 0);
    assert_true(old_sent < (N_RECORDS * 9 / 10) / 4);
    assert_int_equal(deadletters(f), 1);
    assert_int_equal(lag(f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_delivers_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_resends_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_caught_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_keeps_acked_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_mid_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_fails_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_while_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_cursor_past_the_end, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_once_across_rewind, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_once_across_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_newest_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_many_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_with_rewinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_releases_passed_keys, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
