/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ingest pipeline (DESIGN.md §1, §5): sources -> batch -> spool.
 *
 * Each source owns a lane: one segment builder (a source has one stream
 * and one schema) and the positions it reported since the last commit.
 * sa_pipeline_step() polls each unfinished source for up to the room left
 * in its lane, then commits when a lane is full (batch.max_records or
 * batch.max_bytes) or the oldest pending record has waited batch.linger.
 *
 * A commit writes every non-empty lane's segment, every reported position
 * and every dead letter in ONE spool transaction (sa_spool_commit), so a
 * source's position never runs ahead of its records (I1): kill -9 at any
 * point leaves either both or neither. Until a commit succeeds nothing is
 * acknowledged to anyone; a source that is closed with records pending
 * reads them again from its committed position when it is reopened.
 *
 * When the spool is full (SA_EFULL):
 *   block        keep the batch, log once, retry every 500 ms until space
 *                returns (the housekeeper trims as sinks acknowledge);
 *                sources are not polled meanwhile, so file offsets stay at
 *                what is committed.
 *   reject       commit the positions without the records, so the sources
 *                move on; the refused records are counted and audited.
 *   drop_oldest  done inside sa_spool_commit, which audits what it drops.
 */
#include "agent/pipeline.h"

#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "agent/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FULL_RETRY_MS 500

struct pending_offset {
    char *file_key;
    int64_t offset, line;
    int done;
};

struct lane {
    struct sa_source src;
    struct sa_segment_builder seg;
    struct pending_offset *offsets;
    size_t n_offsets, cap_offsets;
    int opened;
    int finished; /* poll returned SA_EOF */
};

struct pending_deadletter {
    char *stream, *source, *location, *reason;
    void *raw;
    size_t raw_len;
};

struct sa_batch {
    struct sa_pipeline *p;
    struct lane *cur; /* the lane being polled */
};

struct sa_pipeline {
    const struct sa_config *cfg;
    struct sa_spool *spool;
    const atomic_int *stop;
    struct lane *lanes;
    size_t n_lanes;
    struct sa_batch batch;
    struct pending_deadletter *dls;
    size_t n_dls, cap_dls;
    uint64_t n_pending; /* records in all lanes */
    int has_pending;    /* records, positions or dead letters */
    int64_t first_pending_mono;
    void (*on_commit)(void *);
    void *on_commit_arg;
    struct sa_pipeline_stats stats;
};

static void mark_pending(struct sa_pipeline *p)
{
    if (!p->has_pending) {
        p->has_pending = 1;
        p->first_pending_mono = sa_mono_ms();
    }
}

/* --- the batch API sources call (source.h) -------------------------------- */

size_t sa_batch_room(const struct sa_batch *batch)
{
    const struct lane *lane = batch->cur;
    int64_t max = batch->p->cfg->batch.max_records;
    if (!lane || lane->seg.count >= max ||
        (int64_t)lane->seg.frames.len >= batch->p->cfg->batch.max_bytes)
        return 0;
    return (size_t)(max - lane->seg.count);
}

int sa_batch_add(struct sa_batch *batch, struct sa_source *src, int64_t event_ms,
                 const char *key, size_t key_len, enum sa_op op,
                 const void *body, size_t body_len, struct sa_err *err)
{
    struct lane *lane = (struct lane *)src; /* src is the lane's first member */
    int rc = sa_segment_add(&lane->seg, event_ms, key, key_len, op, body, body_len);
    if (rc)
        return sa_err_set(err, rc, "source %s: cannot add a record of %zu bytes "
                          "to the batch: %s", src->conf->name, body_len,
                          sa_strerror(rc));
    batch->p->n_pending++;
    mark_pending(batch->p);
    atomic_fetch_add(&batch->p->stats.records_in, 1);
    return SA_OK;
}

int sa_batch_offset(struct sa_batch *batch, struct sa_source *src,
                    const char *file_key, int64_t offset, int64_t line, int done,
                    struct sa_err *err)
{
    struct lane *lane = (struct lane *)src;
    struct pending_offset *po = NULL;

