/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ingest pipeline (DESIGN.md §1, §5): sources -> batch -> spool.
 *
 * Batches. Each source owns a lane; a batch holds, per lane, one segment
 * builder (a source has one stream and one schema) and the positions the
 * source reported, plus the batch's dead letters. sa_pipeline_step()
 * polls each unfinished source for up to the room left in its lane and
 * hands the batch over for commit when a lane is full (batch.max_records
 * or batch.max_bytes) or the oldest pending record has waited
 * batch.linger.
 *
 * Commits. A commit writes every non-empty segment, every reported
 * position and every dead letter of one batch in ONE spool transaction
 * (sa_spool_commit), so a source's position never runs ahead of its
 * records (I1): kill -9 at any point leaves either both or neither. Until
 * a commit succeeds nothing is acknowledged to anyone; a source closed
 * with records pending reads them again from its committed position when
 * it is reopened.
 *
 * A queue of batches, two threads. Commits run on a committer thread while
 * the sources fill the next batch, so parsing and encoding (one core)
 * overlap with SQLite (the other). Batches wait for the committer in
 * order, up to PIPELINE_DEPTH - 1 of them holding QUEUE_MAX_BYTES of
 * records: a commit that takes longer than usual (the housekeeper
 * restarting the WAL holds writers off for a few ms, the other core is
 * busy) does not stop the sources at once; when the queue is full,
 * handing over the next batch waits for the oldest commit. A committed
 * batch goes on a free stack, and the sources fill the one freed last: as
 * long as the committer keeps up, two or three batches are all that is
 * ever touched. Batches carry a generation number and commit in order; a
 * source's `committed(generation)` hook runs on the polling thread once
 * that generation is durable, which is when a finished input file may be
 * deleted.
 *
 * When the spool is full (SA_EFULL), on the committer:
 *   block        keep the batch, log once, note the reason in the spool
 *                (the "<spool>-note" file, shown by `status`; cleared when
 *                the commit goes through and at the next start), retry
 *                every 500 ms until space returns (the housekeeper trims
 *                as sinks acknowledge, or the disk gets room again);
 *                the batches behind it wait, and once the queue is full
 *                the sources stop being polled; file positions stay at
 *                what is committed.
 *   reject       commit the positions without the records, so the sources
 *                move on; the refused records are counted and audited.
 *                A batch holding records of a source that is never
 *                refused (a file: its rows would be lost) waits as under
 *                block instead.
 *   drop_oldest  done inside sa_spool_commit, which audits what it drops.
 *
 * Quality rules (agent/quality/). A lane whose stream has rules checks
 * each upsert in sa_batch_add_record once its key and event time are
 * known: a reject is the record's error (SA_ERECORD, dead-lettered by the
 * source as any rejected row), a drop leaves it out and counts it in the
 * batch, a tag frames it with the failed rules' names. The batch's counts
 * reach the daily roll-ups in its own commit; drops are also audited,
 * one row per rule at most once a minute with the records since the last
 * (and the rest when the pipeline closes), so a steady stream of drops
 * does not grow the audit table per commit.
 */
#include "agent/pipeline.h"

#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "agent/base/metrics.h"
#include "agent/base/thread.h"
#include "agent/quality/quality.h"
#include "agent/record.h"
#include "agent/source/source.h"
#include "store/hlc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FULL_RETRY_MS 500
/* The longest key text a record may have: longer is SA_ERECORD. */
#define KEY_MAX (64u << 10)
/* The largest frame of one record: its encoding with every default (a
 * few KiB at most on top of SA_RECORD_MAX_BYTES), key, header. */
#define FRAME_MAX (SA_RECORD_MAX_BYTES + ((size_t)1 << 20) + KEY_MAX)

/* Batches: one being filled, the others waiting for (or in) a commit, or
 * free. With two (one waiting), the sources waited for ~25 % of the time
 * of a generator -> spool run on two cores: a commit's latency varies far
 * more than its cost. What waits is capped by count and by the bytes of
 * its records (one batch may always wait, whatever its size): 1 MiB
 * covers a WAL restart (~3 ms) at 4M records/s, twelve batches of the
 * default 1000 records, and keeps the memory that ingest touches within
 * ~1 MiB of what one batch in flight needed. */
#define PIPELINE_DEPTH 16
#define QUEUE_MAX_BYTES ((size_t)1 << 20)
/* A free batch keeps its buffers for the next one up to this size; a
 * larger one is given back, so that sixteen batches do not each keep the
 * largest they ever held. */
#define RETAIN_MAX_BYTES ((size_t)256 << 10)

struct pending_offset {
    char *file_key;
    int64_t offset, line;
    int done;
};

struct pending_deadletter {
    char *stream, *source, *location, *reason;
    void *raw;
    size_t raw_len;
    char *raw_file; /* by reference (sa_batch_deadletter_ref), else NULL */
    int64_t raw_offset, raw_length;
    char *header, *file_key; /* sa_batch_deadletter_set_header, else NULL */
};

/* Quality outcomes of one rule in one batch. */
struct q_count {
    uint32_t dropped, tagged;
    char reason[200]; /* of the first drop */
};

/* What one source put into one batch. */
struct lane_buf {
    struct sa_segment_builder seg;
    struct pending_offset *offsets;
    size_t n_offsets, cap_offsets;
    struct q_count *q; /* one per quality rule of its stream, NULL: none */
    int q_any;         /* some count is not zero */
};

/* Drops of one rule not audited yet (committer thread only). */
struct drop_audit {
    int64_t pending;
    int64_t last_ms; /* of the last audit row, 0: none yet */
    char reason[200];
};

struct batch_buf {
    uint64_t generation;
    int refused; /* when_full: reject refused its records */
    struct lane_buf *lanes; /* one per lane */
    struct pending_deadletter *dls;
    size_t n_dls, cap_dls;
    struct sa_file_moved *moves; /* its strings are owned */
    size_t n_moves, cap_moves;
    uint64_t n_records;
    size_t queued_bytes; /* records' and dead letters' bytes, when handed over */
    int has_pending; /* records, positions or dead letters */
    int64_t first_pending_mono;
    int64_t hlc; /* the newest clock value given to its records, 0: none */
};

