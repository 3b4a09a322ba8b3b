/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `syncagent fleet`: the operator's side of fleet config push
 * (agent/fleet/fleet.c is the agent's). A fleet directory is what a static
 * HTTP server publishes: config.yaml, config.yaml.sig and status/, where
 * the agents PUT <agent_id>.json.
 *
 *   keygen -o DIR                     DIR/fleet.key, DIR/fleet.pub
 *   sign CONFIG --key KEY -o DIR      check, then DIR/config.yaml(.sig)
 *   verify DIR --pub KEY              the signature and the config's check
 *   status DIR_OR_URL                 what the agents reported
 */
#include "agent/base/buf.h"
#include "agent/base/clock.h"
#include "agent/base/fsutil.h"
#include "agent/cli.h"
#include "agent/commands.h"
#include "agent/fleet/fleet.h"
#include "agent/fleet/sign.h"
#include "sync/http.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: syncagent fleet keygen -o DIR\n"
            "       syncagent fleet sign CONFIG --key KEY -o DIR [--schemas DIR]\n"
            "       syncagent fleet verify DIR --pub KEY [--schemas DIR]\n"
            "       syncagent fleet status DIR_OR_URL\n"
            "\n"
            "Fleet-wide config push: publish DIR with any static HTTP server\n"
            "and point the agents' fleet.url at it.\n"
            "\n"
            "  keygen   write an Ed25519 key pair: DIR/fleet.key (keep it secret)\n"
            "           and DIR/fleet.pub (for the agents' fleet.public_keys)\n"
            "  sign     check CONFIG as `check` does (plus: a version: above the\n"
            "           one in DIR, no local-only key), then write\n"
            "           DIR/config.yaml.sig and DIR/config.yaml, dated a second\n"
            "           after the one it replaces (an ETag of mtime and size,\n"
            "           as nginx's, changes even for a config of the same size)\n"
            "  verify   check DIR/config.yaml.sig against KEY, and the config\n"
            "  --schemas  the schemas the config is checked against (default:\n"
            "           schemas/ beside it; agent.schemas_dir is local-only)\n"
            "  status   the agents' reports (DIR/status/*.json, or URL/status/ as\n"
            "           nginx's JSON autoindex): agents per version and status,\n"
            "           failures with their reasons, agents silent for more than\n"
            "           three poll intervals past their heartbeat (every 10 polls)\n"
            "\n"
            "Exit: 0 ok; 1 a runtime failure; 2 bad usage or a bad config,\n"
            "key or signature.\n");
}

static int read_all(const char *path, struct sa_buf *out, struct sa_err *err)
{
    char chunk[8192];
    size_t n;
    int rc = SA_OK;
    FILE *f = fopen(path, "rb");

    if (!f)
        return sa_err_set(err, errno == ENOENT ? SA_ENOTFOUND : SA_EIO,
                          "%s: cannot open: %s", path, strerror(errno));
    while (rc == SA_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = sa_buf_append(out, chunk, n);
    fclose(f);
    if (rc == SA_OK)
        rc = sa_buf_terminate(out);
    return rc ? sa_err_set(err, rc, "%s: %s", path, sa_strerror(rc)) : SA_OK;
}

/* The version of DIR/config.yaml, 0 when there is none. */
static int64_t published_version(const char *dir)
{
    char path[4096];
    struct sa_config *cfg = NULL;
    struct sa_err err = {0};
    int64_t v = 0;

    snprintf(path, sizeof path, "%s/config.yaml", dir);
    if (sa_config_load_offline(path, &cfg, &err) == SA_OK)
        v = cfg->fleet_version;
    sa_config_free(cfg);
    return v;
}

static const char *schemas_opt; /* --schemas DIR */

/* CONFIG checked as `check` does, and as a fleet config. agent.schemas_dir
 * is local-only: the schemas come from --schemas (default: the config's
 * directory's schemas/). */
static int check_config(const char *path, int64_t *version, struct sa_err *err)
{
    struct sa_config *cfg = NULL;
    struct sa_schema_set *schemas = NULL;
    int rc;

    *version = 0;
    if ((rc = sa_config_load(path, &cfg, err)))
        return rc;
    if ((rc = sa_fleet_check_remote(cfg, err)))
        goto out;
    if (schemas_opt) {
        char *dir = strdup(schemas_opt);
        if (!dir) {
            rc = sa_err_set(err, SA_ENOMEM, "out of memory");
            goto out;
        }
        free(cfg->agent.schemas_dir);
        cfg->agent.schemas_dir = dir;
    }
    if ((rc = sa_cli_load_schemas(cfg, &schemas, err)) == SA_OK)
        rc = sa_config_check(cfg, schemas, err);
    else if (!schemas_opt && strstr(err->msg, "schemas directory")) {
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len, " (--schemas DIR names them)");
    }
    *version = cfg->fleet_version;
out:
    sa_schemas_free(schemas);
    sa_config_free(cfg);
    return rc;
}