    for (size_t i = 0; i < lane->n_offsets; i++)
        if (strcmp(lane->offsets[i].file_key, file_key) == 0)
            po = &lane->offsets[i];
    if (!po) {
        if (lane->n_offsets == lane->cap_offsets) {
            size_t cap = lane->cap_offsets ? lane->cap_offsets * 2 : 4;
            struct pending_offset *v = realloc(lane->offsets, cap * sizeof *v);
            if (!v)
                return sa_err_set(err, SA_ENOMEM, "out of memory");
            lane->offsets = v;
            lane->cap_offsets = cap;
        }
        po = &lane->offsets[lane->n_offsets];
        po->file_key = strdup(file_key);
        if (!po->file_key)
            return sa_err_set(err, SA_ENOMEM, "out of memory");
        lane->n_offsets++;
    }
    po->offset = offset;
    po->line = line;
    po->done = done;
    mark_pending(batch->p);
    return SA_OK;
}

static void deadletter_fini(struct pending_deadletter *dl)
{
    free(dl->stream);
    free(dl->source);
    free(dl->location);
    free(dl->reason);
    free(dl->raw);
}

int sa_batch_deadletter(struct sa_batch *batch, struct sa_source *src,
                        const char *location, const char *reason,
                        const void *raw, size_t raw_len, struct sa_err *err)
{
    struct sa_pipeline *p = batch->p;
    struct pending_deadletter *dl;

    if (p->n_dls == p->cap_dls) {
        size_t cap = p->cap_dls ? p->cap_dls * 2 : 16;
        struct pending_deadletter *v = realloc(p->dls, cap * sizeof *v);
        if (!v)
            return sa_err_set(err, SA_ENOMEM, "out of memory");
        p->dls = v;
        p->cap_dls = cap;
    }
    dl = &p->dls[p->n_dls];
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
    p->n_dls++;
    mark_pending(p);
    return SA_OK;
}

/* --- commit --------------------------------------------------------------- */

static void clear_pending(struct sa_pipeline *p)
{
    for (size_t i = 0; i < p->n_lanes; i++) {
        struct lane *lane = &p->lanes[i];
        sa_segment_builder_reset(&lane->seg);
        for (size_t j = 0; j < lane->n_offsets; j++)
            free(lane->offsets[j].file_key);
        lane->n_offsets = 0;
    }
    for (size_t i = 0; i < p->n_dls; i++)
        deadletter_fini(&p->dls[i]);
    p->n_dls = 0;
    p->n_pending = 0;
    p->has_pending = 0;
}

/* Gather the pending lanes into a struct sa_commit. The arrays are sized
 * for every lane; with_records == 0 leaves the segments out (reject). */
static int build_commit(struct sa_pipeline *p, int with_records,
                        struct sa_segment_builder **segs,
                        struct sa_offset_update *offs, size_t cap_offs,
                        struct sa_deadletter *dls, struct sa_commit *c)
{
    size_t n_offs = 0;

    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < p->n_lanes; i++) {
        struct lane *lane = &p->lanes[i];
        if (with_records && lane->seg.count > 0)
            segs[c->n_segments++] = &lane->seg;
        for (size_t j = 0; j < lane->n_offsets; j++) {
            if (n_offs == cap_offs)
                return SA_ENOMEM;
            offs[n_offs].source = lane->src.conf->name;
            offs[n_offs].file_key = lane->offsets[j].file_key;
            offs[n_offs].offset = lane->offsets[j].offset;
            offs[n_offs].line = lane->offsets[j].line;
            offs[n_offs].done = lane->offsets[j].done;
            n_offs++;
        }
    }
    for (size_t i = 0; i < p->n_dls; i++) {
        dls[i].stream = p->dls[i].stream;
        dls[i].source = p->dls[i].source;
        dls[i].location = p->dls[i].location;
        dls[i].reason = p->dls[i].reason;
        dls[i].raw = p->dls[i].raw;
        dls[i].raw_len = p->dls[i].raw_len;
    }
    c->segments = segs;
    c->offsets = offs;
    c->n_offsets = n_offs;
    c->deadletters = dls;
    c->n_deadletters = p->n_dls;
    return SA_OK;
}

