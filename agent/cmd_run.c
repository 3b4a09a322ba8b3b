/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent run`: the daemon. The main thread is the ingest writer
 * (pipeline.c); the dispatcher runs one worker per sink; the housekeeper
 * trims. Signals only set flags that the main loop reads:
 *   SIGINT, SIGTERM  stop the sources, commit what is pending, let the
 *                    sinks drain for agent.shutdown_grace, exit 0 (with
 *                    --exit-when-synced, 4 unless that drain synced all)
 *   SIGHUP           reload the config: when the new one is valid, restart
 *                    sources and sinks on it; when not, keep running on the
 *                    old one and log why (POST /api/v1/reload on the
 *                    admin server does the same and waits for the outcome)
 * The admin server (agent/admin/admin.c) lives across reloads: it is given
 * each new runtime to read, and none while one is replaced.
 * With a fleet: section, agent/fleet/fleet.c polls for a signed config; the
 * loop applies it (and rolls it back) by the same stop-and-start a SIGHUP
 * does, so the spool, cursors and offsets stay.
 */
#include "agent/admin/admin.h"
#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "agent/base/metrics.h"
#include "agent/cli.h"
#include "agent/commands.h"
#include "agent/fleet/fleet.h"
#include "agent/housekeeper.h"
#include "agent/pipeline.h"
#include "sync/dispatcher.h"

#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HOUSEKEEP_INTERVAL_MS 1000
/* The main loop's pause while the sources have nothing: 5 ms, doubled
 * each idle turn up to 40 ms (a fifth of the default batch.linger), back
 * to 5 ms at the first record. Those wake-ups were most of an idle
 * agent's CPU (0.42 % of a core at 200 a second, 0.18 % now), which a
 * fleet of agents per host pays many times over. */
#define IDLE_SLEEP_MS 5
#define IDLE_SLEEP_MAX_MS 40

static atomic_int stop_flag;
static atomic_int reload_flag;
static struct sa_admin *admin; /* NULL: admin.enabled is false */
static struct sa_fleet *fleet; /* NULL: no fleet: section */

static void on_stop(int sig)
{
    (void)sig;
    atomic_store(&stop_flag, 1);
}

static void on_reload(int sig)
{
    (void)sig;
    atomic_store(&reload_flag, 1);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_reload;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/* Everything that runs on one config; a reload replaces it whole. */
struct runtime {
    struct sa_config *cfg;
    struct sa_schema_set *schemas;
    struct sa_spool *spool; /* the writer's connection */
    struct sa_dispatcher *dispatcher;
    struct sa_housekeeper *housekeeper;
    struct sa_pipeline *pipeline;
};

static void notify_dispatcher(void *arg) { sa_dispatcher_notify(arg); }

/* hand_over: a reload, where sinks in backoff are not waited for.
 * Returns 1 when the sinks left nothing spooled for the next start. */
static int runtime_stop(struct runtime *rt, int64_t grace_ms, int hand_over)
{
    struct sa_err err = {0};
    int synced = 1;

    sa_admin_set_runtime(admin, NULL); /* first: no handler reads what goes */
    if (rt->pipeline) {
        if (sa_pipeline_flush(rt->pipeline, &err))
            sa_log_warn("final commit failed; the sources will re-read the "
                        "uncommitted records on the next start",
                        "error", err.msg);
        sa_pipeline_close(rt->pipeline);
    }
    if (rt->dispatcher && hand_over)
        synced = sa_dispatcher_hand_over(rt->dispatcher, grace_ms);
    else if (rt->dispatcher)
        synced = sa_dispatcher_stop(rt->dispatcher, grace_ms);
    sa_housekeeper_stop(rt->housekeeper);
    sa_spool_close(rt->spool);
    sa_schemas_free(rt->schemas);
    sa_config_free(rt->cfg);
    memset(rt, 0, sizeof *rt);
    return synced;
}

/* Takes over cfg and schemas. */
static int runtime_start(struct runtime *rt, struct sa_config *cfg,
                         struct sa_schema_set *schemas, struct sa_err *err)
{
    struct sa_dispatcher_opts dopts;
    const char **names = NULL;
    int rc;

    memset(rt, 0, sizeof *rt);
    rt->cfg = cfg;
    rt->schemas = schemas;
    /* What the sources and sinks would refuse at open, refused before the
     * data directory and the spool are created. */
    rc = sa_config_check(cfg, schemas, err);
    if (rc)
        goto out;
    rc = sa_cli_open_spool_rw(cfg, schemas, &rt->spool, err);
    if (rc)
        goto out;
    names = calloc(cfg->n_sinks + 1, sizeof *names);
    if (!names) {
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < cfg->n_sinks; i++)
        names[i] = cfg->sinks[i].name;
    rc = sa_spool_cursors_prune(rt->spool, names, cfg->n_sinks, err);
    if (rc)
        goto out;
    rc = sa_housekeeper_start(&rt->housekeeper, cfg, HOUSEKEEP_INTERVAL_MS, err);
    if (rc)
        goto out;
    sa_housekeeper_watch_wal(rt->housekeeper, rt->spool);
    memset(&dopts, 0, sizeof dopts);
    dopts.spool = &cfg->spool;
    dopts.sinks = cfg->sinks;
    dopts.n_sinks = cfg->n_sinks;
    rc = sa_dispatcher_start(&rt->dispatcher, &dopts, err);
    if (rc)
        goto out;
    rc = sa_pipeline_open(&rt->pipeline, cfg, cfg->sources, cfg->n_sources, schemas, rt->spool, &stop_flag, err);
    if (rc)
        goto out;
    sa_pipeline_on_commit(rt->pipeline, notify_dispatcher, rt->dispatcher);
    sa_admin_set_runtime(admin, &(struct sa_admin_runtime){
                                    .cfg = cfg,
                                    .ingest = sa_pipeline_stats(rt->pipeline),
                                    .dispatcher = rt->dispatcher,
                                });
    sa_log_info("agent started", "agent_id", cfg->agent.id, "config", cfg->path,
                "spool", cfg->spool.path, "origin_id",
                sa_spool_origin_id(rt->spool));
out:
    free(names);
    if (rc)
        runtime_stop(rt, 0, 0);
    return rc;
}

/* The number of records every sink has acknowledged (the slowest sink's). */
static uint64_t synced_records(struct sa_dispatcher *d)
{
    struct sa_sink_metrics m[64];
    size_t n = sa_dispatcher_metrics(d, m, 64);
    uint64_t min = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || m[i].acked < min)
            min = m[i].acked;
    return min;
}

struct progress {
    int enabled, tty;
    int64_t last_ms, start_ms;
    uint64_t last_spooled, last_synced, synced_total;
};

static void progress_print(struct progress *pr, struct runtime *rt, int final)
{
    const struct sa_pipeline_stats *st = sa_pipeline_stats(rt->pipeline);
    int64_t now = sa_mono_ms();
    uint64_t in = atomic_load(&st->records_in);
    uint64_t spooled = atomic_load(&st->records_spooled);
    uint64_t synced = synced_records(rt->dispatcher);
    double secs = (double)(now - pr->last_ms) / 1000.0;
    double in_rate, out_rate;

    if (!pr->enabled || (!final && now - pr->last_ms < 1000))
        return;
    if (final)
        secs = (double)(now - pr->start_ms) / 1000.0;
    /* Two rates: a drain of a spooled backlog spools nothing. The sinks'
     * counts start again at a reload (a new dispatcher). */
    uint64_t out = synced >= pr->last_synced ? synced - pr->last_synced : synced;
    pr->synced_total += out;
    in_rate = secs > 0 ? (double)(final ? spooled : spooled - pr->last_spooled) / secs
                       : 0.0;
    out_rate = secs > 0 ? (double)(final ? pr->synced_total : out) / secs : 0.0;
    fprintf(stderr,
            "%sgenerated %llu  spooled %llu (%.0f rec/s)  synced %llu (%.0f rec/s)%s%s",
            pr->tty ? "\r" : "", (unsigned long long)in, (unsigned long long)spooled,
            in_rate, (unsigned long long)synced, out_rate,
            atomic_load(&st->blocked) ? "  (spool full: ingest paused)" : "",
            pr->tty && !final ? "   " : "\n");
    pr->last_ms = now;
    pr->last_spooled = spooled;
    pr->last_synced = synced;
}

/* The admin server and the metrics only `run` has (process_*, reloads);
 * admin.* is read once: a reload keeps the server as it started. */
static struct sa_counter *reloads_ok, *reloads_failed;

static int start_admin(const struct sa_config *cfg, struct sa_err *err)
{
    struct sa_metrics *m = sa_metrics_global();
    static const char help[] = "Config reloads (SIGHUP or POST /api/v1/reload), "
                               "by result: ok, failed (still on the old config).";
    int rc;

    rc = sa_admin_process_metrics(err);
    if (rc == SA_OK)
        rc = sa_metrics_counter(m, "syncagent_config_reloads_total", help,
                                (const char *[]){"result", "ok", NULL}, &reloads_ok,
                                err);
    if (rc == SA_OK)
        rc = sa_metrics_counter(m, "syncagent_config_reloads_total", help,
                                (const char *[]){"result", "failed", NULL},
                                &reloads_failed, err);
    if (rc == SA_OK)
        rc = sa_admin_start(&admin, cfg, &reload_flag, err);
    return rc;
}

static void reload_done(int rc, const char *why)
{
    sa_counter_inc(rc == SA_OK ? reloads_ok : reloads_failed);
    sa_admin_reload_done(admin, rc, why);
}

/* One turn of fleet config push: apply a new fleet config, or roll back to
 * the last good one, by the stop-and-start of a reload. Sets *restarted;
 * an error only when no config at all would start. */
static int fleet_turn(struct runtime *rt, int *restarted, struct sa_err *err)
{
    struct sa_config *cfg = NULL;
    struct sa_schema_set *schemas = NULL;
    int again = sa_fleet_tick(fleet, rt->dispatcher, rt->spool, &cfg, &schemas) !=
                SA_FLEET_NONE;
    int rc = SA_OK;

    *restarted = again;
    while (again) {
        runtime_stop(rt, rt->cfg ? rt->cfg->agent.shutdown_grace_ms : 0, 1);
        rc = runtime_start(rt, cfg, schemas, err);
        again = sa_fleet_started(fleet, rc, err->msg, &cfg, &schemas);
    }
    return rc;
}

/* Ingest failed: on a fleet config in probation, roll back to the last
 * good one (1) rather than exit; 0: not in probation; -1: the good one
 * did not start either (nothing runs). */
static int fleet_pipeline_failed(struct runtime *rt, struct sa_err *err)
{
    struct sa_config *cfg = NULL;
    struct sa_schema_set *schemas = NULL;
    int rc;

    if (!sa_fleet_pipeline_failed(fleet, err->msg, &cfg, &schemas))
        return 0;
    runtime_stop(rt, rt->cfg ? rt->cfg->agent.shutdown_grace_ms : 0, 1);
    rc = runtime_start(rt, cfg, schemas, err);
    sa_fleet_started(fleet, rc, err->msg, &cfg, &schemas);
    return rc == SA_OK ? 1 : -1;
}

/* One warning per source that never finishes (ops->endless), naming why
 * and the fix: otherwise --exit-when-synced waits for it without a word. */
static void warn_endless_sources(const struct sa_config *cfg)
{
    for (size_t i = 0; i < cfg->n_sources; i++) {
        const struct sa_source_conf *sc = &cfg->sources[i];
        const char *fix = "", *why;
        char set[128];
        if (!sc->ops->endless || !(why = sc->ops->endless(sc, &fix)))
            continue;
        snprintf(set, sizeof set, "set %s", fix);
        sa_log_warn("this source never finishes: --exit-when-synced waits for it "
                    "for ever",
                    "source", sc->name, "why", why, "fix", set);
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: syncagent run -c FILE [--progress] [--exit-when-synced]\n"
            "\n"
            "Run the agent: read every configured source into the spool and\n"
            "ship the spool to every configured sink until stopped.\n"
            "\n"
            "  -c, --config FILE     the agent's YAML config (required)\n"
            "      --progress        print a progress line every second\n"
            "      --exit-when-synced  exit 0 once every source is finished\n"
            "                        (e.g. a generator with a count) and every\n"
            "                        sink has acknowledged every record. A csv\n"
            "                        source with watch: true (the default) or\n"
            "                        tail: true, or a generator without a count,\n"
            "                        never finishes: it is waited for for ever\n"
            "                        (a warning at start names it). Stopped by\n"
            "                        SIGINT/SIGTERM before that: exit 4, what\n"
            "                        is spooled is sent on the next start\n"
            "  -h, --help            this help\n"
            "\n"
            "With a fleet: section the agent also polls fleet.url for a signed\n"
            "config and applies it (see `syncagent fleet --help`).\n"
            "Signals: SIGINT/SIGTERM stop gracefully (commit, let sinks drain\n"
            "for agent.shutdown_grace); SIGHUP reloads the config.\n"
            "Admin server (admin.listen, default 127.0.0.1:8686; admin.enabled:\n"
            "false turns it off; SA_ADMIN_LISTEN overrides the address):\n"
            "GET /metrics (Prometheus), /healthz, /readyz, /api/v1/status\n"
            "(status --json, live), POST /api/v1/reload with\n"
            "Authorization: Bearer <admin.token>.\n"
            "Logs are logfmt lines on stderr (agent.log_format: json for JSON).\n"
            "One writer (run, import) per data directory: while one holds\n"
            "<spool>-lock, another exits 2 naming its PID.\n");
}

int sa_cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"progress", no_argument, NULL, 'p'},
        {"exit-when-synced", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    int exit_when_synced = 0;
    struct progress pr = {0};
    struct runtime rt;
    struct sa_config *cfg = NULL;
    struct sa_schema_set *schemas = NULL;
    struct sa_err err = {0};
    int sources_done = 0, synced = 0, drained, idle_sleep_ms = IDLE_SLEEP_MS;
    int status = SA_EXIT_OK;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'p': pr.enabled = 1; break;
        case 'x': exit_when_synced = 1; break;
        case 'h': usage(stdout); return SA_EXIT_OK;
        default: usage(stderr); return SA_EXIT_USAGE;
        }
    }
    if (!config_path || optind != argc) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    if (sa_cli_load(config_path, &cfg, &schemas, &err))
        return sa_cli_fail("run", &err);
    if (cfg->fleet.enabled) {
        if (sa_fleet_open(&fleet, config_path, &err)) {
            sa_schemas_free(schemas);
            sa_config_free(cfg);
            return sa_cli_fail("run", &err);
        }
        sa_fleet_initial(fleet, &cfg, &schemas);
    }
    install_signals();
    /* The lock before the admin server: a second `run` on the same data
     * directory would find the first one's port taken, and say so instead
     * of naming the writer that holds the directory. What the config
     * refuses is refused before the data directory is created. */
    if (sa_config_check(cfg, schemas, &err) || sa_cli_lock_data_dir(cfg, &err) ||
        start_admin(cfg, &err)) {
        sa_schemas_free(schemas);
        sa_config_free(cfg);
        return sa_cli_fail("run", &err);
    }
    if (runtime_start(&rt, cfg, schemas, &err)) {
        sa_admin_stop(admin);
        sa_fleet_stop(fleet);
        return sa_cli_fail("run", &err);
    }
    if (fleet && sa_fleet_start(fleet, &err)) {
        runtime_stop(&rt, 0, 0);
        sa_admin_stop(admin);
        sa_fleet_stop(fleet);
        return sa_cli_fail("run", &err);
    }
    if (exit_when_synced)
        warn_endless_sources(rt.cfg);
    pr.tty = isatty(STDERR_FILENO);
    pr.start_ms = pr.last_ms = sa_mono_ms();

    while (!atomic_load(&stop_flag)) {
        int idle = 0, restarted = 0;
        int rc = SA_OK;

        if (!sources_done) {
            rc = sa_pipeline_step(rt.pipeline, &idle, &err);
            if (rc == SA_EOF) {
                sources_done = 1;
                sa_log_info("every source is finished");
            } else if (rc == SA_ESTOPPED) {
                break;
            } else if (rc) {
                sa_log_error("ingest failed", "error", err.msg);
                int back = fleet ? fleet_pipeline_failed(&rt, &err) : 0;
                if (back > 0) {
                    sources_done = 0;
                    continue;
                }
                if (back < 0) {
                    sa_admin_stop(admin);
                    sa_fleet_stop(fleet);
                    return sa_cli_exit_code(err.rc);
                }
                status = sa_cli_exit_code(rc);
                break;
            }
        }
        if (sources_done) {
            if (!exit_when_synced) {
                sa_sleep_ms(50);
            } else if (sa_dispatcher_wait_caught_up(rt.dispatcher, 50)) {
                sa_log_info("every record is synced");
                synced = 1;
                break;
            }
        } else if (idle) {
            sa_sleep_ms(idle_sleep_ms);
            if (idle_sleep_ms < IDLE_SLEEP_MAX_MS)
                idle_sleep_ms *= 2;
        } else {
            idle_sleep_ms = IDLE_SLEEP_MS;
        }
        progress_print(&pr, &rt, 0);

        if (fleet && fleet_turn(&rt, &restarted, &err)) {
            sa_log_error("cannot start on any config", "error", err.msg);
            sa_admin_stop(admin);
            sa_fleet_stop(fleet);
            return sa_cli_exit_code(err.rc);
        }
        if (restarted)
            sources_done = 0;

        if (atomic_exchange(&reload_flag, 0)) {
            struct sa_config *new_cfg = NULL;
            struct sa_schema_set *new_schemas = NULL;
            sa_log_info("reloading config", "config", config_path);
            if (fleet ? sa_fleet_reload(fleet, &new_cfg, &new_schemas, &err)
                      : sa_cli_load(config_path, &new_cfg, &new_schemas, &err)) {
                sa_log_error("config reload failed, still running on the "
                             "previous config", "error", err.msg);
                reload_done(err.rc, err.msg);
                continue;
            }
            runtime_stop(&rt, rt.cfg->agent.shutdown_grace_ms, 1);
            if (runtime_start(&rt, new_cfg, new_schemas, &err)) {
                sa_log_error("cannot start on the reloaded config", "error",
                             err.msg);
                reload_done(err.rc, err.msg);
                sa_admin_stop(admin);
                sa_fleet_stop(fleet);
                return sa_cli_exit_code(err.rc);
            }
            if (fleet)
                sa_fleet_started(fleet, SA_OK, NULL, &new_cfg, &new_schemas);
            sources_done = 0;
            sa_log_info("config reloaded");
            reload_done(SA_OK, NULL);
            if (exit_when_synced)
                warn_endless_sources(rt.cfg);
        }
    }
    if (atomic_load(&stop_flag))
        sa_logf(SA_LOG_INFO, "stopping: committing and letting sinks drain",
                "grace_ms=%lld", (long long)rt.cfg->agent.shutdown_grace_ms);
    progress_print(&pr, &rt, 1);
    drained = runtime_stop(&rt, rt.cfg->agent.shutdown_grace_ms, 0);
    /* Left by a signal (not an error, not synced): only what the drain in
     * the grace left behind, or a source not finished, makes it early. */
    if (exit_when_synced && !synced && status == SA_EXIT_OK &&
        (!sources_done || !drained)) {
        sa_log_warn("stopped before every record was synced: what is spooled is "
                    "sent on the next start",
                    "sources_finished", sources_done ? "true" : "false",
                    "sinks_caught_up", drained ? "true" : "false");
        status = SA_EXIT_UNSYNCED;
    }
    sa_fleet_stop(fleet);
    fleet = NULL;
    sa_admin_stop(admin);
    admin = NULL;
    sa_log_info("agent stopped");
    return status;
}
