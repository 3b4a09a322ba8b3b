/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration loader: one YAML file, read whole into memory, parsed
 * with libyaml's document API (so every node keeps its start mark) and
 * walked against config-map tables (agent/base/confmap.h).
 *
 * Each section (agent, spool, batch) has one static table. Every entry of
 * `sources:` is checked against sa_source_common_conf and then against its
 * type's ops->conf, which fills a calloc'd ops->opts_size struct; `sinks:`
 * works the same way with sa_sink_common_conf. The same tables
 *   - convert and range-check values (convert(), in config_value.c),
 *   - reject unknown and duplicate keys, with a did-you-mean hint,
 *   - fill defaults from their config-syntax `def` strings,
 *   - free what was allocated (free_entries()), and
 *   - print `syncagent check --describe` (sa_config_describe(), in
 *     config_describe.c).
 *
 * Every error is one line "FILE:LINE:COL: what", FILE being the name the
 * caller gave, LINE and COL 1-based and pointing at the offending key or
 * value. After the tables, three checks need the whole file: source and
 * sink names are unique, every stream a sink names is produced by some
 * source, and retry_initial <= retry_max.
 *
 * Scalars may reference ${env:NAME} and ${file:PATH} (the file's contents
 * without one trailing newline); "$${" stands for a literal "${". Values
 * of SA_CONF_SECRET entries never appear in error messages.
 *
 * Relative paths -- values and defaults of SA_CONF_PATH entries, and
 * ${file:PATH} -- are taken from the directory of the config file, as
 * Prometheus does, and stored joined to it ("./data" in conf/agent.yaml
 * becomes "conf/data"), so that every command finds the same files from
 * any working directory. A file named without a directory (and a config
 * loaded from a string) leaves them as written.
 *
 * The loader keeps where every key was written (struct sa_conf_origin),
 * so that checks made after loading (ops->check of sources and sinks,
 * `check`'s data directory) name FILE:LINE:COL like the loader does.
 */
#include "agent/config.h"
#include "agent/config_private.h"

#include "agent/base/buf.h"
#include "agent/base/log.h"
#include "agent/base/sha256.h"
#include "agent/config_value.h"
#include "agent/quality/quality.h"
#include "agent/schemas.h"
#include "store/segment.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_CONFIG_BYTES (4u << 20) /* the YAML file */
#define MAX_VALUE_BYTES (1u << 20)  /* one value after ${...} references */
#define MAX_TABLE_KEYS 64           /* entries of one config-map table */
/* A numeric constant as the default text of a table entry. */
#define SA_STRINGIFY(x) SA_STRINGIFY_(x)
#define SA_STRINGIFY_(x) #x

/* --- the tables ---------------------------------------------------------- */

static const char *const compat_symbols[] = {"backward", "forward", "full", "none",
                                             NULL};
static const char *const log_level_symbols[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_format_symbols[] = {"logfmt", "json", NULL};
static const char *const when_full_symbols[] = {"block", "drop_oldest", "reject", NULL};
static const char *const sync_symbols[] = {"normal", "full", NULL};
static const char *const codec_symbols[] = {"none", "deflate", NULL};

#define N_SYMBOLS(a) (sizeof(a) / sizeof(a)[0] - 1)
_Static_assert(N_SYMBOLS(compat_symbols) == SA_COMPAT_NONE + 1, "enum sa_compat");
_Static_assert(N_SYMBOLS(log_level_symbols) == SA_LOG_ERROR + 1, "enum sa_log_level");
_Static_assert(N_SYMBOLS(log_format_symbols) == SA_LOG_JSON + 1, "enum sa_log_format");
_Static_assert(N_SYMBOLS(when_full_symbols) == SA_FULL_REJECT + 1, "enum sa_when_full");
_Static_assert(N_SYMBOLS(sync_symbols) == SA_SYNC_FULL + 1, "enum sa_spool_sync");
_Static_assert(N_SYMBOLS(codec_symbols) == SA_CODEC_DEFLATE + 1, "enum sa_codec");

static const struct sa_conf_entry agent_conf[] = {
    {.type = SA_CONF_STR,
     .key = "id",
     .offset = offsetof(struct sa_agent_conf, id),
     .desc = "this agent's identity in status reports and the fleet "
             "(default: the host name)"},
    {.type = SA_CONF_STR,
     .key = "data_dir",
     .def = "./data",
     .offset = offsetof(struct sa_agent_conf, data_dir),
     .desc = "directory for the spool and other state",
     .flags = SA_CONF_PATH},
    {.type = SA_CONF_STR,
     .key = "schemas_dir",
     .def = "./schemas",
     .offset = offsetof(struct sa_agent_conf, schemas_dir),
     .desc = "directory holding <subject>/v<N>.avsc",
     .flags = SA_CONF_PATH},
    {.type = SA_CONF_ENUM,
     .key = "compatibility",
     .def = "backward",
     .offset = offsetof(struct sa_agent_conf, compatibility),
     .desc = "check each schema version against the one before it",
     .symbols = compat_symbols},
    {.type = SA_CONF_ENUM,
     .key = "log_level",
     .def = "info",
     .offset = offsetof(struct sa_agent_conf, log_level),
     .desc = "least severe level logged",
     .symbols = log_level_symbols},
    {.type = SA_CONF_ENUM,
     .key = "log_format",
     .def = "logfmt",
     .offset = offsetof(struct sa_agent_conf, log_format),
     .desc = "log line format on stderr",
     .symbols = log_format_symbols},
    {.type = SA_CONF_DURATION,
     .key = "shutdown_grace",
     .def = "5s",
     .offset = offsetof(struct sa_agent_conf, shutdown_grace_ms),
     .desc = "time sinks get to flush on shutdown",
     .min = 0,
     .max = HOUR},
    {0},
};

static const struct sa_conf_entry spool_conf[] = {
    {.type = SA_CONF_STR,
     .key = "path",
     .offset = offsetof(struct sa_spool_opts, path),
     .desc = "the spool's SQLite file (default: <agent.data_dir>/spool.db)",
     .flags = SA_CONF_PATH},
    {.type = SA_CONF_SIZE,
     .key = "max_bytes",
     .def = "1GiB",
     .offset = offsetof(struct sa_spool_opts, max_bytes),
     .desc = "cap on the spool's size; 0 = no cap"},
    {.type = SA_CONF_ENUM,
     .key = "when_full",
     .def = "block",
     .offset = offsetof(struct sa_spool_opts, when_full),
     .desc = "at the cap: block sources, drop the oldest data, or reject new data "
             "(files are never rejected: they wait as under block)",
     .symbols = when_full_symbols},
    {.type = SA_CONF_SIZE,
     .key = "min_free",
     .def = "16MiB",
     .offset = offsetof(struct sa_spool_opts, min_free),
     .desc = "free space ingest leaves on the spool's file system (less counts "
             "as full), so that sinks can still record acks and the "
             "housekeeper trim; 0 = fill the disk"},
    {.type = SA_CONF_ENUM,
     .key = "sync",
     .def = "normal",
     .offset = offsetof(struct sa_spool_opts, sync),
     .desc = "SQLite synchronous mode; full also survives power loss",
     .symbols = sync_symbols},
    {.type = SA_CONF_ENUM,
     .key = "compression",
     .def = "none",
     .offset = offsetof(struct sa_spool_opts, compression),
     .desc = "codec for new segments",
     .symbols = codec_symbols},
    {0},
};

static const struct sa_conf_entry batch_conf[] = {
    {.type = SA_CONF_INT,
     .key = "max_records",
     .def = "1000",
     .offset = offsetof(struct sa_batch_conf, max_records),
     .desc = "records per spool commit",
     .min = 1,
     .max = 1000000},
    {.type = SA_CONF_SIZE,
     .key = "max_bytes",
     .def = "1MiB",
     .offset = offsetof(struct sa_batch_conf, max_bytes),
     .desc = "encoded bytes per spool commit; while commits lag, batches of "
             "up to 1 MiB in all (and at least one) wait for theirs",
     .min = 1,
     .max = GIB},
    {.type = SA_CONF_DURATION,
     .key = "linger",
     .def = "200ms",
     .offset = offsetof(struct sa_batch_conf, linger_ms),
     .desc = "longest wait for a batch to fill before committing it",
     .min = 0,
     .max = HOUR},
    {0},
};

const struct sa_conf_entry sa_source_common_conf[] = {
    {.type = SA_CONF_STR,
     .key = "name",
     .offset = offsetof(struct sa_source_conf, name),
     .desc = "unique name of this source; keys its stored offsets",
     .flags = SA_CONF_REQUIRED},
    {.type = SA_CONF_STR,
     .key = "type",
     .offset = offsetof(struct sa_source_conf, type),
     .desc = "source type (see below)",
     .flags = SA_CONF_REQUIRED},
    {.type = SA_CONF_STR,
     .key = "stream",
     .offset = offsetof(struct sa_source_conf, stream),
     .desc = "stream its records go to",
     .flags = SA_CONF_REQUIRED},
    {.type = SA_CONF_STR,
     .key = "schema",
     .offset = offsetof(struct sa_source_conf, schema),
     .desc = "\"subject\" or \"subject:vN\" (default: the stream name, newest "
             "version)"},
    {0},
};

const struct sa_conf_entry sa_sink_common_conf[] = {
    {.type = SA_CONF_STR,
     .key = "name",
     .offset = offsetof(struct sa_sink_conf, name),
     .desc = "unique name of this sink; keys its cursor in the spool",
     .flags = SA_CONF_REQUIRED},
    {.type = SA_CONF_STR,
     .key = "type",
     .offset = offsetof(struct sa_sink_conf, type),
     .desc = "sink type (see below)",
     .flags = SA_CONF_REQUIRED},
    {.type = SA_CONF_STRLIST,
     .key = "streams",
     .offset = offsetof(struct sa_sink_conf, streams),
     .desc = "streams it receives, each produced by some source (default: all)"},
    {.type = SA_CONF_DURATION,
     .key = "retry_initial",
     .def = "100ms",
     .offset = offsetof(struct sa_sink_conf, retry_initial_ms),
     .desc = "first backoff after a failed send; doubles up to retry_max",
     .min = 1,
     .max = HOUR},
    {.type = SA_CONF_DURATION,
     .key = "retry_max",
     .def = "30s",
     .offset = offsetof(struct sa_sink_conf, retry_max_ms),
     .desc = "longest backoff between sends",
     .min = 1,
     .max = 24 * HOUR},
    {.type = SA_CONF_INT,
     .key = "max_in_flight",
     .def = SA_STRINGIFY(SA_SINK_DEFAULT_MAX_IN_FLIGHT),
     .offset = offsetof(struct sa_sink_conf, max_in_flight),
     .desc = "records sent but not yet acknowledged (bounds the sink's memory: "
             "about 1 KiB a record for kafka); after a failure only a probe of "
             "100 until one is acknowledged",
     .min = 1,
     .max = 10000000},
    {.type = SA_CONF_BOOL,
     .key = "coalesce",
     .def = "false",
     .offset = offsetof(struct sa_sink_conf, coalesce),
     .desc = "send only the newest pending version of each key (by x-version or "
             "the ingest clock) among the next coalesce_window records; older "
             "ones are acknowledged as superseded, counted in `status`. Records "
             "without a key are always sent"},
    {.type = SA_CONF_INT,
     .key = "coalesce_window",
     .def = "100000",
     .offset = offsetof(struct sa_sink_conf, coalesce_window),
     .desc = "records read ahead to find each key's newest version when "
             "coalesce is on (memory: about their keys)",
     .min = 1,
     .max = 10000000},
    {0},
};

const struct section sa_config_sections[] = {
    {"agent", agent_conf, offsetof(struct sa_config, agent),
     offsetof(struct sa_config, agent_origin), 0},
    {"spool", spool_conf, offsetof(struct sa_config, spool),
     offsetof(struct sa_config, spool_origin), 0},
    {"batch", batch_conf, offsetof(struct sa_config, batch),
     offsetof(struct sa_config, batch_origin), 0},
    {"admin", sa_admin_conf_map, offsetof(struct sa_config, admin),
     offsetof(struct sa_config, admin_origin), 0},
    {"health", sa_health_conf_map, offsetof(struct sa_config, health),
     offsetof(struct sa_config, health_origin), 0},
    {"fleet", sa_fleet_conf_map, offsetof(struct sa_config, fleet),
     offsetof(struct sa_config, fleet_origin),
     offsetof(struct sa_config, fleet.enabled)},
    {"rollout", sa_rollout_conf_map, offsetof(struct sa_config, rollout),
     offsetof(struct sa_config, rollout_origin), 0},
    {"selector", sa_selector_conf_map, offsetof(struct sa_config, selector),
     offsetof(struct sa_config, selector_origin), 0},
};
#define N_SECTIONS (sizeof sa_config_sections / sizeof sa_config_sections[0])
const size_t sa_config_n_sections = N_SECTIONS;

static const char *const top_keys[] = {
    "agent",    "spool",   "batch", "admin",   "health",  "fleet", "rollout",
    "selector", "sources", "sinks", "streams", "version", NULL};

static struct sa_conf_origin *section_origin(struct sa_config *cfg, size_t s)
{
    return (struct sa_conf_origin *)((char *)cfg + sa_config_sections[s].origin_offset);
}

/* --- the loader ---------------------------------------------------------- */

struct loader {
    const char *name; /* FILE in "FILE:LINE:COL: ..." */
    char *dir;        /* relative paths are taken from here; NULL: as written */
    yaml_document_t doc;
    struct sa_config *cfg;
    struct sa_err *err;
    /* sa_config_load_offline: ${env:} and ${file:} in sinks' settings are
     * kept as written (in_sink: loading a sink; kept_refs: how many). */
    int offline, in_sink;
    unsigned kept_refs;
    /* Loading a sink: its keys and resolved values, in the order written,
     * go into its settings_hash (NULL: not loading a sink). */
    struct sa_sha256 *sink_md;
};

/* One key ('K'), value ('V') or map key ('M') into the sink's hash. The
 * tag and the NUL (no value holds one) keep "a: bc" apart from "ab: c". */
static void hash_setting(struct loader *ld, char tag, const char *text)
{
    if (ld->sink_md) {
        sa_sha256_update(ld->sink_md, &tag, 1);
        sa_sha256_update(ld->sink_md, text, strlen(text) + 1);
    }
}

/* The first 16 hex digits of md's SHA-256 (a sink's settings_hash, a
 * config's version). */
static void digest_hex16(struct sa_sha256 *md, char out[17])
{
    unsigned char d[SA_SHA256_LEN];

    sa_sha256_final(md, d);
    for (size_t i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* A layer is one table filling one struct: a source's common keys fill
 * its sa_source_conf, its type's keys fill its opts. */
struct layer {
    const struct sa_conf_entry *conf;
    void *base;
};

static int fail_at(struct loader *ld, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct loader *ld, yaml_mark_t mark, const char *fmt, ...)
{
    char what[SA_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sa_err_set(ld->err, SA_ECONFIG, "%s:%zu:%zu: %s", ld->name, mark.line + 1,
                      mark.column + 1, what);
}

static int fail_nomem(struct loader *ld)
{
    return sa_err_set(ld->err, SA_ENOMEM, "%s: out of memory", ld->name);
}

static yaml_node_t *node_at(struct loader *ld, int index)
{
    return yaml_document_get_node(&ld->doc, index);
}

static const char *kind_name(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a sequence";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

static const char *scalar_text(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

/* `key:` with nothing after it, `~` and `null` (unquoted). */
static int is_null(const yaml_node_t *node)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (node->type != YAML_SCALAR_NODE ||
        node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp(scalar_text(node), nulls[i]) == 0)
            return 1;
    return 0;
}

/* The value of key in a mapping (keys are unique once apply_map has
 * checked the mapping), or NULL. */
static yaml_node_t *find_value(struct loader *ld, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(ld, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(scalar_text(k), key) == 0)
            return node_at(ld, p->value);
    }
    return NULL;
}

/* Lexical clean-up of a joined path, as Go's filepath.Clean (which
 * Prometheus applies too): "." segments and empty ones go, "dir/.." pairs
 * cancel out. In place; the result is never longer. */
static void clean_path(char *path)
{
    int absolute = path[0] == '/';
    char *out = path + absolute, *seg = out, *next = out;
    size_t depth = 0; /* segments in out that ".." may remove */

    /* out never passes seg: writing "segment/" there is safe once next
     * (read before, NULL after the last) says where the following
     * segment starts. */
    for (; next; seg = next) {
        char *end = strchr(seg, '/');
        size_t len;
        if (!end)
            end = seg + strlen(seg);
        next = *end ? end + 1 : NULL;
        len = (size_t)(end - seg);
        if (len == 0 || (len == 1 && seg[0] == '.'))
            continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            if (depth > 0) {
                /* drop the last segment of out */
                out--;
                while (out > path + absolute && out[-1] != '/')
                    out--;
                depth--;
                continue;
            }
            if (absolute)
                continue; /* /.. is / */
        } else {
            depth++;
        }
        memmove(out, seg, len);
        out += len;
        *out++ = '/';
    }
    if (out > path + absolute)
        out--; /* the last slash */
    else if (!absolute)
        *out++ = '.';
    *out = '\0';
}

/* text, with the relative path in it (after prefix, when text starts with
 * prefix) taken from the config file's directory and cleaned up
 * ("./data" in conf/agent.yaml is "conf/data", "../schemas" is
 * "schemas"); *out is malloc'd. */
static int join_dir(struct loader *ld, const char *text, const char *prefix, char **out)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    const char *path = text + plen;

    if (!ld->dir || (plen && strncmp(text, prefix, plen) != 0) || !*path ||
        *path == '/') {
        *out = strdup(text);
        return *out ? SA_OK : fail_nomem(ld);
    }
    if (asprintf(out, "%.*s%s/%s", (int)plen, text, ld->dir, path) < 0) {
        *out = NULL;
        return fail_nomem(ld);
    }
    clean_path(*out + plen);
    return SA_OK;
}

/* convert(), with a SA_CONF_PATH value taken from the config's directory. */
static int convert_value(struct loader *ld, const struct sa_conf_entry *e,
                         const char *text, void *base, char *why, size_t why_len)
{
    char *joined;
    int rc;

    if (!(e->flags & SA_CONF_PATH))
        return convert(e, text, base, why, why_len);
    if ((rc = join_dir(ld, text, e->path_prefix, &joined)))
        return rc;
    rc = convert(e, joined, base, why, why_len);
    free(joined);
    return rc;
}

/* The contents of path, at most MAX_VALUE_BYTES, less one trailing newline.
 * Sets errno on failure. */
static char *read_small_file(const char *path)
{
    struct sa_buf buf;
    char chunk[4096];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (!f)
        return NULL;
    sa_buf_init(&buf, MAX_VALUE_BYTES);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        int rc = sa_buf_append(&buf, chunk, n);
        if (rc) {
            errno = rc == SA_ETOOBIG ? EFBIG : ENOMEM;
            goto fail;
        }
    }
    if (ferror(f)) {
        errno = EIO;
        goto fail;
    }
    fclose(f);
    if (buf.len && buf.data[buf.len - 1] == '\n') {
        buf.len--;
        if (buf.len && buf.data[buf.len - 1] == '\r')
            buf.len--;
    }
    if (sa_buf_terminate(&buf) || memchr(buf.data, '\0', buf.len)) {
        errno = buf.data ? EILSEQ : ENOMEM;
        sa_buf_fini(&buf);
        return NULL;
    }
    return (char *)buf.data;
fail:
    fclose(f);
    sa_buf_fini(&buf);
    return NULL;
}

/* Replace ${env:NAME} and ${file:PATH} in a scalar; *out is malloc'd and
 * owned by the caller. `what` names the value in errors. */
static int resolve(struct loader *ld, yaml_node_t *node, const char *what, char **out)
{
    const char *s = scalar_text(node);
    size_t len = node->data.scalar.length;
    struct sa_buf buf;
    int rc = SA_OK;

    *out = NULL;
    if (strlen(s) != len)
        return fail_at(ld, node->start_mark, "%s: value contains a NUL character",
                       what);
    sa_buf_init(&buf, MAX_VALUE_BYTES);
    for (size_t i = 0; i < len && rc == SA_OK;) {
        const char *ref, *close;
        size_t ref_len;

        if (strncmp(s + i, "$${", 3) == 0) {
            rc = sa_buf_append(&buf, "${", 2);
            i += 3;
            continue;
        }
        if (strncmp(s + i, "${", 2) != 0) {
            rc = sa_buf_append_byte(&buf, (uint8_t)s[i++]);
            continue;
        }
        ref = s + i + 2;
        if (!(close = strchr(ref, '}'))) {
            rc = fail_at(ld, node->start_mark,
                         "%s: unterminated '${' (use ${env:NAME} or ${file:PATH}, "
                         "or $${ for a literal ${)",
                         what);
            break;
        }
        ref_len = (size_t)(close - ref);
        if ((ref_len == 6 && strncmp(ref, "stream", 6) == 0) ||
            (ref_len == 8 && strncmp(ref, "agent_id", 8) == 0)) {
            /* A template variable for the component to fill in per record
             * (the Kafka sink's topic: edge.${stream}): kept as written. */
            rc = sa_buf_append(&buf, s + i, ref_len + 3);
        } else if (ld->offline && ld->in_sink &&
                   ((ref_len > 4 && strncmp(ref, "env:", 4) == 0) ||
                    (ref_len > 5 && strncmp(ref, "file:", 5) == 0))) {
            /* A sink's secret or address, for a command that connects
             * nowhere: not needed, so neither looked up nor required. */
            rc = sa_buf_append(&buf, s + i, ref_len + 3);
            ld->kept_refs++;
        } else if (ref_len > 4 && strncmp(ref, "env:", 4) == 0) {
            char name[256];
            const char *value;
            snprintf(name, sizeof name, "%.*s", (int)(ref_len - 4), ref + 4);
            if (!(value = getenv(name))) {
                rc = fail_at(ld, node->start_mark,
                             "%s: environment variable '%s' is not set", what, name);
                break;
            }
            rc = sa_buf_append_str(&buf, value);
        } else if (ref_len > 5 && strncmp(ref, "file:", 5) == 0) {
            char *written = strndup(ref + 5, ref_len - 5), *path = NULL;
            char *content = NULL;
            if (written && join_dir(ld, written, NULL, &path) == SA_OK)
                content = read_small_file(path);
            if (!path) {
                rc = SA_ENOMEM;
            } else if (!content) {
                rc = fail_at(ld, node->start_mark, "%s: cannot read file '%s': %s",
                             what, path, strerror(errno));
            } else {
                rc = sa_buf_append_str(&buf, content);
            }
            free(content);
            free(path);
            free(written);
        } else {
            rc = fail_at(ld, node->start_mark,
                         "%s: unknown reference '${%.*s}' (use ${env:NAME} or "
                         "${file:PATH}; templates such as a Kafka topic take "
                         "${stream} and ${agent_id})",
                         what, (int)ref_len, ref);
        }
        i = (size_t)(close - s) + 1;
    }
    if (rc == SA_OK)
        rc = sa_buf_terminate(&buf);
    if (rc == SA_ETOOBIG)
        rc = fail_at(ld, node->start_mark, "%s: value is longer than %u bytes", what,
                     MAX_VALUE_BYTES);
    else if (rc == SA_ENOMEM)
        rc = fail_nomem(ld);
    if (rc) {
        sa_buf_fini(&buf);
        return rc;
    }
    *out = (char *)buf.data;
    return SA_OK;
}

/* An enum with a "null" symbol: a plain YAML null there is that symbol. */
static int enum_has_null(const struct sa_conf_entry *e)
{
    for (size_t i = 0; e->type == SA_CONF_ENUM && e->symbols[i]; i++)
        if (strcmp(e->symbols[i], "null") == 0)
            return 1;
    return 0;
}

/* A scalar value, resolved, converted into e's field of base. */
static int set_scalar(struct loader *ld, const struct sa_conf_entry *e, void *base,
                      yaml_node_t *node, const char *what)
{
    char why[SA_ERR_MSG_MAX];
    char *text;
    int rc;

    if (node->type != YAML_SCALAR_NODE)
        return fail_at(ld, node->start_mark, "%s: expected a scalar, got %s", what,
                       kind_name(node));
    if (is_null(node) && enum_has_null(e)) {
        /* `short_rows: null` means the symbol, not "no value". */
        hash_setting(ld, 'V', "null");
        rc = convert(e, "null", base, why, sizeof why);
        return rc == SA_ENOMEM ? fail_nomem(ld) : rc;
    }
    if (is_null(node))
        return fail_at(ld, node->start_mark,
                       "%s: no value (remove the key to use the default)", what);
    unsigned kept = ld->kept_refs;
    if ((rc = resolve(ld, node, what, &text)))
        return rc;
    hash_setting(ld, 'V', text);
    rc = convert_value(ld, e, text, base, why, sizeof why);
    free(text);
    if (rc == SA_ENOMEM)
        return fail_nomem(ld);
    if (rc && ld->kept_refs != kept)
        return SA_OK; /* a reference kept as written is no number: the default */
    if (rc)
        return fail_at(ld, node->start_mark, "%s: %s", what, why);
    return SA_OK;
}

static int set_map(struct loader *ld, const struct sa_conf_entry *e, void *base,
                   yaml_node_t *node, const char *what)
{
    struct sa_kvlist *map = field(base, e);
    size_t n;

    if (node->type != YAML_MAPPING_NODE)
        return fail_at(ld, node->start_mark, "%s: expected a mapping, got %s", what,
                       kind_name(node));
    n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if (n && !(map->v = calloc(n, sizeof *map->v)))
        return fail_nomem(ld);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
        char sub[160];
        int rc;

        if (k->type != YAML_SCALAR_NODE)
            return fail_at(ld, k->start_mark, "%s: expected a scalar key, got %s", what,
                           kind_name(k));
        for (size_t j = 0; j < i; j++)
            if (strcmp(map->v[j].key, scalar_text(k)) == 0)
                return fail_at(ld, k->start_mark, "%s: duplicate key '%s'", what,
                               scalar_text(k));
        snprintf(sub, sizeof sub, "%s.%s", what, scalar_text(k));
        if (v->type != YAML_SCALAR_NODE)
            return fail_at(ld, v->start_mark, "%s: expected a scalar, got %s", sub,
                           kind_name(v));
        if (!(map->v[i].key = strdup(scalar_text(k))))
            return fail_nomem(ld);
        map->n = i + 1;
        if ((rc = resolve(ld, v, sub, &map->v[i].value)))
            return rc;
        hash_setting(ld, 'M', map->v[i].key);
        hash_setting(ld, 'V', map->v[i].value);
    }
    return SA_OK;
}

static int set_value(struct loader *ld, const struct sa_conf_entry *e, void *base,
                     yaml_node_t *node, const char *what)
{
    if (e->type == SA_CONF_MAP)
        return set_map(ld, e, base, node, what);
    if (e->type == SA_CONF_STRLIST && node->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            char sub[160];
            int rc;
            snprintf(sub, sizeof sub, "%s[%zu]", what,
                     (size_t)(it - node->data.sequence.items.start));
            if ((rc = set_scalar(ld, e, base, node_at(ld, *it), sub)))
                return rc;
        }
        return SA_OK;
    }
    return set_scalar(ld, e, base, node, what);
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];

    if (lb >= sizeof row / sizeof row[0] || la >= 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest candidate to key, if it is close enough to be a typo. */
static const char *suggest(const char *key, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t best_d = 3; /* at most two edits */

    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(key, names[i]);
        if (d < best_d && d < strlen(names[i])) {
            best = names[i];
            best_d = d;
        }
    }
    return best;
}

