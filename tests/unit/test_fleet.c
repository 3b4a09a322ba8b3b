/* SPDX-License-Identifier: Apache-2.0 */
/* Fleet config push's pure parts (agent/fleet/sign.c) and a fleet config's
 * own check (agent/fleet/fleet.c): keys, signatures, the signature file's
 * format, the rollout hash, the selector, version and local-only keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/config.h"
#include "agent/fleet/fleet.h"
#include "agent/fleet/sign.h"
#include "tests/tempdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[4096];

static int setup(void **state)
{
    (void)state;
    return sa_test_mkdtemp(dir, sizeof dir, "sa-fleet-") ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[4200];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void sign(const char *keydir, const char *text, unsigned char sig[64])
{
    char key[4200], out[SA_FLEET_SIG_B64 + 2];
    struct sa_err err = {0};

    snprintf(key, sizeof key, "%s/fleet.key", keydir);
    assert_int_equal(sa_fleet_sign(key, text, strlen(text), out, sizeof out, &err),
                     SA_OK);
    assert_int_equal(strlen(out), SA_FLEET_SIG_B64 + 1);
    assert_int_equal(sa_fleet_sig_parse(out, strlen(out), sig, &err), SA_OK);
}

/* Signed with one key: verified by it, by a list holding it (rotation), by
 * no other; a changed byte never verifies. */
static void test_sign_verify(void **state)
{
    char a[4200], b[4200], pub_a[4300], pub_b[4300];
    const char *text = "version: 3\nsinks: []\n";
    unsigned char sig[64];
    struct sa_err err = {0};
    (void)state;

    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    assert_int_equal(sa_fleet_keygen(a, &err), SA_OK);
    assert_int_equal(sa_fleet_keygen(b, &err), SA_OK);
    assert_int_equal(sa_fleet_keygen(a, &err), SA_EINVAL); /* never overwritten */
    snprintf(pub_a, sizeof pub_a, "%s/fleet.pub", a);
    snprintf(pub_b, sizeof pub_b, "%s/fleet.pub", b);
    sign(a, text, sig);

    struct sa_strlist only_a = {(char *[]){pub_a}, 1};
    struct sa_strlist only_b = {(char *[]){pub_b}, 1};
    struct sa_strlist both = {(char *[]){pub_b, pub_a}, 2};
    assert_int_equal(sa_fleet_verify(&only_a, text, strlen(text), sig, &err), SA_OK);
    assert_int_equal(sa_fleet_verify(&both, text, strlen(text), sig, &err), SA_OK);
    assert_int_equal(sa_fleet_verify(&only_b, text, strlen(text), sig, &err),
                     SA_EPARSE);
    assert_non_null(strstr(err.msg, "bad signature"));
    assert_int_equal(
        sa_fleet_verify(&only_a, "version: 4\nsinks: []\n", strlen(text), sig, &err),
        SA_EPARSE);
    sig[10] ^= 1;
    assert_int_equal(sa_fleet_verify(&only_a, text, strlen(text), sig, &err),
                     SA_EPARSE);
    /* a private key where a public one is expected, a missing file */
    struct sa_strlist missing = {(char *[]){"/nonexistent/fleet.pub"}, 1};
    assert_int_equal(sa_fleet_verify(&missing, text, strlen(text), sig, &err),
                     SA_ECONFIG);
}

/* The signature file: exactly 88 base64 characters, then white space. */
static void test_sig_parse(void **state)
{
    char good[SA_FLEET_SIG_B64 + 8];
    unsigned char sig[64];
    struct sa_err err = {0};
    (void)state;

    memset(good, 'A', 86);
    memcpy(good + 86, "==\n", 4);
    assert_int_equal(sa_fleet_sig_parse(good, strlen(good), sig, &err), SA_OK);
    assert_int_equal(sa_fleet_sig_parse(good, 88, sig, &err), SA_OK);
    assert_int_equal(sa_fleet_sig_parse(good, 87, sig, &err), SA_EPARSE);
    assert_int_equal(sa_fleet_sig_parse("", 0, sig, &err), SA_EPARSE);
    good[88] = ' ';
    good[89] = 'x';
    assert_int_equal(sa_fleet_sig_parse(good, 90, sig, &err), SA_EPARSE);
    good[88] = '\n';
    good[5] = '!';
    assert_int_equal(sa_fleet_sig_parse(good, 89, sig, &err), SA_EPARSE);
    good[5] = '=';
    assert_int_equal(sa_fleet_sig_parse(good, 89, sig, &err), SA_EPARSE);
}

