/* SPDX-License-Identifier: Apache-2.0 */
/* Ed25519 keys and signatures, the rollout hash, the selector (sign.h). */
#include "agent/fleet/sign.h"

#include "agent/base/fsutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The first OpenSSL error of the thread's queue, for a message; the queue
 * is cleared, so that it does not leak into a later, unrelated call. */
static const char *ossl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_get_error();
    if (!e)
        snprintf(buf, n, "no OpenSSL detail");
    else
        ERR_error_string_n(e, buf, n);
    ERR_clear_error();
    return buf;
}

static int write_pem(const char *path, EVP_PKEY *key, int private, struct sa_err *err)
{
    char why[160];
    int fd, ok;
    FILE *f;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, private ? 0600 : 0644);
    if (fd < 0)
        return sa_err_set(err, errno == EEXIST ? SA_EINVAL : SA_EIO,
                          "%s: cannot create: %s", path, strerror(errno));
    if (!(f = fdopen(fd, "w"))) {
        close(fd);
        return sa_err_set(err, SA_EIO, "%s: %s", path, strerror(errno));
    }
    ok = private ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
                 : PEM_write_PUBKEY(f, key);
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok)
        return sa_err_set(err, SA_EIO, "%s: cannot write the key: %s", path,
                          ossl_reason(why, sizeof why));
    return SA_OK;
}

