/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The generator source: synthetic records of the source's schema from the
 * data generator (agent/source/generator.h), at a configured rate.
 *
 * Its position is the index of the next record, committed with the
 * records (file_key "generator" in source_offsets, invariant I1). Record i
 * is a pure function of (schema, seed, i, start_time, interval), so after
 * a crash the source resumes at the committed index and produces exactly
 * the records it would have: no duplicates, no gaps.
 *
 * start_time defaults to a fixed instant, 1767225600000 (2026-01-01
 * 00:00:00 UTC), not to "now": a default taken from the clock would have
 * to be persisted beside the index to survive a restart, and a constant
 * needs nothing. Event times are start_time + i * interval; set
 * start_time to place the data elsewhere in time.
 *
 * The rate is kept on the monotonic clock against an anchor (the index and
 * time when pacing started); a poll that finds nothing due sleeps until
 * the next record is due, at most 50 ms, and returns 0 so the pipeline
 * stays responsive. After a stall (a full spool) the anchor moves, so the
 * source does not burst to catch up by more than a second of records.
 *
 * With delete_ratio, index i is a delete (op = SA_OP_DELETE) when a hash
 * of (seed, i) falls below the ratio; it carries record j of an earlier
 * index j (another hash, mod i; followed further back while j is a delete
 * too), so it deletes a key generated before.
 */
#include "agent/base/clock.h"
#include "agent/source/generator.h"
#include "agent/source/source.h"
#include "store/spool.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define FILE_KEY "generator"
#define MAX_SLEEP_MS 50

struct generator_opts {
    int64_t seed;
    int64_t rate;
    int64_t count;
    int64_t start_time;
    int64_t interval_ms;
    double delete_ratio;
};

static const struct sa_conf_entry generator_conf[] = {
    {.type = SA_CONF_INT,
     .key = "seed",
     .def = "1",
     .offset = offsetof(struct generator_opts, seed),
     .desc = "seed of the data; the same seed gives the same records"},
    {.type = SA_CONF_INT,
     .key = "rate",
     .def = "0",
     .offset = offsetof(struct generator_opts, rate),
     .desc = "records per second; 0 = as fast as the spool takes them",
     .min = 0,
     .max = 100000000},
    {.type = SA_CONF_INT,
     .key = "count",
     .def = "0",
     .offset = offsetof(struct generator_opts, count),
     .desc = "total records, then the source is done; 0 = unlimited",
     .min = 0,
     .max = INT64_MAX},
    {.type = SA_CONF_INT,
     .key = "start_time",
     .def = "1767225600000",
     .offset = offsetof(struct generator_opts, start_time),
     .desc = "event time of record 0, epoch ms (default 2026-01-01T00:00:00Z; a "
             "constant, so that a restart resumes the same sequence)"},
    {.type = SA_CONF_DURATION,
     .key = "interval",
     .def = "1s",
     .offset = offsetof(struct generator_opts, interval_ms),
     .desc = "event time between consecutive records",
     .min = 0,
     .max = 86400000LL * 365},
    {.type = SA_CONF_DOUBLE,
     .key = "delete_ratio",
     .def = "0",
     .offset = offsetof(struct generator_opts, delete_ratio),
     .desc =
         "share of records (0 to below 1) that are deletes of a key generated "
         "before, e.g. 0.1; chosen from the seed, so a restart makes the same ones"},
    {.key = NULL},
};

struct generator_state {
    struct sa_generator gen;
    struct sa_record rec;
    uint64_t next;  /* index of the next record */
    uint64_t count; /* 0: unlimited */
    int64_t rate;
    int64_t anchor_us; /* pacing: at anchor_us, anchor_index was due */
    uint64_t anchor_index;
    uint64_t seed;
    uint64_t delete_threshold; /* index i is a delete when mix(i) < this */
};

/* splitmix64: a record's delete decision and target from (seed, index)
 * alone, so that a restart at a committed index makes the same ones. */
