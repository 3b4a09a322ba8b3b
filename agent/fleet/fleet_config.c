/* SPDX-License-Identifier: Apache-2.0 */
/* The config maps of `fleet:`, `version:`, `rollout:` and `selector:`
 * (fleet_config.h). */
#include "agent/fleet/fleet_config.h"

#include <stddef.h>

#define HOUR (3600 * 1000LL)

const struct sa_conf_entry sa_fleet_conf_map[] = {
    SA_HTTP_CONF_ENTRIES(struct sa_fleet_conf, http),
    {.type = SA_CONF_STRLIST,
     .key = "public_keys",
     .offset = offsetof(struct sa_fleet_conf, public_keys),
     .flags = SA_CONF_REQUIRED | SA_CONF_PATH,
     .desc = "Ed25519 public keys (PEM files from `fleet keygen`) a fleet "
             "config's signature is checked against; any one of them will do "
             "(several: key rotation)"},
    {.type = SA_CONF_DURATION,
     .key = "poll_interval",
     .def = "30s",
     .offset = offsetof(struct sa_fleet_conf, poll_interval_ms),
     .desc = "how often <url>/config.yaml is polled (each wait is jittered by "
             "up to a fifth, so a fleet does not poll in step)",
     .min = 100,
     .max = 24 * HOUR},
    {.type = SA_CONF_MAP,
     .key = "labels",
     .offset = offsetof(struct sa_fleet_conf, labels),
     .desc = "this agent's labels, matched by a fleet config's selector.labels "
             "and reported in its status"},
    {.type = SA_CONF_DURATION,
     .key = "probation",
     .def = "60s",
     .offset = offsetof(struct sa_fleet_conf, probation_ms),
     .desc = "after a fleet config is applied: a new or changed sink that "
             "fails without an acknowledgement in this time rolls the agent "
             "back to the last good config",
     .min = 0,
     .max = 24 * HOUR},
    {0},
};

const struct sa_conf_entry sa_rollout_conf_map[] = {
    {.type = SA_CONF_INT,
     .key = "percent",
     .def = "100",
     .offset = offsetof(struct sa_rollout_conf, percent),
     .desc = "a fleet config applies on the agents whose id hashes under this "
             "(first 4 bytes of SHA-256(agent.id), big-endian, mod 100)",
     .min = 0,
     .max = 100},
    {0},
};

const struct sa_conf_entry sa_selector_conf_map[] = {
    {.type = SA_CONF_MAP,
     .key = "labels",
     .offset = offsetof(struct sa_selector_conf, labels),
     .desc = "a fleet config applies on the agents whose fleet.labels hold "
             "every one of these"},
    {0},
};

const struct sa_conf_entry sa_fleet_version_entry = {
    .type = SA_CONF_INT,
    .key = "version",
    .def = "0",
    .offset = 0,
    .desc = "the version of a fleet config; an agent refuses one not above "
            "the version it runs",
    .min = 0,
    .max = INT64_MAX,
};
