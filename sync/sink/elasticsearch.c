/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Elasticsearch / OpenSearch sink: `_bulk` requests over the shared
 * HTTP client (sync/http.h), last writer wins by the record's version
 * (DESIGN.md §6, I2, I3, I5). OpenSearch 2.x and Elasticsearch 8/9.
 *
 * DOCUMENTS
 *
 * One bulk action per record, into the index made from the `index`
 * template: ${stream} and ${agent_id} replaced, then strftime conversions
 * (`-%Y.%m.%d`) applied to the record's event time in UTC.
 *   _id      the record's key (the schema's x-key) when it has one, else
 *            "<origin_id>:<seq>" (I3): a resend after a crash or a retry
 *            overwrites the same document instead of adding one;
 *   version  struct sa_record_view.version with version_type=external_gte:
 *            the store keeps the highest version whatever the order of
 *            arrival (a resend of the same version is a no-op update);
 *   source   the record as JSON (sa_encode_json, fields only).
 * A delete (op=delete) is a versioned delete: an older delete loses to a
 * newer document and the reverse. With `data_stream: true` the action is
 * `create` (data streams take nothing else), without a version, and the
 * document gets "@timestamp" from the event time; a delete cannot be sent
 * to a data stream and is dead-lettered.
 *
 * BULKS AND FLOW
 *
 * send() appends the view's records to the open bulk; a bulk is submitted
 * when it reaches max_bulk_records or max_bulk_bytes, and poll_acks()
 * submits a partial one before it waits, so nothing lingers. Requests run
 * concurrently on up to max_connections connections (external versions
 * make their order irrelevant). send() says SA_EAGAIN while twice that many
 * requests are unfinished: memory is the open bulk plus the requests in
 * flight plus the item retry queue, all bounded by the dispatcher's
 * max_in_flight records, never by the backlog (I5).
 *
 * OUTCOMES (the callback of each finished request, `request_done`)
 *
 * Each request remembers, per item, its record (segment, index) and where
 * its lines sit in the body. The response is read by sa_es_bulk_parse,
 * which must account for every item:
 *   2xx, or 404 for a delete (nothing to delete)       SA_SINK_OK
 *   409 version conflict: a newer version is stored    SA_SINK_SUPERSEDED:
 *     acknowledged and counted by the dispatcher (`status` shows it), also
 *     logged with the sink's running total; never retried
 *   429, 5xx or es_rejected_execution_exception        retried ALONE: the
 *     item's lines are copied into the retry queue, sent again in a bulk
 *     of their own after a full-jitter backoff (retry_initial..retry_max,
 *     or Retry-After), acknowledged when they succeed; the other items of
 *     the request are acknowledged at once, so nothing that landed is sent
 *     again (the anchors resend whole batches, or drop the failed items)
 *   any other 4xx (mapping, parse, invalid index)       SA_SINK_REJECT with
 *     "HTTP <status> <error.type>: <error.reason>": dead-lettered
 * A request answered 413 (its body is over the server's
 * http.max_content_length) is split in halves, each sent again as a
 * request of its own, down to one item; one item refused with 413 alone is
 * SA_SINK_REJECT (dead-lettered with that reason). The halves are queued
 * in `split` and submitted after sa_http_poll returns. The sink also
 * lowers its byte limit for new bulks to half the refused body, so a
 * server whose limit is below max_bulk_bytes costs one split, not one per
 * bulk (logged once per lowering).
 * A request that fails as a whole (no connection, timeout, a non-2xx
 * status, a body the parser refuses) is SA_SINK_RETRY for all its records:
 * the dispatcher backs off and sends them again from its cursor (whole
 * requests are idempotent: same _id, same version).
 *
 * TEMPLATE (`manage_template: true`)
 *
 * Before the first record of a (stream, schema) this sink sends, it PUTs
 * the composable index template "syncagent-<sink>-<pattern without *>"
 * (lower-cased; priority 100) for the index pattern of the stream (the rendered index
 * up to the first strftime conversion, then "*"), with explicit mappings from the
 * newest schema of the subject (the shape sa_encode_json gives every
 * record): string and enum keyword, timestamp-millis date,
 * timestamp-micros long, int/date integer, long long, float float, double
 * double, boolean boolean, bytes/fixed keyword (not indexed); records,
 * arrays and maps are left to dynamic mapping. A failure is transient for
 * send() (the dispatcher backs off). It applies to indices created after
 * it: an index that exists keeps its mapping.
 */
#include "sync/sink.h"

#include "agent/base/buf.h"
#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "sync/encode.h"
#include "sync/http.h"
#include "sync/sink/es_bulk.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The longest index name Elasticsearch takes is 255 bytes. */
#define INDEX_NAME_MAX 256
#define ES_ERROR_TYPE_REJECTED "es_rejected_execution_exception"

struct es_opts {
    struct sa_http_conf http;
    char *index;
    int data_stream;
    int64_t max_bulk_records;
    int64_t max_bulk_bytes;
    int manage_template;
};

