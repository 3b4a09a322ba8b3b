/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared HTTP client of the store sinks (see http.h), over libcurl's
 * multi interface.
 *
 * A client is one CURLM handle. Its connection cache is what keeps
 * connections alive between requests: an easy handle that finishes
 * leaves its connection in the multi's cache and the next transfer to the
 * same host takes it. CURLMOPT_MAX_HOST_CONNECTIONS bounds the
 * connections; transfers beyond it wait inside libcurl for a free one.
 *
 * A request becomes a `struct transfer`: its easy handle, its header
 * list, the body as submitted (kept for the response, so a sink can split
 * a refused batch), the gzipped copy that is sent when `gzip: true`, the
 * response body (capped by max_response_bytes), the Retry-After seen and
 * libcurl's error buffer. Transfers sit on a doubly linked list so that
 * sa_http_client_free can abort them. The lifecycle is:
 *
 *   submit: setup_transfer + curl_multi_add_handle + one curl_multi_perform
 *   poll:   curl_multi_perform / curl_multi_poll until one finishes or
 *           the time is up; each CURLMSG_DONE is removed from the multi,
 *           turned into a struct sa_http_response, handed to the callback,
 *           then freed
 *   call:   setup_transfer + curl_easy_perform on the transfer's own easy
 *           handle (setup requests; rare, so no shared connection)
 *
 * Secrets: the password goes to libcurl as CURLOPT_PASSWORD, the bearer
 * token as an Authorization header; neither is ever formatted into a
 * message. Messages name the URL through sa_http_redact_url (no userinfo,
 * no query string). Header lists that held the token are wiped before
 * they are freed, as is the client's copy.
 *
 * Gzip is level 1: the agent runs on small edge machines, where CPU is
 * scarcer than bandwidth, and level 1 already takes NDJSON to a fifth.
 */
#include "sync/http.h"

#include "agent/base/clock.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define URL_SHOWN 512 /* a URL in a message is cut here */

struct transfer {
    struct transfer *prev, *next;
    struct sa_http_client *client;
    CURL *easy;
    struct curl_slist *headers;
    char method[16];
    char url_shown[URL_SHOWN];
    void *user;
    struct sa_buf body; /* as submitted */
    struct sa_buf gz;   /* what is sent when gzip is on */
    struct sa_buf response;
    int too_big; /* the response went past max_response_bytes */
    struct sa_http_resp_headers hdr;
    char curl_err[CURL_ERROR_SIZE];
};

struct sa_http_client {
    const struct sa_http_conf *conf;
    char *name;
    char *auth_header; /* "Authorization: Bearer ..." or NULL; secret */
    CURLM *multi;
    struct transfer *transfers; /* in flight */
    size_t n_in_flight;
    struct sa_http_stats stats;
    char last_etag[SA_HTTP_ETAG_MAX]; /* of the last sa_http_call */
};

/* curl_global_init is not thread-safe on every libcurl: run it once. It
 * is never undone; the process keeps libcurl until it exits. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* --- helpers ------------------------------------------------------------ */

void sa_http_redact_url(const char *url, char *out, size_t n)
{
    const char *host = strstr(url, "://");
    const char *end, *at = NULL;
    size_t host_len;

    if (n == 0)
        return;
    host = host ? host + 3 : url;
    end = host + strcspn(host, "/?#");
    for (const char *p = host; p < end; p++)
        if (*p == '@')
            at = p;
    host_len = strcspn(end, "?#"); /* the path, up to the query */
    if (at)
        snprintf(out, n, "%.*s%.*s%.*s", (int)(host - url), url, (int)(end - at - 1),
                 at + 1, (int)host_len, end);
    else
        snprintf(out, n, "%.*s%.*s", (int)(end - url), url, (int)host_len, end);
}

