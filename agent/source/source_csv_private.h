/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the CSV source's files share (not a public interface): the state of
 * the source and of each file it reads, and the helpers each file calls in
 * the other. source_csv.c opens, identifies, scans for and closes the files
 * and holds the source operations; csv_read.c reads a file's rows into
 * records. See source_csv.c for the design. Only agent/source/ includes
 * this file.
 */
#ifndef SA_AGENT_SOURCE_CSV_PRIVATE_H
#define SA_AGENT_SOURCE_CSV_PRIVATE_H

#include "agent/base/buf.h"
#include "agent/record.h"
#include "agent/source/csv.h"
#include "agent/source/file_key.h"
#include "agent/source/source.h"
#include "agent/source/source_csv.h"
#include "store/spool.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <zlib.h>

struct csv_file {
    char *path;
    dev_t dev;
    ino_t ino;
    char key[SA_FILE_KEY_MAX];
    int fd;
    gzFile gz;
    int is_gz;
    struct sa_csv_parser parser;
    struct sa_buf win; /* bytes read and not yet consumed start at win_pos */
    size_t win_pos;
    int64_t win_offset;  /* file offset of win.data[0] */
    int64_t committed;   /* offset last handed to the batch */
    int header_pending;
    int *col_map; /* CSV column -> schema field, -1 = ignored */
    size_t n_cols;
    int op_col;   /* the op_column's index, -1 = none */
    int key_col;  /* the column of the x-key field, -1 = none */
    uint64_t accepted, rejected;
    uint64_t rejected_by_ref; /* of them, kept as offset and length into it */
    int eof;     /* the last read returned nothing */
    int done;    /* finished: no more rows will come */
    int failed;  /* set aside */
    int done_reported;
    int rotated; /* renamed away: finish at the next end of file */
    int ended;   /* rotated away and read to its end: it holds all it ever will */
    int64_t size;  /* when opened */
    uint64_t first_gen; /* batch generation of its first position, 0: none yet */
    size_t fp_len; /* fingerprint: hash of the first fp_len bytes */
    uint64_t fp_hash;
    int missing; /* a configured plain path that does not exist */
    int skipping; /* following a row longer than the window, see skip_step */
    struct sa_csv_skip skip;
    int cr_only; /* its first bytes have CR line ends and no LF */
    char *read_error; /* why window_fill failed, when errno does not say */
    char *header_line; /* its header row as read, kept with its dead letters */
    size_t header_len;
    /* The counts at positions handed to batches that are not committed
     * yet, oldest first, and at the last committed one: a report after a
     * stop (Ctrl-C, a full spool) counts only what is in the spool. */
    struct pending_counts {
        uint64_t gen, accepted, rejected;
    } *pending; /* as many as batches wait to commit (the queue is bounded) */
    size_t n_pending, cap_pending;
    uint64_t durable_accepted, durable_rejected;
    int seen_done; /* stored as done before this run: nothing read again */
    int on_done_pending; /* done offset handed to the batch, not yet committed */
    uint64_t on_done_gen; /* ... in this batch generation */
    char *error;
    struct csv_file *next;
};

struct moved_file {
    char key[SA_FILE_KEY_MAX];
    char *from, *to;
};

struct csv_ctx {
    const struct sa_csv_source_conf *conf;
    struct sa_csv_opts parse_opts;
    struct sa_offset_row *rows; /* stored positions of this source */
    size_t n_rows;
    /* With on_done: delete, the files with open dead letters kept by
     * reference, as stored at open: a file resumed after a restart is kept
     * for them too. */
    struct ref_file {
        char key[SA_FILE_KEY_MAX];
        uint64_t n;
    } *ref_files;
    size_t n_ref_files;
    struct csv_file *files;
    struct sa_record rec;
    int64_t last_scan_mono;
    int scanned;
    char *move_dir;
    /* Files on_done moved, for the next batch (sa_batch_file_moved): their
     * dead letters then name where they went. */
    struct moved_file *moved;
    size_t n_moved, cap_moved;
    size_t null_string_len; /* fields longer than this (and than 0) are never
                               null: 0 without null_string */
};

/* --- opening and closing files (source_csv.c) ------------------------------ */

/* A blank line: one unquoted empty field. */
int sa_csv_blank_row(const struct sa_csv_row *row);
/* Set f->key from its device, inode and first bytes (file_key.h). */
void sa_csv_make_key(struct csv_file *f, off_t size);
void sa_csv_file_close_handles(struct csv_file *f);
/* Set f aside with the reason, logged and reported. */
void sa_csv_file_fail(struct csv_ctx *ctx, struct sa_source *src, struct csv_file *f,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* f was moved to target (on_done, or rotated away by rename): its dead
 * letters are told with the next batch (sa_batch_file_moved). */
void sa_csv_note_move(struct csv_ctx *ctx, const struct csv_file *f,
                      const char *target);
/* Seek the decompressing reader to offset and reset the window there. */
int sa_csv_file_seek(struct csv_file *f, int64_t offset, int64_t line);
/* Keep the header row's bytes (without its line end) for dead letters. */
int sa_csv_keep_header_line(struct csv_file *f, const char *raw, size_t len);
/* Map the header (or the configured columns) onto the schema's fields. */
int sa_csv_map_columns(struct sa_source *src, struct csv_file *f,
                       const struct sa_csv_row *header);
/* Record a finished file's position among the source's stored ones. */
int sa_csv_remember_done(struct csv_ctx *ctx, const char *key, int64_t offset,
                         int64_t line);

/* --- reading (csv_read.c) ---------------------------------------------------- */

/* Read more into the window. 1: got bytes, 0: nothing now, -1: failed. */
int sa_csv_window_fill(struct csv_ctx *ctx, struct csv_file *f);
/* Read rows of f into the batch, up to room; *added: how many. */
int sa_csv_read_file(struct sa_source *src, struct sa_batch *batch, struct csv_file *f,
                     size_t room, int *added, struct sa_err *err);

#endif
