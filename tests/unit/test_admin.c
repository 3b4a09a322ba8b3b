/* SPDX-License-Identifier: Apache-2.0 */
/* The admin server's routing, token check and listen checks
 * (agent/admin/admin.c), through sa_admin_dispatch and sa_admin_start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/admin/admin.h"
#include "agent/base/clock.h"
#include "agent/base/error.h"
#include "agent/config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct sa_config *load(const char *admin_yaml)
{
    char yaml[1024];
    struct sa_config *cfg = NULL;
    struct sa_err err = {0};

    snprintf(yaml, sizeof yaml, "agent:\n  data_dir: /nonexistent\nadmin:\n%s",
             admin_yaml);
    assert_int_equal(sa_config_load_string(yaml, "t.yaml", &cfg, &err), SA_OK);
    return cfg;
}

static int start(const char *admin_yaml, struct sa_admin **admin, atomic_int *flag,
                 struct sa_err *err)
{
    struct sa_config *cfg = load(admin_yaml);
    int rc;

    unsetenv("SA_ADMIN_LISTEN");
    rc = sa_admin_start(admin, cfg, flag, err);
    sa_config_free(cfg); /* the server keeps copies of what it needs */
    return rc;
}

/* A beyond-loopback address needs a token (A4); malformed ones fail. */
static void test_listen_checks(void **state)
{
    struct sa_admin *a = NULL;
    struct sa_err err = {0};
    atomic_int flag = 0;
    (void)state;

    assert_int_equal(start("  listen: 0.0.0.0:0\n", &a, &flag, &err), SA_ECONFIG);
    assert_non_null(strstr(err.msg, "admin.listen \"0.0.0.0:0\""));
    assert_non_null(strstr(err.msg, "admin.token"));
    assert_int_equal(start("  listen: '[::]:0'\n", &a, &flag, &err), SA_ECONFIG);
    assert_int_equal(start("  listen: ':0'\n", &a, &flag, &err), SA_ECONFIG);
    assert_int_equal(start("  listen: localhost\n", &a, &flag, &err), SA_ECONFIG);
    assert_int_equal(start("  listen: 127.0.0.1:99999\n", &a, &flag, &err), SA_ECONFIG);
    assert_int_equal(start("  listen: '::1:0'\n", &a, &flag, &err), SA_ECONFIG);
    assert_int_equal(start("  listen: 127.0.0.1:x\n", &a, &flag, &err), SA_ECONFIG);
    assert_null(a);

    assert_int_equal(start("  listen: 127.0.0.1:0\n", &a, &flag, &err), SA_OK);
    assert_non_null(a);
    assert_true(strncmp(sa_admin_address(a), "127.0.0.1:", 10) == 0);
    sa_admin_stop(a);
    assert_int_equal(start("  listen: 127.0.0.2:0\n", &a, &flag, &err), SA_OK);
    sa_admin_stop(a);
    assert_int_equal(start("  listen: 0.0.0.0:0\n  token: t0ken\n", &a, &flag, &err),
                     SA_OK);
    sa_admin_stop(a);
    /* switched off: no server, no error */
    assert_int_equal(start("  enabled: false\n", &a, &flag, &err), SA_OK);
    assert_null(a);
}

static int dispatch(struct sa_admin *a, const char *method, const char *path,
                    const char *authorization, const char **allow, char *body,
                    size_t body_size)
{
    struct sa_admin_request req = {.method = method,
                                   .path = path,
                                   .authorization = authorization,
                                   .body = "",
                                   .body_len = 0};
    struct sa_admin_response resp = {0};
    int status;

    sa_buf_init(&resp.body, SA_ADMIN_MAX_RESPONSE);
    sa_admin_dispatch(a, &req, &resp, allow);
    status = resp.status;
    snprintf(body, body_size, "%.*s", (int)resp.body.len, (const char *)resp.body.data);
    sa_buf_fini(&resp.body);
    return status;
}

struct main_loop {
    struct sa_admin *admin;
    atomic_int *flag;
    atomic_int stop;
    int reloads;
};

