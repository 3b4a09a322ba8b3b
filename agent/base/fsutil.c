/* SPDX-License-Identifier: Apache-2.0 */
/* File-system helpers; see fsutil.h. */
#include "agent/base/fsutil.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sa_mkdirs(const char *path, mode_t mode, char *failed, size_t failed_len)
{
    char buf[4096];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof buf) {
        errno = ENAMETOOLONG;
        if (failed)
            snprintf(failed, failed_len, "%s", path);
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1;; p++) {
        char saved = *p;
        if (saved != '/' && saved != '\0')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST) {
            if (failed)
                snprintf(failed, failed_len, "%s", buf);
            return -1;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    return 0;
}

int sa_dir_usable(const char *path, char *why, size_t why_len)
{
    struct stat st;
    char *copy, *parent;
    int rc = 0, found;

    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            snprintf(why, why_len, "not a directory");
            return -1;
        }
        if (access(path, R_OK | W_OK | X_OK) != 0) {
            snprintf(why, why_len, "not readable and writable: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(why, why_len, "%s", strerror(errno));
        return -1;
    }
    /* Missing: its nearest existing parent must let it be created. */
    if (!(copy = strdup(path))) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    parent = dirname(copy);
    while ((found = stat(parent, &st) == 0) == 0 && strcmp(parent, "/") != 0 &&
           strcmp(parent, ".") != 0)
        parent = dirname(parent);
    if (!found) {
        snprintf(why, why_len, "does not exist and cannot be created in %s: %s", parent,
                 strerror(errno));
        rc = -1;
    } else if (!S_ISDIR(st.st_mode)) {
        snprintf(why, why_len,
                 "does not exist and cannot be created: %s is not a "
                 "directory",
                 parent);
        rc = -1;
    } else if (access(parent, W_OK | X_OK) != 0) {
        snprintf(why, why_len, "does not exist and cannot be created in %s: %s", parent,
                 strerror(errno));
        rc = -1;
    }
    free(copy);
    return rc;
}
