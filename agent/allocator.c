/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The malloc the syncagent binary runs on, chosen at build time
 * (`-DSA_MALLOC=system|jemalloc|mimalloc`, CMakeLists.txt), and its tuning.
 *
 * Why an option: librdkafka makes about ten allocations a Kafka record
 * (the message, its header list, a header object each) and frees them in
 * the delivery report, max_in_flight records (5,000) later. glibc's
 * per-thread cache holds 7 chunks of a size, so nearly every one of those
 * calls takes the arena's slow path: 4,070 of the 15,470 instructions a
 * drained record cost went to malloc/free (tools/bench/README.md, issue
 * 17). jemalloc and mimalloc keep per-size free lists of any length and
 * run 14 % and 23 % fewer instructions a record.
 *
 * Why glibc stays the default: the promise is <= 24 MB RSS while draining
 * (DESIGN.md I5). Tuned for that, as below (freed pages go back to the
 * kernel at once, jemalloc with one arena), jemalloc peaks 0.3 MB under
 * glibc and mimalloc 1.5 MB over it, but both take ~200,000 page faults
 * per 1M records re-touching the pages they gave back, which costs about
 * what they saved. Left to keep freed pages (MALLOC_CONF=dirty_decay_ms:
 * 100, MIMALLOC_DECOMMIT_DELAY=10) they fault less and peak 1.5-7 MB
 * higher. The allocator's own environment overrides these defaults at run
 * time.
 *
 * This file is linked into the binary only (not sacore), so the unit
 * tests, the sanitizer and the fuzz builds keep the system allocator.
 */
#include "agent/allocator.h"

#include <malloc.h>
#include <stdio.h>

#if defined(SA_MALLOC_MIMALLOC)
#include <mimalloc.h>
#elif defined(SA_MALLOC_JEMALLOC)
#include <jemalloc/jemalloc.h>
/* Read by jemalloc when it initialises, before main(): one arena (the
 * agent has a handful of threads, and each arena keeps its own peak),
 * and freed pages returned to the kernel at once. 100 ms decay saved a
 * little CPU but kept 1.7 MB more at the peak of a drain. */
const char *malloc_conf = "narenas:1,dirty_decay_ms:0,muzzy_decay_ms:0";
#endif

void sa_allocator_init(void)
{
#if defined(SA_MALLOC_MIMALLOC)
    /* Return freed pages to the kernel now, not 25 ms later: the drain
     * frees a window of messages at a time, and with the delay the next
     * window is allocated before the last one's pages are given back
     * (peak RSS 33-35 MB against 26 MB). A default, so that
     * MIMALLOC_DECOMMIT_DELAY still wins. */
    mi_option_set_default(mi_option_decommit_delay, 0);
#elif !defined(SA_MALLOC_JEMALLOC) && defined(M_ARENA_MAX)
    /* glibc gives every thread that allocates (librdkafka runs several) a
     * malloc arena of its own, each keeping its peak: two bound the RSS. */
    mallopt(M_ARENA_MAX, 2);
    /* No fastbins. librdkafka's chunks of a record are freed 5,000 records
     * after they were taken, past the 7-entry tcache, into fastbins; every
     * large request (a segment read, a produce request's buffer) then
     * consolidates thousands of them at once, and the sink's next small
     * requests sort through the result. Without fastbins a free coalesces
     * at once: the drain's CPU 2.53 -> 2.31 s per 1M records (median of
     * 5, same RSS; tools/bench/README.md, issue 17). */
    mallopt(M_MXFAST, 0);
#endif
}

const char *sa_allocator_describe(char *buf, size_t size)
{
#if defined(SA_MALLOC_MIMALLOC)
    int v = mi_version();
    snprintf(buf, size, "mimalloc %d.%d.%d", v / 100, v / 10 % 10, v % 10);
#elif defined(SA_MALLOC_JEMALLOC)
    snprintf(buf, size, "jemalloc %d.%d.%d", JEMALLOC_VERSION_MAJOR,
             JEMALLOC_VERSION_MINOR, JEMALLOC_VERSION_BUGFIX);
#else
    snprintf(buf, size, "system malloc");
#endif
    return buf;
}
