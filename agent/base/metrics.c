/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics registry (metrics.h): families and series in plain linked
 * lists under one mutex, because they are only walked at setup and on a
 * scrape; the hot path never comes here (it holds a handle into a series).
 * Each series is allocated on its own 64-byte lines (M3).
 */
#include "agent/base/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

const double sa_metrics_latency_buckets[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
const size_t sa_metrics_latency_n_buckets =
    sizeof sa_metrics_latency_buckets / sizeof sa_metrics_latency_buckets[0];

struct series {
    /* The value first: the handle points here, on its own lines (M3). */
    union {
        struct sa_counter counter;
        struct sa_gauge gauge;
        struct sa_histogram histogram;
    } v;
    struct series *next;
    char **label_values;
};

struct family {
    struct family *next;
    char *name;
    char *help;
    enum sa_metric_type type;
    int float_counter; /* a gauge written as TYPE counter */
    size_t n_labels;
    char *label_names[SA_METRICS_MAX_LABELS];
    const double *bounds;
    size_t n_bounds;
    struct series *series, **series_tail;
};

#define MAX_COLLECTORS 32
/* Internal: registration of a float counter (a gauge typed counter). */
#define SA_METRIC_FLOAT_COUNTER ((enum sa_metric_type)99)

struct sa_metrics {
    pthread_mutex_t mutex;
    struct family *families; /* sorted by name */
    /* Collectors run under their own lock, so that they may register. */
    pthread_mutex_t collect_mutex;
    struct {
        sa_metrics_collect_fn fn;
        void *arg;
    } collectors[MAX_COLLECTORS];
};

static void metrics_init(struct sa_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mutex, NULL);
    pthread_mutex_init(&m->collect_mutex, NULL);
}

static void series_free(struct series *s, size_t n_labels)
{
    if (!s)
        return;
    for (size_t i = 0; s->label_values && i < n_labels; i++)
        free(s->label_values[i]);
    free(s->label_values);
    free(s);
}

static void families_free(struct family *f)
{
    while (f) {
        struct family *next = f->next;
        struct series *s = f->series;

        while (s) {
            struct series *sn = s->next;
            series_free(s, f->n_labels);
            s = sn;
        }
        for (size_t i = 0; i < f->n_labels; i++)
            free(f->label_names[i]);
        free(f->name);
        free(f->help);
        free(f);
        f = next;
    }
}

static struct sa_metrics global;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    metrics_init(&global);
}

struct sa_metrics *sa_metrics_global(void)
{
    pthread_once(&global_once, global_init);
    return &global;
}

void sa_metrics_global_reset(void)
{
    struct sa_metrics *m = sa_metrics_global();

    pthread_mutex_lock(&m->mutex);
    families_free(m->families);
    m->families = NULL;
    pthread_mutex_unlock(&m->mutex);
    pthread_mutex_lock(&m->collect_mutex);
    memset(m->collectors, 0, sizeof m->collectors);
    pthread_mutex_unlock(&m->collect_mutex);
}

struct sa_metrics *sa_metrics_new(void)
{
    struct sa_metrics *m = malloc(sizeof *m);

    if (m)
        metrics_init(m);
    return m;
}

void sa_metrics_free(struct sa_metrics *m)
{
    if (!m || m == &global)
        return;
    families_free(m->families);
    pthread_mutex_destroy(&m->mutex);
    pthread_mutex_destroy(&m->collect_mutex);
    free(m);
}

