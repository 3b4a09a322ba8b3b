/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent import`: spool CSV files once and exit. The files are read by
 * the CSV source of the config for the stream (its settings, and its
 * committed positions, so a file imported twice is spooled once), or by an
 * ad-hoc CSV source with default settings when the config has none.
 */
#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "agent/cli.h"
#include "agent/commands.h"
#include "agent/housekeeper.h"
#include "agent/pipeline.h"
#include "agent/source_csv.h"
#include "sync/dispatcher.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int stop_flag;

static void on_stop(int sig)
{
    (void)sig;
    atomic_store(&stop_flag, 1);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: syncagent import -c FILE [--stream S] [--wait-synced] PATH...\n"
            "\n"
            "Spool CSV files (plain or .gz) once. Every row is spooled or goes to\n"
            "the dead letters with file:line:column and the reason; prints the\n"
            "accepted and rejected rows of each file. A file already imported\n"
            "is not spooled again.\n"
            "\n"
            "  -c, --config FILE   the agent's YAML config (required)\n"
            "  -s, --stream S      the stream to import into; its CSV source in the\n"
            "                      config gives the settings (delimiter, header,\n"
            "                      columns...), else the defaults are used with\n"
            "                      schema S. Optional when the config has exactly\n"
            "                      one CSV source.\n"
            "      --wait-synced   also run the sinks and wait until every sink\n"
            "                      has acknowledged every record\n"
            "  -h, --help          this help\n"
            "\n"
            "Exit: 0 when every file was read to its end, 1 when a file could not\n"
            "be read or was set aside after too many bad rows, 2 on bad usage.\n"
            "\n"
            "example: syncagent import -c agent.yaml --stream order orders-*.csv\n");
}

struct import_source {
    struct sa_source_conf *conf; /* the config's, or adhoc */
    struct sa_source_conf adhoc;
    struct sa_strlist saved_path;
    int saved_watch, saved_tail;
};

/* Point the chosen source at the command line's files, read once. */
static int choose_source(struct sa_config *cfg, const char *stream, char **paths,
                         size_t n_paths, struct import_source *is, struct sa_err *err)
{
    struct sa_csv_source_conf *opts;
    size_t n_csv = 0;

    memset(is, 0, sizeof *is);
    for (size_t i = 0; i < cfg->n_sources; i++) {
        struct sa_source_conf *sc = &cfg->sources[i];
        if (sc->ops != &sa_source_csv_ops)
            continue;
        if (stream ? strcmp(sc->stream, stream) == 0 : ++n_csv == 1)
            is->conf = sc;
    }
    if (!stream && n_csv != 1)
        return sa_err_set(err, SA_EINVAL, "the config has %zu CSV sources: name the "
                          "stream with --stream", n_csv);
    if (!is->conf) {
        is->adhoc.name = "import";
        is->adhoc.type = "csv";
        is->adhoc.stream = (char *)stream;
        is->adhoc.schema = (char *)stream;
        is->adhoc.ops = &sa_source_csv_ops;
        is->adhoc.opts = calloc(1, sa_source_csv_ops.opts_size);
        if (!is->adhoc.opts)
            return sa_err_set(err, SA_ENOMEM, "out of memory");
        if (sa_conf_apply_defaults(sa_source_csv_ops.conf, is->adhoc.opts, err))
            return err->rc;
        is->conf = &is->adhoc;
    }
    opts = is->conf->opts;
    is->saved_path = opts->path;
    is->saved_watch = opts->watch;
    is->saved_tail = opts->tail;
    opts->path.v = paths;
    opts->path.n = n_paths;
    opts->watch = 0;
    opts->tail = 0;
    return SA_OK;
}

static void restore_source(struct import_source *is)
{
    struct sa_csv_source_conf *opts;
    if (!is->conf)
        return;
    opts = is->conf->opts;
    opts->path = is->saved_path;
    opts->watch = is->saved_watch;
    opts->tail = is->saved_tail;
    if (is->conf == &is->adhoc) {
        sa_conf_free_entries(sa_source_csv_ops.conf, is->adhoc.opts);
        free(is->adhoc.opts);
    }
}

struct report_state {
    int failed;
};

static void print_file(void *arg, const struct sa_csv_file_report *r)
{
    struct report_state *rs = arg;
    if (r->failed) {
        rs->failed = 1;
        printf("%s: %" PRIu64 " accepted, %" PRIu64 " rejected, FAILED: %s\n", r->path,
               r->accepted, r->rejected, r->error ? r->error : "");
    } else if (r->accepted == 0 && r->rejected == 0 && r->done) {
        printf("%s: already imported, nothing spooled again\n", r->path);
    } else {
        printf("%s: %" PRIu64 " accepted, %" PRIu64 " rejected\n", r->path, r->accepted,
               r->rejected);
    }
}

int sa_cmd_import(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"stream", required_argument, NULL, 's'},
        {"wait-synced", no_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *stream = NULL;
    int wait_synced = 0, opt, rc, status = SA_EXIT_OK;
    struct sa_config *cfg = NULL;
    struct sa_schema_set *schemas = NULL;
    struct sa_spool *spool = NULL;
    struct sa_pipeline *pipe = NULL;
    struct sa_dispatcher *disp = NULL;
    struct sa_housekeeper *hk = NULL;
    struct import_source is;
    struct report_state report = {0};
    struct sa_err err = {0};
    struct sigaction sa;

    memset(&is, 0, sizeof is);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 's': stream = optarg; break;
        case 'w': wait_synced = 1; break;
        case 'h': usage(stdout); return SA_EXIT_OK;
        default: usage(stderr); return SA_EXIT_USAGE;
        }
    }
    if (!config_path || optind == argc) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    rc = sa_cli_load(config_path, &cfg, &schemas, &err);
    if (rc)
        goto out;
    rc = choose_source(cfg, stream, argv + optind, (size_t)(argc - optind), &is, &err);
    if (rc)
        goto out;
    if (!sa_schemas_lookup(schemas, is.conf->schema, &err)) {
        rc = err.rc ? err.rc : SA_ESCHEMA;
        goto out;
    }
    rc = sa_cli_open_spool_rw(cfg, schemas, &spool, &err);
    if (rc)
        goto out;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* The housekeeper takes the WAL checkpoints off the commits, and with
     * --wait-synced trims what the sinks acknowledge. */
    rc = sa_housekeeper_start(&hk, cfg, 1000, &err);
    if (rc)
        goto out;
    sa_housekeeper_watch_wal(hk, spool);
    if (wait_synced) {
        struct sa_dispatcher_opts dopts = {.spool = &cfg->spool, .sinks = cfg->sinks,
                                           .n_sinks = cfg->n_sinks};
        rc = sa_dispatcher_start(&disp, &dopts, &err);
        if (rc)
            goto out;
    }
    rc = sa_pipeline_open(&pipe, cfg, is.conf, 1, schemas, spool, &stop_flag, &err);
    if (rc)
        goto out;
    if (disp)
        sa_pipeline_on_commit(pipe, (void (*)(void *))sa_dispatcher_notify, disp);
    while (!atomic_load(&stop_flag) && (rc = sa_pipeline_step(pipe, NULL, &err)) == SA_OK)
        ;
    if (rc == SA_EOF || (rc == SA_OK && atomic_load(&stop_flag)))
        rc = sa_pipeline_flush(pipe, &err);
    if (rc)
        goto out;
    sa_source_csv_report(sa_pipeline_source(pipe, 0), print_file, &report);
    if (atomic_load(&stop_flag)) {
        fprintf(stderr, "syncagent import: interrupted; what was read is committed, "
                        "run the same import again to go on\n");
        status = SA_EXIT_FAIL;
    } else if (report.failed) {
        status = SA_EXIT_FAIL;
    }
    if (disp) {
        while (!atomic_load(&stop_flag) && !sa_dispatcher_caught_up(disp))
            sa_sleep_ms(50);
        if (!atomic_load(&stop_flag))
            printf("every sink has acknowledged every record\n");
    }
out:
    sa_pipeline_close(pipe);
    if (disp)
        sa_dispatcher_stop(disp, cfg->agent.shutdown_grace_ms);
    sa_housekeeper_stop(hk);
    sa_spool_close(spool);
    restore_source(&is);
    sa_schemas_free(schemas);
    sa_config_free(cfg);
    return rc ? sa_cli_fail("import", &err) : status;
}
