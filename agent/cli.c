/* SPDX-License-Identifier: Apache-2.0 */
/* Shared set-up of the subcommands; see cli.h. */
#include "agent/cli.h"

#include "agent/base/fsutil.h"
#include "agent/base/log.h"
#include "agent/commands.h"
#include "store/lock.h"
#include "store/salvage.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int sa_cli_load_schemas(const struct sa_config *cfg, struct sa_schema_set **schemas,
                        struct sa_err *err)
{
    int rc;

    rc = sa_schemas_load(cfg->agent.schemas_dir,
                         (enum sa_compat)cfg->agent.compatibility, schemas, err);
    if (rc == SA_ECONFIG) {
        /* Not there: the config's agent.schemas_dir, or its default. */
        int written = 0;
        for (size_t k = 0; k < cfg->agent_origin.n_keys; k++)
            written |= strcmp(cfg->agent_origin.keys[k].key, "schemas_dir") == 0;
        if (written)
            return sa_conf_fail(&cfg->agent_origin, "schemas_dir", rc, err, "%s", err->msg);
        return sa_err_prefix(err, "%s: agent.schemas_dir not set, so its default: ",
                             cfg->path);
    }
    if (rc)
        return rc;
    for (size_t i = 0; i < cfg->n_sources; i++) {
        const struct sa_source_conf *sc = &cfg->sources[i];
        if (!sa_schemas_lookup(*schemas, sc->schema, err)) {
            /* Not written, the schema is the stream's name. */
            int written = 0;
            for (size_t k = 0; k < sc->origin.n_keys; k++)
                written |= strcmp(sc->origin.keys[k].key, "schema") == 0;
            rc = sa_conf_fail(&sc->origin, written ? "schema" : "stream", err->rc, err,
                              "%s", err->msg);
            sa_schemas_free(*schemas);
            *schemas = NULL;
            return rc;
        }
    }
    return SA_OK;
}

int sa_cli_load(const char *path, struct sa_config **cfg,
                struct sa_schema_set **schemas, struct sa_err *err)
{
    int rc;

    *schemas = NULL;
    rc = sa_config_load(path, cfg, err);
    if (rc)
        return rc;
    sa_log_setup((enum sa_log_level)(*cfg)->agent.log_level,
                 (enum sa_log_format)(*cfg)->agent.log_format);
    rc = sa_cli_load_schemas(*cfg, schemas, err);
    if (rc) {
        sa_config_free(*cfg);
        *cfg = NULL;
    }
    return rc;
}

/* The spool lock this process holds (invariant I7), from the first
 * writer open until the process exits, when the kernel drops it (even on
 * kill -9). A SIGHUP reload closes the spool and opens it again: the lock
 * is kept over that gap, so no other writer can slip in. It is never
 * released before exit, not even from an atexit handler: a thread that
 * still commits while main() returns must not find the lock free. The
 * file keeps the last holder's PID; only the lock says who runs. */
static struct sa_spool_lock *held_lock;

/* 1 when the spool file lies directly in agent.data_dir (the default
 * spool.path), so that a refusal can name the data directory. */
static int spool_in_data_dir(const struct sa_config *cfg)
{
    struct stat dir_st, parent_st;
    char *copy = strdup(cfg->spool.path);
    int same;

    if (!copy)
        return 0;
    same = stat(dirname(copy), &parent_st) == 0 &&
           stat(cfg->agent.data_dir, &dir_st) == 0 &&
           parent_st.st_dev == dir_st.st_dev && parent_st.st_ino == dir_st.st_ino;
    free(copy);
    return same;
}

/* Take the spool's one-writer lock, or keep it when this process holds it
 * already. A second writer is refused at once (SA_EBUSY, exit 2) with the
 * holder's PID: waiting would only hide that two agents are configured on
 * one data directory. */
static int lock_spool(const struct sa_config *cfg, struct sa_err *err)
{
    struct sa_spool_lock *lock = NULL;
    char who[32];
    long pid = 0;
    int rc;

    if (held_lock && sa_spool_lock_covers(held_lock, cfg->spool.path))
        return SA_OK;
    rc = sa_spool_lock_acquire(&lock, cfg->spool.path, &pid, err);
    if (rc == SA_EBUSY) {
        int in_data_dir = spool_in_data_dir(cfg);
        if (pid > 0)
            snprintf(who, sizeof who, "pid %ld", pid);
        else
            snprintf(who, sizeof who, "pid unknown");
        return sa_err_set(err, SA_EBUSY,
                          "%s %s is in use by another writer (%s); "
                          "stop it first (status, spool verify and deadletter "
                          "list work beside it)",
                          in_data_dir ? "data directory" : "spool",
                          in_data_dir ? cfg->agent.data_dir : cfg->spool.path, who);
    }
    if (rc)
        return rc;
    /* A reload that moved the spool: the old one is closed by now. */
    sa_spool_lock_release(held_lock);
    held_lock = lock;
    return SA_OK;
}

static int open_rw(const struct sa_config *cfg, struct sa_schema_set *schemas,
                   struct sa_spool **out, struct sa_err *err)
{
    int rc;

