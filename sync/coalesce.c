/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Coalescing (`coalesce: true`) for the dispatcher's workers: the table of
 * keys read ahead of `send` (struct ckey, open addressing), the reading
 * ahead that fills it (sa_coalesce_scan) and the question fill() asks of
 * it, whether a run of records is superseded (sa_coalesce_run). The design
 * (invariant P4, the memory bound, what a rewind does) is in dispatcher.c's
 * header comment, COALESCING, beside the positions it relies on.
 *
 * It is its own file because it is a concept of its own: a hash table over
 * the records read ahead that fill() only queries, with none of the
 * worker's outcome or cursor bookkeeping. It reads the worker's state
 * through sync/dispatcher_private.h.
 */
#include "sync/dispatcher_private.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* One key read ahead (COALESCING in dispatcher.c). */
struct ckey {
    char *key; /* stream, NUL, key bytes; owned. NULL: a free slot */
    int64_t best_version;
    int64_t best_segment; /* the record to offer: best_segment, best_index */
    int64_t last_segment; /* where the key was last seen */
    uint32_t best_index, last_index;
    uint32_t len;  /* a key lies in a segment, an SQLite blob (< 2 GiB) */
    uint32_t hash; /* ckey_hash's low bits */
};

static uint64_t ckey_hash(const uint8_t *p, size_t len)
{
    /* FNV-1a: keys are short, and the table is the worker's own. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static struct sa_cursor ckey_best(const struct ckey *k)
{
    return (struct sa_cursor){k->best_segment, k->best_index};
}

static struct sa_cursor ckey_last(const struct ckey *k)
{
    return (struct sa_cursor){k->last_segment, k->last_index};
}

/* The slot holding key, or the free slot where it would go (linear
 * probing; cap is any size, not a power of two, so that it grows by
 * half). */
static size_t ckey_slot(const struct coalescer *c, const uint8_t *key, size_t len,
                        uint32_t hash)
{
    size_t i = hash % c->cap;
    while (c->slots[i].key && !(c->slots[i].hash == hash && c->slots[i].len == len &&
                                memcmp(c->slots[i].key, key, len) == 0))
        i = i + 1 == c->cap ? 0 : i + 1;
    return i;
}

static void coalesce_clear(struct coalescer *c)
{
    for (size_t i = 0; i < c->cap; i++) {
        free(c->slots[i].key);
        c->slots[i].key = NULL;
    }
    c->n = 0;
}

/* Rebuild the table with room for twice what it keeps, dropping the keys
 * last seen before `before` (send has passed every record of theirs):
 * what it holds is the keys of the records read ahead, never the
 * backlog's. */
static int coalesce_rehash(struct coalescer *c, const struct sa_cursor *before)
{
    size_t keep = 0, cap;
    struct ckey *slots;

    for (size_t i = 0; i < c->cap; i++) {
        struct sa_cursor last = ckey_last(&c->slots[i]);
        keep += c->slots[i].key && sa_dispatcher_cursor_cmp(&last, before) >= 0;
    }
    cap = 2 * (keep + 1) < 64 ? 64 : 2 * (keep + 1);
    slots = calloc(cap, sizeof *slots);
    if (!slots)
        return SA_ENOMEM;
    for (size_t i = 0; i < c->cap; i++) {
        struct ckey *k = &c->slots[i];
        struct sa_cursor last = ckey_last(k);
        size_t j;
        if (!k->key)
            continue;
        if (sa_dispatcher_cursor_cmp(&last, before) < 0) {
            free(k->key);
            continue;
        }
        for (j = k->hash % cap; slots[j].key; j = j + 1 == cap ? 0 : j + 1)
            ;
        slots[j] = *k;
    }
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    c->n = keep;
    return SA_OK;
}

/* Note one record read ahead at pos; `send` is the worker's. */
static int coalesce_note(struct coalescer *c, const char *stream,
                         const struct sa_record_view *rec, const struct sa_cursor *pos,
                         const struct sa_cursor *send)
{
    struct ckey *k;
    struct sa_cursor best, last;
    uint32_t hash;
    size_t i;
    int rc;

    /* At most three quarters full, so that probes stay short: make room,
     * dropping the keys send has passed (their last record is behind it). */
    if (4 * (c->n + 1) > 3 * c->cap && (rc = coalesce_rehash(c, send)))
        return rc;
    sa_buf_reset(&c->key);
    if ((rc = sa_buf_append_str(&c->key, stream)) ||
        (rc = sa_buf_append_byte(&c->key, 0)) ||
        (rc = sa_buf_append(&c->key, rec->key, rec->key_len)))
        return rc;
    hash = (uint32_t)ckey_hash(c->key.data, c->key.len);
    i = ckey_slot(c, c->key.data, c->key.len, hash);
    k = &c->slots[i];
    if (k->key) {
        /* Monotonic, also when a failed scan notes a record again. */
        best = ckey_best(k);
        last = ckey_last(k);
        if (rec->version > k->best_version ||
            (rec->version == k->best_version &&
             sa_dispatcher_cursor_cmp(pos, &best) > 0)) {
            k->best_version = rec->version;
            k->best_segment = pos->segment_id;
            k->best_index = pos->record_index;
        }
        if (sa_dispatcher_cursor_cmp(pos, &last) > 0) {
            k->last_segment = pos->segment_id;
            k->last_index = pos->record_index;
        }
        return SA_OK;
    }
    k->key = malloc(c->key.len);
    if (!k->key)
        return SA_ENOMEM;
    memcpy(k->key, c->key.data, c->key.len);
    k->len = (uint32_t)c->key.len;
    k->hash = hash;
    k->best_version = rec->version;
    k->best_segment = k->last_segment = pos->segment_id;
    k->best_index = k->last_index = pos->record_index;
    c->n++;
    return SA_OK;
}

/* Drop the keys `send` has passed, when half the table can go.
 * coalesce_note makes room only when a new key needs it, so once the
 * reading ahead had reached the end of a backlog the table kept every key
 * until the drain was over, beside the sink's blocks in flight (at 50k
 * keys 5.6 MB of a coalescing ClickHouse drain's 36 MB). Looked at each
 * time send has passed an eighth as many records as there are keys, so
 * the walk costs about fourteen slots a record. */
static int coalesce_release(struct coalescer *c, const struct sa_cursor *send)
{
    int64_t passed = c->scanned - c->ahead;
    size_t keep = 0, kept = 0, cap;
    struct ckey *slots, *shrunk;

    if (c->n == 0 ||
        passed - c->passed_at < (int64_t)(c->n / 8 > 1024 ? c->n / 8 : 1024))
        return SA_OK;
    c->passed_at = passed;
    for (size_t i = 0; i < c->cap; i++) {
        struct sa_cursor last = ckey_last(&c->slots[i]);
        keep += c->slots[i].key && sa_dispatcher_cursor_cmp(&last, send) >= 0;
    }
    if (2 * keep > c->n)
        return SA_OK;
    /* The kept keys are moved to the front and the array cut to them
     * before the new table (half as large again) is made: with at most
     * half the keys kept, the two together stay smaller than the old
     * table, so that releasing never raises the peak (a plain rehash
     * did, by 3 MB, into OpenSearch). */
    for (size_t i = 0; i < c->cap; i++) {
        struct ckey *k = &c->slots[i];
        struct sa_cursor last = ckey_last(k);
        if (!k->key)
            continue;
        if (sa_dispatcher_cursor_cmp(&last, send) < 0)
            free(k->key);
        else
            c->slots[kept++] = *k;
    }
    if ((shrunk = realloc(c->slots, (kept ? kept : 1) * sizeof *shrunk)))
        c->slots = shrunk;
    c->cap = c->n = kept;
    cap = kept + kept / 2 + 1 < 64 ? 64 : kept + kept / 2 + 1;
    if (!(slots = calloc(cap, sizeof *slots))) {
        /* An empty table is always right (every record is offered); read
         * ahead again from send. */
        coalesce_clear(c);
        c->scan.segment_id = -1;
        return SA_ENOMEM;
    }
    for (size_t i = 0; i < kept; i++) {
        size_t j;
        for (j = c->slots[i].hash % cap; slots[j].key; j = j + 1 == cap ? 0 : j + 1)
            ;
        slots[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    return SA_OK;
}

/* Read ahead of send until coalesce_window records are (or the end of the
 * spool is). The view it reads is gone by the time fill reads its own. */
int sa_coalesce_scan(struct worker *w, struct sa_err *err)
{
    struct coalescer *c = w->coalesce;
    int rc;

    if (sa_dispatcher_cursor_cmp(&c->scan, &w->send) < 0) {
        /* First call, or a rewind: start over at send. */
        coalesce_clear(c);
        c->scan = w->send;
        c->ahead = 0;
        c->scanned = c->passed_at = 0;
    }
    rc = coalesce_release(c, &w->send);
    pthread_mutex_lock(&w->lock);
    w->m.coalesce_keys = c->n;
    pthread_mutex_unlock(&w->lock);
    if (rc)
        return sa_err_set(err, rc, "coalesce: out of memory");
    while (c->ahead < c->window) {
        struct sa_segment_view view;
        struct sa_segment_iter it;
        struct sa_record_view rec;

        rc = sa_spool_read_after(w->spool, &c->scan, w->streams, w->n_streams, &view,
                                 err);
        if (rc == SA_EOF)
            return SA_OK;
        if (rc)
            return rc;
        if (view.id != c->scan.segment_id)
            view.start_index = 0;
        else if (view.start_index < c->scan.record_index)
            view.start_index = c->scan.record_index;
        sa_segment_iter_init(&it, &view);
        while ((rc = sa_segment_iter_next(&it, &rec, err)) == SA_OK) {
            struct sa_cursor pos = {view.id, rec.index};
            c->ahead++;
            c->scanned++;
            if (rec.key_len &&
                (rc = coalesce_note(c, view.stream, &rec, &pos, &w->send)))
                return sa_err_set(err, rc, "coalesce: out of memory");
        }
        if (rc == SA_ECORRUPT)
            return SA_OK; /* read no further; the sink meets it as usual */
        if (rc != SA_EOF)
            return rc;
        c->scan.segment_id = view.id + 1;
        c->scan.record_index = 0;
    }
    return SA_OK;
}

/* 1 when the record at pos is superseded (P4). */
static int coalesce_superseded(const struct coalescer *c, const char *stream,
                               const struct sa_record_view *rec,
                               const struct sa_cursor *pos, struct sa_buf *scratch)
{
    const struct ckey *k;
    struct sa_cursor best;
    uint32_t hash;

    if (!rec->key_len || sa_dispatcher_cursor_cmp(pos, &c->scan) >= 0 || c->n == 0)
        return 0;
    sa_buf_reset(scratch);
    if (sa_buf_append_str(scratch, stream) || sa_buf_append_byte(scratch, 0) ||
        sa_buf_append(scratch, rec->key, rec->key_len))
        return 0; /* when in doubt, send */
    hash = (uint32_t)ckey_hash(scratch->data, scratch->len);
    k = &c->slots[ckey_slot(c, scratch->data, scratch->len, hash)];
    if (!k->key)
        return 0;
    best = ckey_best(k);
    return sa_dispatcher_cursor_cmp(&best, pos) != 0;
}

/* How many records from `start` (before `end`) are superseded (*skip = 1)
 * or not (*skip = 0), in one run. */
int sa_coalesce_run(struct worker *w, const struct sa_segment_view *view,
                    uint32_t start, uint32_t end, int *skip, uint32_t *run_end,
                    struct sa_err *err)
{
    struct sa_segment_view part = *view;
    struct sa_segment_iter it;
    struct sa_record_view rec;
    int rc, first = 1;

    part.start_index = start;
    *run_end = start;
    *skip = 0;
    sa_segment_iter_init(&it, &part);
    while (*run_end < end && (rc = sa_segment_iter_next(&it, &rec, err)) == SA_OK) {
        struct sa_cursor pos = {view->id, rec.index};
        int sup = coalesce_superseded(w->coalesce, view->stream, &rec, &pos,
                                      &w->coalesce->key);
        if (first)
            *skip = sup;
        else if (sup != *skip)
            break;
        first = 0;
        (*run_end)++;
    }
    if (*run_end == start)
        return rc == SA_OK || rc == SA_EOF
                   ? sa_err_set(err, SA_ECORRUPT,
                                "segment %" PRId64 ": no record at %u", view->id, start)
                   : rc;
    return SA_OK;
}

void sa_coalesce_free(struct coalescer *c)
{
    if (!c)
        return;
    coalesce_clear(c);
    free(c->slots);
    sa_buf_fini(&c->key);
    free(c);
}

struct coalescer *sa_coalesce_new(int64_t window)
{
    struct coalescer *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cap = 1024;
    c->slots = calloc(c->cap, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    c->window = window;
    c->scan.segment_id = -1; /* before any send: the first scan starts over */
    sa_buf_init(&c->key, (size_t)1 << 20);
    return c;
}
