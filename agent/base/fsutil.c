/* SPDX-License-Identifier: Apache-2.0 */
/* File-system helpers; see fsutil.h. */
#include "agent/base/fsutil.h"

#include <errno.h>
#include <fcntl.h>
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

/* dir/NAME for n == 0, else dir/STEM.n.EXT (EXT from the first dot of
 * NAME that is not its first character). */
static int numbered(char *out, size_t len, const char *dir, const char *name, int n)
{
    const char *dot = strchr(name + 1, '.');
    int w;

    if (n == 0)
        w = snprintf(out, len, "%s/%s", dir, name);
    else if (dot)
        w = snprintf(out, len, "%s/%.*s.%d%s", dir, (int)(dot - name), name, n, dot);
    else
        w = snprintf(out, len, "%s/%s.%d", dir, name, n);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* Copy path to a new file target (O_EXCL), synced; removes it on failure. */
static int copy_new(const char *path, const char *target)
{
    char buf[65536];
    int in = open(path, O_RDONLY | O_CLOEXEC), out = -1, saved, ok;
    ssize_t n = 0;

    if (in < 0)
        return -1;
    out = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        saved = errno;
        close(in);
        errno = saved;
        return -1;
    }
    for (;;) {
        n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* 0: the end; < 0: a read error */
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno != EINTR) {
                n = -1;
                break;
            }
            done += w > 0 ? w : 0;
        }
        if (n < 0)
            break;
    }
    ok = n == 0 && fsync(out) == 0;
    saved = errno;
    if (close(out) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    close(in);
    if (!ok) {
        unlink(target);
        errno = saved;
        return -1;
    }
    return 0;
}

int sa_move_into(const char *path, const char *dir, char *target, size_t target_len)
{
    char *copy = strdup(path);
    const char *name;
    int rc = -1;

    if (!copy)
        return -1;
    name = basename(copy);
    for (int n = 0; n < 1000; n++) {
        if (numbered(target, target_len, dir, name, n) != 0) {
            errno = ENAMETOOLONG;
            break;
        }
        if (renameat2(AT_FDCWD, path, AT_FDCWD, target, RENAME_NOREPLACE) == 0) {
            rc = 0;
            break;
        }
        if (errno == EEXIST)
            continue;
        if (errno == EINVAL || errno == ENOSYS) {
            /* No RENAME_NOREPLACE on this file system: link() never
             * replaces either. */
            if (link(path, target) == 0) {
                rc = unlink(path);
                break;
            }
            if (errno == EEXIST)
                continue;
        }
        if (errno != EXDEV)
            break;
        if (copy_new(path, target) == 0) {
            rc = unlink(path);
            break;
        }
        if (errno != EEXIST)
            break;
    }
    free(copy);
    return rc;
}

int sa_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[4096], dir[4096];
    const char *slash = strrchr(path, '/');
    const char *p = data;
    int fd, dfd, saved;

    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) ? (int)(slash - path) : 1,
                 path);
    else
        snprintf(dir, sizeof dir, ".");
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0)
        return -1;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    /* The rename is durable only once the directory is. */
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
fail:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = saved;
    return -1;
}
