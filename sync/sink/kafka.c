/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kafka sink: a librdkafka producer (DESIGN.md §4, I2, I3, I5).
 *
 * MESSAGES
 *
 * One Kafka message per record, to the topic made from the `topic`
 * template (${stream}, ${agent_id}). Key: the record's key from its frame
 * (NULL when empty). Timestamp (CreateTime): when the send's records
 * went to librdkafka, one reading for all of them (the event time is a
 * header).
 * Headers (text values): origin_id, seq,
 * schema_subject, schema_version, event_time_ms, op (upsert|delete),
 * version (the record's version for last-writer-wins, DESIGN.md §6), so a
 * consumer can drop duplicates by (origin_id, seq) (I3) and keep each
 * key's newest version. With `headers: compact` the seven are one header,
 * identity = "1;<origin_id>;<seq>;<schema_subject>;<schema_version>;
 * <event_time_ms>;<op>;<version>" (identity_value), nothing escaped: no
 * field can hold a ';' (kafka_send dead-letters the records of a subject
 * that does), so a consumer splits at every one; the `quality` header stays
 * apart. Why: librdkafka allocates, copies and frees an object per header
 * and keeps them until the delivery report, a window later, which was a
 * quarter of a drained record's instructions and half of the window's
 * memory. Value by `encoding`:
 *   avro       Avro single-object encoding: C3 01, the writer schema's
 *              CRC-64-AVRO fingerprint (little-endian), the Avro body;
 *   confluent  magic byte 0, the 4-byte Schema Registry id, the body;
 *              the schema is registered under "<topic>-value"
 *              (TopicNameStrategy) through sync/registry.c;
 *   json       sa_encode_json with _origin_id/_seq/_op.
 * A delete (op=delete) is a tombstone: NULL value, headers as above.
 *
 * DELIVERY (at least once, the default)
 *
 * The producer runs with acks=all and enable.idempotence=true unless the
 * `kafka:` map says otherwise. Each message carries a slot number as its
 * opaque; slot i holds (segment id, record index). The delivery report
 * callback (dr_msg_cb, served by rd_kafka_poll in poll_acks, on the
 * worker thread, so no locking) turns the report into an ack:
 *   no error                          SA_SINK_OK
 *   a permanent error for the message SA_SINK_REJECT (dead-lettered)
 *     (MSG_SIZE_TOO_LARGE, INVALID_RECORD, ...; see permanent())
 *   anything else (timeouts, purges,  SA_SINK_RETRY: the dispatcher backs
 *     NOT_ENOUGH_REPLICAS after the     off and sends again from the spool
 *     producer's own retries, fatal)
 * Adjacent reports of one segment with the same outcome are merged into
 * one ack. A write into librdkafka's queue is never an ack (I2).
 *
 * Memory stays flat with any backlog (I5): the slot table is fixed at
 * open (twice the dispatcher's max_in_flight), send returns SA_EAGAIN
 * when it lacks a slot for every record of the view, and when
 * librdkafka's own queue is full it serves delivery reports and tries
 * again instead of buffering. While librdkafka says every broker is down
 * it holds no more than a probe (SA_DISPATCH_PROBE_RECORDS) either.
 *
 * A fatal error of the idempotent producer (rd_kafka_fatal_error) makes
 * the next send purge and destroy the producer, report RETRY for every
 * message still in a slot, and create a new one.
 *
 * EXACTLY ONCE (`exactly_once: true`)
 *
 * A transactional producer, transactional.id "syncagent-<origin id>-<sink
 * name>": the spool's identity, unique by construction and kept across
 * restarts, rather than agent.id, which hosts cloned from one image share
 * (two producers with one transactional.id fence each other; a fence says
 * so in one line, log_fenced). send() opens a transaction when none is
 * open and produces into it; the delivery reports only mark the
 * transaction failed (and remember permanent failures). poll_acks commits
 * when the transaction holds max_in_flight records, is older than
 * `transaction_interval`, or failed: it first produces the cursor just
 * past the transaction's last record,
 * {"origin_id":…,"segment_id":…,"record_index":…}, keyed
 * "<origin id>/<sink name>", to the compacted `cursor_topic`, then calls
 * rd_kafka_commit_transaction. Only after the commit are the transaction's
 * records acked OK. An abortable error aborts and acks them RETRY (a
 * permanently failed record REJECT); a fatal one or a failed abort
 * recreates the producer, whose init_transactions fences the old one and
 * aborts what it left open.
 *
 * start_cursor (kafka_cursor.c) runs init_transactions first (so every transaction of
 * an earlier instance is finished), then reads `cursor_topic` with a read_committed
 * consumer to its end and hands the last cursor of this sink back to the dispatcher,
 * which resumes there. The spool's own cursor can lag behind Kafka's (a kill -9 between
 * commit and cursor save); the one in Kafka is what a read_committed consumer saw, so
 * records come exactly once. Versions before the origin id keyed cursors
 * "<agent id>/<sink name>": while this spool has no cursor under its own
 * key, the last one of this spool (origin_id) under the old key is taken
 * (once: the next commit writes the new key). Cursors of other spools
 * under the old key (agents sharing an agent.id) are counted, not used.
 *
 * If the dispatcher rewinds (a backoff that gave up on outstanding
 * outcomes) while a transaction is open, the next send starts before the
 * transaction's end: the transaction is aborted without acks, since the
 * dispatcher already dropped those records and is sending them again.
 *
 * A send that finds the open transaction failed (a delivery report served
 * at the end of the previous send) aborts it, acks RETRY, and returns
 * SA_EAGAIN without producing: no transaction begins while RETRY outcomes
 * wait for poll_acks (nor after producer_ready dropped a producer with
 * its transaction). A new one could commit a cursor past the records to
 * retry before the dispatcher rewinds: a kill -9 in between would resume
 * after them (lost), and without one the rewind would send its records
 * twice. EAGAIN makes the dispatcher poll at once; it sees the RETRY, backs
 * off and rewinds. The reports of an aborted transaction's purged messages
 * are served inside txn_abort (librdkafka does so in abort_transaction;
 * txn_abort flushes any left), never into the next transaction.
 *
 * A record the broker refuses (MESSAGE_TOO_LARGE) fails its transaction,
 * and librdkafka 2.0 then neither sends nor fails the messages queued
 * behind it: commit_transaction and abort_transaction would each wait a
 * whole delivery_timeout for them. So txn_commit serves the delivery
 * reports itself before committing and aborts at the first failure, and
 * txn_abort purges a failed transaction's messages, in flight or not.
 */
#include "sync/sink.h"

#include "agent/base/buf.h"
#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "sync/dispatcher.h"
#include "sync/encode.h"
#include "sync/registry.h"
#include "sync/sink/kafka_cursor.h"
#include "sync/sink/kafka_private.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_FULL_WAIT_MS 10
#define MAX_TOPIC_NAME 249 /* Kafka's limit */
#define COMMIT_POLL_MS 10   /* txn_commit serving delivery reports */
#define ABORT_FLUSH_MS 1000 /* reports of an aborted transaction still queued */
#define CLOSE_FLUSH_MS 5000 /* at most, and never past the stop's grace */
#define INIT_STEP_MS 2000   /* init_transactions, resumed until it is done */

static const char *const encoding_symbols[] = {"avro", "confluent", "json", NULL};
static const char *const headers_symbols[] = {"separate", "compact", NULL};

static const struct sa_conf_entry kafka_conf[] = {
    {.type = SA_CONF_STR,
     .key = "brokers",
     .offset = offsetof(struct kafka_opts, brokers),
     .desc = "bootstrap servers, host:port[,host:port...]",
     .flags = SA_CONF_REQUIRED},
    {.type = SA_CONF_STR,
     .key = "topic",
     .def = "edge.${stream}",
     .offset = offsetof(struct kafka_opts, topic),
     .desc = "topic name template: ${stream} and ${agent_id} are replaced"},
    {.type = SA_CONF_ENUM,
     .key = "encoding",
     .def = "avro",
     .offset = offsetof(struct kafka_opts, encoding),
     .symbols = encoding_symbols,
     .desc = "avro: Avro single-object encoding (no registry); confluent: "
             "Confluent wire format with a Schema Registry id; json: JSON object"},
    {.type = SA_CONF_ENUM,
     .key = "headers",
     .def = "separate",
     .offset = offsetof(struct kafka_opts, headers),
     .symbols = headers_symbols,
     .desc = "separate: origin_id, seq, schema_subject, schema_version, "
             "event_time_ms, op, version, a header each; compact: one header, "
             "identity = 1;origin_id;seq;schema_subject;schema_version;"
             "event_time_ms;op;version (a third less CPU and 2 MB less RSS a "
             "drain; its consumers must split it)"},
    {.type = SA_CONF_STR,
     .key = "schema_registry",
     .offset = offsetof(struct kafka_opts, schema_registry),
     .desc = "Schema Registry URL (encoding: confluent)"},
    {.type = SA_CONF_STR,
     .key = "schema_registry_username",
     .offset = offsetof(struct kafka_opts, registry_username),
     .desc = "Schema Registry basic-auth user"},
    {.type = SA_CONF_STR,
     .key = "schema_registry_password",
     .offset = offsetof(struct kafka_opts, registry_password),
     .desc = "Schema Registry basic-auth password",
     .flags = SA_CONF_SECRET},
    {.type = SA_CONF_BOOL,
     .key = "exactly_once",
     .def = "false",
     .offset = offsetof(struct kafka_opts, exactly_once),
     .desc = "transactional producer; the sink's cursor is committed to "
             "cursor_topic in the same transaction as the records; the "
             "transactional.id and the cursor's key are the spool's origin_id"},
    {.type = SA_CONF_STR,
     .key = "cursor_topic",
     .def = "_syncagent.cursors",
     .offset = offsetof(struct kafka_opts, cursor_topic),
     .desc = "compacted topic holding exactly_once cursors (created when missing)"},
    {.type = SA_CONF_DURATION,
     .key = "transaction_interval",
     .def = "200ms",
     .offset = offsetof(struct kafka_opts, transaction_interval_ms),
     .min = 1,
     .max = 3600000,
     .desc = "exactly_once: commit a transaction at least this often"},
    {.type = SA_CONF_DURATION,
     .key = "delivery_timeout",
     .def = "60s",
     .offset = offsetof(struct kafka_opts, delivery_timeout_ms),
     .min = 1000,
     .max = 86400000,
     .desc = "a message not delivered within this is sent again from the spool"},
    {.type = SA_CONF_DURATION,
     .key = "linger",
     /* 1ms. At 0 librdkafka's broker thread sends what it finds the
      * moment it finds it, and a drain falls into one of two states: a
      * few large requests, or three times as many of 7-10 KB (1M
      * records: 2,600 against 7,000-8,800 requests), which doubles the
      * broker's CPU and costs 20 % of the wall time on a host it shares.
      * A millisecond's wait keeps the batches large (1,700-1,900
      * requests): 1M drain median 1.65 -> 1.49 s, every run in 1.44-1.59
      * s. 5ms made the window (max_in_flight) wait for each batch: 3.05
      * s against 2.15 s at 0 (tools/bench/README.md, issue 17). */
     .def = "1ms",
     .offset = offsetof(struct kafka_opts, linger_ms),
     .min = 0,
     .max = 60000,
     .desc = "librdkafka linger.ms: how long a batch may wait to fill; 0 sends at once, in "
             "more and smaller requests"},
    {.type = SA_CONF_STR,
     .key = "compression",
     .def = "lz4",
     .offset = offsetof(struct kafka_opts, compression),
     .desc = "compression.codec: none, gzip, snappy, lz4, zstd"},
    {.type = SA_CONF_MAP,
     .key = "kafka",
     .offset = offsetof(struct kafka_opts, kafka),
     .desc = "librdkafka properties passed through (TLS, SASL, batch sizes, ...); "
             "they override the sink's own settings"},
    {.key = NULL},
};

/* --- small helpers ------------------------------------------------------ */

static int permanent(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
        return 1;
    default:
        return 0;
    }
}

static int cursor_cmp(const struct sa_cursor *a, const struct sa_cursor *b)
{
    if (a->segment_id != b->segment_id)
        return a->segment_id < b->segment_id ? -1 : 1;
    if (a->record_index != b->record_index)
        return a->record_index < b->record_index ? -1 : 1;
    return 0;
}

static void slot_release(struct kafka_sink *ks, uint32_t i)
{
    ks->slots[i].used = 0;
    ks->slots[i].next_free = ks->free_head;
    ks->free_head = i;
    ks->n_free++;
}

static uint32_t slot_take(struct kafka_sink *ks, int64_t segment_id, uint32_t index)
{
    uint32_t i = ks->free_head;
    ks->free_head = ks->slots[i].next_free;
    ks->n_free--;
    ks->slots[i].segment_id = segment_id;
    ks->slots[i].index = index;
    ks->slots[i].used = 1;
    return i;
}

static void slots_reset(struct kafka_sink *ks)
{
    ks->free_head = UINT32_MAX;
    ks->n_free = 0;
    for (uint32_t i = ks->n_slots; i-- > 0;) {
        ks->slots[i].used = 0;
        slot_release(ks, i);
    }
}

/* --- librdkafka callbacks ----------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct kafka_sink *ks = opaque;
    uint32_t i = (uint32_t)(uintptr_t)msg->_private;
    struct slot *s;
    int outcome;
    const char *reason = NULL;

    (void)rk;
    if (i >= ks->n_slots || !ks->slots[i].used)
        return; /* the cursor message of a transaction */
    s = &ks->slots[i];
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        outcome = SA_SINK_OK;
        ks->brokers_down = 0;
        if (ks->degraded) {
            /* librdkafka logs the failures, not the recovery. */
            ks->degraded = 0;
            sa_log_info("kafka brokers reachable again: delivering", "sink", ks->name);
        }
    } else {
        outcome = permanent(msg->err) ? SA_SINK_REJECT : SA_SINK_RETRY;
        reason = rd_kafka_err2str(msg->err);
    }
    if (ks->o->exactly_once) {
        /* Outcomes follow the transaction, not the report. */
        if (outcome != SA_SINK_OK) {
            int purged = msg->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                         msg->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
            ks->txn_failed = 1;
            /* The reason is the first failure, not the purges that follow
             * from it (librdkafka purges a failed transaction's queue). */
            if (!ks->txn_error[0] || (ks->txn_error_purged && !purged)) {
                snprintf(ks->txn_error, sizeof ks->txn_error, "%s", reason);
                ks->txn_error_purged = purged;
            }
            if (outcome == SA_SINK_REJECT &&
                sa_ack_list_push(&ks->rejects, s->segment_id, s->index, 1, outcome,
                                 reason))
                sa_log_warn("kafka sink: out of memory for a rejection", "sink",
                            ks->name);
        }
    } else if (sa_ack_list_push(&ks->acks, s->segment_id, s->index, 1, outcome,
                                reason)) {
        /* Without the ack the record is neither passed nor retried; the
         * dispatcher's drain limit rewinds to it: a duplicate, never a loss. */
        sa_log_warn("kafka sink: out of memory for an ack", "sink", ks->name);
    }
    slot_release(ks, i);
}

