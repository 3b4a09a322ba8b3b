/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kafka sink under the dispatcher, against librdkafka's mock cluster
 * (rdkafka_mock.h, three brokers in this process), where broker errors can
 * be injected exactly: NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT and
 * NOT_ENOUGH_REPLICAS answer Produce requests. Records are spooled in a
 * temporary spool, drained by the dispatcher, then checked on the mock:
 *
 *   - none lost, none twice: the sum of the partitions' high watermarks is
 *     the number of records (the mock keeps only part of each partition's
 *     log, so the count comes from watermarks, not from reading);
 *   - per-partition order: the messages still there have rising seq
 *     headers, and each key's records come in the order they were spooled;
 *   - a delete is a tombstone (NULL value), an upsert is Avro single-object.
 *
 * A second case injects MSG_SIZE_TOO_LARGE, a permanent error: the
 * records of the failed batch become dead letters, the rest arrive.
 *
 * Three cases run `headers: compact`: the identity header holds exactly
 * its record's fields, a schema subject holding a ';' is dead-lettered,
 * and when the outcome of that cannot be stored (realloc, wrapped, fails)
 * send() fails rather than answer SA_OK and drop the records.
 *
 * A third drives the sink with exactly_once by hand, as the dispatcher
 * does, and fails a transaction while segments are still being sent (the
 * mock does not hide aborted records from a read_committed consumer, so
 * the case checks the sink's outcomes and the cursor topic instead).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/base/buf.h"
#include "agent/base/clock.h"
#include "agent/config.h"
#include "store/schema.h"
#include "store/spool.h"
#include "sync/dispatcher.h"
#include "tests/tempdir.h"

#include <ftw.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPIC "mock.tick"
#define CURSOR_TOPIC "_syncagent.cursors"
#define N_PARTITIONS 3
#define PER_SEGMENT 100
#define N_KEYS 50
/* The Produce API key of the Kafka protocol (API_PRODUCE is not in
 * the public headers). */
#define API_PRODUCE 0

extern const struct sa_sink_ops sa_sink_kafka_ops;

static const char *const tick_schema =
    "{\"type\":\"record\",\"name\":\"Tick\",\"fields\":"
    "[{\"name\":\"n\",\"type\":\"long\"}]}";

struct fixture {
    char dir[256];
    char path[300];
    struct sa_spool_opts opts;
    struct sa_spool *spool;
    int64_t schema_id;
    uint64_t fingerprint;
    int64_t next_n;
    rd_kafka_t *mock_rk;
    rd_kafka_mock_cluster_t *mock;
    struct sa_sink_conf conf;
    int compact; /* headers: compact, check_topic reads the identity header */
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
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
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    assert_non_null(f);
    assert_non_null(sa_test_mkdtemp(f->dir, sizeof f->dir, "sa_sink_kafka_"));
    snprintf(f->path, sizeof f->path, "%s/spool.db", f->dir);
    f->opts.path = f->path;
    assert_int_equal(sa_spool_open(&f->spool, &f->opts, SA_SPOOL_CREATE, &err), SA_OK);
    assert_int_equal(sa_schema_parse("tick", 1, tick_schema, &schema, &err), SA_OK);
    f->fingerprint = schema->fingerprint;
    assert_int_equal(sa_spool_schema_put(f->spool, "tick", 1, schema->fingerprint,
                                         schema->definition, &f->schema_id, &err),
                     SA_OK);
    sa_schema_free(schema);

    /* The mock cluster lives in a handle of its own. */
    assert_int_equal(rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    f->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(f->mock_rk);
    f->mock = rd_kafka_mock_cluster_new(f->mock_rk, 3);
    assert_non_null(f->mock);
    assert_int_equal(rd_kafka_mock_topic_create(f->mock, TOPIC, N_PARTITIONS, 3),
                     RD_KAFKA_RESP_ERR_NO_ERROR);

    f->conf = (struct sa_sink_conf){.name = "k",
                                    .type = "kafka",
                                    .retry_initial_ms = 10,
                                    .retry_max_ms = 200,
                                    .max_in_flight = 2000,
                                    .ops = &sa_sink_kafka_ops,
                                    .agent_id = "unit"};
    f->conf.opts = calloc(1, sa_sink_kafka_ops.opts_size);
    assert_non_null(f->conf.opts);
    assert_int_equal(sa_conf_apply_defaults(sa_sink_kafka_ops.conf, f->conf.opts, &err),
                     SA_OK);
    assert_int_equal(sa_conf_set(sa_sink_kafka_ops.conf, f->conf.opts, "brokers",
                                 rd_kafka_mock_cluster_bootstraps(f->mock), &err),
                     SA_OK);
    assert_int_equal(sa_conf_set(sa_sink_kafka_ops.conf, f->conf.opts, "topic",
                                 "mock.${stream}", &err),
                     SA_OK);
    assert_int_equal(
        sa_conf_set(sa_sink_kafka_ops.conf, f->conf.opts, "linger", "5ms", &err),
        SA_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sa_conf_free_entries(sa_sink_kafka_ops.conf, f->conf.opts);
    free(f->conf.opts);
    rd_kafka_mock_cluster_destroy(f->mock);
    rd_kafka_destroy(f->mock_rk);
    sa_spool_close(f->spool);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Record n: key "key-<n % N_KEYS>", body the Avro long n; every 97th is a
 * delete. */
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
            char key[16];
            size_t len = sa_varint_encode(body, sa_zigzag_encode(f->next_n));
            int klen = snprintf(key, sizeof key, "key-%d", (int)(f->next_n % N_KEYS));
            assert_int_equal(
                sa_segment_add(&b, 1700000000000 + f->next_n, key, (size_t)klen,
                               f->next_n % 97 == 0 ? SA_OP_DELETE : SA_OP_UPSERT, body,
                               len),
                SA_OK);
            f->next_n++;
        }
        assert_int_equal(sa_spool_commit(f->spool, &commit, NULL, &err), SA_OK);
        sa_segment_builder_fini(&b);
    }
}

static void drain(struct fixture *f, int64_t timeout_ms, struct sa_sink_metrics *m)
{
    struct sa_dispatcher *d = NULL;
    struct sa_dispatcher_opts opts = {
        .spool = &f->opts, .sinks = &f->conf, .n_sinks = 1};
    struct sa_err err = {0};
    int64_t until = sa_mono_ms() + timeout_ms;

    if (sa_dispatcher_start(&d, &opts, &err))
        fail_msg("sa_dispatcher_start: %s", err.msg);
    sa_dispatcher_notify(d);
    while (!sa_dispatcher_caught_up(d)) {
        if (sa_mono_ms() > until) {
            sa_dispatcher_metrics(d, m, 1);
            fail_msg("not caught up after %lld ms: sent %llu acked %llu retried %llu "
                     "rejected %llu, last error %s",
                     (long long)timeout_ms, (unsigned long long)m->sent,
                     (unsigned long long)m->acked, (unsigned long long)m->retried,
                     (unsigned long long)m->rejected, m->last_error);
        }
        sa_sleep_ms(10);
    }
    assert_int_equal(sa_dispatcher_metrics(d, m, 1), 1);
    sa_dispatcher_stop(d, 2000);
}

static int64_t header_int(rd_kafka_message_t *msg, const char *name)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;
    char buf[32];

    assert_int_equal(rd_kafka_message_headers(msg, &h), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_header_get_last(h, name, &v, &len),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_true(len < sizeof buf);
    memcpy(buf, v, len);
    buf[len] = '\0';
    return strtoll(buf, NULL, 10);
}

/* headers: compact: the message's only header is identity, exactly
 * "1;origin_id;seq;tick;1;event_time_ms;op;version" for record n = seq - 1
 * (spool_records: event time 1700000000000 + n, every 97th a delete), the
 * version a decimal number. Returns the seq. */
static int64_t identity_seq(struct fixture *f, rd_kafka_message_t *msg)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len, want_len;
    char text[256], want[256], *end;
    const char *origin = sa_spool_origin_id(f->spool), *version;
    int64_t seq, n;

    assert_int_equal(rd_kafka_message_headers(msg, &h), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_header_cnt(h), 1);
    assert_int_equal(rd_kafka_header_get_last(h, "identity", &v, &len),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_true(len < sizeof text);
    memcpy(text, v, len);
    text[len] = '\0';
    /* The seq is the one field the message itself does not tell. */
    assert_int_equal(strncmp(text, "1;", 2), 0);
    assert_int_equal(strncmp(text + 2, origin, strlen(origin)), 0);
    assert_int_equal(text[2 + strlen(origin)], ';');
    seq = strtoll(text + 3 + strlen(origin), &end, 10);
    assert_int_equal(*end, ';');
    n = seq - 1;
    want_len = (size_t)snprintf(want, sizeof want, "1;%s;%lld;tick;1;%lld;%s;", origin,
                                (long long)seq, (long long)(1700000000000 + n),
                                n % 97 == 0 ? "delete" : "upsert");
    assert_true(len > want_len);
    assert_memory_equal(text, want, want_len);
    version = text + want_len;
    assert_int_equal(strspn(version, "0123456789"), strlen(version));
    return seq;
}

/* Sum of high watermarks; reads what the mock kept and checks order,
 * keys, values (and with f->compact the identity header). Returns the
 * number of messages read. */
static int64_t check_topic(struct fixture *f, int64_t *sum_hwm)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *c;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(3);
    int64_t last_seq[N_PARTITIONS] = {0}, last_n_of_key[N_KEYS];
    int64_t n_read = 0;
    int eofs = 0;
    int64_t until = sa_mono_ms() + 20000;

    for (int k = 0; k < N_KEYS; k++)
        last_n_of_key[k] = -1;
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers",
                                       rd_kafka_mock_cluster_bootstraps(f->mock),
                                       errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(
        rd_kafka_conf_set(conf, "group.id", "check", errstr, sizeof errstr),
        RD_KAFKA_CONF_OK);
    assert_int_equal(
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof errstr),
        RD_KAFKA_CONF_OK);
    c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(c);
    *sum_hwm = 0;
    for (int p = 0; p < N_PARTITIONS; p++) {
        int64_t lo = 0, hi = 0;
        assert_int_equal(rd_kafka_query_watermark_offsets(c, TOPIC, p, &lo, &hi, 10000),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        *sum_hwm += hi;
        rd_kafka_topic_partition_list_add(parts, TOPIC, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    }
    assert_int_equal(rd_kafka_assign(c, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    while (eofs < N_PARTITIONS) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        assert_true(sa_mono_ms() < until);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else {
            int64_t seq = f->compact ? identity_seq(f, m) : header_int(m, "seq");
            int64_t n = seq - 1;
            int key = (int)(n % N_KEYS);
            char want_key[16];
            int klen = snprintf(want_key, sizeof want_key, "key-%d", key);
            assert_int_equal(m->err, RD_KAFKA_RESP_ERR_NO_ERROR);
            assert_true(m->partition >= 0 && m->partition < N_PARTITIONS);
            /* Per-partition order: seqs rise, and so do each key's. */
            assert_true(seq > last_seq[m->partition]);
            last_seq[m->partition] = seq;
            assert_true(n > last_n_of_key[key]);
            last_n_of_key[key] = n;
            assert_int_equal(m->key_len, (size_t)klen);
            assert_memory_equal(m->key, want_key, (size_t)klen);
            if (n % 97 == 0) {
                assert_null(m->payload); /* tombstone */
            } else {
                const uint8_t *v = m->payload;
                uint8_t body[10];
                size_t blen = sa_varint_encode(body, sa_zigzag_encode(n));
                assert_int_equal(m->len, 10 + blen);
                assert_int_equal(v[0], 0xC3);
                assert_int_equal(v[1], 0x01);
                for (int i = 0; i < 8; i++)
                    assert_int_equal(v[2 + i], (uint8_t)(f->fingerprint >> (8 * i)));
                assert_memory_equal(v + 10, body, blen);
            }
            n_read++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n_read;
}

/* Retriable broker errors on Produce: librdkafka retries them in order
 * (idempotent producer), so nothing is lost, duplicated or reordered. */
static void test_retriable_errors(void **state)
{
    struct fixture *f = *state;
    struct sa_sink_metrics m;
    int64_t sum_hwm = 0, n_read;
    const int64_t n = 20000;

    rd_kafka_mock_push_request_errors(
        f->mock, API_PRODUCE, 9, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    spool_records(f, n / 2);
    drain(f, 60000, &m);
    /* A second round, with errors again, on a running topic. */
    rd_kafka_mock_push_request_errors(
        f->mock, API_PRODUCE, 6, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    spool_records(f, n / 2);
    drain(f, 60000, &m);
    assert_int_equal(m.rejected, 0);

    n_read = check_topic(f, &sum_hwm);
    /* Exactly n appended: none lost, none written twice. */
    assert_int_equal(sum_hwm, n);
    assert_true(n_read > 0 && n_read <= n);
    print_message("mock: %lld records, high watermarks sum to %lld, %lld still in the "
                  "mock's log checked for order\n",
                  (long long)n, (long long)sum_hwm, (long long)n_read);
}

/* A permanent error (MSG_SIZE_TOO_LARGE) rejects the records of the failed
 * request: they become dead letters; everything else arrives. */
static void test_permanent_error_dead_letters(void **state)
{
    struct fixture *f = *state;
    struct sa_sink_metrics m;
    struct sa_spool_status st;
    struct sa_err err = {0};
    int64_t sum_hwm = 0;
    const int64_t n = 1000;

    rd_kafka_mock_push_request_errors(f->mock, API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    spool_records(f, n);
    drain(f, 60000, &m);
    assert_int_equal(sa_spool_status(f->spool, &st, &err), SA_OK);
    check_topic(f, &sum_hwm);
    assert_true(st.deadletters > 0);
    assert_int_equal((int64_t)m.rejected, st.deadletters);
    assert_int_equal(sum_hwm + st.deadletters, n);
    sa_spool_status_fini(&st);
}

/* headers: compact: every message carries the one identity header, its
 * eight fields those of its record (identity_seq), deletes included; the
 * order, keys and values are those of the default layout. */
static void test_compact_identity_header(void **state)
{
    struct fixture *f = *state;
    struct sa_sink_metrics m;
    struct sa_err err = {0};
    int64_t sum_hwm = 0, n_read;
    const int64_t n = 1000;

    assert_int_equal(
        sa_conf_set(sa_sink_kafka_ops.conf, f->conf.opts, "headers", "compact", &err),
        SA_OK);
    f->compact = 1;
    spool_records(f, n);
    drain(f, 60000, &m);
    assert_int_equal(m.rejected, 0);
    n_read = check_topic(f, &sum_hwm);
    assert_int_equal(sum_hwm, n);
    assert_true(n_read > 0 && n_read <= n);
}

/* headers: compact joins the identity fields with ';': records of a
 * schema subject holding one (a directory name under schemas/ can) would
 * shift the fields, so they are dead-lettered, none sent. */
static void test_compact_refuses_semicolon_subject(void **state)
{
    struct fixture *f = *state;
    struct sa_sink_metrics m;
    struct sa_spool_status st;
    struct sa_schema *schema = NULL;
    struct sa_err err = {0};
    int64_t sum_hwm = 0;
    const int64_t n = 300;

    assert_int_equal(
        sa_conf_set(sa_sink_kafka_ops.conf, f->conf.opts, "headers", "compact", &err),
        SA_OK);
    assert_int_equal(sa_schema_parse("ti;ck", 1, tick_schema, &schema, &err), SA_OK);
    assert_int_equal(sa_spool_schema_put(f->spool, "ti;ck", 1, schema->fingerprint,
                                         schema->definition, &f->schema_id, &err),
                     SA_OK);
    sa_schema_free(schema);
    spool_records(f, n);
    drain(f, 60000, &m);
    assert_int_equal(sa_spool_status(f->spool, &st, &err), SA_OK);
    assert_int_equal(check_topic(f, &sum_hwm), 0);
    assert_int_equal(sum_hwm, 0);
    assert_int_equal(st.deadletters, n);
    assert_int_equal((int64_t)m.rejected, n);
    sa_spool_status_fini(&st);
}

/* The high watermark of partition 0 of a topic of the mock. */
static int64_t topic_hwm(struct fixture *f, const char *topic)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *c;
    int64_t lo = 0, hi = 0;

    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers",
                                       rd_kafka_mock_cluster_bootstraps(f->mock),
                                       errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(c);
    assert_int_equal(rd_kafka_query_watermark_offsets(c, topic, 0, &lo, &hi, 10000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(c);
    return hi;
}

/* Poll the sink until outcomes for n_records records came, or with
 * n_records 0 until one poll returned any (20 s at most); counts the
 * records by outcome into n[]. Every RETRY must give retry_reason when
 * that is not NULL. */
static void poll_outcomes(struct sa_sink *sink, int64_t n_records, int64_t n[3],
                          const char *retry_reason)
{
    struct sa_ack_list acks = {0};
    int64_t until = sa_mono_ms() + 20000, got = 0;

    n[0] = n[1] = n[2] = 0;
    while ((n_records ? got < n_records : got == 0) && sa_mono_ms() < until) {
        sa_ack_list_clear(&acks);
        assert_int_equal(sink->ops->poll_acks(sink, &acks, 100), SA_OK);
        for (size_t i = 0; i < acks.n; i++) {
            assert_true(acks.v[i].outcome >= 0 && acks.v[i].outcome < 3);
            n[acks.v[i].outcome] += acks.v[i].count;
            got += acks.v[i].count;
            if (retry_reason && acks.v[i].outcome == SA_SINK_RETRY &&
                !strstr(acks.v[i].reason, retry_reason))
                fail_msg("RETRY because \"%s\", expected \"%s\"", acks.v[i].reason,
                         retry_reason);
        }
    }
    sa_ack_list_fini(&acks);
}

/* Spool one segment of n records whose bodies are not the schema's (a
 * long followed by a stray byte): the json encoding rejects each of them
 * in send(), which then hands nothing to librdkafka. */
static int64_t spool_undecodable(struct fixture *f, int n)
{
    struct sa_segment_builder b;
    struct sa_segment_builder *segs[1] = {&b};
    struct sa_commit commit = {.segments = segs, .n_segments = 1};
    struct sa_commit_result res = {0};
    struct sa_err err = {0};
    const uint8_t body[2] = {0x02, 0x02};

    assert_int_equal(sa_segment_builder_init(&b, "tick", f->schema_id, 1 << 20), SA_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(sa_segment_add(&b, 1700000000000, "bad", 3, SA_OP_UPSERT, body,
                                        sizeof body),
                         SA_OK);
    assert_int_equal(sa_spool_commit(f->spool, &commit, &res, &err), SA_OK);
    sa_segment_builder_fini(&b);
    f->next_n += n;
    return n;
}

/* send() a whole segment; fails the test unless the answer is SA_OK or
 * `may_rc`. */
static int send_segment(struct sa_sink *sink, struct fixture *f, int64_t segment_id,
                        int may_rc)
{
    struct sa_cursor at = {segment_id, 0};
    struct sa_segment_view view;
    struct sa_err err = {0};
    int rc;

    assert_int_equal(sa_spool_read_after(f->spool, &at, NULL, 0, &view, &err), SA_OK);
    assert_int_equal(view.id, segment_id);
    rc = sink->ops->send(sink, &view, &err);
    if (rc != SA_OK && rc != may_rc)
        fail_msg("send of segment %lld: %s (%s)", (long long)segment_id,
                 sa_strerror(rc), err.msg);
    return rc;
}

/* The link wraps realloc (CMakeLists.txt): while fail_ack_alloc is set,
 * the first allocation of an empty sa_ack_list (16 acks) fails. */
static int fail_ack_alloc;
void *__real_realloc(void *ptr, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
void *__wrap_realloc(void *ptr, size_t size)
{
    if (fail_ack_alloc && !ptr && size == 16 * sizeof(struct sa_ack))
        return NULL;
    return __real_realloc(ptr, size);
}

/* The ';' refusal when its outcome cannot be stored: send() must fail
 * (the dispatcher offers the records again) rather than answer SA_OK with
 * no outcome, which left them unanswered. */
static void test_compact_semicolon_out_of_memory(void **state)
{
    struct fixture *f = *state;
    struct sa_sink sink = {.ops = &sa_sink_kafka_ops, .conf = &f->conf};
    struct sa_ack_list acks = {0};
    struct sa_schema *schema = NULL;
    struct sa_err err = {0};
    int64_t n[3];
    int rc;

    assert_int_equal(
        sa_conf_set(sa_sink_kafka_ops.conf, f->conf.opts, "headers", "compact", &err),
        SA_OK);
    assert_int_equal(sa_schema_parse("ti;ck", 1, tick_schema, &schema, &err), SA_OK);
    assert_int_equal(sa_spool_schema_put(f->spool, "ti;ck", 1, schema->fingerprint,
                                         schema->definition, &f->schema_id, &err),
                     SA_OK);
    sa_schema_free(schema);
    spool_records(f, PER_SEGMENT); /* segment 1 */
    spool_records(f, PER_SEGMENT); /* segment 2 */
    sink.origin_id = sa_spool_origin_id(f->spool);
    sink.spool = f->spool;
    sink.schemas = sa_schema_cache_new();
    assert_non_null(sink.schemas);
    if (sink.ops->open(&sink, &err))
        fail_msg("open: %s", err.msg);

    /* Segment 1 as usual; taking its outcomes with an empty list leaves
     * the sink's own list empty, so the next outcome allocates. */
    send_segment(&sink, f, 1, SA_OK);
    poll_outcomes(&sink, PER_SEGMENT, n, NULL);
    assert_int_equal(n[SA_SINK_REJECT], PER_SEGMENT);

    fail_ack_alloc = 1;
    rc = send_segment(&sink, f, 2, SA_ENOMEM);
    fail_ack_alloc = 0;
    assert_int_equal(rc, SA_ENOMEM);
    assert_int_equal(sink.ops->poll_acks(&sink, &acks, 0), SA_OK);
    assert_int_equal(acks.n, 0);

    /* Offered again, the records get their outcome. */
    send_segment(&sink, f, 2, SA_OK);
    poll_outcomes(&sink, PER_SEGMENT, n, NULL);
    assert_int_equal(n[SA_SINK_REJECT], PER_SEGMENT);

    sa_ack_list_fini(&acks);
    sink.ops->close(&sink);
    sa_schema_cache_free(sink.schemas);
}

/* exactly_once, the sink driven by hand as the dispatcher drives it. A
 * transaction fails (a Produce answered with an error the producer does
 * not retry) and the next send() is the first to see it. That send aborts
 * the transaction, its records RETRY, and must not go on into a new
 * transaction: the new one could commit a cursor past the aborted records
 * before the dispatcher has seen them RETRY (a kill -9 then loses them for
 * good; without one, the resend writes the new transaction's records
 * twice). So it answers SA_EAGAIN, the next poll reports RETRY for every
 * record of the aborted transaction and no OK, and nothing is committed.
 * The resend (the dispatcher's rewind) then commits in one transaction,
 * which nothing left over from the aborted one fails.
 *
 * When a send() sees the failure is a race in production: librdkafka
 * refuses to produce into a failed transaction, so a send sees it only if
 * the reports come between its last produce and its closing poll. Here a
 * segment whose every record fails to encode (a send that produces
 * nothing, then polls) makes it certain. */
static void test_eos_failed_transaction_stops_send(void **state)
{
    struct fixture *f = *state;
    struct sa_sink sink = {.ops = &sa_sink_kafka_ops, .conf = &f->conf};
    struct sa_err err = {0};
    int64_t n[3];
    int rc;

    assert_int_equal(
        sa_conf_set(sa_sink_kafka_ops.conf, f->conf.opts, "exactly_once", "true", &err),
        SA_OK);
    assert_int_equal(
        sa_conf_set(sa_sink_kafka_ops.conf, f->conf.opts, "encoding", "json", &err),
        SA_OK);
    /* A transaction commits at every poll: a new one would at once. */
    assert_int_equal(sa_conf_set(sa_sink_kafka_ops.conf, f->conf.opts,
                                 "transaction_interval", "1ms", &err),
                     SA_OK);
    assert_int_equal(rd_kafka_mock_topic_create(f->mock, CURSOR_TOPIC, 1, 3),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    spool_records(f, PER_SEGMENT);     /* segment 1 */
    spool_undecodable(f, PER_SEGMENT); /* segment 2 */
    spool_records(f, PER_SEGMENT);     /* segment 3 */
    sink.origin_id = sa_spool_origin_id(f->spool);
    sink.spool = f->spool;
    sink.schemas = sa_schema_cache_new();
    assert_non_null(sink.schemas);
    if (sink.ops->open(&sink, &err))
        fail_msg("open: %s", err.msg);

    rd_kafka_mock_push_request_errors(f->mock, API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID);
    send_segment(&sink, f, 1, SA_OK);
    /* The failed Produce's answer and reports, queued, not yet served. */
    sa_sleep_ms(1000);
    /* Rejected record by record, nothing produced; its closing poll serves
     * the reports: the transaction is failed. */
    send_segment(&sink, f, 2, SA_OK);
    rc = send_segment(&sink, f, 3, SA_EAGAIN);

    /* The first outcomes the dispatcher gets: segments 1 and 2 RETRY (2
     * was REJECT before), no OK; and by then no cursor is committed (a
     * kill -9 now resumes before segment 1). */
    /* Why: the failed Produce, not the purges that follow from it. */
    poll_outcomes(&sink, 0, n, rd_kafka_err2str(RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID));
    assert_int_equal(n[SA_SINK_OK], 0);
    assert_int_equal(n[SA_SINK_RETRY], 2 * PER_SEGMENT);
    assert_int_equal(n[SA_SINK_REJECT], PER_SEGMENT);
    assert_int_equal(topic_hwm(f, CURSOR_TOPIC), 0);
    /* Segment 3 was not taken: "no room, offer it again after polling". */
    assert_int_equal(rc, SA_EAGAIN);

    /* The dispatcher's rewind: segment 1 again, segment 2 is dead-lettered
     * (not offered), segment 3. */
    send_segment(&sink, f, 1, SA_OK);
    send_segment(&sink, f, 3, SA_OK);
    poll_outcomes(&sink, 2 * PER_SEGMENT, n, NULL);
    assert_int_equal(n[SA_SINK_RETRY], 0);
    assert_int_equal(n[SA_SINK_REJECT], 0);
    assert_int_equal(n[SA_SINK_OK], 2 * PER_SEGMENT);
    assert_int_equal(topic_hwm(f, CURSOR_TOPIC), 1);

    sink.ops->close(&sink);
    sa_schema_cache_free(sink.schemas);
}

/* exactly_once sink with an open transaction on segment 1. */
static void eos_sink_open(struct fixture *f, struct sa_sink *sink)
{
    struct sa_err err = {0};

    assert_int_equal(
        sa_conf_set(sa_sink_kafka_ops.conf, f->conf.opts, "exactly_once", "true", &err),
        SA_OK);
    sink->ops = &sa_sink_kafka_ops;
    sink->conf = &f->conf;
    sink->origin_id = sa_spool_origin_id(f->spool);
    sink->spool = f->spool;
    sink->schemas = sa_schema_cache_new();
    assert_non_null(sink->schemas);
    if (sink->ops->open(sink, &err))
        fail_msg("open: %s", err.msg);
}

/* A stop whose grace is over (sa_sink.close_by_ms passed) closes without
 * committing the open transaction: nothing waits past the grace, and the
 * records stay in the spool for the next start. */
static void test_eos_close_keeps_deadline(void **state)
{
    struct fixture *f = *state;
    struct sa_sink sink = {0};

    assert_int_equal(rd_kafka_mock_topic_create(f->mock, CURSOR_TOPIC, 1, 3),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    spool_records(f, PER_SEGMENT);
    eos_sink_open(f, &sink);
    send_segment(&sink, f, 1, SA_OK);
    sink.close_by_ms = sa_mono_ms() - 1;
    sink.ops->close(&sink);
    assert_int_equal(topic_hwm(f, CURSOR_TOPIC), 0);
    sa_schema_cache_free(sink.schemas);

    /* Without a deadline the close commits it, cursor and all. */
    memset(&sink, 0, sizeof sink);
    eos_sink_open(f, &sink);
    send_segment(&sink, f, 1, SA_OK);
    sink.ops->close(&sink);
    assert_int_equal(topic_hwm(f, CURSOR_TOPIC), 1);
    sa_schema_cache_free(sink.schemas);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retriable_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permanent_error_dead_letters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_compact_identity_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compact_refuses_semicolon_subject, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_compact_semicolon_out_of_memory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_eos_failed_transaction_stops_send, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_eos_close_keeps_deadline, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
