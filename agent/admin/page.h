/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The status page (GET /): one HTML document with its CSS and JS inside,
 * made from agent/admin/page/ by the build (page/embed.cmake) and compiled
 * in, so the agent serves it with nothing beside it and the browser
 * fetches nothing else but this agent's /api/v1/status and /api/v1/series.
 */
#ifndef SA_ADMIN_PAGE_H
#define SA_ADMIN_PAGE_H

#include "agent/base/error.h"

#include <stddef.h>

/* The document (UTF-8, not NUL-terminated); generated. */
extern const unsigned char sa_page_html[];
extern const size_t sa_page_html_len;

/* Create the process's sample ring (series.h) over the global metrics
 * registry and start its thread; nothing when it runs already. The admin
 * server calls it when it starts. SA_ENOMEM. */
int sa_page_start(struct sa_err *err);
/* Stop and free the ring (GET /api/v1/series answers 503 until the next
 * start). */
void sa_page_stop(void);

#endif
