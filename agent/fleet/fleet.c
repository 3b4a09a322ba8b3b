/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fleet-wide config push, the agent's side (DESIGN.md §7): poll a static
 * HTTP server for a signed config, apply it without a restart, keep it on
 * probation, roll back when it fails, and report every outcome.
 *
 * THREADS
 *
 * The poll thread (poll_main) owns the HTTP client and does everything
 * that may block on the network or the disk of the fleet server: GET
 * config.yaml (If-None-Match), GET config.yaml.sig, verify, compose and
 * validate the effective config, and PUT the status JSON. The main thread
 * (`run`'s loop, through sa_fleet_tick/sa_fleet_started) owns the runtime:
 * it alone stops and starts sources and sinks, writes audit rows (the
 * spool's writer connection is its), reads the dispatcher's metrics for
 * probation and writes good.yaml. Everything both touch is under `mu`;
 * `cv` wakes the poll thread for a stop or a report.
 *
 * POSITIONS (versions)
 *
 *   good     the last config that passed probation: good_text (NULL: the
 *            local file alone) and good_version (0), also on disk as
 *            <data_dir>/fleet/good.yaml;
 *   current  what runs now (cur_version), good or on probation;
 *   pending  composed and validated by the poll thread, not yet started.
 *
 *   Invariant F1: good_version <= cur_version; a fetched config is taken
 *                 only when its version is above cur_version (no replay)
 *                 and is not the version last rolled back.
 *   Invariant F2: good.yaml is replaced atomically (sa_write_atomic) and
 *                 only with a config that passed probation, so a kill -9
 *                 at any moment restarts on the old good config or the
 *                 new one, never a mix; a restart during probation comes
 *                 back on the old one and fetches the new one again.
 *   Invariant F3: at most one config is pending or on probation. The poll
 *                 thread goes on polling meanwhile (heartbeat, last_poll),
 *                 but a config other than the running one is deferred:
 *                 its ETag is not kept, so the first poll after the
 *                 probation (woken by its audit row) fetches it again and
 *                 takes it as any other. Nothing is queued, so nothing is
 *                 lost or stale: the newest published config wins.
 *
 * STATE MACHINE (of the applied config, reported as `status`)
 *
 *   RUNNING --poll: new version, signed, valid, selected--> PENDING
 *   RUNNING --poll: bad signature, invalid, local-only key, not above
 *             the current version--> RUNNING (status REFUSED)
 *   RUNNING --poll: 304, the running bytes again, or not selected
 *             (rollout, selector; or the version last rolled back)--> RUNNING
 *   PENDING, PROBATION --poll: other bytes--> unchanged (deferred, F3)
 *   PENDING --main: started--> PROBATION (status APPLIED)
 *   PENDING --main: start failed--> RUNNING on good (status FAILED)
 *   PROBATION --probation over, every new or changed sink acknowledged
 *             or never failed--> RUNNING (good := current, good.yaml
 *             written)
 *   PROBATION --a new or changed sink failing without an acknowledgement
 *             at the end of probation, or ingest failing
 *             (sa_fleet_pipeline_failed)--> RUNNING on good (status
 *             ROLLED_BACK)
 *
 * A sink is new when the running config has none of its name, changed
 * when the running one of its name has other settings (settings_hash,
 * agent/config.c: its keys and resolved values as written, so that a key
 * moved or set to its default's value also counts; probation costs a
 * working sink nothing).
 *
 * The status JSON is PUT after each change and, as a heartbeat, every
 * HEARTBEAT_POLLS polls without one.
 */
#include "agent/fleet/fleet.h"

#include "agent/base/clock.h"
#include "agent/base/fsutil.h"
#include "agent/base/log.h"
#include "agent/base/metrics.h"
#include "agent/base/thread.h"
#include "agent/cli.h"
#include "agent/fleet/sign.h"
#include "sync/http.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HEARTBEAT_POLLS 10
#define MAX_AUDIT 32
#define PROBE_EVERY_MS 200

enum poll_result {
    POLL_NOT_MODIFIED,
    POLL_NEW,
    POLL_REFUSED,
    POLL_SKIPPED,
    POLL_DEFERRED,
    POLL_ERROR,
    N_POLL_RESULTS
};
static const char *const poll_result_names[] = {"not_modified", "new",      "refused",
                                                "skipped",      "deferred", "error"};

/* What became of a config taken to apply (syncagent_fleet_applies_total). */
enum apply_result { APPLY_APPLIED, APPLY_FAILED, APPLY_ROLLED_BACK, N_APPLY_RESULTS };
static const char *const apply_result_names[] = {"applied", "failed", "rolled_back"};

struct audit_row {
    char kind[24];
    char detail[SA_ERR_MSG_MAX + 96];
};

struct sa_fleet {
    char *config_path, *local_dir, *good_path, *status_path, *name;
    struct sa_config *local; /* fleet.*, agent.id: the poll thread's, read-only */
    pthread_t thread;
    int started;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping, report_due, report_failed;
    char *good_text, *cur_text;
    int64_t good_version, cur_version, rolled_back_version;
    struct sa_config *pending_cfg;
    struct sa_schema_set *pending_schemas;
    char *pending_text;
    int64_t pending_version;
    int applying; /* sa_fleet_tick handed out pending; started() not yet */
    char status[16], error[SA_ERR_MSG_MAX];
    int64_t applied_at_ms, last_poll_ms;
    struct audit_row audit[MAX_AUDIT];
    size_t n_audit;

    char last_poll_error[SA_ERR_MSG_MAX]; /* poll thread only */

    /* main thread only (in_probation: written under mu, which the poll
     * thread reads it under) */
    int in_probation;
    int64_t probation_end_ms, next_probe_ms;
    char **probe; /* new or changed sinks on probation; NULL once acknowledged */
    size_t n_probe;
    char **running_sinks; /* sink_key() of each sink of the running config */
    size_t n_running;

    struct sa_gauge *version_gauge;
    struct sa_counter *polls[N_POLL_RESULTS];
    struct sa_counter *applies[N_APPLY_RESULTS];
};

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* A sink as probation tells them apart: its settings' hash and its name,
 * so that a sink keeping its name but pointed elsewhere is a changed one. */
static char *sink_key(const struct sa_sink_conf *s)
{
    char *key;
    return asprintf(&key, "%s %s", s->settings_hash, s->name) < 0 ? NULL : key;
}

static char **sink_keys(const struct sa_config *cfg, size_t *n)
{
    char **v = calloc(cfg->n_sinks + 1, sizeof *v);
    *n = 0;
    if (!v)
        return NULL;
    for (size_t i = 0; i < cfg->n_sinks; i++)
        if ((v[i] = sink_key(&cfg->sinks[i])))
            *n = i + 1;
    return v;
}

/* Under mu. */
static void audit_locked(struct sa_fleet *f, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void audit_locked(struct sa_fleet *f, const char *kind, const char *fmt, ...)
{
    va_list ap;
    struct audit_row *row;

    if (f->n_audit == MAX_AUDIT) /* the main loop is stuck: keep the newest */
        memmove(f->audit, f->audit + 1, --f->n_audit * sizeof *f->audit);
    row = &f->audit[f->n_audit++];
    snprintf(row->kind, sizeof row->kind, "%s", kind);
    va_start(ap, fmt);
    vsnprintf(row->detail, sizeof row->detail, fmt, ap);
    va_end(ap);
    pthread_cond_broadcast(&f->cv);
}

/* Under mu: a new status to report. */
static void set_status_locked(struct sa_fleet *f, const char *status, const char *error)
{
    snprintf(f->status, sizeof f->status, "%s", status);
    snprintf(f->error, sizeof f->error, "%s", error ? error : "");
    f->report_due = 1;
    pthread_cond_broadcast(&f->cv);
}

/* --- the effective config ------------------------------------------------ */

static int written(const struct sa_conf_origin *o, const char *key)
{
    for (size_t i = 0; i < o->n_keys; i++)
        if (!key || strcmp(o->keys[i].key, key) == 0)
            return 1;
    return 0;
}

int sa_fleet_check_remote(const struct sa_config *r, struct sa_err *err)
{
    static const char *const agent_keys[] = {"id", "data_dir", "schemas_dir"};

    for (size_t i = 0; i < 3; i++)
        if (written(&r->agent_origin, agent_keys[i]))
            return sa_conf_fail(&r->agent_origin, agent_keys[i], SA_ECONFIG, err,
                                "agent.%s is local-only: a fleet config cannot set it",
                                agent_keys[i]);
    if (written(&r->spool_origin, "path"))
        return sa_conf_fail(&r->spool_origin, "path", SA_ECONFIG, err,
                            "spool.path is local-only: a fleet config cannot set it");
    if (r->admin_origin.line)
        return sa_conf_fail(&r->admin_origin,
                            r->admin_origin.n_keys ? r->admin_origin.keys[0].key
                                                   : "token",
                            SA_ECONFIG, err,
                            "admin is local-only (its token above all): a fleet "
                            "config cannot set it");
    if (r->fleet.enabled)
        return sa_conf_fail(
            &r->fleet_origin,
            r->fleet_origin.n_keys ? r->fleet_origin.keys[0].key : "url", SA_ECONFIG,
            err, "fleet is local-only: a fleet config cannot set it");
    if (r->fleet_version <= 0)
        return sa_err_set(err, SA_ECONFIG,
                          "%s: a fleet config needs a top-level `version:` above 0",
                          r->path);
    return SA_OK;
}

#define SWAP(a, b)                                                                     \
    do {                                                                               \
        __typeof__(a) tmp_ = (a);                                                      \
        (a) = (b);                                                                     \
        (b) = tmp_;                                                                    \
    } while (0)

int sa_fleet_compose(const char *config_path, const char *text, const char *name,
                     struct sa_config **cfg, struct sa_schema_set **schemas,
                     struct sa_err *err)
{
    struct sa_config *local = NULL, *remote = NULL;
    char *dir = NULL;
    const char *slash = strrchr(config_path, '/');
    int rc;

    *cfg = NULL;
    *schemas = NULL;
    dir = slash ? strndup(config_path, (size_t)(slash - config_path)
                                           ? (size_t)(slash - config_path)
                                           : 1)
                : strdup(".");
    if (!dir)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    if ((rc = sa_config_load(config_path, &local, err)))
        goto out;
    if ((rc = sa_config_load_string_at(text, name, dir, &remote, err)))
        goto out;
    if ((rc = sa_fleet_check_remote(remote, err)))
        goto out;
    /* The local-only keys come from the local file. */
    SWAP(remote->agent.id, local->agent.id);
    SWAP(remote->agent.data_dir, local->agent.data_dir);
    SWAP(remote->agent.schemas_dir, local->agent.schemas_dir);
    SWAP(remote->spool.path, local->spool.path);
    SWAP(remote->admin, local->admin);
    SWAP(remote->admin_origin, local->admin_origin);
    SWAP(remote->fleet, local->fleet);
    SWAP(remote->fleet_origin, local->fleet_origin);
    /* origins borrow their file name from their config */
    remote->admin_origin.file = remote->admin_origin.file ? remote->path : NULL;
    remote->fleet_origin.file = remote->fleet_origin.file ? remote->path : NULL;
    local->admin_origin.file = local->admin_origin.file ? local->path : NULL;
    local->fleet_origin.file = local->fleet_origin.file ? local->path : NULL;
    for (size_t i = 0; i < remote->n_sinks; i++)
        remote->sinks[i].agent_id = remote->agent.id;
    /* validated as `check` does */
    if ((rc = sa_cli_load_schemas(remote, schemas, err)))
        goto out;
    if ((rc = sa_config_check(remote, *schemas, err))) {
        sa_schemas_free(*schemas);
        *schemas = NULL;
        goto out;
    }
    *cfg = remote;
    remote = NULL;
out:
    sa_config_free(remote);
    sa_config_free(local);
    free(dir);
    return rc;
}

/* The good config to fall back on: the last good fleet config, else the
 * local file alone. */
static int compose_good(struct sa_fleet *f, const char *good_text,
                        struct sa_config **cfg, struct sa_schema_set **schemas,
                        struct sa_err *err)
{
    if (good_text)
        return sa_fleet_compose(f->config_path, good_text, f->name, cfg, schemas, err);
    return sa_cli_load(f->config_path, cfg, schemas, err);
}

/* --- setup --------------------------------------------------------------- */

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!fp)
        return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
        fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    fclose(fp);
    return buf;
}

int sa_fleet_open(struct sa_fleet **out, const char *config_path, struct sa_err *err)
{
    struct sa_metrics *m = sa_metrics_global();
    struct sa_fleet *f = calloc(1, sizeof *f);
    const char *url;
    int rc = SA_ENOMEM;

    *out = NULL;
    if (!f)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    snprintf(f->status, sizeof f->status, "APPLIED");
    if ((rc = sa_config_load(config_path, &f->local, err)))
        goto fail;
    url = f->local->fleet.http.url;
    if (!(f->config_path = strdup(config_path)) ||
        asprintf(&f->good_path, "%s/fleet/good.yaml", f->local->agent.data_dir) < 0 ||
        asprintf(&f->status_path, "/status/%s.json", f->local->agent.id) < 0 ||
        asprintf(&f->name, "%s/config.yaml", url) < 0) {
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        goto fail;
    }
    {
        char failed[4096], dir[4096];
        snprintf(dir, sizeof dir, "%s/fleet", f->local->agent.data_dir);
        if (sa_mkdirs(dir, 0755, failed, sizeof failed) != 0) {
            rc = sa_err_set(err, SA_EIO, "%s: cannot create: %s", failed,
                            strerror(errno));
            goto fail;
        }
    }
    if ((f->good_text = read_file(f->good_path))) {
        struct sa_config *g = NULL;
        struct sa_err gerr = {0};
        if (sa_config_load_string(f->good_text, f->good_path, &g, &gerr) == SA_OK) {
            f->good_version = f->cur_version = g->fleet_version;
        } else {
            sa_log_warn("fleet: the last good config does not load; starting on "
                        "the local file",
                        "error", gerr.msg);
            free(f->good_text);
            f->good_text = NULL;
        }
        sa_config_free(g);
    }
    if (f->good_text && !(f->cur_text = strdup(f->good_text))) {
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        goto fail;
    }
    rc = sa_metrics_gauge(m, "syncagent_config_version",
                          "Version of the fleet config the agent runs (0: the "
                          "local file alone).",
                          NULL, &f->version_gauge, err);
    for (int i = 0; rc == SA_OK && i < N_POLL_RESULTS; i++)
        rc = sa_metrics_counter(m, "syncagent_fleet_polls_total",
                                "Polls of the fleet server, by result: not_modified, "
                                "new, refused, skipped (not selected), deferred (a "
                                "newer config waits for the probation to end), error.",
                                (const char *[]){"result", poll_result_names[i], NULL},
                                &f->polls[i], err);
    for (int i = 0; rc == SA_OK && i < N_APPLY_RESULTS; i++)
        rc = sa_metrics_counter(m, "syncagent_fleet_applies_total",
                                "Fleet configs taken to apply, by outcome: applied "
                                "(started, on probation), failed (did not start), "
                                "rolled_back (failed its probation).",
                                (const char *[]){"result", apply_result_names[i], NULL},
                                &f->applies[i], err);
    if (rc)
        goto fail;
    sa_gauge_set(f->version_gauge, (double)f->cur_version);
    *out = f;
    return SA_OK;
fail:
    sa_fleet_stop(f);
    return rc;
}

void sa_fleet_initial(struct sa_fleet *f, struct sa_config **cfg,
                      struct sa_schema_set **schemas)
{
    struct sa_config *c = NULL;
    struct sa_schema_set *s = NULL;
    struct sa_err err = {0};

    if (f->good_text) {
        if (sa_fleet_compose(f->config_path, f->good_text, f->name, &c, &s, &err) ==
            SA_OK) {
            sa_schemas_free(*schemas);
            sa_config_free(*cfg);
            *cfg = c;
            *schemas = s;
            sa_logf(SA_LOG_INFO, "fleet: starting on the last good fleet config",
                    "version=%lld", (long long)f->good_version);
        } else {
            sa_log_warn("fleet: the last good config is no longer valid here; "
                        "starting on the local file",
                        "error", err.msg);
            free(f->good_text);
            free(f->cur_text);
            f->good_text = f->cur_text = NULL;
            f->good_version = f->cur_version = 0;
        }
    }
    f->running_sinks = sink_keys(*cfg, &f->n_running);
    sa_gauge_set(f->version_gauge, (double)f->cur_version);
}

/* --- the poll thread ----------------------------------------------------- */

static void iso_time(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!ms) {
        snprintf(out, n, "%s", "");
        return;
    }
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void report(struct sa_fleet *f, struct sa_http_client *client)
{
    char applied[32], polled[32], *body;
    json_t *labels = json_object(), *doc;
    struct sa_http_request req = {.method = "PUT", .path = f->status_path};
    struct sa_err err = {0};
    long status = 0;

    for (size_t i = 0; i < f->local->fleet.labels.n; i++)
        json_object_set_new(labels, f->local->fleet.labels.v[i].key,
                            json_string(f->local->fleet.labels.v[i].value));
    pthread_mutex_lock(&f->mu);
    iso_time(f->applied_at_ms, applied, sizeof applied);
    iso_time(f->last_poll_ms, polled, sizeof polled);
    doc = json_pack("{s:s, s:o, s:I, s:s, s:s, s:s, s:s, s:I}", "agent_id",
                    f->local->agent.id, "labels", labels, "version",
                    (json_int_t)f->cur_version, "status", f->status, "error", f->error,
                    "applied_at", applied, "last_poll", polled, "poll_interval_ms",
                    (json_int_t)f->local->fleet.poll_interval_ms);
    f->report_due = 0;
    pthread_mutex_unlock(&f->mu);
    body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!body)
        return;
    req.headers = (const char *const[]){"Content-Type: application/json", NULL};
    sa_buf_init(&req.body, SA_FLEET_MAX_BYTES);
    if (sa_buf_append(&req.body, body, strlen(body)) == SA_OK &&
        sa_http_call(client, &req, &status, NULL, NULL, &err) == SA_OK &&
        (status < 200 || status > 299))
        sa_err_set(&err, SA_ESINK, "PUT %s: HTTP %ld", f->status_path, status);
    sa_buf_fini(&req.body);
    free(body);
    if (err.rc) {
        sa_log_warn("fleet: cannot report the status", "error", err.msg);
        pthread_mutex_lock(&f->mu);
        f->report_failed = 1; /* again after the next poll, not at once */
        pthread_mutex_unlock(&f->mu);
    }
}