/* Fencing: a newer producer with the same transactional.id took over. */
static int fenced(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR__FENCED || e == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           e == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* Said once per producer, in words an operator can act on. */
static void log_fenced(struct kafka_sink *ks)
{
    if (ks->fence_logged)
        return;
    ks->fence_logged = 1;
    sa_log_error("kafka producer fenced: another instance uses the same "
                 "transactional.id (a copy of this spool's data directory)",
                 "sink", ks->name, "transactional_id", ks->txn_id);
}

/* librdkafka logs what it reports here through on_log already (facility
 * FAIL, ERROR, ...): an error event only sets state, and a fatal error,
 * which the log does not explain, gets its own line. */
static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{

    struct kafka_sink *ks = opaque;
    char buf[512];

    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk, buf, sizeof buf);
        ks->fatal = 1;
        if (fenced(e))
            log_fenced(ks);
        else
            sa_log_warn("kafka producer fatal error", "sink", ks->name, "error", buf);
        return;
    }
    if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !ks->brokers_down)
        /* Not in librdkafka's log: said once per outage. */
        sa_log_warn("kafka brokers all down", "sink", ks->name, "error", reason);
    if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        ks->brokers_down = 1;
    ks->degraded = 1;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    sa_logf(level <= 4 ? SA_LOG_WARN : SA_LOG_INFO, "librdkafka", "fac=%s text=\"%s\"",
            fac, buf);
}