struct lane {
    struct sa_source src; /* first: sources hand back &src */
    size_t index;
    int opened;
    int finished; /* poll returned SA_EOF */
    struct sa_quality *quality; /* its stream's rules, NULL: none */
    struct drop_audit *drops;   /* one per rule */
    /* Prometheus series of this source, counted by the committer. */
    struct sa_counter *ingested, *rejected_invalid, *rejected_full;
};

struct sa_batch {
    struct sa_pipeline *p;
    struct lane *cur; /* the lane being polled */
};

struct sa_pipeline {
    const struct sa_config *cfg;
    struct sa_spool *spool;
    const atomic_int *stop;
    int stop_when_full; /* sa_pipeline_stop_when_full */
    struct lane *lanes;
    size_t n_lanes;
    struct sa_batch batch;
    struct sa_buf key; /* sa_batch_add_record's key text */
    struct sa_hlc hlc; /* versions of records without x-version */
    int64_t step_now_ms; /* the wall clock at the start of this step, for
                          * the quality rules' freshness and windows */
    struct batch_buf bufs[PIPELINE_DEPTH];
    struct batch_buf *fill; /* sources add here */
    uint64_t next_generation;

    /* The committer thread and its hand-over, under mu: batches handed
     * over, oldest first (the committer works on queue[q_head] and removes
     * it once committed), and batches free to fill, freed last on top. */
    pthread_t committer;
    int committer_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct batch_buf *queue[PIPELINE_DEPTH];
    size_t q_head, n_queued;
    size_t queued_bytes; /* of the records in the batches queued */
    struct batch_buf *free_stack[PIPELINE_DEPTH];
    size_t n_free;
    int quit;
    int commit_rc;              /* the first failed commit, sticky */
    struct sa_err commit_err;
    uint64_t committed_gen;     /* highest generation committed */
    uint64_t refused_gen;       /* highest generation whose records were refused */
    uint64_t hooked_gen;        /* highest generation the hooks saw */

    void (*on_commit)(void *);
    void *on_commit_arg;
    struct sa_pipeline_stats stats;
    struct sa_histogram *commit_seconds;
    struct sa_gauge *paused;
};

static struct lane_buf *lane_buf(struct sa_pipeline *p, struct sa_source *src)
{
    return &p->fill->lanes[((struct lane *)src)->index];
}

static void mark_pending(struct batch_buf *b)
{
    if (!b->has_pending) {
        b->has_pending = 1;
        b->first_pending_mono = sa_mono_ms();
    }
}

/* --- the batch API sources call (source.h) -------------------------------- */

uint64_t sa_batch_generation(const struct sa_batch *batch)
{
    return batch->p->fill->generation;
}

size_t sa_batch_room(const struct sa_batch *batch)
{
    const struct sa_pipeline *p = batch->p;
    const struct lane_buf *lb;
    int64_t max = p->cfg->batch.max_records;

    if (!batch->cur)
        return 0;
    lb = &p->fill->lanes[batch->cur->index];
    if (lb->seg.count >= max || (int64_t)lb->seg.frames.len >= p->cfg->batch.max_bytes)
        return 0;
    return (size_t)(max - lb->seg.count);
}

int sa_batch_add_record(struct sa_batch *batch, struct sa_source *src,
                        struct sa_record *rec, int64_t event_ms, enum sa_op op,
                        struct sa_err *err)
{
    struct sa_pipeline *p = batch->p;
    struct sa_buf *key = &p->key;
    size_t body_len;
    uint8_t *body;
    int64_t version;
    int rc;

    /* Sizing applies the defaults: the event time and key may be one. */
    if ((rc = sa_record_encoded_size(rec, &body_len, err)))
        return rc;
    event_ms = sa_record_event_ms(rec, event_ms);
    if (sa_record_version(rec, &version) == SA_ENOTFOUND) {
        /* No x-version: the hybrid logical clock, which needs the wall
         * clock; the event time reuses that read when it needs one too. */
        int64_t now = sa_now_ms();
        version = sa_hlc_next(&p->hlc, now);
        p->fill->hlc = version;
        if (event_ms == SA_EVENT_NOW)
            event_ms = now;
    } else if (event_ms == SA_EVENT_NOW) {
        event_ms = sa_now_ms(); /* only then: a clock read per record shows */
    }
    sa_buf_reset(key);
    if ((rc = sa_record_key(rec, key)) == SA_ETOOBIG)
        return sa_err_set(err, SA_ERECORD,
                          "key field '%s': longer than the %u bytes a key may have",
                          rec->schema->fields[rec->schema->key_field].name, KEY_MAX);
    struct sa_quality *quality = ((struct lane *)src)->quality;
    struct sa_quality_verdict verdict = {.tags_len = 0};
    if (!rc && quality && op == SA_OP_UPSERT) {
        struct lane_buf *lb = lane_buf(p, src);
        if (!sa_quality_eval(quality, rec, event_ms, p->step_now_ms,
                             (const char *)key->data, key->len, &verdict, err)) {
            if (verdict.action == SA_QUALITY_REJECT)
                return SA_ERECORD; /* err names the rule and the value */
            struct q_count *qc = &lb->q[verdict.rule];
            if (!qc->dropped++)
                snprintf(qc->reason, sizeof qc->reason, "%s", err->msg);
            lb->q_any = 1;
            mark_pending(p->fill);
            return SA_OK;
        }
        if (verdict.tags_len) {
            /* Count each tag rule of the record (names are unique). */
            for (size_t i = 0; i < sa_quality_n_rules(quality); i++) {
                const struct sa_quality_rule *r = sa_quality_rule_at(quality, i);
                size_t n = strlen(r->name);
                const char *t = verdict.tags, *end = t + verdict.tags_len;
                if (r->action != SA_QUALITY_TAG)
                    continue;
                while (t < end) {
                    const char *comma = memchr(t, ',', (size_t)(end - t));
                    size_t len = comma ? (size_t)(comma - t) : (size_t)(end - t);
                    if (len == n && memcmp(t, r->name, n) == 0) {
                        lb->q[i].tagged++;
                        break;
                    }
                    t += len + 1;
                }
            }
            lb->q_any = 1;
        }
    }
    if (!rc)
        rc = sa_segment_add_reserve_tagged(
            &lane_buf(p, src)->seg, event_ms, version, (const char *)key->data,
            key->len, op, verdict.tags, verdict.tags_len, body_len, &body);
    /* FRAME_MAX makes room for any record; should one not fit all the
     * same, it is the record's error (dead-lettered), not the source's. */
    if (rc == SA_ETOOBIG)
        return sa_err_set(err, SA_ERECORD, "a record of %zu bytes does not fit in "
                          "a batch", body_len);
    if (rc)
        return sa_err_set(err, rc, "cannot add a record of %zu bytes to the "
                          "batch: %s", body_len, sa_strerror(rc));
    sa_record_encode_into(rec, body);
    p->fill->n_records++;
    mark_pending(p->fill);
    return SA_OK;
}

