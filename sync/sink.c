/* SPDX-License-Identifier: Apache-2.0 */
/* The table of sink types, and what every sink shares: the ack list and
 * the writer-schema lookup. */
#include "sync/sink.h"

#include <stdlib.h>
#include <string.h>

extern const struct sa_sink_ops sa_sink_clickhouse_ops;
extern const struct sa_sink_ops sa_sink_elasticsearch_ops;
extern const struct sa_sink_ops sa_sink_file_ops;
extern const struct sa_sink_ops sa_sink_kafka_ops;
extern const struct sa_sink_ops sa_sink_http_ops;

const struct sa_sink_ops *const sa_sink_types[] = {
    &sa_sink_clickhouse_ops,
    &sa_sink_elasticsearch_ops,
    &sa_sink_file_ops,
    &sa_sink_kafka_ops,
    &sa_sink_http_ops,
    NULL,
};

const struct sa_sink_ops *sa_sink_type_find(const char *name)
{
    for (size_t i = 0; sa_sink_types[i]; i++)
        if (strcmp(sa_sink_types[i]->name, name) == 0)
            return sa_sink_types[i];
    return NULL;
}

/* How far back a push looks for an entry to merge into: deliveries of a
 * few partitions interleave, each in order. */
#define ACK_MERGE_WINDOW 8

int sa_ack_list_push(struct sa_ack_list *list, int64_t segment_id, uint32_t first_index,
                     uint32_t count, int outcome, const char *reason)
{
    struct sa_ack *ack;
    const char *why = reason ? reason : "";

    for (size_t i = list->n; i > 0 && list->n - i < ACK_MERGE_WINDOW; i--) {
        ack = &list->v[i - 1];
        if (ack->segment_id == segment_id && ack->outcome == outcome &&
            ack->first_index + ack->count == first_index &&
            strcmp(ack->reason, why) == 0) {
            ack->count += count;
            return SA_OK;
        }
    }
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        struct sa_ack *v = realloc(list->v, cap * sizeof *v);
        if (!v)
            return SA_ENOMEM;
        list->v = v;
        list->cap = cap;
    }
    ack = &list->v[list->n];
    ack->reason = "";
    if (why[0] && !(ack->reason = strdup(why)))
        return SA_ENOMEM;
    ack->segment_id = segment_id;
    ack->first_index = first_index;
    ack->count = count;
    ack->outcome = outcome;
    list->n++;
    return SA_OK;
}

void sa_ack_list_clear(struct sa_ack_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        if (list->v[i].reason[0])
            free((char *)list->v[i].reason);
    list->n = 0;
}

void sa_ack_list_fini(struct sa_ack_list *list)
{
    if (!list)
        return;
    sa_ack_list_clear(list);
    free(list->v);
    list->v = NULL;
    list->cap = 0;
}

int sa_sink_schema(struct sa_sink *sink, int64_t schema_id,
                   const struct sa_schema **out, struct sa_err *err)
{
    return sa_schema_cache_get_resolved(sink->schemas, sink->spool, schema_id, out,
                                        err);
}