/* --- the producer ------------------------------------------------------- */

int sa_kafka_conf_set(rd_kafka_conf_t *conf, const char *sink, const char *key,
                      const char *value, struct sa_err *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return sa_err_set(err, SA_ECONFIG, "sink %s: kafka property %s: %s", sink, key,
                          errstr);
    return SA_OK;
}

/* Properties of the `kafka:` map a consumer needs too (connection, TLS,
 * SASL): the rest are producer settings a consumer would warn about. */
static int connection_property(const char *key)
{
    static const char *const prefixes[] = {
        "security.", "ssl.",      "sasl.", "socket.",    "broker.",
        "client.",   "metadata.", "api.",  "reconnect.", NULL};
    for (size_t i = 0; prefixes[i]; i++)
        if (strncmp(key, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

int sa_kafka_base_conf(struct kafka_sink *ks, rd_kafka_conf_t *conf, int producer,
                       struct sa_err *err)
{
    const struct kafka_opts *o = ks->o;
    int rc;

    rd_kafka_conf_set_log_cb(conf, on_log);
    if ((rc = sa_kafka_conf_set(conf, ks->name, "bootstrap.servers", o->brokers, err)))
        return rc;
    for (size_t i = 0; i < o->kafka.n; i++) {
        if (!producer && !connection_property(o->kafka.v[i].key))
            continue;
        if ((rc = sa_kafka_conf_set(conf, ks->name, o->kafka.v[i].key,
                                    o->kafka.v[i].value, err)))
            return rc;
    }
    return SA_OK;
}

/* The producer's own settings, which the `kafka:` map (set after them)
 * overrides: producer_new's, and check's on a scratch configuration. */
static int producer_settings(const struct kafka_opts *o, const char *sink,
                             const char *txn_id, rd_kafka_conf_t *conf, struct sa_err *err)
{
    char num[32];
    int rc = SA_OK;
    struct {
        const char *key, *value;
    } defaults[] = {
        {"acks", "all"},
        {"enable.idempotence", "true"},
        {"partitioner", "murmur2_random"}, /* same partitions as Java clients */
        {"compression.codec", o->compression},
        {"batch.num.messages", "10000"},
        {"batch.size", "1000000"},
        {"queue.buffering.max.kbytes", "65536"},
    };

    for (size_t i = 0; !rc && i < sizeof defaults / sizeof defaults[0]; i++)
        rc = sa_kafka_conf_set(conf, sink, defaults[i].key, defaults[i].value, err);
    snprintf(num, sizeof num, "%" PRId64, o->linger_ms);
    if (!rc)
        rc = sa_kafka_conf_set(conf, sink, "linger.ms", num, err);
    snprintf(num, sizeof num, "%" PRId64, o->delivery_timeout_ms);
    if (!rc)
        rc = sa_kafka_conf_set(conf, sink, "message.timeout.ms", num, err);
    if (!rc && o->exactly_once)
        rc = sa_kafka_conf_set(conf, sink, "transactional.id", txn_id, err);
    return rc;
}

static int producer_new(struct kafka_sink *ks, struct sa_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char id[300], errstr[512];
    int rc;

    if (!conf)
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", ks->name);
    snprintf(id, sizeof id, "syncagent-%s-%s", ks->agent_id, ks->name);
    rc = sa_kafka_conf_set(conf, ks->name, "client.id", id, err);
    if (!rc)
        rc = producer_settings(ks->o, ks->name, ks->txn_id, conf, err);
    if (!rc)
        rc = sa_kafka_base_conf(ks, conf, 1, err);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_opaque(conf, ks);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    ks->brokers_down = 0;
    ks->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!ks->rk) {
        rd_kafka_conf_destroy(conf);
        return sa_err_set(err, SA_ECONFIG, "sink %s: creating the producer: %s",
                          ks->name, errstr);
    }
    ks->fatal = 0;
    ks->txn_inited = 0;
    ks->fence_logged = 0;
    return SA_OK;
}

static void topics_free(struct kafka_sink *ks)
{
    for (size_t i = 0; i < ks->n_topics; i++) {
        rd_kafka_topic_destroy(ks->topics[i].rkt);
        free(ks->topics[i].stream);
    }
    free(ks->topics);
    ks->topics = NULL;
    ks->n_topics = 0;
}

/* Outcomes of the open transaction's records: `outcome` for each range,
 * REJECT for the records that failed permanently. */
static void txn_report(struct kafka_sink *ks, int outcome, const char *reason)
{
    for (size_t i = 0; i < ks->rejects.n; i++)
        sa_ack_list_push(&ks->acks, ks->rejects.v[i].segment_id,
                         ks->rejects.v[i].first_index, ks->rejects.v[i].count,
                         SA_SINK_REJECT, ks->rejects.v[i].reason);
    for (size_t i = 0; i < ks->n_ranges; i++)
        sa_ack_list_push(&ks->acks, ks->ranges[i].segment_id, ks->ranges[i].first,
                         ks->ranges[i].count, outcome, reason);
}

static void txn_clear(struct kafka_sink *ks)
{
    ks->in_txn = 0;
    ks->txn_failed = 0;
    ks->txn_records = 0;
    ks->n_ranges = 0;
    sa_ack_list_clear(&ks->rejects);
    ks->txn_error[0] = '\0';
    ks->txn_error_purged = 0;
}

/* Drop the producer: whatever is still in a slot is reported RETRY (or,
 * in a transaction, the transaction's records are), then a new one is
 * made on the next send. */
static void producer_drop(struct kafka_sink *ks, int report)
{
    if (!ks->rk)
        return;
    rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(ks->rk, 0);
    topics_free(ks);
    rd_kafka_destroy(ks->rk);
    ks->rk = NULL;
    if (report && !ks->o->exactly_once)
        for (uint32_t i = 0; i < ks->n_slots; i++)
            if (ks->slots[i].used)
                sa_ack_list_push(&ks->acks, ks->slots[i].segment_id, ks->slots[i].index,
                                 1, SA_SINK_RETRY, "producer recreated");
    if (ks->o->exactly_once && ks->in_txn) {
        if (report)
            txn_report(ks, SA_SINK_RETRY, "producer recreated");
        txn_clear(ks);
    }
    slots_reset(ks);
}

static int txn_error(struct kafka_sink *ks, const char *what, rd_kafka_error_t *e,
                     struct sa_err *err)
{
    int rc = sa_err_set(err, rd_kafka_error_is_retriable(e) ? SA_EAGAIN : SA_ESINK,
                        "sink %s: %s: %s", ks->name, what, rd_kafka_error_string(e));
    if (rd_kafka_error_is_fatal(e))
        ks->fatal = 1;
    if (fenced(rd_kafka_error_code(e)))
        log_fenced(ks);
    rd_kafka_error_destroy(e);
    return rc;
}

/* How long a transaction call may wait: delivery_timeout, or while the
 * dispatcher stops, what is left of its grace (sa_sink.close_by_ms), in
 * poll_acks' commits as in close. */
static int op_timeout(const struct kafka_sink *ks)
{
    int64_t ms = ks->o->delivery_timeout_ms;
    if (ks->sink->close_by_ms) {
        int64_t left = ks->sink->close_by_ms - sa_mono_ms();
        if (left < ms)
            ms = left > 0 ? left : 0;
    }
    return (int)ms;
}

/* A usable producer: recreated after a fatal error, transactions
 * initialised once per producer. */
int sa_kafka_producer_ready(struct kafka_sink *ks, struct sa_err *err)
{
    rd_kafka_error_t *e;
    int rc;

    if (ks->rk && (ks->fatal || rd_kafka_fatal_error(ks->rk, NULL, 0)))
        producer_drop(ks, 1);
    if (!ks->rk && (rc = producer_new(ks, err)))
        return rc;
    if (ks->o->exactly_once && !ks->txn_inited) {
        /* In steps: a timed-out init is resumed by the next call, and
         * between calls the dispatcher sees a stop. */
        int64_t step = ks->o->delivery_timeout_ms < INIT_STEP_MS
                           ? ks->o->delivery_timeout_ms
                           : INIT_STEP_MS;
        e = rd_kafka_init_transactions(ks->rk, (int)step);
        if (e) {
            rc = txn_error(ks, "init_transactions", e, err);
            /* A timed-out init is resumed; anything else starts over. */
            if (rc != SA_EAGAIN)
                producer_drop(ks, 1);
            return rc;
        }
        ks->txn_inited = 1;
    }
    return SA_OK;
}

/* --- topics ------------------------------------------------------------- */

/* Kafka's rule for a topic name (its Topic.validate): 1 to 249 of
 * A-Z a-z 0-9 . _ -, and not "." or "..". NULL when name is one, else
 * why not, written into why. */
static const char *topic_name_problem(const char *name, char *why, size_t why_len)
{
    size_t len = strlen(name);

    if (len == 0)
        return "it is empty";
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return "'.' and '..' are not topic names";
    if (len > MAX_TOPIC_NAME)
        return "it is longer than 249 characters";
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            if (c >= 0x21 && c < 0x7f)
                snprintf(why, why_len,
                         "'%c' at column %zu (a topic name is A-Z a-z 0-9 . _ - only)",
                         (char)c, (size_t)(p - name) + 1);
            else
                snprintf(why, why_len,
                         "byte 0x%02x at column %zu (a topic name is A-Z a-z 0-9 . _ - "
                         "only)",
                         c, (size_t)(p - name) + 1);
            return why;
        }
    }
    return NULL;
}