int sa_batch_offset(struct sa_batch *batch, struct sa_source *src,
                    const char *file_key, int64_t offset, int64_t line, int done,
                    struct sa_err *err)
{
    struct lane_buf *lb = lane_buf(batch->p, src);
    struct pending_offset *po = NULL;

    for (size_t i = 0; i < lb->n_offsets && !po; i++)
        if (strcmp(lb->offsets[i].file_key, file_key) == 0)
            po = &lb->offsets[i];
    if (!po) {
        if (lb->n_offsets == lb->cap_offsets) {
            size_t cap = lb->cap_offsets ? lb->cap_offsets * 2 : 4;
            struct pending_offset *v = realloc(lb->offsets, cap * sizeof *v);
            if (!v)
                return sa_err_set(err, SA_ENOMEM, "out of memory");
            lb->offsets = v;
            lb->cap_offsets = cap;
        }
        po = &lb->offsets[lb->n_offsets];
        po->file_key = strdup(file_key);
        if (!po->file_key)
            return sa_err_set(err, SA_ENOMEM, "out of memory");
        lb->n_offsets++;
    }
    po->offset = offset;
    po->line = line;
    po->done = done;
    mark_pending(batch->p->fill);
    return SA_OK;
}

static void deadletter_fini(struct pending_deadletter *dl)
{
    free(dl->stream);
    free(dl->source);
    free(dl->location);
    free(dl->reason);
    free(dl->raw);
    free(dl->raw_file);
    free(dl->header);
    free(dl->file_key);
}

int sa_batch_deadletter(struct sa_batch *batch, struct sa_source *src,
                        const char *location, const char *reason,
                        const void *raw, size_t raw_len, struct sa_err *err)
{
    struct batch_buf *b = batch->p->fill;
    struct pending_deadletter *dl;

    if (b->n_dls == b->cap_dls) {
        size_t cap = b->cap_dls ? b->cap_dls * 2 : 16;
        struct pending_deadletter *v = realloc(b->dls, cap * sizeof *v);
        if (!v)
            return sa_err_set(err, SA_ENOMEM, "out of memory");
        b->dls = v;
        b->cap_dls = cap;
    }
    dl = &b->dls[b->n_dls];
    memset(dl, 0, sizeof *dl);
    dl->stream = strdup(src->conf->stream);
    dl->source = strdup(src->conf->name);
    dl->location = strdup(location ? location : "");
    dl->reason = strdup(reason ? reason : "");
    dl->raw = malloc(raw_len ? raw_len : 1);
    if (!dl->stream || !dl->source || !dl->location || !dl->reason || !dl->raw) {
        deadletter_fini(dl);
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    }
    if (raw_len)
        memcpy(dl->raw, raw, raw_len);
    dl->raw_len = raw_len;
    b->n_dls++;
    mark_pending(b);
    return SA_OK;
}

int sa_batch_deadletter_ref(struct sa_batch *batch, struct sa_source *src,
                            const char *location, const char *reason, const char *file,
                            int64_t file_offset, int64_t length, struct sa_err *err)
{
    struct batch_buf *b = batch->p->fill;
    struct pending_deadletter *dl;
    int rc;

    if (!file || !*file || file_offset < 0 || length < 0)
        return sa_err_set(err, SA_EINVAL,
                          "a dead letter by reference needs a file, "
                          "an offset and a length");
    rc = sa_batch_deadletter(batch, src, location, reason, NULL, 0, err);
    if (rc)
        return rc;
    dl = &b->dls[b->n_dls - 1];
    dl->raw_file = strdup(file);
    if (!dl->raw_file) {
        /* Taken back: a dead letter without its reference would say the
         * row was empty. */
        deadletter_fini(dl);
        b->n_dls--;
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    }
    dl->raw_offset = file_offset;
    dl->raw_length = length;
    return SA_OK;
}

int sa_batch_deadletter_set_header(struct sa_batch *batch, struct sa_source *src,
                                   const char *header, size_t header_len,
                                   const char *file_key, struct sa_err *err)
{
    struct batch_buf *b = batch->p->fill;
    struct pending_deadletter *dl = NULL;
    char *h = NULL, *k = NULL;

    for (size_t i = b->n_dls; i > 0 && !dl; i--)
        if (strcmp(b->dls[i - 1].source, src->conf->name) == 0)
            dl = &b->dls[i - 1];
    if (!dl)
        return sa_err_set(err, SA_EINVAL,
                          "source %s: no dead letter to give a header to",
                          src->conf->name);
    if (header) {
        if (header_len && header[header_len - 1] == '\n')
            header_len--;
        if (header_len && header[header_len - 1] == '\r')
            header_len--;
        h = strndup(header, header_len);
    }
    if (file_key)
        k = strdup(file_key);
    if ((header && !h) || (file_key && !k)) {
        free(h);
        free(k);
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    }
    free(dl->header);
    free(dl->file_key);
    dl->header = h;
    dl->file_key = k;
    return SA_OK;
}

static void move_fini(struct sa_file_moved *m)
{
    free((char *)m->source);
    free((char *)m->file_key);
    free((char *)m->from);
    free((char *)m->to);
}

int sa_batch_file_moved(struct sa_batch *batch, struct sa_source *src,
                        const char *file_key, const char *from, const char *to,
                        struct sa_err *err)
{
    struct batch_buf *b = batch->p->fill;
    struct sa_file_moved *m;

