/* SPDX-License-Identifier: Apache-2.0 */
/* The config maps of the `admin:` and `health:` sections (admin_config.h). */
#include "agent/admin/admin_config.h"

#include <stddef.h>

/* Only config.c and config_value.c include config_value.h. */
#define HOUR (3600 * 1000LL)

const struct sa_conf_entry sa_admin_conf_map[] = {
    {.type = SA_CONF_BOOL,
     .key = "enabled",
     .def = "true",
     .offset = offsetof(struct sa_admin_conf, enabled),
     .desc = "serve /metrics, /healthz, /readyz, /api/v1/status and "
             "/api/v1/reload over HTTP while `run` runs"},
    {.type = SA_CONF_STR,
     .key = "listen",
     .def = "127.0.0.1:8686",
     .offset = offsetof(struct sa_admin_conf, listen),
     .desc = "host:port ([v6]:port) to serve on; port 0 takes a free one (logged). "
             "Beyond loopback only with a token. The environment variable "
             "SA_ADMIN_LISTEN, when set, overrides it"},
    {.type = SA_CONF_STR,
     .key = "token",
     .offset = offsetof(struct sa_admin_conf, token),
     .desc = "bearer token POST /api/v1/reload needs (use ${file:PATH}); "
             "without one, reload over HTTP is off",
     .flags = SA_CONF_SECRET},
    {.type = SA_CONF_INT,
     .key = "max_connections",
     .def = "64",
     .offset = offsetof(struct sa_admin_conf, max_connections),
     .desc = "connections served at once; more are closed at accept",
     .min = 1,
     .max = 10000},
    {.type = SA_CONF_SIZE,
     .key = "max_request_bytes",
     .def = "16KiB",
     .offset = offsetof(struct sa_admin_conf, max_request_bytes),
     .desc = "largest request (line, headers and body); larger gets 413 or "
             "431 and the connection closed",
     .min = 1024,
     .max = 1 << 20},
    {.type = SA_CONF_DURATION,
     .key = "request_timeout",
     .def = "10s",
     .offset = offsetof(struct sa_admin_conf, request_timeout_ms),
     .desc = "a connection idle this long is closed",
     .min = 1000,
     .max = HOUR},
    {0},
};

const struct sa_conf_entry sa_health_conf_map[] = {
    {.type = SA_CONF_DURATION,
     .key = "sink_down_after",
     .def = "60s",
     .offset = offsetof(struct sa_health_conf, sink_down_after_ms),
     .desc = "/readyz answers 503 once a sink has failed (without a delivery) "
             "for this long",
     .min = 0,
     .max = 24 * HOUR},
    {0},
};