static int fail_unknown_key(struct loader *ld, yaml_node_t *k, const char *where,
                            const char *const *names, size_t n)
{
    const char *hint = suggest(scalar_text(k), names, n);
    char in[160];

    if (where)
        snprintf(in, sizeof in, "in %s", where);
    else
        snprintf(in, sizeof in, "at the top level");
    if (hint)
        return fail_at(ld, k->start_mark, "unknown key '%s' %s (did you mean '%s'?)",
                       scalar_text(k), in, hint);
    return fail_at(ld, k->start_mark, "unknown key '%s' %s", scalar_text(k), in);
}

size_t sa_config_table_len(const struct sa_conf_entry *conf)
{
    size_t n = 0;
    while (conf && conf[n].key)
        n++;
    return n;
}

/* Keys of a mapping are scalars and unique. */
static int check_key(struct loader *ld, yaml_node_t *map, yaml_node_pair_t *pair,
                     const char *where)
{
    yaml_node_t *k = node_at(ld, pair->key);

    if (k->type != YAML_SCALAR_NODE)
        return fail_at(ld, k->start_mark, "%s: expected a scalar key, got %s",
                       where ? where : "top level", kind_name(k));
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; q++) {
        yaml_node_t *prev = node_at(ld, q->key);
        if (prev->type == YAML_SCALAR_NODE &&
            strcmp(scalar_text(prev), scalar_text(k)) == 0)
            return fail_at(ld, k->start_mark,
                           "duplicate key '%s' %s%s (first at line %zu, column %zu)",
                           scalar_text(k), where ? "in " : "at the top level",
                           where ? where : "", prev->start_mark.line + 1,
                           prev->start_mark.column + 1);
    }
    return SA_OK;
}

