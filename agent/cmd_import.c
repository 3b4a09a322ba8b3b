/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent import`: spool CSV files once and exit. The files are read by
 * the CSV source of the config for the stream (its settings, and its
 * committed positions, so a file imported twice is spooled once), or by an
 * ad-hoc CSV source with default settings when the config has none.
 *
 * What happens to a file afterwards is import's own --on-done (keep by
 * default), never the source's on_done: the files on the command line
 * need not be the source's at all. It is applied once everything is
 * committed, and only to a file read to its end in this run without a
 * rejected row (the dead letters of a rejected row point into its file).
 * A directory stands for the *.csv and *.csv.gz files in it (any case,
 * not hidden ones). Only regular files are taken: a pipe has no position
 * to commit and cannot be read again.
 *
 * A file read under a path whose open dead letters came from another file
 * (a new inode or other first bytes) is most often that file fixed in
 * place with sed -i or an editor: its rows were new to the source, so all
 * of them were spooled, the good ones again. import says so and points to
 * `deadletter export` / `replay`, the repair that spools each row once.
 */
#include "agent/base/clock.h"
#include "agent/base/fsutil.h"
#include "agent/base/log.h"
#include "agent/cli.h"
#include "agent/commands.h"
#include "agent/housekeeper.h"
#include "agent/pipeline.h"
#include "agent/source/file_key.h"
#include "agent/source/source_csv.h"
#include "sync/dispatcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_int stop_flag;

static void on_stop(int sig)
{
    (void)sig;
    atomic_store(&stop_flag, 1);
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: syncagent import -c FILE [--stream S | --source NAME] [--on-done HOW]\n"
        "                        [--wait-synced] PATH...\n"
        "\n"
        "Spool CSV files (plain or .gz) once. Every row is spooled or goes to\n"
        "the dead letters with file:line:column and the reason; prints\n"
        "`FILE: N accepted, M rejected` for each file, and a total for several.\n"
        "A file already imported is not spooled again. A directory stands for\n"
        "the *.csv and *.csv.gz files in it (any case, hidden files left out).\n"
        "Only regular files: a pipe or /dev/stdin is refused. A file fixed in\n"
        "place (sed -i) is a new file, spooled whole: fix rejected rows with\n"
        "`syncagent deadletter export` and `replay` (import warns).\n"
        "\n"
        "  -c, --config FILE   the agent's YAML config (required)\n"
        "  -s, --stream S      the stream to import into; its CSV source in the\n"
        "                      config gives the settings (delimiter, header,\n"
        "                      columns...), else the defaults are used with\n"
        "                      schema S. Optional when the config has exactly\n"
        "                      one CSV source; with several on S, give --source.\n"
        "      --source NAME   the CSV source of the config to import with\n"
        "      --on-done HOW   keep (default), delete or move:DIR: what to do with\n"
        "                      a file once all its rows are committed. Only a\n"
        "                      file read to its end without a rejected row is\n"
        "                      deleted or moved, even one without rows (empty,\n"
        "                      or a header only). The source's on_done is not\n"
        "                      used.\n"
        "      --wait-synced   also run the sinks and wait until every sink\n"
        "                      has acknowledged every record (or dead-lettered\n"
        "                      it: exit 3)\n"
        "  -h, --help          this help\n"
        "\n"
        "Exit: 0 every row of every file accepted (with --wait-synced: and\n"
        "acknowledged by every sink), 3 every file read but some rows went to\n"
        "the dead letters (see `syncagent deadletter`): rejected by the source,\n"
        "or with --wait-synced refused by a sink, 1 a file could not be read or\n"
        "was set aside after too many bad rows, or the reading was interrupted,\n"
        "2 bad usage, 4 (--wait-synced) stopped by SIGINT/SIGTERM before every\n"
        "sink acknowledged every record: they stay spooled and are sent on the\n"
        "next start (syncagent run, or import --wait-synced again); 4 rather\n"
        "than 3 when both apply.\n"
        "\n"
        "example: syncagent import -c agent.yaml --stream order orders-*.csv\n");
}

/* The command line's paths, with each directory replaced by the CSV files
 * in it (as glob patterns with their special characters escaped, since
 * the source expands globs). */
struct path_list {
    char **v;
    size_t n, cap;
};

static void path_list_fini(struct path_list *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        free(pl->v[i]);
    free(pl->v);
    memset(pl, 0, sizeof *pl);
}

static int path_list_add(struct path_list *pl, char *path /* taken */)
{
    if (!path)
        return SA_ENOMEM;
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 16;
        char **v = realloc(pl->v, cap * sizeof *v);
        if (!v) {
            free(path);
            return SA_ENOMEM;
        }
        pl->v = v;
        pl->cap = cap;
    }
    pl->v[pl->n++] = path;
    return SA_OK;
}

/* A CSV file of a directory: *.csv or *.csv.gz in any case (X.CSV), not
 * a hidden one (an editor's .x.csv, a half-copied file). */
static int is_csv_name(const char *name)
{
    size_t len = strlen(name);
    if (name[0] == '.')
        return 0;
    return (len > 4 && strcasecmp(name + len - 4, ".csv") == 0) ||
           (len > 7 && strcasecmp(name + len - 7, ".csv.gz") == 0);
}

static char *glob_escape(const char *dir, const char *name)
{
    size_t dlen = strlen(dir);
    char *out = malloc(2 * (dlen + strlen(name)) + 2), *o = out;
    const char *parts[2] = {dir, name};

    if (!out)
        return NULL;
    for (int k = 0; k < 2; k++) {
        for (const char *p = parts[k]; *p; p++) {
            if (strchr("*?[\\", *p))
                *o++ = '\\';
            *o++ = *p;
        }
        if (k == 0 && dlen && dir[dlen - 1] != '/')
            *o++ = '/';
    }
    *o = '\0';
    return out;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int expand_paths(char **args, size_t n_args, struct path_list *pl,
                        struct sa_err *err)
{
    for (size_t i = 0; i < n_args; i++) {
        struct stat st;
        DIR *dir;
        struct dirent *de;
        size_t first = pl->n, found = 0;

        if (stat(args[i], &st) == 0 && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
            /* A pipe, a terminal, /dev/stdin: not a file with a position
             * to commit, nor one to read again after a crash. */
            return sa_err_set(err, SA_EINVAL, "%s: not a regular file", args[i]);
        if (stat(args[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            if (path_list_add(pl, strdup(args[i])))
                return sa_err_set(err, SA_ENOMEM, "out of memory");
            continue;
        }
        dir = opendir(args[i]);
        if (!dir)
            return sa_err_set(err, SA_EIO, "cannot read the directory %s: %s", args[i],
                              strerror(errno));
        while ((de = readdir(dir))) {
            char full[4096];
            struct stat fst;
            if (!is_csv_name(de->d_name))
                continue;
            snprintf(full, sizeof full, "%s/%s", args[i], de->d_name);
            if (stat(full, &fst) != 0 || !S_ISREG(fst.st_mode))
                continue;
            if (path_list_add(pl, glob_escape(args[i], de->d_name))) {
                closedir(dir);
                return sa_err_set(err, SA_ENOMEM, "out of memory");
            }
            found++;
        }
        closedir(dir);
        if (!found)
            return sa_err_set(err, SA_EINVAL,
                              "%s is a directory without *.csv or "
                              "*.csv.gz files (hidden ones left out): nothing "
                              "to import",
                              args[i]);
        qsort(pl->v + first, found, sizeof *pl->v, name_cmp);
    }
    return SA_OK;
}

struct import_source {
    struct sa_source_conf *conf; /* the config's, or adhoc */
    struct sa_source_conf adhoc;
    struct sa_strlist saved_path;
    int saved_watch, saved_tail;
    char *saved_on_done;
};

/* The names of the CSV sources (of stream, or all), ", "-separated. */
static void csv_source_names(const struct sa_config *cfg, const char *stream,
                             char *out, size_t size)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < cfg->n_sources && used < size; i++) {
        const struct sa_source_conf *sc = &cfg->sources[i];
        if (sc->ops != &sa_source_csv_ops || (stream && strcmp(sc->stream, stream) != 0))
            continue;
        used += (size_t)snprintf(out + used, size - used, "%s%s", used ? ", " : "",
                                 sc->name);
    }
}

/* Point the chosen source at the command line's files, read once: the CSV
 * source named by --source, else the one of --stream, else the only one.
 * Two of one stream are never chosen between silently. */
static int choose_source(struct sa_config *cfg, const char *stream, const char *source,
                         char **paths, size_t n_paths, struct import_source *is,
                         struct sa_err *err)
{
    struct sa_csv_source_conf *opts;
    char names[1024];
    size_t n_csv = 0;

    memset(is, 0, sizeof *is);
    for (size_t i = 0; i < cfg->n_sources; i++) {
        struct sa_source_conf *sc = &cfg->sources[i];
        if (source ? strcmp(sc->name, source) != 0
                   : sc->ops != &sa_source_csv_ops ||
                         (stream && strcmp(sc->stream, stream) != 0))
            continue;
        n_csv++;
        is->conf = sc;
    }
    if (source) {
        csv_source_names(cfg, NULL, names, sizeof names);
        if (!is->conf)
            return sa_err_set(err, SA_EINVAL,
                              "--source %s: no such source (CSV sources: %s)", source,
                              names[0] ? names : "none");
        if (is->conf->ops != &sa_source_csv_ops)
            return sa_err_set(err, SA_EINVAL,
                              "--source %s: a %s source, not CSV (CSV sources: %s)",
                              source, is->conf->type, names[0] ? names : "none");
        if (stream && strcmp(is->conf->stream, stream) != 0)
            return sa_err_set(err, SA_EINVAL,
                              "--source %s feeds stream %s, not --stream %s", source,
                              is->conf->stream, stream);
    } else if (n_csv > 1) {
        csv_source_names(cfg, stream, names, sizeof names);
        is->conf = NULL;
        if (stream)
            return sa_err_set(err, SA_EINVAL,
                              "stream %s has %zu CSV sources (%s): choose one "
                              "with --source NAME",
                              stream, n_csv, names);
        return sa_err_set(err, SA_EINVAL,
                          "the config has %zu CSV sources (%s): choose one with "
                          "--source NAME (or --stream S)",
                          n_csv, names);
    } else if (!stream && n_csv == 0) {
        return sa_err_set(err, SA_EINVAL,
                          "the config has no CSV source: name the stream "
                          "with --stream");
    }
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
    is->saved_on_done = opts->on_done;
    opts->path.v = paths;
    opts->path.n = n_paths;
    opts->watch = 0;
    opts->tail = 0;
    /* import applies its own --on-done once everything is committed. */
    opts->on_done = (char *)"keep";
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
    opts->on_done = is->saved_on_done;
    if (is->conf == &is->adhoc) {
        sa_conf_free_entries(sa_source_csv_ops.conf, is->adhoc.opts);
        free(is->adhoc.opts);
    }
}

struct report_state {
    const char *on_done; /* keep, delete, move:DIR */
    struct sa_spool *spool;
    const char *source;  /* the CSV source's name */
    int keep_all;        /* records were refused (when_full: reject) */
    size_t n_files;
    uint64_t accepted, rejected;
    int failed;
};

/* --on-done for one file; appends what was done to `done` (", deleted"). */
static void apply_on_done(const struct report_state *rs,
                          const struct sa_csv_file_report *r, char *done, size_t size)
{
    if (strcmp(rs->on_done, "keep") == 0 || !r->done || r->failed)
        return;
    if (r->seen_done) {
        snprintf(done, size, ", kept (imported before)");
    } else if (rs->keep_all) {
        snprintf(done, size, ", kept (records were refused: the spool was full)");
    } else if (r->rejected) {
        snprintf(done, size, ", kept (its dead letters point into it)");
    } else if (strcmp(rs->on_done, "delete") == 0) {
        if (unlink(r->path) == 0)
            snprintf(done, size, ", deleted");
        else
            snprintf(done, size, ", kept: cannot delete it: %s", strerror(errno));
    } else {
        char target[4096];
        if (sa_move_into(r->path, rs->on_done + 5, target, sizeof target) == 0)
            snprintf(done, size, ", moved to %s", target);
        else
            snprintf(done, size, ", kept: cannot move it into %s: %s", rs->on_done + 5,
                     strerror(errno));
    }
}

/* The open dead letters at a path that came from another file than the
 * one there now. */
struct replaced {
    const char *path, *key;
    int64_t n;
};

static void count_replaced(void *arg, const char *file_key, int64_t n)
{
    struct replaced *rp = arg;
    struct sa_file_key key;
    struct stat st;
    int fd, same = 0;

    /* No key (an older spool) or an unreadable file: cannot tell. */
    if (!file_key || strcmp(file_key, rp->key) == 0 ||
        sa_file_key_parse(file_key, &key) != 0)
        return;
    fd = open(rp->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0)
        same = sa_file_key_matches(&key, fd, st.st_dev, st.st_ino);
    close(fd);
    if (!same)
        rp->n += n;
}

/* How many open dead letters at r's path another file left (asked before
 * --on-done moves the file away). */
static int64_t replaced_deadletters(const struct report_state *rs,
                                    const struct sa_csv_file_report *r)
{
    struct replaced rp = {.path = r->path, .key = r->key};
    struct sa_err err = {0};

    if (!r->key || r->seen_done || (!r->accepted && !r->rejected))
        return 0;
    if (sa_spool_deadletter_open_keys_at(rs->spool, rs->source, r->path, count_replaced,
                                         &rp, &err))
        return 0;
    return rp.n;
}

static void warn_replaced(const struct sa_csv_file_report *r, int64_t n)
{
    if (!n)
        return;
    fflush(stdout); /* after the file's summary line */
    fprintf(stderr,
            "syncagent import: %s: %" PRId64 " open dead letters came from an "
            "earlier file of this name; if this one is that file fixed in "
            "place (sed -i and editors write a new file), every row of it was "
            "spooled, those spooled before again. Repair rejected rows with "
            "`syncagent deadletter export` and `syncagent deadletter replay "
            "--from FIXED.csv` instead: each row goes in once\n",
            r->path, n);
}

