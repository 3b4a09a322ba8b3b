/* SPDX-License-Identifier: Apache-2.0 */
/* syncagent's entry point: the table of subcommands, after git's
 * { "add", cmd_add } table. */
#include "agent/allocator.h"
#include "agent/commands.h"

#include <avro.h>
#include <librdkafka/rdkafka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", sa_cmd_run, "run the agent: sources -> spool -> sinks"},
    {"import", sa_cmd_import,
     "spool CSV files once, reporting accepted and rejected rows"},
    {"generate", sa_cmd_generate,
     "write synthetic records for a schema (csv, jsonl, avro)"},
    {"check", sa_cmd_check, "validate a config, or describe every config key"},
    {"status", sa_cmd_status,
     "show the spool and each sink's lag (daemon need not run)"},
    {"report", sa_cmd_report,
     "daily roll-ups: ingested, rejected, dropped, acked, audit"},
    {"deadletter", sa_cmd_deadletter, "list, export and replay rejected records"},
    {"spool", sa_cmd_spool, "spool maintenance: verify, salvage"},
    {"schema", sa_cmd_schema, "infer a schema from a CSV file (schema infer)"},
    {"fleet", sa_cmd_fleet, "fleet config push: keygen, sign, verify, status"},
    {"version", cmd_version, "print the version and the library versions"},
    {"help", cmd_help, "this list"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: syncagent COMMAND [ARGS]\n\n"
                 "syncagent ingests records (generated, CSV), validates them against\n"
                 "versioned Avro schemas, spools them durably in SQLite and ships\n"
                 "them to sinks with retries and checkpoints.\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    char alloc[64];

    fprintf(out, "\n'syncagent COMMAND --help' explains a command.\n");
    fprintf(out, "Built with %s (cmake -DSA_MALLOC=system|jemalloc|mimalloc).\n",
            sa_allocator_describe(alloc, sizeof alloc));
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char alloc[64];

    printf("syncagent %s (sqlite %s, librdkafka %s, %s)\n", SA_VERSION,
           sqlite3_libversion(), rd_kafka_version_str(),
           sa_allocator_describe(alloc, sizeof alloc));
    return SA_EXIT_OK;
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return SA_EXIT_OK;
}

int main(int argc, char **argv)
{
    sa_allocator_init();
    if (argc < 2) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return cmd_help(0, NULL);
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(0, NULL);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "syncagent: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return SA_EXIT_USAGE;
}
