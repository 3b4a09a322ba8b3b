/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent check`: validate a config without running it (exit 0 or 2),
 * or describe every config key. Nothing is written: the data directory is
 * only inspected and an existing spool is opened read-only.
 */
#include "agent/cli.h"
#include "agent/commands.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: syncagent check -c FILE\n"
            "       syncagent check --describe\n"
            "\n"
            "Validate a config: YAML, keys, types, units, the schemas it names,\n"
            "the data directory and any existing spool. Exit 0 when it is good,\n"
            "2 with one line naming file:line:column and the reason when not.\n"
            "\n"
            "  -c, --config FILE   the config to check\n"
            "      --describe      print every key with its type, default and\n"
            "                      description\n"
            "  -h, --help          this help\n");
}

/* data_dir must be a writable directory, or creatable in a writable one. */
static int check_data_dir(const char *dir, struct sa_err *err)
{
    struct stat st;
    char *copy, *parent;
    int rc = SA_OK;

    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return sa_err_set(err, SA_ECONFIG, "agent.data_dir %s is not a directory",
                              dir);
        if (access(dir, R_OK | W_OK | X_OK) != 0)
            return sa_err_set(err, SA_ECONFIG,
                              "agent.data_dir %s is not readable and writable: %s", dir,
                              strerror(errno));
        return SA_OK;
    }
    if (errno != ENOENT)
        return sa_err_set(err, SA_ECONFIG, "agent.data_dir %s: %s", dir,
                          strerror(errno));
    /* Missing: `run` creates it; its nearest existing parent must allow that. */
    copy = strdup(dir);
    if (!copy)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    parent = dirname(copy);
    while (stat(parent, &st) != 0 && strcmp(parent, "/") != 0 && strcmp(parent, ".") != 0)
        parent = dirname(parent);
    if (access(parent, W_OK | X_OK) != 0)
        rc = sa_err_set(err, SA_ECONFIG, "agent.data_dir %s does not exist and "
                        "cannot be created in %s: %s", dir, parent, strerror(errno));
    free(copy);
    return rc;
}

int sa_cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"describe", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    int describe = 0, opt, rc;
    struct sa_config *cfg = NULL;
    struct sa_schema_set *schemas = NULL;
    struct sa_spool *spool = NULL;
    struct sa_err err = {0};

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'd': describe = 1; break;
        case 'h': usage(stdout); return SA_EXIT_OK;
        default: usage(stderr); return SA_EXIT_USAGE;
        }
    }
    if (optind != argc || (!config_path && !describe)) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    if (describe) {
        sa_config_describe(stdout);
        return SA_EXIT_OK;
    }
    rc = sa_cli_load(config_path, &cfg, &schemas, &err);
    if (rc)
        goto out;
    rc = check_data_dir(cfg->agent.data_dir, &err);
    if (rc)
        goto out;
    if (access(cfg->spool.path, F_OK) == 0) {
        rc = sa_spool_open(&spool, &cfg->spool, SA_SPOOL_READONLY, &err);
        if (rc)
            goto out;
    }
    printf("%s: ok (%zu sources, %zu sinks, %zu schemas)\n", config_path,
           cfg->n_sources, cfg->n_sinks, schemas->n);
out:
    sa_spool_close(spool);
    sa_schemas_free(schemas);
    sa_config_free(cfg);
    return rc ? sa_cli_fail("check", &err) : SA_EXIT_OK;
}
