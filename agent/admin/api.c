/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin server's API routes (admin.h): what Prometheus, a load
 * balancer's health check and an operator's script call.
 */
#include "agent/admin/admin_private.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Seconds a POST /api/v1/reload waits for the main loop to reload. */
#define RELOAD_WAIT_MS 60000

static void get_metrics(struct sa_admin *a, const struct sa_admin_request *req,
                        struct sa_admin_response *resp)
{
    (void)a;
    (void)req;
    if (sa_metrics_write(sa_metrics_global(), &resp->body) != SA_OK) {
        sa_admin_reply(resp, 500, "the metrics do not fit in a response");
        return;
    }
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* Alive: the process answers. Nothing it depends on is checked here, so a
 * supervisor restarting on failure does not restart for an upstream. */
static void get_healthz(struct sa_admin *a, const struct sa_admin_request *req,
                        struct sa_admin_response *resp)
{
    (void)a;
    (void)req;
    sa_admin_reply(resp, 200, "ok");
}

static void get_readyz(struct sa_admin *a, const struct sa_admin_request *req,
                       struct sa_admin_response *resp)
{
    char why[SA_ERR_MSG_MAX + 200];
    (void)req;

    if (sa_admin_ready(a, why, sizeof why))
        sa_admin_reply(resp, 200, "%s", why);
    else
        sa_admin_reply(resp, 503, "%s", why);
}

static void get_status(struct sa_admin *a, const struct sa_admin_request *req,
                       struct sa_admin_response *resp)
{
    struct sa_err err = {0};
    char *text = NULL;
    (void)req;

    if (sa_admin_status_json(a, &text, &err)) {
        sa_admin_reply(resp, err.rc == SA_EAGAIN ? 503 : 500, "%s", err.msg);
        return;
    }
    resp->content_type = "application/json";
    if (sa_buf_append_str(&resp->body, text) != SA_OK ||
        sa_buf_append_byte(&resp->body, '\n') != SA_OK)
        sa_admin_reply(resp, 500, "status does not fit in a response");
    free(text);
}

/* What SIGHUP does, with its outcome: 200 reloaded, 422 the new config was
 * refused (the agent keeps running on the old one), 503 it did not finish
 * in time. The body is JSON: {"result": ..., "error": ...}. */
static void post_reload(struct sa_admin *a, const struct sa_admin_request *req,
                        struct sa_admin_response *resp)
{
    char why[SA_ERR_MSG_MAX];
    json_t *body;
    char *text;
    int rc;
    (void)req;

    rc = sa_admin_request_reload(a, RELOAD_WAIT_MS, why, sizeof why);
    body = rc == SA_OK ? json_pack("{s:s}", "result", "ok")
                       : json_pack("{s:s, s:s}", "result", "failed", "error", why);
    text = body ? json_dumps(body, 0) : NULL;
    json_decref(body);
    if (!text) {
        sa_admin_reply(resp, 500, "out of memory");
        return;
    }
    resp->content_type = "application/json";
    resp->status = rc == SA_OK ? 200 : rc == SA_EAGAIN ? 503 : 422;
    if (sa_buf_append_str(&resp->body, text) == SA_OK)
        sa_buf_append_byte(&resp->body, '\n');
    free(text);
}

const struct sa_admin_route sa_admin_api_routes[] = {
    {.method = "GET", .path = "/metrics", .handler = get_metrics},
    {.method = "GET", .path = "/healthz", .handler = get_healthz},
    {.method = "GET", .path = "/readyz", .handler = get_readyz},
    {.method = "GET", .path = "/api/v1/status", .handler = get_status},
    {.method = "POST",
     .path = "/api/v1/reload",
     .handler = post_reload,
     .needs_token = 1},
    {0},
};
