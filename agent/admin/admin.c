/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin HTTP server: libmicrohttpd serving the route tables of api.c
 * (/metrics, /healthz, /readyz, /api/v1/status, /api/v1/reload) and page.c
 * (the status page) while `run` runs.
 *
 * THREADS
 *
 * libmicrohttpd's own: a pool of POOL_THREADS polling threads sharing the
 * listening socket, each serving its connections to the end of a request.
 * A handler runs on one of them. The agent's threads never wait for the
 * server except in sa_admin_set_runtime (for a handler that is reading the
 * runtime) and sa_admin_stop (for running requests). The main thread calls
 * sa_admin_set_runtime and sa_admin_reload_done; nothing else of the server
 * is touched by the agent's threads.
 *
 * WHAT IT READS, AND FROM WHERE
 *
 *   counters, histograms  the metrics registry (agent/base/metrics.h),
 *                         counted by the pipeline and the dispatcher where
 *                         the events happen; read with relaxed loads.
 *   spool gauges          spool bytes, lag per sink, open dead letters per
 *                         stream: the server's own read-only spool handle
 *                         (sa_status_read, the code of `status`), refreshed
 *                         by a registry collector at most once a second,
 *                         so that scrapes at any rate cost SQLite one read
 *                         a second.
 *   /api/v1/status        the same read, fresh, and sa_status_json: the
 *                         `status --json` object.
 *   /readyz               the pipeline's stats (blocked) and the
 *                         dispatcher's per-sink failing_since_ms.
 *   process_*             /proc/self (process.c).
 *
 * INVARIANTS
 *
 *   A1 A handler reads the runtime (config, pipeline stats, dispatcher)
 *      only under rt_lock with have_rt set; sa_admin_set_runtime(NULL)
 *      takes rt_lock, so once it returns no handler uses the old runtime
 *      and the main loop may free it. During a reload, status and readyz
 *      answer 503 "reloading".
 *   A2 What a client can make the server hold is bounded: connections by
 *      admin.max_connections (closed at accept beyond it), the request line
 *      and headers by admin.max_request_bytes (libmicrohttpd's connection
 *      memory: beyond it 431/414), a body by the same (413, at the
 *      Content-Length when there is one, else when the cap is passed, the
 *      rest discarded), time by admin.request_timeout.
 *   A3 The token is compared in constant time: SHA-256 of both sides and
 *      CRYPTO_memcmp, so neither the length nor a prefix leaks. A route
 *      with needs_token and no admin.token configured answers 403.
 *   A4 Binding beyond loopback without admin.token is refused at start
 *      (SA_ECONFIG): anyone on the network could otherwise reload the
 *      agent, and read what it ships.
 *
 * REQUEST LIFECYCLE (on_request, called by libmicrohttpd several times)
 *
 *   first call      allocate struct request; a Content-Length above the
 *                   cap is answered 413 at once
 *   body chunks     appended to request.body up to the cap (sa_buf), then
 *                   counted and dropped (too_big)
 *   last call       413 when too_big, else sa_admin_dispatch: 404/405,
 *                   token check, the route's handler; the response queued
 *   completed       on_completed frees the request
 */
#include "agent/admin/admin_private.h"

#include "agent/admin/page.h"

#include "agent/base/clock.h"
#include "agent/base/log.h"
#include "agent/base/sha256.h"
#include "agent/pipeline.h"
#include "sync/dispatcher.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define POOL_THREADS 2
#define LISTEN_BACKLOG 128
#define GAUGE_REFRESH_MS 1000

/* --- listen address ------------------------------------------------------- */

/* Split "host:port" or "[v6]:port" into host and port. */
static int split_listen(const char *text, char *host, size_t host_size, char *port,
                        size_t port_size)
{
    const char *colon;
    size_t host_len;

    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return SA_ECONFIG;
        host_len = (size_t)(close - text - 1);
        text++;
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon || memchr(text, ':', (size_t)(colon - text)))
            return SA_ECONFIG; /* a bare v6 address needs brackets */
        host_len = (size_t)(colon - text);
    }
    if (host_len >= host_size || strlen(colon + 1) >= port_size || !colon[1])
        return SA_ECONFIG;
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    snprintf(port, port_size, "%s", colon + 1);
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9')
            return SA_ECONFIG;
    if (atol(port) > 65535)
        return SA_ECONFIG;
    return SA_OK;
}

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
               in6->sin6_addr.s6_addr[12] == 127;
    }
    return 0;
}

