/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP client every store sink shares (elasticsearch, clickhouse,
 * http), over libcurl's multi interface. No sink talks to libcurl itself.
 *
 * One client per sink, used by the sink's worker thread only (it wraps
 * one CURLM handle, which is not thread-safe). The client keeps its
 * connections open between requests (keep-alive through the multi
 * handle's connection cache, at most max_connections to the host), and
 * offers:
 *
 *   sa_http_submit   queue a request; it starts at once, several may run
 *                    at the same time on different connections
 *   sa_http_poll     drive the transfers for up to timeout_ms and hand
 *                    each finished request, with its response, to a
 *                    callback
 *   sa_http_call     one request, synchronously, for setup (installing an
 *                    index template, creating a table); it does not touch
 *                    the requests in flight
 *
 * Shared settings (struct sa_http_conf) enter a sink's config map through
 * SA_HTTP_CONF_ENTRIES, so every store sink takes the same keys:
 *   url, connect_timeout, request_timeout, gzip, tls_verify, ca_file,
 *   cert, key, username, password, bearer_token, proxy, max_connections,
 *   max_response_bytes.
 * password and bearer_token are SA_CONF_SECRET: give them through
 * ${env:NAME} or ${file:PATH}. The client never puts a secret into a
 * message: URLs in messages lose their userinfo and query string.
 *
 * Outcomes: the client does not judge statuses. A response with any HTTP
 * status is a response (status > 0, error ""); only a transport failure
 * (DNS, refused, reset, timeout, TLS trust, over max_response_bytes) has
 * status 0 and an error text "METHOD URL: reason". The sink decides what
 * is retried, with Retry-After already parsed into milliseconds.
 */
#ifndef SA_SYNC_HTTP_H
#define SA_SYNC_HTTP_H

#include "agent/base/buf.h"
#include "agent/base/confmap.h"
#include "agent/base/error.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The shared settings, filled by a config map (SA_HTTP_CONF_ENTRIES);
 * strings are owned by the config. */
struct sa_http_conf {
    char *url;                  /* base URL; request paths are appended */
    int64_t connect_timeout_ms; /* TCP + TLS handshake */
    int64_t request_timeout_ms; /* a whole request, from its start */
    int gzip;                   /* gzip request bodies (Content-Encoding) */
    int tls_verify;             /* verify the peer's certificate and name */
    char *ca_file;              /* PEM bundle of trusted CAs; NULL: system */
    char *cert;                 /* PEM client certificate (mutual TLS) */
    char *key;                  /* PEM key of cert */
    char *username;             /* basic auth */
    char *password;             /* secret */
    char *bearer_token;         /* secret: "Authorization: Bearer <token>" */
    char *proxy;                /* "http://host:port"; NULL: none (no env) */
    int64_t max_connections;    /* to the host, at the same time */
    int64_t max_response_bytes; /* a longer response is a transport error */
};

/*
 * Config-map rows for a struct sa_http_conf member `member` of struct
 * `st`. Put it among the sink's own entries:
 *
 *   static const struct sa_conf_entry es_conf[] = {
 *       SA_HTTP_CONF_ENTRIES(struct es_opts, http),
 *       {.type = SA_CONF_STR, .key = "index", ...},
 *       {.key = NULL},
 *   };
 */
#define SA_HTTP_CONF_ENTRIES(st, member)                                               \
    {.type = SA_CONF_STR,                                                              \
     .key = "url",                                                                     \
     .offset = offsetof(st, member.url),                                               \
     .flags = SA_CONF_REQUIRED,                                                        \
     .desc = "base URL (http:// or https://); request paths are appended"},            \
        {.type = SA_CONF_DURATION,                                                     \
         .key = "connect_timeout",                                                     \
         .def = "5s",                                                                  \
         .offset = offsetof(st, member.connect_timeout_ms),                            \
         .min = 1,                                                                     \
         .max = 600000,                                                                \
         .desc = "time to connect, TLS handshake included"},                           \
        {.type = SA_CONF_DURATION,                                                     \
         .key = "request_timeout",                                                     \
         .def = "30s",                                                                 \
         .offset = offsetof(st, member.request_timeout_ms),                            \
         .min = 1,                                                                     \
         .max = 3600000,                                                               \
         .desc = "time for a whole request; a slower one is retried"},                 \
        {.type = SA_CONF_BOOL,                                                         \
         .key = "gzip",                                                                \
         .def = "false",                                                               \
         .offset = offsetof(st, member.gzip),                                          \
         .desc = "gzip request bodies (Content-Encoding: gzip)"},                      \
        {.type = SA_CONF_BOOL,                                                         \
         .key = "tls_verify",                                                          \
         .def = "true",                                                                \
         .offset = offsetof(st, member.tls_verify),                                    \
         .desc = "verify the server's certificate and host name (https)"},             \
        {.type = SA_CONF_STR,                                                          \
         .key = "ca_file",                                                             \
         .offset = offsetof(st, member.ca_file),                                       \
         .flags = SA_CONF_PATH,                                                        \
         .desc = "PEM file of the CAs to trust (default: the system's)"},              \
        {.type = SA_CONF_STR,                                                          \
         .key = "cert",                                                                \
         .offset = offsetof(st, member.cert),                                          \
         .flags = SA_CONF_PATH,                                                        \
         .desc = "PEM client certificate for mutual TLS (with key)"},                  \
        {.type = SA_CONF_STR,                                                          \
         .key = "key",                                                                 \
         .offset = offsetof(st, member.key),                                           \
         .flags = SA_CONF_PATH,                                                        \
         .desc = "PEM private key of cert"},                                           \
        {.type = SA_CONF_STR,                                                          \
         .key = "username",                                                            \
         .offset = offsetof(st, member.username),                                      \
         .desc = "basic-auth user"},                                                   \
        {.type = SA_CONF_STR,                                                          \
         .key = "password",                                                            \
         .offset = offsetof(st, member.password),                                      \
         .flags = SA_CONF_SECRET,                                                      \
         .desc = "basic-auth password (use ${file:PATH} or ${env:NAME})"},             \
        {.type = SA_CONF_STR,                                                          \
         .key = "bearer_token",                                                        \
         .offset = offsetof(st, member.bearer_token),                                  \
         .flags = SA_CONF_SECRET,                                                      \
         .desc = "sent as Authorization: Bearer (use ${file:PATH} or "                 \
                 "${env:NAME})"},                                                      \
        {.type = SA_CONF_STR,                                                          \
         .key = "proxy",                                                               \
         .offset = offsetof(st, member.proxy),                                         \
         .desc = "HTTP proxy URL (default: none; the environment is ignored)"},        \
        {.type = SA_CONF_INT,                                                          \
         .key = "max_connections",                                                     \
         .def = "4",                                                                   \
         .offset = offsetof(st, member.max_connections),                               \
         .min = 1,                                                                     \
         .max = 256,                                                                   \
         .desc = "connections to the server at the same time"},                        \
    {                                                                                  \
        .type = SA_CONF_SIZE, .key = "max_response_bytes", .def = "64MiB",             \
        .offset = offsetof(st, member.max_response_bytes), .min = 1024,                \
        .max = INT64_MAX, .desc = "a longer response fails the request"                \
    }

/* Refuse what the client would refuse, without connecting: a URL that is
 * not http(s)://host..., cert without key (or the reverse), a username
 * with a bearer token, unreadable ca_file/cert/key. Errors name the key
 * through sa_conf_fail(origin, ...). For a sink's check op. */
int sa_http_conf_check(const struct sa_http_conf *conf,
                       const struct sa_conf_origin *origin, struct sa_err *err);

struct sa_http_client;

/* Make a client for conf. conf is borrowed and must outlive the client
 * (it belongs to the config, which does). name (the sink's) is copied,
 * for log lines. *out is owned by the caller: sa_http_client_free. */
int sa_http_client_new(const struct sa_http_conf *conf, const char *name,
                       struct sa_http_client **out, struct sa_err *err);
/* Abort the requests in flight (their callbacks are not called), close
 * the connections, wipe the secrets. NULL is fine. */
void sa_http_client_free(struct sa_http_client *client);

struct sa_http_request {
    const char *method; /* "POST", "PUT", "GET", "HEAD", "DELETE"; copied */
    /* Appended to conf->url ("/_bulk", "/?query=..."); or a whole URL when
     * it starts with http:// or https://. Copied. NULL: conf->url. */
    const char *path;
    /* "Name: value" strings, NULL-terminated, copied; may be NULL. The
     * client adds Content-Encoding, Authorization and Content-Length. */
    const char *const *headers;
    /* Taken over by sa_http_submit/sa_http_call, which leave it empty
     * (a fresh sa_buf_init) for the caller to reuse. */
    struct sa_buf body;
    void *user; /* handed back in the response */
};

struct sa_http_response {
    void *user;          /* from the request */
    long status;         /* HTTP status; 0 on a transport failure */
    const char *error;   /* "" or "METHOD URL: reason" (no secrets) */
    const uint8_t *body; /* NUL-terminated; borrowed for the callback */
    size_t body_len;
    int64_t retry_after_ms; /* from Retry-After (seconds or date); -1: none */
    /* The request's body as submitted (before gzip), borrowed for the
     * callback: a sink can split a refused batch without re-encoding. */
    const struct sa_buf *request_body;
};

/* Called by sa_http_poll once for each finished request. The response and
 * what it points to are valid during the call only. It must not call
 * sa_http_submit, sa_http_poll or sa_http_client_free: note what to send
 * and submit it after sa_http_poll returns. */
typedef void (*sa_http_done_fn)(const struct sa_http_response *resp, void *arg);

/* Queue req and start it. Takes req->body over (also on error). Never
 * blocks on the network. Errors: SA_ENOMEM, SA_ESINK (libcurl refused the
 * options, e.g. a bad URL: err names it). */
int sa_http_submit(struct sa_http_client *client, struct sa_http_request *req,
                   struct sa_err *err);

/* Drive the transfers, waiting up to timeout_ms for the first one to
 * finish (0: only what is ready now), and call done(resp, arg) for every
 * finished request. Returns how many finished (>= 0), or a negative rc
 * (err set) when the multi handle itself failed. */
int sa_http_poll(struct sa_http_client *client, int timeout_ms, sa_http_done_fn done,
                 void *arg, struct sa_err *err);

/* Requests submitted and not yet handed to a callback (a callback sees
 * itself already counted out). */
size_t sa_http_in_flight(const struct sa_http_client *client);

/* One request, synchronously, on a connection of its own (the requests in
 * flight are not driven meanwhile). Takes req->body over. On SA_OK, the
 * response is in *status, response_body (reset first, capped by
 * max_response_bytes; may be NULL) and *retry_after_ms (may be NULL); any
 * HTTP status is SA_OK. A transport failure is SA_EAGAIN with err
 * "METHOD URL: reason". */
int sa_http_call(struct sa_http_client *client, struct sa_http_request *req,
                 long *status /* out */, struct sa_buf *response_body /* out */,
                 int64_t *retry_after_ms /* out */, struct sa_err *err);

/* The ETag header of the last sa_http_call's response ("" when it had
 * none, or failed), as sent (quotes kept), for an If-None-Match. */
#define SA_HTTP_ETAG_MAX 256
const char *sa_http_last_etag(const struct sa_http_client *client);

/* Connections opened and requests finished so far (keep-alive shows as
 * fewer connections than requests). */
struct sa_http_stats {
    uint64_t requests;
    uint64_t connections;
};
void sa_http_client_stats(const struct sa_http_client *client,
                          struct sa_http_stats *out);

/* Parse a Retry-After value: delay-seconds ("120") or an HTTP date
 * ("Wed, 21 Oct 2015 07:28:00 GMT", also RFC 850 and asctime forms),
 * taken relative to now (a date in the past gives 0). Returns the delay
 * in ms, or -1 when value is not one of those. */
int64_t sa_http_parse_retry_after(const char *value, time_t now);

/* What a client keeps of a response's header lines. */
struct sa_http_resp_headers {
    int64_t retry_after_ms;      /* -1: none (sa_http_parse_retry_after) */
    char etag[SA_HTTP_ETAG_MAX]; /* "": none; as sent, quotes kept */
};

/* Take one header line as libcurl hands it over (not NUL-terminated, its
 * CRLF kept): a status line starts over (the headers of a 100 Continue
 * are not the response's), an ETag or a Retry-After is kept, anything
 * else is ignored. The ETag goes back to the server in an If-None-Match
 * header: one longer than SA_HTTP_ETAG_MAX - 1 or holding a control byte
 * is no ETag. now: for a Retry-After date. */
void sa_http_header_line(struct sa_http_resp_headers *h, const char *line, size_t n,
                         time_t now);

/* Copy url into out (size n) without userinfo and query string, for
 * messages and logs. */
void sa_http_redact_url(const char *url, char *out, size_t n);

#endif