/* The rollout bucket is SHA-256's first 4 bytes, big-endian, mod 100: the
 * values the integration tests predict in Python. */
static void test_bucket(void **state)
{
    (void)state;
    assert_int_equal(sa_fleet_bucket(""), 0xe3b0c442u % 100);
    assert_int_equal(sa_fleet_bucket("abc"), 0xba7816bfu % 100);
    for (int i = 0; i < 1000; i++) {
        char id[32];
        snprintf(id, sizeof id, "agent-%d", i);
        assert_true(sa_fleet_bucket(id) < 100);
        assert_int_equal(sa_fleet_bucket(id), sa_fleet_bucket(id));
    }
}

static void test_selector(void **state)
{
    struct sa_kv l[] = {{"region", "eu"}, {"tier", "edge"}};
    struct sa_kv s1[] = {{"region", "eu"}};
    struct sa_kv s2[] = {{"region", "us"}};
    struct sa_kv s3[] = {{"region", "eu"}, {"rack", "4"}};
    struct sa_kvlist labels = {l, 2}, empty = {NULL, 0};
    (void)state;

    assert_true(sa_fleet_labels_match(&empty, &labels));
    assert_true(sa_fleet_labels_match(&(struct sa_kvlist){s1, 1}, &labels));
    assert_false(sa_fleet_labels_match(&(struct sa_kvlist){s2, 1}, &labels));
    assert_false(sa_fleet_labels_match(&(struct sa_kvlist){s3, 2}, &labels));
    assert_false(sa_fleet_labels_match(&(struct sa_kvlist){s1, 1}, &empty));
}

static int remote_check(const char *text, char *msg, size_t n)
{
    struct sa_config *cfg = NULL;
    struct sa_err err = {0};
    int rc = sa_config_load_string(text, "fleet.yaml", &cfg, &err);
    if (rc == SA_OK)
        rc = sa_fleet_check_remote(cfg, &err);
    snprintf(msg, n, "%s", err.msg);
    sa_config_free(cfg);
    return rc;
}

/* A fleet config: a version, rollout and selector parsed; local-only keys
 * refused, each by name. */
static void test_remote_check(void **state)
{
    char msg[SA_ERR_MSG_MAX];
    struct sa_config *cfg = NULL;
    struct sa_err err = {0};
    (void)state;

    assert_int_equal(sa_config_load_string("version: 7\nrollout: {percent: 10}\n"
                                           "selector: {labels: {region: eu}}\n",
                                           "f.yaml", &cfg, &err),
                     SA_OK);
    assert_int_equal(cfg->fleet_version, 7);
    assert_int_equal(cfg->rollout.percent, 10);
    assert_int_equal(cfg->selector.labels.n, 1);
    assert_false(cfg->fleet.enabled);
    assert_int_equal(sa_fleet_check_remote(cfg, &err), SA_OK);
    sa_config_free(cfg);

    assert_int_equal(remote_check("sinks: []\n", msg, sizeof msg), SA_ECONFIG);
    assert_non_null(strstr(msg, "version"));
    assert_int_equal(
        remote_check("version: 1\nrollout: {percent: 101}\n", msg, sizeof msg),
        SA_ECONFIG);
    static const char *const local_only[][2] = {
        {"version: 2\nagent: {id: x}\n", "agent.id"},
        {"version: 2\nagent: {data_dir: /x}\n", "agent.data_dir"},
        {"version: 2\nagent: {schemas_dir: /x}\n", "agent.schemas_dir"},
        {"version: 2\nspool: {path: /x.db}\n", "spool.path"},
        {"version: 2\nadmin: {token: t}\n", "admin"},
        {"version: 2\nfleet: {url: 'http://x', public_keys: [k.pub]}\n", "fleet"},
    };
    for (size_t i = 0; i < sizeof local_only / sizeof local_only[0]; i++) {
        assert_int_equal(remote_check(local_only[i][0], msg, sizeof msg), SA_ECONFIG);
        assert_non_null(strstr(msg, local_only[i][1]));
        assert_non_null(strstr(msg, "local-only"));
    }
    /* the local file may have a fleet section, but then needs its keys */
    assert_int_equal(remote_check("fleet: {url: 'http://x'}\n", msg, sizeof msg),
                     SA_ECONFIG);
    assert_non_null(strstr(msg, "public_keys"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify),  cmocka_unit_test(test_sig_parse),
        cmocka_unit_test(test_bucket),       cmocka_unit_test(test_selector),
        cmocka_unit_test(test_remote_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