static const struct sa_conf_entry es_conf[] = {
    SA_HTTP_CONF_ENTRIES(struct es_opts, http),
    {.type = SA_CONF_STR,
     .key = "index",
     .def = "edge-${stream}",
     .offset = offsetof(struct es_opts, index),
     .desc = "index name template: ${stream} and ${agent_id} are replaced, then "
             "strftime conversions (-%Y.%m.%d) take the record's event time (UTC)"},
    {.type = SA_CONF_BOOL,
     .key = "data_stream",
     .def = "false",
     .offset = offsetof(struct es_opts, data_stream),
     .desc = "index is a data stream: `create` actions with @timestamp, no "
             "versions; deletes are dead-lettered"},
    {.type = SA_CONF_INT,
     .key = "max_bulk_records",
     .def = "1000",
     .offset = offsetof(struct es_opts, max_bulk_records),
     .min = 1,
     .max = 100000,
     .desc = "records per _bulk request at most"},
    {.type = SA_CONF_SIZE,
     .key = "max_bulk_bytes",
     .def = "2MiB",
     .offset = offsetof(struct es_opts, max_bulk_bytes),
     .min = 1024,
     .max = 100 * 1024 * 1024,
     .desc = "bytes per _bulk request body at most (a single larger record goes "
             "alone)"},
    {.type = SA_CONF_BOOL,
     .key = "manage_template",
     .def = "false",
     .offset = offsetof(struct es_opts, manage_template),
     .desc = "install an index template mapped from each stream's Avro schema "
             "before its first record"},
    {.key = NULL},
};

/* One action of a request: its record and its lines in the body. */
struct item {
    int64_t segment_id;
    uint32_t index;
    size_t off, len;
};

/* A bulk being built, or in flight (then owned by the HTTP client's
 * request as `user`). */
struct bulk {
    struct sa_buf body;
    struct item *items;
    size_t n, cap;
    int is_retry;             /* made of items from the retry queue */
    struct bulk *prev, *next; /* in es_sink.in_flight while submitted */
};

struct installed {
    char *stream;
    int64_t schema_id;
};

struct es_sink {
    const struct es_opts *o;
    const char *name;
    const char *origin_id;
    const char *agent_id;
    struct sa_http_client *http;
    struct bulk *open;      /* being filled by send(); NULL when empty */
    struct bulk *in_flight; /* submitted, callback not run yet */
    struct bulk retry;      /* items waiting to be sent again alone */
    struct bulk *split;     /* halves of bulks refused with 413, to submit */
    size_t max_bulk_bytes;  /* max_bulk_bytes, lowered by 413 answers */
    int64_t retry_at_ms;    /* monotonic; when the retry queue may go */
    int retry_in_flight;    /* a bulk of the retry queue is in flight */
    unsigned retry_attempt; /* reset by a retry bulk without failures */
    int64_t retry_initial_ms, retry_max_ms; /* the sink's retry settings */
    uint64_t rng;                           /* xorshift64* for the jitter */
    struct sa_ack_list *acks;               /* = &own_acks: outcomes for poll_acks */
    struct sa_ack_list own_acks;
    struct installed *templates;
    size_t n_templates;
    uint64_t superseded, retried_items, rejected, splits;
    struct sa_buf line; /* index names, template bodies */
    /* `"_index":"<name>","_id":` of every record of the segment being
     * sent when its index does not depend on the event time (no strftime
     * conversion): rendered once per send(), not per record. */
    struct sa_buf index_part;
    int index_fixed;
};

/* --- small helpers ------------------------------------------------------ */

static struct bulk *bulk_new(size_t max_bytes)
{
    struct bulk *b = calloc(1, sizeof *b);
    if (b)
        sa_buf_init(&b->body, max_bytes);
    return b;
}

static void bulk_fini(struct bulk *b)
{
    sa_buf_fini(&b->body);
    free(b->items);
    memset(b, 0, sizeof *b);
}

static void bulk_free(struct bulk *b)
{
    if (!b)
        return;
    bulk_fini(b);
    free(b);
}

static int bulk_add_item(struct bulk *b, int64_t segment_id, uint32_t index, size_t off,
                         size_t len)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct item *v = realloc(b->items, cap * sizeof *v);
        if (!v)
            return SA_ENOMEM;
        b->items = v;
        b->cap = cap;
    }
    b->items[b->n++] = (struct item){segment_id, index, off, len};
    return SA_OK;
}

static uint64_t next_random(struct es_sink *es)
{
    es->rng ^= es->rng >> 12;
    es->rng ^= es->rng << 25;
    es->rng ^= es->rng >> 27;
    return es->rng * 0x2545F4914F6CDD1DULL;
}

/* --- index names -------------------------------------------------------- */

/* The template with ${stream} and ${agent_id} replaced, into out. */
static int expand_vars(const char *tmpl, const char *stream, const char *agent_id,
                       struct sa_buf *out)
{
    const char *p = tmpl;
    int rc = SA_OK;