int64_t sa_http_parse_retry_after(const char *value, time_t now)
{
    const char *p = value, *end;
    int64_t secs = 0;

    if (!value)
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    end = p + strlen(p);
    while (end > p &&
           (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        end--;
    if (end == p)
        return -1;
    if (isdigit((unsigned char)*p)) {
        for (const char *q = p; q < end; q++) {
            if (!isdigit((unsigned char)*q))
                return -1;
            /* A day is as long as anyone should be told to wait. */
            if (secs < 86400)
                secs = secs * 10 + (*q - '0');
        }
        if (secs > 86400)
            secs = 86400;
        return secs * 1000;
    }
    {
        char date[64];
        time_t when;

        if ((size_t)(end - p) >= sizeof date)
            return -1;
        memcpy(date, p, (size_t)(end - p));
        date[end - p] = '\0';
        /* curl_getdate reads RFC 1123, RFC 850 and asctime dates, but also
         * much else: insist on a weekday and a time as HTTP dates have. */
        if (!isalpha((unsigned char)date[0]) || !strchr(date, ':'))
            return -1;
        when = curl_getdate(date, NULL);
        if (when == -1)
            return -1;
        if (when <= now)
            return 0;
        if (when - now > 86400)
            return 86400 * 1000;
        return (int64_t)(when - now) * 1000;
    }
}

static int readable(const char *path, char *why, size_t n)
{
    if (access(path, R_OK) != 0) {
        snprintf(why, n, "%s: %s", path, strerror(errno));
        return 0;
    }
    return 1;
}

int sa_http_conf_check(const struct sa_http_conf *conf,
                       const struct sa_conf_origin *origin, struct sa_err *err)
{
    char why[300];
    const char *host;

    if (!conf->url || !conf->url[0])
        return sa_conf_fail(origin, "url", SA_ECONFIG, err, "is required");
    if (strncmp(conf->url, "http://", 7) == 0)
        host = conf->url + 7;
    else if (strncmp(conf->url, "https://", 8) == 0)
        host = conf->url + 8;
    else {
        sa_http_redact_url(conf->url, why, sizeof why);
        return sa_conf_fail(origin, "url", SA_ECONFIG, err,
                            "%s: must start with http:// or https://", why);
    }
    if (!*host || *host == '/' || *host == ':') {
        sa_http_redact_url(conf->url, why, sizeof why);
        return sa_conf_fail(origin, "url", SA_ECONFIG, err, "%s: no host", why);
    }
    if (!conf->cert != !conf->key)
        return sa_conf_fail(origin, conf->cert ? "key" : "cert", SA_ECONFIG, err,
                            "cert and key go together (mutual TLS)");
    if ((conf->username || conf->password) && conf->bearer_token)
        return sa_conf_fail(origin, "bearer_token", SA_ECONFIG, err,
                            "give either username/password or bearer_token");
    if (conf->password && !conf->username)
        return sa_conf_fail(origin, "username", SA_ECONFIG, err,
                            "is required with password");
    if (conf->ca_file && !readable(conf->ca_file, why, sizeof why))
        return sa_conf_fail(origin, "ca_file", SA_ECONFIG, err, "%s", why);
    if (conf->cert && !readable(conf->cert, why, sizeof why))
        return sa_conf_fail(origin, "cert", SA_ECONFIG, err, "%s", why);
    if (conf->key && !readable(conf->key, why, sizeof why))
        return sa_conf_fail(origin, "key", SA_ECONFIG, err, "%s", why);
    if (conf->proxy && conf->proxy[0] && !strstr(conf->proxy, "://"))
        return sa_conf_fail(origin, "proxy", SA_ECONFIG, err,
                            "must be a URL such as http://host:3128");
    return SA_OK;
}

static int gzip_body(const struct sa_buf *in, struct sa_buf *out)
{
    z_stream zs;
    int zrc, rc = SA_OK;

    memset(&zs, 0, sizeof zs);
    /* windowBits 15 + 16: a gzip header and trailer, not zlib's. */
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return SA_ENOMEM;
    sa_buf_reset(out);
    if ((rc = sa_buf_reserve(out, deflateBound(&zs, (uLong)in->len))))
        goto out;
    zs.next_in = in->data;
    zs.avail_in = (uInt)in->len;
    zs.next_out = out->data;
    zs.avail_out = (uInt)out->cap;
    zrc = deflate(&zs, Z_FINISH);
    if (zrc != Z_STREAM_END) {
        rc = SA_EIO;
        goto out;
    }
    out->len = zs.total_out;
out:
    deflateEnd(&zs);
    return rc;
}

/* --- transfers ---------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;

    if (sa_buf_append(&t->response, data, n) != SA_OK) {
        t->too_big = 1;
        return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
    return n;
}

void sa_http_header_line(struct sa_http_resp_headers *h, const char *data, size_t n,
                         time_t now)
{
    static const char name[] = "retry-after:";

    /* A new status line (after a 100 Continue, say): forget the last. */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        h->retry_after_ms = -1;
        h->etag[0] = '\0';
    } else if (n >= 5 && strncasecmp(data, "etag:", 5) == 0) {
        size_t b = 5, e = n;
        while (b < e && (data[b] == ' ' || data[b] == '\t'))
            b++;
        while (e > b && (data[e - 1] == '\r' || data[e - 1] == '\n' ||
                         data[e - 1] == ' ' || data[e - 1] == '\t'))
            e--;
        h->etag[0] = '\0';
        if (e - b >= sizeof h->etag)
            return;
        for (size_t i = b; i < e; i++)
            if ((unsigned char)data[i] < 0x20 || data[i] == 0x7f)
                return; /* it would end the If-None-Match header early */
        memcpy(h->etag, data + b, e - b);
        h->etag[e - b] = '\0';
    } else if (n > sizeof name - 1 && n < 128 &&
               strncasecmp(data, name, sizeof name - 1) == 0) {
        char value[128];
        memcpy(value, data + sizeof name - 1, n - (sizeof name - 1));
        value[n - (sizeof name - 1)] = '\0';
        h->retry_after_ms = sa_http_parse_retry_after(value, now);
    }
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;

    sa_http_header_line(&t->hdr, data, n, time(NULL));
    return n;
}

