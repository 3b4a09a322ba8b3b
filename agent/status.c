/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The status report (status.h): the spool's own status plus each sink's
 * lag, computed from its cursor, and the JSON both `status --json` and the
 * admin server's GET /api/v1/status print.
 */
#include "agent/status.h"

#include "agent/base/clock.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int collect_lags(const struct sa_config *cfg, struct sa_spool *spool,
                        const struct sa_spool_status *st, struct sa_status_sink *lags,
                        struct sa_err *err)
{
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        struct sa_status_sink *l = &lags[i];
        int rc;
        l->conf = &cfg->sinks[i];
        memset(&l->cursor, 0, sizeof l->cursor);
        l->updated_ms = 0;
        l->superseded = 0;
        for (size_t j = 0; j < st->n_sinks; j++)
            if (strcmp(st->sinks[j].sink, l->conf->name) == 0) {
                l->cursor = st->sinks[j].cursor;
                l->updated_ms = st->sinks[j].updated_ms;
                l->superseded = st->sinks[j].superseded;
            }
        rc = sa_spool_lag(spool, &l->cursor, (const char *const *)l->conf->streams.v,
                          l->conf->streams.n, &l->lag_records, &l->oldest_ms, err);
        if (rc)
            return rc;
    }
    return SA_OK;
}

int sa_status_read(const struct sa_config *cfg, struct sa_spool *spool,
                   struct sa_status *out, struct sa_err *err)
{
    int rc;

    memset(out, 0, sizeof *out);
    rc = sa_spool_status(spool, &out->spool, err);
    if (rc)
        return rc;
    out->sinks = calloc(cfg->n_sinks + 1, sizeof *out->sinks);
    if (!out->sinks)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    out->n_sinks = cfg->n_sinks;
    rc = collect_lags(cfg, spool, &out->spool, out->sinks, err);
    if (rc == SA_OK)
        rc = sa_spool_quality_totals(spool, &out->quality, &out->n_quality, err);
    if (rc == SA_OK && out->spool.deadletters_open > 0)
        rc = sa_spool_deadletter_latest(spool, SA_STATUS_LATEST_DEADLETTERS,
                                        &out->latest, &out->n_latest, err);
    return rc;
}

void sa_status_fini(struct sa_status *st)
{
    if (!st)
        return;
    free(st->sinks);
    free(st->quality);
    sa_spool_deadletter_rows_free(st->latest, st->n_latest);
    sa_spool_status_fini(&st->spool);
    memset(st, 0, sizeof *st);
}

double sa_status_lag_seconds(const struct sa_status_sink *sink, int64_t now)
{
    return sink->oldest_ms > 0 && now > sink->oldest_ms
               ? (double)(now - sink->oldest_ms) / 1000.0
               : 0.0;
}

const char *sa_status_quality_action(const char *kind)
{
    return strcmp(kind, "rejected") == 0  ? "reject"
           : strcmp(kind, "dropped") == 0 ? "drop"
                                          : "tag";
}

static json_t *quality_json(const struct sa_rollup_row *q, size_t n_q)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n_q; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "stream", q[i].name,
                                           "rule", q[i].reason, "action",
                                           sa_status_quality_action(q[i].kind),
                                           "records", (json_int_t)q[i].n));
    return a;
}

/* The newest open dead letters: where each came from and why. */
static json_t *latest_json(const struct sa_status *status)
{
    json_t *a = json_array();

    for (size_t i = 0; i < status->n_latest; i++) {
        const struct sa_deadletter_row *d = &status->latest[i];
        json_array_append_new(a, json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "id",
                                           (json_int_t)d->id, "created_ms",
                                           (json_int_t)d->created_ms, "stream",
                                           d->stream, "source", d->source, "location",
                                           d->location, "reason", d->reason));
    }
    return a;
}

char *sa_status_json(const struct sa_config *cfg, const struct sa_status *status)
{
    const struct sa_spool_status *st = &status->spool;
    const struct sa_status_sink *lags = status->sinks;
    int64_t now = sa_now_ms();
    json_t *root = json_object(), *streams = json_array(), *sinks = json_array();
    char *text;

    json_object_set_new(root, "agent_id", json_string(cfg->agent.id));
    json_object_set_new(root, "version", json_string(SA_VERSION));
    json_object_set_new(root, "config_version", json_string(cfg->version));
    json_object_set_new(root, "spool", json_string(cfg->spool.path));
    json_object_set_new(root, "origin_id", json_string(st->origin_id));
    json_object_set_new(root, "next_seq", json_integer((json_int_t)st->next_seq));
    json_object_set_new(root, "file_bytes", json_integer(st->file_bytes));
    json_object_set_new(root, "used_bytes", json_integer(st->used_bytes));
    json_object_set_new(root, "max_bytes", json_integer(cfg->spool.max_bytes));
    for (size_t i = 0; i < st->n_streams; i++)
        json_array_append_new(
            streams, json_pack("{s:s, s:I, s:I, s:I}", "stream", st->streams[i].stream,
                               "segments", (json_int_t)st->streams[i].segments,
                               "records", (json_int_t)st->streams[i].records, "bytes",
                               (json_int_t)st->streams[i].bytes));
    for (size_t i = 0; i < status->n_sinks; i++)
        json_array_append_new(
            sinks, json_pack("{s:s, s:s, s:{s:I, s:I}, s:I, s:f, s:I}", "sink",
                             lags[i].conf->name, "type", lags[i].conf->type, "cursor",
                             "segment_id", (json_int_t)lags[i].cursor.segment_id,
                             "record_index", (json_int_t)lags[i].cursor.record_index,
                             "lag_records", (json_int_t)lags[i].lag_records,
                             "lag_seconds", sa_status_lag_seconds(&lags[i], now),
                             "superseded", (json_int_t)lags[i].superseded));
    json_object_set_new(root, "streams", streams);
    json_object_set_new(root, "sinks", sinks);
    json_object_set_new(root, "deadletters", json_integer(st->deadletters));
    json_object_set_new(root, "quality_failures",
                        quality_json(status->quality, status->n_quality));
    json_object_set_new(root, "deadletters_open", json_integer(st->deadletters_open));
    json_object_set_new(root, "deadletters_latest", latest_json(status));
    json_object_set_new(root, "dropped_records",
                        json_integer(st->audit_dropped_records));
    json_object_set_new(root, "ingest_blocked",
                        st->blocked_since_ms
                            ? json_pack("{s:I, s:s}", "since_ms",
                                        (json_int_t)st->blocked_since_ms, "reason",
                                        st->blocked_reason)
                            : json_null());
    text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    return text;
}
