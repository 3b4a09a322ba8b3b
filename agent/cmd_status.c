/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent status`: what is in the spool and how far each sink is. It
 * reads the spool file directly (read-only), so it works whether or not
 * the daemon is running.
 */
#include "agent/base/clock.h"
#include "agent/cli.h"
#include "agent/commands.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: syncagent status -c FILE [--json]\n"
            "\n"
            "Show the spool: per stream the records and bytes spooled, per sink\n"
            "its cursor, its lag in records and seconds and the records it\n"
            "acknowledged as superseded by a newer version (coalesce), the dead-letter\n"
            "count. Reads the spool directly: works while the daemon is down.\n"
            "\n"
            "  -c, --config FILE   the agent's YAML config (required)\n"
            "      --json          one JSON object instead of a table\n"
            "  -h, --help          this help\n");
}

struct sink_lag {
    const struct sa_sink_conf *conf;
    struct sa_cursor cursor;
    int64_t updated_ms, lag_records, oldest_ms;
    int64_t superseded; /* acknowledged as superseded by a newer version */
};

static int collect_lags(const struct sa_config *cfg, struct sa_spool *spool,
                        const struct sa_spool_status *st, struct sink_lag *lags,
                        struct sa_err *err)
{
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        struct sink_lag *l = &lags[i];
        int rc;
        l->conf = &cfg->sinks[i];
        memset(&l->cursor, 0, sizeof l->cursor);
        l->updated_ms = 0;
        l->superseded = 0;
        for (size_t j = 0; j < st->n_sinks; j++)
            if (strcmp(st->sinks[j].sink, l->conf->name) == 0) {
                l->cursor = st->sinks[j].cursor;
                l->updated_ms = st->sinks[j].updated_ms;
                l->superseded = st->sinks[j].superseded;
            }
        rc = sa_spool_lag(spool, &l->cursor,
                          (const char *const *)l->conf->streams.v,
                          l->conf->streams.n, &l->lag_records, &l->oldest_ms, err);
        if (rc)
            return rc;
    }
    return SA_OK;
}

static double lag_seconds(int64_t oldest_ms, int64_t now)
{
    return oldest_ms > 0 && now > oldest_ms ? (double)(now - oldest_ms) / 1000.0 : 0.0;
}

static void print_table(const struct sa_config *cfg, const struct sa_spool_status *st,
                        const struct sink_lag *lags)
{
    int64_t now = sa_now_ms();

    printf("spool      %s\n", cfg->spool.path);
    printf("origin_id  %s\n", st->origin_id);
    printf("next_seq   %llu\n", (unsigned long long)st->next_seq);
    printf("size       %lld bytes file, %lld bytes used (max %lld)\n",
           (long long)st->file_bytes, (long long)st->used_bytes,
           (long long)cfg->spool.max_bytes);
    printf("\n%-24s %10s %12s %14s\n", "STREAM", "SEGMENTS", "RECORDS", "BYTES");
    for (size_t i = 0; i < st->n_streams; i++)
        printf("%-24s %10lld %12lld %14lld\n", st->streams[i].stream,
               (long long)st->streams[i].segments, (long long)st->streams[i].records,
               (long long)st->streams[i].bytes);
    if (st->n_streams == 0)
        printf("(the spool holds no records)\n");
    printf("\n%-20s %-8s %-20s %12s %10s %12s\n", "SINK", "TYPE", "CURSOR",
           "LAG_RECORDS", "LAG_SECS", "SUPERSEDED");
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        char cursor[40];
        snprintf(cursor, sizeof cursor, "%lld:%u", (long long)lags[i].cursor.segment_id,
                 lags[i].cursor.record_index);
        printf("%-20s %-8s %-20s %12lld %10.1f %12lld\n", lags[i].conf->name,
               lags[i].conf->type, cursor, (long long)lags[i].lag_records,
               lag_seconds(lags[i].oldest_ms, now), (long long)lags[i].superseded);
    }
    if (st->blocked_since_ms)
        printf("ingest     BLOCKED for %.0f s: %s\n",
               (double)(now - st->blocked_since_ms) / 1000.0, st->blocked_reason);
    printf("\ndead letters %lld (%lld open, %lld resolved)\n",
           (long long)st->deadletters, (long long)st->deadletters_open,
           (long long)(st->deadletters - st->deadletters_open));
    if (st->audit_dropped_records)
        printf("dropped (when_full: drop_oldest) %lld records\n",
               (long long)st->audit_dropped_records);
}

static int print_json(const struct sa_config *cfg, const struct sa_spool_status *st,
                      const struct sink_lag *lags)
{
    int64_t now = sa_now_ms();
    json_t *root = json_object(), *streams = json_array(), *sinks = json_array();
    char *text;

    json_object_set_new(root, "spool", json_string(cfg->spool.path));
    json_object_set_new(root, "origin_id", json_string(st->origin_id));
    json_object_set_new(root, "next_seq", json_integer((json_int_t)st->next_seq));
    json_object_set_new(root, "file_bytes", json_integer(st->file_bytes));
    json_object_set_new(root, "used_bytes", json_integer(st->used_bytes));
    json_object_set_new(root, "max_bytes", json_integer(cfg->spool.max_bytes));
    for (size_t i = 0; i < st->n_streams; i++)
        json_array_append_new(
            streams, json_pack("{s:s, s:I, s:I, s:I}", "stream", st->streams[i].stream,
                               "segments", (json_int_t)st->streams[i].segments,
                               "records", (json_int_t)st->streams[i].records, "bytes",
                               (json_int_t)st->streams[i].bytes));
    for (size_t i = 0; i < cfg->n_sinks; i++)
        json_array_append_new(
            sinks, json_pack("{s:s, s:s, s:{s:I, s:I}, s:I, s:f, s:I}", "sink",
                             lags[i].conf->name, "type", lags[i].conf->type,
                             "cursor", "segment_id",
                             (json_int_t)lags[i].cursor.segment_id, "record_index",
                             (json_int_t)lags[i].cursor.record_index, "lag_records",
                             (json_int_t)lags[i].lag_records, "lag_seconds",
                             lag_seconds(lags[i].oldest_ms, now), "superseded",
                             (json_int_t)lags[i].superseded));
    json_object_set_new(root, "streams", streams);
    json_object_set_new(root, "sinks", sinks);
    json_object_set_new(root, "deadletters", json_integer(st->deadletters));
    json_object_set_new(root, "deadletters_open", json_integer(st->deadletters_open));
    json_object_set_new(root, "dropped_records",
                        json_integer(st->audit_dropped_records));
    json_object_set_new(root, "ingest_blocked",
                        st->blocked_since_ms
                            ? json_pack("{s:I, s:s}", "since_ms",
                                        (json_int_t)st->blocked_since_ms, "reason",
                                        st->blocked_reason)
                            : json_null());
    text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (!text)
        return SA_ENOMEM;
    printf("%s\n", text);
    free(text);
    return SA_OK;
}

int sa_cmd_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    int json = 0, opt, rc;
    struct sa_config *cfg = NULL;
    struct sa_spool *spool = NULL;
    struct sa_spool_status st;
    struct sink_lag *lags = NULL;
    struct sa_err err = {0};

    memset(&st, 0, sizeof st);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return SA_EXIT_OK;
        default: usage(stderr); return SA_EXIT_USAGE;
        }
    }
    if (!config_path || optind != argc) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    rc = sa_config_load_offline(config_path, &cfg, &err);
    if (rc)
        goto out;
    rc = sa_spool_open(&spool, &cfg->spool, SA_SPOOL_READONLY, &err);
    if (rc)
        goto out;
    rc = sa_spool_status(spool, &st, &err);
    if (rc)
        goto out;
    lags = calloc(cfg->n_sinks + 1, sizeof *lags);
    if (!lags) {
        rc = sa_err_set(&err, SA_ENOMEM, "out of memory");
        goto out;
    }
    rc = collect_lags(cfg, spool, &st, lags, &err);
    if (rc)
        goto out;
    if (json)
        rc = print_json(cfg, &st, lags);
    else
        print_table(cfg, &st, lags);
out:
    free(lags);
    sa_spool_status_fini(&st);
    sa_spool_close(spool);
    sa_config_free(cfg);
    return rc ? sa_cli_fail("status", &err) : SA_EXIT_OK;
}