static void print_file(void *arg, const struct sa_csv_file_report *r)
{
    struct report_state *rs = arg;
    char done[4200] = "";
    int64_t replaced;

    rs->n_files++;
    rs->accepted += r->accepted;
    rs->rejected += r->rejected;
    if (r->failed) {
        rs->failed = 1;
        printf("%s: %" PRIu64 " accepted, %" PRIu64 " rejected, FAILED: %s\n", r->path,
               r->accepted, r->rejected, r->error ? r->error : "");
        return;
    }
    replaced = replaced_deadletters(rs, r);
    apply_on_done(rs, r, done, sizeof done);
    printf("%s: %" PRIu64 " accepted, %" PRIu64 " rejected%s%s\n", r->path, r->accepted,
           r->rejected,
           r->seen_done ? " (already imported, nothing spooled again)" : "", done);
    warn_replaced(r, replaced);
}

/* Records the sinks refused for good (dead-lettered) since disp started,
 * in all; `per_sink` gets "NAME: N, ..." for the sinks that did. */
static uint64_t sink_deadletters(struct sa_dispatcher *disp, size_t n_sinks,
                                 char *per_sink, size_t size)
{
    struct sa_sink_metrics *m = calloc(n_sinks ? n_sinks : 1, sizeof *m);
    size_t n, used = 0;
    uint64_t total = 0;

    per_sink[0] = '\0';
    if (!m)
        return 0;
    n = sa_dispatcher_metrics(disp, m, n_sinks);
    for (size_t i = 0; i < n; i++) {
        if (!m[i].rejected)
            continue;
        total += m[i].rejected;
        if (used < size)
            used += (size_t)snprintf(per_sink + used, size - used, "%s%s: %" PRIu64,
                                     used ? ", " : "", m[i].name, m[i].rejected);
    }
    free(m);
    return total;
}

