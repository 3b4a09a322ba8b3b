/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure parts of fleet config push, shared by the agent (fleet.c) and
 * the operator's CLI (cmd_fleet.c), and unit-tested alone: Ed25519 keys
 * and signatures through OpenSSL's EVP API, the signature file's format,
 * the rollout hash and the label selector.
 *
 * Signature file (config.yaml.sig): the 64-byte Ed25519 signature over the
 * exact bytes of config.yaml, in standard base64 (88 characters), then
 * optional white space. Anything else is refused.
 */
#ifndef SA_FLEET_SIGN_H
#define SA_FLEET_SIGN_H

#include "agent/base/confmap.h"
#include "agent/base/error.h"

#include <stddef.h>
#include <stdint.h>

#define SA_FLEET_SIG_BYTES 64
#define SA_FLEET_SIG_B64 88 /* base64 of 64 bytes, without NUL */
/* The largest config.yaml (or status document) fetched or signed. */
#define SA_FLEET_MAX_BYTES (4u << 20)

/* Write DIR/fleet.key (PKCS#8 PEM private key, mode 0600) and
 * DIR/fleet.pub (SubjectPublicKeyInfo PEM), refusing to overwrite a key.
 * DIR is created when missing. */
int sa_fleet_keygen(const char *dir, struct sa_err *err);

/* Sign data with the PEM private key in key_path; out gets the signature
 * file's text (SA_FLEET_SIG_B64 characters, "\n", NUL): out_len >= 90. */
int sa_fleet_sign(const char *key_path, const void *data, size_t len, char *out,
                  size_t out_len, struct sa_err *err);

/* Parse a signature file: SA_EPARSE (with the reason) unless it is exactly
 * one base64 signature of 64 bytes, with white space only after it. */
int sa_fleet_sig_parse(const void *text, size_t len,
                       unsigned char sig[SA_FLEET_SIG_BYTES], struct sa_err *err);

/* Check sig over data against every key in keys (each a PEM file's path,
 * or PEM text inline): SA_OK when one of them verifies it; SA_EPARSE "bad
 * signature" when none does; SA_ECONFIG when a key cannot be read or is
 * not Ed25519. */
int sa_fleet_verify(const struct sa_strlist *keys, const void *data, size_t len,
                    const unsigned char sig[SA_FLEET_SIG_BYTES], struct sa_err *err);

/* The agent's rollout bucket, 0..99: the first 4 bytes of SHA-256(id),
 * big-endian, mod 100. A config with rollout.percent N applies on the
 * agents whose bucket is < N. Stable across runs, hosts and versions. */
unsigned sa_fleet_bucket(const char *agent_id);

/* 1 when labels hold every key: value of selector (an empty selector
 * matches every agent). */
int sa_fleet_labels_match(const struct sa_kvlist *selector,
                          const struct sa_kvlist *labels);

#endif
