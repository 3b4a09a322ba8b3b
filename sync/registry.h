/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client of a Confluent-compatible Schema Registry (Confluent, Karapace,
 * Apicurio's ccompat API) over HTTP with libcurl: register a schema under
 * a subject (POST /subjects/<subject>/versions, which returns the existing
 * id when the schema is already there) and cache the id by fingerprint, so
 * that each schema costs one request per process. Used by the Kafka sink's
 * `confluent` encoding (magic byte 0 + 4-byte big-endian id + Avro body).
 */
#ifndef SA_SYNC_REGISTRY_H
#define SA_SYNC_REGISTRY_H

#include "agent/base/error.h"
#include "store/schema.h"

#include <stdint.h>

struct sa_registry;

struct sa_registry_opts {
    const char *url;      /* http://127.0.0.1:8081 (no trailing slash needed) */
    const char *username; /* basic auth, may be NULL */
    const char *password; /* never logged */
    int64_t timeout_ms;   /* per request; <= 0: 10 s */
};

/* *out owned by the caller: sa_registry_free(). No request is made yet;
 * a url that is not http(s)://host[:port][/path] fails here (SA_ECONFIG).
 * The strings in opts are copied. A client is not thread-safe: one per
 * thread, like the libcurl easy handle it keeps. */
int sa_registry_new(struct sa_registry **out, const struct sa_registry_opts *opts,
                    struct sa_err *err);
void sa_registry_free(struct sa_registry *reg);

/* The registry's id for `schema` registered under `subject` (registering
 * it when needed). Errors name the URL (without credentials), the HTTP
 * status and the registry's message; SA_EAGAIN for a transient failure
 * (connection refused, timeout, DNS, 408, 429, 5xx) so the caller retries;
 * SA_ESCHEMA when the registry refuses the schema (409 incompatible, 422
 * invalid); SA_ECONFIG for 401/403 and 404 (a url that is not the API's
 * root); SA_ETOOBIG, SA_EPARSE, SA_EIO for answers it cannot use. */
int sa_registry_id(struct sa_registry *reg, const char *subject,
                   const struct sa_schema *schema, int32_t *id /* out */,
                   struct sa_err *err);

/* What the registry's answer to a register request says, without the
 * network (sa_registry_id calls it after each request; the unit tests and
 * tests/fuzz/fuzz_registry.c call it directly). status is the HTTP status,
 * body[0, len) the response body (any bytes, no NUL needed, not kept; NULL
 * when len is 0), url the request URL as messages show it (no
 * credentials). A 2xx body that is one JSON object with an integer "id"
 * from 0 to 2^31-1 gives SA_OK and *id. Anything else gives the rc listed
 * at sa_registry_id (SA_EPARSE for a 2xx without such an id: not JSON,
 * trailing bytes, a key twice, "id" missing, of another type or out of
 * range) and a message that starts "schema registry <url>: HTTP <status>"
 * and says why, quoting the registry's "message" or the start of the body
 * as one line of valid UTF-8. */
int sa_registry_parse_response(const char *url, long status, const void *body,
                               size_t len, int32_t *id /* out */, struct sa_err *err);

#endif