/* What --wait-synced adds to the exit status, once the sinks are stopped:
 * synced says whether they left anything spooled for the next start. */
static int wait_outcome(int status, int synced, uint64_t n_sink_deadletters,
                        const char *per_sink, const char *config_path)
{
    if (n_sink_deadletters) {
        fprintf(stderr,
                "syncagent import: the sinks dead-lettered %" PRIu64 " record%s "
                "while waiting (%s); see them with `syncagent deadletter list "
                "-c %s`\n",
                n_sink_deadletters, n_sink_deadletters == 1 ? "" : "s", per_sink,
                config_path);
        if (status == SA_EXIT_OK)
            status = SA_EXIT_REJECTED;
    }
    if (!synced) {
        fprintf(stderr, "syncagent import: stopped before every sink acknowledged "
                        "every record; they stay spooled and are sent on the next "
                        "start (syncagent run, or import --wait-synced again)\n");
        /* A failure (a file not read, an interrupted read) says more. */
        if (status != SA_EXIT_FAIL)
            status = SA_EXIT_UNSYNCED;
    } else if (!n_sink_deadletters) {
        printf("every sink has acknowledged every record\n");
    } else {
        printf("every sink has acknowledged every record it did not dead-letter\n");
    }
    return status;
}

int sa_cmd_import(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"stream", required_argument, NULL, 's'},
        {"source", required_argument, NULL, 'S'},
        {"wait-synced", no_argument, NULL, 'w'},
        {"on-done", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *stream = NULL, *source = NULL;
    int wait_synced = 0, spool_full = 0, waited = 0, opt, rc, status = SA_EXIT_OK;
    uint64_t n_sink_deadletters = 0;
    char per_sink[1024] = "";
    struct sa_config *cfg = NULL;
    struct sa_schema_set *schemas = NULL;
    struct sa_spool *spool = NULL;
    struct sa_pipeline *pipe = NULL;
    struct sa_dispatcher *disp = NULL;
    struct sa_housekeeper *hk = NULL;
    struct import_source is;
    struct report_state report = {.on_done = "keep"};
    struct path_list paths = {0};
    struct sa_err err = {0};
    struct sigaction sa;

    memset(&is, 0, sizeof is);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 's': stream = optarg; break;
        case 'S': source = optarg; break;
        case 'w': wait_synced = 1; break;
        case 'd': report.on_done = optarg; break;
        case 'h': usage(stdout); return SA_EXIT_OK;
        default: usage(stderr); return SA_EXIT_USAGE;
        }
    }
    if (!config_path || optind == argc) {
        fprintf(stderr, "syncagent import: %s\n",
                !config_path ? "no config given (-c FILE)" : "no file given");
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    if (strcmp(report.on_done, "keep") != 0 && strcmp(report.on_done, "delete") != 0) {
        struct stat st;
        if (strncmp(report.on_done, "move:", 5) != 0 || !report.on_done[5]) {
            fprintf(stderr,
                    "syncagent import: --on-done must be keep, delete or "
                    "move:DIR, not '%s'\n",
                    report.on_done);
            return SA_EXIT_USAGE;
        }
        if (stat(report.on_done + 5, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "syncagent import: --on-done %s: not a directory\n",
                    report.on_done);
            return SA_EXIT_USAGE;
        }
    }
    rc = expand_paths(argv + optind, (size_t)(argc - optind), &paths, &err);
    if (rc)
        goto out;
    rc = sa_cli_load(config_path, &cfg, &schemas, &err);
    if (rc)
        goto out;
    rc = choose_source(cfg, stream, source, paths.v, paths.n, &is, &err);
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
    /* Without sinks nothing drains the spool: a full one would wait for
     * ever. It stops the import instead; what fitted is committed. */
    if (!disp)
        sa_pipeline_stop_when_full(pipe);
    while (!atomic_load(&stop_flag) && (rc = sa_pipeline_step(pipe, NULL, &err)) == SA_OK)
        ;
    if (rc == SA_EOF || (rc == SA_OK && atomic_load(&stop_flag)))
        rc = sa_pipeline_flush(pipe, &err);
    if (rc == SA_EFULL && !disp) {
        spool_full = 1;
        rc = SA_OK; /* said below, with what to do */
    }
    if (rc)
        goto out;
    /* Records refused for a full spool exist only in their files. */
    report.spool = spool;
    report.source = is.conf->name;
    report.keep_all =
        atomic_load(&sa_pipeline_stats(pipe)->rejected) > 0 || atomic_load(&stop_flag);
    sa_source_csv_report(sa_pipeline_source(pipe, 0), print_file, &report);
    if (report.n_files > 1)
        printf("total: %" PRIu64 " accepted, %" PRIu64 " rejected in %zu files\n",
               report.accepted, report.rejected, report.n_files);
    if (spool_full) {
        fprintf(stderr, "syncagent import: the spool is full (spool.max_bytes or the "
                        "disk); what fitted is committed: let the sinks drain it "
                        "(syncagent run, or import --wait-synced) and run the same "
                        "import again to go on\n");
        status = SA_EXIT_FAIL;
    } else if (atomic_load(&stop_flag)) {
        fprintf(stderr, "syncagent import: interrupted; what was read is committed, "
                        "run the same import again to go on\n");
        status = SA_EXIT_FAIL;
    } else if (report.failed) {
        status = SA_EXIT_FAIL;
    } else if (report.rejected) {
        status = SA_EXIT_REJECTED;
    }
    if (disp) {
        /* The summary now, not after a wait that may be long. */
        fflush(stdout);
        while (!atomic_load(&stop_flag) && !sa_dispatcher_wait_caught_up(disp, 50))
            ;
        n_sink_deadletters =
            sink_deadletters(disp, cfg->n_sinks, per_sink, sizeof per_sink);
        waited = 1;
    }
out:
    sa_pipeline_close(pipe);
    if (disp) {
        /* Stopped by a signal, the sinks drain for the grace: what they
         * leave behind decides, not what was left at the signal. */
        int synced = sa_dispatcher_stop(disp, cfg->agent.shutdown_grace_ms);
        if (waited)
            status =
                wait_outcome(status, synced, n_sink_deadletters, per_sink, config_path);
    }
    sa_housekeeper_stop(hk);
    sa_spool_close(spool);
    restore_source(&is);
    path_list_fini(&paths);
    sa_schemas_free(schemas);
    sa_config_free(cfg);
    return rc ? sa_cli_fail("import", &err) : status;
}
