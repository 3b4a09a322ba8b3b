/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sample ring behind the status page; see series.h.
 *
 * Threads: one sampler thread (sa_series_start) calls sa_series_sample
 * every interval; the admin server's threads call sa_series_json. Both
 * hold s->mu, the sampler around the registry's visit (lock order: s->mu,
 * then the registry's mutex; the registry never calls back into us but
 * from that visit), so a reader sees whole samples only.
 *
 * Layout: slot i of the ring holds t_ms[i] and, for each track (one
 * metric's value for one stream, one sink, or the agent), values[i].
 * `head` is the slot the next sample goes to, `n` how many slots are
 * filled; the oldest is (head - n) mod capacity. A track that appears late
 * starts as NaN (null in JSON) in the slots before it.
 */
#include "agent/admin/series.h"

#include "agent/base/clock.h"
#include "agent/base/thread.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What the page charts: a metric, the label that splits it (its other
 * labels are summed, e.g. a stream's sources), and where it goes in JSON. */
struct field {
    const char *metric;
    const char *by;    /* label name, or NULL: one value for the agent */
    const char *group; /* "streams", "sinks" or "agent" */
    const char *name;
};

static const struct field fields[] = {
    {"syncagent_records_ingested_total", "stream", "streams", "ingested"},
    {"syncagent_records_rejected_total", "stream", "streams", "rejected"},
    {"syncagent_quality_failures_total", "stream", "streams", "quality_failures"},
    {"syncagent_deadletters", "stream", "streams", "deadletters"},
    {"syncagent_records_acked_total", "sink", "sinks", "acked"},
    {"syncagent_records_superseded_total", "sink", "sinks", "superseded"},
    {"syncagent_sink_lag_records", "sink", "sinks", "lag_records"},
    {"syncagent_sink_lag_seconds", "sink", "sinks", "lag_seconds"},
    {"syncagent_sink_up", "sink", "sinks", "up"},
    {"syncagent_spool_bytes", NULL, "agent", "spool_bytes"},
    {"syncagent_spool_max_bytes", NULL, "agent", "spool_max_bytes"},
    {"syncagent_ingest_paused", NULL, "agent", "ingest_paused"},
};
#define N_FIELDS (sizeof fields / sizeof fields[0])
/* Longer stream or sink names are left out rather than kept whole. */
#define MAX_KEY 256

struct track {
    size_t field;
    char *key;      /* the `by` label's value; "" for the agent */
    double *values; /* capacity slots */
    double pending; /* this sample's sum */
    int seen;       /* pending holds a value */
};

struct sa_series {
    struct sa_metrics *metrics;
    int64_t interval_ms;
    size_t capacity;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started, stop;
    int64_t *t_ms;
    size_t head, n;
    struct track tracks[SA_SERIES_MAX_TRACKS];
    size_t n_tracks;
};

int sa_series_new(struct sa_metrics *metrics, int64_t interval_ms, size_t capacity,
                  struct sa_series **out, struct sa_err *err)
{
    struct sa_series *s;
    pthread_condattr_t attr;

    *out = NULL;
    if (!metrics || interval_ms <= 0 || capacity < 2)
        return sa_err_set(err, SA_EINVAL, "series: bad interval or capacity");
    s = calloc(1, sizeof *s);
    if (!s || !(s->t_ms = calloc(capacity, sizeof *s->t_ms))) {
        free(s);
        return sa_err_set(err, SA_ENOMEM, "series: out of memory");
    }
    s->metrics = metrics;
    s->interval_ms = interval_ms;
    s->capacity = capacity;
    pthread_mutex_init(&s->mu, NULL);
    /* Waits on the monotonic clock: a wall-clock jump must not stop the
     * samples or take a burst of them. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &attr);
    pthread_condattr_destroy(&attr);
    *out = s;
    return SA_OK;
}

void sa_series_free(struct sa_series *s)
{
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    for (size_t i = 0; i < s->n_tracks; i++) {
        free(s->tracks[i].key);
        free(s->tracks[i].values);
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->t_ms);
    free(s);
}

/* The track of (field, key), created (all NaN) when new; NULL when the
 * ring holds SA_SERIES_MAX_TRACKS already or memory is short. */
static struct track *track_of(struct sa_series *s, size_t field, const char *key)
{
    struct track *t;

    for (size_t i = 0; i < s->n_tracks; i++)
        if (s->tracks[i].field == field && strcmp(s->tracks[i].key, key) == 0)
            return &s->tracks[i];
    if (s->n_tracks == SA_SERIES_MAX_TRACKS)
        return NULL;
    t = &s->tracks[s->n_tracks];
    t->values = malloc(s->capacity * sizeof *t->values);
    t->key = strdup(key);
    if (!t->values || !t->key) {
        free(t->values);
        free(t->key);
        t->values = NULL;
        t->key = NULL;
        return NULL;
    }
    for (size_t i = 0; i < s->capacity; i++)
        t->values[i] = NAN;
    t->field = field;
    t->seen = 0;
    s->n_tracks++;
    return t;
}

static void visit(const struct sa_metric_sample *m, void *arg)
{
    struct sa_series *s = arg;
    const char *key = "";
    struct track *t;
    size_t f;

    if (m->type == SA_METRIC_HISTOGRAM)
        return;
    for (f = 0; f < N_FIELDS; f++)
        if (strcmp(m->name, fields[f].metric) == 0)
            break;
    if (f == N_FIELDS)
        return;
    if (fields[f].by) {
        key = NULL;
        for (size_t i = 0; i < m->n_labels; i++)
            if (strcmp(m->label_names[i], fields[f].by) == 0)
                key = m->label_values[i];
        if (!key || strlen(key) >= MAX_KEY)
            return;
    }
    t = track_of(s, f, key);
    if (!t || !isfinite(m->value))
        return;
    t->pending = t->seen ? t->pending + m->value : m->value;
    t->seen = 1;
}

void sa_series_sample(struct sa_series *s, int64_t now_ms)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_tracks; i++)
        s->tracks[i].seen = 0;
    sa_metrics_visit(s->metrics, visit, s);
    s->t_ms[s->head] = now_ms;
    for (size_t i = 0; i < s->n_tracks; i++)
        s->tracks[i].values[s->head] = s->tracks[i].seen ? s->tracks[i].pending : NAN;
    s->head = (s->head + 1) % s->capacity;
    if (s->n < s->capacity)
        s->n++;
    pthread_mutex_unlock(&s->mu);
}

