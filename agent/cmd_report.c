/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent report`: the spool's daily roll-ups (store/rollup.c) over a
 * period -- per stream and day what was ingested, rejected by reason,
 * dropped and tagged by quality rule; per sink and day what it
 * acknowledged, acknowledged as superseded and dead-lettered -- with the
 * audit rows of the period (config changes, drops, migrations), as text,
 * JSON or one self-contained HTML page.
 *
 * A reader like `status`: it opens the spool read-only and never takes
 * the writer's lock (store/lock.c), so it works with the daemon stopped
 * and while it runs (WAL readers see the last commit).
 */
#include "agent/base/clock.h"
#include "agent/cli.h"
#include "agent/commands.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUDIT_MAX 1000
#define DAY_MS 86400000LL

enum format { FMT_TEXT, FMT_JSON, FMT_HTML };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: syncagent report -c FILE [--since 7d] [--format text|json|html]\n"
            "\n"
            "Print the daily roll-ups kept in the spool: per stream and day the\n"
            "records ingested, rejected (by reason: a quality rule or invalid input),\n"
            "dropped and tagged (by quality rule); per sink and day the records\n"
            "acknowledged, acknowledged as superseded and dead-lettered; and the\n"
            "audit rows of the period (config changes, drops). Days are UTC. Reads\n"
            "the spool directly: works while the daemon is down or running.\n"
            "\n"
            "  -c, --config FILE   the agent's YAML config (required)\n"
            "      --since N       the last N days (7d, default) or a duration (36h);\n"
            "                      whole days from the first day it touches\n"
            "      --format F      text (default), json or html (one page)\n"
            "  -h, --help          this help\n");
}

static int parse_since(const char *text, int64_t *ms)
{
    size_t len = strlen(text);
    char digits[32];
    int64_t days;

    if (len > 1 && text[len - 1] == 'd') {
        /* The CLI's one number rule (no sign, no spaces): " 7d" and "+7d"
         * are refused as "7x" is. */
        if (len > sizeof digits)
            return -1;
        memcpy(digits, text, len - 1);
        digits[len - 1] = '\0';
        if (sa_cli_whole_number(digits, 1, 36600, &days))
            return -1;
        *ms = days * DAY_MS;
        return 0;
    }
    return sa_parse_duration(text, ms) || *ms <= 0 ? -1 : 0;
}

/* {"day":..., "<name_key>": name, ...} of (day, name) in arr, made on first use. */
static json_t *row_for(json_t *arr, const char *name_key, const char *day,
                       const char *name)
{
    size_t i;
    json_t *o;

    json_array_foreach(arr, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "day")), day) == 0 &&
            strcmp(json_string_value(json_object_get(o, name_key)), name) == 0)
            return o;
    }
    o = json_pack("{s:s, s:s}", "day", day, name_key, name);
    json_array_append_new(arr, o);
    return o;
}

static json_t *build(struct sa_spool *spool, const char *since_day, int64_t since_ms,
                     struct sa_err *err, int *rc)
{
    struct sa_rollup_row *streams = NULL, *sinks = NULL;
    struct sa_audit_row *audit = NULL;
    size_t n_streams = 0, n_sinks = 0, n_audit = 0;
    json_t *root = NULL, *js = json_array(), *jk = json_array(), *ja = json_array();
    char today[11];

    if ((*rc = sa_spool_rollup_streams(spool, since_day, &streams, &n_streams, err)) ||
        (*rc = sa_spool_rollup_sinks(spool, since_day, &sinks, &n_sinks, err)) ||
        (*rc = sa_spool_audit_since(spool, since_ms, AUDIT_MAX, &audit, &n_audit, err)))
        goto out;
    for (size_t i = 0; i < n_streams; i++) {
        const struct sa_rollup_row *r = &streams[i];
        json_t *o = row_for(js, "stream", r->day, r->name);
        if (strcmp(r->kind, "ingested") == 0) {
            json_object_set_new(o, "ingested", json_integer(r->n));
        } else {
            json_t *by = json_object_get(o, r->kind);
            if (!by)
                json_object_set_new(o, r->kind, by = json_object());
            json_object_set_new(by, r->reason, json_integer(r->n));
        }
    }
    for (size_t i = 0; i < n_sinks; i++) {
        json_t *o = row_for(jk, "sink", sinks[i].day, sinks[i].name);
        json_object_set_new(o, sinks[i].kind, json_integer(sinks[i].n));
    }
    for (size_t i = 0; i < n_audit; i++) {
        json_error_t jerr;
        json_t *detail = json_loads(audit[i].detail, JSON_DECODE_ANY, &jerr);
        char when[32];
        sa_format_iso8601(audit[i].ts_ms, when);
        json_array_append_new(
            ja, json_pack("{s:I, s:s, s:s, s:o}", "ts_ms", (json_int_t)audit[i].ts_ms,
                          "time", when, "kind", audit[i].kind, "detail",
                          detail ? detail : json_string(audit[i].detail)));
    }
    sa_rollup_day(sa_now_ms(), today);
    root = json_pack("{s:s, s:s, s:o, s:o, s:o, s:b}", "since", since_day, "until",
                     today, "streams", js, "sinks", jk, "audit", ja, "audit_truncated",
                     n_audit == AUDIT_MAX);
    js = jk = ja = NULL;
out:
    json_decref(js);
    json_decref(jk);
    json_decref(ja);
    free(streams);
    free(sinks);
    sa_spool_audit_rows_free(audit, n_audit);
    return root;
}

/* "reason=n, reason=n" of an object, or "-". */
static void counts_text(json_t *by, char *buf, size_t size)
{
    const char *k;
    json_t *v;
    size_t used = 0;

    buf[0] = '\0';
    json_object_foreach(by, k, v)
    {
        int n = snprintf(buf + used, size - used, "%s%s=%lld", used ? ", " : "", k,
                         (long long)json_integer_value(v));
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    if (!used)
        snprintf(buf, size, "-");
}

static long long total(json_t *by)
{
    const char *k;
    json_t *v;
    long long t = 0;
    json_object_foreach(by, k, v) t += json_integer_value(v);
    return t;
}

static void print_text(json_t *root)
{
    size_t i;
    json_t *o;
    char rej[512], drop[512], tag[512];

    printf("syncagent report %s .. %s (UTC days)\n\n",
           json_string_value(json_object_get(root, "since")),
           json_string_value(json_object_get(root, "until")));
    printf("streams\n  %-10s  %-16s  %10s  %10s  %10s  %10s\n", "DAY", "STREAM",
           "INGESTED", "REJECTED", "DROPPED", "TAGGED");
    json_array_foreach(json_object_get(root, "streams"), i, o)
    {
        printf("  %-10s  %-16s  %10lld  %10lld  %10lld  %10lld\n",
               json_string_value(json_object_get(o, "day")),
               json_string_value(json_object_get(o, "stream")),
               (long long)json_integer_value(json_object_get(o, "ingested")),
               total(json_object_get(o, "rejected")),
               total(json_object_get(o, "dropped")),
               total(json_object_get(o, "tagged")));
        counts_text(json_object_get(o, "rejected"), rej, sizeof rej);
        counts_text(json_object_get(o, "dropped"), drop, sizeof drop);
        counts_text(json_object_get(o, "tagged"), tag, sizeof tag);
        if (strcmp(rej, "-") != 0)
            printf("      rejected by reason: %s\n", rej);
        if (strcmp(drop, "-") != 0)
            printf("      dropped by rule: %s\n", drop);
        if (strcmp(tag, "-") != 0)
            printf("      tagged by rule: %s\n", tag);
    }
    printf("\nsinks\n  %-10s  %-16s  %10s  %10s  %12s\n", "DAY", "SINK", "ACKED",
           "SUPERSEDED", "DEADLETTERED");
    json_array_foreach(json_object_get(root, "sinks"), i, o)
    {
        printf("  %-10s  %-16s  %10lld  %10lld  %12lld\n",
               json_string_value(json_object_get(o, "day")),
               json_string_value(json_object_get(o, "sink")),
               (long long)json_integer_value(json_object_get(o, "acked")),
               (long long)json_integer_value(json_object_get(o, "superseded")),
               (long long)json_integer_value(json_object_get(o, "deadlettered")));
    }
    printf("\naudit (config changes, drops, ...)\n");
    json_array_foreach(json_object_get(root, "audit"), i, o)
    {
        char *d =
            json_dumps(json_object_get(o, "detail"), JSON_COMPACT | JSON_ENCODE_ANY);
        printf("  %s  %-14s %s\n", json_string_value(json_object_get(o, "time")),
               json_string_value(json_object_get(o, "kind")), d ? d : "");
        free(d);
    }
    if (json_is_true(json_object_get(root, "audit_truncated")))
        printf("  (the first %d rows of the period only)\n", AUDIT_MAX);
}

static void html_text(const char *s)
{
    for (; s && *s; s++)
        switch (*s) {
        case '<':
            fputs("&lt;", stdout);
            break;
        case '>':
            fputs("&gt;", stdout);
            break;
        case '&':
            fputs("&amp;", stdout);
            break;
        case '"':
            fputs("&quot;", stdout);
            break;
        default:
            putchar(*s);
        }
}

static void html_cell(const char *s)
{
    fputs("<td>", stdout);
    html_text(s);
    fputs("</td>", stdout);
}

static void html_num(long long n)
{
    printf("<td class=n>%lld</td>", n);
}

static void print_html(json_t *root)
{
    size_t i;
    json_t *o;
    char buf[512];

    printf(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>syncagent report"
        "</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
        "collapse;margin-bottom:2em}td,th{border:1px solid #ccc;padding:4px "
        "8px;text-align:"
        "left}td.n{text-align:right}</style></head><body>\n<h1>syncagent report ");
    html_text(json_string_value(json_object_get(root, "since")));
    fputs(" .. ", stdout);
    html_text(json_string_value(json_object_get(root, "until")));
    printf(" (UTC)</h1>\n<h2>Streams</h2>\n<table><tr><th>day</th><th>stream</th><th>"
           "ingested</th><th>rejected</th><th>dropped</th><th>tagged</th></tr>\n");
    json_array_foreach(json_object_get(root, "streams"), i, o)
    {
        fputs("<tr>", stdout);
        html_cell(json_string_value(json_object_get(o, "day")));
        html_cell(json_string_value(json_object_get(o, "stream")));
        html_num((long long)json_integer_value(json_object_get(o, "ingested")));
        counts_text(json_object_get(o, "rejected"), buf, sizeof buf);
        html_cell(buf);
        counts_text(json_object_get(o, "dropped"), buf, sizeof buf);
        html_cell(buf);
        counts_text(json_object_get(o, "tagged"), buf, sizeof buf);
        html_cell(buf);
        fputs("</tr>\n", stdout);
    }
    printf(
        "</table>\n<h2>Sinks</h2>\n<table><tr><th>day</th><th>sink</th><th>acked</th>"
        "<th>superseded</th><th>dead-lettered</th></tr>\n");
    json_array_foreach(json_object_get(root, "sinks"), i, o)
    {
        fputs("<tr>", stdout);
        html_cell(json_string_value(json_object_get(o, "day")));
        html_cell(json_string_value(json_object_get(o, "sink")));
        html_num((long long)json_integer_value(json_object_get(o, "acked")));
        html_num((long long)json_integer_value(json_object_get(o, "superseded")));
        html_num((long long)json_integer_value(json_object_get(o, "deadlettered")));
        fputs("</tr>\n", stdout);
    }
    printf(
        "</table>\n<h2>Audit</h2>\n<table><tr><th>time</th><th>kind</th><th>detail</th>"
        "</tr>\n");
    json_array_foreach(json_object_get(root, "audit"), i, o)
    {
        char *d =
            json_dumps(json_object_get(o, "detail"), JSON_COMPACT | JSON_ENCODE_ANY);
        fputs("<tr>", stdout);
        html_cell(json_string_value(json_object_get(o, "time")));
        html_cell(json_string_value(json_object_get(o, "kind")));
        html_cell(d ? d : "");
        fputs("</tr>\n", stdout);
        free(d);
    }
    printf("</table>\n</body></html>\n");
}

int sa_cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"since", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    enum format format = FMT_TEXT;
    int64_t since = 7 * DAY_MS, since_ms;
    int opt, rc;
    struct sa_config *cfg = NULL;
    struct sa_spool *spool = NULL;
    struct sa_err err = {0};
    json_t *root = NULL;
    char since_day[11];

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 's':
            if (parse_since(optarg, &since)) {
                fprintf(stderr,
                        "syncagent report: --since '%s': expected days (7d) or a "
                        "duration (36h)\n",
                        optarg);
                return SA_EXIT_USAGE;
            }
            break;
        case 'f':
            if (strcmp(optarg, "text") == 0)
                format = FMT_TEXT;
            else if (strcmp(optarg, "json") == 0)
                format = FMT_JSON;
            else if (strcmp(optarg, "html") == 0)
                format = FMT_HTML;
            else {
                fprintf(stderr,
                        "syncagent report: --format '%s': expected text, json or "
                        "html\n",
                        optarg);
                return SA_EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return SA_EXIT_OK;
        default:
            usage(stderr);
            return SA_EXIT_USAGE;
        }
    }
    if (!config_path || optind != argc) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    if ((rc = sa_config_load_offline(config_path, &cfg, &err)))
        goto out;
    if ((rc = sa_spool_open(&spool, &cfg->spool, SA_SPOOL_READONLY, &err)))
        goto out;
    /* Whole days: from the start of the day `since` ago falls in. */
    sa_rollup_day(sa_now_ms() - since + 1, since_day);
    {
        struct tm tm = {0};
        if (!strptime(since_day, "%Y-%m-%d", &tm))
            since_ms = sa_now_ms() - since;
        else
            since_ms = (int64_t)timegm(&tm) * 1000;
    }
    root = build(spool, since_day, since_ms, &err, &rc);
    if (rc)
        goto out;
    if (!root) {
        rc = sa_err_set(&err, SA_ENOMEM, "out of memory");
        goto out;
    }
    if (format == FMT_JSON) {
        char *text = json_dumps(root, JSON_INDENT(2));
        if (!text) {
            rc = sa_err_set(&err, SA_ENOMEM, "out of memory");
            goto out;
        }
        printf("%s\n", text);
        free(text);
    } else if (format == FMT_HTML) {
        print_html(root);
    } else {
        print_text(root);
    }
out:
    json_decref(root);
    sa_spool_close(spool);
    sa_config_free(cfg);
    return rc ? sa_cli_fail("report", &err) : SA_EXIT_OK;
}
