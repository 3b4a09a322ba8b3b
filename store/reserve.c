/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool's reserve and its blocked note (spool.h): the "<path>-reserve"
 * file given up on a full disk, and "<path>-note", which says that ingest
 * is paused and why. Split out of spool.c; the handle is in
 * spool_private.h.
 */
#include "store/spool.h"

#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "store/spool_private.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* --- the reserve (see spool.h) ------------------------------------------ */

static char *reserve_path(const char *path)
{
    char *p;
    return asprintf(&p, "%s-reserve", path) < 0 ? NULL : p;
}

int sa_spool_has_reserve(const struct sa_spool *spool)
{
    char *path = reserve_path(spool->path);
    struct stat st;
    int ok = path && stat(path, &st) == 0 && st.st_size >= SA_SPOOL_RESERVE_BYTES;

    free(path);
    return ok;
}

int sa_spool_keep_reserve(struct sa_spool *spool)
{
    char *path = reserve_path(spool->path);
    struct statvfs vfs;
    struct stat st;
    int fd, e, ok = 0;

    if (!path)
        return 0;
    if (stat(path, &st) == 0 && st.st_size >= SA_SPOOL_RESERVE_BYTES) {
        ok = 1;
        goto out;
    }
    if (statvfs(spool->dir, &vfs) != 0 ||
        (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize <
            spool->min_free + 4 * (int64_t)SA_SPOOL_RESERVE_BYTES)
        goto out;
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        e = errno;
        goto failed;
    }
    /* Real blocks, not a sparse file: they are what a full disk lacks. */
    e = posix_fallocate(fd, 0, SA_SPOOL_RESERVE_BYTES);
    close(fd);
    if (e) {
        unlink(path);
        goto failed;
    }
    ok = 1;
    sa_log(SA_LOG_DEBUG, "spool reserve in place", "path", path, (const char *)0);
    goto out;
failed:
    /* There was room: something else is wrong. Said once per handle, as
     * the housekeeper tries again every few seconds. */
    if (!spool->reserve_warned) {
        spool->reserve_warned = 1;
        sa_log_warn("cannot create the spool reserve (a start on a full disk "
                    "will not be able to give it up)", "path", path, "error",
                    strerror(e));
    }
out:
    free(path);
    return ok;
}

int sa_spool_release_reserve(const char *path)
{
    char *p = reserve_path(path);
    int removed;

    if (!p)
        return 0;
    removed = unlink(p) == 0;
    free(p);
    return removed;
}

/* The note that ingest is paused lives beside the spool, in "<path>-note",
 * not in it: it matters on a full disk, where a write into the spool (a new
 * WAL frame) may not fit. The file has NOTE_BYTES, allocated when the note
 * is first written (the pipeline clears it at start, while there is room)
 * and rewritten in place after that, which needs no new block. Its content:
 * "<since_ms> <reason>\n", or since_ms 0 when ingest is not paused. */
#define NOTE_BYTES 512

static char *note_path(const struct sa_spool *s)
{
    char *p;
    return asprintf(&p, "%s-note", s->path) < 0 ? NULL : p;
}

int sa_spool_note_blocked(struct sa_spool *spool, const char *reason,
                          struct sa_err *err)
{
    char value[NOTE_BYTES];

    memset(value, 0, sizeof value);
    if (reason)
        snprintf(value, sizeof value, "%" PRId64 " %s\n", sa_now_ms(), reason);
    else
        snprintf(value, sizeof value, "0\n");
    if (spool->note_fd < 0) {
        char *path = note_path(spool);
        int e;

        if (!path)
            return sa_err_set(err, SA_ENOMEM, "spool %s: out of memory",
                              spool->path);
        spool->note_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (spool->note_fd < 0) {
            int rc = sa_err_set(err, SA_EIO, "cannot open %s: %s", path,
                                strerror(errno));
            free(path);
            return rc;
        }
        e = posix_fallocate(spool->note_fd, 0, NOTE_BYTES);
        if (e && e != EOPNOTSUPP && e != EINVAL) {
            int rc = sa_err_set(err, SA_EIO, "cannot allocate %s: %s", path,
                                strerror(e));
            close(spool->note_fd);
            spool->note_fd = -1;
            free(path);
            return rc;
        }
        free(path);
    }
    if (pwrite(spool->note_fd, value, sizeof value, 0) != (ssize_t)sizeof value)
        return sa_err_set(err, SA_EIO, "spool %s: cannot write its -note file: "
                          "%s", spool->path, strerror(errno));
    return SA_OK;
}

/* "<path>-note": see sa_spool_note_blocked. No file, no note. */
int sa_spool_status_blocked(struct sa_spool *s, struct sa_spool_status *st,
                            struct sa_err *err)
{
    char buf[NOTE_BYTES + 1], *end = NULL, *nl;
    char *path = note_path(s);
    long long since;
    ssize_t n;
    int fd;

    if (!path)
        return sa_err_set(err, SA_ENOMEM, "spool %s: out of memory", s->path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = errno == ENOENT ? SA_OK
                                 : sa_err_set(err, SA_EIO, "cannot open %s: %s",
                                              path, strerror(errno));
        free(path);
        return rc;
    }
    n = pread(fd, buf, NOTE_BYTES, 0);
    close(fd);
    free(path);
    if (n <= 0)
        return SA_OK;
    buf[n] = '\0';
    since = strtoll(buf, &end, 10);
    if (since <= 0)
        return SA_OK;
    if ((nl = strchr(end, '\n')) != NULL)
        *nl = '\0';
    st->blocked_since_ms = since;
    snprintf(st->blocked_reason, sizeof st->blocked_reason, "%s",
             *end == ' ' && end[1] ? end + 1 : "unknown");
    return SA_OK;
}
