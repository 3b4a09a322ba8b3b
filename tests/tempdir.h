/* SPDX-License-Identifier: Apache-2.0 */
/* A fresh temporary directory for a unit test or a fuzz target, under
 * $TMPDIR when it is set (CI and parallel runs point it at their own
 * space), else /tmp. What every test that needs a directory shares. */
#ifndef SA_TESTS_TEMPDIR_H
#define SA_TESTS_TEMPDIR_H

#include <stdio.h>
#include <stdlib.h>

/* Makes "<TMPDIR or /tmp>/<prefix>XXXXXX" into buf (size bytes) and
 * creates it; buf on success, NULL when the name does not fit or mkdtemp
 * fails (errno says why). */
static inline char *sa_test_mkdtemp(char *buf, size_t size, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(buf, size, "%s/%sXXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);

    if (n < 0 || (size_t)n >= size)
        return NULL;
    return mkdtemp(buf);
}

#endif
