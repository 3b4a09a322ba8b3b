/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The record counter of tools/bench/compare: how many records a topic
 * holds, as the sum of its partitions' high watermarks, asked of the
 * broker over one connection kept open for the whole run (a kcat process
 * every 100 ms would cost the 2-core machine more CPU than some of the
 * contenders it is timing).
 *
 *   bench_watermarks create -b BROKERS -t TOPIC [-p PARTITIONS]
 *       creates the topic (replication factor 1); fails if it exists, since
 *       every contender must start from an empty topic
 *   bench_watermarks watch -b BROKERS -t TOPIC [-p PARTITIONS] [-i MS]
 *       prints the sum on its own line every MS milliseconds (100), flushed,
 *       until its reader goes away (stdout closed) or it is killed; a partition whose watermark cannot
 *       be read yet counts 0 and the line ends in " ?"
 *   bench_watermarks sum -b BROKERS -t TOPIC [-p PARTITIONS]
 *       prints the sum once; fails if any partition cannot be read
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUERY_TIMEOUT_MS 5000
#define ADMIN_TIMEOUT_MS 30000

struct watermark_opts {
    const char *mode;
    const char *brokers;
    const char *topic;
    int n_partitions;
    int interval_ms;
};

static void usage(void)
{
    fprintf(stderr, "usage: bench_watermarks create|watch|sum -b BROKERS -t TOPIC "
                    "[-p PARTITIONS] [-i INTERVAL_MS]\n");
    exit(2);
}

static rd_kafka_t *connect_broker(const char *brokers)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "bench_watermarks: %s\n", errstr);
        exit(1);
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "bench_watermarks: rd_kafka_new: %s\n", errstr);
        exit(1);
    }
    return rk;
}

/* Creates the topic; returns 0 or 1 after saying why on stderr. */
static int create_topic(rd_kafka_t *rk, const struct watermark_opts *opts)
{
    char errstr[512];
    int rc = 1;
    rd_kafka_NewTopic_t *topic = NULL;
    rd_kafka_AdminOptions_t *admin = NULL;
    rd_kafka_event_t *ev = NULL;
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);

    topic = rd_kafka_NewTopic_new(opts->topic, opts->n_partitions, 1, errstr, sizeof errstr);
    if (!topic) {
        fprintf(stderr, "bench_watermarks: topic %s: %s\n", opts->topic, errstr);
        goto out;
    }
    admin = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    if (rd_kafka_AdminOptions_set_operation_timeout(admin, ADMIN_TIMEOUT_MS, errstr,
                                                    sizeof errstr)) {
        fprintf(stderr, "bench_watermarks: %s\n", errstr);
        goto out;
    }
    rd_kafka_CreateTopics(rk, &topic, 1, admin, queue);
    ev = rd_kafka_queue_poll(queue, ADMIN_TIMEOUT_MS + 5000);
    if (!ev) {
        fprintf(stderr, "bench_watermarks: no answer to CreateTopics %s\n", opts->topic);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "bench_watermarks: CreateTopics %s: %s\n", opts->topic,
                rd_kafka_event_error_string(ev));
        goto out;
    }
    size_t n_results = 0;
    const rd_kafka_topic_result_t **results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n_results);
    for (size_t i = 0; i < n_results; i++) {
        if (rd_kafka_topic_result_error(results[i])) {
            fprintf(stderr, "bench_watermarks: CreateTopics %s: %s\n",
                    rd_kafka_topic_result_name(results[i]),
                    rd_kafka_topic_result_error_string(results[i]));
            goto out;
        }
    }
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (admin)
        rd_kafka_AdminOptions_destroy(admin);
    if (topic)
        rd_kafka_NewTopic_destroy(topic);
    rd_kafka_queue_destroy(queue);
    return rc;
}

/* Sum of the high watermarks; *n_unknown (out) counts partitions whose
 * watermark could not be read (they add 0). */
static int64_t sum_watermarks(rd_kafka_t *rk, const struct watermark_opts *opts,
                              int *n_unknown /* out */)
{
    int64_t sum = 0;
    *n_unknown = 0;
    for (int partition = 0; partition < opts->n_partitions; partition++) {
        int64_t low = 0, high = 0;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            rk, opts->topic, partition, &low, &high, QUERY_TIMEOUT_MS);
        if (err) {
            (*n_unknown)++;
            continue;
        }
        sum += high;
    }
    return sum;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

int main(int argc, char **argv)
{
    struct watermark_opts opts = {.n_partitions = 3, .interval_ms = 100};
    if (argc < 2)
        usage();
    opts.mode = argv[1];
    optind = 2;
    int opt;
    while ((opt = getopt(argc, argv, "b:t:p:i:")) != -1) {
        switch (opt) {
        case 'b': opts.brokers = optarg; break;
        case 't': opts.topic = optarg; break;
        case 'p': opts.n_partitions = atoi(optarg); break;
        case 'i': opts.interval_ms = atoi(optarg); break;
        default: usage();
        }
    }
    if (!opts.brokers || !opts.topic || opts.n_partitions < 1 || opts.interval_ms < 1)
        usage();
    signal(SIGPIPE, SIG_IGN);

    rd_kafka_t *rk = connect_broker(opts.brokers);
    int rc = 0;
    int n_unknown = 0;
    if (strcmp(opts.mode, "create") == 0) {
        rc = create_topic(rk, &opts);
    } else if (strcmp(opts.mode, "sum") == 0) {
        int64_t sum = sum_watermarks(rk, &opts, &n_unknown);
        if (n_unknown) {
            fprintf(stderr, "bench_watermarks: %d of %d partitions of %s unreadable\n",
                    n_unknown, opts.n_partitions, opts.topic);
            rc = 1;
        } else {
            printf("%" PRId64 "\n", sum);
        }
    } else if (strcmp(opts.mode, "watch") == 0) {
        for (;;) {
            int64_t sum = sum_watermarks(rk, &opts, &n_unknown);
            if (printf("%" PRId64 "%s\n", sum, n_unknown ? " ?" : "") < 0 || fflush(stdout))
                break;
            sleep_ms(opts.interval_ms);
        }
    } else {
        usage();
    }
    rd_kafka_destroy(rk);
    return rc;
}
