/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The http sink: POSTs the records to any HTTP endpoint, one request per
 * batch, over the shared client (sync/http.h), which brings keep-alive,
 * gzip, TLS, auth and the proxy.
 *
 * A batch is a contiguous range of records of one segment, at most
 * batch_max_records records and about batch_max_bytes bytes: send() cuts
 * the range it is offered into batches and submits each at once, so
 * several are in flight (the dispatcher's max_in_flight bounds the
 * records the sink holds). Body formats:
 *
 *   ndjson (default)  one JSON object a line (sa_encode_json) with the
 *                     record's fields, "_origin_id", "_seq", "_op"
 *                     (upsert/delete) and "_version" (its version for
 *                     last-writer-wins, struct sa_record_view.version)
 *   json              the same objects in one JSON array
 *   avro              an Avro object container (sync/ocf.h, codec null:
 *                     `gzip: true` compresses the request) of envelopes
 *                     {_origin_id, _seq, _version, _op, record}, where
 *                     record has the writer schema, embedded as written
 *
 * Headers: Content-Type, `Idempotency-Key: <origin_id>:<first_seq>-
 * <last_seq>` (the same batch sent again carries the same key, so the
 * receiver can drop a resend after a crash or a lost answer), the
 * optional signature `<hmac_header>: sha256=<hex>`, the HMAC-SHA256 of the
 * body (before any Content-Encoding) keyed with hmac_secret, and any
 * `headers:` from the config.
 *
 * Outcomes, per batch, as acks for its range (reasons without the sink
 * name: the dispatcher's log lines and dead letters name the sink):
 *   2xx                 OK
 *   429, 503, 408       RETRY; a Retry-After makes send() answer SA_EAGAIN
 *                       until it has passed, so the dispatcher's retry
 *                       comes no earlier than the server asked
 *   other 4xx           REJECT (dead-lettered) with the status and the
 *                       first bytes of the body as one line of text
 *   5xx, other, none    RETRY (transport errors: "POST URL:
 *                       reason", e.g. a TLS trust failure)
 * The dispatcher owns backoff and the resend; a record the sink cannot
 * encode is rejected alone, its neighbours go in other batches.
 */
#include "sync/sink.h"

#include "agent/base/buf.h"
#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "agent/base/text.h"
#include "sync/encode.h"
#include "sync/http.h"
#include "sync/ocf.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (256u * 1024 * 1024)
#define BODY_SHOWN 200 /* bytes of a refusing body quoted in the reason */

enum http_format { FMT_NDJSON, FMT_JSON, FMT_AVRO };

struct http_opts {
    struct sa_http_conf http;
    int format; /* enum http_format */
    int64_t batch_max_records;
    int64_t batch_max_bytes;
    char *hmac_secret;
    char *hmac_header;
    struct sa_kvlist headers;
};

static const char *const format_symbols[] = {"ndjson", "json", "avro", NULL};

static const struct sa_conf_entry http_conf[] = {
    SA_HTTP_CONF_ENTRIES(struct http_opts, http),
    {.type = SA_CONF_ENUM,
     .key = "format",
     .def = "ndjson",
     .offset = offsetof(struct http_opts, format),
     .symbols = format_symbols,
     .desc = "request body: ndjson (a JSON object a line), json (an array) or "
             "avro (an object container of {_origin_id, _seq, _version, _op, "
             "record})"},
    {.type = SA_CONF_INT,
     .key = "batch_max_records",
     .def = "500",
     .offset = offsetof(struct http_opts, batch_max_records),
     .min = 1,
     .max = 1000000,
     .desc = "records in one request at most"},
    {.type = SA_CONF_SIZE,
     .key = "batch_max_bytes",
     .def = "1MiB",
     .offset = offsetof(struct http_opts, batch_max_bytes),
     .min = 1,
     .max = BODY_MAX,
     .desc = "a request's body stops growing past this (one record may "
             "exceed it)"},
    {.type = SA_CONF_STR,
     .key = "hmac_secret",
     .offset = offsetof(struct http_opts, hmac_secret),
     .flags = SA_CONF_SECRET,
     .desc = "sign each body with HMAC-SHA256 under this key (use "
             "${file:PATH})"},
    {.type = SA_CONF_STR,
     .key = "hmac_header",
     .def = "X-Signature",
     .offset = offsetof(struct http_opts, hmac_header),
     .desc = "header carrying the signature, as sha256=<hex>"},
    {.type = SA_CONF_MAP,
     .key = "headers",
     .offset = offsetof(struct http_opts, headers),
     .desc = "more request headers, name: value"},
    {.key = NULL},
};

/* One request in flight: a contiguous range of a segment. */
struct batch {
    int64_t segment_id;
    uint32_t first_index;
    uint32_t count;
};

struct http_sink {
    const struct http_opts *o;
    const char *name;
    const char *origin_id;
    struct sa_http_client *client;
    char **extra_headers;    /* "Name: value", from o->headers */
    struct sa_ack_list acks; /* outcomes waiting for poll_acks */
    int64_t not_before_ms;   /* a Retry-After's end, monotonic */
    /* The batch being built. */
    struct sa_buf body;
    struct sa_buf line;
    struct sa_buf envelope;
    FILE *ocf_fp; /* avro: an open_memstream of ocf_data */
    char *ocf_data;
    size_t ocf_size;
    struct sa_ocf_writer ocf;
    int64_t envelope_schema_id;
    char *envelope_schema;
    uint32_t n_batch;
    size_t batch_bytes; /* of the records, for batch_max_bytes */
    uint32_t batch_first;
    uint64_t first_seq, last_seq;
};

/* --- encoding ------------------------------------------------------------ */

static const char *content_type(int format)
{
    switch (format) {
    case FMT_JSON:
        return "Content-Type: application/json";
    case FMT_AVRO:
        return "Content-Type: avro/binary";
    default:
        return "Content-Type: application/x-ndjson";
    }
}

/* The envelope schema around a writer schema: identity and version as
 * fields beside the record, so an Avro reader gets them without a
 * sidecar. */
static int envelope_schema(struct http_sink *hs, const struct sa_schema *schema)
{
    static const char head[] =
        "{\"type\":\"record\",\"name\":\"Envelope\",\"namespace\":\"syncagent.http\","
        "\"fields\":[{\"name\":\"_origin_id\",\"type\":\"string\"},"
        "{\"name\":\"_seq\",\"type\":\"long\"},"
        "{\"name\":\"_version\",\"type\":\"long\"},"
        "{\"name\":\"_op\",\"type\":\"string\"},"
        "{\"name\":\"record\",\"type\":";
    size_t n;

    if (hs->envelope_schema && hs->envelope_schema_id == schema->id)
        return SA_OK;
    free(hs->envelope_schema);
    n = sizeof head + strlen(schema->definition) + 8;
    if (!(hs->envelope_schema = malloc(n)))
        return SA_ENOMEM;
    snprintf(hs->envelope_schema, n, "%s%s}]}", head, schema->definition);
    hs->envelope_schema_id = schema->id;
    return SA_OK;
}

static int put_string(struct sa_buf *b, const char *s)
{
    size_t n = strlen(s);
    int rc = sa_buf_put_zigzag(b, (int64_t)n);
    return rc ? rc : sa_buf_append(b, s, n);
}

/* Start an empty batch at record `index`. */
static int batch_begin(struct http_sink *hs, const struct sa_schema *schema,
                       uint32_t index, struct sa_err *err)
{
    int rc;

    hs->n_batch = 0;
    hs->batch_bytes = 0;
    hs->batch_first = index;
    sa_buf_reset(&hs->body);
    if (hs->o->format == FMT_JSON)
        return sa_buf_append_byte(&hs->body, '[');
    if (hs->o->format != FMT_AVRO)
        return SA_OK;
    if ((rc = envelope_schema(hs, schema)))
        return rc;
    hs->ocf_fp = open_memstream(&hs->ocf_data, &hs->ocf_size);
    if (!hs->ocf_fp)
        return SA_ENOMEM;
    if ((rc = sa_ocf_open(&hs->ocf, hs->ocf_fp, hs->envelope_schema, "null",
                          (size_t)hs->o->batch_max_bytes + 1, err))) {
        fclose(hs->ocf_fp);
        hs->ocf_fp = NULL;
        free(hs->ocf_data);
        hs->ocf_data = NULL;
        return rc;
    }
    return SA_OK;
}

/* Add one record to the batch. A record that does not decode with its
 * schema is SA_ERECORD with err set; the batch is unchanged. */
static int batch_add(struct http_sink *hs, const struct sa_schema *schema,
                     const struct sa_record_view *rec, struct sa_err *err)
{
    const char *op = rec->op == SA_OP_DELETE ? "delete" : "upsert";
    int rc;

    sa_buf_reset(&hs->line);
    if (sa_encode_json(schema, rec->body, rec->body_len, hs->origin_id, rec, &hs->line,
                       err) != SA_OK ||
        hs->line.len == 0 || hs->line.data[hs->line.len - 1] != '}')
        return SA_ERECORD;
    if (hs->o->format == FMT_AVRO) {
        sa_buf_reset(&hs->envelope);
        if ((rc = put_string(&hs->envelope, hs->origin_id)) ||
            (rc = sa_buf_put_zigzag(&hs->envelope, (int64_t)rec->seq)) ||
            (rc = sa_buf_put_zigzag(&hs->envelope, rec->version)) ||
            (rc = put_string(&hs->envelope, op)) ||
            (rc = sa_buf_append(&hs->envelope, rec->body, rec->body_len)))
            return rc;
        if ((rc = sa_ocf_append(&hs->ocf, hs->envelope.data, hs->envelope.len, err)))
            return rc;
        hs->batch_bytes += hs->envelope.len;
    } else {
        hs->line.len--; /* the closing brace: the version goes before it */
        if ((rc = sa_buf_printf(&hs->line, ",\"_version\":%" PRId64 "}", rec->version)))
            return rc;
        if (hs->n_batch > 0 && (rc = sa_buf_append_byte(
                                    &hs->body, hs->o->format == FMT_JSON ? ',' : '\n')))
            return rc;
        if ((rc = sa_buf_append(&hs->body, hs->line.data, hs->line.len)))
            return rc;
        hs->batch_bytes += hs->line.len + 1;
    }
    if (hs->n_batch == 0)
        hs->first_seq = rec->seq;
    hs->last_seq = rec->seq;
    hs->n_batch++;
    return SA_OK;
}

static void batch_drop(struct http_sink *hs)
{
    if (hs->ocf_fp) {
        sa_ocf_fini(&hs->ocf);
        fclose(hs->ocf_fp);
        hs->ocf_fp = NULL;
    }
    free(hs->ocf_data);
    hs->ocf_data = NULL;
    hs->n_batch = 0;
    sa_buf_reset(&hs->body);
}

/* Finish the body: the closing bracket, the container's last block. */
static int batch_finish(struct http_sink *hs, struct sa_err *err)
{
    int rc;

    if (hs->o->format == FMT_JSON)
        return sa_buf_append_byte(&hs->body, ']');
    if (hs->o->format == FMT_NDJSON)
        return sa_buf_append_byte(&hs->body, '\n');
    if ((rc = sa_ocf_flush(&hs->ocf, err)))
        return rc;
    sa_ocf_fini(&hs->ocf);
    if (fclose(hs->ocf_fp) != 0) {
        hs->ocf_fp = NULL;
        return SA_ENOMEM;
    }
    hs->ocf_fp = NULL;
    sa_buf_reset(&hs->body);
    rc = sa_buf_append(&hs->body, hs->ocf_data, hs->ocf_size);
    free(hs->ocf_data);
    hs->ocf_data = NULL;
    return rc;
}

static int sign(struct http_sink *hs, const struct sa_buf *body, char *out, size_t n)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t at;

    if (!HMAC(EVP_sha256(), hs->o->hmac_secret, (int)strlen(hs->o->hmac_secret),
              body->data ? body->data : (const unsigned char *)"", body->len, mac,
              &mac_len))
        return SA_ESINK;
    at = (size_t)snprintf(out, n, "%s: sha256=", hs->o->hmac_header);
    for (unsigned i = 0; i < mac_len && at + 3 <= n; i++, at += 2)
        snprintf(out + at, 3, "%02x", mac[i]);
    return SA_OK;
}

/* Submit the batch built so far, if any. */
static int batch_submit(struct http_sink *hs, int64_t segment_id, struct sa_err *err)
{
    struct sa_http_request req = {.method = "POST"};
    char key[256], signature[300];
    const char *headers[64];
    struct batch *b;
    size_t nh = 0;
    int rc;

    if (hs->n_batch == 0) {
        batch_drop(hs);
        return SA_OK;
    }
    if ((rc = batch_finish(hs, err))) {
        batch_drop(hs);
        return rc;
    }
    if (!(b = malloc(sizeof *b))) {
        batch_drop(hs);
        return SA_ENOMEM;
    }
    b->segment_id = segment_id;
    b->first_index = hs->batch_first;
    b->count = hs->n_batch;
    snprintf(key, sizeof key, "Idempotency-Key: %s:%" PRIu64 "-%" PRIu64, hs->origin_id,
             hs->first_seq, hs->last_seq);
    headers[nh++] = content_type(hs->o->format);
    headers[nh++] = key;
    if (hs->o->hmac_secret) {
        if ((rc = sign(hs, &hs->body, signature, sizeof signature))) {
            free(b);
            batch_drop(hs);
            return sa_err_set(err, rc, "sink %s: HMAC failed", hs->name);
        }
        headers[nh++] = signature;
    }
    for (size_t i = 0; hs->extra_headers[i] && nh < 63; i++)
        headers[nh++] = hs->extra_headers[i];
    headers[nh] = NULL;
    req.headers = headers;
    req.user = b;
    /* The client takes the body; ours starts afresh. */
    req.body = hs->body;
    sa_buf_init(&hs->body, BODY_MAX);
    hs->n_batch = 0;
    if ((rc = sa_http_submit(hs->client, &req, err))) {
        free(b);
        sa_err_prefix(err, "sink %s: ", hs->name);
        return rc;
    }
    return SA_OK;
}

/* --- outcomes ------------------------------------------------------------ */

static void on_response(const struct sa_http_response *resp, void *arg)
{
    struct http_sink *hs = arg;
    struct batch *b = resp->user;
    char reason[SA_ERR_MSG_MAX], shown[BODY_SHOWN + 1];
    int outcome;

    reason[0] = '\0';
    if (resp->status >= 200 && resp->status < 300) {
        outcome = SA_SINK_OK;
    } else if (resp->status == 0) {
        outcome = SA_SINK_RETRY;
        snprintf(reason, sizeof reason, "%s", resp->error);
    } else {
        sa_text_line(shown, sizeof shown, resp->body,
                     resp->body_len < BODY_SHOWN ? resp->body_len : BODY_SHOWN);
        if (resp->status == 429 || resp->status == 503 || resp->status == 408) {
            outcome = SA_SINK_RETRY;
            if (resp->retry_after_ms >= 0) {
                int64_t until = sa_mono_ms() + resp->retry_after_ms;
                if (until > hs->not_before_ms)
                    hs->not_before_ms = until;
            }
            snprintf(reason, sizeof reason, "HTTP %ld (retry after %" PRId64 " ms): %s",
                     resp->status, resp->retry_after_ms, shown);
        } else if (resp->status >= 400 && resp->status < 500) {
            outcome = SA_SINK_REJECT;
            snprintf(reason, sizeof reason, "HTTP %ld: %s", resp->status, shown);
        } else {
            outcome = SA_SINK_RETRY;
            snprintf(reason, sizeof reason, "HTTP %ld: %s", resp->status, shown);
        }
    }
    sa_text_trim_partial_utf8(reason);
    if (sa_ack_list_push(&hs->acks, b->segment_id, b->first_index, b->count, outcome,
                         reason) != SA_OK)
        /* Without an ack the records stay outstanding; the dispatcher's
         * drain limit then sends them again. */
        sa_log_warn("http sink: outcome lost (out of memory)", "sink", hs->name);
    free(b);
}

/* --- operations ---------------------------------------------------------- */

static void http_close(struct sa_sink *sink);

static int http_check(const struct sa_sink_conf *conf, struct sa_err *err)
{
    const struct http_opts *o = conf->opts;
    int rc;

    if (!o)
        return sa_conf_fail(&conf->origin, "url", SA_ECONFIG, err, "is required");
    if ((rc = sa_http_conf_check(&o->http, &conf->origin, err)))
        return rc;
    if (o->format < FMT_NDJSON || o->format > FMT_AVRO)
        return sa_conf_fail(&conf->origin, "format", SA_ECONFIG, err, "bad format %d",
                            o->format);
    if (!o->hmac_header || !o->hmac_header[0] || strpbrk(o->hmac_header, ": \t\r\n"))
        return sa_conf_fail(&conf->origin, "hmac_header", SA_ECONFIG, err,
                            "must be a header name");
    if (o->hmac_secret && !o->hmac_secret[0])
        return sa_conf_fail(&conf->origin, "hmac_secret", SA_ECONFIG, err, "is empty");
    for (size_t i = 0; i < o->headers.n; i++)
        if (!o->headers.v[i].key[0] || strpbrk(o->headers.v[i].key, ": \t\r\n") ||
            strpbrk(o->headers.v[i].value, "\r\n"))
            return sa_conf_fail(&conf->origin, "headers", SA_ECONFIG, err,
                                "bad header '%s'", o->headers.v[i].key);
    if (o->headers.n > 32)
        return sa_conf_fail(&conf->origin, "headers", SA_ECONFIG, err,
                            "at most 32 headers");
    return SA_OK;
}

static int http_open(struct sa_sink *sink, struct sa_err *err)
{
    const struct http_opts *o = sink->conf->opts;
    struct http_sink *hs;
    int rc;

    if ((rc = http_check(sink->conf, err)))
        return rc;
    if (!(hs = calloc(1, sizeof *hs)))
        return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", sink->conf->name);
    sink->ctx = hs;
    hs->o = o;
    hs->name = sink->conf->name;
    hs->origin_id = sink->origin_id;
    hs->envelope_schema_id = -1;
    sa_buf_init(&hs->body, BODY_MAX);
    sa_buf_init(&hs->line, BODY_MAX);
    sa_buf_init(&hs->envelope, BODY_MAX);
    if (!(hs->extra_headers = calloc(o->headers.n + 1, sizeof *hs->extra_headers)))
        goto nomem;
    for (size_t i = 0; i < o->headers.n; i++) {
        size_t n = strlen(o->headers.v[i].key) + strlen(o->headers.v[i].value) + 3;
        if (!(hs->extra_headers[i] = malloc(n)))
            goto nomem;
        snprintf(hs->extra_headers[i], n, "%s: %s", o->headers.v[i].key,
                 o->headers.v[i].value);
    }
    if ((rc = sa_http_client_new(&o->http, hs->name, &hs->client, err))) {
        sa_err_prefix(err, "sink %s: ", hs->name);
        http_close(sink);
        return rc;
    }
    return SA_OK;
nomem:
    http_close(sink);
    return sa_err_set(err, SA_ENOMEM, "sink %s: out of memory", sink->conf->name);
}

static int http_send(struct sa_sink *sink, const struct sa_segment_view *view,
                     struct sa_err *err)
{
    struct http_sink *hs = sink->ctx;
    const struct sa_schema *schema;
    struct sa_segment_iter it;
    struct sa_record_view rec;
    int rc;

    /* A Retry-After not over yet: the dispatcher offers it again later. */
    if (hs->not_before_ms && sa_mono_ms() < hs->not_before_ms)
        return SA_EAGAIN;
    hs->not_before_ms = 0;
    if ((rc = sa_sink_schema(sink, view->schema_id, &schema, err)))
        return rc;
    if ((rc = batch_begin(hs, schema, view->start_index, err)))
        goto fail;
    sa_segment_iter_init(&it, view);
    while ((rc = sa_segment_iter_next(&it, &rec, err)) == SA_OK &&
           rec.index < view->count) {
        struct sa_err why = {0};

        if (hs->n_batch == 0)
            hs->batch_first = rec.index;
        rc = batch_add(hs, schema, &rec, &why);
        if (rc == SA_ERECORD) {
            /* This one alone is dead-lettered: the batch so far goes
             * now, so that every batch is a contiguous range. */
            if ((rc = batch_submit(hs, view->id, err)) ||
                (rc = sa_ack_list_push(
                     &hs->acks, view->id, rec.index, 1, SA_SINK_REJECT,
                     why.msg[0] ? why.msg : "cannot encode the record")) ||
                (rc = batch_begin(hs, schema, rec.index + 1, err)))
                goto fail;
            continue;
        }
        if (rc)
            goto fail;
        if (hs->n_batch >= (uint32_t)hs->o->batch_max_records ||
            (int64_t)hs->batch_bytes >= hs->o->batch_max_bytes) {
            if ((rc = batch_submit(hs, view->id, err)) ||
                (rc = batch_begin(hs, schema, rec.index + 1, err)))
                goto fail;
        }
    }
    if (rc < 0)
        goto fail;
    if ((rc = batch_submit(hs, view->id, err)))
        goto fail;
    return SA_OK;
fail:
    /* Batches submitted already report on their own; the rest of the
     * range comes again after the dispatcher's backoff. */
    batch_drop(hs);
    if (!err->msg[0])
        sa_err_set(err, rc, "sink %s: %s", hs->name, sa_strerror(rc));
    return rc;
}

static int http_poll_acks(struct sa_sink *sink, struct sa_ack_list *acks,
                          int timeout_ms)
{
    struct http_sink *hs = sink->ctx;
    struct sa_err err = {0};
    int rc;

    rc = sa_http_poll(hs->client, hs->acks.n ? 0 : timeout_ms, on_response, hs, &err);
    if (rc < 0) {
        sa_log_warn("http sink poll failed", "sink", hs->name, "error", err.msg);
        return rc;
    }
    rc = SA_OK;
    for (size_t i = 0; rc == SA_OK && i < hs->acks.n; i++)
        rc = sa_ack_list_push(acks, hs->acks.v[i].segment_id, hs->acks.v[i].first_index,
                              hs->acks.v[i].count, hs->acks.v[i].outcome,
                              hs->acks.v[i].reason);
    if (rc == SA_OK)
        sa_ack_list_clear(&hs->acks);
    return rc;
}

static void http_close(struct sa_sink *sink)
{
    struct http_sink *hs = sink->ctx;

    if (!hs)
        return;
    sa_http_client_free(hs->client);
    batch_drop(hs);
    for (size_t i = 0; hs->extra_headers && hs->extra_headers[i]; i++)
        free(hs->extra_headers[i]);
    free(hs->extra_headers);
    free(hs->envelope_schema);
    sa_buf_fini(&hs->body);
    sa_buf_fini(&hs->line);
    sa_buf_fini(&hs->envelope);
    sa_ack_list_fini(&hs->acks);
    free(hs);
    sink->ctx = NULL;
}

const struct sa_sink_ops sa_sink_http_ops = {
    .name = "http",
    .desc = "POST batches (NDJSON, JSON array or Avro container) to an HTTP "
            "endpoint, with an Idempotency-Key and an optional HMAC signature",
    .conf = http_conf,
    .opts_size = sizeof(struct http_opts),
    .check = http_check,
    .open = http_open,
    .send = http_send,
    .poll_acks = http_poll_acks,
    .close = http_close,
};
