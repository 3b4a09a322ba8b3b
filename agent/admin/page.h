/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The status page (GET /): one HTML document with its CSS and JS inside,
 * made from agent/admin/page/ by the build (page/embed.cmake) and compiled
 * in, so the agent serves it with nothing beside it and the browser
 * fetches nothing else but this agent's /api/v1/status and /api/v1/series.
 */
#ifndef SA_ADMIN_PAGE_H
#define SA_ADMIN_PAGE_H

#include <stddef.h>

/* The document (UTF-8, not NUL-terminated); generated. */
extern const unsigned char sa_page_html[];
extern const size_t sa_page_html_len;

#endif