/* Expand a topic template for a stream into out (terminated): SA_OK,
 * SA_ECONFIG for a ${...} other than ${stream} and ${agent_id}, or the
 * buffer's rc. */
static int topic_name(const char *tpl, const char *agent_id, const char *stream,
                      struct sa_buf *out)
{
    const char *p = tpl;
    int rc = SA_OK;

    sa_buf_reset(out);
    while (*p && !rc) {
        if (strncmp(p, "${stream}", 9) == 0) {
            rc = sa_buf_append_str(out, stream);
            p += 9;
        } else if (strncmp(p, "${agent_id}", 11) == 0) {
            rc = sa_buf_append_str(out, agent_id);
            p += 11;
        } else if (p[0] == '$' && p[1] == '{') {
            return SA_ECONFIG;
        } else {
            rc = sa_buf_append_byte(out, (uint8_t)*p++);
        }
    }
    return rc ? rc : sa_buf_terminate(out);
}

static rd_kafka_topic_t *topic_for(struct kafka_sink *ks, const char *stream,
                                   struct sa_err *err)
{
    struct topic *v;
    rd_kafka_topic_t *rkt;
    char why[128];

    for (size_t i = 0; i < ks->n_topics; i++)
        if (strcmp(ks->topics[i].stream, stream) == 0)
            return ks->topics[i].rkt;
    int rc = topic_name(ks->o->topic, ks->agent_id, stream, &ks->value);
    if (rc == SA_ECONFIG) {
        sa_err_set(err, SA_ECONFIG,
                   "topic template '%.80s': unknown variable (use ${stream} or "
                   "${agent_id})",
                   ks->o->topic);
        return NULL;
    }
    if (rc) {
        sa_err_set(err, rc, "sink %s: topic name: %s", ks->name, sa_strerror(rc));
        return NULL;
    }
    /* check() saw the template's own characters; a stream's name can
     * still make one Kafka refuses, and would forever after. */
    const char *problem = topic_name_problem((const char *)ks->value.data, why, sizeof why);
    if (problem) {
        sa_err_set(err, SA_ECONFIG,
                   "topic '%.80s' (topic: %.60s, stream %.60s) is not a Kafka topic "
                   "name: %s",
                   (const char *)ks->value.data, ks->o->topic, stream, problem);
        return NULL;
    }
    rkt = rd_kafka_topic_new(ks->rk, (const char *)ks->value.data, NULL);
    if (!rkt) {
        sa_err_set(err, SA_ESINK, "sink %s: topic %s: %s", ks->name,
                   (const char *)ks->value.data,
                   rd_kafka_err2str(rd_kafka_last_error()));
        return NULL;
    }
    v = realloc(ks->topics, (ks->n_topics + 1) * sizeof *v);
    if (!v || !(v[ks->n_topics].stream = strdup(stream))) {
        if (v)
            ks->topics = v;
        rd_kafka_topic_destroy(rkt);
        sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", ks->name);
        return NULL;
    }
    ks->topics = v;
    v[ks->n_topics].rkt = rkt;
    ks->n_topics++;
    return rkt;
}

/* --- transactions ------------------------------------------------------- */

static int txn_add_range(struct kafka_sink *ks, int64_t segment_id, uint32_t first,
                         uint32_t count)
{
    if (ks->n_ranges > 0) {
        struct txn_range *last = &ks->ranges[ks->n_ranges - 1];
        if (last->segment_id == segment_id && last->first + last->count == first) {
            last->count += count;
            return SA_OK;
        }
    }
    if (ks->n_ranges == ks->cap_ranges) {
        size_t cap = ks->cap_ranges ? ks->cap_ranges * 2 : 64;
        struct txn_range *v = realloc(ks->ranges, cap * sizeof *v);
        if (!v)
            return SA_ENOMEM;
        ks->ranges = v;
        ks->cap_ranges = cap;
    }
    ks->ranges[ks->n_ranges++] = (struct txn_range){segment_id, first, count};
    return SA_OK;
}

/* Abort the open transaction; with `report`, its records are RETRY. A
 * failed abort drops the producer (the next one fences this one). */
static void txn_abort(struct kafka_sink *ks, int report, const char *why)
{
    rd_kafka_error_t *e;
    char reason[sizeof ks->txn_error];

    if (!ks->in_txn)
        return;
    /* `why` may be txn_error, which the reports served below rewrite. */
    snprintf(reason, sizeof reason, "%s", why);
    sa_log_warn("kafka transaction aborted", "sink", ks->name, "reason", reason);
    /* Reports still queued belong to this transaction: take them first. */
    rd_kafka_poll(ks->rk, 0);
    /* A failed transaction's messages still in flight: after a permanent
     * failure (a message too large) librdkafka 2.0 neither sends nor fails
     * some of them, and abort_transaction would wait its whole timeout (a
     * minute) for them. They are aborted anyway: purge them. The gap in
     * sequence numbers may fail the next transaction once
     * (OUT_OF_ORDER_SEQUENCE_NUMBER; librdkafka then bumps the epoch). */
    if (ks->txn_failed) {
        rd_kafka_resp_err_t perr =
            rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        if (perr)
            sa_log_warn("kafka purge failed", "sink", ks->name, "error",
                        rd_kafka_err2str(perr));
    }
    e = rd_kafka_abort_transaction(ks->rk, op_timeout(ks));
    if (e) {
        sa_log_warn("kafka abort_transaction failed", "sink", ks->name, "error",
                    rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        producer_drop(ks, report);
        return;
    }
    /* The purged messages' reports ("Local: Purged in queue") belong to
     * this transaction too. librdkafka serves them inside
     * abort_transaction; should any still be queued, serve them now: left
     * for later, each would mark the next transaction failed and abort it
     * for nothing. A permanent failure among them is still reported. */
    if (rd_kafka_outq_len(ks->rk) > 0)
        rd_kafka_flush(ks->rk, ABORT_FLUSH_MS);
    if (report)
        txn_report(ks, SA_SINK_RETRY, reason);
    txn_clear(ks);
}

/* Outcomes of an ended transaction that ask for records again, still
 * waiting for poll_acks. */
static int retry_pending(const struct kafka_sink *ks)
{
    for (size_t i = 0; i < ks->acks.n; i++)
        if (ks->acks.v[i].outcome == SA_SINK_RETRY)
            return 1;
    return 0;
}

static int produce_cursor(struct kafka_sink *ks, struct sa_err *err)
{
    char value[256];
    int n = snprintf(
        value, sizeof value,
        "{\"origin_id\":\"%s\",\"segment_id\":%" PRId64 ",\"record_index\":%u}",
        ks->sink->origin_id, ks->txn_next.segment_id, ks->txn_next.record_index);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        ks->rk, RD_KAFKA_V_TOPIC(ks->o->cursor_topic),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(ks->cursor_key, strlen(ks->cursor_key)),
        RD_KAFKA_V_VALUE(value, (size_t)n),
        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)UINT32_MAX), RD_KAFKA_V_END);
    if (e)
        return sa_err_set(err, SA_ESINK, "sink %s: producing the cursor to %s: %s",
                          ks->name, ks->o->cursor_topic, rd_kafka_err2str(e));
    return SA_OK;
}