static void format_address(const struct sockaddr *sa, char *out, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(out, size, "%s:%u", host, port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(out, size, "[%s]:%u", host, port);
    }
}

/* Resolve admin.listen, refuse it beyond loopback without a token (A4),
 * bind and listen. */
static int open_listener(struct sa_admin *a, const char *listen_text,
                         struct sa_err *err)
{
    char host[256], port[8];
    struct addrinfo hints, *res = NULL;
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof bound;
    int fd = -1, one = 1, gai, rc = SA_OK;

    if (split_listen(listen_text, host, sizeof host, port, sizeof port))
        return sa_err_set(err, SA_ECONFIG,
                          "admin.listen \"%s\": expected host:port or [v6]:port",
                          listen_text);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai)
        return sa_err_set(err, SA_ECONFIG, "admin.listen \"%s\": %s", listen_text,
                          gai_strerror(gai));
    if (!is_loopback(res->ai_addr) && (!a->conf.token || !a->conf.token[0])) {
        rc = sa_err_set(err, SA_ECONFIG,
                        "admin.listen \"%s\" is reachable beyond this host: set "
                        "admin.token (the reload route's bearer token), or listen "
                        "on 127.0.0.1",
                        listen_text);
        goto out;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = sa_err_set(err, SA_EIO, "admin.listen \"%s\": socket: %s", listen_text,
                        strerror(errno));
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0) {
        int e = errno;
        rc = sa_err_set(err, e == EADDRINUSE ? SA_EBUSY : SA_EIO,
                        "admin.listen \"%s\": cannot listen: %s%s", listen_text,
                        strerror(e),
                        e == EADDRINUSE ? " (another process holds the port: set "
                                          "admin.listen to a free one, or "
                                          "admin.enabled: false)"
                                        : "");
        goto out;
    }
    if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) == 0)
        format_address((struct sockaddr *)&bound, a->address, sizeof a->address);
    a->listen_fd = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return rc;
}

/* --- token ---------------------------------------------------------------- */

