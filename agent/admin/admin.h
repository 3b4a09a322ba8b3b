/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin HTTP server (admin.c): /metrics, health, the live status API
 * and reload, on libmicrohttpd, while `run` runs. Routes are static tables
 * of struct sa_admin_route: the API's in api.c, the status page's in
 * page.c (one file per owner, so that adding routes is adding a file's
 * lines, not editing the server). What is in no table is 404, a known path
 * with another method 405.
 */
#ifndef SA_ADMIN_ADMIN_H
#define SA_ADMIN_ADMIN_H

#include "agent/base/buf.h"
#include "agent/base/error.h"
#include "agent/config.h"

#include <stdatomic.h>
#include <stddef.h>

struct sa_admin;
struct sa_pipeline_stats;
struct sa_dispatcher;

/* A request as handlers see it; everything borrowed for the call. */
struct sa_admin_request {
    const char *method;        /* "GET", "POST", ... */
    const char *path;          /* the URL's path, without the query */
    const char *authorization; /* the Authorization header, NULL: none */
    const char *body;          /* NUL-terminated; "" when none */
    size_t body_len;
    void *conn; /* the libmicrohttpd connection (sa_admin_query); may be NULL */
};

/* What a handler fills. status 0 is taken as 200. Headers beyond
 * Content-Type are the server's (Allow, WWW-Authenticate, Cache-Control). */
struct sa_admin_response {
    int status;
    const char *content_type; /* a static string; NULL: text/plain */
    struct sa_buf body;       /* capped at SA_ADMIN_MAX_RESPONSE */
};

#define SA_ADMIN_MAX_RESPONSE ((size_t)16 << 20)

typedef void (*sa_admin_handler)(struct sa_admin *admin,
                                 const struct sa_admin_request *req,
                                 struct sa_admin_response *resp);

struct sa_admin_route {
    const char *method; /* GET routes answer HEAD too */
    const char *path;   /* exact match */
    sa_admin_handler handler;
    int needs_token; /* Authorization: Bearer <admin.token> */
};

/* The route tables, each ending with {0}: api.c's and page.c's. */
extern const struct sa_admin_route sa_admin_api_routes[];
extern const struct sa_admin_route sa_admin_page_routes[];

/* A query argument of the request (?key=value, decoded), NULL: none. */
const char *sa_admin_query(const struct sa_admin_request *req, const char *key);

/* Fill a response: a status and printf-formatted text (text/plain). */
void sa_admin_reply(struct sa_admin_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Start serving cfg->admin (unless admin.enabled is false or no config:
 * then *out is NULL and SA_OK). Refused with SA_ECONFIG when admin.listen
 * is not loopback and admin.token is empty; SA_EBUSY naming admin.listen
 * when the port is taken. The environment variable SA_ADMIN_LISTEN
 * overrides admin.listen. `reload_flag` is what SIGHUP sets: POST
 * /api/v1/reload sets it and waits for sa_admin_reload_done().
 */
int sa_admin_start(struct sa_admin **out, const struct sa_config *cfg,
                   atomic_int *reload_flag, struct sa_err *err);
/* Stop serving and free (NULL: nothing). Waits for running requests. */
void sa_admin_stop(struct sa_admin *admin);

/* What the server reads from the running agent; all borrowed until the
 * next call. The caller sets it after each start of the runtime and sets
 * NULL before stopping it: this waits for handlers that use it. */
struct sa_admin_runtime {
    const struct sa_config *cfg;
    const struct sa_pipeline_stats *ingest;
    struct sa_dispatcher *dispatcher;
};
void sa_admin_set_runtime(struct sa_admin *admin, const struct sa_admin_runtime *rt);

/* The main loop finished a reload (from SIGHUP or HTTP): rc and why. */
void sa_admin_reload_done(struct sa_admin *admin, int rc, const char *why);

/* For handlers: the live `status --json` object (malloc'd text), or
 * SA_EAGAIN while the runtime restarts. */
int sa_admin_status_json(struct sa_admin *admin, char **out, struct sa_err *err);

/* For handlers: 1 when ready; else 0 with why (the /readyz body). */
int sa_admin_ready(struct sa_admin *admin, char *why, size_t why_size);

/* The address the server listens on ("127.0.0.1:8686"). */
const char *sa_admin_address(const struct sa_admin *admin);

/* process_* and syncagent_build_info (process.c): register once. */
int sa_admin_process_metrics(struct sa_err *err);

/* Route a request through the tables (token check, 404/405) into resp;
 * what the server does for each request, exposed for the fuzz target. */
void sa_admin_dispatch(struct sa_admin *admin, const struct sa_admin_request *req,
                       struct sa_admin_response *resp, const char **allow /* out */);

#endif