static int commit_pending(struct sa_pipeline *p, struct sa_err *err)
{
    struct sa_segment_builder **segs = NULL;
    struct sa_offset_update *offs = NULL;
    struct sa_deadletter *dls = NULL;
    struct sa_commit c;
    struct sa_commit_result res;
    size_t cap_offs = 0;
    int rc = SA_OK;
    int waited = 0;

    if (!p->has_pending)
        return SA_OK;
    for (size_t i = 0; i < p->n_lanes; i++)
        cap_offs += p->lanes[i].n_offsets;
    segs = calloc(p->n_lanes + 1, sizeof *segs);
    offs = calloc(cap_offs + 1, sizeof *offs);
    dls = calloc(p->n_dls + 1, sizeof *dls);
    if (!segs || !offs || !dls) {
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        goto out;
    }
    rc = build_commit(p, 1, segs, offs, cap_offs, dls, &c);
    if (rc)
        goto out;

    for (;;) {
        memset(&res, 0, sizeof res);
        rc = sa_spool_commit(p->spool, &c, &res, err);
        if (rc != SA_EFULL)
            break;
        if (p->cfg->spool.when_full == SA_FULL_REJECT) {
            uint64_t refused = p->n_pending;
            char detail[160];
            sa_logf(SA_LOG_WARN, "spool full, records refused",
                    "records=%llu when_full=reject", (unsigned long long)refused);
            rc = build_commit(p, 0, segs, offs, cap_offs, dls, &c);
            if (!rc)
                rc = sa_spool_commit(p->spool, &c, &res, err);
            if (rc)
                goto out;
            snprintf(detail, sizeof detail, "records=%llu reason=spool full",
                     (unsigned long long)refused);
            if (sa_spool_audit(p->spool, "reject", detail, err) != SA_OK)
                sa_log_warn("cannot audit refused records", "error", err->msg);
            atomic_fetch_add(&p->stats.rejected, refused);
            p->n_pending = 0; /* nothing of the records was stored */
            break;
        }
        /* block: wait for the housekeeper to trim what sinks acknowledged. */
        if (!waited) {
            sa_log_warn("spool full, ingest paused until sinks drain",
                        "detail", err->msg);
            atomic_store(&p->stats.blocked, 1);
            waited = 1;
        }
        if (p->stop && atomic_load(p->stop)) {
            rc = sa_err_set(err, SA_ESTOPPED, "stopped while the spool was full; "
                            "%llu records not committed will be read again "
                            "from their sources",
                            (unsigned long long)p->n_pending);
            goto out;
        }
        sa_sleep_ms(FULL_RETRY_MS);
    }
    if (rc)
        goto out;
    if (waited) {
        sa_log_info("spool has room again, ingest resumed");
        atomic_store(&p->stats.blocked, 0);
    }
    atomic_fetch_add(&p->stats.records_spooled, p->n_pending);
    atomic_fetch_add(&p->stats.deadletters, p->n_dls);
    atomic_fetch_add(&p->stats.commits, 1);
    if (res.dropped_records)
        atomic_fetch_add(&p->stats.dropped, res.dropped_records);
    clear_pending(p);
    for (size_t i = 0; i < p->n_lanes; i++)
        if (p->lanes[i].src.ops->committed)
            p->lanes[i].src.ops->committed(&p->lanes[i].src);
    if (p->on_commit)
        p->on_commit(p->on_commit_arg);
out:
    if (waited && rc)
        atomic_store(&p->stats.blocked, 0);
    free(segs);
    free(offs);
    free(dls);
    return rc;
}

/* --- lifecycle ------------------------------------------------------------ */

