/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kafka sink's exactly-once cursor, read back (kafka.c, EXACTLY
 * ONCE): the cursor topic created when missing, read to its end with a
 * read_committed consumer at start, and each message's value parsed
 * (kafka_cursor.h).
 */
#include "sync/sink/kafka_cursor.h"

#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "sync/json_in.h"
#include "sync/sink/kafka_private.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define CURSOR_READ_TIMEOUT_MS 30000
#define CURSOR_FETCH_WAIT_MS "10"

int sa_kafka_cursor_parse(const void *value, size_t len, const char *what,
                          struct sa_kafka_cursor *out, struct sa_err *err)
{
    json_t *root = NULL;
    const char *origin = NULL;
    json_int_t segment_id = 0, record_index = 0;
    char why[SA_ERR_MSG_MAX];
    int rc;

    rc = sa_json_in_object(value, len, &root, why, sizeof why);
    if (!rc)
        rc = sa_json_in_ident(root, "origin_id", SA_KAFKA_ORIGIN_ID_MAX, &origin, why,
                              sizeof why);
    if (!rc)
        rc = sa_json_in_int(root, "segment_id", 0, INT64_MAX, &segment_id, why,
                            sizeof why);
    if (!rc)
        rc = sa_json_in_int(root, "record_index", 0, UINT32_MAX, &record_index, why,
                            sizeof why);
    if (!rc) {
        memcpy(out->origin_id, origin, strlen(origin) + 1);
        out->cursor.segment_id = segment_id;
        out->cursor.record_index = (uint32_t)record_index;
    } else {
        sa_err_set(err, rc, "%s %s", what, why);
    }
    json_decref(root);
    return rc;
}

/* --- exactly_once: the cursor in Kafka ---------------------------------- */

