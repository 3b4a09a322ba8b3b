/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of `syncagent deadletter` share: cmd_deadletter.c (the
 * command, list and export) and cmd_deadletter_replay.c (replay). Only
 * those two include this file.
 */
#ifndef SA_AGENT_CMD_DEADLETTER_H
#define SA_AGENT_CMD_DEADLETTER_H

#include "agent/base/buf.h"
#include "agent/base/error.h"
#include "store/spool.h"

#include <stdio.h>

/* `deadletter replay` and `deadletter resolve` (cmd_deadletter_replay.c). */
int sa_cmd_deadletter_replay(int argc, char **argv);
int sa_cmd_deadletter_resolve(int argc, char **argv);

/* The command's usage text, into out. */
void sa_cmd_deadletter_usage(FILE *out);
/* Call fn for every dead letter, oldest first, a page at a time. fn returns
 * nonzero to stop (that value is returned). */
int sa_cmd_deadletter_walk(struct sa_spool *spool,
                           int (*fn)(void *, const struct sa_deadletter_row *),
                           void *arg, struct sa_err *err);
/* A dead letter that a replay can take: one from a CSV file. */
int sa_cmd_deadletter_from_csv(const struct sa_deadletter_row *r);
/* The whole row of a dead letter kept by reference, into out. */
int sa_cmd_deadletter_read_ref_buf(const struct sa_deadletter_row *r,
                                   struct sa_buf *out, struct sa_err *err);

/* Whether path is still the file the dead letter's row was read from: 1
 * yes; 0 no, with why in err (another inode, other first bytes than its
 * stored file_key says; for a dead letter without a file_key, a file
 * changed -- written, replaced, renamed -- after the dead letter was
 * written); SA_ENOTFOUND when it is gone, another negative code when it
 * cannot be read. */
int sa_cmd_deadletter_same_file(const struct sa_deadletter_row *r, const char *path,
                                struct sa_err *err);

/* The short names the two files call them by. */
static inline void usage(FILE *out)
{
    sa_cmd_deadletter_usage(out);
}

static inline int walk(struct sa_spool *spool,
                       int (*fn)(void *, const struct sa_deadletter_row *), void *arg,
                       struct sa_err *err)
{
    return sa_cmd_deadletter_walk(spool, fn, arg, err);
}

static inline int from_csv_source(const struct sa_deadletter_row *r)
{
    return sa_cmd_deadletter_from_csv(r);
}

static inline int read_ref_buf(const struct sa_deadletter_row *r, struct sa_buf *out,
                               struct sa_err *err)
{
    return sa_cmd_deadletter_read_ref_buf(r, out, err);
}

#endif