/* GET path into body; SA_OK with *status, or SA_EAGAIN on a transport
 * failure. */
static int get(struct sa_http_client *client, const char *path, const char *etag,
               long *status, struct sa_buf *body, struct sa_err *err)
{
    char inm[SA_HTTP_ETAG_MAX + 32];
    struct sa_http_request req = {.method = "GET", .path = path};

    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    req.headers = etag && *etag ? (const char *const[]){inm, NULL} : NULL;
    sa_buf_init(&req.body, 0);
    return sa_http_call(client, &req, status, body, NULL, err);
}

/* Refuse a fetched config (under mu). The same refusal again (a bad
 * signature is fetched again on every poll) is neither logged nor
 * reported twice. */
static void refuse_locked(struct sa_fleet *f, int64_t version, const char *why)
{
    if (strcmp(f->status, "REFUSED") == 0 && strcmp(f->error, why) == 0)
        return;
    sa_log_warn("fleet: config refused", "error", why);
    audit_locked(f, "fleet_refused", "version=%lld %s", (long long)version, why);
    set_status_locked(f, "REFUSED", why);
}

/* a and b equal but for their digits ("after 3 ms" and "after 0 ms"). */
static int same_but_numbers(const char *a, const char *b)
{
    for (;; a++, b++) {
        while (*a >= '0' && *a <= '9')
            a++;
        while (*b >= '0' && *b <= '9')
            b++;
        if (*a != *b)
            return 0;
        if (!*a)
            return 1;
    }
}

