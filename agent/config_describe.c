/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent check --describe`: every key of the configuration, printed
 * from the same config-map tables that load and check it (config.c, and
 * each source's and sink's ops->conf), with its type, default, range and
 * description, so that the reference cannot drift from the loader.
 *
 * It is its own file because it only reads the tables: printing them has
 * nothing to do with parsing YAML or with the loader's state, and
 * config.c had passed 1,500 lines. The tables it shares with config.c are
 * declared in config_private.h.
 */
#include "agent/config.h"
#include "agent/config_private.h"

#include "agent/config_value.h"
#include "agent/quality/quality.h"

#include <stdio.h>
#include <string.h>

static const char *type_name(enum sa_conf_type type)
{
    switch (type) {
    case SA_CONF_STR:
        return "string";
    case SA_CONF_INT:
        return "integer";
    case SA_CONF_DOUBLE:
        return "number";
    case SA_CONF_BOOL:
        return "bool";
    case SA_CONF_SIZE:
        return "size";
    case SA_CONF_DURATION:
        return "duration";
    case SA_CONF_ENUM:
        return "enum";
    case SA_CONF_STRLIST:
        return "list";
    case SA_CONF_MAP:
        return "map";
    }
    return "?";
}

static const char *default_text(const struct sa_conf_entry *e)
{
    if (e->flags & SA_CONF_REQUIRED)
        return "required";
    return e->def ? e->def : "-";
}

struct widths {
    int key, type, def;
};

static void measure(const struct sa_conf_entry *conf, struct widths *w)
{
    for (const struct sa_conf_entry *e = conf; e && e->key; e++) {
        int k = (int)strlen(e->key), t = (int)strlen(type_name(e->type)),
            d = (int)strlen(default_text(e));
        w->key = k > w->key ? k : w->key;
        w->type = t > w->type ? t : w->type;
        w->def = d > w->def ? d : w->def;
    }
}

static void describe_table(FILE *out, const char *title,
                           const struct sa_conf_entry *conf, const struct widths *w)
{
    fprintf(out, "\n%s\n", title);
    if (!sa_config_table_len(conf)) {
        fprintf(out, "  (no keys of its own)\n");
        return;
    }
    for (const struct sa_conf_entry *e = conf; e->key; e++) {
        fprintf(out, "  %-*s  %-*s  %-*s  %s", w->key, e->key, w->type,
                type_name(e->type), w->def, default_text(e), e->desc ? e->desc : "");
        if (e->type == SA_CONF_ENUM) {
            char list[160];
            join_symbols(list, sizeof list, e->symbols);
            fprintf(out, "; one of: %s", list);
        }
        if (e->min < e->max) {
            char lo[32], hi[32];
            format_value(lo, sizeof lo, e, e->min);
            format_value(hi, sizeof hi, e, e->max);
            fprintf(out, "; %s..%s", lo, hi);
        }
        if (e->flags & SA_CONF_SECRET)
            fprintf(out, "; secret: never printed");
        if (e->flags & SA_CONF_PATH)
            fprintf(out, "; relative to the config file's directory");
        fputc('\n', out);
    }
}

void sa_config_describe(FILE *out)
{
    struct widths w = {3, 4, 7}; /* the header words */
    char title[160];

    for (size_t s = 0; s < sa_config_n_sections; s++)
        measure(sa_config_sections[s].conf, &w);
    measure(sa_source_common_conf, &w);
    measure(sa_sink_common_conf, &w);
    for (size_t t = 0; sa_source_types[t]; t++)
        measure(sa_source_types[t]->conf, &w);
    for (size_t t = 0; sa_sink_types[t]; t++)
        measure(sa_sink_types[t]->conf, &w);

    fprintf(out,
            "syncagent configuration: one YAML file with the sections below.\n"
            "\n"
            "Sizes are a whole number with a unit: B, KB, MB, GB (powers of 1000)\n"
            "or KiB, MiB, GiB (powers of 1024); a plain number is bytes.\n"
            "Durations are a whole number with a unit: ms, s, m, h. A plain\n"
            "number is an error (is 5 five seconds or five milliseconds?), except 0.\n"
            "Booleans are true/false, yes/no or on/off. Lists are a YAML sequence\n"
            "or a single value.\n"
            "A value may contain ${env:NAME} (an environment variable; unset is\n"
            "an error) and ${file:PATH} (the file's contents less one trailing\n"
            "newline); write $${ for a literal ${. Secret keys are never printed.\n"
            "A relative path (data_dir, schemas_dir, spool and csv paths, on_done\n"
            "move:<dir>, file sink paths, ${file:PATH}) is taken from the\n"
            "directory of the config file, not from the working directory.\n"
            "\n"
            "  %-*s  %-*s  %-*s  %s\n",
            w.key, "KEY", w.type, "TYPE", w.def, "DEFAULT", "DESCRIPTION");
    for (size_t s = 0; s < sa_config_n_sections; s++) {
        snprintf(title, sizeof title, "%s:", sa_config_sections[s].key);
        describe_table(out, title, sa_config_sections[s].conf, &w);
    }
    describe_table(out, "sources: (a list; these keys in every entry)",
                   sa_source_common_conf, &w);
    for (size_t t = 0; sa_source_types[t]; t++) {
        snprintf(title, sizeof title, "sources: type: %s - %s",
                 sa_source_types[t]->name,
                 sa_source_types[t]->desc ? sa_source_types[t]->desc : "");
        describe_table(out, title, sa_source_types[t]->conf, &w);
    }
    describe_table(out, "sinks: (a list; these keys in every entry)",
                   sa_sink_common_conf, &w);
    for (size_t t = 0; sa_sink_types[t]; t++) {
        snprintf(title, sizeof title, "sinks: type: %s - %s", sa_sink_types[t]->name,
                 sa_sink_types[t]->desc ? sa_sink_types[t]->desc : "");
        describe_table(out, title, sa_sink_types[t]->conf, &w);
    }
    sa_quality_describe(out);
}
