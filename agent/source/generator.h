/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data generator: realistic synthetic records for any record schema,
 * standing in for the data sources of a real deployment.
 *
 * Record i of a generator is a pure function of (schema, seed, i,
 * start_ms, interval_ms): the daemon's generator source resumes after a
 * crash at the committed i and produces exactly what it would have, and
 * `syncagent generate` with the same seed writes the same records, which
 * is what the end-to-end tests compare against. Values are chosen by the
 * field's type and name: person names, emails, cities, device ids, sensor
 * values drifting over i, order amounts, enum symbols, timestamps
 * (start_ms + i * interval_ms), nullable fields null now and then.
 */
#ifndef SA_AGENT_GENERATOR_H
#define SA_AGENT_GENERATOR_H

#include "agent/record.h"

#include <stdint.h>

struct sa_generator {
    const struct sa_schema *schema;
    uint64_t seed;
    int64_t start_ms;
    int64_t interval_ms;
    void *plan; /* per-field generation plan, built once from the schema */
};

int sa_generator_init(struct sa_generator *gen, const struct sa_schema *schema,
                      uint64_t seed, int64_t start_ms, int64_t interval_ms,
                      struct sa_err *err);
void sa_generator_fini(struct sa_generator *gen);

/* Fill rec (reset first) with record number `index`. */
int sa_generator_fill(struct sa_generator *gen, uint64_t index,
                      struct sa_record *rec, struct sa_err *err);

#endif
