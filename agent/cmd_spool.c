/* SPDX-License-Identifier: Apache-2.0 */
/* `syncagent spool verify`: check a spool file's integrity and format. */
#include "agent/cli.h"
#include "agent/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: syncagent spool verify (-c FILE | --path SPOOL)\n"
            "\n"
            "verify  SQLite's integrity check, then every segment's frames and\n"
            "        the seq ranges. Prints each problem; exit 0 when there is\n"
            "        none, 2 when the spool is damaged or not a spool.\n"
            "\n"
            "  -c, --config FILE   use the spool of this config\n"
            "      --path SPOOL    use this spool file\n"
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
        rc = sa_config_load(config_path, &cfg, &err);
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

int sa_cmd_spool(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? SA_EXIT_USAGE : SA_EXIT_OK;
    }
    if (strcmp(argv[1], "verify") == 0)
        return verify(argc - 1, argv + 1);
    fprintf(stderr, "syncagent spool: unknown action '%s' (known: verify)\n", argv[1]);
    return SA_EXIT_USAGE;
}
