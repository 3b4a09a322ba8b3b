/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared HTTP client (sync/http.c) against a real local server,
 * tests/integration/http_receiver.py, started by the test in plain HTTP
 * and in HTTPS with a CA the test makes with the openssl CLI: keep-alive
 * (one connection for several requests, seen by the client's stats and
 * by the server's view of the client port), gzip request bodies,
 * timeouts, Retry-After, basic and bearer auth, a proxy, the synchronous
 * call, TLS with the right CA, a wrong CA and a wrong host name, a
 * client certificate (mutual TLS), and secrets kept out of messages. Plus the
 * Retry-After and URL helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sync/http.h"
#include "tests/tempdir.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct server {
    pid_t pid;
    int port;
};

static char tmp_dir[256];
static struct server plain, tls, mtls;

static void start_server(struct server *s, const char *const *extra)
{
    const char *src = getenv("SA_SOURCE_DIR");
    char script[1024], line[64];
    const char *argv[12];
    int fds[2], n = 0;
    FILE *out;

    snprintf(script, sizeof script, "%s/tests/integration/http_receiver.py",
             src ? src : ".");
    argv[n++] = "python3";
    argv[n++] = script;
    for (size_t i = 0; extra && extra[i]; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    assert_int_equal(pipe(fds), 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    out = fdopen(fds[0], "r");
    assert_non_null(out);
    assert_non_null(fgets(line, sizeof line, out)); /* the server must start */
    assert_int_equal(sscanf(line, "PORT %d", &s->port), 1);
    fclose(out);
}

static void stop_server(struct server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

/* A CA, a server certificate it signs for DNS:localhost only, and an
 * unrelated CA. */
static void make_certs(void)
{
    const char *d = tmp_dir;
    sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=TestCA "
       "-keyout ca.key -out ca.pem 2>/dev/null",
       d);
    sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=OtherCA "
       "-keyout other.key -out other.pem 2>/dev/null",
       d);
    sh("cd %s && openssl req -newkey rsa:2048 -nodes -subj /CN=localhost "
       "-keyout server.key -out server.csr 2>/dev/null && "
       "printf 'subjectAltName=DNS:localhost\\n' > ext.cnf && "
       "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
       "-days 2 -extfile ext.cnf -out server.pem 2>/dev/null",
       d);
    sh("cd %s && openssl req -newkey rsa:2048 -nodes -subj /CN=edge-agent "
       "-keyout client.key -out client.csr 2>/dev/null && "
       "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
       "-days 2 -out client.pem 2>/dev/null",
       d);
}

static int group_setup(void **state)
{
    char cert[300], key[300], client_ca[300];
    const char *const tls_args[] = {"--cert", cert, "--key", key, NULL};
    const char *const mtls_args[] = {"--cert",      cert,      "--key", key,
                                     "--client-ca", client_ca, NULL};

    (void)state;
    if (!sa_test_mkdtemp(tmp_dir, sizeof tmp_dir, "sa-test-http-"))
        return -1;
    make_certs();
    snprintf(cert, sizeof cert, "%s/server.pem", tmp_dir);
    snprintf(key, sizeof key, "%s/server.key", tmp_dir);
    start_server(&plain, NULL);
    snprintf(client_ca, sizeof client_ca, "%s/ca.pem", tmp_dir);
    start_server(&tls, tls_args);
    start_server(&mtls, mtls_args);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_server(&plain);
    stop_server(&tls);
    stop_server(&mtls);
    if (!getenv("SA_KEEP_TMP"))
        sh("rm -rf %s", tmp_dir);
    return 0;
}

/* Settings as the config map's defaults would give them. */
static void conf_defaults(struct sa_http_conf *c, char *url, size_t n, int port,
                          const char *scheme_host)
{
    memset(c, 0, sizeof *c);
    snprintf(url, n, "%s:%d", scheme_host, port);
    c->url = url;
    c->connect_timeout_ms = 5000;
    c->request_timeout_ms = 30000;
    c->tls_verify = 1;
    c->max_connections = 4;
    c->max_response_bytes = 1024 * 1024;
}

struct result {
    int n;
    long status[8];
    int64_t retry_after[8];
    char error[8][SA_ERR_MSG_MAX];
    char body[8][4096];
};

static void on_done(const struct sa_http_response *resp, void *arg)
{
    struct result *r = arg;
    int i = (int)(intptr_t)resp->user;

    assert_true(i >= 0 && i < 8);
    r->status[i] = resp->status;
    r->retry_after[i] = resp->retry_after_ms;
    snprintf(r->error[i], sizeof r->error[i], "%s", resp->error);
    snprintf(r->body[i], sizeof r->body[i], "%s", (const char *)resp->body);
    r->n++;
}

static void submit(struct sa_http_client *c, const char *method, const char *path,
                   const char *body, const char *const *headers, int index)
{
    struct sa_http_request req = {.method = method,
                                  .path = path,
                                  .headers = headers,
                                  .user = (void *)(intptr_t)index};
    struct sa_err err = {0};

    sa_buf_init(&req.body, 1 << 20);
    if (body)
        assert_int_equal(sa_buf_append_str(&req.body, body), SA_OK);
    assert_int_equal(sa_http_submit(c, &req, &err), SA_OK);
    assert_int_equal(req.body.len, 0); /* taken over */
    sa_buf_fini(&req.body);
}

static void wait_all(struct sa_http_client *c, struct result *r)
{
    struct sa_err err = {0};

    while (sa_http_in_flight(c) > 0)
        assert_true(sa_http_poll(c, 1000, on_done, r, &err) >= 0);
}

/* One request, waited for; its result in r[index]. */
static void one(struct sa_http_client *c, const char *method, const char *path,
                const char *body, const char *const *headers, struct result *r,
                int index)
{
    submit(c, method, path, body, headers, index);
    wait_all(c, r);
}

static json_t *echo_json(const char *body)
{
    json_error_t jerr;
    json_t *j = json_loads(body, 0, &jerr);
    if (!j)
        fail_msg("not JSON: %s", body);
    return j;
}

static const char *hdr(json_t *echo, const char *name)
{
    json_t *v = json_object_get(json_object_get(echo, "headers"), name);
    return v ? json_string_value(v) : NULL;
}

/* --- pure helpers -------------------------------------------------------- */

static void test_retry_after_parse(void **state)
{
    /* Wed, 21 Oct 2015 07:28:00 GMT */
    const time_t date = 1445412480;

    (void)state;
    assert_int_equal(sa_http_parse_retry_after("120", 0), 120000);
    assert_int_equal(sa_http_parse_retry_after(" 0 \r\n", 0), 0);
    assert_int_equal(sa_http_parse_retry_after("99999999999999999999", 0), 86400000);
    assert_int_equal(
        sa_http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", date - 10), 10000);
    assert_int_equal(
        sa_http_parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", date - 3), 3000);
    assert_int_equal(sa_http_parse_retry_after("Wed Oct 21 07:28:00 2015", date - 1),
                     1000);
    /* In the past: go now. */
    assert_int_equal(
        sa_http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", date + 60), 0);
    assert_int_equal(sa_http_parse_retry_after("", 0), -1);
    assert_int_equal(sa_http_parse_retry_after("1.5", 0), -1);
    assert_int_equal(sa_http_parse_retry_after("-3", 0), -1);
    assert_int_equal(sa_http_parse_retry_after("soon", 0), -1);
    assert_int_equal(sa_http_parse_retry_after(NULL, 0), -1);
}

/* feed: header lines as libcurl hands them over, one string each. */
static void feed(struct sa_http_resp_headers *h, const char *const *lines)
{
    for (; *lines; lines++)
        sa_http_header_line(h, *lines, strlen(*lines), 0);
}

static void test_header_lines(void **state)
{
    struct sa_http_resp_headers h;
    char long_line[SA_HTTP_ETAG_MAX + 16];
    (void)state;

    feed(&h, (const char *const[]){"HTTP/1.1 200 OK\r\n", "ETag:  \"5f-1a\" \t\r\n",
                                   "Retry-After: 7\r\n", "\r\n", NULL});
    assert_string_equal(h.etag, "\"5f-1a\"");
    assert_int_equal(h.retry_after_ms, 7000);
    /* a 100 Continue's headers are not the response's */
    feed(&h, (const char *const[]){"HTTP/1.1 200 OK\r\n", "etag: W/\"x\"\r\n", NULL});
    assert_string_equal(h.etag, "W/\"x\"");
    assert_int_equal(h.retry_after_ms, -1);
    /* a control byte would end the If-None-Match header it goes back in */
    feed(&h, (const char *const[]){"ETag: \"a\rX-Evil: 1\"\r\n", NULL});
    assert_string_equal(h.etag, "");
    feed(&h, (const char *const[]){"ETag: \"a\"\r\n", "ETag: \"a\x7f\"\r\n", NULL});
    assert_string_equal(h.etag, "");
    /* too long to keep whole: none rather than cut */
    memset(long_line, 'e', sizeof long_line - 1);
    memcpy(long_line, "ETag: ", 6);
    long_line[sizeof long_line - 1] = '\0';
    feed(&h, (const char *const[]){"ETag: \"a\"\r\n", long_line, NULL});
    assert_string_equal(h.etag, "");
    long_line[6 + SA_HTTP_ETAG_MAX - 1] = '\0';
    feed(&h, (const char *const[]){long_line, NULL});
    assert_int_equal(strlen(h.etag), SA_HTTP_ETAG_MAX - 1);
}

static void test_redact_url(void **state)
{
    char out[256];

    (void)state;
    sa_http_redact_url("https://user:hunter2@example.com:9200/_bulk?token=abc", out,
                       sizeof out);
    assert_string_equal(out, "https://example.com:9200/_bulk");
    sa_http_redact_url("http://h/p", out, sizeof out);
    assert_string_equal(out, "http://h/p");
    sa_http_redact_url("http://h?x=1", out, sizeof out);
    assert_string_equal(out, "http://h");
}

static void test_conf_check(void **state)
{
    struct sa_http_conf c;
    char url[64];
    struct sa_err err = {0};

    (void)state;
    conf_defaults(&c, url, sizeof url, 1, "http://127.0.0.1");
    assert_int_equal(sa_http_conf_check(&c, NULL, &err), SA_OK);
    c.url = "ftp://x";
    assert_int_equal(sa_http_conf_check(&c, NULL, &err), SA_ECONFIG);
    assert_non_null(strstr(err.msg, "url"));
    c.url = url;
    c.cert = "/nonexistent.pem";
    assert_int_equal(sa_http_conf_check(&c, NULL, &err), SA_ECONFIG);
    assert_non_null(strstr(err.msg, "key"));
    c.key = "/nonexistent.key";
    assert_int_equal(sa_http_conf_check(&c, NULL, &err), SA_ECONFIG);
    assert_non_null(strstr(err.msg, "/nonexistent.pem"));
    c.cert = c.key = NULL;
    c.username = "u";
    c.bearer_token = "t";
    assert_int_equal(sa_http_conf_check(&c, NULL, &err), SA_ECONFIG);
    assert_non_null(strstr(err.msg, "bearer_token"));
    assert_null(strstr(err.msg, ": t")); /* the token itself is not shown */
}

/* --- against the server ---------------------------------------------------- */

static void test_keep_alive(void **state)
{
    struct sa_http_conf conf;
    char url[64];
    struct sa_http_client *c;
    struct sa_http_stats stats;
    struct result r = {0};
    struct sa_err err = {0};
    json_int_t port = -1;

    (void)state;
    conf_defaults(&conf, url, sizeof url, plain.port, "http://127.0.0.1");
    assert_int_equal(sa_http_client_new(&conf, "t", &c, &err), SA_OK);
    for (int i = 0; i < 5; i++) {
        json_t *echo;
        one(c, "POST", "/echo", "hello", NULL, &r, i);
        assert_int_equal(r.status[i], 200);
        echo = echo_json(r.body[i]);
        /* Every request came over the same connection. */
        if (i == 0)
            port = json_integer_value(json_object_get(echo, "client_port"));
        assert_int_equal(json_integer_value(json_object_get(echo, "client_port")),
                         port);
        assert_null(hdr(echo, "expect"));
        json_decref(echo);
    }
    sa_http_client_stats(c, &stats);
    assert_int_equal(stats.requests, 5);
    assert_int_equal(stats.connections, 1);

    /* Several at once: all in flight together, all answered. */
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 3; i++)
        submit(c, "PUT", "/echo", "x", NULL, i);
    assert_int_equal(sa_http_in_flight(c), 3);
    wait_all(c, &r);
    assert_int_equal(r.n, 3);
    for (int i = 0; i < 3; i++) {
        json_t *echo = echo_json(r.body[i]);
        assert_string_equal(json_string_value(json_object_get(echo, "method")), "PUT");
        json_decref(echo);
    }
    sa_http_client_free(c);
}

static void test_gzip_body(void **state)
{
    struct sa_http_conf conf;
    char url[64], hex[65];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    struct sa_http_client *c;
    struct result r = {0};
    struct sa_err err = {0};
    const char *const headers[] = {"Content-Type: application/x-ndjson", NULL};
    char body[8192];
    json_t *echo;

    (void)state;
    for (size_t i = 0; i < sizeof body - 1; i++)
        body[i] = (char)('a' + i % 7);
    body[sizeof body - 1] = '\0';
    SHA256((const unsigned char *)body, strlen(body), digest);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);

    conf_defaults(&conf, url, sizeof url, plain.port, "http://127.0.0.1");
    conf.gzip = 1;
    assert_int_equal(sa_http_client_new(&conf, "t", &c, &err), SA_OK);
    one(c, "POST", "/echo", body, headers, &r, 0);
    assert_int_equal(r.status[0], 200);
    echo = echo_json(r.body[0]);
    assert_string_equal(hdr(echo, "content-encoding"), "gzip");
    assert_string_equal(hdr(echo, "content-type"), "application/x-ndjson");
    assert_true(atoi(hdr(echo, "content-length")) < 1000); /* compressed */
    assert_string_equal(json_string_value(json_object_get(echo, "body_sha256")), hex);
    json_decref(echo);
    sa_http_client_free(c);
}

static void test_timeout(void **state)
{
    struct sa_http_conf conf;
    char url[64];
    struct sa_http_client *c;
    struct result r = {0};
    struct sa_err err = {0};

    (void)state;
    conf_defaults(&conf, url, sizeof url, plain.port, "http://127.0.0.1");
    conf.request_timeout_ms = 200;
    assert_int_equal(sa_http_client_new(&conf, "t", &c, &err), SA_OK);
    one(c, "GET", "/sleep/3000", NULL, NULL, &r, 0);
    assert_int_equal(r.status[0], 0);
    assert_non_null(strstr(r.error[0], "GET http://127.0.0.1:"));
    assert_non_null(strstr(r.error[0], "/sleep/3000: timed out"));
    sa_http_client_free(c);
}

static void test_retry_after_and_statuses(void **state)
{
    struct sa_http_conf conf;
    char url[64];
    struct sa_http_client *c;
    struct result r = {0};
    struct sa_err err = {0};

    (void)state;
    conf_defaults(&conf, url, sizeof url, plain.port, "http://127.0.0.1");
    assert_int_equal(sa_http_client_new(&conf, "t", &c, &err), SA_OK);
    one(c, "POST", "/status/429?ra=7", "x", NULL, &r, 0);
    assert_int_equal(r.status[0], 429);
    assert_int_equal(r.retry_after[0], 7000);
    assert_string_equal(r.error[0], "");
    one(c, "POST", "/status/503?ra=Wed,%2021%20Oct%202015%2007:28:00%20GMT", "x", NULL,
        &r, 1);
    assert_int_equal(r.status[1], 503);
    assert_int_equal(r.retry_after[1], 0); /* a date in the past */
    one(c, "POST", "/status/400", "x", NULL, &r, 2);
    assert_int_equal(r.status[2], 400);
    assert_int_equal(r.retry_after[2], -1);
    assert_string_equal(r.body[2], "status 400 body");
    sa_http_client_free(c);
}

static void test_auth(void **state)
{
    struct sa_http_conf conf;
    char url[64];
    struct sa_http_client *c;
    struct result r = {0};
    struct sa_err err = {0};
    json_t *echo;

    (void)state;
    conf_defaults(&conf, url, sizeof url, plain.port, "http://127.0.0.1");
    conf.username = "edge";
    conf.password = "s3cret";
    assert_int_equal(sa_http_client_new(&conf, "t", &c, &err), SA_OK);
    one(c, "GET", "/echo", NULL, NULL, &r, 0);
    echo = echo_json(r.body[0]);
    /* base64("edge:s3cret") */
    assert_string_equal(hdr(echo, "authorization"), "Basic ZWRnZTpzM2NyZXQ=");
    json_decref(echo);
    sa_http_client_free(c);

    conf.username = conf.password = NULL;
    conf.bearer_token = "tok-123";
    assert_int_equal(sa_http_client_new(&conf, "t", &c, &err), SA_OK);
    one(c, "GET", "/echo", NULL, NULL, &r, 1);
    echo = echo_json(r.body[1]);
    assert_string_equal(hdr(echo, "authorization"), "Bearer tok-123");
    json_decref(echo);
    sa_http_client_free(c);
}

static void test_secrets_not_in_errors(void **state)
{
    struct sa_http_conf conf;
    char url[64];
    struct sa_http_client *c;
    struct result r = {0};
    struct sa_err err = {0};
    int closed_port;

    (void)state;
    /* A port nobody listens on: the server we stop. */
    {
        struct server tmp;
        start_server(&tmp, NULL);
        closed_port = tmp.port;
        stop_server(&tmp);
    }
    conf_defaults(&conf, url, sizeof url, closed_port, "http://user:hunter2@127.0.0.1");
    conf.password = "pw-hunter3";
    conf.username = "user";
    assert_int_equal(sa_http_client_new(&conf, "t", &c, &err), SA_OK);
    one(c, "POST", "/x?token=abc", "x", NULL, &r, 0);
    assert_int_equal(r.status[0], 0);
    assert_non_null(strstr(r.error[0], "POST http://127.0.0.1:"));
    assert_null(strstr(r.error[0], "hunter"));
    assert_null(strstr(r.error[0], "abc"));
    sa_http_client_free(c);
}

static void test_proxy(void **state)
{
    struct sa_http_conf conf;
    char url[64], proxy[64];
    struct sa_http_client *c;
    struct result r = {0};
    struct sa_err err = {0};
    json_t *echo;

    (void)state;
    /* The test server answers absolute-form requests like a proxy would
     * forward them: what it sees proves the request went through it. */
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", plain.port);
    conf_defaults(&conf, url, sizeof url, 80, "http://upstream.invalid");
    conf.proxy = proxy;
    assert_int_equal(sa_http_client_new(&conf, "t", &c, &err), SA_OK);
    one(c, "POST", "/echo/p", "x", NULL, &r, 0);
    assert_int_equal(r.status[0], 200);
    echo = echo_json(r.body[0]);
    assert_string_equal(json_string_value(json_object_get(echo, "path")),
                        "http://upstream.invalid/echo/p");
    json_decref(echo);
    sa_http_client_free(c);
}

static void test_sync_call(void **state)
{
    struct sa_http_conf conf;
    char url[64];
    struct sa_http_client *c;
    struct sa_http_request req = {.method = "PUT", .path = "/status/201"};
    struct sa_buf body;
    long status = 0;
    int64_t ra = 0;
    struct sa_err err = {0};

    (void)state;
    conf_defaults(&conf, url, sizeof url, plain.port, "http://127.0.0.1");
    assert_int_equal(sa_http_client_new(&conf, "t", &c, &err), SA_OK);
    sa_buf_init(&body, 1 << 20);
    sa_buf_init(&req.body, 1 << 20);
    assert_int_equal(sa_buf_append_str(&req.body, "{}"), SA_OK);
    assert_int_equal(sa_http_call(c, &req, &status, &body, &ra, &err), SA_OK);
    assert_int_equal(status, 201);
    assert_int_equal(ra, -1);
    assert_string_equal((const char *)body.data, "status 201 body");
    /* A transport failure is SA_EAGAIN naming the URL. */
    req.path = "/sleep/3000";
    conf.request_timeout_ms = 100;
    assert_int_equal(sa_http_call(c, &req, &status, &body, NULL, &err), SA_EAGAIN);
    assert_non_null(strstr(err.msg, "PUT http://127.0.0.1:"));
    assert_non_null(strstr(err.msg, "/sleep/3000"));
    sa_buf_fini(&body);
    sa_buf_fini(&req.body);
    sa_http_client_free(c);
}

static void test_response_cap(void **state)
{
    struct sa_http_conf conf;
    char url[64];
    struct sa_http_client *c;
    struct result r = {0};
    struct sa_err err = {0};
    char big[3000];

    (void)state;
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    conf_defaults(&conf, url, sizeof url, plain.port, "http://127.0.0.1");
    conf.max_response_bytes = 100; /* the echo's JSON is longer */
    assert_int_equal(sa_http_client_new(&conf, "t", &c, &err), SA_OK);
    one(c, "POST", "/echo", big, NULL, &r, 0);
    assert_int_equal(r.status[0], 0);
    assert_non_null(strstr(r.error[0], "response larger than 100 bytes"));
    sa_http_client_free(c);
}

static void tls_request(const char *host, const char *ca, int verify, struct result *r,
                        int index)
{
    struct sa_http_conf conf;
    char url[128], ca_path[300];
    struct sa_http_client *c;
    struct sa_err err = {0};

    conf_defaults(&conf, url, sizeof url, tls.port, host);
    snprintf(ca_path, sizeof ca_path, "%s/%s", tmp_dir, ca);
    conf.ca_file = ca_path;
    conf.tls_verify = verify;
    assert_int_equal(sa_http_client_new(&conf, "t", &c, &err), SA_OK);
    one(c, "POST", "/echo", "x", NULL, r, index);
    sa_http_client_free(c);
}

static void test_tls(void **state)
{
    struct result r = {0};

    (void)state;
    tls_request("https://localhost", "ca.pem", 1, &r, 0);
    assert_int_equal(r.status[0], 200);
    assert_string_equal(r.error[0], "");

    tls_request("https://localhost", "other.pem", 1, &r, 1);
    assert_int_equal(r.status[1], 0);
    assert_non_null(strstr(r.error[1], "POST https://localhost:"));
    assert_non_null(strstr(r.error[1], "certificate"));

    /* The certificate is for localhost, not for 127.0.0.1. */
    tls_request("https://127.0.0.1", "ca.pem", 1, &r, 2);
    assert_int_equal(r.status[2], 0);
    assert_non_null(strstr(r.error[2], "POST https://127.0.0.1:"));
    assert_non_null(strstr(r.error[2], "127.0.0.1")); /* the name that failed */

    /* tls_verify: false accepts anything. */
    tls_request("https://127.0.0.1", "other.pem", 0, &r, 3);
    assert_int_equal(r.status[3], 200);
}

/* A server that wants a client certificate: with cert and key the
 * request goes through, without them it fails naming the URL. */
static void test_mutual_tls(void **state)
{
    struct sa_http_conf conf;
    char url[128], ca[300], cert[300], key[300];
    struct sa_http_client *c;
    struct result r = {0};
    struct sa_err err = {0};

    (void)state;
    conf_defaults(&conf, url, sizeof url, mtls.port, "https://localhost");
    snprintf(ca, sizeof ca, "%s/ca.pem", tmp_dir);
    snprintf(cert, sizeof cert, "%s/client.pem", tmp_dir);
    snprintf(key, sizeof key, "%s/client.key", tmp_dir);
    conf.ca_file = ca;
    conf.cert = cert;
    conf.key = key;
    assert_int_equal(sa_http_conf_check(&conf, NULL, &err), SA_OK);
    assert_int_equal(sa_http_client_new(&conf, "t", &c, &err), SA_OK);
    one(c, "POST", "/echo", "x", NULL, &r, 0);
    assert_int_equal(r.status[0], 200);
    sa_http_client_free(c);

    conf.cert = conf.key = NULL;
    assert_int_equal(sa_http_client_new(&conf, "t", &c, &err), SA_OK);
    one(c, "POST", "/echo", "x", NULL, &r, 1);
    assert_int_equal(r.status[1], 0);
    assert_non_null(strstr(r.error[1], "POST https://localhost:"));
    sa_http_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after_parse),
        cmocka_unit_test(test_header_lines),
        cmocka_unit_test(test_redact_url),
        cmocka_unit_test(test_conf_check),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_gzip_body),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_retry_after_and_statuses),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_secrets_not_in_errors),
        cmocka_unit_test(test_proxy),
        cmocka_unit_test(test_sync_call),
        cmocka_unit_test(test_response_cap),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_mutual_tls),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