/*
 * Fill the layers' structs from a mapping (NULL: an empty section), then
 * apply defaults to every key not given. `where` ("spool", "sinks[0]")
 * prefixes the key in errors; origin records where the mapping and each
 * key were written.
 */
static int apply_map(struct loader *ld, yaml_node_t *map, const char *where,
                     const struct layer *layers, size_t n_layers,
                     struct sa_conf_origin *origin)
{
    unsigned char seen[2][MAX_TABLE_KEYS] = {{0}};
    int rc;

    for (size_t l = 0; l < n_layers; l++)
        if (n_layers > 2 || sa_config_table_len(layers[l].conf) > MAX_TABLE_KEYS)
            return sa_err_set(ld->err, SA_EINVAL, "%s: config map too large", where);

    origin->file = ld->cfg->path;
    snprintf(origin->where, sizeof origin->where, "%s", where);
    if (map) {
        size_t n_pairs =
            (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
        origin->line = (unsigned)map->start_mark.line + 1;
        origin->col = (unsigned)map->start_mark.column + 1;
        if (n_pairs && !(origin->keys = calloc(n_pairs, sizeof *origin->keys)))
            return fail_nomem(ld);
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
             p < map->data.mapping.pairs.top; p++) {
            const char *names[2 * MAX_TABLE_KEYS];
            size_t n_names = 0;
            const struct sa_conf_entry *found = NULL;
            size_t layer = 0, index = 0;
            yaml_node_t *k;
            char what[160];

            if ((rc = check_key(ld, map, p, where)))
                return rc;
            k = node_at(ld, p->key);
            for (size_t l = 0; l < n_layers && !found; l++)
                for (size_t i = 0; layers[l].conf[i].key && !found; i++) {
                    names[n_names++] = layers[l].conf[i].key;
                    if (strcmp(layers[l].conf[i].key, scalar_text(k)) == 0) {
                        found = &layers[l].conf[i];
                        layer = l;
                        index = i;
                    }
                }
            if (!found) {
                /* names[] holds every key of every layer by now */
                return fail_unknown_key(ld, k, where, names, n_names);
            }
            snprintf(what, sizeof what, "%s.%s", where, found->key);
            hash_setting(ld, 'K', found->key);
            if ((rc = set_value(ld, found, layers[layer].base, node_at(ld, p->value),
                                what)))
                return rc;
            seen[layer][index] = 1;
            origin->keys[origin->n_keys++] =
                (struct sa_conf_key_pos){found->key, (unsigned)k->start_mark.line + 1,
                                         (unsigned)k->start_mark.column + 1};
        }
    }
    for (size_t l = 0; l < n_layers; l++)
        for (size_t i = 0; layers[l].conf[i].key; i++) {
            const struct sa_conf_entry *e = &layers[l].conf[i];
            char why[SA_ERR_MSG_MAX];

            if (seen[l][i])
                continue;
            if (e->flags & SA_CONF_REQUIRED)
                return fail_at(ld, map ? map->start_mark : ld->doc.start_mark,
                               "%s: missing required key '%s'", where, e->key);
            if (!e->def)
                continue;
            rc = convert_value(ld, e, e->def, layers[l].base, why, sizeof why);
            if (rc == SA_ENOMEM)
                return fail_nomem(ld);
            if (rc) /* a bug in a table, not in the file */
                return sa_err_set(ld->err, SA_EINVAL, "%s.%s: bad default: %s", where,
                                  e->key, why);
        }
    return SA_OK;
}