static void *run(void *arg)
{
    struct sa_series *s = arg;
    struct timespec next;

    sa_thread_name("metric-series");
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        pthread_mutex_unlock(&s->mu);
        sa_series_sample(s, sa_now_ms());
        pthread_mutex_lock(&s->mu);
        /* On a fixed grid, so samples stay interval_ms apart however long
         * one takes (the collectors read the spool). */
        sa_timespec_add_ms(&next, s->interval_ms);
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &next) == 0)
            ;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int sa_series_start(struct sa_series *s, struct sa_err *err)
{
    int rc;

    if (s->started)
        return SA_OK;
    rc = pthread_create(&s->thread, NULL, run, s);
    if (rc != 0)
        return sa_err_set(err, SA_ENOMEM, "series: cannot start its thread: %s",
                          strerror(rc));
    s->started = 1;
    return SA_OK;
}

static int dump_to_buf(const char *data, size_t size, void *arg)
{
    return sa_buf_append(arg, data, size) == SA_OK ? 0 : -1;
}

int sa_series_json(struct sa_series *s, struct sa_buf *out, struct sa_err *err)
{
    json_t *root = json_object(), *t = json_array();
    json_t *groups[3] = {json_object(), json_object(), json_object()};
    static const char *const group_names[3] = {"streams", "sinks", "agent"};
    int rc = SA_OK;
    size_t first;

    if (!root || !t || !groups[0] || !groups[1] || !groups[2]) {
        rc = sa_err_set(err, SA_ENOMEM, "series: out of memory");
        goto out;
    }
    pthread_mutex_lock(&s->mu);
    first = (s->head + s->capacity - s->n) % s->capacity;
    for (size_t k = 0; k < s->n; k++)
        json_array_append_new(t, json_integer(s->t_ms[(first + k) % s->capacity]));
    for (size_t i = 0; i < s->n_tracks; i++) {
        const struct track *tr = &s->tracks[i];
        const struct field *f = &fields[tr->field];
        json_t *group = NULL, *owner, *values = json_array();
        size_t g;

        for (g = 0; g < 3; g++)
            if (strcmp(f->group, group_names[g]) == 0)
                group = groups[g];
        if (f->by) {
            owner = json_object_get(group, tr->key);
            if (!owner) {
                owner = json_object();
                json_object_set_new(group, tr->key, owner);
            }
        } else {
            owner = group;
        }
        for (size_t k = 0; k < s->n; k++) {
            double v = tr->values[(first + k) % s->capacity];
            json_array_append_new(values, isnan(v) ? json_null() : json_real(v));
        }
        json_object_set_new(owner, f->name, values);
    }
    pthread_mutex_unlock(&s->mu);
    json_object_set_new(root, "interval_ms", json_integer(s->interval_ms));
    json_object_set_new(root, "capacity", json_integer((json_int_t)s->capacity));
    json_object_set(root, "t", t);
    for (size_t g = 0; g < 3; g++)
        json_object_set(root, group_names[g], groups[g]);
    if (json_dump_callback(root, dump_to_buf, out, JSON_COMPACT) != 0)
        rc = sa_err_set(err, SA_ETOOBIG, "series: the JSON does not fit its buffer");
out:
    json_decref(root);
    json_decref(t);
    for (size_t g = 0; g < 3; g++)
        json_decref(groups[g]);
    return rc;
}
