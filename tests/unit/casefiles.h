/* SPDX-License-Identifier: Apache-2.0 */
/* Data-driven unit tests: each case is a file under tests/data/<dir>/
 * (adding a case needs no code). What the tests that read them share. */
#ifndef SA_TESTS_UNIT_CASEFILES_H
#define SA_TESTS_UNIT_CASEFILES_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The whole file into a heap block of exactly its size (no NUL: ASan sees
 * a read past the end). NULL when it cannot be read. */
static inline unsigned char *case_read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    long size;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (data = malloc(size ? (size_t)size : 1)) &&
        fread(data, 1, (size_t)size, f) == (size_t)size) {
        *len = (size_t)size;
    } else {
        free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

/* chdir to $SA_SOURCE_DIR/tests/data/<sub> (ctest sets SA_SOURCE_DIR);
 * 0, or -1 with the reason on stderr. */
static inline int case_chdir(const char *sub)
{
    const char *src = getenv("SA_SOURCE_DIR");
    char dir[4096];

    if (!src) {
        fprintf(stderr, "SA_SOURCE_DIR is not set (run through ctest)\n");
        return -1;
    }
    snprintf(dir, sizeof dir, "%s/tests/data/%s", src, sub);
    if (chdir(dir) != 0) {
        fprintf(stderr, "chdir %s: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Whether got is the .expect file's text (trailing newlines aside); when
 * not, both on stderr under the case's name. 1 when equal. */
static inline int case_matches(const char *name, const unsigned char *expect,
                               size_t expect_len, const char *got)
{
    while (expect_len && expect[expect_len - 1] == '\n')
        expect_len--;
    if (strlen(got) == expect_len && memcmp(got, expect, expect_len) == 0)
        return 1;
    fprintf(stderr, "FAIL %s\n  expected: %.*s\n  got:      %s\n", name,
            (int)expect_len, (const char *)expect, got);
    return 0;
}

/* scandir's order: by name. */
static inline int case_by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

#endif