static void transfer_free(struct transfer *t)
{
    if (!t)
        return;
    if (t->easy)
        curl_easy_cleanup(t->easy);
    /* The list may hold the bearer token. */
    for (struct curl_slist *h = t->headers; h; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(t->headers);
    sa_buf_fini(&t->body);
    sa_buf_fini(&t->gz);
    sa_buf_fini(&t->response);
    free(t);
}

#define SETOPT(opt, val)                                                               \
    do {                                                                               \
        if ((crc = curl_easy_setopt(t->easy, opt, val)) != CURLE_OK)                   \
            goto fail;                                                                 \
    } while (0)

/* Make t's easy handle for req; takes req->body over (also on error). */
static int setup_transfer(struct sa_http_client *c, struct sa_http_request *req,
                          struct transfer **out, struct sa_err *err)
{
    const struct sa_http_conf *conf = c->conf;
    const char *method = req->method ? req->method : "GET";
    const char *path = req->path ? req->path : "";
    struct transfer *t = calloc(1, sizeof *t);
    struct sa_buf url;
    CURLcode crc = CURLE_OK;
    int rc = SA_OK;

    sa_buf_init(&url, 64 * 1024);
    if (!t) {
        sa_buf_fini(&req->body);
        sa_buf_init(&req->body, req->body.max);
        return sa_err_set(err, SA_ENOMEM, "http %s: out of memory", c->name);
    }
    t->client = c;
    t->body = req->body;
    sa_buf_init(&req->body, req->body.max);
    sa_buf_init(&t->gz, SIZE_MAX / 2);
    sa_buf_init(&t->response, (size_t)conf->max_response_bytes);
    t->user = req->user;
    t->hdr.retry_after_ms = -1;
    snprintf(t->method, sizeof t->method, "%s", method);

    if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0)
        rc = sa_buf_append_str(&url, path);
    else {
        size_t base_len = strlen(conf->url);
        if (base_len > 0 && conf->url[base_len - 1] == '/' && path[0] == '/')
            base_len--;
        if (!(rc = sa_buf_append(&url, conf->url, base_len)))
            rc = sa_buf_append_str(&url, path);
    }
    if (rc || (rc = sa_buf_terminate(&url)))
        goto nomem;
    sa_http_redact_url((const char *)url.data, t->url_shown, sizeof t->url_shown);

    if (!(t->easy = curl_easy_init()))
        goto nomem;
    SETOPT(CURLOPT_PRIVATE, t);
    SETOPT(CURLOPT_URL, (const char *)url.data);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_ERRORBUFFER, t->curl_err);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, t);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, t);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)conf->connect_timeout_ms);
    SETOPT(CURLOPT_TIMEOUT_MS, (long)conf->request_timeout_ms);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_ACCEPT_ENCODING, "");
    SETOPT(CURLOPT_SSL_VERIFYPEER, conf->tls_verify ? 1L : 0L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, conf->tls_verify ? 2L : 0L);
    if (conf->ca_file)
        SETOPT(CURLOPT_CAINFO, conf->ca_file);
    if (conf->cert) {
        SETOPT(CURLOPT_SSLCERT, conf->cert);
        SETOPT(CURLOPT_SSLKEY, conf->key);
    }
    /* "" turns the proxy off, environment variables included: a sink
     * goes where its config says. */
    SETOPT(CURLOPT_PROXY, conf->proxy ? conf->proxy : "");
    if (conf->username) {
        SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SETOPT(CURLOPT_USERNAME, conf->username);
        SETOPT(CURLOPT_PASSWORD, conf->password ? conf->password : "");
    }

    if (strcmp(method, "HEAD") == 0)
        SETOPT(CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") == 0 && t->body.len == 0)
        SETOPT(CURLOPT_HTTPGET, 1L);
    else {
        const struct sa_buf *send = &t->body;
        if (conf->gzip && t->body.len > 0) {
            if ((rc = gzip_body(&t->body, &t->gz)))
                goto nomem;
            send = &t->gz;
        }
        SETOPT(CURLOPT_POST, 1L);
        SETOPT(CURLOPT_POSTFIELDS, send->len ? (const char *)send->data : "");
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)send->len);
        if (strcmp(method, "POST") != 0)
            SETOPT(CURLOPT_CUSTOMREQUEST, method);
        if (send == &t->gz &&
            !(t->headers = curl_slist_append(t->headers, "Content-Encoding: gzip")))
            goto nomem;
    }
    /* No "Expect: 100-continue" round trip before a large body. */
    {
        struct curl_slist *h = curl_slist_append(t->headers, "Expect:");
        if (!h)
            goto nomem;
        t->headers = h;
    }
    if (c->auth_header) {
        struct curl_slist *h = curl_slist_append(t->headers, c->auth_header);
        if (!h)
            goto nomem;
        t->headers = h;
    }
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        struct curl_slist *h = curl_slist_append(t->headers, req->headers[i]);
        if (!h)
            goto nomem;
        t->headers = h;
    }
    SETOPT(CURLOPT_HTTPHEADER, t->headers);
    sa_buf_fini(&url);
    *out = t;
    return SA_OK;