int sa_fleet_keygen(const char *dir, struct sa_err *err)
{
    char priv[4096], pub[4096], failed[4096], why[160];
    EVP_PKEY *key = NULL;
    int rc;

    if (sa_mkdirs(dir, 0755, failed, sizeof failed) != 0)
        return sa_err_set(err, SA_EIO, "%s: cannot create: %s", failed,
                          strerror(errno));
    snprintf(priv, sizeof priv, "%s/fleet.key", dir);
    snprintf(pub, sizeof pub, "%s/fleet.pub", dir);
    if (access(priv, F_OK) == 0 || access(pub, F_OK) == 0)
        return sa_err_set(err, SA_EINVAL,
                          "%s: holds a key already (fleet.key or fleet.pub); "
                          "not overwritten",
                          dir);
    if (!(key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")))
        return sa_err_set(err, SA_EIO, "Ed25519 key generation failed: %s",
                          ossl_reason(why, sizeof why));
    rc = write_pem(priv, key, 1, err);
    if (rc == SA_OK)
        rc = write_pem(pub, key, 0, err);
    EVP_PKEY_free(key);
    return rc;
}

static EVP_PKEY *read_key(const char *where, int private, struct sa_err *err)
{
    char why[160];
    EVP_PKEY *key = NULL;
    BIO *bio;

    /* Inline PEM text, or a file's path. */
    if (strncmp(where, "-----BEGIN", 10) == 0)
        bio = BIO_new_mem_buf(where, -1);
    else
        bio = BIO_new_file(where, "r");
    if (!bio) {
        sa_err_set(err, SA_ECONFIG, "%s: cannot open: %s", where, strerror(errno));
        ERR_clear_error();
        return NULL;
    }
    key = private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                  : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!key) {
        sa_err_set(err, SA_ECONFIG, "%s: not a PEM %s key: %s",
                   where[0] == '-' ? "inline key" : where,
                   private ? "private" : "public", ossl_reason(why, sizeof why));
        return NULL;
    }
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
        sa_err_set(err, SA_ECONFIG, "%s: not an Ed25519 key",
                   where[0] == '-' ? "inline key" : where);
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

int sa_fleet_sign(const char *key_path, const void *data, size_t len, char *out,
                  size_t out_len, struct sa_err *err)
{
    unsigned char sig[SA_FLEET_SIG_BYTES];
    size_t sig_len = sizeof sig;
    char why[160];
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY *key;
    int rc = SA_OK;

    if (out_len < SA_FLEET_SIG_B64 + 2)
        return sa_err_set(err, SA_EINVAL, "signature buffer too small");
    if (!(key = read_key(key_path, 1, err)))
        return err->rc;
    /* Ed25519 hashes inside the algorithm: no digest, one-shot. */
    if (!(ctx = EVP_MD_CTX_new()) ||
        EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestSign(ctx, sig, &sig_len, data, len) != 1 ||
        sig_len != SA_FLEET_SIG_BYTES) {
        rc = sa_err_set(err, SA_EIO, "%s: signing failed: %s", key_path,
                        ossl_reason(why, sizeof why));
        goto out;
    }
    EVP_EncodeBlock((unsigned char *)out, sig, (int)sig_len);
    out[SA_FLEET_SIG_B64] = '\n';
    out[SA_FLEET_SIG_B64 + 1] = '\0';
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return rc;
}

int sa_fleet_sig_parse(const void *text, size_t len,
                       unsigned char sig[SA_FLEET_SIG_BYTES], struct sa_err *err)
{
    const unsigned char *t = text;
    unsigned char raw[SA_FLEET_SIG_B64];
    size_t n = 0;

    while (n < len && !isspace(t[n]))
        n++;
    for (size_t i = n; i < len; i++)
        if (!isspace(t[i]))
            return sa_err_set(err, SA_EPARSE,
                              "signature file: more than one signature "
                              "(text after white space at byte %zu)",
                              i);
    if (n != SA_FLEET_SIG_B64)
        return sa_err_set(err, SA_EPARSE,
                          "signature file: %zu characters before white space, "
                          "expected %d (base64 of a 64-byte Ed25519 signature)",
                          n, SA_FLEET_SIG_B64);
    for (size_t i = 0; i < n; i++)
        if (!isalnum(t[i]) && t[i] != '+' && t[i] != '/' && t[i] != '=')
            return sa_err_set(err, SA_EPARSE, "signature file: byte %zu is not base64",
                              i);
    /* 88 characters decode to 66 bytes, the last two the "==" padding. */
    if (t[86] != '=' || t[87] != '=' || memchr(t, '=', 86))
        return sa_err_set(err, SA_EPARSE, "signature file: bad base64 padding");
    if (EVP_DecodeBlock(raw, t, (int)n) != 66)
        return sa_err_set(err, SA_EPARSE, "signature file: bad base64");
    memcpy(sig, raw, SA_FLEET_SIG_BYTES);
    return SA_OK;
}

int sa_fleet_verify(const struct sa_strlist *keys, const void *data, size_t len,
                    const unsigned char sig[SA_FLEET_SIG_BYTES], struct sa_err *err)
{
    if (!keys || keys->n == 0)
        return sa_err_set(err, SA_ECONFIG, "fleet.public_keys: no key to verify with");
    for (size_t i = 0; i < keys->n; i++) {
        EVP_PKEY *key = read_key(keys->v[i], 0, err);
        EVP_MD_CTX *ctx;
        int ok;

        if (!key)
            return err->rc;
        ctx = EVP_MD_CTX_new();
        ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, SA_FLEET_SIG_BYTES, data, len) == 1;
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_free(key);
        ERR_clear_error();
        if (ok)
            return SA_OK;
    }
    return sa_err_set(err, SA_EPARSE,
                      "bad signature: config.yaml.sig verifies with none of the "
                      "%zu key(s) in fleet.public_keys",
                      keys->n);
}

unsigned sa_fleet_bucket(const char *agent_id)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    uint32_t v;

    SHA256((const unsigned char *)agent_id, strlen(agent_id), md);
    v = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
    return v % 100;
}

int sa_fleet_labels_match(const struct sa_kvlist *selector,
                          const struct sa_kvlist *labels)
{
    for (size_t i = 0; selector && i < selector->n; i++) {
        size_t j;
        for (j = 0; labels && j < labels->n; j++)
            if (strcmp(selector->v[i].key, labels->v[j].key) == 0 &&
                strcmp(selector->v[i].value, labels->v[j].value) == 0)
                break;
        if (!labels || j == labels->n)
            return 0;
    }
    return 1;
}