static int create_cursor_topic(struct kafka_sink *ks, struct sa_err *err)
{
    char errstr[512];
    rd_kafka_NewTopic_t *nt;
    rd_kafka_queue_t *q;
    rd_kafka_event_t *ev = NULL;
    int rc = SA_OK;

    nt = rd_kafka_NewTopic_new(ks->o->cursor_topic, 1, -1, errstr, sizeof errstr);
    if (!nt)
        return sa_err_set(err, SA_ECONFIG, "sink %s: cursor topic %s: %s", ks->name,
                          ks->o->cursor_topic, errstr);
    if (rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact")) {
        rd_kafka_NewTopic_destroy(nt);
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", ks->name);
    }
    q = rd_kafka_queue_new(ks->rk);
    rd_kafka_CreateTopics(ks->rk, &nt, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, CURSOR_READ_TIMEOUT_MS);
    if (!ev) {
        rc = sa_err_set(err, SA_EAGAIN, "sink %s: creating topic %s: no answer",
                        ks->name, ks->o->cursor_topic);
    } else if (rd_kafka_event_error(ev)) {
        rc = sa_err_set(err, SA_EAGAIN, "sink %s: creating topic %s: %s", ks->name,
                        ks->o->cursor_topic, rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_CreateTopics_result_t *res =
            rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(res, &n);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                rc = sa_err_set(err, SA_EAGAIN, "sink %s: creating topic %s: %s",
                                ks->name, ks->o->cursor_topic,
                                rd_kafka_topic_result_error_string(tr[i]));
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* What read_cursor found: the cursor under this spool's key, and the one
 * an earlier version stored under "<agent id>/<sink>" (used only while
 * the first is missing). */
struct found_cursors {
    struct sa_cursor cursor, legacy;
    int have, have_legacy;
    unsigned others; /* cursors of other spools under the legacy key */
};

/* Apply one cursor message's value if it is this spool's. A value that
 * cannot be read is logged with the reason and skipped: the cursor before
 * it, if any, stands. Under the legacy key, agents sharing an agent.id
 * each wrote their own spool's: those are counted, not logged one by one. */
static void take_cursor(struct kafka_sink *ks, const rd_kafka_message_t *m, int legacy,
                        struct found_cursors *f)
{
    struct sa_kafka_cursor c;
    struct sa_err err = {0};
    char what[SA_ERR_MSG_MAX];
    struct sa_cursor *found = legacy ? &f->legacy : &f->cursor;
    int *have = legacy ? &f->have_legacy : &f->have;

    if (!m->payload) {
        *have = 0; /* a tombstone: forgotten */
        return;
    }
    snprintf(what, sizeof what, "cursor in %s [%" PRId32 "] at offset %" PRId64,
             ks->o->cursor_topic, m->partition, m->offset);
    if (sa_kafka_cursor_parse(m->payload, m->len, what, &c, &err)) {
        sa_log_warn("kafka sink: unreadable cursor ignored", "sink", ks->name, "error",
                    err.msg);
    } else if (strcmp(c.origin_id, ks->sink->origin_id) != 0) {
        if (legacy)
            f->others++;
        else
            sa_log_warn("kafka sink: cursor of another spool ignored", "sink", ks->name,
                        "origin_id", c.origin_id);
    } else {
        *found = c.cursor;
        *have = 1;
    }
}

/* Read cursor_topic to its end with a read_committed consumer. */
static int read_cursor(struct kafka_sink *ks, struct found_cursors *found,
                       struct sa_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = NULL;
    char errstr[512];
    int n_parts = 0, n_eof = 0, rc;
    int64_t deadline = sa_mono_ms() + CURSOR_READ_TIMEOUT_MS;
    size_t key_len = strlen(ks->cursor_key), legacy_len = strlen(ks->legacy_key);

    memset(found, 0, sizeof *found);
    if (!conf)
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", ks->name);
    rc = sa_kafka_base_conf(ks, conf, 0, err);
    if (!rc)
        rc =
            sa_kafka_conf_set(conf, ks->name, "isolation.level", "read_committed", err);
    if (!rc)
        rc = sa_kafka_conf_set(conf, ks->name, "enable.partition.eof", "true", err);
    /* The end of a partition shows as a fetch that comes back empty, and
     * the broker holds an empty fetch for fetch.wait.max.ms (500 ms by
     * default): every start would wait that long for nothing. */
    if (!rc)
        rc = sa_kafka_conf_set(conf, ks->name, "fetch.wait.max.ms",
                               CURSOR_FETCH_WAIT_MS, err);
    if (!rc)
        rc = sa_kafka_conf_set(conf, ks->name, "group.id", ks->cursor_key, err);
    if (!rc)
        rc = sa_kafka_conf_set(conf, ks->name, "enable.auto.commit", "false", err);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return sa_err_set(err, SA_ECONFIG, "sink %s: creating a consumer: %s", ks->name,
                          errstr);
    }
    rkt = rd_kafka_topic_new(rk, ks->o->cursor_topic, NULL);
    if (!rkt || rd_kafka_metadata(rk, 0, rkt, &md, CURSOR_READ_TIMEOUT_MS) ||
        md->topic_cnt != 1 || md->topics[0].err) {
        rc = sa_err_set(err, SA_EAGAIN, "sink %s: metadata of %s: %s", ks->name,
                        ks->o->cursor_topic,
                        md && md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err)
                                                 : "no answer");
        goto out;
    }
    n_parts = md->topics[0].partition_cnt;
    parts = rd_kafka_topic_partition_list_new(n_parts);
    for (int i = 0; i < n_parts; i++)
        rd_kafka_topic_partition_list_add(parts, ks->o->cursor_topic,
                                          md->topics[0].partitions[i].id)
            ->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (rd_kafka_assign(rk, parts)) {
        rc = sa_err_set(err, SA_ESINK, "sink %s: assigning %s failed", ks->name,
                        ks->o->cursor_topic);
        goto out;
    }
    while (n_eof < n_parts) {
        rd_kafka_message_t *m;
        if (sa_mono_ms() > deadline) {
            rc = sa_err_set(err, SA_EAGAIN, "sink %s: reading %s: timed out", ks->name,
                            ks->o->cursor_topic);
            goto out;
        }
        m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            n_eof++;
        } else if (m->err) {
            rc = sa_err_set(err, SA_EAGAIN, "sink %s: reading %s: %s", ks->name,
                            ks->o->cursor_topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto out;
        } else if (m->key_len == key_len &&
                   memcmp(m->key, ks->cursor_key, key_len) == 0) {
            take_cursor(ks, m, 0, found);
        } else if (m->key_len == legacy_len &&
                   memcmp(m->key, ks->legacy_key, legacy_len) == 0) {
            take_cursor(ks, m, 1, found);
        }
        rd_kafka_message_destroy(m);
    }
    rc = SA_OK;
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

int sa_kafka_start_cursor(struct sa_sink *sink, struct sa_cursor *inout,
                          struct sa_err *err)
{
    struct kafka_sink *ks = sink->ctx;
    struct found_cursors f;
    char seg[32], idx[16];
    int rc;

    if (!ks->o->exactly_once)
        return SA_OK;
    /* init_transactions first: it finishes what an earlier instance left
     * open, so what the consumer reads is final. */
    if ((rc = sa_kafka_producer_ready(ks, err)) ||
        (rc = create_cursor_topic(ks, err)) || (rc = read_cursor(ks, &f, err)))
        return rc;
    if (!f.have && f.have_legacy) {
        /* Written by a version that keyed cursors by agent.id: taken once;
         * the next commit stores it under this spool's key. */
        f.cursor = f.legacy;
        f.have = 1;
        sa_log_info("kafka sink: cursor taken over from its old key", "sink", ks->name,
                    "from", ks->legacy_key, "to", ks->cursor_key);
    }
    if (!f.have && f.others) {
        char n[16];
        snprintf(n, sizeof n, "%u", f.others);
        sa_log_info("kafka sink: cursors of other spools under the old key ignored",
                    "sink", ks->name, "key", ks->legacy_key, "count", n);
    }
    if (!f.have)
        return SA_OK;
    snprintf(seg, sizeof seg, "%" PRId64, f.cursor.segment_id);
    snprintf(idx, sizeof idx, "%u", f.cursor.record_index);
    sa_log_info("kafka sink resumes from its committed cursor", "sink", ks->name,
                "segment", seg, "record", idx);
    *inout = f.cursor;
    return SA_OK;
}
