/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a dispatcher worker does with the records its sink rejects
 * (SA_SINK_REJECT): each is stored as a dead letter once, in one commit
 * per ack, and its position joins the worker's `dead` set so that no
 * rewind offers it again (invariant P3); dead letters that an earlier run
 * stored for records still ahead of the cursor (a kill -9 between the
 * commit and a cursor save) are read once into `stored` and not stored
 * twice. The design is DEAD LETTERS in dispatcher.c's header comment.
 *
 * Its own file because it is a concept of its own beside the send and ack
 * loop: sorted position sets, and the dead letters' source and location
 * strings that load_stored parses back. dispatcher.c calls
 * sa_dispatch_deadletter_range from its outcomes and asks the position
 * sets in fill() and advance(); it reads the worker's state through
 * sync/dispatcher_private.h, like coalesce.c.
 */
#include "sync/dispatcher_private.h"

#include "agent/base/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- position sets ----------------------------------------------------- */

/* Index of the first position >= (segment_id, index). */
size_t sa_posset_find(const struct posset *set, int64_t segment_id, uint32_t index)
{
    struct sa_cursor at = {segment_id, index};
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sa_dispatcher_cursor_cmp(&set->v[mid], &at) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int posset_has(const struct posset *set, int64_t segment_id, uint32_t index)
{
    size_t i = sa_posset_find(set, segment_id, index);
    return i < set->n && set->v[i].segment_id == segment_id &&
           set->v[i].record_index == index;
}

/* Room for `more` positions, so that the adds that follow cannot fail. */
static int posset_reserve(struct posset *set, size_t more)
{
    size_t cap = set->cap ? set->cap : 16;
    struct sa_cursor *v;

    if (set->n + more <= set->cap)
        return SA_OK;
    while (cap < set->n + more)
        cap *= 2;
    v = realloc(set->v, cap * sizeof *v);
    if (!v)
        return SA_ENOMEM;
    set->v = v;
    set->cap = cap;
    return SA_OK;
}

/* Add a position; the room must have been reserved. */
static void posset_add(struct posset *set, int64_t segment_id, uint32_t index)
{
    size_t i = sa_posset_find(set, segment_id, index);
    if (i < set->n && set->v[i].segment_id == segment_id &&
        set->v[i].record_index == index)
        return;
    memmove(set->v + i + 1, set->v + i, (set->n - i) * sizeof *set->v);
    set->v[i] = (struct sa_cursor){segment_id, index};
    set->n++;
}

/* Drop the positions before `at`. */
void sa_posset_prune(struct posset *set, const struct sa_cursor *at)
{
    size_t i;
    if (set->n == 0 || sa_dispatcher_cursor_cmp(&set->v[0], at) >= 0)
        return;
    i = sa_posset_find(set, at->segment_id, at->record_index);
    memmove(set->v, set->v + i, (set->n - i) * sizeof *set->v);
    set->n -= i;
}

void sa_posset_fini(struct posset *set)
{
    free(set->v);
    set->v = NULL;
    set->n = set->cap = 0;
}

/* --- dead letters ------------------------------------------------------- */

/* A sink's dead letters carry source "sink:<name>" and location "segment
 * S record I seq Q": read back by load_stored, so the two stay together. */
static void deadletter_source(const struct worker *w, char *buf, size_t size)
{
    snprintf(buf, size, "sink:%s", w->conf->name);
}

static void deadletter_location(char *buf, size_t size, int64_t segment_id,
                                uint32_t index, uint64_t seq)
{
    snprintf(buf, size, "segment %" PRId64 " record %u seq %" PRIu64, segment_id, index,
             seq);
}

static int stored_add(void *arg, const char *location, struct sa_err *err)
{
    struct worker *w = arg;
    int64_t segment_id;
    uint32_t index;
    uint64_t seq;
    int end = 0;

    if (sscanf(location, "segment %" SCNd64 " record %" SCNu32 " seq %" SCNu64 "%n",
               &segment_id, &index, &seq, &end) != 3 ||
        end == 0 || location[end] != '\0')
        return SA_OK; /* not one of ours */
    {
        struct sa_cursor at = {segment_id, index};
        if (sa_dispatcher_cursor_cmp(&at, &w->acked) < 0)
            return SA_OK; /* passed for good */
    }
    if (posset_reserve(&w->stored, 1))
        return sa_err_set(err, SA_ENOMEM, "dead letters: out of memory");
    posset_add(&w->stored, segment_id, index);
    return SA_OK;
}

/* The dead letters this sink stored in earlier runs for records at or
 * after acked, read once, at the first rejection of the run: a kill -9
 * between storing a dead letter and saving a cursor past it leaves one
 * that the next run must not store again. One scan of the table (no index
 * on source, and adding one would change the spool format), only in a run
 * that has a rejection. */
static int load_stored(struct worker *w, struct sa_err *err)
{
    char source[160];
    int rc;

    if (w->stored_loaded)
        return SA_OK;
    deadletter_source(w, source, sizeof source);
    rc = sa_spool_deadletter_locations(w->spool, source, stored_add, w, err);
    if (rc) {
        w->stored.n = 0;
        return rc;
    }
    w->stored_loaded = 1;
    if (w->stored.n > 0) {
        char cnt[32];
        snprintf(cnt, sizeof cnt, "%zu", w->stored.n);
        sa_log_info("dead letters of an earlier run ahead of the cursor", "sink",
                    w->conf->name, "records", cnt);
    }
    return SA_OK;
}

/* Store the records of [first, first + n) of segment_id that are still
 * OUTSTANDING as dead letters, in one commit, and add them to `dead` so
 * that they are not offered again. A record in `stored` has its dead
 * letter already (an earlier run): it joins `dead` without a second one.
 * The segment is read again: the view the send used is gone by now. */
int sa_dispatch_deadletter_range(struct worker *w, int64_t segment_id, uint32_t first,
                                 uint32_t n, const char *reason, struct sa_err *err)
{
    struct sa_cursor at = {segment_id, first};
    struct sa_segment_view view;
    struct sa_segment_iter it;
    struct sa_record_view rec;
    struct sa_deadletter *dl = NULL;
    char (*locs)[96] = NULL;
    uint32_t *rejected = NULL;
    char source[160];
    size_t n_dl = 0, n_rejected = 0;
    int rc;

    if ((rc = load_stored(w, err)))
        return rc;
    rc = sa_spool_read_after(w->spool, &at, w->streams, w->n_streams, &view,
                             err);
    if (rc == SA_EOF || (rc == SA_OK && view.id != segment_id)) {
        /* Dropped by when_full: drop_oldest, which audits it. */
        sa_logf(SA_LOG_WARN, "rejected records no longer spooled",
                "sink=%s segment=%" PRId64 " record=%u count=%u",
                w->conf->name, segment_id, first, n);
        return SA_OK;
    }
    if (rc)
        return rc;
    dl = calloc(n, sizeof *dl);
    locs = calloc(n, sizeof *locs);
    rejected = calloc(n, sizeof *rejected);
    /* Room in `dead` first: once the commit is done, adding cannot fail. */
    if (!dl || !locs || !rejected || posset_reserve(&w->dead, n)) {
        rc = sa_err_set(err, SA_ENOMEM, "dead letters: out of memory");
        goto out;
    }
    deadletter_source(w, source, sizeof source);
    view.start_index = first;
    sa_segment_iter_init(&it, &view);
    while ((rc = sa_segment_iter_next(&it, &rec, err)) == SA_OK &&
           (uint64_t)rec.index < (uint64_t)first + n) {
        const uint8_t *st = sa_dispatch_state_at(w, segment_id, rec.index);
        if (!st || *st != REC_OUTSTANDING || n_rejected == n)
            continue;
        rejected[n_rejected++] = rec.index;
        if (posset_has(&w->stored, segment_id, rec.index))
            continue;
        deadletter_location(locs[n_dl], sizeof locs[n_dl], segment_id, rec.index,
                            rec.seq);
        dl[n_dl] = (struct sa_deadletter){
            .stream = view.stream, .source = source, .location = locs[n_dl],
            .reason = reason[0] ? reason : "rejected by the sink",
            .raw = rec.body, .raw_len = rec.body_len};
        n_dl++;
    }
    if (rc < 0)
        goto out;
    if (n_dl > 0) {
        struct sa_commit commit = {.deadletters = dl, .n_deadletters = n_dl};
        rc = sa_spool_commit(w->spool, &commit, NULL, err);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < n_rejected; i++)
        posset_add(&w->dead, segment_id, rejected[i]);
    {
        char seg[32], cnt[16];
        snprintf(seg, sizeof seg, "%" PRId64, segment_id);
        snprintf(cnt, sizeof cnt, "%zu", n_dl);
        if (n_dl > 0)
            sa_log_warn("records dead-lettered", "sink", w->conf->name, "segment", seg,
                        "count", cnt, "reason", reason);
        snprintf(cnt, sizeof cnt, "%zu", n_rejected - n_dl);
        if (n_rejected > n_dl)
            sa_log_info("rejected records dead-lettered by an earlier run already",
                        "sink", w->conf->name, "segment", seg, "count", cnt);
    }
    rc = SA_OK;
out:
    free(dl);
    free(locs);
    free(rejected);
    return rc;
}