/* One poll; returns its result. etag: the last processed one, updated. */
static enum poll_result poll_once(struct sa_fleet *f, struct sa_http_client *client,
                                  char *etag)
{
    struct sa_buf text, sigtext;
    unsigned char sig[SA_FLEET_SIG_BYTES];
    struct sa_config *cfg = NULL;
    struct sa_schema_set *schemas = NULL;
    struct sa_err err = {0};
    enum poll_result res = POLL_ERROR;
    char new_etag[SA_HTTP_ETAG_MAX];
    long status = 0;
    int64_t version;
    int sig_bad = 0;

    sa_buf_init(&text, SA_FLEET_MAX_BYTES);
    sa_buf_init(&sigtext, SA_FLEET_MAX_BYTES);
    if (get(client, "/config.yaml", etag, &status, &text, &err))
        goto out;
    snprintf(new_etag, sizeof new_etag, "%s", sa_http_last_etag(client));
    if (status == 304) {
        res = POLL_NOT_MODIFIED;
        goto out;
    }
    if (status != 200) {
        sa_err_set(&err, SA_ESINK, "GET %s: HTTP %ld", f->name, status);
        goto out;
    }
    /* The bytes that run already (a restart, a server without ETags): the
     * same as a 304, not a replay to refuse. Other bytes while a config
     * is pending or on probation (F3) wait: the ETag is not kept, so the
     * first poll after the probation fetches them. */
    pthread_mutex_lock(&f->mu);
    if (f->cur_text && strcmp(f->cur_text, (const char *)text.data) == 0)
        res = POLL_NOT_MODIFIED;
    else if (f->pending_cfg || f->applying || f->in_probation)
        res = POLL_DEFERRED;
    pthread_mutex_unlock(&f->mu);
    if (res == POLL_NOT_MODIFIED) {
        snprintf(etag, SA_HTTP_ETAG_MAX, "%s", new_etag);
        goto out;
    }
    if (res == POLL_DEFERRED)
        goto out;
    if (get(client, "/config.yaml.sig", NULL, &status, &sigtext, &err))
        goto out;
    res = POLL_REFUSED;
    sig_bad = 1;
    if (status == 404)
        sa_err_set(&err, SA_EPARSE, "bad signature: %s.sig is missing", f->name);
    else if (status != 200) {
        sa_err_set(&err, SA_ESINK, "GET %s.sig: HTTP %ld", f->name, status);
        res = POLL_ERROR;
        goto out;
    } else if (memchr(text.data, '\0', text.len)) {
        sa_err_set(&err, SA_EPARSE, "%s: contains a NUL byte", f->name);
    } else if (sa_fleet_sig_parse(sigtext.data, sigtext.len, sig, &err) == SA_OK) {
        if (sa_fleet_verify(&f->local->fleet.public_keys, text.data, text.len, sig,
                            &err) == SA_OK) {
            sig_bad = 0;
            sa_fleet_compose(f->config_path, (const char *)text.data, f->name, &cfg,
                             &schemas, &err);
        }
    } else {
        sa_err_prefix(&err, "bad signature: ");
    }
    pthread_mutex_lock(&f->mu);
    version = cfg ? cfg->fleet_version : 0;
    if (!cfg) {
        refuse_locked(f, 0, err.msg);
    } else if (version <= f->cur_version) {
        char why[SA_ERR_MSG_MAX];
        snprintf(why, sizeof why,
                 "rollback refused: version %lld is not above the applied "
                 "version %lld",
                 (long long)version, (long long)f->cur_version);
        refuse_locked(f, version, why);
    } else if (version == f->rolled_back_version) {
        res = POLL_SKIPPED; /* reported when it was rolled back */
    } else if ((int64_t)sa_fleet_bucket(f->local->agent.id) >= cfg->rollout.percent ||
               !sa_fleet_labels_match(&cfg->selector.labels, &f->local->fleet.labels)) {
        res = POLL_SKIPPED;
        sa_logf(SA_LOG_INFO, "fleet: config not for this agent (rollout or selector)",
                "version=%lld bucket=%u percent=%lld", (long long)version,
                sa_fleet_bucket(f->local->agent.id), (long long)cfg->rollout.percent);
    } else if (!(f->pending_text = strdup((const char *)text.data))) {
        res = POLL_ERROR;
        sa_err_set(&err, SA_ENOMEM, "out of memory");
    } else {
        res = POLL_NEW;
        f->pending_cfg = cfg;
        f->pending_schemas = schemas;
        f->pending_version = version;
        cfg = NULL;
        schemas = NULL;
        audit_locked(f, "fleet_fetched", "version=%lld", (long long)version);
    }
    pthread_mutex_unlock(&f->mu);
    /* Processed: the same bytes again are a 304. Not after a bad signature:
     * the signature may be what changes next (config.yaml written before
     * config.yaml.sig), so the pair is fetched again on every poll. */
    if (res != POLL_ERROR && !sig_bad)
        snprintf(etag, SA_HTTP_ETAG_MAX, "%s", new_etag);
out:
    /* Once per streak of the same failure: a fleet server down for an
     * hour is one line, and one more when it is back. */
    if (res == POLL_ERROR && !same_but_numbers(f->last_poll_error, err.msg))
        sa_log_warn("fleet: poll failed; running on as before", "error", err.msg);
    else if (res != POLL_ERROR && f->last_poll_error[0])
        sa_log_info("fleet: polling again");
    snprintf(f->last_poll_error, sizeof f->last_poll_error, "%s",
             res == POLL_ERROR ? err.msg : "");
    sa_config_free(cfg);
    sa_schemas_free(schemas);
    sa_buf_fini(&text);
    sa_buf_fini(&sigtext);
    return res;
}