/* The `type:` value of a source or sink mapping, resolved; *out malloc'd. */
static int item_type(struct loader *ld, yaml_node_t *item, const char *where,
                     char **out)
{
    yaml_node_t *node = find_value(ld, item, "type");
    char what[160];

    *out = NULL;
    snprintf(what, sizeof what, "%s.type", where);
    if (!node)
        return fail_at(ld, item->start_mark, "%s: missing required key 'type'", where);
    if (node->type != YAML_SCALAR_NODE)
        return fail_at(ld, node->start_mark, "%s: expected a scalar, got %s", what,
                       kind_name(node));
    return resolve(ld, node, what, out);
}

static int fail_unknown_type(struct loader *ld, yaml_node_t *item, const char *where,
                             const char *noun, const char *type, const char *known)
{
    yaml_node_t *node = find_value(ld, item, "type");
    return fail_at(ld, node->start_mark, "%s.type: unknown %s type '%s' (known: %s)",
                   where, noun, type, known);
}

/* Items of a `sources:` or `sinks:` sequence; *n is its length. NULL with
 * *n = 0 for an empty list. */
static int list_items(struct loader *ld, yaml_node_t *node, const char *key, size_t *n)
{
    *n = 0;
    if (is_null(node))
        return SA_OK;
    if (node->type != YAML_SEQUENCE_NODE)
        return fail_at(ld, node->start_mark, "%s: expected a sequence, got %s", key,
                       kind_name(node));
    *n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    return SA_OK;
}

