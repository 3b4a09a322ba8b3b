/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what an agent takes from a fleet server
 * (agent/fleet/): the first byte picks the part.
 *   even  the rest is config.yaml.sig: sa_fleet_sig_parse either gives 64
 *         bytes or fails with SA_EPARSE; a parsed signature then goes to
 *         sa_fleet_verify over the input itself, which must refuse it
 *         (SA_EPARSE, "bad signature"): the key is the target's own.
 *   odd   the rest is config.yaml: loaded as a fleet config
 *         (sa_config_load_string_at, relative paths taken from a fixed
 *         directory) and checked as one (sa_fleet_check_remote); a config
 *         that passes has a version above 0 and no local-only key.
 * What a fetch's response headers leave (its ETag, sent back in
 * If-None-Match) is fuzz_http_header's; the status code is libcurl's.
 * Nothing may leak (ASan's leak checker runs at exit). As in fuzz_config,
 * fopen is wrapped (-Wl,--wrap=fopen) so that ${file:/dev/tty} cannot
 * block: "rb" of a path with a '/' is refused.
 */
#include "agent/config.h"
#include "agent/fleet/fleet.h"
#include "agent/fleet/sign.h"
#include "tests/fuzz/fuzz_common.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

FILE *__real_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode);

FILE *__wrap_fopen(const char *path, const char *mode)
{
    if (strcmp(mode, "rb") == 0 && strchr(path, '/')) {
        errno = EACCES;
        return NULL;
    }
    return __real_fopen(path, mode);
}

static char pub[64] = "fuzz-keys/fleet.pub";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sa_err err = {0};
    (void)argc;
    (void)argv;
    /* once per scratch directory; a second run finds the keys there */
    if (sa_fleet_keygen("fuzz-keys", &err) != SA_OK && err.rc != SA_EINVAL)
        CHECK(0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sa_err err = {0};

    if (size == 0)
        return 0;
    if ((data[0] & 1) == 0) {
        unsigned char sig[SA_FLEET_SIG_BYTES];
        int rc = sa_fleet_sig_parse(data + 1, size - 1, sig, &err);
        CHECK(rc == SA_OK || rc == SA_EPARSE);
        if (rc == SA_OK) {
            struct sa_strlist keys = {(char *[]){pub}, 1};
            rc = sa_fleet_verify(&keys, data, size, sig, &err);
            CHECK(rc == SA_EPARSE);
            CHECK(strstr(err.msg, "bad signature") != NULL);
        }
    } else {
        struct sa_config *cfg = (struct sa_config *)&cfg; /* must be set */
        char *text = malloc(size);
        int rc;

        CHECK(text != NULL);
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        rc = sa_config_load_string_at(text, "http://fleet/config.yaml", "fuzz-dir",
                                      &cfg, &err);
        if (rc == SA_OK) {
            CHECK(cfg != NULL);
            rc = sa_fleet_check_remote(cfg, &err);
            if (rc == SA_OK) {
                CHECK(cfg->fleet_version > 0);
                CHECK(!cfg->fleet.enabled && cfg->admin_origin.line == 0);
                CHECK(cfg->rollout.percent >= 0 && cfg->rollout.percent <= 100);
            } else {
                CHECK(rc == SA_ECONFIG);
            }
        } else {
            CHECK(cfg == NULL);
        }
        sa_config_free(cfg);
        free(text);
    }
    return 0;
}