    if (b->n_moves == b->cap_moves) {
        size_t cap = b->cap_moves ? b->cap_moves * 2 : 4;
        struct sa_file_moved *v = realloc(b->moves, cap * sizeof *v);
        if (!v)
            return sa_err_set(err, SA_ENOMEM, "out of memory");
        b->moves = v;
        b->cap_moves = cap;
    }
    m = &b->moves[b->n_moves];
    m->source = strdup(src->conf->name);
    m->file_key = strdup(file_key);
    m->from = strdup(from);
    m->to = strdup(to);
    if (!m->source || !m->file_key || !m->from || !m->to) {
        move_fini(m);
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    }
    b->n_moves++;
    mark_pending(b);
    return SA_OK;
}

/* --- batches -------------------------------------------------------------- */

static void batch_clear(struct sa_pipeline *p, struct batch_buf *b)
{
    for (size_t i = 0; i < p->n_lanes; i++) {
        struct lane_buf *lb = &b->lanes[i];
        sa_segment_builder_reset(&lb->seg);
        if (lb->seg.frames.cap > RETAIN_MAX_BYTES)
            sa_buf_fini(&lb->seg.frames);
        for (size_t j = 0; j < lb->n_offsets; j++)
            free(lb->offsets[j].file_key);
        lb->n_offsets = 0;
        if (lb->q_any) {
            memset(lb->q, 0, sa_quality_n_rules(p->lanes[i].quality) * sizeof *lb->q);
            lb->q_any = 0;
        }
    }
    for (size_t i = 0; i < b->n_dls; i++)
        deadletter_fini(&b->dls[i]);
    b->n_dls = 0;
    for (size_t i = 0; i < b->n_moves; i++)
        move_fini(&b->moves[i]);
    b->n_moves = 0;
    b->n_records = 0;
    b->has_pending = 0;
    b->hlc = 0;
    b->refused = 0;
}

static void batch_fini(struct sa_pipeline *p, struct batch_buf *b)
{
    if (!b->lanes)
        return;
    batch_clear(p, b);
    for (size_t i = 0; i < p->n_lanes; i++) {
        sa_segment_builder_fini(&b->lanes[i].seg);
        free(b->lanes[i].offsets);
        free(b->lanes[i].q);
    }
    free(b->lanes);
    free(b->dls);
    free(b->moves);
    b->lanes = NULL;
}

/* Gather a batch into a struct sa_commit; with_records == 0 leaves the
 * segments out (when_full: reject). The arrays are sized by the caller. */
static void build_commit(struct sa_pipeline *p, struct batch_buf *b, int with_records,
                         struct sa_segment_builder **segs, struct sa_offset_update *offs,
                         struct sa_deadletter *dls, struct sa_commit *c)
{
    size_t n_offs = 0;

    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < p->n_lanes; i++) {
        struct lane_buf *lb = &b->lanes[i];
        if (with_records && lb->seg.count > 0)
            segs[c->n_segments++] = &lb->seg;
        for (size_t j = 0; j < lb->n_offsets; j++, n_offs++) {
            offs[n_offs].source = p->lanes[i].src.conf->name;
            offs[n_offs].file_key = lb->offsets[j].file_key;
            offs[n_offs].offset = lb->offsets[j].offset;
            offs[n_offs].line = lb->offsets[j].line;
            offs[n_offs].done = lb->offsets[j].done;
        }
    }
    for (size_t i = 0; i < b->n_dls; i++) {
        dls[i].stream = b->dls[i].stream;
        dls[i].source = b->dls[i].source;
        dls[i].location = b->dls[i].location;
        dls[i].reason = b->dls[i].reason;
        dls[i].raw = b->dls[i].raw;
        dls[i].raw_len = b->dls[i].raw_len;
        dls[i].raw_file = b->dls[i].raw_file;
        dls[i].raw_offset = b->dls[i].raw_offset;
        dls[i].raw_length = b->dls[i].raw_length;
        dls[i].header = b->dls[i].header;
        dls[i].file_key = b->dls[i].file_key;
    }
    c->segments = segs;
    if (with_records)
        c->hlc = b->hlc;
    c->offsets = offs;
    c->n_offsets = n_offs;
    c->deadletters = dls;
    c->n_deadletters = b->n_dls;
    c->moves = b->moves;
    c->n_moves = b->n_moves;
}

/* str as a JSON string (for audit details). */
static int json_str(struct sa_buf *b, const char *str)
{
    int rc = sa_buf_append_str(b, "\"");
    for (const unsigned char *c = (const unsigned char *)str; !rc && *c; c++)
        rc = *c == '"' || *c == '\\' ? sa_buf_printf(b, "\\%c", *c)
             : *c < 0x20             ? sa_buf_printf(b, "\\u%04x", *c)
                                     : sa_buf_append(b, c, 1);
    return rc ? rc : sa_buf_append_str(b, "\"");
}

/* Audit drops of a rule at most this often (see the top). */
#define DROP_AUDIT_MS 60000

/* Quality counts of a batch as roll-ups, and the drop audits now due
 * (committer thread). The arrays have 2 and 1 entries per rule of every
 * lane; details has room for one detail per rule. */
