/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the configuration loader (agent/config.c): any text
 * either loads into a complete struct sa_config or fails with SA_ECONFIG
 * and a "NAME:LINE:COL: reason" message; either way nothing leaks (ASan's
 * leak checker runs at exit) and sa_config_free takes what was loaded.
 *
 * ${file:PATH} makes the loader open files. A fuzzer that spells
 * ${file:/dev/tty} or ${file:/proc/kmsg} would block, so this target is
 * linked with -Wl,--wrap=fopen (CMakeLists.txt) and __wrap_fopen refuses
 * to read ("rb", what config.c asks for) any path with a '/' in it: plain
 * names in the working directory (the test's scratch directory) still
 * reach read_small_file(), and libFuzzer can still write its artifacts.
 */
#include "agent/config.h"
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

/* What the seeds reference: ${env:SA_TEST_DIR}, ${env:SA_TEST_TOKEN} and
 * ${file:fuzz-secret}, created in the working directory (the test's
 * scratch directory). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    FILE *f;

    (void)argc;
    (void)argv;
    setenv("SA_TEST_DIR", "fuzz-dir", 0);
    setenv("SA_TEST_TOKEN", "fuzz-token", 0);
    if ((f = __real_fopen("fuzz-secret", "wb")) != NULL) {
        fputs("s3cret\n", f);
        fclose(f);
    }
    return 0;
}

static void check_loaded(const struct sa_config *cfg)
{
    CHECK(cfg->path && strcmp(cfg->path, "fuzz.yaml") == 0);
    CHECK(cfg->agent.id && cfg->agent.data_dir && cfg->agent.schemas_dir);
    CHECK(cfg->spool.path);
    CHECK(cfg->batch.max_records >= 1);
    CHECK((cfg->n_sources == 0) == (cfg->sources == NULL));
    for (size_t i = 0; i < cfg->n_sources; i++) {
        const struct sa_source_conf *src = &cfg->sources[i];
        CHECK(src->name && *src->name && src->type && src->stream && src->schema);
        CHECK(src->ops && src->opts);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(cfg->sources[j].name, src->name) != 0);
    }
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        const struct sa_sink_conf *sink = &cfg->sinks[i];
        CHECK(sink->name && *sink->name && sink->type && sink->ops && sink->opts);
        CHECK(sink->retry_initial_ms <= sink->retry_max_ms);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(cfg->sinks[j].name, sink->name) != 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sa_config *cfg = (struct sa_config *)&cfg; /* must be set to NULL */
    struct sa_err err;
    char *text = malloc(size + 1);
    int rc;

    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0'; /* a NUL inside ends the text, as in a C string */

    rc = sa_config_load_string(text, "fuzz.yaml", &cfg, &err);
    if (rc == SA_OK) {
        CHECK(cfg != NULL);
        check_loaded(cfg);
    } else {
        CHECK(cfg == NULL);
        if (rc != SA_ECONFIG)
            fprintf(stderr, "rc %d: %s\n", rc, err.msg);
        CHECK(rc == SA_ECONFIG);
        CHECK(err.rc == rc);
        CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL);
        CHECK(strncmp(err.msg, "fuzz.yaml:", 10) == 0);
    }
    sa_config_free(cfg);
    free(text);
    return 0;
}