static yaml_node_t *list_item(struct loader *ld, yaml_node_t *list, size_t i)
{
    return node_at(ld, list->data.sequence.items.start[i]);
}

static int load_sources(struct loader *ld, yaml_node_t *list)
{
    struct sa_config *cfg = ld->cfg;
    size_t n;
    int rc;

    if ((rc = list_items(ld, list, "sources", &n)) || n == 0)
        return rc;
    if (!(cfg->sources = calloc(n, sizeof *cfg->sources)))
        return fail_nomem(ld);
    for (size_t i = 0; i < n; i++) {
        struct sa_source_conf *src = &cfg->sources[i];
        yaml_node_t *item = list_item(ld, list, i);
        char where[32], *type;

        cfg->n_sources = i + 1;
        snprintf(where, sizeof where, "sources[%zu]", i);
        if (item->type != YAML_MAPPING_NODE)
            return fail_at(ld, item->start_mark, "%s: expected a mapping, got %s",
                           where, kind_name(item));
        if ((rc = item_type(ld, item, where, &type)))
            return rc;
        src->ops = sa_source_type_find(type);
        if (!src->ops) {
            char known[160];
            size_t used = 0;
            known[0] = '\0';
            for (size_t t = 0; sa_source_types[t] && used < sizeof known; t++)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                         t ? ", " : "", sa_source_types[t]->name);
            rc = fail_unknown_type(ld, item, where, "source", type, known);
            free(type);
            return rc;
        }
        free(type);
        if (!(src->opts = calloc(1, src->ops->opts_size ? src->ops->opts_size : 1)))
            return fail_nomem(ld);
        struct layer layers[] = {{sa_source_common_conf, src},
                                 {src->ops->conf, src->opts}};
        if ((rc = apply_map(ld, item, where, layers, 2, &src->origin)))
            return rc;
        if (!src->schema && !(src->schema = strdup(src->stream)))
            return fail_nomem(ld);
    }
    return SA_OK;
}

