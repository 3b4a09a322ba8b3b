/* SPDX-License-Identifier: Apache-2.0 */
/* The status page's sample ring (agent/admin/series.c): what it keeps,
 * how it wraps, and the JSON the page reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/admin/series.h"
#include "agent/base/metrics.h"

#include <jansson.h>
#include <string.h>

static json_t *series_json(struct sa_series *s)
{
    struct sa_buf buf;
    struct sa_err err = {0};
    json_error_t jerr;
    json_t *root;

    sa_buf_init(&buf, 1 << 20);
    assert_int_equal(sa_series_json(s, &buf, &err), SA_OK);
    root = json_loadb((const char *)buf.data, buf.len, 0, &jerr);
    assert_non_null(root);
    sa_buf_fini(&buf);
    return root;
}

/* values of group.key.name (or group.name when key is NULL) as doubles;
 * -1 for null */
static void expect_values(json_t *root, const char *group, const char *key,
                          const char *name, const double *want, size_t n)
{
    json_t *owner = json_object_get(root, group), *values;

    if (key)
        owner = json_object_get(owner, key);
    values = json_object_get(owner, name);
    assert_non_null(values);
    assert_int_equal(json_array_size(values), n);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(values, i);
        if (want[i] < 0)
            assert_true(json_is_null(v));
        else
            assert_true(json_number_value(v) == want[i]);
    }
}

static void test_sample_and_json(void **state)
{
    struct sa_metrics *m = sa_metrics_new();
    struct sa_series *s = NULL;
    struct sa_counter *csv = NULL, *gen = NULL, *acked = NULL, *other = NULL;
    struct sa_gauge *lag = NULL, *spool = NULL;
    struct sa_err err = {0};
    json_t *root;
    (void)state;

    assert_int_equal(
        sa_metrics_counter(m, "syncagent_records_ingested_total", "in",
                           (const char *[]){"stream", "order", "source", "csv", NULL},
                           &csv, &err),
        SA_OK);
    assert_int_equal(
        sa_metrics_counter(m, "syncagent_records_ingested_total", "in",
                           (const char *[]){"stream", "order", "source", "gen", NULL},
                           &gen, &err),
        SA_OK);
    assert_int_equal(
        sa_metrics_gauge(m, "syncagent_spool_bytes", "spool", NULL, &spool, &err),
        SA_OK);
    /* not charted: left out */
    assert_int_equal(sa_metrics_counter(m, "syncagent_sink_retries_total", "r",
                                        (const char *[]){"sink", "k", NULL}, &other,
                                        &err),
                     SA_OK);
    assert_int_equal(sa_series_new(m, 1000, 3, &s, &err), SA_OK);

    sa_counter_add(csv, 10);
    sa_counter_add(gen, 5);
    sa_gauge_set(spool, 4096);
    sa_series_sample(s, 1000);
    /* a sink that appears later: null before it */
    assert_int_equal(sa_metrics_counter(m, "syncagent_records_acked_total", "a",
                                        (const char *[]){"sink", "files", NULL}, &acked,
                                        &err),
                     SA_OK);
    assert_int_equal(sa_metrics_gauge(m, "syncagent_sink_lag_records", "l",
                                      (const char *[]){"sink", "files", NULL}, &lag,
                                      &err),
                     SA_OK);
    sa_counter_add(csv, 10);
    sa_counter_add(acked, 7);
    sa_gauge_set(lag, 3);
    sa_series_sample(s, 2000);

    root = series_json(s);
    assert_int_equal(json_integer_value(json_object_get(root, "interval_ms")), 1000);
    assert_int_equal(json_array_size(json_object_get(root, "t")), 2);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(root, "t"), 0)),
                     1000);
    /* the sources of a stream are summed */
    expect_values(root, "streams", "order", "ingested", (double[]){15, 25}, 2);
    expect_values(root, "sinks", "files", "acked", (double[]){-1, 7}, 2);
    expect_values(root, "sinks", "files", "lag_records", (double[]){-1, 3}, 2);
    expect_values(root, "agent", NULL, "spool_bytes", (double[]){4096, 4096}, 2);
    assert_null(json_object_get(json_object_get(root, "sinks"), "k"));
    json_decref(root);

    /* past the capacity the oldest samples go */
    sa_counter_add(csv, 1);
    sa_series_sample(s, 3000);
    sa_counter_add(csv, 1);
    sa_series_sample(s, 4000);
    root = series_json(s);
    assert_int_equal(json_array_size(json_object_get(root, "t")), 3);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(root, "t"), 0)),
                     2000);
    expect_values(root, "streams", "order", "ingested", (double[]){25, 26, 27}, 3);
    expect_values(root, "sinks", "files", "acked", (double[]){7, 7, 7}, 3);
    json_decref(root);

    sa_series_free(s);
    sa_metrics_free(m);
}

static void test_bounded(void **state)
{
    struct sa_metrics *m = sa_metrics_new();
    struct sa_series *s = NULL;
    struct sa_err err = {0};
    json_t *root;
    (void)state;

    /* more sinks than the ring keeps tracks for: the extra ones are left
     * out, the ring does not grow */
    for (int i = 0; i < SA_SERIES_MAX_TRACKS + 10; i++) {
        char name[32];
        struct sa_gauge *g = NULL;

        snprintf(name, sizeof name, "sink%03d", i);
        assert_int_equal(sa_metrics_gauge(m, "syncagent_sink_up", "up",
                                          (const char *[]){"sink", name, NULL}, &g,
                                          &err),
                         SA_OK);
        sa_gauge_set(g, 1);
    }
    assert_int_equal(sa_series_new(m, 1000, 2, &s, &err), SA_OK);
    sa_series_sample(s, 1);
    root = series_json(s);
    assert_int_equal(json_object_size(json_object_get(root, "sinks")),
                     SA_SERIES_MAX_TRACKS);
    json_decref(root);
    assert_int_equal(sa_series_new(m, 0, 2, &(struct sa_series *){NULL}, &err),
                     SA_EINVAL);
    sa_series_free(s);
    sa_metrics_free(m);
}

/* The thread takes a first sample at once and stops when freed. */
static void test_thread(void **state)
{
    struct sa_metrics *m = sa_metrics_new();
    struct sa_series *s = NULL;
    struct sa_gauge *g = NULL;
    struct sa_err err = {0};
    json_t *root = NULL;
    (void)state;

    assert_int_equal(
        sa_metrics_gauge(m, "syncagent_ingest_paused", "p", NULL, &g, &err), SA_OK);
    assert_int_equal(sa_series_new(m, 3600 * 1000, 4, &s, &err), SA_OK);
    assert_int_equal(sa_series_start(s, &err), SA_OK);
    for (;;) {
        root = series_json(s);
        if (json_array_size(json_object_get(root, "t")) > 0)
            break;
        json_decref(root);
    }
    expect_values(root, "agent", NULL, "ingest_paused", (double[]){0}, 1);
    json_decref(root);
    sa_series_free(s);
    sa_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_and_json),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
