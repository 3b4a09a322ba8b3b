/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The subcommands of the syncagent binary; main.c holds the table. Each
 * takes the arguments after its name (argv[0] is the subcommand name) and
 * returns the process exit status:
 *   0  success
 *   1  a runtime failure (I/O, upstream, a file that could not be read)
 *   2  bad usage or bad input: config, schema, flags, spool format
 *   3  import, deadletter replay: done, but some rows went to (or stay in)
 *      the dead letters
 *   4  import --wait-synced, run --exit-when-synced: stopped by a signal
 *      before every sink acknowledged every record
 * Every command answers --help.
 */
#ifndef SA_AGENT_COMMANDS_H
#define SA_AGENT_COMMANDS_H

#define SA_EXIT_OK 0
#define SA_EXIT_FAIL 1
#define SA_EXIT_USAGE 2
#define SA_EXIT_REJECTED 3
/* import --wait-synced or run --exit-when-synced stopped (SIGINT/SIGTERM)
 * before every sink acknowledged every record: they stay spooled and go
 * at the next start. */
#define SA_EXIT_UNSYNCED 4

int sa_cmd_run(int argc, char **argv);
int sa_cmd_generate(int argc, char **argv);
int sa_cmd_import(int argc, char **argv);
int sa_cmd_check(int argc, char **argv);
int sa_cmd_status(int argc, char **argv);
int sa_cmd_report(int argc, char **argv);
int sa_cmd_spool(int argc, char **argv);
int sa_cmd_deadletter(int argc, char **argv);
int sa_cmd_schema(int argc, char **argv);
int sa_cmd_fleet(int argc, char **argv);

#endif