    /* A damaged spool is refused before anything opens it for writing,
     * so that it stays as it was found (store/salvage.c). */
    rc = sa_spool_precheck(cfg->spool.path, err);
    if (rc)
        return rc;
    rc = sa_spool_open(out, &cfg->spool, SA_SPOOL_CREATE, err);
    if (rc)
        return rc;
    rc = sa_schemas_store(schemas, *out, err);
    if (rc) {
        sa_spool_close(*out);
        *out = NULL;
    }
    return rc;
}

int sa_cli_lock_data_dir(const struct sa_config *cfg, struct sa_err *err)
{
    const char *dir = cfg->agent.data_dir;
    char failed[4096];

    if (sa_mkdirs(dir, 0750, failed, sizeof failed) != 0)
        return sa_err_set(err, SA_ECONFIG, "agent.data_dir: cannot create directory "
                          "%s: %s", failed, strerror(errno));
    if (access(dir, R_OK | W_OK | X_OK) != 0)
        return sa_err_set(err, SA_ECONFIG, "agent.data_dir %s is not readable and "
                          "writable: %s", dir, strerror(errno));
    return lock_spool(cfg, err);
}

int sa_cli_open_spool_rw(const struct sa_config *cfg, struct sa_schema_set *schemas,
                         struct sa_spool **out, struct sa_err *err)
{
    const char *dir = cfg->agent.data_dir;
    int rc;

    *out = NULL;
    rc = sa_cli_lock_data_dir(cfg, err);
    if (rc)
        return rc;
    rc = open_rw(cfg, schemas, out, err);
    /* A disk that something else filled to the last block: SQLite cannot
     * even set up the WAL. The reserve's blocks let the agent start, so
     * that sinks can drain and trim, which frees space (store/spool.h). */
    if ((rc == SA_EIO || rc == SA_EFULL) && sa_spool_release_reserve(cfg->spool.path)) {
        char bytes[32];
        snprintf(bytes, sizeof bytes, "%d", SA_SPOOL_RESERVE_BYTES);
        sa_log_warn("disk full at start: released the spool's reserve so that "
                    "sinks can drain", "error", err->msg, "reserve_bytes", bytes);
        sa_err_clear(err);
        rc = open_rw(cfg, schemas, out, err);
    }
    if (!rc) {
        sa_spool_keep_reserve(*out);
    } else if (rc == SA_EIO || rc == SA_EFULL) {
        struct statvfs vfs;
        if (statvfs(dir, &vfs) == 0 && vfs.f_bavail == 0) {
            char msg[SA_ERR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s (the disk holding %s has no free block "
                     "left, and no spool reserve to give up: free some space)",
                     err->msg, dir);
            sa_err_set(err, rc, "%s", msg);
        }
    }
    return rc;
}

int sa_cli_whole_number(const char *text, int64_t min, int64_t max, int64_t *out)
{
    const char *p = text;
    uint64_t magnitude = 0, limit;
    int negative = 0;

    if (*p == '-' && min < 0) {
        negative = 1;
        p++;
    }
    /* INT64_MIN's magnitude is one more than INT64_MAX's. */
    limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (!isdigit((unsigned char)*p))
        goto bad;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (magnitude > (limit - digit) / 10)
            goto bad;
        magnitude = magnitude * 10 + digit;
    }
    if (*p)
        goto bad;
    if (negative)
        *out = magnitude == limit ? INT64_MIN : -(int64_t)magnitude;
    else
        *out = (int64_t)magnitude;
    if (*out < min || *out > max)
        goto bad;
    return 0;
bad:
    return -1;
}

int sa_cli_parse_int(const char *cmd, const char *opt, const char *text, int64_t min,
                     int64_t max, int64_t *out)
{
    if (sa_cli_whole_number(text, min, max, out) == 0)
        return 0;
    if (min == 0 && max == INT64_MAX)
        fprintf(stderr, "syncagent %s: %s: '%s' is not a whole number >= 0\n", cmd, opt,
                text);
    else if (min == INT64_MIN && max == INT64_MAX)
        fprintf(stderr, "syncagent %s: %s: '%s' is not a whole number\n", cmd, opt,
                text);
    else
        fprintf(stderr, "syncagent %s: %s: '%s' is not a whole number in %lld..%lld\n",
                cmd, opt, text, (long long)min, (long long)max);
    return SA_EXIT_USAGE;
}

int sa_cli_exit_code(int rc)
{
    switch (rc) {
    case SA_OK:
        return SA_EXIT_OK;
    case SA_EINVAL:
    case SA_ECONFIG:
    case SA_ESCHEMA:
    case SA_EFORMAT:
    case SA_ECORRUPT:
    case SA_ENOTFOUND:
    case SA_EPARSE:
    case SA_EBUSY:
        return SA_EXIT_USAGE;
    default:
        return SA_EXIT_FAIL;
    }
}

int sa_cli_fail(const char *cmd, const struct sa_err *err)
{
    fprintf(stderr, "syncagent %s: %s\n", cmd,
            err->msg[0] ? err->msg : sa_strerror(err->rc));
    return sa_cli_exit_code(err->rc);
}