static int valid_name(const char *s, int label)
{
    if (!s || !*s)
        return 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (!label && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    /* Names starting with __ are reserved for Prometheus's own labels. */
    return !(label && s[0] == '_' && s[1] == '_');
}

static const char *type_name(enum sa_metric_type t)
{
    return t == SA_METRIC_COUNTER ? "counter"
           : t == SA_METRIC_GAUGE ? "gauge"
                                  : "histogram";
}

/* Find or create the family and the series; mutex held by the caller. */
static int lookup(struct sa_metrics *m, enum sa_metric_type type, int float_counter,
                  const char *name, const char *help, const char *const *labels,
                  const double *bounds, size_t n_bounds, struct series **out,
                  struct sa_err *err)
{
    struct family *f, **link;
    struct series *s = NULL;
    size_t n_labels = 0;
    int rc = SA_OK;

    if (!valid_name(name, 0))
        return sa_err_set(err, SA_EINVAL, "metric name \"%s\" is not valid",
                          name ? name : "");
    while (labels && labels[2 * n_labels]) {
        if (n_labels == SA_METRICS_MAX_LABELS)
            return sa_err_set(err, SA_EINVAL, "metric %s: more than %d labels", name,
                              SA_METRICS_MAX_LABELS);
        if (!valid_name(labels[2 * n_labels], 1) || !labels[2 * n_labels + 1])
            return sa_err_set(err, SA_EINVAL,
                              "metric %s: label \"%s\" is not a valid name=value", name,
                              labels[2 * n_labels]);
        n_labels++;
    }
    if (type == SA_METRIC_HISTOGRAM) {
        if (!bounds || n_bounds == 0 || n_bounds > SA_METRICS_MAX_BUCKETS)
            return sa_err_set(err, SA_EINVAL, "histogram %s: 1 to %d buckets", name,
                              SA_METRICS_MAX_BUCKETS);
        for (size_t i = 0; i < n_bounds; i++)
            if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
                return sa_err_set(err, SA_EINVAL,
                                  "histogram %s: bounds must be finite and increasing",
                                  name);
        for (size_t i = 0; i < n_labels; i++)
            if (!strcmp(labels[2 * i], "le"))
                return sa_err_set(err, SA_EINVAL,
                                  "histogram %s: \"le\" is a reserved label", name);
    }

    for (link = &m->families; *link && strcmp((*link)->name, name) < 0;
         link = &(*link)->next)
        ;
    f = *link;
    if (f && !strcmp(f->name, name)) {
        if (f->type != type || f->float_counter != float_counter)
            return sa_err_set(err, SA_EINVAL, "metric %s is a %s, not a %s", name,
                              type_name(f->type), type_name(type));
        int same = f->n_labels == n_labels;
        for (size_t i = 0; same && i < n_labels; i++)
            same = !strcmp(f->label_names[i], labels[2 * i]);
        if (!same)
            return sa_err_set(err, SA_EINVAL,
                              "metric %s is registered with other label names", name);
        if (type == SA_METRIC_HISTOGRAM && f->bounds != bounds)
            return sa_err_set(err, SA_EINVAL,
                              "histogram %s is registered with other buckets", name);
        for (s = f->series; s; s = s->next) {
            size_t i = 0;
            while (i < n_labels && !strcmp(s->label_values[i], labels[2 * i + 1]))
                i++;
            if (i == n_labels) {
                *out = s;
                return SA_OK;
            }
        }
    } else {
        f = calloc(1, sizeof *f);
        if (!f)
            return sa_err_set(err, SA_ENOMEM, "metric %s", name);
        f->name = strdup(name);
        f->help = strdup(help ? help : "");
        f->type = type;
        f->float_counter = float_counter;
        f->bounds = bounds;
        f->n_bounds = n_bounds;
        f->series_tail = &f->series;
        for (size_t i = 0; i < n_labels; i++)
            if (!(f->label_names[i] = strdup(labels[2 * i])))
                rc = SA_ENOMEM;
        f->n_labels = n_labels;
        if (rc || !f->name || !f->help) {
            families_free(f);
            return sa_err_set(err, SA_ENOMEM, "metric %s", name);
        }
        f->next = *link;
        *link = f;
    }

    /* Round up to whole lines so that no other allocation shares one (M3). */
    size_t size = (sizeof *s + 63) & ~(size_t)63;
    s = aligned_alloc(64, size);
    if (!s)
        return sa_err_set(err, SA_ENOMEM, "metric %s", name);
    memset(s, 0, size);
    if (n_labels) {
        s->label_values = calloc(n_labels, sizeof *s->label_values);
        for (size_t i = 0; s->label_values && i < n_labels; i++)
            if (!(s->label_values[i] = strdup(labels[2 * i + 1])))
                rc = SA_ENOMEM;
        if (!s->label_values || rc) {
            series_free(s, n_labels);
            return sa_err_set(err, SA_ENOMEM, "metric %s", name);
        }
    }
    if (type == SA_METRIC_HISTOGRAM) {
        s->v.histogram.bounds = bounds;
        s->v.histogram.n_bounds = n_bounds;
    }
    *f->series_tail = s;
    f->series_tail = &s->next;
    *out = s;
    return SA_OK;
}

static int do_register(struct sa_metrics *m, enum sa_metric_type type, const char *name,
                       const char *help, const char *const *labels,
                       const double *bounds, size_t n_bounds, struct series **out,
                       struct sa_err *err)
{
    int rc, float_counter = 0;

    if (type == SA_METRIC_FLOAT_COUNTER) {
        type = SA_METRIC_GAUGE;
        float_counter = 1;
    }
    pthread_mutex_lock(&m->mutex);
    rc = lookup(m, type, float_counter, name, help, labels, bounds, n_bounds, out, err);
    pthread_mutex_unlock(&m->mutex);
    return rc;
}

int sa_metrics_counter(struct sa_metrics *m, const char *name, const char *help,
                       const char *const *labels, struct sa_counter **out,
                       struct sa_err *err)
{
    struct series *s;
    int rc = do_register(m, SA_METRIC_COUNTER, name, help, labels, NULL, 0, &s, err);

    if (rc == SA_OK)
        *out = &s->v.counter;
    return rc;
}

int sa_metrics_gauge(struct sa_metrics *m, const char *name, const char *help,
                     const char *const *labels, struct sa_gauge **out,
                     struct sa_err *err)
{
    struct series *s;
    int rc = do_register(m, SA_METRIC_GAUGE, name, help, labels, NULL, 0, &s, err);

    if (rc == SA_OK)
        *out = &s->v.gauge;
    return rc;
}

int sa_metrics_float_counter(struct sa_metrics *m, const char *name, const char *help,
                             const char *const *labels, struct sa_gauge **out,
                             struct sa_err *err)
{
    struct series *s;
    int rc =
        do_register(m, SA_METRIC_FLOAT_COUNTER, name, help, labels, NULL, 0, &s, err);

    if (rc == SA_OK)
        *out = &s->v.gauge;
    return rc;
}

int sa_metrics_histogram(struct sa_metrics *m, const char *name, const char *help,
                         const char *const *labels, const double *bounds,
                         size_t n_bounds, struct sa_histogram **out, struct sa_err *err)
{
    struct series *s;
    int rc = do_register(m, SA_METRIC_HISTOGRAM, name, help, labels, bounds, n_bounds,
                         &s, err);

    if (rc == SA_OK)
        *out = &s->v.histogram;
    return rc;
}

void sa_gauge_add(struct sa_gauge *g, double delta)
{
    uint64_t old = atomic_load_explicit(&g->bits, memory_order_relaxed), bits;
    double v;

    do {
        memcpy(&v, &old, sizeof v);
        v += delta;
        memcpy(&bits, &v, sizeof bits);
    } while (!atomic_compare_exchange_weak_explicit(
        &g->bits, &old, bits, memory_order_relaxed, memory_order_relaxed));
}

int sa_metrics_add_collector(struct sa_metrics *m, sa_metrics_collect_fn fn, void *arg)
{
    int id = SA_EFULL;

    pthread_mutex_lock(&m->collect_mutex);
    for (int i = 0; i < MAX_COLLECTORS; i++)
        if (!m->collectors[i].fn) {
            m->collectors[i].fn = fn;
            m->collectors[i].arg = arg;
            id = i;
            break;
        }
    pthread_mutex_unlock(&m->collect_mutex);
    return id;
}

void sa_metrics_remove_collector(struct sa_metrics *m, int id)
{
    if (id < 0 || id >= MAX_COLLECTORS)
        return;
    pthread_mutex_lock(&m->collect_mutex);
    m->collectors[id].fn = NULL;
    m->collectors[id].arg = NULL;
    pthread_mutex_unlock(&m->collect_mutex);
}

static void run_collectors(struct sa_metrics *m)
{
    pthread_mutex_lock(&m->collect_mutex);
    for (int i = 0; i < MAX_COLLECTORS; i++)
        if (m->collectors[i].fn)
            m->collectors[i].fn(m->collectors[i].arg);
    pthread_mutex_unlock(&m->collect_mutex);
}

/* Escape for HELP text (\\ and \n) or label values (also \"). */
static int append_escaped(struct sa_buf *out, const char *s, int quote)
{
    int rc = SA_OK;

    for (; *s && rc == SA_OK; s++) {
        if (*s == '\\')
            rc = sa_buf_append(out, "\\\\", 2);
        else if (*s == '\n')
            rc = sa_buf_append(out, "\\n", 2);
        else if (quote && *s == '"')
            rc = sa_buf_append(out, "\\\"", 2);
        else
            rc = sa_buf_append_byte(out, (uint8_t)*s);
    }
    return rc;
}

/* Prometheus floats: +Inf/-Inf/NaN spelled its way, integers without a
 * fraction, the rest in the fewest digits that read back as the same
 * double (0.1, not 0.10000000000000001). */
static void format_double(char out[40], double v)
{
    if (isnan(v)) {
        snprintf(out, 40, "NaN");
    } else if (isinf(v)) {
        snprintf(out, 40, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, 40, "%.0f", v);
    } else {
        for (int digits = 1; digits <= 17; digits++) {
            snprintf(out, 40, "%.*g", digits, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

static int append_value(struct sa_buf *out, double v)
{
    char text[40];

    format_double(text, v);
    return sa_buf_append_str(out, text);
}

/* `{a="x",b="y"` plus an optional extra label, then `}`; nothing when
 * there are no labels at all. */
static int append_labels(struct sa_buf *out, const struct family *f,
                         const struct series *s, const char *le)
{
    int rc = SA_OK;

    if (f->n_labels == 0 && !le)
        return SA_OK;
    rc = sa_buf_append_byte(out, '{');
    for (size_t i = 0; rc == SA_OK && i < f->n_labels; i++) {
        rc = sa_buf_printf(out, "%s%s=\"", i ? "," : "", f->label_names[i]);
        if (rc == SA_OK)
            rc = append_escaped(out, s->label_values[i], 1);
        if (rc == SA_OK)
            rc = sa_buf_append_byte(out, '"');
    }
    if (rc == SA_OK && le)
        rc = sa_buf_printf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    if (rc == SA_OK)
        rc = sa_buf_append_byte(out, '}');
    return rc;
}

static double hist_sum(const struct sa_histogram *h)
{
    return (double)atomic_load_explicit(&((struct sa_histogram *)h)->sum_nano,
                                        memory_order_relaxed) /
           1e9;
}

static int write_series(struct sa_buf *out, const struct family *f,
                        const struct series *s)
{
    int rc = SA_OK;

    if (f->type != SA_METRIC_HISTOGRAM) {
        rc = sa_buf_append_str(out, f->name);
        if (rc == SA_OK)
            rc = append_labels(out, f, s, NULL);
        if (rc == SA_OK)
            rc = sa_buf_append_byte(out, ' ');
        if (rc == SA_OK)
            rc = f->type == SA_METRIC_COUNTER
                     ? sa_buf_printf(out, "%llu",
                                     (unsigned long long)sa_counter_get(&s->v.counter))
                     : append_value(out, sa_gauge_get(&s->v.gauge));
        return rc == SA_OK ? sa_buf_append_byte(out, '\n') : rc;
    }

    const struct sa_histogram *h = &s->v.histogram;
    uint64_t cumulative = 0;
    char le[40];

    for (size_t i = 0; rc == SA_OK && i <= h->n_bounds; i++) {
        cumulative += atomic_load_explicit(&((struct sa_histogram *)h)->buckets[i],
                                           memory_order_relaxed);
        format_double(le, i < h->n_bounds ? h->bounds[i] : INFINITY);
        rc = sa_buf_printf(out, "%s_bucket", f->name);
        if (rc == SA_OK)
            rc = append_labels(out, f, s, le);
        if (rc == SA_OK)
            rc = sa_buf_printf(out, " %llu\n", (unsigned long long)cumulative);
    }
    if (rc == SA_OK)
        rc = sa_buf_printf(out, "%s_sum", f->name);
    if (rc == SA_OK)
        rc = append_labels(out, f, s, NULL);
    if (rc == SA_OK)
        rc = sa_buf_append_byte(out, ' ');
    if (rc == SA_OK)
        rc = append_value(out, hist_sum(h));
    /* _count is the +Inf bucket, so that the two always agree in one
     * scrape even while observations race with it (M4). */
    if (rc == SA_OK)
        rc = sa_buf_printf(out, "\n%s_count", f->name);
    if (rc == SA_OK)
        rc = append_labels(out, f, s, NULL);
    if (rc == SA_OK)
        rc = sa_buf_printf(out, " %llu\n", (unsigned long long)cumulative);
    return rc;
}

int sa_metrics_write(struct sa_metrics *m, struct sa_buf *out)
{
    int rc = SA_OK;

    run_collectors(m);
    pthread_mutex_lock(&m->mutex);
    for (const struct family *f = m->families; rc == SA_OK && f; f = f->next) {
        rc = sa_buf_printf(out, "# HELP %s ", f->name);
        if (rc == SA_OK)
            rc = append_escaped(out, f->help, 0);
        if (rc == SA_OK)
            rc = sa_buf_printf(out, "\n# TYPE %s %s\n", f->name,
                               f->float_counter ? "counter" : type_name(f->type));
        for (const struct series *s = f->series; rc == SA_OK && s; s = s->next)
            rc = write_series(out, f, s);
    }
    pthread_mutex_unlock(&m->mutex);
    return rc;
}

void sa_metrics_visit(struct sa_metrics *m,
                      void (*fn)(const struct sa_metric_sample *s, void *arg),
                      void *arg)
{
    run_collectors(m);
    pthread_mutex_lock(&m->mutex);
    for (const struct family *f = m->families; f; f = f->next)
        for (const struct series *s = f->series; s; s = s->next) {
            struct sa_metric_sample sample = {
                .name = f->name,
                .type = f->float_counter ? SA_METRIC_COUNTER : f->type,
                .n_labels = f->n_labels,
                .label_names = (const char *const *)f->label_names,
                .label_values = (const char *const *)s->label_values,
            };
            if (f->type == SA_METRIC_COUNTER) {
                sample.value = (double)sa_counter_get(&s->v.counter);
            } else if (f->type == SA_METRIC_GAUGE) {
                sample.value = sa_gauge_get(&s->v.gauge);
            } else {
                sample.value = hist_sum(&s->v.histogram);
                sample.count = atomic_load_explicit(
                    &((struct sa_histogram *)&s->v.histogram)->count,
                    memory_order_relaxed);
            }
            fn(&sample, arg);
        }
    pthread_mutex_unlock(&m->mutex);
}
