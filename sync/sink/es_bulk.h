/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The response of an Elasticsearch / OpenSearch `_bulk` request, read
 * strictly (sync/sink/elasticsearch.c sends the requests). The response
 * decides, item by item, what is acknowledged, retried or dead-lettered,
 * so a response the sink cannot account for item by item is an error of
 * the whole request (retried), never a guess:
 *
 *   {"took":N, "errors":BOOL, "items":[
 *      {"index"|"create"|"delete"|"update": {"_index":..., "_id":"...",
 *         "status":N, "error":{"type":"...", "reason":"...", ...}, ...}},
 *      ...]}
 *
 * One item per action of the request, in the request's order; "error"
 * only on a failed item. Other members (_shards, _seq_no, caused_by, ...)
 * are allowed and ignored.
 */
#ifndef SA_SYNC_SINK_ES_BULK_H
#define SA_SYNC_SINK_ES_BULK_H

#include "agent/base/error.h"

#include <stddef.h>

enum sa_es_action { SA_ES_INDEX, SA_ES_CREATE, SA_ES_DELETE, SA_ES_UPDATE };

/* Longest _id Elasticsearch takes (bytes). */
#define SA_ES_ID_MAX 512
/* Pass as n_expected when any number of items is fine (the fuzzer). */
#define SA_ES_ANY_COUNT ((size_t)-1)

struct sa_es_bulk_item {
    int action; /* enum sa_es_action */
    int status; /* HTTP status of the item, 100-599 */
    char *id;   /* NULL when the item has no _id; else as sent */
    /* Both NULL when the item has no "error"; else one line of valid
     * UTF-8 each (control characters and bad bytes replaced), reason ""
     * when the error has none. */
    char *error_type;
    char *error_reason;
};

struct sa_es_bulk {
    int errors; /* the "errors" flag; 1 when absent */
    struct sa_es_bulk_item *items;
    size_t n_items;
};

/*
 * Parse body[0, len) (any bytes, no NUL needed, not kept). SA_OK and *out
 * (the caller frees it with sa_es_bulk_fini) when it is one JSON object
 * with an "items" array of exactly n_expected items, each an object with
 * exactly one member named index, create, delete or update whose value is
 * an object with an integer "status" from 100 to 599, a string "_id" of 1
 * to SA_ES_ID_MAX bytes or none, and an "error" object with a string
 * "type" (and a string or null "reason") or none; "errors" a boolean or
 * absent; no key twice anywhere. Otherwise SA_EPARSE (or SA_ENOMEM) with
 * err "<what> <reason>", the reason naming the item ("item 3 ..."). A
 * request-level error document ({"error":...,"status":N}) is SA_EPARSE
 * with its type and reason.
 */
int sa_es_bulk_parse(const void *body, size_t len, size_t n_expected, const char *what,
                     struct sa_es_bulk *out /* out */, struct sa_err *err);
void sa_es_bulk_fini(struct sa_es_bulk *bulk);

/* The same through jansson alone. sa_es_bulk_parse reads the usual
 * response without it and falls back to this for anything else (see
 * es_bulk.c); the tests and the fuzz target compare the two. */
int sa_es_bulk_parse_full(const void *body, size_t len, size_t n_expected,
                          const char *what, struct sa_es_bulk *out /* out */,
                          struct sa_err *err);

/* The error of a whole failed request's body ("TYPE: REASON" from
 * {"error":{"type","reason"}} or {"error":"text"}; else the body's first
 * bytes) as one line into out[0, n). For messages only. */
void sa_es_error_summary(const void *body, size_t len, char *out, size_t n);

#endif
