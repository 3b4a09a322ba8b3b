/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent status`: what is in the spool and how far each sink is. It
 * reads the spool file directly (read-only), so it works whether or not
 * the daemon is running.
 */
#include "agent/base/clock.h"
#include "agent/cli.h"
#include "agent/commands.h"
#include "agent/status.h"

#include <getopt.h>
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
            "count, and the data quality rules' failures per stream, rule and\n"
            "action (from the daily roll-ups). Reads the spool directly: works\n"
            "while the daemon is down.\n"
            "\n"
            "  -c, --config FILE   the agent's YAML config (required)\n"
            "      --json          one JSON object instead of a table\n"
            "  -h, --help          this help\n");
}

static void print_quality(const struct sa_rollup_row *q, size_t n_q)
{
    if (!n_q)
        return;
    printf("\nquality failures (stream, rule, action: records)\n");
    for (size_t i = 0; i < n_q; i++)
        printf("  %-16s %-24s %-6s %lld\n", q[i].name, q[i].reason,
               sa_status_quality_action(q[i].kind), (long long)q[i].n);
}

static void print_table(const struct sa_config *cfg, const struct sa_status *status)
{
    const struct sa_spool_status *st = &status->spool;
    const struct sa_status_sink *lags = status->sinks;
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
               sa_status_lag_seconds(&lags[i], now), (long long)lags[i].superseded);
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
    struct sa_status st;
    struct sa_err err = {0};
    char *text;

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
    rc = sa_status_read(cfg, spool, &st, &err);
    if (rc)
        goto out;
    if (json) {
        text = sa_status_json(cfg, &st);
        if (!text) {
            rc = sa_err_set(&err, SA_ENOMEM, "out of memory");
            goto out;
        }
        printf("%s\n", text);
        free(text);
    } else {
        print_table(cfg, &st);
        print_quality(st.quality, st.n_quality);
    }
out:
    sa_status_fini(&st);
    sa_spool_close(spool);
    sa_config_free(cfg);
    return rc ? sa_cli_fail("status", &err) : SA_EXIT_OK;
}