/* Commit the open transaction with the cursor; acks follow the result. */
static void txn_commit(struct kafka_sink *ks)
{
    struct sa_err err = {0};
    rd_kafka_error_t *e;
    int64_t until;

    rd_kafka_poll(ks->rk, 0);
    if (ks->txn_failed) {
        txn_abort(ks, 1, ks->txn_error[0] ? ks->txn_error : "a message failed");
        return;
    }
    if (produce_cursor(ks, &err)) {
        txn_abort(ks, 1, err.msg);
        return;
    }
    /* Take the delivery reports here rather than leave the flush to
     * commit_transaction: when a message fails during that flush (a
     * record the broker finds too large), librdkafka 2.0 sends nothing
     * more of the transaction, and the flush waits out its whole timeout
     * (delivery_timeout, a minute by default) before the commit says the
     * transaction must be aborted. A failed report seen here aborts at
     * once. */
    until = sa_mono_ms() + op_timeout(ks);
    while (!ks->txn_failed && rd_kafka_outq_len(ks->rk) > 0 && sa_mono_ms() < until)
        rd_kafka_poll(ks->rk, COMMIT_POLL_MS);
    if (ks->txn_failed) {
        txn_abort(ks, 1, ks->txn_error[0] ? ks->txn_error : "a message failed");
        return;
    }
    e = rd_kafka_commit_transaction(ks->rk, op_timeout(ks));
    /* A retriable error leaves the outcome unknown: librdkafka's contract
     * is to call commit_transaction again, which finishes the same
     * transaction, rather than to resend its records (duplicates). */
    for (int attempt = 1; e && rd_kafka_error_is_retriable(e) && attempt < 5;
         attempt++) {
        sa_log_warn("kafka commit_transaction retried", "sink", ks->name, "error",
                    rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        sa_sleep_ms(100L * attempt);
        e = rd_kafka_commit_transaction(ks->rk, op_timeout(ks));
    }
    rd_kafka_poll(ks->rk, 0);
    if (e) {
        char why[200];
        snprintf(why, sizeof why, "commit_transaction: %s", rd_kafka_error_string(e));
        if (rd_kafka_error_txn_requires_abort(e)) {
            rd_kafka_error_destroy(e);
            txn_abort(ks, 1, why);
        } else {
            /* Still retriable after the retries, or fatal: the outcome is
             * unknown. A new producer fences this one and the records are
             * sent again; should the commit have gone through after all,
             * they are in Kafka twice (the cursor read back on the next
             * start is right either way). */
            if (fenced(rd_kafka_error_code(e)))
                log_fenced(ks);
            else
                sa_log_warn("kafka commit failed", "sink", ks->name, "error", why);
            rd_kafka_error_destroy(e);
            producer_drop(ks, 1);
        }
        return;
    }
    if (ks->txn_failed) {
        /* Cannot happen after a successful commit; be safe. */
        txn_report(ks, SA_SINK_RETRY, ks->txn_error);
    } else {
        txn_report(ks, SA_SINK_OK, NULL);
    }
    txn_clear(ks);
}

/* --- operations --------------------------------------------------------- */

static void kafka_close(struct sa_sink *sink);

/* librdkafka's log lines while check builds a scratch producer. */
static void check_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

/* One bootstrap.servers entry as librdkafka reads it: [proto://]host[:port]
 * or [proto://][v6]:port. librdkafka takes any port modulo 65536 and skips
 * empty entries; both are refused here. NULL when fine, else why. */
static const char *broker_problem(const char *entry, size_t len, char *why, size_t why_len)
{
    char e[300];
    const char *host, *port = NULL, *scheme;
    size_t host_len;

    while (len && (*entry == ' ' || *entry == '\t'))
        entry++, len--;
    while (len && (entry[len - 1] == ' ' || entry[len - 1] == '\t'))
        len--;
    if (len == 0)
        return "an empty entry (a stray ',')";
    if (len >= sizeof e)
        return "an entry longer than 299 characters";
    memcpy(e, entry, len);
    e[len] = '\0';
    host = (scheme = strstr(e, "://")) ? scheme + 3 : e;
    if (*host == '[') {
        const char *close = strchr(host, ']');
        if (!close) {
            snprintf(why, why_len, "'%s': '[' without ']'", e);
            return why;
        }
        host_len = (size_t)(close + 1 - host);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1]) {
            snprintf(why, why_len, "'%s': ':PORT' or nothing must follow ']'", e);
            return why;
        }
    } else {
        const char *colon = strrchr(host, ':');
        /* Two colons without brackets: an IPv6 address, which librdkafka
         * reads as it likes; left to it. */
        if (colon && memchr(host, ':', (size_t)(colon - host)) == NULL)
            port = colon + 1;
        host_len = port ? (size_t)(colon - host) : strlen(host);
    }
    if (host_len == 0) {
        snprintf(why, why_len, "'%s': no host", e);
        return why;
    }
    if (port) {
        long v = 0;
        size_t n = strlen(port);
        int digits = n > 0 && n <= 5;
        for (size_t i = 0; digits && i < n; i++)
            digits = port[i] >= '0' && port[i] <= '9';
        if (digits)
            v = strtol(port, NULL, 10);
        if (!digits || v < 1 || v > 65535) {
            snprintf(why, why_len, "'%s': port '%s' is not a number from 1 to 65535", e,
                     port);
            return why;
        }
    }
    return NULL;
}

/* The names a topic template makes, as far as check can know them: with
 * ${agent_id} replaced and ${stream} standing for a one-letter stream (a
 * stream's own name is checked when its records come, topic_for). */
static int check_topic_template(const struct sa_sink_conf *conf, const char *tpl,
                                struct sa_err *err)
{
    struct sa_buf buf;
    char why[128];
    const char *name, *problem;
    int rc;

