/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent spool verify`: check a spool file's integrity and format.
 * `syncagent spool salvage`: copy what is readable of a damaged spool into
 * a new one (store/salvage.c); the damaged file is only read.
 */
#include "agent/cli.h"
#include "agent/commands.h"
#include "store/salvage.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: syncagent spool verify (-c FILE | --path SPOOL)\n"
            "       syncagent spool salvage (-c FILE | --path SPOOL) --out NEW\n"
            "\n"
            "verify  SQLite's integrity check, then every segment's frames and\n"
            "        the seq ranges. Prints each problem; exit 0 when there is\n"
            "        none, 2 when the spool is damaged or not a spool.\n"
            "salvage copy every readable segment (with its id and seqs), the\n"
            "        schemas, sink cursors, source offsets, dead letters and\n"
            "        audit rows of a damaged spool into the new spool NEW (which\n"
            "        must not exist); prints what was recovered and lost per\n"
            "        table. The damaged file is opened read-only. Then point\n"
            "        spool.path at NEW (or move NEW in place of the old file).\n"
            "        Exit 0 when something was salvaged, 2 when nothing could be.\n"
            "\n"
            "  -c, --config FILE   use the spool of this config\n"
            "      --path SPOOL    use this spool file\n"
            "      --out NEW       (salvage) the new spool to write\n"
            "  -h, --help          this help\n");
}

static void report(void *arg, const char *problem)
{
    int *n = arg;
    (*n)++;
    printf("problem: %s\n", problem);
}

static int verify(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"path", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *path = NULL;
    struct sa_config *cfg = NULL;
    struct sa_spool *spool = NULL;
    struct sa_spool_opts opts;
    struct sa_err err = {0};
    int problems = 0, opt, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'p': path = optarg; break;
        case 'h': usage(stdout); return SA_EXIT_OK;
        default: usage(stderr); return SA_EXIT_USAGE;
        }
    }
    if (optind != argc || (!config_path == !path)) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    memset(&opts, 0, sizeof opts);
    if (config_path) {
        rc = sa_config_load_offline(config_path, &cfg, &err);
        if (rc)
            goto out;
        opts = cfg->spool;
    } else {
        opts.path = (char *)path;
    }
    rc = sa_spool_open(&spool, &opts, SA_SPOOL_READONLY, &err);
    if (rc)
        goto out;
    rc = sa_spool_verify(spool, report, &problems, &err);
    if (rc == SA_OK)
        printf("%s: ok\n", opts.path);
out:
    sa_spool_close(spool);
    sa_config_free(cfg);
    return rc ? sa_cli_fail("spool verify", &err) : SA_EXIT_OK;
}

static int salvage(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"path", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *path = NULL, *out_path = NULL;
    struct sa_config *cfg = NULL;
    struct sa_salvage_result res;
    struct sa_err err = {0};
    int opt, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'p': path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'h': usage(stdout); return SA_EXIT_OK;
        default: usage(stderr); return SA_EXIT_USAGE;
        }
    }
    if (optind != argc || (!config_path == !path) || !out_path) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    if (config_path) {
        rc = sa_config_load_offline(config_path, &cfg, &err);
        if (rc)
            goto out;
        path = cfg->spool.path;
    }
    rc = sa_spool_salvage(path, out_path, &res, &err);
    if (rc)
        goto out;
    printf("salvaged %s into %s\n", path, out_path);
    for (size_t i = 0; i < res.n_tables; i++) {
        if (res.tables[i].lost < 0)
            printf("%-16s unreadable (its schema entry is damaged)\n",
                   res.tables[i].name);
        else
            printf("%-16s recovered %lld, lost %lld\n", res.tables[i].name,
                   (long long)res.tables[i].recovered,
                   (long long)res.tables[i].lost);
    }
    printf("records          %lld in the recovered segments\n",
           (long long)res.records_recovered);
    /* Which identity the salvaged records carry now: sinks and readers
     * tell records apart by (origin_id, seq). */
    if (res.origin_kept)
        printf("origin_id        %s (the same as %s: every salvaged record "
               "keeps its (origin_id, seq))\n",
               res.origin_id, path);
    else
        printf("origin_id        %s (a new one: the old one could not be read, so "
               "salvaged records get this origin_id with their old seq)\n",
               res.origin_id);
    printf("next_seq         %llu\n", (unsigned long long)res.next_seq);
out:
    sa_config_free(cfg);
    return rc ? sa_cli_fail("spool salvage", &err) : SA_EXIT_OK;
}

int sa_cmd_spool(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? SA_EXIT_USAGE : SA_EXIT_OK;
    }
    if (strcmp(argv[1], "verify") == 0)
        return verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "salvage") == 0)
        return salvage(argc - 1, argv + 1);
    fprintf(stderr, "syncagent spool: unknown action '%s' (known: verify, salvage)\n",
            argv[1]);
    return SA_EXIT_USAGE;
}
