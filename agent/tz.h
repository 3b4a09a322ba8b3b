/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Time zones for reading local times in CSV files (`timezone:` of the csv
 * source): UTC, a fixed offset, or an IANA zone read from the system's
 * tzdata (TZif files, RFC 8536), so that a local time is turned into UTC
 * with the offset in force on its day, daylight saving time included.
 * No process-wide state: glibc's localtime/mktime would need setenv("TZ"),
 * which other threads may be reading.
 */
#ifndef SA_AGENT_TZ_H
#define SA_AGENT_TZ_H

#include "agent/base/error.h"

#include <stdint.h>

struct sa_tz;

/* "UTC" (or "GMT", "Z"), a fixed offset "+02:00", "-0530", "+02", or an
 * IANA zone name ("Europe/Berlin") found under $TZDIR or
 * /usr/share/zoneinfo. *out is the caller's: sa_tz_free(). Anything else
 * is SA_ECONFIG with the reason. */
int sa_tz_load(const char *name, struct sa_tz **out, struct sa_err *err);
void sa_tz_free(struct sa_tz *tz);

/* The zone's name as given. */
const char *sa_tz_name(const struct sa_tz *tz);

/* Seconds east of UTC in force at the UTC instant utc_secs. */
int32_t sa_tz_offset_at(const struct sa_tz *tz, int64_t utc_secs);

/* Seconds east of UTC of the wall-clock time local_secs (seconds since
 * 1970-01-01 00:00 as read on the clock). A time that occurs twice (the
 * hour the clocks go back) is taken as the first; a time that does not
 * occur (the hour skipped) is read with the offset in force before it. */
int32_t sa_tz_offset_local(const struct sa_tz *tz, int64_t local_secs);

#endif