static void quality_parts(struct sa_pipeline *p, struct batch_buf *b, int with_records,
                          struct sa_rollup_add *rollups, struct sa_audit_add *audits,
                          char (*details)[512], struct sa_commit *c)
{
    size_t n_r = 0, n_a = 0, slot = 0;
    int64_t now = sa_now_ms();

    for (size_t i = 0; i < p->n_lanes; i++) {
        struct lane *lane = &p->lanes[i];
        struct lane_buf *lb = &b->lanes[i];
        size_t n = sa_quality_n_rules(lane->quality);
        for (size_t r = 0; r < n; r++, slot++) {
            const struct sa_quality_rule *rule = sa_quality_rule_at(lane->quality, r);
            struct drop_audit *da = &lane->drops[r];
            if (!lb->q_any && !da->pending)
                continue;
            if (lb->q_any && lb->q[r].dropped) {
                rollups[n_r++] = (struct sa_rollup_add){
                    lane->src.conf->stream, "dropped", rule->name, lb->q[r].dropped};
                if (!da->pending)
                    memcpy(da->reason, lb->q[r].reason, sizeof da->reason);
                da->pending += lb->q[r].dropped;
            }
            if (lb->q_any && lb->q[r].tagged && with_records)
                rollups[n_r++] = (struct sa_rollup_add){
                    lane->src.conf->stream, "tagged", rule->name, lb->q[r].tagged};
            if (da->pending && (!da->last_ms || now - da->last_ms >= DROP_AUDIT_MS)) {
                struct sa_buf d;
                sa_buf_init(&d, sizeof details[slot] - 1);
                if (sa_buf_printf(&d, "{\"stream\":") == SA_OK &&
                    json_str(&d, lane->src.conf->stream) == SA_OK &&
                    sa_buf_printf(&d, ",\"source\":") == SA_OK &&
                    json_str(&d, lane->src.conf->name) == SA_OK &&
                    sa_buf_printf(&d, ",\"rule\":") == SA_OK &&
                    json_str(&d, rule->name) == SA_OK &&
                    sa_buf_printf(&d, ",\"records\":%lld,\"first_reason\":",
                                  (long long)da->pending) == SA_OK &&
                    json_str(&d, da->reason) == SA_OK &&
                    sa_buf_append_str(&d, "}") == SA_OK) {
                    memcpy(details[slot], d.data, d.len);
                    details[slot][d.len] = '\0';
                    audits[n_a++] =
                        (struct sa_audit_add){"quality_drop", details[slot]};
                    da->pending = 0;
                    da->last_ms = now;
                }
                sa_buf_fini(&d);
            }
        }
    }
    c->rollups = rollups;
    c->n_rollups = n_r;
    c->audits = audits;
    c->n_audits = n_a;
}

/* Commit one batch (on the committer thread), waiting out a full spool
 * under when_full: block. */
/* May when_full: reject refuse this batch's records? Not when a source
 * whose input nothing can send again put records into it. */
static int refusable(const struct sa_pipeline *p, const struct batch_buf *b)
{
    for (size_t i = 0; i < p->n_lanes; i++)
        if (b->lanes[i].seg.count > 0 && p->lanes[i].src.ops->never_refused)
            return 0;
    return 1;
}

/* A committed batch in the per-source counters: one add per lane and per
 * dead letter, never per record. */
static void count_commit(struct sa_pipeline *p, const struct batch_buf *b)
{
    if (!b->refused)
        for (size_t i = 0; i < p->n_lanes; i++)
            if (b->lanes[i].seg.count)
                sa_counter_add(p->lanes[i].ingested, b->lanes[i].seg.count);
    for (size_t d = 0; d < b->n_dls; d++)
        for (size_t i = 0; i < p->n_lanes; i++)
            if (strcmp(b->dls[d].source, p->lanes[i].src.conf->name) == 0) {
                sa_counter_inc(p->lanes[i].rejected_invalid);
                break;
            }
}

static int commit_batch(struct sa_pipeline *p, struct batch_buf *b, struct sa_err *err)
{
    struct sa_segment_builder **segs = NULL;
    struct sa_offset_update *offs = NULL;
    struct sa_deadletter *dls = NULL;
    struct sa_rollup_add *rollups = NULL, *refused = NULL;
    struct sa_audit_add *audits = NULL;
    char(*details)[512] = NULL;
    struct sa_commit c;
    struct sa_commit_result res;
    size_t n_offs = 0, n_rules = 0;
    uint64_t stored = b->n_records;
    int rc = SA_OK, waited = 0, noted = 0;

    for (size_t i = 0; i < p->n_lanes; i++) {
        n_offs += b->lanes[i].n_offsets;
        n_rules += sa_quality_n_rules(p->lanes[i].quality);
    }
    segs = calloc(p->n_lanes + 1, sizeof *segs);
    offs = calloc(n_offs + 1, sizeof *offs);
    dls = calloc(b->n_dls + 1, sizeof *dls);
    if (!segs || !offs || !dls) {
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        goto out;
    }
    build_commit(p, b, 1, segs, offs, dls, &c);
    if (n_rules) {
        rollups = calloc(2 * n_rules, sizeof *rollups);
        audits = calloc(n_rules, sizeof *audits);
        details = calloc(n_rules, sizeof *details);
        if (!rollups || !audits || !details) {
            rc = sa_err_set(err, SA_ENOMEM, "out of memory");
            goto out;
        }
        quality_parts(p, b, 1, rollups, audits, details, &c);
    }

    for (;;) {
        int64_t t0 = sa_mono_us();
        memset(&res, 0, sizeof res);
        rc = sa_spool_commit(p->spool, &c, &res, err);
        if (rc == SA_OK)
            sa_histogram_observe(p->commit_seconds, (double)(sa_mono_us() - t0) / 1e6);
        if (rc == SA_EAGAIN && !(p->stop && atomic_load(p->stop))) {
            /* The write lock stayed busy past the busy timeout (a long
             * vacuum, a second process): nothing was written; go again. */
            sa_log_warn("spool busy, commit retried", "detail", err->msg);
            sa_sleep_ms(FULL_RETRY_MS);
            continue;
        }
        if (rc != SA_EFULL)
            break;
        if (p->cfg->spool.when_full == SA_FULL_REJECT && refusable(p, b)) {
            char detail[160];
            sa_logf(SA_LOG_WARN, "spool full, records refused",
                    "records=%llu when_full=reject", (unsigned long long)stored);
            size_t n_rollups = c.n_rollups, n_audits = c.n_audits, k = 0;
            /* The roll-ups count the refused records as rejected
             * (spool_full); tags of records not kept are not counted,
             * drops and their audits are as they were. */
            refused = calloc(n_rollups + p->n_lanes + 1, sizeof *refused);
            if (!refused) {
                rc = sa_err_set(err, SA_ENOMEM, "out of memory");
                goto out;
            }
            for (size_t i = 0; i < n_rollups; i++)
                if (strcmp(rollups[i].kind, "tagged") != 0)
                    refused[k++] = rollups[i];
            for (size_t i = 0; i < p->n_lanes; i++)
                if (b->lanes[i].seg.count)
                    refused[k++] = (struct sa_rollup_add){p->lanes[i].src.conf->stream,
                                                          "rejected", "spool_full",
                                                          b->lanes[i].seg.count};
            build_commit(p, b, 0, segs, offs, dls, &c);
            c.rollups = refused;
            c.n_rollups = k;
            c.audits = audits;
            c.n_audits = n_audits;
            rc = sa_spool_commit(p->spool, &c, &res, err);
            if (rc)
                goto out;
            snprintf(detail, sizeof detail, "{\"records\":%llu,\"reason\":\"spool full\"}",
                     (unsigned long long)stored);
            if (sa_spool_audit(p->spool, "reject", detail, err) != SA_OK)
                sa_log_warn("cannot audit refused records", "error", err->msg);
            atomic_fetch_add(&p->stats.rejected, stored);
            for (size_t i = 0; i < p->n_lanes; i++)
                sa_counter_add(p->lanes[i].rejected_full, b->lanes[i].seg.count);
            stored = 0; /* the positions moved on, the records were not kept */
            b->refused = 1;
            break;
        }
        if (p->stop_when_full) {
            atomic_store(&p->stats.blocked, 1);
            rc = SA_EFULL; /* err says why */
            goto out;
        }
        if (!waited) {
            sa_log_warn("spool full, ingest paused until sinks drain", "detail",
                        err->msg);
            atomic_store(&p->stats.blocked, 1);
            sa_gauge_set(p->paused, 1);
            waited = 1;
        }
        /* Tell `status` why (it reads the spool). On a full disk the note
         * itself may not fit yet: try again at every retry until it does,
         * rather than once. */
        if (!noted) {
            struct sa_err note_err = {0};
            char reason[300];
            snprintf(reason, sizeof reason, "spool full (when_full: block): %s",
                     err->msg);
            noted = sa_spool_note_blocked(p->spool, reason, &note_err) == SA_OK;
            if (!noted && waited == 1) {
                sa_log_warn("cannot note in the spool why ingest is paused yet; "
                            "retrying", "error", note_err.msg);
                waited = 2; /* log that once */
            }
        }
        if (p->stop && atomic_load(p->stop)) {
            rc = sa_err_set(err, SA_ESTOPPED,
                            "stopped while the spool was full; %llu records not "
                            "committed will be read again from their sources",
                            (unsigned long long)stored);
            goto out;
        }
        sa_sleep_ms(FULL_RETRY_MS);
    }
    if (rc)
        goto out;
    if (waited)
        sa_log_info("spool has room again, ingest resumed");
    atomic_fetch_add(&p->stats.records_spooled, stored);
    atomic_fetch_add(&p->stats.deadletters, b->n_dls);
    count_commit(p, b);
    atomic_fetch_add(&p->stats.commits, 1);
    if (res.dropped_records)
        atomic_fetch_add(&p->stats.dropped, res.dropped_records);
out:
    if (waited) {
        struct sa_err note_err = {0};
        atomic_store(&p->stats.blocked, 0);
        sa_gauge_set(p->paused, 0);
        if (sa_spool_note_blocked(p->spool, NULL, &note_err) != SA_OK)
            sa_log_warn("cannot clear the note that ingest is paused", "error",
                        note_err.msg);
    }
    free(segs);
    free(offs);
    free(dls);
    free(rollups);
    free(refused);
    free(audits);
    free(details);
    return rc;
}

