/* SPDX-License-Identifier: Apache-2.0 */
/* Wall-clock and monotonic time in milliseconds, and sleeping. Wall time is
 * for data (event times, created_ms); monotonic time is for every timeout,
 * backoff and rate, so that clock jumps cannot stall or spin the agent. */
#ifndef SA_BASE_CLOCK_H
#define SA_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

int64_t sa_now_ms(void);   /* CLOCK_REALTIME, ms since the epoch */
int64_t sa_mono_ms(void);  /* CLOCK_MONOTONIC, ms */
int64_t sa_mono_us(void);  /* CLOCK_MONOTONIC, µs */
void sa_sleep_ms(int64_t ms);
/* Move *ts on by ms (>= 0), carrying into seconds: a deadline for
 * pthread_cond_timedwait from a clock_gettime reading of the clock the
 * condition variable waits on. */
void sa_timespec_add_ms(struct timespec *ts, int64_t ms);

/* Format epoch ms as ISO 8601 UTC ("2026-11-24T02:54:13.120Z"). */
void sa_format_iso8601(int64_t ms, char out[32]);

#endif
