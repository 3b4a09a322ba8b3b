/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test driver: create a Kafka topic with topic configs, for the
 * integration tests that need one the broker would not auto-create (a
 * small max.message.bytes, say). Built only with the tests; the Kafka
 * test broker ships no kafka-topics.sh (tools/testenv/README.md).
 *
 *   kafka_topic BOOTSTRAP TOPIC PARTITIONS [NAME=VALUE...]
 *
 * Exit 0 when the topic was created, 1 when the broker refused (the
 * reason on stderr; an existing topic is an error too), 2 on bad usage.
 */
#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 30000

int main(int argc, char **argv)
{
    char errstr[512];
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk = NULL;
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    int partitions, status = 1;

    if (argc < 4 || (partitions = atoi(argv[3])) < 1) {
        fprintf(stderr, "usage: kafka_topic BOOTSTRAP TOPIC PARTITIONS [NAME=VALUE...]\n");
        return 2;
    }
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_topic: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "kafka_topic: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    nt = rd_kafka_NewTopic_new(argv[2], partitions, -1, errstr, sizeof errstr);
    if (!nt) {
        fprintf(stderr, "kafka_topic: %s\n", errstr);
        status = 2;
        goto out;
    }
    for (int i = 4; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "kafka_topic: '%s' is not NAME=VALUE\n", argv[i]);
            status = 2;
            goto out;
        }
        *eq = '\0';
        if (rd_kafka_NewTopic_set_config(nt, argv[i], eq + 1)) {
            fprintf(stderr, "kafka_topic: config %s: out of memory\n", argv[i]);
            goto out;
        }
    }
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, TIMEOUT_MS);
    if (!ev) {
        fprintf(stderr, "kafka_topic: %s: no answer in %d ms\n", argv[2], TIMEOUT_MS);
    } else if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "kafka_topic: %s: %s\n", argv[2], rd_kafka_event_error_string(ev));
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(ev), &n);
        status = n == 1 ? 0 : 1;
        for (size_t i = 0; i < n; i++)
            if (rd_kafka_topic_result_error(tr[i])) {
                fprintf(stderr, "kafka_topic: %s: %s\n", rd_kafka_topic_result_name(tr[i]),
                        rd_kafka_topic_result_error_string(tr[i]));
                status = 1;
            }
    }
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return status;
}