static int load_sinks(struct loader *ld, yaml_node_t *list)
{
    struct sa_config *cfg = ld->cfg;
    size_t n;
    int rc;

    if ((rc = list_items(ld, list, "sinks", &n)) || n == 0)
        return rc;
    if (!(cfg->sinks = calloc(n, sizeof *cfg->sinks)))
        return fail_nomem(ld);
    for (size_t i = 0; i < n; i++) {
        struct sa_sink_conf *sink = &cfg->sinks[i];
        yaml_node_t *item = list_item(ld, list, i);
        char where[32], *type;

        cfg->n_sinks = i + 1;
        snprintf(where, sizeof where, "sinks[%zu]", i);
        if (item->type != YAML_MAPPING_NODE)
            return fail_at(ld, item->start_mark, "%s: expected a mapping, got %s",
                           where, kind_name(item));
        if ((rc = item_type(ld, item, where, &type)))
            return rc;
        sink->ops = sa_sink_type_find(type);
        if (!sink->ops) {
            char known[160];
            size_t used = 0;
            known[0] = '\0';
            for (size_t t = 0; sa_sink_types[t] && used < sizeof known; t++)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                         t ? ", " : "", sa_sink_types[t]->name);
            rc = fail_unknown_type(ld, item, where, "sink", type, known);
            free(type);
            return rc;
        }
        free(type);
        if (!(sink->opts = calloc(1, sink->ops->opts_size ? sink->ops->opts_size : 1)))
            return fail_nomem(ld);
        struct layer layers[] = {{sa_sink_common_conf, sink},
                                 {sink->ops->conf, sink->opts}};
        struct sa_sha256 md;

        sa_sha256_init(&md);
        ld->in_sink = 1;
        ld->sink_md = &md;
        rc = apply_map(ld, item, where, layers, 2, &sink->origin);
        ld->in_sink = 0;
        ld->sink_md = NULL;
        if (rc)
            return rc;
        digest_hex16(&md, sink->settings_hash);
    }
    return SA_OK;
}

/* --- checks across the whole file ---------------------------------------- */

static int check_unique_names(struct loader *ld, yaml_node_t *list, const char *key,
                              const char *noun,
                              const char *(*name_of)(struct sa_config *, size_t),
                              size_t n)
{
    for (size_t j = 1; j < n; j++)
        for (size_t i = 0; i < j; i++) {
            if (strcmp(name_of(ld->cfg, i), name_of(ld->cfg, j)) != 0)
                continue;
            yaml_node_t *node = find_value(ld, list_item(ld, list, j), "name");
            return fail_at(ld, node->start_mark,
                           "%s[%zu].name: duplicate %s name '%s' (also %s[%zu])", key,
                           j, noun, name_of(ld->cfg, j), key, i);
        }
    return SA_OK;
}

static const char *source_name(struct sa_config *cfg, size_t i)
{
    return cfg->sources[i].name;
}

static const char *sink_name(struct sa_config *cfg, size_t i)
{
    return cfg->sinks[i].name;
}

