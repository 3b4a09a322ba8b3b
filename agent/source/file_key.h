/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The identity of an input file, as the CSV source stores its position
 * and as dead letters name the file a row came from:
 * "DEV:INO:LEN:HASH", the device and inode plus FNV-1a of the file's
 * first LEN bytes (at most SA_FILE_KEY_PREFIX), as Fluent Bit and
 * Filebeat do: a renamed file keeps its key, a new file that reuses an
 * inode gets another.
 */
#ifndef SA_AGENT_SOURCE_FILE_KEY_H
#define SA_AGENT_SOURCE_FILE_KEY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SA_FILE_KEY_PREFIX 1024 /* bytes hashed at most */
#define SA_FILE_KEY_MAX 96      /* room for a key with its NUL */

struct sa_file_key {
    uintmax_t dev, ino;
    size_t len;    /* bytes hashed */
    uint64_t hash; /* FNV-1a of them */
};

/* FNV-1a of the first len bytes of fd; -1 when the file is shorter or
 * cannot be read. */
int sa_file_key_hash(int fd, size_t len, uint64_t *hash /* out */);

/* The key of the open file fd of size bytes, at dev/ino (its first
 * min(size, SA_FILE_KEY_PREFIX) bytes hashed; 0 of them when unreadable). */
void sa_file_key_make(int fd, dev_t dev, ino_t ino, off_t size,
                      struct sa_file_key *out /* out */);

/* "DEV:INO:LEN:HASH" into out (SA_FILE_KEY_MAX bytes). */
void sa_file_key_format(const struct sa_file_key *key, char *out, size_t out_len);

/* Parse a stored key: 0, or -1 when it is not one. */
int sa_file_key_parse(const char *text, struct sa_file_key *out /* out */);

/* Whether fd, at dev/ino, is the file key names: 1 yes, 0 no (another
 * inode, or its first bytes differ). */
int sa_file_key_matches(const struct sa_file_key *key, int fd, dev_t dev, ino_t ino);

#endif