    sa_buf_reset(out);
    while (*p && !rc) {
        if (strncmp(p, "${stream}", 9) == 0) {
            rc = sa_buf_append_str(out, stream);
            p += 9;
        } else if (strncmp(p, "${agent_id}", 11) == 0) {
            rc = sa_buf_append_str(out, agent_id ? agent_id : "");
            p += 11;
        } else if (p[0] == '$' && p[1] == '{') {
            return SA_ECONFIG;
        } else {
            rc = sa_buf_append_byte(out, (uint8_t)*p++);
        }
    }
    return rc ? rc : sa_buf_terminate(out);
}

/* The index of a record of `stream` with event time event_ms, into out. */
static int index_name(struct es_sink *es, const char *stream, int64_t event_ms,
                      char out[INDEX_NAME_MAX], struct sa_err *err)
{
    int rc = expand_vars(es->o->index, stream, es->agent_id, &es->line);

    if (rc)
        return sa_err_set(err, rc, "sink %s: index '%s': %s", es->name, es->o->index,
                          rc == SA_ECONFIG ? "unknown variable" : sa_strerror(rc));
    if (strchr((const char *)es->line.data, '%')) {
        time_t secs = (time_t)(event_ms >= 0 ? event_ms / 1000 : 0);
        struct tm tm;
        size_t n;
        gmtime_r(&secs, &tm);
        n = strftime(out, INDEX_NAME_MAX, (const char *)es->line.data, &tm);
        if (n == 0)
            return sa_err_set(err, SA_ECONFIG, "sink %s: index '%s': name too long",
                              es->name, es->o->index);
    } else if (es->line.len >= INDEX_NAME_MAX) {
        return sa_err_set(err, SA_ECONFIG, "sink %s: index '%s': name too long",
                          es->name, es->o->index);
    } else {
        memcpy(out, es->line.data, es->line.len + 1);
    }
    return SA_OK;
}

/* --- template ----------------------------------------------------------- */

static const char *mapping_type(const struct sa_schema_field *f)
{
    switch (f->kind) {
    case AVRO_STRING:
    case AVRO_ENUM:
        return "keyword";
    case AVRO_INT32:
        return "integer";
    case AVRO_INT64:
        return f->logical == SA_LOGICAL_TIMESTAMP_MILLIS ? "date" : "long";
    case AVRO_FLOAT:
        return "float";
    case AVRO_DOUBLE:
        return "double";
    case AVRO_BOOLEAN:
        return "boolean";
    case AVRO_BYTES:
    case AVRO_FIXED:
        return "binary-ish";
    default:
        return NULL; /* records, arrays, maps: dynamic mapping */
    }
}

static int template_body(struct es_sink *es, const char *pattern,
                         const struct sa_schema *schema, struct sa_buf *b)
{
    int rc = sa_buf_printf(b, "{\"index_patterns\":[");
    int first = 1;

    if (!rc)
        rc = sa_encode_json_string(b, pattern, strlen(pattern));
    if (!rc)
        rc = sa_buf_printf(b,
                           "],\"priority\":100,%s\"template\":{\"mappings\":{"
                           "\"properties\":{",
                           es->o->data_stream ? "\"data_stream\":{}," : "");
    if (!rc && es->o->data_stream) {
        rc = sa_buf_printf(b, "\"@timestamp\":{\"type\":\"date\"}");
        first = 0;
    }
    for (size_t i = 0; i < schema->n_fields && !rc; i++) {
        const struct sa_schema_field *f = &schema->fields[i];
        const char *type = mapping_type(f);
        if (!type)
            continue;
        if (!first)
            rc = sa_buf_append_byte(b, ',');
        first = 0;
        if (!rc)
            rc = sa_encode_json_string(b, f->name, strlen(f->name));
        if (!rc && strcmp(type, "binary-ish") == 0)
            rc = sa_buf_printf(b, ":{\"type\":\"keyword\",\"index\":false}");
        else if (!rc)
            rc = sa_buf_printf(b, ":{\"type\":\"%s\"}", type);
    }
    if (!rc)
        rc = sa_buf_printf(b, "}}}}");
    return rc;
}