fail:
    rc = sa_err_set(err, SA_ESINK, "%s %s: %s", t->method, t->url_shown,
                    curl_easy_strerror(crc));
    goto out;
nomem:
    rc = sa_err_set(err, SA_ENOMEM, "%s %s: out of memory", t->method, t->url_shown);
out:
    sa_buf_fini(&url);
    transfer_free(t);
    return rc;
}

#undef SETOPT

/* Describe a transport failure: "METHOD URL: reason". */
static void transport_error(struct transfer *t, CURLcode crc, char *out, size_t n)
{
    if (t->too_big)
        snprintf(out, n, "%s %s: response larger than %zu bytes", t->method,
                 t->url_shown, t->response.max);
    else if (crc == CURLE_OPERATION_TIMEDOUT)
        snprintf(out, n, "%s %s: timed out (%s)", t->method, t->url_shown,
                 t->curl_err[0] ? t->curl_err : curl_easy_strerror(crc));
    else
        snprintf(out, n, "%s %s: %s", t->method, t->url_shown,
                 t->curl_err[0] ? t->curl_err : curl_easy_strerror(crc));
}

static void count_transfer(struct sa_http_client *c, CURL *easy)
{
    long connects = 0;

    c->stats.requests++;
    if (curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK &&
        connects > 0)
        c->stats.connections += (uint64_t)connects;
}