static int check_sink_streams(struct loader *ld, yaml_node_t *sinks)
{
    struct sa_config *cfg = ld->cfg;

    for (size_t i = 0; i < cfg->n_sinks; i++) {
        struct sa_sink_conf *sink = &cfg->sinks[i];
        yaml_node_t *item = list_item(ld, sinks, i);

        for (size_t s = 0; s < sink->streams.n; s++) {
            const char *stream = sink->streams.v[s];
            yaml_node_t *node = find_value(ld, item, "streams");
            char produced[160], what[64];
            size_t used = 0;
            int found = 0;

            for (size_t k = 0; k < cfg->n_sources && !found; k++)
                found = strcmp(cfg->sources[k].stream, stream) == 0;
            if (found)
                continue;
            produced[0] = '\0';
            for (size_t k = 0; k < cfg->n_sources && used < sizeof produced; k++) {
                int dup = 0;
                for (size_t m = 0; m < k; m++)
                    dup |= strcmp(cfg->sources[m].stream, cfg->sources[k].stream) == 0;
                if (!dup)
                    used += (size_t)snprintf(produced + used, sizeof produced - used,
                                             "%s%s", used ? ", " : "",
                                             cfg->sources[k].stream);
            }
            if (node->type == YAML_SEQUENCE_NODE) {
                node = list_item(ld, node, s);
                snprintf(what, sizeof what, "sinks[%zu].streams[%zu]", i, s);
            } else {
                snprintf(what, sizeof what, "sinks[%zu].streams", i);
            }
            if (cfg->n_sources == 0)
                return fail_at(ld, node->start_mark,
                               "%s: no source produces stream '%s' (no sources are "
                               "configured)",
                               what, stream);
            return fail_at(ld, node->start_mark,
                           "%s: no source produces stream '%s' (sources produce: %s)",
                           what, stream, produced);
        }
        if (sink->retry_initial_ms > sink->retry_max_ms) {
            yaml_node_t *node = find_value(ld, item, "retry_max");
            char lo[32], hi[32];
            if (!node)
                node = find_value(ld, item, "retry_initial");
            format_with_unit(lo, sizeof lo, sink->retry_initial_ms, 0);
            format_with_unit(hi, sizeof hi, sink->retry_max_ms, 0);
            return fail_at(ld, node->start_mark,
                           "sinks[%zu]: retry_max (%s) is less than retry_initial (%s)",
                           i, hi, lo);
        }
    }
    return SA_OK;
}

/* Defaults that depend on the host or on other keys. */
static int derive_defaults(struct loader *ld)
{
    struct sa_config *cfg = ld->cfg;

    if (!cfg->agent.id) {
        char host[256];
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        if (!(cfg->agent.id = strdup(host)))
            return fail_nomem(ld);
    }
    for (size_t i = 0; i < cfg->n_sinks; i++)
        cfg->sinks[i].agent_id = cfg->agent.id;
    if (!cfg->spool.path) {
        const char *dir = cfg->agent.data_dir;
        size_t len = strlen(dir);
        const char *sep = len && dir[len - 1] == '/' ? "" : "/";
        if (asprintf(&cfg->spool.path, "%s%sspool.db", dir, sep) < 0) {
            cfg->spool.path = NULL;
            return fail_nomem(ld);
        }
    }
    return SA_OK;
}

/* --- YAML parsing -------------------------------------------------------- */

static int fail_yaml(struct loader *ld, const yaml_parser_t *parser, const char *text,
                     size_t len)
{
    yaml_mark_t mark = parser->problem_mark;
    const char *problem = parser->problem ? parser->problem : "YAML error";

    switch (parser->error) {
    case YAML_MEMORY_ERROR:
        return fail_nomem(ld);
    case YAML_READER_ERROR:
        /* the reader gives a byte offset, not a mark */
        memset(&mark, 0, sizeof mark);
        for (size_t i = 0; i < parser->problem_offset && i < len; i++) {
            if (text[i] == '\n') {
                mark.line++;
                mark.column = 0;
            } else {
                mark.column++;
            }
        }
        if (parser->problem_value != -1)
            return fail_at(ld, mark, "%s (byte 0x%02X)", problem,
                           (unsigned)parser->problem_value);
        return fail_at(ld, mark, "%s", problem);
    default:
        if (parser->context)
            return fail_at(ld, mark, "%s (%s at line %zu, column %zu)", problem,
                           parser->context, parser->context_mark.line + 1,
                           parser->context_mark.column + 1);
        return fail_at(ld, mark, "%s", problem);
    }
}

static int load_root(struct loader *ld, yaml_node_t *root)
{
    int have[N_SECTIONS] = {0};
    yaml_node_t *sources = NULL, *sinks = NULL, *streams = NULL;
    int rc;

    if (root && is_null(root))
        root = NULL; /* an empty file: all defaults */
    if (root && root->type != YAML_MAPPING_NODE)
        return fail_at(ld, root->start_mark,
                       "expected a mapping at the top level, got %s", kind_name(root));
    for (yaml_node_pair_t *p = root ? root->data.mapping.pairs.start : NULL;
         root && p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k, *v;
        size_t s;

        if ((rc = check_key(ld, root, p, NULL)))
            return rc;
        k = node_at(ld, p->key);
        v = node_at(ld, p->value);
        for (s = 0; s < N_SECTIONS; s++)
            if (strcmp(scalar_text(k), sa_config_sections[s].key) == 0)
                break;
        if (s < N_SECTIONS) {
            struct layer layer = {sa_config_sections[s].conf,
                                  (char *)ld->cfg + sa_config_sections[s].offset};
            if (!is_null(v) && v->type != YAML_MAPPING_NODE)
                return fail_at(ld, v->start_mark, "%s: expected a mapping, got %s",
                               sa_config_sections[s].key, kind_name(v));
            if ((rc = apply_map(ld, is_null(v) ? NULL : v, sa_config_sections[s].key,
                                &layer, 1, section_origin(ld->cfg, s))))
                return rc;
            have[s] = 1;
            if (sa_config_sections[s].present_offset)
                *(int *)((char *)ld->cfg + sa_config_sections[s].present_offset) = 1;
        } else if (strcmp(scalar_text(k), "version") == 0) {
            if (!is_null(v) && (rc = set_value(ld, &sa_fleet_version_entry,
                                               &ld->cfg->fleet_version, v, "version")))
                return rc;
        } else if (strcmp(scalar_text(k), "sources") == 0) {
            if ((rc = load_sources(ld, v)))
                return rc;
            sources = v;
        } else if (strcmp(scalar_text(k), "sinks") == 0) {
            if ((rc = load_sinks(ld, v)))
                return rc;
            sinks = v;
        } else if (strcmp(scalar_text(k), "streams") == 0) {
            streams = v; /* after the sources, whose streams it names */
        } else {
            return fail_unknown_key(ld, k, NULL, top_keys, N_SECTIONS + 4);
        }
    }
    for (size_t s = 0; s < N_SECTIONS; s++) {
        struct layer layer = {sa_config_sections[s].conf,
                              (char *)ld->cfg + sa_config_sections[s].offset};
        if (!have[s] && !sa_config_sections[s].present_offset &&
            (rc = apply_map(ld, NULL, sa_config_sections[s].key, &layer, 1,
                            section_origin(ld->cfg, s))))
            return rc;
    }
    if ((rc = derive_defaults(ld)))
        return rc;
    if (sources && (rc = check_unique_names(ld, sources, "sources", "source",
                                            source_name, ld->cfg->n_sources)))
        return rc;
    if (sinks && (rc = check_unique_names(ld, sinks, "sinks", "sink", sink_name,
                                          ld->cfg->n_sinks)))
        return rc;
    if (sinks && (rc = check_sink_streams(ld, sinks)))
        return rc;
    if (streams &&
        ((rc = sa_quality_conf_load(&ld->doc, streams, ld->name, &ld->cfg->quality,
                                    ld->err)) ||
         (rc = sa_quality_conf_check_streams(ld->cfg->quality, ld->cfg, ld->err))))
        return rc;
    return SA_OK;
}