/* PUT the template of stream for schema once per (stream, schema). */
static int ensure_template(struct es_sink *es, const char *stream,
                           const struct sa_schema *writer, struct sa_err *err)
{
    /* Documents take the newest version's shape (sa_encode_json resolves
     * to writer->reader): so does the mapping. */
    const struct sa_schema *schema = writer->reader ? writer->reader : writer;
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    struct sa_http_request req = {.method = "PUT", .headers = headers};
    struct sa_buf answer;
    char pattern[INDEX_NAME_MAX + 2], path[512], *pct;
    struct installed *v;
    size_t n;
    long status = 0;
    int rc;

    for (size_t i = 0; i < es->n_templates; i++)
        if (es->templates[i].schema_id == schema->id &&
            strcmp(es->templates[i].stream, stream) == 0)
            return SA_OK;
    rc = expand_vars(es->o->index, stream, es->agent_id, &es->line);
    if (rc)
        return sa_err_set(err, rc, "sink %s: index '%s': unknown variable", es->name,
                          es->o->index);
    snprintf(pattern, sizeof pattern, "%s", (const char *)es->line.data);
    if ((pct = strchr(pattern, '%')))
        snprintf(pct, sizeof pattern - (size_t)(pct - pattern), "*");
    /* Named after the pattern, not the stream: two sinks (or configs)
     * writing one stream to different indices must not replace each
     * other's template. Template names, like index names, are lower case
     * and take no '*'. */
    n = (size_t)snprintf(path, sizeof path, "/_index_template/syncagent-%s-", es->name);
    for (const char *c = pattern; *c && n + 1 < sizeof path; c++)
        if (*c != '*')
            path[n++] = *c;
    path[n] = '\0';
    for (char *c = path; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    req.path = path;
    sa_buf_init(&req.body, SIZE_MAX / 2);
    sa_buf_init(&answer, 64 * 1024);
    if ((rc = template_body(es, pattern, schema, &req.body))) {
        sa_buf_fini(&req.body);
        sa_buf_fini(&answer);
        return sa_err_set(err, rc, "sink %s: template: %s", es->name, sa_strerror(rc));
    }
    rc = sa_http_call(es->http, &req, &status, &answer, NULL, err);
    if (rc == SA_OK && (status < 200 || status > 299)) {
        char summary[256];
        sa_es_error_summary(answer.data, answer.len, summary, sizeof summary);
        rc = sa_err_set(err, SA_ESINK, "sink %s: PUT %s: HTTP %ld: %s", es->name, path,
                        status, summary);
    }
    sa_buf_fini(&answer);
    if (rc)
        return rc;
    v = realloc(es->templates, (es->n_templates + 1) * sizeof *v);
    if (!v)
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", es->name);
    es->templates = v;
    if (!(v[es->n_templates].stream = strdup(stream)))
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", es->name);
    v[es->n_templates++].schema_id = schema->id;
    sa_log_info("index template installed", "sink", es->name, "stream", stream,
                "pattern", pattern);
    return SA_OK;
}

/* --- requests ----------------------------------------------------------- */

/* The response keeps only what request_done reads: a full one repeats
 * _index, _id, _version, result, _shards, _seq_no and _primary_term for
 * every item, and parsing that was two thirds of the drain's CPU. */
#define BULK_PATH "/_bulk?filter_path=errors,error,status,items.*.status,items.*.error"

static int submit(struct es_sink *es, struct bulk *b, struct sa_err *err)
{
    static const char *const headers[] = {"Content-Type: application/x-ndjson", NULL};
    struct sa_http_request req = {
        .method = "POST", .path = BULK_PATH, .headers = headers};
    int rc;

    req.body = b->body;
    sa_buf_init(&b->body, 0);
    req.user = b;
    rc = sa_http_submit(es->http, &req, err);
    if (rc == SA_OK) {
        b->prev = NULL;
        b->next = es->in_flight;
        if (es->in_flight)
            es->in_flight->prev = b;
        es->in_flight = b;
    } else {
        /* The records were taken: they come back through RETRY acks. */
        for (size_t i = 0; i < b->n; i++)
            sa_ack_list_push(es->acks, b->items[i].segment_id, b->items[i].index, 1,
                             SA_SINK_RETRY, err->msg);
        if (b->is_retry)
            es->retry_in_flight = 0;
        bulk_free(b);
    }
    return rc;
}

/* Move the retry queue into a request when its time has come. */
static void submit_retries(struct es_sink *es)
{
    struct sa_err err = {0};
    struct bulk *b;

    if (es->retry_in_flight || es->retry.n == 0 || sa_mono_ms() < es->retry_at_ms)
        return;
    if (!(b = calloc(1, sizeof *b)))
        return;
    *b = es->retry;
    b->is_retry = 1;
    b->body.max = SIZE_MAX / 2;
    memset(&es->retry, 0, sizeof es->retry);
    sa_buf_init(&es->retry.body, SIZE_MAX / 2);
    es->retry_in_flight = 1;
    if (submit(es, b, &err))
        sa_log_warn("bulk retry not sent", "sink", es->name, "error", err.msg);
}

/* Submit the halves of requests refused with 413. */
static void submit_splits(struct es_sink *es)
{
    struct sa_err err = {0};

    while (es->split) {
        struct bulk *b = es->split;
        es->split = b->next;
        b->next = NULL;
        if (submit(es, b, &err))
            sa_log_warn("bulk request not sent", "sink", es->name, "error", err.msg);
    }
}

static void retry_item(struct es_sink *es, const struct sa_http_response *resp,
                       const struct item *it)
{
    const struct sa_buf *body = resp->request_body;
    size_t off = es->retry.body.len;

    if (!body || it->off + it->len > body->len ||
        sa_buf_append(&es->retry.body, body->data + it->off, it->len) != SA_OK ||
        bulk_add_item(&es->retry, it->segment_id, it->index, off, it->len) != SA_OK) {
        /* Cannot keep it: let the dispatcher send it again. */
        es->retry.body.len = off;
        sa_ack_list_push(es->acks, it->segment_id, it->index, 1, SA_SINK_RETRY,
                         "sink could not queue the item for retry");
        return;
    }
    es->retried_items++;
}

static void all_items(struct es_sink *es, const struct bulk *b, int outcome,
                      const char *reason)
{
    for (size_t i = 0; i < b->n; i++)
        sa_ack_list_push(es->acks, b->items[i].segment_id, b->items[i].index, 1,
                         outcome, reason);
}

static int retryable(const struct sa_es_bulk_item *it)
{
    return it->status == 429 || it->status >= 500 ||
           (it->error_type && strcmp(it->error_type, ES_ERROR_TYPE_REJECTED) == 0);
}

/* Items [from, to) of b, their lines copied from the request's body, as a
 * new bulk queued in es->split. */
static int queue_part(struct es_sink *es, const struct bulk *b,
                      const struct sa_buf *body, size_t from, size_t to)
{
    struct bulk *part = bulk_new(SIZE_MAX / 2);
    int rc = part ? SA_OK : SA_ENOMEM;

    for (size_t i = from; i < to && !rc; i++) {
        const struct item *it = &b->items[i];
        size_t off = part->body.len;
        if (it->off + it->len > body->len)
            rc = SA_EINVAL;
        if (!rc)
            rc = sa_buf_append(&part->body, body->data + it->off, it->len);
        if (!rc)
            rc = bulk_add_item(part, it->segment_id, it->index, off, it->len);
    }
    if (rc) {
        bulk_free(part);
        return rc;
    }
    part->next = es->split;
    es->split = part;
    return SA_OK;
}

/* A request refused with 413: its halves are sent again on their own; one
 * item alone is dead-lettered. New bulks stay below the refused size. */
static void split_too_large(struct es_sink *es, const struct bulk *b,
                            const struct sa_http_response *resp)
{
    const struct sa_buf *body = resp->request_body;
    char reason[SA_ERR_MSG_MAX], n[24], bytes[24];
    size_t half = b->n / 2;

    snprintf(bytes, sizeof bytes, "%zu", body ? body->len : (size_t)0);
    if (b->n == 1) {
        snprintf(reason, sizeof reason,
                 "HTTP 413 request too large: the record alone makes a %s-byte _bulk "
                 "body, more than the server takes (http.max_content_length)",
                 bytes);
        es->rejected++;
        all_items(es, b, SA_SINK_REJECT, reason);
        return;
    }
    if (!body || queue_part(es, b, body, 0, half) != SA_OK) {
        all_items(es, b, SA_SINK_RETRY,
                  "sink could not split a request refused with 413");
        return;
    }
    if (queue_part(es, b, body, half, b->n) != SA_OK) {
        /* The first half is queued: only the second comes back. */
        for (size_t i = half; i < b->n; i++)
            sa_ack_list_push(es->acks, b->items[i].segment_id, b->items[i].index, 1,
                             SA_SINK_RETRY,
                             "sink could not split a request refused with 413");
        return;
    }
    es->splits++;
    snprintf(n, sizeof n, "%zu", b->n);
    sa_log_warn("bulk request too large (HTTP 413), sending it again in halves", "sink",
                es->name, "items", n, "bytes", bytes);
    if (body->len / 2 < es->max_bulk_bytes) {
        char limit[24];
        es->max_bulk_bytes = body->len / 2 > 0 ? body->len / 2 : 1;
        snprintf(limit, sizeof limit, "%zu", es->max_bulk_bytes);
        sa_log_warn("bulk byte limit lowered below what the server refused", "sink",
                    es->name, "max_bulk_bytes", limit);
    }
}

static void request_done(const struct sa_http_response *resp, void *arg)
{
    struct es_sink *es = arg;
    struct bulk *b = resp->user;
    struct sa_es_bulk parsed;
    struct sa_err err = {0};
    char what[160], reason[SA_ERR_MSG_MAX];
    uint64_t superseded = 0, requeued = 0;

    if (b->prev)
        b->prev->next = b->next;
    else
        es->in_flight = b->next;
    if (b->next)
        b->next->prev = b->prev;
    if (b->is_retry)
        es->retry_in_flight = 0;
    if (resp->status == 0) {
        sa_log_warn("bulk request failed", "sink", es->name, "error", resp->error);
        all_items(es, b, SA_SINK_RETRY, resp->error);
        goto out;
    }
    if (resp->status == 413) {
        split_too_large(es, b, resp);
        goto out;
    }
    if (resp->status < 200 || resp->status > 299) {
        char summary[200];
        sa_es_error_summary(resp->body, resp->body_len, summary, sizeof summary);
        snprintf(reason, sizeof reason, "sink %s: POST /_bulk: HTTP %ld: %s", es->name,
                 resp->status, summary);
        sa_log_warn("bulk request refused", "sink", es->name, "error", reason);
        all_items(es, b, SA_SINK_RETRY, reason);
        goto out;
    }
    snprintf(what, sizeof what, "sink %s: _bulk response", es->name);
    if (sa_es_bulk_parse(resp->body, resp->body_len, b->n, what, &parsed, &err)) {
        sa_log_warn("bulk response unusable", "sink", es->name, "error", err.msg);
        all_items(es, b, SA_SINK_RETRY, err.msg);
        goto out;
    }
    for (size_t i = 0; i < b->n; i++) {
        const struct sa_es_bulk_item *it = &parsed.items[i];
        const struct item *mine = &b->items[i];
        if ((it->status >= 200 && it->status <= 299) ||
            (it->action == SA_ES_DELETE && it->status == 404)) {
            sa_ack_list_push(es->acks, mine->segment_id, mine->index, 1, SA_SINK_OK,
                             NULL);
        } else if (it->status == 409) {
            superseded++;
            sa_ack_list_push(es->acks, mine->segment_id, mine->index, 1,
                             SA_SINK_SUPERSEDED, NULL);
        } else if (retryable(it)) {
            requeued++;
            retry_item(es, resp, mine);
        } else {
            snprintf(reason, sizeof reason, "HTTP %d %s: %s", it->status,
                     it->error_type ? it->error_type : "error",
                     it->error_reason ? it->error_reason : "");
            es->rejected++;
            sa_ack_list_push(es->acks, mine->segment_id, mine->index, 1, SA_SINK_REJECT,
                             reason);
        }
    }
    sa_es_bulk_fini(&parsed);
    if (superseded) {
        char n[24], total[24];
        es->superseded += superseded;
        snprintf(n, sizeof n, "%" PRIu64, superseded);
        snprintf(total, sizeof total, "%" PRIu64, es->superseded);
        sa_log_info("records superseded by newer versions", "sink", es->name, "count",
                    n, "total", total);
    }
    if (requeued) {
        /* Full jitter over an exponential bound, or what the server asked. */
        int64_t bound = es->retry_initial_ms
                        << (es->retry_attempt < 20 ? es->retry_attempt : 20);
        int64_t delay;
        char n[24];
        if (bound > es->retry_max_ms || bound <= 0)
            bound = es->retry_max_ms;
        delay = (int64_t)(next_random(es) % (uint64_t)(bound + 1));
        if (resp->retry_after_ms > delay)
            delay = resp->retry_after_ms;
        es->retry_at_ms = sa_mono_ms() + delay;
        es->retry_attempt++;
        snprintf(n, sizeof n, "%" PRIu64, requeued);
        sa_log_info("bulk items refused for now, retrying them alone", "sink", es->name,
                    "count", n);
    } else if (b->is_retry) {
        es->retry_attempt = 0;
    }
out:
    bulk_free(b);
}

/* --- send --------------------------------------------------------------- */

static int open_bulk(struct es_sink *es, struct sa_err *err)
{
    if (!es->open && !(es->open = bulk_new(SIZE_MAX / 2)))
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", es->name);
    return SA_OK;
}

static int flush_open(struct es_sink *es, struct sa_err *err)
{
    struct bulk *b = es->open;

    if (!b || b->n == 0)
        return SA_OK;
    es->open = NULL;
    return submit(es, b, err);
}

/* The action line (and source line) of rec into the open bulk: written
 * straight into the body (sa_buf_printf's two vsnprintf calls a piece and
 * a copy of the source through a scratch buffer were a fifth of the
 * drain's CPU). */
static int append_record(struct es_sink *es, const struct sa_schema *schema,
                         const char *stream, const struct sa_segment_view *view,
                         const struct sa_record_view *rec, struct sa_err *err)
{
    static const char version_key[] = ",\"version\":";
    static const char version_type[] = ",\"version_type\":\"external_gte\"}}\n";
    struct bulk *b = es->open;
    size_t start = b->body.len;
    int is_delete = rec->op == SA_OP_DELETE;
    int rc;

    if (es->o->data_stream && is_delete)
        return sa_ack_list_push(es->acks, view->id, rec->index, 1, SA_SINK_REJECT,
                                "a delete cannot be sent to a data stream");
    if (!es->o->data_stream && rec->version < 0) {
        char reason[96];
        snprintf(reason, sizeof reason,
                 "version %" PRId64 " is negative: external versions are >= 0",
                 rec->version);
        return sa_ack_list_push(es->acks, view->id, rec->index, 1, SA_SINK_REJECT,
                                reason);
    }
    rc = sa_buf_append_str(&b->body, is_delete            ? "{\"delete\":{"
                                     : es->o->data_stream ? "{\"create\":{"
                                                          : "{\"index\":{");
    if (!rc && es->index_fixed) {
        rc = sa_buf_append(&b->body, es->index_part.data, es->index_part.len);
    } else if (!rc) {
        char index[INDEX_NAME_MAX];
        if ((rc = index_name(es, stream, rec->event_ms, index, err))) {
            b->body.len = start;
            return rc;
        }
        if (!(rc = sa_buf_append_str(&b->body, "\"_index\":")) &&
            !(rc = sa_encode_json_string(&b->body, index, strlen(index))))
            rc = sa_buf_append_str(&b->body, ",\"_id\":");
    }
    if (!rc && schema->key_field >= 0 && rec->key_len > 0) {
        rc = sa_encode_json_string(&b->body, rec->key, rec->key_len);
    } else if (!rc) {
        char id[96];
        int n = snprintf(id, sizeof id, "%s:%" PRIu64, es->origin_id, rec->seq);
        rc = sa_encode_json_string(&b->body, id, (size_t)n < sizeof id ? (size_t)n : 0);
    }
    if (!rc && !es->o->data_stream) {
        if (!(rc = sa_buf_append(&b->body, version_key, sizeof version_key - 1)) &&
            !(rc = sa_encode_json_i64(&b->body, rec->version)))
            rc = sa_buf_append(&b->body, version_type, sizeof version_type - 1);
    } else if (!rc) {
        rc = sa_buf_append(&b->body, "}}\n", 3);
    }
    if (rc)
        goto nomem;
    if (!is_delete) {
        /* The source: a record that does not encode is rejected alone. */
        struct sa_err enc = {0};
        rc = sa_encode_json(schema, rec->body, rec->body_len, NULL, NULL, &b->body,
                            &enc);
        if (rc == SA_ENOMEM || rc == SA_ETOOBIG) {
            b->body.len = start;
            goto nomem;
        }
        if (rc) {
            b->body.len = start;
            return sa_ack_list_push(es->acks, view->id, rec->index, 1, SA_SINK_REJECT,
                                    enc.msg[0] ? enc.msg : "cannot encode as JSON");
        }
        if (es->o->data_stream) {
            /* "{...}" -> "{...,"@timestamp":N}" */
            int empty = b->body.data[b->body.len - 2] == '{';
            b->body.len--;
            if (!(rc = sa_buf_append_str(&b->body, empty ? "\"@timestamp\":"
                                                         : ",\"@timestamp\":")) &&
                !(rc = sa_encode_json_i64(&b->body, rec->event_ms)))
                rc = sa_buf_append_byte(&b->body, '}');
        }
        if (!rc)
            rc = sa_buf_append_byte(&b->body, '\n');
    }
    if (!rc)
        rc = bulk_add_item(b, view->id, rec->index, start, b->body.len - start);
    if (rc) {
        b->body.len = start;
        goto nomem;
    }
    return SA_OK;
nomem:
    return sa_err_set(err, rc, "sink %s: bulk body: %s", es->name, sa_strerror(rc));
}

/* es->index_part for the records of stream, when their index does not
 * depend on their event time. */
static int fix_index(struct es_sink *es, const char *stream, struct sa_err *err)
{
    int rc = expand_vars(es->o->index, stream, es->agent_id, &es->line);

    es->index_fixed = 0;
    if (rc)
        return sa_err_set(err, rc, "sink %s: index '%s': %s", es->name, es->o->index,
                          rc == SA_ECONFIG ? "unknown variable" : sa_strerror(rc));
    if (strchr((const char *)es->line.data, '%') || es->line.len >= INDEX_NAME_MAX)
        return SA_OK; /* per record (and a name too long is refused there) */
    sa_buf_reset(&es->index_part);
    if ((rc = sa_buf_append_str(&es->index_part, "\"_index\":")) ||
        (rc = sa_encode_json_string(&es->index_part, (const char *)es->line.data,
                                    es->line.len)) ||
        (rc = sa_buf_append_str(&es->index_part, ",\"_id\":")))
        return sa_err_set(err, rc, "sink %s: %s", es->name, sa_strerror(rc));
    es->index_fixed = 1;
    return SA_OK;
}

static int es_send(struct sa_sink *sink, const struct sa_segment_view *view,
                   struct sa_err *err)
{
    struct es_sink *es = sink->ctx;
    const struct sa_schema *schema;
    struct sa_segment_iter it;
    struct sa_record_view rec;
    int rc;

    if (sa_http_in_flight(es->http) >= 2 * (size_t)es->o->http.max_connections)
        return SA_EAGAIN;
    if ((rc = sa_sink_schema(sink, view->schema_id, &schema, err)))
        return rc;
    if (es->o->manage_template && (rc = ensure_template(es, view->stream, schema, err)))
        return rc;
    if ((rc = fix_index(es, view->stream, err)))
        return rc;
    sa_segment_iter_init(&it, view);
    while ((rc = sa_segment_iter_next(&it, &rec, err)) == SA_OK &&
           rec.index < view->count) {
        if ((rc = open_bulk(es, err)) ||
            (rc = append_record(es, schema, view->stream, view, &rec, err)))
            return rc;
        if (es->open->n >= (size_t)es->o->max_bulk_records ||
            es->open->body.len >= es->max_bulk_bytes) {
            if ((rc = flush_open(es, err)))
                return rc;
        }
    }
    return rc < 0 ? rc : SA_OK;
}

static int es_poll_acks(struct sa_sink *sink, struct sa_ack_list *acks, int timeout_ms)
{
    struct es_sink *es = sink->ctx;
    struct sa_err err = {0};
    int rc = SA_OK, wait = timeout_ms;

    if (flush_open(es, &err))
        sa_log_warn("bulk request not sent", "sink", es->name, "error", err.msg);
    submit_retries(es);
    submit_splits(es);
    if (es->own_acks.n > 0) {
        wait = 0;
    } else if (sa_http_in_flight(es->http) == 0) {
        /* Only the retry queue's backoff to wait for, if anything. */
        int64_t left = es->retry.n ? es->retry_at_ms - sa_mono_ms() : 0;
        wait = left <= 0 ? 0 : left < timeout_ms ? (int)left : timeout_ms;
        if (wait > 0)
            sa_sleep_ms(wait);
        submit_retries(es);
        wait = 0;
    }
    if (sa_http_in_flight(es->http) > 0 &&
        sa_http_poll(es->http, wait, request_done, es, &err) < 0) {
        sa_log_warn("http client failed", "sink", es->name, "error", err.msg);
        rc = err.rc ? err.rc : SA_ESINK;
    }
    submit_splits(es);
    for (size_t i = 0; i < es->own_acks.n && !rc; i++) {
        const struct sa_ack *a = &es->own_acks.v[i];
        rc = sa_ack_list_push(acks, a->segment_id, a->first_index, a->count, a->outcome,
                              a->reason);
    }
    sa_ack_list_clear(&es->own_acks);
    return rc;
}

/* --- open / close ------------------------------------------------------- */

static int es_check(const struct sa_sink_conf *conf, struct sa_err *err)
{
    const struct es_opts *o = conf->opts;
    struct sa_buf probe;
    int rc;

    if ((rc = sa_http_conf_check(&o->http, &conf->origin, err)))
        return rc;
    if (!o->index || !o->index[0])
        return sa_conf_fail(&conf->origin, "index", SA_ECONFIG, err, "is empty");
    sa_buf_init(&probe, 4096);
    rc = expand_vars(o->index, "s", "a", &probe);
    sa_buf_fini(&probe);
    if (rc == SA_ECONFIG)
        return sa_conf_fail(&conf->origin, "index", SA_ECONFIG, err,
                            "'%s': unknown variable (use ${stream} or ${agent_id})",
                            o->index);
    if (rc)
        return sa_conf_fail(&conf->origin, "index", rc, err, "'%s': too long",
                            o->index);
    return SA_OK;
}

static void es_close(struct sa_sink *sink);

static int es_open(struct sa_sink *sink, struct sa_err *err)
{
    const struct es_opts *o = sink->conf->opts;
    struct es_sink *es;
    int rc;

    if ((rc = es_check(sink->conf, err)))
        return rc;
    if (!(es = calloc(1, sizeof *es)))
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", sink->conf->name);
    sink->ctx = es;
    es->o = o;
    es->name = sink->conf->name;
    es->origin_id = sink->origin_id;
    es->agent_id = sink->conf->agent_id;
    es->acks = &es->own_acks;
    es->retry_initial_ms =
        sink->conf->retry_initial_ms > 0 ? sink->conf->retry_initial_ms : 100;
    es->retry_max_ms = sink->conf->retry_max_ms > 0 ? sink->conf->retry_max_ms : 30000;
    es->rng = (uint64_t)sa_mono_us() | 1;
    es->max_bulk_bytes = (size_t)o->max_bulk_bytes;
    sa_buf_init(&es->retry.body, SIZE_MAX / 2);
    sa_buf_init(&es->index_part, 4 * INDEX_NAME_MAX);
    sa_buf_init(&es->line, 64 * 1024);
    if ((rc = sa_http_client_new(&o->http, es->name, &es->http, err))) {
        es_close(sink);
        return rc;
    }
    return SA_OK;
}

static void es_close(struct sa_sink *sink)
{
    struct es_sink *es = sink->ctx;

    if (!es)
        return;
    if (es->superseded || es->retried_items || es->rejected || es->splits) {
        char superseded[24], retried[24], rejected[24], splits[24];
        snprintf(superseded, sizeof superseded, "%" PRIu64, es->superseded);
        snprintf(retried, sizeof retried, "%" PRIu64, es->retried_items);
        snprintf(rejected, sizeof rejected, "%" PRIu64, es->rejected);
        snprintf(splits, sizeof splits, "%" PRIu64, es->splits);
        sa_log_info("elasticsearch sink totals", "sink", es->name, "superseded",
                    superseded, "items_retried", retried, "rejected", rejected,
                    "split_413", splits);
    }
    /* Requests in flight are aborted without callbacks; their records
     * were never acked, so the dispatcher sends them again next time. */
    sa_http_client_free(es->http);
    while (es->in_flight) {
        struct bulk *next = es->in_flight->next;
        bulk_free(es->in_flight);
        es->in_flight = next;
    }
    bulk_free(es->open);
    while (es->split) {
        struct bulk *next = es->split->next;
        bulk_free(es->split);
        es->split = next;
    }
    bulk_fini(&es->retry);
    for (size_t i = 0; i < es->n_templates; i++)
        free(es->templates[i].stream);
    free(es->templates);
    sa_ack_list_fini(&es->own_acks);
    sa_buf_fini(&es->index_part);
    sa_buf_fini(&es->line);
    free(es);
    sink->ctx = NULL;
}

const struct sa_sink_ops sa_sink_elasticsearch_ops = {
    .name = "elasticsearch",
    .desc = "Elasticsearch / OpenSearch _bulk: _id from the key (else "
            "origin_id:seq), external versions, per-item retry and dead letters",
    .conf = es_conf,
    .opts_size = sizeof(struct es_opts),
    .check = es_check,
    .open = es_open,
    .send = es_send,
    .poll_acks = es_poll_acks,
    .close = es_close,
};
