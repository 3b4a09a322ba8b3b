/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent check`: validate a config without running it (exit 0 or 2),
 * or describe every config key. Nothing is written: the data directory is
 * only inspected and an existing spool is opened read-only.
 */
#include "agent/base/fsutil.h"
#include "agent/cli.h"
#include "agent/commands.h"
#include "store/salvage.h"

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: syncagent check -c FILE\n"
            "       syncagent check --describe\n"
            "\n"
            "Validate a config: YAML, keys, types, units, the schemas it names,\n"
            "the data directory, what each source and sink checks before it\n"
            "starts (directories, keys that go together, the fields formats: and\n"
            "columns: name against the schema) and any existing spool:\n"
            "what `run` and `import` would refuse at start. Exit 0 when it is\n"
            "good, 2 with one line naming file:line:column and the reason when\n"
            "not. Relative paths are taken from the config file's directory.\n"
            "\n"
            "  -c, --config FILE   the config to check\n"
            "      --describe      print every key with its type, default and\n"
            "                      description\n"
            "  -h, --help          this help\n");
}

/* data_dir must be a writable directory, or creatable in a writable one. */
static int check_data_dir(const struct sa_config *cfg, struct sa_err *err)
{
    char why[200];

    if (sa_dir_usable(cfg->agent.data_dir, why, sizeof why) != 0)
        return sa_conf_fail(&cfg->agent_origin, "data_dir", SA_ECONFIG, err, "%s: %s",
                            cfg->agent.data_dir, why);
    return SA_OK;
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
    rc = check_data_dir(cfg, &err);
    if (rc)
        goto out;
    rc = sa_config_check(cfg, schemas, &err);
    if (rc)
        goto out;
    if (access(cfg->spool.path, F_OK) == 0) {
        /* the damage check `run` makes first (read-only, writes nothing) */
        rc = sa_spool_precheck(cfg->spool.path, &err);
        if (rc)
            goto out;
        rc = sa_spool_open(&spool, &cfg->spool, SA_SPOOL_READONLY, &err);
        if (rc)
            goto out;
        /* run stores the schemas: one the spool holds otherwise is refused */
        rc = sa_schemas_check_stored(schemas, spool, &err);
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