/* Plays run's main loop: answers each reload request. */
static void *main_loop(void *arg)
{
    struct main_loop *ml = arg;

    while (!atomic_load(&ml->stop)) {
        if (atomic_exchange(ml->flag, 0)) {
            ml->reloads++;
            sa_admin_reload_done(ml->admin, SA_OK, NULL);
        }
        sa_sleep_ms(1);
    }
    return NULL;
}

static void test_routes(void **state)
{
    struct sa_admin *a = NULL;
    struct sa_err err = {0};
    atomic_int flag = 0;
    const char *allow;
    char body[4096];
    (void)state;

    assert_int_equal(start("  listen: 127.0.0.1:0\n", &a, &flag, &err), SA_OK);
    assert_int_equal(dispatch(a, "GET", "/healthz", NULL, &allow, body, sizeof body),
                     200);
    assert_string_equal(body, "ok\n");
    assert_int_equal(dispatch(a, "HEAD", "/healthz", NULL, &allow, body, sizeof body),
                     200);
    assert_int_equal(dispatch(a, "GET", "/metrics", NULL, &allow, body, sizeof body),
                     200);
    assert_int_equal(dispatch(a, "GET", "/nope", NULL, &allow, body, sizeof body), 404);
    assert_null(allow);
    assert_int_equal(dispatch(a, "GET", "/healthz/", NULL, &allow, body, sizeof body),
                     404);
    assert_int_equal(dispatch(a, "POST", "/metrics", NULL, &allow, body, sizeof body),
                     405);
    assert_string_equal(allow, "GET");
    assert_int_equal(
        dispatch(a, "GET", "/api/v1/reload", NULL, &allow, body, sizeof body), 405);
    assert_string_equal(allow, "POST");
    /* no runtime yet: not ready, and the status is not there */
    assert_int_equal(dispatch(a, "GET", "/readyz", NULL, &allow, body, sizeof body),
                     503);
    assert_non_null(strstr(body, "starting or reloading"));
    assert_int_equal(
        dispatch(a, "GET", "/api/v1/status", NULL, &allow, body, sizeof body), 503);
    /* no token configured: the reload route is off */
    assert_int_equal(
        dispatch(a, "POST", "/api/v1/reload", "Bearer x", &allow, body, sizeof body),
        403);
    sa_admin_stop(a);
}

static void test_token(void **state)
{
    struct sa_admin *a = NULL;
    struct sa_err err = {0};
    atomic_int flag = 0;
    struct main_loop ml = {0};
    pthread_t thread;
    const char *allow;
    char body[4096];
    static const char *const refused[] = {
        NULL,
        "",
        "Bearer",
        "Bearer ",
        "Bearer s3cret",
        "Bearer s3cret-tokenx",
        "Bearer S3CRET-TOKEN",
        "Basic s3cret-token",
        "s3cret-token",
        "Bearer\ts3cret-toke",
        "Bearers3cret-token",
    };
    (void)state;

    assert_int_equal(
        start("  listen: 127.0.0.1:0\n  token: s3cret-token\n", &a, &flag, &err),
        SA_OK);
    ml.admin = a;
    ml.flag = &flag;
    assert_int_equal(pthread_create(&thread, NULL, main_loop, &ml), 0);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_int_equal(dispatch(a, "POST", "/api/v1/reload", refused[i], &allow, body,
                                  sizeof body),
                         401);
    assert_int_equal(ml.reloads, 0);
    assert_int_equal(dispatch(a, "POST", "/api/v1/reload", "Bearer s3cret-token",
                              &allow, body, sizeof body),
                     200);
    assert_string_equal(body, "{\"result\": \"ok\"}\n");
    assert_int_equal(dispatch(a, "POST", "/api/v1/reload", "bearer \t s3cret-token",
                              &allow, body, sizeof body),
                     200);
    assert_int_equal(ml.reloads, 2);
    atomic_store(&ml.stop, 1);
    pthread_join(thread, NULL);
    sa_admin_stop(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_checks),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
