/* SPDX-License-Identifier: Apache-2.0 */
/* File-system helpers; see fsutil.h. */
#include "agent/base/fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
