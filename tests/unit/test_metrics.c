/* SPDX-License-Identifier: Apache-2.0 */
/* The metrics registry and its Prometheus text writer (agent/base/metrics.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/base/buf.h"
#include "agent/base/error.h"
#include "agent/base/metrics.h"

#include <pthread.h>
#include <string.h>

static char *write_all(struct sa_metrics *m, struct sa_buf *b)
{
    sa_buf_reset(b);
    assert_int_equal(sa_metrics_write(m, b), SA_OK);
    assert_int_equal(sa_buf_terminate(b), SA_OK);
    return (char *)b->data;
}

/* Same name and labels: the same handle (M2); other labels: another one. */
static void test_handles(void **state)
{
    struct sa_metrics *m = sa_metrics_new();
    struct sa_counter *a, *b, *c;
    struct sa_gauge *g;
    struct sa_err err = {0};
    (void)state;

    assert_int_equal(sa_metrics_counter(m, "x_total", "X.",
                                        (const char *[]){"sink", "k", NULL}, &a, &err),
                     SA_OK);
    assert_int_equal(sa_metrics_counter(m, "x_total", "X.",
                                        (const char *[]){"sink", "k", NULL}, &b, &err),
                     SA_OK);
    assert_ptr_equal(a, b);
    assert_int_equal(sa_metrics_counter(m, "x_total", "X.",
                                        (const char *[]){"sink", "f", NULL}, &c, &err),
                     SA_OK);
    assert_ptr_not_equal(a, c);
    /* M3: series on lines of their own */
    assert_int_equal((uintptr_t)a % 64, 0);
    assert_int_equal((uintptr_t)c % 64, 0);
    sa_counter_add(a, 5);
    sa_counter_inc(b);
    assert_int_equal(sa_counter_get(a), 6);
    assert_int_equal(sa_counter_get(c), 0);

    /* another type, other label names, bad names: refused, with the name */
    assert_int_equal(sa_metrics_gauge(m, "x_total", "X.",
                                      (const char *[]){"sink", "k", NULL}, &g, &err),
                     SA_EINVAL);
    assert_non_null(strstr(err.msg, "x_total"));
    assert_int_equal(sa_metrics_counter(m, "x_total", "X.",
                                        (const char *[]){"stream", "k", NULL}, &a,
                                        &err),
                     SA_EINVAL);
    assert_int_equal(sa_metrics_counter(m, "x_total", "X.", NULL, &a, &err), SA_EINVAL);
    assert_int_equal(sa_metrics_counter(m, "9x", "X.", NULL, &a, &err), SA_EINVAL);
    assert_int_equal(sa_metrics_counter(m, "a-b", "X.", NULL, &a, &err), SA_EINVAL);
    assert_int_equal(
        sa_metrics_counter(m, "y", "Y.", (const char *[]){"__x", "1", NULL}, &a, &err),
        SA_EINVAL);
    assert_int_equal(
        sa_metrics_counter(m, "y", "Y.", (const char *[]){"a:b", "1", NULL}, &a, &err),
        SA_EINVAL);
    sa_metrics_free(m);
}

static void test_text_format(void **state)
{
    struct sa_metrics *m = sa_metrics_new();
    struct sa_counter *c;
    struct sa_gauge *g, *up, *cpu;
    struct sa_histogram *h;
    struct sa_buf b;
    struct sa_err err = {0};
    static const double bounds[] = {0.01, 0.1, 1};
    (void)state;

    sa_buf_init(&b, 1 << 20);
    assert_int_equal(sa_metrics_gauge(m, "b_gauge",
                                      "A gauge\\with \"quotes\"\nand lines.", NULL, &g,
                                      &err),
                     SA_OK);
    assert_int_equal(sa_metrics_counter(m, "a_total", "Counted.",
                                        (const char *[]){"stream", "we\"ird\\na\nme",
                                                         "source", "csv", NULL},
                                        &c, &err),
                     SA_OK);
    assert_int_equal(sa_metrics_histogram(m, "c_seconds", "Latency.",
                                          (const char *[]){"sink", "k", NULL}, bounds,
                                          3, &h, &err),
                     SA_OK);
    assert_int_equal(sa_metrics_gauge(m, "d_up", "Up.", NULL, &up, &err), SA_OK);
    assert_int_equal(
        sa_metrics_float_counter(m, "e_seconds_total", "CPU.", NULL, &cpu, &err),
        SA_OK);
    sa_gauge_set(cpu, 0.25);
    sa_counter_add(c, 42);
    sa_gauge_set(g, 2.5);
    sa_gauge_add(g, -1);
    sa_gauge_set(up, 1);
    sa_histogram_observe(h, 0.005);
    sa_histogram_observe(h, 0.01); /* on the bound: le is "less or equal" */
    sa_histogram_observe(h, 0.5);
    sa_histogram_observe(h, 7);
    assert_string_equal(write_all(m, &b),
                        "# HELP a_total Counted.\n"
                        "# TYPE a_total counter\n"
                        "a_total{stream=\"we\\\"ird\\\\na\\nme\",source=\"csv\"} 42\n"
                        "# HELP b_gauge A gauge\\\\with \"quotes\"\\nand lines.\n"
                        "# TYPE b_gauge gauge\n"
                        "b_gauge 1.5\n"
                        "# HELP c_seconds Latency.\n"
                        "# TYPE c_seconds histogram\n"
                        "c_seconds_bucket{sink=\"k\",le=\"0.01\"} 2\n"
                        "c_seconds_bucket{sink=\"k\",le=\"0.1\"} 2\n"
                        "c_seconds_bucket{sink=\"k\",le=\"1\"} 3\n"
                        "c_seconds_bucket{sink=\"k\",le=\"+Inf\"} 4\n"
                        "c_seconds_sum{sink=\"k\"} 7.515\n"
                        "c_seconds_count{sink=\"k\"} 4\n"
                        "# HELP d_up Up.\n"
                        "# TYPE d_up gauge\n"
                        "d_up 1\n"
                        "# HELP e_seconds_total CPU.\n"
                        "# TYPE e_seconds_total counter\n"
                        "e_seconds_total 0.25\n");
    /* a float counter is not a gauge of the same name (M2) */
    assert_int_equal(sa_metrics_gauge(m, "e_seconds_total", "CPU.", NULL, &g, &err),
                     SA_EINVAL);

    /* the writer stops at the buffer's cap instead of growing past it */
    struct sa_buf small;
    sa_buf_init(&small, 64);
    assert_int_equal(sa_metrics_write(m, &small), SA_ETOOBIG);
    sa_buf_fini(&small);
    sa_buf_fini(&b);
    sa_metrics_free(m);
}

