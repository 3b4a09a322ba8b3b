/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What config.c shares with config_describe.c (not a public interface):
 * the config-map tables of the sections and of the entries common to all
 * sources and all sinks. config.c loads and checks a file against them;
 * config_describe.c prints them for `check --describe`. Only agent/
 * includes this file.
 */
#ifndef SA_AGENT_CONFIG_PRIVATE_H
#define SA_AGENT_CONFIG_PRIVATE_H

#include "agent/base/confmap.h"

#include <stddef.h>

/* One top-level section of the file and where it goes in struct sa_config. */
struct section {
    const char *key;
    const struct sa_conf_entry *conf;
    size_t offset;        /* of the section's struct inside struct sa_config */
    size_t origin_offset; /* of its struct sa_conf_origin */
    /* Offset of an int set to 1 when the section is written; such a section
     * gets no defaults when absent (its required keys are only required
     * when it is there). 0: always filled. */
    size_t present_offset;
};

/* The sections in the order they are described, sa_config_n_sections of
 * them (config.c). */
extern const struct section sa_config_sections[];
extern const size_t sa_config_n_sections;
/* The keys every entry of `sources:` and of `sinks:` has. */
extern const struct sa_conf_entry sa_source_common_conf[];
extern const struct sa_conf_entry sa_sink_common_conf[];

/* The number of entries of a config-map table (0 for NULL). */
size_t sa_config_table_len(const struct sa_conf_entry *conf);

#endif