    sa_buf_init(&buf, 4u << 20);
    rc = topic_name(tpl, conf->agent_id ? conf->agent_id : "agent", "s", &buf);
    name = rc ? "" : (const char *)buf.data;
    if (rc == SA_ECONFIG)
        rc = sa_conf_fail(&conf->origin, "topic", SA_ECONFIG, err,
                          "'%.60s': unknown variable (use ${stream} or ${agent_id})", tpl);
    else if (rc)
        rc = sa_err_set(err, rc, "sink %s: topic name: %s", conf->name, sa_strerror(rc));
    else if ((problem = topic_name_problem(name, why, sizeof why)) && strstr(tpl, "${"))
        /* The names are cut to 60 characters: the reason must fit. */
        rc = sa_conf_fail(&conf->origin, "topic", SA_ECONFIG, err,
                          "'%.60s%s' makes topic names like '%.60s%s', which Kafka "
                          "refuses: %s",
                          tpl, strlen(tpl) > 60 ? "..." : "", name,
                          strlen(name) > 60 ? "..." : "", problem);
    else if (problem)
        rc = sa_conf_fail(&conf->origin, "topic", SA_ECONFIG, err,
                          "'%.60s%s' is not a Kafka topic name: %s", tpl,
                          strlen(tpl) > 60 ? "..." : "", problem);
    sa_buf_fini(&buf);
    return rc;
}

/* What open would refuse in the settings, found without a connection: the
 * brokers' list, the topic names, the registry confluent needs, and the
 * producer's settings with the `kafka:` map over them, as librdkafka
 * takes them: set on a scratch configuration, then a producer made of it
 * (no bootstrap servers: it connects to nothing) and destroyed, so that
 * what rd_kafka_new refuses (acks=0 on an idempotent producer, say) is
 * refused here with the config's place. */
static int kafka_check(const struct sa_sink_conf *conf, struct sa_err *err)
{
    const struct kafka_opts *o = conf->opts;
    rd_kafka_conf_t *scratch;
    rd_kafka_t *rk;
    char errstr[512], why[400];
    const char *problem;
    int rc = SA_OK;

    if (!o || !o->brokers || !o->brokers[0])
        return sa_conf_fail(&conf->origin, "brokers", SA_ECONFIG, err, "is required");
    for (const char *p = o->brokers;;) {
        size_t len = strcspn(p, ",");
        if ((problem = broker_problem(p, len, why, sizeof why)))
            return sa_conf_fail(&conf->origin, "brokers", SA_ECONFIG, err, "%s", problem);
        if (!p[len])
            break;
        p += len + 1;
    }
    if ((rc = check_topic_template(conf, o->topic ? o->topic : "", err)))
        return rc;
    if (o->exactly_once &&
        (problem = topic_name_problem(o->cursor_topic ? o->cursor_topic : "", why,
                                      sizeof why)))
        return sa_conf_fail(&conf->origin, "cursor_topic", SA_ECONFIG, err,
                            "'%.60s%s' is not a Kafka topic name: %s",
                            o->cursor_topic ? o->cursor_topic : "",
                            o->cursor_topic && strlen(o->cursor_topic) > 60 ? "..." : "",
                            problem);
    if (o->encoding == ENC_CONFLUENT && (!o->schema_registry || !o->schema_registry[0]))
        return sa_conf_fail(&conf->origin, "encoding", SA_ECONFIG, err,
                            "confluent needs schema_registry (a URL)");
    if (!(scratch = rd_kafka_conf_new()))
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", conf->name);
    rd_kafka_conf_set_log_cb(scratch, check_log);
    if (rd_kafka_conf_set(scratch, "compression.codec", o->compression, errstr,
                          sizeof errstr) != RD_KAFKA_CONF_OK)
        rc = sa_conf_fail(&conf->origin, "compression", SA_ECONFIG, err,
                          "'%s': use none, gzip, snappy, lz4 or zstd (%s)", o->compression,
                          errstr);
    if (!rc)
        rc = producer_settings(o, conf->name, "syncagent-check", scratch, err);
    for (size_t i = 0; i < o->kafka.n && !rc; i++)
        if (rd_kafka_conf_set(scratch, o->kafka.v[i].key, o->kafka.v[i].value, errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK)
            rc = sa_conf_fail(&conf->origin, "kafka", SA_ECONFIG, err, "%s: %s",
                              o->kafka.v[i].key, errstr);
    if (rc) {
        rd_kafka_conf_destroy(scratch);
        return rc;
    }
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, scratch, errstr, sizeof errstr))) {
        rd_kafka_conf_destroy(scratch);
        return sa_conf_fail(&conf->origin, o->kafka.n ? "kafka" : "delivery_timeout",
                            SA_ECONFIG, err, "librdkafka refuses the producer's settings: %s",
                            errstr);
    }
    rd_kafka_destroy(rk);
    return SA_OK;
}

static int kafka_open(struct sa_sink *sink, struct sa_err *err)
{
    const struct kafka_opts *o = sink->conf->opts;
    struct kafka_sink *ks;
    int rc;

    if ((rc = kafka_check(sink->conf, err)))
        return rc;
    ks = calloc(1, sizeof *ks);
    if (!ks)
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", sink->conf->name);
    sink->ctx = ks;
    ks->o = o;
    ks->sink = sink;
    ks->name = sink->conf->name;
    snprintf(ks->agent_id, sizeof ks->agent_id, "%s",
             sink->conf->agent_id ? sink->conf->agent_id : "agent");
    /* The exactly-once identity is the spool's, not the host's: agent.id
     * defaults to the host name, which hosts cloned from one image share,
     * and two producers with one transactional.id fence each other. */
    snprintf(ks->txn_id, sizeof ks->txn_id, "syncagent-%s-%s", sink->origin_id,
             ks->name);
    snprintf(ks->cursor_key, sizeof ks->cursor_key, "%s/%s", sink->origin_id, ks->name);
    snprintf(ks->legacy_key, sizeof ks->legacy_key, "%s/%s", ks->agent_id, ks->name);
    sa_buf_init(&ks->value, 64u * 1024 * 1024);
    sa_buf_init(&ks->ident, 64u * 1024);
    ks->max_in_flight = sink->conf->max_in_flight > 0 ? sink->conf->max_in_flight
                                                      : SA_SINK_DEFAULT_MAX_IN_FLIGHT;
    ks->n_slots = (uint32_t)(ks->max_in_flight * 2 + 16);
    ks->slots = calloc(ks->n_slots, sizeof *ks->slots);
    if (!ks->slots) {
        kafka_close(sink);
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", sink->conf->name);
    }
    slots_reset(ks);
    if (o->encoding == ENC_CONFLUENT) {
        struct sa_registry_opts ro = {.url = o->schema_registry,
                                      .username = o->registry_username,
                                      .password = o->registry_password,
                                      .timeout_ms = 10000};
        if ((rc = sa_registry_new(&ks->registry, &ro, err))) {
            sa_err_prefix(err, "sink %s: ", ks->name);
            kafka_close(sink);
            return rc;
        }
    }
    /* kafka_check, above, saw the topic template. */
    if ((rc = producer_new(ks, err))) {
        kafka_close(sink);
        return rc;
    }
    return SA_OK;
}

/* Header names are literals: their length is known at compile time, so
 * librdkafka need not strlen them for every record. */
#define ADD_HEADER(h, name, value, len)                                                \
    (rd_kafka_header_add((h), (name), (ssize_t)(sizeof(name) - 1), (value),            \
                         (ssize_t)(len))                                               \
         ? -1                                                                          \
         : 0)

/* "00" .. "99": decimal_u64 writes two digits a division. */
static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

/* The decimal text of v, written backwards ending just before `end`;
 * returns where it starts. 20 digits at most. snprintf("%" PRIu64) cost
 * ~800 instructions a call, three calls a record (the seq, event_time_ms
 * and version headers); a digit a division cost ~530 a record for the
 * three, two digits a division (the pair table) about half that. */
static char *decimal_u64(char *end, uint64_t v)
{
    while (v >= 100) {
        const char *d = digit_pairs + 2 * (v % 100);
        v /= 100;
        *--end = d[1];
        *--end = d[0];
    }
    if (v >= 10) {
        *--end = digit_pairs[2 * v + 1];
        *--end = digit_pairs[2 * v];
    } else {
        *--end = (char)('0' + v);
    }
    return end;
}

