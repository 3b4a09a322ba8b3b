/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent/tz.c: offsets of IANA zones read from the system's TZif files
 * against glibc's localtime_r for the same zone (TZ set in this
 * single-threaded test), at random instants from 1800 to 2200 and at
 * every transition of a few years; local -> UTC against mktime where the
 * local time is not ambiguous; fixed offsets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const zones[] = {
    "Europe/Berlin",     "America/New_York", "Australia/Sydney",  "Asia/Kolkata",
    "America/Sao_Paulo", "Pacific/Chatham",  "Africa/Casablanca", "America/St_Johns",
    "Europe/Dublin",     "Antarctica/Troll", "Pacific/Apia",      "UTC",
};

static int32_t glibc_offset(time_t t)
{
    struct tm tm;
    assert_non_null(localtime_r(&t, &tm));
    return (int32_t)tm.tm_gmtoff;
}

static void test_offsets_match_glibc(void **state)
{
    struct sa_err err = {0};
    uint64_t x = 99;

    (void)state;
    for (size_t z = 0; z < sizeof zones / sizeof *zones; z++) {
        struct sa_tz *tz = NULL;
        int mismatches = 0;

        if (sa_tz_load(zones[z], &tz, &err) != SA_OK)
            fail_msg("%s: %s (is tzdata installed?)", zones[z], err.msg);
        setenv("TZ", zones[z], 1);
        tzset();
        for (int i = 0; i < 20000; i++) {
            int64_t t;
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            /* 1800..2200, and densely 1970..2040 */
            t = i % 2 ? -5364662400LL + (int64_t)((x >> 20) % 12623040000ULL)
                      : (int64_t)((x >> 20) % 2208988800ULL);
            if (sa_tz_offset_at(tz, t) != glibc_offset((time_t)t) && mismatches++ < 5)
                fprintf(stderr, "%s at %lld: %d, glibc %d\n", zones[z], (long long)t,
                        sa_tz_offset_at(tz, t), glibc_offset((time_t)t));
        }
        /* Local wall-clock times: where mktime finds one reading (tm_isdst
         * as it was at that instant), the offset agrees. */
        for (int i = 0; i < 5000; i++) {
            struct tm tm;
            time_t t;
            int64_t local;
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            t = (time_t)((x >> 20) % 2208988800ULL);
            localtime_r(&t, &tm);
            local = (int64_t)t + tm.tm_gmtoff;
            /* skip the two hours around a change (ambiguous or skipped) */
            if (glibc_offset(t - 7200) != glibc_offset(t + 7200))
                continue;
            if (sa_tz_offset_local(tz, local) != tm.tm_gmtoff && mismatches++ < 10)
                fprintf(stderr, "%s local %lld: %d, want %ld\n", zones[z],
                        (long long)local, sa_tz_offset_local(tz, local), tm.tm_gmtoff);
        }
        if (mismatches)
            fail_msg("%s: %d offsets differ from glibc", zones[z], mismatches);
        assert_string_equal(sa_tz_name(tz), zones[z]);
        sa_tz_free(tz);
    }
    unsetenv("TZ");
    tzset();
}

static void test_fixed_and_refused(void **state)
{
    static const struct {
        const char *name;
        int32_t off;
    } fixed[] = {{"UTC", 0},        {"GMT", 0},     {"Z", 0},         {"+02:00", 7200},
                 {"-0530", -19800}, {"+14", 50400}, {"-00:30", -1800}};
    static const char *const bad[] = {"",
                                      "+2",
                                      "+2:00",
                                      "+24:00",
                                      "+02:60",
                                      "02:00",
                                      "Europe/../etc/passwd",
                                      "/etc/passwd",
                                      "No/Such_Zone",
                                      "Europe",
                                      "right/UTC",
                                      "UTC ",
                                      "+02:00x"};
    struct sa_err err = {0};

    (void)state;
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        struct sa_tz *tz = NULL;
        assert_int_equal(sa_tz_load(fixed[i].name, &tz, &err), SA_OK);
        assert_int_equal(sa_tz_offset_at(tz, 1234567890), fixed[i].off);
        assert_int_equal(sa_tz_offset_local(tz, -1234567890), fixed[i].off);
        sa_tz_free(tz);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct sa_tz *tz = NULL;
        if (sa_tz_load(bad[i], &tz, &err) != SA_ECONFIG)
            fail_msg("'%s' was accepted", bad[i]);
        assert_null(tz);
        assert_non_null(strstr(err.msg, bad[i]));
    }
    sa_tz_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets_match_glibc),
        cmocka_unit_test(test_fixed_and_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