static void *committer_main(void *arg)
{
    struct sa_pipeline *p = arg;

    sa_thread_name("spool-commit");
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->n_queued && !p->quit)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->n_queued)
            break;
        struct batch_buf *b = p->queue[p->q_head];
        struct sa_err err = {0};
        pthread_mutex_unlock(&p->mu);

        int rc = p->commit_rc ? p->commit_rc : commit_batch(p, b, &err);
        int refused = b->refused; /* batch_clear resets it */
        if (rc == SA_OK) {
            batch_clear(p, b);
            if (p->on_commit)
                p->on_commit(p->on_commit_arg);
        }
        pthread_mutex_lock(&p->mu);
        if (rc == SA_OK) {
            p->committed_gen = b->generation;
            if (refused)
                p->refused_gen = b->generation;
        } else if (!p->commit_rc) {
            p->commit_rc = rc;
            p->commit_err = err;
        }
        p->q_head = (p->q_head + 1) % PIPELINE_DEPTH;
        p->n_queued--;
        p->queued_bytes -= b->queued_bytes;
        p->free_stack[p->n_free++] = b;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Run the sources' committed hooks for what became durable. */
static void run_hooks(struct sa_pipeline *p, uint64_t committed, uint64_t refused)
{
    if (committed <= p->hooked_gen)
        return;
    p->hooked_gen = committed;
    for (size_t i = 0; i < p->n_lanes; i++)
        if (p->lanes[i].src.ops->committed)
            p->lanes[i].src.ops->committed(&p->lanes[i].src, committed, refused);
}

/* Whether the sources must wait, under mu: before handing over another
 * batch (drain == 0) while the queue is full, or (drain == 1) until no
 * batch waits for the committer. Never once a commit failed. */
static int must_wait(const struct sa_pipeline *p, int drain)
{
    int full = p->n_queued >= PIPELINE_DEPTH - 1 ||
               (p->n_queued > 0 && p->queued_bytes >= QUEUE_MAX_BYTES);
    return (drain ? p->n_queued > 0 : full) && !p->commit_rc;
}

/* Wait until a batch may be handed over (drain == 0) or none waits for the
 * committer (drain == 1); run the hooks of what became durable. Returns a
 * failed commit's rc. */
static int wait_queued(struct sa_pipeline *p, int drain, struct sa_err *err)
{
    uint64_t committed, refused;
    int rc;

    pthread_mutex_lock(&p->mu);
    if (must_wait(p, drain)) {
        int64_t t0 = sa_mono_us();
        while (must_wait(p, drain))
            pthread_cond_wait(&p->cv, &p->mu);
        atomic_fetch_add_explicit(&p->stats.commit_wait_us,
                                  (uint64_t)(sa_mono_us() - t0), memory_order_relaxed);
    }
    committed = p->committed_gen;
    refused = p->refused_gen;
    rc = p->commit_rc;
    if (rc && err)
        *err = p->commit_err;
    pthread_mutex_unlock(&p->mu);
    run_hooks(p, committed, refused);
    return rc;
}

/* Without waiting: run the hooks of what the committer finished since. */
static void poll_committed(struct sa_pipeline *p)
{
    uint64_t committed, refused;
    pthread_mutex_lock(&p->mu);
    committed = p->committed_gen;
    refused = p->refused_gen;
    pthread_mutex_unlock(&p->mu);
    run_hooks(p, committed, refused);
}

