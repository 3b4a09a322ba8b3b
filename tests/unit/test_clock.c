/* SPDX-License-Identifier: Apache-2.0 */
/* Time helpers (agent/base/clock.c): deadlines carried into seconds, ISO
 * 8601 formatting on both sides of the epoch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/base/clock.h"

static void add(time_t sec, long nsec, int64_t ms, time_t want_sec, long want_nsec)
{
    struct timespec ts = {.tv_sec = sec, .tv_nsec = nsec};
    sa_timespec_add_ms(&ts, ms);
    assert_int_equal(ts.tv_sec, want_sec);
    assert_int_equal(ts.tv_nsec, want_nsec);
}

static void test_timespec_add_ms(void **state)
{
    (void)state;
    add(10, 0, 0, 10, 0);
    add(10, 0, 50, 10, 50000000L);
    add(10, 999999999L, 1, 11, 999999L);       /* a carry */
    add(10, 950000000L, 50, 11, 0);            /* to the next second exactly */
    add(10, 500000000L, 2750, 13, 250000000L); /* seconds and a carry */
    add(10, 1, 60000, 70, 1);
}

static void test_iso8601(void **state)
{
    char out[32];
    (void)state;
    sa_format_iso8601(1795488853120LL, out);
    assert_string_equal(out, "2026-11-24T02:54:13.120Z");
    sa_format_iso8601(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    sa_format_iso8601(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timespec_add_ms),
        cmocka_unit_test(test_iso8601),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
