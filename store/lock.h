/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one-writer lock of a spool (DESIGN.md invariant I7): the commands
 * that commit to a spool (`run`, `import`, replay) hold an exclusive lock
 * on the file "<spool>-lock" beside it for as long as they live; a second
 * writer is refused at once with the holder's PID. Readers (`status`,
 * `spool verify`, `deadletter list`, `check`) never take it: SQLite's WAL
 * already lets them read beside the writer.
 */
#ifndef SA_STORE_LOCK_H
#define SA_STORE_LOCK_H

#include "agent/base/error.h"

/* The lock file's name beside the spool file. */
#define SA_SPOOL_LOCK_SUFFIX "-lock"

struct sa_spool_lock;

/* Take the lock of the spool at spool_path (which need not exist yet):
 * create "<spool_path>-lock" when missing, lock it, write this process's
 * PID into it. Never waits.
 * SA_EBUSY when another process holds it: the message names the spool and
 * the holder's PID, which also goes to *holder_pid (when not NULL; 0 when
 * the file names none). The same process holding the lock through another
 * handle counts as another holder too: ask sa_spool_lock_covers() first.
 * SA_EIO when the lock file cannot be created or locked.
 * *out is owned by the caller: sa_spool_lock_release(). */
int sa_spool_lock_acquire(struct sa_spool_lock **out /* out */, const char *spool_path,
                          long *holder_pid /* out */, struct sa_err *err);

/* 1 when lock is the lock of the spool at spool_path: its lock file is
 * the same file (device and inode), however the path is spelled. */
int sa_spool_lock_covers(const struct sa_spool_lock *lock, const char *spool_path);

/* The lock file's path; owned by lock. */
const char *sa_spool_lock_path(const struct sa_spool_lock *lock);

/* Empty the PID, drop the lock, free lock. NULL-safe. The file stays:
 * removing it would race with a writer that has just opened it and would
 * then lock a file nobody else can find. */
void sa_spool_lock_release(struct sa_spool_lock *lock);

#endif