/* Hand the filled batch to the committer and start filling the free one
 * the committer was done with last. */
static int hand_over(struct sa_pipeline *p, struct sa_err *err)
{
    /* A batch is free when fewer than all the others are queued. */
    int rc = wait_queued(p, 0, err);
    if (rc || !p->fill->has_pending)
        return rc;
    p->fill->queued_bytes = 0;
    for (size_t i = 0; i < p->n_lanes; i++)
        p->fill->queued_bytes += p->fill->lanes[i].seg.frames.len;
    for (size_t i = 0; i < p->fill->n_dls; i++)
        p->fill->queued_bytes += p->fill->dls[i].raw_len;
    pthread_mutex_lock(&p->mu);
    p->queue[(p->q_head + p->n_queued) % PIPELINE_DEPTH] = p->fill;
    p->n_queued++;
    p->queued_bytes += p->fill->queued_bytes;
    p->fill = p->free_stack[--p->n_free];
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    p->fill->generation = ++p->next_generation;
    return SA_OK;
}

/* --- lifecycle ------------------------------------------------------------ */

static int batch_init(struct sa_pipeline *p, struct batch_buf *b,
                      const struct sa_source_conf *sources, size_t n, size_t seg_cap,
                      const struct sa_schema_set *schemas, struct sa_err *err)
{
    b->lanes = calloc(n ? n : 1, sizeof *b->lanes);
    if (!b->lanes)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const struct sa_schema *schema = sa_schemas_lookup(schemas, sources[i].schema, err);
        int rc;
        if (!schema)
            return sa_err_prefix(err, "source %s: ", sources[i].name);
        rc = sa_segment_builder_init(&b->lanes[i].seg, sources[i].stream, schema->id,
                                     seg_cap);
        if (rc)
            return sa_err_set(err, rc, "source %s: %s", sources[i].name, sa_strerror(rc));
    }
    (void)p;
    return SA_OK;
}

/* Rejected records are counted by a bounded set of reasons: "invalid" (the
 * source dead-lettered the record: a bad row, a schema mismatch) and
 * "spool_full" (when_full: reject refused it). */
static int register_lane_metrics(struct lane *lane, const struct sa_source_conf *sc,
                                 struct sa_err *err)
{
    struct sa_metrics *m = sa_metrics_global();
    static const char rejected_help[] =
        "Records refused on ingest, by reason: invalid (dead-lettered by the "
        "source), spool_full (when_full: reject).";
    int rc;

    rc = sa_metrics_counter(
        m, "syncagent_records_ingested_total",
        "Records committed to the spool, by stream and source.",
        (const char *[]){"stream", sc->stream, "source", sc->name, NULL},
        &lane->ingested, err);
    if (rc == SA_OK)
        rc = sa_metrics_counter(m, "syncagent_records_rejected_total", rejected_help,
                                (const char *[]){"stream", sc->stream, "source",
                                                 sc->name, "reason", "invalid", NULL},
                                &lane->rejected_invalid, err);
    if (rc == SA_OK)
        rc =
            sa_metrics_counter(m, "syncagent_records_rejected_total", rejected_help,
                               (const char *[]){"stream", sc->stream, "source",
                                                sc->name, "reason", "spool_full", NULL},
                               &lane->rejected_full, err);
    return rc ? sa_err_prefix(err, "source %s: metrics: ", sc->name) : SA_OK;
}

static int register_pipeline_metrics(struct sa_pipeline *p, struct sa_err *err)
{
    struct sa_metrics *m = sa_metrics_global();
    int rc;

    rc = sa_metrics_histogram(m, "syncagent_commit_seconds",
                              "Time one ingest commit (a batch) takes in the spool.",
                              NULL, sa_metrics_latency_buckets,
                              sa_metrics_latency_n_buckets, &p->commit_seconds, err);
    if (rc == SA_OK)
        rc = sa_metrics_gauge(m, "syncagent_ingest_paused",
                              "1 while ingest waits for room in the spool "
                              "(when_full: block).",
                              NULL, &p->paused, err);
    if (rc == SA_OK)
        sa_gauge_set(p->paused, 0);
    return rc;
}

int sa_pipeline_open(struct sa_pipeline **out, const struct sa_config *cfg,
                     const struct sa_source_conf *sources, size_t n_sources,
                     const struct sa_schema_set *schemas, struct sa_spool *spool,
                     const atomic_int *stop, struct sa_err *err)
{
    struct sa_pipeline *p;
    size_t seg_cap;
    int rc = SA_OK;

    *out = NULL;
    p = calloc(1, sizeof *p);
    if (!p)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    p->cfg = cfg;
    p->spool = spool;
    p->stop = stop;
    p->batch.p = p;
    if ((rc = register_pipeline_metrics(p, err))) {
        free(p);
        return rc;
    }
    sa_buf_init(&p->key, KEY_MAX);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->lanes = calloc(n_sources ? n_sources : 1, sizeof *p->lanes);
    if (!p->lanes) {
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        goto out;
    }
    p->n_lanes = n_sources;
    /* A lane closes at batch.max_bytes; the slack lets any one more record
     * in, however large (a limit, not an allocation: the frames grow as
     * they fill), so that a record never fails for the batch it came in. */
    seg_cap = (size_t)cfg->batch.max_bytes + FRAME_MAX;
    for (int i = 0; i < PIPELINE_DEPTH; i++) {
        rc = batch_init(p, &p->bufs[i], sources, n_sources, seg_cap, schemas, err);
        if (rc)
            goto out;
    }
    p->fill = &p->bufs[0];
    for (int i = PIPELINE_DEPTH - 1; i > 0; i--)
        p->free_stack[p->n_free++] = &p->bufs[i];
    p->fill->generation = p->next_generation = 1;
    {
        int64_t last = 0;
        /* Versions go on from the last committed, whatever the wall clock
         * says now (store/hlc.h). */
        if ((rc = sa_spool_hlc_get(spool, &last, err)))
            goto out;
        sa_hlc_init(&p->hlc, last);
    }
    /* A note left by a run that was killed while blocked is stale. */
    if (sa_spool_note_blocked(spool, NULL, err) != SA_OK)
        sa_log_warn("cannot clear a stale note that ingest is paused", "error",
                    err->msg);
    if (pthread_create(&p->committer, NULL, committer_main, p) != 0) {
        rc = sa_err_set(err, SA_ENOMEM, "cannot start the committer thread");
        goto out;
    }
    p->committer_started = 1;

    for (size_t i = 0; i < n_sources; i++) {
        const struct sa_source_conf *sc = &sources[i];
        struct lane *lane = &p->lanes[i];

        lane->index = i;
        const struct sa_quality_stream *qs =
            sa_quality_conf_stream(cfg->quality, sc->stream);
        if (qs) {
            rc = sa_quality_new(&lane->quality, qs, cfg->path,
                                sa_schemas_lookup(schemas, sc->schema, err), err);
            if (!rc && !(lane->drops = calloc(qs->n_rules, sizeof *lane->drops)))
                rc = sa_err_set(err, SA_ENOMEM, "out of memory");
            for (int b = 0; !rc && b < PIPELINE_DEPTH; b++)
                if (!(p->bufs[b].lanes[i].q =
                          calloc(qs->n_rules, sizeof(struct q_count))))
                    rc = sa_err_set(err, SA_ENOMEM, "out of memory");
            if (rc) {
                sa_err_prefix(err, "source %s: ", sc->name);
                goto out;
            }
        }
        rc = register_lane_metrics(lane, sc, err);
        if (rc)
            goto out;
        lane->src.ops = sc->ops;
        lane->src.conf = sc;
        lane->src.schema = sa_schemas_lookup(schemas, sc->schema, err);
        lane->src.spool = spool;
        rc = sc->ops->open(&lane->src, err);
        if (rc) {
            sa_err_prefix(err, "source %s: ", sc->name);
            goto out;
        }
        lane->opened = 1;
        sa_log_info("source opened", "source", sc->name, "type", sc->type, "stream",
                    sc->stream, "schema", sc->schema);
    }
    *out = p;
out:
    if (rc)
        sa_pipeline_close(p);
    return rc;
}