static int parse_opts(int argc, char **argv, const char **out_dir, const char **key,
                      const char *key_name)
{
    static struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"key", required_argument, NULL, 'k'},
        {"pub", required_argument, NULL, 'p'},
        {"schemas", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            *out_dir = optarg;
            break;
        case 'k':
        case 'p':
            if (!key_name || strcmp(key_name, opt == 'k' ? "key" : "pub") != 0) {
                usage(stderr);
                return -1;
            }
            *key = optarg;
            break;
        case 's':
            schemas_opt = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    return 0;
}

static int cmd_keygen(int argc, char **argv)
{
    const char *dir = NULL, *unused = NULL;
    struct sa_err err = {0};
    int r = parse_opts(argc, argv, &dir, &unused, NULL);

    if (r)
        return r > 0 ? SA_EXIT_OK : SA_EXIT_USAGE;
    if (!dir || optind != argc) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    if (sa_fleet_keygen(dir, &err))
        return sa_cli_fail("fleet keygen", &err);
    printf("wrote %s/fleet.key (secret) and %s/fleet.pub\n", dir, dir);
    return SA_EXIT_OK;
}

/* nginx and Apache derive a file's ETag from its modification time in
 * whole seconds and its size: a config signed in the same second as the
 * one before it, and as long ("version: 3" then "version: 4"), would get
 * the same ETag, and every agent that has the old one would be answered
 * 304 for the new one until it changes again. So the new config.yaml is
 * dated at least a second after the one it replaces (was_sec: that one's,
 * or -1). */
static int date_after(const char *path, time_t was_sec)
{
    struct stat st;
    struct timespec times[2];

    if (was_sec < 0 || stat(path, &st) != 0 || st.st_mtim.tv_sec > was_sec)
        return 0;
    times[0].tv_sec = times[1].tv_sec = was_sec + 1;
    times[0].tv_nsec = times[1].tv_nsec = 0;
    return utimensat(AT_FDCWD, path, times, 0);
}

static int cmd_sign(int argc, char **argv)
{
    const char *dir = NULL, *key = NULL, *config;
    char path[4096], sig[SA_FLEET_SIG_B64 + 2], failed[4096];
    struct sa_buf text;
    struct sa_err err = {0};
    int64_t version = 0, old;
    struct stat was;
    int r = parse_opts(argc, argv, &dir, &key, "key");

    if (r)
        return r > 0 ? SA_EXIT_OK : SA_EXIT_USAGE;
    if (!dir || !key || optind != argc - 1) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    config = argv[optind];
    if (check_config(config, &version, &err))
        return sa_cli_fail("fleet sign", &err);
    old = published_version(dir);
    if (version <= old) {
        sa_err_set(&err, SA_ECONFIG,
                   "%s: version %lld is not above the published version %lld; "
                   "the agents would refuse it",
                   config, (long long)version, (long long)old);
        return sa_cli_fail("fleet sign", &err);
    }
    sa_buf_init(&text, SA_FLEET_MAX_BYTES);
    if (read_all(config, &text, &err) ||
        sa_fleet_sign(key, text.data, text.len, sig, sizeof sig, &err)) {
        sa_buf_fini(&text);
        return sa_cli_fail("fleet sign", &err);
    }
    if (sa_mkdirs(dir, 0755, failed, sizeof failed) != 0) {
        sa_err_set(&err, SA_EIO, "%s: cannot create: %s", failed, strerror(errno));
        sa_buf_fini(&text);
        return sa_cli_fail("fleet sign", &err);
    }
    /* The signature first: an agent polling in between sees the old config
     * with the new signature and refuses it once, rather than taking a new
     * config it cannot check yet. Then the config. */
    snprintf(path, sizeof path, "%s/config.yaml.sig", dir);
    r = sa_write_atomic(path, sig, strlen(sig), 0644);
    if (r == 0) {
        snprintf(path, sizeof path, "%s/config.yaml", dir);
        if (stat(path, &was) != 0)
            was.st_mtim.tv_sec = -1;
        r = sa_write_atomic(path, text.data, text.len, 0644);
        if (r == 0 && date_after(path, was.st_mtim.tv_sec) != 0) {
            sa_buf_fini(&text);
            sa_err_set(&err, SA_EIO,
                       "%s: written, but cannot date it after the config it replaces "
                       "(agents may keep the old one while its ETag matches): %s",
                       path, strerror(errno));
            return sa_cli_fail("fleet sign", &err);
        }
    }
    sa_buf_fini(&text);
    if (r != 0) {
        sa_err_set(&err, SA_EIO, "%s: cannot write: %s", path, strerror(errno));
        return sa_cli_fail("fleet sign", &err);
    }
    printf("signed version %lld into %s/config.yaml and config.yaml.sig\n",
           (long long)version, dir);
    return SA_EXIT_OK;
}

