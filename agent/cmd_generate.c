/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent generate`: write generated records to a file as CSV, JSON
 * lines or an Avro object container file. The records are exactly those
 * the generator source spools for the same schema, seed, start time and
 * interval, and the JSON lines are sa_encode_json's output, so the
 * end-to-end tests can compare what a sink delivered with this file.
 *
 * All flags are checked and the schema is found before anything is
 * written; the output goes to FILE.tmp-<pid> and is renamed into place at
 * the end, so a failure never leaves a partial FILE behind.
 */
#include "agent/base/buf.h"
#include "agent/base/clock.h"
#include "agent/cli.h"
#include "agent/commands.h"
#include "agent/config.h"
#include "agent/schemas.h"
#include "agent/source/generator.h"
#include "sync/encode.h"
#include "sync/ocf.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_START_MS 1767225600000LL /* the generator source's default */
#define FLUSH_AT (256 * 1024)

enum format { FMT_CSV, FMT_JSONL, FMT_AVRO };

struct gen_args {
    const char *schema;
    const char *schemas_dir;
    const char *output;
    int64_t count;
    int format;
    uint64_t seed;
    int64_t start_ms;
    int64_t interval_ms;
};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: syncagent generate --schema SUBJECT[:vN] -n COUNT --format "
        "csv|jsonl|avro\n"
        "                          [--seed S] [--start-time MS] [--interval DURATION]\n"
        "                          [--schemas-dir DIR] [-o FILE]\n"
        "\n"
        "Write COUNT generated records of a schema. Record i is a pure function of\n"
        "(schema, seed, i, start time, interval): the same flags always write the "
        "same\n"
        "records, the ones the generator source spools with the same settings.\n"
        "\n"
        "  --schema SUBJECT[:vN]  schema subject, optionally a version (subject:v2 or\n"
        "                         subject:2); default: its newest version\n"
        "  -n, --count COUNT      number of records (>= 0)\n"
        "  --format FORMAT        csv    header row of field names, RFC 4180 quoting,\n"
        "                                null as an empty field, timestamps as ISO\n"
        "                                8601 UTC (ms or us), dates as YYYY-MM-DD\n"
        "                         jsonl  one JSON object per line, as the file sink\n"
        "                                writes them (without _origin_id/_seq/_op)\n"
        "                         avro   Avro object container file, deflate codec\n"
        "  --seed S               seed of the data (default 1)\n"
        "  --start-time MS        event time of record 0, epoch ms\n"
        "                         (default 1767225600000 = 2026-01-01T00:00:00Z)\n"
        "  --interval DURATION    event time between records: 250ms, 1s, 5m (default "
        "1s)\n"
        "  --schemas-dir DIR      where <subject>/v<N>.avsc live (default ./schemas)\n"
        "  -o, --output FILE      output file (default: standard output)\n"
        "  -h, --help             this help\n"
        "\n"
        "Example:\n"
        "  syncagent generate --schema sensor_reading:v2 -n 1000 --format csv \\\n"
        "      --seed 7 --interval 250ms -o readings.csv\n");
}

/* SA_EXIT_OK, SA_EXIT_USAGE (message printed), or -1 for --help. */
static int parse_args(int argc, char **argv, struct gen_args *a)
{
    const char *format = NULL;
    int have_count = 0;

    memset(a, 0, sizeof *a);
    a->schemas_dir = "schemas";
    a->seed = 1;
    a->start_ms = DEFAULT_START_MS;
    a->interval_ms = 1000;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL, *eq;
        char flag[64];
        int64_t v;

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
            return -1;
        /* --flag=value or --flag value */
        eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        snprintf(flag, sizeof flag, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg),
                 arg);
        if (eq)
            val = eq + 1;
        if (strcmp(flag, "--schema") && strcmp(flag, "-n") && strcmp(flag, "--count") &&
            strcmp(flag, "--format") && strcmp(flag, "--seed") &&
            strcmp(flag, "--start-time") && strcmp(flag, "--interval") &&
            strcmp(flag, "--schemas-dir") && strcmp(flag, "-o") &&
            strcmp(flag, "--output")) {
            fprintf(stderr, "syncagent generate: unknown flag '%s' (see --help)\n",
                    arg);
            return SA_EXIT_USAGE;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "syncagent generate: %s needs a value (see --help)\n",
                        flag);
                return SA_EXIT_USAGE;
            }
            val = argv[++i];
        }
        if (strcmp(flag, "--schema") == 0) {
            a->schema = val;
        } else if (strcmp(flag, "-n") == 0 || strcmp(flag, "--count") == 0) {
            if (sa_cli_parse_int("generate", flag, val, 0, INT64_MAX, &a->count))
                return SA_EXIT_USAGE;
            have_count = 1;
        } else if (strcmp(flag, "--format") == 0) {
            format = val;
        } else if (strcmp(flag, "--seed") == 0) {
            if (sa_cli_parse_int("generate", flag, val, INT64_MIN, INT64_MAX, &v))
                return SA_EXIT_USAGE;
            a->seed = (uint64_t)v;
        } else if (strcmp(flag, "--start-time") == 0) {
            if (sa_cli_parse_int("generate", flag, val, INT64_MIN, INT64_MAX,
                                 &a->start_ms))
                return SA_EXIT_USAGE;
        } else if (strcmp(flag, "--interval") == 0) {
            if (sa_parse_duration(val, &a->interval_ms) || a->interval_ms < 0) {
                fprintf(stderr,
                        "syncagent generate: --interval: '%s' is not a duration "
                        "(250ms, 1s, "
                        "5m)\n",
                        val);
                return SA_EXIT_USAGE;
            }
        } else if (strcmp(flag, "--schemas-dir") == 0) {
            a->schemas_dir = val;
        } else {
            a->output = val;
        }
    }
    if (!a->schema || !have_count || !format) {
        fprintf(stderr,
                "syncagent generate: --schema, -n and --format are required (see "
                "--help)\n");
        return SA_EXIT_USAGE;
    }
    if (strcmp(format, "csv") == 0)
        a->format = FMT_CSV;
    else if (strcmp(format, "jsonl") == 0)
        a->format = FMT_JSONL;
    else if (strcmp(format, "avro") == 0)
        a->format = FMT_AVRO;
    else {
        fprintf(stderr,
                "syncagent generate: --format: '%s' is not csv, jsonl or avro\n",
                format);
        return SA_EXIT_USAGE;
    }
    return SA_EXIT_OK;
}

/* --- CSV ------------------------------------------------------------------ */

static int csv_text(struct sa_buf *out, const char *s, size_t len)
{
    int quote = len && (s[0] == ' ' || s[len - 1] == ' ');
    int rc;

    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote)
        return sa_buf_append(out, s, len);
    rc = sa_buf_append_byte(out, '"');
    for (size_t i = 0; i < len && !rc; i++) {
        if (s[i] == '"')
            rc = sa_buf_append_byte(out, '"');
        if (!rc)
            rc = sa_buf_append_byte(out, (uint8_t)s[i]);
    }
    return rc ? rc : sa_buf_append_byte(out, '"');
}

static int csv_double(struct sa_buf *out, double d)
{
    char tmp[40];
    int n;
    if (!isfinite(d))
        return SA_OK; /* no JSON/CSV literal: empty, like null */
    n = snprintf(tmp, sizeof tmp, "%.15g", d);
    if (strtod(tmp, NULL) != d)
        n = snprintf(tmp, sizeof tmp, "%.17g", d);
    return sa_buf_append(out, tmp, (size_t)n);
}

/* One CSV row from a record decoded into an avro-c generic value. */
static int csv_row(const struct sa_schema *schema, avro_value_t *record,
                   struct sa_buf *out, struct sa_err *err)
{
    int rc = SA_OK;

    for (size_t i = 0; i < schema->n_fields && !rc; i++) {
        const struct sa_schema_field *f = &schema->fields[i];
        avro_value_t v, branch;
        /* avro-c's getters are macros that may return before storing. */
        const char *s = NULL;
        const void *bytes = NULL;
        size_t size = 0;
        int32_t i32 = 0;
        int64_t i64 = 0;
        double d = 0;
        float fl = 0;
        int b = 0;

        if (i && (rc = sa_buf_append_byte(out, ',')))
            break;
        if ((rc = avro_value_get_by_index(record, i, &v, NULL)))
            return sa_err_set(err, SA_ERECORD, "field '%s': %s", f->name,
                              avro_strerror());
        if (avro_value_get_type(&v) == AVRO_UNION) {
            if (avro_value_get_current_branch(&v, &branch))
                return sa_err_set(err, SA_ERECORD, "field '%s': %s", f->name,
                                  avro_strerror());
            v = branch;
        }
        switch (avro_value_get_type(&v)) {
        case AVRO_NULL:
            break;
        case AVRO_STRING:
            avro_value_get_string(&v, &s, &size);
            rc = csv_text(out, s, size ? size - 1 : 0);
            break;
        case AVRO_BYTES:
            avro_value_get_bytes(&v, &bytes, &size);
            rc = csv_text(out, bytes, size);
            break;
        case AVRO_INT32:
            avro_value_get_int(&v, &i32);
            if (f->logical == SA_LOGICAL_DATE) {
                char iso[32];
                sa_format_iso8601((int64_t)i32 * 86400000, iso);
                rc = sa_buf_append(out, iso, 10); /* YYYY-MM-DD */
            } else {
                rc = sa_buf_printf(out, "%" PRId32, i32);
            }
            break;
        case AVRO_INT64:
            avro_value_get_long(&v, &i64);
            if (f->logical == SA_LOGICAL_TIMESTAMP_MILLIS) {
                char iso[32];
                sa_format_iso8601(i64, iso);
                rc = sa_buf_append_str(out, iso);
            } else if (f->logical == SA_LOGICAL_TIMESTAMP_MICROS) {
                /* ISO 8601 to the microsecond: ms, then three more digits. */
                char iso[32];
                int64_t us = i64 % 1000 < 0 ? i64 % 1000 + 1000 : i64 % 1000;
                sa_format_iso8601((i64 - us) / 1000, iso);
                rc = sa_buf_printf(out, "%.23s%03dZ", iso, (int)us);
            } else {
                rc = sa_buf_printf(out, "%" PRId64, i64);
            }
            break;
        case AVRO_DOUBLE:
            avro_value_get_double(&v, &d);
            rc = csv_double(out, d);
            break;
        case AVRO_FLOAT:
            avro_value_get_float(&v, &fl);
            rc = sa_buf_printf(out, "%.9g", (double)fl);
            break;
        case AVRO_BOOLEAN:
            avro_value_get_boolean(&v, &b);
            rc = sa_buf_append_str(out, b ? "true" : "false");
            break;
        case AVRO_ENUM:
            avro_value_get_enum(&v, &b);
            s = avro_schema_enum_get(avro_value_get_schema(&v), b);
            rc = s ? sa_buf_append_str(out, s) : SA_OK;
            break;
        default:
            /* Nested records, arrays and maps have no CSV form: left empty
             * (none of the sample schemas has one). */
            break;
        }
    }
    if (!rc)
        rc = sa_buf_append_byte(out, '\n');
    return rc ? sa_err_set(err, rc, "CSV row: %s", sa_strerror(rc)) : SA_OK;
}

/* --- main ----------------------------------------------------------------- */

static int flush(FILE *f, struct sa_buf *buf, const char *path, struct sa_err *err)
{
    if (buf->len && fwrite(buf->data, 1, buf->len, f) != buf->len)
        return sa_err_set(err, SA_EIO, "%s: %s", path, strerror(errno));
    sa_buf_reset(buf);
    return SA_OK;
}

int sa_cmd_generate(int argc, char **argv)
{
    struct gen_args a;
    struct sa_err err = {0};
    struct sa_schema_set *set = NULL;
    const struct sa_schema *schema;
    struct sa_generator gen = {0};
    struct sa_record rec = {0};
    struct sa_buf body, text;
    struct sa_ocf_writer ocf;
    int ocf_open = 0;
    avro_reader_t reader = NULL;
    avro_value_t decoded = {0};
    FILE *f = NULL;
    char tmp_path[4096] = "";
    const char *open_path = NULL; /* NULL: stdout */
    const char *shown = "standard output";
    int rc, status = SA_EXIT_FAIL, gen_ready = 0, rec_ready = 0;

    sa_buf_init(&body, 16 << 20);
    sa_buf_init(&text, 64 << 20);
    rc = parse_args(argc, argv, &a);
    if (rc == -1) {
        usage(stdout);
        return SA_EXIT_OK;
    }
    if (rc)
        return rc;

    if ((rc = sa_schemas_load(a.schemas_dir, SA_COMPAT_BACKWARD, &set, &err)) ||
        !(schema = sa_schemas_lookup(set, a.schema, &err))) {
        fprintf(stderr, "syncagent generate: %s\n", err.msg);
        status = SA_EXIT_USAGE;
        goto out;
    }
    if ((rc = sa_generator_init(&gen, schema, a.seed, a.start_ms, a.interval_ms,
                                &err))) {
        fprintf(stderr, "syncagent generate: %s\n", err.msg);
        status = SA_EXIT_USAGE;
        goto out;
    }
    gen_ready = 1;
    if ((rc = sa_record_init(&rec, schema, &err))) {
        fprintf(stderr, "syncagent generate: %s\n", err.msg);
        goto out;
    }
    rec_ready = 1;

    /* Output: a temporary file renamed into place at the end; straight
     * into it when it is not a regular file (/dev/null, a FIFO), which a
     * rename would replace. */
    if (a.output && strcmp(a.output, "-") != 0) {
        struct stat st;
        shown = a.output;
        if (stat(a.output, &st) == 0 && !S_ISREG(st.st_mode))
            open_path = a.output;
        else
            snprintf(tmp_path, sizeof tmp_path, "%s.tmp-%ld", a.output,
                     (long)getpid());
    }
    if (tmp_path[0])
        open_path = tmp_path;
    f = open_path ? fopen(open_path, "wb") : stdout;
    if (!f) {
        fprintf(stderr, "syncagent generate: %s: %s\n", shown, strerror(errno));
        goto out;
    }
    /* The schema goes into the container as written, logical types and
     * all (sync/ocf.h). */
    if (a.format == FMT_AVRO) {
        if ((rc = sa_ocf_open(&ocf, f, schema->definition, "deflate", 0, &err))) {
            sa_err_prefix(&err, "%s: ", shown);
            goto fail;
        }
        ocf_open = 1;
    }

    if (a.format == FMT_CSV) {
        if (!(reader = avro_reader_memory("", 0)) ||
            avro_generic_value_new(schema->iface, &decoded)) {
            sa_err_set(&err, SA_ENOMEM, "schema %s: %s", schema->subject,
                       avro_strerror());
            goto fail;
        }
        for (size_t i = 0; i < schema->n_fields && !rc; i++) {
            if (i)
                rc = sa_buf_append_byte(&text, ',');
            if (!rc)
                rc = csv_text(&text, schema->fields[i].name,
                              strlen(schema->fields[i].name));
        }
        if (rc || (rc = sa_buf_append_byte(&text, '\n'))) {
            sa_err_set(&err, SA_ENOMEM, "CSV header: out of memory");
            goto fail;
        }
    }
    for (int64_t i = 0; i < a.count; i++) {
        if ((rc = sa_generator_fill(&gen, (uint64_t)i, &rec, &err)))
            goto fail;
        sa_buf_reset(&body);
        if ((rc = sa_record_encode(&rec, &body, &err)))
            goto fail;
        switch (a.format) {
        case FMT_CSV:
            /* The record reads back through avro-c: what the CSV shows is
             * what the Avro body holds. */
            avro_reader_memory_set_source(reader, (const char *)body.data,
                                          (int64_t)body.len);
            if (avro_value_read(reader, &decoded))
                rc = sa_err_set(&err, SA_ERECORD, "record %lld: %s", (long long)i,
                                avro_strerror());
            else
                rc = csv_row(schema, &decoded, &text, &err);
            break;
        case FMT_JSONL:
            rc = sa_encode_json(schema, body.data, body.len, NULL, NULL, &text, &err);
            if (!rc && (rc = sa_buf_append_byte(&text, '\n')))
                sa_err_set(&err, rc, "%s", sa_strerror(rc));
            break;
        default:
            if ((rc = sa_ocf_append(&ocf, body.data, body.len, &err)))
                sa_err_prefix(&err, "%s: ", shown);
            break;
        }
        if (rc)
            goto fail;
        if (text.len >= FLUSH_AT && (rc = flush(f, &text, shown, &err)))
            goto fail;
    }
    if (ocf_open && (rc = sa_ocf_flush(&ocf, &err))) {
        sa_err_prefix(&err, "%s: ", shown);
        goto fail;
    }
    if (!ocf_open && (rc = flush(f, &text, shown, &err)))
        goto fail;
    if (f && f != stdout) {
        rc = fclose(f);
        f = NULL;
        if (rc) {
            rc = sa_err_set(&err, SA_EIO, "%s: %s", shown, strerror(errno));
            goto fail;
        }
    } else if (f && fflush(f)) {
        rc = sa_err_set(&err, SA_EIO, "%s: %s", shown, strerror(errno));
        goto fail;
    }
    if (tmp_path[0] && rename(tmp_path, a.output) != 0) {
        rc = sa_err_set(&err, SA_EIO, "%s: %s", a.output, strerror(errno));
        goto fail;
    }
    tmp_path[0] = '\0';
    status = SA_EXIT_OK;
    goto out;

fail:
    fprintf(stderr, "syncagent generate: %s\n", err.msg);
out:
    if (ocf_open)
        sa_ocf_fini(&ocf);
    if (f && f != stdout)
        fclose(f);
    if (tmp_path[0])
        unlink(tmp_path);
    if (decoded.self)
        avro_value_decref(&decoded);
    if (reader)
        avro_reader_free(reader);
    if (rec_ready)
        sa_record_fini(&rec);
    if (gen_ready)
        sa_generator_fini(&gen);
    sa_schemas_free(set);
    sa_buf_fini(&body);
    sa_buf_fini(&text);
    return status;
}
