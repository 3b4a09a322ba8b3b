/* SPDX-License-Identifier: Apache-2.0 */
/* Capped dynamic buffer and varints; see buf.h. */
#include "agent/base/buf.h"

#include "agent/base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

int sa_buf_have_prefetchw;

/* CPUID 0x80000001 ECX bit 8 (PRFCHW, "3DNowPrefetch"): every AMD64 CPU
 * and Intel's since Broadwell. Asked once, before main. */
__attribute__((constructor)) static void detect_prefetchw(void)
{
    unsigned eax, ebx, ecx, edx;
    sa_buf_have_prefetchw =
        __get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 8));
}
#endif

void sa_buf_init(struct sa_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void sa_buf_fini(struct sa_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int sa_buf_reserve(struct sa_buf *b, size_t extra)
{
    size_t need, cap;
    uint8_t *p;

    if (extra > b->max || b->len > b->max - extra)
        return SA_ETOOBIG;
    need = b->len + extra;
    if (need <= b->cap)
        return SA_OK;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1; /* +1 leaves room for a terminating NUL */
    p = realloc(b->data, cap);
    if (!p)
        return SA_ENOMEM;
    b->data = p;
    b->cap = cap;
    return SA_OK;
}

int sa_buf_append(struct sa_buf *b, const void *data, size_t n)
{
    int rc = sa_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    return SA_OK;
}

int sa_buf_append_str(struct sa_buf *b, const char *s)
{
    return sa_buf_append(b, s, strlen(s));
}

int sa_buf_append_byte(struct sa_buf *b, uint8_t c)
{
    if (b->len < b->cap) {
        b->data[b->len++] = c;
        return SA_OK;
    }
    return sa_buf_append(b, &c, 1);
}

int sa_buf_printf(struct sa_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    int rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SA_EINVAL;
    rc = sa_buf_reserve(b, (size_t)n + 1);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return SA_OK;
}

int sa_buf_terminate(struct sa_buf *b)
{
    if (b->len >= b->cap) {
        /* reserve() allows one byte past max for exactly this */
        uint8_t *p = realloc(b->data, b->len + 1);
        if (!p)
            return SA_ENOMEM;
        b->data = p;
        b->cap = b->len + 1;
    }
    b->data[b->len] = '\0';
    return SA_OK;
}

size_t sa_varint_decode(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = 0;
    unsigned shift = 0;
    while (p + n < end && n < 10) {
        uint8_t c = p[n++];
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return n;
        }
        shift += 7;
    }
    return 0;
}

int sa_buf_put_varint(struct sa_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    return sa_buf_append(b, tmp, sa_varint_encode(tmp, v));
}

int sa_buf_put_zigzag(struct sa_buf *b, int64_t v)
{
    return sa_buf_put_varint(b, sa_zigzag_encode(v));
}
