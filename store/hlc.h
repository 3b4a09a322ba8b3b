/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hybrid logical clock: the version a record gets at ingest when its
 * schema names no x-version field (DESIGN.md §6).
 *
 * A value is the wall clock in ms shifted left by SA_HLC_LOGICAL_BITS, plus
 * a logical counter in the low bits: it reads as a time, sorts like one,
 * and never repeats nor goes back. When the wall clock is behind the last
 * value handed out (it jumped back, or a restart found a newer meta.hlc),
 * the clock keeps counting from the last value instead; it follows the
 * wall clock again once that has caught up. 65536 values per ms before
 * the counter carries into the ms bits, which is harmless: the next value
 * is still greater.
 *
 * The writer persists the newest value in the spool (sa_commit.hlc ->
 * meta.hlc, same transaction as the records) and starts the clock from it
 * (sa_spool_hlc_get), so versions stay increasing across restarts.
 */
#ifndef SA_STORE_HLC_H
#define SA_STORE_HLC_H

#include <stdint.h>

#define SA_HLC_LOGICAL_BITS 16

struct sa_hlc {
    int64_t last; /* the newest value handed out, 0: none yet */
};

/* Start after `last` (meta.hlc, 0 for a new spool). */
void sa_hlc_init(struct sa_hlc *hlc, int64_t last);
/* The next value, given the wall clock now (ms since the epoch). */
int64_t sa_hlc_next(struct sa_hlc *hlc, int64_t now_ms);
/* The wall-clock ms a value was taken at (or counted on from). */
static inline int64_t sa_hlc_ms(int64_t value)
{
    return value >> SA_HLC_LOGICAL_BITS;
}

#endif
