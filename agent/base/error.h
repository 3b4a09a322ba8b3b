/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error codes and the error-detail struct every layer passes around.
 *
 * Functions return SA_OK (0) or a negative enum sa_rc. The human detail
 * (what failed, where, the underlying library error) goes into a
 * caller-supplied struct sa_err, as Redis's anet passes `char *err`.
 * The code list is one X-macro so that names and messages cannot drift
 * apart, as libuv does with UV_ERRNO_MAP.
 */
#ifndef SA_BASE_ERROR_H
#define SA_BASE_ERROR_H

#include <stddef.h>

#define SA_RC_MAP(XX)                                                      \
    XX(ENOMEM, "out of memory")                                            \
    XX(EINVAL, "invalid argument")                                         \
    XX(EIO, "input/output error")                                          \
    XX(ECONFIG, "bad configuration")                                       \
    XX(ESCHEMA, "schema error")                                            \
    XX(ERECORD, "record does not match its schema")                        \
    XX(EFULL, "spool is full")                                             \
    XX(ECORRUPT, "spool is corrupt")                                       \
    XX(EFORMAT, "unsupported spool format")                                \
    XX(ENOTFOUND, "not found")                                             \
    XX(EAGAIN, "try again")                                                \
    XX(ESQL, "SQLite error")                                               \
    XX(ESINK, "sink error")                                                \
    XX(EPARSE, "parse error")                                              \
    XX(ETOOBIG, "value too large")                                         \
    XX(ESTOPPED, "stopped")                                                \
    XX(EBUSY, "in use by another process")

enum sa_rc {
    SA_OK = 0,
    SA_EOF = 1, /* not an error: a finite source has nothing more */
#define XX(name, msg) SA_##name,
    SA__RC_FIRST = -100,
    SA_RC_MAP(XX)
#undef XX
};

#define SA_ERR_MSG_MAX 256

struct sa_err {
    int rc;
    char msg[SA_ERR_MSG_MAX];
};

/* Fill err (which may be NULL) with rc and a printf-style message; returns
 * rc so that callers can write `return sa_err_set(err, SA_EIO, ...)`. */
int sa_err_set(struct sa_err *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix an existing message with more context ("sink out: " + msg). */
int sa_err_prefix(struct sa_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void sa_err_clear(struct sa_err *err);

/* Static text for an rc, "ok" for SA_OK, "unknown error" otherwise. */
const char *sa_strerror(int rc);

/* Short symbolic name of an rc ("EFULL"). */
const char *sa_rc_name(int rc);

#endif