/* --- client ------------------------------------------------------------- */

int sa_http_client_new(const struct sa_http_conf *conf, const char *name,
                       struct sa_http_client **out, struct sa_err *err)
{
    struct sa_http_client *c = NULL;
    int rc = SA_OK;

    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return sa_err_set(err, SA_ESINK, "http %s: libcurl: %s", name,
                          curl_easy_strerror(curl_init_rc));
    if (!(c = calloc(1, sizeof *c)) || !(c->name = strdup(name ? name : "")))
        goto nomem;
    c->conf = conf;
    if (conf->bearer_token) {
        size_t n = strlen(conf->bearer_token) + 32;
        if (!(c->auth_header = malloc(n)))
            goto nomem;
        snprintf(c->auth_header, n, "Authorization: Bearer %s", conf->bearer_token);
    }
    if (!(c->multi = curl_multi_init()))
        goto nomem;
    if (curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          (long)conf->max_connections) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS,
                          (long)conf->max_connections) != CURLM_OK) {
        rc = sa_err_set(err, SA_ESINK, "http %s: libcurl refused max_connections",
                        c->name);
        goto out;
    }
    *out = c;
    return SA_OK;
nomem:
    rc = sa_err_set(err, SA_ENOMEM, "http %s: out of memory", name ? name : "");
out:
    sa_http_client_free(c);
    return rc;
}

void sa_http_client_free(struct sa_http_client *c)
{
    if (!c)
        return;
    while (c->transfers) {
        struct transfer *t = c->transfers;
        c->transfers = t->next;
        curl_multi_remove_handle(c->multi, t->easy);
        transfer_free(t);
    }
    if (c->multi)
        curl_multi_cleanup(c->multi);
    if (c->auth_header) {
        explicit_bzero(c->auth_header, strlen(c->auth_header));
        free(c->auth_header);
    }
    free(c->name);
    free(c);
}

int sa_http_submit(struct sa_http_client *c, struct sa_http_request *req,
                   struct sa_err *err)
{
    struct transfer *t;
    CURLMcode mrc;
    int running, rc;

    if ((rc = setup_transfer(c, req, &t, err)))
        return rc;
    if ((mrc = curl_multi_add_handle(c->multi, t->easy)) != CURLM_OK) {
        rc = sa_err_set(err, SA_ESINK, "%s %s: %s", t->method, t->url_shown,
                        curl_multi_strerror(mrc));
        transfer_free(t);
        return rc;
    }
    t->next = c->transfers;
    if (t->next)
        t->next->prev = t;
    c->transfers = t;
    c->n_in_flight++;
    /* Start it: resolve, connect, send what fits without waiting. */
    curl_multi_perform(c->multi, &running);
    return SA_OK;
}