/* "Bearer <token>" against the configured token, in constant time (A3). */
static int token_ok(const char *expected, const char *authorization)
{
    unsigned char want[32], got[32];
    const char *p = authorization;
    int match;

    if (!p || strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
        return 0;
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    sa_sha256(expected, strlen(expected), want);
    sa_sha256(p, strlen(p), got);
    match = CRYPTO_memcmp(want, got, sizeof want) == 0;
    /* An empty token never matches, even an empty expected one. */
    return match && *p;
}

/* --- routing -------------------------------------------------------------- */

static const struct sa_admin_route *const route_tables[] = {sa_admin_api_routes,
                                                            sa_admin_page_routes};

void sa_admin_reply(struct sa_admin_response *resp, int status, const char *fmt, ...)
{
    va_list ap;
    char text[1024];

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    sa_buf_reset(&resp->body);
    if (sa_buf_append_str(&resp->body, text) == SA_OK)
        sa_buf_append_byte(&resp->body, '\n');
}

void sa_admin_dispatch(struct sa_admin *a, const struct sa_admin_request *req,
                       struct sa_admin_response *resp, const char **allow)
{
    const struct sa_admin_route *found = NULL;
    int path_known = 0, is_head = strcmp(req->method, "HEAD") == 0;

    *allow = NULL;
    for (size_t t = 0; t < sizeof route_tables / sizeof route_tables[0] && !found; t++)
        for (const struct sa_admin_route *r = route_tables[t]; r->path; r++) {
            if (strcmp(r->path, req->path) != 0)
                continue;
            path_known = 1;
            if (strcmp(r->method, req->method) == 0 ||
                (is_head && strcmp(r->method, "GET") == 0)) {
                found = r;
                break;
            }
            *allow = r->method; /* one method per path in these tables */
        }
    if (!found) {
        /* The method is not echoed: a client's bytes stay out of replies. */
        if (path_known)
            sa_admin_reply(resp, 405, "method not allowed (allowed: %s)",
                           strcmp(*allow, "GET") == 0 ? "GET, HEAD" : *allow);
        else
            sa_admin_reply(resp, 404, "not found");
        return;
    }
    *allow = NULL;
    if (found->needs_token) {
        if (!a || !a->conf.token || !a->conf.token[0]) {
            sa_admin_reply(resp, 403, "admin.token is not set: this route is off");
            return;
        }
        if (!token_ok(a->conf.token, req->authorization)) {
            sa_admin_reply(resp, 401, "%s bearer token",
                           req->authorization ? "wrong" : "missing");
            return;
        }
    }
    resp->status = 200;
    found->handler(a, req, resp);
    if (resp->status == 0)
        resp->status = 200;
}

const char *sa_admin_query(const struct sa_admin_request *req, const char *key)
{
    if (!req->conn)
        return NULL;
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* --- libmicrohttpd glue --------------------------------------------------- */

struct request {
    struct sa_buf body;
    int too_big;
    int answered; /* a response was queued early (413 at Content-Length) */
};

static enum MHD_Result queue(struct MHD_Connection *conn,
                             struct sa_admin_response *resp, const char *allow)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(resp->body.len, resp->body.data,
                                        MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type
                                               : "text/plain; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
                                strcmp(allow, "GET") == 0 ? "GET, HEAD" : allow);
    if (resp->status == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result too_big(struct sa_admin *a, struct MHD_Connection *conn)
{
    struct sa_admin_response resp = {0};
    enum MHD_Result ret;

    sa_buf_init(&resp.body, 4096);
    sa_admin_reply(&resp, 413, "request body over admin.max_request_bytes (%lld)",
                   (long long)a->conf.max_request_bytes);
    ret = queue(conn, &resp, NULL);
    sa_buf_fini(&resp.body);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct sa_admin *a = cls;
    struct request *st = *con_cls;
    struct sa_admin_request req;
    struct sa_admin_response resp = {0};
    const char *allow = NULL;
    enum MHD_Result ret;
    (void)version;

    if (!st) {
        const char *length =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        sa_buf_init(&st->body, (size_t)a->conf.max_request_bytes);
        *con_cls = st;
        if (length && strtoull(length, NULL, 10) >
                          (unsigned long long)a->conf.max_request_bytes) {
            st->answered = 1;
            return too_big(a, conn);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!st->too_big && !st->answered &&
            sa_buf_append(&st->body, upload_data, *upload_data_size) != SA_OK)
            st->too_big = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->answered)
        return MHD_YES;
    if (st->too_big)
        return too_big(a, conn);
    if (sa_buf_terminate(&st->body) != SA_OK)
        return too_big(a, conn);

    req.method = method;
    req.path = url;
    req.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION);
    req.body = st->body.data ? (const char *)st->body.data : "";
    req.body_len = st->body.len;
    req.conn = conn;
    sa_buf_init(&resp.body, SA_ADMIN_MAX_RESPONSE);
    sa_admin_dispatch(a, &req, &resp, &allow);
    ret = queue(conn, &resp, allow);
    sa_buf_fini(&resp.body);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    struct request *st = *con_cls;
    (void)cls;
    (void)conn;
    (void)why;

    if (st) {
        sa_buf_fini(&st->body);
        free(st);
        *con_cls = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char text[512];
    size_t n;
    (void)cls;

    vsnprintf(text, sizeof text, fmt, ap);
    n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    /* Client errors (a peer closing early, a request too large) are the
     * client's business: debug, not a warning per bad request. */
    sa_log_debug("admin server", "detail", text);
}

/* --- spool gauges --------------------------------------------------------- */

static void free_gauge_tables(struct sa_admin *a)
{
    free(a->sink_lag_records);
    free(a->sink_lag_seconds);
    free(a->deadletters);
    for (size_t i = 0; i < a->n_streams; i++)
        free(a->deadletter_streams[i]);
    free(a->deadletter_streams);
    a->sink_lag_records = a->sink_lag_seconds = a->deadletters = NULL;
    a->deadletter_streams = NULL;
    a->n_sinks = a->n_streams = 0;
}

static int has_stream(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

/* The gauges of the runtime's sinks and streams, registered when it is
 * set, so that a scrape shows 0 rather than nothing for a stream without
 * dead letters. */
static int register_runtime_gauges(struct sa_admin *a, const struct sa_config *cfg,
                                   struct sa_err *err)
{
    struct sa_metrics *m = sa_metrics_global();
    int rc = SA_OK;

    a->sink_lag_records = calloc(cfg->n_sinks + 1, sizeof *a->sink_lag_records);
    a->sink_lag_seconds = calloc(cfg->n_sinks + 1, sizeof *a->sink_lag_seconds);
    a->deadletters = calloc(cfg->n_sources + 1, sizeof *a->deadletters);
    a->deadletter_streams = calloc(cfg->n_sources + 1, sizeof *a->deadletter_streams);
    if (!a->sink_lag_records || !a->sink_lag_seconds || !a->deadletters ||
        !a->deadletter_streams)
        return sa_err_set(err, SA_ENOMEM, "admin: out of memory");
    for (size_t i = 0; i < cfg->n_sinks && rc == SA_OK; i++) {
        const char *const labels[] = {"sink", cfg->sinks[i].name, NULL};
        rc = sa_metrics_gauge(m, "syncagent_sink_lag_records",
                              "Records spooled that the sink has not acknowledged.",
                              labels, &a->sink_lag_records[i], err);
        if (rc == SA_OK)
            rc = sa_metrics_gauge(m, "syncagent_sink_lag_seconds",
                                  "Age of the oldest record the sink has not "
                                  "acknowledged (0: none).",
                                  labels, &a->sink_lag_seconds[i], err);
        a->n_sinks = i + 1;
    }
    for (size_t i = 0; i < cfg->n_sources && rc == SA_OK; i++) {
        const char *stream = cfg->sources[i].stream;
        if (has_stream(a->deadletter_streams, a->n_streams, stream))
            continue;
        if (!(a->deadletter_streams[a->n_streams] = strdup(stream)))
            return sa_err_set(err, SA_ENOMEM, "admin: out of memory");
        rc = sa_metrics_gauge(m, "syncagent_deadletters",
                              "Open dead letters in the spool, by stream.",
                              (const char *[]){"stream", stream, NULL},
                              &a->deadletters[a->n_streams], err);
        a->n_streams++;
    }
    if (rc == SA_OK)
        rc = sa_metrics_gauge(m, "syncagent_spool_bytes",
                              "Bytes the spool database uses.", NULL, &a->spool_bytes,
                              err);
    if (rc == SA_OK)
        rc = sa_metrics_gauge(m, "syncagent_spool_max_bytes",
                              "The spool's cap (spool.max_bytes; 0: none).", NULL,
                              &a->spool_max_bytes, err);
    if (rc == SA_OK)
        sa_gauge_set(a->spool_max_bytes, (double)cfg->spool.max_bytes);
    return rc;
}

/* Under rt_lock with have_rt: the server's read-only spool handle. */
static int open_spool(struct sa_admin *a, struct sa_err *err)
{
    if (a->spool)
        return SA_OK;
    return sa_spool_open(&a->spool, &a->rt.cfg->spool, SA_SPOOL_READONLY, err);
}

static void set_deadletters(void *arg, const char *stream, int64_t n)
{
    struct sa_admin *a = arg;

    for (size_t i = 0; i < a->n_streams; i++)
        if (strcmp(a->deadletter_streams[i], stream) == 0)
            sa_gauge_set(a->deadletters[i], (double)n);
}

/* Registry collector: refresh the spool gauges at most once a second,
 * with only the reads they need (not the whole status: its per-stream
 * totals scan every segment, whatever the sinks' lag). */
static void collect_spool(void *arg)
{
    struct sa_admin *a = arg;
    struct sa_err err = {0};
    int64_t now = sa_mono_ms(), bytes = 0;

    pthread_mutex_lock(&a->rt_lock);
    if (!a->have_rt ||
        (a->gauges_mono_ms && now - a->gauges_mono_ms < GAUGE_REFRESH_MS))
        goto out;
    a->gauges_mono_ms = now;
    if (open_spool(a, &err) || sa_spool_used_bytes(a->spool, &bytes, &err))
        goto fail;
    sa_gauge_set(a->spool_bytes, (double)bytes);
    for (size_t i = 0; i < a->rt.cfg->n_sinks && i < a->n_sinks; i++) {
        const struct sa_sink_conf *sink = &a->rt.cfg->sinks[i];
        struct sa_status_sink lag = {.conf = sink};
        if (sa_spool_cursor_get(a->spool, sink->name, &lag.cursor, &err) ||
            sa_spool_lag(a->spool, &lag.cursor, (const char *const *)sink->streams.v,
                         sink->streams.n, &lag.lag_records, &lag.oldest_ms, &err))
            goto fail;
        sa_gauge_set(a->sink_lag_records[i], (double)lag.lag_records);
        sa_gauge_set(a->sink_lag_seconds[i], sa_status_lag_seconds(&lag, sa_now_ms()));
    }
    for (size_t i = 0; i < a->n_streams; i++)
        sa_gauge_set(a->deadletters[i], 0);
    if (sa_spool_deadletters_by_stream(a->spool, set_deadletters, a, &err))
        goto fail;
    goto out;
fail:
    sa_log_warn("admin: cannot read the spool for /metrics", "error", err.msg);
out:
    pthread_mutex_unlock(&a->rt_lock);
}

/* --- the agent's side ----------------------------------------------------- */

void sa_admin_set_runtime(struct sa_admin *a, const struct sa_admin_runtime *rt)
{
    struct sa_err err = {0};

    if (!a)
        return;
    pthread_mutex_lock(&a->rt_lock);
    sa_spool_close(a->spool);
    a->spool = NULL;
    free_gauge_tables(a);
    a->have_rt = rt != NULL;
    a->gauges_mono_ms = 0;
    if (rt) {
        /* Said once the agent is up, not at the bind: a start that fails
         * later (a data directory another writer holds) prints one line. */
        if (!a->announced)
            sa_log_info("admin server listening", "address", a->address, "token",
                        a->conf.token && a->conf.token[0] ? "set" : "none");
        a->announced = 1;
        a->rt = *rt;
        if (register_runtime_gauges(a, rt->cfg, &err)) {
            sa_log_warn("admin: cannot register the spool gauges", "error", err.msg);
            free_gauge_tables(a);
        }
    } else {
        memset(&a->rt, 0, sizeof a->rt);
    }
    pthread_mutex_unlock(&a->rt_lock);
}

int sa_admin_status_json(struct sa_admin *a, char **out, struct sa_err *err)
{
    struct sa_status st;
    int rc;

    *out = NULL;
    memset(&st, 0, sizeof st);
    pthread_mutex_lock(&a->rt_lock);
    if (!a->have_rt) {
        rc = sa_err_set(err, SA_EAGAIN, "the agent is starting or reloading");
        goto out;
    }
    rc = open_spool(a, err);
    if (rc == SA_OK)
        rc = sa_status_read(a->rt.cfg, a->spool, &st, err);
    if (rc == SA_OK && !(*out = sa_status_json(a->rt.cfg, &st)))
        rc = sa_err_set(err, SA_ENOMEM, "out of memory");
out:
    pthread_mutex_unlock(&a->rt_lock);
    sa_status_fini(&st);
    return rc;
}

int sa_admin_ready(struct sa_admin *a, char *why, size_t why_size)
{
    struct sa_sink_metrics sinks[64];
    size_t n;
    int ready = 1;
    int64_t now = sa_now_ms();

    pthread_mutex_lock(&a->rt_lock);
    if (!a->have_rt) {
        snprintf(why, why_size, "not ready: the agent is starting or reloading");
        ready = 0;
        goto out;
    }
    if (a->rt.ingest && atomic_load(&a->rt.ingest->blocked)) {
        snprintf(why, why_size,
                 "not ready: ingest paused: the spool is full (spool.max_bytes %lld, "
                 "when_full: block)",
                 (long long)a->rt.cfg->spool.max_bytes);
        ready = 0;
        goto out;
    }
    n = a->rt.dispatcher ? sa_dispatcher_metrics(a->rt.dispatcher, sinks, 64) : 0;
    for (size_t i = 0; i < n; i++) {
        int64_t since = sinks[i].failing_since_ms;
        if (since && now - since >= a->health.sink_down_after_ms) {
            snprintf(why, why_size,
                     "not ready: sink %s has failed for %lld s "
                     "(health.sink_down_after %lld s): %s",
                     sinks[i].name, (long long)((now - since) / 1000),
                     (long long)(a->health.sink_down_after_ms / 1000),
                     sinks[i].last_error[0] ? sinks[i].last_error : "no detail");
            ready = 0;
            goto out;
        }
    }
    snprintf(why, why_size, "ready");
out:
    pthread_mutex_unlock(&a->rt_lock);
    return ready;
}

void sa_admin_reload_done(struct sa_admin *a, int rc, const char *why)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->reload_lock);
    a->reload_gen++;
    a->reload_rc = rc;
    snprintf(a->reload_why, sizeof a->reload_why, "%s", why ? why : "");
    pthread_cond_broadcast(&a->reload_cv);
    pthread_mutex_unlock(&a->reload_lock);
}

int sa_admin_request_reload(struct sa_admin *a, int64_t timeout_ms, char *why,
                            size_t why_size)
{
    struct timespec deadline;
    uint64_t gen;
    int rc = SA_EAGAIN;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    sa_timespec_add_ms(&deadline, timeout_ms);
    pthread_mutex_lock(&a->reload_lock);
    gen = a->reload_gen;
    atomic_store(a->reload_flag, 1);
    while (a->reload_gen == gen)
        if (pthread_cond_timedwait(&a->reload_cv, &a->reload_lock, &deadline) != 0)
            break;
    if (a->reload_gen != gen) {
        rc = a->reload_rc;
        snprintf(why, why_size, "%s", a->reload_why);
    } else {
        snprintf(why, why_size, "the reload did not finish within %lld s",
                 (long long)(timeout_ms / 1000));
    }
    pthread_mutex_unlock(&a->reload_lock);
    return rc;
}

const char *sa_admin_address(const struct sa_admin *a)
{
    return a->address;
}

/* --- start and stop ------------------------------------------------------- */

static int copy_conf(struct sa_admin *a, const struct sa_config *cfg,
                     struct sa_err *err)
{
    const char *env = getenv("SA_ADMIN_LISTEN");

    a->conf = cfg->admin;
    a->health = cfg->health;
    a->conf.listen = strdup(env && *env         ? env
                            : cfg->admin.listen ? cfg->admin.listen
                                                : "");
    a->conf.token = cfg->admin.token ? strdup(cfg->admin.token) : NULL;
    if (!a->conf.listen || (cfg->admin.token && !a->conf.token))
        return sa_err_set(err, SA_ENOMEM, "admin: out of memory");
    return SA_OK;
}

int sa_admin_start(struct sa_admin **out, const struct sa_config *cfg,
                   atomic_int *reload_flag, struct sa_err *err)
{
    struct sa_admin *a;
    pthread_condattr_t attr;
    unsigned memory;
    int rc;

    *out = NULL;
    if (!cfg || !cfg->admin.enabled)
        return SA_OK;
    a = calloc(1, sizeof *a);
    if (!a)
        return sa_err_set(err, SA_ENOMEM, "admin: out of memory");
    a->listen_fd = -1;
    a->collector_id = -1;
    a->reload_flag = reload_flag;
    pthread_mutex_init(&a->rt_lock, NULL);
    pthread_mutex_init(&a->reload_lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&a->reload_cv, &attr);
    pthread_condattr_destroy(&attr);

    rc = copy_conf(a, cfg, err);
    if (rc == SA_OK)
        rc = open_listener(a, a->conf.listen, err);
    if (rc)
        goto out;
    /* The connection's memory holds the request line and headers (and
     * libmicrohttpd's buffers); the body has its own cap (A2). */
    memory =
        (unsigned)(a->conf.max_request_bytes < 8192 ? 8192 : a->conf.max_request_bytes);
    a->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, on_request, a,
        MHD_OPTION_LISTEN_SOCKET, a->listen_fd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)POOL_THREADS, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)a->conf.max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)memory, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)((a->conf.request_timeout_ms + 999) / 1000),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, a, MHD_OPTION_END);
    if (!a->daemon) {
        rc = sa_err_set(err, SA_EIO, "admin.listen \"%s\": cannot start the server",
                        a->conf.listen);
        goto out;
    }
    a->listen_fd = -1; /* the daemon's now: MHD_stop_daemon closes it */
    a->collector_id = sa_metrics_add_collector(sa_metrics_global(), collect_spool, a);
    /* The status page's sample ring (page.c): history from now on. */
    rc = sa_page_start(err);
    if (rc)
        goto out;
    *out = a;
out:
    if (rc)
        sa_admin_stop(a);
    return rc;
}

void sa_admin_stop(struct sa_admin *a)
{
    if (!a)
        return;
    if (a->collector_id >= 0)
        sa_metrics_remove_collector(sa_metrics_global(), a->collector_id);
    if (a->daemon)
        MHD_stop_daemon(a->daemon);
    sa_page_stop();
    if (a->listen_fd >= 0)
        close(a->listen_fd);
    sa_admin_set_runtime(a, NULL);
    pthread_cond_destroy(&a->reload_cv);
    pthread_mutex_destroy(&a->reload_lock);
    pthread_mutex_destroy(&a->rt_lock);
    free(a->conf.listen);
    free(a->conf.token);
    free(a);
}