static int cmd_verify(int argc, char **argv)
{
    const char *unused = NULL, *pub = NULL, *dir;
    char path[4096];
    unsigned char sig[SA_FLEET_SIG_BYTES];
    struct sa_buf text, sigtext;
    struct sa_strlist keys;
    struct sa_err err = {0};
    int64_t version = 0;
    int r = parse_opts(argc, argv, &unused, &pub, "pub");

    if (r)
        return r > 0 ? SA_EXIT_OK : SA_EXIT_USAGE;
    if (!pub || optind != argc - 1) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    dir = argv[optind];
    keys.v = (char *[]){(char *)pub};
    keys.n = 1;
    sa_buf_init(&text, SA_FLEET_MAX_BYTES);
    sa_buf_init(&sigtext, SA_FLEET_MAX_BYTES);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    r = read_all(path, &text, &err);
    snprintf(path, sizeof path, "%s/config.yaml.sig", dir);
    if (r == SA_OK)
        r = read_all(path, &sigtext, &err);
    if (r == SA_OK && (r = sa_fleet_sig_parse(sigtext.data, sigtext.len, sig, &err)))
        sa_err_prefix(&err, "%s: ", path);
    if (r == SA_OK)
        r = sa_fleet_verify(&keys, text.data, text.len, sig, &err);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    if (r == SA_OK)
        r = check_config(path, &version, &err);
    sa_buf_fini(&text);
    sa_buf_fini(&sigtext);
    if (r)
        return sa_cli_fail("fleet verify", &err);
    printf("%s: good signature, version %lld, config valid\n", dir, (long long)version);
    return SA_EXIT_OK;
}

/* --- status -------------------------------------------------------------- */

struct report {
    char *agent, *version_status, *error;
    int64_t silent_ms;
};

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static time_t parse_iso(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return 0;
    return timegm(&tm);
}

/* Collect the report docs of DIR/status/ or URL/status/ into *docs. */
static int load_reports(const char *where, json_t *docs, struct sa_err *err)
{
    char path[4096];

    if (strncmp(where, "http://", 7) == 0 || strncmp(where, "https://", 8) == 0) {
        struct sa_http_conf conf = {.url = (char *)where,
                                    .connect_timeout_ms = 5000,
                                    .request_timeout_ms = 30000,
                                    .tls_verify = 1,
                                    .max_connections = 1,
                                    .max_response_bytes = 64 << 20};
        struct sa_http_client *c = NULL;
        struct sa_http_request req = {.method = "GET", .path = "/status/"};
        struct sa_buf body;
        json_t *list;
        long status = 0;
        int rc;

        sa_buf_init(&body, 64u << 20);
        sa_buf_init(&req.body, 0);
        if ((rc = sa_http_client_new(&conf, "fleet status", &c, err)) ||
            (rc = sa_http_call(c, &req, &status, &body, NULL, err)))
            goto http_out;
        if (status != 200) {
            rc = sa_err_set(err, SA_EIO,
                            "GET %s/status/: HTTP %ld (the server must list "
                            "the directory as JSON: nginx autoindex_format json)",
                            where, status);
            goto http_out;
        }
        list = json_loads((const char *)body.data, 0, NULL);
        for (size_t i = 0; json_is_array(list) && i < json_array_size(list); i++) {
            const char *name =
                json_string_value(json_object_get(json_array_get(list, i), "name"));
            json_t *doc;
            if (!name || !strstr(name, ".json"))
                continue;
            snprintf(path, sizeof path, "/status/%s", name);
            req.path = path;
            sa_buf_init(&req.body, 0);
            if (sa_http_call(c, &req, &status, &body, NULL, err) == SA_OK &&
                status == 200 && (doc = json_loads((const char *)body.data, 0, NULL)))
                json_array_append_new(docs, doc);
        }
        json_decref(list);
        sa_err_clear(err);
    http_out:
        sa_buf_fini(&body);
        sa_http_client_free(c);
        return rc;
    }
    snprintf(path, sizeof path, "%s/status", where);
    DIR *d = opendir(path);
    struct dirent *e;
    if (!d)
        return sa_err_set(err, SA_ENOTFOUND, "%s: cannot open: %s", path,
                          strerror(errno));
    while ((e = readdir(d))) {
        char file[4096 + 256];
        json_t *doc;
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        if ((doc = json_load_file(file, 0, NULL)))
            json_array_append_new(docs, doc);
    }
    closedir(d);
    return SA_OK;
}