/* The first 16 hex digits of the text's SHA-256 (struct sa_config's
 * version). */
static void config_version(const char *text, size_t len, char out[17])
{
    struct sa_sha256 md;

    sa_sha256_init(&md);
    sa_sha256_update(&md, text, len);
    digest_hex16(&md, out);
}

static int load_string(const char *text, const char *name, const char *dir, int offline,
                       struct sa_config **out, struct sa_err *err)
{
    struct loader ld = {.name = name, .err = err, .offline = offline};
    yaml_parser_t parser;
    yaml_document_t extra;
    int have_parser = 0, have_doc = 0;
    int rc;
    size_t len = strlen(text);

    *out = NULL;
    sa_err_clear(err);
    if (!(ld.cfg = calloc(1, sizeof *ld.cfg)) || !(ld.cfg->path = strdup(name))) {
        rc = fail_nomem(&ld);
        goto out;
    }
    if (dir) {
        if (!(ld.dir = strdup(dir))) {
            rc = fail_nomem(&ld);
            goto out;
        }
    } else if (strchr(name, '/')) {
        size_t dlen = (size_t)(strrchr(name, '/') - name);
        if (!(ld.dir = strndup(name, dlen ? dlen : 1))) {
            rc = fail_nomem(&ld);
            goto out;
        }
    }
    if (!yaml_parser_initialize(&parser)) {
        rc = fail_nomem(&ld);
        goto out;
    }
    have_parser = 1;
    config_version(text, len, ld.cfg->version);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &ld.doc)) {
        rc = fail_yaml(&ld, &parser, text, len);
        goto out;
    }
    have_doc = 1;
    if ((rc = load_root(&ld, yaml_document_get_root_node(&ld.doc))))
        goto out;
    /* a second document would be silently ignored: refuse it */
    if (!yaml_parser_load(&parser, &extra)) {
        rc = fail_yaml(&ld, &parser, text, len);
        goto out;
    }
    if (yaml_document_get_root_node(&extra))
        rc = fail_at(&ld, extra.start_mark,
                     "a second YAML document; the configuration is one document");
    yaml_document_delete(&extra);
out:
    free(ld.dir);
    if (have_doc)
        yaml_document_delete(&ld.doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    if (rc) {
        sa_config_free(ld.cfg);
        return rc;
    }
    *out = ld.cfg;
    return SA_OK;
}

int sa_config_load_string(const char *text, const char *name, struct sa_config **out,
                          struct sa_err *err)
{
    return load_string(text, name, NULL, 0, out, err);
}

int sa_config_load_string_at(const char *text, const char *name, const char *dir,
                             struct sa_config **out, struct sa_err *err)
{
    return load_string(text, name, dir, 0, out, err);
}

static int load_file(const char *path, int offline, struct sa_config **out,
                     struct sa_err *err)
{
    struct sa_buf buf;
    char chunk[8192];
    size_t n;
    int rc = SA_OK;
    FILE *f;

    *out = NULL;
    sa_buf_init(&buf, MAX_CONFIG_BYTES);
    /* A config that is not there (or is a directory, or unreadable) is bad
     * input like one that does not parse: exit 2 from every command. */
    if (!(f = fopen(path, "rb")))
        return sa_err_set(err, SA_ECONFIG, "%s: cannot open: %s", path,
                          strerror(errno));
    while (rc == SA_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = sa_buf_append(&buf, chunk, n);
    if (rc == SA_OK && ferror(f))
        rc = sa_err_set(err, errno == EISDIR ? SA_ECONFIG : SA_EIO,
                        "%s: cannot read: %s", path, strerror(errno));
    else if (rc == SA_ETOOBIG)
        rc = sa_err_set(err, SA_ECONFIG, "%s: larger than %u bytes", path,
                        MAX_CONFIG_BYTES);
    else if (rc == SA_OK && (rc = sa_buf_terminate(&buf)) == SA_OK &&
             memchr(buf.data, '\0', buf.len))
        rc = sa_err_set(err, SA_ECONFIG, "%s: contains a NUL byte", path);
    if (rc == SA_ENOMEM)
        rc = sa_err_set(err, SA_ENOMEM, "%s: out of memory", path);
    fclose(f);
    if (rc == SA_OK)
        rc = load_string((const char *)buf.data, path, NULL, offline, out, err);
    sa_buf_fini(&buf);
    return rc;
}

int sa_config_load(const char *path, struct sa_config **out, struct sa_err *err)
{
    return load_file(path, 0, out, err);
}

int sa_config_load_offline(const char *path, struct sa_config **out, struct sa_err *err)
{
    return load_file(path, 1, out, err);
}

void sa_config_free(struct sa_config *cfg)
{
    if (!cfg)
        return;
    for (size_t s = 0; s < N_SECTIONS; s++) {
        free_entries(sa_config_sections[s].conf,
                     (char *)cfg + sa_config_sections[s].offset);
        free(section_origin(cfg, s)->keys);
    }
    for (size_t i = 0; i < cfg->n_sources; i++) {
        struct sa_source_conf *src = &cfg->sources[i];
        if (src->ops)
            free_entries(src->ops->conf, src->opts);
        free(src->opts);
        free(src->origin.keys);
        free_entries(sa_source_common_conf, src);
    }
    free(cfg->sources);
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        struct sa_sink_conf *sink = &cfg->sinks[i];
        if (sink->ops)
            free_entries(sink->ops->conf, sink->opts);
        free(sink->opts);
        free(sink->origin.keys);
        free_entries(sa_sink_common_conf, sink);
    }
    free(cfg->sinks);
    sa_quality_conf_free(cfg->quality);
    free(cfg->path);
    free(cfg);
}

/* --- what the components check ---------------------------------------- */

int sa_config_check(const struct sa_config *cfg, const struct sa_schema_set *schemas,
                    struct sa_err *err)
{
    int rc;

    for (size_t i = 0; i < cfg->n_sources; i++) {
        const struct sa_source_conf *src = &cfg->sources[i];
        const struct sa_schema *schema = NULL;
        struct sa_err unknown = {0};
        /* An unknown schema is sa_cli_load's to report, with its key. */
        if (schemas)
            schema = sa_schemas_lookup(schemas, src->schema, &unknown);
        if (src->ops->check && (rc = src->ops->check(src, schema, err)))
            return rc;
        const struct sa_quality_stream *qs =
            sa_quality_conf_stream(cfg->quality, src->stream);
        if (qs && schema && (rc = sa_quality_check_schema(qs, cfg->path, schema, err)))
            return rc;
    }
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        const struct sa_sink_conf *sink = &cfg->sinks[i];
        if (sink->ops->check && (rc = sink->ops->check(sink, err)))
            return rc;
    }
    return SA_OK;
}
