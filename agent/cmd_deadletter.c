/* SPDX-License-Identifier: Apache-2.0 */
/* `syncagent deadletter list`: the records that could not be accepted,
 * with where they came from and why (invariant I4). Reads the spool
 * directly, like `status`. */
#include "agent/base/clock.h"
#include "agent/cli.h"
#include "agent/commands.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 1000

static void usage(FILE *out)
{
    fprintf(out,
            "usage: syncagent deadletter list -c FILE [--json] [--limit N]\n"
            "\n"
            "List dead letters oldest first: id, time, stream, source, location\n"
            "(file:line:column for CSV), the reason, and the raw input.\n"
            "\n"
            "  -c, --config FILE   the agent's YAML config (required)\n"
            "      --json          one JSON object per line\n"
            "      --limit N       at most N entries (default: all)\n"
            "  -h, --help          this help\n");
}

/* The raw bytes as printable text: escapes for control bytes, cut at 200. */
static void print_raw(const unsigned char *raw, size_t len)
{
    size_t shown = len > 200 ? 200 : len;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = raw[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    if (shown < len)
        printf("... (%zu bytes)", len);
}

static void print_row(const struct sa_deadletter_row *r, int json)
{
    char ts[32];
    sa_format_iso8601(r->created_ms, ts);
    if (json) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s%}", "id",
                              (json_int_t)r->id, "time", ts, "stream", r->stream,
                              "source", r->source, "location", r->location, "reason",
                              r->reason, "raw", (const char *)r->raw, r->raw_len);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (!text) {
            /* raw that is not UTF-8: leave it out rather than fail */
            json_decref(o);
            o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:n}", "id", (json_int_t)r->id,
                          "time", ts, "stream", r->stream, "source", r->source,
                          "location", r->location, "reason", r->reason, "raw");
            text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        }
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(o);
        return;
    }
    printf("#%lld %s %s %s %s: %s\n    raw: ", (long long)r->id, ts, r->stream, r->source,
           r->location, r->reason);
    print_raw(r->raw, r->raw_len);
    printf("\n");
}

static int list(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    int json = 0, opt, rc;
    int64_t limit = -1, shown = 0;
    int64_t after = 0;
    struct sa_config *cfg = NULL;
    struct sa_spool *spool = NULL;
    struct sa_err err = {0};

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'j': json = 1; break;
        case 'l':
            if (sa_cli_parse_int("deadletter list", "--limit", optarg, 0, INT64_MAX,
                                 &limit))
                return SA_EXIT_USAGE;
            break;
        case 'h': usage(stdout); return SA_EXIT_OK;
        default: usage(stderr); return SA_EXIT_USAGE;
        }
    }
    if (!config_path || optind != argc) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    rc = sa_config_load(config_path, &cfg, &err);
    if (!rc)
        rc = sa_spool_open(&spool, &cfg->spool, SA_SPOOL_READONLY, &err);
    while (!rc && (limit < 0 || shown < limit)) {
        struct sa_deadletter_row *rows = NULL;
        size_t n = 0;
        rc = sa_spool_deadletter_list(spool, after, PAGE, &rows, &n, &err);
        if (rc)
            break;
        for (size_t i = 0; i < n && (limit < 0 || shown < limit); i++, shown++)
            print_row(&rows[i], json);
        if (n)
            after = rows[n - 1].id;
        sa_spool_deadletter_rows_free(rows, n);
        if (n < PAGE)
            break;
    }
    sa_spool_close(spool);
    sa_config_free(cfg);
    return rc ? sa_cli_fail("deadletter list", &err) : SA_EXIT_OK;
}

int sa_cmd_deadletter(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? SA_EXIT_USAGE : SA_EXIT_OK;
    }
    if (strcmp(argv[1], "list") == 0)
        return list(argc - 1, argv + 1);
    fprintf(stderr, "syncagent deadletter: unknown action '%s' (known: list)\n", argv[1]);
    return SA_EXIT_USAGE;
}
