/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The status page's routes (sa_admin_page_routes, which the admin server
 * dispatches beside api.c's): GET / serves the compiled-in document
 * (page.h), GET /api/v1/series the sample ring (series.h) its charts read.
 *
 * The ring is the process's: sa_page_start creates it over the global
 * metrics registry and starts its thread when the admin server starts, so
 * the charts have history by the time someone opens the page;
 * sa_page_stop frees it. `lock` keeps a request from reading a ring being
 * freed; it is held only for the JSON of one request.
 */
#include "agent/admin/page.h"

#include "agent/admin/admin.h"
#include "agent/admin/series.h"
#include "agent/base/metrics.h"

#include <pthread.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sa_series *ring;

int sa_page_start(struct sa_err *err)
{
    struct sa_series *s = NULL;
    int rc = SA_OK;

    pthread_mutex_lock(&lock);
    if (ring)
        goto out;
    rc = sa_series_new(sa_metrics_global(), SA_SERIES_INTERVAL_MS, SA_SERIES_CAPACITY,
                       &s, err);
    if (rc)
        goto out;
    rc = sa_series_start(s, err);
    if (rc) {
        sa_series_free(s);
        goto out;
    }
    ring = s;
out:
    pthread_mutex_unlock(&lock);
    return rc;
}

void sa_page_stop(void)
{
    pthread_mutex_lock(&lock);
    sa_series_free(ring);
    ring = NULL;
    pthread_mutex_unlock(&lock);
}

static void get_page(struct sa_admin *admin, const struct sa_admin_request *req,
                     struct sa_admin_response *resp)
{
    (void)admin;
    (void)req;
    if (sa_buf_append(&resp->body, sa_page_html, sa_page_html_len) != SA_OK) {
        sa_admin_reply(resp, 500, "the page does not fit the response buffer\n");
        return;
    }
    resp->status = 200;
    resp->content_type = "text/html; charset=utf-8";
}

static void get_series(struct sa_admin *admin, const struct sa_admin_request *req,
                       struct sa_admin_response *resp)
{
    struct sa_err err = {0};
    int rc;

    (void)admin;
    (void)req;
    pthread_mutex_lock(&lock);
    rc = ring ? sa_series_json(ring, &resp->body, &err)
              : sa_err_set(&err, SA_EAGAIN, "no samples: the ring is not running");
    pthread_mutex_unlock(&lock);
    if (rc) {
        sa_buf_reset(&resp->body);
        sa_admin_reply(resp, rc == SA_EAGAIN ? 503 : 500, "%s\n", err.msg);
        return;
    }
    resp->status = 200;
    resp->content_type = "application/json";
}

const struct sa_admin_route sa_admin_page_routes[] = {
    {.method = "GET", .path = "/", .handler = get_page},
    {.method = "GET", .path = "/api/v1/series", .handler = get_series},
    {0},
};
