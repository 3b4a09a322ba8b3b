/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 (FIPS 180-4) for digests that are not signatures: a config's
 * version, a sink's settings_hash, the admin token compared in constant
 * time. Why not libcrypto's: OpenSSL 3 answers the first EVP digest by
 * loading its default provider and building its algorithm tables, which
 * maps ~2 MB more of libcrypto.so into every agent (16.9 -> 14.9 MB for
 * an idle one, measured with /proc/PID/smaps), and the only use at start
 * was this hash of the config file. Signatures (agent/fleet/sign.c) and
 * HMAC stay with libcrypto; they run only where configured.
 */
#ifndef SA_BASE_SHA256_H
#define SA_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SA_SHA256_LEN 32

struct sa_sha256 {
    uint32_t h[8];
    uint64_t bytes;       /* message length so far */
    unsigned char block[64];
    size_t used;          /* bytes waiting in block */
};

void sa_sha256_init(struct sa_sha256 *s);
void sa_sha256_update(struct sa_sha256 *s, const void *data, size_t len);
void sa_sha256_final(struct sa_sha256 *s, unsigned char out[SA_SHA256_LEN]);

/* The digest of data[0, len) in one call. */
void sa_sha256(const void *data, size_t len, unsigned char out[SA_SHA256_LEN]);

#endif
