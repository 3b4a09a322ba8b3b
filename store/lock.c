/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one-writer lock of a spool (lock.h, invariant I7).
 *
 * The lock is flock(LOCK_EX | LOCK_NB) on "<spool>-lock", a file of its
 * own beside the spool. Why these choices:
 *   - flock(), not fcntl(F_SETLK): a POSIX record lock belongs to the
 *     process and the file, and the process loses it when it closes ANY
 *     descriptor of that file. A flock() lock belongs to the open file
 *     description: only closing the descriptor it was taken on (or the
 *     process dying) drops it.
 *   - A file of its own, not the spool: SQLite takes POSIX locks on the
 *     database and its WAL and opens and closes them per connection (the
 *     housekeeper and each sink worker have their own); nothing here may
 *     interfere with those.
 *   - The kernel drops the lock when the holder dies, even by kill -9, so
 *     there is never a stale lock to clean up and a restart can take it
 *     at once. The file is never removed (lock.h says why).
 *   - O_CLOEXEC: a program the agent might exec does not inherit it.
 *
 * The holder writes its PID (decimal, then a newline) into the file after
 * it has the lock, so that a refused writer can name it (best effort: a
 * full disk may refuse even those few bytes; the lock holds anyway). The
 * PID is written over the old text first and the file cut to its length
 * after, so a reader sees either the old PID or the new one before a
 * newline; only a file that was empty (new, or released) can be read
 * empty, and the refused writer reads again briefly in that case.
 */
#include "store/lock.h"

#include "agent/base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long a refused writer waits for the holder to write its PID into a
 * file it has just locked: READ_PID_TRIES * READ_PID_WAIT_NS. */
#define READ_PID_TRIES 100
#define READ_PID_WAIT_NS 2000000L

struct sa_spool_lock {
    int fd;
    char *path;
};

/* The PID at the start of the file, 0 when there is none (yet). */
static long read_pid(int fd)
{
    char text[32];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    long pid = 0;

    if (n <= 0)
        return 0;
    text[n] = '\0';
    for (const char *p = text; *p >= '0' && *p <= '9'; p++) {
        if (pid > 999999999L)
            return 0;
        pid = pid * 10 + (*p - '0');
    }
    return pid;
}

static long wait_for_pid(int fd)
{
    struct timespec wait = {0, READ_PID_WAIT_NS};
    long pid = 0;

    for (int i = 0; i < READ_PID_TRIES && (pid = read_pid(fd)) == 0; i++)
        nanosleep(&wait, NULL);
    return pid;
}

/* Best effort: the PID only names the holder to a refused writer, the
 * lock itself is what keeps it out. On a disk something else filled the
 * write can fail (a new file has no block yet), and the agent must still
 * start there (cli.c gives up the spool's reserve so that it can drain). */
static void write_pid(struct sa_spool_lock *lock)
{
    char text[32];
    int len = snprintf(text, sizeof text, "%ld\n", (long)getpid());

    errno = 0;
    if (pwrite(lock->fd, text, (size_t)len, 0) != len || ftruncate(lock->fd, len) != 0)
        sa_log_warn("cannot write the PID into the spool's lock file; a refused "
                    "writer will not be able to name this process",
                    "lock_file", lock->path, "error",
                    errno ? strerror(errno) : "short write");
}

int sa_spool_lock_acquire(struct sa_spool_lock **out, const char *spool_path,
                          long *holder_pid, struct sa_err *err)
{
    struct sa_spool_lock *lock;
    int rc = SA_OK, frc;

    *out = NULL;
    if (holder_pid)
        *holder_pid = 0;
    lock = calloc(1, sizeof *lock);
    if (!lock)
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    lock->fd = -1;
    if (asprintf(&lock->path, "%s" SA_SPOOL_LOCK_SUFFIX, spool_path) < 0) {
        lock->path = NULL;
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
        goto out;
    }
    lock->fd = open(lock->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock->fd < 0) {
        rc = sa_err_set(err, SA_EIO, "lock file %s: cannot open: %s", lock->path,
                        strerror(errno));
        goto out;
    }
    do
        frc = flock(lock->fd, LOCK_EX | LOCK_NB);
    while (frc != 0 && errno == EINTR);
    if (frc != 0 && errno == EWOULDBLOCK) {
        long pid = wait_for_pid(lock->fd);
        char who[32];
        if (holder_pid)
            *holder_pid = pid;
        if (pid > 0)
            snprintf(who, sizeof who, "pid %ld", pid);
        else
            snprintf(who, sizeof who, "pid unknown");
        rc = sa_err_set(err, SA_EBUSY, "spool %s is in use by another writer (%s)",
                        spool_path, who);
        goto out;
    }
    if (frc != 0) {
        rc = sa_err_set(err, SA_EIO, "lock file %s: cannot lock: %s", lock->path,
                        strerror(errno));
        goto out;
    }
    write_pid(lock);
out:
    if (rc) {
        /* Every error comes before the lock is ours: nothing to drop. */
        if (lock->fd >= 0)
            close(lock->fd);
        free(lock->path);
        free(lock);
        return rc;
    }
    *out = lock;
    return SA_OK;
}

int sa_spool_lock_covers(const struct sa_spool_lock *lock, const char *spool_path)
{
    struct stat held, named;
    char *path = NULL;
    int same;

    if (!lock || asprintf(&path, "%s" SA_SPOOL_LOCK_SUFFIX, spool_path) < 0)
        return 0;
    /* By stat(): trying flock() on a second descriptor would conflict
     * with our own lock and answer "busy". */
    same = fstat(lock->fd, &held) == 0 && stat(path, &named) == 0 &&
           held.st_dev == named.st_dev && held.st_ino == named.st_ino;
    free(path);
    return same;
}

const char *sa_spool_lock_path(const struct sa_spool_lock *lock)
{
    return lock ? lock->path : NULL;
}

void sa_spool_lock_release(struct sa_spool_lock *lock)
{
    if (!lock)
        return;
    /* An empty file names no holder. Failing to empty it only leaves our
     * PID behind, which the next holder writes over before anyone is
     * refused and reads it. */
    int truncated = ftruncate(lock->fd, 0);
    (void)truncated;
    close(lock->fd);
    free(lock->path);
    free(lock);
}