static int cmd_status(int argc, char **argv)
{
    const char *unused = NULL, *unused_key = NULL;
    json_t *docs = json_array();
    struct sa_err err = {0};
    char **groups = NULL, **failures = NULL, **silent = NULL;
    size_t n_failures = 0, n_silent = 0, n;
    time_t now = time(NULL);
    int r = parse_opts(argc, argv, &unused, &unused_key, NULL);

    if (r)
        return r > 0 ? SA_EXIT_OK : SA_EXIT_USAGE;
    if (optind != argc - 1) {
        usage(stderr);
        return SA_EXIT_USAGE;
    }
    if (load_reports(argv[optind], docs, &err)) {
        json_decref(docs);
        return sa_cli_fail("fleet status", &err);
    }
    n = json_array_size(docs);
    groups = calloc(n + 1, sizeof *groups);
    failures = calloc(n + 1, sizeof *failures);
    silent = calloc(n + 1, sizeof *silent);
    for (size_t i = 0; groups && failures && silent && i < n; i++) {
        json_t *doc = json_array_get(docs, i);
        const char *id = json_string_value(json_object_get(doc, "agent_id"));
        const char *st = json_string_value(json_object_get(doc, "status"));
        const char *error = json_string_value(json_object_get(doc, "error"));
        json_int_t v = json_integer_value(json_object_get(doc, "version"));
        json_int_t interval =
            json_integer_value(json_object_get(doc, "poll_interval_ms"));
        time_t last = parse_iso(json_string_value(json_object_get(doc, "last_poll")));

        id = id ? id : "?";
        st = st ? st : "?";
        if (asprintf(&groups[i], "version %-6lld %s", (long long)v, st) < 0)
            groups[i] = NULL;
        if (strcmp(st, "APPLIED") != 0 &&
            asprintf(&failures[n_failures], "  %s: %s (version %lld): %s", id, st,
                     (long long)v, error ? error : "") >= 0)
            n_failures++;
        /* An agent reports at least every HEARTBEAT_POLLS polls: silent is
         * more than three poll intervals past that. */
        if (interval > 0 && last && (now - last) * 1000 > (10 + 3) * interval &&
            asprintf(&silent[n_silent], "  %s: last poll %llds ago", id,
                     (long long)(now - last)) >= 0)
            n_silent++;
    }
    printf("%zu agents\n", n);
    qsort(groups, n, sizeof *groups, by_text);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && groups[j] && groups[i] && strcmp(groups[i], groups[j]) == 0)
            j++;
        if (j == i)
            j++;
        printf("  %-32s %zu\n", groups[i] ? groups[i] : "?", j - i);
        i = j;
    }
    qsort(failures, n_failures, sizeof *failures, by_text);
    qsort(silent, n_silent, sizeof *silent, by_text);
    if (n_failures)
        printf("not applied (%zu):\n", n_failures);
    for (size_t i = 0; i < n_failures; i++)
        printf("%s\n", failures[i]);
    if (n_silent)
        printf("silent for more than three poll intervals (%zu):\n", n_silent);
    for (size_t i = 0; i < n_silent; i++)
        printf("%s\n", silent[i]);
    for (size_t i = 0; i < n; i++) {
        free(groups ? groups[i] : NULL);
        free(failures ? failures[i] : NULL);
        free(silent ? silent[i] : NULL);
    }
    free(groups);
    free(failures);
    free(silent);
    json_decref(docs);
    return SA_EXIT_OK;
}

int sa_cmd_fleet(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? SA_EXIT_USAGE : SA_EXIT_OK;
    }
    if (strcmp(argv[1], "keygen") == 0)
        return cmd_keygen(argc - 1, argv + 1);
    if (strcmp(argv[1], "sign") == 0)
        return cmd_sign(argc - 1, argv + 1);
    if (strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0)
        return cmd_status(argc - 1, argv + 1);
    fprintf(stderr, "syncagent fleet: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return SA_EXIT_USAGE;
}
