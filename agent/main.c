/* SPDX-License-Identifier: Apache-2.0 */
/* syncagent's entry point: the table of subcommands. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "version") == 0) {
        printf("syncagent %s\n", SA_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: syncagent version\n");
    return 2;
}
