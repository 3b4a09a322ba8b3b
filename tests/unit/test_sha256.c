/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 (agent/base/sha256.c): NIST's examples, then libcrypto's answer
 * for random inputs fed in random pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/base/sha256.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const unsigned char d[SA_SHA256_LEN], char out[65])
{
    for (int i = 0; i < SA_SHA256_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void expect(const void *data, size_t len, const char *want)
{
    unsigned char d[SA_SHA256_LEN];
    char got[65];

    sa_sha256(data, len, d);
    hex(d, got);
    assert_string_equal(got, want);
}

/* FIPS 180-4's examples (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf"). */
static void test_nist(void **state)
{
    static char million[1000000];
    (void)state;
    expect("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    expect("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
           "klmnopqrlmnopqrsmnopqrstnopqrstu",
           112, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    memset(million, 'a', sizeof million);
    expect(million, sizeof million,
           "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Every length from 0 to 300 (each padding case, block edges), then long
 * ones, each fed in random pieces: the same digest as libcrypto's. */
static void test_against_libcrypto(void **state)
{
    unsigned char buf[5000], want[EVP_MAX_MD_SIZE], got[SA_SHA256_LEN];
    unsigned int want_len;
    unsigned seed = 17;
    (void)state;

    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)rand_r(&seed);
    for (size_t len = 0; len < 600; len++) {
        size_t n = len < 300 ? len : (size_t)rand_r(&seed) % sizeof buf;
        struct sa_sha256 s;

        sa_sha256_init(&s);
        for (size_t off = 0; off < n;) {
            size_t piece = (size_t)rand_r(&seed) % 130;
            if (piece > n - off)
                piece = n - off;
            sa_sha256_update(&s, buf + off, piece);
            off += piece;
        }
        sa_sha256_final(&s, got);
        assert_true(EVP_Digest(buf, n, want, &want_len, EVP_sha256(), NULL));
        assert_int_equal(want_len, SA_SHA256_LEN);
        assert_memory_equal(got, want, SA_SHA256_LEN);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nist),
        cmocka_unit_test(test_against_libcrypto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
