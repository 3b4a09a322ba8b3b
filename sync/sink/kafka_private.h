/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the Kafka sink's files share (not a public interface): its
 * settings and its state, kept by kafka.c (messages, delivery,
 * transactions) and read by kafka_cursor.c (the exactly-once cursor read
 * back from the cursor topic at start). See kafka.c for the design.
 */
#ifndef SA_SYNC_KAFKA_PRIVATE_H
#define SA_SYNC_KAFKA_PRIVATE_H

#include "agent/base/buf.h"
#include "sync/registry.h"
#include "sync/sink.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

enum kafka_encoding { ENC_AVRO, ENC_CONFLUENT, ENC_JSON };
enum kafka_headers { HEADERS_SEPARATE, HEADERS_COMPACT };

struct kafka_opts {
    char *brokers;
    char *topic;
    int encoding; /* enum kafka_encoding */
    int headers;  /* enum kafka_headers */
    char *schema_registry;
    char *registry_username;
    char *registry_password;
    int exactly_once;
    char *cursor_topic;
    int64_t transaction_interval_ms;
    int64_t delivery_timeout_ms;
    int64_t linger_ms;
    char *compression;
    struct sa_kvlist kafka;
};

/* Where a message came from: its slot number is the message opaque. */
struct slot {
    int64_t segment_id;
    uint32_t index;
    uint32_t next_free; /* free-list link; UINT32_MAX ends it */
    int used;
};

struct topic {
    char *stream;
    rd_kafka_topic_t *rkt;
};

/* Records [first, first + count) of a segment sent in the open transaction. */
struct txn_range {
    int64_t segment_id;
    uint32_t first, count;
};

struct kafka_sink {
    const struct kafka_opts *o;
    struct sa_sink *sink;
    const char *name;
    char agent_id[128];
    char txn_id[300];     /* transactional.id: syncagent-<origin id>-<sink> */
    char cursor_key[400]; /* <origin id>/<sink> */
    char legacy_key[400]; /* <agent id>/<sink>, the key before the origin id's */
    rd_kafka_t *rk;
    int fatal;        /* the producer hit a fatal error: recreate it */
    int brokers_down; /* librdkafka said so; cleared by the next delivery */
    int degraded;     /* an error event since the last delivery */
    int fence_logged; /* log_fenced said it for this producer */

    struct topic *topics;
    size_t n_topics;

    struct slot *slots;
    uint32_t n_slots, free_head, n_free;

    struct sa_ack_list acks; /* outcomes waiting for poll_acks */
    struct sa_buf value;
    struct sa_buf ident;          /* headers: compact, the identity header's value */
    struct sa_registry *registry; /* encoding: confluent */
    int64_t max_in_flight;

    /* exactly_once */
    int in_txn, txn_failed, txn_inited;
    int64_t txn_begin_ms;
    int64_t txn_records;
    struct sa_cursor txn_next; /* just past the last record sent */
    struct txn_range *ranges;
    size_t n_ranges, cap_ranges;
    struct sa_ack_list rejects; /* permanent failures inside the transaction */
    char txn_error[200];
    int txn_error_purged; /* txn_error is a purge, a consequence */
};

/* rd_kafka_conf_set, its error in err naming the sink and the key. */
int sa_kafka_conf_set(rd_kafka_conf_t *conf, const char *sink, const char *key,
                      const char *value, struct sa_err *err);
/* bootstrap.servers, the log callback and the `kafka:` map (for a
 * consumer, only its connection properties) into conf. */
int sa_kafka_base_conf(struct kafka_sink *ks, rd_kafka_conf_t *conf, int producer,
                       struct sa_err *err);
/* A usable producer: recreated after a fatal error, transactions
 * initialised once per producer (kafka.c). */
int sa_kafka_producer_ready(struct kafka_sink *ks, struct sa_err *err);
/* The start_cursor op (kafka_cursor.c): with exactly_once, the cursor
 * committed to cursor_topic. */
int sa_kafka_start_cursor(struct sa_sink *sink, struct sa_cursor *inout,
                          struct sa_err *err);

#endif