int sa_pipeline_open(struct sa_pipeline **out, const struct sa_config *cfg,
                     const struct sa_source_conf *sources, size_t n_sources,
                     const struct sa_schema_set *schemas, struct sa_spool *spool,
                     const atomic_int *stop, struct sa_err *err)
{
    struct sa_pipeline *p;
    int rc = SA_OK;
    size_t seg_cap;

    *out = NULL;
    p = calloc(1, sizeof *p);
    if (!p)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    p->cfg = cfg;
    p->spool = spool;
    p->stop = stop;
    p->batch.p = p;
    p->lanes = calloc(n_sources ? n_sources : 1, sizeof *p->lanes);
    if (!p->lanes) {
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        goto out;
    }
    /* A lane closes at batch.max_bytes; the slack lets one more record in. */
    seg_cap = (size_t)cfg->batch.max_bytes + 16u * 1024 * 1024;
    for (size_t i = 0; i < n_sources; i++) {
        const struct sa_source_conf *sc = &sources[i];
        struct lane *lane = &p->lanes[i];
        const struct sa_schema *schema = sa_schemas_lookup(schemas, sc->schema, err);

        if (!schema) {
            rc = sa_err_prefix(err, "source %s: ", sc->name);
            goto out;
        }
        lane->src.ops = sc->ops;
        lane->src.conf = sc;
        lane->src.schema = schema;
        lane->src.spool = spool;
        rc = sa_segment_builder_init(&lane->seg, sc->stream, schema->id, seg_cap);
        if (rc) {
            rc = sa_err_set(err, rc, "source %s: %s", sc->name, sa_strerror(rc));
            goto out;
        }
        p->n_lanes++;
        rc = sc->ops->open(&lane->src, err);
        if (rc) {
            sa_err_prefix(err, "source %s: ", sc->name);
            goto out;
        }
        lane->opened = 1;
        sa_log_info("source opened", "source", sc->name, "type", sc->type,
                    "stream", sc->stream, "schema", sc->schema);
    }
    *out = p;
out:
    if (rc)
        sa_pipeline_close(p);
    return rc;
}

int sa_pipeline_step(struct sa_pipeline *p, int *idle, struct sa_err *err)
{
    int added = 0, unfinished = 0, must_commit = 0;

    for (size_t i = 0; i < p->n_lanes; i++) {
        struct lane *lane = &p->lanes[i];
        int rc;

        if (lane->finished)
            continue;
        unfinished++;
        p->batch.cur = lane;
        if (sa_batch_room(&p->batch) == 0) {
            must_commit = 1;
            continue;
        }
        uint64_t before = p->n_pending;
        rc = lane->src.ops->poll(&lane->src, &p->batch, err);
        p->batch.cur = NULL;
        added += (int)(p->n_pending - before);
        if (rc == SA_EOF) {
            lane->finished = 1;
            sa_log_info("source finished", "source", lane->src.conf->name);
            must_commit = 1;
        } else if (rc) {
            return sa_err_prefix(err, "source %s: ", lane->src.conf->name);
        }
        p->batch.cur = lane;
        if (sa_batch_room(&p->batch) == 0)
            must_commit = 1;
        p->batch.cur = NULL;
    }
    if (p->has_pending &&
        sa_mono_ms() - p->first_pending_mono >= p->cfg->batch.linger_ms)
        must_commit = 1;
    if (must_commit) {
        int rc = commit_pending(p, err);
        if (rc)
            return rc;
    }
    if (idle)
        *idle = added == 0;
    if (unfinished == 0 && !p->has_pending)
        return SA_EOF;
    return SA_OK;
}

int sa_pipeline_flush(struct sa_pipeline *p, struct sa_err *err)
{
    return commit_pending(p, err);
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
    clear_pending(p);
    for (size_t i = 0; i < p->n_lanes; i++) {
        struct lane *lane = &p->lanes[i];
        if (lane->opened && lane->src.ops->close)
            lane->src.ops->close(&lane->src);
        sa_segment_builder_fini(&lane->seg);
        free(lane->offsets);
    }
    free(p->lanes);
    free(p->dls);
    free(p);
}
