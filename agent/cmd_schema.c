/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent schema infer FILE.csv --subject NAME`: a first schema for a
 * CSV file, so that nobody has to write one by hand to import a public
 * data set.
 *
 * The file is read with the CSV source's own parser (agent/source/csv.h) and
 * every value of the first N rows is tried, with sa_record_set_text, on
 * a probe record whose fields are the candidate types: int, long, double,
 * boolean, date (ISO), date ("%Y/%m/%d"), timestamp-millis (ISO). A
 * column gets the first candidate, in that order, that took all of its
 * values, else string; ["null", T] with default null when an empty value
 * or a short row was seen. Since the probe is the very code `import`
 * runs, an import with the inferred schema (and the printed source
 * snippet, which carries the date format) accepts every sampled row.
 *
 * Taking a value is not enough: the text must survive the trip through
 * the type (text_rules). A number written with a leading zero (ZIP code
 * 02134, 007) is a string; so is a column of decimals whose text cannot
 * be rebuilt from the double -- a trailing zero after the point in a
 * column whose decimals do not all have as many digits after it (3.9,
 * 3.10, 3.11: versions); x.0 does not count (1.0, 0.25: floats as
 * programs write them). Decimals all with one count of digits (1.50,
 * 2.00: prices) stay double, and when one has a trailing zero the column
 * is named as ambiguous. A timestamp with more than 3 digits of a second
 * is timestamp-micros.
 *
 * Field names are the headers normalized as the CSV source normalizes
 * them (sa_schema_normalize_name: lower case, every other character '_',
 * runs of '_' made one), made valid Avro names and unique; a header that
 * differs from its field's name is kept as the field's alias, which the
 * source maps by.
 */
#include "agent/base/fsutil.h"
#include "agent/cli.h"
#include "agent/commands.h"
#include "agent/record.h"
#include "agent/source/csv.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define DEFAULT_ROWS 1000
#define READ_CHUNK (1 << 20)
#define ROW_MAX (64 << 20) /* the longest row read; the source's window is smaller */

/* The candidate types, in the order of preference. */
enum cand { C_INT, C_LONG, C_DOUBLE, C_BOOL, C_DATE, C_DATE_SLASH, C_TS, N_CANDS };

static const char probe_schema[] =
    "{\"type\":\"record\",\"name\":\"Probe\",\"fields\":["
    "{\"name\":\"c_int\",\"type\":\"int\"},"
    "{\"name\":\"c_long\",\"type\":\"long\"},"
    "{\"name\":\"c_double\",\"type\":\"double\"},"
    "{\"name\":\"c_bool\",\"type\":\"boolean\"},"
    "{\"name\":\"c_date\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"c_date_slash\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"c_ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-"
    "millis\"}}"
    "]}";

#define SLASH_DATE_FORMAT "%Y/%m/%d"

struct column {
    char *header;           /* trimmed, as the source compares it */
    char *name;             /* the field's name */
    unsigned alive;         /* candidates that took every value so far */
    int nullable;           /* an empty value or a short row was seen */
    int seen;               /* a non-empty value was seen */
    int micros;             /* a timestamp had more than 3 digits of a second */
    int frac_digits;        /* digits after the point of its decimals: -1 none
                               seen yet, -2 not all alike */
    char trailing_zero[24]; /* the first decimal seen with a trailing zero
                               after the point (3.10), "" when none */
    char leading_zero[24];  /* the first number seen with a leading zero */
};

struct infer {
    struct column *cols;
    size_t n_cols;
    uint64_t rows, short_rows, long_rows, bad_rows;
    int more; /* the file has rows after the sample */
};

static const char *const delimiter_names[] = {"comma", "semicolon", "tab", "pipe",
                                              NULL};
static const char delimiter_chars[] = {',', ';', '\t', '|'};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: syncagent schema infer FILE.csv --subject NAME [-o SCHEMAS_DIR]\n"
        "                              [--rows N] [--delimiter D]\n"
        "\n"
        "Read the header and the first N rows of a CSV file (plain or .gz) and\n"
        "write SCHEMAS_DIR/NAME/v1.avsc: per column int, long, double, boolean,\n"
        "date, timestamp-millis (timestamp-micros with more than 3 digits of a\n"
        "second) or string, [\"null\", T] where empty values were seen; field\n"
        "names are the headers made Avro names (lower case, other characters\n"
        "'_'), with the header as an alias. An existing file is never\n"
        "overwritten. Prints a source snippet (YAML) that imports the file.\n"
        "When the file has more rows than N, it says so: rows after them may\n"
        "not fit the types (read more with --rows).\n"
        "\n"
        "A value must come back as written: a number with a leading zero\n"
        "(02134) makes its column a string, and so does a decimal with a\n"
        "trailing zero after the point (3.10; x.0 aside) when the column's\n"
        "decimals differ in their digits after the point (3.9, 3.10: versions).\n"
        "When they all have as many (1.50, 2.00) the column is double and\n"
        "named as ambiguous.\n"
        "\n"
        "  -s, --subject NAME    the schema subject (and stream) to create\n"
        "  -o, --output DIR      the schemas directory (default: schemas)\n"
        "  -n, --rows N          rows to sample (default: %d)\n"
        "  -d, --delimiter D     comma (default), semicolon, tab or pipe\n"
        "  -h, --help            this help\n"
        "\n"
        "Exit status: 0 written, 1 the file cannot be read or written, 2 bad\n"
        "usage, no header, or the schema file exists already.\n"
        "\n"
        "example: syncagent schema infer airports.csv --subject airport -o schemas\n",
        DEFAULT_ROWS);
}

/* The header as an Avro name: normalized as the CSV source does, a digit
 * first gets a '_' before it, an empty name is column_<i>; a name another
 * column has already gets _2, _3... */
static char *field_name(const char *header, size_t index, const struct column *cols,
                        size_t n_cols)
{
    char base[256], name[300];

    sa_schema_normalize_name(header, base + 1, sizeof base - 1);
    if (!base[1])
        snprintf(base, sizeof base, "column_%zu", index + 1);
    else if (base[1] >= '0' && base[1] <= '9')
        base[0] = '_';
    else
        memmove(base, base + 1, strlen(base + 1) + 1);
    snprintf(name, sizeof name, "%s", base);
    for (int n = 2;; n++) {
        int taken = 0;
        for (size_t i = 0; i < n_cols && !taken; i++)
            taken = cols[i].name && strcmp(cols[i].name, name) == 0;
        if (!taken)
            break;
        snprintf(name, sizeof name, "%s_%d", base, n);
    }
    return strdup(name);
}

/* A header that is a field name as it is: [a-z_][a-z0-9_]*. */
static int plain_name(const char *header)
{
    if (!*header || (*header >= '0' && *header <= '9'))
        return 0;
    for (const char *p = header; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

static int take_header(struct infer *inf, const struct sa_csv_row *row)
{
    inf->n_cols = row->n_fields;
    inf->cols = calloc(row->n_fields ? row->n_fields : 1, sizeof *inf->cols);
    if (!inf->cols)
        return SA_ENOMEM;
    for (size_t i = 0; i < row->n_fields; i++) {
        struct column *c = &inf->cols[i];
        const char *p = row->fields[i].p;
        size_t len = row->fields[i].len;
        /* Trimmed of spaces, as the source's map_columns does. */
        while (len && *p == ' ')
            p++, len--;
        while (len && p[len - 1] == ' ')
            len--;
        if (!(c->header = strndup(p, len)))
            return SA_ENOMEM;
        c->alive = (1u << N_CANDS) - 1;
        c->frac_digits = -1;
    }
    /* Headers that are field names already keep them, so that no renamed
     * column takes a name another header maps to exactly (Name, name). */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < row->n_fields; i++) {
            struct column *c = &inf->cols[i];
            if (c->name || (pass == 0 && !plain_name(c->header)))
                continue;
            if (!(c->name = field_name(c->header, i, inf->cols, row->n_fields)))
                return SA_ENOMEM;
        }
    return SA_OK;
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* What a value's text says beyond the types that take it (see the top of
 * the file): a number with a leading zero leaves the column no type but
 * string; a plain decimal's digits after the point and trailing zero are
 * noted; a time with more than 3 digits of a second asks for micros. */
static void text_rules(struct column *c, const char *text, size_t len)
{
    const char *p = text, *end;
    size_t i = 0, start, n_frac = 0;

    while (len && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    end = p + len;
    if (i < len && (p[i] == '+' || p[i] == '-'))
        i++;
    for (start = i; i < len && is_digit(p[i]); i++)
        ;
    if (i - start > 1 && p[start] == '0' &&
        (i == len || (p[i] == '.' && i + 1 < len && is_digit(p[i + 1])))) {
        /* 02134, -007, 00.5: a leading zero the number would drop */
        c->alive = 0;
        if (!c->leading_zero[0])
            snprintf(c->leading_zero, sizeof c->leading_zero, "%.*s",
                     (int)(len < 20 ? len : 20), p);
        return;
    }
    if (i > start && i < len && p[i] == '.') {
        for (i++; i < len && is_digit(p[i]); i++)
            n_frac++;
        /* x.0 is how programs write an integral double (Python's repr):
         * a double gives it back as written, and it says nothing of the
         * column's digits. */
        if (i == len && n_frac > 0 && !(n_frac == 1 && p[len - 1] == '0')) {
            if (c->frac_digits == -1)
                c->frac_digits = (int)n_frac;
            else if (c->frac_digits != (int)n_frac)
                c->frac_digits = -2;
            if (p[len - 1] == '0' && !c->trailing_zero[0])
                snprintf(c->trailing_zero, sizeof c->trailing_zero, "%.*s",
                         (int)(len < 20 ? len : 20), p);
        }
    }
    /* hh:mm:ss.ffff: the digits after the last ':' and its point */
    for (const char *colon = end; colon > p; colon--)
        if (colon[-1] == ':') {
            const char *q = colon;
            size_t digits = 0;
            while (q < end && is_digit(*q))
                q++;
            if (q < end && (*q == '.' || *q == ','))
                for (q++; q < end && is_digit(*q); q++)
                    digits++;
            if (digits > 3)
                c->micros = 1;
            break;
        }
}

static void take_row(struct infer *inf, struct sa_record *probe,
                     const struct sa_csv_row *row)
{
    struct sa_err err;

    if (row->n_fields < inf->n_cols)
        inf->short_rows++;
    if (row->n_fields > inf->n_cols)
        inf->long_rows++;
    for (size_t i = 0; i < inf->n_cols; i++) {
        struct column *c = &inf->cols[i];
        if (i >= row->n_fields || row->fields[i].len == 0) {
            c->nullable = 1;
            continue;
        }
        c->seen = 1;
        text_rules(c, row->fields[i].p, row->fields[i].len);
        for (int k = 0; k < N_CANDS; k++) {
            if (!(c->alive & (1u << k)))
                continue;
            sa_record_reset(probe);
            if (sa_record_set_text(probe, k, row->fields[i].p, row->fields[i].len,
                                   &err) != SA_OK)
                c->alive &= ~(1u << k);
        }
    }
}

/* Decimals whose text the double cannot give back: 3.9, 3.10. */
static int lossy_decimals(const struct column *c)
{
    return c->trailing_zero[0] && c->frac_digits == -2;
}

static enum cand chosen(const struct column *c)
{
    if (!c->seen)
        return N_CANDS; /* only empty values: a nullable string */
    for (int k = 0; k < N_CANDS; k++)
        if ((c->alive & (1u << k)) && !(k == C_DOUBLE && lossy_decimals(c)))
            return (enum cand)k;
    return N_CANDS;
}

/* A double column whose decimals all have as many digits after the point,
 * one of them a trailing zero: prices (1.50) or versions (3.10)? */
static int ambiguous(const struct column *c)
{
    return chosen(c) == C_DOUBLE && c->trailing_zero[0];
}

static json_t *type_json(enum cand k, int micros)
{
    switch (k) {
    case C_INT:
        return json_string("int");
    case C_LONG:
        return json_string("long");
    case C_DOUBLE:
        return json_string("double");
    case C_BOOL:
        return json_string("boolean");
    case C_DATE:
    case C_DATE_SLASH:
        return json_pack("{s:s, s:s}", "type", "int", "logicalType", "date");
    case C_TS:
        return json_pack("{s:s, s:s}", "type", "long", "logicalType",
                         micros ? "timestamp-micros" : "timestamp-millis");
    default:
        return json_string("string");
    }
}

/* The .avsc text (owned by the caller), or NULL when out of memory. */
static char *schema_text(const struct infer *inf, const char *subject, const char *file)
{
    char record_name[256], doc[512];
    json_t *root, *fields;
    char *text = NULL;

    sa_schema_normalize_name(subject, record_name + 1, sizeof record_name - 1);
    record_name[0] = '_';
    snprintf(doc, sizeof doc,
             "Inferred by syncagent schema infer from %s (%llu rows "
             "sampled).",
             file, (unsigned long long)inf->rows);
    fields = json_array();
    root = json_pack("{s:s, s:s, s:s, s:o}", "type", "record", "name",
                     record_name[1] >= 'a' && record_name[1] <= 'z' ? record_name + 1
                                                                    : record_name,
                     "doc", doc, "fields", fields);
    if (!root)
        return NULL;
    for (size_t i = 0; i < inf->n_cols; i++) {
        const struct column *c = &inf->cols[i];
        json_t *type = type_json(chosen(c), c->micros), *field;
        if (c->nullable)
            type = json_pack("[s, o]", "null", type);
        field = json_pack("{s:s, s:o}", "name", c->name, "type", type);
        if (!field || json_array_append_new(fields, field))
            goto out;
        if (c->nullable && json_object_set_new(field, "default", json_null()))
            goto out;
        if (strcmp(c->header, c->name) != 0 &&
            json_object_set_new(field, "aliases", json_pack("[s]", c->header)))
            goto out;
    }
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
out:
    json_decref(root);
    return text;
}

/* Read the header and up to max_rows rows of path into inf. */
static int sample(const char *path, char delimiter, uint64_t max_rows,
                  struct infer *inf, struct sa_err *err)
{
    struct sa_csv_opts opts;
    struct sa_csv_parser parser;
    struct sa_schema *probe_schema_p = NULL;
    struct sa_record probe;
    struct sa_buf win;
    size_t pos = 0;
    int eof = 0, have_header = 0, rc, probe_ready = 0, first_read = 1;
    gzFile gz = NULL;

    memset(&probe, 0, sizeof probe);
    sa_buf_init(&win, ROW_MAX);
    sa_csv_opts_default(&opts);
    opts.delimiter = delimiter;
    opts.max_field = ROW_MAX;
    if (sa_csv_init(&parser, &opts) != SA_OK) {
        sa_buf_fini(&win);
        return sa_err_set(err, SA_ENOMEM, "out of memory");
    }
    if ((rc = sa_schema_parse("probe", 1, probe_schema, &probe_schema_p, err)) ||
        (rc = sa_record_init(&probe, probe_schema_p, err)))
        goto out;
    probe_ready = 1;
    if ((rc = sa_record_set_text_format(&probe, C_DATE_SLASH, SLASH_DATE_FORMAT, err)))
        goto out;
    /* gzread reads a plain file as it is. */
    if (!(gz = gzopen(path, "rb"))) {
        rc = sa_err_set(err, SA_EIO, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    while (inf->rows < max_rows) {
        struct sa_csv_row row;
        struct sa_csv_error where;
        size_t used;
        int prc = sa_csv_next(&parser, (const char *)win.data + pos, win.len - pos, eof,
                              &row, &used, &where);
        if (prc == SA_EAGAIN) {
            int got;
            if (eof)
                break;
            if (pos) {
                memmove(win.data, win.data + pos, win.len - pos);
                win.len -= pos;
                pos = 0;
            }
            if (win.len + READ_CHUNK > win.max || sa_buf_reserve(&win, READ_CHUNK)) {
                rc = sa_err_set(err, SA_EPARSE, "%s:%lld: a row longer than %d bytes",
                                path, (long long)parser.line, ROW_MAX);
                goto out;
            }
            got = gzread(gz, win.data + win.len, READ_CHUNK);
            if (got < 0) {
                rc = sa_err_set(err, SA_EIO, "cannot read %s", path);
                goto out;
            }
            eof = got == 0;
            win.len += (size_t)got;
            if (first_read && win.len > 0) {
                const uint8_t *cr;
                first_read = 0;
                /* A UTF-8 byte order mark is not data (the source skips it
                 * too). */
                if (win.len >= 3 && memcmp(win.data, "\xEF\xBB\xBF", 3) == 0) {
                    memmove(win.data, win.data + 3, win.len - 3);
                    win.len -= 3;
                }
                cr = memchr(win.data, '\r', win.len);
                /* Refused as the source refuses it (the same test: no LF in
                 * the first read and more than one CR), or its first line
                 * would be the header of a file of one row. */
                if (!memchr(win.data, '\n', win.len) && cr &&
                    memchr(cr + 1, '\r', win.len - (size_t)(cr + 1 - win.data))) {
                    rc = sa_err_set(err, SA_EPARSE,
                                    "%s: lines end with CR alone (classic Mac OS), "
                                    "which this reader does not take; convert them "
                                    "first, e.g. tr '\\r' '\\n'",
                                    path);
                    goto out;
                }
            }
            continue;
        }
        pos += used;
        if (prc == SA_EPARSE) {
            /* The source dead-letters such a row whatever the schema. */
            if (!have_header) {
                rc = sa_err_set(err, SA_EPARSE,
                                "%s:%lld:%lld: the header cannot be "
                                "read: %s",
                                path, (long long)where.line, (long long)where.column,
                                where.reason);
                goto out;
            }
            inf->bad_rows++;
            fprintf(stderr, "syncagent schema infer: %s:%lld:%lld: row skipped: %s\n",
                    path, (long long)where.line, (long long)where.column, where.reason);
            continue;
        }
        if (row.n_fields == 1 && row.fields[0].len == 0)
            continue; /* a blank line, skipped by the source too */
        if (!have_header) {
            if ((rc = take_header(inf, &row)))
                goto out;
            have_header = 1;
            continue;
        }
        inf->rows++;
        take_row(inf, &probe, &row);
    }
    if (!have_header)
        rc = sa_err_set(err, SA_EPARSE, "%s: no header row", path);
    /* Anything but line ends after the sample: rows the schema was not
     * chosen for, which the user has to hear about. */
    while (rc == SA_OK && inf->rows >= max_rows && !inf->more) {
        int got;
        for (size_t i = pos; i < win.len && !inf->more; i++)
            inf->more = win.data[i] != '\n' && win.data[i] != '\r';
        if (inf->more || eof)
            break;
        pos = win.len = 0;
        got = gzread(gz, win.data, READ_CHUNK);
        eof = got <= 0;
        win.len = got > 0 ? (size_t)got : 0;
    }
out:
    if (gz)
        gzclose(gz);
    if (probe_ready)
        sa_record_fini(&probe);
    sa_schema_free(probe_schema_p);
    sa_csv_fini(&parser);
    sa_buf_fini(&win);
    return rc;
}

/* Write text to dir/subject/v1.avsc, which must not exist yet. */
static int write_schema(const char *dir, const char *subject, const char *text,
                        char *path, size_t path_len, struct sa_err *err)
{
    char subdir[PATH_MAX], failed[PATH_MAX];
    size_t len = strlen(text);
    int fd, rc = SA_OK;

    snprintf(subdir, sizeof subdir, "%s/%s", dir, subject);
    snprintf(path, path_len, "%s/v1.avsc", subdir);
    if (sa_mkdirs(subdir, 0755, failed, sizeof failed) != 0)
        return sa_err_set(err, SA_EIO, "cannot create directory %s: %s", failed,
                          strerror(errno));
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST)
        return sa_err_set(err, SA_EINVAL,
                          "%s exists already: not overwritten (remove "
                          "it, or choose another --subject or -o)",
                          path);
    if (fd < 0)
        return sa_err_set(err, SA_EIO, "cannot create %s: %s", path, strerror(errno));
    if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd))
        rc = sa_err_set(err, SA_EIO, "cannot write %s: %s", path, strerror(errno));
    close(fd);
    if (rc)
        unlink(path);
    return rc;
}

static void print_snippet(const struct infer *inf, const char *subject,
                          const char *file, int delimiter)
{
    char abs[PATH_MAX];
    int n_formats = 0;

    printf("# a source that imports it (under sources: in the agent config):\n"
           "  - name: %s\n"
           "    type: csv\n"
           "    stream: %s\n"
           "    schema: %s:v1\n"
           "    path: %s\n"
           "    watch: false\n",
           subject, subject, subject, realpath(file, abs) ? abs : file);
    if (delimiter != 0)
        printf("    delimiter: %s\n", delimiter_names[delimiter]);
    for (size_t i = 0; i < inf->n_cols; i++)
        if (chosen(&inf->cols[i]) == C_DATE_SLASH)
            printf("%s%s: \"%s\"", n_formats++ ? ", " : "    formats: {",
                   inf->cols[i].name, SLASH_DATE_FORMAT);
    if (n_formats)
        printf("}\n");
    if (inf->short_rows)
        printf("    short_rows: null          # %llu rows lack trailing fields\n",
               (unsigned long long)inf->short_rows);
    for (size_t i = 0; i < inf->n_cols; i++)
        if (ambiguous(&inf->cols[i]))
            printf("    # %s: double, though \"%s\" has a trailing zero after the "
                   "point; if that is text (a version), make it \"string\" in the "
                   "schema\n",
                   inf->cols[i].name, inf->cols[i].trailing_zero);
}

static int infer_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"subject", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"rows", required_argument, NULL, 'n'},
        {"delimiter", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *subject = NULL, *dir = "schemas", *file;
    uint64_t rows = DEFAULT_ROWS;
    int delimiter = 0, opt, rc;
    struct infer inf = {0};
    struct sa_err err = {0};
    char path[PATH_MAX * 2], *text = NULL;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "s:o:n:d:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            subject = optarg;
            break;
        case 'o':
            dir = optarg;
            break;
        case 'n': {
            int64_t v;
            if (sa_cli_parse_int("schema infer", "--rows", optarg, 1, INT64_MAX, &v))
                return SA_EXIT_USAGE;
            rows = (uint64_t)v;
            break;
        }
        case 'd':
            for (delimiter = 0; delimiter_names[delimiter] &&
                                strcmp(delimiter_names[delimiter], optarg) != 0;
                 delimiter++)
                ;
            if (!delimiter_names[delimiter]) {
                fprintf(stderr,
                        "syncagent schema infer: --delimiter: '%s' is not "
                        "comma, semicolon, tab or pipe\n",
                        optarg);
                return SA_EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return SA_EXIT_OK;
        default:
            usage(stderr);
            return SA_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !subject) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    file = argv[optind];
    if (!*subject || strchr(subject, '/') || strcmp(subject, ".") == 0 ||
        strcmp(subject, "..") == 0) {
        fprintf(stderr,
                "syncagent schema infer: --subject '%s' cannot be a directory "
                "name\n",
                subject);
        return SA_EXIT_USAGE;
    }
    rc = sample(file, delimiter_chars[delimiter], rows, &inf, &err);
    if (rc)
        goto out;
    if (!(text = schema_text(&inf, subject, file))) {
        rc = sa_err_set(&err, SA_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = write_schema(dir, subject, text, path, sizeof path, &err)))
        goto out;
    printf("wrote %s: %zu fields from %s%llu rows of %s\n", path, inf.n_cols,
           inf.more ? "the first " : "", (unsigned long long)inf.rows, file);
    if (inf.more)
        fprintf(stderr,
                "syncagent schema infer: %s has more rows than the %llu read: "
                "the types fit those only (a later empty value, larger number "
                "or text in a number column makes import reject its row); "
                "read more with --rows N\n",
                file, (unsigned long long)inf.rows);
    /* Rows no schema can make the source take: say so. */
    if (inf.long_rows)
        fprintf(stderr,
                "syncagent schema infer: %s: %llu of the rows read have more "
                "fields than the header; import rejects those\n",
                file, (unsigned long long)inf.long_rows);
    if (inf.bad_rows)
        fprintf(stderr,
                "syncagent schema infer: %s: %llu rows could not be parsed "
                "(above); import rejects those\n",
                file, (unsigned long long)inf.bad_rows);
    /* Where the rules chose: said, so that a person can overrule them. */
    for (size_t i = 0; i < inf.n_cols; i++) {
        const struct column *c = &inf.cols[i];
        if (ambiguous(c))
            fprintf(stderr,
                    "syncagent schema infer: column '%s' (%s) is ambiguous: double, "
                    "though \"%s\" has a trailing zero after the point that a "
                    "double does not keep; if the text matters (a version), make "
                    "it \"string\"\n",
                    c->header, c->name, c->trailing_zero);
        else if (c->leading_zero[0])
            fprintf(stderr,
                    "syncagent schema infer: column '%s' (%s) is a string: "
                    "\"%s\" has a leading zero that a number does not keep\n",
                    c->header, c->name, c->leading_zero);
        else if ((c->alive & (1u << C_DOUBLE)) && lossy_decimals(c))
            fprintf(stderr,
                    "syncagent schema infer: column '%s' (%s) is a string: its "
                    "decimals differ in their digits after the point and \"%s\" "
                    "has a trailing zero that a double does not keep (a version?)\n",
                    c->header, c->name, c->trailing_zero);
    }
    print_snippet(&inf, subject, file, delimiter);
out:
    free(text);
    for (size_t i = 0; i < inf.n_cols; i++) {
        free(inf.cols[i].header);
        free(inf.cols[i].name);
    }
    free(inf.cols);
    return rc ? sa_cli_fail("schema infer", &err) : SA_EXIT_OK;
}

int sa_cmd_schema(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "infer") == 0)
        return infer_main(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return SA_EXIT_OK;
    }
    usage(stderr);
    return SA_EXIT_USAGE;
}
