/* SPDX-License-Identifier: Apache-2.0 */
/* The Kafka sink's cursor message, read back; see kafka_cursor.h. */
#include "sync/sink/kafka_cursor.h"

#include "sync/json_in.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

int sa_kafka_cursor_parse(const void *value, size_t len, const char *what,
                          struct sa_kafka_cursor *out, struct sa_err *err)
{
    json_t *root = NULL;
    const char *origin = NULL;
    json_int_t segment_id = 0, record_index = 0;
    char why[SA_ERR_MSG_MAX];
    int rc;

    rc = sa_json_in_object(value, len, &root, why, sizeof why);
    if (!rc)
        rc = sa_json_in_ident(root, "origin_id", SA_KAFKA_ORIGIN_ID_MAX, &origin, why,
                              sizeof why);
    if (!rc)
        rc = sa_json_in_int(root, "segment_id", 0, INT64_MAX, &segment_id, why,
                            sizeof why);
    if (!rc)
        rc = sa_json_in_int(root, "record_index", 0, UINT32_MAX, &record_index, why,
                            sizeof why);
    if (!rc) {
        memcpy(out->origin_id, origin, strlen(origin) + 1);
        out->cursor.segment_id = segment_id;
        out->cursor.record_index = (uint32_t)record_index;
    } else {
        sa_err_set(err, rc, "%s %s", what, why);
    }
    json_decref(root);
    return rc;
}
