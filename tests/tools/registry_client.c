/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test driver for sync/registry.c, used by tests/integration/test_registry.py
 * and built only with the tests:
 *
 *   registry_client [--user U] [--password P] [--timeout-ms N] URL SUBJECT FILE...
 *
 * Parses each .avsc FILE (as version 1, 2, ... of SUBJECT) and asks one
 * client for its id under SUBJECT, in order, so that a FILE given twice
 * shows the cache. Prints one line per FILE:
 *   ok <id>
 *   error <RC name> <message>
 * and a line "error <RC name> <message>" alone when the client cannot be
 * made. Exit 0 when every FILE got an id, 1 otherwise, 2 on bad usage.
 * Logs at debug level on stderr, so a test can check what the client logs.
 */
#include "agent/base/error.h"
#include "agent/base/log.h"
#include "store/schema.h"
#include "sync/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long size;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)size + 1))) {
        if (fread(text, 1, (size_t)size, f) != (size_t)size) {
            free(text);
            text = NULL;
        } else {
            text[size] = '\0';
        }
    }
    fclose(f);
    return text;
}

static void print_error(const struct sa_err *err)
{
    printf("error %s %s\n", sa_rc_name(err->rc), err->msg);
}

int main(int argc, char **argv)
{
    struct sa_registry_opts opts = {0};
    struct sa_registry *reg = NULL;
    struct sa_err err = {0};
    int argi = 1, status = 0;

    for (; argi + 1 < argc && strncmp(argv[argi], "--", 2) == 0; argi += 2) {
        if (strcmp(argv[argi], "--user") == 0)
            opts.username = argv[argi + 1];
        else if (strcmp(argv[argi], "--password") == 0)
            opts.password = argv[argi + 1];
        else if (strcmp(argv[argi], "--timeout-ms") == 0)
            opts.timeout_ms = strtoll(argv[argi + 1], NULL, 10);
        else
            break;
    }
    if (argc - argi < 3) {
        fprintf(stderr, "usage: registry_client [--user U] [--password P] "
                        "[--timeout-ms N] URL SUBJECT FILE...\n");
        return 2;
    }
    sa_log_setup(SA_LOG_DEBUG, SA_LOG_LOGFMT);
    opts.url = argv[argi];
    const char *subject = argv[argi + 1];
    if (sa_registry_new(&reg, &opts, &err)) {
        print_error(&err);
        return 1;
    }
    for (int i = argi + 2; i < argc; i++) {
        struct sa_schema *schema = NULL;
        char *text = read_file(argv[i]);
        int32_t id = -1;

        if (!text) {
            printf("error EIO cannot read %s\n", argv[i]);
            status = 1;
            continue;
        }
        if (sa_schema_parse(subject, i - argi - 1, text, &schema, &err) ||
            sa_registry_id(reg, subject, schema, &id, &err)) {
            print_error(&err);
            status = 1;
        } else {
            printf("ok %d\n", (int)id);
        }
        fflush(stdout);
        sa_schema_free(schema);
        free(text);
    }
    sa_registry_free(reg);
    return status;
}
