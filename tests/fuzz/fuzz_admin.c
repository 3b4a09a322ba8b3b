/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the admin HTTP server (agent/admin/): the input is
 * what a client sends on one connection, every byte, through libmicrohttpd
 * into the server's request assembly (body cap, Content-Length check),
 * routing (404/405, HEAD), the bearer-token check and the handlers.
 *
 * One server for the whole run, started at the first input: admin.listen
 * 127.0.0.1:0, admin.token "fuzz-token" (the seeds use it, so the reload
 * route is reached), max_request_bytes 4 KiB, a runtime whose config
 * points at a spool made for the run (so /api/v1/status and the spool
 * gauges read a real one). A thread plays the main loop: it answers each
 * reload request at once, so that POST /api/v1/reload never waits.
 *
 * Per input: connect, send it, shut the write side, read the answers until
 * the server closes or is silent for SILENCE_MS (a keep-alive connection
 * stays open after its last answer until request_timeout). Checks:
 *   - the server answers or closes; what it sends is one or more HTTP/1.x
 *     responses, each status line "HTTP/1.1 NNN " with a 3-digit code;
 *   - no 500 (nothing in these routes fails for a client's input);
 *   - a 200 to POST /api/v1/reload only when the input holds the token;
 *   - the server is still up for the next input (the next connect).
 * Seeds: tests/fuzz/corpus/fuzz_admin/.
 */
#include "agent/admin/admin.h"
#include "agent/base/error.h"
#include "agent/base/log.h"
#include "agent/config.h"
#include "store/spool.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/tempdir.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define TOKEN "fuzz-token"
#define SILENCE_MS 100

static struct sa_admin *admin;
static struct sa_config *cfg;
static atomic_int reload_flag;
static struct sockaddr_in server;

static void *main_loop(void *arg)
{
    (void)arg;
    for (;;) {
        if (atomic_exchange(&reload_flag, 0))
            sa_admin_reload_done(admin, SA_OK, NULL);
        usleep(1000);
    }
    return NULL;
}

static void start(void)
{
    char dir[512], yaml[2048];
    struct sa_spool *spool;
    struct sa_err err = {0};
    pthread_t thread;
    const char *colon;

    sa_log_setup(SA_LOG_ERROR, SA_LOG_LOGFMT);
    CHECK(sa_test_mkdtemp(dir, sizeof dir, "sa-fuzz-admin-") != NULL);
    snprintf(yaml, sizeof yaml,
             "agent:\n  data_dir: %s\n"
             "admin:\n  listen: 127.0.0.1:0\n  token: " TOKEN "\n"
             "  max_request_bytes: 4KiB\n  request_timeout: 2s\n"
             "sources:\n  - name: gen\n    type: generator\n    stream: s\n"
             "    schema: order\n"
             "sinks:\n  - name: out\n    type: file\n    path: %s/out\n",
             dir, dir);
    if (sa_config_load_string(yaml, "fuzz.yaml", &cfg, &err) ||
        sa_spool_open(&spool, &cfg->spool, SA_SPOOL_CREATE, &err)) {
        fprintf(stderr, "fuzz_admin: %s\n", err.msg);
        abort();
    }
    sa_spool_close(spool);
    unsetenv("SA_ADMIN_LISTEN");
    if (sa_admin_process_metrics(&err) ||
        sa_admin_start(&admin, cfg, &reload_flag, &err)) {
        fprintf(stderr, "fuzz_admin: %s\n", err.msg);
        abort();
    }
    sa_admin_set_runtime(admin, &(struct sa_admin_runtime){.cfg = cfg});
    CHECK(pthread_create(&thread, NULL, main_loop, NULL) == 0);
    colon = strrchr(sa_admin_address(admin), ':');
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)atoi(colon + 1));
    inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
}

static int contains(const uint8_t *data, size_t size, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, s, n) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char reply[1 << 20];
    struct timeval tv = {.tv_sec = 10}, quiet = {.tv_usec = SILENCE_MS * 1000};
    size_t got = 0;
    ssize_t n;
    int fd;

    if (!admin)
        start();
    fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    CHECK(connect(fd, (struct sockaddr *)&server, sizeof server) == 0);
    /* The server may answer (413) and close before it has read it all. */
    for (size_t off = 0; off < size;) {
        n = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &quiet, sizeof quiet);
    while (got < sizeof reply - 1 &&
           (n = recv(fd, reply + got, sizeof reply - 1 - got, 0)) > 0)
        got += (size_t)n;
    close(fd);
    reply[got] = '\0';

    /* Every status line the server wrote. Bodies of ours are text without
     * "HTTP/1.1 " at a line start, so splitting on it finds responses. */
    for (const char *p = reply; p && *p;) {
        int code;
        if (!strstr(p, "\r\n"))
            break; /* cut off by the silence: judge only whole lines */
        CHECK(strncmp(p, "HTTP/1.", 7) == 0);
        CHECK(strlen(p) >= 13 && p[8] == ' ' && p[12] == ' ');
        code = atoi(p + 9);
        CHECK(code >= 100 && code <= 599);
        CHECK(code != 500);
        if (code == 200 && contains(data, size, "/api/v1/reload") &&
            contains(data, size, "POST"))
            CHECK(contains(data, size, TOKEN) || contains(data, size, "GET") ||
                  contains(data, size, "HEAD"));
        p = strstr(p + 1, "\r\n\r\n");
        p = p ? strstr(p, "HTTP/1.") : NULL;
    }
    return 0;
}
