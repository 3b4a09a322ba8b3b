/* SPDX-License-Identifier: Apache-2.0 */
/* What the subcommands share: loading the config and the schemas, opening
 * the spool, turning an error into one line on stderr and an exit code. */
#ifndef SA_AGENT_CLI_H
#define SA_AGENT_CLI_H

#include "agent/config.h"
#include "agent/schemas.h"
#include "store/spool.h"

/* Load the config at path and the schemas it names; set up logging from
 * it. On error both outs are NULL. */
int sa_cli_load(const char *path, struct sa_config **cfg /* out */,
                struct sa_schema_set **schemas /* out */, struct sa_err *err);

/* The schemas cfg names (agent.schemas_dir), each source's looked up;
 * errors name the source's key. */
int sa_cli_load_schemas(const struct sa_config *cfg,
                        struct sa_schema_set **schemas /* out */, struct sa_err *err);

/* Make sure agent.data_dir exists and is writable (creating it when
 * missing) and take the spool's one-writer lock, or keep it when this
 * process holds it already: what sa_cli_open_spool_rw() does first. `run`
 * calls it before anything else that a second instance would trip over
 * (the admin server's port), so that the second one is told who holds
 * the data directory. SA_EBUSY, naming the holder's PID, when another
 * process holds it. */
int sa_cli_lock_data_dir(const struct sa_config *cfg, struct sa_err *err);

/* Make sure agent.data_dir exists and is writable (creating it when
 * missing), take the spool's one-writer lock (store/lock.h), then open the
 * spool with SA_SPOOL_CREATE and store the schemas in it. Every command
 * that commits to the spool opens it here. The lock stays with the
 * process until it exits, across closing and reopening the spool (a
 * reload); SA_EBUSY, with the holder's PID in the message, when another
 * process holds it. */
int sa_cli_open_spool_rw(const struct sa_config *cfg, struct sa_schema_set *schemas,
                         struct sa_spool **out, struct sa_err *err);

/* The one parser of the CLI's numeric arguments: text, the value of option
 * opt of command cmd, must be a whole decimal number in min..max, nothing
 * else (no sign unless min < 0, no spaces, no suffix). 0 with *out set,
 * or SA_EXIT_USAGE after "syncagent CMD: OPT: 'TEXT' is not ..." on
 * stderr. */
int sa_cli_parse_int(const char *cmd, const char *opt, const char *text, int64_t min,
                     int64_t max, int64_t *out /* out */);

/* The same rule without the message, for an argument that holds a number
 * among other text (report --since 7d): 0 with *out set, or -1. */
int sa_cli_whole_number(const char *text, int64_t min, int64_t max,
                        int64_t *out /* out */);

/* "syncagent CMD: message" on stderr; returns the exit code for rc. */
int sa_cli_fail(const char *cmd, const struct sa_err *err);
int sa_cli_exit_code(int rc);

#endif
