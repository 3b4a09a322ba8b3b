/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading the small JSON documents upstreams send back: a schema
 * registry's answers (sync/registry.c), the exactly-once cursor the Kafka
 * sink reads back from its topic (sync/sink/kafka_cursor.c). Strict where
 * leniency would hide a fault: one object, no duplicate keys (which one
 * would count?), nothing after it, no \u0000, integers within 64 bits.
 *
 * The reasons are clauses that read after the name of what was parsed,
 * "<what> is not JSON: ... (at byte 12)", "<what> has no \"id\"", so a
 * caller writes sa_err_set(err, SA_EPARSE, "%s %s", what, why). Anything
 * quoted from the input passes through sa_text_line: one line of valid
 * UTF-8.
 */
#ifndef SA_SYNC_JSON_IN_H
#define SA_SYNC_JSON_IN_H

#include <jansson.h>
#include <stddef.h>

/* Parse data[0, len) (any bytes; no NUL needed) as one JSON object.
 * SA_OK and *out, which the caller json_decref()s; or SA_EPARSE, *out
 * NULL and the reason in why[0, n). */
int sa_json_in_object(const void *data, size_t len, json_t **out /* out */, char *why,
                      size_t n);

/* obj's member `key` as an integer in [min, max]: SA_OK and *out, or
 * SA_EPARSE and why ("has no \"key\"", "has \"key\" as a string, not an
 * integer", "has \"key\" -1, out of range 0 to 2147483647"). */
int sa_json_in_int(const json_t *obj, const char *key, json_int_t min, json_int_t max,
                   json_int_t *out /* out */, char *why, size_t n);

/* obj's member `key` as an identifier: a string of 1 to max_len bytes,
 * each an ASCII letter, a digit or one of "-_.:" (what can be logged and
 * written back into JSON as it is). SA_OK and *out (borrowed from obj),
 * or SA_EPARSE and why. */
int sa_json_in_ident(const json_t *obj, const char *key, size_t max_len,
                     const char **out /* out */, char *why, size_t n);

#endif
