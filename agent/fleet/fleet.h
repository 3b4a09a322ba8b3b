/* SPDX-License-Identifier: Apache-2.0 */
/* Fleet-wide config push: the agent's side (see fleet.c's header). */
#ifndef SA_FLEET_FLEET_H
#define SA_FLEET_FLEET_H

#include "agent/config.h"
#include "agent/schemas.h"
#include "store/spool.h"
#include "sync/dispatcher.h"

#include <stdatomic.h>

struct sa_fleet;

/* What the main loop is asked to do (sa_fleet_tick). */
enum sa_fleet_action {
    SA_FLEET_NONE = 0,
    SA_FLEET_APPLY,    /* start on the new fleet config given */
    SA_FLEET_ROLLBACK, /* start on the last good config given */
};

/* Set up fleet config push for the local config at config_path (whose
 * fleet section is enabled). Reads the last good fleet config from
 * <data_dir>/fleet/good.yaml. Nothing runs until sa_fleet_start. */
int sa_fleet_open(struct sa_fleet **out, const char *config_path, struct sa_err *err);

/* The config to start on: the last good fleet config composed with the
 * local file when there is one (the fleet server need not be up), else
 * *cfg and *schemas as they are. Replaces (and frees) them on success. */
void sa_fleet_initial(struct sa_fleet *f, struct sa_config **cfg,
                      struct sa_schema_set **schemas);

/* The effective config of a fleet config's text: the local file's
 * local-only keys (agent.id, agent.data_dir, agent.schemas_dir, spool.path,
 * admin, fleet) with everything else from text, validated as `check` does.
 * text setting a local-only key is refused (SA_ECONFIG). */
int sa_fleet_compose(const char *config_path, const char *text, const char *name,
                     struct sa_config **cfg, struct sa_schema_set **schemas,
                     struct sa_err *err);

/* A fleet config's own check, without the local file: a version, no
 * local-only key. For `fleet sign`. */
int sa_fleet_check_remote(const struct sa_config *remote, struct sa_err *err);

/* Start the poll thread. */
int sa_fleet_start(struct sa_fleet *f, struct sa_err *err);

/* Called by the main loop on every turn with the running dispatcher and
 * spool: writes the queued audit rows, watches probation, and hands out a
 * config to start on (the caller stops the runtime and starts on it, then
 * calls sa_fleet_started). */
enum sa_fleet_action sa_fleet_tick(struct sa_fleet *f, struct sa_dispatcher *d,
                                   struct sa_spool *spool, struct sa_config **cfg,
                                   struct sa_schema_set **schemas);

/* The outcome of starting on what sa_fleet_tick gave. On failure of an
 * APPLY, *cfg and *schemas get the last good config to start on instead
 * (1 returned); 0: nothing more to do. */
int sa_fleet_started(struct sa_fleet *f, int rc, const char *why,
                     struct sa_config **cfg, struct sa_schema_set **schemas);

/* The pipeline failed (ingest): during probation, the fleet config is
 * rolled back: 1 with the last good config in *cfg and *schemas, for the
 * caller to start on (then sa_fleet_started). 0: not on probation. */
int sa_fleet_pipeline_failed(struct sa_fleet *f, const char *why,
                             struct sa_config **cfg, struct sa_schema_set **schemas);

/* For a SIGHUP: the local file read again, composed with the fleet config
 * that runs (or alone when none does). */
int sa_fleet_reload(struct sa_fleet *f, struct sa_config **cfg,
                    struct sa_schema_set **schemas, struct sa_err *err);

/* Stop the poll thread and free f. NULL is fine. */
void sa_fleet_stop(struct sa_fleet *f);

#endif