static uint64_t mix(uint64_t seed, uint64_t index, uint64_t salt)
{
    uint64_t z = seed ^ (index * 0x9E3779B97F4A7C15ULL) ^ salt;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void generator_close(struct sa_source *src)
{
    struct generator_state *st = src->ctx;
    if (!st)
        return;
    sa_record_fini(&st->rec);
    sa_generator_fini(&st->gen);
    free(st);
    src->ctx = NULL;
}

static int generator_open(struct sa_source *src, struct sa_err *err)
{
    const struct generator_opts *o = src->conf->opts;
    struct generator_state *st = calloc(1, sizeof *st);
    int64_t offset = 0, line = 0;
    int done = 0, rc;

    if (!st)
        return sa_err_set(err, SA_ENOMEM, "source %s: out of memory", src->conf->name);
    src->ctx = st;
    st->count = (uint64_t)o->count;
    st->rate = o->rate;
    st->seed = (uint64_t)o->seed;
    if (!(o->delete_ratio >= 0 && o->delete_ratio < 1))
        return sa_err_set(err, SA_ECONFIG,
                          "source %s: delete_ratio %g: must be at "
                          "least 0 and below 1",
                          src->conf->name, o->delete_ratio);
    st->delete_threshold = (uint64_t)(o->delete_ratio * 18446744073709551616.0);
    rc = sa_generator_init(&st->gen, src->schema, (uint64_t)o->seed, o->start_time,
                           o->interval_ms, err);
    if (!rc)
        rc = sa_record_init(&st->rec, src->schema, err);
    if (!rc && src->spool) {
        rc = sa_spool_offset_get(src->spool, src->conf->name, FILE_KEY, &offset, &line,
                                 &done, err);
        if (rc == SA_ENOTFOUND) {
            offset = 0;
            rc = SA_OK;
            sa_err_clear(err);
        }
    }
    if (rc) {
        generator_close(src);
        return rc;
    }
    st->next = offset > 0 ? (uint64_t)offset : 0;
    st->anchor_us = sa_mono_us();
    st->anchor_index = st->next;
    return SA_OK;
}

/* Records due now under the rate (SIZE_MAX when unpaced). */
static uint64_t due_now(struct generator_state *st)
{
    int64_t now, elapsed;
    uint64_t due;

    if (st->rate <= 0)
        return UINT64_MAX;
    for (int pass = 0; pass < 2; pass++) {
        now = sa_mono_us();
        elapsed = now - st->anchor_us;
        due = st->anchor_index + (uint64_t)((double)elapsed * (double)st->rate / 1e6);
        if (due > st->next + (uint64_t)st->rate) {
            /* Behind by more than a second (a stall): re-anchor, no burst. */
            st->anchor_us = now;
            st->anchor_index = st->next;
            due = st->next + 1;
        }
        if (due > st->next)
            return due - st->next;
        if (pass == 0) {
            /* Sleep until the next record is due, within the cap. */
            double at_us =
                (double)(st->next + 1 - st->anchor_index) * 1e6 / (double)st->rate;
            int64_t wait_ms = (int64_t)((at_us - (double)elapsed) / 1000.0) + 1;
            sa_sleep_ms(wait_ms < MAX_SLEEP_MS ? wait_ms : MAX_SLEEP_MS);
        }
    }
    return 0;
}

static int is_delete(const struct generator_state *st, uint64_t index)
{
    return index > 0 && st->delete_threshold &&
           mix(st->seed, index, 0) < st->delete_threshold;
}

static int generator_poll(struct sa_source *src, struct sa_batch *batch,
                          struct sa_err *err)
{
    struct generator_state *st = src->ctx;
    uint64_t n = sa_batch_room(batch), due;
    int added = 0, rc = SA_OK;

    if (st->count && st->next >= st->count)
        return SA_EOF;
    if (st->count && n > st->count - st->next)
        n = st->count - st->next;
    if (n == 0)
        return 0;
    due = due_now(st);
    if (n > due)
        n = due;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t index = st->next, fill = index;
        enum sa_op op = SA_OP_UPSERT;
        /* A delete carries the record of an earlier index: its key is one
         * generated before (the rest of it only fills the body). */
        if (is_delete(st, index)) {
            /* An index that was itself a delete generated no key of its
             * own: follow it back to one that did (index 0 always does). */
            do
                fill = mix(st->seed, fill, 0x5DEECE66DULL) % fill;
            while (is_delete(st, fill));
            op = SA_OP_DELETE;
        }
        if ((rc = sa_generator_fill(&st->gen, fill, &st->rec, err)))
            break;
        rc = sa_batch_add_record(
            batch, src, &st->rec,
            st->gen.start_ms + (int64_t)index * st->gen.interval_ms, op, err);
        if (rc == SA_ERECORD) {
            /* Refused by a quality rule: dead-lettered with its index,
             * from which the same seed generates it again. */
            char where[64];
            snprintf(where, sizeof where, "generator index %llu",
                     (unsigned long long)index);
            rc = sa_batch_deadletter(batch, src, where, err->msg, NULL, 0, err);
        }
        if (rc)
            break;
        st->next++;
        added++;
    }
    /* The position of what was added, committed with it. */
    if (added) {
        int orc = sa_batch_offset(batch, src, FILE_KEY, (int64_t)st->next, 0,
                                  st->count && st->next >= st->count, err);
        if (!rc)
            rc = orc;
    }
    return rc;
}

static const char *generator_endless(const struct sa_source_conf *sc, const char **fix)
{
    const struct generator_opts *o = sc->opts;

    if (o->count > 0)
        return NULL;
    *fix = "count: N";
    return "generates records without end (count: 0, the default)";
}

const struct sa_source_ops sa_source_generator_ops = {
    .name = "generator",
    .desc = "synthetic records of the stream's schema (names, sensors, orders...), "
            "reproducible from a seed",
    .conf = generator_conf,
    .opts_size = sizeof(struct generator_opts),
    .endless = generator_endless,
    .open = generator_open,
    .poll = generator_poll,
    .close = generator_close,
};
