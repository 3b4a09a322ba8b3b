/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's configuration: one YAML file read with libyaml and checked
 * against config-map tables (agent/base/confmap.h). Unknown keys, wrong
 * types, bad units and out-of-range values are errors naming
 * file:line:column. Scalars may reference ${env:NAME} and ${file:PATH};
 * ${stream} and ${agent_id} are kept as written for templates (topic).
 *
 *   agent:   id, data_dir, schemas_dir, compatibility, log_level, log_format,
 *            shutdown_grace
 *   spool:   path, max_bytes, when_full, sync, compression
 *   batch:   max_records, max_bytes, linger
 *   admin:   enabled, listen, token, max_connections, max_request_bytes,
 *            request_timeout (agent/admin/admin_config.c)
 *   health:  sink_down_after
 *   fleet:   url, public_keys, poll_interval, labels, probation (+ the HTTP
 *            client's keys); version, rollout, selector: the fleet config's
 *            own (agent/fleet/fleet_config.c)
 *   sources: - {name, type, stream, schema, <type-specific keys>}
 *   sinks:   - {name, type, streams, retry_initial, retry_max,
 *               max_in_flight, <type-specific keys>}
 *   streams: <stream>: {quality: [rules]}  (agent/quality/quality_conf.c)
 */
#ifndef SA_AGENT_CONFIG_H
#define SA_AGENT_CONFIG_H

#include "agent/admin/admin_config.h"
#include "agent/base/error.h"
#include "agent/fleet/fleet_config.h"
#include "agent/source/source.h"
#include "store/spool.h"
#include "sync/sink.h"

#include <stdio.h>

struct sa_quality_conf;

struct sa_agent_conf {
    char *id;          /* default: the host name */
    char *data_dir;    /* default: ./data */
    char *schemas_dir; /* default: ./schemas */
    int compatibility; /* enum sa_compat */
    int log_level;     /* enum sa_log_level */
    int log_format;    /* enum sa_log_format */
    int64_t shutdown_grace_ms;
};

struct sa_batch_conf {
    int64_t max_records;
    int64_t max_bytes;
    int64_t linger_ms;
};

struct sa_config {
    char *path; /* the file it came from */
    /* The config's version: the first 16 hex digits of the SHA-256 of its
     * text, so that agents running the same config show the same one and
     * every edit shows a new one (status, the status page). */
    char version[17];
    struct sa_agent_conf agent;
    struct sa_spool_opts spool; /* spool.path defaults to data_dir/spool.db */
    struct sa_batch_conf batch;
    struct sa_admin_conf admin; /* agent/admin/admin_config.h */
    struct sa_health_conf health;
    struct sa_fleet_conf fleet;       /* agent/fleet/fleet_config.h */
    struct sa_rollout_conf rollout;   /* of a fleet config */
    struct sa_selector_conf selector; /* of a fleet config */
    int64_t fleet_version;            /* `version:` of a fleet config; 0: none */
    /* where the keys of each section were written (sa_conf_fail()) */
    struct sa_conf_origin agent_origin, spool_origin, batch_origin;
    struct sa_conf_origin admin_origin, health_origin;
    struct sa_conf_origin fleet_origin, rollout_origin, selector_origin;
    struct sa_source_conf *sources;
    size_t n_sources;
    struct sa_sink_conf *sinks;
    size_t n_sinks;
    struct sa_quality_conf *quality; /* `streams:` (agent/quality/), or NULL */
};

/* Load and validate path. On error *out is NULL and err holds one line:
 * "FILE:LINE:COL: what is wrong". *out is owned by the caller. Relative
 * paths in it (keys flagged SA_CONF_PATH, their defaults, ${file:PATH})
 * are taken from the directory of path, and stored joined to it. */
int sa_config_load(const char *path, struct sa_config **out, struct sa_err *err);
/* The same for commands that connect nowhere (status, spool verify,
 * deadletter list/export, report): ${env:NAME} and ${file:PATH} in the
 * sinks' settings are kept as written, neither looked up nor required
 * (a key that needs a number gets its default), so that reading the
 * spool needs none of the sinks' secrets and addresses. Such a config
 * must never open a sink. */
int sa_config_load_offline(const char *path, struct sa_config **out,
                           struct sa_err *err);
/* Same from a string; `name` stands for the file name in errors. */
int sa_config_load_string(const char *text, const char *name, struct sa_config **out,
                          struct sa_err *err);
/* The same, relative paths taken from dir rather than from name's directory
 * (a fleet config: name is its URL, its paths are the local config's). */
int sa_config_load_string_at(const char *text, const char *name, const char *dir,
                             struct sa_config **out, struct sa_err *err);
void sa_config_free(struct sa_config *cfg);

/* Run every source's and sink's check (ops->check): what their open
 * would refuse, found without opening anything. A source's check gets
 * its schema from schemas (NULL: checked without schemas). */
struct sa_schema_set;
int sa_config_check(const struct sa_config *cfg, const struct sa_schema_set *schemas,
                    struct sa_err *err);

/* Print every key of every section, source and sink type with its type,
 * default and description (`syncagent check --describe`). */
void sa_config_describe(FILE *out);

/* Config maps used outside a file (an ad-hoc source for `import`, a CLI
 * flag overriding one key): fill base with table's defaults, set one key
 * from its text form (a STRLIST key is replaced, not appended to), free
 * what the entries allocated. */
int sa_conf_apply_defaults(const struct sa_conf_entry *table, void *base,
                           struct sa_err *err);
int sa_conf_set(const struct sa_conf_entry *table, void *base, const char *key,
                const char *text, struct sa_err *err);
void sa_conf_free_entries(const struct sa_conf_entry *table, void *base);

/* Parse "64MiB" / "1GB" / "4096" and "250ms" / "5s" / "2m" / "1h"; used by
 * the loader and by CLI flags. */
int sa_parse_size(const char *s, int64_t *bytes);
int sa_parse_duration(const char *s, int64_t *ms);

#endif
