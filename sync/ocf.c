/* SPDX-License-Identifier: Apache-2.0 */
/* Avro object container files from encoded records; see ocf.h. */
#include "sync/ocf.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_BLOCK_BYTES (256u << 20)

/* The sync marker only has to be unlikely inside the data. */
static void make_sync(uint8_t out[16])
{
    if (getrandom(out, 16, GRND_NONBLOCK) == 16)
        return;
    uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)out;
    for (int i = 0; i < 16; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = (uint8_t)x;
    }
}

static int put_bytes(struct sa_buf *b, const void *p, size_t n)
{
    int rc = sa_buf_put_zigzag(b, (int64_t)n);
    return rc ? rc : sa_buf_append(b, p, n);
}

static int write_out(struct sa_ocf_writer *w, const void *p, size_t n,
                     struct sa_err *err)
{
    if (n && fwrite(p, 1, n, w->fp) != n)
        return sa_err_set(err, SA_EIO, "writing an Avro container: %s",
                          strerror(errno));
    return SA_OK;
}

int sa_ocf_open(struct sa_ocf_writer *w, FILE *fp, const char *schema_json,
                const char *codec, size_t block_bytes, struct sa_err *err)
{
    struct sa_buf head;
    int rc;

    memset(w, 0, sizeof *w);
    if (strcmp(codec, "deflate") != 0 && strcmp(codec, "null") != 0)
        return sa_err_set(err, SA_EINVAL, "Avro container codec '%s' (deflate or null)",
                          codec);
    w->fp = fp;
    w->deflate = strcmp(codec, "deflate") == 0;
    w->block_bytes = block_bytes ? block_bytes : 64 * 1024;
    make_sync(w->sync);
    sa_buf_init(&w->block, MAX_BLOCK_BYTES);
    sa_buf_init(&w->compressed, MAX_BLOCK_BYTES + MAX_BLOCK_BYTES / 100 + 1024);
    sa_buf_init(&head, MAX_BLOCK_BYTES);
    rc = sa_buf_append(&head, "Obj\x01", 4);
    if (!rc)
        rc = sa_buf_put_zigzag(&head, 2); /* one map block of two entries */
    if (!rc)
        rc = put_bytes(&head, "avro.schema", 11);
    if (!rc)
        rc = put_bytes(&head, schema_json, strlen(schema_json));
    if (!rc)
        rc = put_bytes(&head, "avro.codec", 10);
    if (!rc)
        rc = put_bytes(&head, codec, strlen(codec));
    if (!rc)
        rc = sa_buf_put_zigzag(&head, 0);
    if (!rc)
        rc = sa_buf_append(&head, w->sync, sizeof w->sync);
    if (rc)
        rc = sa_err_set(err, rc, "Avro container header: %s", sa_strerror(rc));
    else
        rc = write_out(w, head.data, head.len, err);
    sa_buf_fini(&head);
    if (rc)
        sa_ocf_fini(w);
    return rc;
}

/* Raw deflate (RFC 1951, no zlib header), as the Avro spec wants. */
static int deflate_block(struct sa_ocf_writer *w, struct sa_err *err)
{
    z_stream z;
    uLong bound;
    int zrc, rc;

    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return sa_err_set(err, SA_ENOMEM, "Avro container: deflate: out of memory");
    bound = deflateBound(&z, (uLong)w->block.len);
    sa_buf_reset(&w->compressed);
    if ((rc = sa_buf_reserve(&w->compressed, (size_t)bound))) {
        deflateEnd(&z);
        return sa_err_set(err, rc, "Avro container: %s", sa_strerror(rc));
    }
    z.next_in = w->block.data;
    z.avail_in = (uInt)w->block.len;
    z.next_out = w->compressed.data;
    z.avail_out = (uInt)bound;
    zrc = deflate(&z, Z_FINISH);
    w->compressed.len = (size_t)z.total_out;
    deflateEnd(&z);
    if (zrc != Z_STREAM_END)
        return sa_err_set(err, SA_EIO, "Avro container: deflate failed (%d)", zrc);
    return SA_OK;
}

static int write_block(struct sa_ocf_writer *w, struct sa_err *err)
{
    const struct sa_buf *data = &w->block;
    uint8_t head[20];
    size_t n;
    int rc;

    if (w->block_count == 0)
        return SA_OK;
    if (w->deflate) {
        if ((rc = deflate_block(w, err)))
            return rc;
        data = &w->compressed;
    }
    n = sa_varint_encode(head, sa_zigzag_encode((int64_t)w->block_count));
    n += sa_varint_encode(head + n, sa_zigzag_encode((int64_t)data->len));
    if ((rc = write_out(w, head, n, err)) ||
        (rc = write_out(w, data->data, data->len, err)) ||
        (rc = write_out(w, w->sync, sizeof w->sync, err)))
        return rc;
    sa_buf_reset(&w->block);
    w->block_count = 0;
    return SA_OK;
}

int sa_ocf_append(struct sa_ocf_writer *w, const void *body, size_t len,
                  struct sa_err *err)
{
    int rc;

    if (w->block_count && w->block.len + len > w->block_bytes &&
        (rc = write_block(w, err)))
        return rc;
    if ((rc = sa_buf_append(&w->block, body, len)))
        return sa_err_set(err, rc, "Avro container: record of %zu bytes: %s", len,
                          sa_strerror(rc));
    w->block_count++;
    return SA_OK;
}

int sa_ocf_flush(struct sa_ocf_writer *w, struct sa_err *err)
{
    int rc = write_block(w, err);
    if (!rc && fflush(w->fp) != 0)
        rc = sa_err_set(err, SA_EIO, "writing an Avro container: %s", strerror(errno));
    return rc;
}

void sa_ocf_fini(struct sa_ocf_writer *w)
{
    sa_buf_fini(&w->block);
    sa_buf_fini(&w->compressed);
    w->block_count = 0;
}