int sa_pipeline_step(struct sa_pipeline *p, int *idle, struct sa_err *err)
{
    int unfinished = 0, must_commit = 0;
    uint64_t before_all = p->fill->n_records;
    int rc;

    poll_committed(p);
    p->step_now_ms = sa_now_ms();

    for (size_t i = 0; i < p->n_lanes; i++) {
        struct lane *lane = &p->lanes[i];

        if (lane->finished)
            continue;
        unfinished++;
        p->batch.cur = lane;
        if (sa_batch_room(&p->batch) == 0) {
            must_commit = 1;
            continue;
        }
        rc = lane->src.ops->poll(&lane->src, &p->batch, err);
        if (rc == SA_EOF) {
            lane->finished = 1;
            sa_log_info("source finished", "source", lane->src.conf->name);
            must_commit = 1;
        } else if (rc) {
            p->batch.cur = NULL;
            return sa_err_prefix(err, "source %s: ", lane->src.conf->name);
        }
        if (sa_batch_room(&p->batch) == 0)
            must_commit = 1;
        p->batch.cur = NULL;
    }
    /* Published once a step: a locked add per record is a full barrier
     * right after the record's copy, and cost ~6% of ingest. */
    atomic_fetch_add_explicit(&p->stats.records_in, p->fill->n_records - before_all,
                              memory_order_relaxed);
    if (idle)
        *idle = p->fill->n_records == before_all;
    if (p->fill->has_pending &&
        sa_mono_ms() - p->fill->first_pending_mono >= p->cfg->batch.linger_ms)
        must_commit = 1;
    if (must_commit) {
        rc = hand_over(p, err);
        if (rc)
            return rc;
    }
    if (unfinished == 0) {
        /* Every source is done: commit the rest and report the end. */
        rc = sa_pipeline_flush(p, err);
        return rc ? rc : SA_EOF;
    }
    return SA_OK;
}

int sa_pipeline_flush(struct sa_pipeline *p, struct sa_err *err)
{
    int rc = hand_over(p, err);
    return rc ? rc : wait_queued(p, 1, err);
}

void sa_pipeline_stop_when_full(struct sa_pipeline *p)
{
    p->stop_when_full = 1;
}

void sa_pipeline_on_commit(struct sa_pipeline *p, void (*fn)(void *), void *arg)
{
    p->on_commit = fn;
    p->on_commit_arg = arg;
}

struct sa_source *sa_pipeline_source(struct sa_pipeline *p, size_t i)
{
    return i < p->n_lanes ? &p->lanes[i].src : NULL;
}

const struct sa_pipeline_stats *sa_pipeline_stats(const struct sa_pipeline *p)
{
    return &p->stats;
}

void sa_pipeline_close(struct sa_pipeline *p)
{
    if (!p)
        return;
    if (p->committer_started) {
        pthread_mutex_lock(&p->mu);
        while (p->n_queued)
            pthread_cond_wait(&p->cv, &p->mu);
        p->quit = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->committer, NULL);
    }
    for (size_t i = 0; i < p->n_lanes; i++) {
        struct lane *lane = &p->lanes[i];
        if (lane->opened && lane->src.ops->close)
            lane->src.ops->close(&lane->src);
        /* Drops counted since their last audit row (the roll-ups have them
         * already): audited now, outside a commit. */
        for (size_t r = 0; lane->drops && r < sa_quality_n_rules(lane->quality); r++) {
            struct drop_audit *da = &lane->drops[r];
            struct sa_err aerr = {0};
            char detail[600];
            if (!da->pending)
                continue;
            snprintf(detail, sizeof detail,
                     "{\"stream\":\"%s\",\"rule\":\"%s\",\"records\":%lld}",
                     lane->src.conf->stream, sa_quality_rule_at(lane->quality, r)->name,
                     (long long)da->pending);
            if (sa_spool_audit(p->spool, "quality_drop", detail, &aerr) != SA_OK)
                sa_log_warn("cannot audit dropped records", "error", aerr.msg);
        }
        sa_quality_free(lane->quality);
        free(lane->drops);
    }
    for (int i = 0; i < PIPELINE_DEPTH; i++)
        batch_fini(p, &p->bufs[i]);
    free(p->lanes);
    sa_buf_fini(&p->key);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