static char *decimal_i64(char *end, int64_t v)
{
    char *p = decimal_u64(end, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
    if (v < 0)
        *--p = '-';
    return p;
}

/* Appends n bytes and a ';' at p; returns the end. */
static char *put_field(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    p[n] = ';';
    return p + n + 1;
}

/* The compact identity header's value (headers: compact), the seven
 * separate headers' values in their order, after the layout's version:
 * "1;origin_id;seq;schema_subject;schema_version;event_time_ms;op;version".
 * No field holds a ';': a UUID, decimal numbers, the op, and a subject,
 * which kafka_send checks (a directory name could). out must have room for the lengths
 * plus 8 separators; returns the length written. */
static size_t identity_value(char *out, const char *origin, size_t origin_len,
                             const char *seq, size_t seq_len, const char *subject,
                             size_t subject_len, const char *schema_version,
                             size_t schema_version_len, const char *event_ms,
                             size_t event_ms_len, const char *op, const char *version,
                             size_t version_len)
{
    char *p = put_field(out, "1", 1);
    p = put_field(p, origin, origin_len);
    p = put_field(p, seq, seq_len);
    p = put_field(p, subject, subject_len);
    p = put_field(p, schema_version, schema_version_len);
    p = put_field(p, event_ms, event_ms_len);
    p = put_field(p, op, 6);
    memcpy(p, version, version_len);
    return (size_t)(p - out) + version_len;
}

/* Every record of the view is rejected before a send (a schema that no
 * message can carry). Without room for the outcome, a failed send
 * instead: the dispatcher offers the records again after a backoff,
 * where an SA_OK without an outcome would leave them unanswered. */
static int reject_view(struct kafka_sink *ks, const struct sa_segment_view *view,
                       uint32_t n_records, const char *why, struct sa_err *err)
{
    if (sa_ack_list_push(&ks->acks, view->id, view->start_index, n_records,
                         SA_SINK_REJECT, why))
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", ks->name);
    return SA_OK;
}

static int kafka_send(struct sa_sink *sink, const struct sa_segment_view *view,
                      struct sa_err *err)
{
    struct kafka_sink *ks = sink->ctx;
    const struct sa_schema *schema;
    rd_kafka_topic_t *rkt;
    struct sa_segment_iter it;
    struct sa_record_view rec;
    char version[16];
    size_t version_len, origin_len, subject_len;
    uint32_t n_records = view->count - view->start_index;
    int32_t registry_id = 0;
    const int compact = ks->o->headers == HEADERS_COMPACT;
    int64_t now_ms;
    int rc;

    if (ks->o->exactly_once && ks->in_txn) {
        struct sa_cursor start = {view->id, view->start_index};
        if (cursor_cmp(&start, &ks->txn_next) < 0)
            txn_abort(ks, 0, "the dispatcher rewound");
        else if (ks->txn_failed)
            txn_abort(ks, 1, ks->txn_error);
    }
    if ((rc = sa_kafka_producer_ready(ks, err)))
        return rc;
    /* A transaction that just ended with RETRY outcomes (aborted above, or
     * dropped with a failed producer): no new one before the dispatcher
     * has them. A new transaction could commit a cursor past the records
     * to retry, and a kill -9 before the dispatcher rewinds would lose
     * them; without one, the rewind would send its records twice. EAGAIN
     * makes the dispatcher poll, see the RETRY, back off and rewind. */
    if (ks->o->exactly_once && retry_pending(ks))
        return SA_EAGAIN;
    if (n_records > ks->n_free)
        return SA_EAGAIN;
    /* Every broker is down: keep no more than a probe in librdkafka's queue
     * (each message costs ~1 KiB there), rather than the dispatcher's whole
     * window until the first delivery times out, seconds later (I5). */
    if (ks->brokers_down && ks->n_free < ks->n_slots &&
        ks->n_slots - ks->n_free + n_records > SA_DISPATCH_PROBE_RECORDS)
        return SA_EAGAIN;
    if ((rc = sa_sink_schema(sink, view->schema_id, &schema, err)))
        return rc;
    if (compact && strchr(schema->subject, ';')) {
        /* A subject is a directory name under schemas/: nothing else stops
         * a ';', which would shift the identity header's fields. Refused
         * before a transaction begins or the registry learns the schema:
         * these records are never sent. */
        char why[160];
        snprintf(why, sizeof why,
                 "headers: compact cannot carry schema subject '%s': it "
                 "holds a ';'",
                 schema->subject);
        return reject_view(ks, view, n_records, why, err);
    }
    if (!(rkt = topic_for(ks, view->stream, err))) {
        if (err->rc != SA_ECONFIG)
            return err->rc;
        /* No message can reach that topic: dead letters, with the reason,
         * for a replay once the topic template is fixed. */
        char why[SA_ERR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err->msg);
        sa_err_clear(err);
        return reject_view(ks, view, n_records, why, err);
    }
    if (ks->o->exactly_once && !ks->in_txn) {
        rd_kafka_error_t *e = rd_kafka_begin_transaction(ks->rk);
        if (e)
            return txn_error(ks, "begin_transaction", e, err);
        ks->in_txn = 1;
        ks->txn_begin_ms = sa_mono_ms();
    }
    version_len = (size_t)snprintf(version, sizeof version, "%d", schema->version);
    origin_len = strlen(sink->origin_id);
    subject_len = strlen(schema->subject);
    if (ks->registry) {
        /* TopicNameStrategy: the subject is "<topic>-value". The client
         * caches ids, so this costs a request once per schema. */
        char subject[512];
        snprintf(subject, sizeof subject, "%s-value", rd_kafka_topic_name(rkt));
        rc = sa_registry_id(ks->registry, subject, schema, &registry_id, err);
        if (rc == SA_ESCHEMA) {
            /* The registry refuses this schema: these records cannot be
             * sent in this encoding, ever. */
            char why[SA_ERR_MSG_MAX];
            snprintf(why, sizeof why, "%s", err->msg);
            sa_err_clear(err);
            return reject_view(ks, view, n_records, why, err);
        }
        if (rc) {
            sa_err_prefix(err, "sink %s: ", ks->name);
            /* SA_EAGAIN means "no room" to the dispatcher: a registry that
             * is down is a failed send, retried after a backoff. */
            return err->rc = rc == SA_EAGAIN ? SA_ESINK : rc;
        }
    }

    if (compact) {
        /* Room for the identity header of any record of this view: the
         * fixed parts, three numbers of 20 digits and a sign, separators. */
        sa_buf_reset(&ks->ident);
        if (sa_buf_reserve(&ks->ident, origin_len + subject_len + version_len + 96))
            return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", ks->name);
    }

    /* The messages' timestamp (CreateTime): one clock reading for the
     * view instead of librdkafka's gettimeofday per message, taken after
     * whatever above may wait (a transaction's abort, the producer's
     * start, the registry), and again after a wait for queue room. */
    now_ms = sa_now_ms();
    sa_segment_iter_init(&it, view);
    while ((rc = sa_segment_iter_next(&it, &rec, err)) == SA_OK &&
           rec.index < view->count) {
        /* room for the identity (one header or seven) and `quality` */
        rd_kafka_headers_t *h = rd_kafka_headers_new(compact ? 2 : 8);
        char seq_buf[24], event_ms_buf[24], rec_version_buf[24];
        char *seq = decimal_u64(seq_buf + sizeof seq_buf, rec.seq);
        char *event_ms = decimal_i64(event_ms_buf + sizeof event_ms_buf, rec.event_ms);
        char *rec_version =
            decimal_i64(rec_version_buf + sizeof rec_version_buf, rec.version);
        size_t seq_len = (size_t)(seq_buf + sizeof seq_buf - seq);
        size_t event_ms_len = (size_t)(event_ms_buf + sizeof event_ms_buf - event_ms);
        size_t rec_version_len =
            (size_t)(rec_version_buf + sizeof rec_version_buf - rec_version);
        int is_delete = rec.op == SA_OP_DELETE;
        const char *op = is_delete ? "delete" : "upsert";
        const void *value = NULL;
        size_t value_len = 0;
        uint32_t slot;
        rd_kafka_resp_err_t e;
        int hrc;

        if (!h) {
            rc = sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", ks->name);
            break;
        }
        if (compact) {
            size_t ident_len = identity_value(
                (char *)ks->ident.data, sink->origin_id, origin_len, seq, seq_len,
                schema->subject, subject_len, version, version_len, event_ms,
                event_ms_len, op, rec_version, rec_version_len);
            hrc = ADD_HEADER(h, "identity", ks->ident.data, ident_len);
        } else {
            hrc = ADD_HEADER(h, "origin_id", sink->origin_id, origin_len) ||
                  ADD_HEADER(h, "seq", seq, seq_len) ||
                  ADD_HEADER(h, "schema_subject", schema->subject, subject_len) ||
                  ADD_HEADER(h, "schema_version", version, version_len) ||
                  ADD_HEADER(h, "event_time_ms", event_ms, event_ms_len) ||
                  ADD_HEADER(h, "op", op, 6) ||
                  ADD_HEADER(h, "version", rec_version, rec_version_len);
        }
        /* quality rules failed with action tag (agent/quality/) */
        if (hrc || (rec.tags_len && ADD_HEADER(h, "quality", rec.tags, rec.tags_len))) {
            rd_kafka_headers_destroy(h);
            rc = sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", ks->name);
            break;
        }
        if (!is_delete) {
            struct sa_err enc = {0};
            sa_buf_reset(&ks->value);
            if (ks->o->encoding == ENC_JSON)
                rc = sa_encode_json(schema, rec.body, rec.body_len, sink->origin_id,
                                    &rec, &ks->value, &enc);
            else if (ks->registry)
                rc = sa_encode_confluent(registry_id, rec.body, rec.body_len,
                                         &ks->value);
            else
                rc =
                    sa_encode_single_object(schema, rec.body, rec.body_len, &ks->value);
            if (rc) {
                rd_kafka_headers_destroy(h);
                if (sa_ack_list_push(&ks->acks, view->id, rec.index, 1, SA_SINK_REJECT,
                                     enc.msg[0] ? enc.msg : sa_strerror(rc))) {
                    rc = sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", ks->name);
                    break;
                }
                rc = SA_OK;
                continue;
            }
            value = ks->value.data;
            value_len = ks->value.len;
        }
        slot = slot_take(ks, view->id, rec.index);
        for (;;) {
            e = rd_kafka_producev(
                ks->rk, RD_KAFKA_V_RKT(rkt),
                RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_KEY(rec.key_len ? rec.key : NULL, rec.key_len),
                RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_HEADERS(h),
                RD_KAFKA_V_TIMESTAMP(now_ms),
                RD_KAFKA_V_OPAQUE((void *)(uintptr_t)slot), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            /* librdkafka's queue is full: let it deliver, never buffer. */
            rd_kafka_poll(ks->rk, QUEUE_FULL_WAIT_MS);
            now_ms = sa_now_ms();
        }
        if (e) {
            rd_kafka_headers_destroy(h);
            slot_release(ks, slot);
            if (permanent(e)) {
                if (sa_ack_list_push(&ks->acks, view->id, rec.index, 1, SA_SINK_REJECT,
                                     rd_kafka_err2str(e))) {
                    rc = sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", ks->name);
                    break;
                }
                continue;
            }
            if (ks->o->exactly_once)
                ks->txn_failed = 1;
            /* Records produced before this one still get their reports;
             * the dispatcher sends this range again after a backoff. */
            return sa_err_set(err, SA_ESINK, "sink %s: produce to %s: %s", ks->name,
                              rd_kafka_topic_name(rkt), rd_kafka_err2str(e));
        }
    }
    if (rc < 0) {
        /* Part of the view may be produced already: in a transaction, that
         * part must not commit without the rest (the range is sent again). */
        if (ks->o->exactly_once)
            ks->txn_failed = 1;
        return rc;
    }
    if (ks->o->exactly_once) {
        if (txn_add_range(ks, view->id, view->start_index, n_records)) {
            ks->txn_failed = 1;
            return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", ks->name);
        }
        ks->txn_records += n_records;
        ks->txn_next.segment_id = view->id;
        ks->txn_next.record_index = view->count;
    }
    /* Serve reports now and then so they never pile up in librdkafka. */
    rd_kafka_poll(ks->rk, 0);
    return SA_OK;
}

static int kafka_poll_acks(struct sa_sink *sink, struct sa_ack_list *acks,
                           int timeout_ms)
{
    struct kafka_sink *ks = sink->ctx;
    int rc = SA_OK;

    if (ks->rk) {
        rd_kafka_poll(ks->rk, 0);
        if (ks->o->exactly_once && ks->in_txn) {
            int64_t age = sa_mono_ms() - ks->txn_begin_ms;
            int64_t left = ks->o->transaction_interval_ms - age;
            if (!ks->txn_failed && ks->txn_records < ks->max_in_flight && left > 0 &&
                timeout_ms > 0) {
                rd_kafka_poll(ks->rk, (int)(left < timeout_ms ? left : timeout_ms));
                left =
                    ks->o->transaction_interval_ms - (sa_mono_ms() - ks->txn_begin_ms);
            }
            if (ks->txn_failed || ks->txn_records >= ks->max_in_flight || left <= 0)
                txn_commit(ks);
        } else if (ks->acks.n == 0 && timeout_ms > 0) {
            rd_kafka_poll(ks->rk, timeout_ms);
        }
    }
    if (acks->n == 0) {
        /* The usual case (the dispatcher passes an empty list): hand the
         * whole list over instead of pushing its entries one by one, which
         * costs a merge look-back per ack and an ack per record. */
        struct sa_ack_list mine = ks->acks;
        ks->acks = *acks;
        *acks = mine;
        return SA_OK;
    }
    for (size_t i = 0; rc == SA_OK && i < ks->acks.n; i++)
        rc = sa_ack_list_push(acks, ks->acks.v[i].segment_id, ks->acks.v[i].first_index,
                              ks->acks.v[i].count, ks->acks.v[i].outcome,
                              ks->acks.v[i].reason);
    if (rc == SA_OK)
        sa_ack_list_clear(&ks->acks);
    return rc;
}

static void kafka_close(struct sa_sink *sink)
{
    struct kafka_sink *ks = sink->ctx;

    if (!ks)
        return;
    if (ks->rk) {
        if (ks->o->exactly_once && ks->in_txn && op_timeout(ks) > 0) {
            /* Nobody waits for these acks any more; the cursor committed
             * with them tells the next start where to go on. */
            txn_commit(ks);
        } else if (!ks->o->exactly_once) {
            rd_kafka_flush(ks->rk, op_timeout(ks) < CLOSE_FLUSH_MS ? op_timeout(ks)
                                                                   : CLOSE_FLUSH_MS);
        }
        if (ks->rk) {
            /* What is left (the broker unreachable, or a transaction with
             * no time to commit) stays in the spool for the next start:
             * purged rather than waited for past the stop's grace. An
             * open transaction is aborted by the next init_transactions. */
            rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_poll(ks->rk, 0); /* the purged messages' reports */
            topics_free(ks);
            rd_kafka_destroy(ks->rk);
        }
    }
    topics_free(ks);
    free(ks->slots);
    free(ks->ranges);
    sa_ack_list_fini(&ks->acks);
    sa_ack_list_fini(&ks->rejects);
    sa_buf_fini(&ks->value);
    sa_buf_fini(&ks->ident);
    sa_registry_free(ks->registry);
    free(ks);
    sink->ctx = NULL;
}

const struct sa_sink_ops sa_sink_kafka_ops = {
    .name = "kafka",
    .desc = "Apache Kafka through librdkafka: Avro single-object, Confluent or "
            "JSON values, (origin_id, seq) headers, optional transactions",
    .conf = kafka_conf,
    .opts_size = sizeof(struct kafka_opts),
    .check = kafka_check,
    .open = kafka_open,
    .send = kafka_send,
    .poll_acks = kafka_poll_acks,
    .start_cursor = sa_kafka_start_cursor,
    .close = kafka_close,
};
