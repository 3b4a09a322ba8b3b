/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dispatcher: moves spooled records to the sinks and owns every sink's
 * cursor (DESIGN.md §2 I2, I5; §4; §5).
 *
 * THREADS
 *
 * One worker thread per configured sink. A worker owns, and alone uses, its
 * spool handle (opened without SA_SPOOL_CREATE), its schema cache, its
 * struct sa_sink and its in-flight bookkeeping. What other threads see of a
 * worker (struct sa_sink_metrics) is copied under the worker's `lock`. The
 * dispatcher's `lock` guards `generation` (bumped by sa_dispatcher_notify
 * and by stop) and the stop request; `wake` is broadcast on each bump.
 * sa_dispatcher_caught_up() uses a separate handle, `query`, under
 * `query_lock`.
 *
 * POSITIONS
 *
 * A position is a struct sa_cursor (segment_id, record_index): "everything
 * before record_index of segment_id, and every earlier segment". Each
 * worker keeps three:
 *
 *   saved   what sink_cursors holds (the durable cursor on disk);
 *   acked   the end of the contiguous prefix of records whose outcome is
 *           final: acknowledged (SA_SINK_OK) or dead-lettered
 *           (SA_SINK_REJECT). The cursor the spool may trim up to;
 *   send    the next record to offer to the sink.
 *
 *   Invariant P1: saved <= acked <= send.
 *   Invariant P2: every record in [acked, send) is covered by exactly one
 *                 span of the in-flight list, in order.
 *   Invariant P3: every position in `dead` is >= acked, and the sink has
 *                 not been offered its record since it was added.
 *
 * When a segment is passed completely the position becomes (id + 1, 0)
 * rather than (id, count): it means the same thing ("all segments with a
 * smaller id"), needs no knowledge of the segment's length, and stays
 * right when the next segment belongs to a stream this sink ignores.
 *
 * IN-FLIGHT BOOKKEEPING
 *
 * Each successful send() adds a span: records [first, end) of one segment,
 * with one state byte per record: OUTSTANDING (no outcome yet), PASSED
 * (acked or dead-lettered) or RETRY (the sink asked for it again). A run
 * of records in `dead` (DEAD LETTERS) gets a span too, without a send()
 * and PASSED from the start, so that P2 holds across the gap. Spans
 * are sorted by (segment_id, first), so an ack, which names a segment and a
 * record range, is matched by binary search; acks may arrive in any order
 * (Kafka partitions) and may cover part of a span or several spans. The
 * number of OUTSTANDING records is `outstanding`, and the worker sends only
 * while outstanding < max_in_flight, cutting a segment short when needed
 * (fill) so that the sink never holds more than max_in_flight
 * records. Memory is the spans alone: one byte per in-flight record, never
 * the backlog (I5); segments are streamed from SQLite one at a time.
 *
 * STATE MACHINE (enum sa_sink_state, per worker)
 *
 *   STARTING --worker_main--> RUNNING
 *   RUNNING  --fill/collect_acks: send failed, RETRY outcome, poll_acks or
 *              spool error (enter_backoff)--> BACKOFF
 *   BACKOFF  --backoff_step: delay over and outstanding outcomes drained
 *              (or drain limit hit); rewind: send = acked, spans
 *              dropped, `dead` kept, the coalesce table emptied--> RUNNING
 *   RUNNING/BACKOFF --worker_main: stop requested and caught up, or grace
 *              over (finish)--> STOPPED
 *
 * FAILED is never entered: a worker does not give up on its own. Errors
 * that last (upstream down, a spool read failing, a dead letter that
 * cannot be stored) keep it cycling through BACKOFF with the reason in
 * last_error and in the log, while the cursor stays put (I2, I4).
 *
 * The backoff delay is "full jitter": uniform in [0, min(retry_max_ms,
 * retry_initial_ms * 2^attempt)]; attempt is reset by the first OK outcome
 * after a failure. Until then the worker sends at most
 * SA_DISPATCH_PROBE_RECORDS at a time (window()), a half-open circuit
 * breaker: an upstream that is down gets a probe per backoff instead of
 * max_in_flight records, so the sink's memory (librdkafka's queue, say)
 * stays at its idle level through an outage of any length, and the full
 * window opens with the first success. After the delay the worker rewinds
 * to `acked` and offers everything after it again: the sink sees those
 * records twice, which is the at-least-once contract; (origin_id, seq) lets
 * the upstream drop the duplicates (I3). Outcomes of the old attempt that
 * arrive after a rewind are applied to the new spans covering the same
 * records: an OK is still a delivery, a RETRY only costs one more round, a
 * REJECT for a record dead-lettered already changes nothing.
 *
 * DEAD LETTERS
 *
 * A record the sink rejected (SA_SINK_REJECT) is stored as a dead letter
 * once and never offered to that sink again. A rewind goes back to `acked`,
 * which can be before such a record (a neighbour was asked again), so the
 * worker keeps `dead`: the positions it dead-lettered that acked has not
 * passed yet (P3). fill() does not offer them: it cuts a view short before
 * one and covers a run of them with a PASSED span. advance() drops the
 * positions acked passes, so `dead` only holds records of the in-flight
 * range (current or abandoned by a rewind), whose spans cost a byte per
 * record anyway: never the backlog. Without it a transactional sink
 * livelocks: the rejected record fails its transaction, the others come
 * back RETRY, the rewind offers the record again, and so on, with a dead
 * letter per round.
 *
 * Across a restart (kill -9 after a dead letter was committed but before
 * a saved cursor passed its record), the record is offered again. At the
 * first rejection of a run, load_stored reads this sink's dead letters
 * (source "sink:<name>", location "segment S record I seq Q") at or after
 * acked into `stored`, and sa_dispatch_deadletter_range stores none of
 * those twice: the record only joins `dead`. One scan of the deadletters
 * table per run that has a rejection; an index on (source, location) would
 * make it a lookup per insert but change the spool format. The dead
 * letters and the position sets are in rejects.c.
 *
 * COALESCING (`coalesce: true`)
 *
 * Draining a long backlog, most records of a busy key are old versions
 * that the store would only overwrite (or refuse as older). With coalesce
 * the worker reads ahead of `send` by up to coalesce_window records
 * (sa_coalesce_scan; `scan` is the first record not read ahead yet) and keeps,
 * per (stream, key), the position and version of the newest record seen
 * (best: highest version, the later one on a tie) and the last position
 * the key was seen at (struct ckey, an open-addressing table). fill() then
 * offers a record only when it is its key's best: the others (superseded)
 * get a PASSED span without the sink, are counted in `superseded` and
 * stored with the cursor (sa_spool_cursor_set_counted), so that `status`
 * shows them. The table, the reading ahead and that question live in
 * coalesce.c.
 *
 *   Invariant P4: a record is passed as superseded only when it lies
 *                 before `scan` (it was read ahead) and its key's best is
 *                 another record read ahead, of an equal or newer
 *                 version; that record is offered to the sink too (it
 *                 is its key's best when fill reaches it, or was offered
 *                 before). Records without a key, and records not read
 *                 ahead yet (committed after the scan reached the end),
 *                 are always offered.
 *
 * Memory is the table: one entry per key read ahead, at most
 * coalesce_window records plus one segment ahead of `send`; entries whose
 * last position `send` has passed are dropped whenever the table is three
 * quarters full (coalesce_rehash, which then sizes it at twice what is
 * left, so that it grows by half at a time), and whenever send has passed
 * the last records of half the keys (coalesce_release: after the end of
 * a backlog no new key comes to make room): never the backlog (I5). A
 * slot is 48 bytes, the positions kept without struct sa_cursor's
 * padding: at 50k keys the table was 9.4 MB (72-byte slots, four times
 * the keys) and most of a coalescing drain's memory. Dropping such an
 * entry early is safe: a record whose key has no entry is offered. A rewind (backoff) empties
 * the table and reads ahead again from `acked`, so the records offered
 * again are judged afresh; the superseded ones among them are counted
 * again (the count is a figure, not an invariant). A segment that does
 * not decode stops the reading ahead there; the sink meets it as usual.
 *
 * A sink may also report SA_SINK_SUPERSEDED (a store's version conflict):
 * collect_acks passes such records like OK ones and counts them with the
 * coalesced ones.
 *
 * TRANSITIONS OF THE CURSOR
 *
 *   collect_acks  OK: record PASSED. REJECT: sa_dispatch_deadletter_range
 *                 (rejects.c) stores each record (stream, "sink:<name>",
 *                 "segment S record I seq Q", reason, raw Avro body) not
 *                 in `stored` in one commit, adds them all to `dead`,
 *                 then PASSED; if that commit fails the records are
 *                 RETRY (I4: never dropped silently).
 *   fill          a run of `dead` records at `send`: a PASSED span, send
 *                 moves past it without the sink. With coalesce, a run
 *                 of superseded records likewise (P4).
 *   advance       acked moves over the PASSED prefix; spans fully passed
 *                 and positions of `dead` and `stored` before acked are
 *                 dropped.
 *   save_cursor   acked -> sink_cursors, at most every SAVE_INTERVAL_MS or
 *                 SAVE_EVERY_RECORDS, and always when idle and when the
 *                 worker stops. A crash loses at most that window: the
 *                 records are sent again (duplicates, never loss: I2).
 *
 * START
 *
 * A worker starts from the cursor in sink_cursors, unless its sink has the
 * optional start_cursor op: then load_start_cursor asks the sink (with
 * backoff until it answers) and acked = send = its answer, while saved
 * stays the spool's, so the next save_cursor writes the new position.
 * Kafka with exactly_once needs this: its cursor is committed in the same
 * transaction as the records, so it can be ahead of the spool's after a
 * kill -9, and resuming from the spool's would write records twice.
 *
 * Idle (sa_spool_read_after says SA_EOF and nothing is in flight) the
 * worker saves its cursor and waits on `wake` for up to IDLE_WAIT_MS;
 * sa_dispatcher_notify wakes it at once. The generation counter closes the
 * race between the worker's read and its wait. The first idle turn at a
 * new saved cursor bumps `idle_turns` and signals `idle`, on which
 * sa_dispatcher_wait_caught_up (`run --exit-when-synced`, `import
 * --wait-synced`) waits instead of polling: a drain ends when the last
 * cursor is saved, not up to a poll interval later.
 *
 * STOP
 *
 * sa_dispatcher_stop (sources are already stopped) sets a deadline of
 * grace_ms and wakes everyone. A worker leaves its loop when it is caught
 * up or the deadline less a reserve passes (stop_due: the reserve is for
 * finish), then collects the outcomes on their way until the deadline,
 * saves its cursor, closes its sink, which is told the deadline
 * (sa_sink.close_by_ms) and waits past it for nothing, and logs how many
 * records stay spooled for the next start (finish). The whole stop takes
 * grace_ms, however unreachable the upstream. Trimming is not done here:
 * housekeeping calls sa_spool_trim.
 *
 * sa_dispatcher_hand_over is the same stop for a reload, except that a
 * worker in BACKOFF leaves at once: it has nothing in flight worth
 * waiting for, and the new config may be what fixes its upstream.
 */
#include "sync/dispatcher.h"
#include "sync/dispatcher_private.h"

#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "agent/base/metrics.h"
#include "agent/base/thread.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SAVE_INTERVAL_MS 100
#define SAVE_EVERY_RECORDS 1000
#define IDLE_WAIT_MS 200
#define ACK_WAIT_MS 50          /* poll_acks timeout while records are out */
#define DEFAULT_RETRY_INITIAL_MS 100
#define DEFAULT_RETRY_MAX_MS 30000
#define DEFAULT_COALESCE_WINDOW 100000

/* Records [first, end) of one segment, handed to the sink by one send(). */
struct span {
    int64_t segment_id;
    uint32_t first, end;
    uint32_t n_passed;
    uint32_t prefix; /* leading PASSED records, for advance() */
    int segment_done; /* end is the segment's last record + 1 */
    int64_t created_ms; /* the segment's commit time, for ack latency */
    uint8_t *state;   /* end - first entries of enum rec_state */
};

struct sa_dispatcher {
    pthread_mutex_t lock; /* guards generation, stopping, stop_deadline,
                           * idle_turns */
    pthread_cond_t wake;
    uint64_t generation;
    pthread_cond_t idle;  /* a worker caught up: sa_dispatcher_wait_caught_up */
    uint64_t idle_turns;
    int stopping;
    int handing_over;      /* a reload: workers in backoff stop at once */
    int64_t stop_deadline; /* mono ms */
    int64_t stop_reserve;  /* ms before the deadline kept for finish */

    pthread_mutex_t query_lock; /* guards query */
    struct sa_spool *query;

    struct worker *workers;
    size_t n_workers;
};

/* --- small helpers ------------------------------------------------------ */

int sa_dispatcher_cursor_cmp(const struct sa_cursor *a, const struct sa_cursor *b)
{
    if (a->segment_id != b->segment_id)
        return a->segment_id < b->segment_id ? -1 : 1;
    if (a->record_index != b->record_index)
        return a->record_index < b->record_index ? -1 : 1;
    return 0;
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: per-worker, so no shared state and no rand() lock. */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Prefix err with "sink NAME: " and `what` once: sinks name themselves in
 * their errors already, and "sink k: send: sink k: ..." says it twice. */
static int sink_err_prefix(struct sa_err *err, const char *name, const char *what)
{
    size_t n = strlen(name);
    if (strncmp(err->msg, "sink ", 5) == 0 && strncmp(err->msg + 5, name, n) == 0 &&
        strncmp(err->msg + 5 + n, ": ", 2) == 0)
        memmove(err->msg, err->msg + 7 + n, strlen(err->msg + 7 + n) + 1);
    return sa_err_prefix(err, "sink %s: %s", name, what);
}

static void set_state(struct worker *w, int state, const struct sa_err *err)
{
    pthread_mutex_lock(&w->lock);
    w->m.state = state;
    if (err && err->msg[0])
        snprintf(w->m.last_error, sizeof w->m.last_error, "%s", err->msg);
    pthread_mutex_unlock(&w->lock);
}

static void count(struct worker *w, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&w->lock);
    *field += n;
    pthread_mutex_unlock(&w->lock);
}

/* Time to leave the loop: the deadline less finish's reserve passed, or
 * (hand-over) the worker is in backoff. */
static int stop_due(struct worker *w, int64_t now)
{
    struct sa_dispatcher *d = w->d;
    int due;
    pthread_mutex_lock(&d->lock);
    due = d->stopping && (now >= d->stop_deadline - d->stop_reserve ||
                          (d->handing_over && w->backoff_until));
    pthread_mutex_unlock(&d->lock);
    return due;
}

static int64_t stop_deadline(struct sa_dispatcher *d)
{
    int64_t deadline;
    pthread_mutex_lock(&d->lock);
    deadline = d->stopping ? d->stop_deadline : 0;
    pthread_mutex_unlock(&d->lock);
    return deadline;
}

static int stopping(struct sa_dispatcher *d)
{
    int s;
    pthread_mutex_lock(&d->lock);
    s = d->stopping;
    pthread_mutex_unlock(&d->lock);
    return s;
}

/* Wait on `wake` until the generation moves past `seen`, a stop is
 * requested, or ms elapse. */
static void wait_wake(struct sa_dispatcher *d, uint64_t seen, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sa_timespec_add_ms(&ts, ms);
    pthread_mutex_lock(&d->lock);
    while (d->generation == seen && !d->stopping)
        if (pthread_cond_timedwait(&d->wake, &d->lock, &ts) != 0)
            break; /* ETIMEDOUT */
    pthread_mutex_unlock(&d->lock);
}

/* The worker caught up: its cursor is saved. Said once per cursor it
 * catches up at (a spell of work may end in the turn that began it, so a
 * "busy" flag would miss it). */
static void note_idle(struct worker *w)
{
    if (w->idle && sa_dispatcher_cursor_cmp(&w->idle_at, &w->saved) == 0)
        return;
    w->idle = 1;
    w->idle_at = w->saved;
    pthread_mutex_lock(&w->d->lock);
    w->d->idle_turns++;
    pthread_cond_broadcast(&w->d->idle);
    pthread_mutex_unlock(&w->d->lock);
}

/* Byte offset of frame `index` in a segment's data (frames are varint
 * length-prefixed, segment.h), for cutting a view short. */
static int frame_offset(const struct sa_segment_view *view, uint32_t index,
                        size_t *off /* out */, struct sa_err *err)
{
    const uint8_t *p = view->data, *end = view->data + view->len;
    for (uint32_t i = 0; i < index; i++) {
        uint64_t len;
        size_t n = sa_varint_decode(p, end, &len);
        if (n == 0 || len > (uint64_t)(end - p - (ptrdiff_t)n))
            return sa_err_set(err, SA_ECORRUPT,
                              "segment %" PRId64 " record %u: bad frame length",
                              view->id, i);
        p += n + len;
    }
    *off = (size_t)(p - view->data);
    return SA_OK;
}

/* --- in-flight spans ---------------------------------------------------- */

static void spans_clear(struct worker *w)
{
    for (size_t i = w->head; i < w->n; i++)
        free(w->spans[i].state);
    w->head = w->n = 0;
    w->outstanding = 0;
}

/* Add the span [first, end) of a segment after the last one: OUTSTANDING
 * records handed to the sink, or, with `passed`, records not offered
 * because their dead letter is stored already (DEAD LETTERS). */
static int span_push(struct worker *w, int64_t segment_id, int64_t created_ms,
                     uint32_t first, uint32_t end, int segment_done, int passed)
{
    struct span *s;

    if (w->head > 0 && w->n == w->cap) {
        memmove(w->spans, w->spans + w->head, (w->n - w->head) * sizeof *s);
        w->n -= w->head;
        w->head = 0;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        struct span *v = realloc(w->spans, cap * sizeof *v);
        if (!v)
            return SA_ENOMEM;
        w->spans = v;
        w->cap = cap;
    }
    s = &w->spans[w->n];
    s->state = calloc(end - first, 1);
    if (!s->state)
        return SA_ENOMEM;
    s->segment_id = segment_id;
    s->first = first;
    s->end = end;
    s->n_passed = 0;
    s->prefix = 0;
    s->segment_done = segment_done;
    s->created_ms = created_ms;
    w->n++;
    if (passed) {
        memset(s->state, REC_PASSED, end - first);
        s->n_passed = end - first;
    } else {
        w->outstanding += end - first;
    }
    return SA_OK;
}

/* Index of the first live span that may hold (segment_id, index): the first
 * with segment_id greater, or equal and end > index. */
static size_t span_find(const struct worker *w, int64_t segment_id,
                        uint32_t index)
{
    size_t lo = w->head, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct span *s = &w->spans[mid];
        if (s->segment_id < segment_id ||
            (s->segment_id == segment_id && s->end <= index))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint8_t *sa_dispatch_state_at(const struct worker *w, int64_t segment_id,
                              uint32_t index)
{
    size_t i = span_find(w, segment_id, index);
    if (i < w->n && w->spans[i].segment_id == segment_id &&
        w->spans[i].first <= index && index < w->spans[i].end)
        return &w->spans[i].state[index - w->spans[i].first];
    return NULL;
}

static void advance_spans(struct worker *w)
{
    while (w->head < w->n) {
        struct span *s = &w->spans[w->head];
        uint32_t len = s->end - s->first;
        while (s->prefix < len && s->state[s->prefix] == REC_PASSED)
            s->prefix++;
        if (s->prefix < len) {
            if (s->prefix > 0) {
                w->acked.segment_id = s->segment_id;
                w->acked.record_index = s->first + s->prefix;
            }
            return;
        }
        if (s->segment_done) {
            w->acked.segment_id = s->segment_id + 1;
            w->acked.record_index = 0;
        } else {
            w->acked.segment_id = s->segment_id;
            w->acked.record_index = s->end;
        }
        free(s->state);
        s->state = NULL;
        w->head++;
    }
    w->head = w->n = 0;
}

/* Move `acked` over the passed prefix, dropping finished spans and the
 * dead-letter positions it passed. */
static void advance(struct worker *w)
{
    advance_spans(w);
    sa_posset_prune(&w->dead, &w->acked);
    sa_posset_prune(&w->stored, &w->acked);
}

/* --- cursor persistence ------------------------------------------------- */

static void save_cursor(struct worker *w, int force)
{
    struct sa_err err = {0};
    int64_t now = sa_mono_ms();

    if (sa_dispatcher_cursor_cmp(&w->saved, &w->acked) == 0)
        return;
    if (!force && now - w->saved_mono_ms < SAVE_INTERVAL_MS &&
        w->passed_since_save < SAVE_EVERY_RECORDS)
        return;
    if (sa_spool_cursor_set_rollup(w->spool, w->conf->name, &w->acked,
                                   w->superseded_unsaved, w->acked_unsaved, &err)) {
        /* The cursor stays in memory and is written next time; until then a
         * crash only means more duplicates. */
        sa_log_warn("sink cursor not saved", "sink", w->conf->name, "error",
                    err.msg);
        set_state(w, w->m.state, &err);
        return;
    }
    w->saved = w->acked;
    w->saved_mono_ms = now;
    w->passed_since_save = 0;
    w->superseded_unsaved = 0;
    w->acked_unsaved = 0;
    pthread_mutex_lock(&w->lock);
    w->m.cursor = w->saved;
    pthread_mutex_unlock(&w->lock);
}

/* --- backoff ------------------------------------------------------------ */

static void enter_backoff(struct worker *w, const struct sa_err *why)
{
    int64_t cap = w->retry_initial_ms, delay;
    char ms[32], attempt[16];

    if (w->backoff_until)
        return; /* already backing off: one failure, one delay */
    for (unsigned i = 0; i < w->attempt && cap < w->retry_max_ms; i++)
        cap *= 2;
    if (cap > w->retry_max_ms)
        cap = w->retry_max_ms;
    delay = (int64_t)(rng_next(&w->rng) % (uint64_t)(cap + 1));
    w->attempt++;
    w->backoff_until = sa_mono_ms() + delay;
    if (w->backoff_until == 0)
        w->backoff_until = 1;
    /* Outcomes of what is still out are worth waiting for a little longer
     * than the delay: they save resending records that did arrive. */
    w->backoff_drain_until = w->backoff_until + w->retry_max_ms;
    snprintf(ms, sizeof ms, "%" PRId64, delay);
    snprintf(attempt, sizeof attempt, "%u", w->attempt);
    sa_log_warn("sink backoff", "sink", w->conf->name, "error", why->msg,
                "backoff_ms", ms, "attempt", attempt);
    pthread_mutex_lock(&w->lock);
    if (!w->m.failing_since_ms)
        w->m.failing_since_ms = sa_now_ms();
    pthread_mutex_unlock(&w->lock);
    sa_gauge_set(w->up, 0);
    set_state(w, SA_SINK_STATE_BACKOFF, why);
}

/* --- outcomes ----------------------------------------------------------- */

/* Records newly acked, dead-lettered and asked again by one poll's acks. */
struct ack_tally {
    uint64_t n_ok, n_rej, n_retry, n_sup;
};

/* Apply one ack to the spans it overlaps, counting into *tally. Returns 1
 * when it asked for a retry (or a dead letter could not be stored), else 0. */
static int apply_ack(struct worker *w, const struct sa_ack *ack,
                     struct ack_tally *tally, int64_t now_ms, struct sa_err *why)
{
    uint64_t lo = ack->first_index, hi = (uint64_t)ack->first_index + ack->count;
    uint64_t n_ok = 0, n_retry = 0, n_rej = 0, n_sup = 0;
    int outcome = ack->outcome;

    if (outcome == SA_SINK_REJECT) {
        /* Only records still outstanding are dead-lettered; a duplicate
         * outcome for a record already passed changes nothing. */
        uint64_t n_out = 0;
        for (size_t i = span_find(w, ack->segment_id, ack->first_index);
             i < w->n && w->spans[i].segment_id == ack->segment_id &&
             w->spans[i].first < hi;
             i++) {
            struct span *s = &w->spans[i];
            for (uint64_t r = lo > s->first ? lo : s->first; r < hi && r < s->end; r++)
                n_out += s->state[r - s->first] == REC_OUTSTANDING;
        }
        if (n_out == 0)
            return 0;
        if (sa_dispatch_deadletter_range(w, ack->segment_id, ack->first_index, ack->count,
                             ack->reason, why)) {
            sa_err_prefix(why, "dead-lettering: ");
            outcome = SA_SINK_RETRY;
        }
    }
    for (size_t i = span_find(w, ack->segment_id, ack->first_index);
         i < w->n && w->spans[i].segment_id == ack->segment_id &&
         w->spans[i].first < hi;
         i++) {
        struct span *s = &w->spans[i];
        uint64_t span_ok = n_ok;
        for (uint64_t r = lo > s->first ? lo : s->first; r < hi && r < s->end; r++) {
            uint8_t *st = &s->state[r - s->first];
            if (*st != REC_OUTSTANDING)
                continue;
            w->outstanding--;
            if (outcome == SA_SINK_RETRY) {
                *st = REC_RETRY;
                n_retry++;
            } else {
                *st = REC_PASSED;
                s->n_passed++;
                if (outcome == SA_SINK_OK || outcome == SA_SINK_SUPERSEDED)
                    n_ok++;
                else
                    n_rej++;
                n_sup += outcome == SA_SINK_SUPERSEDED;
            }
        }
        /* Commit to upstream acknowledgement, once per span and ack: the
         * records of a span share their segment's commit time. */
        if (n_ok > span_ok && s->created_ms > 0) {
            int64_t ms = now_ms - s->created_ms;
            sa_histogram_observe_n(w->ack_seconds, ms > 0 ? (double)ms / 1000.0 : 0,
                                   n_ok - span_ok);
        }
    }
    w->passed_since_save += n_ok + n_rej;
    tally->n_ok += n_ok;
    tally->n_rej += n_rej;
    tally->n_retry += n_retry;
    tally->n_sup += n_sup;
    w->superseded_unsaved += (int64_t)n_sup;
    w->acked_unsaved += (int64_t)(n_ok - n_sup);
    if (n_retry) {
        if (outcome == ack->outcome)
            sa_err_set(why, SA_ESINK, "sink %s: retry requested: %s",
                       w->conf->name, ack->reason[0] ? ack->reason : "no reason");
        return 1;
    }
    return 0;
}

/* Take what the sink has to report, waiting up to timeout_ms. */
static void collect_acks(struct worker *w, int timeout_ms)
{
    struct sa_err why = {0};
    struct ack_tally tally = {0};
    int64_t now_ms;
    int rc, retry = 0;

    sa_ack_list_clear(&w->acks);
    rc = w->sink.ops->poll_acks(&w->sink, &w->acks, timeout_ms);
    now_ms = sa_now_ms(); /* wall time, as the segments' created_ms */
    for (size_t i = 0; i < w->acks.n; i++)
        retry |= apply_ack(w, &w->acks.v[i], &tally, now_ms, &why);
    /* The metrics lock once per poll, not once per ack: the Kafka sink
     * reports about two acks per three records (deliveries of several
     * partitions interleave, so few of them merge). */
    if (tally.n_ok || tally.n_rej || tally.n_retry) {
        pthread_mutex_lock(&w->lock);
        w->m.acked += tally.n_ok;
        w->m.superseded += tally.n_sup;
        w->m.rejected += tally.n_rej;
        w->m.retried += tally.n_retry;
        if (tally.n_ok && !w->backoff_until)
            w->m.failing_since_ms = 0;
        pthread_mutex_unlock(&w->lock);
        sa_counter_add(w->acked_total, tally.n_ok);
        sa_counter_add(w->superseded_total, tally.n_sup);
        sa_counter_add(w->retries_total, tally.n_retry);
    }
    if (tally.n_ok && w->attempt > 0 && !w->backoff_until) {
        w->attempt = 0;
        sa_gauge_set(w->up, 1);
        sa_log_info("sink recovered", "sink", w->conf->name);
    }
    advance(w);
    if (rc < 0) {
        sa_err_set(&why, rc, "sink %s: poll_acks: %s", w->conf->name,
                   sa_strerror(rc));
        retry = 1;
    }
    if (retry)
        enter_backoff(w, &why);
}

/* --- sending ------------------------------------------------------------ */

/* Records the sink may hold: max_in_flight, or a probe while the last
 * outcome was a failure (see the backoff above). */
static int64_t window(const struct worker *w)
{
    return w->attempt > 0 && w->max_in_flight > SA_DISPATCH_PROBE_RECORDS ? SA_DISPATCH_PROBE_RECORDS
                                                               : w->max_in_flight;
}

/* Offer segments after `send` while the sink has room. *at_end: nothing
 * more to read; *blocked: the sink said SA_EAGAIN. */
static void fill(struct worker *w, int *at_end, int *blocked)
{
    struct sa_err err = {0};
    int rc;

    *at_end = *blocked = 0;
    while (w->outstanding < window(w)) {
        struct sa_segment_view view, part;
        uint32_t start, end;
        size_t k;
        int64_t room = window(w) - w->outstanding;

        if (w->coalesce && (rc = sa_coalesce_scan(w, &err))) {
            sa_err_prefix(&err, "sink %s: reading ahead to coalesce: ", w->conf->name);
            enter_backoff(w, &err);
            return;
        }
        rc = sa_spool_read_after(w->spool, &w->send, w->streams, w->n_streams,
                                 &view, &err);
        if (rc == SA_EOF) {
            *at_end = 1;
            return;
        }
        if (rc) {
            sa_err_prefix(&err, "sink %s: reading the spool: ", w->conf->name);
            enter_backoff(w, &err);
            return;
        }
        start = view.id == w->send.segment_id ? w->send.record_index : 0;
        if (view.start_index > start)
            start = view.start_index;
        if (start >= view.count) {
            /* Nothing left in it (an empty or exhausted segment). */
            w->send.segment_id = view.id + 1;
            w->send.record_index = 0;
            continue;
        }
        end = view.count;
        /* Records dead-lettered in this run are not offered again: a run
         * of them at `start` gets a span of PASSED records, and the view
         * is cut short before the next one. */
        k = sa_posset_find(&w->dead, view.id, start);
        if (k < w->dead.n && w->dead.v[k].segment_id == view.id &&
            w->dead.v[k].record_index == start) {
            uint32_t skip_end = start;
            while (k < w->dead.n && w->dead.v[k].segment_id == view.id &&
                   w->dead.v[k].record_index == skip_end && skip_end < view.count) {
                skip_end++;
                k++;
            }
            if (span_push(w, view.id, view.created_ms, start, skip_end,
                          skip_end == view.count, 1)) {
                sa_err_set(&err, SA_ENOMEM, "sink %s: in-flight list: out of memory",
                           w->conf->name);
                enter_backoff(w, &err);
                return;
            }
            w->send.segment_id = skip_end == view.count ? view.id + 1 : view.id;
            w->send.record_index = skip_end == view.count ? 0 : skip_end;
            if (w->coalesce)
                w->coalesce->ahead -= skip_end - start;
            continue;
        }
        if (k < w->dead.n && w->dead.v[k].segment_id == view.id &&
            w->dead.v[k].record_index < end)
            end = w->dead.v[k].record_index;
        /* And so that the sink never holds more than the window. */
        if ((int64_t)(end - start) > room)
            end = start + (uint32_t)room;
        /* Coalescing: a run of superseded records is passed without the
         * sink (P4); the view is cut short before the next one. */
        if (w->coalesce) {
            uint32_t run_end;
            int skip;
            if (sa_coalesce_run(w, &view, start, end, &skip, &run_end, &err)) {
                sink_err_prefix(&err, w->conf->name, "");
                enter_backoff(w, &err);
                return;
            }
            if (skip) {
                uint32_t n_sup = run_end - start;
                if (span_push(w, view.id, view.created_ms, start, run_end,
                              run_end == view.count, 1)) {
                    sa_err_set(&err, SA_ENOMEM,
                               "sink %s: in-flight list: out of memory", w->conf->name);
                    enter_backoff(w, &err);
                    return;
                }
                pthread_mutex_lock(&w->lock);
                w->m.superseded += n_sup;
                w->m.acked += n_sup;
                pthread_mutex_unlock(&w->lock);
                sa_counter_add(w->superseded_total, n_sup);
                sa_counter_add(w->acked_total, n_sup);
                w->superseded_unsaved += n_sup;
                w->passed_since_save += n_sup;
                w->coalesce->ahead -= n_sup;
                w->send.segment_id = run_end == view.count ? view.id + 1 : view.id;
                w->send.record_index = run_end == view.count ? 0 : run_end;
                continue;
            }
            end = run_end;
        }
        part = view;
        part.start_index = start;
        if (end < view.count) {
            size_t off = 0;
            if (frame_offset(&view, end, &off, &err)) {
                enter_backoff(w, &err);
                return;
            }
            part.count = end;
            part.len = off;
        }
        sa_err_clear(&err);
        rc = w->sink.ops->send(&w->sink, &part, &err);
        if (rc == SA_EAGAIN) {
            *blocked = 1;
            return;
        }
        if (rc) {
            if (!err.msg[0])
                sa_err_set(&err, rc, "%s", sa_strerror(rc));
            sink_err_prefix(&err, w->conf->name, "send: ");
            count(w, &w->m.retried, end - start);
            sa_counter_add(w->retries_total, end - start);
            enter_backoff(w, &err);
            return;
        }
        if (span_push(w, view.id, view.created_ms, start, end, end == view.count, 0)) {
            /* The sink has the records but we cannot track them: treat
             * as a failure, they are sent again after the backoff. */
            sa_err_set(&err, SA_ENOMEM, "sink %s: in-flight list: out of memory",
                       w->conf->name);
            enter_backoff(w, &err);
            return;
        }
        count(w, &w->m.sent, end - start);
        if (w->coalesce)
            w->coalesce->ahead -= end - start;
        if (end == view.count) {
            w->send.segment_id = view.id + 1;
            w->send.record_index = 0;
        } else {
            w->send.segment_id = view.id;
            w->send.record_index = end;
        }
    }
}

/* BACKOFF: keep collecting outcomes until the delay is over and nothing is
 * outstanding (or the drain limit passed), then rewind to `acked`. */
static void backoff_step(struct worker *w)
{
    int64_t now = sa_mono_ms();

    if (now < w->backoff_until || (w->outstanding > 0 && now < w->backoff_drain_until)) {
        int64_t wait = (now < w->backoff_until ? w->backoff_until : w->backoff_drain_until) - now;
        if (w->outstanding > 0) {
            collect_acks(w, (int)(wait < ACK_WAIT_MS ? wait : ACK_WAIT_MS));
        } else {
            uint64_t seen;
            pthread_mutex_lock(&w->d->lock);
            seen = w->d->generation;
            pthread_mutex_unlock(&w->d->lock);
            /* Only a stop ends the wait early (the generation check makes
             * notify wake us too, which is harmless: we loop back). */
            wait_wake(w->d, seen, wait < IDLE_WAIT_MS ? wait : IDLE_WAIT_MS);
        }
        save_cursor(w, 0);
        return;
    }
    if (w->outstanding > 0) {
        char n[32];
        snprintf(n, sizeof n, "%" PRId64, w->outstanding);
        sa_log_warn("sink outcomes abandoned", "sink", w->conf->name,
                    "records", n);
    }
    spans_clear(w);
    w->send = w->acked;
    if (w->coalesce)
        w->coalesce->scan.segment_id = -1; /* read ahead again from send */
    w->backoff_until = 0;
    set_state(w, SA_SINK_STATE_RUNNING, NULL);
}

/* --- the worker --------------------------------------------------------- */

/* How long a stopping worker waits for outstanding outcomes, at most:
 * the part of the grace kept for it (sa_dispatcher_stop). */
#define FINISH_WAIT_MS 2000

static void finish(struct worker *w)
{
    char seg[32], idx[16], left[32];
    int64_t deadline = stop_deadline(w->d), records = 0, oldest = 0;
    struct sa_err err = {0};

    /* Outcomes still on their way (a Kafka batch in flight) are waited
     * for a little, within the grace: each one collected here is a record
     * not sent again after the restart. A worker in backoff has none
     * worth waiting for. */
    int64_t until = sa_mono_ms() + FINISH_WAIT_MS;
    int hand_over;

    pthread_mutex_lock(&w->d->lock);
    hand_over = w->d->handing_over;
    pthread_mutex_unlock(&w->d->lock);
    if (hand_over && w->backoff_until)
        deadline = sa_mono_ms(); /* its sink flushes and commits nothing either */
    if (deadline && deadline < until)
        until = deadline;
    while (w->outstanding > 0 && !w->backoff_until && sa_mono_ms() < until)
        collect_acks(w, 50);
    save_cursor(w, 1);
    w->sink.close_by_ms = deadline;
    w->sink.ops->close(&w->sink);
    w->sink_open = 0;
    spans_clear(w);
    set_state(w, SA_SINK_STATE_STOPPED, NULL);
    snprintf(seg, sizeof seg, "%" PRId64, w->saved.segment_id);
    snprintf(idx, sizeof idx, "%u", w->saved.record_index);
    if (sa_spool_lag(w->spool, &w->saved, w->streams, w->n_streams, &records, &oldest,
                     &err) == SA_OK)
        snprintf(left, sizeof left, "%" PRId64, records);
    else
        snprintf(left, sizeof left, "unknown");
    /* What the next start sends first, so that a stop with the upstream
     * down says what it leaves behind. */
    sa_log_info("sink stopped", "sink", w->conf->name, "segment", seg, "record", idx,
                "spooled_for_next_start", left);
}

/* A sink that keeps its own durable cursor upstream (the optional
 * start_cursor op, e.g. Kafka with exactly_once) says where to resume;
 * until it can, nothing is sent, with the usual backoff between tries.
 * Returns 0 when a stop came first. */
static int load_start_cursor(struct worker *w)
{
    struct sa_cursor start;
    struct sa_err err = {0};

    if (!w->sink.ops->start_cursor)
        return 1;
    for (;;) {
        uint64_t seen;
        start = w->saved;
        sa_err_clear(&err);
        if (w->sink.ops->start_cursor(&w->sink, &start, &err) == SA_OK)
            break;
        if (!err.msg[0])
            sa_err_set(&err, SA_ESINK, "start_cursor failed");
        sink_err_prefix(&err, w->conf->name, "");
        enter_backoff(w, &err);
        while (sa_mono_ms() < w->backoff_until && !stopping(w->d)) {
            pthread_mutex_lock(&w->d->lock);
            seen = w->d->generation;
            pthread_mutex_unlock(&w->d->lock);
            wait_wake(w->d, seen, IDLE_WAIT_MS);
        }
        w->backoff_until = 0;
        if (stopping(w->d))
            return 0;
    }
    w->attempt = 0;
    pthread_mutex_lock(&w->lock);
    w->m.failing_since_ms = 0;
    pthread_mutex_unlock(&w->lock);
    sa_gauge_set(w->up, 1);
    /* A cursor past every segment this spool ever had (a bug, a cursor
     * topic edited by hand, a salvaged spool) would skip what is spooled:
     * never trust it over the spool's own (I4; duplicates, not loss). */
    if (sa_dispatcher_cursor_cmp(&start, &w->saved) != 0) {
        int64_t last = 0;
        if (sa_spool_last_segment_id(w->spool, &last, &err) != SA_OK ||
            start.segment_id > last + 1) {
            char at[64], end[32];
            snprintf(at, sizeof at, "segment %" PRId64 " record %" PRIu32,
                     start.segment_id, start.record_index);
            snprintf(end, sizeof end, "%" PRId64, last);
            sa_log_warn("sink cursor lies past the end of the spool: ignored, "
                        "resuming from the spool's own cursor (records may be "
                        "sent again)", "sink", w->conf->name, "cursor", at,
                        "last_segment", end, "error", err.msg[0] ? err.msg : "-");
            start = w->saved;
        }
    }
    /* saved stays what the spool holds, so save_cursor writes the new
     * position at the first chance. */
    w->acked = w->send = start;
    set_state(w, SA_SINK_STATE_RUNNING, NULL);
    return 1;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct sa_dispatcher *d = w->d;

    sa_thread_name("sink:%s", w->conf->name);
    set_state(w, SA_SINK_STATE_RUNNING, NULL);
    sa_log_info("sink started", "sink", w->conf->name, "type", w->sink.ops->name);
    if (!load_start_cursor(w)) {
        finish(w);
        return NULL;
    }
    for (;;) {
        int at_end, blocked, timeout = 0;

        if (stop_due(w, sa_mono_ms()))
            break;
        /* Stopping: what the sink still does (a transaction's commit in
         * poll_acks) waits no longer than the grace either. */
        if (!w->sink.close_by_ms)
            w->sink.close_by_ms = stop_deadline(d);
        if (w->backoff_until) {
            backoff_step(w);
            continue;
        }
        pthread_mutex_lock(&d->lock);
        w->seen_generation = d->generation;
        pthread_mutex_unlock(&d->lock);

        fill(w, &at_end, &blocked);
        if (w->backoff_until)
            continue;
        if (blocked || w->outstanding >= window(w) ||
            (at_end && w->outstanding > 0))
            timeout = ACK_WAIT_MS;
        collect_acks(w, timeout);
        if (w->backoff_until)
            continue;
        if (at_end && w->head == w->n) {
            /* Caught up: make the cursor durable before sleeping. */
            save_cursor(w, 1);
            note_idle(w);
            if (stopping(d))
                break;
            wait_wake(d, w->seen_generation, IDLE_WAIT_MS);
        } else {
            save_cursor(w, 0);
        }
    }
    finish(w);
    return NULL;
}

/* --- public API --------------------------------------------------------- */

static void worker_fini(struct worker *w)
{
    if (w->sink_open)
        w->sink.ops->close(&w->sink);
    spans_clear(w);
    free(w->spans);
    sa_posset_fini(&w->dead);
    sa_posset_fini(&w->stored);
    sa_coalesce_free(w->coalesce);
    sa_ack_list_fini(&w->acks);
    sa_schema_cache_free(w->sink.schemas);
    sa_spool_close(w->spool);
    pthread_mutex_destroy(&w->lock);
}

static void free_dispatcher(struct sa_dispatcher *d)
{
    for (size_t i = 0; i < d->n_workers; i++)
        worker_fini(&d->workers[i]);
    free(d->workers);
    sa_spool_close(d->query);
    pthread_mutex_destroy(&d->query_lock);
    pthread_cond_destroy(&d->wake);
    pthread_cond_destroy(&d->idle);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* The sink's series: the same handles again after a reload (metrics.h M1),
 * so the counters keep counting across it. */
static int register_metrics(struct worker *w, struct sa_err *err)
{
    struct sa_metrics *m = sa_metrics_global();
    const char *const labels[] = {"sink", w->conf->name, NULL};
    int rc;

    rc = sa_metrics_counter(m, "syncagent_records_acked_total",
                            "Records the sink's upstream acknowledged (superseded "
                            "ones included).",
                            labels, &w->acked_total, err);
    if (rc == SA_OK)
        rc = sa_metrics_counter(m, "syncagent_records_superseded_total",
                                "Records acknowledged without being delivered because "
                                "a newer version of their key was (coalesce).",
                                labels, &w->superseded_total, err);
    if (rc == SA_OK)
        rc = sa_metrics_counter(m, "syncagent_sink_retries_total",
                                "Records offered to the sink again after a failure.",
                                labels, &w->retries_total, err);
    if (rc == SA_OK)
        rc = sa_metrics_gauge(m, "syncagent_sink_up",
                              "1 while the sink delivers, 0 while it backs off after "
                              "a failure.",
                              labels, &w->up, err);
    if (rc == SA_OK)
        rc = sa_metrics_histogram(m, "syncagent_sink_ack_seconds",
                                  "Time from a record's commit to the spool to its "
                                  "acknowledgement by the sink's upstream.",
                                  labels, sa_metrics_latency_buckets,
                                  sa_metrics_latency_n_buckets, &w->ack_seconds, err);
    if (rc)
        return sa_err_prefix(err, "sink %s: metrics: ", w->conf->name);
    sa_gauge_set(w->up, 1);
    return SA_OK;
}

static int worker_init(struct sa_dispatcher *d, struct worker *w,
                       const struct sa_spool_opts *spool_opts,
                       const struct sa_sink_conf *conf, struct sa_err *err)
{
    const struct sa_sink_ops *ops = conf->ops;
    int rc;

    w->d = d;
    w->conf = conf;
    w->streams = (const char *const *)conf->streams.v;
    w->n_streams = conf->streams.n;
    w->max_in_flight = conf->max_in_flight > 0 ? conf->max_in_flight
                                               : SA_SINK_DEFAULT_MAX_IN_FLIGHT;
    w->retry_initial_ms = conf->retry_initial_ms > 0 ? conf->retry_initial_ms
                                                     : DEFAULT_RETRY_INITIAL_MS;
    w->retry_max_ms = conf->retry_max_ms > 0 ? conf->retry_max_ms
                                             : DEFAULT_RETRY_MAX_MS;
    if (w->retry_max_ms < w->retry_initial_ms)
        w->retry_max_ms = w->retry_initial_ms;
    w->rng = (uint64_t)sa_mono_us() ^ ((uint64_t)(uintptr_t)w << 16) ^
             0x9E3779B97F4A7C15ULL;
    if (!w->rng)
        w->rng = 1;
    pthread_mutex_init(&w->lock, NULL);
    snprintf(w->m.name, sizeof w->m.name, "%s", conf->name);
    w->m.state = SA_SINK_STATE_STARTING;
    rc = register_metrics(w, err);
    if (rc)
        return rc;

    if (!ops)
        ops = sa_sink_type_find(conf->type ? conf->type : "");
    if (!ops)
        return sa_err_set(err, SA_ECONFIG, "sink %s: unknown type '%s'",
                          conf->name, conf->type ? conf->type : "");
    rc = sa_spool_open(&w->spool, spool_opts, 0, err);
    if (rc)
        return sink_err_prefix(err, conf->name, "");
    rc = sa_spool_cursor_get(w->spool, conf->name, &w->saved, err);
    if (rc)
        return sink_err_prefix(err, conf->name, "");
    w->acked = w->send = w->m.cursor = w->saved;
    w->saved_mono_ms = sa_mono_ms();
    if (conf->coalesce) {
        w->coalesce =
            sa_coalesce_new(conf->coalesce_window > 0 ? conf->coalesce_window
                                                      : DEFAULT_COALESCE_WINDOW);
        if (!w->coalesce)
            return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", conf->name);
    }
    w->sink.ops = ops;
    w->sink.conf = conf;
    w->sink.origin_id = sa_spool_origin_id(w->spool);
    w->sink.spool = w->spool;
    w->sink.schemas = sa_schema_cache_new();
    if (!w->sink.schemas)
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", conf->name);
    rc = ops->open(&w->sink, err);
    if (rc)
        return sink_err_prefix(err, conf->name, "");
    w->sink_open = 1;
    return SA_OK;
}

static void join_workers(struct sa_dispatcher *d)
{
    for (size_t i = 0; i < d->n_workers; i++)
        if (d->workers[i].thread_started) {
            pthread_join(d->workers[i].thread, NULL);
            d->workers[i].thread_started = 0;
        }
}

int sa_dispatcher_start(struct sa_dispatcher **out,
                        const struct sa_dispatcher_opts *opts, struct sa_err *err)
{
    struct sa_dispatcher *d;
    pthread_condattr_t attr;
    int rc = SA_OK;

    *out = NULL;
    d = calloc(1, sizeof *d);
    if (!d)
        return sa_err_set(err, SA_ENOMEM, "dispatcher: out of memory");
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->query_lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&d->wake, &attr);
    pthread_cond_init(&d->idle, &attr);
    pthread_condattr_destroy(&attr);

    d->workers = calloc(opts->n_sinks ? opts->n_sinks : 1, sizeof *d->workers);
    if (!d->workers) {
        rc = sa_err_set(err, SA_ENOMEM, "dispatcher: out of memory");
        goto out;
    }
    rc = sa_spool_open(&d->query, opts->spool, 0, err);
    if (rc) {
        sa_err_prefix(err, "dispatcher: ");
        goto out;
    }
    /* Open everything first, so that a bad sink leaves nothing running. */
    for (size_t i = 0; i < opts->n_sinks; i++) {
        d->n_workers++;
        rc = worker_init(d, &d->workers[i], opts->spool, &opts->sinks[i], err);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < d->n_workers; i++) {
        struct worker *w = &d->workers[i];
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            rc = sa_err_set(err, SA_ENOMEM, "sink %s: cannot start its thread",
                            w->conf->name);
            goto out;
        }
        w->thread_started = 1;
    }
out:
    if (rc) {
        /* Threads already started see an expired stop and exit at once. */
        pthread_mutex_lock(&d->lock);
        d->stopping = 1;
        d->stop_deadline = 0;
        pthread_cond_broadcast(&d->wake);
        pthread_mutex_unlock(&d->lock);
        join_workers(d);
        free_dispatcher(d);
        return rc;
    }
    *out = d;
    return SA_OK;
}

void sa_dispatcher_notify(struct sa_dispatcher *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->generation++;
    pthread_cond_broadcast(&d->wake);
    pthread_mutex_unlock(&d->lock);
}

size_t sa_dispatcher_metrics(struct sa_dispatcher *d, struct sa_sink_metrics *out,
                             size_t max)
{
    size_t n = 0;
    for (; n < d->n_workers && n < max; n++) {
        struct worker *w = &d->workers[n];
        pthread_mutex_lock(&w->lock);
        out[n] = w->m;
        pthread_mutex_unlock(&w->lock);
    }
    return n;
}

int sa_dispatcher_caught_up(struct sa_dispatcher *d)
{
    int caught_up = 1;

    pthread_mutex_lock(&d->query_lock);
    for (size_t i = 0; i < d->n_workers && caught_up; i++) {
        struct worker *w = &d->workers[i];
        struct sa_cursor saved;
        struct sa_err err = {0};
        int pending = 1;

        /* The saved cursor, not the in-memory one: "caught up" promises
         * that a restart would not send anything again. Whether anything
         * is left, not how much: sa_dispatcher_wait_caught_up asks when
         * a worker catches up at a new saved cursor and at each timeout,
         * and summing the backlog cost a page read per segment left, more
         * the larger the backlog. */
        pthread_mutex_lock(&w->lock);
        saved = w->m.cursor;
        pthread_mutex_unlock(&w->lock);
        if (sa_spool_pending(d->query, &saved, w->streams, w->n_streams,
                             &pending, &err) ||
            pending)
            caught_up = 0;
    }
    pthread_mutex_unlock(&d->query_lock);
    return caught_up;
}

int sa_dispatcher_wait_caught_up(struct sa_dispatcher *d, int timeout_ms)
{
    struct timespec ts;
    uint64_t seen;

    pthread_mutex_lock(&d->lock);
    seen = d->idle_turns; /* before asking: a turn in between is not missed */
    pthread_mutex_unlock(&d->lock);
    if (sa_dispatcher_caught_up(d))
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sa_timespec_add_ms(&ts, timeout_ms);
    pthread_mutex_lock(&d->lock);
    while (d->idle_turns == seen)
        if (pthread_cond_timedwait(&d->idle, &d->lock, &ts) != 0)
            break; /* ETIMEDOUT */
    pthread_mutex_unlock(&d->lock);
    return sa_dispatcher_caught_up(d);
}

static int stop_workers(struct sa_dispatcher *d, int64_t grace_ms, int hand_over)
{
    int caught_up;

    if (!d)
        return 1;
    if (grace_ms < 0)
        grace_ms = 0;
    pthread_mutex_lock(&d->lock);
    d->stopping = 1;
    d->handing_over = hand_over;
    d->stop_deadline = sa_mono_ms() + grace_ms;
    d->stop_reserve = grace_ms / 4 < FINISH_WAIT_MS ? grace_ms / 4 : FINISH_WAIT_MS;
    d->generation++;
    pthread_cond_broadcast(&d->wake);
    pthread_mutex_unlock(&d->lock);
    join_workers(d);
    /* Each worker saved its cursor in finish(): asked once they are all
     * gone, this is what the next start finds. */
    caught_up = sa_dispatcher_caught_up(d);
    free_dispatcher(d);
    return caught_up;
}

int sa_dispatcher_stop(struct sa_dispatcher *d, int64_t grace_ms)
{
    return stop_workers(d, grace_ms, 0);
}

int sa_dispatcher_hand_over(struct sa_dispatcher *d, int64_t grace_ms)
{
    return stop_workers(d, grace_ms, 1);
}
