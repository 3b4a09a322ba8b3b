/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The config sections of fleet-wide config push (agent/fleet/fleet.c),
 * kept here so that agent/config.c only lists them:
 *
 *   fleet:     local only: url (+ the HTTP client's keys), public_keys,
 *              poll_interval, labels, probation
 *   version:   a top-level integer; a fleet config must carry one
 *   rollout:   percent: the share of agents (by a hash of agent.id) that
 *              apply a fleet config
 *   selector:  labels: the fleet.labels an agent must have to apply it
 */
#ifndef SA_FLEET_CONFIG_H
#define SA_FLEET_CONFIG_H

#include "agent/base/confmap.h"
#include "sync/http.h"

#include <stdint.h>

struct sa_fleet_conf {
    int enabled; /* the section is present (fleet.url is then required) */
    struct sa_http_conf http;
    struct sa_strlist public_keys; /* PEM files, or PEM text inline */
    int64_t poll_interval_ms;
    struct sa_kvlist labels;
    int64_t probation_ms;
};

struct sa_rollout_conf {
    int64_t percent;
};

struct sa_selector_conf {
    struct sa_kvlist labels;
};

extern const struct sa_conf_entry sa_fleet_conf_map[];
extern const struct sa_conf_entry sa_rollout_conf_map[];
extern const struct sa_conf_entry sa_selector_conf_map[];
extern const struct sa_conf_entry sa_fleet_version_entry;

#endif
