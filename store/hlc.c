/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hybrid logical clock of store/hlc.h. One clock per writer (the
 * ingest pipeline, a dead-letter replay); the one-writer lock (I7) keeps
 * two from handing out values for the same spool at once.
 */
#include "store/hlc.h"

/* Wall clocks past this (year ~6400) would overflow the shift: such a
 * clock is wrong, and counting on from the last value keeps order. */
#define HLC_MAX_MS (INT64_MAX >> SA_HLC_LOGICAL_BITS)

void sa_hlc_init(struct sa_hlc *hlc, int64_t last)
{
    hlc->last = last > 0 ? last : 0;
}

int64_t sa_hlc_next(struct sa_hlc *hlc, int64_t now_ms)
{
    int64_t physical = 0;

    if (now_ms > 0 && now_ms < HLC_MAX_MS)
        physical = now_ms << SA_HLC_LOGICAL_BITS;
    /* The wall clock moved on: take it, counter at 0. Otherwise (same ms,
     * or the clock is behind) count on from the last value. */
    if (physical > hlc->last)
        hlc->last = physical;
    else
        hlc->last++;
    return hlc->last;
}
