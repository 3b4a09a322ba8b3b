/* SPDX-License-Identifier: Apache-2.0 */
/* Small file-system helpers every layer may use. */
#ifndef SA_BASE_FSUTIL_H
#define SA_BASE_FSUTIL_H

#include <sys/types.h>

/* mkdir -p: create path and its missing parents with mode. 0 or -1 with
 * errno set; *failed (may be NULL) names the component that failed, in a
 * static-free caller buffer of failed_len bytes. */
int sa_mkdirs(const char *path, mode_t mode, char *failed, size_t failed_len);

/* Whether sa_mkdirs(path) would give a directory this process can read and
 * write: path is one, or is missing and its nearest existing parent
 * allows creating it. 0, or -1 with the reason in why ("not a directory",
 * "cannot be created in /srv: Permission denied"). Creates nothing. */
int sa_dir_usable(const char *path, char *why, size_t why_len);

/*
 * Move the file at path into dir without ever replacing a file there: as
 * dir/NAME, or dir/STEM.N.EXT (N = 1, 2, ...) when that name is taken, so
 * that a second day's "day.csv" does not wipe out the first. Across file
 * systems (EXDEV) the file is copied, synced and then removed. 0 with the
 * name used in target, or -1 with errno set (the file stays where it was).
 */
int sa_move_into(const char *path, const char *dir, char *target, size_t target_len);

/*
 * Replace the file at path with len bytes of data, atomically: write
 * path.tmp, fsync it, rename it over path, fsync the directory. After a
 * crash (kill -9, power loss) path holds the old bytes or the new ones,
 * never a mix. 0, or -1 with errno set (path is then untouched).
 */
int sa_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

#endif
