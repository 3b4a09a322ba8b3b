/* SPDX-License-Identifier: Apache-2.0 */
/* The identity of an input file; see file_key.h. */
#include "agent/source/file_key.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int sa_file_key_hash(int fd, size_t len, uint64_t *hash)
{
    unsigned char buf[SA_FILE_KEY_PREFIX];
    ssize_t got;

    if (len > sizeof buf)
        return -1;
    got = pread(fd, buf, len, 0);
    if (got < 0 || (size_t)got < len)
        return -1;
    *hash = fnv1a(buf, len);
    return 0;
}

void sa_file_key_make(int fd, dev_t dev, ino_t ino, off_t size, struct sa_file_key *out)
{
    out->dev = (uintmax_t)dev;
    out->ino = (uintmax_t)ino;
    out->len = size < SA_FILE_KEY_PREFIX ? (size_t)size : SA_FILE_KEY_PREFIX;
    if (sa_file_key_hash(fd, out->len, &out->hash) != 0) {
        out->len = 0;
        out->hash = 0;
    }
}

void sa_file_key_format(const struct sa_file_key *key, char *out, size_t out_len)
{
    snprintf(out, out_len, "%ju:%ju:%zu:%016" PRIx64, key->dev, key->ino, key->len,
             key->hash);
}

int sa_file_key_parse(const char *text, struct sa_file_key *out)
{
    int end = 0;

    if (sscanf(text, "%ju:%ju:%zu:%" SCNx64 "%n", &out->dev, &out->ino, &out->len,
               &out->hash, &end) != 4 ||
        text[end] != '\0' || out->len > SA_FILE_KEY_PREFIX)
        return -1;
    return 0;
}

int sa_file_key_matches(const struct sa_file_key *key, int fd, dev_t dev, ino_t ino)
{
    uint64_t hash;

    return key->dev == (uintmax_t)dev && key->ino == (uintmax_t)ino &&
           sa_file_key_hash(fd, key->len, &hash) == 0 && hash == key->hash;
}
