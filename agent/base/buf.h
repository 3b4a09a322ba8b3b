/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable byte buffer with a hard size cap, after curl's dynbuf. Every
 * buffer that holds untrusted or unbounded input grows through this, so a
 * hostile file cannot make the agent allocate without limit.
 * Also: LEB128 varints and zigzag, the integer encoding of segment frames
 * and of Avro.
 */
#ifndef SA_BASE_BUF_H
#define SA_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct sa_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* growth beyond this fails with SA_ETOOBIG */
};

/* Caller-owned struct; no allocation until the first append. */
void sa_buf_init(struct sa_buf *b, size_t max);
void sa_buf_fini(struct sa_buf *b);
static inline void sa_buf_reset(struct sa_buf *b) { b->len = 0; }

/* Make room for `extra` more bytes. SA_OK, SA_ENOMEM or SA_ETOOBIG. */
int sa_buf_reserve(struct sa_buf *b, size_t extra);
int sa_buf_append(struct sa_buf *b, const void *data, size_t n);
int sa_buf_append_str(struct sa_buf *b, const char *s);
int sa_buf_append_byte(struct sa_buf *b, uint8_t c);
int sa_buf_printf(struct sa_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* NUL-terminate without counting the NUL in len. */
int sa_buf_terminate(struct sa_buf *b);

/*
 * Make the bytes `ahead` past the end writable in this core's cache before
 * an append writes them. For a buffer another thread read last (a batch
 * that the committer copied into SQLite on the other core), each line
 * written otherwise stalls this thread for the round trip that takes the
 * other core's copy away: ~0.05 us a 60-byte record, a fifth of the
 * generator's whole path. Call it after each append of `appended` bytes:
 * it takes every line that the same append `ahead` bytes later will
 * write, so that no line is missed when appends are longer than a line.
 * x86's PREFETCHW where the CPU has it, a write prefetch elsewhere.
 */
#if defined(__x86_64__) && defined(__GNUC__)
extern int sa_buf_have_prefetchw;
#endif
static inline void sa_buf_prefetch_ahead(const struct sa_buf *b, size_t appended,
                                         size_t ahead)
{
    size_t end = b->len + ahead, at;

    if (end > b->cap)
        end = b->cap;
    /* From the first line not taken by the previous call, and none that
     * this append wrote itself (a long one). */
    at = appended < ahead && appended <= b->len ? b->len - appended + ahead : b->len;
    at = (at + 63) & ~(size_t)63;
    for (; at < end; at += 64) {
#if defined(__x86_64__) && defined(__GNUC__)
        /* Without -mprfchw, __builtin_prefetch(p, 1) is a read prefetch. */
        if (sa_buf_have_prefetchw)
            __asm__ volatile("prefetchw %0" : : "m"(b->data[at]));
#elif defined(__GNUC__)
        __builtin_prefetch(b->data + at, 1);
#endif
    }
}

/* Varints (unsigned LEB128, at most 10 bytes). */
int sa_buf_put_varint(struct sa_buf *b, uint64_t v);
int sa_buf_put_zigzag(struct sa_buf *b, int64_t v);
/* Write a varint into out (>= 10 bytes); returns the bytes written.
 * Inline: every segment frame is written with it. */
static inline size_t sa_varint_encode(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}
/* Decode from [p, end); returns bytes read, 0 when truncated or > 10 bytes. */
size_t sa_varint_decode(const uint8_t *p, const uint8_t *end, uint64_t *out);

static inline uint64_t sa_zigzag_encode(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t sa_zigzag_decode(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

#endif
