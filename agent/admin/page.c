/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The status page's routes (GET /, GET /api/v1/series): the status page
 * and its sample ring live here and in files of their own beside it; the
 * server (admin.c) routes to whatever this table lists.
 */
#include "agent/admin/admin.h"

const struct sa_admin_route sa_admin_page_routes[] = {
    {0},
};
