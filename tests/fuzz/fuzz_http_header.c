/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the response header lines the HTTP client keeps
 * something of (sync/http.c, sa_http_header_line): the status line that
 * starts a response over, ETag (which the fleet poller sends back in
 * If-None-Match, sa_http_last_etag) and Retry-After. The input is cut
 * into lines at each '\n' (kept), as libcurl hands them over. After every
 * line: the ETag is NUL-terminated inside its array, holds no control
 * byte (it would end the If-None-Match header) and no surrounding space;
 * a Retry-After is none (-1) or 0 to a day; a status line clears both.
 */
#include "sync/http.h"
#include "tests/fuzz/fuzz_common.h"

#include <stdint.h>
#include <string.h>

#define NOW 1700000000 /* a fixed clock: dates compare the same every run */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sa_http_resp_headers h;
    const char *p = (const char *)data, *end = p + size;

    memset(&h, 0xA5, sizeof h); /* a status line must set both */
    h.etag[sizeof h.etag - 1] = '\0';
    sa_http_header_line(&h, "HTTP/1.1 200 OK\r\n", 17, NOW);
    CHECK(h.etag[0] == '\0' && h.retry_after_ms == -1);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        size_t len;

        sa_http_header_line(&h, p, n, NOW);
        CHECK(memchr(h.etag, '\0', sizeof h.etag) != NULL);
        len = strlen(h.etag);
        for (size_t i = 0; i < len; i++)
            CHECK((unsigned char)h.etag[i] >= 0x20 && h.etag[i] != 0x7f);
        CHECK(len == 0 || (h.etag[0] != ' ' && h.etag[len - 1] != ' '));
        CHECK(h.retry_after_ms == -1 ||
              (h.retry_after_ms >= 0 && h.retry_after_ms <= 86400 * 1000));
        if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
            CHECK(h.etag[0] == '\0' && h.retry_after_ms == -1);
        p += n;
    }
    return 0;
}
