/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `admin:` and `health:` sections of the config (the admin HTTP server,
 * agent/admin/admin.c), kept here so that agent/config.c only lists them.
 */
#ifndef SA_ADMIN_CONFIG_H
#define SA_ADMIN_CONFIG_H

#include "agent/base/confmap.h"

#include <stdint.h>

struct sa_admin_conf {
    int enabled;
    char *listen; /* host:port, [v6]:port; port 0: any free port */
    char *token;  /* bearer token for POST routes (secret); NULL: none */
    int64_t max_connections;
    int64_t max_request_bytes; /* request line, headers and body together */
    int64_t request_timeout_ms;
};

struct sa_health_conf {
    int64_t sink_down_after_ms;
};

extern const struct sa_conf_entry sa_admin_conf_map[];
extern const struct sa_conf_entry sa_health_conf_map[];

#endif