/* Write the queued audit rows on the poll thread's own spool connection:
 * the writer's belongs to the pipeline (SQLite NOMUTEX, one thread each),
 * and another connection is what SQLite's locking is for. */
static void write_audit(struct sa_fleet *f, struct sa_spool **spool)
{
    struct audit_row rows[MAX_AUDIT];
    struct sa_err err = {0};
    size_t n;

    pthread_mutex_lock(&f->mu);
    n = f->n_audit;
    memcpy(rows, f->audit, n * sizeof *rows);
    f->n_audit = 0;
    pthread_mutex_unlock(&f->mu);
    if (!n)
        return;
    if (!*spool && sa_spool_open(spool, &f->local->spool, SA_SPOOL_QUIET, &err)) {
        sa_log_warn("fleet: cannot open the spool for audit", "error", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (sa_spool_audit(*spool, rows[i].kind, rows[i].detail, &err))
            sa_log_warn("fleet: cannot write an audit row", "error", err.msg);
}

static void *poll_main(void *arg)
{
    struct sa_fleet *f = arg;
    struct sa_http_client *client = NULL;
    struct sa_spool *audit_spool = NULL;
    struct sa_err err = {0};
    char etag[SA_HTTP_ETAG_MAX] = "";
    unsigned seed =
        (unsigned)getpid() ^ sa_fleet_bucket(f->local->agent.id) * 2654435761u;
    int since_report = 0;

    sa_thread_name("fleet");
    if (sa_http_client_new(&f->local->fleet.http, "fleet", &client, &err)) {
        sa_log_error("fleet: no HTTP client; not polling", "error", err.msg);
        return NULL;
    }
    pthread_mutex_lock(&f->mu);
    f->report_due = 1; /* say who we are at start */
    while (!f->stopping) {
        enum poll_result res;
        int64_t wait_ms;
        struct timespec until;

        pthread_mutex_unlock(&f->mu);
        /* Polled during a probation too: the heartbeat and last_poll go
         * on, and a newer config is seen (deferred, see poll_once). */
        res = poll_once(f, client, etag);
        sa_counter_inc(f->polls[res]);
        pthread_mutex_lock(&f->mu);
        f->last_poll_ms = sa_now_ms();
        if (++since_report >= HEARTBEAT_POLLS || f->report_failed)
            f->report_due = 1;
        f->report_failed = 0;
        pthread_mutex_unlock(&f->mu);
        write_audit(f, &audit_spool);
        pthread_mutex_lock(&f->mu);
        if (f->report_due) {
            pthread_mutex_unlock(&f->mu);
            report(f, client);
            since_report = 0;
            pthread_mutex_lock(&f->mu);
        }
        /* poll_interval, jittered by up to a fifth either way */
        wait_ms = f->local->fleet.poll_interval_ms;
        wait_ms +=
            (int64_t)((double)wait_ms * 0.4 * ((double)rand_r(&seed) / RAND_MAX - 0.5));
        clock_gettime(CLOCK_REALTIME, &until);
        sa_timespec_add_ms(&until, wait_ms);
        while (!f->stopping && !f->report_due && !f->n_audit &&
               pthread_cond_timedwait(&f->cv, &f->mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&f->mu);
    write_audit(f, &audit_spool);
    report(f, client); /* last words: what runs at stop */
    sa_spool_close(audit_spool);
    sa_http_client_free(client);
    return NULL;
}

int sa_fleet_start(struct sa_fleet *f, struct sa_err *err)
{
    int e = pthread_create(&f->thread, NULL, poll_main, f);
    if (e)
        return sa_err_set(err, SA_EIO, "fleet: cannot start the poll thread: %s",
                          strerror(e));
    f->started = 1;
    return SA_OK;
}

/* --- the main thread's side ---------------------------------------------- */

static void write_good_locked(struct sa_fleet *f)
{
    if (sa_write_atomic(f->good_path, f->good_text, strlen(f->good_text), 0644) != 0)
        sa_logf(SA_LOG_WARN,
                "fleet: cannot keep the good config; a restart runs "
                "on the previous one",
                "path=%s error=\"%s\"", f->good_path, strerror(errno));
}

static enum sa_fleet_action rollback_locked(struct sa_fleet *f, const char *why,
                                            struct sa_config **cfg,
                                            struct sa_schema_set **schemas);

static enum sa_fleet_action probation_check(struct sa_fleet *f, struct sa_dispatcher *d,
                                            struct sa_config **cfg,
                                            struct sa_schema_set **schemas)
{
    struct sa_sink_metrics m[64];
    int64_t now = sa_mono_ms();
    size_t n;
    char why[SA_ERR_MSG_MAX] = "";

    if (now < f->next_probe_ms)
        return SA_FLEET_NONE;
    f->next_probe_ms = now + PROBE_EVERY_MS;
    n = sa_dispatcher_metrics(d, m, 64);
    for (size_t p = 0; p < f->n_probe; p++)
        for (size_t i = 0; f->probe[p] && i < n; i++)
            if (strcmp(m[i].name, f->probe[p]) == 0) {
                if (m[i].acked > 0) {
                    free(f->probe[p]);
                    f->probe[p] = NULL;
                } else if (now >= f->probation_end_ms && m[i].failing_since_ms &&
                           !why[0]) {
                    snprintf(
                        why, sizeof why,
                        "sink %s: no acknowledgement in the %llds of probation: %s",
                        m[i].name, (long long)f->local->fleet.probation_ms / 1000,
                        m[i].last_error);
                }
            }
    if (now < f->probation_end_ms)
        return SA_FLEET_NONE;
    free_names(f->probe, f->n_probe);
    f->probe = NULL;
    f->n_probe = 0;
    pthread_mutex_lock(&f->mu);
    f->in_probation = 0; /* the poll thread reads it under mu */
    if (!why[0]) {
        free(f->good_text);
        f->good_text = strdup(f->cur_text);
        f->good_version = f->cur_version;
        if (f->good_text)
            write_good_locked(f);
        audit_locked(f, "fleet_good", "version=%lld passed probation",
                     (long long)f->cur_version);
        sa_logf(SA_LOG_INFO, "fleet: config passed probation", "version=%lld",
                (long long)f->cur_version);
        pthread_mutex_unlock(&f->mu);
        return SA_FLEET_NONE;
    }
    return rollback_locked(f, why, cfg, schemas);
}

/* Under mu, which it releases: back to the last good config, for why. */
static enum sa_fleet_action rollback_locked(struct sa_fleet *f, const char *why,
                                            struct sa_config **cfg,
                                            struct sa_schema_set **schemas)
{
    struct sa_err err = {0};

    sa_log_error("fleet: rolling back to the last good config", "error", why);
    audit_locked(f, "fleet_rolled_back", "version=%lld %s", (long long)f->cur_version,
                 why);
    f->rolled_back_version = f->cur_version;
    sa_counter_inc(f->applies[APPLY_ROLLED_BACK]);
    if (compose_good(f, f->good_text, cfg, schemas, &err)) {
        /* The good config no longer composes (the local file changed):
         * stay on the new one and say so. */
        set_status_locked(f, "FAILED", err.msg);
        pthread_mutex_unlock(&f->mu);
        return SA_FLEET_NONE;
    }
    free(f->cur_text);
    f->cur_text = f->good_text ? strdup(f->good_text) : NULL;
    f->cur_version = f->good_version;
    set_status_locked(f, "ROLLED_BACK", why);
    pthread_mutex_unlock(&f->mu);
    return SA_FLEET_ROLLBACK;
}

enum sa_fleet_action sa_fleet_tick(struct sa_fleet *f, struct sa_dispatcher *d,
                                   struct sa_spool *spool, struct sa_config **cfg,
                                   struct sa_schema_set **schemas)
{
    enum sa_fleet_action act = SA_FLEET_NONE;
    (void)spool;
    pthread_mutex_lock(&f->mu);
    if (f->pending_cfg && !f->in_probation) {
        size_t n_new = 0;
        *cfg = f->pending_cfg;
        *schemas = f->pending_schemas;
        f->pending_cfg = NULL;
        f->pending_schemas = NULL;
        f->applying = 1;
        /* The sinks on probation: those the running config does not have
         * with the same name and settings (new or changed). */
        free_names(f->probe, f->n_probe);
        f->probe = calloc((*cfg)->n_sinks + 1, sizeof *f->probe);
        for (size_t i = 0; f->probe && i < (*cfg)->n_sinks; i++) {
            char *key = sink_key(&(*cfg)->sinks[i]);
            size_t j;
            for (j = 0; key && j < f->n_running; j++)
                if (strcmp(f->running_sinks[j], key) == 0)
                    break;
            if (!key || j == f->n_running)
                f->probe[n_new++] = strdup((*cfg)->sinks[i].name);
            free(key);
        }
        f->n_probe = n_new;
        act = SA_FLEET_APPLY;
    }
    pthread_mutex_unlock(&f->mu);
    if (act == SA_FLEET_NONE && f->in_probation)
        act = probation_check(f, d, cfg, schemas);
    return act;
}

int sa_fleet_started(struct sa_fleet *f, int rc, const char *why,
                     struct sa_config **cfg, struct sa_schema_set **schemas)
{
    struct sa_err err = {0};
    int again = 0;

    pthread_mutex_lock(&f->mu);
    if (!f->applying) { /* a rollback, or a SIGHUP reload */
        if (rc == SA_OK && *cfg) {
            free_names(f->running_sinks, f->n_running);
            f->running_sinks = sink_keys(*cfg, &f->n_running);
        }
        sa_gauge_set(f->version_gauge, (double)f->cur_version);
        pthread_mutex_unlock(&f->mu);
        return 0;
    }
    f->applying = 0;
    if (rc == SA_OK) {
        free(f->cur_text);
        f->cur_text = f->pending_text;
        f->pending_text = NULL;
        f->cur_version = f->pending_version;
        f->applied_at_ms = sa_now_ms();
        free_names(f->running_sinks, f->n_running);
        f->running_sinks = sink_keys(*cfg, &f->n_running);
        audit_locked(f, "fleet_applied", "version=%lld", (long long)f->cur_version);
        sa_counter_inc(f->applies[APPLY_APPLIED]);
        set_status_locked(f, "APPLIED", NULL);
        sa_logf(SA_LOG_INFO, "fleet: config applied", "version=%lld probation_ms=%lld",
                (long long)f->cur_version, (long long)f->local->fleet.probation_ms);
        f->in_probation = 1;
        f->probation_end_ms = sa_mono_ms() + f->local->fleet.probation_ms;
        f->next_probe_ms = 0;
    } else {
        char msg[SA_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "cannot start on version %lld: %s",
                 (long long)f->pending_version, why ? why : "");
        sa_log_error("fleet: config failed; back to the last good one", "error", msg);
        audit_locked(f, "fleet_failed", "version=%lld %s",
                     (long long)f->pending_version, msg);
        f->rolled_back_version = f->pending_version;
        sa_counter_inc(f->applies[APPLY_FAILED]);
        free(f->pending_text);
        f->pending_text = NULL;
        set_status_locked(f, "FAILED", msg);
        *cfg = NULL;
        *schemas = NULL;
        if (compose_good(f, f->good_text, cfg, schemas, &err) == SA_OK) {
            free(f->cur_text);
            f->cur_text = f->good_text ? strdup(f->good_text) : NULL;
            f->cur_version = f->good_version;
            again = 1;
        } else {
            sa_log_error("fleet: the last good config does not start either", "error",
                         err.msg);
        }
    }
    sa_gauge_set(f->version_gauge, (double)f->cur_version);
    pthread_mutex_unlock(&f->mu);
    return again;
}

void sa_fleet_stop(struct sa_fleet *f)
{
    if (!f)
        return;
    if (f->started) {
        pthread_mutex_lock(&f->mu);
        f->stopping = 1;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
    }
    sa_config_free(f->pending_cfg);
    sa_schemas_free(f->pending_schemas);
    free(f->pending_text);
    free(f->good_text);
    free(f->cur_text);
    free_names(f->probe, f->n_probe);
    free_names(f->running_sinks, f->n_running);
    sa_config_free(f->local);
    free(f->config_path);
    free(f->local_dir);
    free(f->good_path);
    free(f->status_path);
    free(f->name);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

int sa_fleet_pipeline_failed(struct sa_fleet *f, const char *why,
                             struct sa_config **cfg, struct sa_schema_set **schemas)
{
    char msg[SA_ERR_MSG_MAX];

    if (!f->in_probation)
        return 0;
    free_names(f->probe, f->n_probe);
    f->probe = NULL;
    f->n_probe = 0;
    snprintf(msg, sizeof msg, "the pipeline failed in probation: %s", why);
    pthread_mutex_lock(&f->mu);
    f->in_probation = 0;
    return rollback_locked(f, msg, cfg, schemas) == SA_FLEET_ROLLBACK;
}

int sa_fleet_reload(struct sa_fleet *f, struct sa_config **cfg,
                    struct sa_schema_set **schemas, struct sa_err *err)
{
    char *text = NULL;
    int rc;

    pthread_mutex_lock(&f->mu);
    if (f->cur_text && !(text = strdup(f->cur_text))) {
        pthread_mutex_unlock(&f->mu);
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&f->mu);
    rc = compose_good(f, text, cfg, schemas, err);
    free(text);
    return rc;
}