/* Histogram bounds are checked; "le" is the writer's label. */
static void test_histogram_checks(void **state)
{
    struct sa_metrics *m = sa_metrics_new();
    struct sa_histogram *h;
    struct sa_err err = {0};
    static const double down[] = {1, 0.5};
    (void)state;

    assert_int_equal(sa_metrics_histogram(m, "h", "H.", NULL, down, 2, &h, &err),
                     SA_EINVAL);
    assert_int_equal(sa_metrics_histogram(m, "h", "H.", NULL, down, 0, &h, &err),
                     SA_EINVAL);
    assert_int_equal(sa_metrics_histogram(m, "h", "H.",
                                          (const char *[]){"le", "1", NULL},
                                          sa_metrics_latency_buckets,
                                          sa_metrics_latency_n_buckets, &h, &err),
                     SA_EINVAL);
    assert_int_equal(sa_metrics_histogram(m, "h", "H.", NULL,
                                          sa_metrics_latency_buckets,
                                          sa_metrics_latency_n_buckets, &h, &err),
                     SA_OK);
    sa_metrics_free(m);
}

static void collect(void *arg)
{
    sa_gauge_set(arg, sa_gauge_get(arg) + 1);
}

struct seen {
    int n;
    double gauge;
    uint64_t hist_count;
};

static void visit(const struct sa_metric_sample *s, void *arg)
{
    struct seen *seen = arg;

    seen->n++;
    if (!strcmp(s->name, "g"))
        seen->gauge = s->value;
    if (s->type == SA_METRIC_HISTOGRAM)
        seen->hist_count = s->count;
}

/* Collectors run before each write and visit, and not after removal. */
static void test_collectors(void **state)
{
    struct sa_metrics *m = sa_metrics_new();
    struct sa_gauge *g;
    struct sa_histogram *h;
    struct sa_err err = {0};
    struct seen seen = {0};
    struct sa_buf b;
    int id;
    (void)state;

    sa_buf_init(&b, 1 << 16);
    assert_int_equal(sa_metrics_gauge(m, "g", "G.", NULL, &g, &err), SA_OK);
    assert_int_equal(sa_metrics_histogram(m, "h", "H.", NULL,
                                          sa_metrics_latency_buckets,
                                          sa_metrics_latency_n_buckets, &h, &err),
                     SA_OK);
    sa_histogram_observe(h, 0.002);
    id = sa_metrics_add_collector(m, collect, g);
    assert_true(id >= 0);
    write_all(m, &b);
    sa_metrics_visit(m, visit, &seen);
    assert_int_equal(seen.n, 2);
    assert_true(seen.gauge == 2);
    assert_int_equal(seen.hist_count, 1);
    sa_metrics_remove_collector(m, id);
    write_all(m, &b);
    assert_true(sa_gauge_get(g) == 2);
    sa_buf_fini(&b);
    sa_metrics_free(m);
}

/* Many threads on one counter lose nothing (the adds are atomic). */
static void *count_up(void *arg)
{
    for (int i = 0; i < 100000; i++)
        sa_counter_inc(arg);
    return NULL;
}

static void test_threads(void **state)
{
    struct sa_counter *c;
    struct sa_err err = {0};
    pthread_t t[4];
    (void)state;

    sa_metrics_global_reset();
    assert_int_equal(
        sa_metrics_counter(sa_metrics_global(), "t_total", "T.", NULL, &c, &err),
        SA_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, count_up, c), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(sa_counter_get(c), 400000);
    sa_metrics_global_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handles),          cmocka_unit_test(test_text_format),
        cmocka_unit_test(test_histogram_checks), cmocka_unit_test(test_collectors),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