/* Hand every finished transfer to done; returns how many. */
static int reap(struct sa_http_client *c, sa_http_done_fn done, void *arg)
{
    CURLMsg *msg;
    int left, n = 0;

    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        struct transfer *t = NULL;
        struct sa_http_response resp;
        char error[SA_ERR_MSG_MAX];
        CURLcode crc = msg->data.result;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        curl_multi_remove_handle(c->multi, msg->easy_handle);
        if (t->prev)
            t->prev->next = t->next;
        else
            c->transfers = t->next;
        if (t->next)
            t->next->prev = t->prev;
        c->n_in_flight--;
        count_transfer(c, t->easy);

        memset(&resp, 0, sizeof resp);
        resp.user = t->user;
        resp.retry_after_ms = -1;
        resp.request_body = &t->body;
        error[0] = '\0';
        if (crc == CURLE_OK) {
            curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &resp.status);
            resp.retry_after_ms = t->hdr.retry_after_ms;
        } else
            transport_error(t, crc, error, sizeof error);
        resp.error = error;
        if (sa_buf_terminate(&t->response) == SA_OK) {
            resp.body = t->response.data;
            resp.body_len = t->response.len;
        } else
            resp.body = (const uint8_t *)"";
        done(&resp, arg);
        transfer_free(t);
        n++;
    }
    return n;
}

int sa_http_poll(struct sa_http_client *c, int timeout_ms, sa_http_done_fn done,
                 void *arg, struct sa_err *err)
{
    int64_t deadline = sa_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int n = 0;

    for (;;) {
        int running = 0;
        int64_t left;
        CURLMcode mrc = curl_multi_perform(c->multi, &running);

        if (mrc != CURLM_OK)
            return sa_err_set(err, SA_ESINK, "http %s: %s", c->name,
                              curl_multi_strerror(mrc));
        n += reap(c, done, arg);
        left = deadline - sa_mono_ms();
        if (n > 0 || left <= 0)
            return n;
        if (c->n_in_flight == 0) {
            /* Nothing to wait for: the caller still gets its pause. */
            sa_sleep_ms(left);
            return 0;
        }
        mrc = curl_multi_poll(c->multi, NULL, 0, (int)left, NULL);
        if (mrc != CURLM_OK)
            return sa_err_set(err, SA_ESINK, "http %s: %s", c->name,
                              curl_multi_strerror(mrc));
    }
}

size_t sa_http_in_flight(const struct sa_http_client *c)
{
    return c ? c->n_in_flight : 0;
}

int sa_http_call(struct sa_http_client *c, struct sa_http_request *req, long *status,
                 struct sa_buf *response_body, int64_t *retry_after_ms,
                 struct sa_err *err)
{
    struct transfer *t;
    CURLcode crc;
    int rc;

    *status = 0;
    c->last_etag[0] = '\0';
    if (retry_after_ms)
        *retry_after_ms = -1;
    if ((rc = setup_transfer(c, req, &t, err)))
        return rc;
    crc = curl_easy_perform(t->easy);
    count_transfer(c, t->easy);
    if (crc != CURLE_OK) {
        char error[SA_ERR_MSG_MAX];
        transport_error(t, crc, error, sizeof error);
        rc = sa_err_set(err, SA_EAGAIN, "%s", error);
        goto out;
    }
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, status);
    if (retry_after_ms)
        *retry_after_ms = t->hdr.retry_after_ms;
    memcpy(c->last_etag, t->hdr.etag, sizeof c->last_etag);
    if (response_body) {
        sa_buf_reset(response_body);
        if ((t->response.len &&
             (rc = sa_buf_append(response_body, t->response.data, t->response.len))) ||
            (rc = sa_buf_terminate(response_body)))
            sa_err_set(err, rc, "%s %s: response: %s", t->method, t->url_shown,
                       sa_strerror(rc));
    }
out:
    transfer_free(t);
    return rc;
}

const char *sa_http_last_etag(const struct sa_http_client *c)
{
    return c->last_etag;
}

void sa_http_client_stats(const struct sa_http_client *c, struct sa_http_stats *out)
{
    *out = c->stats;
}
